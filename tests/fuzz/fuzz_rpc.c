/* libFuzzer target for the protocol's input path: bytes go through the line framer in
 * pieces of input-dependent sizes, and every line through the real dispatcher
 * (tether_methods_dispatch: JSON-RPC decoding, the method table and each method's
 * parameter validation) of a real shim with no container, on a real connection.
 *
 * Nothing may start a process: the shim is set up so that no method reaches the runtime
 * for a container that does not exist. Two functions are replaced at link time
 * (-Wl,--wrap, see CMakeLists.txt):
 *   - tether_io_prepare, the first thing `create` does with a client's log path once
 *     every parameter passed validation: it fails here, so no file is opened at a path
 *     the fuzzer made up and `create` ends before the runtime would run;
 *   - tether_job_spawn, the only way to the runtime: reaching it is a bug in the model
 *     (a runtime command for a container that does not exist), reported as a crash.
 * `version` answers at once (tether_core_runtime_version is wrapped).
 *
 * Checked for every input besides what ASan and UBSan catch: everything the shim sends
 * is one JSON-RPC object per line; the container stays "new" and no runtime command is
 * in flight; the connection is closed once the client goes away. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include <tether/util.h>

#include "container.h"
#include "framer.h"
#include "io.h"
#include "job.h"
#include "shim.h"

/* Lines longer than this end the input, as they end the connection in the server. */
#define FUZZ_MAX_MESSAGE (64u * 1024)
/* Bound on what the client side keeps of one unfinished line from the shim. */
#define FUZZ_REPLY_MAX  (8u << 20)
#define FUZZ_LOOP_TURNS 200

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __wrap_tether_io_prepare(struct tether_io *io, const struct tether_process_opts *opts,
                             struct tether_error *err);
int __wrap_tether_core_runtime_version(struct tether_core *core, struct tether_call *call,
                                       struct tether_error *err);
struct tether_job *__wrap_tether_job_spawn(const struct tether_job_env *env,
                                           enum tether_runtime_op op,
                                           const struct tether_runtime_args *args,
                                           tether_job_cb done, void *data, struct tether_job **list,
                                           struct tether_error *err);

struct fuzz {
    struct tether_shim shim;
    char dir[64];
    struct tether_source feed_src; /* an eventfd: the input is fed from its callback */
    const uint8_t *data;
    size_t size;
    bool fed;
    uint64_t conn_id;
    int client;  /* the client's end of the connection */
    char *reply; /* what the client received, up to an unfinished line */
    size_t reply_len, reply_cap;
    bool trace; /* TETHER_FUZZ_TRACE set: every line the shim sends goes to stderr */
};

/* libFuzzer's entry points take no context: this is the one place it can live. */
static struct fuzz *fz;

int __wrap_tether_io_prepare(struct tether_io *io, const struct tether_process_opts *opts,
                             struct tether_error *err)
{
    (void)io;
    (void)opts;
    return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "fuzzing: no process is started");
}

/* `version` answers at once, as it does once the runtime's version is known. */
int __wrap_tether_core_runtime_version(struct tether_core *core, struct tether_call *call,
                                       struct tether_error *err)
{
    struct tether_result res = {.text = "fuzz"};

    (void)core;
    (void)err;
    tether_call_ok(call, &res);
    return 0;
}

struct tether_job *__wrap_tether_job_spawn(const struct tether_job_env *env,
                                           enum tether_runtime_op op,
                                           const struct tether_runtime_args *args,
                                           tether_job_cb done, void *data, struct tether_job **list,
                                           struct tether_error *err)
{
    (void)env;
    (void)args;
    (void)done;
    (void)data;
    (void)list;
    (void)err;
    fprintf(stderr, "fuzz_rpc: runtime operation %d started for a container that does not exist\n",
            (int)op);
    abort();
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_rpc: %s: %s\n", what, why);
    abort();
}

