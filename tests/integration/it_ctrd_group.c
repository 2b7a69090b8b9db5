/* Grouping: containers created with the same sandbox-id annotation (as Kubernetes' pods
 * are through CRI) share one tether process; deleting one leaves the other running and
 * served; the shim goes once its last container is removed. A container without the
 * annotation gets a shim of its own. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_containerd.h"

#define RUNTIME  "--runtime", TH_CTRD_RUNTIME
#define ANNOTATE "--annotation", "io.kubernetes.cri.sandbox-id=pod-1"

static size_t shims(struct th_ctrd *c, pid_t *pids)
{
    return th_ctrd_shims(c, pids, 8);
}

static void remove_task(struct th_ctrd *c, const char *id)
{
    assert_int_equal(th_ctr(c, NULL, NULL, "task", "kill", "-s", "KILL", id), 0);
    assert_true(th_ctrd_wait_status(c, id, "STOPPED", 30000));
    assert_int_equal(th_ctr(c, NULL, NULL, "task", "rm", id), 0);
    assert_int_equal(th_ctr(c, NULL, NULL, "c", "rm", id), 0);
}

static void test_pod_shares_a_shim(void **state)
{
    struct th_ctrd c;
    pid_t pids[8], pod_shim;
    char *out = NULL;

    (void)state;
    th_ctrd_start(&c, false);
    th_ctrd_track(&c, "pod-1");
    th_ctrd_track(&c, "ga");
    th_ctrd_track(&c, "gb");
    th_ctrd_track(&c, "solo");
    assert_int_equal(th_ctr(&c, NULL, NULL, "run", "-d", RUNTIME, ANNOTATE, TH_CTRD_IMAGE, "ga",
                            "sleep", "1000"),
                     0);
    assert_int_equal(shims(&c, pids), 1);
    pod_shim = pids[0];
    assert_int_equal(th_ctr(&c, NULL, NULL, "run", "-d", RUNTIME, ANNOTATE, TH_CTRD_IMAGE, "gb",
                            "sleep", "1000"),
                     0);
    /* One process for the pod. */
    assert_int_equal(shims(&c, pids), 1);
    assert_int_equal(pids[0], pod_shim);
    assert_true(th_ctrd_wait_status(&c, "ga", "RUNNING", 30000));
    assert_true(th_ctrd_wait_status(&c, "gb", "RUNNING", 30000));

    /* Not in the pod: a shim of its own. */
    assert_int_equal(
        th_ctr(&c, NULL, NULL, "run", "-d", RUNTIME, TH_CTRD_IMAGE, "solo", "sleep", "1000"), 0);
    assert_int_equal(shims(&c, pids), 2);
    remove_task(&c, "solo");
    for (int i = 0; i < 250 && shims(&c, pids) != 1; i++)
        usleep(20000);
    assert_int_equal(shims(&c, pids), 1);

    /* One container of the pod goes; the other stays, served by the same shim. */
    remove_task(&c, "ga");
    assert_true(th_ctrd_wait_status(&c, "gb", "RUNNING", 5000));
    usleep(300000);
    assert_int_equal(shims(&c, pids), 1);
    assert_int_equal(pids[0], pod_shim);
    assert_int_equal(
        th_ctr(&c, &out, NULL, "task", "exec", "--exec-id", "still", "gb", "echo", "served"), 0);
    assert_string_equal(out, "served\n");
    free(out);

    /* The last one goes, and the shim with it. */
    remove_task(&c, "gb");
    for (int i = 0; i < 250 && shims(&c, pids) > 0; i++)
        usleep(20000);
    assert_int_equal(shims(&c, pids), 0);
    th_ctrd_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_shares_a_shim),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
