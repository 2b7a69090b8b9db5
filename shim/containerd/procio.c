#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <tether/util.h>

#include "procio.h"

/* ---- URIs ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The n bytes at s with %XX decoded (and '+' as a space in a query); NULL when a % is not
 * followed by two hex digits or a byte decodes to NUL. */
static char *unescape(const char *s, size_t n, bool query)
{
    char *out = xmalloc(n + 1);
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 1 < n ? hexval(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && query) {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

static size_t scheme_len(const char *s)
{
    size_t i = 0;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    for (i = 1; s[i] != '\0' && s[i] != ':'; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '-' || c == '.'))
            return 0;
    }
    return s[i] == ':' ? i : 0;
}

/* Appends the query's arguments: each key once (its first value), in order. */
static int parse_query(const char *q, struct tether_ctrd_uri *uri, struct tether_error *err)
{
    size_t n = 0;

    while (*q != '\0') {
        size_t len = strcspn(q, "&"), klen = strcspn(q, "=&");
        char *key, *value;
        bool dup = false;

        if (len > 0) {
            key = unescape(q, klen, true);
            value = klen < len ? unescape(q + klen + 1, len - klen - 1, true) : xstrdup("");
            if (key == NULL || value == NULL) {
                free(key);
                free(value);
                return tether_error_setk(err, TETHER_ERR_INVALID, 0, "bad escape in the query");
            }
            for (size_t i = 0; i < n; i += 2)
                dup = dup || strcmp(uri->args[i], key) == 0;
            if (dup) {
                free(key);
                free(value);
            } else {
                uri->args = xrealloc(uri->args, (n + 3) * sizeof(char *));
                uri->args[n++] = key;
                uri->args[n++] = value;
                uri->args[n] = NULL;
            }
        }
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}

int tether_ctrd_uri_parse(const char *text, struct tether_ctrd_uri *uri, struct tether_error *err)
{
    size_t slen = scheme_len(text), plen;
    const char *rest = text, *path;

    memset(uri, 0, sizeof(*uri));
    uri->args = xzalloc(sizeof(char *));
    if (strlen(text) > TETHER_CTRD_STDIO_MAX)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "stdio URI too long");
    if (slen == 0) {
        /* A plain path (a FIFO): taken as it is. */
        uri->path = xstrdup(text);
        return 0;
    }
    if (slen >= sizeof(uri->scheme))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "unknown stdio scheme");
    for (size_t i = 0; i < slen; i++)
        uri->scheme[i] = (char)(text[i] >= 'A' && text[i] <= 'Z' ? text[i] - 'A' + 'a' : text[i]);
    rest = text + slen + 1;
    if (strncmp(rest, "//", 2) == 0) {
        rest += 2;
        rest += strcspn(rest, "/?#"); /* the host: not used */
    }
    path = rest;
    plen = strcspn(path, "?#");
    uri->path = unescape(path, plen, false);
    if (uri->path == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "bad escape in the stdio URI path");
    if (path[plen] == '?') {
        const char *q = path + plen + 1;
        size_t qlen = strcspn(q, "#");
        cleanup_free char *query = xmalloc(qlen + 1);
        memcpy(query, q, qlen);
        query[qlen] = '\0';
        if (parse_query(query, uri, err) < 0)
            return -1;
    }
    return 0;
}

void tether_ctrd_uri_fini(struct tether_ctrd_uri *uri)
{
    for (size_t i = 0; uri->args != NULL && uri->args[i] != NULL; i++)
        free(uri->args[i]);
    free(uri->args);
    free(uri->path);
    memset(uri, 0, sizeof(*uri));
}

/* ---- loggers ---- */

