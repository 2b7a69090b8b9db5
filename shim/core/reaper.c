#include <errno.h>
#include <string.h>
#include <sys/wait.h>

#include <tether/util.h>

#include "reaper.h"

void tether_reaper_init(struct tether_reaper *r, const struct tether_log *log)
{
    memset(r, 0, sizeof(*r));
    r->log = log;
}

void tether_reaper_watch(struct tether_reaper *r, struct tether_child *child)
{
    child->next = r->children;
    r->children = child;
}

void tether_reaper_unwatch(struct tether_reaper *r, struct tether_child *child)
{
    struct tether_child **pp;

    for (pp = &r->children; *pp != NULL; pp = &(*pp)->next)
        if (*pp == child) {
            *pp = child->next;
            child->next = NULL;
            return;
        }
}

uint64_t tether_reaper_mark(const struct tether_reaper *r)
{
    return r->mark;
}

bool tether_reaper_adopt(struct tether_reaper *r, struct tether_child *child, uint64_t mark)
{
    size_t i;

    for (i = 0; i < TETHER_REAPER_EARLY_MAX; i++) {
        struct tether_early_exit *e = &r->early[i];
        if (e->pid == child->pid && e->pid > 0 && e->mark > mark) {
            struct tether_early_exit copy = *e;
            memset(e, 0, sizeof(*e));
            log_debug(r->log, "pid %d had exited before it was known", (int)copy.pid);
            child->exited(child, copy.status, &copy.at);
            return true;
        }
    }
    tether_reaper_watch(r, child);
    return false;
}

static void dispatch(struct tether_reaper *r, pid_t pid, int status, const struct timespec *at)
{
    struct tether_child **pp;
    struct tether_early_exit *e;

    for (pp = &r->children; *pp != NULL; pp = &(*pp)->next) {
        struct tether_child *child = *pp;
        if (child->pid == pid) {
            *pp = child->next;
            child->next = NULL;
            child->exited(child, status, at);
            return;
        }
    }
    /* Unknown: an orphan of the container, or a process whose pid we do not know yet. */
    log_debug(r->log, "reaped pid %d nobody watches (status 0x%x)", (int)pid, status);
    e = &r->early[r->early_next];
    r->early_next = (r->early_next + 1) % TETHER_REAPER_EARLY_MAX;
    e->pid = pid;
    e->status = status;
    e->at = *at;
    e->mark = r->mark;
}

int tether_reaper_reap(struct tether_reaper *r)
{
    int count = 0;

    for (;;) {
        struct timespec at;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);

        if (pid < 0 && errno == EINTR)
            continue;
        if (pid <= 0)
            break;
        clock_gettime(CLOCK_REALTIME, &at);
        r->mark++;
        count++;
        dispatch(r, pid, status, &at);
    }
    return count;
}
