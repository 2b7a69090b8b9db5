/* tether-conmon driven the way podman drives conmon, without podman, against real runc
 * containers: the sync, start and attach pipes (socketpairs at fds 3, 4, 5), the detaching
 * launcher and its pid file, the attach socket's packets, the exit file and the exit
 * command, the k8s-file log, --timeout, -l passthrough, signals passed on, exec sessions,
 * and the failures: a runtime that fails and command lines that are wrong, with nothing left
 * behind. The monitors' sanitizer reports go to files (their stderr is /dev/null), which
 * must not exist at the end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness.h"

#define ID      "c1"
#define RUNC    "/usr/sbin/runc"
#define WAIT_MS 20000

struct fixture {
    struct th_env env;
    char bundle[PATH_MAX];
    char *exits, *log, *pidfile, *conmon_pid, *marker, *san;
};

struct mon {
    pid_t first;
    int sync, start, attach; /* our ends of the pipes, -1 when not given */
    int err;                 /* the launcher's stderr */
};

/* ---- helpers ---- */

static int setup(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));

    th_env_init(&f->env);
    f->exits = xasprintf("%s/exits", f->env.dir);
    f->log = xasprintf("%s/ctr.log", f->env.dir);
    f->pidfile = xasprintf("%s/pidfile", f->env.dir);
    f->conmon_pid = xasprintf("%s/conmon.pid", f->env.dir);
    f->marker = xasprintf("%s/exit-command-ran", f->env.dir);
    f->san = xasprintf("%s/san", f->env.dir);
    if (mkdir(f->exits, 0700) < 0 || mkdir(f->san, 0700) < 0)
        fail_msg("mkdir: %s", strerror(errno));
    *state = f;
    return 0;
}

/* The sanitizer reports of every monitor of the test, printed: there must be none. */
static void check_sanitizers(struct fixture *f)
{
    DIR *d = opendir(f->san);
    struct dirent *e;
    int found = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        cleanup_free char *path = NULL;
        cleanup_free char *text = NULL;
        if (e->d_name[0] == '.')
            continue;
        path = xasprintf("%s/%s", f->san, e->d_name);
        if (tether_read_file(path, 1 << 20, &text, NULL, NULL) == 0)
            fprintf(stderr, "%s:\n%s\n", path, text);
        found++;
    }
    if (d != NULL)
        closedir(d);
    if (found > 0)
        fail_msg("%d sanitizer report(s) from tether-conmon", found);
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    check_sanitizers(f);
    th_env_cleanup(&f->env);
    free(f->exits);
    free(f->log);
    free(f->pidfile);
    free(f->conmon_pid);
    free(f->marker);
    free(f->san);
    free(f);
    return 0;
}

struct args {
    const char *v[96];
    int n;
};

static void push(struct args *a, const char *s)
{
    assert_true(a->n < 95);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

/* podman's arguments for a container (what every test shares). */
static void base_args(struct fixture *f, struct args *a, const char *uuid)
{
    a->n = 0;
    push(a, th_bin("tether-conmon"));
    const char *const common[] = {"--api-version",
                                  "1",
                                  "-c",
                                  ID,
                                  "-u",
                                  uuid,
                                  "-r",
                                  RUNC,
                                  "--runtime-arg",
                                  "--root",
                                  "--runtime-arg",
                                  f->env.runtime_root,
                                  "-n",
                                  "web",
                                  "--full-attach",
                                  "--log-level",
                                  "debug",
                                  NULL};
    for (size_t i = 0; common[i] != NULL; i++)
        push(a, common[i]);
}

/* The bundle running argv, and the create arguments for it. */
static void create_args(struct fixture *f, struct args *a, const char *const argv[])
{
    th_make_bundle(&f->env, "bundle", argv, f->bundle, sizeof(f->bundle));
    base_args(f, a, ID);
    push(a, "-b");
    push(a, f->bundle);
    push(a, "-p");
    push(a, f->pidfile);
    push(a, "--exit-dir");
    push(a, f->exits);
    push(a, "--conmon-pidfile");
    push(a, f->conmon_pid);
}

static void make_pair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
        fail_msg("socketpair: %s", strerror(errno));
}

