/* SPDX-License-Identifier: MIT */
/*
 * Tests for libramp (client/): the context builder; ramp_open's error
 * paths; direct mode on a real agent cache filled with signed envelopes
 * (closed by this process first: LMDB forbids opening one directory
 * twice in a process), including a change applied by another process
 * while the client reads; ipc mode against a real nng REP server in this
 * process answering with agt_query_answer() over a real view; answers
 * equal to rp_eval() on the in-memory flags in both modes; every error
 * path (missing flag, wrong type, targeting key missing, small buffer,
 * agent down, bad targets); threads evaluating while the state changes.
 * Not here: the protocol codecs (test_query), the view (test_view).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "alloc.h"
#include "lib_fixture.h"
#include "query.h"
#include "ramp/ramp.h"
#include "ramp_int.h" /* the context layout, to check the builder */
#include "view.h"

/* ------------------------------------------------------------------ */
/* Fixture: a cache (closed), a view of it, and an ipc server          */
/* ------------------------------------------------------------------ */

struct srv {
    nng_socket sock;
    struct agt_viewref *ref;
    pthread_t th;
    char url[128];
    atomic_long served;
};

struct tfx {
    struct lf *lf;
    struct agt_view *v;   /* view of the initial state */
    struct srv srv;
    long allocs;
};

static void *
srv_main(void *arg)
{
    struct srv *s = arg;

    for (;;) {
        nng_msg *m = NULL;
        nng_msg *r = NULL;
        struct agt_view *v;
        struct rp_buf reply;
        ramp_err rv;

        if (nng_recvmsg(s->sock, &m, 0) != 0) {
            break; /* closed */
        }
        v = agt_viewref_get(s->ref);
        rp_buf_init(&reply, AGT_QUERY_REP_MAX);
        rv = agt_query_answer(v, LF_HOST, false, nng_msg_body(m),
            nng_msg_len(m), &reply);
        agt_view_rele(v);
        nng_msg_free(m);
        if (rv == RAMP_OK && nng_msg_alloc(&r, reply.len) == 0) {
            memcpy(nng_msg_body(r), reply.data, reply.len);
            if (nng_sendmsg(s->sock, r, 0) != 0) {
                nng_msg_free(r);
            }
        }
        rp_buf_fini(&reply);
        atomic_fetch_add(&s->served, 1);
    }
    return NULL;
}

static void
srv_start(struct tfx *fx)
{
    struct srv *s = &fx->srv;

    (void) snprintf(s->url, sizeof(s->url), "ipc://%s/q.sock", fx->lf->dir);
    assert_int_equal(agt_viewref_new(&s->ref), RAMP_OK);
    agt_view_hold(fx->v);
    agt_viewref_set(s->ref, fx->v);
    assert_int_equal(nng_rep0_open(&s->sock), 0);
    assert_int_equal(
        nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, AGT_QUERY_REQ_MAX), 0);
    assert_int_equal(nng_listen(s->sock, s->url, NULL, 0), 0);
    assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
}

static void
srv_stop(struct srv *s)
{
    if (s->ref == NULL) {
        return;
    }
    (void) nng_close(s->sock);
    (void) pthread_join(s->th, NULL);
    agt_viewref_free(s->ref);
    s->ref = NULL;
}

static int
setup(void **state)
{
    struct tfx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->allocs = rp_alloc_outstanding();
    fx->lf = lf_new();
    assert_int_equal(agt_view_load(fx->lf->c, NULL, &fx->v), RAMP_OK);
    /* libramp opens the directory itself: this process must not hold
     * it open as well. */
    agt_cache_close(fx->lf->c);
    fx->lf->c = NULL;
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct tfx *fx = *state;
    long allocs = fx->allocs;

    srv_stop(&fx->srv);
    agt_view_rele(fx->v);
    lf_free(fx->lf);
    free(fx);
    assert_int_equal(rp_alloc_outstanding(), allocs);
    return 0;
}

static ramp_client *
open_direct(struct tfx *fx)
{
    char target[128];
    ramp_client *c = NULL;

    (void) snprintf(target, sizeof(target), "direct:%s", fx->lf->dir);
    assert_int_equal(ramp_open(target, 0, &c), RAMP_OK);
    return c;
}

