/* Exec processes. containerd registers an exec (Exec) before it starts it (Start), and
 * Waits for it in between; the core runs an exec in one step, so until Start the exec is
 * the front end's record alone and its Waits are queued here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tether/util.h>

#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "task.h"

#define PROCESS_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/Process"

struct tether_ctrd_exec *tether_ctrd_exec_find(struct tether_ctrd_task *task, const char *exec_id)
{
    struct tether_ctrd_exec *e;

    for (e = task->execs; e != NULL; e = e->next)
        if (strcmp(e->exec_id, exec_id) == 0)
            return e;
    return NULL;
}

struct tether_ctrd_exec *tether_ctrd_exec_get(struct tether_ctrd_ctx *ctx,
                                              struct tether_ctrd_task *task, const char *exec_id)
{
    struct tether_ctrd_exec *e = tether_ctrd_exec_find(task, exec_id);

    if (e == NULL)
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_NOT_FOUND,
                                "process does not exist %s: not found", exec_id);
    return e;
}

static void fail_waits(struct tether_ctrd_exec *exec, const struct tether_error *why)
{
    while (exec->waits != NULL) {
        struct tether_ctrd_req *r = exec->waits;
        exec->waits = r->next;
        tether_ctrd_req_fail(r, why);
    }
}

void tether_ctrd_exec_free(struct tether_ctrd_exec *exec, const struct tether_error *why)
{
    struct tether_ctrd_exec **pp;

    for (pp = &exec->task->execs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == exec) {
            *pp = exec->next;
            break;
        }
    fail_waits(exec, why);
    if (exec->start != NULL) {
        tether_ctrd_req_fail(exec->start, why);
        exec->start = NULL;
    }
    tether_ctrd_stdio_close(&exec->stdio);
    free(exec->exec_id);
    free(exec->spec);
    free(exec->stdin_path);
    free(exec->stdout_uri);
    free(exec->stderr_uri);
    free(exec);
}

void tether_ctrd_exec_cancel(struct tether_ctrd_exec *exec, uint64_t conn_id)
{
    struct tether_ctrd_req **pp = &exec->waits;

    while (*pp != NULL) {
        struct tether_ctrd_req *r = *pp;
        if (r->ctx.conn_id == conn_id) {
            *pp = r->next;
            free(r);
        } else {
            pp = &r->next;
        }
    }
}

/* ---- Exec ---- */

/* The spec as the core wants it: a JSON object (Go escapes <, > and & as \uXXXX). */
static char *spec_json(const Google__Protobuf__Any *spec, struct tether_error *err)
{
    json_error_t jerr;
    json_t *obj;
    char *text;

    if (spec == NULL) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "exec without a process spec");
        return NULL;
    }
    obj = json_loadb((const char *)spec->value.data, spec->value.len, 0, &jerr);
    if (!json_is_object(obj) || !json_is_array(json_object_get(obj, "args"))) {
        json_decref(obj);
        tether_error_setk(err, TETHER_ERR_INVALID, 0,
                          "the process spec must be a runtime-spec Process (JSON): %s",
                          obj == NULL ? jerr.text : "no args");
        return NULL;
    }
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL)
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "cannot encode the process spec");
    return text;
}

void tether_ctrd_exec_create(struct tether_ctrd_ctx *ctx, struct tether_ctrd_task *task,
                             const Containerd__Task__V2__ExecProcessRequest *req)
{
    Containerd__Events__TaskExecAdded added = CONTAINERD__EVENTS__TASK_EXEC_ADDED__INIT;
    struct tether_ctrd_envelope env = {.topic = "/tasks/exec-added",
                                       .type_url = "containerd.events.TaskExecAdded"};
    struct tether_error err = {0};
    struct tether_ctrd_exec *exec;
    struct tether_state st;
    struct timespec now;
    char *spec;

    if (!tether_id_valid(req->exec_id)) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_INVALID_ARGUMENT, "invalid exec id");
        return;
    }
    if (tether_ctrd_exec_find(task, req->exec_id) != NULL) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_ALREADY_EXISTS, "id %s: already exists",
                                req->exec_id);
        return;
    }
    if (tether_container_state(task->ctr, NULL, &st, &err) < 0) {
        tether_ctrd_answer_error(ctx, TETHER_CTRD_METHOD_OTHER, &err);
        return;
    }
    if (st.status != TETHER_STATUS_RUNNING || st.exited) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_FAILED_PRECONDITION,
                                "cannot exec in a %s state",
                                st.exited ? "stopped" : tether_status_name(st.status));
        return;
    }
    spec = spec_json(req->spec, &err);
    if (spec == NULL) {
        tether_ctrd_answer_error(ctx, TETHER_CTRD_METHOD_OTHER, &err);
        return;
    }
    exec = xzalloc(sizeof(*exec));
    exec->exec_id = xstrdup(req->exec_id);
    exec->task = task;
    exec->state = TETHER_CTRD_EXEC_CREATED;
    exec->spec = spec;
    exec->stdin_path = xstrdup(req->stdin);
    exec->stdout_uri = xstrdup(req->stdout);
    exec->stderr_uri = xstrdup(req->stderr);
    exec->terminal = req->terminal;
    tether_ctrd_stdio_init(&exec->stdio, &task->shim->stdio);
    exec->next = task->execs;
    task->execs = exec;

    added.container_id = task->id;
    added.exec_id = exec->exec_id;
    env.value = tether_ttrpc_pack(&added.base, &env.len);
    clock_gettime(CLOCK_REALTIME, &now);
    tether_ctrd_events_note(&task->shim->events, &env, &now);
    tether_ctrd_events_kick(&task->shim->events);
    tether_ctrd_answer(ctx, NULL);
}

