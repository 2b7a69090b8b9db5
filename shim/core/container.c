#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <tether/util.h>

#include "bundle.h"
#include "container.h"
#include "supervise.h"

/* The next state for each (state, event), stored as state + 1 so that every pair left
 * out (0) is refused. The init's exit is accepted wherever a process exists. */
#define T(next) ((next) + 1)
static const unsigned char transitions[TETHER_CTR_STATE_COUNT][TETHER_CTR_EV_COUNT] = {
    [TETHER_CTR_NEW] = {[TETHER_CTR_EV_CREATE] = T(TETHER_CTR_CREATING)},
    [TETHER_CTR_CREATING] = {[TETHER_CTR_EV_CREATED] = T(TETHER_CTR_CREATED),
                             [TETHER_CTR_EV_CREATE_FAILED] = T(TETHER_CTR_NEW),
                             [TETHER_CTR_EV_RESTART_ABORTED] = T(TETHER_CTR_STOPPED)},
    [TETHER_CTR_CREATED] = {[TETHER_CTR_EV_START] = T(TETHER_CTR_STARTING),
                            [TETHER_CTR_EV_EXIT] = T(TETHER_CTR_STOPPED),
                            [TETHER_CTR_EV_DELETE] = T(TETHER_CTR_DELETING)},
    [TETHER_CTR_STARTING] = {[TETHER_CTR_EV_STARTED] = T(TETHER_CTR_RUNNING),
                             [TETHER_CTR_EV_START_FAILED] = T(TETHER_CTR_CREATED)},
    [TETHER_CTR_RUNNING] = {[TETHER_CTR_EV_PAUSE] = T(TETHER_CTR_PAUSING),
                            [TETHER_CTR_EV_EXIT] = T(TETHER_CTR_STOPPED),
                            [TETHER_CTR_EV_DELETE] = T(TETHER_CTR_DELETING)},
    [TETHER_CTR_PAUSING] = {[TETHER_CTR_EV_PAUSED] = T(TETHER_CTR_PAUSED),
                            [TETHER_CTR_EV_RESUMED] = T(TETHER_CTR_RUNNING)},
    [TETHER_CTR_PAUSED] = {[TETHER_CTR_EV_RESUME] = T(TETHER_CTR_RESUMING),
                           [TETHER_CTR_EV_EXIT] = T(TETHER_CTR_STOPPED),
                           [TETHER_CTR_EV_DELETE] = T(TETHER_CTR_DELETING)},
    [TETHER_CTR_RESUMING] = {[TETHER_CTR_EV_PAUSED] = T(TETHER_CTR_PAUSED),
                             [TETHER_CTR_EV_RESUMED] = T(TETHER_CTR_RUNNING)},
    [TETHER_CTR_STOPPED] = {[TETHER_CTR_EV_DELETE] = T(TETHER_CTR_DELETING),
                            [TETHER_CTR_EV_RESTART] = T(TETHER_CTR_CREATING)},
    [TETHER_CTR_DELETING] = {[TETHER_CTR_EV_EXIT] = T(TETHER_CTR_DELETING),
                             [TETHER_CTR_EV_DELETED] = T(TETHER_CTR_NEW)},
};
#undef T

static const char *const state_names[TETHER_CTR_STATE_COUNT] = {
    [TETHER_CTR_NEW] = "new",         [TETHER_CTR_CREATING] = "creating",
    [TETHER_CTR_CREATED] = "created", [TETHER_CTR_STARTING] = "starting",
    [TETHER_CTR_RUNNING] = "running", [TETHER_CTR_PAUSING] = "pausing",
    [TETHER_CTR_PAUSED] = "paused",   [TETHER_CTR_RESUMING] = "resuming",
    [TETHER_CTR_STOPPED] = "stopped", [TETHER_CTR_DELETING] = "deleting",
};

/* What front ends show: transient states look like the state they leave. */
static const enum tether_status statuses[TETHER_CTR_STATE_COUNT] = {
    [TETHER_CTR_NEW] = TETHER_STATUS_UNKNOWN,     [TETHER_CTR_CREATING] = TETHER_STATUS_CREATING,
    [TETHER_CTR_CREATED] = TETHER_STATUS_CREATED, [TETHER_CTR_STARTING] = TETHER_STATUS_CREATED,
    [TETHER_CTR_RUNNING] = TETHER_STATUS_RUNNING, [TETHER_CTR_PAUSING] = TETHER_STATUS_RUNNING,
    [TETHER_CTR_PAUSED] = TETHER_STATUS_PAUSED,   [TETHER_CTR_RESUMING] = TETHER_STATUS_PAUSED,
    [TETHER_CTR_STOPPED] = TETHER_STATUS_STOPPED, [TETHER_CTR_DELETING] = TETHER_STATUS_STOPPED,
};

static const char *const status_names[] = {
    [TETHER_STATUS_UNKNOWN] = "unknown", [TETHER_STATUS_CREATING] = "creating",
    [TETHER_STATUS_CREATED] = "created", [TETHER_STATUS_RUNNING] = "running",
    [TETHER_STATUS_PAUSED] = "paused",   [TETHER_STATUS_STOPPED] = "stopped",
};

const char *tether_status_name(enum tether_status status)
{
    if ((unsigned)status >= TETHER_ARRAY_SIZE(status_names))
        return "unknown";
    return status_names[status];
}

int tether_container_next_state(enum tether_ctr_state state, enum tether_ctr_event ev)
{
    if ((unsigned)state >= TETHER_CTR_STATE_COUNT || (unsigned)ev >= TETHER_CTR_EV_COUNT)
        return -1;
    return (int)transitions[state][ev] - 1;
}

enum tether_status tether_container_status(const struct tether_container *ctr)
{
    if (ctr->init.exit_announced)
        return TETHER_STATUS_STOPPED;
    if (ctr->state == TETHER_CTR_DELETING)
        return statuses[ctr->before_delete];
    return statuses[ctr->state];
}

