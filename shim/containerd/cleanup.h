/* The `delete` command: what containerd runs after every task it deletes and for shims it
 * found dead, with the bundle as its only source. It force-deletes the container from the
 * runtime (with the runtime and root Create recorded in the bundle), takes down the root
 * filesystem, and reports the container's exit: the one the shim recorded in the bundle
 * (exit.json), or, when there is none, 137 now (the container was just killed), as
 * containerd's own shim does. */
#ifndef TETHER_CONTAINERD_CLEANUP_H
#define TETHER_CONTAINERD_CLEANUP_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include <tether/error.h>

/* containerd kills the command after 5 s: the runtime gets less than that. */
#define TETHER_CTRD_CLEANUP_RUNTIME_MS 3000

struct tether_ctrd_cleanup {
    pid_t pid; /* the init's, from the bundle's pid file, or 0 */
    int exit_status;
    struct timespec exited_at;
    bool recorded; /* the exit came from the shim's record */
};

/* Cleans up task id of namespace ns in bundle. Problems along the way (the runtime no
 * longer knows the container, nothing is mounted) are reported through warn and do not
 * stop the rest; the result is always filled. */
void tether_ctrd_cleanup_run(const char *bundle, const char *id, const char *ns,
                             void (*warn)(const char *msg), struct tether_ctrd_cleanup *out);

/* RFC 3339 UTC time as exit.json holds it ("2024-01-02T03:04:05.123456789Z"). */
int tether_ctrd_parse_time(const char *text, struct timespec *out);

#endif
