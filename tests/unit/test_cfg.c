/* SPDX-License-Identifier: MIT */
/*
 * rp_cfg: precedence (default < file < environment < flags), every type
 * at its bounds, flag forms, file syntax and file errors with the exact
 * code and a message naming where, atomic reloads, positional arguments.
 * Environments are envp arrays built here, files live in a mkdtemp()
 * directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc.h"
#include "cfg.h"

enum { I_NAME, I_DATA_DIR, I_PORT, I_VERBOSE, I_CACHE, I_TIMEOUT, I_NDEFS };

static const struct rp_cfg_def defs[] = {
    /* name          type             default  min    max       reload */
    {"name", RP_CFG_STR, "dflt", 0, 0, true, "a string"},
    {"data-dir", RP_CFG_PATH, NULL, 0, 0, false, "required"},
    {"port", RP_CFG_INT, "7400", 1, 65535, false, "an int"},
    {"verbose", RP_CFG_BOOL, "false", 0, 0, true, "a bool"},
    {"cache-size", RP_CFG_SIZE, "1m", 1024, 1 << 30, true, "a size"},
    {"timeout", RP_CFG_DURATION, "5s", 10, 3600000, true, "a duration"},
};

static char tmpdir[64];
static char cfgpath[128];

static int
group_setup(void **state)
{
    (void) state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_cfg_XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        return -1;
    }
    snprintf(cfgpath, sizeof(cfgpath), "%s/ramp.conf", tmpdir);
    return 0;
}

