/* SPDX-License-Identifier: MIT */
/*
 * The floor for bench_propagation.sh: how long a bare nng PUB takes to
 * reach N bare SUB sockets, each in its own process as every agent is,
 * over TCP on 127.0.0.1. No signature, no LMDB, no logging: what is left
 * is nng and the scheduler.
 *
 *   bench_propagation_nng -n N [-r ROUNDS] -p PORT
 *
 * The N subscriber processes are forked before anything touches nng (nng
 * does not survive fork() without exec()). Each round the publisher
 * sends one 200-byte message stamped with CLOCK_MONOTONIC (one clock for
 * every process of the machine); each subscriber reports its receive
 * delay through a pipe. Prints per-subscriber p50/p99/max and the p50/p99
 * of each round's slowest subscriber, in ms. Prints figures; never a test.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>

#define MSG_LEN 200          /* about a small signed FLAG_PUT envelope */
#define ROUND_GAP_MS 100     /* rounds never overlap */
#define STOP_ROUND UINT32_MAX

/* One receive, as a subscriber reports it; 16 bytes < PIPE_BUF, so
 * concurrent writers never interleave. */
struct sample {
    uint32_t sub;
    uint32_t round;
    uint64_t delay_ns;
};

static uint64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static void
sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int
subscriber(uint32_t idx, const char *url, int wfd)
{
    nng_socket s;
    int rc;

    if ((rc = nng_sub0_open(&s)) != 0 ||
        (rc = nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
        (rc = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 20)) != 0 ||
        (rc = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 200)) != 0 ||
        (rc = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
        fprintf(stderr, "sub %u: %s\n", idx, nng_strerror(rc));
        return 1;
    }
    for (;;) {
        uint8_t *msg = NULL;
        size_t len = 0;
        struct sample smp;
        uint64_t now, sent;

        rc = nng_recv(s, &msg, &len, NNG_FLAG_ALLOC);
        now = mono_ns();
        if (rc != 0) {
            fprintf(stderr, "sub %u: recv: %s\n", idx, nng_strerror(rc));
            return 1;
        }
        if (len != MSG_LEN) {
            nng_free(msg, len);
            continue;
        }
        memcpy(&smp.round, msg, sizeof(smp.round));
        memcpy(&sent, msg + 8, sizeof(sent));
        nng_free(msg, len);
        if (smp.round == STOP_ROUND) {
            break;
        }
        smp.sub = idx;
        smp.delay_ns = now - sent;
        if (write(wfd, &smp, sizeof(smp)) != (ssize_t) sizeof(smp)) {
            return 1;
        }
    }
    nng_close(s);
    return 0;
}

static nng_mtx *pipes_mtx;
static int pipes;

static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
    (void) p;
    (void) arg;
    nng_mtx_lock(pipes_mtx);
    pipes += ev == NNG_PIPE_EV_ADD_POST ? 1 : -1;
    nng_mtx_unlock(pipes_mtx);
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

    return x < y ? -1 : x > y;
}

static double
pct_ms(const uint64_t *v, size_t n, double p)
{
    size_t i = (size_t) (p * (double) (n - 1) + 0.5);

    return (double) v[i] / 1e6;
}

/* Read every sample available within ms milliseconds. */
static void
drain(int rfd, unsigned ms, struct sample *all, size_t *nall, size_t cap)
{
    uint64_t until = mono_ns() + (uint64_t) ms * 1000000u;

    for (;;) {
        struct pollfd pfd = {rfd, POLLIN, 0};
        uint64_t now = mono_ns();
        int left = now >= until ? 0 : (int) ((until - now) / 1000000u);

        if (poll(&pfd, 1, left) <= 0) {
            return;
        }
        if (*nall < cap) {
            ssize_t n = read(rfd, &all[*nall], sizeof(all[0]));

            if (n != (ssize_t) sizeof(all[0])) {
                return;
            }
            (*nall)++;
        } else {
            struct sample junk;

            if (read(rfd, &junk, sizeof(junk)) <= 0) {
                return;
            }
        }
    }
}

