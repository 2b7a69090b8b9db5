/* tether-shim: command line, detaching, and the exit code. Everything else lives in the
 * modules; only this file prints to the caller and exits. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include <tether/core.h>
#include <tether/paths.h>
#include <tether/util.h>

#include "shim.h"

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fputs("usage: tether-shim --id ID --bundle DIR [--state-dir DIR] [--runtime NAME|PATH]\n"
          "                   [--runtime-root DIR] [--socket PATH] [--foreground]\n"
          "                   [--log-level error|warn|info|debug] [--max-message BYTES]\n"
          "                   [--kill-on-exit] [--allow-uid UID]... [--runtime-timeout SECONDS]\n"
          "                   [--init-path PATH]\n"
          "       tether-shim --help | --version\n"
          "\n"
          "The shim of one OCI container: it detaches, prints {\"id\",\"pid\",\"socket\"} once\n"
          "it listens, and serves JSON-RPC on the socket (see tether-shim(8)).\n",
          out);
}

/* Paths and names end up in JSON (state, events, the launcher's line): they must be
 * valid UTF-8 without control characters. */
static bool has_control(const char *s)
{
    json_t *as_json = json_string(s);

    if (as_json == NULL)
        return true; /* not UTF-8 */
    json_decref(as_json);
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* noinline: its buffers must not stay in main()'s frame for the shim's whole life. */
static __attribute__((noinline)) int
parse_args(int argc, char **argv, struct tether_shim_config *cfg, struct tether_error *err)
{
    enum {
        OPT_STATE_DIR = 256,
        OPT_RUNTIME_ROOT,
        OPT_LOG_LEVEL,
        OPT_MAX_MESSAGE,
        OPT_KILL_ON_EXIT,
        OPT_ALLOW_UID,
        OPT_RUNTIME_TIMEOUT,
        OPT_INIT_PATH,
    };
    static const struct option opts[] = {
        {"id", required_argument, NULL, 'i'},
        {"bundle", required_argument, NULL, 'b'},
        {"state-dir", required_argument, NULL, OPT_STATE_DIR},
        {"runtime", required_argument, NULL, 'r'},
        {"runtime-root", required_argument, NULL, OPT_RUNTIME_ROOT},
        {"socket", required_argument, NULL, 's'},
        {"foreground", no_argument, NULL, 'f'},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"max-message", required_argument, NULL, OPT_MAX_MESSAGE},
        {"kill-on-exit", no_argument, NULL, OPT_KILL_ON_EXIT},
        {"allow-uid", required_argument, NULL, OPT_ALLOW_UID},
        {"runtime-timeout", required_argument, NULL, OPT_RUNTIME_TIMEOUT},
        {"init-path", required_argument, NULL, OPT_INIT_PATH},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *bundle = NULL, *state_dir = "/run/tether";
    char real[PATH_MAX];
    char q[512];
    char *end;
    int c, level;
    unsigned long n;

    cfg->log_level = TETHER_LOG_INFO;
    opterr = 0; /* one line of our own instead of getopt's message */
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            cfg->id = optarg;
            break;
        case 'b':
            bundle = optarg;
            break;
        case OPT_STATE_DIR:
            state_dir = optarg;
            break;
        case 'r':
            cfg->runtime = optarg;
            break;
        case OPT_RUNTIME_ROOT:
            cfg->runtime_root = optarg;
            break;
        case 's':
            cfg->socket_path = optarg;
            break;
        case 'f':
            cfg->foreground = true;
            break;
        case OPT_LOG_LEVEL:
            level = tether_log_level_parse(optarg);
            if (level < 0)
                return tether_error_set(err, 0, "invalid --log-level %s",
                                        tether_quote(optarg, q, sizeof(q)));
            cfg->log_level = (enum tether_log_level)level;
            break;
        case OPT_MAX_MESSAGE:
            errno = 0;
            n = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || n < 1024 || n > (64ul << 20))
                return tether_error_set(err, 0, "invalid --max-message %s (1024..67108864)",
                                        tether_quote(optarg, q, sizeof(q)));
            cfg->max_message = n;
            break;
        case OPT_KILL_ON_EXIT:
            cfg->kill_on_exit = true;
            break;
        case OPT_ALLOW_UID:
            errno = 0;
            n = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || n > UINT32_MAX - 1)
                return tether_error_set(err, 0, "invalid --allow-uid %s",
                                        tether_quote(optarg, q, sizeof(q)));
            if (cfg->n_allow_uids == TETHER_ALLOW_UIDS_MAX)
                return tether_error_set(err, 0, "at most %d --allow-uid", TETHER_ALLOW_UIDS_MAX);
            cfg->allow_uids[cfg->n_allow_uids++] = (uid_t)n;
            break;
        case OPT_RUNTIME_TIMEOUT:
            errno = 0;
            n = strtoul(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || n > 3600)
                return tether_error_set(err, 0, "invalid --runtime-timeout %s (0..3600 seconds)",
                                        tether_quote(optarg, q, sizeof(q)));
            cfg->runtime_timeout_ms = (unsigned)n * 1000;
            break;
        case OPT_INIT_PATH:
            cfg->init_path = optarg;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("tether-shim %s\n", TETHER_VERSION);
            exit(0);
        case ':':
            return tether_error_set(err, 0, "option %s needs a value (see --help)",
                                    tether_quote(argv[optind - 1], q, sizeof(q)));
        default:
            return tether_error_set(err, 0, "unknown option %s (see --help)",
                                    tether_quote(argv[optind - 1], q, sizeof(q)));
        }
    }
    /* Messages quote what the caller gave: the reason stays on one line whatever it holds. */
    if (optind < argc)
        return tether_error_set(err, 0, "unexpected argument: %s",
                                tether_quote(argv[optind], q, sizeof(q)));
    if (cfg->id == NULL || bundle == NULL)
        return tether_error_set(err, 0, "--id and --bundle are required");
    if (!tether_id_valid(cfg->id))
        return tether_error_set(err, 0,
                                "invalid id \"%s\": must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
                                tether_quote(cfg->id, q, sizeof(q)));
    if (realpath(bundle, real) == NULL)
        return tether_error_set(err, errno, "bundle %s", tether_quote(bundle, q, sizeof(q)));
    if (has_control(real))
        return tether_error_set(err, 0, "paths and names must be UTF-8 without control characters");
    cfg->bundle = xstrdup(real);
    {
        cleanup_free char *config = xasprintf("%s/config.json", cfg->bundle);
        if (access(config, R_OK) < 0)
            return tether_error_set(err, errno, "bundle %s has no readable config.json",
                                    tether_quote(cfg->bundle, q, sizeof(q)));
    }
    if (cfg->init_path == NULL) {
        /* Installed: LIBEXECDIR/tether/tether-init; in the build tree: beside the shim. */
        cleanup_free char *self = tether_paths_self_dir();
        if (self != NULL)
            cfg->init_path = tether_paths_helper(self, "tether-init");
    }
    if (has_control(state_dir) || (cfg->socket_path != NULL && has_control(cfg->socket_path)) ||
        (cfg->runtime != NULL && has_control(cfg->runtime)) ||
        (cfg->runtime_root != NULL && has_control(cfg->runtime_root)))
        return tether_error_set(err, 0, "paths and names must be UTF-8 without control characters");
    if (state_dir[0] != '/')
        return tether_error_set(err, 0, "--state-dir must be an absolute path");
    cfg->state_dir = xstrdup(state_dir);
    cfg->dir = xasprintf("%s/%s", cfg->state_dir, cfg->id);
    cfg->socket_path =
        cfg->socket_path != NULL ? xstrdup(cfg->socket_path) : xasprintf("%s/shim.sock", cfg->dir);
    if (cfg->socket_path[0] != '/')
        return tether_error_set(err, 0, "--socket must be an absolute path");
    return 0;
}

