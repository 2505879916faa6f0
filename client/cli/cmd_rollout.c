/* SPDX-License-Identifier: MIT */
/*
 * `ramp rollout start|status|pause|resume|promote|abort|retry|explain|
 * history|list`: progressive rollouts through the controller's rollout
 * routes (docs/api.md "Rollouts"). Arguments are checked here, before
 * anything is sent; the controller stays the authority on the rest
 * (whether the variants exist, whether an action is allowed now).
 *
 * `status --watch` redraws a live view in place on a terminal and
 * prints a line per change otherwise; `status --wait` polls until the
 * rollout is finished and exits with a code a deploy script can gate
 * on. Not here: any decision about the rollout (controller/rollout.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "cfg.h"
#include "cli.h"
#include "model.h"

#define RO_PATH_MAX 1024
#define RO_PAGE_MAX 1000               /* the API's page limit */
#define RO_DAY_MS ((int64_t) 86400000) /* a day, in ms */
#define RO_BAR_WIDTH 30                /* cells in the bake's progress bar */
#define RO_POLL_MS 1000                /* --watch and --wait poll period */
#define RO_QUIET_LINE_MS 10000 /* non-tty --watch: a line at least this often  \
                                */

/* ---- argument parsing ---- */

/* A duration in ms within [min, max]: 500ms, 10s, 10m, 1h (bare: ms). */
static int
ro_duration(struct cli *c, const char *opt, const char *s, int64_t min,
    int64_t max, int64_t *out)
{
    if (rp_parse_duration(s, min, max, out) != RAMP_OK) {
        fprintf(c->err,
            "error: --%s: '%.40s' is not a duration from %lldms to %lldh "
            "(500ms, 10s, 10m, 1h)\n",
            opt, s, (long long) min, (long long) (max / 3600000));
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

/* A non-negative decimal, or a percentage ("5%" = 0.05), within
 * (min, max] when min_open, else [min, max]. */
static int
ro_fraction(struct cli *c, const char *opt, const char *s, double min,
    bool min_open, double max, double *out)
{
    char *end;
    double v;

    if (s[0] < '0' || s[0] > '9') {
        goto bad;
    }
    v = strtod(s, &end);
    if (strcmp(end, "%") == 0) {
        v /= 100;
    } else if (*end != '\0') {
        goto bad;
    }
    if (!isfinite(v) || v > max || v < min || (min_open && v == min)) {
        goto bad;
    }
    *out = v;
    return CLI_EXIT_OK;

bad:
    fprintf(c->err,
        "error: --%s: '%.40s' is not a number in %s%g..%g (or a "
        "percentage: 5%%)\n",
        opt, s, min_open ? "(" : "", min, max);
    return CLI_EXIT_USAGE;
}

int
cli_rollout_parse_stages(struct cli *c, const char *s, json_t **out)
{
    json_t *arr = json_array();
    const char *p = s;
    int64_t last = 0;

    *out = NULL;
    if (arr == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    for (;;) {
        char *end;
        double pct;
        int64_t bp;

        if (*p < '0' || *p > '9') {
            goto bad;
        }
        pct = strtod(p, &end);
        if (end == p || (*end != ',' && *end != '\0') || !isfinite(pct)) {
            goto bad;
        }
        /* Percent to basis points; finer than 0.01% is not a stage. */
        bp = (int64_t) llround(pct * 100);
        if (fabs(pct * 100 - (double) bp) > 1e-6 || bp < 1 || bp > 10000 ||
            bp <= last) {
            goto bad;
        }
        if (json_array_size(arr) == RP_MAX_STAGES) {
            fprintf(c->err, "error: --stages: more than %d stages\n",
                RP_MAX_STAGES);
            json_decref(arr);
            return CLI_EXIT_USAGE;
        }
        json_array_append_new(arr, json_integer((json_int_t) bp));
        last = bp;
        if (*end == '\0') {
            break;
        }
        p = end + 1;
    }
    *out = arr;
    return CLI_EXIT_OK;

bad:
    fprintf(c->err,
        "error: --stages: '%.80s' is not a list of increasing percentages "
        "in 0.01..100 (5,25,50,100)\n",
        s);
    json_decref(arr);
    return CLI_EXIT_USAGE;
}

int
cli_rollout_parse_unit(struct cli *c, const char *s, json_t **out)
{
    *out = NULL;
    if (strcmp(s, "key") == 0 || strcmp(s, "host") == 0) {
        *out = json_string(s);
    } else if (strncmp(s, "attr:", 5) == 0) {
        size_t n = strlen(s + 5);

        if (n == 0 || n > RP_NAME_MAX || strcmp(s + 5, "key") == 0) {
            fprintf(c->err,
                "error: --unit: attribute name is 1..%d bytes, not 'key' "
                "(use --unit key)\n",
                RP_NAME_MAX);
            return CLI_EXIT_USAGE;
        }
        *out = json_pack("{s:s}", "attribute", s + 5);
    } else {
        fprintf(c->err,
            "error: --unit: '%.80s' is not key, host or attr:NAME\n", s);
        return CLI_EXIT_USAGE;
    }
    if (*out == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

/* The policy's options: option name, JSON member, kind, bounds. */
enum ro_kind { RO_MS, RO_INT, RO_FRAC, RO_FRAC_OPEN };

static const struct ro_policy_opt {
    const char *opt;
    const char *member;
    enum ro_kind kind;
    double min, max;
} ro_policy_opts[] = {
    {"bake", "bake_ms", RO_MS, 0, 30 * RO_DAY_MS},
    {"check", "check_interval_ms", RO_MS, 100, RO_DAY_MS},
    {"max-stage", "max_stage_ms", RO_MS, 0, 30 * RO_DAY_MS},
    {"min-samples", "min_samples", RO_INT, 1, 1e9},
    {"failure-limit", "failure_limit", RO_INT, 1, 1000},
    {"error-rate-relative", "error_rate_relative", RO_FRAC, 0, 100},
    {"error-rate-max", "error_rate_max", RO_FRAC_OPEN, 0, 1},
    {"p95-relative", "p95_relative", RO_FRAC, 0, 100},
    {"p95-max", "p95_max_ms", RO_MS, 1, 3600000},
    {"critical-error-rate", "critical_error_rate", RO_FRAC_OPEN, 0, 1},
    {"critical-min-requests", "critical_min_requests", RO_INT, 1, 1e9},
};

#define RO_NPOLICY (sizeof(ro_policy_opts) / sizeof(ro_policy_opts[0]))

/* A reason is a string the controller keeps: at most RP_STR_MAX bytes. */
static int
ro_check_reason(struct cli *c, const char *reason)
{
    if (reason != NULL && strlen(reason) > RP_STR_MAX) {
        fprintf(c->err, "error: --reason: longer than %d bytes\n", RP_STR_MAX);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int
cli_rollout_start_body(struct cli *c, const struct cli_args *a, json_t **out)
{
    const char *treat = cli_arg(a, "treatment");
    const char *ctrl = cli_arg(a, "control");
    const char *reason = cli_arg(a, "reason");
    json_t *body = NULL, *policy = NULL, *v = NULL;
    int64_t bake = -1, maxst = -1;
    int rc;

    *out = NULL;
    rc = cli_check_key(c, "FLAG", a->pos[0]);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (treat == NULL || ctrl == NULL) {
        fprintf(c->err, "error: --treatment and --control are required\n");
        return CLI_EXIT_USAGE;
    }
    if (treat[0] == '\0' || strlen(treat) > RP_NAME_MAX || ctrl[0] == '\0' ||
        strlen(ctrl) > RP_NAME_MAX) {
        fprintf(c->err, "error: a variant name is 1..%d bytes\n", RP_NAME_MAX);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(treat, ctrl) == 0) {
        fprintf(c->err, "error: --treatment and --control are the same "
                        "variant\n");
        return CLI_EXIT_USAGE;
    }
    rc = ro_check_reason(c, reason);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    body = json_pack("{s:s,s:s,s:s}", "flag", a->pos[0], "treatment", treat,
        "control", ctrl);
    policy = json_object();
    if (body == NULL || policy == NULL) {
        rc = CLI_EXIT_ERROR;
        fprintf(c->err, "error: out of memory\n");
        goto out;
    }
    if (cli_has(a, "unit")) {
        rc = cli_rollout_parse_unit(c, cli_arg(a, "unit"), &v);
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        json_object_set_new(body, "unit", v);
    }
    if (cli_has(a, "stages")) {
        rc = cli_rollout_parse_stages(c, cli_arg(a, "stages"), &v);
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        json_object_set_new(body, "stages", v);
    }
    for (size_t i = 0; i < RO_NPOLICY; i++) {
        const struct ro_policy_opt *p = &ro_policy_opts[i];
        const char *s = cli_arg(a, p->opt);
        int64_t n = 0;
        double d = 0;

        if (s == NULL) {
            continue;
        }
        switch (p->kind) {
        case RO_MS:
            rc = ro_duration(
                c, p->opt, s, (int64_t) p->min, (int64_t) p->max, &n);
            v = json_integer((json_int_t) n);
            if (strcmp(p->opt, "bake") == 0) {
                bake = n;
            } else if (strcmp(p->opt, "max-stage") == 0) {
                maxst = n;
            }
            break;
        case RO_INT:
            rc = cli_check_uint(
                c, p->opt, s, (int64_t) p->min, (int64_t) p->max, &n);
            v = json_integer((json_int_t) n);
            break;
        default:
            rc = ro_fraction(
                c, p->opt, s, p->min, p->kind == RO_FRAC_OPEN, p->max, &d);
            v = json_real(d);
            break;
        }
        if (rc != CLI_EXIT_OK) {
            json_decref(v);
            goto out;
        }
        json_object_set_new(policy, p->member, v);
    }
    if (bake >= 0 && maxst >= 0 && maxst < bake) {
        fprintf(c->err, "error: --max-stage is shorter than --bake\n");
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (json_object_size(policy) > 0) {
        json_object_set(body, "policy", policy);
    }
    if (reason != NULL) {
        json_object_set_new(body, "reason", json_string(reason));
    }
    *out = body;
    body = NULL;
    rc = CLI_EXIT_OK;

out:
    json_decref(policy);
    json_decref(body);
    return rc;
}

/* ---- output ---- */

static const char *
ro_str(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));

    return s != NULL ? s : "-";
}

static double
ro_num(const json_t *o, const char *name, double dflt)
{
    const json_t *v = json_object_get(o, name);

    return json_is_number(v) ? json_number_value(v) : dflt;
}

bool
cli_rollout_finished(const char *state)
{
    return strcmp(state, "completed") == 0 ||
           strcmp(state, "rolled_back") == 0 || strcmp(state, "aborted") == 0;
}

void
cli_fmt_ms(char *buf, size_t bufsz, double ms)
{
    int64_t s;

    if (!isfinite(ms) || ms < 0) {
        snprintf(buf, bufsz, "-");
        return;
    }
    if (ms < 1000) {
        snprintf(buf, bufsz, "%.0fms", ms);
        return;
    }
    s = (int64_t) (ms / 1000);
    if (s < 60) {
        snprintf(buf, bufsz, "%llds", (long long) s);
    } else if (s < 3600) {
        snprintf(buf, bufsz, "%lldm%02llds", (long long) (s / 60),
            (long long) (s % 60));
    } else {
        snprintf(buf, bufsz, "%lldh%02lldm", (long long) (s / 3600),
            (long long) (s % 3600 / 60));
    }
}

/* "5%", "0.5%", "25%": a stage share as an operator writes it. */
static void
ro_fmt_pct(char *buf, size_t bufsz, double pct)
{
    if (pct == floor(pct)) {
        snprintf(buf, bufsz, "%.0f%%", pct);
    } else {
        snprintf(buf, bufsz, "%.2g%%", pct);
    }
}

static void
ro_unit_text(const json_t *r, char *buf, size_t bufsz)
{
    const json_t *u = json_object_get(r, "unit");

    if (json_is_string(u)) {
        snprintf(buf, bufsz, "%s", json_string_value(u));
    } else if (json_is_object(u)) {
        snprintf(buf, bufsz, "attr:%s", ro_str(u, "attribute"));
    } else {
        snprintf(buf, bufsz, "key");
    }
}

/* Stage "2/4 (25%)" of a rollout. */
static void
ro_stage_text(const json_t *r, char *buf, size_t bufsz)
{
    const json_t *stages = json_object_get(r, "stages");
    double idx = ro_num(r, "stage_index", 0);
    double pct = ro_num(r, "stage_percent", -1);
    char p[32];

    if (pct < 0 && json_is_array(stages)) {
        pct = json_number_value(json_array_get(stages, (size_t) idx)) / 100;
    }
    ro_fmt_pct(p, sizeof(p), pct);
    snprintf(buf, bufsz, "%.0f/%zu (%s)", idx + 1,
        json_is_array(stages) ? json_array_size(stages) : (size_t) 0, p);
}

/* "812 req, 3 err (0.37%), p95 212.5 ms" */
static void
ro_arm_text(const json_t *arm, char *buf, size_t bufsz)
{
    double p95 = ro_num(arm, "p95_ms", -1);
    char p[32] = "-";

    if (!json_is_object(arm)) {
        snprintf(buf, bufsz, "no data");
        return;
    }
    if (p95 >= 0) {
        snprintf(p, sizeof(p), "%.1f ms", p95);
    }
    snprintf(buf, bufsz, "%9.0f req %7.0f err %7.2f%%   p95 %s",
        ro_num(arm, "requests", 0), ro_num(arm, "errors", 0),
        100 * ro_num(arm, "error_rate", 0), p);
}

/* The bake's bar: [#########.....] over RO_BAR_WIDTH cells. */
static void
ro_bar(char *buf, size_t bufsz, double done)
{
    int n = (int) (done * RO_BAR_WIDTH + 0.5);

    if (bufsz < RO_BAR_WIDTH + 3) {
        buf[0] = '\0';
        return;
    }
    n = n < 0 ? 0 : n > RO_BAR_WIDTH ? RO_BAR_WIDTH : n;
    buf[0] = '[';
    for (int i = 0; i < RO_BAR_WIDTH; i++) {
        buf[1 + i] = i < n ? '#' : '.';
    }
    buf[RO_BAR_WIDTH + 1] = ']';
    buf[RO_BAR_WIDTH + 2] = '\0';
}

/* The last history entry's reason, for finished rollouts. */
static const char *
ro_last_reason(const json_t *r)
{
    const json_t *h = json_object_get(r, "history");
    size_t n = json_is_array(h) ? json_array_size(h) : 0;

    return n > 0 ? json_string_value(
                       json_object_get(json_array_get(h, n - 1), "reason"))
                 : NULL;
}

int
cli_print_rollout(FILE *out, const json_t *r)
{
    const json_t *st = json_object_get(r, "status");
    const char *state = ro_str(r, "state");
    const char *why = ro_last_reason(r);
    char stage[64], unit[RP_NAME_MAX + 8], arm[128];
    int lines = 0;

    ro_stage_text(r, stage, sizeof(stage));
    ro_unit_text(r, unit, sizeof(unit));
    fputs("flag:       ", out);
    cli_puts_safe(out, ro_str(r, "flag"));
    fprintf(out, "\nstate:      %s\n", state);
    fprintf(out, "stage:      %s\n", stage);
    fputs("variants:   treatment ", out);
    cli_puts_safe(out, ro_str(r, "treatment"));
    fputs(", control ", out);
    cli_puts_safe(out, ro_str(r, "control"));
    fputs(", unit ", out);
    cli_puts_safe(out, unit);
    fputc('\n', out);
    lines += 4;
    if (json_is_object(st) && !cli_rollout_finished(state)) {
        double bake = ro_num(st, "bake_ms", 0);
        double left = ro_num(st, "bake_left_ms", 0);
        double age = ro_num(st, "stage_age_ms", 0);
        double next = ro_num(st, "next_check_in_ms", -1);
        char bar[RO_BAR_WIDTH + 3], b1[32], b2[32], b3[32], b4[32];

        ro_bar(bar, sizeof(bar), bake > 0 ? (bake - left) / bake : 1);
        cli_fmt_ms(b1, sizeof(b1), bake - left < 0 ? 0 : bake - left);
        cli_fmt_ms(b2, sizeof(b2), bake);
        cli_fmt_ms(b3, sizeof(b3), left);
        cli_fmt_ms(b4, sizeof(b4), age);
        fprintf(out, "bake:       %s %s of %s, %s left (in stage %s)\n", bar,
            b1, b2, b3, b4);
        lines++;
        if (next >= 0 && strcmp(state, "running") == 0) {
            cli_fmt_ms(b1, sizeof(b1), next);
            fprintf(out, "next check: in %s\n", b1);
            lines++;
        }
    }
    if (json_is_object(st)) {
        const json_t *verdict = json_object_get(st, "verdict");

        fprintf(out, "verdict:    %s\n",
            json_is_string(verdict) ? json_string_value(verdict)
                                    : "(no check yet)");
        ro_arm_text(json_object_get(st, "treatment"), arm, sizeof(arm));
        fprintf(out, "treatment: %s\n", arm);
        ro_arm_text(json_object_get(st, "control"), arm, sizeof(arm));
        fprintf(out, "control:   %s\n", arm);
        lines += 3;
    }
    if (why != NULL) {
        fputs("last:       ", out);
        cli_puts_safe(out, why);
        fputc('\n', out);
        lines++;
    }
    return lines;
}

void
cli_rollout_line(char *buf, size_t bufsz, const json_t *r, bool bake)
{
    const json_t *st = json_object_get(r, "status");
    const json_t *verdict = json_object_get(st, "verdict");
    const json_t *ta = json_object_get(st, "treatment");
    const json_t *ca = json_object_get(st, "control");
    char stage[64], left[48] = "", t[128], c[128];

    ro_stage_text(r, stage, sizeof(stage));
    if (bake && json_is_number(json_object_get(st, "bake_left_ms")) &&
        !cli_rollout_finished(ro_str(r, "state"))) {
        char d[32];

        cli_fmt_ms(d, sizeof(d), ro_num(st, "bake_left_ms", 0));
        snprintf(left, sizeof(left), " bake-left %s", d);
    }
    snprintf(t, sizeof(t), "%.0f req %.2f%% err p95 %.0fms",
        ro_num(ta, "requests", 0), 100 * ro_num(ta, "error_rate", 0),
        ro_num(ta, "p95_ms", 0));
    snprintf(c, sizeof(c), "%.0f req %.2f%% err p95 %.0fms",
        ro_num(ca, "requests", 0), 100 * ro_num(ca, "error_rate", 0),
        ro_num(ca, "p95_ms", 0));
    snprintf(buf, bufsz,
        "%s %s stage %s%s verdict %s | treatment %s | control %s",
        ro_str(r, "flag"), ro_str(r, "state"), stage, left,
        json_is_string(verdict) ? json_string_value(verdict) : "-", t, c);
}

/* A table row: each cell padded to its column's width, the last one
 * as it is. Cells longer than their column push the rest right. */
static void
ro_row(FILE *out, const int *widths, size_t n, const char *const *cells)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(cells[i]);

        cli_puts_safe(out, cells[i]);
        if (i + 1 < n) {
            int pad = widths[i] - (int) len;

            fprintf(out, "%*s", pad > 0 ? pad + 1 : 1, "");
        }
    }
    fputc('\n', out);
}

void
cli_print_rollout_table(FILE *out, const json_t *rollouts)
{
    static const char *const head[] = {
        "FLAG", "STATE", "STAGE", "TREATMENT", "CONTROL", "UPDATED"};
    int w[6] = {24, 11, 12, 12, 12, 0};
    const json_t *r;
    size_t i;

    ro_row(out, w, 6, head);
    json_array_foreach(rollouts, i, r)
    {
        char stage[64];
        const char *cells[6];

        ro_stage_text(r, stage, sizeof(stage));
        cells[0] = ro_str(r, "flag");
        cells[1] = ro_str(r, "state");
        cells[2] = stage;
        cells[3] = ro_str(r, "treatment");
        cells[4] = ro_str(r, "control");
        cells[5] = ro_str(r, "updated_at");
        ro_row(out, w, 6, cells);
    }
}

void
cli_print_rollout_history(FILE *out, const json_t *history)
{
    static const char *const head[] = {"AT", "FROM", "TO", "STAGE", "REASON"};
    int w[5] = {24, 11, 11, 5, 0};
    const json_t *h;
    size_t i;

    ro_row(out, w, 5, head);
    json_array_foreach(history, i, h)
    {
        char stage[16];
        const char *cells[5];

        snprintf(stage, sizeof(stage), "%.0f", ro_num(h, "stage_index", 0) + 1);
        cells[0] = ro_str(h, "at");
        cells[1] = ro_str(h, "from");
        cells[2] = ro_str(h, "to");
        cells[3] = stage;
        cells[4] = ro_str(h, "reason");
        ro_row(out, w, 5, cells);
    }
}

void
cli_print_rollout_checks(FILE *out, const json_t *checks)
{
    const json_t *k;
    size_t i;

    if (json_array_size(checks) == 0) {
        fputs("(no checks yet)\n", out);
        return;
    }
    json_array_foreach(checks, i, k)
    {
        const json_t *metrics = json_object_get(k, "metrics");
        const json_t *m;
        char arm[128];
        size_t j;

        fprintf(out, "%s%s  stage %.0f  verdict %s  action %s\n",
            i > 0 ? "\n" : "", ro_str(k, "at"), ro_num(k, "stage_index", 0) + 1,
            ro_str(k, "verdict"), ro_str(k, "action"));
        ro_arm_text(json_object_get(k, "treatment"), arm, sizeof(arm));
        fprintf(out, "  treatment %s\n", arm);
        ro_arm_text(json_object_get(k, "control"), arm, sizeof(arm));
        fprintf(out, "  control   %s\n", arm);
        json_array_foreach(metrics, j, m)
        {
            fputs("  ", out);
            cli_puts_safe(out, ro_str(m, "name"));
            fprintf(out, "  %s  value %.4g  bounds [%.4g, %.4g]  limit %.4g\n",
                ro_str(m, "verdict"), ro_num(m, "value", NAN),
                ro_num(m, "lower", NAN), ro_num(m, "upper", NAN),
                ro_num(m, "limit", NAN));
        }
        if (json_is_string(json_object_get(k, "reason"))) {
            fputs("  reason: ", out);
            cli_puts_safe(out, ro_str(k, "reason"));
            fputc('\n', out);
        }
    }
}

/* ---- commands ---- */

static int
ro_path(struct cli *c, char *buf, const char *flag, const char *suffix)
{
    return cli_path(c, buf, RO_PATH_MAX, "/api/v1/rollouts/", flag, suffix);
}

/* Print a rollout answer: the API's JSON, or the text view. */
static int
ro_show(struct cli *c, const json_t *r)
{
    if (c->json) {
        return cli_print_json(c, r);
    }
    if (!json_is_object(r)) {
        fprintf(c->err, "error: malformed rollout from the server\n");
        return CLI_EXIT_ERROR;
    }
    cli_print_rollout(c->out, r);
    return CLI_EXIT_OK;
}

static int
ro_start(struct cli *c, const struct cli_args *a)
{
    struct cli_resp r;
    json_t *body = NULL;
    int rc;

    rc = cli_rollout_start_body(c, a, &body);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        json_decref(body);
        return rc;
    }
    rc = cli_http(c, "POST", "/api/v1/rollouts", body, 0, &r);
    json_decref(body);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = ro_show(c, r.body);
    cli_resp_fini(&r);
    return rc;
}

/* pause, resume, promote, abort, retry: the command's name is the
 * action's. */
static int
ro_action(struct cli *c, const struct cli_args *a, const char *action)
{
    const char *reason = cli_arg(a, "reason");
    char path[RO_PATH_MAX], suffix[16];
    struct cli_resp r;
    json_t *body = NULL;
    int rc;

    rc = cli_check_key(c, "FLAG", a->pos[0]);
    if (rc == CLI_EXIT_OK) {
        rc = ro_check_reason(c, reason);
    }
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    snprintf(suffix, sizeof(suffix), "/%s", action);
    rc = ro_path(c, path, a->pos[0], suffix);
    if (rc == CLI_EXIT_OK) {
        rc = cli_config(c, a);
    }
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (reason != NULL) {
        body = json_pack("{s:s}", "reason", reason);
        if (body == NULL) {
            fprintf(c->err, "error: out of memory\n");
            return CLI_EXIT_ERROR;
        }
    }
    rc = cli_http(c, "POST", path, body, 0, &r);
    json_decref(body);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = ro_show(c, r.body);
    cli_resp_fini(&r);
    return rc;
}

static int
ro_pause(struct cli *c, const struct cli_args *a)
{
    return ro_action(c, a, "pause");
}

static int
ro_resume(struct cli *c, const struct cli_args *a)
{
    return ro_action(c, a, "resume");
}

static int
ro_promote(struct cli *c, const struct cli_args *a)
{
    return ro_action(c, a, "promote");
}

static int
ro_abort(struct cli *c, const struct cli_args *a)
{
    return ro_action(c, a, "abort");
}

static int
ro_retry(struct cli *c, const struct cli_args *a)
{
    return ro_action(c, a, "retry");
}

static int64_t
ro_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ro_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

int
cli_rollout_wait_code(const char *state, bool held_ends)
{
    if (strcmp(state, "completed") == 0) {
        return CLI_WAIT_COMPLETED;
    }
    if (strcmp(state, "rolled_back") == 0 || strcmp(state, "aborted") == 0) {
        return CLI_WAIT_ROLLED_BACK;
    }
    if (held_ends && strcmp(state, "held") == 0) {
        return CLI_WAIT_HELD;
    }
    return -1;
}

/*
 * --watch and --wait: poll the rollout every second. The view is
 * redrawn in place on a terminal (cursor up over the previous view,
 * clear to the end), and printed as one line per change otherwise, so
 * a log or a CI job gets a readable record. A controller that is down
 * or answers 5xx is retried until the deadline: a restart during a
 * deploy must not fail the deploy; any other error ends the wait.
 */
static int
ro_poll(
    struct cli *c, const char *path, bool watch, bool wait, int64_t timeout_ms)
{
    bool tty = watch && isatty(fileno(c->out));
    int64_t start = ro_now_ms();
    int64_t last_line = 0;
    char last[512] = "";
    int drawn = 0;

    for (;;) {
        struct cli_resp r;
        int rc = cli_http(c, "GET", path, NULL, 0, &r);
        int64_t now;

        if (rc == CLI_EXIT_OK) {
            const char *state = ro_str(r.body, "state");
            int code = cli_rollout_wait_code(state, wait);

            if (watch && tty) {
                if (drawn > 0) {
                    fprintf(c->out, "\033[%dA\033[J", drawn);
                }
                drawn = cli_print_rollout(c->out, r.body);
                if (code < 0) {
                    fputs("(updated every second; Ctrl-C stops watching, "
                          "not the rollout)\n",
                        c->out);
                    drawn++;
                }
            } else if (watch) {
                char line[512], key[512], stamp[16];
                time_t t = time(NULL);
                struct tm tm;

                /* Every change of state, stage, verdict or counts; the
                 * bake's countdown alone at most every 10 s. */
                cli_rollout_line(key, sizeof(key), r.body, false);
                now = ro_now_ms();
                if (strcmp(key, last) != 0 ||
                    now - last_line >= RO_QUIET_LINE_MS) {
                    cli_rollout_line(line, sizeof(line), r.body, true);
                    localtime_r(&t, &tm);
                    strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
                    fprintf(c->out, "%s ", stamp);
                    cli_puts_safe(c->out, line);
                    fputc('\n', c->out);
                    snprintf(last, sizeof(last), "%s", key);
                    last_line = now;
                }
            }
            fflush(c->out);
            if (code >= 0) {
                if (!watch) {
                    fprintf(c->out, "%s %s\n", ro_str(r.body, "flag"), state);
                    if (code != CLI_WAIT_COMPLETED &&
                        ro_last_reason(r.body) != NULL) {
                        fputs("  ", c->out);
                        cli_puts_safe(c->out, ro_last_reason(r.body));
                        fputc('\n', c->out);
                    }
                }
                cli_resp_fini(&r);
                return code;
            }
            cli_resp_fini(&r);
        } else if (rc != CLI_EXIT_UNREACH && rc != CLI_EXIT_SERVER) {
            return rc;
        }
        now = ro_now_ms();
        if (timeout_ms > 0 && now - start >= timeout_ms) {
            fprintf(c->err, "error: timed out waiting for the rollout\n");
            return CLI_WAIT_TIMEOUT;
        }
        ro_sleep_ms(timeout_ms > 0 && start + timeout_ms - now < RO_POLL_MS
                        ? start + timeout_ms - now
                        : RO_POLL_MS);
    }
}

static int
ro_status(struct cli *c, const struct cli_args *a)
{
    bool watch = cli_has(a, "watch"), wait = cli_has(a, "wait");
    char path[RO_PATH_MAX];
    struct cli_args b = *a;
    int64_t timeout_ms = 0;
    struct cli_resp r;
    int rc;

    rc = cli_check_key(c, "FLAG", a->pos[0]);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    /* With --wait, --timeout bounds the wait, not one request: take it
     * out of what cli_config sees (requests keep RAMP_TIMEOUT or the
     * config file's, 10 s by default). */
    if (wait && cli_has(a, "timeout")) {
        rc = ro_duration(c, "timeout", cli_arg(a, "timeout"), 1, 30 * RO_DAY_MS,
            &timeout_ms);
        if (rc != CLI_EXIT_OK) {
            return rc;
        }
        for (size_t i = 0; i < b.nopts; i++) {
            if (strcmp(b.opts[i]->name, "timeout") == 0) {
                b.val[i] = NULL;
            }
        }
    }
    if ((watch || wait) && c->json) {
        fprintf(c->err, "error: --json prints one answer: not with --watch "
                        "or --wait\n");
        return CLI_EXIT_USAGE;
    }
    rc = ro_path(c, path, a->pos[0], "");
    if (rc == CLI_EXIT_OK) {
        rc = cli_config(c, &b);
    }
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (watch || wait) {
        return ro_poll(c, path, watch, wait, timeout_ms);
    }
    rc = cli_http(c, "GET", path, NULL, 0, &r);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = ro_show(c, r.body);
    cli_resp_fini(&r);
    return rc;
}

static int
ro_explain(struct cli *c, const struct cli_args *a)
{
    char path[RO_PATH_MAX], suffix[32] = "/explain";
    struct cli_resp r;
    int64_t limit = 0;
    int rc;

    rc = cli_check_key(c, "FLAG", a->pos[0]);
    if (rc == CLI_EXIT_OK && cli_has(a, "limit")) {
        rc = cli_check_uint(c, "limit", cli_arg(a, "limit"), 1, 100, &limit);
        snprintf(
            suffix, sizeof(suffix), "/explain?limit=%lld", (long long) limit);
    }
    if (rc == CLI_EXIT_OK) {
        rc = ro_path(c, path, a->pos[0], suffix);
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_config(c, a);
    }
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_http(c, "GET", path, NULL, 0, &r);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (c->json) {
        rc = cli_print_json(c, r.body);
    } else {
        fprintf(c->out, "%s: %s, stage %.0f; the last checks, newest first\n",
            ro_str(r.body, "flag"), ro_str(r.body, "state"),
            ro_num(r.body, "stage_index", 0) + 1);
        cli_print_rollout_checks(c->out, json_object_get(r.body, "checks"));
    }
    cli_resp_fini(&r);
    return rc;
}

static int
ro_history(struct cli *c, const struct cli_args *a)
{
    char path[RO_PATH_MAX];
    struct cli_resp r;
    int rc;

    rc = cli_check_key(c, "FLAG", a->pos[0]);
    if (rc == CLI_EXIT_OK) {
        rc = ro_path(c, path, a->pos[0], "/history");
    }
    if (rc == CLI_EXIT_OK) {
        rc = cli_config(c, a);
    }
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    rc = cli_http(c, "GET", path, NULL, 0, &r);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (c->json) {
        rc = cli_print_json(c, r.body);
    } else {
        cli_print_rollout_history(c->out, json_object_get(r.body, "history"));
    }
    cli_resp_fini(&r);
    return rc;
}

static const char *const ro_states[] = {"pending", "running", "paused", "held",
    "completed", "rolled_back", "aborted"};

/* Every page, following "next". --json prints {"rollouts": [...]}. */
static int
ro_list(struct cli *c, const struct cli_args *a)
{
    const char *state = cli_arg(a, "state");
    char after[RP_KEY_MAX + 1] = "";
    json_t *all = json_array();
    json_t *doc = NULL;
    int rc = CLI_EXIT_USAGE;

    if (all == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if (state != NULL) {
        bool ok = false;

        for (size_t i = 0; i < sizeof(ro_states) / sizeof(ro_states[0]); i++) {
            ok = ok || strcmp(state, ro_states[i]) == 0;
        }
        if (!ok) {
            fprintf(c->err,
                "error: --state: '%.40s' is not pending, running, paused, "
                "held, completed, rolled_back or aborted\n",
                state);
            goto out;
        }
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    for (;;) {
        char path[RO_PATH_MAX];
        struct cli_resp r;
        const json_t *page, *next, *e;
        size_t i;

        snprintf(path, sizeof(path), "/api/v1/rollouts?limit=%d%s%s%s%s",
            RO_PAGE_MAX, state != NULL ? "&state=" : "",
            state != NULL ? state : "", after[0] != '\0' ? "&after=" : "",
            after);
        rc = cli_http(c, "GET", path, NULL, 0, &r);
        if (rc != CLI_EXIT_OK) {
            goto out;
        }
        page = json_object_get(r.body, "rollouts");
        next = json_object_get(r.body, "next");
        if (!json_is_array(page)) {
            fprintf(c->err, "error: malformed rollout list from the server\n");
            cli_resp_fini(&r);
            rc = CLI_EXIT_ERROR;
            goto out;
        }
        json_array_foreach(page, i, e)
        {
            json_array_append(all, (json_t *) e);
        }
        /* Flag keys need no escaping in a query: [a-z0-9._-]. */
        if (!json_is_string(next) || json_array_size(page) == 0 ||
            cli_check_key(c, "next", json_string_value(next)) != CLI_EXIT_OK) {
            cli_resp_fini(&r);
            break;
        }
        snprintf(after, sizeof(after), "%s", json_string_value(next));
        cli_resp_fini(&r);
    }
    if (c->json) {
        doc = json_pack("{s:O}", "rollouts", all);
        rc = doc != NULL ? cli_print_json(c, doc) : CLI_EXIT_ERROR;
    } else {
        cli_print_rollout_table(c->out, all);
        rc = CLI_EXIT_OK;
    }

out:
    json_decref(doc);
    json_decref(all);
    return rc;
}

static const struct cli_opt ro_start_opts[] = {
    {"treatment", "VARIANT", false, "variant the stages serve (required)"},
    {"control", "VARIANT", false, "variant everyone else gets (required)"},
    {"unit", "UNIT", false,
        "key (default), host (the agent's host id) or attr:NAME"},
    {"stages", "PCTS", false, "percentages, increasing (5,25,50,100)"},
    {"bake", "DURATION", false, "healthy time per stage (10m)"},
    {"check", "DURATION", false, "health check period (10s)"},
    {"max-stage", "DURATION", false,
        "longest a stage waits for data, then held (60m)"},
    {"min-samples", "N", false, "requests per arm before a verdict (200)"},
    {"failure-limit", "N", false, "failing checks in a row to roll back (2)"},
    {"error-rate-relative", "X", false,
        "error rate over control that fails: 0.5 or 50% (+50%)"},
    {"error-rate-max", "X", false, "error rate ceiling: 0.05 or 5% (5%)"},
    {"p95-relative", "X", false, "p95 over control that fails (30%)"},
    {"p95-max", "DURATION", false, "p95 latency ceiling (2000ms)"},
    {"critical-error-rate", "X", false,
        "error rate that rolls back at once (20%)"},
    {"critical-min-requests", "N", false,
        "treatment requests before the critical check (20)"},
    {"reason", "TEXT", false, "recorded in the history"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt ro_status_opts[] = {
    {"watch", NULL, false, "live view until the rollout is finished"},
    {"wait", NULL, false,
        "poll until finished; exit 0 completed, 1 rolled back or aborted, "
        "2 held, 3 timed out"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt ro_reason_opts[] = {
    {"reason", "TEXT", false, "recorded in the history"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt ro_explain_opts[] = {
    {"limit", "N", false, "checks to show, 1..100 (10)"},
    {NULL, NULL, false, NULL},
};

static const struct cli_opt ro_list_opts[] = {
    {"state", "STATE", false,
        "only this state: pending, running, paused, held, completed, "
        "rolled_back, aborted"},
    {NULL, NULL, false, NULL},
};

const struct cli_cmd cli_rollout_cmds[] = {
    {"rollout", "start",
        "FLAG --treatment V --control V [--unit U] [--stages PCTS] "
        "[policy options]",
        "start a progressive rollout of a variant",
        "Serve VARIANT --treatment to a growing share of units (stages, in\n"
        "percent), the rest --control, and let the controller compare the\n"
        "two arms' error rates and p95 latency: a healthy stage advances\n"
        "after --bake, an unhealthy one rolls back to 0% at once. Units\n"
        "are targeting keys (key), hosts (host: the agent's host id, for\n"
        "deploy gates) or an attribute (attr:NAME). Omitted policy\n"
        "options take the controller's defaults (in parentheses).\n"
        "Durations: 500ms, 10s, 10m, 1h. Rates: 0.05 or 5%.\n"
        "\n"
        "Examples:\n"
        "  ramp rollout start checkout --treatment redesign --control "
        "classic\n"
        "  ramp rollout start api-v2 --treatment on --control off --unit "
        "host \\\n"
        "      --stages 10,50,100 --bake 20m --p95-max 800ms\n",
        ro_start_opts, 1, 1, ro_start},
    {"rollout", "status", "FLAG [--watch] [--wait [--timeout D]]",
        "show a rollout: stage, bake, arms, verdict",
        "Show FLAG's rollout: state, stage, the bake's progress and time\n"
        "left, each arm's requests, error rate and p95 over the stage, and\n"
        "the last check's verdict.\n"
        "\n"
        "--watch redraws that view every second (in place on a terminal;\n"
        "a line per change otherwise) until the rollout is finished, and\n"
        "then exits as --wait would (held does not end a watch).\n"
        "\n"
        "--wait polls until the rollout is finished, for deploy scripts:\n"
        "  0  completed: the treatment is the flag's default\n"
        "  1  rolled back, or aborted\n"
        "  2  held: too little data, or waiting for a person\n"
        "  3  timed out: --timeout D passed first (with --wait, --timeout\n"
        "     bounds the whole wait; each request keeps RAMP_TIMEOUT)\n"
        "A controller that is down or answers 5xx meanwhile is retried;\n"
        "other errors end the wait with the codes below (3 is then also\n"
        "'no such rollout': the message says which).\n"
        "\n"
        "Examples:\n"
        "  ramp rollout status checkout --watch\n"
        "  ramp rollout status api-v2 --wait --timeout 2h && deploy-rest\n",
        ro_status_opts, 1, 1, ro_status},
    {"rollout", "pause", "FLAG [--reason TEXT]",
        "stop checks and advances; keep serving the stage",
        "Pause FLAG's rollout (running or held): no checks, no advance,\n"
        "the current stage keeps being served. 4 (conflict) from other\n"
        "states.\n",
        ro_reason_opts, 1, 1, ro_pause},
    {"rollout", "resume", "FLAG [--reason TEXT]",
        "resume a paused or held rollout",
        "Resume FLAG's rollout: running again, the stage's bake starts\n"
        "again.\n",
        ro_reason_opts, 1, 1, ro_resume},
    {"rollout", "promote", "FLAG [--reason TEXT]", "go to the next stage now",
        "Move FLAG's rollout to its next stage now, without waiting for\n"
        "the bake; from the last stage, complete it.\n",
        ro_reason_opts, 1, 1, ro_promote},
    {"rollout", "abort", "FLAG [--reason TEXT]",
        "stop the rollout: control for everyone",
        "Abort FLAG's rollout: the served share drops to 0% at once.\n",
        ro_reason_opts, 1, 1, ro_abort},
    {"rollout", "retry", "FLAG [--reason TEXT]",
        "restart a rolled back or aborted rollout",
        "Start FLAG's rolled back or aborted rollout again at its first\n"
        "stage, with the same salt: the same units go first.\n",
        ro_reason_opts, 1, 1, ro_retry},
    {"rollout", "explain", "FLAG [--limit N]",
        "the last health checks with figures and bounds",
        "Show the last checks of FLAG's rollout, newest first: each arm's\n"
        "counts, every test's estimate, confidence bounds and limit, the\n"
        "verdict and what the controller did (docs/rollouts.md).\n",
        ro_explain_opts, 1, 1, ro_explain},
    {"rollout", "history", "FLAG", "state changes of a rollout, oldest first",
        "Show every state change of FLAG's rollout with its reason.\n", NULL, 1,
        1, ro_history},
    {"rollout", "list", "[--state STATE]", "list rollouts",
        "List rollouts (every page), optionally only those in STATE.\n",
        ro_list_opts, 0, 0, ro_list},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};
