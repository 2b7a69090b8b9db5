/* The shim core: everything a container shim does, behind a C API that knows no protocol.
 *
 * One core is one event loop (epoll; signals through one signalfd), one reaper (the process
 * is a child subreaper, so every container's processes end up as its children), one OCI
 * runtime driver and one event journal, serving any number of containers. Each container
 * has its own state machine, processes, stdio and logs, exit record and state directory.
 *
 * A front end (JSON-RPC, containerd's ttrpc, conmon's pipes and files) translates its
 * protocol into calls of this API and the typed results and events back into its protocol.
 * Operations that finish later (they run the runtime, or wait for an exit) take a
 * `struct tether_call` that the front end embeds in its own request record; its done()
 * runs exactly once with an error or a result. Nothing here blocks. */
#ifndef TETHER_CORE_H
#define TETHER_CORE_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>

struct tether_core;
struct tether_container;

/* ---- exit records ---- */

/* How a process ended: what `wait`, `state`, the exit event and the persisted record say.
 * A normal exit gives its code; death by signal gives 128+signo and the signal. */
struct tether_exit {
    int exit_status; /* 0..255, or 128+signo */
    int signal;      /* 0 for a normal exit */
    struct timespec exited_at;
    bool oom_killed;
};

struct json_t;

/* Adds exit_status, exited_at, signal (when signalled) and oom_killed (when true) to obj:
 * the record as exit.json holds it (and tether's own protocol shows it). */
void tether_exit_to_json(const struct tether_exit *ex, struct json_t *obj);

/* ---- events ---- */

enum tether_topic {
    TETHER_TOPIC_CREATE,         /* pid */
    TETHER_TOPIC_START,          /* pid */
    TETHER_TOPIC_EXIT,           /* pid, exec_id (NULL for the init), exit */
    TETHER_TOPIC_DELETE,         /* pid, exit (the container's last exit) */
    TETHER_TOPIC_EXEC_START,     /* pid, exec_id */
    TETHER_TOPIC_PAUSED,         /* - */
    TETHER_TOPIC_RESUMED,        /* - */
    TETHER_TOPIC_OOM,            /* pid */
    TETHER_TOPIC_RESTART,        /* pid, attempt */
    TETHER_TOPIC_RESTART_FAILED, /* attempt, text (why) */
    TETHER_TOPIC_SECCOMP,        /* pid, text (syscall name), seccomp */
    TETHER_TOPIC_COUNT,
};

/* One event of the journal. Every event names its container; the fields a topic does not
 * use (see the list above) are zero or NULL. */
struct tether_event {
    uint64_t seq; /* from 1, never reused in a core's life */
    enum tether_topic topic;
    struct timespec time; /* CLOCK_REALTIME when it happened */
    char *id;             /* the container */
    char *exec_id;
    pid_t pid;
    unsigned attempt;
    char *text;
    struct tether_exit exit;
    struct {
        unsigned long long args[6];
        bool denied; /* answered EPERM (policy deny), else let through (policy log) */
    } seccomp;
};

/* "create", "start", "exit", … as tether's protocol names topics. */
const char *tether_topic_name(enum tether_topic topic);

/* ---- calls ---- */

/* What an operation hands back; which fields an operation sets is said with it. Borrowed
 * for the duration of done(). */
struct tether_pid_info {
    pid_t pid;
    const char *exec_id; /* the exec this pid is the process of, or NULL */
    bool init;           /* the container's init */
};

struct tether_result {
    pid_t pid;
    struct tether_exit exit;
    const struct tether_pid_info *pids;
    size_t n_pids;
    const char *text;
};

struct tether_call {
    /* Called exactly once: err set on failure, else res. */
    void (*done)(struct tether_call *call, const struct tether_error *err,
                 const struct tether_result *res);
    uint64_t owner; /* the front end's client, for tether_container_cancel() */
    struct tether_call *next;
};

/* Completes call; a NULL call (an operation the core started on its own) is dropped. */
void tether_call_ok(struct tether_call *call, const struct tether_result *res);
void tether_call_fail(struct tether_call *call, const struct tether_error *err);

/* ---- stdio and logs ---- */