/* Starts tether-conmon with the pipes at 3, 4 (and 5), stdout on out_fd (-1: /dev/null) and
 * extra_fd (when >= 0) inherited at 6, as podman would. */
static void mon_spawn(struct fixture *f, const struct args *a, bool attach_pipe, int out_fd,
                      int extra_fd, struct mon *m)
{
    int sync[2], start[2], att[2] = {-1, -1}, err[2];

    make_pair(sync);
    make_pair(start);
    if (attach_pipe)
        make_pair(att);
    if (pipe2(err, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
    m->first = fork();
    if (m->first < 0)
        fail_msg("fork: %s", strerror(errno));
    if (m->first == 0) {
        int from[5] = {sync[1], start[1], att[1], extra_fd, err[1]};
        int high[5];
        int null = open("/dev/null", O_RDWR);
        cleanup_free char *san = xasprintf("log_path=%s/asan:detect_leaks=1", f->san);
        cleanup_free char *usan =
            xasprintf("log_path=%s/ubsan:print_stacktrace=1:halt_on_error=1", f->san);

        for (int i = 0; i < 5; i++)
            high[i] = from[i] >= 0 ? fcntl(from[i], F_DUPFD, 20) : -1;
        dup2(null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        dup2(high[4], 2);
        dup2(high[0], 3);
        dup2(high[1], 4);
        if (high[2] >= 0)
            dup2(high[2], 5);
        if (high[3] >= 0)
            dup2(high[3], 6);
        close_range(7, ~0u, 0);
        setenv("_OCI_SYNCPIPE", "3", 1);
        setenv("_OCI_STARTPIPE", "4", 1);
        if (attach_pipe)
            setenv("_OCI_ATTACHPIPE", "5", 1);
        setenv("ASAN_OPTIONS", san, 1);
        setenv("UBSAN_OPTIONS", usan, 1);
        setpgid(0, 0);
        execv(a->v[0], (char *const *)a->v);
        _exit(127);
    }
    close(sync[1]);
    close(start[1]);
    close(err[1]);
    if (att[1] >= 0)
        close(att[1]);
    m->sync = sync[0];
    m->start = start[0];
    m->attach = att[0];
    /* Not waited on to its end: with -l passthrough the monitor keeps the caller's stderr. */
    m->err = err[0];
    fcntl(m->err, F_SETFL, O_NONBLOCK);
}

static void mon_close(struct mon *m)
{
    int *fds[] = {&m->sync, &m->start, &m->attach, &m->err};

    for (size_t i = 0; i < TETHER_ARRAY_SIZE(fds); i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

/* The launcher's exit status; its stderr into err_text (may be NULL). */
static int mon_first_status(struct mon *m, char *err_text, size_t len)
{
    int status;
    ssize_t n;

    while (waitpid(m->first, &status, 0) < 0)
        if (errno != EINTR)
            fail_msg("waitpid: %s", strerror(errno));
    n = read(m->err, err_text != NULL ? err_text : (char[256]){0},
             err_text != NULL ? len - 1 : 255);
    if (err_text != NULL)
        err_text[n > 0 ? n : 0] = '\0';
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* One {"data": N, "message": "..."} line from a pipe. */
static int read_msg(int fd, char *message, size_t len)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char buf[16384];
    json_error_t jerr;
    json_t *obj, *msg;
    ssize_t n;
    int data;

    if (poll(&pfd, 1, WAIT_MS) != 1)
        fail_msg("nothing on the pipe within %d ms", WAIT_MS);
    n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        fail_msg("the pipe ended with no message");
    buf[n] = '\0';
    if (buf[n - 1] != '\n')
        fail_msg("message without its newline: %s", buf);
    obj = json_loads(buf, 0, &jerr);
    if (!json_is_integer(json_object_get(obj, "data")))
        fail_msg("not a sync message: %s", buf);
    data = (int)json_integer_value(json_object_get(obj, "data"));
    msg = json_object_get(obj, "message");
    if (message != NULL)
        snprintf(message, len, "%s", json_is_string(msg) ? json_string_value(msg) : "");
    json_decref(obj);
    return data;
}

static void send_start(struct mon *m)
{
    if (write(m->start, "", 1) != 1)
        fail_msg("start pipe: %s", strerror(errno));
}

static void runc_do(struct fixture *f, const char *op, const char *id)
{
    const char *argv[] = {RUNC, "--root", f->env.runtime_root, op, id, NULL};

    if (th_run(argv, NULL) != 0)
        fail_msg("runc %s %s failed", op, id);
}

static bool file_exists(void *path)
{
    return access(path, F_OK) == 0;
}

static bool pid_gone(void *data)
{
    pid_t pid = *(pid_t *)data;
    char path[64], state = 0;
    FILE *fp;

    if (kill(pid, 0) < 0 && errno == ESRCH)
        return true;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fp = fopen(path, "r");
    if (fp == NULL)
        return true;
    if (fscanf(fp, "%*d (%*[^)]) %c", &state) != 1)
        state = 0;
    fclose(fp);
    return state == 'Z';
}

/* The exit file's content, once it is there. */
static char *exit_file(const char *dir, const char *id)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, id);
    char *text = NULL;

    if (!th_wait_until(file_exists, path, WAIT_MS))
        fail_msg("no exit file %s", path);
    if (tether_read_file(path, 64, &text, NULL, NULL) < 0)
        fail_msg("read %s", path);
    return text;
}

static pid_t read_pid(const char *path)
{
    cleanup_free char *text = NULL;

    if (tether_read_file(path, 64, &text, NULL, NULL) < 0)
        fail_msg("read %s", path);
    assert_null(strchr(text, '\n'));
    return (pid_t)atoi(text);
}

static void assert_exe_is_tether_conmon(pid_t pid)
{
    char path[64], exe[PATH_MAX];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, exe, sizeof(exe) - 1);
    assert_true(n > 0);
    exe[n] = '\0';
    assert_non_null(strstr(exe, "/tether-conmon"));
}

static void wait_monitor_gone(pid_t pid)
{
    if (!th_wait_until(pid_gone, &pid, WAIT_MS))
        fail_msg("the monitor %d did not end", (int)pid);
}

static int attach_connect(const char *dir)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    cleanup_close int dfd = open(dir, O_PATH | O_CLOEXEC);
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    /* Through the directory's fd, as podman does: the path may not fit in sun_path. */
    snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/attach", dfd);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        fail_msg("connect %s/attach: %s", dir, strerror(errno));
    return fd;
}

/* Output packets from an attach socket until its end: stdout and stderr apart. */
static void attach_read_all(int fd, char **out, size_t *out_len, char **err, size_t *err_len)
{
    char pkt[65536];

    *out = xzalloc(1);
    *err = xzalloc(1);
    *out_len = *err_len = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        char **buf;
        size_t *len;

        if (poll(&pfd, 1, WAIT_MS) != 1)
            fail_msg("attach: no end within %d ms", WAIT_MS);
        n = recv(fd, pkt, sizeof(pkt), 0);
        if (n < 0)
            fail_msg("attach recv: %s", strerror(errno));
        if (n == 0)
            return;
        assert_true(n >= 2 && n <= 8193);
        assert_true(pkt[0] == 2 || pkt[0] == 3);
        buf = pkt[0] == 2 ? out : err;
        len = pkt[0] == 2 ? out_len : err_len;
        *buf = xrealloc(*buf, *len + (size_t)n);
        memcpy(*buf + *len, pkt + 1, (size_t)n - 1);
        *len += (size_t)n - 1;
        (*buf)[*len] = '\0';
    }
}

