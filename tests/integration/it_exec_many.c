/* tether-shim exec processes under load and with a terminal: 50 execs asked for at once
 * each get their own exit status and events, and a terminal exec sees the window size a
 * client set with resize. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

#define EXECS 50

static const char *const argv_sleep[] = {"sleep", "1000", NULL};

static int64_t send_ok(struct tether_client *c, const char *method, json_t *params)
{
    struct tether_error err = {0};
    int64_t id = tether_client_send(c, method, params, &err);

    json_decref(params);
    if (id < 0)
        fail_msg("send %s: %s", method, err.msg);
    return id;
}

/* The result of a response read with th_response; fails on an error response. */
static json_t *result_of(json_t *resp, const char *what)
{
    json_t *result = json_object_get(resp, "result");

    if (result == NULL) {
        char *text = json_dumps(resp, JSON_COMPACT);
        fail_msg("%s: %s", what, text ? text : "?");
    }
    return result;
}

struct exec_rec {
    char id[16];
    int want;         /* exit status */
    long long pid;    /* from exec's answer */
    long long ev_pid; /* from exec_start */
    long long start_seq, exit_seq;
};

/* Every other exec runs `true`, the rest exit with a status of their own (distinct, and
 * never 0), so any exit handed to the wrong exec shows. */
static void test_fifty_at_once(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c, *sub;
    struct exec_rec recs[EXECS];
    int64_t ids[EXECS];
    int starts = 0, exits = 0, i;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    sub = th_shim_connect(&f->shim);
    json_decref(th_call_ok(sub, "subscribe", json_pack("{s:i}", "since", 0)));
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));

    memset(recs, 0, sizeof(recs));
    for (i = 0; i < EXECS; i++) {
        char code[32];
        const char *argv_true[] = {"true", NULL};
        const char *argv_code[] = {"sh", "-c", code, NULL};

        snprintf(recs[i].id, sizeof(recs[i].id), "hc-%d", i);
        recs[i].want = i % 2 == 0 ? 0 : 100 + i;
        snprintf(code, sizeof(code), "exit %d", recs[i].want);
        ids[i] = send_ok(c, "exec",
                         json_pack("{s:s,s:o}", "exec_id", recs[i].id, "process",
                                   th_process_of(i % 2 == 0 ? argv_true : argv_code)));
    }
    for (i = 0; i < EXECS; i++) {
        json_auto_t *resp = th_response(c, ids[i]);

        recs[i].pid = th_int(result_of(resp, recs[i].id), "pid");
        assert_true(recs[i].pid > 0);
    }
    for (i = 0; i < EXECS; i++)
        ids[i] = send_ok(c, "wait", json_pack("{s:s}", "exec_id", recs[i].id));
    for (i = 0; i < EXECS; i++) {
        json_auto_t *resp = th_response(c, ids[i]);
        json_t *res = result_of(resp, recs[i].id);

        if (th_int(res, "exit_status") != recs[i].want)
            fail_msg("exec %s: exit status %lld, want %d", recs[i].id, th_int(res, "exit_status"),
                     recs[i].want);
    }

    /* Each exec: one exec_start, then one exit with its own pid and status. */
    while (starts < EXECS || exits < EXECS) {
        json_auto_t *ev = th_next_event(sub);
        const char *topic = th_str(ev, "topic");
        json_t *exec_id = json_object_get(ev, "exec_id");
        struct exec_rec *r = NULL;

        if (strcmp(topic, "exec_start") != 0 && strcmp(topic, "exit") != 0)
            continue;
        if (!json_is_string(exec_id))
            fail_msg("%s event without exec_id", topic);
        for (i = 0; i < EXECS; i++)
            if (strcmp(recs[i].id, json_string_value(exec_id)) == 0)
                r = &recs[i];
        if (r == NULL)
            fail_msg("%s event for unknown exec %s", topic, json_string_value(exec_id));
        if (strcmp(topic, "exec_start") == 0) {
            if (r->start_seq != 0)
                fail_msg("two exec_start events for %s", r->id);
            r->start_seq = th_int(ev, "seq");
            r->ev_pid = th_int(ev, "pid");
            assert_int_equal(r->ev_pid, r->pid);
            starts++;
        } else {
            if (r->exit_seq != 0)
                fail_msg("two exit events for %s", r->id);
            if (r->start_seq == 0)
                fail_msg("exit of %s before its exec_start", r->id);
            r->exit_seq = th_int(ev, "seq");
            assert_int_equal(th_int(ev, "pid"), r->pid);
            if (th_int(ev, "exit_status") != r->want)
                fail_msg("exit event of %s: status %lld, want %d", r->id, th_int(ev, "exit_status"),
                         r->want);
            exits++;
        }
    }
    th_assert_no_notification(sub);
    for (i = 0; i < EXECS; i++) {
        json_auto_t *st = th_call_ok(c, "state", json_pack("{s:s}", "exec_id", recs[i].id));

        assert_string_equal(th_str(st, "status"), "stopped");
        assert_int_equal(th_int(st, "exit_status"), recs[i].want);
    }
    {
        json_auto_t *st = th_call_ok(c, "state", NULL);
        assert_string_equal(th_str(st, "status"), "running");
    }
    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
    tether_client_close(sub);
    tether_client_close(c);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends the output notifications for exec_id that arrive on c to buf until it holds
 * want or the deadline passes. */
