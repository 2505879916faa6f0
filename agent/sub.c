/* SPDX-License-Identifier: MIT */
/*
 * Subscriber and resync (see sub.h).
 *
 * Two threads rather than nng aio callbacks: applying an update commits
 * an LMDB transaction (an fsync), and nng's callback threads are few and
 * shared, so blocking disk work must not run on them (DESIGN §10). The
 * SUB thread receives with a short timeout so that it also ticks the
 * freshness clock; the resync thread sleeps on a condition variable until
 * a gap, a heartbeat ahead, heartbeats behind (the controller's store
 * went back), a reconnection or start-up asks for a round.
 * Both write the cache; LMDB's writer lock serialises them, and the
 * cache's seq rule makes their overlap harmless (the later one sees
 * replays).
 */
#include "sub.h"

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "buf.h"
#include "codec.h"
#include "config.h"
#include "envelope.h"
#include "log.h"
#include "policy.h"

#define SUB_TICK_MS 100      /* SUB receive timeout: freshness tick */
#define SUB_DRAIN_MAX 256    /* messages applied before one view build */
#define SUB_BACKOFF_MIN 100  /* ms: first resync retry */
#define SUB_BACKOFF_MAX 30000 /* ms: retries never wait longer */
#define SUB_LOG_BURST 5      /* lines per kind of rejection ... */
#define SUB_LOG_WINDOW 10000 /* ... per this many ms */
/* Heartbeats behind our seq in a row before we ask the controller: one
 * alone is normal (a resync reply can overtake the PUB stream). */
#define SUB_BEHIND_BEATS 2
/* ms between such resyncs: a replayed old heartbeat (genuinely signed,
 * so it verifies) costs the controller at most one request per this. */
#define SUB_BEHIND_EVERY_MS 5000

struct agt_sub {
    struct agt_cache *cache;   /* borrowed */
    struct agt_viewref *views; /* borrowed */
    struct agt_stats *stats;   /* borrowed */
    nng_socket sub;
    nng_socket req;
    bool sub_open, req_open;
    pthread_t sub_thr, resync_thr;
    bool sub_started, resync_started;

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t cv;  /* resync wanted, or stop */
    bool stop;
    bool want_resync;
    int64_t next_try_ms;      /* monotonic: no resync round before */
    uint32_t backoff_ms;      /* last retry delay, 0 after a success */
    uint64_t head;            /* highest seq the controller announced */
    struct agt_fresh fresh;
    struct agt_stale_after stale_after;
    int64_t resync_timeout_ms;
    struct agt_ratelimit rl[AGT_APPLY_COUNT]; /* per outcome */
    struct agt_ratelimit rl_resync;
    uint32_t behind_beats;    /* heartbeats behind our seq in a row */
    bool behind_logged;       /* this episode has been logged */
    int64_t behind_next_ms;   /* monotonic: no behind-resync before */

    pthread_mutex_t view_mu; /* serialises agt_view_refresh */
    bool view_dirty;         /* under view_mu: last build failed */
};

static int64_t
sub_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

ramp_err
agt_view_refresh(
    struct agt_cache *c, struct agt_viewref *views, struct agt_stats *stats)
{
    struct agt_view *prev = agt_viewref_get(views);
    struct agt_view *next = NULL;
    ramp_err rv;

    rv = agt_view_load(c, prev, &next);
    agt_view_rele(prev);
    if (rv != RAMP_OK) {
        agt_stats_inc(&stats->view_failures, 1);
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-VIEW-FAIL", "err=%s",
            ramp_errname(rv));
        return rv;
    }
    RAMP_LOG(RP_LOG_DEBUG, "RAMP-AGENT-VIEW", "seq=%llu flags=%zu",
        (unsigned long long) agt_view_seq(next), agt_view_count(next));
    agt_viewref_set(views, next);
    agt_stats_inc(&stats->view_builds, 1);
    return RAMP_OK;
}

static void
sub_refresh(struct agt_sub *s)
{
    pthread_mutex_lock(&s->view_mu);
    s->view_dirty =
        agt_view_refresh(s->cache, s->views, s->stats) != RAMP_OK;
    pthread_mutex_unlock(&s->view_mu);
}

