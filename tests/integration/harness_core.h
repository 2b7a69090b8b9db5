/* Integration tests that drive the core through its C API (<tether/core.h>) as a front end
 * would, with real runc containers: a core in the test process (a child subreaper with its
 * signalfd, as a shim), calls the test waits for, and the events it saw. */
#ifndef TETHER_TEST_HARNESS_CORE_H
#define TETHER_TEST_HARNESS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include <tether/core.h>

#include "harness.h"

#define TH_CORE_TIMEOUT_MS 30000
#define TH_CORE_EVENTS_MAX 4096

/* What the test keeps of an event. */
struct th_event {
    enum tether_topic topic;
    char id[64];
    bool exec;
    pid_t pid;
    int exit_status;
    bool oom_killed;
};

struct th_core {
    struct th_env env;
    struct tether_log log;
    struct tether_core *core;
    struct th_event events[TH_CORE_EVENTS_MAX];
    size_t n_events;
    /* Output the core handed to on_output, per stream, of every process (bounded). */
    char output[2][65536];
    size_t output_len[2];
    unsigned stdin_ready; /* on_stdin_ready calls */
};

/* A call the test waits for. */
struct th_call {
    struct tether_call call;
    bool done;
    bool failed;
    struct tether_error err;
    pid_t pid;
    struct tether_exit exit;
};

/* cmocka setup and teardown: a workspace and a core with runc under its private root. */
int th_core_setup(void **state);
/* The parts of th_core_setup: the workspace (signals blocked as a shim's main() blocks
 * them), then the core with runtime (a name on PATH or a path) under the private root. */
struct th_core *th_core_alloc(void);
void th_core_begin(struct th_core *f, const char *runtime);
int th_core_teardown(void **state);

void th_call_init(struct th_call *t);
/* Turns the loop until *done (fails the test after TH_CORE_TIMEOUT_MS). */
void th_core_run_until(struct th_core *f, const bool *done);
/* Turns the loop for about ms. */
void th_core_run_for(struct th_core *f, int ms);
/* Fails the test when an operation was refused at once. */
void th_core_taken(int rc, const struct tether_error *err, const char *what);
/* Waits for t and fails the test when it failed. */
void th_core_wait_ok(struct th_core *f, struct th_call *t, const char *what);

/* A container record with a bundle running argv (edited by edit when not NULL) and its own
 * state directory. */
struct tether_container *th_core_add(struct th_core *f, const char *id, const char *const argv[],
                                     void (*edit)(json_t *, void *));
/* create with opts (NULL: defaults with start), waited for; returns the init's pid. */
pid_t th_core_create(struct th_core *f, struct tether_container *ctr,
                     const struct tether_create_opts *opts);
/* create {"start": true}: one runtime run --detach. Returns the init's pid. */
pid_t th_core_run_detached(struct th_core *f, struct tether_container *ctr);
/* Queues a wait for the init. */
void th_core_wait(struct tether_container *ctr, struct th_call *t);
/* delete (waited for) and remove from the core. */
void th_core_delete_remove(struct th_core *f, struct tether_container *ctr, bool force);
enum tether_status th_core_status(struct tether_container *ctr);

#endif