static bool collect_output(struct tether_client *c, const char *exec_id, char *buf, size_t len,
                           const char *want)
{
    int64_t deadline = now_ms() + TH_EVENT_MS;
    size_t used = strlen(buf);

    while (strstr(buf, want) == NULL) {
        struct tether_error err = {0};
        json_auto_t *note = NULL;
        json_t *params;
        const char *data;
        int64_t left = deadline - now_ms();
        ssize_t n;

        if (left <= 0)
            return false;
        note = tether_client_next_notification(c, (int)left, &err);
        if (note == NULL)
            return false;
        if (strcmp(th_str(note, "method"), "output") != 0)
            continue;
        params = json_object_get(note, "params");
        assert_string_equal(th_str(params, "exec_id"), exec_id);
        assert_string_equal(th_str(params, "stream"), "stdout");
        data = th_str(params, "data");
        if (used + tether_base64_decoded_max(strlen(data)) + 1 > len)
            fail_msg("more output than expected: %s", buf);
        n = tether_base64_decode(data, strlen(data), buf + used);
        assert_true(n >= 0);
        used += (size_t)n;
        buf[used] = '\0';
    }
    return true;
}

static void send_input(struct tether_client *c, const char *exec_id, const char *text)
{
    cleanup_free char *b64 = tether_base64_encode(text, strlen(text), NULL);
    json_auto_t *res =
        th_call_ok(c, "input", json_pack("{s:s,s:s}", "exec_id", exec_id, "data", b64));

    assert_int_equal(th_int(res, "written"), (long long)strlen(text));
}

/* The exec waits for a line on its terminal, then prints the window size: the last
 * resize must be what it sees, through attach and in its log. */
static void test_terminal_resize(void **state)
{
    static const char *const argv_tty[] = {"sh", "-c", "read line; stty size; echo done-$line",
                                           NULL};
    static const char *const argv_plain[] = {"sleep", "1000", NULL};
    struct th_fixture *f = *state;
    struct tether_client *c, *att, *init_att;
    struct tether_error err = {0};
    cleanup_free char *log_path = NULL, *log_text = NULL;
    json_auto_t *res = NULL;
    char out[4096] = "";

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    init_att = th_shim_connect(&f->shim);
    json_decref(th_call_ok(init_att, "attach", NULL));

    log_path = xasprintf("%s/exec-tty.log", f->env.dir);
    json_decref(th_call_ok(c, "exec",
                           json_pack("{s:s,s:o,s:b,s:b,s:{s:s}}", "exec_id", "tty", "process",
                                     th_process_of(argv_tty), "terminal", 1, "stdin", 1, "log",
                                     "path", log_path)));
    att = th_shim_connect(&f->shim);
    json_decref(th_call_ok(att, "attach", json_pack("{s:s}", "exec_id", "tty")));
    json_decref(th_call_ok(
        c, "resize", json_pack("{s:s,s:i,s:i}", "exec_id", "tty", "width", 100, "height", 30)));
    json_decref(th_call_ok(
        c, "resize", json_pack("{s:s,s:i,s:i}", "exec_id", "tty", "width", 123, "height", 45)));
    send_input(c, "tty", "go\n");
    if (!collect_output(att, "tty", out, sizeof(out), "done-go"))
        fail_msg("no \"done-go\" from the terminal exec; got: %s", out);
    if (strstr(out, "45 123") == NULL)
        fail_msg("stty size did not print \"45 123\": %s", out);
    res = th_call_ok(c, "wait", json_pack("{s:s}", "exec_id", "tty"));
    assert_int_equal(th_int(res, "exit_status"), 0);
    if (tether_read_file(log_path, 1 << 20, &log_text, NULL, &err) < 0)
        fail_msg("read %s: %s", log_path, err.msg);
    assert_non_null(strstr(log_text, "45 123"));
    /* The client attached to the init saw none of it. */
    th_assert_no_notification(init_att);

    /* resize needs a terminal: an exec on pipes refuses it. */
    json_decref(th_call_ok(
        c, "exec",
        json_pack("{s:s,s:o}", "exec_id", "plain", "process", th_process_of(argv_plain))));
    th_call_fail(c, "resize",
                 json_pack("{s:s,s:i,s:i}", "exec_id", "plain", "width", 80, "height", 24),
                 TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "resize",
                 json_pack("{s:s,s:i,s:i}", "exec_id", "tty", "width", 0, "height", 24),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    tether_client_close(att);
    tether_client_close(init_att);
    tether_client_close(c);
}

/* An exec with stdin on a pipe: input reaches it, close_stdin gives it EOF. */
static void test_stdin_pipe(void **state)
{
    static const char *const argv_cat[] = {"sh", "-c", "cat; echo eof-seen", NULL};
    struct th_fixture *f = *state;
    struct tether_client *c, *att;
    json_auto_t *res = NULL;
    char out[4096] = "";

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    json_decref(th_call_ok(c, "exec",
                           json_pack("{s:s,s:o,s:b}", "exec_id", "cat", "process",
                                     th_process_of(argv_cat), "stdin", 1)));
    att = th_shim_connect(&f->shim);
    json_decref(th_call_ok(att, "attach", json_pack("{s:s}", "exec_id", "cat")));
    send_input(c, "cat", "hello through stdin\n");
    if (!collect_output(att, "cat", out, sizeof(out), "hello through stdin\n"))
        fail_msg("input did not come back: %s", out);
    json_decref(th_call_ok(c, "close_stdin", json_pack("{s:s}", "exec_id", "cat")));
    if (!collect_output(att, "cat", out, sizeof(out), "eof-seen"))
        fail_msg("no EOF after close_stdin: %s", out);
    res = th_call_ok(c, "wait", json_pack("{s:s}", "exec_id", "cat"));
    assert_int_equal(th_int(res, "exit_status"), 0);
    tether_client_close(att);
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_fifty_at_once),
        TH_BOTH_RUNTIMES(test_terminal_resize),
        TH_BOTH_RUNTIMES(test_stdin_pipe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
