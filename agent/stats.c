/* SPDX-License-Identifier: MIT */
/*
 * The agent's counters and their one-line summary (see stats.h).
 */
#include "stats.h"

#include <string.h>

void
agt_stats_init(struct agt_stats *s)
{
    for (size_t i = 0; i < AGT_APPLY_COUNT; i++) {
        atomic_init(&s->updates[i], 0);
    }
    atomic_init(&s->sub_recv_errors, 0);
    atomic_init(&s->resyncs, 0);
    atomic_init(&s->resync_snapshots, 0);
    atomic_init(&s->resync_failures, 0);
    atomic_init(&s->view_builds, 0);
    atomic_init(&s->view_failures, 0);
    atomic_init(&s->queries_served, 0);
    atomic_init(&s->queries_failed, 0);
    atomic_init(&s->query_io_errors, 0);
    atomic_init(&s->stale_turns, 0);
    atomic_init(&s->readers_cleared, 0);
    atomic_init(&s->stale, true);
    atomic_init(&s->last_contact_ms, 0);
}

ramp_err
agt_stats_format(struct agt_stats *s, struct rp_buf *out)
{
    size_t len0 = out->len;
    ramp_err rv = RAMP_OK;

    /* The outcome labels are the table's, so a new outcome shows up here
     * without touching this function. */
    for (unsigned i = 0; i < AGT_APPLY_COUNT && rv == RAMP_OK; i++) {
        rv = rp_buf_printf(out, "%s%s=%llu", i > 0 ? " " : "",
            agt_apply_outcome_name((enum agt_apply_outcome) i),
            (unsigned long long) agt_stats_get(&s->updates[i]));
    }
    if (rv == RAMP_OK) {
        rv = rp_buf_printf(out,
            " sub_recv_errors=%llu resyncs=%llu resync_snapshots=%llu"
            " resync_failures=%llu views=%llu view_failures=%llu"
            " queries=%llu query_errors=%llu query_io_errors=%llu"
            " stale_turns=%llu readers_cleared=%llu stale=%d",
            (unsigned long long) agt_stats_get(&s->sub_recv_errors),
            (unsigned long long) agt_stats_get(&s->resyncs),
            (unsigned long long) agt_stats_get(&s->resync_snapshots),
            (unsigned long long) agt_stats_get(&s->resync_failures),
            (unsigned long long) agt_stats_get(&s->view_builds),
            (unsigned long long) agt_stats_get(&s->view_failures),
            (unsigned long long) agt_stats_get(&s->queries_served),
            (unsigned long long) agt_stats_get(&s->queries_failed),
            (unsigned long long) agt_stats_get(&s->query_io_errors),
            (unsigned long long) agt_stats_get(&s->stale_turns),
            (unsigned long long) agt_stats_get(&s->readers_cleared),
            atomic_load(&s->stale) ? 1 : 0);
    }
    if (rv != RAMP_OK) {
        out->len = len0; /* all or nothing */
    }
    return rv;
}
