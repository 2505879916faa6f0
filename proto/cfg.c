/* SPDX-License-Identifier: MIT */
/*
 * Settings from a table (Redis config.c): defaults, a config file, RAMP_*
 * environment variables and --flags, in that order of precedence, every
 * value validated against its table row. A load builds a complete new
 * value set aside and swaps it in only when every source was good, so a
 * bad SIGHUP reload leaves the running config untouched.
 *
 * Not here: which settings exist (each daemon's table), deciding what a
 * reload may change (the daemon compares old and new), --help output,
 * and locking: a struct rp_cfg is read and reloaded by one thread, or
 * under the caller's lock.
 */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"

extern char **environ;

#define CFG_NONE ((size_t) -1)
#define CFG_SRC_MAX 160 /* "file <path>:<line>" etc., cut if longer */
#define CFG_WHY_MAX 160

enum num_err { NUM_OK, NUM_SYNTAX, NUM_RANGE };

/* One --flag from argv, applied after the file and the environment. */
struct cfg_flag {
    size_t idx;      /* row in c->defs */
    const char *val; /* borrowed from argv, or a static "true"/"false" */
    const char *arg; /* the argv element naming the flag, for messages */
    int namelen;     /* bytes of arg up to any '=' ("--port") */
};

static void cfg_err(struct rp_cfg *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
cfg_err(struct rp_cfg *c, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
}

/*
 * Number scanning. Signs are accepted only for INT: a size or duration
 * of "-1" is a typo, not a value, and saying "not a size" is clearer
 * than "out of range".
 */
static enum num_err
num_digits(const char **sp, uint64_t *out)
{
    const char *s = *sp;
    uint64_t v = 0;

    if (*s < '0' || *s > '9') {
        return NUM_SYNTAX;
    }
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned) (*s - '0');

        if (v > (UINT64_MAX - d) / 10) {
            /* Skip the remaining digits so a huge number still reports
             * "out of range" rather than a syntax error. */
            while (*s >= '0' && *s <= '9') {
                s++;
            }
            *sp = s;
            return NUM_RANGE;
        }
        v = v * 10 + d;
    }
    *sp = s;
    *out = v;
    return NUM_OK;
}

static enum num_err
num_int(const char *s, int64_t *out)
{
    bool neg = false;
    uint64_t v = 0;
    enum num_err e;

    if (*s == '+' || *s == '-') {
        neg = *s == '-';
        s++;
    }
    e = num_digits(&s, &v);
    if (e == NUM_SYNTAX || *s != '\0') {
        return NUM_SYNTAX;
    }
    if (e == NUM_RANGE) {
        return NUM_RANGE;
    }
    if (neg) {
        if (v > (uint64_t) INT64_MAX + 1) {
            return NUM_RANGE;
        }
        *out = v == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) v;
    } else {
        if (v > (uint64_t) INT64_MAX) {
            return NUM_RANGE;
        }
        *out = (int64_t) v;
    }
    return NUM_OK;
}

/* A number followed by one of the suffixes, each with its multiplier. */
struct num_suffix {
    const char *s;
    uint64_t mult;
};

static const struct num_suffix size_suffixes[] = {
    {"", 1},
    {"k", 1ULL << 10},
    {"K", 1ULL << 10},
    {"m", 1ULL << 20},
    {"M", 1ULL << 20},
    {"g", 1ULL << 30},
    {"G", 1ULL << 30},
    {NULL, 0},
};

static const struct num_suffix duration_suffixes[] = {
    {"", 1}, /* bare number: milliseconds */
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
    {NULL, 0},
};

