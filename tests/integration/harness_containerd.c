#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "address.h"
#include "harness_containerd.h"
#include "ttrpc.h"

#define FIFO_DIR "/run/containerd/fifo"

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* snprintf that fails the test instead of truncating. */
static void pathf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pathf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len)
        fail_msg("path too long: %s", buf);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

    nanosleep(&ts, NULL);
}

void th_ctrd_require(void)
{
    static const char *const progs[] = {"/usr/bin/containerd", "/usr/bin/ctr"};

    if (geteuid() != 0) {
        fprintf(stderr, "skip: containerd tests need root\n");
        skip();
    }
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(progs); i++)
        if (access(progs[i], X_OK) < 0) {
            fprintf(stderr, "skip: %s is not installed (hack/deps.sh test installs it)\n",
                    progs[i]);
            skip();
        }
}

/* ---- running programs ---- */

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    *buf = xrealloc(*buf, *len + n + 1);
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Reads what fd has now into buf; returns false at its end. */
static bool drain(int fd, char **buf, size_t *len)
{
    char chunk[65536];

    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n > 0) {
            append(buf, len, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        return n < 0 && errno == EAGAIN;
    }
}

static void child_exec(const struct th_cmd *cmd, int in, int out, int err)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (!cmd->tty) {
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
    }
    execvp(cmd->argv[0], (char *const *)cmd->argv);
    fprintf(stderr, "exec %s: %s\n", cmd->argv[0], strerror(errno));
    _exit(127);
}

void th_cmd_start(struct th_cmd *cmd)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, master = -1;
    pid_t pid;

    cmd->out = xzalloc(1);
    cmd->err = xzalloc(1);
    cmd->start_ms = now_ms();
    if (cmd->tty) {
        struct winsize ws = {.ws_row = cmd->rows, .ws_col = cmd->cols};
        pid = forkpty(&master, NULL, NULL, &ws);
        if (pid == 0)
            child_exec(cmd, -1, -1, -1);
        in[1] = master >= 0 ? fcntl(master, F_DUPFD_CLOEXEC, 3) : -1;
        out[0] = master;
    } else {
        if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
            fail_msg("pipe2: %s", strerror(errno));
        pid = fork();
        if (pid == 0)
            child_exec(cmd, in[0], out[1], err[1]);
        close(in[0]);
        close(out[1]);
        close(err[1]);
    }
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    if (err[0] >= 0)
        fcntl(err[0], F_SETFL, O_NONBLOCK);
    if (cmd->input == NULL && !cmd->tty) {
        close(in[1]);
        in[1] = -1;
    }
    cmd->pid = pid;
    cmd->in_fd = in[1];
    cmd->out_fd = out[0];
    cmd->err_fd = err[0];
}

