/* SPDX-License-Identifier: MIT */
/*
 * HTTP routes of webhooks and Prometheus analysis (docs/api.md,
 * docs/integrations.md), served through the API's extension tables
 * (api_ext.h): reads on nng's threads, writes on the API's writer.
 *
 *   GET    /api/v1/webhooks                      viewer
 *   GET    /api/v1/webhooks/deliveries?limit=&hook=&state=   viewer
 *   GET    /api/v1/webhooks/{name}               viewer
 *   PUT    /api/v1/webhooks/{name}               admin
 *   DELETE /api/v1/webhooks/{name}               admin
 *   POST   /api/v1/webhooks/{name}/test          operator
 *   GET    /api/v1/analysis/{flag}               viewer
 *   PUT    /api/v1/analysis/{flag}               operator
 *   DELETE /api/v1/analysis/{flag}               operator
 *   GET    /api/v1/analysis/{flag}/results       viewer
 *
 * Not here: the queue and the checks themselves (webhook.c, prom.c).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "log.h"
#include "model.h"
#include "api_ext.h"
#include "prom.h"
#include "store.h"
#include "webhook.h"

#define WA_LIMIT_DEFAULT 100
#define WA_LIMIT_MAX 1000

static int64_t
wa_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Path and query values are judged before any lookup, as the flag and
 * rollout routes do: a name or key that can never exist is a 400 naming
 * it, not a 404 (docs/api.md "Errors"). Webhook names as webhook.c takes
 * them: [A-Za-z0-9_.-]{1,64}.
 */
static bool
wa_name_ok(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;

    return n > 0 && n <= RP_NAME_MAX &&
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789_.-") == n;
}

static bool
wa_key_ok(const char *s)
{
    return s != NULL && rp_flag_key_valid(s, strlen(s));
}

static nng_http_res *
wa_list(struct ctl_api_call *c, void *arg)
{
    struct ctl_webhook_api *w = arg;
    json_t *arr = ctl_webhook_list(w->ev);

    (void) c;
    if (arr == NULL) {
        return NULL;
    }
    return ctl_api_res_json(200, json_pack("{s:o}", "webhooks", arr));
}

static nng_http_res *
wa_deliveries(struct ctl_api_call *c, void *arg)
{
    struct ctl_webhook_api *w = arg;
    const char *ls = ctl_api_call_query(c, "limit");
    const char *state = ctl_api_call_query(c, "state");
    long limit = WA_LIMIT_DEFAULT;
    json_t *arr;
    ramp_err rv;

    if (ls != NULL) {
        char *end;

        limit = strtol(ls, &end, 10);
        if (*ls == '\0' || *end != '\0' || limit < 1 || limit > WA_LIMIT_MAX) {
            return ctl_api_res_error(400, "limit",
                "limit must be 1..%d", WA_LIMIT_MAX);
        }
    }
    if (ctl_api_call_query(c, "hook") != NULL &&
        !wa_name_ok(ctl_api_call_query(c, "hook"))) {
        return ctl_api_res_error(400, "hook", "not a webhook name");
    }
    if (state != NULL && strcmp(state, "pending") != 0 &&
        strcmp(state, "delivered") != 0 && strcmp(state, "failed") != 0) {
        return ctl_api_res_error(400, "state",
            "state must be pending, delivered or failed");
    }
    rv = ctl_webhook_deliveries(w->ev, ctl_api_call_query(c, "hook"), state,
        (size_t) limit, &arr);
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "deliveries");
    }
    return ctl_api_res_json(200, json_pack("{s:o}", "deliveries", arr));
}

/*
 * Audit a write that committed in the webhook environment: its record
 * goes to the store's audit log, after the change (a failure here is
 * logged; the change stands and the answer says it happened).
 */
static void
wa_audit(struct ctl_api_call *c, const char *action, const char *kind,
    const char *name, json_t *after)
{
    char target[192];
    char *text = NULL;
    ramp_err rv;

    snprintf(target, sizeof(target), "%s%s", kind, name);
    if (after != NULL) {
        text = json_dumps(after, JSON_COMPACT | JSON_SORT_KEYS);
    }
    rv = ctl_store_audit_note(ctl_api_call_store(c), wa_now_ms(),
        ctl_api_call_actor(c), action, target, text,
        text != NULL ? strlen(text) : 0);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-API-AUDIT-FAIL",
            "action=%s target=%s err=%s", action, target, ramp_errname(rv));
    }
    free(text);
}

