/* A process's stdio as containerd names it in Create and Exec: FIFO paths (what ctr and the
 * CRI plugin make), `file://` and `binary://` log URIs, or "" for none. The FIFOs and log
 * files are handed straight to the process (no copying by the shim); only stdin, and a
 * terminal's output, are copied by the core. As containerd-shim-runc-v2 does:
 *  - the shim keeps a write end on the stdin FIFO from create until CloseIO, so the process
 *    sees the end of its input only after CloseIO and once every writer closed (never merely
 *    because ctr went away);
 *  - the shim keeps a read end on each output FIFO, so the process's writes never fail
 *    with EPIPE when the reader (ctr run -d) goes away: they block once the FIFO is full;
 *  - a `binary://` logger is started with the output pipes as its fds 3 and 4 and a ready
 *    pipe as fd 5, and the process is created once it signalled readiness (a byte, or the
 *    end of the pipe); unlike runc-v2 this never blocks the shim and has a time limit.
 * Loggers are the shim's children: at delete they get SIGTERM, then SIGKILL after
 * TETHER_CTRD_LOGGER_TERM_MS. */
#ifndef TETHER_CONTAINERD_PROCIO_H
#define TETHER_CONTAINERD_PROCIO_H

#include <stdbool.h>
#include <sys/types.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>
#include <tether/timer.h>

/* How long a binary logger has to signal readiness. */
#define TETHER_CTRD_LOGGER_READY_MS 10000
/* How long a logger has between SIGTERM and SIGKILL (containerd's own shim waits 12 s). */
#define TETHER_CTRD_LOGGER_TERM_MS 12000
/* Longest stdio URI or path accepted. */
#define TETHER_CTRD_STDIO_MAX 4096

struct tether_ctrd_logger;

/* The loggers still running after their process was deleted. */
struct tether_ctrd_stdio_ctx {
    struct tether_loop *loop;
    const struct tether_log *log;
    struct tether_ctrd_logger *loggers;
};

struct tether_ctrd_stdio_config {
    const char *stdin_path; /* "" = none */
    const char *stdout_uri; /* a FIFO path, file://PATH, binary://PATH?ARGS, or "" */
    const char *stderr_uri;
    bool terminal;
    const char *id; /* CONTAINER_ID of a binary logger: the container's or exec's id */
    const char *ns; /* CONTAINER_NAMESPACE */
    const char *cwd;
};

struct tether_ctrd_stdio {
    struct tether_ctrd_stdio_ctx *ctx;
    int stdin_keep;  /* our write end on the stdin FIFO, until CloseIO */
    int out_keep[2]; /* our read ends on the stdout and stderr FIFOs */
    int fds[5];      /* what the process options point at, until the core took copies */
    struct tether_ctrd_logger *logger;
};

void tether_ctrd_stdio_ctx_init(struct tether_ctrd_stdio_ctx *ctx, struct tether_loop *loop,
                                const struct tether_log *log);
/* Forgets the loggers: like the containers they write for, they outlive the shim. */
void tether_ctrd_stdio_ctx_fini(struct tether_ctrd_stdio_ctx *ctx);

void tether_ctrd_stdio_init(struct tether_ctrd_stdio *st, struct tether_ctrd_stdio_ctx *ctx);

/* Opens what cfg names and points proc (terminal, stdin, stdio_fds, stdin_from, output_to)
 * at it. Returns 0 when ready; 1 when a binary logger was started: ready(opaque, err) runs
 * once, later, with err NULL once it is ready or the reason it failed; -1 with err. */
int tether_ctrd_stdio_open(struct tether_ctrd_stdio *st, const struct tether_ctrd_stdio_config *cfg,
                           struct tether_process_opts *proc,
                           void (*ready)(void *opaque, const struct tether_error *err),
                           void *opaque, struct tether_error *err);
/* The core took its copies (the create or exec call was accepted): ours are closed. */
void tether_ctrd_stdio_handed(struct tether_ctrd_stdio *st);
/* CloseIO: lets go of our write end on the stdin FIFO. */
void tether_ctrd_stdio_close_stdin(struct tether_ctrd_stdio *st);
/* Closes everything; a running logger is asked to end. Safe to call twice. */
void tether_ctrd_stdio_close(struct tether_ctrd_stdio *st);

/* A URI's parts as containerd's own shim reads them (Go's url.Parse): the scheme (empty for
 * a plain path), the path with %XX decoded, and for binary:// the arguments from the query,
 * in order: each key then its value. Exposed for unit tests. */
struct tether_ctrd_uri {
    char scheme[16];
    char *path;
    char **args; /* NULL-terminated */
};
int tether_ctrd_uri_parse(const char *text, struct tether_ctrd_uri *uri, struct tether_error *err);
void tether_ctrd_uri_fini(struct tether_ctrd_uri *uri);

#endif
