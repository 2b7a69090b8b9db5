/* tether-shim operations on a running container, checked against the kernel's own view in
 * the container's cgroups: pause/resume (freezer), update (limits), stats (numbers that
 * move with the container's use) and the OOM event of a container past its memory limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

#define MIB               (1024LL * 1024)
#define CGROUP_MOUNT      "/sys/fs/cgroup"
#define STATS_LIMIT       (256 * MIB)
#define STATS_PIDS_LIMIT  100
#define FILL_MIB          40
#define OOM_LIMIT         (16 * MIB)
#define UPDATE_MEM_LIMIT  (64 * MIB)
#define UPDATE_PIDS_LIMIT 77

static const char *const argv_sleep[] = {"sleep", "1000", NULL};
static const char *const argv_spin[] = {"sh", "-c", "while :; do :; done", NULL};
/* Doubles a string until the memory limit stops it. */
static const char *const argv_hog[] = {"sh", "-c", "x=0123456789abcdef; while :; do x=$x$x; done",
                                       NULL};

/* Runs argv in the container as exec exec_id and returns its exit status. */
static long long exec_run(struct tether_client *c, const char *exec_id, const char *const argv[])
{
    json_auto_t *res = NULL;

    json_decref(th_call_ok(
        c, "exec", json_pack("{s:s,s:o}", "exec_id", exec_id, "process", th_process_of(argv))));
    res = th_call_ok(c, "wait", json_pack("{s:s}", "exec_id", exec_id));
    return th_int(res, "exit_status");
}

static long long create_start(struct tether_client *c)
{
    json_auto_t *created = th_call_ok(c, "create", NULL);

    json_decref(th_call_ok(c, "start", NULL));
    return th_int(created, "pid");
}

/* The v1 directory of controller for pid from /proc/<pid>/cgroup ("4:memory:/path"), or
 * NULL when pid is in no v1 hierarchy of that controller. */
static char *cgroup_find(pid_t pid, const char *controller)
{
    cleanup_free char *path = xasprintf("/proc/%d/cgroup", (int)pid);
    cleanup_free char *text = NULL;
    struct tether_error err = {0};
    char *save = NULL;

    if (tether_read_file(path, 1 << 16, &text, NULL, &err) < 0)
        fail_msg("read %s: %s", path, err.msg);
    for (char *line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *list = strchr(line, ':'), *rel;
        char *tok, *tsave = NULL;

        if (list == NULL || (rel = strchr(++list, ':')) == NULL)
            continue;
        *rel++ = '\0';
        for (tok = strtok_r(list, ",", &tsave); tok != NULL; tok = strtok_r(NULL, ",", &tsave))
            if (strcmp(tok, controller) == 0)
                return xasprintf(CGROUP_MOUNT "/%s%s", controller, rel);
    }
    return NULL;
}

/* Skips the test on a host without a v1 hierarchy of controller. Called before anything
 * is allocated, so the skip leaks nothing. */
static void require_v1(const char *controller)
{
    char *dir = cgroup_find(getpid(), controller);

    if (dir == NULL) {
        printf("SKIP: no v1 %s hierarchy on this host\n", controller);
        skip();
    }
    free(dir);
}

static char *cgroup_dir(pid_t pid, const char *controller)
{
    char *dir = cgroup_find(pid, controller);

    if (dir == NULL)
        fail_msg("pid %d is in no v1 %s cgroup", (int)pid, controller);
    return dir;
}

/* The first line of <dir>/<name>, without its newline. */
static char *cgroup_read(const char *dir, const char *name)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);
    struct tether_error err = {0};
    char *text = NULL;

    if (tether_read_file(path, 1 << 16, &text, NULL, &err) < 0)
        fail_msg("read %s: %s", path, err.msg);
    text[strcspn(text, "\n")] = '\0';
    return text;
}

static long long cgroup_read_int(const char *dir, const char *name)
{
    cleanup_free char *text = cgroup_read(dir, name);

    return strtoll(text, NULL, 10);
}

