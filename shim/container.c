#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/util.h>

#include "container.h"

#define X (-1)
/* next state for each (state, event); X = not allowed. */
static const signed char transitions[TETHER_CTR_STATE_COUNT][TETHER_CTR_EV_COUNT] = {
    /*                 CREATE               CREATED            CREATE_FAILED    START
                       STARTED              START_FAILED       EXIT               DELETE
                       DELETED */
    [TETHER_CTR_NEW] = {TETHER_CTR_CREATING, X, X, X, X, X, X, X, X},
    [TETHER_CTR_CREATING] = {X, TETHER_CTR_CREATED, TETHER_CTR_NEW, X, X, X, TETHER_CTR_STOPPED, X,
                             X},
    [TETHER_CTR_CREATED] = {X, X, X, TETHER_CTR_STARTING, X, X, TETHER_CTR_STOPPED,
                            TETHER_CTR_DELETING, X},
    [TETHER_CTR_STARTING] = {X, X, X, X, TETHER_CTR_RUNNING, TETHER_CTR_CREATED, TETHER_CTR_STOPPED,
                             X, X},
    [TETHER_CTR_RUNNING] = {X, X, X, X, X, X, TETHER_CTR_STOPPED, TETHER_CTR_DELETING, X},
    [TETHER_CTR_STOPPED] = {X, X, X, X, X, X, X, TETHER_CTR_DELETING, X},
    [TETHER_CTR_DELETING] = {X, X, X, X, X, X, TETHER_CTR_DELETING, X, TETHER_CTR_NEW},
};
#undef X

static const char *const state_names[TETHER_CTR_STATE_COUNT] = {
    [TETHER_CTR_NEW] = "new",          [TETHER_CTR_CREATING] = "creating",
    [TETHER_CTR_CREATED] = "created",  [TETHER_CTR_STARTING] = "created",
    [TETHER_CTR_RUNNING] = "running",  [TETHER_CTR_STOPPED] = "stopped",
    [TETHER_CTR_DELETING] = "stopped",
};

int tether_container_next_state(enum tether_ctr_state state, enum tether_ctr_event ev)
{
    if ((unsigned)state >= TETHER_CTR_STATE_COUNT || (unsigned)ev >= TETHER_CTR_EV_COUNT)
        return -1;
    return transitions[state][ev];
}

const char *tether_container_status(const struct tether_container *ctr)
{
    if (ctr->state == TETHER_CTR_DELETING && !ctr->exited)
        return state_names[ctr->before_delete];
    return state_names[ctr->state];
}

/* Refuses an event the current state does not allow, with the protocol's invalid-state
 * error. */
static int check_event(const struct tether_container *ctr, enum tether_ctr_event ev,
                       const char *what, struct tether_error *err)
{
    if (tether_container_next_state(ctr->state, ev) < 0)
        return tether_error_setk(
            err, ctr->state == TETHER_CTR_NEW ? TETHER_ERR_NOT_FOUND : TETHER_ERR_STATE, 0,
            "cannot %s container %s: it is %s", what, ctr->env.id,
            ctr->state == TETHER_CTR_NEW ? "not created" : tether_container_status(ctr));
    return 0;
}

static void transition(struct tether_container *ctr, enum tether_ctr_event ev)
{
    int next = tether_container_next_state(ctr->state, ev);

    if (next < 0) {
        /* A bug in the model, not a client error: keep the state and say so loudly. */
        log_error(ctr->env.log, "internal: event %d not allowed in state %s", (int)ev,
                  state_names[ctr->state]);
        return;
    }
    log_debug(ctr->env.log, "container %s: %s -> %s", ctr->env.id, state_names[ctr->state],
              state_names[next]);
    ctr->state = (enum tether_ctr_state)next;
}

static void publish(struct tether_container *ctr, const char *topic, json_t *fields)
{
    const struct tether_event *ev =
        tether_events_publish(ctr->env.events, topic, ctr->env.id, fields);

    if (ctr->env.on_event != NULL)
        ctr->env.on_event(ctr->env.opaque, ev);
}

