/* Exit notification latency: kills a running container's init with SIGKILL and measures,
 * from the moment the init is dead (its pidfd turns readable), how long until
 *   - a file appears (tether's exit.json, conmon's exit-dir file): --file PATH
 *   - an `exit` event reaches a client subscribed to a tether-shim: --tether SOCKET
 *   - a line holding STR appears on the output of an event stream command (such as
 *     `ctr events`): --events-cmd "CMD ARG..." --events-match STR, with
 *     --events-ready "CMD ARG..." run first to prove the stream is subscribed (the first line
 *     it causes on the stream counts as ready).
 * Prints one "NAME NANOSECONDS" line per watched notification (file, event).
 *
 *   exitlat --pid PID [--file PATH] [--tether SOCKET]
 *           [--events-cmd CMD --events-ready CMD --events-match STR]
 *
 * Every watcher is armed before the kill, and all of them are read in one epoll loop running
 * at real-time priority (needs root). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "benchlib.h"

#define EXITLAT_TIMEOUT_MS 20000
#define EXITLAT_MAX_ARGS   32
/* How long to wait for the ready command's line on the stream, and how often to try. */
#define EXITLAT_READY_WAIT_MS  200
#define EXITLAT_READY_ATTEMPTS 50
#define EXITLAT_RT_PRIORITY    50

enum watch_kind {
    WATCH_PIDFD,
    WATCH_FILE,
    WATCH_TETHER,
    WATCH_EVENTS,
};

struct events_stream {
    pid_t pid;
    int fd;
    char buf[65536];
    size_t len;
};

struct exitlat {
    pid_t pid;
    const char *file;
    const char *file_name; /* basename of file */
    const char *tether_socket;
    char *events_cmd;
    char *events_ready;
    const char *events_match;
    struct bench_conn *conn;
    struct events_stream stream;
    int inotify_fd;
    int pidfd;
    uint64_t t_exit, t_file, t_event;
};

/* Splits a command line on spaces (no quoting: the benchmark's commands need none). */
static void split_args(char *s, char **argv)
{
    int n = 0;

    for (char *tok = strtok(s, " "); tok != NULL && n < EXITLAT_MAX_ARGS - 1;
         tok = strtok(NULL, " "))
        argv[n++] = tok;
    argv[n] = NULL;
    if (n == 0)
        bench_die("empty command");
}

/* Reads what the stream has and returns true when a whole line holding match arrived (any
 * line when match is NULL). */
static bool stream_read(struct events_stream *s, const char *match)
{
    bool hit = false;
    ssize_t n;
    char *nl;

    if (s->len == sizeof(s->buf))
        s->len = 0; /* one absurdly long line: drop it */
    n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
    if (n < 0 && errno != EINTR && errno != EAGAIN)
        bench_die("read events stream: %s", strerror(errno));
    if (n == 0)
        bench_die("events stream ended");
    if (n > 0)
        s->len += (size_t)n;
    while ((nl = memchr(s->buf, '\n', s->len)) != NULL) {
        *nl = '\0';
        if (match == NULL || strstr(s->buf, match) != NULL)
            hit = true;
        s->len -= (size_t)(nl + 1 - s->buf);
        memmove(s->buf, nl + 1, s->len);
    }
    return hit;
}

/* Starts the event stream, then runs the ready command until a line shows up on the stream:
 * a stream command returns before it is subscribed, so an event caused too early is lost. */
