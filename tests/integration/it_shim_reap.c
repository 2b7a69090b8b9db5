/* tether-shim as a reaper: orphans of a container sharing the host PID namespace are
 * re-parented to the shim (its child subreaper) and reaped; many lifecycles in a row leave
 * no zombie and no descriptor behind. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

#define LIFECYCLES 100

/* The background subshell outlives the container's init and waits for /tmp/go. */
static const char *const argv_orphan[] = {
    "sh", "-c", "(while [ ! -e /tmp/go ]; do sleep 0.05; done) & echo $! > /tmp/orphan.pid; exit 0",
    NULL};
static const char *const argv_true[] = {"true", NULL};

/* Shares the host PID namespace (so the orphan's pid is a host pid and its new parent is
 * the shim) and makes the rootfs writable for the pid file. */
static void host_pid_ns(json_t *config, void *data)
{
    json_t *ns = json_object_get(json_object_get(config, "linux"), "namespaces");
    size_t i;

    (void)data;
    for (i = 0; i < json_array_size(ns); i++) {
        if (strcmp(th_str(json_array_get(ns, i), "type"), "pid") == 0) {
            json_array_remove(ns, i);
            break;
        }
    }
    th_edit_writable_rootfs(config, data);
}

struct parent_of {
    pid_t pid, parent;
};

static bool has_parent(void *data)
{
    struct parent_of *p = data;

    return th_pid_parent(p->pid) == p->parent;
}

static bool gone_from_proc(void *data)
{
    return th_pid_parent(*(pid_t *)data) < 0;
}

static void test_orphan_reaped(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    struct tether_error err = {0};
    cleanup_free char *pid_path = NULL, *gate = NULL, *pid_text = NULL;
    json_auto_t *res = NULL;
    struct parent_of orphan;
    int fd;

    th_fixture_start(f, argv_orphan, host_pid_ns, NULL);
    pid_path = xasprintf("%s/rootfs/tmp/orphan.pid", f->bundle);
    gate = xasprintf("%s/rootfs/tmp/go", f->bundle);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 0);

    if (tether_read_file(pid_path, 64, &pid_text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    orphan.pid = (pid_t)atoi(pid_text);
    orphan.parent = f->shim.pid;
    assert_true(orphan.pid > 1);
    /* The init is gone; its orphan now belongs to the shim. */
    if (!th_wait_until(has_parent, &orphan, TH_GONE_MS))
        fail_msg("orphan %d has parent %d, want the shim %d", (int)orphan.pid,
                 (int)th_pid_parent(orphan.pid), (int)f->shim.pid);
    assert_true(th_pid_alive(orphan.pid));

    fd = open(gate, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        fail_msg("create %s: %s", gate, strerror(errno));
    close(fd);
    /* Reaped means gone from /proc altogether, not a zombie. */
    if (!th_wait_until(gone_from_proc, &orphan.pid, TH_GONE_MS))
        fail_msg("orphan %d not reaped by the shim (parent %d)", (int)orphan.pid,
                 (int)th_pid_parent(orphan.pid));
    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
    assert_true(th_pid_alive(f->shim.pid));

    /* The shim still works and the container is still stopped with its status. */
    json_decref(res);
    res = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(res, "status"), "stopped");
    assert_int_equal(th_int(res, "exit_status"), 0);
    json_decref(th_call_ok(c, "delete", NULL));
    tether_client_close(c);
}

static void lifecycle(struct tether_client *c)
{
    json_auto_t *res = NULL;

    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 0);
    json_decref(th_call_ok(c, "delete", NULL));
}

struct fd_count {
    pid_t pid;
    int want;
};

static bool fds_back(void *data)
{
    struct fd_count *fc = data;

    return th_count_fds(fc->pid) == fc->want;
}

static void test_many_lifecycles(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    struct fd_count fc;
    int i;

    th_fixture_start(f, argv_true, NULL, NULL);
    c = th_shim_connect(&f->shim);
    /* One round first, so that whatever the shim sets up once is not counted as a leak. */
    lifecycle(c);
    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
    fc.pid = f->shim.pid;
    fc.want = th_count_fds(f->shim.pid);
    assert_true(fc.want > 0);

    for (i = 0; i < LIFECYCLES; i++)
        lifecycle(c);

    if (!th_wait_no_zombies(f->shim.pid, TH_GONE_MS))
        fail_msg("%d zombies under the shim after %d lifecycles",
                 th_count_zombie_children(f->shim.pid), LIFECYCLES);
    if (!th_wait_until(fds_back, &fc, TH_GONE_MS))
        fail_msg("shim has %d fds after %d lifecycles, %d before", th_count_fds(f->shim.pid),
                 LIFECYCLES, fc.want);
    assert_true(th_pid_alive(f->shim.pid));

    /* Every event of those lifecycles is still there, in order, with no gap. */
    {
        static const char *const topics[] = {"create", "start", "exit", "delete"};
        const long long total = 4 * (LIFECYCLES + 1);
        json_auto_t *sub = th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0));
        long long seq;

        assert_int_equal(th_int(sub, "seq"), total);
        for (seq = 1; seq <= total; seq++) {
            json_auto_t *ev = th_next_event(c);
            assert_int_equal(th_int(ev, "seq"), seq);
            assert_string_equal(th_str(ev, "topic"), topics[(seq - 1) % 4]);
        }
        th_assert_no_notification(c);
    }
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_orphan_reaped),
        TH_BOTH_RUNTIMES(test_many_lifecycles),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
