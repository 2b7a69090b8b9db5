#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tether/acceptor.h>
#include <tether/sock.h>
#include <tether/util.h>

#include "attach.h"

/* Queued output: packets one after the other, each as a 2-byte length and its bytes. */
#define QUEUE_HEADER 2

struct tether_attach_client {
    struct tether_source src;
    struct tether_conmon_attach *a;
    char *queue;
    size_t queue_off, queue_len, queue_cap;
    bool input_done; /* it ended its input, or input is not taken */
    size_t slot;     /* its index in a->clients */
};

static void client_update(struct tether_attach_client *c);
static void finish_check(struct tether_conmon_attach *a);

void tether_conmon_attach_init(struct tether_conmon_attach *a, struct tether_loop *loop,
                               const struct tether_log *log,
                               const struct tether_conmon_attach_hooks *hooks)
{
    memset(a, 0, sizeof(*a));
    a->loop = loop;
    a->log = log;
    a->hooks = *hooks;
    a->listen.src.fd = -1;
    tether_timer_init(&a->finish_timer, loop, NULL);
}

static size_t queued(const struct tether_attach_client *c)
{
    return c->queue_len - c->queue_off;
}

static void client_drop(struct tether_attach_client *c, const char *why)
{
    struct tether_conmon_attach *a = c->a;
    size_t last = a->n_clients - 1;

    if (why != NULL)
        log_warn(a->log, "attach client dropped: %s", why);
    a->clients[c->slot] = a->clients[last];
    a->clients[c->slot]->slot = c->slot;
    a->clients[last] = NULL;
    a->n_clients = last;
    tether_loop_remove(a->loop, &c->src);
    close(c->src.fd);
    free(c->queue);
    free(c);
    tether_acceptor_resume(&a->listen);
    if (a->n_clients == 0 && a->pending_len == 0) {
        free(a->in_buf);
        a->in_buf = NULL;
    }
}

/* The events a client is watched for: its input while the process takes input, room for its
 * queue while something waits there. Hang-ups are always reported. */
static void client_update(struct tether_attach_client *c)
{
    struct tether_error err = {0};
    uint32_t ev = 0;

    if (!c->input_done && c->a->pending_len == 0)
        ev |= EPOLLIN;
    if (queued(c) > 0)
        ev |= EPOLLOUT;
    if (ev == c->src.events)
        return;
    if (tether_loop_mod(c->a->loop, &c->src, ev, &err) < 0)
        log_error(c->a->log, "attach: %s", err.msg);
    else
        c->src.events = ev;
}

static void update_all(struct tether_conmon_attach *a)
{
    for (size_t i = 0; i < a->n_clients; i++)
        client_update(a->clients[i]);
}

/* Sends queued packets while the socket takes them; false when the client was dropped. */
static bool client_flush(struct tether_attach_client *c)
{
    while (queued(c) > 0) {
        const unsigned char *h = (const unsigned char *)c->queue + c->queue_off;
        size_t len = (size_t)h[0] | (size_t)h[1] << 8;
        ssize_t n = send(c->src.fd, h + QUEUE_HEADER, len, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            client_drop(c, strerror(errno));
            return false;
        }
        c->queue_off += QUEUE_HEADER + len;
    }
    if (queued(c) == 0)
        c->queue_off = c->queue_len = 0;
    return true;
}

static bool client_enqueue(struct tether_attach_client *c, const char *pkt, size_t len)
{
    size_t need = QUEUE_HEADER + len;

    if (queued(c) + need > TETHER_ATTACH_QUEUE_MAX) {
        client_drop(c, "it does not read its output");
        return false;
    }
    if (c->queue_off > 0 && c->queue_len + need > c->queue_cap) {
        memmove(c->queue, c->queue + c->queue_off, queued(c));
        c->queue_len -= c->queue_off;
        c->queue_off = 0;
    }
    if (c->queue_len + need > c->queue_cap) {
        size_t cap = c->queue_cap > 0 ? c->queue_cap : 16 * 1024;
        while (cap < c->queue_len + need)
            cap *= 2;
        c->queue = xrealloc(c->queue, cap);
        c->queue_cap = cap;
    }
    c->queue[c->queue_len] = (char)(len & 0xff);
    c->queue[c->queue_len + 1] = (char)(len >> 8);
    memcpy(c->queue + c->queue_len + QUEUE_HEADER, pkt, len);
    c->queue_len += need;
    return true;
}

