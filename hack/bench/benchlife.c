/* One container lifecycle, timed with CLOCK_MONOTONIC from the first spawn to the last
 * process gone; prints the duration in nanoseconds.
 *
 *   benchlife cmd ARGV...                              one command, stdio on /dev/null
 *   benchlife runc-steps RUNTIME ROOT BUNDLE ID PIDFILE  RUNTIME create, start, the init's
 *                                                      exit, delete: the invocations a
 *                                                      shim makes, with no shim
 *   benchlife null-steps NULLSHIM RUNTIME ROOT BUNDLE ID STATEDIR
 *                                                      the runtime's steps as runc-steps
 *                                                      runs them, and beside them the
 *                                                      lifecycle of a shim that does
 *                                                      nothing (nullshim): launched, one
 *                                                      request after each step, shut down
 *                                                      (the least any shim adds)
 *   benchlife conmon RUNTIME ROOT BUNDLE ID WORKDIR    conmon, runc start, exit file,
 *                                                      runc delete, conmon gone
 *   benchlife tether SHIM ROOT BUNDLE ID STATEDIR      tether-shim: create, start, wait,
 *                                                      delete, shutdown, shim gone (SHIM
 *                                                      may be nullshim, which only answers)
 *   benchlife launch SHIM ROOT BUNDLE ID STATEDIR      tether-shim's start alone: from the
 *                                                      spawn until its launcher returned
 *                                                      (socket ready); then shut down, untimed
 *
 * With PHASES=1 in the environment, runc-steps and tether print the duration of each phase
 * after the total, as NAME=NANOSECONDS: launch (tether), create, start, exit (from start
 * done to the exit known), delete, shutdown (tether: shutdown asked to the shim gone); and
 * tether cpu=NANOSECONDS, the CPU time its launcher and daemon used up to the shutdown (the
 * kernel's own count: wait4's usage of the launcher, /proc/PID/schedstat of the daemon); cmd
 * cpu=NANOSECONDS, the command's (with the children it reaped).
 *
 * The container must exit with status 0. The program is a child subreaper, so the daemons
 * that fork away from their launcher (conmon, tether-shim) come back to it and their end is
 * part of the measurement. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"

#define PIDFILE_TIMEOUT_MS 10000
#define EXIT_TIMEOUT_MS    30000

/* Phase marks of one lifecycle: mark() records the time since the previous mark. */
#define PHASES_MAX 8
static struct {
    const char *name[PHASES_MAX];
    uint64_t ns[PHASES_MAX];
    int n;
    uint64_t last;
} phases;

static void mark_start(void)
{
    phases.n = 0;
    phases.last = bench_now_ns();
}

static void mark(const char *name)
{
    uint64_t now = bench_now_ns();

    if (phases.n < PHASES_MAX) {
        phases.name[phases.n] = name;
        phases.ns[phases.n++] = now - phases.last;
    }
    phases.last = now;
}

/* The CPU time of the lifecycle's own processes: tether's launcher and daemon, or cmd's
 * command (printed with PHASES=1 when not 0). */
static uint64_t own_cpu_ns;

static uint64_t life_cmd(char *const argv[])
{
    uint64_t t0 = bench_now_ns();

    bench_wait_ok_cpu(bench_spawn(argv, -1, -1, 2), argv[0], &own_cpu_ns);
    return bench_now_ns() - t0;
}

/* Asks a shim that does nothing (null-steps) for the step just taken, when there is one. */
static void null_call(struct bench_conn *c, const char *method)
{
    if (c != NULL)
        json_decref(bench_conn_call(c, method, NULL));
}