static void arm_events(struct exitlat *x)
{
    char *cmd[EXITLAT_MAX_ARGS], *ready[EXITLAT_MAX_ARGS];
    int p[2];

    split_args(x->events_cmd, cmd);
    split_args(x->events_ready, ready);
    if (pipe2(p, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    x->stream.pid = bench_spawn(cmd, -1, p[1], 2);
    close(p[1]);
    x->stream.fd = p[0];
    for (int attempt = 0;; attempt++) {
        struct pollfd pfd = {.fd = x->stream.fd, .events = POLLIN};

        if (attempt == EXITLAT_READY_ATTEMPTS)
            bench_die("the event stream shows nothing after %d tries of the ready command",
                      attempt);
        bench_run_ok(ready);
        if (poll(&pfd, 1, EXITLAT_READY_WAIT_MS) > 0 && stream_read(&x->stream, NULL))
            break;
    }
    /* Let the stream print whatever else the ready commands caused. */
    for (;;) {
        struct pollfd pfd = {.fd = x->stream.fd, .events = POLLIN};
        if (poll(&pfd, 1, EXITLAT_READY_WAIT_MS) <= 0)
            break;
        stream_read(&x->stream, NULL);
    }
}

static void arm_tether(struct exitlat *x)
{
    x->conn = bench_conn_open(x->tether_socket);
    json_decref(bench_conn_call(x->conn, "subscribe", "{}"));
}

static void arm_file(struct exitlat *x)
{
    char dir[4096];

    snprintf(dir, sizeof(dir), "%s", x->file);
    x->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (x->inotify_fd < 0)
        bench_die("inotify_init1: %s", strerror(errno));
    if (inotify_add_watch(x->inotify_fd, dirname(dir), IN_CREATE | IN_MOVED_TO) < 0)
        bench_die("inotify_add_watch %s: %s", dir, strerror(errno));
    if (access(x->file, F_OK) == 0)
        bench_die("%s exists before the container exited", x->file);
}

static bool file_event(struct exitlat *x)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n = read(x->inotify_fd, buf, sizeof(buf));
    bool hit = false;

    for (char *p = buf; n > 0 && p < buf + n;) {
        const struct inotify_event *ev = (const struct inotify_event *)p;
        if (ev->len > 0 && strcmp(ev->name, x->file_name) == 0)
            hit = true;
        p += sizeof(*ev) + ev->len;
    }
    return hit;
}

/* True when a buffered tether message is the exit event. */
static bool tether_event(struct exitlat *x)
{
    bool hit = false;
    json_t *msg;

    if (!bench_conn_fill(x->conn))
        bench_die("the shim closed the connection");
    while ((msg = bench_conn_take(x->conn)) != NULL) {
        json_t *params = json_object_get(msg, "params");
        const char *method = json_string_value(json_object_get(msg, "method"));
        const char *topic = json_string_value(json_object_get(params, "topic"));
        if (method != NULL && strcmp(method, "event") == 0 && topic != NULL &&
            strcmp(topic, "exit") == 0)
            hit = true;
        json_decref(msg);
    }
    return hit;
}

static void add_fd(int ep, int fd, enum watch_kind kind)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = kind};

    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        bench_die("epoll_ctl: %s", strerror(errno));
}

static bool all_seen(const struct exitlat *x)
{
    return x->t_exit != 0 && (x->file == NULL || x->t_file != 0) &&
           ((x->tether_socket == NULL && x->events_cmd == NULL) || x->t_event != 0);
}

