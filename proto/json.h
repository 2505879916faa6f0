/* SPDX-License-Identifier: MIT */
/*
 * The JSON forms of the model (docs/api-json.md): flags and rollouts to
 * and from jansson values, RFC 7396 merge patch, OFREP evaluation
 * contexts and typed variant values. Every process converts through here
 * so the controller's HTTP API, the CLI and the agent's OFREP endpoint
 * agree on one shape. Not here: HTTP, reading or writing JSON text
 * (jansson's json_loadb/json_dumpb), the msgpack forms (codec.h).
 *
 * Decoding is strict: an unknown member is an error naming its path, so a
 * misspelt field is never silently dropped. Field paths use the JSON
 * names: "rules[0].clauses[1].attribute", "rules[2].split[0].weight",
 * "variants.blue", "policy.p95_max_ms". An empty path means the document
 * itself. Nothing here parses JSON by hand.
 *
 * All functions are reentrant; none keeps state between calls.
 */
#ifndef RP_JSON_H
#define RP_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "eval.h"
#include "model.h"
#include "ramp/err.h"

/* Room for a field path; longer paths are truncated, still terminated. */
#define RP_JSON_FIELD_MAX 128

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" and its NUL, with room for 6-digit years. */
#define RP_JSON_TIME_MAX 32

/*
 * Decode a flag from its JSON object and prepare it (rp_flag_prepare), so
 * *out is ready to evaluate.
 *
 * Members: "key" (required), "type" (required), "variants" (required
 * unless the type is bool; bool flags default to on=true, off=false),
 * "default_variant" (required unless bool, where it defaults to "off"),
 * "off_variant" (bool: "off"; otherwise default_variant), "description"
 * (""), "enabled" (false), "rules" ([]), "tags" ([]). Clause values given
 * as JSON numbers or booleans are stored as their text ("1.5", "true").
 * The server-owned members "version", "salt", "updated_at" and
 * "updated_by" are accepted and ignored, so a GET body can be PUT back;
 * the result has version 1, an all-zero salt, updated_at_ms 0 and
 * updated_by "": the caller (the controller) sets them.
 *
 * @param j        the flag object; borrowed for the call
 * @param out      receives a new flag (release with rp_flag_free) on
 *                 RAMP_OK, NULL on error
 * @param field    if non-NULL, receives the offending field's path on
 *                 RAMP_EINVAL, "" otherwise
 * @return RAMP_OK; RAMP_EINVAL (unknown member, wrong JSON type, missing
 *         required member, bad op or type name, unknown variant, any
 *         rp_flag_prepare rule, a model.h limit); RAMP_ENOMEM
 */
ramp_err rp_flag_from_json(
    const json_t *j, struct rp_flag **out, char *field, size_t fieldsz);

/*
 * The JSON object of f, every member included (version, salt as 32 hex
 * digits, updated_at as RFC 3339 UTC with milliseconds, updated_by).
 * rp_flag_from_json() of the result equals f apart from the
 * server-owned members. f must be valid (as rp_flag_prepare checks).
 *
 * @return a new reference, or NULL on ENOMEM or when f is inconsistent
 *         (a variant index out of range, a json value that does not parse)
 */
json_t *rp_flag_to_json(const struct rp_flag *f);

/*
 * Decode a rollout as a client submits it: "flag", "treatment",
 * "control" (required), "unit" ("key", "host" or {"attribute": NAME};
 * default "key"), "stages" (basis points; default [500, 2500, 5000,
 * 10000]), "policy" (every member optional, defaults from
 * rp_policy_default()). The server-owned members "id", "state",
 * "stage_index", "stage_percent", "created_at", "stage_entered_at",
 * "updated_at", "version" and "history" are accepted and ignored.
 *
 * The result is a new rollout: id 0 (the controller assigns one), state
 * pending, stage_index 0, timestamps and version 0, no history. It passes
 * rp_rollout_validate() once an id is set. Whether treatment and control
 * name variants of the flag is checked by the caller, which has the flag
 * (rp_rollout_view).
 *
 * @param out    receives a new rollout (rp_rollout_free) on RAMP_OK,
 *               NULL on error
 * @param field  as for rp_flag_from_json()
 * @return RAMP_OK; RAMP_EINVAL; RAMP_ENOMEM
 */
ramp_err rp_rollout_from_json(
    const json_t *j, struct rp_rollout **out, char *field, size_t fieldsz);

/*
 * The JSON object of r: the input members plus "id", "state",
 * "stage_index", "stage_percent" (stages[stage_index] / 100), the
 * timestamps "created_at", "stage_entered_at", "updated_at" (RFC 3339),
 * "version" and "history": [{"at", "from", "to", "stage_index",
 * "reason"}], oldest first.
 *
 * @return a new reference, or NULL on ENOMEM or an inconsistent r
 */
json_t *rp_rollout_to_json(const struct rp_rollout *r);

/*
 * RFC 7396 JSON Merge Patch: the result of applying patch to target.
 * Neither argument is modified; target may be NULL (treated as absent).
 * Null members of patch delete, objects merge recursively, any other
 * patch value replaces. Members keep target's order, new ones follow.
 *
 * @return a new value (no structure shared with the arguments), or NULL
 *         on ENOMEM or when patch is NULL
 */
json_t *rp_json_merge_patch(const json_t *target, const json_t *patch);

/*
 * An evaluation context read from an OFREP request's "context" object:
 * {"targetingKey": "...", name: value, ...}. String, number and boolean
 * members become attributes; null, objects and arrays are skipped, as
 * OFREP providers do. "targetingKey" is ctx.key and not an attribute
 * (rules name it "key"). ctx.host is left NULL for the agent to set.
 */
#define RP_JSON_CTX_MAX 64 /* attributes; an OFREP context is small */

struct rp_json_ctx {
    struct rp_ctx ctx;                     /* what rp_eval() takes */
    struct rp_attr attrs[RP_JSON_CTX_MAX]; /* ctx.attrs points here */
};

/*
 * Fill c from context. Allocates nothing: every pointer in c->ctx is
 * borrowed from context, which must outlive every use of c, and c must
 * not be copied or moved (ctx.attrs points into it).
 *
 * @param context  the context object, or NULL for an absent context
 *                 (no targeting key, no attributes)
 * @param msg      if non-NULL, receives a message for the error, "" on
 *                 success
 * @return RAMP_OK; RAMP_EINVAL when context is not an object, its
 *         targetingKey is not a string, or it has more than
 *         RP_JSON_CTX_MAX attributes (c is then an empty context)
 */
ramp_err rp_json_ctx_parse(
    const json_t *context, struct rp_json_ctx *c, char *msg, size_t msgsz);

/*
 * The JSON value of a variant value: a boolean, a string, a number (an
 * integer when v->n is integral and within +-2^53, else a real), or for
 * json values the value its text holds.
 *
 * @return a new reference, or NULL on ENOMEM, a non-finite number or a
 *         json text that does not parse
 */
json_t *rp_value_to_json(const struct rp_value *v);

/*
 * Write ms (epoch milliseconds) as RFC 3339 UTC with milliseconds,
 * "2026-11-27T15:20:25.123Z", into buf. Times before year 0000 or after
 * 9999, which RFC 3339 cannot write, are clamped to them. Returns buf.
 */
char *rp_json_time(int64_t ms, char buf[RP_JSON_TIME_MAX]);

#endif
