/* The Task service: the method table and the init process's methods. Requests that need
 * the core embed a tether_call in a request record and are answered when it completes;
 * the others are answered at once. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <ftw.h>
#include <sys/stat.h>

#include <jansson.h>

#include <tether/util.h>

#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/runc/options/oci.pb-c.h"
#include "mount.h"
#include "task.h"

/* ---- answers ---- */

static struct tether_ctrd_conn *ctx_conn(const struct tether_ctrd_ctx *ctx)
{
    return tether_ctrd_server_find(&ctx->shim->server, ctx->conn_id);
}

void tether_ctrd_answer(struct tether_ctrd_ctx *ctx, const ProtobufCMessage *msg)
{
    struct tether_ctrd_conn *conn = ctx_conn(ctx);
    cleanup_free uint8_t *payload = NULL;
    size_t len = 0;

    if (conn == NULL)
        return;
    if (msg != NULL)
        payload = tether_ttrpc_pack(msg, &len);
    tether_ctrd_conn_respond(conn, ctx->stream_id, TETHER_TTRPC_CODE_OK, NULL, payload, len);
}

void tether_ctrd_answer_code(struct tether_ctrd_ctx *ctx, enum tether_ttrpc_code code,
                             const char *fmt, ...)
{
    struct tether_ctrd_conn *conn = ctx_conn(ctx);
    char msg[TETHER_ERROR_MSG_MAX];
    va_list ap;

    if (conn == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_debug(&ctx->shim->log, "stream %u: error %d: %s", ctx->stream_id, (int)code, msg);
    tether_ctrd_conn_respond(conn, ctx->stream_id, code, msg, NULL, 0);
}

void tether_ctrd_answer_error(struct tether_ctrd_ctx *ctx, enum tether_ctrd_method method,
                              const struct tether_error *err)
{
    tether_ctrd_answer_code(ctx, tether_ctrd_status_code(method, err), "%s", err->msg);
}

static void req_done(struct tether_call *call, const struct tether_error *err,
                     const struct tether_result *res)
{
    struct tether_ctrd_req *r = container_of(call, struct tether_ctrd_req, call);

    if (err != NULL)
        tether_ctrd_req_fail(r, err);
    else
        r->reply(r, res);
}

struct tether_ctrd_req *
tether_ctrd_req_new(struct tether_ctrd_ctx *ctx, enum tether_ctrd_method method,
                    void (*reply)(struct tether_ctrd_req *, const struct tether_result *))
{
    struct tether_ctrd_req *r = xzalloc(sizeof(*r));

    r->call.done = req_done;
    r->call.owner = ctx->conn_id;
    r->ctx = *ctx;
    r->method = method;
    r->reply = reply;
    return r;
}

void tether_ctrd_req_answer(struct tether_ctrd_req *r, const ProtobufCMessage *msg)
{
    tether_ctrd_answer(&r->ctx, msg);
    free(r->proc);
    free(r->path);
    free(r);
}

void tether_ctrd_req_fail(struct tether_ctrd_req *r, const struct tether_error *err)
{
    tether_ctrd_answer_error(&r->ctx, r->method, err);
    free(r->proc);
    free(r->path);
    free(r);
}

void tether_ctrd_reply_empty(struct tether_ctrd_req *r, const struct tether_result *res)
{
    (void)res;
    tether_ctrd_req_answer(r, NULL);
}

void tether_ctrd_reply_wait(struct tether_ctrd_req *r, const struct tether_result *res)
{
    Containerd__Task__V2__WaitResponse resp = CONTAINERD__TASK__V2__WAIT_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts;

    resp.exit_status = (uint32_t)res->exit.exit_status;
    resp.exited_at = tether_ctrd_timestamp(&ts, &res->exit.exited_at, true);
    tether_ctrd_req_answer(r, &resp.base);
}

/* ---- the table of tasks ---- */

struct tether_ctrd_task *tether_ctrd_task_find(struct tether_ctrd_shim *shim, const char *id)
{
    struct tether_ctrd_task *t;

    for (t = shim->tasks; t != NULL; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}

struct tether_ctrd_task *tether_ctrd_task_get(struct tether_ctrd_ctx *ctx, const char *id)
{
    struct tether_ctrd_task *t = tether_ctrd_task_find(ctx->shim, id != NULL ? id : "");

    if (t == NULL)
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_NOT_FOUND,
                                "container not created: not found");
    return t;
}

/* Takes the task out of the table and frees it: its processes are gone from the core. */
static void task_free(struct tether_ctrd_task *task)
{
    struct tether_ctrd_shim *shim = task->shim;
    struct tether_ctrd_task **pp;
    struct tether_error why = {0};

    for (pp = &shim->tasks; *pp != NULL; pp = &(*pp)->next)
        if (*pp == task) {
            *pp = task->next;
            shim->n_tasks--;
            break;
        }
    tether_error_setk(&why, TETHER_ERR_NOT_FOUND, 0, "container %s was deleted", task->id);
    if (task->create_req != NULL && task->ctr == NULL) {
        /* Teardown while its stdio was being made ready: the core never saw it. */
        tether_ctrd_req_fail(task->create_req, &why);
        task->create_req = NULL;
    }
    while (task->execs != NULL)
        tether_ctrd_exec_free(task->execs, &why);
    tether_ctrd_stdio_close(&task->stdio);
    tether_ttrpc_message_free(&task->create->base);
    free(task->id);
    free(task->bundle);
    free(task);
}

/* A rootfs being unmounted by a process of its own. */
struct unmount {
    struct tether_ctrd_shim *shim;
    char *id;
    char *bundle;
};

static void unmount_free(struct unmount *u)
{
    free(u->id);
    free(u->bundle);
    free(u);
}

static int unmount_child(void *arg)
{
    struct unmount *u = arg;
    struct tether_error err = {0};

    if (tether_ctrd_rootfs_unmount(u->bundle, false, &err) < 0) {
        log_warn(&u->shim->log, "task %s: %s", u->id, err.msg);
        return 1;
    }
    return 0;
}

static void unmount_done(void *opaque, int wait_status)
{
    struct unmount *u = opaque;
    struct tether_ctrd_shim *shim = u->shim;

    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0)
        log_debug(&shim->log, "task %s: the rootfs unmount ended with wait status 0x%x", u->id,
                  wait_status);
    unmount_free(u);
    shim->unmounts--;
    tether_ctrd_shim_settled(shim);
}

