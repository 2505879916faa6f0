/* SPDX-License-Identifier: MIT */
/*
 * The rollout decision engine (decide.h): folding check windows into a
 * stage's cluster sums, the four one-sided tests on a confidence sequence,
 * the guardrail, the action table and the accumulator's msgpack form.
 * Not here: clocks, the store, health intake (the controller's rollout
 * engine calls this once per rollout per check) or traffic (tests/sim).
 *
 * The reasoning behind every choice (why clusters, why this boundary,
 * where the latency margin comes from) is in docs/rollouts.md, "Decision
 * method"; the comments here say what the code does and point there.
 */
#include "decide.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mp.h"

#define ACC_VERSION 1
#define NF_ACC 11
#define NF_ARM 18

enum { M_ERR_REL = 0, M_ERR_ABS, M_LAT_REL, M_LAT_ABS, M_CRIT, M_COUNT };

static uint64_t
sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint32_t
sat_inc(uint32_t a)
{
    return a == UINT32_MAX ? a : a + 1;
}

void
rp_stage_acc_init(struct rp_stage_acc *a)
{
    memset(a, 0, sizeof(*a));
}

const char *
rp_verdict_name(enum rp_verdict v)
{
    switch (v) {
    case RP_VERDICT_NO_DATA:
        return "no_data";
    case RP_VERDICT_INCONCLUSIVE:
        return "inconclusive";
    case RP_VERDICT_PASS:
        return "pass";
    case RP_VERDICT_FAIL:
        return "fail";
    case RP_VERDICT_CRITICAL:
        return "critical";
    }
    return "unknown";
}

const char *
rp_action_name(enum rp_action a)
{
    switch (a) {
    case RP_ACT_NONE:
        return "none";
    case RP_ACT_EXTEND:
        return "extend";
    case RP_ACT_ADVANCE:
        return "advance";
    case RP_ACT_COMPLETE:
        return "complete";
    case RP_ACT_HOLD:
        return "hold";
    case RP_ACT_ROLLBACK:
        return "rollback";
    }
    return "unknown";
}

/* ------------------------------------------------------------------ */
/* Folding a window                                                    */
/* ------------------------------------------------------------------ */

/* One count and its denominator into the cluster sums. */
static void
fold_pair(uint64_t *sum_n, double *sq_n, uint64_t *sum_x, double *sq_x,
    double *x_nx, uint64_t n, uint64_t x)
{
    *sum_n = sat_add(*sum_n, n);
    *sq_n += (double) n * (double) n;
    *sum_x = sat_add(*sum_x, x);
    *sq_x += (double) x * (double) x;
    *x_nx += (double) n * (double) x;
}

/*
 * A histogram's count above a bucket, never more than its count (a
 * histogram whose buckets exceed its count came from a broken peer;
 * health intake refuses those, this only keeps the shares <= 1).
 */
static uint64_t
hist_above(const struct rp_hist *h, uint64_t us)
{
    uint64_t n = rp_hist_count_above(h, us);

    return n > h->count ? h->count : n;
}

static void
arm_fold(struct rp_arm_acc *a, const struct rp_window_arm *w, uint64_t abs_us,
    uint64_t edge_us)
{
    const struct rp_hist *h = w->hist;

    if (w->requests > 0) {
        fold_pair(&a->requests, &a->sq_req, &a->errors, &a->sq_err, &a->x_err,
            w->requests, w->errors);
        a->windows = sat_inc(a->windows);
    }
    if (h == NULL || h->count == 0) {
        return;
    }
    fold_pair(&a->timed, &a->sq_timed, &a->over_abs, &a->sq_over, &a->x_over,
        h->count, hist_above(h, abs_us));
    a->lat_windows = sat_inc(a->lat_windows);
    if (edge_us != 0) {
        fold_pair(&a->timed_e, &a->sq_timed_e, &a->slow, &a->sq_slow,
            &a->x_slow, h->count, hist_above(h, edge_us));
        a->edge_windows = sat_inc(a->edge_windows);
    }
}

