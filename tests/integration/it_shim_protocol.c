/* tether-shim's JSON-RPC front end against hostile and careless clients: every bad input
 * gets the protocol's error, and the shim and every other client carry on. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

#define BIG_LINE    (2u << 20)   /* over the default 1 MiB limit */
#define LARGE_LINE  (900u << 10) /* under it */
#define MANY_CLIENT 32

static const char *const argv_sleep[] = {"sleep", "1000", NULL};
static const char *const argv_missing[] = {"no-such-program-here", NULL};

/* Sends one raw line (newline added) and checks the single answer it gets. */
static void raw_expect(struct tether_client *c, const char *line, int code, long long id)
{
    cleanup_free char *text = xasprintf("%s\n", line);
    json_auto_t *msg = NULL;

    th_send_raw(c, text, strlen(text));
    msg = th_read_message(c);
    th_assert_error(msg, code, id);
}

/* The connection still works: a state call is answered (no container: not found). */
static void still_serving(struct tether_client *c)
{
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
}

static void test_parse_error(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    raw_expect(c, "this is not json", TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c, "\x01\x02\xff\xfe", TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"state\"} trailing",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    still_serving(c);
    tether_client_close(c);
}

static void test_invalid_request(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":7}", TETHER_RPC_INVALID_REQUEST, 7);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":5}", TETHER_RPC_INVALID_REQUEST, 8);
    raw_expect(c, "{\"jsonrpc\":\"1.0\",\"id\":9,\"method\":\"state\"}", TETHER_RPC_INVALID_REQUEST,
               9);
    raw_expect(c, "[1,2]", TETHER_RPC_INVALID_REQUEST, TH_ID_NULL);
    raw_expect(c, "42", TETHER_RPC_INVALID_REQUEST, TH_ID_NULL);
    still_serving(c);
    tether_client_close(c);
}

static void test_unknown_method(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    static const char string_id[] = "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"nope\"}\n";
    char msg[TETHER_ERROR_MSG_MAX];
    json_auto_t *resp = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "explode", NULL, TETHER_RPC_METHOD_NOT_FOUND, msg, sizeof(msg));
    assert_non_null(strstr(msg, "explode"));
    th_call_fail(c, "Create", NULL, TETHER_RPC_METHOD_NOT_FOUND, NULL, 0);
    /* A string id comes back as it was sent. */
    th_send_raw(c, string_id, sizeof(string_id) - 1);
    resp = th_read_message(c);
    assert_string_equal(th_str(resp, "id"), "abc");
    assert_int_equal(th_int(json_object_get(resp, "error"), "code"), TETHER_RPC_METHOD_NOT_FOUND);
    tether_client_close(c);
}

static void test_wrong_param_types(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "kill", json_pack("{s:[i]}", "signal", 9), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "kill", json_pack("{s:s}", "signal", "SIGNOPE"), TETHER_RPC_INVALID_PARAMS,
                 NULL, 0);
    th_call_fail(c, "kill", json_pack("{s:i,s:s}", "signal", 9, "all", "yes"),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "create", json_pack("{s:s}", "terminal", "no"), TETHER_RPC_INVALID_PARAMS, NULL,
                 0);
    th_call_fail(c, "create", json_pack("{s:s}", "runtime_args", "--debug"),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "create", json_pack("{s:i}", "log", 1), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "subscribe", json_pack("{s:s}", "since", "1"), TETHER_RPC_INVALID_PARAMS, NULL,
                 0);
    th_call_fail(c, "subscribe", json_pack("{s:i}", "since", -1), TETHER_RPC_INVALID_PARAMS, NULL,
                 0);
    th_call_fail(c, "delete", json_pack("{s:i}", "force", 1), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "shutdown", json_pack("{s:s}", "force", "yes"), TETHER_RPC_INVALID_PARAMS, NULL,
                 0);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"state\",\"params\":[1]}",
               TETHER_RPC_INVALID_PARAMS, 3);
    /* Nothing of the above created a container or stopped the shim. */
    still_serving(c);
    tether_client_close(c);
}

static void test_unknown_param(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    char msg[TETHER_ERROR_MSG_MAX];

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "wait", json_pack("{s:b}", "bogus", 1), TETHER_RPC_INVALID_PARAMS, msg,
                 sizeof(msg));
    assert_non_null(strstr(msg, "bogus"));
    th_call_fail(c, "create", json_pack("{s:b}", "tty", 1), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "kill", json_pack("{s:i,s:i}", "signal", 9, "pid", 1),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "version", json_pack("{s:i}", "x", 1), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "start", json_pack("{s:i}", "x", 1), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    still_serving(c);
    tether_client_close(c);
}