/* Unmounting an overlay syncs the filesystem under it: milliseconds in the kernel, which
 * the loop does not wait for (other tasks of the group, the answer to Delete, the events).
 * A Shutdown waits for it before the shim exits; the `delete` command containerd runs next
 * unmounts whatever is left. */
static void rootfs_unmount(struct tether_ctrd_task *task)
{
    struct tether_ctrd_shim *shim = task->shim;
    struct unmount *u = xzalloc(sizeof(*u));
    struct tether_error err = {0};

    u->shim = shim;
    u->id = xstrdup(task->id);
    u->bundle = xstrdup(task->bundle);
    if (tether_core_fork(shim->core, unmount_child, u, unmount_done, u, &err) == 0) {
        shim->unmounts++;
        return;
    }
    log_debug(&shim->log, "task %s: unmounting in the loop: %s", task->id, err.msg);
    unmount_child(u);
    unmount_free(u);
}

/* Unmounts, forgets the container in the core and frees the record. At teardown only the
 * record goes: the container keeps running on its root filesystem. */
static void task_remove(struct tether_ctrd_task *task)
{
    struct tether_error err = {0};

    if (task->shim->tearing_down) {
        task_free(task);
        return;
    }
    if (task->mounted)
        rootfs_unmount(task);
    if (task->ctr != NULL && tether_core_remove(task->shim->core, task->ctr, &err) < 0)
        log_warn(&task->shim->log, "task %s: %s", task->id, err.msg);
    task_free(task);
}

void tether_ctrd_tasks_free(struct tether_ctrd_shim *shim)
{
    while (shim->tasks != NULL)
        task_free(shim->tasks);
}

/* ---- Create ---- */

static void create_failed(struct tether_ctrd_req *r, const struct tether_error *err)
{
    struct tether_ctrd_task *task = r->task;

    log_warn(&task->shim->log, "create %s: %s", task->id, err->msg);
    task->create_req = NULL;
    tether_ctrd_req_fail(r, err);
    task_remove(task);
}