static int
group_teardown(void **state)
{
    char p[160];

    (void) state;
    unlink(cfgpath);
    snprintf(p, sizeof(p), "%s/other.conf", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    return 0;
}

static int
cfg_teardown(void **state)
{
    (void) state;
    rp_alloc_fail_at(0);
    assert_int_equal(rp_alloc_outstanding(), 0);
    return 0;
}

static void
write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void
write_conf(const char *text)
{
    write_file(cfgpath, text, strlen(text));
}

static void
assert_err_has(const struct rp_cfg *c, const char *want)
{
    if (strstr(c->err, want) == NULL) {
        print_error("c->err '%s' lacks '%s'\n", c->err, want);
    }
    assert_non_null(strstr(c->err, want));
}

/* Load with a built envp and a NULL-terminated flag list. */
static ramp_err
load(struct rp_cfg *c, const char *path, char **envp, char **argv)
{
    static char *noenv[] = {NULL};
    int argc = 0;

    while (argv != NULL && argv[argc] != NULL) {
        argc++;
    }
    return rp_cfg_load(
        c, path, envp != NULL ? envp : noenv, argc, argv, NULL, NULL);
}

static void
init(struct rp_cfg *c)
{
    assert_int_equal(rp_cfg_init(c, defs, I_NDEFS), RAMP_OK);
}

static void
test_cfg_init_defaults(void **state)
{
    struct rp_cfg c;

    (void) state;
    init(&c);
    assert_string_equal(rp_cfg_str(&c, "name"), "dflt");
    assert_null(rp_cfg_str(&c, "data-dir")); /* required, not yet set */
    assert_int_equal(rp_cfg_int(&c, "port"), 7400);
    assert_false(rp_cfg_bool(&c, "verbose"));
    assert_int_equal(rp_cfg_int(&c, "cache-size"), 1 << 20);
    assert_int_equal(rp_cfg_int(&c, "timeout"), 5000);
    assert_int_equal(c.vals[I_PORT].src, RP_CFG_SRC_DEFAULT);
    assert_string_equal(rp_cfg_str(&c, "timeout"), "5s");
    rp_cfg_fini(&c);
    rp_cfg_fini(&c); /* twice is harmless */
}

static void
test_cfg_init_bad_table(void **state)
{
    static const struct rp_cfg_def bad_default[] = {
        {"port", RP_CFG_INT, "70000", 1, 65535, false, ""},
    };
    static const struct rp_cfg_def dup[] = {
        {"port", RP_CFG_INT, "1", 1, 65535, false, ""},
        {"port", RP_CFG_INT, "2", 1, 65535, false, ""},
    };
    struct rp_cfg c;

    (void) state;
    assert_int_equal(rp_cfg_init(&c, bad_default, 1), RAMP_EINVAL);
    assert_err_has(&c, "default: setting 'port'");
    rp_cfg_fini(&c);
    assert_int_equal(rp_cfg_init(&c, dup, 2), RAMP_EINVAL);
    assert_err_has(&c, "'port' appears twice");
    rp_cfg_fini(&c);
}

/*
 * Every combination of file, environment and flag for one setting, each
 * overriding what is below it; the default when none is present.
 */
static void
test_cfg_precedence(void **state)
{
    (void) state;
    for (int mask = 0; mask < 8; mask++) {
        char *envp[3] = {"RAMP_DATA_DIR=/d", NULL, NULL};
        char *argv[2] = {NULL, NULL};
        int64_t want = 7400;
        enum rp_cfg_src src = RP_CFG_SRC_DEFAULT;
        struct rp_cfg c;

        write_conf((mask & 1) ? "port = 1001\n" : "# nothing\n");
        if (mask & 1) {
            want = 1001;
            src = RP_CFG_SRC_FILE;
        }
        if (mask & 2) {
            envp[1] = "RAMP_PORT=1002";
            want = 1002;
            src = RP_CFG_SRC_ENV;
        }
        if (mask & 4) {
            argv[0] = "--port=1003";
            want = 1003;
            src = RP_CFG_SRC_FLAG;
        }
        init(&c);
        assert_int_equal(load(&c, cfgpath, envp, argv), RAMP_OK);
        assert_string_equal(c.err, "");
        assert_int_equal(rp_cfg_int(&c, "port"), want);
        assert_int_equal(c.vals[I_PORT].src, src);
        /* The others keep their defaults whatever port did. */
        assert_string_equal(rp_cfg_str(&c, "name"), "dflt");
        assert_int_equal(c.vals[I_NAME].src, RP_CFG_SRC_DEFAULT);
        assert_string_equal(rp_cfg_str(&c, "data-dir"), "/d");
        assert_int_equal(c.vals[I_DATA_DIR].src, RP_CFG_SRC_ENV);
        rp_cfg_fini(&c);
    }
}

static void
test_cfg_precedence_all_types(void **state)
{
    char *envp[] = {"RAMP_DATA_DIR=/env", "RAMP_NAME=env", "RAMP_VERBOSE=on",
        "RAMP_CACHE_SIZE=2k", "RAMP_TIMEOUT=2s", NULL};
    char *argv[] = {"--name=flag", "--cache-size", "3k", NULL};
    struct rp_cfg c;

    (void) state;
    write_conf("name = file\n"
               "data-dir = /file\n"
               "verbose = no\n"
               "cache-size = 1k\n"
               "timeout = 1s\n"
               "port = 9\n");
    init(&c);
    assert_int_equal(load(&c, cfgpath, envp, argv), RAMP_OK);
    assert_string_equal(rp_cfg_str(&c, "name"), "flag");
    assert_string_equal(rp_cfg_str(&c, "data-dir"), "/env");
    assert_true(rp_cfg_bool(&c, "verbose"));
    assert_int_equal(rp_cfg_int(&c, "cache-size"), 3072);
    assert_int_equal(rp_cfg_int(&c, "timeout"), 2000);
    assert_int_equal(rp_cfg_int(&c, "port"), 9);
    assert_int_equal(c.vals[I_NAME].src, RP_CFG_SRC_FLAG);
    assert_int_equal(c.vals[I_CACHE].src, RP_CFG_SRC_FLAG);
    assert_int_equal(c.vals[I_VERBOSE].src, RP_CFG_SRC_ENV);
    assert_int_equal(c.vals[I_TIMEOUT].src, RP_CFG_SRC_ENV);
    assert_int_equal(c.vals[I_PORT].src, RP_CFG_SRC_FILE);
    rp_cfg_fini(&c);
}

static void
test_parse_int(void **state)
{
    int64_t v = 77;

    (void) state;
    assert_int_equal(rp_parse_int("0", INT64_MIN, INT64_MAX, &v), RAMP_OK);
    assert_int_equal(v, 0);
    assert_int_equal(rp_parse_int("-0", INT64_MIN, INT64_MAX, &v), RAMP_OK);
    assert_int_equal(v, 0);
    assert_int_equal(rp_parse_int("+42", INT64_MIN, INT64_MAX, &v), RAMP_OK);
    assert_int_equal(v, 42);
    assert_int_equal(rp_parse_int("-17", INT64_MIN, INT64_MAX, &v), RAMP_OK);
    assert_int_equal(v, -17);
    assert_int_equal(rp_parse_int("007", INT64_MIN, INT64_MAX, &v), RAMP_OK);
    assert_int_equal(v, 7);
    assert_int_equal(
        rp_parse_int("9223372036854775807", INT64_MIN, INT64_MAX, &v), RAMP_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(
        rp_parse_int("-9223372036854775808", INT64_MIN, INT64_MAX, &v),
        RAMP_OK);
    assert_true(v == INT64_MIN);

    v = 77;
    assert_int_equal(
        rp_parse_int("9223372036854775808", INT64_MIN, INT64_MAX, &v),
        RAMP_EINVAL);
    assert_int_equal(
        rp_parse_int("-9223372036854775809", INT64_MIN, INT64_MAX, &v),
        RAMP_EINVAL);
    assert_int_equal(
        rp_parse_int("18446744073709551616", INT64_MIN, INT64_MAX, &v),
        RAMP_EINVAL);
    assert_int_equal(
        rp_parse_int("99999999999999999999999999", INT64_MIN, INT64_MAX, &v),
        RAMP_EINVAL);
    {
        static const char *const bad[] = {"", "+", "-", " 1", "1 ", "1x",
            "0x10", "1e3", "1.0", "--1", "+-1", "1k", "١"};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            assert_int_equal(
                rp_parse_int(bad[i], INT64_MIN, INT64_MAX, &v), RAMP_EINVAL);
        }
    }
    assert_int_equal(rp_parse_int(NULL, 0, 1, &v), RAMP_EINVAL);
    assert_int_equal(v, 77); /* never written on error */

    /* Bounds are inclusive. */
    assert_int_equal(rp_parse_int("10", 10, 20, &v), RAMP_OK);
    assert_int_equal(v, 10);
    assert_int_equal(rp_parse_int("20", 10, 20, &v), RAMP_OK);
    assert_int_equal(v, 20);
    assert_int_equal(rp_parse_int("9", 10, 20, &v), RAMP_EINVAL);
    assert_int_equal(rp_parse_int("21", 10, 20, &v), RAMP_EINVAL);
    assert_int_equal(rp_parse_int("-5", -5, -1, &v), RAMP_OK);
    assert_int_equal(v, -5);
    assert_int_equal(rp_parse_int("-6", -5, -1, &v), RAMP_EINVAL);
    assert_int_equal(rp_parse_int("0", -5, -1, &v), RAMP_EINVAL);
}

static void
test_parse_size(void **state)
{
    static const struct {
        const char *s;
        int64_t v;
    } ok[] = {
        {"0", 0},
        {"1", 1},
        {"1k", 1024},
        {"1K", 1024},
        {"2m", 2 * 1048576},
        {"2M", 2 * 1048576},
        {"3g", 3LL * 1073741824},
        {"3G", 3LL * 1073741824},
        {"0k", 0},
        {"9223372036854775807", INT64_MAX},
        {"8589934591g", 8589934591LL * 1073741824},
    };
    static const char *const bad[] = {"", "k", "-1", "+1", "1 k", " 1", "1kb",
        "1KB", "1KiB", "1t", "1.5k", "1kk", "0x1k", "8589934592g",
        "9223372036854775808", "9007199254740992k"};
    int64_t v = 77;

    (void) state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(rp_parse_size(ok[i].s, 0, INT64_MAX, &v), RAMP_OK);
        assert_true(v == ok[i].v);
    }
    v = 77;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(rp_parse_size(bad[i], 0, INT64_MAX, &v), RAMP_EINVAL);
    }
    assert_int_equal(rp_parse_size(NULL, 0, INT64_MAX, &v), RAMP_EINVAL);
    assert_int_equal(v, 77);
    /* Bounds apply after scaling. */
    assert_int_equal(rp_parse_size("1k", 1024, 2048, &v), RAMP_OK);
    assert_int_equal(rp_parse_size("2048", 1024, 2048, &v), RAMP_OK);
    assert_int_equal(rp_parse_size("1023", 1024, 2048, &v), RAMP_EINVAL);
    assert_int_equal(rp_parse_size("2049", 1024, 2048, &v), RAMP_EINVAL);
    assert_int_equal(rp_parse_size("3k", 1024, 2048, &v), RAMP_EINVAL);
}

