/* SPDX-License-Identifier: MIT */
/*
 * `ramp rollout ...` and `ramp agent ...` without a controller: every
 * bad argument exits 2 with a message and sends nothing (the transport's
 * request counter does not move); `rollout start` builds the body
 * docs/api-json.md describes; the text views (status, the --watch line,
 * list, history, explain, agents) show what the API's JSON holds; and
 * `status --wait` / `--watch` against a small HTTP server in this
 * process that answers a scripted sequence of rollout states exit with
 * the documented codes (0 completed, 1 rolled back or aborted, 2 held,
 * 3 timed out), retrying a 503 on the way.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "cli_run.h"

/* ---- usage errors: exit 2, "error: ...", nothing sent ---- */

static const char *const usage_cases[][14] = {
    {"rollout"},
    {"rollout", "frobnicate"},
    {"rollout", "start"},
    {"rollout", "start", "f"},
    {"rollout", "start", "f", "--treatment", "a"},
    {"rollout", "start", "f", "--control", "b"},
    {"rollout", "start", "BAD", "--treatment", "a", "--control", "b"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "a"},
    {"rollout", "start", "f", "--treatment", "", "--control", "b"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--unit",
        "user"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--unit",
        "attr:"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--unit",
        "attr:key"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        "50,25"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        "5,5"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        "0,100"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        "5,150"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        "5,,100"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        "5%,100"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        "0.001,100"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        ""},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--stages",
        "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--bake",
        "soon"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--bake",
        "-5m"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--bake",
        "31d"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--check",
        "50ms"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--max-stage", "5m", "--bake", "10m"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--min-samples", "0"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--failure-limit", "x"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--error-rate-relative", "-1"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--error-rate-max", "0"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--error-rate-max", "1.5"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--error-rate-max", "5%%"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--p95-relative", "nan"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--p95-max",
        "0"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--p95-max",
        "fast"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b",
        "--critical-error-rate", "2"},
    {"rollout", "start", "f", "--treatment", "a", "--control", "b", "--bogus",
        "1"},
    {"rollout", "status"},
    {"rollout", "status", "BAD"},
    {"rollout", "status", "f", "g"},
    {"rollout", "status", "f", "--wait", "--timeout", "soon"},
    {"rollout", "status", "f", "--wait", "--timeout", "0"},
    {"rollout", "status", "f", "--watch", "--json"},
    {"rollout", "status", "f", "--wait=yes"},
    {"rollout", "pause"},
    {"rollout", "pause", "BAD"},
    {"rollout", "resume", "f", "--reason"},
    {"rollout", "promote", "f", "extra"},
    {"rollout", "abort", "f", "--limit", "3"},
    {"rollout", "retry", "-x"},
    {"rollout", "explain", "f", "--limit", "0"},
    {"rollout", "explain", "f", "--limit", "101"},
    {"rollout", "explain", "BAD"},
    {"rollout", "history"},
    {"rollout", "list", "--state", "done"},
    {"rollout", "list", "f"},
    {"agent"},
    {"agent", "enroll"},
    {"agent", "enroll", "a1"},
    {"agent", "enroll", "a 1", "--public-key",
        "6d051174d049c87b751bda5f022d8f49ac23fd94f63b279da97be0f66e68ed4f"},
    {"agent", "enroll", "a1", "--public-key", "abc"},
    {"agent", "enroll", "a1", "--public-key",
        "6d051174d049c87b751bda5f022d8f49ac23fd94f63b279da97be0f66e68edzz"},
    {"agent", "remove"},
    {"agent", "remove", "a/1"},
    {"agent", "list", "x"},
    {"eval", "f", "--host", "--key", "k"},
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
                usage_cases[i][0], usage_cases[i][1] ? usage_cases[i][1] : "",
                usage_cases[i][1] && usage_cases[i][2] ? usage_cases[i][2] : "",
                r.rc, r.err);
        }
        assert_int_equal(r.rc, CLI_EXIT_USAGE);
        assert_int_equal(strncmp(r.err, "error: ", 7), 0);
        assert_int_equal(cli_requests_sent(), before);
        run_fini(&r);
    }
}

static void
test_help(void **state)
{
    struct run r;

    (void) state;
    RUN_ENV(&r, env_default, "help", "rollout", "status");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "2  held"));
    assert_non_null(strstr(r.out, "3  timed out"));
    run_fini(&r);
    RUN_ENV(&r, env_default, "rollout", "--help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "rollout explain"));
    run_fini(&r);
    RUN_ENV(&r, env_default, "agent", "enroll", "--help");
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "ramp-agent pubkey"));
    run_fini(&r);
    RUN_ENV(&r, env_default, "help");
    assert_non_null(strstr(r.out, "rollout start"));
    assert_non_null(strstr(r.out, "agent list"));
    run_fini(&r);
}

