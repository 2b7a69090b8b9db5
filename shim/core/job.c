#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <tether/util.h>

#include "job.h"

static void job_unlink(struct tether_job *job)
{
    struct tether_job **pp;

    for (pp = job->list; *pp != NULL; pp = &(*pp)->next)
        if (*pp == job) {
            *pp = job->next;
            return;
        }
}

static void job_exited(struct tether_child *child, int status, const struct timespec *at)
{
    struct tether_job *job = container_of(child, struct tether_job, child);
    struct tether_error err = {0};
    char *out = NULL;
    int rc;

    (void)at;
    job_unlink(job);
    tether_timer_fini(&job->timer);
    rc = tether_runtime_finish(&job->cmd, status, &out, &err);
    if (job->timed_out) {
        free(out);
        out = NULL;
        rc = tether_error_setk(&err, TETHER_ERR_TIMEOUT, 0,
                               "the runtime did not finish within %u ms and was killed",
                               job->timeout_ms);
    }
    job->done(job, rc, &err, out);
    free(out);
    free(job);
}

static void job_timeout(struct tether_timer *timer)
{
    struct tether_job *job = container_of(timer, struct tether_job, timer);

    /* Still our unreaped child, so the pid is still the runtime's. */
    job->timed_out = true;
    kill(job->cmd.pid, SIGKILL);
}

static void job_kill_and_reap(struct tether_job *job)
{
    kill(job->cmd.pid, SIGKILL);
    while (waitpid(job->cmd.pid, NULL, 0) < 0 && errno == EINTR)
        ;
    tether_runtime_cmd_release(&job->cmd);
}

struct tether_job *tether_job_spawn(const struct tether_job_env *env, enum tether_runtime_op op,
                                    const struct tether_runtime_args *args, tether_job_cb done,
                                    void *data, struct tether_job **list, struct tether_error *err)
{
    struct tether_job *job = xzalloc(sizeof(*job));

    job->mark = tether_reaper_mark(env->reaper);
    tether_timer_init(&job->timer, env->loop, job_timeout);
    job->timeout_ms = env->timeout_ms;
    if (tether_runtime_spawn(env->rt, op, args, &job->cmd, err) < 0) {
        free(job);
        return NULL;
    }
    if (env->timeout_ms > 0 && tether_timer_arm(&job->timer, env->timeout_ms, err) < 0) {
        /* Without its time limit the command must not run. */
        job_kill_and_reap(job);
        tether_timer_fini(&job->timer);
        free(job);
        return NULL;
    }
    job->done = done;
    job->data = data;
    job->list = list;
    job->next = *list;
    *list = job;
    job->child.pid = job->cmd.pid;
    job->child.exited = job_exited;
    tether_reaper_watch(env->reaper, &job->child);
    return job;
}

void tether_job_abort_all(struct tether_reaper *reaper, struct tether_job **list)
{
    struct tether_error err = {0};

    tether_error_setk(&err, TETHER_ERR_STATE, 0, "the shim is shutting down");
    /* done() may start another job (it is aborted in turn): take one at a time. */
    while (*list != NULL) {
        struct tether_job *job = *list;
        *list = job->next;
        tether_reaper_unwatch(reaper, &job->child);
        tether_timer_fini(&job->timer);
        job_kill_and_reap(job);
        job->done(job, -1, &err, NULL);
        free(job);
    }
}
