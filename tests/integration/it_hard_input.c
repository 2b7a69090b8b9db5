/* Hostile and broken input against a real tether-shim: malformed JSON of every kind, a
 * wrong type for every parameter of every method, a batch, 10 MiB without a newline, a
 * request dribbled one byte at a time, and clients that connect and say nothing. Every bad
 * input gets the protocol's error; nothing changes the container; the shim and every
 * other client carry on. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

#define NESTING    100000
#define NO_NEWLINE (10u << 20)

static const char *const argv_sleep[] = {"sleep", "1000", NULL};

/* Sends len bytes and a newline, and checks the one answer it gets. */
static void raw_expect_n(struct tether_client *c, const char *line, size_t len, int code,
                         long long id)
{
    json_auto_t *msg = NULL;

    th_send_raw(c, line, len);
    th_send_raw(c, "\n", 1);
    msg = th_read_message(c);
    th_assert_error(msg, code, id);
}

static void raw_expect(struct tether_client *c, const char *line, int code, long long id)
{
    raw_expect_n(c, line, strlen(line), code, id);
}

#define RAW_EXPECT_LIT(c, lit, code, id) raw_expect_n((c), (lit), sizeof(lit) - 1, (code), (id))

/* No container was made by anything sent so far: state is "not found". */
static void still_no_container(struct tether_client *c)
{
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
}

static void test_malformed_json(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    cleanup_free char *deep = xmalloc(2 * NESTING + 128);
    size_t n, i;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);

    /* Invalid UTF-8: in a string, outside strings, overlong, a lone surrogate. */
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"st\xff\xfe\"}",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\xc0\xaf\"}", TETHER_RPC_PARSE_ERROR,
               TH_ID_NULL);
    raw_expect(c, "\x80\x81{}", TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\\udc00\"}", TETHER_RPC_PARSE_ERROR,
               TH_ID_NULL);

    /* NUL bytes: raw, and escaped where they would cut a C string short. */
    RAW_EXPECT_LIT(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sta\0te\"}",
                   TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    RAW_EXPECT_LIT(c, "\0\0\0\0", TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\\u0000shutdown\"}",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c,
               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"create\",\"params\":{\"log\":{\"path\":"
               "\"/tmp/a\\u0000b\"}}}",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);

    /* 100,000 '[': too deep to parse, and nothing breaks. Then 100,000 levels of objects
     * inside params, closed properly. */
    memset(deep, '[', NESTING);
    raw_expect_n(c, deep, NESTING, TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    n = (size_t)snprintf(deep, 128,
                         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\",\"params\":");
    for (i = 0; i < NESTING / 10; i++, n += 5)
        memcpy(deep + n, "{\"a\":", 5);
    deep[n++] = '1';
    memset(deep + n, '}', NESTING / 10 + 1);
    n += NESTING / 10 + 1;
    raw_expect_n(c, deep, n, TETHER_RPC_PARSE_ERROR, TH_ID_NULL);

    /* Numbers past every bound. */
    raw_expect(c,
               "{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"method\":\"state\"}",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":1e99999,\"method\":\"state\"}",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c,
               "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"subscribe\",\"params\":{\"since\":"
               "-99999999999999999999999}}",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c,
               "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resize\",\"params\":{\"width\":"
               "9223372036854775807,\"height\":1}}",
               TETHER_RPC_INVALID_PARAMS, 3);
    raw_expect(c,
               "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"stop\",\"params\":{\"timeout\":"
               "-9223372036854775808}}",
               TETHER_RPC_INVALID_PARAMS, 4);
    raw_expect(
        c, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"kill\",\"params\":{\"signal\":4294967305}}",
        TETHER_RPC_INVALID_PARAMS, 5);

    /* Duplicate keys: which one would count? Neither. */
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\",\"method\":\"create\"}",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);
    raw_expect(c,
               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"create\",\"params\":{\"init\":false,"
               "\"init\":true}}",
               TETHER_RPC_PARSE_ERROR, TH_ID_NULL);

    /* Batches are not supported, and none of their requests runs. */
    raw_expect(c,
               "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"create\"},"
               "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"start\"}]",
               TETHER_RPC_INVALID_REQUEST, TH_ID_NULL);
    raw_expect(c, "[]", TETHER_RPC_INVALID_REQUEST, TH_ID_NULL);
    raw_expect(c, "\"create\"", TETHER_RPC_INVALID_REQUEST, TH_ID_NULL);
    raw_expect(c, "null", TETHER_RPC_INVALID_REQUEST, TH_ID_NULL);

    /* Wrong types of the envelope itself. */
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":[\"create\"]}",
               TETHER_RPC_INVALID_REQUEST, 6);
    raw_expect(c, "{\"jsonrpc\":2,\"id\":7,\"method\":\"create\"}", TETHER_RPC_INVALID_REQUEST, 7);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"create\"}",
               TETHER_RPC_INVALID_REQUEST, TH_ID_NULL);
    raw_expect(c, "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"create\",\"params\":[true]}",
               TETHER_RPC_INVALID_PARAMS, 8);

    still_no_container(c);
    assert_true(th_pid_alive(f->shim.pid));
    tether_client_close(c);
}

