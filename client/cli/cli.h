/* SPDX-License-Identifier: MIT */
/*
 * The `ramp` command: internal interfaces shared by its source files and
 * its unit test. The CLI is a thin client of the controller's HTTP API
 * (docs/api.md) and of libramp (`ramp eval`); it owns argument checking,
 * configuration, the HTTP transport and human-readable output. Not here:
 * any flag semantics beyond the local validation proto/json.h already
 * provides; the server stays the authority.
 *
 * Everything runs on one thread; nothing here is reentrant across
 * threads (the request counter is a plain global).
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes (docs/cli.md). Scripts depend on them: never renumber. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_ERROR = 1,    /* server said 4xx (other than below), or local */
    CLI_EXIT_USAGE = 2,    /* bad arguments; nothing was sent */
    CLI_EXIT_NOTFOUND = 3, /* 404 */
    CLI_EXIT_CONFLICT = 4, /* 409, 412 */
    CLI_EXIT_AUTH = 5,     /* 401, 403 */
    CLI_EXIT_UNREACH = 6,  /* connection refused, DNS, TLS, timeout */
    CLI_EXIT_SERVER = 7,   /* 5xx */
};

/* Responses larger than this are refused (a flag is at most a few MiB;
 * a hostile or confused server must not make us buffer gigabytes). */
#define CLI_RESP_MAX ((size_t) 16 << 20)
/* What a --file or --patch may hold: the API refuses bodies over 1 MiB. */
#define CLI_BODY_MAX ((size_t) 1 << 20)

#define CLI_OPT_MAX 32   /* options one command knows, globals included */
#define CLI_MULTI_MAX 64 /* values of repeatable options (--attr, --variant)   \
                          */
#define CLI_POS_MAX 4    /* positional arguments */

/* An option a command accepts: "--name VALUE" / "--name=VALUE", or a
 * switch when arg is NULL. */
struct cli_opt {
    const char *name; /* without the dashes */
    const char *arg;  /* metavariable for help ("N"), NULL for a switch */
    bool multi;       /* may repeat; each value kept */
    const char *help;
};

/* The parsed command line of one command. Values borrow from argv. */
struct cli_args {
    const struct cli_opt *opts[CLI_OPT_MAX]; /* known options */
    size_t nopts;
    const char *val[CLI_OPT_MAX];    /* last value; "" for a given switch */
    const char *mval[CLI_MULTI_MAX]; /* repeatable values, in order */
    size_t midx[CLI_MULTI_MAX];      /* option index of each mval */
    size_t nmulti;
    const char *pos[CLI_POS_MAX];
    int npos;
};

/* The resolved settings and the output streams of one run. */
struct cli {
    FILE *out;          /* results */
    FILE *err;          /* errors and warnings */
    char **envp;        /* environment for RAMP_* and the config path */
    bool json;          /* --json: the API's JSON instead of text */
    bool pretty;        /* --pretty: indented JSON */
    char url[1025];     /* base URL without a trailing '/' */
    char *token;        /* owned (rp_strdup); "" when none; never printed */
    int64_t timeout_ms; /* total time of one request */
    char agent[1025];   /* libramp target for `ramp eval` */
    char cacert[1025];  /* CA file for https:// ("": the system's) */
};

/* Run the command line argv[0..argc) (argv[0] is the program name) and
 * return its exit code. Reads RAMP_* settings from envp. */
int cli_main(int argc, char **argv, char **envp, FILE *out, FILE *err);

/* HTTP requests sent since the process started (for tests: a usage
 * error must leave it unchanged). */
unsigned long cli_requests_sent(void);

/* ---- arguments (args.c) ---- */

struct cli_cmd;

/*
 * Parse argv (the words after the command's name) into a for cmd: its
 * own options plus the global ones, and between minpos and maxpos
 * positional arguments. "--" ends the options. Returns CLI_EXIT_OK,
 * CLI_ARGS_HELP (--help or -h was given: the caller prints help and
 * exits 0) or CLI_EXIT_USAGE after printing what was wrong to c->err.
 */
#define CLI_ARGS_HELP (-1)
int cli_args_parse(struct cli *c, const struct cli_cmd *cmd, int argc,
    char **argv, struct cli_args *a);
/* The value of option name, NULL if not given. */
const char *cli_arg(const struct cli_args *a, const char *name);
bool cli_has(const struct cli_args *a, const char *name);
/* The i-th value of repeatable option name, NULL after the last. */
const char *cli_arg_multi(const struct cli_args *a, const char *name, size_t i);
extern const struct cli_opt cli_global_opts[];

/*
 * Resolve url, token, timeout and agent: defaults < config file <
 * RAMP_URL/RAMP_TOKEN/RAMP_TIMEOUT/RAMP_AGENT < --url/--token/--timeout/
 * --agent (proto/cfg.h). The file is --config, else
 * $XDG_CONFIG_HOME/ramp/cli.conf or $HOME/.config/ramp/cli.conf when it
 * exists. CLI_EXIT_OK, CLI_EXIT_USAGE (bad value, unreadable file).
 */
int cli_config(struct cli *c, const struct cli_args *a);

/* Usage checks shared by commands: print and return CLI_EXIT_USAGE. */
int cli_check_key(struct cli *c, const char *what, const char *key);
int cli_check_uint(struct cli *c, const char *opt, const char *s, int64_t min,
    int64_t max, int64_t *out);
/* Read a JSON document from path ("-": stdin), at most CLI_BODY_MAX
 * bytes. CLI_EXIT_OK or CLI_EXIT_USAGE. */
int cli_read_json(
    struct cli *c, const char *opt, const char *path, json_t **out);

/* ---- HTTP (http.c) ---- */

