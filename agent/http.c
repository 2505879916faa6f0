/* SPDX-License-Identifier: MIT */
/*
 * The agent's HTTP server (http.h) on nng's HTTP server, built the way
 * the controller's API is (controller/api.c): one handler owns "/" as a
 * tree for every method, so 404 and 405 are our JSON rather than nng's
 * HTML page, and bodies are read here, not by nng's collector, which
 * answers an oversize Content-Length with a bare 400 and silently
 * ignores a chunked body, parsing it as the next request. We refuse
 * Transfer-Encoding (411) and bodies over http-max-body (413), both
 * with "Connection: close" since the unread bytes are still on the
 * wire, and read exactly Content-Length bytes otherwise.
 *
 * OFREP shapes (open-feature/protocol service/openapi.yaml): success
 * {key, value, reason, variant, metadata}; failure {key, errorCode,
 * errorDetails} with 400 for PARSE_ERROR, TARGETING_KEY_MISSING and
 * INVALID_CONTEXT, 404 for FLAG_NOT_FOUND, 500 for GENERAL. Error
 * bodies always carry key and errorCode, because OpenFeature providers
 * report anything else as GENERAL; transport-level refusals (401, 403,
 * 404 route, 405, 411, 413) use errorCode GENERAL.
 *
 * The server itself, body reading, those refusals and the handler's
 * lifetime are httpd/httpd.c, shared with the controller's API.
 */
#include "http.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <sodium.h>

#include "alloc.h"
#include "health.h"
#include "httpd.h"
#include "json.h"
#include "log.h"
#include "model.h"
#include "promtext.h"

#define HTTP_URI_MAX 2048     /* longer request targets are refused */
#define HTTP_METRICS_MAX ((size_t) 4 << 20) /* bytes of one scrape */
#define HTTP_OUTCOMES_MAX 1000 /* outcomes in one request */
#define HTTP_LATENCY_MAX_MS 3600000.0 /* one hour: beyond is a unit error */
#define HTTP_ETAG_BYTES 16    /* 128-bit BLAKE2b: hex is 32 characters */
#define HTTP_BULK_MAX ((size_t) 256 << 20) /* bytes of a bulk answer */

#define OFREP_FLAG_PREFIX "/ofrep/v1/evaluate/flags/"
#define OFREP_BULK_PATH "/ofrep/v1/evaluate/flags"

struct agt_http {
    struct rp_httpd *srv;      /* owned */
    struct agt_viewref *views; /* borrowed */
    struct agt_stats *stats;   /* borrowed */
    struct agt_health *health; /* borrowed, may be NULL */
    struct agt_metrics *metrics; /* owned */
    char *host;                /* owned */
    char *state_dir;           /* owned */
    size_t map_size;
    bool has_key;
    uint8_t key_hash[crypto_generichash_BYTES]; /* of the API key */
};

struct http_req {
    struct rp_httpd_req base;  /* first: httpd.h allocates the whole */
    struct agt_http *h;
    bool head;                 /* HEAD: treated as GET */
    enum agt_route route;
    bool found;                /* the path names a route */
    bool key_ok;               /* ofrep_flag: the key is a valid flag key */
    char key[RP_KEY_MAX + 1];  /* ofrep_flag: the key as sent, sanitised */
};

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* j (consumed; NULL is out of memory) as the body. */
static nng_http_res *
res_json(uint16_t status, json_t *j)
{
    return j != NULL ? rp_httpd_res_json(status, j) : NULL;
}

