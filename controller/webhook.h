/* SPDX-License-Identifier: MIT */
/*
 * Webhooks (docs/integrations.md): what events.h promises the rollout
 * engine, and what the API (api_webhook.c) and the daemon need besides.
 *
 * Events go into a bounded persistent queue, an LMDB environment of its
 * own (DATA/webhooks/), so delivery never takes the main store's write
 * lock and undelivered events survive a restart. One sender thread
 * drives libcurl's multi interface: per webhook, deliveries go one at a
 * time in queue order (receivers see events in the order they happened);
 * a failure (transport error, timeout, any non-2xx) is retried with
 * exponential backoff and jitter until max_attempts. Gates are asked on
 * the same thread and are never persisted: after a restart the engine
 * asks again.
 *
 * The same environment holds the Prometheus checks of each flag
 * (prom.c reads them; the API writes them).
 *
 * Not here: the HTTP routes (api_webhook.c), the queries (prom.c).
 */
#ifndef CTL_WEBHOOK_H
#define CTL_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api_ext.h"
#include "buf.h"
#include "events.h"
#include "ramp/err.h"

/* The webhook of the config rows (webhook-url); the API may not use it. */
#define CTL_WEBHOOK_CONFIG_NAME "controller"
#define CTL_WEBHOOK_MAX 64         /* webhooks besides the config's */
#define CTL_WEBHOOK_URL_MAX 2048   /* bytes */
#define CTL_WEBHOOK_SECRET_MAX 256 /* bytes */
#define CTL_WEBHOOK_BODY_MAX (64 * 1024) /* one payload, bytes */
#define CTL_ANALYSIS_MAX 16        /* Prometheus checks per flag */
#define CTL_ANALYSIS_QUERY_MAX 2048 /* bytes of one query template */

/* "v1=" + 64 hex digits + NUL */
#define CTL_WEBHOOK_SIG_LEN (3 + 64 + 1)

struct ctl_events_opts {
    const char *dir;        /* created 0700 when missing */
    size_t map_size;        /* 0: 64 MiB */
    size_t queue_max;       /* deliveries kept, pending and finished */
    int64_t timeout_ms;     /* one HTTP request, connect included */
    int64_t backoff_min_ms; /* first retry delay (before jitter) */
    int64_t backoff_max_ms; /* ceiling of the delay */
    uint32_t max_attempts;  /* then the delivery is failed */
    /* The controller's own webhook; url NULL or "none": none. */
    const char *url;
    const char *secret_file; /* NULL or "none": unsigned */
    const char *events;      /* "*" or names separated by commas */
    const char *format;      /* "json" or "slack" */
    bool no_sender;          /* tests: queue only, no thread */
};

/*
 * Open (creating) the queue in o->dir and start the sender. RAMP_EINVAL
 * (a bad setting: url, events, format; named in the log), RAMP_EIO (the
 * secret file), RAMP_ESTORE, RAMP_ENOMEM, RAMP_ESYSTEM (thread).
 */
ramp_err ctl_events_open(const struct ctl_events_opts *o,
    struct ctl_events **out);
/* Stop the sender (in-flight requests are abandoned: they stay pending
 * and go out after the next start), close the queue. NULL is fine. */
void ctl_events_close(struct ctl_events *ev);

/*
 * HMAC-SHA256(key, ts + "." + body) as "v1=<hex>" into out. This is the
 * X-Ramp-Signature header; ts is X-Ramp-Timestamp (unix seconds).
 */
void ctl_webhook_sign(const uint8_t *key, size_t keylen, int64_t ts,
    const char *body, size_t n, char out[CTL_WEBHOOK_SIG_LEN]);

/*
 * Delay before retry number `attempt` (1 = the first retry): the
 * exponential step min(min_ms * 2^(attempt-1), max_ms), of which the
 * upper half is jitter drawn from rnd ("equal jitter": never less than
 * half the step, so a flapping receiver is not hammered).
 */
int64_t ctl_webhook_backoff(uint32_t attempt, int64_t min_ms, int64_t max_ms,
    uint32_t rnd);

/*
 * The JSON payload of e (docs/integrations.md, schema 1) with event id
 * id, or its Slack form ({"text": ...}). New reference, NULL on ENOMEM.
 */
json_t *ctl_event_payload(const struct ctl_event *e, const char *id);
json_t *ctl_event_slack(const struct ctl_event *e);

/* ---- management (api_webhook.c) ---- */

/*
 * Create or replace webhook name from its JSON form {url, events,
 * secret, format, flags, gate}. On RAMP_EINVAL, field names the member
 * and nothing changed. RAMP_EPERM for the config webhook's name.
 */
ramp_err ctl_webhook_put(struct ctl_events *ev, const char *name,
    const json_t *spec, const char *actor, int64_t now_ms, char *field,
    size_t fieldsz, json_t **out);
ramp_err ctl_webhook_delete(struct ctl_events *ev, const char *name,
    const char *actor); /* RAMP_ENOTFOUND, RAMP_EPERM */
/* One webhook (secret never shown) or all of them; new references. */
ramp_err ctl_webhook_get(struct ctl_events *ev, const char *name,
    json_t **out);
json_t *ctl_webhook_list(struct ctl_events *ev);
/* Queue a webhook.test event for webhook name alone; *id: its delivery. */
ramp_err ctl_webhook_test(struct ctl_events *ev, const char *name,
    const char *actor, uint64_t *id);
/*
 * Deliveries, newest first, at most limit; hook NULL: all; state NULL
 * or "pending", "delivered", "failed", "dropped".
 */
ramp_err ctl_webhook_deliveries(struct ctl_events *ev, const char *hook,
    const char *state, size_t limit, json_t **out);

/* Prometheus checks of flag, in their stored form {checks: [...]}. */
ramp_err ctl_analysis_put(struct ctl_events *ev, const char *flag,
    const json_t *spec, const char *actor, char *field, size_t fieldsz,
    json_t **out);
ramp_err ctl_analysis_get(struct ctl_events *ev, const char *flag,
    json_t **out); /* RAMP_ENOTFOUND */
ramp_err ctl_analysis_delete(struct ctl_events *ev, const char *flag,
    const char *actor);

/* Counters for the tests and /metrics. */
struct ctl_webhook_stats {
    uint64_t delivered, failed, retried, dropped;
    uint64_t pending; /* queue depth */
    uint64_t gate_open, gate_closed, gate_error;
};
void ctl_webhook_stats(struct ctl_events *ev, struct ctl_webhook_stats *s);

/* The families ramp_ctl_webhook_* in Prometheus text (proto/promtext.h). */
ramp_err ctl_webhook_metrics(void *ev, struct rp_buf *out);

/*
 * The route table of /api/v1/webhooks and /api/v1/analysis, to pass in
 * ctl_api_opts.ext with ev (or a struct ctl_webhook_api, when the
 * analysis results route should run Prometheus: api_webhook.c).
 */
struct ctl_prom;
struct ctl_webhook_api {
    struct ctl_events *ev;
    struct ctl_prom *prom; /* may be NULL */
};
void ctl_webhook_api_ext(struct ctl_webhook_api *w, struct ctl_api_ext *out);

#endif