/* ---- tests ---- */

/* A container's whole life as podman runs it: the launcher exits 0 with the monitor's pid
 * in --conmon-pidfile, the sync pipe gets the container's pid, podman starts it, the log is
 * podman's k8s-file, the inherited fd is held until the exit file (decimal, no newline),
 * then the socket is gone, the FIFOs stay, and the exit command ran. */
static void test_create_to_exit(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"sh", "-c", "echo out; echo err >&2; printf nonl; exit 3",
                                       NULL};
    cleanup_free char *log_arg = xasprintf("k8s-file:%s", f->log);
    cleanup_free char *cmd = xasprintf("echo ran > %s", f->marker);
    cleanup_free char *log = NULL;
    cleanup_free char *code = NULL;
    cleanup_free char *attach = NULL;
    cleanup_free char *ctl = NULL;
    struct args a;
    struct mon m;
    int held[2];
    pid_t daemon, pid;
    char byte;
    regex_t re;

    create_args(f, &a, argv);
    push(&a, "-l");
    push(&a, log_arg);
    push(&a, "--exit-command");
    push(&a, "/bin/sh");
    push(&a, "--exit-command-arg");
    push(&a, "-c");
    push(&a, "--exit-command-arg");
    push(&a, cmd);
    if (pipe2(held, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
    mon_spawn(f, &a, false, -1, held[1], &m);
    close(held[1]);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    daemon = read_pid(f->conmon_pid);
    assert_exe_is_tether_conmon(daemon);
    pid = read_msg(m.sync, NULL, 0);
    assert_true(pid > 0);
    assert_int_equal(read_pid(f->pidfile), pid);
    attach = xasprintf("%s/attach", f->bundle);
    ctl = xasprintf("%s/ctl", f->bundle);
    assert_true(file_exists(attach));
    assert_true(file_exists(ctl));
    /* Created, not started: podman starts it. */
    runc_do(f, "start", ID);
    code = exit_file(f->exits, ID);
    assert_string_equal(code, "3");
    wait_monitor_gone(daemon);
    /* The inherited fd was let go (it is held while the container runs: see
     * test_signal_and_exit_delay). */
    assert_int_equal(read(held[0], &byte, 1), 0);
    close(held[0]);
    assert_true(file_exists(f->marker));
    assert_false(file_exists(attach));
    assert_true(file_exists(ctl));
    /* podman's k8s-file: local time with a numeric offset, stdout and stderr apart, the
     * unfinished line left a P record. */
    assert_int_equal(tether_read_file(f->log, 1 << 20, &log, NULL, NULL), 0);
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{9}[+-]"
                             "[0-9]{2}:[0-9]{2} stdout F out\n",
                             REG_EXTENDED),
                     0);
    assert_int_equal(regexec(&re, log, 0, NULL, 0), 0);
    regfree(&re);
    assert_non_null(strstr(log, " stderr F err\n"));
    assert_non_null(strstr(log, " stdout P nonl\n"));
    assert_null(strstr(log, " F \n"));
    mon_close(&m);
}

