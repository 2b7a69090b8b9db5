/* tether-conmon: the command line, the launcher and its detaching, the start pipe, and the
 * exit command. Only this file prints to the caller and decides the exit status.
 *
 * The caller (podman) starts this program with its sync, start (and, for an exec, attach)
 * pipes, waits for it to exit 0, then reads the sync pipe. So: the command line is checked
 * here (a usage error is told on stderr with status 1, before anything is made), the start
 * pipe is read (podman writes its byte once it moved this process into a cgroup, so the
 * monitor forked next starts out in it), then the monitor is forked into its own session
 * and this process exits at once, its pid in --conmon-pidfile. The monitor points its stdio
 * at /dev/null (podman waits for the end of the stderr pipe it gives with -t) and runs until
 * the process's end is written down; then it runs --exit-command, waits for it, and exits
 * with its status when it failed, else with the process's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether/core.h>
#include <tether/runtime.h>
#include <tether/util.h>

#include "monitor.h"
#include "options.h"

#define EXIT_USAGE 1
/* The monitor's own messages, for debugging: a file it appends to (the caller gives it no
 * stderr to write to). */
#define LOG_ENV "TETHER_CONMON_LOG"

static void die(const char *what, const struct tether_error *err)
{
    fprintf(stderr, "tether-conmon: %s%s%s\n", what != NULL ? what : "", what != NULL ? ": " : "",
            err->msg);
}

/* _OCI_SYNCPIPE and friends: an fd number the caller left open for us (*fd stays -1 when
 * the variable is not set). The variable is removed and the fd made close-on-exec, so that
 * neither the runtime nor the exit command inherits them. */
static int env_fd(const char *name, int *fd, struct tether_error *err)
{
    const char *v = getenv(name);
    char *end;
    long n;

    *fd = -1;
    if (v == NULL || *v == '\0')
        return 0;
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < 3 || n > INT_MAX || fcntl((int)n, F_GETFD) < 0)
        return tether_error_set(err, 0, "%s=%s is not an open file descriptor", name, v);
    fcntl((int)n, F_SETFD, FD_CLOEXEC);
    unsetenv(name);
    *fd = (int)n;
    return 0;
}

static int check_dir(const char *what, const char *path, struct tether_error *err)
{
    struct stat st;

    if (stat(path, &st) < 0)
        return tether_error_set(err, errno, "%s %s", what, path);
    if (!S_ISDIR(st.st_mode))
        return tether_error_set(err, ENOTDIR, "%s %s", what, path);
    return 0;
}

/* What can be checked before anything is made, so that a wrong command line fails here,
 * with a clear message and nothing left behind. noinline: its buffers must not stay in
 * main()'s frame, resident under the monitor's loop for its whole life. */
static __attribute__((noinline)) int preflight(struct tether_conmon_opts *o,
                                               struct tether_error *err)
{
    struct tether_runtime rt;
    char cwd[PATH_MAX];

    if (o->bundle == NULL) {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return tether_error_set(err, errno, "getcwd");
        o->bundle = xstrdup(cwd);
    }
    if (check_dir("bundle", o->bundle, err) < 0 ||
        (o->exit_dir != NULL && check_dir("exit directory", o->exit_dir, err) < 0))
        return -1;
    if (o->exec && access(o->exec_process_spec, R_OK) < 0)
        return tether_error_set(err, errno, "exec process spec %s", o->exec_process_spec);
    if (!o->exec) {
        cleanup_free char *config = xasprintf("%s/config.json", o->bundle);
        if (access(config, R_OK) < 0)
            return tether_error_set(err, errno, "bundle %s has no config.json", o->bundle);
    }
    if (tether_runtime_init(&rt, o->runtime, NULL, err) < 0)
        return -1;
    tether_runtime_fini(&rt);
    if (!tether_id_valid(o->cid) || (o->exec && !tether_id_valid(o->cuuid)))
        return tether_error_set(err, 0, "invalid %s: must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
                                tether_id_valid(o->cid) ? "--cuuid" : "--cid");
    return 0;
}

