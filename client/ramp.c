/* SPDX-License-Identifier: MIT */
/*
 * libramp (include/ramp/ramp.h): open a client in direct or ipc mode,
 * evaluate typed flags, evaluate them all, logging and version. Not here:
 * the context builder (ctx.c), the agent's state and protocol
 * (agent/view.c, agent/query.c), evaluation (proto/eval.c).
 *
 * Direct mode keeps one agt_view (every flag decoded and prepared) and
 * evaluates from it with no lock (see tl_view): no allocation, no
 * decoding, no LMDB transaction per evaluation. Changes are found by
 * polling the cache's seq (one short read transaction) at most every
 * DIRECT_POLL_MS, decided by a coarse monotonic clock read that costs a
 * few nanoseconds. Rejected: asking LMDB per evaluation (a read
 * transaction is ~10x the evaluation itself), and reading LMDB's last
 * txnid through mdb_env_info (cheap, but the cache does not expose its
 * environment; see docs/libramp.md).
 *
 * Ipc mode sends one request per evaluation on an nng REQ socket, each
 * call on its own nng context taken from a small pool, so threads do not
 * serialise on one outstanding request.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "alloc.h"
#include "buf.h"
#include "cache.h"
#include "log.h"
#include "query.h"
#include "ramp_int.h"
#include "view.h"

/* How stale direct mode's view may be before it looks: 5 ms, well under
 * the propagation budget (DESIGN: p99 <= 50 ms), and rare enough that
 * the seq read (~1 us) costs under 0.1% of one busy thread. */
#define DIRECT_POLL_MS 5
#define IPC_TIMEOUT_MS 100 /* ramp.h default */
#define IPC_POOL_KEEP 32   /* idle contexts kept; more are closed */

enum client_mode { MODE_DIRECT = 1, MODE_IPC = 2 };

/* One ipc call's resources, reused across calls. */
struct ipc_slot {
    nng_ctx ctx;
    nng_aio *aio;
    struct rp_buf req;      /* request encoding scratch */
    struct ipc_slot *next;  /* pool link */
};

struct ramp_client {
    enum client_mode mode;

    /* direct */
    uint64_t id;                  /* process-unique, names it in tl_view */
    struct agt_cache *cache;      /* read-only */
    pthread_mutex_t view_mu;      /* guards view and taking a hold on it */
    struct agt_view *view;        /* one hold; under view_mu */
    atomic_uint_fast64_t gen;     /* +1 each time view changes */
    pthread_mutex_t reload_mu;    /* one reloader at a time */
    atomic_llong next_check_ms;   /* coarse monotonic ms of the next poll */

    /* ipc */
    nng_socket sock;
    pthread_mutex_t pool_mu;
    struct ipc_slot *pool;        /* idle slots; under pool_mu */
    size_t npool;
    atomic_uint timeout_ms;

    struct ramp_obs obs; /* ramp_observe (observe.c) */
};

struct ramp_obs *
lib_client_obs(ramp_client *c)
{
    return &c->obs;
}

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static ramp_log_cb log_cb;  /* under log_mu */
static void *log_arg;       /* under log_mu */
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

/* The mutex makes "after ramp_set_log(NULL) returns, cb never runs"
 * true; logging is rare (errors and reloads), so it costs nothing. */
static void
log_sink(int lvl, const char *line, void *arg)
{
    (void) arg;
    pthread_mutex_lock(&log_mu);
    if (log_cb != NULL) {
        log_cb(log_arg, lvl, line);
    }
    pthread_mutex_unlock(&log_mu);
}

static void
log_install(void)
{
    rp_log_set_component("libramp");
    rp_log_set_sink(log_sink, NULL);
}

void
ramp_log_init(void)
{
    (void) pthread_once(&log_once, log_install);
}

void
ramp_set_log(ramp_log_cb cb, void *arg)
{
    ramp_log_init();
    pthread_mutex_lock(&log_mu);
    log_cb = cb;
    log_arg = arg;
    pthread_mutex_unlock(&log_mu);
}

const char *
ramp_version(void)
{
    return "0.1.0";
}

/* ------------------------------------------------------------------ */
/* Answers and what the caller gets                                    */
/* ------------------------------------------------------------------ */