bool tether_container_created(const struct tether_container *ctr)
{
    return ctr->state != TETHER_CTR_NEW && ctr->state != TETHER_CTR_CREATING;
}

const char *tether_container_id(const struct tether_container *ctr)
{
    return ctr->env.id;
}

const char *tether_container_bundle(const struct tether_container *ctr)
{
    return ctr->env.bundle;
}

const char *tether_container_dir(const struct tether_container *ctr)
{
    return ctr->env.dir;
}

/* Refuses what the current state does not allow with the protocol's errors: not found
 * before create, invalid state otherwise. */
static int refuse(const struct tether_container *ctr, const char *what, struct tether_error *err)
{
    if (ctr->state == TETHER_CTR_NEW)
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0,
                                 "cannot %s container %s: it is not created", what, ctr->env.id);
    return tether_error_setk(err, TETHER_ERR_STATE, 0, "cannot %s container %s: it is %s", what,
                             ctr->env.id, state_names[ctr->state]);
}

static int check_event(const struct tether_container *ctr, enum tether_ctr_event ev,
                       const char *what, struct tether_error *err)
{
    if (tether_container_next_state(ctr->state, ev) < 0)
        return refuse(ctr, what, err);
    return 0;
}

void tether_container_transition(struct tether_container *ctr, enum tether_ctr_event ev)
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

void tether_container_publish(struct tether_container *ctr, const struct tether_event *tmpl)
{
    struct tether_event ev = *tmpl;

    ev.id = ctr->env.id;
    tether_core_publish(ctr->env.core, &ev);
}

/* An event that says only which pid. */
static void publish_pid(struct tether_container *ctr, enum tether_topic topic, pid_t pid)
{
    struct tether_event ev = {.topic = topic, .pid = pid};

    tether_container_publish(ctr, &ev);
}

static void answer_pid(struct tether_call *call, pid_t pid)
{
    struct tether_result res = {.pid = pid};

    tether_call_ok(call, &res);
}

static void init_exited(struct tether_child *child, int status, const struct timespec *at);
static void mark_started(struct tether_container *ctr);
static void oom_poll(struct tether_container *ctr, bool stop);
static void persist_retry(struct tether_timer *timer);
static void opts_free(struct tether_create_opts *opts);

void tether_container_init(struct tether_container *ctr, const struct tether_ctr_env *env)
{
    memset(ctr, 0, sizeof(*ctr));
    ctr->env = *env;
    ctr->state = TETHER_CTR_NEW;
    ctr->exit_path = env->persist_exit ? xasprintf("%s/exit.json", env->dir) : NULL;
    ctr->jobenv = (struct tether_job_env){.reaper = env->reaper,
                                          .rt = env->rt,
                                          .loop = env->loop,
                                          .timeout_ms = env->runtime_timeout_ms};
    ctr->oom_src.fd = -1;
    tether_process_opts_init(&ctr->opts.proc);
    tether_cgroup_init(&ctr->cg);
    tether_process_init(&ctr->init, ctr, NULL, init_exited);
    tether_timer_init(&ctr->persist_timer, env->loop, persist_retry);
    tether_seccomp_init(&ctr->seccomp, env->log, env->loop);
    tether_supervise_init(ctr);
    if (env->external) {
        /* Someone else created and started it: as far as execs go, it runs. */
        ctr->state = TETHER_CTR_RUNNING;
        ctr->init.state = TETHER_PROC_RUNNING;
    }
}

int tether_container_refuse_external(const struct tether_container *ctr, const char *what,
                                     struct tether_error *err)
{
    if (!ctr->env.external)
        return 0;
    return tether_error_setk(err, TETHER_ERR_STATE, 0,
                             "cannot %s container %s: it is external (watched for its execs only)",
                             what, ctr->env.id);
}

static void oom_stop(struct tether_container *ctr)
{
    if (ctr->oom_src.fd >= 0) {
        tether_loop_remove(ctr->env.loop, &ctr->oom_src);
        ctr->oom_src.fd = -1;
    }
    tether_cgroup_close(&ctr->cg);
    ctr->cg_open = false;
}

static void free_execs(struct tether_container *ctr)
{
    while (ctr->execs != NULL) {
        struct tether_process *p = ctr->execs;
        ctr->execs = p->next;
        tether_process_fini(p);
        free(p);
    }
}

void tether_container_fini(struct tether_container *ctr)
{
    struct tether_error err = {0};

    tether_error_setk(&err, TETHER_ERR_STATE, 0, "the shim is shutting down");
    tether_job_abort_all(ctr->env.reaper, &ctr->jobs);
    if (ctr->delete_call != NULL) {
        struct tether_call *call = ctr->delete_call;
        ctr->delete_call = NULL;
        tether_call_fail(call, &err);
    }
    free_execs(ctr);
    tether_process_fini(&ctr->init);
    tether_supervise_fini(ctr);
    tether_timer_fini(&ctr->persist_timer);
    tether_seccomp_fini(&ctr->seccomp);
    oom_stop(ctr);
    opts_free(&ctr->opts);
    free(ctr->runtime_bundle);
    ctr->runtime_bundle = NULL;
    free(ctr->exit_path);
    ctr->exit_path = NULL;
    free(ctr->env.id);
    free(ctr->env.bundle);
    free(ctr->env.dir);
    free(ctr->env.pid_file);
    memset(&ctr->env, 0, sizeof(ctr->env));
}

struct tether_process *tether_container_process(struct tether_container *ctr, const char *exec_id,
                                                struct tether_error *err)
{
    struct tether_process *p;

    if (ctr->state == TETHER_CTR_NEW) {
        tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "container %s is not created", ctr->env.id);
        return NULL;
    }
    if (exec_id == NULL)
        return &ctr->init;
    for (p = ctr->execs; p != NULL; p = p->next)
        if (strcmp(p->exec_id, exec_id) == 0)
            return p;
    tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "no exec %s in container %s", exec_id,
                      ctr->env.id);
    return NULL;
}

