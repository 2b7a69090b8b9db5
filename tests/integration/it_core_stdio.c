/* A process's stdio through the core's C API with real runc containers: the front end's
 * fds handed straight to the process, a front end's fd copied into stdin (to its end of
 * file), output copied to a front end's fd with backpressure (the process waits while the
 * copy is full, nothing is lost), the stdin_ready hook after a short input, and a terminal
 * fed and read through copies. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/core.h>
#include <tether/util.h>

#include "harness_core.h"

#define BIG_OUTPUT 3000000

static void make_pipe(int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0)
        fail_msg("pipe: %s", strerror(errno));
}

/* Reads everything readable from fd now (non-blocking): *count grows by the bytes read, and
 * up to cap of them are kept in buf (may be NULL). Returns true at end of file. */
static bool read_now(int fd, char *buf, size_t cap, size_t *count)
{
    for (;;) {
        char scratch[65536];
        ssize_t n = read(fd, scratch, sizeof(scratch));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return false;
        if (n < 0)
            fail_msg("read: %s", strerror(errno));
        if (n == 0)
            return true;
        if (buf != NULL && *count < cap)
            memcpy(buf + *count, scratch, (size_t)n < cap - *count ? (size_t)n : cap - *count);
        *count += (size_t)n;
    }
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* stdout and stderr handed straight to the process: the data is in the front end's pipes,
 * the core read none of it, and the pipes end with the process. */
static void test_given_fds(void **state)
{
    struct th_core *f = *state;
    static const char *const argv[] = {"sh", "-c", "echo given-out; echo given-err >&2; exit 2",
                                       NULL};
    struct tether_container *ctr = th_core_add(f, "given", argv, NULL);
    struct tether_create_opts opts = {0};
    struct th_call w;
    int out[2], err[2];
    char buf[256];
    size_t len = 0;

    make_pipe(out);
    make_pipe(err);
    tether_process_opts_init(&opts.proc);
    opts.start = true;
    opts.proc.stdio_fds[1] = out[1];
    opts.proc.stdio_fds[2] = err[1];
    th_core_create(f, ctr, &opts);
    /* The core keeps its own copies as long as it needs them. */
    close(out[1]);
    close(err[1]);
    th_core_wait(ctr, &w);
    th_core_run_until(f, &w.done);
    assert_int_equal(w.exit.exit_status, 2);
    set_nonblock(out[0]);
    set_nonblock(err[0]);
    assert_true(read_now(out[0], buf, sizeof(buf), &len));
    assert_int_equal(len, strlen("given-out\n"));
    assert_memory_equal(buf, "given-out\n", len);
    len = 0;
    assert_true(read_now(err[0], buf, sizeof(buf), &len));
    assert_int_equal(len, strlen("given-err\n"));
    assert_memory_equal(buf, "given-err\n", len);
    assert_int_equal(f->output_len[TETHER_LOGFMT_STDOUT] + f->output_len[TETHER_LOGFMT_STDERR], 0);
    close(out[0]);
    close(err[0]);
    th_core_delete_remove(f, ctr, false);
}

/* stdin copied from the front end's pipe: the process reads it all and sees its end. */
static void test_stdin_from(void **state)
{
    struct th_core *f = *state;
    static const char *const argv[] = {"cat", NULL};
    struct tether_container *ctr = th_core_add(f, "from", argv, NULL);
    struct tether_create_opts opts = {0};
    struct th_call w;
    int in[2];

    make_pipe(in);
    tether_process_opts_init(&opts.proc);
    opts.start = true;
    opts.proc.stdin = true;
    opts.proc.stdin_from = in[0];
    th_core_create(f, ctr, &opts);
    close(in[0]);
    th_core_wait(ctr, &w);
    if (write(in[1], "abc\n", 4) != 4 || write(in[1], "def", 3) != 3)
        fail_msg("write: %s", strerror(errno));
    close(in[1]);
    th_core_run_until(f, &w.done);
    assert_int_equal(w.exit.exit_status, 0);
    assert_int_equal(f->output_len[TETHER_LOGFMT_STDOUT], 7);
    assert_memory_equal(f->output[TETHER_LOGFMT_STDOUT], "abc\ndef", 7);
    th_core_delete_remove(f, ctr, false);
}

/* Output copied to a front end's pipe nobody reads for a while: the process waits (it does
 * not exit, nothing is dropped), and once the pipe is read everything arrives, then its
 * end. */
static void test_output_to_backpressure(void **state)
{
    struct th_core *f = *state;
    static const char *const argv[] = {"sh", "-c", "head -c 3000000 /dev/zero; exit 4", NULL};
    struct tether_container *ctr = th_core_add(f, "to", argv, NULL);
    struct tether_create_opts opts = {0};
    struct th_call w;
    size_t total = 0;
    int to[2];
    bool eof = false;

    make_pipe(to);
    tether_process_opts_init(&opts.proc);
    opts.start = true;
    opts.proc.output_to = to[1];
    th_core_create(f, ctr, &opts);
    close(to[1]);
    th_core_wait(ctr, &w);
    th_core_run_for(f, 1000);
    assert_false(w.done);
    assert_int_equal(th_core_status(ctr), TETHER_STATUS_RUNNING);

    set_nonblock(to[0]);
    for (int i = 0; i < 3000 && !eof; i++) {
        eof = read_now(to[0], NULL, 0, &total);
        th_core_run_for(f, 10);
    }
    assert_true(eof);
    assert_true(w.done);
    assert_int_equal(w.exit.exit_status, 4);
    assert_int_equal(total, BIG_OUTPUT);
    close(to[0]);
    th_core_delete_remove(f, ctr, false);
}

/* A process that does not read yet: input() takes less than it is given once the pipe is
 * full, and on_stdin_ready tells when it takes data again. */
static void test_stdin_ready(void **state)
{
    struct th_core *f = *state;
    static const char *const argv[] = {"sh", "-c", "sleep 1; cat >/dev/null", NULL};
    struct tether_container *ctr = th_core_add(f, "ready", argv, NULL);
    struct tether_create_opts opts = {0};
    struct tether_error err = {0};
    static char chunk[65536];
    size_t taken = 0;
    ssize_t n;
    bool open = false;

    tether_process_opts_init(&opts.proc);
    opts.start = true;
    opts.proc.stdin = true;
    th_core_create(f, ctr, &opts);
    assert_int_equal(tether_container_stdin_open(ctr, NULL, &open, &err), 0);
    assert_true(open);
    do {
        n = tether_container_input(ctr, NULL, chunk, sizeof(chunk), &err);
        assert_true(n >= 0);
        taken += (size_t)n;
    } while (n == (ssize_t)sizeof(chunk) && taken < (64u << 20));
    assert_true((size_t)n < sizeof(chunk));
    assert_int_equal(f->stdin_ready, 0);
    for (int i = 0; i < 500 && f->stdin_ready == 0; i++)
        th_core_run_for(f, 10);
    assert_int_equal(f->stdin_ready, 1);
    assert_true(tether_container_input(ctr, NULL, chunk, sizeof(chunk), &err) > 0);
    assert_int_equal(tether_container_close_stdin(ctr, NULL, &err), 0);
    assert_int_equal(tether_container_stdin_open(ctr, NULL, &open, &err), 0);
    assert_false(open);
    th_core_delete_remove(f, ctr, true);
}

static void set_terminal(json_t *config, void *data)
{
    (void)data;
    json_object_set_new(json_object_get(config, "process"), "terminal", json_true());
}

/* A terminal fed from a front end's pipe and copied to another. */
static void test_terminal_copies(void **state)
{
    struct th_core *f = *state;
    static const char *const argv[] = {"sh", "-c", "read x; echo got:$x; exit 6", NULL};
    struct tether_container *ctr = th_core_add(f, "tty", argv, set_terminal);
    struct tether_create_opts opts = {0};
    struct th_call w;
    int in[2], out[2];
    char buf[4096];
    size_t len = 0;
    bool eof = false;

    make_pipe(in);
    make_pipe(out);
    tether_process_opts_init(&opts.proc);
    opts.start = true;
    opts.proc.terminal = true;
    opts.proc.stdin = true;
    opts.proc.stdin_from = in[0];
    opts.proc.output_to = out[1];
    th_core_create(f, ctr, &opts);
    close(in[0]);
    close(out[1]);
    th_core_wait(ctr, &w);
    if (write(in[1], "hello\n", 6) != 6)
        fail_msg("write: %s", strerror(errno));
    set_nonblock(out[0]);
    for (int i = 0; i < 1000 && !eof; i++) {
        eof = read_now(out[0], buf, sizeof(buf) - 1, &len);
        th_core_run_for(f, 10);
    }
    buf[len < sizeof(buf) ? len : sizeof(buf) - 1] = '\0';
    assert_true(eof);
    assert_true(w.done);
    assert_int_equal(w.exit.exit_status, 6);
    assert_non_null(strstr(buf, "got:hello"));
    close(in[1]);
    close(out[0]);
    th_core_delete_remove(f, ctr, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_given_fds, th_core_setup, th_core_teardown),
        cmocka_unit_test_setup_teardown(test_stdin_from, th_core_setup, th_core_teardown),
        cmocka_unit_test_setup_teardown(test_output_to_backpressure, th_core_setup,
                                        th_core_teardown),
        cmocka_unit_test_setup_teardown(test_stdin_ready, th_core_setup, th_core_teardown),
        cmocka_unit_test_setup_teardown(test_terminal_copies, th_core_setup, th_core_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
