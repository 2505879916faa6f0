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

/* ------------------------------------------------------------------ */
/* Additions: messages, the key, and the sockets                       */
/* ------------------------------------------------------------------ */

/* An outcome message from libramp on the outcome socket (protocol.md
 * §10): [flag(str), variant(str), arm(uint 0..2), ok(bool),
 * latency_us(uint)], at most AGT_OUTCOME_MAX bytes. */
#define AGT_OUTCOME_MAX 512

/*
 * Decode one outcome message strictly (size cap and pre-scan before
 * unpacking, flag key syntax, variant 1..64 bytes, arm 0..2, trailing
 * elements tolerated) and observe it. RAMP_EPROTO or RAMP_ETOOBIG (the
 * message is counted in dropped_invalid and changes nothing), RAMP_OK,
 * or agt_health_observe()'s errors.
 */
ramp_err agt_health_outcome(struct agt_health *h, const uint8_t *msg,
    size_t n);

/*
 * Build the next report (agt_health_report) and seal it as a HEALTH
 * envelope (seq = report_seq, ts = now_ms) signed with kp, appended to
 * out. RAMP_ENOMEM, RAMP_ETOOBIG.
 */
ramp_err agt_health_seal_report(struct agt_health *h,
    const struct rp_keypair *kp, int64_t now_ms, struct rp_buf *out);

/*
 * Seal an ENROLL envelope ([agent_id, host, pk], seq, ts = now_ms)
 * signed with kp itself: the proof that the sender holds the key it
 * announces. Appended to out. RAMP_ENOMEM, RAMP_ETOOBIG.
 */
ramp_err agt_health_seal_enroll(struct agt_health *h,
    const struct rp_keypair *kp, uint64_t seq, int64_t now_ms,
    struct rp_buf *out);

/*
 * Load the agent's signing key from path; when the file does not exist
 * and create is true, generate one and write it mode 0600 (*created set).
 * RAMP_ENOTFOUND (missing, create false), rp_key_load()'s and
 * rp_key_save()'s errors (RAMP_EPERM for a key file open to group or
 * others).
 */
ramp_err agt_health_key(const char *path, bool create, struct rp_keypair *kp,
    bool *created);

/*
 * The sockets and threads: an outcome PULL listening on outcome_url
 * (ipc socket file chmod'ed to socket_mode) feeding agt_health_outcome,
 * and a reporter sending a signed report every interval_ms, plus an
 * ENROLL at start and every AGT_ENROLL_EVERY_MS, over PUSH to
 * health_url ("none": no reports, outcomes still aggregated). Sends
 * never block: a report that cannot be queued is counted in
 * reports_failed and lost harmlessly (counters are cumulative).
 */
#define AGT_ENROLL_EVERY_MS 30000

struct agt_reporter_opts {
    const char *outcome_url;      /* NULL or "none": no outcome socket */
    unsigned socket_mode;         /* ipc socket file mode */
    const char *health_url;       /* "none": no reports */
    int64_t interval_ms;          /* >= 10 */
    const struct rp_keypair *kp;  /* copied */
};
struct agt_reporter;

/* RAMP_EINVAL, RAMP_ESYSTEM, RAMP_ENOMEM (a bad health_url:
 * RAMP_EINVAL). An outcome socket that cannot listen (address in use,
 * permissions) is logged (RAMP-AGENT-OUTCOME-LISTEN-FAIL) and not fatal:
 * the agent serves on without outcomes. h is borrowed and must outlive
 * the reporter. */
ramp_err agt_reporter_start(const struct agt_reporter_opts *o,
    struct agt_health *h, struct agt_reporter **out);
/* Stop the threads (joined), then close the sockets. NULL fine. */
void agt_reporter_stop(struct agt_reporter *r);

#endif