static enum num_err
num_scaled(const char *s, const struct num_suffix *sfx, int64_t *out)
{
    uint64_t v = 0;
    enum num_err e;

    e = num_digits(&s, &v);
    if (e == NUM_SYNTAX) {
        return NUM_SYNTAX;
    }
    for (; sfx->s != NULL; sfx++) {
        if (strcmp(s, sfx->s) == 0) {
            break;
        }
    }
    if (sfx->s == NULL) {
        return NUM_SYNTAX;
    }
    if (e == NUM_RANGE || v > (uint64_t) INT64_MAX / sfx->mult) {
        return NUM_RANGE;
    }
    *out = (int64_t) (v * sfx->mult);
    return NUM_OK;
}

static ramp_err
num_bounded(enum num_err e, int64_t v, int64_t min, int64_t max, int64_t *out)
{
    if (e != NUM_OK || v < min || v > max) {
        return RAMP_EINVAL;
    }
    *out = v;
    return RAMP_OK;
}

ramp_err
rp_parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int64_t v = 0;
    enum num_err e;

    if (s == NULL) {
        return RAMP_EINVAL;
    }
    e = num_int(s, &v);
    return num_bounded(e, v, min, max, out);
}

ramp_err
rp_parse_size(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int64_t v = 0;
    enum num_err e;

    if (s == NULL) {
        return RAMP_EINVAL;
    }
    e = num_scaled(s, size_suffixes, &v);
    return num_bounded(e, v, min, max, out);
}

ramp_err
rp_parse_duration(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int64_t v = 0;
    enum num_err e;

    if (s == NULL) {
        return RAMP_EINVAL;
    }
    e = num_scaled(s, duration_suffixes, &v);
    return num_bounded(e, v, min, max, out);
}

ramp_err
rp_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};

    if (s == NULL) {
        return RAMP_EINVAL;
    }
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return RAMP_OK;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return RAMP_OK;
        }
    }
    return RAMP_EINVAL;
}

/*
 * Validate s for row d. On error why says what was wrong, for c->err.
 * Numbers and booleans are echoed back (cut at 40 bytes); STR and PATH
 * values never are, since a string setting may hold something secret.
 */
static ramp_err
cfg_value(const struct rp_cfg_def *d, const char *s, int64_t *out, char *why,
    size_t whylen)
{
    const char *unit = "";
    enum num_err e = NUM_SYNTAX;
    int64_t v = 0;
    bool b;

    if (strlen(s) > RP_CFG_VAL_MAX) {
        snprintf(why, whylen, "value longer than %d bytes", RP_CFG_VAL_MAX);
        return RAMP_EINVAL;
    }
    switch (d->type) {
    case RP_CFG_STR:
        *out = 0;
        return RAMP_OK;
    case RP_CFG_PATH:
        if (s[0] == '\0') {
            snprintf(why, whylen, "empty path");
            return RAMP_EINVAL;
        }
        *out = 0;
        return RAMP_OK;
    case RP_CFG_BOOL:
        if (rp_parse_bool(s, &b) != RAMP_OK) {
            snprintf(why, whylen,
                "'%.40s' is not a boolean (true/false, yes/no, on/off, 1/0)",
                s);
            return RAMP_EINVAL;
        }
        *out = b ? 1 : 0;
        return RAMP_OK;
    case RP_CFG_INT:
        e = num_int(s, &v);
        if (e == NUM_SYNTAX) {
            snprintf(why, whylen, "'%.40s' is not an integer", s);
            return RAMP_EINVAL;
        }
        break;
    case RP_CFG_SIZE:
        unit = " bytes";
        e = num_scaled(s, size_suffixes, &v);
        if (e == NUM_SYNTAX) {
            snprintf(why, whylen,
                "'%.40s' is not a size (a number, optionally with k, m or g)",
                s);
            return RAMP_EINVAL;
        }
        break;
    case RP_CFG_DURATION:
        unit = " ms";
        e = num_scaled(s, duration_suffixes, &v);
        if (e == NUM_SYNTAX) {
            snprintf(why, whylen,
                "'%.40s' is not a duration (a number, optionally with ms, s, "
                "m or h)",
                s);
            return RAMP_EINVAL;
        }
        break;
    default:
        snprintf(
            why, whylen, "bad type %d in the settings table", (int) d->type);
        return RAMP_EINVAL;
    }
    if (e != NUM_OK || v < d->min || v > d->max) {
        snprintf(why, whylen, "'%.40s' is out of range %lld..%lld%s", s,
            (long long) d->min, (long long) d->max, unit);
        return RAMP_EINVAL;
    }
    *out = v;
    return RAMP_OK;
}