enum tether_logfmt_stream {
    TETHER_LOGFMT_STDOUT,
    TETHER_LOGFMT_STDERR,
};
#define TETHER_LOGFMT_NSTREAMS 2

enum tether_logfmt_format {
    TETHER_LOGFMT_CRI,   /* "<time> <stream> <P|F> <content>": the CRI log kubelet reads */
    TETHER_LOGFMT_JSONL, /* Docker's json-file lines */
    TETHER_LOGFMT_RAW,   /* the bytes as written */
    /* podman's k8s-file log: CRI records with the local time and its numeric offset, and a
     * line the process left unfinished stays a P record (podman prints it as written) */
    TETHER_LOGFMT_K8S_FILE,
};

/* "cri" | "jsonl" | "raw" | "k8s-file" -> format; kind INVALID for anything else. */
int tether_logfmt_parse(const char *name, enum tether_logfmt_format *out, struct tether_error *err);
/* The name tether_logfmt_parse() accepts for format. */
const char *tether_logfmt_format_name(enum tether_logfmt_format format);
/* "stdout" or "stderr". */
const char *tether_logfmt_stream_name(enum tether_logfmt_stream stream);

struct tether_log_opts {
    char *path; /* absolute; NULL = no log file */
    enum tether_logfmt_format format;
    uint64_t max_size; /* 0 = no limit */
    unsigned max_files;
    bool no_sync; /* the file is not fdatasync()ed when the process ends (faster) */
    /* The systemd journal, besides or instead of the file: one entry per line (MESSAGE with
     * the line's '\n', PRIORITY 6 for stdout and 3 for stderr, CONTAINER_PARTIAL_MESSAGE=true
     * for a piece of a line) carrying every "NAME=value" of journald_fields (at most 16;
     * NAME of A-Z, 0-9 and '_'). libsystemd is loaded (dlopen) only for such a process;
     * kind INTERNAL when it cannot be. */
    bool journald;
    char **journald_fields; /* NULL-terminated, may be NULL */
};

/* How a process's stdio is set up. By default the core makes pipes (or, with `terminal`, a
 * pty through the runtime's console socket), reads stdout and stderr into the log and the
 * front end's on_output hook, and, with `stdin`, holds the process's stdin for
 * tether_container_input() (else stdin is /dev/null). The descriptors below belong to the
 * front end (the core keeps copies as long as it needs them; a restart reuses them); -1
 * leaves a feature unused, and tether_process_opts_init() sets every one to -1:
 *  - stdio_fds[i]: handed straight to the process as its fd i instead of a pipe, and the
 *    core does nothing with that stream (no terminal);
 *  - stdin_from: the core copies what it reads there into the process's stdin (pipe or
 *    terminal; needs `stdin`) and, for a pipe, closes that stdin at its end of file;
 *  - output_to: the core copies stdout (a terminal's whole output) there too, after the log
 *    and on_output; while it is full the core stops reading, so the process waits as it
 *    would on a pipe nobody reads. It is closed once the output after the exit went out. */
struct tether_process_opts {
    bool terminal;
    bool stdin;
    struct tether_log_opts log;
    int stdio_fds[3];
    int stdin_from;
    int output_to;
};

/* Zero options with every descriptor -1 and the cri log format. */
void tether_process_opts_init(struct tether_process_opts *opts);

/* ---- containers ---- */

enum tether_restart_kind {
    TETHER_RESTART_NO,
    TETHER_RESTART_ON_FAILURE,
    TETHER_RESTART_ALWAYS,
    TETHER_RESTART_UNLESS_STOPPED,
};

struct tether_restart_policy {
    enum tether_restart_kind kind;
    unsigned max_retries;    /* 0 = no limit */
    unsigned backoff_ms;     /* first delay, doubled per consecutive failure */
    unsigned max_backoff_ms; /* the delay's ceiling */
};

#define TETHER_SECCOMP_SYSCALLS_MAX 64

struct tether_seccomp_opts {
    bool enabled;
    bool deny;       /* else log (continue) */
    char **syscalls; /* NULL-terminated */
};

