/* The JSON-RPC front end: method table, parameter validation, and the glue between
 * connections and the container model. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "encode.h"
#include "params.h"
#include "rpc.h"
#include "shim.h"

#define PROTOCOL_VERSION 1
#define RUNTIME_ARGS_MAX 64

/* How a method's typed result becomes its JSON result. */
typedef json_t *(*result_encoder)(struct tether_shim *shim, const struct tether_result *res);

/* A request waiting for the core: answered on the connection if it is still there. */
struct rpc_call {
    struct tether_call call;
    struct tether_shim *shim;
    uint64_t conn_id;
    json_t *id; /* NULL for a notification: nothing is sent */
    result_encoder encode;
};

static void rpc_call_done(struct tether_call *call, const struct tether_error *err,
                          const struct tether_result *res)
{
    struct rpc_call *rc = container_of(call, struct rpc_call, call);
    struct tether_conn *conn = tether_server_find(&rc->shim->server, rc->conn_id);

    if (conn != NULL && rc->id != NULL) {
        json_t *resp = err != NULL ? tether_rpc_error_from(rc->id, err)
                                   : tether_rpc_result(rc->id, rc->encode(rc->shim, res));
        tether_conn_send(conn, resp);
        json_decref(resp);
    }
    json_decref(rc->id);
    free(rc);
}

static json_t *enc_empty(struct tether_shim *shim, const struct tether_result *res)
{
    (void)shim;
    (void)res;
    return json_object();
}

static json_t *enc_pid(struct tether_shim *shim, const struct tether_result *res)
{
    (void)shim;
    return tether_encode_pid(res->pid);
}

static json_t *enc_exit(struct tether_shim *shim, const struct tether_result *res)
{
    (void)shim;
    return tether_encode_exit(&res->exit);
}

static json_t *enc_exit_status(struct tether_shim *shim, const struct tether_result *res)
{
    (void)shim;
    return tether_encode_exit_status(&res->exit);
}

static json_t *enc_pids(struct tether_shim *shim, const struct tether_result *res)
{
    (void)shim;
    return tether_encode_pids(res);
}

static struct rpc_call *rpc_call_new(struct tether_shim *shim, struct tether_conn *conn, json_t *id,
                                     result_encoder encode)
{
    struct rpc_call *rc = xzalloc(sizeof(*rc));

    rc->call.done = rpc_call_done;
    rc->call.owner = conn->id;
    rc->shim = shim;
    rc->conn_id = conn->id;
    rc->id = id != NULL ? json_incref(id) : NULL;
    rc->encode = encode;
    return rc;
}

/* Hands an operation to the core; a refusal is answered at once. */
typedef int (*core_op)(struct tether_shim *shim, json_t *params, struct tether_call *call,
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

static json_t *start_call_with(struct method_ctx *ctx, core_op op, result_encoder encode,
                               void (*done)(struct tether_call *, const struct tether_error *,
                                            const struct tether_result *),
                               struct tether_error *err)
{
    struct rpc_call *rc = rpc_call_new(ctx->shim, ctx->conn, ctx->req->id, encode);

    if (done != NULL)
        rc->call.done = done;
    if (op(ctx->shim, ctx->req->params, &rc->call, err) < 0) {
        json_decref(rc->id);
        free(rc);
        return NULL;
    }
    ctx->deferred = true;
    return NULL;
}

static json_t *start_call(struct method_ctx *ctx, core_op op, result_encoder encode,
                          struct tether_error *err)
{
    return start_call_with(ctx, op, encode, NULL, err);
}

/* exec_id: same rules as container IDs. */
static int param_exec_id(json_t *params, const char **out, struct tether_error *err)
{
    if (tether_params_string(params, "exec_id", out, err) < 0)
        return -1;
    if (*out != NULL && !tether_id_valid(*out))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "invalid exec_id: must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
    return 0;
}

#define CHECK_KEYS(params, err, ...)                                                               \
    do {                                                                                           \
        static const char *const allowed_[] = {__VA_ARGS__, NULL};                                 \
        if (tether_params_check((params), allowed_, (err)) < 0)                                    \
            return NULL;                                                                           \
    } while (0)

/* ---- version ---- */

static json_t *enc_version(struct tether_shim *shim, const struct tether_result *res)
{
    return json_pack("{s:s,s:i,s:{s:s,s:s},s:s}", "version", TETHER_VERSION, "protocol",
                     PROTOCOL_VERSION, "runtime", "path", tether_core_runtime_path(shim->core),
                     "version", res->text != NULL ? res->text : "", "instance", shim->instance);
}

static int op_version(struct tether_shim *shim, json_t *params, struct tether_call *call,
                      struct tether_error *err)
{
    static const char *const none[] = {NULL};

    if (tether_params_check(params, none, err) < 0)
        return -1;
    return tether_core_runtime_version(shim->core, call, err);
}

static json_t *m_version(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_version, enc_version, err);
}

