/* ctr against a private containerd with the tether runtime (io.containerd.tether.v2):
 * `ctr run --rm` (exit codes, stdout and stderr apart, stdin, a terminal sized through
 * ResizePty), `ctr run -d` with `ctr task exec` (exit code, stdin, terminal), `task ps`,
 * pause and resume, metrics, checkpoint, kill (a signal, --all), `task rm`, `c rm`, and no shim
 * left once the last container of a shim is gone. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_containerd.h"

#define RUNTIME "--runtime", TH_CTRD_RUNTIME

static int setup(void **state)
{
    struct th_ctrd *c = xzalloc(sizeof(*c));

    th_ctrd_start(c, false);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct th_ctrd *c = *state;

    th_ctrd_stop(c);
    free(c);
    return 0;
}

/* ctr ARGS with the test's address and namespace, as a th_cmd. */
static void ctr_cmd(struct th_ctrd *c, struct th_cmd *cmd, const char **argv, size_t max,
                    const char *const *args)
{
    th_ctr_argv(c, argv, max, args);
    memset(cmd, 0, sizeof(*cmd));
    cmd->argv = argv;
}

static void assert_no_shim(struct th_ctrd *c)
{
    pid_t pids[8];

    /* The shim leaves right after containerd's Shutdown. */
    for (int i = 0; i < 250 && th_ctrd_shims(c, pids, 8) > 0; i++)
        usleep(20000);
    assert_int_equal(th_ctrd_shims(c, pids, 8), 0);
}

static void test_run_exit_codes(void **state)
{
    struct th_ctrd *c = *state;
    char *out = NULL, *err = NULL;

    th_ctrd_track(c, "rc0");
    assert_int_equal(th_ctr(c, &out, &err, "run", "--rm", RUNTIME, TH_CTRD_IMAGE, "rc0", "true"),
                     0);
    free(out);
    free(err);
    th_ctrd_track(c, "rc7");
    assert_int_equal(th_ctr(c, &out, &err, "run", "--rm", RUNTIME, TH_CTRD_IMAGE, "rc7", "sh", "-c",
                            "echo to-out; echo to-err >&2; exit 7"),
                     7);
    /* stdout and stderr stay apart. */
    assert_string_equal(out, "to-out\n");
    assert_string_equal(err, "to-err\n");
    free(out);
    free(err);
    assert_no_shim(c);
}

static void test_run_killed(void **state)
{
    struct th_ctrd *c = *state;
    static const char *const args[] = {"run",   "--rm",  RUNTIME, TH_CTRD_IMAGE,
                                       "rc137", "sleep", "1000",  NULL};
    const char *argv[32];
    struct th_cmd run;

    th_ctrd_track(c, "rc137");
    ctr_cmd(c, &run, argv, 32, args);
    th_cmd_start(&run);
    assert_true(th_ctrd_wait_status(c, "rc137", "RUNNING", 30000));
    assert_int_equal(th_ctr(c, NULL, NULL, "task", "kill", "-s", "KILL", "rc137"), 0);
    assert_int_equal(th_cmd_finish(&run), 137);
    th_cmd_free(&run);
    assert_no_shim(c);
}

static void test_run_stdin(void **state)
{
    struct th_ctrd *c = *state;
    static const char *const args[] = {
        "run", "--rm", RUNTIME, TH_CTRD_IMAGE, "stdin1", "sh", "-c", "cat; echo eof-seen", NULL};
    const char *argv[32];
    struct th_cmd run;

    th_ctrd_track(c, "stdin1");
    ctr_cmd(c, &run, argv, 32, args);
    /* After ctr set up its task: only then does its end of input become a CloseIO. */
    run.input = "hello stdin\n";
    run.input_delay_ms = 1500;
    assert_int_equal(th_cmd_run(&run), 0);
    assert_string_equal(run.out, "hello stdin\neof-seen\n");
    th_cmd_free(&run);
}

