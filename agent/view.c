/* SPDX-License-Identifier: MIT */
/*
 * The evaluation-ready view of the agent's state (view.h): a sorted array
 * of refcounted entries, each a prepared flag with its rollout resolved.
 * Not here: LMDB (cache.c), the protocol (query.c), evaluation (proto).
 *
 * Two levels of refcount. A view is held by whoever reads it (a query,
 * libramp's current pointer, a viewref); an entry is held by every view
 * that contains it, so a refresh that finds a flag unchanged shares the
 * entry instead of keeping a second decoded copy. Both counts are C11
 * atomics: views are released from any thread.
 */
#include "view.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

/* The public agt_entry first, so &ent->e converts back by a cast. */
struct view_ent {
    struct agt_entry e;
    size_t key_len;        /* strlen(e.flag->key), for compares */
    atomic_uint ref;       /* views containing this entry */
};

struct agt_view {
    atomic_uint ref;         /* holders */
    uint64_t seq;            /* cache seq the view reflects */
    size_t n;                /* entries in use */
    size_t cap;              /* entries allocated */
    struct view_ent **ents;  /* owned holds; sorted by key (memcmp, LMDB's) */
    char host[AGT_HOST_MAX + 1];
};

struct agt_viewref {
    pthread_mutex_t mu;      /* guards v and taking a hold on it */
    struct agt_view *v;      /* one hold owned by the ref; may be NULL */
};

/* LMDB's default order: bytes, then the shorter key first. */
static int
view_keycmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int d = memcmp(a, b, alen < blen ? alen : blen);

    if (d != 0) {
        return d;
    }
    return (alen > blen) - (alen < blen);
}

static void
ent_rele(struct view_ent *e)
{
    if (atomic_fetch_sub_explicit(&e->ref, 1, memory_order_acq_rel) != 1) {
        return;
    }
    rp_rollout_free((struct rp_rollout *) e->e.rollout);
    rp_flag_free((struct rp_flag *) e->e.flag);
    rp_free(e);
}

static void
view_free(struct agt_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        ent_rele(v->ents[i]);
    }
    rp_free(v->ents);
    rp_free(v);
}

void
agt_view_hold(struct agt_view *v)
{
    atomic_fetch_add_explicit(&v->ref, 1, memory_order_relaxed);
}

void
agt_view_rele(struct agt_view *v)
{
    if (v == NULL) {
        return;
    }
    if (atomic_fetch_sub_explicit(&v->ref, 1, memory_order_acq_rel) == 1) {
        view_free(v);
    }
}

uint64_t
agt_view_seq(const struct agt_view *v)
{
    return v != NULL ? v->seq : 0;
}

size_t
agt_view_count(const struct agt_view *v)
{
    return v != NULL ? v->n : 0;
}

const char *
agt_view_host(const struct agt_view *v)
{
    return v != NULL ? v->host : "";
}

