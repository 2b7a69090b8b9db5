/* tetherctl subcommands that start a shim: create, and run (the whole life of a container
 * in one command, with its signals forwarded). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <tether/util.h>

#include "tetherctl.h"

/* Time given to cleanup calls on a shim that is being abandoned after a failure. */
#define CTL_CLEANUP_TIMEOUT_MS 30000
/* How long run waits for the shim to close the connection after shutdown. */
#define CTL_SHUTDOWN_WAIT_MS 5000
/* After this many forwarded signals, run sends SIGKILL instead: an init that ignores
 * SIGINT and SIGTERM (a shell as PID 1 does) would otherwise never stop. */
#define CTL_SIGNALS_BEFORE_KILL 3

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
    char self[PATH_MAX];
    ssize_t n;
    char *found;

    if (env != NULL && env[0] != '\0')
        return xstrdup(env);
    n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        char *slash;
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash != NULL && (found = executable_in(self, (size_t)(slash - self))) != NULL)
            return found;
    }
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

int ctl_cmd_create(struct ctl *ctl)
{
    struct tether_shim_info info = {0};
    struct tether_error err = {0};
    struct tether_client *c;
    json_auto_t *result = NULL;

    if (start_shim(ctl, &info, &err) < 0)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    c = tether_client_connect(info.socket, &err);
    if (c == NULL) {
        tether_error_prefix(&err, "shim %d started but cannot be reached", (int)info.pid);
        return ctl_fail(&err, CTL_EXIT_FAILED);
    }
    result = tether_client_call(c, "create", NULL, -1, NULL, &err);
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
    struct tether_client *c;
    int sfd;        /* signalfd of the signals run forwards */
    int forwarded;  /* how many it has forwarded so far */
    int stopped_by; /* a signal that came before the container started */
};

static void print_queued_events(struct run *r)
{
    struct tether_error err = {0};
    json_t *n;

    while ((n = tether_client_next_notification(r->c, 0, &err)) != NULL) {
        if (r->ctl->events)
            ctl_print_event(r->ctl, n);
        json_decref(n);
    }
}

