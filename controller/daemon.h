/* SPDX-License-Identifier: MIT */
/*
 * ramp-controller's entry points: the sub-commands (ctl_main) and the
 * daemon itself (ctl_daemon_run). main.c only calls ctl_main, so tests
 * can run every sub-command in-process.
 */
#ifndef CTL_DAEMON_H
#define CTL_DAEMON_H

#include "cfg.h"

/* Exit codes, documented in --help and docs/ops-controller.md. */
#define CTL_EXIT_OK 0
#define CTL_EXIT_RUNTIME 1 /* store, key, socket or I/O failure */
#define CTL_EXIT_USAGE 2   /* bad arguments or configuration */

/* A stop that has not finished this long after it began ends the process
 * anyway (RAMP-CTL-STOP-STUCK, stopguard.h). */
#define CTL_STOP_DEADLINE_MS 10000

/* The whole program: argv[0] is the program name. Returns an exit code. */
int ctl_main(int argc, char **argv);

/*
 * Run the daemon with cfg (loaded from argc/argv, which SIGHUP reloads
 * from again) until SIGTERM or SIGINT. Blocks those signals and SIGHUP
 * in the calling thread before any other thread starts (so every thread
 * inherits the mask) and waits for them with sigwait: nothing runs in a
 * signal handler. Returns an exit code.
 */
int ctl_daemon_run(struct rp_cfg *cfg, int argc, char **argv);

#endif
