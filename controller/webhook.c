/* SPDX-License-Identifier: MIT */
/*
 * Webhooks: the persistent queue, the sender thread (libcurl multi),
 * gates, and the stored webhook and analysis configuration
 * (webhook.h, events.h; the schema and the signature scheme are in
 * docs/integrations.md).
 *
 * LMDB layout of DATA/webhooks/ (its own environment: the sender's
 * status writes never wait for, nor hold up, the main store's writer):
 *   hooks     name -> JSON {url, events, secret, format, flags, gate, ...}
 *   queue     id (u64 big-endian) -> JSON delivery record, body included
 *   analysis  flag -> JSON {checks: [...], updated_at_ms, updated_by}
 *   meta      "next_id" -> u64
 *
 * One mutex (ev->mtx) covers the in-memory state (hooks, the pending
 * index, gates, counters) and every write transaction, so the index
 * always matches the file. The sender holds it while it starts and
 * finishes transfers, never while it waits in curl_multi_poll.
 *
 * Not here: the HTTP routes (api_webhook.c), Prometheus (prom.c).
 */
#include "webhook.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>
#include <lmdb.h>
#include <sodium.h>

#include "alloc.h"
#include "log.h"
#include "mdb.h"
#include "promtext.h"

#define WH_MAP_DEFAULT ((size_t) 64 << 20)
#define WH_GATES_MAX 32     /* (flag, rollout, stage) asked at once */
#define WH_GATE_HOOKS_MAX 8 /* gate webhooks per flag */
/* A closed gate is asked again after this long: the receiver may have
 * changed its mind (a change freeze ended), and nothing else would
 * reopen it. */
#define WH_GATE_RECHECK_MS 30000
#define WH_POLL_MAX_MS 1000 /* the sender's longest sleep */
#define WH_ERR_MAX 200      /* last_error, bytes */
#define WH_FLAGS_MAX 256    /* flags one webhook names */
#define WH_EVENT_TEST "webhook.test"
#define WH_EVENT_GATE "rollout.gate"
#define WH_EVBIT_TEST (1u << CTL_EV_COUNT)

struct wh_hook {
    char name[RP_NAME_MAX + 1];
    char *url;           /* owned */
    uint8_t *secret;     /* owned, NULL: unsigned */
    size_t secretlen;
    bool slack;
    uint32_t events;     /* bit per ctl_event_kind */
    json_t *flags;       /* owned array of keys; NULL: every flag */
    bool gate;
    bool config;         /* from the config rows, not the API */
    json_t *spec;        /* owned: the stored form, secret included */
    bool busy;           /* a delivery in flight */
    bool head_seen;      /* scratch of sender_scan */
};

struct wh_pending {
    uint64_t id;
    char hook[RP_NAME_MAX + 1];
    int64_t next_ms;
    uint32_t attempts;
    bool busy;
};

struct wh_gate_hook {
    char hook[RP_NAME_MAX + 1];
    enum ctl_gate res;
    bool busy;
    int64_t next_ms;   /* when to ask (again) */
    uint32_t attempts; /* transport failures in a row */
};

struct wh_gate {
    bool used;
    char flag[RP_KEY_MAX + 1];
    uint64_t rollout_id;
    uint32_t stage;
    int64_t touched_ms;
    size_t nh;
    struct wh_gate_hook h[WH_GATE_HOOKS_MAX];
};

struct wh_xfer {
    struct wh_xfer *next;
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;            /* owned copy of what is sent */
    uint64_t id;           /* delivery; 0 for a gate */
    struct wh_gate *gate;  /* gate request: the gate and the hook's slot */
    size_t gh;
    char hook[RP_NAME_MAX + 1];
    char err[CURL_ERROR_SIZE];
};

struct ctl_events {
    struct ctl_events_opts o; /* strings not kept */
    MDB_env *env;
    MDB_dbi hooks_db, queue_db, analysis_db, meta_db;
    pthread_mutex_t mtx;
    struct wh_hook hooks[CTL_WEBHOOK_MAX + 1]; /* under mtx */
    size_t nhooks;
    struct wh_pending *pend; /* ascending id; under mtx */
    size_t npend, pendcap;
    size_t nfinished;        /* records not pending */
    struct wh_gate gates[WH_GATES_MAX];
    struct ctl_webhook_stats st;
    CURLM *multi;
    struct wh_xfer *xfers; /* in flight; sender thread only */
    pthread_t thr;
    bool started, stop;
};

static int64_t
wh_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
ctl_event_name(enum ctl_event_kind k)
{
    static const char *const names[] = {
#define CTL_EV_NAME(e, s) s,
        CTL_EVENT_TABLE(CTL_EV_NAME)
#undef CTL_EV_NAME
    };
    return (unsigned) k < CTL_EV_COUNT ? names[k] : "unknown";
}

/* ------------------------------------------------------------ signing */

void
ctl_webhook_sign(const uint8_t *key, size_t keylen, int64_t ts,
    const char *body, size_t n, char out[CTL_WEBHOOK_SIG_LEN])
{
    crypto_auth_hmacsha256_state s;
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    char tsb[24];
    int tn = snprintf(tsb, sizeof(tsb), "%" PRId64 ".", ts);

    crypto_auth_hmacsha256_init(&s, key, keylen);
    crypto_auth_hmacsha256_update(&s, (const unsigned char *) tsb, (size_t) tn);
    crypto_auth_hmacsha256_update(&s, (const unsigned char *) body, n);
    crypto_auth_hmacsha256_final(&s, mac);
    memcpy(out, "v1=", 3);
    sodium_bin2hex(out + 3, CTL_WEBHOOK_SIG_LEN - 3, mac, sizeof(mac));
    sodium_memzero(&s, sizeof(s));
}

int64_t
ctl_webhook_backoff(uint32_t attempt, int64_t min_ms, int64_t max_ms,
    uint32_t rnd)
{
    int64_t step = min_ms > 0 ? min_ms : 1;

    for (uint32_t i = 1; i < attempt && step < max_ms; i++) {
        step *= 2;
    }
    if (step > max_ms) {
        step = max_ms;
    }
    return step / 2 + (int64_t) (rnd % (uint32_t) (step / 2 + 1));
}

/* ------------------------------------------------------------ payload */

static void
wh_time(int64_t ms, char out[32])
{
    time_t s = (time_t) (ms / 1000);
    struct tm tm;
    size_t n;

    gmtime_r(&s, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int) (ms % 1000));
}

static bool
wh_is_flag_event(enum ctl_event_kind k)
{
    return k == CTL_EV_FLAG_CHANGED;
}

/* Schema 1: every member always present, null when it does not apply,
 * so a receiver can rely on the shape. */
