/* SPDX-License-Identifier: MIT */
/*
 * The agent's health aggregation and reporter (see health.h).
 *
 * Aggregation is one open-addressing table of (flag, variant, arm)
 * entries under one mutex. Every caller (query workers counting
 * evaluations, the outcome receiver, the HTTP server) does a hash, a
 * probe and a few additions under it: well under a microsecond, far
 * below the ipc round trip that brought the request. Rejected: per-thread
 * tables merged at report time (no lock on the hot path, but a report
 * would have to visit every thread's table, and the receiver thread is
 * where almost all outcomes land anyway).
 *
 * Entries are never removed: counters are cumulative since boot, and a
 * report carries all of them (at most AGT_HEALTH_MAX_ENTRIES, the
 * report's own cap). What does not fit is dropped and counted.
 *
 * The reporter runs two threads: the outcome receiver (PULL with a
 * receive timeout, so stopping never closes a socket under a blocked
 * receive) and the sender, which wakes every report-interval.
 */
#include "health.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "config.h"
#include "eval.h"
#include "log.h"
#include "model.h"
#include "mp.h"
#include "sock.h"

/* Open addressing at load <= 1/2 with AGT_HEALTH_MAX_ENTRIES entries. */
#define HEALTH_SLOTS 8192
#define HEALTH_RECV_TICK_MS 200 /* outcome receive timeout: stop latency */
#define HEALTH_SENDBUF 4        /* reports queued while the link is down */

struct hentry {
    char flag[RP_KEY_MAX + 1];
    char variant[RP_NAME_MAX + 1];
    uint32_t arm;
    uint64_t evaluations, successes, errors;
    struct rp_hist hist;
};

struct agt_health {
    char *agent_id; /* owned */
    char *host;     /* owned */
    uint8_t boot_id[16];

    pthread_mutex_t mu; /* guards everything below */
    struct hentry *slots[HEALTH_SLOTS]; /* owned entries, NULL = free */
    uint32_t nentries;
    uint64_t report_seq; /* last report built */

    /* counters: relaxed atomics, read without mu */
    _Atomic uint64_t outcomes, evaluations, dropped_full, dropped_invalid;
    _Atomic uint64_t reports_sent, reports_failed;
};

static inline void
inc(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static inline uint64_t
get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

ramp_err
agt_health_new(const char *agent_id, const char *host, struct agt_health **out)
{
    struct agt_health *h;

    if (agent_id == NULL || agent_id[0] == '\0' ||
        strlen(agent_id) > RP_NAME_MAX || out == NULL ||
        (host != NULL && strlen(host) > RP_HOST_MAX)) {
        return RAMP_EINVAL;
    }
    if (sodium_init() < 0) {
        return RAMP_ESYSTEM;
    }
    h = rp_calloc(1, sizeof(*h));
    if (h == NULL) {
        return RAMP_ENOMEM;
    }
    h->agent_id = rp_strdup(agent_id);
    h->host = rp_strdup(host != NULL ? host : "");
    if (h->agent_id == NULL || h->host == NULL ||
        pthread_mutex_init(&h->mu, NULL) != 0) {
        rp_free(h->agent_id);
        rp_free(h->host);
        rp_free(h);
        return RAMP_ENOMEM;
    }
    /* Random per start: the controller tells boots apart by it, and a
     * new boot's counters start from zero. */
    randombytes_buf(h->boot_id, sizeof(h->boot_id));
    *out = h;
    return RAMP_OK;
}

void
agt_health_free(struct agt_health *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < HEALTH_SLOTS; i++) {
        rp_free(h->slots[i]);
    }
    pthread_mutex_destroy(&h->mu);
    rp_free(h->agent_id);
    rp_free(h->host);
    rp_free(h);
}

static uint32_t
entry_hash(const char *flag, size_t fl, const char *variant, size_t vl,
    uint32_t arm)
{
    /* FNV-1a: the inputs are short and not chosen against us (a local
     * application at worst fills its own agent's table, which is
     * capped). */
    uint32_t x = 2166136261u;

    for (size_t i = 0; i < fl; i++) {
        x = (x ^ (uint8_t) flag[i]) * 16777619u;
    }
    x = (x ^ 0xffu) * 16777619u;
    for (size_t i = 0; i < vl; i++) {
        x = (x ^ (uint8_t) variant[i]) * 16777619u;
    }
    return (x ^ arm) * 16777619u;
}

