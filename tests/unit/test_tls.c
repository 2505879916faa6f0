/* SPDX-License-Identifier: MIT */
/*
 * TLS end to end, in-process: a self-signed P-256 certificate made by
 * openssl at run time, the controller's HTTP API over HTTPS on a
 * kernel-picked port (libcurl with and without the certificate as CA),
 * its PUB and resync REP on tls+tcp:// dialled through the agent's
 * agt_tls_dial (verified heartbeat, resync reply), and the settings
 * checks that refuse tls+ URLs without certificate, key or CA.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

/* Both daemons have a "config.h"; name each by its directory. */
#include "../../agent/config.h"
#include "../../controller/config.h"
#include "api.h"
#include "codec.h"
#include "envelope.h"
#include "pub.h"
#include "resync.h"
#include "store.h"
#include "testutil.h"
#include "cli_run.h"

#define HEARTBEAT_MS 50
#define RECV_BOUND_MS 20000 /* a hang fails the test; not a threshold */

static struct {
    char dir[200];
    char cert[260], key[260], other[260];
    char pub_url[64], rs_url[64];
    struct ctl_store *st;
    struct rp_keypair kp;
    struct rp_pubkey pk;
    struct ctl_pub *pub;
    struct ctl_resync *rs;
    struct ctl_api *api;
    int port;
} g;

/* A TCP port free right now on 127.0.0.1 (nng hides the one a tls+tcp
 * listener on port 0 would pick). */
static int
free_port(void)
{
    struct sockaddr_in sa;
    socklen_t n = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *) &sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sa, &n), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static void
make_cert(const char *cert, const char *key)
{
    char cmd[1024];

    snprintf(cmd, sizeof(cmd),
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
        "-nodes -days 1 -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
        "-keyout '%s' -out '%s' >/dev/null 2>&1",
        key, cert);
    assert_int_equal(system(cmd), 0);
}

static int
group_setup(void **state)
{
    struct ctl_store_opts so = {0};
    struct ctl_pub_opts po = {0};
    struct ctl_resync_opts ro = {0};
    struct ctl_api_opts ao = {0};
    char okey[260];

    (void) state;
    snprintf(g.dir, sizeof(g.dir), "/tmp/ramp-tls-XXXXXX");
    assert_non_null(mkdtemp(g.dir));
    snprintf(g.cert, sizeof(g.cert), "%s/ctl.crt", g.dir);
    snprintf(g.key, sizeof(g.key), "%s/ctl.key", g.dir);
    snprintf(g.other, sizeof(g.other), "%s/other.crt", g.dir);
    snprintf(okey, sizeof(okey), "%s/other.key", g.dir);
    make_cert(g.cert, g.key);
    make_cert(g.other, okey); /* same names, another key: must not pass */
    assert_int_equal(ctl_tls_set(g.cert, g.key), RAMP_OK);
    assert_non_null(ctl_tls_server());

    so.path = g.dir;
    so.log_retain = 8;
    so.map_size = 64 << 20;
    assert_int_equal(ctl_store_open(&so, &g.st), RAMP_OK);
    assert_int_equal(rp_key_generate(&g.kp), RAMP_OK);
    rp_key_public(&g.kp, &g.pk);
    snprintf(g.pub_url, sizeof(g.pub_url), "tls+tcp://127.0.0.1:%d",
        free_port());
    snprintf(g.rs_url, sizeof(g.rs_url), "tls+tcp://127.0.0.1:%d",
        free_port());
    po.url = g.pub_url;
    po.heartbeat_ms = HEARTBEAT_MS;
    assert_int_equal(ctl_pub_open(&po, g.st, &g.kp, &g.pub), RAMP_OK);
    ro.url = g.rs_url;
    ro.workers = 2;
    assert_int_equal(ctl_resync_open(&ro, g.st, &g.kp, &g.rs), RAMP_OK);
    ao.url = "https://127.0.0.1:0";
    assert_int_equal(ctl_api_open(&ao, g.st, g.pub, &g.api), RAMP_OK);
    g.port = ctl_api_port(g.api);
    assert_true(g.port > 0);
    curl_global_init(CURL_GLOBAL_ALL);
    return 0;
}

