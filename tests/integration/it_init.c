/* tether-init, black box: as PID 1 of a fresh PID namespace (unshare --pid --fork
 * --mount-proc) and as a subreaper without one. The workloads are busybox sh and this
 * test binary itself, re-executed in a helper mode (argv[1] == HELPER_FLAG) that records
 * the signals it receives with sigwaitinfo, leaves orphaned zombies behind, ignores
 * SIGTERM or reports its own signal state. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define HELPER_FLAG  "--it-init-helper"
#define BUSYBOX      "/bin/busybox"
#define WAIT_MS      5000 /* deadline for anything that should happen at once */
#define ZOMBIE_WAIT  1000 /* orphaned zombies must be gone within this */
#define ORPHANS      100
#define MAX_ARGS     32
#define SIZE_LIMIT   (100 * 1024)
#define RSS_LIMIT_KB 100
#define EXIT_USAGE   100
#define KILL_TIMEOUT 500  /* ms, for --kill-timeout 0.5 */
#define STRAGGLER_MS 300  /* ms, for --grace 0.3 */
#define STOP_MS      1000 /* ms, for --kill-timeout 1 and --grace 1 */
#define GRACE_MS     5000 /* tether-init's default --grace */

/* ---- helper modes (run in the re-executed test binary) ---------------------------- */

/* snprintf that fails (the test, or the helper with 98) rather than truncate. */
static void __attribute__((format(printf, 3, 4))) fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(buf, len, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "string too long: %s\n", f);
        abort();
    }
}

static void block_all(void)
{
    sigset_t all;

    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    if (fd >= 0)
        close(fd);
}

static void append_line(const char *path, const char *line)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

    if (fd < 0)
        _exit(90);
    if (write(fd, line, strlen(line)) < 0)
        _exit(91);
    close(fd);
}

/* record FILE DEPTH: a chain of DEPTH recorders (FILE, FILE.1, ...), each a child of the
 * previous one, in one process group. Each appends every signal number it gets to its
 * file (which it creates once its signals are blocked) and exits 0 after SIGTERM. */
static int helper_record(const char *file, int depth)
{
    char path[PATH_MAX], line[16];
    siginfo_t si;
    sigset_t all;

    block_all();
    fmt(path, sizeof path, "%s", file);
    for (int i = 1; i < depth; i++) {
        pid_t pid = fork();
        if (pid < 0)
            _exit(92);
        if (pid > 0)
            break;
        fmt(path, sizeof path, "%s.%d", file, i);
    }
    touch(path);
    sigfillset(&all);
    for (;;) {
        int sig = sigwaitinfo(&all, &si);
        if (sig < 0)
            continue;
        fmt(line, sizeof line, "%d\n", sig);
        append_line(path, line);
        if (sig == SIGTERM)
            _exit(0);
    }
}

static int count_zombies_of(pid_t parent);

/* orphans N READY: a middle process forks N children that exit at once and exits
 * itself without reaping them once they are all zombies, so that N zombies are handed
 * to the nearest subreaper at once; then READY is created and we wait for SIGTERM. */
static int helper_orphans(int n, const char *ready)
{
    pid_t middle;
    int status;

    block_all();
    middle = fork();
    if (middle < 0)
        return 93;
    if (middle == 0) {
        struct timespec ts = {0, 2 * 1000 * 1000};
        for (int i = 0; i < n; i++) {
            pid_t pid = fork();
            if (pid == 0)
                _exit(0);
            if (pid < 0)
                _exit(94);
        }
        for (int tries = 0; count_zombies_of(getpid()) < n && tries < 2500; tries++)
            nanosleep(&ts, NULL);
        _exit(count_zombies_of(getpid()) == n ? 0 : 95);
    }
    if (waitpid(middle, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 96;
    touch(ready);
    sigset_t term;
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigwaitinfo(&term, NULL);
    _exit(0);
}

/* ignore-term READY: ignores SIGTERM, writes its pid into READY and waits forever. */
static int helper_ignore_term(const char *ready)
{
    char tmp[PATH_MAX], pid[16];

    signal(SIGTERM, SIG_IGN);
    fmt(tmp, sizeof tmp, "%s.tmp", ready);
    fmt(pid, sizeof pid, "%d\n", (int)getpid());
    append_line(tmp, pid);
    rename(tmp, ready);
    for (;;)
        pause();
    return 0;
}

/* status FILE: writes "blk ign pid pgrp tpgid" (masks in hex from /proc/self/status,
 * tpgid the foreground group of /dev/tty or -1). */
static int helper_status(const char *file)
{
    char buf[4096], line[256];
    unsigned long long blk = 0, ign = 0;
    FILE *f = fopen("/proc/self/status", "r");
    int tty, tpgid = -1;

    if (!f)
        return 97;
    while (fgets(buf, sizeof buf, f)) {
        sscanf(buf, "SigBlk: %llx", &blk);
        sscanf(buf, "SigIgn: %llx", &ign);
    }
    fclose(f);
    tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty >= 0) {
        tpgid = tcgetpgrp(tty);
        close(tty);
    }
    fmt(line, sizeof line, "%llx %llx %d %d %d\n", blk, ign, (int)getpid(), (int)getpgrp(), tpgid);
    fmt(buf, sizeof buf, "%s.tmp", file);
    append_line(buf, line);
    rename(buf, file);
    return 0;
}

static int helper_main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[2], "record"))
        return helper_record(argv[3], atoi(argv[4]));
    if (argc == 5 && !strcmp(argv[2], "orphans"))
        return helper_orphans(atoi(argv[3]), argv[4]);
    if (argc == 4 && !strcmp(argv[2], "ignore-term"))
        return helper_ignore_term(argv[3]);
    if (argc == 4 && !strcmp(argv[2], "status"))
        return helper_status(argv[3]);
    fprintf(stderr, "bad helper arguments\n");
    return 99;
}