static void
test_parse_duration(void **state)
{
    static const struct {
        const char *s;
        int64_t v;
    } ok[] = {
        {"0", 0},
        {"250", 250},
        {"250ms", 250},
        {"3s", 3000},
        {"2m", 120000},
        {"1h", 3600000},
        {"0h", 0},
        {"2562047788015h", 2562047788015LL * 3600000},
    };
    static const char *const bad[] = {"", "s", "ms", "-1", "-1s", "+1s", "1.5s",
        "1d", "1S", "1M", "1H", "1MS", "1 s", "1sec", "1hm", "2562047788016h",
        "9223372036854775808"};
    int64_t v = 77;

    (void) state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        assert_int_equal(rp_parse_duration(ok[i].s, 0, INT64_MAX, &v), RAMP_OK);
        assert_true(v == ok[i].v);
    }
    v = 77;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(
            rp_parse_duration(bad[i], 0, INT64_MAX, &v), RAMP_EINVAL);
    }
    assert_int_equal(rp_parse_duration(NULL, 0, 1, &v), RAMP_EINVAL);
    assert_int_equal(v, 77);
    assert_int_equal(rp_parse_duration("1s", 1000, 60000, &v), RAMP_OK);
    assert_int_equal(v, 1000);
    assert_int_equal(rp_parse_duration("1m", 1000, 60000, &v), RAMP_OK);
    assert_int_equal(v, 60000);
    assert_int_equal(rp_parse_duration("999", 1000, 60000, &v), RAMP_EINVAL);
    assert_int_equal(rp_parse_duration("60001", 1000, 60000, &v), RAMP_EINVAL);
}

static void
test_parse_bool(void **state)
{
    static const char *const yes[] = {
        "true", "TRUE", "True", "yes", "YES", "on", "On", "1"};
    static const char *const no[] = {
        "false", "FALSE", "no", "No", "off", "OFF", "0"};
    static const char *const bad[] = {"", "2", "tru", "yess", "onn", "t", "f",
        "y", "n", " true", "true ", "00", "01", "-1"};
    bool b;

    (void) state;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        b = false;
        assert_int_equal(rp_parse_bool(yes[i], &b), RAMP_OK);
        assert_true(b);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        b = true;
        assert_int_equal(rp_parse_bool(no[i], &b), RAMP_OK);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        b = true;
        assert_int_equal(rp_parse_bool(bad[i], &b), RAMP_EINVAL);
        assert_true(b);
    }
    assert_int_equal(rp_parse_bool(NULL, &b), RAMP_EINVAL);
}

/* One flag value for one setting: the code, and the value if RAMP_OK. */
static void
check_flag(const char *flag, ramp_err want, size_t idx, int64_t wantv)
{
    char *argv[] = {"--data-dir=/d", (char *) flag, NULL};
    struct rp_cfg c;

    init(&c);
    assert_int_equal(load(&c, NULL, NULL, argv), want);
    if (want == RAMP_OK) {
        assert_true(c.vals[idx].i == wantv);
        assert_int_equal(c.vals[idx].src, RP_CFG_SRC_FLAG);
    } else {
        /* Names the setting and the flag. */
        assert_err_has(&c, defs[idx].name);
        assert_err_has(&c, "flag --");
        assert_true(c.vals[idx].i == c.vals[idx].i); /* still readable */
        assert_int_equal(c.vals[idx].src, RP_CFG_SRC_DEFAULT);
    }
    rp_cfg_fini(&c);
}

