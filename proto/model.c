/* SPDX-License-Identifier: MIT */
/*
 * The data model's behaviour: names of enums, validation, compilation of
 * clause values for evaluation (rp_flag_prepare), deep copies and release.
 * Not here: wire or JSON encoding (codec.c), evaluation itself (eval.c).
 *
 * Validation is the one gate every flag passes before anything evaluates
 * it, whichever door it came in by (HTTP, msgpack, LMDB), so the rules are
 * checked here and nowhere else, and each failure names the field.
 */
#include "model.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "parse.h"

#define MODEL_UPDATED_BY_MAX 256 /* bytes; an account or token name */

/* ---- names ---------------------------------------------------------- */

/*
 * Name tables indexed by wire value (the X-macro tables are dense from
 * 0), and one lookup for every parse.
 */
static const char *const model_op_names[RP_OP_COUNT] = {
#define OP_ROW(name, val, str) [val] = str,
    RP_OP_TABLE(OP_ROW)
#undef OP_ROW
};

static const char *const model_type_names[RP_TYPE_COUNT] = {
    [RP_TYPE_BOOL] = "bool",
    [RP_TYPE_STRING] = "string",
    [RP_TYPE_NUMBER] = "number",
    [RP_TYPE_JSON] = "json",
};

static const char *const model_rstate_names[RP_RSTATE_COUNT] = {
#define RS_ROW(name, val, str) [val] = str,
    RP_RSTATE_TABLE(RS_ROW)
#undef RS_ROW
};

static const char *
model_name(const char *const *names, size_t n, unsigned v)
{
    return v < n ? names[v] : "?";
}

static ramp_err
model_lookup(const char *const *names, size_t n, const char *s, unsigned *v)
{
    if (s == NULL) {
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, names[i]) == 0) {
            *v = (unsigned) i;
            return RAMP_OK;
        }
    }
    return RAMP_EINVAL;
}

const char *
rp_op_name(enum rp_op op)
{
    return model_name(model_op_names, RP_OP_COUNT, (unsigned) op);
}

ramp_err
rp_op_parse(const char *s, enum rp_op *out)
{
    unsigned v;
    ramp_err rv = model_lookup(model_op_names, RP_OP_COUNT, s, &v);

    if (rv == RAMP_OK) {
        *out = (enum rp_op) v;
    }
    return rv;
}

const char *
rp_type_name(enum rp_type t)
{
    return model_name(model_type_names, RP_TYPE_COUNT, (unsigned) t);
}

ramp_err
rp_type_parse(const char *s, enum rp_type *out)
{
    unsigned v;
    ramp_err rv = model_lookup(model_type_names, RP_TYPE_COUNT, s, &v);

    if (rv == RAMP_OK) {
        *out = (enum rp_type) v;
    }
    return rv;
}

const char *
rp_rstate_name(enum rp_rstate st)
{
    return model_name(model_rstate_names, RP_RSTATE_COUNT, (unsigned) st);
}

ramp_err
rp_rstate_parse(const char *s, enum rp_rstate *out)
{
    unsigned v;
    ramp_err rv = model_lookup(model_rstate_names, RP_RSTATE_COUNT, s, &v);

    if (rv == RAMP_OK) {
        *out = (enum rp_rstate) v;
    }
    return rv;
}

/* Seeds from DESIGN §6. */
void
rp_policy_default(struct rp_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->bake_ms = 600000;
    p->check_interval_ms = 10000;
    p->max_stage_ms = 3600000;
    p->min_samples = 200;
    p->failure_limit = 2;
    p->err_rel = 0.50;
    p->err_abs = 0.05;
    p->p95_rel = 0.30;
    p->p95_abs_us = 2000000;
    p->crit_err = 0.20;
    p->crit_min = 20;
}

/* ---- syntax checks -------------------------------------------------- */

bool
rp_flag_key_valid(const char *key, size_t len)
{
    if (key == NULL || len == 0 || len > RP_KEY_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) key[i];

        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            continue;
        }
        if (i > 0 && (c == '.' || c == '_' || c == '-')) {
            continue;
        }
        return false;
    }
    return true;
}

static bool
model_name_valid(const char *s)
{
    size_t len;

    if (s == NULL) {
        return false;
    }
    len = strnlen(s, RP_NAME_MAX + 1);
    if (len == 0 || len > RP_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (!isalnum(c) && c != '_' && c != '.' && c != '-') {
            return false;
        }
    }
    return true;
}

/* Attribute names: printable ASCII without spaces, 1..RP_NAME_MAX. */
static bool
model_attr_valid(const char *s)
{
    size_t len;

    if (s == NULL) {
        return false;
    }
    len = strnlen(s, RP_NAME_MAX + 1);
    if (len == 0 || len > RP_NAME_MAX) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 0x21 || c > 0x7e) {
            return false;
        }
    }
    return true;
}

static bool
model_str_ok(const char *s, size_t max)
{
    return s != NULL && strnlen(s, max + 1) <= max;
}

int32_t
rp_flag_variant_index(const struct rp_flag *f, const char *name)
{
    if (f == NULL || name == NULL) {
        return -1;
    }
    for (size_t i = 0; i < f->nvariants; i++) {
        if (f->variants[i].name != NULL &&
            strcmp(f->variants[i].name, name) == 0) {
            return (int32_t) i;
        }
    }
    return -1;
}