struct tether_create_opts {
    struct tether_process_opts proc;
    char **runtime_args; /* NULL-terminated, may be NULL */
    bool init;           /* run tether-init as PID 1 in front of the bundle's process */
    bool start;          /* start it too (one runtime `run --detach`) */
    struct tether_seccomp_opts seccomp;
    struct tether_restart_policy restart;
    /* With no restart policy: the runtime's delete runs as soon as the init's exit has been
     * announced, so the runtime's record, cgroup and processes go while the engine is still
     * taking the exit in; tether_container_delete() then only waits for that to end (or
     * runs the runtime's delete again when it failed). Nothing else asks the runtime about
     * a stopped container, so nothing else changes. */
    bool release_on_exit;
    /* The engine starts the container through tether_container_start(): the cgroup's OOM
     * watch is set up there, while the runtime's start runs, rather than right after the
     * created answer, while the engine already sends its start. Without it (an engine that
     * runs the runtime's start itself, as podman does) the watch comes with the create. */
    bool watch_at_start;
};

struct tether_exec_opts {
    const char *exec_id;
    const char *process; /* runtime-spec Process object, JSON text */
    struct tether_process_opts proc;
    /* With a terminal, its size from the start (the Process's consoleSize, which the
     * runtime applies before the process runs; a resize after the exec would race with a
     * process that reads its size at once). 0 keeps the process's own consoleSize. */
    unsigned console_width, console_height;
};

/* Where a container lives. */
struct tether_container_config {
    const char *id;       /* ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$, unique in the core */
    const char *bundle;   /* absolute; holds config.json */
    const char *dir;      /* absolute, exists: the core's files for it (exit.json, pid files) */
    const char *pid_file; /* where the runtime writes the init's pid; NULL = <dir>/init.pid */
    bool no_exit_file;    /* do not persist exits in <dir>/exit.json (the front end does) */
    /* A container that another process created and watches (the runtime has it): the
     * record starts running, with an init the core does not know (pid 0) and does not
     * watch, and serves exec processes only. exec, and kill, wait, state, stdio and
     * exec_delete of execs work, and pids; create, start, delete, pause, update, stop and
     * stats, and kill and wait of the init, are refused (kind STATE). tether_core_remove()
     * takes it whenever no runtime command is in flight (execs still running are then no
     * longer watched). */
    bool external;
};

enum tether_status {
    TETHER_STATUS_UNKNOWN, /* not created (or deleted) */
    TETHER_STATUS_CREATING,
    TETHER_STATUS_CREATED,
    TETHER_STATUS_RUNNING,
    TETHER_STATUS_PAUSED,
    TETHER_STATUS_STOPPED,
};

/* "unknown", "creating", … */
const char *tether_status_name(enum tether_status status);

/* A process as tether_container_state() shows it. Strings are borrowed from the container
 * and valid until it changes. */
struct tether_state {
    const char *id;
    const char *bundle;
    const char *exec_id; /* NULL for the init */
    pid_t pid;           /* 0 before the runtime told it */
    enum tether_status status;
    bool exited; /* exit holds the (announced) exit */
    struct tether_exit exit;
    unsigned restarts;   /* init: restarts done by the restart policy */
    bool exit_persisted; /* init: the exit is on disk (false while a write is retried) */
    bool terminal;
    bool stdin_open; /* the core holds the process's stdin for tether_container_input() */
};

/* Resource use of a container, read from its cgroups. Limits use 0 for "no limit". */
#define TETHER_STATS_CPU    (1u << 0)
#define TETHER_STATS_MEMORY (1u << 1)
#define TETHER_STATS_PIDS   (1u << 2)

#define TETHER_STATS_CPUS_MAX 256

/* What the memory controller's memory.stat says, hierarchically: v1's total_* keys, v2's
 * plain keys (v2 names in brackets where they differ). */
struct tether_memory_stat {
    uint64_t cache;       /* [file] */
    uint64_t rss;         /* [anon] */
    uint64_t rss_huge;    /* [anon_thp] */
    uint64_t mapped_file; /* [file_mapped] */
    uint64_t dirty;       /* [file_dirty] */
    uint64_t writeback;   /* [file_writeback] */
    uint64_t pgfault;     /* v1 pgfault */
    uint64_t pgmajfault;  /* v1 pgmajfault */
    uint64_t inactive_anon;
    uint64_t active_anon;
    uint64_t inactive_file;
    uint64_t active_file;
    uint64_t unevictable;
};

