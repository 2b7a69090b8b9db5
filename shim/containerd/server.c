#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tether/acceptor.h>
#include <tether/outbuf.h>
#include <tether/util.h>

#include "server.h"

static void conn_release(struct tether_source *src)
{
    struct tether_ctrd_conn *conn = container_of(src, struct tether_ctrd_conn, src);

    close(conn->src.fd);
    tether_ttrpc_reader_fini(&conn->in);
    tether_outbuf_free(&conn->out);
    free(conn);
}

void tether_ctrd_conn_close(struct tether_ctrd_conn *conn)
{
    struct tether_ctrd_server *srv = conn->server;
    struct tether_ctrd_conn **pp;

    if (conn->src.dead)
        return;
    for (pp = &srv->conns; *pp != NULL; pp = &(*pp)->next)
        if (*pp == conn) {
            *pp = conn->next;
            break;
        }
    srv->n_conns--;
    log_debug(srv->log, "ttrpc client %llu gone", (unsigned long long)conn->id);
    if (srv->on_gone != NULL)
        srv->on_gone(srv->opaque, conn);
    tether_loop_remove(srv->loop, &conn->src);
    tether_acceptor_resume(&srv->acceptor);
}

static void conn_update_events(struct tether_ctrd_conn *conn)
{
    struct tether_error err = {0};
    uint32_t events = EPOLLIN | EPOLLRDHUP;

    if (tether_outbuf_pending(&conn->out) > 0)
        events |= EPOLLOUT;
    if (events == conn->src.events)
        return;
    if (tether_loop_mod(conn->server->loop, &conn->src, events, &err) < 0) {
        log_warn(conn->server->log, "ttrpc client %llu: %s", (unsigned long long)conn->id, err.msg);
        tether_ctrd_conn_close(conn);
    }
}

/* Writes what the socket takes now; -1 when the connection had to be closed. */
static int conn_flush(struct tether_ctrd_conn *conn)
{
    if (tether_outbuf_send(&conn->out, conn->src.fd) < 0) {
        log_debug(conn->server->log, "ttrpc client %llu: send: %s", (unsigned long long)conn->id,
                  strerror(errno));
        tether_ctrd_conn_close(conn);
        return -1;
    }
    conn_update_events(conn);
    return 0;
}

static void conn_queue(struct tether_ctrd_conn *conn, const uint8_t *data, size_t len)
{
    if (conn->src.dead)
        return;
    if (tether_outbuf_pending(&conn->out) + len > TETHER_CTRD_CONN_OUT_MAX) {
        log_warn(conn->server->log, "ttrpc client %llu (pid %d) does not read its answers: dropped",
                 (unsigned long long)conn->id, (int)conn->peer_pid);
        tether_ctrd_conn_close(conn);
        return;
    }
    tether_outbuf_append(&conn->out, data, len);
    conn_flush(conn);
}

void tether_ctrd_conn_respond(struct tether_ctrd_conn *conn, uint32_t stream_id,
                              enum tether_ttrpc_code code, const char *message,
                              const uint8_t *payload, size_t len)
{
    struct tether_error err = {0};
    size_t frame_len;
    uint8_t *frame =
        tether_ttrpc_response_encode(stream_id, code, message, payload, len, &frame_len, &err);

    if (frame == NULL) {
        log_warn(conn->server->log, "ttrpc client %llu: answer to stream %u: %s",
                 (unsigned long long)conn->id, stream_id, err.msg);
        frame = tether_ttrpc_response_encode(stream_id, TETHER_TTRPC_CODE_RESOURCE_EXHAUSTED,
                                             err.msg, NULL, 0, &frame_len, &err);
    }
    conn_queue(conn, frame, frame_len);
    free(frame);
}

/* One whole frame from the client. */
static void conn_frame(struct tether_ctrd_conn *conn, enum tether_ttrpc_parse res,
                       const struct tether_ttrpc_frame *f)
{
    struct tether_ctrd_server *srv = conn->server;
    struct tether_error err = {0};
    uint32_t sid = f->header.stream_id;
    Ttrpc__Request *req;
    char msg[TETHER_ERROR_MSG_MAX + 64];

    if (res == TETHER_TTRPC_TOO_LARGE) {
        snprintf(msg, sizeof(msg), "message length %u exceed maximum message size of %u",
                 f->header.length, TETHER_TTRPC_MAX_PAYLOAD);
        tether_ctrd_conn_respond(conn, sid, TETHER_TTRPC_CODE_RESOURCE_EXHAUSTED, msg, NULL, 0);
        return;
    }
    if (res != TETHER_TTRPC_FRAME || f->header.type != TETHER_TTRPC_TYPE_REQUEST)
        return; /* other types: ignored, for compatibility with later ttrpc versions */
    req = tether_ttrpc_request_decode(f->payload, f->header.length, &err);
    if (req == NULL) {
        snprintf(msg, sizeof(msg), "unmarshal request error: %s", err.msg);
        tether_ctrd_conn_respond(conn, sid, TETHER_TTRPC_CODE_INVALID_ARGUMENT, msg, NULL, 0);
        return;
    }
    if (sid % 2 != 1) {
        tether_ctrd_conn_respond(conn, sid, TETHER_TTRPC_CODE_INVALID_ARGUMENT,
                                 "StreamID must be odd for client initiated streams", NULL, 0);
    } else {
        srv->on_request(srv->opaque, conn, sid, req);
    }
    tether_ttrpc_request_free(req);
}

