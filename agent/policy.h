/* SPDX-License-Identifier: MIT */
/*
 * The subscriber's decisions, as pure functions of their inputs and a
 * clock value passed in (so tests drive time by hand): when the state
 * turns stale and fresh again, how long to wait before retrying a failed
 * resync, whether a resync reply calls for another round at once, and
 * how many log lines of one kind to let through.
 *
 * Not here: sockets, threads, clocks (sub.c reads CLOCK_MONOTONIC and
 * passes the value in), the cache.
 */
#ifndef AGT_POLICY_H
#define AGT_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cache.h"
#include "config.h"

/* DESIGN §5: heartbeats every second; assumed until one says otherwise. */
#define AGT_HEARTBEAT_DEFAULT_MS 1000u

/*
 * Freshness: "in contact" means a verified heartbeat or a completed
 * resync. The state starts stale (nothing confirms the cache on disk is
 * current until the controller answers) and turns stale again when
 * nothing was heard for stale-after. It is served either way.
 */
struct agt_fresh {
    int64_t last_contact_ms; /* monotonic ms of the last contact */
    uint32_t interval_ms;    /* heartbeat interval last announced */
    bool contacted;          /* any contact since start */
    bool stale;
};

void agt_fresh_init(struct agt_fresh *f);
/* The stale bound in ms for the current heartbeat interval. */
int64_t agt_fresh_limit(
    const struct agt_fresh *f, const struct agt_stale_after *sa);
/* Contact at now_ms; interval_ms 0 keeps the known interval. Returns
 * true when this cleared the stale state. */
bool agt_fresh_contact(struct agt_fresh *f, int64_t now_ms,
    uint32_t interval_ms);
/* Returns true when the state turned stale at now_ms (once per turn). */
bool agt_fresh_tick(
    struct agt_fresh *f, int64_t now_ms, const struct agt_stale_after *sa);

/*
 * Resync retry delay: min_ms after the first failure, doubling to
 * max_ms. cur_ms is the previous delay (0: none yet). The caller adds
 * jitter (agt_jitter) so a fleet that lost its controller together does
 * not return in step.
 */
uint32_t agt_backoff_next(uint32_t cur_ms, uint32_t min_ms, uint32_t max_ms);
/* delay_ms scaled into [75%, 100%] by r (any 32-bit random value). */
uint32_t agt_jitter(uint32_t delay_ms, uint32_t r);

/*
 * After a resync reply that applied cleanly: ask again at once when it
 * applied something and the agent is still behind the head the
 * controller announced (a reply capped by the controller), else stop
 * (the next heartbeat ahead starts another round anyway).
 */
bool agt_resync_again(const struct agt_resync_result *r, uint64_t last,
    uint64_t head);

/*
 * Log rate limit: at most burst lines per window_ms; the rest are
 * counted and reported with the next line let through.
 */
struct agt_ratelimit {
    int64_t window_start_ms;
    uint32_t in_window;  /* lines let through in this window */
    uint64_t suppressed; /* dropped since the last line let through */
};

/* true: log now, and *suppressed (if not NULL) gets how many were
 * dropped before this one (then reset). */
bool agt_ratelimit_allow(struct agt_ratelimit *rl, int64_t now_ms,
    uint32_t burst, int64_t window_ms, uint64_t *suppressed);

#endif
