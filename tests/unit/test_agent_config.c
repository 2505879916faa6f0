/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/config.c: every default, precedence (file < environment
 * < flags), the checks the table cannot do (socket mode, stale-after, log
 * level, host id, URLs), and that deploy/agent.conf.example and
 * docs/ops-agent.md list every setting with its real default.
 * Not here: rp_cfg itself (test_cfg.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "cache.h"
#include "config.h"
#include "log.h"

static char *no_env[] = {NULL};

static ramp_err
load(int argc, char **argv, char **envp, struct agt_config *c, char *err)
{
    return agt_config_load(argc, argv, envp, c, err, 256);
}

static void
test_defaults(void **state)
{
    struct agt_config c;
    char err[256] = "";
    char host[256] = "";

    (void) state;
    assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
    assert_int_equal(load(0, NULL, no_env, &c, err), RAMP_OK);
    assert_string_equal(c.state_dir, "/var/lib/ramp/agent");
    assert_int_equal(c.map_size, (size_t) 1 << 30);
    assert_string_equal(c.controller_key, "/etc/ramp/controller.pub");
    assert_string_equal(c.sub_url, "tcp://127.0.0.1:7400");
    assert_string_equal(c.resync_url, "tcp://127.0.0.1:7401");
    assert_string_equal(c.query_url, "ipc:///run/ramp/agent.sock");
    assert_int_equal(c.socket_mode, 0660);
    assert_int_equal(c.query_workers, 8);
    assert_string_equal(c.host_id, host);
    assert_int_equal(c.stale_after.intervals, 3);
    assert_int_equal(c.stale_after.ms, 0);
    assert_int_equal(c.resync_timeout_ms, 5000);
    assert_int_equal(c.recv_buffer, 1024);
    assert_int_equal(c.reader_check_ms, 60000);
    assert_int_equal(c.log_level, RP_LOG_INFO);
    agt_config_fini(&c);
    agt_config_fini(&c); /* twice is fine */
    assert_null(c.state_dir);
}

static void
test_precedence(void **state)
{
    char path[] = "/tmp/ramp-agtcfg-XXXXXX";
    char *env[] = {"RAMP_SUB_URL=tcp://10.0.0.2:7400",
        "RAMP_STALE_AFTER=10s", NULL};
    char a0[] = "--sub-url", a1[] = "tcp://10.0.0.3:7400", a2[] = "--config",
         a4[] = "--query-socket-mode=0600";
    char *argv[] = {a0, a1, a2, path, a4};
    struct agt_config c;
    char err[256] = "";
    FILE *f;
    int fd;

    (void) state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "# agent\nsub-url = tcp://10.0.0.1:7400\n"
               "resync-url = \"tcp://10.0.0.1:7401\"\nhost-id = web-7\n"
               "stale-after = 5\nmap-size = 64m\n");
    fclose(f);

    assert_int_equal(load(5, argv, env, &c, err), RAMP_OK);
    assert_string_equal(c.sub_url, "tcp://10.0.0.3:7400");    /* flag */
    assert_int_equal(c.stale_after.intervals, 0);              /* env */
    assert_int_equal(c.stale_after.ms, 10000);
    assert_string_equal(c.resync_url, "tcp://10.0.0.1:7401"); /* file */
    assert_string_equal(c.host_id, "web-7");
    assert_int_equal(c.map_size, (size_t) 64 << 20);
    assert_int_equal(c.socket_mode, 0600);
    agt_config_fini(&c);
    unlink(path);
}