void tether_container_cancel(struct tether_container *ctr, uint64_t owner)
{
    struct tether_process *p;

    tether_process_cancel(&ctr->init, owner);
    for (p = ctr->execs; p != NULL; p = p->next)
        tether_process_cancel(p, owner);
}

static struct tether_job *spawn(struct tether_container *ctr, enum tether_runtime_op op,
                                const struct tether_runtime_args *args, tether_job_cb done,
                                struct tether_call *call, struct tether_error *err)
{
    struct tether_job *job = tether_job_spawn(&ctr->jobenv, op, args, done, ctr, &ctr->jobs, err);

    if (job != NULL)
        job->call = call;
    return job;
}

/* ---- the init's exit ---- */

static void finish_delete(struct tether_container *ctr);
static void release(struct tether_container *ctr);

static bool execs_starting(const struct tether_container *ctr)
{
    const struct tether_process *p;

    for (p = ctr->execs; p != NULL; p = p->next)
        if (p->state == TETHER_PROC_STARTING)
            return true;
    return false;
}

/* Retries of a failed exit.json write: from 1 s, doubling, up to 30 s between tries. */
#define PERSIST_RETRY_FIRST_MS 1000
#define PERSIST_RETRY_MAX_MS   30000

static void persist_exit(struct tether_container *ctr)
{
    struct tether_error err = {0};

    tether_timer_disarm(&ctr->persist_timer);
    if (ctr->exit_path == NULL) {
        /* The front end keeps the record (its own exit file). */
        ctr->exit_persisted = true;
        return;
    }
    if (tether_exit_write(&ctr->init.exit, ctr->exit_path, &err) < 0) {
        if (ctr->exit_persisted || ctr->persist_retry_ms == 0)
            log_error(ctr->env.log, "cannot write exit status: %s (kept in memory, retrying)",
                      err.msg);
        ctr->exit_persisted = false;
        ctr->persist_retry_ms =
            ctr->persist_retry_ms == 0 ? PERSIST_RETRY_FIRST_MS : ctr->persist_retry_ms * 2;
        if (ctr->persist_retry_ms > PERSIST_RETRY_MAX_MS)
            ctr->persist_retry_ms = PERSIST_RETRY_MAX_MS;
        if (tether_timer_arm(&ctr->persist_timer, ctr->persist_retry_ms, &err) < 0)
            log_error(ctr->env.log, "exit status retry: %s", err.msg);
        return;
    }
    if (ctr->persist_retry_ms != 0)
        log_info(ctr->env.log, "exit status written to %s", ctr->exit_path);
    ctr->persist_retry_ms = 0;
    ctr->exit_persisted = true;
}

static void persist_retry(struct tether_timer *timer)
{
    persist_exit(container_of(timer, struct tether_container, persist_timer));
}

/* Announces the init's exit once nothing must come before it: the create or start event
 * (their runtime commands are still running) and the exec_start of execs being started
 * (their exits, reaped before the init's, must be published first). The status is
 * persisted before anything is told. */
static void announce_init_exit(struct tether_container *ctr)
{
    struct tether_process *p = &ctr->init;

    if (!p->exited || p->exit_announced)
        return;
    if (ctr->state == TETHER_CTR_CREATING || ctr->state == TETHER_CTR_STARTING ||
        ctr->state == TETHER_CTR_PAUSING || ctr->state == TETHER_CTR_RESUMING ||
        execs_starting(ctr))
        return;
    /* OOM notifications of this run come before its exit; the watch ends with the run
     * (removing the cgroup at delete or restart would look like one more). */
    oom_poll(ctr, true);
    persist_exit(ctr);
    log_info(ctr->env.log, "container %s exited with status %d", ctr->env.id, p->exit.exit_status);
    tether_container_transition(ctr, TETHER_CTR_EV_EXIT);
    tether_process_announce_exit(p);
    if (ctr->state == TETHER_CTR_DELETING && ctr->delete_done)
        finish_delete(ctr);
    else
        tether_supervise_exited(ctr);
    if (ctr->opts.release_on_exit && ctr->opts.restart.kind == TETHER_RESTART_NO &&
        ctr->state == TETHER_CTR_STOPPED)
        release(ctr);
}

void tether_container_exec_settled(struct tether_container *ctr)
{
    announce_init_exit(ctr);
}

static void init_exited(struct tether_child *child, int status, const struct timespec *at)
{
    struct tether_process *p = container_of(child, struct tether_process, child);
    struct tether_container *ctr = p->ctr;
    bool killed = false;

    tether_exit_from_wait(&p->exit, status, at);
    p->exited = true;
    /* The kernel counts an OOM kill before it sends the SIGKILL. */
    if (p->exit.signal == SIGKILL && tether_cgroup_oom_killed(&ctr->cg, &killed, NULL) == 0)
        p->exit.oom_killed = killed;
    announce_init_exit(ctr);
}

/* ---- OOM ---- */

/* Publishes the OOM notifications pending on the watch; with stop, or when the cgroup is
 * gone, the watch ends. */
static void oom_poll(struct tether_container *ctr, bool stop)
{
    struct tether_error err = {0};
    unsigned n = 0;
    bool ended = stop;

    if (ctr->oom_src.fd < 0)
        return;
    if (tether_cgroup_oom_check(&ctr->cg, &n, &ended, &err) < 0) {
        log_warn(ctr->env.log, "OOM watch: %s", err.msg);
        ended = true;
    }
    while (n-- > 0) {
        ctr->oom_events++;
        log_warn(ctr->env.log, "container %s: out of memory", ctr->env.id);
        publish_pid(ctr, TETHER_TOPIC_OOM, ctr->init.pid);
    }
    if (ended || stop) {
        tether_loop_remove(ctr->env.loop, &ctr->oom_src);
        ctr->oom_src.fd = -1;
        tether_cgroup_oom_unwatch(&ctr->cg);
    }
}

