/* SPDX-License-Identifier: MIT */
/*
 * agent/health.c: aggregation per (flag, variant, arm), reports
 * (cumulative, report_seq + 1), outcome message decoding, sealed HEALTH
 * and ENROLL envelopes verified with the real key, the key file, and the
 * reporter's sockets (an outcome pushed over ipc lands in the next
 * report, which a PULL receives and verifies).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>

#include "codec.h"
#include "envelope.h"
#include "eval.h"
#include "health.h"
#include "mp.h"
#include "testutil.h"

static const struct rp_health_entry *
find(const struct rp_health *r, const char *flag, const char *variant,
    uint32_t arm)
{
    for (size_t i = 0; i < r->nentries; i++) {
        if (strcmp(r->entries[i].flag_key, flag) == 0 &&
            strcmp(r->entries[i].variant, variant) == 0 &&
            r->entries[i].arm == arm) {
            return &r->entries[i];
        }
    }
    return NULL;
}

static void
test_aggregate_and_report(void **state)
{
    struct agt_health *h = NULL;
    struct rp_health *r = NULL, *r2 = NULL;
    const struct rp_health_entry *e;
    struct agt_health_stats st;

    (void) state;
    assert_int_equal(agt_health_new("", "h", &h), RAMP_EINVAL);
    assert_int_equal(agt_health_new("web-01", "web-01.example", &h), RAMP_OK);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(
            agt_health_observe(h, "checkout", "on", 1, true, 1200), RAMP_OK);
    }
    assert_int_equal(
        agt_health_observe(h, "checkout", "on", 1, false, 90000), RAMP_OK);
    assert_int_equal(
        agt_health_observe(h, "checkout", "off", 2, true, 800), RAMP_OK);
    agt_health_count_eval(h, "checkout", "on", 1);
    agt_health_count_eval(h, "checkout", "on", 1);
    agt_health_count_eval(h, "other", "x", 0);
    /* refused and counted: bad key, long variant, bad arm */
    assert_int_equal(
        agt_health_observe(h, "Bad Key", "on", 1, true, 1), RAMP_EINVAL);
    assert_int_equal(agt_health_observe(h, "checkout",
                         "0123456789012345678901234567890123456789012345678901"
                         "234567890123456789",
                         1, true, 1),
        RAMP_EINVAL);
    assert_int_equal(
        agt_health_observe(h, "checkout", "on", 3, true, 1), RAMP_EINVAL);
    agt_health_count_eval(h, "checkout", "", 1);

    assert_int_equal(agt_health_report(h, 1000, &r), RAMP_OK);
    assert_int_equal(r->report_seq, 1);
    assert_string_equal(r->agent_id, "web-01");
    assert_string_equal(r->host, "web-01.example");
    assert_int_equal(r->nentries, 3);
    e = find(r, "checkout", "on", 1);
    assert_non_null(e);
    assert_int_equal(e->evaluations, 2);
    assert_int_equal(e->successes, 7);
    assert_int_equal(e->errors, 1);
    assert_int_equal(e->hist.count, 8);
    assert_int_equal(rp_hist_count_above(&e->hist, 2000), 1);
    e = find(r, "checkout", "off", 2);
    assert_non_null(e);
    assert_int_equal(e->successes, 1);
    e = find(r, "other", "x", 0);
    assert_non_null(e);
    assert_int_equal(e->evaluations, 1);

    /* cumulative: the next report carries everything since boot */
    assert_int_equal(
        agt_health_observe(h, "checkout", "on", 1, true, 10), RAMP_OK);
    assert_int_equal(agt_health_report(h, 2000, &r2), RAMP_OK);
    assert_int_equal(r2->report_seq, 2);
    assert_memory_equal(r2->boot_id, r->boot_id, 16);
    e = find(r2, "checkout", "on", 1);
    assert_int_equal(e->successes, 8);
    assert_int_equal(e->hist.count, 9);

    agt_health_stats(h, &st);
    assert_int_equal(st.outcomes, 10);
    assert_int_equal(st.evaluations, 3);
    assert_int_equal(st.dropped_invalid, 4);
    assert_int_equal(st.entries, 3);
    rp_health_free(r);
    rp_health_free(r2);
    agt_health_free(h);
}