/* One evaluation's outcome, whatever the mode; strings borrowed. */
struct answer {
    const char *variant;   /* NULL on error */
    size_t variant_len;
    enum rp_type type;
    bool b;
    double n;
    const char *s;
    size_t len;
    enum rp_reason reason;
    enum rp_ecode error;
    uint64_t version;
    bool stale;
    uint32_t arm; /* enum rp_arm */
};

/* Where the caller wants the value. */
struct sink {
    enum rp_type want;
    bool *b, bdflt;
    double *n, ndflt;
    char *buf;
    size_t bufsz;
    const char *sdflt;
    struct ramp_detail *detail;
};

static ramp_err
ecode_err(enum rp_ecode e)
{
    switch (e) {
    case RP_EC_NONE:
        return RAMP_OK;
    case RP_EC_FLAG_NOT_FOUND:
        return RAMP_ENOTFOUND;
    case RP_EC_TYPE_MISMATCH:
        return RAMP_ETYPE;
    case RP_EC_TARGETING_KEY_MISSING:
    case RP_EC_INVALID_CONTEXT:
        return RAMP_EINVAL;
    case RP_EC_PROVIDER_NOT_READY:
        return RAMP_ECLOSED;
    case RP_EC_PARSE_ERROR:
    case RP_EC_GENERAL:
    default:
        return RAMP_EPROTO;
    }
}

