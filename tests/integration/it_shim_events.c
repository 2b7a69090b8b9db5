/* tether-shim events: clients come and go while the container runs; what happened in
 * between is replayed by `subscribe {since}` in order, with no gap and no duplicate. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

/* Runs until the test creates /tmp/go in the rootfs, then exits 4. */
static const char *const argv_gated[] = {
    "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 4", NULL};
static const char *const argv_true[] = {"true", NULL};

static void open_gate(const struct th_fixture *f)
{
    cleanup_free char *path = xasprintf("%s/rootfs/tmp/go", f->bundle);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0)
        fail_msg("create %s: %s", path, strerror(errno));
    close(fd);
}

/* Checks the fields every event carries; returns ev for chaining. */
static json_t *check_event(json_t *ev, const struct th_fixture *f, long long seq, const char *topic)
{
    assert_int_equal(th_int(ev, "seq"), seq);
    assert_string_equal(th_str(ev, "topic"), topic);
    assert_string_equal(th_str(ev, "id"), f->id);
    th_assert_timestamp(th_str(ev, "timestamp"));
    return ev;
}

static void test_replay_after_disconnect(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *gone, *late, *partial;
    struct tether_error err = {0};
    cleanup_free char *exit_path = NULL;
    json_auto_t *created = NULL, *sub = NULL, *ev1 = NULL, *ev2 = NULL, *ev3 = NULL;
    json_auto_t *res = NULL, *sub2 = NULL, *replayed = NULL, *del = NULL;
    json_auto_t *live1 = NULL, *live2 = NULL;
    long long pid;

    th_fixture_start(f, argv_gated, NULL, NULL);
    exit_path = xasprintf("%s/exit.json", f->shim.dir);

    /* The first client starts the container, leaves a wait pending, and goes away. */
    gone = th_shim_connect(&f->shim);
    created = th_call_ok(gone, "create", NULL);
    pid = th_int(created, "pid");
    json_decref(th_call_ok(gone, "start", NULL));
    assert_true(tether_client_send(gone, "wait", NULL, &err) > 0);
    tether_client_close(gone);

    /* The container exits while nobody is connected. */
    open_gate(f);
    assert_true(th_wait_path(exit_path, TH_EVENT_MS));
    assert_true(th_pid_alive(f->shim.pid));

    /* A new client gets it all back: create, start, exit, then nothing more. */
    late = th_shim_connect(&f->shim);
    sub = th_call_ok(late, "subscribe", json_pack("{s:i}", "since", 0));
    assert_int_equal(th_int(sub, "seq"), 3);
    ev1 = check_event(th_next_event(late), f, 1, "create");
    assert_int_equal(th_int(ev1, "pid"), pid);
    ev2 = check_event(th_next_event(late), f, 2, "start");
    assert_int_equal(th_int(ev2, "pid"), pid);
    ev3 = check_event(th_next_event(late), f, 3, "exit");
    assert_int_equal(th_int(ev3, "pid"), pid);
    assert_int_equal(th_int(ev3, "exit_status"), 4);
    th_assert_timestamp(th_str(ev3, "exited_at"));
    assert_null(json_object_get(ev3, "signal"));
    th_assert_no_notification(late);

    res = th_call_ok(late, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 4);
    assert_string_equal(th_str(res, "exited_at"), th_str(ev3, "exited_at"));

    /* since:2 replays only what came after seq 2. */
    partial = th_shim_connect(&f->shim);
    sub2 = th_call_ok(partial, "subscribe", json_pack("{s:i}", "since", 2));
    assert_int_equal(th_int(sub2, "seq"), 3);
    replayed = check_event(th_next_event(partial), f, 3, "exit");
    assert_string_equal(th_str(replayed, "exited_at"), th_str(ev3, "exited_at"));
    th_assert_no_notification(partial);

    /* Live events reach both subscribers once, right after the replay. */
    del = th_call_ok(late, "delete", NULL);
    assert_int_equal(th_int(del, "exit_status"), 4);
    live1 = check_event(th_next_event(late), f, 4, "delete");
    live2 = check_event(th_next_event(partial), f, 4, "delete");
    assert_int_equal(th_int(live1, "exit_status"), 4);
    assert_int_equal(th_int(live2, "exit_status"), 4);
    th_assert_no_notification(late);
    th_assert_no_notification(partial);
    tether_client_close(partial);
    tether_client_close(late);
}

/* A subscriber that joins before anything happened sees live events only, numbered from 1;
 * a second lifecycle on the same shim continues the numbering. */
static void test_live_sequence(void **state)
{
    static const char *const topics[] = {"create", "start", "exit", "delete"};
    struct th_fixture *f = *state;
    struct tether_client *c, *sub;
    json_auto_t *first = NULL;
    long long seq = 0;
    int round;
    size_t i;

    th_fixture_start(f, argv_true, NULL, NULL);
    c = th_shim_connect(&f->shim);
    sub = th_shim_connect(&f->shim);
    first = th_call_ok(sub, "subscribe", json_pack("{s:i}", "since", 0));
    assert_int_equal(th_int(first, "seq"), 0);
    th_assert_no_notification(sub);
    for (round = 0; round < 2; round++) {
        json_decref(th_call_ok(c, "create", NULL));
        json_decref(th_call_ok(c, "start", NULL));
        json_decref(th_call_ok(c, "wait", NULL));
        json_decref(th_call_ok(c, "delete", NULL));
        for (i = 0; i < TETHER_ARRAY_SIZE(topics); i++) {
            json_auto_t *ev = th_next_event(sub);
            check_event(ev, f, ++seq, topics[i]);
        }
    }
    th_assert_no_notification(sub);
    /* A late subscriber asking from 0 gets all eight, still in order. */
    {
        struct tether_client *again = th_shim_connect(&f->shim);
        json_auto_t *res = th_call_ok(again, "subscribe", json_pack("{s:i}", "since", 0));

        assert_int_equal(th_int(res, "seq"), 8);
        for (seq = 1; seq <= 8; seq++) {
            json_auto_t *ev = th_next_event(again);
            check_event(ev, f, seq, topics[(seq - 1) % 4]);
        }
        th_assert_no_notification(again);
        tether_client_close(again);
    }
    tether_client_close(sub);
    tether_client_close(c);
}

/* Asking from the last event replays nothing; later events still arrive. */
static void test_since_last(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *created = NULL, *res = NULL, *ev = NULL;

    th_fixture_start(f, argv_true, NULL, NULL);
    c = th_shim_connect(&f->shim);
    created = th_call_ok(c, "create", NULL);
    res = th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 1));
    assert_int_equal(th_int(res, "seq"), 1);
    th_assert_no_notification(c);
    json_decref(th_call_ok(c, "start", NULL));
    ev = check_event(th_next_event(c), f, 2, "start");
    assert_int_equal(th_int(ev, "pid"), th_int(created, "pid"));
    json_decref(th_call_ok(c, "wait", NULL));
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_replay_after_disconnect),
        TH_BOTH_RUNTIMES(test_live_sequence),
        TH_BOTH_RUNTIMES(test_since_last),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
