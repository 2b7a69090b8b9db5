/* Integration tests of the shim's cgroup module against the real kernel (needs root): a
 * forked child is moved into fresh cgroups, its usage must show up in the stats, and a
 * memory limit it overruns must OOM-kill it and fire the OOM watch.
 *
 * The v1 scenario runs wherever memory, cpuacct and pids are v1 hierarchies under
 * /sys/fs/cgroup; the v2 one wherever the unified hierarchy offers the memory controller
 * (not on a hybrid host whose controllers are all bound to v1: there the unit tests'
 * fixtures cover the v2 code). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

/* The integration tests link only the harness library (client and runtime), not the
 * shim's module library, so the module under test is compiled in here. */
#include "cgroup.h"

#define MIB            (1024 * 1024)
#define TOUCH_SIZE     (20 * MIB)
#define LIMIT_SIZE     (16 * MIB)
#define RUNAWAY_CAP    (512 * MIB) /* the runaway child gives up here if no limit holds */
#define PIDS_LIMIT     50
#define OOM_TIMEOUT_MS 10000

enum layout {
    LAYOUT_V1, /* memory, cpuacct, pids as separate v1 hierarchies */
    LAYOUT_V2, /* everything in the unified hierarchy */
};

struct fixture {
    enum layout layout;
    char name[64];        /* tether-it-<pid>-<n> */
    char dirs[3][128];    /* cgroup directories created, "" when unused */
    char memory_dir[128]; /* where the memory controller's files are */
    char cpu_dir[128];
    char pids_dir[128];
    pid_t child;
    int cmd;                 /* write end: commands to the child */
    int ack;                 /* read end: the child's answers */
    struct tether_cgroup cg; /* the module under test */
};

/* Where the unified hierarchy is mounted on this host, or NULL. */
static const char *v2_mount(void)
{
    if (access(TETHER_CGROUP_ROOT "/cgroup.controllers", F_OK) == 0)
        return TETHER_CGROUP_ROOT;
    if (access(TETHER_CGROUP_ROOT "/unified/cgroup.controllers", F_OK) == 0)
        return TETHER_CGROUP_ROOT "/unified";
    return NULL;
}

static bool word_in_file(const char *path, const char *word)
{
    cleanup_free char *text = NULL;
    size_t wlen = strlen(word);

    if (tether_read_file(path, 4096, &text, NULL, NULL) < 0)
        return false;
    for (char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word)) {
        bool start = p == text || p[-1] == ' ';
        bool end = p[wlen] == ' ' || p[wlen] == '\n' || p[wlen] == '\0';

        if (start && end)
            return true;
    }
    return false;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    cleanup_close int fd = -1;
    struct tether_error err = {0};

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fail_msg("open %s: %s", path, strerror(errno));
    if (tether_write_all(fd, text, strlen(text), &err) < 0)
        fail_msg("write \"%s\" to %s: %s", text, path, err.msg);
}

/* ---- the child ---- */

static void child_main(int cmd, int ack)
{
    char *block = MAP_FAILED;
    char c;

    while (read(cmd, &c, 1) == 1) {
        switch (c) {
        case 'a': /* touch TOUCH_SIZE bytes, a few times over to burn some CPU */
            block =
                mmap(NULL, TOUCH_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (block == MAP_FAILED)
                _exit(2);
            for (int round = 0; round < 8; round++)
                memset(block, round + 1, TOUCH_SIZE);
            break;
        case 'f':
            if (block != MAP_FAILED)
                munmap(block, TOUCH_SIZE);
            block = MAP_FAILED;
            break;
        case 'o': /* allocate until the kernel kills us */
            for (size_t total = 0; total < RUNAWAY_CAP; total += MIB) {
                char *p =
                    mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

                if (p == MAP_FAILED)
                    _exit(2);
                memset(p, 1, MIB);
            }
            _exit(3);
        default:
            _exit(4);
        }
        if (write(ack, "k", 1) != 1)
            _exit(5);
    }
    _exit(0);
}

static void child_do(struct fixture *f, char c)
{
    char k;

    assert_int_equal(write(f->cmd, &c, 1), 1);
    assert_int_equal(read(f->ack, &k, 1), 1);
}

/* Waits up to timeout_ms for the child to end; returns its wait status or -1. */
static int child_wait(struct fixture *f, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int status;
        pid_t r = waitpid(f->child, &status, WNOHANG);

        if (r == f->child) {
            f->child = -1;
            return status;
        }
        usleep(10 * 1000);
    }
    return -1;
}

