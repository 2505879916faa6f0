/* SPDX-License-Identifier: MIT */
/*
 * The rollout and agent routes of docs/api.md, served through the API's
 * extension tables (api_ext.h): the API has checked route, method,
 * token, role, query names, content type and JSON before a handler
 * runs. GETs read the store on nng's threads; writes run on the API's
 * writer thread and go through the engine (rollout.h), which holds its
 * lock across read, decision, commit and publish.
 *
 * Not here: the state machine (rollout.c), enrollment storage (store.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "alloc.h"
#include "api_ext.h"
#include "health.h"
#include "json.h"
#include "model.h"
#include "rollout.h"
#include "store.h"

#define MSG_MAX 256

static bool
flag_key_ok(const char *k)
{
    size_t n;

    if (k == NULL) {
        return false;
    }
    n = strnlen(k, RP_KEY_MAX + 1);
    return n <= RP_KEY_MAX && rp_flag_key_valid(k, n);
}

/* A number in [min, max] from a query value. */
static bool
query_uint(const char *s, unsigned long min, unsigned long max,
    unsigned long *out)
{
    char *end;
    unsigned long v;

    if (s == NULL || *s < '0' || *s > '9') {
        return false;
    }
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

static nng_http_res *
res_err(ramp_err rv, const char *msg, const char *what)
{
    switch (rv) {
    case RAMP_ENOTFOUND:
        return ctl_api_res_error(404, NULL, "%s", msg[0] ? msg : what);
    case RAMP_ECONFLICT:
    case RAMP_EEXIST:
        return ctl_api_res_error(409, NULL, "%s", msg[0] ? msg : what);
    default:
        return ctl_api_res_store_err(rv, what);
    }
}

/*
 * The optional body of an action, or of a start: {"reason": "..."} and,
 * with allow_other, anything else. A reason that is not a string (or is
 * too long) is a 400 naming it; with !allow_other so is any other member.
 */
static nng_http_res *
body_reason(json_t *body, bool allow_other, const char **reason)
{
    const char *k;
    json_t *v;

    *reason = NULL;
    if (body == NULL) {
        return NULL;
    }
    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "reason") == 0) {
            if (!json_is_string(v) || json_string_length(v) > RP_STR_MAX) {
                return ctl_api_res_error(400, "reason",
                    "reason must be a string of at most %d bytes",
                    RP_STR_MAX);
            }
            *reason = json_string_value(v);
        } else if (!allow_other) {
            return ctl_api_res_error(400, k, "unknown member '%s'", k);
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Rollouts                                                            */
/* ------------------------------------------------------------------ */

static nng_http_res *
rollout_answer(struct ctl_rollout_engine *e, uint16_t status, const char *flag)
{
    json_t *j = NULL;
    ramp_err rv = ctl_rollout_status_json(e, flag, &j);

    if (rv != RAMP_OK) {
        return res_err(rv, "", "rollout");
    }
    return ctl_api_res_json(status, j);
}

static nng_http_res *
rollouts_list(struct ctl_api_call *c, void *arg)
{
    struct ctl_rollout_engine *e = arg;
    const char *state = ctl_api_call_query(c, "state");
    const char *after = ctl_api_call_query(c, "after");
    const char *lim = ctl_api_call_query(c, "limit");
    struct ctl_rollout_list l;
    enum rp_rstate want = RP_RS_RUNNING;
    unsigned long limit = CTL_LIST_DEFAULT;
    char cursor[RP_KEY_MAX + 1] = "";
    const char *next = NULL;
    json_t *arr, *j;
    ramp_err rv = RAMP_OK;

    if (state != NULL && rp_rstate_parse(state, &want) != RAMP_OK) {
        return ctl_api_res_error(400, "state", "unknown state '%s'", state);
    }
    if (lim != NULL && !query_uint(lim, 1, CTL_LIST_MAX, &limit)) {
        return ctl_api_res_error(
            400, "limit", "limit must be 1..%d", CTL_LIST_MAX);
    }
    if (after != NULL && after[0] != '\0') {
        if (!flag_key_ok(after)) {
            return ctl_api_res_error(400, "after", "not a flag key");
        }
        snprintf(cursor, sizeof(cursor), "%s", after);
    }
    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }
    /* With a state filter a page may need several store pages. */
    for (bool more = true; more && json_array_size(arr) < limit;) {
        rv = ctl_store_rollout_list(ctl_rollout_store(e), NULL,
            cursor[0] != '\0' ? cursor : NULL, limit, &l);
        if (rv != RAMP_OK) {
            break;
        }
        more = l.more;
        for (size_t i = 0; i < l.n; i++) {
            const struct rp_rollout *r = l.rollouts[i];

            snprintf(cursor, sizeof(cursor), "%s", r->flag_key);
            if (state != NULL && r->state != want) {
                continue;
            }
            json_array_append_new(arr, rp_rollout_to_json(r));
            if (json_array_size(arr) == limit) {
                more = more || i + 1 < l.n;
                break;
            }
        }
        if (json_array_size(arr) == limit && more) {
            next = cursor;
        }
        ctl_store_rollout_list_fini(&l);
    }
    if (rv != RAMP_OK) {
        json_decref(arr);
        return ctl_api_res_store_err(rv, "rollouts");
    }
    j = json_pack("{s:o, s:o}", "rollouts", arr, "next",
        next != NULL ? json_string(next) : json_null());
    return ctl_api_res_json(200, j);
}

