/* SPDX-License-Identifier: MIT */
/*
 * ramp_sim: the rollout simulator. Drives proto/decide.c (the controller's
 * own decision code) with synthetic traffic and measures, per scenario
 * over many independent rollouts, how often a healthy treatment is rolled
 * back, how often a bad one is caught, how fast, how far it got first,
 * and how often a rollout ends held.
 *
 * Traffic per check window: Poisson requests split between the arms by
 * the stage's share, binomial errors per arm, latency histograms drawn
 * from a lognormal per arm (bucket by bucket, as a multinomial), and
 * optional error bursts that hit random windows (one arm at a time, or
 * both at once for a shared outage). Time is simulated: no clock is read,
 * and the generator is our own (splitmix64), so a seed gives the same
 * figures on every run.
 *
 * --short is what ctest runs: a few scenarios at a small M, checking
 * only gross properties (docs/rollouts.md, "Simulator").
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "hist.h"
#include "model.h"

#define SIM_MAX_STAGES 8
#define SIM_MAX_RUNS 100000

/* ---- generator ------------------------------------------------------ */

static uint64_t
rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double
rng_unit(uint64_t *s) /* (0, 1) */
{
    return ((double) (rng_next(s) >> 11) + 0.5) / 9007199254740992.0;
}

static double
rng_normal(uint64_t *s)
{
    double u1 = rng_unit(s);
    double u2 = rng_unit(s);

    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Poisson: multiplication below 30, rounded normal above (a simulator
 * needs the mean and the spread, not the far tail). */
static uint64_t
rng_poisson(uint64_t *s, double lambda)
{
    if (lambda <= 0) {
        return 0;
    }
    if (lambda < 30) {
        double l = exp(-lambda);
        double p = 1.0;
        uint64_t k = 0;

        for (;;) {
            p *= rng_unit(s);
            if (p <= l) {
                return k;
            }
            k++;
        }
    }
    double v = floor(lambda + sqrt(lambda) * rng_normal(s) + 0.5);

    return v < 0 ? 0 : (uint64_t) v;
}

/* Binomial: geometric waiting times when n p is small (exact), rounded
 * normal otherwise. */
static uint64_t
rng_binom(uint64_t *s, uint64_t n, double p)
{
    if (n == 0 || p <= 0) {
        return 0;
    }
    if (p >= 1) {
        return n;
    }
    if (p > 0.5) {
        return n - rng_binom(s, n, 1.0 - p);
    }
    if ((double) n * p < 25) {
        double lq = log1p(-p);
        uint64_t k = 0;
        double pos = 0;

        for (;;) {
            pos += ceil(log(rng_unit(s)) / lq);
            if (pos > (double) n) {
                return k;
            }
            k++;
        }
    }
    double m = (double) n * p;
    double v = floor(m + sqrt(m * (1.0 - p)) * rng_normal(s) + 0.5);

    if (v < 0) {
        return 0;
    }
    return v > (double) n ? n : (uint64_t) v;
}

/* ---- latency -------------------------------------------------------- */

/* Bucket probabilities of a lognormal (median in us, sigma), so a
 * window's histogram is one multinomial draw instead of n samples. */
struct latdist {
    double p[RP_HIST_NBUCKETS];
    unsigned lo, hi; /* buckets with any mass */
};

static double
lognorm_cdf(double x, double mu, double sigma)
{
    if (x <= 0) {
        return 0;
    }
    return 0.5 * erfc(-(log(x) - mu) / (sigma * sqrt(2.0)));
}

static void
latdist_init(struct latdist *d, double median_us, double sigma)
{
    double mu = log(median_us);
    double prev = 0;

    memset(d, 0, sizeof(*d));
    d->lo = RP_HIST_NBUCKETS;
    for (unsigned i = 0; i < RP_HIST_NREG; i++) {
        double top = (double) rp_hist_bucket_hi(i) + 1.0;
        double c;

        if (rp_hist_bucket_lo(i) > RP_HIST_MAX_US) {
            break;
        }
        c = lognorm_cdf(top, mu, sigma);
        d->p[i] = c - prev;
        prev = c;
    }
    d->p[RP_HIST_OVERFLOW] = 1.0 - prev;
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        if (d->p[i] > 1e-12) {
            if (d->lo == RP_HIST_NBUCKETS) {
                d->lo = i;
            }
            d->hi = i;
        } else {
            d->p[i] = 0;
        }
    }
}