static void create_done(struct tether_call *call, const struct tether_error *err,
                        const struct tether_result *res)
{
    struct tether_ctrd_req *r = container_of(call, struct tether_ctrd_req, call);
    Containerd__Task__V2__CreateTaskResponse resp =
        CONTAINERD__TASK__V2__CREATE_TASK_RESPONSE__INIT;

    if (err != NULL) {
        create_failed(r, err);
        return;
    }
    r->task->creating = false;
    r->task->create_req = NULL;
    resp.pid = (uint32_t)res->pid;
    tether_ctrd_req_answer(r, &resp.base);
}

/* The stdio is ready: the runtime creates the container. */
static void create_go(void *opaque, const struct tether_error *ready_err)
{
    struct tether_ctrd_req *r = opaque;
    struct tether_ctrd_task *task = r->task;
    struct tether_ctrd_shim *shim = task->shim;
    const struct tether_container_config cfg = {
        .id = task->id, .bundle = task->bundle, .dir = task->bundle};
    struct tether_create_opts opts = {0};
    struct tether_error err = {0};

    if (ready_err != NULL) {
        create_failed(r, ready_err);
        return;
    }
    opts.proc = *r->proc;
    /* Once a task has exited, the core answers every request but Delete from its own
     * record, without the runtime: the runtime's delete need not wait for containerd's
     * Delete, and runs while containerd takes the exit in. */
    opts.release_on_exit = true;
    /* containerd's Start comes here: the OOM watch waits for it. */
    opts.watch_at_start = true;
    free(r->proc);
    r->proc = NULL;
    task->ctr = tether_core_add(shim->core, &cfg, &err);
    if (task->ctr == NULL) {
        create_failed(r, &err);
        return;
    }
    r->call.done = create_done;
    if (tether_container_create(task->ctr, &opts, &r->call, &err) < 0) {
        create_failed(r, &err);
        return;
    }
    tether_ctrd_stdio_handed(&task->stdio);
}

/* What the `delete` command needs to clean up with the bundle alone. */
static int write_bundle_file(struct tether_ctrd_shim *shim, const char *bundle,
                             struct tether_error *err)
{
    cleanup_free char *path = xasprintf("%s/%s", bundle, TETHER_CTRD_BUNDLE_FILE);
    json_t *obj = json_pack("{s:s,s:s}", "runtime", tether_core_runtime_path(shim->core), "root",
                            shim->cfg.runtime_root);
    char *text = json_dumps(obj, JSON_COMPACT);
    int rc;

    json_decref(obj);
    if (text == NULL)
        return tether_error_set(err, 0, "cannot encode %s", path);
    rc = tether_write_file_atomic(path, text, strlen(text), 0644, err);
    free(text);
    return rc;
}

static void m_create(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    Containerd__Task__V2__CreateTaskRequest *req = (Containerd__Task__V2__CreateTaskRequest *)*msg;
    struct tether_ctrd_shim *shim = ctx->shim;
    struct tether_process_opts *proc;
    struct tether_ctrd_task *task;
    struct tether_ctrd_req *r;
    struct tether_error err = {0};
    int rc;

    if (!tether_id_valid(req->id)) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_INVALID_ARGUMENT, "invalid task id");
        return;
    }
    if (req->bundle[0] != '/') {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_INVALID_ARGUMENT,
                                "bundle must be an absolute path");
        return;
    }
    if (tether_ctrd_task_find(shim, req->id) != NULL) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_ALREADY_EXISTS, "task %s: already exists",
                                req->id);
        return;
    }
    if (req->checkpoint[0] != '\0') {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_UNIMPLEMENTED,
                                "restoring a task from a checkpoint is not supported");
        return;
    }
    task = xzalloc(sizeof(*task));
    task->shim = shim;
    task->id = xstrdup(req->id);
    task->bundle = xstrdup(req->bundle);
    task->create = req;
    *msg = NULL;
    task->creating = true;
    tether_ctrd_stdio_init(&task->stdio, &shim->stdio);
    task->next = shim->tasks;
    shim->tasks = task;
    shim->n_tasks++;

    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, NULL);
    r->task = task;
    task->create_req = r;
    if (tether_ctrd_rootfs_mount(task->bundle, req->rootfs, req->n_rootfs, &err) < 0) {
        create_failed(r, &err);
        return;
    }
    task->mounted = req->n_rootfs > 0;
    if (write_bundle_file(shim, task->bundle, &err) < 0) {
        create_failed(r, &err);
        return;
    }
    /* The process options wait in the request until the stdio is ready. */
    proc = xzalloc(sizeof(*proc));
    r->proc = proc;
    rc = tether_ctrd_stdio_open(&task->stdio,
                                &(struct tether_ctrd_stdio_config){.stdin_path = req->stdin,
                                                                   .stdout_uri = req->stdout,
                                                                   .stderr_uri = req->stderr,
                                                                   .terminal = req->terminal,
                                                                   .id = task->id,
                                                                   .ns = shim->cfg.ns,
                                                                   .cwd = task->bundle},
                                proc, create_go, r, &err);
    if (rc < 0) {
        free(proc);
        r->proc = NULL;
        create_failed(r, &err);
    } else if (rc == 0) {
        create_go(r, NULL);
    }
}

