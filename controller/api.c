/* SPDX-License-Identifier: MIT */
/*
 * The HTTP API (docs/api.md) on nng's HTTP server.
 *
 * One handler owns the whole URL space ("/" as a tree, any method), so
 * every answer, 404 and 405 included, is our JSON rather than nng's HTML
 * page. Bodies are not collected by nng: its collector answers an
 * oversize Content-Length with a bare 400 and silently ignores chunked
 * bodies (DESIGN §10). We read the header ourselves, refuse
 * Transfer-Encoding (411) and oversize bodies (413), both with
 * "Connection: close" because the unread bytes are still on the wire,
 * then read exactly Content-Length bytes with nng_http_conn_read_all().
 *
 * Where work runs: checks and reads on nng's callback threads (an LMDB
 * read transaction is microseconds); writes on one writer thread, which
 * does the precondition read, the store change and the publish
 * (ctl_pub_change) and answers after the commit. One writer also makes
 * If-Match race-free between API clients: the version read and the
 * write happen with no other API write in between.
 *
 * The server itself, body reading, those refusals and the handler's
 * lifetime are httpd/httpd.c, shared with the agent's HTTP server.
 */
#include "api.h"
#include "api_ext.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <sodium.h>

#include "alloc.h"
#include "codec.h"
#include "config.h"
#include "events.h"
#include "httpd.h"
#include "json.h"
#include "log.h"
#include "model.h"
#include "mp.h"

#define API_MAX_BODY_DEFAULT ((size_t) 1 << 20)
#define API_QUEUE_DEFAULT 1024
#define API_PARAM_MAX 256  /* bytes of one decoded query value */
#define API_URI_MAX 2048   /* longer request targets are refused */

enum api_route {
    R_NONE,
    R_HEALTHZ,
    R_FLAGS,
    R_FLAG,
    R_FLAG_ENABLE,
    R_FLAG_DISABLE,
    R_AUDIT,
    R_TOKENS,
    R_TOKEN,
    R_EXT, /* a route of an extension table (api_ext.h) */
};

enum api_method { M_GET, M_POST, M_PUT, M_PATCH, M_DELETE, M_OTHER };

/* If-Match: absent, "*", or one strong version tag. */
enum api_cond { C_NONE, C_ANY, C_VERSION };

struct api_req {
    struct rp_httpd_req base; /* first: httpd.h allocates the whole */
    struct ctl_api *a;
    enum api_route route;
    enum api_method method;
    char param[RP_KEY_MAX + 2]; /* {key} or {name}, NUL-terminated */
    char query[API_URI_MAX];    /* raw query string, "" if none */
    struct ctl_token tok;       /* the caller, after auth */
    json_t *json;               /* parsed body, owned, or NULL */
    struct api_req *next;       /* write queue link, under a->mtx */
    /* R_EXT only: */
    const struct ctl_api_route *ext;
    void *ext_arg;
    char ext_param[CTL_API_PARAMS][RP_KEY_MAX + 2];
    char ext_qv[CTL_API_QUERY_MAX][API_PARAM_MAX];
    bool ext_qset[CTL_API_QUERY_MAX];
};

/* What api_req is to an extension. */
struct ctl_api_call {
    struct api_req r;
};

struct ctl_api {
    struct rp_httpd *srv;      /* owned */
    struct ctl_store *st;      /* borrowed */
    struct ctl_pub *pub;       /* borrowed */
    struct ctl_events *events; /* borrowed, may be NULL */
    size_t queue_max;
    pthread_mutex_t mtx;
    pthread_cond_t cv;           /* queue, closing */
    struct api_req *head, *tail; /* write queue, under mtx */
    size_t queued;               /* under mtx */
    bool closing;                /* under mtx */
    pthread_t writer;
    struct ctl_api_ext ext[CTL_API_EXT_MAX]; /* copied from the opts */
    size_t next;
};

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ */
/* Responses                                                           */
/* ------------------------------------------------------------------ */

/* A response with j (consumed, may be NULL for no body) as its body. */
static nng_http_res *
res_json(uint16_t status, json_t *j)
{
    return rp_httpd_res_json(status, j);
}

static const char *
err_code(uint16_t status)
{
    switch (status) {
    case 400:
        return "invalid";
    case 401:
        return "unauthenticated";
    case 403:
        return "forbidden";
    case 404:
        return "not_found";
    case 405:
        return "method_not_allowed";
    case 409:
        return "conflict";
    case 411:
    case 415:
        return "unsupported";
    case 412:
        return "precondition_failed";
    case 413:
        return "too_large";
    case 503:
        return "unavailable";
    default:
        return "internal";
    }
}