int th_cmd_finish(struct th_cmd *cmd)
{
    size_t out_len = strlen(cmd->out), err_len = strlen(cmd->err), in_off = 0;
    int64_t deadline = cmd->start_ms + (cmd->timeout_ms ? cmd->timeout_ms : TH_CTRD_CMD_MS);
    bool exited = false, out_open = true, err_open = cmd->err_fd >= 0;
    int status = 0;

    while (!exited || out_open || err_open) {
        struct pollfd pfd[2] = {{.fd = out_open ? cmd->out_fd : -1, .events = POLLIN},
                                {.fd = err_open ? cmd->err_fd : -1, .events = POLLIN}};
        int64_t now = now_ms();

        if (cmd->in_fd >= 0 && cmd->input != NULL && now >= cmd->start_ms + cmd->input_delay_ms) {
            size_t n = strlen(cmd->input);
            if (in_off < n) {
                ssize_t w = write(cmd->in_fd, cmd->input + in_off, n - in_off);
                if (w > 0)
                    in_off += (size_t)w;
            }
            if (in_off >= n && !cmd->tty) {
                close(cmd->in_fd);
                cmd->in_fd = -1;
            }
        }
        poll(pfd, 2, 20);
        if (out_open && !drain(cmd->out_fd, &cmd->out, &out_len))
            out_open = false;
        if (err_open && !drain(cmd->err_fd, &cmd->err, &err_len))
            err_open = false;
        if (!exited && waitpid(cmd->pid, &status, WNOHANG) == cmd->pid) {
            exited = true;
            /* What the program wrote is in the pipes; a daemon it started may hold them. */
            if (now_ms() + 500 < deadline)
                deadline = now_ms() + 500;
        }
        if (now_ms() > deadline) {
            if (!exited) {
                kill(cmd->pid, SIGKILL);
                waitpid(cmd->pid, &status, 0);
                exited = true;
                status = -1;
            }
            break;
        }
    }
    if (cmd->in_fd >= 0)
        close(cmd->in_fd);
    close(cmd->out_fd);
    if (cmd->err_fd >= 0)
        close(cmd->err_fd);
    cmd->in_fd = cmd->out_fd = cmd->err_fd = -1;
    if (status == -1)
        cmd->status = -1;
    else if (WIFEXITED(status))
        cmd->status = WEXITSTATUS(status);
    else
        cmd->status = 128 + WTERMSIG(status);
    return cmd->status;
}

bool th_cmd_wait_output(struct th_cmd *cmd, const char *needle, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    size_t len = strlen(cmd->out), err_len = strlen(cmd->err);

    for (;;) {
        struct pollfd pfd = {.fd = cmd->out_fd, .events = POLLIN};
        if (strstr(cmd->out, needle) != NULL)
            return true;
        if (now_ms() > deadline)
            return false;
        poll(&pfd, 1, 20);
        drain(cmd->out_fd, &cmd->out, &len);
        if (cmd->err_fd >= 0)
            drain(cmd->err_fd, &cmd->err, &err_len);
    }
}

int th_cmd_stop(struct th_cmd *cmd)
{
    kill(cmd->pid, SIGTERM);
    return th_cmd_finish(cmd);
}

int th_cmd_run(struct th_cmd *cmd)
{
    th_cmd_start(cmd);
    return th_cmd_finish(cmd);
}

void th_cmd_free(struct th_cmd *cmd)
{
    free(cmd->out);
    free(cmd->err);
    cmd->out = cmd->err = NULL;
}

void th_ctr_argv(struct th_ctrd *c, const char **argv, size_t max, const char *const *args)
{
    size_t n = 0;

    argv[n++] = "ctr";
    argv[n++] = "--address";
    argv[n++] = c->sock;
    argv[n++] = "-n";
    argv[n++] = c->ns;
    for (size_t i = 0; args[i] != NULL; i++) {
        if (n + 2 > max)
            fail_msg("too many ctr arguments");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
}

int th_ctr_args(struct th_ctrd *c, char **out, char **err, const char *const *args)
{
    const char *argv[72];
    struct th_cmd cmd = {0};

    th_ctr_argv(c, argv, TETHER_ARRAY_SIZE(argv), args);
    cmd.argv = argv;
    th_cmd_run(&cmd);
    if (out != NULL)
        *out = steal_ptr(cmd.out);
    if (err != NULL)
        *err = steal_ptr(cmd.err);
    th_cmd_free(&cmd);
    return cmd.status;
}

bool th_ctrd_wait_status(struct th_ctrd *c, const char *id, const char *status, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;

    do {
        char *out = NULL;
        bool found = false;
        th_ctr(c, &out, NULL, "task", "ls");
        for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            char tid[256] = "", st[64] = "";
            int pid;
            if (sscanf(line, "%255s %d %63s", tid, &pid, st) == 3 && strcmp(tid, id) == 0 &&
                strcmp(st, status) == 0)
                found = true;
        }
        free(out);
        if (found)
            return true;
        sleep_ms(50);
    } while (now_ms() < deadline);
    return false;
}

/* ---- containerd ---- */

