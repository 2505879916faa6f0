/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/query.c: request and reply round trips, hostile
 * requests (every truncation, byte mutations, huge counts, wrong types,
 * every bound on both sides of its limit) answered with status EPROTO
 * and never silence, hostile replies refused by the client decoder, and
 * answers equal to rp_eval's on flags that never went through the cache.
 * The view comes from a real cache filled with signed envelopes.
 * Not here: sockets (test_libramp), the view itself (test_view).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "lib_fixture.h"
#include "mp.h"
#include "query.h"
#include "view.h"

struct qfx {
    struct lf *lf;
    struct agt_view *v;
    long allocs;
};

static int
setup(void **state)
{
    struct qfx *q = calloc(1, sizeof(*q));

    assert_non_null(q);
    q->allocs = rp_alloc_outstanding();
    q->lf = lf_new();
    assert_int_equal(agt_view_load(q->lf->c, NULL, &q->v), RAMP_OK);
    *state = q;
    return 0;
}

static int
teardown(void **state)
{
    struct qfx *q = *state;
    long allocs = q->allocs;

    agt_view_rele(q->v);
    lf_free(q->lf);
    free(q);
    assert_int_equal(rp_alloc_outstanding(), allocs);
    return 0;
}

/* Answer req and decode the reply; returns the reply's status. */
static ramp_err
ask(const struct agt_view *v, const uint8_t *req, size_t len,
    struct rp_buf *reply, struct agt_query_rep *rep)
{
    rp_buf_reset(reply);
    assert_int_equal(
        agt_query_answer(v, LF_HOST, false, req, len, reply), RAMP_OK);
    assert_int_equal(
        agt_query_rep_decode(reply->data, reply->len, rep), RAMP_OK);
    return rep->status;
}

static void
assert_result_eq(const struct agt_query_result *r, const struct rp_flag *f,
    const struct rp_result *ref)
{
    assert_int_equal(r->reason, ref->reason);
    assert_int_equal(r->error, ref->error);
    assert_int_equal(r->flag_version, f->version);
    assert_int_equal(r->type, f->type);
    if (ref->variant_name == NULL) {
        assert_null(r->variant);
        assert_false(r->has_value);
        return;
    }
    assert_true(r->has_value);
    assert_int_equal(r->variant_len, strlen(ref->variant_name));
    assert_memory_equal(r->variant, ref->variant_name, r->variant_len);
    switch (f->type) {
    case RP_TYPE_BOOL:
        assert_int_equal(r->b, ref->value->b);
        break;
    case RP_TYPE_NUMBER:
        assert_true(r->n == ref->value->n);
        break;
    case RP_TYPE_STRING:
    case RP_TYPE_JSON:
        assert_int_equal(r->len, ref->value->len);
        assert_memory_equal(r->s, ref->value->s, r->len);
        break;
    }
}