static void
sub_want_resync(struct agt_sub *s, uint64_t head)
{
    pthread_mutex_lock(&s->mu);
    if (head > s->head) {
        s->head = head;
    }
    s->want_resync = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* Under s->mu. */
static void
sub_contact_locked(struct agt_sub *s, uint32_t interval_ms, const char *how)
{
    atomic_store(&s->stats->last_contact_ms, sub_now_ms());
    if (agt_fresh_contact(&s->fresh, sub_now_ms(), interval_ms)) {
        atomic_store(&s->stats->stale, false);
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-FRESH", "via=%s interval_ms=%u",
            how, s->fresh.interval_ms);
    }
}

static void
sub_tick(struct agt_sub *s)
{
    bool dirty;

    pthread_mutex_lock(&s->mu);
    if (agt_fresh_tick(&s->fresh, sub_now_ms(), &s->stale_after)) {
        atomic_store(&s->stats->stale, true);
        agt_stats_inc(&s->stats->stale_turns, 1);
        RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-STALE",
            "silent_ms=%lld limit_ms=%lld",
            (long long) (sub_now_ms() - s->fresh.last_contact_ms),
            (long long) agt_fresh_limit(&s->fresh, &s->stale_after));
    }
    pthread_mutex_unlock(&s->mu);
    pthread_mutex_lock(&s->view_mu);
    dirty = s->view_dirty;
    pthread_mutex_unlock(&s->view_mu);
    if (dirty) {
        sub_refresh(s); /* retry a build that failed */
    }
}

/*
 * A verified heartbeat announcing a seq below the one we applied: the
 * controller's store went back (restored from an older backup), or the
 * heartbeat is an old one replayed. Either way the controller decides,
 * through the resync socket (a signed reply, asked by us): an agent
 * ahead makes it jump its seq past ours and answer with a snapshot
 * (docs/protocol.md, sequencing). Without this a running agent would
 * drop every later change as a replay until the controller's seq passed
 * its own. Returns true when a resync should be asked now. Under s->mu.
 */
static bool
sub_behind_locked(struct agt_sub *s, uint64_t seq, uint64_t last, bool *log)
{
    int64_t now = sub_now_ms();

    *log = false;
    if (seq >= last) {
        s->behind_beats = 0;
        s->behind_logged = false;
        return false;
    }
    if (s->behind_beats < UINT32_MAX) {
        s->behind_beats++;
    }
    if (s->behind_beats < SUB_BEHIND_BEATS || now < s->behind_next_ms) {
        return false;
    }
    s->behind_next_ms = now + SUB_BEHIND_EVERY_MS;
    *log = !s->behind_logged;
    s->behind_logged = true;
    return true;
}

/* Log one rejection, rate-limited per outcome. */
static void
sub_log_outcome(struct agt_sub *s, const struct agt_apply_result *res,
    ramp_err rv, const char *src)
{
    enum agt_apply_outcome o = res->outcome;
    uint64_t suppressed = 0;
    int lvl;
    bool ok;

    switch (o) {
    case AGT_APPLY_APPLIED:
    case AGT_APPLY_HEARTBEAT:
        return;
    case AGT_APPLY_REPLAY:
        lvl = RP_LOG_DEBUG; /* normal while a resync overlaps PUB */
        break;
    case AGT_APPLY_GAP:
        lvl = RP_LOG_INFO;
        break;
    case AGT_APPLY_FULL:
    case AGT_APPLY_STORE:
    case AGT_APPLY_NOMEM:
    case AGT_APPLY_READONLY:
        lvl = RP_LOG_ERR;
        break;
    default:
        lvl = RP_LOG_WARNING;
        break;
    }
    if (lvl > rp_log_level || (unsigned) o >= AGT_APPLY_COUNT) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    ok = agt_ratelimit_allow(&s->rl[o], sub_now_ms(), SUB_LOG_BURST,
        SUB_LOG_WINDOW, &suppressed);
    pthread_mutex_unlock(&s->mu);
    if (ok) {
        RAMP_LOG(lvl, "RAMP-AGENT-UPDATE-DROP",
            "src=%s outcome=%s err=%s kind=%s seq=%llu last=%llu "
            "suppressed=%llu",
            src, agt_apply_outcome_name(o), ramp_errname(rv),
            rp_kind_name(res->kind), (unsigned long long) res->seq,
            (unsigned long long) res->last, (unsigned long long) suppressed);
    }
}

