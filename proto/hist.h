/* SPDX-License-Identifier: MIT */
/*
 * Latency histogram with fixed log-linear buckets shared by every process
 * (HDR-style): values in microseconds; 0..15 us get exact buckets; above,
 * each power of two [2^e, 2^(e+1)) is split into 16 equal sub-buckets.
 * A quantile reports its bucket's midpoint, so the relative error is at
 * most 1/32 (3.2%) from 16 us to 60 s, and exact below 16 us. Values
 * above RP_HIST_MAX_US land in the overflow bucket (reported as
 * RP_HIST_MAX_US). Merge is element-wise addition, so the histogram of a
 * union is the sum of the histograms.
 *
 * Bucket index of v (us): v < 16 -> v; else with e = floor(log2 v):
 *   16 + (e - 4) * 16 + ((v >> (e - 4)) & 15)
 * 60 s falls in bucket 364, whose top is clamped to RP_HIST_MAX_US; the
 * regular buckets 365..367 lie wholly above 60 s, so recording never
 * fills them (a decoder still accepts them, and reports them as 60 s).
 * They keep their formula edges so upper edges rise across the array.
 */
#ifndef RP_HIST_H
#define RP_HIST_H

#include <stddef.h>
#include <stdint.h>

#include "mp.h"
#include "ramp/err.h"

#define RP_HIST_MAX_US 60000000ULL /* 60 s */
/* floor(log2(60e6)) = 25 -> last regular index 16 + 21*16 + 15 = 367 */
#define RP_HIST_NREG 368
#define RP_HIST_OVERFLOW RP_HIST_NREG
#define RP_HIST_NBUCKETS (RP_HIST_NREG + 1)

struct rp_hist {
    uint64_t count;             /* sum of buckets */
    uint64_t sum_us;            /* saturating sum of recorded values */
    uint64_t max_us;            /* largest recorded value */
    uint64_t b[RP_HIST_NBUCKETS];
};

void rp_hist_init(struct rp_hist *h);
unsigned rp_hist_index(uint64_t us);
uint64_t rp_hist_bucket_lo(unsigned idx);  /* lowest value in bucket */
uint64_t rp_hist_bucket_hi(unsigned idx);  /* highest value in bucket */
void rp_hist_record(struct rp_hist *h, uint64_t us);
void rp_hist_record_n(struct rp_hist *h, uint64_t us, uint64_t n);
/* dst += src; counts saturate at UINT64_MAX */
void rp_hist_merge(struct rp_hist *dst, const struct rp_hist *src);
/* dst = a - b element-wise; RAMP_EINVAL if any bucket of b exceeds a's
 * (a counter went backwards: a new boot) and dst is then zeroed */
ramp_err rp_hist_diff(struct rp_hist *dst, const struct rp_hist *a,
    const struct rp_hist *b);
/* q in [0,1]; 0 for an empty histogram */
uint64_t rp_hist_quantile(const struct rp_hist *h, double q);
/* Number of recorded values strictly above the bucket containing us
 * (used to compare arms against control's p95 edge). */
uint64_t rp_hist_count_above(const struct rp_hist *h, uint64_t us);

/*
 * msgpack form: [count, sum_us, max_us, [idx0, n0, idx1, n1, ...]] with
 * strictly increasing indexes < RP_HIST_NBUCKETS and n > 0 (sparse).
 * Decoding checks all of that and that the counts sum to count; unknown
 * trailing elements of the outer array are ignored.
 */
void rp_hist_pack(struct rp_pack *p, const struct rp_hist *h);
/* Decode from an unpacked object: RAMP_OK or RAMP_EPROTO (h zeroed). */
ramp_err rp_hist_from_obj(const msgpack_object *o, struct rp_hist *h);

#endif
