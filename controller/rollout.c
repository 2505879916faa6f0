/* SPDX-License-Identifier: MIT */
/*
 * The rollout engine: checks, transitions, operator actions, and the
 * reads behind status, explain and metrics. What a transition is and why
 * is in rollout.h and docs/rollouts.md; the statistics are decide.c's.
 *
 * Why the store is the engine's only memory (no in-memory table of
 * rollouts): a transition must survive a crash at any instant, and the
 * one write transaction that publishes it is also where the evidence and
 * the check record go. Reading one small record per rollout per tick is
 * far cheaper than the fsync of the write it may lead to, and it leaves
 * nothing to reconcile at start.
 *
 * A transition's order is fixed: commit (rollout, evidence, check record
 * in one transaction), publish (ctl_pub_change sends in commit order),
 * then logs, health reset and events. A rollback is therefore on the
 * wire before anything else the engine does about it.
 */
#include "rollout.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "codec.h"
#include "json.h"
#include "log.h"
#include "mp.h"
#include "promtext.h"

#define ENG_NF 6           /* [id, stage, entered_ms, last_check_ms, verdict, acc] */
#define PROM_MAX 16        /* Prometheus results read per check */
#define REASON_MAX 512     /* history and check reasons, bytes */
#define EXPLAIN_DEFAULT 10

struct ctl_rollout_engine {
    struct ctl_store *st;
    struct ctl_pub *pub;
    struct ctl_health *health;
    struct ctl_events *events;
    struct ctl_prom *prom;
    ctl_window_fn window;
    ctl_window_reset_fn window_reset;
    void *window_arg;
    ctl_clock_fn clock;
    void *clock_arg;
    int64_t tick_ms;

    pthread_mutex_t mtx; /* one transition at a time (thread and API) */

    pthread_mutex_t stop_mtx; /* guards stop, for stop_cv */
    pthread_cond_t stop_cv;
    bool stop;
    bool started;
    pthread_t thread;

    pthread_mutex_t stats_mtx; /* guards stats and dur */
    struct ctl_rollout_stats stats;
    struct rp_hist dur; /* check duration, µs */
};

/* The engine's record of a flag's rollout (store: engine database). It
 * belongs to the stage (id, stage_index, stage_entered_ms) it was written
 * for; any other stage starts from a fresh one. */
struct eng_rec {
    uint64_t id;
    uint32_t stage_index;
    int64_t stage_entered_ms;
    int64_t last_check_ms; /* 0: no check yet in this stage */
    int64_t last_verdict;  /* enum rp_verdict, -1: none */
    struct rp_stage_acc acc;
};

/* ------------------------------------------------------------------ */
/* Small things                                                        */
/* ------------------------------------------------------------------ */

