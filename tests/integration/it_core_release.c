/* release_on_exit through the core's C API, with real runc behind a wrapper that can slow
 * down or refuse the runtime's unforced delete: the runtime's record of a container goes
 * as soon as its init has exited, while the record of the exit stays; a delete that comes
 * meanwhile waits for that runtime delete to end; one that failed is run again by the
 * delete; without the option the runtime keeps the container until the delete. */
#include <errno.h>
#include <setjmp.h>
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

#include "harness_core.h"

static const char *const argv_exit3[] = {"sh", "-c", "exit 3", NULL};

struct fixture {
    struct th_core *core;
    char *mode; /* what the wrapper does with an unforced delete: slow or fail */
    char *refused;
};

/* runc, except for an unforced delete while <ws>/release-mode says slow (1 s first) or fail
 * (once: it leaves <ws>/release-refused). */
static char *write_wrapper(struct fixture *fx)
{
    cleanup_free char *dir = xasprintf("%s/rt", fx->core->env.dir);
    cleanup_free char *text = NULL;
    char *path = xasprintf("%s/runc", dir);
    struct tether_error err = {0};

    fx->mode = xasprintf("%s/release-mode", fx->core->env.dir);
    fx->refused = xasprintf("%s/release-refused", fx->core->env.dir);
    if (mkdir(dir, 0700) < 0)
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    text = xasprintf("#!/bin/sh\n"
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                     "case \" $* \" in\n"
                     "*\" delete \"*)\n"
                     "    case \" $* \" in *\" --force \"*) ;; *)\n"
                     "        case $(cat '%s' 2>/dev/null) in\n"
                     "        slow) sleep 1 ;;\n"
                     "        fail) rm -f '%s'; : >'%s'; echo 'delete refused by the test' >&2; "
                     "exit 1 ;;\n"
                     "        esac ;;\n"
                     "    esac ;;\n"
                     "esac\n"
                     "exec runc \"$@\"\n",
                     fx->mode, fx->mode, fx->refused);
    if (tether_write_file_atomic(path, text, strlen(text), 0755, &err) < 0)
        fail_msg("%s: %s", path, err.msg);
    return path;
}

static int setup(void **state)
{
    struct fixture *fx = xzalloc(sizeof(*fx));
    cleanup_free char *wrapper = NULL;

    fx->core = th_core_alloc();
    wrapper = write_wrapper(fx);
    th_core_begin(fx->core, wrapper);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    void *core = fx->core;

    th_core_teardown(&core);
    free(fx->mode);
    free(fx->refused);
    free(fx);
    return 0;
}

static void set_mode(struct fixture *fx, const char *mode)
{
    FILE *f = fopen(fx->mode, "we");

    if (f == NULL || fputs(mode, f) < 0 || fclose(f) != 0)
        fail_msg("%s: %s", fx->mode, strerror(errno));
}

/* Whether runc still has the container (its state directory under the root). */
static bool runtime_has(struct fixture *fx, const char *id)
{
    cleanup_free char *path = xasprintf("%s/%s", fx->core->env.runtime_root, id);

    return access(path, F_OK) == 0;
}

/* Turns the loop until runc no longer has id, or for at most ms; returns whether it has. */
static bool turn_while_runtime_has(struct fixture *fx, const char *id, int ms)
{
    for (int i = 0; i < ms / 20 && runtime_has(fx, id); i++)
        th_core_run_for(fx->core, 20);
    return runtime_has(fx, id);
}

/* Creates and starts id (sh -c "exit 3") with release_on_exit as asked and waits for its
 * exit. */
static struct tether_container *run_to_exit(struct fixture *fx, const char *id, bool release)
{
    struct tether_create_opts opts = {0};
    struct tether_container *ctr = th_core_add(fx->core, id, argv_exit3, NULL);
    struct th_call wait;