/*
 * Control's latency goes into edge_hist until it holds min_samples; the
 * edge is then (1 + p95_rel) times that p95. The windows that fixed the
 * edge are not tested against it: the edge and the test see disjoint
 * data, so the test is exact for the edge it got.
 */
static void
edge_update(const struct rp_policy *pol, struct rp_stage_acc *a,
    const struct rp_window *w)
{
    uint64_t min = pol->min_samples > 0 ? pol->min_samples : 1;
    double e;

    if (a->edge_us != 0 || w->treatment_only || w->c.hist == NULL) {
        return;
    }
    rp_hist_merge(&a->edge_hist, w->c.hist);
    if (a->edge_hist.count < min) {
        return;
    }
    e = (double) rp_hist_quantile(&a->edge_hist, 1.0 - RP_DECIDE_TAIL) *
        (1.0 + (pol->p95_rel > 0 ? pol->p95_rel : 0));
    if (e >= (double) RP_HIST_MAX_US) {
        e = (double) RP_HIST_MAX_US;
    }
    a->edge_us = e < 1.0 ? 1 : (uint64_t) e;
}

/* ------------------------------------------------------------------ */
/* Estimates and bounds                                                */
/* ------------------------------------------------------------------ */

/* A ratio x/n over clusters, with its variance. */
struct est {
    double n;   /* denominator total */
    double p;   /* x / n */
    double var; /* max(cluster-robust, binomial) variance of p */
};

/*
 * Cluster-robust (linearised ratio) variance: residuals r_i = x_i - p n_i
 * per window, var = K/(K-1) * sum r_i^2 / N^2, the sum expanded into the
 * stored sums. Floored at the binomial p~(1-p~)/N with p~ = (x+1/2)/(N+1),
 * so that a few quiet windows never look more certain than independent
 * requests, and zero counts still carry uncertainty.
 */
static struct est
est_ratio(
    uint64_t n, uint64_t x, double sq_n, double sq_x, double x_nx, uint32_t k)
{
    struct est e;
    double ss;
    double pt;
    double var_cr = 0;

    e.n = (double) n;
    if (n == 0) {
        e.p = 0;
        e.var = 0.25;
        return e;
    }
    e.p = (double) x / e.n;
    ss = sq_x - 2.0 * e.p * x_nx + e.p * e.p * sq_n;
    if (ss < 0) {
        ss = 0; /* rounding of the expanded sum */
    }
    if (k >= 2) {
        var_cr = (double) k / (double) (k - 1) * ss / (e.n * e.n);
    }
    pt = ((double) x + 0.5) / (e.n + 1.0);
    e.var = pt * (1.0 - pt) / e.n;
    if (var_cr > e.var) {
        e.var = var_cr;
    }
    return e;
}

double
rp_decide_cs_z(double t, double rho, double alpha)
{
    double tau;

    if (!(t > 0) || !(rho > 0) || !(alpha > 0 && alpha < 1)) {
        return INFINITY;
    }
    tau = t / rho;
    return sqrt((1.0 + 1.0 / tau) * (log1p(tau) - 2.0 * log(alpha)));
}

/*
 * Test value <= limit where value - limit = d has variance var: the
 * bounds are value -+ z sqrt(var). enough: the data gates are met.
 */
static void
metric_test(struct rp_metric *m, double value, double limit, double var,
    double t, double rho, bool enough)
{
    double z;
    double h;

    m->value = value;
    m->limit = limit;
    m->lower = value;
    m->upper = value;
    if (!enough) {
        m->verdict = RP_VERDICT_NO_DATA;
        return;
    }
    z = rp_decide_cs_z(t, rho, RP_DECIDE_ALPHA);
    h = z * sqrt(var);
    m->lower = value - h;
    m->upper = value + h;
    if (m->lower > limit) {
        m->verdict = RP_VERDICT_FAIL;
    } else if (m->upper < limit) {
        m->verdict = RP_VERDICT_PASS;
    } else {
        m->verdict = RP_VERDICT_INCONCLUSIVE;
    }
}