static nng_http_res *res_error(uint16_t status, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * {"error": {"status", "code", "message", "field"?}}. field NULL leaves
 * it out; "" names the document itself (malformed JSON, not an object).
 */
static nng_http_res *
res_error(uint16_t status, const char *field, const char *fmt, ...)
{
    char msg[512];
    json_t *e, *top;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e = json_pack("{s:i, s:s, s:s}", "status", (int) status, "code",
        err_code(status), "message", msg);
    if (e != NULL && field != NULL) {
        json_object_set_new(e, "field", json_string(field));
    }
    top = e != NULL ? json_pack("{s:o}", "error", e) : NULL;
    return res_json(status, top);
}

/* The flag as JSON with its ETag; NULL on ENOMEM. */
static nng_http_res *
res_flag(uint16_t status, const struct rp_flag *f)
{
    char etag[32];
    nng_http_res *res = res_json(status, rp_flag_to_json(f));

    if (res != NULL) {
        snprintf(
            etag, sizeof(etag), "\"%llu\"", (unsigned long long) f->version);
        if (nng_http_res_set_header(res, "ETag", etag) != 0) {
            nng_http_res_free(res);
            res = NULL;
        }
    }
    return res;
}

/* Map a store error that the route did not handle itself. */
static nng_http_res *
res_store_err(ramp_err rv, const char *what)
{
    switch (rv) {
    case RAMP_EINVAL:
        return res_error(400, NULL, "%s: %s", what, ramp_strerror(rv));
    case RAMP_ENOTFOUND:
        return res_error(404, NULL, "%s: not found", what);
    case RAMP_ECONFLICT:
    case RAMP_EEXIST:
        return res_error(409, NULL, "%s: %s", what, ramp_strerror(rv));
    case RAMP_ETOOBIG:
        return res_error(413, NULL, "%s: size limit exceeded", what);
    case RAMP_ENOMEM:
        return res_error(503, NULL, "%s: out of memory", what);
    default:
        RAMP_LOG(RP_LOG_ERR, "RAMP-API-STORE-FAIL", "what=%s err=%s", what,
            ramp_errname(rv));
        return res_error(500, NULL, "%s: %s", what, ramp_strerror(rv));
    }
}

static void
req_finish(struct api_req *r, nng_http_res *res)
{
    rp_httpd_finish(&r->base, res);
}

/* ------------------------------------------------------------------ */
/* Request parsing                                                     */
/* ------------------------------------------------------------------ */

static enum api_method
method_of(const char *m)
{
    if (strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0) {
        return M_GET;
    }
    if (strcmp(m, "POST") == 0) {
        return M_POST;
    }
    if (strcmp(m, "PUT") == 0) {
        return M_PUT;
    }
    if (strcmp(m, "PATCH") == 0) {
        return M_PATCH;
    }
    if (strcmp(m, "DELETE") == 0) {
        return M_DELETE;
    }
    return M_OTHER;
}

/* Copy one path segment (up to '/' or the end) into out; false if it
 * is empty or too long. */
static bool
take_segment(const char **pp, char *out, size_t outsz)
{
    const char *p = *pp;
    size_t n = strcspn(p, "/");

    if (n == 0 || n >= outsz) {
        return false;
    }
    memcpy(out, p, n);
    out[n] = '\0';
    *pp = p + n;
    return true;
}

/* Does path match pattern ("{}" = one segment)? Fills the segments. */
static bool
ext_path_match(const char *pat, const char *path,
    char (*params)[RP_KEY_MAX + 2])
{
    unsigned np = 0;

    while (*pat != '\0') {
        if (pat[0] == '{' && pat[1] == '}') {
            if (np >= CTL_API_PARAMS ||
                !take_segment(&path, params[np], sizeof(params[np]))) {
                return false;
            }
            np++;
            pat += 2;
            continue;
        }
        if (*pat != *path) {
            return false;
        }
        pat++;
        path++;
    }
    return *path == '\0';
}

/* The first extension route whose path matches. */
static bool
ext_match(struct api_req *r, const char *path)
{
    const struct ctl_api *a = r->a;

    for (size_t t = 0; t < a->next; t++) {
        for (size_t i = 0; i < a->ext[t].nroutes; i++) {
            const struct ctl_api_route *rt = &a->ext[t].routes[i];

            if (ext_path_match(rt->path, path, r->ext_param)) {
                r->route = R_EXT;
                r->ext = rt;
                r->ext_arg = a->ext[t].arg;
                return true;
            }
        }
    }
    return false;
}

static unsigned
method_bit(enum api_method m)
{
    switch (m) {
    case M_GET:
        return CTL_API_METHOD_GET;
    case M_POST:
        return CTL_API_METHOD_POST;
    case M_PUT:
        return CTL_API_METHOD_PUT;
    case M_PATCH:
        return CTL_API_METHOD_PATCH;
    case M_DELETE:
        return CTL_API_METHOD_DELETE;
    default:
        return 0;
    }
}

/* The Allow header of an extension route. */
static void
ext_allow(const struct ctl_api_route *rt, char *out, size_t outsz)
{
    static const char *const names[] = {
        "GET, HEAD", "POST", "PUT", "PATCH", "DELETE"};
    size_t o = 0;

    out[0] = '\0';
    for (unsigned i = 0; i < 5; i++) {
        if ((rt->methods & (1u << i)) != 0 && o < outsz) {
            o += (size_t) snprintf(
                out + o, outsz - o, "%s%s", o > 0 ? ", " : "", names[i]);
        }
    }
}

/* Route path (no query) to r->route and r->param; false: no route. */
static bool
route_match(struct api_req *r, const char *path)
{
    static const char flags[] = "/api/v1/flags";
    static const char tokens[] = "/api/v1/tokens";
    const char *p;

    if (strcmp(path, "/healthz") == 0) {
        r->route = R_HEALTHZ;
        return true;
    }
    if (strcmp(path, "/api/v1/audit") == 0) {
        r->route = R_AUDIT;
        return true;
    }
    if (strcmp(path, flags) == 0) {
        r->route = R_FLAGS;
        return true;
    }
    if (strcmp(path, tokens) == 0) {
        r->route = R_TOKENS;
        return true;
    }
    if (strncmp(path, flags, sizeof(flags) - 1) == 0 &&
        path[sizeof(flags) - 1] == '/') {
        p = path + sizeof(flags);
        if (!take_segment(&p, r->param, sizeof(r->param))) {
            return false;
        }
        if (*p == '\0') {
            r->route = R_FLAG;
            return true;
        }
        if (strcmp(p, "/enable") == 0) {
            r->route = R_FLAG_ENABLE;
            return true;
        }
        if (strcmp(p, "/disable") == 0) {
            r->route = R_FLAG_DISABLE;
            return true;
        }
        return false;
    }
    if (strncmp(path, tokens, sizeof(tokens) - 1) == 0 &&
        path[sizeof(tokens) - 1] == '/') {
        p = path + sizeof(tokens);
        if (take_segment(&p, r->param, sizeof(r->param)) && *p == '\0') {
            r->route = R_TOKEN;
            return true;
        }
    }
    return ext_match(r, path);
}

/* The methods a route takes, for 405's Allow header; and the role each
 * needs (-1: none). */
static const char *
route_allow(enum api_route rt)
{
    switch (rt) {
    case R_HEALTHZ:
    case R_AUDIT:
        return "GET, HEAD";
    case R_FLAGS:
    case R_TOKENS:
        return "GET, HEAD, POST";
    case R_FLAG:
        return "GET, HEAD, PUT, PATCH, DELETE";
    case R_FLAG_ENABLE:
    case R_FLAG_DISABLE:
        return "POST";
    case R_TOKEN:
        return "DELETE";
    default:
        return "";
    }
}

static bool
route_allows(const struct api_req *r, enum api_route rt, enum api_method m)
{
    switch (rt) {
    case R_EXT:
        return (r->ext->methods & method_bit(m)) != 0;
    case R_HEALTHZ:
    case R_AUDIT:
        return m == M_GET;
    case R_FLAGS:
    case R_TOKENS:
        return m == M_GET || m == M_POST;
    case R_FLAG:
        return m == M_GET || m == M_PUT || m == M_PATCH || m == M_DELETE;
    case R_FLAG_ENABLE:
    case R_FLAG_DISABLE:
        return m == M_POST;
    case R_TOKEN:
        return m == M_DELETE;
    default:
        return false;
    }
}

static int
route_role(const struct api_req *r, enum api_route rt, enum api_method m)
{
    switch (rt) {
    case R_EXT:
        return m == M_GET ? r->ext->read_role : r->ext->write_role;
    case R_HEALTHZ:
        return -1;
    case R_TOKENS:
    case R_TOKEN:
        return CTL_ROLE_ADMIN;
    default:
        return m == M_GET ? CTL_ROLE_VIEWER : CTL_ROLE_OPERATOR;
    }
}

static bool
route_is_write(enum api_route rt, enum api_method m)
{
    return rt != R_HEALTHZ && m != M_GET;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Percent-decode s[0..n) ('+' is a space in a query) into out. */
static bool
url_decode(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char) s[i];

        if (c == '%') {
            int h, l;

            if (i + 2 >= n) {
                return false;
            }
            h = hexval((unsigned char) s[i + 1]);
            l = hexval((unsigned char) s[i + 2]);
            if (h < 0 || l < 0) {
                return false;
            }
            c = h * 16 + l;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == 0 || o + 1 >= outsz) {
            return false;
        }
        out[o++] = (char) c;
    }
    out[o] = '\0';
    return true;
}

