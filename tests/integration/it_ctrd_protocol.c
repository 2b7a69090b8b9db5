/* The shim's socket spoken to directly, next to containerd's own connection: the error
 * codes containerd and CRI depend on (NotFound, AlreadyExists, FailedPrecondition, Unknown
 * for deleting a running process, Unimplemented), an exec's Wait pending across other calls
 * until Start, and hostile input (bad frames and protobuf, unknown services, even stream
 * ids, payloads over 4 MiB, unknown frame types, junk, connections cut mid-frame): the shim
 * answers or ignores each, never crashes, and containerd's connection keeps working. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "harness_containerd.h"
#include "ttrpc.h"

#define RUNTIME "--runtime", TH_CTRD_RUNTIME
#define TASK    "containerd.task.v2.Task"
#define ID      "proto1"

struct fixture {
    struct th_ctrd c;
    char sock[4096];
    pid_t shim;
    pid_t init;
    uint32_t next_stream;
};

static int setup(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));
    pid_t pids[4];

    th_ctrd_start(&f->c, false);
    th_ctrd_track(&f->c, ID);
    assert_int_equal(
        th_ctr(&f->c, NULL, NULL, "run", "-d", RUNTIME, TH_CTRD_IMAGE, ID, "sleep", "1000"), 0);
    assert_int_equal(th_ctrd_shims(&f->c, pids, 4), 1);
    f->shim = pids[0];
    th_ctrd_shim_socket(&f->c, ID, f->sock, sizeof(f->sock));
    f->next_stream = 1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    th_ctrd_stop(&f->c);
    free(f);
    return 0;
}

/* One call on a new connection: the code, the payload (malloc'd) and the message. */
static int call(struct fixture *f, const char *method, const ProtobufCMessage *msg, uint8_t **resp,
                size_t *len, char **message)
{
    cleanup_free uint8_t *payload = NULL;
    size_t plen;
    int fd = th_ttrpc_connect(f->sock), code;

    payload = tether_ttrpc_pack(msg, &plen);
    code = th_ttrpc_task_call(fd, 1, method, payload, plen, resp, len, message);
    close(fd);
    return code;
}

static int call_code(struct fixture *f, const char *method, const ProtobufCMessage *msg)
{
    return call(f, method, msg, NULL, NULL, NULL);
}

/* containerd's connection still works, with the same shim. */
static void assert_containerd_served(struct fixture *f)
{
    char *out = NULL;
    pid_t pids[4];

    assert_int_equal(th_ctrd_shims(&f->c, pids, 4), 1);
    assert_int_equal(pids[0], f->shim);
    assert_int_equal(
        th_ctr(&f->c, &out, NULL, "task", "exec", "--exec-id", "alive", ID, "echo", "ok"), 0);
    assert_string_equal(out, "ok\n");
    free(out);
    assert_true(th_ctrd_wait_status(&f->c, ID, "RUNNING", 5000));
}

static Google__Protobuf__Any *process_spec(Google__Protobuf__Any *any, const char *json)
{
    google__protobuf__any__init(any);
    any->type_url = "types.containerd.io/opencontainers/runtime-spec/1/Process";
    any->value.data = (uint8_t *)json;
    any->value.len = strlen(json);
    return any;
}

