/* Unit tests of the client library against a real UNIX socket served by the test itself
 * (between client calls) or by a forked writer, and of the shim launcher against small
 * shell scripts standing in for tether-shim. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>

#include <cmocka.h>

#include <tether/client.h>
#include <tether/util.h>

struct fx {
    char dir[64];
    char sock[PATH_MAX];
    int listen_fd;
    int srv; /* the server's end of the client's connection */
    struct tether_client *c;
};

static int listen_at(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_true(strlen(path) < sizeof(addr.sun_path));
    strcpy(addr.sun_path, path);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(fd, 8), 0);
    return fd;
}

static int accept_one(int listen_fd)
{
    int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

    assert_true(fd >= 0);
    return fd;
}

static int setup(void **state)
{
    struct fx *fx = xzalloc(sizeof(*fx));
    struct tether_error err = {0};

    snprintf(fx->dir, sizeof(fx->dir), "/tmp/tether-client-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->sock, sizeof(fx->sock), "%s/shim.sock", fx->dir);
    fx->listen_fd = listen_at(fx->sock);
    fx->c = tether_client_connect(fx->sock, &err);
    assert_non_null(fx->c);
    fx->srv = accept_one(fx->listen_fd);
    *state = fx;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fx *fx = *state;

    tether_client_close(fx->c);
    if (fx->srv >= 0)
        close(fx->srv);
    close(fx->listen_fd);
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

static void srv_write(struct fx *fx, const char *s)
{
    assert_int_equal(tether_write_all(fx->srv, s, strlen(s), NULL), 0);
}

/* Reads one line the client sent, failing after two seconds. Caller frees. */
static char *srv_read_line(struct fx *fx)
{
    char *buf = xzalloc(65536);
    size_t len = 0;

    while (len == 0 || buf[len - 1] != '\n') {
        struct pollfd pfd = {.fd = fx->srv, .events = POLLIN};
        ssize_t n;
        assert_int_equal(poll(&pfd, 1, 2000), 1);
        n = read(fx->srv, buf + len, 1);
        assert_int_equal(n, 1);
        len++;
        assert_true(len < 65535);
    }
    return buf;
}

static int64_t elapsed_ms(const struct timespec *since)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

static json_int_t int_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static json_int_t event_seq(json_t *notification)
{
    json_t *params = json_object_get(notification, "params");

    assert_string_equal(json_string_value(json_object_get(notification, "method")), "event");
    return int_field(params, "seq");
}

/* Requests are one compact line each, with ids counting up from 1 and params borrowed. */
static void test_request_framing(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    json_auto_t *params = json_pack("{s:s, s:s}", "signal", "TERM", "text", "two\nlines");
    cleanup_free char *first = NULL;
    cleanup_free char *second = NULL;
    json_auto_t *req1 = NULL;
    json_auto_t *req2 = NULL;

    assert_int_equal(tether_client_send(fx->c, "version", NULL, &err), 1);
    assert_int_equal(tether_client_send(fx->c, "kill", params, &err), 2);
    assert_int_equal(params->refcount, 1);

    first = srv_read_line(fx);
    second = srv_read_line(fx);
    assert_true(strchr(first, '\n') == first + strlen(first) - 1);
    assert_true(strchr(second, '\n') == second + strlen(second) - 1);
    req1 = json_loads(first, 0, NULL);
    req2 = json_loads(second, 0, NULL);
    assert_non_null(req1);
    assert_non_null(req2);
    assert_string_equal(json_string_value(json_object_get(req1, "jsonrpc")), "2.0");
    assert_int_equal(int_field(req1, "id"), 1);
    assert_string_equal(json_string_value(json_object_get(req1, "method")), "version");
    assert_null(json_object_get(req1, "params"));
    assert_int_equal(int_field(req2, "id"), 2);
    assert_string_equal(json_string_value(json_object_get(req2, "method")), "kill");
    assert_true(json_equal(json_object_get(req2, "params"), params));
    assert_null(strchr(second, ' '));
}

static void test_send_raw(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    cleanup_free char *line = NULL;

    assert_int_equal(tether_client_send_raw(fx->c, "not json\n", 9, &err), 0);
    line = srv_read_line(fx);
    assert_string_equal(line, "not json\n");
}

/* Several messages (and a blank line) arriving in one read come out one by one. */
static void test_several_messages_in_one_read(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};

    srv_write(fx, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n"
                  "\n"
                  "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":1}}\r\n"
                  "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"pid\":7}}\n");
    for (int i = 0; i < 3; i++) {
        json_auto_t *msg = tether_client_read_message(fx->c, 1000, &err);
        assert_non_null(msg);
        if (i == 1)
            assert_int_equal(event_seq(msg), 1);
        else
            assert_int_equal(int_field(msg, "id"), i == 0 ? 1 : 2);
    }
    assert_null(tether_client_read_message(fx->c, 0, &err));
    assert_int_equal(err.kind, TETHER_ERR_TIMEOUT);
}

