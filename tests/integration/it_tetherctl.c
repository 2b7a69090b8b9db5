/* tetherctl end to end: the real binary driving real tether-shims and runc containers —
 * run with exit codes and events, the create/start/wait/delete/shutdown cycle, ls, logs
 * in every format (and -f across rotations), exec, stop, pause/resume, update, stats, top,
 * and interactive sessions through a pseudo-terminal (run -t -i, detach, attach, exec -t). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

/* Bounds for one tetherctl command and for a pseudo-terminal session step: generous, the
 * tests run on loaded machines with sanitizers on. */
#define CTL_CMD_MS  60000
#define CTL_STEP_MS 30000
#define CTL_ARGS    48
#define CTL_IDS     8
#define MIB         (1024 * 1024)
/* Ends the argument lists of ctl_io() and term_start(). */
#define CTL_END ((const char *)NULL)

static const char *const argv_sleep[] = {"sleep", "1000", NULL};
static const char *const argv_sh[] = {"sh", NULL};

struct fx {
    struct th_env env;
    char bundle[PATH_MAX];
    char ids[CTL_IDS][129]; /* containers made by the test, removed at teardown */
    int n_ids;
    int n_runs; /* names the capture files */
};

static int fx_setup(void **state)
{
    struct fx *fx = xzalloc(sizeof(*fx));

    th_env_init(&fx->env);
    *state = fx;
    return 0;
}

/* ---- running tetherctl ---- */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

/* argv: tetherctl --state-dir S, then the NULL-terminated args. */
static void build_argv(struct fx *fx, const char **argv, va_list ap)
{
    size_t n = 0;
    const char *a;

    argv[n++] = th_bin("tetherctl");
    argv[n++] = "--state-dir";
    argv[n++] = fx->env.state_dir;
    while ((a = va_arg(ap, const char *)) != NULL) {
        if (n + 1 >= CTL_ARGS)
            fail_msg("too many tetherctl arguments");
        argv[n++] = a;
    }
    argv[n] = NULL;
}

static void exec_child(const char **argv)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(argv[0], (char *const *)argv);
    fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Starts tetherctl with stdin from input (NULL: /dev/null) and stdout, stderr into
 * <dir>/<tag>.out and .err. */
static pid_t spawn_ctl(struct fx *fx, const char *input, const char *tag, va_list ap)
{
    const char *argv[CTL_ARGS];
    cleanup_free char *in_path = xasprintf("%s/%s.in", fx->env.dir, tag);
    cleanup_free char *out_path = xasprintf("%s/%s.out", fx->env.dir, tag);
    cleanup_free char *err_path = xasprintf("%s/%s.err", fx->env.dir, tag);
    struct tether_error err = {0};
    pid_t pid;

    build_argv(fx, argv, ap);
    if (input != NULL && tether_write_file_atomic(in_path, input, strlen(input), 0600, &err) < 0)
        fail_msg("%s", err.msg);
    pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int in = open(input != NULL ? in_path : "/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int errfd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || errfd < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(errfd, 2) < 0)
            _exit(126);
        exec_child(argv);
    }
    return pid;
}

/* Waits for pid up to timeout_ms (then kills it and fails the test); its exit code. */
static int reap(pid_t pid, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return exit_code(status);
        if (r < 0 && errno != EINTR)
            fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("tetherctl (pid %d) did not finish within %d ms", (int)pid, timeout_ms);
        }
        sleep_ms(10);
    }
}