static json_t *
payload_build(const struct ctl_event *e, const char *type, const char *id,
    bool have_bp)
{
    bool fe = wh_is_flag_event(e->kind);
    char at[32];
    json_t *j;

    wh_time(e->ts_ms, at);
    j = json_pack("{s:i, s:s, s:s, s:s, s:I, s:s?}", "schema", 1, "id", id,
        "type", type, "occurred_at", at, "occurred_at_ms",
        (json_int_t) e->ts_ms, "flag", e->flag);
    if (j == NULL) {
        return NULL;
    }
    if (json_object_set_new(j, "rollout_id",
            e->rollout_id > 0 ? json_integer((json_int_t) e->rollout_id)
                              : json_null()) != 0 ||
        json_object_set_new(j, "from",
            fe ? json_null() : json_string(rp_rstate_name(e->from))) != 0 ||
        json_object_set_new(j, "to",
            fe ? json_null() : json_string(rp_rstate_name(e->to))) != 0 ||
        json_object_set_new(j, "stage",
            fe ? json_null() : json_integer(e->stage_index)) != 0 ||
        json_object_set_new(j, "stage_percent",
            fe || !have_bp ? json_null() : json_real(e->stage_bp / 100.0)) !=
            0 ||
        json_object_set_new(j, "actor",
            e->actor != NULL ? json_string(e->actor) : json_null()) != 0 ||
        json_object_set_new(j, "reason",
            e->reason != NULL ? json_string(e->reason) : json_null()) != 0 ||
        json_object_set_new(j, "flag_version",
            fe ? json_integer((json_int_t) e->flag_version) : json_null()) !=
            0 ||
        json_object_set_new(j, "check",
            e->check != NULL ? json_deep_copy(e->check) : json_null()) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

json_t *
ctl_event_payload(const struct ctl_event *e, const char *id)
{
    return payload_build(e, ctl_event_name(e->kind), id, true);
}

json_t *
ctl_event_slack(const struct ctl_event *e)
{
    char text[1024];

    if (wh_is_flag_event(e->kind)) {
        snprintf(text, sizeof(text), "ramp: flag %s changed (version %" PRIu64
            ") by %s", e->flag != NULL ? e->flag : "?", e->flag_version,
            e->actor != NULL ? e->actor : "?");
    } else {
        snprintf(text, sizeof(text),
            "ramp: %s: flag %s, rollout %" PRIu64 ", %s -> %s, stage %u "
            "(%g%%) by %s%s%s",
            ctl_event_name(e->kind), e->flag != NULL ? e->flag : "?",
            e->rollout_id, rp_rstate_name(e->from), rp_rstate_name(e->to),
            e->stage_index, e->stage_bp / 100.0,
            e->actor != NULL ? e->actor : "?",
            e->reason != NULL && e->reason[0] != '\0' ? ": " : "",
            e->reason != NULL ? e->reason : "");
    }
    return json_pack("{s:s}", "text", text);
}

/* -------------------------------------------------------------- LMDB */

static void
wh_key_u64(uint64_t v, uint8_t k[8])
{
    for (int i = 7; i >= 0; i--) {
        k[i] = (uint8_t) v;
        v >>= 8;
    }
}

static uint64_t
wh_u64_key(const MDB_val *v)
{
    const uint8_t *p = v->mv_data;
    uint64_t x = 0;

    if (v->mv_size != 8) {
        return 0;
    }
    for (int i = 0; i < 8; i++) {
        x = (x << 8) | p[i];
    }
    return x;
}

static ramp_err
wh_put_json(MDB_txn *txn, MDB_dbi db, const void *k, size_t kn, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    MDB_val key = {kn, (void *) k}, val;
    ramp_err rv;

    if (s == NULL) {
        return RAMP_ENOMEM;
    }
    val.mv_size = strlen(s);
    val.mv_data = s;
    rv = rp_mdb_err(mdb_put(txn, db, &key, &val, 0), "webhook_put");
    free(s);
    return rv;
}

static ramp_err
wh_get_json(MDB_txn *txn, MDB_dbi db, const void *k, size_t kn, json_t **out)
{
    MDB_val key = {kn, (void *) k}, val;
    ramp_err rv;

    rv = rp_mdb_err(mdb_get(txn, db, &key, &val), "webhook_get");
    if (rv != RAMP_OK) {
        return rv;
    }
    *out = json_loadb(val.mv_data, val.mv_size, 0, NULL);
    return *out != NULL ? RAMP_OK : rp_mdb_corrupt(RAMP_EPROTO, "webhook_get");
}

static ramp_err
wh_begin(struct ctl_events *ev, unsigned flags, MDB_txn **txn)
{
    return rp_mdb_err(mdb_txn_begin(ev->env, NULL, flags, txn), "txn_begin");
}

static ramp_err
wh_commit(MDB_txn *txn)
{
    return rp_mdb_err(mdb_txn_commit(txn), "txn_commit");
}

/* -------------------------------------------------------------- hooks */

static ramp_err
wh_events_parse(const json_t *arr, const char *csv, uint32_t *mask)
{
    *mask = 0;
    for (size_t i = 0;; i++) {
        char name[64];
        const char *s;
        size_t n;

        if (arr != NULL) {
            const json_t *e = json_array_get(arr, i);

            if (e == NULL) {
                break;
            }
            s = json_string_value(e);
            if (s == NULL) {
                return RAMP_EINVAL;
            }
            n = strlen(s);
        } else {
            size_t k;

            s = csv;
            for (k = 0; k < i && s != NULL; k++) {
                s = strchr(s, ',');
                s = s != NULL ? s + 1 : NULL;
            }
            if (s == NULL) {
                break;
            }
            n = strcspn(s, ",");
        }
        while (n > 0 && (*s == ' ')) {
            s++;
            n--;
        }
        while (n > 0 && s[n - 1] == ' ') {
            n--;
        }
        if (n == 0 || n >= sizeof(name)) {
            return RAMP_EINVAL;
        }
        memcpy(name, s, n);
        name[n] = '\0';
        if (strcmp(name, "*") == 0) {
            *mask |= (1u << CTL_EV_COUNT) - 1;
            continue;
        }
        if (strcmp(name, "rollout.*") == 0) {
            *mask |= ((1u << CTL_EV_COUNT) - 1) & ~(1u << CTL_EV_FLAG_CHANGED);
            continue;
        }
        for (n = 0; n < CTL_EV_COUNT; n++) {
            if (strcmp(name, ctl_event_name((enum ctl_event_kind) n)) == 0) {
                break;
            }
        }
        if (n == CTL_EV_COUNT) {
            return RAMP_EINVAL;
        }
        *mask |= 1u << n;
    }
    return *mask != 0 ? RAMP_OK : RAMP_EINVAL;
}

static bool
wh_name_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= RP_NAME_MAX &&
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789_.-") == n;
}

static bool
wh_url_ok(const char *u)
{
    size_t n = strlen(u);

    if (n == 0 || n > CTL_WEBHOOK_URL_MAX) {
        return false;
    }
    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char) u[i] <= ' ' || u[i] == 0x7f) {
            return false;
        }
    }
    return strlen(u) > (u[4] == 's' ? 8u : 7u);
}

static void
hook_fini(struct wh_hook *h)
{
    rp_free(h->url);
    if (h->secret != NULL) {
        sodium_memzero(h->secret, h->secretlen);
        rp_free(h->secret);
    }
    json_decref(h->flags);
    json_decref(h->spec);
    memset(h, 0, sizeof(*h));
}

/* A stored spec (already validated) into h. RAMP_ENOMEM, or RAMP_EINVAL
 * when the stored form does not hold up (a damaged record). */
static ramp_err
hook_from_spec(const char *name, json_t *spec, struct wh_hook *h)
{
    const char *url = json_string_value(json_object_get(spec, "url"));
    const char *sec = json_string_value(json_object_get(spec, "secret"));
    const char *fmt = json_string_value(json_object_get(spec, "format"));
    const json_t *flags = json_object_get(spec, "flags");

    memset(h, 0, sizeof(*h));
    if (url == NULL || fmt == NULL ||
        wh_events_parse(json_object_get(spec, "events"), NULL, &h->events) !=
            RAMP_OK) {
        return RAMP_EINVAL;
    }
    snprintf(h->name, sizeof(h->name), "%s", name);
    h->url = rp_strdup(url);
    if (h->url == NULL) {
        return RAMP_ENOMEM;
    }
    if (sec != NULL) {
        h->secretlen = strlen(sec);
        h->secret = (uint8_t *) rp_strdup(sec);
        if (h->secret == NULL) {
            hook_fini(h);
            return RAMP_ENOMEM;
        }
    }
    h->slack = strcmp(fmt, "slack") == 0;
    if (json_is_array(flags)) {
        h->flags = json_incref((json_t *) flags);
    }
    h->gate = json_is_true(json_object_get(spec, "gate"));
    h->spec = json_incref(spec);
    return RAMP_OK;
}

static bool
hook_wants_flag(const struct wh_hook *h, const char *flag)
{
    size_t i;
    json_t *v;

    if (h->flags == NULL) {
        return true;
    }
    if (flag == NULL) {
        return false;
    }
    json_array_foreach(h->flags, i, v)
    {
        if (strcmp(json_string_value(v), flag) == 0) {
            return true;
        }
    }
    return false;
}