/* ---- setup / teardown ---- */

static int teardown(void **state);

static bool create_dir(struct fixture *f, int i, const char *base)
{
    snprintf(f->dirs[i], sizeof(f->dirs[i]), "%s/%s", base, f->name);
    if (mkdir(f->dirs[i], 0755) == 0)
        return true;
    print_error("mkdir %s: %s\n", f->dirs[i], strerror(errno));
    f->dirs[i][0] = '\0';
    return false;
}

static bool start_child(struct fixture *f)
{
    int cmd[2], ack[2];

    if (pipe2(cmd, O_CLOEXEC) < 0)
        return false;
    if (pipe2(ack, O_CLOEXEC) < 0) {
        close(cmd[0]);
        close(cmd[1]);
        return false;
    }
    f->child = fork();
    if (f->child == 0) {
        close(cmd[1]);
        close(ack[0]);
        child_main(cmd[0], ack[1]);
    }
    close(cmd[0]);
    close(ack[1]);
    f->cmd = cmd[1];
    f->ack = ack[0];
    return f->child > 0;
}

/* Creates the cgroups (and the child when with_child); on failure cleans up itself, since
 * cmocka does not run the teardown of a failed setup. */
static int setup(void **state, enum layout layout, bool with_child)
{
    static unsigned serial;
    struct fixture *f = xzalloc(sizeof(*f));
    bool ok;

    f->layout = layout;
    f->child = -1;
    f->cmd = f->ack = -1;
    tether_cgroup_init(&f->cg);
    *state = f;
    snprintf(f->name, sizeof(f->name), "tether-it-%d-%u", (int)getpid(), serial++);
    if (layout == LAYOUT_V1) {
        ok = create_dir(f, 0, TETHER_CGROUP_ROOT "/memory") &&
             create_dir(f, 1, TETHER_CGROUP_ROOT "/cpuacct") &&
             create_dir(f, 2, TETHER_CGROUP_ROOT "/pids");
        snprintf(f->memory_dir, sizeof(f->memory_dir), "%s", f->dirs[0]);
        snprintf(f->cpu_dir, sizeof(f->cpu_dir), "%s", f->dirs[1]);
        snprintf(f->pids_dir, sizeof(f->pids_dir), "%s", f->dirs[2]);
    } else {
        ok = create_dir(f, 0, v2_mount());
        snprintf(f->memory_dir, sizeof(f->memory_dir), "%s", f->dirs[0]);
        snprintf(f->cpu_dir, sizeof(f->cpu_dir), "%s", f->dirs[0]);
        snprintf(f->pids_dir, sizeof(f->pids_dir), "%s", f->dirs[0]);
    }
    if (ok && with_child)
        ok = start_child(f);
    if (!ok) {
        teardown(state);
        *state = NULL;
        return -1;
    }
    return 0;
}

static bool v1_hierarchies(void)
{
    return access(TETHER_CGROUP_ROOT "/memory/memory.oom_control", F_OK) == 0 &&
           access(TETHER_CGROUP_ROOT "/cpuacct/cpuacct.usage", F_OK) == 0 &&
           access(TETHER_CGROUP_ROOT "/pids/tasks", F_OK) == 0;
}

static int setup_v1(void **state)
{
    return v1_hierarchies() ? setup(state, LAYOUT_V1, true) : 0;
}

static int setup_v1_empty(void **state)
{
    return v1_hierarchies() ? setup(state, LAYOUT_V1, false) : 0;
}

static int setup_v2(void **state)
{
    const char *mount = v2_mount();
    char path[128];

    if (mount == NULL)
        return 0;
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", mount);
    if (!word_in_file(path, "memory") || !word_in_file(path, "pids"))
        return 0;
    return setup(state, LAYOUT_V2, true);
}

/* rmdir, retrying while the kernel still counts the just-reaped child. */
static void remove_dir(const char *dir)
{
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return;
        if (errno != EBUSY)
            break;
        usleep(10 * 1000);
    }
    print_error("rmdir %s: %s\n", dir, strerror(errno));
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f == NULL)
        return 0;
    if (f->child > 0) {
        kill(f->child, SIGKILL);
        waitpid(f->child, NULL, 0);
    }
    if (f->cmd >= 0)
        close(f->cmd);
    if (f->ack >= 0)
        close(f->ack);
    tether_cgroup_close(&f->cg);
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(f->dirs); i++)
        if (f->dirs[i][0] != '\0')
            remove_dir(f->dirs[i]);
    free(f);
    return 0;
}

