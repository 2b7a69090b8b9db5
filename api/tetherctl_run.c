/* tetherctl subcommands that start a shim: create, and run (the whole life of a container
 * in one command, with its signals forwarded and, with -t or -i, its terminal or stdio). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/paths.h>
#include <tether/util.h>

#include "tetherctl.h"
#include "tetherctl_session.h"

/* Time given to cleanup calls on a shim that is being abandoned after a failure. */
#define CTL_CLEANUP_TIMEOUT_MS 30000
/* How long run waits for the shim to close the connection after shutdown. */
#define CTL_SHUTDOWN_WAIT_MS 5000
#define CTL_CONFIG_MAX       (4 << 20)
/* While waiting for a restart, how often run makes sure the container is still there. */
#define CTL_RESTART_CHECK_MS 1000

static char *executable_in(const char *dir, size_t len)
{
    char *p = xasprintf("%.*s/tether-shim", (int)len, len > 0 ? dir : ".");

    if (access(p, X_OK) == 0)
        return p;
    free(p);
    return NULL;
}

/* $TETHER_SHIM, else tether-shim beside this executable, else on PATH. */
static char *find_shim(struct tether_error *err)
{
    const char *env = getenv("TETHER_SHIM");
    const char *path = getenv("PATH");
    cleanup_free char *self = NULL;
    char *found;

    if (env != NULL && env[0] != '\0')
        return xstrdup(env);
    /* Both are installed in BINDIR, and sit together in the build tree's bin/. */
    self = tether_paths_self_dir();
    if (self != NULL && (found = executable_in(self, strlen(self))) != NULL)
        return found;
    if (path == NULL)
        path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (const char *p = path;; p++) {
        size_t len = strcspn(p, ":");
        if ((found = executable_in(p, len)) != NULL)
            return found;
        p += len;
        if (*p == '\0')
            break;
    }
    tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0,
                      "cannot find tether-shim next to tetherctl or on PATH (set TETHER_SHIM)");
    return NULL;
}

/* The shim detaches and changes directory: relative paths are resolved here. */
static char *absolute(const char *path)
{
    char cwd[PATH_MAX];

    if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
        return xstrdup(path);
    return xasprintf("%s/%s", cwd, path);
}

/* Starts a detached tether-shim for ctl->id with the command line's shim options. */
static int start_shim(const struct ctl *ctl, struct tether_shim_info *info,
                      struct tether_error *err)
{
    cleanup_free char *shim = find_shim(err);
    cleanup_free char *bundle = NULL;
    cleanup_free char *state_dir = absolute(ctl->state_dir);
    cleanup_free char *runtime = NULL;
    cleanup_free char *runtime_root = NULL;
    cleanup_free char *socket = NULL;
    const char *args[16];
    size_t n = 0;

    if (shim == NULL)
        return -1;
    bundle = realpath(ctl->bundle, NULL);
    if (bundle == NULL)
        return tether_error_setk(err, errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                                 errno, "bundle %s", ctl->bundle);
    args[n++] = "--id";
    args[n++] = ctl->id;
    args[n++] = "--bundle";
    args[n++] = bundle;
    args[n++] = "--state-dir";
    args[n++] = state_dir;
    if (ctl->runtime != NULL) {
        /* A bare name is looked up by the shim; a path is made absolute. */
        runtime =
            strchr(ctl->runtime, '/') != NULL ? absolute(ctl->runtime) : xstrdup(ctl->runtime);
        args[n++] = "--runtime";
        args[n++] = runtime;
    }
    if (ctl->runtime_root != NULL) {
        runtime_root = absolute(ctl->runtime_root);
        args[n++] = "--runtime-root";
        args[n++] = runtime_root;
    }
    if (ctl->socket != NULL) {
        socket = absolute(ctl->socket);
        args[n++] = "--socket";
        args[n++] = socket;
    }
    args[n] = NULL;
    return tether_client_launch_shim(shim, args, info, err);
}

/* After a failure: removes the container if there is one and stops the shim, so that a
 * failed create or run leaves nothing behind. Errors here are secondary and not shown. */
static void abandon_shim(struct tether_client *c)
{
    struct tether_error ignored = {0};
    json_auto_t *force = json_pack("{s:b}", "force", true);

    json_decref(tether_client_call(c, "delete", force, CTL_CLEANUP_TIMEOUT_MS, NULL, &ignored));
    json_decref(tether_client_call(c, "shutdown", force, CTL_CLEANUP_TIMEOUT_MS, NULL, &ignored));
}

/* Whether the bundle's config.json asks for a terminal (process.terminal): the runtime
 * wants the console socket exactly then. False when it cannot be read (create says why). */
