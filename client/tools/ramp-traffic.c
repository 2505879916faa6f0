/* SPDX-License-Identifier: MIT */
/*
 * ramp-traffic: synthetic application traffic through libramp, for
 * demos, integration tests and trying out a rollout policy by hand.
 *
 * N threads evaluate a list of flags for random targeting keys (a
 * keyspace of K keys) at a total rate, and report an outcome for each
 * evaluation with ramp_observe(): success or error, and a latency, both
 * drawn from the profile of the variant that was served. Nothing sleeps
 * for the drawn latency; it is only reported. A line per second says
 * what was served.
 *
 *   ramp-traffic --agent ipc:///run/ramp/agent.sock --flag checkout \
 *       --profile redesign:err=0.08,p50=120ms,p95=400ms \
 *       --profile classic:err=0.005,p50=80ms,p95=200ms \
 *       --rate 400 --keys 100000 --duration 60s
 *
 * Not here: any judgement of the rollout (the controller's), or any
 * libramp internals: this is an ordinary application of the public API
 * (include/ramp/ramp.h), and uses nothing else.
 *
 * Exit codes: 0 done (duration reached, or SIGINT/SIGTERM), 1 the agent
 * cannot be opened, 2 usage error (nothing was evaluated).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ramp/ramp.h"

#define TR_EXIT_OK 0
#define TR_EXIT_ERROR 1
#define TR_EXIT_USAGE 2

#define TR_FLAGS_MAX 16    /* --flag values */
#define TR_PROFILES_MAX 64 /* --profile values */
#define TR_THREADS_MAX 64
#define TR_RATE_MAX 1000000 /* evaluations per second, all threads */
#define TR_KEYS_MAX 100000000
#define TR_SLOTS_MAX 256         /* (flag, variant) pairs counted */
#define TR_FLAG_KEY_MAX 128      /* DESIGN §3: [a-z0-9][a-z0-9._-]{0,127} */
#define TR_VALUE_MAX (65536 + 1) /* a json variant's text, and its NUL */
#define TR_LATENCY_MAX_US (600ULL * 1000000) /* a drawn latency's ceiling */
#define TR_Z95 1.6448536269514722 /* standard normal 95th percentile */

/* Outcome profile of one variant: error probability and a log-normal
 * latency given by its median and 95th percentile. */
struct tr_profile {
    char flag[TR_FLAG_KEY_MAX + 1];     /* "" for every flag */
    char variant[RAMP_VARIANT_MAX + 1]; /* "*" for every variant */
    double err;                         /* 0..1 */
    double p50_us, p95_us;              /* p95 >= p50 > 0 */
};

/* Served-variant counters, one per (flag, variant) seen. */
struct tr_slot {
    int flag; /* index into tr_opts.flags */
    char variant[RAMP_VARIANT_MAX + 1];
    uint64_t evals, errors;           /* cumulative */
    uint64_t last_evals, last_errors; /* at the previous summary */
};

struct tr_opts {
    const char *agent;
    const char *flags[TR_FLAGS_MAX];
    int nflags;
    struct tr_profile profiles[TR_PROFILES_MAX];
    int nprofiles;
    double rate;           /* evaluations per second, all threads */
    uint64_t keys;         /* keyspace size */
    const char *prefix;    /* targeting key = prefix + number */
    const char *unit_attr; /* also set this attribute to the key, or NULL */
    int threads;
    uint64_t duration_us; /* 0: until a signal */
    uint64_t seed;
    bool quiet;
};

static struct tr_opts opts;
static volatile sig_atomic_t tr_stop;
static atomic_int flag_type[TR_FLAGS_MAX]; /* ramp_type, or -1 unknown */
static atomic_uint_fast64_t tr_failed;     /* evaluations with no variant */
static atomic_int tr_failed_shown;

static pthread_mutex_t slot_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct tr_slot slots[TR_SLOTS_MAX];
static int nslots;
static uint64_t slots_overflow; /* evaluations not counted: table full */

