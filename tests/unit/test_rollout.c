/* SPDX-License-Identifier: MIT */
/*
 * The rollout engine on a real store, a real publisher on an ipc socket
 * with a real SUB socket listening, and the HTTP API on 127.0.0.1: the
 * engine is driven by ctl_rollout_tick() with an injected clock and
 * synthetic check windows (the seam ctl_window_fn), decided by the real
 * proto/decide.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>

#include "api.h"
#include "api_ext.h"
#include "codec.h"
#include "envelope.h"
#include "json.h"
#include "log.h"
#include "pub.h"
#include "rollout.h"
#include "store.h"
#include "testutil.h"

#define T0 1800000000000LL /* the injected clock's start, epoch ms */
#define IV 1000            /* check interval of the test policies */

static struct {
    char dir[200];
    char pub_url[260];
    struct ctl_store *st;
    struct rp_keypair kp;
    struct rp_pubkey pk;
    struct ctl_pub *pub;
    struct ctl_rollout_engine *e;
    struct ctl_api *api;
    int port;
    nng_socket sub;
    int64_t now;
    struct ctl_arm_sum t, c; /* the window every check drains */
    unsigned resets;         /* window_reset calls */
    char admin[CTL_TOKEN_STRLEN], oper[CTL_TOKEN_STRLEN];
    char viewer[CTL_TOKEN_STRLEN];
    /* log sink: publisher's sent count when the rollback line was seen */
    uint64_t sent_at_rollback_log;
    bool saw_rollback_log;
} g;

static int64_t
fake_clock(void *arg)
{
    (void) arg;
    return g.now;
}

static void
fake_window(void *arg, const char *flag, struct ctl_arm_sum *t,
    struct ctl_arm_sum *c)
{
    (void) arg;
    (void) flag;
    *t = g.t;
    *c = g.c;
}

static void
fake_reset(void *arg, const char *flag)
{
    (void) arg;
    (void) flag;
    g.resets++;
}

static void
arm_set(struct ctl_arm_sum *a, uint64_t n, uint64_t errors, uint64_t lat_us)
{
    memset(a, 0, sizeof(*a));
    rp_hist_init(&a->hist);
    a->evaluations = n;
    a->successes = n - errors;
    a->errors = errors;
    if (n > 0) {
        rp_hist_record_n(&a->hist, lat_us, n);
    }
    a->agents = 1;
}

/* Per check window: treatment n_t requests with e_t errors, control
 * likewise; latency 100 ms everywhere. */
static void
traffic(uint64_t nt, uint64_t et, uint64_t nc, uint64_t ec)
{
    arm_set(&g.t, nt, et, 100000);
    arm_set(&g.c, nc, ec, 100000);
}

static void
engine_open(void)
{
    struct ctl_rollout_opts o = {0};

    o.store = g.st;
    o.pub = g.pub;
    o.window = fake_window;
    o.window_reset = fake_reset;
    o.clock = fake_clock;
    assert_int_equal(ctl_rollout_open(&o, &g.e), RAMP_OK);
}