/* ---- the scenario ---- */

static void move_child(struct fixture *f)
{
    char pid[16];

    snprintf(pid, sizeof(pid), "%d", (int)f->child);
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(f->dirs); i++)
        if (f->dirs[i][0] != '\0')
            write_file(f->dirs[i], "cgroup.procs", pid);
}

static void stats(struct fixture *f, struct tether_stats *st)
{
    struct tether_error err = {0};

    if (tether_cgroup_stats(&f->cg, st, &err) < 0)
        fail_msg("stats: %s", err.msg);
    assert_int_equal(st->have, TETHER_STATS_CPU | TETHER_STATS_MEMORY | TETHER_STATS_PIDS);
}

static bool readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};

    return poll(&p, 1, timeout_ms) == 1 && (p.revents & POLLIN);
}

static void run_scenario(struct fixture *f)
{
    enum tether_cgroup_version v = f->layout == LAYOUT_V1 ? TETHER_CGROUP_V1 : TETHER_CGROUP_V2;
    struct tether_stats before, after;
    struct tether_error err = {0};
    char limit[32];
    unsigned n = 0;
    bool ended = true, killed = true;
    uint64_t kills = 99;
    int fd, status;

    move_child(f);
    snprintf(limit, sizeof(limit), "%d", PIDS_LIMIT);
    write_file(f->pids_dir, "pids.max", limit);
    if (tether_cgroup_open(&f->cg, f->child, &err) < 0)
        fail_msg("open: %s", err.msg);
    assert_int_equal(f->cg.memory.version, v);
    assert_int_equal(f->cg.cpu.version, v);
    assert_int_equal(f->cg.pids.version, v);
    assert_string_equal(f->cg.memory.dir, f->memory_dir);
    assert_string_equal(f->cg.cpu.dir, f->cpu_dir);
    assert_string_equal(f->cg.pids.dir, f->pids_dir);

    stats(f, &before);
    assert_int_equal(before.memory_limit_bytes, 0);
    assert_int_equal(before.pids_current, 1);
    assert_int_equal(before.pids_limit, PIDS_LIMIT);

    fd = tether_cgroup_oom_watch(&f->cg, &err);
    if (fd < 0)
        fail_msg("oom_watch: %s", err.msg);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);

    /* usage moves */
    child_do(f, 'a');
    stats(f, &after);
    if (after.memory_usage_bytes < before.memory_usage_bytes + TOUCH_SIZE - MIB)
        fail_msg("memory usage %llu -> %llu after touching %d bytes",
                 (unsigned long long)before.memory_usage_bytes,
                 (unsigned long long)after.memory_usage_bytes, TOUCH_SIZE);
    assert_true(after.cpu_usage_ns > before.cpu_usage_ns);
    child_do(f, 'f');

    /* a limit below what the child will want; nothing has run out yet */
    snprintf(limit, sizeof(limit), "%d", LIMIT_SIZE);
    write_file(f->memory_dir, f->layout == LAYOUT_V1 ? "memory.limit_in_bytes" : "memory.max",
               limit);
    stats(f, &after);
    assert_int_equal(after.memory_limit_bytes, LIMIT_SIZE);
    assert_false(readable(fd, 0));
    assert_int_equal(tether_cgroup_oom_killed(&f->cg, &killed, &err), 0);
    assert_false(killed);

    /* the child runs away and the kernel OOM-kills it */
    assert_int_equal(write(f->cmd, "o", 1), 1);
    if (!readable(fd, OOM_TIMEOUT_MS))
        fail_msg("OOM watch fd not readable after %d ms", OOM_TIMEOUT_MS);
    status = child_wait(f, OOM_TIMEOUT_MS);
    assert_true(status != -1);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
        fail_msg("child ended with status 0x%x, not SIGKILL", status);

    if (tether_cgroup_oom_check(&f->cg, &n, &ended, &err) < 0)
        fail_msg("oom_check: %s", err.msg);
    assert_true(n >= 1);
    assert_false(ended);
    assert_int_equal(tether_cgroup_oom_kills(&f->cg, &kills, &err), 0);
    assert_true(kills >= 1);
    assert_int_equal(tether_cgroup_oom_killed(&f->cg, &killed, &err), 0);
    assert_true(killed);
}

