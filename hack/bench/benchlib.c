/* Shared helpers of the benchmark programs; see benchlib.h. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "benchlib.h"

extern char **environ;

/* The program name is the one piece of process-wide state: set once by main, read by
 * bench_die. */
static const char *bench_prog = "bench";

void bench_set_prog(const char *name)
{
    bench_prog = name;
}

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_die(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", bench_prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void bench_subreaper(void)
{
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        bench_die("PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
}

pid_t bench_spawn(char *const argv[], int in_fd, int out_fd, int err_fd)
{
    posix_spawn_file_actions_t fa;
    int fds[3] = {in_fd, out_fd, err_fd};
    pid_t pid;
    int rc;

    posix_spawn_file_actions_init(&fa);
    for (int i = 0; i < 3; i++) {
        if (fds[i] < 0)
            posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY, 0);
        else
            posix_spawn_file_actions_adddup2(&fa, fds[i], i);
    }
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        bench_die("spawn %s: %s", argv[0], strerror(rc));
    return pid;
}

/* Waits for pid; with cpu_ns, stores the CPU time (user and system) it used, with that of
 * the children it reaped. Returns the wait status. */
static int wait_usage(pid_t pid, uint64_t *cpu_ns)
{
    struct rusage ru;
    int status;

    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR)
            bench_die("wait4 %d: %s", (int)pid, strerror(errno));
    }
    if (cpu_ns != NULL)
        *cpu_ns = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
                  (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
    return status;
}

int bench_wait(pid_t pid)
{
    return wait_usage(pid, NULL);
}

void bench_wait_ok(pid_t pid, const char *what)
{
    bench_wait_ok_cpu(pid, what, NULL);
}

void bench_wait_ok_cpu(pid_t pid, const char *what, uint64_t *cpu_ns)
{
    int status = wait_usage(pid, cpu_ns);

    if (WIFSIGNALED(status))
        bench_die("%s killed by signal %d", what, WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        bench_die("%s exited with status %d", what, WEXITSTATUS(status));
}

void bench_run_ok(char *const argv[])
{
    bench_wait_ok(bench_spawn(argv, -1, -1, 2), argv[0]);
}

static int remaining_ms(uint64_t deadline)
{
    uint64_t now = bench_now_ns();

    if (now >= deadline)
        return 0;
    return (int)((deadline - now) / 1000000u) + 1;
}

int bench_watcher_open(void)
{
    int fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

    if (fd < 0)
        bench_die("inotify_init1: %s", strerror(errno));
    return fd;
}

/* Runs check(path) after every event in path's directory until it holds or the deadline
 * passes. */
static bool wait_dir_until(int watcher, const char *path, int timeout_ms,
                           bool (*check)(const char *))
{
    char dir[4096];
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000u;

    if (check(path))
        return true;
    snprintf(dir, sizeof(dir), "%s", path);
    if (inotify_add_watch(watcher, dirname(dir), IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0)
        bench_die("inotify_add_watch %s: %s", dir, strerror(errno));
    for (;;) {
        struct pollfd p = {.fd = watcher, .events = POLLIN};
        char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        int ms;

        /* Events of other directories watched earlier only cause a needless check. */
        while (read(watcher, ev, sizeof(ev)) > 0)
            ;
        if (check(path))
            return true;
        ms = remaining_ms(deadline);
        if (ms == 0 || (poll(&p, 1, ms) < 0 && errno != EINTR))
            return false;
    }
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

bool bench_wait_file(int watcher, const char *path, int timeout_ms)
{
    return wait_dir_until(watcher, path, timeout_ms, file_exists);
}

char *bench_read_small(const char *path)
{
    char *buf;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return NULL;
    buf = malloc(8192);
    if (buf == NULL)
        abort();
    n = read(fd, buf, 8191);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static pid_t pidfile_value(const char *path)
{
    char *s = bench_read_small(path);
    long v = s != NULL ? strtol(s, NULL, 10) : 0;

    free(s);
    return v > 0 ? (pid_t)v : 0;
}

static bool pidfile_ready(const char *path)
{
    return pidfile_value(path) > 0;
}

pid_t bench_wait_pidfile(int watcher, const char *path, int timeout_ms)
{
    if (!wait_dir_until(watcher, path, timeout_ms, pidfile_ready))
        bench_die("no pid in %s after %d ms", path, timeout_ms);
    return pidfile_value(path);
}

int bench_pidfd_open(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (fd < 0)
        bench_die("pidfd_open %d: %s", (int)pid, strerror(errno));
    return fd;
}

int64_t bench_proc_cpu_ns(pid_t pid)
{
    char path[64];
    char *s, *p;
    unsigned long long ut = 0, st = 0;
    long tck = sysconf(_SC_CLK_TCK);

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    s = bench_read_small(path);
    if (s == NULL)
        return -1;
    /* The command name may hold spaces and parentheses: fields count from the last ')'. */
    p = strrchr(s, ')');
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        free(s);
        return -1;
    }
    free(s);
    return (int64_t)((ut + st) * (1000000000ull / (unsigned long long)tck));
}

long bench_proc_status_kb(pid_t pid, const char *key)
{
    char path[64];
    char *s, *p;
    size_t klen = strlen(key);
    long v = -1;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    s = bench_read_small(path);
    if (s == NULL)
        return -1;
    for (p = s; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
        if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
            v = strtol(p + klen + 1, NULL, 10);
            break;
        }
    }
    free(s);
    return v;
}

void bench_wait_exited_nowait(pid_t pid)
{
    siginfo_t si;

    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0) {
        if (errno != EINTR)
            bench_die("waitid %d: %s", (int)pid, strerror(errno));
    }
}

struct bench_conn *bench_conn_open(const char *socket_path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct bench_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        abort();
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        bench_die("socket path too long: %s", socket_path);
    strcpy(sa.sun_path, socket_path);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        bench_die("socket: %s", strerror(errno));
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        bench_die("connect %s: %s", socket_path, strerror(errno));
    c->next_id = 1;
    return c;
}

void bench_conn_close(struct bench_conn *c)
{
    if (c == NULL)
        return;
    close(c->fd);
    free(c);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            bench_die("write: %s", strerror(errno));
        }
        buf += n;
        len -= (size_t)n;
    }
}