static int
group_teardown(void **state)
{
    (void) state;
    ctl_api_close(g.api);
    ctl_resync_close(g.rs);
    ctl_pub_close(g.pub);
    ctl_store_close(g.st);
    assert_int_equal(ctl_tls_set(NULL, NULL), RAMP_OK);
    assert_int_equal(agt_tls_set(NULL, NULL), RAMP_OK);
    curl_global_cleanup();
    rm_dir(g.dir);
    return 0;
}

static size_t
on_body(char *p, size_t sz, size_t n, void *arg)
{
    char *out = arg;
    size_t len = sz * n, have = strlen(out);

    if (have + len < 256) {
        memcpy(out + have, p, len);
        out[have + len] = '\0';
    }
    return len;
}

/* GET /healthz over https; cainfo NULL leaves curl's system CAs. */
static CURLcode
healthz(const char *cainfo, const char *host, long *status, char *body)
{
    CURL *c = curl_easy_init();
    struct curl_slist *res = NULL;
    char url[128], pin[128];
    CURLcode cc;

    assert_non_null(c);
    body[0] = '\0';
    *status = 0;
    snprintf(url, sizeof(url), "https://%s:%d/healthz", host, g.port);
    if (strcmp(host, "localhost") == 0) {
        /* The name in the certificate, on the loopback address. */
        snprintf(pin, sizeof(pin), "localhost:%d:127.0.0.1", g.port);
        res = curl_slist_append(NULL, pin);
        curl_easy_setopt(c, CURLOPT_RESOLVE, res);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    if (cainfo != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, cainfo);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    }
    cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    }
    curl_slist_free_all(res);
    curl_easy_cleanup(c);
    return cc;
}

static void
test_https_healthz(void **state)
{
    char body[256];
    long status;

    (void) state;
    assert_int_equal(healthz(g.cert, "127.0.0.1", &status, body), CURLE_OK);
    assert_int_equal(status, 200);
    assert_non_null(strstr(body, "\"ok\""));
    assert_int_equal(healthz(g.cert, "localhost", &status, body), CURLE_OK);
    assert_int_equal(status, 200);
    /* Not trusted: the system CAs, and another self-signed cert with
     * the same names. No status line, nothing served. */
    assert_int_equal(healthz(NULL, "127.0.0.1", &status, body),
        CURLE_PEER_FAILED_VERIFICATION);
    assert_int_equal(status, 0);
    assert_int_equal(healthz(g.other, "127.0.0.1", &status, body),
        CURLE_PEER_FAILED_VERIFICATION);
    assert_string_equal(body, "");
}

static void
test_sub_heartbeat(void **state)
{
    struct rp_envelope env;
    struct rp_heartbeat hb;
    nng_socket s;
    uint8_t *buf = NULL;
    size_t len = 0;
    char url[96];
    int rc;

    (void) state;
    /* No name given: the URL's host, which must then be a DNS name
     * (mbed TLS matches DNS names only, not IP addresses). */
    assert_int_equal(agt_tls_set(g.cert, NULL), RAMP_OK);
    snprintf(url, sizeof(url), "tls+tcp://localhost:%s",
        strrchr(g.pub_url, ':') + 1);
    assert_int_equal(nng_sub0_open(&s), 0);
    assert_int_equal(nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0), 0);
    assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, RECV_BOUND_MS),
        0);
    assert_int_equal(agt_tls_dial(s, url, 0), 0);
    rc = nng_recv(s, &buf, &len, NNG_FLAG_ALLOC);
    if (rc != 0) {
        fail_msg("sub recv: %s", nng_strerror(rc));
    }
    assert_int_equal(rp_env_open(buf, len, &g.pk, 1, &env), RAMP_OK);
    assert_int_equal(env.kind, RP_KIND_HEARTBEAT);
    assert_int_equal(rp_heartbeat_decode(env.payload, env.payload_len, &hb),
        RAMP_OK);
    assert_int_equal(hb.interval_ms, HEARTBEAT_MS);
    assert_int_equal(hb.seq, env.seq);
    nng_free(buf, len);
    nng_close(s);
}

