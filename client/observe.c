/* SPDX-License-Identifier: MIT */
/*
 * ramp_observe (include/ramp/ramp.h): report an outcome to the agent's
 * outcome socket (nng PUSH, non-blocking) as one small msgpack message
 * (docs/protocol.md §10):
 *
 *   [flag(str), variant(str), arm(uint 0..2), ok(bool), latency_us(uint)]
 *
 * encoded by hand into a stack buffer: no allocation of ours per call
 * (nng copies the bytes into its own message). Rejected: a REQ round
 * trip per outcome (~60 us and a blocked caller for what is a fire and
 * forget figure) and a batching thread in the library (a thread of ours
 * inside every application, for a saving nng's queue already gives).
 *
 * The socket is found lazily (ramp_int.h): direct mode reads the URL from
 * the agent's cache meta (one short read transaction), ipc mode asks the
 * agent once with query op INFO on an aio. Until then, and whenever the
 * agent is not there or its queue is full, outcomes are dropped and
 * counted: counters never make an application wait.
 */
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/push.h>

#include "alloc.h"
#include "buf.h"
#include "cache.h"
#include "eval.h"
#include "log.h"
#include "model.h"
#include "query.h"
#include "ramp_int.h"

enum { OBS_IDLE = 0, OBS_ASKING = 1, OBS_READY = 2 };

#define OBS_RETRY_MS 1000   /* between attempts to find the socket */
#define OBS_SENDBUF 256     /* outcomes queued while connecting */
#define OBS_MSG_MAX 256     /* 1 + 2+128 + 2+64 + 1 + 1 + 9 = 208 */