/* Copy text into buf (NUL-terminated) if it fits. */
static bool
put_text(char *buf, size_t bufsz, const char *s, size_t len)
{
    if (len + 1 > bufsz) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

static void
sink_default(const struct sink *k)
{
    switch (k->want) {
    case RP_TYPE_BOOL:
        *k->b = k->bdflt;
        break;
    case RP_TYPE_NUMBER:
        *k->n = k->ndflt;
        break;
    case RP_TYPE_STRING:
    case RP_TYPE_JSON: {
        const char *d = k->sdflt != NULL ? k->sdflt : "";

        if (!put_text(k->buf, k->bufsz, d, strlen(d))) {
            k->buf[0] = '\0';
        }
        break;
    }
    }
}

/* Before anything can fail: defaults out, detail says "error". */
static void
sink_start(const struct sink *k, enum rp_ecode why)
{
    sink_default(k);
    if (k->detail != NULL) {
        memset(k->detail, 0, sizeof(*k->detail));
        k->detail->reason = RAMP_REASON_ERROR;
        k->detail->error = (ramp_eval_error) why;
    }
}

/* Deliver an answer: value (or default) and detail. */
static ramp_err
sink_deliver(const struct sink *k, const struct answer *a)
{
    ramp_err rv = ecode_err(a->error);

    if (rv == RAMP_OK && (a->variant == NULL || a->type != k->want)) {
        rv = RAMP_EPROTO; /* an answer that contradicts itself */
    }
    if (k->detail != NULL) {
        struct ramp_detail *d = k->detail;

        d->variant[0] = '\0';
        if (a->variant != NULL && a->variant_len <= RAMP_VARIANT_MAX) {
            memcpy(d->variant, a->variant, a->variant_len);
            d->variant[a->variant_len] = '\0';
        }
        d->reason = (ramp_reason) a->reason;
        d->error = (ramp_eval_error) a->error;
        d->flag_version = a->version;
        d->stale = a->stale;
        d->arm = a->variant != NULL ? (ramp_arm) a->arm : RAMP_ARM_NONE;
        if (rv == RAMP_EPROTO && a->error == RP_EC_NONE) {
            d->variant[0] = '\0';
            d->arm = RAMP_ARM_NONE;
            d->reason = RAMP_REASON_ERROR;
            d->error = RAMP_EVAL_GENERAL;
        }
    }
    if (rv != RAMP_OK) {
        return rv; /* sink_start already put the default out */
    }
    switch (k->want) {
    case RP_TYPE_BOOL:
        *k->b = a->b;
        break;
    case RP_TYPE_NUMBER:
        *k->n = a->n;
        break;
    case RP_TYPE_STRING:
    case RP_TYPE_JSON:
        if (!put_text(k->buf, k->bufsz, a->s, a->len)) {
            return RAMP_ETOOBIG; /* buf holds the default */
        }
        break;
    }
    return RAMP_OK;
}

/* ------------------------------------------------------------------ */
/* Direct mode                                                         */
/* ------------------------------------------------------------------ */

static int64_t
coarse_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC_COARSE is a vDSO read of the last tick: a few ns,
     * where CLOCK_MONOTONIC costs ~20 ns. Tick-level precision is all a
     * 5 ms poll needs. */
    (void) clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Each thread keeps a hold on the view it last evaluated with, and the
 * client's generation it saw then. An evaluation compares one shared,
 * rarely written counter with its own copy and, when they match, uses
 * its view with no lock and no atomic write: threads on one client do
 * not bounce a cache line between cores. Rejected: a read-write lock
 * around each evaluation (two atomic writes to one shared line per call:
 * ~45 ns alone, worse as threads are added) and a refcount hold per
 * call (the same writes). The price: a thread that stops evaluating
 * keeps its last view alive until it evaluates again, uses another
 * client, or exits. One slot per thread: alternating between clients
 * costs a mutex round trip per switch.
 */
struct tl_view {
    uint64_t client; /* ramp_client.id; 0 when empty */
    uint64_t gen;
    struct agt_view *v; /* one hold */
    bool keyed;      /* tl_key set for this thread (exit releases v) */
};

static _Thread_local struct tl_view tl;
static pthread_key_t tl_key;
static pthread_once_t tl_once = PTHREAD_ONCE_INIT;
static bool tl_key_ok;
static atomic_uint_fast64_t client_ids;

static void
tl_exit(void *arg)
{
    struct tl_view *t = arg;

    agt_view_rele(t->v);
    t->v = NULL;
    t->client = 0;
}

static void
tl_init(void)
{
    tl_key_ok = pthread_key_create(&tl_key, tl_exit) == 0;
}

static void
tl_drop(void)
{
    struct agt_view *old = tl.v;

    tl.v = NULL;
    tl.client = 0;
    agt_view_rele(old);
}

static struct agt_view *
direct_view_slow(ramp_client *c)
{
    struct agt_view *v;
    uint64_t gen;

    pthread_mutex_lock(&c->view_mu);
    v = c->view;
    agt_view_hold(v);
    gen = atomic_load_explicit(&c->gen, memory_order_relaxed);
    pthread_mutex_unlock(&c->view_mu);
    tl_drop();
    tl.client = c->id;
    tl.gen = gen;
    tl.v = v;
    if (!tl.keyed && tl_key_ok) {
        /* Register once, so the hold is released when the thread ends. */
        tl.keyed = pthread_setspecific(tl_key, &tl) == 0;
    }
    return v;
}

/* The view to evaluate with; held by this thread until it moves on. */
static struct agt_view *
direct_view(ramp_client *c)
{
    if (tl.client == c->id &&
        tl.gen == atomic_load_explicit(&c->gen, memory_order_acquire)) {
        return tl.v;
    }
    return direct_view_slow(c);
}

/*
 * Reload the view if the agent applied something since. Only one thread
 * does it (trylock: the others keep evaluating the current view rather
 * than queue behind a reload). The reloader reads c->view without
 * view_mu: only a reloader changes it, and reloaders are serialised.
 */
static void
direct_refresh(ramp_client *c)
{
    struct agt_view *nv = NULL;
    struct agt_view *old;
    uint64_t seq = 0;
    ramp_err rv;

    if (pthread_mutex_trylock(&c->reload_mu) != 0) {
        return;
    }
    rv = agt_cache_seq(c->cache, &seq);
    if (rv != RAMP_OK || seq == agt_view_seq(c->view)) {
        goto out;
    }
    rv = agt_view_load(c->cache, c->view, &nv);
    if (rv != RAMP_OK) {
        /* Keep serving the current view; try again at the next poll. */
        RAMP_LOG(RP_LOG_WARNING, "RAMP-LIB-RELOAD", "err=%s seq=%llu",
            ramp_errname(rv), (unsigned long long) seq);
        goto out;
    }
    pthread_mutex_lock(&c->view_mu);
    old = c->view;
    c->view = nv;
    atomic_fetch_add_explicit(&c->gen, 1, memory_order_release);
    pthread_mutex_unlock(&c->view_mu);
    /* Threads still evaluating old hold it (tl_view); the last one to
     * move on frees it. */
    agt_view_rele(old);

out:
    pthread_mutex_unlock(&c->reload_mu);
}

static void
direct_maybe_refresh(ramp_client *c)
{
    int64_t now = coarse_ms();
    long long next = atomic_load_explicit(&c->next_check_ms,
        memory_order_relaxed);

    if (now < next) {
        return;
    }
    /* One thread per interval wins the CAS and looks. */
    if (atomic_compare_exchange_strong(&c->next_check_ms, &next,
            (long long) (now + DIRECT_POLL_MS))) {
        direct_refresh(c);
    }
}

static ramp_err
direct_eval(ramp_client *c, const char *flag, const ramp_ctx *ctx,
    const struct sink *k)
{
    struct agt_view *v;
    struct rp_ctx rc;
    struct rp_result res;
    struct answer a;
    const struct agt_entry *e;

    direct_maybe_refresh(c);
    v = direct_view(c);
    if (ctx != NULL) {
        rc = ctx->rc;
    } else {
        memset(&rc, 0, sizeof(rc));
    }
    rc.host = agt_view_host(v);
    rc.host_len = strlen(rc.host);
    e = agt_view_get(v, flag, strlen(flag));
    rp_eval_typed(e != NULL ? e->flag : NULL, e != NULL ? &e->ro : NULL, &rc,
        k->want, &res);
    a.variant = res.variant_name;
    a.variant_len = res.variant_name != NULL ? strlen(res.variant_name) : 0;
    a.type = e != NULL ? e->flag->type : k->want;
    a.b = res.value != NULL ? res.value->b : false;
    a.n = res.value != NULL ? res.value->n : 0;
    a.s = res.value != NULL ? res.value->s : NULL;
    a.len = res.value != NULL ? res.value->len : 0;
    a.reason = res.reason;
    a.error = res.error;
    a.version = e != NULL ? e->flag->version : 0;
    a.stale = false; /* the cache does not record heartbeats */
    a.arm = (uint32_t) res.arm;
    return sink_deliver(k, &a); /* v is held by this thread */
}

static ramp_err
direct_open(const char *dir, ramp_client *c)
{
    ramp_err rv;

    rv = agt_cache_open(dir, 0, AGT_CACHE_RDONLY, &c->cache);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = agt_view_load(c->cache, NULL, &c->view);
    if (rv != RAMP_OK) {
        agt_cache_close(c->cache);
        c->cache = NULL;
        return rv;
    }
    atomic_init(&c->next_check_ms, (long long) (coarse_ms() + DIRECT_POLL_MS));
    atomic_init(&c->gen, 1);
    c->id = atomic_fetch_add(&client_ids, 1) + 1;
    (void) pthread_once(&tl_once, tl_init);
    return RAMP_OK;
}

/* ------------------------------------------------------------------ */
/* Ipc mode                                                            */
/* ------------------------------------------------------------------ */

static ramp_err
nng_err(int rc, const char *what)
{
    switch (rc) {
    case 0:
        return RAMP_OK;
    case NNG_ETIMEDOUT:
        return RAMP_ETIMEDOUT;
    case NNG_ENOMEM:
        return RAMP_ENOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
    case NNG_ENOTSUP:
        return RAMP_EINVAL;
    case NNG_EMSGSIZE:
        return RAMP_ETOOBIG;
    default:
        RAMP_LOG(RP_LOG_INFO, "RAMP-LIB-NNG", "op=%s rc=%d err=\"%s\"", what,
            rc, nng_strerror(rc));
        return RAMP_ECLOSED;
    }
}

static void
slot_free(struct ipc_slot *s)
{
    if (s == NULL) {
        return;
    }
    if (s->aio != NULL) {
        nng_aio_free(s->aio);
    }
    (void) nng_ctx_close(s->ctx);
    rp_buf_fini(&s->req);
    rp_free(s);
}

static ramp_err
slot_get(ramp_client *c, struct ipc_slot **out)
{
    struct ipc_slot *s;
    ramp_err rv;

    pthread_mutex_lock(&c->pool_mu);
    s = c->pool;
    if (s != NULL) {
        c->pool = s->next;
        c->npool--;
    }
    pthread_mutex_unlock(&c->pool_mu);
    if (s != NULL) {
        *out = s;
        return RAMP_OK;
    }
    s = rp_calloc(1, sizeof(*s));
    if (s == NULL) {
        return RAMP_ENOMEM;
    }
    rp_buf_init(&s->req, AGT_QUERY_REQ_MAX);
    rv = nng_err(nng_ctx_open(&s->ctx, c->sock), "ctx_open");
    if (rv != RAMP_OK) {
        rp_buf_fini(&s->req);
        rp_free(s);
        return rv;
    }
    rv = nng_err(nng_aio_alloc(&s->aio, NULL, NULL), "aio_alloc");
    if (rv != RAMP_OK) {
        slot_free(s);
        return rv;
    }
    *out = s;
    return RAMP_OK;
}

static void
slot_put(ramp_client *c, struct ipc_slot *s)
{
    pthread_mutex_lock(&c->pool_mu);
    if (c->npool < IPC_POOL_KEEP) {
        s->next = c->pool;
        c->pool = s;
        c->npool++;
        s = NULL;
    }
    pthread_mutex_unlock(&c->pool_mu);
    slot_free(s);
}

/*
 * One round trip: encode with enc into the slot's scratch, send, wait
 * for the reply (the timeout covers the whole call), and hand the reply
 * message to the caller (*msg; nng_msg_free when done).
 */
static ramp_err
ipc_call(ramp_client *c, struct ipc_slot *s, nng_msg **msg)
{
    nng_duration to = (nng_duration) atomic_load(&c->timeout_ms);
    nng_msg *m = NULL;
    ramp_err rv;

    rv = nng_err(nng_msg_alloc(&m, s->req.len), "msg_alloc");
    if (rv != RAMP_OK) {
        return rv;
    }
    memcpy(nng_msg_body(m), s->req.data, s->req.len);
    nng_aio_set_msg(s->aio, m);
    nng_aio_set_timeout(s->aio, to);
    nng_ctx_send(s->ctx, s->aio);
    nng_aio_wait(s->aio);
    rv = nng_err(nng_aio_result(s->aio), "send");
    if (rv != RAMP_OK) {
        nng_msg_free(m); /* a failed send leaves the message with us */
        return rv;
    }
    nng_aio_set_timeout(s->aio, to);
    nng_ctx_recv(s->ctx, s->aio);
    nng_aio_wait(s->aio);
    rv = nng_err(nng_aio_result(s->aio), "recv");
    if (rv != RAMP_OK) {
        return rv;
    }
    *msg = nng_aio_get_msg(s->aio);
    return RAMP_OK;
}

static ramp_err
ipc_eval(ramp_client *c, const char *flag, const ramp_ctx *ctx,
    const struct sink *k)
{
    struct ipc_slot *s = NULL;
    nng_msg *m = NULL;
    struct agt_query_rep rep;
    struct answer a;
    const struct agt_query_result *r;
    size_t flen = strlen(flag);
    ramp_err rv;

    if (flen == 0 || flen > RP_KEY_MAX) {
        if (k->detail != NULL) {
            k->detail->error = RAMP_EVAL_FLAG_NOT_FOUND;
        }
        return RAMP_ENOTFOUND; /* no flag can have that key */
    }
    rv = slot_get(c, &s);
    if (rv != RAMP_OK) {
        return rv;
    }
    rp_buf_reset(&s->req);
    rv = agt_query_req_encode(&s->req, AGT_QUERY_EVAL, flag, flen,
        (int) k->want, ctx != NULL ? &ctx->rc : NULL);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = ipc_call(c, s, &m);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = agt_query_rep_decode(nng_msg_body(m), nng_msg_len(m), &rep);
    if (rv != RAMP_OK) {
        rv = RAMP_EPROTO;
        goto out;
    }
    if (rep.status != RAMP_OK || rep.nresults != 1) {
        rv = rep.status != RAMP_OK ? rep.status : RAMP_EPROTO;
        agt_query_rep_fini(&rep);
        goto out;
    }
    r = &rep.results[0];
    a.variant = r->variant;
    a.variant_len = r->variant_len;
    a.type = r->type;
    a.b = r->b;
    a.n = r->n;
    a.s = r->s;
    a.len = r->len;
    a.reason = r->reason;
    a.error = r->error;
    a.version = r->flag_version;
    a.stale = rep.stale;
    a.arm = r->arm;
    rv = sink_deliver(k, &a);
    agt_query_rep_fini(&rep);

out:
    if (m != NULL) {
        nng_msg_free(m);
    }
    slot_put(c, s);
    return rv;
}

static ramp_err
ipc_open(const char *url, ramp_client *c)
{
    ramp_err rv;

    rv = nng_err(nng_req0_open(&c->sock), "req0_open");
    if (rv != RAMP_OK) {
        return rv;
    }
    /* The agent is trusted, but a bound on what we accept costs nothing
     * and a stray peer on a tcp:// URL is not (DESIGN §10). */
    rv = nng_err(nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
                     AGT_QUERY_REP_MAX),
        "set_recvmaxsz");
    if (rv == RAMP_OK) {
        /* Reconnect fast after an agent restart: 10 ms, backing off to
         * 1 s while it stays away. */
        rv = nng_err(nng_socket_set_ms(c->sock, NNG_OPT_RECONNMINT, 10),
            "set_reconnmint");
    }
    if (rv == RAMP_OK) {
        rv = nng_err(nng_socket_set_ms(c->sock, NNG_OPT_RECONNMAXT, 1000),
            "set_reconnmaxt");
    }
    if (rv == RAMP_OK) {
        /* Non-blocking: connect in the background, so an application
         * can start before its agent. */
        rv = nng_err(nng_dial(c->sock, url, NULL, NNG_FLAG_NONBLOCK), "dial");
    }
    if (rv != RAMP_OK) {
        (void) nng_close(c->sock);
        return rv;
    }
    atomic_init(&c->timeout_ms, IPC_TIMEOUT_MS);
    return RAMP_OK;
}