static json_t *pid_result(pid_t pid)
{
    return json_pack("{s:i}", "pid", (int)pid);
}

static json_t *exit_json(const struct tether_container *ctr)
{
    json_t *obj = json_object();

    tether_exit_to_json(&ctr->exit, obj);
    return obj;
}

static void init_exited(struct tether_child *child, int status, const struct timespec *at);

void tether_container_init(struct tether_container *ctr, const struct tether_ctr_env *env)
{
    memset(ctr, 0, sizeof(*ctr));
    ctr->env = *env;
    ctr->state = TETHER_CTR_NEW;
    ctr->init.exited = init_exited;
    ctr->exit_path = xasprintf("%s/exit.json", env->dir);
    tether_io_init(&ctr->io, env->log, env->loop);
}

static void fail_calls(struct tether_call **list, const struct tether_error *err)
{
    while (*list != NULL) {
        struct tether_call *call = *list;
        *list = call->next;
        tether_call_fail(call, err);
    }
}

void tether_container_fini(struct tether_container *ctr)
{
    struct tether_error err = {0};

    tether_error_setk(&err, TETHER_ERR_STATE, 0, "the shim is shutting down");
    tether_job_abort_all(ctr->env.reaper, &ctr->jobs);
    fail_calls(&ctr->waiters, &err);
    if (ctr->delete_call != NULL) {
        struct tether_call *call = ctr->delete_call;
        ctr->delete_call = NULL;
        tether_call_fail(call, &err);
    }
    tether_reaper_unwatch(ctr->env.reaper, &ctr->init);
    tether_io_close(&ctr->io);
    free(ctr->exit_path);
    ctr->exit_path = NULL;
}

void tether_container_cancel(struct tether_container *ctr, uint64_t owner)
{
    struct tether_call **pp = &ctr->waiters;

    /* Only waits are dropped: an operation in flight completes whether or not anyone is
     * left to hear the answer. */
    while (*pp != NULL) {
        struct tether_call *call = *pp;
        if (call->owner == owner) {
            struct tether_error err = {0};
            *pp = call->next;
            tether_error_setk(&err, TETHER_ERR_STATE, 0, "client gone");
            tether_call_fail(call, &err);
        } else {
            pp = &call->next;
        }
    }
}

static struct tether_job *spawn(struct tether_container *ctr, enum tether_runtime_op op,
                                const struct tether_runtime_args *args, tether_job_cb done,
                                struct tether_call *call, struct tether_error *err)
{
    struct tether_job *job =
        tether_job_spawn(ctr->env.reaper, ctr->env.rt, op, args, done, ctr, &ctr->jobs, err);

    if (job != NULL)
        job->call = call;
    return job;
}

/* ---- exit ---- */

static void finish_delete(struct tether_container *ctr);

/* The init exited and nothing holds its exit back any more: drain its output, persist
 * the status, then tell the world, in that order. */
static void record_exit(struct tether_container *ctr)
{
    struct tether_error err = {0};
    struct tether_call *waiters = ctr->waiters;

    tether_io_drain(&ctr->io);
    if (tether_exit_write(&ctr->exit, ctr->exit_path, &err) < 0) {
        log_error(ctr->env.log, "cannot write exit status: %s (kept in memory)", err.msg);
        ctr->exit_write_pending = true;
    } else {
        ctr->exit_write_pending = false;
    }
    log_info(ctr->env.log, "container %s exited with status %d", ctr->env.id,
             ctr->exit.exit_status);
    transition(ctr, TETHER_CTR_EV_EXIT);
    json_t *fields = exit_json(ctr);
    json_object_set_new(fields, "pid", json_integer(ctr->pid));
    publish(ctr, "exit", fields);

    ctr->waiters = NULL;
    while (waiters != NULL) {
        struct tether_call *call = waiters;
        waiters = call->next;
        tether_call_ok(call, exit_json(ctr));
    }
    if (ctr->state == TETHER_CTR_DELETING && ctr->delete_done)
        finish_delete(ctr);
}

