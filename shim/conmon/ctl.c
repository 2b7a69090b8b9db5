#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/util.h>

#include "ctl.h"

void tether_conmon_ctl_init(struct tether_conmon_ctl *c, struct tether_loop *loop,
                            const struct tether_log *log,
                            const struct tether_conmon_ctl_hooks *hooks)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->log = log;
    c->hooks = *hooks;
    c->ctl.src.fd = c->winsz.src.fd = -1;
    c->ctl.write_fd = c->winsz.write_fd = -1;
    c->ctl.ctl = c->winsz.ctl = c;
}

static bool parse_uint(const char *s, char **end, unsigned *out)
{
    unsigned long n;

    errno = 0;
    n = strtoul(s, end, 10);
    if (errno != 0 || *end == s || n > UINT_MAX || s[0] == '-')
        return false;
    *out = (unsigned)n;
    return true;
}

int tether_conmon_ctl_parse(const char *line, enum tether_ctl_type *type, unsigned *rows,
                            unsigned *cols)
{
    unsigned t;
    char *end;

    while (*line == ' ')
        line++;
    if (!parse_uint(line, &end, &t) || (t != TETHER_CTL_RESIZE && t != TETHER_CTL_REOPEN_LOG))
        return -1;
    if (!parse_uint(end, &end, rows) || !parse_uint(end, &end, cols))
        return -1;
    while (*end == ' ' || *end == '\r')
        end++;
    if (*end != '\0')
        return -1;
    *type = (enum tether_ctl_type)t;
    return 0;
}

static void handle_line(struct tether_ctl_fifo *f)
{
    struct tether_conmon_ctl *c = f->ctl;
    enum tether_ctl_type type;
    unsigned rows, cols;
    char q[TETHER_CTL_LINE_MAX * 4];

    f->line[f->len] = '\0';
    if (tether_conmon_ctl_parse(f->line, &type, &rows, &cols) < 0) {
        log_warn(c->log, "%s: ignored malformed line \"%s\"", f->path,
                 tether_quote(f->line, q, sizeof(q)));
        return;
    }
    switch (type) {
    case TETHER_CTL_RESIZE:
        c->hooks.resize(c->hooks.opaque, rows, cols);
        break;
    case TETHER_CTL_REOPEN_LOG:
        c->hooks.reopen_log(c->hooks.opaque);
        break;
    }
}

static void fifo_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_ctl_fifo *f = container_of(src, struct tether_ctl_fifo, src);
    char buf[512];
    ssize_t n;

    (void)loop;
    (void)revents;
    n = read(src->fd, buf, sizeof(buf));
    if (n <= 0)
        return; /* EAGAIN; never EOF while our own write end is open */
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            if (!f->overlong)
                handle_line(f);
            f->len = 0;
            f->overlong = false;
        } else if (f->len + 1 < sizeof(f->line)) {
            f->line[f->len++] = buf[i];
        } else {
            f->overlong = true;
        }
    }
}

void tether_conmon_ctl_poll(struct tether_conmon_ctl *c)
{
    if (c->ctl.src.fd >= 0)
        fifo_cb(c->loop, &c->ctl.src, EPOLLIN);
    if (c->winsz.src.fd >= 0)
        fifo_cb(c->loop, &c->winsz.src, EPOLLIN);
}

static int fifo_open(struct tether_conmon_ctl *c, struct tether_ctl_fifo *f, const char *dir,
                     const char *name, struct tether_error *err)
{
    f->path = xasprintf("%s/%s", dir, name);
    if (mkfifo(f->path, 0660) < 0) {
        if (errno != EEXIST || unlink(f->path) < 0 || mkfifo(f->path, 0660) < 0)
            return tether_error_set(err, errno, "mkfifo %s", f->path);
    }
    /* The read end first: opening the write end of a FIFO without a reader fails. */
    f->src.fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f->src.fd < 0)
        return tether_error_set(err, errno, "open %s", f->path);
    f->write_fd = open(f->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (f->write_fd < 0) {
        tether_error_set(err, errno, "open %s for writing", f->path);
        goto fail;
    }
    f->src.events = EPOLLIN;
    f->src.cb = fifo_cb;
    if (tether_loop_add(c->loop, &f->src, err) < 0)
        goto fail;
    return 0;
fail:
    close(f->src.fd);
    f->src.fd = -1;
    if (f->write_fd >= 0)
        close(f->write_fd);
    f->write_fd = -1;
    return -1;
}

int tether_conmon_ctl_open(struct tether_conmon_ctl *c, const char *dir, struct tether_error *err)
{
    if (fifo_open(c, &c->ctl, dir, "ctl", err) < 0 ||
        fifo_open(c, &c->winsz, dir, "winsz", err) < 0)
        return -1;
    return 0;
}

static void fifo_close(struct tether_conmon_ctl *c, struct tether_ctl_fifo *f, bool remove)
{
    if (f->src.fd >= 0) {
        tether_loop_remove(c->loop, &f->src);
        close(f->src.fd);
        f->src.fd = -1;
    }
    if (f->write_fd >= 0)
        close(f->write_fd);
    f->write_fd = -1;
    if (remove && f->path != NULL)
        unlink(f->path);
    free(f->path);
    f->path = NULL;
}

void tether_conmon_ctl_close(struct tether_conmon_ctl *c, bool remove)
{
    fifo_close(c, &c->ctl, remove);
    fifo_close(c, &c->winsz, remove);
}
