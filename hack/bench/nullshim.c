/* A shim that does nothing: the floor of the lifecycle phase. It takes tether-shim's command
 * line (--id ID --state-dir DIR; every other option and its value ignored), starts as
 * tether-shim does (the socket listens, the daemon is forked off into a session of its own,
 * the launcher prints {"id","pid","socket"} and exits) and speaks its framing (one JSON-RPC
 * request per line), but answers every request at once with an empty result, runs no
 * runtime and keeps no state; once "shutdown" is answered, the daemon is gone. Driven by
 * `benchlife tether`, it costs a lifecycle what any shim that is a program of its own costs
 * here: a program started, a daemon forked and ended, one exchange per request. Linked to
 * the C library alone.
 *
 *   nullshim --id ID --state-dir DIR [--OPTION VALUE]... */
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

#define CONNS_MAX 8
#define LINE_MAX_ 65536

struct conn {
    int fd;
    size_t len;
    char buf[LINE_MAX_];
};

static struct conn conns[CONNS_MAX];

static void die(const char *what)
{
    fprintf(stderr, "nullshim: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* Answers each whole line of c; returns 1 once "shutdown" was answered, -1 when the
 * connection is to be dropped. */
static int answer_lines(struct conn *c)
{
    char *nl;

    while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
        char out[128];
        const char *id;
        long long n = 0;
        int len, shutdown;

        *nl = '\0';
        id = strstr(c->buf, "\"id\":");
        if (id != NULL)
            n = strtoll(id + 5, NULL, 10);
        shutdown = strstr(c->buf, "\"method\":\"shutdown\"") != NULL;
        len = snprintf(out, sizeof(out), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"result\":{}}\n", n);
        if (write(c->fd, out, (size_t)len) != len)
            return -1;
        c->len -= (size_t)(nl + 1 - c->buf);
        memmove(c->buf, nl + 1, c->len);
        if (shutdown)
            return 1;
    }
    return c->len == sizeof(c->buf) ? -1 : 0;
}

static void drop(int ep, struct conn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
}

static int serve(int lfd)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    int ep = epoll_create1(EPOLL_CLOEXEC);

    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
        return 1;
    for (int i = 0; i < CONNS_MAX; i++)
        conns[i].fd = -1;
    for (;;) {
        struct epoll_event got;
        struct conn *c;
        ssize_t r;
        int rc;

        if (epoll_wait(ep, &got, 1, -1) < 1)
            continue;
        if (got.data.ptr == NULL) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            int i;
            for (i = 0; i < CONNS_MAX && conns[i].fd >= 0; i++)
                ;
            if (fd < 0 || i == CONNS_MAX) {
                if (fd >= 0)
                    close(fd);
                continue;
            }
            conns[i].fd = fd;
            conns[i].len = 0;
            ev.data.ptr = &conns[i];
            if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
                drop(ep, &conns[i]);
            continue;
        }
        c = got.data.ptr;
        r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            drop(ep, c);
            continue;
        }
        c->len += (size_t)r;
        rc = answer_lines(c);
        if (rc == 1)
            return 0;
        if (rc < 0)
            drop(ep, c);
    }
}

int main(int argc, char **argv)
{
    const char *id = NULL, *dir = NULL;
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int lfd, null, rc;
    pid_t pid;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--id") == 0)
            id = argv[i + 1];
        else if (strcmp(argv[i], "--state-dir") == 0)
            dir = argv[i + 1];
    }
    if (id == NULL || dir == NULL) {
        fprintf(stderr, "usage: nullshim --id ID --state-dir DIR [--OPTION VALUE]...\n");
        return 2;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        die(dir);
    if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s.null.sock", dir, id) >=
        (int)sizeof(addr.sun_path)) {
        errno = ENAMETOOLONG;
        die("socket path");
    }
    unlink(addr.sun_path);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(lfd, SOMAXCONN) < 0)
        die(addr.sun_path);
    null = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0)
        die("/dev/null");
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid > 0) {
        printf("{\"id\":\"%s\",\"pid\":%d,\"socket\":\"%s\"}\n", id, (int)pid, addr.sun_path);
        return 0;
    }
    if (setsid() < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        _exit(1);
    close(null);
    rc = serve(lfd);
    unlink(addr.sun_path);
    _exit(rc);
}