/* ---- test side --------------------------------------------------------------------- */

struct fx {
    char dir[PATH_MAX];  /* private scratch directory */
    char self[PATH_MAX]; /* this binary, for the helper modes */
    char init[PATH_MAX]; /* tether-init under test */
    int seq;             /* for unique file names */
};

/* How tether-init is started: in a PID namespace as its PID 1, or directly (it is then
 * a subreaper). */
enum mode {
    MODE_NS,
    MODE_DIRECT,
};

struct launch {
    pid_t pid;  /* our child: unshare, or tether-init itself */
    pid_t init; /* tether-init's pid as we see it */
    char out[PATH_MAX];
    char err[PATH_MAX];
};

/* What else the spawned process gets from us. */
struct spawn_opts {
    const int *ignore;     /* signals set to SIG_IGN, 0-terminated */
    const int *block;      /* signals blocked, 0-terminated */
    const char *env;       /* one NAME=VALUE to add */
    const char *tty;       /* pty slave: new session with it as controlling terminal */
    const char *out, *err; /* files for stdout/stderr (else /dev/null) */
};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
    struct timespec ts = {0, 2 * 1000 * 1000};

    nanosleep(&ts, NULL);
}

static bool poll_until(bool (*fn)(const void *), const void *arg, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;

    for (;;) {
        if (fn(arg))
            return true;
        if (now_ms() >= end)
            return false;
        nap();
    }
}

static void fx_path(struct fx *fx, char *buf, const char *what)
{
    fmt(buf, PATH_MAX, "%s/%s.%d", fx->dir, what, ++fx->seq);
}

static char *read_file(const char *path)
{
    static const size_t max = 1 << 20;
    char *buf = calloc(1, max + 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0;
    ssize_t n;

    assert_non_null(buf);
    if (fd < 0)
        return buf;
    while (len < max && (n = read(fd, buf + len, max - len)) > 0)
        len += (size_t)n;
    close(fd);
    return buf;
}

static bool exists(const void *path)
{
    return access(path, F_OK) == 0;
}

static void wait_file(const char *path)
{
    if (!poll_until(exists, path, WAIT_MS))
        fail_msg("%s did not appear", path);
}

/* Whether the recorder file holds the signal number sig on a line of its own. */
static bool has_signal(const char *path, int sig)
{
    char *text = read_file(path), want[16];
    bool found = false;

    fmt(want, sizeof want, "%d", sig);
    for (char *save = NULL, *tok = strtok_r(text, "\n", &save); tok && !found;
         tok = strtok_r(NULL, "\n", &save))
        found = !strcmp(tok, want);
    free(text);
    return found;
}

struct sig_wait {
    const char *path;
    int sig;
};

static bool sig_recorded(const void *arg)
{
    const struct sig_wait *w = arg;

    return has_signal(w->path, w->sig);
}

/* Parent pid and state of pid from /proc; false when it is gone. */
static bool proc_stat(pid_t pid, pid_t *ppid, char *state)
{
    char path[64], buf[1024], *p;
    int fd, n;

    fmt(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = (int)read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p)
        return false;
    int pp = 0;
    if (sscanf(p + 2, "%c %d", state, &pp) != 2)
        return false;
    *ppid = pp;
    return true;
}

/* Calls fn for every process in /proc. */
static void each_proc(void (*fn)(pid_t pid, pid_t ppid, char state, void *data), void *data)
{
    DIR *dir = opendir("/proc");
    struct dirent *de;

    assert_non_null(dir);
    while ((de = readdir(dir))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        pid_t ppid;
        char state;

        if (*end || pid <= 0 || !proc_stat((pid_t)pid, &ppid, &state))
            continue;
        fn((pid_t)pid, ppid, state, data);
    }
    closedir(dir);
}

struct zombie_count {
    pid_t parent;
    int n;
};

static void count_zombie(pid_t pid, pid_t ppid, char state, void *data)
{
    struct zombie_count *zc = data;

    (void)pid;
    if (ppid == zc->parent && state == 'Z')
        zc->n++;
}

static int count_zombies_of(pid_t parent)
{
    struct zombie_count zc = {parent, 0};

    each_proc(count_zombie, &zc);
    return zc.n;
}

struct child_find {
    pid_t parent;
    pid_t found;
};

static void find_child_cb(pid_t pid, pid_t ppid, char state, void *data)
{
    struct child_find *cf = data;

    if (ppid == cf->parent && state != 'Z')
        cf->found = pid;
}

static bool child_found(const void *arg)
{
    struct child_find *cf = (struct child_find *)arg;

    each_proc(find_child_cb, cf);
    return cf->found > 0;
}

/* The (one) live child of parent, polled for until it exists. */
static pid_t find_child(pid_t parent)
{
    struct child_find cf = {parent, 0};

    if (!poll_until(child_found, &cf, WAIT_MS))
        fail_msg("process %d has no child", (int)parent);
    return cf.found;
}

static void redirect(int fd, const char *path)
{
    int f = open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (f < 0 || dup2(f, fd) < 0)
        _exit(120);
    close(f);
}

static void child_setup(const struct spawn_opts *o)
{
    sigset_t mask;

    sigemptyset(&mask);
    for (const int *s = o->block; s && *s; s++)
        sigaddset(&mask, *s);
    for (const int *s = o->ignore; s && *s; s++)
        signal(*s, SIG_IGN);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    if (o->tty) {
        int fd;
        if (setsid() < 0 || (fd = open(o->tty, O_RDWR)) < 0)
            _exit(121);
        dup2(fd, STDIN_FILENO);
        close(fd);
    } else {
        int fd = open("/dev/null", O_RDONLY);
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
    redirect(STDOUT_FILENO, o->out);
    redirect(STDERR_FILENO, o->err);
    if (o->env)
        putenv((char *)o->env);
}

static pid_t spawn(const char *const argv[], const struct spawn_opts *o)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        child_setup(o);
        execv(argv[0], (char *const *)argv);
        _exit(122);
    }
    return pid;
}