static void
test_cfg_type_bounds(void **state)
{
    (void) state;
    /* INT [1, 65535] */
    check_flag("--port=1", RAMP_OK, I_PORT, 1);
    check_flag("--port=65535", RAMP_OK, I_PORT, 65535);
    check_flag("--port=0", RAMP_EINVAL, I_PORT, 0);
    check_flag("--port=65536", RAMP_EINVAL, I_PORT, 0);
    check_flag("--port=-1", RAMP_EINVAL, I_PORT, 0);
    check_flag("--port=http", RAMP_EINVAL, I_PORT, 0);
    /* SIZE [1024, 1 GiB] */
    check_flag("--cache-size=1024", RAMP_OK, I_CACHE, 1024);
    check_flag("--cache-size=1k", RAMP_OK, I_CACHE, 1024);
    check_flag("--cache-size=1g", RAMP_OK, I_CACHE, 1 << 30);
    check_flag("--cache-size=1073741824", RAMP_OK, I_CACHE, 1 << 30);
    check_flag("--cache-size=1023", RAMP_EINVAL, I_CACHE, 0);
    check_flag("--cache-size=1073741825", RAMP_EINVAL, I_CACHE, 0);
    check_flag("--cache-size=2g", RAMP_EINVAL, I_CACHE, 0);
    check_flag("--cache-size=lots", RAMP_EINVAL, I_CACHE, 0);
    /* DURATION [10 ms, 1 h] */
    check_flag("--timeout=10", RAMP_OK, I_TIMEOUT, 10);
    check_flag("--timeout=10ms", RAMP_OK, I_TIMEOUT, 10);
    check_flag("--timeout=1h", RAMP_OK, I_TIMEOUT, 3600000);
    check_flag("--timeout=3600000", RAMP_OK, I_TIMEOUT, 3600000);
    check_flag("--timeout=9", RAMP_EINVAL, I_TIMEOUT, 0);
    check_flag("--timeout=3600001", RAMP_EINVAL, I_TIMEOUT, 0);
    check_flag("--timeout=61m", RAMP_EINVAL, I_TIMEOUT, 0);
    check_flag("--timeout=soon", RAMP_EINVAL, I_TIMEOUT, 0);
    /* BOOL */
    check_flag("--verbose=yes", RAMP_OK, I_VERBOSE, 1);
    check_flag("--verbose=OFF", RAMP_OK, I_VERBOSE, 0);
    check_flag("--verbose=maybe", RAMP_EINVAL, I_VERBOSE, 0);
    check_flag("--verbose=", RAMP_EINVAL, I_VERBOSE, 0);
}

static void
test_cfg_value_messages(void **state)
{
    char *argv[] = {"--data-dir=/d", "--port=70000", NULL};
    char *envp[] = {"RAMP_TIMEOUT=2d", NULL};
    struct rp_cfg c;

    (void) state;
    init(&c);
    assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
    assert_err_has(&c, "flag --port: setting 'port': '70000' is out of "
                       "range 1..65535");
    argv[1] = NULL;
    assert_int_equal(load(&c, NULL, envp, argv), RAMP_EINVAL);
    assert_err_has(&c, "environment RAMP_TIMEOUT: setting 'timeout': "
                       "'2d' is not a duration");
    write_conf("\n# c\nverbose = sometimes\n");
    assert_int_equal(load(&c, cfgpath, NULL, argv), RAMP_EINVAL);
    assert_err_has(&c, "file ");
    assert_err_has(&c, "ramp.conf:3: setting 'verbose': 'sometimes' is "
                       "not a boolean");
    rp_cfg_fini(&c);
}

static void
test_cfg_str_and_path(void **state)
{
    static char longv[RP_CFG_VAL_MAX + 16];
    char *argv[] = {"--data-dir=/d", longv, NULL};
    struct rp_cfg c;

    (void) state;
    /* STR: up to RP_CFG_VAL_MAX bytes, and may be empty. */
    snprintf(longv, sizeof(longv), "--name=");
    memset(longv + 7, 's', RP_CFG_VAL_MAX);
    longv[7 + RP_CFG_VAL_MAX] = '\0';
    init(&c);
    assert_int_equal(load(&c, NULL, NULL, argv), RAMP_OK);
    assert_int_equal(strlen(rp_cfg_str(&c, "name")), RP_CFG_VAL_MAX);
    longv[7 + RP_CFG_VAL_MAX] = 's';
    longv[8 + RP_CFG_VAL_MAX] = '\0';
    assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
    assert_err_has(&c, "setting 'name': value longer than 1024 bytes");
    /* The value is never echoed for strings: it may be a secret. */
    assert_null(strstr(c.err, "sss"));
    assert_int_equal(strlen(rp_cfg_str(&c, "name")), RP_CFG_VAL_MAX);
    argv[1] = "--name=";
    assert_int_equal(load(&c, NULL, NULL, argv), RAMP_OK);
    assert_string_equal(rp_cfg_str(&c, "name"), "");

    /* PATH: non-empty. */
    argv[0] = "--data-dir=";
    argv[1] = NULL;
    assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
    assert_err_has(&c, "flag --data-dir: setting 'data-dir': empty path");
    rp_cfg_fini(&c);
}

