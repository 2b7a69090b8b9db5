/* tetherctl subcommands that hold a session with one process: attach to a running one,
 * exec a new one. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/util.h>

#include "tetherctl.h"
#include "tetherctl_session.h"

#define CTL_EXEC_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* Generated exec ids tried before giving up (another exec may hold one). */
#define CTL_EXEC_ID_TRIES 100

/* The finished exec's record is removed so that its id can be used again. Quietly when
 * someone else may have done it first (another attached client). */
static void exec_delete(struct ctl_session *s, bool quiet)
{
    struct tether_error err = {0};
    json_auto_t *params = json_pack("{s:s}", "exec_id", s->exec_id);
    json_auto_t *result = tether_client_call(s->c, "delete", params, -1, NULL, &err);

    if (result == NULL && !quiet)
        fprintf(stderr, "tetherctl: delete exec %s: %s\n", s->exec_id, err.msg);
}

/* How a session ended, as tetherctl's exit status. */
static int session_status(struct ctl_session *s, enum ctl_session_end end, json_t *waited,
                          struct tether_error *err)
{
    const struct ctl *ctl = s->ctl;
    int status;

    switch (end) {
    case CTL_SESSION_EXITED:
        status = ctl_exit_status(waited);
        if (status < 0) {
            tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "wait: no exit_status in the answer");
            return ctl_fail(err, CTL_EXIT_RUN_FAILED);
        }
        if (ctl->json)
            ctl_print_result(ctl, waited);
        return status;
    case CTL_SESSION_DETACHED:
        if (s->exec_id != NULL)
            fprintf(stderr,
                    "tetherctl: detached from exec %s of %s (tetherctl attach %s --exec %s)\n",
                    s->exec_id, ctl->id, ctl->id, s->exec_id);
        else
            fprintf(stderr, "tetherctl: detached from %s (tetherctl attach %s)\n", ctl->id,
                    ctl->id);
        return CTL_EXIT_OK;
    case CTL_SESSION_FAILED:
        break;
    }
    return ctl_fail(err, CTL_EXIT_RUN_FAILED);
}

static json_t *attach_params(const char *exec_id, bool with_stdin)
{
    json_t *params = json_pack("{s:b}", "stdin", with_stdin);

    if (exec_id != NULL)
        json_object_set_new(params, "exec_id", json_string(exec_id));
    return params;
}

/* Attaches the session's connection, with stdin when the process has one open. */
static int attach_process(struct ctl_session *s, bool with_stdin, struct tether_error *err)
{
    json_auto_t *params = attach_params(s->exec_id, with_stdin);
    json_auto_t *result = NULL;
    int code = 0;

    result = tether_client_call(s->c, "attach", params, -1, &code, err);
    if (result == NULL && with_stdin && code == TETHER_RPC_INVALID_STATE) {
        /* No open stdin: attach to the output alone. */
        json_decref(params);
        params = attach_params(s->exec_id, false);
        with_stdin = false;
        tether_error_clear(err);
        result = tether_client_call(s->c, "attach", params, -1, NULL, err);
    }
    if (result == NULL)
        return -1;
    s->output = true;
    s->input = with_stdin;
    return 0;
}

int ctl_cmd_attach(struct ctl *ctl)
{
    struct ctl_session s;
    struct tether_error err = {0};
    json_auto_t *waited = NULL;
    enum ctl_session_end end;
    unsigned width, height;
    int status;

    if (ctl_session_init(&s, ctl, &err) < 0)
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    s.exec_id = ctl->exec_id;
    s.c = ctl_connect(ctl, &err);
    if (s.c == NULL || attach_process(&s, !ctl->no_stdin, &err) < 0) {
        tether_client_close(s.c);
        ctl_session_fini(&s);
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    }
    /* Whether the process has a terminal shows in whether it takes our window size. */
    if (ctl_terminal_size(&width, &height)) {
        struct tether_error no_tty = {0};
        s.tty = ctl_session_resize(&s, &no_tty) == 0;
    }
    end = ctl_session_run(&s, &waited, &err);
    if (end == CTL_SESSION_EXITED && s.exec_id != NULL)
        exec_delete(&s, true);
    tether_client_close(s.c);
    ctl_session_fini(&s);
    status = session_status(&s, end, waited, &err);
    return status;
}

/* The OCI Process of an exec: the command, PATH and -e, the working directory. */
static json_t *exec_process(const struct ctl *ctl)
{
    json_t *args = json_array();
    json_t *env = json_array();
    bool has_path = false;

    for (int i = 0; i < ctl->cmd_argc; i++)
        json_array_append_new(args, json_string(ctl->cmd_argv[i]));
    for (size_t i = 0; i < ctl->n_env; i++)
        if (strncmp(ctl->env[i], "PATH=", 5) == 0)
            has_path = true;
    /* getenv(3) takes the first of two PATHs: the default goes only when none is given. */
    if (!has_path)
        json_array_append_new(env, json_string(CTL_EXEC_PATH));
    for (size_t i = 0; i < ctl->n_env; i++)
        json_array_append_new(env, json_string(ctl->env[i]));
    return json_pack("{s:o, s:o, s:s, s:b}", "args", args, "env", env, "cwd",
                     ctl->workdir != NULL ? ctl->workdir : "/", "terminal", ctl->tty);
}

