/* SPDX-License-Identifier: MIT */
/*
 * Fixed log-linear latency histogram (scheme in hist.h) and its msgpack
 * form. Everything here is integer arithmetic on a fixed array, so
 * recording allocates nothing and every process agrees on bucket edges.
 * Not here: per-(flag, variant) bookkeeping (agent reporter) or the
 * statistics that compare arms (rollout engine).
 *
 * Edge cases of the scheme, fixed here because hist.h leaves them open:
 * - Bucket 364 holds 58720256..60000000: its natural upper edge
 *   (60817407) is cut at RP_HIST_MAX_US, because larger values go to the
 *   overflow bucket.
 * - Buckets 365..367 lie wholly above RP_HIST_MAX_US, so rp_hist_index()
 *   never returns them. Their lo/hi keep the formula values so that the
 *   upper edges keep increasing across the whole array (exporters use hi
 *   as a Prometheus "le" bound); they count zero unless a peer sent
 *   counts for them (the wire format allows any index below
 *   RP_HIST_NBUCKETS).
 * - The overflow bucket spans RP_HIST_MAX_US + 1 .. UINT64_MAX and its
 *   quantile value is RP_HIST_MAX_US.
 */
#include "hist.h"

#include <math.h>
#include <string.h>

#define HIST_EXACT 16   /* values below this have their own bucket */
#define HIST_SUB_BITS 4 /* 16 sub-buckets per power of two */

static uint64_t
hist_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t
hist_mul(uint64_t a, uint64_t b)
{
    if (a != 0 && b > UINT64_MAX / a) {
        return UINT64_MAX;
    }
    return a * b;
}

static unsigned
hist_log2(uint64_t v)
{
    /* v >= 16 here; the builtin is undefined for 0 only. */
    return 63u - (unsigned) __builtin_clzll(v);
}

void
rp_hist_init(struct rp_hist *h)
{
    memset(h, 0, sizeof(*h));
}

unsigned
rp_hist_index(uint64_t us)
{
    unsigned e;

    if (us < HIST_EXACT) {
        return (unsigned) us;
    }
    if (us > RP_HIST_MAX_US) {
        return RP_HIST_OVERFLOW;
    }
    e = hist_log2(us);
    return HIST_EXACT + (e - HIST_SUB_BITS) * 16 +
           (unsigned) ((us >> (e - HIST_SUB_BITS)) & 15);
}

uint64_t
rp_hist_bucket_lo(unsigned idx)
{
    unsigned e;
    unsigned sub;

    if (idx < HIST_EXACT) {
        return idx;
    }
    if (idx >= RP_HIST_OVERFLOW) {
        return RP_HIST_MAX_US + 1;
    }
    e = (idx - HIST_EXACT) / 16 + HIST_SUB_BITS;
    sub = (idx - HIST_EXACT) % 16;
    /* [2^e, 2^(e+1)) in 16 steps of 2^(e-4): lo = (16 + sub) << (e-4) */
    return (uint64_t) (16 + sub) << (e - HIST_SUB_BITS);
}

uint64_t
rp_hist_bucket_hi(unsigned idx)
{
    uint64_t lo;
    uint64_t hi;
    unsigned e;

    if (idx < HIST_EXACT) {
        return idx;
    }
    if (idx >= RP_HIST_OVERFLOW) {
        return UINT64_MAX;
    }
    e = (idx - HIST_EXACT) / 16 + HIST_SUB_BITS;
    lo = rp_hist_bucket_lo(idx);
    hi = lo + ((uint64_t) 1 << (e - HIST_SUB_BITS)) - 1;
    /* Only bucket 364 straddles the cut; 365..367 lie above it. */
    if (lo <= RP_HIST_MAX_US && hi > RP_HIST_MAX_US) {
        hi = RP_HIST_MAX_US;
    }
    return hi;
}

/* The value a quantile reports for a bucket. */
static uint64_t
hist_value(unsigned idx)
{
    uint64_t lo;

    lo = rp_hist_bucket_lo(idx);
    if (lo > RP_HIST_MAX_US) {
        return RP_HIST_MAX_US; /* overflow, or 365..367 from a peer */
    }
    return lo + (rp_hist_bucket_hi(idx) - lo) / 2;
}

void
rp_hist_record_n(struct rp_hist *h, uint64_t us, uint64_t n)
{
    unsigned i;

    if (n == 0) {
        return;
    }
    i = rp_hist_index(us);
    h->b[i] = hist_add(h->b[i], n);
    h->count = hist_add(h->count, n);
    h->sum_us = hist_add(h->sum_us, hist_mul(us, n));
    if (us > h->max_us) {
        h->max_us = us;
    }
}

void
rp_hist_record(struct rp_hist *h, uint64_t us)
{
    rp_hist_record_n(h, us, 1);
}

void
rp_hist_merge(struct rp_hist *dst, const struct rp_hist *src)
{
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        dst->b[i] = hist_add(dst->b[i], src->b[i]);
    }
    dst->count = hist_add(dst->count, src->count);
    dst->sum_us = hist_add(dst->sum_us, src->sum_us);
    if (src->max_us > dst->max_us) {
        dst->max_us = src->max_us;
    }
}

