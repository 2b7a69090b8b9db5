/* Shared helpers of the integration tests; see harness.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/runtime.h>
#include <tether/util.h>

#include "harness.h"

#define TH_OUTPUT_MAX (16u << 20) /* bound on what th_run captures */
#define TH_BIN_SLOTS  16

static const char *const th_runtimes[] = {"runc", "crun"};

/* dir/name into buf; a path that does not fit fails the test. */
static void join_path(char *buf, size_t len, const char *dir, const char *name)
{
    if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
        fail_msg("path %s/%s too long", dir, name);
}

void th_env_init(struct th_env *env)
{
    memset(env, 0, sizeof(*env));
    snprintf(env->dir, sizeof(env->dir), "/tmp/tether-it-XXXXXX");
    if (mkdtemp(env->dir) == NULL)
        fail_msg("mkdtemp %s: %s", env->dir, strerror(errno));
    join_path(env->runtime_root, sizeof(env->runtime_root), env->dir, "runtime-root");
    join_path(env->state_dir, sizeof(env->state_dir), env->dir, "state");
    if (mkdir(env->runtime_root, 0700) < 0 || mkdir(env->state_dir, 0700) < 0)
        fail_msg("mkdir in %s: %s", env->dir, strerror(errno));
}

/* Force-deletes whatever runtime_name still lists under root. */
static void delete_leftovers(const char *runtime_name, const char *root)
{
    struct tether_runtime rt;
    struct tether_error err = {0};
    cleanup_free char *ids = NULL;
    char *save = NULL;

    if (tether_runtime_init(&rt, runtime_name, root, &err) < 0)
        return;
    {
        const char *argv[] = {rt.path, "--root", root, "list", "-q", NULL};
        if (th_run(argv, &ids) != 0) {
            tether_runtime_fini(&rt);
            return;
        }
    }
    for (char *id = strtok_r(ids, "\n", &save); id != NULL; id = strtok_r(NULL, "\n", &save)) {
        struct tether_runtime_args args;

        if (!tether_id_valid(id))
            continue;
        tether_runtime_args_init(&args);
        args.id = id;
        args.force = true;
        if (tether_runtime_run(&rt, TETHER_RT_DELETE, &args, NULL, &err) < 0)
            fprintf(stderr, "harness: %s delete --force %s: %s\n", rt.name, id, err.msg);
    }
    tether_runtime_fini(&rt);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
        fprintf(stderr, "harness: remove %s: %s\n", path, strerror(errno));
    return 0;
}

