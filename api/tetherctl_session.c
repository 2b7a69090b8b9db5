/* The interactive (or merely waiting) session with one process: see tetherctl_session.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <tether/util.h>

#include "tetherctl_session.h"

/* After this many forwarded signals the session sends SIGKILL instead: an init that
 * ignores SIGINT and SIGTERM (a shell as PID 1 does) would otherwise never stop. */
#define CTL_SIGNALS_BEFORE_KILL 3
/* How long to wait before offering stdin again to a process whose stdin was full. */
#define CTL_INPUT_RETRY_MS 20

#define CTL_DEFAULT_WIDTH  80
#define CTL_DEFAULT_HEIGHT 24

#define CTRL_P 0x10
#define CTRL_Q 0x11

int ctl_session_init(struct ctl_session *s, const struct ctl *ctl, struct tether_error *err)
{
    sigset_t set;

    memset(s, 0, sizeof(*s));
    s->ctl = ctl;
    s->sfd = -1;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGWINCH);
    /* Blocked, not in the signalfd: a closed stdout shows as EPIPE. */
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, &s->old_mask);
    sigdelset(&set, SIGPIPE);
    s->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (s->sfd < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
        return tether_error_set(err, e, "signalfd");
    }
    return 0;
}

static void leave_raw(struct ctl_session *s)
{
    if (!s->raw)
        return;
    tcsetattr(STDIN_FILENO, TCSADRAIN, &s->saved);
    s->raw = false;
}

/* Raw mode (termios(3) cfmakeraw): keys reach the container's terminal as typed, Ctrl-C
 * included, and its output is shown as it comes. */
static void enter_raw(struct ctl_session *s)
{
    struct termios raw;

    if (!s->tty || !s->input || !isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &s->saved) < 0)
        return;
    raw = s->saved;
    cfmakeraw(&raw);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
        s->raw = true;
}

/* Our own lines (events, notices) are written with the terminal restored for a moment, so
 * that they start at the left margin. */
static bool cooked_begin(struct ctl_session *s)
{
    bool was_raw = s->raw;

    leave_raw(s);
    return was_raw;
}

static void cooked_end(struct ctl_session *s, bool was_raw)
{
    fflush(stdout);
    if (was_raw)
        enter_raw(s);
}

void ctl_session_fini(struct ctl_session *s)
{
    struct signalfd_siginfo si;
    struct timespec none = {0};
    sigset_t pipe_only;

    leave_raw(s);
    if (s->sfd < 0)
        return;
    while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    close(s->sfd);
    s->sfd = -1;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    while (sigtimedwait(&pipe_only, NULL, &none) > 0)
        ;
    sigprocmask(SIG_SETMASK, &s->old_mask, NULL);
}

int ctl_session_take_signal(struct ctl_session *s)
{
    struct signalfd_siginfo si;

    while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        if (si.ssi_signo != SIGWINCH)
            return (int)si.ssi_signo;
    return 0;
}

bool ctl_terminal_size(unsigned *width, unsigned *height)
{
    struct winsize ws;

    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) < 0)
        return false;
    /* A terminal that was never sized reports 0x0: the usual 80x24 then. */
    *width = ws.ws_col != 0 ? ws.ws_col : CTL_DEFAULT_WIDTH;
    *height = ws.ws_row != 0 ? ws.ws_row : CTL_DEFAULT_HEIGHT;
    return true;
}

static json_t *resize_params(struct ctl_session *s)
{
    unsigned width, height;
    json_t *params;

    if (!ctl_terminal_size(&width, &height))
        return NULL;
    params = json_pack("{s:i, s:i}", "width", (int)width, "height", (int)height);
    if (s->exec_id != NULL)
        json_object_set_new(params, "exec_id", json_string(s->exec_id));
    return params;
}

int ctl_session_resize(struct ctl_session *s, struct tether_error *err)
{
    json_auto_t *params = resize_params(s);
    json_auto_t *result = NULL;

    if (params == NULL)
        return 0;
    result = tether_client_call(s->c, "resize", params, -1, NULL, err);
    return result != NULL ? 0 : -1;
}

/* On SIGWINCH: the answer is not awaited (a failure only means the process is gone). */
static int send_resize(struct ctl_session *s, struct tether_error *err)
{
    json_auto_t *params = resize_params(s);

    if (params == NULL || !s->tty)
        return 0;
    return tether_client_send(s->c, "resize", params, err) < 0 ? -1 : 0;
}