static int64_t
wall_ms(void *arg)
{
    struct timespec ts;

    (void) arg;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
engine_now(struct ctl_rollout_engine *e)
{
    return e->clock(e->clock_arg);
}

static void
health_window(void *arg, const char *flag, struct ctl_arm_sum *t,
    struct ctl_arm_sum *c)
{
    ctl_health_drain(arg, flag, t, c);
}

static void
health_window_reset(void *arg, const char *flag)
{
    ctl_health_reset(arg, flag);
}

static void
no_window(void *arg, const char *flag, struct ctl_arm_sum *t,
    struct ctl_arm_sum *c)
{
    (void) arg;
    (void) flag;
    memset(t, 0, sizeof(*t));
    memset(c, 0, sizeof(*c));
    rp_hist_init(&t->hist);
    rp_hist_init(&c->hist);
}

static void
no_window_reset(void *arg, const char *flag)
{
    (void) arg;
    (void) flag;
}

static bool
state_active(enum rp_rstate s)
{
    return s == RP_RS_PENDING || s == RP_RS_RUNNING || s == RP_RS_PAUSED ||
        s == RP_RS_HELD;
}

const char *
ctl_ract_name(enum ctl_ract a)
{
    static const char *const names[] = {
#define CTL_RACT_NAME(e, s) s,
        CTL_RACT_TABLE(CTL_RACT_NAME)
#undef CTL_RACT_NAME
    };
    return (unsigned) a < CTL_RACT_COUNT ? names[a] : "?";
}

ramp_err
ctl_ract_parse(const char *s, enum ctl_ract *out)
{
    for (unsigned i = 0; s != NULL && i < CTL_RACT_COUNT; i++) {
        if (strcmp(s, ctl_ract_name((enum ctl_ract) i)) == 0) {
            *out = (enum ctl_ract) i;
            return RAMP_OK;
        }
    }
    return RAMP_EINVAL;
}

static void
msgf(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
msgf(char *msg, size_t msgsz, const char *fmt, ...)
{
    va_list ap;

    if (msg == NULL || msgsz == 0) {
        return;
    }
    va_start(ap, fmt);
    (void) vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
}

/* Append a history entry, dropping the oldest beyond RP_MAX_HISTORY. */
static ramp_err
history_add(struct rp_rollout *r, int64_t ts, enum rp_rstate from,
    enum rp_rstate to, const char *reason)
{
    struct rp_history *h;
    char *text = rp_strdup(reason != NULL ? reason : "");

    if (text == NULL) {
        return RAMP_ENOMEM;
    }
    if (r->nhistory >= RP_MAX_HISTORY) {
        rp_free(r->history[0].reason);
        memmove(r->history, r->history + 1,
            (r->nhistory - 1) * sizeof(*r->history));
        r->nhistory--;
    } else {
        h = rp_realloc(r->history, (r->nhistory + 1) * sizeof(*h));
        if (h == NULL) {
            rp_free(text);
            return RAMP_ENOMEM;
        }
        r->history = h;
    }
    h = &r->history[r->nhistory++];
    h->ts_ms = ts;
    h->from = from;
    h->to = to;
    h->stage_index = r->stage_index;
    h->reason = text;
    return RAMP_OK;
}

/* ------------------------------------------------------------------ */
/* The engine record                                                   */
/* ------------------------------------------------------------------ */

static void
eng_fresh(struct eng_rec *rec, const struct rp_rollout *r)
{
    memset(rec, 0, sizeof(*rec));
    rec->id = r->id;
    rec->stage_index = r->stage_index;
    rec->stage_entered_ms = r->stage_entered_at_ms;
    rec->last_check_ms = 0;
    rec->last_verdict = -1;
    rp_stage_acc_init(&rec->acc);
}

static ramp_err
eng_encode(struct rp_buf *b, const struct eng_rec *rec)
{
    struct rp_buf acc;
    struct rp_pack pk;
    ramp_err rv;

    rp_buf_init(&acc, CTL_ENG_MAX);
    rv = rp_stage_acc_encode(&acc, &rec->acc);
    if (rv == RAMP_OK) {
        rp_buf_reset(b);
        rp_pack_init(&pk, b);
        rp_pack_array(&pk, ENG_NF);
        rp_pack_u64(&pk, rec->id);
        rp_pack_u64(&pk, rec->stage_index);
        rp_pack_i64(&pk, rec->stage_entered_ms);
        rp_pack_i64(&pk, rec->last_check_ms);
        rp_pack_i64(&pk, rec->last_verdict);
        rp_pack_bin(&pk, acc.data, acc.len);
        rv = pk.err;
    }
    rp_buf_fini(&acc);
    return rv;
}

/*
 * The record for r's current stage: the stored one when it belongs to
 * that stage, else a fresh one. A record that does not decode is logged
 * and replaced: the stage's evidence restarts, which is safe (no data
 * is never a pass).
 */
static void
eng_load(const struct rp_buf *b, const struct rp_rollout *r,
    struct eng_rec *rec)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    struct eng_rec got;
    size_t ne;
    ramp_err rv;

    eng_fresh(rec, r);
    if (b->len == 0) {
        return;
    }
    rv = rp_mp_unpack(b->data, b->len, CTL_ENG_MAX, &u);
    if (rv != RAMP_OK) {
        goto bad;
    }
    memset(&got, 0, sizeof(got));
    rv = rp_obj_array(&u.data, ENG_NF, ENG_NF, &e, &ne);
    if (rv == RAMP_OK) {
        rv = rp_obj_u64(&e[0], &got.id);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_u32(&e[1], &got.stage_index);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_i64(&e[2], &got.stage_entered_ms);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_i64(&e[3], &got.last_check_ms);
    }
    if (rv == RAMP_OK) {
        rv = rp_obj_i64(&e[4], &got.last_verdict);
    }
    if (rv == RAMP_OK && e[5].type != MSGPACK_OBJECT_BIN) {
        rv = RAMP_EPROTO;
    }
    if (rv == RAMP_OK && got.id == r->id &&
        got.stage_index == r->stage_index &&
        got.stage_entered_ms == r->stage_entered_at_ms) {
        rv = rp_stage_acc_decode((const uint8_t *) e[5].via.bin.ptr,
            e[5].via.bin.size, &got.acc);
        if (rv == RAMP_OK) {
            *rec = got;
        }
    }
    rp_mp_done(&u);
    if (rv == RAMP_OK) {
        return;
    }
bad:
    RAMP_LOG(RP_LOG_WARNING, "RAMP-ROLLOUT-ENG-BAD",
        "flag=%s err=%s why=\"engine record unreadable; stage evidence "
        "restarts\"",
        r->flag_key, ramp_errname(rv));
    eng_fresh(rec, r);
}

/* When r's next check is due: the first stage_entered + k * interval
 * after the last check (k >= 1). A check missed during downtime is due
 * at once, and only once. */
static int64_t
eng_due(const struct rp_rollout *r, const struct eng_rec *rec)
{
    int64_t iv = (int64_t) r->policy.check_interval_ms;
    int64_t base = r->stage_entered_at_ms;
    int64_t k;

    if (iv <= 0) {
        iv = 1;
    }
    if (rec->last_check_ms < base) {
        return base + iv;
    }
    k = (rec->last_check_ms - base) / iv + 1;
    return base + k * iv;
}

/* ------------------------------------------------------------------ */
/* JSON of a check and of per-arm figures                              */
/* ------------------------------------------------------------------ */

static json_t *
arm_json(uint64_t requests, uint64_t errors, uint64_t p95_us)
{
    return json_pack("{s:I, s:I, s:o, s:o}", "requests", (json_int_t) requests,
        "errors", (json_int_t) errors, "error_rate",
        requests > 0 ? json_real((double) errors / (double) requests)
                     : json_null(),
        "p95_ms",
        requests > 0 && p95_us > 0 ? json_real((double) p95_us / 1000.0)
                                   : json_null());
}

static json_t *
num_or_null(double v)
{
    return v == v && v - v == 0 ? json_real(v) : json_null(); /* finite */
}

static json_t *
check_json(int64_t now, uint32_t stage, const struct rp_check *c,
    enum rp_action act, const struct rp_window *w,
    const struct ctl_prom_result *pr, size_t npr, const char *reason)
{
    char at[RP_JSON_TIME_MAX];
    json_t *j, *ms, *ps;

    ms = json_array();
    ps = json_array();
    for (size_t i = 0; ms != NULL && i < c->nmetrics; i++) {
        const struct rp_metric *m = &c->metrics[i];

        json_array_append_new(ms,
            json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "name",
                m->name != NULL ? m->name : "?", "verdict",
                rp_verdict_name(m->verdict), "value", num_or_null(m->value),
                "lower", num_or_null(m->lower), "upper", num_or_null(m->upper),
                "limit", num_or_null(m->limit)));
    }
    for (size_t i = 0; ps != NULL && i < npr; i++) {
        json_array_append_new(ps,
            json_pack("{s:s, s:s, s:o, s:s, s:o, s:s}", "name", pr[i].name,
                "verdict", rp_verdict_name(pr[i].verdict), "value",
                num_or_null(pr[i].value), "op", pr[i].op, "threshold",
                num_or_null(pr[i].threshold), "detail", pr[i].detail));
    }
    j = json_pack("{s:s, s:i, s:s, s:s, s:o, s:o, s:{s:o, s:o}, s:o, s:o, s:s}",
        "at", rp_json_time(now, at), "stage_index", (int) stage, "verdict",
        rp_verdict_name(c->verdict), "action", rp_action_name(act),
        "treatment", arm_json(c->req_t, c->err_t, c->p95_t_us), "control",
        arm_json(c->req_c, c->err_c, c->p95_c_us), "window", "treatment",
        arm_json(w->t.requests, w->t.errors, 0), "control",
        arm_json(w->c.requests, w->c.errors, 0), "metrics",
        ms != NULL ? ms : json_array(), "prometheus",
        ps != NULL ? ps : json_array(), "reason", reason);
    return j;
}

