/* Checkpoints through the core's C API with real runc: refused for a container that is not
 * running (created, stopped) or with a relative path; for a running one the runtime's
 * checkpoint (CRIU) runs, and where CRIU cannot work on this host its own error comes back
 * (kind RUNTIME) and the container keeps running. Where it can, the dump succeeds: with
 * leave_running the container runs on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <tether/core.h>
#include <tether/util.h>

#include "harness_core.h"

static void test_checkpoint(void **state)
{
    struct th_core *f = *state;
    static const char *const argv[] = {"sleep", "1000", NULL};
    struct tether_container *ctr = th_core_add(f, "ckpt", argv, NULL);
    cleanup_free char *images = xasprintf("%s/images", f->env.dir);
    struct tether_checkpoint_opts opts = {.image_path = images, .leave_running = true};
    struct tether_create_opts copts = {0};
    struct tether_error err = {0};
    struct th_call t;

    /* Not created yet. */
    th_call_init(&t);
    assert_int_equal(tether_container_checkpoint(ctr, &opts, &t.call, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);

    /* Created, not started. */
    tether_process_opts_init(&copts.proc);
    th_core_create(f, ctr, &copts);
    assert_int_equal(tether_container_checkpoint(ctr, &opts, &t.call, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_STATE);
    th_call_init(&t);
    th_core_taken(tether_container_start(ctr, &t.call, &err), &err, "start");
    th_core_wait_ok(f, &t, "start");

    opts.image_path = "relative";
    assert_int_equal(tether_container_checkpoint(ctr, &opts, &t.call, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    opts.image_path = images;

    th_call_init(&t);
    th_core_taken(tether_container_checkpoint(ctr, &opts, &t.call, &err), &err, "checkpoint");
    th_core_run_until(f, &t.done);
    if (t.failed) {
        /* CRIU cannot run here: the runtime says so, and nothing else changed. */
        printf("# checkpoint failed as the runtime reports it: %s\n", t.err.msg);
        assert_int_equal(t.err.kind, TETHER_ERR_RUNTIME);
        assert_true(strlen(t.err.msg) > 0);
    } else {
        struct stat st;
        assert_int_equal(stat(images, &st), 0);
    }
    assert_int_equal(th_core_status(ctr), TETHER_STATUS_RUNNING);
    th_core_delete_remove(f, ctr, true);

    /* Stopped: refused. */
    {
        static const char *const quick[] = {"true", NULL};
        struct tether_container *done = th_core_add(f, "ckpt-done", quick, NULL);
        struct th_call w;
        th_core_create(f, done, NULL);
        th_call_init(&w);
        th_core_wait(done, &w);
        th_core_run_until(f, &w.done);
        th_call_init(&t);
        assert_int_equal(tether_container_checkpoint(done, &opts, &t.call, &err), -1);
        assert_int_equal(err.kind, TETHER_ERR_STATE);
        th_core_delete_remove(f, done, false);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_checkpoint, th_core_setup, th_core_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