/*
 * Query parameters: names[i] (NULL-terminated list) receive vals[i]
 * (API_PARAM_MAX each), set[i] says present. An unknown or repeated
 * name, or a value that does not decode, is a 400 naming it.
 */
static nng_http_res *
query_parse(const char *q, const char *const *names,
    char (*vals)[API_PARAM_MAX], bool *set)
{
    while (*q != '\0') {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        size_t kn = eq != NULL ? (size_t) (eq - q) : n;
        char key[64];
        size_t i;

        if (n == 0) {
            q++;
            continue;
        }
        if (!url_decode(q, kn, key, sizeof(key))) {
            return res_error(400, "", "bad query parameter name");
        }
        for (i = 0; names[i] != NULL; i++) {
            if (strcmp(names[i], key) == 0) {
                break;
            }
        }
        if (names[i] == NULL) {
            return res_error(400, key, "unknown query parameter");
        }
        if (set[i]) {
            return res_error(400, key, "query parameter given twice");
        }
        if (!url_decode(eq != NULL ? eq + 1 : q + n,
                eq != NULL ? n - kn - 1 : 0, vals[i], API_PARAM_MAX)) {
            return res_error(400, key, "query value does not decode");
        }
        set[i] = true;
        q += n;
        if (*q == '&') {
            q++;
        }
    }
    return NULL;
}

/* An integer query value in [min, max]. */
static bool
param_int(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0') {
        return false;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) {
            return false;
        }
        v = v * 10 + (uint64_t) (*s - '0');
    }
    if (v < min || v > max) {
        return false;
    }
    *out = v;
    return true;
}

/* If-Match: absent, "*", or exactly one strong tag "N" (N >= 1). */
static nng_http_res *
cond_parse(struct api_req *r, enum api_cond *c, uint64_t *version)
{
    const char *h = nng_http_req_get_header(r->base.req, "If-Match");
    char num[24];
    size_t n;

    *c = C_NONE;
    *version = 0;
    if (h == NULL) {
        return NULL;
    }
    while (*h == ' ' || *h == '\t') {
        h++;
    }
    n = strlen(h);
    while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t')) {
        n--;
    }
    if (n == 1 && h[0] == '*') {
        *c = C_ANY;
        return NULL;
    }
    if (n < 3 || n - 2 >= sizeof(num) || h[0] != '"' || h[n - 1] != '"') {
        return res_error(400, "If-Match",
            "If-Match must be \"*\" or one strong ETag such as \"7\"");
    }
    memcpy(num, h + 1, n - 2);
    num[n - 2] = '\0';
    if (!param_int(num, 1, UINT64_MAX / 2, version)) {
        return res_error(400, "If-Match",
            "If-Match must be \"*\" or one strong ETag such as \"7\"");
    }
    *c = C_VERSION;
    return NULL;
}

/* Media type of Content-Type, without parameters, is one of want[]. */
static bool
ctype_is(const char *h, const char *const *want)
{
    size_t n;

    if (h == NULL) {
        return false;
    }
    while (*h == ' ') {
        h++;
    }
    n = strcspn(h, ";");
    while (n > 0 && h[n - 1] == ' ') {
        n--;
    }
    for (size_t i = 0; want[i] != NULL; i++) {
        if (strlen(want[i]) == n && strncasecmp(h, want[i], n) == 0) {
            return true;
        }
    }
    return false;
}

/* Parse the body as JSON; 415 for another media type, 400 with field
 * "" for malformed JSON or a non-object. */
