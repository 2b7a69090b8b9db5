/* Starting CMD. The child gets its own process group (and the terminal's foreground when
 * there is one), the caller's signal mask and SIGCHLD disposition back, then execs. An
 * exec failure travels back as the errno through a CLOEXEC pipe: end of file means the
 * exec succeeded. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "init.h"

int init_exec_exit_code(int errnum)
{
    return errnum == ENOENT || errnum == ENOTDIR ? INIT_EXIT_NOT_FOUND : INIT_EXIT_CANNOT_EXEC;
}

/* Takes the terminal's foreground for the new group. Every signal is still blocked here,
 * so tcsetpgrp(3) from what is now a background group is not stopped by SIGTTOU
 * (tty_check_change treats a blocked SIGTTOU like an ignored one). */
static void take_terminal(void)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd < 0)
        return;
    tcsetpgrp(fd, getpgrp());
    close(fd);
}

static void __attribute__((noreturn)) child_exec(const struct init *in, int errfd)
{
    int errnum;

    setpgid(0, 0);
    take_terminal();
    if (in->chld_ignored)
        signal(SIGCHLD, SIG_IGN);
    init_sig_setmask(&in->orig_mask, NULL);
    execvp(in->opt->argv[0], in->opt->argv);
    errnum = errno;
    while (write(errfd, &errnum, sizeof errnum) < 0 && errno == EINTR)
        ;
    _exit(init_exec_exit_code(errnum));
}

static int read_exec_errno(int fd)
{
    int errnum;
    ssize_t n;

    do
        n = read(fd, &errnum, sizeof errnum);
    while (n < 0 && errno == EINTR);
    return n == sizeof errnum ? errnum : 0;
}

enum init_spawn_result init_child_spawn(struct init *in, struct init_error *err)
{
    int fds[2], errnum, status;
    pid_t pid;

    if (pipe2(fds, O_CLOEXEC) < 0) {
        init_error_set(err, errno, "pipe");
        return INIT_SPAWN_FAILED;
    }
    pid = fork();
    if (pid < 0) {
        errnum = errno;
        close(fds[0]);
        close(fds[1]);
        init_error_set(err, errnum, "fork");
        return INIT_SPAWN_FAILED;
    }
    if (pid == 0) {
        close(fds[0]);
        child_exec(in, fds[1]);
    }
    close(fds[1]);
    /* Both sides set the group, so that it exists whichever runs first; the child may
     * have exec'd already (EACCES), which is fine. */
    setpgid(pid, pid);
    errnum = read_exec_errno(fds[0]);
    close(fds[0]);
    if (errnum) {
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        init_error_set(err, errnum, "exec %s", in->opt->argv[0]);
        return INIT_SPAWN_EXEC_FAILED;
    }
    in->child = pid;
    return INIT_SPAWN_OK;
}