static void
test_cfg_flag_forms(void **state)
{
    struct rp_cfg c;

    (void) state;
    init(&c);
    {
        char *argv[] = {"--data-dir", "/sep", "--port", "8080", "--verbose",
            "--timeout=1m", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_OK);
        assert_string_equal(rp_cfg_str(&c, "data-dir"), "/sep");
        assert_int_equal(rp_cfg_int(&c, "port"), 8080);
        assert_true(rp_cfg_bool(&c, "verbose"));
        assert_string_equal(rp_cfg_str(&c, "verbose"), "true");
        assert_int_equal(rp_cfg_int(&c, "timeout"), 60000);
    }
    {
        /* --no-x after --x: the later flag wins. */
        char *argv[] = {"--data-dir=/d", "--verbose", "--no-verbose", NULL};
        char *envp[] = {"RAMP_VERBOSE=true", NULL};

        assert_int_equal(load(&c, NULL, envp, argv), RAMP_OK);
        assert_false(rp_cfg_bool(&c, "verbose"));
        assert_int_equal(c.vals[I_VERBOSE].src, RP_CFG_SRC_FLAG);
    }
    {
        char *argv[] = {"--data-dir=/d", "--verbose=false", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_OK);
        assert_false(rp_cfg_bool(&c, "verbose"));
    }
    {
        /* A value may itself contain '=' or start with '-'. */
        char *argv[] = {"--data-dir=/a=b", "--name", "-x", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_OK);
        assert_string_equal(rp_cfg_str(&c, "data-dir"), "/a=b");
        assert_string_equal(rp_cfg_str(&c, "name"), "-x");
    }
    {
        char *argv[] = {"--data-dir=/d", "--port", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "flag --port needs a value");
    }
    {
        char *argv[] = {"--data-dir=/d", "--no-verbose=1", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "--no-verbose takes no value");
    }
    {
        /* --no- only for booleans. */
        char *argv[] = {"--data-dir=/d", "--no-port", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "unknown flag --no-port");
    }
    rp_cfg_fini(&c);
}