static void
test_req_resync(void **state)
{
    struct rp_resync_req q = {0};
    struct rp_resync_rep rep;
    struct ctl_resync_stats st;
    struct rp_buf b;
    nng_socket s;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc;

    (void) state;
    /* The name to verify given explicitly this time. */
    assert_int_equal(agt_tls_set(g.cert, "localhost"), RAMP_OK);
    assert_int_equal(nng_req0_open(&s), 0);
    assert_int_equal(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, RECV_BOUND_MS),
        0);
    assert_int_equal(agt_tls_dial(s, g.rs_url, 0), 0);
    rp_buf_init(&b, 64);
    assert_int_equal(rp_resync_req_encode(&b, &q), RAMP_OK);
    assert_int_equal(nng_send(s, b.data, b.len, 0), 0);
    rp_buf_fini(&b);
    rc = nng_recv(s, &buf, &len, NNG_FLAG_ALLOC);
    if (rc != 0) {
        fail_msg("resync recv: %s", nng_strerror(rc));
    }
    assert_int_equal(rp_resync_rep_decode(buf, len, &rep), RAMP_OK);
    /* The store is empty and its log reaches seq 0: a log reply with
     * nothing in it. */
    assert_int_equal(rep.status, 0);
    assert_int_equal(rep.nenvs, 0);
    ctl_resync_stats(g.rs, &st);
    assert_int_equal(st.log_replies, 1);
    rp_resync_rep_fini(&rep);
    nng_free(buf, len);
    nng_close(s);
}

/* The ramp CLI against the HTTPS API: --cacert (or RAMP_CACERT) names
 * the CA; without it the system's store does not know this self-signed
 * certificate (exit 6); an unreadable file is a usage error (exit 2)
 * before anything is sent. */
static void
test_cli_cacert(void **state)
{
    char tok[CTL_TOKEN_STRLEN];
    char url[64], urlarg[80], tokarg[CTL_TOKEN_STRLEN + 16];
    char caenv[300], caarg[300], other[300];
    struct run r;
    unsigned long sent;

    (void) state;
    assert_int_equal(ctl_store_token_create(g.st, "tls-cli", CTL_ROLE_VIEWER,
                         "test", 1, tok),
        RAMP_OK);
    snprintf(url, sizeof(url), "https://localhost:%d", g.port);
    snprintf(urlarg, sizeof(urlarg), "--url=%s", url);
    snprintf(tokarg, sizeof(tokarg), "--token=%s", tok);
    snprintf(caarg, sizeof(caarg), "--cacert=%s", g.cert);
    snprintf(other, sizeof(other), "--cacert=%s", g.other);
    snprintf(caenv, sizeof(caenv), "RAMP_CACERT=%s", g.cert);
    {
        char *env[] = {"HOME=/nonexistent-ramp-test", "RAMP_TIMEOUT=5s",
            NULL};
        char *env_ca[] = {"HOME=/nonexistent-ramp-test", "RAMP_TIMEOUT=5s",
            caenv, NULL};
        const char *ok[] = {urlarg, tokarg, caarg, "flag", "list", NULL};
        const char *none[] = {urlarg, tokarg, "flag", "list", NULL};
        const char *wrong[] = {urlarg, tokarg, other, "flag", "list", NULL};
        const char *missing[] = {urlarg, tokarg, "--cacert=/nonexistent/ca.pem",
            "flag", "list", NULL};

        if (run_envv(&r, env, ok) != CLI_EXIT_OK) {
            fail_msg("ramp flag list over https: %d: %s", r.rc, r.err);
        }
        run_fini(&r);
        assert_int_equal(run_envv(&r, env_ca, none), CLI_EXIT_OK);
        run_fini(&r);
        assert_int_equal(run_envv(&r, env, none), CLI_EXIT_UNREACH);
        run_fini(&r);
        assert_int_equal(run_envv(&r, env, wrong), CLI_EXIT_UNREACH);
        run_fini(&r);
        sent = cli_requests_sent();
        assert_int_equal(run_envv(&r, env, missing), CLI_EXIT_USAGE);
        assert_non_null(strstr(r.err, "cacert"));
        assert_int_equal(cli_requests_sent(), sent);
        run_fini(&r);
    }
}

