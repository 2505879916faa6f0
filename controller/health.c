/* SPDX-License-Identifier: MIT */
/*
 * Health intake (see health.h).
 *
 * One mutex guards the tables; signature verification (~60 us) and
 * payload decoding run outside it, so a flood of reports costs CPU on
 * the receive thread but never holds up the rollout engine's drain.
 *
 * Per (agent, boot) the intake keeps the last cumulative value of every
 * (flag, variant, arm) it reported, as a sorted array with histograms in
 * sparse form (a report's histograms rarely use more than a few dozen of
 * the 369 buckets, so a full copy per entry would cost ~3 KiB where the
 * sparse one costs a few hundred bytes). A report's entries are the
 * agent's whole cumulative state, so the array is simply replaced by the
 * report's after the differences are taken.
 *
 * Sums for the rollout engine exist only for arms 1 (treatment) and 2
 * (control); arm 0 is counted in the stats and nowhere else.
 */
#include "health.h"

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "codec.h"
#include "envelope.h"
#include "eval.h"
#include "log.h"

#define HEALTH_RECV_TICK_MS 200     /* receive timeout: stop latency */
#define HEALTH_KEYS_EVERY_MS 10000  /* periodic key reload */
#define HEALTH_KEYS_MISS_MS 1000    /* reload on an unknown key, at most */
#define HEALTH_LOG_WINDOW_MS 10000  /* one reject line per reason per */
#define HEALTH_ENROLL_MAX 4096      /* ENROLL payload cap (codec.c) */

static const char *const hrej_names[] = {
#define CTL_HREJ_NAME(e, s) s,
    CTL_HREJ_TABLE(CTL_HREJ_NAME)
#undef CTL_HREJ_NAME
};

const char *
ctl_hrej_name(enum ctl_hrej r)
{
    return (unsigned) r < CTL_HREJ_COUNT ? hrej_names[r] : "?";
}

/* Last cumulative value of one (flag, variant, arm) of one boot. */
struct bent {
    char *flag;    /* owned */
    char *variant; /* owned */
    uint32_t arm;
    uint64_t ev, ok, err;
    uint64_t hcount, hsum, hmax;
    /*
     * The histogram's non-zero buckets as a byte string: for each, the
     * number of empty buckets skipped since the last one, then its
     * count, both as LEB128 varints (hist_pack). About 3 bytes a bucket
     * where an array of {idx, count} took 16; 9,000 entries under load
     * keep tens of buckets each, and they stay for the boot's life.
     */
    uint32_t hlen;
    uint8_t *h; /* owned, hlen bytes */
};

struct hboot {
    bool used;
    uint8_t id[16];
    uint64_t last_seq;
    int64_t last_ms;
    size_t n;
    struct bent *ents; /* owned, sorted by (flag, variant, arm) */
};

struct hagent {
    char id[RP_NAME_MAX + 1];
    uint32_t idx; /* stable: the bit of this agent in farm.seen */
    int64_t last_ms;
    uint64_t reports;
    struct hboot boots[CTL_HEALTH_BOOTS];
};

struct farm {
    struct ctl_arm_sum s;
    uint8_t *seen; /* owned: bit per agent idx that contributed */
    size_t seen_len;
};

struct fsum {
    char flag[RP_KEY_MAX + 1];
    struct farm arm[2]; /* [0] treatment, [1] control */
};

struct hkey {
    struct rp_pubkey pub;
    char agent[RP_NAME_MAX + 1];
};

struct ctl_health {
    struct ctl_store *st; /* borrowed */
    bool open_enrollment;
    size_t recv_max;

    pthread_mutex_t mu; /* guards everything below but the socket */
    struct hkey *keys;  /* owned */
    size_t nkeys;
    int64_t keys_ms;    /* monotonic ms of the last load; 0: never */
    bool keys_dirty;
    struct hagent **agents; /* owned, sorted by id */
    size_t nagents;
    struct fsum **flags;    /* owned, sorted by flag */
    size_t nflags;
    size_t tracked;         /* bents over all boots */
    uint32_t nboots;
    struct ctl_health_stats stats;
    int64_t rl_ms[CTL_HREJ_COUNT];
    uint64_t rl_supp[CTL_HREJ_COUNT];

    nng_socket sock;
    bool sock_open;
    pthread_t thr;
    bool thr_started;
    atomic_bool stop;
};

static int64_t
mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */
/* ------------------------------------------------------------------ */

/* Reload the enrolled keys from the store; under h->mu. On failure the
 * old set stays. */