/* The entry for the triple, created if there is room; under h->mu. NULL
 * when the table is full (counted by the caller). */
static struct hentry *
entry_get(struct agt_health *h, const char *flag, size_t fl,
    const char *variant, size_t vl, uint32_t arm)
{
    uint32_t i = entry_hash(flag, fl, variant, vl, arm) & (HEALTH_SLOTS - 1);
    struct hentry *e;

    for (;;) {
        e = h->slots[i];
        if (e == NULL) {
            break;
        }
        if (e->arm == arm && strncmp(e->flag, flag, fl) == 0 &&
            e->flag[fl] == '\0' && strncmp(e->variant, variant, vl) == 0 &&
            e->variant[vl] == '\0') {
            return e;
        }
        i = (i + 1) & (HEALTH_SLOTS - 1);
    }
    if (h->nentries >= AGT_HEALTH_MAX_ENTRIES) {
        return NULL;
    }
    e = rp_calloc(1, sizeof(*e));
    if (e == NULL) {
        return NULL;
    }
    memcpy(e->flag, flag, fl);
    memcpy(e->variant, variant, vl);
    e->arm = arm;
    rp_hist_init(&e->hist);
    h->slots[i] = e;
    h->nentries++;
    return e;
}

static bool
triple_ok(const char *flag, size_t fl, const char *variant, size_t vl,
    uint32_t arm)
{
    return fl >= 1 && fl <= RP_KEY_MAX && rp_flag_key_valid(flag, fl) &&
        vl >= 1 && vl <= RP_NAME_MAX && memchr(variant, '\0', vl) == NULL &&
        arm <= RP_ARM_CONTROL;
}

static ramp_err
observe_n(struct agt_health *h, const char *flag, size_t fl,
    const char *variant, size_t vl, uint32_t arm, bool success,
    uint64_t latency_us)
{
    struct hentry *e;

    if (!triple_ok(flag, fl, variant, vl, arm)) {
        inc(&h->dropped_invalid);
        return RAMP_EINVAL;
    }
    pthread_mutex_lock(&h->mu);
    e = entry_get(h, flag, fl, variant, vl, arm);
    if (e != NULL) {
        if (success) {
            e->successes++;
        } else {
            e->errors++;
        }
        rp_hist_record(&e->hist, latency_us);
    }
    pthread_mutex_unlock(&h->mu);
    if (e == NULL) {
        inc(&h->dropped_full);
        return RAMP_ETOOBIG;
    }
    inc(&h->outcomes);
    return RAMP_OK;
}

ramp_err
agt_health_observe(struct agt_health *h, const char *flag, const char *variant,
    uint32_t arm, bool success, uint64_t latency_us)
{
    if (h == NULL || flag == NULL || variant == NULL) {
        return RAMP_EINVAL;
    }
    return observe_n(h, flag, strnlen(flag, RP_KEY_MAX + 1), variant,
        strnlen(variant, RP_NAME_MAX + 1), arm, success, latency_us);
}

void
agt_health_count_eval(struct agt_health *h, const char *flag,
    const char *variant, uint32_t arm)
{
    struct hentry *e;
    size_t fl, vl;

    if (h == NULL || flag == NULL || variant == NULL) {
        return;
    }
    fl = strnlen(flag, RP_KEY_MAX + 1);
    vl = strnlen(variant, RP_NAME_MAX + 1);
    if (!triple_ok(flag, fl, variant, vl, arm)) {
        inc(&h->dropped_invalid);
        return;
    }
    pthread_mutex_lock(&h->mu);
    e = entry_get(h, flag, fl, variant, vl, arm);
    if (e != NULL) {
        e->evaluations++;
    }
    pthread_mutex_unlock(&h->mu);
    if (e == NULL) {
        inc(&h->dropped_full);
        return;
    }
    inc(&h->evaluations);
}