/* ---- Start, State, Delete ---- */

static void reply_start(struct tether_ctrd_req *r, const struct tether_result *res)
{
    Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;

    resp.pid = (uint32_t)res->pid;
    tether_ctrd_req_answer(r, &resp.base);
}

/* A task whose Create has been answered, or NULL after answering NotFound: until then
 * the container is not there for any other call, as with containerd's own shim. */
static struct tether_ctrd_task *created_task(struct tether_ctrd_ctx *ctx, const char *id)
{
    struct tether_ctrd_task *task = tether_ctrd_task_find(ctx->shim, id != NULL ? id : "");

    if (task == NULL || task->creating || task->ctr == NULL) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_NOT_FOUND,
                                "container not created: not found");
        return NULL;
    }
    return task;
}

/* The exec an exec_id names ("" is the init: NULL and *is_exec false), or NULL with
 * *is_exec true after answering NotFound. */
static struct tether_ctrd_exec *target_exec(struct tether_ctrd_ctx *ctx,
                                            struct tether_ctrd_task *task, const char *exec_id,
                                            bool *is_exec)
{
    *is_exec = exec_id != NULL && exec_id[0] != '\0';
    return *is_exec ? tether_ctrd_exec_get(ctx, task, exec_id) : NULL;
}

static void m_start(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__StartRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_ctrd_exec *exec;
    struct tether_ctrd_req *r;
    struct tether_error err = {0};
    bool is_exec;

    if (task == NULL)
        return;
    exec = target_exec(ctx, task, req->exec_id, &is_exec);
    if (is_exec) {
        if (exec != NULL)
            tether_ctrd_exec_start(ctx, exec);
        return;
    }
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, reply_start);
    if (tether_container_start(task->ctr, &r->call, &err) < 0)
        tether_ctrd_req_fail(r, &err);
}

static void m_state(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__StateRequest *req = (void *)*msg;
    Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
    const Containerd__Task__V2__CreateTaskRequest *cr;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    Google__Protobuf__Timestamp ts;
    struct tether_ctrd_exec *exec;
    struct tether_error err = {0};
    struct tether_state st;
    bool is_exec;

    if (task == NULL)
        return;
    exec = target_exec(ctx, task, req->exec_id, &is_exec);
    if (is_exec) {
        if (exec != NULL)
            tether_ctrd_exec_state(ctx, exec);
        return;
    }
    if (tether_container_state(task->ctr, NULL, &st, &err) < 0) {
        tether_ctrd_answer_error(ctx, TETHER_CTRD_METHOD_OTHER, &err);
        return;
    }
    tether_ctrd_encode_state(&resp, &st, &ts);
    cr = task->create;
    resp.stdin = cr->stdin;
    resp.stdout = cr->stdout;
    resp.stderr = cr->stderr;
    resp.terminal = cr->terminal;
    tether_ctrd_answer(ctx, &resp.base);
}

static void delete_done(struct tether_call *call, const struct tether_error *err,
                        const struct tether_result *res)
{
    struct tether_ctrd_req *r = container_of(call, struct tether_ctrd_req, call);
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    struct tether_ctrd_task *task = r->task;
    Google__Protobuf__Timestamp ts;

    task->deleting = false;
    if (err != NULL) {
        tether_ctrd_req_fail(r, err);
        return;
    }
    resp.pid = (uint32_t)res->pid;
    resp.exit_status = (uint32_t)res->exit.exit_status;
    resp.exited_at = tether_ctrd_timestamp(
        &ts, &res->exit.exited_at, res->exit.exited_at.tv_sec != 0 || res->exit.exited_at.tv_nsec);
    /* The container is gone for the runtime: the answer goes first, then the record, the
     * mounts and the stdio, in this same turn of the loop (containerd's Shutdown, which
     * waits for the unmount, is read after it). The unmount's fork is not the answer's. */
    tether_ctrd_req_answer(r, &resp.base);
    task_remove(task);
}

