/* SPDX-License-Identifier: MIT */
/*
 * The publisher (DESIGN §5): an nng PUB socket that carries every
 * committed change's signed envelope, in commit order, and a HEARTBEAT
 * every interval with the current seq.
 *
 * Commit order is kept by one lock held across the store write and the
 * send (ctl_pub_change): a change that commits seq N is on the wire
 * before any change can commit N + 1, and a heartbeat never announces a
 * seq whose envelope has not been sent. PUB itself may drop messages
 * under load (DESIGN §10); agents repair that with resync, so a send
 * failure is logged and never undoes a commit.
 *
 * Not here: the store (store.h), resync (resync.h), HTTP.
 */
#ifndef CTL_PUB_H
#define CTL_PUB_H

#include <stdint.h>

#include "buf.h"
#include "envelope.h"
#include "ramp/err.h"
#include "store.h"

struct ctl_pub; /* opaque */

struct ctl_pub_opts {
    const char *url;      /* listen URL, e.g. tcp on port 7400 or ipc */
    int sendbuf;          /* NNG_OPT_SENDBUF, messages; 0: 8192 */
    int64_t heartbeat_ms; /* > 0; the thread sends one per interval */
};

/*
 * Listen on o->url and start the heartbeat thread. st and kp are
 * borrowed and must outlive the publisher. RAMP_EINVAL (bad URL or
 * options), RAMP_EIO (cannot listen: address in use, permissions),
 * RAMP_ENOMEM, RAMP_ESYSTEM (thread). *out only on RAMP_OK.
 */
ramp_err ctl_pub_open(const struct ctl_pub_opts *o, struct ctl_store *st,
    const struct rp_keypair *kp, struct ctl_pub **out);

/* Stop the heartbeat thread, wait for a running change, close the
 * socket. NULL is fine. No call may follow. */
void ctl_pub_close(struct ctl_pub *p);

/*
 * A store change: call one ctl_store_* change function with st, kp and
 * env (which has RP_ENV_MAX room and is empty), return its result.
 */
typedef ramp_err (*ctl_change_fn)(void *arg, struct ctl_store *st,
    const struct rp_keypair *kp, struct rp_buf *env);

/*
 * Run fn under the publisher's lock and, when it returns RAMP_OK with an
 * envelope in env, send that envelope before releasing the lock. Returns
 * fn's result: RAMP_OK means committed (whatever the send did). Blocks
 * for the store's commit (fsync). Any thread.
 */
ramp_err ctl_pub_change(struct ctl_pub *p, ctl_change_fn fn, void *arg);

/* Send one HEARTBEAT now (the thread does this every interval). */
ramp_err ctl_pub_heartbeat(struct ctl_pub *p);

/* Counters, for tests and logs. */
struct ctl_pub_stats {
    uint64_t sent;       /* change envelopes handed to nng */
    uint64_t heartbeats; /* heartbeats handed to nng */
    uint64_t send_errs;  /* nng_send failures (logged) */
};
void ctl_pub_stats(struct ctl_pub *p, struct ctl_pub_stats *out);

#endif