static void
test_full(void **state)
{
    struct agt_health *h = NULL;
    struct agt_health_stats st;
    char flag[32];

    (void) state;
    assert_int_equal(agt_health_new("a", "", &h), RAMP_OK);
    for (int i = 0; i < AGT_HEALTH_MAX_ENTRIES; i++) {
        (void) snprintf(flag, sizeof(flag), "f%d", i);
        assert_int_equal(agt_health_observe(h, flag, "v", 0, true, 1), RAMP_OK);
    }
    assert_int_equal(agt_health_observe(h, "one-more", "v", 0, true, 1),
        RAMP_ETOOBIG);
    /* an existing triple still counts */
    assert_int_equal(agt_health_observe(h, "f7", "v", 0, true, 1), RAMP_OK);
    agt_health_stats(h, &st);
    assert_int_equal(st.entries, AGT_HEALTH_MAX_ENTRIES);
    assert_int_equal(st.dropped_full, 1);
    agt_health_free(h);
}

static size_t
outcome_msg(uint8_t *buf, size_t cap, const char *flag, const char *variant,
    uint64_t arm, bool ok, uint64_t lat)
{
    struct rp_buf b;
    struct rp_pack p;
    size_t n;

    rp_buf_init(&b, 4096);
    rp_pack_init(&p, &b);
    rp_pack_array(&p, 5);
    rp_pack_str(&p, flag);
    rp_pack_str(&p, variant);
    rp_pack_u64(&p, arm);
    rp_pack_bool(&p, ok);
    rp_pack_u64(&p, lat);
    assert_int_equal(p.err, RAMP_OK);
    assert_true(b.len <= cap);
    n = b.len;
    memcpy(buf, b.data, n);
    rp_buf_fini(&b);
    return n;
}

static void
test_outcome_messages(void **state)
{
    struct agt_health *h = NULL;
    struct agt_health_stats st;
    uint8_t m[1024];
    size_t n;
    static const uint8_t bad[][6] = {
        {0x95, 0xa1, 'f', 0xa1, 'v', 0x01},       /* truncated */
        {0x93, 0x01, 0x02, 0x03, 0x00, 0x00},     /* short array + trailing */
        {0xdd, 0xff, 0xff, 0xff, 0xff, 0x00},     /* hostile length */
    };

    (void) state;
    assert_int_equal(agt_health_new("a", "", &h), RAMP_OK);
    n = outcome_msg(m, sizeof(m), "flag-1", "on", 1, true, 1500);
    assert_int_equal(agt_health_outcome(h, m, n), RAMP_OK);
    n = outcome_msg(m, sizeof(m), "flag-1", "on", 1, false, 70000000);
    assert_int_equal(agt_health_outcome(h, m, n), RAMP_OK);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(
            agt_health_outcome(h, bad[i], sizeof(bad[i])), RAMP_OK);
    }
    n = outcome_msg(m, sizeof(m), "flag-1", "on", 7, true, 1);
    assert_int_equal(agt_health_outcome(h, m, n), RAMP_EPROTO);
    n = outcome_msg(m, sizeof(m), "BAD", "on", 1, true, 1);
    assert_int_equal(agt_health_outcome(h, m, n), RAMP_EPROTO);
    n = outcome_msg(m, sizeof(m), "flag-1", "", 1, true, 1);
    assert_int_equal(agt_health_outcome(h, m, n), RAMP_EPROTO);
    /* over the size cap */
    memset(m, 0, sizeof(m));
    assert_int_equal(agt_health_outcome(h, m, AGT_OUTCOME_MAX + 1),
        RAMP_ETOOBIG);
    agt_health_stats(h, &st);
    assert_int_equal(st.outcomes, 2);
    assert_int_equal(st.dropped_invalid, 7);
    agt_health_free(h);
}

static void
test_sealed(void **state)
{
    struct agt_health *h = NULL;
    struct rp_keypair kp;
    struct rp_pubkey pub;
    struct rp_envelope env;
    struct rp_health *r = NULL;
    struct rp_enroll e;
    struct rp_buf b;

    (void) state;
    assert_int_equal(rp_key_generate(&kp), RAMP_OK);
    rp_key_public(&kp, &pub);
    assert_int_equal(agt_health_new("web-01", "host-1", &h), RAMP_OK);
    assert_int_equal(agt_health_observe(h, "f", "on", 2, true, 5), RAMP_OK);
    rp_buf_init(&b, RP_ENV_MAX);
    assert_int_equal(agt_health_seal_report(h, &kp, 12345, &b), RAMP_OK);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_OK);
    assert_int_equal(env.kind, RP_KIND_HEALTH);
    assert_int_equal(env.seq, 1);
    assert_int_equal(env.ts_ms, 12345);
    assert_int_equal(
        rp_health_decode(env.payload, env.payload_len, &r), RAMP_OK);
    assert_int_equal(r->report_seq, 1);
    assert_int_equal(r->nentries, 1);
    assert_int_equal(r->entries[0].arm, 2);
    rp_health_free(r);
    rp_buf_reset(&b);
    assert_int_equal(agt_health_seal_enroll(h, &kp, 4, 777, &b), RAMP_OK);
    assert_int_equal(rp_env_open(b.data, b.len, &pub, 1, &env), RAMP_OK);
    assert_int_equal(env.kind, RP_KIND_ENROLL);
    assert_int_equal(rp_enroll_decode(env.payload, env.payload_len, &e),
        RAMP_OK);
    assert_string_equal(e.agent_id, "web-01");
    assert_string_equal(e.host, "host-1");
    assert_memory_equal(e.pk, kp.pk, 32);
    rp_buf_fini(&b);
    agt_health_free(h);
}

