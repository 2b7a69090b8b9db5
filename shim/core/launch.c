#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tether/launch.h>

int tether_launch(struct tether_launch *l, struct tether_error *err)
{
    size_t len = 0;
    int pipefd[2];
    pid_t child;

    l->sync_fd = -1;
    l->daemon = -1;
    l->line[0] = '\0';
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return tether_error_set(err, errno, "pipe");
    child = fork();
    if (child < 0) {
        int errnum = errno;
        close(pipefd[0]);
        close(pipefd[1]);
        return tether_error_set(err, errnum, "fork");
    }
    if (child == 0) {
        close(pipefd[0]);
        if (setsid() < 0)
            _exit(1);
        l->sync_fd = pipefd[1];
        return 1;
    }
    close(pipefd[1]);
    for (;;) {
        ssize_t n = read(pipefd[0], l->line + len, sizeof(l->line) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(l->line, '\n', len) != NULL || len == sizeof(l->line) - 1)
            break;
    }
    close(pipefd[0]);
    l->line[len] = '\0';
    l->line[strcspn(l->line, "\n")] = '\0';
    l->daemon = child;
    if (strncmp(l->line, "OK", 2) == 0)
        return 0;
    /* The daemon failed and is leaving (or gone): reap it before the caller cleans up. */
    while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
        ;
    if (strncmp(l->line, "ERR ", 4) == 0)
        return tether_error_set(err, 0, "%s", l->line + 4);
    return tether_error_set(err, 0, "the daemon died while starting");
}

void tether_launch_fail(int sync_fd, const struct tether_error *err)
{
    dprintf(sync_fd, "ERR %s\n", err->msg[0] ? err->msg : "cannot start");
}
