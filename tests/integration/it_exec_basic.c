/* tether-shim exec processes with real containers: exit codes and their events, the
 * states that refuse an exec, kill of an exec, pids naming execs, exec records, and the
 * order of exits when the init takes its execs down with it. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

static const char *const argv_sleep[] = {"sleep", "1000", NULL};
static const char *const argv_true[] = {"true", NULL};

static json_t *exec_params(const char *exec_id, const char *const argv[])
{
    return json_pack("{s:s,s:o}", "exec_id", exec_id, "process", th_process_of(argv));
}

/* exec that must succeed; returns the exec's pid. */
static long long exec_ok(struct tether_client *c, const char *exec_id, const char *const argv[])
{
    json_auto_t *res = th_call_ok(c, "exec", exec_params(exec_id, argv));
    long long pid = th_int(res, "pid");

    assert_true(pid > 0);
    return pid;
}

static json_t *wait_exec(struct tether_client *c, const char *exec_id)
{
    return th_call_ok(c, "wait", json_pack("{s:s}", "exec_id", exec_id));
}

/* create then start; returns the init pid. */
static long long create_start(struct tether_client *c)
{
    json_auto_t *created = th_call_ok(c, "create", NULL);
    json_auto_t *started = th_call_ok(c, "start", NULL);

    assert_int_equal(th_int(started, "pid"), th_int(created, "pid"));
    return th_int(created, "pid");
}

