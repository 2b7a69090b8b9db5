/* The core: the loop, the signalfd, the reaper, the runtime and the journal shared by every
 * container, and the table of containers. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <tether/core.h>
#include <tether/util.h>

#include "container.h"
#include "events.h"
#include "job.h"
#include "reaper.h"

struct tether_forked {
    struct tether_child child;
    struct tether_core *core;
    void (*done)(void *opaque, int wait_status);
    void *opaque;
    struct tether_forked *next;
};

struct tether_core {
    const struct tether_log *log;
    struct tether_loop loop;
    struct tether_runtime rt;
    struct tether_reaper reaper;
    struct tether_events events;
    struct tether_source signal_src;
    sigset_t signal_mask; /* what the signalfd takes */
    struct tether_core_hooks hooks;
    struct tether_job_env jobenv;
    struct tether_job *jobs;      /* runtime commands of the core itself (version) */
    struct tether_forked *forked; /* tether_core_fork() children still running */
    char runtime_version[128];
    unsigned runtime_timeout_ms;
    char *init_path;
    struct tether_container *containers;
    size_t n_containers;
    struct tether_container *removed; /* freed at the end of the loop's turn */
    bool leaving;                     /* the loop stops after this turn */
    bool deep_work;                   /* memory to give back before sleeping (memory_trim) */
};

static void on_signal(struct tether_core *core, int sig)
{
    if (sig == SIGCHLD) {
        tether_reaper_reap(&core->reaper);
        return;
    }
    if (core->hooks.on_signal != NULL)
        core->hooks.on_signal(core->hooks.opaque, sig);
    else
        log_debug(core->log, "signal %d ignored", sig);
}

static void signal_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_core *core = container_of(src, struct tether_core, signal_src);
    struct signalfd_siginfo si[16];

    (void)loop;
    (void)revents;
    core->deep_work = true;
    for (;;) {
        ssize_t n = read(src->fd, si, sizeof(si));
        size_t i;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (i = 0; i < (size_t)n / sizeof(si[0]); i++)
            on_signal(core, (int)si[i].ssi_signo);
    }
}

/* A shim serves many clients and containers with one fd each or more: the soft limit
 * (often 1024) goes up to the hard one, as Go programs do at start. Epoll has no
 * FD_SETSIZE bound. */
static void raise_fd_limit(const struct tether_log *log)
{
    struct rlimit lim;

    if (getrlimit(RLIMIT_NOFILE, &lim) < 0 || lim.rlim_cur >= lim.rlim_max)
        return;
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
        log_debug(log, "cannot raise the fd limit: %s", strerror(errno));
}

void tether_core_take_signals(void)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* The signalfd, in the loop. signalfd(2): in an epoll set, a signalfd reports the signals of
 * the process that added it, so a process forked off with the loop needs one of its own. */
static int open_signals(struct tether_core *core, struct tether_error *err)
{
    int fd = signalfd(-1, &core->signal_mask, SFD_CLOEXEC | SFD_NONBLOCK);

    if (fd < 0)
        return tether_error_set(err, errno, "signalfd");
    if (core->signal_src.fd >= 0) {
        tether_loop_remove(&core->loop, &core->signal_src);
        close(core->signal_src.fd);
    }
    core->signal_src.fd = fd;
    core->signal_src.events = EPOLLIN;
    core->signal_src.cb = signal_cb;
    return tether_loop_add(&core->loop, &core->signal_src, err);
}

/* prctl(2): orphans below us, the containers' inits included once `runtime create` exits,
 * are re-parented to this process instead of PID 1. fork(2) does not pass the role on. */
static int become_subreaper(struct tether_error *err)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return tether_error_set(err, errno, "PR_SET_CHILD_SUBREAPER");
    return 0;
}

