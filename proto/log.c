/* SPDX-License-Identifier: MIT */
/*
 * One line per event: "ts level component id fields", written to stderr
 * with a single write(2) or handed to an installed sink. Not here: log
 * rotation, syslog or journald transport (the service manager collects
 * stderr), and any decision about what is worth logging.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/*
 * A line, newline included, never exceeds PIPE_BUF (4096 on Linux): a
 * write(2) of at most PIPE_BUF bytes to a pipe is atomic, so lines from
 * many threads or processes sharing one stderr pipe never interleave. A
 * sink therefore sees at most LOG_LINE_MAX - 1 bytes.
 */
#define LOG_LINE_MAX 4096
#define LOG_TRUNC "..."
/* Longest text that leaves room for the mark and the newline. */
#define LOG_KEEP (LOG_LINE_MAX - 1 - (sizeof(LOG_TRUNC) - 1))

int rp_log_level = RP_LOG_INFO;

/* The component is a static string, so a pointer swap is enough. */
static _Atomic(const char *) log_component = "ramp";

/*
 * sink and arg change together under the write lock; rp_logv() holds the
 * read lock while it calls the sink. That way, once rp_log_set_sink()
 * returns, the old sink is never called again and its arg may be freed
 * (libuv's rule for callbacks). A plain atomic pointer could not swap the
 * pair together, and a mutex would serialise every sink call. The cost:
 * a sink must not call rp_log_set_sink() itself.
 */
static pthread_rwlock_t log_sink_lock = PTHREAD_RWLOCK_INITIALIZER;
static rp_log_sink log_sink; /* NULL: stderr; under log_sink_lock */
static void *log_sink_arg;   /* under log_sink_lock */

static const char *const log_names[] = {
    [RP_LOG_CRIT] = "crit",
    [RP_LOG_ERR] = "err",
    [RP_LOG_WARNING] = "warning",
    [RP_LOG_NOTICE] = "notice",
    [RP_LOG_INFO] = "info",
    [RP_LOG_DEBUG] = "debug",
};

const char *
rp_log_level_name(int lvl)
{
    if (lvl < RP_LOG_CRIT || lvl > RP_LOG_DEBUG) {
        return "unknown";
    }
    return log_names[lvl];
}

int
rp_log_parse_level(const char *s)
{
    if (s == NULL) {
        return -1;
    }
    if (s[0] >= '0' + RP_LOG_CRIT && s[0] <= '0' + RP_LOG_DEBUG &&
        s[1] == '\0') {
        return s[0] - '0';
    }
    for (int l = RP_LOG_CRIT; l <= RP_LOG_DEBUG; l++) {
        if (strcasecmp(s, log_names[l]) == 0) {
            return l;
        }
    }
    return -1;
}

void
rp_log_set_component(const char *name)
{
    atomic_store(&log_component, name != NULL ? name : "ramp");
}

void
rp_log_set_sink(rp_log_sink sink, void *arg)
{
    pthread_rwlock_wrlock(&log_sink_lock);
    log_sink = sink;
    log_sink_arg = sink != NULL ? arg : NULL;
    pthread_rwlock_unlock(&log_sink_lock);
}

/* A line under construction; len < LOG_LINE_MAX always. */
struct log_line {
    char buf[LOG_LINE_MAX];
    size_t len;
    size_t cut; /* longest prefix <= LOG_KEEP ending on a whole unit */
    int full;   /* something did not fit */
};

/* Room left for text, keeping the last byte for the newline. */
static size_t
line_room(const struct log_line *l)
{
    return LOG_LINE_MAX - 1 - l->len;
}

