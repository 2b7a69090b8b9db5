#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <tether/acceptor.h>
#include <tether/sock.h>
#include <tether/util.h>

#include "rpc.h"
#include "server.h"

static void conn_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents);

static void conn_release(struct tether_source *src)
{
    struct tether_conn *conn = container_of(src, struct tether_conn, src);

    close(conn->src.fd);
    tether_framer_fini(&conn->in);
    tether_outbuf_free(&conn->out);
    free(conn->attach_exec_id);
    free(conn);
}

void tether_conn_close(struct tether_conn *conn)
{
    struct tether_server *srv = conn->server;
    struct tether_conn **pp;

    if (conn->src.dead)
        return;
    for (pp = &srv->conns; *pp != NULL; pp = &(*pp)->next)
        if (*pp == conn) {
            *pp = conn->next;
            break;
        }
    srv->n_conns--;
    if (srv->on_gone != NULL)
        srv->on_gone(srv->opaque, conn);
    tether_loop_remove(srv->loop, &conn->src);
    tether_acceptor_resume(&srv->acceptor);
}

static void conn_update_events(struct tether_conn *conn)
{
    struct tether_error err = {0};
    /* A closing connection only waits to flush: its peer's half-close would otherwise
     * keep reporting EPOLLRDHUP (level-triggered) with nothing left to do. */
    uint32_t events = conn->closing ? 0 : EPOLLIN | EPOLLRDHUP;

    if (tether_outbuf_pending(&conn->out) > 0)
        events |= EPOLLOUT;
    if (tether_loop_mod(conn->server->loop, &conn->src, events, &err) < 0) {
        log_warn(conn->server->log, "client %llu: %s", (unsigned long long)conn->id, err.msg);
        tether_conn_close(conn);
    }
}

/* Writes what the socket takes now; returns -1 when the connection had to be closed. */
static int conn_flush(struct tether_conn *conn)
{
    size_t off = conn->out.off;
    int r = tether_outbuf_send(&conn->out, conn->src.fd);

    if (r < 0) {
        log_debug(conn->server->log, "client %llu: send: %s", (unsigned long long)conn->id,
                  strerror(errno));
        tether_conn_close(conn);
        return -1;
    }
    /* Whether what waits starts inside a line part of which went out: a drop must not cut
     * the rest of it. */
    if (r == 0)
        conn->mid_line = false;
    else if (conn->out.off != off)
        conn->mid_line = conn->out.data[conn->out.off - 1] != '\n';
    if (r == 0 && conn->closing) {
        tether_conn_close(conn);
        return -1;
    }
    conn_update_events(conn);
    return 0;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* A client that does not read: what it has not been sent yet is dropped (but the end of
 * a line already half sent), it gets a last "dropped" notification, and the connection is
 * closed once that is flushed, or after TETHER_CONN_LINGER_MS if it never reads again. */
static void conn_drop(struct tether_conn *conn, const char *reason)
{
    struct tether_server *srv = conn->server;
    json_t *note = tether_rpc_notification("dropped", json_pack("{s:s}", "reason", reason));
    struct tether_error err = {0};
    size_t len, cut = conn->out.off;
    char *line;

    log_warn(srv->log, "client %llu (pid %d): dropped: %s", (unsigned long long)conn->id,
             (int)conn->peer_pid, reason);
    if (conn->mid_line) {
        char *nl = memchr(conn->out.data + cut, '\n', conn->out.len - cut);
        cut = nl != NULL ? (size_t)(nl - conn->out.data) + 1 : conn->out.len;
    }
    conn->out.len = cut;
    line = tether_rpc_encode(note, &len);
    tether_outbuf_append(&conn->out, line, len);
    free(line);
    json_decref(note);
    conn->dropped = true;
    conn->subscribed = false;
    conn->attached = false;
    conn->linger_until_ms = monotonic_ms() + TETHER_CONN_LINGER_MS;
    if (!tether_timer_armed(&srv->linger) &&
        tether_timer_arm(&srv->linger, TETHER_CONN_LINGER_MS, &err) < 0) {
        tether_conn_close(conn);
        return;
    }
    tether_conn_close_after(conn);
}

/* Closes dropped clients that still have not read their last notification; the timer is
 * armed again for the earliest deadline left. */
static void linger_fired(struct tether_timer *timer)
{
    struct tether_server *srv = container_of(timer, struct tether_server, linger);
    struct tether_conn *conn, *next;
    struct tether_error err = {0};
    uint64_t now = monotonic_ms(), earliest = UINT64_MAX;

    for (conn = srv->conns; conn != NULL; conn = next) {
        next = conn->next;
        if (!conn->dropped)
            continue;
        if (now >= conn->linger_until_ms)
            tether_conn_close(conn);
        else if (conn->linger_until_ms < earliest)
            earliest = conn->linger_until_ms;
    }
    if (earliest != UINT64_MAX)
        tether_timer_arm(&srv->linger, earliest - now, &err);
}

void tether_conn_send_line(struct tether_conn *conn, const char *line, size_t len)
{
    size_t pending;

    if (conn->src.dead || conn->dropped)
        return;
    pending = tether_outbuf_pending(&conn->out);
    if (pending + len > TETHER_CONN_OUT_MAX) {
        conn_drop(conn, "client does not read: output buffer limit reached");
        return;
    }
    tether_outbuf_append(&conn->out, line, len);
    conn_flush(conn);
}

void tether_conn_send(struct tether_conn *conn, json_t *msg)
{
    size_t len;
    char *line = tether_rpc_encode(msg, &len);

    tether_conn_send_line(conn, line, len);
    free(line);
}

void tether_conn_close_after(struct tether_conn *conn)
{
    if (conn->src.dead)
        return;
    conn->closing = true;
    conn_flush(conn);
}

static void conn_read(struct tether_conn *conn)
{
    struct tether_server *srv = conn->server;
    /* Bounded work per wakeup so one busy client cannot starve the others. */
    int rounds = 16;

    while (rounds-- > 0 && !conn->src.dead && !conn->closing) {
        size_t avail;
        char *dst = tether_framer_reserve(&conn->in, &avail);
        ssize_t n = recv(conn->src.fd, dst, avail, MSG_DONTWAIT);
        char *line;
        size_t len;
        int r;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                tether_conn_close(conn);
            return;
        }
        if (n == 0) {
            /* The client is done sending; answers to what it asked still go out. */
            tether_conn_close_after(conn);
            return;
        }
        tether_framer_commit(&conn->in, (size_t)n);
        while (!conn->src.dead && !conn->closing &&
               (r = tether_framer_next(&conn->in, &line, &len)) != 0) {
            if (r < 0) {
                char msg[128];
                json_t *resp;
                snprintf(msg, sizeof(msg), "message too large: limit is %zu bytes",
                         srv->max_message);
                resp = tether_rpc_error(NULL, TETHER_RPC_TOO_LARGE, msg);
                log_warn(srv->log, "client %llu (pid %d): %s", (unsigned long long)conn->id,
                         (int)conn->peer_pid, msg);
                tether_conn_send(conn, resp);
                json_decref(resp);
                tether_conn_close_after(conn);
                return;
            }
            srv->on_line(srv->opaque, conn, line, len);
        }
    }
}