static int write_pid_file(const char *path, pid_t pid, struct tether_error *err)
{
    char text[16];

    if (path == NULL)
        return 0;
    snprintf(text, sizeof(text), "%d", (int)pid);
    return tether_write_file_atomic(path, text, strlen(text), 0644, err);
}

/* The caller's go: one byte, or the end of the pipe. */
static void wait_start_byte(int fd)
{
    char byte;

    if (fd < 0)
        return;
    while (read(fd, &byte, 1) < 0 && errno == EINTR)
        ;
}

/* Our own messages: --syslog sends each line as a datagram to /dev/log; TETHER_CONMON_LOG
 * names a file; else they are dropped (stderr is /dev/null by then). */
static int open_log(const struct tether_conmon_opts *o)
{
    const char *path = getenv(LOG_ENV);
    struct sockaddr_un addr = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
    int fd;

    if (path != NULL && *path == '/')
        return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (!o->syslog)
        return -1;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* The caller's stdio becomes /dev/null (its pipes must see their end); with passthrough the
 * process keeps copies of it. */
static int redirect_stdio(struct tether_conmon *m, struct tether_error *err)
{
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (null < 0)
        return tether_error_set(err, errno, "open /dev/null");
    for (int i = 0; i < 3; i++) {
        if (m->opts->log_passthrough)
            m->stdio_fds[i] = fcntl(i, F_DUPFD_CLOEXEC, 3);
        if (dup2(null, i) < 0) {
            close(null);
            return tether_error_set(err, errno, "dup2 /dev/null");
        }
    }
    close(null);
    return 0;
}

static bool is_own_fd(const struct tether_conmon *m, int fd)
{
    return fd == m->sync_fd || fd == m->start_fd || fd == m->attach_pipe_fd ||
           fd == m->stdio_fds[0] || fd == m->stdio_fds[1] || fd == m->stdio_fds[2] ||
           fd == m->log.fd;
}

/* Every other fd the caller gave (podman's reserved ports, slirp4netns's sync pipe, strays)
 * is held until the exit file is written, and kept from the runtime and the exit command. */
static void hold_extra_fds(struct tether_conmon *m)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    size_t cap = 0;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);

        if (*end != '\0' || fd < 3 || fd == dirfd(d) || is_own_fd(m, (int)fd))
            continue;
        if (m->n_extra_fds == cap) {
            cap = cap ? cap * 2 : 8;
            m->extra_fds = xrealloc(m->extra_fds, cap * sizeof(*m->extra_fds));
        }
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
        m->extra_fds[m->n_extra_fds++] = (int)fd;
    }
    closedir(d);
}

/* The exit command, as conmon runs it: not a subreaper any more (a monitor the command
 * starts, for a restart, must not end up as our child), its own clean signal state, stdio
 * on /dev/null, no other fd, after --exit-delay. Waited for: podman's run and wait return
 * once it set the container's state. Returns its exit status. */
