#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/util.h>

#include "shim.h"

static void on_event(void *opaque, const struct tether_event *ev)
{
    struct tether_ctrd_shim *shim = opaque;

    tether_ctrd_task_on_event(shim, ev);
    tether_ctrd_events_kick(&shim->events);
}

static void on_signal(void *opaque, int sig)
{
    struct tether_ctrd_shim *shim = opaque;

    switch (sig) {
    case SIGTERM:
    case SIGINT:
        log_info(&shim->log, "signal %d: leaving; the containers keep running", sig);
        tether_core_leave(shim->core);
        break;
    default:
        log_debug(&shim->log, "signal %d ignored", sig);
        break;
    }
}

static bool settled(const struct tether_ctrd_shim *shim)
{
    return shim->unmounts == 0 && tether_ctrd_events_idle(&shim->events);
}

void tether_ctrd_shim_settled(struct tether_ctrd_shim *shim)
{
    if (shim->shutting_down && settled(shim))
        tether_core_leave(shim->core);
}

static void events_idle(void *opaque)
{
    tether_ctrd_shim_settled(opaque);
}

static void leave_fired(struct tether_timer *timer)
{
    struct tether_ctrd_shim *shim = container_of(timer, struct tether_ctrd_shim, leave_timer);

    if (!tether_ctrd_events_idle(&shim->events))
        log_warn(&shim->log, "leaving with events containerd did not take");
    if (shim->unmounts != 0)
        log_warn(&shim->log, "leaving with %u rootfs unmounts still running", shim->unmounts);
    tether_core_leave(shim->core);
}

void tether_ctrd_shim_shutdown(struct tether_ctrd_shim *shim)
{
    struct tether_error err = {0};

    if (shim->shutting_down)
        return;
    shim->shutting_down = true;
    log_info(&shim->log, "shutdown: no task left");
    /* No new task may find this shim from now on. */
    tether_ctrd_server_stop_listening(&shim->server);
    if (unlink(shim->cfg.socket_path) < 0 && errno != ENOENT)
        log_warn(&shim->log, "unlink %s: %s", shim->cfg.socket_path, strerror(errno));
    if (settled(shim)) {
        tether_core_leave(shim->core);
        return;
    }
    if (tether_timer_arm(&shim->leave_timer, TETHER_CTRD_SHUTDOWN_EVENTS_MS, &err) < 0)
        tether_core_leave(shim->core);
}

int tether_ctrd_shim_init(struct tether_ctrd_shim *shim, int listen_fd, struct tether_error *err)
{
    sigset_t signals;
    const struct tether_core_config core_cfg = {
        .runtime = shim->cfg.runtime,
        .runtime_root = shim->cfg.runtime_root,
        .signals = &signals,
    };
    const struct tether_core_hooks hooks = {
        .on_event = on_event,
        .on_signal = on_signal,
        .opaque = shim,
    };

    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    sigaddset(&signals, SIGUSR1);
    shim->core = tether_core_new(&core_cfg, &hooks, &shim->log, err);
    if (shim->core == NULL) {
        close(listen_fd);
        return -1;
    }
    tether_timer_init(&shim->leave_timer, tether_core_loop(shim->core), leave_fired);
    tether_ctrd_stdio_ctx_init(&shim->stdio, tether_core_loop(shim->core), &shim->log);
    if (tether_ctrd_events_init(&shim->events, shim->core, &shim->log, shim->cfg.ttrpc_address,
                                shim->cfg.ns, tether_ctrd_encode_event, shim, err) < 0) {
        close(listen_fd);
        return -1;
    }
    shim->events.on_idle = events_idle;
    if (tether_ctrd_server_init(&shim->server, tether_core_loop(shim->core), &shim->log, listen_fd,
                                err) < 0)
        return -1;
    shim->server.on_request = tether_ctrd_task_request;
    shim->server.on_gone = tether_ctrd_task_conn_gone;
    shim->server.opaque = shim;
    return 0;
}

int tether_ctrd_shim_run(struct tether_ctrd_shim *shim, struct tether_error *err)
{
    log_info(&shim->log, "shim for %s (namespace %s) ready on %s, runtime %s", shim->cfg.id,
             shim->cfg.ns, shim->cfg.socket_path, tether_core_runtime_path(shim->core));
    if (tether_core_run(shim->core, err) < 0)
        return -1;
    tether_ctrd_server_flush(&shim->server);
    return 0;
}

void tether_ctrd_shim_fini(struct tether_ctrd_shim *shim)
{
    shim->tearing_down = true;
    /* Pending calls are answered first, while the connections can still carry them. */
    if (shim->core != NULL)
        tether_core_shutdown(shim->core);
    tether_ctrd_tasks_free(shim);
    tether_ctrd_server_fini(&shim->server);
    tether_ctrd_events_fini(&shim->events);
    tether_ctrd_stdio_ctx_fini(&shim->stdio);
    if (shim->core != NULL)
        tether_timer_fini(&shim->leave_timer);
    if (!shim->shutting_down && shim->cfg.socket_path != NULL)
        unlink(shim->cfg.socket_path);
    tether_core_free(shim->core);
    shim->core = NULL;
}