static void m_delete(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__DeleteRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_ctrd_exec *exec;
    struct tether_ctrd_req *r;
    struct tether_error err = {0};
    bool is_exec;

    if (task == NULL)
        return;
    exec = target_exec(ctx, task, req->exec_id, &is_exec);
    if (is_exec) {
        if (exec != NULL)
            tether_ctrd_exec_delete(ctx, exec);
        return;
    }
    if (task->deleting) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_FAILED_PRECONDITION,
                                "task %s is being deleted", task->id);
        return;
    }
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_DELETE, NULL);
    r->call.done = delete_done;
    r->task = task;
    /* Not forced: a running or paused container is refused, as containerd expects. The
     * delete may end at once (the runtime released the container at its exit): delete_done
     * has then freed the task. */
    task->deleting = true;
    if (tether_container_delete(task->ctr, false, &r->call, &err) < 0) {
        task->deleting = false;
        tether_ctrd_req_fail(r, &err);
    }
}

/* ---- Kill, Wait, Pids ---- */

static void m_kill(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__KillRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_ctrd_exec *exec;
    struct tether_ctrd_req *r;
    struct tether_error err = {0};
    struct tether_state st;
    bool is_exec;

    if (task == NULL)
        return;
    if (req->signal == 0 || req->signal > 64) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_INVALID_ARGUMENT, "invalid signal %u",
                                req->signal);
        return;
    }
    exec = target_exec(ctx, task, req->exec_id, &is_exec);
    if (is_exec) {
        if (exec != NULL)
            tether_ctrd_exec_kill(ctx, exec, (int)req->signal);
        return;
    }
    if (tether_container_state(task->ctr, NULL, &st, &err) == 0 && st.exited) {
        /* Kill(all) of a container that exited is how containerd makes sure everything in
         * it is gone: that is so. A plain kill has nothing left to signal. */
        if (req->all)
            tether_ctrd_answer(ctx, NULL);
        else
            tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_NOT_FOUND,
                                    "process already finished: not found");
        return;
    }
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_KILL, tether_ctrd_reply_empty);
    if (tether_container_kill(task->ctr, NULL, (int)req->signal, req->all, &r->call, &err) < 0)
        tether_ctrd_req_fail(r, &err);
}

static void m_wait(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__WaitRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_ctrd_exec *exec;
    struct tether_ctrd_req *r;
    struct tether_error err = {0};
    bool is_exec;

    if (task == NULL)
        return;
    exec = target_exec(ctx, task, req->exec_id, &is_exec);
    if (is_exec) {
        if (exec != NULL)
            tether_ctrd_exec_wait(ctx, exec);
        return;
    }
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, tether_ctrd_reply_wait);
    if (tether_container_wait(task->ctr, NULL, &r->call, &err) < 0)
        tether_ctrd_req_fail(r, &err);
}

static void m_pids(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__PidsRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_ctrd_req *r;
    struct tether_error err = {0};

    if (task == NULL)
        return;
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, tether_ctrd_reply_pids);
    if (tether_container_pids(task->ctr, &r->call, &err) < 0)
        tether_ctrd_req_fail(r, &err);
}

/* ---- Pause, Resume, Update, Stats ---- */

static void pause_resume(struct tether_ctrd_ctx *ctx, const char *id, bool pause)
{
    struct tether_ctrd_task *task = created_task(ctx, id);
    struct tether_ctrd_req *r;
    struct tether_error err = {0};

    if (task == NULL)
        return;
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, tether_ctrd_reply_empty);
    if (tether_container_pause(task->ctr, pause, &r->call, &err) < 0)
        tether_ctrd_req_fail(r, &err);
}

static void m_pause(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    pause_resume(ctx, ((const Containerd__Task__V2__PauseRequest *)*msg)->id, true);
}

static void m_resume(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    pause_resume(ctx, ((const Containerd__Task__V2__ResumeRequest *)*msg)->id, false);
}

