/* Unit tests of shim/core/cgroup.c against fixture trees shaped like cgroupfs (hybrid, pure v1,
 * pure v2), plus the v2 inotify OOM watch on a scratch tree under /tmp. The v1 eventfd
 * watch needs a real memory cgroup: tests/integration/it_cgroup.c covers it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "cgroup.h"

#define FIX TETHER_FIXTURES "/cgroup"

static void assert_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static char *proc_text(const char *name)
{
    char path[PATH_MAX];
    char *text = NULL;
    struct tether_error err = {0};

    snprintf(path, sizeof(path), "%s/proc/%s", FIX, name);
    if (tether_read_file(path, TETHER_CGROUP_PROC_MAX, &text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    return text;
}

static void open_ok(struct tether_cgroup *cg, const char *tree, const char *proc)
{
    char root[PATH_MAX];
    struct tether_error err = {0};

    snprintf(root, sizeof(root), "%s/%s", FIX, tree);
    if (tether_cgroup_open_at(cg, root, proc, &err) < 0)
        fail_msg("open_at %s: %s", root, err.msg);
}

static int open_fails(const char *tree, const char *proc, struct tether_error *err)
{
    char root[PATH_MAX];
    struct tether_cgroup cg;
    int rc;

    snprintf(root, sizeof(root), "%s/%s", FIX, tree);
    rc = tether_cgroup_open_at(&cg, root, proc, err);
    tether_cgroup_close(&cg);
    assert_int_equal(rc, -1);
    return err->kind;
}

static void assert_dir(const struct tether_cgroup_ctl *ctl, enum tether_cgroup_version v,
                       const char *rel)
{
    char want[PATH_MAX];

    assert_int_equal(ctl->version, v);
    snprintf(want, sizeof(want), "%s/%s", FIX, rel);
    assert_string_equal(ctl->dir, want);
}

/* ---- parsers ---- */

static void test_parse_u64(void **state)
{
    static const char *const bad[] = {
        "", "\n", "-1", "12k", "1 2", " 5", "5\n\n", "0x10", "18446744073709551616", "max",
    };
    struct tether_error err = {0};
    uint64_t v = 7;

    (void)state;
    assert_int_equal(tether_cgroup_parse_u64("0", &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tether_cgroup_parse_u64("123\n", &v, &err), 0);
    assert_int_equal(v, 123);
    assert_int_equal(tether_cgroup_parse_u64("18446744073709551615\n", &v, &err), 0);
    assert_true(v == UINT64_MAX);
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(bad); i++) {
        tether_error_clear(&err);
        if (tether_cgroup_parse_u64(bad[i], &v, &err) != -1)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_int_equal(err.kind, TETHER_ERR_INVALID);
        assert_contains(err.msg, "expected an unsigned integer");
    }
    tether_cgroup_parse_u64("12k\n", &v, &err);
    assert_string_equal(err.msg, "expected an unsigned integer, got \"12k\"");
}

