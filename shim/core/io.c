#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include <tether/util.h>

#include "io.h"
#include "journald.h"
#include "logfile.h"

/* Read size per read(2); the pipes are enlarged so a fast writer is rarely blocked. */
#define IO_READ_BUF  (64 * 1024)
#define IO_PIPE_SIZE (1024 * 1024)
/* Reads per wakeup and stream, so one stream cannot starve the loop. */
#define IO_READS_PER_WAKEUP 16
/* Reads at exit: enough for full pipes (IO_PIPE_SIZE / IO_READ_BUF) and then some. */
#define IO_DRAIN_READS (2 * IO_PIPE_SIZE / IO_READ_BUF)

static void in_drained(struct tether_pump *pump);
static void to_drained(struct tether_pump *pump);

/* The read buffer is a mapping of its own, not a heap block: only the pages reads have
 * touched are resident (none for a process that writes nothing), and 64 KiB in the middle
 * of the heap would keep the pages around it, and the small blocks after it, from being
 * packed and given back. Out of memory ends the process, as xmalloc does. */
static char *io_buf_alloc(void)
{
    void *p = mmap(NULL, IO_READ_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        abort();
    return p;
}

void tether_io_init(struct tether_io *io, const struct tether_log *log, struct tether_loop *loop)
{
    memset(io, 0, sizeof(*io));
    io->log = log;
    io->loop = loop;
    io->pty_fd = -1;
    io->out.src.fd = io->err.src.fd = -1;
    io->from.fd = -1;
    io->child_fds[0] = io->child_fds[1] = io->child_fds[2] = -1;
    tether_pump_init(&io->in, loop, in_drained);
    tether_pump_init(&io->to, loop, to_drained);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void poll_stream(struct tether_io_stream *s, bool on)
{
    struct tether_error err = {0};

    if (!s->open || s->polled == on)
        return;
    if (on && tether_loop_add(s->io->loop, &s->src, &err) < 0) {
        log_error(s->io->log, "output: %s", err.msg);
        return;
    }
    if (!on)
        tether_loop_remove(s->io->loop, &s->src);
    s->polled = on;
}

/* The stream's struct lives as long as the io, so the fd can be closed at once: the loop
 * skips removed sources for the rest of the batch. */
static void stream_close(struct tether_io_stream *s)
{
    poll_stream(s, false);
    s->open = false;
    close_fd(&s->src.fd);
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
        if (io->journald != NULL &&
            tether_journald_write(io->journald, s->stream, io->buf, (size_t)n, &err) < 0)
            log_error(io->log, "container log (journal): %s", err.msg);
        if (io->on_output != NULL)
            io->on_output(io->opaque, s->stream, io->buf, (size_t)n);
        if (tether_pump_is_open(&io->to)) {
            tether_pump_write(&io->to, io->buf, (size_t)n);
            if (tether_pump_pending(&io->to) > 0) {
                /* The copy's destination is full: the process waits until it drains. */
                poll_stream(&io->out, false);
                poll_stream(&io->err, false);
                return true;
            }
        }
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

static void to_drained(struct tether_pump *pump)
{
    struct tether_io *io = container_of(pump, struct tether_io, to);

    poll_stream(&io->out, true);
    poll_stream(&io->err, true);
}

/* ---- stdin_from: a front end's fd copied into stdin ---- */

static void poll_from(struct tether_io *io, bool on)
{
    struct tether_error err = {0};

    if (io->from.fd < 0 || io->from_polled == on)
        return;
    if (on && tether_loop_add(io->loop, &io->from, &err) < 0) {
        log_error(io->log, "stdin: %s", err.msg);
        return;
    }
    if (!on)
        tether_loop_remove(io->loop, &io->from);
    io->from_polled = on;
}

static void from_close(struct tether_io *io)
{
    poll_from(io, false);
    close_fd(&io->from.fd);
}

static void from_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_io *io = container_of(src, struct tether_io, from);
    int rounds = IO_READS_PER_WAKEUP;

    (void)loop;
    (void)revents;
    if (io->buf == NULL)
        io->buf = io_buf_alloc();
    while (rounds-- > 0) {
        ssize_t n = read(io->from.fd, io->buf, IO_READ_BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            /* The writer is done: stdin ends once what it sent went in (a terminal stays
             * open: its end is the process's own business). */
            from_close(io);
            if (!io->terminal)
                tether_pump_finish(&io->in);
            return;
        }
        tether_pump_write(&io->in, io->buf, (size_t)n);
        if (tether_pump_pending(&io->in) > 0) {
            poll_from(io, false);
            return;
        }
        if (!tether_pump_is_open(&io->in) || io->in.failed) {
            from_close(io);
            return;
        }
    }
}

static void in_drained(struct tether_pump *pump)
{
    struct tether_io *io = container_of(pump, struct tether_io, in);

    if (pump->failed)
        from_close(io);
    else
        poll_from(io, true);
    if (io->stdin_waiting) {
        io->stdin_waiting = false;
        if (io->on_stdin_ready != NULL)
            io->on_stdin_ready(io->opaque);
    }
}

/* ---- set-up ---- */

static int make_pipe(int fds[2], struct tether_error *err)
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        return tether_error_set(err, errno, "pipe");
    /* Best effort: a larger pipe means fewer wakeups for a chatty container. */
    fcntl(fds[0], F_SETPIPE_SZ, IO_PIPE_SIZE);
    return 0;
}

static int dup_fd(int fd, int *out, struct tether_error *err)
{
    *out = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (*out < 0)
        return tether_error_set(err, errno, "dup fd %d", fd);
    return 0;
}

static int prepare_fds(struct tether_io *io, const struct tether_process_opts *opts,
                       struct tether_error *err)
{
    int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    int i;

    if (opts->stdin_from >= 0 && dup_fd(opts->stdin_from, &io->from.fd, err) < 0)
        return -1;
    if (opts->output_to >= 0) {
        int fd;
        if (dup_fd(opts->output_to, &fd, err) < 0 || tether_pump_open(&io->to, fd, err) < 0)
            return -1;
    }
    if (opts->terminal)
        return 0;
    for (i = 0; i < 3; i++) {
        if (opts->stdio_fds[i] >= 0) {
            /* Handed straight to the process: nothing to read or write here. */
            if (dup_fd(opts->stdio_fds[i], &io->child_fds[i], err) < 0)
                return -1;
            continue;
        }
        if (i == 0 && !opts->stdin)
            continue; /* /dev/null */
        if (make_pipe(pipes[i], err) < 0)
            goto fail;
    }
    io->child_fds[0] = opts->stdio_fds[0] >= 0 ? io->child_fds[0] : pipes[0][0];
    if (pipes[0][1] >= 0 && tether_pump_open(&io->in, pipes[0][1], err) < 0) {
        pipes[0][1] = -1;
        goto fail;
    }
    for (i = 1; i < 3; i++) {
        if (pipes[i][0] < 0)
            continue;
        (i == 1 ? &io->out : &io->err)->src.fd = pipes[i][0];
        io->child_fds[i] = pipes[i][1];
    }
    return 0;
fail:
    for (i = 0; i < 3; i++) {
        close_fd(&pipes[i][0]);
        close_fd(&pipes[i][1]);
    }
    return -1;
}

int tether_io_prepare(struct tether_io *io, const struct tether_process_opts *opts,
                      struct tether_error *err)
{
    const struct tether_log_opts *log = &opts->log;

    io->terminal = opts->terminal;
    io->want_stdin = opts->stdin;
    io->log_no_sync = log->no_sync;
    if (opts->terminal &&
        (opts->stdio_fds[0] >= 0 || opts->stdio_fds[1] >= 0 || opts->stdio_fds[2] >= 0))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "a terminal process cannot be given stdio fds");
    if (opts->stdin_from >= 0 && (!opts->stdin || opts->stdio_fds[0] >= 0))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "stdin_from needs a stdin the core holds");
    if (log->path != NULL) {
        io->logfile =
            tether_logfile_open(log->path, log->format, log->max_size, log->max_files, err);
        if (io->logfile == NULL)
            return -1;
    }
    if (log->journald) {
        io->journald = tether_journald_open(log->journald_fields, err);
        if (io->journald == NULL) {
            tether_io_close(io);
            return -1;
        }
    }
    if (prepare_fds(io, opts, err) < 0) {
        tether_io_close(io);
        return -1;
    }
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
    if (s->src.fd < 0)
        return 0; /* handed straight to the process */
    if (tether_set_nonblock(s->src.fd, err) < 0 || tether_loop_add(io->loop, &s->src, err) < 0)
        return -1;
    s->open = true;
    s->polled = true;
    return 0;
}