/* Raw bytes: every byte is a unit, any of them may end a cut line. */
static void
line_raw(struct log_line *l, const char *s, size_t n)
{
    size_t before = l->len;

    if (n > line_room(l)) {
        n = line_room(l);
        l->full = 1;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    if (before < LOG_KEEP) {
        l->cut = l->len < LOG_KEEP ? l->len : LOG_KEEP;
    }
}

/*
 * Append s with control characters escaped, so one event is one line
 * whatever a field holds (a peer's error text, a path with a newline).
 * Backslashes pass through unchanged: doubling them would make every
 * Windows-style path or regex in a field harder to read, and the escapes
 * are for keeping the line shape, not for reversible encoding. Bytes of
 * 0x80 and above are left alone (UTF-8).
 */
static void
line_escaped(struct log_line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    for (; *s != '\0' && !l->full; s++) {
        unsigned char c = (unsigned char) *s;
        char esc[4];
        size_t n;

        if (c >= 0x20 && c != 0x7f) {
            esc[0] = (char) c;
            n = 1;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            esc[0] = '\\';
            esc[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            n = 2;
        } else {
            esc[0] = '\\';
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 0x0f];
            n = 4;
        }
        /* Never split an escape sequence at the cut. */
        if (n > line_room(l)) {
            l->full = 1;
            break;
        }
        memcpy(l->buf + l->len, esc, n);
        l->len += n;
        if (l->len <= LOG_KEEP) {
            l->cut = l->len;
        }
    }
    if (*s != '\0') {
        l->full = 1;
    }
}

/*
 * Mark a cut line with "..." at its end. The cut falls on the last whole
 * escape sequence that leaves room for the mark, then backs up over
 * UTF-8 continuation bytes, so it never leaves half a character either.
 */
static void
line_truncate(struct log_line *l)
{
    if (l->len > l->cut) {
        l->len = l->cut;
        while (l->len > 0 && ((unsigned char) l->buf[l->len] & 0xc0) == 0x80 &&
               ((unsigned char) l->buf[l->len - 1] & 0x80) != 0) {
            l->len--;
        }
    }
    memcpy(l->buf + l->len, LOG_TRUNC, sizeof(LOG_TRUNC) - 1);
    l->len += sizeof(LOG_TRUNC) - 1;
}

static void
line_time(struct log_line *l)
{
    struct timespec ts;
    struct tm tm;
    char t[32];
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
        tm.tm_sec, ts.tv_nsec / 1000000L);
    if (n > 0) {
        line_raw(l, t, (size_t) n < sizeof(t) ? (size_t) n : sizeof(t) - 1);
    }
}

static void
log_write_stderr(const char *p, size_t n)
{
    /*
     * One write for the whole line; loop only for the rare partial write
     * (a tty, a signal), where atomicity is lost anyway. Errors are
     * ignored: there is nowhere left to report them.
     */
    while (n > 0) {
        ssize_t w = write(STDERR_FILENO, p, n);

        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t) w;
    }
}

void
rp_logv(int lvl, const char *id, const char *fmt, va_list ap)
{
    /* Fields cannot take more than a whole line; longer ones are cut. */
    char fields[LOG_LINE_MAX];
    struct log_line l;
    int saved_errno = errno; /* callers log, then look at errno */
    int n;

    if (lvl > rp_log_level) {
        return;
    }
    l.len = 0;
    l.cut = 0;
    l.full = 0;
    line_time(&l);
    line_raw(&l, " ", 1);
    line_escaped(&l, rp_log_level_name(lvl));
    line_raw(&l, " ", 1);
    line_escaped(&l, atomic_load(&log_component));
    line_raw(&l, " ", 1);
    line_escaped(&l, id != NULL ? id : "-");
    if (fmt != NULL && fmt[0] != '\0') {
        n = vsnprintf(fields, sizeof(fields), fmt, ap);
        if (n < 0) {
            fields[0] = '\0';
        }
        if (fields[0] != '\0') {
            line_raw(&l, " ", 1);
            line_escaped(&l, fields);
        }
        if (n >= (int) sizeof(fields)) {
            l.full = 1;
        }
    }
    if (l.full) {
        line_truncate(&l);
    }

    pthread_rwlock_rdlock(&log_sink_lock);
    if (log_sink != NULL) {
        l.buf[l.len] = '\0';
        log_sink(lvl, l.buf, log_sink_arg);
    } else {
        l.buf[l.len] = '\n';
        log_write_stderr(l.buf, l.len + 1);
    }
    pthread_rwlock_unlock(&log_sink_lock);
    errno = saved_errno;
}

void
rp_log(int lvl, const char *id, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rp_logv(lvl, id, fmt, ap);
    va_end(ap);
}
