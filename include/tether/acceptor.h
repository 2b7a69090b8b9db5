/* A listening socket on the loop: accepts every connection that waits and hands each, with
 * its peer's credentials (SO_PEERCRED, unix(7)), to the owner. Out of fds (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM) it stops listening, since level-triggered epoll would otherwise report
 * the waiting connection forever, until the owner calls tether_acceptor_resume() (when one
 * of its connections closed); new clients wait in the kernel's queue meanwhile. The
 * front ends' sockets (JSON-RPC, ttrpc, conmon's attach socket) are all served this way. */
#ifndef TETHER_ACCEPTOR_H
#define TETHER_ACCEPTOR_H

#include <stdbool.h>
#include <sys/socket.h>

#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>

struct tether_acceptor;

/* A new connection: fd (close-on-exec, non-blocking) is the owner's from now on. */
typedef void (*tether_accept_cb)(struct tether_acceptor *a, int fd, const struct ucred *peer);

struct tether_acceptor {
    struct tether_source src; /* the listening socket; fd -1 when stopped */
    struct tether_loop *loop;
    const struct tether_log *log;
    const char *what; /* names the socket in log messages */
    bool paused;      /* out of fds: not in the loop until resumed */
    tether_accept_cb accepted;
};

/* Serves listen_fd (taken over: tether_acceptor_stop closes it). */
int tether_acceptor_start(struct tether_acceptor *a, struct tether_loop *loop,
                          const struct tether_log *log, const char *what, int listen_fd,
                          tether_accept_cb accepted, struct tether_error *err);
/* Listens again after a pause for want of fds (nothing when not paused). */
void tether_acceptor_resume(struct tether_acceptor *a);
/* Stops accepting and closes the socket (safe when never started or already stopped). */
void tether_acceptor_stop(struct tether_acceptor *a);

#endif
