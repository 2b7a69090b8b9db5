/* Many containers in one core, driven through the core's C API (<tether/core.h>) by this
 * test as its front end, with real runc containers: exits reach the right container, an
 * OOM in one is not seen in another, deleting one leaves the others running, and a hundred
 * lifecycles leave no fd, zombie or memory behind. The test process is the core's process
 * (a child subreaper with its signalfd), as tether-shim is. */
#include <errno.h>
#include <malloc.h>
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

#include <tether/core.h>
#include <tether/util.h>

#include "harness_core.h"
#include "harness_shim.h"

#define MIB       (1024 * 1024)
#define OOM_LIMIT (16 * MIB)

static size_t count_events(const struct th_core *f, enum tether_topic topic, const char *id)
{
    size_t i, n = 0;

    for (i = 0; i < f->n_events; i++)
        if (f->events[i].topic == topic && strcmp(f->events[i].id, id) == 0)
            n++;
    return n;
}

static const struct th_event *find_event(const struct th_core *f, enum tether_topic topic,
                                         const char *id)
{
    size_t i;

    for (i = 0; i < f->n_events; i++)
        if (f->events[i].topic == topic && strcmp(f->events[i].id, id) == 0)
            return &f->events[i];
    return NULL;
}

/* Two containers: each exit reaches its own container, its own waits and its own events,
 * in the order they happened. */
static void test_two_exits_routed(void **state)
{
    struct th_core *f = *state;
    static const char *const argv_a[] = {"sh", "-c", "sleep 0.5; exit 3", NULL};
    static const char *const argv_b[] = {"sh", "-c", "exit 5", NULL};
    struct tether_container *a = th_core_add(f, "two-a", argv_a, NULL);
    struct tether_container *b = th_core_add(f, "two-b", argv_b, NULL);
    struct th_call wa, wb;
    pid_t pa, pb;
    const struct th_event *ea, *eb;

    assert_int_equal(tether_core_count(f->core), 2);
    assert_ptr_equal(tether_core_find(f->core, "two-a"), a);
    assert_ptr_equal(tether_core_find(f->core, "two-b"), b);
    pa = th_core_run_detached(f, a);
    th_core_wait(a, &wa);
    pb = th_core_run_detached(f, b);
    th_core_wait(b, &wb);
    assert_true(pa > 0 && pb > 0 && pa != pb);

    th_core_run_until(f, &wb.done);
    assert_false(wb.failed);
    assert_int_equal(wb.exit.exit_status, 5);
    /* b's exit did not touch a. */
    assert_false(wa.done);
    assert_int_equal(th_core_status(a), TETHER_STATUS_RUNNING);
    th_core_run_until(f, &wa.done);
    assert_int_equal(wa.exit.exit_status, 3);
    assert_int_equal(th_core_status(b), TETHER_STATUS_STOPPED);

    ea = find_event(f, TETHER_TOPIC_EXIT, "two-a");
    eb = find_event(f, TETHER_TOPIC_EXIT, "two-b");
    assert_non_null(ea);
    assert_non_null(eb);
    assert_int_equal(ea->pid, pa);
    assert_int_equal(ea->exit_status, 3);
    assert_int_equal(eb->pid, pb);
    assert_int_equal(eb->exit_status, 5);
    assert_true(eb < ea); /* the journal is in the order things happened */
    assert_int_equal(count_events(f, TETHER_TOPIC_EXIT, "two-a"), 1);
    assert_int_equal(count_events(f, TETHER_TOPIC_EXIT, "two-b"), 1);
    th_core_delete_remove(f, a, false);
    th_core_delete_remove(f, b, false);
    assert_int_equal(tether_core_count(f->core), 0);
}

/* Ten at once, each with its own exit code. */
static void test_ten_containers(void **state)
{
    struct th_core *f = *state;
    struct tether_container *ctrs[10];
    struct th_call waits[10];
    char id[32], script[64];
    int i;

    for (i = 0; i < 10; i++) {
        const char *argv[] = {"sh", "-c", script, NULL};
        snprintf(id, sizeof(id), "ten-%d", i);
        /* Later containers end first. */
        snprintf(script, sizeof(script), "sleep 0.%d; exit %d", 9 - i, 10 + i);
        ctrs[i] = th_core_add(f, id, argv, NULL);
    }
    for (i = 0; i < 10; i++) {
        th_core_run_detached(f, ctrs[i]);
        th_core_wait(ctrs[i], &waits[i]);
    }
    for (i = 0; i < 10; i++) {
        th_core_run_until(f, &waits[i].done);
        assert_false(waits[i].failed);
        assert_int_equal(waits[i].exit.exit_status, 10 + i);
    }
    for (i = 0; i < 10; i++) {
        const struct th_event *e;
        snprintf(id, sizeof(id), "ten-%d", i);
        e = find_event(f, TETHER_TOPIC_EXIT, id);
        assert_non_null(e);
        assert_int_equal(e->exit_status, 10 + i);
        assert_int_equal(count_events(f, TETHER_TOPIC_EXIT, id), 1);
        th_core_delete_remove(f, ctrs[i], false);
    }
}

/* A small memory limit without swap. */
static void edit_oom_limit(json_t *config, void *data)
{
    json_t *linux_obj = json_object_get(config, "linux");
    json_t *res = json_object_get(linux_obj, "resources");

    (void)data;
    if (res == NULL) {
        res = json_object();
        json_object_set_new(linux_obj, "resources", res);
    }
    json_object_set_new(
        res, "memory",
        json_pack("{s:I,s:I}", "limit", (json_int_t)OOM_LIMIT, "swap", (json_int_t)OOM_LIMIT));
}

/* An OOM kill in one container is that container's: the other sees no oom event and keeps
 * running. */
