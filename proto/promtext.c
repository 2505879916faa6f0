/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text format writers. Each public function remembers out's
 * length on entry and truncates back to it on any error, so a failed
 * family never leaves half a line for the next one to follow.
 */
#include "promtext.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const double rp_prom_latency_bounds[] = { 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
const size_t rp_prom_latency_nbounds =
    sizeof(rp_prom_latency_bounds) / sizeof(rp_prom_latency_bounds[0]);

static int
prom_name_char(char c, int first, int colon)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        return 1;
    }
    if (c == ':') {
        return colon;
    }
    return !first && c >= '0' && c <= '9';
}

int
rp_prom_name_ok(const char *name)
{
    if (name == NULL || name[0] == '\0') {
        return 0;
    }
    for (size_t i = 0; name[i] != '\0'; i++) {
        if (!prom_name_char(name[i], i == 0, 1)) {
            return 0;
        }
    }
    return 1;
}

int
rp_prom_label_name_ok(const char *name)
{
    if (name == NULL || name[0] == '\0' || strncmp(name, "__", 2) == 0) {
        return 0; /* "__" names are reserved for Prometheus itself */
    }
    for (size_t i = 0; name[i] != '\0'; i++) {
        if (!prom_name_char(name[i], i == 0, 0)) {
            return 0;
        }
    }
    return 1;
}

/*
 * Escape for HELP (backslash, newline) or for a label value (also the
 * double quote). Runs of plain bytes are appended in one call.
 */
static ramp_err
prom_escaped(struct rp_buf *out, const char *s, int quote)
{
    const char *run = s;
    ramp_err rv;

    for (; *s != '\0'; s++) {
        const char *esc = NULL;

        if (*s == '\\') {
            esc = "\\\\";
        } else if (*s == '\n') {
            esc = "\\n";
        } else if (quote && *s == '"') {
            esc = "\\\"";
        }
        if (esc == NULL) {
            continue;
        }
        rv = rp_buf_append(out, run, (size_t) (s - run));
        if (rv != RAMP_OK) {
            return rv;
        }
        rv = rp_buf_append(out, esc, 2);
        if (rv != RAMP_OK) {
            return rv;
        }
        run = s + 1;
    }
    return rp_buf_append(out, run, (size_t) (s - run));
}

static ramp_err
prom_str(struct rp_buf *out, const char *s)
{
    return rp_buf_append(out, s, strlen(s));
}

static const char *
prom_type_name(enum rp_prom_type type)
{
    switch (type) {
    case RP_PROM_COUNTER:
        return "counter";
    case RP_PROM_GAUGE:
        return "gauge";
    case RP_PROM_HISTOGRAM:
        return "histogram";
    case RP_PROM_UNTYPED:
        return "untyped";
    }
    return NULL;
}

static ramp_err
prom_family(struct rp_buf *out, const char *name, enum rp_prom_type type,
    const char *help)
{
    const char *tn = prom_type_name(type);
    ramp_err rv;

    if (!rp_prom_name_ok(name) || tn == NULL) {
        return RAMP_EINVAL;
    }
    if (help != NULL) {
        rv = rp_buf_printf(out, "# HELP %s ", name);
        if (rv == RAMP_OK) {
            rv = prom_escaped(out, help, 0);
        }
        if (rv == RAMP_OK) {
            rv = prom_str(out, "\n");
        }
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return rp_buf_printf(out, "# TYPE %s %s\n", name, tn);
}

ramp_err
rp_prom_family(struct rp_buf *out, const char *name, enum rp_prom_type type,
    const char *help)
{
    size_t mark = out->len;
    ramp_err rv = prom_family(out, name, type, help);

    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}

/* name{labels[,extra="extra_val"]} : the part before the value. */
static ramp_err
prom_series(struct rp_buf *out, const char *name, const char *suffix,
    const struct rp_prom_label *labels, size_t nlabels, const char *extra,
    const char *extra_val)
{
    ramp_err rv;
    int any = nlabels > 0 || extra != NULL;

    if (!rp_prom_name_ok(name) || (nlabels > 0 && labels == NULL)) {
        return RAMP_EINVAL;
    }
    rv = prom_str(out, name);
    if (rv == RAMP_OK && suffix != NULL) {
        rv = prom_str(out, suffix);
    }
    if (rv == RAMP_OK && any) {
        rv = prom_str(out, "{");
    }
    for (size_t i = 0; rv == RAMP_OK && i <= nlabels; i++) {
        const char *ln = i < nlabels ? labels[i].name : extra;
        const char *lv = i < nlabels ? labels[i].value : extra_val;

        if (ln == NULL && i == nlabels) {
            break;
        }
        if (!rp_prom_label_name_ok(ln) || lv == NULL) {
            return RAMP_EINVAL;
        }
        rv = rp_buf_printf(out, "%s%s=\"", i > 0 ? "," : "", ln);
        if (rv == RAMP_OK) {
            rv = prom_escaped(out, lv, 1);
        }
        if (rv == RAMP_OK) {
            rv = prom_str(out, "\"");
        }
    }
    if (rv == RAMP_OK && any) {
        rv = prom_str(out, "}");
    }
    return rv;
}

/*
 * The shortest of %.15g, %.16g, %.17g that reads back as the same double
 * (17 digits always do): 0.1 prints as 0.1, not 0.10000000000000001.
 */
static void
prom_fmt_double(char *s, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(s, n, "NaN");
    } else if (isinf(v)) {
        snprintf(s, n, "%s", v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(s, n, "%" PRId64, (int64_t) v);
    } else {
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(s, n, "%.*g", prec, v);
            if (strtod(s, NULL) == v) {
                break;
            }
        }
    }
}

