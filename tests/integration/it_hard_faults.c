/* Faults around tether-shim: a runtime binary that is missing, not executable, hangs or is
 * killed in the middle of `create`; a state directory on a full filesystem; an engine
 * killed while its calls are pending. The shim answers with a clear error, leaves no
 * zombie, keeps the exit status and stays usable. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

/* exit.json retries run 1 s, 2 s, 4 s … apart, 30 s at most. */
#define PERSIST_RETRY_MS 35000
#define SMALL_FS_SIZE    "size=512k"

static const char *const argv_sleep[] = {"sleep", "1000", NULL};
static const char *const argv_true[] = {"true", NULL};
static const char *const argv_wait_go[] = {
    "sh", "-c", "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3", NULL};

static void write_file(const char *path, const char *text, mode_t mode)
{
    struct tether_error err = {0};

    if (tether_write_file_atomic(path, text, strlen(text), mode, &err) < 0)
        fail_msg("%s", err.msg);
}

/* A runtime that runs runc, except that its first `create` writes its pid to
 * <dir>/runtime.pid and hangs (the pid stays the runtime's: exec). */
static char *make_hanging_runtime(const struct th_env *env)
{
    char *path = xasprintf("%s/hang-runtime", env->dir);
    cleanup_free char *script = xasprintf("#!/bin/sh\n"
                                          "for a in \"$@\"; do\n"
                                          "    if [ \"$a\" = create ] && [ ! -e %s/hung ]; then\n"
                                          "        : >%s/hung\n"
                                          "        echo $$ >%s/runtime.pid\n"
                                          "        exec sleep 1000\n"
                                          "    fi\n"
                                          "done\n"
                                          "exec runc \"$@\"\n",
                                          env->dir, env->dir, env->dir);

    write_file(path, script, 0755);
    return path;
}

static pid_t read_runtime_pid(const struct th_env *env)
{
    cleanup_free char *path = xasprintf("%s/runtime.pid", env->dir);
    cleanup_free char *text = NULL;
    struct tether_error err = {0};

    if (!th_wait_path(path, TH_CALL_MS))
        fail_msg("the fake runtime never started");
    /* Written with a shell redirection: wait until the number is complete. */
    for (int i = 0; i < 100; i++) {
        free(text);
        text = NULL;
        if (tether_read_file(path, 64, &text, NULL, &err) == 0 && strchr(text, '\n') != NULL)
            return (pid_t)atoi(text);
        usleep(10000);
    }
    fail_msg("no pid in %s", path);
    return -1;
}

/* After a failed create: no zombie, no container, and a real lifecycle works. */
static void assert_usable(const struct th_fixture *f, struct tether_client *c)
{
    json_auto_t *res = NULL;

    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    json_decref(th_call_ok(c, "version", NULL));
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 0);
    json_decref(th_call_ok(c, "delete", NULL));
    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
}

static void launch_with(struct th_fixture *f, const char *const argv[], const char *runtime,
                        const char *const *extra)
{
    struct tether_error err = {0};

    th_make_bundle(&f->env, "bundle", argv, f->bundle, sizeof(f->bundle));
    th_shim_unique_id("it-fault", f->id, sizeof(f->id));
    if (th_shim_try_launch(&f->shim, &f->env, runtime, f->id, f->bundle, extra, &err) < 0)
        fail_msg("launch: %s", err.msg);
}

/* The launcher refuses at once, names the path, and leaves nothing behind. */
static void expect_launch_refused(struct th_fixture *f, const char *runtime, const char *why)
{
    struct tether_error err = {0};
    cleanup_free char *dir = NULL;

    th_make_bundle(&f->env, "bundle", argv_true, f->bundle, sizeof(f->bundle));
    th_shim_unique_id("it-fault", f->id, sizeof(f->id));
    assert_int_equal(th_shim_try_launch(&f->shim, &f->env, runtime, f->id, f->bundle, NULL, &err),
                     -1);
    assert_int_equal(f->shim.pid, 0);
    if (strstr(err.msg, runtime) == NULL || strstr(err.msg, why) == NULL)
        fail_msg("launcher said \"%s\", want %s and \"%s\"", err.msg, runtime, why);
    dir = xasprintf("%s/%s", f->env.state_dir, f->id);
    assert_false(th_path_exists(dir));
}

static void test_runtime_missing(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *missing = xasprintf("%s/no-such-runtime", f->env.dir);

    expect_launch_refused(f, missing, "No such file or directory");
}

static void test_runtime_not_executable(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *noexec = xasprintf("%s/noexec-runtime", f->env.dir);

    write_file(noexec, "#!/bin/sh\nexec runc \"$@\"\n", 0644);
    expect_launch_refused(f, noexec, "not executable");
}

