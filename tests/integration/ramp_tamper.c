/* SPDX-License-Identifier: MIT */
/*
 * A hostile publisher at volume, for tests/integration/tamper10k.sh. Where
 * ramp_testpub sends a handful of hand-made files, this one makes
 * thousands of bad envelopes in one process and publishes them on its own
 * PUB socket, at an agent whose sub-url points at it.
 *
 *   ramp_tamper storm URL CTL.key ROGUE.key SEQ FLAG.json COUNT CHUNK SEED
 *       listen with PUB on URL, wait for a subscriber, then send COUNT
 *       envelopes that the agent (at seq SEQ, pinned to CTL.key) must all
 *       refuse, cycling through the classes below. After every CHUNK it
 *       prints "chunk SENT" and waits for a line on stdin (the script's
 *       barrier: it reads the agent's counters in between, so the agent's
 *       receive queue never overflows and every message is accounted
 *       for). At the end it prints one "class NAME N" line per class.
 *
 *       mutated    the valid FLAG_PUT of FLAG.json at SEQ+1, signed by
 *                  CTL.key, with 1..4 random bytes changed
 *       truncated  the same envelope cut short at a random length
 *       badsig     signed by ROGUE.key under CTL.key's key id
 *       unknown    signed by ROGUE.key under its own id
 *       replay     signed by CTL.key at a seq in 1..SEQ
 *       reorder    signed by CTL.key at SEQ+2.. (ahead: a gap, not applied)
 *       version    a well-formed envelope with version 2, or random bytes
 *       wrongkind  a HEALTH envelope signed by CTL.key at SEQ+1
 *
 *   ramp_tamper seal KEY.key KIND SEQ ARG OUT
 *       write one envelope signed by KEY.key: KIND flag_put (ARG: the
 *       flag's JSON file; version 999) or key_rotate (ARG: the next
 *       public key file)
 *
 *   ramp_tamper health URL AGENT.key ROGUE.key AGENT_ID COUNT SEED
 *       push COUNT bad HEALTH envelopes at the controller's PULL socket
 *       (mutated, truncated, signed by ROGUE.key, replayed report seqs,
 *       the wrong kind); prints "class NAME N" lines. The first message
 *       is one valid report (report seq 1) so that replays have
 *       something to replay.
 *
 * Not here: deciding what the receiver must do (the script reads its
 * counters) or anything it would do on its own.
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
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/supplemental/util/platform.h>

#include "buf.h"
#include "codec.h"
#include "envelope.h"
#include "json.h"
#include "model.h"
#include "tool_close.h"

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

/* xorshift64*: reproducible from SEED, so a failure can be replayed. */
static uint64_t rng_state = 88172645463325252ull;

static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
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
    return rc;
}

/* The payload of a FLAG_PUT: the flag of a JSON file, version 999. */
static int
flag_payload(const char *path, struct rp_buf *out)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    struct rp_flag *f = NULL;
    int rc = 1;

    if (j == NULL || rp_flag_from_json(j, &f, NULL, 0) != RAMP_OK) {
        fprintf(stderr, "tamper: %s: not a flag\n", path);
        goto out;
    }
    f->version = 999;
    f->updated_at_ms = (int64_t) wall_ms();
    rc = rp_flag_encode(out, f) == RAMP_OK ? 0 : 1;

out:
    rp_flag_free(f);
    json_decref(j);
    return rc;
}

static int
seal(struct rp_buf *out, const struct rp_keypair *kp, unsigned kind,
    uint64_t seq, const struct rp_buf *payload)
{
    rp_buf_reset(out);
    return rp_env_seal(out, kp, kind, seq, wall_ms(), payload->data,
               payload->len) == RAMP_OK
        ? 0
        : 1;
}

/*
 * An envelope of version 2 with the right shape: the header bytes of a
 * version-1 envelope with the version element (the byte after the array
 * header, a positive fixint) changed.
 */
static void
set_version(struct rp_buf *env, uint8_t v)
{
    if (env->len > 1 && env->data[1] == RP_ENV_VERSION) {
        env->data[1] = v;
    }
}