static bool
arm_ready(uint64_t n, uint32_t windows, uint64_t min)
{
    return n >= min && windows >= RP_DECIDE_MIN_WINDOWS;
}

/* ------------------------------------------------------------------ */
/* The check                                                           */
/* ------------------------------------------------------------------ */

/*
 * The guardrail: the treatment's error rate is at least crit_err over at
 * least crit_min requests, and control, when it has as many requests,
 * is not as bad: the treatment is also above (1 + err_rel) times
 * control's rate. An outage that hits both arms alike is not the
 * treatment's doing; if the treatment broke something both arms share,
 * the absolute ceiling (err_abs) still fails it within failure_limit
 * checks.
 */
static bool
crit_hit(const struct rp_policy *pol, uint64_t n, uint64_t e, uint64_t nc,
    uint64_t ec)
{
    uint64_t min = pol->crit_min > 0 ? pol->crit_min : 1;
    double rt, rc;

    /* crit_err <= 0 would make every window critical: off instead. */
    if (!(pol->crit_err > 0 && n >= min &&
            (double) e >= pol->crit_err * (double) n)) {
        return false;
    }
    if (nc < min) {
        return true; /* nothing to compare with: the treatment alone */
    }
    rt = (double) e / (double) n;
    rc = (double) ec / (double) nc;
    return rt > (1.0 + pol->err_rel) * rc;
}

static double
share(uint64_t x, uint64_t n)
{
    return n == 0 ? 0 : (double) x / (double) n;
}

/* "212 ms", "1.4 ms", "n/a" */
static void
fmt_ms(char *buf, size_t sz, uint64_t us, bool have)
{
    if (!have) {
        snprintf(buf, sz, "n/a");
    } else if (us < 10000) {
        snprintf(buf, sz, "%.1f ms", (double) us / 1000.0);
    } else {
        snprintf(buf, sz, "%.0f ms", (double) us / 1000.0);
    }
}