/* ------------------------------------------------------------------ */
/* Public API                                                          */
/* ------------------------------------------------------------------ */

ramp_err
ramp_open(const char *target, unsigned flags, ramp_client **out)
{
    ramp_client *c;
    ramp_err rv;

    ramp_log_init(); /* from here on nothing of ours reaches stderr */
    if (target == NULL || out == NULL || flags != 0) {
        return RAMP_EINVAL;
    }
    c = rp_calloc(1, sizeof(*c));
    if (c == NULL) {
        return RAMP_ENOMEM;
    }
    if (strncmp(target, "direct:", 7) == 0) {
        if (target[7] == '\0') {
            rv = RAMP_EINVAL;
            goto fail;
        }
        c->mode = MODE_DIRECT;
        if (pthread_mutex_init(&c->view_mu, NULL) != 0) {
            rv = RAMP_ENOMEM;
            goto fail;
        }
        if (pthread_mutex_init(&c->reload_mu, NULL) != 0) {
            pthread_mutex_destroy(&c->view_mu);
            rv = RAMP_ENOMEM;
            goto fail;
        }
        rv = direct_open(target + 7, c);
        if (rv != RAMP_OK) {
            pthread_mutex_destroy(&c->reload_mu);
            pthread_mutex_destroy(&c->view_mu);
            goto fail;
        }
        lib_obs_init(&c->obs, c->cache, NULL);
    } else if (strstr(target, "://") != NULL) {
        c->mode = MODE_IPC;
        if (pthread_mutex_init(&c->pool_mu, NULL) != 0) {
            rv = RAMP_ENOMEM;
            goto fail;
        }
        rv = ipc_open(target, c);
        if (rv != RAMP_OK) {
            pthread_mutex_destroy(&c->pool_mu);
            goto fail;
        }
        lib_obs_init(&c->obs, NULL, &c->sock);
    } else {
        rv = RAMP_EINVAL;
        goto fail;
    }
    *out = c;
    return RAMP_OK;

fail:
    rp_free(c);
    return rv;
}