static void init_exited(struct tether_child *child, int status, const struct timespec *at)
{
    struct tether_container *ctr = container_of(child, struct tether_container, init);

    tether_exit_from_wait(&ctr->exit, status, at);
    ctr->exited = true;
    if (ctr->state == TETHER_CTR_STARTING || ctr->state == TETHER_CTR_CREATING) {
        /* The start (or create) event must come first: hold the exit until the runtime
         * command reports. */
        ctr->exit_deferred = true;
        return;
    }
    record_exit(ctr);
}

/* ---- create ---- */

static void create_done(struct tether_job *job, int rc, const struct tether_error *err,
                        const char *out)
{
    struct tether_container *ctr = job->data;
    struct tether_call *call = job->call;
    struct tether_error perr = {0};
    cleanup_free char *pid_path = xasprintf("%s/init.pid", ctr->env.dir);
    cleanup_free char *pid_text = NULL;
    char *end;
    long pid;

    (void)out;
    if (rc < 0) {
        log_warn(ctr->env.log, "create failed: %s", err->msg);
        tether_io_drain(&ctr->io);
        tether_io_close(&ctr->io);
        transition(ctr, TETHER_CTR_EV_CREATE_FAILED);
        tether_call_fail(call, err);
        return;
    }
    if (tether_read_file(pid_path, 64, &pid_text, NULL, &perr) < 0 ||
        (errno = 0, pid = strtol(pid_text, &end, 10),
         errno != 0 || pid <= 0 || (*end != '\0' && *end != '\n'))) {
        if (perr.kind == TETHER_ERR_NONE)
            tether_error_setk(&perr, TETHER_ERR_RUNTIME, 0, "runtime wrote a bad pid file %s",
                              pid_path);
        log_error(ctr->env.log, "%s", perr.msg);
        tether_io_close(&ctr->io);
        transition(ctr, TETHER_CTR_EV_CREATE_FAILED);
        tether_call_fail(call, &perr);
        return;
    }
    ctr->pid = (pid_t)pid;
    ctr->init.pid = ctr->pid;
    transition(ctr, TETHER_CTR_EV_CREATED);
    log_info(ctr->env.log, "container %s created, init pid %d", ctr->env.id, (int)pid);
    publish(ctr, "create", json_pack("{s:i}", "pid", (int)pid));
    tether_call_ok(call, pid_result(ctr->pid));
    /* The init can only have exited already if something killed it; adopt() then reports
     * that exit right away. */
    tether_reaper_adopt(ctr->env.reaper, &ctr->init, job->mark);
}

int tether_container_create(struct tether_container *ctr, const struct tether_create_opts *opts,
                            struct tether_call *call, struct tether_error *err)
{
    struct tether_runtime_args args;
    cleanup_free char *pid_path = xasprintf("%s/init.pid", ctr->env.dir);

    if (ctr->state != TETHER_CTR_NEW)
        return tether_error_setk(err, TETHER_ERR_EXISTS, 0, "container %s already exists (%s)",
                                 ctr->env.id, tether_container_status(ctr));
    if (opts->terminal)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "terminal mode is not supported");
    unlink(pid_path);
    if (tether_io_prepare(&ctr->io, &opts->log, opts->stdin, err) < 0)
        return -1;
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.bundle = ctr->env.bundle;
    args.pid_file = pid_path;
    args.extra = (const char *const *)opts->runtime_args;
    args.stdin_fd = ctr->io.child_fds[0];
    args.stdout_fd = ctr->io.child_fds[1];
    args.stderr_fd = ctr->io.child_fds[2];
    if (spawn(ctr, TETHER_RT_CREATE, &args, create_done, call, err) == NULL) {
        tether_io_close(&ctr->io);
        return -1;
    }
    if (tether_io_start(&ctr->io, err) < 0)
        log_error(ctr->env.log, "container output will be lost: %s", err->msg);
    ctr->exited = false;
    ctr->exit_deferred = false;
    ctr->pid = 0;
    transition(ctr, TETHER_CTR_EV_CREATE);
    return 0;
}