/* The runtime's steps; with NULLC, each followed by its request to a shim that does nothing. */
static uint64_t life_runc_steps(const char *runtime, const char *root, const char *bundle,
                                const char *id, const char *pidfile, struct bench_conn *nullc)
{
    char *create_argv[] = {(char *)runtime, "--root",     (char *)root,    "create",   "--bundle",
                           (char *)bundle,  "--pid-file", (char *)pidfile, (char *)id, NULL};
    char *start_argv[] = {(char *)runtime, "--root", (char *)root, "start", (char *)id, NULL};
    char *delete_argv[] = {(char *)runtime, "--root", (char *)root, "delete", (char *)id, NULL};
    int watcher = bench_watcher_open();
    uint64_t t0 = bench_now_ns();
    pid_t init;
    int status;
    int out[2];

    mark_start();
    /* The container's stdout and stderr are a pipe, as a shim gives them (runc create is
     * measurably slower with /dev/null there); nothing is written to it. */
    if (pipe2(out, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    bench_wait_ok(bench_spawn(create_argv, -1, out[1], out[1]), "runtime create");
    close(out[1]);
    /* The init was re-parented to this subreaper when `create` exited. */
    init = bench_wait_pidfile(watcher, pidfile, PIDFILE_TIMEOUT_MS);
    null_call(nullc, "create");
    mark("create");
    bench_run_ok(start_argv);
    null_call(nullc, "start");
    mark("start");
    status = bench_wait(init);
    null_call(nullc, "wait");
    mark("exit");
    bench_run_ok(delete_argv);
    null_call(nullc, "delete");
    mark("delete");
    t0 = bench_now_ns() - t0;
    close(out[0]);
    close(watcher);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_die("container ended with wait status 0x%x", status);
    return t0;
}

static void mkdir_p(const char *path)
{
    if (mkdir(path, 0700) < 0 && errno != EEXIST)
        bench_die("mkdir %s: %s", path, strerror(errno));
}

static uint64_t life_conmon(const char *runtime, const char *root, const char *bundle,
                            const char *id, const char *work)
{
    char pidfile[4096], conmon_pidfile[4096], log[4096], exit_dir[4096], sock_dir[4096];
    char exit_file[8192], root_arg[4200];
    char *exit_text;
    pid_t conmon;
    int watcher;
    uint64_t t0;

    snprintf(pidfile, sizeof(pidfile), "%s/pid", work);
    snprintf(conmon_pidfile, sizeof(conmon_pidfile), "%s/conmon.pid", work);
    snprintf(log, sizeof(log), "k8s-file:%s/ctr.log", work);
    snprintf(exit_dir, sizeof(exit_dir), "%s/exit", work);
    snprintf(sock_dir, sizeof(sock_dir), "%s/sock", work);
    snprintf(exit_file, sizeof(exit_file), "%s/%s", exit_dir, id);
    snprintf(root_arg, sizeof(root_arg), "--root=%s", root);
    mkdir_p(work);
    mkdir_p(exit_dir);
    mkdir_p(sock_dir);

    char *conmon_argv[] = {"conmon",
                           "--api-version",
                           "1",
                           "-c",
                           (char *)id,
                           "-u",
                           (char *)id,
                           "-n",
                           (char *)id,
                           "-r",
                           (char *)runtime,
                           "--runtime-arg",
                           root_arg,
                           "-b",
                           (char *)bundle,
                           "-p",
                           pidfile,
                           "-P",
                           conmon_pidfile,
                           "-l",
                           log,
                           "--exit-dir",
                           exit_dir,
                           "--socket-dir-path",
                           sock_dir,
                           NULL};
    char *start_argv[] = {(char *)runtime, "--root", (char *)root, "start", (char *)id, NULL};
    char *delete_argv[] = {(char *)runtime, "--root", (char *)root, "delete", (char *)id, NULL};

    watcher = bench_watcher_open();
    t0 = bench_now_ns();
    /* conmon's parent returns once the monitor has forked, before the container exists. */
    bench_wait_ok(bench_spawn(conmon_argv, -1, -1, 2), "conmon");
    conmon = bench_wait_pidfile(watcher, conmon_pidfile, PIDFILE_TIMEOUT_MS);
    bench_wait_pidfile(watcher, pidfile, PIDFILE_TIMEOUT_MS);
    bench_run_ok(start_argv);
    if (!bench_wait_file(watcher, exit_file, EXIT_TIMEOUT_MS))
        bench_die("conmon wrote no exit file %s", exit_file);
    bench_run_ok(delete_argv);
    bench_wait_ok(conmon, "conmon monitor");
    t0 = bench_now_ns() - t0;
    close(watcher);

    exit_text = bench_read_small(exit_file);
    if (exit_text == NULL || atoi(exit_text) != 0)
        bench_die("container exited with status %s", exit_text != NULL ? exit_text : "?");
    free(exit_text);
    return t0;
}

static uint64_t life_tether(const char *shim_path, const char *root, const char *bundle,
                            const char *id, const char *state)
{
    struct bench_shim shim;
    struct bench_conn *c;
    json_t *res;
    long long status;
    uint64_t t0 = bench_now_ns();

    mark_start();
    bench_tether_launch(shim_path, id, bundle, state, root, NULL, &shim);
    c = bench_conn_open(shim.socket);
    mark("launch");
    json_decref(bench_conn_call(c, "create", NULL));
    mark("create");
    json_decref(bench_conn_call(c, "start", NULL));
    mark("start");
    res = bench_conn_call(c, "wait", NULL);
    mark("exit");
    status = json_integer_value(json_object_get(res, "exit_status"));
    json_decref(res);
    json_decref(bench_conn_call(c, "delete", NULL));
    mark("delete");
    /* The shim's own CPU time, its two processes: all of it but the daemon's exit. */
    own_cpu_ns = shim.launcher_cpu_ns + bench_cpu_ns(shim.pid);
    json_decref(bench_conn_call(c, "shutdown", NULL));
    bench_conn_close(c);
    bench_wait_ok(shim.pid, "tether-shim");
    mark("shutdown");
    t0 = bench_now_ns() - t0;

    if (status != 0)
        bench_die("container exited with status %lld", status);
    return t0;
}

static uint64_t life_null_steps(const char *null_path, const char *runtime, const char *root,
                                const char *bundle, const char *id, const char *state)
{
    struct bench_shim shim;
    struct bench_conn *c;
    char pidfile[4200];
    uint64_t t0 = bench_now_ns();

    /* nullshim keeps its socket in STATEDIR itself: the pid file goes beside it. */
    snprintf(pidfile, sizeof(pidfile), "%s/%s.null.pid", state, id);
    bench_tether_launch(null_path, id, bundle, state, root, NULL, &shim);
    c = bench_conn_open(shim.socket);
    life_runc_steps(runtime, root, bundle, id, pidfile, c);
    json_decref(bench_conn_call(c, "shutdown", NULL));
    bench_conn_close(c);
    bench_wait_ok(shim.pid, "nullshim");
    t0 = bench_now_ns() - t0;
    unlink(pidfile);
    return t0;
}

static uint64_t life_launch(const char *shim_path, const char *root, const char *bundle,
                            const char *id, const char *state)
{
    struct bench_shim shim;
    struct bench_conn *c;
    uint64_t t0 = bench_now_ns();

    bench_tether_launch(shim_path, id, bundle, state, root, NULL, &shim);
    t0 = bench_now_ns() - t0;
    c = bench_conn_open(shim.socket);
    json_decref(bench_conn_call(c, "shutdown", NULL));
    bench_conn_close(c);
    bench_wait_ok(shim.pid, "tether-shim");
    return t0;
}

int main(int argc, char **argv)
{
    uint64_t ns;

    bench_set_prog("benchlife");
    bench_subreaper();
    if (argc >= 3 && strcmp(argv[1], "cmd") == 0)
        ns = life_cmd(argv + 2);
    else if (argc == 7 && strcmp(argv[1], "runc-steps") == 0)
        ns = life_runc_steps(argv[2], argv[3], argv[4], argv[5], argv[6], NULL);
    else if (argc == 8 && strcmp(argv[1], "null-steps") == 0)
        ns = life_null_steps(argv[2], argv[3], argv[4], argv[5], argv[6], argv[7]);
    else if (argc == 7 && strcmp(argv[1], "conmon") == 0)
        ns = life_conmon(argv[2], argv[3], argv[4], argv[5], argv[6]);
    else if (argc == 7 && strcmp(argv[1], "tether") == 0)
        ns = life_tether(argv[2], argv[3], argv[4], argv[5], argv[6]);
    else if (argc == 7 && strcmp(argv[1], "launch") == 0)
        ns = life_launch(argv[2], argv[3], argv[4], argv[5], argv[6]);
    else
        bench_die("usage: benchlife cmd ARGV... | runc-steps RUNTIME ROOT BUNDLE ID PIDFILE | "
                  "null-steps NULLSHIM RUNTIME ROOT BUNDLE ID STATEDIR | "
                  "conmon RUNTIME ROOT BUNDLE ID WORKDIR | "
                  "tether|launch SHIM ROOT BUNDLE ID STATEDIR");
    printf("%llu", (unsigned long long)ns);
    if (getenv("PHASES") != NULL) {
        for (int i = 0; i < phases.n; i++)
            printf(" %s=%llu", phases.name[i], (unsigned long long)phases.ns[i]);
        if (own_cpu_ns != 0)
            printf(" cpu=%llu", (unsigned long long)own_cpu_ns);
    }
    printf("\n");
    return 0;
}