static size_t
cfg_lookup(const struct rp_cfg *c, const char *name, size_t n)
{
    for (size_t i = 0; i < c->ndefs; i++) {
        if (strncmp(c->defs[i].name, name, n) == 0 &&
            c->defs[i].name[n] == '\0') {
            return i;
        }
    }
    return CFG_NONE;
}

static void
cfg_vals_free(struct rp_cfg_val *vals, size_t n)
{
    if (vals == NULL) {
        return;
    }
    for (size_t i = 0; i < n; i++) {
        rp_free(vals[i].str);
    }
    rp_free(vals);
}

/* Validate and store one value; src names the source for messages. */
static ramp_err
cfg_set(struct rp_cfg *c, struct rp_cfg_val *vals, size_t idx, const char *s,
    enum rp_cfg_src srck, const char *src)
{
    const struct rp_cfg_def *d = &c->defs[idx];
    char why[CFG_WHY_MAX];
    int64_t v = 0;
    char *copy;

    if (cfg_value(d, s, &v, why, sizeof(why)) != RAMP_OK) {
        cfg_err(c, "%s: setting '%s': %s", src, d->name, why);
        return RAMP_EINVAL;
    }
    copy = rp_strdup(s);
    if (copy == NULL) {
        cfg_err(c, "%s: setting '%s': out of memory", src, d->name);
        return RAMP_ENOMEM;
    }
    rp_free(vals[idx].str);
    vals[idx].str = copy;
    vals[idx].i = v;
    vals[idx].src = srck;
    return RAMP_OK;
}

static ramp_err
cfg_defaults(struct rp_cfg *c, struct rp_cfg_val *vals)
{
    ramp_err rv;

    for (size_t i = 0; i < c->ndefs; i++) {
        if (c->defs[i].dflt == NULL) {
            continue;
        }
        rv =
            cfg_set(c, vals, i, c->defs[i].dflt, RP_CFG_SRC_DEFAULT, "default");
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

ramp_err
rp_cfg_init(struct rp_cfg *c, const struct rp_cfg_def *defs, size_t ndefs)
{
    struct rp_cfg_val *vals = NULL;
    ramp_err rv;

    c->defs = defs;
    c->ndefs = ndefs;
    c->vals = NULL;
    c->err[0] = '\0';
    for (size_t i = 0; i < ndefs; i++) {
        if (defs[i].name == NULL || defs[i].name[0] == '\0') {
            cfg_err(c, "settings table: row %zu has no name", i);
            rv = RAMP_EINVAL;
            goto fail;
        }
        if (cfg_lookup(c, defs[i].name, strlen(defs[i].name)) != i) {
            cfg_err(c, "settings table: '%s' appears twice", defs[i].name);
            rv = RAMP_EINVAL;
            goto fail;
        }
    }
    /* At least one element, so a table-less config still has vals. */
    vals = rp_calloc(ndefs > 0 ? ndefs : 1, sizeof(*vals));
    if (vals == NULL) {
        cfg_err(c, "out of memory");
        rv = RAMP_ENOMEM;
        goto fail;
    }
    /* A bad default is a bug in the table: catch it at start-up, with
     * the defaults also available before the first load. */
    rv = cfg_defaults(c, vals);
    if (rv != RAMP_OK) {
        goto fail;
    }
    c->vals = vals;
    return RAMP_OK;

fail:
    cfg_vals_free(vals, ndefs);
    return rv;
}

void
rp_cfg_fini(struct rp_cfg *c)
{
    cfg_vals_free(c->vals, c->ndefs);
    c->vals = NULL;
}

/* ---- file ---- */

static ramp_err
cfg_read_file(struct rp_cfg *c, const char *path, struct rp_buf *b)
{
    ramp_err rv = RAMP_OK;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cfg_err(c, "file %s: cannot open: %s", path, strerror(errno));
        return RAMP_EIO;
    }
    /* Read to EOF rather than trusting st_size: the bound must hold for
     * files that grow while we read them, and for /proc-like files. */
    for (;;) {
        char chunk[4096];
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            cfg_err(c, "file %s: cannot read: %s", path, strerror(errno));
            rv = RAMP_EIO;
            break;
        }
        if (n == 0) {
            break;
        }
        rv = rp_buf_append(b, chunk, (size_t) n);
        if (rv == RAMP_ETOOBIG) {
            cfg_err(c, "file %s: larger than %d bytes", path, RP_CFG_FILE_MAX);
            break;
        }
        if (rv != RAMP_OK) {
            cfg_err(c, "file %s: out of memory", path);
            break;
        }
    }
    close(fd);
    return rv;
}

