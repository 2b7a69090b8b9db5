/* Container lifecycles with tether-shim --foreground running under valgrind's memcheck:
 * from start to shutdown, no invalid access, no use of uninitialised memory and no
 * definite leak. Run by hack/valgrind.sh (TETHER_VALGRIND=1 and a build without
 * sanitizers, which valgrind cannot run); skipped everywhere else. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

/* Everything is 20 to 50 times slower under memcheck. */
#define VG_READY_MS 120000
#define VG_EXIT_MS  120000
#define VG_ERROR    99

static const char *const argv_read[] = {"sh", "-c", "read x; echo \"got $x\"", NULL};

struct vg_shim {
    pid_t pid; /* valgrind, which runs the shim in its own process */
    char socket[PATH_MAX];
    char log[PATH_MAX];         /* valgrind's report */
    char stderr_path[PATH_MAX]; /* the shim's own log (foreground: stderr) */
};

static void read_ready_line(int fd, char *buf, size_t len)
{
    size_t n = 0;

    while (n + 1 < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t r;

        if (poll(&pfd, 1, VG_READY_MS) != 1)
            fail_msg("the shim under valgrind never became ready");
        r = read(fd, buf + n, len - 1 - n);
        if (r <= 0)
            fail_msg("the shim under valgrind exited before it was ready");
        n += (size_t)r;
        buf[n] = '\0';
        if (strchr(buf, '\n') != NULL)
            return;
    }
    fail_msg("ready line too long");
}

static void vg_launch(struct vg_shim *vg, const struct th_fixture *f)
{
    cleanup_free char *log_opt = NULL;
    char ready[8192];
    json_auto_t *info = NULL;
    int pipefd[2];

    if ((size_t)snprintf(vg->log, sizeof(vg->log), "%s/valgrind.log", f->env.dir) >=
            sizeof(vg->log) ||
        (size_t)snprintf(vg->stderr_path, sizeof(vg->stderr_path), "%s/shim.stderr", f->env.dir) >=
            sizeof(vg->stderr_path))
        fail_msg("path too long");
    log_opt = xasprintf("--log-file=%s", vg->log);
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    vg->pid = fork();
    assert_true(vg->pid >= 0);
    if (vg->pid == 0) {
        const char *argv[] = {"valgrind",
                              "--quiet",
                              "--leak-check=full",
                              "--show-leak-kinds=definite",
                              "--errors-for-leak-kinds=definite",
                              "--error-exitcode=99",
                              "--child-silent-after-fork=yes",
                              "--num-callers=30",
                              log_opt,
                              th_bin("tether-shim"),
                              "--id",
                              f->id,
                              "--bundle",
                              f->bundle,
                              "--state-dir",
                              f->env.state_dir,
                              "--runtime",
                              f->runtime,
                              "--runtime-root",
                              f->env.runtime_root,
                              "--log-level",
                              "debug",
                              "--foreground",
                              NULL};
        int err_fd = open(vg->stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(pipefd[1], STDOUT_FILENO);
        if (err_fd >= 0)
            dup2(err_fd, STDERR_FILENO);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    read_ready_line(pipefd[0], ready, sizeof(ready));
    close(pipefd[0]);
    info = json_loads(ready, 0, NULL);
    if (info == NULL)
        fail_msg("ready line is not JSON: %s", ready);
    snprintf(vg->socket, sizeof(vg->socket), "%s", th_str(info, "socket"));
}

/* Waits for valgrind to finish and returns its exit status (or -1 on a signal). */
static int vg_wait(struct vg_shim *vg)
{
    int status, waited;

    for (waited = 0; waited < VG_EXIT_MS; waited += 20) {
        pid_t r = waitpid(vg->pid, &status, WNOHANG);
        if (r == vg->pid) {
            vg->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        usleep(20000);
    }
    kill(vg->pid, SIGKILL);
    waitpid(vg->pid, &status, 0);
    vg->pid = 0;
    fail_msg("the shim under valgrind did not exit after shutdown");
    return -1;
}

/* create, an exec, input, and the exit (by itself, or by a kill). */
static void lifecycle(struct tether_client *c, json_t *create_params, bool killed)
{
    json_auto_t *res = NULL, *st = NULL, *exec_res = NULL;

    json_decref(th_call_ok(c, "create", create_params));
    json_decref(th_call_ok(c, "start", NULL));
    json_decref(th_call_ok(c, "exec",
                           json_pack("{s:s,s:{s:[s],s:s}}", "exec_id", "e1", "process", "args",
                                     "/bin/true", "cwd", "/")));
    exec_res = th_call_ok(c, "wait", json_pack("{s:s}", "exec_id", "e1"));
    assert_int_equal(th_int(exec_res, "exit_status"), 0);
    if (killed)
        json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "KILL")));
    else
        json_decref(th_call_ok(c, "input", json_pack("{s:s}", "data", "aGkK"))); /* "hi\n" */
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), killed ? 137 : 0);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    json_decref(th_call_ok(c, "delete", NULL));
}

static void test_lifecycle_under_valgrind(void **state)
{
    static const char bad[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":[1,{\"a\":\"\xff\"}]}\n";
    struct th_fixture *f = *state;
    struct vg_shim vg = {0};
    struct tether_client *c, *sub;
    struct tether_error err = {0};
    cleanup_free char *log = NULL;
    json_auto_t *msg = NULL;
    int rc;

    th_require_runtime(&f->env, f->runtime);
    th_make_bundle(&f->env, "bundle", argv_read, f->bundle, sizeof(f->bundle));
    th_shim_unique_id("it-vg", f->id, sizeof(f->id));
    vg_launch(&vg, f);
    /* The teardown kills it if the test fails half-way (it is the shim's process). */
    f->shim.pid = vg.pid;

    c = tether_client_connect(vg.socket, &err);
    if (c == NULL)
        fail_msg("connect: %s", err.msg);
    sub = tether_client_connect(vg.socket, &err);
    if (sub == NULL)
        fail_msg("connect: %s", err.msg);
    json_decref(th_call_ok(sub, "subscribe", NULL));
    json_decref(th_call_ok(c, "version", NULL));
    /* The error paths of decoding and validation. */
    assert_int_equal(tether_client_send_raw(c, bad, sizeof(bad) - 1, &err), 0);
    msg = th_read_message(c);
    assert_non_null(json_object_get(msg, "error"));
    th_call_fail(c, "kill", json_pack("{s:s}", "signal", "SIGNOPE"), TETHER_RPC_INVALID_PARAMS,
                 NULL, 0);
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);

    /* (seccomp notification cannot run under valgrind: it does not know seccomp(2).) */
    lifecycle(c, json_pack("{s:b}", "stdin", 1), false);
    lifecycle(c, json_pack("{s:b,s:{s:s}}", "stdin", 1, "log", "format", "jsonl"), true);
    json_decref(th_wait_event(sub, "delete"));
    tether_client_close(sub);

    json_decref(th_call_ok(c, "shutdown", NULL));
    tether_client_close(c);
    rc = vg_wait(&vg);
    f->shim.pid = 0;
    if (rc != 0) {
        tether_read_file(vg.log, 1 << 20, &log, NULL, &err);
        fail_msg("valgrind: exit %d%s\n%s", rc, rc == VG_ERROR ? " (memcheck errors)" : "",
                 log ? log : "(no log)");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_RUNTIME_TEST(test_lifecycle_under_valgrind, "runc"),
    };

    if (getenv("TETHER_VALGRIND") == NULL) {
        printf("SKIP: run by hack/valgrind.sh (TETHER_VALGRIND=1, no sanitizers)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
