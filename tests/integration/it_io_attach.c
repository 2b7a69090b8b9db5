/* Container stdio through the tether-shim protocol with real containers: attach and its
 * output notifications, input and close_stdin, a terminal sized with resize, a client that
 * never reads next to one that does, and the refusals of bad I/O requests. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

#define LOG_READ_MAX (256u << 20)
/* The slow-client test: 480 blocks of 64 KiB = 30 MiB. */
#define BLOCK_SIZE   65536u
#define BLOCKS       480u
#define SLOW_TEST_MS 120000
/* The full-stdin test: 3 MiB, three times the pipe, in pieces of 100,000 bytes. */
#define FILL_TOTAL (3u << 20)
#define FILL_CHUNK 100000u

/* A byte buffer that grows. */
struct bytes {
    char *data;
    size_t len;
    size_t cap;
};

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void bytes_free(struct bytes *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static char *log_path(const struct th_fixture *f, const char *name)
{
    return xasprintf("%s/%s", f->env.dir, name);
}

static char *read_file(const char *path, size_t *len)
{
    struct tether_error err = {0};
    char *text = NULL;

    if (tether_read_file(path, LOG_READ_MAX, &text, len, &err) < 0)
        fail_msg("read %s: %s", path, err.msg);
    return text;
}

static void create_start(struct tether_client *c, json_t *params)
{
    json_auto_t *created = th_call_ok(c, "create", params);
    json_auto_t *started = NULL;

    assert_true(th_int(created, "pid") > 0);
    started = th_call_ok(c, "start", NULL);
}

static void wait_status(struct tether_client *c, int want)
{
    json_auto_t *res = th_call_ok(c, "wait", NULL);

    assert_int_equal(th_int(res, "exit_status"), want);
}

/* Appends the data of an "output" notification of stream to out; fails on a "dropped"
 * one. Returns whether note was an output notification. */
static bool take_output(json_t *note, const char *stream, struct bytes *out)
{
    const char *method = th_str(note, "method");
    json_t *params = json_object_get(note, "params");
    const char *b64;
    cleanup_free char *raw = NULL;
    ssize_t n;

    if (strcmp(method, "dropped") == 0)
        fail_msg("the shim dropped this client: %s", th_str(params, "reason"));
    if (strcmp(method, "output") != 0)
        return false;
    b64 = th_str(params, "data");
    raw = xmalloc(tether_base64_decoded_max(strlen(b64)));
    n = tether_base64_decode(b64, strlen(b64), raw);
    if (n < 0)
        fail_msg("output data is not base64");
    if (strcmp(th_str(params, "stream"), stream) == 0)
        bytes_add(out, raw, (size_t)n);
    return true;
}

/* Everything queued on c (or already sent to it) of stream's output: call after a wait
 * answered on c, since output reaches attached clients before the exit does. */
static void drain_output(struct tether_client *c, const char *stream, struct bytes *out)
{
    for (;;) {
        struct tether_error err = {0};
        json_auto_t *note = tether_client_next_notification(c, 0, &err);

        if (note == NULL) {
            if (err.kind != TETHER_ERR_TIMEOUT)
                fail_msg("reading notifications: %s", err.msg);
            return;
        }
        take_output(note, stream, out);
    }
}

static json_t *input_params(const void *data, size_t len)
{
    cleanup_free char *b64 = tether_base64_encode(data, len, NULL);

    return json_pack("{s:s}", "data", b64);
}

/* ---- input and close_stdin into cat ---- */

static const char *const argv_cat[] = {"cat", NULL};

static void test_input_cat(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *logged = NULL;
    struct tether_client *c;
    struct bytes sent = {0}, echoed = {0};
    json_auto_t *att = NULL;
    unsigned char binary[256];
    size_t i, len = 0;
    const struct {
        const void *data;
        size_t len;
    } pieces[] = {{"hello\n", 6}, {binary, sizeof(binary)}, {"no newline at the end", 21}};

    for (i = 0; i < sizeof(binary); i++)
        binary[i] = (unsigned char)i;
    th_fixture_start(f, argv_cat, NULL, NULL);
    path = log_path(f, "ctr.log");
    c = th_shim_connect(&f->shim);
    create_start(c,
                 json_pack("{s:b,s:{s:s,s:s}}", "stdin", 1, "log", "path", path, "format", "raw"));
    att = th_call_ok(c, "attach", NULL);
    for (i = 0; i < TETHER_ARRAY_SIZE(pieces); i++) {
        json_auto_t *res = th_call_ok(c, "input", input_params(pieces[i].data, pieces[i].len));

        assert_int_equal(th_int(res, "written"), pieces[i].len);
        bytes_add(&sent, pieces[i].data, pieces[i].len);
    }
    json_decref(th_call_ok(c, "close_stdin", NULL));
    /* cat sees EOF and exits 0. */
    wait_status(c, 0);
    th_call_fail(c, "input", input_params("late", 4), TETHER_RPC_INVALID_STATE, NULL, 0);
    drain_output(c, "stdout", &echoed);
    assert_int_equal(echoed.len, sent.len);
    assert_memory_equal(echoed.data, sent.data, sent.len);
    logged = read_file(path, &len);
    assert_int_equal(len, sent.len);
    assert_memory_equal(logged, sent.data, sent.len);
    bytes_free(&sent);
    bytes_free(&echoed);
    tether_client_close(c);
}

/* ---- input into a full stdin ---- */

/* Runs cat once the test creates /tmp/go in the rootfs; until then its stdin fills up. */
static const char *const argv_gated_cat[] = {
    "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exec cat", NULL};

static void open_gate(const struct th_fixture *f)
{
    cleanup_free char *path = xasprintf("%s/rootfs/tmp/go", f->bundle);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

    if (fd < 0)
        fail_msg("create %s: %s", path, strerror(errno));
    close(fd);
}

static void fill_pseudo_random(char *p, size_t n);
static long long now_ms(void);

/* Sends data[*off..*off+n) once; advances *off by what the shim took. Returns false when
 * stdin was full: a short "written", or -32002 with nothing taken. */
static bool input_once(struct tether_client *c, const char *data, size_t *off, size_t n)
{
    struct tether_error err = {0};
    json_auto_t *params = input_params(data + *off, n);
    json_auto_t *res = NULL;
    long long written;
    int code = 0;

    res = tether_client_call(c, "input", params, TH_CALL_MS, &code, &err);
    if (res == NULL) {
        if (code != TETHER_RPC_INVALID_STATE)
            fail_msg("input: error %d (%s), want a result or %d", code, err.msg,
                     TETHER_RPC_INVALID_STATE);
        return false;
    }
    written = th_int(res, "written");
    if (written < 0 || (size_t)written > n)
        fail_msg("input of %zu bytes answered written %lld", n, written);
    *off += (size_t)written;
    return (size_t)written == n;
}

/* The shim never waits on a stdin the container does not read, but tells the client how
 * much it took, so a client that resends the rest delivers every byte exactly once. */
static void test_input_full(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *data = NULL;
    cleanup_free char *logged = NULL;
    struct tether_client *c;
    long long deadline = now_ms() + SLOW_TEST_MS;
    size_t off = 0, len = 0;
    bool gate_open = false;

    th_fixture_start(f, argv_gated_cat, NULL, NULL);
    path = log_path(f, "ctr.log");
    data = xmalloc(FILL_TOTAL);
    fill_pseudo_random(data, FILL_TOTAL);
    c = th_shim_connect(&f->shim);
    create_start(c,
                 json_pack("{s:b,s:{s:s,s:s}}", "stdin", 1, "log", "path", path, "format", "raw"));
    while (off < FILL_TOTAL) {
        size_t n = FILL_TOTAL - off < FILL_CHUNK ? FILL_TOTAL - off : FILL_CHUNK;

        if (input_once(c, data, &off, n))
            continue;
        /* Full: from now on the container reads; retry until it has taken everything. */
        if (!gate_open)
            open_gate(f);
        gate_open = true;
        if (now_ms() > deadline)
            fail_msg("stdin still full after %d ms (%zu of %u bytes in)", SLOW_TEST_MS, off,
                     FILL_TOTAL);
        poll(NULL, 0, 10);
    }
    /* Three times the pipe's size: it must have been full at some point. */
    assert_true(gate_open);
    json_decref(th_call_ok(c, "close_stdin", NULL));
    wait_status(c, 0);
    logged = read_file(path, &len);
    if (len != FILL_TOTAL || memcmp(logged, data, FILL_TOTAL) != 0)
        fail_msg("cat echoed %zu bytes, want the %u sent%s", len, FILL_TOTAL,
                 len > FILL_TOTAL ? " (some bytes twice)" : "");
    tether_client_close(c);
}

/* ---- terminal ---- */

static const char *const argv_stty[] = {"sh", "-c", "read x; stty size", NULL};

static void set_terminal(json_t *config, void *data)
{
    (void)data;
    json_object_set_new(json_object_get(config, "process"), "terminal", json_true());
}

/* The container reads a line before it runs stty, so the size it prints is the one set
 * by resize, sent before that line. */
static void test_terminal_resize(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *logged = NULL;
    struct tether_client *c;
    struct bytes out = {0};
    json_auto_t *att = NULL, *in = NULL;
    size_t len = 0;

    th_fixture_start(f, argv_stty, set_terminal, NULL);
    path = log_path(f, "ctr.log");
    c = th_shim_connect(&f->shim);
    create_start(c, json_pack("{s:b,s:b,s:{s:s,s:s}}", "terminal", 1, "stdin", 1, "log", "path",
                              path, "format", "cri"));
    att = th_call_ok(c, "attach", NULL);
    json_decref(th_call_ok(c, "resize", json_pack("{s:i,s:i}", "width", 132, "height", 50)));
    in = th_call_ok(c, "input", input_params("go\n", 3));
    assert_int_equal(th_int(in, "written"), 3);
    wait_status(c, 0);
    /* One stream: everything arrives as stdout, with the terminal's "\r\n". */
    drain_output(c, "stdout", &out);
    if (strstr(out.data != NULL ? out.data : "", "50 132\r\n") == NULL)
        fail_msg("stty size printed %s, want 50 132", out.data != NULL ? out.data : "nothing");
    logged = read_file(path, &len);
    if (strstr(logged, " stdout F 50 132\r\n") == NULL)
        fail_msg("log holds %s, want a record of 50 132", logged);
    assert_null(strstr(logged, " stderr "));
    bytes_free(&out);
    tether_client_close(c);
}

/* ---- a client that never reads ---- */

static const char *const argv_paced[] = {
    "sh", "-c",
    "i=0; while [ $i -lt 480 ]; do dd if=/data bs=65536 skip=$i count=1 2>/dev/null || exit 1; "
    "i=$((i + 1)); done",
    NULL};

static void fill_pseudo_random(char *p, size_t n)
{
    uint32_t x = 12345;
    size_t i;

    for (i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (char)(x >> 16);
    }
}

static void put_rootfs_file(const struct th_fixture *f, const char *name, const void *data,
                            size_t len)
{
    cleanup_free char *path = xasprintf("%s/rootfs/%s", f->bundle, name);
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    struct tether_error err = {0};

    if (fd < 0)
        fail_msg("create %s: %s", path, strerror(errno));
    if (tether_write_all(fd, data, len, &err) < 0)
        fail_msg("write %s: %s", path, err.msg);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether pfd's fd can be read without blocking, waiting at most left_ms for it. */
static bool readable(struct pollfd *pfd, long long left_ms)
{
    int r = poll(pfd, 1, (int)left_ms);

    if (r < 0 && errno != EINTR)
        fail_msg("poll: %s", strerror(errno));
    return r > 0;
}

/* Reads fd into raw until the response to request wait_id has arrived; only that response
 * and non-output messages are parsed on the way, so the reader keeps pace with the
 * container. Returns where the output notifications end in raw. */
static size_t read_until_response(int fd, int64_t wait_id, struct bytes *raw, long long deadline)
{
    size_t scanned = 0;
    char chunk[256 * 1024];

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = deadline - now_ms();
        ssize_t n;
        char *nl;

        while (raw->len > scanned &&
               (nl = memchr(raw->data + scanned, '\n', raw->len - scanned)) != NULL) {
            size_t start = scanned, len = (size_t)(nl - (raw->data + start));
            json_error_t jerr;
            json_auto_t *msg = NULL;

            scanned = start + len + 1;
            if (memmem(raw->data + start, len, "\"method\":\"output\"", 17) != NULL)
                continue;
            msg = json_loadb(raw->data + start, len, 0, &jerr);
            if (msg == NULL)
                fail_msg("bad message from the shim: %s", jerr.text);
            if (json_object_get(msg, "id") != NULL) {
                if (json_integer_value(json_object_get(msg, "id")) != wait_id)
                    fail_msg("unexpected response on the reading client");
                return start;
            }
            if (strcmp(th_str(msg, "method"), "dropped") == 0)
                fail_msg("the reading client was dropped: %s",
                         th_str(json_object_get(msg, "params"), "reason"));
        }
        if (left <= 0)
            fail_msg("no answer to wait within %d ms (%zu bytes read)", SLOW_TEST_MS, raw->len);
        if (!readable(&pfd, left))
            continue;
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            fail_msg("the reading client lost its connection: %s",
                     n == 0 ? "closed" : strerror(errno));
        bytes_add(raw, chunk, (size_t)n);
    }
}

/* stdout of the output notifications in raw[0..len), decoded in order. */
static void decode_outputs(const struct bytes *raw, size_t len, struct bytes *out)
{
    const char *p = raw->data, *end = raw->data + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        json_error_t jerr;
        json_auto_t *msg = NULL;

        assert_non_null(nl);
        msg = json_loadb(p, (size_t)(nl - p), 0, &jerr);
        if (msg == NULL)
            fail_msg("bad message from the shim: %s", jerr.text);
        take_output(msg, "stdout", out);
        p = nl + 1;
    }
}