/*
 * Undo the quoting of a value that starts with '"', in place. Only \"
 * and \\ are escapes: a config file is not a C string, and anything
 * cleverer would make Windows-style paths surprising.
 */
static const char *
cfg_unquote(char *v)
{
    char *r = v + 1;
    char *w = v;

    for (;;) {
        if (*r == '\0') {
            return "unterminated quoted value";
        }
        if (*r == '"') {
            break;
        }
        if (*r == '\\') {
            if (r[1] != '"' && r[1] != '\\') {
                return "bad escape in quoted value (only \\\" and \\\\)";
            }
            r++;
        }
        *w++ = *r++;
    }
    if (r[1] != '\0') {
        return "text after the closing quote";
    }
    *w = '\0';
    return NULL;
}

static ramp_err
cfg_file_line(struct rp_cfg *c, struct rp_cfg_val *vals, const char *path,
    unsigned lineno, const char *text, size_t len)
{
    char line[RP_CFG_VAL_MAX + 1];
    char src[CFG_SRC_MAX];
    const char *problem;
    char *s, *e, *eq, *v;
    size_t idx;

    if (len > RP_CFG_VAL_MAX) {
        cfg_err(c, "file %s:%u: line longer than %d bytes", path, lineno,
            RP_CFG_VAL_MAX);
        return RAMP_EINVAL;
    }
    if (memchr(text, '\0', len) != NULL) {
        cfg_err(c, "file %s:%u: NUL byte", path, lineno);
        return RAMP_EINVAL;
    }
    memcpy(line, text, len);
    line[len] = '\0';
    s = line;
    while (isspace((unsigned char) *s)) {
        s++;
    }
    e = s + strlen(s);
    while (e > s && isspace((unsigned char) e[-1])) {
        *--e = '\0';
    }
    if (*s == '\0' || *s == '#') {
        return RAMP_OK;
    }
    eq = strchr(s, '=');
    if (eq == NULL || eq == s) {
        cfg_err(c, "file %s:%u: expected 'name = value'", path, lineno);
        return RAMP_EINVAL;
    }
    e = eq;
    while (e > s && isspace((unsigned char) e[-1])) {
        e--;
    }
    idx = cfg_lookup(c, s, (size_t) (e - s));
    if (idx == CFG_NONE) {
        cfg_err(c, "file %s:%u: unknown setting '%.*s'", path, lineno,
            (int) (e - s > 64 ? 64 : e - s), s);
        return RAMP_EINVAL;
    }
    v = eq + 1;
    while (isspace((unsigned char) *v)) {
        v++;
    }
    if (*v == '"') {
        problem = cfg_unquote(v);
        if (problem != NULL) {
            cfg_err(c, "file %s:%u: setting '%s': %s", path, lineno,
                c->defs[idx].name, problem);
            return RAMP_EINVAL;
        }
    }
    snprintf(src, sizeof(src), "file %s:%u", path, lineno);
    return cfg_set(c, vals, idx, v, RP_CFG_SRC_FILE, src);
}