/* Apply one SUB message; returns true when the store changed. */
static bool
sub_handle(struct agt_sub *s, nng_msg *msg)
{
    const uint8_t *buf = nng_msg_body(msg);
    size_t len = nng_msg_len(msg);
    struct agt_apply_result res;
    ramp_err rv;

    rv = agt_cache_apply(s->cache, buf, len, &res);
    if ((unsigned) res.outcome < AGT_APPLY_COUNT) {
        agt_stats_inc(&s->stats->updates[res.outcome], 1);
    }
    sub_log_outcome(s, &res, rv, "sub");
    if (res.outcome == AGT_APPLY_HEARTBEAT) {
        bool behind, log;

        pthread_mutex_lock(&s->mu);
        sub_contact_locked(s, res.interval_ms, "heartbeat");
        behind = sub_behind_locked(s, res.seq, res.last, &log);
        pthread_mutex_unlock(&s->mu);
        if (log) {
            RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-CONTROLLER-BEHIND",
                "seq=%llu last=%llu beats=%d", (unsigned long long) res.seq,
                (unsigned long long) res.last, SUB_BEHIND_BEATS);
        }
        if (behind) {
            sub_want_resync(s, 0);
        }
    }
    if (res.resync) {
        sub_want_resync(s, res.seq);
    }
    if (res.outcome == AGT_APPLY_APPLIED) {
        RAMP_LOG(RP_LOG_DEBUG, "RAMP-AGENT-APPLIED", "kind=%s seq=%llu",
            rp_kind_name(res.kind), (unsigned long long) res.seq);
        if (res.kind == RP_KIND_KEY_ROTATE) {
            RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-KEY-ROTATED", "seq=%llu",
                (unsigned long long) res.seq);
        }
        return true;
    }
    return false;
}

static void *
sub_main(void *arg)
{
    struct agt_sub *s = arg;

    for (;;) {
        nng_msg *msg = NULL;
        bool changed = false;
        bool stop;
        int rc;

        rc = nng_recvmsg(s->sub, &msg, 0);
        if (rc == NNG_ECLOSED) {
            break;
        }
        if (rc == 0) {
            changed = sub_handle(s, msg);
            nng_msg_free(msg);
            /* Drain what is queued before building one view for all of
             * it: a burst costs one build, not one per message. */
            for (int i = 0; i < SUB_DRAIN_MAX; i++) {
                rc = nng_recvmsg(s->sub, &msg, NNG_FLAG_NONBLOCK);
                if (rc != 0) {
                    break;
                }
                changed |= sub_handle(s, msg);
                nng_msg_free(msg);
            }
            if (changed) {
                sub_refresh(s);
            }
            if (rc == NNG_ECLOSED) {
                break;
            }
        } else if (rc != NNG_ETIMEDOUT && rc != NNG_EAGAIN) {
            /* NNG_EMSGSIZE is handled inside nng (the pipe is dropped);
             * anything surfacing here is counted and survived. */
            agt_stats_inc(&s->stats->sub_recv_errors, 1);
            RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-SUB-RECV", "err=\"%s\"",
                nng_strerror(rc));
        }
        sub_tick(s);
        pthread_mutex_lock(&s->mu);
        stop = s->stop;
        pthread_mutex_unlock(&s->mu);
        if (stop) {
            break;
        }
    }
    return NULL;
}

/* One request/reply round; *res describes what was applied. */
static ramp_err
sub_resync_round(struct agt_sub *s, int64_t timeout_ms,
    struct agt_resync_result *res, size_t *reply_len)
{
    struct rp_buf req;
    void *rep = NULL;
    size_t replen = 0;
    ramp_err rv;
    int rc;

