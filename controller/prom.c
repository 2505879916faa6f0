/* SPDX-License-Identifier: MIT */
/*
 * Prometheus instant queries for rollout analysis (prom.h). One slot per
 * (flag, check): ctl_prom_check() marks it wanted with the query as it
 * reads now; the thread sends what is wanted and not already in flight,
 * so a slow Prometheus gets at most one query per check at a time, and
 * the engine's check interval sets the pace. A result is returned only
 * for the query text it answered: after a stage change the previous
 * stage's answer is not passed off as this one's.
 */
#include "prom.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "alloc.h"
#include "log.h"
#include "promtext.h"
#include "webhook.h"

#define PROM_SLOTS 256              /* (flag, check) pairs remembered */
#define PROM_BODY_MAX (1 << 20)     /* one answer, bytes */
#define PROM_URL_MAX (CTL_WEBHOOK_URL_MAX + 3 * CTL_ANALYSIS_QUERY_MAX + 64)
#define PROM_POLL_MAX_MS 1000

struct prom_slot {
    bool used, want, busy, have;
    char flag[RP_KEY_MAX + 1];
    char name[CTL_PROM_NAME_MAX + 1];
    char *query;        /* owned: wanted query, rendered */
    char *result_query; /* owned: the query res answers */
    struct ctl_prom_result res;
    int64_t touched_ms;
    /* in flight */
    CURL *easy;
    char *sent_query;   /* owned while busy */
    char *body;
    size_t len;
    bool overflow;
    char err[CURL_ERROR_SIZE];
};

struct ctl_prom {
    char *url; /* NULL: none */
    int64_t timeout_ms;
    struct ctl_events *ev;
    pthread_mutex_t mtx;
    struct prom_slot slots[PROM_SLOTS];
    struct ctl_prom_stats st;
    CURLM *multi;
    pthread_t thr;
    bool started, stop;
};

static int64_t
prom_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ramp_err
ctl_prom_render(const char *tmpl, const char *flag, uint32_t stage,
    uint32_t stage_bp, char *out, size_t outsz)
{
    size_t o = 0;

    for (const char *p = tmpl; *p != '\0';) {
        char val[RP_KEY_MAX + 32];
        const char *v = NULL;
        size_t vn;

        if (p[0] == '{' && p[1] == '{') {
            const char *end = strstr(p + 2, "}}");
            size_t n = end != NULL ? (size_t) (end - (p + 2)) : 0;

            if (end != NULL && n == 4 && strncmp(p + 2, "flag", 4) == 0) {
                v = flag;
            } else if (end != NULL && n == 5 &&
                strncmp(p + 2, "stage", 5) == 0) {
                snprintf(val, sizeof(val), "%u", stage);
                v = val;
            } else if (end != NULL && n == 13 &&
                strncmp(p + 2, "stage_percent", 13) == 0) {
                snprintf(val, sizeof(val), "%g", stage_bp / 100.0);
                v = val;
            } else {
                return RAMP_EINVAL;
            }
            p = end + 2;
        } else {
            val[0] = *p++;
            val[1] = '\0';
            v = val;
        }
        vn = strlen(v);
        if (o + vn >= outsz) {
            return RAMP_ETOOBIG;
        }
        memcpy(out + o, v, vn);
        o += vn;
    }
    if (o >= outsz) {
        return RAMP_ETOOBIG;
    }
    out[o] = '\0';
    return RAMP_OK;
}

static bool
prom_holds(double v, const char *op, double th)
{
    if (strcmp(op, "<") == 0) {
        return v < th;
    }
    if (strcmp(op, "<=") == 0) {
        return v <= th;
    }
    if (strcmp(op, ">") == 0) {
        return v > th;
    }
    return v >= th;
}

void
ctl_prom_judge(long status, const char *body, size_t n,
    struct ctl_prom_result *r)
{
    json_t *j = NULL, *data, *res, *val = NULL;
    const char *st, *type, *s;
    char *end;
    double v;