/* Exit status of our child pid as a shell reports it (128+n for signal n), or -1 when
 * it is still running after timeout_ms. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        assert_int_equal(r, 0);
        if (now_ms() >= end)
            return -1;
        nap();
    }
}

static int must_exit(pid_t pid)
{
    int rc = wait_exit(pid, WAIT_MS);

    if (rc < 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("process %d did not exit", (int)pid);
    }
    return rc;
}

/* Starts tether-init with args (NULL-terminated) in mode; captures stdout/stderr. With
 * resolve, waits until tether-init's own pid is known (in a namespace, the child of
 * unshare), which needs it to live that long. */
static void launch_with(struct fx *fx, struct launch *l, enum mode mode, const char *const args[],
                        struct spawn_opts o, bool resolve)
{
    const char *argv[MAX_ARGS];
    int n = 0;

    if (mode == MODE_NS && geteuid() != 0)
        skip(); /* a PID namespace needs CAP_SYS_ADMIN */
    memset(l, 0, sizeof *l);
    fx_path(fx, l->out, "stdout");
    fx_path(fx, l->err, "stderr");
    if (mode == MODE_NS) {
        argv[n++] = "/usr/bin/unshare";
        argv[n++] = "--pid";
        argv[n++] = "--fork";
        argv[n++] = "--mount-proc";
    }
    argv[n++] = fx->init;
    for (int i = 0; args[i]; i++) {
        assert_true(n < MAX_ARGS - 1);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    o.out = l->out;
    o.err = l->err;
    l->pid = spawn(argv, &o);
    l->init = mode == MODE_DIRECT ? l->pid : resolve ? find_child(l->pid) : 0;
}

static void launch(struct fx *fx, struct launch *l, enum mode mode, const char *const args[])
{
    launch_with(fx, l, mode, args, (struct spawn_opts){0}, true);
}

/* Runs tether-init to the end; returns its exit status. */
static int run_init(struct fx *fx, struct launch *l, enum mode mode, const char *const args[])
{
    launch_with(fx, l, mode, args, (struct spawn_opts){0}, false);
    return must_exit(l->pid);
}

static void assert_contains(const char *path, const char *needle)
{
    char *text = read_file(path);

    if (!strstr(text, needle)) {
        print_error("%s holds:\n%s\n", path, text);
        free(text);
        fail_msg("expected \"%s\" in %s", needle, path);
    }
    free(text);
}

/* ---- fixtures ----------------------------------------------------------------------- */

static int group_setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    const char *bin = getenv("TETHER_BIN_DIR");
    struct rlimit no_core = {0, 0};
    ssize_t n;

    if (!fx)
        return -1;
    fmt(fx->dir, sizeof fx->dir, "/tmp/tether-it-init-XXXXXX");
    if (!mkdtemp(fx->dir))
        return -1;
    n = readlink("/proc/self/exe", fx->self, sizeof fx->self - 1);
    if (n <= 0)
        return -1;
    fx->self[n] = '\0';
    fmt(fx->init, sizeof fx->init, "%s/tether-init", bin ? bin : TETHER_BINARY_DIR "/bin");
    if (access(fx->init, X_OK) < 0) {
        print_error("%s: %s\n", fx->init, strerror(errno));
        return -1;
    }
    /* Signal deaths below must not leave core files around. */
    setrlimit(RLIMIT_CORE, &no_core);
    /* Whatever a test leaves behind comes back to us and is reaped in teardown. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    *state = fx;
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *fx = *state;
    char cmd[PATH_MAX + 16];

    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    fmt(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        print_error("could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static void check_exit_codes(struct fx *fx, enum mode mode)
{
    static const int codes[] = {0, 1, 7, 42, 126, 127, 128, 200, 255};

    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        char script[64];
        struct launch l;

        fmt(script, sizeof script, "exit %d", codes[i]);
        const char *args[] = {"--", BUSYBOX, "sh", "-c", script, NULL};
        assert_int_equal(run_init(fx, &l, mode, args), codes[i]);
    }
}

static void test_exit_codes(void **state)
{
    check_exit_codes(*state, MODE_NS);
    check_exit_codes(*state, MODE_DIRECT);
}

static void check_signal_deaths(struct fx *fx, enum mode mode)
{
    static const int sigs[] = {SIGHUP, SIGINT, SIGKILL, SIGSEGV, SIGABRT, SIGUSR1, SIGTERM};

    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        char script[64];
        struct launch l;

        fmt(script, sizeof script, "kill -%d $$; sleep 5", sigs[i]);
        const char *args[] = {BUSYBOX, "sh", "-c", script, NULL};
        assert_int_equal(run_init(fx, &l, mode, args), 128 + sigs[i]);
    }
}

static void test_signal_deaths(void **state)
{
    check_signal_deaths(*state, MODE_NS);
    check_signal_deaths(*state, MODE_DIRECT);
}

static void test_expect_codes(void **state)
{
    struct fx *fx = *state;
    struct launch l;

    const char *exit3[] = {"-e", "3", "--", BUSYBOX, "sh", "-c", "exit 3", NULL};
    assert_int_equal(run_init(fx, &l, MODE_NS, exit3), 0);
    const char *exit4[] = {"-e", "3", "--", BUSYBOX, "sh", "-c", "exit 4", NULL};
    assert_int_equal(run_init(fx, &l, MODE_NS, exit4), 4);
    const char *both[] = {"-e", "3", "-e", "4", BUSYBOX, "sh", "-c", "exit 4", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, both), 0);
    const char *e255[] = {"-e", "255", BUSYBOX, "sh", "-c", "exit 255", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, e255), 0);
    /* A death by a signal is never mapped to success. */
    const char *term[] = {"-e", "143", BUSYBOX, "sh", "-c", "kill -TERM $$; sleep 5", NULL};
    assert_int_equal(run_init(fx, &l, MODE_NS, term), 143);
}