/* Append to the reason, silently truncating at its size. */
static void reason_add(struct rp_check *c, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
reason_add(struct rp_check *c, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off >= sizeof(c->reason) - 1) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(c->reason + *off, sizeof(c->reason) - *off, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    *off += (size_t) n;
    if (*off > sizeof(c->reason) - 1) {
        *off = sizeof(c->reason) - 1;
    }
}

static void
check_reason(const struct rp_policy *pol, const struct rp_stage_acc *a,
    struct rp_check *c, bool tonly, const char *crit_where, bool bad_window)
{
    char pt[32];
    char pc[32];
    size_t off = 0;
    const struct rp_metric *m;

    fmt_ms(pt, sizeof(pt), c->p95_t_us, a->hist_t.count > 0);
    fmt_ms(pc, sizeof(pc), c->p95_c_us, a->hist_c.count > 0);
    if (tonly) {
        reason_add(c, &off,
            "treatment err %.2f%% (n=%llu), no control arm; p95 %s; ",
            100.0 * c->rate_t, (unsigned long long) c->req_t, pt);
    } else {
        reason_add(c, &off,
            "treatment err %.2f%% (n=%llu) vs control %.2f%% (n=%llu); "
            "p95 %s vs %s; ",
            100.0 * c->rate_t, (unsigned long long) c->req_t, 100.0 * c->rate_c,
            (unsigned long long) c->req_c, pt, pc);
    }
    if (bad_window) {
        reason_add(c, &off, "window ignored (errors > requests); ");
    }
    switch (c->verdict) {
    case RP_VERDICT_CRITICAL:
        m = &c->metrics[M_CRIT];
        reason_add(c, &off,
            "critical: treatment err %.2f%% in the %s (limit %.0f%% over "
            ">= %u requests)",
            100.0 * m->value, crit_where, 100.0 * pol->crit_err, pol->crit_min);
        break;
    case RP_VERDICT_FAIL:
        reason_add(c, &off, "fail:");
        for (size_t i = 0; i < c->nmetrics; i++) {
            m = &c->metrics[i];
            if (m->counted && m->verdict == RP_VERDICT_FAIL) {
                reason_add(c, &off, " %s %.2f%% > limit %.2f%% (lower %.2f%%)",
                    m->name, 100.0 * m->value, 100.0 * m->limit,
                    100.0 * m->lower);
            }
        }
        break;
    case RP_VERDICT_PASS:
        reason_add(c, &off, "pass");
        break;
    case RP_VERDICT_INCONCLUSIVE:
        reason_add(c, &off, "inconclusive:");
        for (size_t i = 0; i < c->nmetrics; i++) {
            m = &c->metrics[i];
            if (m->counted && m->verdict != RP_VERDICT_PASS) {
                reason_add(c, &off, " %s", m->name);
            }
        }
        break;
    case RP_VERDICT_NO_DATA:
        reason_add(c, &off,
            "no data: needs %u requests and %d windows per "
            "arm",
            pol->min_samples, RP_DECIDE_MIN_WINDOWS);
        break;
    }
}

void
rp_decide_check(const struct rp_policy *pol, struct rp_stage_acc *a,
    const struct rp_window *w, struct rp_check *out)
{
    uint64_t min = pol->min_samples > 0 ? pol->min_samples : 1;
    double rho = (double) min;
    bool tonly = w->treatment_only;
    bool bad = w->t.errors > w->t.requests || w->c.errors > w->c.requests;
    bool gate;
    bool lat_reported;
    const char *crit_where = NULL;
    struct est et, ec, ot, st, sc;
    struct rp_metric *m;
    double r = pol->err_rel > 0 ? pol->err_rel : 0;
    double q_c;
    double margin;
    bool any_data = false;
    bool all_pass = true;
    bool any_fail = false;
    size_t ncounted = 0;

    memset(out, 0, sizeof(*out));
    a->checks = sat_inc(a->checks);

    /* Fold. The edge is updated first so that the window that completes
     * edge_hist is not tested against the edge it produced. */
    if (!bad) {
        uint64_t edge_before = a->edge_us;

        edge_update(pol, a, w);
        arm_fold(&a->t, &w->t, pol->p95_abs_us, edge_before);
        if (!tonly) {
            arm_fold(&a->c, &w->c, pol->p95_abs_us, edge_before);
        }
        if (w->t.hist != NULL) {
            rp_hist_merge(&a->hist_t, w->t.hist);
        }
        if (!tonly && w->c.hist != NULL) {
            rp_hist_merge(&a->hist_c, w->c.hist);
        }
        a->p95_t_us = rp_hist_quantile(&a->hist_t, 1.0 - RP_DECIDE_TAIL);
        a->p95_c_us = rp_hist_quantile(&a->hist_c, 1.0 - RP_DECIDE_TAIL);
    }

    out->req_t = a->t.requests;
    out->req_c = a->c.requests;
    out->err_t = a->t.errors;
    out->err_c = a->c.errors;
    out->rate_t = share(a->t.errors, a->t.requests);
    out->rate_c = share(a->c.errors, a->c.requests);
    out->p95_t_us = a->p95_t_us;
    out->p95_c_us = a->p95_c_us;
    out->nmetrics = M_COUNT;

    et = est_ratio(a->t.requests, a->t.errors, a->t.sq_req, a->t.sq_err,
        a->t.x_err, a->t.windows);
    ec = est_ratio(a->c.requests, a->c.errors, a->c.sq_req, a->c.sq_err,
        a->c.x_err, a->c.windows);
    gate = arm_ready(a->t.requests, a->t.windows, min) &&
           (tonly || arm_ready(a->c.requests, a->c.windows, min));
    /* Latency counts only if some arm reported any this stage: an
     * application that times nothing is judged on errors alone; an arm
     * that stops timing while the other times is missing data. */
    lat_reported = a->hist_t.count > 0 || (!tonly && a->hist_c.count > 0);

    /* Error rate relative: p_T <= (1 + err_rel) p_C + slack. */
    m = &out->metrics[M_ERR_REL];
    m->name = "error_rate_relative";
    m->counted = !tonly;
    metric_test(m, et.p, (1.0 + r) * ec.p + RP_DECIDE_ERR_SLACK,
        et.var + (1.0 + r) * (1.0 + r) * ec.var, et.n, rho, gate && !tonly);

    /* Error rate absolute: p_T <= err_abs. */
    m = &out->metrics[M_ERR_ABS];
    m->name = "error_rate_absolute";
    m->counted = true;
    metric_test(m, et.p, pol->err_abs, et.var, et.n, rho, gate);

    /* Latency relative: the share of treatment above the edge against
     * control's share above it, with margin 5% - q_C (docs). */
    m = &out->metrics[M_LAT_REL];
    m->name = "latency_p95_relative";
    m->counted = lat_reported && !tonly;
    st = est_ratio(a->t.timed_e, a->t.slow, a->t.sq_timed_e, a->t.sq_slow,
        a->t.x_slow, a->t.edge_windows);
    sc = est_ratio(a->c.timed_e, a->c.slow, a->c.sq_timed_e, a->c.sq_slow,
        a->c.x_slow, a->c.edge_windows);
    q_c = a->edge_us != 0
              ? share(hist_above(&a->edge_hist, a->edge_us), a->edge_hist.count)
              : 0;
    margin = RP_DECIDE_TAIL - q_c;
    if (margin < 0) {
        margin = 0;
    }
    metric_test(m, st.p, sc.p + margin, st.var + sc.var, st.n, rho,
        gate && !tonly && a->edge_us != 0 &&
            arm_ready(a->t.timed_e, a->t.edge_windows, min) &&
            arm_ready(a->c.timed_e, a->c.edge_windows, min));

    /* Latency absolute: p95_T <= p95_abs <=> share above it <= 5%. */
    m = &out->metrics[M_LAT_ABS];
    m->name = "latency_p95_absolute";
    m->counted = lat_reported;
    ot = est_ratio(a->t.timed, a->t.over_abs, a->t.sq_timed, a->t.sq_over,
        a->t.x_over, a->t.lat_windows);
    metric_test(m, ot.p, RP_DECIDE_TAIL, ot.var, ot.n, rho,
        gate && arm_ready(a->t.timed, a->t.lat_windows, min));

    /* The guardrail: this window, then the stage. */
    m = &out->metrics[M_CRIT];
    m->name = "error_rate_critical";
    m->limit = pol->crit_err;
    m->verdict = RP_VERDICT_NO_DATA;
    if (!bad && w->t.requests >= (pol->crit_min > 0 ? pol->crit_min : 1)) {
        m->value = share(w->t.errors, w->t.requests);
        m->verdict = RP_VERDICT_PASS;
    }
    if (!bad &&
        crit_hit(pol, w->t.requests, w->t.errors,
            tonly ? 0 : w->c.requests, tonly ? 0 : w->c.errors)) {
        crit_where = "last window";
    } else if (crit_hit(pol, a->t.requests, a->t.errors,
                   tonly ? 0 : a->c.requests, tonly ? 0 : a->c.errors)) {
        crit_where = "stage";
        m->value = out->rate_t;
    }
    if (crit_where != NULL) {
        m->verdict = RP_VERDICT_CRITICAL;
    }
    m->lower = m->upper = m->value;
    m->counted = crit_where != NULL;

    /* Overall: CRITICAL > FAIL > PASS (every counted test) >
     * INCONCLUSIVE > NO_DATA. */
    for (size_t i = 0; i < M_CRIT; i++) {
        m = &out->metrics[i];
        if (!m->counted) {
            continue;
        }
        ncounted++;
        any_fail = any_fail || m->verdict == RP_VERDICT_FAIL;
        all_pass = all_pass && m->verdict == RP_VERDICT_PASS;
        any_data = any_data || m->verdict != RP_VERDICT_NO_DATA;
    }
    if (crit_where != NULL) {
        out->verdict = RP_VERDICT_CRITICAL;
    } else if (any_fail) {
        out->verdict = RP_VERDICT_FAIL;
    } else if (ncounted > 0 && all_pass) {
        out->verdict = RP_VERDICT_PASS;
    } else if (any_data) {
        out->verdict = RP_VERDICT_INCONCLUSIVE;
    } else {
        out->verdict = RP_VERDICT_NO_DATA;
    }
    check_reason(pol, a, out, tonly, crit_where, bad);
}

/* ------------------------------------------------------------------ */
/* The action                                                          */
/* ------------------------------------------------------------------ */

enum rp_action
rp_decide_action(const struct rp_policy *pol, struct rp_stage_acc *a,
    const struct rp_check *c, int64_t stage_age_ms, uint32_t stage,
    uint32_t nstages)
{
    uint32_t limit = pol->failure_limit > 0 ? pol->failure_limit : 1;
    uint64_t age = stage_age_ms > 0 ? (uint64_t) stage_age_ms : 0;

    if (c->verdict == RP_VERDICT_FAIL) {
        a->fails = sat_inc(a->fails);
        /* One failing check below the limit waits for the next one,
         * whatever the stage's age: it is about to be confirmed or
         * cleared. */
        return a->fails >= limit ? RP_ACT_ROLLBACK : RP_ACT_NONE;
    }
    a->fails = 0;
    if (c->verdict == RP_VERDICT_CRITICAL) {
        return RP_ACT_ROLLBACK;
    }
    if (c->verdict == RP_VERDICT_PASS && age >= pol->bake_ms) {
        return stage + 1 >= nstages ? RP_ACT_COMPLETE : RP_ACT_ADVANCE;
    }
    if (age >= pol->max_stage_ms) {
        return RP_ACT_HOLD;
    }
    if (age >= pol->bake_ms) {
        return RP_ACT_EXTEND;
    }
    return RP_ACT_NONE;
}

/* ------------------------------------------------------------------ */
/* msgpack form                                                        */
/* ------------------------------------------------------------------ */

static void
pack_arm(struct rp_pack *pk, const struct rp_arm_acc *a)
{
    rp_pack_array(pk, NF_ARM);
    rp_pack_u64(pk, a->requests);
    rp_pack_u64(pk, a->errors);
    rp_pack_u64(pk, a->slow);
    rp_pack_u64(pk, a->over_abs);
    rp_pack_u64(pk, a->timed);
    rp_pack_u64(pk, a->timed_e);
    rp_pack_double(pk, a->sq_req);
    rp_pack_double(pk, a->sq_err);
    rp_pack_double(pk, a->sq_slow);
    rp_pack_double(pk, a->sq_over);
    rp_pack_double(pk, a->sq_timed);
    rp_pack_double(pk, a->sq_timed_e);
    rp_pack_double(pk, a->x_err);
    rp_pack_double(pk, a->x_slow);
    rp_pack_double(pk, a->x_over);
    rp_pack_u64(pk, a->windows);
    rp_pack_u64(pk, a->lat_windows);
    rp_pack_u64(pk, a->edge_windows);
}

ramp_err
rp_stage_acc_encode(struct rp_buf *b, const struct rp_stage_acc *a)
{
    struct rp_pack pk;
    size_t start = b->len;

    rp_pack_init(&pk, b);
    rp_pack_array(&pk, NF_ACC);
    rp_pack_u64(&pk, ACC_VERSION);
    pack_arm(&pk, &a->t);
    pack_arm(&pk, &a->c);
    rp_pack_u64(&pk, a->edge_us);
    rp_hist_pack(&pk, &a->edge_hist);
    rp_pack_u64(&pk, a->p95_t_us);
    rp_pack_u64(&pk, a->p95_c_us);
    rp_hist_pack(&pk, &a->hist_t);
    rp_hist_pack(&pk, &a->hist_c);
    rp_pack_u64(&pk, a->checks);
    rp_pack_u64(&pk, a->fails);
    if (pk.err != RAMP_OK) {
        b->len = start;
    }
    return pk.err;
}

static ramp_err
obj_sum(const msgpack_object *o, double *out)
{
    ramp_err rv = rp_obj_double(o, out);

    if (rv == RAMP_OK && *out < 0) {
        rv = RAMP_EPROTO;
    }
    return rv;
}

static ramp_err
decode_arm(const msgpack_object *o, struct rp_arm_acc *a)
{
    const msgpack_object *f;
    size_t n;
    uint64_t *u64s[] = {&a->requests, &a->errors, &a->slow, &a->over_abs,
        &a->timed, &a->timed_e};
    double *dbls[] = {&a->sq_req, &a->sq_err, &a->sq_slow, &a->sq_over,
        &a->sq_timed, &a->sq_timed_e, &a->x_err, &a->x_slow, &a->x_over};
    uint32_t *u32s[] = {&a->windows, &a->lat_windows, &a->edge_windows};
    size_t i = 0;

    if (rp_obj_array(o, NF_ARM, NF_ARM, &f, &n) != RAMP_OK) {
        return RAMP_EPROTO;
    }
    for (size_t j = 0; j < sizeof(u64s) / sizeof(u64s[0]); j++, i++) {
        if (rp_obj_u64(&f[i], u64s[j]) != RAMP_OK) {
            return RAMP_EPROTO;
        }
    }
    for (size_t j = 0; j < sizeof(dbls) / sizeof(dbls[0]); j++, i++) {
        if (obj_sum(&f[i], dbls[j]) != RAMP_OK) {
            return RAMP_EPROTO;
        }
    }
    for (size_t j = 0; j < sizeof(u32s) / sizeof(u32s[0]); j++, i++) {
        if (rp_obj_u32(&f[i], u32s[j]) != RAMP_OK) {
            return RAMP_EPROTO;
        }
    }
    /* The counts the tests divide by must contain what they count. */
    if (a->errors > a->requests || a->over_abs > a->timed ||
        a->slow > a->timed_e || a->timed_e > a->timed ||
        a->edge_windows > a->lat_windows) {
        return RAMP_EPROTO;
    }
    return RAMP_OK;
}

ramp_err
rp_stage_acc_decode(const uint8_t *p, size_t n, struct rp_stage_acc *out)
{
    msgpack_unpacked u;
    const msgpack_object *e;
    size_t ne;
    uint64_t v;
    struct rp_stage_acc *a;
    ramp_err rv;
    struct rp_stage_acc tmp; /* ~9 KiB; *out is written only on success */

    a = &tmp;
    rp_stage_acc_init(a);
    rv = rp_mp_unpack(p, n, RP_STAGE_ACC_ENC_MAX, &u);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = RAMP_EPROTO;
    if (rp_obj_array(&u.data, NF_ACC, NF_ACC, &e, &ne) != RAMP_OK ||
        rp_obj_u64(&e[0], &v) != RAMP_OK) {
        goto out;
    }
    if (v != ACC_VERSION) {
        rv = RAMP_EVERSION;
        goto out;
    }
    if (decode_arm(&e[1], &a->t) != RAMP_OK ||
        decode_arm(&e[2], &a->c) != RAMP_OK ||
        rp_obj_u64(&e[3], &a->edge_us) != RAMP_OK ||
        rp_hist_from_obj(&e[4], &a->edge_hist) != RAMP_OK ||
        rp_obj_u64(&e[5], &a->p95_t_us) != RAMP_OK ||
        rp_obj_u64(&e[6], &a->p95_c_us) != RAMP_OK ||
        rp_hist_from_obj(&e[7], &a->hist_t) != RAMP_OK ||
        rp_hist_from_obj(&e[8], &a->hist_c) != RAMP_OK ||
        rp_obj_u32(&e[9], &a->checks) != RAMP_OK ||
        rp_obj_u32(&e[10], &a->fails) != RAMP_OK) {
        goto out;
    }
    /* No tested counts before the edge exists; consecutive failures and
     * windows are checks. */
    if ((a->edge_us == 0 && (a->t.timed_e != 0 || a->c.timed_e != 0)) ||
        a->fails > a->checks || a->t.windows > a->checks ||
        a->c.windows > a->checks || a->t.lat_windows > a->checks ||
        a->c.lat_windows > a->checks) {
        goto out;
    }
    *out = tmp;
    rv = RAMP_OK;

out:
    rp_mp_done(&u);
    return rv;
}