ramp_err
agt_health_report(struct agt_health *h, int64_t now_ms, struct rp_health **out)
{
    struct rp_health *r;
    size_t k = 0;
    ramp_err rv = RAMP_ENOMEM;

    if (h == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    r = rp_calloc(1, sizeof(*r));
    if (r == NULL) {
        return RAMP_ENOMEM;
    }
    r->agent_id = rp_strdup(h->agent_id);
    r->host = rp_strdup(h->host);
    memcpy(r->boot_id, h->boot_id, sizeof(r->boot_id));
    r->ts_ms = now_ms;
    if (r->agent_id == NULL || r->host == NULL) {
        goto fail;
    }
    pthread_mutex_lock(&h->mu);
    if (h->nentries > 0) {
        r->entries = rp_calloc(h->nentries, sizeof(*r->entries));
        if (r->entries == NULL) {
            pthread_mutex_unlock(&h->mu);
            goto fail;
        }
    }
    for (size_t i = 0; i < HEALTH_SLOTS; i++) {
        const struct hentry *e = h->slots[i];
        struct rp_health_entry *d;

        if (e == NULL) {
            continue;
        }
        d = &r->entries[k];
        d->flag_key = rp_strdup(e->flag);
        d->variant = rp_strdup(e->variant);
        r->nentries = ++k; /* freed with r from here on */
        if (d->flag_key == NULL || d->variant == NULL) {
            pthread_mutex_unlock(&h->mu);
            goto fail;
        }
        d->arm = e->arm;
        d->evaluations = e->evaluations;
        d->successes = e->successes;
        d->errors = e->errors;
        d->hist = e->hist;
    }
    /* Taken only once the report exists: a failed build does not leave
     * a gap the controller would have to reason about. */
    r->report_seq = ++h->report_seq;
    pthread_mutex_unlock(&h->mu);
    *out = r;
    return RAMP_OK;

fail:
    rp_health_free(r);
    return rv;
}

void
agt_health_stats(struct agt_health *h, struct agt_health_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (h == NULL) {
        return;
    }
    out->outcomes = get(&h->outcomes);
    out->evaluations = get(&h->evaluations);
    out->dropped_full = get(&h->dropped_full);
    out->dropped_invalid = get(&h->dropped_invalid);
    out->reports_sent = get(&h->reports_sent);
    out->reports_failed = get(&h->reports_failed);
    pthread_mutex_lock(&h->mu);
    out->entries = h->nentries;
    pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

ramp_err
agt_health_outcome(struct agt_health *h, const uint8_t *msg, size_t n)
{
    msgpack_unpacked u;
    const msgpack_object *f;
    size_t nf;
    uint64_t arm, lat;
    bool ok;
    ramp_err rv;

    if (h == NULL || (msg == NULL && n > 0)) {
        return RAMP_EINVAL;
    }
    /* The pre-scan (rp_mp_unpack) runs before msgpack-c allocates. */
    rv = rp_mp_unpack(msg, n, AGT_OUTCOME_MAX, &u);
    if (rv != RAMP_OK) {
        inc(&h->dropped_invalid);
        return rv;
    }
    rv = rp_obj_array(&u.data, 5, 0, &f, &nf);
    if (rv == RAMP_OK &&
        (f[0].type != MSGPACK_OBJECT_STR || f[1].type != MSGPACK_OBJECT_STR ||
            rp_obj_u64(&f[2], &arm) != RAMP_OK || arm > RP_ARM_CONTROL ||
            rp_obj_bool(&f[3], &ok) != RAMP_OK ||
            rp_obj_u64(&f[4], &lat) != RAMP_OK)) {
        rv = RAMP_EPROTO;
    }
    if (rv != RAMP_OK) {
        rp_mp_done(&u);
        inc(&h->dropped_invalid);
        return RAMP_EPROTO;
    }
    /* Strings point into msg; observe_n checks their syntax and sizes. */
    rv = observe_n(h, f[0].via.str.ptr, f[0].via.str.size, f[1].via.str.ptr,
        f[1].via.str.size, (uint32_t) arm, ok, lat);
    rp_mp_done(&u);
    return rv == RAMP_EINVAL ? RAMP_EPROTO : rv;
}

ramp_err
agt_health_seal_report(struct agt_health *h, const struct rp_keypair *kp,
    int64_t now_ms, struct rp_buf *out)
{
    struct rp_health *r = NULL;
    struct rp_buf pay;
    ramp_err rv;

    if (h == NULL || kp == NULL || out == NULL || now_ms < 0) {
        return RAMP_EINVAL;
    }
    rp_buf_init(&pay, RP_HEALTH_MAX);
    rv = agt_health_report(h, now_ms, &r);
    if (rv == RAMP_OK) {
        rv = rp_health_encode(&pay, r);
    }
    if (rv == RAMP_OK) {
        rv = rp_env_seal(out, kp, RP_KIND_HEALTH, r->report_seq,
            (uint64_t) now_ms, pay.data, pay.len);
    }
    rp_health_free(r);
    rp_buf_fini(&pay);
    return rv;
}

ramp_err
agt_health_seal_enroll(struct agt_health *h, const struct rp_keypair *kp,
    uint64_t seq, int64_t now_ms, struct rp_buf *out)
{
    struct rp_enroll e;
    struct rp_buf pay;
    ramp_err rv;

    if (h == NULL || kp == NULL || out == NULL || now_ms < 0) {
        return RAMP_EINVAL;
    }
    memset(&e, 0, sizeof(e));
    memcpy(e.agent_id, h->agent_id, strlen(h->agent_id));
    memcpy(e.host, h->host, strlen(h->host));
    memcpy(e.pk, kp->pk, sizeof(e.pk));
    rp_buf_init(&pay, 4096);
    rv = rp_enroll_encode(&pay, &e);
    if (rv == RAMP_OK) {
        rv = rp_env_seal(out, kp, RP_KIND_ENROLL, seq, (uint64_t) now_ms,
            pay.data, pay.len);
    }
    rp_buf_fini(&pay);
    return rv;
}

ramp_err
agt_health_key(const char *path, bool create, struct rp_keypair *kp,
    bool *created)
{
    struct stat st;
    ramp_err rv;

    if (path == NULL || path[0] == '\0' || kp == NULL) {
        return RAMP_EINVAL;
    }
    if (created != NULL) {
        *created = false;
    }
    if (lstat(path, &st) != 0 && errno == ENOENT) {
        if (!create) {
            return RAMP_ENOTFOUND;
        }
        rv = rp_key_generate(kp);
        if (rv != RAMP_OK) {
            return rv;
        }
        rv = rp_key_save(path, kp, false);
        if (rv == RAMP_EEXIST) {
            /* Another starter won the race: use its key. */
            return rp_key_load(path, kp);
        }
        if (rv != RAMP_OK) {
            sodium_memzero(kp, sizeof(*kp));
            return rv;
        }
        if (created != NULL) {
            *created = true;
        }
        return RAMP_OK;
    }
    return rp_key_load(path, kp);
}

/* ------------------------------------------------------------------ */
/* Sockets                                                             */
/* ------------------------------------------------------------------ */

struct agt_reporter {
    struct agt_health *h; /* borrowed */
    struct rp_keypair kp;
    int64_t interval_ms;
    nng_socket pull, push;
    bool pull_open, push_open;
    pthread_t recv_thr, send_thr;
    bool recv_started, send_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop; /* under mu */
    _Atomic bool stopping;
};

static int64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ramp_err
rep_nng_err(int rc, const char *what, const char *url)
{
    return agt_sock_err("RAMP-AGENT-HEALTH-SOCKET", rc, what, url);
}

static void *
recv_main(void *arg)
{
    struct agt_reporter *r = arg;

    while (!atomic_load(&r->stopping)) {
        nng_msg *m = NULL;
        int rc = nng_recvmsg(r->pull, &m, 0);

        if (rc == NNG_ETIMEDOUT) {
            continue;
        }
        if (rc == NNG_ECLOSED) {
            break;
        }
        if (rc != 0) {
            continue; /* oversize and friends: the sender's problem */
        }
        (void) agt_health_outcome(r->h, nng_msg_body(m), nng_msg_len(m));
        nng_msg_free(m);
    }
    return NULL;
}

static void
send_env(struct agt_reporter *r, struct rp_buf *b, bool report)
{
    int rc = nng_send(r->push, b->data, b->len, NNG_FLAG_NONBLOCK);

    if (!report) {
        return; /* ENROLLs are not reports; a lost one is resent */
    }
    if (rc == 0) {
        inc(&r->h->reports_sent);
    } else {
        /* EAGAIN: no controller connected, or the queue is full.
         * Nothing is lost: the next report carries the same totals. */
        inc(&r->h->reports_failed);
    }
}

static void *
send_main(void *arg)
{
    struct agt_reporter *r = arg;
    struct rp_buf b;
    int64_t next_enroll = 0;
    uint64_t enroll_seq = 0;

    rp_buf_init(&b, RP_ENV_MAX);
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        struct timespec ts;
        int64_t now;
        ramp_err rv;

        pthread_mutex_unlock(&r->mu);
        now = wall_ms();
        if (now >= next_enroll) {
            rp_buf_reset(&b);
            if (agt_health_seal_enroll(r->h, &r->kp, ++enroll_seq, now, &b) ==
                RAMP_OK) {
                send_env(r, &b, false);
            }
            next_enroll = now + AGT_ENROLL_EVERY_MS;
        }
        rp_buf_reset(&b);
        rv = agt_health_seal_report(r->h, &r->kp, now, &b);
        if (rv == RAMP_OK) {
            send_env(r, &b, true);
        } else {
            inc(&r->h->reports_failed);
            RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-HEALTH-REPORT", "err=%s",
                ramp_errname(rv));
        }
        if (b.cap > (1u << 20)) {
            rp_buf_fini(&b);
            rp_buf_init(&b, RP_ENV_MAX);
        }
        pthread_mutex_lock(&r->mu);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t) (r->interval_ms / 1000);
        ts.tv_nsec += (long) (r->interval_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        while (!r->stop &&
            pthread_cond_timedwait(&r->cv, &r->mu, &ts) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&r->mu);
    rp_buf_fini(&b);
    return NULL;
}

static ramp_err
outcome_listen(struct agt_reporter *r, const char *url, unsigned mode)
{
    ramp_err rv;
    int rc;

    rc = nng_pull0_open(&r->pull);
    if (rc != 0) {
        return rep_nng_err(rc, "open", url);
    }
    r->pull_open = true;
    /* Bound what a local peer can make us allocate (DESIGN §10). */
    rc = nng_socket_set_size(r->pull, NNG_OPT_RECVMAXSZ, AGT_OUTCOME_MAX);
    if (rc == 0) {
        rc = nng_socket_set_ms(r->pull, NNG_OPT_RECVTIMEO, HEALTH_RECV_TICK_MS);
    }
    if (rc == 0) {
        /* Outcomes arrive in bursts from many threads; a deep queue
         * keeps them while the receiver catches up. */
        rc = nng_socket_set_int(r->pull, NNG_OPT_RECVBUF, 8192);
    }
    if (rc != 0) {
        return rep_nng_err(rc, "setopt", url);
    }
    if (strncmp(url, "ipc://", 6) == 0) {
        const char *path = url + 6;
        char dir[1024];
        char *slash;

        /* The query server normally made the directory already; make it
         * here too for an outcome socket placed elsewhere (one level). */
        if (strlen(path) < sizeof(dir)) {
            memcpy(dir, path, strlen(path) + 1);
            slash = strrchr(dir, '/');
            if (slash != NULL && slash != dir) {
                *slash = '\0';
                if (mkdir(dir, 0755) == 0) {
                    RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-OUTCOME-MKDIR",
                        "dir=%s", dir);
                }
            }
        }
    }
    rv = agt_sock_listen(r->pull, url, mode, "RAMP-AGENT-HEALTH-SOCKET",
        "RAMP-AGENT-OUTCOME-CHMOD");
    if (rv != RAMP_OK) {
        return rv;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-OUTCOME-LISTEN", "url=%s mode=%04o",
        url, mode);
    return RAMP_OK;
}