static nng_http_res *
wa_hook(struct ctl_api_call *c, void *arg)
{
    struct ctl_webhook_api *w = arg;
    const char *name = ctl_api_call_param(c, 0);
    const char *m = ctl_api_call_method(c);
    char field[96];
    json_t *out = NULL;
    ramp_err rv;

    if (!wa_name_ok(name)) {
        return ctl_api_res_error(400, "name", "not a webhook name");
    }
    if (ctl_api_call_is_get(c)) {
        rv = ctl_webhook_get(w->ev, name, &out);
        if (rv == RAMP_ENOTFOUND) {
            return ctl_api_res_error(404, NULL, "no webhook '%.64s'", name);
        }
        return rv == RAMP_OK ? ctl_api_res_json(200, out)
                             : ctl_api_res_store_err(rv, "webhook");
    }
    if (strcmp(m, "DELETE") == 0) {
        rv = ctl_webhook_delete(w->ev, name, ctl_api_call_actor(c));
        if (rv == RAMP_ENOTFOUND) {
            return ctl_api_res_error(404, NULL, "no webhook '%.64s'", name);
        }
        if (rv == RAMP_EPERM) {
            return ctl_api_res_error(409, "name",
                "webhook '%s' comes from the controller's configuration",
                CTL_WEBHOOK_CONFIG_NAME);
        }
        if (rv != RAMP_OK) {
            return ctl_api_res_store_err(rv, "webhook");
        }
        wa_audit(c, "webhook.delete", "webhook:", name, NULL);
        return ctl_api_res_json(204, NULL);
    }
    rv = ctl_webhook_put(w->ev, name, ctl_api_call_json(c),
        ctl_api_call_actor(c), wa_now_ms(), field, sizeof(field), &out);
    switch (rv) {
    case RAMP_OK:
        wa_audit(c, "webhook.put", "webhook:", name, out);
        return ctl_api_res_json(200, out);
    case RAMP_EINVAL:
        return ctl_api_res_error(400, field,
            "invalid webhook: see docs/integrations.md (field %s)", field);
    case RAMP_EPERM:
        return ctl_api_res_error(409, "name",
            "webhook '%s' comes from the controller's configuration",
            CTL_WEBHOOK_CONFIG_NAME);
    case RAMP_ETOOBIG:
        return ctl_api_res_error(409, "name", "at most %d webhooks",
            CTL_WEBHOOK_MAX);
    default:
        return ctl_api_res_store_err(rv, "webhook");
    }
}

static nng_http_res *
wa_test(struct ctl_api_call *c, void *arg)
{
    struct ctl_webhook_api *w = arg;
    const char *name = ctl_api_call_param(c, 0);
    uint64_t id = 0;
    ramp_err rv;

    if (!wa_name_ok(name)) {
        return ctl_api_res_error(400, "name", "not a webhook name");
    }
    rv = ctl_webhook_test(w->ev, name, ctl_api_call_actor(c), &id);
    if (rv == RAMP_ENOTFOUND) {
        return ctl_api_res_error(404, NULL, "no webhook '%.64s'", name);
    }
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "webhook test");
    }
    wa_audit(c, "webhook.test", "webhook:", name, NULL);
    return ctl_api_res_json(202, json_pack("{s:s, s:I}", "webhook", name,
                                     "delivery", (json_int_t) id));
}

static nng_http_res *
wa_analysis(struct ctl_api_call *c, void *arg)
{
    struct ctl_webhook_api *w = arg;
    const char *flag = ctl_api_call_param(c, 0);
    const char *m = ctl_api_call_method(c);
    char field[96];
    json_t *out = NULL;
    struct rp_flag *f = NULL;
    ramp_err rv;

    if (!wa_key_ok(flag)) {
        return ctl_api_res_error(400, "key", "not a flag key");
    }
    if (ctl_api_call_is_get(c)) {
        rv = ctl_analysis_get(w->ev, flag, &out);
        if (rv == RAMP_ENOTFOUND) {
            return ctl_api_res_error(404, NULL, "no analysis for '%.128s'",
                flag);
        }
        return rv == RAMP_OK ? ctl_api_res_json(200, out)
                             : ctl_api_res_store_err(rv, "analysis");
    }
    if (strcmp(m, "DELETE") == 0) {
        rv = ctl_analysis_delete(w->ev, flag, ctl_api_call_actor(c));
        if (rv == RAMP_ENOTFOUND) {
            return ctl_api_res_error(404, NULL, "no analysis for '%.128s'",
                flag);
        }
        if (rv != RAMP_OK) {
            return ctl_api_res_store_err(rv, "analysis");
        }
        wa_audit(c, "analysis.delete", "", flag, NULL);
        return ctl_api_res_json(204, NULL);
    }
    /* Checks for a flag that does not exist would never run: refuse
     * them, as a rollout start does. */
    rv = ctl_store_flag_get(ctl_api_call_store(c), flag, &f);
    if (rv == RAMP_ENOTFOUND) {
        return ctl_api_res_error(404, NULL, "no flag '%.128s'", flag);
    }
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "flag");
    }
    rp_flag_free(f);
    rv = ctl_analysis_put(w->ev, flag, ctl_api_call_json(c),
        ctl_api_call_actor(c), field, sizeof(field), &out);
    if (rv == RAMP_EINVAL) {
        return ctl_api_res_error(400, field,
            "invalid analysis: see docs/integrations.md (field %s)", field);
    }
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "analysis");
    }
    wa_audit(c, "analysis.put", "", flag, out);
    return ctl_api_res_json(200, out);
}

