/* Seccomp user notification through tether-shim with real containers: under "log" the
 * watched syscall goes through and each call becomes a `seccomp` event; under "deny" it
 * fails with EPERM inside the container; neither the container exiting in the middle of a
 * stream of notifications nor the listener going away with the container wedges the
 * shim's loop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

/* How long a state call may take once the container is gone: a wedged loop would not
 * answer at all, a busy one would take far longer. */
#define PROMPT_MS 2000

static const char *const argv_mkdir[] = {"sh", "-c", "mkdir /tmp/audited && echo made", NULL};
static const char *const argv_mkdir_denied[] = {
    "sh", "-c", "mkdir /tmp/forbidden; rc=$?; echo \"rc=$rc\"; exit $rc", NULL};
static const char *const argv_mkdir_loop[] = {"sh", "-c",
                                              "while :; do mkdir /tmp/d; rmdir /tmp/d; done", NULL};

static json_t *seccomp_params(const char *policy, const char *const *syscalls)
{
    json_t *list = json_array();

    for (; *syscalls != NULL; syscalls++)
        json_array_append_new(list, json_string(*syscalls));
    return json_pack("{s:{s:s,s:o}}", "seccomp_notify", "policy", policy, "syscalls", list);
}

static const char *const mkdir_calls[] = {"mkdir", "mkdirat", NULL};
static const char *const mkdir_rmdir_calls[] = {"mkdir", "mkdirat", "rmdir", "unlinkat", NULL};

/* Checks one seccomp event: a pid, a watched name, six arguments, the action. */
static void check_seccomp_event(const json_t *ev, const char *action)
{
    const char *name = th_str(ev, "syscall");
    json_t *args = json_object_get(ev, "args");
    size_t i;

    assert_true(th_int(ev, "pid") > 0);
    if (strcmp(name, "mkdir") != 0 && strcmp(name, "mkdirat") != 0)
        fail_msg("seccomp event for %s, want mkdir or mkdirat", name);
    assert_true(json_is_array(args));
    assert_int_equal(json_array_size(args), 6);
    for (i = 0; i < 6; i++)
        assert_true(json_is_integer(json_array_get(args, i)));
    assert_string_equal(th_str(ev, "action"), action);
}

static char *rootfs_path(const struct th_fixture *f, const char *rel)
{
    return xasprintf("%s/rootfs/%s", f->bundle, rel);
}

static void test_log_policy(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c, *sub;
    json_auto_t *res = NULL, *ev = NULL;
    cleanup_free char *made = NULL;

    th_fixture_start(f, argv_mkdir, th_edit_writable_rootfs, NULL);
    made = rootfs_path(f, "tmp/audited");
    c = th_shim_connect(&f->shim);
    sub = th_shim_connect(&f->shim);
    json_decref(th_call_ok(sub, "subscribe", NULL));
    json_decref(th_call_ok(c, "create", seccomp_params("log", mkdir_calls)));
    json_decref(th_call_ok(c, "start", NULL));
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 0);
    /* The syscall went through... */
    assert_true(th_path_exists(made));
    /* ...and was reported, before the exit. */
    ev = th_wait_event(sub, "seccomp");
    check_seccomp_event(ev, "log");
    json_decref(ev);
    ev = th_wait_event(sub, "exit");
    assert_int_equal(th_int(ev, "exit_status"), 0);
    json_decref(th_call_ok(c, "delete", NULL));
    tether_client_close(sub);
    tether_client_close(c);
}

static void test_deny_policy(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c, *sub;
    json_auto_t *res = NULL, *ev = NULL;
    cleanup_free char *forbidden = NULL;
    cleanup_free char *log_path = NULL;
    cleanup_free char *log = NULL;
    struct tether_error err = {0};

    th_fixture_start(f, argv_mkdir_denied, th_edit_writable_rootfs, NULL);
    forbidden = rootfs_path(f, "tmp/forbidden");
    c = th_shim_connect(&f->shim);
    sub = th_shim_connect(&f->shim);
    json_decref(th_call_ok(sub, "subscribe", NULL));
    json_decref(th_call_ok(c, "create", seccomp_params("deny", mkdir_calls)));
    json_decref(th_call_ok(c, "start", NULL));
    res = th_call_ok(c, "wait", NULL);
    /* busybox mkdir exits 1 when the call fails. */
    assert_int_equal(th_int(res, "exit_status"), 1);
    assert_false(th_path_exists(forbidden));
    ev = th_wait_event(sub, "seccomp");
    check_seccomp_event(ev, "deny");
    /* The container saw EPERM, not ENOSYS or anything else. */
    log_path = xasprintf("%s/container.log", f->shim.dir);
    if (tether_read_file(log_path, 1 << 20, &log, NULL, &err) < 0)
        fail_msg("container log: %s", err.msg);
    if (strstr(log, "Operation not permitted") == NULL || strstr(log, "rc=1") == NULL)
        fail_msg("container log does not show EPERM:\n%s", log);
    json_decref(th_call_ok(c, "delete", NULL));
    tether_client_close(sub);
    tether_client_close(c);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A state call answered promptly, with this status. */
static void prompt_state(struct tether_client *c, const char *status)
{
    long long start = now_ms();
    json_auto_t *st = th_call_ok(c, "state", NULL);

    assert_string_equal(th_str(st, "status"), status);
    if (now_ms() - start > PROMPT_MS)
        fail_msg("state took %lld ms", now_ms() - start);
}

static void test_no_wedge(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c, *sub;
    json_auto_t *res = NULL;
    int round, seen;

    th_fixture_start(f, argv_mkdir_loop, th_edit_writable_rootfs, NULL);
    c = th_shim_connect(&f->shim);
    for (round = 0; round < 2; round++) {
        /* Each round makes a new listener; the last one went away with its container. */
        sub = th_shim_connect(&f->shim);
        json_decref(th_call_ok(sub, "subscribe", json_pack("{s:i}", "since", 0)));
        json_decref(th_call_ok(c, "create",
                               seccomp_params(round == 0 ? "log" : "deny", mkdir_rmdir_calls)));
        json_decref(th_call_ok(c, "start", NULL));
        /* A steady stream of notifications... */
        for (seen = 0; seen < 50;) {
            json_t *ev = th_wait_event(sub, "seccomp");
            seen++;
            json_decref(ev);
        }
        prompt_state(c, "running");
        /* ...cut off by the container's death. */
        json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "KILL")));
        res = th_call_ok(c, "wait", NULL);
        assert_int_equal(th_int(res, "exit_status"), 137);
        json_decref(res);
        res = NULL;
        prompt_state(c, "stopped");
        json_decref(th_call_ok(c, "delete", NULL));
        th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
        tether_client_close(sub);
    }
    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
    json_decref(th_call_ok(c, "version", NULL));
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_log_policy),
        TH_BOTH_RUNTIMES(test_deny_policy),
        TH_BOTH_RUNTIMES(test_no_wedge),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