static void
test_req_roundtrip(void **state)
{
    struct rp_ctx ctx[LF_NCTX];
    struct rp_attr attrs[2];
    struct rp_buf b;
    struct agt_query_req q;

    (void) state;
    lf_ctxs(ctx, attrs);
    rp_buf_init(&b, AGT_QUERY_REQ_MAX);
    assert_int_equal(agt_query_req_encode(&b, AGT_QUERY_EVAL, "f-str", 5,
                         RP_TYPE_STRING, &ctx[2]),
        RAMP_OK);
    assert_int_equal(agt_query_req_decode(b.data, b.len, &q), RAMP_OK);
    assert_int_equal(q.op, AGT_QUERY_EVAL);
    assert_int_equal(q.flag_len, 5);
    assert_memory_equal(q.flag, "f-str", 5);
    assert_int_equal(q.type, RP_TYPE_STRING);
    assert_int_equal(q.ctx.key_len, 6);
    assert_memory_equal(q.ctx.key, "beta-7", 6);
    assert_null(q.ctx.host);
    assert_int_equal(q.ctx.nattrs, 2);
    assert_string_equal(q.ctx.attrs[0].name, "country");
    assert_int_equal(q.ctx.attrs[0].type, RP_ATTR_STRING);
    assert_int_equal(q.ctx.attrs[0].len, 2);
    assert_memory_equal(q.ctx.attrs[0].s, "nl", 2);
    assert_string_equal(q.ctx.attrs[1].name, "age");
    assert_int_equal(q.ctx.attrs[1].type, RP_ATTR_NUMBER);
    assert_true(q.ctx.attrs[1].n == 42);

    /* ALL, no context, any type: key nil, no attributes. */
    rp_buf_reset(&b);
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, NULL), RAMP_OK);
    assert_int_equal(agt_query_req_decode(b.data, b.len, &q), RAMP_OK);
    assert_int_equal(q.op, AGT_QUERY_ALL);
    assert_null(q.ctx.key);
    assert_int_equal(q.ctx.nattrs, 0);
    assert_int_equal(q.type, -1);

    /* A bool attribute and an empty (but present) key. */
    {
        struct rp_attr a = {.name = "beta", .type = RP_ATTR_BOOL, .b = true};
        struct rp_ctx c = {.key = "", .key_len = 0, .nattrs = 1, .attrs = &a};

        rp_buf_reset(&b);
        assert_int_equal(
            agt_query_req_encode(&b, AGT_QUERY_EVAL, "x", 1, -1, &c), RAMP_OK);
        assert_int_equal(agt_query_req_decode(b.data, b.len, &q), RAMP_OK);
        assert_non_null(q.ctx.key);
        assert_int_equal(q.ctx.key_len, 0);
        assert_int_equal(q.ctx.attrs[0].type, RP_ATTR_BOOL);
        assert_true(q.ctx.attrs[0].b);
    }
    rp_buf_fini(&b);
}

static void
test_req_encode_bounds(void **state)
{
    struct rp_attr attrs[AGT_QUERY_MAX_ATTRS + 1];
    char names[AGT_QUERY_MAX_ATTRS + 1][8];
    char longname[RP_NAME_MAX + 2];
    char *longstr = xcalloc(1, RP_STR_MAX + 2);
    struct rp_ctx c = {.attrs = attrs};
    struct rp_buf b;
    char key[RP_KEY_MAX + 1];

    (void) state;
    rp_buf_init(&b, AGT_QUERY_REQ_MAX);
    memset(attrs, 0, sizeof(attrs));
    for (size_t i = 0; i <= AGT_QUERY_MAX_ATTRS; i++) {
        (void) snprintf(names[i], sizeof(names[i]), "a%zu", i);
        attrs[i].name = names[i];
        attrs[i].type = RP_ATTR_BOOL;
    }
    c.nattrs = AGT_QUERY_MAX_ATTRS;
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, &c), RAMP_OK);
    rp_buf_reset(&b);
    c.nattrs = AGT_QUERY_MAX_ATTRS + 1;
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, &c), RAMP_EINVAL);
    assert_int_equal(b.len, 0);

    c.nattrs = 1;
    memset(longname, 'n', sizeof(longname));
    longname[RP_NAME_MAX] = '\0';
    attrs[0].name = longname;
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, &c), RAMP_OK);
    rp_buf_reset(&b);
    longname[RP_NAME_MAX] = 'n';
    longname[RP_NAME_MAX + 1] = '\0';
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, &c), RAMP_EINVAL);
    attrs[0].name = "";
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, &c), RAMP_EINVAL);

    attrs[0].name = "s";
    attrs[0].type = RP_ATTR_STRING;
    memset(longstr, 'v', RP_STR_MAX + 1);
    attrs[0].s = longstr;
    attrs[0].len = RP_STR_MAX;
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, &c), RAMP_OK);
    rp_buf_reset(&b);
    attrs[0].len = RP_STR_MAX + 1;
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, &c), RAMP_EINVAL);
    attrs[0].type = RP_ATTR_NUMBER;
    attrs[0].n = NAN;
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_ALL, NULL, 0, -1, &c), RAMP_EINVAL);

    memset(key, 'k', sizeof(key));
    assert_int_equal(agt_query_req_encode(&b, AGT_QUERY_EVAL, key,
                         RP_KEY_MAX + 1, -1, NULL),
        RAMP_EINVAL);
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_EVAL, key, 0, -1, NULL),
        RAMP_EINVAL);
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_EVAL, key, 1, 4, NULL),
        RAMP_EINVAL);
    assert_int_equal(
        agt_query_req_encode(&b, 4, key, 1, -1, NULL), RAMP_EINVAL);
    assert_int_equal(b.len, 0);

    /* A ceiling too small leaves the buffer as it was. */
    rp_buf_fini(&b);
    rp_buf_init(&b, 4);
    assert_int_equal(
        agt_query_req_encode(&b, AGT_QUERY_EVAL, key, 10, -1, NULL),
        RAMP_ETOOBIG);
    assert_int_equal(b.len, 0);
    rp_buf_fini(&b);
    rp_free(longstr);
}

