/* libFuzzer target for containerd-shim-tether-v2's input path: the bytes go, in pieces of
 * input-dependent sizes, through a real connection to the real ttrpc server of a shim with
 * no task (frame reader, Request decoding, the Task method table and each method's request
 * decoding and checks), as containerd's bytes would.
 *
 * Nothing may touch the host: functions that would are replaced at link time (-Wl,--wrap,
 * see CMakeLists.txt):
 *   - tether_ctrd_rootfs_mount, the first thing Create does once the request passed its
 *     checks: it fails here, so nothing is mounted or written in a bundle the fuzzer named;
 *   - tether_ctrd_stdio_open (no FIFO or file the fuzzer named is opened, no logger run);
 *   - tether_ctrd_shim_shutdown, which a Shutdown with no task starts: recorded only, so
 *     that the shim keeps serving the next input;
 *   - tether_job_spawn, the only way to the runtime: reaching it is a bug (a runtime
 *     command for a task that does not exist), reported as a crash.
 *
 * Checked for every input besides what ASan and UBSan catch: everything the shim sends is a
 * well-formed response frame (type 2, at most 4 MiB, a Response message inside, answering
 * a stream the client used); no task or container is left; the connection is closed once
 * the client goes away. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <tether/sock.h>
#include <tether/util.h>

#include "mount.h"
#include "procio.h"
#include "shim.h"
#include "ttrpc.h"

#define FUZZ_LOOP_TURNS 200

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __wrap_tether_ctrd_rootfs_mount(const char *bundle, Containerd__Types__Mount *const *mounts,
                                    size_t n, struct tether_error *err);
int __wrap_tether_ctrd_stdio_open(struct tether_ctrd_stdio *st,
                                  const struct tether_ctrd_stdio_config *cfg,
                                  struct tether_process_opts *proc,
                                  void (*ready)(void *opaque, const struct tether_error *err),
                                  void *opaque, struct tether_error *err);
void __wrap_tether_ctrd_shim_shutdown(struct tether_ctrd_shim *shim);
struct tether_job;
struct tether_job_env;
struct tether_job *__wrap_tether_job_spawn(const struct tether_job_env *env, int op,
                                           const void *args, void *done, void *data, void *list,
                                           struct tether_error *err);

struct fuzz {
    struct tether_ctrd_shim shim;
    char dir[64];
    int client;
    uint8_t *reply; /* what the client received, up to an incomplete frame */
    size_t reply_len, reply_cap;
    bool trace;
    unsigned shutdowns;
};

/* libFuzzer's entry points take no context: this is the one place it can live. */
static struct fuzz *fz;

static void die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_ttrpc: %s: %s\n", what, why);
    abort();
}

int __wrap_tether_ctrd_rootfs_mount(const char *bundle, Containerd__Types__Mount *const *mounts,
                                    size_t n, struct tether_error *err)
{
    (void)bundle;
    (void)mounts;
    (void)n;
    return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "fuzzing: nothing is mounted");
}

int __wrap_tether_ctrd_stdio_open(struct tether_ctrd_stdio *st,
                                  const struct tether_ctrd_stdio_config *cfg,
                                  struct tether_process_opts *proc,
                                  void (*ready)(void *opaque, const struct tether_error *err),
                                  void *opaque, struct tether_error *err)
{
    (void)st;
    (void)cfg;
    (void)proc;
    (void)ready;
    (void)opaque;
    return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "fuzzing: no stdio is opened");
}

void __wrap_tether_ctrd_shim_shutdown(struct tether_ctrd_shim *shim)
{
    (void)shim;
    fz->shutdowns++;
}

struct tether_job *__wrap_tether_job_spawn(const struct tether_job_env *env, int op,
                                           const void *args, void *done, void *data, void *list,
                                           struct tether_error *err)
{
    (void)env;
    (void)args;
    (void)done;
    (void)data;
    (void)list;
    (void)err;
    fprintf(stderr, "fuzz_ttrpc: runtime operation %d started for a task that does not exist\n",
            op);
    abort();
}

static void run_loop(struct fuzz *f, int timeout_ms)
{
    struct tether_error err = {0};

    if (tether_core_run_once(f->shim.core, timeout_ms, &err) < 0)
        die("loop", err.msg);
}

