/* SPDX-License-Identifier: MIT */
/*
 * The resync server: a REP socket with a few contexts, each a two-state
 * machine (receive a request, send its reply) driven by its aio's
 * callback. Contexts rather than one raw loop so a snapshot being built
 * for one agent does not hold up the log replies of others.
 *
 * The reply is encoded into a bounded buffer and copied into an nng
 * message; the store's log range is already bounded by max_bytes, so the
 * copy is at most that plus framing.
 */
#include "resync.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "alloc.h"
#include "codec.h"
#include "config.h"
#include "log.h"

#define RESYNC_WORKERS_DEFAULT 4
#define RESYNC_MAX_BYTES_DEFAULT ((size_t) 16 << 20)
/* Seq jumps (resync_ahead): at most this far past the store's seq, and
 * at most RESYNC_JUMP_BURST at once, then one per RESYNC_JUMP_EVERY_MS. */
#define RESYNC_JUMP_MAX_AHEAD ((uint64_t) 1 << 32)
#define RESYNC_JUMP_BURST 8
#define RESYNC_JUMP_EVERY_MS 5000

enum rs_state { RS_RECV, RS_SEND };

struct rs_worker {
    struct ctl_resync *r;
    nng_ctx ctx;
    nng_aio *aio;
    enum rs_state state;
};

struct ctl_resync {
    nng_socket sock;
    struct ctl_store *st;        /* borrowed */
    const struct rp_keypair *kp; /* borrowed */
    size_t max_bytes;
    int nworkers;
    struct rs_worker *workers; /* owned, nworkers */
    _Atomic uint64_t log_replies, snapshot_replies, malformed, errors;
    _Atomic uint64_t seq_jumps; /* ctl_store_seq_jump calls that jumped */
    _Atomic uint64_t jumps_refused; /* too far ahead or too often */
    _Atomic int64_t jump_tat_ms; /* the jump limiter's next free time */
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The agent has applied seqs up to since, above anything this store
 * issued: the store was restored from an older backup while agents went
 * on. Left alone, the next changes would take seqs the agent already
 * holds and it would drop them as replays (an agent never goes back to a
 * lower seq: that is its defence against replayed envelopes). So jump
 * the store's seq past since; the caller then answers with a snapshot
 * sealed at the new seq, which the agent applies since it is ahead of
 * its own. Changes made after the backup are lost with the backup's
 * age: the snapshot replaces the agent's state with the restored one.
 *
 * Not under the publisher's change lock, and no need: the jump sends no
 * envelope, so the order of PUB sends (seq N before N + 1) is not at
 * stake, and LMDB's writer lock already orders it with every change. A
 * change committed just before the jump reaches agents by PUB or is in
 * the snapshot; one just after takes to + 1. Heartbeats read meta.seq,
 * so from the next one on they announce the new seq, and agents behind
 * it ask for a resync and get a snapshot (the log is empty now).
 *
 * The request is not authenticated (neither is PUB's content until it
 * is verified): a peer on the resync socket could push the seq up, and
 * every jump sends every agent a snapshot. So a jump goes at most
 * RESYNC_JUMP_MAX_AHEAD past the store's seq (an agent cannot be ahead
 * by more changes than a store ever took), and jumps are rate-limited
 * (jump_allow): a flood costs a snapshot per agent every few seconds,
 * and exhausting the 63-bit seq would take centuries. A refused request
 * is answered as before the jump existed: nothing to apply; the agent
 * asks again. Every jump is logged and audited, and the socket should
 * face agents only (TLS: docs/security.md).
 */

/* GCRA on one atomic: allow when the theoretical arrival time is at
 * most the burst ahead of now, then move it one interval on. */
