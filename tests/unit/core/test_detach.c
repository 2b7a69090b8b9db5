/* tether_core_detach: the daemon leads a session of its own, is a child subreaper, and takes
 * its own signals through the loop it inherited (a signalfd added by the launcher would
 * report the launcher's signals, not the daemon's); a core with children refuses to detach. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
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

static int usr1_seen;

static void on_signal(void *opaque, int sig)
{
    (void)opaque;
    if (sig == SIGUSR1)
        usr1_seen++;
}

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

/* Long enough to be running when the test detaches; it then ends on its own. */
static int child_sleep(void *arg)
{
    const struct timespec ts = {.tv_sec = 0, .tv_nsec = 300 * 1000000L};

    (void)arg;
    nanosleep(&ts, NULL);
    return 0;
}

static void record_done(void *opaque, int wait_status)
{
    (void)opaque;
    (void)wait_status;
}

static void test_detach_refuses_children(void **state)
{
    struct tether_log log;
    struct tether_core *core = new_core(&log);
    struct tether_error err = {0};
    pid_t daemon = 0;

    (void)state;
    assert_int_equal(tether_core_fork(core, child_sleep, NULL, record_done, NULL, &err), 0);
    assert_int_equal(tether_core_detach(core, &daemon, &err), -1);
    assert_true(daemon < 0);
    assert_non_null(strstr(err.msg, "children"));
    tether_core_free(core);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detach_daemon),
        cmocka_unit_test(test_detach_refuses_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
