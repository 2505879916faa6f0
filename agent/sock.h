/* SPDX-License-Identifier: MIT */
/*
 * Socket setup the agent's listeners share: the query server (serve.c)
 * and the outcome receiver (health.c) both listen on an ipc:// or tcp://
 * URL, an ipc socket file with a set mode, and map nng's errors the same
 * way. Not here: dialling (agt_tls_dial in config.h), the subscriber's
 * sockets (sub.c), making the socket's directory (each caller's own).
 */
#ifndef AGT_SOCK_H
#define AGT_SOCK_H

#include <nng/nng.h>

#include "ramp/err.h"

/*
 * Log an nng failure of op on url under the event id ev ("op=... url=...
 * err=...") and map it: RAMP_EEXIST (address in use), RAMP_EPERM,
 * RAMP_ENOMEM, RAMP_EINVAL (bad address or option), else RAMP_ESYSTEM.
 */
ramp_err agt_sock_err(const char *ev, int rc, const char *op,
    const char *url);

/*
 * Listen on url with s. An ipc:// socket file gets mode: nng sets it
 * right after bind(2), and a chmod afterwards makes it hold where that
 * option is not supported. ev_sock names nng failures (agt_sock_err),
 * ev_chmod a failed chmod (RAMP_EPERM or RAMP_EIO). The listener is the
 * socket's: closing s closes it.
 */
ramp_err agt_sock_listen(nng_socket s, const char *url, unsigned mode,
    const char *ev_sock, const char *ev_chmod);

#endif
