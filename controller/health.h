/* SPDX-License-Identifier: MIT */
/*
 * Health intake (DESIGN §5, §7): signed HEALTH reports from enrolled
 * agents on the PULL socket (health-url), turned into per-flag, per-arm
 * sums the rollout engine drains once per check.
 *
 * Counters in a report are cumulative since the agent's boot: the intake
 * keeps the last value per (agent, boot, flag, variant, arm) and adds the
 * difference, so a lost or reordered report loses nothing and a new boot
 * starts from zero. After a controller restart the first report seen of a
 * boot that is already past its first report only sets the baseline
 * (nothing is counted twice; one interval is not counted).
 *
 * ctl_health_ingest() is the whole decision for one message, with no
 * socket: the receive thread calls it, and so do tests and benches.
 *
 * Not here: the rollout decisions (rollout.c), enrollment storage
 * (store.c).
 */
#ifndef CTL_HEALTH_H
#define CTL_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"
#include "ramp/err.h"
#include "store.h"

struct ctl_health;

struct ctl_health_opts {
    struct ctl_store *store;  /* enrolled agents */
    const char *url;          /* PULL listen URL; NULL: no socket */
    bool open_enrollment;     /* accept ENROLL messages (development) */
    size_t recv_max;          /* RECVMAXSZ, bytes */
};

ramp_err ctl_health_open(const struct ctl_health_opts *o,
    struct ctl_health **out);
void ctl_health_close(struct ctl_health *h); /* NULL fine */

/* Reasons a message is refused, counted and logged (rate-limited). */
#define CTL_HREJ_TABLE(X)                                                   \
    X(CTL_HREJ_MALFORMED, "malformed")                                      \
    X(CTL_HREJ_KIND, "wrong_kind")                                          \
    X(CTL_HREJ_NOT_ENROLLED, "not_enrolled")                                \
    X(CTL_HREJ_SIGNATURE, "bad_signature")                                  \
    X(CTL_HREJ_AGENT_MISMATCH, "agent_mismatch")                            \
    X(CTL_HREJ_REPLAY, "replay")                                            \
    X(CTL_HREJ_TOO_BIG, "too_big")                                          \
    X(CTL_HREJ_FULL, "full")

enum ctl_hrej {
#define CTL_HREJ_ENUM(e, s) e,
    CTL_HREJ_TABLE(CTL_HREJ_ENUM)
#undef CTL_HREJ_ENUM
    CTL_HREJ_COUNT
};
const char *ctl_hrej_name(enum ctl_hrej r);

/* Handle one message as received: RAMP_OK (accepted), or an error with
 * *why set. Thread-safe. */
ramp_err ctl_health_ingest(struct ctl_health *h, const uint8_t *msg,
    size_t n, int64_t now_ms, enum ctl_hrej *why);

/*
 * Bounds (memory): agents tracked, boots kept per agent (a new boot
 * replaces the least recently seen one), per-boot entries summed over
 * all boots, and flags with arm sums. A report that would go past one is
 * refused (CTL_HREJ_FULL) and changes nothing.
 */
#define CTL_HEALTH_MAX_AGENTS 65536
#define CTL_HEALTH_BOOTS 2
#define CTL_HEALTH_MAX_TRACKED (1u << 20)
#define CTL_HEALTH_MAX_FLAGS 4096
/* The default recv_max: a HEALTH payload plus the envelope's fields. */
#define CTL_HEALTH_RECV_DEFAULT ((4u << 20) + 1024)

/* Enrollment changed in the store: reload the keys. (Keys are also
 * reloaded every 10 s and, at most once a second, when a report comes
 * with a key id not in memory, so an agent enrolled through the API is
 * accepted within a second even if nobody calls this.) */
void ctl_health_agents_changed(struct ctl_health *h);

/* One arm's sums since the last drain. */
struct ctl_arm_sum {
    uint64_t evaluations, successes, errors;
    struct rp_hist hist; /* latency of successes and errors */
    uint32_t agents;     /* agents that contributed */
};

/* Move what was gathered for flag since its last drain into t
 * (treatment) and c (control), zeroing it. Unknown flag: zeros. */
void ctl_health_drain(struct ctl_health *h, const char *flag,
    struct ctl_arm_sum *t, struct ctl_arm_sum *c);
/* Forget what was gathered for flag (at a stage change). */
void ctl_health_reset(struct ctl_health *h, const char *flag);

struct ctl_health_stats {
    uint64_t received, accepted;
    uint64_t rejected[CTL_HREJ_COUNT];
    uint32_t agents_seen;
    /* additions */
    uint64_t enrolled;        /* ENROLLs that enrolled an agent (open) */
    uint64_t baselines;       /* reports that only set a baseline */
    uint64_t resets;          /* entries whose counters went backwards */
    uint64_t arm_evaluations[3]; /* evaluations taken in, by rp_arm */
    uint64_t arm_outcomes[3];    /* successes + errors taken in, by arm */
    uint32_t boots, tracked, flags; /* memory in use: boots, entries,
                                     * flags with arm sums */
};
void ctl_health_stats(struct ctl_health *h, struct ctl_health_stats *out);

/* Last accepted report of agent id: ts (ms) and count; false if none. */
bool ctl_health_agent_seen(struct ctl_health *h, const char *id,
    int64_t *last_ms, uint64_t *reports);

#endif
