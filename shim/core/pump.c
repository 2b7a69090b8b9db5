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
    tether_outbuf_free(&pump->queue);
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
    tether_outbuf_free(&pump->queue);
    watch(pump, false);
}

/* Writes the queue out as far as the fd takes it. */
static void flush(struct tether_pump *pump)
{
    struct tether_outbuf *q = &pump->queue;

    while (q->off < q->len) {
        ssize_t n = write_some(pump->src.fd, q->data + q->off, q->len - q->off);
        if (n < 0) {
            fail(pump);
            return;
        }
        if (n == 0)
            return;
        q->off += (size_t)n;
    }
    q->off = q->len = 0;
}

void tether_pump_write(struct tether_pump *pump, const void *data, size_t len)
{
    ssize_t n = 0;

    if (pump->src.fd < 0 || pump->failed || len == 0)
        return;
    if (tether_outbuf_pending(&pump->queue) == 0) {
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
    tether_outbuf_append(&pump->queue, data, len);
    watch(pump, true);
}

size_t tether_pump_pending(const struct tether_pump *pump)
{
    return tether_outbuf_pending(&pump->queue);
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
    tether_outbuf_trim(&pump->queue);
    if (pump->close_when_done) {
        tether_pump_close(pump);
        pump->close_when_done = false;
    }
    if (pump->drained != NULL)
        pump->drained(pump);
}
