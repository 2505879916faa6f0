/* SPDX-License-Identifier: MIT */
/*
 * The agent's counters, in one struct shared by the subscriber thread,
 * the resync thread, the query server's callbacks and the main thread.
 * Every member is a relaxed atomic: counters are read for reports, never
 * used to synchronise anything. The /metrics endpoint (a later piece)
 * will read the same struct; for now a summary line is logged on
 * SIGUSR1 and at shutdown.
 *
 * Not here: what is counted when (sub.c, serve.c).
 */
#ifndef AGT_STATS_H
#define AGT_STATS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "cache.h"

struct agt_stats {
    /* every envelope handled, from PUB or inside a resync reply, by
     * outcome (AGT_APPLY_TABLE) */
    _Atomic uint64_t updates[AGT_APPLY_COUNT];
    _Atomic uint64_t sub_recv_errors;  /* nng receive failures on SUB */
    _Atomic uint64_t resyncs;          /* resync replies applied */
    _Atomic uint64_t resync_snapshots; /* of which began with a SNAPSHOT */
    _Atomic uint64_t resync_failures;  /* timeouts, bad replies, rejections */
    _Atomic uint64_t view_builds;      /* views published */
    _Atomic uint64_t view_failures;    /* view builds that failed */
    _Atomic uint64_t queries_served;   /* requests answered with status 0 */
    _Atomic uint64_t queries_failed;   /* answered with an error status */
    _Atomic uint64_t query_io_errors;  /* receive/send failures */
    _Atomic uint64_t stale_turns;      /* times the state turned stale */
    _Atomic uint64_t readers_cleared;  /* stale LMDB reader slots cleared */
    _Atomic bool stale;                /* current freshness, for answers */
    _Atomic int64_t last_contact_ms;   /* CLOCK_MONOTONIC ms of the last
                                          heartbeat or resync; 0 = never */
};

void agt_stats_init(struct agt_stats *s); /* all zero, stale = true */

static inline void
agt_stats_inc(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static inline uint64_t
agt_stats_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* One line of key=value fields (no id, no newline) appended to out:
 * applied=N heartbeat=N replay=N ... queries=N query_errors=N stale=0. */
ramp_err agt_stats_format(struct agt_stats *s, struct rp_buf *out);

#endif
