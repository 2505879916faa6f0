/* SPDX-License-Identifier: MIT */
/*
 * The rollout engine (DESIGN §6): the state machine that moves each
 * rollout through its stages while it is healthy and rolls it back when
 * it is not, and the operator's actions on it.
 *
 *   pending -> running(stage i) <-> paused -> completed | rolled_back
 *                  |    ^                     | aborted
 *                  v    |
 *                  held
 *
 * Everything the engine knows is in the store: the rollout (published to
 * agents), and per flag an engine record (the stage's evidence, an
 * rp_stage_acc, and when the last check ran) and the last check records
 * (explain). Timestamps are absolute wall-clock milliseconds, so a
 * restarted controller resumes the same stage with the same remaining
 * bake and evidence. Checks are due at stage_entered_at + k *
 * check_interval; one that fell due while the controller was down runs
 * once at start with whatever data arrived, never as a burst.
 *
 * Threads: one engine thread wakes every tick and runs the checks that
 * are due; operator actions arrive from the API's writer thread. Both
 * take the engine's lock around a whole transition (read, decide, one
 * store transaction, publish), so they never race on a rollout's
 * version. Reads (GET routes, metrics) only read the store.
 *
 * Not here: the statistics (proto/decide.c), health intake (health.c),
 * webhooks and Prometheus (events.h), the HTTP routes (api_rollout.c).
 */
#ifndef CTL_ROLLOUT_H
#define CTL_ROLLOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api_ext.h"
#include "buf.h"
#include "decide.h"
#include "events.h"
#include "health.h"
#include "model.h"
#include "pub.h"
#include "ramp/err.h"
#include "store.h"

struct ctl_rollout_engine; /* opaque */

/*
 * Where a check's window comes from: the treatment and control sums for
 * flag since the last call. The default is the health intake
 * (ctl_health_drain / ctl_health_reset); tests give their own.
 */
typedef void (*ctl_window_fn)(void *arg, const char *flag,
    struct ctl_arm_sum *t, struct ctl_arm_sum *c);
typedef void (*ctl_window_reset_fn)(void *arg, const char *flag);
/* The wall clock, epoch ms (default: CLOCK_REALTIME). */
typedef int64_t (*ctl_clock_fn)(void *arg);

struct ctl_rollout_opts {
    struct ctl_store *store;   /* borrowed, required */
    struct ctl_pub *pub;       /* borrowed, required */
    struct ctl_health *health; /* borrowed; NULL: windows are empty */
    struct ctl_events *events; /* borrowed; NULL: no webhooks, gates open */
    struct ctl_prom *prom;     /* borrowed; NULL: no Prometheus checks */
    int64_t tick_ms;           /* engine thread period; 0: no thread */
    ctl_window_fn window;      /* NULL: the health intake */
    ctl_window_reset_fn window_reset;
    void *window_arg;
    ctl_clock_fn clock;        /* NULL: CLOCK_REALTIME */
    void *clock_arg;
};

/*
 * Start the engine (and its thread when tick_ms > 0). Everything
 * borrowed must outlive the engine. RAMP_EINVAL, RAMP_ENOMEM,
 * RAMP_ESYSTEM (thread). *out only on RAMP_OK.
 */
ramp_err ctl_rollout_open(
    const struct ctl_rollout_opts *o, struct ctl_rollout_engine **out);
/* Stop the thread (after the check it is running) and free. NULL fine.
 * The API calls into the engine: close the API first, then the engine,
 * then what it borrows (health intake, publisher, store). */
void ctl_rollout_close(struct ctl_rollout_engine *e);

/*
 * Run every check that is due at now_ms, as the thread does each tick.
 * Returns the number of checks run. Tests drive the engine with it (and
 * tick_ms 0).
 */
size_t ctl_rollout_tick(struct ctl_rollout_engine *e, int64_t now_ms);

/*
 * Start a rollout: r as decoded by rp_rollout_from_json (borrowed; the
 * engine copies it). The flag must exist (RAMP_ENOTFOUND) with both
 * variants (RAMP_EINVAL, field "treatment" or "control"); a flag with an
 * active rollout (pending, running, paused, held) is RAMP_ECONFLICT, a
 * finished one is replaced. The rollout is published running at stage 0
 * before this returns. *out (may be NULL) receives the stored rollout.
 * msg receives a one-line explanation of any error, field the field at
 * fault ("" when none).
 */
