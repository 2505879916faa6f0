/* SPDX-License-Identifier: MIT */
/*
 * The data model (DESIGN §3): flags, variants, rules, clauses, splits and
 * rollouts, in the decoded form every process evaluates from. Not here:
 * encoding (codec.h), evaluation (eval.h), storage.
 *
 * Variants are referenced by name on the wire and in JSON; in memory they
 * are indexes into flag->variants, resolved once at decode time, so the
 * evaluation path never compares names.
 */
#ifndef RP_MODEL_H
#define RP_MODEL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ramp/err.h"

/* Limits. Decoders and validators enforce every one of them. */
#define RP_KEY_MAX 128          /* flag key: [a-z0-9][a-z0-9._-]{0,127} */
#define RP_NAME_MAX 64          /* variant names, attribute names */
#define RP_STR_MAX 4096         /* description, clause values, strings */
#define RP_JSON_MAX 65536       /* a json variant's text */
#define RP_SALT_LEN 16
#define RP_MAX_VARIANTS 64
#define RP_MAX_RULES 256
#define RP_MAX_CLAUSES 32       /* per rule */
#define RP_MAX_VALUES 1024      /* per clause */
#define RP_MAX_SPLITS RP_MAX_VARIANTS
#define RP_MAX_TAGS 32
#define RP_MAX_STAGES 16
#define RP_MAX_HISTORY 256      /* rollout history entries carried */
#define RP_BP_TOTAL 10000       /* basis points: 100% */

enum rp_type {
    RP_TYPE_BOOL = 0,
    RP_TYPE_STRING = 1,
    RP_TYPE_NUMBER = 2,
    RP_TYPE_JSON = 3,
};
#define RP_TYPE_COUNT 4

/* A variant value. s is owned, NUL-terminated, len bytes (no NUL inside
 * for strings). JSON values hold their compact JSON text in s. */
struct rp_value {
    enum rp_type type;
    bool b;       /* RP_TYPE_BOOL */
    double n;     /* RP_TYPE_NUMBER; finite */
    char *s;      /* RP_TYPE_STRING, RP_TYPE_JSON; owned */
    size_t len;   /* bytes in s */
};

struct rp_variant {
    char *name;   /* owned; [A-Za-z0-9_.-]{1,64} */
    struct rp_value value;
};

/* Operators. Wire codes are these values: append only. */
#define RP_OP_TABLE(X)                                                      \
    X(RP_OP_EQ, 0, "eq")                                                    \
    X(RP_OP_IN, 1, "in")                                                    \
    X(RP_OP_STARTS_WITH, 2, "starts_with")                                  \
    X(RP_OP_ENDS_WITH, 3, "ends_with")                                      \
    X(RP_OP_CONTAINS, 4, "contains")                                        \
    X(RP_OP_MATCHES, 5, "matches")                                          \
    X(RP_OP_LT, 6, "lt")                                                    \
    X(RP_OP_LTE, 7, "lte")                                                  \
    X(RP_OP_GT, 8, "gt")                                                    \
    X(RP_OP_GTE, 9, "gte")                                                  \
    X(RP_OP_SEMVER_LT, 10, "semver_lt")                                     \
    X(RP_OP_SEMVER_EQ, 11, "semver_eq")                                     \
    X(RP_OP_SEMVER_GT, 12, "semver_gt")                                     \
    X(RP_OP_BEFORE, 13, "before")                                           \
    X(RP_OP_AFTER, 14, "after")

enum rp_op {
#define RP_OP_ENUM(name, val, str) name = val,
    RP_OP_TABLE(RP_OP_ENUM)
#undef RP_OP_ENUM
};
#define RP_OP_COUNT 15

const char *rp_op_name(enum rp_op op);            /* "eq"; "?" if bad */
ramp_err rp_op_parse(const char *s, enum rp_op *out); /* RAMP_EINVAL */
const char *rp_type_name(enum rp_type t);         /* "bool", ... */
ramp_err rp_type_parse(const char *s, enum rp_type *out);

/* Parsed semantic version (semver.org 2.0.0). pre is a borrowed slice of
 * the clause value string it came from. */
struct rp_semver {
    uint64_t major, minor, patch;
    const char *pre;   /* pre-release identifiers, or NULL */
    size_t pre_len;
};

struct rp_clause {
    char *attr;        /* owned; "key" means the targeting key */
    enum rp_op op;
    bool negate;
    size_t nvalues;    /* >= 1 */
    char **values;     /* owned strings, as given */
    /* Compiled by rp_flag_prepare(); owned; only the op's array is set: */
    double *nums;      /* lt/lte/gt/gte: numbers; before/after: epoch ms */
    struct rp_semver *vers; /* semver_*: parsed */
    regex_t *res;      /* matches: POSIX ERE, REG_EXTENDED|REG_NOSUB */
    size_t *lens;      /* strlen of each value (string ops) */
};

struct rp_split {
    uint32_t variant;   /* index into flag->variants */
    uint32_t weight_bp; /* basis points; a rule's weights sum to 10000 */
};

struct rp_rule {
    size_t nclauses;        /* 0 means "always" */
    struct rp_clause *clauses; /* owned */
    int32_t variant;        /* index, or -1 when the rule serves a split */
    size_t nsplits;         /* > 0 iff variant == -1 */
    struct rp_split *splits; /* owned */
};

