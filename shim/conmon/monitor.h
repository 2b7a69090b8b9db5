/* The monitor proper: one core with one container (or, with -e, one exec session in a
 * container another monitor made), wired to conmon's interface:
 *  - the sync pipe (_OCI_SYNCPIPE) gets {"data": PID} once the runtime made the process,
 *    {"data": -1, "message": "<the runtime's own error>"} when it could not, and, for an exec
 *    session, {"data": EXIT_CODE} at its end;
 *  - an exec session attached by its caller (--exec-attach) sends {"data": 0} on
 *    _OCI_ATTACHPIPE once the attach socket and FIFOs exist, and starts the process when
 *    the caller writes a byte on _OCI_STARTPIPE (or closes it);
 *  - output goes to the log (the core) and then to attached clients (attach.c); the ctl
 *    FIFO resizes the terminal and reopens the log (ctl.c);
 *  - at the end: the output drained into the log and to the clients, the clients closed,
 *    the inherited fds closed, then the exit file <exit-dir>/<cid> (decimal, no newline,
 *    written atomically; 128+N for death by signal N, -1 after --timeout), <bundle>/oom
 *    before it when the cgroup ran out of memory, and the attach socket removed.
 * main.c detaches, redirects stdio, and runs the exit command afterwards. */
#ifndef TETHER_CONMON_MONITOR_H
#define TETHER_CONMON_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/timer.h>

#include "attach.h"
#include "ctl.h"
#include "options.h"

/* Size of a runtime-spec Process file read for -e. */
#define TETHER_CONMON_SPEC_MAX (1024 * 1024)

struct tether_conmon {
    const struct tether_conmon_opts *opts;
    struct tether_log log;
    char *bundle; /* absolute */
    /* conmon's pipes from the caller (-1 when not given) */
    int sync_fd, start_fd, attach_pipe_fd;
    /* -l passthrough: the caller's stdio, handed to the process (-1 otherwise) */
    int stdio_fds[3];
    /* fds inherited from the caller (reserved ports ...), held until the exit file */
    int *extra_fds;
    size_t n_extra_fds;

    struct tether_core *core;
    struct tether_container *ctr;
    const char *exec_id; /* -u for -e, else NULL */
    struct tether_conmon_attach attach;
    bool attach_open;
    struct tether_conmon_ctl ctl;
    char *symlink; /* --socket-dir-path/<cuuid>, when made */
    struct tether_timer timeout;
    struct tether_source start_src;
    struct tether_call call;

    pid_t pid;                     /* the process, once the runtime made it */
    bool started;                  /* it did: the exit command runs after its end */
    bool exited;                   /* its exit was announced */
    bool timed_out;                /* killed by --timeout */
    bool oom_marked;               /* the oom files are there */
    bool failed;                   /* it could not be started (the sync pipe said why) */
    bool stdin_end;                /* a client ended its input before the process existed */
    int exit_code;                 /* what the exit file holds */
    unsigned size_rows, size_cols; /* a terminal size asked before the terminal existed */
};

/* Sets m up (the caller fills opts, the pipes, stdio_fds and extra fds before). */
void tether_conmon_init(struct tether_conmon *m, const struct tether_conmon_opts *opts);
/* Makes the core, the attach socket and the FIFOs, starts the process and runs until its
 * end is written down. Returns -1 with err when it could not start (the caller was told on
 * the sync pipe); then m->started is false and nothing of it is left. */
int tether_conmon_run(struct tether_conmon *m, struct tether_error *err);
/* Releases everything (and closes the caller's pipes). */
void tether_conmon_fini(struct tether_conmon *m);

#endif