/* Pipe events of the sending socket: count peers as they arrive. */
static nng_mtx *pipe_mtx;
static nng_cv *pipe_cv;
static int pipes;

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void) p;
    (void) arg;
    nng_mtx_lock(pipe_mtx);
    pipes += ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
    nng_cv_wake(pipe_cv);
    nng_mtx_unlock(pipe_mtx);
}

static int
wait_peer(nng_socket s, unsigned ms)
{
    nng_time until = nng_clock() + ms;
    int n;

    if (nng_pipe_notify(s, NNG_PIPE_EV_ADD_POST, pipe_cb, NULL) != 0 ||
        nng_pipe_notify(s, NNG_PIPE_EV_REM_POST, pipe_cb, NULL) != 0) {
        return 0;
    }
    nng_mtx_lock(pipe_mtx);
    while (pipes == 0 && nng_cv_until(pipe_cv, until) == 0) {
    }
    n = pipes;
    nng_mtx_unlock(pipe_mtx);
    return n;
}

enum cls {
    C_MUTATED,
    C_TRUNCATED,
    C_BADSIG,
    C_UNKNOWN,
    C_REPLAY,
    C_REORDER,
    C_VERSION,
    C_WRONGKIND,
    C_COUNT
};
static const char *const cls_names[C_COUNT] = {"mutated", "truncated",
    "badsig", "unknown", "replay", "reorder", "version", "wrongkind"};

