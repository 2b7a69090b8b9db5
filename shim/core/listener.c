#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <tether/sock.h>
#include <tether/util.h>

#include "listener.h"

void tether_listener_init(struct tether_listener *l)
{
    l->fd = -1;
    l->path[0] = '\0';
    l->dir[0] = '\0';
}

int tether_listener_open(struct tether_listener *l, const char *dir, const char *name,
                         struct tether_error *err)
{
    int fd;

    tether_listener_close(l);
    if (strlen(dir) + 1 + strlen(name) < sizeof(l->path)) {
        strcpy(l->path, dir);
        strcat(l->path, "/");
        strcat(l->path, name);
    } else {
        strcpy(l->dir, "/tmp/tether-sock-XXXXXX");
        if (mkdtemp(l->dir) == NULL) {
            l->dir[0] = '\0';
            return tether_error_set(err, errno, "mkdtemp");
        }
        strcpy(l->path, l->dir);
        strcat(l->path, "/s.sock");
    }
    fd = tether_sock_listen(l->path, SOCK_STREAM, err);
    if (fd < 0) {
        tether_listener_close(l);
        return -1;
    }
    l->fd = fd;
    return 0;
}

void tether_listener_close(struct tether_listener *l)
{
    if (l->fd >= 0)
        close(l->fd);
    l->fd = -1;
    if (l->path[0] != '\0')
        unlink(l->path);
    l->path[0] = '\0';
    if (l->dir[0] != '\0')
        rmdir(l->dir);
    l->dir[0] = '\0';
}