int64_t bench_conn_send(struct bench_conn *c, const char *method, const char *params_json)
{
    char line[8192];
    int64_t id = c->next_id++;
    int n;

    if (params_json != NULL)
        n = snprintf(line, sizeof(line),
                     "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\",\"params\":%s}\n",
                     (long long)id, method, params_json);
    else
        n = snprintf(line, sizeof(line), "{\"jsonrpc\":\"2.0\",\"id\":%lld,\"method\":\"%s\"}\n",
                     (long long)id, method);
    if (n < 0 || (size_t)n >= sizeof(line))
        bench_die("request too long");
    write_all(c->fd, line, (size_t)n);
    return id;
}

bool bench_conn_fill(struct bench_conn *c)
{
    for (;;) {
        ssize_t n;

        if (c->len == sizeof(c->buf))
            bench_die("line from shim longer than %d bytes", BENCH_LINE_MAX);
        n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            bench_die("read from shim: %s", strerror(errno));
        c->len += (size_t)n;
        return n > 0;
    }
}

json_t *bench_conn_take(struct bench_conn *c)
{
    char *nl = memchr(c->buf, '\n', c->len);
    size_t line_len;
    json_error_t jerr;
    json_t *msg;

    if (nl == NULL)
        return NULL;
    line_len = (size_t)(nl - c->buf);
    msg = json_loadb(c->buf, line_len, 0, &jerr);
    if (msg == NULL)
        bench_die("bad line from shim: %s", jerr.text);
    memmove(c->buf, nl + 1, c->len - line_len - 1);
    c->len -= line_len + 1;
    return msg;
}

json_t *bench_conn_read(struct bench_conn *c)
{
    for (;;) {
        json_t *msg = bench_conn_take(c);

        if (msg != NULL)
            return msg;
        if (!bench_conn_fill(c))
            return NULL;
    }
}

json_t *bench_conn_call(struct bench_conn *c, const char *method, const char *params_json)
{
    int64_t id = bench_conn_send(c, method, params_json);

    for (;;) {
        json_t *msg = bench_conn_read(c);
        json_t *jid, *res;

        if (msg == NULL)
            bench_die("%s: connection closed by the shim", method);
        jid = json_object_get(msg, "id");
        if (!json_is_integer(jid) || json_integer_value(jid) != id) {
            json_decref(msg);
            continue;
        }
        res = json_object_get(msg, "result");
        if (res == NULL) {
            json_t *e = json_object_get(msg, "error");
            const char *m = json_string_value(json_object_get(e, "message"));
            bench_die("%s: error %lld: %s", method,
                      (long long)json_integer_value(json_object_get(e, "code")),
                      m != NULL ? m : "?");
        }
        json_incref(res);
        json_decref(msg);
        return res;
    }
}

void bench_tether_launch(const char *shim_path, const char *id, const char *bundle,
                         const char *state_dir, const char *runtime_root, const char *runtime,
                         struct bench_shim *shim)
{
    char *argv[16];
    int n = 0;
    int p[2];
    char out[8192];
    size_t len = 0;
    pid_t pid;
    json_error_t jerr;
    json_t *info;
    const char *sock;

    argv[n++] = (char *)shim_path;
    argv[n++] = "--id";
    argv[n++] = (char *)id;
    argv[n++] = "--bundle";
    argv[n++] = (char *)bundle;
    argv[n++] = "--state-dir";
    argv[n++] = (char *)state_dir;
    argv[n++] = "--runtime-root";
    argv[n++] = (char *)runtime_root;
    if (runtime != NULL) {
        argv[n++] = "--runtime";
        argv[n++] = (char *)runtime;
    }
    argv[n] = NULL;
    if (pipe2(p, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    pid = bench_spawn(argv, -1, p[1], 2);
    close(p[1]);
    for (;;) {
        ssize_t r = read(p[0], out + len, sizeof(out) - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len == sizeof(out) - 1)
            break;
    }
    close(p[0]);
    out[len] = '\0';
    /* The launcher's own usage: its daemon was not its child to reap. */
    bench_wait_ok_cpu(pid, "tether-shim launcher", &shim->launcher_cpu_ns);
    info = json_loads(out, JSON_DISABLE_EOF_CHECK, &jerr);
    if (info == NULL)
        bench_die("tether-shim printed no JSON line: %s", jerr.text);
    shim->pid = (pid_t)json_integer_value(json_object_get(info, "pid"));
    sock = json_string_value(json_object_get(info, "socket"));
    if (shim->pid <= 0 || sock == NULL)
        bench_die("tether-shim printed an unexpected line: %s", out);
    snprintf(shim->socket, sizeof(shim->socket), "%s", sock);
    json_decref(info);
}

uint64_t bench_cpu_ns(pid_t pid)
{
    char path[64];
    unsigned long long ns = 0;
    FILE *f;

    /* schedstat: time on the CPU (ns), time waiting for it, timeslices. */
    snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
    f = fopen(path, "re");
    if (f == NULL || fscanf(f, "%llu", &ns) != 1)
        bench_die("%s: cannot read it", path);
    fclose(f);
    return ns;
}