static void check_exec_failure(struct fx *fx, enum mode mode, const char *cmd, int code,
                               const char *reason)
{
    char expect[PATH_MAX + 128];
    struct launch l;
    const char *args[] = {"--", cmd, "arg", NULL};

    assert_int_equal(run_init(fx, &l, mode, args), code);
    fmt(expect, sizeof expect, "tether-init: exec %s: %s\n", cmd, reason);
    assert_contains(l.err, expect);
}

static void test_exec_failures(void **state)
{
    struct fx *fx = *state;
    char plain[PATH_MAX];

    fx_path(fx, plain, "not-executable");
    touch(plain);
    chmod(plain, 0644);
    check_exec_failure(fx, MODE_DIRECT, "/nonexistent/cmd", 127, "No such file or directory");
    check_exec_failure(fx, MODE_NS, "no-such-command-tether", 127, "No such file or directory");
    check_exec_failure(fx, MODE_DIRECT, plain, 126, "Permission denied");
    check_exec_failure(fx, MODE_NS, fx->dir, 126, "Permission denied");
}

static void test_command_line(void **state)
{
    struct fx *fx = *state;
    struct launch l;

    const char *version[] = {"--version", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, version), 0);
    assert_contains(l.out, "tether-init " TETHER_VERSION "\n");
    const char *help[] = {"-h", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, help), 0);
    assert_contains(l.out, "Usage: tether-init [OPTIONS] [--] CMD [ARGS...]");
    const char *none[] = {"-g", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, none), EXIT_USAGE);
    assert_contains(l.err, "tether-init: no command given");
    const char *unknown[] = {"--frobnicate", "true", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, unknown), EXIT_USAGE);
    assert_contains(l.err, "tether-init: option --frobnicate is unknown");
    const char *bad_code[] = {"-e", "256", "true", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, bad_code), EXIT_USAGE);
    const char *bad_sig[] = {"-p", "SIGNOPE", "true", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, bad_sig), EXIT_USAGE);
    const char *bad_grace[] = {"--grace", "1.5s", "true", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, bad_grace), EXIT_USAGE);
    /* Options after CMD belong to CMD. */
    const char *cmd_opts[] = {BUSYBOX, "sh", "-c", "exit 9", "-e", "9", NULL};
    assert_int_equal(run_init(fx, &l, MODE_DIRECT, cmd_opts), 9);
}

static void test_verbose(void **state)
{
    struct fx *fx = *state;
    struct launch l;
    char *text;

    const char *quiet[] = {BUSYBOX, "sh", "-c", "exit 0", NULL};
    assert_int_equal(run_init(fx, &l, MODE_NS, quiet), 0);
    text = read_file(l.err);
    assert_string_equal(text, "");
    free(text);
    const char *loud[] = {"-v", BUSYBOX, "sh", "-c", "exit 5", NULL};
    assert_int_equal(run_init(fx, &l, MODE_NS, loud), 5);
    assert_contains(l.err, "tether-init: started child 2: " BUSYBOX "\n");
    assert_contains(l.err, "tether-init: child 2 exited with code 5\n");
    const char *louder[] = {"-vv", BUSYBOX, "sh", "-c", "kill -USR2 $PPID; sleep 0.1", NULL};
    assert_int_equal(run_init(fx, &l, MODE_NS, louder), 128 + SIGUSR2);
    assert_contains(l.err, "tether-init: forwarding SIGUSR2 to child 2\n");
}

/* Every catchable signal sent to tether-init reaches the recorder, one at a time. */
static void check_forwarding(struct fx *fx, enum mode mode)
{
    const int sigs[] = {
        SIGHUP,  SIGINT,  SIGQUIT, SIGILL,   SIGTRAP,      SIGABRT,      SIGBUS,       SIGFPE,
        SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE,  SIGALRM,      SIGSTKFLT,    SIGCONT,      SIGTSTP,
        SIGTTIN, SIGTTOU, SIGURG,  SIGXCPU,  SIGXFSZ,      SIGVTALRM,    SIGPROF,      SIGWINCH,
        SIGIO,   SIGPWR,  SIGSYS,  SIGRTMIN, SIGRTMIN + 1, SIGRTMIN + 5, SIGRTMAX - 1, SIGRTMAX};
    char file[PATH_MAX];
    struct launch l;

    fx_path(fx, file, "record");
    const char *args[] = {"--", fx->self, HELPER_FLAG, "record", file, "1", NULL};
    launch(fx, &l, mode, args);
    wait_file(file);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sig_wait w = {file, sigs[i]};

        assert_int_equal(kill(l.init, sigs[i]), 0);
        if (!poll_until(sig_recorded, &w, WAIT_MS))
            fail_msg("signal %d did not reach the child", sigs[i]);
    }
    assert_int_equal(kill(l.init, SIGTERM), 0);
    assert_int_equal(must_exit(l.pid), 0);
    assert_true(has_signal(file, SIGTERM));
}