static json_t *with_exec_id(struct ctl_session *s, json_t *params)
{
    if (s->exec_id != NULL)
        json_object_set_new(params, "exec_id", json_string(s->exec_id));
    return params;
}

static int forward_signal(struct ctl_session *s, int sig, struct tether_error *err)
{
    json_auto_t *params = NULL;
    char name[32];
    int64_t id;

    if (++s->forwarded >= CTL_SIGNALS_BEFORE_KILL) {
        bool was_raw = cooked_begin(s);
        sig = SIGKILL;
        fprintf(stderr, "tetherctl: sending SIGKILL to %s%s%s\n", s->ctl->id,
                s->exec_id != NULL ? " exec " : "", s->exec_id != NULL ? s->exec_id : "");
        cooked_end(s, was_raw);
    }
    params = with_exec_id(s, json_pack("{s:i}", "signal", sig));
    id = tether_client_send(s->c, "kill", params, err);
    if (id < 0)
        return tether_error_prefix(err, "forward %s", tether_signal_name(sig, name, sizeof(name)));
    s->kill_ids[s->n_kill++ % CTL_KILL_IDS] = id;
    return 0;
}

static int handle_signals(struct ctl_session *s, struct tether_error *err)
{
    struct signalfd_siginfo si;

    while (read(s->sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        int rc = si.ssi_signo == SIGWINCH ? send_resize(s, err)
                                          : forward_signal(s, (int)si.ssi_signo, err);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ---- stdin ---- */

static int send_input(struct ctl_session *s, struct tether_error *err)
{
    struct ctl_input *in = &s->in;
    cleanup_free char *data = tether_base64_encode(in->buf + in->off, in->len - in->off, NULL);
    json_auto_t *params = with_exec_id(s, json_pack("{s:s}", "data", data));

    in->id = tether_client_send(s->c, "input", params, err);
    return in->id < 0 ? -1 : 0;
}

/* Everything read was taken: at the end of stdin, a pipe is closed (EOF for the
 * process); a terminal is left open, its EOF being a key of its own. */
static int input_drained(struct ctl_session *s, struct tether_error *err)
{
    struct ctl_input *in = &s->in;
    json_auto_t *params = NULL;

    in->off = in->len = 0;
    if (!in->eof || in->done)
        return 0;
    in->done = true;
    if (s->tty)
        return 0;
    params = with_exec_id(s, json_object());
    return tether_client_send(s->c, "close_stdin", params, err) < 0 ? -1 : 0;
}

/* "stdin is full: W of N bytes written": W were taken, the rest is sent again. */
static size_t written_before_full(const char *msg)
{
    const char *p = strstr(msg, "stdin is full: ");
    char *end;
    unsigned long long w;

    if (p == NULL)
        return 0;
    p += strlen("stdin is full: ");
    errno = 0;
    w = strtoull(p, &end, 10);
    if (errno != 0 || end == p || strncmp(end, " of ", 4) != 0)
        return 0;
    return (size_t)w;
}

static int input_answer(struct ctl_session *s, json_t *msg, struct tether_error *err)
{
    struct ctl_input *in = &s->in;
    json_t *error = json_object_get(msg, "error");
    size_t pending = in->len - in->off;
    size_t taken;

    in->id = 0;
    if (error != NULL) {
        json_int_t code = json_integer_value(json_object_get(error, "code"));
        const char *text = json_string_value(json_object_get(error, "message"));
        if (code != TETHER_RPC_INVALID_STATE || text == NULL ||
            strstr(text, "stdin is full") == NULL) {
            /* The process's stdin is closed or gone: nothing more to forward. */
            in->done = true;
            in->off = in->len = 0;
            return 0;
        }
        taken = written_before_full(text);
        in->off += taken < pending ? taken : pending;
        in->retry_at = ctl_now_ms() + CTL_INPUT_RETRY_MS;
        return 0;
    }
    taken = (size_t)json_integer_value(json_object_get(json_object_get(msg, "result"), "written"));
    in->off += taken < pending ? taken : pending;
    if (in->off < in->len)
        return send_input(s, err); /* a short write: the rest at once */
    return input_drained(s, err);
}

/* Copies src into the input buffer minus the detach sequence; true when Ctrl-P Ctrl-Q was
 * typed (the bytes before it are kept). */
static bool filter_detach(struct ctl_input *in, const char *src, size_t n, bool keys)
{
    for (size_t i = 0; i < n; i++) {
        char b = src[i];
        if (!keys) {
            in->buf[in->len++] = b;
            continue;
        }
        if (in->held_ctrl_p) {
            in->held_ctrl_p = false;
            if (b == CTRL_Q)
                return true;
            in->buf[in->len++] = CTRL_P;
        }
        if (b == CTRL_P)
            in->held_ctrl_p = true;
        else
            in->buf[in->len++] = b;
    }
    return false;
}

/* Reads what stdin has; sets *detach on Ctrl-P Ctrl-Q. */
static int read_stdin(struct ctl_session *s, bool *detach, struct tether_error *err)
{
    struct ctl_input *in = &s->in;
    char chunk[CTL_INPUT_CHUNK - 1]; /* a held Ctrl-P may come out in front */
    bool keys = isatty(STDIN_FILENO);
    ssize_t n;

    do
        n = read(STDIN_FILENO, chunk, sizeof(chunk));
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return 0;
    in->off = in->len = 0;
    if (n <= 0) {
        /* EOF, or EIO from a terminal that hung up. */
        in->eof = true;
        if (in->held_ctrl_p) {
            in->held_ctrl_p = false;
            in->buf[in->len++] = CTRL_P;
        }
    } else {
        *detach = filter_detach(in, chunk, (size_t)n, keys);
    }
    if (in->len > 0)
        return send_input(s, err);
    return *detach ? 0 : input_drained(s, err);
}

static bool want_stdin(const struct ctl_session *s)
{
    const struct ctl_input *in = &s->in;

    return s->input && !in->done && !in->eof && in->id == 0 && in->retry_at == 0 &&
           in->off == in->len;
}

/* ---- messages from the shim ---- */

static int write_output(struct ctl_session *s, json_t *params, struct tether_error *err)
{
    const char *data = json_string_value(json_object_get(params, "data"));
    const char *stream = json_string_value(json_object_get(params, "stream"));
    cleanup_free char *raw = NULL;
    ssize_t n;
    int fd;

    if (data == NULL)
        return 0;
    raw = xmalloc(tether_base64_decoded_max(strlen(data)) + 1);
    n = tether_base64_decode(data, strlen(data), raw);
    if (n <= 0)
        return 0;
    fd = stream != NULL && strcmp(stream, "stderr") == 0 && !s->tty ? STDERR_FILENO : STDOUT_FILENO;
    if (tether_write_all(fd, raw, (size_t)n, err) < 0)
        return tether_error_prefix(err, "write %s", fd == STDOUT_FILENO ? "stdout" : "stderr");
    return 0;
}

int ctl_session_notification(struct ctl_session *s, json_t *msg, struct tether_error *err)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");

    if (method == NULL)
        return 0;
    if (strcmp(method, "output") == 0)
        return s->output ? write_output(s, params, err) : 0;
    if (strcmp(method, "dropped") == 0) {
        const char *why = json_string_value(json_object_get(params, "reason"));
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "the shim dropped this client: %s",
                                 why != NULL ? why : "no reason given");
    }
    if (strcmp(method, "event") == 0 && s->events) {
        bool was_raw = cooked_begin(s);
        ctl_print_event(s->ctl, msg);
        cooked_end(s, was_raw);
    }
    return 0;
}

static bool is_kill_id(const struct ctl_session *s, int64_t id)
{
    for (size_t i = 0; i < CTL_KILL_IDS && i < s->n_kill; i++)
        if (s->kill_ids[i] == id)
            return true;
    return false;
}

/* One message read while the session runs; *end is set when it ends the session. */
static int handle_message(struct ctl_session *s, json_t *msg, int64_t wait_id, json_t **result,
                          bool *end, struct tether_error *err)
{
    json_t *jid = json_object_get(msg, "id");
    json_t *error = json_object_get(msg, "error");
    const char *text = json_string_value(json_object_get(error, "message"));
    int64_t id;

    if (jid == NULL)
        return ctl_session_notification(s, msg, err);
    id = json_integer_value(jid);
    if (id == wait_id) {
        *end = true;
        if (error != NULL)
            return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "wait: %s",
                                     text != NULL ? text : "failed");
        *result = json_incref(json_object_get(msg, "result"));
        return 0;
    }
    if (s->in.id != 0 && id == s->in.id)
        return input_answer(s, msg, err);
    if (error != NULL && is_kill_id(s, id)) {
        bool was_raw = cooked_begin(s);
        fprintf(stderr, "tetherctl: kill: %s\n", text != NULL ? text : "failed");
        cooked_end(s, was_raw);
    }
    /* Answers to resize and close_stdin: a failure means the process is gone, which the
     * wait tells. */
    return 0;
}