/* ---- the start body ---- */

static const struct cli_cmd *
cmd(const char *group, const char *name)
{
    const struct cli_cmd *t =
        strcmp(group, "rollout") == 0 ? cli_rollout_cmds : cli_agent_cmds;

    for (; t->name != NULL; t++) {
        if (strcmp(t->name, name) == 0) {
            return t;
        }
    }
    fail();
    return NULL;
}

static json_t *
start_body(const char *const *words)
{
    struct cli c;
    struct cli_args a;
    char *argv[40];
    int argc = 0;
    json_t *body = NULL;

    memset(&c, 0, sizeof(c));
    c.out = stdout;
    c.err = stderr;
    for (; *words != NULL; words++) {
        argv[argc++] = (char *) *words;
    }
    assert_int_equal(
        cli_args_parse(&c, cmd("rollout", "start"), argc, argv, &a), 0);
    assert_int_equal(cli_rollout_start_body(&c, &a, &body), 0);
    return body;
}

static void
assert_json(const json_t *got, const char *want)
{
    json_error_t e;
    json_t *w = json_loads(want, 0, &e);

    assert_non_null(w);
    if (!json_equal((json_t *) got, w)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);

        print_error("got  %s\nwant %s\n", g, want);
        free(g);
        fail();
    }
    json_decref(w);
}

static void
test_start_body(void **state)
{
    json_t *b;

    (void) state;
    b = start_body((const char *const[]){
        "checkout", "--treatment", "redesign", "--control", "classic", NULL});
    assert_json(b, "{\"flag\":\"checkout\",\"treatment\":\"redesign\","
                   "\"control\":\"classic\"}");
    json_decref(b);

    b = start_body((const char *const[]){"checkout", "--treatment", "on",
        "--control", "off", "--unit", "attr:account_id", "--stages",
        "0.5,5,25,50,100", "--bake", "20s", "--check", "2s", "--max-stage",
        "1h", "--min-samples", "100", "--failure-limit", "3",
        "--error-rate-relative", "50%", "--error-rate-max", "0.05",
        "--p95-relative", "0.3", "--p95-max", "1500ms", "--critical-error-rate",
        "20%", "--critical-min-requests", "20", "--reason", "ticket 42", NULL});
    assert_json(b,
        "{\"flag\":\"checkout\",\"treatment\":\"on\",\"control\":\"off\","
        "\"unit\":{\"attribute\":\"account_id\"},"
        "\"stages\":[50,500,2500,5000,10000],"
        "\"policy\":{\"bake_ms\":20000,\"check_interval_ms\":2000,"
        "\"max_stage_ms\":3600000,\"min_samples\":100,\"failure_limit\":3,"
        "\"error_rate_relative\":0.5,\"error_rate_max\":0.05,"
        "\"p95_relative\":0.3,\"p95_max_ms\":1500,"
        "\"critical_error_rate\":0.2,\"critical_min_requests\":20},"
        "\"reason\":\"ticket 42\"}");
    json_decref(b);

    b = start_body((const char *const[]){
        "api", "--treatment", "v2", "--control", "v1", "--unit", "host", NULL});
    assert_string_equal(json_string_value(json_object_get(b, "unit")), "host");
    json_decref(b);
}

/* ---- text output ---- */

static const char *running_json =
    "{\"flag\":\"checkout\",\"treatment\":\"redesign\",\"control\":"
    "\"classic\",\"unit\":\"key\",\"stages\":[500,2500,5000,10000],"
    "\"state\":\"running\",\"stage_index\":1,\"stage_percent\":25,"
    "\"history\":[{\"at\":\"2026-11-27T15:20:25.123Z\",\"from\":\"pending\","
    "\"to\":\"running\",\"stage_index\":0,\"reason\":\"started by alice\"}],"
    "\"status\":{\"stage_percent\":25,\"bake_ms\":600000,"
    "\"bake_left_ms\":412000,\"stage_age_ms\":188000,"
    "\"next_check_in_ms\":4000,\"verdict\":\"inconclusive\","
    "\"treatment\":{\"requests\":812,\"errors\":3,\"error_rate\":0.0037,"
    "\"p95_ms\":212.5},\"control\":{\"requests\":15230,\"errors\":70,"
    "\"error_rate\":0.0046,\"p95_ms\":205.0}}}";