static bool
jump_allow(struct ctl_resync *r, int64_t now)
{
    int64_t tat = atomic_load(&r->jump_tat_ms);

    for (;;) {
        int64_t base = tat > now ? tat : now;

        if (base - now > (int64_t) (RESYNC_JUMP_BURST - 1) *
                RESYNC_JUMP_EVERY_MS) {
            return false;
        }
        if (atomic_compare_exchange_weak(
                &r->jump_tat_ms, &tat, base + RESYNC_JUMP_EVERY_MS)) {
            return true;
        }
    }
}

static ramp_err
resync_ahead(struct ctl_resync *r, uint64_t since, uint64_t last)
{
    uint64_t from = 0;
    size_t dropped = 0;
    const char *why = NULL;
    ramp_err rv;

    if (since >= CTL_STORE_SEQ_MAX) {
        why = "past_max";
    } else if (since - last > RESYNC_JUMP_MAX_AHEAD) {
        why = "too_far";
    } else if (!jump_allow(r, now_ms())) {
        why = "rate";
    }
    if (why != NULL) {
        /* Counted; logged once per 64 so a flood cannot fill the log. */
        if (atomic_fetch_add(&r->jumps_refused, 1) % 64 == 0) {
            RAMP_LOG(RP_LOG_WARNING, "RAMP-RESYNC-AHEAD",
                "since=%llu seq=%llu from=%llu to=none refused=%s "
                "refused_total=%llu",
                (unsigned long long) since, (unsigned long long) last,
                (unsigned long long) last, why,
                (unsigned long long) atomic_load(&r->jumps_refused));
        }
        return RAMP_EPERM;
    }
    rv = ctl_store_seq_jump(
        r->st, since + 1, "resync", now_ms(), &from, &dropped);
    if (rv != RAMP_OK) {
        return rv;
    }
    RAMP_LOG(RP_LOG_WARNING, "RAMP-RESYNC-AHEAD",
        "since=%llu seq=%llu from=%llu to=%llu", (unsigned long long) since,
        (unsigned long long) last, (unsigned long long) from,
        (unsigned long long) (since + 1));
    if (from < since + 1) {
        atomic_fetch_add(&r->seq_jumps, 1);
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-STORE-SEQ-JUMP",
            "from=%llu to=%llu log_dropped=%zu", (unsigned long long) from,
            (unsigned long long) (since + 1), dropped);
    }
    return RAMP_OK;
}

/*
 * The reply for since: the log when it reaches back, otherwise (or when
 * the agent is ahead of this store) a fresh snapshot. Appends the
 * encoded reply to out.
 */
static ramp_err
resync_answer(
    struct ctl_resync *r, uint64_t since, struct rp_buf *out, uint32_t *statusp)
{
    struct ctl_log_range range;
    struct rp_buf snap;
    uint64_t seq;
    ramp_err rv;

    memset(&range, 0, sizeof(range));
    rp_buf_init(&snap, RP_ENV_MAX);
    rv = ctl_store_log_range(r->st, since, 0, r->max_bytes, &range);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (range.reaches && since > range.last) {
        rv = resync_ahead(r, since, range.last);
        if (rv == RAMP_OK) {
            range.reaches = false; /* the agent needs the state: snapshot */
            range.first = 0;       /* the jump emptied the log */
        } else if (rv == RAMP_EPERM) {
            rv = RAMP_OK; /* refused: the log reply, nothing in it */
        } else {
            goto out;
        }
    }
    if (range.reaches) {
        *statusp = 0;
        rv = rp_resync_rep_encode(
            out, 0, (const uint8_t *const *) range.envs, range.lens, range.n);
        goto out;
    }
    rv = ctl_store_snapshot(r->st, r->kp, now_ms(), &seq, &snap);
    if (rv != RAMP_OK) {
        goto out;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-RESYNC-SNAPSHOT",
        "since=%llu log_first=%llu seq=%llu bytes=%zu",
        (unsigned long long) since, (unsigned long long) range.first,
        (unsigned long long) seq, snap.len);
    *statusp = 1;
    {
        const uint8_t *e = snap.data;
        size_t n = snap.len;

        rv = rp_resync_rep_encode(out, 1, &e, &n, 1);
    }

out:
    ctl_log_range_fini(&range);
    rp_buf_fini(&snap);
    return rv;
}