static void
test_answers_equal_rp_eval(void **state)
{
    struct qfx *q = *state;
    struct rp_ctx ctx[LF_NCTX];
    struct rp_attr attrs[2];
    struct rp_buf req, reply;
    struct agt_query_rep rep;
    struct rp_result ref;
    int checked = 0;

    lf_ctxs(ctx, attrs);
    rp_buf_init(&req, AGT_QUERY_REQ_MAX);
    rp_buf_init(&reply, AGT_QUERY_REP_MAX);
    for (size_t i = 0; i < LF_NFLAGS; i++) {
        const struct rp_flag *f = q->lf->flags[i];

        for (size_t k = 0; k < LF_NCTX; k++) {
            lf_ref_eval(q->lf, i, &ctx[k], &ref);
            for (int typed = 0; typed < 2; typed++) {
                rp_buf_reset(&req);
                assert_int_equal(agt_query_req_encode(&req, AGT_QUERY_EVAL,
                                     f->key, strlen(f->key),
                                     typed ? (int) f->type : -1, &ctx[k]),
                    RAMP_OK);
                assert_int_equal(
                    ask(q->v, req.data, req.len, &reply, &rep), RAMP_OK);
                assert_int_equal(rep.seq, q->lf->seq);
                assert_false(rep.stale);
                assert_int_equal(rep.nresults, 1);
                assert_int_equal(rep.results[0].flag_len, strlen(f->key));
                assert_memory_equal(rep.results[0].flag, f->key,
                    rep.results[0].flag_len);
                if (rep.results[0].reason != ref.reason) {
                    print_error("flag %s ctx %zu typed %d: error %d\n",
                        f->key, k, typed, (int) rep.results[0].error);
                }
                assert_result_eq(&rep.results[0], f, &ref);
                agt_query_rep_fini(&rep);
                checked++;
            }
        }
    }
    /* Every flag in one ALL request, in key order. */
    for (size_t k = 0; k < LF_NCTX; k++) {
        rp_buf_reset(&req);
        assert_int_equal(
            agt_query_req_encode(&req, AGT_QUERY_ALL, NULL, 0, -1, &ctx[k]),
            RAMP_OK);
        assert_int_equal(ask(q->v, req.data, req.len, &reply, &rep), RAMP_OK);
        assert_int_equal(rep.nresults, LF_NFLAGS);
        for (size_t i = 0; i < LF_NFLAGS; i++) {
            lf_ref_eval(q->lf, i, &ctx[k], &ref);
            assert_int_equal(
                rep.results[i].flag_len, strlen(q->lf->flags[i]->key));
            assert_memory_equal(rep.results[i].flag, q->lf->flags[i]->key,
                rep.results[i].flag_len);
            if (rep.results[i].reason != ref.reason) {
                print_error("ALL flag %zu ctx %zu: error %d\n", i, k,
                    (int) rep.results[i].error);
            }
            assert_result_eq(&rep.results[i], q->lf->flags[i], &ref);
        }
        agt_query_rep_fini(&rep);
    }
    assert_int_equal(checked, LF_NFLAGS * LF_NCTX * 2);

    /* Spot checks that the fixture exercises what it claims to. */
    rp_buf_reset(&req);
    assert_int_equal(agt_query_req_encode(&req, AGT_QUERY_EVAL, "b-host", 6,
                         RP_TYPE_BOOL, NULL),
        RAMP_OK);
    assert_int_equal(ask(q->v, req.data, req.len, &reply, &rep), RAMP_OK);
    assert_int_equal(rep.results[0].reason, RP_REASON_SPLIT);
    assert_true(rep.results[0].b);
    agt_query_rep_fini(&rep);
    rp_buf_fini(&req);
    rp_buf_fini(&reply);
}

