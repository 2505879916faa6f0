/* SPDX-License-Identifier: MIT */
/*
 * Evaluation helper for the integration scripts. One process evaluates
 * many contexts, because starting a process costs 20-65 ms on the test
 * machines and a script that asked `ramp eval` once per key would spend
 * most of the CI budget in exec().
 *
 *   ramp_evaltool ref FLAG.json [TREATMENT CONTROL host STAGE_BP]
 *                                      proto engine (rp_eval) on a flag's
 *                                      JSON as `ramp flag get --json`
 *                                      prints it (salt and version taken
 *                                      from it); with the four more
 *                                      arguments, under a host-unit
 *                                      rollout of those variants at
 *                                      STAGE_BP basis points, and a context
 *                                      attribute @host=ID is the agent's
 *                                      host id
 *   ramp_evaltool eval TARGET FLAG     libramp (ramp_eval_all) against an
 *                                      agent: ipc://... or direct:DIR
 *   ramp_evaltool wait TARGET FLAG VERSION TIMEOUT_MS
 *                                      poll libramp until FLAG has VERSION
 *                                      (0: until FLAG is absent); exit 0,
 *                                      or 1 at the deadline
 *
 * ref and eval read contexts from stdin, one per line: a targeting key
 * ("-" for none) followed by NAME=VALUE string attributes, separated by
 * spaces. Each prints one line per context, in the same format, so the
 * two can be compared with diff:
 *
 *   KEY VARIANT REASON ERROR VERSION VALUE
 *
 * with "-" for an absent variant, error or value. Not here: anything a
 * test asserts (the scripts decide), or any way of evaluating other than
 * the two the product offers (proto/eval.c and libramp).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "bucket.h"
#include "eval.h"
#include "json.h"
#include "model.h"
#include "ramp/ramp.h"

#define LINE_MAX_LEN 8192
#define ATTRS_MAX 64

static const char *const reason_names[] = {"STATIC", "DEFAULT",
    "TARGETING_MATCH", "SPLIT", "DISABLED", "ERROR", "STALE", "CACHED",
    "UNKNOWN"};

static const char *const error_names[] = {"-", "PROVIDER_NOT_READY",
    "FLAG_NOT_FOUND", "PARSE_ERROR", "TYPE_MISMATCH",
    "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL"};

static const char *
reason_name(unsigned r)
{
    return r < sizeof(reason_names) / sizeof(reason_names[0])
               ? reason_names[r]
               : "UNKNOWN";
}

static const char *
error_name(unsigned e)
{
    return e < sizeof(error_names) / sizeof(error_names[0]) ? error_names[e]
                                                            : "GENERAL";
}

/* One parsed input line; pointers into the line buffer. */
struct ctxline {
    const char *key; /* NULL: no targeting key */
    size_t nattrs;
    const char *names[ATTRS_MAX];
    const char *values[ATTRS_MAX];
};

/* Split "KEY A=B C=D" in place. Returns false on a malformed line. */
static bool
ctxline_parse(char *line, struct ctxline *cl)
{
    char *save = NULL;
    char *tok;

    memset(cl, 0, sizeof(*cl));
    tok = strtok_r(line, " \t\r\n", &save);
    if (tok == NULL) {
        return false;
    }
    cl->key = strcmp(tok, "-") == 0 ? NULL : tok;
    while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
        char *eq = strchr(tok, '=');

        if (eq == NULL || eq == tok || cl->nattrs == ATTRS_MAX) {
            return false;
        }
        *eq = '\0';
        cl->names[cl->nattrs] = tok;
        cl->values[cl->nattrs] = eq + 1;
        cl->nattrs++;
    }
    return true;
}

static void
print_value_ref(const struct rp_value *v)
{
    if (v == NULL) {
        fputs("-", stdout);
        return;
    }
    switch (v->type) {
    case RP_TYPE_BOOL:
        fputs(v->b ? "true" : "false", stdout);
        break;
    case RP_TYPE_NUMBER:
        printf("%.17g", v->n);
        break;
    default:
        fwrite(v->s, 1, v->len, stdout);
        break;
    }
}

