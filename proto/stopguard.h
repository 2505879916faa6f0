/* SPDX-License-Identifier: MIT */
/*
 * A deadline on a daemon's stop. Once a stop signal arrived the daemon
 * arms the guard and closes its modules in order, naming each step; if
 * the stop has not finished (rp_stopguard_disarm) when the deadline
 * passes, the guard logs "ID step=... waited_ms=... code=..." and ends
 * the process with _exit(code).
 *
 * Why: every write the daemons acknowledge is committed to LMDB before
 * the answer, so exiting with a module half-closed loses nothing (the
 * crash tests kill at any point), while a close that never returns (nng
 * 1.5.2 can deadlock in nng_close, nanomsg/nng#1543) would keep a stopped
 * service up until its supervisor kills it.
 *
 * One guard per process, used by the thread that runs the daemon.
 */
#ifndef RP_STOPGUARD_H
#define RP_STOPGUARD_H

#include "ramp/err.h"

/* Start the deadline, ms from now. id is the log event id (a static
 * string); code is the exit status if the deadline passes. Arming an
 * armed guard changes nothing. */
ramp_err rp_stopguard_arm(const char *id, unsigned ms, int code);

/* Name the step the stop is in (a static string), for the log line. */
void rp_stopguard_step(const char *step);

/* The stop finished: cancel the deadline and reap the guard's thread
 * (a daemon run in-process, as the tests do, returns normally). */
void rp_stopguard_disarm(void);

#endif
