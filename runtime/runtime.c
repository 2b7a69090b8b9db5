/* Driver for an OCI runtime binary: argv construction, a spawn that hands the child a
 * clean process state, and the reading of the runtime's results and errors. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <tether/runtime.h>
#include <tether/util.h>

/* The --log memfd sits at this fd in the runtime child, named /proc/self/fd/3 on its
 * command line: both runc and crun open --log by path, and reopening a memfd through
 * /proc gives them the same file. */
#define RUNTIME_LOG_FD       3
#define RUNTIME_LOG_PATH     "/proc/self/fd/3"
#define RUNTIME_OUT_MAX      (4u << 20)  /* captured stdout (state, ps, version) */
#define RUNTIME_TAIL_MAX     (64u << 10) /* how much of the log and stderr is searched */
#define RUNTIME_EXTRA_MAX    256u
#define RUNTIME_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char *const op_names[] = {
    [TETHER_RT_CREATE] = "create",
    [TETHER_RT_START] = "start",
    [TETHER_RT_STATE] = "state",
    [TETHER_RT_KILL] = "kill",
    [TETHER_RT_DELETE] = "delete",
    [TETHER_RT_EXEC] = "exec",
    [TETHER_RT_PAUSE] = "pause",
    [TETHER_RT_RESUME] = "resume",
    [TETHER_RT_PS] = "ps",
    [TETHER_RT_UPDATE] = "update",
    [TETHER_RT_VERSION] = "version",
    [TETHER_RT_RUN] = "run",
    [TETHER_RT_CHECKPOINT] = "checkpoint",
};

static const char *op_name(enum tether_runtime_op op)
{
    if ((size_t)op < TETHER_ARRAY_SIZE(op_names) && op_names[op] != NULL)
        return op_names[op];
    return "unknown";
}

void tether_runtime_args_init(struct tether_runtime_args *args)
{
    memset(args, 0, sizeof(*args));
    args->stdin_fd = -1;
    args->stdout_fd = -1;
    args->stderr_fd = -1;
}

/* ---- Resolving the binary ---------------------------------------------------------- */

enum exe_check { EXE_OK, EXE_MISSING, EXE_NOT_EXECUTABLE };

static enum exe_check exe_check(const char *path, int *errnum)
{
    struct stat st;

    if (stat(path, &st) < 0) {
        *errnum = errno;
        return EXE_MISSING;
    }
    if (!S_ISREG(st.st_mode)) {
        *errnum = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
        return EXE_NOT_EXECUTABLE;
    }
    if (access(path, X_OK) < 0) {
        *errnum = errno;
        return EXE_NOT_EXECUTABLE;
    }
    return EXE_OK;
}

static char *runtime_resolve(const char *name, struct tether_error *err)
{
    const char *env = getenv("PATH");
    cleanup_free char *dirs = xstrdup(env != NULL && *env != '\0' ? env : RUNTIME_DEFAULT_PATH);
    cleanup_free char *unusable = NULL;
    int unusable_errnum = 0;
    char *save = NULL;

    for (char *dir = strtok_r(dirs, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        char *candidate;
        int errnum = 0;

        if (dir[0] != '/')
            continue; /* relative PATH entries would make the result depend on the cwd */
        candidate = xasprintf("%s/%s", dir, name);
        switch (exe_check(candidate, &errnum)) {
        case EXE_OK:
            return candidate;
        case EXE_NOT_EXECUTABLE:
            if (unusable == NULL) {
                unusable = steal_ptr(candidate);
                unusable_errnum = errnum;
            }
            break;
        case EXE_MISSING:
            break;
        }
        free(candidate);
    }
    if (unusable != NULL)
        tether_error_setk(err, TETHER_ERR_INVALID, unusable_errnum, "runtime %s is not executable",
                          unusable);
    else
        tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "runtime %s not found in PATH (%s)", name,
                          env != NULL && *env != '\0' ? env : RUNTIME_DEFAULT_PATH);
    return NULL;
}

int tether_runtime_init(struct tether_runtime *rt, const char *name_or_path, const char *root,
                        struct tether_error *err)
{
    const char *name = name_or_path != NULL ? name_or_path : "runc";
    cleanup_free char *path = NULL;
    const char *base;
    int errnum = 0;

