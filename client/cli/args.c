/* SPDX-License-Identifier: MIT */
/*
 * Command-line parsing, configuration and the argument checks the
 * commands share. Every check here runs before any request is sent: a
 * bad argument costs a message and exit code 2, never a half-done
 * change. Not here: what a command does with its arguments.
 *
 * getopt_long is not used: the options differ per sub-command, global
 * options may appear anywhere, and the messages must name the command.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "cfg.h"
#include "cli.h"
#include "model.h"

/* Accepted by every command, before or after the command's words. */
const struct cli_opt cli_global_opts[] = {
    {"url", "URL", false, "controller base URL (RAMP_URL)"},
    {"token", "TOKEN", false,
        "API token (RAMP_TOKEN; prefer it or the config file: argv is "
        "visible to other users)"},
    {"timeout", "DURATION", false,
        "total time per request: 500ms, 10s, 1m (RAMP_TIMEOUT)"},
    {"agent", "TARGET", false, "agent for eval (RAMP_AGENT)"},
    {"cacert", "PATH", false,
        "CA certificate (PEM) for an https:// URL; default: the system's "
        "(RAMP_CACERT)"},
    {"config", "PATH", false, "config file (default ~/.config/ramp/cli.conf)"},
    {"json", NULL, false, "print the API's JSON instead of text"},
    {"pretty", NULL, false, "with --json: indent by 2"},
    {"help", NULL, false, "show this help"},
    {NULL, NULL, false, NULL},
};

/* The configuration table (proto/cfg.h). Names match the options above
 * and the RAMP_* variables cfg derives from them. */
static const struct rp_cfg_def cli_cfg[] = {
    {"url", RP_CFG_STR, "http://127.0.0.1:7480", 0, 0, false,
        "controller base URL"},
    {"token", RP_CFG_STR, "", 0, 0, false, "API token"},
    /* 1 h: a request that takes longer is a hung controller. */
    {"timeout", RP_CFG_DURATION, "10s", 1, 3600000, false,
        "total time per request"},
    {"agent", RP_CFG_STR, "ipc:///run/ramp/agent.sock", 0, 0, false,
        "agent target for eval"},
    {"cacert", RP_CFG_STR, "", 0, 0, false,
        "CA certificate file for https:// (empty: the system's)"},
};

static int
args_find(const struct cli_args *a, const char *name, size_t len)
{
    for (size_t i = 0; i < a->nopts; i++) {
        if (strncmp(a->opts[i]->name, name, len) == 0 &&
            a->opts[i]->name[len] == '\0') {
            return (int) i;
        }
    }
    return -1;
}

static void
args_hint(struct cli *c, const struct cli_cmd *cmd)
{
    fprintf(c->err, "try 'ramp %s%s%s --help'\n",
        cmd->group != NULL ? cmd->group : "", cmd->group != NULL ? " " : "",
        cmd->name);
}

int
cli_args_parse(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv,
    struct cli_args *a)
{
    bool opts = true;

    memset(a, 0, sizeof(*a));
    /* test_cli checks every command's table fits (test_opt_tables). */
    for (const struct cli_opt *o = cmd->opts; o != NULL && o->name != NULL;
         o++) {
        if (a->nopts == CLI_OPT_MAX) {
            fprintf(c->err, "error: too many options for this command\n");
            return CLI_EXIT_ERROR;
        }
        a->opts[a->nopts++] = o;
    }
    for (const struct cli_opt *o = cli_global_opts; o->name != NULL; o++) {
        if (a->nopts == CLI_OPT_MAX) {
            fprintf(c->err, "error: too many options for this command\n");
            return CLI_EXIT_ERROR;
        }
        a->opts[a->nopts++] = o;
    }
    /* --help wins over every other problem: asking for help with a
     * half-typed command line must show the help. */
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            return CLI_ARGS_HELP;
        }
    }
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        const char *eq, *val;
        size_t len;
        int idx;

        if (!opts || s[0] != '-' || s[1] == '\0') {
            if (a->npos >= cmd->maxpos) {
                fprintf(c->err, "error: unexpected argument '%.64s'\n", s);
                args_hint(c, cmd);
                return CLI_EXIT_USAGE;
            }
            a->pos[a->npos++] = s;
            continue;
        }
        if (strcmp(s, "--") == 0) {
            opts = false;
            continue;
        }
        if (s[1] != '-') {
            fprintf(c->err, "error: unknown option '%.64s'\n", s);
            args_hint(c, cmd);
            return CLI_EXIT_USAGE;
        }
        eq = strchr(s + 2, '=');
        len = eq != NULL ? (size_t) (eq - (s + 2)) : strlen(s + 2);
        idx = args_find(a, s + 2, len);
        if (idx < 0) {
            fprintf(c->err, "error: unknown option '--%.*s'\n",
                (int) (len > 64 ? 64 : len), s + 2);
            args_hint(c, cmd);
            return CLI_EXIT_USAGE;
        }
        if (a->opts[idx]->arg == NULL) {
            if (eq != NULL) {
                fprintf(c->err, "error: option '--%s' takes no value\n",
                    a->opts[idx]->name);
                return CLI_EXIT_USAGE;
            }
            val = "";
        } else if (eq != NULL) {
            val = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fprintf(c->err, "error: option '--%s' needs a value (%s)\n",
                    a->opts[idx]->name, a->opts[idx]->arg);
                return CLI_EXIT_USAGE;
            }
            val = argv[++i];
        }
        if (a->opts[idx]->multi) {
            if (a->nmulti >= CLI_MULTI_MAX) {
                fprintf(c->err, "error: more than %d values for '--%s'\n",
                    CLI_MULTI_MAX, a->opts[idx]->name);
                return CLI_EXIT_USAGE;
            }
            a->mval[a->nmulti] = val;
            a->midx[a->nmulti] = (size_t) idx;
            a->nmulti++;
        }
        a->val[idx] = val;
    }
    if (a->npos < cmd->minpos) {
        fprintf(c->err, "error: missing argument: ramp %s%s%s %s\n",
            cmd->group != NULL ? cmd->group : "", cmd->group != NULL ? " " : "",
            cmd->name, cmd->synopsis);
        args_hint(c, cmd);
        return CLI_EXIT_USAGE;
    }
    c->json = cli_has(a, "json");
    c->pretty = cli_has(a, "pretty");
    return CLI_EXIT_OK;
}