static void
test_key_file(void **state)
{
    char dir[64], path[128];
    struct rp_keypair a, b;
    struct stat st;
    bool created = false;

    (void) state;
    (void) snprintf(dir, sizeof(dir), "/tmp/ramp-hkey-XXXXXX");
    assert_non_null(mkdtemp(dir));
    (void) snprintf(path, sizeof(path), "%s/agent.key", dir);
    assert_int_equal(agt_health_key(path, false, &a, NULL), RAMP_ENOTFOUND);
    assert_int_equal(agt_health_key(path, true, &a, &created), RAMP_OK);
    assert_true(created);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(agt_health_key(path, true, &b, &created), RAMP_OK);
    assert_false(created);
    assert_memory_equal(a.pk, b.pk, 32);
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(agt_health_key(path, true, &b, NULL), RAMP_EPERM);
    rm_dir(dir);
}

static void
test_reporter_sockets(void **state)
{
    char dir[64], ourl[160], hurl[160], sock[128];
    struct agt_reporter_opts o;
    struct agt_reporter *rep = NULL;
    struct agt_health *h = NULL;
    struct rp_keypair kp;
    struct rp_pubkey pub;
    nng_socket pull, push;
    uint8_t m[256];
    size_t n;
    struct stat st;
    bool seen_report = false, seen_enroll = false;

    (void) state;
    (void) snprintf(dir, sizeof(dir), "/tmp/ramp-hrep-XXXXXX");
    assert_non_null(mkdtemp(dir));
    (void) snprintf(sock, sizeof(sock), "%s/run/out.sock", dir);
    (void) snprintf(ourl, sizeof(ourl), "ipc://%s", sock);
    (void) snprintf(hurl, sizeof(hurl), "ipc://%s/health.sock", dir);
    assert_int_equal(rp_key_generate(&kp), RAMP_OK);
    rp_key_public(&kp, &pub);
    /* the controller's side */
    assert_int_equal(nng_pull0_open(&pull), 0);
    assert_int_equal(nng_socket_set_ms(pull, NNG_OPT_RECVTIMEO, 5000), 0);
    assert_int_equal(nng_listen(pull, hurl, NULL, 0), 0);

    assert_int_equal(agt_health_new("web-01", "h", &h), RAMP_OK);
    memset(&o, 0, sizeof(o));
    o.outcome_url = ourl;
    o.socket_mode = 0660;
    o.health_url = hurl;
    o.interval_ms = 50;
    o.kp = &kp;
    assert_int_equal(agt_reporter_start(&o, h, &rep), RAMP_OK);
    assert_int_equal(stat(sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0660);

    /* an application's outcome */
    assert_int_equal(nng_push0_open(&push), 0);
    assert_int_equal(nng_dial(push, ourl, NULL, 0), 0);
    n = outcome_msg(m, sizeof(m), "flag-1", "on", 1, true, 250);
    assert_int_equal(nng_send(push, m, n, 0), 0);

    /* reports until one carries it (each is verified) */
    for (int i = 0; i < 200 && !seen_report; i++) {
        struct rp_envelope env;
        struct rp_health *r = NULL;
        nng_msg *msg = NULL;

        assert_int_equal(nng_recvmsg(pull, &msg, 0), 0);
        assert_int_equal(rp_env_open(nng_msg_body(msg), nng_msg_len(msg),
                             &pub, 1, &env),
            RAMP_OK);
        if (env.kind == RP_KIND_ENROLL) {
            seen_enroll = true;
        } else {
            assert_int_equal(env.kind, RP_KIND_HEALTH);
            assert_int_equal(
                rp_health_decode(env.payload, env.payload_len, &r), RAMP_OK);
            seen_report = find(r, "flag-1", "on", 1) != NULL;
            rp_health_free(r);
        }
        nng_msg_free(msg);
    }
    assert_true(seen_enroll);
    assert_true(seen_report);
    nng_close(push);
    agt_reporter_stop(rep);
    nng_close(pull);
    agt_health_free(h);
    rm_dir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aggregate_and_report),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_outcome_messages),
        cmocka_unit_test(test_sealed),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_reporter_sockets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
