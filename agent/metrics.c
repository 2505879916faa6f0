/* SPDX-License-Identifier: MIT */
/*
 * The agent's /metrics: its own counters (see metrics.h) and the
 * rendering of every family. Names follow Prometheus' conventions:
 * ramp_agent_ prefix, counters end in _total, units in the name.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cache.h"
#include "health.h"
#include "model.h"
#include "promtext.h"

#define NREASONS (RP_REASON_UNKNOWN + 1)
/* Open addressing over twice the tracked flags keeps probes short. */
#define FLAG_SLOTS (2 * AGT_METRICS_TRACKED)

/* HTTP statuses the agent answers with; anything else is "other". */
static const unsigned http_codes[] = { 200, 202, 304, 400, 401, 403, 404,
    405, 411, 413, 500, 503 };
#define NCODES (sizeof(http_codes) / sizeof(http_codes[0]))

struct flag_slot {
    char key[RP_KEY_MAX + 1]; /* "" = free slot */
    uint64_t by_reason[NREASONS];
    uint64_t total;
};

struct agt_metrics {
    pthread_mutex_t mu;               /* the flag table */
    struct flag_slot slots[FLAG_SLOTS]; /* under mu */
    size_t nflags;                    /* under mu */
    uint64_t other[NREASONS];         /* flags past the table, under mu */
    _Atomic uint64_t http[AGT_ROUTE_COUNT][NCODES + 1];
};

const char *
agt_route_name(enum agt_route r)
{
    static const char *const names[] = {
#define AGT_ROUTE_NAME(name, str) str,
        AGT_ROUTE_TABLE(AGT_ROUTE_NAME)
#undef AGT_ROUTE_NAME
    };

    return (unsigned) r < AGT_ROUTE_COUNT ? names[r] : "other";
}

ramp_err
agt_metrics_new(struct agt_metrics **out)
{
    struct agt_metrics *m = rp_calloc(1, sizeof(*m));

    if (m == NULL) {
        return RAMP_ENOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    for (size_t r = 0; r < AGT_ROUTE_COUNT; r++) {
        for (size_t c = 0; c <= NCODES; c++) {
            atomic_init(&m->http[r][c], 0);
        }
    }
    *out = m;
    return RAMP_OK;
}

void
agt_metrics_free(struct agt_metrics *m)
{
    if (m == NULL) {
        return;
    }
    pthread_mutex_destroy(&m->mu);
    rp_free(m);
}

void
agt_metrics_count_http(struct agt_metrics *m, enum agt_route route,
    unsigned status)
{
    size_t c = NCODES;

    if (m == NULL) {
        return;
    }
    if ((unsigned) route >= AGT_ROUTE_COUNT) {
        route = AGT_ROUTE_OTHER;
    }
    for (size_t i = 0; i < NCODES; i++) {
        if (http_codes[i] == status) {
            c = i;
            break;
        }
    }
    atomic_fetch_add_explicit(&m->http[route][c], 1, memory_order_relaxed);
}

/* FNV-1a: the table is small and keys are short. */
static uint32_t
flag_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t) s[i];
        h *= 16777619u;
    }
    return h;
}

void
agt_metrics_count_eval(struct agt_metrics *m, const char *flag,
    size_t flag_len, enum rp_reason reason)
{
    uint32_t i;

    if (m == NULL) {
        return;
    }
    if ((unsigned) reason >= NREASONS) {
        reason = RP_REASON_UNKNOWN;
    }
    pthread_mutex_lock(&m->mu);
    if (flag == NULL || flag_len == 0 || flag_len > RP_KEY_MAX) {
        m->other[reason]++;
        goto out;
    }
    i = flag_hash(flag, flag_len) % FLAG_SLOTS;
    for (;;) {
        struct flag_slot *s = &m->slots[i];

        if (s->key[0] == '\0') {
            if (m->nflags >= AGT_METRICS_TRACKED) {
                m->other[reason]++;
                break;
            }
            memcpy(s->key, flag, flag_len);
            s->key[flag_len] = '\0';
            m->nflags++;
        }
        if (strncmp(s->key, flag, flag_len) == 0 &&
            s->key[flag_len] == '\0') {
            s->by_reason[reason]++;
            s->total++;
            break;
        }
        i = (i + 1) % FLAG_SLOTS; /* never full: half the slots at most */
    }
out:
    pthread_mutex_unlock(&m->mu);
}

static int
slot_busier(const void *a, const void *b)
{
    const struct flag_slot *x = a;
    const struct flag_slot *y = b;

    if (x->total != y->total) {
        return x->total > y->total ? -1 : 1;
    }
    return strcmp(x->key, y->key); /* stable order between scrapes */
}

