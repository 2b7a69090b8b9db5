/* tether-shim supervision, first half: create {"init":true} puts tether-init in front of
 * the container's process so adopted orphans are reaped inside the container, and `stop`
 * carries out Docker's stop (signal, grace period, SIGKILL) even when its caller leaves. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Twenty orphans, each outliving the subshell that started it; then the main process
 * becomes a `sleep`, which never reaps anything. */
static const char *const argv_orphans[] = {
    "sh", "-c", "for i in $(seq 20); do (sleep 0.5 &); done; exec sleep 1000", NULL};
static const char *const argv_sleep[] = {"sleep", "1000", NULL};
/* PID 1 of a PID namespace ignores signals it has no handler for: install one, then say
 * so with /tmp/ready (a signal sent before that would be lost). */
static const char *const argv_trap_term[] = {
    "sh", "-c", "trap 'exit 3' TERM; touch /tmp/ready; while :; do sleep 0.05; done", NULL};

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static long long create_start(struct tether_client *c, json_t *create_params)
{
    json_auto_t *created = th_call_ok(c, "create", create_params);
    json_auto_t *started = th_call_ok(c, "start", NULL);

    assert_int_equal(th_int(started, "pid"), th_int(created, "pid"));
    return th_int(created, "pid");
}

/* th_bundle_edit callback: a writable rootfs, for the readiness marker. */
static void edit_writable(json_t *config, void *data)
{
    (void)data;
    json_object_set_new(json_object_get(config, "root"), "readonly", json_false());
}

static bool path_exists(void *path)
{
    return th_path_exists(path);
}

/* create (params stolen) and start, then wait until the container has made
 * <rootfs>/tmp/ready; returns the init pid. */
static long long start_ready(struct th_fixture *f, struct tether_client *c, json_t *create_params)
{
    cleanup_free char *marker = xasprintf("%s/rootfs/tmp/ready", f->bundle);
    long long pid;

    unlink(marker);
    pid = create_start(c, create_params);
    if (!th_wait_until(path_exists, marker, TH_EVENT_MS))
        fail_msg("the container did not create /tmp/ready");
    return pid;
}

/* What /proc says about the children of a process. */
struct children {
    int alive;
    int zombies;
    bool only_sleep; /* every live child is a `sleep` */
};