static void
keys_load(struct ctl_health *h)
{
    struct ctl_agent *list = NULL;
    struct hkey *keys = NULL;
    size_t n = 0;
    ramp_err rv;

    h->keys_ms = mono_ms();
    if (h->st == NULL) {
        return;
    }
    rv = ctl_store_agent_list(h->st, &list, &n);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-CTL-HEALTH-KEYS", "err=%s",
            ramp_errname(rv));
        return;
    }
    if (n > 0) {
        keys = rp_calloc(n, sizeof(*keys));
        if (keys == NULL) {
            rp_free(list);
            return;
        }
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(keys[i].pub.pk, list[i].pk, RP_PK_LEN);
        rp_key_id(keys[i].pub.pk, keys[i].pub.id);
        memcpy(keys[i].agent, list[i].id, sizeof(keys[i].agent));
    }
    rp_free(list);
    rp_free(h->keys);
    h->keys = keys;
    h->nkeys = n;
    h->keys_dirty = false;
}

static const struct hkey *
key_by_id(const struct ctl_health *h, const uint8_t id[RP_KEYID_LEN])
{
    for (size_t i = 0; i < h->nkeys; i++) {
        if (memcmp(h->keys[i].pub.id, id, RP_KEYID_LEN) == 0) {
            return &h->keys[i];
        }
    }
    return NULL;
}

static const struct hkey *
key_by_agent(const struct ctl_health *h, const char *agent)
{
    for (size_t i = 0; i < h->nkeys; i++) {
        if (strcmp(h->keys[i].agent, agent) == 0) {
            return &h->keys[i];
        }
    }
    return NULL;
}

/* The key with that id, reloading first if the set is due or the id is
 * unknown and the last load is old enough; under h->mu. */
static const struct hkey *
key_find(struct ctl_health *h, const uint8_t id[RP_KEYID_LEN])
{
    const struct hkey *k;
    int64_t now = mono_ms();

    if (h->keys_dirty || h->keys_ms == 0 ||
        now - h->keys_ms >= HEALTH_KEYS_EVERY_MS) {
        keys_load(h);
    }
    k = key_by_id(h, id);
    if (k == NULL && now - h->keys_ms >= HEALTH_KEYS_MISS_MS) {
        keys_load(h);
        k = key_by_id(h, id);
    }
    return k;
}

void
ctl_health_agents_changed(struct ctl_health *h)
{
    if (h == NULL) {
        return;
    }
    pthread_mutex_lock(&h->mu);
    keys_load(h);
    pthread_mutex_unlock(&h->mu);
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */
/* ------------------------------------------------------------------ */

static void
bents_free(struct bent *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rp_free(e[i].flag);
        rp_free(e[i].variant);
        rp_free(e[i].h);
    }
    rp_free(e);
}

static int
bent_key_cmp(const char *f1, const char *v1, uint32_t a1, const char *f2,
    const char *v2, uint32_t a2)
{
    int c = strcmp(f1, f2);

    if (c == 0) {
        c = strcmp(v1, v2);
    }
    if (c == 0) {
        c = a1 < a2 ? -1 : a1 > a2;
    }
    return c;
}

static int
bent_cmp(const void *a, const void *b)
{
    const struct bent *x = a, *y = b;

    return bent_key_cmp(x->flag, x->variant, x->arm, y->flag, y->variant,
        y->arm);
}

static const struct bent *
bent_find(const struct hboot *bt, const struct bent *key)
{
    if (bt->n == 0) {
        return NULL;
    }
    return bsearch(key, bt->ents, bt->n, sizeof(*bt->ents), bent_cmp);
}

static size_t
varint_len(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *
varint_put(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t) v;
    return p;
}

/* Only reads what hist_pack wrote, so no bounds to distrust here. */
static const uint8_t *
varint_get(const uint8_t *p, uint64_t *v)
{
    uint64_t x = 0;
    unsigned shift = 0;

    while (*p & 0x80) {
        x |= (uint64_t) (*p++ & 0x7f) << shift;
        shift += 7;
    }
    *v = x | (uint64_t) *p++ << shift;
    return p;
}

/* Pack h's buckets into e->h (see struct bent); NULL when all empty. */
static ramp_err
hist_pack(struct bent *e, const struct rp_hist *h)
{
    size_t len = 0;
    unsigned next = 0;
    uint8_t *p;

    for (unsigned k = 0; k < RP_HIST_NBUCKETS; k++) {
        if (h->b[k] != 0) {
            len += varint_len(k - next) + varint_len(h->b[k]);
            next = k + 1;
        }
    }
    e->h = NULL;
    e->hlen = 0;
    if (len == 0) {
        return RAMP_OK;
    }
    e->h = p = rp_alloc(len);
    if (p == NULL) {
        return RAMP_ENOMEM;
    }
    next = 0;
    for (unsigned k = 0; k < RP_HIST_NBUCKETS; k++) {
        if (h->b[k] != 0) {
            p = varint_put(p, k - next);
            p = varint_put(p, h->b[k]);
            next = k + 1;
        }
    }
    e->hlen = (uint32_t) len;
    return RAMP_OK;
}

