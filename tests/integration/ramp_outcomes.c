/* SPDX-License-Identifier: MIT */
/*
 * Outcome helper for the integration scripts: an application in one
 * process. It evaluates a bool flag through libramp for N targeting keys
 * and reports each outcome with ramp_observe, the way an application
 * does, then prints what it reported, per arm, for the script to compare
 * with what the controller took in:
 *
 *   ramp_outcomes TARGET FLAG N FAIL_EVERY LATENCY_US [KEY_PREFIX]
 *
 * TARGET is ipc://... or direct:DIR. Key i is KEY_PREFIX-i ("user" by
 * default); outcome i is an error when FAIL_EVERY > 0 and i % FAIL_EVERY
 * is 0, else a success; every latency is LATENCY_US. Output, one line:
 *
 *   none_ok=A none_err=B treatment_ok=C treatment_err=D control_ok=E
 *   control_err=F errors=G unsent=H dropped=I
 *
 * (errors: evaluations that served nothing, so were not observed;
 * unsent: outcomes still dropped after 2 s of retries; dropped:
 * ramp_observe_dropped, retries included). Exit 0, or 2 on bad
 * arguments.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ramp/ramp.h"

int
main(int argc, char **argv)
{
    uint64_t ok[3] = {0}, err[3] = {0}, errors = 0, unsent = 0;
    const char *prefix = argc > 6 ? argv[6] : "user";
    ramp_client *c = NULL;
    ramp_ctx *ctx = NULL;
    struct timespec pause = {0, 500 * 1000000L};
    long n, fail_every;
    unsigned long long lat;

    if (argc < 6) {
        fprintf(stderr, "usage: ramp_outcomes TARGET FLAG N FAIL_EVERY "
                        "LATENCY_US [KEY_PREFIX]\n");
        return 2;
    }
    n = strtol(argv[3], NULL, 10);
    fail_every = strtol(argv[4], NULL, 10);
    lat = strtoull(argv[5], NULL, 10);
    if (n < 0 || fail_every < 0) {
        return 2;
    }
    if (ramp_open(argv[1], 0, &c) != RAMP_OK || ramp_ctx_new(&ctx) != RAMP_OK) {
        fprintf(stderr, "ramp_outcomes: cannot open %s\n", argv[1]);
        return 2;
    }
    (void) ramp_set_timeout(c, 2000);
    for (long i = 0; i < n; i++) {
        struct ramp_detail d;
        char key[96];
        bool v = false;
        bool success = !(fail_every > 0 && i % fail_every == 0);

        (void) snprintf(key, sizeof(key), "%s-%ld", prefix, i);
        (void) ramp_ctx_set_key(ctx, key);
        if (ramp_bool(c, argv[2], ctx, false, &v, &d) != RAMP_OK) {
            errors++;
            continue;
        }
        /* An outcome dropped (the socket still being found or
         * connected) is sent again a little later, up to 2 s: the
         * script compares exact totals, so each one must be sent once
         * or counted as unsent. */
        for (int t = 0;; t++) {
            uint64_t before = ramp_observe_dropped(c);
            struct timespec ten = {0, 10 * 1000000L};

            if (ramp_observe(c, argv[2], &d, success, lat) != RAMP_OK) {
                errors++;
                break;
            }
            if (ramp_observe_dropped(c) == before) {
                break;
            }
            if (t == 200) {
                unsent++;
                break;
            }
            (void) nanosleep(&ten, NULL);
        }
        if (errors > 0 || unsent > 0) {
            continue; /* reported as such; the run is void */
        }
        if (success) {
            ok[d.arm]++;
        } else {
            err[d.arm]++;
        }
    }
    /* Outcomes sit in nng's queue until its pipe takes them; closing the
     * socket at once could discard the tail. Half a second is plenty on
     * a local socket; nothing asserts on time. */
    (void) nanosleep(&pause, NULL);
    printf("none_ok=%llu none_err=%llu treatment_ok=%llu treatment_err=%llu "
           "control_ok=%llu control_err=%llu errors=%llu unsent=%llu "
           "dropped=%llu\n",
        (unsigned long long) ok[0], (unsigned long long) err[0],
        (unsigned long long) ok[1], (unsigned long long) err[1],
        (unsigned long long) ok[2], (unsigned long long) err[2],
        (unsigned long long) errors, (unsigned long long) unsent,
        (unsigned long long) ramp_observe_dropped(c));
    ramp_ctx_free(ctx);
    ramp_close(c);
    return 0;
}
