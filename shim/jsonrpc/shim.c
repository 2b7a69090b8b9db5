#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tether/util.h>

#include "shim.h"

/* The container's init, while it runs (its exit not announced yet). */
static pid_t running_init(struct tether_shim *shim)
{
    struct tether_state st;
    struct tether_error err = {0};

    if (tether_container_state(shim->ctr, NULL, &st, &err) < 0 || st.exited)
        return 0;
    return st.pid;
}

static void on_signal(void *opaque, int sig)
{
    struct tether_shim *shim = opaque;
    pid_t pid;

    switch (sig) {
    case SIGTERM:
    case SIGINT:
        pid = running_init(shim);
        if (shim->cfg.kill_on_exit && pid > 0) {
            log_info(&shim->log, "signal %d: killing container %s before leaving", sig,
                     shim->cfg.id);
            /* Our unreaped child while its exit is not announced: the pid is its own. */
            kill(pid, SIGKILL);
            shim->kill_and_leave = true;
        } else {
            log_info(&shim->log, "signal %d: leaving; the container keeps running", sig);
            tether_core_leave(shim->core);
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

static void on_event(void *opaque, const struct tether_event *ev)
{
    struct tether_shim *shim = opaque;

    tether_methods_on_event(shim, ev);
    /* --kill-on-exit after SIGTERM: the container is gone once its exit is out. */
    if (shim->kill_and_leave && ev->topic == TETHER_TOPIC_EXIT && ev->exec_id == NULL)
        tether_core_leave(shim->core);
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
    sigset_t signals;
    const struct tether_core_config core_cfg = {
        .runtime = shim->cfg.runtime,
        .runtime_root = shim->cfg.runtime_root,
        .runtime_timeout_ms = shim->cfg.runtime_timeout_ms,
        .init_path = shim->cfg.init_path,
        .signals = &signals,
    };
    const struct tether_core_hooks hooks = {
        .on_event = on_event,
        .on_output = tether_methods_on_output,
        .on_signal = on_signal,
        .opaque = shim,
    };
    const struct tether_container_config ctr_cfg = {
        .id = shim->cfg.id,
        .bundle = shim->cfg.bundle,
        .dir = shim->cfg.dir,
    };

    shim->log.level = shim->cfg.log_level;
    shim->server.acceptor.src.fd = -1;
    make_instance_id(shim->instance, sizeof(shim->instance));
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    shim->core = tether_core_new(&core_cfg, &hooks, &shim->log, err);
    if (shim->core == NULL)
        return -1;
    shim->ctr = tether_core_add(shim->core, &ctr_cfg, err);
    if (shim->ctr == NULL)
        return -1;
    if (tether_server_init(&shim->server, tether_core_loop(shim->core), &shim->log,
                           shim->cfg.socket_path, shim->cfg.max_message, err) < 0)
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
             tether_core_runtime_path(shim->core));
    if (tether_core_run(shim->core, err) < 0)
        return -1;
    tether_server_flush(&shim->server);
    return 0;
}

void tether_shim_fini(struct tether_shim *shim)
{
    /* The containers first: their pending calls are answered ("shutting down") while the
     * connections are still there to carry the answers. */
    if (shim->core != NULL)
        tether_core_shutdown(shim->core);
    shim->ctr = NULL;
    tether_server_fini(&shim->server);
    tether_core_free(shim->core);
    shim->core = NULL;
}
