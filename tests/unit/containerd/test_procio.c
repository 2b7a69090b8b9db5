/* A process's stdio as containerd names it: URIs parsed as containerd's own shim reads
 * them, FIFOs opened without waiting (read end kept on outputs, write end kept on stdin
 * until CloseIO), file:// logs made with their directories, /dev/null for streams nobody
 * reads, and a binary:// logger started with its pipes and waited for without blocking. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/loop.h>
#include <tether/util.h>

#include "procio.h"

static void assert_args(const struct tether_ctrd_uri *u, const char *const *want)
{
    size_t i;

    for (i = 0; want[i] != NULL; i++) {
        assert_non_null(u->args[i]);
        assert_string_equal(u->args[i], want[i]);
    }
    assert_null(u->args[i]);
}

static void test_uri_parse(void **state)
{
    struct tether_ctrd_uri u;
    struct tether_error err = {0};
    static const char *const none[] = {NULL};
    static const char *const logger_args[] = {"a", "b", "c", "d e", "flag", "", NULL};

    (void)state;
    assert_int_equal(tether_ctrd_uri_parse("/run/containerd/fifo/1/c-stdout", &u, &err), 0);
    assert_string_equal(u.scheme, "");
    assert_string_equal(u.path, "/run/containerd/fifo/1/c-stdout");
    assert_args(&u, none);
    tether_ctrd_uri_fini(&u);

    assert_int_equal(tether_ctrd_uri_parse("file:///var/log/x%20y.log?ignored=1", &u, &err), 0);
    assert_string_equal(u.scheme, "file");
    assert_string_equal(u.path, "/var/log/x y.log");
    tether_ctrd_uri_fini(&u);

    /* Arguments in the query's order; a repeated key keeps its first value. */
    assert_int_equal(tether_ctrd_uri_parse("BINARY:///usr/bin/logger?a=b&c=d+e&flag&a=z", &u, &err),
                     0);
    assert_string_equal(u.scheme, "binary");
    assert_string_equal(u.path, "/usr/bin/logger");
    assert_args(&u, logger_args);
    tether_ctrd_uri_fini(&u);

    /* A host part is not part of the path. */
    assert_int_equal(tether_ctrd_uri_parse("file://host/p/f.log", &u, &err), 0);
    assert_string_equal(u.path, "/p/f.log");
    tether_ctrd_uri_fini(&u);

    assert_int_equal(tether_ctrd_uri_parse("file:///x%2", &u, &err), -1);
    tether_ctrd_uri_fini(&u);
    assert_int_equal(tether_ctrd_uri_parse("file:///x%00", &u, &err), -1);
    tether_ctrd_uri_fini(&u);
    assert_int_equal(tether_ctrd_uri_parse("binary:///l?%zz=1", &u, &err), -1);
    tether_ctrd_uri_fini(&u);
}

/* ---- opening ---- */

struct fixture {
    char dir[64];
    struct tether_loop loop;
    struct tether_log log;
    struct tether_ctrd_stdio_ctx ctx;
};