/* A fixture whose container runs argv, with c subscribed from the start. */
static struct tether_client *start_subscribed(struct th_fixture *f, const char *const argv[],
                                              long long *pid)
{
    struct tether_client *c;

    th_fixture_start(f, argv, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    *pid = create_start(c);
    json_decref(th_wait_event(c, "start"));
    return c;
}

/* Exit codes 0 and 3, each exec's exec_start strictly before its exit, both carrying the
 * exec_id and the pid exec answered; the records answer state and wait afterwards. */
static void test_exit_codes_and_events(void **state)
{
    static const char *const argv_three[] = {"sh", "-c", "exit 3", NULL};
    static const struct {
        const char *id;
        const char *const *argv;
        int status;
    } cases[] = {{"ok", argv_true, 0}, {"three", argv_three, 3}};
    struct th_fixture *f = *state;
    struct tether_client *c;
    long long init_pid;
    size_t i;

    c = start_subscribed(f, argv_sleep, &init_pid);
    for (i = 0; i < TETHER_ARRAY_SIZE(cases); i++) {
        json_auto_t *res = NULL, *started = NULL, *exited = NULL, *st = NULL;
        long long pid = exec_ok(c, cases[i].id, cases[i].argv);

        assert_int_not_equal(pid, init_pid);
        res = wait_exec(c, cases[i].id);
        assert_int_equal(th_int(res, "exit_status"), cases[i].status);
        assert_null(json_object_get(res, "signal"));
        th_assert_timestamp(th_str(res, "exited_at"));

        started = th_next_event(c);
        assert_string_equal(th_str(started, "topic"), "exec_start");
        assert_string_equal(th_str(started, "exec_id"), cases[i].id);
        assert_int_equal(th_int(started, "pid"), pid);
        exited = th_next_event(c);
        assert_string_equal(th_str(exited, "topic"), "exit");
        assert_string_equal(th_str(exited, "exec_id"), cases[i].id);
        assert_int_equal(th_int(exited, "pid"), pid);
        assert_int_equal(th_int(exited, "exit_status"), cases[i].status);
        assert_true(th_int(exited, "seq") > th_int(started, "seq"));
        assert_string_equal(th_str(exited, "exited_at"), th_str(res, "exited_at"));

        st = th_call_ok(c, "state", json_pack("{s:s}", "exec_id", cases[i].id));
        assert_string_equal(th_str(st, "status"), "stopped");
        assert_string_equal(th_str(st, "exec_id"), cases[i].id);
        assert_int_equal(th_int(st, "pid"), pid);
        assert_int_equal(th_int(st, "exit_status"), cases[i].status);
    }
    th_assert_no_notification(c);

    /* The container itself is untouched, and a finished exec's record can be removed. */
    {
        json_auto_t *st = th_call_ok(c, "state", NULL);

        assert_string_equal(th_str(st, "status"), "running");
        assert_int_equal(th_int(st, "pid"), init_pid);
    }
    json_decref(th_call_ok(c, "delete", json_pack("{s:s}", "exec_id", "ok")));
    th_call_fail(c, "state", json_pack("{s:s}", "exec_id", "ok"), TETHER_RPC_NOT_FOUND, NULL, 0);
    th_call_fail(c, "wait", json_pack("{s:s}", "exec_id", "ok"), TETHER_RPC_NOT_FOUND, NULL, 0);
    /* The id is free again. */
    exec_ok(c, "ok", argv_true);
    json_decref(wait_exec(c, "ok"));
    tether_client_close(c);
}

/* Output of an exec reaches its log.path (CRI format by default) and nothing of it goes
 * to the container's own log. */
static void test_exec_log_path(void **state)
{
    static const char *const argv_echo[] = {"sh", "-c", "echo out-line; echo err-line >&2", NULL};
    struct th_fixture *f = *state;
    struct tether_client *c;
    struct tether_error err = {0};
    cleanup_free char *log_path = NULL, *text = NULL, *ctr_log = NULL, *ctr_text = NULL;
    json_auto_t *res = NULL;
    json_t *params;
    long long init_pid;

    c = start_subscribed(f, argv_sleep, &init_pid);
    log_path = xasprintf("%s/exec-echo.log", f->env.dir);
    params = exec_params("echo", argv_echo);
    json_object_set_new(params, "log", json_pack("{s:s}", "path", log_path));
    json_decref(th_call_ok(c, "exec", params));
    res = wait_exec(c, "echo");
    assert_int_equal(th_int(res, "exit_status"), 0);
    if (tether_read_file(log_path, 1 << 20, &text, NULL, &err) < 0)
        fail_msg("read %s: %s", log_path, err.msg);
    assert_non_null(strstr(text, " stdout F out-line\n"));
    assert_non_null(strstr(text, " stderr F err-line\n"));
    ctr_log = xasprintf("%s/container.log", f->shim.dir);
    if (tether_read_file(ctr_log, 1 << 20, &ctr_text, NULL, &err) == 0)
        assert_null(strstr(ctr_text, "out-line"));
    tether_client_close(c);
}

/* exec is refused before create (-32001), in a paused container and in a stopped one
 * (-32002), and for an exec_id in use (-32004); bad exec_ids and processes are invalid
 * params. */
static void test_exec_refusals(void **state)
{
    static const char *const argv_quick_exit[] = {"sh", "-c", "sleep 0.2; exit 0", NULL};
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *st = NULL, *res = NULL;
    char msg[TETHER_ERROR_MSG_MAX];
    long long init_pid;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "exec", exec_params("early", argv_true), TETHER_RPC_NOT_FOUND, NULL, 0);
    json_decref(th_call_ok(c, "create", NULL));
    /* Created but not started: there is nothing to exec into yet. */
    th_call_fail(c, "exec", exec_params("created", argv_true), TETHER_RPC_INVALID_STATE, NULL, 0);
    json_decref(th_call_ok(c, "start", NULL));

    th_call_fail(c, "exec", exec_params("bad id", argv_true), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "exec", json_pack("{s:s}", "exec_id", "noproc"), TETHER_RPC_INVALID_PARAMS,
                 NULL, 0);
    th_call_fail(c, "exec", json_pack("{s:s,s:{s:[]}}", "exec_id", "noargs", "process", "args"),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);

    exec_ok(c, "dup", argv_sleep);
    th_call_fail(c, "exec", exec_params("dup", argv_true), TETHER_RPC_EXISTS, msg, sizeof(msg));
    assert_non_null(strstr(msg, "dup"));
    /* A running exec keeps its record. */
    th_call_fail(c, "delete", json_pack("{s:s}", "exec_id", "dup"), TETHER_RPC_INVALID_STATE, NULL,
                 0);

    json_decref(th_call_ok(c, "pause", NULL));
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "paused");
    th_call_fail(c, "exec", exec_params("paused", argv_true), TETHER_RPC_INVALID_STATE, NULL, 0);
    json_decref(th_call_ok(c, "resume", NULL));
    /* Refused while paused means it was never recorded: the id is free. */
    th_call_fail(c, "state", json_pack("{s:s}", "exec_id", "paused"), TETHER_RPC_NOT_FOUND, NULL,
                 0);
    exec_ok(c, "paused", argv_true);
    res = wait_exec(c, "paused");
    assert_int_equal(th_int(res, "exit_status"), 0);

    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    json_decref(th_call_ok(c, "wait", NULL));
    th_call_fail(c, "exec", exec_params("late", argv_true), TETHER_RPC_INVALID_STATE, NULL, 0);
    tether_client_close(c);

    /* A container whose init exits by itself refuses execs as well. */
    th_shim_stop(&f->shim);
    th_shim_unique_id("it-exec", f->id, sizeof(f->id));
    th_make_bundle(&f->env, "quick", argv_quick_exit, f->bundle, sizeof(f->bundle));
    th_shim_launch(&f->shim, &f->env, f->runtime, f->id, f->bundle);
    c = th_shim_connect(&f->shim);
    init_pid = create_start(c);
    assert_true(init_pid > 0);
    json_decref(th_call_ok(c, "wait", NULL));
    th_call_fail(c, "exec", exec_params("after", argv_true), TETHER_RPC_INVALID_STATE, NULL, 0);
    tether_client_close(c);
}

