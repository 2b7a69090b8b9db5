#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include <tether/util.h>

#include "monitor.h"

/* Journal fields the monitor adds to each entry (see fill_journal_fields). */
#define JOURNAL_FIELDS 6

void tether_conmon_init(struct tether_conmon *m, const struct tether_conmon_opts *opts)
{
    memset(m, 0, sizeof(*m));
    m->opts = opts;
    m->log.fd = -1;
    m->log.level = opts->log_level;
    m->sync_fd = m->start_fd = m->attach_pipe_fd = -1;
    m->stdio_fds[0] = m->stdio_fds[1] = m->stdio_fds[2] = -1;
    m->start_src.fd = -1;
    m->exec_id = opts->exec ? opts->cuuid : NULL;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* ---- conmon's pipes ---- */

/* One message, one write: {"data": N} or {"data": N, "message": "..."}, as podman reads it
 * (a line of JSON). A caller that went away (EPIPE) is no error: podman closes the sync pipe
 * of an exec session before its end. */
static void pipe_send(struct tether_conmon *m, int fd, int data, const char *message)
{
    char quoted[TETHER_ERROR_MSG_MAX * 4];
    json_t *obj;
    char *text;
    cleanup_free char *line = NULL;
    ssize_t n;

    if (fd < 0)
        return;
    /* Quoted: the runtime's text may hold bytes that are not UTF-8 (JSON needs it). */
    obj = message != NULL ? json_pack("{s:i,s:s}", "data", data, "message",
                                      tether_quote(message, quoted, sizeof(quoted)))
                          : json_pack("{s:i}", "data", data);
    text = json_dumps(obj, JSON_COMPACT);
    line = xasprintf("%s\n", text);
    free(text);
    json_decref(obj);
    do
        n = write(fd, line, strlen(line));
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EPIPE)
        log_warn(&m->log, "cannot write to the caller's pipe: %s", strerror(errno));
}

/* ---- files ---- */

static void write_file(struct tether_conmon *m, const char *path, const char *text)
{
    struct tether_error err = {0};

    if (tether_write_file_atomic(path, text, strlen(text), 0644, &err) < 0)
        log_error(&m->log, "%s", err.msg);
}

/* The marker podman 4.3 looks for (<bundle>/oom, not conmon's relative "oom"). */
static void mark_oom(struct tether_conmon *m)
{
    cleanup_free char *path = xasprintf("%s/oom", m->bundle);

    if (m->oom_marked)
        return;
    m->oom_marked = true;
    write_file(m, path, "");
    if (m->opts->persist_dir != NULL) {
        cleanup_free char *copy = xasprintf("%s/oom", m->opts->persist_dir);
        write_file(m, copy, "");
    }
}

static void write_exit_files(struct tether_conmon *m)
{
    char text[16];

    snprintf(text, sizeof(text), "%d", m->exit_code);
    if (m->opts->exit_dir != NULL) {
        cleanup_free char *path = xasprintf("%s/%s", m->opts->exit_dir, m->opts->cid);
        write_file(m, path, text);
    }
    if (m->opts->persist_dir != NULL) {
        cleanup_free char *path = xasprintf("%s/exit", m->opts->persist_dir);
        write_file(m, path, text);
    }
}

static void close_extra_fds(struct tether_conmon *m)
{
    for (size_t i = 0; i < m->n_extra_fds; i++)
        close(m->extra_fds[i]);
    free(m->extra_fds);
    m->extra_fds = NULL;
    m->n_extra_fds = 0;
}

static void remove_symlink(struct tether_conmon *m)
{
    if (m->symlink == NULL)
        return;
    unlink(m->symlink);
    free(m->symlink);
    m->symlink = NULL;
}

/* ---- the end ---- */

/* Everything the process wrote is in the log and with the clients, who are gone: the exit
 * code is written down and the caller told. */