static void
test_stale_after(void **state)
{
    struct agt_stale_after sa = {77, 77};

    (void) state;
    assert_int_equal(agt_parse_stale_after("3", &sa), RAMP_OK);
    assert_int_equal(sa.intervals, 3);
    assert_int_equal(sa.ms, 0);
    assert_int_equal(agt_parse_stale_after("1000", &sa), RAMP_OK);
    assert_int_equal(sa.intervals, 1000);
    assert_int_equal(agt_parse_stale_after("10s", &sa), RAMP_OK);
    assert_int_equal(sa.intervals, 0);
    assert_int_equal(sa.ms, 10000);
    assert_int_equal(agt_parse_stale_after("100ms", &sa), RAMP_OK);
    assert_int_equal(sa.ms, 100);
    assert_int_equal(agt_parse_stale_after("24h", &sa), RAMP_OK);
    assert_int_equal(sa.ms, 86400000);

    sa.intervals = 5;
    sa.ms = 0;
    assert_int_equal(agt_parse_stale_after("0", &sa), RAMP_EINVAL);
    assert_int_equal(agt_parse_stale_after("1001", &sa), RAMP_EINVAL);
    assert_int_equal(agt_parse_stale_after("99ms", &sa), RAMP_EINVAL);
    assert_int_equal(agt_parse_stale_after("25h", &sa), RAMP_EINVAL);
    assert_int_equal(agt_parse_stale_after("3x", &sa), RAMP_EINVAL);
    assert_int_equal(agt_parse_stale_after("-3", &sa), RAMP_EINVAL);
    assert_int_equal(agt_parse_stale_after("", &sa), RAMP_EINVAL);
    assert_int_equal(agt_parse_stale_after(NULL, &sa), RAMP_EINVAL);
    /* untouched by every failure */
    assert_int_equal(sa.intervals, 5);
    assert_int_equal(sa.ms, 0);
}

static void
test_mode(void **state)
{
    unsigned m = 0123;

    (void) state;
    assert_int_equal(agt_parse_mode("0660", &m), RAMP_OK);
    assert_int_equal(m, 0660);
    assert_int_equal(agt_parse_mode("600", &m), RAMP_OK);
    assert_int_equal(m, 0600);
    assert_int_equal(agt_parse_mode("0777", &m), RAMP_OK);
    assert_int_equal(m, 0777);
    assert_int_equal(agt_parse_mode("0", &m), RAMP_OK);
    assert_int_equal(m, 0);
    m = 0123;
    assert_int_equal(agt_parse_mode("1777", &m), RAMP_EINVAL);
    assert_int_equal(agt_parse_mode("0680", &m), RAMP_EINVAL);
    assert_int_equal(agt_parse_mode("00660", &m), RAMP_EINVAL);
    assert_int_equal(agt_parse_mode("rw", &m), RAMP_EINVAL);
    assert_int_equal(agt_parse_mode("", &m), RAMP_EINVAL);
    assert_int_equal(agt_parse_mode(NULL, &m), RAMP_EINVAL);
    assert_int_equal(m, 0123);
}

/* One bad setting: EINVAL, the message names it, *out untouched. */
static void
expect_bad(char *arg, const char *name)
{
    char *argv[] = {arg};
    struct agt_config c;
    char err[256] = "";

    memset(&c, 0x5a, sizeof(c));
    assert_int_equal(load(1, argv, no_env, &c, err), RAMP_EINVAL);
    if (strstr(err, name) == NULL) {
        fail_msg("error '%s' does not name '%s'", err, name);
    }
    assert_int_equal(c.query_workers, 0x5a5a5a5a);
}

static void
test_bad_values(void **state)
{
    char a[][64] = {"--query-socket-mode=0888", "--stale-after=soon",
        "--log-level=loud", "--query-workers=3", "--recv-buffer=8193",
        "--resync-timeout=50ms", "--sub-url=localhost:7400",
        "--map-size=1k", "--state-dir=", "--no-such-setting=1"};

    (void) state;
    expect_bad(a[0], "query-socket-mode");
    expect_bad(a[1], "stale-after");
    expect_bad(a[2], "log-level");
    expect_bad(a[3], "query-workers");
    expect_bad(a[4], "recv-buffer");
    expect_bad(a[5], "resync-timeout");
    expect_bad(a[6], "sub-url");
    expect_bad(a[7], "map-size");
    expect_bad(a[8], "state-dir");
    expect_bad(a[9], "no-such-setting");
}

static void
test_host_id(void **state)
{
    char longid[AGT_HOST_MAX + 16];
    char arg[AGT_HOST_MAX + 32];
    char ok[] = "--host-id=db-01.example.net";
    char *argv[] = {ok};
    struct agt_config c;
    char err[256] = "";

    (void) state;
    assert_int_equal(load(1, argv, no_env, &c, err), RAMP_OK);
    assert_string_equal(c.host_id, "db-01.example.net");
    agt_config_fini(&c);

    memset(longid, 'h', AGT_HOST_MAX + 1);
    longid[AGT_HOST_MAX + 1] = '\0';
    snprintf(arg, sizeof(arg), "--host-id=%s", longid);
    expect_bad(arg, "host-id");
    longid[AGT_HOST_MAX] = '\0'; /* exactly the limit is fine */
    snprintf(arg, sizeof(arg), "--host-id=%s", longid);
    argv[0] = arg;
    assert_int_equal(load(1, argv, no_env, &c, err), RAMP_OK);
    assert_int_equal(strlen(c.host_id), AGT_HOST_MAX);
    agt_config_fini(&c);
}