static int
cmd_storm(char **argv)
{
    const char *url = argv[0];
    struct rp_keypair ctl, rogue, rogue_pinned;
    uint64_t seq = strtoull(argv[3], NULL, 10);
    long count = strtol(argv[5], NULL, 10);
    long chunk = strtol(argv[6], NULL, 10);
    long sent[C_COUNT] = {0};
    struct rp_buf payload, base, msg;
    nng_socket pub = NNG_SOCKET_INITIALIZER;
    int rc = 1;
    int nrc;

    rng_state ^= strtoull(argv[7], NULL, 10) * 0x9E3779B97F4A7C15ull;
    rp_buf_init(&payload, RP_ENV_MAX);
    rp_buf_init(&base, RP_ENV_MAX);
    rp_buf_init(&msg, RP_ENV_MAX);
    if (rp_key_load(argv[1], &ctl) != RAMP_OK ||
        rp_key_load(argv[2], &rogue) != RAMP_OK) {
        fprintf(stderr, "tamper: cannot load the keys\n");
        goto out;
    }
    rogue_pinned = rogue;
    memcpy(rogue_pinned.id, ctl.id, RP_KEYID_LEN);
    if (flag_payload(argv[4], &payload) != 0 ||
        seal(&base, &ctl, RP_KIND_FLAG_PUT, seq + 1, &payload) != 0) {
        goto out;
    }
    if (count <= 0 || chunk <= 0 || chunk > 8000) {
        fprintf(stderr, "tamper: COUNT > 0 and 0 < CHUNK <= 8000\n");
        goto out;
    }
    if (nng_mtx_alloc(&pipe_mtx) != 0 ||
        nng_cv_alloc(&pipe_cv, pipe_mtx) != 0) {
        goto out;
    }
    /* SENDBUF above CHUNK: PUB drops the oldest when its queue is full,
     * and the barrier keeps a chunk the most that is ever queued. */
    if ((nrc = nng_pub0_open(&pub)) != 0 ||
        (nrc = nng_socket_set_int(pub, NNG_OPT_SENDBUF, 8192)) != 0 ||
        (nrc = nng_listen(pub, url, NULL, 0)) != 0) {
        fprintf(stderr, "tamper: pub %s: %s\n", url, nng_strerror(nrc));
        goto out;
    }
    if (wait_peer(pub, 15000) == 0) {
        fprintf(stderr, "tamper: nobody subscribed to %s\n", url);
        goto out;
    }
    sleep_ms(200); /* the agent's pipe callbacks settle (ramp_testpub) */
    for (long i = 0; i < count; i++) {
        enum cls c = (enum cls) (i % C_COUNT);

        switch (c) {
        case C_MUTATED: {
            unsigned n = 1 + (unsigned) (rng() % 4);

            rp_buf_reset(&msg);
            if (rp_buf_append(&msg, base.data, base.len) != RAMP_OK) {
                goto out;
            }
            for (unsigned k = 0; k < n; k++) {
                size_t at = (size_t) (rng() % msg.len);
                uint8_t x = (uint8_t) (1 + rng() % 255);

                msg.data[at] ^= x;
            }
            if (memcmp(msg.data, base.data, base.len) == 0) {
                msg.data[msg.len - 1] ^= 0x01; /* two flips undid each other */
            }
            break;
        }
        case C_TRUNCATED:
            rp_buf_reset(&msg);
            if (rp_buf_append(&msg, base.data,
                    (size_t) (rng() % base.len)) != RAMP_OK) {
                goto out;
            }
            break;
        case C_BADSIG:
            if (seal(&msg, &rogue_pinned, RP_KIND_FLAG_PUT,
                    seq + 1 + rng() % 3, &payload) != 0) {
                goto out;
            }
            break;
        case C_UNKNOWN:
            if (seal(&msg, &rogue, RP_KIND_FLAG_PUT, seq + 1, &payload) !=
                0) {
                goto out;
            }
            break;
        case C_REPLAY:
            if (seq == 0) {
                fprintf(stderr, "tamper: replays need SEQ >= 1\n");
                goto out;
            }
            if (seal(&msg, &ctl, RP_KIND_FLAG_PUT, 1 + rng() % seq,
                    &payload) != 0) {
                goto out;
            }
            break;
        case C_REORDER:
            if (seal(&msg, &ctl, RP_KIND_FLAG_PUT, seq + 2 + rng() % 50,
                    &payload) != 0) {
                goto out;
            }
            break;
        case C_VERSION:
            if (rng() % 2 == 0) {
                if (seal(&msg, &ctl, RP_KIND_FLAG_PUT, seq + 1, &payload) !=
                    0) {
                    goto out;
                }
                set_version(&msg, 2);
            } else {
                size_t n = 1 + (size_t) (rng() % 600);

                rp_buf_reset(&msg);
                for (size_t k = 0; k < n; k++) {
                    uint8_t b = (uint8_t) rng();

                    /* Never a fixarray of 7 starting with version 1: that
                     * is a well-formed envelope, not garbage. */
                    if (k == 0 && b == 0x97) {
                        b = 0x96;
                    }
                    if (rp_buf_append(&msg, &b, 1) != RAMP_OK) {
                        goto out;
                    }
                }
            }
            break;
        case C_WRONGKIND:
            if (seal(&msg, &ctl, RP_KIND_HEALTH, seq + 1, &payload) != 0) {
                goto out;
            }
            break;
        default:
            goto out;
        }
        nrc = nng_send(pub, msg.data, msg.len, 0);
        if (nrc != 0) {
            fprintf(stderr, "tamper: send: %s\n", nng_strerror(nrc));
            goto out;
        }
        sent[c]++;
        if ((i + 1) % chunk == 0 || i + 1 == count) {
            char line[64];

            printf("chunk %ld\n", i + 1);
            fflush(stdout);
            if (fgets(line, sizeof(line), stdin) == NULL) {
                sleep_ms(100); /* no barrier given: pace by time */
            }
        }
    }
    for (int c = 0; c < C_COUNT; c++) {
        printf("class %s %ld\n", cls_names[c], sent[c]);
    }
    fflush(stdout);
    sleep_ms(300); /* queued sends leave before the close */
    rc = 0;

out:
    tool_close_bounded(pub, rc, 5);
    if (pipe_cv != NULL) {
        nng_cv_free(pipe_cv);
    }
    if (pipe_mtx != NULL) {
        nng_mtx_free(pipe_mtx);
    }
    rp_buf_fini(&payload);
    rp_buf_fini(&base);
    rp_buf_fini(&msg);
    return rc;
}