static void measure(struct exitlat *x)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    uint64_t deadline;

    if (ep < 0)
        bench_die("epoll_create1: %s", strerror(errno));
    add_fd(ep, x->pidfd, WATCH_PIDFD);
    if (x->file != NULL)
        add_fd(ep, x->inotify_fd, WATCH_FILE);
    if (x->conn != NULL)
        add_fd(ep, x->conn->fd, WATCH_TETHER);
    if (x->events_cmd != NULL)
        add_fd(ep, x->stream.fd, WATCH_EVENTS);

    /* The observer runs SCHED_FIFO from here on (nothing it spawned inherits that): it then
     * wakes the moment the pidfd turns readable instead of queueing behind the shims, the
     * runtime and whatever else shares the cores, so the start of the clock is exact. */
    struct sched_param sp = {.sched_priority = EXITLAT_RT_PRIORITY};
    if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
        bench_die("sched_setscheduler SCHED_FIFO: %s", strerror(errno));
    if (syscall(SYS_pidfd_send_signal, x->pidfd, SIGKILL, NULL, 0) < 0)
        bench_die("pidfd_send_signal %d: %s", (int)x->pid, strerror(errno));
    deadline = bench_now_ns() + (uint64_t)EXITLAT_TIMEOUT_MS * 1000000u;
    while (!all_seen(x)) {
        struct epoll_event evs[8];
        int n = epoll_wait(ep, evs, 8, 100);
        uint64_t now = bench_now_ns();

        if (n < 0 && errno != EINTR)
            bench_die("epoll_wait: %s", strerror(errno));
        if (now > deadline)
            bench_die("no notification within %d ms", EXITLAT_TIMEOUT_MS);
        for (int i = 0; i < n; i++) {
            switch ((enum watch_kind)evs[i].data.u32) {
            case WATCH_PIDFD:
                if (x->t_exit == 0)
                    x->t_exit = now;
                epoll_ctl(ep, EPOLL_CTL_DEL, x->pidfd, NULL);
                break;
            case WATCH_FILE:
                if (file_event(x) && x->t_file == 0)
                    x->t_file = now;
                break;
            case WATCH_TETHER:
                if (tether_event(x) && x->t_event == 0)
                    x->t_event = now;
                break;
            case WATCH_EVENTS:
                if (stream_read(&x->stream, x->events_match) && x->t_event == 0)
                    x->t_event = now;
                break;
            }
        }
    }
    close(ep);
}

static unsigned long long since_exit(const struct exitlat *x, uint64_t t)
{
    return t > x->t_exit ? (unsigned long long)(t - x->t_exit) : 0;
}

int main(int argc, char **argv)
{
    struct exitlat x = {.inotify_fd = -1, .pidfd = -1, .stream = {.fd = -1}};

    bench_set_prog("exitlat");
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        const char *val = i + 1 < argc ? argv[++i] : NULL;
        if (val == NULL)
            bench_die("%s needs a value", opt);
        if (strcmp(opt, "--pid") == 0)
            x.pid = (pid_t)atoi(val);
        else if (strcmp(opt, "--file") == 0)
            x.file = val;
        else if (strcmp(opt, "--tether") == 0)
            x.tether_socket = val;
        else if (strcmp(opt, "--events-cmd") == 0)
            x.events_cmd = argv[i];
        else if (strcmp(opt, "--events-ready") == 0)
            x.events_ready = argv[i];
        else if (strcmp(opt, "--events-match") == 0)
            x.events_match = val;
        else
            bench_die("unknown option %s", opt);
    }
    if (x.pid <= 0 || (x.file == NULL && x.tether_socket == NULL && x.events_cmd == NULL))
        bench_die("usage: exitlat --pid PID [--file PATH] [--tether SOCKET] "
                  "[--events-cmd CMD --events-ready CMD --events-match STR]");
    if (x.events_cmd != NULL && (x.events_ready == NULL || x.events_match == NULL))
        bench_die("--events-cmd needs --events-ready and --events-match");
    if (x.file != NULL) {
        x.file_name = strrchr(x.file, '/') != NULL ? strrchr(x.file, '/') + 1 : x.file;
        arm_file(&x);
    }
    if (x.tether_socket != NULL)
        arm_tether(&x);
    if (x.events_cmd != NULL)
        arm_events(&x);
    x.pidfd = bench_pidfd_open(x.pid);

    measure(&x);

    if (x.file != NULL)
        printf("file %llu\n", since_exit(&x, x.t_file));
    if (x.tether_socket != NULL || x.events_cmd != NULL)
        printf("event %llu\n", since_exit(&x, x.t_event));
    if (x.events_cmd != NULL) {
        kill(x.stream.pid, SIGTERM);
        bench_wait(x.stream.pid);
    }
    bench_conn_close(x.conn);
    return 0;
}