static void
rs_recv(struct rs_worker *w)
{
    w->state = RS_RECV;
    nng_ctx_recv(w->ctx, w->aio);
}

/* Handle one request; returns a reply message, or NULL to drop. */
static nng_msg *
rs_handle(struct ctl_resync *r, nng_msg *req)
{
    struct rp_resync_req q;
    struct rp_buf out;
    uint32_t status = 0;
    nng_msg *m = NULL;
    ramp_err rv;

    rv = rp_resync_req_decode(nng_msg_body(req), nng_msg_len(req), &q);
    if (rv != RAMP_OK) {
        atomic_fetch_add(&r->malformed, 1);
        RAMP_LOG(RP_LOG_WARNING, "RAMP-RESYNC-MALFORMED", "len=%zu err=%s",
            nng_msg_len(req), ramp_errname(rv));
        return NULL;
    }
    rp_buf_init(&out, RP_RESYNC_REP_MAX);
    rv = resync_answer(r, q.since, &out, &status);
    if (rv == RAMP_OK) {
        if (nng_msg_alloc(&m, out.len) != 0) {
            rv = RAMP_ENOMEM;
        } else {
            memcpy(nng_msg_body(m), out.data, out.len);
        }
    }
    if (rv != RAMP_OK) {
        atomic_fetch_add(&r->errors, 1);
        RAMP_LOG(RP_LOG_ERR, "RAMP-RESYNC-FAIL", "since=%llu err=%s",
            (unsigned long long) q.since, ramp_errname(rv));
    } else {
        atomic_fetch_add(
            status == 0 ? &r->log_replies : &r->snapshot_replies, 1);
        RAMP_LOG(RP_LOG_DEBUG, "RAMP-RESYNC-REPLY",
            "since=%llu status=%u bytes=%zu", (unsigned long long) q.since,
            (unsigned) status, out.len);
    }
    rp_buf_fini(&out);
    return m;
}

static void
rs_cb(void *arg)
{
    struct rs_worker *w = arg;
    struct ctl_resync *r = w->r;
    int rc = nng_aio_result(w->aio);
    nng_msg *m;

    if (rc == NNG_ECLOSED || rc == NNG_ECANCELED) {
        if (w->state == RS_SEND) {
            m = nng_aio_get_msg(w->aio);
            if (m != NULL) {
                nng_msg_free(m);
            }
        }
        return;
    }
    if (w->state == RS_SEND) {
        if (rc != 0) {
            nng_msg_free(nng_aio_get_msg(w->aio));
            atomic_fetch_add(&r->errors, 1);
            RAMP_LOG(RP_LOG_WARNING, "RAMP-RESYNC-SEND-FAIL", "err=\"%s\"",
                nng_strerror(rc));
        }
        rs_recv(w);
        return;
    }
    if (rc != 0) {
        /* A receive error other than close (too large is dropped by the
         * transport itself): keep serving. */
        atomic_fetch_add(&r->malformed, 1);
        RAMP_LOG(RP_LOG_WARNING, "RAMP-RESYNC-RECV-FAIL", "err=\"%s\"",
            nng_strerror(rc));
        rs_recv(w);
        return;
    }
    m = nng_aio_get_msg(w->aio);
    {
        nng_msg *rep = rs_handle(r, m);

        nng_msg_free(m);
        if (rep == NULL) {
            /* REP drops the request when the context receives again:
             * the agent's REQ times out and retries. */
            rs_recv(w);
            return;
        }
        w->state = RS_SEND;
        nng_aio_set_msg(w->aio, rep);
        nng_ctx_send(w->ctx, w->aio);
    }
}