static void test_forward_all_signals(void **state)
{
    check_forwarding(*state, MODE_NS);
    check_forwarding(*state, MODE_DIRECT);
}

/* A chain of three recorders: -g reaches all of them; without it only the child, and
 * the others get their SIGTERM when the child has exited. */
static void check_group(struct fx *fx, enum mode mode, bool group)
{
    char file[PATH_MAX], grandchild[PATH_MAX], great[PATH_MAX];
    struct launch l;

    fx_path(fx, file, "group");
    fmt(grandchild, sizeof grandchild, "%s.1", file);
    fmt(great, sizeof great, "%s.2", file);
    const char *with_g[] = {"-g", fx->self, HELPER_FLAG, "record", file, "3", NULL};
    const char *without[] = {fx->self, HELPER_FLAG, "record", file, "3", NULL};
    launch(fx, &l, mode, group ? with_g : without);
    wait_file(file);
    wait_file(grandchild);
    wait_file(great);
    assert_int_equal(kill(l.init, SIGUSR1), 0);
    struct sig_wait child = {file, SIGUSR1}, gc = {grandchild, SIGUSR1}, ggc = {great, SIGUSR1};
    assert_true(poll_until(sig_recorded, &child, WAIT_MS));
    if (group) {
        assert_true(poll_until(sig_recorded, &gc, WAIT_MS));
        assert_true(poll_until(sig_recorded, &ggc, WAIT_MS));
    } else {
        /* kill() queued whatever it sent before it returned; give the recorders a
         * moment to write down a signal that should not be there. */
        assert_false(poll_until(sig_recorded, &gc, 200));
        assert_false(has_signal(great, SIGUSR1));
    }
    assert_int_equal(kill(l.init, SIGTERM), 0);
    assert_int_equal(must_exit(l.pid), 0);
    assert_true(has_signal(file, SIGTERM));
    assert_true(has_signal(grandchild, SIGTERM));
    assert_true(has_signal(great, SIGTERM));
}

static void test_process_group(void **state)
{
    check_group(*state, MODE_NS, true);
    check_group(*state, MODE_NS, false);
    check_group(*state, MODE_DIRECT, true);
    check_group(*state, MODE_DIRECT, false);
}

static bool no_zombies(const void *arg)
{
    return count_zombies_of(*(const pid_t *)arg) == 0;
}

static void check_orphans(struct fx *fx, enum mode mode, const char *opt)
{
    char ready[PATH_MAX], count[16];
    struct launch l;

    fx_path(fx, ready, "orphans");
    fmt(count, sizeof count, "%d", ORPHANS);
    const char *args[] = {opt, fx->self, HELPER_FLAG, "orphans", count, ready, NULL};
    launch(fx, &l, mode, opt[0] ? args : args + 1);
    wait_file(ready);
    if (!poll_until(no_zombies, &l.init, ZOMBIE_WAIT))
        fail_msg("%d zombies left under tether-init", count_zombies_of(l.init));
    /* ...and they were tether-init's to reap: none was handed on to us (a subreaper too). */
    assert_int_equal(count_zombies_of(getpid()), 0);
    assert_int_equal(kill(l.init, SIGTERM), 0);
    assert_int_equal(must_exit(l.pid), 0);
}

static void test_orphaned_zombies(void **state)
{
    struct fx *fx = *state;
    char ready[PATH_MAX], count[16];

    /* The check itself: under a parent that does not reap (us, for a moment), the
     * helper's orphans are seen as zombies. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ; /* leftovers of earlier tests, re-parented to us */
    fx_path(fx, ready, "orphans-control");
    fmt(count, sizeof count, "%d", ORPHANS);
    const char *argv[] = {fx->self, HELPER_FLAG, "orphans", count, ready, NULL};
    pid_t helper = spawn(argv, &(struct spawn_opts){0});
    wait_file(ready);
    assert_int_equal(count_zombies_of(getpid()), ORPHANS);
    for (int i = 0; i < ORPHANS; i++) {
        pid_t pid = waitpid(-1, NULL, 0);
        assert_true(pid > 0 && pid != helper);
    }
    kill(helper, SIGTERM);
    assert_int_equal(must_exit(helper), 0);

    check_orphans(fx, MODE_NS, "");
    check_orphans(fx, MODE_DIRECT, "-s");
    check_orphans(fx, MODE_DIRECT, "");
}

/* The child exits while a background job with a SIGTERM trap runs: the job gets SIGTERM
 * and runs its trap before tether-init exits, which it does as soon as the job is gone,
 * not at the end of the grace period. */
