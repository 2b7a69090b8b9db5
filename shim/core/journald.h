/* A process's output sent to the systemd journal, one entry per line, the way container
 * engines read it back (podman filters on CONTAINER_ID_FULL and reads MESSAGE, PRIORITY and
 * CONTAINER_PARTIAL_MESSAGE):
 *  MESSAGE=<the line, with its '\n'>
 *  PRIORITY=6 for stdout, 3 for stderr
 *  CONTAINER_PARTIAL_MESSAGE=true when the entry is a piece of a line: the end of a read
 *    that did not end the line, or a cut of a line longer than TETHER_LOGFMT_LINE_MAX
 *  and every "NAME=value" field the front end gave (the container's id, name, tag, ...).
 * Entries go out with sd_journal_sendv(3) of libsystemd, which is loaded with dlopen when a
 * container asks for the journal: a shim that never logs there never maps libsystemd.
 * sd_journal_sendv writes a datagram to journald's socket; it can block while journald is
 * slow to take it, as every journal client does. */
#ifndef TETHER_SHIM_JOURNALD_H
#define TETHER_SHIM_JOURNALD_H

#include <stddef.h>
#include <sys/uio.h>

#include <tether/core.h>
#include <tether/error.h>

/* Most front-end fields per entry, and the longest one (NAME=value). */
#define TETHER_JOURNALD_FIELDS_MAX    16
#define TETHER_JOURNALD_FIELD_LEN_MAX 1024

struct tether_journald;

/* sd_journal_sendv(3): 0 or a negative errno. */
typedef int (*tether_journald_send_fn)(const struct iovec *iov, int n);

/* Loads libsystemd (kind INTERNAL when it cannot) and checks fields (NULL-terminated
 * "NAME=value" strings, NAME in the journal's field syntax: A-Z, 0-9 and '_', not starting
 * with '_' or a digit; kind INVALID otherwise). The fields are copied. */
struct tether_journald *tether_journald_open(char *const *fields, struct tether_error *err);
/* Same with the entries handed to send instead of libsystemd (unit tests). */
struct tether_journald *tether_journald_open_with(char *const *fields, tether_journald_send_fn send,
                                                  struct tether_error *err);

/* Sends the lines of len bytes of stream's output. A failure is reported once (kind
 * INTERNAL with the errno of the send), then not again until a send succeeded: a journald
 * that is gone does not fill the shim's log with one error per read. */
int tether_journald_write(struct tether_journald *j, enum tether_logfmt_stream stream,
                          const char *data, size_t len, struct tether_error *err);

/* Whether NAME=value is a field tether_journald_open() accepts. */
bool tether_journald_field_valid(const char *field);

/* Unloads libsystemd and frees j (NULL is fine). */
void tether_journald_close(struct tether_journald *j);

#endif
