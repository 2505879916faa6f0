/* SPDX-License-Identifier: MIT */
/*
 * The ramp CLI without a controller: every kind of bad argument exits 2
 * with a message and sends nothing (the transport's request counter does
 * not move), --help everywhere exits 0, HTTP statuses and curl errors map
 * to the documented exit codes, API errors print as "error: <message>
 * (field: <field>)", the text and JSON output formats, configuration
 * precedence, `keys gen`, and real transport failures (a closed port, a
 * listener that never answers) exit 6 without printing the token.
 *
 * cli_main() runs in-process with output captured by open_memstream();
 * environments are envp arrays built here, so the user's own config
 * file and RAMP_* variables never leak in.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "alloc.h"
#include "cli.h"
#include "envelope.h"
#include "testutil.h"
/* after testutil.h */
#include "cli_run.h"


/* ---- usage errors ---- */

static const char *const usage_cases[][12] = {
    {NULL},
    {"frobnicate"},
    {"flag"},
    {"flag", "frobnicate"},
    {"flag", "get"},
    {"flag", "get", "BAD"},
    {"flag", "get", "a", "b"},
    {"flag", "get", "a", "--bogus"},
    {"flag", "get", "a", "-x"},
    {"flag", "get", "-bad-key"},
    {"flag", "get", "a", "--json=yes"},
    {"flag", "get", "a", "--url"},
    {"flag", "get", "a", "--url", "ftp://example.com"},
    {"flag", "get", "a", "--url", "http://"},
    {"flag", "get", "a", "--timeout", "fast"},
    {"flag", "get", "a", "--timeout", "0"},
    {"flag", "get", "a", "--config", "/nonexistent-ramp-test/cli.conf"},
    {"flag", "get", "a", "--token", "x\r\nX-Evil: 1"},
    {"flag", "list", "--limit"},
    {"flag", "list", "--limit", "0"},
    {"flag", "list", "--limit", "ten"},
    {"flag", "list", "--prefix", "Upper"},
    {"flag", "list", "--after", "no space"},
    {"flag", "list", "extra"},
    {"flag", "create"},
    {"flag", "create", "k"},
    {"flag", "create", "k", "--type", "colour"},
    {"flag", "create", "K", "--type", "bool"},
    {"flag", "create", "k", "--type", "bool", "--file", "x.json"},
    {"flag", "create", "k", "--type", "number", "--variant", "a"},
    {"flag", "create", "k", "--type", "number", "--variant", "=1"},
    {"flag", "create", "k", "--type", "number", "--variant", "a=x"},
    {"flag", "create", "k", "--type", "number", "--variant", "a=1", "--variant",
        "a=2"},
    {"flag", "create", "k", "--type", "json", "--variant", "a={"},
    {"flag", "create", "k", "--type", "string", "--variant", "a=1",
        "--default-variant", "b"},
    {"flag", "create", "k", "--type", "bool", "--variant", "on=maybe"},
    {"flag", "create", "--file", "/nonexistent-ramp-test/f.json"},
    {"flag", "set", "k"},
    {"flag", "set", "BAD", "--description", "d"},
    {"flag", "set", "k", "--patch", "[1]"},
    {"flag", "set", "k", "--patch", "{"},
    {"flag", "set", "k", "--patch", "{\"a\":1,\"a\":2}"},
    {"flag", "set", "k", "--description", "d", "--if-version", "0"},
    {"flag", "set", "k", "--description", "d", "--if-version", "v3"},
    {"flag", "set", "k", "--file", "f.json", "--patch", "{}"},
    {"flag", "enable", "k", "--if-version", "-1"},
    {"flag", "disable"},
    {"flag", "delete", "k", "--if-version"},
    {"audit", "--flag", "BAD"},
    {"audit", "--before", "x"},
    {"audit", "--limit", "-5"},
    {"token", "create", "--name", "a b", "--role", "admin"},
    {"token", "create", "--name", "ci", "--role", "root"},
    {"token", "create", "--name", "ci"},
    {"token", "revoke"},
    {"token", "revoke", "bad/name"},
    {"token", "list", "extra"},
    {"keys", "gen"},
    {"keys", "gen", "--out"},
    {"keys", "gen", "--out", "x", "--force=1"},
    {"version", "extra"},
    {"help", "nosuch"},
    {"help", "flag", "nosuch"},
    {"eval"},
    {"eval", "BAD"},
    {"eval", "k", "--attr", "country"},
    {"eval", "k", "--attr", "=de"},
    {"eval", "k", "--attr", "key=user-1"},
    {"eval", "k", "--attr"},
    {"eval", "k", "--type", "colour"},
    {"eval", "k", "--agent", "gopher://x"},
    {"eval", "k", "--agent", ""},
};

