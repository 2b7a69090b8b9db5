/* A runtime command in flight: spawned through the runtime driver, watched by the
 * reaper, completed by a callback when its exit is reaped. */
#ifndef TETHER_SHIM_JOB_H
#define TETHER_SHIM_JOB_H

#include <stdbool.h>
#include <stdint.h>

#include <tether/error.h>
#include <tether/loop.h>
#include <tether/runtime.h>
#include <tether/timer.h>

#include "reaper.h"

/* Where jobs run: the reaper that reports their exit, the runtime, and an optional time
 * limit (the runtime child is SIGKILLed when it passes; 0 = none). */
struct tether_job_env {
    struct tether_reaper *reaper;
    const struct tether_runtime *rt;
    struct tether_loop *loop;
    unsigned timeout_ms;
};

struct tether_job;

/* rc 0: success, out = captured stdout (owned by the job, freed after the callback);
 * rc -1: err says why. */
typedef void (*tether_job_cb)(struct tether_job *job, int rc, const struct tether_error *err,
                              const char *out);

struct tether_job {
    struct tether_child child;
    struct tether_runtime_cmd cmd;
    tether_job_cb done;
    void *data;                /* the caller's context */
    void *call;                /* the pending call this job answers, if any */
    uint64_t mark;             /* reaper mark when the job started */
    struct tether_timer timer; /* the time limit, when there is one */
    unsigned timeout_ms;
    bool timed_out;
    struct tether_job **list; /* the owner's list of jobs in flight */
    struct tether_job *next;
};

/* Spawns op; on success the job is linked into *list and done() will run once the runtime
 * child is reaped (then the job is unlinked and freed). A job past its time limit fails
 * with kind TETHER_ERR_TIMEOUT. */
struct tether_job *tether_job_spawn(const struct tether_job_env *env, enum tether_runtime_op op,
                                    const struct tether_runtime_args *args, tether_job_cb done,
                                    void *data, struct tether_job **list, struct tether_error *err);

/* Kills (SIGKILL) and reaps every job of list, completes each with a "shutting down"
 * error (so whoever waits on it gets an answer) and frees it; for teardown. */
void tether_job_abort_all(struct tether_reaper *reaper, struct tether_job **list);

#endif
