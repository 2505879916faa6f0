/* SPDX-License-Identifier: MIT */
/*
 * `ramp eval FLAG`: ask the local agent, through libramp, what a flag
 * evaluates to for a context, exactly as an application on this host
 * would get it. The target is the agent's query socket (ipc) or its
 * state directory ("direct:DIR"). Not here: the controller (eval never
 * talks HTTP) or evaluation itself (proto/eval.c via libramp).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "cli.h"
#include "model.h"
#include "ramp/ramp.h"

/* A json flag's compact text is at most 65536 bytes (docs/api-json.md),
 * strings 4096; one buffer covers both. */
#define EVAL_VALUE_MAX (65536 + 1)

static const char *const eval_reasons[] = {"STATIC", "DEFAULT",
    "TARGETING_MATCH", "SPLIT", "DISABLED", "ERROR", "STALE", "CACHED",
    "UNKNOWN"};

static const char *const eval_errors[] = {"", "PROVIDER_NOT_READY",
    "FLAG_NOT_FOUND", "PARSE_ERROR", "TYPE_MISMATCH", "TARGETING_KEY_MISSING",
    "INVALID_CONTEXT", "GENERAL"};

static const char *const eval_types[] = {"bool", "string", "number", "json"};

static const char *
eval_reason_name(ramp_reason r)
{
    return (unsigned) r < sizeof(eval_reasons) / sizeof(eval_reasons[0])
               ? eval_reasons[r]
               : "UNKNOWN";
}

static const char *
eval_error_name(ramp_eval_error e)
{
    return (unsigned) e < sizeof(eval_errors) / sizeof(eval_errors[0])
               ? eval_errors[e]
               : "GENERAL";
}

/* What one evaluation produced, whichever way it was asked. */
struct eval_result {
    const char *flag;
    bool seen; /* eval_all: the flag was among the agent's */
    bool ok;   /* a variant was served */
    ramp_type type;
    bool b;
    double n;
    char *text; /* string or JSON text; owned (rp_alloc) */
    struct ramp_detail detail;
};

static void
eval_each(void *arg, const char *flag, const struct ramp_value *value,
    const struct ramp_detail *detail)
{
    struct eval_result *res = arg;

    if (res->seen || strcmp(flag, res->flag) != 0) {
        return;
    }
    res->seen = true;
    res->detail = *detail;
    if (value == NULL) {
        return;
    }
    res->type = value->type;
    res->b = value->b;
    res->n = value->n;
    if (value->type == RAMP_TYPE_STRING || value->type == RAMP_TYPE_JSON) {
        res->text = rp_strndup(value->s != NULL ? value->s : "", value->len);
        if (res->text == NULL) {
            return; /* reported as out of memory by the caller */
        }
    }
    res->ok = true;
}

/* The served value as JSON: what --json prints under "value". */
static json_t *
eval_value_json(const struct eval_result *res)
{
    switch (res->type) {
    case RAMP_TYPE_BOOL:
        return json_boolean(res->b);
    case RAMP_TYPE_NUMBER:
        /* Integral and within 2^53: an integer, as the API writes it. */
        if (isfinite(res->n) && res->n == floor(res->n) &&
            fabs(res->n) <= 9007199254740992.0) {
            return json_integer((json_int_t) res->n);
        }
        return json_real(res->n);
    case RAMP_TYPE_STRING:
        return json_string(res->text);
    case RAMP_TYPE_JSON:
        return json_loads(res->text, JSON_DECODE_ANY, NULL);
    default:
        return NULL;
    }
}

static int
eval_print(struct cli *c, const struct eval_result *res)
{
    json_t *v = eval_value_json(res);
    json_t *doc = NULL;
    int rc = CLI_EXIT_ERROR;

    if (v == NULL) {
        fprintf(c->err, "error: the agent's value cannot be shown\n");
        goto out;
    }
    if (c->json) {
        doc = json_pack("{s:s,s:O,s:s,s:s,s:I,s:b}", "key", res->flag, "value",
            v, "variant", res->detail.variant, "reason",
            eval_reason_name(res->detail.reason), "version",
            (json_int_t) res->detail.flag_version, "stale", res->detail.stale);
        rc = doc != NULL ? cli_print_json(c, doc) : CLI_EXIT_ERROR;
        goto out;
    }
    {
        char *t = res->type == RAMP_TYPE_STRING
                      ? NULL
                      : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT |
                                          JSON_PRESERVE_ORDER);

        fputs("value:   ", c->out);
        cli_puts_safe(
            c->out, res->type == RAMP_TYPE_STRING ? res->text : (t ? t : "?"));
        free(t);
    }
    fputs("\nvariant: ", c->out);
    cli_puts_safe(c->out, res->detail.variant);
    fprintf(c->out, "\nreason:  %s\nversion: %llu\n",
        eval_reason_name(res->detail.reason),
        (unsigned long long) res->detail.flag_version);
    if (res->detail.stale) {
        fputs("stale:   yes (the agent has missed the controller's "
              "heartbeats)\n",
            c->out);
    }
    rc = CLI_EXIT_OK;

