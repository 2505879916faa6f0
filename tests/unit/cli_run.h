/* SPDX-License-Identifier: MIT */
/*
 * What the in-process CLI suites (test_cli.c, test_cli_rollout.c,
 * test_cli_eval.c) share: cli_main() run with an argv built from a
 * NULL-ended list and its output captured by open_memstream(), a
 * printer's output captured for a JSON text, and a loopback TCP socket on
 * an ephemeral port. Environments are envp arrays, so the user's own
 * config file and RAMP_* variables never leak in. Include after
 * <cmocka.h>; everything is static inline (testutil.h's rule), so a suite
 * that uses part of it draws no unused-function warning.
 */
#ifndef RAMP_CLI_RUN_H
#define RAMP_CLI_RUN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "cli.h"

/* Nothing listens on port 1 of loopback, and no test needs it to. */
static char *env_default[] __attribute__((unused)) = {
    "HOME=/nonexistent-ramp-test", "RAMP_URL=http://127.0.0.1:1",
    "RAMP_TIMEOUT=2s", NULL};

struct run {
    char *out;
    size_t outlen;
    char *err;
    size_t errlen;
    int rc;
};

static inline void
run_fini(struct run *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof(*r));
}

/* Run `ramp [first] args... [last]` (args NULL-terminated; first and
 * last NULL for none) with envp. */
static inline int
run_cmd(struct run *r, char **envp, const char *first,
    const char *const *args, const char *last)
{
    char *argv[64];
    int argc = 0;
    FILE *out, *err;

    memset(r, 0, sizeof(*r));
    argv[argc++] = "ramp";
    if (first != NULL) {
        argv[argc++] = (char *) first;
    }
    for (; *args != NULL; args++) {
        assert_true(argc < 62);
        argv[argc++] = (char *) *args;
    }
    if (last != NULL) {
        argv[argc++] = (char *) last;
    }
    argv[argc] = NULL;
    out = open_memstream(&r->out, &r->outlen);
    err = open_memstream(&r->err, &r->errlen);
    assert_non_null(out);
    assert_non_null(err);
    r->rc = cli_main(argc, argv, envp, out, err);
    fclose(out);
    fclose(err);
    return r->rc;
}

/* Run `ramp args...` (NULL-terminated) with envp. */
static inline int
run_envv(struct run *r, char **envp, const char *const *args)
{
    return run_cmd(r, envp, NULL, args, NULL);
}

#define RUN(r, ...)                                                            \
    run_envv((r), env_default, (const char *const[]){__VA_ARGS__, NULL})
#define RUN_ENV(r, env, ...)                                                   \
    run_envv((r), (env), (const char *const[]){__VA_ARGS__, NULL})

/* What fn prints for the JSON text (or its member, if not NULL); free()
 * the result. */
static inline char *
capture_json(
    void (*fn)(FILE *, const json_t *), const char *text, const char *member)
{
    json_t *j = json_loads(text, 0, NULL);
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);

    assert_non_null(j);
    assert_non_null(f);
    fn(f, member != NULL ? json_object_get(j, member) : j);
    fclose(f);
    json_decref(j);
    return s;
}

/* A loopback TCP socket bound to an ephemeral port (*port), listening
 * with that backlog, or not listening for backlog 0. */
static inline int
tcp_socket(int backlog, int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &len), 0);
    *port = ntohs(sa.sin_port);
    if (backlog > 0) {
        assert_int_equal(listen(fd, backlog), 0);
    }
    return fd;
}

#endif