static nng_http_res *res_error(uint16_t status, const char *key,
    const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* {"key"?, "errorCode", "errorDetails"}; key NULL leaves it out. */
static nng_http_res *
res_error(uint16_t status, const char *key, const char *code,
    const char *fmt, ...)
{
    char msg[512];
    json_t *j;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    j = json_pack("{s:s, s:s}", "errorCode", code, "errorDetails", msg);
    if (j != NULL && key != NULL &&
        json_object_set_new(j, "key", json_string(key)) != 0) {
        json_decref(j);
        j = NULL;
    }
    return res_json(status, j);
}

/* The key an error body names: the flag route's key, else none. */
static const char *
req_key(const struct http_req *r)
{
    return r->route == AGT_ROUTE_OFREP_FLAG ? r->key : NULL;
}

static void
req_finish(struct http_req *r, nng_http_res *res)
{
    rp_httpd_finish(&r->base, res);
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/*
 * The path's route. For the flag route the key is copied as sent, with
 * anything outside printable ASCII replaced by '?' so the error body can
 * always name it (jansson refuses invalid UTF-8), and truncated at
 * RP_KEY_MAX + 1 bytes; whether it is a valid key is checked later.
 */
static enum agt_route
route_of(const char *path, char key[RP_KEY_MAX + 1], bool *key_ok)
{
    *key_ok = false;
    if (strncmp(path, OFREP_FLAG_PREFIX, strlen(OFREP_FLAG_PREFIX)) == 0) {
        const char *k = path + strlen(OFREP_FLAG_PREFIX);
        size_t n = strlen(k);
        size_t i;

        if (n == 0 || strchr(k, '/') != NULL) {
            return AGT_ROUTE_COUNT; /* no such route */
        }
        for (i = 0; i < n && i < RP_KEY_MAX; i++) {
            key[i] = k[i] > 0x20 && k[i] < 0x7f ? k[i] : '?';
        }
        key[i] = '\0';
        *key_ok = n <= RP_KEY_MAX && rp_flag_key_valid(k, n);
        return AGT_ROUTE_OFREP_FLAG;
    }
    if (strcmp(path, OFREP_BULK_PATH) == 0) {
        return AGT_ROUTE_OFREP_BULK;
    }
    if (strcmp(path, "/ramp/v1/outcomes") == 0) {
        return AGT_ROUTE_OUTCOMES;
    }
    if (strcmp(path, "/metrics") == 0) {
        return AGT_ROUTE_METRICS;
    }
    if (strcmp(path, "/healthz") == 0) {
        return AGT_ROUTE_HEALTHZ;
    }
    if (strcmp(path, "/readyz") == 0) {
        return AGT_ROUTE_READYZ;
    }
    return AGT_ROUTE_COUNT;
}

static bool
route_is_post(enum agt_route rt)
{
    return rt == AGT_ROUTE_OFREP_FLAG || rt == AGT_ROUTE_OFREP_BULK ||
        rt == AGT_ROUTE_OUTCOMES;
}

/* Hash of a presented key; compared in constant time with the stored
 * one, and hashing first makes the comparison length-independent. */
static bool
key_matches(const struct agt_http *h, const char *k)
{
    uint8_t got[crypto_generichash_BYTES];

    crypto_generichash(got, sizeof(got), (const uint8_t *) k, strlen(k),
        NULL, 0);
    return sodium_memcmp(got, h->key_hash, sizeof(got)) == 0;
}

/* NULL when allowed; else 401 (no credentials) or 403 (wrong ones). */
static nng_http_res *
req_auth(struct http_req *r)
{
    const char *xk = nng_http_req_get_header(r->base.req, "X-API-Key");
    const char *az = nng_http_req_get_header(r->base.req, "Authorization");
    const char *given = NULL;
    nng_http_res *res;

    if (!r->h->has_key || !route_is_post(r->route)) {
        return NULL;
    }
    if (xk != NULL) {
        given = xk;
    } else if (az != NULL && strncasecmp(az, "Bearer ", 7) == 0) {
        given = az + 7;
        while (*given == ' ') {
            given++;
        }
    }
    if (given == NULL) {
        res = res_error(401, req_key(r), "GENERAL",
            "an API key is required (Authorization: Bearer or X-API-Key)");
        if (res != NULL) {
            (void) nng_http_res_set_header(res, "WWW-Authenticate", "Bearer");
        }
        return res;
    }
    if (!key_matches(r->h, given)) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-AGENT-HTTP-AUTH-FAIL", "route=%s",
            agt_route_name(r->route));
        return res_error(403, req_key(r), "GENERAL", "wrong API key");
    }
    return NULL;
}

/*
 * The request body as a JSON object: *out is NULL for an empty body (no
 * context), else a new reference. 400 PARSE_ERROR otherwise.
 */
static nng_http_res *
req_json(struct http_req *r, json_t **out)
{
    json_error_t err;
    json_t *j;

    *out = NULL;
    if (r->base.body_len == 0) {
        return NULL;
    }
    j = json_loadb((const char *) r->base.body, r->base.body_len,
        JSON_REJECT_DUPLICATES, &err);
    if (j == NULL) {
        return res_error(400, req_key(r), "PARSE_ERROR",
            "invalid JSON at line %d column %d: %s", err.line, err.column,
            err.text);
    }
    if (!json_is_object(j) &&
        !(r->route == AGT_ROUTE_OUTCOMES && json_is_array(j))) {
        json_decref(j);
        return res_error(400, req_key(r), "PARSE_ERROR",
            "the body must be a JSON object");
    }
    *out = j;
    return NULL;
}

/* The "context" member of an OFREP request into c (borrowing from
 * body). 400 INVALID_CONTEXT for a context that is not an object, or
 * that rp_json_ctx_parse refuses. */
static nng_http_res *
req_context(struct http_req *r, json_t *body, json_t **ctxj,
    struct rp_json_ctx *c)
{
    char msg[256];
    const char *k;
    json_t *v;

    *ctxj = NULL;
    if (body != NULL) {
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "context") != 0) {
                return res_error(400, req_key(r), "PARSE_ERROR",
                    "unknown member \"%.64s\": the body is {\"context\": "
                    "{...}}", k);
            }
        }
        *ctxj = json_object_get(body, "context");
        if (json_is_null(*ctxj)) {
            *ctxj = NULL;
        }
    }
    if (rp_json_ctx_parse(*ctxj, c, msg, sizeof(msg)) != RAMP_OK) {
        return res_error(400, req_key(r), "INVALID_CONTEXT", "%s", msg);
    }
    c->ctx.host = r->h->host;
    c->ctx.host_len = strlen(r->h->host);
    return NULL;
}

/* Both of the above for the OFREP routes: *body (NULL for an empty one)
 * is a new reference that c borrows from, left NULL on error. */
static nng_http_res *
req_ofrep(struct http_req *r, json_t **body, json_t **ctxj,
    struct rp_json_ctx *c)
{
    nng_http_res *out = req_json(r, body);

    if (out == NULL) {
        out = req_context(r, *body, ctxj, c);
    }
    if (out != NULL) {
        json_decref(*body);
        *body = NULL;
    }
    return out;
}

/* ------------------------------------------------------------------ */
/* OFREP                                                               */
/* ------------------------------------------------------------------ */

static uint16_t
ecode_status(enum rp_ecode e)
{
    switch (e) {
    case RP_EC_FLAG_NOT_FOUND:
        return 404;
    case RP_EC_PARSE_ERROR:
    case RP_EC_TARGETING_KEY_MISSING:
    case RP_EC_INVALID_CONTEXT:
        return 400;
    default:
        return 500;
    }
}