/* A message cut in two waits for its second half. */
static void test_message_split_across_reads(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    json_auto_t *msg = NULL;

    srv_write(fx, "{\"jsonrpc\":\"2.0\",\"id\":1,\"res");
    assert_null(tether_client_read_message(fx->c, 50, &err));
    assert_int_equal(err.kind, TETHER_ERR_TIMEOUT);
    srv_write(fx, "ult\":{\"pid\":42}}\n{\"jsonrpc\":");
    msg = tether_client_read_message(fx->c, 1000, &err);
    assert_non_null(msg);
    assert_int_equal(int_field(json_object_get(msg, "result"), "pid"), 42);
    assert_null(tether_client_read_message(fx->c, 20, &err));
    assert_int_equal(err.kind, TETHER_ERR_TIMEOUT);
}

/* A writer dribbling one byte at a time: the blocking read assembles the whole line. */
static void test_message_byte_by_byte(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    const char *text = "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":9}}\n";
    json_auto_t *msg = NULL;
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        for (const char *p = text; *p != '\0'; p++) {
            if (write(fx->srv, p, 1) != 1)
                _exit(1);
            usleep(500);
        }
        _exit(0);
    }
    msg = tether_client_read_message(fx->c, 5000, &err);
    assert_non_null(msg);
    assert_int_equal(event_seq(msg), 9);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, 0);
}

/* Notifications read while waiting for a response are handed out later, in order. */
static void test_notifications_queued_in_order(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    json_auto_t *resp = NULL;
    int64_t id;

    id = tether_client_send(fx->c, "subscribe", NULL, &err);
    assert_int_equal(id, 1);
    srv_write(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":1}}\n"
                  "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":2}}\n"
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"seq\":2}}\n"
                  "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":3}}\n");
    resp = tether_client_wait_response(fx->c, id, 1000, &err);
    assert_non_null(resp);
    assert_int_equal(int_field(json_object_get(resp, "result"), "seq"), 2);
    for (json_int_t seq = 1; seq <= 3; seq++) {
        json_auto_t *n = tether_client_next_notification(fx->c, 1000, &err);
        assert_non_null(n);
        assert_int_equal(event_seq(n), seq);
    }
    assert_null(tether_client_next_notification(fx->c, 0, &err));
    assert_int_equal(err.kind, TETHER_ERR_TIMEOUT);
}

/* Responses may come out of order: one read while awaiting another id is kept for later,
 * and a response read while awaiting a notification is kept too. */
static void test_responses_out_of_order(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    json_auto_t *r1 = NULL;
    json_auto_t *r2 = NULL;
    json_auto_t *r3 = NULL;
    json_auto_t *n = NULL;

    assert_int_equal(tether_client_send(fx->c, "wait", NULL, &err), 1);
    assert_int_equal(tether_client_send(fx->c, "state", NULL, &err), 2);
    assert_int_equal(tether_client_send(fx->c, "pids", NULL, &err), 3);
    srv_write(fx, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"status\":\"running\"}}\n"
                  "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"pids\":[]}}\n"
                  "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":5}}\n"
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"exit_status\":0}}\n");
    r2 = tether_client_wait_response(fx->c, 2, 1000, &err);
    assert_non_null(r2);
    assert_int_equal(int_field(r2, "id"), 2);
    n = tether_client_next_notification(fx->c, 1000, &err);
    assert_non_null(n);
    assert_int_equal(event_seq(n), 5);
    r1 = tether_client_wait_response(fx->c, 1, 0, &err);
    assert_non_null(r1);
    assert_int_equal(int_field(json_object_get(r1, "result"), "exit_status"), 0);
    r3 = tether_client_wait_response(fx->c, 3, 0, &err);
    assert_non_null(r3);
    assert_int_equal(int_field(r3, "id"), 3);
}

