/* tether-shim's launcher and its end: the one line it prints, ids and second shims it
 * refuses, the socket's permissions, shutdown, exit.json outliving the shim, SIGTERM. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

static const char *const argv_sleep[] = {"sleep", "1000", NULL};
static const char *const argv_exit7[] = {"sh", "-c", "exit 7", NULL};

/* Entries of dir other than . and .. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;

    if (d == NULL)
        fail_msg("opendir %s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* <shim dir>/name into a new string. */
static char *shim_file(const struct th_shim *shim, const char *name)
{
    return xasprintf("%s/%s", shim->dir, name);
}

/* Field 7 of /proc/PID/stat: the controlling terminal (0 for none). */
static int stat_tty_nr(pid_t pid)
{
    cleanup_free char *path = xasprintf("/proc/%d/stat", (int)pid);
    cleanup_free char *text = NULL;
    struct tether_error err = {0};
    const char *p;
    int tty = -1;

    if (tether_read_file(path, 4096, &text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    /* The command name may hold spaces: fields count from the last ')'. */
    p = strrchr(text, ')');
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %d", &tty) != 1)
        fail_msg("unexpected %s: %s", path, text);
    return tty;
}

static void test_prints_one_line(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *out = NULL, *sock = NULL, *pid_path = NULL, *pid_text = NULL;
    struct tether_error err = {0};
    struct tether_client *c;
    json_auto_t *info = NULL;
    json_error_t jerr;
    char *nl;
    int status;

    th_make_bundle(&f->env, "bundle", argv_sleep, f->bundle, sizeof(f->bundle));
    th_shim_unique_id("it-launch", f->id, sizeof(f->id));
    {
        const char *argv[] = {th_bin("tether-shim"),
                              "--id",
                              f->id,
                              "--bundle",
                              f->bundle,
                              "--state-dir",
                              f->env.state_dir,
                              "--runtime-root",
                              f->env.runtime_root,
                              NULL};
        status = th_run(argv, &out);
    }
    /* Whatever happened, make sure a shim that did start is stopped at the end. */
    info = json_loads(out, JSON_DISABLE_EOF_CHECK, &jerr);
    if (json_is_integer(json_object_get(info, "pid"))) {
        f->shim.pid = (pid_t)json_integer_value(json_object_get(info, "pid"));
        if ((size_t)snprintf(f->shim.dir, sizeof(f->shim.dir), "%s/%s", f->env.state_dir, f->id) >=
            sizeof(f->shim.dir))
            fail_msg("state dir path too long");
    }
    assert_int_equal(status, 0);
    nl = strchr(out, '\n');
    if (nl == NULL || nl[1] != '\0')
        fail_msg("launcher output is not exactly one line: \"%s\"", out);
    json_decref(info);
    info = json_loads(out, 0, &jerr);
    if (info == NULL)
        fail_msg("launcher output is not JSON: %s (%s)", out, jerr.text);
    assert_int_equal(json_object_size(info), 3);
    assert_string_equal(th_str(info, "id"), f->id);
    assert_true(th_int(info, "pid") > 1);
    assert_true(th_pid_alive(f->shim.pid));
    sock = xasprintf("%s/%s/shim.sock", f->env.state_dir, f->id);
    assert_string_equal(th_str(info, "socket"), sock);
    snprintf(f->shim.socket, sizeof(f->shim.socket), "%s", sock);

    pid_path = shim_file(&f->shim, "shim.pid");
    if (tether_read_file(pid_path, 64, &pid_text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(atoi(pid_text), f->shim.pid);
    /* The daemon left the caller's session: it leads one of its own, with no terminal. */
    assert_int_equal(getsid(f->shim.pid), f->shim.pid);
    assert_int_equal(stat_tty_nr(f->shim.pid), 0);
    /* The launcher returned only once the socket accepts connections. */
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "shutdown", NULL));
    tether_client_close(c);
    assert_true(th_wait_pid_dead(f->shim.pid, TH_GONE_MS));
}

static void test_invalid_ids(void **state)
{
    struct th_fixture *f = *state;
    char long_id[201];
    const char *const bad[] = {"../x", "", long_id, "a/b", ".hidden", "-x", "a b", "x\n"};
    cleanup_free char *escaped = NULL;
    size_t i;

    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[sizeof(long_id) - 1] = '\0';
    th_make_bundle(&f->env, "bundle", argv_sleep, f->bundle, sizeof(f->bundle));
    escaped = xasprintf("%s/x", f->env.dir);
    for (i = 0; i < TETHER_ARRAY_SIZE(bad); i++) {
        struct tether_error err = {0};
        struct th_shim shim;

        if (th_shim_try_launch(&shim, &f->env, f->runtime, bad[i], f->bundle, NULL, &err) == 0) {
            f->shim = shim;
            fail_msg("id \"%s\" accepted", bad[i]);
        }
        if (strstr(err.msg, "invalid id") == NULL)
            fail_msg("id \"%s\": unclear refusal \"%s\"", bad[i], err.msg);
        assert_int_equal(count_entries(f->env.state_dir), 0);
        assert_false(th_path_exists(escaped));
    }
    /* The longest valid id is accepted. */
    long_id[128] = '\0';
    th_shim_launch(&f->shim, &f->env, f->runtime, long_id, f->bundle);
}

static void test_second_shim_refused(void **state)
{
    struct th_fixture *f = *state;
    struct th_shim second;
    struct tether_error err = {0};
    cleanup_free char *pid_path = NULL, *pid_text = NULL;
    struct tether_client *c;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    if (th_shim_try_launch(&second, &f->env, f->runtime, f->id, f->bundle, NULL, &err) == 0) {
        th_shim_stop(&second);
        fail_msg("a second shim for %s was launched", f->id);
    }
    if (strstr(err.msg, "already exists") == NULL)
        fail_msg("second shim: unclear refusal \"%s\"", err.msg);
    assert_int_equal(err.kind, TETHER_ERR_EXISTS);

    /* The first one is untouched: alive, its pid file and socket in place. */
    assert_true(th_pid_alive(f->shim.pid));
    pid_path = shim_file(&f->shim, "shim.pid");
    if (tether_read_file(pid_path, 64, &pid_text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(atoi(pid_text), f->shim.pid);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    tether_client_close(c);
}

static void test_socket_modes(void **state)
{
    struct th_fixture *f = *state;
    struct stat st;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    if (stat(f->shim.socket, &st) < 0)
        fail_msg("stat %s: %s", f->shim.socket, strerror(errno));
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    if (stat(f->shim.dir, &st) < 0)
        fail_msg("stat %s: %s", f->shim.dir, strerror(errno));
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_version(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *v = NULL;
    json_t *rt;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    v = th_call_ok(c, "version", NULL);
    assert_int_equal(th_int(v, "protocol"), 1);
    assert_true(strlen(th_str(v, "version")) > 0);
    rt = json_object_get(v, "runtime");
    assert_non_null(strstr(th_str(rt, "path"), f->runtime));
    assert_true(strlen(th_str(rt, "version")) > 0);
    tether_client_close(c);
}

static void test_shutdown_removes_files(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *pid_path = NULL;
    struct tether_client *c;
    json_auto_t *res = NULL;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    pid_path = shim_file(&f->shim, "shim.pid");
    assert_true(th_path_exists(pid_path));
    c = th_shim_connect(&f->shim);
    res = th_call_ok(c, "shutdown", NULL);
    assert_int_equal(json_object_size(res), 0);
    assert_true(th_wait_pid_dead(f->shim.pid, TH_GONE_MS));
    tether_client_close(c);
    assert_false(th_path_exists(f->shim.socket));
    assert_false(th_path_exists(pid_path));
}

static void test_shutdown_with_container(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *created = NULL, *st = NULL;
    long long pid;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    created = th_call_ok(c, "create", NULL);
    pid = th_int(created, "pid");
    json_decref(th_call_ok(c, "start", NULL));
    th_call_fail(c, "shutdown", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "shutdown", json_pack("{s:b}", "force", 0), TETHER_RPC_INVALID_STATE, NULL, 0);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    assert_true(th_pid_alive((pid_t)pid));

    json_decref(th_call_ok(c, "shutdown", json_pack("{s:b}", "force", 1)));
    assert_true(th_wait_pid_dead(f->shim.pid, TH_GONE_MS));
    assert_true(th_wait_pid_dead((pid_t)pid, TH_GONE_MS));
    tether_client_close(c);
    assert_false(th_path_exists(f->shim.socket));
}

static void test_exit_json(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *exit_path = NULL, *pid_path = NULL, *before = NULL, *after = NULL;
    struct tether_error err = {0};
    struct tether_client *c;
    json_auto_t *res = NULL, *rec = NULL;
    json_error_t jerr;

    th_fixture_start(f, argv_exit7, NULL, NULL);
    exit_path = shim_file(&f->shim, "exit.json");
    pid_path = shim_file(&f->shim, "shim.pid");
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 7);

    /* Written before wait was answered. */
    rec = json_load_file(exit_path, 0, &jerr);
    if (rec == NULL)
        fail_msg("%s: %s", exit_path, jerr.text);
    assert_int_equal(th_int(rec, "exit_status"), 7);
    assert_string_equal(th_str(rec, "exited_at"), th_str(res, "exited_at"));
    assert_null(json_object_get(rec, "signal"));
    if (tether_read_file(exit_path, 4096, &before, NULL, &err) < 0)
        fail_msg("%s", err.msg);

    json_decref(th_call_ok(c, "delete", NULL));
    json_decref(th_call_ok(c, "shutdown", NULL));
    assert_true(th_wait_pid_dead(f->shim.pid, TH_GONE_MS));
    tether_client_close(c);
    assert_false(th_path_exists(f->shim.socket));
    assert_false(th_path_exists(pid_path));
    /* The record outlives the shim, unchanged. */
    if (tether_read_file(exit_path, 4096, &after, NULL, &err) < 0)
        fail_msg("exit.json after shutdown: %s", err.msg);
    assert_string_equal(after, before);
}

static void test_sigterm_leaves_container(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *exit_path = NULL;
    struct tether_client *c;
    json_auto_t *created = NULL;
    long long pid;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    exit_path = shim_file(&f->shim, "exit.json");
    c = th_shim_connect(&f->shim);
    created = th_call_ok(c, "create", NULL);
    pid = th_int(created, "pid");
    json_decref(th_call_ok(c, "start", NULL));
    tether_client_close(c);

    assert_int_equal(kill(f->shim.pid, SIGTERM), 0);
    assert_true(th_wait_pid_dead(f->shim.pid, TH_GONE_MS));
    /* The container was left running: no kill, no exit record. */
    assert_true(th_pid_alive((pid_t)pid));
    assert_false(th_path_exists(exit_path));
    /* The teardown's forced delete through the runtime removes it. */
}

/* With --kill-on-exit, SIGTERM takes the container down with the shim, and its exit is
 * recorded on the way. */
static void test_sigterm_kill_on_exit(void **state)
{
    static const char *const extra[] = {"--kill-on-exit", NULL};
    struct th_fixture *f = *state;
    cleanup_free char *exit_path = NULL;
    struct tether_error err = {0};
    struct tether_client *c;
    json_auto_t *created = NULL, *rec = NULL;
    json_error_t jerr;
    long long pid;

    th_require_runtime(&f->env, f->runtime);
    th_make_bundle(&f->env, "bundle", argv_sleep, f->bundle, sizeof(f->bundle));
    th_shim_unique_id("it-shim", f->id, sizeof(f->id));
    if (th_shim_try_launch(&f->shim, &f->env, f->runtime, f->id, f->bundle, extra, &err) < 0)
        fail_msg("launch with --kill-on-exit: %s", err.msg);
    exit_path = shim_file(&f->shim, "exit.json");
    c = th_shim_connect(&f->shim);
    created = th_call_ok(c, "create", NULL);
    pid = th_int(created, "pid");
    json_decref(th_call_ok(c, "start", NULL));
    tether_client_close(c);

    assert_int_equal(kill(f->shim.pid, SIGTERM), 0);
    assert_true(th_wait_pid_dead(f->shim.pid, TH_GONE_MS));
    assert_true(th_wait_pid_dead((pid_t)pid, TH_GONE_MS));
    rec = json_load_file(exit_path, 0, &jerr);
    if (rec == NULL)
        fail_msg("%s: %s", exit_path, jerr.text);
    assert_int_equal(th_int(rec, "exit_status"), 137);
    assert_string_equal(th_str(rec, "signal"), "SIGKILL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_RUNTIME_TEST(test_prints_one_line, "runc"),
        TH_RUNTIME_TEST(test_invalid_ids, "runc"),
        TH_RUNTIME_TEST(test_second_shim_refused, "runc"),
        TH_RUNTIME_TEST(test_socket_modes, "runc"),
        TH_BOTH_RUNTIMES(test_version),
        TH_RUNTIME_TEST(test_shutdown_removes_files, "runc"),
        TH_BOTH_RUNTIMES(test_shutdown_with_container),
        TH_BOTH_RUNTIMES(test_exit_json),
        TH_BOTH_RUNTIMES(test_sigterm_leaves_container),
        TH_BOTH_RUNTIMES(test_sigterm_kill_on_exit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