static void
world_open(void)
{
    struct ctl_store_opts so = {0};
    struct ctl_pub_opts po = {0};
    struct ctl_api_opts ao = {0};
    static struct ctl_api_ext ext;

    so.path = g.dir;
    so.map_size = 64 << 20;
    assert_int_equal(ctl_store_open(&so, &g.st), RAMP_OK);
    po.url = g.pub_url;
    po.heartbeat_ms = 60000;
    assert_int_equal(ctl_pub_open(&po, g.st, &g.kp, &g.pub), RAMP_OK);
    engine_open();
    ctl_rollout_api_ext(g.e, &ext);
    ao.url = "http://127.0.0.1:0";
    ao.ext = &ext;
    ao.next = 1;
    assert_int_equal(ctl_api_open(&ao, g.st, g.pub, &g.api), RAMP_OK);
    g.port = ctl_api_port(g.api);
    assert_int_equal(nng_sub0_open(&g.sub), 0);
    assert_int_equal(nng_socket_set(g.sub, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
    assert_int_equal(nng_socket_set_ms(g.sub, NNG_OPT_RECVTIMEO, 5000), 0);
    assert_int_equal(
        nng_socket_set_size(g.sub, NNG_OPT_RECVMAXSZ, RP_ENV_MAX), 0);
    assert_int_equal(nng_dial(g.sub, g.pub_url, NULL, 0), 0);
    /* A heartbeat that arrives proves the subscription is live; the
     * dial completes asynchronously, so send until one does. */
    assert_int_equal(nng_socket_set_ms(g.sub, NNG_OPT_RECVTIMEO, 100), 0);
    for (int i = 0;; i++) {
        uint8_t *buf;
        size_t len;
        struct rp_envelope env;

        assert_true(i < 100);
        assert_int_equal(ctl_pub_heartbeat(g.pub), RAMP_OK);
        if (nng_recv(g.sub, &buf, &len, NNG_FLAG_ALLOC) != 0) {
            continue;
        }
        assert_int_equal(rp_env_open(buf, len, &g.pk, 1, &env), RAMP_OK);
        nng_free(buf, len);
        if (env.kind == RP_KIND_HEARTBEAT) {
            break;
        }
    }
    assert_int_equal(nng_socket_set_ms(g.sub, NNG_OPT_RECVTIMEO, 5000), 0);
}

static void
world_close(void)
{
    ctl_api_close(g.api);
    ctl_rollout_close(g.e);
    /* The publisher first: closing a SUB socket whose peer is still up
     * can wait forever inside nng 1.5.2. */
    ctl_pub_close(g.pub);
    nng_close(g.sub);
    ctl_store_close(g.st);
    g.api = NULL;
    g.e = NULL;
    g.pub = NULL;
    g.st = NULL;
}

static int
setup(void **state)
{
    (void) state;
    memset(&g.t, 0, sizeof(g.t));
    snprintf(g.dir, sizeof(g.dir), "/tmp/ramp-rollout-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    snprintf(g.pub_url, sizeof(g.pub_url), "ipc://%s/pub.sock", g.dir);
    assert_int_equal(rp_key_generate(&g.kp), RAMP_OK);
    rp_key_public(&g.kp, &g.pk);
    g.now = T0;
    g.resets = 0;
    g.saw_rollback_log = false;
    traffic(0, 0, 0, 0);
    world_open();
    assert_int_equal(ctl_store_token_create(
                         g.st, "root", CTL_ROLE_ADMIN, "test", 1, g.admin),
        RAMP_OK);
    assert_int_equal(ctl_store_token_create(
                         g.st, "ops", CTL_ROLE_OPERATOR, "test", 1, g.oper),
        RAMP_OK);
    assert_int_equal(ctl_store_token_create(
                         g.st, "eyes", CTL_ROLE_VIEWER, "test", 1, g.viewer),
        RAMP_OK);
    return 0;
}

static int
teardown(void **state)
{
    (void) state;
    world_close();
    rm_dir(g.dir);
    rp_log_set_sink(NULL, NULL);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A bool flag `key` (on/off, default off) in the store. */
static void
flag_new(const char *key)
{
    struct rp_flag *f = tu_bool_flag(key);

    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);
    assert_int_equal(
        ctl_store_flag_put(g.st, &g.kp, f, 0, "test", T0, NULL, NULL), RAMP_OK);
    rp_flag_free(f);
}

/* Start a rollout of `key` (on vs off) with a short test policy. */
static struct rp_rollout *
start(const char *key, const char *stages, uint64_t bake, uint64_t max_stage)
{
    char text[512], field[64], msg[256];
    struct rp_rollout *r = NULL, *out = NULL;
    json_t *j;

    snprintf(text, sizeof(text),
        "{\"flag\":\"%s\",\"treatment\":\"on\",\"control\":\"off\","
        "\"stages\":%s,\"policy\":{\"bake_ms\":%llu,\"check_interval_ms\":%d,"
        "\"max_stage_ms\":%llu,\"min_samples\":100,\"failure_limit\":2}}",
        key, stages, (unsigned long long) bake, IV,
        (unsigned long long) max_stage);
    j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_int_equal(rp_rollout_from_json(j, &r, field, sizeof(field)), RAMP_OK);
    json_decref(j);
    assert_int_equal(ctl_rollout_start(g.e, r, "alice", "test", &out, field,
                         sizeof(field), msg, sizeof(msg)),
        RAMP_OK);
    rp_rollout_free(r);
    assert_int_equal(out->state, RP_RS_RUNNING);
    assert_int_equal(out->stage_index, 0);
    return out;
}

static struct rp_rollout *
get(const char *key)
{
    struct rp_rollout *r = NULL;

    assert_int_equal(ctl_store_rollout_get(g.st, key, &r), RAMP_OK);
    return r;
}

static enum rp_rstate
state_of(const char *key)
{
    struct rp_rollout *r = get(key);
    enum rp_rstate s = r->state;

    rp_rollout_free(r);
    return s;
}

static uint32_t
stage_of(const char *key)
{
    struct rp_rollout *r = get(key);
    uint32_t s = r->stage_index;

    rp_rollout_free(r);
    return s;
}

static uint64_t
seq_now(void)
{
    uint64_t s = 0;

    assert_int_equal(ctl_store_seq(g.st, &s), RAMP_OK);
    return s;
}

/* One check interval later, tick. Returns checks run. */
static size_t
step(void)
{
    g.now += IV;
    return ctl_rollout_tick(g.e, g.now);
}

/* The explain answer's checks (newest first); caller decrefs. */
static json_t *
explain(const char *key, size_t limit)
{
    json_t *j = NULL;

    assert_int_equal(ctl_rollout_explain_json(g.e, key, limit, &j), RAMP_OK);
    return j;
}

static const char *
check_field(json_t *ex, size_t i, const char *name)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(ex, "checks"), i), name));
}