/* ---- Start ---- */

static void start_done(struct tether_call *call, const struct tether_error *err,
                       const struct tether_result *res)
{
    struct tether_ctrd_req *r = container_of(call, struct tether_ctrd_req, call);
    Containerd__Task__V2__StartResponse resp = CONTAINERD__TASK__V2__START_RESPONSE__INIT;
    struct tether_ctrd_exec *exec = r->exec;
    struct tether_error werr = {0};

    exec->start = NULL;
    if (err != NULL) {
        /* Still only Exec'd, as containerd's own shim leaves it. */
        exec->state = TETHER_CTRD_EXEC_CREATED;
        tether_ctrd_stdio_close(&exec->stdio);
        fail_waits(exec, err);
        tether_ctrd_req_fail(r, err);
        return;
    }
    exec->state = TETHER_CTRD_EXEC_STARTED;
    /* The Waits that came before Start now wait in the core. */
    while (exec->waits != NULL) {
        struct tether_ctrd_req *w = exec->waits;
        exec->waits = w->next;
        w->next = NULL;
        if (tether_container_wait(exec->task->ctr, exec->exec_id, &w->call, &werr) < 0)
            tether_ctrd_req_fail(w, &werr);
    }
    resp.pid = (uint32_t)res->pid;
    tether_ctrd_req_answer(r, &resp.base);
}

/* The exec's stdio is ready: the core starts it. */
static void start_go(void *opaque, const struct tether_error *ready_err)
{
    struct tether_ctrd_req *r = opaque;
    struct tether_ctrd_exec *exec = r->exec;
    struct tether_exec_opts opts = {.exec_id = exec->exec_id, .process = exec->spec};
    struct tether_error err = {0};

    if (ready_err != NULL) {
        start_done(&r->call, ready_err, NULL);
        return;
    }
    opts.proc = *r->proc;
    if (exec->stdin_closed)
        tether_ctrd_stdio_close_stdin(&exec->stdio);
    r->call.done = start_done;
    if (tether_container_exec(exec->task->ctr, &opts, &r->call, &err) < 0) {
        start_done(&r->call, &err, NULL);
        return;
    }
    tether_ctrd_stdio_handed(&exec->stdio);
}

void tether_ctrd_exec_start(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec)
{
    struct tether_ctrd_task *task = exec->task;
    struct tether_ctrd_req *r;
    struct tether_error err = {0};
    int rc;

    if (exec->state != TETHER_CTRD_EXEC_CREATED) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_FAILED_PRECONDITION,
                                "cannot start a %s process",
                                exec->state == TETHER_CTRD_EXEC_STARTING ? "starting" : "started");
        return;
    }
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, NULL);
    r->exec = exec;
    r->proc = xzalloc(sizeof(*r->proc));
    exec->start = r;
    exec->state = TETHER_CTRD_EXEC_STARTING;
    rc = tether_ctrd_stdio_open(&exec->stdio,
                                &(struct tether_ctrd_stdio_config){.stdin_path = exec->stdin_path,
                                                                   .stdout_uri = exec->stdout_uri,
                                                                   .stderr_uri = exec->stderr_uri,
                                                                   .terminal = exec->terminal,
                                                                   .id = exec->exec_id,
                                                                   .ns = task->shim->cfg.ns,
                                                                   .cwd = task->bundle},
                                r->proc, start_go, r, &err);
    if (rc < 0)
        start_done(&r->call, &err, NULL);
    else if (rc == 0)
        start_go(r, NULL);
}