/* A signal that arrived while run was creating or starting the container. */
static bool interrupted(struct run *r)
{
    struct signalfd_siginfo si;

    if (read(r->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        r->stopped_by = (int)si.ssi_signo;
    return r->stopped_by != 0;
}

static int forward_signal(struct run *r, int sig, struct tether_error *err)
{
    json_auto_t *params = NULL;
    char name[32];

    if (++r->forwarded >= CTL_SIGNALS_BEFORE_KILL) {
        sig = SIGKILL;
        fprintf(stderr, "tetherctl: sending SIGKILL to %s\n", r->ctl->id);
    }
    params = json_pack("{s:i}", "signal", sig);
    if (tether_client_send(r->c, "kill", params, err) < 0)
        return tether_error_prefix(err, "forward %s", tether_signal_name(sig, name, sizeof(name)));
    return 0;
}

/* Handles one message read while waiting. Returns the wait result once it came, or NULL
 * (with *done set when the wait itself failed). */
static json_t *wait_message(struct run *r, json_t *msg, int64_t wait_id, bool *done,
                            struct tether_error *err)
{
    json_t *id = json_object_get(msg, "id");
    json_t *error = json_object_get(msg, "error");
    const char *text = json_string_value(json_object_get(error, "message"));

    if (id == NULL) {
        if (r->ctl->events)
            ctl_print_event(r->ctl, msg);
        return NULL;
    }
    if (json_integer_value(id) != wait_id) {
        /* The answer to a forwarded kill: only a failure is worth a word. */
        if (error != NULL)
            fprintf(stderr, "tetherctl: kill: %s\n", text != NULL ? text : "failed");
        return NULL;
    }
    *done = true;
    if (error != NULL) {
        tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "wait: %s", text != NULL ? text : "failed");
        return NULL;
    }
    return json_incref(json_object_get(msg, "result"));
}

/* Sends `wait` and reads until its answer, printing events and forwarding signals to the
 * container meanwhile. */
static json_t *wait_forwarding(struct run *r, struct tether_error *err)
{
    int64_t wait_id;

    print_queued_events(r);
    wait_id = tether_client_send(r->c, "wait", NULL, err);
    if (wait_id < 0)
        return NULL;
    for (;;) {
        struct pollfd pfds[2] = {
            {.fd = tether_client_fd(r->c), .events = POLLIN},
            {.fd = r->sfd, .events = POLLIN},
        };
        struct signalfd_siginfo si;
        json_auto_t *msg = tether_client_read_message(r->c, 0, err);
        bool done = false;

        if (msg != NULL) {
            json_t *result = wait_message(r, msg, wait_id, &done, err);
            if (done)
                return result;
            continue;
        }
        if (err->kind == TETHER_ERR_INVALID || err->kind == TETHER_ERR_TOO_LARGE) {
            ctl_fail(err, CTL_EXIT_FAILED);
            continue;
        }
        if (err->kind != TETHER_ERR_TIMEOUT) {
            tether_error_prefix(err, "waiting for %s", r->ctl->id);
            return NULL;
        }
        /* Nothing buffered: sleep until the shim writes or a signal comes. */
        if (poll(pfds, 2, -1) < 0 && errno != EINTR) {
            tether_error_set(err, errno, "poll");
            return NULL;
        }
        if ((pfds[1].revents & POLLIN) != 0 && read(r->sfd, &si, sizeof(si)) == sizeof(si) &&
            forward_signal(r, (int)si.ssi_signo, err) < 0)
            return NULL;
    }
}

/* Removes the exited container and stops the shim, printing the last events. */
static int finish_run(struct run *r, struct tether_error *err)
{
    json_auto_t *deleted = tether_client_call(r->c, "delete", NULL, -1, NULL, err);
    json_auto_t *stopped = NULL;

    if (deleted == NULL)
        return -1;
    stopped = tether_client_call(r->c, "shutdown", NULL, -1, NULL, err);
    if (stopped == NULL)
        return -1;
    /* The shim closes the connection as it exits; events before that are still shown. */
    for (;;) {
        struct tether_error end = {0};
        json_auto_t *n = tether_client_next_notification(r->c, CTL_SHUTDOWN_WAIT_MS, &end);
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

    abandon_shim(r->c);
    if (err == NULL) {
        fprintf(stderr, "tetherctl: %s before %s started; removed it\n",
                tether_signal_name(r->stopped_by, name, sizeof(name)), r->ctl->id);
        return 128 + r->stopped_by;
    }
    return ctl_fail(err, CTL_EXIT_RUN_FAILED);
}

static int run_container(struct run *r)
{
    struct tether_shim_info info = {0};
    struct tether_error err = {0};
    json_auto_t *since0 = json_pack("{s:i}", "since", 0);
    json_auto_t *subscribed = NULL;
    json_auto_t *created = NULL;
    json_auto_t *started = NULL;
    json_auto_t *waited = NULL;
    int status;

    if (start_shim(r->ctl, &info, &err) < 0)
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    r->c = tether_client_connect(info.socket, &err);
    if (r->c == NULL) {
        tether_error_prefix(&err, "shim %d started but cannot be reached", (int)info.pid);
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    }
    if (r->ctl->events &&
        (subscribed = tether_client_call(r->c, "subscribe", since0, -1, NULL, &err)) == NULL)
        return run_abort(r, &err);
    if (interrupted(r))
        return run_abort(r, NULL);
    created = tether_client_call(r->c, "create", NULL, -1, NULL, &err);
    if (created == NULL)
        return run_abort(r, &err);
    print_queued_events(r);
    if (interrupted(r))
        return run_abort(r, NULL);
    started = tether_client_call(r->c, "start", NULL, -1, NULL, &err);
    if (started == NULL)
        return run_abort(r, &err);
    waited = wait_forwarding(r, &err);
    if (waited == NULL)
        return run_abort(r, &err);
    status = ctl_exit_status(waited);
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

int ctl_cmd_run(struct ctl *ctl)
{
    struct run r = {.ctl = ctl, .sfd = -1};
    struct signalfd_siginfo si;
    sigset_t forward, old;
    int status;

    /* Taken synchronously through a signalfd (signalfd(2)); the shim launched meanwhile
     * gets a clean mask from the client library. */
    sigemptyset(&forward);
    sigaddset(&forward, SIGINT);
    sigaddset(&forward, SIGTERM);
    sigaddset(&forward, SIGHUP);
    sigaddset(&forward, SIGQUIT);
    sigprocmask(SIG_BLOCK, &forward, &old);
    r.sfd = signalfd(-1, &forward, SFD_CLOEXEC | SFD_NONBLOCK);
    if (r.sfd < 0) {
        struct tether_error err = {0};
        tether_error_set(&err, errno, "signalfd");
        sigprocmask(SIG_SETMASK, &old, NULL);
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    }
    status = run_container(&r);
    tether_client_close(r.c);
    /* Signals that came too late to matter are consumed, not delivered on unblocking. */
    while (read(r.sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    close(r.sfd);
    sigprocmask(SIG_SETMASK, &old, NULL);
    return status;
}
