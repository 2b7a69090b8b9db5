#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <tether/util.h>

#include "io.h"
#include "logfile.h"

/* Read size per read(2); the pipes are enlarged so a fast writer is rarely blocked. */
#define IO_READ_BUF  (64 * 1024)
#define IO_PIPE_SIZE (1024 * 1024)
/* Reads per wakeup and stream, so one stream cannot starve the loop. */
#define IO_READS_PER_WAKEUP 16
/* Reads at exit: enough for full pipes (IO_PIPE_SIZE / IO_READ_BUF) and then some. */
#define IO_DRAIN_READS (2 * IO_PIPE_SIZE / IO_READ_BUF)

void tether_io_init(struct tether_io *io, const struct tether_log *log, struct tether_loop *loop)
{
    memset(io, 0, sizeof(*io));
    io->log = log;
    io->loop = loop;
    io->stdin_fd = -1;
    io->pty_fd = -1;
    io->out.src.fd = io->err.src.fd = -1;
    io->child_fds[0] = io->child_fds[1] = io->child_fds[2] = -1;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* The stream's struct lives as long as the io, so the fd can be closed at once: the loop
 * skips removed sources for the rest of the batch. */
static void stream_close(struct tether_io_stream *s)
{
    if (s->open)
        tether_loop_remove(s->io->loop, &s->src);
    s->open = false;
    if (s->src.fd >= 0)
        close(s->src.fd);
    s->src.fd = -1;
}

/* Reads up to max chunks; returns false once the stream is at EOF or failed. */
static bool stream_read(struct tether_io_stream *s, int max)
{
    struct tether_io *io = s->io;

    while (max-- > 0) {
        struct tether_error err = {0};
        struct timespec now;
        ssize_t n = read(s->src.fd, io->buf, IO_READ_BUF);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return true;
        if (n <= 0) {
            stream_close(s);
            return false;
        }
        clock_gettime(CLOCK_REALTIME, &now);
        if (io->logfile != NULL &&
            tether_logfile_write(io->logfile, s->stream, &now, io->buf, (size_t)n, &err) < 0)
            log_error(io->log, "container log: %s", err.msg);
        if (io->on_output != NULL)
            io->on_output(io->opaque, s->stream, io->buf, (size_t)n);
    }
    return true;
}

static void stream_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_io_stream *s = container_of(src, struct tether_io_stream, src);

    (void)loop;
    (void)revents;
    stream_read(s, IO_READS_PER_WAKEUP);
}

static int make_pipe(int fds[2], struct tether_error *err)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return tether_error_set(err, errno, "pipe");
    /* Best effort: a larger pipe means fewer wakeups for a chatty container. */
    fcntl(fds[0], F_SETPIPE_SZ, IO_PIPE_SIZE);
    return 0;
}

/* The process writes to (and reads from) what the front end gave: nothing to read here. */
static int take_given(struct tether_io *io, const int fds[3], struct tether_error *err)
{
    int i;

    for (i = 0; i < 3; i++) {
        if (fds[i] < 0)
            continue;
        io->child_fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (io->child_fds[i] < 0) {
            int saved = errno;
            while (i-- > 0)
                close_fd(&io->child_fds[i]);
            return tether_error_set(err, saved, "dup stdio fd");
        }
    }
    io->given = true;
    return 0;
}

int tether_io_prepare(struct tether_io *io, const struct tether_process_opts *opts,
                      struct tether_error *err)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1}, in[2] = {-1, -1};
    bool with_stdin = opts->stdin;
    const struct tether_log_opts *log = &opts->log;

    io->terminal = opts->terminal;
    io->want_stdin = with_stdin;
    io->given = false;
    if (opts->given_stdio && opts->terminal)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "a terminal cannot be used with given stdio");
    if (opts->given_stdio)
        return take_given(io, opts->stdio_fds, err);
    if (log->path != NULL) {
        io->logfile =
            tether_logfile_open(log->path, log->format, log->max_size, log->max_files, err);
        if (io->logfile == NULL)
            return -1;
    }
    if (opts->terminal)
        return 0;
    if (make_pipe(out, err) < 0 || make_pipe(errp, err) < 0 ||
        (with_stdin && make_pipe(in, err) < 0)) {
        close_fd(&out[0]);
        close_fd(&out[1]);
        close_fd(&errp[0]);
        close_fd(&errp[1]);
        tether_logfile_close(io->logfile);
        io->logfile = NULL;
        return -1;
    }
    io->out.src.fd = out[0];
    io->err.src.fd = errp[0];
    io->child_fds[1] = out[1];
    io->child_fds[2] = errp[1];
    io->child_fds[0] = in[0];
    io->stdin_fd = in[1];
    return 0;
}