static void
latdist_draw(
    uint64_t *s, const struct latdist *d, uint64_t n, struct rp_hist *h)
{
    double mass = 1.0;

    rp_hist_init(h);
    for (unsigned i = d->lo; i <= d->hi && n > 0; i++) {
        uint64_t k;

        if (d->p[i] <= 0) {
            continue;
        }
        k = i == d->hi || d->p[i] >= mass ? n : rng_binom(s, n, d->p[i] / mass);
        mass -= d->p[i];
        if (k > 0) {
            rp_hist_record_n(h, rp_hist_bucket_lo(i), k);
            n -= k;
        }
    }
}

/* ---- scenarios ------------------------------------------------------ */

struct scenario {
    const char *name;
    const char *what;
    bool bad;   /* worse than the policy's margins */
    double rps; /* requests per second reaching the rollout */
    double err_c, err_t;
    double lat_c_ms, lat_t_ms; /* lognormal medians */
    double sigma;
    double burst_p;    /* chance a window has a burst (per arm, or both) */
    double burst_err;  /* error rate of an arm during its burst */
    bool burst_common; /* a burst hits both arms (a shared outage) */
};

#define RPS 200.0

static const struct scenario scenarios[] = {
    {"healthy", "same errors (1%) and latency (100 ms) in both arms", false,
        RPS, 0.01, 0.01, 100, 100, 0.5, 0, 0, false},
    {"healthy-bursty",
        "healthy; each arm has 8% errors in a random 3% of windows", false, RPS,
        0.01, 0.01, 100, 100, 0.5, 0.03, 0.08, false},
    {"healthy-outage",
        "healthy; both arms at 35% errors in a random 0.2% of windows", false,
        RPS, 0.01, 0.01, 100, 100, 0.5, 0.002, 0.35, true},
    {"err+20%", "treatment errors 1.2% vs 1% (inside the +50% margin)", false,
        RPS, 0.01, 0.012, 100, 100, 0.5, 0, 0, false},
    {"err-x2", "treatment errors 2% vs 1%", true, RPS, 0.01, 0.02, 100, 100,
        0.5, 0, 0, false},
    {"err-x3", "treatment errors 3% vs 1%", true, RPS, 0.01, 0.03, 100, 100,
        0.5, 0, 0, false},
    {"latency+50%", "treatment latency x1.5 (p95 228 -> 342 ms)", true, RPS,
        0.01, 0.01, 100, 150, 0.5, 0, 0, false},
    {"latency-abs", "treatment p95 2.3 s, 1.25x control (absolute ceiling)",
        true, RPS, 0.01, 0.01, 800, 1000, 0.5, 0, 0, false},
    {"low-traffic", "healthy at 1 request/s: too little to decide", false, 1.0,
        0.01, 0.01, 100, 100, 0.5, 0, 0, false},
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

struct simcfg {
    struct rp_policy pol;
    uint32_t stages_bp[SIM_MAX_STAGES];
    uint32_t nstages;
    uint32_t runs;
    uint64_t seed;
    double rps; /* > 0: overrides every scenario's RPS */
    bool verbose;
};

enum outcome { OUT_COMPLETE, OUT_ROLLBACK, OUT_HOLD, OUT_TIMEOUT };

struct runres {
    enum outcome out;
    double minutes;     /* from start to the outcome */
    uint32_t max_stage; /* highest stage index entered */
};

struct windowgen {
    struct latdist lat_c, lat_t;
    struct rp_hist hc, ht;
};

static void
gen_window(uint64_t *rs, const struct scenario *sc, struct windowgen *g,
    double rps, double check_s, double share, struct rp_window *w)
{
    uint64_t n = rng_poisson(rs, rps * check_s);
    uint64_t nt = share >= 1.0 ? n : rng_binom(rs, n, share);
    uint64_t nc = n - nt;
    double et = sc->err_t;
    double ec = sc->err_c;

    if (sc->burst_p > 0) {
        if (sc->burst_common) {
            if (rng_unit(rs) < sc->burst_p) {
                et = ec = sc->burst_err;
            }
        } else {
            if (rng_unit(rs) < sc->burst_p) {
                et = sc->burst_err;
            }
            if (rng_unit(rs) < sc->burst_p) {
                ec = sc->burst_err;
            }
        }
    }
    memset(w, 0, sizeof(*w));
    w->treatment_only = share >= 1.0;
    w->t.requests = nt;
    w->t.errors = rng_binom(rs, nt, et);
    latdist_draw(rs, &g->lat_t, nt, &g->ht);
    w->t.hist = &g->ht;
    w->c.requests = nc;
    w->c.errors = rng_binom(rs, nc, ec);
    latdist_draw(rs, &g->lat_c, nc, &g->hc);
    w->c.hist = &g->hc;
}

static void
run_one(const struct simcfg *cfg, const struct scenario *sc,
    struct windowgen *g, uint64_t seed, struct runres *res)
{
    static struct rp_stage_acc acc; /* ~9 KiB; one run at a time */
    uint64_t rs = seed;
    uint32_t stage = 0;
    uint64_t check_ms = cfg->pol.check_interval_ms;
    uint64_t t_ms = 0;
    uint64_t stage_start = 0;
    uint64_t end_ms =
        (uint64_t) cfg->nstages * cfg->pol.max_stage_ms + check_ms;
    double rps = cfg->rps > 0 && sc->rps >= RPS ? cfg->rps : sc->rps;

    rp_stage_acc_init(&acc);
    res->max_stage = 0;
    res->out = OUT_TIMEOUT;
    while (t_ms < end_ms) {
        struct rp_window w;
        struct rp_check chk;
        enum rp_action act;

        t_ms += check_ms;
        gen_window(&rs, sc, g, rps, (double) check_ms / 1000.0,
            (double) cfg->stages_bp[stage] / 10000.0, &w);
        rp_decide_check(&cfg->pol, &acc, &w, &chk);
        act = rp_decide_action(&cfg->pol, &acc, &chk,
            (int64_t) (t_ms - stage_start), stage, cfg->nstages);
        if (cfg->verbose && act != RP_ACT_NONE) {
            printf("  t=%.1fmin stage=%u %s: %s\n", (double) t_ms / 60000.0,
                stage, rp_action_name(act), chk.reason);
        }
        res->minutes = (double) t_ms / 60000.0;
        switch (act) {
        case RP_ACT_ADVANCE:
            stage++;
            res->max_stage = stage;
            stage_start = t_ms;
            rp_stage_acc_init(&acc);
            break;
        case RP_ACT_COMPLETE:
            res->out = OUT_COMPLETE;
            return;
        case RP_ACT_ROLLBACK:
            res->out = OUT_ROLLBACK;
            return;
        case RP_ACT_HOLD:
            res->out = OUT_HOLD;
            return;
        default:
            break;
        }
    }
}

struct summary {
    uint32_t runs, rollback, complete, hold, reached50;
    uint32_t advanced; /* runs that left the first stage */
    double med_rollback_min, med_complete_min; /* NAN when none */
};

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a;
    double y = *(const double *) b;

    return x < y ? -1 : x > y;
}