/* Notifications that came in while the caller was making calls. */
static int handle_queued(struct ctl_session *s, struct tether_error *err)
{
    json_t *n;
    struct tether_error none = {0};

    while ((n = tether_client_next_notification(s->c, 0, &none)) != NULL) {
        int rc = ctl_session_notification(s, n, err);
        json_decref(n);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Sleeps until the shim writes, stdin has something, a signal comes or a retry is due. */
static int wait_for_work(struct ctl_session *s, bool *detach, struct tether_error *err)
{
    bool read_in = want_stdin(s);
    struct pollfd pfds[3] = {
        {.fd = tether_client_fd(s->c), .events = POLLIN},
        {.fd = s->sfd, .events = POLLIN},
        {.fd = read_in ? STDIN_FILENO : -1, .events = POLLIN},
    };
    int timeout = -1;

    if (s->in.retry_at != 0) {
        int64_t left = s->in.retry_at - ctl_now_ms();
        timeout = left > 0 ? (int)left : 0;
    }
    if (poll(pfds, 3, timeout) < 0 && errno != EINTR)
        return tether_error_set(err, errno, "poll");
    if ((pfds[1].revents & POLLIN) != 0 && handle_signals(s, err) < 0)
        return -1;
    if (s->in.retry_at != 0 && ctl_now_ms() >= s->in.retry_at) {
        s->in.retry_at = 0;
        if (send_input(s, err) < 0)
            return -1;
    }
    if (read_in && pfds[2].revents != 0)
        return read_stdin(s, detach, err);
    return 0;
}

static enum ctl_session_end session_loop(struct ctl_session *s, json_t **result,
                                         struct tether_error *err)
{
    json_auto_t *params = with_exec_id(s, json_object());
    int64_t wait_id;

    if (handle_queued(s, err) < 0)
        return CTL_SESSION_FAILED;
    wait_id = tether_client_send(s->c, "wait", params, err);
    if (wait_id < 0)
        return CTL_SESSION_FAILED;
    for (;;) {
        json_auto_t *msg = tether_client_read_message(s->c, 0, err);
        bool end = false, detach = false;

        if (msg != NULL) {
            if (handle_message(s, msg, wait_id, result, &end, err) < 0)
                return CTL_SESSION_FAILED;
            if (end)
                return CTL_SESSION_EXITED;
            continue;
        }
        if (err->kind == TETHER_ERR_INVALID || err->kind == TETHER_ERR_TOO_LARGE) {
            bool was_raw = cooked_begin(s);
            ctl_fail(err, CTL_EXIT_FAILED); /* one bad line; the stream goes on */
            cooked_end(s, was_raw);
            continue;
        }
        if (err->kind != TETHER_ERR_TIMEOUT)
            return CTL_SESSION_FAILED;
        tether_error_clear(err);
        /* Nothing buffered: sleep until there is something to do. */
        if (wait_for_work(s, &detach, err) < 0)
            return CTL_SESSION_FAILED;
        if (detach)
            return CTL_SESSION_DETACHED;
    }
}

enum ctl_session_end ctl_session_run(struct ctl_session *s, json_t **result,
                                     struct tether_error *err)
{
    enum ctl_session_end end;

    *result = NULL;
    /* A process started again by a restart policy has a fresh stdin. */
    s->in.id = 0;
    s->in.retry_at = 0;
    s->in.off = s->in.len = 0;
    s->in.done = s->in.eof;
    enter_raw(s);
    end = session_loop(s, result, err);
    leave_raw(s);
    if (end == CTL_SESSION_FAILED && err->kind == TETHER_ERR_NOT_FOUND)
        tether_error_prefix(err, "waiting for %s", s->ctl->id);
    return end;
}