/* The next change envelope on SUB (heartbeats skipped). */
static void
sub_change(struct rp_envelope *env, uint8_t **buf, size_t *len)
{
    for (;;) {
        int rc = nng_recv(g.sub, buf, len, NNG_FLAG_ALLOC);

        if (rc != 0) {
            fail_msg("sub recv: %s", nng_strerror(rc));
        }
        assert_int_equal(rp_env_open(*buf, *len, &g.pk, 1, env), RAMP_OK);
        if (env->kind != RP_KIND_HEARTBEAT) {
            return;
        }
        nng_free(*buf, *len);
    }
}

/* Drain SUB up to and including the envelope of seq. */
static void
sub_skip_to(uint64_t seq)
{
    struct rp_envelope env;
    uint8_t *buf;
    size_t len;

    do {
        sub_change(&env, &buf, &len);
        nng_free(buf, len);
    } while (env.seq < seq);
}

/* ------------------------------------------------------------------ */
/* The engine                                                          */
/* ------------------------------------------------------------------ */

static void
test_advance_on_evidence(void **state)
{
    struct rp_rollout *r;
    json_t *ex;
    int64_t advanced_at = 0;
    unsigned resets0;

    (void) state;
    flag_new("adv");
    r = start("adv", "[500, 2500, 5000, 10000]", 5000, 60000);
    rp_rollout_free(r);
    /* Nothing before the first interval. */
    assert_int_equal(ctl_rollout_tick(g.e, T0 + IV - 1), 0);
    traffic(1000, 10, 10000, 100);
    resets0 = g.resets;
    for (int i = 0; i < 60 && advanced_at == 0; i++) {
        assert_int_equal(step(), 1);
        if (stage_of("adv") == 1) {
            advanced_at = g.now;
        }
    }
    assert_true(advanced_at != 0);
    /* Never before the bake, and only on a check that passed. */
    assert_true(advanced_at - T0 >= 5000);
    ex = explain("adv", 1);
    assert_string_equal(check_field(ex, 0, "verdict"), "pass");
    assert_string_equal(check_field(ex, 0, "action"), "advance");
    json_decref(ex);
    r = get("adv");
    assert_int_equal(r->state, RP_RS_RUNNING);
    assert_int_equal(r->stage_entered_at_ms, advanced_at);
    assert_int_equal(r->nhistory, 2);
    assert_non_null(strstr(r->history[1].reason, "stage 1 (5%) healthy"));
    rp_rollout_free(r);
    assert_int_equal(g.resets, resets0 + 1); /* health reset at the change */
}

static void
test_no_evidence_extends_then_holds(void **state)
{
    json_t *ex;
    bool extended = false;

    (void) state;
    flag_new("low");
    rp_rollout_free(start("low", "[500, 10000]", 3000, 8000));
    traffic(3, 0, 3, 0); /* far below min_samples */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(step(), 1);
        ex = explain("low", 1);
        assert_string_equal(check_field(ex, 0, "verdict"), "no_data");
        if (strcmp(check_field(ex, 0, "action"), "extend") == 0) {
            extended = true;
        }
        json_decref(ex);
        if (i < 7) {
            assert_int_equal(state_of("low"), RP_RS_RUNNING);
        }
    }
    assert_true(extended);
    assert_int_equal(state_of("low"), RP_RS_HELD);
    assert_int_equal(stage_of("low"), 0);
    /* Held rollouts are still checked; no data never rolls back. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(step(), 1);
    }
    assert_int_equal(state_of("low"), RP_RS_HELD);
    assert_int_equal(stage_of("low"), 0);
}

static void
test_fail_rolls_back_after_failure_limit(void **state)
{
    json_t *ex;
    int checks = 0;

    (void) state;
    flag_new("bad");
    rp_rollout_free(start("bad", "[500, 10000]", 600000, 3600000));
    /* 8% errors against 1%: a failure, below the 20% guardrail. */
    traffic(1000, 80, 10000, 100);
    while (state_of("bad") == RP_RS_RUNNING && checks < 60) {
        assert_int_equal(step(), 1);
        checks++;
    }
    assert_int_equal(state_of("bad"), RP_RS_ROLLED_BACK);
    ex = explain("bad", 2);
    assert_string_equal(check_field(ex, 0, "verdict"), "fail");
    assert_string_equal(check_field(ex, 0, "action"), "rollback");
    /* failure_limit 2: the one before failed too and did nothing */
    assert_string_equal(check_field(ex, 1, "verdict"), "fail");
    assert_string_equal(check_field(ex, 1, "action"), "none");
    json_decref(ex);
    /* Finished rollouts are not checked any more. */
    assert_int_equal(step(), 0);
}

