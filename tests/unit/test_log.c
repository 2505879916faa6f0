/* SPDX-License-Identifier: MIT */
/*
 * rp_log: level filtering before formatting, the exact line shape, one
 * line per event whatever the fields hold, the 4096-byte bound, level
 * names, sinks, and whole lines on a shared stderr.
 */
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

#define LINE_MAX_BYTES 4096 /* newline included: PIPE_BUF */
#define TS_RE                                                                  \
    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

/* What the capturing sink saw last. */
static struct {
    char line[2 * LINE_MAX_BYTES];
    int lvl;
    int calls;
    void *arg;
} cap;

static int side_effects;

static void
cap_sink(int lvl, const char *line, void *arg)
{
    snprintf(cap.line, sizeof(cap.line), "%s", line);
    cap.lvl = lvl;
    cap.arg = arg;
    cap.calls++;
}

static int
count_call(void)
{
    return ++side_effects;
}

static int
log_setup(void **state)
{
    (void) state;
    memset(&cap, 0, sizeof(cap));
    side_effects = 0;
    rp_log_level = RP_LOG_INFO;
    rp_log_set_component(NULL);
    rp_log_set_sink(cap_sink, &cap);
    return 0;
}

static int
log_teardown(void **state)
{
    (void) state;
    rp_log_set_sink(NULL, NULL);
    rp_log_level = RP_LOG_INFO;
    rp_log_set_component(NULL);
    return 0;
}

static void
assert_matches(const char *s, const char *re)
{
    regex_t rx;
    int rc;

    assert_int_equal(regcomp(&rx, re, REG_EXTENDED | REG_NOSUB), 0);
    rc = regexec(&rx, s, 0, NULL, 0);
    regfree(&rx);
    if (rc != 0) {
        print_error("'%s' does not match /%s/\n", s, re);
    }
    assert_int_equal(rc, 0);
}

static void
test_log_default_level(void **state)
{
    (void) state;
    /* The default is part of the contract, checked before setup runs
     * in main(); here only that INFO passes and DEBUG does not. */
    RAMP_LOG(RP_LOG_INFO, "RAMP-TEST-INFO", "n=%d", count_call());
    RAMP_LOG(RP_LOG_DEBUG, "RAMP-TEST-DEBUG", "n=%d", count_call());
    assert_int_equal(cap.calls, 1);
    assert_int_equal(side_effects, 1);
    assert_int_equal(cap.lvl, RP_LOG_INFO);
}

static void
test_log_filter_skips_formatting(void **state)
{
    (void) state;
    rp_log_level = RP_LOG_WARNING;
    /* Dropped: the arguments are never evaluated. */
    RAMP_LOG(RP_LOG_NOTICE, "RAMP-TEST-DROP", "n=%d", count_call());
    RAMP_LOG(RP_LOG_INFO, "RAMP-TEST-DROP", "n=%d", count_call());
    RAMP_LOG(RP_LOG_DEBUG, "RAMP-TEST-DROP", "n=%d", count_call());
    assert_int_equal(side_effects, 0);
    assert_int_equal(cap.calls, 0);

    /* At and above the level: evaluated once, delivered once. */
    RAMP_LOG(RP_LOG_WARNING, "RAMP-TEST-KEEP", "n=%d", count_call());
    assert_int_equal(side_effects, 1);
    assert_int_equal(cap.calls, 1);
    assert_int_equal(cap.lvl, RP_LOG_WARNING);
    assert_matches(cap.line, "^" TS_RE " warning ramp RAMP-TEST-KEEP n=1$");
    RAMP_LOG(RP_LOG_CRIT, "RAMP-TEST-KEEP", "n=%d", count_call());
    assert_int_equal(side_effects, 2);
    assert_int_equal(cap.calls, 2);

    /* rp_log() called directly filters too. */
    rp_log(RP_LOG_DEBUG, "RAMP-TEST-DIRECT", "x=1");
    assert_int_equal(cap.calls, 2);

    rp_log_level = RP_LOG_DEBUG;
    RAMP_LOG(RP_LOG_DEBUG, "RAMP-TEST-KEEP", "n=%d", count_call());
    assert_int_equal(cap.calls, 3);
    assert_int_equal(side_effects, 3);
}