struct tether_ctrd_logger {
    struct tether_ctrd_stdio_ctx *ctx;
    struct tether_ctrd_stdio *owner; /* NULL once its process was deleted */
    pid_t pid;
    struct tether_source pidfd_src; /* readable once the logger exited */
    struct tether_source ready_src; /* the ready pipe, while it is awaited */
    int exec_err_fd;                /* the child's errno if it could not exec */
    struct tether_timer timer;      /* the ready limit, then the SIGTERM grace */
    bool exited;
    void (*ready)(void *opaque, const struct tether_error *err);
    void *opaque;
    struct tether_ctrd_logger *next;
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void logger_stop_ready(struct tether_ctrd_logger *lg)
{
    if (lg->ready_src.fd >= 0) {
        tether_loop_remove(lg->ctx->loop, &lg->ready_src);
        close_fd(&lg->ready_src.fd);
    }
    close_fd(&lg->exec_err_fd);
    lg->ready = NULL;
}

static void logger_free(struct tether_ctrd_logger *lg)
{
    struct tether_ctrd_logger **pp;

    for (pp = &lg->ctx->loggers; *pp != NULL; pp = &(*pp)->next)
        if (*pp == lg) {
            *pp = lg->next;
            break;
        }
    logger_stop_ready(lg);
    if (lg->pidfd_src.fd >= 0) {
        tether_loop_remove(lg->ctx->loop, &lg->pidfd_src);
        close_fd(&lg->pidfd_src.fd);
    }
    tether_timer_fini(&lg->timer);
    free(lg);
}

static void logger_signal(struct tether_ctrd_logger *lg, int sig)
{
    /* Through the pidfd: the pid may have been reaped and reused. */
    if (!lg->exited && lg->pidfd_src.fd >= 0)
        syscall(SYS_pidfd_send_signal, lg->pidfd_src.fd, sig, NULL, 0);
}

/* The logger is ready (or failed, err set): tells whoever waits, once. */
static void logger_ready(struct tether_ctrd_logger *lg, const struct tether_error *err)
{
    void (*ready)(void *, const struct tether_error *) = lg->ready;
    void *opaque = lg->opaque;

    tether_timer_disarm(&lg->timer);
    logger_stop_ready(lg);
    if (ready != NULL)
        ready(opaque, err);
}

static void ready_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_ctrd_logger *lg = container_of(src, struct tether_ctrd_logger, ready_src);
    struct tether_error err = {0};
    char byte;
    int child_errno = 0;
    ssize_t n;

    (void)loop;
    (void)revents;
    n = read(src->fd, &byte, 1);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    /* A byte or the end of the pipe: ready, unless the logger never ran. */
    if (n <= 0 &&
        read(lg->exec_err_fd, &child_errno, sizeof(child_errno)) == (ssize_t)sizeof(child_errno)) {
        tether_error_set(&err, child_errno, "binary logger");
        logger_ready(lg, &err);
        return;
    }
    logger_ready(lg, NULL);
}

static void pidfd_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_ctrd_logger *lg = container_of(src, struct tether_ctrd_logger, pidfd_src);

    (void)revents;
    lg->exited = true;
    tether_loop_remove(loop, src);
    close_fd(&src->fd);
    if (lg->owner == NULL)
        logger_free(lg);
}

static void timer_fired(struct tether_timer *timer)
{
    struct tether_ctrd_logger *lg = container_of(timer, struct tether_ctrd_logger, timer);
    struct tether_error err = {0};

    if (lg->ready != NULL) {
        tether_error_setk(&err, TETHER_ERR_TIMEOUT, 0,
                          "binary logger gave no sign of readiness within %d ms",
                          TETHER_CTRD_LOGGER_READY_MS);
        logger_ready(lg, &err);
        return;
    }
    log_warn(lg->ctx->log, "binary logger %d ignored SIGTERM: killing it", (int)lg->pid);
    logger_signal(lg, SIGKILL);
}

/* The logger's process, after fork: fds 3, 4 and 5 are the output pipes' read ends and the
 * ready pipe's write end; fd 6 reports a failed exec (close-on-exec); nothing else is
 * inherited. */