void
ramp_close(ramp_client *c)
{
    if (c == NULL) {
        return;
    }
    lib_obs_fini(&c->obs); /* before the cache or the REQ socket goes */
    if (c->mode == MODE_DIRECT) {
        if (tl.client == c->id) {
            tl_drop(); /* other threads drop theirs as they move on */
        }
        agt_view_rele(c->view);
        agt_cache_close(c->cache);
        pthread_mutex_destroy(&c->reload_mu);
        pthread_mutex_destroy(&c->view_mu);
    } else {
        while (c->pool != NULL) {
            struct ipc_slot *s = c->pool;

            c->pool = s->next;
            slot_free(s);
        }
        (void) nng_close(c->sock);
        pthread_mutex_destroy(&c->pool_mu);
    }
    rp_free(c);
}

ramp_err
ramp_set_timeout(ramp_client *c, uint32_t ms)
{
    if (c == NULL || ms == 0 || ms > INT32_MAX) {
        return RAMP_EINVAL;
    }
    if (c->mode == MODE_IPC) {
        atomic_store(&c->timeout_ms, ms);
    }
    return RAMP_OK;
}

static ramp_err
eval_any(ramp_client *c, const char *flag, const ramp_ctx *ctx,
    const struct sink *k)
{
    ramp_err rv;

    sink_start(k, RP_EC_GENERAL);
    if (c == NULL || flag == NULL) {
        return RAMP_EINVAL;
    }
    if (c->mode == MODE_DIRECT) {
        return direct_eval(c, flag, ctx, k);
    }
    rv = ipc_eval(c, flag, ctx, k);
    if ((rv == RAMP_ETIMEDOUT || rv == RAMP_ECLOSED) && k->detail != NULL) {
        k->detail->error = RAMP_EVAL_PROVIDER_NOT_READY;
    }
    return rv;
}

