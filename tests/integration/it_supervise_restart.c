/* tether-shim supervision, second half: restart policies. The shim re-creates and starts
 * a container whose exit the policy accepts, reports each restart, keeps the latest exit
 * in exit.json, and stops restarting once a client stops or kills the container. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

/* How long "nothing more happens" is watched: several backoffs of the policies below. */
#define QUIET_MS 1500

static const char *const argv_fail[] = {"sh", "-c", "exit 1", NULL};
static const char *const argv_ok[] = {"true", NULL};
/* Handles TERM, then says so with /tmp/ready (a signal sent before would be lost). */
static const char *const argv_trap_term[] = {
    "sh", "-c", "trap 'exit 3' TERM; touch /tmp/ready; while :; do sleep 0.05; done", NULL};

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void edit_writable(json_t *config, void *data)
{
    (void)data;
    json_object_set_new(json_object_get(config, "root"), "readonly", json_false());
}

static bool path_exists(void *path)
{
    return th_path_exists(path);
}

static json_t *restart_params(const char *policy, int max_retries, int backoff_ms)
{
    return json_pack("{s:{s:s,s:i,s:i}}", "restart", "policy", policy, "max_retries", max_retries,
                     "backoff_ms", backoff_ms);
}

/* exit.json as the shim last wrote it (new reference). */
static json_t *exit_record(const struct th_fixture *f)
{
    cleanup_free char *path = xasprintf("%s/exit.json", f->shim.dir);
    json_error_t jerr;
    json_t *rec = json_load_file(path, 0, &jerr);

    if (rec == NULL)
        fail_msg("load %s: %s", path, jerr.text);
    return rec;
}

/* Reads everything already waiting on c (queued or on the socket) and drops it. */
static void drain(struct tether_client *c)
{
    for (;;) {
        struct tether_error err = {0};
        json_t *note = tether_client_next_notification(c, 0, &err);

        if (note == NULL)
            return;
        json_decref(note);
    }
}

/* on-failure with max_retries 3 on a container that always fails: four runs in all,
 * each exit followed by a restart until the retries are spent, then nothing. */
static void test_on_failure_max_retries(void **state)
{
    static const char *const want[] = {"create",  "start", "exit", "restart", "start", "exit",
                                       "restart", "start", "exit", "restart", "start", "exit"};
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *created = NULL, *st = NULL, *rec = NULL;
    long long pid = 0, attempt = 0, restart_pid = 0;
    int starts = 0;
    size_t i;

    th_fixture_start(f, argv_fail, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    created = th_call_ok(c, "create", restart_params("on-failure", 3, 50));
    json_decref(th_call_ok(c, "start", NULL));

    for (i = 0; i < TETHER_ARRAY_SIZE(want); i++) {
        json_auto_t *ev = th_next_event(c);
        const char *topic = th_str(ev, "topic");

        if (strcmp(topic, want[i]) != 0)
            fail_msg("event %zu: %s, want %s", i + 1, topic, want[i]);
        if (strcmp(topic, "start") == 0) {
            long long p = th_int(ev, "pid");

            starts++;
            assert_true(p > 0);
            assert_int_not_equal(p, pid); /* each run is a new process */
            if (restart_pid != 0)
                assert_int_equal(p, restart_pid);
            pid = p;
        } else if (strcmp(topic, "exit") == 0) {
            assert_int_equal(th_int(ev, "pid"), pid);
            assert_int_equal(th_int(ev, "exit_status"), 1);
        } else if (strcmp(topic, "restart") == 0) {
            assert_int_equal(th_int(ev, "attempt"), ++attempt);
            restart_pid = th_int(ev, "pid");
        } else {
            assert_int_equal(th_int(ev, "pid"), th_int(created, "pid"));
        }
    }
    assert_int_equal(starts, 4);
    nap_ms(QUIET_MS);
    th_assert_no_notification(c);

    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "restarts"), 3);
    assert_int_equal(th_int(st, "exit_status"), 1);
    assert_int_equal(th_int(st, "pid"), pid);
    rec = exit_record(f);
    assert_int_equal(th_int(rec, "exit_status"), 1);
    assert_string_equal(th_str(rec, "exited_at"), th_str(st, "exited_at"));
    tether_client_close(c);
}

