/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the agent's outcome socket (agent/health.h,
 * protocol.md §10): agt_health_outcome() on any bytes, as libramp or any
 * local process may send them. It may only accept or refuse with
 * RAMP_EPROTO / RAMP_ETOOBIG (or the observe errors: RAMP_EINVAL for an
 * entry over the size limits, RAMP_ENOMEM); every accepted outcome must
 * show in the counters and in the next report, which must encode and
 * decode again.
 */
#include "fuzz_common.h"
#include "health.h"

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    static struct agt_health *h;
    static uint64_t accepted;
    struct agt_health_stats st;
    ramp_err rv;

    if (h == NULL) {
        FUZZ_CHECK(agt_health_new("fuzz-agent", "fuzz-host", &h) == RAMP_OK);
    }
    rv = agt_health_outcome(h, d, n);
    FUZZ_CHECK(rv == RAMP_OK || rv == RAMP_EPROTO || rv == RAMP_ETOOBIG ||
        rv == RAMP_EINVAL || rv == RAMP_ENOMEM);
    if (rv == RAMP_OK) {
        accepted++;
    }
    agt_health_stats(h, &st);
    /* An outcome beyond the entry limit may be dropped and counted
     * whatever the return says: both sides bound it. */
    FUZZ_CHECK(st.outcomes <= accepted);
    FUZZ_CHECK(st.outcomes + st.dropped_full >= accepted);
    /* Now and then, the report built from what was accepted so far. */
    if ((accepted & 63) == 1 && rv == RAMP_OK) {
        struct rp_health *rep = NULL;

        if (agt_health_report(h, 1, &rep) == RAMP_OK) {
            struct rp_buf b;

            rp_buf_init(&b, FUZZ_ENC_MAX);
            if (rp_health_encode(&b, rep) == RAMP_OK) {
                FUZZ_RT(b.data, b.len, health);
            }
            rp_buf_fini(&b);
            rp_health_free(rep);
        }
    }
    return 0;
}