int
main(int argc, char **argv)
{
    unsigned n = 0, rounds = 20, port = 0;
    char url[64];
    int fds[2];
    pid_t *kids;
    nng_socket pub;
    struct sample *all;
    size_t nall = 0, cap;
    uint64_t *delays, *worst;
    int opt, rc;

    while ((opt = getopt(argc, argv, "n:r:p:")) != -1) {
        switch (opt) {
        case 'n':
            n = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'r':
            rounds = (unsigned) strtoul(optarg, NULL, 10);
            break;
        case 'p':
            port = (unsigned) strtoul(optarg, NULL, 10);
            break;
        default:
            goto usage;
        }
    }
    if (n == 0 || rounds == 0 || port == 0 || port > 65535) {
        goto usage;
    }
    snprintf(url, sizeof(url), "tcp://127.0.0.1:%u", port);
    if (pipe(fds) != 0) {
        perror("pipe");
        return 1;
    }
    kids = calloc(n, sizeof(*kids));
    cap = (size_t) n * rounds;
    all = calloc(cap, sizeof(*all));
    delays = calloc(cap, sizeof(*delays));
    worst = calloc(rounds, sizeof(*worst));
    if (kids == NULL || all == NULL || delays == NULL || worst == NULL) {
        return 1;
    }
    for (unsigned i = 0; i < n; i++) {
        kids[i] = fork();
        if (kids[i] < 0) {
            perror("fork");
            n = i;
            break;
        }
        if (kids[i] == 0) {
            close(fds[0]);
            _exit(subscriber(i, url, fds[1]));
        }
    }
    close(fds[1]);

    if (nng_mtx_alloc(&pipes_mtx) != 0 || (rc = nng_pub0_open(&pub)) != 0) {
        return 1;
    }
    (void) nng_socket_set_int(pub, NNG_OPT_SENDBUF, 8192);
    nng_pipe_notify(pub, NNG_PIPE_EV_ADD_POST, pipe_cb, NULL);
    nng_pipe_notify(pub, NNG_PIPE_EV_REM_POST, pipe_cb, NULL);
    if ((rc = nng_listen(pub, url, NULL, 0)) != 0) {
        fprintf(stderr, "listen %s: %s\n", url, nng_strerror(rc));
        return 1;
    }
    for (int waited = 0;; waited += 50) {
        int have;

        nng_mtx_lock(pipes_mtx);
        have = pipes;
        nng_mtx_unlock(pipes_mtx);
        if (have >= (int) n) {
            break;
        }
        if (waited > 120000) {
            fprintf(stderr, "only %d of %u subscribers connected\n", have, n);
            return 1;
        }
        sleep_ms(50);
    }
    sleep_ms(500);

    for (unsigned r = 0; r <= rounds; r++) {
        uint8_t msg[MSG_LEN];
        uint32_t round = r == rounds ? STOP_ROUND : r;
        uint64_t now;

        memset(msg, 0xab, sizeof(msg));
        memcpy(msg, &round, sizeof(round));
        now = mono_ns();
        memcpy(msg + 8, &now, sizeof(now));
        if ((rc = nng_send(pub, msg, sizeof(msg), 0)) != 0) {
            fprintf(stderr, "send: %s\n", nng_strerror(rc));
            return 1;
        }
        drain(fds[0], ROUND_GAP_MS, all, &nall, cap);
    }
    drain(fds[0], 1000, all, &nall, cap);
    sleep_ms(200);
    nng_close(pub);
    for (unsigned i = 0; i < n; i++) {
        int st;

        kill(kids[i], SIGTERM);
        waitpid(kids[i], &st, 0);
    }

    for (size_t i = 0; i < nall; i++) {
        delays[i] = all[i].delay_ns;
        if (all[i].round < rounds && all[i].delay_ns > worst[all[i].round]) {
            worst[all[i].round] = all[i].delay_ns;
        }
    }
    if (nall == 0) {
        fprintf(stderr, "no samples\n");
        return 1;
    }
    qsort(delays, nall, sizeof(*delays), cmp_u64);
    qsort(worst, rounds, sizeof(*worst), cmp_u64);
    printf("nng_floor n=%u rounds=%u samples=%zu lost=%zu "
           "p50_ms=%.3f p99_ms=%.3f max_ms=%.3f "
           "last_p50_ms=%.3f last_p99_ms=%.3f\n",
        n, rounds, nall, cap - nall, pct_ms(delays, nall, 0.50),
        pct_ms(delays, nall, 0.99), pct_ms(delays, nall, 1.0),
        pct_ms(worst, rounds, 0.50), pct_ms(worst, rounds, 0.99));
    free(kids);
    free(all);
    free(delays);
    free(worst);
    return 0;

usage:
    fprintf(stderr, "usage: bench_propagation_nng -n N [-r ROUNDS] -p PORT\n");
    return 2;
}
