/* SPDX-License-Identifier: MIT */
/*
 * Prometheus as an analysis source (docs/integrations.md): each flag may
 * have checks {name, query, op, threshold}, stored with the webhooks
 * (webhook.h: ctl_analysis_*). ctl_prom_check() (events.h) asks for a
 * fresh instant query of each check on this module's thread (libcurl
 * multi) and returns the latest completed answers; it never waits.
 *
 * A check PASSes when `value op threshold` holds (op and threshold say
 * what healthy looks like: `error_ratio < 0.05`) and FAILs when it does
 * not. Anything else is NO_DATA, never a pass: no prometheus-url, an
 * HTTP or transport error, a status other than "success", an empty
 * result, more than one series, a value that is not a finite number, or
 * no answer yet for the query as it reads at this stage.
 *
 * Not here: storing the checks (webhook.c), routes (api_webhook.c).
 */
#ifndef CTL_PROM_H
#define CTL_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "events.h"
#include "ramp/err.h"

struct ctl_events;

struct ctl_prom_opts {
    const char *url;       /* base URL; NULL or "none": every check NO_DATA */
    int64_t timeout_ms;    /* one query */
    struct ctl_events *ev; /* where the checks are stored; borrowed */
};

/* RAMP_EINVAL (url not http:// or https://), RAMP_ENOMEM, RAMP_ESYSTEM. */
ramp_err ctl_prom_open(const struct ctl_prom_opts *o, struct ctl_prom **out);
void ctl_prom_close(struct ctl_prom *p); /* NULL is fine */

/*
 * tmpl with {{flag}}, {{stage}} (index) and {{stage_percent}} (e.g. 25,
 * 2.5) replaced. RAMP_ETOOBIG when out is too small, RAMP_EINVAL for an
 * unknown {{name}}.
 */
ramp_err ctl_prom_render(const char *tmpl, const char *flag, uint32_t stage,
    uint32_t stage_bp, char *out, size_t outsz);

/*
 * The verdict of one /api/v1/query answer (status is its HTTP status)
 * into r: r->op and r->threshold must be set. Exposed for tests.
 */
void ctl_prom_judge(long status, const char *body, size_t n,
    struct ctl_prom_result *r);

struct ctl_prom_stats {
    uint64_t pass, fail, no_data; /* completed queries by verdict */
};
void ctl_prom_stats(struct ctl_prom *p, struct ctl_prom_stats *s);
/* ramp_ctl_prometheus_queries_total{result=...} (proto/promtext.h). */
ramp_err ctl_prom_metrics(void *p, struct rp_buf *out);

#endif