/* Reads fd until EOF; false if it stays open past the deadline. */
static bool wait_closed(int fd, long long deadline)
{
    char chunk[65536];

    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        long long left = deadline - now_ms();
        ssize_t n;

        if (left <= 0)
            return false;
        if (!readable(&pfd, left))
            continue;
        n = read(fd, chunk, sizeof(chunk));
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            fail_msg("read: %s", strerror(errno));
    }
}

/* Client a attaches and never reads; client b attaches and reads everything. The shim drops
 * a once its bounded buffer is full instead of waiting for it, so the container runs to its
 * end, b gets every byte and the log is complete. The container writes in 64 KiB blocks
 * with a process start in between: a reader that keeps up is never 4 MiB behind, whatever
 * the scheduler does to it for a moment. */
static void test_reader_not_stalled(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *data = NULL;
    cleanup_free char *logged = NULL;
    struct tether_client *ctl, *a, *b;
    struct tether_error err = {0};
    struct bytes raw = {0}, seen = {0};
    json_auto_t *att_a = NULL, *att_b = NULL, *st = NULL, *res = NULL;
    long long deadline = now_ms() + SLOW_TEST_MS;
    size_t total = (size_t)BLOCKS * BLOCK_SIZE, out_end, len = 0;
    int64_t wait_id;

    th_fixture_start(f, argv_paced, NULL, NULL);
    path = log_path(f, "ctr.log");
    data = xmalloc((size_t)BLOCKS * BLOCK_SIZE);
    fill_pseudo_random(data, total);
    put_rootfs_file(f, "data", data, total);
    ctl = th_shim_connect(&f->shim);
    a = th_shim_connect(&f->shim);
    b = th_shim_connect(&f->shim);
    json_decref(th_call_ok(ctl, "create",
                           json_pack("{s:{s:s,s:s}}", "log", "path", path, "format", "raw")));
    att_a = th_call_ok(a, "attach", NULL);
    att_b = th_call_ok(b, "attach", NULL);
    /* b's own wait: its answer comes after all the output queued for b. */
    wait_id = tether_client_send(b, "wait", NULL, &err);
    if (wait_id < 0)
        fail_msg("send wait: %s", err.msg);
    json_decref(th_call_ok(ctl, "start", NULL));

    out_end = read_until_response(tether_client_fd(b), wait_id, &raw, deadline);
    decode_outputs(&raw, out_end, &seen);
    if (seen.len != total || memcmp(seen.data, data, total) != 0)
        fail_msg("the reading client got %zu bytes, want the %zu written", seen.len, total);
    res = json_loadb(raw.data + out_end, raw.len - out_end, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(res);
    assert_int_equal(th_int(json_object_get(res, "result"), "exit_status"), 0);

    logged = read_file(path, &len);
    assert_int_equal(len, total);
    assert_memory_equal(logged, data, total);
    /* a was cut off: its connection ends after whatever it was sent before the drop. */
    assert_true(wait_closed(tether_client_fd(a), deadline));
    /* The shim itself is fine. */
    st = th_call_ok(ctl, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "exit_status"), 0);
    assert_true(th_pid_alive(f->shim.pid));
    bytes_free(&raw);
    bytes_free(&seen);
    tether_client_close(b);
    tether_client_close(a);
    tether_client_close(ctl);
}

