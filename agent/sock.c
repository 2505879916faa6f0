/* SPDX-License-Identifier: MIT */
/*
 * The agent's listener setup (sock.h), shared by the query server and
 * the outcome receiver.
 */
#include "sock.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

ramp_err
agt_sock_err(const char *ev, int rc, const char *op, const char *url)
{
    RAMP_LOG(RP_LOG_ERR, ev, "op=%s url=%s err=\"%s\"", op, url,
        nng_strerror(rc));
    switch (rc) {
    case NNG_EADDRINUSE:
        return RAMP_EEXIST;
    case NNG_EPERM:
        return RAMP_EPERM;
    case NNG_ENOMEM:
        return RAMP_ENOMEM;
    case NNG_EADDRINVAL:
    case NNG_ENOTSUP:
    case NNG_EINVAL:
        return RAMP_EINVAL;
    default:
        return RAMP_ESYSTEM;
    }
}

ramp_err
agt_sock_listen(nng_socket s, const char *url, unsigned mode,
    const char *ev_sock, const char *ev_chmod)
{
    const char *path = strncmp(url, "ipc://", 6) == 0 ? url + 6 : NULL;
    nng_listener l;
    int rc;

    rc = nng_listener_create(&l, s, url);
    if (rc != 0) {
        return agt_sock_err(ev_sock, rc, "listen", url);
    }
    if (path != NULL) {
        (void) nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS, (int) mode);
    }
    rc = nng_listener_start(l, 0);
    if (rc != 0) {
        nng_listener_close(l);
        return agt_sock_err(ev_sock, rc, "listen", url);
    }
    if (path != NULL && chmod(path, (mode_t) mode) != 0) {
        int e = errno;

        RAMP_LOG(RP_LOG_ERR, ev_chmod, "path=%s mode=%04o err=\"%s\"", path,
            mode, strerror(e));
        return e == EPERM ? RAMP_EPERM : RAMP_EIO;
    }
    return RAMP_OK;
}
