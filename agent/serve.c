/* SPDX-License-Identifier: MIT */
/*
 * Query server (see serve.h). A fixed set of workers, each an nng
 * context with its own aio cycling receive -> answer -> send -> receive.
 * The alternative, one blocking thread per worker, would cost a thread
 * stack each and still need the same contexts; the aio form lets nng's
 * own threads carry the (short, CPU-only) answers.
 */
#include "serve.h"

#include <errno.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "health.h"
#include "log.h"
#include "query.h"
#include "sock.h"

/* A reply buffer that grew past this for one bulk answer is released
 * afterwards, so a rare ALL request does not pin megabytes per worker. */
#define SERVE_KEEP_MAX (256u << 10)

enum serve_state { SERVE_RECV, SERVE_SEND };

struct serve_worker {
    struct agt_serve *s;
    nng_aio *aio;
    nng_ctx ctx;
    enum serve_state state; /* touched only by this worker's callback */
    struct rp_buf reply;    /* reused between requests */
};

struct agt_serve {
    nng_socket sock;
    bool open;                  /* sock was opened */
    struct agt_viewref *views;  /* borrowed */
    struct agt_stats *stats;    /* borrowed */
    char *host;                 /* owned */
    char *outcome_url;          /* owned; NULL: none */
    struct agt_health *health;  /* borrowed; may be NULL */
    int nworkers;
    struct serve_worker *workers; /* owned, nworkers */
};

static ramp_err
serve_nng_err(int rc, const char *what, const char *url)
{
    return agt_sock_err("RAMP-AGENT-QUERY-SOCKET", rc, what, url);
}

static void
serve_recv(struct serve_worker *w)
{
    w->state = SERVE_RECV;
    nng_ctx_recv(w->ctx, w->aio);
}

/* Each evaluation served counts toward the flag's health (health.h). */
static void
serve_seen(void *arg, const char *flag, size_t flag_len, const char *variant,
    uint32_t arm)
{
    char key[RP_KEY_MAX + 1];

    if (flag_len > RP_KEY_MAX) {
        return;
    }
    memcpy(key, flag, flag_len);
    key[flag_len] = '\0';
    agt_health_count_eval(arg, key, variant, arm);
}

static void
serve_answer(struct serve_worker *w, nng_msg *msg)
{
    struct agt_serve *s = w->s;
    struct agt_query_side side;
    struct agt_view *v;
    ramp_err rv, status;
    int rc;

    rp_buf_reset(&w->reply);
    v = agt_viewref_get(s->views);
    side.host = s->host;
    side.stale = atomic_load(&s->stats->stale);
    side.outcome_url = s->outcome_url;
    side.seen = s->health != NULL ? serve_seen : NULL;
    side.seen_arg = s->health;
    rv = agt_query_answer_side(v, &side, nng_msg_body(msg), nng_msg_len(msg),
        &w->reply);
    agt_view_rele(v);
    if (rv != RAMP_OK) {
        /* No reply at all (out of memory): the client's REQ times out
         * and may resend; nothing better can be said without memory. */
        RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-QUERY-FAIL", "err=%s",
            ramp_errname(rv));
        agt_stats_inc(&s->stats->queries_failed, 1);
        nng_msg_free(msg);
        serve_recv(w);
        return;
    }
    status = agt_query_reply_status(w->reply.data, w->reply.len);
    if (status == RAMP_OK) {
        agt_stats_inc(&s->stats->queries_served, 1);
    } else {
        agt_stats_inc(&s->stats->queries_failed, 1);
        RAMP_LOG(RP_LOG_DEBUG, "RAMP-AGENT-QUERY-BAD", "status=%s len=%zu",
            ramp_errname(status),
            nng_msg_len(msg));
    }
    nng_msg_clear(msg);
    rc = nng_msg_append(msg, w->reply.data, w->reply.len);
    if (w->reply.cap > SERVE_KEEP_MAX) {
        rp_buf_fini(&w->reply);
        rp_buf_init(&w->reply, AGT_QUERY_REP_MAX);
    }
    if (rc != 0) {
        agt_stats_inc(&s->stats->query_io_errors, 1);
        nng_msg_free(msg);
        serve_recv(w);
        return;
    }
    nng_aio_set_msg(w->aio, msg);
    w->state = SERVE_SEND;
    nng_ctx_send(w->ctx, w->aio);
}

static void
serve_cb(void *arg)
{
    struct serve_worker *w = arg;
    int rc = nng_aio_result(w->aio);

    if (w->state == SERVE_SEND) {
        if (rc != 0) {
            /* The message stays ours when a send fails. */
            nng_msg_free(nng_aio_get_msg(w->aio));
            nng_aio_set_msg(w->aio, NULL);
            if (rc == NNG_ECLOSED || rc == NNG_ECANCELED) {
                return;
            }
            agt_stats_inc(&w->s->stats->query_io_errors, 1);
        }
        serve_recv(w);
        return;
    }
    if (rc != 0) {
        if (rc == NNG_ECLOSED || rc == NNG_ECANCELED) {
            return; /* shutting down */
        }
        /* NNG_EMSGSIZE and friends: the peer's problem, not ours. */
        agt_stats_inc(&w->s->stats->query_io_errors, 1);
        serve_recv(w);
        return;
    }
    serve_answer(w, nng_aio_get_msg(w->aio));
}

/* The directory mode for a socket of mode m: owner all, and search (plus
 * read) for group/others when m grants them anything. */
