/* SPDX-License-Identifier: MIT */
/*
 * The publisher: PUB socket, commit-ordered sends, heartbeat thread.
 *
 * Why one mutex across "store write + nng_send" rather than a queue
 * drained in seq order: the store already serialises writers on LMDB's
 * writer lock, so holding ours across it costs no parallelism, and it
 * makes the order trivially right: the envelope of seq N is handed to
 * nng before seq N + 1 can commit. A queue would need its own reorder
 * buffer for the case where commits finish in one order and their
 * threads wake in another. nng_send on PUB never waits for a peer (it
 * drops when a subscriber's queue is full), so the lock is held for the
 * commit's fsync plus a memcpy.
 *
 * The heartbeat runs on its own thread, not an nng timer callback: it
 * takes the same lock, which may wait for an fsync, and nng's callback
 * threads must not block.
 */
#include "pub.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>

#include "alloc.h"
#include "codec.h"
#include "config.h"
#include "log.h"

struct ctl_pub {
    nng_socket sock;
    struct ctl_store *st;        /* borrowed */
    const struct rp_keypair *kp; /* borrowed */
    int64_t heartbeat_ms;
    pthread_mutex_t mtx;    /* held across store write + send */
    struct rp_buf env;      /* scratch envelope, under mtx */
    pthread_mutex_t hb_mtx; /* guards stop, for hb_cv */
    pthread_cond_t hb_cv;   /* wakes the thread to stop */
    bool stop;              /* under hb_mtx */
    pthread_t hb_thread;
    bool hb_started;
    _Atomic uint64_t sent, heartbeats, send_errs;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Hand bytes to nng; PUB copies them into a message per subscriber. */
static void
pub_send(struct ctl_pub *p, const struct rp_buf *b, const char *what,
    uint64_t seq, _Atomic uint64_t *counter)
{
    int rc = nng_send(p->sock, b->data, b->len, NNG_FLAG_NONBLOCK);

    if (rc != 0) {
        atomic_fetch_add(&p->send_errs, 1);
        RAMP_LOG(RP_LOG_WARNING, "RAMP-PUB-SEND-FAIL",
            "what=%s seq=%llu err=\"%s\"", what, (unsigned long long) seq,
            nng_strerror(rc));
        return;
    }
    atomic_fetch_add(counter, 1);
}

ramp_err
ctl_pub_change(struct ctl_pub *p, ctl_change_fn fn, void *arg)
{
    ramp_err rv;

    if (p == NULL || fn == NULL) {
        return RAMP_EINVAL;
    }
    pthread_mutex_lock(&p->mtx);
    rp_buf_reset(&p->env);
    rv = fn(arg, p->st, p->kp, &p->env);
    if (rv == RAMP_OK && p->env.len > 0) {
        /* Committed: from here the change stands whatever nng does;
         * a lost envelope is what resync is for. */
        pub_send(p, &p->env, "change", 0, &p->sent);
    }
    pthread_mutex_unlock(&p->mtx);
    return rv;
}

ramp_err
ctl_pub_heartbeat(struct ctl_pub *p)
{
    struct rp_heartbeat hb;
    struct rp_buf pay, env;
    uint64_t first, last;
    ramp_err rv;

    rp_buf_init(&pay, 64);
    rp_buf_init(&env, 512);
    /* Under the change lock: the seq read here has been sent. */
    pthread_mutex_lock(&p->mtx);
    rv = ctl_store_log_bounds(p->st, &first, &last);
    if (rv != RAMP_OK) {
        goto out;
    }
    hb.seq = last;
    hb.interval_ms = (uint32_t) p->heartbeat_ms;
    hb.log_first = first;
    rv = rp_heartbeat_encode(&pay, &hb);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = rp_env_seal(&env, p->kp, RP_KIND_HEARTBEAT, last, (uint64_t) now_ms(),
        pay.data, pay.len);
    if (rv != RAMP_OK) {
        goto out;
    }
    pub_send(p, &env, "heartbeat", last, &p->heartbeats);

out:
    pthread_mutex_unlock(&p->mtx);
    if (rv != RAMP_OK) {
        RAMP_LOG(
            RP_LOG_ERR, "RAMP-PUB-HEARTBEAT-FAIL", "err=%s", ramp_errname(rv));
    }
    rp_buf_fini(&pay);
    rp_buf_fini(&env);
    return rv;
}

static void *
pub_hb_main(void *arg)
{
    struct ctl_pub *p = arg;
    struct timespec next;

    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&p->hb_mtx);
    while (!p->stop) {
        int rc;

        /* Fixed-rate schedule on the monotonic clock: a slow send does
         * not push every later heartbeat back. */
        next.tv_sec += p->heartbeat_ms / 1000;
        next.tv_nsec += (p->heartbeat_ms % 1000) * 1000000;
        if (next.tv_nsec >= 1000000000) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000;
        }
        rc = 0;
        while (!p->stop && rc != ETIMEDOUT) {
            rc = pthread_cond_timedwait(&p->hb_cv, &p->hb_mtx, &next);
        }
        if (p->stop) {
            break;
        }
        pthread_mutex_unlock(&p->hb_mtx);
        (void) ctl_pub_heartbeat(p);
        pthread_mutex_lock(&p->hb_mtx);
    }
    pthread_mutex_unlock(&p->hb_mtx);
    return NULL;
}