static void test_error_codes(void **state)
{
    struct fixture *f = *state;
    Containerd__Task__V2__StateRequest st = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
    Containerd__Task__V2__KillRequest kill_req = CONTAINERD__TASK__V2__KILL_REQUEST__INIT;
    Containerd__Task__V2__DeleteRequest del = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
    Containerd__Task__V2__ConnectRequest conn = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
    Containerd__Task__V2__ExecProcessRequest ex = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
    Containerd__Task__V2__UpdateTaskRequest up = CONTAINERD__TASK__V2__UPDATE_TASK_REQUEST__INIT;
    Containerd__Task__V2__ConnectResponse *cr;
    Google__Protobuf__Any any;
    uint8_t *resp = NULL;
    size_t len = 0;
    char *msg = NULL;

    st.id = "nope";
    assert_int_equal(call_code(f, "State", &st.base), TETHER_TTRPC_CODE_NOT_FOUND);
    kill_req.id = "nope";
    kill_req.signal = 9;
    assert_int_equal(call_code(f, "Kill", &kill_req.base), TETHER_TTRPC_CODE_NOT_FOUND);

    /* Connect: the shim's pid and the task's; an unknown id is no error. */
    conn.id = ID;
    assert_int_equal(call(f, "Connect", &conn.base, &resp, &len, NULL), 0);
    cr = containerd__task__v2__connect_response__unpack(NULL, len, resp);
    assert_non_null(cr);
    assert_int_equal(cr->shim_pid, f->shim);
    assert_true(cr->task_pid > 0);
    containerd__task__v2__connect_response__free_unpacked(cr, NULL);
    free(resp);
    conn.id = "nope";
    assert_int_equal(call(f, "Connect", &conn.base, &resp, &len, NULL), 0);
    cr = containerd__task__v2__connect_response__unpack(NULL, len, resp);
    assert_int_equal(cr->task_pid, 0);
    containerd__task__v2__connect_response__free_unpacked(cr, NULL);
    free(resp);

    /* Deleting a running init: Unknown, as containerd's own shim answers. */
    del.id = ID;
    assert_int_equal(call(f, "Delete", &del.base, NULL, NULL, &msg), TETHER_TTRPC_CODE_UNKNOWN);
    free(msg);
    del.exec_id = "nope";
    assert_int_equal(call_code(f, "Delete", &del.base), TETHER_TTRPC_CODE_NOT_FOUND);
    kill_req.id = ID;
    kill_req.exec_id = "nope";
    assert_int_equal(call_code(f, "Kill", &kill_req.base), TETHER_TTRPC_CODE_NOT_FOUND);

    /* An exec without a spec, or with a bad one, is an invalid argument. */
    ex.id = ID;
    ex.exec_id = "bad";
    assert_int_equal(call_code(f, "Exec", &ex.base), TETHER_TTRPC_CODE_INVALID_ARGUMENT);
    ex.spec = process_spec(&any, "{not json");
    assert_int_equal(call_code(f, "Exec", &ex.base), TETHER_TTRPC_CODE_INVALID_ARGUMENT);

    /* Exec'd, not started: Kill is a failed precondition; the id is taken. */
    ex.exec_id = "e1";
    ex.spec = process_spec(&any, "{\"args\":[\"sh\",\"-c\",\"exit 5\"],\"cwd\":\"/\","
                                 "\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}");
    assert_int_equal(call_code(f, "Exec", &ex.base), 0);
    assert_int_equal(call_code(f, "Exec", &ex.base), TETHER_TTRPC_CODE_ALREADY_EXISTS);
    kill_req.exec_id = "e1";
    assert_int_equal(call_code(f, "Kill", &kill_req.base), TETHER_TTRPC_CODE_FAILED_PRECONDITION);
    /* Deleting one that never started is fine. */
    del.exec_id = "e1";
    assert_int_equal(call_code(f, "Delete", &del.base), 0);
    assert_int_equal(call_code(f, "Delete", &del.base), TETHER_TTRPC_CODE_NOT_FOUND);

    up.id = ID;
    up.resources = process_spec(&any, "[1,2]");
    assert_int_equal(call_code(f, "Update", &up.base), TETHER_TTRPC_CODE_INVALID_ARGUMENT);
    assert_containerd_served(f);
}

/* A Wait sent before Start stays pending while other calls on the same connection are
 * answered, and answers with the exec's exit once it ran. */
