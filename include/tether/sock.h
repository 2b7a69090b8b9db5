/* Listening UNIX sockets of every front end (the JSON-RPC socket, the ttrpc socket, the
 * conmon attach socket) and of the core (console and seccomp sockets). */
#ifndef TETHER_SOCK_H
#define TETHER_SOCK_H

#include <sys/socket.h>
#include <sys/types.h>

#include <tether/error.h>

/* Binds a UNIX socket of type (SOCK_STREAM or SOCK_SEQPACKET) at path with mode 0600 (a
 * stale socket there is replaced) and listens with the system's largest backlog
 * (SOMAXCONN; the kernel caps it at net.core.somaxconn), so a burst of clients connecting
 * with non-blocking sockets (as Go and Python do) waits in the queue instead of being
 * refused with EAGAIN. A path longer than sun_path's 108 bytes is bound through an fd of
 * its directory. Returns the fd (close-on-exec, non-blocking). */
int tether_sock_listen(const char *path, int type, struct tether_error *err);

/* The connected peer's pid, uid and gid (SO_PEERCRED, unix(7)). */
int tether_sock_peer(int fd, struct ucred *cred, struct tether_error *err);

#endif
