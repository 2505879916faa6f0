/* SPDX-License-Identifier: MIT */
/*
 * The rollout decision engine (DESIGN §6) as pure functions: no clock, no
 * store, no sockets. The controller's rollout engine and the simulator
 * (tests/sim) drive the same code, so the false-rollback rate and the
 * detection power measured by the simulator are those of the daemon.
 *
 * A stage's evidence is a struct rp_stage_acc: constant-size sums over the
 * stage's check windows, each window treated as one cluster (errors come
 * in bursts; a variance that assumes independent requests rolls back
 * healthy changes when a burst hits one arm). It is persisted with the
 * rollout (rp_stage_acc_encode), so a controller restart resumes with
 * the same evidence.
 *
 * rp_decide_check() folds one window into the accumulator and tests,
 * with a one-sided confidence sequence that stays valid under repeated
 * looks:
 *   - error rate: treatment vs control relative (err_rel) and absolute
 *     (err_abs);
 *   - latency: the share of requests slower than an edge (control's p95
 *     from the stage's first windows, times 1 + p95_rel) in treatment vs
 *     control, and the share above p95_abs_us against 5%;
 *   - a critical guardrail (crit_err over at least crit_min requests in
 *     the window or the stage) that needs no test.
 * rp_decide_action() turns the verdict, the consecutive-failure count
 * and the stage's age into what the engine does.
 *
 * The method, its parameters and the simulator's figures are in
 * docs/rollouts.md.
 */
#ifndef RP_DECIDE_H
#define RP_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hist.h"
#include "model.h"
#include "ramp/err.h"

/* One arm over one check window (sums across agents). */
struct rp_window_arm {
    uint64_t requests; /* successes + errors */
    uint64_t errors;
    const struct rp_hist *hist; /* latency; may be NULL (no latency data) */
};
struct rp_window {
    struct rp_window_arm t, c; /* treatment, control */
    /* The stage serves the treatment to every unit (100%): there is no
     * control arm, so the relative tests are left out and the absolute
     * tests and the guardrail decide. false: a control arm that reports
     * nothing is missing data, never a pass. */
    bool treatment_only;
};

/*
 * Per-arm sums over the stage's windows (clusters). Error sums are over
 * requests; latency sums are over timed requests (the window histogram's
 * count), because an application may time only some of them: over_abs
 * from the stage's first window, slow only from the window after the
 * edge was fixed (the edge's own windows are not tested against it).
 * The x_ products pair each count with its own denominator: x_err with
 * requests, x_over with timed, x_slow with timed_e.
 */
struct rp_arm_acc {
    uint64_t requests, errors, slow, over_abs; /* sums */
    double sq_req, sq_err, sq_slow, sq_over;   /* sums of per-window squares */
    double x_err, x_slow, x_over; /* sums of denominator*x per window */
    uint32_t windows;             /* windows with requests > 0 */
    uint64_t timed;               /* timed requests (sum of histogram counts) */
    uint64_t timed_e;             /* timed requests since the edge was fixed */
    double sq_timed, sq_timed_e;  /* sums of per-window squares */
    uint32_t lat_windows;         /* windows with timed > 0 */
    uint32_t edge_windows;        /* windows with timed > 0 after the edge */
};

struct rp_stage_acc {
    struct rp_arm_acc t, c;
    uint64_t edge_us;              /* latency edge; 0 until fixed */
    struct rp_hist edge_hist;      /* control latency until the edge is fixed */
    uint64_t p95_t_us, p95_c_us;   /* stage p95 per arm (for display) */
    struct rp_hist hist_t, hist_c; /* stage latency per arm */
    uint32_t checks;               /* checks run in this stage */
    uint32_t fails;                /* consecutive failing checks */
};

/*
 * Constants of the method (docs/rollouts.md, "Decision method").
 * RP_DECIDE_ALPHA: one-sided error of each bound, for FAIL and for PASS,
 * valid at every look. RP_DECIDE_ERR_SLACK: absolute slack added to the
 * relative error limit, (1 + err_rel) * control + slack, so that arms
 * with no errors at all can show non-inferiority. RP_DECIDE_MIN_WINDOWS:
 * windows an arm needs before a test may pass or fail (the
 * between-window variance needs several clusters). RP_DECIDE_TAIL: the
 * share of requests above a p95.
 */
#define RP_DECIDE_ALPHA 0.05
#define RP_DECIDE_ERR_SLACK 0.001
#define RP_DECIDE_MIN_WINDOWS 3
#define RP_DECIDE_TAIL 0.05

/* Upper bound of an encoded accumulator: three full histograms (about
 * 6.7 KiB each) and two arms of 18 numbers. */
#define RP_STAGE_ACC_ENC_MAX (64u << 10)

