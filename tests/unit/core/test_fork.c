/* The core's forks. tether_core_fork: the function runs in a child process of its own while
 * the loop goes on, its result comes back as the wait status through the callback, once;
 * several run side by side; a child still running at shutdown is left to finish, without a
 * callback. tether_core_detach: the daemon leads a session of its own, is a child subreaper,
 * and takes its own signals through the loop it inherited (a signalfd added by the launcher
 * would report the launcher's signals, not the daemon's); a core with children refuses to
 * detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/core.h>
#include <tether/util.h>

struct done_rec {
    int calls;
    int status;
};

static int usr1_seen;

static void on_signal(void *opaque, int sig)
{
    (void)opaque;
    if (sig == SIGUSR1)
        usr1_seen++;
}

/* A core that takes SIGUSR1 (counted in usr1_seen) besides SIGCHLD. */
static struct tether_core *new_core(struct tether_log *log)
{
    sigset_t signals;
    const struct tether_core_config cfg = {.runtime = "runc", .signals = &signals};
    const struct tether_core_hooks hooks = {.on_signal = on_signal};
    struct tether_error err = {0};
    struct tether_core *core;

    sigemptyset(&signals);
    sigaddset(&signals, SIGUSR1);
    tether_core_take_signals();
    log->fd = -1;
    log->level = TETHER_LOG_ERROR;
    core = tether_core_new(&cfg, &hooks, log, &err);
    if (core == NULL)
        fail_msg("core: %s", err.msg);
    return core;
}

static int child_exit_code(void *arg)
{
    return *(int *)arg;
}

/* Sleeps for as many milliseconds as arg says, then returns 0. */
static int child_sleep(void *arg)
{
    const struct timespec ts = {.tv_sec = *(int *)arg / 1000,
                                .tv_nsec = (*(int *)arg % 1000) * 1000000L};

    nanosleep(&ts, NULL);
    return 0;
}

static void record_done(void *opaque, int wait_status)
{
    struct done_rec *d = opaque;

    d->calls++;
    d->status = wait_status;
}

static void run_until(struct tether_core *core, const int *calls, int want)
{
    struct tether_error err = {0};

    for (int i = 0; i < 500 && *calls < want; i++)
        assert_true(tether_core_run_once(core, 20, &err) >= 0);
}

static void test_fork_status(void **state)
{
    struct tether_log log;
    struct tether_core *core = new_core(&log);
    struct tether_error err = {0};
    struct done_rec a = {0}, b = {0};
    int code_a = 7, code_b = 0;

    (void)state;
    assert_int_equal(tether_core_fork(core, child_exit_code, &code_a, record_done, &a, &err), 0);
    assert_int_equal(tether_core_fork(core, child_exit_code, &code_b, record_done, &b, &err), 0);
    run_until(core, &a.calls, 1);
    run_until(core, &b.calls, 1);
    assert_int_equal(a.calls, 1);
    assert_true(WIFEXITED(a.status));
    assert_int_equal(WEXITSTATUS(a.status), 7);
    assert_int_equal(b.calls, 1);
    assert_true(WIFEXITED(b.status));
    assert_int_equal(WEXITSTATUS(b.status), 0);
    /* Once only. */
    tether_core_run_once(core, 50, &err);
    assert_int_equal(a.calls, 1);
    tether_core_free(core);
}

/* Waits for a byte on the pipe arg names, then returns 0. */
static int child_wait_byte(void *arg)
{
    char c;

    return read(*(int *)arg, &c, 1) == 1 ? 0 : 1;
}

static void test_loop_goes_on(void **state)
{
    struct tether_log log;
    struct tether_core *core = new_core(&log);
    struct tether_error err = {0};
    struct done_rec d = {0};
    int p[2];

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    /* The child blocks until the test writes: a fork that waited for it would never return. */
    assert_int_equal(tether_core_fork(core, child_wait_byte, &p[0], record_done, &d, &err), 0);
    assert_true(tether_core_run_once(core, 100, &err) >= 0);
    assert_int_equal(d.calls, 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    run_until(core, &d.calls, 1);
    assert_int_equal(d.calls, 1);
    assert_true(WIFEXITED(d.status));
    assert_int_equal(WEXITSTATUS(d.status), 0);
    close(p[0]);
    close(p[1]);
    tether_core_free(core);
}

static void test_shutdown_leaves_child(void **state)
{
    struct tether_log log;
    struct tether_core *core = new_core(&log);
    struct tether_error err = {0};
    struct done_rec d = {0};
    int ms = 200, status;
    pid_t pid;

    (void)state;
    assert_int_equal(tether_core_fork(core, child_sleep, &ms, record_done, &d, &err), 0);
    tether_core_free(core);
    assert_int_equal(d.calls, 0);
    /* The child was left running: it ends on its own (reaped here, as the parent). */
    pid = wait(&status);
    assert_true(pid > 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* In the daemon: 0 when it is what it should be, else which check failed. */
static int daemon_checks(struct tether_core *core)
{
    struct tether_error err = {0};
    int subreaper = 0;

    if (getsid(0) != getpid())
        return 10;
    if (prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) < 0 || subreaper != 1)
        return 11;
    if (kill(getpid(), SIGUSR1) < 0)
        return 12;
    /* The loop wakes up for the daemon's own signal. */
    for (int i = 0; i < 50 && usr1_seen == 0; i++)
        if (tether_core_run_once(core, 100, &err) < 0)
            return 13;
    return usr1_seen == 1 ? 0 : 14;
}

static void test_detach_daemon(void **state)
{
    struct tether_log log;
    struct tether_core *core = new_core(&log);
    struct tether_error err = {0};
    pid_t daemon = -1;
    int rc, status;

    (void)state;
    rc = tether_core_detach(core, &daemon, &err);
    if (daemon == 0)
        _exit(rc < 0 ? 9 : daemon_checks(core));
    assert_int_equal(rc, 0);
    assert_true(daemon > 0);
    assert_int_equal(waitpid(daemon, &status, 0), daemon);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    tether_core_free(core);
}

static void test_detach_refuses_children(void **state)
{
    struct tether_log log;
    struct tether_core *core = new_core(&log);
    struct tether_error err = {0};
    struct done_rec d = {0};
    /* Long enough to be running when the test detaches; it then ends on its own. */
    int ms = 300;
    pid_t daemon = 0;

    (void)state;
    assert_int_equal(tether_core_fork(core, child_sleep, &ms, record_done, &d, &err), 0);
    assert_int_equal(tether_core_detach(core, &daemon, &err), -1);
    assert_true(daemon < 0);
    assert_non_null(strstr(err.msg, "children"));
    tether_core_free(core);
}

int main(void)
{
    /* test_detach_daemon first: a child of an earlier test ending while it runs would send
     * SIGCHLD to the test process, whose signalfd, shared through the inherited epoll set,
     * would then wake the daemon's loop even without a signalfd of its own. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detach_daemon),
        cmocka_unit_test(test_fork_status),
        cmocka_unit_test(test_loop_goes_on),
        cmocka_unit_test(test_shutdown_leaves_child),
        cmocka_unit_test(test_detach_refuses_children),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