static void
test_usage_errors(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(usage_cases) / sizeof(usage_cases[0]); i++) {
        unsigned long before = cli_requests_sent();
        struct run r;

        run_envv(&r, env_default, usage_cases[i]);
        if (r.rc != CLI_EXIT_USAGE || strncmp(r.err, "error: ", 7) != 0) {
            print_error("case %zu (%s %s %s): rc %d, stderr '%s'\n", i,
                usage_cases[i][0] ? usage_cases[i][0] : "",
                usage_cases[i][0] && usage_cases[i][1] ? usage_cases[i][1] : "",
                usage_cases[i][0] && usage_cases[i][1] && usage_cases[i][2]
                    ? usage_cases[i][2]
                    : "",
                r.rc, r.err);
        }
        assert_int_equal(r.rc, CLI_EXIT_USAGE);
        assert_int_equal(strncmp(r.err, "error: ", 7), 0);
        assert_int_equal(cli_requests_sent(), before);
        run_fini(&r);
    }
}

/* The messages say what was wrong, and never echo a token. */
static void
test_usage_messages(void **state)
{
    struct run r;

    (void) state;
    RUN(&r, "flag", "get", "BAD");
    assert_string_equal(r.err, "error: KEY 'BAD' is not a flag key "
                               "([a-z0-9][a-z0-9._-]{0,127})\n");
    run_fini(&r);

    RUN(&r, "flag", "get", "a", "--bogus");
    assert_string_equal(r.err, "error: unknown option '--bogus'\n"
                               "try 'ramp flag get --help'\n");
    run_fini(&r);

    RUN(&r, "flag", "list", "--limit");
    assert_string_equal(r.err, "error: option '--limit' needs a value (N)\n");
    run_fini(&r);

    RUN(&r, "flag", "create", "k", "--type", "string", "--variant", "a=1",
        "--default-variant", "b");
    assert_string_equal(r.err, "error: invalid flag (field: "
                               "default_variant)\n");
    run_fini(&r);

    RUN(&r, "flag", "get", "a", "--token", "tok-secret\nX: 1");
    assert_string_equal(r.err, "error: token contains a line break\n");
    assert_null(strstr(r.err, "tok-secret"));
    run_fini(&r);

    RUN(&r, "flag", "get", "a", "--timeout", "fast");
    assert_non_null(strstr(r.err, "'timeout'"));
    assert_non_null(strstr(r.err, "not a duration"));
    run_fini(&r);
}

/* A --file body is decoded locally: unknown members and key mismatches
 * are usage errors naming the field. */
static void
test_file_validation(void **state)
{
    char dir[] = "/tmp/ramp-cli-XXXXXX";
    char path[128];
    struct run r;
    FILE *f;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f.json", dir);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"key\": \"k\", \"type\": \"bool\", \"colour\": \"red\"}", f);
    fclose(f);
    RUN(&r, "flag", "create", "--file", path);
    assert_int_equal(r.rc, CLI_EXIT_USAGE);
    assert_string_equal(r.err, "error: invalid flag (field: colour)\n");
    run_fini(&r);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"key\": \"other\", \"type\": \"bool\"}", f);
    fclose(f);
    RUN(&r, "flag", "set", "k", "--file", path);
    assert_int_equal(r.rc, CLI_EXIT_USAGE);
    assert_string_equal(r.err, "error: --file: \"key\" does not match 'k'\n");
    run_fini(&r);

    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[1, 2]", f);
    fclose(f);
    RUN(&r, "flag", "create", "--file", path);
    assert_int_equal(r.rc, CLI_EXIT_USAGE);
    assert_string_equal(r.err, "error: --file: not a JSON object\n");
    run_fini(&r);

    /* A valid file gets as far as the network: exit 6, one request. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"key\": \"k\", \"type\": \"bool\", \"version\": 3}", f);
    fclose(f);
    {
        unsigned long before = cli_requests_sent();

        RUN(&r, "flag", "set", "k", "--file", path);
        assert_int_equal(r.rc, CLI_EXIT_UNREACH);
        assert_int_equal(cli_requests_sent(), before + 1);
        run_fini(&r);
    }
    unlink(path);
    rm_dir(dir);
}

/* ---- help ---- */