/* One packet to one client: straight out when nothing waits before it. */
static void client_send(struct tether_attach_client *c, const char *pkt, size_t len)
{
    if (queued(c) == 0) {
        ssize_t n;
        do
            n = send(c->src.fd, pkt, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n >= 0)
            return;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            client_drop(c, strerror(errno));
            return;
        }
    }
    if (client_enqueue(c, pkt, len))
        client_update(c);
}

void tether_conmon_attach_output(struct tether_conmon_attach *a, int stream, const char *data,
                                 size_t len)
{
    char pkt[1 + TETHER_ATTACH_PACKET_MAX];

    while (len > 0 && a->n_clients > 0) {
        size_t n = len < TETHER_ATTACH_PACKET_MAX ? len : TETHER_ATTACH_PACKET_MAX;

        pkt[0] = (char)stream;
        memcpy(pkt + 1, data, n);
        /* Backwards: a client dropped on the way takes the last slot's, already served. */
        for (size_t i = a->n_clients; i-- > 0;)
            client_send(a->clients[i], pkt, n + 1);
        data += n;
        len -= n;
    }
}

/* ---- input ---- */

/* Hands the kept input to the process; true when all of it went in. */
static bool pending_flush(struct tether_conmon_attach *a)
{
    while (a->pending_len > 0) {
        ssize_t n = a->hooks.input(a->hooks.opaque, a->pending + a->pending_off, a->pending_len);
        if (n < 0) {
            a->pending_len = 0; /* the process's stdin is gone: nothing will take it */
            break;
        }
        if (n == 0)
            return false;
        a->pending_off += (size_t)n;
        a->pending_len -= (size_t)n;
    }
    free(a->pending);
    a->pending = NULL;
    a->pending_off = 0;
    if (a->end_pending) {
        a->end_pending = false;
        if (a->hooks.input_end != NULL)
            a->hooks.input_end(a->hooks.opaque);
    }
    return true;
}

static void input(struct tether_conmon_attach *a, const char *data, size_t len)
{
    ssize_t n = a->hooks.input(a->hooks.opaque, data, len);

    if (n < 0 || (size_t)n == len)
        return;
    a->pending = xmalloc(len - (size_t)n);
    memcpy(a->pending, data + n, len - (size_t)n);
    a->pending_off = 0;
    a->pending_len = len - (size_t)n;
    update_all(a);
}

static void input_ended(struct tether_attach_client *c)
{
    struct tether_conmon_attach *a = c->a;

    c->input_done = true;
    client_update(c);
    if (!a->take_input)
        return;
    a->end_pending = true;
    if (a->pending_len == 0)
        pending_flush(a);
}

void tether_conmon_attach_resume(struct tether_conmon_attach *a)
{
    if (a->pending_len > 0 && pending_flush(a))
        update_all(a);
}

/* Packets read per wakeup of one client, so that one busy client cannot hold the loop. */
#define READS_PER_WAKEUP 8
/* Packets read from a client that hung up: what is left in its socket. */
#define READS_AT_HANGUP 1024

enum read_result { READ_PACKET, READ_NOTHING, READ_END, READ_DROPPED };

static enum read_result client_read(struct tether_attach_client *c)
{
    struct tether_conmon_attach *a = c->a;
    struct iovec iov;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n;

    if (a->in_buf == NULL)
        a->in_buf = xmalloc(TETHER_ATTACH_INPUT_MAX);
    iov = (struct iovec){.iov_base = a->in_buf, .iov_len = TETHER_ATTACH_INPUT_MAX};
    n = recvmsg(c->src.fd, &msg, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return READ_NOTHING;
    if (n < 0) {
        client_drop(c, strerror(errno));
        return READ_DROPPED;
    }
    if (n == 0) {
        /* shutdown(SHUT_WR) or close: the end of its input (podman sends no empty packet) */
        input_ended(c);
        return READ_END;
    }
    if (msg.msg_flags & MSG_TRUNC)
        log_warn(a->log, "attach: an input packet longer than %d bytes was cut",
                 TETHER_ATTACH_INPUT_MAX);
    input(a, a->in_buf, (size_t)n);
    return READ_PACKET;
}

/* Reads while the process takes it, up to max packets; false when the client was dropped. */
static bool client_read_some(struct tether_attach_client *c, int max)
{
    while (max-- > 0 && !c->input_done && c->a->pending_len == 0) {
        enum read_result r = client_read(c);
        if (r == READ_DROPPED)
            return false;
        if (r != READ_PACKET)
            break;
    }
    return true;
}

static void client_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_attach_client *c = container_of(src, struct tether_attach_client, src);
    struct tether_conmon_attach *a = c->a;