static void
test_log_line_format(void **state)
{
    time_t t0, t1, ts;
    struct tm tm;

    (void) state;
    /* A local zone far from UTC: the stamp must still be UTC. */
    setenv("TZ", "XXX-9", 1);
    tzset();
    t0 = time(NULL);
    RAMP_LOG(RP_LOG_INFO, "RAMP-TEST-EVENT", "a=%d b=%s", 1, "two");
    t1 = time(NULL);
    assert_int_equal(cap.calls, 1);
    assert_ptr_equal(cap.arg, &cap);
    assert_matches(cap.line, "^" TS_RE " info ramp RAMP-TEST-EVENT a=1 b=two$");

    memset(&tm, 0, sizeof(tm));
    assert_int_equal(
        sscanf(cap.line, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon,
            &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec),
        6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    ts = timegm(&tm);
    assert_true(ts >= t0 && ts <= t1);
    unsetenv("TZ");
    tzset();

    rp_log_set_component("controller");
    rp_log(RP_LOG_ERR, "RAMP-STORE-OPEN", "path=%s maps=%d", "/x", 1);
    assert_matches(
        cap.line, "^" TS_RE " err controller RAMP-STORE-OPEN path=/x maps=1$");
    assert_int_equal(cap.lvl, RP_LOG_ERR);

    /* No fields: the line ends at the id, no trailing space. */
    rp_log(RP_LOG_NOTICE, "RAMP-TEST-BARE", "%s", "");
    assert_matches(cap.line, "^" TS_RE " notice controller RAMP-TEST-BARE$");
    rp_log(RP_LOG_NOTICE, "RAMP-TEST-BARE", "%s", "");
    assert_int_equal(strlen(cap.line), 24 + strlen(" notice controller "
                                                   "RAMP-TEST-BARE"));
}

static void
test_log_level_names_in_lines(void **state)
{
    static const char *const names[] = {
        "crit", "err", "warning", "notice", "info", "debug"};
    char re[128];

    (void) state;
    rp_log_level = RP_LOG_DEBUG;
    for (int l = RP_LOG_CRIT; l <= RP_LOG_DEBUG; l++) {
        rp_log(l, "RAMP-TEST-LVL", "l=%d", l);
        snprintf(re, sizeof(re), "^" TS_RE " %s ramp RAMP-TEST-LVL l=%d$",
            names[l - RP_LOG_CRIT], l);
        assert_matches(cap.line, re);
        assert_int_equal(cap.lvl, l);
    }
    assert_int_equal(cap.calls, 6);
}

static void
test_log_escapes_control_chars(void **state)
{
    (void) state;
    rp_log(RP_LOG_WARNING, "RAMP-TEST-ESC", "err=\"%s\"",
        "line1\nline2\r\tend\x01\x1f\x7f");
    assert_null(strchr(cap.line, '\n'));
    assert_null(strchr(cap.line, '\r'));
    assert_matches(cap.line, "^" TS_RE " warning ramp RAMP-TEST-ESC ");
    assert_non_null(
        strstr(cap.line, " err=\"line1\\nline2\\r\\tend\\x01\\x1f\\x7f\""));
    /* UTF-8 and backslashes pass through untouched. */
    rp_log(RP_LOG_WARNING, "RAMP-TEST-ESC", "p=%s", "C:\\dir \xc3\xa9");
    assert_non_null(strstr(cap.line, " p=C:\\dir \xc3\xa9"));
    assert_int_equal(
        strstr(cap.line, " p=")[strlen(" p=C:\\dir \xc3\xa9")], '\0');
}

/* Length of "<ts> info ramp <id>" for the id used below. */
#define PREFIX_LEN (24 + strlen(" info ramp RAMP-TEST-LONG"))

static void
test_log_truncation(void **state)
{
    static char field[3 * LINE_MAX_BYTES];
    size_t fit = LINE_MAX_BYTES - 1 - PREFIX_LEN - 1; /* room after ' ' */
    size_t n;

    (void) state;
    memset(field, 'a', sizeof(field) - 1);

    /* Exactly fills the line: not cut. */
    field[fit] = '\0';
    rp_log(RP_LOG_INFO, "RAMP-TEST-LONG", "%s", field);
    n = strlen(cap.line);
    assert_int_equal(n, LINE_MAX_BYTES - 1);
    assert_int_equal(cap.line[n - 1], 'a');
    assert_int_equal(cap.line[n - 2], 'a');

    /* One byte more: cut, marked "..." at the very end. */
    field[fit] = 'a';
    field[fit + 1] = '\0';
    rp_log(RP_LOG_INFO, "RAMP-TEST-LONG", "%s", field);
    n = strlen(cap.line);
    assert_int_equal(n, LINE_MAX_BYTES - 1);
    assert_string_equal(cap.line + n - 3, "...");
    assert_int_equal(cap.line[n - 4], 'a');
    assert_matches(
        cap.line, "^" TS_RE " info ramp RAMP-TEST-LONG a+\\.\\.\\.$");

    /* Far longer than any buffer inside rp_log. */
    field[fit + 1] = 'a';
    rp_log(RP_LOG_INFO, "RAMP-TEST-LONG", "x=%s y=%s", field, field);
    n = strlen(cap.line);
    assert_int_equal(n, LINE_MAX_BYTES - 1);
    assert_string_equal(cap.line + n - 3, "...");
}

static void
test_log_truncation_keeps_units_whole(void **state)
{
    static char field[2 * LINE_MAX_BYTES];
    size_t fit = LINE_MAX_BYTES - 1 - PREFIX_LEN - 1;
    char *body;
    size_t n;

    (void) state;
    /* Escapes ("\x01" is 4 bytes): the cut never splits one. Try every
     * alignment of the escapes against the cut. */
    for (size_t shift = 0; shift < 4; shift++) {
        memset(field, 'b', shift);
        memset(field + shift, '\x01', fit);
        field[shift + fit] = '\0';
        rp_log(RP_LOG_INFO, "RAMP-TEST-LONG", "%s", field);
        n = strlen(cap.line);
        assert_true(n <= LINE_MAX_BYTES - 1);
        assert_true(n >= LINE_MAX_BYTES - 1 - 3);
        assert_string_equal(cap.line + n - 3, "...");
        body = cap.line + PREFIX_LEN + 1 + shift;
        assert_int_equal((n - 3 - (size_t) (body - cap.line)) % 4, 0);
        for (char *p = body; p < cap.line + n - 3; p += 4) {
            assert_memory_equal(p, "\\x01", 4);
        }
    }

    /* Two-byte UTF-8 characters: no half character before the mark. */
    for (size_t shift = 0; shift < 2; shift++) {
        size_t i;

        memset(field, 'c', shift);
        for (i = shift; i + 1 < shift + 2 * fit; i += 2) {
            field[i] = '\xc3';
            field[i + 1] = '\xa9';
        }
        field[i] = '\0';
        rp_log(RP_LOG_INFO, "RAMP-TEST-LONG", "%s", field);
        n = strlen(cap.line);
        assert_true(n <= LINE_MAX_BYTES - 1);
        assert_string_equal(cap.line + n - 3, "...");
        body = cap.line + PREFIX_LEN + 1 + shift;
        assert_int_equal((n - 3 - (size_t) (body - cap.line)) % 2, 0);
        assert_int_equal((unsigned char) cap.line[n - 4], 0xa9);
    }
}

static void
test_log_parse_level(void **state)
{
    static const char *const bad[] = {"", "0", "1", "8", "9", "07", "6 ", " 6",
        "infos", "inf", "warn2", "emerg", "-6"};

    (void) state;
    assert_int_equal(rp_log_parse_level("crit"), RP_LOG_CRIT);
    assert_int_equal(rp_log_parse_level("err"), RP_LOG_ERR);
    assert_int_equal(rp_log_parse_level("warning"), RP_LOG_WARNING);
    assert_int_equal(rp_log_parse_level("notice"), RP_LOG_NOTICE);
    assert_int_equal(rp_log_parse_level("info"), RP_LOG_INFO);
    assert_int_equal(rp_log_parse_level("debug"), RP_LOG_DEBUG);
    assert_int_equal(rp_log_parse_level("DEBUG"), RP_LOG_DEBUG);
    assert_int_equal(rp_log_parse_level("Warning"), RP_LOG_WARNING);
    for (int l = 2; l <= 7; l++) {
        char d[2] = {(char) ('0' + l), '\0'};

        assert_int_equal(rp_log_parse_level(d), l);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(rp_log_parse_level(bad[i]), -1);
    }
    assert_int_equal(rp_log_parse_level(NULL), -1);

    assert_string_equal(rp_log_level_name(RP_LOG_CRIT), "crit");
    assert_string_equal(rp_log_level_name(RP_LOG_ERR), "err");
    assert_string_equal(rp_log_level_name(RP_LOG_WARNING), "warning");
    assert_string_equal(rp_log_level_name(RP_LOG_NOTICE), "notice");
    assert_string_equal(rp_log_level_name(RP_LOG_INFO), "info");
    assert_string_equal(rp_log_level_name(RP_LOG_DEBUG), "debug");
    assert_string_equal(rp_log_level_name(1), "unknown");
    assert_string_equal(rp_log_level_name(8), "unknown");
    /* Names round-trip. */
    for (int l = 2; l <= 7; l++) {
        assert_int_equal(rp_log_parse_level(rp_log_level_name(l)), l);
    }
}

static int sink_b_calls;

static void
sink_b(int lvl, const char *line, void *arg)
{
    (void) lvl;
    (void) line;
    assert_ptr_equal(arg, &sink_b_calls);
    sink_b_calls++;
}

static void
test_log_sink_swap_and_errno(void **state)
{
    (void) state;
    sink_b_calls = 0;
    rp_log(RP_LOG_INFO, "RAMP-TEST-A", "%s", "");
    rp_log_set_sink(sink_b, &sink_b_calls);
    rp_log(RP_LOG_INFO, "RAMP-TEST-B", "%s", "");
    rp_log(RP_LOG_INFO, "RAMP-TEST-B", "%s", "");
    assert_int_equal(cap.calls, 1);
    assert_int_equal(sink_b_calls, 2);

    /* Logging does not clobber errno for the caller. */
    errno = ERANGE;
    rp_log(RP_LOG_INFO, "RAMP-TEST-B", "x=%d", 1);
    assert_int_equal(errno, ERANGE);
    assert_int_equal(sink_b_calls, 3);
}

/* Run fn with stderr pointed at a temp file; return what it wrote. */
static char *
capture_stderr(void (*fn)(void), size_t *lenp)
{
    char path[] = "/tmp/test_log_XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(STDERR_FILENO);
    static char *out;
    off_t len;

    assert_true(fd >= 0 && saved >= 0);
    unlink(path);
    fflush(stderr);
    assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    fn();
    assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    len = lseek(fd, 0, SEEK_END);
    assert_true(len >= 0);
    out = calloc(1, (size_t) len + 1);
    assert_non_null(out);
    assert_int_equal(pread(fd, out, (size_t) len, 0), len);
    close(fd);
    *lenp = (size_t) len;
    return out;
}

static void
stderr_two_lines(void)
{
    rp_log_set_sink(NULL, NULL);
    rp_log(RP_LOG_NOTICE, "RAMP-TEST-STDERR", "k=%s", "v\nw");
    rp_log(RP_LOG_DEBUG, "RAMP-TEST-STDERR", "dropped=1");
    rp_log(RP_LOG_ERR, "RAMP-TEST-STDERR", "%s", "");
}

static void
test_log_stderr(void **state)
{
    char *out, *nl;
    size_t len;

    (void) state;
    out = capture_stderr(stderr_two_lines, &len);
    assert_int_equal(cap.calls, 0); /* the sink was removed */
    nl = strchr(out, '\n');
    assert_non_null(nl);
    *nl = '\0';
    assert_matches(out, "^" TS_RE " notice ramp RAMP-TEST-STDERR k=v\\\\nw$");
    assert_matches(nl + 1, "^" TS_RE " err ramp RAMP-TEST-STDERR\n$");
    assert_int_equal(len, strlen(out) + 1 + strlen(nl + 1));
    free(out);
}

#define THREADS 4
#define PER_THREAD 500

static void *
log_thread(void *arg)
{
    char fill[600];
    int id = (int) (intptr_t) arg;

    memset(fill, 'a' + id, sizeof(fill) - 1);
    fill[sizeof(fill) - 1] = '\0';
    for (int i = 0; i < PER_THREAD; i++) {
        rp_log(
            RP_LOG_INFO, "RAMP-TEST-THREAD", "t=%d i=%d fill=%s", id, i, fill);
    }
    return NULL;
}

static void
stderr_threads(void)
{
    pthread_t th[THREADS];

    rp_log_set_sink(NULL, NULL);
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(
            pthread_create(&th[t], NULL, log_thread, (void *) (intptr_t) t), 0);
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
    }
}