static void
print_rollout(FILE *f, const json_t *j)
{
    cli_print_rollout(f, j);
}

static void
test_status_view(void **state)
{
    char *s = capture_json(print_rollout, running_json, NULL);
    char line[512];
    json_t *j;

    (void) state;
    assert_non_null(strstr(s, "state:      running\n"));
    assert_non_null(strstr(s, "stage:      2/4 (25%)\n"));
    assert_non_null(strstr(s, "treatment redesign, control classic, unit "
                              "key\n"));
    /* 188 s of 600 s: 31% of 30 cells is 9. */
    assert_non_null(strstr(s, "bake:       [#########.....................] "
                              "3m08s of 10m00s, 6m52s left"));
    assert_non_null(strstr(s, "next check: in 4s\n"));
    assert_non_null(strstr(s, "verdict:    inconclusive\n"));
    assert_non_null(strstr(s, "812 req       3 err    0.37%   p95 212.5 ms"));
    assert_non_null(strstr(s, "15230 req      70 err    0.46%   p95 205.0 ms"));
    free(s);

    j = json_loads(running_json, 0, NULL);
    cli_rollout_line(line, sizeof(line), j, true);
    assert_string_equal(line,
        "checkout running stage 2/4 (25%) bake-left 6m52s verdict "
        "inconclusive | treatment 812 req 0.37% err p95 212ms | control "
        "15230 req 0.46% err p95 205ms");
    cli_rollout_line(line, sizeof(line), j, false);
    assert_null(strstr(line, "bake-left"));
    json_decref(j);

    /* Finished: no bake, the last reason shown; a description with an
     * escape sequence cannot drive the terminal. */
    s = capture_json(print_rollout,
        "{\"flag\":\"f\",\"state\":\"rolled_back\",\"stage_index\":0,"
        "\"stage_percent\":5,\"stages\":[500,10000],\"unit\":"
        "{\"attribute\":\"team\"},\"treatment\":\"a\",\"control\":\"b\","
        "\"history\":[{\"reason\":\"error rate 9% \\u001b[31m\"}],"
        "\"status\":{\"verdict\":\"critical\",\"bake_ms\":1000,"
        "\"bake_left_ms\":10}}", NULL);
    assert_null(strstr(s, "bake:"));
    assert_non_null(strstr(s, "stage:      1/2 (5%)\n"));
    assert_non_null(strstr(s, "unit attr:team\n"));
    assert_non_null(strstr(s, "verdict:    critical\n"));
    assert_non_null(strstr(s, "last:       error rate 9% ?[31m\n"));
    assert_null(strchr(s, '\033'));
    free(s);
}

static void
test_fmt_ms(void **state)
{
    char b[32];

    (void) state;
    cli_fmt_ms(b, sizeof(b), 850);
    assert_string_equal(b, "850ms");
    cli_fmt_ms(b, sizeof(b), 45000);
    assert_string_equal(b, "45s");
    cli_fmt_ms(b, sizeof(b), 412000);
    assert_string_equal(b, "6m52s");
    cli_fmt_ms(b, sizeof(b), 3720000);
    assert_string_equal(b, "1h02m");
    cli_fmt_ms(b, sizeof(b), -1);
    assert_string_equal(b, "-");
    assert_int_equal(cli_rollout_wait_code("completed", true), 0);
    assert_int_equal(cli_rollout_wait_code("rolled_back", true), 1);
    assert_int_equal(cli_rollout_wait_code("aborted", false), 1);
    assert_int_equal(cli_rollout_wait_code("held", true), 2);
    assert_int_equal(cli_rollout_wait_code("held", false), -1);
    assert_int_equal(cli_rollout_wait_code("running", true), -1);
    assert_int_equal(cli_rollout_wait_code("paused", true), -1);
}

static void
print_table(FILE *f, const json_t *j)
{
    cli_print_rollout_table(f, json_object_get(j, "rollouts"));
}

static void
print_history(FILE *f, const json_t *j)
{
    cli_print_rollout_history(f, json_object_get(j, "history"));
}

static void
print_checks(FILE *f, const json_t *j)
{
    cli_print_rollout_checks(f, json_object_get(j, "checks"));
}

static void
print_agents(FILE *f, const json_t *j)
{
    cli_print_agent_table(f, json_object_get(j, "agents"));
}