/* ---- start ---- */

static void start_done(struct tether_job *job, int rc, const struct tether_error *err,
                       const char *out)
{
    struct tether_container *ctr = job->data;
    struct tether_call *call = job->call;

    (void)out;
    if (rc < 0 && !ctr->exit_deferred) {
        log_warn(ctr->env.log, "start failed: %s", err->msg);
        transition(ctr, TETHER_CTR_EV_START_FAILED);
        tether_call_fail(call, err);
        return;
    }
    /* If the init already exited, the container did start (the runtime may still report
     * an error when the process was gone before it looked). */
    transition(ctr, TETHER_CTR_EV_STARTED);
    publish(ctr, "start", json_pack("{s:i}", "pid", (int)ctr->pid));
    tether_call_ok(call, pid_result(ctr->pid));
    if (ctr->exit_deferred) {
        ctr->exit_deferred = false;
        record_exit(ctr);
    }
}

int tether_container_start(struct tether_container *ctr, struct tether_call *call,
                           struct tether_error *err)
{
    struct tether_runtime_args args;

    if (check_event(ctr, TETHER_CTR_EV_START, "start", err) < 0)
        return -1;
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    if (spawn(ctr, TETHER_RT_START, &args, start_done, call, err) == NULL)
        return -1;
    transition(ctr, TETHER_CTR_EV_START);
    return 0;
}

/* ---- kill ---- */

static void simple_done(struct tether_job *job, int rc, const struct tether_error *err,
                        const char *out)
{
    (void)out;
    if (rc < 0)
        tether_call_fail(job->call, err);
    else
        tether_call_ok(job->call, json_object());
}

int tether_container_kill(struct tether_container *ctr, int sig, bool all, struct tether_call *call,
                          struct tether_error *err)
{
    struct tether_runtime_args args;

    if (ctr->state == TETHER_CTR_NEW)
        return check_event(ctr, TETHER_CTR_EV_START, "kill", err);
    if (ctr->exited || ctr->state == TETHER_CTR_CREATING || ctr->state == TETHER_CTR_STOPPED ||
        ctr->state == TETHER_CTR_DELETING)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "cannot kill container %s: it is %s",
                                 ctr->env.id,
                                 ctr->exited ? "stopped" : tether_container_status(ctr));
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.signal = sig;
    args.all = all;
    return spawn(ctr, TETHER_RT_KILL, &args, simple_done, call, err) == NULL ? -1 : 0;
}

/* ---- wait ---- */

int tether_container_wait(struct tether_container *ctr, struct tether_call *call,
                          struct tether_error *err)
{
    if (ctr->state == TETHER_CTR_NEW)
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "container %s is not created",
                                 ctr->env.id);
    if (ctr->exited && !ctr->exit_deferred) {
        tether_call_ok(call, exit_json(ctr));
        return 0;
    }
    call->next = ctr->waiters;
    ctr->waiters = call;
    return 0;
}

/* ---- delete ---- */

static void finish_delete(struct tether_container *ctr)
{
    struct tether_call *call = ctr->delete_call;

    ctr->delete_call = NULL;
    if (ctr->delete_err.kind != TETHER_ERR_NONE) {
        /* The runtime could not delete: the container stays as it was. */
        ctr->state = ctr->exited ? TETHER_CTR_STOPPED : ctr->before_delete;
        if (call != NULL)
            tether_call_fail(call, &ctr->delete_err);
        return;
    }
    transition(ctr, TETHER_CTR_EV_DELETED);
    tether_io_close(&ctr->io);
    publish(ctr, "delete", json_pack("{s:i}", "exit_status", ctr->exit.exit_status));
    log_info(ctr->env.log, "container %s deleted", ctr->env.id);
    if (call != NULL)
        tether_call_ok(call, json_pack("{s:i}", "exit_status", ctr->exit.exit_status));
    ctr->pid = 0;
}