out:
    json_decref(doc);
    json_decref(v);
    return rc;
}

/* Exit code and message of a libramp error from an evaluation. */
static int
eval_fail(struct cli *c, const struct eval_result *res, ramp_err rv)
{
    const char *code = eval_error_name(res->detail.error);

    switch (rv) {
    case RAMP_ENOTFOUND:
        fprintf(c->err, "error: the agent has no flag '%s'\n", res->flag);
        return CLI_EXIT_NOTFOUND;
    case RAMP_ETIMEDOUT:
    case RAMP_ECLOSED:
        fprintf(c->err, "error: agent %s: %s\n", c->agent, ramp_strerror(rv));
        return CLI_EXIT_UNREACH;
    case RAMP_ETYPE:
        fprintf(c->err,
            "error: flag '%s' is not of the type asked for "
            "(TYPE_MISMATCH); omit --type to see it\n",
            res->flag);
        return CLI_EXIT_ERROR;
    default:
        fprintf(c->err, "error: %s%s%s%s\n", ramp_strerror(rv),
            code[0] != '\0' ? " (" : "", code, code[0] != '\0' ? ")" : "");
        return CLI_EXIT_ERROR;
    }
}

/* --attr NAME=VALUE into ctx; attributes are strings (the engine parses
 * numbers, versions and times from strings for the operators that need
 * them). */
static int
eval_attrs(struct cli *c, const struct cli_args *a, ramp_ctx *ctx)
{
    const char *v;

    for (size_t i = 0; (v = cli_arg_multi(a, "attr", i)) != NULL; i++) {
        const char *eq = strchr(v, '=');
        char name[RP_NAME_MAX + 1];
        ramp_err rv;

        if (eq == NULL || eq == v || (size_t) (eq - v) > RP_NAME_MAX) {
            fprintf(c->err,
                "error: --attr: '%.80s' is not NAME=VALUE (name 1..%d "
                "bytes)\n",
                v, RP_NAME_MAX);
            return CLI_EXIT_USAGE;
        }
        memcpy(name, v, (size_t) (eq - v));
        name[eq - v] = '\0';
        if (strcmp(name, "key") == 0) {
            fprintf(c->err, "error: --attr key=...: the targeting key is "
                            "--key\n");
            return CLI_EXIT_USAGE;
        }
        rv = ramp_ctx_set_str(ctx, name, eq + 1);
        if (rv == RAMP_ENOMEM) {
            fprintf(c->err, "error: out of memory\n");
            return CLI_EXIT_ERROR;
        }
        if (rv != RAMP_OK) {
            fprintf(c->err, "error: --attr %.64s: %s\n", name,
                rv == RAMP_ETOOBIG ? "too many attributes or value too long"
                                   : "bad attribute name or value");
            return CLI_EXIT_USAGE;
        }
    }
    return CLI_EXIT_OK;
}

