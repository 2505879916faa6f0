/* SPDX-License-Identifier: MIT */
/*
 * Webhooks and Prometheus analysis without a network: the signature
 * against a vector computed by another implementation (Python's hmac),
 * the payload's schema, the backoff schedule, the queue on real LMDB
 * files across a reopen (undelivered events survive), the bound, the
 * webhook and analysis validation, and how a Prometheus answer is judged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prom.h"
#include "testutil.h"
#include "webhook.h"

static char tmpdir[200];

static int
setup(void **state)
{
    (void) state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ramp-webhook-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown(void **state)
{
    char p[240];

    (void) state;
    snprintf(p, sizeof(p), "%s/wh", tmpdir);
    rm_dir(p);
    rm_dir(tmpdir);
    return 0;
}

static void
test_sign_vector(void **state)
{
    static const char key[] = "sekrit-0123456789abcdef";
    static const char body[] = "{\"a\":1}";
    char sig[CTL_WEBHOOK_SIG_LEN];

    (void) state;
    /* python3 -c 'import hmac,hashlib; print(hmac.new(
     *   b"sekrit-0123456789abcdef", b"1700000000.{\"a\":1}",
     *   hashlib.sha256).hexdigest())' */
    ctl_webhook_sign((const uint8_t *) key, strlen(key), 1700000000, body,
        strlen(body), sig);
    assert_string_equal(sig, "v1=b3717b89223a4bd8f892e09c30353506c363ddbccda73d"
                             "466e9daee7843b0a80");
    /* Another timestamp, another signature: a replayed body with a new
     * timestamp does not verify. */
    ctl_webhook_sign((const uint8_t *) key, strlen(key), 1700000001, body,
        strlen(body), sig);
    assert_string_not_equal(sig, "v1=b3717b89223a4bd8f892e09c30353506c363ddbcc"
                                 "da73d466e9daee7843b0a80");
}

static void
test_backoff_schedule(void **state)
{
    (void) state;
    /* Lowest jitter: half the step; highest: the step. */
    assert_int_equal(ctl_webhook_backoff(1, 1000, 300000, 0), 500);
    assert_int_equal(ctl_webhook_backoff(1, 1000, 300000, 500), 1000);
    assert_int_equal(ctl_webhook_backoff(2, 1000, 300000, 0), 1000);
    assert_int_equal(ctl_webhook_backoff(3, 1000, 300000, 0), 2000);
    assert_int_equal(ctl_webhook_backoff(4, 1000, 300000, 2000), 6000);
    /* Capped, also for absurd attempt numbers. */
    assert_int_equal(ctl_webhook_backoff(9, 1000, 300000, 0), 128000);
    assert_int_equal(ctl_webhook_backoff(10, 1000, 300000, 0), 150000);
    assert_int_equal(ctl_webhook_backoff(1000, 1000, 300000, 150000), 300000);
    for (uint32_t a = 1; a < 40; a++) {
        for (uint32_t r = 0; r < 5; r++) {
            int64_t d = ctl_webhook_backoff(a, 200, 60000, r * 7919);

            assert_true(d >= 100);
            assert_true(d <= 60000);
        }
    }
}

