/* The events the shim forwards to containerd, as `ctr events` shows them: every task topic
 * (create, start, exec-added, exec-started, exit, paused, resumed, oom, delete), with the
 * fields containerd's own shim fills, in the order things happened, for the init and for
 * exec processes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include <tether/util.h>

#include "harness_containerd.h"

#define RUNTIME "--runtime", TH_CTRD_RUNTIME

struct ev {
    char topic[64];
    json_t *body;
};

struct evs {
    struct ev items[64];
    size_t n;
};

/* The events of container id in `ctr events` output: "<time> <ns> <topic> <json>". */
static void parse_events(const char *text, const char *id, struct evs *out)
{
    cleanup_free char *copy = xstrdup(text);

    out->n = 0;
    for (char *line = strtok(copy, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        char *topic = strstr(line, " /tasks/"), *json;
        json_error_t jerr;
        json_t *body;

        if (topic == NULL)
            continue;
        topic++;
        json = strchr(topic, ' ');
        if (json == NULL)
            continue;
        *json++ = '\0';
        body = json_loads(json, 0, &jerr);
        if (body == NULL)
            fail_msg("bad event JSON %s: %s", json, jerr.text);
        if (strcmp(json_string_value(json_object_get(body, "container_id")) ?: "", id) != 0 ||
            out->n == TETHER_ARRAY_SIZE(out->items)) {
            json_decref(body);
            continue;
        }
        snprintf(out->items[out->n].topic, sizeof(out->items[0].topic), "%s", topic);
        out->items[out->n++].body = body;
    }
}

static void evs_free(struct evs *e)
{
    for (size_t i = 0; i < e->n; i++)
        json_decref(e->items[i].body);
    e->n = 0;
}

static const char *str(json_t *body, const char *key)
{
    return json_string_value(json_object_get(body, key)) ?: "";
}

static json_int_t num(json_t *body, const char *key)
{
    /* Zero values are left out of the JSON, as protobuf leaves them out. */
    return json_integer_value(json_object_get(body, key));
}

static void expect_topics(const struct evs *e, const char *const *topics)
{
    size_t i;

    for (i = 0; topics[i] != NULL; i++) {
        if (i >= e->n)
            fail_msg("event %zu: expected %s, got nothing more", i, topics[i]);
        if (strcmp(e->items[i].topic, topics[i]) != 0)
            fail_msg("event %zu: expected %s, got %s", i, topics[i], e->items[i].topic);
    }
    if (i != e->n)
        fail_msg("%zu events, expected %zu (the next is %s)", e->n, i, e->items[i].topic);
}

static void start_events(struct th_ctrd *c, struct th_cmd *sub, const char **argv)
{
    static const char *const args[] = {"events", NULL};

    th_ctr_argv(c, argv, 16, args);
    memset(sub, 0, sizeof(*sub));
    sub->argv = argv;
    sub->timeout_ms = 120000;
    th_cmd_start(sub);
    /* The subscription is in place once containerd answered anything after it. */
    usleep(500000);
}

static void test_init_and_exec_events(void **state)
{
    struct th_ctrd c;
    struct th_cmd sub;
    const char *argv[16];
    struct evs e;
    static const char *const want[] = {"/tasks/create",     "/tasks/start",
                                       "/tasks/exec-added", "/tasks/exec-started",
                                       "/tasks/exit",       "/tasks/paused",
                                       "/tasks/resumed",    "/tasks/exit",
                                       "/tasks/delete",     NULL};
    json_int_t pid, exec_pid;

    (void)state;
    th_ctrd_start(&c, false);
    start_events(&c, &sub, argv);
    th_ctrd_track(&c, "ev1");
    assert_int_equal(
        th_ctr(&c, NULL, NULL, "run", "-d", RUNTIME, TH_CTRD_IMAGE, "ev1", "sleep", "1000"), 0);
    assert_int_equal(
        th_ctr(&c, NULL, NULL, "task", "exec", "--exec-id", "x1", "ev1", "sh", "-c", "exit 3"), 3);
    assert_int_equal(th_ctr(&c, NULL, NULL, "task", "pause", "ev1"), 0);
    assert_int_equal(th_ctr(&c, NULL, NULL, "task", "resume", "ev1"), 0);
    assert_int_equal(th_ctr(&c, NULL, NULL, "task", "kill", "-s", "KILL", "ev1"), 0);
    assert_true(th_ctrd_wait_status(&c, "ev1", "STOPPED", 30000));
    assert_int_equal(th_ctr(&c, NULL, NULL, "task", "rm", "ev1"), 0);
    assert_true(th_cmd_wait_output(&sub, "/tasks/delete", 30000));
    usleep(200000);
    th_cmd_stop(&sub);

    parse_events(sub.out, "ev1", &e);
    expect_topics(&e, want);
    /* create: what Create carried. */
    pid = num(e.items[0].body, "pid");
    assert_true(pid > 0);
    assert_non_null(strstr(str(e.items[0].body, "bundle"), "/ev1"));
    assert_true(json_array_size(json_object_get(e.items[0].body, "rootfs")) == 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(e.items[0].body, "rootfs"), 0), "type")),
                        "overlay");
    assert_non_null(strstr(str(json_object_get(e.items[0].body, "io"), "stdout"), "ev1-stdout"));
    /* start: the same pid. */
    assert_int_equal(num(e.items[1].body, "pid"), pid);
    /* the exec: added, started with its own pid, exited with its status under its id. */
    assert_string_equal(str(e.items[2].body, "exec_id"), "x1");
    assert_string_equal(str(e.items[3].body, "exec_id"), "x1");
    exec_pid = num(e.items[3].body, "pid");
    assert_true(exec_pid > 0 && exec_pid != pid);
    assert_string_equal(str(e.items[4].body, "id"), "x1");
    assert_int_equal(num(e.items[4].body, "pid"), exec_pid);
    assert_int_equal(num(e.items[4].body, "exit_status"), 3);
    assert_true(strlen(str(e.items[4].body, "exited_at")) > 0);
    /* the init's exit names the container; delete repeats the exit. */
    assert_string_equal(str(e.items[7].body, "id"), "ev1");
    assert_int_equal(num(e.items[7].body, "pid"), pid);
    assert_int_equal(num(e.items[7].body, "exit_status"), 137);
    assert_int_equal(num(e.items[8].body, "pid"), pid);
    assert_int_equal(num(e.items[8].body, "exit_status"), 137);
    assert_string_equal(str(e.items[8].body, "exited_at"), str(e.items[7].body, "exited_at"));
    evs_free(&e);
    th_cmd_free(&sub);
    th_ctrd_stop(&c);
}