    tether_process_opts_init(&opts.proc);
    opts.start = true;
    opts.release_on_exit = release;
    th_core_create(fx->core, ctr, &opts);
    th_core_wait(ctr, &wait);
    th_core_wait_ok(fx->core, &wait, "wait");
    assert_int_equal(wait.exit.exit_status, 3);
    return ctr;
}

static size_t count_events(struct th_core *f, enum tether_topic topic, const char *id)
{
    size_t n = 0;

    for (size_t i = 0; i < f->n_events; i++)
        if (f->events[i].topic == topic && strcmp(f->events[i].id, id) == 0)
            n++;
    return n;
}

/* Deletes ctr, expecting the exit status 3, and removes it. */
static void delete_ok(struct fixture *fx, struct tether_container *ctr, const char *id)
{
    struct tether_error err = {0};
    struct th_call t;

    th_call_init(&t);
    th_core_taken(tether_container_delete(ctr, false, &t.call, &err), &err, "delete");
    th_core_wait_ok(fx->core, &t, "delete");
    assert_int_equal(t.exit.exit_status, 3);
    assert_int_equal(count_events(fx->core, TETHER_TOPIC_DELETE, id), 1);
    assert_false(runtime_has(fx, id));
    assert_int_equal(tether_core_remove(fx->core->core, ctr, &err), 0);
}

static void test_released_at_exit(void **state)
{
    struct fixture *fx = *state;
    struct tether_container *kept = run_to_exit(fx, "kept", false);
    struct tether_container *ctr = run_to_exit(fx, "released", true);
    struct tether_state st;
    struct tether_error err = {0};

    /* Gone from the runtime without a delete; the record of the exit stays. */
    assert_false(turn_while_runtime_has(fx, "released", 10000));
    assert_int_equal(tether_container_state(ctr, NULL, &st, &err), 0);
    assert_int_equal(st.status, TETHER_STATUS_STOPPED);
    assert_true(st.exited);
    assert_int_equal(st.exit.exit_status, 3);
    assert_int_equal(count_events(fx->core, TETHER_TOPIC_DELETE, "released"), 0);
    /* Without the option the runtime keeps it until the delete. */
    th_core_run_for(fx->core, 300);
    assert_true(runtime_has(fx, "kept"));

    delete_ok(fx, ctr, "released");
    delete_ok(fx, kept, "kept");
}

static void test_delete_waits_for_release(void **state)
{
    struct fixture *fx = *state;
    struct tether_container *ctr;
    struct tether_error err = {0};
    struct th_call t;

    set_mode(fx, "slow");
    ctr = run_to_exit(fx, "slow", true);
    /* The release (1 s in the wrapper) has begun: the delete waits for it. */
    th_call_init(&t);
    th_core_taken(tether_container_delete(ctr, false, &t.call, &err), &err, "delete");
    th_core_run_for(fx->core, 300);
    assert_false(t.done);
    assert_true(runtime_has(fx, "slow"));
    assert_int_equal(th_core_status(ctr), TETHER_STATUS_STOPPED);
    th_core_wait_ok(fx->core, &t, "delete");
    assert_int_equal(t.exit.exit_status, 3);
    assert_false(runtime_has(fx, "slow"));
    assert_int_equal(count_events(fx->core, TETHER_TOPIC_DELETE, "slow"), 1);
    assert_int_equal(tether_core_remove(fx->core->core, ctr, &err), 0);
    unlink(fx->mode);
}

static void test_failed_release_deleted_again(void **state)
{
    struct fixture *fx = *state;
    struct tether_container *ctr;

    set_mode(fx, "fail");
    ctr = run_to_exit(fx, "refused", true);
    for (int i = 0; i < 500 && access(fx->refused, F_OK) < 0; i++)
        th_core_run_for(fx->core, 20);
    assert_int_equal(access(fx->refused, F_OK), 0);
    /* The refused release left the container to the runtime; the delete runs its own. */
    th_core_run_for(fx->core, 200);
    assert_true(runtime_has(fx, "refused"));
    delete_ok(fx, ctr, "refused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_released_at_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_waits_for_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_release_deleted_again, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