static void
test_payload_schema(void **state)
{
    static const char *const members[] = {"schema", "id", "type",
        "occurred_at", "occurred_at_ms", "flag", "rollout_id", "from", "to",
        "stage", "stage_percent", "actor", "reason", "flag_version", "check",
        NULL};
    json_t *check = json_pack("{s:s, s:i}", "verdict", "FAIL", "req_t", 400);
    struct ctl_event e = {CTL_EV_ROLLED_BACK, "checkout", 7, RP_RS_RUNNING,
        RP_RS_ROLLED_BACK, 1, 0, "engine", "error rate 9% > 5%",
        1700000000123, 0, check};
    json_t *j = ctl_event_payload(&e, "evt_x");
    json_t *s;
    size_t n = 0;

    (void) state;
    assert_non_null(j);
    for (n = 0; members[n] != NULL; n++) {
        assert_non_null(json_object_get(j, members[n]));
    }
    assert_int_equal(json_object_size(j), n);
    assert_int_equal(json_integer_value(json_object_get(j, "schema")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "type")),
        "rollout.rolled_back");
    assert_string_equal(json_string_value(json_object_get(j, "occurred_at")),
        "2023-11-14T22:13:20.123Z");
    assert_string_equal(json_string_value(json_object_get(j, "from")),
        "running");
    assert_string_equal(json_string_value(json_object_get(j, "to")),
        "rolled_back");
    assert_int_equal(json_integer_value(json_object_get(j, "rollout_id")), 7);
    assert_true(json_number_value(json_object_get(j, "stage_percent")) == 0.0);
    assert_true(json_is_null(json_object_get(j, "flag_version")));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(j, "check"), "req_t")),
        400);
    json_decref(j);

    /* A flag event: rollout members are null, the version is set. */
    e.kind = CTL_EV_FLAG_CHANGED;
    e.rollout_id = 0;
    e.flag_version = 12;
    e.check = NULL;
    j = ctl_event_payload(&e, "evt_y");
    assert_true(json_is_null(json_object_get(j, "rollout_id")));
    assert_true(json_is_null(json_object_get(j, "from")));
    assert_true(json_is_null(json_object_get(j, "stage")));
    assert_true(json_is_null(json_object_get(j, "check")));
    assert_int_equal(json_integer_value(json_object_get(j, "flag_version")),
        12);
    json_decref(j);

    s = ctl_event_slack(&e);
    assert_int_equal(json_object_size(s), 1);
    assert_non_null(strstr(json_string_value(json_object_get(s, "text")),
        "checkout"));
    json_decref(s);
    json_decref(check);
    assert_string_equal(ctl_event_name(CTL_EV_HELD), "rollout.held");
    assert_string_equal(ctl_event_name(CTL_EV_COUNT), "unknown");
}

static struct ctl_events *
open_queue(size_t queue_max)
{
    char dir[240];
    struct ctl_events_opts o = {0};
    struct ctl_events *ev = NULL;

    snprintf(dir, sizeof(dir), "%s/wh", tmpdir);
    o.dir = dir;
    o.queue_max = queue_max;
    o.no_sender = true; /* nothing leaves: the queue is what we test */
    assert_int_equal(ctl_events_open(&o, &ev), RAMP_OK);
    return ev;
}

static json_t *
hook_spec(const char *flags_json)
{
    json_t *j = json_pack("{s:s, s:s, s:[s,s]}", "url",
        "http://127.0.0.1:9/hook", "secret", "0123456789abcdef0123",
        "events", "rollout.rolled_back", "flag.changed");

    if (flags_json != NULL) {
        json_object_set_new(j, "flags", json_loads(flags_json, 0, NULL));
    }
    return j;
}

static size_t
count_deliveries(struct ctl_events *ev, const char *state)
{
    json_t *d = NULL;
    size_t n;

    assert_int_equal(ctl_webhook_deliveries(ev, NULL, state, 1000, &d),
        RAMP_OK);
    n = json_array_size(d);
    json_decref(d);
    return n;
}