static void
rollback_log_sink(int lvl, const char *line, void *arg)
{
    struct ctl_pub_stats ps;

    (void) lvl;
    (void) arg;
    if (strstr(line, "RAMP-ROLLOUT-ROLLBACK") != NULL) {
        ctl_pub_stats(g.pub, &ps);
        g.sent_at_rollback_log = ps.sent;
        g.saw_rollback_log = true;
    }
}

static void
test_critical_rolls_back_at_once_published_first(void **state)
{
    struct rp_rollout *r;
    struct rp_rollout_view v;
    struct rp_flag *f = NULL;
    struct rp_envelope env;
    struct ctl_pub_stats ps0;
    struct ctl_rollout_stats rs;
    uint8_t *buf;
    size_t len;
    uint64_t seq0;

    (void) state;
    flag_new("crit");
    r = start("crit", "[500, 2500, 10000]", 600000, 3600000);
    rp_rollout_free(r);
    sub_skip_to(seq_now());
    seq0 = seq_now();
    ctl_pub_stats(g.pub, &ps0);
    rp_log_set_sink(rollback_log_sink, NULL);
    traffic(100, 60, 10000, 100); /* 60% errors over 100 requests */
    assert_int_equal(step(), 1);
    assert_int_equal(state_of("crit"), RP_RS_ROLLED_BACK);
    /* Published before the engine logged it. */
    assert_true(g.saw_rollback_log);
    assert_int_equal(g.sent_at_rollback_log, ps0.sent + 1);
    /* The very next change on the wire is the rollout at 0%. */
    sub_change(&env, &buf, &len);
    assert_int_equal(env.kind, RP_KIND_ROLLOUT_PUT);
    assert_int_equal(env.seq, seq0 + 1);
    assert_int_equal(rp_rollout_decode(env.payload, env.payload_len, &r),
        RAMP_OK);
    nng_free(buf, len);
    assert_int_equal(r->state, RP_RS_ROLLED_BACK);
    assert_int_equal(ctl_store_flag_get(g.st, "crit", &f), RAMP_OK);
    assert_int_equal(rp_rollout_view(r, f, &v), RAMP_OK);
    assert_true(v.applies);
    assert_int_equal(v.stage_bp, 0);
    assert_non_null(strstr(r->history[r->nhistory - 1].reason, "rolled back"));
    rp_flag_free(f);
    rp_rollout_free(r);
    ctl_rollout_stats(g.e, &rs);
    assert_int_equal(rs.rollbacks, 1);
    assert_int_equal(rs.checks[RP_VERDICT_CRITICAL], 1);
}

static void
test_completion_sets_default(void **state)
{
    struct rp_flag *f = NULL;
    struct rp_rollout *r;
    struct rp_envelope env;
    uint8_t *buf;
    size_t len;
    uint64_t seq0, fv;
    int n = 0;

    (void) state;
    flag_new("done");
    assert_int_equal(ctl_store_flag_get(g.st, "done", &f), RAMP_OK);
    fv = f->version;
    assert_int_equal(f->default_variant, 1); /* off */
    rp_flag_free(f);
    rp_rollout_free(start("done", "[5000, 10000]", 3000, 60000));
    /* promote to the last stage (100%): only the treatment is served */
    assert_int_equal(ctl_rollout_act(g.e, "done", CTL_RACT_PROMOTE, "bob",
                         NULL, NULL, NULL, 0),
        RAMP_OK);
    assert_int_equal(stage_of("done"), 1);
    sub_skip_to(seq_now());
    seq0 = seq_now();
    traffic(1000, 5, 0, 0);
    while (state_of("done") == RP_RS_RUNNING && n++ < 60) {
        step();
    }
    assert_int_equal(state_of("done"), RP_RS_COMPLETED);
    assert_int_equal(ctl_store_flag_get(g.st, "done", &f), RAMP_OK);
    assert_int_equal(f->default_variant, 0); /* on: the treatment */
    assert_int_equal(f->version, fv + 1);
    assert_string_equal(f->updated_by, "engine");
    rp_flag_free(f);
    /* One transaction, two envelopes: the flag first, then the rollout. */
    assert_int_equal(seq_now(), seq0 + 2);
    sub_change(&env, &buf, &len);
    assert_int_equal(env.kind, RP_KIND_FLAG_PUT);
    assert_int_equal(env.seq, seq0 + 1);
    nng_free(buf, len);
    sub_change(&env, &buf, &len);
    assert_int_equal(env.kind, RP_KIND_ROLLOUT_PUT);
    assert_int_equal(env.seq, seq0 + 2);
    nng_free(buf, len);
    r = get("done");
    assert_int_equal(r->state, RP_RS_COMPLETED);
    rp_rollout_free(r);
}