struct tether_core *tether_core_new(const struct tether_core_config *cfg,
                                    const struct tether_core_hooks *hooks,
                                    const struct tether_log *log, struct tether_error *err)
{
    struct tether_core *core = xzalloc(sizeof(*core));

    core->log = log;
    core->hooks = *hooks;
    core->signal_src.fd = -1;
    core->runtime_timeout_ms = cfg->runtime_timeout_ms;
    core->init_path = cfg->init_path != NULL ? xstrdup(cfg->init_path) : NULL;
    tether_events_init(&core->events, cfg->events_retained);
    tether_reaper_init(&core->reaper, log);
    /* The runtime driver records the fd limit its children get back before it is raised. */
    if (tether_runtime_init(&core->rt, cfg->runtime, cfg->runtime_root, err) < 0 ||
        tether_runtime_set_global_args(&core->rt, cfg->runtime_args, err) < 0)
        goto fail;
    raise_fd_limit(log);
    if (tether_loop_init(&core->loop, err) < 0)
        goto fail;

    /* Every signal arrives through the signalfd; main() blocked them all already. */
    if (cfg->signals != NULL)
        core->signal_mask = *cfg->signals;
    else
        sigemptyset(&core->signal_mask);
    sigaddset(&core->signal_mask, SIGCHLD);
    if (open_signals(core, err) < 0 || become_subreaper(err) < 0)
        goto fail;
    core->jobenv = (struct tether_job_env){.reaper = &core->reaper,
                                           .rt = &core->rt,
                                           .loop = &core->loop,
                                           .timeout_ms = cfg->runtime_timeout_ms};
    /* A child may have exited before the signalfd existed. */
    tether_reaper_reap(&core->reaper);
    return core;
fail:
    tether_core_free(core);
    return NULL;
}

int tether_core_detach(struct tether_core *core, pid_t *daemon, struct tether_error *err)
{
    int null;

    *daemon = -1;
    if (core->jobs != NULL || core->forked != NULL || core->reaper.children != NULL)
        return tether_error_set(err, 0, "cannot detach a core with children");
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        return tether_error_set(err, errno, "open /dev/null");
    *daemon = fork();
    if (*daemon != 0) {
        int errnum = errno;
        close(null);
        return *daemon < 0 ? tether_error_set(err, errnum, "fork") : 0;
    }
    /* The daemon: a session of its own, so the launcher's terminal and process group (and
     * their signals) are not its concern; the caller's stdout and stderr let go of at once,
     * as callers read them to their end (containerd does). */
    if (setsid() < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 ||
        chdir("/") < 0) {
        int errnum = errno;
        close(null);
        return tether_error_set(err, errnum, "detaching the daemon (session, stdio, cwd)");
    }
    close(null);
    if (open_signals(core, err) < 0 || become_subreaper(err) < 0)
        return -1;
    return 0;
}

static void free_removed(struct tether_core *core)
{
    while (core->removed != NULL) {
        struct tether_container *ctr = core->removed;
        core->removed = ctr->next;
        tether_container_fini(ctr);
        free(ctr);
    }
}

void tether_core_shutdown(struct tether_core *core)
{
    tether_job_abort_all(&core->reaper, &core->jobs);
    while (core->forked != NULL) {
        struct tether_forked *f = core->forked;
        core->forked = f->next;
        tether_reaper_unwatch(&core->reaper, &f->child);
        free(f);
    }
    while (core->containers != NULL) {
        struct tether_container *ctr = core->containers;
        core->containers = ctr->next;
        core->n_containers--;
        tether_container_fini(ctr);
        free(ctr);
    }
    free_removed(core);
}

void tether_core_free(struct tether_core *core)
{
    if (core == NULL)
        return;
    tether_core_shutdown(core);
    tether_runtime_fini(&core->rt);
    if (core->signal_src.fd >= 0) {
        tether_loop_remove(&core->loop, &core->signal_src);
        close(core->signal_src.fd);
    }
    tether_loop_fini(&core->loop);
    tether_events_fini(&core->events);
    free(core->init_path);
    free(core);
}

struct tether_loop *tether_core_loop(struct tether_core *core)
{
    return &core->loop;
}

const struct tether_log *tether_core_log(const struct tether_core *core)
{
    return core->log;
}

const char *tether_core_runtime_path(const struct tether_core *core)
{
    return core->rt.path;
}