static void
test_log_threads_whole_lines(void **state)
{
    int seen[THREADS] = {0};
    char *out, *line, *save = NULL;
    size_t len;
    int nlines = 0;

    (void) state;
    out = capture_stderr(stderr_threads, &len);
    for (line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        int t = -1, i = -1;
        char re[128];

        assert_int_equal(sscanf(strstr(line, " t="), " t=%d i=%d", &t, &i), 2);
        assert_true(t >= 0 && t < THREADS);
        /* Each thread's lines arrive whole and in order. */
        assert_int_equal(i, seen[t]);
        seen[t]++;
        snprintf(re, sizeof(re),
            "^" TS_RE " info ramp RAMP-TEST-THREAD t=%d i=%d fill=%c{599}$", t,
            i, 'a' + t);
        assert_matches(line, re);
        nlines++;
    }
    assert_int_equal(nlines, THREADS * PER_THREAD);
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_log_default_level, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_filter_skips_formatting, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_line_format, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_level_names_in_lines, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_escapes_control_chars, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_truncation, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_truncation_keeps_units_whole, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_parse_level, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_sink_swap_and_errno, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_stderr, log_setup, log_teardown),
        cmocka_unit_test_setup_teardown(
            test_log_threads_whole_lines, log_setup, log_teardown),
    };

    /* The documented default, before anything touches it. */
    if (rp_log_level != RP_LOG_INFO) {
        fprintf(stderr, "rp_log_level default is %d, want %d\n", rp_log_level,
            RP_LOG_INFO);
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
