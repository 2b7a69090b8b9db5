/* A process's stdio as the shim owns it: pipes (or, with a terminal, the pty master the
 * runtime hands over) read by the loop, copied into the log file and to attached
 * clients, and an optional stdin the protocol writes into. Reading never blocks and the
 * log is a regular file, so a container writing flat out is limited by itself. */
#ifndef TETHER_SHIM_IO_H
#define TETHER_SHIM_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>

#include "logfmt.h"

struct tether_logfile;

struct tether_io;

/* Receives output as it is read, after it reached the log (attach). */
typedef void (*tether_io_output_cb)(void *opaque, enum tether_logfmt_stream stream,
                                    const char *data, size_t len);

struct tether_io_stream {
    struct tether_source src;
    struct tether_io *io;
    enum tether_logfmt_stream stream;
    bool open; /* registered in the loop */
};

struct tether_io {
    const struct tether_log *log;
    struct tether_loop *loop;
    struct tether_io_stream out, err;
    int stdin_fd; /* our end of the container's stdin, -1 when none */
    int pty_fd;   /* the pty master in terminal mode (read through out), else -1 */
    bool terminal;
    bool want_stdin;
    bool given;       /* the process got the front end's fds: nothing is read here */
    int child_fds[3]; /* the ends the runtime hands to the process, -1 when none */
    struct tether_logfile *logfile;
    char *buf; /* read buffer, allocated while streams are open */
    tether_io_output_cb on_output;
    void *opaque;
};

void tether_io_init(struct tether_io *io, const struct tether_log *log, struct tether_loop *loop);

/* Opens the log and, without a terminal, makes the pipes (or, with given_stdio, takes
 * copies of the given fds and reads nothing); the runtime child then gets child_fds (all -1
 * with a terminal: the pty comes later through tether_io_set_terminal). */
int tether_io_prepare(struct tether_io *io, const struct tether_process_opts *opts,
                      struct tether_error *err);

/* Terminal mode: the pty master carries stdout and stderr as one stream and takes stdin
 * (when with_stdin was asked). Takes ownership of master_fd and starts reading. */
int tether_io_set_terminal(struct tether_io *io, int master_fd, struct tether_error *err);

/* Sets the terminal size; refused (kind STATE) without a terminal. */
int tether_io_resize(struct tether_io *io, unsigned width, unsigned height,
                     struct tether_error *err);

/* After the runtime was spawned: closes our copies of the child's ends and starts
 * reading. */
int tether_io_start(struct tether_io *io, struct tether_error *err);

/* Reads whatever the process has written so far (until the pipes would block), closes
 * pending partial lines in the log and syncs it: after this, every byte written before
 * the process exited is in the log. */
void tether_io_drain(struct tether_io *io);

/* Writes into the process's stdin (non-blocking; returns bytes taken). */
ssize_t tether_io_write_stdin(struct tether_io *io, const void *data, size_t len,
                              struct tether_error *err);
int tether_io_close_stdin(struct tether_io *io, struct tether_error *err);

/* Reopens the log file at its path (external rotation). */
int tether_io_reopen_log(struct tether_io *io, struct tether_error *err);

/* Stops reading and closes everything. */
void tether_io_close(struct tether_io *io);

#endif