static const struct rp_cfg_def *
def_named(const char *name, size_t n)
{
    for (size_t i = 0; i < agt_cfg_ndefs; i++) {
        if (strlen(agt_cfg_defs[i].name) == n &&
            strncmp(agt_cfg_defs[i].name, name, n) == 0) {
            return &agt_cfg_defs[i];
        }
    }
    return NULL;
}

static char *
slurp(const char *rel)
{
    char path[512];
    FILE *f;
    char *s;
    long n;

    snprintf(path, sizeof(path), "%s/%s", RAMP_SOURCE_DIR, rel);
    f = fopen(path, "r");
    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    s = calloc(1, (size_t) n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    return s;
}

/*
 * The example lists every setting as "# name = default", commented out.
 * Uncommented, it must load and give exactly the defaults; as shipped
 * it must load too.
 */
static void
test_example_file(void **state)
{
    char *text = slurp("deploy/agent.conf.example");
    char path[] = "/tmp/ramp-agtex-XXXXXX";
    char *seen = calloc(agt_cfg_ndefs, 1);
    char *argv[2];
    char a0[] = "--config";
    struct agt_config c, d;
    char err[256] = "";
    FILE *f;
    int fd;

    (void) state;
    assert_non_null(seen);
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    for (char *line = strtok(text, "\n"); line != NULL;
         line = strtok(NULL, "\n")) {
        const struct rp_cfg_def *def;
        char *eq = strstr(line, " = ");

        if (strncmp(line, "# ", 2) != 0 || eq == NULL ||
            strchr(line + 2, ' ') != eq) {
            continue; /* prose */
        }
        def = def_named(line + 2, (size_t) (eq - line - 2));
        if (def == NULL) {
            fail_msg("example names unknown setting: %s", line);
        }
        if (strcmp(eq + 3, def->dflt) != 0 &&
            !(eq[3] == '"' && strncmp(eq + 4, def->dflt,
                                  strlen(def->dflt)) == 0)) {
            fail_msg("example default differs: %s (table: %s)", line,
                def->dflt);
        }
        seen[def - agt_cfg_defs] = 1;
        fprintf(f, "%s\n", line + 2);
    }
    fclose(f);
    for (size_t i = 0; i < agt_cfg_ndefs; i++) {
        if (!seen[i]) {
            fail_msg("example lacks setting %s", agt_cfg_defs[i].name);
        }
    }
    argv[0] = a0;
    argv[1] = path;
    assert_int_equal(load(2, argv, no_env, &c, err), RAMP_OK);
    assert_int_equal(load(0, NULL, no_env, &d, err), RAMP_OK);
    assert_string_equal(c.sub_url, d.sub_url);
    assert_int_equal(c.map_size, d.map_size);
    assert_int_equal(c.socket_mode, d.socket_mode);
    assert_string_equal(c.host_id, d.host_id);
    agt_config_fini(&c);
    agt_config_fini(&d);
    unlink(path);
    free(seen);
    free(text);
}

/* The operations page documents every setting by name. */
static void
test_ops_doc(void **state)
{
    char *text = slurp("docs/ops-agent.md");

    (void) state;
    for (size_t i = 0; i < agt_cfg_ndefs; i++) {
        char want[80];

        snprintf(want, sizeof(want), "`%s`", agt_cfg_defs[i].name);
        if (strstr(text, want) == NULL) {
            fail_msg("docs/ops-agent.md lacks %s", want);
        }
    }
    free(text);
}

static void
test_usage(void **state)
{
    char buf[8192] = "";
    FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

    (void) state;
    assert_non_null(f);
    agt_config_usage(f);
    fclose(f);
    assert_non_null(strstr(buf, "--state-dir PATH"));
    assert_non_null(strstr(buf, "--resync-timeout DURATION"));
    assert_non_null(strstr(buf, "(default: \"0660\")"));
    assert_non_null(strstr(buf, "(default: \"info\"; SIGHUP)"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_stale_after),
        cmocka_unit_test(test_mode),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_host_id),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_ops_doc),
        cmocka_unit_test(test_usage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