    memset(rt, 0, sizeof(*rt));
    rt->have_nofile = getrlimit(RLIMIT_NOFILE, &rt->nofile) == 0;
    if (*name == '\0')
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "empty runtime name");
    if (strchr(name, '/') != NULL) {
        if (name[0] != '/')
            return tether_error_setk(err, TETHER_ERR_INVALID, 0, "runtime path %s is not absolute",
                                     name);
        switch (exe_check(name, &errnum)) {
        case EXE_OK:
            break;
        case EXE_MISSING:
            return tether_error_setk(err,
                                     errnum == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                                     errnum, "runtime %s", name);
        case EXE_NOT_EXECUTABLE:
            return tether_error_setk(err, TETHER_ERR_INVALID, errnum,
                                     "runtime %s is not executable", name);
        }
        path = xstrdup(name);
    } else {
        path = runtime_resolve(name, err);
        if (path == NULL)
            return -1;
    }
    base = strrchr(path, '/') + 1;
    if (*base == '\0')
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "runtime path %s names no file", path);
    rt->name = xstrdup(base);
    rt->root = root != NULL ? xstrdup(root) : NULL;
    rt->path = steal_ptr(path);
    return 0;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

int tether_runtime_set_global_args(struct tether_runtime *rt, const char *const *args,
                                   struct tether_error *err)
{
    size_t n = 0;
    char **copy = NULL;

    while (args != NULL && args[n] != NULL)
        if (++n > RUNTIME_EXTRA_MAX)
            return tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0,
                                     "more than %u global runtime arguments", RUNTIME_EXTRA_MAX);
    if (n > 0) {
        copy = xzalloc((n + 1) * sizeof(*copy));
        for (size_t i = 0; i < n; i++)
            copy[i] = xstrdup(args[i]);
    }
    strv_free(rt->global_args);
    rt->global_args = copy;
    return 0;
}

void tether_runtime_fini(struct tether_runtime *rt)
{
    strv_free(rt->global_args);
    free(rt->path);
    free(rt->name);
    free(rt->root);
    memset(rt, 0, sizeof(*rt));
}

/* ---- argv ------------------------------------------------------------------------------ */

struct argv_buf {
    char **v;
    size_t n, cap;
};

static void argv_push(struct argv_buf *a, const char *s)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
    }
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}

static void argv_push2(struct argv_buf *a, const char *opt, const char *value)
{
    argv_push(a, opt);
    argv_push(a, value);
}

void tether_runtime_argv_free(char **argv)
{
    if (argv == NULL)
        return;
    for (char **p = argv; *p != NULL; p++)
        free(*p);
    free(argv);
}

static int check_path_arg(const char *what, const char *value, bool required,
                          struct tether_error *err)
{
    if (value == NULL) {
        if (required)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0, "%s is required", what);
        return 0;
    }
    if (*value == '\0')
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "%s is empty", what);
    return 0;
}

/* Everything an operation needs, checked before any argv is built. */
static int check_args(enum tether_runtime_op op, const struct tether_runtime_args *args,
                      struct tether_error *err)
{
    size_t n = 0;

    if (op == TETHER_RT_VERSION)
        return 0;
    if (!tether_id_valid(args->id))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "invalid container id \"%s\"",
                                 args->id != NULL ? args->id : "");
    switch (op) {
    case TETHER_RT_CREATE:
    case TETHER_RT_RUN:
        if (check_path_arg("bundle", args->bundle, true, err) < 0 ||
            check_path_arg("pid file", args->pid_file, false, err) < 0 ||
            check_path_arg("console socket", args->console_socket, false, err) < 0)
            return -1;
        break;
    case TETHER_RT_EXEC:
        if (check_path_arg("process file", args->process_file, true, err) < 0 ||
            check_path_arg("pid file", args->pid_file, false, err) < 0 ||
            check_path_arg("console socket", args->console_socket, false, err) < 0)
            return -1;
        break;
    case TETHER_RT_KILL:
        if (args->signal < 1 || args->signal > SIGRTMAX)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0, "invalid signal %d", args->signal);
        break;
    case TETHER_RT_CHECKPOINT:
        if (check_path_arg("image path", args->image_path, true, err) < 0 ||
            check_path_arg("work path", args->work_path, false, err) < 0)
            return -1;
        for (n = 0; args->empty_ns != NULL && args->empty_ns[n] != NULL; n++)
            if (n >= RUNTIME_EXTRA_MAX || !tether_id_valid(args->empty_ns[n]))
                return tether_error_setk(err, TETHER_ERR_INVALID, 0, "invalid empty namespace");
        break;
    case TETHER_RT_START:
    case TETHER_RT_STATE:
    case TETHER_RT_DELETE:
    case TETHER_RT_PAUSE:
    case TETHER_RT_RESUME:
    case TETHER_RT_PS:
    case TETHER_RT_UPDATE:
    case TETHER_RT_VERSION:
        break;
    default:
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "unknown runtime operation %d",
                                 (int)op);
    }
    if ((op == TETHER_RT_CREATE || op == TETHER_RT_RUN || op == TETHER_RT_EXEC) &&
        args->extra != NULL) {
        for (n = 0; args->extra[n] != NULL; n++)
            if (n >= RUNTIME_EXTRA_MAX)
                return tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0,
                                         "more than %u extra runtime arguments", RUNTIME_EXTRA_MAX);
    }
    return 0;
}

