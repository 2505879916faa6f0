/* SPDX-License-Identifier: MIT */
/*
 * The agent's Prometheus metrics (docs/ofrep.md, "Metrics"): the counters
 * the HTTP server keeps itself (requests by route and status, OFREP
 * evaluations by flag and reason) and the renderer of /metrics, which
 * also reads the shared counters (stats.h), the current view, the
 * health aggregation and the cache file.
 *
 * Label cardinality is bounded: evaluations are tracked for at most
 * AGT_METRICS_TRACKED distinct flags (later ones count as "other"), and
 * only the AGT_METRICS_TOP busiest are exported by name; the rest are
 * summed under flag="other". A scrape therefore has at most
 * (AGT_METRICS_TOP + 1) x reasons evaluation series, however many flags
 * or hostile keys there are.
 *
 * Threads: counting from any thread (a mutex for the flag table, relaxed
 * atomics for requests); rendering from any thread.
 * Not here: HTTP (http.c), the text format (proto/promtext.h).
 */
#ifndef AGT_METRICS_H
#define AGT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "eval.h"
#include "ramp/err.h"
#include "stats.h"
#include "view.h"

struct agt_health;

#define AGT_METRICS_TOP 20      /* flags exported by name */
#define AGT_METRICS_TRACKED 256 /* flags counted by name */

/* Routes of the agent's HTTP server, as the "route" label. */
#define AGT_ROUTE_TABLE(X)                                                  \
    X(AGT_ROUTE_OFREP_FLAG, "ofrep_flag")                                   \
    X(AGT_ROUTE_OFREP_BULK, "ofrep_bulk")                                   \
    X(AGT_ROUTE_OUTCOMES, "outcomes")                                       \
    X(AGT_ROUTE_METRICS, "metrics")                                         \
    X(AGT_ROUTE_HEALTHZ, "healthz")                                         \
    X(AGT_ROUTE_READYZ, "readyz")                                           \
    X(AGT_ROUTE_OTHER, "other")

enum agt_route {
#define AGT_ROUTE_ENUM(name, str) name,
    AGT_ROUTE_TABLE(AGT_ROUTE_ENUM)
#undef AGT_ROUTE_ENUM
    AGT_ROUTE_COUNT
};

/* What the renderer reads; everything borrowed, any pointer may be NULL
 * (its families are then left out). */
struct agt_metrics_src {
    struct agt_stats *stats;
    struct agt_viewref *views;
    struct agt_health *health;
    const char *state_dir; /* for the cache file's size */
    size_t map_size;       /* bytes, the configured LMDB map */
};

struct agt_metrics; /* opaque */

ramp_err agt_metrics_new(struct agt_metrics **out); /* RAMP_ENOMEM */
void agt_metrics_free(struct agt_metrics *m);       /* NULL fine */

/* One HTTP answer; status is the HTTP code. */
void agt_metrics_count_http(struct agt_metrics *m, enum agt_route route,
    unsigned status);
/* One OFREP evaluation of flag (bytes, need not be NUL-terminated).
 * flag NULL counts under "other": the caller passes NULL for keys the
 * agent does not have, so clients cannot fill the table with made-up
 * keys. */
void agt_metrics_count_eval(struct agt_metrics *m, const char *flag,
    size_t flag_len, enum rp_reason reason);

/*
 * Append the whole scrape to out: every family once. On error out is
 * back at its length on entry. RAMP_ETOOBIG (out's ceiling), RAMP_ENOMEM.
 */
ramp_err agt_metrics_render(struct agt_metrics *m,
    const struct agt_metrics_src *src, struct rp_buf *out);

const char *agt_route_name(enum agt_route r);

#endif