static void oom_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    (void)loop;
    (void)revents;
    oom_poll(container_of(src, struct tether_container, oom_src), false);
}

/* Finds the init's cgroup once, while the init exists. */
static int cg_open(struct tether_container *ctr, struct tether_error *err)
{
    if (ctr->cg_open)
        return 0;
    if (tether_cgroup_open(&ctr->cg, ctr->init.pid, err) < 0)
        return -1;
    ctr->cg_open = true;
    return 0;
}

static void oom_start(struct tether_container *ctr)
{
    struct tether_error err = {0};
    int fd;

    if (cg_open(ctr, &err) < 0) {
        log_warn(ctr->env.log, "no cgroup for stats and OOM events: %s", err.msg);
        return;
    }
    fd = tether_cgroup_oom_watch(&ctr->cg, &err);
    if (fd < 0) {
        log_warn(ctr->env.log, "no OOM events: %s", err.msg);
        return;
    }
    ctr->oom_src.fd = fd;
    ctr->oom_src.events = EPOLLIN;
    ctr->oom_src.cb = oom_cb;
    ctr->oom_src.release = NULL;
    if (tether_loop_add(ctr->env.loop, &ctr->oom_src, &err) < 0) {
        log_warn(ctr->env.log, "no OOM events: %s", err.msg);
        ctr->oom_src.fd = -1;
        tether_cgroup_oom_unwatch(&ctr->cg);
    }
}

/* ---- create ---- */

/* A runtime command nobody waits for (cleanup after a failure). */
static void cleanup_done(struct tether_job *job, int rc, const struct tether_error *err,
                         const char *out)
{
    struct tether_container *ctr = job->data;

    (void)out;
    if (rc < 0)
        log_warn(ctr->env.log, "cleanup: %s", err->msg);
}

static void create_done(struct tether_job *job, int rc, const struct tether_error *err,
                        const char *out)
{
    struct tether_container *ctr = job->data;
    struct tether_call *call = job->call;
    struct tether_error perr = {0};
    pid_t pid = -1;

    (void)out;
    if (rc == 0 && (pid = tether_runtime_read_pid_file(ctr->env.pid_file, &perr)) > 0 &&
        tether_process_started(&ctr->init, &perr) < 0) {
        /* The container exists but its terminal is lost: remove it. */
        struct tether_runtime_args args;
        tether_runtime_args_init(&args);
        args.id = ctr->env.id;
        args.force = true;
        if (spawn(ctr, TETHER_RT_DELETE, &args, cleanup_done, NULL, NULL) == NULL)
            log_warn(ctr->env.log, "cannot remove container %s", ctr->env.id);
        pid = -1;
    }
    if (rc < 0 || pid <= 0) {
        const struct tether_error *why = rc < 0 ? err : &perr;
        if (rc < 0 && strstr(err->msg, "already exists") != NULL) {
            /* The runtime still has a container of this id (e.g. left by a shim that
             * went away without deleting it). */
            perr = *err;
            perr.kind = TETHER_ERR_EXISTS;
            why = &perr;
        }
        log_warn(ctr->env.log, "create failed: %s", why->msg);
        tether_io_drain(&ctr->init.io);
        tether_io_close(&ctr->init.io);
        tether_console_close(&ctr->init.console);
        if (ctr->restarting) {
            tether_supervise_restart_failed(ctr, why);
            return;
        }
        tether_container_transition(ctr, TETHER_CTR_EV_CREATE_FAILED);
        tether_call_fail(call, why);
        tether_supervise_settled(ctr);
        return;
    }
    ctr->init.pid = pid;
    ctr->init.child.pid = pid;
    ctr->init.state = TETHER_PROC_RUNNING;
    tether_container_transition(ctr, TETHER_CTR_EV_CREATED);
    log_info(ctr->env.log, "container %s created, init pid %d", ctr->env.id, (int)pid);
    if (!ctr->restarting)
        publish_pid(ctr, TETHER_TOPIC_CREATE, pid);
    if (job->cmd.op == TETHER_RT_RUN) {
        /* create {"start":true} and restarts: the runtime's run started it already. */
        tether_container_transition(ctr, TETHER_CTR_EV_START);
        mark_started(ctr);
    }
    answer_pid(call, pid);
    /* The cgroup and its OOM watch after the answer, which is on its way meanwhile: nothing
     * else runs before they are set up (one loop, this same turn), and nothing the answer
     * says depends on them. A container the engine starts through tether_container_start()
     * gets them there (watch_at_start). */
    if (job->cmd.op == TETHER_RT_RUN || !ctr->opts.watch_at_start)
        oom_start(ctr);
    /* An init that already exited (it may have, once started) is reported right away by
     * adopt(), after the events above. */
    tether_reaper_adopt(ctr->env.reaper, &ctr->init.child, job->mark);
    tether_supervise_settled(ctr);
}

/* The runtime started the container: record it and tell (a restart says so first). */
static void mark_started(struct tether_container *ctr)
{
    tether_container_transition(ctr, TETHER_CTR_EV_STARTED);
    clock_gettime(CLOCK_MONOTONIC, &ctr->started_at);
    if (ctr->restarting) {
        struct tether_event ev = {
            .topic = TETHER_TOPIC_RESTART, .pid = ctr->init.pid, .attempt = ctr->restarts};
        ctr->restarting = false;
        tether_container_publish(ctr, &ev);
    }
    publish_pid(ctr, TETHER_TOPIC_START, ctr->init.pid);
}

static void seccomp_event(void *opaque, int pid, const char *syscall,
                          const unsigned long long args[6], bool denied)
{
    struct tether_container *ctr = opaque;
    struct tether_event ev = {.topic = TETHER_TOPIC_SECCOMP, .pid = pid, .text = (char *)syscall};

    memcpy(ev.seccomp.args, args, sizeof(ev.seccomp.args));
    ev.seccomp.denied = denied;
    tether_container_publish(ctr, &ev);
}