static nng_http_res *
body_json(struct api_req *r, bool merge_patch)
{
    static const char *const json_only[] = {"application/json", NULL};
    static const char *const json_patch[] = {
        "application/merge-patch+json", "application/json", NULL};
    json_error_t err;

    if (!ctype_is(nng_http_req_get_header(r->base.req, "Content-Type"),
            merge_patch ? json_patch : json_only)) {
        return res_error(415, NULL, "Content-Type must be %s",
            merge_patch ? "application/merge-patch+json or application/json"
                        : "application/json");
    }
    if (r->base.body_len == 0) {
        return res_error(400, "", "a JSON body is required");
    }
    r->json = json_loadb(
        (const char *) r->base.body, r->base.body_len, JSON_REJECT_DUPLICATES, &err);
    if (r->json == NULL) {
        return res_error(400, "", "malformed JSON at line %d column %d: %s",
            err.line, err.column, err.text);
    }
    if (!json_is_object(r->json)) {
        return res_error(400, "", "the body must be a JSON object");
    }
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Reads                                                               */
/* ------------------------------------------------------------------ */

static nng_http_res *
do_healthz(struct api_req *r)
{
    uint64_t seq = 0;
    ramp_err rv = ctl_store_seq(r->a->st, &seq);

    if (rv != RAMP_OK) {
        return res_error(503, NULL, "store: %s", ramp_strerror(rv));
    }
    return res_json(
        200, json_pack("{s:s, s:I}", "status", "ok", "seq", (json_int_t) seq));
}

static nng_http_res *
do_flag_list(struct api_req *r)
{
    static const char *const names[] = {"prefix", "after", "limit", NULL};
    char vals[3][API_PARAM_MAX] = {{0}};
    bool set[3] = {false};
    struct ctl_flag_list l;
    uint64_t limit = CTL_LIST_DEFAULT;
    nng_http_res *res;
    json_t *arr, *top;
    ramp_err rv;

    res = query_parse(r->query, names, vals, set);
    if (res != NULL) {
        return res;
    }
    if (set[2] && !param_int(vals[2], 1, CTL_LIST_MAX, &limit)) {
        return res_error(
            400, "limit", "limit must be an integer 1..%d", CTL_LIST_MAX);
    }
    rv = ctl_store_flag_list(r->a->st, set[0] ? vals[0] : NULL,
        set[1] ? vals[1] : NULL, (size_t) limit, &l);
    if (rv != RAMP_OK) {
        return res_store_err(rv, "list flags");
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < l.n; i++) {
        if (json_array_append_new(arr, rp_flag_to_json(l.flags[i])) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    top = arr != NULL
              ? json_pack("{s:o, s:o}", "flags", arr, "next",
                    l.more && l.n > 0 ? json_string(l.flags[l.n - 1]->key)
                                      : json_null())
              : NULL;
    ctl_store_flag_list_fini(&l);
    return top != NULL ? res_json(200, top)
                       : res_error(503, NULL, "out of memory");
}

static nng_http_res *
do_flag_get(struct api_req *r)
{
    struct rp_flag *f = NULL;
    const char *inm = nng_http_req_get_header(r->base.req, "If-None-Match");
    nng_http_res *res;
    ramp_err rv;

    rv = ctl_store_flag_get(r->a->st, r->param, &f);
    if (rv == RAMP_ENOTFOUND) {
        return res_error(404, NULL, "no flag '%s'", r->param);
    }
    if (rv != RAMP_OK) {
        return res_store_err(rv, "get flag");
    }
    if (inm != NULL) {
        char etag[32];

        snprintf(
            etag, sizeof(etag), "\"%llu\"", (unsigned long long) f->version);
        if (strcmp(inm, etag) == 0 || strcmp(inm, "*") == 0) {
            res = res_json(304, NULL);
            if (res != NULL) {
                (void) nng_http_res_set_header(res, "ETag", etag);
            }
            rp_flag_free(f);
            return res;
        }
    }
    res = res_flag(200, f);
    rp_flag_free(f);
    return res;
}

/* The JSON of an audited object: flags and rollouts decode, webhooks and
 * analysis are kept as JSON (without secrets), a seq jump is {"seq": N};
 * the store's internal records (tokens, agents, keys) are not shown. */
static json_t *
audit_obj(const char *action, const uint8_t *p, size_t n)
{
    json_t *j = NULL;

    if (p == NULL) {
        return json_null();
    }
    if (strncmp(action, "flag.", 5) == 0) {
        struct rp_flag *f = NULL;

        if (rp_flag_decode(p, n, &f) == RAMP_OK) {
            j = rp_flag_to_json(f);
            rp_flag_free(f);
        }
    } else if (strncmp(action, "rollout.", 8) == 0) {
        struct rp_rollout *ro = NULL;

        if (rp_rollout_decode(p, n, &ro) == RAMP_OK) {
            j = rp_rollout_to_json(ro);
            rp_rollout_free(ro);
        }    } else if (strncmp(action, "webhook.", 8) == 0 ||
        strncmp(action, "analysis.", 9) == 0) {
        j = json_loadb((const char *) p, n, JSON_REJECT_DUPLICATES, NULL);
    } else if (strcmp(action, "store.seq_jump") == 0) {
        msgpack_unpacked u;

        if (rp_mp_unpack(p, n, 64, &u) == RAMP_OK) {
            if (u.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                j = json_pack("{s:I}", "seq", (json_int_t) u.data.via.u64);
            }
            rp_mp_done(&u);
        }
    }
    return j != NULL ? j : json_null();
}

static nng_http_res *
do_audit(struct api_req *r)
{
    static const char *const names[] = {"flag", "before", "limit", NULL};
    char vals[3][API_PARAM_MAX] = {{0}};
    bool set[3] = {false};
    struct ctl_audit_list l;
    uint64_t limit = CTL_LIST_DEFAULT, before = 0;
    nng_http_res *res;
    json_t *arr, *top;
    ramp_err rv;

    res = query_parse(r->query, names, vals, set);
    if (res != NULL) {
        return res;
    }
    if (set[0] && !rp_flag_key_valid(vals[0], strlen(vals[0]))) {
        return res_error(400, "flag", "not a flag key");
    }
    if (set[1] && !param_int(vals[1], 1, UINT64_MAX / 2, &before)) {
        return res_error(400, "before", "before must be an audit id >= 1");
    }
    if (set[2] && !param_int(vals[2], 1, CTL_LIST_MAX, &limit)) {
        return res_error(
            400, "limit", "limit must be an integer 1..%d", CTL_LIST_MAX);
    }
    rv = ctl_store_audit_list(
        r->a->st, before, true, set[0] ? vals[0] : NULL, (size_t) limit, &l);
    if (rv != RAMP_OK) {
        return res_store_err(rv, "audit");
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < l.n; i++) {
        const struct ctl_audit *e = &l.recs[i];
        char at[RP_JSON_TIME_MAX];
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:I, s:o, s:o}", "id",
            (json_int_t) e->id, "at", rp_json_time(e->ts_ms, at), "actor",
            e->actor, "action", e->action, "target", e->target, "seq",
            (json_int_t) e->seq, "before",
            audit_obj(e->action, e->before, e->before_len), "after",
            audit_obj(e->action, e->after, e->after_len));

        if (json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    top = arr != NULL ? json_pack("{s:o, s:o}", "entries", arr, "next",
                            l.next_cursor != 0
                                ? json_integer((json_int_t) l.next_cursor)
                                : json_null())
                      : NULL;
    ctl_store_audit_list_fini(&l);
    return top != NULL ? res_json(200, top)
                       : res_error(503, NULL, "out of memory");
}

static nng_http_res *
do_token_list(struct api_req *r)
{
    struct ctl_token *t = NULL;
    size_t n = 0;
    json_t *arr;
    ramp_err rv;

    rv = ctl_store_token_list(r->a->st, &t, &n);
    if (rv != RAMP_OK) {
        return res_store_err(rv, "list tokens");
    }
    arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
        char at[RP_JSON_TIME_MAX];

        if (json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:b}", "name", t[i].name,
                         "role", ctl_role_name(t[i].role), "created_at",
                         rp_json_time(t[i].created_at_ms, at), "revoked",
                         t[i].revoked)) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    rp_free(t);
    if (arr == NULL) {
        return res_error(503, NULL, "out of memory");
    }
    return res_json(200, json_pack("{s:o}", "tokens", arr));
}

/* ------------------------------------------------------------------ */
/* Writes (writer thread)                                              */
/* ------------------------------------------------------------------ */

struct put_arg {
    struct rp_flag *f;
    uint64_t expect;
    const char *actor;
    const char *key; /* delete */
};

static ramp_err
change_put(void *arg, struct ctl_store *st, const struct rp_keypair *kp,
    struct rp_buf *env)
{
    struct put_arg *p = arg;

    return ctl_store_flag_put(
        st, kp, p->f, p->expect, p->actor, now_ms(), NULL, env);
}

static ramp_err
change_delete(void *arg, struct ctl_store *st, const struct rp_keypair *kp,
    struct rp_buf *env)
{
    struct put_arg *p = arg;

    return ctl_store_flag_delete(
        st, kp, p->key, p->expect, p->actor, now_ms(), NULL, env);
}

/* Decode a flag body; 400 naming the field. */
static nng_http_res *
flag_decode(const json_t *j, struct rp_flag **f)
{
    char field[RP_JSON_FIELD_MAX];
    ramp_err rv;

    rv = rp_flag_from_json(j, f, field, sizeof(field));
    if (rv == RAMP_EINVAL) {
        return res_error(400, field, "invalid flag: field '%s'",
            field[0] != '\0' ? field : "(document)");
    }
    if (rv != RAMP_OK) {
        return res_error(503, NULL, "decode flag: %s", ramp_strerror(rv));
    }
    return NULL;
}

/* Tell webhooks a flag changed (after the commit; never waits). */
static void
flag_event(struct api_req *r, const char *key, uint64_t version,
    const char *what)
{
    struct ctl_event e = {.kind = CTL_EV_FLAG_CHANGED,
        .flag = key,
        .actor = r->tok.name,
        .reason = what,
        .ts_ms = now_ms(),
        .flag_version = version};

    ctl_events_emit(r->a->events, &e);
}

/* Commit f with expect; map the result (409 or 412 on a conflict). */
static nng_http_res *
flag_commit(struct api_req *r, struct rp_flag *f, uint64_t expect,
    enum api_cond cond, uint16_t ok_status)
{
    struct put_arg p = {f, expect, r->tok.name, NULL};
    ramp_err rv = ctl_pub_change(r->a->pub, change_put, &p);

    if (rv == RAMP_OK) {
        RAMP_LOG(RP_LOG_INFO, "RAMP-API-FLAG-PUT",
            "key=%s version=%llu actor=%s", f->key,
            (unsigned long long) f->version, r->tok.name);
        flag_event(r, f->key, f->version,
            ok_status == 201 ? "created" : "updated");
        return res_flag(ok_status, f);
    }
    if (rv == RAMP_ECONFLICT && expect == 0) {
        return res_error(409, "key", "flag '%s' exists", f->key);
    }
    if (rv == RAMP_ECONFLICT) {
        return res_error(cond == C_VERSION ? 412 : 409, NULL,
            "flag '%s' changed meanwhile", f->key);
    }
    if (rv == RAMP_EINVAL) {
        return res_error(400, NULL, "invalid flag");
    }
    return res_store_err(rv, "write flag");
}

static nng_http_res *
do_flag_create(struct api_req *r)
{
    struct rp_flag *f = NULL;
    nng_http_res *res;

    res = flag_decode(r->json, &f);
    if (res != NULL) {
        return res;
    }
    res = flag_commit(r, f, 0, C_NONE, 201);
    if (res != NULL && nng_http_res_get_status(res) == 201) {
        char loc[RP_KEY_MAX + 32];

        snprintf(loc, sizeof(loc), "/api/v1/flags/%s", f->key);
        (void) nng_http_res_set_header(res, "Location", loc);
    }
    rp_flag_free(f);
    return res;
}

/*
 * The precondition of a write to an existing flag: If-Match against the
 * current version (412), else a "version" member in the body that is not
 * the current one (409: the client edited a stale copy).
 */
static nng_http_res *
flag_precondition(const struct rp_flag *cur, enum api_cond cond, uint64_t want,
    const json_t *doc)
{
    json_t *v;

    if (cond == C_VERSION && want != cur->version) {
        return res_error(412, NULL, "flag '%s' is at version %llu, not %llu",
            cur->key, (unsigned long long) cur->version,
            (unsigned long long) want);
    }
    if (cond == C_NONE && doc != NULL &&
        (v = json_object_get(doc, "version")) != NULL && json_is_integer(v) &&
        (uint64_t) json_integer_value(v) != cur->version) {
        return res_error(409, "version",
            "flag '%s' is at version %llu, the body has %lld", cur->key,
            (unsigned long long) cur->version,
            (long long) json_integer_value(v));
    }
    return NULL;
}

/* Read the flag a write applies to: 404 if missing. */
static nng_http_res *
flag_current(struct api_req *r, struct rp_flag **cur)
{
    ramp_err rv = ctl_store_flag_get(r->a->st, r->param, cur);

    if (rv == RAMP_ENOTFOUND) {
        return res_error(404, NULL, "no flag '%s'", r->param);
    }
    if (rv != RAMP_OK) {
        return res_store_err(rv, "get flag");
    }
    return NULL;
}

static nng_http_res *
do_flag_replace(struct api_req *r, bool patch)
{
    struct rp_flag *cur = NULL, *f = NULL;
    json_t *doc = NULL, *k;
    enum api_cond cond;
    uint64_t want;
    nng_http_res *res;

    res = cond_parse(r, &cond, &want);
    if (res != NULL) {
        return res;
    }
    res = flag_current(r, &cur);
    if (res != NULL) {
        return res;
    }
    if (patch) {
        json_t *curj = rp_flag_to_json(cur);

        doc = curj != NULL ? rp_json_merge_patch(curj, r->json) : NULL;
        json_decref(curj);
        if (doc == NULL) {
            res = res_error(503, NULL, "out of memory");
            goto out;
        }
    } else {
        doc = json_incref(r->json);
    }
    /* The key is the URL's: a body may omit it, never change it. */
    k = json_object_get(doc, "key");
    if (k == NULL && !patch) {
        json_object_set_new(doc, "key", json_string(r->param));
    } else if (k != NULL && (!json_is_string(k) ||
                                strcmp(json_string_value(k), r->param) != 0)) {
        res = res_error(
            400, "key", "the body's key is not the URL's '%s'", r->param);
        goto out;
    }
    res = flag_precondition(cur, cond, want, patch ? r->json : doc);
    if (res != NULL) {
        goto out;
    }
    res = flag_decode(doc, &f);
    if (res != NULL) {
        goto out;
    }
    res = flag_commit(r, f, cur->version, cond, 200);

out:
    json_decref(doc);
    rp_flag_free(cur);
    rp_flag_free(f);
    return res;
}

static nng_http_res *
do_flag_delete(struct api_req *r)
{
    struct rp_flag *cur = NULL;
    struct put_arg p = {NULL, 0, r->tok.name, r->param};
    enum api_cond cond;
    uint64_t want;
    nng_http_res *res;
    ramp_err rv;

    res = cond_parse(r, &cond, &want);
    if (res != NULL) {
        return res;
    }
    res = flag_current(r, &cur);
    if (res != NULL) {
        return res;
    }
    res = flag_precondition(cur, cond, want, NULL);
    if (res != NULL) {
        rp_flag_free(cur);
        return res;
    }
    p.expect = cur->version;
    rp_flag_free(cur);
    rv = ctl_pub_change(r->a->pub, change_delete, &p);
    if (rv == RAMP_OK) {
        RAMP_LOG(RP_LOG_INFO, "RAMP-API-FLAG-DELETE", "key=%s actor=%s",
            r->param, r->tok.name);
        flag_event(r, r->param, p.expect, "deleted");
        return res_json(204, NULL);
    }
    if (rv == RAMP_ECONFLICT) {
        return res_error(cond == C_VERSION ? 412 : 409, NULL,
            "flag '%s' changed meanwhile", r->param);
    }
    if (rv == RAMP_ENOTFOUND) {
        return res_error(404, NULL, "no flag '%s'", r->param);
    }
    return res_store_err(rv, "delete flag");
}

static nng_http_res *
do_flag_switch(struct api_req *r, bool enable)
{
    struct rp_flag *cur = NULL;
    enum api_cond cond;
    uint64_t want;
    nng_http_res *res;

    res = cond_parse(r, &cond, &want);
    if (res != NULL) {
        return res;
    }
    res = flag_current(r, &cur);
    if (res != NULL) {
        return res;
    }
    res = flag_precondition(cur, cond, want, NULL);
    if (res == NULL && cur->enabled == enable) {
        /* Already so: answer the flag as it is, change nothing. */
        res = res_flag(200, cur);
    } else if (res == NULL) {
        cur->enabled = enable;
        res = flag_commit(r, cur, cur->version, cond, 200);
    }
    rp_flag_free(cur);
    return res;
}

static nng_http_res *
do_token_create(struct api_req *r)
{
    const char *name = NULL, *role = NULL, *k;
    json_t *v;
    enum ctl_role rl;
    char tok[CTL_TOKEN_STRLEN];
    nng_http_res *res;
    ramp_err rv;

    json_object_foreach(r->json, k, v)
    {
        if (strcmp(k, "name") == 0 && json_is_string(v)) {
            name = json_string_value(v);
        } else if (strcmp(k, "role") == 0 && json_is_string(v)) {
            role = json_string_value(v);
        } else {
            return res_error(400, k,
                strcmp(k, "name") == 0 || strcmp(k, "role") == 0
                    ? "must be a string"
                    : "unknown member");
        }
    }
    if (name == NULL) {
        return res_error(400, "name", "required");
    }
    if (role == NULL) {
        return res_error(400, "role", "required");
    }
    if (ctl_role_parse(role, &rl) != RAMP_OK) {
        return res_error(400, "role", "must be admin, operator or viewer");
    }
    rv = ctl_store_token_create(r->a->st, name, rl, r->tok.name, now_ms(), tok);
    if (rv == RAMP_EINVAL) {
        return res_error(400, "name", "must match [A-Za-z0-9_.-]{1,64}");
    }
    if (rv == RAMP_EEXIST) {
        return res_error(409, "name", "a live token named '%s' exists", name);
    }
    if (rv != RAMP_OK) {
        return res_store_err(rv, "create token");
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-API-TOKEN-CREATE", "name=%s role=%s actor=%s",
        name, ctl_role_name(rl), r->tok.name);
    res = res_json(201, json_pack("{s:s, s:s, s:s}", "name", name, "role",
                            ctl_role_name(rl), "token", tok));
    sodium_memzero(tok, sizeof(tok));
    return res;
}

static nng_http_res *
do_token_revoke(struct api_req *r)
{
    ramp_err rv;

    rv = ctl_store_token_revoke(r->a->st, r->param, r->tok.name, now_ms());
    if (rv == RAMP_ENOTFOUND) {
        return res_error(404, NULL, "no live token '%s'", r->param);
    }
    if (rv != RAMP_OK) {
        return res_store_err(rv, "revoke token");
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-API-TOKEN-REVOKE", "name=%s actor=%s", r->param,
        r->tok.name);
    return res_json(204, NULL);
}

static nng_http_res *
api_write(struct api_req *r)
{
    switch (r->route) {
    case R_FLAGS:
        return do_flag_create(r);
    case R_FLAG:
        if (r->method == M_DELETE) {
            return do_flag_delete(r);
        }
        return do_flag_replace(r, r->method == M_PATCH);
    case R_FLAG_ENABLE:
        return do_flag_switch(r, true);
    case R_FLAG_DISABLE:
        return do_flag_switch(r, false);
    case R_TOKENS:
        return do_token_create(r);
    case R_TOKEN:
        return do_token_revoke(r);
    case R_EXT:
        return r->ext->fn((struct ctl_api_call *) r, r->ext_arg);
    default:
        return res_error(500, NULL, "no writer for this route");
    }
}

static void *
api_writer_main(void *arg)
{
    struct ctl_api *a = arg;

    pthread_mutex_lock(&a->mtx);
    for (;;) {
        struct api_req *r;

        while (a->head == NULL && !a->closing) {
            pthread_cond_wait(&a->cv, &a->mtx);
        }
        r = a->head;
        if (r == NULL) {
            break; /* closing and drained */
        }
        a->head = r->next;
        if (a->head == NULL) {
            a->tail = NULL;
        }
        a->queued--;
        if (a->closing) {
            pthread_mutex_unlock(&a->mtx);
            req_finish(r, res_error(503, NULL, "shutting down"));
        } else {
            pthread_mutex_unlock(&a->mtx);
            req_finish(r, api_write(r));
        }
        pthread_mutex_lock(&a->mtx);
    }
    pthread_mutex_unlock(&a->mtx);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static nng_http_res *
api_auth(struct api_req *r)
{
    const char *h = nng_http_req_get_header(r->base.req, "Authorization");
    int need = route_role(r, r->route, r->method);
    nng_http_res *res;
    ramp_err rv;

    if (need < 0) {
        return NULL;
    }
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
        res = res_error(401, NULL, "a bearer token is required");
        goto unauth;
    }
    h += 7;
    while (*h == ' ') {
        h++;
    }
    rv = ctl_store_token_lookup(r->a->st, h, &r->tok);
    if (rv == RAMP_ENOTFOUND || rv == RAMP_EINVAL) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-API-AUTH-FAIL", "why=unknown");
        res = res_error(401, NULL, "unknown token");
        goto unauth;
    }
    if (rv == RAMP_EPERM) {
        RAMP_LOG(RP_LOG_NOTICE, "RAMP-API-AUTH-FAIL", "why=revoked name=%s",
            r->tok.name);
        res = res_error(401, NULL, "token revoked");
        goto unauth;
    }
    if (rv != RAMP_OK) {
        return res_store_err(rv, "token lookup");
    }
    if ((int) r->tok.role < need) {
        return res_error(403, NULL, "role %s may not do this (needs %s)",
            ctl_role_name(r->tok.role), ctl_role_name((enum ctl_role) need));
    }
    return NULL;

unauth:
    if (res != NULL) {
        (void) nng_http_res_set_header(res, "WWW-Authenticate", "Bearer");
    }
    return res;
}