    r->verdict = RP_VERDICT_NO_DATA;
    r->value = NAN;
    if (status < 200 || status > 299) {
        snprintf(r->detail, sizeof(r->detail), "HTTP %ld", status);
        return;
    }
    j = json_loadb(body, n, 0, NULL);
    st = json_string_value(json_object_get(j, "status"));
    if (st == NULL || strcmp(st, "success") != 0) {
        const char *e = json_string_value(json_object_get(j, "error"));

        snprintf(r->detail, sizeof(r->detail), "status %s: %.100s",
            st != NULL ? st : "missing", e != NULL ? e : "-");
        goto out;
    }
    data = json_object_get(j, "data");
    type = json_string_value(json_object_get(data, "resultType"));
    res = json_object_get(data, "result");
    if (type != NULL && strcmp(type, "vector") == 0 && json_is_array(res)) {
        if (json_array_size(res) == 0) {
            snprintf(r->detail, sizeof(r->detail), "empty result");
            goto out;
        }
        if (json_array_size(res) > 1) {
            snprintf(r->detail, sizeof(r->detail),
                "%zu series: the query must return one",
                json_array_size(res));
            goto out;
        }
        val = json_object_get(json_array_get(res, 0), "value");
    } else if (type != NULL && strcmp(type, "scalar") == 0) {
        val = res;
    } else {
        snprintf(r->detail, sizeof(r->detail), "result type %.40s",
            type != NULL ? type : "missing");
        goto out;
    }
    s = json_string_value(json_array_get(val, 1));
    v = s != NULL ? strtod(s, &end) : NAN;
    if (s == NULL || *end != '\0' || !isfinite(v)) {
        snprintf(r->detail, sizeof(r->detail), "value %.40s is not a number",
            s != NULL ? s : "missing");
        goto out;
    }
    r->value = v;
    r->verdict = prom_holds(v, r->op, r->threshold) ? RP_VERDICT_PASS
                                                    : RP_VERDICT_FAIL;

out:
    json_decref(j);
}

/* ------------------------------------------------------------- thread */

static size_t
prom_write(char *p, size_t sz, size_t n, void *arg)
{
    struct prom_slot *s = arg;
    size_t k = sz * n;
    char *b;

    if (s->len + k > PROM_BODY_MAX) {
        s->overflow = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    b = rp_realloc(s->body, s->len + k + 1);
    if (b == NULL) {
        return 0;
    }
    memcpy(b + s->len, p, k);
    s->body = b;
    s->len += k;
    b[s->len] = '\0';
    return k;
}

static void
slot_xfer_end(struct ctl_prom *p, struct prom_slot *s)
{
    if (s->easy != NULL) {
        curl_multi_remove_handle(p->multi, s->easy);
        curl_easy_cleanup(s->easy);
        s->easy = NULL;
    }
    rp_free(s->body);
    s->body = NULL;
    s->len = 0;
    s->overflow = false;
    rp_free(s->sent_query);
    s->sent_query = NULL;
    s->busy = false;
}

static void
slot_start(struct ctl_prom *p, struct prom_slot *s)
{
    char *url = rp_alloc(PROM_URL_MAX);
    char *q = NULL;
    bool ok;

    s->want = false;
    s->easy = curl_easy_init();
    s->sent_query = rp_strdup(s->query);
    if (s->easy != NULL) {
        q = curl_easy_escape(s->easy, s->query, 0);
    }
    ok = url != NULL && s->easy != NULL && s->sent_query != NULL &&
        q != NULL &&
        snprintf(url, PROM_URL_MAX, "%s/api/v1/query?query=%s", p->url, q) <
            PROM_URL_MAX;
    s->err[0] = '\0';
    ok = ok && curl_easy_setopt(s->easy, CURLOPT_URL, url) == CURLE_OK &&
        curl_easy_setopt(s->easy, CURLOPT_PROTOCOLS_STR, "http,https") ==
            CURLE_OK &&
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long) p->timeout_ms) ==
            CURLE_OK &&
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, prom_write) ==
            CURLE_OK &&
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s) == CURLE_OK &&
        curl_easy_setopt(s->easy, CURLOPT_ERRORBUFFER, s->err) == CURLE_OK &&
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) == CURLE_OK &&
        curl_easy_setopt(s->easy, CURLOPT_USERAGENT, "ramp-controller") ==
            CURLE_OK &&
        curl_multi_add_handle(p->multi, s->easy) == CURLM_OK;
    curl_free(q);
    rp_free(url);
    if (!ok) {
        if (s->easy != NULL) {
            curl_easy_cleanup(s->easy);
            s->easy = NULL;
        }
        rp_free(s->sent_query);
        s->sent_query = NULL;
        s->want = true; /* try again at the next round */
        return;
    }
    s->busy = true;
}