/* ---- create ---- */

static int parse_log_opts(struct tether_shim *shim, json_t *log, bool need_path,
                          struct tether_log_opts *opts, struct tether_error *err)
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
    if (need_path && path == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "log.path is required");
    opts->path = path != NULL ? xstrdup(path) : xasprintf("%s/container.log", shim->cfg.dir);
    opts->max_size = (uint64_t)max_size;
    opts->max_files = (unsigned)max_files;
    return 0;
}

/* terminal, stdin and log of a create or exec. Without a log path an exec logs nowhere
 * (its output still reaches attached clients); the init defaults to container.log. */
static int parse_process_opts(struct tether_shim *shim, json_t *params, bool is_init,
                              struct tether_process_opts *opts, struct tether_error *err)
{
    json_t *log = NULL;

    if (tether_params_bool(params, "terminal", &opts->terminal, err) < 0 ||
        tether_params_bool(params, "stdin", &opts->stdin, err) < 0 ||
        tether_params_object(params, "log", &log, err) < 0)
        return -1;
    if (!is_init && log == NULL)
        return 0;
    return parse_log_opts(shim, log, !is_init, &opts->log, err);
}

static int parse_restart(json_t *restart, struct tether_restart_policy *pol,
                         struct tether_error *err)
{
    static const char *const allowed[] = {"policy", "max_retries", "backoff_ms", "max_backoff_ms",
                                          NULL};
    static const char *const names[] = {[TETHER_RESTART_NO] = "no",
                                        [TETHER_RESTART_ON_FAILURE] = "on-failure",
                                        [TETHER_RESTART_ALWAYS] = "always",
                                        [TETHER_RESTART_UNLESS_STOPPED] = "unless-stopped"};
    const char *policy = "no";
    int64_t retries = 0, backoff = 100, max_backoff = 60000;
    size_t i;

    pol->kind = TETHER_RESTART_NO;
    if (restart == NULL)
        return 0;
    if (tether_params_check(restart, allowed, err) < 0 ||
        tether_params_string(restart, "policy", &policy, err) < 0 ||
        tether_params_int(restart, "max_retries", 0, 1000000, &retries, err) < 0 ||
        tether_params_int(restart, "backoff_ms", 0, 3600000, &backoff, err) < 0 ||
        tether_params_int(restart, "max_backoff_ms", 0, 86400000, &max_backoff, err) < 0)
        return tether_error_prefix(err, "restart");
    for (i = 0; i < TETHER_ARRAY_SIZE(names); i++)
        if (strcmp(names[i], policy) == 0)
            break;
    if (i == TETHER_ARRAY_SIZE(names))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "restart.policy must be no, on-failure, always or unless-stopped");
    pol->kind = (enum tether_restart_kind)i;
    pol->max_retries = (unsigned)retries;
    pol->backoff_ms = (unsigned)backoff;
    pol->max_backoff_ms = (unsigned)(max_backoff < backoff ? backoff : max_backoff);
    return 0;
}