/* ---- parsers -------------------------------------------------------- */

/*
 * A whole string as a finite number, by strtod (so "1e3", "-0.5", "0x10"
 * all count) but without the leading whitespace strtod would skip: an
 * attribute " 5" is a string, not a number. Attributes longer than the
 * buffer are not numbers; no honest number needs 128 bytes.
 */
bool
rp_num_parse(const char *s, size_t len, double *out)
{
    char buf[128];
    char *end;
    double d;

    if (s == NULL || len == 0 || len >= sizeof(buf)) {
        return false;
    }
    if (isspace((unsigned char) s[0])) {
        return false;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        return false; /* NUL inside */
    }
    d = strtod(buf, &end);
    if (end != buf + len || !isfinite(d)) {
        return false;
    }
    *out = d;
    return true;
}

/* Numeric identifier: digits, no leading zero unless it is "0". */
static bool
semver_num(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0 || (len > 1 && s[0] == '0')) {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        if (v > (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t) (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool
semver_ident_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
        (c >= 'A' && c <= 'Z') || c == '-';
}

static bool
semver_all_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

/*
 * Dot-separated identifiers, none empty. Pre-release numeric identifiers
 * must not have leading zeros (semver 2.0.0 item 9); build identifiers
 * may (item 10).
 */
static bool
semver_idents(const char *s, size_t len, bool pre)
{
    size_t start = 0;

    if (len == 0) {
        return false;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (!semver_ident_char(s[i])) {
                return false;
            }
            continue;
        }
        if (i == start) {
            return false;
        }
        if (pre && i - start > 1 && s[start] == '0' &&
            semver_all_digits(s + start, i - start)) {
            return false;
        }
        start = i + 1;
    }
    return true;
}

/* semver.org 2.0.0, with an optional leading 'v' ("v1.2.3"). */
bool
rp_semver_parse(const char *s, size_t len, struct rp_semver *out)
{
    uint64_t part[3];
    size_t i = 0;

    if (s == NULL) {
        return false;
    }
    if (len > 0 && s[0] == 'v') {
        i = 1;
    }
    for (int k = 0; k < 3; k++) {
        size_t start = i;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }
        if (!semver_num(s + start, i - start, &part[k])) {
            return false;
        }
        if (k < 2) {
            if (i >= len || s[i] != '.') {
                return false;
            }
            i++;
        }
    }
    out->major = part[0];
    out->minor = part[1];
    out->patch = part[2];
    out->pre = NULL;
    out->pre_len = 0;
    if (i < len && s[i] == '-') {
        size_t start = ++i;

        while (i < len && s[i] != '+') {
            i++;
        }
        if (!semver_idents(s + start, i - start, true)) {
            return false;
        }
        out->pre = s + start;
        out->pre_len = i - start;
    }
    if (i < len && s[i] == '+') {
        i++;
        if (!semver_idents(s + i, len - i, false)) {
            return false;
        }
        i = len;
    }
    return i == len;
}

static int
semver_cmp_u64(uint64_t a, uint64_t b)
{
    return a < b ? -1 : (a > b ? 1 : 0);
}

/* Precedence per semver 2.0.0 item 11; build metadata never counts. */
int
rp_semver_cmp(const struct rp_semver *a, const struct rp_semver *b)
{
    size_t ia = 0, ib = 0;
    int c;

    c = semver_cmp_u64(a->major, b->major);
    if (c == 0) {
        c = semver_cmp_u64(a->minor, b->minor);
    }
    if (c == 0) {
        c = semver_cmp_u64(a->patch, b->patch);
    }
    if (c != 0) {
        return c;
    }
    /* A pre-release ranks below the release it precedes. */
    if (a->pre_len == 0 || b->pre_len == 0) {
        if (a->pre_len == b->pre_len) {
            return 0;
        }
        return a->pre_len == 0 ? 1 : -1;
    }
    while (ia < a->pre_len && ib < b->pre_len) {
        size_t ea = ia, eb = ib, la, lb;
        bool na, nb;

        while (ea < a->pre_len && a->pre[ea] != '.') {
            ea++;
        }
        while (eb < b->pre_len && b->pre[eb] != '.') {
            eb++;
        }
        la = ea - ia;
        lb = eb - ib;
        na = semver_all_digits(a->pre + ia, la);
        nb = semver_all_digits(b->pre + ib, lb);
        if (na && nb) {
            /* No leading zeros, so the longer one is larger; equal
             * lengths compare as text. No overflow for long ones. */
            if (la != lb) {
                return la < lb ? -1 : 1;
            }
            c = memcmp(a->pre + ia, b->pre + ib, la);
        } else if (na != nb) {
            return na ? -1 : 1; /* numeric ranks below alphanumeric */
        } else {
            c = memcmp(a->pre + ia, b->pre + ib, la < lb ? la : lb);
            if (c == 0 && la != lb) {
                c = la < lb ? -1 : 1;
            }
        }
        if (c != 0) {
            return c < 0 ? -1 : 1;
        }
        ia = ea + 1;
        ib = eb + 1;
    }
    /* All shared identifiers equal: the longer list ranks higher. */
    if ((ia < a->pre_len) == (ib < b->pre_len)) {
        return 0;
    }
    return ia < a->pre_len ? 1 : -1;
}

