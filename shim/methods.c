/* The JSON-RPC front end: method table, parameter validation, and the glue between
 * connections and the container model. */
#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "params.h"
#include "rpc.h"
#include "shim.h"

#define PROTOCOL_VERSION 1
#define RUNTIME_ARGS_MAX 64

/* A request waiting for the model: answered on the connection if it is still there. */
struct rpc_call {
    struct tether_call call;
    struct tether_shim *shim;
    uint64_t conn_id;
    json_t *id; /* NULL for a notification: nothing is sent */
    void (*after)(struct rpc_call *rc, const struct tether_error *err);
};

static void rpc_call_done(struct tether_call *call, const struct tether_error *err, json_t *result)
{
    struct rpc_call *rc = container_of(call, struct rpc_call, call);
    struct tether_conn *conn = tether_server_find(&rc->shim->server, rc->conn_id);

    if (conn != NULL && rc->id != NULL) {
        json_t *resp = err != NULL ? tether_rpc_error_from(rc->id, err)
                                   : tether_rpc_result(rc->id, json_incref(result));
        tether_conn_send(conn, resp);
        json_decref(resp);
    }
    if (rc->after != NULL)
        rc->after(rc, err);
    json_decref(result);
    json_decref(rc->id);
    free(rc);
}

static struct rpc_call *rpc_call_new(struct tether_shim *shim, struct tether_conn *conn, json_t *id)
{
    struct rpc_call *rc = xzalloc(sizeof(*rc));

    rc->call.done = rpc_call_done;
    rc->call.owner = conn->id;
    rc->shim = shim;
    rc->conn_id = conn->id;
    rc->id = id != NULL ? json_incref(id) : NULL;
    return rc;
}

/* Hands an operation to the model; a refusal is answered at once. */
typedef int (*model_op)(struct tether_shim *shim, json_t *params, struct tether_call *call,
                        struct tether_error *err);

/* Handlers either answer at once (return a result, or NULL with err) or, for operations
 * that finish later, take the request through start_call(). */
struct method_ctx {
    struct tether_shim *shim;
    struct tether_conn *conn;
    struct tether_rpc_request *req;
    bool deferred; /* the handler took the request: nothing to send now */
};

typedef json_t *(*method_fn)(struct method_ctx *ctx, struct tether_error *err);

static json_t *start_call(struct method_ctx *ctx, model_op op,
                          void (*after)(struct rpc_call *, const struct tether_error *),
                          struct tether_error *err)
{
    struct rpc_call *rc = rpc_call_new(ctx->shim, ctx->conn, ctx->req->id);

    rc->after = after;
    if (op(ctx->shim, ctx->req->params, &rc->call, err) < 0) {
        json_decref(rc->id);
        free(rc);
        return NULL;
    }
    ctx->deferred = true;
    return NULL;
}

#define CHECK_KEYS(params, err, ...)                                                               \
    do {                                                                                           \
        static const char *const allowed_[] = {__VA_ARGS__, NULL};                                 \
        if (tether_params_check((params), allowed_, (err)) < 0)                                    \
            return NULL;                                                                           \
    } while (0)

/* ---- version ---- */

static json_t *version_result(struct tether_shim *shim)
{
    return json_pack("{s:s,s:i,s:{s:s,s:s}}", "version", TETHER_VERSION, "protocol",
                     PROTOCOL_VERSION, "runtime", "path", shim->rt.path, "version",
                     shim->runtime_version);
}

static void version_done(struct tether_job *job, int rc, const struct tether_error *err,
                         const char *out)
{
    struct tether_shim *shim = job->data;

    if (rc < 0) {
        tether_call_fail(job->call, err);
        return;
    }
    tether_runtime_parse_version(out, shim->runtime_version, sizeof(shim->runtime_version));
    tether_call_ok(job->call, version_result(shim));
}

static int op_version(struct tether_shim *shim, json_t *params, struct tether_call *call,
                      struct tether_error *err)
{
    static const char *const none[] = {NULL};
    struct tether_runtime_args args;
    struct tether_job *job;

    if (tether_params_check(params, none, err) < 0)
        return -1;
    if (shim->runtime_version[0] != '\0') {
        tether_call_ok(call, version_result(shim));
        return 0;
    }
    tether_runtime_args_init(&args);
    job = tether_job_spawn(&shim->reaper, &shim->rt, TETHER_RT_VERSION, &args, version_done, shim,
                           &shim->jobs, err);
    if (job == NULL)
        return -1;
    job->call = call;
    return 0;
}

static json_t *m_version(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_version, NULL, err);
}

/* ---- create ---- */