static void
test_queue_survives_reopen(void **state)
{
    struct ctl_events *ev = open_queue(100);
    struct ctl_event e = {CTL_EV_ROLLED_BACK, "checkout", 3, RP_RS_RUNNING,
        RP_RS_ROLLED_BACK, 0, 0, "engine", "why", 1700000000000, 0, NULL};
    struct ctl_webhook_stats st;
    char field[64];
    json_t *spec = hook_spec("[\"checkout\"]"), *out = NULL, *d = NULL;

    (void) state;
    assert_int_equal(ctl_webhook_put(ev, "team", spec, "alice", 1, field,
                         sizeof(field), &out),
        RAMP_OK);
    assert_null(json_object_get(out, "secret")); /* never shown */
    assert_true(json_is_true(json_object_get(out, "secret_set")));
    json_decref(out);
    json_decref(spec);

    ctl_events_emit(ev, &e);     /* matches */
    e.kind = CTL_EV_ADVANCED;    /* not an event it wants */
    ctl_events_emit(ev, &e);
    e.kind = CTL_EV_ROLLED_BACK; /* not a flag it wants */
    e.flag = "other";
    ctl_events_emit(ev, &e);
    ctl_webhook_stats(ev, &st);
    assert_int_equal(st.pending, 1);
    ctl_events_close(ev);

    /* Reopened: the webhook and its undelivered event are still there. */
    ev = open_queue(100);
    ctl_webhook_stats(ev, &st);
    assert_int_equal(st.pending, 1);
    assert_int_equal(ctl_webhook_deliveries(ev, "team", "pending", 10, &d),
        RAMP_OK);
    assert_int_equal(json_array_size(d), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(d, 0), "type")),
        "rollout.rolled_back");
    assert_null(json_object_get(json_array_get(d, 0), "body"));
    json_decref(d);
    assert_int_equal(ctl_webhook_get(ev, "team", &out), RAMP_OK);
    assert_string_equal(json_string_value(json_object_get(out, "updated_by")),
        "alice");
    json_decref(out);
    ctl_events_close(ev);
}

static void
test_queue_bound(void **state)
{
    struct ctl_events *ev = open_queue(16);
    struct ctl_event e = {CTL_EV_ROLLED_BACK, "checkout", 3, RP_RS_RUNNING,
        RP_RS_ROLLED_BACK, 0, 0, "engine", "why", 1700000000000, 0, NULL};
    struct ctl_webhook_stats st;
    char field[64];
    json_t *spec = hook_spec(NULL), *out = NULL;

    (void) state;
    assert_int_equal(ctl_webhook_put(ev, "all", spec, "alice", 1, field,
                         sizeof(field), &out),
        RAMP_OK);
    json_decref(out);
    json_decref(spec);
    for (int i = 0; i < 20; i++) {
        ctl_events_emit(ev, &e);
    }
    ctl_webhook_stats(ev, &st);
    assert_int_equal(st.pending, 16);
    assert_int_equal(st.dropped, 4);
    assert_int_equal(count_deliveries(ev, NULL), 16);
    ctl_events_close(ev);
    ev = open_queue(16);
    assert_int_equal(count_deliveries(ev, "pending"), 16);
    ctl_events_close(ev);
}

static void
test_webhook_validation(void **state)
{
    static const char *const bad[][2] = {
        {"{\"url\":\"ftp://x\"}", "url"},
        {"{\"url\":\"http://\"}", "url"},
        {"{\"url\":\"http://a b\"}", "url"},
        {"{\"url\":\"http://a\",\"events\":[\"rollout.nope\"]}", "events"},
        {"{\"url\":\"http://a\",\"events\":\"*\"}", "events"},
        {"{\"url\":\"http://a\",\"secret\":\"short\"}", "secret"},
        {"{\"url\":\"http://a\",\"format\":\"xml\"}", "format"},
        {"{\"url\":\"http://a\",\"flags\":[\"Bad Key\"]}", "flags[0]"},
        {"{\"url\":\"http://a\",\"flags\":[]}", "flags"},
        {"{\"url\":\"http://a\",\"gate\":1}", "gate"},
        {"{\"url\":\"http://a\",\"gate\":true,\"format\":\"slack\"}", "gate"},
        {"{\"url\":\"http://a\",\"colour\":\"red\"}", "colour"},
    };
    struct ctl_events *ev = open_queue(100);
    char field[64];
    json_t *out = NULL, *spec;

    (void) state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        spec = json_loads(bad[i][0], 0, NULL);
        assert_non_null(spec);
        assert_int_equal(ctl_webhook_put(ev, "x", spec, "a", 1, field,
                             sizeof(field), &out),
            RAMP_EINVAL);
        assert_string_equal(field, bad[i][1]);
        assert_null(out);
        json_decref(spec);
    }
    assert_int_equal(ctl_webhook_get(ev, "x", &out), RAMP_ENOTFOUND);
    spec = json_loads("{\"url\":\"http://a\"}", 0, NULL);
    assert_int_equal(ctl_webhook_put(ev, "controller", spec, "a", 1, field,
                         sizeof(field), &out),
        RAMP_EPERM);
    assert_int_equal(ctl_webhook_put(ev, "deliveries", spec, "a", 1, field,
                         sizeof(field), &out),
        RAMP_EINVAL);
    assert_int_equal(ctl_webhook_put(ev, "x/y", spec, "a", 1, field,
                         sizeof(field), &out),
        RAMP_EINVAL);
    json_decref(spec);
    assert_int_equal(ctl_webhook_delete(ev, "x", "a"), RAMP_ENOTFOUND);
    assert_int_equal(ctl_webhook_test(ev, "x", "a", NULL), RAMP_ENOTFOUND);
    ctl_events_close(ev);
}