static struct wh_hook *
hook_find(struct ctl_events *ev, const char *name)
{
    for (size_t i = 0; i < ev->nhooks; i++) {
        if (strcmp(ev->hooks[i].name, name) == 0) {
            return &ev->hooks[i];
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- queue */

static ramp_err
pend_add(struct ctl_events *ev, uint64_t id, const char *hook, int64_t next_ms,
    uint32_t attempts)
{
    struct wh_pending *p;

    if (ev->npend == ev->pendcap) {
        size_t cap = ev->pendcap ? ev->pendcap * 2 : 64;

        p = rp_realloc(ev->pend, cap * sizeof(*p));
        if (p == NULL) {
            return RAMP_ENOMEM;
        }
        ev->pend = p;
        ev->pendcap = cap;
    }
    p = &ev->pend[ev->npend++];
    memset(p, 0, sizeof(*p));
    p->id = id;
    snprintf(p->hook, sizeof(p->hook), "%s", hook);
    p->next_ms = next_ms;
    p->attempts = attempts;
    return RAMP_OK;
}

static struct wh_pending *
pend_find(struct ctl_events *ev, uint64_t id)
{
    for (size_t i = 0; i < ev->npend; i++) {
        if (ev->pend[i].id == id) {
            return &ev->pend[i];
        }
    }
    return NULL;
}

static void
pend_remove(struct ctl_events *ev, uint64_t id)
{
    for (size_t i = 0; i < ev->npend; i++) {
        if (ev->pend[i].id == id) {
            memmove(&ev->pend[i], &ev->pend[i + 1],
                (ev->npend - i - 1) * sizeof(ev->pend[0]));
            ev->npend--;
            return;
        }
    }
}

/*
 * Make room for one more record: drop the oldest finished record; when
 * every record is pending (nfin == 0), the oldest pending one. Under
 * mtx, in txn. *dropped receives the id of a pending record dropped, 0
 * when a finished one went.
 */
static ramp_err
queue_evict(struct ctl_events *ev, MDB_txn *txn, size_t nfin,
    uint64_t *dropped)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rc;
    ramp_err rv;

    *dropped = 0;
    rv = rp_mdb_err(mdb_cursor_open(txn, ev->queue_db, &cur), "cursor_open");
    if (rv != RAMP_OK) {
        return rv;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        bool pending = pend_find(ev, wh_u64_key(&k)) != NULL;

        if (pending && nfin > 0) {
            continue;
        }
        *dropped = pending ? wh_u64_key(&k) : 0;
        rc = mdb_cursor_del(cur, 0);
        break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? RAMP_ENOTFOUND : rp_mdb_err(rc, "queue_evict");
}

/* One record to add: its webhook, body and event type (borrowed). */
struct wh_new {
    const char *hook;
    const char *body;
    const char *type;
};

/*
 * Add one pending record per element of nw, in one transaction, making
 * room first (queue_max bounds pending + finished). The index changes
 * only once the commit succeeded. Under mtx.
 */
static ramp_err
queue_add(struct ctl_events *ev, const char *event_id, const char *flag,
    const struct wh_new *nw, size_t n, int64_t now, uint64_t *first_id)
{
    static const char next_key[] = "next_id";
    MDB_txn *txn = NULL;
    MDB_val k = {sizeof(next_key) - 1, (void *) next_key}, v;
    uint64_t first = 1, next, *dropped = NULL;
    size_t ndropped = 0, nfin = ev->nfinished, total, maxdrop;
    ramp_err rv;
    uint8_t idk[8];

    total = ev->npend + ev->nfinished;
    maxdrop = n + (total > ev->o.queue_max ? total - ev->o.queue_max : 0);
    dropped = rp_calloc(maxdrop, sizeof(*dropped));
    if (dropped == NULL) {
        return RAMP_ENOMEM;
    }
    rv = wh_begin(ev, 0, &txn);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (mdb_get(txn, ev->meta_db, &k, &v) == 0 && v.mv_size == 8) {
        first = wh_u64_key(&v);
    }
    next = first;
    for (size_t i = 0; i < n; i++) {
        json_t *rec;

        while (total >= ev->o.queue_max && ndropped < maxdrop) {
            uint64_t d;

            rv = queue_evict(ev, txn, nfin, &d);
            if (rv == RAMP_ENOTFOUND) {
                break; /* nothing older: only what we add now */
            }
            if (rv != RAMP_OK) {
                goto out;
            }
            if (d != 0) {
                dropped[ndropped++] = d;
            } else {
                nfin--;
            }
            total--;
        }
        rv = RAMP_OK;
        rec = json_pack("{s:I, s:s, s:s, s:s, s:s?, s:I, s:s, s:s, s:i, "
                        "s:I, s:i, s:n, s:n}",
            "id", (json_int_t) next, "hook", nw[i].hook, "event_id", event_id,
            "type", nw[i].type, "flag", flag, "created_ms", (json_int_t) now,
            "body", nw[i].body, "state", "pending", "attempts", 0, "next_ms",
            (json_int_t) now, "last_status", 0, "last_error", "done_ms");
        if (rec == NULL) {
            rv = RAMP_ENOMEM;
            goto out;
        }
        wh_key_u64(next, idk);
        rv = wh_put_json(txn, ev->queue_db, idk, 8, rec);
        json_decref(rec);
        if (rv != RAMP_OK) {
            goto out;
        }
        next++;
        total++;
    }
    wh_key_u64(next, idk);
    v.mv_size = 8;
    v.mv_data = idk;
    rv = rp_mdb_err(mdb_put(txn, ev->meta_db, &k, &v, 0), "meta_put");
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = wh_commit(txn);
    txn = NULL;
    if (rv != RAMP_OK) {
        goto out;
    }
    /* Committed: the index follows. A failed pend_add (ENOMEM) leaves a
     * record the index lacks; it is sent after the next start. */
    for (size_t i = 0; i < ndropped; i++) {
        pend_remove(ev, dropped[i]);
        ev->st.dropped++;
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-DROP",
            "id=%" PRIu64 " why=\"queue full of undelivered events\" "
            "queue_max=%zu dropped_total=%" PRIu64,
            dropped[i], ev->o.queue_max, ev->st.dropped);
    }
    ev->nfinished = nfin;
    for (size_t i = 0; i < n; i++) {
        if (pend_add(ev, first + i, nw[i].hook, now, 0) != RAMP_OK) {
            RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-QUEUE-FAIL",
                "id=%" PRIu64 " err=RAMP_ENOMEM why=\"sent after restart\"",
                first + i);
        }
    }
    if (first_id != NULL) {
        *first_id = first;
    }

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    rp_free(dropped);
    return rv;
}

/* Rewrite the delivery record id with the outcome of an attempt. */
static ramp_err
queue_update(struct ctl_events *ev, uint64_t id, const char *state,
    uint32_t attempts, int64_t next_ms, long status, const char *err,
    int64_t now)
{
    MDB_txn *txn = NULL;
    json_t *rec = NULL;
    uint8_t idk[8];
    ramp_err rv;

    wh_key_u64(id, idk);
    rv = wh_begin(ev, 0, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = wh_get_json(txn, ev->queue_db, idk, 8, &rec);
    if (rv == RAMP_ENOTFOUND) {
        mdb_txn_abort(txn); /* evicted meanwhile */
        return RAMP_OK;
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    if (json_object_set_new(rec, "state", json_string(state)) != 0 ||
        json_object_set_new(rec, "attempts", json_integer(attempts)) != 0 ||
        json_object_set_new(rec, "next_ms",
            strcmp(state, "pending") == 0 ? json_integer(next_ms)
                                          : json_null()) != 0 ||
        json_object_set_new(rec, "last_status", json_integer(status)) != 0 ||
        json_object_set_new(rec, "last_error",
            err != NULL ? json_string(err) : json_null()) != 0 ||
        json_object_set_new(rec, "done_ms",
            strcmp(state, "pending") == 0 ? json_null()
                                          : json_integer(now)) != 0) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    rv = wh_put_json(txn, ev->queue_db, idk, 8, rec);
    if (rv == RAMP_OK) {
        rv = wh_commit(txn);
        txn = NULL;
    }

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    json_decref(rec);
    return rv;
}

/* --------------------------------------------------------------- emit */

static void
wh_event_id(char out[37])
{
    uint8_t b[16];

    randombytes_buf(b, sizeof(b));
    memcpy(out, "evt_", 4);
    sodium_bin2hex(out + 4, 33, b, sizeof(b));
}

static char *
wh_dump(const json_t *j)
{
    char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

    if (s != NULL && strlen(s) > CTL_WEBHOOK_BODY_MAX) {
        free(s);
        s = NULL;
    }
    return s;
}

static void
wh_wake(struct ctl_events *ev)
{
    if (ev->multi != NULL) {
        curl_multi_wakeup(ev->multi);
    }
}

void
ctl_events_emit(struct ctl_events *ev, const struct ctl_event *e)
{
    struct wh_new nw[CTL_WEBHOOK_MAX + 1];
    char id[37];
    json_t *pj = NULL, *sj = NULL;
    char *pbody = NULL, *sbody = NULL;
    size_t n = 0;
    ramp_err rv = RAMP_OK;

    if (ev == NULL || e == NULL || (unsigned) e->kind >= CTL_EV_COUNT) {
        return;
    }
    wh_event_id(id);
    pj = ctl_event_payload(e, id);
    sj = ctl_event_slack(e);
    pbody = wh_dump(pj);
    sbody = wh_dump(sj);
    pthread_mutex_lock(&ev->mtx);
    for (size_t i = 0; i < ev->nhooks; i++) {
        const struct wh_hook *h = &ev->hooks[i];

        if ((h->events & (1u << e->kind)) == 0 ||
            !hook_wants_flag(h, e->flag)) {
            continue;
        }
        nw[n].hook = h->name;
        nw[n].body = h->slack ? sbody : pbody;
        nw[n].type = ctl_event_name(e->kind);
        if (nw[n].body == NULL) {
            rv = RAMP_ENOMEM;
            break;
        }
        n++;
    }
    if (rv == RAMP_OK && n > 0) {
        rv = queue_add(ev, id, e->flag, nw, n, wh_now_ms(), NULL);
    }
    pthread_mutex_unlock(&ev->mtx);
    if (rv != RAMP_OK) {
        /* The engine goes on: an event we cannot queue must not stop a
         * rollback. Say so loudly. */
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-QUEUE-FAIL",
            "event=%s flag=%s err=%s", ctl_event_name(e->kind),
            e->flag != NULL ? e->flag : "-", ramp_errname(rv));
    } else if (n > 0) {
        RAMP_LOG(RP_LOG_DEBUG, "RAMP-WEBHOOK-QUEUED",
            "event=%s id=%s flag=%s webhooks=%zu", ctl_event_name(e->kind),
            id, e->flag != NULL ? e->flag : "-", n);
        wh_wake(ev);
    }
    free(pbody);
    free(sbody);
    json_decref(pj);
    json_decref(sj);
}

ramp_err
ctl_webhook_test(struct ctl_events *ev, const char *name, const char *actor,
    uint64_t *idp)
{
    struct ctl_event e = {0};
    struct wh_new nw;
    struct wh_hook *h;
    char id[37];
    json_t *j;
    char *body;
    ramp_err rv;

    wh_event_id(id);
    e.kind = CTL_EV_FLAG_CHANGED; /* shape only; type is webhook.test */
    e.actor = actor;
    e.reason = "test event sent with `ramp webhook test`";
    e.ts_ms = wh_now_ms();
    pthread_mutex_lock(&ev->mtx);
    h = hook_find(ev, name);
    if (h == NULL) {
        pthread_mutex_unlock(&ev->mtx);
        return RAMP_ENOTFOUND;
    }
    if (h->slack) {
        j = json_pack("{s:s}", "text", "ramp: test event");
    } else {
        j = payload_build(&e, WH_EVENT_TEST, id, false);
        if (j != NULL) {
            json_object_set_new(j, "flag_version", json_null());
        }
    }
    body = wh_dump(j);
    json_decref(j);
    if (body == NULL) {
        pthread_mutex_unlock(&ev->mtx);
        return RAMP_ENOMEM;
    }
    nw.hook = h->name;
    nw.body = body;
    nw.type = WH_EVENT_TEST;
    rv = queue_add(ev, id, NULL, &nw, 1, e.ts_ms, idp);
    pthread_mutex_unlock(&ev->mtx);
    free(body);
    if (rv == RAMP_OK) {
        wh_wake(ev);
    }
    return rv;
}

/* -------------------------------------------------------------- gates */

enum ctl_gate
ctl_events_gate(struct ctl_events *ev, const char *flag, uint64_t rollout_id,
    uint32_t next_stage)
{
    struct wh_gate *g = NULL, *lru = NULL;
    enum ctl_gate res = CTL_GATE_OPEN;
    int64_t now = wh_now_ms();
    bool any = false, wake = false, pending = false, closed = false;

    if (ev == NULL || flag == NULL) {
        return CTL_GATE_OPEN;
    }
    pthread_mutex_lock(&ev->mtx);
    for (size_t i = 0; i < ev->nhooks; i++) {
        if (ev->hooks[i].gate && hook_wants_flag(&ev->hooks[i], flag)) {
            any = true;
        }
    }
    if (!any) {
        goto out;
    }
    for (size_t i = 0; i < WH_GATES_MAX; i++) {
        struct wh_gate *x = &ev->gates[i];

        if (x->used && x->rollout_id == rollout_id && x->stage == next_stage &&
            strcmp(x->flag, flag) == 0) {
            g = x;
            break;
        }
        if (lru == NULL || !x->used ||
            (lru->used && x->touched_ms < lru->touched_ms)) {
            lru = x;
        }
    }
    if (g == NULL) {
        g = lru;
        /* An in-flight request of an evicted gate still points at it:
         * keep it until that request ends. */
        for (size_t k = 0; k < g->nh; k++) {
            if (g->used && g->h[k].busy) {
                res = CTL_GATE_PENDING;
                goto out;
            }
        }
        memset(g, 0, sizeof(*g));
        g->used = true;
        snprintf(g->flag, sizeof(g->flag), "%s", flag);
        g->rollout_id = rollout_id;
        g->stage = next_stage;
    }
    g->touched_ms = now;
    /* Every current gate webhook of the flag has a slot; a webhook
     * deleted since is no longer asked nor counted. */
    for (size_t i = 0; i < ev->nhooks; i++) {
        const struct wh_hook *h = &ev->hooks[i];
        size_t k;

        if (!h->gate || !hook_wants_flag(h, flag)) {
            continue;
        }
        for (k = 0; k < g->nh; k++) {
            if (strcmp(g->h[k].hook, h->name) == 0) {
                break;
            }
        }
        if (k == g->nh) {
            if (g->nh == WH_GATE_HOOKS_MAX) {
                pending = true; /* more gates than slots: never open */
                continue;
            }
            memset(&g->h[k], 0, sizeof(g->h[k]));
            snprintf(g->h[k].hook, sizeof(g->h[k].hook), "%s", h->name);
            g->h[k].res = CTL_GATE_PENDING;
            g->nh++;
            wake = true;
        }
        if (g->h[k].res == CTL_GATE_CLOSED) {
            closed = true;
        } else if (g->h[k].res == CTL_GATE_PENDING) {
            pending = true;
        }
    }
    res = closed ? CTL_GATE_CLOSED
                 : (pending ? CTL_GATE_PENDING : CTL_GATE_OPEN);

out:
    pthread_mutex_unlock(&ev->mtx);
    if (wake) {
        wh_wake(ev);
    }
    return res;
}

/* ------------------------------------------------------------- sender */

static size_t
wh_discard(char *p, size_t sz, size_t n, void *arg)
{
    (void) p;
    (void) arg;
    return sz * n;
}

static void
xfer_free(struct wh_xfer *x)
{
    if (x == NULL) {
        return;
    }
    if (x->easy != NULL) {
        curl_easy_cleanup(x->easy);
    }
    curl_slist_free_all(x->hdrs);
    free(x->body);
    rp_free(x);
}

/* Build and add a POST of body to h. Under mtx. */
static ramp_err
xfer_start(struct ctl_events *ev, const struct wh_hook *h, const char *body,
    const char *event_id, const char *type, uint64_t id, struct wh_gate *g,
    size_t gh)
{
    struct wh_xfer *x = rp_calloc(1, sizeof(*x));
    char hdr[160], sig[CTL_WEBHOOK_SIG_LEN];
    int64_t ts = wh_now_ms() / 1000;
    bool ok = true;

    if (x == NULL) {
        return RAMP_ENOMEM;
    }
    x->body = strdup(body);
    x->easy = curl_easy_init();
    if (x->body == NULL || x->easy == NULL) {
        xfer_free(x);
        return RAMP_ENOMEM;
    }
    x->id = id;
    x->gate = g;
    x->gh = gh;
    snprintf(x->hook, sizeof(x->hook), "%s", h->name);
#define WH_HDR(...)                                                         \
    do {                                                                    \
        struct curl_slist *l_;                                              \
        snprintf(hdr, sizeof(hdr), __VA_ARGS__);                            \
        l_ = curl_slist_append(x->hdrs, hdr);                               \
        if (l_ == NULL) {                                                   \
            ok = false;                                                     \
        } else {                                                            \
            x->hdrs = l_;                                                   \
        }                                                                   \
    } while (0)
    WH_HDR("Content-Type: application/json");
    WH_HDR("Expect:"); /* no 100-continue round trip */
    WH_HDR("X-Ramp-Event: %s", type);
    WH_HDR("X-Ramp-Event-Id: %s", event_id);
    WH_HDR("X-Ramp-Timestamp: %" PRId64, ts);
    if (id != 0) {
        WH_HDR("X-Ramp-Delivery: %" PRIu64, id);
    }
    if (h->secret != NULL) {
        ctl_webhook_sign(h->secret, h->secretlen, ts, x->body,
            strlen(x->body), sig);
        WH_HDR("X-Ramp-Signature: %s", sig);
    }
#undef WH_HDR
    ok = ok && curl_easy_setopt(x->easy, CURLOPT_URL, h->url) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https") ==
            CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long) ev->o.timeout_ms) ==
            CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
            (long) ev->o.timeout_ms) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE,
            (long) strlen(x->body)) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "ramp-controller") ==
            CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, wh_discard) ==
            CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->err) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x) == CURLE_OK &&
        curl_multi_add_handle(ev->multi, x->easy) == CURLM_OK;
    if (!ok) {
        xfer_free(x);
        return RAMP_ENOMEM;
    }
    x->next = ev->xfers;
    ev->xfers = x;
    return RAMP_OK;
}