static int mkdir_p(const char *path, mode_t mode, struct tether_error *err)
{
    cleanup_free char *copy = xstrdup(path);
    char q[512];
    char *p;

    for (p = copy + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST)
            return tether_error_set(err, errno, "mkdir %s", tether_quote(copy, q, sizeof(q)));
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return tether_error_set(err, errno, "mkdir %s", tether_quote(copy, q, sizeof(q)));
    return 0;
}

/* Creates <state>/<id>/ (0700) and takes the shim's lock on it: the lock is held for the
 * shim's whole life (the fd is inherited by the daemon), so "is a shim alive for this ID"
 * has an answer without races. */
static __attribute__((noinline)) int claim_dir(const struct tether_shim_config *cfg, bool *created,
                                               int *lock_fd, struct tether_error *err)
{
    cleanup_free char *lock_path = xasprintf("%s/shim.lock", cfg->dir);
    cleanup_close int fd = -1;
    struct stat st;

    if (mkdir_p(cfg->state_dir, 0711, err) < 0)
        return -1;
    *created = mkdir(cfg->dir, 0700) == 0;
    if (!*created && errno != EEXIST)
        return tether_error_set(err, errno, "mkdir %s", cfg->dir);
    if (lstat(cfg->dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return tether_error_set(err, 0, "%s is not a directory", cfg->dir);
    if (chmod(cfg->dir, 0700) < 0)
        return tether_error_set(err, errno, "chmod %s", cfg->dir);
    fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0)
        return tether_error_set(err, errno, "open %s", lock_path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return tether_error_setk(err, TETHER_ERR_EXISTS, 0,
                                     "container %s already exists: its shim is alive", cfg->id);
        return tether_error_set(err, errno, "lock %s", lock_path);
    }
    *lock_fd = steal_fd(fd);
    return 0;
}

static void remove_state(const struct tether_shim_config *cfg, bool remove_dir)
{
    static const char *const files[] = {"shim.pid", "shim.sock", "shim.lock", "shim.log",
                                        "init.pid"};
    size_t i;

    if (!remove_dir) {
        cleanup_free char *pid = xasprintf("%s/shim.pid", cfg->dir);
        unlink(pid);
        return;
    }
    for (i = 0; i < TETHER_ARRAY_SIZE(files); i++) {
        cleanup_free char *p = xasprintf("%s/%s", cfg->dir, files[i]);
        unlink(p);
    }
    rmdir(cfg->dir);
}

static int write_pid_file(const struct tether_shim_config *cfg, pid_t pid, struct tether_error *err)
{
    cleanup_free char *path = xasprintf("%s/shim.pid", cfg->dir);
    char text[32];
    int n = snprintf(text, sizeof(text), "%d\n", (int)pid);

    return tether_write_file_atomic(path, text, (size_t)n, 0644, err);
}

static void print_ready(const struct tether_shim_config *cfg, pid_t pid)
{
    json_t *obj =
        json_pack("{s:s,s:i,s:s}", "id", cfg->id, "pid", (int)pid, "socket", cfg->socket_path);
    char *text = json_dumps(obj, JSON_COMPACT);

    printf("%s\n", text);
    fflush(stdout);
    free(text);
    json_decref(obj);
}

/* --foreground: set up, say so, serve. */
static int serve(struct tether_shim *shim, struct tether_error *err)
{
    if (tether_shim_init(shim, err) < 0 || write_pid_file(&shim->cfg, getpid(), err) < 0)
        return -1;
    print_ready(&shim->cfg, getpid());
    return tether_shim_run(shim, err);
}

static int open_log(const struct tether_shim_config *cfg, struct tether_error *err)
{
    cleanup_free char *log_path = xasprintf("%s/shim.log", cfg->dir);
    int fd =
        open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);

    if (fd < 0)
        return tether_error_set(err, errno, "open %s", log_path);
    return fd;
}