static void
help_ok(const char *const *args)
{
    struct run r;

    run_envv(&r, env_default, args);
    assert_int_equal(r.rc, CLI_EXIT_OK);
    assert_int_equal(strncmp(r.out, "Usage: ramp", 11), 0);
    assert_non_null(strstr(r.out, "Exit codes:\n  0  success\n"));
    assert_non_null(strstr(r.out, "  7  server error (5xx)\n"));
    assert_int_equal(r.errlen, 0);
    run_fini(&r);
}

static void
test_help_everywhere(void **state)
{
    static const struct cli_cmd *const tables[] = {
        cli_flag_cmds,
        cli_admin_cmds,
        cli_eval_cmds,
    };
    unsigned long before = cli_requests_sent();
    struct run r;
    int n = 0;

    (void) state;
    help_ok((const char *const[]){"--help", NULL});
    help_ok((const char *const[]){"-h", NULL});
    help_ok((const char *const[]){"help", NULL});
    help_ok((const char *const[]){"help", "flag", "create", NULL});
    help_ok((const char *const[]){"--json", "help", "audit", NULL});
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const struct cli_cmd *c = tables[t]; c->name != NULL; c++) {
            const char *args[6] = {NULL};
            int k = 0;

            if (c->group != NULL) {
                args[k++] = c->group;
            }
            args[k++] = c->name;
            /* --help wins over bad arguments before it. */
            args[k++] = "--bogus";
            args[k++] = "--help";
            help_ok(args);
            n++;
        }
    }
    assert_int_equal(n, 14);

    RUN(&r, "flag", "--help");
    assert_int_equal(r.rc, CLI_EXIT_OK);
    assert_non_null(strstr(r.out, "  flag delete     delete a flag\n"));
    run_fini(&r);
    assert_int_equal(cli_requests_sent(), before);
}

/* ---- status and error mapping ---- */

static void
test_exit_status(void **state)
{
    static const struct {
        long status;
        int rc;
    } cases[] = {
        {200, 0},
        {201, 0},
        {204, 0},
        {0, 1},
        {100, 1},
        {301, 1},
        {304, 1},
        {400, 1},
        {401, 5},
        {403, 5},
        {404, 3},
        {405, 1},
        {409, 4},
        {411, 1},
        {412, 4},
        {413, 1},
        {415, 1},
        {429, 1},
        {499, 1},
        {500, 7},
        {502, 7},
        {503, 7},
        {599, 7},
        {600, 1},
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(cli_exit_status(cases[i].status), cases[i].rc);
    }
    assert_int_equal(cli_exit_curl(CURLE_OK), 0);
    assert_int_equal(cli_exit_curl(CURLE_COULDNT_CONNECT), 6);
    assert_int_equal(cli_exit_curl(CURLE_COULDNT_RESOLVE_HOST), 6);
    assert_int_equal(cli_exit_curl(CURLE_OPERATION_TIMEDOUT), 6);
    assert_int_equal(cli_exit_curl(CURLE_RECV_ERROR), 6);
    assert_int_equal(cli_exit_curl(CURLE_GOT_NOTHING), 6);
    assert_int_equal(cli_exit_curl(CURLE_SSL_CONNECT_ERROR), 6);
    assert_int_equal(cli_exit_curl(CURLE_URL_MALFORMAT), 1);
    assert_int_equal(cli_exit_curl(CURLE_OUT_OF_MEMORY), 1);
    assert_int_equal(cli_exit_curl(CURLE_WRITE_ERROR), 1);
}

static char *
api_error_text(long status, const char *body)
{
    json_t *j = body != NULL ? json_loads(body, 0, NULL) : NULL;
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);

    assert_non_null(f);
    cli_print_api_error(f, status, j);
    fclose(f);
    json_decref(j);
    return s;
}