static bool bundle_wants_terminal(const char *bundle)
{
    cleanup_free char *path = xasprintf("%s/config.json", bundle);
    cleanup_free char *text = NULL;
    json_auto_t *config = NULL;
    size_t len = 0;

    if (tether_read_file(path, CTL_CONFIG_MAX, &text, &len, NULL) < 0)
        return false;
    config = json_loadb(text, len, 0, NULL);
    return json_is_true(json_object_get(json_object_get(config, "process"), "terminal"));
}

/* --restart POLICY[:MAX] as the create parameter. */
static json_t *restart_param(const char *spec, struct tether_error *err)
{
    const char *colon = strchr(spec, ':');
    size_t len = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
    cleanup_free char *policy = xasprintf("%.*s", (int)len, spec);
    json_t *restart;

    if (len == 0) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "--restart wants POLICY[:MAX]");
        return NULL;
    }
    restart = json_pack("{s:s}", "policy", policy);
    if (colon != NULL) {
        char *end;
        long long max;
        errno = 0;
        max = strtoll(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || *end != '\0' || max < 0 || max > 1000000) {
            json_decref(restart);
            tether_error_setk(err, TETHER_ERR_INVALID, 0,
                              "--restart %s: MAX must be a number of retries", spec);
            return NULL;
        }
        json_object_set_new(restart, "max_retries", json_integer(max));
    }
    return restart;
}

/* The create request from the command line. *tty tells whether the container gets a
 * terminal: with -t, or when the bundle asks for one. */
static json_t *create_params(const struct ctl *ctl, bool *tty, struct tether_error *err)
{
    json_auto_t *params = json_object();
    json_t *log = json_object();

    *tty = bundle_wants_terminal(ctl->bundle);
    if (ctl->tty && !*tty) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0,
                          "-t needs a bundle whose process.terminal is true (%s/config.json)",
                          ctl->bundle);
        json_decref(log);
        return NULL;
    }
    json_object_set_new(params, "terminal", json_boolean(*tty));
    json_object_set_new(params, "stdin", json_boolean(ctl->interactive));
    if (ctl->init)
        json_object_set_new(params, "init", json_true());
    if (ctl->restart != NULL) {
        json_t *restart = restart_param(ctl->restart, err);
        if (restart == NULL) {
            json_decref(log);
            return NULL;
        }
        json_object_set_new(params, "restart", restart);
    }
    if (ctl->log_format != NULL)
        json_object_set_new(log, "format", json_string(ctl->log_format));
    if (ctl->log_path != NULL) {
        /* The shim wants an absolute path (it does not run where tetherctl does). */
        cleanup_free char *path = absolute(ctl->log_path);
        json_object_set_new(log, "path", json_string(path));
    }
    if (ctl->log_max_size != CTL_UNSET)
        json_object_set_new(log, "max_size", json_integer(ctl->log_max_size));
    if (ctl->log_max_files != CTL_UNSET)
        json_object_set_new(log, "max_files", json_integer(ctl->log_max_files));
    if (json_object_size(log) > 0)
        json_object_set_new(params, "log", log);
    else
        json_decref(log);
    return steal_ptr(params);
}

int ctl_cmd_create(struct ctl *ctl)
{
    struct tether_shim_info info = {0};
    struct tether_error err = {0};
    struct tether_client *c;
    json_auto_t *params = NULL;
    json_auto_t *result = NULL;
    bool tty;

    params = create_params(ctl, &tty, &err);
    if (params == NULL)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    if (start_shim(ctl, &info, &err) < 0)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    c = tether_client_connect(info.socket, &err);
    if (c == NULL) {
        tether_error_prefix(&err, "shim %d started but cannot be reached", (int)info.pid);
        return ctl_fail(&err, CTL_EXIT_FAILED);
    }
    result = tether_client_call(c, "create", params, -1, NULL, &err);
    if (result == NULL) {
        abandon_shim(c);
        tether_client_close(c);
        return ctl_fail(&err, CTL_EXIT_FAILED);
    }
    tether_client_close(c);
    json_object_set_new(result, "shim_pid", json_integer(info.pid));
    json_object_set_new(result, "socket", json_string(info.socket));
    ctl_print_result(ctl, result);
    return CTL_EXIT_OK;
}

struct run {
    struct ctl *ctl;
    struct ctl_session s; /* s.c: the connection to the shim */
    int stopped_by;       /* a signal that came before the container started */
};