    memset(res, 0, sizeof(*res));
    *reply_len = 0;
    rp_buf_init(&req, RP_RESYNC_REQ_MAX);
    rv = agt_cache_resync_req(s->cache, &req);
    if (rv != RAMP_OK) {
        goto out;
    }
    (void) nng_socket_set_ms(s->req, NNG_OPT_RECVTIMEO, (nng_duration) timeout_ms);
    (void) nng_socket_set_ms(s->req, NNG_OPT_SENDTIMEO, (nng_duration) timeout_ms);
    rc = nng_send(s->req, req.data, req.len, 0);
    if (rc == 0) {
        rc = nng_recv(s->req, &rep, &replen, NNG_FLAG_ALLOC);
    }
    if (rc != 0) {
        rv = rc == NNG_ETIMEDOUT ? RAMP_ETIMEDOUT
            : rc == NNG_ECLOSED  ? RAMP_ECLOSED
                                 : RAMP_EIO;
        if (rv == RAMP_EIO) {
            RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-RESYNC-IO", "err=\"%s\"",
                nng_strerror(rc));
        }
        goto out;
    }
    *reply_len = replen;
    rv = agt_cache_apply_resync(s->cache, rep, replen, res);
    agt_stats_inc(&s->stats->updates[AGT_APPLY_APPLIED], res->applied);
    agt_stats_inc(&s->stats->updates[AGT_APPLY_REPLAY], res->replays);
    if (res->failed_at < res->nenvs &&
        (unsigned) res->last.outcome < AGT_APPLY_COUNT) {
        agt_stats_inc(&s->stats->updates[res->last.outcome], 1);
        sub_log_outcome(s, &res->last, rv, "resync");
    }

out:
    if (rep != NULL) {
        nng_free(rep, replen);
    }
    rp_buf_fini(&req);
    return rv;
}

static void *
sub_resync_main(void *arg)
{
    struct agt_sub *s = arg;

    for (;;) {
        struct agt_resync_result res;
        size_t replen = 0;
        int64_t timeout_ms;
        uint64_t head;
        ramp_err rv;

        pthread_mutex_lock(&s->mu);
        for (;;) {
            int64_t now = sub_now_ms();

            if (s->stop) {
                break;
            }
            if (s->want_resync && now >= s->next_try_ms) {
                break;
            }
            if (s->want_resync) {
                struct timespec ts;
                int64_t wait_ms = s->next_try_ms - now;

                /* pthread condvars default to CLOCK_REALTIME: a jump of
                 * the wall clock only shortens or stretches one wait,
                 * and the loop re-checks the monotonic clock. */
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += wait_ms / 1000;
                ts.tv_nsec += (wait_ms % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            } else {
                pthread_cond_wait(&s->cv, &s->mu);
            }
        }
        if (s->stop) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        s->want_resync = false;
        timeout_ms = s->resync_timeout_ms;
        pthread_mutex_unlock(&s->mu);

        rv = sub_resync_round(s, timeout_ms, &res, &replen);
        if (rv == RAMP_ECLOSED) {
            break;
        }
        if (res.applied > 0) {
            sub_refresh(s);
        }
        pthread_mutex_lock(&s->mu);
        head = s->head;
        if (rv == RAMP_OK) {
            uint64_t last = res.last.last;

            agt_stats_inc(&s->stats->resyncs, 1);
            if (res.status == 1) {
                agt_stats_inc(&s->stats->resync_snapshots, 1);
            }
            s->backoff_ms = 0;
            s->next_try_ms = 0;
            sub_contact_locked(s, 0, "resync");
            if (res.nenvs == 0) {
                /* An empty reply leaves res.last unset: ask the cache. */
                (void) agt_cache_seq(s->cache, &last);
            }
            if (agt_resync_again(&res, last, head)) {
                s->want_resync = true;
            }
            pthread_mutex_unlock(&s->mu);
            RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-RESYNC",
                "status=%u envs=%zu applied=%zu replays=%zu seq=%llu "
                "head=%llu bytes=%zu",
                res.status, res.nenvs, res.applied, res.replays,
                (unsigned long long) last, (unsigned long long) head, replen);
        } else {
            uint64_t suppressed = 0;
            uint32_t retry;
            bool log;

            agt_stats_inc(&s->stats->resync_failures, 1);
            s->backoff_ms = agt_backoff_next(
                s->backoff_ms, SUB_BACKOFF_MIN, SUB_BACKOFF_MAX);
            s->next_try_ms = sub_now_ms() +
                agt_jitter(s->backoff_ms, randombytes_random());
            s->want_resync = true;
            retry = s->backoff_ms;
            log = agt_ratelimit_allow(&s->rl_resync, sub_now_ms(),
                SUB_LOG_BURST, SUB_LOG_WINDOW, &suppressed);
            pthread_mutex_unlock(&s->mu);
            if (log) {
                RAMP_LOG(RP_LOG_WARNING, "RAMP-AGENT-RESYNC-FAIL",
                    "err=%s applied=%zu retry_ms=%u suppressed=%llu",
                    ramp_errname(rv), res.applied, retry,
                    (unsigned long long) suppressed);
            }
        }
    }
    return NULL;
}