static void push_extra(struct argv_buf *a, const char *const *extra)
{
    if (extra == NULL)
        return;
    for (size_t i = 0; extra[i] != NULL; i++)
        argv_push(a, extra[i]);
}

/* The options of `checkpoint`, in the order containerd's own shim passes them. */
static void push_checkpoint(struct argv_buf *a, const struct tether_runtime_args *args)
{
    argv_push2(a, "--image-path", args->image_path);
    if (args->work_path != NULL)
        argv_push2(a, "--work-path", args->work_path);
    if (args->leave_running)
        argv_push(a, "--leave-running");
    if (args->tcp_established)
        argv_push(a, "--tcp-established");
    if (args->ext_unix_sk)
        argv_push(a, "--ext-unix-sk");
    if (args->shell_job)
        argv_push(a, "--shell-job");
    if (args->file_locks)
        argv_push(a, "--file-locks");
    for (size_t i = 0; args->empty_ns != NULL && args->empty_ns[i] != NULL; i++)
        argv_push2(a, "--empty-ns", args->empty_ns[i]);
}

int tether_runtime_build_argv(const struct tether_runtime *rt, enum tether_runtime_op op,
                              const struct tether_runtime_args *args, const char *log_path,
                              char ***argv_out, struct tether_error *err)
{
    struct argv_buf a = {0};
    char num[16];

    *argv_out = NULL;
    if (rt == NULL || rt->path == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "runtime not initialized");
    if (check_args(op, args, err) < 0)
        return -1;

    argv_push(&a, rt->path);
    if (op == TETHER_RT_VERSION) {
        argv_push(&a, "--version");
        *argv_out = a.v;
        return 0;
    }
    if (rt->root != NULL)
        argv_push2(&a, "--root", rt->root);
    push_extra(&a, (const char *const *)rt->global_args);
    if (log_path != NULL) {
        argv_push2(&a, "--log", log_path);
        argv_push2(&a, "--log-format", "json");
    }
    argv_push(&a, op_name(op));

    switch (op) {
    case TETHER_RT_RUN:
        argv_push(&a, "--detach");
        __attribute__((fallthrough)); /* the rest is create's */
    case TETHER_RT_CREATE:
        argv_push2(&a, "--bundle", args->bundle);
        if (args->pid_file != NULL)
            argv_push2(&a, "--pid-file", args->pid_file);
        if (args->console_socket != NULL)
            argv_push2(&a, "--console-socket", args->console_socket);
        push_extra(&a, args->extra);
        argv_push(&a, args->id);
        break;
    case TETHER_RT_EXEC:
        argv_push2(&a, "--process", args->process_file);
        if (args->detach)
            argv_push(&a, "--detach");
        if (args->pid_file != NULL)
            argv_push2(&a, "--pid-file", args->pid_file);
        if (args->console_socket != NULL)
            argv_push2(&a, "--console-socket", args->console_socket);
        push_extra(&a, args->extra);
        argv_push(&a, args->id);
        break;
    case TETHER_RT_KILL:
        if (args->all)
            argv_push(&a, "--all");
        argv_push(&a, args->id);
        snprintf(num, sizeof(num), "%d", args->signal);
        argv_push(&a, num);
        break;
    case TETHER_RT_DELETE:
        if (args->force)
            argv_push(&a, "--force");
        argv_push(&a, args->id);
        break;
    case TETHER_RT_PS:
        argv_push2(&a, "--format", "json");
        argv_push(&a, args->id);
        break;
    case TETHER_RT_UPDATE:
        argv_push2(&a, "--resources", "-");
        argv_push(&a, args->id);
        break;
    case TETHER_RT_CHECKPOINT:
        push_checkpoint(&a, args);
        argv_push(&a, args->id);
        break;
    case TETHER_RT_START:
    case TETHER_RT_STATE:
    case TETHER_RT_PAUSE:
    case TETHER_RT_RESUME:
        argv_push(&a, args->id);
        break;
    case TETHER_RT_VERSION:
        break;
    }
    *argv_out = a.v;
    return 0;
}