/* Each line the shim sent must be one JSON-RPC 2.0 object: a response or a notification. */
static void check_reply_line(const char *line, size_t len)
{
    json_error_t jerr;
    json_t *msg = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *version = json_object_get(msg, "jsonrpc");

    if (msg == NULL)
        die("the shim sent a line that is not JSON", jerr.text);
    if (!json_is_object(msg) || !json_is_string(version) ||
        strcmp(json_string_value(version), "2.0") != 0)
        die("the shim sent something that is not JSON-RPC 2.0", line);
    if (json_object_get(msg, "id") == NULL && json_object_get(msg, "method") == NULL)
        die("the shim sent a message that is neither a response nor a notification", line);
    if (json_object_get(msg, "id") != NULL &&
        (json_object_get(msg, "result") == NULL) == (json_object_get(msg, "error") == NULL))
        die("a response needs exactly one of result and error", line);
    json_decref(msg);
}

/* Reads what the shim sent so far and checks every complete line. */
static void drain_client(struct fuzz *f)
{
    for (;;) {
        ssize_t n;
        size_t start = 0, i;

        if (f->reply_cap - f->reply_len < 65536) {
            f->reply_cap = f->reply_cap ? f->reply_cap * 2 : 131072;
            f->reply = xrealloc(f->reply, f->reply_cap);
        }
        n = recv(f->client, f->reply + f->reply_len, f->reply_cap - f->reply_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        f->reply_len += (size_t)n;
        for (i = 0; i < f->reply_len; i++) {
            if (f->reply[i] != '\n')
                continue;
            /* A "dropped" notice starts with a '\n' that ends a partial line. */
            if (i > start) {
                if (f->trace)
                    fprintf(stderr, "< %.*s\n", (int)(i - start), f->reply + start);
                check_reply_line(f->reply + start, i - start);
            }
            start = i + 1;
        }
        memmove(f->reply, f->reply + start, f->reply_len - start);
        f->reply_len -= start;
        if (f->reply_len > FUZZ_REPLY_MAX)
            die("the shim sent a line without end", "over 8 MiB");
    }
}

static void run_loop(struct fuzz *f, int timeout_ms)
{
    struct tether_error err = {0};

    if (tether_core_run_once(f->shim.core, timeout_ms, &err) < 0)
        die("loop", err.msg);
}

/* Runs inside a loop batch, as the server's read callback does: connections closed
 * meanwhile are released only when the batch ends. */
static void feed_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct fuzz *f = container_of(src, struct fuzz, feed_src);
    struct tether_conn *conn = tether_server_find(&f->shim.server, f->conn_id);
    struct tether_framer in;
    uint64_t count;
    size_t off = 0;

    (void)loop;
    (void)revents;
    if (read(src->fd, &count, sizeof(count)) < 0)
        return;
    f->fed = true;
    if (conn == NULL)
        return;
    tether_framer_init(&in, FUZZ_MAX_MESSAGE);
    while (off < f->size && !conn->src.dead) {
        size_t avail, n;
        char *dst = tether_framer_reserve(&in, &avail);
        char *line;
        size_t len;
        int r;

        /* Read sizes follow the input itself: 1 to 4336 bytes. */
        n = 1 + (size_t)f->data[off] * 17;
        if (n > avail)
            n = avail;
        if (n > f->size - off)
            n = f->size - off;
        memcpy(dst, f->data + off, n);
        tether_framer_commit(&in, n);
        off += n;
        while (!conn->src.dead && (r = tether_framer_next(&in, &line, &len)) != 0) {
            if (r < 0) {
                off = f->size; /* the server answers -32005 and closes */
                break;
            }
            tether_methods_dispatch(&f->shim, conn, line, len);
            drain_client(f);
        }
    }
    tether_framer_fini(&in);
}

static void check_model(const struct fuzz *f)
{
    if (f->shim.ctr->state != TETHER_CTR_NEW)
        die("model", "a request changed the state of a container that does not exist");
    if (f->shim.ctr->jobs != NULL)
        die("model", "a runtime command is in flight");
}

