/* SPDX-License-Identifier: MIT */
/*
 * Pre-stage gates (docs/integrations.md "Gates") end to end: the rollout
 * engine on a real store and publisher, the real webhook sender
 * (libcurl, its own thread), and a gate receiver on 127.0.0.1 served by
 * nng's HTTP server inside this process, answering with the status the
 * test sets (or holding the request until the test releases it). The
 * engine is driven by ctl_rollout_tick() with an injected clock and
 * synthetic check windows, as in test_rollout.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/util/platform.h>

#include "json.h"
#include "log.h"
#include "pub.h"
#include "rollout.h"
#include "store.h"
#include "testutil.h"
#include "webhook.h"

#define T0 1800000000000LL /* the injected clock's start, epoch ms */
#define IV 1000            /* check interval of the test policies */
#define SECRET "gate-secret-0123456789"
#define HELD_MAX 8

/* The gate receiver: an nng HTTP server answering POST /gate. */
static struct {
    pthread_mutex_t mtx;
    nng_http_server *srv;
    nng_url *url;
    int port;
    int status;           /* the answer; 0: hold gate requests */
    unsigned gate_reqs;   /* rollout.gate requests seen */
    unsigned other_reqs;  /* anything else */
    unsigned bad_sig;     /* gate requests with a wrong signature */
    int64_t last_stage;   /* "stage" of the last gate request */
    char last_flag[64];
    uint64_t last_rollout;
    nng_aio *held[HELD_MAX];
    size_t nheld;
} rx;

static struct {
    char dir[200];
    char pub_url[260];
    struct ctl_store *st;
    struct rp_keypair kp;
    struct ctl_pub *pub;
    struct ctl_events *ev;
    struct ctl_rollout_engine *e;
    int64_t now;
    struct ctl_arm_sum t, c; /* the window every check drains */
} g;

/* ------------------------------------------------------------------ */
/* The receiver                                                        */
/* ------------------------------------------------------------------ */