static void m_update(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__UpdateTaskRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_ctrd_req *r;
    struct tether_error err = {0};
    json_error_t jerr;
    json_t *res;
    char *text;

    if (task == NULL)
        return;
    if (req->resources == NULL) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_INVALID_ARGUMENT, "no resources");
        return;
    }
    res = json_loadb((const char *)req->resources->value.data, req->resources->value.len, 0, &jerr);
    if (!json_is_object(res)) {
        json_decref(res);
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_INVALID_ARGUMENT,
                                "resources must be a LinuxResources JSON object: %s",
                                res == NULL ? jerr.text : "not an object");
        return;
    }
    text = json_dumps(res, JSON_COMPACT);
    json_decref(res);
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, tether_ctrd_reply_empty);
    if (text == NULL || tether_container_update(task->ctr, text, &r->call, &err) < 0) {
        if (text == NULL)
            tether_error_setk(&err, TETHER_ERR_INVALID, 0, "cannot encode the resources");
        tether_ctrd_req_fail(r, &err);
    }
    free(text);
}

static void m_stats(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__StatsRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_error err = {0};
    struct tether_stats st;

    if (task == NULL)
        return;
    if (tether_container_stats(task->ctr, &st, &err) < 0) {
        tether_ctrd_answer_error(ctx, TETHER_CTRD_METHOD_OTHER, &err);
        return;
    }
    tether_ctrd_answer_stats(ctx, &st);
}

/* ---- CloseIO, ResizePty ---- */

static void m_close_io(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__CloseIORequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_ctrd_exec *exec;
    bool is_exec;

    if (task == NULL)
        return;
    exec = target_exec(ctx, task, req->exec_id, &is_exec);
    if (is_exec) {
        if (exec != NULL && req->stdin)
            tether_ctrd_exec_close_io(ctx, exec);
        else if (exec != NULL)
            tether_ctrd_answer(ctx, NULL);
        return;
    }
    /* Our write end on the stdin FIFO goes: the process sees the end of its input once the
     * client closed its own writer too. */
    if (req->stdin)
        tether_ctrd_stdio_close_stdin(&task->stdio);
    tether_ctrd_answer(ctx, NULL);
}

static void m_resize_pty(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__ResizePtyRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_ctrd_exec *exec;
    struct tether_error err = {0};
    bool is_exec;

    if (task == NULL)
        return;
    exec = target_exec(ctx, task, req->exec_id, &is_exec);
    if (is_exec) {
        if (exec != NULL)
            tether_ctrd_exec_resize(ctx, exec, req->width, req->height);
        return;
    }
    /* Without a terminal there is nothing to resize, and that is no error. */
    if (task->create->terminal &&
        tether_container_resize(task->ctr, NULL, req->width, req->height, &err) < 0 &&
        err.kind != TETHER_ERR_STATE) {
        tether_ctrd_answer_error(ctx, TETHER_CTRD_METHOD_OTHER, &err);
        return;
    }
    tether_ctrd_answer(ctx, NULL);
}

/* ---- Exec, Connect, Shutdown, Checkpoint ---- */

static void m_exec(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__ExecProcessRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);

    if (task != NULL)
        tether_ctrd_exec_create(ctx, task, req);
}

static void m_connect(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__ConnectRequest *req = (void *)*msg;
    Containerd__Task__V2__ConnectResponse resp = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
    struct tether_ctrd_task *task = tether_ctrd_task_find(ctx->shim, req->id);
    struct tether_error err = {0};
    struct tether_state st;

    resp.shim_pid = (uint32_t)getpid();
    if (task != NULL && task->ctr != NULL && !task->creating &&
        tether_container_state(task->ctr, NULL, &st, &err) == 0)
        resp.task_pid = (uint32_t)st.pid;
    tether_ctrd_answer(ctx, &resp.base);
}

static void m_shutdown(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    (void)msg;
    /* Other tasks of the group still live here: the shim stays. */
    tether_ctrd_answer(ctx, NULL);
    if (ctx->shim->n_tasks == 0)
        tether_ctrd_shim_shutdown(ctx->shim);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    remove(path);
    return 0;
}

