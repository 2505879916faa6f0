/* SPDX-License-Identifier: MIT */
/*
 * The stop deadline (stopguard.h): a thread that waits on a condition
 * variable until the deadline or the disarm. Nothing here runs in a
 * signal handler; the daemons take their signals with sigwait().
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "stopguard.h"

static pthread_mutex_t guard_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t guard_cv;
static bool guard_armed;
static bool guard_done;
static pthread_t guard_thr;
static struct timespec guard_until; /* CLOCK_MONOTONIC */
static const char *guard_id;
static unsigned guard_ms;
static int guard_code;
static _Atomic(const char *) guard_step = "start";

static void *
guard_main(void *arg)
{
    int rc = 0;

    (void) arg;
    pthread_mutex_lock(&guard_mtx);
    while (!guard_done && rc != ETIMEDOUT) {
        rc = pthread_cond_timedwait(&guard_cv, &guard_mtx, &guard_until);
    }
    if (!guard_done) {
        rp_log(RP_LOG_ERR, guard_id, "step=%s waited_ms=%u code=%d",
            atomic_load(&guard_step), guard_ms, guard_code);
        _exit(guard_code);
    }
    pthread_mutex_unlock(&guard_mtx);
    return NULL;
}

ramp_err
rp_stopguard_arm(const char *id, unsigned ms, int code)
{
    pthread_condattr_t ca;
    sigset_t all, old;
    ramp_err rv = RAMP_OK;

    pthread_mutex_lock(&guard_mtx);
    if (guard_armed) {
        pthread_mutex_unlock(&guard_mtx);
        return RAMP_OK;
    }
    if (pthread_condattr_init(&ca) != 0 ||
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&guard_cv, &ca) != 0) {
        pthread_mutex_unlock(&guard_mtx);
        return RAMP_ENOMEM;
    }
    pthread_condattr_destroy(&ca);
    clock_gettime(CLOCK_MONOTONIC, &guard_until);
    guard_until.tv_sec += (time_t) (ms / 1000);
    guard_until.tv_nsec += (long) (ms % 1000) * 1000000L;
    if (guard_until.tv_nsec >= 1000000000L) {
        guard_until.tv_sec++;
        guard_until.tv_nsec -= 1000000000L;
    }
    guard_id = id;
    guard_ms = ms;
    guard_code = code;
    guard_done = false;
    atomic_store(&guard_step, "start");
    /* The guard takes no signal: they stay with the daemon's thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    if (pthread_create(&guard_thr, NULL, guard_main, NULL) == 0) {
        guard_armed = true;
    } else {
        pthread_cond_destroy(&guard_cv);
        rv = RAMP_ENOMEM;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_unlock(&guard_mtx);
    return rv;
}

void
rp_stopguard_step(const char *step)
{
    atomic_store(&guard_step, step);
}

void
rp_stopguard_disarm(void)
{
    pthread_mutex_lock(&guard_mtx);
    if (!guard_armed) {
        pthread_mutex_unlock(&guard_mtx);
        return;
    }
    guard_done = true;
    pthread_cond_signal(&guard_cv);
    pthread_mutex_unlock(&guard_mtx);
    pthread_join(guard_thr, NULL);
    pthread_mutex_lock(&guard_mtx);
    pthread_cond_destroy(&guard_cv);
    guard_armed = false;
    pthread_mutex_unlock(&guard_mtx);
}