static void
rx_answer(nng_aio *aio, int status)
{
    nng_http_res *res;

    if (nng_http_res_alloc(&res) != 0) {
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    /* A body sets Content-Length: without one the client reads to EOF. */
    if (nng_http_res_set_status(res, (uint16_t) status) != 0 ||
        nng_http_res_copy_data(res, "{}", 2) != 0) {
        nng_http_res_free(res);
        nng_aio_finish(aio, NNG_ENOMEM);
        return;
    }
    nng_aio_set_output(aio, 0, res);
    nng_aio_finish(aio, 0);
}

static void
rx_cb(nng_aio *aio)
{
    nng_http_req *req = nng_aio_get_input(aio, 0);
    const char *ts = nng_http_req_get_header(req, "X-Ramp-Timestamp");
    const char *sig = nng_http_req_get_header(req, "X-Ramp-Signature");
    char want[CTL_WEBHOOK_SIG_LEN];
    void *body;
    size_t n;
    json_t *j;
    bool gate;
    int status;

    nng_http_req_get_data(req, &body, &n);
    j = json_loadb(body, n, 0, NULL);
    gate = j != NULL &&
        json_is_string(json_object_get(j, "type")) &&
        strcmp(json_string_value(json_object_get(j, "type")), "rollout.gate") ==
            0;
    pthread_mutex_lock(&rx.mtx);
    if (!gate) {
        rx.other_reqs++;
    } else {
        rx.gate_reqs++;
        rx.last_stage = json_integer_value(json_object_get(j, "stage"));
        rx.last_rollout =
            (uint64_t) json_integer_value(json_object_get(j, "rollout_id"));
        snprintf(rx.last_flag, sizeof(rx.last_flag), "%s",
            json_string_value(json_object_get(j, "flag")));
        if (ts == NULL || sig == NULL) {
            rx.bad_sig++;
        } else {
            ctl_webhook_sign((const uint8_t *) SECRET, strlen(SECRET),
                strtoll(ts, NULL, 10), body, n, want);
            if (strcmp(want, sig) != 0) {
                rx.bad_sig++;
            }
        }
    }
    status = rx.status;
    if (gate && status == 0 && rx.nheld < HELD_MAX) {
        rx.held[rx.nheld++] = aio; /* answered by rx_release */
        pthread_mutex_unlock(&rx.mtx);
        json_decref(j);
        return;
    }
    pthread_mutex_unlock(&rx.mtx);
    json_decref(j);
    rx_answer(aio, status != 0 ? status : 503);
}

/* Answer the held requests with status, and every later one too. */
static void
rx_release(int status)
{
    pthread_mutex_lock(&rx.mtx);
    rx.status = status;
    for (size_t i = 0; i < rx.nheld; i++) {
        rx_answer(rx.held[i], status);
    }
    rx.nheld = 0;
    pthread_mutex_unlock(&rx.mtx);
}

static void
rx_open(int status)
{
    nng_http_handler *h;
    nng_sockaddr sa;

    memset(&rx, 0, sizeof(rx));
    assert_int_equal(pthread_mutex_init(&rx.mtx, NULL), 0);
    rx.status = status;
    rx.last_stage = -1;
    assert_int_equal(nng_url_parse(&rx.url, "http://127.0.0.1:0"), 0);
    assert_int_equal(nng_http_server_hold(&rx.srv, rx.url), 0);
    assert_int_equal(nng_http_handler_alloc(&h, "/gate", rx_cb), 0);
    assert_int_equal(nng_http_handler_set_method(h, "POST"), 0);
    assert_int_equal(nng_http_handler_collect_body(h, true, 65536), 0);
    assert_int_equal(nng_http_server_add_handler(rx.srv, h), 0);
    assert_int_equal(nng_http_server_start(rx.srv), 0);
    assert_int_equal(nng_http_server_get_addr(rx.srv, &sa), 0);
    assert_int_equal(sa.s_family, NNG_AF_INET);
    rx.port = ntohs(sa.s_in.sa_port);
    assert_true(rx.port > 0);
}

static void
rx_close(void)
{
    rx_release(503); /* nothing may stay in nng's hands */
    nng_http_server_stop(rx.srv);
    nng_http_server_release(rx.srv);
    nng_url_free(rx.url);
    pthread_mutex_destroy(&rx.mtx);
}

static unsigned
rx_gate_reqs(void)
{
    unsigned n;

    pthread_mutex_lock(&rx.mtx);
    n = rx.gate_reqs;
    pthread_mutex_unlock(&rx.mtx);
    return n;
}

static size_t
rx_nheld(void)
{
    size_t n;

    pthread_mutex_lock(&rx.mtx);
    n = rx.nheld;
    pthread_mutex_unlock(&rx.mtx);
    return n;
}

/* ------------------------------------------------------------------ */
/* The engine (the minimum of test_rollout.c's fixture)                */
/* ------------------------------------------------------------------ */

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

static void
traffic(uint64_t nt, uint64_t et, uint64_t nc, uint64_t ec)
{
    arm_set(&g.t, nt, et, 100000);
    arm_set(&g.c, nc, ec, 100000);
}

static void
put_gate(const char *flag)
{
    char url[64], field[64] = "";
    json_t *spec, *out = NULL;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d/gate", rx.port);
    /* Events it does not want: the receiver sees only gate questions. */
    spec = json_pack("{s:s, s:b, s:s, s:[s]}", "url", url, "gate", 1,
        "secret", SECRET, "events", "flag.changed");
    assert_non_null(spec);
    assert_int_equal(json_object_set_new(spec, "flags",
                         strcmp(flag, "*") == 0 ? json_string(flag)
                                                : json_pack("[s]", flag)),
        0);
    assert_int_equal(ctl_webhook_put(g.ev, "approver", spec, "test", T0,
                         field, sizeof(field), &out),
        RAMP_OK);
    assert_true(json_is_true(json_object_get(out, "gate")));
    json_decref(out);
    json_decref(spec);
}

static void
world_open(int status, const char *gated_flag)
{
    struct ctl_store_opts so = {0};
    struct ctl_pub_opts po = {0};
    struct ctl_events_opts eo = {0};
    struct ctl_rollout_opts o = {0};
    char whdir[240];

    memset(&g, 0, sizeof(g));
    snprintf(g.dir, sizeof(g.dir), "/tmp/ramp-gate-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    snprintf(g.pub_url, sizeof(g.pub_url), "ipc://%s/pub.sock", g.dir);
    snprintf(whdir, sizeof(whdir), "%s/webhooks", g.dir);
    assert_int_equal(rp_key_generate(&g.kp), RAMP_OK);
    g.now = T0;
    traffic(0, 0, 0, 0);
    rx_open(status);

    so.path = g.dir;
    so.map_size = 64 << 20;
    assert_int_equal(ctl_store_open(&so, &g.st), RAMP_OK);
    po.url = g.pub_url;
    po.heartbeat_ms = 60000;
    assert_int_equal(ctl_pub_open(&po, g.st, &g.kp, &g.pub), RAMP_OK);
    eo.dir = whdir;
    eo.queue_max = 1000;
    eo.timeout_ms = 60000; /* a held answer stays pending, never times out */
    eo.backoff_min_ms = 100;
    eo.backoff_max_ms = 1000;
    eo.max_attempts = 3;
    assert_int_equal(ctl_events_open(&eo, &g.ev), RAMP_OK);
    put_gate(gated_flag);
    o.store = g.st;
    o.pub = g.pub;
    o.events = g.ev;
    o.window = fake_window;
    o.window_reset = fake_reset;
    o.clock = fake_clock;
    assert_int_equal(ctl_rollout_open(&o, &g.e), RAMP_OK);
}

static int
teardown(void **state)
{
    (void) state;
    ctl_rollout_close(g.e);
    ctl_events_close(g.ev);
    ctl_pub_close(g.pub);
    ctl_store_close(g.st);
    rx_close();
    rm_dir(g.dir);
    return 0;
}

static void
flag_new(const char *key)
{
    struct rp_flag *f = tu_bool_flag(key);

    assert_int_equal(rp_flag_prepare(f, NULL, 0), RAMP_OK);
    assert_int_equal(
        ctl_store_flag_put(g.st, &g.kp, f, 0, "test", T0, NULL, NULL), RAMP_OK);
    rp_flag_free(f);
}

/* Start a rollout of key (on vs off); returns its id. */
static uint64_t
start(const char *key, const char *stages)
{
    char text[512], field[64], msg[256];
    struct rp_rollout *r = NULL, *out = NULL;
    uint64_t id;
    json_t *j;

    snprintf(text, sizeof(text),
        "{\"flag\":\"%s\",\"treatment\":\"on\",\"control\":\"off\","
        "\"stages\":%s,\"policy\":{\"bake_ms\":5000,\"check_interval_ms\":%d,"
        "\"max_stage_ms\":3600000,\"min_samples\":100,\"failure_limit\":2}}",
        key, stages, IV);
    j = json_loads(text, 0, NULL);
    assert_non_null(j);
    assert_int_equal(rp_rollout_from_json(j, &r, field, sizeof(field)), RAMP_OK);
    json_decref(j);
    assert_int_equal(ctl_rollout_start(g.e, r, "alice", "test", &out, field,
                         sizeof(field), msg, sizeof(msg)),
        RAMP_OK);
    rp_rollout_free(r);
    assert_int_equal(out->state, RP_RS_RUNNING);
    id = out->id;
    rp_rollout_free(out);
    return id;
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

/* One check interval later, tick: exactly one rollout is checked. */
static void
step(void)
{
    g.now += IV;
    assert_int_equal(ctl_rollout_tick(g.e, g.now), 1);
}

/* Member name of the newest check of key, copied into out. */
static void
last_check(const char *key, const char *name, char *out, size_t outsz)
{
    json_t *j = NULL;
    const char *s;

    assert_int_equal(ctl_rollout_explain_json(g.e, key, 1, &j), RAMP_OK);
    s = json_string_value(json_object_get(
        json_array_get(json_object_get(j, "checks"), 0), name));
    assert_non_null(s);
    snprintf(out, outsz, "%s", s);
    json_decref(j);
}

static void
assert_last_check(const char *key, const char *action, const char *reason)
{
    char s[512];

    last_check(key, "action", s, sizeof(s));
    assert_string_equal(s, action);
    if (reason != NULL) {
        last_check(key, "reason", s, sizeof(s));
        if (strstr(s, reason) == NULL) {
            fail_msg("reason \"%s\" lacks \"%s\"", s, reason);
        }
    }
}

/* Healthy traffic until a check would advance: the first such check
 * asks the gate, which cannot have answered yet, so the stage is
 * extended. Returns with the question asked. */
static void
step_to_gate(const char *key)
{
    char act[64] = "none";

    traffic(1000, 10, 10000, 100);
    for (int i = 0; i < 60 && strcmp(act, "none") == 0; i++) {
        step();
        last_check(key, "action", act, sizeof(act));
    }
    assert_last_check(key, "extend", "gate pending");
    last_check(key, "verdict", act, sizeof(act));
    assert_string_equal(act, "pass");
    assert_int_equal(state_of(key), RP_RS_RUNNING);
}

/* Wait (bounded) until the sender has recorded n gate answers of kind. */
static void
wait_gate(uint64_t open, uint64_t closed)
{
    struct ctl_webhook_stats s;

    for (int i = 0; i < 2000; i++) {
        ctl_webhook_stats(g.ev, &s);
        if (s.gate_open >= open && s.gate_closed >= closed) {
            assert_int_equal(s.gate_open, open);
            assert_int_equal(s.gate_closed, closed);
            return;
        }
        nng_msleep(5);
    }
    fail_msg("gate answers: open %" PRIu64 " closed %" PRIu64
             " error %" PRIu64 ", wanted %" PRIu64 " and %" PRIu64
             "; receiver saw %u gate questions",
        s.gate_open, s.gate_closed, s.gate_error, open, closed,
        rx_gate_reqs());
}

static void
wait_held(size_t n)
{
    for (int i = 0; i < 2000 && rx_nheld() < n; i++) {
        nng_msleep(5);
    }
    assert_int_equal(rx_nheld(), n);
}

/* The receiver saw exactly n gate questions, the last for key's
 * rollout `id` entering `stage`, all correctly signed. */
static void
assert_asked(unsigned n, const char *key, uint64_t id, int64_t stage)
{
    pthread_mutex_lock(&rx.mtx);
    assert_int_equal(rx.gate_reqs, n);
    assert_int_equal(rx.bad_sig, 0);
    assert_int_equal(rx.other_reqs, 0);
    assert_string_equal(rx.last_flag, key);
    assert_int_equal(rx.last_rollout, id);
    assert_int_equal(rx.last_stage, stage);
    pthread_mutex_unlock(&rx.mtx);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* 500: the gate is closed, the rollout is held at its stage. */
static void
test_closed_gate_holds(void **state)
{
    struct rp_rollout *r;
    uint64_t id;

    (void) state;
    world_open(500, "gk");
    flag_new("gk");
    id = start("gk", "[500, 2500, 10000]");
    step_to_gate("gk");
    wait_gate(0, 1);
    assert_asked(1, "gk", id, 1);
    step();
    assert_int_equal(state_of("gk"), RP_RS_HELD);
    assert_int_equal(stage_of("gk"), 0);
    assert_last_check("gk", "hold", "gate closed");
    r = get("gk");
    assert_non_null(strstr(r->history[r->nhistory - 1].reason, "gate closed"));
    rp_rollout_free(r);
    /* Still healthy, still closed: held, and not asked again before the
     * recheck period. */
    for (int i = 0; i < 5; i++) {
        step();
        assert_int_equal(state_of("gk"), RP_RS_HELD);
        assert_int_equal(stage_of("gk"), 0);
        assert_last_check("gk", "hold", "gate closed");
    }
    assert_asked(1, "gk", id, 1);
}

/* No answer yet: the stage is extended, never advanced; then 200. */
static void
test_pending_gate_extends_then_200_advances(void **state)
{
    uint64_t id;

    (void) state;
    world_open(0, "gk"); /* hold every gate question */
    flag_new("gk");
    id = start("gk", "[500, 2500, 10000]");
    step_to_gate("gk");
    wait_held(1);
    for (int i = 0; i < 10; i++) {
        step();
        assert_int_equal(state_of("gk"), RP_RS_RUNNING);
        assert_int_equal(stage_of("gk"), 0);
        assert_last_check("gk", "extend", "gate pending");
    }
    /* One question in flight: asked once, not once per check. */
    assert_asked(1, "gk", id, 1);
    wait_gate(0, 0);
    rx_release(200);
    wait_gate(1, 0);
    step();
    assert_int_equal(state_of("gk"), RP_RS_RUNNING);
    assert_int_equal(stage_of("gk"), 1);
    assert_last_check("gk", "advance", NULL);
}

/* 200: the stage advances, and the next stage asks its own question. */
static void
test_open_gate_advances(void **state)
{
    uint64_t id;

    (void) state;
    world_open(200, "gk");
    flag_new("gk");
    id = start("gk", "[500, 2500, 10000]");
    step_to_gate("gk");
    wait_gate(1, 0);
    assert_asked(1, "gk", id, 1);
    step();
    assert_int_equal(state_of("gk"), RP_RS_RUNNING);
    assert_int_equal(stage_of("gk"), 1);
    assert_last_check("gk", "advance", NULL);
    /* Stage 2 is a new question: an open gate for stage 1 is not one
     * for stage 2. */
    step_to_gate("gk");
    assert_int_equal(stage_of("gk"), 1);
    wait_gate(2, 0);
    assert_asked(2, "gk", id, 2);
    step();
    assert_int_equal(stage_of("gk"), 2);
    assert_last_check("gk", "advance", NULL);
}

/* Held on a closed gate (the rollout and its question as in
 * test_closed_gate_holds). */
static uint64_t
hold_on_closed_gate(const char *key, uint64_t closed)
{
    uint64_t id;

    flag_new(key);
    id = start(key, "[500, 2500, 10000]");
    step_to_gate(key);
    wait_gate(0, closed);
    step();
    assert_int_equal(state_of(key), RP_RS_HELD);
    assert_last_check(key, "hold", "gate closed");
    return id;
}

/* A closed gate never blocks rollback: critical at once, failing at the
 * failure limit, with no question asked on the way. */
static void
test_closed_gate_never_blocks_rollback(void **state)
{
    struct ctl_rollout_stats rs;
    char verdict[32];

    (void) state;
    world_open(500, "*");
    hold_on_closed_gate("gc", 1);
    assert_int_equal(rx_gate_reqs(), 1);
    traffic(100, 60, 10000, 100); /* 60% errors: critical */
    step();
    assert_int_equal(state_of("gc"), RP_RS_ROLLED_BACK);
    assert_last_check("gc", "rollback", NULL);

    hold_on_closed_gate("gf", 2);
    assert_int_equal(rx_gate_reqs(), 2);
    /* 8% errors against 1%: failing once the stage's evidence says so,
     * rolled back on the failure_limit-th failing check in a row. */
    traffic(1000, 80, 10000, 100);
    for (int i = 0; i < 60 && state_of("gf") == RP_RS_HELD; i++) {
        step();
    }
    assert_int_equal(state_of("gf"), RP_RS_ROLLED_BACK);
    assert_last_check("gf", "rollback", NULL);
    last_check("gf", "verdict", verdict, sizeof(verdict));
    assert_string_equal(verdict, "fail");

    assert_int_equal(rx_gate_reqs(), 2);
    ctl_rollout_stats(g.e, &rs);
    assert_int_equal(rs.rollbacks, 2);
    assert_int_equal(rs.checks[RP_VERDICT_CRITICAL], 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_closed_gate_holds, teardown),
        cmocka_unit_test_teardown(
            test_pending_gate_extends_then_200_advances, teardown),
        cmocka_unit_test_teardown(test_open_gate_advances, teardown),
        cmocka_unit_test_teardown(
            test_closed_gate_never_blocks_rollback, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