/* ---- spawn ----------------------------------------------------------------------------- */

/* What the child reports through its close-on-exec pipe when it cannot exec the runtime;
 * a successful exec closes the pipe with nothing written. */
struct child_failure {
    int stage;
    int errnum;
};

enum child_stage { STAGE_PDEATHSIG, STAGE_FDS, STAGE_CLOSE, STAGE_EXEC };

static const char *const stage_names[] = {
    [STAGE_PDEATHSIG] = "prctl(PR_SET_PDEATHSIG)",
    [STAGE_FDS] = "setting up stdio",
    [STAGE_CLOSE] = "close_range",
    [STAGE_EXEC] = "exec",
};

/* fds the child is to get at 0, 1, 2 and RUNTIME_LOG_FD; -1 leaves the slot closed. */
struct child_plan {
    char **argv;
    int fds[4];
    int report_fd;
    pid_t parent;
    const struct rlimit *nofile; /* the fd limit to give back, or NULL */
};

static void __attribute__((noreturn, no_sanitize("address")))
child_fail(int report_fd, enum child_stage stage)
{
    struct child_failure f = {.stage = stage, .errnum = errno};
    ssize_t n;

    do
        n = write(report_fd, &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    _exit(127);
}

/* Runs in the child between clone and exec: only async-signal-safe calls. The child shares
 * the shim's memory until its exec (CLONE_VM), so it writes nothing but its own stack (and
 * errno). Not instrumented: it runs on a stack of its own that the sanitizer does not know,
 * and never returns to unpoison it. */
static void __attribute__((noreturn, no_sanitize("address"))) child_exec(const struct child_plan *p)
{
    struct sigaction dfl;
    sigset_t none;
    int moved[4];
    int report = p->report_fd;
    int sig, i;

    /* prctl(2): the death signal fires when the parent (thread) exits; if it already has,
     * we were re-parented before the prctl took effect and nobody will reap us. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(report, STAGE_PDEATHSIG);
    if (getppid() != p->parent)
        _exit(127);

    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL); /* EINVAL for the libc-reserved ones is fine */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The runtime (and the container, where its bundle sets no limit) gets the fd limit the
     * shim was started with, not the one the shim raised for itself. */
    if (p->nofile != NULL)
        setrlimit(RLIMIT_NOFILE, p->nofile);

    /* Move every source above the targets first, so that a source already sitting at 0..3
     * is not overwritten before it is used. */
    report = fcntl(report, F_DUPFD_CLOEXEC, RUNTIME_LOG_FD + 1);
    if (report < 0)
        child_fail(p->report_fd, STAGE_FDS);
    for (i = 0; i < 4; i++) {
        moved[i] = -1;
        if (p->fds[i] >= 0 && (moved[i] = fcntl(p->fds[i], F_DUPFD_CLOEXEC, report + 1)) < 0)
            child_fail(report, STAGE_FDS);
    }
    for (i = 0; i < 4; i++) {
        int target = i < 3 ? i : RUNTIME_LOG_FD;
        if (moved[i] >= 0) {
            if (dup2(moved[i], target) < 0)
                child_fail(report, STAGE_FDS);
        } else {
            close(target);
        }
    }
    if ((report > RUNTIME_LOG_FD + 1 &&
         close_range(RUNTIME_LOG_FD + 1, (unsigned)report - 1, 0) < 0) ||
        close_range((unsigned)report + 1, ~0u, 0) < 0)
        child_fail(report, STAGE_CLOSE);

    execv(p->argv[0], p->argv);
    child_fail(report, STAGE_EXEC);
}

static int make_memfd(const char *name, struct tether_error *err)
{
    int fd = memfd_create(name, MFD_CLOEXEC);

    if (fd < 0)
        return tether_error_set(err, errno, "memfd_create %s", name);
    return fd;
}

static int read_failure_report(int fd, struct child_failure *f)
{
    ssize_t n;

    do
        n = read(fd, f, sizeof(*f));
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(*f) ? 1 : 0;
}

static void argv_freep(char ***argv)
{
    tether_runtime_argv_free(*argv);
}

/* A memfd holding input, positioned at its start, for the runtime's stdin. */
static int make_input_memfd(const char *input, size_t len, struct tether_error *err)
{
    cleanup_close int fd = make_memfd("tether-runtime-in", err);

    if (fd < 0 || tether_write_all(fd, input, len, err) < 0)
        return -1;
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tether_error_set(err, errno, "lseek runtime input");
    return steal_fd(fd);
}

static int check_bundle(const char *bundle, struct tether_error *err)
{
    struct stat st;

    if (stat(bundle, &st) < 0)
        return tether_error_setk(err, errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                                 errno, "bundle %s", bundle);
    if (!S_ISDIR(st.st_mode))
        return tether_error_setk(err, TETHER_ERR_INVALID, ENOTDIR, "bundle %s", bundle);
    return 0;
}

static int __attribute__((no_sanitize("address"))) child_main(void *plan)
{
    child_exec(plan);
}

/* The child's own stack: enough for child_exec and execv. */
#define CHILD_STACK_SIZE (64u << 10)

/* Starts the child that execs plan->argv and returns its pid without waiting for the
 * runtime: *report_out is the read end of the child's close-on-exec pipe, on which it
 * reports a failure before exiting (tether_runtime_finish reads it once the child is
 * reaped).
 *
 * The child is a clone sharing the shim's memory (CLONE_VM) on a stack of its own, and the
 * shim is suspended until the child has exec'd or exited (CLONE_VFORK), as posix_spawn(3)
 * does: a few system calls, not the runtime's run. A fork instead copies the shim's page
 * tables, makes both processes take copy-on-write faults, and wakes the child on another
 * CPU while the shim goes on: on a small virtual machine that cost ~0.4 ms per runtime
 * command, three of them in every container's lifecycle. */
static pid_t fork_runtime(struct child_plan *plan, int *report_out, struct tether_error *err)
{
    cleanup_close int report_rd = -1, report_wr = -1;
    sigset_t all, old;
    int pipefd[2];
    void *stack;
    pid_t pid;
    int errnum;

    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return tether_error_set(err, errno, "pipe2");
    report_rd = pipefd[0];
    report_wr = pipefd[1];
    plan->report_fd = report_wr;
    plan->parent = getpid();

    stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED)
        return tether_error_set(err, errno, "mmap (runtime child's stack)");
    /* No handler of the caller may run in the child between clone and exec. */
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid =
        clone(child_main, (char *)stack + CHILD_STACK_SIZE, CLONE_VM | CLONE_VFORK | SIGCHLD, plan);
    errnum = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK_SIZE);
    if (pid < 0)
        return tether_error_set(err, errnum, "clone (runtime)");
    *report_out = steal_fd(report_rd);
    return pid;
}