static void __attribute__((noreturn))
logger_child(const struct tether_ctrd_uri *uri, const struct tether_ctrd_stdio_config *cfg,
             const int fds[3], int err_fd)
{
    cleanup_free char *env_id = xasprintf("CONTAINER_ID=%s", cfg->id);
    cleanup_free char *env_ns = xasprintf("CONTAINER_NAMESPACE=%s", cfg->ns);
    char *envp[] = {env_id, env_ns, NULL};
    int high[4], null = open("/dev/null", O_RDWR), i, e;
    size_t n = 0;
    char **argv;
    sigset_t none;

    while (uri->args[n] != NULL)
        n++;
    argv = xzalloc((n + 2) * sizeof(char *));
    argv[0] = uri->path;
    memcpy(argv + 1, uri->args, n * sizeof(char *));
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    /* Everything above the targets first, so that no dup2 overwrites a source. */
    for (i = 0; i < 4; i++) {
        high[i] = fcntl(i < 3 ? fds[i] : err_fd, F_DUPFD, 16);
        if (high[i] < 0)
            goto fail;
    }
    err_fd = high[3];
    for (i = 0; i < 4; i++)
        if (dup2(high[i], 3 + i) < 0)
            goto fail;
    err_fd = 6;
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        goto fail;
    if (fcntl(err_fd, F_SETFD, FD_CLOEXEC) < 0 || (cfg->cwd != NULL && chdir(cfg->cwd) < 0))
        goto fail;
    if (syscall(SYS_close_range, 7, ~0u, 0) < 0)
        for (i = 7; i < 4096; i++)
            close(i);
    execve(uri->path, argv, envp);
fail:
    e = errno;
    if (write(err_fd, &e, sizeof(e)) < 0)
        _exit(127);
    _exit(127);
}

static int logger_start(struct tether_ctrd_stdio *st, const struct tether_ctrd_stdio_config *cfg,
                        const struct tether_ctrd_uri *uri, int out_rd, int err_rd,
                        struct tether_error *err)
{
    struct tether_ctrd_logger *lg;
    int ready[2], errp[2], fds[3];
    pid_t pid;

    if (uri->path[0] != '/')
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "binary logger path must be absolute");
    if (pipe2(ready, O_CLOEXEC) < 0)
        return tether_error_set(err, errno, "pipe");
    if (pipe2(errp, O_CLOEXEC | O_NONBLOCK) < 0) {
        close(ready[0]);
        close(ready[1]);
        return tether_error_set(err, errno, "pipe");
    }
    fds[0] = out_rd, fds[1] = err_rd, fds[2] = ready[1];
    pid = fork();
    if (pid == 0)
        logger_child(uri, cfg, fds, errp[1]);
    close(ready[1]);
    close(errp[1]);
    if (pid < 0) {
        close(ready[0]);
        close(errp[0]);
        return tether_error_set(err, errno, "fork");
    }
    lg = xzalloc(sizeof(*lg));
    lg->ctx = st->ctx;
    lg->owner = st;
    lg->pid = pid;
    lg->exec_err_fd = errp[0];
    lg->ready_src.fd = ready[0];
    lg->ready_src.events = EPOLLIN;
    lg->ready_src.cb = ready_cb;
    lg->pidfd_src.fd = (int)syscall(SYS_pidfd_open, pid, 0);
    lg->pidfd_src.events = EPOLLIN;
    lg->pidfd_src.cb = pidfd_cb;
    tether_timer_init(&lg->timer, st->ctx->loop, timer_fired);
    lg->next = st->ctx->loggers;
    st->ctx->loggers = lg;
    st->logger = lg;
    if (lg->pidfd_src.fd < 0)
        /* pidfd_open(2) needs Linux 5.3: without it the logger is not signalled at delete
         * (it still sees the end of its input when the container's processes are gone). */
        log_debug(st->ctx->log, "binary logger %d: no pidfd: %s", (int)pid, strerror(errno));
    if ((lg->pidfd_src.fd >= 0 && tether_loop_add(st->ctx->loop, &lg->pidfd_src, err) < 0) ||
        tether_loop_add(st->ctx->loop, &lg->ready_src, err) < 0 ||
        tether_timer_arm(&lg->timer, TETHER_CTRD_LOGGER_READY_MS, err) < 0) {
        kill(pid, SIGKILL); /* not reaped yet: the pid is still its own */
        return -1;
    }
    log_debug(st->ctx->log, "binary logger %s started for %s (pid %d)", uri->path, cfg->id,
              (int)pid);
    return 0;
}

/* ---- opening ---- */

void tether_ctrd_stdio_ctx_init(struct tether_ctrd_stdio_ctx *ctx, struct tether_loop *loop,
                                const struct tether_log *log)
{
    ctx->loop = loop;
    ctx->log = log;
    ctx->loggers = NULL;
}

void tether_ctrd_stdio_ctx_fini(struct tether_ctrd_stdio_ctx *ctx)
{
    while (ctx->loggers != NULL) {
        struct tether_ctrd_logger *lg = ctx->loggers;
        if (lg->owner != NULL)
            lg->owner->logger = NULL;
        logger_free(lg);
    }
}