static void finish(struct tether_conmon *m)
{
    close_extra_fds(m);
    write_exit_files(m);
    if (m->exec_id != NULL)
        pipe_send(m, m->sync_fd, m->exit_code, NULL);
    close_fd(&m->sync_fd);
    tether_conmon_attach_close(&m->attach);
    remove_symlink(m);
    log_info(&m->log, "%s %s exited with %d", m->exec_id ? "exec session" : "container",
             m->exec_id ? m->exec_id : m->opts->cid, m->exit_code);
    tether_core_leave(m->core);
}

static void attach_finished(void *opaque)
{
    finish(opaque);
}

static void exited(struct tether_conmon *m, const struct tether_exit *ex)
{
    m->exited = true;
    m->exit_code = m->timed_out ? -1 : ex->exit_status;
    tether_timer_disarm(&m->timeout);
    if (ex->oom_killed)
        mark_oom(m);
    if (m->attach_open)
        tether_conmon_attach_finish(&m->attach);
    else
        finish(m);
}

/* ---- the core's hooks ---- */

static bool ours(const struct tether_conmon *m, const struct tether_event *ev)
{
    if (strcmp(ev->id, m->opts->cid) != 0)
        return false;
    return m->exec_id == NULL ? ev->exec_id == NULL
                              : ev->exec_id != NULL && strcmp(ev->exec_id, m->exec_id) == 0;
}

static void on_event(void *opaque, const struct tether_event *ev)
{
    struct tether_conmon *m = opaque;

    switch (ev->topic) {
    case TETHER_TOPIC_OOM:
        mark_oom(m);
        break;
    case TETHER_TOPIC_EXIT:
        if (ours(m, ev) && !m->exited)
            exited(m, &ev->exit);
        break;
    case TETHER_TOPIC_CREATE:
    case TETHER_TOPIC_START:
    case TETHER_TOPIC_DELETE:
    case TETHER_TOPIC_EXEC_START:
    case TETHER_TOPIC_PAUSED:
    case TETHER_TOPIC_RESUMED:
    case TETHER_TOPIC_RESTART:
    case TETHER_TOPIC_RESTART_FAILED:
    case TETHER_TOPIC_SECCOMP:
    case TETHER_TOPIC_COUNT:
        break;
    }
}

static void on_output(void *opaque, struct tether_container *ctr, const char *exec_id,
                      enum tether_logfmt_stream stream, const char *data, size_t len)
{
    struct tether_conmon *m = opaque;

    (void)ctr;
    (void)exec_id;
    /* A terminal's output is one stream, sent as stdout. */
    tether_conmon_attach_output(&m->attach,
                                stream == TETHER_LOGFMT_STDERR && !m->opts->terminal
                                    ? TETHER_ATTACH_STDERR
                                    : TETHER_ATTACH_STDOUT,
                                data, len);
}

static void on_stdin_ready(void *opaque, struct tether_container *ctr, const char *exec_id)
{
    struct tether_conmon *m = opaque;

    (void)ctr;
    (void)exec_id;
    tether_conmon_attach_resume(&m->attach);
}

/* TERM, INT and QUIT go to the process, as conmon passes them on. */
static void on_signal(void *opaque, int sig)
{
    struct tether_conmon *m = opaque;

    if (sig == SIGHUP || m->pid <= 0 || m->exited) {
        log_info(&m->log, "signal %d ignored", sig);
        return;
    }
    /* Our child, not reaped while its exit is not announced: the pid is still its own. */
    if (kill(m->pid, sig) < 0)
        log_warn(&m->log, "cannot pass signal %d to %d: %s", sig, (int)m->pid, strerror(errno));
}

/* ---- attach and ctl ---- */

static ssize_t attach_input(void *opaque, const char *data, size_t len)
{
    struct tether_conmon *m = opaque;
    struct tether_error err = {0};
    ssize_t n;

    if (m->exited || m->failed)
        return -1;
    if (m->pid <= 0)
        return 0; /* kept until the process exists (podman attaches to an exec first) */
    n = tether_container_input(m->ctr, m->exec_id, data, len, &err);
    if (n < 0)
        log_debug(&m->log, "input dropped: %s", err.msg);
    return n;
}

