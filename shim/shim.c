#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <malloc.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <tether/util.h>

#include "shim.h"

static void leave_if_done(struct tether_shim *shim)
{
    if (shim->kill_and_leave &&
        (shim->ctr.init.exit_announced || shim->ctr.state == TETHER_CTR_NEW))
        shim->leaving = true;
}

static void on_signal(struct tether_shim *shim, int sig)
{
    switch (sig) {
    case SIGCHLD:
        tether_reaper_reap(&shim->reaper);
        leave_if_done(shim);
        break;
    case SIGTERM:
    case SIGINT:
        if (shim->cfg.kill_on_exit && shim->ctr.init.pid > 0 && !shim->ctr.init.exit_announced) {
            log_info(&shim->log, "signal %d: killing container %s before leaving", sig,
                     shim->cfg.id);
            kill(shim->ctr.init.pid, SIGKILL);
            shim->kill_and_leave = true;
            leave_if_done(shim);
        } else {
            log_info(&shim->log, "signal %d: leaving; the container keeps running", sig);
            shim->leaving = true;
        }
        break;
    case SIGHUP:
        log_info(&shim->log, "SIGHUP ignored");
        break;
    default:
        log_debug(&shim->log, "signal %d ignored", sig);
        break;
    }
}

static void signal_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_shim *shim = container_of(src, struct tether_shim, signal_src);
    struct signalfd_siginfo si[16];

    (void)loop;
    (void)revents;
    shim->deep_work = true;
    for (;;) {
        ssize_t n = read(src->fd, si, sizeof(si));
        size_t i;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (i = 0; i < (size_t)n / sizeof(si[0]); i++)
            on_signal(shim, (int)si[i].ssi_signo);
    }
}

/* Stack pages below the loop's frame and free heap pages stay dirty (private memory
 * charged to this shim) after a deep call chain has used them once; madvise(2)
 * MADV_DONTNEED hands them back, and the next deep call gets fresh zero pages. A shim
 * spends its life asleep, so this is what its footprint is measured at. */
#define TRIM_STACK_WINDOW (256 * 1024)
#define TRIM_STACK_KEEP   (4 * 1024)

void __attribute__((noinline)) tether_memory_trim(void)
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

void tether_shim_leave(struct tether_shim *shim)
{
    shim->leaving = true;
}

/* A random name for this shim's life: event seqs restart from 1 in a new shim, and a client
 * that compares instances knows its `since` belongs to another life. */
static void make_instance_id(char *buf, size_t len)
{
    unsigned char bytes[8] = {0};
    size_t i;

    if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        memcpy(bytes, &now.tv_nsec, sizeof(now.tv_nsec) < 8 ? sizeof(now.tv_nsec) : 8);
        bytes[7] ^= (unsigned char)getpid();
    }
    for (i = 0; i < sizeof(bytes) && 2 * i + 2 < len; i++)
        snprintf(buf + 2 * i, 3, "%02x", bytes[i]);
}

/* With --allow-uid, other users must be able to reach the socket at all: the socket is
 * made 0666 and its directory 0711 (traverse, not list), and SO_PEERCRED on every
 * connection decides who is let in. Without it, 0600 in 0700 keeps everyone else out
 * before the check. */
static int open_to_allowed_uids(struct tether_shim *shim, struct tether_error *err)
{
    cleanup_free char *dir = xstrdup(shim->cfg.socket_path);

    *strrchr(dir, '/') = '\0';
    if (chmod(shim->cfg.socket_path, 0666) < 0)
        return tether_error_set(err, errno, "chmod %s", shim->cfg.socket_path);
    if (strcmp(dir, shim->cfg.dir) == 0 && chmod(dir, 0711) < 0)
        return tether_error_set(err, errno, "chmod %s", dir);
    return 0;
}