static void
test_tables(void **state)
{
    char *s;

    (void) state;
    s = capture_json(print_table,
        "{\"rollouts\":[{\"flag\":\"checkout\",\"state\":\"running\","
        "\"stage_index\":1,\"stage_percent\":25,\"stages\":[500,2500,5000,"
        "10000],\"treatment\":\"redesign\",\"control\":\"classic\","
        "\"updated_at\":\"2026-11-27T15:35:25.400Z\"}]}", NULL);
    assert_non_null(strstr(s, "FLAG "));
    assert_non_null(strstr(s, "checkout                 running     2/4 "
                              "(25%)    redesign     classic      "
                              "2026-11-27T15:35:25.400Z\n"));
    free(s);

    s = capture_json(print_history,
        "{\"history\":[{\"at\":\"2026-11-27T15:20:25.123Z\",\"from\":"
        "\"pending\",\"to\":\"running\",\"stage_index\":0,\"reason\":"
        "\"started by alice\"}]}", NULL);
    assert_non_null(strstr(s, "2026-11-27T15:20:25.123Z pending     running "
                              "    1     started by alice\n"));
    free(s);

    s = capture_json(print_checks,
        "{\"checks\":[{\"at\":\"2026-11-27T15:35:25.400Z\",\"stage_index\":1,"
        "\"verdict\":\"pass\",\"action\":\"advance\",\"treatment\":"
        "{\"requests\":812,\"errors\":3,\"error_rate\":0.0037,\"p95_ms\":"
        "212.5},\"control\":{\"requests\":15230,\"errors\":70,\"error_rate\":"
        "0.0046,\"p95_ms\":205.0},\"metrics\":[{\"name\":"
        "\"error_rate_relative\",\"verdict\":\"pass\",\"value\":-0.0009,"
        "\"lower\":-0.0051,\"upper\":0.0041,\"limit\":0.0023}],\"reason\":"
        "\"stage 1 healthy\"}]}", NULL);
    assert_non_null(strstr(s, "2026-11-27T15:35:25.400Z  stage 2  verdict pass"
                              "  action advance\n"));
    assert_non_null(strstr(s, "  error_rate_relative  pass  value -0.0009  "
                              "bounds [-0.0051, 0.0041]  limit 0.0023\n"));
    assert_non_null(strstr(s, "  reason: stage 1 healthy\n"));
    free(s);
    s = capture_json(print_checks, "{\"checks\":[]}", NULL);
    assert_string_equal(s, "(no checks yet)\n");
    free(s);

    s = capture_json(print_agents,
        "{\"agents\":[{\"id\":\"a1\",\"host\":\"\",\"public_key\":\"ab\","
        "\"enrolled_at\":\"2026-11-27T15:00:00.000Z\",\"last_report_at\":"
        "null,\"reports\":0}]}", NULL);
    assert_non_null(strstr(s, "a1                   -                        "
                              "0         never                    "
                              "2026-11-27T15:00:00.000Z\n"));
    free(s);
}

/* ---- --wait and --watch against a scripted server ---- */

/* Answers each request with the next of bodies[] (a NULL body: 503);
 * the last one repeats. */
struct fake {
    int fd;
    int port;
    pthread_t tid;
    const char *const *bodies;
    size_t nbodies;
    size_t served;
    char last_req[2048];
};

static void *
fake_main(void *arg)
{
    struct fake *f = arg;

    for (;;) {
        int c = accept(f->fd, NULL, NULL);
        char req[4096];
        size_t n = 0;
        const char *body;
        char head[256];

        if (c < 0) {
            return NULL;
        }
        while (n < sizeof(req) - 1) {
            ssize_t k = read(c, req + n, sizeof(req) - 1 - n);

            if (k <= 0) {
                break;
            }
            n += (size_t) k;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n") != NULL) {
                break;
            }
        }
        req[n] = '\0';
        snprintf(f->last_req, sizeof(f->last_req), "%.2000s", req);
        body = f->bodies[f->served < f->nbodies ? f->served : f->nbodies - 1];
        f->served++;
        if (body == NULL) {
            body = "{\"error\":{\"status\":503,\"code\":\"unavailable\","
                   "\"message\":\"busy\"}}";
            snprintf(
                head, sizeof(head), "HTTP/1.1 503 Service Unavailable\r\n");
        } else {
            snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\n");
        }
        dprintf(c,
            "%sContent-Type: application/json\r\nContent-Length: %zu\r\n"
            "Connection: close\r\n\r\n%s",
            head, strlen(body), body);
        close(c);
    }
}