static ramp_err
cfg_file(struct rp_cfg *c, struct rp_cfg_val *vals, const char *path)
{
    struct rp_buf b;
    unsigned lineno = 1;
    size_t off = 0;
    ramp_err rv;

    rp_buf_init(&b, RP_CFG_FILE_MAX);
    rv = cfg_read_file(c, path, &b);
    if (rv != RAMP_OK) {
        goto out;
    }
    while (off < b.len) {
        const char *p = (const char *) b.data + off;
        const char *nl = memchr(p, '\n', b.len - off);
        size_t len = nl != NULL ? (size_t) (nl - p) : b.len - off;

        rv = cfg_file_line(c, vals, path, lineno, p, len);
        if (rv != RAMP_OK) {
            goto out;
        }
        off += len + (nl != NULL ? 1 : 0);
        lineno++;
    }

out:
    rp_buf_fini(&b);
    return rv;
}

/* ---- environment ---- */

/*
 * Find RAMP_<NAME> for setting name in envp, comparing in place rather
 * than building the variable name. Only table names are looked for, so
 * RAMP_URL and friends that belong to other programs are never errors.
 */
static const char *
cfg_env_find(char **envp, const char *name, int *varlen)
{
    for (char **ep = envp; *ep != NULL; ep++) {
        const char *p = *ep;
        const char *n = name;

        if (strncmp(p, "RAMP_", 5) != 0) {
            continue;
        }
        for (p += 5; *n != '\0'; n++, p++) {
            int want = *n == '-' ? '_' : toupper((unsigned char) *n);

            if (*p != want) {
                break;
            }
        }
        if (*n == '\0' && *p == '=') {
            *varlen = (int) (p - *ep);
            return p + 1;
        }
    }
    return NULL;
}

