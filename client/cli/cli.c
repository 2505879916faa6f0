/* SPDX-License-Identifier: MIT */
/*
 * The `ramp` command's dispatcher: finds the command named by the first
 * words of the command line, prints help, and runs it. Global options
 * may come before the command (`ramp --json flag list`) or anywhere
 * after it. Not here: the commands themselves (cmd_*.c).
 */
#include <string.h>

#include "alloc.h"
#include "cli.h"

#define CLI_ARGV_MAX 256 /* words on one command line we accept */

static const struct cli_cmd *const cli_tables[] = {
    cli_flag_cmds,
    cli_admin_cmds,
    cli_eval_cmds,
    cli_webhook_cmds,
    cli_rollout_cmds,
    cli_agent_cmds,
};

#define CLI_NTABLES (sizeof(cli_tables) / sizeof(cli_tables[0]))

void
cli_usage_exits(FILE *f)
{
    fputs("Exit codes:\n"
          "  0  success\n"
          "  1  error: the server refused the request (4xx not below) or a\n"
          "     local failure\n"
          "  2  usage error: bad arguments; nothing was sent\n"
          "  3  not found (404)\n"
          "  4  conflict: exists, or stale version (409, 412)\n"
          "  5  unauthorized or forbidden (401, 403)\n"
          "  6  cannot reach the controller or agent (connection, timeout)\n"
          "  7  server error (5xx)\n",
        f);
}

static void
usage_opts(FILE *f, const struct cli_opt *opts)
{
    for (const struct cli_opt *o = opts; o != NULL && o->name != NULL; o++) {
        char left[64];

        snprintf(left, sizeof(left), "--%s%s%s%s", o->name,
            o->arg != NULL ? " " : "", o->arg != NULL ? o->arg : "",
            o->multi ? " ..." : "");
        fprintf(f, "  %-26s %s\n", left, o->help);
    }
}

void
cli_usage(FILE *f, const struct cli_cmd *cmd)
{
    fprintf(f, "Usage: ramp %s%s%s %s\n\n%s\n", cmd->group ? cmd->group : "",
        cmd->group ? " " : "", cmd->name, cmd->synopsis, cmd->summary);
    fprintf(f, "\n%s", cmd->desc);
    if (cmd->opts != NULL && cmd->opts[0].name != NULL) {
        fputs("\nOptions:\n", f);
        usage_opts(f, cmd->opts);
    }
    fputs("\nGlobal options:\n", f);
    usage_opts(f, cli_global_opts);
    fputc('\n', f);
    cli_usage_exits(f);
}

/* The command list, all of it or one group's. */
static void
usage_list(FILE *f, const char *group)
{
    for (size_t t = 0; t < CLI_NTABLES; t++) {
        for (const struct cli_cmd *c = cli_tables[t]; c->name != NULL; c++) {
            char words[40];

            if (group != NULL &&
                (c->group == NULL || strcmp(c->group, group) != 0)) {
                continue;
            }
            snprintf(words, sizeof(words), "%s%s%s", c->group ? c->group : "",
                c->group ? " " : "", c->name);
            fprintf(f, "  %-15s %s\n", words, c->summary);
        }
    }
}

static void
usage_top(FILE *f)
{
    fputs("Usage: ramp COMMAND [options]\n"
          "\n"
          "Manage ramp feature flags through the controller's HTTP API, and\n"
          "ask the local agent what a flag evaluates to.\n"
          "\n"
          "Commands:\n",
        f);
    usage_list(f, NULL);
    fputs("  help [COMMAND]  show help\n"
          "\n"
          "Settings: --url, --token, --timeout, --agent, --cacert, or\n"
          "RAMP_URL, RAMP_TOKEN, RAMP_TIMEOUT, RAMP_AGENT, RAMP_CACERT, or\n"
          "the config file\n"
          "~/.config/ramp/cli.conf (\"url = ...\" lines; --config PATH);\n"
          "flags win over the environment, which wins over the file.\n"
          "\n"
          "Global options:\n",
        f);
    usage_opts(f, cli_global_opts);
    fputc('\n', f);
    cli_usage_exits(f);
}

static bool
is_group(const char *w)
{
    for (size_t t = 0; t < CLI_NTABLES; t++) {
        for (const struct cli_cmd *c = cli_tables[t]; c->name != NULL; c++) {
            if (c->group != NULL && strcmp(c->group, w) == 0) {
                return true;
            }
        }
    }
    return false;
}

static const struct cli_cmd *
find_cmd(const char *group, const char *name)
{
    for (size_t t = 0; t < CLI_NTABLES; t++) {
        for (const struct cli_cmd *c = cli_tables[t]; c->name != NULL; c++) {
            if ((group == NULL) != (c->group == NULL)) {
                continue;
            }
            if (group != NULL && strcmp(group, c->group) != 0) {
                continue;
            }
            if (strcmp(name, c->name) == 0) {
                return c;
            }
        }
    }
    return NULL;
}