static nng_http_res *
rollouts_start(struct ctl_api_call *c, void *arg)
{
    struct ctl_rollout_engine *e = arg;
    json_t *body = ctl_api_call_json(c), *copy = NULL;
    struct rp_rollout *r = NULL, *out = NULL;
    const char *reason = NULL;
    char field[RP_JSON_FIELD_MAX], msg[MSG_MAX], reason_copy[RP_STR_MAX + 1];
    nng_http_res *res;
    ramp_err rv;

    res = body_reason(body, true, &reason);
    if (res != NULL) {
        return res;
    }
    /* "reason" is ours, not the rollout's: the decoder is strict. */
    copy = json_copy(body);
    if (copy == NULL) {
        return NULL;
    }
    if (reason != NULL) {
        snprintf(reason_copy, sizeof(reason_copy), "%s", reason);
        reason = reason_copy;
        json_object_del(copy, "reason");
    }
    rv = rp_rollout_from_json(copy, &r, field, sizeof(field));
    json_decref(copy);
    if (rv == RAMP_EINVAL) {
        return ctl_api_res_error(400, field, "invalid rollout: field '%s'",
            field);
    }
    if (rv != RAMP_OK) {
        return NULL;
    }
    rv = ctl_rollout_start(e, r, ctl_api_call_actor(c), reason, &out, field,
        sizeof(field), msg, sizeof(msg));
    if (rv == RAMP_OK) {
        res = rollout_answer(e, 201, out->flag_key);
    } else if (rv == RAMP_EINVAL) {
        res = ctl_api_res_error(400, field, "%s", msg[0] ? msg : "invalid");
    } else if (rv == RAMP_ENOTFOUND && strcmp(field, "flag") == 0) {
        /* The body names a flag that is not there: the request is wrong,
         * not the route. */
        res = ctl_api_res_error(404, "flag", "%s", msg);
    } else {
        res = res_err(rv, msg, "rollout");
    }
    rp_rollout_free(r);
    rp_rollout_free(out);
    return res;
}

static nng_http_res *
rollout_get(struct ctl_api_call *c, void *arg)
{
    const char *flag = ctl_api_call_param(c, 0);

    if (!flag_key_ok(flag)) {
        return ctl_api_res_error(400, "key", "not a flag key");
    }
    return rollout_answer(arg, 200, flag);
}