struct tether_stats {
    unsigned have;               /* TETHER_STATS_* groups that were read */
    bool memory_v2;              /* the memory controller is cgroup v2 */
    uint64_t cpu_usage_ns;       /* v1 cpuacct.usage; v2 cpu.stat usage_usec * 1000 */
    uint64_t memory_usage_bytes; /* v1 memory.usage_in_bytes; v2 memory.current */
    uint64_t memory_limit_bytes; /* v1 memory.limit_in_bytes; v2 memory.max */
    uint64_t pids_current;
    uint64_t pids_limit;
    /* Details, read when the group is: 0 where the kernel does not report them. */
    bool cpu_v2;          /* the cpu figures come from cgroup v2 */
    uint64_t cpu_user_ns; /* v1 cpuacct.stat user (ticks); v2 cpu.stat user_usec */
    uint64_t cpu_system_ns;
    uint64_t cpu_periods; /* CFS: v1 cpu.stat of the cpu controller; v2 cpu.stat */
    uint64_t cpu_throttled_periods;
    uint64_t cpu_throttled_ns;
    size_t n_cpus; /* v1 cpuacct.usage_percpu */
    uint64_t cpu_per_cpu_ns[TETHER_STATS_CPUS_MAX];
    uint64_t memory_max_usage_bytes; /* v1 memory.max_usage_in_bytes; v2 memory.peak */
    uint64_t memory_failcnt;         /* v1 memory.failcnt */
    uint64_t swap_usage_bytes; /* v1 memory.memsw.usage_in_bytes (memory + swap); v2 swap.current */
    uint64_t swap_limit_bytes; /* v1 memory.memsw.limit_in_bytes; v2 memory.swap.max */
    struct tether_memory_stat memory_stat;
};

/* ---- the core ---- */

struct tether_core_config {
    const char *runtime;      /* name or path; NULL = runc */
    const char *runtime_root; /* the runtime's --root; NULL = its default */
    /* Global options of the runtime for every command it runs (e.g. --systemd-cgroup),
     * after --root and before the core's own --log (which wins over one given here, so that
     * the runtime's errors still reach the core); NULL-terminated, may be NULL. */
    const char *const *runtime_args;
    unsigned runtime_timeout_ms; /* 0 = none */
    const char *init_path;       /* tether-init, for create's `init` */
    size_t events_retained;      /* journal size; 0 = TETHER_EVENTS_RETAINED */
    const sigset_t *signals;     /* signals besides SIGCHLD to hand to on_signal (may be NULL) */
};

#define TETHER_EVENTS_RETAINED 1024

struct tether_core_hooks {
    /* An event was recorded in the journal. */
    void (*on_event)(void *opaque, const struct tether_event *ev);
    /* Output of a process as it is read, after it reached the log. */
    void (*on_output)(void *opaque, struct tether_container *ctr, const char *exec_id,
                      enum tether_logfmt_stream stream, const char *data, size_t len);
    /* A process's stdin takes data again after tether_container_input() took less than it
     * was given. */
    void (*on_stdin_ready)(void *opaque, struct tether_container *ctr, const char *exec_id);
    /* A signal of config.signals arrived. */
    void (*on_signal)(void *opaque, int sig);
    void *opaque;
};

/* A front end's main() calls this first: every signal blocked, to be taken synchronously
 * through the core's signalfd (none is ever delivered asynchronously; runtime children get a
 * clean mask before exec), and SIGPIPE ignored (a write to a gone peer fails with EPIPE). */
void tether_core_take_signals(void);

/* Sets up the loop, the signalfd (every signal must already be blocked: tether_core_take_signals),
 * the subreaper and the runtime. log is the shim's own log (kept by pointer). */
struct tether_core *tether_core_new(const struct tether_core_config *cfg,
                                    const struct tether_core_hooks *hooks,
                                    const struct tether_log *log, struct tether_error *err);
/* Starts the daemon off a launcher that set the core (and its front end) up in full, so that
 * every failure to start is the launcher's to report while its caller still listens: one
 * fork(2), and the child leads a session of its own with fds 0-2 on /dev/null and / as its
 * working directory, with a signalfd of its own in the loop and the subreaper role (neither
 * passes through fork). The child inherits every other fd: the listening socket already
 * listens, and the launcher reports the daemon's pid and exits without waiting for it. Only
 * for a core with no child yet (the children would stay the launcher's). *daemon is the
 * daemon's pid in the launcher, 0 in the daemon. Returns 0, or -1 with err: in the launcher
 * (*daemon < 0) no daemon was started; in the daemon (*daemon == 0) it cannot serve and
 * must leave. */
