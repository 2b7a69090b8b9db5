/* Helpers shared by the benchmark programs of hack/bench: clocks, spawning, waiting for
 * files and processes, /proc readers, and a minimal client of the tether-shim line protocol.
 * These are small standalone tools: a setup failure ends the program (bench_die), which
 * run.sh reports and cleans up after. */
#ifndef TETHER_BENCHLIB_H
#define TETHER_BENCHLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

/* Longest protocol line the benchmark client accepts. */
#define BENCH_LINE_MAX (256 * 1024)

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Prints "PROG: message" on stderr and exits 1. */
__attribute__((noreturn, format(printf, 1, 2))) void bench_die(const char *fmt, ...);

/* Sets the program name used in messages. */
void bench_set_prog(const char *name);

/* Makes this process the child subreaper, so that daemons which fork away from their parent
 * (conmon, tether-shim) are re-parented to it and can be waited for (prctl(2)). */
void bench_subreaper(void);

/* Starts argv[0] (looked up on PATH) with the given stdio (-1 = /dev/null). */
pid_t bench_spawn(char *const argv[], int in_fd, int out_fd, int err_fd);

/* waitpid() for one pid; returns its wait status. */
int bench_wait(pid_t pid);

/* Waits for pid to end and checks it exited with status 0, else dies naming what. */
void bench_wait_ok(pid_t pid, const char *what);
/* bench_wait_ok, and the CPU time (user and system) the child used, in *cpu_ns (its own and
 * that of the children it reaped). */
void bench_wait_ok_cpu(pid_t pid, const char *what, uint64_t *cpu_ns);

/* Runs argv with stdio on /dev/null and checks for exit status 0. */
void bench_run_ok(char *const argv[]);

/* One inotify instance for a program's waits on files. Closing an inotify instance waits
 * for an SRCU grace period in the kernel, often 10-20 ms: a timed section must never create
 * and close one, so a program opens its watcher before the clock starts and closes it after
 * the clock stopped. */
int bench_watcher_open(void);

/* Waits until path exists: at once when it does, else on inotify events of its parent
 * directory (the watch stays; it goes away with the directory). Returns false on timeout. */
bool bench_wait_file(int watcher, const char *path, int timeout_ms);

/* Waits for a pid file to exist and hold a pid > 0, and returns that pid. */
pid_t bench_wait_pidfile(int watcher, const char *path, int timeout_ms);

/* Reads a small file whole (NUL-terminated, NULL when missing). */
char *bench_read_small(const char *path);

/* pidfd_open(2). */
int bench_pidfd_open(pid_t pid);

/* utime+stime of a process (its own, not its children's) in nanoseconds, from
 * /proc/PID/stat; works on a zombie too. -1 when unreadable. */
int64_t bench_proc_cpu_ns(pid_t pid);

/* A "Key:  N kB" field of /proc/PID/status, in kB; -1 when absent. */
long bench_proc_status_kb(pid_t pid, const char *key);

/* Leaves pid a zombie once it has exited (waitid WNOWAIT), so /proc/PID/stat still holds its
 * final CPU times; the caller reaps it afterwards with bench_wait. */
void bench_wait_exited_nowait(pid_t pid);

/* A connection to a tether-shim socket speaking one JSON message per line. */
struct bench_conn {
    int fd;
    int64_t next_id;
    size_t len;
    char buf[BENCH_LINE_MAX];
};

/* Allocates and connects a client; dies on failure. */
struct bench_conn *bench_conn_open(const char *socket_path);
void bench_conn_close(struct bench_conn *c);

/* Sends {"jsonrpc":"2.0","id":N,"method":M,"params":P} (params_json may be NULL) and returns
 * N. */
int64_t bench_conn_send(struct bench_conn *c, const char *method, const char *params_json);

/* Reads once from the socket into the buffer (for callers that poll the fd themselves).
 * Returns false on EOF. */
bool bench_conn_fill(struct bench_conn *c);

/* The next whole buffered message, or NULL when no whole line is buffered yet. */
json_t *bench_conn_take(struct bench_conn *c);

/* Reads the next message (response or notification), blocking. NULL on EOF; dies on a bad
 * line. */
json_t *bench_conn_read(struct bench_conn *c);

/* send + read until the response with that id (notifications are dropped). Returns the
 * "result" (new reference); dies on a JSON-RPC error, naming the method. */
json_t *bench_conn_call(struct bench_conn *c, const char *method, const char *params_json);

/* A tether-shim started by bench_tether_launch. */
struct bench_shim {
    pid_t pid;
    char socket[4096];
    uint64_t launcher_cpu_ns; /* the launcher's CPU time, user and system */
};

/* CPU time (user and system, the scheduler's own count) that process pid has used so far. */
uint64_t bench_cpu_ns(pid_t pid);

/* Runs `SHIM --id ID --bundle B --state-dir S --runtime-root R [--runtime RT]`, which
 * detaches and prints {"id","pid","socket"}; waits for the launcher and fills shim. */
void bench_tether_launch(const char *shim_path, const char *id, const char *bundle,
                         const char *state_dir, const char *runtime_root, const char *runtime,
                         struct bench_shim *shim);

#endif