static void
delivery_start(struct ctl_events *ev, struct wh_pending *p, int64_t now)
{
    struct wh_hook *h = hook_find(ev, p->hook);
    MDB_txn *txn = NULL;
    json_t *rec = NULL;
    uint8_t idk[8];
    ramp_err rv;

    if (h == NULL) {
        RAMP_LOG(RP_LOG_WARNING, "RAMP-WEBHOOK-FAILED",
            "id=%" PRIu64 " hook=%s why=\"webhook deleted\"", p->id, p->hook);
        (void) queue_update(ev, p->id, "failed", p->attempts, 0, 0,
            "webhook deleted", now);
        ev->st.failed++;
        ev->nfinished++;
        pend_remove(ev, p->id);
        return;
    }
    wh_key_u64(p->id, idk);
    rv = wh_begin(ev, MDB_RDONLY, &txn);
    if (rv == RAMP_OK) {
        rv = wh_get_json(txn, ev->queue_db, idk, 8, &rec);
        mdb_txn_abort(txn);
    }
    if (rv == RAMP_OK) {
        const char *body = json_string_value(json_object_get(rec, "body"));
        const char *eid = json_string_value(json_object_get(rec, "event_id"));
        const char *type = json_string_value(json_object_get(rec, "type"));

        rv = body != NULL && eid != NULL && type != NULL
            ? xfer_start(ev, h, body, eid, type, p->id, NULL, 0)
            : RAMP_ESTORE;
    }
    json_decref(rec);
    if (rv == RAMP_OK) {
        p->busy = true;
        h->busy = true;
    } else if (rv == RAMP_ENOTFOUND || rv == RAMP_ESTORE) {
        pend_remove(ev, p->id); /* gone or unreadable: nothing to send */
    } else {
        p->next_ms = now + 1000; /* out of memory: later */
    }
}

