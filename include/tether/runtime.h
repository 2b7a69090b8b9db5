/* Driver for an OCI runtime binary (runc, crun). Every operation can be started without
 * blocking: tether_runtime_spawn() starts the runtime with an argv array (never a shell)
 * and hands back the child's pid; the caller reaps that pid itself (the shim owns
 * waitpid) and then calls tether_runtime_finish() with the wait status. The driver only
 * ever waits for a pid in the blocking wrapper tether_runtime_run(), and there only for the
 * pid it spawned. */
#ifndef TETHER_RUNTIME_H
#define TETHER_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <tether/error.h>

struct tether_runtime {
    char *path;         /* absolute path of the runtime binary */
    char *name;         /* basename, e.g. "runc" */
    char *root;         /* value of the global --root option, or NULL for the runtime's default */
    char **global_args; /* more global options (before the subcommand), NULL-terminated */
    /* RLIMIT_NOFILE when tether_runtime_init ran: runtime children get it back, whatever the
     * caller raised its own limit to since. */
    struct rlimit nofile;
    bool have_nofile;
};

enum tether_runtime_op {
    TETHER_RT_CREATE,
    TETHER_RT_START,
    TETHER_RT_STATE,
    TETHER_RT_KILL,
    TETHER_RT_DELETE,
    TETHER_RT_EXEC,
    TETHER_RT_PAUSE,
    TETHER_RT_RESUME,
    TETHER_RT_PS,
    TETHER_RT_UPDATE,
    TETHER_RT_VERSION,
    TETHER_RT_RUN,        /* run --detach: create and start in one invocation */
    TETHER_RT_CHECKPOINT, /* CRIU dump of the running container */
};

/* Arguments of one invocation; fields an operation does not use are ignored. */
struct tether_runtime_args {
    const char *id;             /* container id (all but VERSION) */
    const char *bundle;         /* CREATE, RUN: bundle directory */
    const char *pid_file;       /* CREATE, RUN, EXEC: --pid-file */
    const char *console_socket; /* CREATE, RUN, EXEC: --console-socket, or NULL */
    const char *process_file;   /* EXEC: --process FILE (a runtime-spec Process JSON) */
    bool detach;                /* EXEC: --detach */
    int signal;                 /* KILL: signal number */
    bool all;                   /* KILL: --all */
    bool force;                 /* DELETE: --force */
    const char *const *extra;   /* CREATE/RUN/EXEC: extra args before the id, NULL-terminated */
    /* Standard input, output and error the runtime child gets, for CREATE, RUN and EXEC
     * without a terminal (runc hands its own stdio to the container). -1 means /dev/null.
     * For every other operation stdout is captured instead and stdin_fd is ignored. */
    int stdin_fd, stdout_fd, stderr_fd;
    /* UPDATE: JSON of a LinuxResources object, fed on stdin (--resources -). */
    const char *input;
    size_t input_len;
    /* CHECKPOINT: where the images go (absolute, required), CRIU's work directory (NULL:
     * the image directory), whether the container keeps running, and CRIU's options for
     * established TCP connections, external UNIX sockets, a terminal (shell job), file
     * locks and namespaces left empty (NULL-terminated, may be NULL). */
    const char *image_path;
    const char *work_path;
    bool leave_running;
    bool tcp_established, ext_unix_sk, shell_job, file_locks;
    const char *const *empty_ns;
};

/* Initializes args with no fds (-1) and everything else zero. */
void tether_runtime_args_init(struct tether_runtime_args *args);

/* An invocation in flight. */
struct tether_runtime_cmd {
    enum tether_runtime_op op;
    pid_t pid;     /* the runtime child, 0 once finished */
    int out_fd;    /* memfd capturing stdout, or -1 */
    int err_fd;    /* memfd capturing stderr, or -1 */
    int log_fd;    /* memfd given to the runtime as --log /proc/self/fd/N --log-format json */
    int report_fd; /* the child's report of a failed exec, read by finish */
    const char *runtime_path; /* for that report's message (the runtime outlives cmd) */
};