static void test_run_tty(void **state)
{
    struct th_ctrd *c = *state;
    static const char *const args[] = {"run",   "--rm",        "-t",
                                       RUNTIME, TH_CTRD_IMAGE, "tty1",
                                       "sh",    "-c",          "sleep 1; stty size; tty; exit 5",
                                       NULL};
    const char *argv[32];
    struct th_cmd run;

    th_ctrd_track(c, "tty1");
    ctr_cmd(c, &run, argv, 32, args);
    run.tty = true;
    run.rows = 31;
    run.cols = 97;
    assert_int_equal(th_cmd_run(&run), 5);
    /* The size ctr's terminal has, set by ResizePty. */
    assert_non_null(strstr(run.out, "31 97"));
    assert_non_null(strstr(run.out, "/dev/pts/"));
    th_cmd_free(&run);
}

static void test_detached_exec(void **state)
{
    struct th_ctrd *c = *state;
    static const char *const exec_stdin[] = {"task", "exec", "--exec-id",   "ex-in", "det1",
                                             "sh",   "-c",   "cat; exit 4", NULL};
    static const char *const exec_tty[] = {"task",      "exec",   "-t",
                                           "--exec-id", "ex-tty", "det1",
                                           "sh",        "-c",     "sleep 1; stty size; exit 9",
                                           NULL};
    const char *argv[32];
    struct th_cmd cmd;
    char *out = NULL, *err = NULL;

    th_ctrd_track(c, "det1");
    assert_int_equal(
        th_ctr(c, NULL, NULL, "run", "-d", RUNTIME, TH_CTRD_IMAGE, "det1", "sleep", "1000"), 0);
    assert_true(th_ctrd_wait_status(c, "det1", "RUNNING", 30000));

    assert_int_equal(th_ctr(c, &out, &err, "task", "exec", "--exec-id", "ex1", "det1", "sh", "-c",
                            "echo exec-out; echo exec-err >&2; exit 3"),
                     3);
    assert_string_equal(out, "exec-out\n");
    assert_string_equal(err, "exec-err\n");
    free(out);
    free(err);

    ctr_cmd(c, &cmd, argv, 32, exec_stdin);
    cmd.input = "into the exec\n";
    cmd.input_delay_ms = 1500;
    assert_int_equal(th_cmd_run(&cmd), 4);
    assert_string_equal(cmd.out, "into the exec\n");
    th_cmd_free(&cmd);

    ctr_cmd(c, &cmd, argv, 32, exec_tty);
    cmd.tty = true;
    cmd.rows = 20;
    cmd.cols = 60;
    assert_int_equal(th_cmd_run(&cmd), 9);
    assert_non_null(strstr(cmd.out, "20 60"));
    th_cmd_free(&cmd);

    /* An exec id in use is refused. */
    {
        static const char *const keep[] = {"task", "exec",  "--exec-id", "ex-keep",
                                           "det1", "sleep", "1000",      NULL};
        struct th_cmd bg;
        ctr_cmd(c, &bg, argv, 32, keep);
        bg.timeout_ms = 60000;
        th_cmd_start(&bg);
        /* ps shows the exec's process with its exec id (ProcessDetails). */
        for (int i = 0; i < 200; i++) {
            out = NULL;
            th_ctr(c, &out, NULL, "task", "ps", "det1");
            if (strstr(out, "ex-keep") != NULL)
                break;
            free(out);
            out = NULL;
            usleep(50000);
        }
        assert_non_null(out);
        assert_non_null(strstr(out, "ExecID:ex-keep"));
        free(out);
        assert_int_not_equal(
            th_ctr(c, NULL, &err, "task", "exec", "--exec-id", "ex-keep", "det1", "true"), 0);
        assert_non_null(strstr(err, "already exists"));
        free(err);
        assert_int_equal(th_ctr(c, NULL, NULL, "task", "kill", "-s", "KILL", "-a", "det1"), 0);
        th_cmd_finish(&bg);
        th_cmd_free(&bg);
    }
    assert_true(th_ctrd_wait_status(c, "det1", "STOPPED", 30000));
    assert_int_equal(th_ctr(c, NULL, &err, "task", "rm", "det1"), 0);
    assert_non_null(strstr(err, "137"));
    free(err);
    assert_int_equal(th_ctr(c, NULL, NULL, "c", "rm", "det1"), 0);
    assert_no_shim(c);
}

