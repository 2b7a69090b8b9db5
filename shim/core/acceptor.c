#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <tether/acceptor.h>
#include <tether/sock.h>
#include <tether/util.h>

/* Connections taken per wakeup, so a flood cannot starve the rest of the loop. */
#define ACCEPTS_PER_WAKEUP 64

static void accept_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_acceptor *a = container_of(src, struct tether_acceptor, src);
    int i;

    (void)loop;
    (void)revents;
    for (i = 0; i < ACCEPTS_PER_WAKEUP && a->src.fd >= 0 && !a->paused; i++) {
        struct tether_error err = {0};
        struct ucred cred;
        int fd = accept4(a->src.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn(a->log, "%s: accept: %s; not accepting until a client leaves", a->what,
                         strerror(errno));
                tether_loop_remove(a->loop, &a->src);
                a->paused = true;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_warn(a->log, "%s: accept: %s", a->what, strerror(errno));
            }
            return;
        }
        if (tether_sock_peer(fd, &cred, &err) < 0) {
            log_warn(a->log, "%s: %s; connection refused", a->what, err.msg);
            close(fd);
            continue;
        }
        a->accepted(a, fd, &cred);
    }
}

int tether_acceptor_start(struct tether_acceptor *a, struct tether_loop *loop,
                          const struct tether_log *log, const char *what, int listen_fd,
                          tether_accept_cb accepted, struct tether_error *err)
{
    memset(a, 0, sizeof(*a));
    a->loop = loop;
    a->log = log;
    a->what = what;
    a->accepted = accepted;
    a->src.fd = listen_fd;
    a->src.events = EPOLLIN;
    a->src.cb = accept_cb;
    if (tether_set_nonblock(listen_fd, err) < 0 || tether_loop_add(loop, &a->src, err) < 0) {
        close(listen_fd);
        a->src.fd = -1;
        return -1;
    }
    return 0;
}

void tether_acceptor_resume(struct tether_acceptor *a)
{
    struct tether_error err = {0};

    if (!a->paused || a->src.fd < 0)
        return;
    if (tether_loop_add(a->loop, &a->src, &err) == 0)
        a->paused = false;
}

void tether_acceptor_stop(struct tether_acceptor *a)
{
    if (a->loop == NULL || a->src.fd < 0)
        return;
    if (!a->paused)
        tether_loop_remove(a->loop, &a->src);
    close(a->src.fd);
    a->src.fd = -1;
}