static ramp_client *
open_ipc(struct tfx *fx)
{
    ramp_client *c = NULL;

    if (fx->srv.ref == NULL) {
        srv_start(fx);
    }
    assert_int_equal(ramp_open(fx->srv.url, 0, &c), RAMP_OK);
    /* Generous: sanitizer builds are slow; the value is not asserted. */
    assert_int_equal(ramp_set_timeout(c, 5000), RAMP_OK);
    return c;
}

static ramp_ctx *
ctx_from(const struct rp_ctx *rc)
{
    ramp_ctx *ctx = NULL;

    assert_int_equal(ramp_ctx_new(&ctx), RAMP_OK);
    if (rc->key != NULL) {
        char key[64];

        (void) snprintf(key, sizeof(key), "%.*s", (int) rc->key_len, rc->key);
        assert_int_equal(ramp_ctx_set_key(ctx, key), RAMP_OK);
    }
    for (size_t i = 0; i < rc->nattrs; i++) {
        const struct rp_attr *a = &rc->attrs[i];
        char s[64];

        switch (a->type) {
        case RP_ATTR_STRING:
            (void) snprintf(s, sizeof(s), "%.*s", (int) a->len, a->s);
            assert_int_equal(ramp_ctx_set_str(ctx, a->name, s), RAMP_OK);
            break;
        case RP_ATTR_NUMBER:
            assert_int_equal(ramp_ctx_set_num(ctx, a->name, a->n), RAMP_OK);
            break;
        case RP_ATTR_BOOL:
            assert_int_equal(ramp_ctx_set_bool(ctx, a->name, a->b), RAMP_OK);
            break;
        }
    }
    return ctx;
}

static ramp_err
expect_err(enum rp_ecode e)
{
    switch (e) {
    case RP_EC_NONE:
        return RAMP_OK;
    case RP_EC_FLAG_NOT_FOUND:
        return RAMP_ENOTFOUND;
    case RP_EC_TYPE_MISMATCH:
        return RAMP_ETYPE;
    case RP_EC_TARGETING_KEY_MISSING:
        return RAMP_EINVAL;
    default:
        return RAMP_EPROTO;
    }
}

/* Evaluate flag i of the fixture through the typed call for its type
 * and compare everything with rp_eval on the in-memory flag. */
static void
check_flag(ramp_client *c, const struct lf *lf, size_t i,
    const struct rp_ctx *rc)
{
    const struct rp_flag *f = lf->flags[i];
    ramp_ctx *ctx = ctx_from(rc);
    struct rp_result ref;
    struct ramp_detail d;
    char buf[256];
    bool b = false;
    double n = 0;
    ramp_err rv = RAMP_ESYSTEM;

    lf_ref_eval(lf, i, rc, &ref);
    memset(&d, 0xa5, sizeof(d));
    switch (f->type) {
    case RP_TYPE_BOOL:
        rv = ramp_bool(c, f->key, ctx, false, &b, &d);
        if (ref.value != NULL) {
            assert_int_equal(b, ref.value->b);
        } else {
            assert_false(b);
        }
        break;
    case RP_TYPE_NUMBER:
        rv = ramp_number(c, f->key, ctx, -1, &n, &d);
        assert_true(n == (ref.value != NULL ? ref.value->n : -1));
        break;
    case RP_TYPE_STRING:
        rv = ramp_string(c, f->key, ctx, "dflt", buf, sizeof(buf), &d);
        assert_string_equal(buf, ref.value != NULL ? ref.value->s : "dflt");
        break;
    case RP_TYPE_JSON:
        rv = ramp_json(c, f->key, ctx, "{}", buf, sizeof(buf), &d);
        assert_string_equal(buf, ref.value != NULL ? ref.value->s : "{}");
        break;
    }
    assert_int_equal(rv, expect_err(ref.error));
    assert_string_equal(
        d.variant, ref.variant_name != NULL ? ref.variant_name : "");
    assert_int_equal(d.reason, (int) ref.reason);
    assert_int_equal(d.error, (int) ref.error);
    assert_int_equal(d.flag_version, f->version);
    assert_false(d.stale);
    ramp_ctx_free(ctx);
}