static ramp_err
prom_sample_str(struct rp_buf *out, const char *name, const char *suffix,
    const struct rp_prom_label *labels, size_t nlabels, const char *extra,
    const char *extra_val, const char *value)
{
    size_t mark = out->len;
    ramp_err rv;

    rv = prom_series(out, name, suffix, labels, nlabels, extra, extra_val);
    if (rv == RAMP_OK) {
        rv = rp_buf_printf(out, " %s\n", value);
    }
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}

ramp_err
rp_prom_sample(struct rp_buf *out, const char *name,
    const struct rp_prom_label *labels, size_t nlabels, double value)
{
    char v[40];

    prom_fmt_double(v, sizeof(v), value);
    return prom_sample_str(out, name, NULL, labels, nlabels, NULL, NULL, v);
}

ramp_err
rp_prom_sample_u64(struct rp_buf *out, const char *name,
    const struct rp_prom_label *labels, size_t nlabels, uint64_t value)
{
    char v[24];

    snprintf(v, sizeof(v), "%" PRIu64, value);
    return prom_sample_str(out, name, NULL, labels, nlabels, NULL, NULL, v);
}

ramp_err
rp_prom_counter(struct rp_buf *out, const char *name, const char *help,
    uint64_t value)
{
    size_t mark = out->len;
    ramp_err rv;

    rv = rp_prom_family(out, name, RP_PROM_COUNTER, help);
    if (rv == RAMP_OK) {
        rv = rp_prom_sample_u64(out, name, NULL, 0, value);
    }
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}

ramp_err
rp_prom_gauge(struct rp_buf *out, const char *name, const char *help,
    double value)
{
    size_t mark = out->len;
    ramp_err rv;

    rv = rp_prom_family(out, name, RP_PROM_GAUGE, help);
    if (rv == RAMP_OK) {
        rv = rp_prom_sample(out, name, NULL, 0, value);
    }
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}

ramp_err
rp_prom_histogram(struct rp_buf *out, const char *name,
    const struct rp_prom_label *labels, size_t nlabels, const double *bounds,
    const uint64_t *counts, size_t nbounds, double sum, uint64_t count)
{
    size_t mark = out->len;
    char le[40];
    char v[40];
    ramp_err rv = RAMP_OK;

    for (size_t i = 0; i < nbounds; i++) {
        if (isnan(bounds[i]) || isinf(bounds[i])
            || (i > 0 && (bounds[i] <= bounds[i - 1]
                    || counts[i] < counts[i - 1]))) {
            return RAMP_EINVAL;
        }
    }
    if (nbounds > 0 && count < counts[nbounds - 1]) {
        return RAMP_EINVAL;
    }
    for (size_t i = 0; rv == RAMP_OK && i <= nbounds; i++) {
        if (i < nbounds) {
            prom_fmt_double(le, sizeof(le), bounds[i]);
            snprintf(v, sizeof(v), "%" PRIu64, counts[i]);
        } else {
            snprintf(le, sizeof(le), "+Inf");
            snprintf(v, sizeof(v), "%" PRIu64, count);
        }
        rv = prom_sample_str(out, name, "_bucket", labels, nlabels, "le", le,
            v);
    }
    if (rv == RAMP_OK) {
        prom_fmt_double(v, sizeof(v), sum);
        rv = prom_sample_str(out, name, "_sum", labels, nlabels, NULL, NULL,
            v);
    }
    if (rv == RAMP_OK) {
        snprintf(v, sizeof(v), "%" PRIu64, count);
        rv = prom_sample_str(out, name, "_count", labels, nlabels, NULL, NULL,
            v);
    }
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}

ramp_err
rp_prom_hist_seconds(struct rp_buf *out, const char *name,
    const struct rp_prom_label *labels, size_t nlabels,
    const struct rp_hist *h, const double *bounds_s, size_t nbounds)
{
    uint64_t counts[64];
    uint64_t acc = 0;
    unsigned idx = 0;

    if (nbounds > 64) {
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < nbounds; i++) {
        double lim_us = bounds_s[i] * 1e6;

        /* Buckets are visited in rising order once over all bounds. */
        while (idx < RP_HIST_NREG && (double) rp_hist_bucket_hi(idx) <= lim_us) {
            acc += h->b[idx];
            idx++;
        }
        counts[i] = acc;
    }
    return rp_prom_histogram(out, name, labels, nlabels, bounds_s, counts,
        nbounds, (double) h->sum_us / 1e6, h->count);
}

ramp_err
rp_prom_lmdb(struct rp_buf *out, const char *prefix, const char *what,
    const char *dir, size_t map_size)
{
    char name[128];
    char help[256];
    char path[4096];
    struct stat st;
    size_t mark = out->len;
    ramp_err rv = RAMP_OK;

    if (map_size > 0) {
        if ((size_t) snprintf(name, sizeof(name), "%s_lmdb_map_size_bytes",
                prefix) >= sizeof(name)) {
            return RAMP_EINVAL;
        }
        snprintf(help, sizeof(help), "Configured LMDB map size of the %s.",
            what);
        rv = rp_prom_gauge(out, name, help, (double) map_size);
    }
    if (rv == RAMP_OK && dir != NULL &&
        (size_t) snprintf(path, sizeof(path), "%s/data.mdb", dir) <
            sizeof(path) &&
        stat(path, &st) == 0) {
        if ((size_t) snprintf(name, sizeof(name), "%s_lmdb_used_bytes",
                prefix) >= sizeof(name)) {
            rv = RAMP_EINVAL;
        } else {
            snprintf(help, sizeof(help),
                "Size of the %s's data file: the highest page written, "
                "which may not exceed the map size.",
                what);
            rv = rp_prom_gauge(out, name, help, (double) st.st_size);
        }
    }
    if (rv != RAMP_OK) {
        out->len = mark;
    }
    return rv;
}
