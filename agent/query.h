/* SPDX-License-Identifier: MIT */
/*
 * The agent's local query protocol (nng REQ/REP, msgpack; normally over
 * ipc:// with the socket file's permissions set by the agent). Encoders
 * and decoders for both ends live here, so the agent's server
 * (query.c) and libramp's ipc mode share one implementation. Layouts
 * are in docs/protocol.md section 10:
 *
 * request   [1, op, ...]
 *   op 1 EVAL   [1, 1, flag_key, type(uint | nil = any), ctx]
 *   op 2 ALL    [1, 2, ctx]
 * ctx       [targeting_key(str | nil), [[name, value], ...]]
 *           value: str | int | float | bool
 * reply     [status(uint: ramp_err of the request as a whole),
 *            stale(bool), seq(uint), [result, ...]]
 * result    [flag_key, variant(str | nil), value(typed | nil),
 *            reason(uint), error(uint), flag_version(uint), type(uint)]
 *           value per type: bool | str | float | str (JSON text)
 *
 * Bounds: a request is at most AGT_QUERY_REQ_MAX bytes and 64 attributes;
 * a reply at most AGT_QUERY_REP_MAX bytes.
 */
#ifndef AGT_QUERY_H
#define AGT_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "eval.h"
#include "ramp/err.h"

#define AGT_QUERY_VERSION 1
#define AGT_QUERY_EVAL 1
#define AGT_QUERY_ALL 2
#define AGT_QUERY_REQ_MAX (64u << 10)
#define AGT_QUERY_REP_MAX (16u << 20)
#define AGT_QUERY_MAX_ATTRS 64

#endif