static mode_t
serve_dir_mode(unsigned m)
{
    mode_t d = 0700;

    if ((m & 0070) != 0) {
        d |= 0050;
    }
    if ((m & 0007) != 0) {
        d |= 0005;
    }
    return d;
}

/* mkdir -p of path's parent directory; existing directories are left
 * as they are (the socket may live in /tmp). */
static ramp_err
serve_mkdirs(const char *path, unsigned mode)
{
    char dir[1024];
    char *slash;
    size_t n = strlen(path);

    if (n == 0 || n >= sizeof(dir)) {
        return RAMP_EINVAL;
    }
    memcpy(dir, path, n + 1);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        return RAMP_OK; /* relative name in the cwd, or at the root */
    }
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        bool last = *p == '\0';

        if (*p == '/' || last) {
            *p = '\0';
            if (mkdir(dir, serve_dir_mode(mode)) == 0) {
                /* mkdir's mode passes through the umask; set it as
                 * meant. */
                if (chmod(dir, serve_dir_mode(mode)) != 0) {
                    goto fail;
                }
                RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-QUERY-MKDIR",
                    "dir=%s mode=%04o", dir, (unsigned) serve_dir_mode(mode));
            } else if (errno != EEXIST) {
                goto fail;
            }
            if (last) {
                break;
            }
            *p = '/';
        }
    }
    return RAMP_OK;

fail:
    RAMP_LOG(RP_LOG_ERR, "RAMP-AGENT-QUERY-MKDIR", "dir=%s err=\"%s\"", dir,
        strerror(errno));
    return errno == EACCES || errno == EPERM ? RAMP_EPERM : RAMP_EIO;
}

static ramp_err
serve_listen(struct agt_serve *s, const struct agt_serve_opts *o)
{
    ramp_err rv;

    if (strncmp(o->url, "ipc://", 6) == 0) {
        rv = serve_mkdirs(o->url + 6, o->socket_mode);
        if (rv != RAMP_OK) {
            return rv;
        }
    }
    return agt_sock_listen(s->sock, o->url, o->socket_mode,
        "RAMP-AGENT-QUERY-SOCKET", "RAMP-AGENT-QUERY-CHMOD");
}

ramp_err
agt_serve_start(const struct agt_serve_opts *o, struct agt_viewref *views,
    struct agt_stats *stats, struct agt_serve **out)
{
    struct agt_serve *s;
    ramp_err rv;
    int rc;

    if (o == NULL || o->url == NULL || o->workers < 1 || o->workers > 4096 ||
        o->socket_mode > 0777 || views == NULL || stats == NULL) {
        return RAMP_EINVAL;
    }
    s = rp_calloc(1, sizeof(*s));
    if (s == NULL) {
        return RAMP_ENOMEM;
    }
    s->views = views;
    s->stats = stats;
    s->host = rp_strdup(o->host != NULL ? o->host : "");
    s->health = o->health;
    if (o->outcome_url != NULL) {
        s->outcome_url = rp_strdup(o->outcome_url);
        if (s->outcome_url == NULL) {
            rv = RAMP_ENOMEM;
            goto fail;
        }
    }
    s->workers = rp_calloc((size_t) o->workers, sizeof(*s->workers));
    if (s->host == NULL || s->workers == NULL) {
        rv = RAMP_ENOMEM;
        goto fail;
    }
    rc = nng_rep0_open(&s->sock);
    if (rc != 0) {
        rv = serve_nng_err(rc, "open", o->url);
        goto fail;
    }
    s->open = true;
    /* Bound what a local client can make us allocate (DESIGN §10). */
    rc = nng_socket_set_size(s->sock, NNG_OPT_RECVMAXSZ, AGT_QUERY_REQ_MAX);
    if (rc != 0) {
        rv = serve_nng_err(rc, "recvmaxsz", o->url);
        goto fail;
    }
    for (int i = 0; i < o->workers; i++) {
        struct serve_worker *w = &s->workers[i];

        w->s = s;
        rp_buf_init(&w->reply, AGT_QUERY_REP_MAX);
        rc = nng_aio_alloc(&w->aio, serve_cb, w);
        if (rc != 0) {
            rv = serve_nng_err(rc, "aio", o->url);
            goto fail;
        }
        s->nworkers = i + 1;
        rc = nng_ctx_open(&w->ctx, s->sock);
        if (rc != 0) {
            rv = serve_nng_err(rc, "context", o->url);
            goto fail;
        }
    }
    rv = serve_listen(s, o);
    if (rv != RAMP_OK) {
        goto fail;
    }
    for (int i = 0; i < s->nworkers; i++) {
        serve_recv(&s->workers[i]);
    }
    RAMP_LOG(RP_LOG_INFO, "RAMP-AGENT-QUERY-LISTEN",
        "url=%s mode=%04o workers=%d", o->url, o->socket_mode, s->nworkers);
    *out = s;
    return RAMP_OK;

fail:
    agt_serve_stop(s);
    return rv;
}

void
agt_serve_stop(struct agt_serve *s)
{
    if (s == NULL) {
        return;
    }
    /* Closing first completes every pending aio with NNG_ECLOSED, so no
     * callback re-arms; nng_aio_free then waits for a running one. */
    if (s->open) {
        nng_close(s->sock);
    }
    for (int i = 0; i < s->nworkers; i++) {
        struct serve_worker *w = &s->workers[i];

        nng_aio_free(w->aio);
        rp_buf_fini(&w->reply);
    }
    rp_free(s->workers);
    rp_free(s->outcome_url);
    rp_free(s->host);
    rp_free(s);
}
