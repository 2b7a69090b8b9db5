/* Blocking client of the tether-shim protocol: line framing over a UNIX stream socket,
 * request ids, a queue for notifications and for responses that arrive while another id is
 * awaited, and the launcher of a detaching shim. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tether/client.h>
#include <tether/util.h>

/* Longest line accepted from a shim (the shim's own default limit is 1 MiB; responses such
 * as `pids` of a large container can exceed that, so the client is more generous). */
#define TETHER_CLIENT_MAX_LINE   (16u * 1024 * 1024)
#define TETHER_CLIENT_READ_CHUNK 65536
/* What is kept of a launched shim's stdout and stderr. */
#define TETHER_CLIENT_LAUNCH_OUTPUT_MAX 65536

struct msg_node {
    json_t *msg;
    struct msg_node *next;
};

struct msg_queue {
    struct msg_node *head;
    struct msg_node *tail;
};

struct tether_client {
    int fd;
    int64_t next_id;
    char *buf; /* unconsumed input is buf[pos..len) */
    size_t pos;
    size_t len;
    size_t cap;
    size_t scan;     /* bytes after pos already known to hold no newline */
    bool discarding; /* dropping the rest of an oversize line */
    bool eof;
    struct msg_queue notifications;
    struct msg_queue responses; /* responses read while waiting for another id */
};

static void queue_push(struct msg_queue *q, json_t *msg)
{
    struct msg_node *n = xmalloc(sizeof(*n));

    n->msg = msg;
    n->next = NULL;
    if (q->tail != NULL)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
}

/* Unlinks the first message for which match() is true (any message when match is NULL). */
static json_t *queue_take(struct msg_queue *q, bool (*match)(json_t *msg, int64_t id), int64_t id)
{
    struct msg_node **link = &q->head;
    struct msg_node *prev = NULL;

    for (struct msg_node *n = q->head; n != NULL; prev = n, link = &n->next, n = n->next) {
        json_t *msg;
        if (match != NULL && !match(n->msg, id))
            continue;
        *link = n->next;
        if (q->tail == n)
            q->tail = prev;
        msg = n->msg;
        free(n);
        return msg;
    }
    return NULL;
}

static void queue_clear(struct msg_queue *q)
{
    json_t *msg;

    while ((msg = queue_take(q, NULL, 0)) != NULL)
        json_decref(msg);
}

static bool response_has_id(json_t *msg, int64_t id)
{
    json_t *jid = json_object_get(msg, "id");

    return json_is_integer(jid) && json_integer_value(jid) == id;
}

static bool is_notification(json_t *msg)
{
    return json_object_get(msg, "id") == NULL;
}

/* A UNIX socket path must fit sun_path; a longer one is reached through its directory,
 * opened with O_PATH, as /proc/self/fd/N/NAME. *dirfd receives that descriptor. */
static int socket_address(const char *path, struct sockaddr_un *addr, int *dirfd,
                          struct tether_error *err)
{
    cleanup_free char *dir = NULL;
    const char *slash, *name;
    int n;

    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) < sizeof(addr->sun_path)) {
        memcpy(addr->sun_path, path, strlen(path) + 1);
        return 0;
    }
    slash = strrchr(path, '/');
    if (slash == NULL || slash[1] == '\0')
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "socket path too long: %s", path);
    name = slash + 1;
    dir = slash == path ? xstrdup("/") : xasprintf("%.*s", (int)(slash - path), path);
    *dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*dirfd < 0)
        return tether_error_setk(err, errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                                 errno, "open %s", dir);
    n = snprintf(addr->sun_path, sizeof(addr->sun_path), "/proc/self/fd/%d/%s", *dirfd, name);
    if (n < 0 || (size_t)n >= sizeof(addr->sun_path))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "socket name too long: %s", name);
    return 0;
}

