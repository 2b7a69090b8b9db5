#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <tether/util.h>

#include "pump.h"

static void pump_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents);

void tether_pump_init(struct tether_pump *pump, struct tether_loop *loop,
                      void (*drained)(struct tether_pump *pump))
{
    memset(pump, 0, sizeof(*pump));
    pump->src.fd = -1;
    pump->loop = loop;
    pump->drained = drained;
}

int tether_pump_open(struct tether_pump *pump, int fd, struct tether_error *err)
{
    if (tether_set_nonblock(fd, err) < 0) {
        close(fd);
        return -1;
    }
    pump->src.fd = fd;
    pump->src.cb = pump_cb;
    pump->src.release = NULL;
    pump->failed = false;
    pump->close_when_done = false;
    return 0;
}

bool tether_pump_is_open(const struct tether_pump *pump)
{
    return pump->src.fd >= 0;
}

static void watch(struct tether_pump *pump, bool on)
{
    struct tether_error err = {0};

    if (on == pump->watching)
        return;
    if (on) {
        pump->src.events = EPOLLOUT;
        if (tether_loop_add(pump->loop, &pump->src, &err) < 0)
            return; /* not pollable (a regular file): writes never wait there */
    } else {
        tether_loop_remove(pump->loop, &pump->src);
    }
    pump->watching = on;
}

void tether_pump_close(struct tether_pump *pump)
{
    watch(pump, false);
    if (pump->src.fd >= 0)
        close(pump->src.fd);
    pump->src.fd = -1;
    free(pump->buf);
    pump->buf = NULL;
    pump->off = pump->len = pump->cap = 0;
}

/* One write(2); returns bytes written, 0 when the fd is full, -1 (errno) when it failed. */
static ssize_t write_some(int fd, const void *data, size_t len)
{
    ssize_t n;

    do
        n = write(fd, data, len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return n;
}

ssize_t tether_pump_try(struct tether_pump *pump, const void *data, size_t len,
                        struct tether_error *err)
{
    ssize_t n;

    if (pump->src.fd < 0 || pump->failed)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "not open");
    n = write_some(pump->src.fd, data, len);
    if (n < 0)
        return tether_error_set(err, errno, "write");
    return n;
}

static void fail(struct tether_pump *pump)
{
    pump->failed = true;
    pump->off = pump->len = 0;
    watch(pump, false);
}

/* Writes the queue out as far as the fd takes it. */
static void flush(struct tether_pump *pump)
{
    while (pump->off < pump->len) {
        ssize_t n = write_some(pump->src.fd, pump->buf + pump->off, pump->len - pump->off);
        if (n < 0) {
            fail(pump);
            return;
        }
        if (n == 0)
            return;
        pump->off += (size_t)n;
    }
    pump->off = pump->len = 0;
}

void tether_pump_write(struct tether_pump *pump, const void *data, size_t len)
{
    ssize_t n = 0;

    if (pump->src.fd < 0 || pump->failed || len == 0)
        return;
    if (pump->len == pump->off) {
        n = write_some(pump->src.fd, data, len);
        if (n < 0) {
            fail(pump);
            return;
        }
    }
    if ((size_t)n == len)
        return;
    data = (const char *)data + n;
    len -= (size_t)n;
    if (pump->off > 0 && pump->len + len > pump->cap) {
        memmove(pump->buf, pump->buf + pump->off, pump->len - pump->off);
        pump->len -= pump->off;
        pump->off = 0;
    }
    if (pump->len + len > pump->cap) {
        size_t cap = pump->cap ? pump->cap : 65536;
        while (cap < pump->len + len)
            cap *= 2;
        pump->buf = xrealloc(pump->buf, cap);
        pump->cap = cap;
    }
    memcpy(pump->buf + pump->len, data, len);
    pump->len += len;
    watch(pump, true);
}

size_t tether_pump_pending(const struct tether_pump *pump)
{
    return pump->len - pump->off;
}

void tether_pump_notify_writable(struct tether_pump *pump)
{
    if (pump->src.fd >= 0 && !pump->failed)
        watch(pump, true);
}

void tether_pump_finish(struct tether_pump *pump)
{
    if (pump->src.fd < 0)
        return;
    if (tether_pump_pending(pump) == 0 || pump->failed) {
        tether_pump_close(pump);
        return;
    }
    pump->close_when_done = true;
}

static void pump_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_pump *pump = container_of(src, struct tether_pump, src);

    (void)loop;
    if (revents & (EPOLLERR | EPOLLHUP))
        fail(pump);
    else
        flush(pump);
    if (tether_pump_pending(pump) > 0 && !pump->failed)
        return;
    watch(pump, false);
    if (pump->buf != NULL && pump->cap > 65536) {
        free(pump->buf);
        pump->buf = NULL;
        pump->cap = 0;
    }
    if (pump->close_when_done) {
        tether_pump_close(pump);
        pump->close_when_done = false;
    }
    if (pump->drained != NULL)
        pump->drained(pump);
}
