#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <tether/timer.h>
#include <tether/util.h>

static void timer_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_timer *timer = container_of(src, struct tether_timer, src);
    uint64_t expirations;

    (void)loop;
    (void)revents;
    if (read(src->fd, &expirations, sizeof(expirations)) < 0)
        return;
    timer->fired(timer);
}

void tether_timer_init(struct tether_timer *timer, struct tether_loop *loop,
                       void (*fired)(struct tether_timer *timer))
{
    timer->src.fd = -1;
    timer->loop = loop;
    timer->fired = fired;
}

int tether_timer_arm(struct tether_timer *timer, uint64_t ms, struct tether_error *err)
{
    struct itimerspec its = {0};

    if (timer->src.fd < 0) {
        int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (fd < 0)
            return tether_error_set(err, errno, "timerfd_create");
        timer->src.fd = fd;
        timer->src.events = EPOLLIN;
        timer->src.cb = timer_cb;
        timer->src.release = NULL;
        if (tether_loop_add(timer->loop, &timer->src, err) < 0) {
            close(fd);
            timer->src.fd = -1;
            return -1;
        }
    }
    /* A zero it_value would disarm: fire "now" as 1 ns instead. */
    its.it_value.tv_sec = (time_t)(ms / 1000);
    its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
    if (ms == 0)
        its.it_value.tv_nsec = 1;
    if (timerfd_settime(timer->src.fd, 0, &its, NULL) < 0)
        return tether_error_set(err, errno, "timerfd_settime");
    return 0;
}

void tether_timer_disarm(struct tether_timer *timer)
{
    struct itimerspec its = {0};

    if (timer->src.fd >= 0)
        timerfd_settime(timer->src.fd, 0, &its, NULL);
}

void tether_timer_fini(struct tether_timer *timer)
{
    if (timer->src.fd < 0)
        return;
    tether_loop_remove(timer->loop, &timer->src);
    close(timer->src.fd);
    timer->src.fd = -1;
}

bool tether_timer_armed(const struct tether_timer *timer)
{
    struct itimerspec its;

    if (timer->src.fd < 0 || timerfd_gettime(timer->src.fd, &its) < 0)
        return false;
    return its.it_value.tv_sec != 0 || its.it_value.tv_nsec != 0;
}