ramp_err
ramp_bool(ramp_client *c, const char *flag, const ramp_ctx *ctx, bool dflt,
    bool *out, struct ramp_detail *detail)
{
    struct sink k = {.want = RP_TYPE_BOOL, .b = out, .bdflt = dflt,
        .detail = detail};

    if (out == NULL) {
        return RAMP_EINVAL;
    }
    return eval_any(c, flag, ctx, &k);
}

ramp_err
ramp_number(ramp_client *c, const char *flag, const ramp_ctx *ctx,
    double dflt, double *out, struct ramp_detail *detail)
{
    struct sink k = {.want = RP_TYPE_NUMBER, .n = out, .ndflt = dflt,
        .detail = detail};

    if (out == NULL) {
        return RAMP_EINVAL;
    }
    return eval_any(c, flag, ctx, &k);
}

static ramp_err
eval_text(ramp_client *c, enum rp_type t, const char *flag,
    const ramp_ctx *ctx, const char *dflt, char *buf, size_t bufsz,
    struct ramp_detail *detail)
{
    struct sink k = {.want = t, .buf = buf, .bufsz = bufsz, .sdflt = dflt,
        .detail = detail};

    if (buf == NULL || bufsz == 0) {
        return RAMP_EINVAL;
    }
    return eval_any(c, flag, ctx, &k);
}