static ramp_err
cfg_env(struct rp_cfg *c, struct rp_cfg_val *vals, char **envp)
{
    char src[CFG_SRC_MAX];
    ramp_err rv;

    if (envp == NULL) {
        return RAMP_OK;
    }
    for (size_t i = 0; i < c->ndefs; i++) {
        int varlen = 0;
        const char *v = cfg_env_find(envp, c->defs[i].name, &varlen);

        if (v == NULL) {
            continue;
        }
        snprintf(src, sizeof(src), "environment %.*s", varlen, v - varlen - 1);
        rv = cfg_set(c, vals, i, v, RP_CFG_SRC_ENV, src);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

/* ---- flags ---- */

/*
 * Sort argv into flags and positional arguments without applying
 * anything yet: the file named by --config must be read first, because
 * flags outrank it. A bool flag never takes the next argument as its
 * value, so "--verbose file" leaves "file" positional.
 */
static ramp_err
cfg_args(struct rp_cfg *c, int argc, char **argv, bool want_rest,
    struct cfg_flag *flags, size_t *nflags, char *ispos, int *npos,
    const char **cfgpath)
{
    bool opts = true;

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *name, *eq, *val;
        int namelen;
        size_t idx, noidx;

        if (a == NULL) {
            cfg_err(c, "argument %d is NULL", i);
            return RAMP_EINVAL;
        }
        if (!opts || a[0] != '-' || a[1] == '\0') {
            if (!want_rest) {
                cfg_err(c, "unexpected argument '%.64s'", a);
                return RAMP_EINVAL;
            }
            ispos[i] = 1;
            (*npos)++;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            opts = false;
            continue;
        }
        if (a[1] != '-') {
            cfg_err(c, "unknown flag %.64s", a);
            return RAMP_EINVAL;
        }
        name = a + 2;
        eq = strchr(name, '=');
        namelen = (int) (eq != NULL ? eq - name : (ptrdiff_t) strlen(name));
        val = eq != NULL ? eq + 1 : NULL;
        if (namelen == 6 && strncmp(name, "config", 6) == 0) {
            /* Selects the file rather than a setting; a table row
             * called "config" could only be set from the file or the
             * environment. */
            if (val == NULL) {
                if (i + 1 >= argc || argv[i + 1] == NULL) {
                    cfg_err(c, "flag --config needs a value");
                    return RAMP_EINVAL;
                }
                val = argv[++i];
            }
            if (val[0] == '\0') {
                cfg_err(c, "flag --config: empty path");
                return RAMP_EINVAL;
            }
            *cfgpath = val;
            continue;
        }
        idx = namelen > 0 ? cfg_lookup(c, name, (size_t) namelen) : CFG_NONE;
        noidx = CFG_NONE;
        if (idx == CFG_NONE && namelen > 3 && strncmp(name, "no-", 3) == 0) {
            noidx = cfg_lookup(c, name + 3, (size_t) namelen - 3);
        }
        if (idx != CFG_NONE && c->defs[idx].type == RP_CFG_BOOL) {
            if (val == NULL) {
                val = "true";
            }
        } else if (idx != CFG_NONE) {
            if (val == NULL) {
                if (i + 1 >= argc || argv[i + 1] == NULL) {
                    cfg_err(c, "flag --%.*s needs a value", namelen, name);
                    return RAMP_EINVAL;
                }
                val = argv[++i];
            }
        } else if (noidx != CFG_NONE && c->defs[noidx].type == RP_CFG_BOOL) {
            idx = noidx;
            if (val != NULL) {
                cfg_err(c, "flag --%.*s takes no value", namelen, name);
                return RAMP_EINVAL;
            }
            val = "false";
        } else {
            cfg_err(
                c, "unknown flag --%.*s", namelen > 64 ? 64 : namelen, name);
            return RAMP_EINVAL;
        }
        flags[*nflags].idx = idx;
        flags[*nflags].val = val;
        flags[*nflags].arg = a;
        flags[*nflags].namelen = namelen + 2;
        (*nflags)++;
    }
    return RAMP_OK;
}

static ramp_err
cfg_flags(struct rp_cfg *c, struct rp_cfg_val *vals,
    const struct cfg_flag *flags, size_t nflags)
{
    char src[CFG_SRC_MAX];
    ramp_err rv;

    for (size_t i = 0; i < nflags; i++) {
        snprintf(src, sizeof(src), "flag %.*s", flags[i].namelen, flags[i].arg);
        rv = cfg_set(c, vals, flags[i].idx, flags[i].val, RP_CFG_SRC_FLAG, src);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return RAMP_OK;
}

/*
 * Move positional arguments to the end of argv, both groups keeping
 * their order (GNU getopt's permutation), so *rest can point into argv
 * and nothing needs freeing by the caller.
 */
static ramp_err
cfg_permute(
    struct rp_cfg *c, int argc, char **argv, const char *ispos, int npos)
{
    char **tmp;
    int o = 0;
    int p = argc - npos;

    if (npos == 0) {
        return RAMP_OK;
    }
    tmp = rp_calloc((size_t) argc, sizeof(*tmp));
    if (tmp == NULL) {
        cfg_err(c, "out of memory");
        return RAMP_ENOMEM;
    }
    for (int i = 0; i < argc; i++) {
        if (ispos[i]) {
            tmp[p++] = argv[i];
        } else {
            tmp[o++] = argv[i];
        }
    }
    memcpy(argv, tmp, (size_t) argc * sizeof(*argv));
    rp_free(tmp);
    return RAMP_OK;
}

ramp_err
rp_cfg_load(struct rp_cfg *c, const char *path, char **envp, int argc,
    char **argv, char ***rest, int *nrest)
{
    struct rp_cfg_val *vals = NULL;
    struct cfg_flag *flags = NULL;
    char *ispos = NULL;
    size_t nflags = 0;
    int npos = 0;
    ramp_err rv;

    c->err[0] = '\0';
    if (argc < 0 || (argc > 0 && argv == NULL)) {
        cfg_err(c, "bad argument vector");
        rv = RAMP_EINVAL;
        goto out;
    }
    vals = rp_calloc(c->ndefs > 0 ? c->ndefs : 1, sizeof(*vals));
    flags = rp_calloc(argc > 0 ? (size_t) argc : 1, sizeof(*flags));
    ispos = rp_calloc(argc > 0 ? (size_t) argc : 1, 1);
    if (vals == NULL || flags == NULL || ispos == NULL) {
        cfg_err(c, "out of memory");
        rv = RAMP_ENOMEM;
        goto out;
    }
    rv = cfg_args(
        c, argc, argv, rest != NULL, flags, &nflags, ispos, &npos, &path);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = cfg_defaults(c, vals);
    if (rv != RAMP_OK) {
        goto out;
    }
    if (path != NULL) {
        rv = cfg_file(c, vals, path);
        if (rv != RAMP_OK) {
            goto out;
        }
    }
    rv = cfg_env(c, vals, envp != NULL ? envp : environ);
    if (rv != RAMP_OK) {
        goto out;
    }
    rv = cfg_flags(c, vals, flags, nflags);
    if (rv != RAMP_OK) {
        goto out;
    }
    for (size_t i = 0; i < c->ndefs; i++) {
        if (vals[i].str == NULL) {
            cfg_err(c,
                "setting '%s' is required: set it in the config "
                "file, as RAMP_ variable or as --%s",
                c->defs[i].name, c->defs[i].name);
            rv = RAMP_EINVAL;
            goto out;
        }
    }
    /* Last fallible step before the swap. */
    if (rest != NULL) {
        rv = cfg_permute(c, argc, argv, ispos, npos);
        if (rv != RAMP_OK) {
            goto out;
        }
        *rest = argv != NULL ? argv + (argc - npos) : NULL;
        if (nrest != NULL) {
            *nrest = npos;
        }
    }
    cfg_vals_free(c->vals, c->ndefs);
    c->vals = vals;
    vals = NULL;

out:
    cfg_vals_free(vals, c->ndefs);
    rp_free(flags);
    rp_free(ispos);
    return rv;
}

/* ---- lookups ---- */

#define CFG_T(t) (1u << (t))

/*
 * Asking for a setting the table does not have, or as the wrong type, is
 * a bug in the caller that no input can cause: stop loudly at the first
 * use rather than hand back a made-up value.
 */
static const struct rp_cfg_val *
cfg_get(
    const struct rp_cfg *c, const char *name, const char *fn, unsigned types)
{
    size_t idx = cfg_lookup(c, name, strlen(name));

    if (idx == CFG_NONE) {
        fprintf(stderr, "%s: unknown setting '%s'\n", fn, name);
        abort();
    }
    if ((types & CFG_T(c->defs[idx].type)) == 0) {
        fprintf(stderr, "%s: setting '%s' has another type (%d)\n", fn, name,
            (int) c->defs[idx].type);
        abort();
    }
    if (c->vals == NULL) {
        fprintf(stderr, "%s: '%s': config not initialised\n", fn, name);
        abort();
    }
    return &c->vals[idx];
}

const char *
rp_cfg_str(const struct rp_cfg *c, const char *name)
{
    return cfg_get(c, name, "rp_cfg_str", ~0u)->str;
}

int64_t
rp_cfg_int(const struct rp_cfg *c, const char *name)
{
    return cfg_get(c, name, "rp_cfg_int",
        CFG_T(RP_CFG_INT) | CFG_T(RP_CFG_SIZE) | CFG_T(RP_CFG_DURATION))
        ->i;
}

bool
rp_cfg_bool(const struct rp_cfg *c, const char *name)
{
    return cfg_get(c, name, "rp_cfg_bool", CFG_T(RP_CFG_BOOL))->i != 0;
}