/* Sends exec and attach together, so that the attach is in place before the process can
 * write (the shim knows the exec from the moment it reads the request). *code receives
 * the exec's JSON-RPC error code. */
static int exec_and_attach(struct ctl_session *s, json_t *process, int *code,
                           struct tether_error *err)
{
    const struct ctl *ctl = s->ctl;
    json_auto_t *exec_params = json_pack("{s:s, s:O, s:b, s:b}", "exec_id", s->exec_id, "process",
                                         process, "terminal", ctl->tty, "stdin", ctl->interactive);
    /* No stdin check here: a terminal's stdin only opens once the exec has started. */
    json_auto_t *params = attach_params(s->exec_id, false);
    json_auto_t *exec_resp = NULL;
    json_auto_t *attach_resp = NULL;
    json_t *error;
    int64_t exec_req, attach_req;

    *code = 0;
    exec_req = tether_client_send(s->c, "exec", exec_params, err);
    if (exec_req < 0)
        return -1;
    attach_req = tether_client_send(s->c, "attach", params, err);
    if (attach_req < 0 ||
        (exec_resp = tether_client_wait_response(s->c, exec_req, -1, err)) == NULL ||
        (attach_resp = tether_client_wait_response(s->c, attach_req, -1, err)) == NULL)
        return -1;
    error = json_object_get(exec_resp, "error");
    if (error != NULL) {
        *code = (int)json_integer_value(json_object_get(error, "code"));
    } else if ((error = json_object_get(attach_resp, "error")) != NULL) {
        /* Started, but nobody would see it: it is not left behind. */
        json_auto_t *kill = json_pack("{s:s, s:i}", "exec_id", s->exec_id, "signal", SIGKILL);
        struct tether_error ignored = {0};
        json_decref(tether_client_call(s->c, "kill", kill, -1, NULL, &ignored));
    }
    if (error != NULL) {
        const char *text = json_string_value(json_object_get(error, "message"));
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "%s", text != NULL ? text : "failed");
    }
    s->output = true;
    s->input = ctl->interactive;
    return 0;
}

/* Starts the exec under ctl->exec_id, or under generated ids until one is free (each try
 * on a fresh connection: a connection attaches once). */
static int exec_start(struct ctl_session *s, char *id_buf, size_t id_len, struct tether_error *err)
{
    const struct ctl *ctl = s->ctl;
    json_auto_t *process = exec_process(ctl);

    for (int n = 1; n <= CTL_EXEC_ID_TRIES; n++) {
        int code = 0;

        if (ctl->exec_id != NULL)
            snprintf(id_buf, id_len, "%s", ctl->exec_id);
        else
            snprintf(id_buf, id_len, "exec-%d-%d", (int)getpid(), n);
        s->exec_id = id_buf;
        tether_client_close(s->c);
        s->c = ctl_connect(ctl, err);
        if (s->c == NULL)
            return -1;
        if (exec_and_attach(s, process, &code, err) == 0)
            return 0;
        if (code != TETHER_RPC_EXISTS || ctl->exec_id != NULL)
            return -1;
        tether_error_clear(err);
    }
    return tether_error_setk(err, TETHER_ERR_EXISTS, 0, "no free exec id after %d tries",
                             CTL_EXEC_ID_TRIES);
}

/* Exit status for an exec that did not start: 127 and 126 as a shell reports a missing or
 * unusable command (the runtime's message says which), else 125. */
static int exec_failure_status(const struct tether_error *err)
{
    if (strstr(err->msg, "executable file not found") != NULL ||
        strstr(err->msg, "no such file or directory") != NULL)
        return 127;
    if (strstr(err->msg, "permission denied") != NULL)
        return 126;
    return CTL_EXIT_RUN_FAILED;
}

int ctl_cmd_exec(struct ctl *ctl)
{
    struct ctl_session s;
    struct tether_error err = {0};
    json_auto_t *waited = NULL;
    enum ctl_session_end end;
    char exec_id[129];
    int status;

    if (ctl_session_init(&s, ctl, &err) < 0)
        return ctl_fail(&err, CTL_EXIT_RUN_FAILED);
    if (exec_start(&s, exec_id, sizeof(exec_id), &err) < 0) {
        tether_client_close(s.c);
        ctl_session_fini(&s);
        return ctl_fail(&err, exec_failure_status(&err));
    }
    s.tty = ctl->tty;
    if (s.tty) {
        struct tether_error ignored = {0};
        ctl_session_resize(&s, &ignored);
    }
    end = ctl_session_run(&s, &waited, &err);
    if (end == CTL_SESSION_EXITED)
        exec_delete(&s, false);
    tether_client_close(s.c);
    ctl_session_fini(&s);
    status = session_status(&s, end, waited, &err);
    return status;
}
