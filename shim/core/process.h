/* A process the shim watches: the container's init or an exec. Holds what every process
 * has: its pid, its stdio, its exit record and the calls waiting for that exit. */
#ifndef TETHER_SHIM_PROCESS_H
#define TETHER_SHIM_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include <tether/core.h>
#include <tether/error.h>

#include "console.h"
#include "exitrec.h"
#include "io.h"
#include "reaper.h"

struct tether_container;

enum tether_proc_state {
    TETHER_PROC_STARTING, /* the runtime command that starts it is running */
    TETHER_PROC_RUNNING,
    TETHER_PROC_STOPPED,
};

struct tether_process {
    struct tether_container *ctr;
    char *exec_id; /* NULL for the init */
    enum tether_proc_state state;
    pid_t pid;
    struct tether_child child;
    bool exited;         /* exit holds the status (maybe not announced yet) */
    bool exit_announced; /* the exit event went out and waits were answered */
    struct tether_exit exit;
    struct tether_call *waiters;
    struct tether_io io;
    struct tether_console console;
    bool terminal;
    struct tether_process *next;
};

void tether_process_init(struct tether_process *p, struct tether_container *ctr,
                         const char *exec_id,
                         void (*exited)(struct tether_child *, int, const struct timespec *));
void tether_process_fini(struct tether_process *p);

/* Opens the log, makes the pipes or the console socket (tag names the socket). */
int tether_process_prepare(struct tether_process *p, const struct tether_process_opts *opts,
                           const char *tag, struct tether_error *err);
/* After the runtime command returned: takes the pty master in terminal mode. */
int tether_process_started(struct tether_process *p, struct tether_error *err);

/* Queues a wait, or answers it at once when the exit was announced. */
void tether_process_wait(struct tether_process *p, struct tether_call *call);

/* Drains output, publishes `exit` (with exec_id for an exec) and answers every wait. The
 * caller persists the status first where it must (exit.json for the init). */
void tether_process_announce_exit(struct tether_process *p);

/* Answers every queued wait with the exit record. */
void tether_process_answer_waits(struct tether_process *p);

/* Fails the waits of a connection that went away. */
void tether_process_cancel(struct tether_process *p, uint64_t owner);

#endif
