/* Helpers of the containerd tests: a private containerd (its own root, state, sockets and
 * config written here, CRI off unless asked for) that finds the built
 * containerd-shim-tether-v2 on its PATH, the busybox image of hack/bench/mkimage.sh
 * imported, `ctr` runs with stdin, stdout, stderr, a terminal and a time limit, a small
 * ttrpc client to talk to a shim directly, and a cleanup that leaves no process, mount,
 * socket, FIFO or file behind. The namespace is unique per test program, so that tests may
 * run side by side (the runtime's state of a namespace lives in /run/containerd/runc/NS).
 * Every helper fails the running cmocka test on error. */
#ifndef TETHER_TEST_HARNESS_CONTAINERD_H
#define TETHER_TEST_HARNESS_CONTAINERD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"

#define TH_CTRD_RUNTIME "io.containerd.tether.v2"
#define TH_CTRD_IMAGE   "docker.io/tether-test/busybox:latest"
/* Where the shim keeps runc's state: <root>/<namespace>/<id>, as runc-v2 does. */
#define TH_CTRD_RUNTIME_ROOT "/run/containerd/runc"
/* An image whose default command runs until killed: CRI's sandbox ("pause") image. */
#define TH_CTRD_PAUSE_IMAGE "docker.io/tether-test/pause:latest"
#define TH_CTRD_CMD_MS      60000
#define TH_CTRD_IDS_MAX     64

struct th_ctrd {
    struct th_env env;
    char sock[PATH_MAX];   /* the gRPC socket (the TTRPC one is <sock>.ttrpc) */
    char config[PATH_MAX]; /* config.toml */
    char log[PATH_MAX];    /* containerd's output, shim logs included */
    char asan[PATH_MAX];   /* sanitizer reports of the shims go to <asan>.<pid> */
    char ns[64];
    bool cri;
    pid_t pid;
    char *ids[TH_CTRD_IDS_MAX]; /* task ids used: their sockets and FIFOs are cleaned up */
    size_t n_ids;
};

/* Skips the test (exit 77 through cmocka's skip) when containerd cannot run here, saying
 * why. */
void th_ctrd_require(void);

/* Starts a private containerd (with the CRI plugin when cri) and imports the images. */
void th_ctrd_start(struct th_ctrd *c, bool cri);
/* SIGKILL to containerd, as a crash would: shims and containers stay. */
void th_ctrd_kill(struct th_ctrd *c);
/* Starts the same containerd again (after th_ctrd_kill). */
void th_ctrd_restart(struct th_ctrd *c);
/* Removes every task and container, stops containerd, kills what is left of the shims,
 * and removes mounts, runtime state, sockets, FIFOs and the workspace. Fails the test if a
 * shim wrote a sanitizer report. */
void th_ctrd_stop(struct th_ctrd *c);

/* Remembers a task id (its socket and FIFOs are cleaned up at the end). */
void th_ctrd_track(struct th_ctrd *c, const char *id);

/* One run of a program. */
struct th_cmd {
    const char *const *argv;
    const char *input;  /* written to stdin after input_delay_ms, then stdin is closed; NULL:
                           stdin is /dev/null */
    int input_delay_ms; /* (ctr sends CloseIO only once its task is set up) */
    bool tty;           /* run on a pty of rows x cols; stdout gets everything */
    unsigned short rows, cols;
    int timeout_ms; /* 0: TH_CTRD_CMD_MS; the program is killed after it */
    /* Results. */
    int status; /* exit code, 128+sig, or -1 when it was killed at the time limit */
    char *out;
    char *err;
    /* While it runs (th_cmd_start .. th_cmd_finish). */
    pid_t pid;
    int in_fd, out_fd, err_fd;
    long long start_ms;
};
/* Runs cmd to its end; th_cmd_free releases the results. Returns cmd->status. */
int th_cmd_run(struct th_cmd *cmd);
/* Starts cmd without waiting; th_cmd_finish then feeds, reads and waits for it. */
void th_cmd_start(struct th_cmd *cmd);
int th_cmd_finish(struct th_cmd *cmd);
/* Reads what a started cmd wrote until its stdout holds needle; false after timeout_ms. */
bool th_cmd_wait_output(struct th_cmd *cmd, const char *needle, int timeout_ms);
/* Ends a started cmd with SIGTERM and collects it. */
int th_cmd_stop(struct th_cmd *cmd);
void th_cmd_free(struct th_cmd *cmd);

/* ctr --address <sock> -n <ns> ARGS... with stdin /dev/null; returns the exit status,
 * stdout in *out and stderr in *err (either may be NULL). */
#define th_ctr(c, out, err, ...)                                                                   \
    th_ctr_args((c), (out), (err), (const char *const[]){__VA_ARGS__, NULL})
int th_ctr_args(struct th_ctrd *c, char **out, char **err, const char *const *args);
/* Builds the argv for ctr with args (NULL-terminated) into argv (at most max entries). */
void th_ctr_argv(struct th_ctrd *c, const char **argv, size_t max, const char *const *args);

/* Polls `ctr task ls` until task id has status (RUNNING, STOPPED, ...). */
bool th_ctrd_wait_status(struct th_ctrd *c, const char *id, const char *status, int timeout_ms);

/* Whether runc still has task id of the test's namespace (its state directory). */
bool th_ctrd_runtime_has(struct th_ctrd *c, const char *id);
/* Whether a rootfs of task id of the test's namespace is mounted. */
bool th_ctrd_rootfs_mounted(struct th_ctrd *c, const char *id);

/* Pids of the containerd-shim-tether-v2 processes serving this containerd. */
size_t th_ctrd_shims(struct th_ctrd *c, pid_t *pids, size_t max);
/* The socket path of the shim of group (a task id, or a sandbox id). */
void th_ctrd_shim_socket(struct th_ctrd *c, const char *group, char *buf, size_t len);

/* ---- a ttrpc client, to talk to a shim directly ---- */

/* Connects to a UNIX socket; returns the fd. */
int th_ttrpc_connect(const char *path);
/* Sends raw bytes. */
void th_ttrpc_send(int fd, const void *data, size_t len);
/* Sends a request on stream_id. */
void th_ttrpc_request(int fd, uint32_t stream_id, const char *service, const char *method,
                      const void *payload, size_t len);
/* Reads responses until the one for stream_id; returns its status code and hands back the
 * payload (malloc'd) and message (malloc'd). Fails the test when none comes in time. */
int th_ttrpc_response(int fd, uint32_t stream_id, uint8_t **payload, size_t *len, char **message);
/* A whole call on the Task service. */
int th_ttrpc_task_call(int fd, uint32_t stream_id, const char *method, const void *payload,
                       size_t len, uint8_t **resp, size_t *resp_len, char **message);

#endif