static void conn_read(struct tether_ctrd_conn *conn)
{
    int rounds = TETHER_CTRD_READS_PER_WAKEUP;

    while (rounds-- > 0 && !conn->src.dead) {
        struct tether_ttrpc_frame f;
        enum tether_ttrpc_parse res;
        size_t avail;
        uint8_t *dst = tether_ttrpc_reader_reserve(&conn->in, &avail);
        ssize_t n = recv(conn->src.fd, dst, avail, MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                tether_ctrd_conn_close(conn);
            return;
        }
        if (n == 0) {
            /* ttrpc clients never half-close: the client is gone. */
            tether_ctrd_conn_close(conn);
            return;
        }
        tether_ttrpc_reader_commit(&conn->in, (size_t)n);
        while (!conn->src.dead &&
               (res = tether_ttrpc_reader_next(&conn->in, &f)) != TETHER_TTRPC_NEED_MORE)
            conn_frame(conn, res, &f);
    }
}

static void conn_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_ctrd_conn *conn = container_of(src, struct tether_ctrd_conn, src);

    (void)loop;
    if ((revents & EPOLLOUT) && conn_flush(conn) < 0)
        return;
    if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        conn_read(conn);
}

static void accept_one(struct tether_acceptor *a, int fd, const struct ucred *cred)
{
    struct tether_ctrd_server *srv = container_of(a, struct tether_ctrd_server, acceptor);
    struct tether_error err = {0};
    struct tether_ctrd_conn *conn;

    if (cred->uid != geteuid()) {
        log_warn(srv->log, "refused ttrpc connection from pid %d: uid %d is not the shim's",
                 (int)cred->pid, (int)cred->uid);
        close(fd);
        return;
    }
    conn = xzalloc(sizeof(*conn));
    conn->server = srv;
    conn->id = ++srv->next_id;
    conn->peer_pid = cred->pid;
    tether_ttrpc_reader_init(&conn->in);
    conn->src.fd = fd;
    conn->src.events = EPOLLIN | EPOLLRDHUP;
    conn->src.cb = conn_cb;
    conn->src.release = conn_release;
    if (tether_loop_add(srv->loop, &conn->src, &err) < 0) {
        log_warn(srv->log, "ttrpc client: %s", err.msg);
        close(fd);
        free(conn);
        return;
    }
    conn->next = srv->conns;
    srv->conns = conn;
    srv->n_conns++;
    log_debug(srv->log, "ttrpc client %llu connected (pid %d)", (unsigned long long)conn->id,
              (int)cred->pid);
}

int tether_ctrd_server_init(struct tether_ctrd_server *srv, struct tether_loop *loop,
                            const struct tether_log *log, int listen_fd, struct tether_error *err)
{
    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    srv->log = log;
    return tether_acceptor_start(&srv->acceptor, loop, log, "ttrpc socket", listen_fd, accept_one,
                                 err);
}

void tether_ctrd_server_stop_listening(struct tether_ctrd_server *srv)
{
    tether_acceptor_stop(&srv->acceptor);
}

struct tether_ctrd_conn *tether_ctrd_server_find(struct tether_ctrd_server *srv, uint64_t id)
{
    struct tether_ctrd_conn *conn;

    for (conn = srv->conns; conn != NULL; conn = conn->next)
        if (conn->id == id)
            return conn;
    return NULL;
}

void tether_ctrd_server_flush(struct tether_ctrd_server *srv)
{
    struct tether_ctrd_conn *conn, *next;

    for (conn = srv->conns; conn != NULL; conn = next) {
        next = conn->next;
        conn_flush(conn);
    }
}

void tether_ctrd_server_fini(struct tether_ctrd_server *srv)
{
    if (srv->loop == NULL)
        return;
    tether_ctrd_server_flush(srv);
    while (srv->conns != NULL)
        tether_ctrd_conn_close(srv->conns);
    tether_ctrd_server_stop_listening(srv);
    srv->loop = NULL;
}