static void test_v1_stats_and_oom(void **state)
{
    struct fixture *f = *state;

    if (f == NULL) {
        print_message("memory, cpuacct and pids are not v1 hierarchies here\n");
        skip();
    }
    run_scenario(f);
}

static void test_v2_stats_and_oom(void **state)
{
    struct fixture *f = *state;

    if (f == NULL) {
        print_message("the unified hierarchy has no memory and pids controllers here (they are "
                      "bound to v1); the v2 code is covered by the unit tests' fixtures\n");
        skip();
    }
    run_scenario(f);
}

/* Removing a v1 memory cgroup signals its registered eventfds once; that must not be
 * reported as an OOM, and the watch must say it ended. */
static void test_v1_removal_is_not_an_oom(void **state)
{
    struct fixture *f = *state;
    char proc[160];
    struct tether_error err = {0};
    unsigned n = 99;
    bool ended = false;
    int fd;

    if (f == NULL) {
        print_message("no v1 memory hierarchy here\n");
        skip();
    }
    snprintf(proc, sizeof(proc), "4:memory:/%s\n", f->name);
    if (tether_cgroup_open_at(&f->cg, TETHER_CGROUP_ROOT, proc, &err) < 0)
        fail_msg("open_at: %s", err.msg);
    assert_string_equal(f->cg.memory.dir, f->memory_dir);
    fd = tether_cgroup_oom_watch(&f->cg, &err);
    if (fd < 0)
        fail_msg("oom_watch: %s", err.msg);
    assert_false(readable(fd, 0));
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(f->dirs); i++)
        assert_int_equal(rmdir(f->dirs[i]), 0);
    if (!readable(fd, OOM_TIMEOUT_MS))
        fail_msg("eventfd not signalled after the cgroup was removed");
    assert_int_equal(tether_cgroup_oom_check(&f->cg, &n, &ended, &err), 0);
    assert_int_equal(n, 0);
    assert_true(ended);
    assert_int_equal(f->cg.oom_events, 0);
    assert_false(readable(fd, 0));
    tether_cgroup_oom_unwatch(&f->cg);
    assert_int_equal(f->cg.oom_fd, -1);
}

/* The test process itself: open by pid agrees with /proc/self/cgroup. */
static void test_open_self(void **state)
{
    cleanup_free char *text = NULL;
    struct tether_cgroup cg;
    struct tether_stats st;
    struct tether_error err = {0};
    char want[PATH_MAX];
    const char *line;

    (void)state;
    if (tether_read_file("/proc/self/cgroup", TETHER_CGROUP_PROC_MAX, &text, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    if (tether_cgroup_open(&cg, getpid(), &err) < 0)
        fail_msg("open self: %s", err.msg);
    line = strstr(text, ":memory:");
    if (line != NULL && access(TETHER_CGROUP_ROOT "/memory", F_OK) == 0) {
        const char *path = line + strlen(":memory:");
        int len = (int)strcspn(path, "\n");

        snprintf(want, sizeof(want), TETHER_CGROUP_ROOT "/memory%.*s", len == 1 ? 0 : len, path);
        assert_int_equal(cg.memory.version, TETHER_CGROUP_V1);
        assert_string_equal(cg.memory.dir, want);
    } else {
        assert_int_equal(cg.memory.version, TETHER_CGROUP_V2);
    }
    if (tether_cgroup_stats(&cg, &st, &err) < 0)
        fail_msg("stats: %s", err.msg);
    assert_true(st.have & TETHER_STATS_MEMORY);
    assert_true(st.memory_usage_bytes > 0);
    tether_cgroup_close(&cg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_self),
        cmocka_unit_test_setup_teardown(test_v1_stats_and_oom, setup_v1, teardown),
        cmocka_unit_test_setup_teardown(test_v1_removal_is_not_an_oom, setup_v1_empty, teardown),
        cmocka_unit_test_setup_teardown(test_v2_stats_and_oom, setup_v2, teardown),
    };

    if (geteuid() != 0) {
        fprintf(stderr, "it_cgroup needs root (creates cgroups)\n");
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
