/* tether-init: the container's PID 1. It runs one command as its child, forwards the
 * signals it receives to it, reaps every process that ends up as its child and exits with
 * the child's status. A standalone static binary: it uses no tether library. */
#ifndef TETHER_INIT_H
#define TETHER_INIT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Exit codes of tether-init's own failures, s6 style: 100 for a permanent error (bad
 * command line), 111 for a temporary one (a system call failed). 126 and 127 follow the
 * shells: CMD was found but cannot be run, CMD was not found. */
#define INIT_EXIT_USAGE       100
#define INIT_EXIT_SYSTEM      111
#define INIT_EXIT_CANNOT_EXEC 126
#define INIT_EXIT_NOT_FOUND   127

/* Bounds of the command line: seconds for --grace/--kill-timeout, -e codes. */
#define INIT_SECONDS_MAX      100000000
#define INIT_DEFAULT_GRACE_MS 5000
#define INIT_EXIT_CODES       256
#define INIT_ERROR_MSG_MAX    256
/* The largest pid (PID_MAX_LIMIT, 2^22) and how many parents a /proc ancestry walk follows. */
#define INIT_PID_MAX      4194304
#define INIT_ANCESTRY_MAX 1024

struct init_error {
    int errnum; /* errno value, or 0 for a usage error */
    char msg[INIT_ERROR_MSG_MAX];
};

struct init_options {
    char **argv;                           /* CMD and its ARGS, NULL-terminated */
    uint64_t expect[INIT_EXIT_CODES / 64]; /* -e: one bit per exit code mapped to 0 */
    int64_t grace_ms;                      /* --grace */
    int64_t kill_timeout_ms;               /* --kill-timeout; -1 when not given */
    int pdeathsig;                         /* -p; 0 when not given */
    int verbosity;                         /* -v count */
    bool group;                            /* -g: signal the child's process group */
    bool subreaper;                        /* -s */
};

/* Where the supervision is. RUNNING and STOPPING forward signals to the child; STOPPING
 * has the --kill-timeout deadline armed; DRAINING follows the child's exit and has the
 * --grace deadline armed; DONE leaves the loop, and whatever is left is SIGKILLed and
 * waited for. The --kill-timeout's expiry goes straight to DONE: no grace after it. */
enum init_phase {
    INIT_RUNNING,
    INIT_STOPPING,
    INIT_DRAINING,
    INIT_DONE,
};

struct init {
    const struct init_options *opt;
    pid_t self;
    bool pid1;          /* PID 1 of its namespace: every other process is a descendant */
    bool chld_ignored;  /* the caller had SIGCHLD ignored: restored for CMD */
    uint64_t orig_mask; /* the caller's signal mask, restored for CMD */
    pid_t child;
    bool child_reaped;
    int child_status; /* wait status of the child, valid once child_reaped */
    enum init_phase phase;
    int64_t deadline_ms; /* CLOCK_MONOTONIC; valid in STOPPING and DRAINING */
};

enum init_parse_result {
    INIT_PARSE_RUN,
    INIT_PARSE_HELP,
    INIT_PARSE_VERSION,
    INIT_PARSE_USAGE, /* err says what is wrong */
};

/* options.c: fills opt from argv and the environment (TETHER_INIT_GRACE). */
enum init_parse_result init_options_parse(struct init_options *opt, int argc, char **argv,
                                          struct init_error *err);
/* Prints the usage text to fd. */
void init_options_usage(int fd);
void init_options_version(int fd);

/* sig.c: signal numbers, names and the raw signal mask. The mask is handled as the
 * kernel's 64-bit set so that the signals a libc keeps for itself (32-34) are blocked,
 * waited for and restored like any other. */
int init_sig_parse(const char *s); /* "SIGTERM", "term", "15", "RTMIN+2"; -1 if invalid */
const char *init_sig_name(int sig, char *buf, size_t len);
int init_sig_setmask(const uint64_t *set, uint64_t *old);
/* Waits for any signal for at most timeout_ms (forever when negative); returns its
 * number, or -1 with errno EAGAIN on timeout (EINTR after a stop). */
int init_sig_wait(int64_t timeout_ms);
int64_t init_now_ms(void);

enum init_spawn_result {
    INIT_SPAWN_OK,
    INIT_SPAWN_FAILED,      /* pipe or fork failed */
    INIT_SPAWN_EXEC_FAILED, /* err->errnum is execvp's errno; the child is reaped */
};

/* spawn.c: forks and execs the command, sets in->child. */
enum init_spawn_result init_child_spawn(struct init *in, struct init_error *err);
/* The exit code for an execvp errno: 127 for ENOENT/ENOTDIR (nothing by that name),
 * 126 for anything else (it is there but cannot be run), as the shells do. */
int init_exec_exit_code(int errnum);

/* procs.c: reaps every child that has exited, recording the main child's status; returns
 * whether any child is left. */
bool init_procs_reap(struct init *in);
/* Sends sig to every other process that remains: as PID 1 all of them (kill -1), as a
 * subreaper every descendant found in /proc. */
void init_procs_signal(const struct init *in, int sig);
/* Waits (blocking) for one child; false when there is none left. */
bool init_procs_wait_one(struct init *in);

/* log.c: messages on stderr prefixed "tether-init: ", shown when level <= verbosity. */
void init_log(const struct init *in, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void init_log_error(const struct init_error *err);
int init_error_set(struct init_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* snprintf for %s, %d, %c and %% only; returns the length written (truncated to len). */
size_t init_format(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