/* A client ended its input: the process's stdin ends too (podman's `run -i` at the end of
 * its own stdin), unless asked to stay open; a terminal stays. */
static void attach_input_end(void *opaque)
{
    struct tether_conmon *m = opaque;
    struct tether_error err = {0};

    if (m->opts->terminal || m->opts->leave_stdin_open || m->exited)
        return;
    if (m->pid <= 0) {
        m->stdin_end = true;
        return;
    }
    if (tether_container_close_stdin(m->ctr, m->exec_id, &err) < 0)
        log_debug(&m->log, "close stdin: %s", err.msg);
}

static void apply_size(struct tether_conmon *m)
{
    struct tether_error err = {0};

    if (m->size_rows == 0 && m->size_cols == 0)
        return;
    if (tether_container_resize(m->ctr, m->exec_id, m->size_cols, m->size_rows, &err) < 0)
        log_debug(&m->log, "resize: %s", err.msg);
}

static void ctl_resize(void *opaque, unsigned rows, unsigned cols)
{
    struct tether_conmon *m = opaque;

    /* Before the process exists (podman sizes an exec's terminal before it starts it),
     * the size is kept for when it does. */
    m->size_rows = rows;
    m->size_cols = cols;
    if (m->pid > 0 && !m->exited)
        apply_size(m);
}

static void ctl_reopen_log(void *opaque)
{
    struct tether_conmon *m = opaque;
    struct tether_error err = {0};

    if (m->pid <= 0 || tether_container_reopen_log(m->ctr, m->exec_id, &err) < 0)
        log_warn(&m->log, "reopen log: %s", m->pid <= 0 ? "no process yet" : err.msg);
}

static void timeout_fired(struct tether_timer *timer)
{
    struct tether_conmon *m = container_of(timer, struct tether_conmon, timeout);

    if (m->pid <= 0 || m->exited)
        return;
    log_warn(&m->log, "timeout of %d s: killing %d", m->opts->timeout_s, (int)m->pid);
    m->timed_out = true;
    kill(m->pid, SIGKILL);
}

/* ---- start ---- */

/* The process could not be made: the caller hears why (the runtime's own words), and
 * nothing of this monitor stays behind. */
static void fail_start(struct tether_conmon *m, const struct tether_error *err)
{
    log_error(&m->log, "%s", err->msg);
    pipe_send(m, m->sync_fd, -1, err->msg);
    m->failed = true;
    tether_core_leave(m->core);
}

static void process_done(struct tether_call *call, const struct tether_error *err,
                         const struct tether_result *res)
{
    struct tether_conmon *m = container_of(call, struct tether_conmon, call);
    struct tether_error terr = {0};

    if (err != NULL) {
        fail_start(m, err);
        return;
    }
    m->pid = res->pid;
    m->started = true;
    if (m->exec_id != NULL && m->opts->container_pidfile != NULL) {
        char text[16];
        snprintf(text, sizeof(text), "%d", (int)m->pid);
        write_file(m, m->opts->container_pidfile, text);
    }
    pipe_send(m, m->sync_fd, (int)m->pid, NULL);
    if (m->exec_id == NULL)
        close_fd(&m->sync_fd); /* a container's caller hears nothing more */
    if (m->opts->timeout_s > 0 &&
        tether_timer_arm(&m->timeout, (uint64_t)m->opts->timeout_s * 1000, &terr) < 0)
        log_error(&m->log, "timeout: %s", terr.msg);
    apply_size(m);
    /* Input that came before the process, and maybe its end. */
    tether_conmon_attach_resume(&m->attach);
    if (m->stdin_end)
        attach_input_end(m);
}

static void strv_push(char **v, size_t *n, char *s)
{
    v[(*n)++] = s;
    v[*n] = NULL;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v[i] != NULL; i++)
        free(v[i]);
}