/* A signal that arrived while run was creating or starting the container. */
static bool interrupted(struct run *r)
{
    if (r->stopped_by == 0)
        r->stopped_by = ctl_session_take_signal(&r->s);
    return r->stopped_by != 0;
}

/* Removes the exited container and stops the shim, printing the last events. */
static int finish_run(struct run *r, struct tether_error *err)
{
    json_auto_t *deleted = tether_client_call(r->s.c, "delete", NULL, -1, NULL, err);
    json_auto_t *stopped = NULL;

    if (deleted == NULL)
        return -1;
    stopped = tether_client_call(r->s.c, "shutdown", NULL, -1, NULL, err);
    if (stopped == NULL)
        return -1;
    /* The shim closes the connection as it exits; events before that are still shown. */
    for (;;) {
        struct tether_error end = {0};
        json_auto_t *n = tether_client_next_notification(r->s.c, CTL_SHUTDOWN_WAIT_MS, &end);
        if (n == NULL && end.kind != TETHER_ERR_INVALID && end.kind != TETHER_ERR_TOO_LARGE)
            break;
        if (n != NULL && r->ctl->events)
            ctl_print_event(r->ctl, n);
    }
    return 0;
}

/* Gives up on the shim after a failure (or an early signal); returns the exit status. */
static int run_abort(struct run *r, const struct tether_error *err)
{
    char name[32];

    abandon_shim(r->s.c);
    if (err == NULL) {
        fprintf(stderr, "tetherctl: %s before %s started; removed it\n",
                tether_signal_name(r->stopped_by, name, sizeof(name)), r->ctl->id);
        return 128 + r->stopped_by;
    }
    return ctl_fail(err, CTL_EXIT_RUN_FAILED);
}

/* With -t or -i: attached before the start so that no output is missed, and the
 * terminal sized before the process first looks at it. */
static int run_attach(struct run *r, struct tether_error *err)
{
    json_auto_t *params = json_pack("{s:b}", "stdin", r->ctl->interactive);
    json_auto_t *attached = NULL;
    struct tether_error ignored = {0};

    attached = tether_client_call(r->s.c, "attach", params, -1, NULL, err);
    if (attached == NULL)
        return -1;
    if (r->s.tty)
        ctl_session_resize(&r->s, &ignored);
    return 0;
}

/* The process ran to its end: its status, after the container and the shim are gone. */
static int run_finish(struct run *r, json_t *waited)
{
    struct tether_error err = {0};
    int status = ctl_exit_status(waited);

    if (status < 0) {
        tether_error_setk(&err, TETHER_ERR_INTERNAL, 0, "wait: no exit_status in the answer");
        return run_abort(r, &err);
    }
    if (finish_run(r, &err) < 0)
        return run_abort(r, &err);
    if (r->ctl->json)
        ctl_print_result(r->ctl, waited);
    return status;
}

/* Whether the shim's restart policy (the one create was given) will start the container
 * again after this exit; the shim decides the same way. A signal forwarded by run ends
 * restarts, as any client's kill does. */
static bool will_restart(struct run *r, json_t *params, json_t *waited)
{
    json_t *restart = json_object_get(params, "restart");
    const char *policy = json_string_value(json_object_get(restart, "policy"));
    json_int_t max = json_integer_value(json_object_get(restart, "max_retries"));
    struct tether_error err = {0};
    json_auto_t *state = NULL;

    if (policy == NULL || strcmp(policy, "no") == 0 || r->s.forwarded > 0)
        return false;
    if (strcmp(policy, "on-failure") == 0 && ctl_exit_status(waited) == 0)
        return false;
    if (max == 0)
        return true;
    state = tether_client_call(r->s.c, "state", NULL, -1, NULL, &err);
    return state != NULL && json_integer_value(json_object_get(state, "restarts")) < max;
}

static const char *event_topic(json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");

    if (method == NULL || strcmp(method, "event") != 0 || json_object_get(params, "exec_id"))
        return NULL;
    return json_string_value(json_object_get(params, "topic"));
}

/* Between an exit and the restart the policy makes: 1 once the container started again,
 * 0 when it will not (run forwarded a signal, which ends restarts; the container was
 * deleted or could not be created again), -1 on failure. */