static void
test_answer_errors(void **state)
{
    struct qfx *q = *state;
    struct rp_buf req, reply;
    struct agt_query_rep rep;

    rp_buf_init(&req, AGT_QUERY_REQ_MAX);
    rp_buf_init(&reply, AGT_QUERY_REP_MAX);
    /* Unknown flag: status OK, result FLAG_NOT_FOUND, requested type. */
    assert_int_equal(agt_query_req_encode(&req, AGT_QUERY_EVAL, "nope", 4,
                         RP_TYPE_NUMBER, NULL),
        RAMP_OK);
    assert_int_equal(ask(q->v, req.data, req.len, &reply, &rep), RAMP_OK);
    assert_int_equal(rep.nresults, 1);
    assert_int_equal(rep.results[0].reason, RP_REASON_ERROR);
    assert_int_equal(rep.results[0].error, RP_EC_FLAG_NOT_FOUND);
    assert_int_equal(rep.results[0].flag_version, 0);
    assert_int_equal(rep.results[0].type, RP_TYPE_NUMBER);
    assert_null(rep.results[0].variant);
    agt_query_rep_fini(&rep);

    /* Wrong type: TYPE_MISMATCH, with the flag's real type and version. */
    rp_buf_reset(&req);
    assert_int_equal(agt_query_req_encode(&req, AGT_QUERY_EVAL, "f-str", 5,
                         RP_TYPE_BOOL, NULL),
        RAMP_OK);
    assert_int_equal(ask(q->v, req.data, req.len, &reply, &rep), RAMP_OK);
    assert_int_equal(rep.results[0].error, RP_EC_TYPE_MISMATCH);
    assert_int_equal(rep.results[0].type, RP_TYPE_STRING);
    assert_int_equal(rep.results[0].flag_version, 1);
    agt_query_rep_fini(&rep);

    /* The split needs a key: TARGETING_KEY_MISSING. */
    rp_buf_reset(&req);
    assert_int_equal(
        agt_query_req_encode(&req, AGT_QUERY_EVAL, "d-num", 5, -1, NULL),
        RAMP_OK);
    assert_int_equal(ask(q->v, req.data, req.len, &reply, &rep), RAMP_OK);
    assert_int_equal(rep.results[0].error, RP_EC_TARGETING_KEY_MISSING);
    agt_query_rep_fini(&rep);

    /* No view yet: every flag unknown, seq 0, ALL empty; stale echoed. */
    rp_buf_reset(&reply);
    assert_int_equal(
        agt_query_answer(NULL, NULL, true, req.data, req.len, &reply),
        RAMP_OK);
    assert_int_equal(
        agt_query_rep_decode(reply.data, reply.len, &rep), RAMP_OK);
    assert_int_equal(rep.status, RAMP_OK);
    assert_true(rep.stale);
    assert_int_equal(rep.seq, 0);
    assert_int_equal(rep.results[0].error, RP_EC_FLAG_NOT_FOUND);
    agt_query_rep_fini(&rep);
    assert_int_equal(agt_query_reply_status(reply.data, reply.len), RAMP_OK);

    /* The status read from a reply's head, as the server counts it. */
    {
        static const uint8_t junk[] = {0xa3, 'a', 'b', 'c'};
        static const uint8_t garbage_req[] = {0xc1, 0x00};

        rp_buf_reset(&reply);
        assert_int_equal(agt_query_answer(q->v, LF_HOST, false, garbage_req,
                             sizeof(garbage_req), &reply),
            RAMP_OK);
        assert_int_equal(
            agt_query_reply_status(reply.data, reply.len), RAMP_EPROTO);
        assert_int_equal(agt_query_reply_status(junk, sizeof(junk)),
            RAMP_EPROTO);
        assert_int_equal(agt_query_reply_status(junk, 1), RAMP_EPROTO);
        assert_int_equal(agt_query_reply_status(NULL, 0), RAMP_EPROTO);
    }

    /* A reply buffer too small even for an error reply: unchanged. */
    {
        struct rp_buf tiny;

        rp_buf_init(&tiny, 3);
        assert_int_equal(
            agt_query_answer(q->v, LF_HOST, false, req.data, req.len, &tiny),
            RAMP_ETOOBIG);
        assert_int_equal(tiny.len, 0);
        rp_buf_fini(&tiny);
    }
    rp_buf_fini(&req);
    rp_buf_fini(&reply);
}