/* Routes without a body of their own take none, or the empty object. */
static nng_http_res *
body_none(struct api_req *r)
{
    nng_http_res *res;
    const char *k;
    json_t *v;

    if (r->base.body_len == 0) {
        return NULL;
    }
    res = body_json(r, false);
    if (res != NULL) {
        return res;
    }
    json_object_foreach(r->json, k, v)
    {
        (void) v;
        return res_error(400, k, "unknown member: this route takes no body");
    }
    return NULL;
}

/* The query and body checks of an extension route. */
static nng_http_res *
ext_check(struct api_req *r)
{
    const struct ctl_api_route *rt = r->ext;
    nng_http_res *res;

    if (r->query[0] != '\0') {
        res = query_parse(r->query, rt->query, r->ext_qv, r->ext_qset);
        if (res != NULL) {
            return res;
        }
    }
    if (r->method == M_GET || r->method == M_DELETE) {
        return NULL;
    }
    switch (rt->body) {
    case CTL_BODY_REQUIRED:
        return body_json(r, r->method == M_PATCH);
    case CTL_BODY_OPTIONAL:
        return r->base.body_len == 0 ? NULL : body_json(r, false);
    default:
        return body_none(r);
    }
}

/* Check everything that needs no store write; NULL: go on. */
static nng_http_res *
api_check(struct api_req *r)
{
    const char *uri = nng_http_req_get_uri(r->base.req);
    char path[API_URI_MAX];
    const char *q;
    size_t n;
    nng_http_res *res;

    if (strlen(uri) >= API_URI_MAX) {
        return res_error(404, NULL, "request target too long");
    }
    q = strchr(uri, '?');
    n = q != NULL ? (size_t) (q - uri) : strlen(uri);
    memcpy(path, uri, n);
    path[n] = '\0';
    snprintf(r->query, sizeof(r->query), "%s", q != NULL ? q + 1 : "");
    r->method = method_of(nng_http_req_get_method(r->base.req));
    if (!route_match(r, path)) {
        return res_error(404, NULL, "no such route");
    }
    if (!route_allows(r, r->route, r->method)) {
        char allow[64];

        res = res_error(405, NULL, "method %s not allowed here",
            nng_http_req_get_method(r->base.req));
        if (r->route == R_EXT) {
            ext_allow(r->ext, allow, sizeof(allow));
        } else {
            snprintf(allow, sizeof(allow), "%s", route_allow(r->route));
        }
        if (res != NULL) {
            (void) nng_http_res_set_header(res, "Allow", allow);
        }
        return res;
    }
    res = api_auth(r);
    if (res != NULL) {
        return res;
    }
    if ((r->route == R_FLAG || r->route == R_FLAG_ENABLE ||
            r->route == R_FLAG_DISABLE) &&
        !rp_flag_key_valid(r->param, strlen(r->param))) {
        return res_error(
            400, "key", "not a flag key: [a-z0-9][a-z0-9._-]{0,127}");
    }
    if (r->route == R_EXT) {
        return ext_check(r);
    }
    if (r->route != R_FLAGS && r->route != R_AUDIT && r->query[0] != '\0') {
        static const char *const none[] = {NULL};
        char vals[1][API_PARAM_MAX];
        bool set[1] = {false};

        res = query_parse(r->query, none, vals, set);
        if (res != NULL) {
            return res;
        }
    }
    switch (r->method) {
    case M_POST:
        if (r->route == R_FLAGS || r->route == R_TOKENS) {
            return body_json(r, false);
        }
        return body_none(r);
    case M_PUT:
        return body_json(r, false);
    case M_PATCH:
        return body_json(r, true);
    default:
        return NULL; /* GET and DELETE ignore a body */
    }
}