/* The bundle given to the runtime: the engine's, or the shim's own copy when the shim
 * adds to the container. */
static int prepare_bundle(struct tether_container *ctr, struct tether_error *err)
{
    json_t *config;
    int rc = -1;

    free(ctr->runtime_bundle);
    ctr->runtime_bundle = NULL;
    if (!ctr->opts.init && !ctr->opts.seccomp.enabled) {
        ctr->runtime_bundle = xstrdup(ctr->env.bundle);
        return 0;
    }
    config = tether_bundle_load(ctr->env.bundle, err);
    if (config == NULL)
        return -1;
    if (tether_bundle_relocate(config, ctr->env.bundle, err) == 0 &&
        (!ctr->opts.init ||
         tether_bundle_add_init(config, ctr->env.init_path ? ctr->env.init_path : "", err) == 0) &&
        (!ctr->opts.seccomp.enabled ||
         (tether_seccomp_listen(&ctr->seccomp, ctr->env.dir, ctr->opts.seccomp.deny, seccomp_event,
                                ctr, err) == 0 &&
          tether_seccomp_configure(config, &ctr->opts.seccomp, ctr->seccomp.sock.path, err) ==
              0)) &&
        tether_bundle_write(config, ctr->env.dir, err) == 0) {
        ctr->runtime_bundle = xstrdup(ctr->env.dir);
        rc = 0;
    }
    tether_bundle_release(config);
    return rc;
}

/* Runs the runtime's create with the options kept in ctr->opts. */
int tether_container_spawn_create(struct tether_container *ctr, struct tether_call *call,
                                  struct tether_error *err)
{
    struct tether_runtime_args args;
    const char *pid_path = ctr->env.pid_file;

    unlink(pid_path);
    ctr->runtime_gone = false;
    if (prepare_bundle(ctr, err) < 0 ||
        tether_process_prepare(&ctr->init, &ctr->opts.proc, "init", err) < 0)
        return -1;
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.bundle = ctr->runtime_bundle;
    args.pid_file = pid_path;
    args.console_socket = ctr->opts.proc.terminal ? ctr->init.console.sock.path : NULL;
    args.extra = (const char *const *)ctr->opts.runtime_args;
    args.stdin_fd = ctr->init.io.child_fds[0];
    args.stdout_fd = ctr->init.io.child_fds[1];
    args.stderr_fd = ctr->init.io.child_fds[2];
    /* A restart, or a create that asked to start too, is one runtime `run --detach`. */
    if (spawn(ctr, ctr->opts.start || ctr->restarting ? TETHER_RT_RUN : TETHER_RT_CREATE, &args,
              create_done, call, err) == NULL) {
        tether_io_close(&ctr->init.io);
        tether_console_close(&ctr->init.console);
        return -1;
    }
    if (tether_io_start(&ctr->init.io, err) < 0)
        log_error(ctr->env.log, "container output will be lost: %s", err->msg);
    return 0;
}