static void check_grace_trap(struct fx *fx, enum mode mode)
{
    char ready[PATH_MAX], trapped[PATH_MAX], script[3 * PATH_MAX];
    struct launch l;
    int64_t start;
    char *text;

    fx_path(fx, ready, "trap-ready");
    fx_path(fx, trapped, "trapped");
    fmt(script, sizeof script,
        "(trap 'echo trapped > %s; exit 0' TERM; touch %s;"
        " while :; do sleep 0.05; done) &"
        " while [ ! -e %s ]; do sleep 0.01; done; exit 3",
        trapped, ready, ready);
    const char *args[] = {"--grace", "20", BUSYBOX, "sh", "-c", script, NULL};
    start = now_ms();
    assert_int_equal(run_init(fx, &l, mode, args), 3);
    assert_true(now_ms() - start < 10000);
    text = read_file(trapped);
    assert_string_equal(text, "trapped\n");
    free(text);
}

static void test_grace_runs_traps(void **state)
{
    check_grace_trap(*state, MODE_NS);
    check_grace_trap(*state, MODE_DIRECT);
}

/* A background process that ignores SIGTERM is SIGKILLed when the grace period ends;
 * tether-init then exits with the child's status. */
static void check_straggler(struct fx *fx, enum mode mode, const char *grace, const char *env,
                            int min_ms)
{
    char ready[PATH_MAX], script[3 * PATH_MAX];
    struct launch l;
    int64_t start, took;
    char *text;
    pid_t straggler;

    fx_path(fx, ready, "straggler");
    fmt(script, sizeof script,
        "%s %s ignore-term %s & while [ ! -e %s ]; do sleep 0.01; done; exit 4", fx->self,
        HELPER_FLAG, ready, ready);
    const char *with_grace[] = {"--grace", grace, BUSYBOX, "sh", "-c", script, NULL};
    const char *plain[] = {BUSYBOX, "sh", "-c", script, NULL};
    start = now_ms();
    launch_with(fx, &l, mode, grace ? with_grace : plain, (struct spawn_opts){.env = env}, false);
    assert_int_equal(must_exit(l.pid), 4);
    took = now_ms() - start;
    assert_true(took >= min_ms);
    assert_true(took < min_ms + 3000);
    text = read_file(ready);
    straggler = (pid_t)atoi(text);
    free(text);
    assert_true(straggler > 0);
    if (mode == MODE_DIRECT) {
        /* Killed and reaped by tether-init: the pid is gone (not a zombie of ours). */
        assert_int_equal(kill(straggler, 0), -1);
        assert_int_equal(errno, ESRCH);
    }
}

static void test_grace_kills_stragglers(void **state)
{
    check_straggler(*state, MODE_NS, "0.3", NULL, STRAGGLER_MS);
    check_straggler(*state, MODE_DIRECT, "0.3", NULL, STRAGGLER_MS);
    check_straggler(*state, MODE_DIRECT, "0", NULL, 0);
    check_straggler(*state, MODE_DIRECT, NULL, "TETHER_INIT_GRACE=0.4", 400);
}

/* SIGTERM to a child that ignores it: SIGKILL after --kill-timeout; without the option
 * tether-init keeps waiting. */
static void test_kill_timeout(void **state)
{
    struct fx *fx = *state;
    char ready[PATH_MAX];
    struct launch l;
    int64_t start, took;

    fx_path(fx, ready, "ignore-term");
    const char *args[] = {"--kill-timeout", "0.5", fx->self, HELPER_FLAG,
                          "ignore-term",    ready, NULL};
    launch(fx, &l, MODE_NS, args);
    wait_file(ready);
    start = now_ms();
    assert_int_equal(kill(l.init, SIGTERM), 0);
    assert_int_equal(must_exit(l.pid), 128 + SIGKILL);
    took = now_ms() - start;
    assert_true(took >= KILL_TIMEOUT);
    assert_true(took < KILL_TIMEOUT + 3000);

    fx_path(fx, ready, "ignore-term");
    const char *group[] = {"-g",
                           "--kill-timeout",
                           "0.2",
                           BUSYBOX,
                           "sh",
                           "-c",
                           "trap '' TERM INT; \"$0\" " HELPER_FLAG " ignore-term \"$1\"",
                           fx->self,
                           ready,
                           NULL};
    launch(fx, &l, MODE_DIRECT, group);
    wait_file(ready);
    start = now_ms();
    assert_int_equal(kill(l.init, SIGINT), 0);
    assert_int_equal(must_exit(l.pid), 128 + SIGKILL);
    /* The whole group went at once: no grace period (5 s) for a left-over helper. */
    assert_true(now_ms() - start < 3000);

    fx_path(fx, ready, "ignore-term");
    const char *no_timeout[] = {fx->self, HELPER_FLAG, "ignore-term", ready, NULL};
    launch(fx, &l, MODE_NS, no_timeout);
    wait_file(ready);
    assert_int_equal(kill(l.init, SIGTERM), 0);
    assert_int_equal(wait_exit(l.pid, 2 * KILL_TIMEOUT), -1);
    assert_int_equal(kill(l.init, SIGKILL), 0);
    must_exit(l.pid);
}

/* The issue's `docker stop -t 1`: a shell that ignores SIGTERM runs a command that
 * ignores it too. Once --kill-timeout has fired both get SIGKILL at once: the command
 * is not given the (default, 5 s) grace period after the shell has been killed. */