static const struct tr_profile tr_default_profile = {
    "", "*", 0.01, 50000.0, 120000.0};

static void
usage(FILE *f)
{
    fputs(
        "Usage: ramp-traffic --flag FLAG [--flag FLAG ...] [options]\n"
        "\n"
        "Evaluate flags through libramp for random targeting keys at a\n"
        "total rate, and report an outcome for each evaluation with\n"
        "ramp_observe(): an error with the served variant's error\n"
        "probability, and a latency drawn from its log-normal profile.\n"
        "Prints a line per second: evaluations per variant (with errors\n"
        "reported), failed evaluations, outcomes libramp dropped.\n"
        "\n"
        "Options:\n"
        "  --agent TARGET        ipc://PATH, tcp://HOST:PORT or direct:DIR\n"
        "                        (default $RAMP_AGENT, else\n"
        "                        ipc:///run/ramp/agent.sock)\n"
        "  --flag FLAG           a flag to evaluate (repeat, up to 16)\n"
        "  --profile SPEC        [FLAG/]VARIANT:err=P,p50=D,p95=D; VARIANT\n"
        "                        '*' matches any; P is 0..1 or N%; D is a\n"
        "                        duration (120ms, 1.5s, 800us; bare: ms)\n"
        "                        (default err=0.01,p50=50ms,p95=120ms)\n"
        "  --rate N              evaluations per second in all (default 100)\n"
        "  --keys N              targeting keys to pick from (default 10000)\n"
        "  --key-prefix S        targeting key = S + number (default user-)\n"
        "  --unit-attr NAME      also set attribute NAME to the key\n"
        "  --threads N           (default 2)\n"
        "  --duration D          stop after D (60s, 5m; bare: s); default\n"
        "                        until SIGINT or SIGTERM\n"
        "  --seed N              random seed (default: from the clock)\n"
        "  --quiet               print only the final totals\n"
        "  --help\n"
        "\n"
        "Exit codes: 0 done, 1 cannot open the agent, 2 usage error.\n",
        f);
}

static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Print "error: ..." and return TR_EXIT_USAGE. */
static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("ramp-traffic: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (ramp-traffic --help)\n", stderr);
    return TR_EXIT_USAGE;
}

/* A non-negative decimal with an optional unit (us, ms, s, m, h), in
 * microseconds; bare numbers are in bare_us. false on anything else. */
static bool
parse_duration(const char *s, double bare_us, uint64_t *out)
{
    static const struct {
        const char *name;
        double us;
    } units[] = {{"us", 1.0}, {"ms", 1e3}, {"s", 1e6}, {"m", 60e6},
        {"h", 3600e6}, {"", 0}};
    char *end;
    double v, mul = bare_us;

    if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || !isfinite(v) || v < 0) {
        return false;
    }
    if (*end != '\0') {
        mul = 0;
        for (int i = 0; units[i].name[0] != '\0'; i++) {
            if (strcmp(end, units[i].name) == 0) {
                mul = units[i].us;
            }
        }
        if (mul == 0) {
            return false;
        }
    }
    v *= mul;
    if (v > 1e15) { /* about 31 years */
        return false;
    }
    *out = (uint64_t) llround(v);
    return true;
}

static bool
parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* 0..1, or N% */
static bool
parse_prob(const char *s, size_t len, double *out)
{
    char buf[32];
    char *end;
    double v;

    if (len == 0 || len >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] < '0' || buf[0] > '9') {
        return false;
    }
    v = strtod(buf, &end);
    if (strcmp(end, "%") == 0) {
        v /= 100;
    } else if (*end != '\0') {
        return false;
    }
    if (!isfinite(v) || v < 0 || v > 1) {
        return false;
    }
    *out = v;
    return true;
}

static bool
flag_key_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > TR_FLAG_KEY_MAX ||
        !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9'))) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        char ch = s[i];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                ch == '.' || ch == '_' || ch == '-')) {
            return false;
        }
    }
    return true;
}