static ramp_err
health_dial(struct agt_reporter *r, const char *url)
{
    int rc;

    rc = nng_push0_open(&r->push);
    if (rc != 0) {
        return rep_nng_err(rc, "open", url);
    }
    r->push_open = true;
    rc = nng_socket_set_int(r->push, NNG_OPT_SENDBUF, HEALTH_SENDBUF);
    if (rc == 0) {
        /* A PUSH with no peer would otherwise wait for one. */
        rc = nng_socket_set_ms(r->push, NNG_OPT_SENDTIMEO, 0);
    }
    if (rc == 0) {
        /* Nothing comes back on PUSH; bound it anyway. */
        rc = nng_socket_set_size(r->push, NNG_OPT_RECVMAXSZ, 1024);
    }
    if (rc == 0) {
        rc = agt_tls_dial(r->push, url, NNG_FLAG_NONBLOCK);
    }
    if (rc != 0) {
        return rep_nng_err(rc, "dial", url);
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-HEALTH-DIAL", "url=%s interval_ms=%lld",
        url, (long long) r->interval_ms);
    return RAMP_OK;
}

ramp_err
agt_reporter_start(const struct agt_reporter_opts *o, struct agt_health *h,
    struct agt_reporter **out)
{
    struct agt_reporter *r;
    ramp_err rv;