/* ---- refusals ---- */

static const char *const argv_sleep[] = {"sleep", "1000", NULL};

static void test_refused_create_log(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *dotdot = NULL;
    cleanup_free char *dot = NULL;
    struct tether_client *c;
    json_auto_t *st = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    path = log_path(f, "ctr.log");
    dotdot = xasprintf("%s/../ctr.log", f->env.dir);
    dot = xasprintf("%s/./ctr.log", f->env.dir);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "create", json_pack("{s:{s:s}}", "log", "path", "ctr.log"),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "create", json_pack("{s:{s:s}}", "log", "path", dotdot),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "create", json_pack("{s:{s:s}}", "log", "path", dot), TETHER_RPC_INVALID_PARAMS,
                 NULL, 0);
    th_call_fail(c, "create", json_pack("{s:{s:s,s:s}}", "log", "path", path, "format", "xml"),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "create", json_pack("{s:{s:s,s:i}}", "log", "path", path, "max_files", 0),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "create", json_pack("{s:{s:s,s:i}}", "log", "path", path, "max_size", -1),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    /* Nothing was created, no log file either, and a good create still works. */
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    assert_false(th_path_exists(path));
    create_start(c, json_pack("{s:{s:s}}", "log", "path", path));
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    assert_true(th_path_exists(path));
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "KILL")));
    wait_status(c, 137);
    tether_client_close(c);
}

