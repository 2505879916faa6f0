/* SPDX-License-Identifier: MIT */
/*
 * The resync server (DESIGN §5, docs/protocol.md §5): an nng REP socket
 * answering [1, since] with [0, [envelopes since+1 ...]] from the update
 * log, or [1, [SNAPSHOT]] when the log no longer reaches back. An agent
 * ahead of the store (since > seq: the store was restored from an older
 * backup) makes the store jump its seq to since + 1
 * (ctl_store_seq_jump) and gets a snapshot sealed there. Replies
 * are bounded (max_bytes of envelopes); an agent that gets a partial log
 * asks again from where it got to.
 *
 * Requests are served by a few nng contexts driven by aio callbacks on
 * nng's threads. The work there is an LMDB read, or a snapshot (one read
 * transaction and one signature): short enough for nng's threads. A
 * malformed request is counted, logged and answered with nothing (the
 * peer's REQ times out); it never reaches the store.
 */
#ifndef CTL_RESYNC_H
#define CTL_RESYNC_H

#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "ramp/err.h"
#include "store.h"

struct ctl_resync; /* opaque */

struct ctl_resync_opts {
    const char *url;  /* listen URL, e.g. tcp on port 7401 */
    int workers;      /* concurrent requests (nng contexts); 0: 4 */
    size_t max_bytes; /* envelope bytes per log reply; 0: 16 MiB */
};

/*
 * Listen and start answering. st and kp are borrowed and must outlive
 * the server. RAMP_EINVAL, RAMP_EIO (cannot listen), RAMP_ENOMEM.
 */
ramp_err ctl_resync_open(const struct ctl_resync_opts *o, struct ctl_store *st,
    const struct rp_keypair *kp, struct ctl_resync **out);

/* Stop, wait for running callbacks, close. NULL is fine. */
void ctl_resync_close(struct ctl_resync *r);

struct ctl_resync_stats {
    uint64_t log_replies;      /* status 0 */
    uint64_t snapshot_replies; /* status 1 */
    uint64_t malformed;        /* dropped requests */
    uint64_t errors;           /* store or send failures */
    uint64_t seq_jumps;        /* agents ahead: store seq jumped past them */
    uint64_t jumps_refused;    /* too far ahead, or over the jump rate */
};
void ctl_resync_stats(struct ctl_resync *r, struct ctl_resync_stats *out);

#endif