static void write_config(struct th_ctrd *c)
{
    FILE *f = fopen(c->config, "w");
    const char *d = c->env.dir;

    if (f == NULL) {
        fail_msg("open %s: %s", c->config, strerror(errno));
        return;
    }
    fprintf(
        f,
        "version = 2\n"
        "root = \"%s/root\"\n"
        "state = \"%s/state-ctrd\"\n"
        "disabled_plugins = [%s\"io.containerd.snapshotter.v1.btrfs\",\n"
        "  \"io.containerd.snapshotter.v1.zfs\", \"io.containerd.snapshotter.v1.aufs\",\n"
        "  \"io.containerd.snapshotter.v1.devmapper\",\n"
        "  \"io.containerd.tracing.processor.v1.otlp\", \"io.containerd.internal.v1.tracing\"]\n"
        "[grpc]\n  address = \"%s\"\n"
        "[ttrpc]\n  address = \"%s.ttrpc\"\n"
        "[debug]\n  address = \"\"\n  level = \"debug\"\n"
        "[metrics]\n  address = \"\"\n",
        d, d, c->cri ? "" : "\"io.containerd.grpc.v1.cri\", ", c->sock, c->sock);
    if (c->cri)
        fprintf(f,
                "[plugins.\"io.containerd.grpc.v1.cri\"]\n"
                "  sandbox_image = \"%s\"\n"
                "  restrict_oom_score_adj = true\n"
                "  disable_apparmor = true\n"
                "  disable_tcp_service = true\n"
                "  stream_server_address = \"127.0.0.1\"\n"
                "  stream_server_port = \"0\"\n"
                "  tolerate_missing_hugetlb_controller = true\n"
                "  disable_hugetlb_controller = true\n"
                "  [plugins.\"io.containerd.grpc.v1.cri\".cni]\n"
                "    conf_dir = \"%s/cni\"\n"
                "  [plugins.\"io.containerd.grpc.v1.cri\".containerd]\n"
                "    snapshotter = \"overlayfs\"\n"
                "    default_runtime_name = \"runc\"\n"
                "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.tether]\n"
                "      runtime_type = \"%s\"\n"
                "    [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n"
                "      runtime_type = \"io.containerd.runc.v2\"\n",
                TH_CTRD_PAUSE_IMAGE, d, TH_CTRD_RUNTIME);
    fclose(f);
}

static void spawn_containerd(struct th_ctrd *c)
{
    cleanup_free char *path = xasprintf("PATH=%s:%s", th_bin(""), getenv("PATH") ?: "/usr/bin");
    cleanup_free char *asan =
        xasprintf("ASAN_OPTIONS=%s%slog_path=%s", getenv("ASAN_OPTIONS") ?: "",
                  getenv("ASAN_OPTIONS") ? ":" : "", c->asan);
    int64_t deadline;
    pid_t pid;

    /* th_bin("") is the bin directory with a trailing slash: fine in PATH. */
    pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int log = open(c->log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setsid();
        dup2(null, 0);
        dup2(log, 1);
        dup2(log, 2);
        putenv(path);
        putenv(asan);
        execlp("containerd", "containerd", "--config", c->config, (char *)NULL);
        _exit(127);
    }
    c->pid = pid;
    deadline = now_ms() + 30000;
    while (now_ms() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            c->pid = 0;
            fail_msg("containerd exited at start (log: %s)", c->log);
        }
        if (th_ctr(c, NULL, NULL, "version") == 0)
            return;
        sleep_ms(20);
    }
    fail_msg("containerd did not come up within 30 s (log: %s)", c->log);
}