static void forked_exited(struct tether_child *child, int wait_status, const struct timespec *at)
{
    struct tether_forked *f = container_of(child, struct tether_forked, child);
    struct tether_forked **pp = &f->core->forked;

    (void)at;
    while (*pp != f)
        pp = &(*pp)->next;
    *pp = f->next;
    f->done(f->opaque, wait_status);
    free(f);
}

int tether_core_fork(struct tether_core *core, int (*fn)(void *arg), void *arg,
                     void (*done)(void *opaque, int wait_status), void *opaque,
                     struct tether_error *err)
{
    struct tether_forked *f;
    pid_t pid = fork();

    if (pid < 0)
        return tether_error_set(err, errno, "fork");
    if (pid == 0)
        _exit(fn(arg) & 0xff);
    f = xzalloc(sizeof(*f));
    f->child.pid = pid;
    f->child.exited = forked_exited;
    f->core = core;
    f->done = done;
    f->opaque = opaque;
    f->next = core->forked;
    core->forked = f;
    /* Its SIGCHLD is taken by the signalfd: it cannot have been reaped before this. */
    tether_reaper_watch(&core->reaper, &f->child);
    return 0;
}

/* Stack pages below the loop's frame and free heap pages stay dirty (private memory
 * charged to this shim) after a deep call chain has used them once; madvise(2)
 * MADV_DONTNEED hands them back, and the next deep call gets fresh zero pages. A shim
 * spends its life asleep, so this is what its footprint is measured at. */
#define TRIM_STACK_WINDOW (256 * 1024)
#define TRIM_STACK_KEEP   (4 * 1024)

static void __attribute__((noinline)) memory_trim(void)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    volatile char here = 0;
    uintptr_t sp = (uintptr_t)&here & ~(page - 1);
    uintptr_t top = sp - TRIM_STACK_KEEP;
    /* Unmapped parts of the window (below the stack's lowest use) just fail with ENOMEM. */
    void *low = (void *)(top - TRIM_STACK_WINDOW); // NOLINT(performance-no-int-to-ptr)

    malloc_trim(0);
    madvise(low, TRIM_STACK_WINDOW, MADV_DONTNEED);
}

int tether_core_run_once(struct tether_core *core, int timeout_ms, struct tether_error *err)
{
    int n = tether_loop_run_once(&core->loop, timeout_ms, err);

    free_removed(core);
    return n;
}

int tether_core_run(struct tether_core *core, struct tether_error *err)
{
    core->deep_work = true;
    while (!core->leaving) {
        /* After work that ran deep (requests, exits, timers), look once more without
         * blocking: when nothing is pending the shim is about to sleep, and gives back the
         * memory that work touched. */
        int n = tether_core_run_once(core, core->deep_work ? 0 : -1, err);
        if (n < 0)
            return -1;
        if (n == 0 && core->deep_work) {
            memory_trim();
            core->deep_work = false;
        }
    }
    return 0;
}

void tether_core_leave(struct tether_core *core)
{
    core->leaving = true;
}

void tether_core_busy(struct tether_core *core)
{
    core->deep_work = true;
}

/* ---- the runtime's version ---- */

static void answer_version(struct tether_core *core, struct tether_call *call)
{
    struct tether_result res = {.text = core->runtime_version};

    tether_call_ok(call, &res);
}

static void version_done(struct tether_job *job, int rc, const struct tether_error *err,
                         const char *out)
{
    struct tether_core *core = job->data;

    if (rc < 0) {
        tether_call_fail(job->call, err);
        return;
    }
    tether_runtime_parse_version(out, core->runtime_version, sizeof(core->runtime_version));
    answer_version(core, job->call);
}

int tether_core_runtime_version(struct tether_core *core, struct tether_call *call,
                                struct tether_error *err)
{
    struct tether_runtime_args args;
    struct tether_job *job;

    if (core->runtime_version[0] != '\0') {
        answer_version(core, call);
        return 0;
    }
    tether_runtime_args_init(&args);
    job = tether_job_spawn(&core->jobenv, TETHER_RT_VERSION, &args, version_done, core, &core->jobs,
                           err);
    if (job == NULL)
        return -1;
    job->call = call;
    return 0;
}

/* ---- the journal and the hooks ---- */

