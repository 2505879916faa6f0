/* SPDX-License-Identifier: MIT */
/*
 * The resync server's answer to an agent ahead of the store (a store
 * restored from an older backup): the store's seq jumps past the agent
 * and the answer is a snapshot sealed at the new seq; a request too far
 * ahead, or past the jump rate (8 at once, then one per 5 s), changes
 * nothing and gets an empty log reply. A real REP socket on ipc, a real
 * LMDB store, real signatures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#include "buf.h"
#include "codec.h"
#include "envelope.h"
#include "resync.h"
#include "store.h"
#include "testutil.h"

static struct {
    char dir[64];
    char url[128];
    struct ctl_store *st;
    struct rp_keypair kp;
    struct rp_pubkey pk;
    struct ctl_resync *rs;
    nng_socket req;
} g;

static int
setup(void **state)
{
    struct ctl_store_opts so = {0};
    struct ctl_resync_opts ro = {0};

    (void) state;
    snprintf(g.dir, sizeof(g.dir), "/tmp/ramp-resync-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    snprintf(g.url, sizeof(g.url), "ipc://%s/rs.sock", g.dir);
    so.path = g.dir;
    so.map_size = 16 << 20;
    assert_int_equal(ctl_store_open(&so, &g.st), RAMP_OK);
    assert_int_equal(rp_key_generate(&g.kp), RAMP_OK);
    rp_key_public(&g.kp, &g.pk);
    ro.url = g.url;
    ro.workers = 2;
    assert_int_equal(ctl_resync_open(&ro, g.st, &g.kp, &g.rs), RAMP_OK);
    assert_int_equal(nng_req0_open(&g.req), 0);
    assert_int_equal(nng_socket_set_ms(g.req, NNG_OPT_RECVTIMEO, 10000), 0);
    assert_int_equal(nng_dial(g.req, g.url, NULL, 0), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    nng_close(g.req);
    ctl_resync_close(g.rs);
    ctl_store_close(g.st);
    rm_dir(g.dir);
    return 0;
}

/* Ask from since; returns the reply's status, *nenvs its envelope count
 * and *snap_seq the seq of a snapshot's envelope (verified). */
static uint32_t
ask(uint64_t since, size_t *nenvs, uint64_t *snap_seq)
{
    struct rp_resync_req q = {since};
    struct rp_resync_rep rep;
    struct rp_envelope env;
    struct rp_buf b;
    uint8_t *buf = NULL;
    size_t len = 0;
    uint32_t status;
    int rc;

    rp_buf_init(&b, 64);
    assert_int_equal(rp_resync_req_encode(&b, &q), RAMP_OK);
    assert_int_equal(nng_send(g.req, b.data, b.len, 0), 0);
    rp_buf_fini(&b);
    rc = nng_recv(g.req, &buf, &len, NNG_FLAG_ALLOC);
    if (rc != 0) {
        fail_msg("resync recv: %s", nng_strerror(rc));
    }
    assert_int_equal(rp_resync_rep_decode(buf, len, &rep), RAMP_OK);
    status = rep.status;
    *nenvs = rep.nenvs;
    *snap_seq = 0;
    if (status == 1) {
        assert_true(rep.nenvs >= 1);
        assert_int_equal(
            rp_env_open(rep.envs[0], rep.lens[0], &g.pk, 1, &env), RAMP_OK);
        assert_int_equal(env.kind, RP_KIND_SNAPSHOT);
        *snap_seq = env.seq;
    }
    rp_resync_rep_fini(&rep);
    nng_free(buf, len);
    return status;
}

static uint64_t
store_seq(void)
{
    uint64_t seq = UINT64_MAX;

    assert_int_equal(ctl_store_seq(g.st, &seq), RAMP_OK);
    return seq;
}

static void
test_ahead_jumps_and_snapshots(void **state)
{
    struct ctl_resync_stats st;
    uint64_t snap;
    size_t n;

    (void) state;
    assert_int_equal(store_seq(), 0);
    /* Not ahead: an empty log reply, nothing changes. */
    assert_int_equal(ask(0, &n, &snap), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_seq(), 0);
    /* Ahead by 5: the store jumps to 6, the reply is a snapshot at 6. */
    assert_int_equal(ask(5, &n, &snap), 1);
    assert_int_equal(snap, 6);
    assert_int_equal(store_seq(), 6);
    /* The same agent again, now at 6: not ahead any more. */
    assert_int_equal(ask(6, &n, &snap), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_seq(), 6);
    ctl_resync_stats(g.rs, &st);
    assert_int_equal(st.seq_jumps, 1);
    assert_int_equal(st.jumps_refused, 0);
}

static void
test_too_far_refused(void **state)
{
    struct ctl_resync_stats st;
    uint64_t seq = store_seq(), snap;
    size_t n;

    (void) state;
    /* More than 2^32 ahead: no store took that many changes. */
    assert_int_equal(ask(seq + ((uint64_t) 1 << 32) + 1, &n, &snap), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_seq(), seq);
    /* At the seq ceiling: refused too. */
    assert_int_equal(ask(UINT64_MAX, &n, &snap), 0);
    assert_int_equal(store_seq(), seq);
    ctl_resync_stats(g.rs, &st);
    assert_int_equal(st.jumps_refused, 2);
    /* Exactly 2^32 ahead is allowed (the jump uses the rate's budget). */
    assert_int_equal(ask(seq + ((uint64_t) 1 << 32), &n, &snap), 1);
    assert_int_equal(snap, seq + ((uint64_t) 1 << 32) + 1);
}

static void
test_jump_rate(void **state)
{
    struct ctl_resync_stats st, st0;
    uint64_t seq, snap;
    size_t n;
    int jumped = 0;

    (void) state;
    ctl_resync_stats(g.rs, &st0);
    /* Two jumps were spent above; the burst is 8, the refill one per
     * 5 s: asking 10 times at once, at least one is refused and the
     * store stays where the last allowed jump put it. */
    for (int i = 0; i < 10; i++) {
        seq = store_seq();
        if (ask(seq + 1, &n, &snap) == 1) {
            assert_int_equal(snap, seq + 2);
            assert_int_equal(store_seq(), seq + 2);
            jumped++;
        } else {
            assert_int_equal(n, 0);
            assert_int_equal(store_seq(), seq);
        }
    }
    ctl_resync_stats(g.rs, &st);
    assert_true(jumped >= 6 && jumped <= 7);
    assert_int_equal(st.seq_jumps - st0.seq_jumps, (uint64_t) jumped);
    assert_int_equal(st.jumps_refused - st0.jumps_refused,
        (uint64_t) (10 - jumped));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ahead_jumps_and_snapshots),
        cmocka_unit_test(test_too_far_refused),
        cmocka_unit_test(test_jump_rate),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