static ramp_err
nng_to_ramp(int rc)
{
    switch (rc) {
    case 0:
        return RAMP_OK;
    case NNG_ENOMEM:
        return RAMP_ENOMEM;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
    case NNG_ENOTSUP:
        return RAMP_EINVAL;
    default:
        return RAMP_EIO;
    }
}

ramp_err
ctl_pub_open(const struct ctl_pub_opts *o, struct ctl_store *st,
    const struct rp_keypair *kp, struct ctl_pub **out)
{
    struct ctl_pub *p;
    pthread_condattr_t ca;
    int rc;
    ramp_err rv;

    if (o == NULL || o->url == NULL || st == NULL || kp == NULL ||
        out == NULL || o->heartbeat_ms <= 0 || o->sendbuf < 0) {
        return RAMP_EINVAL;
    }
    p = rp_calloc(1, sizeof(*p));
    if (p == NULL) {
        return RAMP_ENOMEM;
    }
    p->st = st;
    p->kp = kp;
    p->heartbeat_ms = o->heartbeat_ms;
    rp_buf_init(&p->env, RP_ENV_MAX);
    pthread_mutex_init(&p->mtx, NULL);
    pthread_mutex_init(&p->hb_mtx, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->hb_cv, &ca);
    pthread_condattr_destroy(&ca);

    rc = nng_pub0_open(&p->sock);
    if (rc != 0) {
        rv = nng_to_ramp(rc);
        goto fail_nosock;
    }
    /* Bursts overflow the default queue (DESIGN §10); PUB receives
     * nothing, so any inbound message is hostile: cap it tiny. */
    rc = nng_socket_set_int(
        p->sock, NNG_OPT_SENDBUF, o->sendbuf > 0 ? o->sendbuf : 8192);
    if (rc == 0) {
        rc = nng_socket_set_size(p->sock, NNG_OPT_RECVMAXSZ, 64);
    }
    if (rc == 0) {
        rc = ctl_tls_listen(p->sock, o->url);
    }
    if (rc != 0) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-PUB-LISTEN-FAIL", "url=%s err=\"%s\"",
            o->url, nng_strerror(rc));
        rv = nng_to_ramp(rc);
        goto fail;
    }
    if (pthread_create(&p->hb_thread, NULL, pub_hb_main, p) != 0) {
        rv = RAMP_ESYSTEM;
        goto fail;
    }
    p->hb_started = true;
    RAMP_LOG(RP_LOG_INFO, "RAMP-PUB-LISTEN", "url=%s heartbeat_ms=%lld", o->url,
        (long long) o->heartbeat_ms);
    *out = p;
    return RAMP_OK;

fail:
    nng_close(p->sock);
fail_nosock:
    pthread_cond_destroy(&p->hb_cv);
    pthread_mutex_destroy(&p->hb_mtx);
    pthread_mutex_destroy(&p->mtx);
    rp_buf_fini(&p->env);
    rp_free(p);
    return rv;
}

void
ctl_pub_close(struct ctl_pub *p)
{
    if (p == NULL) {
        return;
    }
    if (p->hb_started) {
        pthread_mutex_lock(&p->hb_mtx);
        p->stop = true;
        pthread_cond_signal(&p->hb_cv);
        pthread_mutex_unlock(&p->hb_mtx);
        pthread_join(p->hb_thread, NULL);
    }
    /* A change in flight finishes (and sends) before the socket goes. */
    pthread_mutex_lock(&p->mtx);
    nng_close(p->sock);
    pthread_mutex_unlock(&p->mtx);
    pthread_cond_destroy(&p->hb_cv);
    pthread_mutex_destroy(&p->hb_mtx);
    pthread_mutex_destroy(&p->mtx);
    rp_buf_fini(&p->env);
    rp_free(p);
}

void
ctl_pub_stats(struct ctl_pub *p, struct ctl_pub_stats *out)
{
    out->sent = atomic_load(&p->sent);
    out->heartbeats = atomic_load(&p->heartbeats);
    out->send_errs = atomic_load(&p->send_errs);
}
