/* SPDX-License-Identifier: MIT */
/*
 * ramp-controller's config table against deploy/controller.conf.example,
 * the derived HTTP URL, and the sub-commands run in-process (keygen,
 * token create/list/revoke, migrate) with their exit codes and stdout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "envelope.h"
#include "store.h"
#include "testutil.h"

static char tmpdir[200];

static int
setup(void **state)
{
    (void) state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ramp-ctlcfg-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown(void **state)
{
    char p[240];

    (void) state;
    snprintf(p, sizeof(p), "%s/db", tmpdir);
    rm_dir(p);
    rm_dir(tmpdir);
    return 0;
}

static void
example_path(char *out, size_t n)
{
    const char *data = getenv("RAMP_TEST_DATA");

    assert_non_null(data);
    snprintf(out, n, "%s/../../deploy/controller.conf.example", data);
}

/* Every row appears exactly once in the example with its default, and
 * the example names nothing else. */
static void
test_example_matches_table(void **state)
{
    char path[512], line[1024];
    int seen[64] = {0};
    FILE *f;

    (void) state;
    assert_true(ctl_cfg_ndefs < 64);
    example_path(path, sizeof(path));
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char name[128], val[512];
        size_t i;

        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        assert_int_equal(sscanf(line, "%127s = %511s", name, val), 2);
        for (i = 0; i < ctl_cfg_ndefs; i++) {
            if (strcmp(ctl_cfg_defs[i].name, name) == 0) {
                break;
            }
        }
        if (i == ctl_cfg_ndefs) {
            fail_msg("example names unknown setting %s", name);
        }
        assert_string_equal(val, ctl_cfg_defs[i].dflt);
        seen[i]++;
    }
    fclose(f);
    for (size_t i = 0; i < ctl_cfg_ndefs; i++) {
        if (seen[i] != 1) {
            fail_msg("setting %s appears %d times in the example",
                ctl_cfg_defs[i].name, seen[i]);
        }
    }
}

static void
test_load_example_and_precedence(void **state)
{
    char path[512], arg[600];
    char *argv[3];
    struct rp_cfg c;

    (void) state;
    example_path(path, sizeof(path));
    snprintf(arg, sizeof(arg), "--config=%s", path);
    argv[0] = arg;
    argv[1] = "--heartbeat-interval=250ms";
    argv[2] = NULL;
    assert_int_equal(rp_cfg_init(&c, ctl_cfg_defs, ctl_cfg_ndefs), RAMP_OK);
    assert_int_equal(ctl_config_load(&c, 2, argv), RAMP_OK);
    assert_int_equal(rp_cfg_int(&c, "heartbeat-interval"), 250);
    assert_int_equal(rp_cfg_int(&c, "max-body"), 1 << 20);
    assert_int_equal(rp_cfg_int(&c, "map-size"), 1 << 30);
    assert_string_equal(rp_cfg_str(&c, "pub-url"), "tcp://*:7400");
    assert_int_equal(c.vals[0].src, RP_CFG_SRC_FILE);

    /* A bad log level is refused and leaves the config as it was. */
    argv[0] = "--log-level=loud";
    assert_int_equal(ctl_config_load(&c, 1, argv), RAMP_EINVAL);
    assert_non_null(strstr(c.err, "log-level"));
    assert_int_equal(rp_cfg_int(&c, "heartbeat-interval"), 250);
    argv[0] = "--http-addr=7480";
    assert_int_equal(ctl_config_load(&c, 1, argv), RAMP_EINVAL);
    assert_non_null(strstr(c.err, "http-addr"));
    argv[0] = "--heartbeat-interval=10ms";
    assert_int_equal(ctl_config_load(&c, 1, argv), RAMP_EINVAL);
    argv[0] = "--no-such-setting=1";
    assert_int_equal(ctl_config_load(&c, 1, argv), RAMP_EINVAL);
    rp_cfg_fini(&c);
}

