/* tetherctl subcommands that talk to an existing shim: one call each, or a stream. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/util.h>

#include "tetherctl.h"

/* How long shutdown waits for the shim to close the connection behind its answer. */
#define CTL_SHUTDOWN_WAIT_MS 5000
#define CTL_CMDLINE_MAX      4096

struct tether_client *ctl_connect(const struct ctl *ctl, struct tether_error *err)
{
    cleanup_free char *path = ctl->socket != NULL
                                  ? xstrdup(ctl->socket)
                                  : tether_client_socket_path(ctl->state_dir, ctl->id);
    struct tether_client *c = tether_client_connect(path, err);

    if (c == NULL && err->kind == TETHER_ERR_NOT_FOUND)
        tether_error_prefix(err, "no shim for %s", ctl->id);
    return c;
}

json_t *ctl_call_once(const struct ctl *ctl, const char *method, json_t *params,
                      struct tether_error *err)
{
    struct tether_client *c = ctl_connect(ctl, err);
    json_t *result;

    if (c == NULL)
        return NULL;
    result = tether_client_call(c, method, params, -1, NULL, err);
    tether_client_close(c);
    return result;
}

/* Calls a method and prints its result. */
static int call_and_print(struct ctl *ctl, const char *method, json_t *params)
{
    struct tether_error err = {0};
    json_auto_t *result = ctl_call_once(ctl, method, params, &err);

    if (result == NULL)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    ctl_print_result(ctl, result);
    return CTL_EXIT_OK;
}

int ctl_cmd_start(struct ctl *ctl)
{
    return call_and_print(ctl, "start", NULL);
}

/* Adds "exec_id" when the command line names an exec. */
static json_t *for_exec(const struct ctl *ctl, json_t *params)
{
    if (ctl->exec_id != NULL)
        json_object_set_new(params, "exec_id", json_string(ctl->exec_id));
    return params;
}

int ctl_cmd_state(struct ctl *ctl)
{
    json_auto_t *params = for_exec(ctl, json_object());

    return call_and_print(ctl, "state", params);
}

int ctl_cmd_kill(struct ctl *ctl)
{
    const char *name = ctl->argc > 1 ? ctl->argv[1] : "SIGTERM";
    int sig = tether_signal_parse(name);
    json_auto_t *params = NULL;

    if (sig < 0)
        return ctl_usage_error("unknown signal \"%s\"", name);
    params = for_exec(ctl, json_pack("{s:i, s:b}", "signal", sig, "all", ctl->all));
    return call_and_print(ctl, "kill", params);
}

int ctl_cmd_pause(struct ctl *ctl)
{
    return call_and_print(ctl, "pause", NULL);
}

int ctl_cmd_resume(struct ctl *ctl)
{
    return call_and_print(ctl, "resume", NULL);
}

/* The shim carries the stop out to the end: signal, grace period, SIGKILL. */
int ctl_cmd_stop(struct ctl *ctl)
{
    struct tether_error err = {0};
    json_auto_t *params = json_object();
    json_auto_t *result = NULL;
    int status;

    if (ctl->timeout != CTL_UNSET)
        json_object_set_new(params, "timeout", json_integer(ctl->timeout));
    if (ctl->signal != NULL)
        json_object_set_new(params, "signal", json_integer(tether_signal_parse(ctl->signal)));
    result = ctl_call_once(ctl, "stop", params, &err);
    if (result == NULL)
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    status = ctl_exit_status(result);
    if (status < 0) {
        tether_error_setk(&err, TETHER_ERR_INTERNAL, 0, "stop: no exit_status in the answer");
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    }
    ctl_print_result(ctl, result);
    return status;
}

int ctl_cmd_wait(struct ctl *ctl)
{
    struct tether_error err = {0};
    json_auto_t *result = ctl_call_once(ctl, "wait", NULL, &err);
    int status;

    if (result == NULL)
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    status = ctl_exit_status(result);
    if (status < 0) {
        tether_error_setk(&err, TETHER_ERR_INTERNAL, 0, "wait: no exit_status in the answer");
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    }
    ctl_print_result(ctl, result);
    return status;
}