ramp_err ctl_rollout_start(struct ctl_rollout_engine *e,
    const struct rp_rollout *r, const char *actor, const char *reason,
    struct rp_rollout **out, char *field, size_t fieldsz, char *msg,
    size_t msgsz);

/* Operator actions (docs/api.md "Rollouts"). */
#define CTL_RACT_TABLE(X)                                                   \
    X(CTL_RACT_PAUSE, "pause")                                              \
    X(CTL_RACT_RESUME, "resume")                                            \
    X(CTL_RACT_PROMOTE, "promote")                                          \
    X(CTL_RACT_ABORT, "abort")                                              \
    X(CTL_RACT_RETRY, "retry")

enum ctl_ract {
#define CTL_RACT_ENUM(e, s) e,
    CTL_RACT_TABLE(CTL_RACT_ENUM)
#undef CTL_RACT_ENUM
    CTL_RACT_COUNT
};
const char *ctl_ract_name(enum ctl_ract a);
ramp_err ctl_ract_parse(const char *s, enum ctl_ract *out);

/*
 * Apply action to the rollout of flag: RAMP_ENOTFOUND (no rollout),
 * RAMP_ECONFLICT (not allowed from the current state: msg names both;
 * a repeated action is this, never a second transition), store errors.
 * Published, audited as "rollout.ACTION" with actor, and recorded in the
 * history with reason (may be NULL) before this returns.
 */
ramp_err ctl_rollout_act(struct ctl_rollout_engine *e, const char *flag,
    enum ctl_ract action, const char *actor, const char *reason,
    struct rp_rollout **out, char *msg, size_t msgsz);

/*
 * JSON of the rollout of flag with its "status" member (docs/api.md),
 * or the explain answer with the last `limit` checks. Read-only: any
 * thread, never waits on the engine. RAMP_ENOTFOUND, RAMP_ENOMEM,
 * RAMP_ESTORE.
 */
ramp_err ctl_rollout_status_json(struct ctl_rollout_engine *e,
    const char *flag, json_t **out);
ramp_err ctl_rollout_explain_json(struct ctl_rollout_engine *e,
    const char *flag, size_t limit, json_t **out);

/*
 * The engine's route table for ctl_api_opts.ext: every rollout and agent
 * route of docs/api.md (api_rollout.c).
 */
void ctl_rollout_api_ext(struct ctl_rollout_engine *e, struct ctl_api_ext *out);

/*
 * Append the engine's Prometheus families to out (promtext.h):
 * ramp_ctl_rollouts{state}, ramp_ctl_rollout_stage{flag} and
 * ramp_ctl_rollout_stage_percent{flag} (active rollouts only: bounded),
 * ramp_ctl_rollout_checks_total{verdict},
 * ramp_ctl_rollout_rollbacks_total, ramp_ctl_rollout_check_errors_total,
 * ramp_ctl_rollout_check_duration_seconds. Any thread; reads the store.
 * RAMP_ETOOBIG, RAMP_ENOMEM, RAMP_ESTORE; out is untouched on error.
 * The hook form (metrics.h ctl_metrics_fn) takes the engine as arg.
 */
ramp_err ctl_rollout_metrics(struct ctl_rollout_engine *e, struct rp_buf *out);
ramp_err ctl_rollout_metrics_hook(void *arg, struct rp_buf *out);

/* Counters, for tests and logs. */
struct ctl_rollout_stats {
    uint64_t checks[RP_VERDICT_CRITICAL + 1]; /* by verdict */
    uint64_t transitions;     /* published state or stage changes */
    uint64_t rollbacks;
    uint64_t errors;          /* checks that could not be stored */
    int64_t last_rollback_us; /* check start to publish, last rollback */
};
void ctl_rollout_stats(struct ctl_rollout_engine *e,
    struct ctl_rollout_stats *out);

/* The health intake the agent routes report on (may be NULL). */
struct ctl_health *ctl_rollout_health(struct ctl_rollout_engine *e);
struct ctl_store *ctl_rollout_store(struct ctl_rollout_engine *e);
/* The engine's clock (opts.clock), epoch ms. */
int64_t ctl_rollout_now(struct ctl_rollout_engine *e);

#endif
