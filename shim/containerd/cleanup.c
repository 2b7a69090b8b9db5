#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include <tether/runtime.h>
#include <tether/util.h>

#include "cleanup.h"
#include "mount.h"
#include "shim.h"

int tether_ctrd_parse_time(const char *text, struct timespec *out)
{
    struct tm tm = {0};
    long nanos = 0, scale = 100000000;
    const char *p;

    p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (p == NULL)
        return -1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            nanos += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (strcmp(p, "Z") != 0)
        return -1;
    out->tv_sec = timegm(&tm);
    out->tv_nsec = nanos;
    return 0;
}

static void warnf(void (*warn)(const char *), const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void warnf(void (*warn)(const char *), const char *fmt, ...)
{
    char msg[TETHER_ERROR_MSG_MAX + 256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    warn(msg);
}

/* Waits for the runtime child, killing it after TETHER_CTRD_CLEANUP_RUNTIME_MS. SIGCHLD is
 * blocked (runtime_delete blocks it before the spawn), so the child's exit is a pending
 * signal that ends the wait at once, not at the next turn of a polling loop. */
static int wait_runtime(pid_t pid, int *status)
{
    struct timespec deadline, now, left;
    sigset_t chld;

    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += TETHER_CTRD_CLEANUP_RUNTIME_MS / 1000;
    deadline.tv_nsec += (TETHER_CTRD_CLEANUP_RUNTIME_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = deadline.tv_sec - now.tv_sec;
        left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) {
            left.tv_sec--;
            left.tv_nsec += 1000000000L;
        }
        if (left.tv_sec < 0) {
            kill(pid, SIGKILL);
            while (waitpid(pid, status, 0) < 0 && errno == EINTR)
                ;
            errno = ETIMEDOUT;
            return -1;
        }
        /* Ends with SIGCHLD (taken), at the deadline, or early on another signal. */
        sigtimedwait(&chld, NULL, &left);
    }
}

static void runtime_delete(const char *bundle, const char *id, const char *ns,
                           void (*warn)(const char *))
{
    cleanup_free char *file = xasprintf("%s/%s", bundle, TETHER_CTRD_BUNDLE_FILE);
    cleanup_free char *root = xasprintf("%s/%s", TETHER_CTRD_RUNTIME_ROOT, ns);
    struct tether_runtime_args args;
    struct tether_runtime_cmd cmd;
    struct tether_runtime rt = {0};
    struct tether_error err = {0};
    const char *runtime = NULL;
    json_error_t jerr;
    json_t *saved = json_load_file(file, 0, &jerr);
    cleanup_free char *state_dir = NULL;
    sigset_t chld, old;
    int status;

    if (json_is_object(saved)) {
        const char *r = json_string_value(json_object_get(saved, "runtime"));
        const char *rr = json_string_value(json_object_get(saved, "root"));
        runtime = r;
        if (rr != NULL) {
            free(root);
            root = xstrdup(rr);
        }
    }
    if (tether_runtime_init(&rt, runtime, root, &err) < 0) {
        warnf(warn, "runtime: %s", err.msg);
        json_decref(saved);
        return;
    }
    json_decref(saved);
    /* The runtime keeps a directory per container under its root (runc, crun): without one
     * it has no such container, and a delete could only fail saying so. That is how a task
     * that was deleted normally is found here (containerd runs this command after every
     * shim it started is gone): no runtime process to start and wait for then. */
    state_dir = xasprintf("%s/%s", rt.root != NULL ? rt.root : "", id);
    if (rt.root != NULL && access(state_dir, F_OK) < 0 && errno == ENOENT) {
        tether_runtime_fini(&rt);
        return;
    }
    tether_runtime_args_init(&args);
    args.id = id;
    args.force = true;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    if (tether_runtime_spawn(&rt, TETHER_RT_DELETE, &args, &cmd, &err) == 0) {
        int rc = wait_runtime(cmd.pid, &status);
        if (rc < 0) {
            tether_error_set(&err, errno, "waiting for it");
            tether_runtime_cmd_release(&cmd);
        }
        sigprocmask(SIG_SETMASK, &old, NULL);
        if (rc == 0 && tether_runtime_finish(&cmd, status, NULL, &err) == 0) {
            tether_runtime_fini(&rt);
            return;
        }
    } else {
        sigprocmask(SIG_SETMASK, &old, NULL);
    }
    /* After a normal delete the usual case: the runtime no longer has the container. */
    warnf(warn, "%s delete: %s", rt.name, err.msg);
    tether_runtime_fini(&rt);
}

static void read_exit(const char *bundle, struct tether_ctrd_cleanup *out)
{
    cleanup_free char *exit_path = xasprintf("%s/exit.json", bundle);
    cleanup_free char *pid_path = xasprintf("%s/init.pid", bundle);
    struct tether_error err = {0};
    json_error_t jerr;
    json_t *rec = json_load_file(exit_path, 0, &jerr);
    pid_t pid = tether_runtime_read_pid_file(pid_path, &err);

    out->pid = pid > 0 ? pid : 0;
    clock_gettime(CLOCK_REALTIME, &out->exited_at);
    out->exit_status = 128 + SIGKILL;
    if (json_is_integer(json_object_get(rec, "exit_status")) &&
        tether_ctrd_parse_time(json_string_value(json_object_get(rec, "exited_at")) ?: "",
                               &out->exited_at) == 0) {
        out->exit_status = (int)json_integer_value(json_object_get(rec, "exit_status"));
        out->recorded = true;
    }
    json_decref(rec);
}

void tether_ctrd_cleanup_run(const char *bundle, const char *id, const char *ns,
                             void (*warn)(const char *msg), struct tether_ctrd_cleanup *out)
{
    struct tether_error err = {0};

    memset(out, 0, sizeof(*out));
    runtime_delete(bundle, id, ns, warn);
    if (tether_ctrd_rootfs_unmount(bundle, true, &err) < 0)
        warnf(warn, "%s", err.msg);
    read_exit(bundle, out);
}
