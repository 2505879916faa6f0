/* SPDX-License-Identifier: MIT */
/*
 * libramp's ramp_observe and ramp_detail.arm (client/observe.c, ramp.c):
 * the arm in both modes against the reference evaluation, outcomes
 * reaching a real PULL socket found through the cache meta (direct) and
 * through the INFO query (ipc, an in-process REP answering with
 * agt_query_answer_side), and dropping, counted and without waiting,
 * when there is no agent.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/reqrep0/rep.h>

#include "alloc.h"
#include "health.h"
#include "query.h"
#include "ramp/ramp.h"
#include "testutil.h"
#include "view.h"
#include "lib_fixture.h"

#define ROLL 4 /* e-roll: the fixture's flag with a rollout by key */

struct tfx {
    struct lf *lf;
    char out_url[128];
    char q_url[128];
    nng_socket pull;
    nng_socket rep;
    pthread_t th;
    bool rep_on;
    struct agt_view *v;
};

static void *
rep_main(void *arg)
{
    struct tfx *fx = arg;

    for (;;) {
        struct agt_query_side side = {LF_HOST, false, fx->out_url, NULL,
            NULL};
        struct rp_buf reply;
        nng_msg *m = NULL;

        if (nng_recvmsg(fx->rep, &m, 0) != 0) {
            break;
        }
        rp_buf_init(&reply, AGT_QUERY_REP_MAX);
        if (agt_query_answer_side(fx->v, &side, nng_msg_body(m),
                nng_msg_len(m), &reply) == RAMP_OK) {
            nng_msg_clear(m);
            if (nng_msg_append(m, reply.data, reply.len) == 0 &&
                nng_sendmsg(fx->rep, m, 0) == 0) {
                m = NULL;
            }
        }
        if (m != NULL) {
            nng_msg_free(m);
        }
        rp_buf_fini(&reply);
    }
    return NULL;
}

static int
setup(void **state)
{
    struct tfx *fx = calloc(1, sizeof(*fx));

    assert_non_null(fx);
    fx->lf = lf_new();
    (void) snprintf(fx->out_url, sizeof(fx->out_url), "ipc://%s/out.sock",
        fx->lf->dir);
    (void) snprintf(fx->q_url, sizeof(fx->q_url), "ipc://%s/q.sock",
        fx->lf->dir);
    assert_int_equal(agt_view_load(fx->lf->c, NULL, &fx->v), RAMP_OK);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct tfx *fx = *state;

    if (fx->rep_on) {
        (void) nng_close(fx->rep);
        (void) pthread_join(fx->th, NULL);
    }
    agt_view_rele(fx->v);
    lf_free(fx->lf);
    free(fx);
    return 0;
}

/* libramp opens the directory read-only itself: drop our handle. */
static void
close_writer(struct tfx *fx)
{
    agt_cache_close(fx->lf->c);
    fx->lf->c = NULL;
}

static void
listen_outcomes(struct tfx *fx)
{
    assert_int_equal(nng_pull0_open(&fx->pull), 0);
    assert_int_equal(nng_socket_set_ms(fx->pull, NNG_OPT_RECVTIMEO, 50), 0);
    assert_int_equal(nng_listen(fx->pull, fx->out_url, NULL, 0), 0);
}

/* Observe until one outcome arrives (the socket connects in the
 * background; earlier ones may be dropped, and are counted), then feed
 * it to a real aggregation and return its report entry's arm. */
static void
deliver(struct tfx *fx, ramp_client *c, const struct ramp_detail *d,
    uint64_t *arrived)
{
    struct agt_health *h = NULL;
    struct rp_health *r = NULL;
    uint64_t sent = 0;

    assert_int_equal(agt_health_new("t", "", &h), RAMP_OK);
    for (int i = 0; i < 400 && *arrived == 0; i++) {
        nng_msg *m = NULL;

        assert_int_equal(
            ramp_observe(c, "e-roll", d, i % 2 == 0, 1000 + i), RAMP_OK);
        sent++;
        while (nng_recvmsg(fx->pull, &m, 0) == 0) {
            assert_int_equal(
                agt_health_outcome(h, nng_msg_body(m), nng_msg_len(m)),
                RAMP_OK);
            nng_msg_free(m);
            (*arrived)++;
        }
    }
    assert_true(*arrived > 0);
    /* every outcome either arrived or was counted as dropped (the ones
     * still queued are delivered below) */
    for (int i = 0; i < 40 && *arrived + ramp_observe_dropped(c) < sent;
         i++) {
        nng_msg *m = NULL;

        if (nng_recvmsg(fx->pull, &m, 0) == 0) {
            assert_int_equal(
                agt_health_outcome(h, nng_msg_body(m), nng_msg_len(m)),
                RAMP_OK);
            nng_msg_free(m);
            (*arrived)++;
        }
    }
    assert_int_equal(*arrived + ramp_observe_dropped(c), sent);
    assert_int_equal(agt_health_report(h, 1, &r), RAMP_OK);
    assert_int_equal(r->nentries, 1);
    assert_string_equal(r->entries[0].flag_key, "e-roll");
    assert_string_equal(r->entries[0].variant, d->variant);
    assert_int_equal(r->entries[0].arm, (uint32_t) d->arm);
    assert_int_equal(
        r->entries[0].successes + r->entries[0].errors, *arrived);
    rp_health_free(r);
    agt_health_free(h);
}

