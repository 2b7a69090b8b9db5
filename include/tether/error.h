/* Errors as values: every fallible function takes a trailing `struct tether_error *err`,
 * returns -1 (or NULL) on failure and fills err; callers add context on the way up.
 * Only main() of a binary prints an error and decides to exit. */
#ifndef TETHER_ERROR_H
#define TETHER_ERROR_H

#include <stddef.h>

/* What kind of failure this is: the protocol front end maps kinds onto its error codes in
 * one place (shim/rpc.c), the CLI onto exit codes. */
enum tether_error_kind {
    TETHER_ERR_NONE = 0,
    TETHER_ERR_INTERNAL,  /* a system call failed; errnum says which error */
    TETHER_ERR_INVALID,   /* bad argument or parameter */
    TETHER_ERR_NOT_FOUND, /* no such container, exec or file */
    TETHER_ERR_STATE,     /* operation not allowed in the current state */
    TETHER_ERR_RUNTIME,   /* the OCI runtime failed; msg carries its own text */
    TETHER_ERR_EXISTS,    /* already exists */
    TETHER_ERR_TOO_LARGE, /* message or input over a bound */
    TETHER_ERR_TIMEOUT,   /* an operation ran out of time */
};

#define TETHER_ERROR_MSG_MAX 1024

struct tether_error {
    enum tether_error_kind kind;
    int errnum; /* errno value when the failure came from the system, else 0 */
    char msg[TETHER_ERROR_MSG_MAX];
};

/* Sets err (kind INTERNAL when errnum != 0, else INVALID) and returns -1. When errnum is
 * non-zero ": strerror(errnum)" is appended. err may be NULL. */
int tether_error_set(struct tether_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets err with an explicit kind and returns -1. */
int tether_error_setk(struct tether_error *err, enum tether_error_kind kind, int errnum,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prepends "context: " to the message already in err; returns -1. */
int tether_error_prefix(struct tether_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Resets err to "no error". */
void tether_error_clear(struct tether_error *err);

#endif