/* "[FLAG/]VARIANT:err=P,p50=D,p95=D" */
static int
parse_profile(const char *spec, struct tr_profile *p)
{
    const char *colon = strchr(spec, ':');
    const char *slash;
    const char *name;
    const char *f;
    bool have50 = false, have95 = false;
    size_t n;

    *p = tr_default_profile;
    if (colon == NULL || colon == spec) {
        return usage_error("--profile '%.200s': expected "
                           "[FLAG/]VARIANT:err=P,p50=D,p95=D",
            spec);
    }
    slash = memchr(spec, '/', (size_t) (colon - spec));
    name = spec;
    if (slash != NULL) {
        n = (size_t) (slash - spec);
        if (n == 0 || n > TR_FLAG_KEY_MAX) {
            return usage_error("--profile '%.200s': bad flag key", spec);
        }
        memcpy(p->flag, spec, n);
        p->flag[n] = '\0';
        if (!flag_key_ok(p->flag)) {
            return usage_error("--profile '%.200s': bad flag key", spec);
        }
        name = slash + 1;
    }
    n = (size_t) (colon - name);
    if (n == 0 || n > RAMP_VARIANT_MAX) {
        return usage_error(
            "--profile '%.200s': variant name is 1..64 bytes", spec);
    }
    memcpy(p->variant, name, n);
    p->variant[n] = '\0';
    for (f = colon + 1; *f != '\0';) {
        const char *comma = strchr(f, ',');
        const char *eq;
        size_t flen = comma != NULL ? (size_t) (comma - f) : strlen(f);
        char val[32];
        uint64_t us;

        eq = memchr(f, '=', flen);
        if (eq == NULL) {
            return usage_error("--profile '%.200s': expected err=, p50= or "
                               "p95= fields",
                spec);
        }
        n = flen - (size_t) (eq + 1 - f);
        if (n == 0 || n >= sizeof(val)) {
            return usage_error("--profile '%.200s': empty or long value", spec);
        }
        memcpy(val, eq + 1, n);
        val[n] = '\0';
        if (eq - f == 3 && strncmp(f, "err", 3) == 0) {
            if (!parse_prob(val, n, &p->err)) {
                return usage_error("--profile '%.200s': err is 0..1 or "
                                   "0..100%%",
                    spec);
            }
        } else if (eq - f == 3 &&
                   (strncmp(f, "p50", 3) == 0 || strncmp(f, "p95", 3) == 0)) {
            if (!parse_duration(val, 1e3, &us) || us == 0 ||
                us > TR_LATENCY_MAX_US) {
                return usage_error("--profile '%.200s': a latency is a "
                                   "duration above 0 and at most 600s "
                                   "(120ms, 1.5s)",
                    spec);
            }
            if (f[2] == '0') { /* p50 */
                p->p50_us = (double) us;
                have50 = true;
            } else {
                p->p95_us = (double) us;
                have95 = true;
            }
        } else {
            return usage_error("--profile '%.200s': unknown field (err, "
                               "p50, p95)",
                spec);
        }
        if (comma == NULL) {
            break;
        }
        f = comma + 1;
        if (*f == '\0') {
            return usage_error("--profile '%.200s': trailing comma", spec);
        }
    }
    /* One percentile given: keep the default spread (p95/p50 = 2.4). */
    if (have50 && !have95) {
        p->p95_us = p->p50_us * 2.4;
    } else if (have95 && !have50) {
        p->p50_us = p->p95_us / 2.4;
    }
    if (p->p95_us < p->p50_us) {
        return usage_error("--profile '%.200s': p95 is below p50", spec);
    }
    return TR_EXIT_OK;
}