static void
api_dispatch(struct rp_httpd_req *base)
{
    struct api_req *r = (struct api_req *) base;
    struct ctl_api *a = r->a;
    nng_http_res *res = api_check(r);

    if (res != NULL) {
        req_finish(r, res);
        return;
    }
    if (route_is_write(r->route, r->method)) {
        pthread_mutex_lock(&a->mtx);
        if (a->closing || a->queued >= a->queue_max) {
            bool closing = a->closing;

            pthread_mutex_unlock(&a->mtx);
            req_finish(
                r, res_error(503, NULL, "%s",
                       closing ? "shutting down" : "too many writes waiting"));
            return;
        }
        r->next = NULL;
        if (a->tail != NULL) {
            a->tail->next = r;
        } else {
            a->head = r;
        }
        a->tail = r;
        a->queued++;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mtx);
        return;
    }
    switch (r->route) {
    case R_HEALTHZ:
        res = do_healthz(r);
        break;
    case R_FLAGS:
        res = do_flag_list(r);
        break;
    case R_FLAG:
        res = do_flag_get(r);
        break;
    case R_AUDIT:
        res = do_audit(r);
        break;
    case R_TOKENS:
        res = do_token_list(r);
        break;
    case R_EXT:
        res = r->ext->fn((struct ctl_api_call *) r, r->ext_arg);
        break;
    default:
        res = res_error(500, NULL, "no reader for this route");
        break;
    }
    req_finish(r, res);
}