static void
check_all_flags(ramp_client *c, const struct lf *lf)
{
    struct rp_ctx ctx[LF_NCTX];
    struct rp_attr attrs[2];

    lf_ctxs(ctx, attrs);
    for (size_t i = 0; i < LF_NFLAGS; i++) {
        for (size_t k = 0; k < LF_NCTX; k++) {
            check_flag(c, lf, i, &ctx[k]);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Context builder and open                                            */
/* ------------------------------------------------------------------ */

static void
test_ctx_builder(void **state)
{
    long allocs = rp_alloc_outstanding();
    ramp_ctx *ctx = NULL;
    char name[RP_NAME_MAX + 2];
    char *big = xcalloc(1, RP_STR_MAX + 2);

    (void) state;
    assert_int_equal(ramp_ctx_new(&ctx), RAMP_OK);
    assert_int_equal(ramp_ctx_set_key(ctx, "user-1"), RAMP_OK);
    assert_int_equal(ctx->rc.key_len, 6);
    assert_int_equal(ramp_ctx_set_str(ctx, "country", "nl"), RAMP_OK);
    assert_int_equal(ramp_ctx_set_str(ctx, "country", "de"), RAMP_OK);
    assert_int_equal(ctx->rc.nattrs, 1); /* replaced, not added */
    assert_int_equal(ctx->rc.attrs[0].len, 2);
    assert_memory_equal(ctx->rc.attrs[0].s, "de", 2);
    assert_int_equal(ramp_ctx_set_num(ctx, "country", 3), RAMP_OK);
    assert_int_equal(ctx->rc.attrs[0].type, RP_ATTR_NUMBER);
    assert_int_equal(ramp_ctx_set_bool(ctx, "beta", true), RAMP_OK);
    assert_int_equal(ctx->rc.nattrs, 2);

    assert_int_equal(ramp_ctx_set_str(ctx, "", "x"), RAMP_EINVAL);
    assert_int_equal(ramp_ctx_set_str(ctx, "key", "x"), RAMP_EINVAL);
    assert_int_equal(ramp_ctx_set_str(ctx, NULL, "x"), RAMP_EINVAL);
    assert_int_equal(ramp_ctx_set_str(ctx, "a", NULL), RAMP_EINVAL);
    assert_int_equal(ramp_ctx_set_num(ctx, "n", NAN), RAMP_EINVAL);
    assert_int_equal(ramp_ctx_set_num(ctx, "n", INFINITY), RAMP_EINVAL);
    memset(name, 'n', sizeof(name));
    name[RP_NAME_MAX] = '\0';
    assert_int_equal(ramp_ctx_set_bool(ctx, name, true), RAMP_OK);
    name[RP_NAME_MAX] = 'n';
    name[RP_NAME_MAX + 1] = '\0';
    assert_int_equal(ramp_ctx_set_bool(ctx, name, true), RAMP_EINVAL);
    memset(big, 'v', RP_STR_MAX);
    assert_int_equal(ramp_ctx_set_str(ctx, "s", big), RAMP_OK);
    assert_int_equal(ramp_ctx_set_key(ctx, big), RAMP_OK);
    big[RP_STR_MAX] = 'v';
    assert_int_equal(ramp_ctx_set_str(ctx, "s", big), RAMP_ETOOBIG);
    assert_int_equal(ramp_ctx_set_key(ctx, big), RAMP_ETOOBIG);
    assert_int_equal(ctx->rc.key_len, RP_STR_MAX); /* unchanged */
    assert_int_equal(ctx->rc.nattrs, 4);

    /* 64 attributes, then ETOOBIG; replacing still works when full. */
    for (int i = (int) ctx->rc.nattrs; i < 64; i++) {
        char nm[16];

        (void) snprintf(nm, sizeof(nm), "a%d", i);
        assert_int_equal(ramp_ctx_set_num(ctx, nm, i), RAMP_OK);
    }
    assert_int_equal(ramp_ctx_set_num(ctx, "one-more", 1), RAMP_ETOOBIG);
    assert_int_equal(ramp_ctx_set_num(ctx, "beta", 1), RAMP_OK);
    assert_int_equal(ctx->rc.nattrs, 64);

    ramp_ctx_reset(ctx);
    assert_int_equal(ctx->rc.nattrs, 0);
    assert_null(ctx->rc.key);
    assert_int_equal(ramp_ctx_set_str(ctx, "country", "nl"), RAMP_OK);
    assert_int_equal(ctx->rc.nattrs, 1);
    assert_int_equal(ramp_ctx_set_key(ctx, NULL), RAMP_OK);
    assert_null(ctx->rc.key);
    assert_int_equal(ramp_ctx_set_key(NULL, "k"), RAMP_EINVAL);
    assert_int_equal(ramp_ctx_new(NULL), RAMP_EINVAL);
    ramp_ctx_free(ctx);
    ramp_ctx_free(NULL);
    ramp_ctx_reset(NULL);
    rp_free(big);
    assert_int_equal(rp_alloc_outstanding(), allocs);
}

static void
test_open_errors(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = (ramp_client *) fx; /* sentinel: must stay */
    char target[128];

    assert_int_equal(ramp_open(NULL, 0, &c), RAMP_EINVAL);
    assert_int_equal(ramp_open("", 0, &c), RAMP_EINVAL);
    assert_int_equal(ramp_open("direct:", 0, &c), RAMP_EINVAL);
    assert_int_equal(ramp_open("nonsense", 0, &c), RAMP_EINVAL);
    assert_int_equal(ramp_open("bogus://x", 0, &c), RAMP_EINVAL);
    assert_int_equal(
        ramp_open("direct:/nonexistent/ramp", 0, &c), RAMP_ENOTFOUND);
    (void) snprintf(target, sizeof(target), "direct:%s", fx->lf->dir);
    assert_int_equal(ramp_open(target, 1, &c), RAMP_EINVAL);
    assert_int_equal(ramp_open(target, 0, NULL), RAMP_EINVAL);
    assert_ptr_equal(c, (ramp_client *) fx);

    assert_int_equal(ramp_open(target, 0, &c), RAMP_OK);
    assert_int_equal(ramp_set_timeout(c, 0), RAMP_EINVAL);
    assert_int_equal(ramp_set_timeout(c, 10), RAMP_OK); /* ignored */
    assert_int_equal(ramp_set_timeout(NULL, 10), RAMP_EINVAL);
    ramp_close(c);
    ramp_close(NULL);
    assert_string_equal(ramp_version(), "0.1.0");
}

/* ------------------------------------------------------------------ */
/* Answers equal rp_eval's                                             */
/* ------------------------------------------------------------------ */

static void
test_direct_matches_rp_eval(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = open_direct(fx);

    check_all_flags(c, fx->lf);
    ramp_close(c);
}

static void
test_ipc_matches_rp_eval(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = open_ipc(fx);

    check_all_flags(c, fx->lf);
    ramp_close(c);
}

/* Direct mode evaluates without the allocator: an injected failure of
 * the next allocation is still pending after many evaluations. */
static void
test_direct_no_allocation(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = open_direct(fx);
    ramp_ctx *ctx = NULL;
    struct ramp_detail d;
    char buf[64];
    bool b;
    void *p;

    assert_int_equal(ramp_ctx_new(&ctx), RAMP_OK);
    assert_int_equal(ramp_ctx_set_key(ctx, "user-1"), RAMP_OK);
    assert_int_equal(ramp_ctx_set_str(ctx, "country", "de"), RAMP_OK);
    rp_alloc_fail_at(1);
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(ramp_bool(c, "a-bool", ctx, false, &b, &d), RAMP_OK);
        assert_true(b);
        assert_int_equal(
            ramp_string(c, "f-str", ctx, "", buf, sizeof(buf), &d), RAMP_OK);
    }
    p = rp_alloc(16);
    rp_alloc_fail_at(0);
    assert_null(p); /* the injected failure was still waiting */
    ramp_ctx_free(ctx);
    ramp_close(c);
}

/* ------------------------------------------------------------------ */
/* Error paths, both modes                                             */
/* ------------------------------------------------------------------ */

static void
check_errors(ramp_client *c)
{
    struct ramp_detail d;
    ramp_ctx *ctx = NULL;
    char buf[8];
    bool b = false;
    double n = 0;

    /* Missing flag. */
    assert_int_equal(ramp_bool(c, "missing", NULL, true, &b, &d),
        RAMP_ENOTFOUND);
    assert_true(b);
    assert_string_equal(d.variant, "");
    assert_int_equal(d.reason, RAMP_REASON_ERROR);
    assert_int_equal(d.error, RAMP_EVAL_FLAG_NOT_FOUND);
    assert_int_equal(d.flag_version, 0);

    /* Wrong type: a bool flag asked as a number. */
    assert_int_equal(ramp_number(c, "a-bool", NULL, 7.5, &n, &d), RAMP_ETYPE);
    assert_true(n == 7.5);
    assert_int_equal(d.error, RAMP_EVAL_TYPE_MISMATCH);
    assert_int_equal(d.flag_version, 1);

    /* The split needs a targeting key. */
    assert_int_equal(ramp_number(c, "d-num", NULL, 2, &n, &d), RAMP_EINVAL);
    assert_true(n == 2);
    assert_int_equal(d.error, RAMP_EVAL_TARGETING_KEY_MISSING);
    assert_int_equal(ramp_ctx_new(&ctx), RAMP_OK);
    assert_int_equal(ramp_ctx_set_key(ctx, "user-1"), RAMP_OK);
    assert_int_equal(ramp_number(c, "d-num", ctx, 2, &n, &d), RAMP_OK);
    assert_true(n == 1.5 || n == 100);
    assert_int_equal(d.reason, RAMP_REASON_SPLIT);

    /* Buffers: "#f00" needs 5 bytes. */
    assert_int_equal(
        ramp_string(c, "f-str", ctx, "x", buf, 5, &d), RAMP_OK);
    assert_string_equal(buf, "#f00");
    assert_int_equal(
        ramp_string(c, "f-str", ctx, "x", buf, 4, &d), RAMP_ETOOBIG);
    assert_string_equal(buf, "x");
    assert_string_equal(d.variant, "red"); /* what was served */
    assert_int_equal(
        ramp_string(c, "f-str", ctx, "longer", buf, 4, &d), RAMP_ETOOBIG);
    assert_string_equal(buf, "");
    assert_int_equal(
        ramp_string(c, "missing", ctx, NULL, buf, sizeof(buf), &d),
        RAMP_ENOTFOUND);
    assert_string_equal(buf, "");
    assert_int_equal(
        ramp_json(c, "c-json", ctx, "{}", buf, sizeof(buf), NULL), RAMP_OK);
    assert_string_equal(buf, "null");
    assert_int_equal(
        ramp_string(c, "f-str", ctx, "x", buf, 0, &d), RAMP_EINVAL);
    assert_int_equal(
        ramp_string(c, "f-str", ctx, "x", NULL, 4, &d), RAMP_EINVAL);

    /* Bad arguments: *out still gets the default. */
    b = false;
    assert_int_equal(ramp_bool(c, NULL, ctx, true, &b, &d), RAMP_EINVAL);
    assert_true(b);
    assert_int_equal(ramp_bool(NULL, "a-bool", ctx, true, &b, &d),
        RAMP_EINVAL);
    assert_int_equal(ramp_bool(c, "a-bool", ctx, true, NULL, &d),
        RAMP_EINVAL);
    assert_int_equal(ramp_eval_all(c, ctx, NULL, NULL), RAMP_EINVAL);
    ramp_ctx_free(ctx);
}

static void
test_errors_direct(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = open_direct(fx);

    check_errors(c);
    ramp_close(c);
}

static void
test_errors_ipc(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = open_ipc(fx);

    check_errors(c);
    ramp_close(c);
}

static void
count_cb(void *arg, const char *flag, const struct ramp_value *value,
    const struct ramp_detail *detail)
{
    (void) flag;
    (void) value;
    (void) detail;
    (*(int *) arg)++;
}

static void
test_agent_down(void **state)
{
    struct tfx *fx = *state;
    char url[128];
    ramp_client *c = NULL;
    struct ramp_detail d;
    bool b = false;
    int calls = 0;

    /* Nobody listens there: ipc clients connect lazily, so open works
     * and each evaluation times out with the default served. */
    (void) snprintf(url, sizeof(url), "ipc://%s/nobody.sock", fx->lf->dir);
    assert_int_equal(ramp_open(url, 0, &c), RAMP_OK);
    assert_int_equal(ramp_set_timeout(c, 30), RAMP_OK);
    assert_int_equal(ramp_bool(c, "a-bool", NULL, true, &b, &d),
        RAMP_ETIMEDOUT);
    assert_true(b);
    assert_int_equal(d.reason, RAMP_REASON_ERROR);
    assert_int_equal(d.error, RAMP_EVAL_PROVIDER_NOT_READY);
    assert_int_equal(ramp_eval_all(c, NULL, count_cb, &calls), RAMP_ETIMEDOUT);
    assert_int_equal(calls, 0);
    ramp_close(c);

    /* The agent goes away under an open client. */
    c = open_ipc(fx);
    assert_int_equal(ramp_bool(c, "b-host", NULL, false, &b, &d), RAMP_OK);
    assert_true(b);
    srv_stop(&fx->srv);
    assert_int_equal(ramp_set_timeout(c, 30), RAMP_OK);
    b = false;
    {
        ramp_err rv = ramp_bool(c, "b-host", NULL, false, &b, &d);

        assert_true(rv == RAMP_ETIMEDOUT || rv == RAMP_ECLOSED);
    }
    assert_false(b);
    ramp_close(c);
}

/* ------------------------------------------------------------------ */
/* Bulk                                                                */
/* ------------------------------------------------------------------ */

struct all_seen {
    const struct lf *lf;
    const struct rp_ctx *rc;
    size_t n;
};

static void
all_cb(void *arg, const char *flag, const struct ramp_value *value,
    const struct ramp_detail *detail)
{
    struct all_seen *s = arg;
    struct rp_result ref;

    assert_true(s->n < LF_NFLAGS);
    assert_string_equal(flag, s->lf->flags[s->n]->key); /* key order */
    lf_ref_eval(s->lf, s->n, s->rc, &ref);
    assert_int_equal(detail->reason, (int) ref.reason);
    assert_int_equal(detail->error, (int) ref.error);
    assert_int_equal(detail->flag_version, s->lf->flags[s->n]->version);
    if (ref.value == NULL) {
        assert_null(value);
    } else {
        assert_non_null(value);
        assert_string_equal(detail->variant, ref.variant_name);
        assert_int_equal(value->type, (int) ref.value->type);
        switch (ref.value->type) {
        case RP_TYPE_BOOL:
            assert_int_equal(value->b, ref.value->b);
            break;
        case RP_TYPE_NUMBER:
            assert_true(value->n == ref.value->n);
            break;
        case RP_TYPE_STRING:
        case RP_TYPE_JSON:
            assert_int_equal(value->len, ref.value->len);
            assert_string_equal(value->s, ref.value->s);
            break;
        }
    }
    s->n++;
}

static void
check_eval_all(ramp_client *c, const struct lf *lf)
{
    struct rp_ctx rc[LF_NCTX];
    struct rp_attr attrs[2];

    lf_ctxs(rc, attrs);
    for (size_t k = 0; k < LF_NCTX; k++) {
        ramp_ctx *ctx = ctx_from(&rc[k]);
        struct all_seen s = {.lf = lf, .rc = &rc[k]};

        assert_int_equal(ramp_eval_all(c, ctx, all_cb, &s), RAMP_OK);
        assert_int_equal(s.n, LF_NFLAGS);
        ramp_ctx_free(ctx);
    }
}

static void
test_eval_all(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = open_direct(fx);

    check_eval_all(c, fx->lf);
    ramp_close(c);
    c = open_ipc(fx);
    check_eval_all(c, fx->lf);
    ramp_close(c);
}

/* ------------------------------------------------------------------ */
/* Changes by another process, and threads                             */
/* ------------------------------------------------------------------ */

/* f-str at version v serves blue when v is even, red when odd (for a
 * key that misses its rule). */
static void
fstr_at(struct rp_flag *f, uint64_t v)
{
    f->version = v;
    f->default_variant = (uint32_t) (v % 2 == 0 ? 1 : 0);
}

/*
 * The agent's side, in a child process: open the cache as its writer,
 * apply FLAG_PUTs of f-str for versions 2..last, pausing between them.
 * No cmocka here: a failure is the exit status.
 */
static int
child_apply(struct lf *lf, uint64_t last, unsigned pause_us)
{
    struct agt_cache *c = NULL;
    int rc = 0;

    if (agt_cache_open(lf->dir, 0, 0, &c) != RAMP_OK) {
        return 2;
    }
    for (uint64_t v = 2; v <= last && rc == 0; v++) {
        struct rp_buf p, env;
        struct agt_apply_result res;

        fstr_at(lf->flags[5], v);
        rp_buf_init(&p, RP_FLAG_ENC_MAX);
        rp_buf_init(&env, RP_ENV_MAX);
        lf->seq++;
        if (rp_flag_encode(&p, lf->flags[5]) != RAMP_OK ||
            rp_env_seal(&env, &lf->kp, RP_KIND_FLAG_PUT, lf->seq,
                LF_TS + lf->seq, p.data, p.len) != RAMP_OK ||
            agt_cache_apply(c, env.data, env.len, &res) != RAMP_OK) {
            rc = 3;
        }
        rp_buf_fini(&p);
        rp_buf_fini(&env);
        if (pause_us > 0) {
            usleep(pause_us);
        }
    }
    agt_cache_close(c);
    return rc;
}

static pid_t
spawn_agent(struct lf *lf, uint64_t last, unsigned pause_us)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(child_apply(lf, last, pause_us));
    }
    return pid;
}