static bool
time_digits(const char *s, size_t n, int *out)
{
    int v = 0;

    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t
time_days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int
time_month_days(int y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
        30, 31 };
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : days[m - 1];
}

/*
 * RFC 3339 date-time, YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm), or an
 * integer of epoch milliseconds (at most 16 digits, so exact as a double).
 * The result is epoch milliseconds, fractions below 1 ms kept.
 */
bool
rp_time_parse(const char *s, size_t len, double *ms_out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    double frac = 0.0, scale = 0.1;
    size_t i;
    int64_t days, secs;

    if (s == NULL || len == 0) {
        return false;
    }
    /* Integer epoch milliseconds. */
    i = (s[0] == '-') ? 1 : 0;
    if (i < len && semver_all_digits(s + i, len - i)) {
        int64_t v = 0;

        if (len - i > 16) {
            return false;
        }
        for (; i < len; i++) {
            v = v * 10 + (s[i] - '0');
        }
        *ms_out = (double) (s[0] == '-' ? -v : v);
        return true;
    }
    if (len < 20) {
        return false;
    }
    if (!time_digits(s, 4, &y) || s[4] != '-' ||
        !time_digits(s + 5, 2, &mo) || s[7] != '-' ||
        !time_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !time_digits(s + 11, 2, &h) || s[13] != ':' ||
        !time_digits(s + 14, 2, &mi) || s[16] != ':' ||
        !time_digits(s + 17, 2, &sec)) {
        return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > time_month_days(y, mo) ||
        h > 23 || mi > 59 || sec > 60) {
        return false;
    }
    i = 19;
    if (s[i] == '.') {
        size_t start = ++i;

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            frac += (s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start) {
            return false;
        }
    }
    if (i >= len) {
        return false;
    }
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (len - i != 6 || !time_digits(s + i + 1, 2, &oh) ||
            s[i + 3] != ':' || !time_digits(s + i + 4, 2, &om) || oh > 23 ||
            om > 59) {
            return false;
        }
        i += 6;
    } else {
        return false;
    }
    if (i != len) {
        return false;
    }
    days = time_days_from_civil(y, mo, d);
    secs = days * 86400 + h * 3600 + mi * 60 + sec;
    secs -= (int64_t) sign * (oh * 3600 + om * 60);
    *ms_out = (double) secs * 1000.0 + frac * 1000.0;
    return true;
}

/* ---- prepare -------------------------------------------------------- */