/* Input through the attach socket (200 KB in podman's 32 KiB packets, then its
 * shutdown(SHUT_WR) ends the process's stdin), output back in packets of at most 8193 bytes
 * with the stream in the first byte, then the end of the socket. */
static void test_attach_io(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"sh", "-c", "cat; echo done >&2", NULL};
    size_t total = 200 * 1024, sent = 0;
    cleanup_free char *in = xmalloc(total);
    cleanup_free char *out = NULL;
    cleanup_free char *err = NULL;
    cleanup_free char *code = NULL;
    cleanup_free char *out2 = NULL;
    cleanup_free char *err2 = NULL;
    size_t out_len, err_len, out2_len, err2_len;
    struct args a;
    struct mon m;
    int sock, watcher;

    for (size_t i = 0; i < total; i++)
        in[i] = (char)('a' + i % 23);
    create_args(f, &a, argv);
    push(&a, "-l");
    push(&a, "none");
    push(&a, "-i");
    mon_spawn(f, &a, false, -1, -1, &m);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    assert_true(read_msg(m.sync, NULL, 0) > 0);
    sock = attach_connect(f->bundle);
    /* A second client that only watches (it does not end its input, which would end the
     * process's, as with conmon): it gets every packet too. */
    watcher = attach_connect(f->bundle);
    runc_do(f, "start", ID);
    while (sent < total) {
        size_t n = total - sent < 32768 ? total - sent : 32768;
        assert_int_equal(send(sock, in + sent, n, 0), (ssize_t)n);
        sent += n;
    }
    shutdown(sock, SHUT_WR);
    attach_read_all(sock, &out, &out_len, &err, &err_len);
    close(sock);
    assert_int_equal(out_len, total);
    assert_memory_equal(out, in, total);
    assert_string_equal(err, "done\n");
    attach_read_all(watcher, &out2, &out2_len, &err2, &err2_len);
    close(watcher);
    assert_int_equal(out2_len, total);
    assert_memory_equal(out2, in, total);
    assert_string_equal(err2, "done\n");
    code = exit_file(f->exits, ID);
    assert_string_equal(code, "0");
    wait_monitor_gone(read_pid(f->conmon_pid));
    mon_close(&m);
}