static int
eval_run(struct cli *c, const struct cli_args *a)
{
    const char *tname = cli_arg(a, "type");
    const char *key = cli_arg(a, "key");
    struct eval_result res;
    ramp_client *cl = NULL;
    ramp_ctx *ctx = NULL;
    int type = -1;
    int rc;
    ramp_err rv;

    memset(&res, 0, sizeof(res));
    res.flag = a->pos[0];
    if (cli_has(a, "host") && key != NULL) {
        fprintf(c->err, "error: --host answers for this host: not with "
                        "--key\n");
        return CLI_EXIT_USAGE;
    }
    rc = cli_check_key(c, "FLAG", res.flag);
    if (rc != CLI_EXIT_OK) {
        return rc;
    }
    if (tname != NULL) {
        for (size_t i = 0; i < 4; i++) {
            if (strcmp(tname, eval_types[i]) == 0) {
                type = (int) i;
            }
        }
        if (type < 0) {
            fprintf(c->err,
                "error: --type: '%.40s' is not bool, string, number or "
                "json\n",
                tname);
            return CLI_EXIT_USAGE;
        }
    }
    rv = ramp_ctx_new(&ctx);
    if (rv != RAMP_OK) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    if (key != NULL) {
        rv = ramp_ctx_set_key(ctx, key);
        if (rv != RAMP_OK) {
            fprintf(c->err, "error: --key: %s\n", ramp_strerror(rv));
            rc = rv == RAMP_ENOMEM ? CLI_EXIT_ERROR : CLI_EXIT_USAGE;
            goto out;
        }
    }
    rc = eval_attrs(c, a, ctx);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = cli_config(c, a);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rv = ramp_open(c->agent, 0, &cl);
    if (rv != RAMP_OK) {
        fprintf(c->err, "error: agent %s: %s\n", c->agent, ramp_strerror(rv));
        rc = rv == RAMP_EINVAL                            ? CLI_EXIT_USAGE
             : rv == RAMP_ENOTFOUND || rv == RAMP_ECLOSED ? CLI_EXIT_UNREACH
                                                          : CLI_EXIT_ERROR;
        goto out;
    }
    /* The total timeout applies to the agent's round trip too. */
    (void) ramp_set_timeout(
        cl, c->timeout_ms > UINT32_MAX ? UINT32_MAX : (uint32_t) c->timeout_ms);
    res.type = type < 0 ? RAMP_TYPE_BOOL : (ramp_type) type;
    switch (type) {
    case RAMP_TYPE_BOOL:
        rv = ramp_bool(cl, res.flag, ctx, false, &res.b, &res.detail);
        break;
    case RAMP_TYPE_NUMBER:
        rv = ramp_number(cl, res.flag, ctx, 0, &res.n, &res.detail);
        break;
    case RAMP_TYPE_STRING:
    case RAMP_TYPE_JSON:
        res.text = rp_alloc(EVAL_VALUE_MAX);
        if (res.text == NULL) {
            rv = RAMP_ENOMEM;
            break;
        }
        rv = type == RAMP_TYPE_STRING
                 ? ramp_string(cl, res.flag, ctx, "", res.text, EVAL_VALUE_MAX,
                       &res.detail)
                 : ramp_json(cl, res.flag, ctx, "null", res.text,
                       EVAL_VALUE_MAX, &res.detail);
        break;
    default:
        /* No --type: evaluate everything and keep this flag, so the
         * answer carries the flag's own type. */
        rv = ramp_eval_all(cl, ctx, eval_each, &res);
        if (rv == RAMP_OK && !res.seen) {
            rv = RAMP_ENOTFOUND;
        } else if (rv == RAMP_OK && !res.ok) {
            rv = res.detail.error == RAMP_EVAL_FLAG_NOT_FOUND  ? RAMP_ENOTFOUND
                 : res.detail.error == RAMP_EVAL_TYPE_MISMATCH ? RAMP_ETYPE
                                                               : RAMP_EINVAL;
        } else if (rv == RAMP_OK && res.text == NULL &&
                   (res.type == RAMP_TYPE_STRING ||
                       res.type == RAMP_TYPE_JSON)) {
            rv = RAMP_ENOMEM;
        }
        break;
    }
    if (rv != RAMP_OK) {
        rc = eval_fail(c, &res, rv);
        goto out;
    }
    if (cli_has(a, "host") && !c->json) {
        /* --host: the variant alone, for a deploy script's test. */
        cli_puts_safe(c->out, res.detail.variant);
        fputc('\n', c->out);
        goto out;
    }
    rc = eval_print(c, &res);

out:
    rp_free(res.text);
    ramp_close(cl);
    ramp_ctx_free(ctx);
    return rc;
}

static const struct cli_opt eval_opts[] = {
    {"key", "K", false, "targeting key (rules call it `key`)"},
    {"attr", "NAME=VALUE", true, "a context attribute (repeat); a string"},
    {"type", "TYPE", false,
        "bool, string, number or json (default: the flag's own)"},
    {"host", NULL, false,
        "print only the variant served to this host (host rollouts)"},
    {NULL, NULL, false, NULL},
};

const struct cli_cmd cli_eval_cmds[] = {
    {NULL, "eval",
        "FLAG [--key K] [--attr NAME=VALUE ...] [--type TYPE] [--host]",
        "evaluate a flag through the local agent",
        "Ask the local agent what FLAG serves for a context, as an\n"
        "application on this host would. --agent (RAMP_AGENT) picks the\n"
        "agent: ipc:///run/ramp/agent.sock (default), another nng URL, or\n"
        "direct:DIR to read the agent's state directory in-process.\n"
        "Attributes are strings; numeric, version and time operators\n"
        "parse them. Without --type the flag's own type is used (one bulk\n"
        "evaluation); with --type a flag of another type exits 1.\n"
        "--json prints {\"key\",\"value\",\"variant\",\"reason\",\n"
        "\"version\",\"stale\"}.\n"
        "--host prints only the variant, for deploy scripts gating on a\n"
        "host rollout (--unit host): the agent evaluates with its own host\n"
        "id, so this host's answer needs no --key.\n"
        "\n"
        "Examples:\n"
        "  ramp eval new-checkout --key user-42 --attr country=de\n"
        "  ramp eval dark-mode --type bool --agent direct:/var/lib/ramp\n"
        "  [ \"$(ramp eval api-v2 --host)\" = on ] && deploy-v2\n",
        eval_opts, 1, 1, eval_run},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, NULL},
};
