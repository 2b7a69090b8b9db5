#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <tether/util.h>

#include "console.h"

void tether_console_init(struct tether_console *con)
{
    tether_listener_init(&con->sock);
    con->master_fd = -1;
}

int tether_console_listen(struct tether_console *con, const char *dir, const char *tag,
                          struct tether_error *err)
{
    cleanup_free char *name = xasprintf("console-%s.sock", tag);

    if (tether_listener_open(&con->sock, dir, name, err) < 0)
        return tether_error_prefix(err, "console socket");
    return 0;
}

int tether_console_receive(struct tether_console *con, struct tether_error *err)
{
    int conn, fd;

    if (con->master_fd >= 0)
        return 1;
    if (con->sock.fd < 0)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "console socket is closed");
    conn = accept4(con->sock.fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return tether_error_set(err, errno, "accept on console socket");
    }
    /* The message's bytes are the terminal's name, of no use here. */
    fd = tether_recv_fd(conn, NULL, 0, err);
    close(conn);
    if (fd < 0) {
        err->kind = TETHER_ERR_RUNTIME;
        return tether_error_prefix(err, "the runtime sent no pty master on the console socket");
    }
    con->master_fd = fd;
    return 1;
}

int tether_console_take_master(struct tether_console *con)
{
    int fd = con->master_fd;

    con->master_fd = -1;
    tether_console_close(con);
    return fd;
}

void tether_console_close(struct tether_console *con)
{
    tether_listener_close(&con->sock);
    if (con->master_fd >= 0)
        close(con->master_fd);
    con->master_fd = -1;
}