/* create fails with an error that names what. */
static void create_fails_naming(struct tether_client *c, const char *what)
{
    struct tether_error err = {0};
    int code = 0;
    json_t *res = tether_client_call(c, "create", NULL, TH_CALL_MS, &code, &err);

    if (res != NULL)
        fail_msg("create succeeded");
    if (code == 0 || strstr(err.msg, what) == NULL)
        fail_msg("create failed with %d \"%s\", want an error naming %s", code, err.msg, what);
}

/* The runtime goes away after the shim started: create fails, nothing is left over. */
static void test_runtime_removed_later(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *rt = xasprintf("%s/vanishing-runtime", f->env.dir);
    struct tether_client *c;

    write_file(rt, "#!/bin/sh\nexec runc \"$@\"\n", 0755);
    launch_with(f, argv_true, rt, NULL);
    c = th_shim_connect(&f->shim);
    assert_int_equal(chmod(rt, 0644), 0);
    create_fails_naming(c, "vanishing-runtime");
    assert_int_equal(unlink(rt), 0);
    create_fails_naming(c, "vanishing-runtime");
    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    /* Back in place: usable again. */
    write_file(rt, "#!/bin/sh\nexec runc \"$@\"\n", 0755);
    assert_usable(f, c);
    tether_client_close(c);
}

static void test_runtime_hangs(void **state)
{
    static const char *const extra[] = {"--runtime-timeout", "1", NULL};
    struct th_fixture *f = *state;
    cleanup_free char *rt = make_hanging_runtime(&f->env);
    struct tether_client *c;
    char msg[TETHER_ERROR_MSG_MAX];
    pid_t hung;

    launch_with(f, argv_true, rt, extra);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "create", NULL, TETHER_RPC_RUNTIME, msg, sizeof(msg));
    if (strstr(msg, "did not finish within 1000 ms") == NULL)
        fail_msg("create failed with \"%s\"", msg);
    /* The hung runtime was killed and reaped. */
    hung = read_runtime_pid(&f->env);
    assert_true(th_wait_pid_dead(hung, TH_GONE_MS));
    assert_usable(f, c);
    tether_client_close(c);
}

static void test_runtime_killed_in_create(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *rt = make_hanging_runtime(&f->env);
    struct tether_client *c, *other;
    struct tether_error err = {0};
    json_auto_t *resp = NULL;
    json_t *error;
    int64_t id;
    pid_t pid;

    launch_with(f, argv_true, rt, NULL);
    c = th_shim_connect(&f->shim);
    id = tether_client_send(c, "create", NULL, &err);
    assert_true(id > 0);
    pid = read_runtime_pid(&f->env);
    /* The shim serves others while its runtime is stuck. */
    other = th_shim_connect(&f->shim);
    th_call_fail(other, "start", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    assert_int_equal(kill(pid, SIGKILL), 0);
    resp = th_response(c, id);
    error = json_object_get(resp, "error");
    assert_non_null(error);
    assert_int_equal(th_int(error, "code"), TETHER_RPC_RUNTIME);
    if (strstr(th_str(error, "message"), "SIGKILL") == NULL)
        fail_msg("create failed with \"%s\"", th_str(error, "message"));
    assert_true(th_wait_pid_dead(pid, TH_GONE_MS));
    assert_usable(f, c);
    tether_client_close(other);
    tether_client_close(c);
}

/* ---- a full filesystem under the state dir ---- */

static char *small_fs_path(const struct th_fixture *f)
{
    return xasprintf("%s/small", f->env.dir);
}

static int small_fs_teardown(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *mnt = small_fs_path(f);

    th_shim_stop(&f->shim);
    umount2(mnt, MNT_DETACH);
    return th_fixture_teardown(state);
}

/* Writes into path until the filesystem is full. */
static void fill_up(const char *path)
{
    static const char chunk[4096];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ssize_t n;

    assert_true(fd >= 0);
    do
        n = write(fd, chunk, sizeof(chunk));
    while (n > 0);
    if (errno != ENOSPC)
        fail_msg("filling %s: %s", path, strerror(errno));
    close(fd);
}

static void test_exit_json_full_fs(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *mnt = small_fs_path(f);
    cleanup_free char *filler = xasprintf("%s/filler", mnt);
    cleanup_free char *exit_path = NULL;
    cleanup_free char *text = NULL;
    struct tether_error err = {0};
    struct th_env small = f->env;
    struct tether_client *c;
    json_auto_t *res = NULL, *st = NULL, *rec = NULL;

    if (mkdir(mnt, 0700) < 0 || mount("tmpfs", mnt, "tmpfs", 0, SMALL_FS_SIZE) < 0) {
        printf("SKIP: cannot mount a tmpfs at %s: %s\n", mnt, strerror(errno));
        skip();
    }
    snprintf(small.state_dir, sizeof(small.state_dir), "%s", mnt);
    th_make_bundle(&f->env, "bundle", argv_sleep, f->bundle, sizeof(f->bundle));
    th_shim_unique_id("it-fullfs", f->id, sizeof(f->id));
    if (th_shim_try_launch(&f->shim, &small, f->runtime, f->id, f->bundle, NULL, &err) < 0)
        fail_msg("launch: %s", err.msg);
    exit_path = xasprintf("%s/exit.json", f->shim.dir);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));

    fill_up(filler);
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "KILL")));
    /* exit.json cannot be written: the status is kept and told all the same. */
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 137);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "exit_status"), 137);
    assert_true(json_is_false(json_object_get(st, "exit_persisted")));
    assert_false(th_path_exists(exit_path));
    assert_true(th_pid_alive(f->shim.pid));

    /* Room again: a retry writes it. */
    assert_int_equal(unlink(filler), 0);
    if (!th_wait_path(exit_path, PERSIST_RETRY_MS))
        fail_msg("%s not written within %d ms of freeing space", exit_path, PERSIST_RETRY_MS);
    assert_int_equal(tether_read_file(exit_path, 4096, &text, NULL, &err), 0);
    rec = json_loads(text, 0, NULL);
    assert_non_null(rec);
    assert_int_equal(th_int(rec, "exit_status"), 137);
    assert_string_equal(th_str(rec, "signal"), "SIGKILL");
    json_decref(st);
    st = th_call_ok(c, "state", NULL);
    assert_null(json_object_get(st, "exit_persisted"));
    json_decref(th_call_ok(c, "delete", NULL));
    tether_client_close(c);
}