/* The runtime fails: its own words reach the caller with -1, and nothing is left: no
 * monitor, no socket, FIFO, exit file or pid file. */
static void test_runtime_failure(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"nosuchbinary", NULL};
    char message[4096];
    cleanup_free char *attach = NULL;
    cleanup_free char *ctl = NULL;
    cleanup_free char *winsz = NULL;
    cleanup_free char *exit_path = xasprintf("%s/" ID, f->exits);
    struct args a;
    struct mon m;
    pid_t daemon;

    create_args(f, &a, argv);
    push(&a, "-l");
    push(&a, "none");
    mon_spawn(f, &a, false, -1, -1, &m);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    daemon = read_pid(f->conmon_pid);
    assert_int_equal(read_msg(m.sync, message, sizeof(message)), -1);
    if (strstr(message, "executable file not found") == NULL)
        fail_msg("message: %s", message);
    wait_monitor_gone(daemon);
    attach = xasprintf("%s/attach", f->bundle);
    ctl = xasprintf("%s/ctl", f->bundle);
    winsz = xasprintf("%s/winsz", f->bundle);
    assert_false(file_exists(attach));
    assert_false(file_exists(ctl));
    assert_false(file_exists(winsz));
    assert_false(file_exists(exit_path));
    assert_false(file_exists(f->conmon_pid));
    mon_close(&m);
}

/* Wrong command lines fail in the launcher: status 1, a one-line reason on stderr, nothing
 * made, nothing said on the sync pipe. */
static void test_bad_command_lines(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"true", NULL};
    static const struct {
        const char *drop; /* an argument left out, with its value */
        const char *add[3];
        const char *expect;
    } cases[] = {
        {"-c", {NULL}, "-c/--cid is required"},
        {"--exit-dir", {NULL}, "--exit-dir is required"},
        {NULL, {"--bogus", NULL}, "unknown option --bogus"},
        {NULL, {"--restore", NULL}, "--restore is not supported"},
        {"-b", {"-b", "/nonexistent/bundle", NULL}, "bundle /nonexistent/bundle: No such file"},
    };

    for (size_t i = 0; i < TETHER_ARRAY_SIZE(cases); i++) {
        struct args full, a = {0};
        struct mon m;
        char err[1024];

        create_args(f, &full, argv);
        for (int k = 0; k < full.n; k++) {
            if (cases[i].drop != NULL && strcmp(full.v[k], cases[i].drop) == 0) {
                k++;
                continue;
            }
            push(&a, full.v[k]);
        }
        push(&a, "-l");
        push(&a, "none");
        for (size_t k = 0; cases[i].add[k] != NULL; k++)
            push(&a, cases[i].add[k]);
        mon_spawn(f, &a, false, -1, -1, &m);
        send_start(&m);
        assert_int_equal(mon_first_status(&m, err, sizeof(err)), 1);
        if (strstr(err, cases[i].expect) == NULL || strncmp(err, "tether-conmon: ", 15) != 0)
            fail_msg("case %zu: stderr \"%s\" lacks \"%s\"", i, err, cases[i].expect);
        /* Nothing on the sync pipe: it just ends. */
        {
            char buf[64];
            assert_int_equal(read(m.sync, buf, sizeof(buf)), 0);
        }
        assert_false(file_exists(f->conmon_pid));
        mon_close(&m);
    }
}

/* --timeout kills the process and the exit file says -1, as conmon's does. */
static void test_timeout(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"sleep", "100", NULL};
    cleanup_free char *code = NULL;
    struct timespec t0, t1;
    struct args a;
    struct mon m;

    create_args(f, &a, argv);
    push(&a, "-l");
    push(&a, "none");
    push(&a, "--timeout=1");
    mon_spawn(f, &a, false, -1, -1, &m);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    assert_true(read_msg(m.sync, NULL, 0) > 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    runc_do(f, "start", ID);
    code = exit_file(f->exits, ID);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_string_equal(code, "-1");
    assert_true(t1.tv_sec - t0.tv_sec < 10);
    wait_monitor_gone(read_pid(f->conmon_pid));
    mon_close(&m);
}

