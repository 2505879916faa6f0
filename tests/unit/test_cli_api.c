/* SPDX-License-Identifier: MIT */
/*
 * The `ramp` binary against the real controller API: the controller's
 * store, publisher and HTTP API run in this process on a temporary
 * directory and an ephemeral loopback port, and every step runs the
 * built `ramp` executable as a child process with RAMP_URL/RAMP_TOKEN in
 * its environment. Checks each command's exit code and output, and that
 * a refused request (stale version, missing flag, bad token, viewer
 * write) changed nothing.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api.h"
#include "envelope.h"
#include "pub.h"
#include "store.h"
#include "testutil.h"

struct fx {
    char dir[64];
    char outp[128], errp[128], filep[128];
    struct ctl_store *st;
    struct ctl_pub *pub;
    struct ctl_api *api;
    struct rp_keypair kp;
    int port;
    char admin[CTL_TOKEN_STRLEN];
};

struct run {
    int rc;
    char *out;
    char *err;
};

static struct fx fx;

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    s = calloc(1, (size_t) n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, (size_t) n, f), (size_t) n);
    fclose(f);
    return s;
}

static void
run_fini(struct run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

/* Run the ramp binary with args (NULL-terminated) and token (NULL: no
 * RAMP_TOKEN at all). */
static int
ramp_tok(struct run *r, const char *token, const char *const *args)
{
    char url[64], tok[128];
    char *argv[32];
    char *envp[5];
    posix_spawn_file_actions_t fa;
    int argc = 0, envc = 0;
    int status;
    pid_t pid;

    argv[argc++] = RAMP_CLI_BIN;
    for (; *args != NULL; args++) {
        argv[argc++] = (char *) *args;
    }
    argv[argc] = NULL;
    snprintf(url, sizeof(url), "RAMP_URL=http://127.0.0.1:%d", fx.port);
    envp[envc++] = "HOME=/nonexistent-ramp-test";
    envp[envc++] = url;
    envp[envc++] = "RAMP_TIMEOUT=30s";
    if (token != NULL) {
        snprintf(tok, sizeof(tok), "RAMP_TOKEN=%s", token);
        envp[envc++] = tok;
    }
    envp[envc] = NULL;
    assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
    assert_int_equal(posix_spawn_file_actions_addopen(
                         &fa, 0, fx.filep, O_RDONLY | O_CREAT, 0600),
        0);
    assert_int_equal(posix_spawn_file_actions_addopen(
                         &fa, 1, fx.outp, O_WRONLY | O_CREAT | O_TRUNC, 0600),
        0);
    assert_int_equal(posix_spawn_file_actions_addopen(
                         &fa, 2, fx.errp, O_WRONLY | O_CREAT | O_TRUNC, 0600),
        0);
    assert_int_equal(posix_spawn(&pid, RAMP_CLI_BIN, &fa, NULL, argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    r->rc = WEXITSTATUS(status);
    r->out = slurp(fx.outp);
    r->err = slurp(fx.errp);
    return r->rc;
}

#define RAMP(r, ...)                                                           \
    ramp_tok((r), fx.admin, (const char *const[]){__VA_ARGS__, NULL})
#define RAMP_T(r, tok, ...)                                                    \
    ramp_tok((r), (tok), (const char *const[]){__VA_ARGS__, NULL})

static int
setup(void **state)
{
    struct ctl_store_opts so = {0};
    struct ctl_pub_opts po = {0};
    struct ctl_api_opts ao = {0};
    char puburl[128];

    (void) state;
    memset(&fx, 0, sizeof(fx));
    snprintf(fx.dir, sizeof(fx.dir), "/tmp/ramp-cli-api-XXXXXX");
    assert_non_null(mkdtemp(fx.dir));
    snprintf(fx.outp, sizeof(fx.outp), "%s/out", fx.dir);
    snprintf(fx.errp, sizeof(fx.errp), "%s/err", fx.dir);
    snprintf(fx.filep, sizeof(fx.filep), "%s/in.json", fx.dir);
    so.path = fx.dir;
    assert_int_equal(ctl_store_open(&so, &fx.st), RAMP_OK);
    assert_int_equal(rp_key_generate(&fx.kp), RAMP_OK);
    snprintf(puburl, sizeof(puburl), "ipc://%s/pub.sock", fx.dir);
    po.url = puburl;
    po.heartbeat_ms = 1000;
    assert_int_equal(ctl_pub_open(&po, fx.st, &fx.kp, &fx.pub), RAMP_OK);
    ao.url = "http://127.0.0.1:0";
    assert_int_equal(ctl_api_open(&ao, fx.st, fx.pub, &fx.api), RAMP_OK);
    fx.port = ctl_api_port(fx.api);
    assert_true(fx.port > 0);
    assert_int_equal(ctl_store_token_create(
                         fx.st, "root", CTL_ROLE_ADMIN, "test", 1, fx.admin),
        RAMP_OK);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    ctl_api_close(fx.api);
    ctl_pub_close(fx.pub);
    ctl_store_close(fx.st);
    rm_dir(fx.dir);
    return 0;
}

static json_t *
out_json(const struct run *r)
{
    json_t *j = json_loads(r->out, 0, NULL);

    assert_non_null(j);
    return j;
}

static int64_t
flag_version(const char *key)
{
    struct run r;
    json_t *j;
    int64_t v;

    assert_int_equal(RAMP(&r, "flag", "get", key, "--json"), 0);
    j = out_json(&r);
    v = json_integer_value(json_object_get(j, "version"));
    json_decref(j);
    run_fini(&r);
    return v;
}

static void
test_flag_lifecycle(void **state)
{
    struct run r;
    json_t *j;
    FILE *f;

    (void) state;
    assert_int_equal(RAMP(&r, "flag", "create", "dark-mode", "--type", "bool",
                         "--description", "Dark UI"),
        0);
    assert_non_null(strstr(r.out, "key:             dark-mode\n"));
    assert_non_null(strstr(r.out, "enabled:         no\n"));
    assert_non_null(strstr(r.out, "version:         1\n"));
    assert_non_null(strstr(r.out, "description:     Dark UI\n"));
    run_fini(&r);

    /* The key exists: 409 -> 4. */
    assert_int_equal(
        RAMP(&r, "flag", "create", "dark-mode", "--type", "bool"), 4);
    assert_int_equal(strncmp(r.err, "error: ", 7), 0);
    run_fini(&r);

    assert_int_equal(RAMP(&r, "flag", "create", "banner", "--type", "string",
                         "--variant", "a=Hello", "--variant", "b=Hi",
                         "--default-variant", "a", "--enabled"),
        0);
    run_fini(&r);

    assert_int_equal(RAMP(&r, "flag", "get", "banner", "--json"), 0);
    j = out_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "key")), "banner");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(j, "variants"), "a")),
        "Hello");
    assert_true(json_is_true(json_object_get(j, "enabled")));
    json_decref(j);
    run_fini(&r);

    assert_int_equal(RAMP(&r, "flag", "list"), 0);
    assert_string_equal(r.out, "KEY        TYPE    ENABLED  VERSION  DEFAULT\n"
                               "banner     string  yes      1        a\n"
                               "dark-mode  bool    no       1        off\n");
    run_fini(&r);

    /* One page of one, and where to continue. */
    assert_int_equal(RAMP(&r, "flag", "list", "--json", "--limit", "1"), 0);
    j = out_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "flags")), 1);
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_object_get(j, "flags"), 0), "key")),
        "banner");
    assert_string_equal(
        json_string_value(json_object_get(j, "next")), "banner");
    json_decref(j);
    run_fini(&r);
    assert_int_equal(
        RAMP(&r, "flag", "list", "--json", "--after", "banner"), 0);
    j = out_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "flags")), 1);
    assert_true(json_is_null(json_object_get(j, "next")));
    json_decref(j);
    run_fini(&r);
    assert_int_equal(RAMP(&r, "flag", "list", "--prefix", "dark"), 0);
    assert_string_equal(r.out, "KEY        TYPE  ENABLED  VERSION  DEFAULT\n"
                               "dark-mode  bool  no       1        off\n");
    run_fini(&r);

    /* PATCH with the current version, then with a stale one: 412 -> 4
     * and nothing changes. */
    assert_int_equal(RAMP(&r, "flag", "set", "banner", "--default-variant", "b",
                         "--if-version", "1"),
        0);
    assert_non_null(strstr(r.out, "default_variant: b\n"));
    assert_non_null(strstr(r.out, "version:         2\n"));
    run_fini(&r);
    assert_int_equal(RAMP(&r, "flag", "set", "banner", "--default-variant", "a",
                         "--if-version", "1"),
        4);
    run_fini(&r);
    assert_int_equal(flag_version("banner"), 2);

    /* PUT from an edited GET body: its version is the If-Match. */
    assert_int_equal(RAMP(&r, "flag", "get", "banner", "--json"), 0);
    j = out_json(&r);
    run_fini(&r);
    json_object_set_new(j, "description", json_string("edited"));
    json_object_set_new(j, "version", json_integer(1)); /* stale */
    f = fopen(fx.filep, "w");
    assert_non_null(f);
    assert_int_equal(json_dumpf(j, f, 0), 0);
    fclose(f);
    assert_int_equal(RAMP(&r, "flag", "set", "banner", "--file", fx.filep), 4);
    run_fini(&r);
    assert_int_equal(flag_version("banner"), 2);
    json_object_set_new(j, "version", json_integer(2));
    f = fopen(fx.filep, "w");
    assert_non_null(f);
    assert_int_equal(json_dumpf(j, f, 0), 0);
    fclose(f);
    json_decref(j);
    assert_int_equal(RAMP(&r, "flag", "set", "banner", "--file", fx.filep), 0);
    assert_non_null(strstr(r.out, "description:     edited\n"));
    assert_non_null(strstr(r.out, "version:         3\n"));
    run_fini(&r);

    /* A validation error from the server names the field: 400 -> 1. */
    assert_int_equal(RAMP(&r, "flag", "set", "banner", "--patch",
                         "{\"rules\":[{\"variant\":\"nope\"}]}"),
        1);
    assert_int_equal(strncmp(r.err, "error: ", 7), 0);
    assert_non_null(strstr(r.err, "(field: rules[0]"));
    run_fini(&r);
    assert_int_equal(flag_version("banner"), 3);

    /* The kill switch. */
    assert_int_equal(RAMP(&r, "flag", "enable", "dark-mode"), 0);
    assert_non_null(strstr(r.out, "enabled:         yes\n"));
    run_fini(&r);
    assert_int_equal(RAMP(&r, "flag", "disable", "dark-mode", "--json"), 0);
    j = out_json(&r);
    assert_true(json_is_false(json_object_get(j, "enabled")));
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 3);
    json_decref(j);
    run_fini(&r);

    /* Missing flags: 404 -> 3. */
    assert_int_equal(RAMP(&r, "flag", "get", "missing"), 3);
    run_fini(&r);
    assert_int_equal(RAMP(&r, "flag", "enable", "missing"), 3);
    run_fini(&r);
    assert_int_equal(RAMP(&r, "flag", "delete", "missing"), 3);
    run_fini(&r);

    assert_int_equal(RAMP(&r, "flag", "delete", "banner"), 0);
    assert_string_equal(r.out, "deleted flag banner\n");
    run_fini(&r);
    assert_int_equal(RAMP(&r, "flag", "get", "banner"), 3);
    run_fini(&r);

    /* The audit log has dark-mode's create, enable and disable. */
    assert_int_equal(RAMP(&r, "audit", "--flag", "dark-mode", "--json"), 0);
    j = out_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "entries")), 3);
    json_decref(j);
    run_fini(&r);
    assert_int_equal(RAMP(&r, "audit", "--flag", "dark-mode"), 0);
    assert_int_equal(strncmp(r.out, "ID  TIME", 8), 0);
    run_fini(&r);
}