static void strv_free(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static char **strv_dup(char *const *v)
{
    size_t i, n = 0;
    char **copy;

    if (v == NULL)
        return NULL;
    while (v[n] != NULL)
        n++;
    copy = xzalloc((n + 1) * sizeof(char *));
    for (i = 0; i < n; i++)
        copy[i] = xstrdup(v[i]);
    return copy;
}

/* The front end's fds of a create, kept (as copies) while they are needed. */
static void proc_fds_close(struct tether_process_opts *proc)
{
    int *fds[] = {&proc->stdio_fds[0], &proc->stdio_fds[1], &proc->stdio_fds[2], &proc->stdin_from,
                  &proc->output_to};
    size_t i;

    for (i = 0; i < TETHER_ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

static void proc_fds_dup(struct tether_process_opts *proc)
{
    int *fds[] = {&proc->stdio_fds[0], &proc->stdio_fds[1], &proc->stdio_fds[2], &proc->stdin_from,
                  &proc->output_to};
    size_t i;

    /* A failed dup (out of fds) leaves that stream unset. */
    for (i = 0; i < TETHER_ARRAY_SIZE(fds); i++)
        if (*fds[i] >= 0)
            *fds[i] = fcntl(*fds[i], F_DUPFD_CLOEXEC, 3);
}

static void opts_free(struct tether_create_opts *opts)
{
    proc_fds_close(&opts->proc);
    free(opts->proc.log.path);
    strv_free(opts->proc.log.journald_fields);
    strv_free(opts->runtime_args);
    strv_free(opts->seccomp.syscalls);
    memset(opts, 0, sizeof(*opts));
    tether_process_opts_init(&opts->proc);
}

static void opts_copy(struct tether_create_opts *dst, const struct tether_create_opts *src)
{
    opts_free(dst);
    *dst = *src;
    dst->proc.log.path = src->proc.log.path ? xstrdup(src->proc.log.path) : NULL;
    dst->proc.log.journald_fields = strv_dup(src->proc.log.journald_fields);
    dst->runtime_args = strv_dup(src->runtime_args);
    dst->seccomp.syscalls = strv_dup(src->seccomp.syscalls);
    proc_fds_dup(&dst->proc);
}

/* create's "terminal" must agree with the bundle's process.terminal: the runtime decides
 * from the bundle, and a mismatch would fail later with a less clear error. */
static int check_terminal(const struct tether_container *ctr, bool terminal,
                          struct tether_error *err)
{
    json_t *config = tether_bundle_load(ctr->env.bundle, err);
    bool bundle_terminal;

    if (config == NULL)
        return -1;
    bundle_terminal = json_is_true(json_object_get(json_object_get(config, "process"), "terminal"));
    tether_bundle_release(config);
    if (bundle_terminal != terminal)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "terminal is %s but the bundle's process.terminal is %s",
                                 terminal ? "true" : "false", bundle_terminal ? "true" : "false");
    return 0;
}

int tether_container_create(struct tether_container *ctr, const struct tether_create_opts *opts,
                            struct tether_call *call, struct tether_error *err)
{
    int rc;

    if (tether_container_refuse_external(ctr, "create", err) < 0)
        return -1;
    if (ctr->state != TETHER_CTR_NEW)
        return tether_error_setk(err, TETHER_ERR_EXISTS, 0, "container %s already exists (%s)",
                                 ctr->env.id, tether_status_name(tether_container_status(ctr)));
    if (tether_seccomp_check(&ctr->seccomp, &opts->seccomp, err) < 0 ||
        check_terminal(ctr, opts->proc.terminal, err) < 0)
        return -1;
    /* A new container: the last one's exit record is not its. (A restart keeps it until
     * its own exit replaces it.) */
    if (ctr->exit_path != NULL && unlink(ctr->exit_path) < 0 && errno != ENOENT)
        log_warn(ctr->env.log, "cannot remove old %s: %s", ctr->exit_path, strerror(errno));
    opts_copy(&ctr->opts, opts);
    tether_supervise_reset(ctr);
    rc = tether_container_spawn_create(ctr, call, err);
    /* The process has its own copies now. Those for restarts are kept only when restarts
     * can come: the front end must see the end of its pipes when the process is gone. */
    if (opts->restart.kind == TETHER_RESTART_NO)
        proc_fds_close(&ctr->opts.proc);
    if (rc < 0)
        return -1;
    tether_container_transition(ctr, TETHER_CTR_EV_CREATE);
    return 0;
}

/* ---- start ---- */

static void start_done(struct tether_job *job, int rc, const struct tether_error *err,
                       const char *out)
{
    struct tether_container *ctr = job->data;
    struct tether_call *call = job->call;

    (void)out;
    /* If the init already exited, the container did start (the runtime may report an
     * error when the process was gone before it looked). */
    if (rc < 0 && !ctr->init.exited) {
        log_warn(ctr->env.log, "start failed: %s", err->msg);
        tether_container_transition(ctr, TETHER_CTR_EV_START_FAILED);
        ctr->restarting = false;
        tether_call_fail(call, err);
        tether_supervise_settled(ctr);
        return;
    }
    mark_started(ctr);
    answer_pid(call, ctr->init.pid);
    tether_supervise_settled(ctr);
    announce_init_exit(ctr);
}

int tether_container_start(struct tether_container *ctr, struct tether_call *call,
                           struct tether_error *err)
{
    struct tether_runtime_args args;

    if (tether_container_refuse_external(ctr, "start", err) < 0 ||
        check_event(ctr, TETHER_CTR_EV_START, "start", err) < 0)
        return -1;
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    if (spawn(ctr, TETHER_RT_START, &args, start_done, call, err) == NULL)
        return -1;
    tether_container_transition(ctr, TETHER_CTR_EV_START);
    /* The runtime has just been executed and takes milliseconds to let the init run: the
     * OOM watch (watch_at_start) is set up meanwhile, before anything in the container can
     * use memory (a created container's init only sits in the runtime's exec fifo). Without
     * watch_at_start it came with the create. */
    if (ctr->opts.watch_at_start)
        oom_start(ctr);
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
        tether_call_ok(job->call, NULL);
}

/* A kill meant to end the container ends its restarts, as a stop does; other signals
 * (SIGHUP to reload, SIGUSR1 …) leave the restart policy alone. */
static bool ends_restarts(const struct tether_container *ctr, int sig)
{
    return sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGQUIT ||
           sig == tether_bundle_stop_signal(ctr->env.bundle);
}

int tether_container_kill(struct tether_container *ctr, const char *exec_id, int sig, bool all,
                          struct tether_call *call, struct tether_error *err)
{
    struct tether_runtime_args args;
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL || (exec_id == NULL && tether_container_refuse_external(ctr, "kill", err) < 0))
        return -1;
    if (exec_id == NULL && ends_restarts(ctr, sig) && tether_supervise_user_kill(ctr)) {
        /* It was waiting to be restarted: the kill ends that, as Docker's does. */
        log_info(ctr->env.log, "kill: pending restart of %s cancelled", ctr->env.id);
        tether_call_ok(call, NULL);
        return 0;
    }
    if (p->exited || p->pid <= 0)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "cannot kill %s%s: it is %s",
                                 exec_id ? "exec " : "container ", exec_id ? exec_id : ctr->env.id,
                                 p->exited ? "stopped" : "not started yet");
    if (exec_id != NULL) {
        /* The exec is our child and not reaped yet, so its pid cannot have been reused. */
        if (kill(p->pid, sig) < 0)
            return tether_error_set(err, errno, "kill exec %s", exec_id);
        tether_call_ok(call, NULL);
        return 0;
    }
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.signal = sig;
    args.all = all;
    return spawn(ctr, TETHER_RT_KILL, &args, simple_done, call, err) == NULL ? -1 : 0;
}

/* ---- wait ---- */

int tether_container_wait(struct tether_container *ctr, const char *exec_id,
                          struct tether_call *call, struct tether_error *err)
{
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL ||
        (exec_id == NULL && tether_container_refuse_external(ctr, "wait for the init of", err) < 0))
        return -1;
    tether_process_wait(p, call);
    return 0;
}

/* ---- delete ---- */

static void finish_delete(struct tether_container *ctr)
{
    struct tether_call *call = ctr->delete_call;
    struct tether_event ev = {.topic = TETHER_TOPIC_DELETE, .pid = ctr->init.pid};
    struct tether_result res = {.pid = ctr->init.pid, .exit = ctr->init.exit};

    ctr->delete_call = NULL;
    if (ctr->delete_err.kind != TETHER_ERR_NONE) {
        /* The runtime could not delete: the container stays as it was. */
        ctr->state = ctr->init.exit_announced ? TETHER_CTR_STOPPED : ctr->before_delete;
        if (call != NULL)
            tether_call_fail(call, &ctr->delete_err);
        return;
    }
    tether_container_transition(ctr, TETHER_CTR_EV_DELETED);
    ev.exit = res.exit;
    free_execs(ctr);
    tether_process_fini(&ctr->init);
    tether_process_init(&ctr->init, ctr, NULL, init_exited);
    oom_stop(ctr);
    tether_seccomp_close(&ctr->seccomp);
    tether_container_publish(ctr, &ev);
    log_info(ctr->env.log, "container %s deleted", ctr->env.id);
    tether_call_ok(call, &res);
}

