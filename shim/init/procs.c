/* The other processes: reaping whatever has become our child, and signalling whatever is
 * left once CMD has exited.
 *
 * Which processes are "left": as PID 1 of a PID namespace every other process of the
 * namespace, and kill(-1, sig) reaches exactly those (kill(2): all processes but the
 * caller). As a subreaper (PR_SET_CHILD_SUBREAPER, prctl(2)) it is every descendant:
 * processes orphaned below us are re-parented to us, so the living descendants are the
 * processes whose chain of parents in /proc leads to us, and "none left" is the same as
 * waitpid() failing with ECHILD. Neither process groups (a descendant may setsid()) nor
 * our direct children (grandchildren survive their parents) cover them all.
 *
 * A pid read from /proc may be reused by an unrelated process before we signal it; a
 * pidfd (pidfd_open(2)) pins the process, and its ancestry is checked again once the
 * pidfd is open, before pidfd_send_signal(2): if the pid was reused before the pidfd_open,
 * the check sees the newcomer; if after, the pinned process is dead and the send fails. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

static void note_exit(struct init *in, pid_t pid, int status)
{
    if (pid != in->child || in->child_reaped) {
        init_log(in, 2, "reaped process %d", (int)pid);
        return;
    }
    in->child_reaped = true;
    in->child_status = status;
    if (WIFSIGNALED(status))
        init_log(in, 1, "child %d killed by signal %d", (int)pid, WTERMSIG(status));
    else
        init_log(in, 1, "child %d exited with code %d", (int)pid, WEXITSTATUS(status));
}

/* __WALL: a child cloned with an exit signal other than SIGCHLD is reaped all the same. */
bool init_procs_reap(struct init *in)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);

        if (pid > 0)
            note_exit(in, pid, status);
        else if (pid == 0)
            return true;
        else if (errno != EINTR)
            return false;
    }
}

bool init_procs_wait_one(struct init *in)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, __WALL);

        if (pid > 0) {
            note_exit(in, pid, status);
            return true;
        }
        if (errno != EINTR)
            return false;
    }
}

/* A pid as /proc names it; -1 for anything else ("self", "sys", ...). */
static pid_t parse_pid(const char *s)
{
    long v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > INIT_PID_MAX)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v > 0 && v <= INIT_PID_MAX ? (pid_t)v : -1;
}

/* The parent of pid from /proc/<pid>/stat: the field after the state, after the last ')'
 * (the command name in parentheses may itself hold ')' and spaces). */
static bool stat_ppid(pid_t pid, pid_t *ppid)
{
    char path[32], buf[512], *p, *end;
    ssize_t n;
    int fd;

    init_format(path, sizeof path, "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (!p || strlen(p) < 5)
        return false;
    end = strchr(p + 4, ' ');
    if (end)
        *end = '\0';
    *ppid = parse_pid(p + 4);
    if (*ppid < 0)
        *ppid = 0;
    return true;
}

/* Whether self is among pid's ancestors, following the parent links in /proc. The walk
 * is bounded: a chain deeper than that is caught once its upper part has been killed and
 * the rest re-parented to us. */
static bool descends(pid_t pid, pid_t self)
{
    for (int depth = 0; depth < INIT_ANCESTRY_MAX; depth++) {
        pid_t ppid;

        if (!stat_ppid(pid, &ppid))
            return false;
        if (ppid == self)
            return true;
        if (ppid <= 1)
            return false;
        pid = ppid;
    }
    return false;
}

static void signal_descendant(pid_t self, pid_t pid, int sig)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    if (fd < 0) {
        if (errno == ENOSYS)
            kill(pid, sig);
        return;
    }
    if (descends(pid, self))
        syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
    close(fd);
}

/* linux_dirent64 of getdents64(2), read straight into a stack buffer: opendir() would
 * bring malloc into the binary for this one loop. */
struct dirent64_raw {
    uint64_t ino;
    int64_t off;
    unsigned short reclen;
    unsigned char type;
    char name[];
};

void init_procs_signal(const struct init *in, int sig)
{
    char buf[4096] __attribute__((aligned(8)));
    long n;
    int fd;

    if (in->pid1) {
        kill(-1, sig);
        return;
    }
    fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        init_log(in, 0, "cannot list /proc: %s", strerror(errno));
        return;
    }
    while ((n = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < n;) {
            const struct dirent64_raw *de = (const struct dirent64_raw *)(buf + off);
            pid_t pid = parse_pid(de->name);

            if (pid > 0 && pid != in->self && descends(pid, in->self))
                signal_descendant(in->self, pid, sig);
            off += de->reclen;
        }
    }
    close(fd);
}