ramp_err
ctl_resync_open(const struct ctl_resync_opts *o, struct ctl_store *st,
    const struct rp_keypair *kp, struct ctl_resync **out)
{
    struct ctl_resync *r;
    int rc;
    int started = 0;
    ramp_err rv = RAMP_OK;

    if (o == NULL || o->url == NULL || st == NULL || kp == NULL ||
        out == NULL || o->workers < 0) {
        return RAMP_EINVAL;
    }
    r = rp_calloc(1, sizeof(*r));
    if (r == NULL) {
        return RAMP_ENOMEM;
    }
    r->st = st;
    r->kp = kp;
    r->max_bytes = o->max_bytes != 0 ? o->max_bytes : RESYNC_MAX_BYTES_DEFAULT;
    r->nworkers = o->workers != 0 ? o->workers : RESYNC_WORKERS_DEFAULT;
    r->workers = rp_calloc((size_t) r->nworkers, sizeof(*r->workers));
    if (r->workers == NULL) {
        rp_free(r);
        return RAMP_ENOMEM;
    }
    rc = nng_rep0_open(&r->sock);
    if (rc != 0) {
        rp_free(r->workers);
        rp_free(r);
        return rc == NNG_ENOMEM ? RAMP_ENOMEM : RAMP_EIO;
    }
    /* A request is [1, since]: anything larger is hostile (DESIGN §10). */
    rc = nng_socket_set_size(r->sock, NNG_OPT_RECVMAXSZ, RP_RESYNC_REQ_MAX);
    for (int i = 0; rc == 0 && i < r->nworkers; i++) {
        struct rs_worker *w = &r->workers[i];

        w->r = r;
        rc = nng_aio_alloc(&w->aio, rs_cb, w);
        if (rc == 0) {
            rc = nng_ctx_open(&w->ctx, r->sock);
            if (rc != 0) {
                nng_aio_free(w->aio);
                w->aio = NULL;
            }
        }
        if (rc == 0) {
            started++;
        }
    }
    if (rc == 0) {
        rc = ctl_tls_listen(r->sock, o->url);
        if (rc != 0) {
            RAMP_LOG(RP_LOG_ERR, "RAMP-RESYNC-LISTEN-FAIL", "url=%s err=\"%s\"",
                o->url, nng_strerror(rc));
        }
    }
    if (rc != 0) {
        rv = rc == NNG_ENOMEM                             ? RAMP_ENOMEM
             : (rc == NNG_EADDRINVAL || rc == NNG_EINVAL) ? RAMP_EINVAL
                                                          : RAMP_EIO;
        nng_close(r->sock);
        for (int i = 0; i < started; i++) {
            nng_aio_free(r->workers[i].aio);
        }
        rp_free(r->workers);
        rp_free(r);
        return rv;
    }
    for (int i = 0; i < r->nworkers; i++) {
        rs_recv(&r->workers[i]);
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-RESYNC-LISTEN", "url=%s workers=%d", o->url,
        r->nworkers);
    *out = r;
    return RAMP_OK;
}

void
ctl_resync_close(struct ctl_resync *r)
{
    if (r == NULL) {
        return;
    }
    /* Closing the socket aborts every context's operation; stopping each
     * aio then waits for a callback that is still running. */
    nng_close(r->sock);
    for (int i = 0; i < r->nworkers; i++) {
        nng_aio_stop(r->workers[i].aio);
    }
    for (int i = 0; i < r->nworkers; i++) {
        nng_aio_free(r->workers[i].aio);
    }
    rp_free(r->workers);
    rp_free(r);
}

void
ctl_resync_stats(struct ctl_resync *r, struct ctl_resync_stats *out)
{
    out->log_replies = atomic_load(&r->log_replies);
    out->snapshot_replies = atomic_load(&r->snapshot_replies);
    out->malformed = atomic_load(&r->malformed);
    out->errors = atomic_load(&r->errors);
    out->seq_jumps = atomic_load(&r->seq_jumps);
    out->jumps_refused = atomic_load(&r->jumps_refused);
}
