/* SPDX-License-Identifier: MIT */
/*
 * rp_stopguard: a stop stuck past its deadline ends the process with the
 * armed code and one log line naming the step; a stop that finishes in
 * time (disarm) does not, and the guard can be armed again afterwards.
 * The stuck cases run in a forked child, since the guard ends its
 * process.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "stopguard.h"

static void
sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Fork; the child arms (ms, code), names a step and hangs for hang_ms,
 * writing its stderr to the pipe. Returns the wait status; *line gets
 * what the child logged. */
static int
run_child(unsigned ms, int code, long hang_ms, char *line, size_t cap)
{
    int fds[2];
    pid_t pid;
    int status = 0;
    ssize_t n;
    size_t len = 0;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        rp_log_set_component("test");
        if (rp_stopguard_arm("TEST-STOP-STUCK", ms, code) != RAMP_OK) {
            _exit(90);
        }
        rp_stopguard_step("pub");
        sleep_ms(hang_ms);
        _exit(91); /* the deadline did not end the process */
    }
    close(fds[1]);
    while (len + 1 < cap &&
        (n = read(fds[0], line + len, cap - 1 - len)) > 0) {
        len += (size_t) n;
    }
    line[len] = '\0';
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void
test_stuck_stop_exits_with_code(void **state)
{
    char line[1024];
    struct timespec t0, t1;
    long took;
    int status;

    (void) state;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    status = run_child(200, 7, 30000, line, sizeof(line));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    took = (t1.tv_sec - t0.tv_sec) * 1000 +
        (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
    assert_true(took >= 200);
    assert_true(took < 20000);
    assert_non_null(strstr(line, " err test TEST-STOP-STUCK "));
    assert_non_null(strstr(line, "step=pub waited_ms=200 code=7"));
}

static void
test_clean_exit_code_zero(void **state)
{
    char line[1024];
    int status;

    (void) state;
    status = run_child(100, 0, 30000, line, sizeof(line));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_non_null(strstr(line, "code=0"));
}

static void
test_disarm_cancels(void **state)
{
    (void) state;
    /* In this process: a disarmed guard must not end it. */
    assert_int_equal(rp_stopguard_arm("TEST-STOP-STUCK", 150, 3), RAMP_OK);
    /* A second arm changes nothing (the first deadline stands). */
    assert_int_equal(rp_stopguard_arm("TEST-OTHER", 10, 4), RAMP_OK);
    rp_stopguard_step("store");
    rp_stopguard_disarm();
    sleep_ms(400);
    /* Armed again after a disarm, and disarmed again. */
    assert_int_equal(rp_stopguard_arm("TEST-STOP-STUCK", 150, 3), RAMP_OK);
    rp_stopguard_disarm();
    sleep_ms(300);
    rp_stopguard_disarm(); /* a disarm without an arm: nothing */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stuck_stop_exits_with_code),
        cmocka_unit_test(test_clean_exit_code_zero),
        cmocka_unit_test(test_disarm_cancels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