static void check_stop_kills_all(struct fx *fx, enum mode mode)
{
    char ready[PATH_MAX];
    struct launch l;
    int64_t start, took;
    pid_t straggler;
    char *text;
    int rc;

    fx_path(fx, ready, "stop-all");
    /* Not the last command of the script, so that the shell forks it rather than exec. */
    const char *script = "trap '' TERM; \"$0\" " HELPER_FLAG " ignore-term \"$1\"; exit 0";
    const char *args[] = {"-s", "--kill-timeout", "1",      "--",  BUSYBOX, "sh",
                          "-c", script,           fx->self, ready, NULL};
    launch(fx, &l, mode, args);
    wait_file(ready);
    start = now_ms();
    assert_int_equal(kill(l.init, SIGTERM), 0);
    /* Long enough for the old behaviour to finish, so that it fails on the time taken. */
    rc = wait_exit(l.pid, STOP_MS + GRACE_MS + WAIT_MS);
    took = now_ms() - start;
    if (rc < 0) {
        kill(l.pid, SIGKILL);
        must_exit(l.pid);
        fail_msg("tether-init still running %d ms after SIGTERM", (int)took);
    }
    assert_int_equal(rc, 128 + SIGKILL);
    print_message("stop with --kill-timeout 1: %d ms\n", (int)took);
    assert_true(took >= STOP_MS);
    assert_true(took < STOP_MS + 2000);
    if (mode == MODE_DIRECT) {
        text = read_file(ready);
        straggler = (pid_t)atoi(text);
        free(text);
        assert_true(straggler > 0);
        assert_int_equal(kill(straggler, 0), -1);
        assert_int_equal(errno, ESRCH);
    }
}

static void test_kill_timeout_kills_all(void **state)
{
    check_stop_kills_all(*state, MODE_NS);
    check_stop_kills_all(*state, MODE_DIRECT);
}

/* The child stops within --kill-timeout while a background job that traps SIGTERM
 * lingers: the job still gets SIGTERM, then the grace period, then SIGKILL. */
static void check_stop_keeps_grace(struct fx *fx, enum mode mode)
{
    char ready[PATH_MAX], trapped[PATH_MAX], script[3 * PATH_MAX];
    struct launch l;
    int64_t start, took;
    char *text;

    fx_path(fx, ready, "grace-ready");
    fx_path(fx, trapped, "grace-trapped");
    fmt(script, sizeof script,
        "(trap 'echo trapped > %s' TERM; touch %s; while :; do sleep 0.05; done) & wait", trapped,
        ready);
    const char *args[] = {"--kill-timeout", "20", "--grace", "1", BUSYBOX, "sh", "-c",
                          script,           NULL};
    launch(fx, &l, mode, args);
    wait_file(ready);
    start = now_ms();
    assert_int_equal(kill(l.init, SIGTERM), 0);
    assert_int_equal(must_exit(l.pid), 128 + SIGTERM);
    took = now_ms() - start;
    assert_true(took >= STOP_MS);
    assert_true(took < STOP_MS + 3000);
    text = read_file(trapped);
    assert_string_equal(text, "trapped\n");
    free(text);
}

static void test_kill_timeout_keeps_grace(void **state)
{
    check_stop_keeps_grace(*state, MODE_NS);
    check_stop_keeps_grace(*state, MODE_DIRECT);
}

struct status_report {
    unsigned long long blk, ign;
    int pid, pgrp, tpgid;
};

static void read_status(const char *file, struct status_report *r)
{
    char *text;

    wait_file(file);
    text = read_file(file);
    assert_int_equal(
        sscanf(text, "%llx %llx %d %d %d", &r->blk, &r->ign, &r->pid, &r->pgrp, &r->tpgid), 5);
    free(text);
}

#define SIGBIT(s) (1ULL << ((s)-1))

/* What the caller ignored stays ignored in the child, what it blocked stays blocked and
 * nothing else; the child leads its own process group. */
static void test_signal_state_restored(void **state)
{
    struct fx *fx = *state;
    static const int ignore[] = {SIGUSR1, SIGCHLD, 0};
    static const int block[] = {SIGHUP, SIGWINCH, 0};
    char file[PATH_MAX];
    struct status_report r;
    struct launch l;

    fx_path(fx, file, "status");
    const char *args[] = {fx->self, HELPER_FLAG, "status", file, NULL};
    launch_with(fx, &l, MODE_DIRECT, args, (struct spawn_opts){.ignore = ignore, .block = block},
                false);
    assert_int_equal(must_exit(l.pid), 0);
    read_status(file, &r);
    assert_true(r.ign & SIGBIT(SIGUSR1));
    assert_true(r.ign & SIGBIT(SIGCHLD));
    assert_false(r.ign & SIGBIT(SIGUSR2));
    assert_false(r.ign & SIGBIT(SIGTERM));
    assert_false(r.ign & SIGBIT(SIGTTOU));
    assert_int_equal(r.blk, SIGBIT(SIGHUP) | SIGBIT(SIGWINCH));
    assert_int_equal(r.pgrp, r.pid);
    assert_int_equal(r.tpgid, -1);

    /* With SIGCHLD ignored by the caller tether-init still gets the child's status, and
     * a signal ignored by the child is forwarded to no effect. */
    const char *code[] = {BUSYBOX, "sh", "-c", "kill -USR1 $PPID; sleep 0.2; exit 7", NULL};
    launch_with(fx, &l, MODE_NS, code, (struct spawn_opts){.ignore = ignore}, false);
    assert_int_equal(must_exit(l.pid), 7);
}

/* On a terminal the child's process group becomes the foreground. */
static void test_terminal_foreground(void **state)
{
    struct fx *fx = *state;
    char file[PATH_MAX], *slave;
    struct status_report r;
    struct launch l;
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || !(slave = ptsname(master)))
        skip();
    fx_path(fx, file, "tty-status");
    const char *args[] = {fx->self, HELPER_FLAG, "status", file, NULL};
    launch_with(fx, &l, MODE_DIRECT, args, (struct spawn_opts){.tty = slave}, false);
    assert_int_equal(must_exit(l.pid), 0);
    read_status(file, &r);
    assert_int_equal(r.pgrp, r.pid);
    assert_int_equal(r.tpgid, r.pgrp);
    assert_int_not_equal(r.pid, l.init);
    close(master);
}