/* Resolves name_or_path (a name looked up on PATH, or an absolute path; NULL = "runc") and
 * checks it is an executable file. root may be NULL. */
int tether_runtime_init(struct tether_runtime *rt, const char *name_or_path, const char *root,
                        struct tether_error *err);
void tether_runtime_fini(struct tether_runtime *rt);

/* Global options given to every command after --root and before the driver's own --log and
 * --log-format (so a --log among them is overridden and the runtime's errors still reach
 * the driver). args is NULL-terminated and copied; NULL removes them. Kind TOO_LARGE past
 * 256 arguments. */
int tether_runtime_set_global_args(struct tether_runtime *rt, const char *const *args,
                                   struct tether_error *err);

/* Builds the argv for op (argv[0] is rt->path); log_path is passed as --log when not NULL.
 * The result is a NULL-terminated array of malloc'd strings: free with
 * tether_runtime_argv_free(). Pure: no system calls, for unit tests. */
int tether_runtime_build_argv(const struct tether_runtime *rt, enum tether_runtime_op op,
                              const struct tether_runtime_args *args, const char *log_path,
                              char ***argv_out, struct tether_error *err);
void tether_runtime_argv_free(char **argv);

/* Starts op: a child (sharing the caller's memory until its exec, as posix_spawn's does)
 * gets PR_SET_PDEATHSIG(SIGKILL), an empty signal mask, default dispositions, the requested
 * stdio, and no other fd, and execs the runtime. Returns 0 with cmd->pid set once the child
 * has exec'd (or failed to: it does not wait for the runtime's run); the caller must reap
 * cmd->pid and then call tether_runtime_finish(), which also reports a runtime binary that
 * could not be executed (kind INTERNAL, its errno). */
int tether_runtime_spawn(const struct tether_runtime *rt, enum tether_runtime_op op,
                         const struct tether_runtime_args *args, struct tether_runtime_cmd *cmd,
                         struct tether_error *err);

/* Completes a command whose child the caller has reaped with wait_status. On success
 * returns 0 and, when out is not NULL, hands back the captured stdout (NUL-terminated,
 * caller frees). On failure returns -1 with kind TETHER_ERR_RUNTIME and the runtime's own
 * error text (last error-level message of its JSON log, else its stderr, else how it
 * ended). Always releases the command's fds. */
int tether_runtime_finish(struct tether_runtime_cmd *cmd, int wait_status, char **out,
                          struct tether_error *err);

/* Releases a command's fds without looking at its result (e.g. the shim is going away).
 * Does not kill or reap the child. */
void tether_runtime_cmd_release(struct tether_runtime_cmd *cmd);

/* Blocking wrapper for tools and tests: spawn, waitpid(cmd.pid), finish. */
int tether_runtime_run(const struct tether_runtime *rt, enum tether_runtime_op op,
                       const struct tether_runtime_args *args, char **out,
                       struct tether_error *err);

/* The runtime's error text out of its JSON log (one object per line, {"level","msg"}):
 * the last message at level error or fatal, else the last message at all; falls back to
 * the last non-empty line of stderr. Writes into buf; returns false when nothing found. */
bool tether_runtime_error_text(const char *log, size_t log_len, const char *stderr_text,
                               size_t stderr_len, char *buf, size_t len);

/* `state` output. */
struct tether_runtime_state {
    char id[129];
    char status[16]; /* "creating", "created", "running", "paused", "stopped" */
    pid_t pid;
    char bundle[4096];
};
int tether_runtime_parse_state(const char *json, struct tether_runtime_state *st,
                               struct tether_error *err);

/* `ps --format json` output: a JSON array of pids. *pids is malloc'd. */
int tether_runtime_parse_ps(const char *json, pid_t **pids, size_t *n, struct tether_error *err);

/* The pid a runtime wrote with --pid-file (create, run, exec). Kind RUNTIME when the file
 * does not hold a pid. */
pid_t tether_runtime_read_pid_file(const char *path, struct tether_error *err);

/* First line of `--version` output, e.g. "runc version 1.1.5+ds1". */
int tether_runtime_parse_version(const char *out, char *buf, size_t len);

#endif