static double
median(double *v, uint32_t n)
{
    if (n == 0) {
        return NAN;
    }
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static uint64_t
name_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */

    while (*s != '\0') {
        h = (h ^ (uint8_t) *s++) * 1099511628211ULL;
    }
    return h;
}

static int
run_scenario(
    const struct simcfg *cfg, const struct scenario *sc, struct summary *sum)
{
    static struct windowgen g;
    double *t_rb = calloc(cfg->runs, sizeof(double));
    double *t_ok = calloc(cfg->runs, sizeof(double));
    uint32_t stage50 = 0;

    if (t_rb == NULL || t_ok == NULL) {
        free(t_rb);
        free(t_ok);
        fprintf(stderr, "ramp_sim: out of memory\n");
        return -1;
    }
    /* The first stage at or above 50% of units. */
    while (stage50 < cfg->nstages && cfg->stages_bp[stage50] < 5000) {
        stage50++;
    }
    latdist_init(&g.lat_c, sc->lat_c_ms * 1000.0, sc->sigma);
    latdist_init(&g.lat_t, sc->lat_t_ms * 1000.0, sc->sigma);
    memset(sum, 0, sizeof(*sum));
    sum->runs = cfg->runs;
    for (uint32_t r = 0; r < cfg->runs; r++) {
        struct runres res;
        uint64_t seed = cfg->seed ^ name_hash(sc->name);

        for (uint32_t k = 0; k <= r % 7; k++) {
            (void) rng_next(&seed); /* decorrelate neighbouring runs */
        }
        seed += (uint64_t) r * 0xd1b54a32d192ed03ULL;
        run_one(cfg, sc, &g, seed, &res);
        if (res.max_stage > 0) {
            sum->advanced++;
        }
        if (res.max_stage >= stage50 && stage50 < cfg->nstages) {
            sum->reached50++;
        }
        switch (res.out) {
        case OUT_ROLLBACK:
            t_rb[sum->rollback++] = res.minutes;
            break;
        case OUT_COMPLETE:
            t_ok[sum->complete++] = res.minutes;
            break;
        case OUT_HOLD:
        case OUT_TIMEOUT:
            sum->hold++;
            break;
        }
    }
    sum->med_rollback_min = median(t_rb, sum->rollback);
    sum->med_complete_min = median(t_ok, sum->complete);
    free(t_rb);
    free(t_ok);
    return 0;
}