int tether_core_detach(struct tether_core *core, pid_t *daemon, struct tether_error *err);
/* Releases every container: pending calls are failed with "shutting down" (so the front
 * end can still send those answers), runtime commands in flight are killed. The loop stays
 * usable for the front end's own teardown. */
void tether_core_shutdown(struct tether_core *core);
/* tether_core_shutdown(), then releases everything else (NULL is fine). */
void tether_core_free(struct tether_core *core);

struct tether_loop *tether_core_loop(struct tether_core *core);
const struct tether_log *tether_core_log(const struct tether_core *core);
/* The runtime binary's absolute path. */
const char *tether_core_runtime_path(const struct tether_core *core);

/* Runs the loop until tether_core_leave(); gives memory back before sleeping. */
int tether_core_run(struct tether_core *core, struct tether_error *err);
/* One turn of the loop (timeout_ms < 0: wait forever); returns events dispatched. */
int tether_core_run_once(struct tether_core *core, int timeout_ms, struct tether_error *err);
/* Makes tether_core_run() return after the current turn. */
void tether_core_leave(struct tether_core *core);
/* Tells the core that the current turn did work that touched memory (a request). */
void tether_core_busy(struct tether_core *core);

/* Runs fn(arg) in a process of its own (fork(2); the shim is one thread, so the child may
 * allocate and log) and, from the loop, calls done(opaque, wait_status) once that process
 * has exited: for work that can keep the kernel busy for milliseconds, such as an unmount
 * that syncs a filesystem, and must not hold up every other client and container. fn's
 * return value is the child's exit status. Children still running at tether_core_shutdown()
 * are left to finish on their own, without a call to done. */
int tether_core_fork(struct tether_core *core, int (*fn)(void *arg), void *arg,
                     void (*done)(void *opaque, int wait_status), void *opaque,
                     struct tether_error *err);

/* The runtime's `--version` first line. Result: text. */
int tether_core_runtime_version(struct tether_core *core, struct tether_call *call,
                                struct tether_error *err);

/* The event journal: events are kept until TETHER_EVENTS_RETAINED newer ones exist. */
uint64_t tether_core_last_seq(const struct tether_core *core);
/* Oldest seq still retained (last + 1 when none). */
uint64_t tether_core_first_seq(const struct tether_core *core);
/* The retained event with seq, or NULL. */
const struct tether_event *tether_core_event(const struct tether_core *core, uint64_t seq);

/* Adds a container record (status unknown: nothing created yet). Kind EXISTS when the id is
 * taken. */
struct tether_container *tether_core_add(struct tether_core *core,
                                         const struct tether_container_config *cfg,
                                         struct tether_error *err);
/* Removes a container that is not created (or was deleted); kind STATE otherwise. The record
 * is freed once the current turn of the loop is over, so this may be called from any hook
 * or done(). */
int tether_core_remove(struct tether_core *core, struct tether_container *ctr,
                       struct tether_error *err);
struct tether_container *tether_core_find(struct tether_core *core, const char *id);
/* Iterates the containers: NULL gives the first; returns NULL after the last. */
struct tether_container *tether_core_next(struct tether_core *core, struct tether_container *prev);
size_t tether_core_count(const struct tether_core *core);

/* ---- container operations ----
 * Each returns -1 with err set when refused at once (the call is not used), or 0 when the
 * call was taken: it is then completed exactly once, maybe already. Kinds: NOT_FOUND when
 * there is no container (or exec), STATE when the state does not allow it, RUNTIME with the
 * runtime's own text when it failed. */

const char *tether_container_id(const struct tether_container *ctr);
const char *tether_container_bundle(const struct tether_container *ctr);
const char *tether_container_dir(const struct tether_container *ctr);

/* Result: pid of the init. With opts->start the container is also started. */
int tether_container_create(struct tether_container *ctr, const struct tether_create_opts *opts,
                            struct tether_call *call, struct tether_error *err);