struct tether_client *tether_client_connect(const char *socket_path, struct tether_error *err)
{
    struct sockaddr_un addr;
    cleanup_close int dirfd = -1;
    cleanup_close int fd = -1;
    struct tether_client *c;

    if (socket_path == NULL || socket_path[0] == '\0') {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "empty socket path");
        return NULL;
    }
    if (socket_address(socket_path, &addr, &dirfd, err) < 0)
        return NULL;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        tether_error_set(err, errno, "socket");
        return NULL;
    }
    if (connect(fd, (const struct sockaddr *)&addr, sizeof(addr)) < 0) {
        bool absent = errno == ENOENT || errno == ECONNREFUSED;
        tether_error_setk(err, absent ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL, errno,
                          "connect %s", socket_path);
        return NULL;
    }
    c = xzalloc(sizeof(*c));
    c->fd = steal_fd(fd);
    c->next_id = 1;
    /* Allocated up front: the buffer is never NULL, which every reader relies on. */
    c->cap = TETHER_CLIENT_READ_CHUNK;
    c->buf = xmalloc(c->cap);
    return c;
}

void tether_client_close(struct tether_client *c)
{
    if (c == NULL)
        return;
    queue_clear(&c->notifications);
    queue_clear(&c->responses);
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    free(c);
}

int tether_client_fd(const struct tether_client *c)
{
    return c->fd;
}

static int send_all(struct tether_client *c, const char *p, size_t len, struct tether_error *err)
{
    while (len > 0) {
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET)
                return tether_error_setk(err, TETHER_ERR_NOT_FOUND, errno, "connection closed");
            return tether_error_set(err, errno, "send");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int64_t tether_client_send(struct tether_client *c, const char *method, json_t *params,
                           struct tether_error *err)
{
    json_auto_t *req = NULL;
    cleanup_free char *line = NULL;
    int64_t id;
    size_t n;

    if (method == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "no method");
    id = c->next_id++;
    req = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)id, "method", method);
    if (req == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "method is not valid UTF-8");
    if (params != NULL && json_object_set(req, "params", params) < 0)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "invalid params");
    /* Compact output never contains a raw newline: jansson escapes them inside strings. */
    line = json_dumps(req, JSON_COMPACT);
    if (line == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "cannot encode %s request", method);
    n = strlen(line);
    line = xrealloc(line, n + 2);
    line[n] = '\n';
    line[n + 1] = '\0';
    if (send_all(c, line, n + 1, err) < 0)
        return tether_error_prefix(err, "send %s", method);
    return id;
}

int tether_client_send_raw(struct tether_client *c, const void *data, size_t len,
                           struct tether_error *err)
{
    return send_all(c, data, len, err);
}