const char *
cli_arg(const struct cli_args *a, const char *name)
{
    int idx = args_find(a, name, strlen(name));

    return idx < 0 ? NULL : a->val[idx];
}

bool
cli_has(const struct cli_args *a, const char *name)
{
    return cli_arg(a, name) != NULL;
}

const char *
cli_arg_multi(const struct cli_args *a, const char *name, size_t i)
{
    int idx = args_find(a, name, strlen(name));

    if (idx < 0) {
        return NULL;
    }
    for (size_t k = 0; k < a->nmulti; k++) {
        if (a->midx[k] == (size_t) idx) {
            if (i == 0) {
                return a->mval[k];
            }
            i--;
        }
    }
    return NULL;
}

static const char *
env_get(char **envp, const char *name)
{
    size_t n = strlen(name);

    for (char **e = envp; e != NULL && *e != NULL; e++) {
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            return *e + n + 1;
        }
    }
    return NULL;
}

/* The default config file, if it exists. A missing default file is not
 * an error (most users have none); a missing --config file is. */
static const char *
config_default(char **envp, char *buf, size_t bufsz)
{
    const char *xdg = env_get(envp, "XDG_CONFIG_HOME");
    const char *home = env_get(envp, "HOME");
    int n;

    if (xdg != NULL && xdg[0] == '/') {
        n = snprintf(buf, bufsz, "%s/ramp/cli.conf", xdg);
    } else if (home != NULL && home[0] != '\0') {
        n = snprintf(buf, bufsz, "%s/.config/ramp/cli.conf", home);
    } else {
        return NULL;
    }
    if (n < 0 || (size_t) n >= bufsz) {
        return NULL;
    }
    if (access(buf, F_OK) != 0 && errno == ENOENT) {
        return NULL;
    }
    return buf;
}

