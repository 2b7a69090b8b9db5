/* containerd-shim-tether-v2: the command line containerd runs (Go-style flags, then the
 * action), detaching, and the exit codes. Only this file prints to the caller and exits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether/core.h>
#include <tether/sock.h>
#include <tether/util.h>

#include "address.h"
#include "cleanup.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "shim.h"

#define PROG       "containerd-shim-tether-v2"
#define EXIT_USAGE 2
/* Options containerd may send on start's stdin: read and ignored (bounded). */
#define START_STDIN_MAX (1u << 20)
#define START_STDIN_MS  1000

struct args {
    const char *ns;
    const char *address;
    const char *publish_binary;
    const char *id;
    const char *bundle;
    bool debug;
    const char *action;
};

static void usage(FILE *out)
{
    fputs("usage: " PROG
          " -namespace NS -address ADDR -id ID [-publish-binary PATH] [-debug] start\n"
          "       " PROG " -namespace NS -address ADDR -id ID [-publish-binary PATH]\n"
          "                                  [-bundle DIR] [-debug] delete\n"
          "       " PROG " -h | -v\n"
          "\n"
          "tether as a containerd runtime (io.containerd.tether.v2): containerd runs this\n"
          "program, it is not meant to be run by hand (see containerd-shim-tether-v2(8)).\n"
          "\n"
          "Actions:\n"
          "  start   start a shim for the task ID whose bundle is the working directory, or find\n"
          "          the one serving its pod, and print its socket address\n"
          "  delete  clean up after task ID: force-delete it in the runtime, unmount its root\n"
          "          filesystem, print its exit as a protobuf DeleteResponse\n"
          "\n"
          "Options (Go style: one dash or two; a value after a space or an equals sign):\n"
          "  -namespace NS          containerd namespace of the task\n"
          "  -address ADDR          containerd's gRPC socket (names the shim's socket)\n"
          "  -publish-binary PATH   accepted for compatibility; events go to $TTRPC_ADDRESS\n"
          "  -id ID                 the task\n"
          "  -bundle DIR            the task's bundle (delete; default: the working directory)\n"
          "  -debug                 log at debug level\n"
          "  -h, -help              show this help\n"
          "  -v, -version           show the version\n",
          out);
}

/* Go's flag package: -name value, -name=value, --name..., booleans without a value; the
 * first argument that is not a flag is the action. */
static int parse_args(int argc, char **argv, struct args *a, struct tether_error *err)
{
    static const char *const string_flags[] = {"namespace", "address", "publish-binary", "id",
                                               "bundle"};
    const char **string_vals[] = {&a->ns, &a->address, &a->publish_binary, &a->id, &a->bundle};
    char q[256];
    int i;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *name, *eq;
        size_t len, k;

        if (arg[0] != '-' || arg[1] == '\0')
            break;
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        name = arg + (arg[1] == '-' ? 2 : 1);
        eq = strchr(name, '=');
        len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        for (k = 0; k < TETHER_ARRAY_SIZE(string_flags); k++)
            if (strlen(string_flags[k]) == len && strncmp(name, string_flags[k], len) == 0)
                break;
        if (k < TETHER_ARRAY_SIZE(string_flags)) {
            if (eq != NULL) {
                *string_vals[k] = eq + 1;
            } else if (i + 1 < argc) {
                *string_vals[k] = argv[++i];
            } else {
                return tether_error_set(err, 0, "flag needs an argument: -%s", string_flags[k]);
            }
            continue;
        }
        if ((len == 5 && strncmp(name, "debug", 5) == 0)) {
            a->debug = eq == NULL || strcmp(eq + 1, "true") == 0 || strcmp(eq + 1, "1") == 0;
            continue;
        }
        if ((len == 1 && name[0] == 'h') || (len == 4 && strncmp(name, "help", 4) == 0)) {
            usage(stdout);
            exit(0);
        }
        if ((len == 1 && name[0] == 'v') || (len == 7 && strncmp(name, "version", 7) == 0)) {
            printf(PROG " %s\n", TETHER_VERSION);
            exit(0);
        }
        return tether_error_set(err, 0, "flag provided but not defined: %s",
                                tether_quote(arg, q, sizeof(q)));
    }
    if (i < argc)
        a->action = argv[i++];
    if (i < argc)
        return tether_error_set(err, 0, "unexpected argument: %s",
                                tether_quote(argv[i], q, sizeof(q)));
    if (a->action == NULL) {
        tether_error_set(err, 0, "no action: start or delete (see -h)");
        return -1;
    }
    if (strcmp(a->action, "start") != 0 && strcmp(a->action, "delete") != 0)
        return tether_error_set(err, 0, "unknown action %s: start or delete",
                                tether_quote(a->action, q, sizeof(q)));
    if (a->ns == NULL || a->ns[0] == '\0' || a->id == NULL || a->id[0] == '\0')
        return tether_error_set(err, 0, "-namespace and -id are required");
    if (!tether_id_valid(a->id) || !tether_id_valid(a->ns))
        return tether_error_set(err, 0, "invalid -id or -namespace");
    if (strcmp(a->action, "start") == 0 && (a->address == NULL || a->address[0] == '\0'))
        return tether_error_set(err, 0, "-address is required");
    return 0;
}