void tether_ctrd_stdio_init(struct tether_ctrd_stdio *st, struct tether_ctrd_stdio_ctx *ctx)
{
    st->ctx = ctx;
    st->stdin_keep = -1;
    st->out_keep[0] = st->out_keep[1] = -1;
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(st->fds); i++)
        st->fds[i] = -1;
    st->logger = NULL;
}

enum { FD_STDIN, FD_STDOUT, FD_STDERR, FD_FROM, FD_TO };

/* A FIFO's read end and write end, both without waiting for the other side: the read end
 * first, so that opening the write end finds a reader. */
static int open_fifo(const char *path, int *rd, int *wr, struct tether_error *err)
{
    struct stat stbuf;

    *rd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (*rd < 0)
        return tether_error_set(err, errno, "open %s", path);
    if (fstat(*rd, &stbuf) < 0 || !S_ISFIFO(stbuf.st_mode)) {
        close_fd(rd);
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "%s is not a FIFO", path);
    }
    *wr = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (*wr < 0) {
        int e = errno;
        close_fd(rd);
        return tether_error_set(err, e, "open %s", path);
    }
    return 0;
}

/* The write end handed to the process blocks, as a pipe would. */
static int make_blocking(int fd, struct tether_error *err)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        return tether_error_set(err, errno, "fcntl");
    return 0;
}

static int open_stdin(struct tether_ctrd_stdio *st, const char *path,
                      struct tether_process_opts *proc, struct tether_error *err)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    if (open_fifo(path, &st->fds[FD_FROM], &st->stdin_keep, err) < 0)
        return -1;
    proc->stdin = true;
    proc->stdin_from = st->fds[FD_FROM];
    return 0;
}

/* stdout (i = 1) or stderr (i = 2) as a FIFO. */
static int open_out_fifo(struct tether_ctrd_stdio *st, int i, const char *path,
                         struct tether_error *err)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    if (open_fifo(path, &st->out_keep[i - 1], &st->fds[i], err) < 0 ||
        make_blocking(st->fds[i], err) < 0)
        return -1;
    return 0;
}

static int open_file(struct tether_ctrd_stdio *st, const char *path, struct tether_error *err)
{
    cleanup_free char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/'), *p;

    if (path[0] != '/')
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "file:// path must be absolute");
    *slash = '\0';
    for (p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            return tether_error_set(err, errno, "mkdir %s", dir);
        *p = '/';
    }
    if (dir[0] != '\0' && mkdir(dir, 0755) < 0 && errno != EEXIST)
        return tether_error_set(err, errno, "mkdir %s", dir);
    st->fds[FD_STDOUT] = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (st->fds[FD_STDOUT] < 0)
        return tether_error_set(err, errno, "open %s", path);
    st->fds[FD_STDERR] = fcntl(st->fds[FD_STDOUT], F_DUPFD_CLOEXEC, 3);
    if (st->fds[FD_STDERR] < 0)
        return tether_error_set(err, errno, "dup");
    return 0;
}

static int open_binary(struct tether_ctrd_stdio *st, const struct tether_ctrd_stdio_config *cfg,
                       const struct tether_ctrd_uri *uri, struct tether_error *err)
{
    int out[2], errp[2], rc;

    if (pipe2(out, O_CLOEXEC) < 0)
        return tether_error_set(err, errno, "pipe");
    if (pipe2(errp, O_CLOEXEC) < 0) {
        close(out[0]);
        close(out[1]);
        return tether_error_set(err, errno, "pipe");
    }
    st->fds[FD_STDOUT] = out[1];
    st->fds[FD_STDERR] = errp[1];
    rc = logger_start(st, cfg, uri, out[0], errp[0], err);
    close(out[0]);
    close(errp[0]);
    return rc;
}

static int open_null(struct tether_ctrd_stdio *st, int i, struct tether_error *err)
{
    st->fds[i] = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (st->fds[i] < 0)
        return tether_error_set(err, errno, "open /dev/null");
    return 0;
}

