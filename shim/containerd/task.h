/* The Task service's records and requests, shared by task.c (the init process and the
 * service), exec.c (exec processes) and encode.c (the messages). */
#ifndef TETHER_CONTAINERD_TASK_H
#define TETHER_CONTAINERD_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include <tether/core.h>

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "shim.h"
#include "status.h"
#include "procio.h"

#define TETHER_CTRD_TASK_SERVICE "containerd.task.v2.Task"

/* A request being answered: the connection and stream it came on. */
struct tether_ctrd_ctx {
    struct tether_ctrd_shim *shim;
    uint64_t conn_id;
    uint32_t stream_id;
};

/* A request waiting for the core; answered on its connection if that is still there. */
struct tether_ctrd_req {
    struct tether_call call;
    struct tether_ctrd_ctx ctx;
    enum tether_ctrd_method method;
    /* Encodes the answer from the core's result. */
    void (*reply)(struct tether_ctrd_req *r, const struct tether_result *res);
    struct tether_ctrd_task *task;
    struct tether_ctrd_exec *exec;
    struct tether_process_opts *proc; /* a Create's or Start's, while its stdio gets ready */
    char *path;                       /* a Checkpoint's work directory, when it made one */
    struct tether_ctrd_req *next;     /* Waits queued on an exec not started yet */
};

enum tether_ctrd_exec_state {
    TETHER_CTRD_EXEC_CREATED,  /* Exec'd: only the front end knows it */
    TETHER_CTRD_EXEC_STARTING, /* the core is starting it */
    TETHER_CTRD_EXEC_STARTED,  /* the core has it (running or exited) */
};

struct tether_ctrd_exec {
    char *exec_id;
    struct tether_ctrd_task *task;
    enum tether_ctrd_exec_state state;
    char *spec; /* runtime-spec Process, JSON */
    char *stdin_path, *stdout_uri, *stderr_uri;
    bool terminal;
    bool stdin_closed; /* CloseIO came before Start */
    struct tether_ctrd_stdio stdio;
    struct tether_ctrd_req *waits; /* Waits before Start */
    struct tether_ctrd_req *start; /* the Start in progress (its stdio is being opened) */
    struct tether_ctrd_exec *next;
};

struct tether_ctrd_task {
    char *id;
    char *bundle;
    Containerd__Task__V2__CreateTaskRequest *create; /* what Create said (for State, TaskCreate) */
    struct tether_ctrd_shim *shim;
    struct tether_container *ctr;
    struct tether_ctrd_stdio stdio;
    bool mounted;
    bool creating; /* Create not answered yet */
    bool deleting;
    struct tether_ctrd_req *create_req;
    struct tether_ctrd_exec *execs;
    struct tether_ctrd_task *next;
};

/* ---- task.c ---- */

struct tether_ctrd_task *tether_ctrd_task_find(struct tether_ctrd_shim *shim, const char *id);
/* The task id names, or NULL after answering NotFound on ctx. */
struct tether_ctrd_task *tether_ctrd_task_get(struct tether_ctrd_ctx *ctx, const char *id);

/* Answers ctx with msg (NULL: Empty), with an error, or with a code and message. */
void tether_ctrd_answer(struct tether_ctrd_ctx *ctx, const ProtobufCMessage *msg);
void tether_ctrd_answer_error(struct tether_ctrd_ctx *ctx, enum tether_ctrd_method method,
                              const struct tether_error *err);
void tether_ctrd_answer_code(struct tether_ctrd_ctx *ctx, enum tether_ttrpc_code code,
                             const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A request record for a core call on ctx; done() answers with reply() or the error. */
struct tether_ctrd_req *
tether_ctrd_req_new(struct tether_ctrd_ctx *ctx, enum tether_ctrd_method method,
                    void (*reply)(struct tether_ctrd_req *, const struct tether_result *));
/* Answers r with msg and frees it. */
void tether_ctrd_req_answer(struct tether_ctrd_req *r, const ProtobufCMessage *msg);
/* Answers r with an error and frees it. */
void tether_ctrd_req_fail(struct tether_ctrd_req *r, const struct tether_error *err);
/* Replies for results that carry an exit (Wait, Delete) or nothing (Empty). */
void tether_ctrd_reply_wait(struct tether_ctrd_req *r, const struct tether_result *res);
void tether_ctrd_reply_empty(struct tether_ctrd_req *r, const struct tether_result *res);

/* ---- exec.c ---- */

struct tether_ctrd_exec *tether_ctrd_exec_find(struct tether_ctrd_task *task, const char *exec_id);
/* The exec exec_id names, or NULL after answering NotFound on ctx. */
struct tether_ctrd_exec *tether_ctrd_exec_get(struct tether_ctrd_ctx *ctx,
                                              struct tether_ctrd_task *task, const char *exec_id);
void tether_ctrd_exec_free(struct tether_ctrd_exec *exec, const struct tether_error *why);

void tether_ctrd_exec_create(struct tether_ctrd_ctx *ctx, struct tether_ctrd_task *task,
                             const Containerd__Task__V2__ExecProcessRequest *req);
void tether_ctrd_exec_start(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec);
void tether_ctrd_exec_state(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec);
void tether_ctrd_exec_delete(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec);
void tether_ctrd_exec_kill(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec, int sig);
void tether_ctrd_exec_wait(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec);
void tether_ctrd_exec_close_io(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec);
void tether_ctrd_exec_resize(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec,
                             unsigned width, unsigned height);
/* Drops the queued Waits of a connection that went away. */
void tether_ctrd_exec_cancel(struct tether_ctrd_exec *exec, uint64_t conn_id);

/* ---- encode.c ---- */

/* Fills a StateResponse from the core's view of the process and what Create/Exec said. */
void tether_ctrd_encode_state(Containerd__Task__V2__StateResponse *resp,
                              const struct tether_state *st, Google__Protobuf__Timestamp *ts);
/* ts set from an exit time; returns ts, or NULL when the process has not exited. */
Google__Protobuf__Timestamp *tether_ctrd_timestamp(Google__Protobuf__Timestamp *ts,
                                                   const struct timespec *at, bool exited);
/* The Stats answer: a cgroups v1 or v2 Metrics message in an Any. */
void tether_ctrd_answer_stats(struct tether_ctrd_ctx *ctx, const struct tether_stats *st);
/* The Pids answer; info (ProcessDetails) for exec processes. */
void tether_ctrd_reply_pids(struct tether_ctrd_req *r, const struct tether_result *res);

#endif
