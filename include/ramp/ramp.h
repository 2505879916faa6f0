/* SPDX-License-Identifier: MIT */
/*
 * libramp: evaluate ramp feature flags from an application.
 *
 * Two modes, one API:
 * - direct: read the local agent's LMDB state in-process ("direct:DIR",
 *   DIR being the agent's state directory). No IPC, no allocation and no
 *   msgpack decoding per evaluation: decoded flags are cached and
 *   reloaded only when the agent has applied a change. The application
 *   needs read access to DIR/data.mdb and write access to DIR/lock.mdb.
 * - ipc: ask the agent over its query socket ("ipc:///run/ramp/agent.sock"
 *   or any nng URL the agent listens on). One round trip per evaluation.
 *
 * Threads: a ramp_client is thread-safe; share one per process. A
 * ramp_ctx is not: use one per thread or per request. libramp never
 * prints: install a log callback with ramp_set_log().
 *
 * Errors: every evaluation writes *out (the caller's default unless a
 * variant was served) and, when detail is non-NULL, fills it, even on
 * error. RAMP_OK means a variant of the flag was served.
 */
#ifndef RAMP_RAMP_H
#define RAMP_RAMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ramp/err.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RAMP_VERSION_MAJOR 0
#define RAMP_VERSION_MINOR 1
#define RAMP_VERSION_PATCH 0

/** Connection to the local agent (or its state). Opaque; thread-safe. */
typedef struct ramp_client ramp_client;
/** Evaluation context: targeting key and attributes. Not thread-safe. */
typedef struct ramp_ctx ramp_ctx;

/** OpenFeature resolution reasons (values match the wire). */
typedef enum {
    RAMP_REASON_STATIC = 0,
    RAMP_REASON_DEFAULT = 1,
    RAMP_REASON_TARGETING_MATCH = 2,
    RAMP_REASON_SPLIT = 3,
    RAMP_REASON_DISABLED = 4,
    RAMP_REASON_ERROR = 5,
    RAMP_REASON_STALE = 6,
    RAMP_REASON_CACHED = 7,
    RAMP_REASON_UNKNOWN = 8,
} ramp_reason;

/** OpenFeature error codes (values match the wire). */
typedef enum {
    RAMP_EVAL_OK = 0,
    RAMP_EVAL_PROVIDER_NOT_READY = 1,
    RAMP_EVAL_FLAG_NOT_FOUND = 2,
    RAMP_EVAL_PARSE_ERROR = 3,
    RAMP_EVAL_TYPE_MISMATCH = 4,
    RAMP_EVAL_TARGETING_KEY_MISSING = 5,
    RAMP_EVAL_INVALID_CONTEXT = 6,
    RAMP_EVAL_GENERAL = 7,
} ramp_eval_error;

/** Flag value types (values match the wire). */
typedef enum {
    RAMP_TYPE_BOOL = 0,
    RAMP_TYPE_STRING = 1,
    RAMP_TYPE_NUMBER = 2,
    RAMP_TYPE_JSON = 3,
} ramp_type;

#define RAMP_VARIANT_MAX 64 /* bytes in a variant name */

/** Which arm of a rollout an evaluation landed in (values match the
 * wire's health entries). */
typedef enum {
    RAMP_ARM_NONE = 0,      /* no rollout decided this evaluation */
    RAMP_ARM_TREATMENT = 1, /* bucketed into the rollout's stage */
    RAMP_ARM_CONTROL = 2,   /* reached the rollout, not bucketed */
} ramp_arm;

/** What happened in one evaluation. Plain data; owns nothing. */
struct ramp_detail {
    char variant[RAMP_VARIANT_MAX + 1]; /* served variant, "" on error */
    ramp_arm arm;              /* the rollout arm, for ramp_observe */
    ramp_reason reason;
    ramp_eval_error error;     /* RAMP_EVAL_OK unless reason is ERROR */
    uint64_t flag_version;     /* 0 when the flag is unknown */
    bool stale;                /* agent has missed heartbeats */
};

/**
 * Open a client.
 *
 * @param target  "direct:DIR" or an nng URL of the agent's query socket
 *                (ipc://, tcp://); borrowed for the call
 * @param flags   0 (reserved)
 * @param out     receives the client on RAMP_OK
 * @return RAMP_OK; RAMP_EINVAL (bad target); RAMP_ENOTFOUND (direct: no
 *         agent state in DIR); RAMP_EPERM (direct: no access to the
 *         files); RAMP_ESTORE; RAMP_ECLOSED (ipc: cannot reach the agent
 *         -- ipc clients connect lazily, so this is returned only for a
 *         malformed URL); RAMP_ENOMEM
 */
RAMP_API ramp_err ramp_open(const char *target, unsigned flags,
    ramp_client **out);

/** Close and free. NULL is fine. No evaluation may be running on c. */
RAMP_API void ramp_close(ramp_client *c);

/**
 * Set the timeout of one ipc round trip (default 100 ms). Ignored in
 * direct mode. RAMP_OK, RAMP_EINVAL (ms == 0).
 */
RAMP_API ramp_err ramp_set_timeout(ramp_client *c, uint32_t ms);