int tether_shim_init(struct tether_shim *shim, struct tether_error *err)
{
    struct tether_ctr_env env;
    sigset_t mask;
    int fd;

    shim->log.level = shim->cfg.log_level;
    shim->signal_src.fd = -1;
    make_instance_id(shim->instance, sizeof(shim->instance));
    shim->server.listen_src.fd = -1;
    tether_events_init(&shim->events, 0);
    tether_reaper_init(&shim->reaper, &shim->log);
    if (tether_loop_init(&shim->loop, err) < 0)
        return -1;

    /* Every signal arrives through the signalfd; main() blocked them all already. */
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return tether_error_set(err, errno, "signalfd");
    shim->signal_src.fd = fd;
    shim->signal_src.events = EPOLLIN;
    shim->signal_src.cb = signal_cb;
    if (tether_loop_add(&shim->loop, &shim->signal_src, err) < 0)
        return -1;

    /* prctl(2): orphans below us, the container's init included once `runtime create`
     * exits, are re-parented to this process instead of PID 1. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return tether_error_set(err, errno, "PR_SET_CHILD_SUBREAPER");
    if (tether_runtime_init(&shim->rt, shim->cfg.runtime, shim->cfg.runtime_root, err) < 0)
        return -1;

    env = (struct tether_ctr_env){
        .log = &shim->log,
        .loop = &shim->loop,
        .reaper = &shim->reaper,
        .rt = &shim->rt,
        .events = &shim->events,
        .id = shim->cfg.id,
        .bundle = shim->cfg.bundle,
        .dir = shim->cfg.dir,
        .runtime_timeout_ms = shim->cfg.runtime_timeout_ms,
        .init_path = shim->cfg.init_path,
        .on_event = tether_methods_on_event,
        .on_output = tether_methods_on_output,
        .opaque = shim,
    };
    tether_container_init(&shim->ctr, &env);

    if (tether_server_init(&shim->server, &shim->loop, &shim->log, shim->cfg.socket_path,
                           shim->cfg.max_message, err) < 0)
        return -1;
    for (size_t i = 0; i < shim->cfg.n_allow_uids; i++)
        tether_server_allow_uid(&shim->server, shim->cfg.allow_uids[i]);
    if (shim->cfg.n_allow_uids > 0 && open_to_allowed_uids(shim, err) < 0)
        return -1;
    shim->server.on_line = tether_methods_dispatch;
    shim->server.on_gone = tether_methods_conn_gone;
    shim->server.opaque = shim;
    return 0;
}

int tether_shim_run(struct tether_shim *shim, struct tether_error *err)
{
    log_info(&shim->log, "shim %s ready on %s (runtime %s)", shim->cfg.id, shim->cfg.socket_path,
             shim->rt.path);
    /* A child may have exited before the signalfd existed. */
    tether_reaper_reap(&shim->reaper);
    shim->deep_work = true;
    while (!shim->leaving) {
        /* After work that ran deep (requests, exits, timers), look once more without
         * blocking: when nothing is pending the shim is about to sleep, and gives back the
         * memory that work touched. */
        int n = tether_loop_run_once(&shim->loop, shim->deep_work ? 0 : -1, err);
        if (n < 0)
            return -1;
        if (n == 0 && shim->deep_work) {
            tether_memory_trim();
            shim->deep_work = false;
        }
    }
    tether_server_flush(&shim->server);
    return 0;
}

void tether_shim_fini(struct tether_shim *shim)
{
    /* The model first: its pending calls are answered ("shutting down") while the
     * connections are still there to carry the answers. */
    tether_job_abort_all(&shim->reaper, &shim->jobs);
    if (shim->ctr.exit_path != NULL)
        tether_container_fini(&shim->ctr);
    tether_server_fini(&shim->server);
    tether_runtime_fini(&shim->rt);
    if (shim->signal_src.fd >= 0) {
        tether_loop_remove(&shim->loop, &shim->signal_src);
        close(shim->signal_src.fd);
        shim->signal_src.fd = -1;
    }
    tether_loop_fini(&shim->loop);
    tether_events_fini(&shim->events);
}
