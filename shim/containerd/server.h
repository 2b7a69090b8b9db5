/* The ttrpc server: the shim's listening socket (made by `start`, inherited by the daemon),
 * one connection per client on the core's loop, frames in through the ttrpc reader,
 * responses out through a bounded buffer. Every request is handed to on_request at once
 * and answered whenever its handler is done, in any order, so a pending Wait never holds
 * up the other calls containerd makes on its one connection. Malformed frames are answered
 * on their stream as ttrpc 1.1.1 answers them (InvalidArgument, ResourceExhausted for a
 * payload over 4 MiB) and the connection goes on. Only peers with the shim's own uid are
 * let in (SO_PEERCRED), as containerd's own socket requires. */
#ifndef TETHER_CONTAINERD_SERVER_H
#define TETHER_CONTAINERD_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <tether/acceptor.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>
#include <tether/outbuf.h>

#include "ttrpc.h"

/* Bytes of responses a connection may have waiting to be read: a client that lets more
 * pile up does not read, and is dropped rather than waited on. */
#define TETHER_CTRD_CONN_OUT_MAX (32u << 20)
/* Reads per wakeup of one connection, so a busy client cannot starve the loop. */
#define TETHER_CTRD_READS_PER_WAKEUP 16

struct tether_ctrd_server;

struct tether_ctrd_conn {
    struct tether_source src;
    struct tether_ctrd_server *server;
    uint64_t id; /* never reused: requests find their connection again by it */
    pid_t peer_pid;
    struct tether_ttrpc_reader in;
    struct tether_outbuf out;
    struct tether_ctrd_conn *next;
};

/* A request arrived on stream_id of conn; req is freed when this returns. */
typedef void (*tether_ctrd_request_cb)(void *opaque, struct tether_ctrd_conn *conn,
                                       uint32_t stream_id, const Ttrpc__Request *req);
/* conn is going away: requests it made will find no connection to answer on. */
typedef void (*tether_ctrd_gone_cb)(void *opaque, struct tether_ctrd_conn *conn);

struct tether_ctrd_server {
    struct tether_acceptor acceptor;
    struct tether_loop *loop;
    const struct tether_log *log;
    struct tether_ctrd_conn *conns;
    size_t n_conns;
    uint64_t next_id;
    tether_ctrd_request_cb on_request;
    tether_ctrd_gone_cb on_gone;
    void *opaque;
};

/* Serves the listening socket fd (taken over: closed by fini). */
int tether_ctrd_server_init(struct tether_ctrd_server *srv, struct tether_loop *loop,
                            const struct tether_log *log, int listen_fd, struct tether_error *err);
/* Writes what the sockets take now, then closes every connection and the socket. */
void tether_ctrd_server_fini(struct tether_ctrd_server *srv);
/* Stops accepting new connections (the socket is closed; live connections go on). */
void tether_ctrd_server_stop_listening(struct tether_ctrd_server *srv);

struct tether_ctrd_conn *tether_ctrd_server_find(struct tether_ctrd_server *srv, uint64_t id);

/* Answers stream_id with a status and payload (one of them: code OK carries the payload).
 * An answer over 4 MiB is replaced by a ResourceExhausted error: containerd's client
 * cannot read a larger frame. */
void tether_ctrd_conn_respond(struct tether_ctrd_conn *conn, uint32_t stream_id,
                              enum tether_ttrpc_code code, const char *message,
                              const uint8_t *payload, size_t len);
/* Closes conn now. */
void tether_ctrd_conn_close(struct tether_ctrd_conn *conn);

/* Writes what every connection's socket takes now; for shutdown. */
void tether_ctrd_server_flush(struct tether_ctrd_server *srv);

#endif
