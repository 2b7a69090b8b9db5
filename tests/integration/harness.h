/* Shared helpers of the integration tests: a private workspace (runtime root and state
 * dir under /tmp), busybox bundles from hack/mkbundle.sh, and the built binaries. */
#ifndef TETHER_TEST_HARNESS_H
#define TETHER_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

struct th_env {
    char dir[PATH_MAX];          /* /tmp/tether-it-XXXXXX */
    char runtime_root[PATH_MAX]; /* <dir>/runtime-root: the runtime's --root */
    char state_dir[PATH_MAX];    /* <dir>/state: the shim's --state-dir */
};

/* Creates the workspace. Fails the test (cmocka) on error. */
void th_env_init(struct th_env *env);
/* Force-deletes every container left under the runtime root (with both runtimes) and
 * removes the workspace. */
void th_env_cleanup(struct th_env *env);

/* Builds a busybox bundle <env->dir>/<name> running argv (NULL-terminated) with
 * hack/mkbundle.sh; writes its path into path. Fails the test on error. */
void th_make_bundle(const struct th_env *env, const char *name, const char *const argv[],
                    char *path, size_t len);

/* Loads <bundle>/config.json, lets edit() change it, writes it back. */
void th_bundle_edit(const char *bundle, void (*edit)(json_t *config, void *data), void *data);

/* Whether crun can run a trivial container on this host (probed once per process); when
 * not, why holds the reason to print with the skip. */
bool th_crun_usable(const struct th_env *env, char *why, size_t len);

/* Path of a built binary (tether-shim, tetherctl, tether-init) from $TETHER_BIN_DIR. */
const char *th_bin(const char *name);

/* Runs argv (no shell), captures stdout into *out (may be NULL) and returns the exit
 * status (0..255, 128+sig for a signal death). */
int th_run(const char *const argv[], char **out);

/* Polls fn(data) every 10 ms until it returns true or timeout_ms passes. */
bool th_wait_until(bool (*fn)(void *data), void *data, int timeout_ms);

/* Zombie children of pid (State Z in /proc/<child>/stat whose PPid is pid). */
int th_count_zombie_children(pid_t pid);
/* Number of open fds of pid (entries in /proc/<pid>/fd). */
int th_count_fds(pid_t pid);

#endif
