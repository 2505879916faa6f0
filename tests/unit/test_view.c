/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/view.c over a real cache filled with signed envelopes:
 * load and lookup, rollout views resolved, reuse of unchanged entries
 * (pointer-equal) after another flag or a rollout changed, entries that
 * outlive the view they came from, allocation failures at every step,
 * and reader threads evaluating while a writer applies changes and swaps
 * views through an agt_viewref (run under ASan in the sanitizer build).
 * Not here: the query protocol (test_query), LMDB itself (test_cache).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "testutil.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "lib_fixture.h"
#include "view.h"

struct vfx {
    struct lf *lf;
    long allocs;
};

static int
setup(void **state)
{
    struct vfx *v = calloc(1, sizeof(*v));

    assert_non_null(v);
    v->allocs = rp_alloc_outstanding();
    v->lf = lf_new();
    *state = v;
    return 0;
}

static int
teardown(void **state)
{
    struct vfx *v = *state;
    long allocs = v->allocs;

    lf_free(v->lf);
    free(v);
    assert_int_equal(rp_alloc_outstanding(), allocs);
    return 0;
}

static const struct agt_entry *
get(const struct agt_view *v, const char *key)
{
    return agt_view_get(v, key, strlen(key));
}

static void
test_load_lookup(void **state)
{
    struct vfx *fx = *state;
    struct agt_view *v = NULL;
    const struct agt_entry *e;

    assert_int_equal(agt_view_load(fx->lf->c, NULL, &v), RAMP_OK);
    assert_int_equal(agt_view_seq(v), 1);
    assert_int_equal(agt_view_count(v), LF_NFLAGS);
    assert_string_equal(agt_view_host(v), LF_HOST);
    for (size_t i = 0; i < LF_NFLAGS; i++) {
        const char *key = fx->lf->flags[i]->key;

        e = agt_view_at(v, i);
        assert_non_null(e);
        assert_string_equal(e->flag->key, key); /* key order */
        assert_ptr_equal(get(v, key), e);
        assert_true(e->flag->prepared);
        assert_int_equal(e->flag->version, 1);
    }
    assert_null(agt_view_at(v, LF_NFLAGS));
    assert_null(get(v, "a-boo"));    /* a prefix */
    assert_null(get(v, "a-bool2"));  /* an extension */
    assert_null(get(v, "0"));        /* before the first */
    assert_null(get(v, "zzz"));      /* after the last */
    assert_null(agt_view_get(v, "a-bool", 5));
    assert_non_null(agt_view_get(v, "a-boolean", 6)); /* length counts */
    assert_null(agt_view_get(NULL, "a-bool", 6));
    assert_int_equal(agt_view_count(NULL), 0);
    assert_int_equal(agt_view_seq(NULL), 0);

    /* Rollouts: resolved to variant indexes; none where there is none. */
    e = get(v, "a-bool");
    assert_null(e->rollout);
    assert_false(e->ro.applies);
    e = get(v, "b-host");
    assert_non_null(e->rollout);
    assert_true(e->ro.applies);
    assert_int_equal(e->ro.unit, RP_UNIT_HOST);
    assert_int_equal(e->ro.stage_bp, 10000);
    assert_int_equal(e->ro.treatment, 0);
    assert_int_equal(e->ro.control, 1);
    e = get(v, "e-roll");
    assert_true(e->ro.applies);
    assert_int_equal(e->ro.unit, RP_UNIT_KEY);
    assert_int_equal(e->ro.stage_bp, 5000);
    agt_view_rele(v);
}