/* No terminal and no stdin: resize and input are refused by state, not by parameters. */
static void test_refused_no_terminal_no_stdin(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    create_start(c, NULL);
    th_call_fail(c, "resize", json_pack("{s:i,s:i}", "width", 80, "height", 24),
                 TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "input", input_params("x\n", 2), TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "close_stdin", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "attach", json_pack("{s:b}", "stdin", 1), TETHER_RPC_INVALID_STATE, NULL, 0);
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "KILL")));
    wait_status(c, 137);
    tether_client_close(c);
}

/* A process with stdin: bad input data is refused and nothing reaches the container;
 * good input afterwards does. */
static void test_refused_bad_input(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *logged = NULL;
    struct tether_client *c;
    size_t len = 0;

    th_fixture_start(f, argv_cat, NULL, NULL);
    path = log_path(f, "ctr.log");
    c = th_shim_connect(&f->shim);
    create_start(c,
                 json_pack("{s:b,s:{s:s,s:s}}", "stdin", 1, "log", "path", path, "format", "raw"));
    th_call_fail(c, "input", json_pack("{s:s}", "data", "!!not base64!!"),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "input", json_pack("{s:i}", "data", 42), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "input", NULL, TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "resize", json_pack("{s:i,s:i}", "width", 0, "height", 24),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    json_decref(th_call_ok(c, "input", input_params("ok\n", 3)));
    json_decref(th_call_ok(c, "close_stdin", NULL));
    wait_status(c, 0);
    logged = read_file(path, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(logged, "ok\n", 3);
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_input_cat),
        TH_BOTH_RUNTIMES(test_input_full),
        TH_BOTH_RUNTIMES(test_terminal_resize),
        TH_BOTH_RUNTIMES(test_reader_not_stalled),
        TH_BOTH_RUNTIMES(test_refused_create_log),
        TH_BOTH_RUNTIMES(test_refused_no_terminal_no_stdin),
        TH_BOTH_RUNTIMES(test_refused_bad_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