static int parse_seccomp(json_t *obj, struct tether_seccomp_opts *opts, struct tether_error *err)
{
    static const char *const allowed[] = {"policy", "syscalls", NULL};
    const char *policy = "log";

    if (obj == NULL)
        return 0;
    if (tether_params_check(obj, allowed, err) < 0 ||
        tether_params_require(obj, "syscalls", err) < 0 ||
        tether_params_string(obj, "policy", &policy, err) < 0 ||
        tether_params_strings(obj, "syscalls", TETHER_SECCOMP_SYSCALLS_MAX, &opts->syscalls, err) <
            0)
        return tether_error_prefix(err, "seccomp_notify");
    if (strcmp(policy, "log") != 0 && strcmp(policy, "deny") != 0)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "seccomp_notify.policy must be \"log\" or \"deny\"");
    opts->enabled = true;
    opts->deny = strcmp(policy, "deny") == 0;
    return 0;
}

static int op_create(struct tether_shim *shim, json_t *params, struct tether_call *call,
                     struct tether_error *err)
{
    static const char *const allowed[] = {"terminal",       "stdin", "log",
                                          "runtime_args",   "init",  "restart",
                                          "seccomp_notify", "start", NULL};
    struct tether_create_opts opts = {0};
    json_t *restart = NULL, *seccomp = NULL;
    int rc = -1;

    tether_process_opts_init(&opts.proc);
    if (tether_params_check(params, allowed, err) < 0 ||
        parse_process_opts(shim, params, true, &opts.proc, err) < 0 ||
        tether_params_strings(params, "runtime_args", RUNTIME_ARGS_MAX, &opts.runtime_args, err) <
            0 ||
        tether_params_bool(params, "init", &opts.init, err) < 0 ||
        tether_params_bool(params, "start", &opts.start, err) < 0 ||
        tether_params_object(params, "restart", &restart, err) < 0 ||
        parse_restart(restart, &opts.restart, err) < 0 ||
        tether_params_object(params, "seccomp_notify", &seccomp, err) < 0 ||
        parse_seccomp(seccomp, &opts.seccomp, err) < 0)
        goto out;
    /* start is one of this protocol's methods: the OOM watch waits for it. */
    opts.watch_at_start = true;
    rc = tether_container_create(shim->ctr, &opts, call, err);
out:
    free(opts.proc.log.path);
    tether_params_strings_free(opts.runtime_args);
    tether_params_strings_free(opts.seccomp.syscalls);
    return rc;
}

/* ---- stop ---- */

static int op_stop(struct tether_shim *shim, json_t *params, struct tether_call *call,
                   struct tether_error *err)
{
    static const char *const allowed[] = {"timeout", "signal", NULL};
    int64_t timeout = 10;
    int sig = 0;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_int(params, "timeout", 0, 86400, &timeout, err) < 0 ||
        tether_params_signal(params, "signal", &sig, err) < 0)
        return -1;
    return tether_container_stop(shim->ctr, sig, (unsigned)timeout, call, err);
}

static json_t *m_stop(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_stop, enc_exit_status, err);
}

static json_t *m_create(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_create, enc_pid, err);
}

/* ---- start, kill, wait, pids, delete ---- */

static int op_start(struct tether_shim *shim, json_t *params, struct tether_call *call,
                    struct tether_error *err)
{
    static const char *const none[] = {NULL};

    if (tether_params_check(params, none, err) < 0)
        return -1;
    return tether_container_start(shim->ctr, call, err);
}

static json_t *m_start(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_start, enc_pid, err);
}

