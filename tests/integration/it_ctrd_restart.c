/* containerd SIGKILLed and restarted while tether shims run containers: the containers keep
 * running, one of them exits while containerd is down, and once containerd is back it
 * reconnects to the shims (Connect through the bundle's address file), sees the running
 * one running and the other stopped with its real exit code, and gets the exit event the
 * shim kept for it. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "harness_containerd.h"
#include "ttrpc.h"

#define RUNTIME "--runtime", TH_CTRD_RUNTIME

/* The shim's own view of a task, asked directly on its socket. */
static Containerd__Task__V2__StateResponse *shim_state(struct th_ctrd *c, const char *id)
{
    Containerd__Task__V2__StateRequest req = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
    char sock[4096];
    uint8_t *resp = NULL;
    size_t len = 0;
    cleanup_free uint8_t *payload = NULL;
    size_t plen;
    int fd, code;
    Containerd__Task__V2__StateResponse *st;

    th_ctrd_shim_socket(c, id, sock, sizeof(sock));
    fd = th_ttrpc_connect(sock);
    req.id = (char *)id;
    payload = tether_ttrpc_pack(&req.base, &plen);
    code = th_ttrpc_task_call(fd, 1, "State", payload, plen, &resp, &len, NULL);
    close(fd);
    assert_int_equal(code, 0);
    st = containerd__task__v2__state_response__unpack(NULL, len, resp);
    free(resp);
    assert_non_null(st);
    return st;
}

static bool pid_alive(pid_t pid)
{
    return kill(pid, 0) == 0;
}

static off_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Whether containerd logged, after offset, that it got an event of topic. */
static bool logged_forward(const char *log, off_t offset, const char *topic)
{
    char *text = NULL;
    struct tether_error err = {0};
    cleanup_free char *needle = xasprintf("topic=%s ", topic);
    bool found;

    if (tether_read_file(log, 64 << 20, &text, NULL, &err) < 0)
        return false;
    found = (off_t)strlen(text) > offset && strstr(text + offset, needle) != NULL &&
            strstr(text + offset, "event forwarded");
    free(text);
    return found;
}

static void test_restart(void **state)
{
    struct th_ctrd c;
    Containerd__Task__V2__StateResponse *st;
    const char *argv[16];
    static const char *const ev_args[] = {"events", NULL};
    struct th_cmd sub = {0};
    char *err = NULL;
    pid_t running_pid, exiting_pid;
    off_t mark;
    bool seen = false;

    (void)state;
    th_ctrd_start(&c, false);
    th_ctrd_track(&c, "ra");
    th_ctrd_track(&c, "rb");
    assert_int_equal(
        th_ctr(&c, NULL, NULL, "run", "-d", RUNTIME, TH_CTRD_IMAGE, "ra", "sleep", "1000"), 0);
    assert_int_equal(th_ctr(&c, NULL, NULL, "run", "-d", RUNTIME, TH_CTRD_IMAGE, "rb", "sh", "-c",
                            "sleep 3; exit 4"),
                     0);
    st = shim_state(&c, "ra");
    running_pid = (pid_t)st->pid;
    containerd__task__v2__state_response__free_unpacked(st, NULL);
    st = shim_state(&c, "rb");
    exiting_pid = (pid_t)st->pid;
    containerd__task__v2__state_response__free_unpacked(st, NULL);

    th_ctrd_kill(&c);
    /* containerd is gone; the containers are not, and rb exits now, unseen. */
    assert_true(pid_alive(running_pid));
    for (int i = 0; i < 200; i++) {
        st = shim_state(&c, "rb");
        seen = st->status == CONTAINERD__V1__TYPES__STATUS__STOPPED;
        if (seen) {
            assert_int_equal(st->exit_status, 4);
            assert_non_null(st->exited_at);
        }
        containerd__task__v2__state_response__free_unpacked(st, NULL);
        if (seen)
            break;
        usleep(50000);
    }
    assert_true(seen);
    (void)exiting_pid;
    assert_true(pid_alive(running_pid));

    mark = file_size(c.log);
    th_ctrd_restart(&c);
    th_ctr_argv(&c, argv, 16, ev_args);
    sub.argv = argv;
    sub.timeout_ms = 60000;
    th_cmd_start(&sub);

    assert_true(th_ctrd_wait_status(&c, "ra", "RUNNING", 30000));
    assert_true(th_ctrd_wait_status(&c, "rb", "STOPPED", 30000));
    /* The exit event the shim kept reaches containerd once it is back. Whether this
     * subscriber was in place before the shim delivered it is a race, so containerd's own
     * log (it logs every event it is forwarded) is the witness when it was not. */
    seen = th_cmd_wait_output(&sub, "\"exit_status\":4", 10000);
    th_cmd_stop(&sub);
    if (seen) {
        assert_non_null(strstr(sub.out, "/tasks/exit"));
        assert_non_null(strstr(sub.out, "\"container_id\":\"rb\""));
    } else {
        fprintf(stderr, "note: the exit event went out before `ctr events` subscribed\n");
        assert_true(logged_forward(c.log, mark, "/tasks/exit"));
    }
    th_cmd_free(&sub);

    /* The exit code, as containerd reports it when the task is removed. */
    assert_int_equal(th_ctr(&c, NULL, &err, "task", "rm", "rb"), 0);
    assert_non_null(strstr(err, "exit code 4"));
    free(err);
    assert_int_equal(th_ctr(&c, NULL, NULL, "c", "rm", "rb"), 0);

    /* The running one is still served. */
    assert_int_equal(th_ctr(&c, NULL, NULL, "task", "exec", "--exec-id", "after", "ra", "true"), 0);
    assert_int_equal(th_ctr(&c, NULL, NULL, "task", "kill", "-s", "KILL", "ra"), 0);
    assert_true(th_ctrd_wait_status(&c, "ra", "STOPPED", 30000));
    assert_int_equal(th_ctr(&c, NULL, NULL, "task", "rm", "ra"), 0);
    assert_int_equal(th_ctr(&c, NULL, NULL, "c", "rm", "ra"), 0);
    th_ctrd_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restart),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
