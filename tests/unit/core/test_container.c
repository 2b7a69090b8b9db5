/* The container lifecycle's transition table: every allowed move and, as important, the
 * refused ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "container.h"

static void test_lifecycle_path(void **state)
{
    (void)state;
    assert_int_equal(tether_container_next_state(TETHER_CTR_NEW, TETHER_CTR_EV_CREATE),
                     TETHER_CTR_CREATING);
    assert_int_equal(tether_container_next_state(TETHER_CTR_CREATING, TETHER_CTR_EV_CREATED),
                     TETHER_CTR_CREATED);
    assert_int_equal(tether_container_next_state(TETHER_CTR_CREATED, TETHER_CTR_EV_START),
                     TETHER_CTR_STARTING);
    assert_int_equal(tether_container_next_state(TETHER_CTR_STARTING, TETHER_CTR_EV_STARTED),
                     TETHER_CTR_RUNNING);
    assert_int_equal(tether_container_next_state(TETHER_CTR_RUNNING, TETHER_CTR_EV_EXIT),
                     TETHER_CTR_STOPPED);
    assert_int_equal(tether_container_next_state(TETHER_CTR_STOPPED, TETHER_CTR_EV_DELETE),
                     TETHER_CTR_DELETING);
    assert_int_equal(tether_container_next_state(TETHER_CTR_DELETING, TETHER_CTR_EV_DELETED),
                     TETHER_CTR_NEW);
}

static void test_failures_go_back(void **state)
{
    (void)state;
    assert_int_equal(tether_container_next_state(TETHER_CTR_CREATING, TETHER_CTR_EV_CREATE_FAILED),
                     TETHER_CTR_NEW);
    assert_int_equal(tether_container_next_state(TETHER_CTR_STARTING, TETHER_CTR_EV_START_FAILED),
                     TETHER_CTR_CREATED);
    /* A failed pause or resume reports the state it stayed in. */
    assert_int_equal(tether_container_next_state(TETHER_CTR_PAUSING, TETHER_CTR_EV_RESUMED),
                     TETHER_CTR_RUNNING);
    assert_int_equal(tether_container_next_state(TETHER_CTR_RESUMING, TETHER_CTR_EV_PAUSED),
                     TETHER_CTR_PAUSED);
}

static void test_pause_resume_restart(void **state)
{
    (void)state;
    assert_int_equal(tether_container_next_state(TETHER_CTR_RUNNING, TETHER_CTR_EV_PAUSE),
                     TETHER_CTR_PAUSING);
    assert_int_equal(tether_container_next_state(TETHER_CTR_PAUSING, TETHER_CTR_EV_PAUSED),
                     TETHER_CTR_PAUSED);
    assert_int_equal(tether_container_next_state(TETHER_CTR_PAUSED, TETHER_CTR_EV_RESUME),
                     TETHER_CTR_RESUMING);
    assert_int_equal(tether_container_next_state(TETHER_CTR_PAUSED, TETHER_CTR_EV_EXIT),
                     TETHER_CTR_STOPPED);
    assert_int_equal(tether_container_next_state(TETHER_CTR_STOPPED, TETHER_CTR_EV_RESTART),
                     TETHER_CTR_CREATING);
    /* The exit of a container being deleted keeps it deleting. */
    assert_int_equal(tether_container_next_state(TETHER_CTR_DELETING, TETHER_CTR_EV_EXIT),
                     TETHER_CTR_DELETING);
}

/* What the protocol refuses with -32002: checked against the whole table so that a new
 * entry cannot open a move by accident. */
static void test_refused_moves(void **state)
{
    static const struct {
        enum tether_ctr_state state;
        enum tether_ctr_event ev;
    } allowed[] = {
        {TETHER_CTR_NEW, TETHER_CTR_EV_CREATE},
        {TETHER_CTR_CREATING, TETHER_CTR_EV_CREATED},
        {TETHER_CTR_CREATING, TETHER_CTR_EV_CREATE_FAILED},
        {TETHER_CTR_CREATING, TETHER_CTR_EV_RESTART_ABORTED},
        {TETHER_CTR_CREATED, TETHER_CTR_EV_START},
        {TETHER_CTR_CREATED, TETHER_CTR_EV_EXIT},
        {TETHER_CTR_CREATED, TETHER_CTR_EV_DELETE},
        {TETHER_CTR_STARTING, TETHER_CTR_EV_STARTED},
        {TETHER_CTR_STARTING, TETHER_CTR_EV_START_FAILED},
        {TETHER_CTR_RUNNING, TETHER_CTR_EV_PAUSE},
        {TETHER_CTR_RUNNING, TETHER_CTR_EV_EXIT},
        {TETHER_CTR_RUNNING, TETHER_CTR_EV_DELETE},
        {TETHER_CTR_PAUSING, TETHER_CTR_EV_PAUSED},
        {TETHER_CTR_PAUSING, TETHER_CTR_EV_RESUMED},
        {TETHER_CTR_PAUSED, TETHER_CTR_EV_RESUME},
        {TETHER_CTR_PAUSED, TETHER_CTR_EV_EXIT},
        {TETHER_CTR_PAUSED, TETHER_CTR_EV_DELETE},
        {TETHER_CTR_RESUMING, TETHER_CTR_EV_PAUSED},
        {TETHER_CTR_RESUMING, TETHER_CTR_EV_RESUMED},
        {TETHER_CTR_STOPPED, TETHER_CTR_EV_DELETE},
        {TETHER_CTR_STOPPED, TETHER_CTR_EV_RESTART},
        {TETHER_CTR_DELETING, TETHER_CTR_EV_EXIT},
        {TETHER_CTR_DELETING, TETHER_CTR_EV_DELETED},
    };
    int s, e;
    size_t i;

    (void)state;
    for (s = 0; s < TETHER_CTR_STATE_COUNT; s++)
        for (e = 0; e < TETHER_CTR_EV_COUNT; e++) {
            bool listed = false;
            for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
                if ((int)allowed[i].state == s && (int)allowed[i].ev == e)
                    listed = true;
            if (listed)
                assert_true(tether_container_next_state((enum tether_ctr_state)s,
                                                        (enum tether_ctr_event)e) >= 0);
            else
                assert_int_equal(
                    tether_container_next_state((enum tether_ctr_state)s, (enum tether_ctr_event)e),
                    -1);
        }
    /* Out of range never reads past the table. */
    assert_int_equal(tether_container_next_state(TETHER_CTR_STATE_COUNT, TETHER_CTR_EV_CREATE), -1);
    assert_int_equal(tether_container_next_state(TETHER_CTR_NEW, TETHER_CTR_EV_COUNT), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_path),
        cmocka_unit_test(test_failures_go_back),
        cmocka_unit_test(test_pause_resume_restart),
        cmocka_unit_test(test_refused_moves),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
