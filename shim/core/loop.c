#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <tether/loop.h>
#include <tether/util.h>

#define LOOP_BATCH 64

int tether_loop_init(struct tether_loop *loop, struct tether_error *err)
{
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->stop = false;
    loop->dispatching = false;
    loop->dead = NULL;
    if (loop->epfd < 0)
        return tether_error_set(err, errno, "epoll_create1");
    return 0;
}

static void release_dead(struct tether_loop *loop)
{
    while (loop->dead != NULL) {
        struct tether_source *src = loop->dead;
        loop->dead = src->next_dead;
        if (src->release != NULL)
            src->release(src);
    }
}

void tether_loop_fini(struct tether_loop *loop)
{
    release_dead(loop);
    if (loop->epfd >= 0)
        close(loop->epfd);
    loop->epfd = -1;
}

int tether_loop_add(struct tether_loop *loop, struct tether_source *src, struct tether_error *err)
{
    struct epoll_event ev = {.events = src->events, .data.ptr = src};

    if (src->dead && src->release != NULL) {
        /* Re-added in the batch that removed it: it must not be released after all. */
        struct tether_source **pp;
        for (pp = &loop->dead; *pp != NULL; pp = &(*pp)->next_dead)
            if (*pp == src) {
                *pp = src->next_dead;
                break;
            }
    }
    src->dead = false;
    src->next_dead = NULL;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0)
        return tether_error_set(err, errno, "epoll_ctl add fd %d", src->fd);
    return 0;
}

int tether_loop_mod(struct tether_loop *loop, struct tether_source *src, uint32_t events,
                    struct tether_error *err)
{
    struct epoll_event ev = {.events = events, .data.ptr = src};

    if (src->events == events)
        return 0;
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, src->fd, &ev) < 0)
        return tether_error_set(err, errno, "epoll_ctl mod fd %d", src->fd);
    src->events = events;
    return 0;
}

void tether_loop_remove(struct tether_loop *loop, struct tether_source *src)
{
    struct epoll_event *evs = loop->batch;
    int i;

    if (src->dead)
        return;
    /* Fails only if the fd was already closed, which removed it from the set anyway. */
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, src->fd, NULL);
    src->dead = true;
    if (loop->dispatching)
        for (i = loop->batch_i + 1; i < loop->batch_n; i++)
            if (evs[i].data.ptr == src)
                evs[i].data.ptr = NULL;
    if (src->release == NULL)
        return;
    src->next_dead = loop->dead;
    loop->dead = src;
    if (!loop->dispatching)
        release_dead(loop);
}

int tether_loop_run_once(struct tether_loop *loop, int timeout_ms, struct tether_error *err)
{
    struct epoll_event evs[LOOP_BATCH];
    int n, i;

    n = epoll_wait(loop->epfd, evs, LOOP_BATCH, timeout_ms);
    if (n < 0) {
        if (errno == EINTR)
            return 0;
        return tether_error_set(err, errno, "epoll_wait");
    }
    loop->dispatching = true;
    loop->batch = evs;
    loop->batch_n = n;
    for (i = 0; i < n; i++) {
        struct tether_source *src = evs[i].data.ptr;
        loop->batch_i = i;
        if (src != NULL && !src->dead)
            src->cb(loop, src, evs[i].events);
    }
    loop->dispatching = false;
    loop->batch = NULL;
    loop->batch_n = 0;
    release_dead(loop);
    return n;
}