static void
test_api_error(void **state)
{
    char *s;

    (void) state;
    s = api_error_text(400,
        "{\"error\":{\"status\":400,\"code\":\"invalid\",\"message\":"
        "\"unknown op\",\"field\":\"rules[0].clauses[1].op\"}}");
    assert_string_equal(
        s, "error: unknown op (field: rules[0].clauses[1].op)\n");
    free(s);
    s = api_error_text(404, "{\"error\":{\"status\":404,\"code\":"
                            "\"not_found\",\"message\":\"no such flag\"}}");
    assert_string_equal(s, "error: no such flag\n");
    free(s);
    s = api_error_text(502, NULL);
    assert_string_equal(s, "error: HTTP 502\n");
    free(s);
    s = api_error_text(500, "{\"error\":\"flat\"}");
    assert_string_equal(s, "error: HTTP 500\n");
    free(s);
    /* A message with an escape sequence cannot reach the terminal. */
    s = api_error_text(400, "{\"error\":{\"message\":\"a\\u001b[2Jb\","
                            "\"field\":\"x\\ny\"}}");
    assert_string_equal(s, "error: a?[2Jb (field: x?y)\n");
    free(s);
}

/* ---- output ---- */

static const char example_flag[] =
    "{\"key\":\"new-checkout\",\"description\":\"The redesigned checkout\","
    "\"type\":\"string\",\"variants\":{\"classic\":\"v1\",\"redesign\":"
    "\"v2\",\"maintenance\":\"off\"},\"enabled\":true,\"off_variant\":"
    "\"maintenance\",\"default_variant\":\"classic\",\"rules\":[{\"clauses\":"
    "[{\"attribute\":\"email\",\"op\":\"ends_with\",\"values\":"
    "[\"@example.com\"],\"negate\":false}],\"variant\":\"redesign\"},"
    "{\"clauses\":[{\"attribute\":\"country\",\"op\":\"in\",\"values\":"
    "[\"de\",\"fr\"],\"negate\":true}],\"split\":[{\"variant\":\"redesign\","
    "\"weight\":2550},{\"variant\":\"classic\",\"weight\":7450}]},"
    "{\"variant\":\"classic\"}],\"tags\":[\"checkout\",\"team-payments\"],"
    "\"version\":7,\"salt\":\"3c597693b0cdea0724415e7b98b5d2ef\","
    "\"updated_at\":\"2026-11-27T15:20:25.123Z\",\"updated_by\":\"alice\"}";

static void
test_print_flag(void **state)
{
    char *s;

    (void) state;
    s = capture_json(cli_print_flag, example_flag, NULL);
    assert_string_equal(s,
        "key:             new-checkout\n"
        "type:            string\n"
        "enabled:         yes\n"
        "version:         7\n"
        "default_variant: classic\n"
        "off_variant:     maintenance\n"
        "description:     The redesigned checkout\n"
        "tags:            checkout, team-payments\n"
        "variants:\n"
        "  classic      \"v1\"\n"
        "  redesign     \"v2\"\n"
        "  maintenance  \"off\"\n"
        "rules:\n"
        "  1. email ends_with \"@example.com\" -> redesign\n"
        "  2. not country in \"de\",\"fr\" -> redesign 25.5%, classic 74.5%\n"
        "  3. always -> classic\n"
        "updated_at:      2026-11-27T15:20:25.123Z\n"
        "updated_by:      alice\n");
    free(s);

    s = capture_json(cli_print_flag,
        "{\"key\":\"dark\",\"type\":\"bool\",\"variants\":"
        "{\"on\":true,\"off\":false},\"enabled\":false,"
        "\"description\":\"\\u001b]0;pwned\\u0007\","
        "\"rules\":[],\"version\":1,\"updated_by\":\"\"}",
        NULL);
    assert_string_equal(s, "key:             dark\n"
                           "type:            bool\n"
                           "enabled:         no\n"
                           "version:         1\n"
                           "description:     ?]0;pwned?\n"
                           "variants:\n"
                           "  on   true\n"
                           "  off  false\n"
                           "rules:           none\n");
    free(s);
}