static void
fake_start(struct fake *f, const char *const *bodies, size_t n)
{
    memset(f, 0, sizeof(*f));
    f->bodies = bodies;
    f->nbodies = n;
    f->fd = tcp_socket(16, &f->port);
    assert_int_equal(pthread_create(&f->tid, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
    shutdown(f->fd, SHUT_RDWR);
    close(f->fd);
    pthread_join(f->tid, NULL);
}

#define ST(state, idx)                                                         \
    "{\"flag\":\"f\",\"state\":\"" state "\",\"stage_index\":" #idx            \
    ",\"stages\":[500,10000],\"treatment\":\"a\",\"control\":\"b\","           \
    "\"history\":[{\"reason\":\"because\"}],\"status\":{\"bake_ms\":1000,"     \
    "\"bake_left_ms\":500,\"verdict\":null}}"

static int
wait_run(const char *const *bodies, size_t n, struct run *r,
    const char *const *extra)
{
    struct fake f;
    char url[64];
    char *env[] = {"HOME=/nonexistent-ramp-test", url, "RAMP_TIMEOUT=2s", NULL};
    const char *args[16] = {"rollout", "status", "f"};
    size_t k = 3;

    fake_start(&f, bodies, n);
    snprintf(url, sizeof(url), "RAMP_URL=http://127.0.0.1:%d", f.port);
    for (; *extra != NULL; extra++) {
        args[k++] = *extra;
    }
    args[k] = NULL;
    run_envv(r, env, args);
    fake_stop(&f);
    assert_non_null(strstr(f.last_req, "GET /api/v1/rollouts/f "));
    return r->rc;
}

static void
test_wait_codes(void **state)
{
    static const char *const done[] = {
        ST("running", 0), NULL, ST("running", 1), ST("completed", 1)};
    static const char *const back[] = {ST("running", 0), ST("rolled_back", 0)};
    static const char *const aborted[] = {ST("aborted", 0)};
    static const char *const held[] = {ST("paused", 0), ST("held", 0)};
    static const char *const slow[] = {ST("running", 0)};
    struct run r;

    (void) state;
    /* A 503 on the way is retried, not fatal. */
    assert_int_equal(
        wait_run(done, 4, &r, (const char *const[]){"--wait", NULL}), 0);
    assert_non_null(strstr(r.out, "f completed\n"));
    run_fini(&r);
    assert_int_equal(
        wait_run(back, 2, &r, (const char *const[]){"--wait", NULL}), 1);
    assert_non_null(strstr(r.out, "f rolled_back\n  because\n"));
    run_fini(&r);
    assert_int_equal(
        wait_run(aborted, 1, &r, (const char *const[]){"--wait", NULL}), 1);
    run_fini(&r);
    assert_int_equal(
        wait_run(held, 2, &r, (const char *const[]){"--wait", NULL}), 2);
    run_fini(&r);
    assert_int_equal(
        wait_run(slow, 1, &r,
            (const char *const[]){"--wait", "--timeout", "1500ms", NULL}),
        3);
    assert_non_null(strstr(r.err, "timed out"));
    run_fini(&r);

    /* --watch without a terminal: a line per change, ending with the
     * final state; held does not end a watch. */
    {
        static const char *const w[] = {ST("running", 0), ST("running", 0),
            ST("held", 0), ST("running", 1), ST("completed", 1)};

        assert_int_equal(
            wait_run(w, 5, &r, (const char *const[]){"--watch", NULL}), 0);
        assert_non_null(strstr(r.out, " f running stage 1/2 (5%) bake-left"));
        assert_non_null(strstr(r.out, " f held stage 1/2 (5%)"));
        assert_non_null(strstr(r.out, " f completed stage 2/2 (100%) "));
        assert_null(strstr(r.out, "\033["));
        /* Two identical answers make one line. */
        assert_null(strstr(
            strstr(r.out, "f running stage 1/2") + 1, "f running stage 1/2"));
        run_fini(&r);
    }
}

static void
test_wait_unreachable_times_out(void **state)
{
    struct run r;

    (void) state;
    /* Nothing listens on port 1: retried until the deadline, then 3. */
    RUN_ENV(
        &r, env_default, "rollout", "status", "f", "--wait", "--timeout", "1s");
    assert_int_equal(r.rc, CLI_WAIT_TIMEOUT);
    run_fini(&r);
    /* Without --wait the same is exit 6. */
    RUN_ENV(&r, env_default, "rollout", "status", "f");
    assert_int_equal(r.rc, CLI_EXIT_UNREACH);
    run_fini(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage_errors),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_start_body),
        cmocka_unit_test(test_status_view),
        cmocka_unit_test(test_fmt_ms),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_wait_codes),
        cmocka_unit_test(test_wait_unreachable_times_out),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