/* ---- start ---- */

/* containerd hands the runtime's options on stdin; they are not used (runc's options do
 * not apply), but are read so that containerd's write completes. */
static void drain_stdin(void)
{
    char buf[4096];
    size_t total = 0;
    struct pollfd pfd = {.fd = 0, .events = POLLIN};

    if (isatty(0))
        return;
    while (total < START_STDIN_MAX && poll(&pfd, 1, START_STDIN_MS) > 0) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n <= 0)
            break;
        total += (size_t)n;
    }
}

static int mkdir_p(const char *path, mode_t mode, struct tether_error *err)
{
    cleanup_free char *copy = xstrdup(path);

    for (char *p = copy + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST)
            return tether_error_set(err, errno, "mkdir %s", copy);
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return tether_error_set(err, errno, "mkdir %s", copy);
    return 0;
}

/* The daemon's OOM score: one above containerd's, as containerd's own shims do, so the
 * kernel picks a shim before containerd. */
static void oom_score_above(pid_t parent)
{
    char path[64], buf[32];
    FILE *f;
    int score;

    snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", (int)parent);
    f = fopen(path, "re");
    if (f == NULL)
        return;
    if (fgets(buf, sizeof(buf), f) != NULL) {
        score = atoi(buf) + 1;
        if (score > 1000)
            score = 1000;
        snprintf(buf, sizeof(buf), "%d\n", score);
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            if (write(fd, buf, strlen(buf)) < 0) {
                /* Not allowed: the default score stays. */
            }
            close(fd);
        }
    }
    fclose(f);
}

/* The daemon's log: the bundle's `log` FIFO (containerd reads it) when there is one. Never
 * blocks: a full FIFO drops lines rather than stalling the loop. */