static void
slot_done(struct ctl_prom *p, struct prom_slot *s, CURLcode cc, long status)
{
    struct ctl_prom_result r = s->res;

    snprintf(r.name, sizeof(r.name), "%s", s->name);
    r.at_ms = prom_now_ms();
    if (cc != CURLE_OK) {
        r.verdict = RP_VERDICT_NO_DATA;
        r.value = NAN;
        snprintf(r.detail, sizeof(r.detail), "%.150s",
            s->overflow ? "answer larger than 1 MiB"
                        : (s->err[0] ? s->err : curl_easy_strerror(cc)));
    } else {
        ctl_prom_judge(status, s->body != NULL ? s->body : "", s->len, &r);
        if (r.verdict != RP_VERDICT_NO_DATA) {
            snprintf(r.detail, sizeof(r.detail), "%.159s", s->sent_query);
        }
    }
    if (r.verdict == RP_VERDICT_PASS) {
        p->st.pass++;
    } else if (r.verdict == RP_VERDICT_FAIL) {
        p->st.fail++;
    } else {
        p->st.no_data++;
        RAMP_LOG(RP_LOG_WARNING, "RAMP-PROM-NODATA", "flag=%s check=%s why=\"%s\"",
            s->flag, s->name, r.detail);
    }
    s->res = r;
    s->have = true;
    rp_free(s->result_query);
    s->result_query = s->sent_query;
    s->sent_query = NULL;
}

static void *
prom_main(void *arg)
{
    struct ctl_prom *p = arg;

    for (;;) {
        int running = 0, left;
        CURLMsg *m;

        pthread_mutex_lock(&p->mtx);
        if (p->stop) {
            pthread_mutex_unlock(&p->mtx);
            break;
        }
        for (size_t i = 0; i < PROM_SLOTS; i++) {
            if (p->slots[i].used && p->slots[i].want && !p->slots[i].busy) {
                slot_start(p, &p->slots[i]);
            }
        }
        curl_multi_perform(p->multi, &running);
        while ((m = curl_multi_info_read(p->multi, &left)) != NULL) {
            struct prom_slot *s = NULL;
            long status = 0;

            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &s);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            slot_done(p, s, m->data.result, status);
            slot_xfer_end(p, s);
        }
        pthread_mutex_unlock(&p->mtx);
        curl_multi_poll(p->multi, NULL, 0, PROM_POLL_MAX_MS, NULL);
    }
    return NULL;
}

/* --------------------------------------------------------------- API */

static struct prom_slot *
slot_get(struct ctl_prom *p, const char *flag, const char *name, int64_t now)
{
    struct prom_slot *lru = NULL;

    for (size_t i = 0; i < PROM_SLOTS; i++) {
        struct prom_slot *s = &p->slots[i];

        if (s->used && strcmp(s->flag, flag) == 0 &&
            strcmp(s->name, name) == 0) {
            return s;
        }
        if (!s->busy && (lru == NULL || !s->used ||
                            (lru->used && s->touched_ms < lru->touched_ms))) {
            lru = s;
        }
    }
    if (lru == NULL) {
        return NULL; /* every slot in flight */
    }
    rp_free(lru->query);
    rp_free(lru->result_query);
    memset(lru, 0, sizeof(*lru));
    lru->used = true;
    snprintf(lru->flag, sizeof(lru->flag), "%s", flag);
    snprintf(lru->name, sizeof(lru->name), "%s", name);
    (void) now;
    return lru;
}