/* kill with an exec_id reaches the exec alone: SIGKILL gives 137 and the container runs on. */
static void test_kill_exec(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *res = NULL, *st = NULL, *exited = NULL;
    long long init_pid, pid;

    c = start_subscribed(f, argv_sleep, &init_pid);
    pid = exec_ok(c, "sleeper", argv_sleep);
    assert_true(th_pid_alive((pid_t)pid));
    st = th_call_ok(c, "state", json_pack("{s:s}", "exec_id", "sleeper"));
    assert_string_equal(th_str(st, "status"), "running");
    assert_null(json_object_get(st, "exit_status"));

    json_decref(
        th_call_ok(c, "kill", json_pack("{s:s,s:s}", "exec_id", "sleeper", "signal", "SIGKILL")));
    res = wait_exec(c, "sleeper");
    assert_int_equal(th_int(res, "exit_status"), 137);
    assert_string_equal(th_str(res, "signal"), "SIGKILL");
    assert_true(th_wait_pid_dead((pid_t)pid, TH_GONE_MS));
    exited = th_wait_event(c, "exit");
    assert_string_equal(th_str(exited, "exec_id"), "sleeper");
    assert_int_equal(th_int(exited, "exit_status"), 137);

    /* The exec is gone: a second kill is refused, the init still runs. */
    th_call_fail(c, "kill", json_pack("{s:s,s:s}", "exec_id", "sleeper", "signal", "SIGKILL"),
                 TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "kill", json_pack("{s:s,s:s}", "exec_id", "nosuch", "signal", "SIGKILL"),
                 TETHER_RPC_NOT_FOUND, NULL, 0);
    json_decref(st);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    assert_true(th_pid_alive((pid_t)init_pid));
    tether_client_close(c);
}

