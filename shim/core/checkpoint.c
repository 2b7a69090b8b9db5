/* Checkpoints: the runtime's `checkpoint` dumps the container's processes with CRIU. The
 * container's state does not change for the model: with leave_running it keeps running;
 * without, CRIU ends its processes once dumped and the init's exit is reaped, recorded and
 * announced like any other. */
#include <tether/util.h>

#include "container.h"

static void checkpoint_done(struct tether_job *job, int rc, const struct tether_error *err,
                            const char *out)
{
    struct tether_container *ctr = job->data;

    (void)out;
    if (rc < 0) {
        log_warn(ctr->env.log, "checkpoint of %s failed: %s", ctr->env.id, err->msg);
        tether_call_fail(job->call, err);
        return;
    }
    log_info(ctr->env.log, "container %s checkpointed", ctr->env.id);
    tether_call_ok(job->call, NULL);
}

int tether_container_checkpoint(struct tether_container *ctr,
                                const struct tether_checkpoint_opts *opts, struct tether_call *call,
                                struct tether_error *err)
{
    struct tether_runtime_args args;
    struct tether_job *job;

    if (ctr->state == TETHER_CTR_NEW)
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "container %s is not created",
                                 ctr->env.id);
    if (ctr->init.exited || (ctr->state != TETHER_CTR_RUNNING && ctr->state != TETHER_CTR_PAUSED))
        return tether_error_setk(
            err, TETHER_ERR_STATE, 0, "cannot checkpoint container %s: it is %s", ctr->env.id,
            ctr->init.exited ? "stopped" : tether_status_name(tether_container_status(ctr)));
    if (opts->image_path == NULL || opts->image_path[0] != '/' ||
        (opts->work_path != NULL && opts->work_path[0] != '/'))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "checkpoint paths must be absolute");
    tether_runtime_args_init(&args);
    args.id = ctr->env.id;
    args.image_path = opts->image_path;
    args.work_path = opts->work_path;
    args.leave_running = opts->leave_running;
    args.tcp_established = opts->tcp_established;
    args.ext_unix_sk = opts->ext_unix_sk;
    args.shell_job = opts->shell_job;
    args.file_locks = opts->file_locks;
    args.empty_ns = opts->empty_ns;
    job = tether_job_spawn(&ctr->jobenv, TETHER_RT_CHECKPOINT, &args, checkpoint_done, ctr,
                           &ctr->jobs, err);
    if (job == NULL)
        return -1;
    job->call = call;
    return 0;
}
