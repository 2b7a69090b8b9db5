/* tether-shim: the JSON-RPC front end of the core for one container. Wires the core (its
 * events -> subscribers, output -> attached clients, SIGTERM/SIGINT -> leave) to the server
 * (lines -> methods.c). */
#ifndef TETHER_JSONRPC_SHIM_H
#define TETHER_JSONRPC_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>

#include "server.h"

struct tether_shim_config {
    char *id;
    char *bundle;       /* absolute */
    char *state_dir;    /* absolute */
    char *dir;          /* <state_dir>/<id> */
    char *socket_path;  /* default <dir>/shim.sock */
    char *runtime;      /* name or path */
    char *runtime_root; /* NULL = the runtime's default */
    bool foreground;
    bool kill_on_exit;
    unsigned runtime_timeout_ms; /* 0 = none */
    char *init_path;             /* tether-init, default next to tether-shim */
    enum tether_log_level log_level;
    size_t max_message;
    uid_t allow_uids[TETHER_ALLOW_UIDS_MAX];
    size_t n_allow_uids;
};

struct tether_shim {
    struct tether_shim_config cfg;
    struct tether_log log;
    struct tether_core *core;
    struct tether_container *ctr; /* the one container of tether-shim */
    struct tether_server server;
    char instance[17];   /* random id of this shim's life (hex) */
    bool kill_and_leave; /* SIGTERM with --kill-on-exit: leave once the container is gone */
};

/* Sets up everything but the loop: the core, the container record, the socket. On failure
 * nothing is left behind (no socket). */
int tether_shim_init(struct tether_shim *shim, struct tether_error *err);
/* Runs the loop until shutdown or a terminating signal. */
int tether_shim_run(struct tether_shim *shim, struct tether_error *err);
/* Releases everything, removes the socket. */
void tether_shim_fini(struct tether_shim *shim);

/* Line handler given to the server (methods.c). */
void tether_methods_dispatch(void *opaque, struct tether_conn *conn, char *line, size_t len);
/* A connection went away (methods.c). */
void tether_methods_conn_gone(void *opaque, struct tether_conn *conn);
/* Sends a process's output to the connections attached to it (methods.c). */
void tether_methods_on_output(void *opaque, struct tether_container *ctr, const char *exec_id,
                              enum tether_logfmt_stream stream, const char *data, size_t len);
/* Pushes a new event to subscribed connections (methods.c). */
void tether_methods_on_event(void *opaque, const struct tether_event *ev);

#endif
