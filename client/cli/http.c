/* SPDX-License-Identifier: MIT */
/*
 * The CLI's HTTP transport: one libcurl easy handle per request, JSON in
 * and out, and the mapping from HTTP statuses and curl errors to exit
 * codes. Not here: what a route means (the commands) or printing
 * results.
 *
 * Choices: redirects are not followed (a redirect to another host would
 * carry the bearer token there); only http and https are allowed; both a
 * connect and a total timeout are set; the response is buffered up to
 * CLI_RESP_MAX and refused beyond it.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "alloc.h"
#include "buf.h"
#include "cli.h"

static unsigned long http_sent;

/* The connection is established within this or the request fails, even
 * when the total timeout is longer: a dead host should not cost a
 * minute. */
#define HTTP_CONNECT_MAX_MS 5000

unsigned long
cli_requests_sent(void)
{
    return http_sent;
}

int
cli_exit_status(long status)
{
    if (status >= 200 && status < 300) {
        return CLI_EXIT_OK;
    }
    switch (status) {
    case 401:
    case 403:
        return CLI_EXIT_AUTH;
    case 404:
        return CLI_EXIT_NOTFOUND;
    case 409:
    case 412:
        return CLI_EXIT_CONFLICT;
    default:
        break;
    }
    if (status >= 500 && status < 600) {
        return CLI_EXIT_SERVER;
    }
    /* Other 4xx, and 1xx/3xx we neither expect nor follow. */
    return CLI_EXIT_ERROR;
}

int
cli_exit_curl(int code)
{
    switch ((CURLcode) code) {
    case CURLE_OK:
        return CLI_EXIT_OK;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return CLI_EXIT_UNREACH;
    default:
        return CLI_EXIT_ERROR;
    }
}

void
cli_print_api_error(FILE *err, long status, const json_t *body)
{
    const json_t *e = json_object_get(body, "error");
    const char *msg = json_string_value(json_object_get(e, "message"));
    const char *field = json_string_value(json_object_get(e, "field"));

    fputs("error: ", err);
    if (msg != NULL && msg[0] != '\0') {
        cli_puts_safe(err, msg);
    } else {
        fprintf(err, "HTTP %ld", status);
    }
    if (field != NULL && field[0] != '\0') {
        fputs(" (field: ", err);
        cli_puts_safe(err, field);
        fputs(")", err);
    }
    fputs("\n", err);
}

