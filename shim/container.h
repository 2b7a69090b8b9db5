/* The container model: one container, its lifecycle as an explicit state machine, its
 * exec processes, and the operations a front end (JSON-RPC today) can ask for. Runtime
 * commands run as children of the shim and complete when the reaper hands back their
 * exit; nothing here blocks. */
#ifndef TETHER_SHIM_CONTAINER_H
#define TETHER_SHIM_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include <tether/error.h>
#include <tether/runtime.h>

#include "call.h"
#include "cgroup.h"
#include "events.h"
#include "exitrec.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "process.h"
#include "reaper.h"
#include "seccomp.h"
#include "timer.h"

enum tether_ctr_state {
    TETHER_CTR_NEW,      /* no container (before create, after delete) */
    TETHER_CTR_CREATING, /* runtime create running */
    TETHER_CTR_CREATED,
    TETHER_CTR_STARTING, /* runtime start running */
    TETHER_CTR_RUNNING,
    TETHER_CTR_PAUSING,
    TETHER_CTR_PAUSED,
    TETHER_CTR_RESUMING,
    TETHER_CTR_STOPPED,  /* init exited; status held until delete */
    TETHER_CTR_DELETING, /* runtime delete running (and, when forced, the kill) */
    TETHER_CTR_STATE_COUNT,
};

enum tether_ctr_event {
    TETHER_CTR_EV_CREATE,
    TETHER_CTR_EV_CREATED,
    TETHER_CTR_EV_CREATE_FAILED,
    TETHER_CTR_EV_START,
    TETHER_CTR_EV_STARTED,
    TETHER_CTR_EV_START_FAILED,
    TETHER_CTR_EV_PAUSE,
    TETHER_CTR_EV_PAUSED,
    TETHER_CTR_EV_RESUME,
    TETHER_CTR_EV_RESUMED,
    TETHER_CTR_EV_EXIT,
    TETHER_CTR_EV_DELETE,
    TETHER_CTR_EV_DELETED,
    TETHER_CTR_EV_RESTART,         /* the restart policy re-creates a stopped container */
    TETHER_CTR_EV_RESTART_ABORTED, /* stopped by a client while the restart began */
    TETHER_CTR_EV_COUNT,
};

/* Everything the model needs from the shim around it. */
struct tether_ctr_env {
    const struct tether_log *log;
    struct tether_loop *loop;
    struct tether_reaper *reaper;
    const struct tether_runtime *rt;
    struct tether_events *events;
    const char *id;
    const char *bundle;
    const char *dir;             /* <state-dir>/<id> */
    unsigned runtime_timeout_ms; /* 0 = none */
    const char *init_path;       /* tether-init binary for create {"init":true} */
    /* Called after each event is recorded (the front end pushes it to subscribers). */
    void (*on_event)(void *opaque, const struct tether_event *ev);
    /* Called with output of a process as it is read (attached clients). */
    void (*on_output)(void *opaque, const struct tether_process *p,
                      enum tether_logfmt_stream stream, const char *data, size_t len);
    void *opaque;
};

enum tether_restart_kind {
    TETHER_RESTART_NO,
    TETHER_RESTART_ON_FAILURE,
    TETHER_RESTART_ALWAYS,
    TETHER_RESTART_UNLESS_STOPPED,
};

struct tether_restart_policy {
    enum tether_restart_kind kind;
    unsigned max_retries;    /* 0 = no limit */
    unsigned backoff_ms;     /* first delay, doubled per consecutive failure */
    unsigned max_backoff_ms; /* the delay's ceiling */
};

struct tether_create_opts {
    struct tether_process_opts proc;
    char **runtime_args; /* NULL-terminated */
    bool init;           /* run tether-init as PID 1 in front of the bundle's process */
    bool start;          /* start it too (one runtime `run --detach`) */
    struct tether_seccomp_opts seccomp;
    struct tether_restart_policy restart;
};

struct tether_exec_opts {
    const char *exec_id;
    json_t *process; /* runtime-spec Process object (borrowed) */
    struct tether_process_opts proc;
};

