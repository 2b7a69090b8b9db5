#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <tether/util.h>

#include "console.h"

void tether_console_init(struct tether_console *con)
{
    memset(con, 0, sizeof(*con));
    con->listen_fd = -1;
    con->master_fd = -1;
}

int tether_console_listen(struct tether_console *con, const char *dir, const char *tag,
                          struct tether_error *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd, n;

    n = (int)(strlen(dir) + strlen(tag) + sizeof("/console-.sock"));
    if ((size_t)n <= sizeof(con->path)) {
        memcpy(con->path, dir, strlen(dir));
        strcpy(con->path + strlen(dir), "/console-");
        strcat(con->path, tag);
        strcat(con->path, ".sock");
    } else {
        /* sun_path holds 108 bytes: a deep state dir gets a private short directory. */
        snprintf(con->dir, sizeof(con->dir), "/tmp/tether-console-XXXXXX");
        if (mkdtemp(con->dir) == NULL)
            return tether_error_set(err, errno, "mkdtemp");
        memcpy(con->path, con->dir, strlen(con->dir));
        strcpy(con->path + strlen(con->dir), "/c.sock");
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return tether_error_set(err, errno, "socket");
    strcpy(addr.sun_path, con->path);
    unlink(con->path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(con->path, 0600) < 0 ||
        listen(fd, 1) < 0) {
        int saved = errno;
        close(fd);
        tether_console_close(con);
        return tether_error_set(err, saved, "console socket %s", con->path);
    }
    con->listen_fd = fd;
    return 0;
}

int tether_console_receive(struct tether_console *con, struct tether_error *err)
{
    int conn, fd;

    if (con->master_fd >= 0)
        return 1;
    if (con->listen_fd < 0)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "console socket is closed");
    conn = accept4(con->listen_fd, NULL, NULL, SOCK_CLOEXEC);
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
    if (con->listen_fd >= 0)
        close(con->listen_fd);
    con->listen_fd = -1;
    if (con->master_fd >= 0)
        close(con->master_fd);
    con->master_fd = -1;
    if (con->path[0] != '\0')
        unlink(con->path);
    con->path[0] = '\0';
    if (con->dir[0] != '\0')
        rmdir(con->dir);
    con->dir[0] = '\0';
}