static const char *
wa_verdict(enum rp_verdict v)
{
    switch (v) {
    case RP_VERDICT_PASS:
        return "pass";
    case RP_VERDICT_FAIL:
        return "fail";
    default:
        return "no_data";
    }
}

/*
 * The latest answers of the flag's checks, as the engine would see them
 * now (its active rollout's stage, or stage 0 at 0% without one); the
 * call asks Prometheus again, so polling it shows fresh answers.
 */
static nng_http_res *
wa_results(struct ctl_api_call *c, void *arg)
{
    struct ctl_webhook_api *w = arg;
    const char *flag = ctl_api_call_param(c, 0);
    struct ctl_prom_result res[CTL_ANALYSIS_MAX];
    struct rp_rollout *r = NULL, tmp;
    json_t *arr, *spec = NULL;
    size_t n;
    ramp_err rv;

    if (!wa_key_ok(flag)) {
        return ctl_api_res_error(400, "key", "not a flag key");
    }
    rv = ctl_analysis_get(w->ev, flag, &spec);
    json_decref(spec);
    if (rv == RAMP_ENOTFOUND) {
        return ctl_api_res_error(404, NULL, "no analysis for '%.128s'", flag);
    }
    if (rv != RAMP_OK) {
        return ctl_api_res_store_err(rv, "analysis");
    }
    if (ctl_store_rollout_get(ctl_api_call_store(c), flag, &r) != RAMP_OK) {
        memset(&tmp, 0, sizeof(tmp));
        tmp.flag_key = (char *) flag;
        tmp.nstages = 1;
        tmp.stages_bp[0] = 0;
    }
    n = ctl_prom_check(w->prom, r != NULL ? r : &tmp, res, CTL_ANALYSIS_MAX);
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:f, s:s, s:I}", "name",
            res[i].name, "verdict", wa_verdict(res[i].verdict), "op",
            res[i].op, "threshold", res[i].threshold, "detail", res[i].detail,
            "at_ms", (json_int_t) res[i].at_ms);

        if (o != NULL) {
            json_object_set_new(o, "value",
                res[i].value == res[i].value ? json_real(res[i].value)
                                             : json_null());
        }
        if (o == NULL || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (r != NULL) {
        rp_rollout_free(r);
    }
    if (arr == NULL) {
        return NULL;
    }
    return ctl_api_res_json(200,
        json_pack("{s:s, s:o}", "flag", flag, "results", arr));
}

static const struct ctl_api_route wa_routes[] = {
    {"/api/v1/webhooks", CTL_API_METHOD_GET, CTL_ROLE_VIEWER, CTL_ROLE_ADMIN,
        CTL_BODY_NONE, {NULL}, wa_list},
    /* Before {}: the first matching route wins, and "deliveries" is not
     * a webhook name (webhook.c refuses it). */
    {"/api/v1/webhooks/deliveries", CTL_API_METHOD_GET, CTL_ROLE_VIEWER,
        CTL_ROLE_ADMIN, CTL_BODY_NONE, {"limit", "hook", "state", NULL},
        wa_deliveries},
    {"/api/v1/webhooks/{}",
        CTL_API_METHOD_GET | CTL_API_METHOD_PUT | CTL_API_METHOD_DELETE,
        CTL_ROLE_VIEWER, CTL_ROLE_ADMIN, CTL_BODY_REQUIRED, {NULL}, wa_hook},
    {"/api/v1/webhooks/{}/test", CTL_API_METHOD_POST, CTL_ROLE_VIEWER,
        CTL_ROLE_OPERATOR, CTL_BODY_OPTIONAL, {NULL}, wa_test},
    {"/api/v1/analysis/{}",
        CTL_API_METHOD_GET | CTL_API_METHOD_PUT | CTL_API_METHOD_DELETE,
        CTL_ROLE_VIEWER, CTL_ROLE_OPERATOR, CTL_BODY_REQUIRED, {NULL},
        wa_analysis},
    {"/api/v1/analysis/{}/results", CTL_API_METHOD_GET, CTL_ROLE_VIEWER,
        CTL_ROLE_OPERATOR, CTL_BODY_NONE, {NULL}, wa_results},
};

void
ctl_webhook_api_ext(struct ctl_webhook_api *w, struct ctl_api_ext *out)
{
    out->routes = wa_routes;
    out->nroutes = sizeof(wa_routes) / sizeof(wa_routes[0]);
    out->arg = w;
}