struct tether_container {
    struct tether_ctr_env env;
    enum tether_ctr_state state;
    struct tether_process init;
    struct tether_process *execs;
    bool exit_persisted;       /* exit.json holds the init's latest exit */
    unsigned persist_retry_ms; /* delay of the next try to write exit.json, 0 = none */
    struct tether_timer persist_timer;
    struct tether_call *delete_call;
    bool delete_done; /* runtime delete finished (a forced delete joins the exit) */
    enum tether_ctr_state before_delete;
    struct tether_error delete_err;
    struct tether_cgroup cg;
    struct tether_seccomp seccomp;
    struct tether_source oom_src;
    uint64_t oom_events;
    char *exit_path;         /* <dir>/exit.json */
    struct tether_job *jobs; /* runtime commands in flight */
    struct tether_job_env jobenv;
    /* Kept from create for restarts. */
    struct tether_create_opts opts;
    char *runtime_bundle; /* the bundle the runtime is given: the engine's, or <dir> */
    /* Supervision (supervise.c). */
    bool restarting;              /* a restart's create/start is under way */
    bool runtime_gone;            /* the runtime no longer has the container (aborted restart) */
    bool user_stopped;            /* stop or kill from a client: no more restarts */
    unsigned restarts;            /* restarts done */
    struct tether_exit last_exit; /* the exit a restart replaces, until it succeeds */
    unsigned failures;            /* consecutive short runs, for the backoff */
    struct timespec started_at;   /* CLOCK_MONOTONIC of the last start */
    struct tether_timer restart_timer;
    struct tether_timer stop_timer;
    struct tether_call *stop_calls;
    int stop_signal;
    unsigned stop_timeout_s;
    bool stop_pending; /* stop asked while the container was being (re)created */
    unsigned exec_seq;
};

void tether_container_init(struct tether_container *ctr, const struct tether_ctr_env *env);
/* Releases what the model holds; in-flight runtime commands are killed and reaped. */
void tether_container_fini(struct tether_container *ctr);

/* Operations. Each returns -1 with err set when refused at once (the call is not used),
 * or 0 when the call was taken: it is then completed exactly once, maybe already. */
int tether_container_create(struct tether_container *ctr, const struct tether_create_opts *opts,
                            struct tether_call *call, struct tether_error *err);
int tether_container_start(struct tether_container *ctr, struct tether_call *call,
                           struct tether_error *err);
int tether_container_kill(struct tether_container *ctr, const char *exec_id, int sig, bool all,
                          struct tether_call *call, struct tether_error *err);
int tether_container_wait(struct tether_container *ctr, const char *exec_id,
                          struct tether_call *call, struct tether_error *err);
int tether_container_delete(struct tether_container *ctr, bool force, struct tether_call *call,
                            struct tether_error *err);
int tether_container_pids(struct tether_container *ctr, struct tether_call *call,
                          struct tether_error *err);
int tether_container_pause(struct tether_container *ctr, bool pause, struct tether_call *call,
                           struct tether_error *err);
/* resources: LinuxResources JSON text */
int tether_container_update(struct tether_container *ctr, const char *resources,
                            struct tether_call *call, struct tether_error *err);
/* Docker's stop: signal (0 = the bundle's stop signal), wait up to timeout_s, then
 * SIGKILL; answers {"exit_status"} and ends restarts. Runs to completion even when the
 * caller goes away. */
int tether_container_stop(struct tether_container *ctr, int sig, unsigned timeout_s,
                          struct tether_call *call, struct tether_error *err);

/* The `stats` result (new reference). */
json_t *tether_container_stats(struct tether_container *ctr, struct tether_error *err);

int tether_container_exec(struct tether_container *ctr, const struct tether_exec_opts *opts,
                          struct tether_call *call, struct tether_error *err);
/* Removes the record of a finished exec. */
int tether_container_exec_delete(struct tether_container *ctr, const char *exec_id,
                                 struct tether_error *err);

/* The process an exec_id names (NULL = the init), or NULL with err (not found). */
struct tether_process *tether_container_process(struct tether_container *ctr, const char *exec_id,
                                                struct tether_error *err);

/* The `state` result (new reference), or NULL with err when there is no such process. */
json_t *tether_container_state_json(struct tether_container *ctr, const char *exec_id,
                                    struct tether_error *err);

/* Drops the pending calls of a front-end connection that went away. */
void tether_container_cancel(struct tether_container *ctr, uint64_t owner);

/* "created", "running", … as the protocol names them. */
const char *tether_container_status(const struct tether_container *ctr);

/* Records an event and hands it to the front end. */
void tether_container_publish(struct tether_container *ctr, const char *topic, json_t *fields);

/* The transition table, exposed for unit tests: the next state, or -1 when the event is
 * not allowed in this state. */
int tether_container_next_state(enum tether_ctr_state state, enum tether_ctr_event ev);

/* Called by exec.c when an exec process exits (the init's exit may wait for it). */
void tether_container_exec_settled(struct tether_container *ctr);

#endif