static char *read_capture(struct fx *fx, const char *tag, const char *ext)
{
    cleanup_free char *path = xasprintf("%s/%s.%s", fx->env.dir, tag, ext);
    struct tether_error err = {0};
    char *text = NULL;

    if (tether_read_file(path, 16 * MIB, &text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    return text;
}

/* Runs tetherctl ARGS... (NULL-terminated) to its end; its stdout and stderr go to *out and
 * *err when not NULL. Returns its exit code. */
static int ctl_io(struct fx *fx, const char *input, char **out, char **err, ...)
{
    char tag[32];
    va_list ap;
    pid_t pid;
    int code;

    snprintf(tag, sizeof(tag), "ctl-%d", ++fx->n_runs);
    va_start(ap, err);
    pid = spawn_ctl(fx, input, tag, ap);
    va_end(ap);
    code = reap(pid, CTL_CMD_MS);
    if (out != NULL)
        *out = read_capture(fx, tag, "out");
    if (err != NULL)
        *err = read_capture(fx, tag, "err");
    return code;
}

/* Starts tetherctl ARGS... (CTL_END-terminated) in the background; its output is read with
 * read_capture(fx, tag, "out"/"err") after reap(). */
static pid_t ctl_bg(struct fx *fx, const char *tag, ...)
{
    va_list ap;
    pid_t pid;

    va_start(ap, tag);
    pid = spawn_ctl(fx, NULL, tag, ap);
    va_end(ap);
    return pid;
}

#define ctl(fx, ...)          ctl_io((fx), NULL, NULL, NULL, __VA_ARGS__, CTL_END)
#define ctl_out(fx, out, ...) ctl_io((fx), NULL, (out), NULL, __VA_ARGS__, CTL_END)

/* ---- containers ---- */

static const char *new_id(struct fx *fx)
{
    if (fx->n_ids == CTL_IDS)
        fail_msg("more than %d containers in one test", CTL_IDS);
    th_shim_unique_id("ctl", fx->ids[fx->n_ids], sizeof(fx->ids[0]));
    return fx->ids[fx->n_ids++];
}

static void make_bundle(struct fx *fx, const char *const argv[])
{
    th_require_runtime(&fx->env, "runc");
    th_make_bundle(&fx->env, "bundle", argv, fx->bundle, sizeof(fx->bundle));
}

static void edit_terminal(json_t *config, void *data)
{
    (void)data;
    json_object_set_new(json_object_get(config, "process"), "terminal", json_true());
}

static pid_t shim_pid(struct fx *fx, const char *id)
{
    cleanup_free char *path = xasprintf("%s/%s/shim.pid", fx->env.state_dir, id);
    cleanup_free char *text = NULL;

    if (tether_read_file(path, 64, &text, NULL, NULL) < 0)
        return 0;
    return (pid_t)atoi(text);
}

/* create + start, both through tetherctl. */
static void create_start(struct fx *fx, const char *id)
{
    assert_int_equal(
        ctl(fx, "create", id, "--bundle", fx->bundle, "--runtime-root", fx->env.runtime_root), 0);
    assert_int_equal(ctl(fx, "start", id), 0);
}

/* The container's state as tetherctl --json prints it (new reference). */
static json_t *state_of(struct fx *fx, const char *id)
{
    cleanup_free char *out = NULL;
    json_t *st;

    assert_int_equal(ctl_out(fx, &out, "--json", "state", id), 0);
    st = json_loads(out, 0, NULL);
    if (st == NULL)
        fail_msg("state is not JSON: %s", out);
    return st;
}

static void assert_status(struct fx *fx, const char *id, const char *want)
{
    json_auto_t *st = state_of(fx, id);

    assert_string_equal(th_str(st, "status"), want);
}

static void remove_container(struct fx *fx, const char *id)
{
    assert_int_equal(ctl(fx, "delete", "--force", id), 0);
    assert_int_equal(ctl(fx, "shutdown", id), 0);
}

static int fx_teardown(void **state)
{
    struct fx *fx = *state;

    for (int i = 0; i < fx->n_ids; i++) {
        pid_t pid = shim_pid(fx, fx->ids[i]);
        if (pid <= 0 || !th_pid_alive(pid))
            continue;
        ctl(fx, "shutdown", "--force", fx->ids[i]);
        if (th_pid_alive(pid)) {
            kill(pid, SIGKILL);
            th_wait_pid_dead(pid, TH_GONE_MS);
        }
    }
    th_env_cleanup(&fx->env);
    free(fx);
    return 0;
}

/* ---- run ---- */

/* run passes the exit code through, prints events with --events, forwards stdin with -i
 * and prints the output, stderr apart. */
static void test_run(void **state)
{
    static const char *const argv[] = {"sh", "-c", "cat; echo err >&2; exit 7", NULL};
    struct fx *fx = *state;
    const char *id1, *id2;
    cleanup_free char *out = NULL;
    cleanup_free char *err = NULL;
    cleanup_free char *events = NULL;
    cleanup_free char *logs = NULL;
    cleanup_free char *logs_err = NULL;

    make_bundle(fx, argv);
    id1 = new_id(fx);
    assert_int_equal(ctl_io(fx, "hello\nworld", &out, &err, "run", id1, "-i", "--bundle",
                            fx->bundle, "--runtime-root", fx->env.runtime_root, CTL_END),
                     7);
    assert_string_equal(out, "hello\nworld");
    assert_string_equal(err, "err\n");

    /* The log holds the same, printed as plain text. */
    assert_int_equal(ctl_io(fx, NULL, &logs, &logs_err, "logs", id1, CTL_END), 0);
    assert_string_equal(logs, "hello\nworld\n");
    assert_string_equal(logs_err, "err\n");

    id2 = new_id(fx);
    assert_int_equal(ctl_out(fx, &events, "run", id2, "--events", "--bundle", fx->bundle,
                             "--runtime-root", fx->env.runtime_root),
                     7);
    assert_non_null(strstr(events, " create pid="));
    assert_non_null(strstr(events, " start pid="));
    assert_non_null(strstr(events, " exit exit_status=7"));
    assert_non_null(strstr(events, " delete exit_status=7"));
    assert_true(strstr(events, " create ") < strstr(events, " start ") &&
                strstr(events, " start ") < strstr(events, " exit ") &&
                strstr(events, " exit ") < strstr(events, " delete "));
    /* run leaves nothing running: the shims are gone. */
    assert_true(th_wait_pid_dead(shim_pid(fx, id1), TH_GONE_MS));
    assert_true(th_wait_pid_dead(shim_pid(fx, id2), TH_GONE_MS));
}

/* run with a restart policy stays through the restarts: on-failure:2 gives three runs. */
static void test_run_restart(void **state)
{
    static const char *const argv[] = {"sh", "-c", "echo once; exit 3", NULL};
    struct fx *fx = *state;
    cleanup_free char *out = NULL;
    const char *p;
    int starts = 0;

    make_bundle(fx, argv);
    assert_int_equal(ctl_out(fx, &out, "run", new_id(fx), "-i", "--events", "--restart",
                             "on-failure:2", "--bundle", fx->bundle, "--runtime-root",
                             fx->env.runtime_root),
                     3);
    for (p = out; (p = strstr(p, " start pid=")) != NULL; p++)
        starts++;
    assert_int_equal(starts, 3);
    assert_non_null(strstr(out, " restart attempt=2"));
    assert_null(strstr(out, " restart attempt=3"));
    /* Removing the old run's cgroup for a restart is no OOM. */
    assert_null(strstr(out, " oom "));
}

/* ---- the life cycle, one command at a time ---- */

static bool ls_row_has(const char *ls, const char *id, const char *what)
{
    const char *row = strstr(ls, id);
    const char *end;

    if (row == NULL)
        return false;
    end = strchr(row, '\n');
    return end != NULL && memmem(row, (size_t)(end - row), what, strlen(what)) != NULL;
}

static void test_lifecycle(void **state)
{
    struct fx *fx = *state;
    const char *id;
    cleanup_free char *created = NULL;
    cleanup_free char *ls1 = NULL;
    cleanup_free char *ls2 = NULL;
    cleanup_free char *ls3 = NULL;
    cleanup_free char *waited = NULL;
    pid_t shim;

    make_bundle(fx, argv_sleep);
    id = new_id(fx);
    assert_int_equal(ctl_out(fx, &created, "create", id, "--bundle", fx->bundle, "--runtime-root",
                             fx->env.runtime_root),
                     0);
    assert_non_null(strstr(created, "pid:"));
    assert_non_null(strstr(created, "shim_pid:"));
    shim = shim_pid(fx, id);
    assert_true(shim > 0 && th_pid_alive(shim));
    assert_int_equal(ctl_out(fx, &ls1, "ls"), 0);
    assert_non_null(strstr(ls1, "STATUS"));
    assert_true(ls_row_has(ls1, id, "created"));
    assert_true(ls_row_has(ls1, id, "alive"));

    assert_int_equal(ctl(fx, "start", id), 0);
    assert_int_equal(ctl_out(fx, &ls2, "ls"), 0);
    assert_true(ls_row_has(ls2, id, "running"));

    assert_int_equal(ctl(fx, "kill", id, "KILL"), 0);
    assert_int_equal(ctl_out(fx, &waited, "wait", id), 137);
    assert_non_null(strstr(waited, "exit_status: 137"));
    assert_int_equal(ctl(fx, "delete", id), 0);
    assert_int_equal(ctl(fx, "shutdown", id), 0);
    assert_true(th_wait_pid_dead(shim, TH_GONE_MS));
    assert_int_equal(ctl_out(fx, &ls3, "ls"), 0);
    assert_true(ls_row_has(ls3, id, "stopped"));
    assert_true(ls_row_has(ls3, id, "dead"));
    assert_true(ls_row_has(ls3, id, "137"));
}

/* pause and resume show in state; stats reads the cgroup; update changes its limits; top
 * lists the init. */
static void test_operations(void **state)
{
    struct fx *fx = *state;
    const char *id;
    cleanup_free char *stats_text = NULL;
    cleanup_free char *stats_human = NULL;
    cleanup_free char *updated_text = NULL;
    cleanup_free char *top = NULL;
    cleanup_free char *watched = NULL;
    json_auto_t *stats = NULL;
    pid_t watcher;
    json_auto_t *updated = NULL;

    make_bundle(fx, argv_sleep);
    id = new_id(fx);
    create_start(fx, id);

    assert_int_equal(ctl(fx, "pause", id), 0);
    assert_status(fx, id, "paused");
    assert_int_equal(ctl(fx, "pause", id), 1); /* not running */
    assert_int_equal(ctl(fx, "resume", id), 0);
    assert_status(fx, id, "running");

    assert_int_equal(ctl_out(fx, &stats_text, "stats", id, "--json"), 0);
    stats = json_loads(stats_text, 0, NULL);
    assert_non_null(stats);
    assert_true(th_int(json_object_get(stats, "memory"), "usage_bytes") > 0);
    assert_true(th_int(json_object_get(stats, "pids"), "current") >= 1);
    assert_int_equal(ctl_out(fx, &stats_human, "stats", id), 0);
    assert_non_null(strstr(stats_human, "CPU %"));
    assert_non_null(strstr(stats_human, "MEM USAGE / LIMIT"));

    assert_int_equal(ctl(fx, "update", id, "--memory", "64m", "--pids-limit", "50"), 0);
    assert_int_equal(ctl_out(fx, &updated_text, "--json", "stats", id), 0);
    updated = json_loads(updated_text, 0, NULL);
    assert_non_null(updated);
    assert_int_equal(th_int(json_object_get(updated, "memory"), "limit_bytes"), 64 * MIB);
    assert_int_equal(th_int(json_object_get(updated, "pids"), "limit"), 50);
    assert_int_equal(ctl(fx, "update", id), 2); /* nothing to update */

    assert_int_equal(ctl_out(fx, &top, "top", id), 0);
    assert_non_null(strstr(top, "COMMAND"));
    assert_non_null(strstr(top, "init"));
    assert_non_null(strstr(top, "sleep 1000"));

    /* stats --watch prints a line per interval and ends with the container. */
    watcher = ctl_bg(fx, "watch", "stats", id, "--watch", "--interval", "0.1", CTL_END);
    sleep_ms(800);
    assert_int_equal(ctl(fx, "kill", id, "KILL"), 0);
    assert_int_equal(reap(watcher, CTL_CMD_MS), 0);
    watched = read_capture(fx, "watch", "out");
    assert_non_null(strstr(watched, "MEM USAGE / LIMIT"));
    assert_non_null(strstr(watched, "64.0MiB"));
    assert_non_null(strstr(watched, "50"));
    remove_container(fx, id);
}

/* sleep as PID 1 ignores SIGTERM: stop -t 1 ends it with SIGKILL after a second. */
static void test_stop(void **state)
{
    struct fx *fx = *state;
    const char *id;
    cleanup_free char *out = NULL;
    int64_t t0;

    make_bundle(fx, argv_sleep);
    id = new_id(fx);
    create_start(fx, id);
    t0 = now_ms();
    assert_int_equal(ctl_out(fx, &out, "stop", id, "-t", "1"), 137);
    assert_true(now_ms() - t0 >= 900);
    assert_non_null(strstr(out, "exit_status: 137"));
    assert_status(fx, id, "stopped");
    remove_container(fx, id);
}

/* ---- exec ---- */

static void test_exec(void **state)
{
    struct fx *fx = *state;
    const char *id;
    cleanup_free char *out1 = NULL, *err1 = NULL;
    cleanup_free char *out2 = NULL;
    cleanup_free char *out3 = NULL;
    cleanup_free char *out4 = NULL;

    make_bundle(fx, argv_sleep);
    id = new_id(fx);
    create_start(fx, id);

    assert_int_equal(ctl_io(fx, NULL, &out1, &err1, "exec", id, "--", "sh", "-c",
                            "echo out; echo err >&2; exit 3", CTL_END),
                     3);
    assert_string_equal(out1, "out\n");
    assert_string_equal(err1, "err\n");

    /* Without "--" the command starts at the operand after the id, options and all. */
    assert_int_equal(ctl_out(fx, &out2, "exec", "-e", "FOO=bar", "-w", "/tmp", id, "sh", "-c",
                             "echo $FOO $(pwd) $PATH"),
                     0);
    assert_string_equal(out2,
                        "bar /tmp /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");

    assert_int_equal(ctl_io(fx, "abc\ndef\n", &out3, NULL, "exec", "-i", id, "--", "cat", CTL_END),
                     0);
    assert_string_equal(out3, "abc\ndef\n");

    /* A terminal: one stream, CR LF line ends. */
    assert_int_equal(ctl_out(fx, &out4, "exec", "-t", id, "--", "sh", "-c",
                             "test -t 0 && test -t 1 && echo tty-yes >&2"),
                     0);
    assert_string_equal(out4, "tty-yes\r\n");

    /* The record is removed after the exec: its id can be used again. */
    assert_int_equal(ctl(fx, "exec", "--id", "probe", id, "--", "true"), 0);
    assert_int_equal(ctl(fx, "state", id, "--exec", "probe"), 1);
    assert_int_equal(ctl(fx, "exec", "--id", "probe", id, "--", "sh", "-c", "exit 4"), 4);

    /* Refused in a paused container, with tetherctl's own status. */
    assert_int_equal(ctl(fx, "pause", id), 0);
    assert_int_equal(ctl(fx, "exec", id, "--", "true"), 125);
    assert_int_equal(ctl(fx, "resume", id), 0);
    remove_container(fx, id);
}

/* A command that cannot be started: 127 as a shell says, and the shim carries on. */
static void test_exec_missing(void **state)
{
    struct fx *fx = *state;
    const char *id;
    cleanup_free char *err = NULL;
    cleanup_free char *out = NULL;

    make_bundle(fx, argv_sleep);
    id = new_id(fx);
    create_start(fx, id);
    assert_int_equal(ctl_io(fx, NULL, NULL, &err, "exec", id, "--", "no-such-command", CTL_END),
                     127);
    assert_non_null(strstr(err, "no-such-command"));
    assert_int_equal(ctl_out(fx, &out, "exec", id, "--", "echo", "still-there"), 0);
    assert_string_equal(out, "still-there\n");
    assert_status(fx, id, "running");
    remove_container(fx, id);
}

/* ---- logs ---- */

static void write_text(const char *path, const char *text)
{
    struct tether_error err = {0};

    if (tether_write_file_atomic(path, text, strlen(text), 0600, &err) < 0)
        fail_msg("%s", err.msg);
}

/* Every format in one file, detected line by line; P records joined, stderr apart. */
static void test_logs_formats(void **state)
{
    struct fx *fx = *state;
    cleanup_free char *path = xasprintf("%s/mixed.log", fx->env.dir);
    cleanup_free char *out = NULL;
    cleanup_free char *err = NULL;

    write_text(path, "2026-11-22T14:13:41.492604010Z stdout P hello \n"
                     "2026-11-22T14:13:41.492604011Z stderr F oops\n"
                     "2026-11-22T14:13:41.492604012Z stdout P wor\n"
                     "2026-11-22T14:13:41.492604013Z stdout F ld\n"
                     "2026-11-22T14:13:41.492604014Z stdout F \n"
                     "2026-11-22T14:13:41.492604015Z stdout F\n"
                     "{\"time\":\"2026-11-22T14:13:42Z\",\"stream\":\"stdout\",\"log\":\"json "
                     "line\\n\"}\n"
                     "{\"time\":\"2026-11-22T14:13:42Z\",\"stream\":\"stderr\",\"log\":\"json "
                     "err\\n\"}\n"
                     "plain raw line\n"
                     "no newline at the end");
    assert_int_equal(ctl_io(fx, NULL, &out, &err, "logs", "any", "--path", path, CTL_END), 0);
    assert_string_equal(out, "hello world\n\n\njson line\nplain raw line\nno newline at the end");
    assert_string_equal(err, "oops\njson err\n");
}

static void check_logs_of_run(struct fx *fx, const char *format, const char *want)
{
    const char *id = new_id(fx);
    cleanup_free char *out = NULL;

    assert_int_equal(ctl(fx, "run", id, "--log-format", format, "--bundle", fx->bundle,
                         "--runtime-root", fx->env.runtime_root),
                     0);
    assert_int_equal(ctl_out(fx, &out, "logs", id), 0);
    assert_string_equal(out, want);
}

/* A real container's log: a line longer than a CRI record (split into P records), and a
 * last line without a newline, in the three formats. */
static void test_logs_container(void **state)
{
    static const char *const argv[] = {
        "sh", "-c", "head -c 40000 /dev/zero | tr '\\0' a; echo; printf 'no-newline'", NULL};
    struct fx *fx = *state;
    cleanup_free char *line = xmalloc(40000 + 1);
    cleanup_free char *want = NULL;
    cleanup_free char *want_raw = NULL;
    cleanup_free char *log_path = NULL;
    cleanup_free char *log_text = NULL;

    memset(line, 'a', 40000);
    line[40000] = '\0';
    want = xasprintf("%s\nno-newline\n", line);
    want_raw = xasprintf("%s\nno-newline", line);
    make_bundle(fx, argv);
    check_logs_of_run(fx, "cri", want);
    /* The join was needed: the log holds partial records. */
    log_path = xasprintf("%s/%s/container.log", fx->env.state_dir, fx->ids[fx->n_ids - 1]);
    assert_int_equal(tether_read_file(log_path, 16 * MIB, &log_text, NULL, NULL), 0);
    assert_non_null(strstr(log_text, " stdout P "));
    /* jsonl and raw keep the missing newline; CRI can only end the line (F). */
    check_logs_of_run(fx, "jsonl", want_raw);
    check_logs_of_run(fx, "raw", want_raw);
}

/* logs -f prints lines as they come, across rotations, and ends with the container. */
static void test_logs_follow(void **state)
{
    static const char *const argv[] = {
        "sh", "-c",
        "i=0; while [ $i -lt 40 ]; do echo line-$i; echo eline-$i >&2; i=$((i+1)); sleep 0.02; "
        "done",
        NULL};
    struct fx *fx = *state;
    const char *id;
    cleanup_free char *want = xzalloc(1);
    cleanup_free char *want_err = xzalloc(1);
    cleanup_free char *out = NULL;
    cleanup_free char *err = NULL;
    cleanup_free char *rotated = NULL;
    pid_t follower;

    for (int i = 0; i < 40; i++) {
        char *w = xasprintf("%sline-%d\n", want, i);
        char *we = xasprintf("%seline-%d\n", want_err, i);
        free(want);
        free(want_err);
        want = w;
        want_err = we;
    }
    make_bundle(fx, argv);
    id = new_id(fx);
    assert_int_equal(ctl(fx, "create", id, "--log-max-size", "400", "--log-max-files", "3",
                         "--bundle", fx->bundle, "--runtime-root", fx->env.runtime_root),
                     0);
    follower = ctl_bg(fx, "follow", "logs", "-f", id, CTL_END);
    /* The follower is running before the container writes a line. */
    sleep_ms(300);
    assert_int_equal(ctl(fx, "start", id), 0);
    assert_int_equal(reap(follower, CTL_CMD_MS), 0);
    out = read_capture(fx, "follow", "out");
    err = read_capture(fx, "follow", "err");
    assert_string_equal(out, want);
    assert_string_equal(err, want_err);
    rotated = xasprintf("%s/%s/container.log.1", fx->env.state_dir, id);
    assert_true(th_path_exists(rotated));
    remove_container(fx, id);
}

/* ---- interactive sessions through a pseudo-terminal ---- */

struct term {
    pid_t pid;
    int master;
    char buf[65536];
    size_t len;
};

/* Runs tetherctl ARGS... on a new pseudo-terminal of 100x30 (forkpty(3)). */
static void term_start(struct fx *fx, struct term *t, ...)
{
    struct winsize ws = {.ws_row = 30, .ws_col = 100};
    const char *argv[CTL_ARGS];
    va_list ap;

    memset(t, 0, sizeof(*t));
    va_start(ap, t);
    build_argv(fx, argv, ap);
    va_end(ap);
    t->pid = forkpty(&t->master, NULL, NULL, &ws);
    if (t->pid < 0)
        fail_msg("forkpty: %s", strerror(errno));
    if (t->pid == 0)
        exec_child(argv);
}

/* Reads what the terminal shows until needle appears after position from; false at the
 * deadline or when the terminal closes. */
static bool term_expect(struct term *t, size_t from, const char *needle)
{
    int64_t deadline = now_ms() + CTL_STEP_MS;

    for (;;) {
        struct pollfd pfd = {.fd = t->master, .events = POLLIN};
        int64_t left = deadline - now_ms();
        ssize_t n;

        t->buf[t->len] = '\0';
        if (t->len > from && strstr(t->buf + from, needle) != NULL)
            return true;
        if (left <= 0 || t->len + 1 >= sizeof(t->buf))
            return false;
        if (poll(&pfd, 1, (int)left) <= 0)
            continue;
        n = read(t->master, t->buf + t->len, sizeof(t->buf) - 1 - t->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false; /* EIO: the other side is gone */
        t->len += (size_t)n;
    }
}

static void term_type(struct term *t, const char *keys)
{
    struct tether_error err = {0};

    if (tether_write_all(t->master, keys, strlen(keys), &err) < 0)
        fail_msg("type into the terminal: %s", err.msg);
}

/* Waits for tetherctl to end (reading on, so that it never blocks on a full terminal). */
static int term_finish(struct term *t)
{
    int64_t deadline = now_ms() + CTL_STEP_MS;
    int status;

    for (;;) {
        pid_t r = waitpid(t->pid, &status, WNOHANG);
        char scratch[4096];

        if (r == t->pid)
            break;
        if (now_ms() > deadline) {
            kill(t->pid, SIGKILL);
            waitpid(t->pid, &status, 0);
            close(t->master);
            t->buf[t->len] = '\0';
            fail_msg("tetherctl on the terminal did not finish; it showed: %s", t->buf);
        }
        if (read(t->master, scratch, sizeof(scratch)) <= 0)
            sleep_ms(10);
    }
    close(t->master);
    return exit_code(status);
}

/* A shell prompt, then a command whose output differs from its echo. */
static void term_hello(struct term *t)
{
    size_t mark;

    if (!term_expect(t, 0, "/ # "))
        fail_msg("no shell prompt; the terminal showed: %s", t->buf);
    mark = t->len;
    term_type(t, "echo hello-$((6*7))\n");
    if (!term_expect(t, mark, "hello-42"))
        fail_msg("no hello-42; the terminal showed: %s", t->buf);
}

/* run -t -i: a shell on a terminal sized like ours, its exit status passed through. */
static void test_run_terminal(void **state)
{
    struct fx *fx = *state;
    struct winsize ws = {.ws_row = 40, .ws_col = 120};
    struct term t;
    size_t mark;

    make_bundle(fx, argv_sh);
    th_bundle_edit(fx->bundle, edit_terminal, NULL);
    term_start(fx, &t, "run", new_id(fx), "-t", "-i", "--bundle", fx->bundle, "--runtime-root",
               fx->env.runtime_root, CTL_END);
    term_hello(&t);
    mark = t.len;
    term_type(&t, "stty size\n");
    assert_true(term_expect(&t, mark, "30 100"));
    /* The window changes (SIGWINCH to tetherctl): the container's terminal follows. */
    if (ioctl(t.master, TIOCSWINSZ, &ws) < 0)
        fail_msg("TIOCSWINSZ: %s", strerror(errno));
    mark = t.len;
    term_type(&t, "stty size\n");
    assert_true(term_expect(&t, mark, "40 120"));
    term_type(&t, "exit 5\n");
    assert_int_equal(term_finish(&t), 5);
}

/* Ctrl-P Ctrl-Q leaves the container running; attach and exec -t -i reach it again. */
static void test_detach_attach(void **state)
{
    struct fx *fx = *state;
    struct term t;
    const char *id;
    size_t mark;

    make_bundle(fx, argv_sh);
    th_bundle_edit(fx->bundle, edit_terminal, NULL);
    id = new_id(fx);
    term_start(fx, &t, "run", id, "-t", "-i", "--bundle", fx->bundle, "--runtime-root",
               fx->env.runtime_root, CTL_END);
    term_hello(&t);
    term_type(&t, "\x10\x11");
    assert_int_equal(term_finish(&t), 0);
    assert_status(fx, id, "running");

    /* A second shell beside it, through exec. */
    term_start(fx, &t, "exec", "-t", "-i", id, "--", "sh", CTL_END);
    term_hello(&t);
    term_type(&t, "exit 4\n");
    assert_int_equal(term_finish(&t), 4);
    assert_status(fx, id, "running");

    /* Back to the first shell: its prompt was printed before, so type at once. */
    term_start(fx, &t, "attach", id, CTL_END);
    mark = t.len;
    term_type(&t, "echo again-$((1+1))\n");
    assert_true(term_expect(&t, mark, "again-2"));
    term_type(&t, "exit 3\n");
    assert_int_equal(term_finish(&t), 3);
    assert_status(fx, id, "stopped");
    remove_container(fx, id);
}

#define CTL_TEST(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CTL_TEST(test_run),          CTL_TEST(test_run_restart),  CTL_TEST(test_lifecycle),
        CTL_TEST(test_operations),   CTL_TEST(test_stop),         CTL_TEST(test_exec),
        CTL_TEST(test_exec_missing), CTL_TEST(test_logs_formats), CTL_TEST(test_logs_container),
        CTL_TEST(test_logs_follow),  CTL_TEST(test_run_terminal), CTL_TEST(test_detach_attach),
    };

    if (geteuid() != 0) {
        printf("SKIP: needs root (runc containers)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