static void test_oom_isolated(void **state)
{
    struct th_core *f = *state;
    static const char *const argv_hog[] = {"sh", "-c",
                                           "x=0123456789abcdef; while :; do x=$x$x; done", NULL};
    static const char *const argv_sleep[] = {"sleep", "1000", NULL};
    struct tether_container *hog = th_core_add(f, "oom-hog", argv_hog, edit_oom_limit);
    struct tether_container *calm = th_core_add(f, "oom-calm", argv_sleep, NULL);
    struct th_call w;
    pid_t calm_pid;

    calm_pid = th_core_run_detached(f, calm);
    th_core_run_detached(f, hog);
    th_core_wait(hog, &w);
    th_core_run_until(f, &w.done);
    assert_int_equal(w.exit.exit_status, 137);
    assert_true(w.exit.oom_killed);
    assert_true(count_events(f, TETHER_TOPIC_OOM, "oom-hog") >= 1);
    assert_int_equal(count_events(f, TETHER_TOPIC_OOM, "oom-calm"), 0);
    assert_int_equal(th_core_status(calm), TETHER_STATUS_RUNNING);
    assert_true(th_pid_alive(calm_pid));
    th_core_delete_remove(f, hog, false);
    th_core_delete_remove(f, calm, true);
    assert_int_equal(count_events(f, TETHER_TOPIC_OOM, "oom-calm"), 0);
}

/* Deleting one container (forced, while it runs) leaves the others running. */
static void test_delete_one(void **state)
{
    struct th_core *f = *state;
    static const char *const argv_sleep[] = {"sleep", "1000", NULL};
    struct tether_container *ctrs[3];
    pid_t pids[3];
    struct tether_error err = {0};
    char id[32];
    int i;

    for (i = 0; i < 3; i++) {
        snprintf(id, sizeof(id), "del-%d", i);
        ctrs[i] = th_core_add(f, id, argv_sleep, NULL);
        pids[i] = th_core_run_detached(f, ctrs[i]);
    }
    /* A running container cannot be removed from the core. */
    assert_int_equal(tether_core_remove(f->core, ctrs[1], &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_STATE);
    th_core_delete_remove(f, ctrs[1], true);
    assert_null(tether_core_find(f->core, "del-1"));
    assert_true(th_wait_pid_dead(pids[1], 5000));
    th_core_run_for(f, 300);
    for (i = 0; i < 3; i += 2) {
        assert_int_equal(th_core_status(ctrs[i]), TETHER_STATUS_RUNNING);
        assert_true(th_pid_alive(pids[i]));
    }
    assert_int_equal(count_events(f, TETHER_TOPIC_EXIT, "del-0"), 0);
    assert_int_equal(count_events(f, TETHER_TOPIC_EXIT, "del-2"), 0);
    assert_int_equal(count_events(f, TETHER_TOPIC_DELETE, "del-1"), 1);
    th_core_delete_remove(f, ctrs[0], true);
    th_core_delete_remove(f, ctrs[2], true);
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi;

    malloc_trim(0);
    mi = mallinfo2();
    return mi.uordblks;
}

/* A hundred lifecycles, five containers at a time: no fd, zombie or memory is left. */
static void test_hundred_lifecycles(void **state)
{
    struct th_core *f = *state;
    static const char *const argv_true[] = {"sh", "-c", "exit 0", NULL};
    char bundle[PATH_MAX];
    int fds_before, round, i;
    size_t heap_before, heap_after;

    th_make_bundle(&f->env, "life", argv_true, bundle, sizeof(bundle));
    for (round = 0; round < 21; round++) {
        struct tether_container *ctrs[5];
        struct th_call waits[5];
        if (round == 1) {
            /* After a first round: lazily made things (timerfds, buffers) exist now. */
            fds_before = th_count_fds(getpid());
            heap_before = heap_in_use();
        }
        for (i = 0; i < 5; i++) {
            char id[32];
            cleanup_free char *dir = NULL;
            struct tether_container_config cfg = {.id = id, .bundle = bundle};
            struct tether_error err = {0};
            snprintf(id, sizeof(id), "life-%d", i);
            dir = xasprintf("%s/%s", f->env.state_dir, id);
            cfg.dir = dir;
            mkdir(dir, 0700);
            ctrs[i] = tether_core_add(f->core, &cfg, &err);
            if (ctrs[i] == NULL)
                fail_msg("add: %s", err.msg);
            th_core_run_detached(f, ctrs[i]);
            th_core_wait(ctrs[i], &waits[i]);
        }
        for (i = 0; i < 5; i++) {
            th_core_run_until(f, &waits[i].done);
            assert_int_equal(waits[i].exit.exit_status, 0);
            th_core_delete_remove(f, ctrs[i], false);
        }
    }
    th_core_run_for(f, 100);
    assert_int_equal(tether_core_count(f->core), 0);
    assert_int_equal(th_count_zombie_children(getpid()), 0);
    assert_int_equal(th_count_fds(getpid()), fds_before);
    heap_after = heap_in_use();
    /* The journal keeps its last events (bounded); nothing else may grow. */
    if (heap_after > heap_before + 256 * 1024)
        fail_msg("heap in use grew from %zu to %zu bytes over 100 lifecycles", heap_before,
                 heap_after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_two_exits_routed, th_core_setup, th_core_teardown),
        cmocka_unit_test_setup_teardown(test_ten_containers, th_core_setup, th_core_teardown),
        cmocka_unit_test_setup_teardown(test_oom_isolated, th_core_setup, th_core_teardown),
        cmocka_unit_test_setup_teardown(test_delete_one, th_core_setup, th_core_teardown),
        cmocka_unit_test_setup_teardown(test_hundred_lifecycles, th_core_setup, th_core_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
