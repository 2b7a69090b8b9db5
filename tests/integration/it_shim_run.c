/* create {"start":true}: one runtime `run --detach` creates and starts the container; the
 * events and answers are those of a create followed by a start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

static const char *const argv_exit5[] = {"sh", "-c", "echo ran; exit 5", NULL};

static void test_create_and_start(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *created = NULL, *ev1 = NULL, *ev2 = NULL, *ev3 = NULL, *waited = NULL;
    json_auto_t *st = NULL;

    th_fixture_start(f, argv_exit5, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", NULL));
    created = th_call_ok(c, "create", json_pack("{s:b}", "start", 1));
    assert_true(th_int(created, "pid") > 0);
    /* create, then start, then the exit: never the exit first. */
    ev1 = th_next_event(c);
    ev2 = th_next_event(c);
    ev3 = th_next_event(c);
    assert_string_equal(th_str(ev1, "topic"), "create");
    assert_string_equal(th_str(ev2, "topic"), "start");
    assert_string_equal(th_str(ev3, "topic"), "exit");
    assert_int_equal(th_int(ev1, "pid"), th_int(created, "pid"));
    assert_int_equal(th_int(ev2, "pid"), th_int(created, "pid"));
    assert_int_equal(th_int(ev3, "exit_status"), 5);
    waited = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(waited, "exit_status"), 5);
    /* Already started: start is refused like a second start. */
    th_call_fail(c, "start", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    json_decref(th_call_ok(c, "delete", NULL));
    th_call_fail(c, "create", json_pack("{s:s}", "start", "yes"), TETHER_RPC_INVALID_PARAMS, NULL,
                 0);
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_create_and_start),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