static void
reap(pid_t pid)
{
    int st = 0;

    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static double
now_s(void)
{
    struct timespec ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
test_direct_sees_agent_change(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = open_direct(fx);
    ramp_ctx *ctx = NULL;
    struct ramp_detail d;
    char buf[16];
    double deadline;

    assert_int_equal(ramp_ctx_new(&ctx), RAMP_OK);
    assert_int_equal(ramp_ctx_set_key(ctx, "user-1"), RAMP_OK);
    assert_int_equal(
        ramp_string(c, "f-str", ctx, "", buf, sizeof(buf), &d), RAMP_OK);
    assert_string_equal(buf, "#f00");
    assert_int_equal(d.flag_version, 1);

    reap(spawn_agent(fx->lf, 2, 0));
    /* Seen at the next poll (milliseconds); the deadline only keeps a
     * broken build from hanging. */
    deadline = now_s() + 30;
    do {
        assert_int_equal(
            ramp_string(c, "f-str", ctx, "", buf, sizeof(buf), &d), RAMP_OK);
        if (d.flag_version == 2) {
            break;
        }
        usleep(1000);
    } while (now_s() < deadline);
    assert_int_equal(d.flag_version, 2);
    assert_string_equal(buf, "#00f");
    assert_string_equal(d.variant, "blue");
    assert_int_equal(d.reason, RAMP_REASON_DEFAULT);
    /* Unchanged flags answer as before. */
    check_flag(c, fx->lf, 0, &ctx->rc);
    ramp_ctx_free(ctx);
    ramp_close(c);
}

#define NTHREADS 4
#define LAST_VERSION 24

struct worker {
    ramp_client *c;
    uint64_t last_version;
    long evals;
    bool bad;
};

/* Every answer must be self-consistent (value matches the version's
 * parity) and versions never go backwards for one thread. */
static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    ramp_ctx *ctx = NULL;
    double deadline = now_s() + 60;

    if (ramp_ctx_new(&ctx) != RAMP_OK ||
        ramp_ctx_set_key(ctx, "user-1") != RAMP_OK) {
        w->bad = true;
        return NULL;
    }
    while (w->last_version < LAST_VERSION && now_s() < deadline) {
        struct ramp_detail d;
        char buf[16];
        bool b;

        if (ramp_string(w->c, "f-str", ctx, "", buf, sizeof(buf), &d) !=
            RAMP_OK) {
            w->bad = true;
            break;
        }
        if (d.flag_version < w->last_version ||
            strcmp(buf, d.flag_version % 2 == 0 ? "#00f" : "#f00") != 0) {
            w->bad = true;
        }
        w->last_version = d.flag_version;
        if (ramp_bool(w->c, "b-host", ctx, false, &b, &d) != RAMP_OK || !b) {
            w->bad = true;
        }
        w->evals++;
    }
    ramp_ctx_free(ctx);
    return NULL;
}

static void
run_workers(ramp_client *c, struct worker *w, pthread_t *th)
{
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (struct worker){.c = c};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
}

static void
join_workers(struct worker *w, pthread_t *th)
{
    for (int i = 0; i < NTHREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_false(w[i].bad);
        assert_int_equal(w[i].last_version, LAST_VERSION);
        assert_true(w[i].evals > 0);
    }
}

static void
test_threads_direct(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = open_direct(fx);
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS];
    pid_t pid;

    /* Fork before any thread of ours exists; the child applies a change
     * every 2 ms while the workers evaluate. */
    pid = spawn_agent(fx->lf, LAST_VERSION, 2000);
    run_workers(c, w, th);
    reap(pid);
    join_workers(w, th);
    ramp_close(c);
}

