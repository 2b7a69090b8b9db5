#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tether/util.h>

#include "bundle.h"
#include "supervise.h"

/* A run this long resets the backoff (Docker uses the same 10 s). */
#define RESTART_RESET_MS 10000

static uint64_t ms_since(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)(now.tv_sec - t->tv_sec) * 1000 +
           (uint64_t)((now.tv_nsec - t->tv_nsec) / 1000000);
}

static void answer_exit(const struct tether_container *ctr, struct tether_call *call)
{
    struct tether_result res = {.pid = ctr->init.pid, .exit = ctr->init.exit};

    tether_call_ok(call, &res);
}

static void answer_stops(struct tether_container *ctr)
{
    struct tether_call *calls = ctr->stop_calls;

    ctr->stop_calls = NULL;
    ctr->stop_pending = false;
    tether_timer_disarm(&ctr->stop_timer);
    while (calls != NULL) {
        struct tether_call *call = calls;
        calls = call->next;
        answer_exit(ctr, call);
    }
}

static void kill_all_done(struct tether_job *job, int rc, const struct tether_error *err,
                          const char *out)
{
    struct tether_container *ctr = job->data;

    (void)out;
    if (rc < 0)
        log_debug(ctr->env.log, "stop: kill --all: %s", err->msg);
}

static void kill_all(struct tether_container *ctr)
{
    struct tether_runtime_args args;
    struct tether_error err = {0};

    /* The init is our unreaped child: its pid is still its own. The runtime's kill --all
     * reaches the rest of the container (a shared PID namespace keeps them alive). */
    if (!ctr->init.exited && ctr->init.pid > 0)
        kill(ctr->init.pid, SIGKILL);
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.signal = SIGKILL;
    args.all = true;
    if (tether_job_spawn(&ctr->jobenv, TETHER_RT_KILL, &args, kill_all_done, ctr, &ctr->jobs,
                         &err) == NULL)
        log_warn(ctr->env.log, "stop: kill --all: %s", err.msg);
}

static void stop_timeout(struct tether_timer *timer)
{
    struct tether_container *ctr = container_of(timer, struct tether_container, stop_timer);

    log_info(ctr->env.log, "stop: container %s did not exit within %u s: SIGKILL", ctr->env.id,
             ctr->stop_timeout_s);
    kill_all(ctr);
}

/* Signals the running (or created, or paused) init and arms the grace period. */
static void stop_begin(struct tether_container *ctr)
{
    struct tether_error err = {0};
    char name[32];

    ctr->stop_pending = false;
    if (ctr->init.exited || ctr->init.pid <= 0)
        return;
    log_info(ctr->env.log, "stop: %s to container %s, %u s before SIGKILL",
             tether_signal_name(ctr->stop_signal, name, sizeof(name)), ctr->env.id,
             ctr->stop_timeout_s);
    if (ctr->stop_timeout_s == 0 || ctr->stop_signal == SIGKILL) {
        kill_all(ctr);
        return;
    }
    kill(ctr->init.pid, ctr->stop_signal);
    if (ctr->state == TETHER_CTR_PAUSED) {
        /* A frozen process gets no signal: thaw it so the stop can happen. */
        struct tether_call *none = NULL;
        if (tether_container_pause(ctr, false, none, &err) < 0)
            log_warn(ctr->env.log, "stop: resume: %s", err.msg);
    }
    if (tether_timer_arm(&ctr->stop_timer, (uint64_t)ctr->stop_timeout_s * 1000, &err) < 0) {
        log_error(ctr->env.log, "stop: %s; killing now", err.msg);
        kill_all(ctr);
    }
}

int tether_container_stop(struct tether_container *ctr, int sig, unsigned timeout_s,
                          struct tether_call *call, struct tether_error *err)
{
    bool running = false;

    if (tether_container_refuse_external(ctr, "stop", err) < 0)
        return -1;
    if (ctr->state == TETHER_CTR_NEW)
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "container %s is not created",
                                 ctr->env.id);
    if (ctr->state == TETHER_CTR_DELETING)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "container %s is being deleted",
                                 ctr->env.id);
    ctr->user_stopped = true;
    tether_timer_disarm(&ctr->restart_timer);
    if (ctr->init.exit_announced && !ctr->restarting) {
        answer_exit(ctr, call);
        return 0;
    }
    running = ctr->stop_calls != NULL;
    call->next = ctr->stop_calls;
    ctr->stop_calls = call;
    if (running && !ctr->stop_pending)
        return 0; /* a stop is already under way: this one shares its end */
    ctr->stop_signal = sig > 0 ? sig : tether_bundle_stop_signal(ctr->env.bundle);
    ctr->stop_timeout_s = timeout_s;
    if (ctr->state == TETHER_CTR_CREATING || ctr->state == TETHER_CTR_STARTING ||
        ctr->state == TETHER_CTR_PAUSING || ctr->state == TETHER_CTR_RESUMING) {
        /* The runtime is busy with the container: go on once it is done. */
        ctr->stop_pending = true;
        return 0;
    }
    stop_begin(ctr);
    return 0;
}

void tether_supervise_settled(struct tether_container *ctr)
{
    if (!ctr->stop_pending)
        return;
    if (ctr->state == TETHER_CTR_NEW) {
        /* The (re)create failed: nothing is left to stop. */
        answer_stops(ctr);
        return;
    }
    if (ctr->state == TETHER_CTR_CREATED || ctr->state == TETHER_CTR_RUNNING ||
        ctr->state == TETHER_CTR_PAUSED)
        stop_begin(ctr);
}

bool tether_supervise_user_kill(struct tether_container *ctr)
{
    bool pending = tether_timer_armed(&ctr->restart_timer);

    ctr->user_stopped = true;
    tether_timer_disarm(&ctr->restart_timer);
    return pending;
}

