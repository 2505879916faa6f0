/* SPDX-License-Identifier: MIT */
/*
 * The agent's HTTP server (docs/ofrep.md): OpenFeature's Remote
 * Evaluation Protocol for applications not written in C, the outcome
 * side channel into the health aggregation, Prometheus metrics and the
 * liveness/readiness probes.
 *
 *   POST /ofrep/v1/evaluate/flags/{key}   one flag (OFREP)
 *   POST /ofrep/v1/evaluate/flags         every flag, ETag/If-None-Match
 *   POST /ramp/v1/outcomes                outcomes of evaluations
 *   GET  /metrics                         Prometheus text format
 *   GET  /healthz, GET /readyz            alive; has state
 *
 * With a key configured the first three need it (Authorization: Bearer
 * or X-API-Key): 401 without, 403 with a wrong one. The probes and
 * /metrics never do; the server binds 127.0.0.1 by default.
 *
 * Threads: answers run on nng's HTTP threads. They evaluate over a held
 * view and touch only atomics and the metrics' mutex, never the cache's
 * write path, so a slow client never delays an update.
 * Not here: evaluation (proto/eval.h), the view (view.h), metric
 * families (metrics.h).
 */
#ifndef AGT_HTTP_H
#define AGT_HTTP_H

#include <stddef.h>

#include "metrics.h"
#include "ramp/err.h"
#include "stats.h"
#include "view.h"

struct agt_health;

#define AGT_HTTP_BODY_DEFAULT ((size_t) 64 << 10)
#define AGT_HTTP_KEY_MAX 256 /* bytes of an API key */

struct agt_http_opts {
    const char *addr;     /* "HOST:PORT" (port 0: ephemeral); borrowed */
    const char *key_file; /* NULL or "": no key; else a file holding it */
    size_t max_body;      /* bytes; 0: AGT_HTTP_BODY_DEFAULT */
    const char *host;     /* the agent's host id; copied */
    const char *state_dir; /* for /metrics (cache file size); copied */
    size_t map_size;      /* for /metrics */
};

struct agt_http; /* opaque */

/*
 * Read the key (if any), listen and start answering. views and stats
 * are borrowed and must outlive the server; health may be NULL (then
 * /ramp/v1/outcomes answers 503 and nothing is counted). RAMP_EINVAL
 * (bad address or options; an empty, unreadable or oversized key file),
 * RAMP_EEXIST (address in use), RAMP_EIO (listen failed), RAMP_ENOMEM.
 * *out only on RAMP_OK.
 */
ramp_err agt_http_start(const struct agt_http_opts *o,
    struct agt_viewref *views, struct agt_stats *stats,
    struct agt_health *health, struct agt_http **out);

/* The TCP port it listens on (useful with port 0). */
int agt_http_port(const struct agt_http *h);

/* Stop listening, wait for answers in progress, free. NULL fine. */
void agt_http_stop(struct agt_http *h);

#endif
