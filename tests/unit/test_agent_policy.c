/* SPDX-License-Identifier: MIT */
/*
 * Tests for agent/policy.c (freshness, resync backoff and continuation,
 * log rate limit) and agent/stats.c (the summary line), with the clock
 * driven by hand: no sleeping, no timing thresholds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "policy.h"
#include "stats.h"

static void
test_fresh_starts_stale(void **state)
{
    struct agt_stale_after sa = {3, 0};
    struct agt_fresh f;

    (void) state;
    agt_fresh_init(&f);
    assert_true(f.stale);
    assert_int_equal(f.interval_ms, AGT_HEARTBEAT_DEFAULT_MS);
    assert_int_equal(agt_fresh_limit(&f, &sa), 3000);
    /* stale from the start: no "turned stale" event until contact */
    assert_false(agt_fresh_tick(&f, 1000000, &sa));
    assert_true(f.stale);
    assert_true(agt_fresh_contact(&f, 1000000, 0)); /* cleared */
    assert_false(f.stale);
    assert_false(agt_fresh_contact(&f, 1000100, 0)); /* already fresh */
}

static void
test_fresh_turns_stale_once(void **state)
{
    struct agt_stale_after sa = {3, 0};
    struct agt_fresh f;

    (void) state;
    agt_fresh_init(&f);
    assert_true(agt_fresh_contact(&f, 5000, 500)); /* 500 ms heartbeats */
    assert_int_equal(agt_fresh_limit(&f, &sa), 1500);
    assert_false(agt_fresh_tick(&f, 6500, &sa)); /* exactly the bound */
    assert_false(f.stale);
    assert_true(agt_fresh_tick(&f, 6501, &sa));
    assert_true(f.stale);
    assert_false(agt_fresh_tick(&f, 9000, &sa)); /* said once */
    assert_true(agt_fresh_contact(&f, 9001, 0));
    assert_int_equal(f.interval_ms, 500); /* 0 keeps the interval */
    assert_false(agt_fresh_tick(&f, 10000, &sa));
    assert_true(agt_fresh_tick(&f, 10502, &sa));
}

static void
test_fresh_fixed_duration(void **state)
{
    struct agt_stale_after sa = {0, 10000};
    struct agt_fresh f;

    (void) state;
    agt_fresh_init(&f);
    assert_true(agt_fresh_contact(&f, 0, 250));
    assert_int_equal(agt_fresh_limit(&f, &sa), 10000);
    assert_false(agt_fresh_tick(&f, 10000, &sa));
    assert_true(agt_fresh_tick(&f, 10001, &sa));
}

static void
test_backoff(void **state)
{
    uint32_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600,
        30000, 30000};
    uint32_t d = 0;

    (void) state;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        d = agt_backoff_next(d, 100, 30000);
        assert_int_equal(d, want[i]);
    }
    assert_int_equal(agt_backoff_next(UINT32_MAX, 100, 30000), 30000);
    assert_int_equal(agt_backoff_next(50, 100, 30000), 100);
}

static void
test_jitter(void **state)
{
    (void) state;
    assert_int_equal(agt_jitter(1000, 0), 750);
    assert_int_equal(agt_jitter(1000, UINT32_MAX), 1000);
    assert_int_equal(agt_jitter(1000, UINT32_MAX / 2), 874);
    assert_int_equal(agt_jitter(0, 12345), 0);
    assert_int_equal(agt_jitter(UINT32_MAX, UINT32_MAX), UINT32_MAX);
}

static void
test_resync_again(void **state)
{
    struct agt_resync_result r;

    (void) state;
    memset(&r, 0, sizeof(r));
    r.nenvs = 1000;
    r.applied = 1000;
    assert_true(agt_resync_again(&r, 1000, 1500)); /* capped: behind */
    assert_false(agt_resync_again(&r, 1500, 1500)); /* caught up */
    assert_false(agt_resync_again(&r, 1000, 0));   /* head unknown */
    r.applied = 0;
    r.replays = 1000;
    assert_false(agt_resync_again(&r, 1000, 1500)); /* nothing new */
}

static void
test_ratelimit(void **state)
{
    struct agt_ratelimit rl;
    uint64_t sup = 99;

    (void) state;
    memset(&rl, 0, sizeof(rl));
    assert_true(agt_ratelimit_allow(&rl, 100000, 3, 10000, &sup));
    assert_int_equal(sup, 0);
    assert_true(agt_ratelimit_allow(&rl, 100001, 3, 10000, &sup));
    assert_true(agt_ratelimit_allow(&rl, 100002, 3, 10000, &sup));
    for (int i = 0; i < 7; i++) {
        assert_false(agt_ratelimit_allow(&rl, 105000, 3, 10000, &sup));
    }
    assert_false(agt_ratelimit_allow(&rl, 109999, 3, 10000, &sup));
    assert_true(agt_ratelimit_allow(&rl, 110000, 3, 10000, &sup));
    assert_int_equal(sup, 8);
    assert_true(agt_ratelimit_allow(&rl, 110001, 3, 10000, &sup));
    assert_int_equal(sup, 0);
}

static void
test_stats_format(void **state)
{
    struct agt_stats s;
    struct rp_buf b;

    (void) state;
    agt_stats_init(&s);
    agt_stats_inc(&s.updates[AGT_APPLY_APPLIED], 5);
    agt_stats_inc(&s.updates[AGT_APPLY_BAD_SIGNATURE], 2);
    agt_stats_inc(&s.queries_served, 7);
    agt_stats_inc(&s.resyncs, 1);
    rp_buf_init(&b, 4096);
    assert_int_equal(agt_stats_format(&s, &b), RAMP_OK);
    assert_int_equal(rp_buf_append(&b, "", 1), RAMP_OK);
    assert_string_equal((const char *) b.data,
        "applied=5 heartbeat=0 replay=0 gap=0 bad_signature=2 "
        "unknown_key=0 malformed=0 version=0 oversize=0 wrong_kind=0 "
        "full=0 store=0 nomem=0 readonly=0 sub_recv_errors=0 resyncs=1 "
        "resync_snapshots=0 resync_failures=0 views=0 view_failures=0 "
        "queries=7 query_errors=0 query_io_errors=0 stale_turns=0 "
        "readers_cleared=0 stale=1");
    rp_buf_fini(&b);

    rp_buf_init(&b, 40); /* too small: all or nothing */
    assert_int_equal(rp_buf_append(&b, "x", 1), RAMP_OK);
    assert_int_equal(agt_stats_format(&s, &b), RAMP_ETOOBIG);
    assert_int_equal(b.len, 1);
    rp_buf_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_starts_stale),
        cmocka_unit_test(test_fresh_turns_stale_once),
        cmocka_unit_test(test_fresh_fixed_duration),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_jitter),
        cmocka_unit_test(test_resync_again),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_stats_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