static nng_http_res *
rollout_act(struct ctl_api_call *c, void *arg, enum ctl_ract a)
{
    struct ctl_rollout_engine *e = arg;
    const char *flag = ctl_api_call_param(c, 0);
    const char *reason = NULL;
    struct rp_rollout *out = NULL;
    char msg[MSG_MAX];
    nng_http_res *res;
    ramp_err rv;

    if (!flag_key_ok(flag)) {
        return ctl_api_res_error(400, "key", "not a flag key");
    }
    res = body_reason(ctl_api_call_json(c), false, &reason);
    if (res != NULL) {
        return res;
    }
    rv = ctl_rollout_act(
        e, flag, a, ctl_api_call_actor(c), reason, &out, msg, sizeof(msg));
    if (rv != RAMP_OK) {
        return res_err(rv, msg, "rollout");
    }
    rp_rollout_free(out);
    return rollout_answer(e, 200, flag);
}

static nng_http_res *
rollout_pause(struct ctl_api_call *c, void *arg)
{
    return rollout_act(c, arg, CTL_RACT_PAUSE);
}

static nng_http_res *
rollout_resume(struct ctl_api_call *c, void *arg)
{
    return rollout_act(c, arg, CTL_RACT_RESUME);
}

static nng_http_res *
rollout_promote(struct ctl_api_call *c, void *arg)
{
    return rollout_act(c, arg, CTL_RACT_PROMOTE);
}

static nng_http_res *
rollout_abort(struct ctl_api_call *c, void *arg)
{
    return rollout_act(c, arg, CTL_RACT_ABORT);
}

static nng_http_res *
rollout_retry(struct ctl_api_call *c, void *arg)
{
    return rollout_act(c, arg, CTL_RACT_RETRY);
}

static nng_http_res *
rollout_explain(struct ctl_api_call *c, void *arg)
{
    const char *flag = ctl_api_call_param(c, 0);
    const char *lim = ctl_api_call_query(c, "limit");
    unsigned long limit = 10;
    json_t *j = NULL;
    ramp_err rv;

    if (!flag_key_ok(flag)) {
        return ctl_api_res_error(400, "key", "not a flag key");
    }
    if (lim != NULL && !query_uint(lim, 1, CTL_CHECKS_KEEP, &limit)) {
        return ctl_api_res_error(
            400, "limit", "limit must be 1..%d", CTL_CHECKS_KEEP);
    }
    rv = ctl_rollout_explain_json(arg, flag, limit, &j);
    if (rv != RAMP_OK) {
        return res_err(rv, "", "rollout");
    }
    return ctl_api_res_json(200, j);
}

static nng_http_res *
rollout_history(struct ctl_api_call *c, void *arg)
{
    struct ctl_rollout_engine *e = arg;
    const char *flag = ctl_api_call_param(c, 0);
    struct rp_rollout *r = NULL;
    json_t *rj, *j;
    ramp_err rv;

    if (!flag_key_ok(flag)) {
        return ctl_api_res_error(400, "key", "not a flag key");
    }
    rv = ctl_store_rollout_get(ctl_rollout_store(e), flag, &r);
    if (rv != RAMP_OK) {
        return res_err(rv, "", "rollout");
    }
    rj = rp_rollout_to_json(r);
    rp_rollout_free(r);
    if (rj == NULL) {
        return NULL;
    }
    j = json_pack("{s:s, s:O}", "flag", flag, "history",
        json_object_get(rj, "history"));
    json_decref(rj);
    return ctl_api_res_json(200, j);
}

/* ------------------------------------------------------------------ */
/* Agents                                                              */
/* ------------------------------------------------------------------ */

static json_t *
agent_json(struct ctl_rollout_engine *e, const struct ctl_agent *a)
{
    char hex[RP_PK_LEN * 2 + 1], at[RP_JSON_TIME_MAX], seen[RP_JSON_TIME_MAX];
    int64_t last = 0;
    uint64_t reports = 0;
    bool any;

    sodium_bin2hex(hex, sizeof(hex), a->pk, RP_PK_LEN);
    any = ctl_rollout_health(e) != NULL &&
        ctl_health_agent_seen(ctl_rollout_health(e), a->id, &last, &reports);
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I}", "id", a->id, "host",
        a->host, "public_key", hex, "enrolled_at",
        rp_json_time(a->enrolled_at_ms, at), "last_report_at",
        any ? json_string(rp_json_time(last, seen)) : json_null(), "reports",
        (json_int_t) (any ? reports : 0));
}

