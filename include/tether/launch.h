/* Detaching a daemon from the program that launches it, the way every front end starts:
 * the launcher waits until the daemon reports that it serves (or why it cannot), then
 * exits; the daemon lives on in a session of its own. */
#ifndef TETHER_LAUNCH_H
#define TETHER_LAUNCH_H

#include <sys/types.h>

#include <tether/error.h>

struct tether_launch {
    int sync_fd;                         /* daemon: the pipe it reports on */
    pid_t daemon;                        /* launcher: the daemon's pid */
    char line[TETHER_ERROR_MSG_MAX + 8]; /* launcher: the daemon's report, no newline */
};

/* One fork: the child leaves the caller's session (setsid) and is the daemon. A session
 * leader acquires a terminal it opens without O_NOCTTY, so a daemon opens every path that
 * could name one with O_NOCTTY (a container's terminal reaches it only as a received fd).
 *
 * Returns 1 in the daemon, with l->sync_fd (close-on-exec) to write one line on: "OK..."
 * once it serves, "ERR <message>" when it cannot (tether_launch_fail). Returns 0 in the
 * launcher when the daemon's line starts with "OK" (l->line holds it, l->daemon the pid);
 * otherwise -1 with err: the daemon's message, or, when it died without a word, errno 0
 * and "died while starting". A daemon that failed is reaped before -1 is returned. The
 * daemon returns instead of running from here, so the launcher's frame is not on its stack
 * for its whole life. */
int tether_launch(struct tether_launch *l, struct tether_error *err);

/* In the daemon: reports err to the launcher still waiting (the first message wins; once
 * "OK" was sent the launcher is gone and this writes to a closed pipe, harmlessly). */
void tether_launch_fail(int sync_fd, const struct tether_error *err);

#endif