static void
model_field(char *field, size_t fieldsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
model_field(char *field, size_t fieldsz, const char *fmt, ...)
{
    va_list ap;

    if (field == NULL || fieldsz == 0) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(field, fieldsz, fmt, ap);
    va_end(ap);
}

static void
clause_uncompile(struct rp_clause *c)
{
    if (c->res != NULL) {
        for (size_t i = 0; i < c->nvalues; i++) {
            regfree(&c->res[i]);
        }
        rp_free(c->res);
        c->res = NULL;
    }
    rp_free(c->nums);
    c->nums = NULL;
    rp_free(c->vers);
    c->vers = NULL;
    rp_free(c->lens);
    c->lens = NULL;
}

static void
flag_uncompile(struct rp_flag *f)
{
    if (f->rules == NULL) {
        f->prepared = false;
        return;
    }
    for (size_t r = 0; r < f->nrules; r++) {
        struct rp_rule *rule = &f->rules[r];

        if (rule->clauses == NULL) {
            continue;
        }
        for (size_t c = 0; c < rule->nclauses; c++) {
            clause_uncompile(&rule->clauses[c]);
        }
    }
    f->prepared = false;
}

static bool
op_is_string(enum rp_op op)
{
    return op == RP_OP_EQ || op == RP_OP_IN || op == RP_OP_STARTS_WITH ||
        op == RP_OP_ENDS_WITH || op == RP_OP_CONTAINS;
}

static bool
op_is_numeric(enum rp_op op)
{
    return op == RP_OP_LT || op == RP_OP_LTE || op == RP_OP_GT ||
        op == RP_OP_GTE;
}

static bool
op_is_semver(enum rp_op op)
{
    return op == RP_OP_SEMVER_LT || op == RP_OP_SEMVER_EQ ||
        op == RP_OP_SEMVER_GT;
}

static bool
op_is_time(enum rp_op op)
{
    return op == RP_OP_BEFORE || op == RP_OP_AFTER;
}

/*
 * Compile all values of one clause. Regexes are compiled into a local
 * array and only hung on the clause once all of them compiled, so the
 * clause never holds a regex_t that regfree() must not see.
 */
static ramp_err
clause_compile(struct rp_clause *c, size_t r, size_t ci, char *field,
    size_t fieldsz)
{
    ramp_err rv = RAMP_OK;
    size_t nres = 0;
    regex_t *res = NULL;
    size_t n = c->nvalues;

    if (op_is_string(c->op)) {
        c->lens = rp_calloc(n, sizeof(*c->lens));
        if (c->lens == NULL) {
            return RAMP_ENOMEM;
        }
    }
    if (op_is_string(c->op) || op_is_numeric(c->op) || op_is_time(c->op)) {
        c->nums = rp_calloc(n, sizeof(*c->nums));
        if (c->nums == NULL) {
            return RAMP_ENOMEM;
        }
    }
    if (op_is_semver(c->op)) {
        c->vers = rp_calloc(n, sizeof(*c->vers));
        if (c->vers == NULL) {
            return RAMP_ENOMEM;
        }
    }
    if (c->op == RP_OP_MATCHES) {
        res = rp_calloc(n, sizeof(*res));
        if (res == NULL) {
            return RAMP_ENOMEM;
        }
    }
    for (size_t v = 0; v < n; v++) {
        const char *s = c->values[v];
        size_t len = strlen(s);

        if (op_is_string(c->op)) {
            c->lens[v] = len;
            /* eq/in against a number attribute compare numerically. */
            if (!rp_num_parse(s, len, &c->nums[v])) {
                c->nums[v] = NAN;
            }
        } else if (op_is_numeric(c->op)) {
            if (!rp_num_parse(s, len, &c->nums[v])) {
                rv = RAMP_EINVAL;
            }
        } else if (op_is_time(c->op)) {
            if (!rp_time_parse(s, len, &c->nums[v])) {
                rv = RAMP_EINVAL;
            }
        } else if (op_is_semver(c->op)) {
            if (!rp_semver_parse(s, len, &c->vers[v])) {
                rv = RAMP_EINVAL;
            }
        } else if (c->op == RP_OP_MATCHES) {
            int rc = regcomp(&res[v], s, REG_EXTENDED | REG_NOSUB);

            if (rc != 0) {
                rv = rc == REG_ESPACE ? RAMP_ENOMEM : RAMP_EINVAL;
            } else {
                nres++;
            }
        }
        if (rv != RAMP_OK) {
            model_field(field, fieldsz, "rules[%zu].clauses[%zu].values[%zu]",
                r, ci, v);
            goto fail;
        }
    }
    c->res = res;
    return RAMP_OK;

fail:
    for (size_t i = 0; i < nres; i++) {
        regfree(&res[i]);
    }
    rp_free(res);
    return rv;
}

static ramp_err
clause_check(struct rp_clause *c, size_t r, size_t ci, char *field,
    size_t fieldsz)
{
    if (!model_attr_valid(c->attr)) {
        model_field(field, fieldsz, "rules[%zu].clauses[%zu].attr", r, ci);
        return RAMP_EINVAL;
    }
    if ((unsigned) c->op >= RP_OP_COUNT) {
        model_field(field, fieldsz, "rules[%zu].clauses[%zu].op", r, ci);
        return RAMP_EINVAL;
    }
    if (c->nvalues == 0 || c->nvalues > RP_MAX_VALUES || c->values == NULL ||
        (c->op == RP_OP_EQ && c->nvalues != 1)) {
        model_field(field, fieldsz, "rules[%zu].clauses[%zu].values", r, ci);
        return RAMP_EINVAL;
    }
    for (size_t v = 0; v < c->nvalues; v++) {
        if (!model_str_ok(c->values[v], RP_STR_MAX)) {
            model_field(field, fieldsz, "rules[%zu].clauses[%zu].values[%zu]",
                r, ci, v);
            return RAMP_EINVAL;
        }
    }
    return RAMP_OK;
}

static ramp_err
rule_check(const struct rp_flag *f, const struct rp_rule *rule, size_t r,
    char *field, size_t fieldsz)
{
    uint64_t sum = 0;

    if (rule->nclauses > RP_MAX_CLAUSES ||
        (rule->nclauses > 0 && rule->clauses == NULL)) {
        model_field(field, fieldsz, "rules[%zu].clauses", r);
        return RAMP_EINVAL;
    }
    if (rule->variant >= 0) {
        if ((size_t) rule->variant >= f->nvariants) {
            model_field(field, fieldsz, "rules[%zu].variant", r);
            return RAMP_EINVAL;
        }
        if (rule->nsplits != 0) {
            model_field(field, fieldsz, "rules[%zu].splits", r);
            return RAMP_EINVAL;
        }
        return RAMP_OK;
    }
    if (rule->variant != -1) {
        model_field(field, fieldsz, "rules[%zu].variant", r);
        return RAMP_EINVAL;
    }
    if (rule->nsplits == 0 || rule->nsplits > RP_MAX_SPLITS ||
        rule->splits == NULL) {
        model_field(field, fieldsz, "rules[%zu].splits", r);
        return RAMP_EINVAL;
    }
    for (size_t s = 0; s < rule->nsplits; s++) {
        if (rule->splits[s].variant >= f->nvariants) {
            model_field(field, fieldsz, "rules[%zu].splits[%zu].variant", r,
                s);
            return RAMP_EINVAL;
        }
        for (size_t t = 0; t < s; t++) {
            if (rule->splits[t].variant == rule->splits[s].variant) {
                model_field(field, fieldsz, "rules[%zu].splits[%zu].variant",
                    r, s);
                return RAMP_EINVAL;
            }
        }
        sum += rule->splits[s].weight_bp;
    }
    if (sum != RP_BP_TOTAL) {
        model_field(field, fieldsz, "rules[%zu].splits", r);
        return RAMP_EINVAL;
    }
    return RAMP_OK;
}

static ramp_err
value_check(const struct rp_flag *f, const struct rp_value *val)
{
    json_t *j;
    json_error_t jerr;

    if (val->type != f->type) {
        return RAMP_EINVAL;
    }
    switch (val->type) {
    case RP_TYPE_BOOL:
        return RAMP_OK;
    case RP_TYPE_NUMBER:
        return isfinite(val->n) ? RAMP_OK : RAMP_EINVAL;
    case RP_TYPE_STRING:
        if (val->s == NULL || val->len > RP_STR_MAX ||
            memchr(val->s, '\0', val->len) != NULL) {
            return RAMP_EINVAL;
        }
        return RAMP_OK;
    case RP_TYPE_JSON:
        if (val->s == NULL || val->len > RP_JSON_MAX) {
            return RAMP_EINVAL;
        }
        /* Any JSON value, scalars included; jansson rejects NUL bytes. */
        j = json_loadb(val->s, val->len, JSON_DECODE_ANY, &jerr);
        if (j == NULL) {
            return RAMP_EINVAL;
        }
        json_decref(j);
        return RAMP_OK;
    }
    return RAMP_EINVAL;
}

static ramp_err
flag_check_top(const struct rp_flag *f, char *field, size_t fieldsz)
{
    if (f->key == NULL || !rp_flag_key_valid(f->key, strlen(f->key))) {
        model_field(field, fieldsz, "key");
        return RAMP_EINVAL;
    }
    if (!model_str_ok(f->description, RP_STR_MAX)) {
        model_field(field, fieldsz, "description");
        return RAMP_EINVAL;
    }
    if ((unsigned) f->type >= RP_TYPE_COUNT) {
        model_field(field, fieldsz, "type");
        return RAMP_EINVAL;
    }
    if (f->nvariants == 0 || f->nvariants > RP_MAX_VARIANTS ||
        f->variants == NULL ||
        (f->type == RP_TYPE_BOOL && f->nvariants != 2)) {
        model_field(field, fieldsz, "variants");
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < f->nvariants; i++) {
        const struct rp_variant *v = &f->variants[i];

        if (!model_name_valid(v->name)) {
            model_field(field, fieldsz, "variants[%zu].name", i);
            return RAMP_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(f->variants[j].name, v->name) == 0) {
                model_field(field, fieldsz, "variants[%zu].name", i);
                return RAMP_EINVAL;
            }
        }
        if (f->type == RP_TYPE_BOOL) {
            bool on = strcmp(v->name, "on") == 0;

            if (!on && strcmp(v->name, "off") != 0) {
                model_field(field, fieldsz, "variants[%zu].name", i);
                return RAMP_EINVAL;
            }
            if (v->value.type == RP_TYPE_BOOL && v->value.b != on) {
                model_field(field, fieldsz, "variants[%zu].value", i);
                return RAMP_EINVAL;
            }
        }
        if (value_check(f, &v->value) != RAMP_OK) {
            model_field(field, fieldsz, "variants[%zu].value", i);
            return RAMP_EINVAL;
        }
    }
    if (f->off_variant >= f->nvariants) {
        model_field(field, fieldsz, "off_variant");
        return RAMP_EINVAL;
    }
    if (f->default_variant >= f->nvariants) {
        model_field(field, fieldsz, "default_variant");
        return RAMP_EINVAL;
    }
    if (f->version < 1) {
        model_field(field, fieldsz, "version");
        return RAMP_EINVAL;
    }
    /* NULL updated_by reads as "": decoders may leave it unset. */
    if (f->updated_by != NULL &&
        !model_str_ok(f->updated_by, MODEL_UPDATED_BY_MAX)) {
        model_field(field, fieldsz, "updated_by");
        return RAMP_EINVAL;
    }
    if (f->ntags > RP_MAX_TAGS || (f->ntags > 0 && f->tags == NULL)) {
        model_field(field, fieldsz, "tags");
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < f->ntags; i++) {
        if (f->tags[i] == NULL || f->tags[i][0] == '\0' ||
            !model_str_ok(f->tags[i], RP_NAME_MAX)) {
            model_field(field, fieldsz, "tags[%zu]", i);
            return RAMP_EINVAL;
        }
    }
    if (f->nrules > RP_MAX_RULES || (f->nrules > 0 && f->rules == NULL)) {
        model_field(field, fieldsz, "rules");
        return RAMP_EINVAL;
    }
    return RAMP_OK;
}