static int stream_start(struct tether_io *io, struct tether_io_stream *s,
                        enum tether_logfmt_stream stream, struct tether_error *err)
{
    s->io = io;
    s->stream = stream;
    s->src.events = EPOLLIN;
    s->src.cb = stream_cb;
    s->src.release = NULL;
    if (tether_set_nonblock(s->src.fd, err) < 0 || tether_loop_add(io->loop, &s->src, err) < 0)
        return -1;
    s->open = true;
    return 0;
}

int tether_io_start(struct tether_io *io, struct tether_error *err)
{
    int i;

    for (i = 0; i < 3; i++)
        close_fd(&io->child_fds[i]);
    if (io->stdin_fd >= 0 && tether_set_nonblock(io->stdin_fd, err) < 0)
        return -1;
    if (io->terminal || io->given)
        return 0;
    if (io->buf == NULL)
        io->buf = xmalloc(IO_READ_BUF);
    if (stream_start(io, &io->out, TETHER_LOGFMT_STDOUT, err) < 0 ||
        stream_start(io, &io->err, TETHER_LOGFMT_STDERR, err) < 0)
        return -1;
    return 0;
}

int tether_io_set_terminal(struct tether_io *io, int master_fd, struct tether_error *err)
{
    io->pty_fd = master_fd;
    io->out.src.fd = fcntl(master_fd, F_DUPFD_CLOEXEC, 3);
    if (io->out.src.fd < 0)
        return tether_error_set(err, errno, "dup pty master");
    if (io->want_stdin) {
        io->stdin_fd = fcntl(master_fd, F_DUPFD_CLOEXEC, 3);
        if (io->stdin_fd < 0)
            return tether_error_set(err, errno, "dup pty master");
    }
    if (io->buf == NULL)
        io->buf = xmalloc(IO_READ_BUF);
    return stream_start(io, &io->out, TETHER_LOGFMT_STDOUT, err);
}

int tether_io_resize(struct tether_io *io, unsigned width, unsigned height,
                     struct tether_error *err)
{
    struct winsize ws = {.ws_row = (unsigned short)height, .ws_col = (unsigned short)width};

    if (io->pty_fd < 0)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "the process has no terminal");
    if (ioctl(io->pty_fd, TIOCSWINSZ, &ws) < 0)
        return tether_error_set(err, errno, "TIOCSWINSZ");
    return 0;
}

void tether_io_drain(struct tether_io *io)
{
    struct tether_error err = {0};
    struct timespec now;

    /* Everything the process wrote before it exited is in the pipes now: read until they
     * are empty (EAGAIN), without waiting for an EOF that other holders of the write end
     * (orphans in a shared PID namespace) could delay forever. The bound only matters if
     * such an orphan keeps writing flat out. */
    if (io->out.open)
        stream_read(&io->out, IO_DRAIN_READS);
    if (io->err.open)
        stream_read(&io->err, IO_DRAIN_READS);
    if (io->logfile == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    if (tether_logfile_flush_and_sync(io->logfile, &now, &err) < 0)
        log_error(io->log, "container log: %s", err.msg);
}

ssize_t tether_io_write_stdin(struct tether_io *io, const void *data, size_t len,
                              struct tether_error *err)
{
    ssize_t n;

    if (io->stdin_fd < 0)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "stdin is not open");
    do
        n = write(io->stdin_fd, data, len);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n < 0)
        return tether_error_set(err, errno, "write to stdin");
    return n;
}

int tether_io_close_stdin(struct tether_io *io, struct tether_error *err)
{
    if (io->stdin_fd < 0)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "stdin is not open");
    close_fd(&io->stdin_fd);
    return 0;
}

int tether_io_reopen_log(struct tether_io *io, struct tether_error *err)
{
    if (io->logfile == NULL)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "no log file");
    return tether_logfile_reopen(io->logfile, err);
}

void tether_io_close(struct tether_io *io)
{
    int i;

    for (i = 0; i < 3; i++)
        close_fd(&io->child_fds[i]);
    close_fd(&io->stdin_fd);
    close_fd(&io->pty_fd);
    stream_close(&io->out);
    stream_close(&io->err);
    tether_logfile_close(io->logfile);
    io->logfile = NULL;
    free(io->buf);
    io->buf = NULL;
}