struct rp_flag {
    char *key;              /* owned */
    char *description;      /* owned, may be "" (never NULL) */
    enum rp_type type;
    size_t nvariants;       /* 1..RP_MAX_VARIANTS; bool flags: on, off */
    struct rp_variant *variants; /* owned */
    bool enabled;           /* the kill switch */
    uint32_t off_variant;   /* served when disabled */
    uint32_t default_variant; /* served when nothing else applies */
    size_t nrules;
    struct rp_rule *rules;  /* owned, evaluated in order */
    uint8_t salt[RP_SALT_LEN]; /* fixed at creation */
    uint64_t version;       /* +1 on every change, starts at 1 */
    int64_t updated_at_ms;  /* wall clock, epoch ms */
    char *updated_by;       /* owned, may be "" */
    size_t ntags;
    char **tags;            /* owned */
    bool prepared;          /* rp_flag_prepare() succeeded */
};

/* Rollouts (DESIGN §6). */
enum rp_unit { RP_UNIT_KEY = 0, RP_UNIT_ATTR = 1, RP_UNIT_HOST = 2 };

#define RP_RSTATE_TABLE(X)                                                  \
    X(RP_RS_PENDING, 0, "pending")                                          \
    X(RP_RS_RUNNING, 1, "running")                                          \
    X(RP_RS_PAUSED, 2, "paused")                                            \
    X(RP_RS_HELD, 3, "held")                                                \
    X(RP_RS_COMPLETED, 4, "completed")                                      \
    X(RP_RS_ROLLED_BACK, 5, "rolled_back")                                  \
    X(RP_RS_ABORTED, 6, "aborted")

enum rp_rstate {
#define RP_RS_ENUM(name, val, str) name = val,
    RP_RSTATE_TABLE(RP_RS_ENUM)
#undef RP_RS_ENUM
};
#define RP_RSTATE_COUNT 7
const char *rp_rstate_name(enum rp_rstate s);
ramp_err rp_rstate_parse(const char *s, enum rp_rstate *out);

/* Health policy; defaults from DESIGN §6 via rp_policy_default(). */
struct rp_policy {
    uint64_t bake_ms;          /* 600000 */
    uint64_t check_interval_ms; /* 10000 */
    uint64_t max_stage_ms;     /* 3600000 */
    uint32_t min_samples;      /* 200, per arm */
    uint32_t failure_limit;    /* 2 consecutive failing checks */
    double err_rel;            /* 0.50: +50% over control */
    double err_abs;            /* 0.05: absolute ceiling */
    double p95_rel;            /* 0.30: +30% over control */
    uint64_t p95_abs_us;       /* 2000000 */
    double crit_err;           /* 0.20 treatment error rate ... */
    uint32_t crit_min;         /* ... over at least 20 requests */
};
void rp_policy_default(struct rp_policy *p);

struct rp_history {
    int64_t ts_ms;
    enum rp_rstate from, to;
    uint32_t stage_index;
    char *reason;              /* owned, human text with the figures */
};

struct rp_rollout {
    char *flag_key;            /* owned */
    uint64_t id;               /* controller-assigned, > 0 */
    char *treatment;           /* owned variant name */
    char *control;             /* owned variant name */
    enum rp_unit unit;
    char *unit_attr;           /* owned; RP_UNIT_ATTR only, else NULL */
    size_t nstages;            /* 1..RP_MAX_STAGES */
    uint32_t stages_bp[RP_MAX_STAGES]; /* strictly increasing, last <= 10000 */
    struct rp_policy policy;
    enum rp_rstate state;
    uint32_t stage_index;      /* < nstages */
    int64_t created_at_ms, stage_entered_at_ms, updated_at_ms;
    uint64_t version;          /* +1 on every change */
    size_t nhistory;           /* <= RP_MAX_HISTORY (oldest dropped) */
    struct rp_history *history; /* owned */
};

/*
 * What evaluation needs of a rollout, resolved against one flag revision
 * (variant names -> indexes) by rp_rollout_view(). Plain data, no
 * pointers owned. applies == false: step 4 of evaluation is skipped.
 */
struct rp_rollout_view {
    bool applies;       /* running, paused, held, rolled_back, aborted */
    uint32_t stage_bp;  /* 0 once rolled back or aborted */
    uint32_t treatment, control; /* variant indexes */
    enum rp_unit unit;
    const char *unit_attr; /* borrowed from the rollout */
};

/*
 * Validate f and compile what evaluation needs (numbers, semvers, times,
 * regexes), so evaluation never parses or allocates. Idempotent. On error
 * f is unchanged apart from compiled state being released, and field (if
 * non-NULL) receives a path naming the offending field, e.g.
 * "rules[2].clauses[0].values[1]". RAMP_EINVAL, RAMP_ENOMEM.
 */
ramp_err rp_flag_prepare(struct rp_flag *f, char *field, size_t fieldsz);
ramp_err rp_rollout_validate(const struct rp_rollout *r, char *field,
    size_t fieldsz);
/* RAMP_OK; RAMP_EINVAL when the rollout's variants are not in f (the
 * view then has applies == false). */
ramp_err rp_rollout_view(const struct rp_rollout *r, const struct rp_flag *f,
    struct rp_rollout_view *v);

bool rp_flag_key_valid(const char *key, size_t len);
int32_t rp_flag_variant_index(const struct rp_flag *f, const char *name);

/* Deep copy (prepared state recompiled). RAMP_ENOMEM. */
ramp_err rp_flag_dup(const struct rp_flag *f, struct rp_flag **out);
ramp_err rp_rollout_dup(const struct rp_rollout *r, struct rp_rollout **out);
/* NULL is fine. Frees everything the struct owns and the struct. */
void rp_flag_free(struct rp_flag *f);
void rp_rollout_free(struct rp_rollout *r);
/* Release members only (for structs not allocated by rp_*_new). */
void rp_flag_fini(struct rp_flag *f);
void rp_rollout_fini(struct rp_rollout *r);

#endif
