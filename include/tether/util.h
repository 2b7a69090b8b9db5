/* Small helpers shared by every binary: allocation that aborts on failure, cleanup
 * attributes, fd and string utilities. */
#ifndef TETHER_UTIL_H
#define TETHER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <tether/error.h>

/* Allocation failure is not recoverable in a shim: these abort with a message instead of
 * returning NULL, so callers have no untestable NULL branches. */
void *xmalloc(size_t size);
void *xzalloc(size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void tether_freep(void *p);
void tether_closep(const int *fd);

#define cleanup_free  __attribute__((cleanup(tether_freep)))
#define cleanup_close __attribute__((cleanup(tether_closep)))

/* Hands ownership out of a cleanup variable: returns the value and leaves NULL / -1. */
#define steal_ptr(p)                                                                               \
    ({                                                                                             \
        __typeof__(p) _stolen = (p);                                                               \
        (p) = NULL;                                                                                \
        _stolen;                                                                                   \
    })
#define steal_fd(fd)                                                                               \
    ({                                                                                             \
        int _stolen = (fd);                                                                        \
        (fd) = -1;                                                                                 \
        _stolen;                                                                                   \
    })

#define TETHER_ARRAY_SIZE(a)            (sizeof(a) / sizeof((a)[0]))
#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Container and exec IDs: ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$ */
bool tether_id_valid(const char *id);

/* Writes all of buf, retrying on EINTR; for blocking fds only. */
int tether_write_all(int fd, const void *buf, size_t len, struct tether_error *err);

/* Reads a whole (small) file into a NUL-terminated buffer; *len_out may be NULL. */
int tether_read_file(const char *path, size_t max, char **out, size_t *len_out,
                     struct tether_error *err);

/* Reads everything from fd's start (lseek 0) up to max bytes; for captured output files. */
int tether_read_fd_all(int fd, size_t max, char **out, size_t *len_out, struct tether_error *err);

/* Atomically replaces path with data: temp file, fsync, rename, fsync of the directory. */
int tether_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             struct tether_error *err);

/* RFC 3339 UTC with nanoseconds, e.g. 2026-11-22T14:13:41.492604010Z (buf >= 40 bytes). */
void tether_format_time(const struct timespec *ts, char *buf, size_t len);

/* Signal names without the SIG prefix ("TERM"), both ways; accepts "SIGTERM", "TERM",
 * "15", "RTMIN+3". Returns -1 when unknown. */
int tether_signal_parse(const char *s);
/* "SIGKILL" for 9; "SIGRTMIN+3"; NULL-free: unknown numbers give "SIG<n>" in buf. */
const char *tether_signal_name(int sig, char *buf, size_t len);

/* Standard base64 (RFC 4648, with padding). encode returns a malloc'd NUL-terminated
 * string; decode returns the decoded length, or -1 on invalid input (out must hold
 * tether_base64_decoded_max(len) bytes). */
char *tether_base64_encode(const void *data, size_t len, size_t *out_len);
size_t tether_base64_decoded_max(size_t len);
ssize_t tether_base64_decode(const char *text, size_t len, void *out);

/* s made safe for a one-line message: printable ASCII kept, anything else as \xNN,
 * truncated to fit buf. Returns buf. */
const char *tether_quote(const char *s, char *buf, size_t len);

/* Receives one message carrying one fd with SCM_RIGHTS (unix(7)); the fd comes CLOEXEC.
 * The message's bytes land in data (up to len; may be NULL/0 to discard them). Returns the
 * fd, or -1 with err (kind NOT_FOUND when the message carried no fd; errnum EAGAIN when a
 * non-blocking socket had nothing yet). */
int tether_recv_fd(int sock, void *data, size_t len, struct tether_error *err);

/* Sets O_NONBLOCK on fd. */
int tether_set_nonblock(int fd, struct tether_error *err);

#endif