/* CONTAINER_ID_FULL, CONTAINER_ID (12 characters), CONTAINER_NAME, SYSLOG_IDENTIFIER (the
 * tag, else the name) and CONTAINER_TAG: what podman and journalctl filter on. */
static void fill_journal_fields(const struct tether_conmon *m, char **f)
{
    const struct tether_conmon_opts *o = m->opts;
    size_t n = 0;

    f[0] = NULL;
    strv_push(f, &n, xasprintf("CONTAINER_ID_FULL=%s", o->cid));
    strv_push(f, &n, xasprintf("CONTAINER_ID=%.12s", o->cid));
    if (o->name != NULL)
        strv_push(f, &n, xasprintf("CONTAINER_NAME=%s", o->name));
    if (o->log_tag != NULL || o->name != NULL)
        strv_push(f, &n,
                  xasprintf("SYSLOG_IDENTIFIER=%s", o->log_tag != NULL ? o->log_tag : o->name));
    if (o->log_tag != NULL)
        strv_push(f, &n, xasprintf("CONTAINER_TAG=%s", o->log_tag));
}

static void fill_process_opts(const struct tether_conmon *m, struct tether_process_opts *p,
                              char **journal_fields)
{
    const struct tether_conmon_opts *o = m->opts;

    tether_process_opts_init(p);
    p->terminal = o->terminal;
    if (o->log_passthrough) {
        /* The caller's stdio straight to the process; its stdin only with -i. */
        p->stdio_fds[0] = o->stdin ? m->stdio_fds[0] : -1;
        p->stdio_fds[1] = m->stdio_fds[1];
        p->stdio_fds[2] = m->stdio_fds[2];
    } else {
        /* A terminal always takes its clients' input. */
        p->stdin = o->stdin || o->terminal;
    }
    p->log.path = o->log_path;
    p->log.format = TETHER_LOGFMT_K8S_FILE;
    /* conmon's --log-size-max starts the log afresh: one file, no rotated copies. */
    p->log.max_size = o->log_size_max > 0 ? (uint64_t)o->log_size_max : 0;
    p->log.max_files = 1;
    p->log.no_sync = o->no_sync_log;
    p->log.journald = o->log_journald;
    if (o->log_journald) {
        fill_journal_fields(m, journal_fields);
        p->log.journald_fields = journal_fields;
    }
}

static int start_create(struct tether_conmon *m, struct tether_error *err)
{
    const struct tether_conmon_opts *o = m->opts;
    struct tether_create_opts opts = {0};
    char *fields[JOURNAL_FIELDS] = {NULL};
    size_t n = 0;
    cleanup_free char **args = NULL;
    int rc;

    while (o->runtime_opts != NULL && o->runtime_opts[n] != NULL)
        n++;
    args = xzalloc((n + 3) * sizeof(*args));
    if (n > 0)
        memcpy(args, o->runtime_opts, n * sizeof(*args));
    if (o->no_pivot)
        args[n++] = "--no-pivot";
    if (o->no_new_keyring)
        args[n++] = "--no-new-keyring";
    fill_process_opts(m, &opts.proc, fields);
    opts.runtime_args = args;
    rc = tether_container_create(m->ctr, &opts, &m->call, err);
    strv_free(fields);
    return rc;
}

static int start_exec(struct tether_conmon *m, struct tether_error *err)
{
    struct tether_exec_opts opts = {.exec_id = m->exec_id};
    char *fields[JOURNAL_FIELDS] = {NULL};
    cleanup_free char *spec = NULL;
    int rc;

    if (tether_read_file(m->opts->exec_process_spec, TETHER_CONMON_SPEC_MAX, &spec, NULL, err) < 0)
        return tether_error_prefix(err, "exec process spec");
    opts.process = spec;
    /* podman sizes the terminal before it starts the exec: from the start, then. */
    opts.console_width = m->size_cols;
    opts.console_height = m->size_rows;
    fill_process_opts(m, &opts.proc, fields);
    rc = tether_container_exec(m->ctr, &opts, &m->call, err);
    strv_free(fields);
    return rc;
}