/* Put a fresh rollout of key into state s. */
static void
make_state(const char *key, enum rp_rstate s)
{
    flag_new(key);
    switch (s) {
    case RP_RS_RUNNING:
        rp_rollout_free(start(key, "[500, 2500]", 600000, 3600000));
        break;
    case RP_RS_PAUSED:
        rp_rollout_free(start(key, "[500, 2500]", 600000, 3600000));
        assert_int_equal(ctl_rollout_act(g.e, key, CTL_RACT_PAUSE, "t", NULL,
                             NULL, NULL, 0),
            RAMP_OK);
        break;
    case RP_RS_HELD: {
        struct rp_rollout *r = start(key, "[500, 2500]", IV, IV);
        int64_t at = r->stage_entered_at_ms + IV;

        rp_rollout_free(r);
        traffic(0, 0, 0, 0);
        g.now = g.now > at ? g.now : at;
        ctl_rollout_tick(g.e, g.now);
        break;
    }
    case RP_RS_ROLLED_BACK: {
        struct rp_rollout *r = start(key, "[500, 2500]", 600000, 3600000);
        int64_t at = r->stage_entered_at_ms + IV;

        rp_rollout_free(r);
        traffic(100, 60, 1000, 10);
        g.now = g.now > at ? g.now : at;
        ctl_rollout_tick(g.e, g.now);
        traffic(0, 0, 0, 0);
        break;
    }
    case RP_RS_ABORTED:
        rp_rollout_free(start(key, "[500, 2500]", 600000, 3600000));
        assert_int_equal(ctl_rollout_act(g.e, key, CTL_RACT_ABORT, "t", NULL,
                             NULL, NULL, 0),
            RAMP_OK);
        break;
    default: /* completed */
        rp_rollout_free(start(key, "[500]", 600000, 3600000));
        assert_int_equal(ctl_rollout_act(g.e, key, CTL_RACT_PROMOTE, "t",
                             NULL, NULL, NULL, 0),
            RAMP_OK);
        break;
    }
    assert_int_equal(state_of(key), s);
}

static void
test_every_action_from_every_state(void **state)
{
    static const enum rp_rstate states[] = {RP_RS_RUNNING, RP_RS_PAUSED,
        RP_RS_HELD, RP_RS_ROLLED_BACK, RP_RS_ABORTED, RP_RS_COMPLETED};
    /* expected state after action a from states[i]; -1: 409 */
    static const int want[6][CTL_RACT_COUNT] = {
        /* pause        resume        promote       abort         retry */
        {RP_RS_PAUSED, -1, RP_RS_RUNNING, RP_RS_ABORTED, -1},
        {-1, RP_RS_RUNNING, RP_RS_RUNNING, RP_RS_ABORTED, -1},
        {RP_RS_PAUSED, RP_RS_RUNNING, RP_RS_RUNNING, RP_RS_ABORTED, -1},
        {-1, -1, -1, -1, RP_RS_RUNNING},
        {-1, -1, -1, -1, RP_RS_RUNNING},
        {-1, -1, -1, -1, -1},
    };

    (void) state;
    for (size_t i = 0; i < 6; i++) {
        for (unsigned a = 0; a < CTL_RACT_COUNT; a++) {
            char key[32], msg[256];
            struct rp_rollout *before, *after, *out = NULL;
            uint64_t seq0;
            ramp_err rv;

            snprintf(key, sizeof(key), "m%zu-%u", i, a);
            make_state(key, states[i]);
            before = get(key);
            seq0 = seq_now();
            rv = ctl_rollout_act(g.e, key, (enum ctl_ract) a, "carol",
                "because", &out, msg, sizeof(msg));
            after = get(key);
            if (want[i][a] < 0) {
                if (rv != RAMP_ECONFLICT) {
                    fail_msg("%s from %s: %s", ctl_ract_name(a),
                        rp_rstate_name(states[i]), ramp_errname(rv));
                }
                assert_non_null(strstr(msg, ctl_ract_name(a)));
                assert_non_null(strstr(msg, rp_rstate_name(states[i])));
                assert_int_equal(after->version, before->version);
                assert_int_equal(seq_now(), seq0);
            } else {
                if (rv != RAMP_OK) {
                    fail_msg("%s from %s: %s (%s)", ctl_ract_name(a),
                        rp_rstate_name(states[i]), ramp_errname(rv), msg);
                }
                assert_int_equal(after->state, want[i][a]);
                assert_int_equal(after->version, before->version + 1);
                assert_int_equal(after->nhistory, before->nhistory + 1);
                assert_int_equal(
                    after->history[after->nhistory - 1].from, states[i]);
                assert_non_null(strstr(
                    after->history[after->nhistory - 1].reason, "carol"));
                assert_non_null(strstr(
                    after->history[after->nhistory - 1].reason, "because"));
                /* The same request again is a 409, never a second
                 * transition (pause/abort/retry; resume/promote may be
                 * allowed again from their result). */
                if (a == CTL_RACT_PAUSE || a == CTL_RACT_ABORT ||
                    a == CTL_RACT_RETRY) {
                    uint64_t s1 = seq_now();

                    assert_int_equal(ctl_rollout_act(g.e, key,
                                         (enum ctl_ract) a, "carol", NULL,
                                         NULL, NULL, 0),
                        a == CTL_RACT_RETRY ? RAMP_ECONFLICT : RAMP_ECONFLICT);
                    assert_int_equal(seq_now(), s1);
                }
                if (a == CTL_RACT_RETRY) {
                    assert_int_equal(after->stage_index, 0);
                    assert_int_equal(after->id, before->id);
                }
                if (a == CTL_RACT_PROMOTE) {
                    assert_int_equal(after->stage_index, before->stage_index + 1);
                }
            }
            rp_rollout_free(out);
            rp_rollout_free(before);
            rp_rollout_free(after);
        }
    }
}