/* The child's report of a failed exec, if it made one (it has exited by now). */
static int exec_failure(const struct tether_runtime_cmd *cmd, struct tether_error *err)
{
    struct child_failure failure;

    if (cmd->report_fd < 0 || !read_failure_report(cmd->report_fd, &failure))
        return 0;
    if (failure.stage < 0 || (size_t)failure.stage >= TETHER_ARRAY_SIZE(stage_names))
        failure.stage = STAGE_EXEC;
    return tether_error_set(err, failure.errnum, "runtime %s: %s %s", op_name(cmd->op),
                            stage_names[failure.stage],
                            cmd->runtime_path != NULL ? cmd->runtime_path : "runtime");
}

int tether_runtime_spawn(const struct tether_runtime *rt, enum tether_runtime_op op,
                         const struct tether_runtime_args *args, struct tether_runtime_cmd *cmd,
                         struct tether_error *err)
{
    bool own_stdio = op == TETHER_RT_CREATE || op == TETHER_RT_RUN || op == TETHER_RT_EXEC;
    cleanup_close int log_fd = -1, out_fd = -1, err_fd = -1, in_fd = -1, null_fd = -1;
    __attribute__((cleanup(argv_freep))) char **argv = NULL;
    struct child_plan plan = {0};
    pid_t pid;

