/* SPDX-License-Identifier: MIT */
/*
 * The agent's update path (DESIGN §5): an nng SUB socket on the
 * controller's PUB, every message verified and applied through the
 * cache, and a resync REQ socket driven by its own thread, so a slow or
 * dead controller never holds up the SUB path. After every change that
 * was applied, a new view is built from the previous one and published.
 * Freshness (stale or not) is tracked from heartbeats and resyncs and
 * kept in the counters' stale flag, which the query server reads.
 *
 * Threads: two of its own (subscriber, resync), started by
 * agt_sub_start() and joined by agt_sub_stop(). The cache, view holder
 * and counters are borrowed and must outlive the subscriber.
 * Not here: the apply rules (cache.h), the query server (serve.h).
 */
#ifndef AGT_SUB_H
#define AGT_SUB_H

#include <stdint.h>

#include "cache.h"
#include "config.h"
#include "ramp/err.h"
#include "stats.h"
#include "view.h"

struct agt_sub_opts {
    const char *sub_url;       /* borrowed for the call */
    const char *resync_url;    /* borrowed for the call */
    int recv_buffer;           /* messages (nng RECVBUF, 1..8192) */
    int64_t resync_timeout_ms; /* one request's receive timeout */
    struct agt_stale_after stale_after;
};

struct agt_sub; /* opaque */

/*
 * Build a view of the cache's current state from the holder's current
 * view (reusing unchanged entries) and publish it. Counts views built or
 * failed; on failure the old view stays published. Not safe against a
 * concurrent call: the subscriber serialises its own calls; main calls
 * it once before the subscriber starts.
 */
ramp_err agt_view_refresh(
    struct agt_cache *c, struct agt_viewref *views, struct agt_stats *stats);

/*
 * Dial both sockets (non-blocking: the controller may be down; nng keeps
 * redialling) and start the threads. A resync is requested at once.
 * RAMP_EINVAL (bad URL or options), RAMP_ENOMEM, RAMP_ESYSTEM (thread or
 * nng failure; logged). *out only on RAMP_OK.
 */
ramp_err agt_sub_start(const struct agt_sub_opts *o, struct agt_cache *c,
    struct agt_viewref *views, struct agt_stats *stats, struct agt_sub **out);

/* SIGHUP: new stale bound and resync timeout, taken at the next tick. */
void agt_sub_reconfigure(struct agt_sub *s,
    const struct agt_stale_after *sa, int64_t resync_timeout_ms);

/* Close the sockets and join the threads. NULL fine. */
void agt_sub_stop(struct agt_sub *s);

#endif
