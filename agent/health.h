/* SPDX-License-Identifier: MIT */
/*
 * The agent's health aggregation (DESIGN §5): outcomes reported by
 * applications (libramp's ramp_observe over the outcome socket, OFREP's
 * /ramp/v1/outcomes) and evaluations the agent served, summed per
 * (flag, variant, arm) since this agent's boot, and turned every
 * report-interval into a HEALTH envelope signed with the agent's key.
 *
 * Thread-safe: observe and count from any thread (query workers, the
 * HTTP server, the outcome receiver), snapshot from the reporter.
 *
 * Not here: sockets (the outcome PULL and the health PUSH live in
 * agt_reporter, health.c too), evaluation.
 */
#ifndef AGT_HEALTH_H
#define AGT_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "codec.h"
#include "envelope.h"
#include "ramp/err.h"

/* Distinct (flag, variant, arm) triples tracked; beyond it new triples
 * are dropped and counted (a report carries at most 4096 entries). */
#define AGT_HEALTH_MAX_ENTRIES 4096

struct agt_health;

ramp_err agt_health_new(const char *agent_id, const char *host,
    struct agt_health **out);
void agt_health_free(struct agt_health *h);

/* One outcome: success or error, latency in µs. arm is enum rp_arm.
 * Unknown sizes (flag > 128 bytes, variant > 64) are refused with
 * RAMP_EINVAL and counted. */
ramp_err agt_health_observe(struct agt_health *h, const char *flag,
    const char *variant, uint32_t arm, bool success, uint64_t latency_us);
/* One evaluation served by this agent (ipc query, OFREP). */
void agt_health_count_eval(struct agt_health *h, const char *flag,
    const char *variant, uint32_t arm);

/* Cumulative counters since boot as a report (report_seq advanced by
 * one per call); free with rp_health_free. */
ramp_err agt_health_report(struct agt_health *h, int64_t now_ms,
    struct rp_health **out);

struct agt_health_stats {
    uint64_t outcomes, evaluations; /* accepted */
    uint64_t dropped_full, dropped_invalid;
    uint64_t reports_sent, reports_failed;
    uint32_t entries;
};
void agt_health_stats(struct agt_health *h, struct agt_health_stats *out);

#endif