ramp_err
rp_flag_prepare(struct rp_flag *f, char *field, size_t fieldsz)
{
    ramp_err rv;

    model_field(field, fieldsz, "%s", "");
    if (f == NULL) {
        return RAMP_EINVAL;
    }
    /* Recompiling is simpler than proving the old compiled state still
     * matches the values: prepare is not on any hot path. */
    flag_uncompile(f);
    rv = flag_check_top(f, field, fieldsz);
    if (rv != RAMP_OK) {
        goto fail;
    }
    for (size_t r = 0; r < f->nrules; r++) {
        struct rp_rule *rule = &f->rules[r];

        rv = rule_check(f, rule, r, field, fieldsz);
        if (rv != RAMP_OK) {
            goto fail;
        }
        for (size_t c = 0; c < rule->nclauses; c++) {
            rv = clause_check(&rule->clauses[c], r, c, field, fieldsz);
            if (rv != RAMP_OK) {
                goto fail;
            }
            rv = clause_compile(&rule->clauses[c], r, c, field, fieldsz);
            if (rv != RAMP_OK) {
                goto fail;
            }
        }
    }
    f->prepared = true;
    return RAMP_OK;

fail:
    flag_uncompile(f);
    return rv;
}

/* ---- rollouts ------------------------------------------------------- */

