/* SPDX-License-Identifier: MIT */
/*
 * A hostile publisher for tests/integration/tamper.sh: it captures real
 * envelopes from the controller, forges new ones, and publishes any file
 * on its own PUB socket, at an agent whose sub-url points at it.
 *
 *   ramp_testpub capture URL CONTROLLER.pub OUTDIR COUNT TIMEOUT_MS
 *       subscribe to the controller's PUB at URL, write "OUTDIR/ready"
 *       once its first verified heartbeat arrived (the controller's PUB
 *       has added this pipe: nothing published after it is missed), then
 *       save each verified non-heartbeat envelope as
 *       OUTDIR/SEQ.env and print "SEQ KIND", until COUNT are saved (exit
 *       0) or the deadline (exit 1)
 *   ramp_testpub forge SECRET.key ID_FROM KIND SEQ FLAG.json OUT
 *       sign an envelope with SECRET.key; ID_FROM is a public key file
 *       whose key id is written into the envelope ("-": the signing key's
 *       own id). KIND is flag_put (payload: the flag of FLAG.json, made
 *       version 999) or heartbeat (payload [SEQ, 1000, 1]; FLAG.json is
 *       ignored)
 *   ramp_testpub send URL WAIT_MS GAP_MS FILE...
 *       listen with PUB on URL, wait up to WAIT_MS for a subscriber, send
 *       each file's bytes as one message GAP_MS apart, linger, exit 0 (1
 *       when nobody connected)
 *
 * Not here: deciding what the agent must do with these (the script reads
 * the agent's counters), or anything the controller does.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#include "buf.h"
#include "codec.h"
#include "envelope.h"
#include "json.h"
#include "model.h"
#include "tool_close.h"

static uint64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static uint64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int
write_file(const char *path, const void *p, size_t n)
{
    FILE *fp = fopen(path, "wb");
    int rc = 0;

    if (fp == NULL) {
        perror(path);
        return 1;
    }
    if (n > 0 && fwrite(p, 1, n, fp) != n) {
        rc = 1;
    }
    if (fclose(fp) != 0) {
        rc = 1;
    }
    if (rc != 0) {
        fprintf(stderr, "testpub: cannot write %s\n", path);
    }
    return rc;
}

/* Read a whole file (at most 32 MiB: more than any envelope). */
static int
read_file(const char *path, uint8_t **out, size_t *lenp)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *p = NULL;
    size_t len = 0, cap = 0;

    if (fp == NULL) {
        perror(path);
        return 1;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            uint8_t *q;

            cap = cap == 0 ? 4096 : cap * 2;
            if (cap > (32u << 20)) {
                fprintf(stderr, "testpub: %s too large\n", path);
                goto fail;
            }
            q = realloc(p, cap);
            if (q == NULL) {
                goto fail;
            }
            p = q;
        }
        n = fread(p + len, 1, cap - len, fp);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(fp)) {
        goto fail;
    }
    fclose(fp);
    *out = p;
    *lenp = len;
    return 0;

fail:
    fclose(fp);
    free(p);
    return 1;
}