/* Result: pid. */
int tether_container_start(struct tether_container *ctr, struct tether_call *call,
                           struct tether_error *err);
/* Sends sig to the init (through the runtime; `all`: every process of the container) or to
 * an exec. A kill meant to end the container ends its restarts. */
int tether_container_kill(struct tether_container *ctr, const char *exec_id, int sig, bool all,
                          struct tether_call *call, struct tether_error *err);
/* Result: exit, once the process exited (at once if it had). */
int tether_container_wait(struct tether_container *ctr, const char *exec_id,
                          struct tether_call *call, struct tether_error *err);
/* Runtime delete (force: kill it first). Result: exit (the last one). */
int tether_container_delete(struct tether_container *ctr, bool force, struct tether_call *call,
                            struct tether_error *err);
/* Result: pids. */
int tether_container_pids(struct tether_container *ctr, struct tether_call *call,
                          struct tether_error *err);
int tether_container_pause(struct tether_container *ctr, bool pause, struct tether_call *call,
                           struct tether_error *err);
/* resources: LinuxResources JSON text. */
int tether_container_update(struct tether_container *ctr, const char *resources,
                            struct tether_call *call, struct tether_error *err);
/* Docker's stop: signal (0 = the bundle's stop signal), wait up to timeout_s, then SIGKILL
 * to everything in the container; ends restarts. Result: exit. Runs to completion even
 * when the caller goes away. */
int tether_container_stop(struct tether_container *ctr, int sig, unsigned timeout_s,
                          struct tether_call *call, struct tether_error *err);
/* What a checkpoint does: CRIU's image and work directories (absolute; work NULL = the
 * image directory) and the options CRIU takes for what the container holds. */
struct tether_checkpoint_opts {
    const char *image_path;
    const char *work_path;
    bool leave_running; /* else the container stops once it is dumped */
    bool tcp_established;
    bool ext_unix_sk;
    bool shell_job; /* a terminal */
    bool file_locks;
    const char *const *empty_ns; /* namespaces left empty, NULL-terminated (may be NULL) */
};

/* Dumps a running or paused container with the runtime's `checkpoint` (CRIU). Result:
 * nothing. Kind RUNTIME with the runtime's text when it (or CRIU) fails. */
int tether_container_checkpoint(struct tether_container *ctr,
                                const struct tether_checkpoint_opts *opts, struct tether_call *call,
                                struct tether_error *err);
/* Starts an exec process. Result: pid. Kind EXISTS for an exec id in use. */
int tether_container_exec(struct tether_container *ctr, const struct tether_exec_opts *opts,
                          struct tether_call *call, struct tether_error *err);
/* Removes the record of an exec that exited. */
int tether_container_exec_delete(struct tether_container *ctr, const char *exec_id,
                                 struct tether_error *err);

/* At once: */
int tether_container_state(struct tether_container *ctr, const char *exec_id,
                           struct tether_state *st, struct tether_error *err);
int tether_container_stats(struct tether_container *ctr, struct tether_stats *st,
                           struct tether_error *err);
/* Whether the container exists for the runtime (created and not yet deleted). */
bool tether_container_created(const struct tether_container *ctr);
/* Whether the core holds the stdin of the process (which may still be being started). Kind
 * NOT_FOUND when there is no such process. */
int tether_container_stdin_open(struct tether_container *ctr, const char *exec_id, bool *open,
                                struct tether_error *err);
/* Writes into a process's stdin without blocking; returns the bytes taken (0 when the pipe
 * is full: the caller sends the rest again later). */
ssize_t tether_container_input(struct tether_container *ctr, const char *exec_id, const void *data,
                               size_t len, struct tether_error *err);
int tether_container_close_stdin(struct tether_container *ctr, const char *exec_id,
                                 struct tether_error *err);
int tether_container_resize(struct tether_container *ctr, const char *exec_id, unsigned width,
                            unsigned height, struct tether_error *err);
/* Reopens the log file at its path (external rotation). */
int tether_container_reopen_log(struct tether_container *ctr, const char *exec_id,
                                struct tether_error *err);
/* Fails the waits of a front-end client that went away (calls with this owner). */
void tether_container_cancel(struct tether_container *ctr, uint64_t owner);

#endif
