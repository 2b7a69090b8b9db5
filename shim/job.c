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
    rc = tether_runtime_finish(&job->cmd, status, &out, &err);
    job->done(job, rc, &err, out);
    free(out);
    free(job);
}

struct tether_job *tether_job_spawn(struct tether_reaper *reaper, const struct tether_runtime *rt,
                                    enum tether_runtime_op op,
                                    const struct tether_runtime_args *args, tether_job_cb done,
                                    void *data, struct tether_job **list, struct tether_error *err)
{
    struct tether_job *job = xzalloc(sizeof(*job));

    job->mark = tether_reaper_mark(reaper);
    if (tether_runtime_spawn(rt, op, args, &job->cmd, err) < 0) {
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
    tether_reaper_watch(reaper, &job->child);
    return job;
}

void tether_job_abort_all(struct tether_reaper *reaper, struct tether_job **list)
{
    while (*list != NULL) {
        struct tether_job *job = *list;
        *list = job->next;
        tether_reaper_unwatch(reaper, &job->child);
        kill(job->cmd.pid, SIGKILL);
        while (waitpid(job->cmd.pid, NULL, 0) < 0 && errno == EINTR)
            ;
        tether_runtime_cmd_release(&job->cmd);
        free(job);
    }
}