/* What a hostile request gets: status st and no results. */
static void
assert_refused(const struct agt_view *v, const uint8_t *p, size_t n,
    ramp_err st)
{
    struct rp_buf reply;
    struct agt_query_rep rep;
    struct agt_query_req q;

    assert_int_equal(agt_query_req_decode(p, n, &q), st);
    rp_buf_init(&reply, AGT_QUERY_REP_MAX);
    assert_int_equal(ask(v, p, n, &reply, &rep), st);
    assert_int_equal(rep.nresults, 0);
    agt_query_rep_fini(&rep);
    rp_buf_fini(&reply);
}

/* Build a request by hand: [ver, op, flag, type, ctx] with overrides. */
static void
pack_hand(struct rp_buf *b, void (*body)(struct rp_pack *pk))
{
    struct rp_pack pk;

    rp_buf_reset(b);
    rp_pack_init(&pk, b);
    body(&pk);
    assert_int_equal(pk.err, RAMP_OK);
}

static void
h_version2(struct rp_pack *pk)
{
    rp_pack_array(pk, 3);
    rp_pack_u64(pk, 2);
    rp_pack_u64(pk, AGT_QUERY_ALL);
    rp_pack_nil(pk);
}

/* An op nobody defined (3 is INFO). */
static void
h_op4(struct rp_pack *pk)
{
    rp_pack_array(pk, 3);
    rp_pack_u64(pk, 1);
    rp_pack_u64(pk, 4);
    rp_pack_nil(pk);
}

static void
h_flag_int(struct rp_pack *pk)
{
    rp_pack_array(pk, 5);
    rp_pack_u64(pk, 1);
    rp_pack_u64(pk, 1);
    rp_pack_u64(pk, 7);
    rp_pack_nil(pk);
    rp_pack_array(pk, 2);
    rp_pack_nil(pk);
    rp_pack_array(pk, 0);
}

static void
h_type4(struct rp_pack *pk)
{
    rp_pack_array(pk, 5);
    rp_pack_u64(pk, 1);
    rp_pack_u64(pk, 1);
    rp_pack_str(pk, "a-bool");
    rp_pack_u64(pk, 4);
    rp_pack_array(pk, 2);
    rp_pack_nil(pk);
    rp_pack_array(pk, 0);
}

static void
h_short_eval(struct rp_pack *pk)
{
    rp_pack_array(pk, 4);
    rp_pack_u64(pk, 1);
    rp_pack_u64(pk, 1);
    rp_pack_str(pk, "a-bool");
    rp_pack_nil(pk);
}

static void
h_empty_flag(struct rp_pack *pk)
{
    rp_pack_array(pk, 5);
    rp_pack_u64(pk, 1);
    rp_pack_u64(pk, 1);
    rp_pack_str(pk, "");
    rp_pack_nil(pk);
    rp_pack_array(pk, 2);
    rp_pack_nil(pk);
    rp_pack_array(pk, 0);
}