/* Parse argv into opts. TR_EXIT_OK, TR_EXIT_USAGE, or -1 for --help. */
static int
parse_args(int argc, char **argv)
{
    uint64_t v;
    const char *env = getenv("RAMP_AGENT");

    memset(&opts, 0, sizeof(opts));
    opts.agent =
        env != NULL && env[0] != '\0' ? env : "ipc:///run/ramp/agent.sock";
    opts.rate = 100;
    opts.keys = 10000;
    opts.prefix = "user-";
    opts.threads = 2;
    opts.seed = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *word = argv[i]; /* for messages: i moves on */
        const char *val = NULL;
        char name[32];
        const char *eq;
        size_t n;

        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            return -1;
        }
        if (strncmp(a, "--", 2) != 0) {
            return usage_error("unexpected argument '%.200s'", a);
        }
        a += 2;
        eq = strchr(a, '=');
        n = eq != NULL ? (size_t) (eq - a) : strlen(a);
        if (n == 0 || n >= sizeof(name)) {
            return usage_error("unknown option '%.200s'", word);
        }
        memcpy(name, a, n);
        name[n] = '\0';
        if (strcmp(name, "quiet") == 0) {
            if (eq != NULL) {
                return usage_error("--quiet takes no value");
            }
            opts.quiet = true;
            continue;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            return usage_error("--%s needs a value", name);
        }
        if (strcmp(name, "agent") == 0) {
            if (val[0] == '\0') {
                return usage_error("--agent is empty");
            }
            opts.agent = val;
        } else if (strcmp(name, "flag") == 0) {
            if (!flag_key_ok(val)) {
                return usage_error("--flag '%.200s': not a flag key "
                                   "([a-z0-9][a-z0-9._-]{0,127})",
                    val);
            }
            if (opts.nflags == TR_FLAGS_MAX) {
                return usage_error("more than 16 --flag");
            }
            opts.flags[opts.nflags++] = val;
        } else if (strcmp(name, "profile") == 0) {
            int rc;

            if (opts.nprofiles == TR_PROFILES_MAX) {
                return usage_error("more than 64 --profile");
            }
            rc = parse_profile(val, &opts.profiles[opts.nprofiles]);
            if (rc != TR_EXIT_OK) {
                return rc;
            }
            opts.nprofiles++;
        } else if (strcmp(name, "rate") == 0) {
            if (!parse_u64(val, 1, TR_RATE_MAX, &v)) {
                return usage_error(
                    "--rate '%.200s': an integer 1..1000000", val);
            }
            opts.rate = (double) v;
        } else if (strcmp(name, "keys") == 0) {
            if (!parse_u64(val, 1, TR_KEYS_MAX, &v)) {
                return usage_error("--keys '%.200s': an integer "
                                   "1..100000000",
                    val);
            }
            opts.keys = v;
        } else if (strcmp(name, "key-prefix") == 0) {
            if (strlen(val) > 200) {
                return usage_error("--key-prefix is longer than 200 bytes");
            }
            opts.prefix = val;
        } else if (strcmp(name, "unit-attr") == 0) {
            if (val[0] == '\0' || strlen(val) > 64 || strcmp(val, "key") == 0) {
                return usage_error("--unit-attr '%.200s': a name of 1..64 "
                                   "bytes other than 'key'",
                    val);
            }
            opts.unit_attr = val;
        } else if (strcmp(name, "threads") == 0) {
            if (!parse_u64(val, 1, TR_THREADS_MAX, &v)) {
                return usage_error("--threads '%.200s': an integer 1..64", val);
            }
            opts.threads = (int) v;
        } else if (strcmp(name, "duration") == 0) {
            if (!parse_duration(val, 1e6, &opts.duration_us) ||
                opts.duration_us == 0) {
                return usage_error("--duration '%.200s': a duration above "
                                   "0 (60s, 5m, 1h)",
                    val);
            }
        } else if (strcmp(name, "seed") == 0) {
            if (!parse_u64(val, 0, UINT64_MAX, &opts.seed)) {
                return usage_error("--seed '%.200s': an unsigned integer", val);
            }
        } else {
            return usage_error("unknown option '%.200s'", word);
        }
    }
    if (opts.nflags == 0) {
        return usage_error("no --flag given");
    }
    if ((double) opts.threads > opts.rate) {
        opts.threads = (int) opts.rate; /* each thread does >= 1/s */
    }
    return TR_EXIT_OK;
}