static void test_wait_before_start(void **state)
{
    struct fixture *f = *state;
    Containerd__Task__V2__ExecProcessRequest ex = CONTAINERD__TASK__V2__EXEC_PROCESS_REQUEST__INIT;
    Containerd__Task__V2__WaitRequest wait = CONTAINERD__TASK__V2__WAIT_REQUEST__INIT;
    Containerd__Task__V2__StateRequest st = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
    Containerd__Task__V2__StartRequest start = CONTAINERD__TASK__V2__START_REQUEST__INIT;
    Containerd__Task__V2__DeleteRequest del = CONTAINERD__TASK__V2__DELETE_REQUEST__INIT;
    Containerd__Task__V2__StateResponse *sr;
    Containerd__Task__V2__WaitResponse *wr;
    Google__Protobuf__Any any;
    cleanup_free uint8_t *p1 = NULL;
    cleanup_free uint8_t *p2 = NULL;
    cleanup_free uint8_t *p3 = NULL;
    uint8_t *resp = NULL;
    size_t l1, l2, l3, len = 0;
    int fd = th_ttrpc_connect(f->sock);

    ex.id = wait.id = st.id = start.id = del.id = ID;
    ex.exec_id = wait.exec_id = st.exec_id = start.exec_id = del.exec_id = "e2";
    ex.spec = process_spec(&any, "{\"args\":[\"sh\",\"-c\",\"exit 6\"],\"cwd\":\"/\","
                                 "\"env\":[\"PATH=/bin\"],\"user\":{\"uid\":0,\"gid\":0}}");
    p1 = tether_ttrpc_pack(&ex.base, &l1);
    assert_int_equal(th_ttrpc_task_call(fd, 1, "Exec", p1, l1, NULL, NULL, NULL), 0);
    p2 = tether_ttrpc_pack(&wait.base, &l2);
    th_ttrpc_request(fd, 3, TASK, "Wait", p2, l2);
    p3 = tether_ttrpc_pack(&st.base, &l3);
    assert_int_equal(th_ttrpc_task_call(fd, 5, "State", p3, l3, &resp, &len, NULL), 0);
    sr = containerd__task__v2__state_response__unpack(NULL, len, resp);
    assert_int_equal(sr->status, CONTAINERD__V1__TYPES__STATUS__CREATED);
    assert_int_equal(sr->pid, 0);
    /* Not exited: no exit time (never 1970). */
    assert_null(sr->exited_at);
    containerd__task__v2__state_response__free_unpacked(sr, NULL);
    free(resp);
    free(p1);
    p1 = tether_ttrpc_pack(&start.base, &l1);
    assert_int_equal(th_ttrpc_task_call(fd, 7, "Start", p1, l1, NULL, NULL, NULL), 0);
    assert_int_equal(th_ttrpc_response(fd, 3, &resp, &len, NULL), 0);
    wr = containerd__task__v2__wait_response__unpack(NULL, len, resp);
    assert_int_equal(wr->exit_status, 6);
    assert_non_null(wr->exited_at);
    assert_true(wr->exited_at->seconds > 1600000000);
    containerd__task__v2__wait_response__free_unpacked(wr, NULL);
    free(resp);
    free(p1);
    p1 = tether_ttrpc_pack(&del.base, &l1);
    assert_int_equal(th_ttrpc_task_call(fd, 9, "Delete", p1, l1, NULL, NULL, NULL), 0);
    close(fd);
}