struct cli_resp {
    long status;  /* HTTP status, 0 if none was received */
    json_t *body; /* parsed body, NULL when empty (204) */
};

/*
 * One request to c->url + path. body (borrowed, may be NULL) is sent as
 * application/json; if_match > 0 adds If-Match: "if_match". Returns
 * CLI_EXIT_OK with r filled for a 2xx answer whose body is empty or
 * JSON; otherwise prints "error: ..." to c->err and returns the exit
 * code (cli_exit_status, cli_exit_curl). Free r with cli_resp_fini.
 */
int cli_http(struct cli *c, const char *method, const char *path,
    const json_t *body, uint64_t if_match, struct cli_resp *r);
void cli_resp_fini(struct cli_resp *r);

/* Exit code of an HTTP status (2xx -> 0). */
int cli_exit_status(long status);
/* Exit code of a libcurl result code (CURLcode, as int so this header
 * does not need curl.h). */
int cli_exit_curl(int code);
/*
 * Print the error of an answer with status: "error: <message> (field:
 * <field>)" from the API's error object, or "error: HTTP <status>" when
 * the body is not one.
 */
void cli_print_api_error(FILE *err, long status, const json_t *body);

/* buf = prefix + seg percent-encoded + suffix. CLI_EXIT_OK, or
 * CLI_EXIT_USAGE when it does not fit, CLI_EXIT_ERROR on ENOMEM. */
int cli_path(struct cli *c, char *buf, size_t bufsz, const char *prefix,
    const char *seg, const char *suffix);

/* ---- output (out.c) ---- */

/* The API's JSON, compact on one line or (pretty) indented by 2. */
int cli_print_json(struct cli *c, const json_t *j);
/*
 * GET path and show the array in member `member` of the answer: the JSON
 * as it came with --json, else print(out, array); an answer without the
 * array is "malformed WHAT from the server" (CLI_EXIT_ERROR). Exit codes
 * of cli_http otherwise.
 */
int cli_get_list(struct cli *c, const char *path, const char *member,
    const char *what, void (*print)(FILE *out, const json_t *arr));
/* A flag as "name: value" lines. */
void cli_print_flag(FILE *out, const json_t *flag);
/* Flags as an aligned table: KEY TYPE ENABLED VERSION DEFAULT. */
void cli_print_flag_table(FILE *out, const json_t *flags);
void cli_print_audit_table(FILE *out, const json_t *entries);
void cli_print_token_table(FILE *out, const json_t *tokens);
/* Write s with control characters replaced by '?': a description
 * holding escape sequences must not drive the terminal. */
void cli_puts_safe(FILE *out, const char *s);

/* ---- commands ---- */

/* One command: `ramp GROUP NAME ...` or, with group NULL, `ramp NAME`. */
struct cli_cmd {
    const char *group;          /* "flag", "token", "keys" or NULL */
    const char *name;           /* "create"; NULL ends a table */
    const char *synopsis;       /* after the command words: "KEY [options]" */
    const char *summary;        /* one line for the command list */
    const char *desc;           /* help text: what it does, examples */
    const struct cli_opt *opts; /* own options; NULL name ends */
    int minpos, maxpos;         /* positional arguments allowed */
    int (*run)(struct cli *c, const struct cli_args *a);
};

extern const struct cli_cmd cli_flag_cmds[];  /* cmd_flag.c */
extern const struct cli_cmd cli_admin_cmds[]; /* cmd_admin.c */
extern const struct cli_cmd cli_eval_cmds[];  /* cmd_eval.c */
extern const struct cli_cmd cli_webhook_cmds[]; /* cmd_webhook.c */
extern const struct cli_cmd cli_rollout_cmds[]; /* cmd_rollout.c */
extern const struct cli_cmd cli_agent_cmds[];   /* cmd_agent.c */

/* ---- rollouts (cmd_rollout.c; exposed for test_cli_rollout) ---- */

/* `ramp rollout status --wait` exit codes (docs/cli.md). */
#define CLI_WAIT_COMPLETED 0
#define CLI_WAIT_ROLLED_BACK 1 /* rolled back or aborted */
#define CLI_WAIT_HELD 2
#define CLI_WAIT_TIMEOUT 3

/* The POST body of `rollout start` from its arguments (a->pos[0] is the
 * flag). CLI_EXIT_OK with *out owned by the caller, or CLI_EXIT_USAGE. */
int cli_rollout_start_body(struct cli *c, const struct cli_args *a,
    json_t **out);
int cli_rollout_parse_stages(struct cli *c, const char *s, json_t **out);
int cli_rollout_parse_unit(struct cli *c, const char *s, json_t **out);
bool cli_rollout_finished(const char *state);
/* The --wait exit code of a state, or -1 while it is not final (held is
 * final only when held_ends). */
int cli_rollout_wait_code(const char *state, bool held_ends);
/* "6m52s", "850ms", "1h02m" */
void cli_fmt_ms(char *buf, size_t bufsz, double ms);
/* The status view; returns the number of lines written. */
int cli_print_rollout(FILE *out, const json_t *r);
/* One line of --watch without a terminal (bake: with the time left). */
void cli_rollout_line(char *buf, size_t bufsz, const json_t *r, bool bake);
void cli_print_rollout_table(FILE *out, const json_t *rollouts);
void cli_print_rollout_history(FILE *out, const json_t *history);
void cli_print_rollout_checks(FILE *out, const json_t *checks);
void cli_print_agent_table(FILE *out, const json_t *agents);

/* Help of one command, with the exit code table. */
void cli_usage(FILE *f, const struct cli_cmd *cmd);
void cli_usage_exits(FILE *f);

#endif