static void test_call_result(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    json_auto_t *result = NULL;
    json_auto_t *null_result = NULL;
    cleanup_free char *line = NULL;
    int code = 99;

    srv_write(fx, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"pid\":42}}\n"
                  "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":null}\n"
                  "{\"jsonrpc\":\"2.0\",\"id\":3}\n");
    result = tether_client_call(fx->c, "start", NULL, 1000, &code, &err);
    assert_non_null(result);
    assert_int_equal(code, 0);
    assert_int_equal(int_field(result, "pid"), 42);
    line = srv_read_line(fx);
    assert_non_null(strstr(line, "\"method\":\"start\""));

    null_result = tether_client_call(fx->c, "shutdown", NULL, 1000, NULL, &err);
    assert_non_null(null_result);
    assert_true(json_is_null(null_result));

    assert_null(tether_client_call(fx->c, "state", NULL, 1000, &code, &err));
    assert_int_equal(err.kind, TETHER_ERR_INTERNAL);
    assert_non_null(strstr(err.msg, "without result"));
}

/* Every JSON-RPC error code of the protocol maps onto its error kind; the message and the
 * code reach the caller as sent. */
static void test_error_codes_mapped(void **state)
{
    static const struct {
        int code;
        enum tether_error_kind kind;
    } cases[] = {
        {TETHER_RPC_NOT_FOUND, TETHER_ERR_NOT_FOUND},
        {TETHER_RPC_INVALID_STATE, TETHER_ERR_STATE},
        {TETHER_RPC_RUNTIME, TETHER_ERR_RUNTIME},
        {TETHER_RPC_EXISTS, TETHER_ERR_EXISTS},
        {TETHER_RPC_TOO_LARGE, TETHER_ERR_TOO_LARGE},
        {TETHER_RPC_INVALID_PARAMS, TETHER_ERR_INVALID},
        {TETHER_RPC_INVALID_REQUEST, TETHER_ERR_INVALID},
        {TETHER_RPC_PARSE_ERROR, TETHER_ERR_INVALID},
        {TETHER_RPC_METHOD_NOT_FOUND, TETHER_ERR_INVALID},
        {TETHER_RPC_INTERNAL, TETHER_ERR_INTERNAL},
        {-31999, TETHER_ERR_INTERNAL},
    };
    struct fx *fx = *state;

    for (size_t i = 0; i < TETHER_ARRAY_SIZE(cases); i++) {
        struct tether_error err = {0};
        cleanup_free char *reply = xasprintf("{\"jsonrpc\":\"2.0\",\"id\":%zu,\"error\":{\"code\":%"
                                             "d,\"message\":\"failure %zu\"}}\n",
                                             i + 1, cases[i].code, i);
        cleanup_free char *expect = xasprintf("failure %zu", i);
        int code = 0;

        srv_write(fx, reply);
        assert_null(tether_client_call(fx->c, "start", NULL, 1000, &code, &err));
        assert_int_equal(code, cases[i].code);
        assert_int_equal(err.kind, cases[i].kind);
        assert_string_equal(err.msg, expect);
    }
}

static void test_timeout(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    struct timespec t0;
    int64_t ms;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(tether_client_call(fx->c, "wait", NULL, 150, NULL, &err));
    ms = elapsed_ms(&t0);
    assert_int_equal(err.kind, TETHER_ERR_TIMEOUT);
    assert_true(ms >= 140);
    assert_true(ms < 2000);

    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_null(tether_client_next_notification(fx->c, 0, &err));
    assert_int_equal(err.kind, TETHER_ERR_TIMEOUT);
    assert_true(elapsed_ms(&t0) < 100);

    /* The late response still arrives and is matched afterwards. */
    srv_write(fx, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"exit_status\":3}}\n");
    json_auto_t *late = tether_client_wait_response(fx->c, 1, 1000, &err);
    assert_non_null(late);
}