static bool read_stat(const char *pid_dir, char *comm, size_t len, char *state, pid_t *ppid)
{
    char path[300], buf[512];
    const char *open_paren, *close_paren;
    ssize_t n;
    int fd, parent;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    open_paren = strchr(buf, '(');
    close_paren = strrchr(buf, ')');
    if (open_paren == NULL || close_paren == NULL || close_paren < open_paren ||
        sscanf(close_paren + 1, " %c %d", state, &parent) != 2)
        return false;
    snprintf(comm, len, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
    *ppid = parent;
    return true;
}

static struct children children_of(pid_t pid)
{
    struct children ch = {0, 0, true};
    DIR *proc = opendir("/proc");
    struct dirent *de;

    if (proc == NULL)
        fail_msg("opendir /proc: %s", strerror(errno));
    while ((de = readdir(proc)) != NULL) {
        char comm[64], state;
        pid_t ppid;

        if (de->d_name[0] < '1' || de->d_name[0] > '9' ||
            !read_stat(de->d_name, comm, sizeof(comm), &state, &ppid) || ppid != pid)
            continue;
        if (state == 'Z') {
            ch.zombies++;
            continue;
        }
        ch.alive++;
        if (strcmp(comm, "sleep") != 0)
            ch.only_sleep = false;
    }
    closedir(proc);
    return ch;
}

/* The loop is over (the shell became `sleep 1000`, the only child left) and every
 * orphan has been reaped. */
static bool settled_without_zombies(void *data)
{
    struct children ch = children_of(*(pid_t *)data);

    return ch.alive == 1 && ch.only_sleep && ch.zombies == 0;
}

struct comm_wait {
    pid_t pid;
    const char *comm;
};

static bool comm_is(void *data)
{
    const struct comm_wait *w = data;
    char dir[32], comm[64], state;
    pid_t ppid;

    snprintf(dir, sizeof(dir), "%d", (int)w->pid);
    return read_stat(dir, comm, sizeof(comm), &state, &ppid) && strcmp(comm, w->comm) == 0;
}

/* Waits until the container's init has become comm (exec'd it). A signal sent before
 * reaches the runtime's own init code instead, which dies of SIGTERM where `sleep` as PID
 * 1 ignores it. */
static void wait_comm(pid_t pid, const char *comm)
{
    struct comm_wait w = {pid, comm};

    if (!th_wait_until(comm_is, &w, TH_EVENT_MS))
        fail_msg("pid %d never became %s", (int)pid, comm);
}

static void wait_sleeping(pid_t pid)
{
    wait_comm(pid, "sleep");
}

/* The loop is over (PID 1 itself became `sleep`), the orphans are dead, and some are
 * left as zombies. */
static bool settled_with_zombies(void *data)
{
    struct children ch = children_of(*(pid_t *)data);

    struct comm_wait w = {*(pid_t *)data, "sleep"};

    return comm_is(&w) && ch.alive == 0 && ch.zombies > 0;
}

/* With init:true the container's PID 1 is tether-init, which reaps the orphans it
 * adopts: none stays a zombie. */
static void test_init_reaps_orphans(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    pid_t init;

    th_fixture_start(f, argv_orphans, NULL, NULL);
    c = th_shim_connect(&f->shim);
    init = (pid_t)create_start(c, json_pack("{s:b}", "init", 1));
    wait_comm(init, "tether-init");

    if (!th_wait_until(settled_without_zombies, &init, TH_EVENT_MS)) {
        struct children ch = children_of(init);
        fail_msg("tether-init %d: %d live children, %d zombies", (int)init, ch.alive, ch.zombies);
    }
    /* The bundle the engine gave is left as it was. */
    {
        json_auto_t *config = NULL;
        cleanup_free char *path = xasprintf("%s/config.json", f->bundle);
        json_t *args;

        config = json_load_file(path, 0, NULL);
        assert_non_null(config);
        args = json_object_get(json_object_get(config, "process"), "args");
        assert_string_equal(json_string_value(json_array_get(args, 0)), "sh");
    }
    /* tether-init hands the stop signal on: sleep dies of it, and so does PID 1. */
    {
        json_auto_t *res = th_call_ok(c, "stop", json_pack("{s:i}", "timeout", 30));
        assert_int_equal(th_int(res, "exit_status"), 143);
    }
    tether_client_close(c);
}

/* The same container without init: PID 1 is `sleep`, and the orphans it adopts stay
 * zombies. This shows the check above can see them. */
static void test_orphans_without_init_stay_zombies(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    pid_t init;

    th_fixture_start(f, argv_orphans, NULL, NULL);
    c = th_shim_connect(&f->shim);
    init = (pid_t)create_start(c, NULL);
    assert_true(th_wait_until(settled_with_zombies, &init, TH_EVENT_MS));
    nap_ms(300);
    assert_true(children_of(init).zombies > 0);
    tether_client_close(c);
}

/* stop sends SIGTERM; a container that handles it exits with its own code, long before
 * the timeout. */
static void test_stop_trapped_term(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *res = NULL, *w = NULL, *st = NULL;
    int64_t t0;

    th_fixture_start(f, argv_trap_term, edit_writable, NULL);
    c = th_shim_connect(&f->shim);
    th_call_fail(c, "stop", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    start_ready(f, c, NULL);
    t0 = now_ms();
    res = th_call_ok(c, "stop", json_pack("{s:i}", "timeout", 60));
    assert_int_equal(th_int(res, "exit_status"), 3);
    assert_true(now_ms() - t0 < 30000);
    w = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(w, "exit_status"), 3);
    assert_null(json_object_get(w, "signal"));
    st = th_call_ok(c, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    /* A stopped container answers stop at once with the status it has. */
    json_decref(res);
    res = th_call_ok(c, "stop", json_pack("{s:i}", "timeout", 60));
    assert_int_equal(th_int(res, "exit_status"), 3);
    tether_client_close(c);
}

/* The same through tether-init: it forwards the TERM to the shell and exits with the
 * shell's code. */
static void test_stop_trapped_term_with_init(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *res = NULL;

    th_fixture_start(f, argv_trap_term, edit_writable, NULL);
    c = th_shim_connect(&f->shim);
    start_ready(f, c, json_pack("{s:b}", "init", 1));
    res = th_call_ok(c, "stop", json_pack("{s:i}", "timeout", 60));
    assert_int_equal(th_int(res, "exit_status"), 3);
    tether_client_close(c);
}

/* A container that ignores SIGTERM is SIGKILLed once the timeout has passed: 137, and
 * not before the timeout. */
static void test_stop_ignored_term(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *res = NULL, *w = NULL;
    int64_t t0, took;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    c = th_shim_connect(&f->shim);
    wait_sleeping((pid_t)create_start(c, NULL));
    t0 = now_ms();
    res = th_call_ok(c, "stop", json_pack("{s:i}", "timeout", 2));
    took = now_ms() - t0;
    assert_int_equal(th_int(res, "exit_status"), 137);
    if (took < 1900)
        fail_msg("stop answered after %lld ms, before its 2 s timeout", (long long)took);
    w = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(w, "exit_status"), 137);
    assert_string_equal(th_str(w, "signal"), "SIGKILL");
    tether_client_close(c);
}

/* Every process ignores TERM; two of them outlive the shell's children it forked. */
static const char *const argv_all_ignore_term[] = {
    "sh", "-c",
    "trap '' TERM; (sleep 1000) & (sleep 1000) & touch /tmp/ready; while :; do sleep 0.05; done",
    NULL};

/* th_bundle_edit callback: the host's PID namespace (killing the init then kills nothing
 * else) and a writable rootfs. */
static void edit_host_pid(json_t *config, void *data)
{
    json_t *ns = json_object_get(json_object_get(config, "linux"), "namespaces");
    size_t i;

    for (i = 0; i < json_array_size(ns); i++) {
        if (strcmp(th_str(json_array_get(ns, i), "type"), "pid") == 0) {
            json_array_remove(ns, i);
            break;
        }
    }
    th_edit_writable_rootfs(config, data);
}

/* A stop with a 1 s timeout of a container where every process ignores TERM: the stop
 * answers 137 soon after the timeout and nothing of the container is left, in its own PID
 * namespace and in the host's (where the init's death takes no one else with it). */
static void check_stop_kills_all(struct th_fixture *f, void (*edit)(json_t *, void *))
{
    struct tether_client *c;
    json_auto_t *res = NULL, *pids = NULL;
    json_t *item;
    size_t i;
    int64_t t0, took;

    th_fixture_start(f, argv_all_ignore_term, edit, NULL);
    c = th_shim_connect(&f->shim);
    start_ready(f, c, NULL);
    pids = th_call_ok(c, "pids", NULL);
    assert_true(json_array_size(json_object_get(pids, "pids")) >= 3);
    t0 = now_ms();
    res = th_call_ok(c, "stop", json_pack("{s:i}", "timeout", 1));
    took = now_ms() - t0;
    assert_int_equal(th_int(res, "exit_status"), 137);
    /* Loose bounds: after the timeout, and well before a grace period would end. */
    if (took < 900 || took > 5000)
        fail_msg("stop with a 1 s timeout answered after %lld ms", (long long)took);
    json_array_foreach(json_object_get(pids, "pids"), i, item)
    {
        pid_t pid = (pid_t)th_int(item, "pid");
        if (!th_wait_pid_dead(pid, 3000))
            fail_msg("pid %d of the container outlived the stop", (int)pid);
    }
    tether_client_close(c);
}

static void test_stop_kills_everything(void **state)
{
    check_stop_kills_all(*state, edit_writable);
}

static void test_stop_kills_everything_host_pid(void **state)
{
    check_stop_kills_all(*state, edit_host_pid);
}

static void edit_stop_signal(json_t *config, void *data)
{
    json_t *ann = json_object_get(config, "annotations");

    if (ann == NULL) {
        ann = json_object();
        json_object_set_new(config, "annotations", ann);
    }
    json_object_set_new(ann, "org.opencontainers.image.stopSignal", json_string(data));
    edit_writable(config, NULL);
}

/* The signal comes from stop's "signal", else from the bundle's stopSignal annotation. */
static void test_stop_signal_choice(void **state)
{
    static const char *const argv_traps[] = {
        "sh", "-c",
        "trap 'exit 4' USR1; trap 'exit 5' INT; trap 'exit 3' TERM; "
        "touch /tmp/ready; while :; do sleep 0.05; done",
        NULL};
    struct th_fixture *f = *state;
    struct tether_client *c;
    json_auto_t *res = NULL;

    th_fixture_start(f, argv_traps, edit_stop_signal, (void *)"SIGINT");
    c = th_shim_connect(&f->shim);
    start_ready(f, c, NULL);
    res = th_call_ok(c, "stop", json_pack("{s:i}", "timeout", 60));
    assert_int_equal(th_int(res, "exit_status"), 5);
    json_decref(th_call_ok(c, "delete", NULL));

    start_ready(f, c, NULL);
    json_decref(res);
    res = th_call_ok(c, "stop", json_pack("{s:i,s:s}", "timeout", 60, "signal", "SIGUSR1"));
    assert_int_equal(th_int(res, "exit_status"), 4);
    th_call_fail(c, "stop", json_pack("{s:s}", "signal", "SIGNOPE"), TETHER_RPC_INVALID_PARAMS,
                 NULL, 0);
    th_call_fail(c, "stop", json_pack("{s:i}", "timeout", -1), TETHER_RPC_INVALID_PARAMS, NULL, 0);
    tether_client_close(c);
}

/* The client asking for the stop goes away right after asking: the shim finishes the
 * stop on its own, and another client's wait gets the exit. */
static void test_stop_caller_disconnects(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *watcher, *stopper;
    struct tether_error err = {0};
    json_auto_t *resp = NULL, *st = NULL, *ev = NULL, *stop_params = NULL;
    int64_t wait_id;
    long long pid;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    stop_params = json_pack("{s:i}", "timeout", 1);
    watcher = th_shim_connect(&f->shim);
    json_decref(th_call_ok(watcher, "subscribe", json_pack("{s:i}", "since", 0)));
    pid = create_start(watcher, NULL);
    wait_sleeping((pid_t)pid);
    wait_id = tether_client_send(watcher, "wait", NULL, &err);
    assert_true(wait_id > 0);

    stopper = th_shim_connect(&f->shim);
    assert_true(tether_client_send(stopper, "stop", stop_params, &err) > 0);
    /* Requests are handled in order: once state is answered, the stop is under way. */
    json_decref(th_call_ok(stopper, "state", NULL));
    tether_client_close(stopper);

    resp = th_response(watcher, wait_id);
    assert_int_equal(th_int(json_object_get(resp, "result"), "exit_status"), 137);
    assert_true(th_wait_pid_dead((pid_t)pid, TH_GONE_MS));
    ev = th_wait_event(watcher, "exit");
    assert_int_equal(th_int(ev, "exit_status"), 137);
    st = th_call_ok(watcher, "state", NULL);
    assert_string_equal(th_str(st, "status"), "stopped");
    assert_true(th_pid_alive(f->shim.pid));
    tether_client_close(watcher);
}

/* Two stops at once share one end; both are answered with the same status. */
static void test_stop_twice(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *a, *b;
    struct tether_error err = {0};
    json_auto_t *ra = NULL, *rb = NULL, *pa = NULL, *pb = NULL;
    int64_t ida, idb;

    th_fixture_start(f, argv_trap_term, edit_writable, NULL);
    pa = json_pack("{s:i}", "timeout", 60);
    pb = json_pack("{s:i}", "timeout", 60);
    a = th_shim_connect(&f->shim);
    b = th_shim_connect(&f->shim);
    start_ready(f, a, NULL);
    ida = tether_client_send(a, "stop", pa, &err);
    idb = tether_client_send(b, "stop", pb, &err);
    assert_true(ida > 0 && idb > 0);
    ra = th_response(a, ida);
    rb = th_response(b, idb);
    assert_int_equal(th_int(json_object_get(ra, "result"), "exit_status"), 3);
    assert_int_equal(th_int(json_object_get(rb, "result"), "exit_status"), 3);
    tether_client_close(b);
    tether_client_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_init_reaps_orphans),
        TH_BOTH_RUNTIMES(test_orphans_without_init_stay_zombies),
        TH_BOTH_RUNTIMES(test_stop_trapped_term),
        TH_BOTH_RUNTIMES(test_stop_trapped_term_with_init),
        TH_BOTH_RUNTIMES(test_stop_ignored_term),
        TH_BOTH_RUNTIMES(test_stop_kills_everything),
        TH_BOTH_RUNTIMES(test_stop_kills_everything_host_pid),
        TH_BOTH_RUNTIMES(test_stop_signal_choice),
        TH_BOTH_RUNTIMES(test_stop_caller_disconnects),
        TH_BOTH_RUNTIMES(test_stop_twice),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