static int run_exit_command(const struct tether_conmon_opts *o)
{
    size_t n = 0;
    cleanup_free char **argv = NULL;
    int status;
    pid_t pid;

    while (o->exit_command_args != NULL && o->exit_command_args[n] != NULL)
        n++;
    argv = xzalloc((n + 2) * sizeof(*argv));
    argv[0] = o->exit_command;
    if (n > 0)
        memcpy(argv + 1, o->exit_command_args, n * sizeof(*argv));
    prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        struct sigaction dfl = {.sa_handler = SIG_DFL};
        sigset_t none;
        int null = open("/dev/null", O_RDWR);

        for (int sig = 1; sig < NSIG; sig++)
            sigaction(sig, &dfl, NULL);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        close_range(3, ~0u, 0);
        if (o->exit_delay_s > 0)
            sleep(o->exit_delay_s);
        execv(argv[0], argv);
        _exit(127);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

/* The monitor, in the detached process (or this one with --sync). */
static int monitor_main(struct tether_conmon *m, const struct tether_conmon_opts *o)
{
    struct tether_error err = {0};
    int rc, status;

    if (redirect_stdio(m, &err) < 0) {
        tether_error_prefix(&err, "tether-conmon");
        if (m->sync_fd >= 0)
            dprintf(m->sync_fd, "{\"data\":-1,\"message\":\"cannot redirect stdio\"}\n");
        return 1;
    }
    m->log.fd = open_log(o);
    hold_extra_fds(m);
    rc = tether_conmon_run(m, &err);
    if (rc < 0)
        log_error(&m->log, "%s", err.msg);
    status = m->exit_code;
    if (!m->started) {
        /* Nothing ran: no exit file, no exit command, and no pid file of ours. */
        if (o->conmon_pidfile != NULL)
            unlink(o->conmon_pidfile);
        status = 1;
    }
    tether_conmon_fini(m);
    if (m->started && o->exit_command != NULL) {
        int cmd = run_exit_command(o);
        if (cmd != 0) {
            log_warn(&m->log, "exit command %s exited with %d", o->exit_command, cmd);
            status = cmd;
        }
    }
    if (m->log.fd >= 0)
        close(m->log.fd);
    return status & 0xff;
}

/* Forks the monitor into a session of its own: returns 0 in the monitor; the caller's
 * process writes the pid file and leaves. */
static int detach(const struct tether_conmon_opts *o)
{
    struct tether_error err = {0};
    pid_t pid = fork();

    if (pid < 0) {
        tether_error_set(&err, errno, "fork");
        die(NULL, &err);
        return -1;
    }
    if (pid > 0) {
        if (write_pid_file(o->conmon_pidfile, pid, &err) < 0) {
            die("--conmon-pidfile", &err);
            kill(pid, SIGKILL);
            _exit(1);
        }
        /* Not exit(): the monitor owns everything parsed, nothing is to be freed here. */
        _exit(0);
    }
    setsid();
    return 0;
}

int main(int argc, char **argv)
{
    static struct tether_conmon_opts opts;
    static struct tether_conmon m;
    struct tether_error err = {0};
    int status;

    tether_core_take_signals();

    if (tether_conmon_opts_parse(argc, argv, &opts, &err) < 0) {
        die(NULL, &err);
        tether_conmon_opts_free(&opts);
        return EXIT_USAGE;
    }
    if (opts.help || opts.version) {
        if (opts.help)
            tether_conmon_usage(stdout);
        else
            printf("conmon version %s\ntether-conmon %s: conmon's interface on tether's core\n",
                   TETHER_CONMON_COMPAT_VERSION, TETHER_VERSION);
        tether_conmon_opts_free(&opts);
        return 0;
    }
    tether_conmon_init(&m, &opts);
    if (tether_conmon_opts_check(&opts, &err) < 0 || preflight(&opts, &err) < 0 ||
        env_fd("_OCI_SYNCPIPE", &m.sync_fd, &err) < 0 ||
        env_fd("_OCI_STARTPIPE", &m.start_fd, &err) < 0 ||
        env_fd("_OCI_ATTACHPIPE", &m.attach_pipe_fd, &err) < 0) {
        die(NULL, &err);
        tether_conmon_fini(&m);
        tether_conmon_opts_free(&opts);
        return EXIT_USAGE;
    }
    wait_start_byte(m.start_fd);
    if (opts.sync) {
        if (write_pid_file(opts.conmon_pidfile, getpid(), &err) < 0)
            die("--conmon-pidfile", &err);
    } else if (detach(&opts) < 0) {
        tether_conmon_fini(&m);
        tether_conmon_opts_free(&opts);
        return 1;
    }
    status = monitor_main(&m, &opts);
    tether_conmon_opts_free(&opts);
    return status;
}