static void test_parse_limit(void **state)
{
    struct tether_error err = {0};
    uint64_t v = 7;

    (void)state;
    assert_int_equal(tether_cgroup_parse_limit("max\n", &v, &err), 0);
    assert_int_equal(v, 0);
    v = 7;
    assert_int_equal(tether_cgroup_parse_limit("max", &v, &err), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tether_cgroup_parse_limit("16777216\n", &v, &err), 0);
    assert_int_equal(v, 16777216);
    /* v1 "no limit" with 4 KiB and with 64 KiB pages, and LONG_MAX itself */
    assert_int_equal(tether_cgroup_parse_limit("9223372036854771712\n", &v, &err), 0);
    assert_int_equal(v, 0);
    v = 7;
    assert_int_equal(tether_cgroup_parse_limit("9223372036854710272\n", &v, &err), 0);
    assert_int_equal(v, 0);
    v = 7;
    assert_int_equal(tether_cgroup_parse_limit("9223372036854775807", &v, &err), 0);
    assert_int_equal(v, 0);
    /* a large but real limit (1 EiB) stays */
    assert_int_equal(tether_cgroup_parse_limit("1152921504606846976", &v, &err), 0);
    assert_true(v == UINT64_C(1152921504606846976));

    assert_int_equal(tether_cgroup_parse_limit("maxx\n", &v, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_string_equal(err.msg, "expected a limit (\"max\" or an unsigned integer), got \"maxx\"");
    assert_int_equal(tether_cgroup_parse_limit("", &v, &err), -1);
    assert_int_equal(tether_cgroup_parse_limit("-1\n", &v, &err), -1);
}

static void test_parse_keyed(void **state)
{
    const char *events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 9\n";
    const char *control = "oom_kill_disable 1\nunder_oom 0\noom_kill 5";
    struct tether_error err = {0};
    uint64_t v = 0;

    (void)state;
    assert_int_equal(tether_cgroup_parse_keyed(events, "oom", &v, &err), 0);
    assert_int_equal(v, 3);
    assert_int_equal(tether_cgroup_parse_keyed(events, "oom_kill", &v, &err), 0);
    assert_int_equal(v, 2);
    assert_int_equal(tether_cgroup_parse_keyed(events, "oom_group_kill", &v, &err), 0);
    assert_int_equal(v, 9);
    /* a key that is a prefix of an earlier key; the last line has no newline */
    assert_int_equal(tether_cgroup_parse_keyed(control, "oom_kill", &v, &err), 0);
    assert_int_equal(v, 5);

    assert_int_equal(tether_cgroup_parse_keyed(events, "usage_usec", &v, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_int_equal(err.errnum, 0);
    assert_string_equal(err.msg, "no \"usage_usec\" key");
    assert_int_equal(tether_cgroup_parse_keyed("", "oom", &v, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);

    assert_int_equal(tether_cgroup_parse_keyed("oom 1\noom_kill lots\n", "oom_kill", &v, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_string_equal(err.msg, "key \"oom_kill\": expected an unsigned integer, got \"lots\"");
    assert_int_equal(tether_cgroup_parse_keyed("oom_kill \n", "oom_kill", &v, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    /* other malformed lines do not matter */
    assert_int_equal(tether_cgroup_parse_keyed("junk\noom 4\n", "oom", &v, &err), 0);
    assert_int_equal(v, 4);
}

/* ---- locating cgroups ---- */

static void test_open_hybrid(void **state)
{
    cleanup_free char *proc = proc_text("hybrid.txt");
    struct tether_cgroup cg;
    struct tether_stats st;
    struct tether_error err = {0};

    (void)state;
    open_ok(&cg, "hybrid", proc);
    assert_dir(&cg.memory, TETHER_CGROUP_V1, "hybrid/memory/tether/c1");
    assert_dir(&cg.cpu, TETHER_CGROUP_V1, "hybrid/cpuacct/tether/c1");
    assert_dir(&cg.pids, TETHER_CGROUP_V1, "hybrid/pids/tether/c1");
    assert_int_equal(cg.oom_fd, -1);

    assert_int_equal(tether_cgroup_stats(&cg, &st, &err), 0);
    assert_int_equal(st.have, TETHER_STATS_CPU | TETHER_STATS_MEMORY | TETHER_STATS_PIDS);
    assert_int_equal(st.cpu_usage_ns, 987654321);
    assert_int_equal(st.memory_usage_bytes, 20971520);
    assert_int_equal(st.memory_limit_bytes, 16777216);
    assert_int_equal(st.pids_current, 3);
    assert_int_equal(st.pids_limit, 100);
    /* The details: per-CPU time, ticks as nanoseconds, CFS throttling from the cpu
     * hierarchy, memory.stat's hierarchical totals, peak, failures and memory+swap. */
    assert_dir(&cg.cfs, TETHER_CGROUP_V1, "hybrid/cpu/tether/c1");
    assert_false(st.cpu_v2);
    assert_int_equal(st.n_cpus, 2);
    assert_int_equal(st.cpu_per_cpu_ns[0], 600000000);
    assert_int_equal(st.cpu_per_cpu_ns[1], 387654321);
    assert_int_equal(st.cpu_user_ns, 25 * (1000000000 / sysconf(_SC_CLK_TCK)));
    assert_int_equal(st.cpu_system_ns, 7 * (1000000000 / sysconf(_SC_CLK_TCK)));
    assert_int_equal(st.cpu_periods, 10);
    assert_int_equal(st.cpu_throttled_periods, 3);
    assert_int_equal(st.cpu_throttled_ns, 4500000);
    assert_int_equal(st.memory_stat.cache, 4096);
    assert_int_equal(st.memory_stat.rss, 8192);
    assert_int_equal(st.memory_stat.mapped_file, 1024);
    assert_int_equal(st.memory_stat.pgfault, 500);
    assert_int_equal(st.memory_stat.pgmajfault, 2);
    assert_int_equal(st.memory_stat.inactive_file, 2048);
    assert_int_equal(st.memory_max_usage_bytes, 25165824);
    assert_int_equal(st.memory_failcnt, 7);
    assert_int_equal(st.swap_usage_bytes, 20971520);
    assert_int_equal(st.swap_limit_bytes, 0);
    tether_cgroup_close(&cg);
}

static void test_open_v1_joined_mount(void **state)
{
    cleanup_free char *proc = proc_text("v1.txt");
    struct tether_cgroup cg;
    struct tether_stats st;
    struct tether_error err = {0};

    (void)state;
    open_ok(&cg, "v1", proc);
    assert_dir(&cg.memory, TETHER_CGROUP_V1, "v1/memory/docker/abc");
    /* no <root>/cpuacct: found through the joined "cpu,cpuacct" mount */
    assert_dir(&cg.cpu, TETHER_CGROUP_V1, "v1/cpu,cpuacct/docker/abc");
    assert_dir(&cg.pids, TETHER_CGROUP_V1, "v1/pids/docker/abc");

    assert_int_equal(tether_cgroup_stats(&cg, &st, &err), 0);
    assert_int_equal(st.have, TETHER_STATS_CPU | TETHER_STATS_MEMORY | TETHER_STATS_PIDS);
    assert_int_equal(st.cpu_usage_ns, 5000);
    assert_int_equal(st.memory_usage_bytes, 4096);
    assert_int_equal(st.memory_limit_bytes, 0); /* page-rounded LONG_MAX: no limit */
    assert_int_equal(st.pids_current, 1);
    assert_int_equal(st.pids_limit, 0); /* "max" */
    tether_cgroup_close(&cg);
}

static void test_open_v2(void **state)
{
    cleanup_free char *proc = proc_text("v2.txt");
    struct tether_cgroup cg;
    struct tether_stats st;
    struct tether_error err = {0};

    (void)state;
    open_ok(&cg, "v2", proc);
    assert_dir(&cg.memory, TETHER_CGROUP_V2, "v2/system.slice/ctr.scope");
    assert_dir(&cg.cpu, TETHER_CGROUP_V2, "v2/system.slice/ctr.scope");
    assert_dir(&cg.pids, TETHER_CGROUP_V2, "v2/system.slice/ctr.scope");

    assert_int_equal(tether_cgroup_stats(&cg, &st, &err), 0);
    assert_int_equal(st.have, TETHER_STATS_CPU | TETHER_STATS_MEMORY | TETHER_STATS_PIDS);
    assert_int_equal(st.cpu_usage_ns, 123456000);
    assert_int_equal(st.memory_usage_bytes, 8388608);
    assert_int_equal(st.memory_limit_bytes, 0);
    assert_int_equal(st.pids_current, 4);
    assert_int_equal(st.pids_limit, 0);
    assert_true(st.cpu_v2);
    assert_int_equal(st.cpu_user_ns, 100000000);
    assert_int_equal(st.cpu_system_ns, 23456000);
    assert_int_equal(st.n_cpus, 0);
    assert_int_equal(st.memory_stat.rss, 4194304);
    assert_int_equal(st.memory_stat.cache, 2097152);
    assert_int_equal(st.memory_stat.inactive_file, 1048576);
    assert_int_equal(st.memory_stat.pgfault, 1234);
    assert_int_equal(st.memory_stat.pgmajfault, 5);
    assert_int_equal(st.memory_max_usage_bytes, 9437184);
    assert_int_equal(st.swap_limit_bytes, 0);
    tether_cgroup_close(&cg);

    open_ok(&cg, "v2", "0::/system.slice/limited.scope\n");
    assert_int_equal(tether_cgroup_stats(&cg, &st, &err), 0);
    assert_int_equal(st.memory_usage_bytes, 1048576);
    assert_int_equal(st.memory_limit_bytes, 536870912);
    assert_int_equal(st.pids_current, 2);
    assert_int_equal(st.pids_limit, 64);
    tether_cgroup_close(&cg);
}

static void test_v2_missing_controller(void **state)
{
    struct tether_cgroup cg;
    struct tether_stats st;
    struct tether_error err = {0};

    (void)state;
    /* pids not enabled in this cgroup: the group is reported absent, not an error */
    open_ok(&cg, "v2", "0::/system.slice/nopids.scope");
    assert_int_equal(tether_cgroup_stats(&cg, &st, &err), 0);
    assert_int_equal(st.have, TETHER_STATS_CPU | TETHER_STATS_MEMORY);
    assert_int_equal(st.pids_current, 0);
    /* no memory.events: nothing to watch */
    assert_int_equal(tether_cgroup_oom_watch(&cg, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_contains(err.msg, "nopids.scope/memory.events");
    tether_cgroup_close(&cg);
}

static void test_memory_line_without_v1_mount(void **state)
{
    struct tether_cgroup cg;

    (void)state;
    /* A memory line but no <root>/memory hierarchy: memory is on the unified one. */
    open_ok(&cg, "v2", "4:memory:/elsewhere\n0::/system.slice/ctr.scope\n");
    assert_dir(&cg.memory, TETHER_CGROUP_V2, "v2/system.slice/ctr.scope");
    tether_cgroup_close(&cg);
}

static void test_open_errors(void **state)
{
    struct tether_error err = {0};

    (void)state;
    assert_int_equal(open_fails("v2", "garbage\n", &err), TETHER_ERR_INVALID);
    assert_string_equal(err.msg, "line 1: expected \"ID:controllers:path\", got \"garbage\"");
    assert_int_equal(open_fails("v2", "0::/system.slice/ctr.scope\nx:memory:/a\n", &err),
                     TETHER_ERR_INVALID);
    assert_contains(err.msg, "line 2:");
    assert_int_equal(open_fails("v1", "3:memory:docker/abc\n", &err), TETHER_ERR_INVALID);
    assert_string_equal(err.msg, "line 1: cgroup path \"docker/abc\" is not absolute");
    assert_int_equal(open_fails("v2", "0::/../../system.slice/ctr.scope\n", &err),
                     TETHER_ERR_INVALID);
    assert_contains(err.msg, "outside our cgroup namespace");
    assert_int_equal(open_fails("v2", "0::/a/..\n", &err), TETHER_ERR_INVALID);
    assert_int_equal(open_fails("v1", "3::/docker/abc\n", &err), TETHER_ERR_INVALID);
    assert_contains(err.msg, "no controllers on hierarchy 3");

    /* nothing to find */
    assert_int_equal(open_fails("v2", "", &err), TETHER_ERR_NOT_FOUND);
    assert_contains(err.msg, "no cgroup hierarchy under");
    assert_int_equal(open_fails("v1", "9:freezer:/docker/abc\n", &err), TETHER_ERR_NOT_FOUND);
    /* the process's cgroup directory is not there */
    assert_int_equal(open_fails("v2", "0::/system.slice/gone.scope\n", &err), TETHER_ERR_NOT_FOUND);
    assert_contains(err.msg, "gone.scope does not exist");
}

static void test_open_self(void **state)
{
    struct tether_cgroup cg;
    struct tether_error err = {0};

    (void)state;
    /* a pid that cannot exist: clear error naming the pid */
    assert_int_equal(tether_cgroup_open(&cg, 0x3fffffff, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_contains(err.msg, "cgroups of pid 1073741823: open /proc/1073741823/cgroup");
    tether_cgroup_close(&cg);
}

static void test_malformed_files(void **state)
{
    struct tether_cgroup cg;
    struct tether_stats st;
    struct tether_error err = {0};
    uint64_t kills;

    (void)state;
    open_ok(&cg, "v2", "0::/bad/memory.scope\n");
    assert_int_equal(tether_cgroup_stats(&cg, &st, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_contains(err.msg, "bad/memory.scope/memory.current: expected an unsigned integer, "
                             "got \"12k\"");
    tether_cgroup_close(&cg);

    open_ok(&cg, "v2", "0::/bad/cpu.scope\n");
    assert_int_equal(tether_cgroup_stats(&cg, &st, &err), -1);
    assert_contains(err.msg, "bad/cpu.scope/cpu.stat: no \"usage_usec\" key");
    tether_cgroup_close(&cg);

    open_ok(&cg, "v2", "0::/bad/limit.scope\n");
    assert_int_equal(tether_cgroup_stats(&cg, &st, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_contains(err.msg, "limit.scope/memory.max: expected a limit");
    assert_contains(err.msg, "got \"unlimited\"");
    tether_cgroup_close(&cg);

    open_ok(&cg, "v2", "0::/bad/events.scope\n");
    assert_int_equal(tether_cgroup_oom_kills(&cg, &kills, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_contains(err.msg, "events.scope/memory.events: key \"oom_kill\": expected an "
                             "unsigned integer, got \"-1\"");
    assert_int_equal(tether_cgroup_oom_watch(&cg, &err), -1);
    assert_contains(err.msg, "watch OOM events: ");
    assert_int_equal(cg.oom_fd, -1);
    tether_cgroup_close(&cg);
}

/* ---- OOM ---- */

static void test_oom_kills(void **state)
{
    cleanup_free char *hybrid = proc_text("hybrid.txt");
    cleanup_free char *v1 = proc_text("v1.txt");
    cleanup_free char *v2 = proc_text("v2.txt");
    struct tether_cgroup cg;
    struct tether_error err = {0};
    uint64_t kills = 0;
    bool killed = false;

    (void)state;
    open_ok(&cg, "hybrid", hybrid);
    assert_int_equal(tether_cgroup_oom_kills(&cg, &kills, &err), 0);
    assert_int_equal(kills, 1);
    assert_int_equal(tether_cgroup_oom_killed(&cg, &killed, &err), 0);
    assert_true(killed);
    tether_cgroup_close(&cg);

    open_ok(&cg, "v2", v2);
    assert_int_equal(tether_cgroup_oom_kills(&cg, &kills, &err), 0);
    assert_int_equal(kills, 2);
    tether_cgroup_close(&cg);

    open_ok(&cg, "v2", "0::/system.slice/limited.scope\n");
    killed = true;
    assert_int_equal(tether_cgroup_oom_killed(&cg, &killed, &err), 0);
    assert_false(killed);
    tether_cgroup_close(&cg);

    /* an old v1 kernel without the kill counter: fall back to the events seen */
    open_ok(&cg, "v1", v1);
    assert_int_equal(tether_cgroup_oom_kills(&cg, &kills, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    killed = true;
    assert_int_equal(tether_cgroup_oom_killed(&cg, &killed, &err), 0);
    assert_false(killed);
    cg.oom_events = 1;
    assert_int_equal(tether_cgroup_oom_killed(&cg, &killed, &err), 0);
    assert_true(killed);
    tether_cgroup_close(&cg);
}

static void test_oom_check_unwatched(void **state)
{
    cleanup_free char *proc = proc_text("v2.txt");
    struct tether_cgroup cg;
    struct tether_error err = {0};
    unsigned n = 9;
    bool ended = true;

    (void)state;
    tether_cgroup_init(&cg);
    tether_cgroup_close(&cg); /* never opened: harmless */
    open_ok(&cg, "v2", proc);
    assert_int_equal(tether_cgroup_oom_check(&cg, &n, &ended, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_STATE);
    assert_int_equal(n, 0);
    assert_false(ended);
    tether_cgroup_close(&cg);
}

/* A scratch pure-v2 tree whose memory.events the test rewrites like the kernel would. */
struct scratch {
    char root[64];
    char cg[128];
    char events[192];
};

static void write_text(const char *path, const char *text)
{
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    struct tether_error err = {0};

    assert_true(fd >= 0);
    if (tether_write_all(fd, text, strlen(text), &err) < 0)
        fail_msg("%s", err.msg);
}

static int scratch_setup(void **state)
{
    struct scratch *s = xzalloc(sizeof(*s));
    char path[128];

    snprintf(s->root, sizeof(s->root), "/tmp/tether-test-cgroup-XXXXXX");
    if (mkdtemp(s->root) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/cgroup.controllers", s->root);
    write_text(path, "memory pids\n");
    snprintf(s->cg, sizeof(s->cg), "%s/ctr", s->root);
    if (mkdir(s->cg, 0755) < 0)
        return -1;
    snprintf(s->events, sizeof(s->events), "%s/memory.events", s->cg);
    write_text(s->events, "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\noom_group_kill 0\n");
    *state = s;
    return 0;
}

static int scratch_teardown(void **state)
{
    struct scratch *s = *state;
    char path[128];

    unlink(s->events);
    rmdir(s->cg);
    snprintf(path, sizeof(path), "%s/cgroup.controllers", s->root);
    unlink(path);
    rmdir(s->root);
    free(s);
    return 0;
}

static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void test_oom_watch_v2(void **state)
{
    struct scratch *s = *state;
    struct tether_cgroup cg;
    struct tether_error err = {0};
    unsigned n = 0;
    bool ended = false;
    int fd;

    if (tether_cgroup_open_at(&cg, s->root, "0::/ctr\n", &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(cg.memory.version, TETHER_CGROUP_V2);
    fd = tether_cgroup_oom_watch(&cg, &err);
    if (fd < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(tether_cgroup_oom_watch(&cg, &err), fd); /* idempotent */
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    assert_false(readable(fd, 0));

    /* an event that is not a kill wakes us but reports nothing */
    write_text(s->events, "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n");
    assert_true(readable(fd, 2000));
    assert_int_equal(tether_cgroup_oom_check(&cg, &n, &ended, &err), 0);
    assert_int_equal(n, 0);
    assert_false(ended);
    assert_false(readable(fd, 0)); /* drained: level-triggered epoll will not spin */

    /* two kills since the baseline of 1 taken when the watch was armed */
    write_text(s->events, "low 0\nhigh 0\nmax 9\noom 3\noom_kill 3\noom_group_kill 0\n");
    assert_true(readable(fd, 2000));
    assert_int_equal(tether_cgroup_oom_check(&cg, &n, &ended, &err), 0);
    assert_int_equal(n, 2);
    assert_false(ended);
    assert_int_equal(cg.oom_events, 2);

    /* a check with nothing pending is harmless */
    assert_int_equal(tether_cgroup_oom_check(&cg, &n, &ended, &err), 0);
    assert_int_equal(n, 0);

    /* the cgroup goes away: the watch ends */
    assert_int_equal(unlink(s->events), 0);
    assert_true(readable(fd, 2000));
    assert_int_equal(tether_cgroup_oom_check(&cg, &n, &ended, &err), 0);
    assert_int_equal(n, 0);
    assert_true(ended);

    tether_cgroup_oom_unwatch(&cg);
    assert_int_equal(cg.oom_fd, -1);
    assert_int_equal(fcntl(fd, F_GETFD), -1); /* closed */
    tether_cgroup_close(&cg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_limit),
        cmocka_unit_test(test_parse_keyed),
        cmocka_unit_test(test_open_hybrid),
        cmocka_unit_test(test_open_v1_joined_mount),
        cmocka_unit_test(test_open_v2),
        cmocka_unit_test(test_v2_missing_controller),
        cmocka_unit_test(test_memory_line_without_v1_mount),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_open_self),
        cmocka_unit_test(test_malformed_files),
        cmocka_unit_test(test_oom_kills),
        cmocka_unit_test(test_oom_check_unwatched),
        cmocka_unit_test_setup_teardown(test_oom_watch_v2, scratch_setup, scratch_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