static int64_t
obs_now_ms(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
lib_obs_init(struct ramp_obs *o, struct agt_cache *cache, nng_socket *req)
{
    memset(o, 0, sizeof(*o));
    o->cache = cache;
    o->req = req;
    (void) pthread_mutex_init(&o->mu, NULL);
    atomic_init(&o->state, OBS_IDLE);
    atomic_init(&o->next_try_ms, 0);
    atomic_init(&o->dropped, 0);
}

void
lib_obs_fini(struct ramp_obs *o)
{
    if (o->aio != NULL) {
        nng_aio_stop(o->aio); /* waits for a running callback */
    }
    pthread_mutex_lock(&o->mu);
    if (o->aio != NULL) {
        nng_aio_free(o->aio);
        o->aio = NULL;
    }
    if (o->ctx_open) {
        (void) nng_ctx_close(o->ctx);
        o->ctx_open = false;
    }
    if (o->push_open) {
        (void) nng_close(o->push);
        o->push_open = false;
    }
    pthread_mutex_unlock(&o->mu);
    pthread_mutex_destroy(&o->mu);
}

/* Open the PUSH socket and dial url in the background; under o->mu. */
static bool
obs_connect(struct ramp_obs *o, const char *url)
{
    int rc;

    rc = nng_push0_open(&o->push);
    if (rc != 0) {
        return false;
    }
    rc = nng_socket_set_int(o->push, NNG_OPT_SENDBUF, OBS_SENDBUF);
    if (rc == 0) {
        rc = nng_socket_set_size(o->push, NNG_OPT_RECVMAXSZ, 64);
    }
    if (rc == 0) {
        rc = nng_socket_set_ms(o->push, NNG_OPT_RECONNMINT, 10);
    }
    if (rc == 0) {
        rc = nng_socket_set_ms(o->push, NNG_OPT_RECONNMAXT, 1000);
    }
    if (rc == 0) {
        rc = nng_dial(o->push, url, NULL, NNG_FLAG_NONBLOCK);
    }
    if (rc != 0) {
        RAMP_LOG(RP_LOG_INFO, "RAMP-LIB-OUTCOME-DIAL", "url=%s err=\"%s\"",
            url, nng_strerror(rc));
        (void) nng_close(o->push);
        return false;
    }
    o->push_open = true;
    atomic_store_explicit(&o->state, OBS_READY, memory_order_release);
    return true;
}

static void
obs_retry_later(struct ramp_obs *o)
{
    atomic_store(&o->next_try_ms, (long long) (obs_now_ms() + OBS_RETRY_MS));
    atomic_store_explicit(&o->state, OBS_IDLE, memory_order_release);
}

/* The INFO round trip's callback, on an nng thread: never blocks. */
static void
obs_info_cb(void *arg)
{
    struct ramp_obs *o = arg;
    struct agt_query_rep rep;
    char url[AGT_QUERY_URL_MAX + 1];
    nng_msg *m;
    bool ok = false;

    pthread_mutex_lock(&o->mu);
    if (nng_aio_result(o->aio) != 0) {
        if (!o->aio_recv) {
            nng_msg_free(nng_aio_get_msg(o->aio));
            nng_aio_set_msg(o->aio, NULL);
        }
        obs_retry_later(o);
        pthread_mutex_unlock(&o->mu);
        return;
    }
    if (!o->aio_recv) {
        o->aio_recv = true;
        nng_ctx_recv(o->ctx, o->aio);
        pthread_mutex_unlock(&o->mu);
        return;
    }
    m = nng_aio_get_msg(o->aio);
    nng_aio_set_msg(o->aio, NULL);
    if (agt_query_rep_decode(nng_msg_body(m), nng_msg_len(m), &rep) ==
        RAMP_OK) {
        if (rep.status == RAMP_OK && rep.outcome_url != NULL) {
            memcpy(url, rep.outcome_url, rep.outcome_url_len);
            url[rep.outcome_url_len] = '\0';
            ok = obs_connect(o, url);
        }
        agt_query_rep_fini(&rep);
    }
    nng_msg_free(m);
    if (!ok) {
        /* An agent from before INFO answers RAMP_EPROTO: retry rarely. */
        obs_retry_later(o);
    }
    pthread_mutex_unlock(&o->mu);
}

/* Start an INFO request; under o->mu. */
static void
obs_ask(struct ramp_obs *o)
{
    uint8_t req[8];
    struct rp_buf b;
    nng_msg *m = NULL;

    if (!o->ctx_open) {
        if (nng_ctx_open(&o->ctx, *o->req) != 0) {
            obs_retry_later(o);
            return;
        }
        o->ctx_open = true;
    }
    if (o->aio == NULL && nng_aio_alloc(&o->aio, obs_info_cb, o) != 0) {
        obs_retry_later(o);
        return;
    }
    rp_buf_init(&b, sizeof(req));
    if (agt_query_req_encode(&b, AGT_QUERY_INFO, NULL, 0, -1, NULL) !=
            RAMP_OK ||
        nng_msg_alloc(&m, b.len) != 0) {
        rp_buf_fini(&b);
        obs_retry_later(o);
        return;
    }
    memcpy(nng_msg_body(m), b.data, b.len);
    rp_buf_fini(&b);
    atomic_store(&o->state, OBS_ASKING);
    o->aio_recv = false;
    nng_aio_set_msg(o->aio, m);
    nng_aio_set_timeout(o->aio, 1000);
    nng_ctx_send(o->ctx, o->aio);
}

/* Try to find the socket, if it is time to; never waits. */
static void
obs_resolve(struct ramp_obs *o)
{
    char url[AGT_URL_MAX + 1];

    if (obs_now_ms() < atomic_load(&o->next_try_ms) ||
        atomic_load(&o->state) != OBS_IDLE) {
        return;
    }
    if (pthread_mutex_trylock(&o->mu) != 0) {
        return; /* another thread is at it */
    }
    if (atomic_load(&o->state) == OBS_IDLE) {
        if (o->cache != NULL) {
            if (agt_cache_outcome_url(o->cache, url) != RAMP_OK ||
                url[0] == '\0' || !obs_connect(o, url)) {
                obs_retry_later(o);
            }
        } else if (o->req != NULL) {
            obs_ask(o);
        }
    }
    pthread_mutex_unlock(&o->mu);
}

/* msgpack by hand: str (fixstr or str8; lengths here are <= 128). */
static uint8_t *
put_str(uint8_t *p, const char *s, size_t n)
{
    if (n < 32) {
        *p++ = (uint8_t) (0xa0 | n);
    } else {
        *p++ = 0xd9;
        *p++ = (uint8_t) n;
    }
    memcpy(p, s, n);
    return p + n;
}

static uint8_t *
put_uint(uint8_t *p, uint64_t v)
{
    if (v < 128) {
        *p++ = (uint8_t) v;
        return p;
    }
    if (v <= UINT32_MAX) {
        *p++ = 0xce;
        for (int i = 3; i >= 0; i--) {
            *p++ = (uint8_t) (v >> (8 * i));
        }
        return p;
    }
    *p++ = 0xcf;
    for (int i = 7; i >= 0; i--) {
        *p++ = (uint8_t) (v >> (8 * i));
    }
    return p;
}

ramp_err
ramp_observe(ramp_client *c, const char *flag, const struct ramp_detail *d,
    bool success, uint64_t latency_us)
{
    uint8_t msg[OBS_MSG_MAX];
    uint8_t *p = msg;
    struct ramp_obs *o;
    size_t fl, vl;

    if (c == NULL || flag == NULL || d == NULL) {
        return RAMP_EINVAL;
    }
    fl = strnlen(flag, RP_KEY_MAX + 1);
    vl = strnlen(d->variant, sizeof(d->variant));
    if (fl == 0 || fl > RP_KEY_MAX || vl > RAMP_VARIANT_MAX ||
        (unsigned) d->arm > RAMP_ARM_CONTROL) {
        return RAMP_EINVAL;
    }
    if (vl == 0) {
        return RAMP_OK; /* an error evaluation served nothing to judge */
    }
    o = lib_client_obs(c);
    if (atomic_load_explicit(&o->state, memory_order_acquire) != OBS_READY) {
        obs_resolve(o);
        if (atomic_load_explicit(&o->state, memory_order_acquire) !=
            OBS_READY) {
            atomic_fetch_add_explicit(&o->dropped, 1, memory_order_relaxed);
            return RAMP_OK;
        }
    }
    *p++ = 0x95; /* fixarray of 5 */
    p = put_str(p, flag, fl);
    p = put_str(p, d->variant, vl);
    *p++ = (uint8_t) d->arm;
    *p++ = success ? 0xc3 : 0xc2;
    p = put_uint(p, latency_us);
    if (nng_send(o->push, msg, (size_t) (p - msg), NNG_FLAG_NONBLOCK) != 0) {
        /* EAGAIN: the agent is not there or not keeping up. */
        atomic_fetch_add_explicit(&o->dropped, 1, memory_order_relaxed);
    }
    return RAMP_OK;
}

uint64_t
ramp_observe_dropped(const ramp_client *c)
{
    if (c == NULL) {
        return 0;
    }
    return atomic_load_explicit(&lib_client_obs((ramp_client *) c)->dropped,
        memory_order_relaxed);
}