static double
pct(uint32_t k, uint32_t n)
{
    return n == 0 ? 0 : 100.0 * (double) k / (double) n;
}

static void
print_header(const struct simcfg *cfg)
{
    printf("ramp_sim: runs=%u seed=%llu bake=%llus check=%llus "
           "max-stage=%llus crit=%g/%u stages=",
        cfg->runs, (unsigned long long) cfg->seed,
        (unsigned long long) (cfg->pol.bake_ms / 1000),
        (unsigned long long) (cfg->pol.check_interval_ms / 1000),
        (unsigned long long) (cfg->pol.max_stage_ms / 1000),
        cfg->pol.crit_err, cfg->pol.crit_min);
    for (uint32_t i = 0; i < cfg->nstages; i++) {
        printf("%s%.0f%%", i ? "," : "", cfg->stages_bp[i] / 100.0);
    }
    printf("\n");
    printf("| scenario | bad | rps | rolled back | completed | held | "
           "reached >=50%% | median min to rollback | median min to "
           "complete |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
}

static void
print_row(const struct simcfg *cfg, const struct scenario *sc,
    const struct summary *s)
{
    char rb[32];
    char ok[32];
    double rps = cfg->rps > 0 && sc->rps >= RPS ? cfg->rps : sc->rps;

    if (isnan(s->med_rollback_min)) {
        snprintf(rb, sizeof(rb), "-");
    } else {
        snprintf(rb, sizeof(rb), "%.1f", s->med_rollback_min);
    }
    if (isnan(s->med_complete_min)) {
        snprintf(ok, sizeof(ok), "-");
    } else {
        snprintf(ok, sizeof(ok), "%.1f", s->med_complete_min);
    }
    printf("| %s | %s | %g | %.1f%% | %.1f%% | %.1f%% | %.1f%% | %s | %s |\n",
        sc->name, sc->bad ? "yes" : "no", rps, pct(s->rollback, s->runs),
        pct(s->complete, s->runs), pct(s->hold, s->runs),
        pct(s->reached50, s->runs), rb, ok);
    fflush(stdout);
}

static const struct scenario *
find_scenario(const char *name)
{
    for (size_t i = 0; i < NSCENARIOS; i++) {
        if (strcmp(scenarios[i].name, name) == 0) {
            return &scenarios[i];
        }
    }
    return NULL;
}

/*
 * The ctest form. Each property is gross enough that no correct engine
 * misses it at these seeds and counts, and none depends on how fast the
 * machine is: the simulator's time is simulated.
 */
static int
run_short(struct simcfg *cfg)
{
    struct summary s;
    const struct scenario *sc;
    int bad = 0;

    cfg->runs = 100;
    print_header(cfg);

    sc = find_scenario("healthy");
    if (run_scenario(cfg, sc, &s) != 0) {
        return 1;
    }
    print_row(cfg, sc, &s);
    if (s.rollback > 5 || s.complete < 90) {
        fprintf(stderr,
            "FAIL healthy: %u/%u rolled back (max 5), %u "
            "completed (min 90)\n",
            s.rollback, s.runs, s.complete);
        bad = 1;
    }

    sc = find_scenario("healthy-bursty");
    if (run_scenario(cfg, sc, &s) != 0) {
        return 1;
    }
    print_row(cfg, sc, &s);
    if (s.rollback > 5) {
        fprintf(stderr, "FAIL healthy-bursty: %u/%u rolled back (max 5)\n",
            s.rollback, s.runs);
        bad = 1;
    }

    sc = find_scenario("err-x3");
    if (run_scenario(cfg, sc, &s) != 0) {
        return 1;
    }
    print_row(cfg, sc, &s);
    if (s.rollback < 90 || s.reached50 > 10) {
        fprintf(stderr,
            "FAIL err-x3: %u/%u rolled back (min 90), %u "
            "reached 50%% (max 10)\n",
            s.rollback, s.runs, s.reached50);
        bad = 1;
    }

    sc = find_scenario("latency+50%");
    if (run_scenario(cfg, sc, &s) != 0) {
        return 1;
    }
    print_row(cfg, sc, &s);
    if (s.rollback < 90) {
        fprintf(stderr, "FAIL latency+50%%: %u/%u rolled back (min 90)\n",
            s.rollback, s.runs);
        bad = 1;
    }

    cfg->runs = 20;
    sc = find_scenario("low-traffic");
    if (run_scenario(cfg, sc, &s) != 0) {
        return 1;
    }
    print_row(cfg, sc, &s);
    if (s.advanced != 0 || s.rollback != 0 || s.hold != s.runs) {
        fprintf(stderr,
            "FAIL low-traffic: %u advanced, %u rolled back, "
            "%u held of %u (want all held in the first "
            "stage)\n",
            s.advanced, s.rollback, s.hold, s.runs);
        bad = 1;
    }
    printf("%s\n", bad ? "sim.short: FAILED" : "sim.short: ok");
    return bad;
}

static void
usage(FILE *f)
{
    fprintf(f,
        "usage: ramp_sim [--short] [--runs M] [--seed S] [--scenario NAME]\n"
        "                [--rps R] [--bake-s S] [--check-s S] "
        "[--max-stage-s S]\n"
        "                [--crit-err P] [--crit-min N]\n"
        "                [--stages 5,25,50,100] [--verbose] [--list]\n"
        "       ramp_sim --scenario custom --err-c P --err-t P --lat-c MS "
        "--lat-t MS\n"
        "                [--sigma X] [--burst-p P --burst-err P "
        "[--burst-common]] [--bad]\n");
}

static bool
arg_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        return false;
    }
    *out = v;
    return true;
}