/* `ramp help [GROUP] [NAME]` */
static int
run_help(struct cli *c, int argc, char **argv)
{
    const struct cli_cmd *cmd;

    if (argc == 0) {
        usage_top(c->out);
        return CLI_EXIT_OK;
    }
    if (is_group(argv[0])) {
        if (argc == 1) {
            fprintf(c->out, "Usage: ramp %s COMMAND [options]\n\nCommands:\n",
                argv[0]);
            usage_list(c->out, argv[0]);
            fprintf(c->out, "\n'ramp %s COMMAND --help' for more.\n", argv[0]);
            return CLI_EXIT_OK;
        }
        cmd = find_cmd(argv[0], argv[1]);
    } else {
        cmd = argc == 1 ? find_cmd(NULL, argv[0]) : NULL;
    }
    if (cmd == NULL) {
        fprintf(c->err, "error: no such command: ramp");
        for (int i = 0; i < argc && i < 2; i++) {
            fprintf(c->err, " %.40s", argv[i]);
        }
        fputs("\n", c->err);
        return CLI_EXIT_USAGE;
    }
    cli_usage(c->out, cmd);
    return CLI_EXIT_OK;
}

/* Is argv[i] a global option that takes a value, as a separate word? */
static bool
global_takes_value(const char *s)
{
    for (const struct cli_opt *o = cli_global_opts; o->name != NULL; o++) {
        if (o->arg != NULL && strncmp(s, "--", 2) == 0 &&
            strcmp(s + 2, o->name) == 0) {
            return true;
        }
    }
    return false;
}

static int
cli_run(struct cli *c, int argc, char **argv)
{
    char *words[CLI_ARGV_MAX];
    const struct cli_cmd *cmd;
    struct cli_args args;
    int nlead = 0;
    int i = 1;
    int nwords;
    int rc;

    if (argc > CLI_ARGV_MAX) {
        fprintf(c->err, "error: more than %d arguments\n", CLI_ARGV_MAX);
        return CLI_EXIT_USAGE;
    }
    /* Leading global options: skipped here, handed to the command's
     * parser in front of its own words so it checks them all alike. */
    while (i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage_top(c->out);
            return CLI_EXIT_OK;
        }
        if (global_takes_value(argv[i]) && i + 1 < argc) {
            i++;
        }
        i++;
    }
    nlead = i - 1;
    if (i >= argc) {
        fputs("error: no command given\n\n", c->err);
        usage_top(c->err);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        return run_help(c, argc - i - 1, argv + i + 1);
    }
    if (is_group(argv[i])) {
        const char *group = argv[i];

        if (i + 1 >= argc || argv[i + 1][0] == '-') {
            bool help = i + 1 < argc && (strcmp(argv[i + 1], "--help") == 0 ||
                                            strcmp(argv[i + 1], "-h") == 0);
            char *h[1] = {(char *) group};

            if (help) {
                return run_help(c, 1, h);
            }
            fprintf(c->err, "error: 'ramp %s' needs a command:\n", group);
            usage_list(c->err, group);
            return CLI_EXIT_USAGE;
        }
        cmd = find_cmd(group, argv[i + 1]);
        if (cmd == NULL) {
            fprintf(c->err, "error: unknown command 'ramp %s %.40s'\n", group,
                argv[i + 1]);
            usage_list(c->err, group);
            return CLI_EXIT_USAGE;
        }
        i += 2;
    } else {
        cmd = find_cmd(NULL, argv[i]);
        if (cmd == NULL) {
            fprintf(c->err,
                "error: unknown command '%.40s' (try 'ramp help')\n", argv[i]);
            return CLI_EXIT_USAGE;
        }
        i += 1;
    }
    nwords = 0;
    for (int k = 1; k <= nlead; k++) {
        words[nwords++] = argv[k];
    }
    for (; i < argc; i++) {
        words[nwords++] = argv[i];
    }
    rc = cli_args_parse(c, cmd, nwords, words, &args);
    if (rc == CLI_ARGS_HELP) {
        cli_usage(c->out, cmd);
        return CLI_EXIT_OK;
    }
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    return cmd->run(c, &args);
}

int
cli_main(int argc, char **argv, char **envp, FILE *out, FILE *err)
{
    struct cli c;
    int rc;

    memset(&c, 0, sizeof(c));
    c.out = out;
    c.err = err;
    c.envp = envp;
    c.timeout_ms = 10000;
    rc = cli_run(&c, argc, argv);
    if (fflush(out) != 0 && rc == CLI_EXIT_OK) {
        fprintf(err, "error: cannot write the output\n");
        rc = CLI_EXIT_ERROR;
    }
    fflush(err);
    if (c.token != NULL) {
        memset(c.token, 0, strlen(c.token));
        rp_free(c.token);
    }
    return rc;
}