/* ramp_agent_ofrep_evaluations_total{flag, reason}: the busiest
 * AGT_METRICS_TOP flags by name, the rest as "other". */
static ramp_err
render_evals(struct agt_metrics *m, struct rp_buf *out)
{
    static const char *const name = "ramp_agent_ofrep_evaluations_total";
    struct flag_slot *top;
    uint64_t other[NREASONS];
    size_t n = 0;
    bool any_other = false;
    ramp_err rv;

    top = rp_calloc(AGT_METRICS_TRACKED, sizeof(*top));
    if (top == NULL) {
        return RAMP_ENOMEM;
    }
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < FLAG_SLOTS && n < AGT_METRICS_TRACKED; i++) {
        if (m->slots[i].key[0] != '\0') {
            top[n++] = m->slots[i];
        }
    }
    memcpy(other, m->other, sizeof(other));
    pthread_mutex_unlock(&m->mu);
    qsort(top, n, sizeof(*top), slot_busier);
    for (size_t i = AGT_METRICS_TOP; i < n; i++) {
        for (size_t r = 0; r < NREASONS; r++) {
            other[r] += top[i].by_reason[r];
        }
    }
    for (size_t r = 0; r < NREASONS; r++) {
        any_other = any_other || other[r] > 0;
    }
    rv = rp_prom_family(out, name, RP_PROM_COUNTER,
        "OFREP flag evaluations served, by flag and OpenFeature reason "
        "(the busiest flags by name, the rest as flag=\"other\").");
    for (size_t i = 0; rv == RAMP_OK && i <= n && i <= AGT_METRICS_TOP;
         i++) {
        const bool is_other = i == n || i == AGT_METRICS_TOP;
        const uint64_t *counts = is_other ? other : top[i].by_reason;

        if (is_other && !any_other) {
            break;
        }
        for (size_t r = 0; rv == RAMP_OK && r < NREASONS; r++) {
            struct rp_prom_label l[2] = {
                { "flag", is_other ? "other" : top[i].key },
                { "reason", rp_reason_name((enum rp_reason) r) },
            };

            if (counts[r] == 0) {
                continue; /* a series appears with its first count */
            }
            rv = rp_prom_sample_u64(out, name, l, 2, counts[r]);
        }
    }
    rp_free(top);
    return rv;
}

static ramp_err
render_http(struct agt_metrics *m, struct rp_buf *out)
{
    static const char *const name = "ramp_agent_http_requests_total";
    ramp_err rv;

    rv = rp_prom_family(out, name, RP_PROM_COUNTER,
        "HTTP requests answered (OFREP, outcomes, metrics, health), by "
        "route and status code.");
    for (size_t r = 0; rv == RAMP_OK && r < AGT_ROUTE_COUNT; r++) {
        for (size_t c = 0; rv == RAMP_OK && c <= NCODES; c++) {
            uint64_t v = atomic_load_explicit(&m->http[r][c],
                memory_order_relaxed);
            char code[8];
            struct rp_prom_label l[2] = {
                { "route", agt_route_name((enum agt_route) r) },
                { "code", code },
            };

            if (v == 0) {
                continue;
            }
            if (c < NCODES) {
                snprintf(code, sizeof(code), "%u", http_codes[c]);
            } else {
                snprintf(code, sizeof(code), "other");
            }
            rv = rp_prom_sample_u64(out, name, l, 2, v);
        }
    }
    return rv;
}