static void
test_analysis(void **state)
{
    struct ctl_events *ev = open_queue(100);
    char field[64];
    json_t *out = NULL, *spec;

    (void) state;
    spec = json_loads("{\"checks\":[{\"name\":\"err\",\"query\":\"q\","
                      "\"op\":\"=\",\"threshold\":1}]}",
        0, NULL);
    assert_int_equal(ctl_analysis_put(ev, "checkout", spec, "a", field,
                         sizeof(field), &out),
        RAMP_EINVAL);
    assert_string_equal(field, "checks[0].op");
    json_decref(spec);
    spec = json_loads("{\"checks\":[{\"name\":\"a\",\"query\":\"q\","
                      "\"op\":\"<\",\"threshold\":1},{\"name\":\"a\","
                      "\"query\":\"q\",\"op\":\"<\",\"threshold\":1}]}",
        0, NULL);
    assert_int_equal(ctl_analysis_put(ev, "checkout", spec, "a", field,
                         sizeof(field), &out),
        RAMP_EINVAL);
    assert_string_equal(field, "checks[1].name");
    json_decref(spec);
    assert_int_equal(ctl_analysis_get(ev, "checkout", &out), RAMP_ENOTFOUND);
    spec = json_loads("{\"checks\":[{\"name\":\"err\",\"query\":"
                      "\"x{flag=\\\"{{flag}}\\\"}\",\"op\":\"<=\","
                      "\"threshold\":0.5}]}",
        0, NULL);
    assert_int_equal(ctl_analysis_put(ev, "checkout", spec, "a", field,
                         sizeof(field), &out),
        RAMP_OK);
    json_decref(out);
    json_decref(spec);
    assert_int_equal(ctl_analysis_get(ev, "checkout", &out), RAMP_OK);
    assert_int_equal(json_array_size(json_object_get(out, "checks")), 1);
    json_decref(out);
    assert_int_equal(ctl_analysis_delete(ev, "checkout", "a"), RAMP_OK);
    assert_int_equal(ctl_analysis_delete(ev, "checkout", "a"), RAMP_ENOTFOUND);
    ctl_events_close(ev);
}

static void
test_prom_render(void **state)
{
    char out[128];

    (void) state;
    assert_int_equal(ctl_prom_render("x{flag=\"{{flag}}\",s=\"{{stage}}\"} "
                                     "* {{stage_percent}}",
                         "checkout", 2, 250, out, sizeof(out)),
        RAMP_OK);
    assert_string_equal(out, "x{flag=\"checkout\",s=\"2\"} * 2.5");
    assert_int_equal(
        ctl_prom_render("{{nope}}", "f", 0, 0, out, sizeof(out)), RAMP_EINVAL);
    assert_int_equal(
        ctl_prom_render("{{flag}}", "checkout", 0, 0, out, 8), RAMP_ETOOBIG);
}

static enum rp_verdict
judge(long status, const char *body, const char *op, double th)
{
    struct ctl_prom_result r;

    memset(&r, 0, sizeof(r));
    snprintf(r.op, sizeof(r.op), "%s", op);
    r.threshold = th;
    ctl_prom_judge(status, body, strlen(body), &r);
    return r.verdict;
}