static int parse_log_opts(struct tether_shim *shim, json_t *log, struct tether_log_opts *opts,
                          struct tether_error *err)
{
    static const char *const allowed[] = {"path", "format", "max_size", "max_files", NULL};
    const char *path = NULL, *format = NULL;
    int64_t max_size = 0, max_files = 1;

    if (log != NULL) {
        if (tether_params_check(log, allowed, err) < 0 ||
            tether_params_string(log, "path", &path, err) < 0 ||
            tether_params_string(log, "format", &format, err) < 0 ||
            tether_params_int(log, "max_size", 0, INT64_MAX, &max_size, err) < 0 ||
            tether_params_int(log, "max_files", 1, 1000, &max_files, err) < 0)
            return tether_error_prefix(err, "log");
        if (path != NULL && tether_params_path(path, "log.path", err) < 0)
            return -1;
        if (format != NULL && tether_logfmt_parse(format, &opts->format, err) < 0)
            return tether_error_prefix(err, "log.format");
    }
    opts->path = path != NULL ? xstrdup(path) : xasprintf("%s/container.log", shim->cfg.dir);
    opts->max_size = (uint64_t)max_size;
    opts->max_files = (unsigned)max_files;
    return 0;
}

static int op_create(struct tether_shim *shim, json_t *params, struct tether_call *call,
                     struct tether_error *err)
{
    static const char *const allowed[] = {"terminal", "stdin", "log", "runtime_args", NULL};
    struct tether_create_opts opts = {.log.format = TETHER_LOGFMT_CRI};
    json_t *log = NULL;
    int rc = -1;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_bool(params, "terminal", &opts.terminal, err) < 0 ||
        tether_params_bool(params, "stdin", &opts.stdin, err) < 0 ||
        tether_params_object(params, "log", &log, err) < 0 ||
        tether_params_strings(params, "runtime_args", RUNTIME_ARGS_MAX, &opts.runtime_args, err) <
            0 ||
        parse_log_opts(shim, log, &opts.log, err) < 0)
        goto out;
    rc = tether_container_create(&shim->ctr, &opts, call, err);
out:
    free(opts.log.path);
    tether_params_strings_free(opts.runtime_args);
    return rc;
}

static json_t *m_create(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_create, NULL, err);
}

/* ---- start, kill, wait, pids, delete ---- */

static int op_start(struct tether_shim *shim, json_t *params, struct tether_call *call,
                    struct tether_error *err)
{
    static const char *const none[] = {NULL};

    if (tether_params_check(params, none, err) < 0)
        return -1;
    return tether_container_start(&shim->ctr, call, err);
}

static json_t *m_start(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_start, NULL, err);
}

static int op_kill(struct tether_shim *shim, json_t *params, struct tether_call *call,
                   struct tether_error *err)
{
    static const char *const allowed[] = {"signal", "all", NULL};
    bool all = false;
    int sig = 0;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_require(params, "signal", err) < 0 ||
        tether_params_signal(params, "signal", &sig, err) < 0 ||
        tether_params_bool(params, "all", &all, err) < 0)
        return -1;
    return tether_container_kill(&shim->ctr, sig, all, call, err);
}

static json_t *m_kill(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_kill, NULL, err);
}

static int op_wait(struct tether_shim *shim, json_t *params, struct tether_call *call,
                   struct tether_error *err)
{
    static const char *const none[] = {NULL};

    if (tether_params_check(params, none, err) < 0)
        return -1;
    return tether_container_wait(&shim->ctr, call, err);
}

static json_t *m_wait(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_wait, NULL, err);
}

static int op_pids(struct tether_shim *shim, json_t *params, struct tether_call *call,
                   struct tether_error *err)
{
    static const char *const none[] = {NULL};

    if (tether_params_check(params, none, err) < 0)
        return -1;
    return tether_container_pids(&shim->ctr, call, err);
}

static json_t *m_pids(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_pids, NULL, err);
}

static int op_delete(struct tether_shim *shim, json_t *params, struct tether_call *call,
                     struct tether_error *err)
{
    static const char *const allowed[] = {"force", NULL};
    bool force = false;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_bool(params, "force", &force, err) < 0)
        return -1;
    return tether_container_delete(&shim->ctr, force, call, err);
}

static json_t *m_delete(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_delete, NULL, err);
}

/* ---- state ---- */

static json_t *m_state(struct method_ctx *ctx, struct tether_error *err)
{
    CHECK_KEYS(ctx->req->params, err, "exec_id");
    if (json_object_get(ctx->req->params, "exec_id") != NULL) {
        tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "no such exec");
        return NULL;
    }
    return tether_container_state_json(&ctx->shim->ctr, err);
}

/* ---- subscribe ---- */