static void delete_done(struct tether_job *job, int rc, const struct tether_error *err,
                        const char *out);

/* The runtime's delete, forced unless the init has exited. */
static struct tether_job *spawn_delete(struct tether_container *ctr, tether_job_cb done,
                                       struct tether_error *err)
{
    struct tether_runtime_args args;

    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    /* A created, running or paused container is killed by the runtime's forced delete; its
     * exit is then reaped, recorded and published like any other before delete answers. */
    args.force = !ctr->init.exited;
    return spawn(ctr, TETHER_RT_DELETE, &args, done, NULL, err);
}

/* Whether a failed runtime delete says the runtime has no such container (a failed
 * restart, a hand-made cleanup): nothing is left to delete but our record. */
static bool runtime_lacks(const struct tether_error *err)
{
    return strstr(err->msg, "does not exist") != NULL;
}

static void release_done(struct tether_job *job, int rc, const struct tether_error *err,
                         const char *out)
{
    struct tether_container *ctr = job->data;
    struct tether_error derr = {0};

    (void)out;
    ctr->releasing = false;
    if (rc == 0 || runtime_lacks(err))
        ctr->runtime_gone = true;
    else
        log_warn(ctr->env.log, "releasing %s: %s", ctr->env.id, err->msg);
    if (ctr->state != TETHER_CTR_DELETING)
        return;
    /* A delete came while this ran: it ends with it, or runs the runtime's own delete. */
    if (ctr->runtime_gone) {
        ctr->delete_done = true;
        finish_delete(ctr);
    } else if (spawn_delete(ctr, delete_done, &derr) == NULL) {
        ctr->delete_done = true;
        ctr->delete_err = derr;
        finish_delete(ctr);
    }
}

/* release_on_exit: the runtime's (unforced) delete of a container whose init has exited. */
static void release(struct tether_container *ctr)
{
    struct tether_error err = {0};

    if (spawn_delete(ctr, release_done, &err) == NULL) {
        log_warn(ctr->env.log, "releasing %s: %s", ctr->env.id, err.msg);
        return;
    }
    ctr->releasing = true;
}

static void delete_done(struct tether_job *job, int rc, const struct tether_error *err,
                        const char *out)
{
    struct tether_container *ctr = job->data;

    (void)out;
    ctr->delete_done = true;
    if (rc < 0 && ctr->init.exit_announced && runtime_lacks(err))
        rc = 0;
    if (rc < 0) {
        ctr->delete_err = *err;
        log_warn(ctr->env.log, "delete failed: %s", err->msg);
    }
    if (ctr->init.exit_announced || rc < 0)
        finish_delete(ctr);
}

int tether_container_delete(struct tether_container *ctr, bool force, struct tether_call *call,
                            struct tether_error *err)
{
    if (tether_container_refuse_external(ctr, "delete", err) < 0 ||
        check_event(ctr, TETHER_CTR_EV_DELETE, "delete", err) < 0)
        return -1;
    if (ctr->runtime_gone || ctr->releasing) {
        /* Only the record is left (a restart stopped after the runtime's delete, or
         * release_on_exit), or will be once the runtime's delete under way ends. */
        ctr->delete_call = call;
        ctr->delete_done = ctr->runtime_gone;
        ctr->before_delete = ctr->state;
        tether_error_clear(&ctr->delete_err);
        tether_container_transition(ctr, TETHER_CTR_EV_DELETE);
        if (ctr->runtime_gone)
            finish_delete(ctr);
        return 0;
    }
    if (!ctr->init.exited && ctr->state != TETHER_CTR_CREATED && !force)
        return tether_error_setk(err, TETHER_ERR_STATE, 0,
                                 "container %s is %s: stop it first or use force", ctr->env.id,
                                 tether_status_name(tether_container_status(ctr)));
    if (spawn_delete(ctr, delete_done, err) == NULL)
        return -1;
    tether_supervise_user_kill(ctr);
    ctr->delete_call = call;
    ctr->delete_done = false;
    ctr->before_delete = ctr->state;
    tether_error_clear(&ctr->delete_err);
    tether_container_transition(ctr, TETHER_CTR_EV_DELETE);
    return 0;
}

/* ---- pids ---- */

static void pids_done(struct tether_job *job, int rc, const struct tether_error *err,
                      const char *out)
{
    struct tether_container *ctr = job->data;
    struct tether_error perr = {0};
    cleanup_free pid_t *pids = NULL;
    cleanup_free struct tether_pid_info *infos = NULL;
    struct tether_result res = {0};
    size_t n = 0, i;

    if (rc < 0) {
        tether_call_fail(job->call, err);
        return;
    }
    if (tether_runtime_parse_ps(out, &pids, &n, &perr) < 0) {
        perr.kind = TETHER_ERR_RUNTIME;
        tether_call_fail(job->call, &perr);
        return;
    }
    infos = xzalloc((n ? n : 1) * sizeof(*infos));
    for (i = 0; i < n; i++) {
        const struct tether_process *p;
        infos[i].pid = pids[i];
        for (p = ctr->execs; p != NULL; p = p->next)
            if (p->pid == pids[i] && !p->exited)
                infos[i].exec_id = p->exec_id;
        infos[i].init = pids[i] == ctr->init.pid;
    }
    res.pids = infos;
    res.n_pids = n;
    tether_call_ok(job->call, &res);
}

int tether_container_pids(struct tether_container *ctr, struct tether_call *call,
                          struct tether_error *err)
{
    struct tether_runtime_args args;

