/* A process's stdio as the core owns it: pipes (or, with a terminal, the pty master the
 * runtime hands over) read by the loop, copied into the log file, to the front end
 * (on_output) and optionally to a front end's fd; a stdin the front end writes into or the
 * core copies from a front end's fd; or, for any stream, a front end's fd handed straight
 * to the process. Nothing blocks: reading stops while a copy's destination is full (the
 * process then waits, as it would on a pipe nobody reads), and the log is a regular file,
 * so a container writing flat out is limited by itself. */
#ifndef TETHER_SHIM_IO_H
#define TETHER_SHIM_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>

#include "logfmt.h"
#include "pump.h"

struct tether_logfile;
struct tether_journald;

struct tether_io;

/* Receives output as it is read, after it reached the log (attach). */
typedef void (*tether_io_output_cb)(void *opaque, enum tether_logfmt_stream stream,
                                    const char *data, size_t len);

struct tether_io_stream {
    struct tether_source src;
    struct tether_io *io;
    enum tether_logfmt_stream stream;
    bool open;   /* the fd is ours (-1 otherwise) */
    bool polled; /* registered in the loop (not while the copy of output waits) */
};

struct tether_io {
    const struct tether_log *log;
    struct tether_loop *loop;
    struct tether_io_stream out, err;
    struct tether_pump in;     /* the process's stdin, when the core holds it */
    struct tether_pump to;     /* output_to: where output is copied, when asked */
    struct tether_source from; /* stdin_from: copied into `in`, -1 when none */
    bool from_polled;          /* `from` is registered (not while `in` is full) */
    bool stdin_waiting;        /* a short input(): tell on_stdin_ready when it drains */
    int pty_fd;                /* the pty master in terminal mode (read through out), else -1 */
    bool terminal;
    bool want_stdin;
    int child_fds[3]; /* the ends the runtime hands to the process, -1 when none */
    struct tether_logfile *logfile;
    struct tether_journald *journald;
    bool log_no_sync; /* the log is not fdatasync()ed at the process's end */
    char *buf;        /* read buffer, allocated while something is read */
    tether_io_output_cb on_output;
    void (*on_stdin_ready)(void *opaque); /* stdin takes data again after a short input */
    void *opaque;
};

void tether_io_init(struct tether_io *io, const struct tether_log *log, struct tether_loop *loop);

/* Opens the log, makes the pipes (or takes copies of the front end's fds) and sets up the
 * copies of opts; the runtime child then gets child_fds (all -1 with a terminal: the pty
 * comes later through tether_io_set_terminal). */
int tether_io_prepare(struct tether_io *io, const struct tether_process_opts *opts,
                      struct tether_error *err);

/* Terminal mode: the pty master carries stdout and stderr as one stream and takes stdin
 * (when asked). Takes ownership of master_fd and starts reading. */
int tether_io_set_terminal(struct tether_io *io, int master_fd, struct tether_error *err);

/* Sets the terminal size; refused (kind STATE) without a terminal. */
int tether_io_resize(struct tether_io *io, unsigned width, unsigned height,
                     struct tether_error *err);

/* After the runtime was spawned: closes our copies of the child's ends and starts
 * reading. */
int tether_io_start(struct tether_io *io, struct tether_error *err);

/* Reads whatever the process has written so far (until the pipes would block), closes
 * pending partial lines in the log and syncs it: after this, every byte written before
 * the process exited is in the log (and queued for output_to, which is closed once that
 * went out). */
void tether_io_drain(struct tether_io *io);

/* Whether the core holds the process's stdin. */
bool tether_io_stdin_open(const struct tether_io *io);
/* Writes into the process's stdin (non-blocking; returns bytes taken; when short,
 * on_stdin_ready runs once stdin takes data again). */
ssize_t tether_io_write_stdin(struct tether_io *io, const void *data, size_t len,
                              struct tether_error *err);
/* Closes stdin once what was copied into it went out. */
int tether_io_close_stdin(struct tether_io *io, struct tether_error *err);

/* Reopens the log file at its path (external rotation). */
int tether_io_reopen_log(struct tether_io *io, struct tether_error *err);

/* Stops reading and closes everything. */
void tether_io_close(struct tether_io *io);

#endif