static json_t *m_subscribe(struct method_ctx *ctx, struct tether_error *err)
{
    struct tether_events *ev = &ctx->shim->events;
    int64_t since = 0;
    uint64_t seq, first = tether_events_first_seq(ev);
    json_t *resp;

    CHECK_KEYS(ctx->req->params, err, "since");
    if (tether_params_int(ctx->req->params, "since", 0, INT64_MAX, &since, err) < 0)
        return NULL;
    if (ctx->conn->subscribed) {
        tether_error_setk(err, TETHER_ERR_STATE, 0, "already subscribed on this connection");
        return NULL;
    }
    /* The answer, then the replay, then live events: all queued in this one turn of the
     * loop, so nothing can fall in between. */
    resp = tether_rpc_result(ctx->req->id, json_pack("{s:I,s:I}", "seq", (json_int_t)ev->last_seq,
                                                     "first", (json_int_t)first));
    if (ctx->req->id != NULL)
        tether_conn_send(ctx->conn, resp);
    json_decref(resp);
    ctx->deferred = true;
    for (seq = (uint64_t)since + 1 > first ? (uint64_t)since + 1 : first; seq <= ev->last_seq;
         seq++) {
        const struct tether_event *e = tether_events_get(ev, seq);
        if (ctx->conn->src.dead)
            return NULL;
        tether_conn_send_line(ctx->conn, e->line, e->len);
    }
    ctx->conn->subscribed = true;
    return NULL;
}

void tether_methods_on_event(void *opaque, const struct tether_event *ev)
{
    struct tether_shim *shim = opaque;
    struct tether_conn *conn, *next;

    for (conn = shim->server.conns; conn != NULL; conn = next) {
        next = conn->next;
        if (conn->subscribed)
            tether_conn_send_line(conn, ev->line, ev->len);
    }
}

/* ---- shutdown ---- */

static void leave_after(struct rpc_call *rc, const struct tether_error *err)
{
    if (err == NULL)
        tether_shim_leave(rc->shim);
}

static int op_shutdown(struct tether_shim *shim, json_t *params, struct tether_call *call,
                       struct tether_error *err)
{
    static const char *const allowed[] = {"force", NULL};
    bool force = false;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_bool(params, "force", &force, err) < 0)
        return -1;
    if (shim->ctr.state == TETHER_CTR_NEW) {
        tether_call_ok(call, json_object());
        return 0;
    }
    if (!force)
        return tether_error_setk(err, TETHER_ERR_STATE, 0,
                                 "container %s exists: delete it first or use force", shim->cfg.id);
    return tether_container_delete(&shim->ctr, true, call, err);
}

static json_t *m_shutdown(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_shutdown, leave_after, err);
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    {"version", m_version},   {"create", m_create},       {"start", m_start},
    {"state", m_state},       {"kill", m_kill},           {"wait", m_wait},
    {"pids", m_pids},         {"subscribe", m_subscribe}, {"delete", m_delete},
    {"shutdown", m_shutdown},
};

void tether_methods_dispatch(void *opaque, struct tether_conn *conn, char *line, size_t len)
{
    struct tether_shim *shim = opaque;
    struct tether_rpc_request req;
    struct tether_error err = {0};
    struct method_ctx ctx = {.shim = shim, .conn = conn, .req = &req};
    json_t *resp = NULL, *result = NULL;
    size_t i;

    if (tether_rpc_decode(line, len, &req, &resp) < 0) {
        log_debug(&shim->log, "client %llu: %s", (unsigned long long)conn->id,
                  json_string_value(json_object_get(json_object_get(resp, "error"), "message")));
        tether_conn_send(conn, resp);
        json_decref(resp);
        return;
    }
    log_debug(&shim->log, "client %llu: %s", (unsigned long long)conn->id, req.method);
    for (i = 0; i < TETHER_ARRAY_SIZE(methods); i++)
        if (strcmp(methods[i].name, req.method) == 0)
            break;
    if (i == TETHER_ARRAY_SIZE(methods)) {
        tether_error_setk(&err, TETHER_ERR_NONE, 0, "method not found: %s", req.method);
        resp = tether_rpc_error(req.id, TETHER_RPC_METHOD_NOT_FOUND, err.msg);
    } else {
        result = methods[i].fn(&ctx, &err);
        if (ctx.deferred)
            resp = NULL;
        else if (result != NULL)
            resp = tether_rpc_result(req.id, result);
        else
            resp = tether_rpc_error_from(req.id, &err);
    }
    /* A request without an id is a notification: it gets no response. */
    if (resp != NULL && req.id != NULL && !conn->src.dead)
        tether_conn_send(conn, resp);
    json_decref(resp);
    tether_rpc_request_fini(&req);
}

void tether_methods_conn_gone(void *opaque, struct tether_conn *conn)
{
    struct tether_shim *shim = opaque;

    tether_container_cancel(&shim->ctr, conn->id);
}