static int
cmd_capture(const char *url, const char *pubfile, const char *dir,
    const char *count_s, const char *timeout_s)
{
    struct rp_pubkey pub;
    nng_socket sub = NNG_SOCKET_INITIALIZER;
    long want = strtol(count_s, NULL, 10);
    uint64_t deadline = mono_ms() + strtoull(timeout_s, NULL, 10);
    char path[4096];
    long saved = 0;
    int rc = 1;
    int nrc;

    if (rp_pubkey_load(pubfile, &pub) != RAMP_OK) {
        fprintf(stderr, "testpub: cannot load %s\n", pubfile);
        return 1;
    }
    if ((nrc = nng_sub0_open(&sub)) != 0 ||
        (nrc = nng_socket_set(sub, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
        (nrc = nng_socket_set_ms(sub, NNG_OPT_RECVTIMEO, 100)) != 0 ||
        (nrc = nng_socket_set_int(sub, NNG_OPT_RECVBUF, 8192)) != 0 ||
        (nrc = nng_dial(sub, url, NULL, 0)) != 0) {
        fprintf(stderr, "testpub: sub %s: %s\n", url, nng_strerror(nrc));
        goto out;
    }
    /* Heartbeats first: "ready" once one arrived, then the envelopes. */
    for (bool ready = false; saved < want;) {
        struct rp_envelope env;
        void *msg = NULL;
        size_t len = 0;
        bool ok;

        if (mono_ms() >= deadline) {
            if (!ready) {
                fprintf(stderr, "testpub: no heartbeat from %s\n", url);
            }
            break;
        }
        nrc = nng_recv(sub, &msg, &len, NNG_FLAG_ALLOC);
        if (nrc == NNG_ETIMEDOUT) {
            continue;
        }
        if (nrc != 0) {
            fprintf(stderr, "testpub: recv: %s\n", nng_strerror(nrc));
            goto out;
        }
        ok = rp_env_open(msg, len, &pub, 1, &env) == RAMP_OK;
        if (ok && !ready && env.kind == RP_KIND_HEARTBEAT) {
            ready = true;
            snprintf(path, sizeof(path), "%s/ready", dir);
            ok = write_file(path, "", 0) == 0;
            if (!ok) {
                nng_free(msg, len);
                goto out;
            }
        } else if (ok && ready && env.kind != RP_KIND_HEARTBEAT) {
            snprintf(path, sizeof(path), "%s/%llu.env", dir,
                (unsigned long long) env.seq);
            if (write_file(path, msg, len) != 0) {
                nng_free(msg, len);
                goto out;
            }
            printf("%llu %s\n", (unsigned long long) env.seq,
                rp_kind_name(env.kind));
            fflush(stdout);
            saved++;
        }
        nng_free(msg, len);
    }
    rc = saved == want ? 0 : 1;
    if (rc != 0) {
        fprintf(stderr, "testpub: captured %ld of %ld\n", saved, want);
    }

out:
    tool_close_bounded(sub, rc, 5);
    return rc;
}

static int
cmd_forge(const char *skfile, const char *idfrom, const char *kind_s,
    const char *seq_s, const char *flagfile, const char *outfile)
{
    struct rp_keypair kp;
    struct rp_buf payload, env;
    struct rp_flag *f = NULL;
    json_t *j = NULL;
    uint64_t seq = strtoull(seq_s, NULL, 10);
    unsigned kind;
    int rc = 1;

    rp_buf_init(&payload, RP_ENV_MAX);
    rp_buf_init(&env, RP_ENV_MAX);
    if (rp_key_load(skfile, &kp) != RAMP_OK) {
        fprintf(stderr, "testpub: cannot load %s\n", skfile);
        goto out;
    }
    if (strcmp(idfrom, "-") != 0) {
        struct rp_pubkey other;

        if (rp_pubkey_load(idfrom, &other) != RAMP_OK) {
            fprintf(stderr, "testpub: cannot load %s\n", idfrom);
            goto out;
        }
        /* The pinned key's id over a signature it did not make. */
        memcpy(kp.id, other.id, RP_KEYID_LEN);
    }
    if (strcmp(kind_s, "flag_put") == 0) {
        json_error_t jerr;

        kind = RP_KIND_FLAG_PUT;
        j = json_load_file(flagfile, 0, &jerr);
        if (j == NULL ||
            rp_flag_from_json(j, &f, NULL, 0) != RAMP_OK) {
            fprintf(stderr, "testpub: %s: not a flag\n", flagfile);
            goto out;
        }
        f->version = 999;
        f->updated_at_ms = (int64_t) wall_ms();
        if (rp_flag_encode(&payload, f) != RAMP_OK) {
            goto out;
        }
    } else if (strcmp(kind_s, "heartbeat") == 0) {
        struct rp_heartbeat hb;

        kind = RP_KIND_HEARTBEAT;
        memset(&hb, 0, sizeof(hb));
        hb.seq = seq;
        hb.interval_ms = 1000;
        hb.log_first = 1;
        if (rp_heartbeat_encode(&payload, &hb) != RAMP_OK) {
            goto out;
        }
    } else {
        fprintf(stderr, "testpub: unknown kind %s\n", kind_s);
        goto out;
    }
    if (rp_env_seal(&env, &kp, kind, seq, wall_ms(), payload.data,
            payload.len) != RAMP_OK) {
        goto out;
    }
    rc = write_file(outfile, env.data, env.len);

out:
    rp_flag_free(f);
    json_decref(j);
    rp_buf_fini(&payload);
    rp_buf_fini(&env);
    return rc;
}

/* Pipe events of the PUB socket: count subscribers as they arrive. */
static nng_mtx *send_mtx;
static nng_cv *send_cv;
static int send_pipes;

static void
send_pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void) p;
    (void) arg;
    nng_mtx_lock(send_mtx);
    send_pipes += ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
    nng_cv_wake(send_cv);
    nng_mtx_unlock(send_mtx);
}