static ramp_err
json_text(const json_t *j, struct rp_buf *b)
{
    char *s;
    ramp_err rv;

    if (j == NULL) {
        return RAMP_ENOMEM;
    }
    s = json_dumps(j, JSON_COMPACT);
    if (s == NULL) {
        return RAMP_ENOMEM;
    }
    rp_buf_reset(b);
    rv = rp_buf_append(b, s, strlen(s));
    free(s); /* jansson's allocator */
    return rv;
}

/* ------------------------------------------------------------------ */
/* Writing a transition                                                */
/* ------------------------------------------------------------------ */

struct write_arg {
    struct ctl_rollout_change ch;
    const char *actor;
    int64_t ts;
    uint64_t seq;
    struct rp_buf env2; /* the rollout's envelope after a flag's */
};

static ramp_err
write_first(void *arg, struct ctl_store *st, const struct rp_keypair *kp,
    struct rp_buf *env)
{
    struct write_arg *a = arg;

    rp_buf_reset(&a->env2);
    return ctl_store_rollout_change(
        st, kp, &a->ch, a->actor, a->ts, &a->seq, env, &a->env2);
}

static ramp_err
write_second(void *arg, struct ctl_store *st, const struct rp_keypair *kp,
    struct rp_buf *env)
{
    struct write_arg *a = arg;

    (void) st;
    (void) kp;
    return rp_buf_append(env, a->env2.data, a->env2.len);
}

/*
 * One store transaction for ch, published when it carries a change. A
 * completion commits two envelopes (the flag's, then the rollout's) in
 * one transaction; the publisher sends one per call, so the second goes
 * in a second call right after. Should another change slip between the
 * two, agents see a gap and resync (the log holds both): order on the
 * wire is a speed matter, never a correctness one.
 */
static ramp_err
engine_write(struct ctl_rollout_engine *e, struct ctl_rollout_change *ch,
    const char *actor, int64_t ts)
{
    struct write_arg a;
    ramp_err rv;

    memset(&a, 0, sizeof(a));
    a.ch = *ch;
    a.actor = actor;
    a.ts = ts;
    rp_buf_init(&a.env2, RP_ENV_MAX);
    if (ch->r == NULL && ch->flag_default == NULL) {
        /* Nothing to publish: no seq, no publisher lock. */
        rv = ctl_store_rollout_change(
            e->st, NULL, &a.ch, actor, ts, NULL, NULL, NULL);
    } else {
        rv = ctl_pub_change(e->pub, write_first, &a);
        if (rv == RAMP_OK && a.env2.len > 0) {
            (void) ctl_pub_change(e->pub, write_second, &a);
        }
    }
    rp_buf_fini(&a.env2);
    return rv;
}

static void
engine_emit(struct ctl_rollout_engine *e, enum ctl_event_kind kind,
    const struct rp_rollout *r, enum rp_rstate from, const char *actor,
    const char *reason, int64_t ts, const json_t *check)
{
    struct ctl_event ev;
    struct rp_rollout_view v;
    struct rp_flag *f = NULL;

    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.flag = r->flag_key;
    ev.rollout_id = r->id;
    ev.from = from;
    ev.to = r->state;
    ev.stage_index = r->stage_index;
    ev.stage_bp = r->stages_bp[r->stage_index];
    if (ctl_store_flag_get(e->st, r->flag_key, &f) == RAMP_OK &&
        rp_rollout_view(r, f, &v) == RAMP_OK) {
        ev.stage_bp = v.applies ? v.stage_bp : 0;
        ev.flag_version = f->version;
    } else if (r->state != RP_RS_RUNNING && r->state != RP_RS_PAUSED &&
        r->state != RP_RS_HELD) {
        ev.stage_bp = 0;
    }
    rp_flag_free(f);
    ev.actor = actor;
    ev.reason = reason;
    ev.ts_ms = ts;
    ev.check = check;
    ctl_events_emit(e->events, &ev);
}

static void
stats_transition(struct ctl_rollout_engine *e, bool rollback, int64_t us)
{
    pthread_mutex_lock(&e->stats_mtx);
    e->stats.transitions++;
    if (rollback) {
        e->stats.rollbacks++;
        e->stats.last_rollback_us = us;
    }
    pthread_mutex_unlock(&e->stats_mtx);
}

/* ------------------------------------------------------------------ */
/* A check                                                             */
/* ------------------------------------------------------------------ */

/* Fold Prometheus results into the verdict: a failing query is a failing
 * check; one without data keeps a check from passing. The guardrail's
 * CRITICAL stands. */
static void
check_prom(struct rp_check *c, const struct ctl_prom_result *pr, size_t n,
    char *note, size_t notesz)
{
    bool fail = false, nodata = false;
    size_t off = 0;

    note[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int k = 0;

        if (pr[i].verdict == RP_VERDICT_FAIL) {
            fail = true;
            k = snprintf(note + off, notesz - off,
                "; prometheus %s failed: %g %s %g", pr[i].name, pr[i].value,
                pr[i].op, pr[i].threshold);
        } else if (pr[i].verdict != RP_VERDICT_PASS) {
            nodata = true;
            k = snprintf(note + off, notesz - off,
                "; prometheus %s has no data", pr[i].name);
        }
        if (k > 0 && (size_t) k < notesz - off) {
            off += (size_t) k;
        }
    }
    if (fail && c->verdict != RP_VERDICT_CRITICAL) {
        c->verdict = RP_VERDICT_FAIL;
    } else if (nodata && c->verdict == RP_VERDICT_PASS) {
        c->verdict = RP_VERDICT_INCONCLUSIVE;
    }
}

/*
 * Run flag's check if it is due at now. Under the engine lock from the
 * read to the publish, so no operator action interleaves. Returns true
 * when a check ran.
 */