ramp_err
ramp_string(ramp_client *c, const char *flag, const ramp_ctx *ctx,
    const char *dflt, char *buf, size_t bufsz, struct ramp_detail *detail)
{
    return eval_text(c, RP_TYPE_STRING, flag, ctx, dflt, buf, bufsz, detail);
}

ramp_err
ramp_json(ramp_client *c, const char *flag, const ramp_ctx *ctx,
    const char *dflt, char *buf, size_t bufsz, struct ramp_detail *detail)
{
    return eval_text(c, RP_TYPE_JSON, flag, ctx, dflt, buf, bufsz, detail);
}

/* ------------------------------------------------------------------ */
/* Bulk                                                                */
/* ------------------------------------------------------------------ */

static void
each_detail(struct ramp_detail *d, const char *variant, size_t vlen,
    enum rp_reason reason, enum rp_ecode error, uint64_t version, bool stale,
    uint32_t arm)
{
    memset(d, 0, sizeof(*d));
    if (variant != NULL && vlen <= RAMP_VARIANT_MAX) {
        memcpy(d->variant, variant, vlen);
        d->arm = (ramp_arm) arm;
    }
    d->reason = (ramp_reason) reason;
    d->error = (ramp_eval_error) error;
    d->flag_version = version;
    d->stale = stale;
}

/* The view is held while callbacks run: a callback may evaluate on the
 * same client (or another), which may replace this thread's view. */
