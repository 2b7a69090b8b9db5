/* Log throughput: one run of a container that writes to stdout as fast as it can, through
 * one consumer of its output, timed from the first spawn until every byte has been handled
 * (the consumer done, or tether's `wait` answered, which it does only after draining and
 * fsyncing the log).
 *
 *   logbench floor RUNTIME ROOT BUNDLE ID                `RUNTIME run` piped into cat
 *   logbench conmon RUNTIME ROOT BUNDLE ID WORKDIR LOG [MONITOR]
 *                                                        conmon (or MONITOR, a program with
 *                                                        conmon's command line) with
 *                                                        --log-path k8s-file:LOG
 *   logbench tether SHIM ROOT BUNDLE ID STATEDIR LOG FMT tether-shim, log {path,format}
 *   logbench podman PIDFILE LOG CMD...                   CMD (`podman start` of a created
 *                                                        container), then until the monitor
 *                                                        whose pid podman's --conmon-pidfile
 *                                                        PIDFILE names is gone
 *
 * Prints "seconds S", "cpu_ms C" (utime+stime of the consumer: cat, the monitor or the shim) and
 * "hwm_kb H" (its peak resident set, VmHWM) and "log_bytes N" (size of LOG after the run).
 * The container must exit with status 0. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"

#define SAMPLE_MS          100
#define PIDFILE_TIMEOUT_MS 10000

struct result {
    uint64_t ns;
    int64_t cpu_ns;
    long hwm_kb;
    long long log_bytes;
};

/* Waits for pid (a child of this process) to exit, sampling its VmHWM meanwhile; leaves it a
 * zombie, reads its final CPU time, then reaps it. Returns the wait status. */
static int watch_consumer(pid_t pid, struct result *r)
{
    int pidfd = bench_pidfd_open(pid);

    for (;;) {
        struct pollfd p = {.fd = pidfd, .events = POLLIN};
        long hwm = bench_proc_status_kb(pid, "VmHWM");

        if (hwm > r->hwm_kb)
            r->hwm_kb = hwm;
        if (poll(&p, 1, SAMPLE_MS) > 0)
            break;
    }
    close(pidfd);
    bench_wait_exited_nowait(pid);
    r->cpu_ns = bench_proc_cpu_ns(pid);
    return bench_wait(pid);
}

static void check_status(int status, const char *what)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        bench_die("%s ended with wait status 0x%x", what, status);
}

static void run_floor(const char *runtime, const char *root, const char *bundle, const char *id,
                      struct result *r)
{
    char *run_argv[] = {(char *)runtime, "--root",       (char *)root, "run",
                        "--bundle",      (char *)bundle, (char *)id,   NULL};
    char *cat_argv[] = {"cat", NULL};
    uint64_t t0 = bench_now_ns();
    pid_t cat, rt;
    int p[2];

    if (pipe2(p, O_CLOEXEC) < 0)
        bench_die("pipe: %s", strerror(errno));
    cat = bench_spawn(cat_argv, p[0], -1, 2);
    rt = bench_spawn(run_argv, -1, p[1], 2);
    close(p[0]);
    close(p[1]);
    check_status(watch_consumer(cat, r), "cat");
    bench_wait_ok(rt, "runtime run");
    r->ns = bench_now_ns() - t0;
    r->log_bytes = -1;
}

static void run_conmon(const char *monitor, const char *runtime, const char *root,
                       const char *bundle, const char *id, const char *work, const char *log,
                       struct result *r)
{
    char pidfile[4096], conmon_pidfile[4096], log_arg[4200], exit_dir[4096], sock_dir[4096];
    char exit_file[8192], root_arg[4200];
    char *exit_text;
    pid_t conmon;
    int watcher;
    uint64_t t0;

    snprintf(pidfile, sizeof(pidfile), "%s/pid", work);
    snprintf(conmon_pidfile, sizeof(conmon_pidfile), "%s/conmon.pid", work);
    snprintf(log_arg, sizeof(log_arg), "k8s-file:%s", log);
    snprintf(exit_dir, sizeof(exit_dir), "%s/exit", work);
    snprintf(sock_dir, sizeof(sock_dir), "%s/sock", work);
    snprintf(exit_file, sizeof(exit_file), "%s/%s", exit_dir, id);
    snprintf(root_arg, sizeof(root_arg), "--root=%s", root);
    if ((mkdir(work, 0700) < 0 && errno != EEXIST) ||
        (mkdir(exit_dir, 0700) < 0 && errno != EEXIST) ||
        (mkdir(sock_dir, 0700) < 0 && errno != EEXIST))
        bench_die("mkdir under %s: %s", work, strerror(errno));

    char *conmon_argv[] = {(char *)monitor,
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
                           log_arg,
                           "--exit-dir",
                           exit_dir,
                           "--socket-dir-path",
                           sock_dir,
                           NULL};
    char *start_argv[] = {(char *)runtime, "--root", (char *)root, "start", (char *)id, NULL};
    char *delete_argv[] = {(char *)runtime, "--root", (char *)root, "delete", (char *)id, NULL};