static size_t h_attrs_n;
static size_t h_name_len;
static size_t h_val_len;
static int h_val_kind; /* 0 str, 1 nil, 2 bin, 3 map, 4 nan, 5 int, 6 neg */

static void
h_all_attrs(struct rp_pack *pk)
{
    static char big[RP_STR_MAX + 2];

    memset(big, 'x', sizeof(big));
    rp_pack_array(pk, 3);
    rp_pack_u64(pk, 1);
    rp_pack_u64(pk, AGT_QUERY_ALL);
    rp_pack_array(pk, 2);
    rp_pack_strn(pk, big, h_val_len);
    rp_pack_array(pk, h_attrs_n);
    for (size_t i = 0; i < h_attrs_n; i++) {
        char name[RP_NAME_MAX + 2];

        memset(name, 'a', sizeof(name));
        name[0] = (char) ('a' + (i % 26));
        name[1] = (char) ('a' + (i / 26));
        rp_pack_array(pk, 2);
        rp_pack_strn(pk, name, h_name_len);
        switch (h_val_kind) {
        case 0:
            rp_pack_strn(pk, big, h_val_len);
            break;
        case 1:
            rp_pack_nil(pk);
            break;
        case 2:
            rp_pack_bin(pk, "b", 1);
            break;
        case 3:
            rp_pack_map(pk, 0);
            break;
        case 4:
            rp_pack_double(pk, NAN);
            break;
        case 5:
            rp_pack_u64(pk, 7);
            break;
        case 6:
            rp_pack_i64(pk, -7);
            break;
        }
    }
}

