/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the controller's health intake
 * (controller/health.h): ctl_health_ingest() as the PULL socket's thread
 * calls it, on a real store (LMDB in a temp dir) with one enrolled agent
 * whose key is the fixed fuzz key (fuzz_keypair). The first byte picks:
 *
 *   even  the rest is the message as received (envelope bytes): shape,
 *         kind, enrollment, signature checks
 *   odd   the rest is a HEALTH payload, sealed here with the enrolled
 *         key at a seq taken from the input, so the payload decoder,
 *         the agent-id match, replay checks and the per-boot differences
 *         are reached past the signature
 *
 * It may only accept, or refuse with a reason from CTL_HREJ_TABLE; the
 * intake's counters must add up (received = accepted + every
 * rejection), and draining must never fail.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "health.h"
#include "store.h"

#define FUZZ_AGENT "fuzz-agent"

static struct ctl_store *st;
static struct ctl_health *hl;
static char dir[] = "/tmp/ramp-fuzz-ingest.XXXXXX";

static void
fuzz_ingest_cleanup(void)
{
    char cmd[128];

    ctl_health_close(hl);
    ctl_store_close(st);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        /* a leftover temp dir is all it costs */
    }
}

static void
fuzz_ingest_setup(void)
{
    struct ctl_store_opts so = {0};
    struct ctl_health_opts ho = {0};
    struct rp_keypair kp;

    FUZZ_CHECK(mkdtemp(dir) != NULL);
    so.path = dir;
    so.map_size = 64u << 20;
    FUZZ_CHECK(ctl_store_open(&so, &st) == RAMP_OK);
    fuzz_keypair(&kp);
    FUZZ_CHECK(ctl_store_agent_enroll(st, FUZZ_AGENT, kp.pk, "fuzz-host",
                   "fuzz", 1) == RAMP_OK);
    ho.store = st;
    ho.url = NULL; /* no socket: ingest is called directly */
    ho.recv_max = 1u << 20;
    FUZZ_CHECK(ctl_health_open(&ho, &hl) == RAMP_OK);
    atexit(fuzz_ingest_cleanup);
}

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static int64_t now = 1000;
    struct ctl_health_stats s;
    struct ctl_arm_sum t, c;
    enum ctl_hrej why = CTL_HREJ_COUNT;
    struct rp_buf env;
    uint64_t sum;
    ramp_err rv;

    if (st == NULL) {
        fuzz_ingest_setup();
    }
    if (n < 1) {
        return 0;
    }
    rp_buf_init(&env, RP_ENV_MAX);
    if ((d[0] & 1) == 0) {
        rv = ctl_health_ingest(hl, d + 1, n - 1, now, &why);
    } else {
        struct rp_keypair kp;
        uint64_t seq = n > 1 ? d[1] : 0;

        fuzz_keypair(&kp);
        if (n < 2 || rp_env_seal(&env, &kp, RP_KIND_HEALTH, seq,
                         (uint64_t) now, d + 2, n - 2) != RAMP_OK) {
            rp_buf_fini(&env);
            return 0;
        }
        rv = ctl_health_ingest(hl, env.data, env.len, now, &why);
    }
    now += 1000;
    if (rv != RAMP_OK) {
        FUZZ_CHECK((unsigned) why < CTL_HREJ_COUNT);
    }
    ctl_health_stats(hl, &s);
    sum = s.accepted;
    for (int i = 0; i < CTL_HREJ_COUNT; i++) {
        sum += s.rejected[i];
    }
    FUZZ_CHECK(sum == s.received);
    ctl_health_drain(hl, "checkout", &t, &c);
    rp_buf_fini(&env);
    return 0;
}
