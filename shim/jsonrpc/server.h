/* The protocol's transport: a listening UNIX socket, one connection per client, line
 * framing in, bounded buffering out. A client that sends a line over the limit gets
 * -32005 and is disconnected; a client that does not read what it is sent is dropped when
 * its buffer passes TETHER_CONN_OUT_MAX; nobody else notices either. What the lines mean
 * is the dispatcher's business (methods.c). */
#ifndef TETHER_SHIM_SERVER_H
#define TETHER_SHIM_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include <tether/acceptor.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>
#include <tether/outbuf.h>
#include <tether/timer.h>

#include "framer.h"

#define TETHER_CONN_OUT_MAX        (4u << 20)
#define TETHER_MAX_MESSAGE_DEFAULT (1u << 20)
#define TETHER_ALLOW_UIDS_MAX      16
/* How long a dropped client gets to read its last notification. */
#define TETHER_CONN_LINGER_MS 5000

struct tether_server;

struct tether_conn {
    struct tether_source src;
    struct tether_server *server;
    uint64_t id;
    pid_t peer_pid;
    uid_t peer_uid;
    struct tether_framer in;
    struct tether_outbuf out;
    bool closing;             /* close once out is flushed */
    bool dropped;             /* too slow: only its last notification is still sent */
    bool mid_line;            /* what waits in out starts inside a line part of which was sent */
    uint64_t linger_until_ms; /* CLOCK_MONOTONIC deadline of a dropped client */
    bool subscribed;          /* receives events */
    bool attached;            /* receives output notifications */
    char *attach_exec_id;     /* of this exec (NULL: the init) */
    struct tether_conn *next;
};

/* Handles one decoded line of a connection. */
typedef void (*tether_server_line_cb)(void *opaque, struct tether_conn *conn, char *line,
                                      size_t len);
/* A connection is going away (its pending calls must be dropped). */
typedef void (*tether_server_gone_cb)(void *opaque, struct tether_conn *conn);

struct tether_server {
    struct tether_acceptor acceptor;
    struct tether_loop *loop;
    const struct tether_log *log;
    char *path;
    size_t max_message;
    uid_t allow_uids[TETHER_ALLOW_UIDS_MAX];
    size_t n_allow_uids;
    struct tether_conn *conns;
    size_t n_conns;
    uint64_t next_id;
    struct tether_timer linger; /* closes dropped clients that never read again */
    tether_server_line_cb on_line;
    tether_server_gone_cb on_gone;
    void *opaque;
};

/* Binds path (mode 0600; the directory is made 0700 by the caller) and listens. */
int tether_server_init(struct tether_server *srv, struct tether_loop *loop,
                       const struct tether_log *log, const char *path, size_t max_message,
                       struct tether_error *err);
/* Closes every connection and the socket, and unlinks the socket path. */
void tether_server_fini(struct tether_server *srv);

/* Peers allowed besides root and the shim's own uid. */
void tether_server_allow_uid(struct tether_server *srv, uid_t uid);

struct tether_conn *tether_server_find(struct tether_server *srv, uint64_t id);

/* Queues a message (or raw line) for conn and writes as much as the socket takes now. A
 * connection over its bound is dropped (after a final "dropped" notification attempt). */
void tether_conn_send(struct tether_conn *conn, json_t *msg);
void tether_conn_send_line(struct tether_conn *conn, const char *line, size_t len);
/* Sends then closes once flushed. */
void tether_conn_close_after(struct tether_conn *conn);
/* Closes now. */
void tether_conn_close(struct tether_conn *conn);

/* Writes out what can be written to every connection without blocking; for shutdown. */
void tether_server_flush(struct tether_server *srv);

#endif
