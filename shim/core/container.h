/* The container model: one container, its lifecycle as an explicit state machine, its
 * exec processes, and the operations of <tether/core.h>. Runtime
 * commands run as children of the shim and complete when the reaper hands back their
 * exit; nothing here blocks. */
#ifndef TETHER_SHIM_CONTAINER_H
#define TETHER_SHIM_CONTAINER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>
#include <tether/runtime.h>
#include <tether/timer.h>

#include "cgroup.h"
#include "events.h"
#include "exitrec.h"
#include "job.h"
#include "process.h"
#include "reaper.h"
#include "seccomp.h"

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

/* Everything the model needs from the core around it. The strings are the container's own
 * (freed by tether_container_fini). */
struct tether_ctr_env {
    const struct tether_log *log;
    struct tether_loop *loop;
    struct tether_reaper *reaper;
    const struct tether_runtime *rt;
    struct tether_core *core;
    char *id;
    char *bundle;
    char *dir;                   /* the core's files for this container */
    char *pid_file;              /* the init's pid file */
    bool persist_exit;           /* write <dir>/exit.json */
    bool external;               /* created by someone else: execs only */
    unsigned runtime_timeout_ms; /* 0 = none */
    const char *init_path;       /* tether-init binary for create {"init":true} */
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
    bool cg_open; /* cg found (from the init's /proc entry), until oom_stop */
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
    bool runtime_gone;            /* the runtime no longer has the container (aborted restart,
                                     release_on_exit) */
    bool releasing;               /* release_on_exit: the runtime's delete is running */
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
    struct tether_container *next; /* the core's table */
    bool removed;                  /* freed at the end of the loop's turn */
};

void tether_container_init(struct tether_container *ctr, const struct tether_ctr_env *env);
/* Releases what the model holds; in-flight runtime commands are killed and reaped. */
void tether_container_fini(struct tether_container *ctr);

/* The process an exec_id names (NULL = the init), or NULL with err (not found). */
struct tether_process *tether_container_process(struct tether_container *ctr, const char *exec_id,
                                                struct tether_error *err);

/* The status the model shows (transient states look like the state they leave). */
enum tether_status tether_container_status(const struct tether_container *ctr);

/* Records an event of this container (tmpl->id is set here) and hands it to the front end. */
void tether_container_publish(struct tether_container *ctr, const struct tether_event *tmpl);

/* The transition table, exposed for unit tests: the next state, or -1 when the event is
 * not allowed in this state. */
int tether_container_next_state(enum tether_ctr_state state, enum tether_ctr_event ev);

/* Refuses (kind STATE) an operation on the init of an external container; 0 otherwise. */
int tether_container_refuse_external(const struct tether_container *ctr, const char *what,
                                     struct tether_error *err);

/* Called by exec.c when an exec process exits (the init's exit may wait for it). */
void tether_container_exec_settled(struct tether_container *ctr);

/* From core.c: the journal and the front end's hooks. */
void tether_core_publish(struct tether_core *core, const struct tether_event *tmpl);
void tether_core_output(struct tether_core *core, struct tether_container *ctr, const char *exec_id,
                        enum tether_logfmt_stream stream, const char *data, size_t len);
void tether_core_stdin_ready(struct tether_core *core, struct tether_container *ctr,
                             const char *exec_id);

#endif
