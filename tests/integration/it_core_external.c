/* An external container through the core's C API, with real runc: a container made by
 * someone else (here runc itself) gets a record that serves exec processes only. Execs
 * start, take stdin, give their output and exit codes and can be killed; the operations
 * that belong to whoever made the container are refused with a STATE error; removing the
 * record leaves the container running. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/runtime.h>
#include <tether/util.h>

#include "harness_core.h"

#define ID "ext"

struct fixture {
    struct th_core *core;
    struct tether_runtime rt;
    char bundle[PATH_MAX];
    char *dir;
};

/* A runtime-spec Process running argv, as an engine hands it to exec. */
static char *process_json(const char *const argv[])
{
    json_t *args = json_array();
    json_t *proc;
    char *text;

    for (size_t i = 0; argv[i] != NULL; i++)
        json_array_append_new(args, json_string(argv[i]));
    proc = json_pack("{s:o,s:[s],s:s,s:{s:i,s:i}}", "args", args, "env", "PATH=/bin", "cwd", "/",
                     "user", "uid", 0, "gid", 0);
    text = json_dumps(proc, JSON_COMPACT);
    json_decref(proc);
    return text;
}

static int setup(void **state)
{
    static const char *const argv[] = {"sleep", "1000", NULL};
    struct fixture *f = xzalloc(sizeof(*f));
    struct tether_runtime_args args;
    struct tether_error err = {0};
    struct tether_container_config cfg = {.id = ID, .external = true};

    th_core_setup((void **)&f->core);
    if (tether_runtime_init(&f->rt, "runc", f->core->env.runtime_root, &err) < 0)
        fail_msg("runtime: %s", err.msg);
    th_make_bundle(&f->core->env, ID, argv, f->bundle, sizeof(f->bundle));
    /* Made by runc alone, as podman's conmon or another shim would have made it. */
    tether_runtime_args_init(&args);
    args.id = ID;
    args.bundle = f->bundle;
    if (tether_runtime_run(&f->rt, TETHER_RT_RUN, &args, NULL, &err) < 0)
        fail_msg("runc run: %s", err.msg);
    f->dir = xasprintf("%s/" ID, f->core->env.state_dir);
    if (mkdir(f->dir, 0700) < 0)
        fail_msg("mkdir: %s", strerror(errno));
    cfg.bundle = f->bundle;
    cfg.dir = f->dir;
    if (tether_core_add(f->core->core, &cfg, &err) == NULL)
        fail_msg("add: %s", err.msg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    struct tether_runtime_args args;
    struct tether_error err = {0};

    tether_runtime_args_init(&args);
    args.id = ID;
    args.force = true;
    tether_runtime_run(&f->rt, TETHER_RT_DELETE, &args, NULL, &err);
    tether_runtime_fini(&f->rt);
    th_core_teardown((void **)&f->core);
    free(f->dir);
    free(f);
    return 0;
}

static struct tether_container *ctr_of(struct fixture *f)
{
    struct tether_container *ctr = tether_core_find(f->core->core, ID);

    assert_non_null(ctr);
    return ctr;
}

/* Starts an exec and waits for its start. */
static pid_t exec_ok(struct fixture *f, const char *exec_id, const char *const argv[], bool stdin)
{
    cleanup_free char *proc = process_json(argv);
    struct tether_exec_opts opts = {.exec_id = exec_id, .process = proc};
    struct tether_error err = {0};
    struct th_call t;

    tether_process_opts_init(&opts.proc);
    opts.proc.stdin = stdin;
    th_call_init(&t);
    th_core_taken(tether_container_exec(ctr_of(f), &opts, &t.call, &err), &err, "exec");
    th_core_wait_ok(f->core, &t, "exec");
    assert_true(t.pid > 0);
    return t.pid;
}

static struct tether_exit exec_wait(struct fixture *f, const char *exec_id)
{
    struct tether_error err = {0};
    struct th_call t;

    th_call_init(&t);
    th_core_taken(tether_container_wait(ctr_of(f), exec_id, &t.call, &err), &err, "wait");
    th_core_wait_ok(f->core, &t, "wait");
    return t.exit;
}

/* The record shows a running container whose init it does not know. */
static void test_state(void **state)
{
    struct fixture *f = *state;
    struct tether_state st;
    struct tether_error err = {0};

    assert_int_equal(tether_container_state(ctr_of(f), NULL, &st, &err), 0);
    assert_int_equal(st.status, TETHER_STATUS_RUNNING);
    assert_int_equal(st.pid, 0);
    assert_false(st.exited);
    assert_true(tether_container_created(ctr_of(f)));
}

/* Output, stderr apart, and the exit code of an exec; stdin taken to its end. */
static void test_exec_output_and_code(void **state)
{
    struct fixture *f = *state;
    static const char *const sh[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    static const char *const cat[] = {"cat", NULL};
    struct tether_error err = {0};
    struct tether_state st;
    struct tether_exit ex;

    exec_ok(f, "e1", sh, false);
    ex = exec_wait(f, "e1");
    assert_int_equal(ex.exit_status, 3);
    assert_int_equal(ex.signal, 0);
    assert_int_equal(f->core->output_len[TETHER_LOGFMT_STDOUT], 4);
    assert_memory_equal(f->core->output[TETHER_LOGFMT_STDOUT], "out\n", 4);
    assert_int_equal(f->core->output_len[TETHER_LOGFMT_STDERR], 4);
    assert_memory_equal(f->core->output[TETHER_LOGFMT_STDERR], "err\n", 4);
    assert_int_equal(tether_container_state(ctr_of(f), "e1", &st, &err), 0);
    assert_int_equal(st.status, TETHER_STATUS_STOPPED);
    assert_int_equal(tether_container_exec_delete(ctr_of(f), "e1", &err), 0);

    f->core->output_len[TETHER_LOGFMT_STDOUT] = 0;
    exec_ok(f, "e2", cat, true);
    assert_int_equal(tether_container_input(ctr_of(f), "e2", "hello\n", 6, &err), 6);
    assert_int_equal(tether_container_close_stdin(ctr_of(f), "e2", &err), 0);
    ex = exec_wait(f, "e2");
    assert_int_equal(ex.exit_status, 0);
    assert_int_equal(f->core->output_len[TETHER_LOGFMT_STDOUT], 6);
    assert_memory_equal(f->core->output[TETHER_LOGFMT_STDOUT], "hello\n", 6);
}

/* A terminal exec sized from the start: the runtime applies the size before the process
 * runs, so a process that reads it at once sees it. */
static void test_exec_terminal_size(void **state)
{
    struct fixture *f = *state;
    static const char *const argv[] = {"stty", "size", NULL};
    cleanup_free char *proc = process_json(argv);
    struct tether_exec_opts opts = {
        .exec_id = "tty", .process = proc, .console_width = 111, .console_height = 33};
    struct tether_error err = {0};
    struct th_call t;

    tether_process_opts_init(&opts.proc);
    opts.proc.terminal = true;
    th_call_init(&t);
    th_core_taken(tether_container_exec(ctr_of(f), &opts, &t.call, &err), &err, "exec");
    th_core_wait_ok(f->core, &t, "exec");
    assert_int_equal(exec_wait(f, "tty").exit_status, 0);
    assert_true(f->core->output_len[TETHER_LOGFMT_STDOUT] >= 6);
    assert_memory_equal(f->core->output[TETHER_LOGFMT_STDOUT], "33 111", 6);
}

/* An exec is killed (it is the shim's child, so by pid) and listed by the runtime's ps. */
static void test_exec_kill_and_pids(void **state)
{
    struct fixture *f = *state;
    static const char *const sleeper[] = {"sleep", "1000", NULL};
    struct tether_error err = {0};
    struct th_call t;
    pid_t pid = exec_ok(f, "s1", sleeper, false);
    struct tether_exit ex;

    th_call_init(&t);
    th_core_taken(tether_container_pids(ctr_of(f), &t.call, &err), &err, "pids");
    th_core_wait_ok(f->core, &t, "pids");
    th_call_init(&t);
    th_core_taken(tether_container_kill(ctr_of(f), "s1", SIGTERM, false, &t.call, &err), &err,
                  "kill");
    th_core_wait_ok(f->core, &t, "kill");
    ex = exec_wait(f, "s1");
    assert_int_equal(ex.exit_status, 128 + SIGTERM);
    assert_int_equal(ex.signal, SIGTERM);
    assert_true(kill(pid, 0) < 0 && errno == ESRCH);
}

/* What belongs to whoever made the container is refused, and nothing reaches the runtime:
 * the container still runs afterwards. */
static void test_init_operations_refused(void **state)
{
    struct fixture *f = *state;
    struct tether_container *ctr = ctr_of(f);
    struct tether_create_opts opts = {0};
    struct tether_error err = {0};
    struct tether_stats stats;
    struct th_call t;
    char *out = NULL;
    struct tether_runtime_args args;
    struct tether_runtime_state rs;

    tether_process_opts_init(&opts.proc);
    th_call_init(&t);
#define REFUSED(expr)                                                                              \
    do {                                                                                           \
        memset(&err, 0, sizeof(err));                                                              \
        assert_int_equal((expr), -1);                                                              \
        assert_int_equal(err.kind, TETHER_ERR_STATE);                                              \
        assert_non_null(strstr(err.msg, "external"));                                              \
    } while (0)
    REFUSED(tether_container_create(ctr, &opts, &t.call, &err));
    REFUSED(tether_container_start(ctr, &t.call, &err));
    REFUSED(tether_container_delete(ctr, true, &t.call, &err));
    REFUSED(tether_container_pause(ctr, true, &t.call, &err));
    REFUSED(tether_container_pause(ctr, false, &t.call, &err));
    REFUSED(tether_container_update(ctr, "{}", &t.call, &err));
    REFUSED(tether_container_stop(ctr, SIGTERM, 1, &t.call, &err));
    REFUSED(tether_container_kill(ctr, NULL, SIGKILL, true, &t.call, &err));
    REFUSED(tether_container_wait(ctr, NULL, &t.call, &err));
    REFUSED(tether_container_stats(ctr, &stats, &err));
#undef REFUSED
    assert_false(t.done);

    tether_runtime_args_init(&args);
    args.id = ID;
    if (tether_runtime_run(&f->rt, TETHER_RT_STATE, &args, &out, &err) < 0)
        fail_msg("state: %s", err.msg);
    assert_int_equal(tether_runtime_parse_state(out, &rs, &err), 0);
    assert_string_equal(rs.status, "running");
    free(out);
}

/* The record goes away at any time, even with an exec still running: the container and
 * that exec go on. */
static void test_remove_leaves_it_running(void **state)
{
    struct fixture *f = *state;
    static const char *const sleeper[] = {"sleep", "1000", NULL};
    struct tether_error err = {0};
    pid_t pid = exec_ok(f, "left", sleeper, false);

    assert_int_equal(tether_core_remove(f->core->core, ctr_of(f), &err), 0);
    assert_null(tether_core_find(f->core->core, ID));
    th_core_run_for(f->core, 100);
    assert_int_equal(kill(pid, 0), 0);
    /* Still the shim's child: reaped by the loop once killed (a zombie would keep the
     * container's cgroup busy for the runtime's delete). */
    kill(pid, SIGKILL);
    th_core_run_for(f->core, 200);
    assert_true(kill(pid, 0) < 0 && errno == ESRCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_output_and_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_terminal_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exec_kill_and_pids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_operations_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_leaves_it_running, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