    watcher = bench_watcher_open();
    t0 = bench_now_ns();
    bench_wait_ok(bench_spawn(conmon_argv, -1, -1, 2), "conmon");
    conmon = bench_wait_pidfile(watcher, conmon_pidfile, PIDFILE_TIMEOUT_MS);
    bench_wait_pidfile(watcher, pidfile, PIDFILE_TIMEOUT_MS);
    bench_run_ok(start_argv);
    /* conmon leaves once the container is gone and its output drained and synced. */
    check_status(watch_consumer(conmon, r), "conmon");
    r->ns = bench_now_ns() - t0;
    close(watcher);
    bench_run_ok(delete_argv);

    exit_text = bench_read_small(exit_file);
    if (exit_text == NULL || atoi(exit_text) != 0)
        bench_die("container exited with status %s", exit_text != NULL ? exit_text : "?");
    free(exit_text);
}

static void run_tether(const char *shim_path, const char *root, const char *bundle, const char *id,
                       const char *state, const char *log, const char *format, struct result *r)
{
    struct bench_shim shim;
    struct bench_conn *c;
    char params[8192];
    json_t *msg = NULL;
    long long status;
    int64_t wait_id;
    uint64_t t0 = bench_now_ns();

    snprintf(params, sizeof(params), "{\"log\":{\"path\":\"%s\",\"format\":\"%s\"}}", log, format);
    bench_tether_launch(shim_path, id, bundle, state, root, NULL, &shim);
    c = bench_conn_open(shim.socket);
    json_decref(bench_conn_call(c, "create", params));
    json_decref(bench_conn_call(c, "start", NULL));
    wait_id = bench_conn_send(c, "wait", NULL);
    while (msg == NULL) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        long hwm = bench_proc_status_kb(shim.pid, "VmHWM");
        json_t *m;

        if (hwm > r->hwm_kb)
            r->hwm_kb = hwm;
        if (poll(&p, 1, SAMPLE_MS) <= 0)
            continue;
        if (!bench_conn_fill(c))
            bench_die("the shim closed the connection");
        while (msg == NULL && (m = bench_conn_take(c)) != NULL) {
            if (json_integer_value(json_object_get(m, "id")) == wait_id)
                msg = m;
            else
                json_decref(m);
        }
    }
    r->ns = bench_now_ns() - t0;
    /* The shim is alive: its counters are final for the run. */
    r->cpu_ns = bench_proc_cpu_ns(shim.pid);
    r->hwm_kb = bench_proc_status_kb(shim.pid, "VmHWM");
    status = json_integer_value(json_object_get(json_object_get(msg, "result"), "exit_status"));
    if (json_object_get(msg, "result") == NULL)
        bench_die("wait failed");
    json_decref(msg);
    json_decref(bench_conn_call(c, "delete", NULL));
    json_decref(bench_conn_call(c, "shutdown", NULL));
    bench_conn_close(c);
    bench_wait_ok(shim.pid, "tether-shim");
    if (status != 0)
        bench_die("container exited with status %lld", status);
}

/* The monitor podman started leaves its launcher and is re-parented to this subreaper: it
 * is watched as a child. It exits once the container is gone, its output drained into the
 * log and synced, and the exit command (podman's cleanup) has run. */
static void run_podman(const char *pidfile, char *const cmd[], struct result *r)
{
    int watcher = bench_watcher_open();
    uint64_t t0 = bench_now_ns();
    pid_t monitor;

    bench_run_ok(cmd);
    monitor = bench_wait_pidfile(watcher, pidfile, PIDFILE_TIMEOUT_MS);
    check_status(watch_consumer(monitor, r), "monitor");
    r->ns = bench_now_ns() - t0;
    close(watcher);
}

int main(int argc, char **argv)
{
    struct result r = {.hwm_kb = -1, .log_bytes = -1};
    const char *log = NULL;
    struct stat st;

    bench_set_prog("logbench");
    bench_subreaper();
    if (argc == 6 && strcmp(argv[1], "floor") == 0) {
        run_floor(argv[2], argv[3], argv[4], argv[5], &r);
    } else if ((argc == 8 || argc == 9) && strcmp(argv[1], "conmon") == 0) {
        log = argv[7];
        run_conmon(argc == 9 ? argv[8] : "conmon", argv[2], argv[3], argv[4], argv[5], argv[6], log,
                   &r);
    } else if (argc == 9 && strcmp(argv[1], "tether") == 0) {
        log = argv[7];
        run_tether(argv[2], argv[3], argv[4], argv[5], argv[6], log, argv[8], &r);
    } else if (argc >= 5 && strcmp(argv[1], "podman") == 0) {
        log = argv[3];
        run_podman(argv[2], argv + 4, &r);
    } else {
        bench_die("usage: logbench floor RUNTIME ROOT BUNDLE ID | "
                  "conmon RUNTIME ROOT BUNDLE ID WORKDIR LOG [MONITOR] | "
                  "tether SHIM ROOT BUNDLE ID STATEDIR LOG FORMAT | podman PIDFILE LOG CMD...");
    }
    if (log != NULL && stat(log, &st) == 0)
        r.log_bytes = (long long)st.st_size;
    printf("seconds %.6f\n", (double)r.ns / 1e9);
    printf("cpu_ms %.1f\n", (double)r.cpu_ns / 1e6);
    printf("hwm_kb %ld\n", r.hwm_kb);
    printf("log_bytes %lld\n", r.log_bytes);
    return 0;
}