static void test_pause_metrics_kill(void **state)
{
    struct th_ctrd *c = *state;
    char *out = NULL, *err = NULL;

    th_ctrd_track(c, "pmk");
    assert_int_equal(th_ctr(c, NULL, NULL, "run", "-d", RUNTIME, TH_CTRD_IMAGE, "pmk", "sh", "-c",
                            "trap 'exit 42' TERM; while true; do sleep 0.1; done"),
                     0);
    assert_true(th_ctrd_wait_status(c, "pmk", "RUNNING", 30000));
    assert_int_equal(th_ctr(c, NULL, NULL, "task", "pause", "pmk"), 0);
    assert_true(th_ctrd_wait_status(c, "pmk", "PAUSED", 5000));
    assert_int_equal(th_ctr(c, NULL, NULL, "task", "resume", "pmk"), 0);
    assert_true(th_ctrd_wait_status(c, "pmk", "RUNNING", 5000));

    assert_int_equal(th_ctr(c, &out, &err, "task", "metrics", "pmk"), 0);
    if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0) {
        assert_non_null(strstr(out, "memory.usage"));
        assert_non_null(strstr(out, "cpu.usage_usec"));
    } else {
        assert_non_null(strstr(out, "memory.usage_in_bytes"));
        assert_non_null(strstr(out, "cpuacct.usage"));
        /* Time per CPU, from cpuacct.usage_percpu. */
        assert_non_null(strstr(out, "cpuacct.usage_percpu"));
        assert_null(strstr(out, "[]"));
    }
    assert_non_null(strstr(out, "pids.current"));
    free(out);
    free(err);

    /* A checkpoint: where CRIU cannot run, its error comes back, clearly, and the container
     * runs on; where it can, the container runs on too (ctr leaves it running). */
    if (th_ctr(c, NULL, &err, "task", "checkpoint", "pmk") != 0) {
        assert_non_null(strstr(err, "criu"));
        assert_non_null(strstr(err, "criu-dump.log"));
    }
    free(err);
    assert_true(th_ctrd_wait_status(c, "pmk", "RUNNING", 5000));

    /* The container's own handler turns TERM into exit 42. */
    assert_true(th_ctrd_rootfs_mounted(c, "pmk"));
    assert_int_equal(th_ctr(c, NULL, NULL, "task", "kill", "-s", "TERM", "pmk"), 0);
    assert_true(th_ctrd_wait_status(c, "pmk", "STOPPED", 30000));
    /* The runtime lets go of a stopped task before containerd's Delete (the task stays
     * STOPPED, with its exit, and its rootfs mounted until then). */
    for (int i = 0; i < 250 && th_ctrd_runtime_has(c, "pmk"); i++)
        usleep(20000);
    assert_false(th_ctrd_runtime_has(c, "pmk"));
    assert_true(th_ctrd_rootfs_mounted(c, "pmk"));
    assert_true(th_ctrd_wait_status(c, "pmk", "STOPPED", 1000));
    assert_int_not_equal(th_ctr(c, NULL, &err, "task", "metrics", "pmk"), 0);
    free(err);
    /* Kill --all of a stopped task is fine; a plain kill finds nothing to signal. */
    assert_int_equal(th_ctr(c, NULL, NULL, "task", "kill", "-a", "-s", "KILL", "pmk"), 0);
    assert_int_not_equal(th_ctr(c, NULL, NULL, "task", "kill", "-s", "KILL", "pmk"), 0);
    assert_int_equal(th_ctr(c, NULL, &err, "task", "rm", "pmk"), 0);
    assert_non_null(strstr(err, "exit code 42"));
    free(err);
    assert_false(th_ctrd_rootfs_mounted(c, "pmk"));
    assert_int_equal(th_ctr(c, NULL, NULL, "c", "rm", "pmk"), 0);
    assert_no_shim(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_exit_codes), cmocka_unit_test(test_run_killed),
        cmocka_unit_test(test_run_stdin),      cmocka_unit_test(test_run_tty),
        cmocka_unit_test(test_detached_exec),  cmocka_unit_test(test_pause_metrics_kill),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
