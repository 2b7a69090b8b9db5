/* Helpers of the tether-shim integration tests: launch a detached shim for a bundle in a
 * test workspace, talk to it with the client library, wait for its events, and make sure
 * it is gone at the end. Every helper fails the running cmocka test on error. */
#ifndef TETHER_TEST_HARNESS_SHIM_H
#define TETHER_TEST_HARNESS_SHIM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include <tether/client.h>
#include <tether/error.h>

#include "harness.h"

/* Generous bounds: the tests run on loaded 2-core machines with sanitizers on. */
#define TH_CALL_MS  30000 /* one request and its response */
#define TH_EVENT_MS 30000 /* an event that must come */
#define TH_GONE_MS  30000 /* a process that must go away */

struct th_shim {
    char id[129];
    char dir[PATH_MAX];    /* <state-dir>/<id> */
    char socket[PATH_MAX]; /* as the shim printed it */
    pid_t pid;             /* 0 when no shim was launched */
};

/* Skips the running test (with the reason printed) when runtime cannot run containers
 * here; only crun is probed, runc is required. */
void th_require_runtime(const struct th_env *env, const char *runtime);

/* A container id unique on this host (runc and crun place cgroups by id): tag-<pid>-<n>. */
void th_shim_unique_id(const char *tag, char *id, size_t len);

/* Runs tether-shim (detaching) for bundle with --state-dir, --runtime-root and --runtime
 * taken from env and runtime, plus extra (NULL-terminated, may be NULL). Returns the
 * launcher's result; on failure err carries its one-line reason and shim->pid stays 0. */
int th_shim_try_launch(struct th_shim *shim, const struct th_env *env, const char *runtime,
                       const char *id, const char *bundle, const char *const *extra,
                       struct tether_error *err);
/* th_shim_try_launch that must succeed. */
void th_shim_launch(struct th_shim *shim, const struct th_env *env, const char *runtime,
                    const char *id, const char *bundle);
/* Makes sure the shim is gone: SIGKILL if still alive, then waits until it is. Safe to
 * call twice or without a launched shim. */
void th_shim_stop(struct th_shim *shim);

/* A new connection to the shim's socket. */
struct tether_client *th_shim_connect(const struct th_shim *shim);

/* Calls method with params (reference stolen, may be NULL) and asserts success; returns
 * the result (new reference). */
json_t *th_call_ok(struct tether_client *c, const char *method, json_t *params);
/* Calls method with params (stolen) and asserts a JSON-RPC error with this code; the
 * error's message is copied into msg (may be NULL). */
void th_call_fail(struct tether_client *c, const char *method, json_t *params, int code, char *msg,
                  size_t len);
/* Reads the response to request id (sent earlier) and returns it whole (new reference). */
json_t *th_response(struct tether_client *c, int64_t id);
/* Reads the next message of any kind straight from the socket (new reference). */
json_t *th_read_message(struct tether_client *c);

/* The params of the next "event" notification (new reference); other notifications are
 * skipped. Fails the test when none comes within TH_EVENT_MS. */
json_t *th_next_event(struct tether_client *c);
/* The params of the next event of this topic; events of other topics are skipped. */
json_t *th_wait_event(struct tether_client *c, const char *topic);
/* Asserts that no notification is waiting on c: a `state` round trip first makes sure
 * everything the shim queued before it has arrived. */
void th_assert_no_notification(struct tether_client *c);

/* A runtime-spec Process object running argv as root in "/" with PATH=/bin (the busybox
 * rootfs has its applets there; an exec does not inherit the init's environment). */
json_t *th_process_of(const char *const argv[]);

/* Sends bytes as they are (malformed input); fails the test if the send fails. */
void th_send_raw(struct tether_client *c, const void *data, size_t len);

/* An "id" that must be JSON null in th_assert_error. */
#define TH_ID_NULL (-1)
/* Asserts msg is a JSON-RPC error response with this code, a message, and this id
 * (TH_ID_NULL for null). */
void th_assert_error(const json_t *msg, int code, long long id);

/* The usual test fixture: a workspace, a bundle and one shim for it, for one runtime. */
struct th_fixture {
    const char *runtime; /* "runc" or "crun" */
    struct th_env env;
    char id[129];
    char bundle[PATH_MAX];
    struct th_shim shim;
};

/* cmocka setup and teardown: *state holds the runtime name on entry and the fixture
 * after setup. Teardown kills a shim still alive and force-deletes leftover containers. */
int th_fixture_setup(void **state);
int th_fixture_teardown(void **state);
/* Skips for an unusable runtime, builds the bundle "bundle" running argv (edit, when not
 * NULL, may change its config.json) and launches a shim for a fresh id. */
void th_fixture_start(struct th_fixture *f, const char *const argv[],
                      void (*edit)(json_t *config, void *data), void *data);

/* A test run once per runtime, named "<fn>/<runtime>". */
#define TH_RUNTIME_TEST(fn, rt)                                                                    \
    {                                                                                              \
#fn "/" rt, fn, th_fixture_setup, th_fixture_teardown, (void *)rt                          \
    }
#define TH_BOTH_RUNTIMES(fn) TH_RUNTIME_TEST(fn, "runc"), TH_RUNTIME_TEST(fn, "crun")

/* Process liveness from /proc: alive means present and not a zombie. */
bool th_pid_alive(pid_t pid);
/* Waits until pid is dead (gone or a zombie); false after timeout_ms. */
bool th_wait_pid_dead(pid_t pid, int timeout_ms);
/* Parent pid from /proc/<pid>/stat, or -1 when the process is gone. */
pid_t th_pid_parent(pid_t pid);
/* Waits until the shim has no zombie child; false after timeout_ms. */
bool th_wait_no_zombies(pid_t shim_pid, int timeout_ms);

/* Asserts an RFC 3339 UTC time with nanoseconds: 2026-11-22T14:13:41.492604010Z. */
void th_assert_timestamp(const char *ts);
/* The integer member key of obj; fails the test when missing or not an integer. */
long long th_int(const json_t *obj, const char *key);
/* The string member key of obj; fails the test when missing or not a string. */
const char *th_str(const json_t *obj, const char *key);

/* Whether path exists (lstat). */
bool th_path_exists(const char *path);
/* Waits until path exists; false after timeout_ms. */
bool th_wait_path(const char *path, int timeout_ms);

/* th_bundle_edit callback: a writable rootfs, so that the container can leave files in
 * <bundle>/rootfs/tmp for the test to see (readiness markers, pids). */
void th_edit_writable_rootfs(json_t *config, void *data);

#endif
