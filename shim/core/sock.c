#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <tether/sock.h>
#include <tether/util.h>

int tether_sock_listen(const char *path, int type, struct tether_error *err)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    cleanup_close int fd = -1;
    cleanup_close int dir_fd = -1;
    char q[512];
    mode_t old_mask;
    int rc;

    if (strlen(path) < sizeof(addr.sun_path)) {
        strcpy(addr.sun_path, path);
    } else {
        /* sun_path holds 108 bytes: a deeper path is reached through its directory's fd. */
        cleanup_free char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        int n;
        if (slash == NULL)
            return tether_error_set(err, 0, "socket path must be absolute: %s",
                                    tether_quote(path, q, sizeof(q)));
        *slash = '\0';
        dir_fd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
            return tether_error_set(err, errno, "open %s", dir);
        n = snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dir_fd,
                     slash + 1);
        if (n < 0 || (size_t)n >= sizeof(addr.sun_path))
            return tether_error_set(err, 0, "socket name too long: %s", slash + 1);
    }
    fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return tether_error_set(err, errno, "socket");
    /* A stale socket of a dead process (whoever calls this checked that none is alive). */
    unlink(path);
    old_mask = umask(0177);
    rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(old_mask);
    if (rc < 0)
        return tether_error_set(err, errno, "bind %s", tether_quote(path, q, sizeof(q)));
    if (chmod(path, 0600) < 0 || listen(fd, SOMAXCONN) < 0) {
        int saved = errno;
        unlink(path);
        return tether_error_set(err, saved, "listen %s", tether_quote(path, q, sizeof(q)));
    }
    return steal_fd(fd);
}

int tether_sock_peer(int fd, struct ucred *cred, struct tether_error *err)
{
    socklen_t len = sizeof(*cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &len) < 0)
        return tether_error_set(err, errno, "SO_PEERCRED");
    return 0;
}