/* ---- a wrong type for every parameter of every method ---- */

enum {
    K_NULL = 1u << 0,
    K_BOOL = 1u << 1,
    K_INT = 1u << 2,
    K_REAL = 1u << 3,
    K_STRING = 1u << 4,
    K_ARRAY = 1u << 5, /* the array tried is [1]: no parameter takes it */
    K_OBJECT = 1u << 6,
    K_ALL = (1u << 7) - 1,
};

struct param_case {
    const char *method;
    const char *base;    /* valid params the method requires besides this one, or NULL */
    const char *path;    /* the parameter, "a.b" inside an object */
    unsigned accepted;   /* kinds that pass the type check (never sent) */
    const char *mention; /* what the error names, when not the parameter itself */
};

static const struct param_case param_cases[] = {
    {"create", NULL, "terminal", K_BOOL, NULL},
    {"create", NULL, "stdin", K_BOOL, NULL},
    {"create", NULL, "log", K_OBJECT, NULL},
    {"create", "{\"log\":{}}", "log.path", K_STRING, NULL},
    {"create", "{\"log\":{}}", "log.format", K_STRING, NULL},
    {"create", "{\"log\":{}}", "log.max_size", K_INT, NULL},
    {"create", "{\"log\":{}}", "log.max_files", K_INT, NULL},
    {"create", NULL, "runtime_args", 0, NULL},
    {"create", NULL, "init", K_BOOL, NULL},
    {"create", NULL, "restart", K_OBJECT, NULL},
    {"create", "{\"restart\":{}}", "restart.policy", K_STRING, NULL},
    {"create", "{\"restart\":{}}", "restart.max_retries", K_INT, NULL},
    {"create", "{\"restart\":{}}", "restart.backoff_ms", K_INT, NULL},
    {"create", "{\"restart\":{}}", "restart.max_backoff_ms", K_INT, NULL},
    {"create", NULL, "seccomp_notify", K_OBJECT, NULL},
    {"create", "{\"seccomp_notify\":{\"syscalls\":[\"mkdir\"]}}", "seccomp_notify.policy", K_STRING,
     NULL},
    {"create", "{\"seccomp_notify\":{}}", "seccomp_notify.syscalls", 0, NULL},
    {"state", NULL, "exec_id", K_STRING, NULL},
    {"kill", "{\"signal\":9}", "signal", K_INT | K_STRING, NULL},
    {"kill", "{\"signal\":9}", "all", K_BOOL, NULL},
    {"kill", "{\"signal\":9}", "exec_id", K_STRING, NULL},
    {"wait", NULL, "exec_id", K_STRING, NULL},
    {"subscribe", NULL, "since", K_INT, NULL},
    {"delete", NULL, "force", K_BOOL, NULL},
    {"delete", NULL, "exec_id", K_STRING, NULL},
    {"shutdown", NULL, "force", K_BOOL, NULL},
    {"exec", "{\"exec_id\":\"e1\",\"process\":{\"args\":[\"true\"]}}", "exec_id", K_STRING, NULL},
    {"exec", "{\"exec_id\":\"e1\",\"process\":{\"args\":[\"true\"]}}", "process", K_OBJECT, NULL},
    {"exec", "{\"exec_id\":\"e1\",\"process\":{}}", "process.args", 0, "process.args"},
    {"exec", "{\"exec_id\":\"e1\",\"process\":{\"args\":[\"true\"]}}", "terminal", K_BOOL, NULL},
    {"exec", "{\"exec_id\":\"e1\",\"process\":{\"args\":[\"true\"]}}", "stdin", K_BOOL, NULL},
    {"exec", "{\"exec_id\":\"e1\",\"process\":{\"args\":[\"true\"]}}", "log", K_OBJECT, NULL},
    {"update", NULL, "resources", K_OBJECT, NULL},
    {"stats", NULL, "exec_id", 0, "per container"},
    {"attach", NULL, "exec_id", K_STRING, NULL},
    {"attach", NULL, "stdin", K_BOOL, NULL},
    {"input", "{\"data\":\"aGk=\"}", "exec_id", K_STRING, NULL},
    {"input", NULL, "data", K_STRING, NULL},
    {"close_stdin", NULL, "exec_id", K_STRING, NULL},
    {"resize", "{\"width\":80,\"height\":24}", "exec_id", K_STRING, NULL},
    {"resize", "{\"width\":80,\"height\":24}", "width", K_INT, NULL},
    {"resize", "{\"width\":80,\"height\":24}", "height", K_INT, NULL},
    {"reopen_log", NULL, "exec_id", K_STRING, NULL},
    {"stop", NULL, "timeout", K_INT, NULL},
    {"stop", NULL, "signal", K_INT | K_STRING, NULL},
};