void th_env_cleanup(struct th_env *env)
{
    size_t i;

    if (env->dir[0] == '\0')
        return;
    for (i = 0; i < TETHER_ARRAY_SIZE(th_runtimes); i++)
        delete_leftovers(th_runtimes[i], env->runtime_root);
    /* FTW_MOUNT: never descend into something a failed test left mounted. */
    nftw(env->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    env->dir[0] = '\0';
}

void th_make_bundle(const struct th_env *env, const char *name, const char *const argv[],
                    char *path, size_t len)
{
    const char *cmd[64];
    size_t n = 0, i;
    int status;

    join_path(path, len, env->dir, name);
    cmd[n++] = TETHER_SOURCE_DIR "/hack/mkbundle.sh";
    cmd[n++] = path;
    cmd[n++] = "--";
    for (i = 0; argv != NULL && argv[i] != NULL; i++) {
        if (n + 2 > TETHER_ARRAY_SIZE(cmd))
            fail_msg("too many bundle arguments");
        cmd[n++] = argv[i];
    }
    cmd[n] = NULL;
    status = th_run(cmd, NULL);
    if (status != 0)
        fail_msg("mkbundle.sh %s failed with status %d", path, status);
}

void th_bundle_edit(const char *bundle, void (*edit)(json_t *config, void *data), void *data)
{
    cleanup_free char *path = xasprintf("%s/config.json", bundle);
    json_error_t jerr;
    json_t *config = json_load_file(path, 0, &jerr);

    if (config == NULL)
        fail_msg("load %s: %s", path, jerr.text);
    edit(config, data);
    if (json_dump_file(config, path, JSON_INDENT(2)) < 0) {
        json_decref(config);
        fail_msg("write %s", path);
    }
    json_decref(config);
}

/* One crun create/start/delete of a `true` container under its own root; fills why with
 * crun's own error text when it fails. */
static bool crun_probe(const struct th_env *env, char *why, size_t len)
{
    static const char *const args_true[] = {"true", NULL};
    struct tether_runtime rt;
    struct tether_runtime_args args;
    struct tether_error err = {0};
    char bundle[PATH_MAX], root[PATH_MAX], pidfile[PATH_MAX], id[64];
    cleanup_free char *pidtext = NULL;
    bool ok;

    join_path(root, sizeof(root), env->dir, "crun-probe-root");
    join_path(pidfile, sizeof(pidfile), env->dir, "crun-probe.pid");
    if (tether_runtime_init(&rt, "crun", root, &err) < 0) {
        snprintf(why, len, "%s", err.msg);
        return false;
    }
    th_make_bundle(env, "crun-probe", args_true, bundle, sizeof(bundle));
    /* The id names the container's cgroups too: unique to this process. */
    snprintf(id, sizeof(id), "crun-probe-%d", (int)getpid());
    tether_runtime_args_init(&args);
    args.id = id;
    args.bundle = bundle;
    args.pid_file = pidfile;
    ok = tether_runtime_run(&rt, TETHER_RT_CREATE, &args, NULL, &err) == 0 &&
         tether_runtime_run(&rt, TETHER_RT_START, &args, NULL, &err) == 0;
    if (!ok)
        snprintf(why, len, "%s", err.msg);
    args.force = true;
    tether_runtime_run(&rt, TETHER_RT_DELETE, &args, NULL, &err);
    /* The container's init is ours to reap when this process is a subreaper. */
    if (tether_read_file(pidfile, 64, &pidtext, NULL, &err) == 0 && atoi(pidtext) > 0)
        waitpid(atoi(pidtext), NULL, WNOHANG);
    tether_runtime_fini(&rt);
    return ok;
}

bool th_crun_usable(const struct th_env *env, char *why, size_t len)
{
    static bool probed, usable;
    static char reason[TETHER_ERROR_MSG_MAX];

    if (!probed) {
        usable = crun_probe(env, reason, sizeof(reason));
        probed = true;
    }
    if (!usable && why != NULL && len > 0)
        snprintf(why, len, "%s", reason);
    return usable;
}

const char *th_bin(const char *name)
{
    static struct {
        char *name;
        char *path;
    } slots[TH_BIN_SLOTS];
    const char *dir = getenv("TETHER_BIN_DIR");
    size_t i;

    if (dir == NULL || *dir == '\0')
        dir = TETHER_BINARY_DIR "/bin";
    for (i = 0; i < TH_BIN_SLOTS && slots[i].name != NULL; i++)
        if (strcmp(slots[i].name, name) == 0)
            return slots[i].path;
    if (i == TH_BIN_SLOTS) {
        fail_msg("th_bin: more than %d binaries", TH_BIN_SLOTS);
        return "";
    }
    slots[i].name = xstrdup(name);
    slots[i].path = xasprintf("%s/%s", dir, name);
    return slots[i].path;
}

static void append_available(int fd, char **buf, size_t *len, size_t *cap)
{
    for (;;) {
        ssize_t n;
        if (*cap - *len < 4096) {
            if (*cap >= TH_OUTPUT_MAX)
                fail_msg("th_run: output over %u bytes", TH_OUTPUT_MAX);
            *cap = *cap ? *cap * 2 : 8192;
            *buf = xrealloc(*buf, *cap);
        }
        n = read(fd, *buf + *len, *cap - *len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        *len += (size_t)n;
    }
}

static int status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

int th_run(const char *const argv[], char **out)
{
    int pipefd[2] = {-1, -1};
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int status;
    pid_t pid;

    if (out != NULL && pipe2(pipefd, O_CLOEXEC) < 0)
        fail_msg("pipe2: %s", strerror(errno));
    pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        sigset_t none;

        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the test may block signals it takes */
        if (devnull >= 0)
            dup2(devnull, STDIN_FILENO);
        if (out != NULL)
            dup2(pipefd[1], STDOUT_FILENO);
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "th_run: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (out == NULL) {
        while (waitpid(pid, &status, 0) < 0)
            if (errno != EINTR)
                fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
        return status_code(status);
    }
    close(pipefd[1]);
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    /* Read until the child exits, not until EOF: a daemon it started may hold the pipe. */
    for (;;) {
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        pid_t r;

        poll(&pfd, 1, 20);
        append_available(pipefd[0], &buf, &len, &cap);
        r = waitpid(pid, &status, WNOHANG);
        if (r < 0 && errno != EINTR)
            fail_msg("waitpid %d: %s", (int)pid, strerror(errno));
        if (r == pid)
            break;
    }
    append_available(pipefd[0], &buf, &len, &cap);
    close(pipefd[0]);
    if (buf == NULL)
        buf = xzalloc(1);
    buf[len] = '\0';
    *out = buf;
    return status_code(status);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool th_wait_until(bool (*fn)(void *data), void *data, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};

    for (;;) {
        if (fn(data))
            return true;
        if (now_ms() >= deadline)
            return false;
        nanosleep(&tick, NULL);
    }
}

int th_count_zombie_children(pid_t pid)
{
    DIR *proc = opendir("/proc");
    struct dirent *de;
    int count = 0;

    if (proc == NULL)
        fail_msg("opendir /proc: %s", strerror(errno));
    while ((de = readdir(proc)) != NULL) {
        char path[64], buf[512];
        const char *close_paren;
        char state;
        int ppid;
        ssize_t n;
        int fd;

        if (de->d_name[0] < '1' || de->d_name[0] > '9')
            continue;
        if ((size_t)snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name) >= sizeof(path))
            continue;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue; /* gone meanwhile */
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        /* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
        close_paren = strrchr(buf, ')');
        if (close_paren == NULL || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
            continue;
        if (state == 'Z' && ppid == pid)
            count++;
    }
    closedir(proc);
    return count;
}

int th_count_fds(pid_t pid)
{
    char path[64];
    DIR *d;
    struct dirent *de;
    int count = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    d = opendir(path);
    if (d == NULL)
        return -1;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (pid == getpid() && atoi(de->d_name) == dirfd(d))
            continue; /* the fd of this very listing */
        count++;
    }
    closedir(d);
    return count;
}