/* Every complete frame the shim sent must be a ttrpc response. */
static void check_frames(struct fuzz *f)
{
    size_t off = 0;

    for (;;) {
        struct tether_ttrpc_header h;
        struct tether_error err = {0};
        Ttrpc__Response *resp;

        if (f->reply_len - off < TETHER_TTRPC_HEADER_LEN)
            break;
        tether_ttrpc_header_decode(f->reply + off, &h);
        if (h.type != TETHER_TTRPC_TYPE_RESPONSE)
            die("the shim sent a frame that is not a response", "");
        if (h.length > TETHER_TTRPC_MAX_PAYLOAD)
            die("the shim sent a frame over 4 MiB", "");
        if (f->reply_len - off - TETHER_TTRPC_HEADER_LEN < h.length)
            break;
        resp =
            tether_ttrpc_response_decode(f->reply + off + TETHER_TTRPC_HEADER_LEN, h.length, &err);
        if (resp == NULL)
            die("the shim sent a response that does not decode", err.msg);
        if (f->trace)
            fprintf(stderr, "< stream %u code %d %s\n", h.stream_id,
                    (int)tether_ttrpc_response_code(resp), tether_ttrpc_response_message(resp));
        tether_ttrpc_response_free(resp);
        off += TETHER_TTRPC_HEADER_LEN + h.length;
    }
    memmove(f->reply, f->reply + off, f->reply_len - off);
    f->reply_len -= off;
}

static void drain_client(struct fuzz *f)
{
    for (;;) {
        ssize_t n;

        if (f->reply_cap - f->reply_len < 65536) {
            f->reply_cap = f->reply_cap ? f->reply_cap * 2 : 131072;
            f->reply = xrealloc(f->reply, f->reply_cap);
        }
        n = recv(f->client, f->reply + f->reply_len, f->reply_cap - f->reply_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        f->reply_len += (size_t)n;
        check_frames(f);
    }
}

static void connect_client(struct fuzz *f)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int i;

    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->shim.cfg.socket_path);
    f->client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (f->client < 0 || connect(f->client, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        die("connect", strerror(errno));
    for (i = 0; i < FUZZ_LOOP_TURNS && f->shim.server.conns == NULL; i++)
        run_loop(f, 10);
    if (f->shim.server.conns == NULL)
        die("accept", "the shim did not take the connection");
    f->reply_len = 0;
}

/* Writes the input in pieces whose sizes follow the input itself, turning the loop in
 * between so that the server reads them as they come. */
static void feed(struct fuzz *f, const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off < size) {
        size_t n = 1 + (size_t)data[off] * 37;
        ssize_t w;

        if (n > size - off)
            n = size - off;
        w = send(f->client, data + off, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            die("send", strerror(errno));
        if (w > 0)
            off += (size_t)w;
        run_loop(f, 0);
        drain_client(f);
        if (f->shim.server.conns == NULL)
            die("the shim dropped the connection", "a client that reads its answers");
    }
}

static void disconnect_client(struct fuzz *f)
{
    int i;

    for (i = 0; i < 4; i++) {
        run_loop(f, 0);
        drain_client(f);
    }
    close(f->client);
    f->client = -1;
    for (i = 0; i < FUZZ_LOOP_TURNS && f->shim.server.conns != NULL; i++)
        run_loop(f, 10);
    if (f->shim.server.conns != NULL)
        die("disconnect", "the shim kept a connection its client closed");
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void cleanup(void)
{
    if (fz == NULL)
        return;
    tether_ctrd_shim_fini(&fz->shim);
    nftw(fz->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct tether_error err = {0};
    struct fuzz *f = xzalloc(sizeof(*f));
    int fd;

    (void)argc;
    (void)argv;
    snprintf(f->dir, sizeof(f->dir), "%s/tether-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(f->dir) == NULL)
        die("mkdtemp", strerror(errno));
    f->shim.cfg = (struct tether_ctrd_config){
        .ns = "fuzz",
        .address = "/nonexistent/containerd.sock",
        .ttrpc_address = NULL, /* no events client */
        .id = "fuzz",
        .socket_path = xasprintf("%s/shim.sock", f->dir),
        .runtime = "/bin/false",
        .runtime_root = f->dir,
    };
    /* Debug logging runs every message's formatting; the text goes nowhere. */
    f->shim.log.fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    f->shim.log.level = TETHER_LOG_DEBUG;
    fd = tether_sock_listen(f->shim.cfg.socket_path, SOCK_STREAM, &err);
    if (fd < 0 || tether_ctrd_shim_init(&f->shim, fd, &err) < 0)
        die("shim", err.msg);
    f->client = -1;
    f->trace = getenv("TETHER_FUZZ_TRACE") != NULL;
    fz = f;
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz *f = fz;

    connect_client(f);
    feed(f, data, size);
    disconnect_client(f);
    if (f->shim.n_tasks != 0 || tether_core_count(f->shim.core) != 0)
        die("model", "a request left a task behind");
    return 0;
}