static void conn_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_conn *conn = container_of(src, struct tether_conn, src);

    (void)loop;
    if (revents & EPOLLOUT) {
        if (conn_flush(conn) < 0)
            return;
    }
    if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        conn_read(conn);
    if (!conn->src.dead && (revents & (EPOLLHUP | EPOLLERR)))
        tether_conn_close(conn);
}

static bool peer_allowed(const struct tether_server *srv, uid_t uid)
{
    size_t i;

    if (uid == 0 || uid == geteuid())
        return true;
    for (i = 0; i < srv->n_allow_uids; i++)
        if (srv->allow_uids[i] == uid)
            return true;
    return false;
}

static void accept_one(struct tether_acceptor *a, int fd, const struct ucred *cred)
{
    struct tether_server *srv = container_of(a, struct tether_server, acceptor);
    struct tether_error err = {0};
    struct tether_conn *conn;

    if (!peer_allowed(srv, cred->uid)) {
        log_warn(srv->log, "refused connection from pid %d uid %d: not allowed", (int)cred->pid,
                 (int)cred->uid);
        close(fd);
        return;
    }
    conn = xzalloc(sizeof(*conn));
    conn->server = srv;
    conn->id = ++srv->next_id;
    conn->peer_pid = cred->pid;
    conn->peer_uid = cred->uid;
    tether_framer_init(&conn->in, srv->max_message);
    conn->src.fd = fd;
    conn->src.events = EPOLLIN | EPOLLRDHUP;
    conn->src.cb = conn_cb;
    conn->src.release = conn_release;
    if (tether_loop_add(srv->loop, &conn->src, &err) < 0) {
        log_warn(srv->log, "client: %s", err.msg);
        close(fd);
        tether_framer_fini(&conn->in);
        free(conn);
        return;
    }
    conn->next = srv->conns;
    srv->conns = conn;
    srv->n_conns++;
    log_debug(srv->log, "client %llu connected (pid %d uid %d)", (unsigned long long)conn->id,
              (int)cred->pid, (int)cred->uid);
}

int tether_server_init(struct tether_server *srv, struct tether_loop *loop,
                       const struct tether_log *log, const char *path, size_t max_message,
                       struct tether_error *err)
{
    int fd;

    memset(srv, 0, sizeof(*srv));
    srv->loop = loop;
    tether_timer_init(&srv->linger, loop, linger_fired);
    srv->log = log;
    srv->max_message = max_message ? max_message : TETHER_MAX_MESSAGE_DEFAULT;
    srv->acceptor.src.fd = -1;
    fd = tether_sock_listen(path, SOCK_STREAM, err);
    if (fd < 0)
        return -1;
    if (tether_acceptor_start(&srv->acceptor, loop, log, "shim socket", fd, accept_one, err) < 0) {
        unlink(path);
        return -1;
    }
    srv->path = xstrdup(path);
    return 0;
}

void tether_server_allow_uid(struct tether_server *srv, uid_t uid)
{
    if (srv->n_allow_uids < TETHER_ALLOW_UIDS_MAX)
        srv->allow_uids[srv->n_allow_uids++] = uid;
}

struct tether_conn *tether_server_find(struct tether_server *srv, uint64_t id)
{
    struct tether_conn *conn;

    for (conn = srv->conns; conn != NULL; conn = conn->next)
        if (conn->id == id)
            return conn;
    return NULL;
}

void tether_server_flush(struct tether_server *srv)
{
    struct tether_conn *conn, *next;

    for (conn = srv->conns; conn != NULL; conn = next) {
        next = conn->next;
        conn_flush(conn);
    }
}

void tether_server_fini(struct tether_server *srv)
{
    if (srv->loop == NULL)
        return; /* never set up */
    /* What is queued goes out if the sockets take it now (answers to pending calls). */
    tether_server_flush(srv);
    while (srv->conns != NULL)
        tether_conn_close(srv->conns);
    tether_timer_fini(&srv->linger);
    tether_acceptor_stop(&srv->acceptor);
    if (srv->path != NULL) {
        unlink(srv->path);
        free(srv->path);
        srv->path = NULL;
    }
}