    cmd->op = op;
    cmd->pid = 0;
    cmd->out_fd = cmd->err_fd = cmd->log_fd = cmd->report_fd = -1;
    cmd->runtime_path = NULL;

    if (tether_runtime_build_argv(rt, op, args, op != TETHER_RT_VERSION ? RUNTIME_LOG_PATH : NULL,
                                  &argv, err) < 0)
        return -1;
    /* crun reports a missing bundle before it opens --log, on a stderr that belongs to the
     * container: check here so that both runtimes fail the same, readable way. */
    if ((op == TETHER_RT_CREATE || op == TETHER_RT_RUN) && check_bundle(args->bundle, err) < 0)
        return -1;
    if (op != TETHER_RT_VERSION && (log_fd = make_memfd("tether-runtime-log", err)) < 0)
        return -1;
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0)
        return tether_error_set(err, errno, "open /dev/null");
    if (own_stdio) {
        plan.fds[0] = args->stdin_fd >= 0 ? args->stdin_fd : null_fd;
        plan.fds[1] = args->stdout_fd >= 0 ? args->stdout_fd : null_fd;
        plan.fds[2] = args->stderr_fd >= 0 ? args->stderr_fd : null_fd;
    } else {
        if ((out_fd = make_memfd("tether-runtime-out", err)) < 0 ||
            (err_fd = make_memfd("tether-runtime-err", err)) < 0)
            return -1;
        if (op == TETHER_RT_UPDATE && args->input != NULL &&
            (in_fd = make_input_memfd(args->input, args->input_len, err)) < 0)
            return tether_error_prefix(err, "runtime update input");
        plan.fds[0] = in_fd >= 0 ? in_fd : null_fd;
        plan.fds[1] = out_fd;
        plan.fds[2] = err_fd;
    }
    plan.fds[3] = log_fd;
    plan.argv = argv;
    plan.nofile = rt->have_nofile ? &rt->nofile : NULL;

    pid = fork_runtime(&plan, &cmd->report_fd, err);
    if (pid < 0)
        return -1;
    cmd->pid = pid;
    cmd->runtime_path = rt->path;
    cmd->log_fd = steal_fd(log_fd);
    cmd->out_fd = steal_fd(out_fd);
    cmd->err_fd = steal_fd(err_fd);
    return 0;
}

/* ---- results ----------------------------------------------------------------------------- */