static int from_start(struct tether_io *io, struct tether_error *err)
{
    if (io->from.fd < 0)
        return 0;
    io->from.events = EPOLLIN;
    io->from.cb = from_cb;
    io->from.release = NULL;
    if (tether_set_nonblock(io->from.fd, err) < 0)
        return -1;
    poll_from(io, true);
    return 0;
}

int tether_io_start(struct tether_io *io, struct tether_error *err)
{
    int i;

    for (i = 0; i < 3; i++)
        close_fd(&io->child_fds[i]);
    if (io->terminal)
        return 0;
    if (io->buf == NULL && (io->out.src.fd >= 0 || io->err.src.fd >= 0 || io->from.fd >= 0))
        io->buf = io_buf_alloc();
    if (stream_start(io, &io->out, TETHER_LOGFMT_STDOUT, err) < 0 ||
        stream_start(io, &io->err, TETHER_LOGFMT_STDERR, err) < 0 || from_start(io, err) < 0)
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
        int fd = fcntl(master_fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return tether_error_set(err, errno, "dup pty master");
        if (tether_pump_open(&io->in, fd, err) < 0)
            return -1;
    }
    if (io->buf == NULL)
        io->buf = io_buf_alloc();
    if (stream_start(io, &io->out, TETHER_LOGFMT_STDOUT, err) < 0)
        return -1;
    return from_start(io, err);
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
     * such an orphan keeps writing flat out. What goes to output_to is queued whatever its
     * destination holds, and that copy ends once it is out. */
    if (io->out.open)
        stream_read(&io->out, IO_DRAIN_READS);
    if (io->err.open)
        stream_read(&io->err, IO_DRAIN_READS);
    tether_pump_finish(&io->to);
    poll_stream(&io->out, true);
    poll_stream(&io->err, true);
    if (io->logfile == NULL)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    if ((io->log_no_sync ? tether_logfile_flush(io->logfile, &now, &err)
                         : tether_logfile_flush_and_sync(io->logfile, &now, &err)) < 0)
        log_error(io->log, "container log: %s", err.msg);
}