static void
test_cfg_unknown_names(void **state)
{
    struct rp_cfg c;

    (void) state;
    init(&c);
    {
        char *argv[] = {"--data-dir=/d", "--bogus=1", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "unknown flag --bogus");
    }
    {
        char *argv[] = {"--data-dir=/d", "--bogus", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "unknown flag --bogus");
    }
    {
        char *argv[] = {"--data-dir=/d", "-p", "1", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "unknown flag -p");
    }
    {
        char *argv[] = {"--=1", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "unknown flag");
    }
    {
        /* Flag names are exact: no prefixes, no underscores. */
        char *argv[] = {"--data_dir=/d", NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "unknown flag --data_dir");
    }
    {
        /* Other RAMP_* variables belong to other programs: ignored. */
        char *envp[] = {"RAMP_URL=http://x", "RAMP_TOKEN=secret",
            "RAMP_BOGUS=1", "RAMP_PORTX=5", "RAMP_=1", "RAMP_DATA_DIR=/d",
            "XRAMP_PORT=6", "ramp_port=7", "RAMP_port=8", "PORT=9", NULL};

        assert_int_equal(load(&c, NULL, envp, NULL), RAMP_OK);
        assert_int_equal(rp_cfg_int(&c, "port"), 7400);
        assert_string_equal(rp_cfg_str(&c, "data-dir"), "/d");
    }
    {
        char *argv[] = {"--data-dir=/d", NULL};

        write_conf("port = 1\nbogus = 2\n");
        assert_int_equal(load(&c, cfgpath, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "ramp.conf:2: unknown setting 'bogus'");
        write_conf("data_dir = /x\n");
        assert_int_equal(load(&c, cfgpath, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "ramp.conf:1: unknown setting 'data_dir'");
    }
    rp_cfg_fini(&c);
}

static void
test_cfg_required(void **state)
{
    struct rp_cfg c;
    char *argv[] = {"--port=1", NULL};

    (void) state;
    init(&c);
    assert_int_equal(load(&c, NULL, NULL, argv), RAMP_EINVAL);
    assert_err_has(&c, "setting 'data-dir' is required");
    assert_null(rp_cfg_str(&c, "data-dir"));
    assert_int_equal(rp_cfg_int(&c, "port"), 7400); /* nothing applied */
    {
        char *envp[] = {"RAMP_DATA_DIR=/e", NULL};

        assert_int_equal(load(&c, NULL, envp, argv), RAMP_OK);
        assert_string_equal(rp_cfg_str(&c, "data-dir"), "/e");
    }
    write_conf("data-dir = /f\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_OK);
    assert_string_equal(rp_cfg_str(&c, "data-dir"), "/f");
    rp_cfg_fini(&c);
}

static void
test_cfg_file_syntax(void **state)
{
    struct rp_cfg c;

    (void) state;
    init(&c);
    write_conf("# a comment\n"
               "\n"
               "   \t\n"
               "  # indented comment\n"
               "\tdata-dir\t=\t/srv/ramp  \n"
               "name=\"  spaced \\\"quoted\\\" back\\\\slash  \"\n"
               "port = 1\n"
               "port = 2\n" /* later line wins */
               "timeout = 3s # not a comment: values run to the end\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:9: setting 'timeout'");

    write_conf("# a comment\n"
               "\n"
               "   \t\n"
               "  # indented comment\n"
               "\tdata-dir\t=\t/srv/ramp  \n"
               "name=\"  spaced \\\"quoted\\\" back\\\\slash  \"\n"
               "port = 1\n"
               "port = 2\n"
               "verbose = YES\r\n" /* CRLF */
               "cache-size = 4k"); /* no final newline */
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_OK);
    assert_string_equal(rp_cfg_str(&c, "data-dir"), "/srv/ramp");
    assert_string_equal(
        rp_cfg_str(&c, "name"), "  spaced \"quoted\" back\\slash  ");
    assert_int_equal(rp_cfg_int(&c, "port"), 2);
    assert_true(rp_cfg_bool(&c, "verbose"));
    assert_int_equal(rp_cfg_int(&c, "cache-size"), 4096);
    assert_int_equal(c.vals[I_CACHE].src, RP_CFG_SRC_FILE);

    write_conf("data-dir = /x\nname =\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_OK);
    assert_string_equal(rp_cfg_str(&c, "name"), "");
    write_conf("data-dir = /x\nname = \"\"\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_OK);
    assert_string_equal(rp_cfg_str(&c, "name"), "");
    write_conf("data-dir = /x\nname = a = b\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_OK);
    assert_string_equal(rp_cfg_str(&c, "name"), "a = b");
    write_conf("");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "'data-dir' is required");

    /* Syntax errors, each with its line. */
    write_conf("data-dir = /x\nname = \"open\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:2: setting 'name': unterminated");
    write_conf("data-dir = /x\n\nname = \"a\\nb\"\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:3: setting 'name': bad escape");
    write_conf("name = \"a\" b\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:1: setting 'name': text after the "
                       "closing quote");
    write_conf("data-dir = /x\nport 5\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:2: expected 'name = value'");
    write_conf("= 5\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:1: expected 'name = value'");
    /* Quotes count only at the start of the value. */
    write_conf("data-dir = /x\nname = a\"b\n");
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_OK);
    assert_string_equal(rp_cfg_str(&c, "name"), "a\"b");
    rp_cfg_fini(&c);
}

static void
test_cfg_file_errors(void **state)
{
    static char big[RP_CFG_FILE_MAX + 2];
    char path[160];
    struct rp_cfg c;
    size_t off;

    (void) state;
    init(&c);

    /* Missing, or a directory: unreadable. */
    snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
    assert_int_equal(load(&c, path, NULL, NULL), RAMP_EIO);
    assert_err_has(&c, "file ");
    assert_err_has(&c, "missing.conf: cannot open");
    assert_int_equal(load(&c, tmpdir, NULL, NULL), RAMP_EIO);
    assert_err_has(&c, tmpdir);

    /* Exactly RP_CFG_FILE_MAX bytes of comments: fine; one more: not. */
    big[0] = '\0';
    off = 0;
    memcpy(big, "data-dir = /x\n", 14);
    off = 14;
    while (off < RP_CFG_FILE_MAX) {
        size_t n = RP_CFG_FILE_MAX - off < 100 ? RP_CFG_FILE_MAX - off : 100;

        memset(big + off, '#', n);
        big[off + n - 1] = '\n';
        off += n;
    }
    write_file(cfgpath, big, RP_CFG_FILE_MAX);
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_OK);
    big[RP_CFG_FILE_MAX] = '#';
    write_file(cfgpath, big, RP_CFG_FILE_MAX + 1);
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_ETOOBIG);
    assert_err_has(&c, "ramp.conf: larger than 1048576 bytes");

    /* A NUL byte, reported with its line. */
    write_file(cfgpath, "data-dir = /x\n# ok\nname = a\0b\nport = 1\n", 38);
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:3: NUL byte");

    /* A line of exactly RP_CFG_VAL_MAX bytes is fine; one more is not. */
    memcpy(big, "data-dir = /x\nname = ", 21);
    memset(big + 21, 'v', RP_CFG_VAL_MAX - 7);
    big[14 + RP_CFG_VAL_MAX] = '\n';
    write_file(cfgpath, big, 14 + RP_CFG_VAL_MAX + 1);
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_OK);
    assert_int_equal(strlen(rp_cfg_str(&c, "name")), RP_CFG_VAL_MAX - 7);
    memcpy(big, "data-dir = /x\nname = ", 21);
    memset(big + 21, 'v', RP_CFG_VAL_MAX - 6);
    big[14 + RP_CFG_VAL_MAX + 1] = '\n';
    write_file(cfgpath, big, 14 + RP_CFG_VAL_MAX + 2);
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:2: line longer than 1024 bytes");
    /* Comment lines are bounded too. */
    memset(big, '#', RP_CFG_VAL_MAX + 1);
    write_file(cfgpath, big, RP_CFG_VAL_MAX + 1);
    assert_int_equal(load(&c, cfgpath, NULL, NULL), RAMP_EINVAL);
    assert_err_has(&c, "ramp.conf:1: line longer");

    /* None of the failures touched the last good load. */
    assert_int_equal(strlen(rp_cfg_str(&c, "name")), RP_CFG_VAL_MAX - 7);
    rp_cfg_fini(&c);
}