static void make_image(struct th_ctrd *c, const char *name, const char *cmd_json)
{
    char rootfs_bundle[PATH_MAX], tar[PATH_MAX], script[PATH_MAX];
    static const char *const sh[] = {"sh", NULL};
    struct th_cmd cmd = {0};
    const char *argv[] = {"env", NULL, script, NULL, tar, name, NULL};
    cleanup_free char *env_cmd = xasprintf("MKIMAGE_CMD=%s", cmd_json);
    cleanup_free char *rootfs = NULL;

    pathf(script, sizeof(script), "%s/hack/bench/mkimage.sh", TETHER_SOURCE_DIR);
    pathf(tar, sizeof(tar), "%s/image-%s.tar", c->env.dir, strrchr(name, '/') + 1);
    th_make_bundle(&c->env, "image-rootfs", sh, rootfs_bundle, sizeof(rootfs_bundle));
    rootfs = xasprintf("%s/rootfs", rootfs_bundle);
    argv[1] = env_cmd;
    argv[3] = rootfs;
    cmd.argv = argv;
    if (th_cmd_run(&cmd) != 0)
        fail_msg("mkimage.sh failed: %s", cmd.err);
    th_cmd_free(&cmd);
    if (c->cri) {
        /* CRI sees the images of the k8s.io namespace. */
        const char *args[] = {"ctr",    "--address", c->sock, "-n", "k8s.io",
                              "images", "import",    tar,     NULL};
        struct th_cmd imp = {.argv = args};
        if (th_cmd_run(&imp) != 0)
            fail_msg("ctr images import: %s", imp.err);
        th_cmd_free(&imp);
    }
    if (th_ctr(c, NULL, NULL, "images", "import", tar) != 0)
        fail_msg("ctr images import %s failed", tar);
}

void th_ctrd_start(struct th_ctrd *c, bool cri)
{
    memset(c, 0, sizeof(*c));
    th_ctrd_require();
    th_env_init(&c->env);
    c->cri = cri;
    pathf(c->sock, sizeof(c->sock), "%s/c.sock", c->env.dir);
    pathf(c->config, sizeof(c->config), "%s/config.toml", c->env.dir);
    pathf(c->log, sizeof(c->log), "%s/containerd.log", c->env.dir);
    pathf(c->asan, sizeof(c->asan), "%s/sanitizer", c->env.dir);
    pathf(c->ns, sizeof(c->ns), "tether-it-%d", (int)getpid());
    if (cri) {
        cleanup_free char *cni = xasprintf("%s/cni", c->env.dir);
        mkdir(cni, 0700);
    }
    write_config(c);
    spawn_containerd(c);
    make_image(c, TH_CTRD_IMAGE, "[\"sh\"]");
    if (cri)
        make_image(c, TH_CTRD_PAUSE_IMAGE, "[\"sleep\",\"1000000\"]");
}

void th_ctrd_kill(struct th_ctrd *c)
{
    if (c->pid <= 0)
        return;
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    c->pid = 0;
}

void th_ctrd_restart(struct th_ctrd *c)
{
    spawn_containerd(c);
}

void th_ctrd_track(struct th_ctrd *c, const char *id)
{
    for (size_t i = 0; i < c->n_ids; i++)
        if (strcmp(c->ids[i], id) == 0)
            return;
    if (c->n_ids < TH_CTRD_IDS_MAX)
        c->ids[c->n_ids++] = xstrdup(id);
}

void th_ctrd_shim_socket(struct th_ctrd *c, const char *group, char *buf, size_t len)
{
    char *p = tether_ctrd_socket_path(c->sock, c->ns, group);

    snprintf(buf, len, "%s", p);
    free(p);
}

bool th_ctrd_runtime_has(struct th_ctrd *c, const char *id)
{
    cleanup_free char *path = xasprintf("%s/%s/%s", TH_CTRD_RUNTIME_ROOT, c->ns, id);

    return access(path, F_OK) == 0;
}

bool th_ctrd_rootfs_mounted(struct th_ctrd *c, const char *id)
{
    cleanup_free char *needle = xasprintf("/%s/%s/rootfs ", c->ns, id);
    char line[8192];
    FILE *f = fopen("/proc/self/mounts", "re");
    bool found = false;

    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f) != NULL)
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