/* pids names the init and each running exec by its exec_id. */
static void test_pids_with_exec_id(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *res = NULL;
    json_t *list, *item;
    long long init_pid, pid_a, pid_b;
    bool seen_init = false, seen_a = false, seen_b = false;
    size_t i;

    c = start_subscribed(f, argv_sleep, &init_pid);
    pid_a = exec_ok(c, "a", argv_sleep);
    pid_b = exec_ok(c, "b", argv_sleep);
    res = th_call_ok(c, "pids", NULL);
    list = json_object_get(res, "pids");
    assert_true(json_is_array(list));
    json_array_foreach(list, i, item)
    {
        long long pid = th_int(item, "pid");
        json_t *exec_id = json_object_get(item, "exec_id");

        if (pid == init_pid) {
            seen_init = true;
            assert_true(json_is_true(json_object_get(item, "init")));
            assert_null(exec_id);
        } else if (pid == pid_a) {
            seen_a = true;
            assert_string_equal(th_str(item, "exec_id"), "a");
            assert_null(json_object_get(item, "init"));
        } else if (pid == pid_b) {
            seen_b = true;
            assert_string_equal(th_str(item, "exec_id"), "b");
        }
    }
    assert_true(seen_init && seen_a && seen_b);

    /* Once an exec has exited, it is no longer listed. */
    json_decref(th_call_ok(c, "kill", json_pack("{s:s,s:i}", "exec_id", "a", "signal", 9)));
    json_decref(wait_exec(c, "a"));
    json_decref(res);
    res = th_call_ok(c, "pids", NULL);
    json_array_foreach(json_object_get(res, "pids"), i, item)
    {
        assert_int_not_equal(th_int(item, "pid"), pid_a);
        if (th_int(item, "pid") == pid_b)
            assert_string_equal(th_str(item, "exec_id"), "b");
    }
    tether_client_close(c);
}

/* Sends a wait (for the init when exec_id is NULL) without reading its answer. */
static int64_t send_wait(struct tether_client *c, const char *exec_id)
{
    struct tether_error err = {0};
    json_auto_t *params = exec_id != NULL ? json_pack("{s:s}", "exec_id", exec_id) : NULL;
    int64_t id = tether_client_send(c, "wait", params, &err);

    if (id < 0)
        fail_msg("send wait: %s", err.msg);
    return id;
}

/* When the init dies, the kernel kills the rest of its PID namespace: the execs' exits
 * are published before the init's, and every wait is answered. */
static void test_init_exit_after_exec_exits(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *wa = NULL, *wb = NULL, *winit = NULL;
    long long init_pid;
    int64_t ida, idb, idinit;
    int exec_exits = 0;

    c = start_subscribed(f, argv_sleep, &init_pid);
    exec_ok(c, "a", argv_sleep);
    exec_ok(c, "b", argv_sleep);
    json_decref(th_wait_event(c, "exec_start"));
    json_decref(th_wait_event(c, "exec_start"));
    ida = send_wait(c, "a");
    idb = send_wait(c, "b");
    idinit = send_wait(c, NULL);
    assert_true(ida > 0 && idb > 0 && idinit > 0);
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    for (;;) {
        json_auto_t *ev = th_wait_event(c, "exit");
        json_t *exec_id = json_object_get(ev, "exec_id");

        if (exec_id != NULL) {
            exec_exits++;
            assert_int_equal(th_int(ev, "exit_status"), 137);
            continue;
        }
        assert_int_equal(th_int(ev, "pid"), init_pid);
        assert_int_equal(th_int(ev, "exit_status"), 137);
        break;
    }
    assert_int_equal(exec_exits, 2);
    wa = th_response(c, ida);
    wb = th_response(c, idb);
    winit = th_response(c, idinit);
    assert_int_equal(th_int(json_object_get(wa, "result"), "exit_status"), 137);
    assert_int_equal(th_int(json_object_get(wb, "result"), "exit_status"), 137);
    assert_int_equal(th_int(json_object_get(winit, "result"), "exit_status"), 137);
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_exit_codes_and_events),
        TH_BOTH_RUNTIMES(test_exec_log_path),
        TH_BOTH_RUNTIMES(test_exec_refusals),
        TH_BOTH_RUNTIMES(test_kill_exec),
        TH_BOTH_RUNTIMES(test_pids_with_exec_id),
        TH_BOTH_RUNTIMES(test_init_exit_after_exec_exits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