/* The profile for (flag, variant): the most specific one given, the
 * last given among equals. */
static const struct tr_profile *
profile_for(const char *flag, const char *variant)
{
    const struct tr_profile *best = &tr_default_profile;
    int best_score = 0;

    for (int i = 0; i < opts.nprofiles; i++) {
        const struct tr_profile *p = &opts.profiles[i];
        int score = 1;

        if (p->flag[0] != '\0') {
            if (strcmp(p->flag, flag) != 0) {
                continue;
            }
            score += 2;
        }
        if (strcmp(p->variant, "*") != 0) {
            if (strcmp(p->variant, variant) != 0) {
                continue;
            }
            score += 4;
        }
        if (score >= best_score) {
            best = p;
            best_score = score;
        }
    }
    return best;
}

/* splitmix64: small, fast, and good enough for synthetic traffic. */
static uint64_t
rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1). */
static double
rng_unit(uint64_t *s)
{
    return ((double) (rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

/* Log-normal with median p50 and 95th percentile p95 (Box-Muller). */
static uint64_t
draw_latency(uint64_t *s, const struct tr_profile *p)
{
    double sigma = log(p->p95_us / p->p50_us) / TR_Z95;
    double z = sqrt(-2.0 * log(rng_unit(s))) * cos(2 * M_PI * rng_unit(s));
    double us = p->p50_us * exp(sigma * z);

    if (us < 1) {
        return 1;
    }
    return us > (double) TR_LATENCY_MAX_US ? TR_LATENCY_MAX_US : (uint64_t) us;
}

static void
count(int flag, const char *variant, bool error)
{
    int i;

    pthread_mutex_lock(&slot_mtx);
    for (i = 0; i < nslots; i++) {
        if (slots[i].flag == flag && strcmp(slots[i].variant, variant) == 0) {
            break;
        }
    }
    if (i == nslots) {
        if (nslots == TR_SLOTS_MAX) {
            slots_overflow++;
            pthread_mutex_unlock(&slot_mtx);
            return;
        }
        slots[i].flag = flag;
        snprintf(slots[i].variant, sizeof(slots[i].variant), "%s", variant);
        nslots++;
    }
    slots[i].evals++;
    slots[i].errors += error ? 1 : 0;
    pthread_mutex_unlock(&slot_mtx);
}

/*
 * Evaluate flag fi for ctx, learning the flag's type on the first call:
 * a flag's type is not known in advance and the typed calls refuse the
 * wrong one with RAMP_ETYPE (string first: rollouts of string flags are
 * the common case).
 */
static ramp_err
eval_one(ramp_client *c, int fi, const ramp_ctx *ctx, char *buf,
    struct ramp_detail *d)
{
    static const int order[] = {
        RAMP_TYPE_STRING, RAMP_TYPE_BOOL, RAMP_TYPE_NUMBER, RAMP_TYPE_JSON};
    int t = atomic_load_explicit(&flag_type[fi], memory_order_relaxed);
    ramp_err rv = RAMP_ETYPE;

    for (int k = 0; k < 4; k++) {
        int ty = t >= 0 ? t : order[k];
        bool b;
        double n;

        switch (ty) {
        case RAMP_TYPE_STRING:
            rv = ramp_string(c, opts.flags[fi], ctx, "", buf, TR_VALUE_MAX, d);
            break;
        case RAMP_TYPE_BOOL:
            rv = ramp_bool(c, opts.flags[fi], ctx, false, &b, d);
            break;
        case RAMP_TYPE_NUMBER:
            rv = ramp_number(c, opts.flags[fi], ctx, 0, &n, d);
            break;
        default:
            rv =
                ramp_json(c, opts.flags[fi], ctx, "null", buf, TR_VALUE_MAX, d);
            break;
        }
        if (rv != RAMP_ETYPE) {
            if (rv == RAMP_OK && t < 0) {
                atomic_store_explicit(&flag_type[fi], ty, memory_order_relaxed);
            }
            return rv;
        }
        if (t >= 0) {
            /* The flag changed type under us: learn it again. */
            atomic_store_explicit(&flag_type[fi], -1, memory_order_relaxed);
            t = -1;
        }
    }
    return rv;
}

struct tr_worker {
    pthread_t tid;
    ramp_client *c;
    int idx;
};

static uint64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void *
worker(void *arg)
{
    struct tr_worker *w = arg;
    uint64_t rng = opts.seed + (uint64_t) w->idx * 0x632be59bd9b4e019ULL;
    double period_us = 1e6 * opts.threads / opts.rate;
    double next;
    char key[256];
    ramp_ctx *ctx = NULL;
    char *buf = malloc(TR_VALUE_MAX);

    if (buf == NULL || ramp_ctx_new(&ctx) != RAMP_OK) {
        fprintf(stderr, "ramp-traffic: error: out of memory\n");
        tr_stop = 1;
        free(buf);
        return NULL;
    }
    /* Threads start spread over one period, not all at once. */
    next = (double) now_us() + period_us * w->idx / opts.threads;
    while (!tr_stop) {
        uint64_t now = now_us();
        struct ramp_detail d;
        int fi;
        ramp_err rv;

        if ((double) now < next) {
            uint64_t wait = (uint64_t) (next - (double) now);
            struct timespec ts = {
                (time_t) (wait / 1000000), (long) (wait % 1000000) * 1000};

            nanosleep(&ts, NULL);
            continue;
        }
        /* Far behind (a stall, a slow agent): skip, do not burst. */
        if ((double) now - next > 1e6) {
            next = (double) now;
        }
        next += period_us;
        snprintf(key, sizeof(key), "%s%llu", opts.prefix,
            (unsigned long long) (rng_next(&rng) % opts.keys));
        ramp_ctx_reset(ctx);
        (void) ramp_ctx_set_key(ctx, key);
        if (opts.unit_attr != NULL) {
            (void) ramp_ctx_set_str(ctx, opts.unit_attr, key);
        }
        fi = (int) (rng_next(&rng) % (uint64_t) opts.nflags);
        rv = eval_one(w->c, fi, ctx, buf, &d);
        if (rv != RAMP_OK || d.variant[0] == '\0') {
            atomic_fetch_add(&tr_failed, 1);
            if (atomic_exchange(&tr_failed_shown, 1) == 0) {
                fprintf(stderr,
                    "ramp-traffic: flag %s: %s (shown once; counted as "
                    "failed=)\n",
                    opts.flags[fi], ramp_strerror(rv));
            }
            continue;
        } else {
            const struct tr_profile *p = profile_for(opts.flags[fi], d.variant);
            bool ok = rng_unit(&rng) >= p->err;
            uint64_t lat = draw_latency(&rng, p);

            (void) ramp_observe(w->c, opts.flags[fi], &d, ok, lat);
            count(fi, d.variant, !ok);
        }
    }
    ramp_ctx_free(ctx);
    free(buf);
    return NULL;
}

static void
on_signal(int sig)
{
    (void) sig;
    tr_stop = 1;
}

/*
 * One summary line, since the previous one or (total) since the start:
 *   ramp-traffic: t=5s evals=400 failed=0 dropped=0 | checkout
 *   redesign=21/2 classic=379/1
 * (one line; per flag, VARIANT=EVALUATIONS/ERRORS-REPORTED).
 */
static void
summary(ramp_client *c, double t_s, bool total, uint64_t *last_failed,
    uint64_t *last_dropped)
{
    uint64_t failed = atomic_load(&tr_failed);
    uint64_t dropped = ramp_observe_dropped(c);
    uint64_t evals = 0;

    pthread_mutex_lock(&slot_mtx);
    for (int i = 0; i < nslots; i++) {
        evals += total ? slots[i].evals : slots[i].evals - slots[i].last_evals;
    }
    printf("%s t=%.0fs evals=%llu failed=%llu dropped=%llu",
        total ? "ramp-traffic: total:" : "ramp-traffic:", t_s,
        (unsigned long long) evals,
        (unsigned long long) (total ? failed : failed - *last_failed),
        (unsigned long long) (total ? dropped : dropped - *last_dropped));
    for (int fi = 0; fi < opts.nflags; fi++) {
        bool any = false;

        for (int i = 0; i < nslots; i++) {
            struct tr_slot *s = &slots[i];
            uint64_t e = total ? s->evals : s->evals - s->last_evals;
            uint64_t x = total ? s->errors : s->errors - s->last_errors;

            if (s->flag != fi) {
                continue;
            }
            if (!any) {
                printf(" | %s", opts.flags[fi]);
                any = true;
            }
            printf(" %s=%llu/%llu", s->variant, (unsigned long long) e,
                (unsigned long long) x);
        }
    }
    if (slots_overflow > 0) {
        printf(" | uncounted=%llu", (unsigned long long) slots_overflow);
    }
    for (int i = 0; i < nslots; i++) {
        slots[i].last_evals = slots[i].evals;
        slots[i].last_errors = slots[i].errors;
    }
    pthread_mutex_unlock(&slot_mtx);
    putchar('\n');
    fflush(stdout);
    *last_failed = failed;
    *last_dropped = dropped;
}

int
main(int argc, char **argv)
{
    struct tr_worker workers[TR_THREADS_MAX];
    struct sigaction sa;
    ramp_client *c = NULL;
    uint64_t start, next_line, last_failed = 0, last_dropped = 0;
    int nstarted = 0;
    int rc;
    ramp_err rv;

    rc = parse_args(argc, argv);
    if (rc < 0) {
        usage(stdout);
        return TR_EXIT_OK;
    }
    if (rc != TR_EXIT_OK) {
        return rc;
    }
    for (int i = 0; i < TR_FLAGS_MAX; i++) {
        atomic_init(&flag_type[i], -1);
    }
    rv = ramp_open(opts.agent, 0, &c);
    if (rv != RAMP_OK) {
        fprintf(stderr, "ramp-traffic: error: agent %s: %s\n", opts.agent,
            ramp_strerror(rv));
        return rv == RAMP_EINVAL ? TR_EXIT_USAGE : TR_EXIT_ERROR;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    start = now_us();
    for (int i = 0; i < opts.threads; i++) {
        workers[i].c = c;
        workers[i].idx = i;
        if (pthread_create(&workers[i].tid, NULL, worker, &workers[i]) != 0) {
            fprintf(stderr, "ramp-traffic: error: cannot start a thread\n");
            tr_stop = 1;
            rc = TR_EXIT_ERROR;
            break;
        }
        nstarted++;
    }
    next_line = start + 1000000;
    while (!tr_stop) {
        uint64_t now = now_us();
        uint64_t until = next_line;
        struct timespec ts;

        if (opts.duration_us > 0 && start + opts.duration_us < until) {
            until = start + opts.duration_us;
        }
        if (now < until) {
            /* Short naps so a signal ends the run promptly. */
            uint64_t wait = until - now > 100000 ? 100000 : until - now;

            ts.tv_sec = 0;
            ts.tv_nsec = (long) wait * 1000;
            nanosleep(&ts, NULL);
            continue;
        }
        if (opts.duration_us > 0 && now >= start + opts.duration_us) {
            break;
        }
        if (!opts.quiet) {
            summary(c, (double) (now - start) / 1e6, false, &last_failed,
                &last_dropped);
        }
        next_line += 1000000;
    }
    tr_stop = 1;
    for (int i = 0; i < nstarted; i++) {
        pthread_join(workers[i].tid, NULL);
    }
    summary(c, (double) (now_us() - start) / 1e6, true, &last_failed,
        &last_dropped);
    ramp_close(c);
    return rc;
}
