/* Reaping: the shim is a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER), so the
 * container's init (re-parented to us when `runtime create` exits), runtime commands,
 * exec processes and, in a shared PID namespace, the container's orphans all end up as
 * our children. On SIGCHLD the shim calls tether_reaper_reap(), which waits for every
 * exited child with waitpid(-1, WNOHANG) and hands each status to whoever watches that
 * pid. Pids nobody watches are remembered for a while: a process can exit before the
 * runtime's pid file told us its pid, and tether_reaper_adopt() matches it then. */
#ifndef TETHER_SHIM_REAPER_H
#define TETHER_SHIM_REAPER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <tether/log.h>

/* Exits of pids nobody watches yet; an early exit is matched within one runtime command,
 * so a short memory is enough. */
#define TETHER_REAPER_EARLY_MAX 64

struct tether_child {
    pid_t pid;
    /* Called once with the waitpid() status; the child is no longer watched by then. */
    void (*exited)(struct tether_child *child, int wait_status, const struct timespec *at);
    struct tether_child *next;
};

struct tether_early_exit {
    pid_t pid;
    int status;
    struct timespec at;
    uint64_t mark;
};

struct tether_reaper {
    struct tether_child *children;
    struct tether_early_exit early[TETHER_REAPER_EARLY_MAX];
    size_t early_next;
    uint64_t mark; /* counts reaped pids */
    const struct tether_log *log;
};

void tether_reaper_init(struct tether_reaper *r, const struct tether_log *log);

/* Watches child->pid, a pid known before it can have exited (we forked it). */
void tether_reaper_watch(struct tether_reaper *r, struct tether_child *child);
void tether_reaper_unwatch(struct tether_reaper *r, struct tether_child *child);

/* A mark to take before starting something that will report a pid later (the runtime's
 * pid file): only exits reaped after the mark can belong to that pid, which keeps an old
 * unrelated exit of a reused pid from matching. */
uint64_t tether_reaper_mark(const struct tether_reaper *r);

/* Watches child->pid, learnt after the fact: when it already exited after mark, calls
 * child->exited() now and returns true. */
bool tether_reaper_adopt(struct tether_reaper *r, struct tether_child *child, uint64_t mark);

/* Reaps every exited child; returns how many. */
int tether_reaper_reap(struct tether_reaper *r);

#endif