size_t th_ctrd_shims(struct th_ctrd *c, pid_t *pids, size_t max)
{
    cleanup_free char *needle = xasprintf("-address\n%s\n", c->sock);
    DIR *d = opendir("/proc");
    struct dirent *e;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL) {
        char path[64], buf[8192];
        ssize_t len;
        int fd;

        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        pathf(path, sizeof(path), "/proc/%.32s/cmdline", e->d_name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = '\0';
        for (ssize_t i = 0; i < len; i++)
            if (buf[i] == '\0')
                buf[i] = '\n';
        if (strstr(buf, "containerd-shim-tether-v2") == NULL || strstr(buf, needle) == NULL)
            continue;
        if (n < max)
            pids[n] = atoi(e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

/* ---- cleanup ---- */

/* ctr in namespace ns (the test's, or CRI's k8s.io). */
static int ctr_ns(struct th_ctrd *c, const char *ns, char **out, const char *const *args)
{
    const char *argv[32];
    struct th_cmd cmd = {0};
    size_t n = 0;

    argv[n++] = "ctr";
    argv[n++] = "--address";
    argv[n++] = c->sock;
    argv[n++] = "-n";
    argv[n++] = ns;
    for (size_t i = 0; args[i] != NULL && n < TETHER_ARRAY_SIZE(argv) - 1; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    cmd.argv = argv;
    th_cmd_run(&cmd);
    if (out != NULL)
        *out = steal_ptr(cmd.out);
    th_cmd_free(&cmd);
    return cmd.status;
}

static bool tracked(const struct th_ctrd *c, const char *id)
{
    for (size_t i = 0; i < c->n_ids; i++)
        if (strcmp(c->ids[i], id) == 0)
            return true;
    return false;
}

/* Every task and container of ns; of CRI's shared namespace, only those of this test. */
static void remove_tasks(struct th_ctrd *c, const char *ns, bool only_tracked)
{
    static const char *const ls_tasks[] = {"task", "ls", "-q", NULL};
    static const char *const ls_ctrs[] = {"containers", "ls", "-q", NULL};
    char *out = NULL;

    ctr_ns(c, ns, &out, ls_tasks);
    for (char *id = strtok(out, "\n"); id != NULL; id = strtok(NULL, "\n")) {
        const char *kill_args[] = {"task", "kill", "-a", "-s", "KILL", id, NULL};
        const char *rm_args[] = {"task", "rm", "-f", id, NULL};
        if (only_tracked && !tracked(c, id))
            continue;
        ctr_ns(c, ns, NULL, kill_args);
        ctr_ns(c, ns, NULL, rm_args);
    }
    free(out);
    out = NULL;
    ctr_ns(c, ns, &out, ls_ctrs);
    for (char *id = strtok(out, "\n"); id != NULL; id = strtok(NULL, "\n")) {
        const char *rm_args[] = {"containers", "rm", id, NULL};
        if (only_tracked && !tracked(c, id))
            continue;
        ctr_ns(c, ns, NULL, rm_args);
    }
    free(out);
}

static void stop_containerd(struct th_ctrd *c)
{
    int64_t deadline = now_ms() + 10000;

    if (c->pid <= 0)
        return;
    kill(c->pid, SIGTERM);
    while (now_ms() < deadline) {
        if (waitpid(c->pid, NULL, WNOHANG) == c->pid) {
            c->pid = 0;
            return;
        }
        sleep_ms(20);
    }
    th_ctrd_kill(c);
}

static void kill_shims(struct th_ctrd *c)
{
    pid_t pids[64];
    size_t n = th_ctrd_shims(c, pids, TETHER_ARRAY_SIZE(pids));

    for (size_t i = 0; i < n && i < TETHER_ARRAY_SIZE(pids); i++)
        kill(pids[i], SIGKILL);
    for (int tries = 0; tries < 250 && th_ctrd_shims(c, pids, 1) > 0; tries++)
        sleep_ms(20);
}

static void runtime_leftovers(struct th_ctrd *c, const char *ns, bool only_tracked)
{
    cleanup_free char *root = xasprintf("%s/%s", TH_CTRD_RUNTIME_ROOT, ns);
    const char *list[] = {"runc", "--root", root, "list", "-q", NULL};
    struct th_cmd cmd = {.argv = list};

    if (access(root, F_OK) < 0)
        return;
    th_cmd_run(&cmd);
    for (char *id = strtok(cmd.out, "\n"); id != NULL; id = strtok(NULL, "\n")) {
        const char *del[] = {"runc", "--root", root, "delete", "--force", id, NULL};
        struct th_cmd d = {.argv = del};
        if (only_tracked && !tracked(c, id))
            continue;
        th_cmd_run(&d);
        th_cmd_free(&d);
    }
    th_cmd_free(&cmd);
    rmdir(root); /* only when empty */
}

static void unmount_under(const char *dir)
{
    /* Deepest first: /proc/self/mounts lists parents before children. */
    for (int round = 0; round < 8; round++) {
        FILE *f = fopen("/proc/self/mounts", "re");
        char line[8192], *paths[256];
        size_t n = 0, len = strlen(dir);

        if (f == NULL)
            return;
        while (fgets(line, sizeof(line), f) != NULL && n < TETHER_ARRAY_SIZE(paths)) {
            char dev[4096], mnt[4096];
            if (sscanf(line, "%4095s %4095s", dev, mnt) == 2 && strncmp(mnt, dir, len) == 0 &&
                mnt[len] == '/')
                paths[n++] = xstrdup(mnt);
        }
        fclose(f);
        if (n == 0)
            return;
        while (n > 0) {
            n--;
            umount2(paths[n], MNT_DETACH);
            free(paths[n]);
        }
    }
}

static void remove_fifos(struct th_ctrd *c)
{
    DIR *d = opendir(FIFO_DIR);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        cleanup_free char *dir = xasprintf("%s/%s", FIFO_DIR, e->d_name);
        bool ours = false;

        if (e->d_name[0] == '.')
            continue;
        for (size_t i = 0; i < c->n_ids && !ours; i++) {
            static const char *const sfx[] = {"-stdin", "-stdout", "-stderr"};
            for (size_t s = 0; s < 3; s++) {
                cleanup_free char *p = xasprintf("%s/%s%s", dir, c->ids[i], sfx[s]);
                if (access(p, F_OK) == 0) {
                    ours = true;
                    unlink(p);
                }
            }
        }
        if (ours)
            rmdir(dir);
    }
    closedir(d);
}

static void check_sanitizer_reports(struct th_ctrd *c)
{
    cleanup_free char *prefix = xasprintf("%s.", strrchr(c->asan, '/') + 1);
    DIR *d = opendir(c->env.dir);
    struct dirent *e;
    char found[PATH_MAX] = "";

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
            pathf(found, sizeof(found), "%s/%.255s", c->env.dir, e->d_name);
    closedir(d);
    if (found[0] != '\0') {
        char *text = NULL;
        struct tether_error err = {0};
        tether_read_file(found, 1 << 20, &text, NULL, &err);
        fprintf(stderr, "sanitizer report of a shim (%s):\n%s\n", found, text ? text : "");
        free(text);
        fail_msg("a shim reported a sanitizer error");
    }
}

void th_ctrd_stop(struct th_ctrd *c)
{
    if (c->env.dir[0] == '\0')
        return;
    if (c->pid > 0) {
        remove_tasks(c, c->ns, false);
        if (c->cri)
            remove_tasks(c, "k8s.io", true);
    }
    stop_containerd(c);
    kill_shims(c);
    runtime_leftovers(c, c->ns, false);
    if (c->cri)
        runtime_leftovers(c, "k8s.io", true);
    unmount_under(c->env.dir);
    for (size_t i = 0; i < c->n_ids; i++) {
        char sock[PATH_MAX];
        char *cri_sock = tether_ctrd_socket_path(c->sock, "k8s.io", c->ids[i]);
        th_ctrd_shim_socket(c, c->ids[i], sock, sizeof(sock));
        unlink(sock);
        if (c->cri)
            unlink(cri_sock);
        free(cri_sock);
    }
    remove_fifos(c);
    if (getenv("TETHER_KEEP_LOGS") != NULL) {
        cleanup_free char *copy = xasprintf("/tmp/tether-ctrd-%s.log", c->ns);
        rename(c->log, copy);
    }
    check_sanitizer_reports(c);
    for (size_t i = 0; i < c->n_ids; i++)
        free(c->ids[i]);
    c->n_ids = 0;
    th_env_cleanup(&c->env);
}

/* ---- ttrpc ---- */

int th_ttrpc_connect(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        fail_msg("socket: %s", strerror(errno));
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        fail_msg("connect %s: %s", path, strerror(errno));
    return fd;
}

void th_ttrpc_send(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

void th_ttrpc_request(int fd, uint32_t stream_id, const char *service, const char *method,
                      const void *payload, size_t len)
{
    struct tether_ttrpc_call call = {
        .service = service, .method = method, .payload = payload, .payload_len = len};
    struct tether_error err = {0};
    size_t frame_len;
    uint8_t *frame = tether_ttrpc_request_encode(stream_id, &call, &frame_len, &err);

    if (frame == NULL)
        fail_msg("encode: %s", err.msg);
    th_ttrpc_send(fd, frame, frame_len);
    free(frame);
}

static void read_full(int fd, void *buf, size_t len, int64_t deadline)
{
    char *p = buf;

    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;
        int left = (int)(deadline - now_ms());
        if (left <= 0 || poll(&pfd, 1, left) <= 0)
            fail_msg("no ttrpc response in time");
        n = read(fd, p, len);
        if (n <= 0)
            fail_msg("ttrpc connection closed: %s", n < 0 ? strerror(errno) : "EOF");
        p += n;
        len -= (size_t)n;
    }
}

int th_ttrpc_response(int fd, uint32_t stream_id, uint8_t **payload, size_t *len, char **message)
{
    int64_t deadline = now_ms() + 30000;

    for (;;) {
        uint8_t hdr[TETHER_TTRPC_HEADER_LEN];
        struct tether_ttrpc_header h;
        struct tether_error err = {0};
        cleanup_free uint8_t *body = NULL;
        Ttrpc__Response *resp;
        int code;

        read_full(fd, hdr, sizeof(hdr), deadline);
        tether_ttrpc_header_decode(hdr, &h);
        if (h.length > TETHER_TTRPC_MAX_PAYLOAD)
            fail_msg("response of %u bytes", h.length);
        body = xmalloc(h.length + 1);
        read_full(fd, body, h.length, deadline);
        if (h.stream_id != stream_id || h.type != TETHER_TTRPC_TYPE_RESPONSE)
            continue;
        resp = tether_ttrpc_response_decode(body, h.length, &err);
        if (resp == NULL)
            fail_msg("bad response: %s", err.msg);
        code = tether_ttrpc_response_code(resp);
        if (message != NULL)
            *message = xstrdup(tether_ttrpc_response_message(resp));
        if (payload != NULL) {
            *payload = xmalloc(resp->payload.len + 1);
            memcpy(*payload, resp->payload.data, resp->payload.len);
            *len = resp->payload.len;
        }
        tether_ttrpc_response_free(resp);
        return code;
    }
}

int th_ttrpc_task_call(int fd, uint32_t stream_id, const char *method, const void *payload,
                       size_t len, uint8_t **resp, size_t *resp_len, char **message)
{
    th_ttrpc_request(fd, stream_id, "containerd.task.v2.Task", method, payload, len);
    return th_ttrpc_response(fd, stream_id, resp, resp_len, message);
}