/* -l passthrough: the process writes to the caller's own stdout; no attach socket. */
static void test_passthrough(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"sh", "-c", "echo straight", NULL};
    cleanup_free char *attach = NULL;
    cleanup_free char *code = NULL;
    char buf[64] = {0};
    struct args a;
    struct mon m;
    int out[2];

    if (pipe2(out, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
    create_args(f, &a, argv);
    push(&a, "-l");
    push(&a, "passthrough");
    mon_spawn(f, &a, false, out[1], -1, &m);
    close(out[1]);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    assert_true(read_msg(m.sync, NULL, 0) > 0);
    attach = xasprintf("%s/attach", f->bundle);
    assert_false(file_exists(attach));
    runc_do(f, "start", ID);
    code = exit_file(f->exits, ID);
    assert_string_equal(code, "0");
    assert_int_equal(read(out[0], buf, sizeof(buf) - 1), 9);
    assert_string_equal(buf, "straight\n");
    close(out[0]);
    wait_monitor_gone(read_pid(f->conmon_pid));
    mon_close(&m);
}

/* SIGTERM to the monitor goes to the container (which traps it); an fd the caller left to
 * the monitor stays open as long as the container runs; the exit command runs --exit-delay
 * after the exit file. */
static void test_signal_and_exit_delay(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {
        "sh", "-c", "trap 'exit 7' TERM; echo ready; while :; do sleep 0.1; done", NULL};
    cleanup_free char *cmd = xasprintf("echo ran > %s", f->marker);
    cleanup_free char *code = NULL;
    cleanup_free char *exit_path = xasprintf("%s/" ID, f->exits);
    struct stat st_exit, st_marker;
    struct args a;
    struct mon m;
    pid_t daemon;
    int sock, held[2];
    char pkt[64];
    struct pollfd pfd;

    create_args(f, &a, argv);
    push(&a, "-l");
    push(&a, "none");
    push(&a, "--exit-command");
    push(&a, "/bin/sh");
    push(&a, "--exit-command-arg=-c");
    push(&a, "--exit-command-arg");
    push(&a, cmd);
    push(&a, "--exit-delay=1");
    if (pipe2(held, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
    mon_spawn(f, &a, false, -1, held[1], &m);
    close(held[1]);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    assert_true(read_msg(m.sync, NULL, 0) > 0);
    daemon = read_pid(f->conmon_pid);
    sock = attach_connect(f->bundle);
    runc_do(f, "start", ID);
    /* The trap is set once it said so. */
    assert_true(recv(sock, pkt, sizeof(pkt), 0) > 0);
    close(sock);
    pfd = (struct pollfd){.fd = held[0], .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 200), 0);
    assert_int_equal(kill(daemon, SIGTERM), 0);
    code = exit_file(f->exits, ID);
    assert_string_equal(code, "7");
    assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
    assert_int_equal(read(held[0], pkt, 1), 0);
    close(held[0]);
    wait_monitor_gone(daemon);
    assert_int_equal(stat(exit_path, &st_exit), 0);
    assert_int_equal(stat(f->marker, &st_marker), 0);
    assert_true((st_marker.st_mtim.tv_sec - st_exit.st_mtim.tv_sec) * 1000000000LL +
                    (st_marker.st_mtim.tv_nsec - st_exit.st_mtim.tv_nsec) >=
                900000000LL);
    mon_close(&m);
}

/* Everything the process wrote is in the log when the exit file appears, and "2 0 0" on
 * the ctl FIFO reopens the log (after an external rotation moved it). */
static void test_log_drained_and_reopened(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"sh", "-c", "echo before; read x; seq 1 100000; exit 0",
                                       NULL};
    cleanup_free char *log_arg = xasprintf("k8s-file:%s", f->log);
    cleanup_free char *rotated = xasprintf("%s.1", f->log);
    cleanup_free char *ctl = NULL;
    cleanup_free char *code = NULL;
    cleanup_free char *log = NULL;
    cleanup_free char *old = NULL;
    struct args a;
    struct mon m;
    int sock, fd;
    char pkt[64];

    create_args(f, &a, argv);
    push(&a, "-l");
    push(&a, log_arg);
    push(&a, "-i");
    mon_spawn(f, &a, false, -1, -1, &m);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    assert_true(read_msg(m.sync, NULL, 0) > 0);
    sock = attach_connect(f->bundle);
    runc_do(f, "start", ID);
    assert_true(recv(sock, pkt, sizeof(pkt), 0) > 0); /* "before" is out */
    assert_int_equal(rename(f->log, rotated), 0);
    ctl = xasprintf("%s/ctl", f->bundle);
    fd = open(ctl, O_WRONLY | O_NONBLOCK);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "2 0 0\n", 6), 6);
    close(fd);
    th_wait_until(file_exists, f->log, WAIT_MS);
    assert_int_equal(send(sock, "go\n", 3, 0), 3);
    code = exit_file(f->exits, ID);
    /* At once: nothing of the output is still on its way. */
    assert_int_equal(tether_read_file(f->log, 8 << 20, &log, NULL, NULL), 0);
    assert_string_equal(code, "0");
    assert_non_null(strstr(log, " stdout F 1\n"));
    assert_non_null(strstr(log, " stdout F 100000\n"));
    assert_null(strstr(log, "before"));
    assert_int_equal(tether_read_file(rotated, 1 << 20, &old, NULL, NULL), 0);
    assert_non_null(strstr(old, " stdout F before\n"));
    close(sock);
    wait_monitor_gone(read_pid(f->conmon_pid));
    mon_close(&m);
}