static int op_kill(struct tether_shim *shim, json_t *params, struct tether_call *call,
                   struct tether_error *err)
{
    static const char *const allowed[] = {"signal", "all", "exec_id", NULL};
    const char *exec_id = NULL;
    bool all = false;
    int sig = 0;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_require(params, "signal", err) < 0 ||
        tether_params_signal(params, "signal", &sig, err) < 0 ||
        tether_params_bool(params, "all", &all, err) < 0 ||
        param_exec_id(params, &exec_id, err) < 0)
        return -1;
    if (all && exec_id != NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "\"all\" applies to the container, not to an exec");
    return tether_container_kill(shim->ctr, exec_id, sig, all, call, err);
}

static json_t *m_kill(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_kill, enc_empty, err);
}

static int op_wait(struct tether_shim *shim, json_t *params, struct tether_call *call,
                   struct tether_error *err)
{
    static const char *const allowed[] = {"exec_id", NULL};
    const char *exec_id = NULL;

    if (tether_params_check(params, allowed, err) < 0 || param_exec_id(params, &exec_id, err) < 0)
        return -1;
    return tether_container_wait(shim->ctr, exec_id, call, err);
}

static json_t *m_wait(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_wait, enc_exit, err);
}

static int op_pids(struct tether_shim *shim, json_t *params, struct tether_call *call,
                   struct tether_error *err)
{
    static const char *const none[] = {NULL};

    if (tether_params_check(params, none, err) < 0)
        return -1;
    return tether_container_pids(shim->ctr, call, err);
}

static json_t *m_pids(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_pids, enc_pids, err);
}

static int op_delete(struct tether_shim *shim, json_t *params, struct tether_call *call,
                     struct tether_error *err)
{
    static const char *const allowed[] = {"force", "exec_id", NULL};
    const char *exec_id = NULL;
    bool force = false;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_bool(params, "force", &force, err) < 0 ||
        param_exec_id(params, &exec_id, err) < 0)
        return -1;
    if (exec_id != NULL) {
        if (tether_container_exec_delete(shim->ctr, exec_id, err) < 0)
            return -1;
        container_of(call, struct rpc_call, call)->encode = enc_empty;
        tether_call_ok(call, NULL);
        return 0;
    }
    return tether_container_delete(shim->ctr, force, call, err);
}

static json_t *m_delete(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_delete, enc_exit_status, err);
}

/* ---- state ---- */

static json_t *m_state(struct method_ctx *ctx, struct tether_error *err)
{
    const char *exec_id = NULL;
    struct tether_state st;

    CHECK_KEYS(ctx->req->params, err, "exec_id");
    if (param_exec_id(ctx->req->params, &exec_id, err) < 0 ||
        tether_container_state(ctx->shim->ctr, exec_id, &st, err) < 0)
        return NULL;
    return tether_encode_state(&st);
}

/* ---- subscribe ---- */

static json_t *m_subscribe(struct method_ctx *ctx, struct tether_error *err)
{
    struct tether_core *core = ctx->shim->core;
    int64_t since = 0;
    uint64_t seq, first = tether_core_first_seq(core), last = tether_core_last_seq(core);
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
    resp = tether_rpc_result(ctx->req->id,
                             json_pack("{s:I,s:I,s:s}", "seq", (json_int_t)last, "first",
                                       (json_int_t)first, "instance", ctx->shim->instance));
    if (ctx->req->id != NULL)
        tether_conn_send(ctx->conn, resp);
    json_decref(resp);
    ctx->deferred = true;
    for (seq = (uint64_t)since + 1 > first ? (uint64_t)since + 1 : first; seq <= last; seq++) {
        size_t len;
        char *line;
        if (ctx->conn->src.dead)
            return NULL;
        line = tether_encode_event_line(tether_core_event(core, seq), &len);
        tether_conn_send_line(ctx->conn, line, len);
        free(line);
    }
    ctx->conn->subscribed = true;
    return NULL;
}