static int
cmd_send(const char *url, const char *wait_s, const char *gap_s, int nfiles,
    char **files)
{
    nng_socket pub = NNG_SOCKET_INITIALIZER;
    nng_time until = nng_clock() + (nng_time) strtoull(wait_s, NULL, 10);
    unsigned gap = (unsigned) strtoul(gap_s, NULL, 10);
    int rc = 1;
    int nrc;

    if (nng_mtx_alloc(&send_mtx) != 0 || nng_cv_alloc(&send_cv, send_mtx)) {
        return 1;
    }
    if ((nrc = nng_pub0_open(&pub)) != 0 ||
        (nrc = nng_pipe_notify(pub, NNG_PIPE_EV_ADD_POST, send_pipe_cb,
             NULL)) != 0 ||
        (nrc = nng_pipe_notify(pub, NNG_PIPE_EV_REM_POST, send_pipe_cb,
             NULL)) != 0 ||
        (nrc = nng_listen(pub, url, NULL, 0)) != 0) {
        fprintf(stderr, "testpub: pub %s: %s\n", url, nng_strerror(nrc));
        goto out;
    }
    nng_mtx_lock(send_mtx);
    while (send_pipes == 0 && nng_cv_until(send_cv, until) == 0) {
    }
    nrc = send_pipes;
    nng_mtx_unlock(send_mtx);
    if (nrc == 0) {
        fprintf(stderr, "testpub: nobody subscribed to %s\n", url);
        goto out;
    }
    /* An nng 1.5 SUB filters on its own side, so a connected pipe is a
     * subscriber; the pause lets the agent's pipe callbacks settle. */
    sleep_ms(200);
    for (int i = 0; i < nfiles; i++) {
        uint8_t *p = NULL;
        size_t len = 0;

        if (read_file(files[i], &p, &len) != 0) {
            goto out;
        }
        nrc = nng_send(pub, p, len, 0);
        free(p);
        if (nrc != 0) {
            fprintf(stderr, "testpub: send %s: %s\n", files[i],
                nng_strerror(nrc));
            goto out;
        }
        printf("sent %s %zu\n", files[i], len);
        fflush(stdout);
        sleep_ms(gap);
    }
    /* PUB sends are queued: give them time to leave before closing. */
    sleep_ms(300);
    rc = 0;

out:
    tool_close_bounded(pub, rc, 5);
    nng_cv_free(send_cv);
    nng_mtx_free(send_mtx);
    return rc;
}

static void
usage(void)
{
    fputs("usage: ramp_testpub capture URL CONTROLLER.pub OUTDIR COUNT "
          "TIMEOUT_MS\n"
          "       ramp_testpub forge SECRET.key ID_FROM|- flag_put|heartbeat "
          "SEQ FLAG.json OUT\n"
          "       ramp_testpub send URL WAIT_MS GAP_MS FILE...\n",
        stderr);
}

int
main(int argc, char **argv)
{
    if (argc == 7 && strcmp(argv[1], "capture") == 0) {
        return cmd_capture(argv[2], argv[3], argv[4], argv[5], argv[6]);
    }
    if (argc == 8 && strcmp(argv[1], "forge") == 0) {
        return cmd_forge(argv[2], argv[3], argv[4], argv[5], argv[6],
            argv[7]);
    }
    if (argc >= 6 && strcmp(argv[1], "send") == 0) {
        return cmd_send(argv[2], argv[3], argv[4], argc - 5, argv + 5);
    }
    usage();
    return 2;
}