/* -p: when the process that started tether-init dies, tether-init gets the signal (and
 * forwards it, like any other). */
static void check_pdeathsig(struct fx *fx, const char *sig, int expect_forwarded)
{
    char file[PATH_MAX];
    int fds[2];
    pid_t parent, init = 0;

    fx_path(fx, file, "pdeath");
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    parent = fork();
    assert_true(parent >= 0);
    if (parent == 0) {
        const char *argv[] = {fx->init,    "-p",     sig,  "--", fx->self,
                              HELPER_FLAG, "record", file, "1",  NULL};
        pid_t pid = spawn(argv, &(struct spawn_opts){0});
        if (write(fds[1], &pid, sizeof pid) != sizeof pid)
            _exit(1);
        for (int i = 0; i < 2500 && access(file, F_OK) < 0; i++)
            nap();
        _exit(0);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], &init, sizeof init), sizeof init);
    close(fds[0]);
    assert_int_equal(must_exit(parent), 0);
    /* tether-init is now an orphan, re-parented to us (a subreaper). */
    if (expect_forwarded) {
        struct sig_wait w = {file, expect_forwarded};
        assert_true(poll_until(sig_recorded, &w, WAIT_MS));
        assert_int_equal(kill(init, SIGTERM), 0);
        assert_int_equal(must_exit(init), 0);
    } else {
        pid_t helper;
        assert_int_equal(must_exit(init), 128 + SIGKILL);
        helper = find_child(getpid());
        kill(helper, SIGKILL);
        must_exit(helper);
    }
}

static void test_parent_death_signal(void **state)
{
    check_pdeathsig(*state, "USR1", SIGUSR1);
    check_pdeathsig(*state, "SIGHUP", SIGHUP);
    check_pdeathsig(*state, "12", SIGUSR2);
    check_pdeathsig(*state, "SIGKILL", 0);
}

static void test_static_and_small(void **state)
{
    struct fx *fx = *state;
    struct stat st;
    Elf64_Ehdr eh;
    int fd;

    assert_int_equal(stat(fx->init, &st), 0);
    print_message("tether-init: %lld bytes\n", (long long)st.st_size);
    assert_true(st.st_size < SIZE_LIMIT);
    /* Static: no program interpreter among the program headers. */
    fd = open(fx->init, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &eh, sizeof eh, 0), sizeof eh);
    assert_memory_equal(eh.e_ident, ELFMAG, SELFMAG);
    assert_int_equal(eh.e_ident[EI_CLASS], ELFCLASS64);
    for (int i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        assert_int_equal(pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * eh.e_phentsize)),
                         sizeof ph);
        assert_int_not_equal(ph.p_type, PT_INTERP);
    }
    close(fd);
}

struct exec_wait {
    pid_t parent;
    const char *prefix;
};

static bool child_execed(const void *arg)
{
    const struct exec_wait *w = arg;
    struct child_find cf = {w->parent, 0};
    char path[64], *text;
    bool ok;

    each_proc(find_child_cb, &cf);
    if (cf.found <= 0)
        return false;
    fmt(path, sizeof path, "/proc/%d/cmdline", (int)cf.found);
    text = read_file(path);
    ok = !strcmp(text, w->prefix);
    free(text);
    return ok;
}

static void test_resident_memory(void **state)
{
    struct fx *fx = *state;
    struct launch l;
    char path[64], *text, *rss;
    long kb;

    const char *args[] = {"-s", "--", BUSYBOX, "sleep", "30", NULL};
    launch(fx, &l, MODE_DIRECT, args);
    struct exec_wait w = {l.init, BUSYBOX};
    assert_true(poll_until(child_execed, &w, WAIT_MS));
    fmt(path, sizeof path, "/proc/%d/status", (int)l.init);
    text = read_file(path);
    rss = strstr(text, "VmRSS:");
    assert_non_null(rss);
    kb = strtol(rss + 6, NULL, 10);
    print_message("tether-init: VmRSS %ld kB\n", kb);
    free(text);
    assert_true(kb > 0);
    assert_true(kb < RSS_LIMIT_KB);
    assert_int_equal(kill(l.init, SIGTERM), 0);
    assert_int_equal(must_exit(l.pid), 128 + SIGTERM);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], HELPER_FLAG))
        return helper_main(argc, argv);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_and_small),
        cmocka_unit_test(test_command_line),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_signal_deaths),
        cmocka_unit_test(test_expect_codes),
        cmocka_unit_test(test_exec_failures),
        cmocka_unit_test(test_verbose),
        cmocka_unit_test(test_forward_all_signals),
        cmocka_unit_test(test_process_group),
        cmocka_unit_test(test_orphaned_zombies),
        cmocka_unit_test(test_grace_runs_traps),
        cmocka_unit_test(test_grace_kills_stragglers),
        cmocka_unit_test(test_kill_timeout),
        cmocka_unit_test(test_kill_timeout_kills_all),
        cmocka_unit_test(test_kill_timeout_keeps_grace),
        cmocka_unit_test(test_signal_state_restored),
        cmocka_unit_test(test_terminal_foreground),
        cmocka_unit_test(test_parent_death_signal),
        cmocka_unit_test(test_resident_memory),
    };
    return cmocka_run_group_tests_name("it_init", tests, group_setup, group_teardown);
}