static void
test_start_conflicts_and_replaces(void **state)
{
    struct rp_rollout *r = NULL, *r1, *r2;
    char field[64], msg[256];
    json_t *j;

    (void) state;
    flag_new("st");
    r1 = start("st", "[500, 2500]", 600000, 3600000);
    j = json_loads("{\"flag\":\"st\",\"treatment\":\"on\",\"control\":\"off\"}",
        0, NULL);
    assert_int_equal(rp_rollout_from_json(j, &r, field, sizeof(field)), RAMP_OK);
    json_decref(j);
    assert_int_equal(ctl_rollout_start(g.e, r, "x", NULL, NULL, field,
                         sizeof(field), msg, sizeof(msg)),
        RAMP_ECONFLICT);
    assert_non_null(strstr(msg, "active"));
    /* finished: a new start replaces it, with a new id */
    assert_int_equal(ctl_rollout_act(g.e, "st", CTL_RACT_ABORT, "x", NULL,
                         NULL, NULL, 0),
        RAMP_OK);
    assert_int_equal(ctl_rollout_start(g.e, r, "x", NULL, &r2, field,
                         sizeof(field), msg, sizeof(msg)),
        RAMP_OK);
    assert_true(r2->id != r1->id);
    assert_int_equal(r2->version, 1);
    assert_int_equal(r2->nhistory, 1);
    rp_rollout_free(r2);
    rp_rollout_free(r1);
    /* no flag; a variant the flag does not have */
    rp_free(r->flag_key);
    r->flag_key = xstr("nope");
    assert_int_equal(ctl_rollout_start(g.e, r, "x", NULL, NULL, field,
                         sizeof(field), msg, sizeof(msg)),
        RAMP_ENOTFOUND);
    assert_string_equal(field, "flag");
    /* a variant the flag does not have names the field */
    rp_free(r->flag_key);
    r->flag_key = xstr("st");
    rp_free(r->treatment);
    r->treatment = xstr("blue");
    assert_int_equal(ctl_rollout_act(g.e, "st", CTL_RACT_ABORT, "x", NULL,
                         NULL, NULL, 0),
        RAMP_OK);
    assert_int_equal(ctl_rollout_start(g.e, r, "x", NULL, NULL, field,
                         sizeof(field), msg, sizeof(msg)),
        RAMP_EINVAL);
    assert_string_equal(field, "treatment");
    rp_rollout_free(r);
}