static bool
engine_check(struct ctl_rollout_engine *e, const char *flag, int64_t now)
{
    struct rp_rollout *r = NULL, *n = NULL;
    struct eng_rec *rec = NULL;
    struct ctl_arm_sum *ts = NULL, *cs = NULL;
    struct ctl_prom_result pr[PROM_MAX];
    struct ctl_rollout_change ch;
    struct rp_window w;
    struct rp_check chk;
    struct rp_buf engb, checkb;
    enum rp_action act;
    enum rp_rstate from;
    enum ctl_event_kind kind = CTL_EV_COUNT;
    json_t *cj = NULL;
    char note[REASON_MAX], reason[REASON_MAX], hist[REASON_MAX] = "";
    const char *audit = NULL;
    int64_t t0, us = 0;
    size_t npr;
    bool ran = false;
    ramp_err rv;

    rp_buf_init(&engb, CTL_ENG_MAX);
    rp_buf_init(&checkb, CTL_CHECK_MAX);
    rec = rp_alloc(sizeof(*rec));
    ts = rp_alloc(sizeof(*ts));
    cs = rp_alloc(sizeof(*cs));
    if (rec == NULL || ts == NULL || cs == NULL) {
        rv = RAMP_ENOMEM;
        goto fail;
    }
    pthread_mutex_lock(&e->mtx);
    rv = ctl_store_rollout_state(e->st, flag, &r, &engb);
    if (rv != RAMP_OK ||
        (r->state != RP_RS_RUNNING && r->state != RP_RS_HELD)) {
        rv = rv == RAMP_ENOTFOUND ? RAMP_OK : rv;
        goto unlock;
    }
    eng_load(&engb, r, rec);
    if (now < eng_due(r, rec)) {
        goto unlock;
    }
    ran = true;
    t0 = mono_us();

    e->window(e->window_arg, flag, ts, cs);
    memset(&w, 0, sizeof(w));
    /* At 100% every unit is in the treatment: no control arm to compare. */
    w.treatment_only = r->stages_bp[r->stage_index] >= RP_BP_TOTAL;
    w.t.requests = ts->successes + ts->errors;
    w.t.errors = ts->errors;
    w.t.hist = &ts->hist;
    w.c.requests = cs->successes + cs->errors;
    w.c.errors = cs->errors;
    w.c.hist = &cs->hist;
    rp_decide_check(&r->policy, &rec->acc, &w, &chk);
    npr = ctl_prom_check(e->prom, r, pr, PROM_MAX);
    check_prom(&chk, pr, npr, note, sizeof(note));
    act = rp_decide_action(&r->policy, &rec->acc, &chk,
        now - r->stage_entered_at_ms, r->stage_index, (uint32_t) r->nstages);
    msgf(reason, sizeof(reason), "%s%s", chk.reason, note);

    if (act == RP_ACT_ADVANCE || act == RP_ACT_COMPLETE) {
        enum ctl_gate g = ctl_events_gate(
            e->events, flag, r->id, r->stage_index + 1);

        if (g == CTL_GATE_PENDING) {
            act = RP_ACT_EXTEND;
            msgf(reason, sizeof(reason), "%s%s; gate pending",
                chk.reason, note);
        } else if (g == CTL_GATE_CLOSED) {
            act = RP_ACT_HOLD;
            msgf(reason, sizeof(reason), "%s%s; gate closed",
                chk.reason, note);
        }
    }
    rec->last_check_ms = now;
    rec->last_verdict = chk.verdict;

    memset(&ch, 0, sizeof(ch));
    ch.flag = flag;
    from = r->state;
    switch (act) {
    case RP_ACT_HOLD:
        if (r->state == RP_RS_HELD) {
            break; /* still held: no transition, no event */
        }
        /* fall through */
    case RP_ACT_ADVANCE:
    case RP_ACT_COMPLETE:
    case RP_ACT_ROLLBACK:
        rv = rp_rollout_dup(r, &n);
        if (rv != RAMP_OK) {
            goto unlock;
        }
        ch.r = n;
        ch.expect_version = r->version;
        break;
    default:
        break;
    }
    if (n != NULL) {
        switch (act) {
        case RP_ACT_HOLD:
            n->state = RP_RS_HELD;
            audit = "rollout.hold";
            kind = CTL_EV_HELD;
            msgf(hist, sizeof(hist), "held at stage %u (%g%%): %s",
                (unsigned) r->stage_index + 1,
                r->stages_bp[r->stage_index] / 100.0, reason);
            break;
        case RP_ACT_ADVANCE:
            n->state = RP_RS_RUNNING;
            n->stage_index = r->stage_index + 1;
            n->stage_entered_at_ms = now;
            audit = "rollout.advance";
            kind = CTL_EV_ADVANCED;
            msgf(hist, sizeof(hist), "stage %u (%g%%) healthy: %s",
                (unsigned) r->stage_index + 1,
                r->stages_bp[r->stage_index] / 100.0, reason);
            break;
        case RP_ACT_COMPLETE:
            n->state = RP_RS_COMPLETED;
            ch.flag_default = n->treatment;
            audit = "rollout.complete";
            kind = CTL_EV_COMPLETED;
            msgf(hist, sizeof(hist),
                "last stage healthy, %s is the default: %s", n->treatment,
                reason);
            break;
        default: /* RP_ACT_ROLLBACK */
            n->state = RP_RS_ROLLED_BACK;
            audit = "rollout.rollback";
            kind = CTL_EV_ROLLED_BACK;
            msgf(hist, sizeof(hist), "rolled back at stage %u (%g%%): %s",
                (unsigned) r->stage_index + 1,
                r->stages_bp[r->stage_index] / 100.0, reason);
            break;
        }
        ch.action = audit;
        rv = history_add(n, now, from, n->state, hist);
        if (rv != RAMP_OK) {
            goto unlock;
        }
    }
    cj = check_json(now, r->stage_index, &chk, act, &w, pr, npr, reason);
    rv = json_text(cj, &checkb);
    if (rv != RAMP_OK) {
        goto unlock;
    }
    ch.check = checkb.data;
    ch.check_len = checkb.len;
    if (n != NULL && n->stage_index != r->stage_index) {
        eng_fresh(rec, n); /* the new stage's evidence starts empty */
    }
    rv = eng_encode(&engb, rec);
    if (rv != RAMP_OK) {
        goto unlock;
    }
    ch.eng = engb.data;
    ch.eng_len = engb.len;
    rv = engine_write(e, &ch, "engine", now);
    if (rv != RAMP_OK) {
        goto unlock;
    }
    /* Committed and on the wire. Everything else comes after. */
    us = mono_us() - t0;
    if (act == RP_ACT_ROLLBACK) {
        RAMP_LOG(RP_LOG_WARNING, "RAMP-ROLLOUT-ROLLBACK",
            "flag=%s id=%" PRIu64 " stage=%u publish_us=%" PRId64
            " reason=\"%s\"",
            flag, r->id, (unsigned) r->stage_index, us, reason);
    }
    if (n != NULL) {
        if (act != RP_ACT_ROLLBACK) {
            RAMP_LOG(RP_LOG_NOTICE, "RAMP-ROLLOUT-TRANSITION",
                "flag=%s id=%" PRIu64 " action=%s from=%s to=%s stage=%u "
                "reason=\"%s\"",
                flag, r->id, rp_action_name(act), rp_rstate_name(from),
                rp_rstate_name(n->state), (unsigned) n->stage_index, reason);
        }
        if (n->stage_index != r->stage_index) {
            e->window_reset(e->window_arg, flag);
        }
        stats_transition(e, act == RP_ACT_ROLLBACK, us);
        engine_emit(e, kind, n, from, "engine", hist, now, cj);
    } else {
        RAMP_LOG(RP_LOG_DEBUG, "RAMP-ROLLOUT-CHECK",
            "flag=%s stage=%u verdict=%s action=%s reason=\"%s\"", flag,
            (unsigned) r->stage_index, rp_verdict_name(chk.verdict),
            rp_action_name(act), reason);
    }
    pthread_mutex_lock(&e->stats_mtx);
    e->stats.checks[chk.verdict <= RP_VERDICT_CRITICAL ? chk.verdict : 0]++;
    rp_hist_record(&e->dur, (uint64_t) (mono_us() - t0));
    pthread_mutex_unlock(&e->stats_mtx);

unlock:
    pthread_mutex_unlock(&e->mtx);
fail:
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-ROLLOUT-CHECK-FAIL", "flag=%s err=%s", flag,
            ramp_errname(rv));
        pthread_mutex_lock(&e->stats_mtx);
        e->stats.errors++;
        pthread_mutex_unlock(&e->stats_mtx);
    }
    json_decref(cj);
    rp_rollout_free(r);
    rp_rollout_free(n);
    rp_free(rec);
    rp_free(ts);
    rp_free(cs);
    rp_buf_fini(&engb);
    rp_buf_fini(&checkb);
    return ran;
}