/*
 * A maximum cannot be subtracted. The difference's max_us is the best
 * bound we can give: a's max, lowered to the top edge of the highest
 * non-empty bucket of the difference. It always falls in the same
 * bucket as the true maximum of the interval, and is 0 when the
 * difference is empty. The sum counts as a counter too: if it went
 * backwards, so did the agent.
 */
ramp_err
rp_hist_diff(
    struct rp_hist *dst, const struct rp_hist *a, const struct rp_hist *b)
{
    uint64_t max = a->max_us;
    uint64_t top;
    int last = -1;

    if (b->count > a->count || b->sum_us > a->sum_us) {
        goto fail;
    }
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        if (b->b[i] > a->b[i]) {
            goto fail;
        }
    }
    /* Element by element, reading before writing, so dst may alias. */
    dst->count = a->count - b->count;
    dst->sum_us = a->sum_us - b->sum_us;
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        dst->b[i] = a->b[i] - b->b[i];
        if (dst->b[i] != 0) {
            last = (int) i;
        }
    }
    if (last < 0) {
        max = 0;
    } else {
        top = rp_hist_bucket_hi((unsigned) last);
        if (top < max) {
            max = top;
        }
    }
    dst->max_us = max;
    return RAMP_OK;

fail:
    rp_hist_init(dst);
    return RAMP_EINVAL;
}

/*
 * rank = ceil(q * count), at least 1: the smallest value with at least
 * a fraction q of the data at or below it (the "nearest rank" method),
 * so the answer is always the bucket of an actual observation.
 */
uint64_t
rp_hist_quantile(const struct rp_hist *h, double q)
{
    uint64_t rank;
    uint64_t seen = 0;
    unsigned last = 0;
    double r;

    if (h->count == 0) {
        return 0;
    }
    if (!(q > 0.0)) { /* also NaN */
        rank = 1;
    } else if (q >= 1.0) {
        rank = h->count;
    } else {
        r = ceil(q * (double) h->count);
        /* (double) UINT64_MAX rounds up to 2^64: compare before casting */
        rank = r >= (double) h->count ? h->count : (uint64_t) r;
        if (rank == 0) {
            rank = 1;
        }
    }
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        if (h->b[i] == 0) {
            continue;
        }
        last = i;
        seen = hist_add(seen, h->b[i]);
        if (seen >= rank) {
            return hist_value(i);
        }
    }
    /* Only if count exceeds the bucket total (a saturated counter). */
    return hist_value(last);
}

uint64_t
rp_hist_count_above(const struct rp_hist *h, uint64_t us)
{
    uint64_t n = 0;

    /* Bucket edges increase with the index, so "lowest value above the
     * upper bound of us's bucket" is exactly "higher index". */
    for (unsigned i = rp_hist_index(us) + 1; i < RP_HIST_NBUCKETS; i++) {
        n = hist_add(n, h->b[i]);
    }
    return n;
}

void
rp_hist_pack(struct rp_pack *p, const struct rp_hist *h)
{
    size_t nz = 0;

    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        if (h->b[i] != 0) {
            nz++;
        }
    }
    rp_pack_array(p, 4);
    rp_pack_u64(p, h->count);
    rp_pack_u64(p, h->sum_us);
    rp_pack_u64(p, h->max_us);
    rp_pack_array(p, 2 * nz);
    for (unsigned i = 0; i < RP_HIST_NBUCKETS; i++) {
        if (h->b[i] != 0) {
            rp_pack_u64(p, i);
            rp_pack_u64(p, h->b[i]);
        }
    }
}

/*
 * Reports come from agents, so every invariant the rest of the
 * controller relies on is checked here: sorted unique indexes in range,
 * no empty entries (one encoding per histogram), and a count that is
 * exactly the bucket total (no overflow allowed in that sum).
 */
ramp_err
rp_hist_from_obj(const msgpack_object *o, struct rp_hist *h)
{
    const msgpack_object *f;
    const msgpack_object *bk;
    size_t n;
    size_t nb;
    uint64_t total = 0;
    uint64_t prev = 0;
    ramp_err rv;

    rp_hist_init(h);
    rv = rp_obj_array(o, 4, 0, &f, &n);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_obj_u64(&f[0], &h->count);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_obj_u64(&f[1], &h->sum_us);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_obj_u64(&f[2], &h->max_us);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = rp_obj_array(&f[3], 0, 2 * RP_HIST_NBUCKETS, &bk, &nb);
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (nb % 2 != 0) {
        rv = RAMP_EPROTO;
        goto fail;
    }
    for (size_t j = 0; j < nb; j += 2) {
        uint64_t idx;
        uint64_t cnt;

        rv = rp_obj_u64(&bk[j], &idx);
        if (rv != RAMP_OK) {
            goto fail;
        }
        rv = rp_obj_u64(&bk[j + 1], &cnt);
        if (rv != RAMP_OK) {
            goto fail;
        }
        if (idx >= RP_HIST_NBUCKETS || (j > 0 && idx <= prev) || cnt == 0 ||
            cnt > UINT64_MAX - total) {
            rv = RAMP_EPROTO;
            goto fail;
        }
        h->b[idx] = cnt;
        total += cnt;
        prev = idx;
    }
    if (total != h->count) {
        rv = RAMP_EPROTO;
        goto fail;
    }
    return RAMP_OK;

fail:
    rp_hist_init(h);
    return rv;
}