/* The last max bytes of a capture, starting at a line boundary when cut. */
static char *read_tail(int fd, size_t max, size_t *len_out)
{
    struct stat st;
    off_t start = 0;
    size_t len = 0;
    char *buf;

    *len_out = 0;
    if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0)
        return NULL;
    if ((size_t)st.st_size > max)
        start = st.st_size - (off_t)max;
    buf = xmalloc((size_t)(st.st_size - start) + 1);
    while (len < (size_t)(st.st_size - start)) {
        ssize_t n = pread(fd, buf + len, (size_t)(st.st_size - start) - len, start + (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (start > 0) {
        char *nl = memchr(buf, '\n', len);
        if (nl != NULL) {
            len -= (size_t)(nl + 1 - buf);
            memmove(buf, nl + 1, len + 1);
        }
    }
    *len_out = len;
    return buf;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Copies s[0..n) into buf, without surrounding whitespace; false when nothing is left. */
static bool copy_trimmed(const char *s, size_t n, char *buf, size_t len)
{
    while (n > 0 && is_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_space(s[n - 1]))
        n--;
    if (n == 0 || len == 0)
        return false;
    if (n >= len)
        n = len - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

static bool level_is_error(const char *level)
{
    return strcmp(level, "error") == 0 || strcmp(level, "fatal") == 0 ||
           strcmp(level, "panic") == 0;
}

bool tether_runtime_error_text(const char *log, size_t log_len, const char *stderr_text,
                               size_t stderr_len, char *buf, size_t len)
{
    cleanup_free char *last_error = NULL;
    cleanup_free char *last_any = NULL;
    size_t pos = 0;

    if (len == 0)
        return false;
    buf[0] = '\0';
    /* One JSON object per entry; entries are normally one a line, but a line may also be
     * cut short or hold something else (a panic trace), which is skipped. */
    while (log != NULL && pos < log_len) {
        json_error_t jerr;
        json_t *entry;
        const char *msg, *level;

        if (is_space(log[pos])) {
            pos++;
            continue;
        }
        entry = log[pos] == '{'
                    ? json_loadb(log + pos, log_len - pos, JSON_DISABLE_EOF_CHECK, &jerr)
                    : NULL;
        if (entry == NULL) {
            const char *nl = memchr(log + pos, '\n', log_len - pos);
            pos = nl != NULL ? (size_t)(nl - log) + 1 : log_len;
            continue;
        }
        pos += jerr.position > 0 ? (size_t)jerr.position : 1;
        msg = json_string_value(json_object_get(entry, "msg"));
        level = json_string_value(json_object_get(entry, "level"));
        if (msg != NULL && *msg != '\0') {
            free(last_any);
            last_any = xstrdup(msg);
            if (level != NULL && level_is_error(level)) {
                free(last_error);
                last_error = xstrdup(msg);
            }
        }
        json_decref(entry);
    }
    if (last_error != NULL && copy_trimmed(last_error, strlen(last_error), buf, len))
        return true;
    if (last_any != NULL && copy_trimmed(last_any, strlen(last_any), buf, len))
        return true;

    /* Last non-empty line of stderr. */
    while (stderr_text != NULL && stderr_len > 0) {
        size_t end = stderr_len, start;
        while (end > 0 && is_space(stderr_text[end - 1]))
            end--;
        if (end == 0)
            break;
        start = end;
        while (start > 0 && stderr_text[start - 1] != '\n')
            start--;
        if (copy_trimmed(stderr_text + start, end - start, buf, len))
            return true;
        stderr_len = start;
    }
    buf[0] = '\0';
    return false;
}

static int runtime_failure(const struct tether_runtime_cmd *cmd, int wait_status,
                           struct tether_error *err)
{
    cleanup_free char *log = NULL;
    cleanup_free char *errtext = NULL;
    size_t log_len, err_len;
    char text[TETHER_ERROR_MSG_MAX];
    char signame[32];

    log = read_tail(cmd->log_fd, RUNTIME_TAIL_MAX, &log_len);
    errtext = read_tail(cmd->err_fd, RUNTIME_TAIL_MAX, &err_len);
    if (tether_runtime_error_text(log, log_len, errtext, err_len, text, sizeof(text)))
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "%s", text);
    if (WIFSIGNALED(wait_status))
        return tether_error_setk(
            err, TETHER_ERR_RUNTIME, 0, "runtime %s killed by signal %s", op_name(cmd->op),
            tether_signal_name(WTERMSIG(wait_status), signame, sizeof(signame)));
    if (WIFEXITED(wait_status))
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime %s exited with status %d",
                                 op_name(cmd->op), WEXITSTATUS(wait_status));
    return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime %s ended with wait status 0x%x",
                             op_name(cmd->op), (unsigned)wait_status);
}

void tether_runtime_cmd_release(struct tether_runtime_cmd *cmd)
{
    tether_closep(&cmd->out_fd);
    tether_closep(&cmd->err_fd);
    tether_closep(&cmd->log_fd);
    tether_closep(&cmd->report_fd);
    cmd->out_fd = cmd->err_fd = cmd->log_fd = cmd->report_fd = -1;
}

int tether_runtime_finish(struct tether_runtime_cmd *cmd, int wait_status, char **out,
                          struct tether_error *err)
{
    int ret = 0;

    if (out != NULL)
        *out = NULL;
    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
        ret = exec_failure(cmd, err);
        if (ret == 0)
            ret = runtime_failure(cmd, wait_status, err);
    } else if (out != NULL) {
        if (cmd->out_fd < 0)
            *out = xstrdup("");
        else if (tether_read_fd_all(cmd->out_fd, RUNTIME_OUT_MAX, out, NULL, err) < 0)
            ret = tether_error_prefix(err, "runtime %s output", op_name(cmd->op));
    }
    tether_runtime_cmd_release(cmd);
    cmd->pid = 0;
    return ret;
}

int tether_runtime_run(const struct tether_runtime *rt, enum tether_runtime_op op,
                       const struct tether_runtime_args *args, char **out, struct tether_error *err)
{
    struct tether_runtime_cmd cmd;
    int status;

    if (out != NULL)
        *out = NULL;
    if (tether_runtime_spawn(rt, op, args, &cmd, err) < 0)
        return -1;
    while (waitpid(cmd.pid, &status, 0) < 0) {
        if (errno != EINTR) {
            int saved = errno;
            tether_runtime_cmd_release(&cmd);
            return tether_error_set(err, saved, "waitpid %d (runtime %s)", (int)cmd.pid,
                                    op_name(op));
        }
    }
    return tether_runtime_finish(&cmd, status, out, err);
}