struct stats {
    long long cpu_ns, mem_usage, mem_limit, pids_current, pids_limit;
};

static struct stats stats_of(struct tether_client *c)
{
    json_auto_t *res = th_call_ok(c, "stats", NULL);
    json_t *cpu = json_object_get(res, "cpu"), *mem = json_object_get(res, "memory");
    json_t *pids = json_object_get(res, "pids");
    struct stats st;

    assert_non_null(cpu);
    assert_non_null(mem);
    assert_non_null(pids);
    st.cpu_ns = th_int(cpu, "usage_ns");
    st.mem_usage = th_int(mem, "usage_bytes");
    st.mem_limit = th_int(mem, "limit_bytes");
    st.pids_current = th_int(pids, "current");
    st.pids_limit = th_int(pids, "limit");
    assert_true(st.cpu_ns >= 0 && st.mem_usage >= 0 && st.mem_limit >= 0);
    assert_true(st.pids_current >= 0 && st.pids_limit >= 0);
    return st;
}

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

struct freezer_wait {
    const char *dir;
    const char *want;
};

static bool freezer_is(void *data)
{
    struct freezer_wait *w = data;
    cleanup_free char *state = cgroup_read(w->dir, "freezer.state");

    return strcmp(state, w->want) == 0;
}

/* pause freezes the container (its cgroup reads FROZEN and it burns no CPU), resume
 * thaws it; both are visible in state and as events, and each refuses the state it
 * leaves. */
