/* The runtime driver against real runc and crun containers. This process is a child
 * subreaper, so each container's init is re-parented to it once `create` returns; it only
 * ever waits for pids it knows. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/runtime.h>
#include <tether/util.h>

#include "harness.h"

#define WAIT_MS 10000

struct fixture {
    const char *runtime; /* "runc" or "crun" */
    struct th_env env;
    struct tether_runtime rt;
    bool have_rt;
    char id[64];
    char bundle[PATH_MAX];
    char pid_file[PATH_MAX];
    int out_rd;     /* read end of the container's stdout and stderr */
    pid_t init_pid; /* container init still to be reaped, or 0 */
};

static const char *const runc_name = "runc";
static const char *const crun_name = "crun";

/* dir/name into buf; a path that does not fit fails the test. */
static void join_path(char *buf, size_t len, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
        fail_msg("path %s/%s too long", dir, name);
}

/* Container ids name cgroups too, which every runtime root shares: make them unique to
 * this process so that tests running side by side never meet. */
static void set_id(struct fixture *f, const char *name)
{
    snprintf(f->id, sizeof(f->id), "it-rt-%d-%s", (int)getpid(), name);
}

static int fixture_setup(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));

    f->runtime = *state;
    f->out_rd = -1;
    th_env_init(&f->env);
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;

    if (f->have_rt) {
        struct tether_runtime_args args;
        struct tether_error err = {0};

        tether_runtime_args_init(&args);
        args.id = f->id;
        args.force = true;
        if (f->id[0] != '\0')
            tether_runtime_run(&f->rt, TETHER_RT_DELETE, &args, NULL, &err);
        tether_runtime_fini(&f->rt);
    }
    if (f->init_pid > 0) {
        /* Still ours when the test failed half-way: never wait on a live process. */
        kill(f->init_pid, SIGKILL);
        waitpid(f->init_pid, NULL, 0);
    }
    if (f->out_rd >= 0)
        close(f->out_rd);
    th_env_cleanup(&f->env);
    free(f);
    return 0;
}

static struct fixture *init_runtime(struct fixture *f)
{
    struct tether_error err = {0};

    if (tether_runtime_init(&f->rt, f->runtime, f->env.runtime_root, &err) < 0) {
        if (err.kind == TETHER_ERR_NOT_FOUND && strcmp(f->runtime, crun_name) == 0) {
            printf("SKIP crun: %s\n", err.msg);
            skip();
        }
        fail_msg("tether_runtime_init %s: %s", f->runtime, err.msg);
    }
    f->have_rt = true;
    return f;
}

/* Skips the test when its runtime cannot run containers here; initializes the driver. */
static struct fixture *use_runtime(void **state)
{
    struct fixture *f = *state;
    char why[TETHER_ERROR_MSG_MAX];

    if (strcmp(f->runtime, crun_name) == 0 && !th_crun_usable(&f->env, why, sizeof(why))) {
        printf("SKIP crun: %s\n", why);
        skip();
    }
    return init_runtime(f);
}

/* For tests that run the runtime binary but no container. */
static struct fixture *use_runtime_binary(void **state)
{
    return init_runtime(*state);
}

static void rt_ok(struct fixture *f, enum tether_runtime_op op, struct tether_runtime_args *args,
                  char **out)
{
    struct tether_error err = {0};

    if (args->id == NULL)
        args->id = f->id;
    if (tether_runtime_run(&f->rt, op, args, out, &err) < 0)
        fail_msg("%s %d on %s: %s", f->rt.name, (int)op, f->id, err.msg);
}

static void rt_simple(struct fixture *f, enum tether_runtime_op op)
{
    struct tether_runtime_args args;

    tether_runtime_args_init(&args);
    rt_ok(f, op, &args, NULL);
}