static const char *const all_methods[] = {
    "version",   "create", "start",    "state",       "kill",   "wait",       "pids",
    "subscribe", "delete", "shutdown", "exec",        "pause",  "resume",     "update",
    "stats",     "attach", "input",    "close_stdin", "resize", "reopen_log", "stop",
};

static json_t *value_of_kind(unsigned kind)
{
    switch (kind) {
    case K_NULL:
        return json_null();
    case K_BOOL:
        return json_true();
    case K_INT:
        return json_integer(1);
    case K_REAL:
        return json_real(1.5);
    case K_STRING:
        return json_string("x");
    case K_ARRAY:
        return json_pack("[i]", 1);
    default:
        return json_object();
    }
}

/* base with value placed at path ("a.b": inside the object a). */
static json_t *params_with(const char *base, const char *path, json_t *value)
{
    json_t *params = base ? json_loads(base, 0, NULL) : json_object();
    const char *dot = strchr(path, '.');

    assert_non_null(params);
    if (dot == NULL) {
        json_object_set_new(params, path, value);
    } else {
        cleanup_free char *outer = xasprintf("%.*s", (int)(dot - path), path);
        json_t *obj = json_object_get(params, outer);
        assert_true(json_is_object(obj));
        json_object_set_new(obj, dot + 1, value);
    }
    return params;
}

/* Every case of the table, and an unknown parameter for every method: -32602 naming it. */
static void check_every_param(struct tether_client *c)
{
    size_t i;
    unsigned kind;
    int sent = 0;

    for (i = 0; i < TETHER_ARRAY_SIZE(param_cases); i++) {
        const struct param_case *pc = &param_cases[i];
        const char *dot = strrchr(pc->path, '.');
        const char *mention = pc->mention ? pc->mention : dot ? dot + 1 : pc->path;

        for (kind = 1; kind < K_ALL; kind <<= 1) {
            char msg[TETHER_ERROR_MSG_MAX];
            json_t *params;

            if (pc->accepted & kind)
                continue;
            params = params_with(pc->base, pc->path, value_of_kind(kind));
            th_call_fail(c, pc->method, params, TETHER_RPC_INVALID_PARAMS, msg, sizeof(msg));
            if (strstr(msg, mention) == NULL)
                fail_msg("%s %s (kind %#x): \"%s\" does not name %s", pc->method, pc->path, kind,
                         msg, mention);
            sent++;
        }
    }
    for (i = 0; i < TETHER_ARRAY_SIZE(all_methods); i++) {
        char msg[TETHER_ERROR_MSG_MAX];

        th_call_fail(c, all_methods[i], json_pack("{s:i}", "no_such_param", 1),
                     TETHER_RPC_INVALID_PARAMS, msg, sizeof(msg));
        assert_non_null(strstr(msg, "no_such_param"));
    }
    /* The table is what it claims: about five wrong kinds per parameter. */
    assert_true(sent > 200);
}

static void test_wrong_types_every_param(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c, *sub;
    json_auto_t *st = NULL, *ev = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    /* Before create: nothing is made. */
    check_every_param(c);
    still_no_container(c);

    /* With a running container: nothing is changed, nothing is published. */
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    check_every_param(c);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    sub = th_shim_connect(&f->shim);
    json_decref(th_call_ok(sub, "subscribe", json_pack("{s:i}", "since", 0)));
    ev = th_next_event(sub);
    assert_string_equal(th_str(ev, "topic"), "create");
    json_decref(ev);
    ev = th_next_event(sub);
    assert_string_equal(th_str(ev, "topic"), "start");
    th_assert_no_notification(sub);
    tether_client_close(sub);
    tether_client_close(c);
}