static int open_outputs(struct tether_ctrd_stdio *st, const struct tether_ctrd_stdio_config *cfg,
                        struct tether_error *err)
{
    struct tether_ctrd_uri uri;
    const char *out = cfg->stdout_uri != NULL ? cfg->stdout_uri : "";
    const char *errs = cfg->stderr_uri != NULL ? cfg->stderr_uri : "";
    int rc = -1;

    /* The scheme of stdout decides for both streams, as in containerd's own shim. */
    if (tether_ctrd_uri_parse(out, &uri, err) < 0)
        goto out;
    if (uri.scheme[0] == '\0' || strcmp(uri.scheme, "fifo") == 0) {
        const char *err_path = errs;
        struct tether_ctrd_uri euri = {0};
        if (uri.scheme[0] != '\0' && errs[0] != '\0') {
            if (tether_ctrd_uri_parse(errs, &euri, err) < 0) {
                tether_ctrd_uri_fini(&euri);
                goto out;
            }
            err_path = euri.path;
        }
        rc = open_out_fifo(st, 1, uri.path, err);
        if (rc == 0 && !cfg->terminal)
            rc = open_out_fifo(st, 2, err_path, err);
        tether_ctrd_uri_fini(&euri);
    } else if (strcmp(uri.scheme, "file") == 0) {
        rc = open_file(st, uri.path, err);
    } else if (strcmp(uri.scheme, "binary") == 0) {
        rc = open_binary(st, cfg, &uri, err);
    } else {
        rc = tether_error_setk(err, TETHER_ERR_INVALID, 0, "unknown STDIO scheme %s", uri.scheme);
    }
out:
    tether_ctrd_uri_fini(&uri);
    return rc;
}

int tether_ctrd_stdio_open(struct tether_ctrd_stdio *st, const struct tether_ctrd_stdio_config *cfg,
                           struct tether_process_opts *proc,
                           void (*ready)(void *opaque, const struct tether_error *err),
                           void *opaque, struct tether_error *err)
{
    tether_process_opts_init(proc);
    proc->terminal = cfg->terminal;
    if (open_stdin(st, cfg->stdin_path, proc, err) < 0 || open_outputs(st, cfg, err) < 0)
        goto fail;
    /* A stream nobody reads goes to /dev/null (not to a pipe the core would drain). */
    if (!cfg->terminal) {
        if ((st->fds[FD_STDOUT] < 0 && open_null(st, FD_STDOUT, err) < 0) ||
            (st->fds[FD_STDERR] < 0 && open_null(st, FD_STDERR, err) < 0))
            goto fail;
        proc->stdio_fds[1] = st->fds[FD_STDOUT];
        proc->stdio_fds[2] = st->fds[FD_STDERR];
    } else {
        /* The terminal's output is copied by the core to where stdout goes. */
        st->fds[FD_TO] = st->fds[FD_STDOUT];
        st->fds[FD_STDOUT] = -1;
        close_fd(&st->fds[FD_STDERR]);
        proc->output_to = st->fds[FD_TO];
    }
    if (st->logger != NULL) {
        st->logger->ready = ready;
        st->logger->opaque = opaque;
        return 1;
    }
    return 0;
fail:
    tether_ctrd_stdio_close(st);
    return -1;
}

void tether_ctrd_stdio_handed(struct tether_ctrd_stdio *st)
{
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(st->fds); i++)
        close_fd(&st->fds[i]);
}

void tether_ctrd_stdio_close_stdin(struct tether_ctrd_stdio *st)
{
    close_fd(&st->stdin_keep);
}

void tether_ctrd_stdio_close(struct tether_ctrd_stdio *st)
{
    struct tether_ctrd_logger *lg = st->logger;
    struct tether_error err = {0};

    tether_ctrd_stdio_handed(st);
    close_fd(&st->stdin_keep);
    close_fd(&st->out_keep[0]);
    close_fd(&st->out_keep[1]);
    st->logger = NULL;
    if (lg == NULL)
        return;
    lg->owner = NULL;
    logger_stop_ready(lg);
    if (lg->exited || lg->pidfd_src.fd < 0) {
        /* Gone, or not watched (no pidfd): nothing is left to do for it. */
        logger_free(lg);
        return;
    }
    logger_signal(lg, SIGTERM);
    tether_timer_arm(&lg->timer, TETHER_CTRD_LOGGER_TERM_MS, &err);
}