static void
test_restart_resumes_stage_bake_and_evidence(void **state)
{
    struct rp_rollout *r;
    json_t *s0, *s1, *ex;
    size_t n0;

    (void) state;
    flag_new("rs");
    rp_rollout_free(start("rs", "[500, 2500]", 600000, 3600000));
    traffic(1000, 10, 10000, 100);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(step(), 1);
    }
    assert_int_equal(ctl_rollout_status_json(g.e, "rs", &s0), RAMP_OK);
    ex = explain("rs", 100);
    n0 = json_array_size(json_object_get(ex, "checks"));
    json_decref(ex);
    assert_int_equal(n0, 3);

    /* The whole controller goes away and comes back. */
    world_close();
    world_open();
    assert_int_equal(ctl_rollout_status_json(g.e, "rs", &s1), RAMP_OK);
    assert_true(json_equal(s0, s1)); /* same clock: same everything */
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(s1, "status"), "bake_left_ms")),
        600000 - 3 * IV);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
                         json_object_get(s1, "status"), "treatment"),
                         "requests")),
        3000);
    json_decref(s0);
    json_decref(s1);
    ex = explain("rs", 100);
    assert_int_equal(json_array_size(json_object_get(ex, "checks")), 3);
    json_decref(ex);

    /* Down for a minute: the missed checks run once, not as a burst. */
    g.now += 60 * IV;
    assert_int_equal(ctl_rollout_tick(g.e, g.now), 1);
    assert_int_equal(ctl_rollout_tick(g.e, g.now), 0);
    assert_int_equal(ctl_rollout_tick(g.e, g.now + IV - 1), 0);
    r = get("rs");
    assert_int_equal(r->stage_index, 0);
    assert_int_equal(r->stage_entered_at_ms, T0);
    rp_rollout_free(r);
    assert_int_equal(ctl_rollout_status_json(g.e, "rs", &s1), RAMP_OK);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(
                         json_object_get(s1, "status"), "treatment"),
                         "requests")),
        4000);
    json_decref(s1);
}