/* ---- output parsing ------------------------------------------------------------------ */

static int copy_field(const char *what, const char *value, char *dst, size_t len,
                      struct tether_error *err)
{
    size_t n = strlen(value);

    if (n >= len)
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0,
                                 "runtime state: %s longer than %zu bytes", what, len - 1);
    memcpy(dst, value, n + 1);
    return 0;
}

int tether_runtime_parse_state(const char *json, struct tether_runtime_state *st,
                               struct tether_error *err)
{
    json_auto_t *root = NULL;
    json_error_t jerr;
    json_t *pid;
    const char *id, *status, *bundle;

    memset(st, 0, sizeof(*st));
    if (json == NULL)
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime state: no output");
    root = json_loads(json, 0, &jerr);
    if (root == NULL)
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime state: %s (line %d)",
                                 jerr.text, jerr.line);
    if (!json_is_object(root))
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime state: not an object");
    id = json_string_value(json_object_get(root, "id"));
    status = json_string_value(json_object_get(root, "status"));
    if (id == NULL || status == NULL)
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0,
                                 "runtime state: missing \"id\" or \"status\"");
    pid = json_object_get(root, "pid");
    if (pid != NULL && !json_is_null(pid)) {
        json_int_t v;
        if (!json_is_integer(pid) || (v = json_integer_value(pid)) < 0 || v > INT32_MAX)
            return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime state: bad \"pid\"");
        st->pid = (pid_t)v;
    }
    bundle = json_string_value(json_object_get(root, "bundle"));
    if (copy_field("id", id, st->id, sizeof(st->id), err) < 0 ||
        copy_field("status", status, st->status, sizeof(st->status), err) < 0 ||
        copy_field("bundle", bundle != NULL ? bundle : "", st->bundle, sizeof(st->bundle), err) < 0)
        return -1;
    return 0;
}

int tether_runtime_parse_ps(const char *json, pid_t **pids, size_t *n, struct tether_error *err)
{
    json_auto_t *root = NULL;
    json_error_t jerr;
    cleanup_free pid_t *v = NULL;
    size_t i, count;

    *pids = NULL;
    *n = 0;
    if (json == NULL)
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime ps: no output");
    root = json_loads(json, JSON_DECODE_ANY, &jerr);
    if (root == NULL)
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime ps: %s (line %d)", jerr.text,
                                 jerr.line);
    if (json_is_null(root)) /* runc prints null for a container without processes */
        return 0;
    if (!json_is_array(root))
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime ps: not an array");
    count = json_array_size(root);
    v = xmalloc(count * sizeof(*v));
    for (i = 0; i < count; i++) {
        json_t *e = json_array_get(root, i);
        json_int_t pid = json_is_integer(e) ? json_integer_value(e) : 0;
        if (pid <= 0 || pid > INT32_MAX)
            return tether_error_setk(err, TETHER_ERR_RUNTIME, 0,
                                     "runtime ps: entry %zu is not a pid", i);
        v[i] = (pid_t)pid;
    }
    *pids = count > 0 ? steal_ptr(v) : NULL;
    *n = count;
    return 0;
}

int tether_runtime_parse_version(const char *out, char *buf, size_t len)
{
    const char *end;

    if (len > 0)
        buf[0] = '\0';
    if (out == NULL)
        return -1;
    while (*out != '\0' && is_space(*out))
        out++;
    end = strchr(out, '\n');
    if (end == NULL)
        end = out + strlen(out);
    return copy_trimmed(out, (size_t)(end - out), buf, len) ? 0 : -1;
}

pid_t tether_runtime_read_pid_file(const char *path, struct tether_error *err)
{
    cleanup_free char *text = NULL;
    char *end;
    long pid;

    if (tether_read_file(path, 64, &text, NULL, err) < 0)
        return -1;
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno != 0 || pid <= 0 || pid > INT32_MAX || (*end != '\0' && *end != '\n'))
        return tether_error_setk(err, TETHER_ERR_RUNTIME, 0, "runtime wrote a bad pid file %s",
                                 path);
    return (pid_t)pid;
}