/* httpd.h's hooks */

static void
api_begin(struct rp_httpd_req *base)
{
    ((struct api_req *) base)->a = base->arg;
}

static nng_http_res *
api_refuse(struct rp_httpd_req *base, enum rp_httpd_refusal why,
    uint16_t status, const char *msg)
{
    (void) base;
    if (why == RP_HTTPD_BAD_LENGTH) {
        return res_error(status, "Content-Length", "malformed");
    }
    return res_error(status, NULL, "%s", msg);
}

static void
api_end(struct rp_httpd_req *base, uint16_t status)
{
    (void) status;
    json_decref(((struct api_req *) base)->json);
}

static const struct rp_httpd_ops api_ops = {
    .req_size = sizeof(struct api_req),
    .begin = api_begin,
    .refuse = api_refuse,
    .dispatch = api_dispatch,
    .end = api_end,
};

/* ------------------------------------------------------------------ */
/* Open and close                                                      */
/* ------------------------------------------------------------------ */

static void
api_free(struct ctl_api *a)
{
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mtx);
    rp_free(a);
}

/* Tell the writer to drain its queue with 503s and end; wait for it. */
static void
api_writer_stop(struct ctl_api *a)
{
    pthread_mutex_lock(&a->mtx);
    a->closing = true;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mtx);
    pthread_join(a->writer, NULL);
}