static const char *
ecode_details(enum rp_ecode e)
{
    switch (e) {
    case RP_EC_FLAG_NOT_FOUND:
        return "no such flag on this agent";
    case RP_EC_TARGETING_KEY_MISSING:
        return "this flag splits by targetingKey: the context needs one";
    case RP_EC_INVALID_CONTEXT:
        return "the context does not suit this flag";
    default:
        return "evaluation failed";
    }
}

static const char *
arm_name(enum rp_arm a)
{
    return a == RP_ARM_TREATMENT ? "treatment"
        : a == RP_ARM_CONTROL    ? "control"
                                 : NULL;
}

/*
 * One evaluation as its OFREP object: success or failure. Metadata is
 * flat strings, numbers and booleans, as OFREP requires.
 */
static json_t *
ofrep_result(const char *key, const struct rp_flag *f,
    const struct rp_result *res, uint64_t seq, bool stale)
{
    json_t *j, *md, *val;

    if (res->reason == RP_REASON_ERROR || res->value == NULL) {
        enum rp_ecode e =
            res->reason == RP_REASON_ERROR ? res->error : RP_EC_GENERAL;

        return json_pack("{s:s, s:s, s:s}", "key", key, "errorCode",
            rp_ecode_name(e), "errorDetails", ecode_details(e));
    }
    val = rp_value_to_json(res->value);
    if (val == NULL) {
        return json_pack("{s:s, s:s, s:s}", "key", key, "errorCode",
            "GENERAL", "errorDetails", "the variant's value does not convert");
    }
    md = json_pack("{s:I, s:I, s:b}", "version", (json_int_t) f->version,
        "seq", (json_int_t) seq, "stale", stale);
    if (md != NULL && arm_name(res->arm) != NULL &&
        json_object_set_new(md, "arm", json_string(arm_name(res->arm))) != 0) {
        json_decref(md);
        md = NULL;
    }
    if (md == NULL) {
        json_decref(val);
        return NULL;
    }
    j = json_pack("{s:s, s:o, s:s, s:s, s:o}", "key", key, "value", val,
        "reason", rp_reason_name(res->reason), "variant", res->variant_name,
        "metadata", md);
    return j;
}

/*
 * The single-flag success answer, written straight into a buffer.
 *
 * Building it as jansson objects and dumping them was most of the
 * agent's own work per request (callgrind under bench_ofrep.sh): seven
 * objects allocated and freed, and json_dumpb, run twice (to size, then
 * to write), keeps a hashtable of the containers it is inside to refuse
 * cycles, with an allocation and an snprintf("%p") per object. The
 * frame of the answer needs none of it: a flag key, a variant name,
 * enum names and integers, none of which ever needs escaping. So the
 * frame is written here and jansson still writes the value (strings and
 * their escapes, reals, JSON variants), with the flags res_json() uses:
 * every answer is byte for byte what ofrep_result() and res_json() give
 * (tests/integration/ofrep_bytes.sh). Whatever this cannot write
 * exactly (an answer over the buffer, a name that would need escaping,
 * a value that does not convert) it leaves to that path.
 */
#define OFREP_BODY_MAX 1024 /* bytes; a typical answer is about 150 */

struct body {
    char *p;    /* caller's buffer */
    size_t len; /* bytes written */
    size_t cap; /* bytes in p */
    bool bad;   /* did not fit, or not writable here */
};

static void
body_put(struct body *b, const char *s, size_t n)
{
    if (b->bad || n > b->cap - b->len) {
        b->bad = true;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define body_lit(b, s) body_put((b), (s), sizeof(s) - 1)

/* A quoted string jansson writes as it is, byte for byte: printable
 * ASCII but '"' and '\\'. Keys, variant names, reasons, arms, error codes
 * and the fixed error details all are; anything else is not ours to
 * write. */
static void
body_str(struct body *b, const char *s)
{
    size_t n = strlen(s);

    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\') {
            b->bad = true;
            return;
        }
    }
    body_lit(b, "\"");
    body_put(b, s, n);
    body_lit(b, "\"");
}