static void connect_client(struct fuzz *f)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int i;

    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->shim.cfg.socket_path);
    f->client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->client < 0 || connect(f->client, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        die("connect", strerror(errno));
    for (i = 0; i < FUZZ_LOOP_TURNS && f->shim.server.conns == NULL; i++)
        run_loop(f, 10);
    if (f->shim.server.conns == NULL)
        die("accept", "the shim did not take the connection");
    f->conn_id = f->shim.server.conns->id;
    f->reply_len = 0;
}

static void disconnect_client(struct fuzz *f)
{
    int i;

    /* Let the shim flush what it still holds, then hang up; it must close its end. */
    for (i = 0; i < FUZZ_LOOP_TURNS; i++) {
        struct tether_conn *conn = tether_server_find(&f->shim.server, f->conn_id);
        if (conn == NULL || tether_outbuf_pending(&conn->out) == 0)
            break;
        drain_client(f);
        run_loop(f, 0);
    }
    drain_client(f);
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
    tether_shim_fini(&fz->shim);
    if (fz->feed_src.fd >= 0)
        close(fz->feed_src.fd);
    nftw(fz->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* A bundle whose config.json is all `create` reads before it would start a process: it
 * checks process.terminal, and with init or seccomp_notify writes its own copy. */
static void make_bundle(struct fuzz *f)
{
    static const char config[] =
        "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"args\":[\"true\"],"
        "\"cwd\":\"/\"},\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
        "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"}],"
        "\"linux\":{\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":"
        "[{\"names\":[\"mkdir\",\"reboot\"],\"action\":\"SCMP_ACT_ERRNO\"}]}}}\n";
    struct tether_error err = {0};
    cleanup_free char *path = NULL;

    f->shim.cfg.bundle = xasprintf("%s/bundle", f->dir);
    path = xasprintf("%s/config.json", f->shim.cfg.bundle);
    if (mkdir(f->shim.cfg.bundle, 0700) < 0)
        die("mkdir", strerror(errno));
    if (tether_write_file_atomic(path, config, sizeof(config) - 1, 0600, &err) < 0)
        die("bundle", err.msg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct tether_error err = {0};
    struct fuzz *f = xzalloc(sizeof(*f));
    struct tether_shim_config *cfg = &f->shim.cfg;
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

    (void)argc;
    (void)argv;
    /* tmpfs when there is one: writes of the bundle copy are then cheap. */
    snprintf(f->dir, sizeof(f->dir), "%s/tether-fuzz-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(f->dir) == NULL)
        die("mkdtemp", strerror(errno));
    make_bundle(f);
    cfg->id = "fuzz";
    cfg->state_dir = "/tmp";
    cfg->dir = f->dir;
    cfg->socket_path = xasprintf("%s/shim.sock", f->dir);
    cfg->runtime = "/bin/false";
    cfg->init_path = "/bin/true"; /* only checked and named in the bundle copy */
    cfg->max_message = FUZZ_MAX_MESSAGE;
    /* Debug logging runs every message's formatting; the text goes nowhere. */
    cfg->log_level = TETHER_LOG_DEBUG;
    f->shim.log.fd = devnull;
    if (tether_shim_init(&f->shim, &err) < 0)
        die("shim", err.msg);
    f->feed_src.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    f->feed_src.events = EPOLLIN;
    f->feed_src.cb = feed_cb;
    if (f->feed_src.fd < 0 ||
        tether_loop_add(tether_core_loop(f->shim.core), &f->feed_src, &err) < 0)
        die("eventfd", err.msg[0] ? err.msg : strerror(errno));
    f->client = -1;
    f->trace = getenv("TETHER_FUZZ_TRACE") != NULL;
    fz = f;
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz *f = fz;
    const uint64_t one = 1;
    int i;

    f->data = data;
    f->size = size;
    connect_client(f);
    f->fed = false;
    if (write(f->feed_src.fd, &one, sizeof(one)) != sizeof(one))
        die("eventfd", strerror(errno));
    for (i = 0; i < FUZZ_LOOP_TURNS && !f->fed; i++)
        run_loop(f, 10);
    if (!f->fed)
        die("feed", "the loop never ran the feed callback");
    disconnect_client(f);
    check_model(f);
    f->data = NULL;
    f->size = 0;
    return 0;
}