ramp_err
ctl_api_open(const struct ctl_api_opts *o, struct ctl_store *st,
    struct ctl_pub *pub, struct ctl_api **out)
{
    struct rp_httpd_opts ho = {
        .ops = &api_ops,
        .ev_req = "RAMP-API-REQ",
        .ev_close_slow = "RAMP-API-CLOSE-SLOW",
        .ev_listen_fail = "RAMP-API-LISTEN-FAIL",
        .addr_key = "url",
    };
    struct ctl_api *a;
    ramp_err rv;

    if (o == NULL || o->url == NULL || st == NULL || pub == NULL ||
        out == NULL) {
        return RAMP_EINVAL;
    }
    if (o->next > CTL_API_EXT_MAX) {
        return RAMP_EINVAL;
    }
    a = rp_calloc(1, sizeof(*a));
    if (a == NULL) {
        return RAMP_ENOMEM;
    }
    a->st = st;
    a->pub = pub;
    a->queue_max = o->write_queue != 0 ? o->write_queue : API_QUEUE_DEFAULT;
    a->events = o->events;
    pthread_mutex_init(&a->mtx, NULL);
    pthread_cond_init(&a->cv, NULL);
    for (size_t i = 0; i < o->next; i++) {
        a->ext[i] = o->ext[i];
    }
    a->next = o->next;
    /* The writer first: once the server runs, writes may be queued. */
    if (pthread_create(&a->writer, NULL, api_writer_main, a) != 0) {
        api_free(a);
        return RAMP_ESYSTEM;
    }
    ho.url = o->url;
    ho.addr = o->url;
    /* https: the daemon's certificate (ctl_tls_set). */
    ho.tls = ctl_tls_server();
    ho.max_body = o->max_body != 0 ? o->max_body : API_MAX_BODY_DEFAULT;
    ho.arg = a;
    rv = rp_httpd_start(&ho, &a->srv);
    if (rv != RAMP_OK) {
        api_writer_stop(a);
        api_free(a);
        return rv == RAMP_EEXIST ? RAMP_EIO : rv;
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-API-LISTEN", "url=%s port=%d max_body=%zu",
        o->url, rp_httpd_port(a->srv), ho.max_body);
    *out = a;
    return RAMP_OK;
}

int
ctl_api_port(struct ctl_api *a)
{
    return rp_httpd_port(a->srv);
}

void
ctl_api_close(struct ctl_api *a)
{
    if (a == NULL) {
        return;
    }
    /* No new connections; open ones are aborted, which fails their
     * body reads. Requests already queued still hold nng's aio: the
     * writer answers them 503 before it ends. */
    rp_httpd_stop(a->srv);
    api_writer_stop(a);
    /* A stuck peer leaks the server; its hooks still use a. */
    if (rp_httpd_free(a->srv)) {
        api_free(a);
    }
}

/* ------------------------------------------------------------------ */
/* Extension interface (api_ext.h)                                     */
/* ------------------------------------------------------------------ */

const char *
ctl_api_call_method(const struct ctl_api_call *c)
{
    return nng_http_req_get_method(c->r.base.req);
}

bool
ctl_api_call_is_get(const struct ctl_api_call *c)
{
    return c->r.method == M_GET;
}

const char *
ctl_api_call_param(const struct ctl_api_call *c, unsigned i)
{
    return i < CTL_API_PARAMS && c->r.ext_param[i][0] != '\0'
        ? c->r.ext_param[i]
        : NULL;
}

const char *
ctl_api_call_query(const struct ctl_api_call *c, const char *name)
{
    const struct ctl_api_route *rt = c->r.ext;

    for (size_t i = 0; i < CTL_API_QUERY_MAX && rt->query[i] != NULL; i++) {
        if (strcmp(rt->query[i], name) == 0) {
            return c->r.ext_qset[i] ? c->r.ext_qv[i] : NULL;
        }
    }
    return NULL;
}

json_t *
ctl_api_call_json(const struct ctl_api_call *c)
{
    return c->r.json;
}

const char *
ctl_api_call_header(const struct ctl_api_call *c, const char *name)
{
    return nng_http_req_get_header(c->r.base.req, name);
}

const char *
ctl_api_call_actor(const struct ctl_api_call *c)
{
    return c->r.tok.name;
}

int
ctl_api_call_role(const struct ctl_api_call *c)
{
    return (int) c->r.tok.role;
}

struct ctl_store *
ctl_api_call_store(const struct ctl_api_call *c)
{
    return c->r.a->st;
}

struct ctl_pub *
ctl_api_call_pub(const struct ctl_api_call *c)
{
    return c->r.a->pub;
}

nng_http_res *
ctl_api_res_json(uint16_t status, json_t *j)
{
    return res_json(status, j);
}

nng_http_res *
ctl_api_res_error(uint16_t status, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return res_error(status, field, "%s", msg);
}

nng_http_res *
ctl_api_res_store_err(ramp_err rv, const char *what)
{
    return res_store_err(rv, what);
}

nng_http_res *
ctl_api_res_text(uint16_t status, const char *ctype, const char *text,
    size_t n)
{
    return rp_httpd_res_bytes(status, ctype, text, n);
}