size_t
ctl_rollout_tick(struct ctl_rollout_engine *e, int64_t now_ms)
{
    struct ctl_rollout_list l;
    char after[RP_KEY_MAX + 1] = "";
    size_t ran = 0;
    ramp_err rv;

    for (;;) {
        rv = ctl_store_rollout_list(
            e->st, NULL, after[0] != '\0' ? after : NULL, CTL_LIST_MAX, &l);
        if (rv != RAMP_OK) {
            RAMP_LOG(RP_LOG_ERR, "RAMP-ROLLOUT-LIST-FAIL", "err=%s",
                ramp_errname(rv));
            return ran;
        }
        for (size_t i = 0; i < l.n; i++) {
            const struct rp_rollout *r = l.rollouts[i];

            if (r->state == RP_RS_RUNNING || r->state == RP_RS_HELD) {
                ran += engine_check(e, r->flag_key, now_ms) ? 1 : 0;
            }
        }
        if (l.n > 0) {
            snprintf(after, sizeof(after), "%s", l.rollouts[l.n - 1]->flag_key);
        }
        if (!l.more) {
            ctl_store_rollout_list_fini(&l);
            return ran;
        }
        ctl_store_rollout_list_fini(&l);
    }
}

/* ------------------------------------------------------------------ */
/* Operator actions                                                    */
/* ------------------------------------------------------------------ */

static void
reason_text(char *out, size_t outsz, const char *what, const char *actor,
    const char *reason)
{
    msgf(out, outsz, "%s by %s%s%s", what,
        actor != NULL && actor[0] != '\0' ? actor : "(no token)",
        reason != NULL && reason[0] != '\0' ? ": " : "",
        reason != NULL ? reason : "");
}