static void launch(struct tether_conmon *m)
{
    struct tether_error err = {0};
    int rc;

    m->call.done = process_done;
    tether_conmon_ctl_poll(&m->ctl);
    rc = m->exec_id != NULL ? start_exec(m, &err) : start_create(m, &err);
    /* The core has its own copies of the caller's stdio now (passthrough): ours go, so the
     * caller's pipes end with the process, not with this monitor. */
    for (int i = 0; i < 3; i++)
        close_fd(&m->stdio_fds[i]);
    if (rc < 0)
        fail_start(m, &err);
}

/* The caller of an attached exec attached: its byte on the start pipe (or its end). */
static void start_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_conmon *m = container_of(src, struct tether_conmon, start_src);
    char byte;

    (void)revents;
    if (read(src->fd, &byte, 1) < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    tether_loop_remove(loop, src);
    m->start_src.fd = -1;
    close_fd(&m->start_fd);
    launch(m);
}

/* ---- set-up ---- */

/* The core, and what lives on its loop (ready to be closed even if the rest fails). */
static int setup_core(struct tether_conmon *m, struct tether_error *err)
{
    const struct tether_conmon_attach_hooks attach_hooks = {.input = attach_input,
                                                            .input_end = attach_input_end,
                                                            .finished = attach_finished,
                                                            .opaque = m};
    const struct tether_conmon_ctl_hooks ctl_hooks = {
        .resize = ctl_resize, .reopen_log = ctl_reopen_log, .opaque = m};
    const struct tether_conmon_opts *o = m->opts;
    size_t n = 0;
    cleanup_free char **global = NULL;
    sigset_t signals;
    struct tether_core_config cfg = {.runtime = o->runtime, .signals = &signals};
    const struct tether_core_hooks hooks = {.on_event = on_event,
                                            .on_output = on_output,
                                            .on_stdin_ready = on_stdin_ready,
                                            .on_signal = on_signal,
                                            .opaque = m};
    struct tether_container_config ctr = {.id = o->cid,
                                          .bundle = m->bundle,
                                          .dir = m->bundle,
                                          .pid_file = m->exec_id ? NULL : o->container_pidfile,
                                          .no_exit_file = true,
                                          .external = m->exec_id != NULL};

    while (o->runtime_args != NULL && o->runtime_args[n] != NULL)
        n++;
    global = xzalloc((n + 2) * sizeof(*global));
    if (n > 0)
        memcpy(global, o->runtime_args, n * sizeof(*global));
    if (o->systemd_cgroup)
        global[n++] = "--systemd-cgroup";
    cfg.runtime_args = (const char *const *)global;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGQUIT);
    sigaddset(&signals, SIGHUP);
    m->core = tether_core_new(&cfg, &hooks, &m->log, err);
    if (m->core == NULL)
        return -1;
    tether_conmon_attach_init(&m->attach, tether_core_loop(m->core), &m->log, &attach_hooks);
    tether_conmon_ctl_init(&m->ctl, tether_core_loop(m->core), &m->log, &ctl_hooks);
    tether_timer_init(&m->timeout, tether_core_loop(m->core), timeout_fired);
    m->ctr = tether_core_add(m->core, &ctr, err);
    return m->ctr == NULL ? -1 : 0;
}

/* CRI-O reaches the socket as <socket-dir>/<cuuid>/attach: a symlink to the bundle. */
static int make_symlink(struct tether_conmon *m, struct tether_error *err)
{
    const struct tether_conmon_opts *o = m->opts;

    if (o->socket_dir_path == NULL || o->full_attach)
        return 0;
    if (mkdir(o->socket_dir_path, 0755) < 0 && errno != EEXIST)
        return tether_error_set(err, errno, "mkdir %s", o->socket_dir_path);
    m->symlink = xasprintf("%s/%s", o->socket_dir_path, o->cuuid);
    unlink(m->symlink);
    if (symlink(m->bundle, m->symlink) < 0) {
        int e = errno;
        free(m->symlink);
        m->symlink = NULL;
        return tether_error_set(err, e, "symlink %s", o->socket_dir_path);
    }
    return 0;
}