static void
test_cfg_config_flag(void **state)
{
    char other[160];
    struct rp_cfg c;

    (void) state;
    snprintf(other, sizeof(other), "%s/other.conf", tmpdir);
    write_conf("data-dir = /main\nport = 1\n");
    write_file(other, "data-dir = /other\n", 18);
    init(&c);
    {
        /* --config PATH overrides the path argument. */
        char *argv[] = {"--config", other, NULL};

        assert_int_equal(load(&c, cfgpath, NULL, argv), RAMP_OK);
        assert_string_equal(rp_cfg_str(&c, "data-dir"), "/other");
        assert_int_equal(rp_cfg_int(&c, "port"), 7400);
    }
    {
        char arg[200];
        char *argv[] = {arg, "--port=5", NULL};

        snprintf(arg, sizeof(arg), "--config=%s", cfgpath);
        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_OK);
        assert_string_equal(rp_cfg_str(&c, "data-dir"), "/main");
        assert_int_equal(rp_cfg_int(&c, "port"), 5);
        assert_int_equal(c.vals[I_DATA_DIR].src, RP_CFG_SRC_FILE);
    }
    {
        /* Flags outrank the file whatever their order in argv. */
        char *argv[] = {"--port=6", "--config", cfgpath, NULL};

        assert_int_equal(load(&c, NULL, NULL, argv), RAMP_OK);
        assert_int_equal(rp_cfg_int(&c, "port"), 6);
    }
    {
        char *argv[] = {"--config", NULL};

        assert_int_equal(load(&c, cfgpath, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "flag --config needs a value");
    }
    {
        char *argv[] = {"--config=", NULL};

        assert_int_equal(load(&c, cfgpath, NULL, argv), RAMP_EINVAL);
        assert_err_has(&c, "--config: empty path");
    }
    {
        char *argv[] = {"--config=/nonexistent/ramp.conf", NULL};

        assert_int_equal(load(&c, cfgpath, NULL, argv), RAMP_EIO);
        assert_err_has(&c, "/nonexistent/ramp.conf");
    }
    rp_cfg_fini(&c);
    unlink(other);
}

/* A failed load, from any source, leaves every value as it was. */
static void
test_cfg_atomic(void **state)
{
    char *good_argv[] = {"--port=1001", "--verbose", NULL};
    char *good_env[] = {"RAMP_DATA_DIR=/good", "RAMP_NAME=good", NULL};
    struct rp_cfg c;
    const char *name_before;

    (void) state;
    write_conf("timeout = 7s\n");
    init(&c);
    assert_int_equal(load(&c, cfgpath, good_env, good_argv), RAMP_OK);
    name_before = rp_cfg_str(&c, "name");

    {
        /* Bad file after good earlier settings. */
        char *argv[] = {"--port=2", NULL};

        write_conf("timeout = 8s\nport = 3\nnope = 1\n");
        assert_int_equal(load(&c, cfgpath, good_env, argv), RAMP_EINVAL);
    }
    {
        char *env[] = {"RAMP_DATA_DIR=/bad", "RAMP_PORT=0", NULL};

        write_conf("timeout = 8s\n");
        assert_int_equal(load(&c, cfgpath, env, NULL), RAMP_EINVAL);
        assert_err_has(&c, "environment RAMP_PORT");
    }
    {
        char *argv[] = {"--name=new", "--timeout=1d", NULL};

        assert_int_equal(load(&c, cfgpath, good_env, argv), RAMP_EINVAL);
    }
    {
        char *argv[] = {"--name=new", "positional", NULL};

        assert_int_equal(load(&c, cfgpath, good_env, argv), RAMP_EINVAL);
        assert_err_has(&c, "unexpected argument 'positional'");
    }
    assert_int_equal(rp_cfg_int(&c, "port"), 1001);
    assert_true(rp_cfg_bool(&c, "verbose"));
    assert_int_equal(rp_cfg_int(&c, "timeout"), 7000);
    assert_string_equal(rp_cfg_str(&c, "data-dir"), "/good");
    assert_ptr_equal(rp_cfg_str(&c, "name"), name_before);
    assert_string_equal(name_before, "good");
    assert_int_equal(c.vals[I_TIMEOUT].src, RP_CFG_SRC_FILE);
    assert_int_equal(c.vals[I_PORT].src, RP_CFG_SRC_FLAG);
    rp_cfg_fini(&c);
}

/* Fail allocation 1, 2, ... until the load succeeds: every failure is
 * RAMP_ENOMEM, leaves the old values and leaks nothing. */
static void
test_cfg_oom(void **state)
{
    char *argv[] = {"--port=1001", "pos", "--verbose", NULL};
    char *env[] = {"RAMP_DATA_DIR=/e", NULL};
    char **rest = NULL;
    int nrest = -1;
    struct rp_cfg c;
    int n;

    (void) state;
    write_conf("timeout = 7s\nname = file\n");
    init(&c);
    for (n = 1;; n++) {
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = rp_cfg_load(&c, cfgpath, env, 3, argv, &rest, &nrest);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_int_equal(nrest, -1);
        assert_int_equal(rp_cfg_int(&c, "port"), 7400);
        assert_string_equal(rp_cfg_str(&c, "name"), "dflt");
        assert_null(rp_cfg_str(&c, "data-dir"));
        assert_string_equal(argv[1], "pos"); /* argv not permuted */
    }
    assert_true(n > 5);
    assert_int_equal(rp_cfg_int(&c, "port"), 1001);
    assert_int_equal(nrest, 1);
    assert_string_equal(rest[0], "pos");
    rp_cfg_fini(&c);

    /* init too. */
    for (n = 1;; n++) {
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = rp_cfg_init(&c, defs, I_NDEFS);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            break;
        }
        assert_int_equal(rv, RAMP_ENOMEM);
        assert_int_equal(rp_alloc_outstanding(), 0);
    }
    rp_cfg_fini(&c);
}