static void
test_prom_judge(void **state)
{
    static const char one[] = "{\"status\":\"success\",\"data\":{\"resultType\":"
                              "\"vector\",\"result\":[{\"metric\":{},"
                              "\"value\":[1700000000,\"0.07\"]}]}}";

    (void) state;
    assert_int_equal(judge(200, one, "<", 0.05), RP_VERDICT_FAIL);
    assert_int_equal(judge(200, one, "<", 0.1), RP_VERDICT_PASS);
    assert_int_equal(judge(200, one, ">=", 0.07), RP_VERDICT_PASS);
    assert_int_equal(judge(200, one, ">", 0.07), RP_VERDICT_FAIL);
    /* Everything else is no data, never a pass. */
    assert_int_equal(judge(500, one, "<", 1), RP_VERDICT_NO_DATA);
    assert_int_equal(judge(404, one, "<", 1), RP_VERDICT_NO_DATA);
    assert_int_equal(judge(200, "not json", "<", 1), RP_VERDICT_NO_DATA);
    assert_int_equal(judge(200, "{\"status\":\"error\",\"error\":\"bad\"}",
                         "<", 1),
        RP_VERDICT_NO_DATA);
    assert_int_equal(judge(200, "{\"status\":\"success\",\"data\":{"
                                "\"resultType\":\"vector\",\"result\":[]}}",
                         "<", 1),
        RP_VERDICT_NO_DATA);
    assert_int_equal(judge(200, "{\"status\":\"success\",\"data\":{"
                                "\"resultType\":\"vector\",\"result\":["
                                "{\"value\":[1,\"1\"]},{\"value\":[1,\"1\"]}]}}",
                         "<", 5),
        RP_VERDICT_NO_DATA);
    assert_int_equal(judge(200, "{\"status\":\"success\",\"data\":{"
                                "\"resultType\":\"vector\",\"result\":["
                                "{\"value\":[1,\"NaN\"]}]}}",
                         "<", 5),
        RP_VERDICT_NO_DATA);
    assert_int_equal(judge(200, "{\"status\":\"success\",\"data\":{"
                                "\"resultType\":\"scalar\",\"result\":"
                                "[1,\"3\"]}}",
                         "<", 5),
        RP_VERDICT_PASS);
}

static void
test_prom_no_url(void **state)
{
    struct ctl_events *ev = open_queue(100);
    struct ctl_prom_opts po = {"none", 1000, ev};
    struct ctl_prom *p = NULL;
    struct ctl_prom_result res[4];
    struct rp_rollout r;
    char field[64];
    json_t *out = NULL, *spec;

    (void) state;
    spec = json_loads("{\"checks\":[{\"name\":\"err\",\"query\":\"q\","
                      "\"op\":\"<\",\"threshold\":1}]}",
        0, NULL);
    assert_int_equal(ctl_analysis_put(ev, "checkout", spec, "a", field,
                         sizeof(field), &out),
        RAMP_OK);
    json_decref(out);
    json_decref(spec);
    assert_int_equal(ctl_prom_open(&po, &p), RAMP_OK);
    memset(&r, 0, sizeof(r));
    r.flag_key = "checkout";
    r.nstages = 1;
    r.stages_bp[0] = 500;
    assert_int_equal(ctl_prom_check(p, &r, res, 4), 1);
    assert_int_equal(res[0].verdict, RP_VERDICT_NO_DATA);
    assert_string_equal(res[0].name, "err");
    r.flag_key = "nochecks";
    assert_int_equal(ctl_prom_check(p, &r, res, 4), 0);
    assert_int_equal(ctl_prom_check(NULL, &r, res, 4), 0);
    ctl_prom_close(p);
    po.url = "ftp://x";
    assert_int_equal(ctl_prom_open(&po, &p), RAMP_EINVAL);
    ctl_events_close(ev);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_vector),
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_payload_schema),
        cmocka_unit_test_setup_teardown(
            test_queue_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_webhook_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_analysis, setup, teardown),
        cmocka_unit_test(test_prom_render),
        cmocka_unit_test(test_prom_judge),
        cmocka_unit_test_setup_teardown(test_prom_no_url, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