/* A new connection to the controller's PUB: anything sent while we were
 * away is lost to PUB, so catch up by resync at once. */
static void
sub_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    struct agt_sub *s = arg;

    (void) p;
    if (ev == NNG_PIPE_EV_ADD_POST) {
        RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-SUB-CONNECTED", NULL);
        sub_want_resync(s, 0);
    } else if (ev == NNG_PIPE_EV_REM_POST) {
        RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-SUB-DISCONNECTED", NULL);
    }
}

static ramp_err
sub_nng_err(int rc, const char *what, const char *url)
{
    RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-SUB-SOCKET", "op=%s url=%s err=\"%s\"",
        what, url != NULL ? url : "", nng_strerror(rc));
    switch (rc) {
    case NNG_ENOMEM:
        return RAMP_ENOMEM;
    case NNG_EADDRINVAL:
    case NNG_ENOTSUP:
    case NNG_EINVAL:
        return RAMP_EINVAL;
    default:
        return RAMP_ESYSTEM;
    }
}

static ramp_err
sub_open_sockets(struct agt_sub *s, const struct agt_sub_opts *o)
{
    int rc;

    rc = nng_sub0_open(&s->sub);
    if (rc != 0) {
        return sub_nng_err(rc, "sub-open", o->sub_url);
    }
    s->sub_open = true;
    /* DESIGN §10: cap what one hostile header can make nng allocate,
     * raise the queue so bursts are not mostly lost, and redial quickly
     * but not in a tight loop while the controller is away. */
    rc = nng_socket_set(s->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0);
    if (rc == 0) {
        rc = nng_socket_set_size(s->sub, NNG_OPT_RECVMAXSZ, RP_ENV_MAX);
    }
    if (rc == 0) {
        rc = nng_socket_set_int(s->sub, NNG_OPT_RECVBUF, o->recv_buffer);
    }
    if (rc == 0) {
        rc = nng_socket_set_ms(s->sub, NNG_OPT_RECVTIMEO, SUB_TICK_MS);
    }
    if (rc == 0) {
        rc = nng_socket_set_ms(s->sub, NNG_OPT_RECONNMINT, 100);
    }
    if (rc == 0) {
        rc = nng_socket_set_ms(s->sub, NNG_OPT_RECONNMAXT, 2000);
    }
    if (rc == 0) {
        rc = nng_pipe_notify(s->sub, NNG_PIPE_EV_ADD_POST, sub_pipe_cb, s);
    }
    if (rc == 0) {
        rc = nng_pipe_notify(s->sub, NNG_PIPE_EV_REM_POST, sub_pipe_cb, s);
    }
    if (rc != 0) {
        return sub_nng_err(rc, "sub-options", o->sub_url);
    }
    rc = nng_req0_open(&s->req);
    if (rc != 0) {
        return sub_nng_err(rc, "req-open", o->resync_url);
    }
    s->req_open = true;
    rc = nng_socket_set_size(s->req, NNG_OPT_RECVMAXSZ, RP_RESYNC_REP_MAX);
    if (rc == 0) {
        rc = nng_socket_set_ms(s->req, NNG_OPT_RECONNMINT, 100);
    }
    if (rc == 0) {
        rc = nng_socket_set_ms(s->req, NNG_OPT_RECONNMAXT, 2000);
    }
    if (rc != 0) {
        return sub_nng_err(rc, "req-options", o->resync_url);
    }
    /* Non-blocking dials: a controller that is down must not stop the
     * agent from serving; nng keeps redialling in the background. */
    rc = agt_tls_dial(s->sub, o->sub_url, NNG_FLAG_NONBLOCK);
    if (rc != 0) {
        return sub_nng_err(rc, "dial", o->sub_url);
    }
    rc = agt_tls_dial(s->req, o->resync_url, NNG_FLAG_NONBLOCK);
    if (rc != 0) {
        return sub_nng_err(rc, "dial", o->resync_url);
    }
    return RAMP_OK;
}