/* Absolute CLOCK_MONOTONIC deadline in ns, or -1 for "never". */
static int64_t deadline_after(int timeout_ms)
{
    struct timespec now;

    if (timeout_ms < 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + (int64_t)timeout_ms * 1000000;
}

static int deadline_remaining_ms(int64_t deadline)
{
    struct timespec now;
    int64_t left;

    if (deadline < 0)
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &now);
    left = deadline - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
    if (left <= 0)
        return 0;
    left = (left + 999999) / 1000000;
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* Finds the next complete line in the buffer; it is NUL-terminated in place. */
static char *buffer_next_line(struct tether_client *c, size_t *line_len)
{
    char *start = c->buf + c->pos;
    char *nl = memchr(start + c->scan, '\n', c->len - c->pos - c->scan);

    if (nl == NULL) {
        c->scan = c->len - c->pos;
        return NULL;
    }
    *nl = '\0';
    *line_len = (size_t)(nl - start);
    c->pos += *line_len + 1;
    c->scan = 0;
    if (c->pos == c->len)
        c->pos = c->len = 0;
    return start;
}

/* While discarding the rest of an oversize line, drops input up to its newline. */
static void buffer_discard(struct tether_client *c)
{
    char *nl = memchr(c->buf + c->pos, '\n', c->len - c->pos);

    c->scan = 0;
    if (nl == NULL) {
        c->pos = c->len = 0;
        return;
    }
    c->pos = (size_t)(nl - c->buf) + 1;
    c->discarding = false;
}

/* Reads once from the socket into the buffer. 0 on data or EOF (c->eof), -1 on error. */
static int buffer_fill(struct tether_client *c, struct tether_error *err)
{
    ssize_t n;

    if (c->pos > 0) {
        memmove(c->buf, c->buf + c->pos, c->len - c->pos);
        c->len -= c->pos;
        c->pos = 0;
    }
    if (c->cap - c->len < TETHER_CLIENT_READ_CHUNK) {
        /* Geometric growth; the line bound keeps cap under MAX_LINE + 2 chunks. */
        size_t cap = c->cap * 2;
        if (cap < c->len + TETHER_CLIENT_READ_CHUNK)
            cap = c->len + TETHER_CLIENT_READ_CHUNK;
        if (cap > TETHER_CLIENT_MAX_LINE + 2 * TETHER_CLIENT_READ_CHUNK)
            cap = TETHER_CLIENT_MAX_LINE + 2 * TETHER_CLIENT_READ_CHUNK;
        c->cap = cap;
        c->buf = xrealloc(c->buf, c->cap);
    }
    /* One byte stays free so that a line can be NUL-terminated in place. */
    n = read(c->fd, c->buf + c->len, c->cap - c->len - 1);
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return 0;
        if (errno == ECONNRESET) {
            c->eof = true;
            return 0;
        }
        return tether_error_set(err, errno, "read from shim");
    }
    if (n == 0) {
        c->eof = true;
        return 0;
    }
    c->len += (size_t)n;
    if (c->discarding)
        buffer_discard(c);
    return 0;
}

static json_t *parse_line(const char *line, size_t len, struct tether_error *err)
{
    json_error_t jerr;
    json_t *msg = json_loadb(line, len, 0, &jerr);

    if (msg == NULL) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "invalid JSON from shim: %s", jerr.text);
        return NULL;
    }
    if (!json_is_object(msg)) {
        json_decref(msg);
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "message from shim is not an object");
        return NULL;
    }
    return msg;
}

static bool blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r')
            return false;
    return true;
}

static json_t *too_large(struct tether_error *err)
{
    tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0, "message from shim larger than %u bytes",
                      TETHER_CLIENT_MAX_LINE);
    return NULL;
}

static json_t *read_message_until(struct tether_client *c, int64_t deadline,
                                  struct tether_error *err)
{
    for (;;) {
        struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
        size_t line_len = 0;
        char *line;
        int r;

        if ((line = buffer_next_line(c, &line_len)) != NULL) {
            if (line_len > TETHER_CLIENT_MAX_LINE)
                return too_large(err);
            if (blank(line, line_len))
                continue;
            return parse_line(line, line_len, err);
        }
        if (c->len - c->pos > TETHER_CLIENT_MAX_LINE) {
            /* No newline in sight: drop what is buffered and the rest of the line. */
            c->pos = c->len = c->scan = 0;
            c->discarding = true;
            return too_large(err);
        }
        if (c->eof) {
            if (c->len > c->pos && !c->discarding)
                tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0,
                                  "connection closed in the middle of a message");
            else
                tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "connection closed");
            return NULL;
        }
        r = poll(&pfd, 1, deadline_remaining_ms(deadline));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            tether_error_set(err, errno, "poll");
            return NULL;
        }
        if (r == 0) {
            tether_error_setk(err, TETHER_ERR_TIMEOUT, 0, "timed out waiting for the shim");
            return NULL;
        }
        if (buffer_fill(c, err) < 0)
            return NULL;
    }
}

json_t *tether_client_read_message(struct tether_client *c, int timeout_ms,
                                   struct tether_error *err)
{
    return read_message_until(c, deadline_after(timeout_ms), err);
}