static void
test_hostile_requests(void **state)
{
    struct qfx *q = *state;
    struct rp_ctx ctx[LF_NCTX];
    struct rp_attr attrs[2];
    struct rp_buf b;
    struct agt_query_req qr;
    uint8_t *copy;
    static const uint8_t huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t huge_attrs[] = {0x93, 0x01, 0x02, 0x92, 0xc0, 0xdd,
        0xff, 0xff, 0xff, 0xff};
    static const uint8_t not_array[] = {0x01};
    static const uint8_t trailing[] = {0x93, 0x01, 0x02, 0x92, 0xc0, 0x90,
        0x00};

    lf_ctxs(ctx, attrs);
    rp_buf_init(&b, AGT_QUERY_REQ_MAX + 16);
    assert_int_equal(agt_query_req_encode(&b, AGT_QUERY_EVAL, "a-bool", 6,
                         RP_TYPE_BOOL, &ctx[2]),
        RAMP_OK);
    /* Every truncation of a valid request, including empty. */
    for (size_t n = 0; n < b.len; n++) {
        assert_refused(q->v, b.data, n, RAMP_EPROTO);
    }
    /* Byte mutations: whatever decodes must answer OK; whatever does not
     * gets its decode error as status; never silence, never a crash. */
    copy = xcalloc(1, b.len);
    for (size_t i = 0; i < b.len; i++) {
        static const uint8_t vals[] = {0x00, 0xff, 0xc0, 0xc1, 0xdd, 0x7f,
            0x90, 0xa5};

        for (size_t j = 0; j < sizeof(vals); j++) {
            struct rp_buf reply;
            struct agt_query_rep rep;
            ramp_err d;

            memcpy(copy, b.data, b.len);
            copy[i] = vals[j];
            d = agt_query_req_decode(copy, b.len, &qr);
            rp_buf_init(&reply, AGT_QUERY_REP_MAX);
            assert_int_equal(ask(q->v, copy, b.len, &reply, &rep), d);
            if (d != RAMP_OK) {
                assert_int_equal(rep.nresults, 0);
            } else {
                assert_int_equal(rep.nresults, 1);
            }
            agt_query_rep_fini(&rep);
            rp_buf_fini(&reply);
        }
    }
    rp_free(copy);

    assert_refused(q->v, huge_array, sizeof(huge_array), RAMP_EPROTO);
    assert_refused(q->v, huge_attrs, sizeof(huge_attrs), RAMP_EPROTO);
    assert_refused(q->v, not_array, sizeof(not_array), RAMP_EPROTO);
    assert_refused(q->v, trailing, sizeof(trailing), RAMP_EPROTO);
    assert_refused(q->v, NULL, 0, RAMP_EPROTO);

    pack_hand(&b, h_version2);
    assert_refused(q->v, b.data, b.len, RAMP_EVERSION);
    pack_hand(&b, h_op4);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);
    pack_hand(&b, h_flag_int);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);
    pack_hand(&b, h_type4);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);
    pack_hand(&b, h_short_eval);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);
    pack_hand(&b, h_empty_flag);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);

    /* Attribute bounds, each on both sides of its limit. */
    h_attrs_n = AGT_QUERY_MAX_ATTRS;
    h_name_len = 2;
    h_val_len = 1;
    h_val_kind = 0;
    pack_hand(&b, h_all_attrs);
    assert_int_equal(agt_query_req_decode(b.data, b.len, &qr), RAMP_OK);
    assert_int_equal(qr.ctx.nattrs, AGT_QUERY_MAX_ATTRS);
    h_attrs_n = AGT_QUERY_MAX_ATTRS + 1;
    pack_hand(&b, h_all_attrs);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);

    h_attrs_n = 1;
    h_name_len = RP_NAME_MAX;
    pack_hand(&b, h_all_attrs);
    assert_int_equal(agt_query_req_decode(b.data, b.len, &qr), RAMP_OK);
    assert_int_equal(strlen(qr.ctx.attrs[0].name), RP_NAME_MAX);
    h_name_len = RP_NAME_MAX + 1;
    pack_hand(&b, h_all_attrs);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);
    h_name_len = 0;
    pack_hand(&b, h_all_attrs);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);

    h_name_len = 2;
    h_val_len = RP_STR_MAX;
    pack_hand(&b, h_all_attrs);
    assert_int_equal(agt_query_req_decode(b.data, b.len, &qr), RAMP_OK);
    assert_int_equal(qr.ctx.key_len, RP_STR_MAX);
    assert_int_equal(qr.ctx.attrs[0].len, RP_STR_MAX);
    h_val_len = RP_STR_MAX + 1; /* both key and value too long */
    pack_hand(&b, h_all_attrs);
    assert_refused(q->v, b.data, b.len, RAMP_EPROTO);

    h_val_len = 1;
    for (h_val_kind = 1; h_val_kind <= 4; h_val_kind++) {
        pack_hand(&b, h_all_attrs);
        assert_refused(q->v, b.data, b.len, RAMP_EPROTO);
    }
    h_val_kind = 5;
    pack_hand(&b, h_all_attrs);
    assert_int_equal(agt_query_req_decode(b.data, b.len, &qr), RAMP_OK);
    assert_int_equal(qr.ctx.attrs[0].type, RP_ATTR_NUMBER);
    assert_true(qr.ctx.attrs[0].n == 7);
    h_val_kind = 6;
    pack_hand(&b, h_all_attrs);
    assert_int_equal(agt_query_req_decode(b.data, b.len, &qr), RAMP_OK);
    assert_true(qr.ctx.attrs[0].n == -7);

    /* Over the size cap: ETOOBIG before anything is read. */
    rp_buf_reset(&b);
    assert_int_equal(rp_buf_reserve(&b, AGT_QUERY_REQ_MAX + 1), RAMP_OK);
    memset(b.data, 0x90, AGT_QUERY_REQ_MAX + 1);
    assert_refused(q->v, b.data, AGT_QUERY_REQ_MAX + 1, RAMP_ETOOBIG);
    rp_buf_fini(&b);
}