/* As jansson writes a json_int_t: "%" JSON_INTEGER_FORMAT. */
static void
body_int(struct body *b, json_int_t v)
{
    char t[24];
    size_t i = sizeof(t);
    uint64_t u = v < 0 ? 0 - (uint64_t) v : (uint64_t) v;

    do {
        t[--i] = (char) ('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) {
        t[--i] = '-';
    }
    body_put(b, t + i, sizeof(t) - i);
}

/* Booleans here; any other value by jansson, straight into the buffer. */
static void
body_value(struct body *b, const struct rp_value *v)
{
    json_t *j;
    size_t n;

    if (b->bad) {
        return;
    }
    if (v->type == RP_TYPE_BOOL) {
        if (v->b) {
            body_lit(b, "true");
        } else {
            body_lit(b, "false");
        }
        return;
    }
    j = rp_value_to_json(v);
    if (j == NULL) {
        b->bad = true;
        return;
    }
    n = json_dumpb(j, b->p + b->len, b->cap - b->len,
        JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(j);
    if (n == 0 || n > b->cap - b->len) {
        b->bad = true;
        return;
    }
    b->len += n;
}

/* ofrep_result()'s success object for res (not an error), as res_json()
 * dumps it. false: use those instead. */
static bool
ofrep_write(struct body *b, const char *key, const struct rp_flag *f,
    const struct rp_result *res, uint64_t seq, bool stale)
{
    const char *arm = arm_name(res->arm);

    if (res->reason == RP_REASON_ERROR || res->value == NULL ||
        res->variant_name == NULL) {
        return false;
    }
    body_lit(b, "{\"key\":");
    body_str(b, key);
    body_lit(b, ",\"value\":");
    body_value(b, res->value);
    body_lit(b, ",\"reason\":");
    body_str(b, rp_reason_name(res->reason));
    body_lit(b, ",\"variant\":");
    body_str(b, res->variant_name);
    body_lit(b, ",\"metadata\":{\"version\":");
    body_int(b, (json_int_t) f->version);
    body_lit(b, ",\"seq\":");
    body_int(b, (json_int_t) seq);
    if (stale) {
        body_lit(b, ",\"stale\":true");
    } else {
        body_lit(b, ",\"stale\":false");
    }
    if (arm != NULL) {
        body_lit(b, ",\"arm\":");
        body_str(b, arm);
    }
    body_lit(b, "}}");
    return !b->bad;
}

/* ofrep_result()'s error object for error code e, as dumped. */
static bool
ofrep_write_error(struct body *b, const char *key, enum rp_ecode e)
{
    body_lit(b, "{\"key\":");
    body_str(b, key);
    body_lit(b, ",\"errorCode\":");
    body_str(b, rp_ecode_name(e));
    body_lit(b, ",\"errorDetails\":");
    body_str(b, ecode_details(e));
    body_lit(b, "}");
    return !b->bad;
}

/*
 * One flag of the bulk answer appended to out: written here when it
 * can be, else ofrep_result() dumped by jansson, the same bytes.
 */
static ramp_err
bulk_append(struct rp_buf *out, const char *key, const struct rp_flag *f,
    const struct rp_result *res, uint64_t seq, bool stale)
{
    char buf[OFREP_BODY_MAX];
    struct body b = {.p = buf, .cap = sizeof(buf)};
    bool ok;
    json_t *j;
    size_t n;
    ramp_err rv;

    if (res->reason == RP_REASON_ERROR) {
        ok = ofrep_write_error(&b, key, res->error);
    } else {
        ok = ofrep_write(&b, key, f, res, seq, stale);
    }
    if (ok) {
        return rp_buf_append(out, buf, b.len);
    }
    j = ofrep_result(key, f, res, seq, stale);
    if (j == NULL) {
        return RAMP_ENOMEM;
    }
    n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    rv = n > 0 ? rp_buf_reserve(out, n) : RAMP_ENOMEM;
    if (rv == RAMP_OK &&
        json_dumpb(j, (char *) out->data + out->len, n, JSON_COMPACT) == n) {
        out->len += n;
    } else if (rv == RAMP_OK) {
        rv = RAMP_ENOMEM;
    }
    json_decref(j);
    return rv;
}

static nng_http_res *
do_ofrep_flag(struct http_req *r, bool key_ok)
{
    struct agt_http *h = r->h;
    struct rp_json_ctx c;
    struct rp_result res;
    const struct agt_entry *e = NULL;
    struct agt_view *v;
    json_t *body = NULL, *ctxj;
    char buf[OFREP_BODY_MAX];
    struct body b = {.p = buf, .cap = sizeof(buf)};
    nng_http_res *out;
    bool stale;

    out = req_ofrep(r, &body, &ctxj, &c);
    if (out != NULL) {
        return out;
    }
    if (!key_ok) {
        json_decref(body);
        agt_metrics_count_eval(h->metrics, NULL, 0, RP_REASON_ERROR);
        return res_error(404, r->key, "FLAG_NOT_FOUND",
            "not a flag key: [a-z0-9][a-z0-9._-]{0,127}");
    }
    v = agt_viewref_get(h->views);
    if (v != NULL) {
        e = agt_view_get(v, r->key, strlen(r->key));
    }
    rp_eval(e != NULL ? e->flag : NULL, e != NULL ? &e->ro : NULL, &c.ctx,
        &res);
    stale = atomic_load(&h->stats->stale);
    agt_metrics_count_eval(h->metrics, e != NULL ? r->key : NULL,
        strlen(r->key), res.reason);
    if (res.reason == RP_REASON_ERROR) {
        out = res_error(ecode_status(res.error), r->key,
            rp_ecode_name(res.error), "%s",
            v == NULL ? "the agent has no state yet"
                      : ecode_details(res.error));
    } else if (ofrep_write(&b, r->key, e->flag, &res, agt_view_seq(v), stale)) {
        out = rp_httpd_res_bytes(200, "application/json", b.p, b.len);
        if (h->health != NULL) {
            agt_health_count_eval(h->health, r->key, res.variant_name,
                (uint32_t) res.arm);
        }
    } else {
        json_t *j = ofrep_result(r->key, e->flag, &res, agt_view_seq(v),
            stale);

        if (j != NULL && json_object_get(j, "errorCode") != NULL) {
            json_decref(j);
            out = res_error(500, r->key, "GENERAL",
                "the variant's value does not convert");
        } else {
            out = res_json(200, j);
            if (h->health != NULL) {
                agt_health_count_eval(h->health, r->key, res.variant_name,
                    (uint32_t) res.arm);
            }
        }
    }
    agt_view_rele(v);
    json_decref(body); /* c borrowed from it until here */
    return out;
}

/*
 * The bulk answer's ETag: BLAKE2b-128 of the view's seq, the stale bit
 * (it is in every flag's metadata) and the canonical context (sorted
 * keys, compact). It identifies the answer, not only the agent's state:
 * OpenFeature's web provider keeps its ETag across a context change with
 * the same targetingKey, so a state-only tag would let it keep values
 * evaluated for the old context.
 */
static ramp_err
bulk_etag(uint64_t seq, bool stale, const json_t *ctxj,
    char out[2 * HTTP_ETAG_BYTES + 3])
{
    crypto_generichash_state st;
    uint8_t d[HTTP_ETAG_BYTES];
    uint8_t hdr[10];
    char *canon = NULL;

    if (ctxj != NULL) {
        canon = json_dumps(ctxj, JSON_COMPACT | JSON_SORT_KEYS);
        if (canon == NULL) {
            return RAMP_ENOMEM;
        }
    }
    hdr[0] = 1; /* form of the hashed input; bump if it changes */
    for (int i = 0; i < 8; i++) {
        hdr[1 + i] = (uint8_t) (seq >> (8 * i));
    }
    hdr[9] = stale ? 1 : 0;
    crypto_generichash_init(&st, NULL, 0, sizeof(d));
    crypto_generichash_update(&st, hdr, sizeof(hdr));
    if (canon != NULL) {
        crypto_generichash_update(&st, (const uint8_t *) canon,
            strlen(canon));
    }
    crypto_generichash_final(&st, d, sizeof(d));
    free(canon); /* jansson's allocator */
    out[0] = '"';
    sodium_bin2hex(out + 1, 2 * HTTP_ETAG_BYTES + 1, d, sizeof(d));
    out[2 * HTTP_ETAG_BYTES + 1] = '"';
    out[2 * HTTP_ETAG_BYTES + 2] = '\0';
    return RAMP_OK;
}

/* If-None-Match holds etag (weak or strong) or "*". */
static bool
etag_listed(const char *inm, const char *etag)
{
    size_t n = strlen(etag);
    const char *p = inm;

    while (*p != '\0') {
        while (*p == ' ' || *p == ',' || *p == '\t') {
            p++;
        }
        if (*p == '*') {
            return true;
        }
        if (strncmp(p, "W/", 2) == 0) {
            p += 2;
        }
        if (strncmp(p, etag, n) == 0 &&
            (p[n] == '\0' || p[n] == ',' || p[n] == ' ')) {
            return true;
        }
        while (*p != '\0' && *p != ',') {
            p++;
        }
    }
    return false;
}

static nng_http_res *
do_ofrep_bulk(struct http_req *r)
{
    struct agt_http *h = r->h;
    struct rp_json_ctx c;
    char etag[2 * HTTP_ETAG_BYTES + 3];
    const char *inm;
    struct agt_view *v;
    json_t *body = NULL, *ctxj;
    struct rp_buf ob;
    nng_http_res *out;
    uint64_t seq;
    bool stale;
    size_t n;
    ramp_err rv;

    out = req_ofrep(r, &body, &ctxj, &c);
    if (out != NULL) {
        return out;
    }
    v = agt_viewref_get(h->views);
    seq = v != NULL ? agt_view_seq(v) : 0;
    n = v != NULL ? agt_view_count(v) : 0;
    stale = atomic_load(&h->stats->stale);
    if (bulk_etag(seq, stale, ctxj, etag) != RAMP_OK) {
        out = NULL;
        goto done;
    }
    inm = nng_http_req_get_header(r->base.req, "If-None-Match");
    if (inm != NULL && etag_listed(inm, etag)) {
        out = rp_httpd_res_bytes(304, NULL, NULL, 0);
        if (out != NULL && nng_http_res_set_header(out, "ETag", etag) != 0) {
            nng_http_res_free(out);
            out = NULL;
        }
        goto done;
    }
    /* {"flags": [...]} as jansson would dump it (see ofrep_write()). */
    rp_buf_init(&ob, HTTP_BULK_MAX);
    rv = rp_buf_append(&ob, "{\"flags\":[", 10);
    for (size_t i = 0; rv == RAMP_OK && i < n; i++) {
        const struct agt_entry *e = agt_view_at(v, i);
        struct rp_result res;

        rp_eval(e->flag, &e->ro, &c.ctx, &res);
        agt_metrics_count_eval(h->metrics, e->flag->key,
            strlen(e->flag->key), res.reason);
        if (i > 0) {
            rv = rp_buf_append(&ob, ",", 1);
        }
        if (rv == RAMP_OK) {
            rv = bulk_append(&ob, e->flag->key, e->flag, &res, seq, stale);
        }
    }
    if (rv == RAMP_OK) {
        rv = rp_buf_append(&ob, "]}", 2);
    }
    out = rv == RAMP_OK
        ? rp_httpd_res_bytes(200, "application/json", ob.data, ob.len)
        : rp_httpd_res_bytes(200, NULL, NULL, 0);
    rp_buf_fini(&ob);
    if (out != NULL && nng_http_res_set_header(out, "ETag", etag) != 0) {
        nng_http_res_free(out);
        out = NULL;
    }

done:
    agt_view_rele(v);
    json_decref(body);
    return out;
}

/* ------------------------------------------------------------------ */
/* Outcomes                                                            */
/* ------------------------------------------------------------------ */

/* One checked outcome, ready to observe. Strings borrow from the view
 * (flag, variant names), held by the caller. */
struct outcome {
    const char *flag;
    const char *variant;
    enum rp_arm arm;
    bool success;
    uint64_t latency_us;
};

static nng_http_res *outcome_bad(size_t i, bool many, const char *code,
    uint16_t status, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static nng_http_res *
outcome_bad(size_t i, bool many, const char *code, uint16_t status,
    const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (many) {
        return res_error(status, NULL, code, "outcomes[%zu]: %s", i, msg);
    }
    return res_error(status, NULL, code, "%s", msg);
}

/*
 * Check one outcome object against the view: {"flag", "success",
 * "latencyMs"?, and either "variant" or "targetingKey"/"context"}. With
 * a variant the arm is the rollout arm that variant stands for (if the
 * flag has a rollout); with a context the agent evaluates, as it would
 * have for the application, to find the variant and the arm exactly.
 */
static nng_http_res *
outcome_check(struct agt_http *h, const struct agt_view *v, json_t *o,
    size_t i, bool many, struct outcome *out)
{
    json_t *flag, *variant, *tk, *ctx, *ok, *lat, *val;
    const struct agt_entry *e;
    const char *k;

    if (!json_is_object(o)) {
        return outcome_bad(i, many, "PARSE_ERROR", 400,
            "an outcome is a JSON object");
    }
    json_object_foreach(o, k, val)
    {
        if (strcmp(k, "flag") != 0 && strcmp(k, "variant") != 0 &&
            strcmp(k, "targetingKey") != 0 && strcmp(k, "context") != 0 &&
            strcmp(k, "success") != 0 && strcmp(k, "latencyMs") != 0) {
            return outcome_bad(i, many, "PARSE_ERROR", 400,
                "unknown member \"%.64s\"", k);
        }
    }
    flag = json_object_get(o, "flag");
    variant = json_object_get(o, "variant");
    tk = json_object_get(o, "targetingKey");
    ctx = json_object_get(o, "context");
    ok = json_object_get(o, "success");
    lat = json_object_get(o, "latencyMs");
    if (!json_is_string(flag)) {
        return outcome_bad(i, many, "PARSE_ERROR", 400,
            "\"flag\" (a string) is required");
    }
    if (!json_is_boolean(ok)) {
        return outcome_bad(i, many, "PARSE_ERROR", 400,
            "\"success\" (true or false) is required");
    }
    if (lat != NULL && (!json_is_number(lat) ||
                           !isfinite(json_number_value(lat)) ||
                           json_number_value(lat) < 0 ||
                           json_number_value(lat) > HTTP_LATENCY_MAX_MS)) {
        return outcome_bad(i, many, "PARSE_ERROR", 400,
            "\"latencyMs\" must be a number of milliseconds, 0..3600000");
    }
    if ((variant != NULL) == (tk != NULL || ctx != NULL)) {
        return outcome_bad(i, many, "PARSE_ERROR", 400,
            "give either \"variant\" or \"targetingKey\"/\"context\"");
    }
    if (tk != NULL && !json_is_string(tk)) {
        return outcome_bad(i, many, "INVALID_CONTEXT", 400,
            "\"targetingKey\" must be a string");
    }
    e = v != NULL ? agt_view_get(v, json_string_value(flag),
                        json_string_length(flag))
                  : NULL;
    if (e == NULL) {
        return outcome_bad(i, many, "FLAG_NOT_FOUND", 404,
            "no flag \"%.128s\" on this agent", json_string_value(flag));
    }
    out->flag = e->flag->key;
    out->success = json_is_true(ok);
    out->latency_us =
        lat != NULL ? (uint64_t) llround(json_number_value(lat) * 1000.0) : 0;
    if (variant != NULL) {
        int32_t vi;

        vi = json_is_string(variant)
            ? rp_flag_variant_index(e->flag, json_string_value(variant))
            : -1;
        if (vi < 0) {
            return outcome_bad(i, many, "PARSE_ERROR", 400,
                "\"variant\" must name a variant of flag \"%s\"",
                e->flag->key);
        }
        out->variant = e->flag->variants[vi].name;
        out->arm = RP_ARM_NONE;
        if (e->ro.applies && (uint32_t) vi == e->ro.treatment) {
            out->arm = RP_ARM_TREATMENT;
        } else if (e->ro.applies && (uint32_t) vi == e->ro.control) {
            out->arm = RP_ARM_CONTROL;
        }
        return NULL;
    }
    {
        struct rp_json_ctx c;
        struct rp_result res;
        char msg[256];

        if (rp_json_ctx_parse(json_is_null(ctx) ? NULL : ctx, &c, msg,
                sizeof(msg)) != RAMP_OK) {
            return outcome_bad(i, many, "INVALID_CONTEXT", 400, "%s", msg);
        }
        if (tk != NULL) {
            if (c.ctx.key != NULL) {
                return outcome_bad(i, many, "INVALID_CONTEXT", 400,
                    "targetingKey given twice");
            }
            c.ctx.key = json_string_value(tk);
            c.ctx.key_len = json_string_length(tk);
        }
        c.ctx.host = h->host;
        c.ctx.host_len = strlen(h->host);
        rp_eval(e->flag, &e->ro, &c.ctx, &res);
        if (res.reason == RP_REASON_ERROR) {
            return outcome_bad(i, many, rp_ecode_name(res.error),
                ecode_status(res.error), "%s", ecode_details(res.error));
        }
        out->variant = res.variant_name;
        out->arm = res.arm;
    }
    return NULL;
}

/*
 * POST /ramp/v1/outcomes: one outcome object, or an array of up to
 * HTTP_OUTCOMES_MAX. All are checked before any is observed, so a bad
 * one changes nothing. 202 {"accepted": n}.
 */
static nng_http_res *
do_outcomes(struct http_req *r)
{
    struct agt_http *h = r->h;
    struct outcome *oc = NULL;
    struct agt_view *v = NULL;
    json_t *body = NULL;
    nng_http_res *out;
    size_t n, accepted = 0;
    bool many;

    if (h->health == NULL) {
        return res_error(503, NULL, "GENERAL",
            "health aggregation is not running on this agent");
    }
    out = req_json(r, &body);
    if (out != NULL) {
        return out;
    }
    if (body == NULL) {
        return res_error(400, NULL, "PARSE_ERROR",
            "the body is an outcome object or an array of them");
    }
    many = json_is_array(body);
    n = many ? json_array_size(body) : 1;
    if (many && (n == 0 || n > HTTP_OUTCOMES_MAX)) {
        out = res_error(400, NULL, "PARSE_ERROR",
            "an array of 1..%d outcomes", HTTP_OUTCOMES_MAX);
        goto done;
    }
    oc = rp_calloc(n, sizeof(*oc));
    if (oc == NULL) {
        out = res_error(503, NULL, "GENERAL", "out of memory");
        goto done;
    }
    v = agt_viewref_get(h->views);
    for (size_t i = 0; i < n; i++) {
        out = outcome_check(h, v, many ? json_array_get(body, i) : body, i,
            many, &oc[i]);
        if (out != NULL) {
            goto done;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (agt_health_observe(h->health, oc[i].flag, oc[i].variant,
                (uint32_t) oc[i].arm, oc[i].success,
                oc[i].latency_us) == RAMP_OK) {
            accepted++;
        }
    }
    out = res_json(202, json_pack("{s:I}", "accepted", (json_int_t) accepted));

done:
    agt_view_rele(v);
    rp_free(oc);
    json_decref(body);
    return out;
}

/* ------------------------------------------------------------------ */
/* Metrics and probes                                                  */
/* ------------------------------------------------------------------ */

static nng_http_res *
do_metrics(struct http_req *r)
{
    struct agt_http *h = r->h;
    struct agt_metrics_src src = {
        .stats = h->stats,
        .views = h->views,
        .health = h->health,
        .state_dir = h->state_dir,
        .map_size = h->map_size,
    };
    struct rp_buf b;
    nng_http_res *out;
    ramp_err rv;

    rp_buf_init(&b, HTTP_METRICS_MAX);
    rv = agt_metrics_render(h->metrics, &src, &b);
    if (rv != RAMP_OK) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-METRICS-FAIL", "err=%s",
            ramp_errname(rv));
        out = res_error(500, NULL, "GENERAL", "metrics: %s",
            ramp_strerror(rv));
    } else {
        out = rp_httpd_res_bytes(200, RP_PROM_CONTENT_TYPE, b.data, b.len);
    }
    rp_buf_fini(&b);
    return out;
}

static nng_http_res *
do_readyz(struct http_req *r)
{
    struct agt_view *v = agt_viewref_get(r->h->views);
    uint64_t seq = v != NULL ? agt_view_seq(v) : 0;
    size_t n = v != NULL ? agt_view_count(v) : 0;
    bool stale = atomic_load(&r->h->stats->stale);

    agt_view_rele(v);
    /* Ready means "has state to serve": a stale agent still serves its
     * last-known-good state, so staleness is reported, not fatal. */
    return res_json(seq > 0 ? 200 : 503,
        json_pack("{s:s, s:I, s:I, s:b}", "status",
            seq > 0 ? "ready" : "no state yet", "seq", (json_int_t) seq,
            "flags", (json_int_t) n, "stale", stale));
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

/* Find the route before anything else, so every answer, 411 and 413
 * included, is counted under it. */
static void
req_route(struct http_req *r)
{
    const char *uri = nng_http_req_get_uri(r->base.req);
    char path[HTTP_URI_MAX];
    size_t n;

    r->route = AGT_ROUTE_OTHER;
    r->found = false;
    n = strcspn(uri, "?#");
    if (n >= sizeof(path)) {
        return;
    }
    memcpy(path, uri, n);
    path[n] = '\0';
    r->route = route_of(path, r->key, &r->key_ok);
    r->found = r->route != AGT_ROUTE_COUNT;
    if (!r->found) {
        r->route = AGT_ROUTE_OTHER;
    }
}

static void
http_dispatch(struct rp_httpd_req *base)
{
    struct http_req *r = (struct http_req *) base;
    const char *method = nng_http_req_get_method(r->base.req);
    nng_http_res *res;
    bool post;

    if (!r->found) {
        req_finish(r, res_error(404, NULL, "GENERAL", "no such route"));
        return;
    }
    post = route_is_post(r->route);
    r->head = strcmp(method, "HEAD") == 0;
    if (post ? strcmp(method, "POST") != 0
             : (strcmp(method, "GET") != 0 && !r->head)) {
        res = res_error(405, req_key(r), "GENERAL",
            "method %.16s not allowed here", method);
        if (res != NULL) {
            (void) nng_http_res_set_header(res, "Allow",
                post ? "POST" : "GET, HEAD");
        }
        req_finish(r, res);
        return;
    }
    res = req_auth(r);
    if (res != NULL) {
        req_finish(r, res);
        return;
    }
    switch (r->route) {
    case AGT_ROUTE_OFREP_FLAG:
        res = do_ofrep_flag(r, r->key_ok);
        break;
    case AGT_ROUTE_OFREP_BULK:
        res = do_ofrep_bulk(r);
        break;
    case AGT_ROUTE_OUTCOMES:
        res = do_outcomes(r);
        break;
    case AGT_ROUTE_METRICS:
        res = do_metrics(r);
        break;
    case AGT_ROUTE_HEALTHZ:
        res = res_json(200, json_pack("{s:s}", "status", "ok"));
        break;
    case AGT_ROUTE_READYZ:
        res = do_readyz(r);
        break;
    default:
        res = res_error(404, NULL, "GENERAL", "no such route");
        break;
    }
    req_finish(r, res);
}

/* httpd.h's hooks */

static void
http_begin(struct rp_httpd_req *base)
{
    struct http_req *r = (struct http_req *) base;

    r->h = base->arg;
    req_route(r);
}

static nng_http_res *
http_refuse(struct rp_httpd_req *base, enum rp_httpd_refusal why,
    uint16_t status, const char *msg)
{
    struct http_req *r = (struct http_req *) base;

    return res_error(status, req_key(r),
        why == RP_HTTPD_BAD_LENGTH ? "PARSE_ERROR" : "GENERAL", "%s", msg);
}

static void
http_end(struct rp_httpd_req *base, uint16_t status)
{
    struct http_req *r = (struct http_req *) base;

    if (status != 0) {
        agt_metrics_count_http(r->h->metrics, r->route, status);
    }
}

static const struct rp_httpd_ops http_ops = {
    .req_size = sizeof(struct http_req),
    .begin = http_begin,
    .refuse = http_refuse,
    .dispatch = http_dispatch,
    .end = http_end,
};

/* ------------------------------------------------------------------ */
/* Start and stop                                                      */
/* ------------------------------------------------------------------ */

static void
http_free(struct agt_http *h)
{
    agt_metrics_free(h->metrics);
    rp_free(h->host);
    rp_free(h->state_dir);
    sodium_memzero(h->key_hash, sizeof(h->key_hash));
    rp_free(h);
}

/* The key file: one line; trailing whitespace (the newline) dropped.
 * Only the key's hash is kept. Never logged. */
static ramp_err
http_load_key(struct agt_http *h, const char *path)
{
    char buf[AGT_HTTP_KEY_MAX + 2];
    size_t n;
    FILE *f;

    f = fopen(path, "r");
    if (f == NULL) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-HTTP-KEY", "path=%s err=\"%s\"",
            path, strerror(errno));
        return RAMP_EINVAL;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
                        buf[n - 1] == ' ' || buf[n - 1] == '\t')) {
        n--;
    }
    if (n == 0 || n > AGT_HTTP_KEY_MAX || memchr(buf, '\n', n) != NULL ||
        memchr(buf, '\0', n) != NULL) {
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-HTTP-KEY",
            "path=%s msg=\"the key file must hold one line of 1..%d bytes\"",
            path, AGT_HTTP_KEY_MAX);
        sodium_memzero(buf, sizeof(buf));
        return RAMP_EINVAL;
    }
    crypto_generichash(h->key_hash, sizeof(h->key_hash), (uint8_t *) buf, n,
        NULL, 0);
    sodium_memzero(buf, sizeof(buf));
    h->has_key = true;
    return RAMP_OK;
}