void tether_methods_on_event(void *opaque, const struct tether_event *ev)
{
    struct tether_shim *shim = opaque;
    struct tether_conn *conn, *next;
    cleanup_free char *line = NULL;
    size_t len = 0;

    for (conn = shim->server.conns; conn != NULL; conn = next) {
        next = conn->next;
        if (!conn->subscribed)
            continue;
        if (line == NULL)
            line = tether_encode_event_line(ev, &len); /* once for every subscriber */
        tether_conn_send_line(conn, line, len);
    }
}

/* ---- shutdown ---- */

/* shutdown answers {} whether or not it had a container to delete first. */
static void shutdown_done(struct tether_call *call, const struct tether_error *err,
                          const struct tether_result *res)
{
    struct tether_shim *shim = container_of(call, struct rpc_call, call)->shim;

    rpc_call_done(call, err, res);
    if (err == NULL)
        tether_core_leave(shim->core);
}

static int op_shutdown(struct tether_shim *shim, json_t *params, struct tether_call *call,
                       struct tether_error *err)
{
    static const char *const allowed[] = {"force", NULL};
    bool force = false;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_bool(params, "force", &force, err) < 0)
        return -1;
    if (!tether_container_created(shim->ctr)) {
        tether_call_ok(call, NULL);
        return 0;
    }
    if (!force)
        return tether_error_setk(err, TETHER_ERR_STATE, 0,
                                 "container %s exists: delete it first or use force", shim->cfg.id);
    return tether_container_delete(shim->ctr, true, call, err);
}

static json_t *m_shutdown(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call_with(ctx, op_shutdown, enc_empty, shutdown_done, err);
}

/* ---- exec ---- */

static int check_process(json_t *process, struct tether_error *err)
{
    json_t *args = json_object_get(process, "args"), *item;
    size_t i;

    if (!json_is_array(args) || json_array_size(args) == 0)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "process.args must be a non-empty array of strings");
    json_array_foreach(args, i, item)
    {
        if (!json_is_string(item))
            return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                     "process.args must be a non-empty array of strings");
    }
    return 0;
}

static int op_exec(struct tether_shim *shim, json_t *params, struct tether_call *call,
                   struct tether_error *err)
{
    static const char *const allowed[] = {"exec_id", "process", "terminal", "stdin", "log", NULL};
    struct tether_exec_opts opts = {0};
    json_t *process = NULL;
    cleanup_free char *process_text = NULL;
    int rc = -1;

    tether_process_opts_init(&opts.proc);
    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_require(params, "exec_id", err) < 0 ||
        tether_params_require(params, "process", err) < 0 ||
        param_exec_id(params, &opts.exec_id, err) < 0 ||
        tether_params_object(params, "process", &process, err) < 0 ||
        check_process(process, err) < 0 ||
        parse_process_opts(shim, params, false, &opts.proc, err) < 0)
        goto out;
    process_text = json_dumps(process, JSON_COMPACT);
    if (process_text == NULL) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "cannot encode the process");
        goto out;
    }
    opts.process = process_text;
    rc = tether_container_exec(shim->ctr, &opts, call, err);
out:
    free(opts.proc.log.path);
    return rc;
}

static json_t *m_exec(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_exec, enc_pid, err);
}

/* ---- pause, resume, update, stats ---- */

static int op_pause(struct tether_shim *shim, json_t *params, struct tether_call *call,
                    struct tether_error *err)
{
    static const char *const none[] = {NULL};

    if (tether_params_check(params, none, err) < 0)
        return -1;
    return tether_container_pause(shim->ctr, true, call, err);
}

static json_t *m_pause(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_pause, enc_empty, err);
}

static int op_resume(struct tether_shim *shim, json_t *params, struct tether_call *call,
                     struct tether_error *err)
{
    static const char *const none[] = {NULL};

    if (tether_params_check(params, none, err) < 0)
        return -1;
    return tether_container_pause(shim->ctr, false, call, err);
}

static json_t *m_resume(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_resume, enc_empty, err);
}

