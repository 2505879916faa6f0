/* SPDX-License-Identifier: MIT */
/*
 * controller/health.c: ctl_health_ingest on real signed envelopes, with
 * enrolled agents in a real LMDB store: cumulative differences (lost,
 * reordered, replayed reports, new boots, counters going backwards, a
 * controller restart), the refusals (unknown key, wrong key, tampered
 * payload, kind, mismatched id) and open enrollment on and off.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec.h"
#include "envelope.h"
#include "eval.h"
#include "health.h"
#include "store.h"
#include "testutil.h"

#define NOW 1700000000000LL

struct fx {
    char dir[64];
    struct ctl_store *st;
    struct ctl_health *h;
    struct rp_keypair a;     /* agent "web-01", enrolled */
    struct rp_keypair other; /* not enrolled */
    uint8_t boot[16];
};

static struct ctl_health *
fx_health(struct fx *fx, bool open)
{
    struct ctl_health_opts o = {fx->st, NULL, open, 0};
    struct ctl_health *h = NULL;

    assert_int_equal(ctl_health_open(&o, &h), RAMP_OK);
    return h;
}

static int
setup(void **state)
{
    struct fx *fx = calloc(1, sizeof(*fx));
    struct ctl_store_opts so = {0};

    assert_non_null(fx);
    (void) snprintf(fx->dir, sizeof(fx->dir), "/tmp/ramp-hctl-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    so.path = fx->dir;
    assert_int_equal(ctl_store_open(&so, &fx->st), RAMP_OK);
    assert_int_equal(rp_key_generate(&fx->a), RAMP_OK);
    assert_int_equal(rp_key_generate(&fx->other), RAMP_OK);
    assert_int_equal(ctl_store_agent_enroll(fx->st, "web-01", fx->a.pk,
                         "web-01.example", "admin", NOW),
        RAMP_OK);
    memset(fx->boot, 0xb1, sizeof(fx->boot));
    fx->h = fx_health(fx, false);
    *state = fx;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *fx = *state;

    ctl_health_close(fx->h);
    ctl_store_close(fx->st);
    rm_dir(fx->dir);
    free(fx);
    return 0;
}

/* One entry's cumulative counters: ok successes at 1000 us, err errors
 * at 5000 us. */
struct ent {
    const char *flag, *variant;
    uint32_t arm;
    uint64_t ev, ok, err;
};

static void
seal_report(struct rp_buf *out, const struct rp_keypair *kp, const char *id,
    const uint8_t boot[16], uint64_t seq, const struct ent *e, size_t n)
{
    struct rp_health r;
    struct rp_health_entry en[8];
    struct rp_buf pay;

    memset(&r, 0, sizeof(r));
    r.agent_id = (char *) id;
    memcpy(r.boot_id, boot, 16);
    r.report_seq = seq;
    r.ts_ms = NOW;
    r.host = (char *) "";
    r.nentries = n;
    r.entries = en;
    for (size_t i = 0; i < n; i++) {
        memset(&en[i], 0, sizeof(en[i]));
        en[i].flag_key = (char *) e[i].flag;
        en[i].variant = (char *) e[i].variant;
        en[i].arm = e[i].arm;
        en[i].evaluations = e[i].ev;
        en[i].successes = e[i].ok;
        en[i].errors = e[i].err;
        rp_hist_init(&en[i].hist);
        rp_hist_record_n(&en[i].hist, 1000, e[i].ok);
        rp_hist_record_n(&en[i].hist, 5000, e[i].err);
    }
    rp_buf_init(&pay, RP_HEALTH_MAX);
    assert_int_equal(rp_health_encode(&pay, &r), RAMP_OK);
    rp_buf_init(out, RP_ENV_MAX);
    assert_int_equal(rp_env_seal(out, kp, RP_KIND_HEALTH, seq, NOW, pay.data,
                         pay.len),
        RAMP_OK);
    rp_buf_fini(&pay);
}

static ramp_err
send_report(struct fx *fx, const struct rp_keypair *kp, const char *id,
    const uint8_t boot[16], uint64_t seq, const struct ent *e, size_t n,
    enum ctl_hrej *why)
{
    struct rp_buf b;
    ramp_err rv;

    seal_report(&b, kp, id, boot, seq, e, n);
    rv = ctl_health_ingest(fx->h, b.data, b.len, NOW + (int64_t) seq, why);
    rp_buf_fini(&b);
    return rv;
}

static void
drain(struct fx *fx, const char *flag, uint64_t t_ok, uint64_t t_err,
    uint64_t c_ok, uint64_t c_err)
{
    struct ctl_arm_sum t, c;

    ctl_health_drain(fx->h, flag, &t, &c);
    assert_int_equal(t.successes, t_ok);
    assert_int_equal(t.errors, t_err);
    assert_int_equal(t.hist.count, t_ok + t_err);
    assert_int_equal(c.successes, c_ok);
    assert_int_equal(c.errors, c_err);
    assert_int_equal(c.hist.count, c_ok + c_err);
}

static void
test_cumulative(void **state)
{
    struct fx *fx = *state;
    struct ent e1[] = {{"f", "on", 1, 10, 8, 2}, {"f", "off", 2, 20, 20, 0},
        {"g", "on", 0, 5, 5, 0}};
    struct ent e3[] = {{"f", "on", 1, 30, 25, 5}, {"f", "off", 2, 50, 49, 1},
        {"g", "on", 0, 9, 9, 0}};
    struct ent e2[] = {{"f", "on", 1, 20, 16, 4}, {"f", "off", 2, 30, 30, 0},
        {"g", "on", 0, 7, 7, 0}};
    struct ctl_health_stats st;
    struct ctl_arm_sum t, c;
    enum ctl_hrej why;
    int64_t last = 0;
    uint64_t reports = 0;

    assert_false(ctl_health_agent_seen(fx->h, "web-01", &last, &reports));
    /* seq 1 of a new boot counts from zero */
    assert_int_equal(send_report(fx, &fx->a, "web-01", fx->boot, 1, e1, 3,
                         NULL),
        RAMP_OK);
    ctl_health_drain(fx->h, "f", &t, &c);
    assert_int_equal(t.evaluations, 10);
    assert_int_equal(t.successes, 8);
    assert_int_equal(t.errors, 2);
    assert_int_equal(t.agents, 1);
    assert_int_equal(rp_hist_count_above(&t.hist, 1000), 2);
    assert_int_equal(c.evaluations, 20);
    assert_int_equal(c.successes, 20);
    /* drained: nothing left */
    drain(fx, "f", 0, 0, 0, 0);
    /* seq 2 lost: seq 3 brings its difference whole */
    assert_int_equal(send_report(fx, &fx->a, "web-01", fx->boot, 3, e3, 3,
                         NULL),
        RAMP_OK);
    drain(fx, "f", 17, 3, 29, 1);
    /* seq 2 arriving late: replay, ignored, nothing lost */
    assert_int_equal(send_report(fx, &fx->a, "web-01", fx->boot, 2, e2, 3,
                         &why),
        RAMP_EREPLAY);
    assert_int_equal(why, CTL_HREJ_REPLAY);
    assert_int_equal(send_report(fx, &fx->a, "web-01", fx->boot, 3, e3, 3,
                         &why),
        RAMP_EREPLAY);
    drain(fx, "f", 0, 0, 0, 0);
    /* unknown flag drains zeros */
    drain(fx, "nope", 0, 0, 0, 0);

    ctl_health_stats(fx->h, &st);
    assert_int_equal(st.received, 4);
    assert_int_equal(st.accepted, 2);
    assert_int_equal(st.rejected[CTL_HREJ_REPLAY], 2);
    assert_int_equal(st.agents_seen, 1);
    assert_int_equal(st.arm_evaluations[0], 9);
    assert_int_equal(st.arm_evaluations[1], 30);
    assert_int_equal(st.arm_evaluations[2], 50);
    assert_int_equal(st.boots, 1);
    assert_int_equal(st.tracked, 3);
    assert_true(ctl_health_agent_seen(fx->h, "web-01", &last, &reports));
    assert_int_equal(reports, 2);
    assert_int_equal(last, NOW + 3);
}

/* One entry with a given histogram, sealed as a report. */
static ramp_err
send_hist(struct fx *fx, uint64_t seq, const struct rp_hist *h)
{
    struct rp_health r;
    struct rp_health_entry en;
    struct rp_buf pay, b;
    ramp_err rv;

    memset(&r, 0, sizeof(r));
    memset(&en, 0, sizeof(en));
    r.agent_id = (char *) "web-01";
    memcpy(r.boot_id, fx->boot, 16);
    r.report_seq = seq;
    r.ts_ms = NOW;
    r.host = (char *) "";
    r.nentries = 1;
    r.entries = &en;
    en.flag_key = (char *) "f";
    en.variant = (char *) "on";
    en.arm = 1;
    en.evaluations = h->count;
    en.successes = h->count;
    en.hist = *h;
    rp_buf_init(&pay, RP_HEALTH_MAX);
    assert_int_equal(rp_health_encode(&pay, &r), RAMP_OK);
    rp_buf_init(&b, RP_ENV_MAX);
    assert_int_equal(rp_env_seal(&b, &fx->a, RP_KIND_HEALTH, seq, NOW,
                         pay.data, pay.len),
        RAMP_OK);
    rv = ctl_health_ingest(fx->h, b.data, b.len, NOW + (int64_t) seq, NULL);
    rp_buf_fini(&b);
    rp_buf_fini(&pay);
    return rv;
}

/*
 * The intake keeps each entry's last cumulative histogram in a packed
 * form; the difference it hands the engine must be exact in every
 * bucket, for buckets far apart and counts of many bytes.
 */
static void
test_hist_difference_exact(void **state)
{
    static const uint64_t us[] = {1, 3, 150, 40000, 2000000, 900000000};
    static const uint64_t n1[] = {1, 200, 70000, 1ULL << 33, 5, 0};
    static const uint64_t n2[] = {1, 201, 70000 + 300, (1ULL << 33) + 128,
        5 + 16384, 1};
    struct fx *fx = *state;
    struct rp_hist e0, h1, h2;
    struct ctl_arm_sum t, c;
    unsigned nonzero = 0;

    rp_hist_init(&h1);
    rp_hist_init(&h2);
    for (size_t i = 0; i < sizeof(us) / sizeof(us[0]); i++) {
        rp_hist_record_n(&h1, us[i], n1[i]);
        rp_hist_record_n(&h2, us[i], n2[i]);
    }
    /* an empty histogram first: nothing kept, nothing to subtract */
    rp_hist_init(&e0);
    assert_int_equal(send_hist(fx, 1, &e0), RAMP_OK);
    ctl_health_drain(fx->h, "f", &t, &c);
    assert_int_equal(t.hist.count, 0);
    assert_int_equal(send_hist(fx, 2, &h1), RAMP_OK);
    ctl_health_drain(fx->h, "f", &t, &c);
    for (unsigned k = 0; k < RP_HIST_NBUCKETS; k++) {
        assert_int_equal(t.hist.b[k], h1.b[k]);
    }
    assert_int_equal(send_hist(fx, 3, &h2), RAMP_OK);
    ctl_health_drain(fx->h, "f", &t, &c);
    assert_int_equal(t.hist.count, h2.count - h1.count);
    for (unsigned k = 0; k < RP_HIST_NBUCKETS; k++) {
        assert_int_equal(t.hist.b[k], h2.b[k] - h1.b[k]);
        nonzero += t.hist.b[k] != 0;
    }
    /* every value changed but the first: five buckets moved */
    assert_int_equal(nonzero, 5);
    assert_int_equal(c.hist.count, 0);
}

static void
test_new_boot_and_backwards(void **state)
{
    struct fx *fx = *state;
    struct ent a[] = {{"f", "on", 1, 10, 10, 0}};
    struct ent b[] = {{"f", "on", 1, 4, 3, 1}};
    struct ent back[] = {{"f", "on", 1, 12, 2, 1}}; /* successes went down */
    struct ent after[] = {{"f", "on", 1, 15, 12, 1}};
    uint8_t boot2[16], boot3[16];
    struct ctl_health_stats st;

    memset(boot2, 0xb2, sizeof(boot2));
    memset(boot3, 0xb3, sizeof(boot3));
    assert_int_equal(
        send_report(fx, &fx->a, "web-01", fx->boot, 1, a, 1, NULL), RAMP_OK);
    drain(fx, "f", 10, 0, 0, 0);
    /* the agent restarted: a new boot starts from zero, even at seq 5
     * (its first report was lost), since we know this agent */
    assert_int_equal(
        send_report(fx, &fx->a, "web-01", boot2, 5, b, 1, NULL), RAMP_OK);
    drain(fx, "f", 3, 1, 0, 0);
    /* a counter going backwards is a new baseline, never negative */
    assert_int_equal(
        send_report(fx, &fx->a, "web-01", boot2, 6, back, 1, NULL), RAMP_OK);
    drain(fx, "f", 0, 0, 0, 0);
    assert_int_equal(
        send_report(fx, &fx->a, "web-01", boot2, 7, after, 1, NULL), RAMP_OK);
    drain(fx, "f", 10, 0, 0, 0); /* from the new baseline */
    /* a third boot replaces the least recently seen one */
    assert_int_equal(
        send_report(fx, &fx->a, "web-01", boot3, 1, a, 1, NULL), RAMP_OK);
    ctl_health_stats(fx->h, &st);
    assert_int_equal(st.boots, CTL_HEALTH_BOOTS);
    assert_int_equal(st.resets, 1);
    ctl_health_reset(fx->h, "f");
    drain(fx, "f", 0, 0, 0, 0);
}

static void
test_restart_baseline(void **state)
{
    struct fx *fx = *state;
    struct ent a[] = {{"f", "on", 1, 10, 10, 0}};
    struct ent b[] = {{"f", "on", 1, 15, 14, 1}};
    struct ctl_health_stats st;

    /* A controller that has never seen this agent (it just restarted)
     * gets seq 9 of a running boot: baseline only. */
    assert_int_equal(
        send_report(fx, &fx->a, "web-01", fx->boot, 9, a, 1, NULL), RAMP_OK);
    drain(fx, "f", 0, 0, 0, 0);
    assert_int_equal(
        send_report(fx, &fx->a, "web-01", fx->boot, 10, b, 1, NULL), RAMP_OK);
    drain(fx, "f", 4, 1, 0, 0);
    ctl_health_stats(fx->h, &st);
    assert_int_equal(st.baselines, 1);
}

static void
test_refusals(void **state)
{
    struct fx *fx = *state;
    struct ent a[] = {{"f", "on", 1, 10, 10, 0}};
    struct ctl_health_stats st;
    struct rp_buf b;
    enum ctl_hrej why;
    uint8_t junk[] = {0x93, 0x01, 0x02, 0x03};

    /* unknown key */
    assert_int_equal(send_report(fx, &fx->other, "web-01", fx->boot, 1, a, 1,
                         &why),
        RAMP_EKEY);
    assert_int_equal(why, CTL_HREJ_NOT_ENROLLED);
    /* an enrolled key claiming another agent's id */
    assert_int_equal(ctl_store_agent_enroll(fx->st, "web-02", fx->other.pk, "",
                         "admin", NOW),
        RAMP_OK);
    ctl_health_agents_changed(fx->h);
    assert_int_equal(send_report(fx, &fx->other, "web-01", fx->boot, 1, a, 1,
                         &why),
        RAMP_EPERM);
    assert_int_equal(why, CTL_HREJ_AGENT_MISMATCH);
    /* tampered payload: the signature no longer verifies */
    seal_report(&b, &fx->a, "web-01", fx->boot, 1, a, 1);
    /* the tail is key id (2 + 8 bytes) and sig (2 + 64): 80 bytes from
     * the end is inside the payload */
    b.data[b.len - 80] ^= 0x01;
    assert_int_equal(ctl_health_ingest(fx->h, b.data, b.len, NOW, &why),
        RAMP_ESIG);
    assert_int_equal(why, CTL_HREJ_SIGNATURE);
    rp_buf_fini(&b);
    /* wrong kind: a controller-style envelope */
    rp_buf_init(&b, 4096);
    assert_int_equal(
        rp_env_seal(&b, &fx->a, RP_KIND_HEARTBEAT, 1, NOW, "x", 1), RAMP_OK);
    assert_int_equal(
        ctl_health_ingest(fx->h, b.data, b.len, NOW, &why), RAMP_ETYPE);
    assert_int_equal(why, CTL_HREJ_KIND);
    rp_buf_fini(&b);
    /* garbage */
    assert_int_equal(ctl_health_ingest(fx->h, junk, sizeof(junk), NOW, &why),
        RAMP_EPROTO);
    assert_int_equal(why, CTL_HREJ_MALFORMED);
    /* nothing of it counted */
    drain(fx, "f", 0, 0, 0, 0);
    ctl_health_stats(fx->h, &st);
    assert_int_equal(st.accepted, 0);
    assert_int_equal(st.rejected[CTL_HREJ_NOT_ENROLLED], 1);
    assert_int_equal(st.rejected[CTL_HREJ_AGENT_MISMATCH], 1);
    assert_int_equal(st.rejected[CTL_HREJ_SIGNATURE], 1);
    assert_int_equal(st.rejected[CTL_HREJ_KIND], 1);
    assert_int_equal(st.rejected[CTL_HREJ_MALFORMED], 1);
    /* an agent removed from the store is refused once keys reload */
    assert_int_equal(
        ctl_store_agent_remove(fx->st, "web-01", "admin", NOW), RAMP_OK);
    ctl_health_agents_changed(fx->h);
    assert_int_equal(send_report(fx, &fx->a, "web-01", fx->boot, 1, a, 1,
                         &why),
        RAMP_EKEY);
    assert_int_equal(why, CTL_HREJ_NOT_ENROLLED);
}

static void
seal_enroll(struct rp_buf *b, const struct rp_keypair *kp, const char *id)
{
    struct rp_enroll e;
    struct rp_buf pay;

    memset(&e, 0, sizeof(e));
    (void) snprintf(e.agent_id, sizeof(e.agent_id), "%s", id);
    (void) snprintf(e.host, sizeof(e.host), "%s.example", id);
    memcpy(e.pk, kp->pk, 32);
    rp_buf_init(&pay, 4096);
    assert_int_equal(rp_enroll_encode(&pay, &e), RAMP_OK);
    rp_buf_init(b, 8192);
    assert_int_equal(
        rp_env_seal(b, kp, RP_KIND_ENROLL, 1, NOW, pay.data, pay.len),
        RAMP_OK);
    rp_buf_fini(&pay);
}

static void
test_enrollment(void **state)
{
    struct fx *fx = *state;
    struct rp_keypair n, thief;
    struct ent a[] = {{"f", "on", 1, 10, 10, 0}};
    struct ctl_agent ag;
    struct rp_buf b;
    enum ctl_hrej why;
    struct ctl_health_stats st;

    assert_int_equal(rp_key_generate(&n), RAMP_OK);
    assert_int_equal(rp_key_generate(&thief), RAMP_OK);
    /* closed: refused and counted, nothing enrolled */
    seal_enroll(&b, &n, "new-01");
    assert_int_equal(
        ctl_health_ingest(fx->h, b.data, b.len, NOW, &why), RAMP_EPERM);
    assert_int_equal(why, CTL_HREJ_NOT_ENROLLED);
    assert_int_equal(
        ctl_store_agent_get(fx->st, "new-01", &ag), RAMP_ENOTFOUND);
    /* an enrolled agent repeating its ENROLL is fine in either mode */
    {
        struct rp_buf b2;

        seal_enroll(&b2, &fx->a, "web-01");
        assert_int_equal(
            ctl_health_ingest(fx->h, b2.data, b2.len, NOW, &why), RAMP_OK);
        rp_buf_fini(&b2);
    }
    /* open: enrolled, audited as open-enrollment, reports accepted */
    ctl_health_close(fx->h);
    fx->h = fx_health(fx, true);
    assert_int_equal(
        ctl_health_ingest(fx->h, b.data, b.len, NOW, &why), RAMP_OK);
    rp_buf_fini(&b);
    assert_int_equal(ctl_store_agent_get(fx->st, "new-01", &ag), RAMP_OK);
    assert_memory_equal(ag.pk, n.pk, 32);
    assert_string_equal(ag.host, "new-01.example");
    assert_int_equal(
        send_report(fx, &n, "new-01", fx->boot, 1, a, 1, NULL), RAMP_OK);
    drain(fx, "f", 10, 0, 0, 0);
    /* another key for an enrolled id: refused */
    seal_enroll(&b, &thief, "web-01");
    assert_int_equal(
        ctl_health_ingest(fx->h, b.data, b.len, NOW, &why), RAMP_EEXIST);
    assert_int_equal(why, CTL_HREJ_AGENT_MISMATCH);
    rp_buf_fini(&b);
    /* an ENROLL not signed by the key it announces: refused */
    {
        struct rp_enroll e;
        struct rp_buf pay;

        memset(&e, 0, sizeof(e));
        (void) snprintf(e.agent_id, sizeof(e.agent_id), "forged");
        memcpy(e.pk, n.pk, 32);
        rp_buf_init(&pay, 4096);
        assert_int_equal(rp_enroll_encode(&pay, &e), RAMP_OK);
        rp_buf_init(&b, 8192);
        assert_int_equal(rp_env_seal(&b, &thief, RP_KIND_ENROLL, 1, NOW,
                             pay.data, pay.len),
            RAMP_OK);
        assert_int_not_equal(
            ctl_health_ingest(fx->h, b.data, b.len, NOW, &why), RAMP_OK);
        assert_int_equal(why, CTL_HREJ_MALFORMED);
        rp_buf_fini(&b);
        rp_buf_fini(&pay);
    }
    assert_int_equal(
        ctl_store_agent_get(fx->st, "forged", &ag), RAMP_ENOTFOUND);
    ctl_health_stats(fx->h, &st);
    assert_int_equal(st.enrolled, 1);
}

static void
test_hrej_names(void **state)
{
    (void) state;
    assert_string_equal(ctl_hrej_name(CTL_HREJ_NOT_ENROLLED), "not_enrolled");
    assert_string_equal(ctl_hrej_name(CTL_HREJ_REPLAY), "replay");
    assert_string_equal(ctl_hrej_name(CTL_HREJ_COUNT), "?");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cumulative, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_new_boot_and_backwards, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_baseline, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_hist_difference_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enrollment, setup, teardown),
        cmocka_unit_test(test_hrej_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