static ramp_err
policy_check(const struct rp_policy *p, char *field, size_t fieldsz)
{
    const char *bad = NULL;

    if (p->check_interval_ms < 100) {
        bad = "policy.check_interval_ms";
    } else if (p->min_samples < 1) {
        bad = "policy.min_samples";
    } else if (p->failure_limit < 1) {
        bad = "policy.failure_limit";
    } else if (!(p->err_rel >= 0.0 && p->err_rel <= 100.0)) {
        bad = "policy.err_rel"; /* written so NaN fails too */
    } else if (!(p->err_abs > 0.0 && p->err_abs <= 1.0)) {
        bad = "policy.err_abs";
    } else if (!(p->p95_rel >= 0.0 && p->p95_rel <= 100.0)) {
        bad = "policy.p95_rel";
    } else if (!(p->crit_err > 0.0 && p->crit_err <= 1.0)) {
        bad = "policy.crit_err";
    } else if (p->crit_min < 1) {
        bad = "policy.crit_min";
    } else if (p->max_stage_ms < p->bake_ms) {
        bad = "policy.max_stage_ms";
    }
    if (bad != NULL) {
        model_field(field, fieldsz, "%s", bad);
        return RAMP_EINVAL;
    }
    return RAMP_OK;
}

ramp_err
rp_rollout_validate(const struct rp_rollout *r, char *field, size_t fieldsz)
{
    ramp_err rv;

    model_field(field, fieldsz, "%s", "");
    if (r == NULL) {
        return RAMP_EINVAL;
    }
    if (r->flag_key == NULL ||
        !rp_flag_key_valid(r->flag_key, strlen(r->flag_key))) {
        model_field(field, fieldsz, "flag_key");
        return RAMP_EINVAL;
    }
    if (r->id == 0) {
        model_field(field, fieldsz, "id");
        return RAMP_EINVAL;
    }
    if (!model_name_valid(r->treatment)) {
        model_field(field, fieldsz, "treatment");
        return RAMP_EINVAL;
    }
    if (!model_name_valid(r->control) ||
        strcmp(r->treatment, r->control) == 0) {
        model_field(field, fieldsz, "control");
        return RAMP_EINVAL;
    }
    if ((unsigned) r->unit > RP_UNIT_HOST) {
        model_field(field, fieldsz, "unit");
        return RAMP_EINVAL;
    }
    if (r->unit == RP_UNIT_ATTR ? !model_attr_valid(r->unit_attr)
                                : r->unit_attr != NULL) {
        model_field(field, fieldsz, "unit_attr");
        return RAMP_EINVAL;
    }
    if (r->nstages == 0 || r->nstages > RP_MAX_STAGES) {
        model_field(field, fieldsz, "stages");
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < r->nstages; i++) {
        uint32_t bp = r->stages_bp[i];

        if (bp < 1 || bp > RP_BP_TOTAL ||
            (i > 0 && bp <= r->stages_bp[i - 1])) {
            model_field(field, fieldsz, "stages[%zu]", i);
            return RAMP_EINVAL;
        }
    }
    rv = policy_check(&r->policy, field, fieldsz);
    if (rv != RAMP_OK) {
        return rv;
    }
    if ((unsigned) r->state >= RP_RSTATE_COUNT) {
        model_field(field, fieldsz, "state");
        return RAMP_EINVAL;
    }
    if (r->stage_index >= r->nstages) {
        model_field(field, fieldsz, "stage_index");
        return RAMP_EINVAL;
    }
    if (r->nhistory > RP_MAX_HISTORY ||
        (r->nhistory > 0 && r->history == NULL)) {
        model_field(field, fieldsz, "history");
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < r->nhistory; i++) {
        const struct rp_history *h = &r->history[i];

        if ((unsigned) h->from >= RP_RSTATE_COUNT) {
            model_field(field, fieldsz, "history[%zu].from", i);
            return RAMP_EINVAL;
        }
        if ((unsigned) h->to >= RP_RSTATE_COUNT) {
            model_field(field, fieldsz, "history[%zu].to", i);
            return RAMP_EINVAL;
        }
        if (h->reason != NULL && !model_str_ok(h->reason, RP_STR_MAX)) {
            model_field(field, fieldsz, "history[%zu].reason", i);
            return RAMP_EINVAL;
        }
    }
    return RAMP_OK;
}

ramp_err
rp_rollout_view(const struct rp_rollout *r, const struct rp_flag *f,
    struct rp_rollout_view *v)
{
    int32_t t, c;