static ramp_err
render_stats(struct agt_stats *s, struct rp_buf *out)
{
    static const char *const upd = "ramp_agent_updates_total";
    int64_t last;
    ramp_err rv;

    rv = rp_prom_family(out, upd, RP_PROM_COUNTER,
        "Envelopes from the controller (PUB or resync) by outcome: "
        "applied, heartbeat, or the reason for a rejection.");
    for (size_t i = 0; rv == RAMP_OK && i < AGT_APPLY_COUNT; i++) {
        struct rp_prom_label l[1] = {
            { "outcome", agt_apply_outcome_name((enum agt_apply_outcome) i) },
        };

        rv = rp_prom_sample_u64(out, upd, l, 1, agt_stats_get(&s->updates[i]));
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_agent_sub_receive_errors_total",
            "Receive failures on the SUB socket.",
            agt_stats_get(&s->sub_recv_errors));
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_agent_resyncs_total",
            "Resync replies applied.", agt_stats_get(&s->resyncs));
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_agent_resync_failures_total",
            "Resync rounds that timed out, failed or were rejected.",
            agt_stats_get(&s->resync_failures));
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_agent_view_builds_total",
            "Evaluation views published.", agt_stats_get(&s->view_builds));
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_agent_view_failures_total",
            "Evaluation view builds that failed (the old view is served).",
            agt_stats_get(&s->view_failures));
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(out, "ramp_agent_queries_total", RP_PROM_COUNTER,
            "Local query socket requests, by result.");
    }
    if (rv == RAMP_OK) {
        struct rp_prom_label l[1] = { { "result", "served" } };

        rv = rp_prom_sample_u64(out, "ramp_agent_queries_total", l, 1,
            agt_stats_get(&s->queries_served));
        if (rv == RAMP_OK) {
            l[0].value = "failed";
            rv = rp_prom_sample_u64(out, "ramp_agent_queries_total", l, 1,
                agt_stats_get(&s->queries_failed));
        }
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_agent_stale",
            "1 when the agent has not heard from the controller within its "
            "stale-after bound, else 0.",
            atomic_load(&s->stale) ? 1 : 0);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_agent_stale_turns_total",
            "Times the state turned stale.", agt_stats_get(&s->stale_turns));
    }
    last = atomic_load(&s->last_contact_ms);
    if (rv == RAMP_OK && last > 0) {
        struct timespec ts;
        int64_t now;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        rv = rp_prom_gauge(out, "ramp_agent_last_contact_age_seconds",
            "Seconds since the last heartbeat or resync from the controller "
            "(absent before the first).",
            (double) (now > last ? now - last : 0) / 1000.0);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_agent_lmdb_readers_cleared_total",
            "Stale LMDB reader slots cleared.",
            agt_stats_get(&s->readers_cleared));
    }
    return rv;
}

static ramp_err
render_view(struct agt_viewref *views, struct rp_buf *out)
{
    struct agt_view *v = agt_viewref_get(views);
    uint64_t seq = v != NULL ? agt_view_seq(v) : 0;
    size_t n = v != NULL ? agt_view_count(v) : 0;
    ramp_err rv;

    agt_view_rele(v);
    rv = rp_prom_gauge(out, "ramp_agent_seq",
        "Controller seq of the state being served (0: none yet).",
        (double) seq);
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_agent_flags",
            "Flags in the state being served.", (double) n);
    }
    return rv;
}

static ramp_err
render_health(struct agt_health *h, struct rp_buf *out)
{
    struct agt_health_stats st;
    ramp_err rv;

    agt_health_stats(h, &st);
    rv = rp_prom_counter(out, "ramp_agent_health_outcomes_total",
        "Outcomes accepted into the health aggregation (libramp and "
        "/ramp/v1/outcomes).", st.outcomes);
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(out, "ramp_agent_health_evaluations_total",
            "Evaluations counted into the health aggregation.",
            st.evaluations);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(out, "ramp_agent_health_dropped_total",
            RP_PROM_COUNTER,
            "Outcomes and evaluations dropped: the table was full, or the "
            "report was invalid.");
    }
    if (rv == RAMP_OK) {
        struct rp_prom_label l[1] = { { "reason", "full" } };

        rv = rp_prom_sample_u64(out, "ramp_agent_health_dropped_total", l, 1,
            st.dropped_full);
        if (rv == RAMP_OK) {
            l[0].value = "invalid";
            rv = rp_prom_sample_u64(out, "ramp_agent_health_dropped_total", l,
                1, st.dropped_invalid);
        }
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(out, "ramp_agent_health_reports_total",
            RP_PROM_COUNTER, "Health reports to the controller, by result.");
    }
    if (rv == RAMP_OK) {
        struct rp_prom_label l[1] = { { "result", "sent" } };

        rv = rp_prom_sample_u64(out, "ramp_agent_health_reports_total", l, 1,
            st.reports_sent);
        if (rv == RAMP_OK) {
            l[0].value = "failed";
            rv = rp_prom_sample_u64(out, "ramp_agent_health_reports_total", l,
                1, st.reports_failed);
        }
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_agent_health_entries",
            "Distinct (flag, variant, arm) triples aggregated.", st.entries);
    }
    return rv;
}

ramp_err
agt_metrics_render(struct agt_metrics *m, const struct agt_metrics_src *src,
    struct rp_buf *out)
{
    size_t mark = out->len;
    ramp_err rv = RAMP_OK;

    if (src->views != NULL) {
        rv = render_view(src->views, out);
    }
    if (rv == RAMP_OK && src->stats != NULL) {
        rv = render_stats(src->stats, out);
    }
    if (rv == RAMP_OK && m != NULL) {
        rv = render_http(m, out);
    }
    if (rv == RAMP_OK && m != NULL) {
        rv = render_evals(m, out);
    }
    if (rv == RAMP_OK && src->health != NULL) {
        rv = render_health(src->health, out);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_lmdb(out, "ramp_agent", "cache", src->state_dir,
            src->map_size);
    }
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}
