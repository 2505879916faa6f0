/* SPDX-License-Identifier: MIT */
/*
 * What the rollout engine tells the outside world, and asks of it
 * (issue: webhooks and Prometheus analysis). The engine calls these from
 * its own thread; none of them waits on the network: events are queued
 * (persistently) and delivered by webhook.c's sender, gates and
 * Prometheus queries run asynchronously and the engine reads their last
 * result at its next check.
 *
 * NULL handles are fine everywhere (no webhooks, no Prometheus): emit
 * does nothing, gates are open, there are no Prometheus results.
 */
#ifndef CTL_EVENTS_H
#define CTL_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "decide.h"
#include "model.h"

#define CTL_EVENT_TABLE(X)                                                  \
    X(CTL_EV_STARTED, "rollout.started")                                    \
    X(CTL_EV_ADVANCED, "rollout.stage_advanced")                            \
    X(CTL_EV_PAUSED, "rollout.paused")                                      \
    X(CTL_EV_RESUMED, "rollout.resumed")                                    \
    X(CTL_EV_HELD, "rollout.held")                                          \
    X(CTL_EV_PROMOTED, "rollout.promoted")                                  \
    X(CTL_EV_COMPLETED, "rollout.completed")                                \
    X(CTL_EV_ROLLED_BACK, "rollout.rolled_back")                            \
    X(CTL_EV_ABORTED, "rollout.aborted")                                    \
    X(CTL_EV_RETRIED, "rollout.retried")                                    \
    X(CTL_EV_FLAG_CHANGED, "flag.changed")

enum ctl_event_kind {
#define CTL_EV_ENUM(e, s) e,
    CTL_EVENT_TABLE(CTL_EV_ENUM)
#undef CTL_EV_ENUM
    CTL_EV_COUNT
};
const char *ctl_event_name(enum ctl_event_kind k);

struct ctl_event {
    enum ctl_event_kind kind;
    const char *flag;
    uint64_t rollout_id;      /* 0 for flag events */
    enum rp_rstate from, to;  /* rollout events */
    uint32_t stage_index;     /* after the transition */
    uint32_t stage_bp;        /* served share after it, basis points */
    const char *actor;        /* token name, or "engine" */
    const char *reason;       /* one line, with the figures */
    int64_t ts_ms;
    uint64_t flag_version;    /* flag events */
    const json_t *check;      /* the check behind it (explain's form), or NULL */
};

struct ctl_events; /* webhook.c */

/* Queue e for every matching webhook; never blocks on the network. */
void ctl_events_emit(struct ctl_events *ev, const struct ctl_event *e);

enum ctl_gate {
    CTL_GATE_OPEN = 0,    /* no gate, or it answered 2xx */
    CTL_GATE_PENDING = 1, /* asked, no answer yet (or retrying) */
    CTL_GATE_CLOSED = 2,  /* it answered non-2xx */
};
/*
 * May rollout `rollout_id` of flag enter stage `next_stage`? The first
 * call starts the gate request(s) and returns PENDING; later calls return
 * the result. A gate never delays health checks or rollback.
 */
enum ctl_gate ctl_events_gate(struct ctl_events *ev, const char *flag,
    uint64_t rollout_id, uint32_t next_stage);

/* Prometheus analysis (prom.c). */
struct ctl_prom;
#define CTL_PROM_NAME_MAX 64
struct ctl_prom_result {
    char name[CTL_PROM_NAME_MAX + 1];
    enum rp_verdict verdict; /* PASS, FAIL, or NO_DATA (error, empty) */
    double value, threshold;
    char op[4];              /* "<", "<=", ">", ">=" */
    char detail[160];        /* the error, or the query as run */
    int64_t at_ms;           /* when the result was obtained */
};
/*
 * Start this check's queries for rollout r (stage-templated) and return
 * the latest completed results (up to max) into out. Never blocks.
 */
size_t ctl_prom_check(struct ctl_prom *p, const struct rp_rollout *r,
    struct ctl_prom_result *out, size_t max);

#endif
