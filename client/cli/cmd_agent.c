/* SPDX-License-Identifier: MIT */
/*
 * `ramp agent enroll|list|remove`: the agents whose signed health
 * reports the controller accepts (docs/api.md "Agents"; DESIGN §7). The
 * public key comes from the agent's host: `ramp-agent pubkey` prints
 * it. Not here: the agent itself, or its key (agent/main.c).
 */
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "model.h"

#define AGENT_PATH_MAX 512
#define AGENT_PK_HEX 64    /* an Ed25519 public key in hex */
#define AGENT_HOST_MAX 255 /* a DNS name's limit, as the controller's */

/* Agent ids as the controller accepts them: [A-Za-z0-9_.:-]{1,64}. */
static int
agent_check_id(struct cli *c, const char *id)
{
    size_t n = strlen(id);

    if (n == 0 || n > RP_NAME_MAX ||
        strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                   "0123456789_.:-") != n) {
        fprintf(c->err,
            "error: ID '%.80s' is not an agent id ([A-Za-z0-9_.:-]{1,64})\n",
            id);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

void
cli_print_agent_table(FILE *out, const json_t *agents)
{
    const json_t *a;
    size_t i;

    fprintf(out, "%-20s %-24s %-9s %-24s %s\n", "ID", "HOST", "REPORTS",
        "LAST REPORT", "ENROLLED");
    json_array_foreach(agents, i, a)
    {
        const char *id = json_string_value(json_object_get(a, "id"));
        const char *host = json_string_value(json_object_get(a, "host"));
        const char *last =
            json_string_value(json_object_get(a, "last_report_at"));
        const char *at = json_string_value(json_object_get(a, "enrolled_at"));
        char cell[64];

        snprintf(cell, sizeof(cell), "%-20s ", id != NULL ? id : "?");
        cli_puts_safe(out, cell);
        snprintf(cell, sizeof(cell), "%-24s ",
            host != NULL && host[0] != '\0' ? host : "-");
        cli_puts_safe(out, cell);
        fprintf(out, "%-9lld ",
            (long long) json_integer_value(json_object_get(a, "reports")));
        snprintf(cell, sizeof(cell), "%-24s ", last != NULL ? last : "never");
        cli_puts_safe(out, cell);
        cli_puts_safe(out, at != NULL ? at : "-");
        fputc('\n', out);
    }
}

static void
agent_print(FILE *out, const json_t *a)
{
    static const char *const names[] = {
        "id", "host", "public_key", "enrolled_at"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const char *v = json_string_value(json_object_get(a, names[i]));

        fprintf(out, "%s:%*s", names[i], (int) (13 - strlen(names[i])), "");
        cli_puts_safe(out, v != NULL && v[0] != '\0' ? v : "-");
        fputc('\n', out);
    }
}

static int
agent_enroll(struct cli *c, const struct cli_args *a)
{
    const char *pk = cli_arg(a, "public-key");
    const char *host = cli_arg(a, "host");
    struct cli_resp r;
    json_t *body;
    int rc;

    rc = agent_check_id(c, a->pos[0]);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (pk == NULL) {
        fprintf(c->err, "error: --public-key is required (on the agent's "
                        "host: ramp-agent pubkey)\n");
        return CLI_EXIT_USAGE;
    }
    if (strlen(pk) != AGENT_PK_HEX ||
        strspn(pk, "0123456789abcdefABCDEF") != AGENT_PK_HEX) {
        fprintf(c->err, "error: --public-key: not 64 hex digits (an Ed25519 "
                        "public key, as `ramp-agent pubkey` prints it)\n");
        return CLI_EXIT_USAGE;
    }
    if (host != NULL && strlen(host) > AGENT_HOST_MAX) {
        fprintf(
            c->err, "error: --host: longer than %d bytes\n", AGENT_HOST_MAX);
        return CLI_EXIT_USAGE;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    body = json_pack("{s:s,s:s}", "id", a->pos[0], "public_key", pk);
    if (body != NULL && host != NULL &&
        json_object_set_new(body, "host", json_string(host)) != 0) {
        json_decref(body);
        body = NULL;
    }
    if (body == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    rc = cli_http(c, "POST", "/api/v1/agents", body, 0, &r);
    json_decref(body);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (c->json) {
        rc = cli_print_json(c, r.body);
    } else {
        agent_print(c->out, r.body);
    }
    cli_resp_fini(&r);
    return rc;
}

static int
agent_list(struct cli *c, const struct cli_args *a)
{
    int rc = cli_config(c, a);

    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    return cli_get_list(c, "/api/v1/agents", "agents", "agent list",
        cli_print_agent_table);
}

static int
agent_remove(struct cli *c, const struct cli_args *a)
{
    char path[AGENT_PATH_MAX];
    struct cli_resp r;
    int rc;

    rc = agent_check_id(c, a->pos[0]);
    if (rc == CLI_EXIT_OK) {
        rc = cli_path(c, path, sizeof(path), "/api/v1/agents/", a->pos[0], "");
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_config(c, a);
    }
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_http(c, "DELETE", path, NULL, 0, &r);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    cli_resp_fini(&r);
    if (!c->json) {
        fprintf(c->out, "removed agent %s\n", a->pos[0]);
    }
    return CLI_EXIT_OK;
}

static const struct cli_opt agent_enroll_opts[] = {
    {"public-key", "HEX", false,
        "the agent's Ed25519 public key (ramp-agent pubkey)"},
    {"host", "HOST", false, "the agent's host name, for people"},
    {NULL, NULL, false, NULL},
};

const struct cli_cmd cli_agent_cmds[] = {
    {"agent", "enroll", "ID --public-key HEX [--host HOST]",
        "accept an agent's health reports (admin)",
        "Enroll agent ID: the controller accepts health reports signed\n"
        "with this key and sent as this id, and rollouts count them. On\n"
        "the agent's host, `ramp-agent pubkey` prints the key (and creates\n"
        "it if missing); the agent reports as its --agent-id.\n"
        "\n"
        "Example:\n"
        "  ramp agent enroll web-01 --public-key \"$(ssh web-01 ramp-agent "
        "pubkey)\"\n",
        agent_enroll_opts, 1, 1, agent_enroll},
    {"agent", "list", "", "list enrolled agents and their last reports",
        "List enrolled agents: id, host, reports accepted and the last\n"
        "one's time (since this controller process started), enrollment\n"
        "time.\n",
        NULL, 0, 0, agent_list},
    {"agent", "remove", "ID", "stop accepting an agent's reports (admin)",
        "Remove agent ID: its reports are refused from now on.\n", NULL, 1, 1,
        agent_remove},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};