int
cli_config(struct cli *c, const struct cli_args *a)
{
    static const char *const names[] = {"url", "token", "timeout", "agent",
        "cacert"};
    enum { NSET = sizeof(names) / sizeof(names[0]) };
    char *argv[2 * NSET + 2];
    char flagbuf[NSET][16];
    char pathbuf[1024];
    const char *path;
    const char *url;
    struct rp_cfg cfg;
    int argc = 0;
    int rc = CLI_EXIT_USAGE;
    ramp_err rv;
    size_t len;

    /* Hand cfg only the settings' flags: the command's own options are
     * not in its table and would be "unknown flag" errors there. */
    for (size_t i = 0; i < NSET; i++) {
        const char *v = cli_arg(a, names[i]);

        if (v != NULL) {
            snprintf(flagbuf[i], sizeof(flagbuf[i]), "--%s", names[i]);
            argv[argc++] = flagbuf[i];
            argv[argc++] = (char *) v;
        }
    }
    path = cli_arg(a, "config");
    if (path == NULL) {
        path = config_default(c->envp, pathbuf, sizeof(pathbuf));
    } else if (path[0] == '\0') {
        fprintf(c->err, "error: --config: empty path\n");
        return CLI_EXIT_USAGE;
    }
    rv = rp_cfg_init(&cfg, cli_cfg, sizeof(cli_cfg) / sizeof(cli_cfg[0]));
    if (rv != RAMP_OK) {
        fprintf(c->err, "error: %s\n", cfg.err);
        return CLI_EXIT_ERROR;
    }
    /* cfg never echoes string values in its messages, so a bad token
     * cannot end up on the terminal through them. */
    rv = rp_cfg_load(&cfg, path, c->envp, argc, argv, NULL, NULL);
    if (rv != RAMP_OK) {
        fprintf(c->err, "error: %s\n", cfg.err);
        rc = rv == RAMP_ENOMEM ? CLI_EXIT_ERROR : CLI_EXIT_USAGE;
        goto out;
    }
    url = rp_cfg_str(&cfg, "url");
    len = strlen(url);
    while (len > 0 && url[len - 1] == '/') {
        len--;
    }
    if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
        len >= sizeof(c->url) || len <= 8) {
        fprintf(c->err,
            "error: url '%.64s' is not an http:// or https:// URL\n", url);
        goto out;
    }
    memcpy(c->url, url, len);
    c->url[len] = '\0';
    if (strpbrk(c->url, " \t\r\n") != NULL) {
        fprintf(c->err, "error: url contains white space\n");
        goto out;
    }
    /* A token with a line break would smuggle headers into the request:
     * refuse it, without showing it. */
    if (strpbrk(rp_cfg_str(&cfg, "token"), "\r\n") != NULL) {
        fprintf(c->err, "error: token contains a line break\n");
        goto out;
    }
    rp_free(c->token);
    c->token = rp_strdup(rp_cfg_str(&cfg, "token"));
    if (c->token == NULL) {
        fprintf(c->err, "error: out of memory\n");
        rc = CLI_EXIT_ERROR;
        goto out;
    }
    c->timeout_ms = rp_cfg_int(&cfg, "timeout");
    if (strlen(rp_cfg_str(&cfg, "agent")) >= sizeof(c->agent) ||
        rp_cfg_str(&cfg, "agent")[0] == '\0') {
        fprintf(c->err, "error: agent: empty or longer than %zu bytes\n",
            sizeof(c->agent) - 1);
        goto out;
    }
    snprintf(c->agent, sizeof(c->agent), "%s", rp_cfg_str(&cfg, "agent"));
    /* Checked here so a wrong path is a usage error before any request,
     * not a TLS failure that looks like an unreachable controller. */
    url = rp_cfg_str(&cfg, "cacert");
    if (strlen(url) >= sizeof(c->cacert) ||
        (url[0] != '\0' && access(url, R_OK) != 0)) {
        fprintf(c->err, "error: cacert: cannot read '%.256s'\n", url);
        goto out;
    }
    snprintf(c->cacert, sizeof(c->cacert), "%s", url);
    rc = CLI_EXIT_OK;

out:
    rp_cfg_fini(&cfg);
    return rc;
}

int
cli_check_key(struct cli *c, const char *what, const char *key)
{
    if (!rp_flag_key_valid(key, strlen(key))) {
        fprintf(c->err,
            "error: %s '%.140s' is not a flag key "
            "([a-z0-9][a-z0-9._-]{0,127})\n",
            what, key);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int
cli_check_uint(struct cli *c, const char *opt, const char *s, int64_t min,
    int64_t max, int64_t *out)
{
    if (rp_parse_int(s, min, max, out) != RAMP_OK) {
        fprintf(c->err,
            "error: --%s: '%.40s' is not an integer in %lld..%lld\n", opt, s,
            (long long) min, (long long) max);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int
cli_read_json(struct cli *c, const char *opt, const char *path, json_t **out)
{
    struct rp_buf b;
    json_error_t jerr;
    FILE *f;
    int rc = CLI_EXIT_USAGE;

    *out = NULL;
    rp_buf_init(&b, CLI_BODY_MAX);
    if (strcmp(path, "-") == 0) {
        f = stdin;
    } else {
        f = fopen(path, "rb");
        if (f == NULL) {
            fprintf(c->err, "error: --%s: cannot open %s: %s\n", opt, path,
                strerror(errno));
            goto out;
        }
    }
    for (;;) {
        char chunk[4096];
        size_t n = fread(chunk, 1, sizeof(chunk), f);
        ramp_err rv;

        if (n == 0) {
            break;
        }
        rv = rp_buf_append(&b, chunk, n);
        if (rv != RAMP_OK) {
            fprintf(c->err, "error: --%s: %s\n", opt,
                rv == RAMP_ETOOBIG ? "larger than 1 MiB, the API's limit"
                                   : "out of memory");
            rc = rv == RAMP_ETOOBIG ? CLI_EXIT_USAGE : CLI_EXIT_ERROR;
            goto out;
        }
    }
    if (ferror(f)) {
        fprintf(c->err, "error: --%s: cannot read %s\n", opt, path);
        goto out;
    }
    *out =
        json_loadb((const char *) b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    if (*out == NULL) {
        fprintf(c->err, "error: --%s: %s: line %d: %s\n", opt,
            strcmp(path, "-") == 0 ? "stdin" : path, jerr.line, jerr.text);
        goto out;
    }
    if (!json_is_object(*out)) {
        fprintf(c->err, "error: --%s: not a JSON object\n", opt);
        json_decref(*out);
        *out = NULL;
        goto out;
    }
    rc = CLI_EXIT_OK;

out:
    if (f != NULL && f != stdin) {
        fclose(f);
    }
    rp_buf_fini(&b);
    return rc;
}