static ramp_err
http_listen(struct agt_http *h, const char *addr, size_t max_body)
{
    struct rp_httpd_opts ho = {
        .max_body = max_body,
        .ops = &http_ops,
        .arg = h,
        .ev_req = "RAMP-AGENT-HTTP-REQ",
        .ev_close_slow = "RAMP-AGENT-HTTP-CLOSE-SLOW",
        .ev_listen_fail = "RAMP-AGENT-HTTP-LISTEN-FAIL",
        .addr_key = "addr",
        .addr = addr,
    };
    char url[512];

    if ((size_t) snprintf(url, sizeof(url), "http://%s", addr) >=
        sizeof(url)) {
        return RAMP_EINVAL;
    }
    ho.url = url;
    return rp_httpd_start(&ho, &h->srv);
}

ramp_err
agt_http_start(const struct agt_http_opts *o, struct agt_viewref *views,
    struct agt_stats *stats, struct agt_health *health, struct agt_http **out)
{
    struct agt_http *h;
    size_t max_body;
    ramp_err rv;

    if (o == NULL || o->addr == NULL || o->host == NULL || views == NULL ||
        stats == NULL || out == NULL) {
        return RAMP_EINVAL;
    }
    if (sodium_init() < 0) {
        return RAMP_ESYSTEM;
    }
    h = rp_calloc(1, sizeof(*h));
    if (h == NULL) {
        return RAMP_ENOMEM;
    }
    h->views = views;
    h->stats = stats;
    h->health = health;
    h->map_size = o->map_size;
    h->host = rp_strdup(o->host);
    h->state_dir = o->state_dir != NULL ? rp_strdup(o->state_dir) : NULL;
    if (h->host == NULL || (o->state_dir != NULL && h->state_dir == NULL)) {
        http_free(h);
        return RAMP_ENOMEM;
    }
    rv = agt_metrics_new(&h->metrics);
    if (rv != RAMP_OK) {
        http_free(h);
        return rv;
    }
    if (o->key_file != NULL && o->key_file[0] != '\0') {
        rv = http_load_key(h, o->key_file);
        if (rv != RAMP_OK) {
            http_free(h);
            return rv;
        }
    }
    max_body = o->max_body != 0 ? o->max_body : AGT_HTTP_BODY_DEFAULT;
    rv = http_listen(h, o->addr, max_body);
    if (rv != RAMP_OK) {
        /* rp_httpd_start calls no hook once it has failed. */
        http_free(h);
        return rv;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-HTTP-LISTEN",
        "addr=%s port=%d max_body=%zu auth=%s", o->addr,
        rp_httpd_port(h->srv), max_body, h->has_key ? "key" : "none");
    *out = h;
    return RAMP_OK;
}

int
agt_http_port(const struct agt_http *h)
{
    return rp_httpd_port(h->srv);
}

void
agt_http_stop(struct agt_http *h)
{
    if (h == NULL) {
        return;
    }
    /* A stuck peer leaks the server; its hooks still use h. */
    if (rp_httpd_free(h->srv)) {
        http_free(h);
    }
}