static void
test_reuse_unchanged(void **state)
{
    struct vfx *fx = *state;
    struct lf *lf = fx->lf;
    struct agt_view *v1 = NULL, *v2 = NULL, *v3 = NULL, *v4 = NULL;
    const struct agt_entry *old[LF_NFLAGS];

    assert_int_equal(agt_view_load(lf->c, NULL, &v1), RAMP_OK);
    for (size_t i = 0; i < LF_NFLAGS; i++) {
        old[i] = agt_view_at(v1, i);
    }

    /* f-str changes (version 2): only its entry is new. */
    lf->flags[5]->version = 2;
    lf->flags[5]->default_variant = 1;
    lf_put_flag(lf, 5);
    assert_int_equal(agt_view_load(lf->c, v1, &v2), RAMP_OK);
    assert_int_equal(agt_view_seq(v2), 2);
    for (size_t i = 0; i < LF_NFLAGS - 1; i++) {
        assert_ptr_equal(agt_view_at(v2, i), old[i]);
    }
    assert_ptr_not_equal(get(v2, "f-str"), old[5]);
    assert_int_equal(get(v2, "f-str")->flag->version, 2);
    assert_int_equal(get(v1, "f-str")->flag->version, 1); /* v1 intact */

    /* e-roll's rollout changes (version 2, stage 100%): new entry with
     * the same flag version; the rest still shared. */
    lf->rollouts[4]->version = 2;
    lf->rollouts[4]->stages_bp[0] = 10000;
    lf_put_rollout(lf, 4);
    assert_int_equal(agt_view_load(lf->c, v2, &v3), RAMP_OK);
    assert_ptr_not_equal(get(v3, "e-roll"), old[4]);
    assert_int_equal(get(v3, "e-roll")->ro.stage_bp, 10000);
    assert_int_equal(get(v2, "e-roll")->ro.stage_bp, 5000);
    assert_ptr_equal(get(v3, "a-bool"), old[0]);
    assert_ptr_equal(get(v3, "f-str"), get(v2, "f-str"));

    /* Drop the older views first: shared entries live on in v3. */
    agt_view_rele(v1);
    agt_view_rele(v2);
    {
        struct rp_result res;
        struct rp_attr a = {.name = "country", .type = RP_ATTR_STRING,
            .s = "de", .len = 2};
        struct rp_ctx ctx = {.nattrs = 1, .attrs = &a};
        const struct agt_entry *e = get(v3, "a-bool");

        rp_eval(e->flag, &e->ro, &ctx, &res);
        assert_int_equal(res.reason, RP_REASON_TARGETING_MATCH);
        assert_string_equal(res.variant_name, "on");
    }

    /* Without prev nothing is shared. */
    assert_int_equal(agt_view_load(lf->c, NULL, &v4), RAMP_OK);
    for (size_t i = 0; i < LF_NFLAGS; i++) {
        assert_ptr_not_equal(agt_view_at(v4, i), agt_view_at(v3, i));
        assert_string_equal(
            agt_view_at(v4, i)->flag->key, agt_view_at(v3, i)->flag->key);
    }
    agt_view_rele(v3);
    agt_view_rele(v4);
}

static void
test_rollout_unresolvable(void **state)
{
    struct vfx *fx = *state;
    struct lf *lf = fx->lf;
    struct rp_rollout *r = lf_rollout("c-json", RP_UNIT_KEY, 5000);
    struct rp_buf p;
    struct agt_view *v = NULL;
    const struct agt_entry *e;

    /* c-json has variants full/none, the rollout names on/off. */
    rp_buf_init(&p, RP_FLAG_ENC_MAX);
    assert_int_equal(rp_rollout_encode(&p, r), RAMP_OK);
    lf_apply(lf, RP_KIND_ROLLOUT_PUT, &p);
    rp_buf_fini(&p);
    rp_rollout_free(r);
    assert_int_equal(agt_view_load(lf->c, NULL, &v), RAMP_OK);
    e = get(v, "c-json");
    assert_non_null(e->rollout);
    assert_false(e->ro.applies);
    agt_view_rele(v);
}

static void
test_flag_deleted(void **state)
{
    struct vfx *fx = *state;
    struct lf *lf = fx->lf;
    struct rp_flag_del d = {.version = 2};
    struct rp_buf p;
    struct agt_view *v1 = NULL, *v2 = NULL;

    assert_int_equal(agt_view_load(lf->c, NULL, &v1), RAMP_OK);
    (void) snprintf(d.key, sizeof(d.key), "%s", "b-host");
    rp_buf_init(&p, 1024);
    assert_int_equal(rp_flag_del_encode(&p, &d), RAMP_OK);
    lf_apply(lf, RP_KIND_FLAG_DEL, &p);
    rp_buf_fini(&p);
    assert_int_equal(agt_view_load(lf->c, v1, &v2), RAMP_OK);
    assert_int_equal(agt_view_count(v2), LF_NFLAGS - 1);
    assert_null(get(v2, "b-host"));
    assert_ptr_equal(get(v2, "a-bool"), get(v1, "a-bool"));
    assert_ptr_equal(get(v2, "c-json"), get(v1, "c-json"));
    assert_ptr_equal(get(v2, "f-str"), get(v1, "f-str"));
    agt_view_rele(v1);
    agt_view_rele(v2);
}

static void
test_load_oom(void **state)
{
    struct vfx *fx = *state;
    struct agt_view *prev = NULL;
    int failures = 0;

    assert_int_equal(agt_view_load(fx->lf->c, NULL, &prev), RAMP_OK);
    fx->lf->flags[0]->version = 2;
    lf_put_flag(fx->lf, 0);
    /* Fail allocation 1, 2, ... until the load succeeds: each failure is
     * RAMP_ENOMEM, leaves *out alone and leaks nothing. */
    for (long n = 1;; n++) {
        struct agt_view *v = (struct agt_view *) &failures; /* sentinel */
        long before = rp_alloc_outstanding();
        ramp_err rv;

        rp_alloc_fail_at(n);
        rv = agt_view_load(fx->lf->c, prev, &v);
        rp_alloc_fail_at(0);
        if (rv == RAMP_OK) {
            assert_int_equal(agt_view_count(v), LF_NFLAGS);
            assert_ptr_equal(get(v, "f-str"), get(prev, "f-str"));
            agt_view_rele(v);
            break;
        }
        assert_true(rv == RAMP_ENOMEM || rv == RAMP_ESTORE);
        assert_ptr_equal(v, (struct agt_view *) &failures);
        assert_int_equal(rp_alloc_outstanding(), before);
        failures++;
    }
    assert_true(failures > 3);
    agt_view_rele(prev);
}