    memset(v, 0, sizeof(*v));
    if (r == NULL || f == NULL) {
        return RAMP_EINVAL;
    }
    v->unit = r->unit;
    v->unit_attr = r->unit_attr;
    switch (r->state) {
    case RP_RS_RUNNING:
    case RP_RS_PAUSED:
    case RP_RS_HELD:
        if (r->stage_index >= r->nstages || r->nstages > RP_MAX_STAGES) {
            return RAMP_EINVAL;
        }
        v->stage_bp = r->stages_bp[r->stage_index];
        break;
    case RP_RS_ROLLED_BACK:
    case RP_RS_ABORTED:
        v->stage_bp = 0; /* everyone back on control at once */
        break;
    case RP_RS_PENDING:
    case RP_RS_COMPLETED:
    default:
        /* Not applying: nothing to resolve, a finished rollout whose
         * variants were since renamed is not an error. */
        return RAMP_OK;
    }
    t = rp_flag_variant_index(f, r->treatment);
    c = rp_flag_variant_index(f, r->control);
    if (t < 0 || c < 0) {
        return RAMP_EINVAL;
    }
    v->treatment = (uint32_t) t;
    v->control = (uint32_t) c;
    v->applies = true;
    return RAMP_OK;
}

/* ---- release -------------------------------------------------------- */

static void
clause_fini(struct rp_clause *c)
{
    clause_uncompile(c);
    rp_free(c->attr);
    if (c->values != NULL) {
        for (size_t i = 0; i < c->nvalues; i++) {
            rp_free(c->values[i]);
        }
        rp_free(c->values);
    }
}

static void
rule_fini(struct rp_rule *rule)
{
    if (rule->clauses != NULL) {
        for (size_t i = 0; i < rule->nclauses; i++) {
            clause_fini(&rule->clauses[i]);
        }
        rp_free(rule->clauses);
    }
    rp_free(rule->splits);
}

void
rp_flag_fini(struct rp_flag *f)
{
    if (f == NULL) {
        return;
    }
    rp_free(f->key);
    rp_free(f->description);
    if (f->variants != NULL) {
        for (size_t i = 0; i < f->nvariants; i++) {
            rp_free(f->variants[i].name);
            rp_free(f->variants[i].value.s);
        }
        rp_free(f->variants);
    }
    if (f->rules != NULL) {
        for (size_t i = 0; i < f->nrules; i++) {
            rule_fini(&f->rules[i]);
        }
        rp_free(f->rules);
    }
    rp_free(f->updated_by);
    if (f->tags != NULL) {
        for (size_t i = 0; i < f->ntags; i++) {
            rp_free(f->tags[i]);
        }
        rp_free(f->tags);
    }
    memset(f, 0, sizeof(*f));
}

void
rp_flag_free(struct rp_flag *f)
{
    if (f == NULL) {
        return;
    }
    rp_flag_fini(f);
    rp_free(f);
}

void
rp_rollout_fini(struct rp_rollout *r)
{
    if (r == NULL) {
        return;
    }
    rp_free(r->flag_key);
    rp_free(r->treatment);
    rp_free(r->control);
    rp_free(r->unit_attr);
    if (r->history != NULL) {
        for (size_t i = 0; i < r->nhistory; i++) {
            rp_free(r->history[i].reason);
        }
        rp_free(r->history);
    }
    memset(r, 0, sizeof(*r));
}

void
rp_rollout_free(struct rp_rollout *r)
{
    if (r == NULL) {
        return;
    }
    rp_rollout_fini(r);
    rp_free(r);
}

/* ---- copies --------------------------------------------------------- */

/* NULL stays NULL; anything else must be copied or it is ENOMEM. */
static ramp_err
dup_str(const char *s, char **out)
{
    *out = NULL;
    if (s == NULL) {
        return RAMP_OK;
    }
    *out = rp_strdup(s);
    return *out == NULL ? RAMP_ENOMEM : RAMP_OK;
}

