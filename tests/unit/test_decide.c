/* SPDX-License-Identifier: MIT */
/*
 * Tests for proto/decide.c: every verdict reached when it should be and
 * not when it should not, the guardrail, min_samples and min windows, the
 * cluster-robust variance against a burst, the confidence sequence under
 * repeated looks, the latency edge, the action table, and the
 * accumulator's msgpack form including hostile bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* needs the four above first */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "decide.h"
#include "hist.h"
#include "model.h"
#include "mp.h"

enum { M_ERR_REL, M_ERR_ABS, M_LAT_REL, M_LAT_ABS, M_CRIT };

#define NF_ARM_TEST 18 /* numbers in an arm's msgpack form (decide.h) */

/* ---- fixtures -------------------------------------------------------- */

/* splitmix64: fixed-seed, portable. */
static uint64_t
rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
rng_unit(uint64_t *s) /* (0, 1) */
{
    return ((double) (rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

/* Binomial by geometric waiting times: exact, O(n p). */
static uint64_t
rng_binom(uint64_t *s, uint64_t n, double p)
{
    double lq = log1p(-p);
    double pos = 0;
    uint64_t k = 0;

    for (;;) {
        pos += ceil(log(rng_unit(s)) / lq);
        if (pos > (double) n) {
            return k;
        }
        k++;
    }
}

/* n lognormal latencies (median in ms) into h. */
static void
hist_lognormal(
    uint64_t *s, struct rp_hist *h, uint64_t n, double median_ms, double sigma)
{
    rp_hist_init(h);
    for (uint64_t i = 0; i < n; i++) {
        double u1 = rng_unit(s);
        double u2 = rng_unit(s);
        double z = sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);

        rp_hist_record(h, (uint64_t) (median_ms * 1000.0 * exp(sigma * z)));
    }
}

static struct rp_policy pol;

static int
setup(void **state)
{
    (void) state;
    rp_policy_default(&pol);
    return 0;
}

/* One window without latency. */
static void
feed(struct rp_stage_acc *a, uint64_t nt, uint64_t et, uint64_t nc, uint64_t ec,
    struct rp_check *c)
{
    struct rp_window w;

    memset(&w, 0, sizeof(w));
    w.t.requests = nt;
    w.t.errors = et;
    w.c.requests = nc;
    w.c.errors = ec;
    rp_decide_check(&pol, a, &w, c);
}

static void
feed_n(struct rp_stage_acc *a, int windows, uint64_t nt, uint64_t et,
    uint64_t nc, uint64_t ec, struct rp_check *c)
{
    for (int i = 0; i < windows; i++) {
        feed(a, nt, et, nc, ec, c);
    }
}

/* ---- names ------------------------------------------------------------ */

static void
test_names(void **state)
{
    (void) state;
    assert_string_equal(rp_verdict_name(RP_VERDICT_NO_DATA), "no_data");
    assert_string_equal(
        rp_verdict_name(RP_VERDICT_INCONCLUSIVE), "inconclusive");
    assert_string_equal(rp_verdict_name(RP_VERDICT_PASS), "pass");
    assert_string_equal(rp_verdict_name(RP_VERDICT_FAIL), "fail");
    assert_string_equal(rp_verdict_name(RP_VERDICT_CRITICAL), "critical");
    assert_string_equal(rp_verdict_name((enum rp_verdict) 99), "unknown");
    assert_string_equal(rp_action_name(RP_ACT_NONE), "none");
    assert_string_equal(rp_action_name(RP_ACT_EXTEND), "extend");
    assert_string_equal(rp_action_name(RP_ACT_ADVANCE), "advance");
    assert_string_equal(rp_action_name(RP_ACT_COMPLETE), "complete");
    assert_string_equal(rp_action_name(RP_ACT_HOLD), "hold");
    assert_string_equal(rp_action_name(RP_ACT_ROLLBACK), "rollback");
    assert_string_equal(rp_action_name((enum rp_action) 99), "unknown");
}

/* ---- gates ------------------------------------------------------------ */

static void
test_no_data_below_min_samples(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    rp_stage_acc_init(&a);
    /* A treatment far worse than control (15.5% vs 1%, under the
     * guardrail), but 199 requests: no verdict. */
    feed_n(&a, 10, 19, 3, 2000, 20, &c);
    feed(&a, 9, 0, 2000, 20, &c);
    assert_int_equal(c.req_t, 199);
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
    for (size_t i = 0; i < M_CRIT; i++) {
        assert_int_equal(c.metrics[i].verdict, RP_VERDICT_NO_DATA);
    }
    assert_non_null(strstr(c.reason, "no data"));
    /* The 200th request makes it a verdict. */
    feed(&a, 1, 1, 2000, 20, &c);
    assert_int_equal(c.req_t, 200);
    assert_int_equal(c.verdict, RP_VERDICT_FAIL);

    /* The control arm needs min_samples too. */
    rp_stage_acc_init(&a);
    feed_n(&a, 10, 1000, 300, 19, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_CRITICAL); /* 30%: guardrail */
    rp_stage_acc_init(&a);
    feed_n(&a, 10, 1000, 100, 19, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
}

static void
test_no_data_below_min_windows(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    rp_stage_acc_init(&a);
    /* Plenty of requests, but a between-window variance needs windows. */
    feed_n(&a, RP_DECIDE_MIN_WINDOWS - 1, 100000, 10000, 100000, 100, &c);
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
    feed(&a, 100000, 10000, 100000, 100, &c);
    assert_int_equal(c.verdict, RP_VERDICT_FAIL);
}

/* ---- verdicts --------------------------------------------------------- */

static void
test_pass_reachable(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    rp_stage_acc_init(&a);
    /* 1% in both arms, 1000 vs 19000 a window: a 5% stage. */
    feed_n(&a, RP_DECIDE_MIN_WINDOWS - 1, 1000, 10, 19000, 190, &c);
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
    feed_n(&a, 23 - (RP_DECIDE_MIN_WINDOWS - 1), 1000, 10, 19000, 190, &c);
    assert_int_equal(c.verdict, RP_VERDICT_PASS);
    assert_int_equal(c.metrics[M_ERR_REL].verdict, RP_VERDICT_PASS);
    assert_int_equal(c.metrics[M_ERR_ABS].verdict, RP_VERDICT_PASS);
    /* No latency from either arm: those tests are shown, not counted. */
    assert_false(c.metrics[M_LAT_REL].counted);
    assert_false(c.metrics[M_LAT_ABS].counted);
    assert_int_equal(c.req_t, 23000);
    assert_int_equal(c.err_c, 23 * 190);
    assert_true(fabs(c.rate_t - 0.01) < 1e-12);
    assert_string_equal(c.metrics[M_ERR_REL].name, "error_rate_relative");
    assert_true(c.metrics[M_ERR_REL].upper < c.metrics[M_ERR_REL].limit);
    assert_true(fabs(c.metrics[M_ERR_REL].limit -
                     (1.5 * 0.01 + RP_DECIDE_ERR_SLACK)) < 1e-12);
    assert_non_null(strstr(c.reason, "treatment err 1.00% (n=23000) vs "
                                     "control 1.00% (n=437000)"));
    assert_non_null(strstr(c.reason, "; pass"));
    assert_int_equal(a.checks, 23);
}

static void
test_zero_errors_pass(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    /* No errors anywhere: the slack makes non-inferiority showable. */
    rp_stage_acc_init(&a);
    feed_n(&a, 20, 500, 0, 5000, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_PASS);
}

static void
test_fail_reachable(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    rp_stage_acc_init(&a);
    feed_n(&a, 10, 1000, 40, 19000, 190, &c); /* 4% vs 1% */
    assert_int_equal(c.verdict, RP_VERDICT_FAIL);
    assert_int_equal(c.metrics[M_ERR_REL].verdict, RP_VERDICT_FAIL);
    assert_int_equal(c.metrics[M_ERR_ABS].verdict, RP_VERDICT_PASS);
    assert_true(c.metrics[M_ERR_REL].lower > c.metrics[M_ERR_REL].limit);
    assert_non_null(strstr(c.reason, "fail: error_rate_relative 4.00% > "
                                     "limit 1.60%"));
}

static void
test_inconclusive_at_margin(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    /* Exactly at the limit (1.6% vs 1%): neither shown, however long. */
    rp_stage_acc_init(&a);
    feed_n(&a, 200, 1000, 16, 19000, 190, &c);
    assert_int_equal(c.verdict, RP_VERDICT_INCONCLUSIVE);
    assert_non_null(strstr(c.reason, "inconclusive: error_rate_relative"));
}

static void
test_error_absolute(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    /* 8% in both arms: no worse than control, but over the ceiling. */
    rp_stage_acc_init(&a);
    feed_n(&a, 10, 1000, 80, 19000, 1520, &c);
    assert_int_equal(c.metrics[M_ERR_REL].verdict, RP_VERDICT_PASS);
    assert_int_equal(c.metrics[M_ERR_ABS].verdict, RP_VERDICT_FAIL);
    assert_int_equal(c.verdict, RP_VERDICT_FAIL);
    assert_non_null(strstr(c.reason, "error_rate_absolute 8.00% > limit "
                                     "5.00%"));
}

/* ---- the guardrail ----------------------------------------------------- */

static void
test_critical(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    /* First window, far below min_samples: 20% over 20 is enough. */
    rp_stage_acc_init(&a);
    feed(&a, 20, 4, 1000, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_CRITICAL);
    assert_int_equal(c.metrics[M_CRIT].verdict, RP_VERDICT_CRITICAL);
    assert_true(c.metrics[M_CRIT].counted);
    assert_non_null(strstr(c.reason, "critical: treatment err 20.00% in "
                                     "the last window"));
    /* 19 requests all failing is not enough requests. */
    rp_stage_acc_init(&a);
    feed(&a, 19, 19, 1000, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
    assert_false(c.metrics[M_CRIT].counted);
    /* 3 of 20 (15%) is under the rate. */
    rp_stage_acc_init(&a);
    feed(&a, 20, 3, 1000, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
    /* Small windows add up: 10 requests a window at 30% trip it over
     * the stage once the stage has 20. */
    rp_stage_acc_init(&a);
    feed(&a, 10, 3, 1000, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
    feed(&a, 10, 3, 1000, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_CRITICAL);
    assert_non_null(strstr(c.reason, "in the stage"));
    /* A healthy stage that then gets one critical window. */
    rp_stage_acc_init(&a);
    feed_n(&a, 30, 1000, 10, 19000, 190, &c);
    assert_int_equal(c.verdict, RP_VERDICT_PASS);
    feed(&a, 1000, 250, 19000, 190, &c);
    assert_int_equal(c.verdict, RP_VERDICT_CRITICAL);
    /* crit_err 0 turns the guardrail off rather than tripping always. */
    pol.crit_err = 0;
    rp_stage_acc_init(&a);
    feed(&a, 100, 100, 1000, 0, &c);
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
    pol.crit_err = 0.2;
    /* An outage that hits both arms alike (35% each) is not the
     * treatment's doing: no guardrail. */
    rp_stage_acc_init(&a);
    feed_n(&a, 30, 1000, 10, 19000, 190, &c);
    feed(&a, 1000, 350, 19000, 6650, &c);
    assert_int_not_equal(c.verdict, RP_VERDICT_CRITICAL);
    assert_false(c.metrics[M_CRIT].counted);
    /* The same window with control at 1% is. */
    rp_stage_acc_init(&a);
    feed_n(&a, 30, 1000, 10, 19000, 190, &c);
    feed(&a, 1000, 350, 19000, 190, &c);
    assert_int_equal(c.verdict, RP_VERDICT_CRITICAL);
    /* Control at 30%: 35% is not above 1.5 x 30%. */
    rp_stage_acc_init(&a);
    feed(&a, 100, 35, 1000, 300, &c);
    assert_int_not_equal(c.verdict, RP_VERDICT_CRITICAL);
    /* Control at 20%: 35% is above 1.5 x 20%. */
    rp_stage_acc_init(&a);
    feed(&a, 100, 35, 1000, 200, &c);
    assert_int_equal(c.verdict, RP_VERDICT_CRITICAL);
}

/* ---- clusters --------------------------------------------------------- */

static void
test_burst_is_not_a_regression(void **state)
{
    struct rp_stage_acc burst;
    struct rp_stage_acc spread;
    struct rp_check cb;
    struct rp_check cs;

    (void) state;
    /*
     * Twenty windows, 500 treatment and 2000 control requests each,
     * control at 0.2%. A healthy treatment (0.2%, one error a window)
     * has one bad window: 95 errors of 500, 19%, just under the
     * guardrail. Its stage total, 114 errors of 10000 (1.14% against a
     * 0.4% limit), would be a clear failure if requests were
     * independent. The same 114 errors spread evenly over the windows
     * are a real regression, and must fail.
     */
    rp_stage_acc_init(&burst);
    rp_stage_acc_init(&spread);
    for (int i = 0; i < 20; i++) {
        feed(&burst, 500, i == 9 ? 95 : 1, 2000, 4, &cb);
        assert_int_not_equal(cb.verdict, RP_VERDICT_FAIL);
        assert_int_not_equal(cb.verdict, RP_VERDICT_CRITICAL);
        feed(&spread, 500, i < 14 ? 6 : 5, 2000, 4, &cs);
    }
    assert_int_equal(cb.err_t, 114);
    assert_int_equal(cs.err_t, 114);
    assert_int_equal(cb.req_t, cs.req_t);
    assert_int_equal(cb.verdict, RP_VERDICT_INCONCLUSIVE);
    assert_int_equal(cs.verdict, RP_VERDICT_FAIL);
    /* Same estimate, wider bounds. */
    assert_true(fabs(cb.metrics[M_ERR_REL].value -
                     cs.metrics[M_ERR_REL].value) < 1e-12);
    assert_true(cb.metrics[M_ERR_REL].lower < cb.metrics[M_ERR_REL].limit);
    assert_true(cs.metrics[M_ERR_REL].lower > cs.metrics[M_ERR_REL].limit);
}

/* ---- repeated looks --------------------------------------------------- */

/* Runs of nwin windows, looked at after every window: how many runs
 * ever show verdict v. */
static int
runs_ever(
    uint64_t seed, int runs, int nwin, double pt, double pc, enum rp_verdict v)
{
    int hit = 0;

    for (int r = 0; r < runs; r++) {
        struct rp_stage_acc a;
        struct rp_check c;
        uint64_t s = seed + (uint64_t) r * 7919;

        rp_stage_acc_init(&a);
        for (int i = 0; i < nwin; i++) {
            feed(&a, 200, rng_binom(&s, 200, pt), 2000, rng_binom(&s, 2000, pc),
                &c);
            if (c.verdict == v) {
                hit++;
                break;
            }
        }
    }
    return hit;
}

static void
test_repeated_looks(void **state)
{
    int n;

    (void) state;
    /*
     * A treatment exactly at the limit (1.6% vs 1%) looked at 300 times
     * per run. A fixed-sample z-test looked at that often crosses its
     * 5% threshold in far more than 5% of such runs (the law of the
     * iterated logarithm); the confidence sequence may cross in at most
     * alpha of them.
     */
    n = runs_ever(1, 200, 300, 0.016, 0.01, RP_VERDICT_FAIL);
    assert_in_range(n, 0, 200 * RP_DECIDE_ALPHA);
    n = runs_ever(2, 200, 300, 0.016, 0.01, RP_VERDICT_PASS);
    assert_in_range(n, 0, 200 * RP_DECIDE_ALPHA);
    /* A treatment equal to control never fails and ends up passing. */
    n = runs_ever(3, 100, 300, 0.01, 0.01, RP_VERDICT_FAIL);
    assert_int_equal(n, 0);
    n = runs_ever(4, 100, 300, 0.01, 0.01, RP_VERDICT_PASS);
    assert_in_range(n, 90, 100);
    /* And a treatment at three times control is caught. */
    n = runs_ever(5, 100, 300, 0.03, 0.01, RP_VERDICT_FAIL);
    assert_int_equal(n, 100);
}

static void
test_cs_boundary(void **state)
{
    double z;
    double prev = INFINITY;
    bool rising = false;

    (void) state;
    /* Always wider than the fixed-sample one-sided 5% (1.645). */
    for (double t = 1; t < 1e9; t *= 2) {
        z = rp_decide_cs_z(t, 200, RP_DECIDE_ALPHA);
        assert_true(z > 1.645);
        if (z > prev) {
            rising = true;
        }
        /* Falls, then rises for good (like sqrt(log t)). */
        if (rising) {
            assert_true(z >= prev);
        }
        prev = z;
    }
    assert_true(rising);
    /* The formula at t = rho: sqrt(2 (log 2 + 2 log 20)). */
    z = rp_decide_cs_z(200, 200, 0.05);
    assert_true(fabs(z - sqrt(2.0 * (log(2.0) + 2.0 * log(20.0)))) < 1e-12);
    assert_true(isinf(rp_decide_cs_z(0, 200, 0.05)));
}

/* ---- latency ---------------------------------------------------------- */

/* Ten windows with latency (medians in ms), 1000 vs 5000 requests at
 * 0.1% errors; hists NULL when the median is 0. */
static void
feed_latency(
    struct rp_stage_acc *a, double med_t, double med_c, struct rp_check *c)
{
    static struct rp_hist ht;
    static struct rp_hist hc;
    uint64_t s = 42;

    for (int i = 0; i < 10; i++) {
        struct rp_window w;

        memset(&w, 0, sizeof(w));
        w.t.requests = 1000;
        w.t.errors = 1;
        w.c.requests = 5000;
        w.c.errors = 5;
        if (med_t > 0) {
            hist_lognormal(&s, &ht, 1000, med_t, 0.5);
            w.t.hist = &ht;
        }
        if (med_c > 0) {
            hist_lognormal(&s, &hc, 5000, med_c, 0.5);
            w.c.hist = &hc;
        }
        rp_decide_check(&pol, a, &w, c);
    }
}

static void
test_latency_edge(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;
    uint64_t p95;

    (void) state;
    rp_stage_acc_init(&a);
    feed_latency(&a, 100, 100, &c);
    /* The edge came from the first control window (5000 >= 200), and
     * that window was not tested against it. */
    assert_int_equal(a.edge_hist.count, 5000);
    p95 = rp_hist_quantile(&a.edge_hist, 0.95);
    assert_int_equal(a.edge_us, (uint64_t) ((double) p95 * 1.3));
    assert_int_equal(a.t.timed, 10000);
    assert_int_equal(a.t.timed_e, 9000);
    assert_int_equal(a.c.timed_e, 45000);
    assert_int_equal(a.t.edge_windows, 9);
    /* lognormal(sigma 0.5) p95 = 100 ms * e^0.822 = 228 ms */
    assert_in_range(c.p95_c_us, 215000, 240000);
    assert_int_equal(c.metrics[M_LAT_REL].verdict, RP_VERDICT_PASS);
    assert_int_equal(c.metrics[M_LAT_ABS].verdict, RP_VERDICT_PASS);
    assert_true(c.metrics[M_LAT_REL].counted);
    assert_int_equal(c.verdict, RP_VERDICT_PASS);
    assert_non_null(strstr(c.reason, " ms vs "));
}

static void
test_latency_relative_fail(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    /* p95 x1.6 over control's: past the +30% margin. */
    rp_stage_acc_init(&a);
    feed_latency(&a, 160, 100, &c);
    assert_int_equal(c.metrics[M_LAT_REL].verdict, RP_VERDICT_FAIL);
    assert_int_equal(c.metrics[M_LAT_ABS].verdict, RP_VERDICT_PASS);
    assert_int_equal(c.verdict, RP_VERDICT_FAIL);
    assert_non_null(strstr(c.reason, "latency_p95_relative"));
    /* x1.15: inside the margin, shown. */
    rp_stage_acc_init(&a);
    feed_latency(&a, 115, 100, &c);
    assert_int_equal(c.metrics[M_LAT_REL].verdict, RP_VERDICT_PASS);
}

static void
test_latency_absolute_fail(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    /* Both arms at p95 ~3.4 s: no worse than control, over 2 s. */
    rp_stage_acc_init(&a);
    feed_latency(&a, 1500, 1500, &c);
    assert_int_equal(c.metrics[M_LAT_REL].verdict, RP_VERDICT_PASS);
    assert_int_equal(c.metrics[M_LAT_ABS].verdict, RP_VERDICT_FAIL);
    assert_int_equal(c.verdict, RP_VERDICT_FAIL);
}

static void
test_latency_missing(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;

    (void) state;
    /* Treatment stopped timing while control times: missing data. */
    rp_stage_acc_init(&a);
    feed_latency(&a, 0, 100, &c);
    assert_int_equal(c.metrics[M_ERR_REL].verdict, RP_VERDICT_PASS);
    assert_true(c.metrics[M_LAT_ABS].counted);
    assert_int_equal(c.metrics[M_LAT_ABS].verdict, RP_VERDICT_NO_DATA);
    assert_int_equal(c.metrics[M_LAT_REL].verdict, RP_VERDICT_NO_DATA);
    assert_int_equal(c.verdict, RP_VERDICT_INCONCLUSIVE);
    assert_non_null(strstr(c.reason, "p95 n/a vs "));
    /* Neither arm times: judged on errors alone. */
    rp_stage_acc_init(&a);
    feed_latency(&a, 0, 0, &c);
    assert_false(c.metrics[M_LAT_ABS].counted);
    assert_int_equal(c.verdict, RP_VERDICT_PASS);
    /* Control does not time, treatment does: the absolute test runs,
     * the relative one has no edge and holds the verdict back. */
    rp_stage_acc_init(&a);
    feed_latency(&a, 100, 0, &c);
    assert_int_equal(a.edge_us, 0);
    assert_int_equal(c.metrics[M_LAT_ABS].verdict, RP_VERDICT_PASS);
    assert_int_equal(c.metrics[M_LAT_REL].verdict, RP_VERDICT_NO_DATA);
    assert_int_equal(c.verdict, RP_VERDICT_INCONCLUSIVE);
}

static void
test_treatment_only(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;
    struct rp_window w;
    struct rp_hist h;
    uint64_t s = 7;

    (void) state;
    /* The 100% stage: no control; absolute tests and guardrail decide. */
    rp_stage_acc_init(&a);
    for (int i = 0; i < 10; i++) {
        memset(&w, 0, sizeof(w));
        w.treatment_only = true;
        w.t.requests = 2000;
        w.t.errors = 2;
        hist_lognormal(&s, &h, 2000, 100, 0.5);
        w.t.hist = &h;
        rp_decide_check(&pol, &a, &w, &c);
    }
    assert_false(c.metrics[M_ERR_REL].counted);
    assert_false(c.metrics[M_LAT_REL].counted);
    assert_int_equal(c.verdict, RP_VERDICT_PASS);
    assert_non_null(strstr(c.reason, "no control arm"));
    /* The same without the flag: a silent control is missing data. */
    rp_stage_acc_init(&a);
    for (int i = 0; i < 10; i++) {
        w.treatment_only = false;
        rp_decide_check(&pol, &a, &w, &c);
    }
    assert_int_equal(c.verdict, RP_VERDICT_NO_DATA);
}

static void
test_bad_window_ignored(void **state)
{
    struct rp_stage_acc a;
    struct rp_stage_acc before;
    struct rp_check c;

    (void) state;
    rp_stage_acc_init(&a);
    feed_n(&a, 5, 1000, 10, 19000, 190, &c);
    before = a;
    feed(&a, 10, 11, 19000, 190, &c);
    assert_int_equal(a.checks, before.checks + 1);
    a.checks = before.checks;
    assert_memory_equal(&a, &before, sizeof(a));
    assert_non_null(strstr(c.reason, "window ignored"));
    assert_int_equal(c.req_t, 5000);
}

/* ---- the action ------------------------------------------------------- */

static void
test_action_table(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;
    const int64_t bake = 600000;
    const int64_t max = 3600000;
    const struct {
        enum rp_verdict v;
        int64_t age;
        uint32_t stage;
        enum rp_action want;
    } t[] = {
        {RP_VERDICT_PASS, 0, 0, RP_ACT_NONE},
        {RP_VERDICT_PASS, bake - 1, 0, RP_ACT_NONE},
        {RP_VERDICT_PASS, bake, 0, RP_ACT_ADVANCE},
        {RP_VERDICT_PASS, bake, 2, RP_ACT_ADVANCE},
        {RP_VERDICT_PASS, bake, 3, RP_ACT_COMPLETE},
        {RP_VERDICT_PASS, max + 1, 1, RP_ACT_ADVANCE},
        {RP_VERDICT_INCONCLUSIVE, bake - 1, 0, RP_ACT_NONE},
        {RP_VERDICT_INCONCLUSIVE, bake, 0, RP_ACT_EXTEND},
        {RP_VERDICT_INCONCLUSIVE, max, 0, RP_ACT_HOLD},
        {RP_VERDICT_NO_DATA, 0, 0, RP_ACT_NONE},
        {RP_VERDICT_NO_DATA, bake, 3, RP_ACT_EXTEND},
        {RP_VERDICT_NO_DATA, max, 3, RP_ACT_HOLD},
        {RP_VERDICT_NO_DATA, -5, 0, RP_ACT_NONE},
        {RP_VERDICT_CRITICAL, 0, 0, RP_ACT_ROLLBACK},
        {RP_VERDICT_CRITICAL, max, 3, RP_ACT_ROLLBACK},
    };

    (void) state;
    memset(&c, 0, sizeof(c));
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        rp_stage_acc_init(&a);
        c.verdict = t[i].v;
        assert_int_equal(
            rp_decide_action(&pol, &a, &c, t[i].age, t[i].stage, 4), t[i].want);
        assert_int_equal(a.fails, 0);
    }

    /* FAIL: failure_limit (2) consecutive, anything else resets. */
    rp_stage_acc_init(&a);
    c.verdict = RP_VERDICT_FAIL;
    assert_int_equal(rp_decide_action(&pol, &a, &c, bake, 0, 4), RP_ACT_NONE);
    assert_int_equal(a.fails, 1);
    c.verdict = RP_VERDICT_INCONCLUSIVE;
    assert_int_equal(rp_decide_action(&pol, &a, &c, bake, 0, 4), RP_ACT_EXTEND);
    assert_int_equal(a.fails, 0);
    c.verdict = RP_VERDICT_FAIL;
    assert_int_equal(rp_decide_action(&pol, &a, &c, max, 0, 4),
        RP_ACT_NONE); /* a first failure waits for its confirmation */
    assert_int_equal(
        rp_decide_action(&pol, &a, &c, max, 0, 4), RP_ACT_ROLLBACK);
    assert_int_equal(a.fails, 2);
    /* failure_limit 1 (and 0, read as 1): the first FAIL rolls back. */
    pol.failure_limit = 1;
    rp_stage_acc_init(&a);
    assert_int_equal(rp_decide_action(&pol, &a, &c, 0, 0, 4), RP_ACT_ROLLBACK);
    pol.failure_limit = 0;
    rp_stage_acc_init(&a);
    assert_int_equal(rp_decide_action(&pol, &a, &c, 0, 0, 4), RP_ACT_ROLLBACK);
    /* One stage only: its PASS completes. */
    c.verdict = RP_VERDICT_PASS;
    assert_int_equal(
        rp_decide_action(&pol, &a, &c, bake, 0, 1), RP_ACT_COMPLETE);
}

static void
test_time_alone_never_advances(void **state)
{
    struct rp_stage_acc a;
    struct rp_check c;
    enum rp_action act = RP_ACT_NONE;
    int64_t age = 0;

    (void) state;
    /* An hour of checks with too little treatment traffic. */
    rp_stage_acc_init(&a);
    while (act != RP_ACT_HOLD) {
        age += 10000;
        feed(&a, 0, 0, 1000, 10, &c);
        act = rp_decide_action(&pol, &a, &c, age, 0, 4);
        assert_true(
            act == RP_ACT_NONE || act == RP_ACT_EXTEND || act == RP_ACT_HOLD);
        assert_true(act != RP_ACT_EXTEND || age >= 600000);
    }
    assert_int_equal(age, 3600000);
}

/* ---- msgpack form ----------------------------------------------------- */

static void
acc_sample(struct rp_stage_acc *a)
{
    struct rp_check c;

    rp_stage_acc_init(a);
    feed_latency(a, 120, 100, &c);
    feed_n(a, 3, 1000, 30, 19000, 190, &c);
    a->fails = 1;
}

static void
encode(const struct rp_stage_acc *a, struct rp_buf *b)
{
    rp_buf_init(b, RP_STAGE_ACC_ENC_MAX);
    assert_int_equal(rp_stage_acc_encode(b, a), RAMP_OK);
}

static void
test_codec_roundtrip(void **state)
{
    static struct rp_stage_acc a, d, e;
    struct rp_check ca, cd;
    struct rp_window w;
    struct rp_buf b;
    struct rp_buf b2;

    (void) state;
    acc_sample(&a);
    assert_true(a.edge_us != 0);
    encode(&a, &b);
    assert_true(b.len < RP_STAGE_ACC_ENC_MAX);
    memset(&d, 0xa5, sizeof(d));
    assert_int_equal(rp_stage_acc_decode(b.data, b.len, &d), RAMP_OK);
    /* Field by field (padding is not part of the value). */
    assert_int_equal(d.edge_us, a.edge_us);
    assert_int_equal(d.checks, a.checks);
    assert_int_equal(d.fails, 1);
    assert_int_equal(d.p95_t_us, a.p95_t_us);
    assert_int_equal(d.p95_c_us, a.p95_c_us);
    assert_memory_equal(&d.edge_hist, &a.edge_hist, sizeof(a.edge_hist));
    assert_memory_equal(&d.hist_t, &a.hist_t, sizeof(a.hist_t));
    assert_memory_equal(&d.hist_c, &a.hist_c, sizeof(a.hist_c));
    assert_int_equal(d.t.requests, a.t.requests);
    assert_int_equal(d.c.errors, a.c.errors);
    assert_int_equal(d.t.slow, a.t.slow);
    assert_int_equal(d.c.over_abs, a.c.over_abs);
    assert_int_equal(d.t.timed_e, a.t.timed_e);
    assert_true(d.t.sq_err == a.t.sq_err && d.c.x_slow == a.c.x_slow &&
                d.t.sq_timed_e == a.t.sq_timed_e);
    assert_int_equal(d.c.edge_windows, a.c.edge_windows);
    /* Re-encoding gives the same bytes. */
    encode(&d, &b2);
    assert_int_equal(b2.len, b.len);
    assert_memory_equal(b2.data, b.data, b.len);
    /* And the decoded evidence decides exactly as the original. */
    e = a;
    memset(&w, 0, sizeof(w));
    w.t.requests = 1000;
    w.t.errors = 10;
    w.c.requests = 19000;
    w.c.errors = 190;
    rp_decide_check(&pol, &e, &w, &ca);
    rp_decide_check(&pol, &d, &w, &cd);
    assert_int_equal(cd.verdict, ca.verdict);
    assert_string_equal(cd.reason, ca.reason);
    assert_true(cd.metrics[M_ERR_REL].lower == ca.metrics[M_ERR_REL].lower);
    rp_buf_fini(&b);
    rp_buf_fini(&b2);

    /* A fresh accumulator round-trips too. */
    rp_stage_acc_init(&a);
    encode(&a, &b);
    assert_int_equal(rp_stage_acc_decode(b.data, b.len, &d), RAMP_OK);
    assert_int_equal(d.checks, 0);
    assert_int_equal(d.edge_hist.count, 0);
    rp_buf_fini(&b);
}

static void
test_codec_refuses(void **state)
{
    static struct rp_stage_acc a, d, keep;
    struct rp_buf b;
    uint8_t *p;

    (void) state;
    acc_sample(&a);
    encode(&a, &b);
    memset(&d, 0x5a, sizeof(d));
    keep = d;

    /* Every truncation. */
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(rp_stage_acc_decode(b.data, n, &d), RAMP_EPROTO);
    }
    /* Trailing bytes. */
    p = malloc(b.len + 1);
    assert_non_null(p);
    memcpy(p, b.data, b.len);
    p[b.len] = 0xc0;
    assert_int_equal(rp_stage_acc_decode(p, b.len + 1, &d), RAMP_EPROTO);
    /* Garbage and hostile headers. */
    {
        const uint8_t g1[] = {0xc1};
        const uint8_t g2[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
        const uint8_t g3[] = {0x93, 0x01, 0x02, 0x03};
        const uint8_t g4[] = {0xa3, 'a', 'b', 'c'};

        assert_int_equal(rp_stage_acc_decode(g1, sizeof(g1), &d), RAMP_EPROTO);
        assert_int_equal(rp_stage_acc_decode(g2, sizeof(g2), &d), RAMP_EPROTO);
        assert_int_equal(rp_stage_acc_decode(g3, sizeof(g3), &d), RAMP_EPROTO);
        assert_int_equal(rp_stage_acc_decode(g4, sizeof(g4), &d), RAMP_EPROTO);
    }
    /* Flip each byte: must be refused or decode to something valid,
     * never crash (the sanitizer build checks the reads). */
    for (size_t i = 0; i < b.len; i++) {
        struct rp_stage_acc *x = &d;
        ramp_err rv;

        memcpy(p, b.data, b.len);
        p[i] ^= 0xff;
        rv = rp_stage_acc_decode(p, b.len, x);
        if (rv == RAMP_OK) {
            assert_true(x->t.errors <= x->t.requests);
            assert_true(x->fails <= x->checks);
            memcpy(&d, &keep, sizeof(d));
        }
    }
    free(p);
    rp_buf_fini(&b);
    assert_memory_equal(&d, &keep, sizeof(d));
    /* Over the cap. */
    p = calloc(1, RP_STAGE_ACC_ENC_MAX + 1);
    assert_non_null(p);
    assert_int_equal(
        rp_stage_acc_decode(p, RP_STAGE_ACC_ENC_MAX + 1, &d), RAMP_ETOOBIG);
    free(p);
}

/* Hand-built frames: wrong lengths, version, inconsistent counts. */
static void
pack_arm_fields(struct rp_pack *pk, size_t nf, uint64_t req, uint64_t err)
{
    rp_pack_array(pk, nf);
    for (size_t i = 0; i < nf; i++) {
        if (i == 0) {
            rp_pack_u64(pk, req);
        } else if (i == 1) {
            rp_pack_u64(pk, err);
        } else if (i >= 6 && i < 15) {
            rp_pack_double(pk, 0);
        } else {
            rp_pack_u64(pk, 0);
        }
    }
}

static ramp_err
decode_built(size_t nacc, uint64_t version, size_t narm, uint64_t req,
    uint64_t err, double sq, uint64_t checks, uint64_t fails)
{
    struct rp_buf b;
    struct rp_pack pk;
    struct rp_hist h;
    static struct rp_stage_acc d;
    ramp_err rv;

    rp_hist_init(&h);
    rp_buf_init(&b, RP_STAGE_ACC_ENC_MAX);
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, nacc);
    rp_pack_u64(&pk, version);
    pack_arm_fields(&pk, narm, req, err);
    rp_pack_array(&pk, NF_ARM_TEST);
    for (size_t i = 0; i < NF_ARM_TEST; i++) {
        if (i == 6) {
            rp_pack_double(&pk, sq);
        } else {
            rp_pack_u64(&pk, 0);
        }
    }
    rp_pack_u64(&pk, 0);
    rp_hist_pack(&pk, &h);
    rp_pack_u64(&pk, 0);
    rp_pack_u64(&pk, 0);
    rp_hist_pack(&pk, &h);
    rp_hist_pack(&pk, &h);
    rp_pack_u64(&pk, checks);
    rp_pack_u64(&pk, fails);
    for (size_t i = 11; i < nacc; i++) {
        rp_pack_u64(&pk, 0);
    }
    assert_int_equal(pk.err, RAMP_OK);
    rv = rp_stage_acc_decode(b.data, b.len, &d);
    rp_buf_fini(&b);
    return rv;
}

static void
test_codec_shape(void **state)
{
    (void) state;
    assert_int_equal(decode_built(11, 1, 18, 10, 1, 0, 3, 1), RAMP_OK);
    assert_int_equal(decode_built(12, 1, 18, 10, 1, 0, 3, 1), RAMP_EPROTO);
    assert_int_equal(decode_built(11, 2, 18, 10, 1, 0, 3, 1), RAMP_EVERSION);
    assert_int_equal(decode_built(11, 1, 17, 10, 1, 0, 3, 1), RAMP_EPROTO);
    assert_int_equal(decode_built(11, 1, 19, 10, 1, 0, 3, 1), RAMP_EPROTO);
    assert_int_equal(decode_built(11, 1, 18, 10, 11, 0, 3, 1), RAMP_EPROTO);
    assert_int_equal(decode_built(11, 1, 18, 10, 1, -1.0, 3, 1), RAMP_EPROTO);
    assert_int_equal(decode_built(11, 1, 18, 10, 1, NAN, 3, 1), RAMP_EPROTO);
    assert_int_equal(decode_built(11, 1, 18, 10, 1, 0, 3, 4), RAMP_EPROTO);
    assert_int_equal(
        decode_built(11, 1, 18, 10, 1, 0, 1ULL << 32, 0), RAMP_EPROTO);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_names, setup),
        cmocka_unit_test_setup(test_no_data_below_min_samples, setup),
        cmocka_unit_test_setup(test_no_data_below_min_windows, setup),
        cmocka_unit_test_setup(test_pass_reachable, setup),
        cmocka_unit_test_setup(test_zero_errors_pass, setup),
        cmocka_unit_test_setup(test_fail_reachable, setup),
        cmocka_unit_test_setup(test_inconclusive_at_margin, setup),
        cmocka_unit_test_setup(test_error_absolute, setup),
        cmocka_unit_test_setup(test_critical, setup),
        cmocka_unit_test_setup(test_burst_is_not_a_regression, setup),
        cmocka_unit_test_setup(test_repeated_looks, setup),
        cmocka_unit_test_setup(test_cs_boundary, setup),
        cmocka_unit_test_setup(test_latency_edge, setup),
        cmocka_unit_test_setup(test_latency_relative_fail, setup),
        cmocka_unit_test_setup(test_latency_absolute_fail, setup),
        cmocka_unit_test_setup(test_latency_missing, setup),
        cmocka_unit_test_setup(test_treatment_only, setup),
        cmocka_unit_test_setup(test_bad_window_ignored, setup),
        cmocka_unit_test_setup(test_action_table, setup),
        cmocka_unit_test_setup(test_time_alone_never_advances, setup),
        cmocka_unit_test_setup(test_codec_roundtrip, setup),
        cmocka_unit_test_setup(test_codec_refuses, setup),
        cmocka_unit_test_setup(test_codec_shape, setup),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