    if (o == NULL || h == NULL || out == NULL || o->health_url == NULL ||
        o->kp == NULL || o->interval_ms < 10 || o->socket_mode > 0777) {
        return RAMP_EINVAL;
    }
    r = rp_calloc(1, sizeof(*r));
    if (r == NULL) {
        return RAMP_ENOMEM;
    }
    r->h = h;
    r->kp = *o->kp;
    r->interval_ms = o->interval_ms;
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        rp_free(r);
        return RAMP_ENOMEM;
    }
    if (pthread_cond_init(&r->cv, NULL) != 0) {
        pthread_mutex_destroy(&r->mu);
        rp_free(r);
        return RAMP_ENOMEM;
    }
    if (o->outcome_url != NULL && strcmp(o->outcome_url, "none") != 0) {
        /* Not fatal: serving flags matters more than counting outcomes
         * (another agent on the host may hold the default socket). The
         * error is logged; reports still carry served evaluations. */
        rv = outcome_listen(r, o->outcome_url, o->socket_mode);
        if (rv != RAMP_OK) {
            RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-OUTCOME-LISTEN-FAIL",
                "url=%s err=%s msg=\"running without outcomes\"",
                o->outcome_url, ramp_errname(rv));
            if (r->pull_open) {
                nng_close(r->pull);
                r->pull_open = false;
            }
        } else if (pthread_create(&r->recv_thr, NULL, recv_main, r) != 0) {
            rv = RAMP_ESYSTEM;
            goto fail;
        } else {
            r->recv_started = true;
        }
    }
    if (strcmp(o->health_url, "none") != 0) {
        rv = health_dial(r, o->health_url);
        if (rv != RAMP_OK) {
            goto fail;
        }
        if (pthread_create(&r->send_thr, NULL, send_main, r) != 0) {
            rv = RAMP_ESYSTEM;
            goto fail;
        }
        r->send_started = true;
    }
    *out = r;
    return RAMP_OK;

fail:
    agt_reporter_stop(r);
    return rv;
}

void
agt_reporter_stop(struct agt_reporter *r)
{
    if (r == NULL) {
        return;
    }
    atomic_store(&r->stopping, true);
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    /* Join before closing: closing a socket under a blocked receive is
     * what the subscriber learnt not to do. */
    if (r->recv_started) {
        pthread_join(r->recv_thr, NULL);
    }
    if (r->send_started) {
        pthread_join(r->send_thr, NULL);
    }
    if (r->pull_open) {
        nng_close(r->pull);
    }
    if (r->push_open) {
        nng_close(r->push);
    }
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    sodium_memzero(&r->kp, sizeof(r->kp));
    rp_free(r);
}
