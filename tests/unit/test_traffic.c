/* SPDX-License-Identifier: MIT */
/*
 * ramp-traffic's command line: the built binary runs as a child process.
 * Every malformed argument exits 2 with a message naming it, before
 * anything is opened or evaluated; a target libramp refuses exits 1 (no
 * state) or 2 (not a target); well-formed arguments run for their
 * duration and print the totals.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#ifndef RAMP_TRAFFIC_BIN
#error "RAMP_TRAFFIC_BIN must name the ramp-traffic executable"
#endif

extern char **environ;

struct run {
    int rc;
    char out[8192];
    char err[8192];
};

static void
slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
}

/* Run ramp-traffic with the NULL-terminated arguments after argv[0]. */
static void
run(struct run *r, ...)
{
    char *argv[32];
    char outp[] = "/tmp/ramp-traffic-out.XXXXXX";
    char errp[] = "/tmp/ramp-traffic-err.XXXXXX";
    int ofd = mkstemp(outp), efd = mkstemp(errp);
    posix_spawn_file_actions_t fa;
    va_list ap;
    int n = 0, st;
    pid_t pid;

    assert_true(ofd >= 0 && efd >= 0);
    argv[n++] = (char *) RAMP_TRAFFIC_BIN;
    va_start(ap, r);
    for (char *a; (a = va_arg(ap, char *)) != NULL && n < 31;) {
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, ofd, 1);
    posix_spawn_file_actions_adddup2(&fa, efd, 2);
    assert_int_equal(
        posix_spawn(&pid, RAMP_TRAFFIC_BIN, &fa, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    r->rc = WEXITSTATUS(st);
    close(ofd);
    close(efd);
    slurp(outp, r->out, sizeof(r->out));
    slurp(errp, r->err, sizeof(r->err));
}

/* Exit 2, the message mentions want, and nothing ran (no summary). */
#define USAGE(want, ...)                                                       \
    do {                                                                       \
        struct run r_;                                                         \
        run(&r_, __VA_ARGS__, (char *) NULL);                                  \
        if (r_.rc != 2 || strstr(r_.err, want) == NULL || r_.out[0] != '\0') { \
            fail_msg("rc=%d out=[%s] err=[%s] want [%s]", r_.rc, r_.out,       \
                r_.err, want);                                                 \
        }                                                                      \
    } while (0)

static void
test_traffic_usage(void **state)
{
    (void) state;
    USAGE("no --flag", "--rate", "10");
    USAGE("not a flag key", "--flag", "Bad!");
    USAGE("--rate '0'", "--flag", "f", "--rate", "0");
    USAGE("--rate 'x'", "--flag", "f", "--rate", "x");
    USAGE("--rate '2000000'", "--flag", "f", "--rate", "2000000");
    USAGE("--rate '-5'", "--flag", "f", "--rate=-5");
    USAGE("--keys '0'", "--flag", "f", "--keys", "0");
    USAGE("--threads '65'", "--flag", "f", "--threads", "65");
    USAGE("--duration '0'", "--flag", "f", "--duration", "0");
    USAGE("--duration '5q'", "--flag", "f", "--duration", "5q");
    USAGE("--duration '-1s'", "--flag", "f", "--duration", "-1s");
    USAGE("--duration needs a value", "--flag", "f", "--duration");
    USAGE("unknown option '--bogus'", "--flag", "f", "--bogus", "1");
    USAGE("unexpected argument 'f'", "f");
    USAGE("--quiet takes no value", "--flag", "f", "--quiet=1");
    USAGE("--unit-attr 'key'", "--flag", "f", "--unit-attr", "key");
    USAGE("--seed 'x'", "--flag", "f", "--seed", "x");
}

static void
test_traffic_profile_usage(void **state)
{
    (void) state;
    USAGE("expected [FLAG/]VARIANT", "--flag", "f", "--profile", "a");
    USAGE("expected [FLAG/]VARIANT", "--flag", "f", "--profile", ":err=0");
    USAGE("err is 0..1", "--flag", "f", "--profile", "a:err=1.5");
    USAGE("err is 0..1", "--flag", "f", "--profile", "a:err=150%");
    USAGE("err is 0..1", "--flag", "f", "--profile", "a:err=x");
    USAGE("a latency is", "--flag", "f", "--profile", "a:p50=0");
    USAGE("a latency is", "--flag", "f", "--profile", "a:p95=601s");
    USAGE("a latency is", "--flag", "f", "--profile", "a:p50=3parsecs");
    USAGE("p95 is below p50", "--flag", "f", "--profile",
        "a:p50=200ms,p95=100ms");
    USAGE("unknown field", "--flag", "f", "--profile", "a:p99=1s");
    USAGE("trailing comma", "--flag", "f", "--profile", "a:err=0.1,");
    USAGE("expected err=", "--flag", "f", "--profile", "a:err");
    USAGE("bad flag key", "--flag", "f", "--profile", "/a:err=0.1");
    USAGE("bad flag key", "--flag", "f", "--profile", "F!/a:err=0.1");
    USAGE("variant name", "--flag", "f", "--profile", "f/:err=0.1");
}

static void
test_traffic_help_and_targets(void **state)
{
    struct run r;

    (void) state;
    run(&r, "--help", (char *) NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "Usage: ramp-traffic"));

    /* No agent state there: libramp refuses, exit 1, nothing counted. */
    run(&r, "--flag", "f", "--agent", "direct:/nonexistent/ramp", "--duration",
        "1s", (char *) NULL);
    assert_int_equal(r.rc, 1);
    assert_non_null(strstr(r.err, "direct:/nonexistent/ramp"));
    assert_string_equal(r.out, "");

    /* Not a target libramp knows: a usage error. */
    run(&r, "--flag", "f", "--agent", "gopher://x", "--duration", "1s",
        (char *) NULL);
    assert_int_equal(r.rc, 2);
}

static void
test_traffic_runs_its_duration(void **state)
{
    struct run r;

    (void) state;
    /* ipc connects lazily: with no agent there every evaluation fails
     * (timed out), is counted as failed, and the run still ends on time
     * with its totals and exit 0. Every profile form is accepted. */
    run(&r, "--flag", "f", "--flag", "g.h_i-j", "--agent",
        "ipc:///nonexistent/ramp.sock", "--duration", "300ms", "--rate", "20",
        "--threads", "1", "--seed", "7", "--profile",
        "on:err=8%,p50=120ms,p95=0.4s", "--profile", "f/off:err=0.005",
        "--profile", "*:p95=900us", "--profile", "g.h_i-j/x:p50=3", "--quiet",
        (char *) NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "ramp-traffic: total: "));
    assert_non_null(strstr(r.out, "evals=0 "));
    assert_null(strstr(r.out, "failed=0 "));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traffic_usage),
        cmocka_unit_test(test_traffic_profile_usage),
        cmocka_unit_test(test_traffic_help_and_targets),
        cmocka_unit_test(test_traffic_runs_its_duration),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
