/* The session of tetherctl with one process of a container, shared by run, attach and exec:
 * waits for the process to exit while printing its output (when attached), forwarding
 * stdin through `input` (with -i), the window size (with a terminal) and signals. */
#ifndef TETHER_TETHERCTL_SESSION_H
#define TETHER_TETHERCTL_SESSION_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "tetherctl.h"

/* Bytes of stdin sent in one `input` (its base64 stays far below the shim's line limit). */
#define CTL_INPUT_CHUNK 32768
/* Kill requests whose failures are reported (the latest ones). */
#define CTL_KILL_IDS 8

enum ctl_session_end {
    CTL_SESSION_EXITED,   /* the process exited; the `wait` result is handed out */
    CTL_SESSION_DETACHED, /* Ctrl-P Ctrl-Q: the process goes on */
    CTL_SESSION_FAILED,   /* err says why */
};

struct ctl_input {
    char buf[CTL_INPUT_CHUNK]; /* read from stdin, not yet taken: buf[off..len) */
    size_t off;
    size_t len;
    int64_t id;       /* the `input` request in flight, 0 when none */
    int64_t retry_at; /* ms on the monotonic clock to resend after "stdin is full", or 0 */
    bool eof;         /* stdin is at its end */
    bool done;        /* nothing more is forwarded */
    bool held_ctrl_p; /* the last byte read was Ctrl-P: maybe the start of a detach */
};

struct ctl_session {
    /* Set by the caller after ctl_session_init. */
    const struct ctl *ctl;
    struct tether_client *c;
    const char *exec_id; /* NULL: the container's init */
    bool output;         /* attached: print output notifications */
    bool input;          /* forward stdin */
    bool tty;            /* the process has a terminal */
    bool events;         /* print event notifications */
    /* Private. */
    int sfd; /* signalfd of the forwarded signals and SIGWINCH */
    sigset_t old_mask;
    bool raw; /* stdin is a terminal put in raw mode */
    struct termios saved;
    int forwarded;
    int64_t kill_ids[CTL_KILL_IDS];
    size_t n_kill;
    struct ctl_input in;
};

/* Blocks SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH and SIGPIPE and takes them through a
 * signalfd (signalfd(2)); a shim launched meanwhile gets a clean mask from the client
 * library. */
int ctl_session_init(struct ctl_session *s, const struct ctl *ctl, struct tether_error *err);
/* Restores the terminal and the signal mask; signals that came too late to matter are
 * consumed, not delivered. */
void ctl_session_fini(struct ctl_session *s);
/* A forwardable signal that arrived (before the session runs), or 0. */
int ctl_session_take_signal(struct ctl_session *s);

/* The size of the terminal on stdin (else stdout), 80x24 when it has none; false when
 * neither is a terminal. */
bool ctl_terminal_size(unsigned *width, unsigned *height);
/* Sends the window size and waits for the answer (kind STATE: the process has no
 * terminal). Does nothing without a terminal of our own. */
int ctl_session_resize(struct ctl_session *s, struct tether_error *err);

/* Handles a notification read by the caller: output printed (when attached), events
 * printed (when asked), -1 when the shim dropped the connection. */
int ctl_session_notification(struct ctl_session *s, json_t *msg, struct tether_error *err);

/* Runs the session until the process exits (*result: the `wait` answer, new reference),
 * a detach, or a failure. Notifications queued in the client are handled first. */
enum ctl_session_end ctl_session_run(struct ctl_session *s, json_t **result,
                                     struct tether_error *err);

#endif