struct swapper {
    struct agt_viewref *ref;
    struct agt_view *views[LAST_VERSION + 1];
    atomic_bool stop;
};

/* Publish the views in order, like the agent's refresher. */
static void *
swapper_main(void *arg)
{
    struct swapper *s = arg;

    for (int v = 2; v <= LAST_VERSION; v++) {
        agt_view_hold(s->views[v]);
        agt_viewref_set(s->ref, s->views[v]);
        usleep(2000);
    }
    return NULL;
}

static void
test_threads_ipc(void **state)
{
    struct tfx *fx = *state;
    struct swapper sw = {0};
    struct agt_cache *cache = NULL;
    struct worker w[NTHREADS];
    pthread_t th[NTHREADS], sth;
    ramp_client *c;

    /* Build every state up front from the writer, then close it. */
    assert_int_equal(agt_cache_open(fx->lf->dir, 0, 0, &cache), RAMP_OK);
    fx->lf->c = cache;
    for (uint64_t v = 2; v <= LAST_VERSION; v++) {
        fstr_at(fx->lf->flags[5], v);
        lf_put_flag(fx->lf, 5);
        assert_int_equal(agt_view_load(cache, v == 2 ? fx->v :
                                                      sw.views[v - 1],
                             &sw.views[v]),
            RAMP_OK);
    }
    agt_cache_close(cache);
    fx->lf->c = NULL;

    c = open_ipc(fx);
    sw.ref = fx->srv.ref;
    run_workers(c, w, th);
    assert_int_equal(pthread_create(&sth, NULL, swapper_main, &sw), 0);
    assert_int_equal(pthread_join(sth, NULL), 0);
    join_workers(w, th);
    assert_true(atomic_load(&fx->srv.served) > 0);
    ramp_close(c);
    for (int v = 2; v <= LAST_VERSION; v++) {
        agt_view_rele(sw.views[v]);
    }
}

/* Logging: libramp never prints; the callback gets its lines. */
struct logs {
    int n;
    char last[512];
};

static void
log_cb(void *arg, int level, const char *line)
{
    struct logs *l = arg;

    (void) level;
    l->n++;
    (void) snprintf(l->last, sizeof(l->last), "%s", line);
}

static void
test_log_callback(void **state)
{
    struct tfx *fx = *state;
    struct logs l = {0};
    ramp_client *c = NULL;
    char target[128];

    ramp_set_log(log_cb, &l);
    (void) snprintf(target, sizeof(target), "direct:%s", fx->lf->dir);
    assert_int_equal(ramp_open(target, 0, &c), RAMP_OK);
    ramp_close(c);
    /* The cache logs its read-only open at info level. */
    assert_true(l.n > 0);
    assert_non_null(strstr(l.last, "RAMP-"));
    ramp_set_log(NULL, NULL);
    l.n = 0;
    assert_int_equal(ramp_open(target, 0, &c), RAMP_OK);
    ramp_close(c);
    assert_int_equal(l.n, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ctx_builder),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_direct_matches_rp_eval, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_ipc_matches_rp_eval, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_direct_no_allocation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_ipc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agent_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_all, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_direct_sees_agent_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_ipc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_callback, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