static void
test_http_url(void **state)
{
    char out[64];

    (void) state;
    assert_int_equal(ctl_http_url("0.0.0.0:7480", out, sizeof(out)), RAMP_OK);
    assert_string_equal(out, "http://0.0.0.0:7480");
    assert_int_equal(ctl_http_url("[::1]:80", out, sizeof(out)), RAMP_OK);
    assert_string_equal(out, "http://[::1]:80");
    assert_int_equal(ctl_http_url("localhost:0", out, sizeof(out)), RAMP_OK);
    assert_int_equal(ctl_http_url("7480", out, sizeof(out)), RAMP_EINVAL);
    assert_int_equal(ctl_http_url("host:", out, sizeof(out)), RAMP_EINVAL);
    assert_int_equal(ctl_http_url("host:7x", out, sizeof(out)), RAMP_EINVAL);
    assert_int_equal(ctl_http_url("::1:80", out, sizeof(out)), RAMP_EINVAL);
    assert_int_equal(ctl_http_url("h:99999", out, sizeof(out)), RAMP_EINVAL);
    assert_int_equal(ctl_http_url("a:1", out, 8), RAMP_ETOOBIG);
}

/* Run ctl_main with stdout captured into out (NUL-terminated). */
static int
run_main(char *out, size_t outsz, int argc, ...)
{
    char *argv[16];
    char path[512];
    va_list ap;
    int saved, fd, code;
    ssize_t n;

    assert_true(argc < 16);
    va_start(ap, argc);
    for (int i = 0; i < argc; i++) {
        argv[i] = va_arg(ap, char *);
    }
    va_end(ap);
    argv[argc] = NULL;
    snprintf(path, sizeof(path), "%s/stdout", tmpdir);
    fflush(stdout);
    saved = dup(1);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0 && saved >= 0);
    dup2(fd, 1);
    code = ctl_main(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    n = read(fd, out, outsz - 1);
    out[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
    return code;
}

static void
test_commands(void **state)
{
    char out[4096], key[512], pub[512], db[512], dbarg[600];
    struct rp_keypair kp;
    struct rp_pubkey pk;
    struct ctl_store_opts so = {0};
    struct ctl_store *st = NULL;
    struct ctl_token t;
    uint32_t schema = 0;
    size_t n;

    (void) state;
    snprintf(key, sizeof(key), "%s/ctl.key", tmpdir);
    snprintf(pub, sizeof(pub), "%s/ctl.key.pub", tmpdir);
    snprintf(db, sizeof(db), "%s/db", tmpdir);
    snprintf(dbarg, sizeof(dbarg), "--data-dir=%s", db);

    /* keygen: key + .pub, key id on stdout; refuses to overwrite. */
    assert_int_equal(run_main(out, sizeof(out), 4, "ramp-controller", "keygen",
                         "--out", key),
        CTL_EXIT_OK);
    assert_int_equal(rp_key_load(key, &kp), RAMP_OK);
    assert_int_equal(rp_pubkey_load(pub, &pk), RAMP_OK);
    assert_memory_equal(pk.pk, kp.pk, RP_PK_LEN);
    {
        char hex[17];

        rp_key_id_hex(kp.id, hex);
        assert_int_equal(strlen(out), 17);
        assert_memory_equal(out, hex, 16);
    }
    assert_int_equal(run_main(out, sizeof(out), 4, "ramp-controller", "keygen",
                         "--out", key),
        CTL_EXIT_RUNTIME);
    assert_int_equal(run_main(out, sizeof(out), 2, "ramp-controller", "keygen"),
        CTL_EXIT_USAGE);

    /* token create prints exactly the token, and it authenticates. */
    assert_int_equal(run_main(out, sizeof(out), 7, "ramp-controller", "token",
                         "create", "--name", "ci", "--role=operator", dbarg),
        CTL_EXIT_OK);
    n = strlen(out);
    assert_int_equal(n, CTL_TOKEN_STRLEN - 1 + 1);
    assert_int_equal(out[n - 1], '\n');
    out[n - 1] = '\0';
    so.path = db;
    assert_int_equal(ctl_store_open(&so, &st), RAMP_OK);
    assert_int_equal(ctl_store_token_lookup(st, out, &t), RAMP_OK);
    assert_string_equal(t.name, "ci");
    assert_int_equal(t.role, CTL_ROLE_OPERATOR);
    ctl_store_close(st);

    /* Usage errors: bad role, missing name, unknown command/setting. */
    assert_int_equal(run_main(out, sizeof(out), 7, "ramp-controller", "token",
                         "create", "--name", "x", "--role=root", dbarg),
        CTL_EXIT_USAGE);
    assert_string_equal(out, "");
    assert_int_equal(run_main(out, sizeof(out), 5, "ramp-controller", "token",
                         "create", "--role=admin", dbarg),
        CTL_EXIT_USAGE);
    assert_int_equal(run_main(out, sizeof(out), 7, "ramp-controller", "token",
                         "create", "--name", "bad name", "--role=admin", dbarg),
        CTL_EXIT_USAGE);
    assert_int_equal(
        run_main(out, sizeof(out), 2, "ramp-controller", "frobnicate"),
        CTL_EXIT_USAGE);
    assert_int_equal(
        run_main(out, sizeof(out), 3, "ramp-controller", "run", "--bogus=1"),
        CTL_EXIT_USAGE);
    /* The same live name again: a runtime refusal, not usage. */
    assert_int_equal(run_main(out, sizeof(out), 7, "ramp-controller", "token",
                         "create", "--name", "ci", "--role=viewer", dbarg),
        CTL_EXIT_RUNTIME);

    /* list, revoke, list again. */
    assert_int_equal(run_main(out, sizeof(out), 4, "ramp-controller", "token",
                         "list", dbarg),
        CTL_EXIT_OK);
    assert_non_null(strstr(out, "ci "));
    assert_non_null(strstr(out, "operator"));
    assert_non_null(strstr(out, "live"));
    assert_int_equal(run_main(out, sizeof(out), 6, "ramp-controller", "token",
                         "revoke", "--name", "ci", dbarg),
        CTL_EXIT_OK);
    assert_int_equal(run_main(out, sizeof(out), 4, "ramp-controller", "token",
                         "list", dbarg),
        CTL_EXIT_OK);
    assert_non_null(strstr(out, "revoked"));
    assert_int_equal(run_main(out, sizeof(out), 6, "ramp-controller", "token",
                         "revoke", "--name", "ci", dbarg),
        CTL_EXIT_RUNTIME);

    /* migrate down and up again. */
    assert_int_equal(run_main(out, sizeof(out), 5, "ramp-controller", "migrate",
                         "--to", "2", dbarg),
        CTL_EXIT_OK);
    assert_int_equal(ctl_store_schema(db, &schema), RAMP_OK);
    assert_int_equal(schema, 2);
    assert_int_equal(run_main(out, sizeof(out), 4, "ramp-controller", "migrate",
                         "--to=3", dbarg),
        CTL_EXIT_OK);
    assert_int_equal(ctl_store_schema(db, &schema), RAMP_OK);
    assert_int_equal(schema, 3);
    assert_int_equal(run_main(out, sizeof(out), 5, "ramp-controller", "migrate",
                         "--to", "9", dbarg),
        CTL_EXIT_USAGE);

    /* --help everywhere: exit 0 and text on stdout. */
    assert_int_equal(run_main(out, sizeof(out), 2, "ramp-controller", "--help"),
        CTL_EXIT_OK);
    assert_non_null(strstr(out, "Exit codes"));
    assert_int_equal(
        run_main(out, sizeof(out), 3, "ramp-controller", "run", "--help"),
        CTL_EXIT_OK);
    assert_non_null(strstr(out, "--heartbeat-interval"));
    assert_int_equal(
        run_main(out, sizeof(out), 3, "ramp-controller", "keygen", "--help"),
        CTL_EXIT_OK);
    assert_int_equal(run_main(out, sizeof(out), 4, "ramp-controller", "token",
                         "create", "--help"),
        CTL_EXIT_OK);
    assert_non_null(strstr(out, "token create"));
    assert_int_equal(
        run_main(out, sizeof(out), 3, "ramp-controller", "migrate", "--help"),
        CTL_EXIT_OK);
    unlink(key);
    unlink(pub);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_matches_table),
        cmocka_unit_test(test_load_example_and_precedence),
        cmocka_unit_test(test_http_url),
        cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
