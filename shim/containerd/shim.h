/* containerd-shim-tether-v2: the containerd shim v2 front end of the core. One daemon
 * serves a group of tasks (the containers of a Kubernetes pod, or one container) in one
 * core: the Task service over ttrpc (task.c, exec.c), the events forwarded to containerd
 * (events.c), the containers' stdio (stdio.c) and root filesystems (mount.c). */
#ifndef TETHER_CONTAINERD_SHIM_H
#define TETHER_CONTAINERD_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/timer.h>

#include "events.h"
#include "server.h"
#include "procio.h"

/* How long a shim that was told to shut down waits for its last events to reach
 * containerd. */
#define TETHER_CTRD_SHUTDOWN_EVENTS_MS 5000
/* runc's state of the containers of namespace NS: where containerd's own shim keeps it. */
#define TETHER_CTRD_RUNTIME_ROOT "/run/containerd/runc"
/* What Create leaves in the bundle for the `delete` command (which has only the bundle). */
#define TETHER_CTRD_BUNDLE_FILE "tether.json"

struct tether_ctrd_config {
    char *ns;            /* -namespace */
    char *address;       /* -address: containerd's gRPC socket */
    char *ttrpc_address; /* $TTRPC_ADDRESS: where events go */
    char *id;            /* -id: the group (the sandbox of a pod, or the one task) */
    char *socket_path;   /* where this shim listens */
    char *runtime;       /* NULL = runc */
    char *runtime_root;  /* <TETHER_CTRD_RUNTIME_ROOT>/<ns> */
    enum tether_log_level log_level;
};

struct tether_ctrd_task;

struct tether_ctrd_shim {
    struct tether_ctrd_config cfg;
    struct tether_log log;
    struct tether_core *core;
    struct tether_ctrd_server server;
    struct tether_ctrd_events events;
    struct tether_ctrd_stdio_ctx stdio;
    struct tether_ctrd_task *tasks;
    size_t n_tasks;
    bool shutting_down; /* Shutdown accepted: leave once the events went out */
    unsigned unmounts;  /* rootfs unmounts still running in a process of their own */
    bool tearing_down;  /* the shim is leaving: records go, containers stay */
    struct tether_timer leave_timer;
};

/* Sets up the core, the server on listen_fd (taken over) and the events client. */
int tether_ctrd_shim_init(struct tether_ctrd_shim *shim, int listen_fd, struct tether_error *err);
/* Runs until Shutdown (with no task left) or SIGTERM/SIGINT. */
int tether_ctrd_shim_run(struct tether_ctrd_shim *shim, struct tether_error *err);
/* Releases everything; the socket path is removed. Containers keep running. */
void tether_ctrd_shim_fini(struct tether_ctrd_shim *shim);

/* Leaves once the pending events went out and the rootfs unmounts ended (or after
 * TETHER_CTRD_SHUTDOWN_EVENTS_MS). */
void tether_ctrd_shim_shutdown(struct tether_ctrd_shim *shim);
/* Something shutdown waits for ended: leaves when nothing else is left. */
void tether_ctrd_shim_settled(struct tether_ctrd_shim *shim);

/* ---- task.c ---- */

/* A Task request (server callback). */
void tether_ctrd_task_request(void *opaque, struct tether_ctrd_conn *conn, uint32_t stream_id,
                              const Ttrpc__Request *req);
/* A connection went away: its pending Waits are dropped. */
void tether_ctrd_task_conn_gone(void *opaque, struct tether_ctrd_conn *conn);
/* A core event: TaskCreate goes to the events client as a note. */
void tether_ctrd_task_on_event(struct tether_ctrd_shim *shim, const struct tether_event *ev);
/* Frees every task record (teardown; the containers keep running). */
void tether_ctrd_tasks_free(struct tether_ctrd_shim *shim);

/* ---- encode.c ---- */

/* The events client's encoder: a journal event as the containerd event message. */
bool tether_ctrd_encode_event(void *opaque, const struct tether_event *ev,
                              struct tether_ctrd_envelope *out);

#endif
