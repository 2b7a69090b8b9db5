/* A restart the runtime cannot carry out (the bundle's config.json is gone by then): the
 * container stays stopped with the exit that asked for the restart, a restart_failed
 * event says why, waits sent meanwhile get that exit, no further attempt is made, and
 * delete still removes it. */
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

static const char *const argv_fail[] = {"sh", "-c", "exit 9", NULL};

static void test_restart_fails(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    cleanup_free char *config = NULL;
    cleanup_free char *moved = NULL;
    json_auto_t *ev = NULL, *st = NULL, *res = NULL, *wait_resp = NULL;
    int64_t wait_id;
    struct tether_error err = {0};

    th_fixture_start(f, argv_fail, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", NULL));
    /* A long back-off leaves time to take the bundle's config away before the attempt. */
    json_decref(th_call_ok(c, "create",
                           json_pack("{s:{s:s,s:i,s:i}}", "restart", "policy", "always",
                                     "backoff_ms", 1500, "max_backoff_ms", 1500)));
    json_decref(th_call_ok(c, "start", NULL));
    ev = th_wait_event(c, "exit");
    assert_int_equal(th_int(ev, "exit_status"), 9);
    config = xasprintf("%s/config.json", f->bundle);
    moved = xasprintf("%s/config.json.away", f->bundle);
    assert_int_equal(rename(config, moved), 0);

    json_decref(ev);
    ev = th_wait_event(c, "restart_failed");
    assert_int_equal(th_int(ev, "attempt"), 1);
    assert_non_null(strstr(th_str(ev, "error"), "config.json"));

    /* Stopped with the last exit; a wait answers with it at once. */
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_int_equal(th_int(st, "exit_status"), 9);
    wait_id = tether_client_send(c, "wait", NULL, &err);
    assert_true(wait_id > 0);
    wait_resp = th_response(c, wait_id);
    assert_int_equal(th_int(json_object_get(wait_resp, "result"), "exit_status"), 9);

    /* No second attempt, even once the bundle is back. */
    assert_int_equal(rename(moved, config), 0);
    usleep(3000 * 1000);
    th_assert_no_notification(c);

    res = th_call_ok(c, "delete", NULL);
    assert_int_equal(th_int(res, "exit_status"), 9);
    json_decref(ev);
    ev = th_wait_event(c, "delete");
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_restart_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
