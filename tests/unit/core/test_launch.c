/* Detaching a daemon: the launcher returns once the daemon says OK and leaves it running in
 * a session of its own; a daemon's error reaches the launcher word for word; a daemon that
 * dies without a word is reported as such; a failed daemon is reaped, never left a zombie. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/launch.h>
#include <tether/util.h>

enum daemon_mode { DAEMON_OK, DAEMON_ERR, DAEMON_SILENT };

/* Runs the launch; in the daemon, behaves as mode says and never returns. */
static int launch_as(enum daemon_mode mode, struct tether_launch *l, struct tether_error *err)
{
    int rc = tether_launch(l, err);

    if (rc != 1)
        return rc;
    switch (mode) {
    case DAEMON_OK: {
        char msg[32];
        int n = snprintf(msg, sizeof(msg), "OK sid=%d\n", (int)getsid(0));
        if (write(l->sync_fd, msg, (size_t)n) != n)
            _exit(2);
        close(l->sync_fd);
        pause(); /* killed by the test */
        _exit(0);
    }
    case DAEMON_ERR: {
        struct tether_error e = {0};
        tether_error_set(&e, EACCES, "cannot bind %s", "/x/shim.sock");
        tether_launch_fail(l->sync_fd, &e);
        _exit(1);
    }
    case DAEMON_SILENT:
        _exit(3);
    }
    _exit(4);
}

static void test_launch_ok(void **state)
{
    struct tether_launch l;
    struct tether_error err = {0};
    int status;

    (void)state;
    assert_int_equal(launch_as(DAEMON_OK, &l, &err), 0);
    assert_true(l.daemon > 0);
    /* The daemon leads a session of its own, and is still running. */
    char want[32];
    snprintf(want, sizeof(want), "OK sid=%d", (int)l.daemon);
    assert_string_equal(l.line, want);
    assert_int_equal(waitpid(l.daemon, &status, WNOHANG), 0);
    assert_int_equal(kill(l.daemon, SIGKILL), 0);
    assert_int_equal(waitpid(l.daemon, &status, 0), l.daemon);
}

static void test_launch_daemon_error(void **state)
{
    struct tether_launch l;
    struct tether_error err = {0};

    (void)state;
    assert_int_equal(launch_as(DAEMON_ERR, &l, &err), -1);
    assert_non_null(strstr(err.msg, "cannot bind /x/shim.sock"));
    assert_non_null(strstr(err.msg, strerror(EACCES)));
    /* Reaped by tether_launch: no zombie left. */
    assert_int_equal(waitpid(l.daemon, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_launch_daemon_silent(void **state)
{
    struct tether_launch l;
    struct tether_error err = {0};

    (void)state;
    assert_int_equal(launch_as(DAEMON_SILENT, &l, &err), -1);
    assert_string_equal(l.line, "");
    assert_string_equal(err.msg, "the daemon died while starting");
    assert_int_equal(waitpid(l.daemon, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_launch_ok),
        cmocka_unit_test(test_launch_daemon_error),
        cmocka_unit_test(test_launch_daemon_silent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