static void test_missing_signal(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *st = NULL;
    char msg[TETHER_ERROR_MSG_MAX];

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    th_call_fail(c, "kill", json_object(), TETHER_RPC_INVALID_PARAMS, msg, sizeof(msg));
    assert_non_null(strstr(msg, "signal"));
    th_call_fail(c, "kill", NULL, TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "kill", json_pack("{s:b}", "all", 1), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    tether_client_close(c);
}

static void test_notification_unanswered(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    struct tether_error err = {0};
    json_auto_t *msg = NULL;
    static const char notes[] = "{\"jsonrpc\":\"2.0\",\"method\":\"state\"}\n"
                                "{\"jsonrpc\":\"2.0\",\"method\":\"no-such-method\"}\n";
    int64_t id;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    th_send_raw(c, notes, sizeof(notes) - 1);
    id = tether_client_send(c, "state", NULL, &err);
    assert_true(id > 0);
    /* The first thing to come back is the answer to the request with an id. */
    msg = th_read_message(c);
    th_assert_error(msg, TETHER_RPC_NOT_FOUND, id);
    tether_client_close(c);
}

/* A pending wait does not hold up later calls on the same connection. */
static void test_out_of_order(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c, *ctl;
    struct tether_error err = {0};
    json_auto_t *first = NULL, *waited = NULL;
    int64_t wait_id, state_id;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    ctl = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    wait_id = tether_client_send(c, "wait", NULL, &err);
    state_id = tether_client_send(c, "state", NULL, &err);
    assert_true(wait_id > 0 && state_id > 0);
    first = th_read_message(c);
    assert_int_equal(th_int(first, "id"), state_id);
    assert_string_equal(th_str(json_object_get(first, "result"), "status"), "running");
    json_decref(th_call_ok(ctl, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    waited = th_read_message(c);
    assert_int_equal(th_int(waited, "id"), wait_id);
    assert_int_equal(th_int(json_object_get(waited, "result"), "exit_status"), 137);
    tether_client_close(ctl);
    tether_client_close(c);
}

static void test_oversized_line(void **state)
{
    struct th_fixture *f = *state;
    const struct timeval send_timeout = {.tv_sec = TH_CALL_MS / 1000};
    struct tether_client *big, *other, *fresh;
    struct tether_error err = {0};
    cleanup_free char *line = xmalloc(BIG_LINE + 1);
    json_auto_t *msg = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    other = th_shim_connect(&f->shim);
    json_decref(th_call_ok(other, "subscribe", NULL));
    big = th_shim_connect(&f->shim);
    memset(line, 'x', BIG_LINE);
    line[BIG_LINE] = '\n';
    /* A shim that stopped reading must fail the test, not hang it. */
    if (setsockopt(tether_client_fd(big), SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
                   sizeof(send_timeout)) < 0)
        fail_msg("SO_SNDTIMEO: %s", strerror(errno));
    /* The shim may close before it has read everything: the send can fail half-way. */
    tether_client_send_raw(big, line, BIG_LINE + 1, &err);
    msg = th_read_message(big);
    th_assert_error(msg, TETHER_RPC_TOO_LARGE, TH_ID_NULL);
    json_decref(msg);
    /* ... and then that connection is closed. */
    msg = tether_client_read_message(big, TH_CALL_MS, &err);
    assert_null(msg);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    tether_client_close(big);

    assert_true(th_pid_alive(f->shim.pid));
    still_serving(other);
    fresh = th_shim_connect(&f->shim);
    still_serving(fresh);
    /* The subscriber still gets events. */
    json_decref(th_call_ok(fresh, "create", NULL));
    msg = th_wait_event(other, "create");
    tether_client_close(fresh);
    tether_client_close(other);
}

/* --max-message lowers the bound for every connection. */
static void test_max_message_option(void **state)
{
    static const char *const extra[] = {"--max-message", "4096", NULL};
    struct th_fixture *f = *state;
    struct tether_error err = {0};
    struct tether_client *c, *other;
    cleanup_free char *line = xmalloc(8192);
    json_auto_t *msg = NULL;

    th_require_runtime(&f->env, f->runtime);
    th_make_bundle(&f->env, "bundle", argv_sleep, f->bundle, sizeof(f->bundle));
    th_shim_unique_id("it-shim", f->id, sizeof(f->id));
    if (th_shim_try_launch(&f->shim, &f->env, f->runtime, f->id, f->bundle, extra, &err) < 0)
        fail_msg("launch with --max-message: %s", err.msg);
    other = th_shim_connect(&f->shim);
    c = th_shim_connect(&f->shim);
    /* 2000 bytes: well under the bound, answered. */
    snprintf(line, 8192,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\",\"params\":{\"p\":\"%0*d\"}}\n",
             1900, 0);
    th_send_raw(c, line, strlen(line));
    msg = th_read_message(c);
    th_assert_error(msg, TETHER_RPC_INVALID_PARAMS, 1);
    json_decref(msg);
    /* 6000 bytes: over it. */
    memset(line, 'y', 6000);
    line[6000] = '\n';
    th_send_raw(c, line, 6001);
    msg = th_read_message(c);
    th_assert_error(msg, TETHER_RPC_TOO_LARGE, TH_ID_NULL);
    json_decref(msg);
    msg = tether_client_read_message(c, TH_CALL_MS, &err);
    assert_null(msg);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    tether_client_close(c);
    still_serving(other);
    tether_client_close(other);
}

/* A long line under the limit is read and answered like any other. */
static void test_large_line_under_limit(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    cleanup_free char *pad = xmalloc(LARGE_LINE + 1);
    cleanup_free char *line = NULL;
    json_auto_t *msg = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    memset(pad, 'p', LARGE_LINE);
    pad[LARGE_LINE] = '\0';
    line = xasprintf(
        "{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":\"state\",\"params\":{\"pad\":\"%s\"}}\n", pad);
    th_send_raw(c, line, strlen(line));
    msg = th_read_message(c);
    th_assert_error(msg, TETHER_RPC_INVALID_PARAMS, 11);
    still_serving(c);
    tether_client_close(c);
}

static void test_client_closes_mid_request(void **state)
{
    static const char half[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"meth";
    struct th_fixture *f = *state;
    struct tether_client *c, *ctl;
    struct tether_error err = {0};
    json_auto_t *st = NULL, *res = NULL;
    int i;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    ctl = th_shim_connect(&f->shim);
    for (i = 0; i < 3; i++) {
        c = th_shim_connect(&f->shim);
        th_send_raw(c, half, sizeof(half) - 1);
        tether_client_close(c);
    }
    still_serving(ctl);

    json_decref(th_call_ok(ctl, "create", NULL));
    json_decref(th_call_ok(ctl, "start", NULL));
    /* Whole requests whose answers nobody reads: a wait left pending, a version and a
     * pids that are answered into a closed socket. */
    c = th_shim_connect(&f->shim);
    assert_true(tether_client_send(c, "wait", NULL, &err) > 0);
    assert_true(tether_client_send(c, "version", NULL, &err) > 0);
    assert_true(tether_client_send(c, "pids", NULL, &err) > 0);
    th_send_raw(c, half, sizeof(half) - 1);
    tether_client_close(c);

    st = th_call_ok(ctl, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    json_decref(th_call_ok(ctl, "version", NULL));
    json_decref(th_call_ok(ctl, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    res = th_call_ok(ctl, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 137);
    assert_true(th_pid_alive(f->shim.pid));
    tether_client_close(ctl);
}

static void test_many_clients(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c[MANY_CLIENT];
    int64_t ids[MANY_CLIENT];
    struct tether_error err = {0};
    int i;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    for (i = 0; i < MANY_CLIENT; i++)
        c[i] = th_shim_connect(&f->shim);
    for (i = 0; i < MANY_CLIENT; i++) {
        ids[i] = tether_client_send(c[i], "state", NULL, &err);
        assert_true(ids[i] > 0);
    }
    for (i = MANY_CLIENT - 1; i >= 0; i--) {
        json_auto_t *resp = th_response(c[i], ids[i]);
        th_assert_error(resp, TETHER_RPC_NOT_FOUND, ids[i]);
        tether_client_close(c[i]);
    }
}

static void test_missing_executable(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    char msg[TETHER_ERROR_MSG_MAX];
    json_auto_t *res = NULL;
    int round;

    th_fixture_start(f, argv_missing, NULL, NULL);
    c = th_shim_connect(&f->shim);
    for (round = 0; round < 2; round++) {
        th_call_fail(c, "create", NULL, TETHER_RPC_RUNTIME, msg, sizeof(msg));
        if (strcmp(f->runtime, "runc") == 0)
            assert_non_null(strstr(msg, "executable file not found in $PATH"));
        else
            assert_non_null(strstr(msg, "not found in $PATH"));
        /* No container is left half-made. */
        th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
        th_call_fail(c, "start", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    }
    res = th_call_ok(c, "version", NULL);
    assert_int_equal(th_int(res, "protocol"), 1);
    json_decref(th_call_ok(c, "shutdown", NULL));
    tether_client_close(c);
    assert_true(th_wait_pid_dead(f->shim.pid, TH_GONE_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_RUNTIME_TEST(test_parse_error, "runc"),
        TH_RUNTIME_TEST(test_invalid_request, "runc"),
        TH_RUNTIME_TEST(test_unknown_method, "runc"),
        TH_RUNTIME_TEST(test_wrong_param_types, "runc"),
        TH_RUNTIME_TEST(test_unknown_param, "runc"),
        TH_BOTH_RUNTIMES(test_missing_signal),
        TH_RUNTIME_TEST(test_notification_unanswered, "runc"),
        TH_BOTH_RUNTIMES(test_out_of_order),
        TH_RUNTIME_TEST(test_oversized_line, "runc"),
        TH_RUNTIME_TEST(test_large_line_under_limit, "runc"),
        TH_RUNTIME_TEST(test_max_message_option, "runc"),
        TH_BOTH_RUNTIMES(test_client_closes_mid_request),
        TH_RUNTIME_TEST(test_many_clients, "runc"),
        TH_BOTH_RUNTIMES(test_missing_executable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