static int
cmd_seal(char **argv)
{
    struct rp_keypair kp;
    struct rp_buf payload, env;
    uint64_t seq = strtoull(argv[2], NULL, 10);
    unsigned kind;
    int rc = 1;

    rp_buf_init(&payload, RP_ENV_MAX);
    rp_buf_init(&env, RP_ENV_MAX);
    if (rp_key_load(argv[0], &kp) != RAMP_OK) {
        fprintf(stderr, "tamper: cannot load %s\n", argv[0]);
        goto out;
    }
    if (strcmp(argv[1], "flag_put") == 0) {
        kind = RP_KIND_FLAG_PUT;
        if (flag_payload(argv[3], &payload) != 0) {
            goto out;
        }
    } else if (strcmp(argv[1], "key_rotate") == 0) {
        struct rp_pubkey next;
        struct rp_key_rotate kr;

        kind = RP_KIND_KEY_ROTATE;
        if (rp_pubkey_load(argv[3], &next) != RAMP_OK) {
            fprintf(stderr, "tamper: cannot load %s\n", argv[3]);
            goto out;
        }
        memcpy(kr.new_pk, next.pk, sizeof(kr.new_pk));
        kr.not_before_ms = (int64_t) wall_ms();
        if (rp_key_rotate_encode(&payload, &kr) != RAMP_OK) {
            goto out;
        }
    } else {
        fprintf(stderr, "tamper: unknown kind %s\n", argv[1]);
        goto out;
    }
    if (seal(&env, &kp, kind, seq, &payload) != 0) {
        goto out;
    }
    rc = write_file(argv[4], env.data, env.len);

out:
    rp_buf_fini(&payload);
    rp_buf_fini(&env);
    return rc;
}

enum hcls { H_MUTATED, H_TRUNCATED, H_ROGUE, H_REPLAY, H_KIND, H_COUNT };
static const char *const hcls_names[H_COUNT] = {"mutated", "truncated",
    "rogue", "replay", "wrongkind"};

/* One HEALTH payload of agent id with report seq rs and one entry. */
static int
health_payload(const char *id, uint64_t rs, struct rp_buf *out)
{
    struct rp_health h;
    int rc;

    memset(&h, 0, sizeof(h));
    h.agent_id = (char *) id;
    memset(h.boot_id, 0x5a, sizeof(h.boot_id));
    h.report_seq = rs;
    rp_buf_reset(out);
    rc = rp_health_encode(out, &h) == RAMP_OK ? 0 : 1;
    if (rc != 0) {
        fprintf(stderr, "tamper: cannot encode a health report\n");
    }
    return rc;
}