static void
gate_start(struct ctl_events *ev, struct wh_gate *g, size_t k, int64_t now)
{
    struct wh_hook *h = hook_find(ev, g->h[k].hook);
    struct ctl_event e = {0};
    char id[37];
    json_t *j;
    char *body;

    if (h == NULL) {
        g->h[k].res = CTL_GATE_OPEN; /* deleted: no longer asks */
        return;
    }
    wh_event_id(id);
    e.kind = CTL_EV_ADVANCED;
    e.flag = g->flag;
    e.rollout_id = g->rollout_id;
    e.from = e.to = RP_RS_RUNNING;
    e.stage_index = g->stage;
    e.actor = "engine";
    e.reason = "may the rollout enter this stage?";
    e.ts_ms = now;
    j = payload_build(&e, WH_EVENT_GATE, id, false);
    body = wh_dump(j);
    json_decref(j);
    if (body != NULL &&
        xfer_start(ev, h, body, id, WH_EVENT_GATE, 0, g, k) == RAMP_OK) {
        g->h[k].busy = true;
    } else {
        g->h[k].next_ms = now + 1000;
    }
    free(body);
}

/* Start what is due; return how long until something else is. */
static int64_t
sender_scan(struct ctl_events *ev, int64_t now)
{
    int64_t wait = WH_POLL_MAX_MS;

    for (size_t i = 0; i < ev->nhooks; i++) {
        ev->hooks[i].head_seen = false;
    }
    for (size_t i = 0; i < ev->npend; i++) {
        struct wh_pending *p = &ev->pend[i];
        struct wh_hook *h = hook_find(ev, p->hook);

        if (h != NULL) {
            if (h->head_seen) {
                continue; /* one at a time per webhook, in order */
            }
            h->head_seen = true;
            if (h->busy) {
                continue;
            }
        }
        if (p->next_ms > now) {
            if (p->next_ms - now < wait) {
                wait = p->next_ms - now;
            }
            continue;
        }
        delivery_start(ev, p, now);
        if (h == NULL) {
            i--; /* removed from the index */
        }
    }
    for (size_t i = 0; i < WH_GATES_MAX; i++) {
        struct wh_gate *g = &ev->gates[i];

        for (size_t k = 0; g->used && k < g->nh; k++) {
            struct wh_gate_hook *gh = &g->h[k];

            if (gh->busy || gh->res == CTL_GATE_OPEN) {
                continue;
            }
            if (gh->next_ms > now) {
                if (gh->next_ms - now < wait) {
                    wait = gh->next_ms - now;
                }
                continue;
            }
            gate_start(ev, g, k, now);
        }
    }
    return wait;
}

static void
delivery_done(struct ctl_events *ev, struct wh_xfer *x, CURLcode cc,
    long status, int64_t now)
{
    struct wh_pending *p = pend_find(ev, x->id);
    struct wh_hook *h = hook_find(ev, x->hook);
    char err[WH_ERR_MAX];
    uint32_t attempts;

    if (h != NULL) {
        h->busy = false;
    }
    if (p == NULL) {
        return; /* dropped while in flight */
    }
    p->busy = false;
    attempts = ++p->attempts;
    if (cc == CURLE_OK && status >= 200 && status < 300) {
        RAMP_LOG(RP_LOG_INFO, "RAMP-WEBHOOK-DELIVERED",
            "id=%" PRIu64 " hook=%s status=%ld attempts=%u", x->id, x->hook,
            status, attempts);
        (void) queue_update(ev, x->id, "delivered", attempts, 0, status, NULL,
            now);
        ev->st.delivered++;
        ev->nfinished++;
        pend_remove(ev, x->id);
        return;
    }
    /* libcurl calls any complete answer a success, 404 and 500 too: the
     * status decides. */
    if (cc != CURLE_OK) {
        snprintf(err, sizeof(err), "%.150s",
            x->err[0] ? x->err : curl_easy_strerror(cc));
    } else {
        snprintf(err, sizeof(err), "HTTP %ld", status);
    }
    if (attempts >= ev->o.max_attempts) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-FAILED",
            "id=%" PRIu64 " hook=%s attempts=%u status=%ld err=\"%s\"", x->id,
            x->hook, attempts, status, err);
        (void) queue_update(ev, x->id, "failed", attempts, 0, status, err, now);
        ev->st.failed++;
        ev->nfinished++;
        pend_remove(ev, x->id);
        return;
    }
    p->next_ms = now +
        ctl_webhook_backoff(attempts, ev->o.backoff_min_ms,
            ev->o.backoff_max_ms, randombytes_random());
    RAMP_LOG(RP_LOG_WARNING, "RAMP-WEBHOOK-RETRY",
        "id=%" PRIu64 " hook=%s attempts=%u status=%ld err=\"%s\" "
        "retry_in_ms=%" PRId64,
        x->id, x->hook, attempts, status, err, p->next_ms - now);
    (void) queue_update(ev, x->id, "pending", attempts, p->next_ms, status, err,
        now);
    ev->st.retried++;
}

static void
gate_done(struct ctl_events *ev, struct wh_xfer *x, CURLcode cc, long status,
    int64_t now)
{
    struct wh_gate_hook *gh = &x->gate->h[x->gh];

    gh->busy = false;
    if (cc != CURLE_OK) {
        /* No answer: still pending, asked again after a backoff. */
        gh->attempts++;
        gh->next_ms = now +
            ctl_webhook_backoff(gh->attempts, ev->o.backoff_min_ms,
                ev->o.backoff_max_ms, randombytes_random());
        ev->st.gate_error++;
        RAMP_LOG(RP_LOG_WARNING, "RAMP-WEBHOOK-GATE-ERROR",
            "flag=%s rollout=%" PRIu64 " stage=%u hook=%s err=\"%s\"",
            x->gate->flag, x->gate->rollout_id, x->gate->stage, x->hook,
            x->err[0] ? x->err : curl_easy_strerror(cc));
        return;
    }
    gh->attempts = 0;
    if (status >= 200 && status < 300) {
        gh->res = CTL_GATE_OPEN;
        ev->st.gate_open++;
    } else {
        gh->res = CTL_GATE_CLOSED;
        gh->next_ms = now + WH_GATE_RECHECK_MS;
        ev->st.gate_closed++;
    }
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-WEBHOOK-GATE",
        "flag=%s rollout=%" PRIu64 " stage=%u hook=%s status=%ld result=%s",
        x->gate->flag, x->gate->rollout_id, x->gate->stage, x->hook, status,
        gh->res == CTL_GATE_OPEN ? "open" : "closed");
}

static int
sender_reap(struct ctl_events *ev, int64_t now)
{
    CURLMsg *m;
    int left, done = 0;

    while ((m = curl_multi_info_read(ev->multi, &left)) != NULL) {
        struct wh_xfer *x = NULL, **pp;
        long status = 0;

        if (m->msg != CURLMSG_DONE) {
            continue;
        }
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &x);
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        if (x->gate != NULL) {
            gate_done(ev, x, m->data.result, status, now);
        } else {
            delivery_done(ev, x, m->data.result, status, now);
        }
        curl_multi_remove_handle(ev->multi, x->easy);
        for (pp = &ev->xfers; *pp != NULL; pp = &(*pp)->next) {
            if (*pp == x) {
                *pp = x->next;
                break;
            }
        }
        xfer_free(x);
        done++;
    }
    return done;
}

static void *
sender_main(void *arg)
{
    struct ctl_events *ev = arg;

    for (;;) {
        int64_t wait;
        int running = 0;

        pthread_mutex_lock(&ev->mtx);
        if (ev->stop) {
            pthread_mutex_unlock(&ev->mtx);
            break;
        }
        wait = sender_scan(ev, wh_now_ms());
        curl_multi_perform(ev->multi, &running);
        if (sender_reap(ev, wh_now_ms()) > 0) {
            wait = 0; /* a webhook's next delivery may be due now */
        }
        pthread_mutex_unlock(&ev->mtx);
        curl_multi_poll(ev->multi, NULL, 0, (int) wait, NULL);
    }
    return NULL;
}

/* --------------------------------------------------------- open/close */

static ramp_err
wh_read_secret(const char *path, uint8_t **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    char buf[CTL_WEBHOOK_SECRET_MAX + 2];
    size_t len;

    if (f == NULL) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-SECRET-FAIL", "path=%s err=\"%s\"",
            path, strerror(errno));
        return RAMP_EIO;
    }
    len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) {
        len--;
    }
    if (len == 0 || len > CTL_WEBHOOK_SECRET_MAX) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-SECRET-FAIL",
            "path=%s why=\"empty or longer than %d bytes\"", path,
            CTL_WEBHOOK_SECRET_MAX);
        sodium_memzero(buf, sizeof(buf));
        return RAMP_EIO;
    }
    *out = rp_alloc(len);
    if (*out == NULL) {
        sodium_memzero(buf, sizeof(buf));
        return RAMP_ENOMEM;
    }
    memcpy(*out, buf, len);
    *n = len;
    sodium_memzero(buf, sizeof(buf));
    return RAMP_OK;
}