/* No CA, no tls+ dial; a CA or name that does not match, no connection. */
static void
test_tls_refusals(void **state)
{
    nng_socket s;

    (void) state;
    assert_int_equal(nng_req0_open(&s), 0);
    assert_int_equal(agt_tls_set(NULL, NULL), RAMP_OK);
    assert_int_equal(agt_tls_dial(s, g.rs_url, NNG_FLAG_NONBLOCK), NNG_EINVAL);
    /* A synchronous dial reports the failed verification: another
     * certificate as CA, then the right CA but the wrong name. */
    assert_int_equal(agt_tls_set(g.other, "localhost"), RAMP_OK);
    assert_int_equal(agt_tls_dial(s, g.rs_url, 0), NNG_ECRYPTO);
    assert_int_equal(agt_tls_set(g.cert, "ctl.example.net"), RAMP_OK);
    assert_int_equal(agt_tls_dial(s, g.rs_url, 0), NNG_ECRYPTO);
    /* A CA file that is not there. */
    assert_int_equal(agt_tls_set("/nonexistent/ca.pem", NULL), RAMP_OK);
    assert_int_equal(agt_tls_dial(s, g.rs_url, 0), NNG_ENOENT);
    assert_int_equal(agt_tls_set(NULL, NULL), RAMP_OK);
    nng_close(s);
}

/* The settings checks: both cert and key or neither; tls+ URLs need
 * them (controller) or tls-ca (agent). */
static void
test_config_checks(void **state)
{
    struct rp_cfg c;
    struct agt_config ac;
    char err[256];
    char a0[] = "--tls-cert=/x.crt", a1[] = "--tls-key=/x.key";
    char a2[] = "--pub-url=tls+tcp://*:7400";
    char b0[] = "--resync-url=tls+tcp://ctl:7401";
    char b1[] = "--tls-ca=/ca.pem";
    char *only_cert[] = {a0};
    char *url_only[] = {a2};
    char *all[] = {a0, a1, a2};
    char *agent_bad[] = {b0};
    char *agent_ok[] = {b0, b1};
    char *envp[] = {NULL};

    (void) state;
    assert_int_equal(rp_cfg_init(&c, ctl_cfg_defs, ctl_cfg_ndefs), RAMP_OK);
    assert_false(ctl_tls_wanted(&c));
    assert_int_equal(ctl_config_load(&c, 1, only_cert), RAMP_EINVAL);
    assert_non_null(strstr(c.err, "tls-key"));
    assert_int_equal(ctl_config_load(&c, 1, url_only), RAMP_EINVAL);
    assert_non_null(strstr(c.err, "pub-url"));
    assert_int_equal(ctl_config_load(&c, 3, all), RAMP_OK);
    assert_true(ctl_tls_wanted(&c));
    rp_cfg_fini(&c);
    /* A key that is not there: refused at ctl_tls_set, config kept. */
    assert_int_equal(ctl_tls_set("/nonexistent.crt", g.key), RAMP_EIO);
    assert_non_null(ctl_tls_server());

    assert_int_equal(agt_config_load(1, agent_bad, envp, &ac, err,
                         sizeof(err)),
        RAMP_EINVAL);
    assert_non_null(strstr(err, "resync-url"));
    assert_int_equal(agt_config_load(2, agent_ok, envp, &ac, err,
                         sizeof(err)),
        RAMP_OK);
    assert_string_equal(ac.tls_ca, "/ca.pem");
    assert_string_equal(ac.tls_server_name, "");
    agt_config_fini(&ac);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https_healthz),
        cmocka_unit_test(test_sub_heartbeat),
        cmocka_unit_test(test_req_resync),
        cmocka_unit_test(test_tls_refusals),
        cmocka_unit_test(test_cli_cacert),
        cmocka_unit_test(test_config_checks),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