static void
bent_hist(const struct bent *e, struct rp_hist *out)
{
    const uint8_t *p = e->h;
    uint64_t k = 0;

    rp_hist_init(out);
    out->count = e->hcount;
    out->sum_us = e->hsum;
    out->max_us = e->hmax;
    if (p == NULL) {
        return; /* no bucket used (and no pointer to offset) */
    }
    for (const uint8_t *end = p + e->hlen; p < end;) {
        uint64_t gap, n;

        p = varint_get(p, &gap);
        p = varint_get(p, &n);
        k += gap;
        out->b[k++] = n;
    }
}

static void
boot_clear(struct ctl_health *h, struct hboot *bt)
{
    if (bt->used) {
        bents_free(bt->ents, bt->n);
        h->tracked -= bt->n;
        h->nboots--;
    }
    memset(bt, 0, sizeof(*bt));
}

static ssize_t
agent_pos(const struct ctl_health *h, const char *id, bool *found)
{
    size_t lo = 0, hi = h->nagents;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(h->agents[mid]->id, id);

        if (c == 0) {
            *found = true;
            return (ssize_t) mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return (ssize_t) lo;
}

static struct hagent *
agent_get(const struct ctl_health *h, const char *id)
{
    bool found;
    ssize_t i = agent_pos(h, id, &found);

    return found ? h->agents[i] : NULL;
}

/* Find or add; NULL when full or out of memory. Under h->mu. */
static struct hagent *
agent_add(struct ctl_health *h, const char *id)
{
    struct hagent **na, *a;
    bool found;
    ssize_t i = agent_pos(h, id, &found);

    if (found) {
        return h->agents[i];
    }
    if (h->nagents >= CTL_HEALTH_MAX_AGENTS) {
        return NULL;
    }
    a = rp_calloc(1, sizeof(*a));
    na = rp_realloc(h->agents, (h->nagents + 1) * sizeof(*na));
    if (a == NULL || na == NULL) {
        rp_free(a);
        if (na != NULL) {
            h->agents = na;
        }
        return NULL;
    }
    h->agents = na;
    memcpy(a->id, id, strlen(id) + 1);
    a->idx = (uint32_t) h->nagents; /* agents are never forgotten */
    memmove(&na[i + 1], &na[i], (h->nagents - (size_t) i) * sizeof(*na));
    na[i] = a;
    h->nagents++;
    return a;
}

static ssize_t
flag_pos(const struct ctl_health *h, const char *flag, bool *found)
{
    size_t lo = 0, hi = h->nflags;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(h->flags[mid]->flag, flag);

        if (c == 0) {
            *found = true;
            return (ssize_t) mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = false;
    return (ssize_t) lo;
}

static struct fsum *
flag_get(struct ctl_health *h, const char *flag, bool create)
{
    struct fsum **nf, *f;
    bool found;
    ssize_t i = flag_pos(h, flag, &found);

    if (found) {
        return h->flags[i];
    }
    if (!create || h->nflags >= CTL_HEALTH_MAX_FLAGS) {
        return NULL;
    }
    f = rp_calloc(1, sizeof(*f));
    nf = rp_realloc(h->flags, (h->nflags + 1) * sizeof(*nf));
    if (f == NULL || nf == NULL) {
        rp_free(f);
        if (nf != NULL) {
            h->flags = nf;
        }
        return NULL;
    }
    h->flags = nf;
    memcpy(f->flag, flag, strlen(flag) + 1);
    rp_hist_init(&f->arm[0].s.hist);
    rp_hist_init(&f->arm[1].s.hist);
    memmove(&nf[i + 1], &nf[i], (h->nflags - (size_t) i) * sizeof(*nf));
    nf[i] = f;
    h->nflags++;
    return f;
}

static void
farm_zero(struct farm *fa)
{
    memset(&fa->s, 0, sizeof(fa->s));
    rp_hist_init(&fa->s.hist);
    if (fa->seen != NULL) {
        memset(fa->seen, 0, fa->seen_len);
    }
}

static void
farm_add(struct farm *fa, uint32_t agent, uint64_t ev, uint64_t ok,
    uint64_t err, const struct rp_hist *d)
{
    size_t byte = agent / 8;

    fa->s.evaluations += ev;
    fa->s.successes += ok;
    fa->s.errors += err;
    rp_hist_merge(&fa->s.hist, d);
    if (byte >= fa->seen_len) {
        size_t nl = byte + 64;
        uint8_t *ns = rp_realloc(fa->seen, nl);

        if (ns == NULL) {
            return; /* the agent count is a figure, not a decision */
        }
        memset(ns + fa->seen_len, 0, nl - fa->seen_len);
        fa->seen = ns;
        fa->seen_len = nl;
    }
    if ((fa->seen[byte] & (1u << (agent % 8))) == 0) {
        fa->seen[byte] |= (uint8_t) (1u << (agent % 8));
        fa->s.agents++;
    }
}

/* ------------------------------------------------------------------ */
/* Ingest                                                              */
/* ------------------------------------------------------------------ */

static void
reject_log(struct ctl_health *h, enum ctl_hrej why, const char *detail)
{
    int64_t now = mono_ms();
    uint64_t supp;

    /* under h->mu */
    h->stats.rejected[why]++;
    if (h->rl_ms[why] != 0 && now - h->rl_ms[why] < HEALTH_LOG_WINDOW_MS) {
        h->rl_supp[why]++;
        return;
    }
    supp = h->rl_supp[why];
    h->rl_supp[why] = 0;
    h->rl_ms[why] = now;
    RAMP_LOG(RP_LOG_WARNING, "RAMP-CTL-HEALTH-REJECT",
        "reason=%s %s suppressed=%llu", ctl_hrej_name(why), detail,
        (unsigned long long) supp);
}

static ramp_err
reject(struct ctl_health *h, enum ctl_hrej why, ramp_err rv, enum ctl_hrej *out,
    const char *detail)
{
    pthread_mutex_lock(&h->mu);
    reject_log(h, why, detail);
    pthread_mutex_unlock(&h->mu);
    if (out != NULL) {
        *out = why;
    }
    return rv;
}

/*
 * The report's entries as bents (ownership of the strings moves from r),
 * sorted; RAMP_EPROTO for a duplicate triple.
 */
static ramp_err
bents_from(struct rp_health *r, struct bent **out)
{
    struct bent *e = NULL;
    size_t n = r->nentries;

    *out = NULL;
    if (n == 0) {
        return RAMP_OK;
    }
    e = rp_calloc(n, sizeof(*e));
    if (e == NULL) {
        return RAMP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct rp_health_entry *s = &r->entries[i];

        e[i].flag = s->flag_key;
        e[i].variant = s->variant;
        s->flag_key = NULL;
        s->variant = NULL;
        e[i].arm = s->arm;
        e[i].ev = s->evaluations;
        e[i].ok = s->successes;
        e[i].err = s->errors;
        e[i].hcount = s->hist.count;
        e[i].hsum = s->hist.sum_us;
        e[i].hmax = s->hist.max_us;
        if (hist_pack(&e[i], &s->hist) != RAMP_OK) {
            bents_free(e, n);
            return RAMP_ENOMEM;
        }
    }
    qsort(e, n, sizeof(*e), bent_cmp);
    for (size_t i = 1; i < n; i++) {
        if (bent_cmp(&e[i - 1], &e[i]) == 0) {
            bents_free(e, n);
            return RAMP_EPROTO;
        }
    }
    *out = e;
    return RAMP_OK;
}

/* Add the difference between cur and prev (NULL: zero) of one entry to
 * the sums; under h->mu. A counter below its previous value is a new
 * baseline: nothing is added (never a negative difference). */
static void
take_diff(struct ctl_health *h, const struct hagent *a, const struct bent *cur,
    const struct bent *prev)
{
    struct rp_hist c, p, d;
    struct fsum *f;

    bent_hist(cur, &c);
    if (prev != NULL) {
        bent_hist(prev, &p);
        if (cur->ev < prev->ev || cur->ok < prev->ok || cur->err < prev->err ||
            rp_hist_diff(&d, &c, &p) != RAMP_OK) {
            h->stats.resets++;
            return;
        }
    } else {
        d = c;
    }
    {
        uint64_t ev = cur->ev - (prev != NULL ? prev->ev : 0);
        uint64_t ok = cur->ok - (prev != NULL ? prev->ok : 0);
        uint64_t err = cur->err - (prev != NULL ? prev->err : 0);

        if (ev == 0 && ok == 0 && err == 0 && d.count == 0) {
            return;
        }
        h->stats.arm_evaluations[cur->arm] += ev;
        h->stats.arm_outcomes[cur->arm] += ok + err;
        if (cur->arm != RP_ARM_TREATMENT && cur->arm != RP_ARM_CONTROL) {
            return;
        }
        f = flag_get(h, cur->flag, true);
        if (f == NULL) {
            return; /* beyond CTL_HEALTH_MAX_FLAGS: counted as dropped */
        }
        farm_add(&f->arm[cur->arm == RP_ARM_TREATMENT ? 0 : 1], a->idx, ev,
            ok, err, &d);
    }
}

/* Apply a verified, decoded report from agent id; under h->mu. */
static ramp_err
apply_report(struct ctl_health *h, struct rp_health *r, int64_t now_ms,
    enum ctl_hrej *why)
{
    struct hagent *a;
    struct hboot *bt = NULL;
    struct bent *ne = NULL;
    bool known, counting = true;
    ramp_err rv;

    a = agent_get(h, r->agent_id);
    known = a != NULL;
    if (a == NULL) {
        a = agent_add(h, r->agent_id);
        if (a == NULL) {
            *why = CTL_HREJ_FULL;
            return RAMP_ETOOBIG;
        }
    }
    for (int i = 0; i < CTL_HEALTH_BOOTS; i++) {
        if (a->boots[i].used &&
            memcmp(a->boots[i].id, r->boot_id, sizeof(r->boot_id)) == 0) {
            bt = &a->boots[i];
        }
    }
    if (bt != NULL && r->report_seq <= bt->last_seq) {
        /* Older or equal: a replay or a reordered report. Counters are
         * cumulative, so the newer one already covered it. */
        *why = CTL_HREJ_REPLAY;
        return RAMP_EREPLAY;
    }
    if (h->tracked - (bt != NULL ? bt->n : 0) + r->nentries >
        CTL_HEALTH_MAX_TRACKED) {
        *why = CTL_HREJ_FULL;
        return RAMP_ETOOBIG;
    }
    rv = bents_from(r, &ne);
    if (rv != RAMP_OK) {
        *why = CTL_HREJ_MALFORMED;
        return rv;
    }
    if (bt == NULL) {
        /* A boot not seen before. It counts from zero when it is the
         * boot's first report, or when this controller already knew the
         * agent (the agent restarted while we ran: its counters began at
         * zero). Otherwise (our restart) it only sets the baseline. */
        counting = r->report_seq == 1 || known;
        /* A free slot, else the least recently seen boot goes. */
        bt = &a->boots[0];
        for (int i = 0; i < CTL_HEALTH_BOOTS && bt->used; i++) {
            if (!a->boots[i].used || a->boots[i].last_ms < bt->last_ms) {
                bt = &a->boots[i];
            }
        }
        boot_clear(h, bt);
        bt->used = true;
        memcpy(bt->id, r->boot_id, sizeof(bt->id));
        h->nboots++;
        if (!counting) {
            h->stats.baselines++;
        }
    }
    if (counting) {
        for (size_t i = 0; i < r->nentries; i++) {
            take_diff(h, a, &ne[i], bent_find(bt, &ne[i]));
        }
    }
    bents_free(bt->ents, bt->n);
    h->tracked -= bt->n;
    bt->ents = ne;
    bt->n = r->nentries;
    h->tracked += bt->n;
    bt->last_seq = r->report_seq;
    bt->last_ms = now_ms;
    if (a->reports == 0) {
        h->stats.agents_seen++;
    }
    a->reports++;
    a->last_ms = now_ms;
    return RAMP_OK;
}

static ramp_err
ingest_health(struct ctl_health *h, const uint8_t *msg, size_t n,
    const uint8_t kid[RP_KEYID_LEN], int64_t now_ms, enum ctl_hrej *why)
{
    struct rp_envelope env;
    struct rp_pubkey pub;
    struct rp_health *r = NULL;
    char agent[RP_NAME_MAX + 1];
    char hex[17], detail[256];
    const struct hkey *k;
    enum ctl_hrej w = CTL_HREJ_COUNT;
    ramp_err rv;

    rp_key_id_hex(kid, hex);
    pthread_mutex_lock(&h->mu);
    k = key_find(h, kid);
    if (k != NULL) {
        pub = k->pub;
        memcpy(agent, k->agent, sizeof(agent));
    }
    pthread_mutex_unlock(&h->mu);
    if (k == NULL) {
        snprintf(detail, sizeof(detail), "kind=HEALTH key_id=%s", hex);
        return reject(h, CTL_HREJ_NOT_ENROLLED, RAMP_EKEY, why, detail);
    }
    /* The signature first: nothing of the payload is decoded before. */
    rv = rp_env_open(msg, n, &pub, 1, &env);
    if (rv != RAMP_OK) {
        snprintf(detail, sizeof(detail), "kind=HEALTH agent=%s err=%s", agent,
            ramp_errname(rv));
        return reject(h,
            rv == RAMP_ESIG ? CTL_HREJ_SIGNATURE : CTL_HREJ_MALFORMED, rv,
            why, detail);
    }
    rv = rp_health_decode(env.payload, env.payload_len, &r);
    if (rv != RAMP_OK) {
        snprintf(detail, sizeof(detail), "kind=HEALTH agent=%s err=%s", agent,
            ramp_errname(rv));
        return reject(h,
            rv == RAMP_ETOOBIG ? CTL_HREJ_TOO_BIG : CTL_HREJ_MALFORMED, rv,
            why, detail);
    }
    if (strcmp(r->agent_id, agent) != 0 || env.seq != r->report_seq) {
        snprintf(detail, sizeof(detail),
            "kind=HEALTH agent=%s claimed=%.64s", agent, r->agent_id);
        rp_health_free(r);
        return reject(h, CTL_HREJ_AGENT_MISMATCH, RAMP_EPERM, why, detail);
    }
    pthread_mutex_lock(&h->mu);
    rv = apply_report(h, r, now_ms, &w);
    if (rv == RAMP_OK) {
        h->stats.accepted++;
    } else {
        snprintf(detail, sizeof(detail), "kind=HEALTH agent=%s seq=%llu",
            agent, (unsigned long long) r->report_seq);
        reject_log(h, w, detail);
        if (why != NULL) {
            *why = w;
        }
    }
    pthread_mutex_unlock(&h->mu);
    rp_health_free(r);
    return rv;
}

static ramp_err
ingest_enroll(struct ctl_health *h, const uint8_t *msg, size_t n,
    const uint8_t kid[RP_KEYID_LEN], const uint8_t *pay, size_t plen,
    int64_t now_ms, enum ctl_hrej *why)
{
    struct rp_enroll e;
    struct rp_pubkey pub;
    struct rp_envelope env;
    const struct hkey *k;
    char detail[256];
    ramp_err rv;

    if (plen > HEALTH_ENROLL_MAX) {
        return reject(h, CTL_HREJ_TOO_BIG, RAMP_ETOOBIG, why, "kind=ENROLL");
    }
    /* The key is in the payload, so the payload is decoded first; it is
     * small and capped, and nothing in it is trusted until the signature
     * by that very key verifies (proof of possession). */
    rv = rp_enroll_decode(pay, plen, &e);
    if (rv != RAMP_OK) {
        return reject(h, CTL_HREJ_MALFORMED, rv, why, "kind=ENROLL");
    }
    memcpy(pub.pk, e.pk, RP_PK_LEN);
    rp_key_id(pub.pk, pub.id);
    if (memcmp(pub.id, kid, RP_KEYID_LEN) != 0) {
        return reject(h, CTL_HREJ_MALFORMED, RAMP_EPROTO, why,
            "kind=ENROLL msg=\"key id is not the key's\"");
    }
    rv = rp_env_open(msg, n, &pub, 1, &env);
    if (rv != RAMP_OK) {
        snprintf(detail, sizeof(detail), "kind=ENROLL agent=%s err=%s",
            e.agent_id, ramp_errname(rv));
        return reject(h,
            rv == RAMP_ESIG ? CTL_HREJ_SIGNATURE : CTL_HREJ_MALFORMED, rv,
            why, detail);
    }
    pthread_mutex_lock(&h->mu);
    (void) key_find(h, kid); /* fresh keys if due */
    k = key_by_agent(h, e.agent_id);
    if (k != NULL) {
        bool same = memcmp(k->pub.pk, e.pk, RP_PK_LEN) == 0;

        pthread_mutex_unlock(&h->mu);
        if (same) {
            /* Already enrolled with this key: nothing to do (an agent
             * repeats its ENROLL every 30 s whatever our mode). */
            pthread_mutex_lock(&h->mu);
            h->stats.accepted++;
            pthread_mutex_unlock(&h->mu);
            return RAMP_OK;
        }
        snprintf(detail, sizeof(detail),
            "kind=ENROLL agent=%s msg=\"enrolled with another key\"",
            e.agent_id);
        return reject(h, CTL_HREJ_AGENT_MISMATCH, RAMP_EEXIST, why, detail);
    }
    k = key_by_id(h, kid);
    if (k != NULL) {
        snprintf(detail, sizeof(detail),
            "kind=ENROLL agent=%s msg=\"key enrolled as %s\"", e.agent_id,
            k->agent);
        pthread_mutex_unlock(&h->mu);
        return reject(h, CTL_HREJ_AGENT_MISMATCH, RAMP_EEXIST, why, detail);
    }
    pthread_mutex_unlock(&h->mu);
    if (!h->open_enrollment || h->st == NULL) {
        snprintf(detail, sizeof(detail), "kind=ENROLL agent=%s", e.agent_id);
        return reject(h, CTL_HREJ_NOT_ENROLLED, RAMP_EPERM, why, detail);
    }
    rv = ctl_store_agent_enroll(h->st, e.agent_id, e.pk, e.host,
        "open-enrollment", now_ms);
    pthread_mutex_lock(&h->mu);
    keys_load(h);
    if (rv == RAMP_EEXIST) {
        /* Enrolled meanwhile (the API, or a twin): judge again. */
        k = key_by_agent(h, e.agent_id);
        rv = k != NULL && memcmp(k->pub.pk, e.pk, RP_PK_LEN) == 0
            ? RAMP_OK
            : RAMP_EEXIST;
    } else if (rv == RAMP_OK) {
        char hex[17];

        h->stats.enrolled++;
        rp_key_id_hex(kid, hex);
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-CTL-HEALTH-ENROLLED",
            "agent=%s host=%s key_id=%s actor=open-enrollment", e.agent_id,
            e.host, hex);
    }
    if (rv == RAMP_OK) {
        h->stats.accepted++;
        pthread_mutex_unlock(&h->mu);
        return RAMP_OK;
    }
    snprintf(detail, sizeof(detail), "kind=ENROLL agent=%s err=%s",
        e.agent_id, ramp_errname(rv));
    reject_log(h,
        rv == RAMP_EEXIST ? CTL_HREJ_AGENT_MISMATCH : CTL_HREJ_MALFORMED,
        detail);
    pthread_mutex_unlock(&h->mu);
    if (why != NULL) {
        *why = rv == RAMP_EEXIST ? CTL_HREJ_AGENT_MISMATCH : CTL_HREJ_MALFORMED;
    }
    return rv;
}

ramp_err
ctl_health_ingest(struct ctl_health *h, const uint8_t *msg, size_t n,
    int64_t now_ms, enum ctl_hrej *why)
{
    uint8_t kid[RP_KEYID_LEN];
    const uint8_t *pay;
    size_t plen;
    unsigned kind;
    ramp_err rv;

    if (h == NULL || (msg == NULL && n > 0)) {
        return RAMP_EINVAL;
    }
    pthread_mutex_lock(&h->mu);
    h->stats.received++;
    pthread_mutex_unlock(&h->mu);
    if (n > h->recv_max) {
        return reject(h, CTL_HREJ_TOO_BIG, RAMP_ETOOBIG, why, "kind=?");
    }
    rv = rp_env_peek(msg, n, &kind, kid, &pay, &plen);
    if (rv != RAMP_OK) {
        return reject(h,
            rv == RAMP_ETOOBIG ? CTL_HREJ_TOO_BIG : CTL_HREJ_MALFORMED,
            rv == RAMP_ENOMEM ? rv : RAMP_EPROTO, why, "kind=?");
    }
    switch (kind) {
    case RP_KIND_HEALTH:
        return ingest_health(h, msg, n, kid, now_ms, why);
    case RP_KIND_ENROLL:
        return ingest_enroll(h, msg, n, kid, pay, plen, now_ms, why);
    default: {
        char detail[32];

        snprintf(detail, sizeof(detail), "kind=%s", rp_kind_name(kind));
        return reject(h, CTL_HREJ_KIND, RAMP_ETYPE, why, detail);
    }
    }
}

/* ------------------------------------------------------------------ */
/* The rollout engine's side and stats                                 */
/* ------------------------------------------------------------------ */

static void
sum_zero(struct ctl_arm_sum *s)
{
    memset(s, 0, sizeof(*s));
    rp_hist_init(&s->hist);
}

void
ctl_health_drain(struct ctl_health *h, const char *flag,
    struct ctl_arm_sum *t, struct ctl_arm_sum *c)
{
    struct fsum *f;

    if (t != NULL) {
        sum_zero(t);
    }
    if (c != NULL) {
        sum_zero(c);
    }
    if (h == NULL || flag == NULL) {
        return;
    }
    pthread_mutex_lock(&h->mu);
    f = flag_get(h, flag, false);
    if (f != NULL) {
        if (t != NULL) {
            *t = f->arm[0].s;
        }
        if (c != NULL) {
            *c = f->arm[1].s;
        }
        farm_zero(&f->arm[0]);
        farm_zero(&f->arm[1]);
    }
    pthread_mutex_unlock(&h->mu);
}

void
ctl_health_reset(struct ctl_health *h, const char *flag)
{
    ctl_health_drain(h, flag, NULL, NULL);
}

void
ctl_health_stats(struct ctl_health *h, struct ctl_health_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (h == NULL) {
        return;
    }
    pthread_mutex_lock(&h->mu);
    *out = h->stats;
    out->boots = h->nboots;
    out->tracked = (uint32_t) h->tracked;
    out->flags = (uint32_t) h->nflags;
    pthread_mutex_unlock(&h->mu);
}

bool
ctl_health_agent_seen(struct ctl_health *h, const char *id, int64_t *last_ms,
    uint64_t *reports)
{
    const struct hagent *a;
    bool seen = false;

    if (h == NULL || id == NULL) {
        return false;
    }
    pthread_mutex_lock(&h->mu);
    a = agent_get(h, id);
    if (a != NULL && a->reports > 0) {
        seen = true;
        if (last_ms != NULL) {
            *last_ms = a->last_ms;
        }
        if (reports != NULL) {
            *reports = a->reports;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return seen;
}

/* ------------------------------------------------------------------ */
/* Socket and life                                                     */
/* ------------------------------------------------------------------ */

static void *
health_main(void *arg)
{
    struct ctl_health *h = arg;

    while (!atomic_load(&h->stop)) {
        nng_msg *m = NULL;
        int rc = nng_recvmsg(h->sock, &m, 0);

        if (rc == NNG_ETIMEDOUT) {
            continue;
        }
        if (rc == NNG_ECLOSED) {
            break;
        }
        if (rc != 0) {
            continue; /* oversize (RECVMAXSZ drops it in nng) and such */
        }
        (void) ctl_health_ingest(h, nng_msg_body(m), nng_msg_len(m),
            wall_ms(), NULL);
        nng_msg_free(m);
    }
    return NULL;
}

ramp_err
ctl_health_open(const struct ctl_health_opts *o, struct ctl_health **out)
{
    struct ctl_health *h;
    ramp_err rv = RAMP_OK;
    int rc;

    if (o == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    h = rp_calloc(1, sizeof(*h));
    if (h == NULL) {
        return RAMP_ENOMEM;
    }
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        rp_free(h);
        return RAMP_ENOMEM;
    }
    h->st = o->store;
    h->open_enrollment = o->open_enrollment;
    h->recv_max = o->recv_max != 0 ? o->recv_max : CTL_HEALTH_RECV_DEFAULT;
    keys_load(h);
    if (o->url != NULL) {
        rc = nng_pull0_open(&h->sock);
        if (rc == 0) {
            h->sock_open = true;
            /* Unset, one hostile header makes nng allocate gigabytes
             * (DESIGN §10). */
            rc = nng_socket_set_size(h->sock, NNG_OPT_RECVMAXSZ, h->recv_max);
        }
        if (rc == 0) {
            rc = nng_socket_set_ms(h->sock, NNG_OPT_RECVTIMEO,
                HEALTH_RECV_TICK_MS);
        }
        if (rc == 0) {
            rc = nng_socket_set_int(h->sock, NNG_OPT_RECVBUF, 1024);
        }
        if (rc == 0) {
            rc = nng_listen(h->sock, o->url, NULL, 0);
        }
        if (rc != 0) {
            RAMP_LOG(RP_LOG_ERR, "RAMP-HEALTH-LISTEN-FAIL",
                "url=%s err=\"%s\"", o->url, nng_strerror(rc));
            rv = rc == NNG_EADDRINUSE ? RAMP_EEXIST : RAMP_EIO;
            goto fail;
        }
        if (pthread_create(&h->thr, NULL, health_main, h) != 0) {
            rv = RAMP_ESYSTEM;
            goto fail;
        }
        h->thr_started = true;
        RAMP_LOG(RP_LOG_INFO, "RAMP-HEALTH-LISTEN",
            "url=%s recv_max=%zu agents=%zu open_enrollment=%d", o->url,
            h->recv_max, h->nkeys, (int) h->open_enrollment);
    }
    *out = h;
    return RAMP_OK;

fail:
    ctl_health_close(h);
    return rv;
}

void
ctl_health_close(struct ctl_health *h)
{
    if (h == NULL) {
        return;
    }
    atomic_store(&h->stop, true);
    if (h->thr_started) {
        pthread_join(h->thr, NULL); /* before the close: see agent/sub.c */
    }
    if (h->sock_open) {
        nng_close(h->sock);
    }
    for (size_t i = 0; i < h->nagents; i++) {
        for (int b = 0; b < CTL_HEALTH_BOOTS; b++) {
            boot_clear(h, &h->agents[i]->boots[b]);
        }
        rp_free(h->agents[i]);
    }
    rp_free(h->agents);
    for (size_t i = 0; i < h->nflags; i++) {
        rp_free(h->flags[i]->arm[0].seen);
        rp_free(h->flags[i]->arm[1].seen);
        rp_free(h->flags[i]);
    }
    rp_free(h->flags);
    rp_free(h->keys);
    pthread_mutex_destroy(&h->mu);
    rp_free(h);
}