size_t
ctl_prom_check(struct ctl_prom *p, const struct rp_rollout *r,
    struct ctl_prom_result *out, size_t max)
{
    json_t *spec = NULL, *c;
    size_t n = 0, i;
    int64_t now = prom_now_ms();
    uint32_t bp;
    bool wake = false;
    char *q;

    if (p == NULL || r == NULL || r->flag_key == NULL || max == 0 ||
        ctl_analysis_get(p->ev, r->flag_key, &spec) != RAMP_OK) {
        return 0;
    }
    q = rp_alloc(CTL_ANALYSIS_QUERY_MAX * 2);
    if (q == NULL) {
        json_decref(spec);
        return 0;
    }
    bp = r->stage_index < r->nstages ? r->stages_bp[r->stage_index] : 0;
    pthread_mutex_lock(&p->mtx);
    json_array_foreach(json_object_get(spec, "checks"), i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *op = json_string_value(json_object_get(c, "op"));
        const char *tmpl = json_string_value(json_object_get(c, "query"));
        struct ctl_prom_result *o = &out[n];
        struct prom_slot *s;
        ramp_err rv;

        if (n == max || name == NULL || op == NULL || tmpl == NULL) {
            break;
        }
        memset(o, 0, sizeof(*o));
        snprintf(o->name, sizeof(o->name), "%s", name);
        snprintf(o->op, sizeof(o->op), "%s", op);
        o->threshold = json_number_value(json_object_get(c, "threshold"));
        o->verdict = RP_VERDICT_NO_DATA;
        o->value = NAN;
        n++;
        if (p->url == NULL) {
            snprintf(o->detail, sizeof(o->detail), "prometheus-url not set");
            continue;
        }
        rv = ctl_prom_render(tmpl, r->flag_key, r->stage_index, bp, q,
            CTL_ANALYSIS_QUERY_MAX * 2);
        if (rv != RAMP_OK) {
            snprintf(o->detail, sizeof(o->detail), "query template: %s",
                ramp_strerror(rv));
            continue;
        }
        s = slot_get(p, r->flag_key, name, now);
        if (s == NULL) {
            snprintf(o->detail, sizeof(o->detail), "too many checks in flight");
            continue;
        }
        s->touched_ms = now;
        if (s->query == NULL || strcmp(s->query, q) != 0) {
            char *nq = rp_strdup(q);

            if (nq == NULL) {
                continue;
            }
            rp_free(s->query);
            s->query = nq;
        }
        /* A fresh answer for every check; one in flight at a time. */
        if (!s->busy) {
            s->want = true;
            wake = true;
        }
        if (s->have && s->result_query != NULL &&
            strcmp(s->result_query, q) == 0) {
            *o = s->res;
            snprintf(o->op, sizeof(o->op), "%s", op);
            o->threshold = json_number_value(json_object_get(c, "threshold"));
            if (o->verdict != RP_VERDICT_NO_DATA) {
                o->verdict = prom_holds(o->value, o->op, o->threshold)
                    ? RP_VERDICT_PASS
                    : RP_VERDICT_FAIL;
            }
        } else {
            snprintf(o->detail, sizeof(o->detail), "waiting for Prometheus");
        }
    }
    /* The slot remembers op and threshold for ctl_prom_judge. */
    json_array_foreach(json_object_get(spec, "checks"), i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));

        for (size_t k = 0; name != NULL && k < PROM_SLOTS; k++) {
            struct prom_slot *s = &p->slots[k];

            if (s->used && strcmp(s->flag, r->flag_key) == 0 &&
                strcmp(s->name, name) == 0) {
                snprintf(s->res.op, sizeof(s->res.op), "%s",
                    json_string_value(json_object_get(c, "op")));
                s->res.threshold =
                    json_number_value(json_object_get(c, "threshold"));
            }
        }
    }
    pthread_mutex_unlock(&p->mtx);
    if (wake && p->multi != NULL) {
        curl_multi_wakeup(p->multi);
    }
    rp_free(q);
    json_decref(spec);
    return n;
}