static void
test_cfg_positional(void **state)
{
    char *argv[] = {"a", "--port", "9", "b", "--verbose", "c", "-", "--",
        "--name=x", "d", NULL};
    char **rest = NULL;
    int nrest = 0;
    char *env[] = {"RAMP_DATA_DIR=/e", NULL};
    struct rp_cfg c;

    (void) state;
    init(&c);
    assert_int_equal(
        rp_cfg_load(&c, NULL, env, 10, argv, &rest, &nrest), RAMP_OK);
    /* A bool flag does not swallow "c"; after "--" nothing is a flag. */
    assert_int_equal(nrest, 6);
    assert_ptr_equal(rest, argv + 4);
    assert_string_equal(rest[0], "a");
    assert_string_equal(rest[1], "b");
    assert_string_equal(rest[2], "c");
    assert_string_equal(rest[3], "-");
    assert_string_equal(rest[4], "--name=x");
    assert_string_equal(rest[5], "d");
    /* Options first, in their order. */
    assert_string_equal(argv[0], "--port");
    assert_string_equal(argv[1], "9");
    assert_string_equal(argv[2], "--verbose");
    assert_string_equal(argv[3], "--");
    assert_int_equal(rp_cfg_int(&c, "port"), 9);
    assert_true(rp_cfg_bool(&c, "verbose"));
    assert_string_equal(rp_cfg_str(&c, "name"), "dflt");

    /* No positionals: rest is empty. */
    {
        char *argv2[] = {"--port=3", NULL};

        nrest = 99;
        assert_int_equal(
            rp_cfg_load(&c, NULL, env, 1, argv2, &rest, &nrest), RAMP_OK);
        assert_int_equal(nrest, 0);
        assert_ptr_equal(rest, argv2 + 1);
        assert_int_equal(
            rp_cfg_load(&c, NULL, env, 0, NULL, &rest, &nrest), RAMP_OK);
        assert_int_equal(nrest, 0);
    }
    /* rest == NULL: a positional is an error, even after "--". */
    {
        char *argv3[] = {"--", "x", NULL};

        assert_int_equal(
            rp_cfg_load(&c, NULL, env, 2, argv3, NULL, NULL), RAMP_EINVAL);
        assert_err_has(&c, "unexpected argument 'x'");
    }
    rp_cfg_fini(&c);
}

static void
test_cfg_environ_default(void **state)
{
    struct rp_cfg c;

    (void) state;
    /* envp == NULL reads the process environment. */
    assert_int_equal(setenv("RAMP_DATA_DIR", "/from-environ", 1), 0);
    assert_int_equal(setenv("RAMP_PORT", "4242", 1), 0);
    init(&c);
    assert_int_equal(rp_cfg_load(&c, NULL, NULL, 0, NULL, NULL, NULL), RAMP_OK);
    unsetenv("RAMP_DATA_DIR");
    unsetenv("RAMP_PORT");
    assert_string_equal(rp_cfg_str(&c, "data-dir"), "/from-environ");
    assert_int_equal(rp_cfg_int(&c, "port"), 4242);
    assert_int_equal(c.vals[I_PORT].src, RP_CFG_SRC_ENV);
    rp_cfg_fini(&c);
}

/* Run fn in a child; it must die of SIGABRT. */
static void
assert_aborts(void (*fn)(const struct rp_cfg *), const struct rp_cfg *c)
{
    pid_t pid;
    int status = 0;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);

        if (fd >= 0) {
            dup2(fd, STDERR_FILENO);
        }
        fn(c);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void
lookup_unknown_str(const struct rp_cfg *c)
{
    (void) rp_cfg_str(c, "no-such-setting");
}

static void
lookup_unknown_int(const struct rp_cfg *c)
{
    (void) rp_cfg_int(c, "prot");
}

static void
lookup_unknown_bool(const struct rp_cfg *c)
{
    (void) rp_cfg_bool(c, "");
}

static void
lookup_wrong_type(const struct rp_cfg *c)
{
    (void) rp_cfg_bool(c, "port");
}

static void
test_cfg_lookup_programming_errors(void **state)
{
    struct rp_cfg c;

    (void) state;
    init(&c);
    assert_aborts(lookup_unknown_str, &c);
    assert_aborts(lookup_unknown_int, &c);
    assert_aborts(lookup_unknown_bool, &c);
    assert_aborts(lookup_wrong_type, &c);
    /* rp_cfg_str works for every type: the text as given. */
    assert_string_equal(rp_cfg_str(&c, "port"), "7400");
    assert_string_equal(rp_cfg_str(&c, "verbose"), "false");
    rp_cfg_fini(&c);
}

#define T(fn) cmocka_unit_test_teardown(fn, cfg_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_cfg_init_defaults),
        T(test_cfg_init_bad_table),
        T(test_cfg_precedence),
        T(test_cfg_precedence_all_types),
        T(test_parse_int),
        T(test_parse_size),
        T(test_parse_duration),
        T(test_parse_bool),
        T(test_cfg_type_bounds),
        T(test_cfg_value_messages),
        T(test_cfg_str_and_path),
        T(test_cfg_flag_forms),
        T(test_cfg_unknown_names),
        T(test_cfg_required),
        T(test_cfg_file_syntax),
        T(test_cfg_file_errors),
        T(test_cfg_config_flag),
        T(test_cfg_atomic),
        T(test_cfg_oom),
        T(test_cfg_positional),
        T(test_cfg_environ_default),
        T(test_cfg_lookup_programming_errors),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
