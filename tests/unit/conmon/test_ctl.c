/* The control FIFOs' lines ("TYPE ROWS COLS"), and a real FIFO read from the loop: podman's
 * resize reaches the hook, a malformed line is skipped, a writer closing ends nothing. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/loop.h>
#include <tether/util.h>

#include "ctl.h"

static void test_parse(void **state)
{
    enum tether_ctl_type type;
    unsigned rows = 0, cols = 0;

    (void)state;
    assert_int_equal(tether_conmon_ctl_parse("1 30 100", &type, &rows, &cols), 0);
    assert_int_equal(type, TETHER_CTL_RESIZE);
    assert_int_equal(rows, 30);
    assert_int_equal(cols, 100);
    assert_int_equal(tether_conmon_ctl_parse("2 0 0", &type, &rows, &cols), 0);
    assert_int_equal(type, TETHER_CTL_REOPEN_LOG);
    assert_int_equal(tether_conmon_ctl_parse(" 1  24 80 \r", &type, &rows, &cols), 0);
    assert_int_equal(rows, 24);
    assert_int_equal(cols, 80);
    assert_int_equal(tether_conmon_ctl_parse("3 1 1", &type, &rows, &cols), -1);
    assert_int_equal(tether_conmon_ctl_parse("1 30", &type, &rows, &cols), -1);
    assert_int_equal(tether_conmon_ctl_parse("1 30 100 5", &type, &rows, &cols), -1);
    assert_int_equal(tether_conmon_ctl_parse("1 -3 100", &type, &rows, &cols), -1);
    assert_int_equal(tether_conmon_ctl_parse("one 2 3", &type, &rows, &cols), -1);
    assert_int_equal(tether_conmon_ctl_parse("", &type, &rows, &cols), -1);
}

struct seen {
    unsigned resizes, reopens, rows, cols;
};

static void on_resize(void *opaque, unsigned rows, unsigned cols)
{
    struct seen *s = opaque;

    s->resizes++;
    s->rows = rows;
    s->cols = cols;
}

static void on_reopen(void *opaque)
{
    struct seen *s = opaque;

    s->reopens++;
}

static void write_to(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_NONBLOCK);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static void turn(struct tether_loop *loop)
{
    struct tether_error err = {0};

    while (tether_loop_run_once(loop, 50, &err) > 0)
        ;
}

static void test_fifos(void **state)
{
    char dir[] = "/tmp/tether-ctl-XXXXXX";
    struct tether_loop loop;
    struct tether_error err = {0};
    struct seen seen = {0};
    const struct tether_conmon_ctl_hooks hooks = {
        .resize = on_resize, .reopen_log = on_reopen, .opaque = &seen};
    struct tether_conmon_ctl ctl;
    cleanup_free char *ctl_path = NULL;
    cleanup_free char *winsz_path = NULL;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    ctl_path = xasprintf("%s/ctl", dir);
    winsz_path = xasprintf("%s/winsz", dir);
    /* A stale regular file is replaced by the FIFO. */
    close(open(ctl_path, O_WRONLY | O_CREAT, 0600));
    assert_int_equal(tether_loop_init(&loop, &err), 0);
    tether_conmon_ctl_init(&ctl, &loop, NULL, &hooks);
    if (tether_conmon_ctl_open(&ctl, dir, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(stat(ctl_path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(stat(winsz_path, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));

    write_to(ctl_path, "1 30 100\n");
    turn(&loop);
    assert_int_equal(seen.resizes, 1);
    assert_int_equal(seen.rows, 30);
    assert_int_equal(seen.cols, 100);
    /* Lines cut across writes, a malformed one skipped, and the other FIFO. */
    write_to(ctl_path, "garbage\n1 4");
    write_to(ctl_path, "0 132\n2 0 0\n");
    write_to(winsz_path, "1 50 60\n");
    turn(&loop);
    assert_int_equal(seen.resizes, 3);
    assert_int_equal(seen.reopens, 1);
    assert_int_equal(seen.rows, 50);
    assert_int_equal(seen.cols, 60);
    /* The writers closed, yet the FIFOs do not read as ended: nothing more happens. */
    turn(&loop);
    assert_int_equal(seen.resizes, 3);

    tether_conmon_ctl_close(&ctl, true);
    assert_int_equal(stat(ctl_path, &st), -1);
    assert_int_equal(stat(winsz_path, &st), -1);
    tether_loop_fini(&loop);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_fifos),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