/* The daemon: forked off by the launcher with everything set up (rc < 0: it cannot serve),
 * leader of a session of its own with no controlling terminal. A session leader would
 * acquire a terminal it opens without O_NOCTTY: every path the shim opens that could name
 * one (logs, FIFOs, files of the state directory) is opened with O_NOCTTY, and a container's
 * terminal only ever reaches it as a received fd. */
static void __attribute__((noreturn))
daemon_main(struct tether_shim *shim, int rc, struct tether_error *err)
{
    if (rc == 0)
        rc = tether_shim_run(shim, err);
    if (rc < 0)
        log_error(&shim->log, "%s", err->msg);
    tether_shim_fini(shim);
    remove_state(&shim->cfg, false);
    _exit(rc < 0 ? 1 : 0);
}

/* The launcher: sets the daemon up in full, forks it off and reports it; every failure to
 * start is reported here, on the caller's stderr. Returns only on failure. */
static int launch(struct tether_shim *shim, bool created)
{
    struct tether_error err = {0};
    pid_t pid = -1;
    int rc;

    /* The shim's log is its file from the start; failures reach the caller through err. */
    shim->log.fd = open_log(&shim->cfg, &err);
    if (shim->log.fd < 0 || tether_shim_init(shim, &err) < 0)
        goto fail;
    rc = tether_core_detach(shim->core, &pid, &err);
    if (pid == 0)
        daemon_main(shim, rc, &err);
    if (rc < 0 || write_pid_file(&shim->cfg, pid, &err) < 0)
        goto fail;
    print_ready(&shim->cfg, pid);
    /* The daemon owns the socket, the state and the loop now: the launcher leaves without
     * releasing what it set up for it. */
    _exit(0);
fail:
    fprintf(stderr, "tether-shim: %s\n", err.msg);
    if (pid > 0) {
        /* The daemon runs but cannot be reported: it goes, before its state does. */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    tether_shim_fini(shim);
    remove_state(&shim->cfg, created);
    return 1;
}

int main(int argc, char **argv)
{
    static struct tether_shim shim;
    struct tether_error err = {0};
    bool created = false;
    int lock_fd = -1, rc;

    tether_core_take_signals();

    shim.log.fd = STDERR_FILENO;
    shim.log.level = TETHER_LOG_INFO;
    if (parse_args(argc, argv, &shim.cfg, &err) < 0) {
        fprintf(stderr, "tether-shim: %s\n", err.msg);
        return EXIT_USAGE;
    }
    shim.log.level = shim.cfg.log_level;
    if (claim_dir(&shim.cfg, &created, &lock_fd, &err) < 0) {
        fprintf(stderr, "tether-shim: %s\n", err.msg);
        return 1;
    }
    if (!shim.cfg.foreground)
        return launch(&shim, created);
    rc = serve(&shim, &err);
    if (rc < 0)
        fprintf(stderr, "tether-shim: %s\n", err.msg);
    tether_shim_fini(&shim);
    remove_state(&shim.cfg, rc < 0 && created);
    return rc < 0 ? 1 : 0;
}