static bool
wh_set(const char *s)
{
    return s != NULL && s[0] != '\0' && strcmp(s, "none") != 0;
}

/* The config rows' webhook as hooks[0]. */
static ramp_err
config_hook(struct ctl_events *ev, const struct ctl_events_opts *o)
{
    struct wh_hook *h = &ev->hooks[0];
    const char *fmt = o->format != NULL ? o->format : "json";
    ramp_err rv;

    if (!wh_url_ok(o->url)) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-CONFIG",
            "setting=webhook-url why=\"not an http:// or https:// URL\"");
        return RAMP_EINVAL;
    }
    if (strcmp(fmt, "json") != 0 && strcmp(fmt, "slack") != 0) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-CONFIG",
            "setting=webhook-format why=\"json or slack\"");
        return RAMP_EINVAL;
    }
    memset(h, 0, sizeof(*h));
    if (wh_events_parse(NULL, o->events != NULL ? o->events : "*",
            &h->events) != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-CONFIG",
            "setting=webhook-events why=\"* or event names, comma-separated\"");
        return RAMP_EINVAL;
    }
    snprintf(h->name, sizeof(h->name), "%s", CTL_WEBHOOK_CONFIG_NAME);
    h->url = rp_strdup(o->url);
    h->slack = strcmp(fmt, "slack") == 0;
    h->config = true;
    h->spec = json_pack("{s:s, s:s, s:s, s:s, s:b}", "url", o->url, "events",
        o->events != NULL ? o->events : "*", "format", fmt, "flags", "*",
        "gate", 0);
    if (h->url == NULL || h->spec == NULL) {
        hook_fini(h);
        return RAMP_ENOMEM;
    }
    if (wh_set(o->secret_file)) {
        rv = wh_read_secret(o->secret_file, &h->secret, &h->secretlen);
        if (rv != RAMP_OK) {
            hook_fini(h);
            return rv;
        }
    }
    ev->nhooks = 1;
    return RAMP_OK;
}

/* Hooks from the file, and the pending index from the queue. */
static ramp_err
wh_load(struct ctl_events *ev)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    ramp_err rv;
    int rc;

    rv = wh_begin(ev, MDB_RDONLY, &txn);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = rp_mdb_err(mdb_cursor_open(txn, ev->hooks_db, &cur), "cursor_open");
    for (rc = rv == RAMP_OK ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : -1;
         rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char name[RP_NAME_MAX + 1];
        json_t *spec = json_loadb(v.mv_data, v.mv_size, 0, NULL);

        if (spec == NULL || k.mv_size > RP_NAME_MAX ||
            ev->nhooks >= CTL_WEBHOOK_MAX + 1) {
            json_decref(spec);
            rv = rp_mdb_corrupt(RAMP_EPROTO, "webhook_load");
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = '\0';
        rv = hook_from_spec(name, spec, &ev->hooks[ev->nhooks]);
        json_decref(spec);
        if (rv != RAMP_OK) {
            rv = rp_mdb_corrupt(rv == RAMP_EINVAL ? RAMP_EPROTO : rv,
                "webhook_load");
            break;
        }
        ev->nhooks++;
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
        cur = NULL;
    }
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_cursor_open(txn, ev->queue_db, &cur),
            "cursor_open");
    }
    for (rc = rv == RAMP_OK ? mdb_cursor_get(cur, &k, &v, MDB_FIRST) : -1;
         rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        const char *state = json_string_value(json_object_get(rec, "state"));
        const char *hook = json_string_value(json_object_get(rec, "hook"));

        if (state == NULL || hook == NULL) {
            json_decref(rec);
            rv = rp_mdb_corrupt(RAMP_EPROTO, "webhook_load");
            break;
        }
        if (strcmp(state, "pending") == 0) {
            rv = pend_add(ev, wh_u64_key(&k), hook,
                json_integer_value(json_object_get(rec, "next_ms")),
                (uint32_t) json_integer_value(json_object_get(rec, "attempts")));
        } else {
            ev->nfinished++;
        }
        json_decref(rec);
        if (rv != RAMP_OK) {
            break;
        }
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    ev->st.pending = ev->npend;
    return rv;
}

ramp_err
ctl_events_open(const struct ctl_events_opts *o, struct ctl_events **out)
{
    struct ctl_events *ev;
    MDB_txn *txn = NULL;
    int dead = 0;
    ramp_err rv;

    *out = NULL;
    if (o == NULL || o->dir == NULL) {
        return RAMP_EINVAL;
    }
    ev = rp_calloc(1, sizeof(*ev));
    if (ev == NULL) {
        return RAMP_ENOMEM;
    }
    pthread_mutex_init(&ev->mtx, NULL);
    ev->o = *o;
    ev->o.dir = ev->o.url = ev->o.secret_file = ev->o.events = NULL;
    ev->o.format = NULL;
    if (ev->o.queue_max == 0) {
        ev->o.queue_max = 10000;
    }
    if (ev->o.timeout_ms <= 0) {
        ev->o.timeout_ms = 5000;
    }
    if (ev->o.backoff_min_ms <= 0) {
        ev->o.backoff_min_ms = 1000;
    }
    if (ev->o.backoff_max_ms < ev->o.backoff_min_ms) {
        ev->o.backoff_max_ms = ev->o.backoff_min_ms;
    }
    if (ev->o.max_attempts == 0) {
        ev->o.max_attempts = 10;
    }
    if (wh_set(o->url)) {
        rv = config_hook(ev, o);
        if (rv != RAMP_OK) {
            goto fail;
        }
    }
    if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-WEBHOOK-STORE-FAIL",
            "op=mkdir path=%s err=\"%s\"", o->dir, strerror(errno));
        rv = errno == EACCES ? RAMP_EPERM : RAMP_ESTORE;
        goto fail;
    }
    rv = rp_mdb_err(mdb_env_create(&ev->env), "env_create");
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_mdb_err(mdb_env_set_maxdbs(ev->env, 4), "env_set_maxdbs");
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_env_set_mapsize(ev->env,
                            o->map_size ? o->map_size : WH_MAP_DEFAULT),
            "env_set_mapsize");
    }
    /* NOTLS: read transactions run on nng's threads (API reads). */
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_env_open(ev->env, o->dir, MDB_NOTLS, 0600),
            "env_open");
    }
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_reader_check(ev->env, &dead), "reader_check");
    }
    if (rv == RAMP_OK) {
        rv = wh_begin(ev, 0, &txn);
    }
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_dbi_open(txn, "hooks", MDB_CREATE, &ev->hooks_db),
            "dbi_open");
    }
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_dbi_open(txn, "queue", MDB_CREATE, &ev->queue_db),
            "dbi_open");
    }
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(
            mdb_dbi_open(txn, "analysis", MDB_CREATE, &ev->analysis_db),
            "dbi_open");
    }
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_dbi_open(txn, "meta", MDB_CREATE, &ev->meta_db),
            "dbi_open");
    }
    if (txn != NULL) {
        ramp_err crv = rv == RAMP_OK ? wh_commit(txn) : RAMP_OK;

        if (rv != RAMP_OK) {
            mdb_txn_abort(txn);
        }
        rv = rv == RAMP_OK ? crv : rv;
    }
    if (rv == RAMP_OK) {
        rv = wh_load(ev);
    }
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (!o->no_sender) {
        ev->multi = curl_multi_init();
        if (ev->multi == NULL) {
            rv = RAMP_ENOMEM;
            goto fail;
        }
        if (pthread_create(&ev->thr, NULL, sender_main, ev) != 0) {
            rv = RAMP_ESYSTEM;
            goto fail;
        }
        ev->started = true;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-WEBHOOK-OPEN",
        "path=%s webhooks=%zu pending=%zu finished=%zu", o->dir, ev->nhooks,
        ev->npend, ev->nfinished);
    *out = ev;
    return RAMP_OK;

fail:
    ctl_events_close(ev);
    return rv;
}

void
ctl_events_close(struct ctl_events *ev)
{
    if (ev == NULL) {
        return;
    }
    if (ev->started) {
        pthread_mutex_lock(&ev->mtx);
        ev->stop = true;
        pthread_mutex_unlock(&ev->mtx);
        curl_multi_wakeup(ev->multi);
        pthread_join(ev->thr, NULL);
    }
    while (ev->xfers != NULL) {
        struct wh_xfer *x = ev->xfers;

        ev->xfers = x->next;
        curl_multi_remove_handle(ev->multi, x->easy);
        xfer_free(x);
    }
    if (ev->multi != NULL) {
        curl_multi_cleanup(ev->multi);
    }
    for (size_t i = 0; i < ev->nhooks; i++) {
        hook_fini(&ev->hooks[i]);
    }
    rp_free(ev->pend);
    if (ev->env != NULL) {
        mdb_env_close(ev->env);
    }
    pthread_mutex_destroy(&ev->mtx);
    rp_free(ev);
}

/* --------------------------------------------------------- management */

#define WH_FIELD(...) snprintf(field, fieldsz, __VA_ARGS__)

/* Check spec and build the stored form (into *out). prev: the stored
 * form being replaced, whose secret an absent "secret" keeps. */