ramp_err
ctl_prom_open(const struct ctl_prom_opts *o, struct ctl_prom **out)
{
    struct ctl_prom *p;
    bool has = o->url != NULL && o->url[0] != '\0' &&
        strcmp(o->url, "none") != 0;

    *out = NULL;
    if (has && strncmp(o->url, "http://", 7) != 0 &&
        strncmp(o->url, "https://", 8) != 0) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-PROM-CONFIG",
            "setting=prometheus-url why=\"not an http:// or https:// URL\"");
        return RAMP_EINVAL;
    }
    if (has && strlen(o->url) > CTL_WEBHOOK_URL_MAX) {
        return RAMP_EINVAL;
    }
    p = rp_calloc(1, sizeof(*p));
    if (p == NULL) {
        return RAMP_ENOMEM;
    }
    pthread_mutex_init(&p->mtx, NULL);
    p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    p->ev = o->ev;
    if (has) {
        size_t n = strlen(o->url);

        p->url = rp_strdup(o->url);
        if (p->url == NULL) {
            ctl_prom_close(p);
            return RAMP_ENOMEM;
        }
        while (n > 0 && p->url[n - 1] == '/') {
            p->url[--n] = '\0'; /* base URL: we add /api/v1/query */
        }
        p->multi = curl_multi_init();
        if (p->multi == NULL) {
            ctl_prom_close(p);
            return RAMP_ENOMEM;
        }
        if (pthread_create(&p->thr, NULL, prom_main, p) != 0) {
            ctl_prom_close(p);
            return RAMP_ESYSTEM;
        }
        p->started = true;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-PROM-OPEN", "url=%s",
        p->url != NULL ? p->url : "none");
    *out = p;
    return RAMP_OK;
}

void
ctl_prom_close(struct ctl_prom *p)
{
    if (p == NULL) {
        return;
    }
    if (p->started) {
        pthread_mutex_lock(&p->mtx);
        p->stop = true;
        pthread_mutex_unlock(&p->mtx);
        curl_multi_wakeup(p->multi);
        pthread_join(p->thr, NULL);
    }
    for (size_t i = 0; i < PROM_SLOTS; i++) {
        slot_xfer_end(p, &p->slots[i]);
        rp_free(p->slots[i].query);
        rp_free(p->slots[i].result_query);
    }
    if (p->multi != NULL) {
        curl_multi_cleanup(p->multi);
    }
    rp_free(p->url);
    pthread_mutex_destroy(&p->mtx);
    rp_free(p);
}

void
ctl_prom_stats(struct ctl_prom *p, struct ctl_prom_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (p == NULL) {
        return;
    }
    pthread_mutex_lock(&p->mtx);
    *s = p->st;
    pthread_mutex_unlock(&p->mtx);
}

ramp_err
ctl_prom_metrics(void *p, struct rp_buf *out)
{
    struct ctl_prom_stats s;
    struct rp_prom_label l = {"result", NULL};
    size_t mark = out->len;
    ramp_err rv;

    ctl_prom_stats(p, &s);
    rv = rp_prom_family(out, "ramp_ctl_prometheus_queries_total", RP_PROM_COUNTER,
        "Prometheus analysis queries completed, by verdict");
    if (rv == RAMP_OK) {
        l.value = "pass";
        rv = rp_prom_sample_u64(out, "ramp_ctl_prometheus_queries_total", &l, 1,
            s.pass);
    }
    if (rv == RAMP_OK) {
        l.value = "fail";
        rv = rp_prom_sample_u64(out, "ramp_ctl_prometheus_queries_total", &l, 1,
            s.fail);
    }
    if (rv == RAMP_OK) {
        l.value = "no_data";
        rv = rp_prom_sample_u64(out, "ramp_ctl_prometheus_queries_total", &l, 1,
            s.no_data);
    }
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}