static int await_restart(struct run *r, struct tether_error *err)
{
    int64_t check_at = ctl_now_ms() + CTL_RESTART_CHECK_MS;

    for (;;) {
        struct pollfd pfds[2] = {
            {.fd = tether_client_fd(r->s.c), .events = POLLIN},
            {.fd = r->s.sfd, .events = POLLIN},
        };
        json_auto_t *msg = tether_client_next_notification(r->s.c, 0, err);
        const char *topic = msg != NULL ? event_topic(msg) : NULL;
        int sig, code = 0;

        if (msg != NULL) {
            if (ctl_session_notification(&r->s, msg, err) < 0)
                return -1;
            if (topic != NULL && (strcmp(topic, "start") == 0 || strcmp(topic, "delete") == 0))
                return strcmp(topic, "start") == 0;
            continue;
        }
        if (err->kind != TETHER_ERR_TIMEOUT)
            return -1;
        tether_error_clear(err);
        if (poll(pfds, 2, (int)(check_at > ctl_now_ms() ? check_at - ctl_now_ms() : 0)) < 0 &&
            errno != EINTR)
            return tether_error_set(err, errno, "poll");
        if ((sig = ctl_session_take_signal(&r->s)) != 0) {
            json_auto_t *params = json_pack("{s:i}", "signal", sig);
            json_decref(tether_client_call(r->s.c, "kill", params, -1, NULL, err));
            return 0;
        }
        if (ctl_now_ms() >= check_at) {
            json_auto_t *state = tether_client_call(r->s.c, "state", NULL, -1, &code, err);
            if (state == NULL)
                return code == TETHER_RPC_NOT_FOUND ? 0 : -1;
            check_at = ctl_now_ms() + CTL_RESTART_CHECK_MS;
        }
    }
}

/* The session with the container's process, through the restarts its policy makes. */
static enum ctl_session_end run_session(struct run *r, json_t *params, json_t **waited,
                                        struct tether_error *err)
{
    for (;;) {
        enum ctl_session_end end = ctl_session_run(&r->s, waited, err);
        int restarted;

        if (end != CTL_SESSION_EXITED || !will_restart(r, params, *waited))
            return end;
        restarted = await_restart(r, err);
        if (restarted < 0)
            return CTL_SESSION_FAILED;
        if (restarted == 0)
            return CTL_SESSION_EXITED;
        json_decref(*waited);
        *waited = NULL;
    }
}

static int run_container(struct run *r)
{
    struct tether_shim_info info = {0};
    struct tether_error err = {0};
    json_auto_t *since0 = json_pack("{s:i}", "since", 0);
    json_auto_t *params = NULL;
    json_auto_t *subscribed = NULL;
    json_auto_t *created = NULL;
    json_auto_t *started = NULL;
    json_auto_t *waited = NULL;
    bool attach = r->ctl->tty || r->ctl->interactive;

    params = create_params(r->ctl, &r->s.tty, &err);
    if (params == NULL)
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    if (start_shim(r->ctl, &info, &err) < 0)
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    r->s.c = tether_client_connect(info.socket, &err);
    if (r->s.c == NULL) {
        tether_error_prefix(&err, "shim %d started but cannot be reached", (int)info.pid);
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    }
    /* Events are printed with --events and followed anyway for restarts. */
    if (r->ctl->events || r->ctl->restart != NULL) {
        subscribed = tether_client_call(r->s.c, "subscribe", since0, -1, NULL, &err);
        if (subscribed == NULL)
            return run_abort(r, &err);
    }
    if (interrupted(r))
        return run_abort(r, NULL);
    /* Without a session to attach first, create and start are one runtime call. */
    if (!attach)
        json_object_set_new(params, "start", json_true());
    created = tether_client_call(r->s.c, "create", params, -1, NULL, &err);
    if (created == NULL)
        return run_abort(r, &err);
    if (attach) {
        if (run_attach(r, &err) < 0)
            return run_abort(r, &err);
        if (interrupted(r))
            return run_abort(r, NULL);
        started = tether_client_call(r->s.c, "start", NULL, -1, NULL, &err);
        if (started == NULL)
            return run_abort(r, &err);
    }
    r->s.output = attach;
    r->s.input = r->ctl->interactive;
    r->s.events = r->ctl->events;
    switch (run_session(r, params, &waited, &err)) {
    case CTL_SESSION_EXITED:
        return run_finish(r, waited);
    case CTL_SESSION_DETACHED:
        fprintf(stderr, "tetherctl: detached from %s; it goes on (tetherctl attach %s)\n",
                r->ctl->id, r->ctl->id);
        return CTL_EXIT_OK;
    case CTL_SESSION_FAILED:
        break;
    }
    return run_abort(r, &err);
}

int ctl_cmd_run(struct ctl *ctl)
{
    struct run r = {.ctl = ctl};
    struct tether_error err = {0};
    int status;

    if (ctl_session_init(&r.s, ctl, &err) < 0)
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    status = run_container(&r);
    tether_client_close(r.s.c);
    ctl_session_fini(&r.s);
    return status;
}