json_t *tether_client_wait_response(struct tether_client *c, int64_t id, int timeout_ms,
                                    struct tether_error *err)
{
    int64_t deadline = deadline_after(timeout_ms);
    json_t *msg = queue_take(&c->responses, response_has_id, id);

    while (msg == NULL) {
        msg = read_message_until(c, deadline, err);
        if (msg == NULL)
            return NULL;
        if (response_has_id(msg, id))
            break;
        queue_push(is_notification(msg) ? &c->notifications : &c->responses, msg);
        msg = NULL;
    }
    return msg;
}

static enum tether_error_kind kind_of_code(json_int_t code)
{
    switch (code) {
    case TETHER_RPC_NOT_FOUND:
        return TETHER_ERR_NOT_FOUND;
    case TETHER_RPC_INVALID_STATE:
        return TETHER_ERR_STATE;
    case TETHER_RPC_RUNTIME:
        return TETHER_ERR_RUNTIME;
    case TETHER_RPC_EXISTS:
        return TETHER_ERR_EXISTS;
    case TETHER_RPC_TOO_LARGE:
        return TETHER_ERR_TOO_LARGE;
    case TETHER_RPC_PARSE_ERROR:
    case TETHER_RPC_INVALID_REQUEST:
    case TETHER_RPC_METHOD_NOT_FOUND:
    case TETHER_RPC_INVALID_PARAMS:
        return TETHER_ERR_INVALID;
    default:
        return TETHER_ERR_INTERNAL;
    }
}

json_t *tether_client_call(struct tether_client *c, const char *method, json_t *params,
                           int timeout_ms, int *rpc_code, struct tether_error *err)
{
    json_auto_t *resp = NULL;
    json_t *error, *result;
    int64_t id;

    if (rpc_code != NULL)
        *rpc_code = 0;
    id = tether_client_send(c, method, params, err);
    if (id < 0)
        return NULL;
    resp = tether_client_wait_response(c, id, timeout_ms, err);
    if (resp == NULL) {
        tether_error_prefix(err, "%s", method);
        return NULL;
    }
    error = json_object_get(resp, "error");
    if (error != NULL) {
        json_t *jcode = json_object_get(error, "code");
        const char *msg = json_string_value(json_object_get(error, "message"));
        json_int_t code = json_is_integer(jcode) ? json_integer_value(jcode) : TETHER_RPC_INTERNAL;
        if (rpc_code != NULL)
            *rpc_code = code >= INT_MIN && code <= INT_MAX ? (int)code : TETHER_RPC_INTERNAL;
        tether_error_setk(err, kind_of_code(code), 0, "%s", msg != NULL ? msg : "unknown error");
        return NULL;
    }
    result = json_object_get(resp, "result");
    if (result == NULL) {
        tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "%s: response without result or error",
                          method);
        return NULL;
    }
    return json_incref(result);
}

json_t *tether_client_next_notification(struct tether_client *c, int timeout_ms,
                                        struct tether_error *err)
{
    int64_t deadline = deadline_after(timeout_ms);
    json_t *msg = queue_take(&c->notifications, NULL, 0);

    while (msg == NULL) {
        msg = read_message_until(c, deadline, err);
        if (msg == NULL)
            return NULL;
        if (is_notification(msg))
            break;
        queue_push(&c->responses, msg);
        msg = NULL;
    }
    return msg;
}

char *tether_client_socket_path(const char *state_dir, const char *id)
{
    return xasprintf("%s/%s/shim.sock", state_dir, id);
}

struct capture {
    int fd;
    char buf[TETHER_CLIENT_LAUNCH_OUTPUT_MAX];
    size_t len;
};

/* Reads what is available into cap (dropping what exceeds its size); closes the fd at EOF.
 * With nonblock, EAGAIN ends the read like EOF would. */