/* on-failure leaves a successful exit alone; "no" (the default) any exit. */
static void test_no_restart_when_not_asked(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *st = NULL;

    th_fixture_start(f, argv_ok, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    json_decref(th_call_ok(c, "create", restart_params("on-failure", 0, 50)));
    json_decref(th_call_ok(c, "start", NULL));
    json_decref(th_wait_event(c, "exit"));
    nap_ms(QUIET_MS / 2);
    th_assert_no_notification(c);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "restarts"), 0);
    json_decref(th_call_ok(c, "delete", NULL));
    drain(c);

    /* The default policy with a failing container: stopped for good as well. */
    th_make_bundle(&f->env, "bundle", argv_fail, f->bundle, sizeof(f->bundle));
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    json_decref(th_wait_event(c, "exit"));
    nap_ms(QUIET_MS / 2);
    th_assert_no_notification(c);
    tether_client_close(c);
}

/* Waits for <rootfs>/tmp/ready, then removes it for the next run to make again. */
static void wait_ready(const struct th_fixture *f)
{
    cleanup_free char *marker = xasprintf("%s/rootfs/tmp/ready", f->bundle);

    if (!th_wait_until(path_exists, marker, TH_EVENT_MS))
        fail_msg("the container did not create /tmp/ready");
    unlink(marker);
}

/* Checks the exit, restart and start events that follow a kill of the run with pid
 * old_pid; returns the new run's pid. */
static long long expect_restart(struct tether_client *c, long long old_pid, long long attempt)
{
    json_auto_t *exited = th_next_event(c), *restarted = NULL, *started = NULL;

    assert_string_equal(th_str(exited, "topic"), "exit");
    assert_int_equal(th_int(exited, "pid"), old_pid);
    assert_int_equal(th_int(exited, "exit_status"), 137);
    assert_string_equal(th_str(exited, "signal"), "SIGKILL");
    restarted = th_next_event(c);
    assert_string_equal(th_str(restarted, "topic"), "restart");
    assert_int_equal(th_int(restarted, "attempt"), attempt);
    started = th_next_event(c);
    assert_string_equal(th_str(started, "topic"), "start");
    assert_int_equal(th_int(started, "pid"), th_int(restarted, "pid"));
    assert_int_not_equal(th_int(started, "pid"), old_pid);
    return th_int(started, "pid");
}

/* always: a container killed from outside the shim (SIGKILL to its init straight from
 * here) is restarted, each time. exit.json holds the latest exit, and a stop ends it. */
static void test_always_restarts_outside_kill(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *created = NULL, *rec = NULL, *st = NULL, *stopped = NULL, *last = NULL;
    long long pid, attempt;

    th_fixture_start(f, argv_trap_term, edit_writable, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    created = th_call_ok(c, "create", restart_params("always", 0, 50));
    json_decref(th_call_ok(c, "start", NULL));
    pid = th_int(created, "pid");
    json_decref(th_wait_event(c, "start"));

    for (attempt = 1; attempt <= 2; attempt++) {
        wait_ready(f);
        if (kill((pid_t)pid, SIGKILL) < 0)
            fail_msg("kill %lld: %s", pid, strerror(errno));
        pid = expect_restart(c, pid, attempt);
        assert_true(th_pid_alive((pid_t)pid));
        json_decref(rec);
        rec = exit_record(f);
        assert_int_equal(th_int(rec, "exit_status"), 137);
        assert_string_equal(th_str(rec, "signal"), "SIGKILL");
        json_decref(st);
        st = th_call_ok(c, "state", NULL);
        assert_string_equal(th_str(st, "status"), "running");
        assert_int_equal(th_int(st, "pid"), pid);
        assert_int_equal(th_int(st, "restarts"), attempt);
    }

    /* stop: TERM is handled (exit 3), and that exit replaces the SIGKILL in exit.json. */
    wait_ready(f);
    stopped = th_call_ok(c, "stop", json_pack("{s:i}", "timeout", 60));
    assert_int_equal(th_int(stopped, "exit_status"), 3);
    last = th_wait_event(c, "exit");
    assert_int_equal(th_int(last, "pid"), pid);
    assert_int_equal(th_int(last, "exit_status"), 3);
    json_decref(rec);
    rec = exit_record(f);
    assert_int_equal(th_int(rec, "exit_status"), 3);
    assert_null(json_object_get(rec, "signal"));
    assert_string_equal(th_str(rec, "exited_at"), th_str(last, "exited_at"));
    nap_ms(QUIET_MS);
    th_assert_no_notification(c);
    json_decref(st);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "restarts"), 2);
    tether_client_close(c);
}