ramp_err
ctl_rollout_start(struct ctl_rollout_engine *e, const struct rp_rollout *r,
    const char *actor, const char *reason, struct rp_rollout **out,
    char *field, size_t fieldsz, char *msg, size_t msgsz)
{
    struct rp_flag *f = NULL;
    struct rp_rollout *old = NULL, *n = NULL;
    struct ctl_rollout_change ch;
    char text[REASON_MAX];
    int64_t now;
    ramp_err rv;

    if (field != NULL && fieldsz > 0) {
        field[0] = '\0';
    }
    msgf(msg, msgsz, "%s", "");
    if (e == NULL || r == NULL || r->flag_key == NULL) {
        return RAMP_EINVAL;
    }
    pthread_mutex_lock(&e->mtx);
    now = engine_now(e);
    rv = ctl_store_flag_get(e->st, r->flag_key, &f);
    if (rv == RAMP_ENOTFOUND) {
        msgf(msg, msgsz, "no flag '%s'", r->flag_key);
        if (field != NULL && fieldsz > 0) {
            snprintf(field, fieldsz, "flag");
        }
        goto out;
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    if (rp_flag_variant_index(f, r->treatment) < 0 ||
        rp_flag_variant_index(f, r->control) < 0) {
        bool t = rp_flag_variant_index(f, r->treatment) < 0;

        msgf(msg, msgsz, "flag '%s' has no variant '%s'", r->flag_key,
            t ? r->treatment : r->control);
        if (field != NULL && fieldsz > 0) {
            snprintf(field, fieldsz, "%s", t ? "treatment" : "control");
        }
        rv = RAMP_EINVAL;
        goto out;
    }
    rv = ctl_store_rollout_get(e->st, r->flag_key, &old);
    if (rv == RAMP_OK && state_active(old->state)) {
        msgf(msg, msgsz, "flag '%s' has an active rollout (%s)", r->flag_key,
            rp_rstate_name(old->state));
        rv = RAMP_ECONFLICT;
        goto out;
    }
    if (rv != RAMP_OK && rv != RAMP_ENOTFOUND) {
        goto out;
    }
    rv = rp_rollout_dup(r, &n);
    if (rv != RAMP_OK) {
        goto out;
    }
    for (size_t i = 0; i < n->nhistory; i++) {
        rp_free(n->history[i].reason);
    }
    rp_free(n->history);
    n->history = NULL;
    n->nhistory = 0;
    n->id = 0;
    n->version = 0;
    n->state = RP_RS_RUNNING;
    n->stage_index = 0;
    n->created_at_ms = now;
    n->stage_entered_at_ms = now;
    reason_text(text, sizeof(text), "started", actor, reason);
    rv = history_add(n, now, RP_RS_PENDING, RP_RS_RUNNING, text);
    if (rv != RAMP_OK) {
        goto out;
    }
    memset(&ch, 0, sizeof(ch));
    ch.flag = n->flag_key;
    ch.r = n;
    ch.expect_version = old != NULL ? old->version : 0;
    ch.replace = old != NULL;
    ch.action = "rollout.start";
    /* No engine record: the stored one (of a replaced rollout) names
     * another id, so the new rollout's first stage starts fresh. */
    rv = engine_write(e, &ch, actor, now);
    if (rv == RAMP_EINVAL) {
        msgf(msg, msgsz, "invalid rollout for flag '%s'", r->flag_key);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    e->window_reset(e->window_arg, n->flag_key);
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-ROLLOUT-START",
        "flag=%s id=%" PRIu64 " treatment=%s control=%s stages=%zu actor=%s",
        n->flag_key, n->id, n->treatment, n->control, n->nstages,
        actor != NULL ? actor : "");
    stats_transition(e, false, 0);
    engine_emit(e, CTL_EV_STARTED, n, RP_RS_PENDING, actor, text, now, NULL);
    if (out != NULL) {
        *out = n;
        n = NULL;
    }

out:
    pthread_mutex_unlock(&e->mtx);
    rp_flag_free(f);
    rp_rollout_free(old);
    rp_rollout_free(n);
    return rv;
}

static bool
act_allowed(enum ctl_ract a, enum rp_rstate s)
{
    switch (a) {
    case CTL_RACT_PAUSE:
        return s == RP_RS_RUNNING || s == RP_RS_HELD;
    case CTL_RACT_RESUME:
        return s == RP_RS_PAUSED || s == RP_RS_HELD;
    case CTL_RACT_PROMOTE:
    case CTL_RACT_ABORT:
        return s == RP_RS_RUNNING || s == RP_RS_PAUSED || s == RP_RS_HELD;
    case CTL_RACT_RETRY:
        return s == RP_RS_ROLLED_BACK || s == RP_RS_ABORTED;
    default:
        return false;
    }
}

ramp_err
ctl_rollout_act(struct ctl_rollout_engine *e, const char *flag,
    enum ctl_ract action, const char *actor, const char *reason,
    struct rp_rollout **out, char *msg, size_t msgsz)
{
    static const enum ctl_event_kind kinds[CTL_RACT_COUNT] = {
        CTL_EV_PAUSED, CTL_EV_RESUMED, CTL_EV_PROMOTED, CTL_EV_ABORTED,
        CTL_EV_RETRIED};
    struct rp_rollout *r = NULL, *n = NULL;
    struct ctl_rollout_change ch;
    struct eng_rec *rec = NULL;
    struct rp_buf engb;
    char text[REASON_MAX], audit[32];
    enum ctl_event_kind kind;
    int64_t now;
    bool fresh = false;
    ramp_err rv;

    msgf(msg, msgsz, "%s", "");
    if (e == NULL || flag == NULL || (unsigned) action >= CTL_RACT_COUNT) {
        return RAMP_EINVAL;
    }
    kind = kinds[action];
    rp_buf_init(&engb, CTL_ENG_MAX);
    rec = rp_alloc(sizeof(*rec));
    if (rec == NULL) {
        rp_buf_fini(&engb);
        return RAMP_ENOMEM;
    }
    pthread_mutex_lock(&e->mtx);
    now = engine_now(e);
    rv = ctl_store_rollout_get(e->st, flag, &r);
    if (rv == RAMP_ENOTFOUND) {
        msgf(msg, msgsz, "flag '%s' has no rollout", flag);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    if (!act_allowed(action, r->state)) {
        msgf(msg, msgsz, "cannot %s a rollout that is %s",
            ctl_ract_name(action), rp_rstate_name(r->state));
        rv = RAMP_ECONFLICT;
        goto out;
    }
    rv = rp_rollout_dup(r, &n);
    if (rv != RAMP_OK) {
        goto out;
    }
    memset(&ch, 0, sizeof(ch));
    switch (action) {
    case CTL_RACT_PAUSE:
        n->state = RP_RS_PAUSED;
        reason_text(text, sizeof(text), "paused", actor, reason);
        break;
    case CTL_RACT_RESUME:
        /* The bake starts again: a stage is judged on what it served
         * while running, and a held stage gets a new max_stage. */
        n->state = RP_RS_RUNNING;
        n->stage_entered_at_ms = now;
        fresh = true;
        reason_text(text, sizeof(text), "resumed", actor, reason);
        break;
    case CTL_RACT_PROMOTE:
        if (r->stage_index + 1 < r->nstages) {
            n->state = RP_RS_RUNNING;
            n->stage_index = r->stage_index + 1;
            n->stage_entered_at_ms = now;
            fresh = true;
            reason_text(text, sizeof(text), "promoted", actor, reason);
        } else {
            n->state = RP_RS_COMPLETED;
            ch.flag_default = n->treatment;
            kind = CTL_EV_COMPLETED;
            reason_text(text, sizeof(text), "promoted to completion", actor,
                reason);
        }
        break;
    case CTL_RACT_ABORT:
        n->state = RP_RS_ABORTED;
        reason_text(text, sizeof(text), "aborted", actor, reason);
        break;
    default: /* CTL_RACT_RETRY */
        n->state = RP_RS_RUNNING;
        n->stage_index = 0;
        n->stage_entered_at_ms = now;
        fresh = true;
        reason_text(text, sizeof(text), "retried", actor, reason);
        break;
    }
    rv = history_add(n, now, r->state, n->state, text);
    if (rv != RAMP_OK) {
        goto out;
    }
    (void) snprintf(audit, sizeof(audit), "rollout.%s", ctl_ract_name(action));
    ch.flag = flag;
    ch.r = n;
    ch.expect_version = r->version;
    ch.action = audit;
    if (fresh) {
        eng_fresh(rec, n);
        rv = eng_encode(&engb, rec);
        if (rv != RAMP_OK) {
            goto out;
        }
        ch.eng = engb.data;
        ch.eng_len = engb.len;
    }
    rv = engine_write(e, &ch, actor, now);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (fresh) {
        e->window_reset(e->window_arg, flag);
    }
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-ROLLOUT-ACTION",
        "flag=%s id=%" PRIu64 " action=%s from=%s to=%s stage=%u actor=%s",
        flag, n->id, ctl_ract_name(action), rp_rstate_name(r->state),
        rp_rstate_name(n->state), (unsigned) n->stage_index,
        actor != NULL ? actor : "");
    stats_transition(e, false, 0);
    engine_emit(e, kind, n, r->state, actor, text, now, NULL);
    if (out != NULL) {
        *out = n;
        n = NULL;
    }

out:
    pthread_mutex_unlock(&e->mtx);
    rp_rollout_free(r);
    rp_rollout_free(n);
    rp_free(rec);
    rp_buf_fini(&engb);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Reads: status, explain                                              */
/* ------------------------------------------------------------------ */

ramp_err
ctl_rollout_status_json(
    struct ctl_rollout_engine *e, const char *flag, json_t **out)
{
    struct rp_rollout *r = NULL;
    struct eng_rec *rec = NULL;
    struct rp_buf engb;
    json_t *j = NULL, *s = NULL;
    int64_t now, age, left;
    bool live;
    ramp_err rv;

    *out = NULL;
    rp_buf_init(&engb, CTL_ENG_MAX);
    rec = rp_alloc(sizeof(*rec));
    if (rec == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    rv = ctl_store_rollout_state(e->st, flag, &r, &engb);
    if (rv != RAMP_OK) {
        goto out;
    }
    eng_load(&engb, r, rec);
    now = engine_now(e);
    live = r->state == RP_RS_RUNNING || r->state == RP_RS_HELD;
    age = now - r->stage_entered_at_ms;
    age = age < 0 ? 0 : age;
    left = (int64_t) r->policy.bake_ms - age;
    left = left < 0 ? 0 : left;
    j = rp_rollout_to_json(r);
    s = json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o}", "stage_percent",
        json_real((double) r->stages_bp[r->stage_index] / 100.0), "bake_ms",
        (json_int_t) r->policy.bake_ms, "bake_left_ms",
        live ? json_integer(left) : json_null(), "stage_age_ms",
        state_active(r->state) ? json_integer(age) : json_null(),
        "next_check_in_ms",
        live ? json_integer(eng_due(r, rec) - now > 0 ? eng_due(r, rec) - now
                                                      : 0)
             : json_null(),
        "verdict",
        rec->last_verdict >= 0
            ? json_string(rp_verdict_name((enum rp_verdict) rec->last_verdict))
            : json_null(),
        "treatment",
        arm_json(rec->acc.t.requests, rec->acc.t.errors, rec->acc.p95_t_us),
        "control",
        arm_json(rec->acc.c.requests, rec->acc.c.errors, rec->acc.p95_c_us));
    if (j == NULL || s == NULL || json_object_set_new(j, "status", s) != 0) {
        json_decref(s);
        json_decref(j);
        rv = RAMP_ENOMEM;
        goto out;
    }
    *out = j;

out:
    rp_rollout_free(r);
    rp_free(rec);
    rp_buf_fini(&engb);
    return rv;
}

ramp_err
ctl_rollout_explain_json(struct ctl_rollout_engine *e, const char *flag,
    size_t limit, json_t **out)
{
    struct rp_rollout *r = NULL;
    struct ctl_blob_list l;
    json_t *j = NULL, *a;
    ramp_err rv;

    *out = NULL;
    memset(&l, 0, sizeof(l));
    rv = ctl_store_rollout_get(e->st, flag, &r);
    if (rv == RAMP_OK) {
        rv = ctl_store_checks_list(
            e->st, flag, limit != 0 ? limit : EXPLAIN_DEFAULT, &l);
    }
    if (rv != RAMP_OK) {
        goto out;
    }
    a = json_array();
    j = json_pack("{s:s, s:s, s:i, s:o}", "flag", flag, "state",
        rp_rstate_name(r->state), "stage_index", (int) r->stage_index,
        "checks", a != NULL ? a : json_array());
    if (j == NULL || a == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        json_t *c = json_loadb((const char *) l.data[i], l.lens[i], 0, NULL);

        if (c == NULL) {
            /* A record we cannot read is left out, not fatal. */
            RAMP_LOG(RP_LOG_WARNING, "RAMP-ROLLOUT-CHECK-BAD", "flag=%s",
                flag);
            continue;
        }
        json_array_append_new(a, c);
    }
    *out = j;
    j = NULL;

out:
    json_decref(j);
    rp_rollout_free(r);
    ctl_store_blob_list_fini(&l);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Metrics                                                             */
/* ------------------------------------------------------------------ */

static ramp_err
metrics_render(struct ctl_rollout_engine *e, struct rp_buf *b)
{
    struct ctl_rollout_stats s;
    struct rp_hist *dur = NULL;
    struct ctl_rollout_list l;
    struct rp_buf stage, pct;
    uint64_t by_state[RP_RSTATE_COUNT] = {0};
    char after[RP_KEY_MAX + 1] = "";
    ramp_err rv;

    rp_buf_init(&stage, b->max);
    rp_buf_init(&pct, b->max);
    dur = rp_alloc(sizeof(*dur));
    if (dur == NULL) {
        rv = RAMP_ENOMEM;
        goto out;
    }
    pthread_mutex_lock(&e->stats_mtx);
    s = e->stats;
    *dur = e->dur;
    pthread_mutex_unlock(&e->stats_mtx);

    /* One pass over the rollouts: counts by state, and the stage of each
     * active one (finished rollouts get no series: bounded cardinality). */
    for (;;) {
        rv = ctl_store_rollout_list(
            e->st, NULL, after[0] != '\0' ? after : NULL, CTL_LIST_MAX, &l);
        if (rv != RAMP_OK) {
            goto out;
        }
        for (size_t i = 0; rv == RAMP_OK && i < l.n; i++) {
            const struct rp_rollout *r = l.rollouts[i];
            struct rp_prom_label lab = {"flag", r->flag_key};

            if ((unsigned) r->state < RP_RSTATE_COUNT) {
                by_state[r->state]++;
            }
            if (!state_active(r->state)) {
                continue;
            }
            rv = rp_prom_sample(&stage, "ramp_ctl_rollout_stage", &lab, 1,
                (double) r->stage_index);
            if (rv == RAMP_OK) {
                rv = rp_prom_sample(&pct, "ramp_ctl_rollout_stage_percent", &lab,
                    1, (double) r->stages_bp[r->stage_index] / 100.0);
            }
        }
        if (l.n > 0) {
            snprintf(after, sizeof(after), "%s", l.rollouts[l.n - 1]->flag_key);
        }
        if (rv != RAMP_OK || !l.more) {
            ctl_store_rollout_list_fini(&l);
            break;
        }
        ctl_store_rollout_list_fini(&l);
    }
    if (rv != RAMP_OK) {
        goto out;
    }

    rv = rp_prom_family(b, "ramp_ctl_rollouts", RP_PROM_GAUGE,
        "Rollouts by state.");
    for (unsigned i = 0; rv == RAMP_OK && i < RP_RSTATE_COUNT; i++) {
        struct rp_prom_label lab = {"state", rp_rstate_name(i)};

        rv = rp_prom_sample_u64(b, "ramp_ctl_rollouts", &lab, 1, by_state[i]);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(b, "ramp_ctl_rollout_stage", RP_PROM_GAUGE,
            "Current stage index of each active rollout.");
    }
    if (rv == RAMP_OK) {
        rv = rp_buf_append(b, stage.data, stage.len);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(b, "ramp_ctl_rollout_stage_percent", RP_PROM_GAUGE,
            "Share of units in the treatment at the current stage, percent.");
    }
    if (rv == RAMP_OK) {
        rv = rp_buf_append(b, pct.data, pct.len);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(b, "ramp_ctl_rollout_checks_total", RP_PROM_COUNTER,
            "Health checks run, by verdict.");
    }
    for (unsigned i = 0; rv == RAMP_OK && i <= RP_VERDICT_CRITICAL; i++) {
        struct rp_prom_label lab = {"verdict", rp_verdict_name(i)};

        rv = rp_prom_sample_u64(
            b, "ramp_ctl_rollout_checks_total", &lab, 1, s.checks[i]);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(b, "ramp_ctl_rollout_rollbacks_total",
            "Rollouts rolled back by the engine.", s.rollbacks);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_counter(b, "ramp_ctl_rollout_check_errors_total",
            "Checks that could not be stored or published.", s.errors);
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_family(b, "ramp_ctl_rollout_check_duration_seconds",
            RP_PROM_HISTOGRAM,
            "Time of one check, from its start to its commit and publish.");
    }
    if (rv == RAMP_OK) {
        rv = rp_prom_hist_seconds(b, "ramp_ctl_rollout_check_duration_seconds",
            NULL, 0, dur, rp_prom_latency_bounds, rp_prom_latency_nbounds);
    }

out:
    rp_free(dur);
    rp_buf_fini(&stage);
    rp_buf_fini(&pct);
    return rv;
}

ramp_err
ctl_rollout_metrics(struct ctl_rollout_engine *e, struct rp_buf *out)
{
    size_t start;
    ramp_err rv;

    if (e == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    start = out->len;
    rv = metrics_render(e, out);
    if (rv != RAMP_OK) {
        out->len = start; /* untouched on error, as promtext promises */
    }
    return rv;
}

ramp_err
ctl_rollout_metrics_hook(void *arg, struct rp_buf *out)
{
    return ctl_rollout_metrics(arg, out);
}

void
ctl_rollout_stats(struct ctl_rollout_engine *e, struct ctl_rollout_stats *out)
{
    pthread_mutex_lock(&e->stats_mtx);
    *out = e->stats;
    pthread_mutex_unlock(&e->stats_mtx);
}

struct ctl_health *
ctl_rollout_health(struct ctl_rollout_engine *e)
{
    return e->health;
}

struct ctl_store *
ctl_rollout_store(struct ctl_rollout_engine *e)
{
    return e->st;
}

int64_t
ctl_rollout_now(struct ctl_rollout_engine *e)
{
    return engine_now(e);
}

/* ------------------------------------------------------------------ */
/* Thread, open, close                                                 */
/* ------------------------------------------------------------------ */

static void *
engine_thread(void *arg)
{
    struct ctl_rollout_engine *e = arg;
    struct timespec dl;

    pthread_mutex_lock(&e->stop_mtx);
    while (!e->stop) {
        pthread_mutex_unlock(&e->stop_mtx);
        (void) ctl_rollout_tick(e, engine_now(e));
        pthread_mutex_lock(&e->stop_mtx);
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += e->tick_ms / 1000;
        dl.tv_nsec += (e->tick_ms % 1000) * 1000000;
        if (dl.tv_nsec >= 1000000000) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000;
        }
        while (!e->stop &&
            pthread_cond_timedwait(&e->stop_cv, &e->stop_mtx, &dl) == 0) {
        }
    }
    pthread_mutex_unlock(&e->stop_mtx);
    return NULL;
}

ramp_err
ctl_rollout_open(
    const struct ctl_rollout_opts *o, struct ctl_rollout_engine **out)
{
    struct ctl_rollout_engine *e;
    pthread_condattr_t ca;

    if (o == NULL || o->store == NULL || o->pub == NULL || out == NULL ||
        o->tick_ms < 0) {
        return RAMP_EINVAL;
    }
    e = rp_calloc(1, sizeof(*e));
    if (e == NULL) {
        return RAMP_ENOMEM;
    }
    e->st = o->store;
    e->pub = o->pub;
    e->health = o->health;
    e->events = o->events;
    e->prom = o->prom;
    e->tick_ms = o->tick_ms;
    if (o->window != NULL) {
        e->window = o->window;
        e->window_reset = o->window_reset != NULL ? o->window_reset
                                                  : no_window_reset;
        e->window_arg = o->window_arg;
    } else if (o->health != NULL) {
        e->window = health_window;
        e->window_reset = health_window_reset;
        e->window_arg = o->health;
    } else {
        e->window = no_window;
        e->window_reset = no_window_reset;
    }
    e->clock = o->clock != NULL ? o->clock : wall_ms;
    e->clock_arg = o->clock_arg;
    rp_hist_init(&e->dur);
    pthread_mutex_init(&e->mtx, NULL);
    pthread_mutex_init(&e->stats_mtx, NULL);
    pthread_mutex_init(&e->stop_mtx, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&e->stop_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (e->tick_ms > 0) {
        if (pthread_create(&e->thread, NULL, engine_thread, e) != 0) {
            ctl_rollout_close(e);
            return RAMP_ESYSTEM;
        }
        e->started = true;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-ROLLOUT-ENGINE-START", "tick_ms=%" PRId64
        " health=%s", e->tick_ms, o->health != NULL ? "yes" : "no");
    *out = e;
    return RAMP_OK;
}

void
ctl_rollout_close(struct ctl_rollout_engine *e)
{
    if (e == NULL) {
        return;
    }
    if (e->started) {
        pthread_mutex_lock(&e->stop_mtx);
        e->stop = true;
        pthread_cond_broadcast(&e->stop_cv);
        pthread_mutex_unlock(&e->stop_mtx);
        pthread_join(e->thread, NULL);
    }
    pthread_cond_destroy(&e->stop_cv);
    pthread_mutex_destroy(&e->stop_mtx);
    pthread_mutex_destroy(&e->stats_mtx);
    pthread_mutex_destroy(&e->mtx);
    rp_free(e);
}