static void
test_tables(void **state)
{
    char *s;

    (void) state;
    s = capture_json(cli_print_flag_table,
        "{\"flags\":[{\"key\":\"a\",\"type\":\"bool\","
        "\"enabled\":true,\"version\":12,\"default_variant\":"
        "\"off\"},{\"key\":\"new-checkout\",\"type\":\"string\","
        "\"enabled\":false,\"version\":3,\"default_variant\":"
        "\"classic\"}]}",
        "flags");
    assert_string_equal(s, "KEY           TYPE    ENABLED  VERSION  DEFAULT\n"
                           "a             bool    yes      12       off\n"
                           "new-checkout  string  no       3        classic\n");
    free(s);

    s = capture_json(cli_print_flag_table, "{\"flags\":[]}", "flags");
    assert_string_equal(s, "KEY  TYPE  ENABLED  VERSION  DEFAULT\n");
    free(s);

    s = capture_json(cli_print_token_table,
        "{\"tokens\":[{\"name\":\"ci\",\"role\":\"operator\","
        "\"created_at\":\"2026-11-27T15:20:25.123Z\","
        "\"revoked\":false},{\"name\":\"old\",\"role\":"
        "\"admin\",\"created_at\":\"2026-01-01T00:00:00.000Z\","
        "\"revoked\":true}]}",
        "tokens");
    assert_string_equal(s, "NAME  ROLE      CREATED                   REVOKED\n"
                           "ci    operator  2026-11-27T15:20:25.123Z  no\n"
                           "old   admin     2026-01-01T00:00:00.000Z  yes\n");
    free(s);

    s = capture_json(cli_print_audit_table,
        "{\"entries\":[{\"id\":2,\"at\":\"2026-11-27T15:20:25."
        "123Z\",\"actor\":\"alice\",\"action\":\"flag.update\","
        "\"target\":\"dark\"}]}",
        "entries");
    assert_string_equal(s,
        "ID  TIME                      ACTOR  ACTION       TARGET\n"
        "2   2026-11-27T15:20:25.123Z  alice  flag.update  dark\n");
    free(s);
}

static void
test_print_json(void **state)
{
    struct cli c;
    char *s = NULL;
    size_t n = 0;
    json_t *j = json_loads("{\"z\": 1, \"a\": [true, 0.5, \"x\"]}", 0, NULL);

    (void) state;
    memset(&c, 0, sizeof(c));
    c.out = open_memstream(&s, &n);
    c.err = stderr;
    assert_int_equal(cli_print_json(&c, j), CLI_EXIT_OK);
    c.pretty = true;
    assert_int_equal(cli_print_json(&c, j), CLI_EXIT_OK);
    fclose(c.out);
    /* Members keep the server's order; compact is one line. */
    assert_string_equal(s, "{\"z\":1,\"a\":[true,0.5,\"x\"]}\n"
                           "{\n  \"z\": 1,\n  \"a\": [\n    true,\n    0.5,\n"
                           "    \"x\"\n  ]\n}\n");
    free(s);
    json_decref(j);
}

/* ---- configuration ---- */

static const struct cli_cmd *
find_cmd(const char *group, const char *name)
{
    for (const struct cli_cmd *c = cli_flag_cmds; c->name != NULL; c++) {
        if (strcmp(c->group, group) == 0 && strcmp(c->name, name) == 0) {
            return c;
        }
    }
    fail();
    return NULL;
}

static int
config_run(struct cli *c, char **envp, int argc, char **argv)
{
    struct cli_args a;
    int rc;

    memset(c, 0, sizeof(*c));
    c->out = stdout;
    c->err = stderr;
    c->envp = envp;
    rc = cli_args_parse(c, find_cmd("flag", "get"), argc, argv, &a);
    assert_int_equal(rc, CLI_EXIT_OK);
    return cli_config(c, &a);
}