static void checkpoint_done(struct tether_call *call, const struct tether_error *err,
                            const struct tether_result *res)
{
    struct tether_ctrd_req *r = container_of(call, struct tether_ctrd_req, call);
    struct tether_ctrd_task *task = r->task;
    struct tether_error e;

    (void)res;
    if (err != NULL) {
        /* CRIU's log would go with the work directory: it is kept in the bundle. */
        cleanup_free char *log = xasprintf("%s/dump.log", r->path);
        cleanup_free char *kept = xasprintf("%s/criu-dump.log", task->bundle);
        e = *err;
        if (rename(log, kept) == 0)
            tether_error_prefix(&e, "checkpoint (CRIU's log: %s)", kept);
        nftw(r->path, remove_entry, 8, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        tether_ctrd_req_fail(r, &e);
        return;
    }
    nftw(r->path, remove_entry, 8, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    tether_ctrd_req_answer(r, NULL);
}

#define CHECKPOINT_OPTIONS_URL "containerd.runc.v1.CheckpointOptions"

/* The options containerd passes as runc's CheckpointOptions; other types are ignored. */
static Containerd__Runc__V1__CheckpointOptions *checkpoint_options(const Google__Protobuf__Any *any)
{
    size_t ulen, nlen = strlen(CHECKPOINT_OPTIONS_URL);

    if (any == NULL)
        return NULL;
    ulen = strlen(any->type_url);
    if (ulen < nlen || strcmp(any->type_url + ulen - nlen, CHECKPOINT_OPTIONS_URL) != 0)
        return NULL;
    return (Containerd__Runc__V1__CheckpointOptions *)tether_ttrpc_unpack(
        &containerd__runc__v1__checkpoint_options__descriptor, any->value.data, any->value.len);
}

static void m_checkpoint(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg)
{
    const Containerd__Task__V2__CheckpointTaskRequest *req = (void *)*msg;
    struct tether_ctrd_task *task = created_task(ctx, req->id);
    struct tether_checkpoint_opts opts = {.image_path = req->path, .leave_running = true};
    Containerd__Runc__V1__CheckpointOptions *o;
    cleanup_free const char **empty_ns = NULL;
    struct tether_ctrd_req *r;
    struct tether_error err = {0};

    if (task == NULL)
        return;
    if (req->path[0] != '/') {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_INVALID_ARGUMENT,
                                "checkpoint path must be absolute");
        return;
    }
    o = checkpoint_options(req->options);
    if (o != NULL) {
        opts.leave_running = !o->exit;
        opts.tcp_established = o->open_tcp;
        opts.ext_unix_sk = o->external_unix_sockets;
        opts.shell_job = o->terminal;
        opts.file_locks = o->file_locks;
        /* protobuf-c's repeated strings are counted, not NULL-terminated. */
        empty_ns = xzalloc((o->n_empty_namespaces + 1) * sizeof(char *));
        for (size_t i = 0; i < o->n_empty_namespaces; i++)
            empty_ns[i] = o->empty_namespaces[i];
        opts.empty_ns = empty_ns;
    }
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, NULL);
    r->call.done = checkpoint_done;
    r->task = task;
    /* CRIU works (and logs) in a directory of its own, removed afterwards. */
    r->path = xasprintf("%s/criu-work", task->bundle);
    opts.work_path = r->path;
    if (mkdir(r->path, 0700) < 0 && errno != EEXIST) {
        tether_error_set(&err, errno, "mkdir %s", r->path);
        tether_ctrd_req_fail(r, &err);
    } else if (tether_container_checkpoint(task->ctr, &opts, &r->call, &err) < 0) {
        checkpoint_done(&r->call, &err, NULL);
    }
    if (o != NULL)
        tether_ttrpc_message_free(&o->base);
}

/* ---- dispatch ---- */

typedef void (*method_fn)(struct tether_ctrd_ctx *ctx, ProtobufCMessage **msg);

static const struct {
    const char *name;
    const ProtobufCMessageDescriptor *input;
    method_fn fn;
} methods[] = {
    {"State", &containerd__task__v2__state_request__descriptor, m_state},
    {"Create", &containerd__task__v2__create_task_request__descriptor, m_create},
    {"Start", &containerd__task__v2__start_request__descriptor, m_start},
    {"Delete", &containerd__task__v2__delete_request__descriptor, m_delete},
    {"Pids", &containerd__task__v2__pids_request__descriptor, m_pids},
    {"Pause", &containerd__task__v2__pause_request__descriptor, m_pause},
    {"Resume", &containerd__task__v2__resume_request__descriptor, m_resume},
    {"Checkpoint", &containerd__task__v2__checkpoint_task_request__descriptor, m_checkpoint},
    {"Kill", &containerd__task__v2__kill_request__descriptor, m_kill},
    {"Exec", &containerd__task__v2__exec_process_request__descriptor, m_exec},
    {"ResizePty", &containerd__task__v2__resize_pty_request__descriptor, m_resize_pty},
    {"CloseIO", &containerd__task__v2__close_iorequest__descriptor, m_close_io},
    {"Update", &containerd__task__v2__update_task_request__descriptor, m_update},
    {"Wait", &containerd__task__v2__wait_request__descriptor, m_wait},
    {"Stats", &containerd__task__v2__stats_request__descriptor, m_stats},
    {"Connect", &containerd__task__v2__connect_request__descriptor, m_connect},
    {"Shutdown", &containerd__task__v2__shutdown_request__descriptor, m_shutdown},
};