/* ---- State, Delete ---- */

void tether_ctrd_exec_state(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec)
{
    Containerd__Task__V2__StateResponse resp = CONTAINERD__TASK__V2__STATE_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts;
    struct tether_error err = {0};
    struct tether_state st;

    if (exec->state == TETHER_CTRD_EXEC_STARTED) {
        if (tether_container_state(exec->task->ctr, exec->exec_id, &st, &err) < 0) {
            tether_ctrd_answer_error(ctx, TETHER_CTRD_METHOD_OTHER, &err);
            return;
        }
    } else {
        memset(&st, 0, sizeof(st));
        st.status = TETHER_STATUS_CREATED;
    }
    st.id = exec->exec_id;
    st.bundle = exec->task->bundle;
    tether_ctrd_encode_state(&resp, &st, &ts);
    resp.stdin = exec->stdin_path;
    resp.stdout = exec->stdout_uri;
    resp.stderr = exec->stderr_uri;
    resp.terminal = exec->terminal;
    tether_ctrd_answer(ctx, &resp.base);
}

void tether_ctrd_exec_delete(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec)
{
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts;
    struct tether_error err = {0};
    struct tether_state st;

    if (exec->state == TETHER_CTRD_EXEC_STARTING) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_UNKNOWN, "cannot delete a running process");
        return;
    }
    if (exec->state == TETHER_CTRD_EXEC_STARTED) {
        if (tether_container_state(exec->task->ctr, exec->exec_id, &st, &err) < 0 ||
            tether_container_exec_delete(exec->task->ctr, exec->exec_id, &err) < 0) {
            tether_ctrd_answer_error(ctx, TETHER_CTRD_METHOD_DELETE, &err);
            return;
        }
        resp.pid = (uint32_t)st.pid;
        resp.exit_status = (uint32_t)st.exit.exit_status;
        resp.exited_at = tether_ctrd_timestamp(&ts, &st.exit.exited_at, st.exited);
    }
    /* A Wait on an exec that never started will never be answered otherwise. */
    tether_error_setk(&err, TETHER_ERR_NOT_FOUND, 0, "process %s was deleted", exec->exec_id);
    tether_ctrd_exec_free(exec, &err);
    tether_ctrd_answer(ctx, &resp.base);
}

/* ---- Kill, Wait, CloseIO, ResizePty ---- */

void tether_ctrd_exec_kill(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec, int sig)
{
    struct tether_ctrd_req *r;
    struct tether_error err = {0};

    if (exec->state != TETHER_CTRD_EXEC_STARTED) {
        tether_ctrd_answer_code(ctx, TETHER_TTRPC_CODE_FAILED_PRECONDITION,
                                "process not created: failed precondition");
        return;
    }
    r = tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_KILL, tether_ctrd_reply_empty);
    if (tether_container_kill(exec->task->ctr, exec->exec_id, sig, false, &r->call, &err) < 0)
        tether_ctrd_req_fail(r, &err);
}

void tether_ctrd_exec_wait(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec)
{
    struct tether_ctrd_req *r =
        tether_ctrd_req_new(ctx, TETHER_CTRD_METHOD_OTHER, tether_ctrd_reply_wait);
    struct tether_error err = {0};

    if (exec->state != TETHER_CTRD_EXEC_STARTED) {
        r->exec = exec;
        r->next = exec->waits;
        exec->waits = r;
        return;
    }
    if (tether_container_wait(exec->task->ctr, exec->exec_id, &r->call, &err) < 0)
        tether_ctrd_req_fail(r, &err);
}

void tether_ctrd_exec_close_io(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec)
{
    if (exec->state == TETHER_CTRD_EXEC_CREATED)
        exec->stdin_closed = true;
    else
        tether_ctrd_stdio_close_stdin(&exec->stdio);
    tether_ctrd_answer(ctx, NULL);
}

void tether_ctrd_exec_resize(struct tether_ctrd_ctx *ctx, struct tether_ctrd_exec *exec,
                             unsigned width, unsigned height)
{
    struct tether_error err = {0};

    if (exec->state == TETHER_CTRD_EXEC_STARTED && exec->terminal &&
        tether_container_resize(exec->task->ctr, exec->exec_id, width, height, &err) < 0 &&
        err.kind != TETHER_ERR_STATE) {
        tether_ctrd_answer_error(ctx, TETHER_CTRD_METHOD_OTHER, &err);
        return;
    }
    tether_ctrd_answer(ctx, NULL);
}