static bool
parse_stages(const char *s, struct simcfg *cfg)
{
    char buf[128];
    char *save = NULL;
    uint32_t n = 0;
    double prev = 0;

    if (strlen(s) >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, s, strlen(s) + 1);
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        double v;

        if (n == SIM_MAX_STAGES || !arg_double(tok, 0.01, 100, &v) ||
            v <= prev) {
            return false;
        }
        cfg->stages_bp[n++] = (uint32_t) (v * 100.0 + 0.5);
        prev = v;
    }
    cfg->nstages = n;
    return n > 0;
}

int
main(int argc, char **argv)
{
    struct simcfg cfg;
    struct scenario custom = {"custom", "from the command line", false, RPS,
        0.01, 0.01, 100, 100, 0.5, 0, 0, false};
    const char *only = NULL;
    bool short_form = false;

    memset(&cfg, 0, sizeof(cfg));
    rp_policy_default(&cfg.pol);
    cfg.stages_bp[0] = 500;
    cfg.stages_bp[1] = 2500;
    cfg.stages_bp[2] = 5000;
    cfg.stages_bp[3] = 10000;
    cfg.nstages = 4;
    cfg.runs = 1000;
    cfg.seed = 1;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        bool ok = true;

        if (strcmp(a, "--short") == 0) {
            short_form = true;
            continue;
        } else if (strcmp(a, "--verbose") == 0) {
            cfg.verbose = true;
            continue;
        } else if (strcmp(a, "--burst-common") == 0) {
            custom.burst_common = true;
            continue;
        } else if (strcmp(a, "--bad") == 0) {
            custom.bad = true;
            continue;
        } else if (strcmp(a, "--list") == 0) {
            for (size_t k = 0; k < NSCENARIOS; k++) {
                printf("%-16s %s\n", scenarios[k].name, scenarios[k].what);
            }
            return 0;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (v == NULL) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--scenario") == 0) {
            only = v;
        } else if (strcmp(a, "--stages") == 0) {
            ok = parse_stages(v, &cfg);
        } else if (!arg_double(v, 0, 1e12, &d)) {
            ok = false;
        } else if (strcmp(a, "--runs") == 0) {
            ok = d >= 1 && d <= SIM_MAX_RUNS;
            cfg.runs = (uint32_t) d;
        } else if (strcmp(a, "--seed") == 0) {
            cfg.seed = (uint64_t) d;
        } else if (strcmp(a, "--rps") == 0) {
            ok = d > 0;
            cfg.rps = custom.rps = d;
        } else if (strcmp(a, "--bake-s") == 0) {
            cfg.pol.bake_ms = (uint64_t) (d * 1000.0);
        } else if (strcmp(a, "--check-s") == 0) {
            ok = d >= 1;
            cfg.pol.check_interval_ms = (uint64_t) (d * 1000.0);
        } else if (strcmp(a, "--max-stage-s") == 0) {
            ok = d >= 1;
            cfg.pol.max_stage_ms = (uint64_t) (d * 1000.0);
        } else if (strcmp(a, "--crit-min") == 0) {
            ok = d <= 1e9;
            cfg.pol.crit_min = (uint32_t) d;
        } else if (strcmp(a, "--crit-err") == 0) {
            ok = d <= 1;
            cfg.pol.crit_err = d;
        } else if (strcmp(a, "--err-c") == 0) {
            ok = d <= 1;
            custom.err_c = d;
        } else if (strcmp(a, "--err-t") == 0) {
            ok = d <= 1;
            custom.err_t = d;
        } else if (strcmp(a, "--lat-c") == 0) {
            ok = d > 0;
            custom.lat_c_ms = d;
        } else if (strcmp(a, "--lat-t") == 0) {
            ok = d > 0;
            custom.lat_t_ms = d;
        } else if (strcmp(a, "--sigma") == 0) {
            ok = d > 0 && d <= 5;
            custom.sigma = d;
        } else if (strcmp(a, "--burst-p") == 0) {
            ok = d <= 1;
            custom.burst_p = d;
        } else if (strcmp(a, "--burst-err") == 0) {
            ok = d <= 1;
            custom.burst_err = d;
        } else {
            ok = false;
        }
        if (!ok) {
            fprintf(stderr, "ramp_sim: bad argument %s %s\n", a, v);
            usage(stderr);
            return 2;
        }
    }

    if (short_form) {
        return run_short(&cfg);
    }
    print_header(&cfg);
    if (only != NULL && strcmp(only, "custom") == 0) {
        struct summary s;

        if (run_scenario(&cfg, &custom, &s) != 0) {
            return 1;
        }
        print_row(&cfg, &custom, &s);
        return 0;
    }
    if (only != NULL && find_scenario(only) == NULL) {
        fprintf(stderr, "ramp_sim: no scenario %s (--list)\n", only);
        return 2;
    }
    for (size_t k = 0; k < NSCENARIOS; k++) {
        struct summary s;

        if (only != NULL && strcmp(only, scenarios[k].name) != 0) {
            continue;
        }
        if (run_scenario(&cfg, &scenarios[k], &s) != 0) {
            return 1;
        }
        print_row(&cfg, &scenarios[k], &s);
    }
    return 0;
}