static void
test_hostile_replies(void **state)
{
    struct qfx *q = *state;
    struct rp_buf req, reply, b;
    struct agt_query_rep rep;
    struct rp_pack pk;

    rp_buf_init(&req, AGT_QUERY_REQ_MAX);
    rp_buf_init(&reply, AGT_QUERY_REP_MAX);
    rp_buf_init(&b, 4096);
    assert_int_equal(
        agt_query_req_encode(&req, AGT_QUERY_ALL, NULL, 0, -1, NULL),
        RAMP_OK);
    assert_int_equal(ask(q->v, req.data, req.len, &reply, &rep), RAMP_OK);
    agt_query_rep_fini(&rep);
    for (size_t n = 0; n < reply.len; n++) {
        assert_int_equal(
            agt_query_rep_decode(reply.data, n, &rep), RAMP_EPROTO);
        assert_int_equal(rep.nresults, 0);
    }

    /* A bool result whose value is a string. */
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, 4);
    rp_pack_u64(&pk, 0);
    rp_pack_bool(&pk, false);
    rp_pack_u64(&pk, 1);
    rp_pack_array(&pk, 1);
    rp_pack_array(&pk, 7);
    rp_pack_str(&pk, "a-bool");
    rp_pack_str(&pk, "on");
    rp_pack_str(&pk, "true");
    rp_pack_u64(&pk, 0);
    rp_pack_u64(&pk, 0);
    rp_pack_u64(&pk, 1);
    rp_pack_u64(&pk, RP_TYPE_BOOL);
    assert_int_equal(pk.err, RAMP_OK);
    assert_int_equal(agt_query_rep_decode(b.data, b.len, &rep), RAMP_EPROTO);

    /* A reason out of range. */
    rp_buf_reset(&b);
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, 4);
    rp_pack_u64(&pk, 0);
    rp_pack_bool(&pk, false);
    rp_pack_u64(&pk, 1);
    rp_pack_array(&pk, 1);
    rp_pack_array(&pk, 7);
    rp_pack_str(&pk, "a-bool");
    rp_pack_nil(&pk);
    rp_pack_nil(&pk);
    rp_pack_u64(&pk, 9);
    rp_pack_u64(&pk, 0);
    rp_pack_u64(&pk, 1);
    rp_pack_u64(&pk, RP_TYPE_BOOL);
    assert_int_equal(pk.err, RAMP_OK);
    assert_int_equal(agt_query_rep_decode(b.data, b.len, &rep), RAMP_EPROTO);

    /* A status out of range, and a value without a variant. */
    rp_buf_reset(&b);
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, 4);
    rp_pack_u64(&pk, 1000);
    rp_pack_bool(&pk, false);
    rp_pack_u64(&pk, 1);
    rp_pack_array(&pk, 0);
    assert_int_equal(agt_query_rep_decode(b.data, b.len, &rep), RAMP_EPROTO);
    rp_buf_reset(&b);
    rp_pack_init(&pk, &b);
    rp_pack_array(&pk, 4);
    rp_pack_u64(&pk, 0);
    rp_pack_bool(&pk, false);
    rp_pack_u64(&pk, 1);
    rp_pack_array(&pk, 1);
    rp_pack_array(&pk, 7);
    rp_pack_str(&pk, "a-bool");
    rp_pack_nil(&pk);
    rp_pack_bool(&pk, true);
    rp_pack_u64(&pk, 0);
    rp_pack_u64(&pk, 0);
    rp_pack_u64(&pk, 1);
    rp_pack_u64(&pk, RP_TYPE_BOOL);
    assert_int_equal(pk.err, RAMP_OK);
    assert_int_equal(agt_query_rep_decode(b.data, b.len, &rep), RAMP_EPROTO);

    rp_buf_fini(&b);
    rp_buf_fini(&req);
    rp_buf_fini(&reply);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_req_roundtrip),
        cmocka_unit_test(test_req_encode_bounds),
        cmocka_unit_test_setup_teardown(
            test_answers_equal_rp_eval, setup, teardown),
        cmocka_unit_test_setup_teardown(test_answer_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_replies, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