static void test_eof(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    json_auto_t *msg = NULL;

    srv_write(fx, "{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":1}}\n");
    close(fx->srv);
    fx->srv = -1;
    msg = tether_client_read_message(fx->c, 1000, &err);
    assert_non_null(msg);
    assert_null(tether_client_read_message(fx->c, 1000, &err));
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "connection closed");
    /* EOF sticks, and a call on a closed connection fails the same way. */
    assert_null(tether_client_call(fx->c, "state", NULL, 1000, NULL, &err));
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
}

static void test_eof_mid_message(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};

    srv_write(fx, "{\"jsonrpc\":\"2.0\",\"id\":1");
    close(fx->srv);
    fx->srv = -1;
    assert_null(tether_client_wait_response(fx->c, 1, 1000, &err));
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "middle of a message"));
}

static void test_invalid_json_skipped(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    json_auto_t *msg = NULL;

    srv_write(fx, "{\"jsonrpc\":\n[1,2]\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n");
    assert_null(tether_client_read_message(fx->c, 1000, &err));
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_non_null(strstr(err.msg, "invalid JSON"));
    assert_null(tether_client_read_message(fx->c, 1000, &err));
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_non_null(strstr(err.msg, "not an object"));
    msg = tether_client_read_message(fx->c, 1000, &err);
    assert_non_null(msg);
    assert_int_equal(int_field(msg, "id"), 1);
}

#define MAX_LINE (16u << 20) /* the client's bound */

/* A forked writer sends `len` bytes of filler, a newline and a valid message; when pause_at
 * is non-zero it stops for a moment after that many bytes, so that the reader has taken
 * them in before the rest arrives. */
static pid_t write_long_line(int fd, size_t len, size_t pause_at)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        static const char tail[] =
            "\n{\"jsonrpc\":\"2.0\",\"method\":\"event\",\"params\":{\"seq\":4}}\n";
        char *chunk = xmalloc(1 << 20);
        size_t sent = 0;
        memset(chunk, 'x', 1 << 20);
        while (sent < len) {
            size_t n = len - sent < (1u << 20) ? len - sent : (1u << 20);
            if (pause_at > sent && pause_at - sent < n)
                n = pause_at - sent;
            if (tether_write_all(fd, chunk, n, NULL) < 0)
                _exit(1);
            sent += n;
            if (sent == pause_at)
                usleep(300 * 1000);
        }
        _exit(tether_write_all(fd, tail, strlen(tail), NULL) < 0 ? 1 : 0);
    }
    return pid;
}

/* Reads the filler line of write_long_line(), expecting the error kind it gives, then the
 * event after it. */
static void expect_long_line(struct fx *fx, size_t len, size_t pause_at,
                             enum tether_error_kind kind)
{
    struct tether_error err = {0};
    json_auto_t *msg = NULL;
    int status;
    pid_t pid = write_long_line(fx->srv, len, pause_at);

    assert_null(tether_client_read_message(fx->c, 10000, &err));
    assert_int_equal(err.kind, kind);
    msg = tether_client_read_message(fx->c, 10000, &err);
    assert_non_null(msg);
    assert_int_equal(event_seq(msg), 4);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, 0);
}

/* A line over the 16 MiB bound is refused without being held in memory, and the connection
 * carries on with the next line. */
static void test_oversize_line(void **state)
{
    expect_long_line(*state, (size_t)17 << 20, 0, TETHER_ERR_TOO_LARGE);
}

/* Just over the bound, with the newline arriving together with the last bytes. */
static void test_oversize_line_complete_in_buffer(void **state)
{
    expect_long_line(*state, MAX_LINE + 10, MAX_LINE, TETHER_ERR_TOO_LARGE);
}