static void delete_done(struct tether_job *job, int rc, const struct tether_error *err,
                        const char *out)
{
    struct tether_container *ctr = job->data;

    (void)out;
    ctr->delete_done = true;
    if (rc < 0) {
        ctr->delete_err = *err;
        log_warn(ctr->env.log, "delete failed: %s", err->msg);
    }
    if ((ctr->exited && !ctr->exit_deferred) || rc < 0)
        finish_delete(ctr);
}

int tether_container_delete(struct tether_container *ctr, bool force, struct tether_call *call,
                            struct tether_error *err)
{
    struct tether_runtime_args args;

    if (check_event(ctr, TETHER_CTR_EV_DELETE, "delete", err) < 0)
        return -1;
    if (!ctr->exited && ctr->state == TETHER_CTR_RUNNING && !force)
        return tether_error_setk(err, TETHER_ERR_STATE, 0,
                                 "container %s is running: stop it first or use force",
                                 ctr->env.id);
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    /* A created or running container is killed by the runtime's forced delete; its exit
     * is then reaped, recorded and published like any other before delete completes. */
    args.force = !ctr->exited;
    if (spawn(ctr, TETHER_RT_DELETE, &args, delete_done, NULL, err) == NULL)
        return -1;
    ctr->delete_call = call;
    ctr->delete_done = false;
    ctr->before_delete = ctr->state;
    tether_error_clear(&ctr->delete_err);
    transition(ctr, TETHER_CTR_EV_DELETE);
    return 0;
}

/* ---- pids, state ---- */

static void pids_done(struct tether_job *job, int rc, const struct tether_error *err,
                      const char *out)
{
    struct tether_error perr = {0};
    cleanup_free pid_t *pids = NULL;
    size_t n = 0, i;
    json_t *list;

    if (rc < 0) {
        tether_call_fail(job->call, err);
        return;
    }
    if (tether_runtime_parse_ps(out, &pids, &n, &perr) < 0) {
        perr.kind = TETHER_ERR_RUNTIME;
        tether_call_fail(job->call, &perr);
        return;
    }
    list = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:i}", "pid", (int)pids[i]));
    tether_call_ok(job->call, json_pack("{s:o}", "pids", list));
}

int tether_container_pids(struct tether_container *ctr, struct tether_call *call,
                          struct tether_error *err)
{
    struct tether_runtime_args args;

    if (ctr->state == TETHER_CTR_NEW || ctr->state == TETHER_CTR_CREATING)
        return tether_error_setk(
            err, ctr->state == TETHER_CTR_NEW ? TETHER_ERR_NOT_FOUND : TETHER_ERR_STATE, 0,
            "container %s is %s", ctr->env.id,
            ctr->state == TETHER_CTR_NEW ? "not created" : "being created");
    if (ctr->exited) {
        tether_call_ok(call, json_pack("{s:[]}", "pids"));
        return 0;
    }
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    return spawn(ctr, TETHER_RT_PS, &args, pids_done, call, err) == NULL ? -1 : 0;
}

json_t *tether_container_state_json(const struct tether_container *ctr, struct tether_error *err)
{
    json_t *st;

    if (ctr->state == TETHER_CTR_NEW) {
        tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "container %s is not created", ctr->env.id);
        return NULL;
    }
    st = json_pack("{s:s,s:s,s:i,s:s}", "id", ctr->env.id, "bundle", ctr->env.bundle, "pid",
                   (int)ctr->pid, "status",
                   ctr->exited && !ctr->exit_deferred ? "stopped" : tether_container_status(ctr));
    if (ctr->exited && !ctr->exit_deferred)
        tether_exit_to_json(&ctr->exit, st);
    return st;
}
