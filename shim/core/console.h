/* The console socket of a terminal process: the runtime connects to it and sends the pty
 * master with SCM_RIGHTS (runc's --console-socket, see runc/docs/terminals.md and
 * unix(7) on ancillary data). The socket is listened on from the loop; the runtime
 * command does not return before it sent the fd, so after its exit a non-blocking
 * tether_console_receive() always finds it. */
#ifndef TETHER_SHIM_CONSOLE_H
#define TETHER_SHIM_CONSOLE_H

#include <tether/error.h>

#include "listener.h"

struct tether_console {
    struct tether_listener sock; /* sock.path goes to --console-socket */
    int master_fd;               /* -1 until received */
};

void tether_console_init(struct tether_console *con);
/* Creates and listens on a socket under dir (name tag) for the runtime to connect to. */
int tether_console_listen(struct tether_console *con, const char *dir, const char *tag,
                          struct tether_error *err);
/* Accepts the runtime's connection and takes the pty master it sends (non-blocking).
 * Returns 1 when the master was received, 0 when not yet, -1 on error. */
int tether_console_receive(struct tether_console *con, struct tether_error *err);
/* Hands the master over (the caller owns it then) and removes the socket. */
int tether_console_take_master(struct tether_console *con);
void tether_console_close(struct tether_console *con);

#endif
