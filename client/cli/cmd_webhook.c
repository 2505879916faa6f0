/* SPDX-License-Identifier: MIT */
/*
 * `ramp webhook list|test|deliveries`: the webhook routes of the HTTP API
 * (docs/integrations.md). Creating and changing webhooks is a PUT of
 * their JSON form (curl, CI), kept out of the CLI so secrets do not end
 * up in shell history. Not here: delivery itself (the controller).
 */
#include <inttypes.h>
#include <string.h>

#include "cli.h"

#define WH_PATH_MAX 1024

static const char *
wh_str(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));

    return s != NULL ? s : "-";
}

static void
wh_print_table(FILE *out, const json_t *arr)
{
    json_t *h;
    size_t i;

    fprintf(out, "%-20s %-6s %-6s %-5s %s\n", "NAME", "SOURCE", "FORMAT",
        "GATE", "URL");
    json_array_foreach(arr, i, h)
    {
        fprintf(out, "%-20s %-6s %-6s %-5s ", wh_str(h, "name"),
            wh_str(h, "source"), wh_str(h, "format"),
            json_is_true(json_object_get(h, "gate")) ? "yes" : "no");
        cli_puts_safe(out, wh_str(h, "url"));
        fputc('\n', out);
    }
}

static int
wh_list(struct cli *c, const struct cli_args *a)
{
    int rc = cli_config(c, a);

    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    return cli_get_list(
        c, "/api/v1/webhooks", "webhooks", "webhook list", wh_print_table);
}

static int
wh_test(struct cli *c, const struct cli_args *a)
{
    char path[WH_PATH_MAX];
    struct cli_resp r;
    int rc;

    rc = cli_path(c, path, sizeof(path), "/api/v1/webhooks/", a->pos[0],
        "/test");
    if (rc == CLI_EXIT_OK) {
        rc = cli_config(c, a);
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_http(c, "POST", path, NULL, 0, &r);
    }
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (c->json) {
        rc = cli_print_json(c, r.body);
    } else {
        fprintf(c->out, "queued test event for %s: delivery %" PRId64 "\n",
            a->pos[0],
            (int64_t) json_integer_value(json_object_get(r.body, "delivery")));
    }
    cli_resp_fini(&r);
    return rc;
}

static void
wh_print_deliveries(FILE *out, const json_t *arr)
{
    json_t *d;
    size_t i;

    fprintf(out, "%-6s %-16s %-24s %-9s %-8s %-6s %s\n", "ID",
        "WEBHOOK", "EVENT", "STATE", "ATTEMPTS", "STATUS", "LAST ERROR");
    json_array_foreach(arr, i, d)
    {
        fprintf(out, "%-6" PRId64 " %-16s %-24s %-9s %-8" PRId64
            " %-6" PRId64 " ",
            (int64_t) json_integer_value(json_object_get(d, "id")),
            wh_str(d, "hook"), wh_str(d, "type"), wh_str(d, "state"),
            (int64_t) json_integer_value(json_object_get(d, "attempts")),
            (int64_t) json_integer_value(
                json_object_get(d, "last_status")));
        cli_puts_safe(out, wh_str(d, "last_error"));
        fputc('\n', out);
    }
}

static int
wh_deliveries(struct cli *c, const struct cli_args *a)
{
    const char *hook = cli_arg(a, "webhook");
    const char *state = cli_arg(a, "state");
    char path[WH_PATH_MAX];
    int64_t limit = 20;
    int rc;

    if (cli_has(a, "limit") &&
        cli_check_uint(c, "limit", cli_arg(a, "limit"), 1, 1000, &limit) !=
            CLI_EXIT_OK) {
        return CLI_EXIT_USAGE;
    }
    if (state != NULL && strcmp(state, "pending") != 0 &&
        strcmp(state, "delivered") != 0 && strcmp(state, "failed") != 0) {
        fprintf(c->err,
            "error: --state must be pending, delivered or failed\n");
        return CLI_EXIT_USAGE;
    }
    if (hook != NULL &&
        (strlen(hook) == 0 || strlen(hook) > 64 ||
            strspn(hook, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                         "0123456789_.-") != strlen(hook))) {
        fprintf(c->err, "error: --webhook '%.80s' is not a webhook name\n",
            hook);
        return CLI_EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "/api/v1/webhooks/deliveries?limit=%" PRId64
        "%s%s%s%s", limit, hook ? "&hook=" : "", hook ? hook : "",
        state ? "&state=" : "", state ? state : "");
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    return cli_get_list(
        c, path, "deliveries", "delivery list", wh_print_deliveries);
}

static const struct cli_opt deliveries_opts[] = {
    {"webhook", "NAME", false, "only this webhook's deliveries"},
    {"state", "STATE", false, "pending, delivered or failed"},
    {"limit", "N", false, "newest N deliveries (1..1000, default 20)"},
    {NULL, NULL, false, NULL},
};

const struct cli_cmd cli_webhook_cmds[] = {
    {"webhook", "list", "", "list webhooks (secrets are never shown)",
        "List the controller's webhooks: the one of its configuration\n"
        "(webhook-url, named controller) and those set through the API.\n",
        NULL, 0, 0, wh_list},
    {"webhook", "test", "NAME", "queue a webhook.test event for NAME",
        "Queue a signed webhook.test event for webhook NAME; follow it with\n"
        "`ramp webhook deliveries --webhook NAME`.\n"
        "\n"
        "Example:\n"
        "  ramp webhook test controller\n",
        NULL, 1, 1, wh_test},
    {"webhook", "deliveries", "[--webhook NAME] [--state STATE] [--limit N]",
        "show webhook deliveries, newest first",
        "Show deliveries newest first: attempts, the last HTTP status and\n"
        "error, and for pending ones when the next attempt is due (--json).\n"
        "\n"
        "Example:\n"
        "  ramp webhook deliveries --state failed\n",
        deliveries_opts, 0, 0, wh_deliveries},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};