static int op_update(struct tether_shim *shim, json_t *params, struct tether_call *call,
                     struct tether_error *err)
{
    static const char *const allowed[] = {"resources", NULL};
    json_t *resources = NULL;
    char *text;
    int rc;

    if (tether_params_check(params, allowed, err) < 0 ||
        tether_params_require(params, "resources", err) < 0 ||
        tether_params_object(params, "resources", &resources, err) < 0)
        return -1;
    text = json_dumps(resources, JSON_COMPACT);
    if (text == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "cannot encode resources");
    rc = tether_container_update(shim->ctr, text, call, err);
    free(text);
    return rc;
}

static json_t *m_update(struct method_ctx *ctx, struct tether_error *err)
{
    return start_call(ctx, op_update, enc_empty, err);
}

static json_t *m_stats(struct method_ctx *ctx, struct tether_error *err)
{
    struct tether_stats st;

    CHECK_KEYS(ctx->req->params, err, "exec_id");
    if (json_object_get(ctx->req->params, "exec_id") != NULL) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "stats are per container, not per exec");
        return NULL;
    }
    if (tether_container_stats(ctx->shim->ctr, &st, err) < 0)
        return NULL;
    return tether_encode_stats(&st);
}

/* ---- attach, input, close_stdin, resize, reopen_log ---- */

/* The optional exec_id of a request on a process's stdio. */
static int target(struct method_ctx *ctx, const char **exec_id, struct tether_error *err)
{
    *exec_id = NULL;
    return param_exec_id(ctx->req->params, exec_id, err);
}

static json_t *m_attach(struct method_ctx *ctx, struct tether_error *err)
{
    const char *exec_id;
    bool want_stdin = false, stdin_open = false;

    CHECK_KEYS(ctx->req->params, err, "exec_id", "stdin");
    /* Any process that exists, even one still being created. */
    if (tether_params_bool(ctx->req->params, "stdin", &want_stdin, err) < 0 ||
        target(ctx, &exec_id, err) < 0 ||
        tether_container_stdin_open(ctx->shim->ctr, exec_id, &stdin_open, err) < 0)
        return NULL;
    if (want_stdin && !stdin_open) {
        tether_error_setk(err, TETHER_ERR_STATE, 0, "the process has no open stdin");
        return NULL;
    }
    if (ctx->conn->attached) {
        tether_error_setk(err, TETHER_ERR_STATE, 0, "already attached on this connection");
        return NULL;
    }
    ctx->conn->attached = true;
    free(ctx->conn->attach_exec_id);
    ctx->conn->attach_exec_id = exec_id != NULL ? xstrdup(exec_id) : NULL;
    return json_object();
}

void tether_methods_on_output(void *opaque, struct tether_container *ctr, const char *exec_id,
                              enum tether_logfmt_stream stream, const char *data, size_t len)
{
    struct tether_shim *shim = opaque;
    struct tether_conn *conn, *next;
    cleanup_free char *line = NULL;
    size_t line_len = 0;

    (void)ctr;
    for (conn = shim->server.conns; conn != NULL; conn = next) {
        next = conn->next;
        if (!conn->attached || (exec_id == NULL) != (conn->attach_exec_id == NULL) ||
            (exec_id != NULL && strcmp(exec_id, conn->attach_exec_id) != 0))
            continue;
        if (line == NULL) {
            /* Encoded once for every attached client. */
            cleanup_free char *b64 = tether_base64_encode(data, len, NULL);
            json_t *note = tether_rpc_notification(
                "output",
                json_pack("{s:s,s:s}", "stream", tether_logfmt_stream_name(stream), "data", b64));
            if (exec_id != NULL)
                json_object_set_new(json_object_get(note, "params"), "exec_id",
                                    json_string(exec_id));
            line = tether_rpc_encode(note, &line_len);
            json_decref(note);
        }
        tether_conn_send_line(conn, line, line_len);
    }
}