static ramp_err
hook_check(const json_t *spec, const json_t *prev, char *field,
    size_t fieldsz, json_t **out)
{
    static const char *const known[] = {"url", "events", "secret", "format",
        "flags", "gate", NULL};
    const char *k, *url, *fmt = "json";
    const json_t *v, *ev, *sec, *fl, *gate;
    json_t *st;
    uint32_t mask;

    json_object_foreach((json_t *) spec, k, v)
    {
        size_t i;

        for (i = 0; known[i] != NULL && strcmp(known[i], k) != 0; i++) {
        }
        if (known[i] == NULL) {
            WH_FIELD("%.60s", k);
            return RAMP_EINVAL;
        }
    }
    url = json_string_value(json_object_get(spec, "url"));
    if (url == NULL || !wh_url_ok(url)) {
        WH_FIELD("url");
        return RAMP_EINVAL;
    }
    ev = json_object_get(spec, "events");
    if (ev != NULL && (!json_is_array(ev) || json_array_size(ev) > 32 ||
                          wh_events_parse(ev, NULL, &mask) != RAMP_OK)) {
        WH_FIELD("events");
        return RAMP_EINVAL;
    }
    if (json_object_get(spec, "format") != NULL) {
        fmt = json_string_value(json_object_get(spec, "format"));
        if (fmt == NULL ||
            (strcmp(fmt, "json") != 0 && strcmp(fmt, "slack") != 0)) {
            WH_FIELD("format");
            return RAMP_EINVAL;
        }
    }
    sec = json_object_get(spec, "secret");
    if (sec != NULL && !json_is_null(sec) &&
        (!json_is_string(sec) || json_string_length(sec) < 16 ||
            json_string_length(sec) > CTL_WEBHOOK_SECRET_MAX ||
            strlen(json_string_value(sec)) != json_string_length(sec))) {
        WH_FIELD("secret");
        return RAMP_EINVAL;
    }
    if (sec == NULL && prev != NULL) {
        sec = json_object_get(prev, "secret");
    }
    fl = json_object_get(spec, "flags");
    if (fl != NULL && !(json_is_string(fl) &&
                          strcmp(json_string_value(fl), "*") == 0)) {
        size_t i;
        json_t *f;

        if (!json_is_array(fl) || json_array_size(fl) == 0 ||
            json_array_size(fl) > WH_FLAGS_MAX) {
            WH_FIELD("flags");
            return RAMP_EINVAL;
        }
        json_array_foreach(fl, i, f)
        {
            if (!json_is_string(f) ||
                !rp_flag_key_valid(json_string_value(f), json_string_length(f))) {
                WH_FIELD("flags[%zu]", i);
                return RAMP_EINVAL;
            }
        }
    }
    gate = json_object_get(spec, "gate");
    if (gate != NULL && !json_is_boolean(gate)) {
        WH_FIELD("gate");
        return RAMP_EINVAL;
    }
    if (json_is_true(gate) && strcmp(fmt, "slack") == 0) {
        WH_FIELD("gate"); /* a gate must read the JSON it is asked */
        return RAMP_EINVAL;
    }
    st = json_pack("{s:s, s:o, s:s, s:o, s:b}", "url", url, "events",
        ev != NULL ? json_deep_copy(ev) : json_pack("[s]", "*"), "format",
        fmt, "flags", fl != NULL ? json_deep_copy(fl) : json_string("*"),
        "gate", json_is_true(gate));
    if (st == NULL) {
        return RAMP_ENOMEM;
    }
    if (sec != NULL && !json_is_null(sec) &&
        json_object_set(st, "secret", (json_t *) sec) != 0) {
        json_decref(st);
        return RAMP_ENOMEM;
    }
    *out = st;
    return RAMP_OK;
}

/* The public form: no secret, its presence instead. */
static json_t *
hook_public(const struct wh_hook *h)
{
    json_t *j = json_deep_copy(h->spec);

    if (j == NULL) {
        return NULL;
    }
    json_object_del(j, "secret");
    if (json_object_set_new(j, "name", json_string(h->name)) != 0 ||
        json_object_set_new(j, "secret_set", json_boolean(h->secret != NULL)) !=
            0 ||
        json_object_set_new(j, "source",
            json_string(h->config ? "config" : "api")) != 0) {
        json_decref(j);
        return NULL;
    }
    return j;
}

ramp_err
ctl_webhook_put(struct ctl_events *ev, const char *name, const json_t *spec,
    const char *actor, int64_t now_ms, char *field, size_t fieldsz,
    json_t **out)
{
    struct wh_hook nh, *old;
    json_t *st = NULL;
    MDB_txn *txn = NULL;
    ramp_err rv;

    field[0] = '\0';
    *out = NULL;
    if (!wh_name_ok(name) || strcmp(name, "deliveries") == 0) {
        WH_FIELD("name");
        return RAMP_EINVAL;
    }
    if (strcmp(name, CTL_WEBHOOK_CONFIG_NAME) == 0) {
        WH_FIELD("name");
        return RAMP_EPERM;
    }
    if (!json_is_object(spec)) {
        WH_FIELD("-");
        return RAMP_EINVAL;
    }
    pthread_mutex_lock(&ev->mtx);
    old = hook_find(ev, name);
    rv = hook_check(spec, old != NULL ? old->spec : NULL, field, fieldsz, &st);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (old == NULL &&
        ev->nhooks >= (size_t) CTL_WEBHOOK_MAX +
                (ev->nhooks > 0 && ev->hooks[0].config ? 1 : 0)) {
        WH_FIELD("name");
        rv = RAMP_ETOOBIG;
        goto out;
    }
    if (json_object_set_new(st, "updated_at_ms", json_integer(now_ms)) != 0 ||
        json_object_set_new(st, "updated_by", json_string(actor)) != 0) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    rv = hook_from_spec(name, st, &nh);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = wh_begin(ev, 0, &txn);
    if (rv == RAMP_OK) {
        rv = wh_put_json(txn, ev->hooks_db, name, strlen(name), st);
    }
    if (rv == RAMP_OK) {
        rv = wh_commit(txn);
        txn = NULL;
    }
    if (rv != RAMP_OK) {
        hook_fini(&nh);
        goto out;
    }
    if (old != NULL) {
        nh.busy = old->busy;
        hook_fini(old);
        *old = nh;
    } else {
        ev->hooks[ev->nhooks++] = nh;
    }
    *out = hook_public(old != NULL ? old : &ev->hooks[ev->nhooks - 1]);
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-WEBHOOK-AUDIT",
        "action=webhook.%s target=%s actor=%s", old != NULL ? "update"
                                                            : "create",
        name, actor);

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&ev->mtx);
    json_decref(st);
    if (rv == RAMP_OK && *out == NULL) {
        rv = RAMP_ENOMEM;
    }
    return rv;
}

ramp_err
ctl_webhook_delete(struct ctl_events *ev, const char *name, const char *actor)
{
    struct wh_hook *h;
    MDB_txn *txn = NULL;
    MDB_val k = {strlen(name), (void *) name};
    ramp_err rv;

    if (strcmp(name, CTL_WEBHOOK_CONFIG_NAME) == 0) {
        return RAMP_EPERM;
    }
    pthread_mutex_lock(&ev->mtx);
    h = hook_find(ev, name);
    if (h == NULL) {
        rv = RAMP_ENOTFOUND;
        goto out;
    }
    rv = wh_begin(ev, 0, &txn);
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_del(txn, ev->hooks_db, &k, NULL), "hook_del");
    }
    if (rv == RAMP_OK) {
        rv = wh_commit(txn);
        txn = NULL;
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    /* A delivery in flight to it ends in delivery_done, which finds no
     * hook and leaves the record alone; the next scan fails it. */
    hook_fini(h);
    memmove(h, h + 1, (size_t) (&ev->hooks[ev->nhooks] - (h + 1)) * sizeof(*h));
    ev->nhooks--;
    memset(&ev->hooks[ev->nhooks], 0, sizeof(*h));
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-WEBHOOK-AUDIT",
        "action=webhook.delete target=%s actor=%s", name, actor);

out:
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&ev->mtx);
    return rv;
}

ramp_err
ctl_webhook_get(struct ctl_events *ev, const char *name, json_t **out)
{
    struct wh_hook *h;

    pthread_mutex_lock(&ev->mtx);
    h = hook_find(ev, name);
    *out = h != NULL ? hook_public(h) : NULL;
    pthread_mutex_unlock(&ev->mtx);
    if (h == NULL) {
        return RAMP_ENOTFOUND;
    }
    return *out != NULL ? RAMP_OK : RAMP_ENOMEM;
}