/* Index of the first entry whose key is >= (key, len); v->n if none. */
static size_t
view_lower(const struct agt_view *v, const char *key, size_t len)
{
    size_t lo = 0;
    size_t hi = v->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct view_ent *e = v->ents[mid];

        if (view_keycmp(e->e.flag->key, e->key_len, key, len) < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

const struct agt_entry *
agt_view_get(const struct agt_view *v, const char *key, size_t keylen)
{
    size_t i;

    if (v == NULL || key == NULL) {
        return NULL;
    }
    i = view_lower(v, key, keylen);
    if (i < v->n && v->ents[i]->key_len == keylen &&
        memcmp(v->ents[i]->e.flag->key, key, keylen) == 0) {
        return &v->ents[i]->e;
    }
    return NULL;
}

const struct agt_entry *
agt_view_at(const struct agt_view *v, size_t i)
{
    if (v == NULL || i >= v->n) {
        return NULL;
    }
    return &v->ents[i]->e;
}

struct view_build {
    struct agt_view *v;          /* being built */
    const struct agt_view *prev; /* lender, may be NULL */
    size_t pi;                   /* merge cursor into prev (keys ascend) */
};

static ramp_err
view_push(struct agt_view *v, struct view_ent *e)
{
    if (v->n == v->cap) {
        size_t cap = v->cap == 0 ? 64 : v->cap * 2;
        struct view_ent **n = rp_realloc(v->ents, cap * sizeof(*n));

        if (n == NULL) {
            return RAMP_ENOMEM;
        }
        v->ents = n;
        v->cap = cap;
    }
    v->ents[v->n++] = e;
    return RAMP_OK;
}

/* The entry of prev for this key when its versions match, else NULL. */
static struct view_ent *
view_reusable(struct view_build *b, const struct rp_flag *f,
    const struct rp_rollout *r, size_t key_len)
{
    const struct agt_view *p = b->prev;
    struct view_ent *e;

    if (p == NULL) {
        return NULL;
    }
    /* foreach walks keys in order, so a cursor finds each key in
     * amortised O(1); fall back to a search if the order surprises us. */
    while (b->pi < p->n &&
           view_keycmp(p->ents[b->pi]->e.flag->key, p->ents[b->pi]->key_len,
               f->key, key_len) < 0) {
        b->pi++;
    }
    if (b->pi >= p->n ||
        view_keycmp(p->ents[b->pi]->e.flag->key, p->ents[b->pi]->key_len,
            f->key, key_len) != 0) {
        size_t i = view_lower(p, f->key, key_len);

        if (i >= p->n || p->ents[i]->key_len != key_len ||
            memcmp(p->ents[i]->e.flag->key, f->key, key_len) != 0) {
            return NULL;
        }
        e = p->ents[i];
    } else {
        e = p->ents[b->pi];
    }
    if (e->e.flag->version != f->version) {
        return NULL;
    }
    if ((e->e.rollout == NULL) != (r == NULL)) {
        return NULL;
    }
    if (r != NULL && e->e.rollout->version != r->version) {
        return NULL;
    }
    return e;
}

static ramp_err
view_each(struct rp_flag *f, struct rp_rollout *r, void *arg)
{
    struct view_build *b = arg;
    size_t key_len = strlen(f->key);
    struct view_ent *e = view_reusable(b, f, r, key_len);
    ramp_err rv;

    if (e != NULL) {
        /* Unchanged: share the decoded entry, drop the fresh copy. */
        rv = view_push(b->v, e);
        if (rv == RAMP_OK) {
            atomic_fetch_add_explicit(&e->ref, 1, memory_order_relaxed);
        }
        rp_flag_free(f);
        rp_rollout_free(r);
        return rv;
    }
    e = rp_calloc(1, sizeof(*e));
    if (e == NULL) {
        rp_flag_free(f);
        rp_rollout_free(r);
        return RAMP_ENOMEM;
    }
    e->e.flag = f;
    e->e.rollout = r;
    e->key_len = key_len;
    atomic_init(&e->ref, 1);
    if (r != NULL && rp_rollout_view(r, f, &e->e.ro) != RAMP_OK) {
        /* The rollout names variants this flag revision lacks: it does
         * not apply (rp_rollout_view set applies = false). */
        RAMP_LOG(RP_LOG_WARNING, "RAMP-VIEW-ROLLOUT",
            "flag=%s rollout=%llu reason=variants", f->key,
            (unsigned long long) r->id);
    }
    rv = view_push(b->v, e);
    if (rv != RAMP_OK) {
        ent_rele(e);
    }
    return rv;
}

static int
view_sortcmp(const void *a, const void *b)
{
    const struct view_ent *x = *(const struct view_ent *const *) a;
    const struct view_ent *y = *(const struct view_ent *const *) b;

    return view_keycmp(x->e.flag->key, x->key_len, y->e.flag->key, y->key_len);
}

ramp_err
agt_view_load(struct agt_cache *c, const struct agt_view *prev,
    struct agt_view **out)
{
    struct view_build b = {.prev = prev};
    ramp_err rv;

    if (c == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    b.v = rp_calloc(1, sizeof(*b.v));
    if (b.v == NULL) {
        return RAMP_ENOMEM;
    }
    atomic_init(&b.v->ref, 1);
    rv = agt_cache_foreach(c, view_each, &b, &b.v->seq);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = agt_cache_host(c, b.v->host);
    if (rv != RAMP_OK) {
        goto fail;
    }
    for (size_t i = 1; i < b.v->n; i++) {
        if (view_sortcmp(&b.v->ents[i - 1], &b.v->ents[i]) >= 0) {
            /* LMDB hands keys in order; never seen otherwise, but
             * lookups depend on it, so do not trust it blindly. */
            qsort(b.v->ents, b.v->n, sizeof(*b.v->ents), view_sortcmp);
            break;
        }
    }
    *out = b.v;
    return RAMP_OK;

fail:
    view_free(b.v);
    return rv;
}

ramp_err
agt_viewref_new(struct agt_viewref **out)
{
    struct agt_viewref *r;

    if (out == NULL) {
        return RAMP_EINVAL;
    }
    r = rp_calloc(1, sizeof(*r));
    if (r == NULL) {
        return RAMP_ENOMEM;
    }
    if (pthread_mutex_init(&r->mu, NULL) != 0) {
        rp_free(r);
        return RAMP_ENOMEM;
    }
    *out = r;
    return RAMP_OK;
}

void
agt_viewref_free(struct agt_viewref *r)
{
    if (r == NULL) {
        return;
    }
    agt_view_rele(r->v);
    pthread_mutex_destroy(&r->mu);
    rp_free(r);
}

/*
 * A mutex rather than a lock-free scheme: the hold must be taken before
 * a concurrent set can drop the ref's own hold, and a plain atomic load
 * followed by an increment races with that free. The critical section is
 * two loads and one increment; the query path pays it once per request.
 */
struct agt_view *
agt_viewref_get(struct agt_viewref *r)
{
    struct agt_view *v;

    pthread_mutex_lock(&r->mu);
    v = r->v;
    if (v != NULL) {
        agt_view_hold(v);
    }
    pthread_mutex_unlock(&r->mu);
    return v;
}

void
agt_viewref_set(struct agt_viewref *r, struct agt_view *v)
{
    struct agt_view *old;

    pthread_mutex_lock(&r->mu);
    old = r->v;
    r->v = v;
    pthread_mutex_unlock(&r->mu);
    agt_view_rele(old); /* outside the lock: may free a large view */
}