void tether_ctrd_task_request(void *opaque, struct tether_ctrd_conn *conn, uint32_t stream_id,
                              const Ttrpc__Request *req)
{
    struct tether_ctrd_shim *shim = opaque;
    struct tether_ctrd_ctx ctx = {.shim = shim, .conn_id = conn->id, .stream_id = stream_id};
    ProtobufCMessage *msg;
    size_t i;

    tether_core_busy(shim->core);
    if (strcmp(req->service, TETHER_CTRD_TASK_SERVICE) != 0) {
        tether_ctrd_answer_code(&ctx, TETHER_TTRPC_CODE_UNIMPLEMENTED, "service %s", req->service);
        return;
    }
    for (i = 0; i < TETHER_ARRAY_SIZE(methods); i++)
        if (strcmp(methods[i].name, req->method) == 0)
            break;
    if (i == TETHER_ARRAY_SIZE(methods)) {
        tether_ctrd_answer_code(&ctx, TETHER_TTRPC_CODE_UNIMPLEMENTED, "method %s", req->method);
        return;
    }
    msg = tether_ttrpc_unpack(methods[i].input, req->payload.data, req->payload.len);
    if (msg == NULL) {
        tether_ctrd_answer_code(&ctx, TETHER_TTRPC_CODE_INVALID_ARGUMENT,
                                "%s: the payload is not a %s", req->method, methods[i].input->name);
        return;
    }
    log_debug(&shim->log, "ttrpc client %llu: %s (stream %u)", (unsigned long long)conn->id,
              req->method, stream_id);
    methods[i].fn(&ctx, &msg);
    tether_ttrpc_message_free(msg);
}

void tether_ctrd_task_conn_gone(void *opaque, struct tether_ctrd_conn *conn)
{
    struct tether_ctrd_shim *shim = opaque;
    struct tether_ctrd_task *task;
    struct tether_ctrd_exec *exec;

    for (task = shim->tasks; task != NULL; task = task->next) {
        if (task->ctr != NULL)
            tether_container_cancel(task->ctr, conn->id);
        for (exec = task->execs; exec != NULL; exec = exec->next)
            tether_ctrd_exec_cancel(exec, conn->id);
    }
}

/* ---- TaskCreate ---- */

void tether_ctrd_task_on_event(struct tether_ctrd_shim *shim, const struct tether_event *ev)
{
    Containerd__Events__TaskCreate msg = CONTAINERD__EVENTS__TASK_CREATE__INIT;
    Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
    struct tether_ctrd_task *task;
    struct tether_ctrd_envelope env = {.topic = "/tasks/create",
                                       .type_url = "containerd.events.TaskCreate"};
    const Containerd__Task__V2__CreateTaskRequest *cr;

    if (ev->topic != TETHER_TOPIC_CREATE || (task = tether_ctrd_task_find(shim, ev->id)) == NULL)
        return;
    /* What Create said, as containerd's own shim reports it. */
    cr = task->create;
    msg.container_id = task->id;
    msg.bundle = task->bundle;
    msg.n_rootfs = cr->n_rootfs;
    msg.rootfs = cr->rootfs;
    io.stdin = cr->stdin;
    io.stdout = cr->stdout;
    io.stderr = cr->stderr;
    io.terminal = cr->terminal;
    msg.io = &io;
    msg.checkpoint = cr->checkpoint;
    msg.pid = (uint32_t)ev->pid;
    env.value = tether_ttrpc_pack(&msg.base, &env.len);
    tether_ctrd_events_note(&shim->events, &env, &ev->time);
}