int
cli_path(struct cli *c, char *buf, size_t bufsz, const char *prefix,
    const char *seg, const char *suffix)
{
    char *esc = curl_easy_escape(NULL, seg, 0);
    int n;

    if (esc == NULL) {
        fprintf(c->err, "error: out of memory\n");
        return CLI_EXIT_ERROR;
    }
    n = snprintf(buf, bufsz, "%s%s%s", prefix, esc, suffix);
    curl_free(esc);
    if (n < 0 || (size_t) n >= bufsz) {
        fprintf(c->err, "error: request path too long\n");
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

struct http_sink {
    struct rp_buf buf;
    bool toobig; /* the body passed CLI_RESP_MAX */
};

static size_t
http_write(char *p, size_t size, size_t n, void *arg)
{
    struct http_sink *s = arg;
    ramp_err rv;

    /* size is 1 by libcurl's contract. */
    rv = rp_buf_append(&s->buf, p, size * n);
    if (rv != RAMP_OK) {
        s->toobig = rv == RAMP_ETOOBIG;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    return size * n;
}

void
cli_resp_fini(struct cli_resp *r)
{
    json_decref(r->body);
    r->body = NULL;
}

static int
http_parse(struct cli *c, struct http_sink *s, struct cli_resp *r)
{
    json_error_t jerr;

    if (s->buf.len == 0) {
        return CLI_EXIT_OK;
    }
    r->body = json_loadb((const char *) s->buf.data, s->buf.len, 0, &jerr);
    if (r->body == NULL) {
        /* A proxy's HTML page or a truncated body: say what we got,
         * keeping the exit code of the status. */
        if (r->status >= 200 && r->status < 300) {
            fprintf(c->err,
                "error: HTTP %ld with a body that is not JSON: %s\n", r->status,
                jerr.text);
            return CLI_EXIT_ERROR;
        }
    }
    return CLI_EXIT_OK;
}

int
cli_http(struct cli *c, const char *method, const char *path,
    const json_t *body, uint64_t if_match, struct cli_resp *r)
{
    struct curl_slist *hdrs = NULL, *h;
    char errbuf[CURL_ERROR_SIZE];
    struct http_sink sink;
    char *text = NULL;
    char *url = NULL;
    char line[128];
    struct rp_buf auth;
    CURL *e = NULL;
    CURLcode cc;
    int rc = CLI_EXIT_ERROR;
    size_t n;

    memset(r, 0, sizeof(*r));
    rp_buf_init(&sink.buf, CLI_RESP_MAX);
    sink.toobig = false;
    rp_buf_init(&auth, 8192);
    errbuf[0] = '\0';

    n = strlen(c->url) + strlen(path) + 1;
    url = rp_alloc(n);
    if (url == NULL) {
        goto nomem;
    }
    snprintf(url, n, "%s%s", c->url, path);
    e = curl_easy_init();
    if (e == NULL) {
        goto nomem;
    }
    h = curl_slist_append(hdrs, "Accept: application/json");
    if (h == NULL) {
        goto nomem;
    }
    hdrs = h;
    /* curl sends "Expect: 100-continue" for larger bodies and waits for
     * an answer nng's server never gives; an empty Expect: turns it off. */
    h = curl_slist_append(hdrs, "Expect:");
    if (h == NULL) {
        goto nomem;
    }
    hdrs = h;
    if (c->token != NULL && c->token[0] != '\0') {
        if (rp_buf_printf(&auth, "Authorization: Bearer %s%c", c->token,
                '\0') != RAMP_OK) {
            fprintf(c->err, "error: token too long\n");
            rc = CLI_EXIT_USAGE;
            goto out;
        }
        h = curl_slist_append(hdrs, (const char *) auth.data);
        if (h == NULL) {
            goto nomem;
        }
        hdrs = h;
    }
    if (if_match > 0) {
        snprintf(line, sizeof(line), "If-Match: \"%llu\"",
            (unsigned long long) if_match);
        h = curl_slist_append(hdrs, line);
        if (h == NULL) {
            goto nomem;
        }
        hdrs = h;
    }
    if (body != NULL) {
        h = curl_slist_append(hdrs, "Content-Type: application/json");
        if (h == NULL) {
            goto nomem;
        }
        hdrs = h;
        text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text == NULL) {
            goto nomem;
        }
    }

    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
        (long) (c->timeout_ms < HTTP_CONNECT_MAX_MS ? c->timeout_ms
                                                    : HTTP_CONNECT_MAX_MS));
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) CLI_RESP_MAX);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "ramp-cli/" RAMP_CLI_VERSION);
    if (c->cacert[0] != '\0') {
        curl_easy_setopt(e, CURLOPT_CAINFO, c->cacert);
    }
    if (strcmp(method, "POST") == 0 || text != NULL) {
        /* POST with no body still sends Content-Length: 0. */
        curl_easy_setopt(
            e, CURLOPT_POSTFIELDSIZE, (long) (text != NULL ? strlen(text) : 0));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, text != NULL ? text : "");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }

    http_sent++;
    cc = curl_easy_perform(e);
    if (cc != CURLE_OK) {
        if (sink.toobig || cc == CURLE_FILESIZE_EXCEEDED) {
            fprintf(c->err, "error: response larger than %zu MiB refused\n",
                CLI_RESP_MAX >> 20);
            rc = CLI_EXIT_ERROR;
            goto out;
        }
        /* curl's messages name the host and port, never our headers. */
        fprintf(c->err, "error: %s: %s\n", c->url,
            errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc));
        rc = cli_exit_curl((int) cc);
        goto out;
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    rc = http_parse(c, &sink, r);
    if (rc != CLI_EXIT_OK) {
        goto out;
    }
    rc = cli_exit_status(r->status);
    if (rc != CLI_EXIT_OK) {
        cli_print_api_error(c->err, r->status, r->body);
        if (r->status == 401 && (c->token == NULL || c->token[0] == '\0')) {
            fprintf(c->err, "hint: no token set: use --token, RAMP_TOKEN "
                            "or the config file\n");
        }
        cli_resp_fini(r);
    }
    goto out;

nomem:
    fprintf(c->err, "error: out of memory\n");
    rc = CLI_EXIT_ERROR;
out:
    if (rc != CLI_EXIT_OK) {
        cli_resp_fini(r);
    }
    if (e != NULL) {
        curl_easy_cleanup(e);
    }
    curl_slist_free_all(hdrs);
    /* Our copy of the header held the token: wipe it before freeing.
     * (curl's copy in the list is freed as is; it cannot be reached.) */
    if (auth.data != NULL) {
        memset(auth.data, 0, auth.cap);
    }
    rp_buf_fini(&auth);
    rp_buf_fini(&sink.buf);
    free(text); /* jansson's allocation */
    rp_free(url);
    return rc;
}