static int setup(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));
    struct tether_error err = {0};

    snprintf(f->dir, sizeof(f->dir), "/tmp/tether-procio-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_int_equal(tether_loop_init(&f->loop, &err), 0);
    f->log.fd = -1;
    tether_ctrd_stdio_ctx_init(&f->ctx, &f->loop, &f->log);
    *state = f;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    tether_ctrd_stdio_ctx_fini(&f->ctx);
    tether_loop_fini(&f->loop);
    nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static char *fifo(struct fixture *f, const char *name)
{
    char *p = xasprintf("%s/%s", f->dir, name);

    assert_int_equal(mkfifo(p, 0600), 0);
    return p;
}

static void test_fifos(void **state)
{
    struct fixture *f = *state;
    cleanup_free char *in = fifo(f, "c-stdin");
    cleanup_free char *out = fifo(f, "c-stdout");
    cleanup_free char *errp = fifo(f, "c-stderr");
    struct tether_ctrd_stdio st;
    struct tether_process_opts proc;
    struct tether_error err = {0};
    const struct tether_ctrd_stdio_config cfg = {
        .stdin_path = in, .stdout_uri = out, .stderr_uri = errp, .id = "c", .ns = "ns"};
    int reader, flags;
    char buf[16];

    tether_ctrd_stdio_init(&st, &f->ctx);
    /* No reader on the other side yet: opening does not wait. */
    assert_int_equal(tether_ctrd_stdio_open(&st, &cfg, &proc, NULL, NULL, &err), 0);
    assert_true(proc.stdin);
    assert_true(proc.stdin_from >= 0);
    assert_true(proc.stdio_fds[1] >= 0 && proc.stdio_fds[2] >= 0);
    assert_int_equal(proc.output_to, -1);
    assert_false(proc.terminal);
    /* The process's end blocks, as a pipe would. */
    flags = fcntl(proc.stdio_fds[1], F_GETFL);
    assert_int_equal(flags & O_NONBLOCK, 0);
    assert_int_equal(flags & O_ACCMODE, O_WRONLY);
    /* With its readers gone, a write still goes into the FIFO (our read end). */
    assert_int_equal(write(proc.stdio_fds[1], "x", 1), 1);

    /* stdin: our write end keeps it open; CloseIO lets go of it. */
    reader = open(in, O_RDONLY | O_NONBLOCK);
    assert_true(reader >= 0);
    assert_int_equal(read(reader, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EAGAIN);
    tether_ctrd_stdio_handed(&st);
    tether_ctrd_stdio_close_stdin(&st);
    assert_int_equal(read(reader, buf, sizeof(buf)), 0); /* no writer left: end of input */
    close(reader);
    tether_ctrd_stdio_close(&st);
    tether_ctrd_stdio_close(&st); /* twice is fine */

    /* Not a FIFO: refused. */
    {
        cleanup_free char *plain = xasprintf("%s/plain", f->dir);
        const struct tether_ctrd_stdio_config bad = {.stdout_uri = plain, .id = "c", .ns = "n"};
        int fd = open(plain, O_WRONLY | O_CREAT, 0600);
        close(fd);
        tether_ctrd_stdio_init(&st, &f->ctx);
        assert_int_equal(tether_ctrd_stdio_open(&st, &bad, &proc, NULL, NULL, &err), -1);
        assert_int_equal(err.kind, TETHER_ERR_INVALID);
    }
}

static void test_terminal_and_null(void **state)
{
    struct fixture *f = *state;
    cleanup_free char *in = fifo(f, "t-stdin");
    cleanup_free char *out = fifo(f, "t-stdout");
    struct tether_ctrd_stdio st;
    struct tether_process_opts proc;
    struct tether_error err = {0};
    const struct tether_ctrd_stdio_config tty = {
        .stdin_path = in, .stdout_uri = out, .terminal = true, .id = "t", .ns = "n"};
    const struct tether_ctrd_stdio_config null = {
        .stdin_path = "", .stdout_uri = "", .stderr_uri = "", .id = "n", .ns = "n"};

    /* A terminal: stdin copied from the FIFO, the output copied to the stdout FIFO. */
    tether_ctrd_stdio_init(&st, &f->ctx);
    assert_int_equal(tether_ctrd_stdio_open(&st, &tty, &proc, NULL, NULL, &err), 0);
    assert_true(proc.terminal);
    assert_true(proc.stdin && proc.stdin_from >= 0);
    assert_true(proc.output_to >= 0);
    assert_int_equal(proc.stdio_fds[1], -1);
    assert_int_equal(proc.stdio_fds[2], -1);
    tether_ctrd_stdio_close(&st);

    /* Nothing asked for: no stdin, the output to /dev/null. */
    tether_ctrd_stdio_init(&st, &f->ctx);
    assert_int_equal(tether_ctrd_stdio_open(&st, &null, &proc, NULL, NULL, &err), 0);
    assert_false(proc.stdin);
    assert_int_equal(proc.stdin_from, -1);
    assert_true(proc.stdio_fds[1] >= 0 && proc.stdio_fds[2] >= 0);
    assert_int_equal(write(proc.stdio_fds[1], "gone", 4), 4);
    tether_ctrd_stdio_close(&st);
}

static void test_file(void **state)
{
    struct fixture *f = *state;
    cleanup_free char *uri = xasprintf("file://%s/logs/deep/c.log", f->dir);
    cleanup_free char *path = xasprintf("%s/logs/deep/c.log", f->dir);
    struct tether_ctrd_stdio st;
    struct tether_process_opts proc;
    struct tether_error err = {0};
    const struct tether_ctrd_stdio_config cfg = {
        .stdout_uri = uri, .stderr_uri = uri, .id = "c", .ns = "n"};
    char *text = NULL;

    tether_ctrd_stdio_init(&st, &f->ctx);
    assert_int_equal(tether_ctrd_stdio_open(&st, &cfg, &proc, NULL, NULL, &err), 0);
    assert_int_equal(write(proc.stdio_fds[1], "out\n", 4), 4);
    assert_int_equal(write(proc.stdio_fds[2], "err\n", 4), 4);
    tether_ctrd_stdio_close(&st);
    assert_int_equal(tether_read_file(path, 4096, &text, NULL, &err), 0);
    assert_string_equal(text, "out\nerr\n");
    free(text);
}

struct ready {
    bool called;
    struct tether_error err;
};

static void on_ready(void *opaque, const struct tether_error *err)
{
    struct ready *r = opaque;

    r->called = true;
    if (err != NULL)
        r->err = *err;
}

static void run_until(struct fixture *f, const bool *flag)
{
    struct tether_error err = {0};

    for (int i = 0; i < 500 && !*flag; i++)
        assert_true(tether_loop_run_once(&f->loop, 20, &err) >= 0);
    assert_true(*flag);
}

static void test_binary_logger(void **state)
{
    struct fixture *f = *state;
    cleanup_free char *script = xasprintf("%s/logger.sh", f->dir);
    cleanup_free char *got = xasprintf("%s/got", f->dir);
    cleanup_free char *uri = xasprintf("binary://%s?to=%s", script, got);
    cleanup_free char *missing = xasprintf("binary://%s/none", f->dir);
    struct tether_ctrd_stdio st;
    struct tether_process_opts proc;
    struct tether_error err = {0};
    struct ready r = {0};
    const struct tether_ctrd_stdio_config cfg = {
        .stdout_uri = uri, .stderr_uri = uri, .id = "cid", .ns = "nsx", .cwd = f->dir};
    static const char text[] = "#!/bin/sh\n"
                               "# argv: to FILE; fd 3 stdout, fd 4 stderr, fd 5 ready\n"
                               "echo \"$CONTAINER_ID $CONTAINER_NAMESPACE $1\" > \"$2.env\"\n"
                               "exec 5>&-\n"
                               "cat <&3 > \"$2.out\"\n"
                               "cat <&4 > \"$2.err\"\n";
    char *data = NULL;

    assert_int_equal(tether_write_file_atomic(script, text, sizeof(text) - 1, 0755, &err), 0);
    tether_ctrd_stdio_init(&st, &f->ctx);
    assert_int_equal(tether_ctrd_stdio_open(&st, &cfg, &proc, on_ready, &r, &err), 1);
    run_until(f, &r.called);
    assert_int_equal(r.err.kind, TETHER_ERR_NONE);
    assert_int_equal(write(proc.stdio_fds[1], "to-out\n", 7), 7);
    assert_int_equal(write(proc.stdio_fds[2], "to-err\n", 7), 7);
    /* The process is gone: the logger sees the end of both streams and exits. */
    tether_ctrd_stdio_handed(&st);
    for (int i = 0; i < 500; i++) {
        cleanup_free char *p = xasprintf("%s.err", got);
        free(data);
        data = NULL;
        if (tether_read_file(p, 4096, &data, NULL, &err) == 0 && strcmp(data, "to-err\n") == 0)
            break;
        usleep(10000);
    }
    assert_non_null(data);
    assert_string_equal(data, "to-err\n");
    free(data);
    {
        cleanup_free char *p = xasprintf("%s.env", got);
        assert_int_equal(tether_read_file(p, 4096, &data, NULL, &err), 0);
        assert_string_equal(data, "cid nsx to\n");
        free(data);
    }
    tether_ctrd_stdio_close(&st);

    /* A logger that cannot be run: the reason comes back through ready(). */
    {
        const struct tether_ctrd_stdio_config bad = {.stdout_uri = missing, .id = "c", .ns = "n"};
        struct ready r2 = {0};
        tether_ctrd_stdio_init(&st, &f->ctx);
        assert_int_equal(tether_ctrd_stdio_open(&st, &bad, &proc, on_ready, &r2, &err), 1);
        run_until(f, &r2.called);
        assert_int_equal(r2.err.errnum, ENOENT);
        tether_ctrd_stdio_close(&st);
    }
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_parse),
        cmocka_unit_test_setup_teardown(test_fifos, setup, teardown),
        cmocka_unit_test_setup_teardown(test_terminal_and_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_logger, setup, teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
