/* SPDX-License-Identifier: MIT */
/*
 * Routes served by other modules (rollouts, agents, metrics, webhooks)
 * through the HTTP API's own machinery: path matching, 404/405 with
 * Allow, bearer tokens and roles, query parameter checks, body size,
 * content type and JSON parsing, and the one writer thread. A module
 * declares a static table of struct ctl_api_route and the daemon passes
 * it, with the module's instance, in ctl_api_opts.ext.
 *
 * Handlers of GET run on nng's threads (read-only work, no waiting);
 * every other method runs on the API's writer thread, one at a time with
 * the flag writes, and may commit to the store and publish. A handler
 * returns the response (ctl_api_res_*); NULL means out of memory.
 *
 * Not here: the built-in routes (api.c).
 */
#ifndef CTL_API_EXT_H
#define CTL_API_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>

#include "pub.h"
#include "ramp/err.h"
#include "store.h"

struct ctl_api_call; /* one request, borrowed for the handler's call */

typedef nng_http_res *(*ctl_api_fn)(struct ctl_api_call *c, void *arg);

enum ctl_api_body {
    CTL_BODY_NONE = 0, /* no body, or the empty object {} */
    CTL_BODY_OPTIONAL, /* no body, or a JSON object */
    CTL_BODY_REQUIRED, /* a JSON object */
};

#define CTL_API_METHOD_GET (1u << 0)  /* and HEAD */
#define CTL_API_METHOD_POST (1u << 1)
#define CTL_API_METHOD_PUT (1u << 2)
#define CTL_API_METHOD_PATCH (1u << 3)
#define CTL_API_METHOD_DELETE (1u << 4)

#define CTL_API_PARAMS 2     /* {} segments in one path */
#define CTL_API_QUERY_MAX 8  /* query parameter names per route */

struct ctl_api_route {
    const char *path;      /* "/api/v1/rollouts/{}/pause": {} = a segment */
    unsigned methods;      /* CTL_API_METHOD_* */
    int read_role;         /* GET: enum ctl_role, or -1 for no token */
    int write_role;        /* other methods, likewise */
    enum ctl_api_body body; /* for POST, PUT, PATCH */
    const char *query[CTL_API_QUERY_MAX + 1]; /* allowed names, NULL-ended */
    ctl_api_fn fn;
};

struct ctl_api_ext {
    const struct ctl_api_route *routes;
    size_t nroutes;
    void *arg; /* passed to every fn of the table */
};

/* The request. Strings are borrowed for the call. */
const char *ctl_api_call_method(const struct ctl_api_call *c); /* "GET" */
bool ctl_api_call_is_get(const struct ctl_api_call *c);
/* The i-th {} segment (URL-decoded? no: segments are taken as they are;
 * check them with your own rules). NULL beyond the route's. */
const char *ctl_api_call_param(const struct ctl_api_call *c, unsigned i);
/* A query parameter's decoded value, NULL when absent. */
const char *ctl_api_call_query(const struct ctl_api_call *c, const char *name);
/* The parsed body (borrowed; NULL when none). */
json_t *ctl_api_call_json(const struct ctl_api_call *c);
const char *ctl_api_call_header(const struct ctl_api_call *c,
    const char *name);
/* The caller's token name ("" on routes without a role) and role. */
const char *ctl_api_call_actor(const struct ctl_api_call *c);
int ctl_api_call_role(const struct ctl_api_call *c);
struct ctl_store *ctl_api_call_store(const struct ctl_api_call *c);
struct ctl_pub *ctl_api_call_pub(const struct ctl_api_call *c);

/* Responses, in the API's forms. j is consumed (NULL: no body). */
nng_http_res *ctl_api_res_json(uint16_t status, json_t *j);
nng_http_res *ctl_api_res_error(uint16_t status, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A store error the handler did not map itself (400/404/409/413/503/500). */
nng_http_res *ctl_api_res_store_err(ramp_err rv, const char *what);
/* text (n bytes, copied) with the given Content-Type. */
nng_http_res *ctl_api_res_text(uint16_t status, const char *ctype,
    const char *text, size_t n);

#endif