ramp_err
agt_sub_start(const struct agt_sub_opts *o, struct agt_cache *c,
    struct agt_viewref *views, struct agt_stats *stats, struct agt_sub **out)
{
    struct agt_sub *s;
    ramp_err rv;

    if (o == NULL || o->sub_url == NULL || o->resync_url == NULL ||
        o->recv_buffer < 1 || o->recv_buffer > 8192 ||
        o->resync_timeout_ms < 1 || c == NULL || views == NULL ||
        stats == NULL ||
        (o->stale_after.intervals == 0 && o->stale_after.ms <= 0)) {
        return RAMP_EINVAL;
    }
    if (sodium_init() < 0) {
        return RAMP_ESYSTEM;
    }
    s = rp_calloc(1, sizeof(*s));
    if (s == NULL) {
        return RAMP_ENOMEM;
    }
    s->cache = c;
    s->views = views;
    s->stats = stats;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_mutex_init(&s->view_mu, NULL);
    agt_fresh_init(&s->fresh);
    s->stale_after = o->stale_after;
    s->resync_timeout_ms = o->resync_timeout_ms;
    s->want_resync = true; /* always once at start */
    /* Build once more at the first tick: main's first build may have
     * failed (a damaged record), and a resync that brings nothing new
     * would otherwise never retry it. */
    s->view_dirty = true;
    atomic_store(&stats->stale, true);

    rv = sub_open_sockets(s, o);
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (pthread_create(&s->resync_thr, NULL, sub_resync_main, s) != 0) {
        rv = RAMP_ESYSTEM;
        goto fail;
    }
    s->resync_started = true;
    if (pthread_create(&s->sub_thr, NULL, sub_main, s) != 0) {
        rv = RAMP_ESYSTEM;
        goto fail;
    }
    s->sub_started = true;
    RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-SUB-START",
        "sub=%s resync=%s recv_buffer=%d", o->sub_url, o->resync_url,
        o->recv_buffer);
    *out = s;
    return RAMP_OK;

fail:
    agt_sub_stop(s);
    return rv;
}

void
agt_sub_reconfigure(struct agt_sub *s, const struct agt_stale_after *sa,
    int64_t resync_timeout_ms)
{
    pthread_mutex_lock(&s->mu);
    s->stale_after = *sa;
    s->resync_timeout_ms = resync_timeout_ms;
    pthread_mutex_unlock(&s->mu);
}

void
agt_sub_stop(struct agt_sub *s)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    /*
     * Join first, close after. Closing a socket while another thread is
     * blocked in nng_recvmsg() on it can hang or abort inside nng 1.5.2
     * (seen under load: a close that never returns, and a mutex panic),
     * so each thread is left to see the stop flag: the SUB receive times
     * out every SUB_TICK_MS, and a resync round ends within its timeout.
     */
    if (s->sub_started) {
        pthread_join(s->sub_thr, NULL);
    }
    if (s->resync_started) {
        pthread_join(s->resync_thr, NULL);
    }
    if (s->sub_open) {
        nng_close(s->sub);
    }
    if (s->req_open) {
        nng_close(s->req);
    }
    pthread_mutex_destroy(&s->view_mu);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    rp_free(s);
}