/** Context builder. Values are copied. */
RAMP_API ramp_err ramp_ctx_new(ramp_ctx **out);   /* RAMP_ENOMEM */
RAMP_API void ramp_ctx_free(ramp_ctx *ctx);        /* NULL is fine */
RAMP_API void ramp_ctx_reset(ramp_ctx *ctx);       /* empty, keeps memory */
/** key NULL clears the targeting key. RAMP_EINVAL, RAMP_ENOMEM. */
RAMP_API ramp_err ramp_ctx_set_key(ramp_ctx *ctx, const char *key);
/**
 * Set an attribute (replacing one of the same name). At most 64
 * attributes, names 1..64 bytes, string values up to 4096 bytes.
 * RAMP_EINVAL (bad name, "key" -- use ramp_ctx_set_key --, non-finite
 * number), RAMP_ETOOBIG, RAMP_ENOMEM.
 */
RAMP_API ramp_err ramp_ctx_set_str(ramp_ctx *ctx, const char *name,
    const char *value);
RAMP_API ramp_err ramp_ctx_set_num(ramp_ctx *ctx, const char *name,
    double value);
RAMP_API ramp_err ramp_ctx_set_bool(ramp_ctx *ctx, const char *name,
    bool value);

/**
 * Evaluate a bool flag. Never blocks in direct mode; in ipc mode waits at
 * most the timeout.
 *
 * @param ctx     may be NULL (no key, no attributes)
 * @param dflt    written to *out unless a variant is served
 * @param detail  may be NULL
 * @return RAMP_OK (a variant was served); RAMP_ENOTFOUND (no such flag);
 *         RAMP_ETYPE (the flag is not a bool flag); RAMP_EINVAL (the
 *         flag needs a targeting key or unit the context lacks, or bad
 *         arguments); RAMP_ETIMEDOUT, RAMP_ECLOSED (ipc: agent did not
 *         answer); RAMP_ESTORE (direct: state unreadable); RAMP_EPROTO
 */
RAMP_API ramp_err ramp_bool(ramp_client *c, const char *flag,
    const ramp_ctx *ctx, bool dflt, bool *out, struct ramp_detail *detail);

/** As ramp_bool, for number flags. */
RAMP_API ramp_err ramp_number(ramp_client *c, const char *flag,
    const ramp_ctx *ctx, double dflt, double *out,
    struct ramp_detail *detail);

/**
 * As ramp_bool, for string flags: the value (or dflt) is copied into buf
 * (NUL-terminated). A value that does not fit gives RAMP_ETOOBIG and buf
 * holds dflt (or "" if dflt does not fit either).
 */
RAMP_API ramp_err ramp_string(ramp_client *c, const char *flag,
    const ramp_ctx *ctx, const char *dflt, char *buf, size_t bufsz,
    struct ramp_detail *detail);

/** As ramp_string, for json flags: buf receives the compact JSON text. */
RAMP_API ramp_err ramp_json(ramp_client *c, const char *flag,
    const ramp_ctx *ctx, const char *dflt, char *buf, size_t bufsz,
    struct ramp_detail *detail);

/** A value handed to a bulk callback; borrowed for the callback only. */
struct ramp_value {
    ramp_type type;
    bool b;
    double n;
    const char *s;   /* string or JSON text, NUL-terminated */
    size_t len;
};

typedef void (*ramp_each_cb)(void *arg, const char *flag,
    const struct ramp_value *value, const struct ramp_detail *detail);

/**
 * Evaluate every flag the agent has for ctx, calling cb once per flag in
 * key order (value NULL when the evaluation is an error). If this returns
 * an error, cb has not run. RAMP_OK and the transport errors of ramp_bool.
 */
RAMP_API ramp_err ramp_eval_all(ramp_client *c, const ramp_ctx *ctx,
    ramp_each_cb cb, void *arg);

/**
 * Report the outcome of the work an evaluation decided, so the agent can
 * judge the flag's rollout (DESIGN §5): success or failure, and how long
 * the work took. flag and d are the flag key and the detail of that
 * evaluation (its variant and arm). Cheap (no allocation, no syscall
 * beyond one non-blocking send), callable from any thread, never blocks:
 * when the agent is not there or not keeping up the outcome is dropped
 * and counted (ramp_observe_dropped). Outcomes of error evaluations
 * (detail.variant "") are ignored.
 *
 * RAMP_OK (sent, or counted as dropped), RAMP_EINVAL (NULL or over-long
 * arguments).
 */
RAMP_API ramp_err ramp_observe(ramp_client *c, const char *flag,
    const struct ramp_detail *d, bool success, uint64_t latency_us);

/** Outcomes this client dropped since it was opened. */
RAMP_API uint64_t ramp_observe_dropped(const ramp_client *c);

/** Log levels passed to the callback (syslog's). */
typedef void (*ramp_log_cb)(void *arg, int level, const char *line);

/** Install the process-wide log callback (NULL: silent, the default). */
RAMP_API void ramp_set_log(ramp_log_cb cb, void *arg);

/** "0.1.0" */
RAMP_API const char *ramp_version(void);

#ifdef __cplusplus
}
#endif
#endif /* RAMP_RAMP_H */