static void
test_tokens(void **state)
{
    char viewer[CTL_TOKEN_STRLEN];
    struct run r;
    char *p;

    (void) state;
    assert_int_equal(
        RAMP(&r, "token", "create", "--name", "ci", "--role", "viewer"), 0);
    p = strstr(r.out, "token: ");
    assert_non_null(p);
    assert_int_equal(strncmp(p + 7, "rmp_", 4), 0);
    snprintf(viewer, sizeof(viewer), "%.*s", (int) strcspn(p + 7, "\n"), p + 7);
    run_fini(&r);

    /* A viewer reads but may not write: 403 -> 5, nothing created. */
    assert_int_equal(RAMP_T(&r, viewer, "flag", "list"), 0);
    run_fini(&r);
    assert_int_equal(
        RAMP_T(&r, viewer, "flag", "create", "x", "--type", "bool"), 5);
    run_fini(&r);
    assert_int_equal(RAMP(&r, "flag", "get", "x"), 3);
    run_fini(&r);

    /* Unknown and absent tokens: 401 -> 5; the token is not printed. */
    assert_int_equal(RAMP_T(&r, "rmp_bogus-token-text", "flag", "list"), 5);
    assert_null(strstr(r.err, "rmp_bogus-token-text"));
    run_fini(&r);
    assert_int_equal(RAMP_T(&r, NULL, "flag", "list"), 5);
    assert_non_null(strstr(r.err, "hint: no token set"));
    run_fini(&r);

    assert_int_equal(RAMP(&r, "token", "list"), 0);
    assert_non_null(strstr(r.out, "\nci "));
    run_fini(&r);
    assert_int_equal(RAMP(&r, "token", "revoke", "ci"), 0);
    assert_string_equal(r.out, "revoked token ci\n");
    run_fini(&r);
    assert_int_equal(RAMP_T(&r, viewer, "flag", "list"), 5);
    run_fini(&r);
    assert_int_equal(RAMP(&r, "token", "revoke", "nobody"), 3);
    run_fini(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flag_lifecycle),
        cmocka_unit_test(test_tokens),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