static nng_http_res *
agents_list(struct ctl_api_call *c, void *arg)
{
    struct ctl_rollout_engine *e = arg;
    struct ctl_agent *as = NULL;
    size_t n = 0;
    json_t *arr;
    ramp_err rv;

    (void) c;
    rv = ctl_store_agent_list(ctl_rollout_store(e), &as, &n);
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "agents");
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_array_append_new(arr, agent_json(e, &as[i]));
    }
    rp_free(as);
    if (arr == NULL) {
        return NULL;
    }
    return ctl_api_res_json(200, json_pack("{s:o}", "agents", arr));
}

static bool
agent_id_ok(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char ch = s[n];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' ||
                ch == '-' || ch == ':')) {
            return false;
        }
    }
    return n >= 1 && n <= RP_NAME_MAX;
}

static nng_http_res *
agents_enroll(struct ctl_api_call *c, void *arg)
{
    struct ctl_rollout_engine *e = arg;
    json_t *body = ctl_api_call_json(c), *v;
    const char *k, *id = NULL, *pkhex = NULL, *host = "";
    uint8_t pk[RP_PK_LEN];
    size_t bin_len = 0;
    struct ctl_agent a;
    ramp_err rv;

    json_object_foreach(body, k, v)
    {
        if (strcmp(k, "id") == 0 && json_is_string(v)) {
            id = json_string_value(v);
        } else if (strcmp(k, "public_key") == 0 && json_is_string(v)) {
            pkhex = json_string_value(v);
        } else if (strcmp(k, "host") == 0 && json_is_string(v)) {
            host = json_string_value(v);
        } else if (strcmp(k, "id") == 0 || strcmp(k, "public_key") == 0 ||
            strcmp(k, "host") == 0) {
            return ctl_api_res_error(400, k, "%s must be a string", k);
        } else {
            return ctl_api_res_error(400, k, "unknown member '%s'", k);
        }
    }
    if (id == NULL || !agent_id_ok(id)) {
        return ctl_api_res_error(400, "id",
            "id is required: 1..%d of A-Z a-z 0-9 _ . : -", RP_NAME_MAX);
    }
    if (pkhex == NULL || strlen(pkhex) != RP_PK_LEN * 2 ||
        sodium_hex2bin(pk, sizeof(pk), pkhex, strlen(pkhex), NULL, &bin_len,
            NULL) != 0 ||
        bin_len != RP_PK_LEN) {
        return ctl_api_res_error(400, "public_key",
            "public_key is required: %d hex digits (Ed25519)", RP_PK_LEN * 2);
    }
    if (strlen(host) > CTL_HOST_MAX) {
        return ctl_api_res_error(
            400, "host", "host is at most %d bytes", CTL_HOST_MAX);
    }
    rv = ctl_store_agent_enroll(ctl_rollout_store(e), id, pk, host,
        ctl_api_call_actor(c), ctl_rollout_now(e));
    if (rv == RAMP_EEXIST) {
        return ctl_api_res_error(409, "id", "agent '%s' is enrolled", id);
    }
    if (rv == RAMP_EINVAL) {
        return ctl_api_res_error(400, "host", "invalid agent");
    }
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "agent");
    }
    if (ctl_rollout_health(e) != NULL) {
        ctl_health_agents_changed(ctl_rollout_health(e));
    }
    rv = ctl_store_agent_get(ctl_rollout_store(e), id, &a);
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "agent");
    }
    return ctl_api_res_json(201, agent_json(e, &a));
}