/* The arm of every fixture context, against the reference evaluation. */
static void
check_arms(struct tfx *fx, ramp_client *c)
{
    struct rp_ctx ctx[LF_NCTX];
    struct rp_attr attrs[2];
    bool saw_t = false, saw_c = false;

    lf_ctxs(ctx, attrs);
    for (int k = 0; k < 200; k++) {
        char key[32];
        struct rp_ctx rc;
        struct rp_result res;
        struct ramp_detail d;
        ramp_ctx *rctx = NULL;
        bool v = false;

        (void) snprintf(key, sizeof(key), "user-%d", k);
        memset(&rc, 0, sizeof(rc));
        rc.key = key;
        rc.key_len = strlen(key);
        lf_ref_eval(fx->lf, ROLL, &rc, &res);
        assert_int_equal(ramp_ctx_new(&rctx), RAMP_OK);
        assert_int_equal(ramp_ctx_set_key(rctx, key), RAMP_OK);
        assert_int_equal(ramp_bool(c, "e-roll", rctx, false, &v, &d), RAMP_OK);
        assert_int_equal((int) d.arm, (int) res.arm);
        saw_t |= d.arm == RAMP_ARM_TREATMENT;
        saw_c |= d.arm == RAMP_ARM_CONTROL;
        ramp_ctx_free(rctx);
    }
    assert_true(saw_t && saw_c);
    /* a flag without a rollout: arm none */
    {
        struct ramp_detail d;
        bool v;

        (void) ramp_bool(c, "a-bool", NULL, false, &v, &d);
        assert_int_equal(d.arm, RAMP_ARM_NONE);
    }
}

static struct ramp_detail
treatment_detail(ramp_client *c)
{
    struct ramp_detail d;

    for (int k = 0;; k++) {
        char key[32];
        ramp_ctx *rctx = NULL;
        bool v = false;

        assert_true(k < 1000);
        (void) snprintf(key, sizeof(key), "user-%d", k);
        assert_int_equal(ramp_ctx_new(&rctx), RAMP_OK);
        assert_int_equal(ramp_ctx_set_key(rctx, key), RAMP_OK);
        assert_int_equal(ramp_bool(c, "e-roll", rctx, false, &v, &d), RAMP_OK);
        ramp_ctx_free(rctx);
        if (d.arm == RAMP_ARM_TREATMENT) {
            return d;
        }
    }
}

static void
test_direct(void **state)
{
    struct tfx *fx = *state;
    char target[128];
    ramp_client *c = NULL;
    struct ramp_detail d;
    uint64_t arrived = 0;

    assert_int_equal(
        agt_cache_set_outcome_url(fx->lf->c, fx->out_url), RAMP_OK);
    close_writer(fx);
    listen_outcomes(fx);
    (void) snprintf(target, sizeof(target), "direct:%s", fx->lf->dir);
    assert_int_equal(ramp_open(target, 0, &c), RAMP_OK);
    check_arms(fx, c);
    d = treatment_detail(c);
    deliver(fx, c, &d, &arrived);
    ramp_close(c);
    (void) nng_close(fx->pull);
}

static void
test_ipc(void **state)
{
    struct tfx *fx = *state;
    ramp_client *c = NULL;
    struct ramp_detail d;
    uint64_t arrived = 0;

    close_writer(fx);
    listen_outcomes(fx);
    assert_int_equal(nng_rep0_open(&fx->rep), 0);
    assert_int_equal(nng_listen(fx->rep, fx->q_url, NULL, 0), 0);
    assert_int_equal(pthread_create(&fx->th, NULL, rep_main, fx), 0);
    fx->rep_on = true;
    assert_int_equal(ramp_open(fx->q_url, 0, &c), RAMP_OK);
    assert_int_equal(ramp_set_timeout(c, 2000), RAMP_OK);
    check_arms(fx, c);
    d = treatment_detail(c);
    deliver(fx, c, &d, &arrived);
    ramp_close(c);
    (void) nng_close(fx->pull);
}

static void
test_no_agent(void **state)
{
    struct tfx *fx = *state;
    char target[128];
    ramp_client *c = NULL;
    struct ramp_detail d;

    /* direct mode, the agent never wrote an outcome URL */
    close_writer(fx);
    (void) snprintf(target, sizeof(target), "direct:%s", fx->lf->dir);
    assert_int_equal(ramp_open(target, 0, &c), RAMP_OK);
    d = treatment_detail(c);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ramp_observe(c, "e-roll", &d, true, 5), RAMP_OK);
    }
    assert_int_equal(ramp_observe_dropped(c), 1000);
    /* bad arguments change nothing */
    assert_int_equal(ramp_observe(NULL, "e-roll", &d, true, 5), RAMP_EINVAL);
    assert_int_equal(ramp_observe(c, NULL, &d, true, 5), RAMP_EINVAL);
    assert_int_equal(ramp_observe(c, "e-roll", NULL, true, 5), RAMP_EINVAL);
    assert_int_equal(ramp_observe(c, "", &d, true, 5), RAMP_EINVAL);
    d.arm = (ramp_arm) 9;
    assert_int_equal(ramp_observe(c, "e-roll", &d, true, 5), RAMP_EINVAL);
    /* an error evaluation's outcome is ignored, not dropped */
    memset(&d, 0, sizeof(d));
    assert_int_equal(ramp_observe(c, "e-roll", &d, true, 5), RAMP_OK);
    assert_int_equal(ramp_observe_dropped(c), 1000);
    assert_int_equal(ramp_observe_dropped(NULL), 0);
    ramp_close(c);

    /* ipc mode, nobody at the socket: the INFO question is pending or
     * timed out, every outcome dropped */
    assert_int_equal(ramp_open(fx->q_url, 0, &c), RAMP_OK);
    memset(&d, 0, sizeof(d));
    (void) snprintf(d.variant, sizeof(d.variant), "on");
    d.arm = RAMP_ARM_CONTROL;
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(ramp_observe(c, "e-roll", &d, false, 5), RAMP_OK);
    }
    assert_int_equal(ramp_observe_dropped(c), 1000);
    ramp_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ipc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_agent, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
