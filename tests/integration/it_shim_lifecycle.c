/* tether-shim with real containers: exit codes, wait, the state machine as the protocol
 * shows it, and the operations each state refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

static const char *const argv_true[] = {"true", NULL};
static const char *const argv_exit7[] = {"sh", "-c", "exit 7", NULL};
static const char *const argv_sleep[] = {"sleep", "1000", NULL};
/* PID 1 of a PID namespace ignores signals it has no handler for: install one, and say
 * when it is in place (a signal sent before would be lost). */
static const char *const argv_trap_term[] = {
    "sh", "-c", "trap 'exit 3' TERM; touch /tmp/ready; while :; do sleep 0.05; done", NULL};

/* create then start; returns the init pid (both answers must carry the same one). */
static long long create_start(struct tether_client *c)
{
    json_auto_t *created = th_call_ok(c, "create", NULL);
    json_auto_t *started = NULL;
    long long pid = th_int(created, "pid");

    assert_true(pid > 0);
    started = th_call_ok(c, "start", NULL);
    assert_int_equal(th_int(started, "pid"), pid);
    return pid;
}

/* wait, checking the shape of its answer; returns the result (new reference). */
static json_t *wait_exit(struct tether_client *c, int want_status, const char *want_signal)
{
    json_t *res = th_call_ok(c, "wait", NULL);

    assert_int_equal(th_int(res, "exit_status"), want_status);
    th_assert_timestamp(th_str(res, "exited_at"));
    if (want_signal != NULL)
        assert_string_equal(th_str(res, "signal"), want_signal);
    else
        assert_null(json_object_get(res, "signal"));
    return res;
}

static void run_to_exit(void **state, const char *const argv[], int want)
{
    struct th_fixture *f = *state;
    struct tether_client *c;

    th_fixture_start(f, argv, NULL, NULL);
    c = th_shim_connect(&f->shim);
    create_start(c);
    json_decref(wait_exit(c, want, NULL));
    tether_client_close(c);
}

static void test_exit_zero(void **state)
{
    run_to_exit(state, argv_true, 0);
}

static void test_exit_seven(void **state)
{
    run_to_exit(state, argv_exit7, 7);
}

static void test_kill_sigkill(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *st = NULL;
    long long pid;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    pid = create_start(c);
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    json_decref(wait_exit(c, 137, "SIGKILL"));
    assert_true(th_wait_pid_dead((pid_t)pid, TH_GONE_MS));
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "exit_status"), 137);
    assert_string_equal(th_str(st, "signal"), "SIGKILL");
    tether_client_close(c);
}

/* A signal given by its short name ("TERM") reaches the init, which handles it. */
static void test_kill_term_handled(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *ready = NULL;
    struct tether_client *c;

    th_fixture_start(f, argv_trap_term, th_edit_writable_rootfs, NULL);
    ready = xasprintf("%s/rootfs/tmp/ready", f->bundle);
    c = th_shim_connect(&f->shim);
    create_start(c);
    if (!th_wait_path(ready, TH_EVENT_MS))
        fail_msg("the container never installed its TERM handler");
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "TERM")));
    json_decref(wait_exit(c, 3, NULL));
    tether_client_close(c);
}

static void test_wait_two_clients(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *ctl, *w1, *w2;
    struct tether_error err = {0};
    json_auto_t *r1 = NULL, *r2 = NULL, *st1 = NULL, *st2 = NULL;
    json_t *a, *b;
    int64_t id1, id2;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    ctl = th_shim_connect(&f->shim);
    w1 = th_shim_connect(&f->shim);
    w2 = th_shim_connect(&f->shim);
    create_start(ctl);
    id1 = tether_client_send(w1, "wait", NULL, &err);
    id2 = tether_client_send(w2, "wait", NULL, &err);
    assert_true(id1 > 0 && id2 > 0);
    /* A later call on the same connection is answered while the wait is pending; once it
     * is, the shim has taken the wait too. */
    st1 = th_call_ok(w1, "state", NULL);
    st2 = th_call_ok(w2, "state", NULL);
    assert_string_equal(th_str(st1, "status"), "running");
    assert_string_equal(th_str(st2, "status"), "running");
    json_decref(th_call_ok(ctl, "kill", json_pack("{s:i}", "signal", 9)));
    r1 = th_response(w1, id1);
    r2 = th_response(w2, id2);
    a = json_object_get(r1, "result");
    b = json_object_get(r2, "result");
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(th_int(a, "exit_status"), 137);
    assert_int_equal(th_int(b, "exit_status"), 137);
    assert_string_equal(th_str(a, "signal"), "SIGKILL");
    assert_string_equal(th_str(a, "exited_at"), th_str(b, "exited_at"));
    tether_client_close(w2);
    tether_client_close(w1);
    tether_client_close(ctl);
}