static void capture_read(struct capture *cap, bool nonblock)
{
    for (;;) {
        char scratch[4096];
        size_t room = sizeof(cap->buf) - 1 - cap->len;
        char *dst = room > 0 ? cap->buf + cap->len : scratch;
        ssize_t n = read(cap->fd, dst, room > 0 ? room : sizeof(scratch));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && !nonblock)
            return;
        if (n <= 0) {
            close(cap->fd);
            cap->fd = -1;
            break;
        }
        if (room > 0)
            cap->len += (size_t)n;
        if (!nonblock)
            return;
    }
}

/* How often the launcher's exit is checked where pidfd_open(2) is unavailable (kernels
 * before 5.3, valgrind). */
#define LAUNCH_POLL_MS 50

/* Collects the launcher's stdout and stderr until it exits. The daemon it leaves behind
 * should not keep these pipes, but if it does, the launcher's exit (seen on a pidfd,
 * pidfd_open(2), or by polling waitpid without one) still ends the wait. */
static void capture_outputs(pid_t pid, struct capture *out, struct capture *errs)
{
    cleanup_close int pidfd = pidfd_open(pid, 0);

    while (out->fd >= 0 || errs->fd >= 0) {
        struct pollfd pfds[3] = {
            {.fd = out->fd, .events = POLLIN},
            {.fd = errs->fd, .events = POLLIN},
            {.fd = pidfd, .events = POLLIN},
        };
        int n = poll(pfds, 3, pidfd >= 0 ? -1 : LAUNCH_POLL_MS);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfds[0].revents != 0)
            capture_read(out, false);
        if (pfds[1].revents != 0)
            capture_read(errs, false);
        if (pfds[2].revents != 0)
            break;
        /* Without a pidfd: WNOWAIT leaves the status for the caller's waitpid. */
        if (pidfd < 0) {
            siginfo_t info = {0};
            if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
                info.si_pid == pid)
                break;
        }
    }
    /* The launcher is gone: take what it wrote without waiting for other writers. */
    if (out->fd >= 0 && tether_set_nonblock(out->fd, NULL) == 0)
        capture_read(out, true);
    if (errs->fd >= 0 && tether_set_nonblock(errs->fd, NULL) == 0)
        capture_read(errs, true);
    out->buf[out->len] = '\0';
    errs->buf[errs->len] = '\0';
}

/* dup2() that also works when fd already is target (then only close-on-exec is cleared). */
static int dup_to(int fd, int target)
{
    if (fd == target)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, target);
}

/* The child side of the launch: stdio wired, signal state reset, exec. An exec failure is
 * reported to the parent as an errno on errpipe (close-on-exec, so success closes it). */
static void __attribute__((noreturn))
launch_child(const char *path, char *const argv[], int out, int errs, int errpipe)
{
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    sigset_t none;
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ssize_t w;
    int e;

    if (devnull < 0 || dup_to(devnull, STDIN_FILENO) < 0 || dup_to(out, STDOUT_FILENO) < 0 ||
        dup_to(errs, STDERR_FILENO) < 0)
        goto fail;
    /* A caller blocking or ignoring signals must not hand that to the shim. */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
    execv(path, argv);
fail:
    e = errno;
    w = write(errpipe, &e, sizeof(e));
    (void)w;
    _exit(127);
}

/* The last non-empty line of s, trimmed, copied into buf. */
static void last_line(const char *s, char *buf, size_t len)
{
    const char *end = s + strlen(s);
    const char *start;

    while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
        end--;
    start = end;
    while (start > s && start[-1] != '\n')
        start--;
    snprintf(buf, len, "%.*s", (int)(end - start), start);
}

