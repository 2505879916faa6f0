/* SPDX-License-Identifier: MIT */
/*
 * The evaluation engine (DESIGN §4): one pure function shared by the
 * agent, libramp's direct mode and the controller's dry run. It never
 * allocates, never locks, never parses: flags must have been through
 * rp_flag_prepare(). Thread-safe on shared, unchanging flags.
 *
 * Order: flag missing -> ERROR/FLAG_NOT_FOUND; disabled -> off_variant,
 * DISABLED; first rule whose clauses all hold -> its variant
 * (TARGETING_MATCH) or its split (SPLIT); rollout applies -> treatment if
 * bucket < stage_bp else control (SPLIT); otherwise default_variant,
 * STATIC (no rules) or DEFAULT.
 */
#ifndef RP_EVAL_H
#define RP_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* OpenFeature resolution reasons. */
#define RP_REASON_TABLE(X)                                                  \
    X(RP_REASON_STATIC, 0, "STATIC")                                        \
    X(RP_REASON_DEFAULT, 1, "DEFAULT")                                      \
    X(RP_REASON_TARGETING_MATCH, 2, "TARGETING_MATCH")                      \
    X(RP_REASON_SPLIT, 3, "SPLIT")                                          \
    X(RP_REASON_DISABLED, 4, "DISABLED")                                    \
    X(RP_REASON_ERROR, 5, "ERROR")                                          \
    X(RP_REASON_STALE, 6, "STALE")                                          \
    X(RP_REASON_CACHED, 7, "CACHED")                                        \
    X(RP_REASON_UNKNOWN, 8, "UNKNOWN")

enum rp_reason {
#define RP_REASON_ENUM(name, val, str) name = val,
    RP_REASON_TABLE(RP_REASON_ENUM)
#undef RP_REASON_ENUM
};

/* OpenFeature error codes. */
#define RP_ECODE_TABLE(X)                                                   \
    X(RP_EC_NONE, 0, "")                                                    \
    X(RP_EC_PROVIDER_NOT_READY, 1, "PROVIDER_NOT_READY")                    \
    X(RP_EC_FLAG_NOT_FOUND, 2, "FLAG_NOT_FOUND")                            \
    X(RP_EC_PARSE_ERROR, 3, "PARSE_ERROR")                                  \
    X(RP_EC_TYPE_MISMATCH, 4, "TYPE_MISMATCH")                              \
    X(RP_EC_TARGETING_KEY_MISSING, 5, "TARGETING_KEY_MISSING")              \
    X(RP_EC_INVALID_CONTEXT, 6, "INVALID_CONTEXT")                          \
    X(RP_EC_GENERAL, 7, "GENERAL")

enum rp_ecode {
#define RP_ECODE_ENUM(name, val, str) name = val,
    RP_ECODE_TABLE(RP_ECODE_ENUM)
#undef RP_ECODE_ENUM
};

const char *rp_reason_name(enum rp_reason r); /* "SPLIT"; "UNKNOWN" if bad */
const char *rp_ecode_name(enum rp_ecode e);   /* "" for RP_EC_NONE */

enum rp_attr_type { RP_ATTR_STRING = 0, RP_ATTR_NUMBER = 1, RP_ATTR_BOOL = 2 };

/* One context attribute. All pointers borrowed for the call. */
struct rp_attr {
    const char *name;       /* NUL-terminated */
    enum rp_attr_type type;
    const char *s;          /* RP_ATTR_STRING: bytes, need not be NUL-terminated */
    size_t len;             /* bytes in s */
    double n;               /* RP_ATTR_NUMBER */
    bool b;                 /* RP_ATTR_BOOL */
};

/* Evaluation context. key == NULL means no targeting key. */
struct rp_ctx {
    const char *key;        /* targeting key bytes, borrowed */
    size_t key_len;
    const char *host;       /* the agent's host id (unit "host"); may be NULL */
    size_t host_len;
    size_t nattrs;
    const struct rp_attr *attrs; /* borrowed; names need not be unique: first wins */
};

/* Which rollout arm a unit fell into, for health attribution. */
enum rp_arm { RP_ARM_NONE = 0, RP_ARM_TREATMENT = 1, RP_ARM_CONTROL = 2 };

struct rp_result {
    int32_t variant;            /* index into flag->variants, -1 on error */
    const struct rp_value *value; /* borrowed from the flag; NULL on error */
    const char *variant_name;   /* borrowed; NULL on error */
    enum rp_reason reason;
    enum rp_ecode error;        /* RP_EC_NONE unless reason == ERROR */
    int32_t rule;               /* matching rule index, or -1 */
    uint32_t bucket;            /* 0..9999, or UINT32_MAX if not computed */
    enum rp_arm arm;            /* set when the rollout decided */
};

/*
 * Evaluate f (may be NULL: FLAG_NOT_FOUND) for ctx. ro may be NULL (no
 * rollout). Always fills *out. On an error result (reason ERROR) the
 * caller serves its own default value.
 */
void rp_eval(const struct rp_flag *f, const struct rp_rollout_view *ro,
    const struct rp_ctx *ctx, struct rp_result *out);

/* As rp_eval, but a flag whose type is not want gives TYPE_MISMATCH. */
void rp_eval_typed(const struct rp_flag *f, const struct rp_rollout_view *ro,
    const struct rp_ctx *ctx, enum rp_type want, struct rp_result *out);

#endif