json_t *
ctl_webhook_list(struct ctl_events *ev)
{
    json_t *arr = json_array();

    pthread_mutex_lock(&ev->mtx);
    for (size_t i = 0; arr != NULL && i < ev->nhooks; i++) {
        if (json_array_append_new(arr, hook_public(&ev->hooks[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    pthread_mutex_unlock(&ev->mtx);
    return arr;
}

ramp_err
ctl_webhook_deliveries(struct ctl_events *ev, const char *hook,
    const char *state, size_t limit, json_t **out)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    json_t *arr = json_array();
    ramp_err rv;
    int rc;

    *out = NULL;
    if (arr == NULL) {
        return RAMP_ENOMEM;
    }
    rv = wh_begin(ev, MDB_RDONLY, &txn);
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_cursor_open(txn, ev->queue_db, &cur),
            "cursor_open");
    }
    for (rc = rv == RAMP_OK ? mdb_cursor_get(cur, &k, &v, MDB_LAST) : -1;
         rc == 0 && json_array_size(arr) < limit;
         rc = mdb_cursor_get(cur, &k, &v, MDB_PREV)) {
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        const char *h, *s;

        if (rec == NULL) {
            rv = rp_mdb_corrupt(RAMP_EPROTO, "deliveries");
            break;
        }
        h = json_string_value(json_object_get(rec, "hook"));
        s = json_string_value(json_object_get(rec, "state"));
        if ((hook != NULL && (h == NULL || strcmp(h, hook) != 0)) ||
            (state != NULL && (s == NULL || strcmp(s, state) != 0))) {
            json_decref(rec);
            continue;
        }
        json_object_del(rec, "body");
        json_array_append_new(arr, rec);
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rv != RAMP_OK) {
        json_decref(arr);
        return rv;
    }
    *out = arr;
    return RAMP_OK;
}

/* ----------------------------------------------------------- analysis */

static ramp_err
analysis_check(const json_t *spec, char *field, size_t fieldsz, json_t **out)
{
    const json_t *checks = json_object_get(spec, "checks");
    json_t *arr, *c;
    const char *k;
    json_t *v;
    size_t i;

    json_object_foreach((json_t *) spec, k, v)
    {
        if (strcmp(k, "checks") != 0) {
            WH_FIELD("%.60s", k);
            return RAMP_EINVAL;
        }
    }
    if (!json_is_array(checks) || json_array_size(checks) > CTL_ANALYSIS_MAX) {
        WH_FIELD("checks");
        return RAMP_EINVAL;
    }
    arr = json_array();
    if (arr == NULL) {
        return RAMP_ENOMEM;
    }
    json_array_foreach(checks, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *q = json_string_value(json_object_get(c, "query"));
        const char *op = json_string_value(json_object_get(c, "op"));
        const json_t *th = json_object_get(c, "threshold");
        json_t *o;

        json_object_foreach(c, k, v)
        {
            if (strcmp(k, "name") != 0 && strcmp(k, "query") != 0 &&
                strcmp(k, "op") != 0 && strcmp(k, "threshold") != 0) {
                WH_FIELD("checks[%zu].%.40s", i, k);
                goto bad;
            }
        }
        if (name == NULL || !wh_name_ok(name)) {
            WH_FIELD("checks[%zu].name", i);
            goto bad;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(json_string_value(json_object_get(
                           json_array_get(checks, j), "name")),
                    name) == 0) {
                WH_FIELD("checks[%zu].name", i);
                goto bad;
            }
        }
        if (q == NULL || q[0] == '\0' || strlen(q) > CTL_ANALYSIS_QUERY_MAX ||
            strlen(q) != json_string_length(json_object_get(c, "query"))) {
            WH_FIELD("checks[%zu].query", i);
            goto bad;
        }
        if (op == NULL || (strcmp(op, "<") != 0 && strcmp(op, "<=") != 0 &&
                              strcmp(op, ">") != 0 && strcmp(op, ">=") != 0)) {
            WH_FIELD("checks[%zu].op", i);
            goto bad;
        }
        if (!json_is_number(th) || json_number_value(th) !=
                json_number_value(th)) {
            WH_FIELD("checks[%zu].threshold", i);
            goto bad;
        }
        o = json_pack("{s:s, s:s, s:s, s:f}", "name", name, "query", q, "op",
            op, "threshold", json_number_value(th));
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return RAMP_ENOMEM;
        }
    }
    *out = arr;
    return RAMP_OK;

bad:
    json_decref(arr);
    return RAMP_EINVAL;
}

ramp_err
ctl_analysis_put(struct ctl_events *ev, const char *flag, const json_t *spec,
    const char *actor, char *field, size_t fieldsz, json_t **out)
{
    json_t *arr = NULL, *st = NULL;
    MDB_txn *txn = NULL;
    ramp_err rv;

    field[0] = '\0';
    *out = NULL;
    if (!rp_flag_key_valid(flag, strlen(flag))) {
        WH_FIELD("flag");
        return RAMP_EINVAL;
    }
    if (!json_is_object(spec)) {
        WH_FIELD("-");
        return RAMP_EINVAL;
    }
    rv = analysis_check(spec, field, fieldsz, &arr);
    if (rv != RAMP_OK) {
        return rv;
    }
    st = json_pack("{s:s, s:o, s:I, s:s}", "flag", flag, "checks", arr,
        "updated_at_ms", (json_int_t) wh_now_ms(), "updated_by", actor);
    if (st == NULL) {
        return RAMP_ENOMEM;
    }
    pthread_mutex_lock(&ev->mtx);
    rv = wh_begin(ev, 0, &txn);
    if (rv == RAMP_OK) {
        rv = wh_put_json(txn, ev->analysis_db, flag, strlen(flag), st);
    }
    if (rv == RAMP_OK) {
        rv = wh_commit(txn);
        txn = NULL;
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&ev->mtx);
    if (rv != RAMP_OK) {
        json_decref(st);
        return rv;
    }
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-WEBHOOK-AUDIT",
        "action=analysis.put target=%s actor=%s checks=%zu", flag, actor,
        json_array_size(json_object_get(st, "checks")));
    *out = st;
    return RAMP_OK;
}

ramp_err
ctl_analysis_get(struct ctl_events *ev, const char *flag, json_t **out)
{
    MDB_txn *txn = NULL;
    ramp_err rv;

    *out = NULL;
    if (ev == NULL) {
        return RAMP_ENOTFOUND;
    }
    rv = wh_begin(ev, MDB_RDONLY, &txn);
    if (rv == RAMP_OK) {
        rv = wh_get_json(txn, ev->analysis_db, flag, strlen(flag), out);
        mdb_txn_abort(txn);
    }
    return rv;
}

ramp_err
ctl_analysis_delete(struct ctl_events *ev, const char *flag, const char *actor)
{
    MDB_txn *txn = NULL;
    MDB_val k = {strlen(flag), (void *) flag};
    ramp_err rv;

    pthread_mutex_lock(&ev->mtx);
    rv = wh_begin(ev, 0, &txn);
    if (rv == RAMP_OK) {
        rv = rp_mdb_err(mdb_del(txn, ev->analysis_db, &k, NULL),
            "analysis_del");
    }
    if (rv == RAMP_OK) {
        rv = wh_commit(txn);
        txn = NULL;
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    pthread_mutex_unlock(&ev->mtx);
    if (rv == RAMP_OK) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-WEBHOOK-AUDIT",
            "action=analysis.delete target=%s actor=%s", flag, actor);
    }
    return rv;
}

/* ------------------------------------------------------------ metrics */

void
ctl_webhook_stats(struct ctl_events *ev, struct ctl_webhook_stats *s)
{
    memset(s, 0, sizeof(*s));
    if (ev == NULL) {
        return;
    }
    pthread_mutex_lock(&ev->mtx);
    *s = ev->st;
    s->pending = ev->npend;
    pthread_mutex_unlock(&ev->mtx);
}

ramp_err
ctl_webhook_metrics(void *ev, struct rp_buf *out)
{
    struct ctl_webhook_stats s;
    struct rp_prom_label l = {"result", NULL};
    size_t mark = out->len;
    ramp_err rv;

    ctl_webhook_stats(ev, &s);
    rv = rp_prom_family(out, "ramp_ctl_webhook_deliveries_total", RP_PROM_COUNTER,
        "webhook delivery attempts by result (retried: failed, will retry)");
#define WH_SAMPLE(name, val, v)                                             \
    if (rv == RAMP_OK) {                                                    \
        l.value = (val);                                                    \
        rv = rp_prom_sample_u64(out, name, &l, 1, (v));                     \
    }
    WH_SAMPLE("ramp_ctl_webhook_deliveries_total", "delivered", s.delivered);
    WH_SAMPLE("ramp_ctl_webhook_deliveries_total", "retried", s.retried);
    WH_SAMPLE("ramp_ctl_webhook_deliveries_total", "failed", s.failed);
    WH_SAMPLE("ramp_ctl_webhook_deliveries_total", "dropped", s.dropped);
    if (rv == RAMP_OK) {
        rv = rp_prom_gauge(out, "ramp_ctl_webhook_queue_depth",
            "webhook deliveries waiting to be sent", (double) s.pending);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(out, "ramp_ctl_webhook_gate_results_total",
            RP_PROM_COUNTER, "answers of gate webhooks by result");
    }
    WH_SAMPLE("ramp_ctl_webhook_gate_results_total", "open", s.gate_open);
    WH_SAMPLE("ramp_ctl_webhook_gate_results_total", "closed", s.gate_closed);
    WH_SAMPLE("ramp_ctl_webhook_gate_results_total", "error", s.gate_error);
#undef WH_SAMPLE
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}
