/* tetherctl, the command line client of tether-shim: what its subcommands share. Each
 * subcommand is one ctl_cmd_* function taking the parsed command line and returning the
 * process exit status; only main() exits. */
#ifndef TETHER_TETHERCTL_H
#define TETHER_TETHERCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <tether/client.h>
#include <tether/error.h>

/* Exit statuses of tetherctl itself; run, wait, attach, exec and stop exit with the
 * process's status and use CTL_EXIT_RUN_FAILED when they fail themselves (the process's
 * status can be 1 or 2). */
enum ctl_exit {
    CTL_EXIT_OK = 0,
    CTL_EXIT_FAILED = 1,
    CTL_EXIT_USAGE = 2,
    CTL_EXIT_RUN_FAILED = 125,
};

#define CTL_DEFAULT_STATE_DIR "/run/tether"
/* How many -e K=V an exec takes. */
#define CTL_ENV_MAX 256
/* An option given no value: numbers are never negative on the command line. */
#define CTL_UNSET (-1)

/* The parsed command line (flags last, for a compact layout). */
struct ctl {
    const char *state_dir;
    const char *socket; /* --socket, or NULL for <state-dir>/<id>/shim.sock */
    const char *bundle;
    const char *runtime;
    const char *runtime_root;
    int64_t since;
    /* create and run */
    const char *restart; /* POLICY[:MAX] */
    const char *log_format;
    const char *log_path;
    int64_t log_max_size;  /* bytes, or CTL_UNSET */
    int64_t log_max_files; /* or CTL_UNSET */
    /* attach, exec, state, kill */
    const char *exec_id;
    const char *env[CTL_ENV_MAX];
    size_t n_env;
    const char *workdir;
    /* logs */
    const char *path;
    /* update: CTL_UNSET when not given */
    int64_t memory;
    double cpus; /* < 0 when not given */
    int64_t cpu_quota;
    int64_t cpu_period;
    int64_t pids_limit;
    const char *resources; /* --resources JSON */
    /* stats */
    double interval; /* seconds */
    /* stop */
    int64_t timeout; /* seconds, or CTL_UNSET */
    const char *signal;

    const char *id;  /* first operand, when the command takes one */
    char **argv;     /* operands after the command name, the id included */
    char **cmd_argv; /* exec: the command after the id, taken verbatim */
    int argc;
    int cmd_argc;

    bool json;
    bool events;
    bool all;
    bool force;
    bool init;        /* create, run */
    bool tty;         /* create, run, exec */
    bool interactive; /* create, run, exec */
    bool no_stdin;    /* attach */
    bool follow;      /* logs */
    bool watch;       /* stats */
};

int ctl_cmd_run(struct ctl *ctl);
int ctl_cmd_create(struct ctl *ctl);
int ctl_cmd_start(struct ctl *ctl);
int ctl_cmd_state(struct ctl *ctl);
int ctl_cmd_kill(struct ctl *ctl);
int ctl_cmd_wait(struct ctl *ctl);
int ctl_cmd_ps(struct ctl *ctl);
int ctl_cmd_events(struct ctl *ctl);
int ctl_cmd_delete(struct ctl *ctl);
int ctl_cmd_shutdown(struct ctl *ctl);
int ctl_cmd_version(struct ctl *ctl);
int ctl_cmd_ls(struct ctl *ctl);
int ctl_cmd_attach(struct ctl *ctl);
int ctl_cmd_logs(struct ctl *ctl);
int ctl_cmd_exec(struct ctl *ctl);
int ctl_cmd_pause(struct ctl *ctl);
int ctl_cmd_resume(struct ctl *ctl);
int ctl_cmd_stop(struct ctl *ctl);
int ctl_cmd_update(struct ctl *ctl);
int ctl_cmd_stats(struct ctl *ctl);
int ctl_cmd_top(struct ctl *ctl);

/* Prints "tetherctl: <msg>" on stderr and returns status. */
int ctl_fail(const struct tether_error *err, int status);
/* Prints "tetherctl: <formatted>" on stderr and returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Connects to the shim of ctl->id (or ctl->socket). */
struct tether_client *ctl_connect(const struct ctl *ctl, struct tether_error *err);
/* Connects and calls one method; NULL with err set on failure. */
json_t *ctl_call_once(const struct ctl *ctl, const char *method, json_t *params,
                      struct tether_error *err);

/* A command's result: compact JSON with --json, else aligned "key: value" lines (nested
 * objects flattened to dotted keys; an empty object prints nothing). */
void ctl_print_result(const struct ctl *ctl, json_t *result);
/* One event notification's params: a JSON line with --json, else
 * "SEQ TIMESTAMP TOPIC key=value...". Flushes stdout. */
void ctl_print_event(const struct ctl *ctl, json_t *notification);
/* Container exit status as a process exit status (0..255). */
int ctl_exit_status(json_t *result);

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t ctl_now_ms(void);
/* Sleeps ms milliseconds (restarted after signals). */
void ctl_sleep_ms(int64_t ms);

#endif