static ramp_err
dup_clause(const struct rp_clause *src, struct rp_clause *dst)
{
    ramp_err rv;

    dst->op = src->op;
    dst->negate = src->negate;
    rv = dup_str(src->attr, &dst->attr);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (src->values == NULL) {
        dst->nvalues = src->nvalues;
        return RAMP_OK;
    }
    dst->values = rp_calloc(src->nvalues, sizeof(*dst->values));
    if (dst->values == NULL) {
        return RAMP_ENOMEM;
    }
    /* Set nvalues first: the values array is all NULL, which fini
     * handles, so a partial copy is always releasable. */
    dst->nvalues = src->nvalues;
    for (size_t i = 0; i < src->nvalues; i++) {
        rv = dup_str(src->values[i], &dst->values[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

static ramp_err
dup_rule(const struct rp_rule *src, struct rp_rule *dst)
{
    ramp_err rv;

    dst->variant = src->variant;
    if (src->nsplits > 0 && src->splits != NULL) {
        dst->splits = rp_calloc(src->nsplits, sizeof(*dst->splits));
        if (dst->splits == NULL) {
            return RAMP_ENOMEM;
        }
        memcpy(dst->splits, src->splits, src->nsplits * sizeof(*src->splits));
    }
    dst->nsplits = src->nsplits;
    if (src->nclauses == 0 || src->clauses == NULL) {
        dst->nclauses = src->nclauses;
        return RAMP_OK;
    }
    dst->clauses = rp_calloc(src->nclauses, sizeof(*dst->clauses));
    if (dst->clauses == NULL) {
        return RAMP_ENOMEM;
    }
    dst->nclauses = src->nclauses;
    for (size_t i = 0; i < src->nclauses; i++) {
        rv = dup_clause(&src->clauses[i], &dst->clauses[i]);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

static ramp_err
dup_value(const struct rp_value *src, struct rp_value *dst)
{
    *dst = *src;
    dst->s = NULL;
    if (src->s == NULL) {
        return RAMP_OK;
    }
    /* By length: the bytes are what they are, even in an unvalidated
     * flag. */
    dst->s = rp_strndup(src->s, src->len);
    return dst->s == NULL ? RAMP_ENOMEM : RAMP_OK;
}

static ramp_err
flag_copy(const struct rp_flag *src, struct rp_flag *dst)
{
    ramp_err rv;

    dst->type = src->type;
    dst->enabled = src->enabled;
    dst->off_variant = src->off_variant;
    dst->default_variant = src->default_variant;
    memcpy(dst->salt, src->salt, sizeof(dst->salt));
    dst->version = src->version;
    dst->updated_at_ms = src->updated_at_ms;
    rv = dup_str(src->key, &dst->key);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dup_str(src->description, &dst->description);
    if (rv != RAMP_OK) {
        return rv;
    }
    rv = dup_str(src->updated_by, &dst->updated_by);
    if (rv != RAMP_OK) {
        return rv;
    }
    if (src->nvariants > 0 && src->variants != NULL) {
        dst->variants = rp_calloc(src->nvariants, sizeof(*dst->variants));
        if (dst->variants == NULL) {
            return RAMP_ENOMEM;
        }
        dst->nvariants = src->nvariants;
        for (size_t i = 0; i < src->nvariants; i++) {
            rv = dup_str(src->variants[i].name, &dst->variants[i].name);
            if (rv != RAMP_OK) {
                return rv;
            }
            rv = dup_value(&src->variants[i].value, &dst->variants[i].value);
            if (rv != RAMP_OK) {
                return rv;
            }
        }
    }
    if (src->ntags > 0 && src->tags != NULL) {
        dst->tags = rp_calloc(src->ntags, sizeof(*dst->tags));
        if (dst->tags == NULL) {
            return RAMP_ENOMEM;
        }
        dst->ntags = src->ntags;
        for (size_t i = 0; i < src->ntags; i++) {
            rv = dup_str(src->tags[i], &dst->tags[i]);
            if (rv != RAMP_OK) {
                return rv;
            }
        }
    }
    if (src->nrules > 0 && src->rules != NULL) {
        dst->rules = rp_calloc(src->nrules, sizeof(*dst->rules));
        if (dst->rules == NULL) {
            return RAMP_ENOMEM;
        }
        dst->nrules = src->nrules;
        for (size_t i = 0; i < src->nrules; i++) {
            rv = dup_rule(&src->rules[i], &dst->rules[i]);
            if (rv != RAMP_OK) {
                return rv;
            }
        }
    }
    return RAMP_OK;
}

ramp_err
rp_flag_dup(const struct rp_flag *f, struct rp_flag **out)
{
    struct rp_flag *d;
    ramp_err rv;

    *out = NULL;
    if (f == NULL) {
        return RAMP_EINVAL;
    }
    d = rp_calloc(1, sizeof(*d));
    if (d == NULL) {
        return RAMP_ENOMEM;
    }
    rv = flag_copy(f, d);
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (f->prepared) {
        rv = rp_flag_prepare(d, NULL, 0);
        if (rv != RAMP_OK) {
            goto fail;
        }
    }
    *out = d;
    return RAMP_OK;

fail:
    rp_flag_free(d);
    return rv;
}

ramp_err
rp_rollout_dup(const struct rp_rollout *r, struct rp_rollout **out)
{
    struct rp_rollout *d;
    ramp_err rv;

    *out = NULL;
    if (r == NULL) {
        return RAMP_EINVAL;
    }
    d = rp_calloc(1, sizeof(*d));
    if (d == NULL) {
        return RAMP_ENOMEM;
    }
    /* Scalars, stages and policy by value; owned pointers replaced. */
    *d = *r;
    d->flag_key = NULL;
    d->treatment = NULL;
    d->control = NULL;
    d->unit_attr = NULL;
    d->history = NULL;
    d->nhistory = 0;
    rv = dup_str(r->flag_key, &d->flag_key);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = dup_str(r->treatment, &d->treatment);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = dup_str(r->control, &d->control);
    if (rv != RAMP_OK) {
        goto fail;
    }
    rv = dup_str(r->unit_attr, &d->unit_attr);
    if (rv != RAMP_OK) {
        goto fail;
    }
    if (r->nhistory > 0 && r->history != NULL) {
        d->history = rp_calloc(r->nhistory, sizeof(*d->history));
        if (d->history == NULL) {
            rv = RAMP_ENOMEM;
            goto fail;
        }
        d->nhistory = r->nhistory;
        for (size_t i = 0; i < r->nhistory; i++) {
            d->history[i] = r->history[i];
            d->history[i].reason = NULL;
            rv = dup_str(r->history[i].reason, &d->history[i].reason);
            if (rv != RAMP_OK) {
                goto fail;
            }
        }
    }
    *out = d;
    return RAMP_OK;

fail:
    rp_rollout_free(d);
    return rv;
}