/* /proc/PID/cmdline with its NULs as spaces, or "-" when it cannot be read. */
static char *process_command(json_int_t pid)
{
    cleanup_free char *path = xasprintf("/proc/%lld/cmdline", (long long)pid);
    char *text = NULL;
    size_t len = 0;

    if (tether_read_file(path, CTL_CMDLINE_MAX, &text, &len, NULL) < 0 || len == 0) {
        free(text);
        return xstrdup("-");
    }
    for (size_t i = 0; i + 1 < len; i++)
        if (text[i] == '\0')
            text[i] = ' ';
    return text;
}

int ctl_cmd_ps(struct ctl *ctl)
{
    struct tether_error err = {0};
    json_auto_t *result = ctl_call_once(ctl, "pids", NULL, &err);
    json_t *pids, *item;
    size_t i;

    if (result == NULL)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    if (ctl->json) {
        ctl_print_result(ctl, result);
        return CTL_EXIT_OK;
    }
    pids = json_object_get(result, "pids");
    printf("%-8s %s\n", "PID", "COMMAND");
    json_array_foreach(pids, i, item)
    {
        json_int_t pid = json_integer_value(json_object_get(item, "pid"));
        cleanup_free char *cmd = process_command(pid);
        printf("%-8lld %s\n", (long long)pid, cmd);
    }
    return CTL_EXIT_OK;
}

int ctl_cmd_events(struct ctl *ctl)
{
    struct tether_error err = {0};
    struct tether_client *c = ctl_connect(ctl, &err);
    json_auto_t *params = NULL;
    json_auto_t *result = NULL;
    int rc = CTL_EXIT_OK;

    if (c == NULL)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    params = json_pack("{s:I}", "since", (json_int_t)ctl->since);
    result = tether_client_call(c, "subscribe", params, -1, NULL, &err);
    if (result == NULL) {
        tether_client_close(c);
        return ctl_fail(&err, CTL_EXIT_FAILED);
    }
    for (;;) {
        json_auto_t *n = tether_client_next_notification(c, -1, &err);
        if (n != NULL) {
            ctl_print_event(ctl, n);
            continue;
        }
        if (err.kind == TETHER_ERR_NOT_FOUND)
            break; /* the shim went away: the stream is complete */
        if (err.kind != TETHER_ERR_INVALID && err.kind != TETHER_ERR_TOO_LARGE) {
            rc = ctl_fail(&err, CTL_EXIT_FAILED);
            break;
        }
        ctl_fail(&err, CTL_EXIT_FAILED); /* one bad line; the stream goes on */
    }
    tether_client_close(c);
    return rc;
}

int ctl_cmd_delete(struct ctl *ctl)
{
    json_auto_t *params = json_pack("{s:b}", "force", ctl->force);

    return call_and_print(ctl, "delete", params);
}

int ctl_cmd_shutdown(struct ctl *ctl)
{
    struct tether_error err = {0};
    struct tether_client *c = ctl_connect(ctl, &err);
    json_auto_t *params = json_pack("{s:b}", "force", ctl->force);
    json_auto_t *result = NULL;

    if (c == NULL)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    result = tether_client_call(c, "shutdown", params, -1, NULL, &err);
    if (result == NULL) {
        tether_client_close(c);
        return ctl_fail(&err, CTL_EXIT_FAILED);
    }
    /* The shim exits after answering; returning once it has closed the connection lets
     * a following `ls` see it gone. Anything still arriving is of no interest. */
    for (;;) {
        json_auto_t *msg = tether_client_read_message(c, CTL_SHUTDOWN_WAIT_MS, &err);
        if (msg == NULL && err.kind != TETHER_ERR_INVALID && err.kind != TETHER_ERR_TOO_LARGE)
            break;
    }
    tether_client_close(c);
    ctl_print_result(ctl, result);
    return CTL_EXIT_OK;
}

int ctl_cmd_version(struct ctl *ctl)
{
    struct tether_error err = {0};
    json_auto_t *out = json_pack("{s:s}", "tetherctl", TETHER_VERSION);

    if (ctl->id != NULL) {
        json_t *shim = ctl_call_once(ctl, "version", NULL, &err);
        if (shim == NULL)
            return ctl_fail(&err, CTL_EXIT_FAILED);
        json_object_set_new(out, "shim", shim);
    }
    ctl_print_result(ctl, out);
    return CTL_EXIT_OK;
}