static void restart_delete_done(struct tether_job *job, int rc, const struct tether_error *err,
                                const char *out)
{
    struct tether_container *ctr = job->data;
    struct tether_error cerr = {0};

    (void)out;
    /* A failed delete usually means there was nothing left to delete. */
    if (rc < 0)
        log_debug(ctr->env.log, "restart: delete: %s", err->msg);
    if (ctr->user_stopped) {
        /* Stopped while the old container was being removed: it stays stopped, with its
         * last exit, and only the shim's record of it is left to delete. */
        ctr->restarting = false;
        ctr->runtime_gone = rc == 0;
        tether_container_transition(ctr, TETHER_CTR_EV_RESTART_ABORTED);
        answer_stops(ctr);
        return;
    }
    ctr->last_exit = ctr->init.exit;
    tether_process_fini(&ctr->init);
    tether_process_init(&ctr->init, ctr, NULL, ctr->init.child.exited);
    if (tether_container_spawn_create(ctr, NULL, &cerr) < 0)
        tether_supervise_restart_failed(ctr, &cerr);
}

static void restart_fire(struct tether_timer *timer)
{
    struct tether_container *ctr = container_of(timer, struct tether_container, restart_timer);
    struct tether_runtime_args args;
    struct tether_error err = {0};

    if (ctr->state != TETHER_CTR_STOPPED || ctr->user_stopped)
        return;
    ctr->restarts++;
    ctr->restarting = true;
    log_info(ctr->env.log, "restarting container %s (attempt %u)", ctr->env.id, ctr->restarts);
    tether_container_transition(ctr, TETHER_CTR_EV_RESTART);
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.force = true;
    if (tether_job_spawn(&ctr->jobenv, TETHER_RT_DELETE, &args, restart_delete_done, ctr,
                         &ctr->jobs, &err) == NULL) {
        log_error(ctr->env.log, "restart: %s", err.msg);
        ctr->restarting = false;
        tether_container_transition(ctr, TETHER_CTR_EV_CREATE_FAILED);
    }
}

void tether_supervise_exited(struct tether_container *ctr)
{
    const struct tether_restart_policy *pol = &ctr->opts.restart;
    struct tether_error err = {0};
    uint64_t delay;
    unsigned i;
    bool wanted;

    answer_stops(ctr);
    if (pol->kind == TETHER_RESTART_NO || ctr->user_stopped || ctr->state != TETHER_CTR_STOPPED)
        return;
    wanted = pol->kind != TETHER_RESTART_ON_FAILURE || ctr->init.exit.exit_status != 0;
    if (!wanted)
        return;
    if (pol->max_retries > 0 && ctr->restarts >= pol->max_retries) {
        log_info(ctr->env.log, "container %s: no restart, %u retries done", ctr->env.id,
                 ctr->restarts);
        return;
    }
    if (ctr->started_at.tv_sec != 0 && ms_since(&ctr->started_at) >= RESTART_RESET_MS)
        ctr->failures = 0;
    delay = pol->backoff_ms;
    for (i = 0; i < ctr->failures && delay < pol->max_backoff_ms; i++)
        delay *= 2;
    if (delay > pol->max_backoff_ms)
        delay = pol->max_backoff_ms;
    ctr->failures++;
    log_info(ctr->env.log, "container %s: restart in %llu ms", ctr->env.id,
             (unsigned long long)delay);
    if (tether_timer_arm(&ctr->restart_timer, delay, &err) < 0)
        log_error(ctr->env.log, "restart: %s", err.msg);
}

void tether_supervise_restart_failed(struct tether_container *ctr, const struct tether_error *why)
{
    log_error(ctr->env.log, "restart %u of container %s failed: %s", ctr->restarts, ctr->env.id,
              why->msg);
    ctr->restarting = false;
    ctr->user_stopped = true; /* no further attempts: the next would fail alike */
    ctr->init.exit = ctr->last_exit;
    ctr->init.exited = true;
    ctr->init.exit_announced = true;
    ctr->init.state = TETHER_PROC_STOPPED;
    tether_container_transition(ctr, TETHER_CTR_EV_RESTART_ABORTED);
    {
        struct tether_event ev = {.topic = TETHER_TOPIC_RESTART_FAILED,
                                  .attempt = ctr->restarts,
                                  .text = (char *)why->msg};
        tether_container_publish(ctr, &ev);
    }
    /* Waits that came during the attempt get the exit that is still the latest. */
    tether_process_answer_waits(&ctr->init);
    answer_stops(ctr);
}

void tether_supervise_reset(struct tether_container *ctr)
{
    ctr->restarting = false;
    ctr->user_stopped = false;
    ctr->restarts = 0;
    ctr->failures = 0;
    memset(&ctr->started_at, 0, sizeof(ctr->started_at));
    tether_timer_disarm(&ctr->restart_timer);
}

void tether_supervise_init(struct tether_container *ctr)
{
    tether_timer_init(&ctr->restart_timer, ctr->env.loop, restart_fire);
    tether_timer_init(&ctr->stop_timer, ctr->env.loop, stop_timeout);
}

void tether_supervise_fini(struct tether_container *ctr)
{
    struct tether_error err = {0};

    tether_timer_fini(&ctr->restart_timer);
    tether_timer_fini(&ctr->stop_timer);
    tether_error_setk(&err, TETHER_ERR_STATE, 0, "the shim is shutting down");
    while (ctr->stop_calls != NULL) {
        struct tether_call *call = ctr->stop_calls;
        ctr->stop_calls = call->next;
        tether_call_fail(call, &err);
    }
}