static void test_oom_event(void **state)
{
    struct th_ctrd c;
    struct th_cmd sub;
    const char *argv[16];
    struct evs e;
    size_t oom = 0, exit_at = 0;
    int rc;

    (void)state;
    th_ctrd_start(&c, false);
    start_events(&c, &sub, argv);
    th_ctrd_track(&c, "oom1");
    /* tail keeps every byte of a stream without newlines: it grows until the limit. The
     * kernel's OOM killer picks tail, and on a busy machine has been seen to pick the shell
     * (exit 137): an OOM comes before the exit either way. */
    rc = th_ctr(&c, NULL, NULL, "run", "--rm", RUNTIME, "--memory-limit", "33554432", TH_CTRD_IMAGE,
                "oom1", "sh", "-c", "head -c 1000000000 /dev/zero | tail; exit 0");
    assert_true(rc == 0 || rc == 137);
    assert_true(th_cmd_wait_output(&sub, "/tasks/delete", 30000));
    th_cmd_stop(&sub);
    parse_events(sub.out, "oom1", &e);
    for (size_t i = 0; i < e.n; i++) {
        if (strcmp(e.items[i].topic, "/tasks/oom") == 0 && oom == 0)
            oom = i;
        if (strcmp(e.items[i].topic, "/tasks/exit") == 0)
            exit_at = i;
    }
    /* The OOM is reported while the container runs, before its exit. */
    if (oom == 0 || exit_at < oom)
        for (size_t i = 0; i < e.n; i++)
            fprintf(stderr, "event %zu: %s\n", i, e.items[i].topic);
    assert_true(oom > 0);
    assert_true(exit_at > oom);
    evs_free(&e);
    th_cmd_free(&sub);
    th_ctrd_stop(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_exec_events),
        cmocka_unit_test(test_oom_event),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