static void get_state(struct fixture *f, struct tether_runtime_state *st)
{
    struct tether_runtime_args args;
    struct tether_error err = {0};
    cleanup_free char *out = NULL;

    tether_runtime_args_init(&args);
    rt_ok(f, TETHER_RT_STATE, &args, &out);
    if (tether_runtime_parse_state(out, st, &err) < 0)
        fail_msg("parse state %s: %s", out, err.msg);
    assert_string_equal(st->id, f->id);
}

static pid_t read_pid_file(const char *path)
{
    struct tether_error err = {0};
    cleanup_free char *text = NULL;

    if (tether_read_file(path, 64, &text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_true(atoi(text) > 0);
    return (pid_t)atoi(text);
}

/* Bundle <id> running argv, created with the container's stdout and stderr on a pipe. */
static void create_container(struct fixture *f, const char *id, const char *const argv[])
{
    struct tether_runtime_args args;
    int pipefd[2];

    set_id(f, id);
    th_make_bundle(&f->env, id, argv, f->bundle, sizeof(f->bundle));
    {
        char name[80];
        snprintf(name, sizeof(name), "%s.pid", f->id);
        join_path(f->pid_file, sizeof(f->pid_file), f->env.dir, name);
    }
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    f->out_rd = pipefd[0];
    tether_runtime_args_init(&args);
    args.bundle = f->bundle;
    args.pid_file = f->pid_file;
    args.stdout_fd = pipefd[1];
    args.stderr_fd = pipefd[1];
    rt_ok(f, TETHER_RT_CREATE, &args, NULL);
    close(pipefd[1]);
    f->init_pid = read_pid_file(f->pid_file);
}

/* Reads the container's output until it holds expect. */
static void expect_output(struct fixture *f, const char *expect)
{
    char buf[4096];
    size_t len = 0;
    int waited = 0;

    while (waited < WAIT_MS) {
        struct pollfd pfd = {.fd = f->out_rd, .events = POLLIN};
        ssize_t n;

        if (poll(&pfd, 1, 50) <= 0) {
            waited += 50;
            continue;
        }
        n = read(f->out_rd, buf + len, sizeof(buf) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        if (strstr(buf, expect) != NULL)
            return;
        if (len == sizeof(buf) - 1)
            break;
    }
    buf[len] = '\0';
    fail_msg("expected \"%s\" from the container, got \"%s\"", expect, buf);
}

/* Waits for a known child (never for anything else) and returns its wait status. */
static int wait_exit(pid_t pid)
{
    for (int waited = 0; waited < WAIT_MS; waited += 10) {
        const struct timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid)
            return status;
        if (r < 0)
            fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
        nanosleep(&tick, NULL);
    }
    fail_msg("pid %d did not exit within %d ms", (int)pid, WAIT_MS);
    return -1;
}

static void wait_init_exit(struct fixture *f, int *status)
{
    *status = wait_exit(f->init_pid);
    f->init_pid = 0;
}

static void expect_gone(struct fixture *f)
{
    struct tether_runtime_args args;
    struct tether_error err = {0};

    tether_runtime_args_init(&args);
    args.id = f->id;
    assert_int_equal(tether_runtime_run(&f->rt, TETHER_RT_STATE, &args, NULL, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_RUNTIME);
    if (strcmp(f->rt.name, runc_name) == 0)
        assert_non_null(strstr(err.msg, "does not exist"));
    else
        assert_true(err.msg[0] != '\0');
}

static const char *const sleeper[] = {"sleep", "1000", NULL};

/* create through spawn + our own waitpid + finish, then start, output, SIGTERM, delete. */
static void test_lifecycle_term(void **state)
{
    static const char *const argv[] = {
        "sh", "-c", "trap 'echo bye; exit 7' TERM; echo hello; while :; do sleep 0.05; done", NULL};
    struct fixture *f = use_runtime(state);
    struct tether_runtime_args args;
    struct tether_runtime_cmd cmd;
    struct tether_runtime_state st;
    struct tether_error err = {0};
    int pipefd[2], status;

    set_id(f, "life");
    th_make_bundle(&f->env, f->id, argv, f->bundle, sizeof(f->bundle));
    join_path(f->pid_file, sizeof(f->pid_file), f->env.dir, "life.pid");
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    f->out_rd = pipefd[0];
    tether_runtime_args_init(&args);
    args.id = f->id;
    args.bundle = f->bundle;
    args.pid_file = f->pid_file;
    args.stdout_fd = pipefd[1];
    args.stderr_fd = pipefd[1];
    if (tether_runtime_spawn(&f->rt, TETHER_RT_CREATE, &args, &cmd, &err) < 0)
        fail_msg("spawn create: %s", err.msg);
    close(pipefd[1]);
    assert_true(cmd.pid > 0);
    assert_int_equal(waitpid(cmd.pid, &status, 0), cmd.pid);
    if (tether_runtime_finish(&cmd, status, NULL, &err) < 0)
        fail_msg("create: %s", err.msg);
    assert_int_equal(cmd.pid, 0);
    assert_int_equal(cmd.log_fd, -1);
    f->init_pid = read_pid_file(f->pid_file);

    get_state(f, &st);
    assert_string_equal(st.status, "created");
    assert_int_equal(st.pid, f->init_pid);
    assert_string_equal(st.bundle, f->bundle);

    rt_simple(f, TETHER_RT_START);
    expect_output(f, "hello\n");
    get_state(f, &st);
    assert_string_equal(st.status, "running");

    tether_runtime_args_init(&args);
    args.signal = SIGTERM;
    rt_ok(f, TETHER_RT_KILL, &args, NULL);
    wait_init_exit(f, &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
    expect_output(f, "bye\n");
    get_state(f, &st);
    assert_string_equal(st.status, "stopped");

    rt_simple(f, TETHER_RT_DELETE);
    expect_gone(f);
    assert_int_equal(th_count_zombie_children(getpid()), 0);
}

static bool is_sleep(void *data)
{
    char path[64];
    cleanup_free char *comm = NULL;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)*(pid_t *)data);
    return tether_read_file(path, 64, &comm, NULL, NULL) == 0 && strcmp(comm, "sleep\n") == 0;
}

static void test_kill_sigkill(void **state)
{
    struct fixture *f = use_runtime(state);
    struct tether_runtime_args args;
    int status;

    create_container(f, "killed", sleeper);
    rt_simple(f, TETHER_RT_START);
    /* Once `runc init` has become sleep, the container's process has its stdio and
     * nothing else: the driver's --log fd did not leak through the runtime into it. */
    assert_true(th_wait_until(is_sleep, &f->init_pid, WAIT_MS));
    assert_int_equal(th_count_fds(f->init_pid), 3);
    tether_runtime_args_init(&args);
    args.signal = SIGKILL;
    rt_ok(f, TETHER_RT_KILL, &args, NULL);
    wait_init_exit(f, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    rt_simple(f, TETHER_RT_DELETE);
    expect_gone(f);
}

static void test_kill_all(void **state)
{
    static const char *const argv[] = {"sh", "-c", "sleep 1000 & sleep 1000 & wait", NULL};
    struct fixture *f = use_runtime(state);
    struct tether_runtime_args args;
    int status;

    create_container(f, "killall", argv);
    rt_simple(f, TETHER_RT_START);
    tether_runtime_args_init(&args);
    args.signal = SIGKILL;
    args.all = true;
    rt_ok(f, TETHER_RT_KILL, &args, NULL);
    wait_init_exit(f, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    rt_simple(f, TETHER_RT_DELETE);
}

static void test_delete_force_running(void **state)
{
    struct fixture *f = use_runtime(state);
    struct tether_runtime_args args;
    struct tether_error err = {0};
    int status;

    create_container(f, "forced", sleeper);
    rt_simple(f, TETHER_RT_START);

    /* Without --force a running container is refused, with the runtime's reason. */
    tether_runtime_args_init(&args);
    args.id = f->id;
    assert_int_equal(tether_runtime_run(&f->rt, TETHER_RT_DELETE, &args, NULL, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_RUNTIME);
    assert_true(err.msg[0] != '\0');

    args.force = true;
    rt_ok(f, TETHER_RT_DELETE, &args, NULL);
    wait_init_exit(f, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    expect_gone(f);
}

static void test_exec_detached_status(void **state)
{
    struct fixture *f = use_runtime(state);
    struct tether_runtime_args args;
    struct tether_error err = {0};
    static const char process[] =
        "{\"terminal\": false, \"user\": {\"uid\": 0, \"gid\": 0},"
        " \"args\": [\"sh\", \"-c\", \"echo from-exec; exit 3\"],"
        " \"env\": [\"PATH=/usr/sbin:/usr/bin:/sbin:/bin\"], \"cwd\": \"/\"}";
    char process_file[PATH_MAX], exec_pid_file[PATH_MAX];
    pid_t exec_pid;
    int status;

    create_container(f, "execd", sleeper);
    rt_simple(f, TETHER_RT_START);

    join_path(process_file, sizeof(process_file), f->env.dir, "exec.json");
    join_path(exec_pid_file, sizeof(exec_pid_file), f->env.dir, "exec.pid");
    if (tether_write_file_atomic(process_file, process, strlen(process), 0600, &err) < 0)
        fail_msg("%s", err.msg);

    {
        int pipefd[2];
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
        close(f->out_rd);
        f->out_rd = pipefd[0];
        tether_runtime_args_init(&args);
        args.process_file = process_file;
        args.detach = true;
        args.pid_file = exec_pid_file;
        args.stdout_fd = pipefd[1];
        rt_ok(f, TETHER_RT_EXEC, &args, NULL);
        close(pipefd[1]);
    }
    exec_pid = read_pid_file(exec_pid_file);
    assert_int_not_equal(exec_pid, f->init_pid);
    status = wait_exit(exec_pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 3);
    expect_output(f, "from-exec\n");

    tether_runtime_args_init(&args);
    args.force = true;
    rt_ok(f, TETHER_RT_DELETE, &args, NULL);
    wait_init_exit(f, &status);
}

static void test_pause_resume(void **state)
{
    struct fixture *f = use_runtime(state);
    struct tether_runtime_state st;

    create_container(f, "paused", sleeper);
    rt_simple(f, TETHER_RT_START);
    rt_simple(f, TETHER_RT_PAUSE);
    get_state(f, &st);
    assert_string_equal(st.status, "paused");
    rt_simple(f, TETHER_RT_RESUME);
    get_state(f, &st);
    assert_string_equal(st.status, "running");
}

static void test_ps(void **state)
{
    struct fixture *f = use_runtime(state);
    struct tether_runtime_args args;
    struct tether_error err = {0};
    cleanup_free char *out = NULL;
    cleanup_free pid_t *pids = NULL;
    size_t n, i;
    bool found = false;

    create_container(f, "ps", sleeper);
    rt_simple(f, TETHER_RT_START);
    tether_runtime_args_init(&args);
    rt_ok(f, TETHER_RT_PS, &args, &out);
    if (tether_runtime_parse_ps(out, &pids, &n, &err) < 0)
        fail_msg("parse ps \"%s\": %s", out, err.msg);
    for (i = 0; i < n; i++)
        found = found || pids[i] == f->init_pid;
    assert_true(found);
}

/* Path of the container's memory cgroup directory, from /proc/<pid>/cgroup (v1). */
static char *memory_cgroup_dir(pid_t pid)
{
    struct tether_error err = {0};
    cleanup_free char *path = xasprintf("/proc/%d/cgroup", (int)pid);
    cleanup_free char *text = NULL;
    char *save = NULL;

    if (tether_read_file(path, 1 << 16, &text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *controllers = strchr(line, ':');
        char *cgroup = controllers != NULL ? strchr(controllers + 1, ':') : NULL;
        if (cgroup == NULL)
            continue;
        *cgroup = '\0';
        if (strcmp(controllers + 1, "memory") == 0)
            return xasprintf("/sys/fs/cgroup/memory%s", cgroup + 1);
    }
    fail_msg("no memory cgroup in %s", path);
    return NULL;
}

static void test_update_memory(void **state)
{
    static const char resources[] = "{\"memory\": {\"limit\": 67108864}}";
    struct fixture *f = use_runtime(state);
    struct tether_runtime_args args;
    struct tether_error err = {0};
    cleanup_free char *dir = NULL;
    cleanup_free char *limit_path = NULL;
    cleanup_free char *before = NULL;
    cleanup_free char *after = NULL;

    create_container(f, "updated", sleeper);
    rt_simple(f, TETHER_RT_START);
    dir = memory_cgroup_dir(f->init_pid);
    assert_non_null(strstr(dir, f->id));
    limit_path = xasprintf("%s/memory.limit_in_bytes", dir);
    if (tether_read_file(limit_path, 64, &before, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_not_equal(strtoll(before, NULL, 10), 67108864);

    tether_runtime_args_init(&args);
    args.input = resources;
    args.input_len = strlen(resources);
    rt_ok(f, TETHER_RT_UPDATE, &args, NULL);
    if (tether_read_file(limit_path, 64, &after, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(strtoll(after, NULL, 10), 67108864);
}

static void test_missing_executable(void **state)
{
    static const char *const argv[] = {"nonexistent-binary", NULL};
    struct fixture *f = use_runtime(state);
    struct tether_runtime_args args;
    struct tether_error err = {0};
    char pid_file[PATH_MAX];
    int pipefd[2];

    set_id(f, "missing");
    th_make_bundle(&f->env, f->id, argv, f->bundle, sizeof(f->bundle));
    join_path(pid_file, sizeof(pid_file), f->env.dir, "missing.pid");
    /* runc writes the error to the container's stderr: the test sees it only through the
     * driver reading the runtime's JSON log. */
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    f->out_rd = pipefd[0];
    tether_runtime_args_init(&args);
    args.id = f->id;
    args.bundle = f->bundle;
    args.pid_file = pid_file;
    args.stdout_fd = pipefd[1];
    args.stderr_fd = pipefd[1];
    assert_int_equal(tether_runtime_run(&f->rt, TETHER_RT_CREATE, &args, NULL, &err), -1);
    close(pipefd[1]);
    assert_int_equal(err.kind, TETHER_ERR_RUNTIME);
    printf("%s create error: %s\n", f->rt.name, err.msg);
    assert_non_null(strstr(err.msg, "nonexistent-binary"));
    if (strcmp(f->rt.name, runc_name) == 0)
        assert_non_null(strstr(err.msg, "executable file not found in $PATH"));
    assert_int_equal(th_count_zombie_children(getpid()), 0);
}

static void test_version(void **state)
{
    struct fixture *f = use_runtime_binary(state);
    struct tether_runtime_args args;
    cleanup_free char *out = NULL;
    cleanup_free char *expect = NULL;
    char version[256];

    tether_runtime_args_init(&args);
    rt_ok(f, TETHER_RT_VERSION, &args, &out);
    assert_int_equal(tether_runtime_parse_version(out, version, sizeof(version)), 0);
    expect = xasprintf("%s version ", f->rt.name);
    assert_true(strncmp(version, expect, strlen(expect)) == 0);
    assert_null(strchr(version, '\n'));
}

/* The runtime's error for an unknown container arrives through the --log memfd: its
 * stdio goes to captures the driver reads only as a fallback. */
static void test_state_unknown(void **state)
{
    struct fixture *f = use_runtime_binary(state);
    struct tether_runtime_args args;
    struct tether_runtime_cmd cmd;
    struct tether_error err = {0};
    cleanup_free char *out = NULL;
    int status;

    tether_runtime_args_init(&args);
    args.id = "nosuch";
    if (tether_runtime_spawn(&f->rt, TETHER_RT_STATE, &args, &cmd, &err) < 0)
        fail_msg("spawn state: %s", err.msg);
    assert_true(cmd.log_fd >= 0 && cmd.out_fd >= 0 && cmd.err_fd >= 0);
    assert_int_equal(waitpid(cmd.pid, &status, 0), cmd.pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    {
        cleanup_free char *log = NULL;
        size_t len = 0;
        if (tether_read_fd_all(cmd.log_fd, 1 << 16, &log, &len, &err) < 0)
            fail_msg("%s", err.msg);
        printf("%s log: %s", f->rt.name, log);
        assert_non_null(strstr(log, "\"level\":\"error\""));
    }
    assert_int_equal(tether_runtime_finish(&cmd, status, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err.kind, TETHER_ERR_RUNTIME);
    if (strcmp(f->rt.name, runc_name) == 0)
        assert_string_equal(err.msg, "container does not exist");
    else
        assert_non_null(strstr(err.msg, "nosuch"));
    assert_int_equal(cmd.log_fd, -1);
    assert_int_equal(cmd.out_fd, -1);
    assert_int_equal(cmd.err_fd, -1);
}

#define RT_TESTS(name)                                                                             \
    cmocka_unit_test_prestate_setup_teardown(test_lifecycle_term, fixture_setup, fixture_teardown, \
                                             (void *)name),                                        \
        cmocka_unit_test_prestate_setup_teardown(test_kill_sigkill, fixture_setup,                 \
                                                 fixture_teardown, (void *)name),                  \
        cmocka_unit_test_prestate_setup_teardown(test_kill_all, fixture_setup, fixture_teardown,   \
                                                 (void *)name),                                    \
        cmocka_unit_test_prestate_setup_teardown(test_delete_force_running, fixture_setup,         \
                                                 fixture_teardown, (void *)name),                  \
        cmocka_unit_test_prestate_setup_teardown(test_exec_detached_status, fixture_setup,         \
                                                 fixture_teardown, (void *)name),                  \
        cmocka_unit_test_prestate_setup_teardown(test_pause_resume, fixture_setup,                 \
                                                 fixture_teardown, (void *)name),                  \
        cmocka_unit_test_prestate_setup_teardown(test_ps, fixture_setup, fixture_teardown,         \
                                                 (void *)name),                                    \
        cmocka_unit_test_prestate_setup_teardown(test_update_memory, fixture_setup,                \
                                                 fixture_teardown, (void *)name),                  \
        cmocka_unit_test_prestate_setup_teardown(test_missing_executable, fixture_setup,           \
                                                 fixture_teardown, (void *)name),                  \
        cmocka_unit_test_prestate_setup_teardown(test_version, fixture_setup, fixture_teardown,    \
                                                 (void *)name),                                    \
        cmocka_unit_test_prestate_setup_teardown(test_state_unknown, fixture_setup,                \
                                                 fixture_teardown, (void *)name)

int main(void)
{
    const struct CMUnitTest runc_tests[] = {RT_TESTS(runc_name)};
    const struct CMUnitTest crun_tests[] = {RT_TESTS(crun_name)};
    int failed;

    if (geteuid() != 0) {
        fprintf(stderr, "it_runtime needs root\n");
        return 77;
    }
    /* prctl(2): orphaned container processes are re-parented to us, so we can wait for
     * them. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
        perror("prctl(PR_SET_CHILD_SUBREAPER)");
        return 1;
    }
    failed = cmocka_run_group_tests_name("runtime_runc", runc_tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("runtime_crun", crun_tests, NULL, NULL);
    return failed != 0;
}