/* A line of exactly the bound is taken as one line (the filler is not JSON, so it gives
 * INVALID rather than TOO_LARGE). */
static void test_line_at_bound(void **state)
{
    expect_long_line(*state, MAX_LINE, MAX_LINE, TETHER_ERR_INVALID);
}

static void test_connect_errors(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    cleanup_free char *missing = xasprintf("%s/missing.sock", fx->dir);
    cleanup_free char *plain = xasprintf("%s/plain", fx->dir);
    cleanup_close int fd = open(plain, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

    assert_true(fd >= 0);
    assert_null(tether_client_connect(missing, &err));
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, missing));
    assert_null(tether_client_connect(plain, &err));
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_null(tether_client_connect("", &err));
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
}

/* A socket path longer than sun_path is still reachable. */
static void test_long_socket_path(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    cleanup_free char *dir = xasprintf("%s/%0100d", fx->dir, 0);
    cleanup_free char *path = xasprintf("%s/shim.sock", dir);
    cleanup_free char *short_path = NULL;
    cleanup_close int dfd = -1;
    struct tether_client *c;
    int lfd, sfd;

    assert_int_equal(mkdir(dir, 0700), 0);
    assert_true(strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path));
    dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    short_path = xasprintf("/proc/self/fd/%d/shim.sock", dfd);
    lfd = listen_at(short_path);

    c = tether_client_connect(path, &err);
    assert_non_null(c);
    sfd = accept_one(lfd);
    assert_int_equal(tether_client_send(c, "version", NULL, &err), 1);
    assert_int_equal(
        tether_write_all(sfd, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n", 37, NULL), 0);
    json_auto_t *resp = tether_client_wait_response(c, 1, 1000, &err);
    assert_non_null(resp);
    tether_client_close(c);
    close(sfd);
    close(lfd);
}

static void test_socket_path(void **state)
{
    cleanup_free char *p = tether_client_socket_path("/run/tether", "web-1");

    (void)state;
    assert_string_equal(p, "/run/tether/web-1/shim.sock");
}

/* Writes an executable script into the fixture's directory; returns its path. */
static char *write_script(struct fx *fx, const char *name, const char *body)
{
    char *path = xasprintf("%s/%s", fx->dir, name);
    cleanup_free char *text = xasprintf("#!/bin/sh\n%s", body);

    assert_int_equal(tether_write_file_atomic(path, text, strlen(text), 0755, NULL), 0);
    return path;
}

static void test_launch_parses_json_line(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    struct tether_shim_info info = {0};
    cleanup_free char *shim =
        write_script(fx, "shim-ok",
                     "printf '{\"id\":\"%s\",\"pid\":%d,\"socket\":\"%s\"}\\n' \"$2\" $$ \"$*\"\n");
    const char *args[] = {"--id", "web-1", "--bundle", "/b", NULL};

    assert_int_equal(tether_client_launch_shim(shim, args, &info, &err), 0);
    assert_string_equal(info.id, "web-1");
    assert_true(info.pid > 0);
    assert_string_equal(info.socket, "--id web-1 --bundle /b");
}

static void test_launch_failure_reason(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    struct tether_shim_info info = {0};
    cleanup_free char *exists =
        write_script(fx, "shim-exists",
                     "echo 'tether-shim: warning: runtime is old' >&2\n"
                     "echo 'tether-shim: container web-1 already exists' >&2\nexit 1\n");
    cleanup_free char *bad = write_script(
        fx, "shim-bad", "echo 'tether-shim: invalid id \"../x\"' >&2\necho '{}'\nexit 2\n");
    cleanup_free char *silent = write_script(fx, "shim-silent", "exit 3\n");
    cleanup_free char *killed = write_script(fx, "shim-killed", "kill -KILL $$\n");
    const char *args[] = {"--id", "web-1", NULL};

    assert_int_equal(tether_client_launch_shim(exists, args, &info, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_EXISTS);
    assert_string_equal(err.msg, "tether-shim: container web-1 already exists");

    assert_int_equal(tether_client_launch_shim(bad, args, &info, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INTERNAL);
    assert_string_equal(err.msg, "tether-shim: invalid id \"../x\"");

    assert_int_equal(tether_client_launch_shim(silent, args, &info, &err), -1);
    assert_non_null(strstr(err.msg, "exited with status 3"));

    assert_int_equal(tether_client_launch_shim(killed, args, &info, &err), -1);
    assert_non_null(strstr(err.msg, "killed by SIGKILL"));
}

static void test_launch_bad_output(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    struct tether_shim_info info = {0};
    cleanup_free char *garbage = write_script(fx, "shim-garbage", "echo ready\n");
    cleanup_free char *partial =
        write_script(fx, "shim-partial", "echo '{\"id\":\"a\",\"pid\":5}'\n");
    cleanup_free char *zero =
        write_script(fx, "shim-zero", "echo '{\"id\":\"a\",\"pid\":0,\"socket\":\"/s\"}'\n");
    cleanup_free char *missing = xasprintf("%s/no-such-shim", fx->dir);

    assert_int_equal(tether_client_launch_shim(garbage, NULL, &info, &err), -1);
    assert_non_null(strstr(err.msg, "unexpected output"));
    assert_int_equal(tether_client_launch_shim(partial, NULL, &info, &err), -1);
    assert_non_null(strstr(err.msg, "socket"));
    assert_int_equal(tether_client_launch_shim(zero, NULL, &info, &err), -1);
    assert_non_null(strstr(err.msg, "pid 0"));
    assert_int_equal(tether_client_launch_shim(missing, NULL, &info, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "exec"));
}

/* A daemon that keeps the launcher's stdout open does not hold up the launch: the
 * launcher's own exit ends it. */
static void test_launch_returns_when_launcher_exits(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    struct tether_shim_info info = {0};
    cleanup_free char *pidfile = xasprintf("%s/daemon.pid", fx->dir);
    cleanup_free char *body = xasprintf("sleep 5 &\necho $! > %s\n"
                                        "echo '{\"id\":\"a\",\"pid\":'$!',\"socket\":\"/s\"}'\n",
                                        pidfile);
    cleanup_free char *shim = write_script(fx, "shim-daemon", body);
    cleanup_free char *text = NULL;
    struct timespec t0;
    int rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = tether_client_launch_shim(shim, NULL, &info, &err);
    assert_true(elapsed_ms(&t0) < 3000);
    assert_int_equal(tether_read_file(pidfile, 64, &text, NULL, NULL), 0);
    kill(atoi(text), SIGKILL);
    assert_int_equal(rc, 0);
    assert_int_equal(info.pid, atoi(text));
}

/* The shim starts with no blocked or ignored signals, whatever its caller had. */
static void test_launch_resets_signals(void **state)
{
    struct fx *fx = *state;
    struct tether_error err = {0};
    struct tether_shim_info info = {0};
    cleanup_free char *shim = write_script(
        fx, "shim-signals",
        "blk=$(sed -n 's/^SigBlk:[[:space:]]*//p' /proc/$$/status)\n"
        "ign=$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status)\n"
        "echo \"{\\\"id\\\":\\\"$blk\\\",\\\"pid\\\":1,\\\"socket\\\":\\\"$ign\\\"}\"\n");
    sigset_t block, old;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_int;
    int rc;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &old);
    sigaction(SIGINT, &ign, &old_int);
    rc = tether_client_launch_shim(shim, NULL, &info, &err);
    sigprocmask(SIG_SETMASK, &old, NULL);
    sigaction(SIGINT, &old_int, NULL);
    assert_int_equal(rc, 0);
    assert_string_equal(info.id, "0000000000000000");
    assert_string_equal(info.socket, "0000000000000000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_request_framing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_messages_in_one_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_split_across_reads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_byte_by_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notifications_queued_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_responses_out_of_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_result, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_codes_mapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eof_mid_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_json_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_oversize_line_complete_in_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_line_at_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connect_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_socket_path, setup, teardown),
        cmocka_unit_test(test_socket_path),
        cmocka_unit_test_setup_teardown(test_launch_parses_json_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_launch_failure_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_launch_bad_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_launch_returns_when_launcher_exits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_launch_resets_signals, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