/* --leave-stdin-open: a client that ends its input does not end the process's stdin; the
 * next client's input still goes in. */
static void test_leave_stdin_open(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"sh", "-c", "read x; echo got:$x; read y; echo got:$y",
                                       NULL};
    cleanup_free char *out = NULL;
    cleanup_free char *err = NULL;
    cleanup_free char *code = NULL;
    size_t out_len, err_len;
    struct args a;
    struct mon m;
    int first, second;

    create_args(f, &a, argv);
    push(&a, "-l");
    push(&a, "none");
    push(&a, "-i");
    push(&a, "--leave-stdin-open");
    mon_spawn(f, &a, false, -1, -1, &m);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    assert_true(read_msg(m.sync, NULL, 0) > 0);
    first = attach_connect(f->bundle);
    runc_do(f, "start", ID);
    assert_int_equal(send(first, "one\n", 4, 0), 4);
    shutdown(first, SHUT_WR);
    second = attach_connect(f->bundle);
    assert_int_equal(send(second, "two\n", 4, 0), 4);
    attach_read_all(first, &out, &out_len, &err, &err_len);
    assert_string_equal(out, "got:one\ngot:two\n");
    close(first);
    close(second);
    code = exit_file(f->exits, ID);
    assert_string_equal(code, "0");
    wait_monitor_gone(read_pid(f->conmon_pid));
    mon_close(&m);
}

/* CRI-O's ways: --sync (the launcher is the monitor: its status is the container's),
 * --socket-dir-path without --full-attach (the socket reachable as DIR/UUID/attach), and
 * --persist-dir (a copy of the exit code). */