/* Zero: a fresh stage. */
void rp_stage_acc_init(struct rp_stage_acc *a);
/*
 * msgpack form (docs/rollouts.md): [1, arm_t, arm_c, edge_us, edge_hist,
 * p95_t_us, p95_c_us, hist_t, hist_c, checks, fails], an arm being
 * [requests, errors, slow, over_abs, timed, timed_e, sq_req, sq_err,
 * sq_slow, sq_over, sq_timed, sq_timed_e, x_err, x_slow, x_over, windows,
 * lat_windows, edge_windows]. Encode appends to b: RAMP_OK, RAMP_ENOMEM,
 * RAMP_ETOOBIG (b's ceiling); on error b is as it was.
 */
ramp_err rp_stage_acc_encode(struct rp_buf *b, const struct rp_stage_acc *a);
/*
 * Strict: exactly that layout, every count consistent (errors <=
 * requests, slow <= timed_e <= timed, ...), finite non-negative sums, no
 * trailing bytes. RAMP_OK; RAMP_EPROTO (malformed); RAMP_ETOOBIG (n >
 * RP_STAGE_ACC_ENC_MAX); RAMP_EVERSION (unknown version); RAMP_ENOMEM.
 * *a is written only on RAMP_OK.
 */
ramp_err rp_stage_acc_decode(
    const uint8_t *p, size_t n, struct rp_stage_acc *a);

enum rp_verdict {
    RP_VERDICT_NO_DATA = 0,      /* fewer than min_samples in an arm */
    RP_VERDICT_INCONCLUSIVE = 1, /* neither bound crossed */
    RP_VERDICT_PASS = 2,         /* no worse than every margin, shown */
    RP_VERDICT_FAIL = 3,         /* worse than a margin, shown */
    RP_VERDICT_CRITICAL = 4,     /* guardrail: roll back now */
};
const char *rp_verdict_name(enum rp_verdict v);

/*
 * One test's figures, for explain. value and limit are rates or shares
 * (0..1); lower/upper bound value and are shifted with the limit, so
 * FAIL is lower > limit and PASS is upper < limit. The metrics, in
 * order: error_rate_relative, error_rate_absolute, latency_p95_relative,
 * latency_p95_absolute, error_rate_critical (the guardrail).
 */
struct rp_metric {
    const char *name; /* static: "error_rate_relative", ... */
    enum rp_verdict verdict;
    double value;        /* estimate of the tested quantity */
    double lower, upper; /* confidence sequence bounds */
    double limit;        /* what it is held to */
    /* false: shown but left out of the overall verdict (latency not
     * reported by either arm, no control arm, the guardrail unless it
     * tripped) */
    bool counted;
};

#define RP_DECIDE_MAX_METRICS 6
struct rp_check {
    enum rp_verdict verdict;
    uint64_t req_t, req_c, err_t, err_c; /* stage totals after the window */
    double rate_t, rate_c;
    uint64_t p95_t_us, p95_c_us;
    size_t nmetrics;
    struct rp_metric metrics[RP_DECIDE_MAX_METRICS];
    char reason[256]; /* one line with the figures */
};

/*
 * Fold w into a and test. Always fills out. Never allocates. A window
 * with errors > requests in an arm is malformed: it is not folded, the
 * stage is tested as it was and out->reason says so. Increments
 * a->checks; a->fails belongs to rp_decide_action().
 */
void rp_decide_check(const struct rp_policy *pol, struct rp_stage_acc *a,
    const struct rp_window *w, struct rp_check *out);

/*
 * Multiplier of the confidence sequence (normal mixture, docs/rollouts.md)
 * at intrinsic time t with mixing scale rho, both in treatment requests:
 * sqrt((1 + rho/t) * (log(1 + t/rho) + 2 log(1/alpha))). Exposed for the
 * tests and the docs; +inf when t <= 0.
 */
double rp_decide_cs_z(double t, double rho, double alpha);

enum rp_action {
    RP_ACT_NONE = 0,     /* keep baking */
    RP_ACT_EXTEND = 1,   /* bake is over but the evidence is not there */
    RP_ACT_ADVANCE = 2,  /* next stage */
    RP_ACT_COMPLETE = 3, /* last stage passed */
    RP_ACT_HOLD = 4,     /* max_stage reached without evidence */
    RP_ACT_ROLLBACK = 5,
};
const char *rp_action_name(enum rp_action a);

/*
 * What to do after check c, for a stage that has run stage_age_ms and is
 * stage index `stage` of nstages. Updates a->fails (consecutive FAIL
 * count; reset by anything but FAIL). ROLLBACK on CRITICAL, or when
 * fails reaches failure_limit. ADVANCE/COMPLETE only on PASS once the
 * bake is over. HOLD once max_stage_ms is over without a PASS.
 */
enum rp_action rp_decide_action(const struct rp_policy *pol,
    struct rp_stage_acc *a, const struct rp_check *c, int64_t stage_age_ms,
    uint32_t stage, uint32_t nstages);

#endif