static void test_hostile_frames(void **state)
{
    struct fixture *f = *state;
    Containerd__Task__V2__StateRequest st = CONTAINERD__TASK__V2__STATE_REQUEST__INIT;
    static const uint8_t junk_request[] = {0xff, 0xff, 0xff, 0x0f, 0x12};
    cleanup_free uint8_t *payload = NULL;
    uint8_t hdr[TETHER_TTRPC_HEADER_LEN];
    struct tether_ttrpc_header h = {0};
    size_t len;
    uint8_t *big;
    char *msg = NULL;
    int fd = th_ttrpc_connect(f->sock);

    st.id = ID;
    payload = tether_ttrpc_pack(&st.base, &len);
    /* Unknown service and method. */
    th_ttrpc_request(fd, 1, "no.such.Service", "State", payload, len);
    assert_int_equal(th_ttrpc_response(fd, 1, NULL, NULL, NULL), TETHER_TTRPC_CODE_UNIMPLEMENTED);
    th_ttrpc_request(fd, 3, TASK, "NoSuchMethod", payload, len);
    assert_int_equal(th_ttrpc_response(fd, 3, NULL, NULL, NULL), TETHER_TTRPC_CODE_UNIMPLEMENTED);
    /* An even stream id. */
    th_ttrpc_request(fd, 4, TASK, "State", payload, len);
    assert_int_equal(th_ttrpc_response(fd, 4, NULL, NULL, NULL),
                     TETHER_TTRPC_CODE_INVALID_ARGUMENT);
    /* A payload that is no Request, and a Request whose payload is no StateRequest. */
    h.length = sizeof(junk_request);
    h.stream_id = 5;
    h.type = TETHER_TTRPC_TYPE_REQUEST;
    tether_ttrpc_header_encode(&h, hdr);
    th_ttrpc_send(fd, hdr, sizeof(hdr));
    th_ttrpc_send(fd, junk_request, sizeof(junk_request));
    assert_int_equal(th_ttrpc_response(fd, 5, NULL, NULL, NULL),
                     TETHER_TTRPC_CODE_INVALID_ARGUMENT);
    th_ttrpc_request(fd, 7, TASK, "State", junk_request, sizeof(junk_request));
    assert_int_equal(th_ttrpc_response(fd, 7, NULL, NULL, &msg),
                     TETHER_TTRPC_CODE_INVALID_ARGUMENT);
    free(msg);
    /* A frame of an unknown type is skipped. */
    h.length = 3;
    h.stream_id = 9;
    h.type = 7;
    tether_ttrpc_header_encode(&h, hdr);
    th_ttrpc_send(fd, hdr, sizeof(hdr));
    th_ttrpc_send(fd, "abc", 3);
    /* More than 4 MiB: ResourceExhausted, and the connection goes on. */
    h.length = TETHER_TTRPC_MAX_PAYLOAD + 1;
    h.stream_id = 11;
    h.type = TETHER_TTRPC_TYPE_REQUEST;
    tether_ttrpc_header_encode(&h, hdr);
    big = xzalloc(h.length);
    th_ttrpc_send(fd, hdr, sizeof(hdr));
    th_ttrpc_send(fd, big, h.length);
    free(big);
    assert_int_equal(th_ttrpc_response(fd, 11, NULL, NULL, NULL),
                     TETHER_TTRPC_CODE_RESOURCE_EXHAUSTED);
    th_ttrpc_request(fd, 13, TASK, "State", payload, len);
    assert_int_equal(th_ttrpc_response(fd, 13, NULL, NULL, NULL), 0);
    close(fd);
    assert_containerd_served(f);
}

/* Junk and frames cut short on many connections, some closed mid-frame. */
static void test_junk_connections(void **state)
{
    struct fixture *f = *state;
    uint32_t seed = 12345;
    uint8_t buf[4096];

    for (int conn = 0; conn < 200; conn++) {
        int fd = th_ttrpc_connect(f->sock);
        size_t n = 1 + (size_t)(conn * 37 % (int)sizeof(buf));
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (uint8_t)(seed >> 16);
        }
        if (conn % 3 == 0) {
            /* A header announcing more than follows. */
            struct tether_ttrpc_header h = {.length = 1000, .stream_id = 1, .type = 1};
            tether_ttrpc_header_encode(&h, buf);
        }
        send(fd, buf, n, MSG_NOSIGNAL);
        if (conn % 5 == 0)
            shutdown(fd, SHUT_WR);
        close(fd);
    }
    assert_containerd_served(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_wait_before_start),
        cmocka_unit_test(test_hostile_frames),
        cmocka_unit_test(test_junk_connections),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