void tether_core_publish(struct tether_core *core, const struct tether_event *tmpl)
{
    const struct tether_event *ev = tether_events_publish(&core->events, tmpl);

    core->deep_work = true;
    if (core->hooks.on_event != NULL)
        core->hooks.on_event(core->hooks.opaque, ev);
}

void tether_core_output(struct tether_core *core, struct tether_container *ctr, const char *exec_id,
                        enum tether_logfmt_stream stream, const char *data, size_t len)
{
    if (core->hooks.on_output != NULL)
        core->hooks.on_output(core->hooks.opaque, ctr, exec_id, stream, data, len);
}

void tether_core_stdin_ready(struct tether_core *core, struct tether_container *ctr,
                             const char *exec_id)
{
    if (core->hooks.on_stdin_ready != NULL)
        core->hooks.on_stdin_ready(core->hooks.opaque, ctr, exec_id);
}

uint64_t tether_core_last_seq(const struct tether_core *core)
{
    return core->events.last_seq;
}

uint64_t tether_core_first_seq(const struct tether_core *core)
{
    return tether_events_first_seq(&core->events);
}

const struct tether_event *tether_core_event(const struct tether_core *core, uint64_t seq)
{
    return tether_events_get(&core->events, seq);
}

/* ---- the table of containers ---- */

struct tether_container *tether_core_find(struct tether_core *core, const char *id)
{
    struct tether_container *ctr;

    for (ctr = core->containers; ctr != NULL; ctr = ctr->next)
        if (strcmp(ctr->env.id, id) == 0)
            return ctr;
    return NULL;
}

struct tether_container *tether_core_next(struct tether_core *core, struct tether_container *prev)
{
    return prev == NULL ? core->containers : prev->next;
}

size_t tether_core_count(const struct tether_core *core)
{
    return core->n_containers;
}

struct tether_container *tether_core_add(struct tether_core *core,
                                         const struct tether_container_config *cfg,
                                         struct tether_error *err)
{
    struct tether_container *ctr;
    struct tether_ctr_env env;

    if (!tether_id_valid(cfg->id)) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0,
                          "invalid id: must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
        return NULL;
    }
    if (cfg->bundle == NULL || cfg->bundle[0] != '/' || cfg->dir == NULL || cfg->dir[0] != '/') {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "bundle and dir must be absolute paths");
        return NULL;
    }
    if (tether_core_find(core, cfg->id) != NULL) {
        tether_error_setk(err, TETHER_ERR_EXISTS, 0, "container %s already exists", cfg->id);
        return NULL;
    }
    env = (struct tether_ctr_env){
        .log = core->log,
        .loop = &core->loop,
        .reaper = &core->reaper,
        .rt = &core->rt,
        .core = core,
        .id = xstrdup(cfg->id),
        .bundle = xstrdup(cfg->bundle),
        .dir = xstrdup(cfg->dir),
        .pid_file =
            cfg->pid_file != NULL ? xstrdup(cfg->pid_file) : xasprintf("%s/init.pid", cfg->dir),
        .persist_exit = !cfg->no_exit_file,
        .external = cfg->external,
        .runtime_timeout_ms = core->runtime_timeout_ms,
        .init_path = core->init_path,
    };
    ctr = xzalloc(sizeof(*ctr));
    tether_container_init(ctr, &env);
    ctr->next = core->containers;
    core->containers = ctr;
    core->n_containers++;
    return ctr;
}

int tether_core_remove(struct tether_core *core, struct tether_container *ctr,
                       struct tether_error *err)
{
    struct tether_container **pp;

    if ((ctr->state != TETHER_CTR_NEW && !ctr->env.external) || ctr->jobs != NULL)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "container %s is %s: delete it first",
                                 ctr->env.id, tether_status_name(tether_container_status(ctr)));
    for (pp = &core->containers; *pp != NULL; pp = &(*pp)->next)
        if (*pp == ctr) {
            *pp = ctr->next;
            break;
        }
    core->n_containers--;
    ctr->removed = true;
    ctr->next = core->removed;
    core->removed = ctr;
    if (!core->loop.dispatching)
        free_removed(core);
    return 0;
}