static ramp_err
direct_all(ramp_client *c, const ramp_ctx *ctx, ramp_each_cb cb, void *arg)
{
    struct agt_view *v;
    struct rp_ctx rc;

    direct_maybe_refresh(c);
    v = direct_view(c);
    agt_view_hold(v); /* a callback may make this thread move on */
    if (ctx != NULL) {
        rc = ctx->rc;
    } else {
        memset(&rc, 0, sizeof(rc));
    }
    rc.host = agt_view_host(v);
    rc.host_len = strlen(rc.host);
    for (size_t i = 0; i < agt_view_count(v); i++) {
        const struct agt_entry *e = agt_view_at(v, i);
        struct rp_result res;
        struct ramp_value val;
        struct ramp_detail d;

        rp_eval(e->flag, &e->ro, &rc, &res);
        each_detail(&d, res.variant_name,
            res.variant_name != NULL ? strlen(res.variant_name) : 0,
            res.reason, res.error, e->flag->version, false,
            (uint32_t) res.arm);
        if (res.value == NULL) {
            cb(arg, e->flag->key, NULL, &d);
            continue;
        }
        val.type = (ramp_type) res.value->type;
        val.b = res.value->b;
        val.n = res.value->n;
        val.s = res.value->s;
        val.len = res.value->len;
        cb(arg, e->flag->key, &val, &d);
    }
    agt_view_rele(v);
    return RAMP_OK;
}

static ramp_err
ipc_all(ramp_client *c, const ramp_ctx *ctx, ramp_each_cb cb, void *arg)
{
    struct ipc_slot *s = NULL;
    nng_msg *m = NULL;
    struct agt_query_rep rep;
    struct rp_buf text;
    ramp_err rv;

    rp_buf_init(&text, RP_JSON_MAX + 1);
    rv = slot_get(c, &s);
    if (rv != RAMP_OK) {
        goto out;
    }
    rp_buf_reset(&s->req);
    rv = agt_query_req_encode(&s->req, AGT_QUERY_ALL, NULL, 0, -1,
        ctx != NULL ? &ctx->rc : NULL);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = ipc_call(c, s, &m);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = agt_query_rep_decode(nng_msg_body(m), nng_msg_len(m), &rep);
    if (rv != RAMP_OK) {
        rv = rv == RAMP_ENOMEM ? rv : RAMP_EPROTO;
        goto out;
    }
    rv = rep.status;
    /* Reserve the longest value once, so the callbacks below cannot
     * fail halfway: "if this returns an error, cb has not run". */
    if (rv == RAMP_OK) {
        rv = rp_buf_reserve(&text, RP_JSON_MAX + 1);
    }
    for (size_t i = 0; rv == RAMP_OK && i < rep.nresults; i++) {
        const struct agt_query_result *r = &rep.results[i];
        char key[RP_KEY_MAX + 1];
        struct ramp_value val;
        struct ramp_detail d;

        memcpy(key, r->flag, r->flag_len);
        key[r->flag_len] = '\0';
        each_detail(&d, r->variant, r->variant_len, r->reason, r->error,
            r->flag_version, rep.stale, r->arm);
        if (!r->has_value) {
            cb(arg, key, NULL, &d);
            continue;
        }
        val.type = (ramp_type) r->type;
        val.b = r->b;
        val.n = r->n;
        val.s = NULL;
        val.len = r->len;
        if (r->type == RP_TYPE_STRING || r->type == RP_TYPE_JSON) {
            memcpy(text.data, r->s, r->len); /* len <= RP_JSON_MAX */
            text.data[r->len] = '\0';
            val.s = (const char *) text.data;
        }
        cb(arg, key, &val, &d);
    }
    agt_query_rep_fini(&rep);

out:
    if (m != NULL) {
        nng_msg_free(m);
    }
    if (s != NULL) {
        slot_put(c, s);
    }
    rp_buf_fini(&text);
    return rv;
}

ramp_err
ramp_eval_all(ramp_client *c, const ramp_ctx *ctx, ramp_each_cb cb,
    void *arg)
{
    if (c == NULL || cb == NULL) {
        return RAMP_EINVAL;
    }
    if (c->mode == MODE_DIRECT) {
        return direct_all(c, ctx, cb, arg);
    }
    return ipc_all(c, ctx, cb, arg);
}