bool tether_io_stdin_open(const struct tether_io *io)
{
    return tether_pump_is_open(&io->in) && !io->in.close_when_done;
}

ssize_t tether_io_write_stdin(struct tether_io *io, const void *data, size_t len,
                              struct tether_error *err)
{
    ssize_t n;

    if (!tether_io_stdin_open(io))
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "stdin is not open");
    if (tether_pump_pending(&io->in) > 0) {
        n = 0; /* what stdin_from copied goes first */
    } else {
        n = tether_pump_try(&io->in, data, len, err);
        if (n < 0)
            return -1;
    }
    if ((size_t)n < len) {
        io->stdin_waiting = true;
        tether_pump_notify_writable(&io->in);
    }
    return n;
}

int tether_io_close_stdin(struct tether_io *io, struct tether_error *err)
{
    if (!tether_io_stdin_open(io))
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "stdin is not open");
    from_close(io);
    tether_pump_finish(&io->in);
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
    tether_pump_close(&io->in);
    tether_pump_close(&io->to);
    from_close(io);
    close_fd(&io->pty_fd);
    stream_close(&io->out);
    stream_close(&io->err);
    tether_logfile_close(io->logfile);
    io->logfile = NULL;
    tether_journald_close(io->journald);
    io->journald = NULL;
    if (io->buf != NULL)
        munmap(io->buf, IO_READ_BUF);
    io->buf = NULL;
}
