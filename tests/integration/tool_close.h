/* SPDX-License-Identifier: MIT */
/*
 * Closing an nng socket in a test tool without letting a hang in the
 * close fail the test. nng 1.5.2 (Debian 12's) can deadlock in nng_close
 * (nanomsg/nng#1543, fixed upstream after that release); a tool that has
 * done its work and printed its result exits with its own status when the
 * close has not returned within the given seconds.
 */
#ifndef RAMP_TOOL_CLOSE_H
#define RAMP_TOOL_CLOSE_H

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <nng/nng.h>

static volatile sig_atomic_t tool_close_rc;

static void
tool_close_alarm(int sig)
{
    (void) sig;
    _exit(tool_close_rc);
}

static inline void
tool_close_bounded(nng_socket s, int rc, unsigned secs)
{
    tool_close_rc = rc;
    fflush(stdout);
    fflush(stderr);
    signal(SIGALRM, tool_close_alarm);
    alarm(secs);
    nng_close(s);
    alarm(0);
}

#endif /* RAMP_TOOL_CLOSE_H */