/* A kill from a client ends the restarts too, as Docker's does. */
static void test_client_kill_ends_always(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *exited = NULL, *st = NULL;

    th_fixture_start(f, argv_trap_term, edit_writable, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    json_decref(th_call_ok(c, "create", restart_params("always", 0, 50)));
    json_decref(th_call_ok(c, "start", NULL));
    wait_ready(f);
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    exited = th_wait_event(c, "exit");
    assert_int_equal(th_int(exited, "exit_status"), 137);
    nap_ms(QUIET_MS);
    th_assert_no_notification(c);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "restarts"), 0);
    tether_client_close(c);
}

/* Sends stop and reads the connection in order until its answer: returns the answer's
 * result (new reference). Everything after the answer is left on the socket. */
static json_t *stop_in_order(struct tether_client *c, int timeout_s)
{
    struct tether_error err = {0};
    json_auto_t *params = json_pack("{s:i}", "timeout", timeout_s);
    int64_t id;

    drain(c);
    id = tether_client_send(c, "stop", params, &err);
    if (id < 0)
        fail_msg("send stop: %s", err.msg);
    for (;;) {
        json_auto_t *msg = th_read_message(c);
        json_t *jid = json_object_get(msg, "id");
        json_t *result;

        if (!json_is_integer(jid) || json_integer_value(jid) != id)
            continue; /* an event from before the answer */
        result = json_object_get(msg, "result");
        if (result == NULL)
            fail_msg("stop failed");
        return json_incref(result);
    }
}

/* stop ends an always-restarting container for good wherever it catches it: running,
 * between runs (backoff), or while the next run is being created. Nothing is published
 * after the answer, and state, the answer and exit.json agree on the last exit. */
static void test_stop_ends_always(void **state)
{
    static const char *const argv_short[] = {"sh", "-c", "sleep 0.3; exit 5", NULL};
    static const struct {
        const char *after; /* stop delay_ms after this event */
        int delay_ms;
        int backoff_ms;
    } rounds[] = {
        {"start", 0, 50},  /* running */
        {"exit", 0, 1000}, /* between runs */
        {"exit", 0, 0},    /* the restart fires at once: its delete or create */
        {"exit", 40, 30},  /* most likely during the restart's runtime delete */
    };
    struct th_fixture *f = *state;
    struct tether_client *c;
    size_t r;

    th_fixture_start(f, argv_short, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    for (r = 0; r < TETHER_ARRAY_SIZE(rounds); r++) {
        json_auto_t *stopped = NULL, *st = NULL, *rec = NULL;
        long long status;

        json_decref(th_call_ok(c, "create", restart_params("always", 0, rounds[r].backoff_ms)));
        st = th_call_ok(c, "state", NULL);
        assert_int_equal(th_int(st, "restarts"), 0);
        json_decref(th_call_ok(c, "start", NULL));
        /* Let it restart once, then stop at the chosen point of the next run. */
        json_decref(th_wait_event(c, "restart"));
        json_decref(th_wait_event(c, rounds[r].after));
        nap_ms(rounds[r].delay_ms);
        stopped = stop_in_order(c, 1);
        status = th_int(stopped, "exit_status");
        assert_true(status == 5 || status == 137);
        nap_ms(QUIET_MS);
        th_assert_no_notification(c);

        json_decref(st);
        st = th_call_ok(c, "state", NULL);
        assert_string_equal(th_str(st, "status"), "stopped");
        assert_int_equal(th_int(st, "exit_status"), status);
        rec = exit_record(f);
        assert_int_equal(th_int(rec, "exit_status"), status);
        assert_string_equal(th_str(rec, "exited_at"), th_str(st, "exited_at"));
        json_decref(th_call_ok(c, "delete", NULL));
        drain(c);
    }
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_on_failure_max_retries),
        TH_BOTH_RUNTIMES(test_no_restart_when_not_asked),
        TH_BOTH_RUNTIMES(test_always_restarts_outside_kill),
        TH_BOTH_RUNTIMES(test_client_kill_ends_always),
        TH_BOTH_RUNTIMES(test_stop_ends_always),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