    if (ctr->state == TETHER_CTR_NEW || ctr->state == TETHER_CTR_CREATING)
        return refuse(ctr, "list processes of", err);
    if (ctr->init.exit_announced) {
        tether_call_ok(call, NULL);
        return 0;
    }
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    return spawn(ctr, TETHER_RT_PS, &args, pids_done, call, err) == NULL ? -1 : 0;
}

/* ---- pause, resume, update, stats ---- */

static void pause_done(struct tether_job *job, int rc, const struct tether_error *err,
                       const char *out)
{
    struct tether_container *ctr = job->data;
    bool pausing = ctr->state == TETHER_CTR_PAUSING;

    (void)out;
    if (rc < 0) {
        tether_container_transition(ctr, pausing ? TETHER_CTR_EV_RESUMED : TETHER_CTR_EV_PAUSED);
        tether_call_fail(job->call, err);
    } else {
        struct tether_event ev = {.topic = pausing ? TETHER_TOPIC_PAUSED : TETHER_TOPIC_RESUMED};
        tether_container_transition(ctr, pausing ? TETHER_CTR_EV_PAUSED : TETHER_CTR_EV_RESUMED);
        tether_container_publish(ctr, &ev);
        tether_call_ok(job->call, NULL);
    }
    announce_init_exit(ctr);
}

int tether_container_pause(struct tether_container *ctr, bool pause, struct tether_call *call,
                           struct tether_error *err)
{
    enum tether_ctr_event ev = pause ? TETHER_CTR_EV_PAUSE : TETHER_CTR_EV_RESUME;
    struct tether_runtime_args args;

    if (tether_container_refuse_external(ctr, pause ? "pause" : "resume", err) < 0)
        return -1;
    if (ctr->init.exited)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "container %s is stopped", ctr->env.id);
    if (check_event(ctr, ev, pause ? "pause" : "resume", err) < 0)
        return -1;
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    if (spawn(ctr, pause ? TETHER_RT_PAUSE : TETHER_RT_RESUME, &args, pause_done, call, err) ==
        NULL)
        return -1;
    tether_container_transition(ctr, ev);
    return 0;
}

int tether_container_update(struct tether_container *ctr, const char *resources,
                            struct tether_call *call, struct tether_error *err)
{
    struct tether_runtime_args args;

    if (tether_container_refuse_external(ctr, "update", err) < 0)
        return -1;
    if (ctr->init.exited || (ctr->state != TETHER_CTR_CREATED && ctr->state != TETHER_CTR_RUNNING &&
                             ctr->state != TETHER_CTR_PAUSED))
        return refuse(ctr, "update", err);
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.input = resources;
    args.input_len = strlen(resources);
    return spawn(ctr, TETHER_RT_UPDATE, &args, simple_done, call, err) == NULL ? -1 : 0;
}

int tether_container_stats(struct tether_container *ctr, struct tether_stats *st,
                           struct tether_error *err)
{
    if (tether_container_refuse_external(ctr, "read stats of", err) < 0)
        return -1;
    if (ctr->state == TETHER_CTR_NEW || ctr->state == TETHER_CTR_CREATING ||
        ctr->init.exit_announced)
        return refuse(ctr, "read stats of", err);
    if (cg_open(ctr, err) < 0)
        return -1;
    return tether_cgroup_stats(&ctr->cg, st, err);
}

/* ---- state ---- */

int tether_container_state(struct tether_container *ctr, const char *exec_id,
                           struct tether_state *st, struct tether_error *err)
{
    static const enum tether_status exec_statuses[] = {
        [TETHER_PROC_STARTING] = TETHER_STATUS_CREATED,
        [TETHER_PROC_RUNNING] = TETHER_STATUS_RUNNING,
        [TETHER_PROC_STOPPED] = TETHER_STATUS_STOPPED};
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL)
        return -1;
    if (ctr->state == TETHER_CTR_CREATING && !ctr->restarting)
        /* The runtime has not made it yet: nothing to show but that. */
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "container %s is being created",
                                 ctr->env.id);
    memset(st, 0, sizeof(*st));
    st->id = ctr->env.id;
    st->bundle = ctr->env.bundle;
    st->exec_id = p->exec_id;
    st->pid = p->pid;
    if (exec_id != NULL)
        st->status = p->exit_announced ? TETHER_STATUS_STOPPED : exec_statuses[p->state];
    else
        st->status = tether_container_status(ctr);
    st->exited = p->exit_announced;
    if (p->exit_announced)
        st->exit = p->exit;
    st->restarts = ctr->restarts;
    st->exit_persisted = exec_id != NULL || !p->exit_announced || ctr->exit_persisted;
    st->terminal = p->terminal;
    st->stdin_open = tether_io_stdin_open(&p->io);
    return 0;
}

/* ---- stdio of a process ---- */

int tether_container_stdin_open(struct tether_container *ctr, const char *exec_id, bool *open,
                                struct tether_error *err)
{
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL)
        return -1;
    *open = tether_io_stdin_open(&p->io);
    return 0;
}

ssize_t tether_container_input(struct tether_container *ctr, const char *exec_id, const void *data,
                               size_t len, struct tether_error *err)
{
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL)
        return -1;
    return tether_io_write_stdin(&p->io, data, len, err);
}

int tether_container_close_stdin(struct tether_container *ctr, const char *exec_id,
                                 struct tether_error *err)
{
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL)
        return -1;
    return tether_io_close_stdin(&p->io, err);
}

int tether_container_resize(struct tether_container *ctr, const char *exec_id, unsigned width,
                            unsigned height, struct tether_error *err)
{
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL)
        return -1;
    return tether_io_resize(&p->io, width, height, err);
}

int tether_container_reopen_log(struct tether_container *ctr, const char *exec_id,
                                struct tether_error *err)
{
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL)
        return -1;
    return tether_io_reopen_log(&p->io, err);
}