static void test_wait_after_exit(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *sub, *late;
    json_auto_t *ev = NULL, *res = NULL;

    th_fixture_start(f, argv_exit7, NULL, NULL);
    sub = th_shim_connect(&f->shim);
    json_decref(th_call_ok(sub, "subscribe", NULL));
    create_start(sub);
    ev = th_wait_event(sub, "exit");
    /* The container is gone already: a wait from a new client is answered from the
     * record, it does not block. */
    late = th_shim_connect(&f->shim);
    res = wait_exit(late, 7, NULL);
    assert_int_equal(th_int(ev, "exit_status"), 7);
    assert_string_equal(th_str(res, "exited_at"), th_str(ev, "exited_at"));
    tether_client_close(late);
    tether_client_close(sub);
}

static void test_state_transitions(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *created = NULL, *st = NULL, *res = NULL, *pids = NULL, *del = NULL;
    json_t *list;
    long long pid;
    size_t i;
    bool found = false;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    th_call_fail(c, "wait", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    th_call_fail(c, "delete", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);

    created = th_call_ok(c, "create", NULL);
    pid = th_int(created, "pid");
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "created");
    assert_string_equal(th_str(st, "id"), f->id);
    assert_int_equal(th_int(st, "pid"), pid);
    assert_non_null(strstr(th_str(st, "bundle"), "/bundle"));
    assert_null(json_object_get(st, "exit_status"));
    assert_true(th_pid_alive((pid_t)pid));
    json_decref(st);

    json_decref(th_call_ok(c, "start", NULL));
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    assert_int_equal(th_int(st, "pid"), pid);
    assert_null(json_object_get(st, "exit_status"));
    json_decref(st);

    pids = th_call_ok(c, "pids", NULL);
    list = json_object_get(pids, "pids");
    assert_true(json_is_array(list));
    for (i = 0; i < json_array_size(list); i++)
        if (th_int(json_array_get(list, i), "pid") == pid)
            found = true;
    assert_true(found);

    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "KILL")));
    res = wait_exit(c, 137, "SIGKILL");
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "exit_status"), 137);
    assert_string_equal(th_str(st, "exited_at"), th_str(res, "exited_at"));
    assert_string_equal(th_str(st, "signal"), "SIGKILL");

    del = th_call_ok(c, "delete", NULL);
    assert_int_equal(th_int(del, "exit_status"), 137);
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    tether_client_close(c);
}

static void test_start_twice(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *st = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    create_start(c);
    th_call_fail(c, "start", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    tether_client_close(c);
}

static void test_create_twice(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    th_call_fail(c, "create", NULL, TETHER_RPC_EXISTS, NULL, 0);
    tether_client_close(c);
}

static void test_delete_running(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *st = NULL, *del = NULL, *exit_ev = NULL, *del_ev = NULL;
    long long pid;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    pid = create_start(c);
    json_decref(th_wait_event(c, "start"));

    th_call_fail(c, "delete", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "delete", json_pack("{s:b}", "force", 0), TETHER_RPC_INVALID_STATE, NULL, 0);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    assert_true(th_pid_alive((pid_t)pid));

    del = th_call_ok(c, "delete", json_pack("{s:b}", "force", 1));
    assert_true(th_wait_pid_dead((pid_t)pid, TH_GONE_MS));
    /* The exit is published before the delete, and nothing else comes in between. */
    exit_ev = th_next_event(c);
    assert_string_equal(th_str(exit_ev, "topic"), "exit");
    assert_int_equal(th_int(exit_ev, "pid"), pid);
    del_ev = th_next_event(c);
    assert_string_equal(th_str(del_ev, "topic"), "delete");
    assert_int_equal(th_int(del_ev, "seq"), th_int(exit_ev, "seq") + 1);
    assert_int_equal(th_int(del, "exit_status"), th_int(exit_ev, "exit_status"));
    assert_int_equal(th_int(del_ev, "exit_status"), th_int(exit_ev, "exit_status"));
    assert_true(th_int(exit_ev, "exit_status") > 128);
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    tether_client_close(c);
}

static void test_kill_stopped(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;

    th_fixture_start(f, argv_true, NULL, NULL);
    c = th_shim_connect(&f->shim);
    create_start(c);
    json_decref(wait_exit(c, 0, NULL));
    th_call_fail(c, "kill", json_pack("{s:s}", "signal", "SIGTERM"), TETHER_RPC_INVALID_STATE, NULL,
                 0);
    th_call_fail(c, "start", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_exit_zero),         TH_BOTH_RUNTIMES(test_exit_seven),
        TH_BOTH_RUNTIMES(test_kill_sigkill),      TH_BOTH_RUNTIMES(test_kill_term_handled),
        TH_BOTH_RUNTIMES(test_wait_two_clients),  TH_BOTH_RUNTIMES(test_wait_after_exit),
        TH_BOTH_RUNTIMES(test_state_transitions), TH_BOTH_RUNTIMES(test_start_twice),
        TH_BOTH_RUNTIMES(test_create_twice),      TH_BOTH_RUNTIMES(test_delete_running),
        TH_BOTH_RUNTIMES(test_kill_stopped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