static int
cmd_health(char **argv)
{
    const char *url = argv[0];
    const char *id = argv[3];
    struct rp_keypair agent, rogue;
    long count = strtol(argv[4], NULL, 10);
    long sent[H_COUNT] = {0};
    struct rp_buf payload, first, base, msg;
    nng_socket push = NNG_SOCKET_INITIALIZER;
    int rc = 1;
    int nrc;

    rng_state ^= strtoull(argv[5], NULL, 10) * 0x9E3779B97F4A7C15ull;
    rp_buf_init(&payload, RP_ENV_MAX);
    rp_buf_init(&first, RP_ENV_MAX);
    rp_buf_init(&base, RP_ENV_MAX);
    rp_buf_init(&msg, RP_ENV_MAX);
    if (rp_key_load(argv[1], &agent) != RAMP_OK ||
        rp_key_load(argv[2], &rogue) != RAMP_OK) {
        fprintf(stderr, "tamper: cannot load the keys\n");
        goto out;
    }
    /* PUSH blocks when the peer's queue is full instead of dropping, so
     * every message sent is received. */
    if ((nrc = nng_push0_open(&push)) != 0 ||
        (nrc = nng_socket_set_ms(push, NNG_OPT_SENDTIMEO, 10000)) != 0 ||
        (nrc = nng_dial(push, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        fprintf(stderr, "tamper: push %s: %s\n", url, nng_strerror(nrc));
        goto out;
    }
    /* One valid report (seq 1): what the replays repeat. */
    if (health_payload(id, 1, &payload) != 0 ||
        seal(&first, &agent, RP_KIND_HEALTH, 1, &payload) != 0) {
        goto out;
    }
    nrc = nng_send(push, first.data, first.len, 0);
    if (nrc != 0) {
        fprintf(stderr, "tamper: send: %s\n", nng_strerror(nrc));
        goto out;
    }
    printf("valid 1\n");
    if (health_payload(id, 2, &payload) != 0 ||
        seal(&base, &agent, RP_KIND_HEALTH, 2, &payload) != 0) {
        goto out;
    }
    for (long i = 0; i < count; i++) {
        enum hcls c = (enum hcls) (i % H_COUNT);

        switch (c) {
        case H_MUTATED: {
            unsigned n = 1 + (unsigned) (rng() % 4);

            rp_buf_reset(&msg);
            if (rp_buf_append(&msg, base.data, base.len) != RAMP_OK) {
                goto out;
            }
            for (unsigned k = 0; k < n; k++) {
                msg.data[rng() % msg.len] ^= (uint8_t) (1 + rng() % 255);
            }
            if (memcmp(msg.data, base.data, base.len) == 0) {
                msg.data[msg.len - 1] ^= 0x01;
            }
            /* Any other bytes must be refused: even a flip that only
             * re-encodes a field with the same value (ts as int64 0xd3
             * instead of uint64 0xcf) is not the canonical encoding
             * (docs/protocol.md), so nothing here is re-flipped. */
            break;
        }
        case H_TRUNCATED:
            rp_buf_reset(&msg);
            if (rp_buf_append(&msg, base.data,
                    (size_t) (rng() % base.len)) != RAMP_OK) {
                goto out;
            }
            break;
        case H_ROGUE: {
            struct rp_keypair k = rogue;

            if (rng() % 2 == 0) {
                memcpy(k.id, agent.id, RP_KEYID_LEN);
            }
            if (seal(&msg, &k, RP_KIND_HEALTH, 2, &payload) != 0) {
                goto out;
            }
            break;
        }
        case H_REPLAY:
            rp_buf_reset(&msg);
            if (rp_buf_append(&msg, first.data, first.len) != RAMP_OK) {
                goto out;
            }
            break;
        case H_KIND:
            if (seal(&msg, &agent, RP_KIND_FLAG_PUT, 2, &payload) != 0) {
                goto out;
            }
            break;
        default:
            goto out;
        }
        nrc = nng_send(push, msg.data, msg.len, 0);
        if (nrc != 0) {
            fprintf(stderr, "tamper: send: %s\n", nng_strerror(nrc));
            goto out;
        }
        sent[c]++;
    }
    for (int c = 0; c < H_COUNT; c++) {
        printf("class %s %ld\n", hcls_names[c], sent[c]);
    }
    fflush(stdout);
    sleep_ms(300);
    rc = 0;

out:
    tool_close_bounded(push, rc, 5);
    rp_buf_fini(&payload);
    rp_buf_fini(&first);
    rp_buf_fini(&base);
    rp_buf_fini(&msg);
    return rc;
}

static void
usage(void)
{
    fputs("usage: ramp_tamper storm URL CTL.key ROGUE.key SEQ FLAG.json "
          "COUNT CHUNK SEED\n"
          "       ramp_tamper seal KEY.key flag_put|key_rotate SEQ "
          "FLAG.json|NEXT.pub OUT\n"
          "       ramp_tamper health URL AGENT.key ROGUE.key AGENT_ID COUNT "
          "SEED\n",
        stderr);
}

int
main(int argc, char **argv)
{
    if (argc == 10 && strcmp(argv[1], "storm") == 0) {
        return cmd_storm(argv + 2);
    }
    if (argc == 7 && strcmp(argv[1], "seal") == 0) {
        return cmd_seal(argv + 2);
    }
    if (argc == 8 && strcmp(argv[1], "health") == 0) {
        return cmd_health(argv + 2);
    }
    usage();
    return 2;
}