static void test_pause_resume(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    cleanup_free char *freezer = NULL;
    json_auto_t *st = NULL, *ev = NULL;
    struct stats a, b;
    long long pid;

    require_v1("freezer");
    th_fixture_start(f, argv_spin, NULL, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    th_call_fail(c, "pause", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    pid = create_start(c);
    json_decref(th_wait_event(c, "start"));
    freezer = cgroup_dir((pid_t)pid, "freezer");
    th_call_fail(c, "resume", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);

    json_decref(th_call_ok(c, "pause", NULL));
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "paused");
    ev = th_next_event(c);
    assert_string_equal(th_str(ev, "topic"), "paused");
    assert_string_equal(th_str(ev, "id"), f->id);
    {
        cleanup_free char *fs = cgroup_read(freezer, "freezer.state");
        assert_string_equal(fs, "FROZEN");
    }
    a = stats_of(c);
    nap_ms(300);
    b = stats_of(c);
    assert_int_equal(a.cpu_ns, b.cpu_ns);
    th_call_fail(c, "pause", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);

    json_decref(th_call_ok(c, "resume", NULL));
    json_decref(st);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "running");
    json_decref(ev);
    ev = th_next_event(c);
    assert_string_equal(th_str(ev, "topic"), "resumed");
    {
        struct freezer_wait w = {freezer, "THAWED"};
        assert_true(th_wait_until(freezer_is, &w, TH_EVENT_MS));
    }
    /* The spinning shell runs again. */
    for (int tries = 0; tries < 100; tries++) {
        b = stats_of(c);
        if (b.cpu_ns > a.cpu_ns)
            break;
        nap_ms(100);
    }
    assert_true(b.cpu_ns > a.cpu_ns);
    th_call_fail(c, "resume", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    th_assert_no_notification(c);

    /* A paused container can still be killed, and is stopped afterwards. */
    json_decref(th_call_ok(c, "pause", NULL));
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    {
        json_auto_t *res = th_call_ok(c, "wait", NULL);
        assert_int_equal(th_int(res, "exit_status"), 137);
    }
    json_decref(st);
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    th_call_fail(c, "pause", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "resume", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    tether_client_close(c);
}

/* update writes the new limits into the container's cgroups, and stats reports them. */
static void test_update_limits(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    cleanup_free char *memory = NULL, *pids = NULL;
    struct stats st;
    long long pid;

    require_v1("memory");
    require_v1("pids");
    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    pid = create_start(c);
    memory = cgroup_dir((pid_t)pid, "memory");
    pids = cgroup_dir((pid_t)pid, "pids");
    /* No limit in the bundle: reported as 0. */
    st = stats_of(c);
    assert_int_equal(st.mem_limit, 0);
    assert_int_equal(st.pids_limit, 0);
    assert_true(cgroup_read_int(memory, "memory.limit_in_bytes") > UPDATE_MEM_LIMIT);

    json_decref(
        th_call_ok(c, "update",
                   json_pack("{s:{s:{s:I},s:{s:i}}}", "resources", "memory", "limit",
                             (json_int_t)UPDATE_MEM_LIMIT, "pids", "limit", UPDATE_PIDS_LIMIT)));
    assert_int_equal(cgroup_read_int(memory, "memory.limit_in_bytes"), UPDATE_MEM_LIMIT);
    assert_int_equal(cgroup_read_int(pids, "pids.max"), UPDATE_PIDS_LIMIT);
    st = stats_of(c);
    assert_int_equal(st.mem_limit, UPDATE_MEM_LIMIT);
    assert_int_equal(st.pids_limit, UPDATE_PIDS_LIMIT);

    /* Raised again: the change is not one-way. */
    json_decref(th_call_ok(c, "update",
                           json_pack("{s:{s:{s:I}}}", "resources", "memory", "limit",
                                     (json_int_t)(2 * UPDATE_MEM_LIMIT))));
    assert_int_equal(cgroup_read_int(memory, "memory.limit_in_bytes"), 2 * UPDATE_MEM_LIMIT);

    th_call_fail(c, "update", NULL, TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "update", json_pack("{s:s}", "resources", "lots"), TETHER_RPC_INVALID_PARAMS,
                 NULL, 0);
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    json_decref(th_call_ok(c, "wait", NULL));
    th_call_fail(
        c, "update",
        json_pack("{s:{s:{s:I}}}", "resources", "memory", "limit", (json_int_t)UPDATE_MEM_LIMIT),
        TETHER_RPC_INVALID_STATE, NULL, 0);
    tether_client_close(c);
}

static void edit_stats_limits(json_t *config, void *data)
{
    json_t *linux_obj = json_object_get(config, "linux");
    json_t *res = json_object_get(linux_obj, "resources");

    (void)data;
    if (res == NULL) {
        res = json_object();
        json_object_set_new(linux_obj, "resources", res);
    }
    json_object_set_new(res, "memory", json_pack("{s:I}", "limit", (json_int_t)STATS_LIMIT));
    json_object_set_new(res, "pids", json_pack("{s:i}", "limit", STATS_PIDS_LIMIT));
}

/* stats follow the container: 40 MiB written to its tmpfs show up in memory usage (and
 * leave it when removed), the CPU time grows, an exec counts as one more pid. The
 * numbers match the cgroup's own files. */
static void test_stats_move(void **state)
{
    static const char *const argv_fill[] = {"dd",    "if=/dev/zero", "of=/dev/shm/fill",
                                            "bs=1M", "count=40",     NULL};
    static const char *const argv_free[] = {"rm", "/dev/shm/fill", NULL};
    struct th_fixture *f = *state;
    struct tether_client *c;
    cleanup_free char *memory = NULL;
    struct stats s0, s1, s2, s3;
    long long pid;

    require_v1("memory");
    th_fixture_start(f, argv_sleep, edit_stats_limits, NULL);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "stats", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    {
        /* Created, not started: the cgroup is there, with its limits, before the init runs
         * (the shim finds it for stats on its own; the OOM watch comes with the start). */
        json_auto_t *created = th_call_ok(c, "create", NULL);
        struct stats sc = stats_of(c);
        assert_int_equal(sc.mem_limit, STATS_LIMIT);
        assert_int_equal(sc.pids_limit, STATS_PIDS_LIMIT);
        json_decref(th_call_ok(c, "start", NULL));
        pid = th_int(created, "pid");
    }
    memory = cgroup_dir((pid_t)pid, "memory");

    s0 = stats_of(c);
    assert_int_equal(s0.mem_limit, STATS_LIMIT);
    assert_int_equal(s0.pids_limit, STATS_PIDS_LIMIT);
    assert_int_equal(s0.mem_limit, cgroup_read_int(memory, "memory.limit_in_bytes"));
    assert_true(s0.pids_current >= 1);
    assert_true(s0.mem_usage > 0);

    assert_int_equal(exec_run(c, "fill", argv_fill), 0);
    s1 = stats_of(c);
    if (s1.mem_usage < s0.mem_usage + (FILL_MIB - 8) * MIB)
        fail_msg("memory usage %lld -> %lld after writing %d MiB", s0.mem_usage, s1.mem_usage,
                 FILL_MIB);
    assert_true(s1.cpu_ns > s0.cpu_ns);

    json_decref(th_call_ok(
        c, "exec",
        json_pack("{s:s,s:o}", "exec_id", "hold", "process", th_process_of(argv_sleep))));
    s2 = stats_of(c);
    assert_true(s2.pids_current >= s0.pids_current + 1);

    assert_int_equal(exec_run(c, "free", argv_free), 0);
    s3 = stats_of(c);
    if (s3.mem_usage > s1.mem_usage - (FILL_MIB - 8) * MIB)
        fail_msg("memory usage %lld -> %lld after removing %d MiB", s1.mem_usage, s3.mem_usage,
                 FILL_MIB);

    /* A SIGKILL that is not the OOM killer's is not reported as one. */
    json_decref(th_call_ok(c, "kill", json_pack("{s:s}", "signal", "SIGKILL")));
    {
        json_auto_t *res = th_call_ok(c, "wait", NULL);
        assert_int_equal(th_int(res, "exit_status"), 137);
        assert_null(json_object_get(res, "oom_killed"));
    }
    th_call_fail(c, "stats", NULL, TETHER_RPC_INVALID_STATE, NULL, 0);
    th_call_fail(c, "stats", json_pack("{s:s}", "exec_id", "hold"), TETHER_RPC_INVALID_PARAMS, NULL,
                 0);
    tether_client_close(c);
}

/* A small memory limit without swap (memory.swap equal to the limit). */
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

/* A container that allocates past its limit: an `oom` event, and the init's exit says
 * oom_killed in the exit event, wait, state and exit.json. */
static void test_oom_killed(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    struct tether_error err = {0};
    cleanup_free char *exit_path = NULL, *text = NULL;
    json_auto_t *oom = NULL, *exited = NULL, *res = NULL, *st = NULL, *rec = NULL;
    long long pid;

    th_fixture_start(f, argv_hog, edit_oom_limit, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "subscribe", json_pack("{s:i}", "since", 0)));
    pid = create_start(c);

    oom = th_wait_event(c, "oom");
    assert_int_equal(th_int(oom, "pid"), pid);
    assert_string_equal(th_str(oom, "id"), f->id);
    exited = th_wait_event(c, "exit");
    assert_int_equal(th_int(exited, "pid"), pid);
    assert_int_equal(th_int(exited, "exit_status"), 137);
    assert_true(json_is_true(json_object_get(exited, "oom_killed")));

    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 137);
    assert_string_equal(th_str(res, "signal"), "SIGKILL");
    assert_true(json_is_true(json_object_get(res, "oom_killed")));
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_true(json_is_true(json_object_get(st, "oom_killed")));

    exit_path = xasprintf("%s/exit.json", f->shim.dir);
    if (tether_read_file(exit_path, 4096, &text, NULL, &err) < 0)
        fail_msg("read %s: %s", exit_path, err.msg);
    rec = json_loads(text, 0, NULL);
    assert_non_null(rec);
    assert_int_equal(th_int(rec, "exit_status"), 137);
    assert_true(json_is_true(json_object_get(rec, "oom_killed")));
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_pause_resume),
        TH_BOTH_RUNTIMES(test_update_limits),
        TH_BOTH_RUNTIMES(test_stats_move),
        TH_BOTH_RUNTIMES(test_oom_killed),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