static void
test_config_precedence(void **state)
{
    char dir[] = "/tmp/ramp-cli-XXXXXX";
    char path[256], cfgdir[160], home[160];
    char *argv[8];
    char *envp[4];
    struct cli c;
    FILE *f;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(cfgdir, sizeof(cfgdir), "%s/.config", dir);
    assert_int_equal(mkdir(cfgdir, 0700), 0);
    snprintf(cfgdir, sizeof(cfgdir), "%s/.config/ramp", dir);
    assert_int_equal(mkdir(cfgdir, 0700), 0);
    snprintf(path, sizeof(path), "%s/cli.conf", cfgdir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("# the CLI's settings\nurl = http://file.example:1/\n"
          "token = \"from-file\"\ntimeout = 3s\n",
        f);
    fclose(f);
    snprintf(home, sizeof(home), "HOME=%s", dir);

    /* Defaults, with no file. */
    envp[0] = "HOME=/nonexistent-ramp-test";
    envp[1] = NULL;
    argv[0] = "k";
    assert_int_equal(config_run(&c, envp, 1, argv), CLI_EXIT_OK);
    assert_string_equal(c.url, "http://127.0.0.1:7480");
    assert_string_equal(c.token, "");
    assert_int_equal(c.timeout_ms, 10000);
    assert_string_equal(c.agent, "ipc:///run/ramp/agent.sock");
    rp_free(c.token);

    /* The default file under $HOME; its trailing '/' is dropped. */
    envp[0] = home;
    assert_int_equal(config_run(&c, envp, 1, argv), CLI_EXIT_OK);
    assert_string_equal(c.url, "http://file.example:1");
    assert_string_equal(c.token, "from-file");
    assert_int_equal(c.timeout_ms, 3000);
    rp_free(c.token);

    /* The environment beats the file... */
    envp[1] = "RAMP_URL=https://env.example";
    envp[2] = "RAMP_TOKEN=from-env";
    envp[3] = NULL;
    assert_int_equal(config_run(&c, envp, 1, argv), CLI_EXIT_OK);
    assert_string_equal(c.url, "https://env.example");
    assert_string_equal(c.token, "from-env");
    assert_int_equal(c.timeout_ms, 3000);
    rp_free(c.token);

    /* ... and flags beat the environment. */
    argv[1] = "--url=http://flag.example:2";
    argv[2] = "--timeout";
    argv[3] = "250ms";
    argv[4] = "--agent";
    argv[5] = "direct:/var/lib/ramp";
    assert_int_equal(config_run(&c, envp, 6, argv), CLI_EXIT_OK);
    assert_string_equal(c.url, "http://flag.example:2");
    assert_string_equal(c.token, "from-env");
    assert_int_equal(c.timeout_ms, 250);
    assert_string_equal(c.agent, "direct:/var/lib/ramp");
    rp_free(c.token);

    /* --config names another file; an unknown setting in it is an error
     * naming the line. */
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("url = http://file.example:1\ncolour = red\n", f);
    fclose(f);
    {
        struct run r;

        RUN(&r, "flag", "get", "k", "--config", path);
        assert_int_equal(r.rc, CLI_EXIT_USAGE);
        assert_non_null(strstr(r.err, "cli.conf:2: unknown setting 'colour'"));
        run_fini(&r);
    }
    unlink(path);
    rmdir(cfgdir);
    snprintf(cfgdir, sizeof(cfgdir), "%s/.config", dir);
    rmdir(cfgdir);
    rmdir(dir);
}

/* ---- transport failures against real sockets ---- */

static void
test_unreachable(void **state)
{
    char url[64];
    struct run r;
    int port;
    int fd;

    (void) state;
    /* Bound but not listening: connections are refused. */
    fd = tcp_socket(0, &port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    RUN(&r, "flag", "get", "k", "--url", url, "--token", "tok-secret-1");
    assert_int_equal(r.rc, CLI_EXIT_UNREACH);
    assert_int_equal(strncmp(r.err, "error: http://127.0.0.1:", 24), 0);
    assert_null(strstr(r.err, "tok-secret-1"));
    assert_int_equal(r.outlen, 0);
    run_fini(&r);
    close(fd);

    /* Listening but never answering: the total timeout ends it. */
    fd = tcp_socket(4, &port);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    RUN(&r, "--json", "flag", "list", "--url", url, "--timeout", "200ms",
        "--token", "tok-secret-2");
    assert_int_equal(r.rc, CLI_EXIT_UNREACH);
    assert_non_null(strstr(r.err, "timed out"));
    assert_null(strstr(r.err, "tok-secret-2"));
    assert_int_equal(r.outlen, 0);
    run_fini(&r);
    close(fd);
}

/* ---- keys gen ---- */

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s = calloc(1, 4096);

    assert_non_null(f);
    assert_non_null(s);
    assert_true(fread(s, 1, 4095, f) > 0);
    fclose(f);
    return s;
}

static void
test_keys_gen(void **state)
{
    char dir[] = "/tmp/ramp-cli-XXXXXX";
    char sk[128], pk[160];
    struct rp_keypair kp;
    struct rp_pubkey pub;
    char *a, *b;
    struct stat st;
    struct run r;

    (void) state;
    assert_non_null(mkdtemp(dir));
    snprintf(sk, sizeof(sk), "%s/signing.key", dir);
    snprintf(pk, sizeof(pk), "%s/signing.key.pub", dir);

    RUN(&r, "keys", "gen", "--out", sk);
    assert_int_equal(r.rc, CLI_EXIT_OK);
    assert_int_equal(stat(sk, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(rp_key_load(sk, &kp), RAMP_OK);
    assert_int_equal(rp_pubkey_load(pk, &pub), RAMP_OK);
    assert_memory_equal(kp.pk, pub.pk, RP_PK_LEN);
    {
        char id[17], line[64];

        rp_key_id_hex(pub.id, id);
        snprintf(line, sizeof(line), "key id:     %s\n", id);
        assert_non_null(strstr(r.out, line));
    }
    run_fini(&r);

    /* A second run refuses and leaves both files as they were, also
     * when only the public half exists. */
    a = slurp(sk);
    RUN(&r, "keys", "gen", "--out", sk);
    assert_int_equal(r.rc, CLI_EXIT_ERROR);
    assert_non_null(strstr(r.err, "exists: not overwriting (use --force)"));
    run_fini(&r);
    b = slurp(sk);
    assert_string_equal(a, b);
    free(b);
    assert_int_equal(unlink(sk), 0);
    RUN(&r, "keys", "gen", "--out", sk);
    assert_int_equal(r.rc, CLI_EXIT_ERROR);
    run_fini(&r);
    assert_int_equal(stat(sk, &st), -1);

    /* --force replaces both. */
    RUN(&r, "--json", "keys", "gen", "--out", sk, "--force");
    assert_int_equal(r.rc, CLI_EXIT_OK);
    assert_int_equal(strncmp(r.out, "{\"secret_key_file\":", 19), 0);
    run_fini(&r);
    b = slurp(sk);
    assert_string_not_equal(a, b);
    assert_int_equal(rp_key_load(sk, &kp), RAMP_OK);
    assert_int_equal(rp_pubkey_load(pk, &pub), RAMP_OK);
    assert_memory_equal(kp.pk, pub.pk, RP_PK_LEN);
    free(a);
    free(b);
    rm_dir(dir);
}

static void
test_version(void **state)
{
    struct run r;

    (void) state;
    RUN(&r, "version");
    assert_int_equal(r.rc, CLI_EXIT_OK);
    assert_string_equal(r.out, "ramp " RAMP_CLI_VERSION "\n");
    run_fini(&r);
    RUN(&r, "version", "--json");
    assert_string_equal(r.out, "{\"version\":\"" RAMP_CLI_VERSION "\"}\n");
    run_fini(&r);
}

/* Every command's own options plus the global ones fit the parser's
 * table (an overflow was caught once by UBSan when a global option was
 * added). */
static void
test_opt_tables(void **state)
{
    const struct cli_cmd *const tables[] = {cli_flag_cmds, cli_admin_cmds,
        cli_eval_cmds, cli_webhook_cmds, cli_rollout_cmds, cli_agent_cmds};
    size_t nglobal = 0;
    size_t ncmds = 0;

    (void) state;
    for (const struct cli_opt *o = cli_global_opts; o->name != NULL; o++) {
        nglobal++;
    }
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const struct cli_cmd *cmd = tables[t]; cmd->name != NULL; cmd++) {
            size_t n = nglobal;

            for (const struct cli_opt *o = cmd->opts;
                 o != NULL && o->name != NULL; o++) {
                n++;
            }
            if (n > CLI_OPT_MAX) {
                fail_msg("%s %s: %zu options, the table holds %d",
                    cmd->group != NULL ? cmd->group : "", cmd->name, n,
                    CLI_OPT_MAX);
            }
            ncmds++;
        }
    }
    assert_true(ncmds > 20);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opt_tables),
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_usage_messages),
        cmocka_unit_test(test_file_validation),
        cmocka_unit_test(test_help_everywhere),
        cmocka_unit_test(test_exit_status),
        cmocka_unit_test(test_api_error),
        cmocka_unit_test(test_print_flag),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_print_json),
        cmocka_unit_test(test_config_precedence),
        cmocka_unit_test(test_unreachable),
        cmocka_unit_test(test_keys_gen),
        cmocka_unit_test(test_version),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