static int parse_shim_info(const char *out, struct tether_shim_info *info, struct tether_error *err)
{
    const char *nl = strchr(out, '\n');
    json_auto_t *msg = NULL;
    json_error_t jerr;
    const char *id, *sock;
    json_int_t pid;

    msg = json_loadb(out, nl != NULL ? (size_t)(nl - out) : strlen(out), 0, &jerr);
    if (msg == NULL)
        return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "unexpected output from the shim: %s",
                                 jerr.text);
    if (json_unpack_ex(msg, &jerr, 0, "{s:s, s:I, s:s}", "id", &id, "pid", &pid, "socket", &sock) <
        0)
        return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "unexpected output from the shim: %s",
                                 jerr.text);
    if (pid <= 0 || pid > INT_MAX)
        return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "shim reported pid %lld",
                                 (long long)pid);
    if (strlen(id) >= sizeof(info->id) || strlen(sock) >= sizeof(info->socket))
        return tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0,
                                 "shim reported an over-long id or socket path");
    memcpy(info->id, id, strlen(id) + 1);
    memcpy(info->socket, sock, strlen(sock) + 1);
    info->pid = (pid_t)pid;
    return 0;
}

int tether_client_launch_shim(const char *shim_path, const char *const *args,
                              struct tether_shim_info *info, struct tether_error *err)
{
    cleanup_free char **argv = NULL;
    cleanup_free struct capture *out = xzalloc(sizeof(*out));
    cleanup_free struct capture *errs = xzalloc(sizeof(*errs));
    cleanup_close int errpipe_r = -1;
    int pout[2], perr[2], pexec[2];
    char reason[TETHER_ERROR_MSG_MAX];
    size_t nargs = 0;
    int status, exec_errno = 0;
    ssize_t n;
    pid_t pid;

    while (args != NULL && args[nargs] != NULL)
        nargs++;
    argv = xmalloc((nargs + 2) * sizeof(*argv));
    argv[0] = (char *)shim_path;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = (char *)args[i];
    argv[nargs + 1] = NULL;

    if (pipe2(pout, O_CLOEXEC) < 0)
        return tether_error_set(err, errno, "pipe");
    if (pipe2(perr, O_CLOEXEC) < 0) {
        int e = errno;
        close(pout[0]);
        close(pout[1]);
        return tether_error_set(err, e, "pipe");
    }
    if (pipe2(pexec, O_CLOEXEC) < 0) {
        int e = errno;
        close(pout[0]);
        close(pout[1]);
        close(perr[0]);
        close(perr[1]);
        return tether_error_set(err, e, "pipe");
    }
    pid = fork();
    if (pid == 0)
        launch_child(shim_path, argv, pout[1], perr[1], pexec[1]);
    close(pout[1]);
    close(perr[1]);
    close(pexec[1]);
    out->fd = pout[0];
    errs->fd = perr[0];
    errpipe_r = pexec[0];
    if (pid < 0) {
        int e = errno;
        close(out->fd);
        close(errs->fd);
        return tether_error_set(err, e, "fork");
    }

    do
        n = read(errpipe_r, &exec_errno, sizeof(exec_errno));
    while (n < 0 && errno == EINTR);
    if (n != sizeof(exec_errno))
        exec_errno = 0;
    capture_outputs(pid, out, errs);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return tether_error_set(err, errno, "waitpid %d", (int)pid);

    if (exec_errno != 0)
        return tether_error_setk(err,
                                 exec_errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                                 exec_errno, "exec %s", shim_path);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return parse_shim_info(out->buf, info, err);

    last_line(errs->buf, reason, sizeof(reason));
    if (reason[0] != '\0')
        return tether_error_setk(
            err, strstr(reason, "already exists") != NULL ? TETHER_ERR_EXISTS : TETHER_ERR_INTERNAL,
            0, "%s", reason);
    if (WIFSIGNALED(status)) {
        char name[32];
        return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "%s killed by %s", shim_path,
                                 tether_signal_name(WTERMSIG(status), name, sizeof(name)));
    }
    return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "%s exited with status %d", shim_path,
                             WEXITSTATUS(status));
}
