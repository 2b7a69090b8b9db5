/* Exec processes: started with the runtime's `exec --detach --pid-file`, then watched like
 * the init. An exec's exit is never announced before its exec_start event. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/util.h>

#include "container.h"

static char *exec_file(const struct tether_container *ctr, const char *exec_id, const char *suffix)
{
    return xasprintf("%s/exec-%s.%s", ctr->env.dir, exec_id, suffix);
}

static void exec_exited(struct tether_child *child, int status, const struct timespec *at)
{
    struct tether_process *p = container_of(child, struct tether_process, child);

    tether_exit_from_wait(&p->exit, status, at);
    p->exited = true;
    /* Reaped before the runtime's exec returned: announced once exec_start is out. */
    if (p->state == TETHER_PROC_STARTING)
        return;
    tether_process_announce_exit(p);
}

static void exec_unlink(struct tether_container *ctr, struct tether_process *p)
{
    struct tether_process **pp;

    for (pp = &ctr->execs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            return;
        }
}

static void exec_remove_files(struct tether_container *ctr, const char *exec_id)
{
    cleanup_free char *json = exec_file(ctr, exec_id, "json");
    cleanup_free char *pid = exec_file(ctr, exec_id, "pid");

    unlink(json);
    unlink(pid);
}

static void exec_done(struct tether_job *job, int rc, const struct tether_error *err,
                      const char *out)
{
    struct tether_process *p = job->data;
    struct tether_container *ctr = p->ctr;
    struct tether_call *call = job->call;
    struct tether_error perr = {0};
    cleanup_free char *pid_path = exec_file(ctr, p->exec_id, "pid");
    pid_t pid = -1;

    (void)out;
    if (rc == 0)
        pid = tether_runtime_read_pid_file(pid_path, &perr);
    if (pid > 0 && tether_process_started(p, &perr) < 0) {
        kill(pid, SIGKILL);
        /* Still ours to reap: watch it and drop the record once it is gone. */
        pid = -1;
    }
    exec_remove_files(ctr, p->exec_id);
    if (pid <= 0) {
        const struct tether_error *why = rc < 0 ? err : &perr;
        log_warn(ctr->env.log, "exec %s failed: %s", p->exec_id, why->msg);
        tether_call_fail(call, why);
        exec_unlink(ctr, p);
        tether_process_fini(p);
        free(p);
        tether_container_exec_settled(ctr);
        return;
    }
    p->pid = pid;
    p->child.pid = p->pid;
    p->state = TETHER_PROC_RUNNING;
    {
        struct tether_event ev = {
            .topic = TETHER_TOPIC_EXEC_START, .pid = pid, .exec_id = p->exec_id};
        struct tether_result res = {.pid = pid};
        tether_container_publish(ctr, &ev);
        tether_call_ok(call, &res);
    }
    if (p->exited)
        tether_process_announce_exit(p);
    else
        tether_reaper_adopt(ctr->env.reaper, &p->child, job->mark);
    tether_container_exec_settled(ctr);
}

/* The Process object for the runtime, with "terminal" forced to what the shim set up (and
 * the terminal's size when the front end knows it). */
static int write_process_file(const char *path, const struct tether_exec_opts *opts,
                              struct tether_error *err)
{
    const char *process = opts->process;
    bool terminal = opts->proc.terminal;
    json_error_t jerr;
    json_t *copy = json_loads(process, 0, &jerr);
    char *text;
    int rc;

    if (!json_is_object(copy)) {
        json_decref(copy);
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "process must be a JSON object");
    }
    json_object_set_new(copy, "terminal", json_boolean(terminal));
    if (terminal && opts->console_width > 0 && opts->console_height > 0)
        json_object_set_new(copy, "consoleSize",
                            json_pack("{s:I,s:I}", "height", (json_int_t)opts->console_height,
                                      "width", (json_int_t)opts->console_width));
    text = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    if (text == NULL)
        return tether_error_set(err, 0, "cannot encode the process");
    rc = tether_write_file_atomic(path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

int tether_container_exec(struct tether_container *ctr, const struct tether_exec_opts *opts,
                          struct tether_call *call, struct tether_error *err)
{
    struct tether_runtime_args args;
    struct tether_process *p;
    struct tether_job *job;
    cleanup_free char *json_path = NULL;
    cleanup_free char *pid_path = NULL;

    if (ctr->state == TETHER_CTR_NEW)
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "container %s is not created",
                                 ctr->env.id);
    if (ctr->state != TETHER_CTR_RUNNING || ctr->init.exited)
        return tether_error_setk(
            err, TETHER_ERR_STATE, 0, "cannot exec in container %s: it is %s", ctr->env.id,
            ctr->init.exited ? "stopped" : tether_status_name(tether_container_status(ctr)));
    for (p = ctr->execs; p != NULL; p = p->next)
        if (strcmp(p->exec_id, opts->exec_id) == 0)
            return tether_error_setk(err, TETHER_ERR_EXISTS, 0, "exec %s already exists",
                                     opts->exec_id);
    json_path = exec_file(ctr, opts->exec_id, "json");
    pid_path = exec_file(ctr, opts->exec_id, "pid");
    unlink(pid_path);
    if (write_process_file(json_path, opts, err) < 0)
        return -1;

    p = xzalloc(sizeof(*p));
    tether_process_init(p, ctr, opts->exec_id, exec_exited);
    if (tether_process_prepare(p, &opts->proc, opts->exec_id, err) < 0)
        goto fail;
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.process_file = json_path;
    args.pid_file = pid_path;
    args.detach = true;
    args.console_socket = opts->proc.terminal ? p->console.sock.path : NULL;
    args.stdin_fd = p->io.child_fds[0];
    args.stdout_fd = p->io.child_fds[1];
    args.stderr_fd = p->io.child_fds[2];
    job = tether_job_spawn(&ctr->jobenv, TETHER_RT_EXEC, &args, exec_done, p, &ctr->jobs, err);
    if (job == NULL)
        goto fail;
    job->call = call;
    if (tether_io_start(&p->io, err) < 0)
        log_error(ctr->env.log, "exec %s output will be lost: %s", opts->exec_id, err->msg);
    p->next = ctr->execs;
    ctr->execs = p;
    return 0;
fail:
    exec_remove_files(ctr, opts->exec_id);
    tether_process_fini(p);
    free(p);
    return -1;
}

int tether_container_exec_delete(struct tether_container *ctr, const char *exec_id,
                                 struct tether_error *err)
{
    struct tether_process *p = tether_container_process(ctr, exec_id, err);

    if (p == NULL)
        return -1;
    if (!p->exit_announced)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "exec %s is still running", exec_id);
    exec_unlink(ctr, p);
    tether_process_fini(p);
    free(p);
    return 0;
}