static void
test_viewref(void **state)
{
    struct vfx *fx = *state;
    struct agt_viewref *r = NULL;
    struct agt_view *v = NULL, *g;

    assert_int_equal(agt_viewref_new(&r), RAMP_OK);
    assert_null(agt_viewref_get(r));
    assert_int_equal(agt_view_load(fx->lf->c, NULL, &v), RAMP_OK);
    agt_viewref_set(r, v); /* the ref owns that hold now */
    g = agt_viewref_get(r);
    assert_ptr_equal(g, v);
    agt_viewref_set(r, NULL); /* drops the ref's hold; ours keeps v */
    assert_null(agt_viewref_get(r));
    assert_int_equal(agt_view_count(g), LF_NFLAGS);
    agt_view_rele(g);

    assert_int_equal(agt_view_load(fx->lf->c, NULL, &v), RAMP_OK);
    agt_viewref_set(r, v);
    agt_viewref_free(r); /* releases v */
}

#define NREADERS 4
#define NCHANGES 60

struct shared {
    struct agt_viewref *ref;
    atomic_bool done;
};

struct reader {
    struct shared *sh;
    long reads;
    bool bad; /* an inconsistency seen: asserted on the main thread */
};

/*
 * Each view a reader gets must be internally consistent: f-str's version
 * is view seq (the writer bumps it once per seq from seq 1), keys sorted,
 * every entry evaluates, and seqs never go backwards for one reader.
 */
static void *
reader_main(void *arg)
{
    struct reader *rd = arg;
    uint64_t last = 0;

    while (!atomic_load(&rd->sh->done) || rd->reads == 0) {
        struct agt_view *v = agt_viewref_get(rd->sh->ref);
        const struct agt_entry *e;
        struct rp_ctx ctx = {.key = "user-1", .key_len = 6};
        struct rp_result res;

        if (v == NULL) {
            continue;
        }
        if (agt_view_seq(v) < last || agt_view_count(v) != LF_NFLAGS) {
            rd->bad = true;
        }
        last = agt_view_seq(v);
        e = agt_view_get(v, "f-str", 5);
        if (e == NULL || e->flag->version != last) {
            rd->bad = true;
        }
        for (size_t i = 0; i < agt_view_count(v); i++) {
            e = agt_view_at(v, i);
            if (i > 0 &&
                strcmp(agt_view_at(v, i - 1)->flag->key, e->flag->key) >= 0) {
                rd->bad = true;
            }
            rp_eval(e->flag, &e->ro, &ctx, &res);
            if (res.reason == RP_REASON_ERROR &&
                res.error != RP_EC_TARGETING_KEY_MISSING) {
                rd->bad = true;
            }
        }
        agt_view_rele(v);
        rd->reads++;
    }
    return NULL;
}

static void
test_concurrent_readers(void **state)
{
    struct vfx *fx = *state;
    struct lf *lf = fx->lf;
    struct shared sh = {0};
    struct reader rd[NREADERS];
    pthread_t th[NREADERS];
    struct agt_view *v = NULL, *last;

    assert_int_equal(agt_viewref_new(&sh.ref), RAMP_OK);
    assert_int_equal(agt_view_load(lf->c, NULL, &v), RAMP_OK);
    agt_viewref_set(sh.ref, v);
    atomic_init(&sh.done, false);
    for (int i = 0; i < NREADERS; i++) {
        rd[i] = (struct reader){.sh = &sh};
        assert_int_equal(pthread_create(&th[i], NULL, reader_main, &rd[i]), 0);
    }
    for (int n = 0; n < NCHANGES; n++) {
        struct agt_view *prev = agt_viewref_get(sh.ref);

        lf->flags[5]->version = lf->seq + 1; /* == the seq it lands at */
        lf_put_flag(lf, 5);
        assert_int_equal(agt_view_load(lf->c, prev, &v), RAMP_OK);
        agt_view_rele(prev);
        agt_viewref_set(sh.ref, v);
    }
    atomic_store(&sh.done, true);
    for (int i = 0; i < NREADERS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_false(rd[i].bad);
        assert_true(rd[i].reads > 0);
    }
    last = agt_viewref_get(sh.ref);
    assert_int_equal(agt_view_seq(last), NCHANGES + 1);
    assert_int_equal(get(last, "f-str")->flag->version, NCHANGES + 1);
    agt_view_rele(last);
    agt_viewref_free(sh.ref);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_lookup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reuse_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_rollout_unresolvable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flag_deleted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_viewref, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_concurrent_readers, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