static void test_crio_options(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"sh", "-c", "read x; exit 2", NULL};
    cleanup_free char *socks = xasprintf("%s/socks", f->env.dir);
    cleanup_free char *persist = xasprintf("%s/persist", f->env.dir);
    cleanup_free char *link = xasprintf("%s/socks/" ID, f->env.dir);
    cleanup_free char *persisted = xasprintf("%s/persist/exit", f->env.dir);
    cleanup_free char *code = NULL;
    cleanup_free char *copy = NULL;
    struct args full, a = {0};
    struct mon m;
    int sock;

    if (mkdir(persist, 0700) < 0)
        fail_msg("mkdir: %s", strerror(errno));
    create_args(f, &full, argv);
    for (int k = 0; k < full.n; k++)
        if (strcmp(full.v[k], "--full-attach") != 0)
            push(&a, full.v[k]);
    push(&a, "-l");
    push(&a, "none");
    push(&a, "-i");
    push(&a, "--sync");
    push(&a, "--socket-dir-path");
    push(&a, socks);
    push(&a, "--persist-dir");
    push(&a, persist);
    mon_spawn(f, &a, false, -1, -1, &m);
    send_start(&m);
    assert_true(read_msg(m.sync, NULL, 0) > 0);
    assert_int_equal(read_pid(f->conmon_pid), m.first);
    sock = attach_connect(link);
    runc_do(f, "start", ID);
    assert_int_equal(send(sock, "x\n", 2, 0), 2);
    close(sock);
    assert_int_equal(mon_first_status(&m, NULL, 0), 2);
    code = exit_file(f->exits, ID);
    assert_string_equal(code, "2");
    assert_int_equal(tether_read_file(persisted, 64, &copy, NULL, NULL), 0);
    assert_string_equal(copy, "2");
    assert_false(file_exists(link));
    mon_close(&m);
}

/* An exec session in a container another monitor made: {"data": 0} on the attach pipe once
 * the socket exists, the start byte, the exec's pid, its output, its exit file (named by the
 * container's id, in the session's exit dir) and its exit code on the sync pipe. */
static void test_exec_session(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"sleep", "1000", NULL};
    cleanup_free char *sess = xasprintf("%s/sess", f->env.dir);
    cleanup_free char *sess_exit = xasprintf("%s/sess/exit", f->env.dir);
    cleanup_free char *spec_path = xasprintf("%s/sess/process.json", f->env.dir);
    cleanup_free char *pid_path = xasprintf("%s/sess/exec_pid", f->env.dir);
    cleanup_free char *out = NULL;
    cleanup_free char *err = NULL;
    cleanup_free char *code = NULL;
    size_t out_len, err_len;
    struct args a;
    struct mon m;
    pid_t pid;
    int sock;
    static const char spec[] =
        "{\"args\":[\"sh\",\"-c\",\"echo from-exec; echo oops >&2; exit 5\"],"
        "\"env\":[\"PATH=/bin\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0}}";

    th_make_bundle(&f->env, "bundle", argv, f->bundle, sizeof(f->bundle));
    {
        const char *run[] = {
            RUNC, "--root", f->env.runtime_root, "run", "-d", "--bundle", f->bundle, ID, NULL};
        if (th_run(run, NULL) != 0)
            fail_msg("runc run failed");
    }
    if (mkdir(sess, 0700) < 0 || mkdir(sess_exit, 0700) < 0)
        fail_msg("mkdir: %s", strerror(errno));
    if (tether_write_file_atomic(spec_path, spec, strlen(spec), 0600, NULL) < 0)
        fail_msg("write spec");
    base_args(f, &a, "sess1");
    push(&a, "-b");
    push(&a, sess);
    push(&a, "-p");
    push(&a, pid_path);
    push(&a, "--exit-dir");
    push(&a, sess_exit);
    push(&a, "-l");
    push(&a, "none");
    push(&a, "-e");
    push(&a, "--exec-attach");
    push(&a, "--exec-process-spec");
    push(&a, spec_path);
    push(&a, "--conmon-pidfile");
    push(&a, f->conmon_pid);
    mon_spawn(f, &a, true, -1, -1, &m);
    send_start(&m);
    assert_int_equal(mon_first_status(&m, NULL, 0), 0);
    assert_int_equal(read_msg(m.attach, NULL, 0), 0);
    sock = attach_connect(sess);
    send_start(&m);
    pid = read_msg(m.sync, NULL, 0);
    assert_true(pid > 0);
    attach_read_all(sock, &out, &out_len, &err, &err_len);
    close(sock);
    assert_string_equal(out, "from-exec\n");
    assert_string_equal(err, "oops\n");
    code = exit_file(sess_exit, ID);
    assert_string_equal(code, "5");
    assert_int_equal(read_msg(m.sync, NULL, 0), 5);
    assert_int_equal(read_pid(pid_path), pid);
    wait_monitor_gone(read_pid(f->conmon_pid));
    mon_close(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_to_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_attach_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_command_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_passthrough, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_and_exit_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_drained_and_reopened, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leave_stdin_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crio_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_session, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