    (void)loop;
    if ((revents & EPOLLOUT) && !client_flush(c))
        goto check;
    if (revents & (EPOLLHUP | EPOLLERR)) {
        /* Gone for good: its last packets go in as far as the process takes them now (the
         * rest has no one to wait for), and what waits for it cannot go out any more. */
        if (client_read_some(c, READS_AT_HANGUP)) {
            if (!c->input_done)
                input_ended(c);
            client_drop(c, NULL);
        }
        goto check;
    }
    if ((revents & EPOLLIN) && !client_read_some(c, READS_PER_WAKEUP))
        goto check;
    client_update(c);
check:
    finish_check(a);
}

/* ---- clients ---- */

static void accept_one(struct tether_acceptor *acc, int fd, const struct ucred *peer)
{
    struct tether_conmon_attach *a = container_of(acc, struct tether_conmon_attach, listen);
    struct tether_error err = {0};
    struct tether_attach_client *c;

    (void)peer; /* as with conmon, the socket's mode (0600) decides who connects */
    if (a->n_clients >= TETHER_ATTACH_CLIENTS_MAX) {
        log_warn(a->log, "attach: more than %d clients, one refused", TETHER_ATTACH_CLIENTS_MAX);
        close(fd);
        return;
    }
    c = xzalloc(sizeof(*c));
    c->a = a;
    c->input_done = !a->take_input;
    c->src.fd = fd;
    c->src.cb = client_cb;
    c->src.events = !c->input_done && a->pending_len == 0 ? EPOLLIN : 0;
    if (tether_loop_add(a->loop, &c->src, &err) < 0) {
        log_error(a->log, "attach: %s", err.msg);
        close(fd);
        free(c);
        return;
    }
    c->slot = a->n_clients;
    a->clients[a->n_clients++] = c;
    log_debug(a->log, "attach: client connected (%zu)", a->n_clients);
}

int tether_conmon_attach_listen(struct tether_conmon_attach *a, const char *path, bool take_input,
                                struct tether_error *err)
{
    int fd = tether_sock_listen(path, SOCK_SEQPACKET, err);

    if (fd < 0)
        return tether_error_prefix(err, "attach socket");
    if (tether_acceptor_start(&a->listen, a->loop, a->log, "attach socket", fd, accept_one, err) <
        0) {
        unlink(path);
        return -1;
    }
    a->path = xstrdup(path);
    a->take_input = take_input;
    return 0;
}

/* ---- the end ---- */

static void finish_check(struct tether_conmon_attach *a)
{
    if (!a->finishing)
        return;
    for (size_t i = a->n_clients; i-- > 0;)
        if (queued(a->clients[i]) == 0)
            client_drop(a->clients[i], NULL);
    if (a->n_clients > 0)
        return;
    a->finishing = false;
    tether_timer_disarm(&a->finish_timer);
    if (a->hooks.finished != NULL)
        a->hooks.finished(a->hooks.opaque);
}

static void finish_timeout(struct tether_timer *timer)
{
    struct tether_conmon_attach *a = container_of(timer, struct tether_conmon_attach, finish_timer);

    while (a->n_clients > 0)
        client_drop(a->clients[a->n_clients - 1], "it did not take its output in time");
    finish_check(a);
}

void tether_conmon_attach_finish(struct tether_conmon_attach *a)
{
    struct tether_error err = {0};

    tether_acceptor_stop(&a->listen);
    a->finishing = true;
    a->finish_timer.fired = finish_timeout;
    if (a->n_clients > 0 && tether_timer_arm(&a->finish_timer, TETHER_ATTACH_FINISH_MS, &err) < 0)
        log_error(a->log, "attach: %s", err.msg);
    finish_check(a);
}

void tether_conmon_attach_close(struct tether_conmon_attach *a)
{
    tether_acceptor_stop(&a->listen);
    while (a->n_clients > 0)
        client_drop(a->clients[a->n_clients - 1], NULL);
    a->finishing = false;
    tether_timer_fini(&a->finish_timer);
    if (a->path != NULL)
        unlink(a->path);
    free(a->path);
    a->path = NULL;
    free(a->pending);
    a->pending = NULL;
    a->pending_len = 0;
    free(a->in_buf);
    a->in_buf = NULL;
}