/* ---- an engine killed with calls pending ---- */

/* The engine: subscribes, leaves a wait pending, tells the parent, and hangs there. */
static void __attribute__((noreturn)) engine_main(const char *socket, int ready_fd)
{
    struct tether_error err = {0};
    struct tether_client *c = tether_client_connect(socket, &err);
    json_t *res;

    if (c == NULL)
        _exit(2);
    res = tether_client_call(c, "subscribe", NULL, TH_CALL_MS, NULL, &err);
    if (res == NULL || tether_client_send(c, "wait", NULL, &err) < 0 ||
        tether_client_send(c, "pids", NULL, &err) < 0 || write(ready_fd, "r", 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

static void test_engine_restart(void **state)
{
    static const char *const topics[] = {"create", "start", "exit"};
    struct th_fixture *f = *state;
    cleanup_free char *go = NULL;
    struct tether_client *ctl, *engine;
    json_auto_t *res = NULL;
    int pipefd[2], status;
    char byte;
    pid_t child;
    size_t i;

    th_fixture_start(f, argv_wait_go, th_edit_writable_rootfs, NULL);
    go = xasprintf("%s/rootfs/tmp/go", f->bundle);
    ctl = th_shim_connect(&f->shim);
    json_decref(th_call_ok(ctl, "create", NULL));
    json_decref(th_call_ok(ctl, "start", NULL));
    tether_client_close(ctl);

    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0)
        engine_main(f->shim.socket, pipefd[1]);
    close(pipefd[1]);
    assert_int_equal(read(pipefd[0], &byte, 1), 1);
    close(pipefd[0]);
    /* The engine dies with a subscription and two calls pending... */
    assert_int_equal(kill(child, SIGKILL), 0);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status));
    /* ...and the container exits while nobody listens. */
    write_file(go, "", 0644);

    /* The engine is back: the replay has every event, the wait the status. */
    engine = th_shim_connect(&f->shim);
    json_decref(th_call_ok(engine, "subscribe", json_pack("{s:i}", "since", 0)));
    for (i = 0; i < TETHER_ARRAY_SIZE(topics); i++) {
        json_auto_t *ev = th_next_event(engine);
        assert_string_equal(th_str(ev, "topic"), topics[i]);
        assert_int_equal(th_int(ev, "seq"), (long long)i + 1);
        if (i == 2)
            assert_int_equal(th_int(ev, "exit_status"), 3);
    }
    res = th_call_ok(engine, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 3);
    json_decref(th_call_ok(engine, "delete", NULL));
    {
        json_auto_t *ev = th_next_event(engine);
        assert_string_equal(th_str(ev, "topic"), "delete");
        assert_int_equal(th_int(ev, "seq"), 4);
    }
    th_assert_no_notification(engine);
    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
    tether_client_close(engine);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_RUNTIME_TEST(test_runtime_missing, "runc"),
        TH_RUNTIME_TEST(test_runtime_not_executable, "runc"),
        TH_RUNTIME_TEST(test_runtime_removed_later, "runc"),
        TH_RUNTIME_TEST(test_runtime_hangs, "runc"),
        TH_RUNTIME_TEST(test_runtime_killed_in_create, "runc"),
        cmocka_unit_test_setup_teardown(test_exit_json_full_fs, th_fixture_setup,
                                        small_fs_teardown),
        TH_BOTH_RUNTIMES(test_engine_restart),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