static int open_log_fifo(const char *bundle)
{
    cleanup_free char *log_path = xasprintf("%s/log", bundle);

    return open(log_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

/* The daemon, forked off by the launcher with everything set up (rc < 0: it cannot serve). */
static void __attribute__((noreturn))
daemon_main(struct tether_ctrd_shim *shim, int rc, struct tether_error *err)
{
    if (rc == 0)
        rc = tether_ctrd_shim_run(shim, err);
    if (rc < 0)
        log_error(&shim->log, "%s", err->msg);
    tether_ctrd_shim_fini(shim);
    _exit(rc < 0 ? 1 : 0);
}

static int answer_address(const char *bundle, const char *socket_path, struct tether_error *err)
{
    if (tether_ctrd_write_address(bundle, socket_path, err) < 0)
        return -1;
    printf("unix://%s", socket_path);
    fflush(stdout);
    return 0;
}

static int cmd_start(const struct args *a, struct tether_error *err)
{
    static struct tether_ctrd_shim shim;
    char bundle[4096];
    cleanup_free char *group = NULL;
    cleanup_free char *socket_path = NULL;
    cleanup_close int lock_fd = -1;
    const char *ttrpc = getenv("TTRPC_ADDRESS");
    pid_t containerd = getppid();
    pid_t daemon = -1;
    int listen_fd, rc;

    if (getcwd(bundle, sizeof(bundle)) == NULL)
        return tether_error_set(err, errno, "getcwd");
    group = tether_ctrd_group_id(bundle, a->id, err);
    if (group == NULL)
        return -1;
    if (!tether_id_valid(group))
        return tether_error_set(err, 0, "invalid group id in the annotations");
    socket_path = tether_ctrd_socket_path(a->address, a->ns, group);
    drain_stdin();
    if (mkdir_p(TETHER_CTRD_SOCKET_DIR, 0711, err) < 0)
        return -1;
    /* One start at a time decides between "a shim serves this group" and "make one". */
    lock_fd = open(TETHER_CTRD_SOCKET_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0)
        return tether_error_set(err, errno, "lock %s", TETHER_CTRD_SOCKET_DIR);
    if (tether_ctrd_socket_alive(socket_path))
        return answer_address(bundle, socket_path, err);
    listen_fd = tether_sock_listen(socket_path, SOCK_STREAM, err);
    if (listen_fd < 0)
        return -1;
    shim.log.fd = open_log_fifo(bundle);
    shim.log.level = a->debug ? TETHER_LOG_DEBUG : TETHER_LOG_INFO;
    shim.cfg = (struct tether_ctrd_config){
        .ns = xstrdup(a->ns),
        .address = xstrdup(a->address),
        .ttrpc_address =
            ttrpc != NULL && ttrpc[0] != '\0' ? xstrdup(ttrpc) : xasprintf("%s.ttrpc", a->address),
        .id = xstrdup(group),
        .socket_path = xstrdup(socket_path),
        .runtime_root = xasprintf("%s/%s", TETHER_CTRD_RUNTIME_ROOT, a->ns),
        .log_level = shim.log.level,
    };
    /* Everything is set up before the daemon is forked off: a failure is reported here. */
    oom_score_above(containerd);
    rc = tether_ctrd_shim_init(&shim, listen_fd, err);
    if (rc == 0)
        rc = tether_core_detach(shim.core, &daemon, err);
    if (daemon == 0) {
        /* The lock stays with the caller, which lets go once it printed the address. */
        close(lock_fd);
        daemon_main(&shim, rc, err);
    }
    if (rc < 0) {
        tether_ctrd_shim_fini(&shim);
        return -1;
    }
    /* The daemon owns the socket and the loop now: they are not the launcher's to release. */
    return answer_address(bundle, socket_path, err);
}

/* ---- delete ---- */

static void warn_stderr(const char *msg)
{
    fprintf(stderr, PROG ": %s\n", msg);
}

static int cmd_delete(const struct args *a, struct tether_error *err)
{
    Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    struct tether_ctrd_cleanup res;
    char cwd[4096];
    const char *bundle = a->bundle;
    cleanup_free uint8_t *out = NULL;
    size_t len;

    if (bundle == NULL || bundle[0] == '\0') {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return tether_error_set(err, errno, "getcwd");
        bundle = cwd;
    }
    tether_ctrd_cleanup_run(bundle, a->id, a->ns, warn_stderr, &res);
    resp.pid = (uint32_t)res.pid;
    resp.exit_status = (uint32_t)res.exit_status;
    ts.seconds = res.exited_at.tv_sec;
    ts.nanos = (int32_t)res.exited_at.tv_nsec;
    resp.exited_at = &ts;
    out = tether_ttrpc_pack(&resp.base, &len);
    if (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0)
        return tether_error_set(err, errno, "write the answer");
    return 0;
}

int main(int argc, char **argv)
{
    struct tether_error err = {0};
    struct args a = {0};
    int rc;

    tether_core_take_signals();

    if (parse_args(argc, argv, &a, &err) < 0 || a.action == NULL) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (strcmp(a.action, "start") == 0)
        rc = cmd_start(&a, &err);
    else
        rc = cmd_delete(&a, &err);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", err.msg);
        return 1;
    }
    return 0;
}
