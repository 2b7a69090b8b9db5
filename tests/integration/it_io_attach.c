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
/* The client that never reads: the container writes 480 blocks of 64 KiB = 30 MiB. */
#define BLOCK_SIZE 65536u
#define BLOCKS     480u
/* Deadline of the tests that move megabytes (they take a few seconds). */
#define SLOW_TEST_MS 120000
/* Blocks the container may write beyond what the reading client has received. */
#define WINDOW 8u
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
    att = th_call_ok(c, "attach", json_pack("{s:b}", "stdin", 1));
    th_call_fail(c, "attach", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
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

/* Writes block n of /data for each number n read from stdin, until EOF. */
static const char *const argv_blocks[] = {
    "sh", "-c", "while read n; do dd if=/data bs=65536 skip=$n count=1 2>/dev/null || exit 1; done",
    NULL};

/* The client that reads: what arrived, what it decoded, and the answer to its wait. */
struct reader {
    struct tether_client *c;
    int64_t wait_id;
    struct bytes in; /* bytes read and not yet parsed: in.data[pos..len) */
    size_t pos;
    struct bytes seen; /* stdout decoded from output notifications, in order */
    json_t *answer;    /* the response to wait_id, once it came */
};

/* Reads what is there (waiting at most left_ms) and handles every complete line. */
static void reader_step(struct reader *r, long long left_ms)
{
    struct pollfd pfd = {.fd = tether_client_fd(r->c), .events = POLLIN};
    char chunk[256 * 1024];
    ssize_t n;
    char *nl;

    if (!readable(&pfd, left_ms))
        return;
    n = read(pfd.fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0)
        fail_msg("the reading client lost its connection: %s", n == 0 ? "closed" : strerror(errno));
    bytes_add(&r->in, chunk, (size_t)n);
    while ((nl = memchr(r->in.data + r->pos, '\n', r->in.len - r->pos)) != NULL) {
        json_error_t jerr;
        json_t *msg =
            json_loadb(r->in.data + r->pos, (size_t)(nl - (r->in.data + r->pos)), 0, &jerr);

        if (msg == NULL)
            fail_msg("bad message from the shim: %s", jerr.text);
        r->pos = (size_t)(nl + 1 - r->in.data);
        if (json_object_get(msg, "id") != NULL) {
            if (json_integer_value(json_object_get(msg, "id")) != r->wait_id || r->answer != NULL)
                fail_msg("unexpected response on the reading client");
            r->answer = msg;
            continue;
        }
        take_output(msg, "stdout", &r->seen);
        json_decref(msg);
    }
    memmove(r->in.data, r->in.data + r->pos, r->in.len - r->pos);
    r->in.len -= r->pos;
    r->pos = 0;
}

/* Asks the container for blocks *sent..upto-1. */
static void send_blocks(struct tether_client *ctl, size_t *sent, size_t upto)
{
    struct bytes text = {0};
    json_auto_t *res = NULL;

    for (; *sent < upto; (*sent)++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "%zu\n", *sent);
        bytes_add(&text, line, (size_t)n);
    }
    res = th_call_ok(ctl, "input", input_params(text.data, text.len));
    assert_int_equal(th_int(res, "written"), text.len);
    bytes_free(&text);
}

/* Client a attaches and never reads; client b attaches and reads everything. The shim drops
 * a once its bounded buffer is full instead of waiting for it, so the container writes its
 * 30 MiB to the end, b gets every byte and the log is complete.
 *
 * A reader that falls 4 MiB behind is dropped too, by design; so that b is never that far
 * behind whatever the scheduler does to it, the container writes a 64 KiB block only when
 * the test asks for it on stdin, and the test asks for at most WINDOW blocks beyond what
 * b has received. a's buffer still only grows: nothing a does holds the container back. */
static void test_reader_not_stalled(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *data = NULL;
    cleanup_free char *logged = NULL;
    struct tether_client *ctl, *a;
    struct tether_error err = {0};
    struct reader b = {0};
    json_auto_t *att_a = NULL, *att_b = NULL, *st = NULL;
    long long deadline = now_ms() + SLOW_TEST_MS;
    size_t total = (size_t)BLOCKS * BLOCK_SIZE, sent = 0, len = 0;

    th_fixture_start(f, argv_blocks, NULL, NULL);
    path = log_path(f, "ctr.log");
    data = xmalloc(total);
    fill_pseudo_random(data, total);
    put_rootfs_file(f, "data", data, total);
    ctl = th_shim_connect(&f->shim);
    a = th_shim_connect(&f->shim);
    b.c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(
        ctl, "create",
        json_pack("{s:b,s:{s:s,s:s}}", "stdin", 1, "log", "path", path, "format", "raw")));
    att_a = th_call_ok(a, "attach", NULL);
    att_b = th_call_ok(b.c, "attach", NULL);
    /* b's own wait: its answer comes after all the output queued for b. */
    b.wait_id = tether_client_send(b.c, "wait", NULL, &err);
    if (b.wait_id < 0)
        fail_msg("send wait: %s", err.msg);
    json_decref(th_call_ok(ctl, "start", NULL));

    while (b.answer == NULL) {
        size_t received = b.seen.len / BLOCK_SIZE;

        if (sent < BLOCKS && sent < received + WINDOW) {
            send_blocks(ctl, &sent, received + WINDOW < BLOCKS ? received + WINDOW : BLOCKS);
            if (sent == BLOCKS)
                json_decref(th_call_ok(ctl, "close_stdin", NULL));
        }
        if (now_ms() > deadline)
            fail_msg("no answer to wait within %d ms: %zu of %zu bytes received", SLOW_TEST_MS,
                     b.seen.len, total);
        reader_step(&b, deadline - now_ms());
    }
    assert_int_equal(th_int(json_object_get(b.answer, "result"), "exit_status"), 0);
    if (b.seen.len != total || memcmp(b.seen.data, data, total) != 0)
        fail_msg("the reading client got %zu bytes, want the %zu written", b.seen.len, total);
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
    json_decref(b.answer);
    bytes_free(&b.in);
    bytes_free(&b.seen);
    tether_client_close(b.c);
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