static json_t *m_input(struct method_ctx *ctx, struct tether_error *err)
{
    const char *exec_id;
    const char *data = NULL;
    cleanup_free char *raw = NULL;
    ssize_t n, written;

    CHECK_KEYS(ctx->req->params, err, "exec_id", "data");
    if (tether_params_require(ctx->req->params, "data", err) < 0 ||
        tether_params_string(ctx->req->params, "data", &data, err) < 0 ||
        target(ctx, &exec_id, err) < 0)
        return NULL;
    raw = xmalloc(tether_base64_decoded_max(strlen(data)));
    n = tether_base64_decode(data, strlen(data), raw);
    if (n < 0) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "data must be base64");
        return NULL;
    }
    /* Never waits on a process that does not read: what did not fit is for the caller
     * to send again ("written" tells how much was taken, 0 when stdin is full). */
    written = tether_container_input(ctx->shim->ctr, exec_id, raw, (size_t)n, err);
    if (written < 0)
        return NULL;
    return json_pack("{s:i}", "written", (int)written);
}

static json_t *m_close_stdin(struct method_ctx *ctx, struct tether_error *err)
{
    const char *exec_id;

    CHECK_KEYS(ctx->req->params, err, "exec_id");
    if (target(ctx, &exec_id, err) < 0 ||
        tether_container_close_stdin(ctx->shim->ctr, exec_id, err) < 0)
        return NULL;
    return json_object();
}

static json_t *m_resize(struct method_ctx *ctx, struct tether_error *err)
{
    const char *exec_id;
    int64_t width = 0, height = 0;

    CHECK_KEYS(ctx->req->params, err, "exec_id", "width", "height");
    if (tether_params_require(ctx->req->params, "width", err) < 0 ||
        tether_params_require(ctx->req->params, "height", err) < 0 ||
        tether_params_int(ctx->req->params, "width", 1, 65535, &width, err) < 0 ||
        tether_params_int(ctx->req->params, "height", 1, 65535, &height, err) < 0 ||
        target(ctx, &exec_id, err) < 0 ||
        tether_container_resize(ctx->shim->ctr, exec_id, (unsigned)width, (unsigned)height, err) <
            0)
        return NULL;
    return json_object();
}

static json_t *m_reopen_log(struct method_ctx *ctx, struct tether_error *err)
{
    const char *exec_id;

    CHECK_KEYS(ctx->req->params, err, "exec_id");
    if (target(ctx, &exec_id, err) < 0 ||
        tether_container_reopen_log(ctx->shim->ctr, exec_id, err) < 0)
        return NULL;
    return json_object();
}

/* ---- dispatch ---- */

static const struct {
    const char *name;
    method_fn fn;
} methods[] = {
    {"version", m_version}, {"create", m_create},
    {"start", m_start},     {"state", m_state},
    {"kill", m_kill},       {"wait", m_wait},
    {"pids", m_pids},       {"subscribe", m_subscribe},
    {"delete", m_delete},   {"shutdown", m_shutdown},
    {"exec", m_exec},       {"pause", m_pause},
    {"resume", m_resume},   {"update", m_update},
    {"stats", m_stats},     {"attach", m_attach},
    {"input", m_input},     {"close_stdin", m_close_stdin},
    {"resize", m_resize},   {"reopen_log", m_reopen_log},
    {"stop", m_stop},
};

void tether_methods_dispatch(void *opaque, struct tether_conn *conn, char *line, size_t len)
{
    struct tether_shim *shim = opaque;
    struct tether_rpc_request req;
    struct tether_error err = {0};
    struct method_ctx ctx = {.shim = shim, .conn = conn, .req = &req};
    json_t *resp = NULL, *result = NULL;
    size_t i;

    tether_core_busy(shim->core);
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

    if (shim->ctr != NULL) /* NULL once the core let the container go (teardown) */
        tether_container_cancel(shim->ctr, conn->id);
}