static void
test_metrics(void **state)
{
    struct rp_buf b;

    (void) state;
    make_state("mx", RP_RS_RUNNING);
    rp_buf_init(&b, 1 << 20);
    assert_int_equal(ctl_rollout_metrics(g.e, &b), RAMP_OK);
    assert_int_equal(rp_buf_append(&b, "", 1), RAMP_OK);
    assert_non_null(strstr((char *) b.data,
        "ramp_ctl_rollouts{state=\"running\"} 1"));
    assert_non_null(
        strstr((char *) b.data, "ramp_ctl_rollout_stage{flag=\"mx\"} 0"));
    assert_non_null(strstr((char *) b.data,
        "ramp_ctl_rollout_stage_percent{flag=\"mx\"} 5"));
    assert_non_null(strstr((char *) b.data, "ramp_ctl_rollout_checks_total"));
    assert_non_null(strstr(
        (char *) b.data, "ramp_ctl_rollout_check_duration_seconds_count"));
    rp_buf_fini(&b);
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

struct resp {
    long status;
    char body[1 << 16];
    size_t len;
    json_t *json;
};

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct resp *r = arg;
    size_t len = sz * n;

    if (r->len + len >= sizeof(r->body)) {
        return 0;
    }
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static long
http(struct resp *r, const char *method, const char *path, const char *token,
    const char *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512], auth[128];

    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g.port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (token != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    if (body != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r->json = r->len > 0 ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    return r->status;
}

static long
http_status(const char *method, const char *path, const char *token,
    const char *body)
{
    struct resp *r = malloc(sizeof(*r));
    long s;

    assert_non_null(r);
    s = http(r, method, path, token, body);
    json_decref(r->json);
    free(r);
    return s;
}

static void
test_api_roles_and_routes(void **state)
{
    static const char start_body[] =
        "{\"flag\":\"web\",\"treatment\":\"on\",\"control\":\"off\","
        "\"unit\":{\"attribute\":\"account\"},\"reason\":\"ship it\"}";
    static const char pk[] =
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    struct resp *r = malloc(sizeof(*r));
    char body[256];
    json_t *st;

    (void) state;
    assert_non_null(r);
    flag_new("web");
    /* Role matrix: viewers read, operators run rollouts, admins enroll. */
    assert_int_equal(http_status("GET", "/api/v1/rollouts", NULL, NULL), 401);
    assert_int_equal(
        http_status("POST", "/api/v1/rollouts", g.viewer, start_body), 403);
    assert_int_equal(
        http_status("POST", "/api/v1/rollouts", g.oper, "{\"flag\":1}"), 400);
    assert_int_equal(http(r, "POST", "/api/v1/rollouts", g.oper, start_body),
        201);
    st = json_object_get(r->json, "status");
    assert_non_null(st);
    assert_int_equal(json_real_value(json_object_get(st, "stage_percent")), 5);
    assert_true(json_is_null(json_object_get(st, "verdict")));
    assert_string_equal(
        json_string_value(json_object_get(r->json, "state")), "running");
    json_decref(r->json);
    assert_int_equal(
        http_status("POST", "/api/v1/rollouts", g.oper, start_body), 409);
    assert_int_equal(
        http_status("GET", "/api/v1/rollouts/web", g.viewer, NULL), 200);
    assert_int_equal(
        http_status("GET", "/api/v1/rollouts/nope", g.viewer, NULL), 404);
    assert_int_equal(
        http_status("GET", "/api/v1/rollouts/BAD!", g.viewer, NULL), 400);
    assert_int_equal(
        http_status("POST", "/api/v1/rollouts/web/pause", g.viewer, NULL),
        403);
    assert_int_equal(http_status("POST", "/api/v1/rollouts/web/pause", g.oper,
                         "{\"why\":1}"),
        400);
    assert_int_equal(http_status("POST", "/api/v1/rollouts/web/pause", g.oper,
                         "{\"reason\":\"lunch\"}"),
        200);
    assert_int_equal(
        http_status("POST", "/api/v1/rollouts/web/pause", g.oper, NULL), 409);
    assert_int_equal(
        http_status("POST", "/api/v1/rollouts/web/resume", g.oper, NULL),
        200);
    assert_int_equal(
        http_status("POST", "/api/v1/rollouts/web/retry", g.oper, NULL), 409);
    assert_int_equal(
        http_status("GET", "/api/v1/rollouts/web/pause", g.oper, NULL), 405);
    assert_int_equal(http(r, "GET", "/api/v1/rollouts/web/history", g.viewer,
                         NULL),
        200);
    assert_int_equal(
        json_array_size(json_object_get(r->json, "history")), 3);
    assert_non_null(strstr(r->body, "ship it"));
    assert_non_null(strstr(r->body, "lunch"));
    json_decref(r->json);
    traffic(1000, 10, 10000, 100);
    g.now += 10000; /* the default check interval */
    assert_int_equal(ctl_rollout_tick(g.e, g.now), 1);
    assert_int_equal(http(r, "GET", "/api/v1/rollouts/web/explain?limit=5",
                         g.viewer, NULL),
        200);
    assert_int_equal(json_array_size(json_object_get(r->json, "checks")), 1);
    assert_non_null(strstr(r->body, "\"metrics\""));
    json_decref(r->json);
    assert_int_equal(http_status("GET", "/api/v1/rollouts/web/explain?limit=0",
                         g.viewer, NULL),
        400);
    assert_int_equal(http(r, "GET", "/api/v1/rollouts?state=running",
                         g.viewer, NULL),
        200);
    assert_int_equal(json_array_size(json_object_get(r->json, "rollouts")), 1);
    json_decref(r->json);
    assert_int_equal(http(r, "GET", "/api/v1/rollouts?state=paused",
                         g.viewer, NULL),
        200);
    assert_int_equal(json_array_size(json_object_get(r->json, "rollouts")), 0);
    json_decref(r->json);
    assert_int_equal(
        http_status("GET", "/api/v1/rollouts?state=odd", g.viewer, NULL), 400);
    assert_int_equal(
        http_status("POST", "/api/v1/rollouts/web/abort", g.oper, "{}"), 200);

    /* Agents */
    snprintf(body, sizeof(body),
        "{\"id\":\"web-01\",\"public_key\":\"%s\",\"host\":\"h1\"}", pk);
    assert_int_equal(http_status("POST", "/api/v1/agents", g.oper, body), 403);
    assert_int_equal(http(r, "POST", "/api/v1/agents", g.admin, body), 201);
    assert_string_equal(
        json_string_value(json_object_get(r->json, "public_key")), pk);
    assert_true(json_is_null(json_object_get(r->json, "last_report_at")));
    json_decref(r->json);
    assert_int_equal(http_status("POST", "/api/v1/agents", g.admin, body), 409);
    assert_int_equal(http_status("POST", "/api/v1/agents", g.admin,
                         "{\"id\":\"x\",\"public_key\":\"zz\"}"),
        400);
    assert_int_equal(http_status("POST", "/api/v1/agents", g.admin,
                         "{\"id\":\"a b\",\"public_key\":\"00\"}"),
        400);
    assert_int_equal(http(r, "GET", "/api/v1/agents", g.viewer, NULL), 200);
    assert_int_equal(json_array_size(json_object_get(r->json, "agents")), 1);
    json_decref(r->json);
    assert_int_equal(
        http_status("DELETE", "/api/v1/agents/web-01", g.oper, NULL), 403);
    assert_int_equal(
        http_status("DELETE", "/api/v1/agents/web-01", g.admin, NULL), 204);
    assert_int_equal(
        http_status("DELETE", "/api/v1/agents/web-01", g.admin, NULL), 404);
    free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_advance_on_evidence, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_no_evidence_extends_then_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fail_rolls_back_after_failure_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_critical_rolls_back_at_once_published_first, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_completion_sets_default, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_every_action_from_every_state, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_start_conflicts_and_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_restart_resumes_stage_bake_and_evidence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_api_roles_and_routes, setup, teardown),
    };
    int rc;

    curl_global_init(CURL_GLOBAL_ALL);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