static nng_http_res *
agents_remove(struct ctl_api_call *c, void *arg)
{
    struct ctl_rollout_engine *e = arg;
    const char *id = ctl_api_call_param(c, 0);
    ramp_err rv;

    if (id == NULL || !agent_id_ok(id)) {
        return ctl_api_res_error(400, "id", "not an agent id");
    }
    rv = ctl_store_agent_remove(ctl_rollout_store(e), id,
        ctl_api_call_actor(c), ctl_rollout_now(e));
    if (rv == RAMP_ENOTFOUND) {
        return ctl_api_res_error(404, NULL, "no agent '%s'", id);
    }
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "agent");
    }
    if (ctl_rollout_health(e) != NULL) {
        ctl_health_agents_changed(ctl_rollout_health(e));
    }
    return ctl_api_res_json(204, NULL);
}

/* ------------------------------------------------------------------ */

#define GET CTL_API_METHOD_GET
#define POST CTL_API_METHOD_POST
#define DEL CTL_API_METHOD_DELETE
#define VIEW CTL_ROLE_VIEWER
#define OPER CTL_ROLE_OPERATOR
#define ADMIN CTL_ROLE_ADMIN

/* One row per path (the API takes the first whose path matches); GET
 * and POST on a collection share it and split on the method. */
static nng_http_res *
rollouts_root(struct ctl_api_call *c, void *arg)
{
    static const char *const q[] = {"state", "after", "limit"};

    if (ctl_api_call_is_get(c)) {
        return rollouts_list(c, arg);
    }
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
        if (ctl_api_call_query(c, q[i]) != NULL) {
            return ctl_api_res_error(
                400, q[i], "unknown query parameter for POST");
        }
    }
    return rollouts_start(c, arg);
}

static nng_http_res *
agents_root(struct ctl_api_call *c, void *arg)
{
    return ctl_api_call_is_get(c) ? agents_list(c, arg)
                                  : agents_enroll(c, arg);
}

static const struct ctl_api_route rollout_routes[] = {
    {"/api/v1/rollouts", GET | POST, VIEW, OPER, CTL_BODY_REQUIRED,
        {"state", "after", "limit", NULL}, rollouts_root},
    {"/api/v1/rollouts/{}", GET, VIEW, -1, CTL_BODY_NONE, {NULL},
        rollout_get},
    {"/api/v1/rollouts/{}/pause", POST, VIEW, OPER, CTL_BODY_OPTIONAL,
        {NULL}, rollout_pause},
    {"/api/v1/rollouts/{}/resume", POST, VIEW, OPER, CTL_BODY_OPTIONAL,
        {NULL}, rollout_resume},
    {"/api/v1/rollouts/{}/promote", POST, VIEW, OPER, CTL_BODY_OPTIONAL,
        {NULL}, rollout_promote},
    {"/api/v1/rollouts/{}/abort", POST, VIEW, OPER, CTL_BODY_OPTIONAL,
        {NULL}, rollout_abort},
    {"/api/v1/rollouts/{}/retry", POST, VIEW, OPER, CTL_BODY_OPTIONAL,
        {NULL}, rollout_retry},
    {"/api/v1/rollouts/{}/explain", GET, VIEW, -1, CTL_BODY_NONE,
        {"limit", NULL}, rollout_explain},
    {"/api/v1/rollouts/{}/history", GET, VIEW, -1, CTL_BODY_NONE, {NULL},
        rollout_history},
    {"/api/v1/agents", GET | POST, VIEW, ADMIN, CTL_BODY_REQUIRED, {NULL},
        agents_root},
    {"/api/v1/agents/{}", DEL, VIEW, ADMIN, CTL_BODY_NONE, {NULL},
        agents_remove},
};

void
ctl_rollout_api_ext(struct ctl_rollout_engine *e, struct ctl_api_ext *out)
{
    out->routes = rollout_routes;
    out->nroutes = sizeof(rollout_routes) / sizeof(rollout_routes[0]);
    out->arg = e;
}