static int setup_files(struct tether_conmon *m, struct tether_error *err)
{
    cleanup_free char *path = xasprintf("%s/attach", m->bundle);

    if (m->opts->log_passthrough)
        return 0; /* the process has the caller's stdio: nothing to attach to */
    if (tether_conmon_attach_listen(&m->attach, path, m->opts->stdin || m->opts->terminal, err) < 0)
        return -1;
    m->attach_open = true;
    if (make_symlink(m, err) < 0)
        return -1;
    return tether_conmon_ctl_open(&m->ctl, m->bundle, err);
}

static int wait_for_start(struct tether_conmon *m, struct tether_error *err)
{
    m->start_src.fd = m->start_fd;
    m->start_src.events = EPOLLIN;
    m->start_src.cb = start_cb;
    if (tether_set_nonblock(m->start_fd, err) < 0 ||
        tether_loop_add(tether_core_loop(m->core), &m->start_src, err) < 0) {
        m->start_src.fd = -1;
        return -1;
    }
    return 0;
}

/* The bundle's real path. noinline: the buffer must not stay in tether_conmon_run()'s
 * frame, resident under the loop for the monitor's whole life. */
static __attribute__((noinline)) char *real_bundle(const char *bundle)
{
    char real[PATH_MAX];

    return realpath(bundle, real) != NULL ? xstrdup(real) : NULL;
}

int tether_conmon_run(struct tether_conmon *m, struct tether_error *err)
{
    m->bundle = real_bundle(m->opts->bundle);
    if (m->bundle == NULL) {
        tether_error_set(err, errno, "bundle %s", m->opts->bundle);
        pipe_send(m, m->sync_fd, -1, err->msg);
        return -1;
    }
    if (setup_core(m, err) < 0) {
        pipe_send(m, m->sync_fd, -1, err->msg);
        return -1;
    }
    if (setup_files(m, err) < 0) {
        pipe_send(m, m->sync_fd, -1, err->msg);
        return -1;
    }
    if (m->exec_id != NULL && m->opts->exec_attach && m->attach_pipe_fd >= 0) {
        /* The caller attaches now, then tells us to go on. */
        pipe_send(m, m->attach_pipe_fd, 0, NULL);
        close_fd(&m->attach_pipe_fd);
        if (m->start_fd >= 0 && wait_for_start(m, err) < 0) {
            pipe_send(m, m->sync_fd, -1, err->msg);
            return -1;
        }
    }
    if (m->start_src.fd < 0)
        launch(m);
    if (tether_core_run(m->core, err) < 0) {
        pipe_send(m, m->sync_fd, -1, err->msg);
        return -1;
    }
    if (m->failed)
        return tether_error_set(err, 0, "the process could not be started");
    return 0;
}

void tether_conmon_fini(struct tether_conmon *m)
{
    bool failed = !m->started;

    if (m->core != NULL) {
        if (m->start_src.fd >= 0)
            tether_loop_remove(tether_core_loop(m->core), &m->start_src);
        tether_core_shutdown(m->core);
        tether_timer_fini(&m->timeout);
        tether_conmon_attach_close(&m->attach);
        /* The FIFOs stay for podman to remove, unless the process never ran. */
        tether_conmon_ctl_close(&m->ctl, failed);
        tether_core_free(m->core);
        m->core = NULL;
    }
    remove_symlink(m);
    close_extra_fds(m);
    close_fd(&m->sync_fd);
    close_fd(&m->start_fd);
    close_fd(&m->attach_pipe_fd);
    for (int i = 0; i < 3; i++)
        close_fd(&m->stdio_fds[i]);
    free(m->bundle);
    m->bundle = NULL;
}