/* 10 MiB and no newline: -32005, that connection is closed, nobody else notices. */
static void test_ten_mib_without_newline(void **state)
{
    struct th_fixture *f = *state;
    const struct timeval send_timeout = {.tv_sec = TH_CALL_MS / 1000};
    struct tether_client *big, *sub, *other;
    struct tether_error err = {0};
    cleanup_free char *blob = xmalloc(NO_NEWLINE);
    json_auto_t *msg = NULL, *ev = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    sub = th_shim_connect(&f->shim);
    json_decref(th_call_ok(sub, "subscribe", NULL));
    other = th_shim_connect(&f->shim);
    big = th_shim_connect(&f->shim);
    memset(blob, '{', NO_NEWLINE);
    if (setsockopt(tether_client_fd(big), SOL_SOCKET, SO_SNDTIMEO, &send_timeout,
                   sizeof(send_timeout)) < 0)
        fail_msg("SO_SNDTIMEO: %s", strerror(errno));
    /* The shim stops reading at its bound: the send fails part way (EPIPE). */
    assert_int_equal(tether_client_send_raw(big, blob, NO_NEWLINE, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    msg = th_read_message(big);
    th_assert_error(msg, TETHER_RPC_TOO_LARGE, TH_ID_NULL);
    json_decref(msg);
    msg = tether_client_read_message(big, TH_CALL_MS, &err);
    assert_null(msg);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    tether_client_close(big);

    assert_true(th_pid_alive(f->shim.pid));
    json_decref(th_call_ok(other, "create", NULL));
    ev = th_wait_event(sub, "create");
    assert_true(th_int(ev, "pid") > 0);
    tether_client_close(other);
    tether_client_close(sub);
}

static void sleep_ms(long ms)
{
    const struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Sends line one byte at a time; nothing may come back before its last byte. */
static json_t *dribble(struct tether_client *c, const char *line)
{
    size_t i, len = strlen(line);

    for (i = 0; i < len; i++) {
        struct pollfd pfd = {.fd = tether_client_fd(c), .events = POLLIN};
        th_send_raw(c, line + i, 1);
        sleep_ms(1);
        if (i + 1 < len && poll(&pfd, 1, 0) != 0)
            fail_msg("the shim answered after %zu of %zu bytes", i + 1, len);
    }
    return th_read_message(c);
}

static void test_one_byte_writes(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *resp = NULL, *resp2 = NULL, *st = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    resp = dribble(c, "{\"jsonrpc\":\"2.0\",\"id\":41,\"method\":\"state\"}\n");
    th_assert_error(resp, TETHER_RPC_NOT_FOUND, 41);
    /* A request that does something, and its params, byte by byte. */
    resp2 = dribble(c, "{\"jsonrpc\":\"2.0\",\"id\":42,\"method\":\"create\","
                       "\"params\":{\"terminal\":false,\"runtime_args\":[]}}\n");
    assert_int_equal(th_int(resp2, "id"), 42);
    assert_true(th_int(json_object_get(resp2, "result"), "pid") > 0);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "created");
    tether_client_close(c);
}

/* Clients that connect and send nothing, or half a request, hold up nobody. */
static void test_silent_clients(void **state)
{
    static const char half[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sta";
    struct th_fixture *f = *state;
    struct tether_client *silent[8], *halfway, *c;
    json_auto_t *res = NULL;
    size_t i;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    for (i = 0; i < TETHER_ARRAY_SIZE(silent); i++)
        silent[i] = th_shim_connect(&f->shim);
    halfway = th_shim_connect(&f->shim);
    th_send_raw(halfway, half, sizeof(half) - 1);

    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "KILL")));
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 137);
    json_decref(th_call_ok(c, "delete", NULL));

    /* The silent ones got nothing and are still connected. */
    for (i = 0; i < TETHER_ARRAY_SIZE(silent); i++) {
        struct pollfd pfd = {.fd = tether_client_fd(silent[i]), .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 0), 0);
    }
    /* The half-sent request is finished late and answered. */
    th_send_raw(halfway, "te\"}\n", 5);
    json_decref(res);
    res = th_read_message(halfway);
    th_assert_error(res, TETHER_RPC_NOT_FOUND, 1);
    json_decref(th_call_ok(silent[0], "version", NULL));
    for (i = 0; i < TETHER_ARRAY_SIZE(silent); i++)
        tether_client_close(silent[i]);
    tether_client_close(halfway);
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_RUNTIME_TEST(test_malformed_json, "runc"),
        TH_RUNTIME_TEST(test_wrong_types_every_param, "runc"),
        TH_RUNTIME_TEST(test_ten_mib_without_newline, "runc"),
        TH_RUNTIME_TEST(test_one_byte_writes, "runc"),
        TH_RUNTIME_TEST(test_silent_clients, "runc"),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
