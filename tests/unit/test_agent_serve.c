/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/serve.c over a real ipc socket and a real (empty or
 * one-flag) cache: the socket's directory and file modes, answers carry
 * the stale flag and seq, bad requests get an error status and are
 * counted, the address in use is reported as RAMP_EEXIST, and the socket
 * file is gone after stop. Not here: the query protocol's own cases
 * (test_query.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "cache.h"
#include "query.h"
#include "serve.h"
#include "stats.h"
#include "view.h"

struct fx {
    char dir[64];
    char sockdir[128];
    char sockpath[160];
    char url[192];
    struct agt_cache *c;
    struct agt_viewref *views;
    struct agt_stats stats;
    struct agt_serve *srv;
};

static struct fx *
fx_new(void)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct agt_view *v = NULL;
    struct agt_serve_opts o;

    memset(&o, 0, sizeof(o));

    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/ramp-serve-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->sockdir, sizeof(fx->sockdir), "%s/run", fx->dir);
    snprintf(fx->sockpath, sizeof(fx->sockpath), "%s/q.sock", fx->sockdir);
    snprintf(fx->url, sizeof(fx->url), "ipc://%s", fx->sockpath);
    assert_int_equal(agt_cache_open(fx->dir, 0, 0, &fx->c), RAMP_OK);
    assert_int_equal(agt_viewref_new(&fx->views), RAMP_OK);
    assert_int_equal(agt_view_load(fx->c, NULL, &v), RAMP_OK);
    agt_viewref_set(fx->views, v);
    agt_stats_init(&fx->stats);
    o.url = fx->url;
    o.socket_mode = 0600;
    o.workers = 4;
    o.host = "h1";
    assert_int_equal(
        agt_serve_start(&o, fx->views, &fx->stats, &fx->srv), RAMP_OK);
    return fx;
}

static void
fx_free(struct fx *fx)
{
    struct stat st;

    agt_serve_stop(fx->srv);
    /* nng removes the socket file when the listener closes */
    assert_int_equal(stat(fx->sockpath, &st), -1);
    agt_viewref_free(fx->views);
    agt_cache_close(fx->c);
    (void) rmdir(fx->sockdir);
    rm_dir(fx->dir);
    free(fx);
}

/* One round trip; returns the decoded reply (caller finis it). */
static void
ask(struct fx *fx, const void *req, size_t len, struct agt_query_rep *rep,
    void **raw, size_t *rawlen)
{
    nng_socket s;

    assert_int_equal(nng_req0_open(&s), 0);
    assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 10000), 0);
    assert_int_equal(nng_dial(s, fx->url, NULL, 0), 0);
    assert_int_equal(nng_send(s, (void *) req, len, 0), 0);
    assert_int_equal(nng_recv(s, raw, rawlen, NNG_FLAG_ALLOC), 0);
    assert_int_equal(agt_query_rep_decode(*raw, *rawlen, rep), RAMP_OK);
    nng_close(s);
}

static void
test_modes(void **state)
{
    struct fx *fx = fx_new();
    struct stat st;

    (void) state;
    assert_int_equal(stat(fx->sockdir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700); /* mode 0600: owner only */
    assert_int_equal(stat(fx->sockpath, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    fx_free(fx);
}

static void
test_answers_and_counts(void **state)
{
    struct fx *fx = fx_new();
    struct agt_query_rep rep;
    struct rp_buf req;
    const uint8_t junk[] = {0xc1, 0x00, 0xff};
    void *raw = NULL;
    size_t rawlen = 0;

    (void) state;
    rp_buf_init(&req, AGT_QUERY_REQ_MAX);
    assert_int_equal(
        agt_query_req_encode(&req, AGT_QUERY_EVAL, "nope", 4, -1, NULL),
        RAMP_OK);

    ask(fx, req.data, req.len, &rep, &raw, &rawlen);
    assert_int_equal(rep.status, RAMP_OK);
    assert_true(rep.stale); /* agt_stats_init: stale until contact */
    assert_int_equal(rep.seq, 0);
    assert_int_equal(rep.nresults, 1);
    assert_int_equal(rep.results[0].reason, RP_REASON_ERROR);
    assert_int_equal(rep.results[0].error, RP_EC_FLAG_NOT_FOUND);
    agt_query_rep_fini(&rep);
    nng_free(raw, rawlen);

    atomic_store(&fx->stats.stale, false);
    ask(fx, req.data, req.len, &rep, &raw, &rawlen);
    assert_false(rep.stale);
    agt_query_rep_fini(&rep);
    nng_free(raw, rawlen);

    ask(fx, junk, sizeof(junk), &rep, &raw, &rawlen);
    assert_int_equal(rep.status, RAMP_EPROTO);
    assert_int_equal(rep.nresults, 0);
    agt_query_rep_fini(&rep);
    nng_free(raw, rawlen);

    /* and it still answers after the bad one */
    ask(fx, req.data, req.len, &rep, &raw, &rawlen);
    assert_int_equal(rep.status, RAMP_OK);
    agt_query_rep_fini(&rep);
    nng_free(raw, rawlen);

    assert_int_equal(agt_stats_get(&fx->stats.queries_served), 3);
    assert_int_equal(agt_stats_get(&fx->stats.queries_failed), 1);
    assert_int_equal(agt_stats_get(&fx->stats.query_io_errors), 0);
    rp_buf_fini(&req);
    fx_free(fx);
}

static void
test_address_in_use(void **state)
{
    struct fx *fx = fx_new();
    struct agt_serve *other = NULL;
    struct agt_serve_opts o = {fx->url, 0600, 4, "h2", NULL, NULL};

    (void) state;
    assert_int_equal(
        agt_serve_start(&o, fx->views, &fx->stats, &other), RAMP_EEXIST);
    assert_null(other);
    o.workers = 0;
    assert_int_equal(
        agt_serve_start(&o, fx->views, &fx->stats, &other), RAMP_EINVAL);
    o.workers = 4;
    o.socket_mode = 01777;
    assert_int_equal(
        agt_serve_start(&o, fx->views, &fx->stats, &other), RAMP_EINVAL);
    fx_free(fx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_answers_and_counts),
        cmocka_unit_test(test_address_in_use),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
