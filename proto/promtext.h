/* SPDX-License-Identifier: MIT */
/*
 * Writers for the Prometheus text exposition format (version 0.0.4) into
 * a bounded rp_buf. Every daemon module that exports metrics renders its
 * own families with these; the HTTP side only concatenates them.
 *
 * A family is one header (# HELP, # TYPE) followed by its samples, all
 * with the family's name (histograms add _bucket, _sum and _count).
 * Prometheus rejects a scrape whose family appears twice, so a renderer
 * writes each family exactly once, with all of its label sets.
 *
 * Names are checked ([a-zA-Z_:][a-zA-Z0-9_:]*, label names without ':'
 * and not starting with "__"); label values and help text are escaped
 * here, so any bytes a flag key holds are safe to pass. `promtool check
 * metrics` also wants counters named *_total and units in names
 * (_seconds, _bytes): that is the caller's choice of name.
 *
 * Every function appends on RAMP_OK, and on error leaves out exactly as
 * it was (RAMP_EINVAL for a bad name, RAMP_ETOOBIG past out's ceiling,
 * RAMP_ENOMEM). Not thread-safe per buffer; no global state.
 */
#ifndef RP_PROMTEXT_H
#define RP_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "hist.h"
#include "ramp/err.h"

/* Content-Type of a scrape answer. */
#define RP_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum rp_prom_type {
    RP_PROM_COUNTER,
    RP_PROM_GAUGE,
    RP_PROM_HISTOGRAM,
    RP_PROM_UNTYPED,
};

/* One label pair; both strings borrowed for the call. */
struct rp_prom_label {
    const char *name;
    const char *value; /* any bytes up to NUL; escaped on output */
};

/* "# HELP name help\n# TYPE name type\n"; help may be NULL (no HELP). */
ramp_err rp_prom_family(struct rp_buf *out, const char *name,
    enum rp_prom_type type, const char *help);

/*
 * One sample line: name{l1="v1",...} value. nlabels may be 0 (labels
 * then may be NULL). Values print as integers when integral and exact
 * (|v| < 2^53), else in the fewest digits that read back exactly; NaN and infinities as
 * NaN, +Inf, -Inf.
 */
ramp_err rp_prom_sample(struct rp_buf *out, const char *name,
    const struct rp_prom_label *labels, size_t nlabels, double value);
/* Same, for counters that may exceed 2^53: printed exactly. */
ramp_err rp_prom_sample_u64(struct rp_buf *out, const char *name,
    const struct rp_prom_label *labels, size_t nlabels, uint64_t value);

/* Family header plus one unlabelled sample: the common case. */
ramp_err rp_prom_counter(struct rp_buf *out, const char *name,
    const char *help, uint64_t value);
ramp_err rp_prom_gauge(struct rp_buf *out, const char *name,
    const char *help, double value);

/*
 * The samples of one histogram (the family header is written separately
 * with RP_PROM_HISTOGRAM): name_bucket{...,le="b"} for each upper bound,
 * then le="+Inf", name_sum and name_count. bounds must rise strictly;
 * counts[i] is the number of observations <= bounds[i] (cumulative, as
 * Prometheus wants; must not fall) and count the total (>= the last).
 */
ramp_err rp_prom_histogram(struct rp_buf *out, const char *name,
    const struct rp_prom_label *labels, size_t nlabels, const double *bounds,
    const uint64_t *counts, size_t nbounds, double sum, uint64_t count);

/*
 * An rp_hist (microseconds) as a Prometheus histogram in seconds, over
 * the caller's coarse bounds (seconds, strictly rising, at most 64).
 * A fine bucket counts under a bound when its highest value is <= the
 * bound, so a bucket's count is exact for bounds on fine-bucket edges
 * and an undercount by at most one fine bucket (3.2%) otherwise.
 */
ramp_err rp_prom_hist_seconds(struct rp_buf *out, const char *name,
    const struct rp_prom_label *labels, size_t nlabels,
    const struct rp_hist *h, const double *bounds_s, size_t nbounds);

/*
 * An LMDB environment's use, as two gauges: PREFIX_lmdb_map_size_bytes
 * (map_size; left out when 0) and PREFIX_lmdb_used_bytes, the size of
 * dir/data.mdb (left out when dir is NULL or the file cannot be stat'ed).
 * Without MDB_WRITEMAP data.mdb grows to the highest page ever written,
 * the high-water mark that runs into MDB_MAP_FULL, so this needs no
 * access to the environment. what names it in the help text ("cache").
 */
ramp_err rp_prom_lmdb(struct rp_buf *out, const char *prefix,
    const char *what, const char *dir, size_t map_size);

/* Default latency bounds in seconds (1 ms .. 10 s) and their number. */
extern const double rp_prom_latency_bounds[];
extern const size_t rp_prom_latency_nbounds;

/* true if name is a valid metric name / label name. */
int rp_prom_name_ok(const char *name);
int rp_prom_label_name_ok(const char *name);

#endif