static void
print_value_lib(const struct ramp_value *v)
{
    if (v == NULL) {
        fputs("-", stdout);
        return;
    }
    switch (v->type) {
    case RAMP_TYPE_BOOL:
        fputs(v->b ? "true" : "false", stdout);
        break;
    case RAMP_TYPE_NUMBER:
        printf("%.17g", v->n);
        break;
    default:
        fwrite(v->s, 1, v->len, stdout);
        break;
    }
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/*
 * Load a flag as the API shows it. rp_flag_from_json() ignores the
 * server-owned members (a client cannot set them), so the salt, which
 * decides every bucket, and the version are read here.
 */
static int
ref_load(const char *path, struct rp_flag **out)
{
    char field[RP_JSON_FIELD_MAX];
    json_error_t jerr;
    json_t *j = NULL;
    struct rp_flag *f = NULL;
    const char *salt;
    json_int_t version;
    int rc = 1;

    j = json_load_file(path, 0, &jerr);
    if (j == NULL) {
        fprintf(stderr, "evaltool: %s: %s\n", path, jerr.text);
        goto out;
    }
    if (rp_flag_from_json(j, &f, field, sizeof(field)) != RAMP_OK) {
        fprintf(stderr, "evaltool: %s: invalid flag (field: %s)\n", path,
            field);
        goto out;
    }
    salt = json_string_value(json_object_get(j, "salt"));
    version = json_integer_value(json_object_get(j, "version"));
    if (salt == NULL || strlen(salt) != 2 * RP_SALT_LEN || version < 1) {
        fprintf(stderr, "evaltool: %s: no salt or version\n", path);
        goto out;
    }
    for (size_t i = 0; i < RP_SALT_LEN; i++) {
        int hi = hexval(salt[2 * i]);
        int lo = hexval(salt[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            fprintf(stderr, "evaltool: %s: bad salt\n", path);
            goto out;
        }
        f->salt[i] = (uint8_t) (hi << 4 | lo);
    }
    f->version = (uint64_t) version;
    *out = f;
    f = NULL;
    rc = 0;

out:
    rp_flag_free(f);
    json_decref(j);
    return rc;
}

static int
cmd_ref(const char *path, char **ro_args)
{
    struct rp_rollout_view ro;
    bool with_ro = ro_args != NULL;
    struct rp_flag *f = NULL;
    struct rp_attr attrs[ATTRS_MAX];
    char line[LINE_MAX_LEN];
    int rc;

    if (rp_crypto_init() != RAMP_OK) {
        fprintf(stderr, "evaltool: sodium_init failed\n");
        return 1;
    }
    rc = ref_load(path, &f);
    if (rc != 0) {
        return rc;
    }
    if (with_ro) {
        char *end = NULL;
        unsigned long bp = strtoul(ro_args[3], &end, 10);

        memset(&ro, 0, sizeof(ro));
        ro.applies = true;
        ro.unit = RP_UNIT_HOST;
        ro.stage_bp = (uint32_t) bp;
        if (rp_flag_variant_index(f, ro_args[0]) < 0 ||
            rp_flag_variant_index(f, ro_args[1]) < 0 ||
            strcmp(ro_args[2], "host") != 0 || end == ro_args[3] ||
            *end != '\0' || bp > 10000) {
            fprintf(stderr, "evaltool: bad rollout arguments\n");
            rp_flag_free(f);
            return 2;
        }
        ro.treatment = (uint32_t) rp_flag_variant_index(f, ro_args[0]);
        ro.control = (uint32_t) rp_flag_variant_index(f, ro_args[1]);
    }
    while (fgets(line, sizeof(line), stdin) != NULL) {
        struct ctxline cl;
        struct rp_ctx ctx;
        struct rp_result res;
        const char *key;

        if (!ctxline_parse(line, &cl)) {
            continue;
        }
        memset(&ctx, 0, sizeof(ctx));
        if (cl.key != NULL) {
            ctx.key = cl.key;
            ctx.key_len = strlen(cl.key);
        }
        for (size_t i = 0; i < cl.nattrs; i++) {
            if (strcmp(cl.names[i], "@host") == 0) {
                ctx.host = cl.values[i];
                ctx.host_len = strlen(cl.values[i]);
                continue;
            }
            memset(&attrs[ctx.nattrs], 0, sizeof(attrs[0]));
            attrs[ctx.nattrs].name = cl.names[i];
            attrs[ctx.nattrs].type = RP_ATTR_STRING;
            attrs[ctx.nattrs].s = cl.values[i];
            attrs[ctx.nattrs].len = strlen(cl.values[i]);
            ctx.nattrs++;
        }
        ctx.attrs = attrs;
        rp_eval(f, with_ro ? &ro : NULL, &ctx, &res);
        key = cl.key != NULL ? cl.key : "-";
        printf("%s %s %s %s %llu ", key,
            res.variant_name != NULL ? res.variant_name : "-",
            reason_name(res.reason), error_name(res.error),
            (unsigned long long) f->version);
        print_value_ref(res.reason == RP_REASON_ERROR ? NULL : res.value);
        putchar('\n');
    }
    rp_flag_free(f);
    return 0;
}

/* What ramp_eval_all said about the one flag asked for. */
struct lib_seen {
    const char *flag;
    const char *key;
    bool seen;
    bool print;
    uint64_t version;
};

static void
lib_each(void *arg, const char *flag, const struct ramp_value *value,
    const struct ramp_detail *d)
{
    struct lib_seen *s = arg;

    if (strcmp(flag, s->flag) != 0) {
        return;
    }
    s->seen = true;
    s->version = d->flag_version;
    if (!s->print) {
        return;
    }
    printf("%s %s %s %s %llu ", s->key, d->variant[0] != '\0' ? d->variant : "-",
        reason_name(d->reason), error_name(d->error),
        (unsigned long long) d->flag_version);
    print_value_lib(d->reason == RAMP_REASON_ERROR ? NULL : value);
    putchar('\n');
}

static int
lib_open(const char *target, ramp_client **c)
{
    ramp_err rv = ramp_open(target, 0, c);

    if (rv != RAMP_OK) {
        fprintf(stderr, "evaltool: open %s: %s\n", target,
            ramp_strerror(rv));
        return 1;
    }
    /* The default 100 ms is for applications; a loaded CI machine with
     * several agents and a sanitizer build can take longer. */
    (void) ramp_set_timeout(*c, 2000);
    return 0;
}

static int
cmd_eval(const char *target, const char *flag)
{
    ramp_client *c = NULL;
    ramp_ctx *ctx = NULL;
    char line[LINE_MAX_LEN];
    int rc = 1;

    if (lib_open(target, &c) != 0) {
        goto out;
    }
    if (ramp_ctx_new(&ctx) != RAMP_OK) {
        goto out;
    }
    while (fgets(line, sizeof(line), stdin) != NULL) {
        struct ctxline cl;
        struct lib_seen s;
        ramp_err rv;

        if (!ctxline_parse(line, &cl)) {
            continue;
        }
        ramp_ctx_reset(ctx);
        if (cl.key != NULL && ramp_ctx_set_key(ctx, cl.key) != RAMP_OK) {
            goto out;
        }
        for (size_t i = 0; i < cl.nattrs; i++) {
            if (ramp_ctx_set_str(ctx, cl.names[i], cl.values[i]) !=
                RAMP_OK) {
                goto out;
            }
        }
        memset(&s, 0, sizeof(s));
        s.flag = flag;
        s.key = cl.key != NULL ? cl.key : "-";
        s.print = true;
        rv = ramp_eval_all(c, ctx, lib_each, &s);
        if (rv != RAMP_OK) {
            fprintf(stderr, "evaltool: eval %s: %s\n", target,
                ramp_strerror(rv));
            goto out;
        }
        if (!s.seen) {
            printf("%s - ERROR FLAG_NOT_FOUND 0 -\n", s.key);
        }
    }
    rc = 0;

out:
    fflush(stdout);
    ramp_ctx_free(ctx);
    ramp_close(c);
    return rc;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int
cmd_wait(const char *target, const char *flag, const char *vstr,
    const char *tstr)
{
    ramp_client *c = NULL;
    struct lib_seen s;
    uint64_t want = strtoull(vstr, NULL, 10);
    uint64_t deadline = now_ms() + strtoull(tstr, NULL, 10);
    int rc = 1;

    if (lib_open(target, &c) != 0) {
        return 1;
    }
    memset(&s, 0, sizeof(s));
    for (;;) {
        ramp_err rv;

        memset(&s, 0, sizeof(s));
        s.flag = flag;
        rv = ramp_eval_all(c, NULL, lib_each, &s);
        if (rv == RAMP_OK && (want == 0 ? !s.seen
                                        : s.seen && s.version == want)) {
            rc = 0;
            break;
        }
        if (now_ms() >= deadline) {
            fprintf(stderr,
                "evaltool: %s: %s is at version %llu (%s), not %llu\n",
                target, flag, (unsigned long long) s.version,
                rv == RAMP_OK ? (s.seen ? "present" : "absent")
                              : ramp_strerror(rv),
                (unsigned long long) want);
            break;
        }
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    ramp_close(c);
    return rc;
}

static void
usage(void)
{
    fputs("usage: ramp_evaltool ref FLAG.json [TREATMENT CONTROL host "
          "STAGE_BP] < contexts\n"
          "       ramp_evaltool eval TARGET FLAG < contexts\n"
          "       ramp_evaltool wait TARGET FLAG VERSION TIMEOUT_MS\n",
        stderr);
}

int
main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "ref") == 0) {
        return cmd_ref(argv[2], NULL);
    }
    if (argc == 7 && strcmp(argv[1], "ref") == 0) {
        return cmd_ref(argv[2], argv + 3);
    }
    if (argc == 4 && strcmp(argv[1], "eval") == 0) {
        return cmd_eval(argv[2], argv[3]);
    }
    if (argc == 6 && strcmp(argv[1], "wait") == 0) {
        return cmd_wait(argv[2], argv[3], argv[4], argv[5]);
    }
    usage();
    return 2;
}
