#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_core.h"

static void tcall_done(struct tether_call *call, const struct tether_error *err,
                       const struct tether_result *res)
{
    struct th_call *t = container_of(call, struct th_call, call);

    t->done = true;
    if (err != NULL) {
        t->failed = true;
        t->err = *err;
        return;
    }
    t->pid = res->pid;
    t->exit = res->exit;
}

void th_call_init(struct th_call *t)
{
    memset(t, 0, sizeof(*t));
    t->call.done = tcall_done;
    t->call.owner = 1;
}

static void on_event(void *opaque, const struct tether_event *ev)
{
    struct th_core *f = opaque;
    struct th_event *s;

    if (f->n_events == TH_CORE_EVENTS_MAX)
        return;
    s = &f->events[f->n_events++];
    s->topic = ev->topic;
    snprintf(s->id, sizeof(s->id), "%s", ev->id);
    s->exec = ev->exec_id != NULL;
    s->pid = ev->pid;
    s->exit_status = ev->exit.exit_status;
    s->oom_killed = ev->exit.oom_killed;
}

static void on_output(void *opaque, struct tether_container *ctr, const char *exec_id,
                      enum tether_logfmt_stream stream, const char *data, size_t len)
{
    struct th_core *f = opaque;
    size_t room = sizeof(f->output[0]) - f->output_len[stream];

    (void)ctr;
    (void)exec_id;
    if (len > room)
        len = room;
    memcpy(f->output[stream] + f->output_len[stream], data, len);
    f->output_len[stream] += len;
}

static void on_stdin_ready(void *opaque, struct tether_container *ctr, const char *exec_id)
{
    struct th_core *f = opaque;

    (void)ctr;
    (void)exec_id;
    f->stdin_ready++;
}

struct th_core *th_core_alloc(void)
{
    struct th_core *f = xzalloc(sizeof(*f));

    /* As a shim's main() does: every signal is taken through the core's signalfd. */
    tether_core_take_signals();
    th_env_init(&f->env);
    f->log.fd = -1;
    f->log.level = TETHER_LOG_ERROR;
    return f;
}

void th_core_begin(struct th_core *f, const char *runtime)
{
    struct tether_core_config cfg = {0};
    struct tether_core_hooks hooks = {.on_event = on_event,
                                      .on_output = on_output,
                                      .on_stdin_ready = on_stdin_ready,
                                      .opaque = f};
    struct tether_error err = {0};

    cfg.runtime = runtime;
    cfg.runtime_root = f->env.runtime_root;
    f->core = tether_core_new(&cfg, &hooks, &f->log, &err);
    if (f->core == NULL)
        fail_msg("core: %s", err.msg);
}

int th_core_setup(void **state)
{
    struct th_core *f = th_core_alloc();

    th_core_begin(f, "runc");
    *state = f;
    return 0;
}

int th_core_teardown(void **state)
{
    struct th_core *f = *state;

    tether_core_free(f->core);
    th_env_cleanup(&f->env);
    free(f);
    return 0;
}

void th_core_run_until(struct th_core *f, const bool *done)
{
    struct tether_error err = {0};
    int turns = TH_CORE_TIMEOUT_MS / 50;

    while (!*done && turns-- > 0)
        if (tether_core_run_once(f->core, 50, &err) < 0)
            fail_msg("loop: %s", err.msg);
    if (!*done)
        fail_msg("nothing happened within %d ms", TH_CORE_TIMEOUT_MS);
}

void th_core_run_for(struct th_core *f, int ms)
{
    struct tether_error err = {0};
    int turns = ms / 10;

    while (turns-- > 0)
        if (tether_core_run_once(f->core, 10, &err) < 0)
            fail_msg("loop: %s", err.msg);
}

struct tether_container *th_core_add(struct th_core *f, const char *id, const char *const argv[],
                                     void (*edit)(json_t *, void *))
{
    char bundle[PATH_MAX];
    cleanup_free char *dir = xasprintf("%s/%s", f->env.state_dir, id);
    struct tether_container_config cfg = {.id = id, .bundle = bundle, .dir = dir};
    struct tether_error err = {0};
    struct tether_container *ctr;

    th_make_bundle(&f->env, id, argv, bundle, sizeof(bundle));
    if (edit != NULL)
        th_bundle_edit(bundle, edit, NULL);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    ctr = tether_core_add(f->core, &cfg, &err);
    if (ctr == NULL)
        fail_msg("add %s: %s", id, err.msg);
    return ctr;
}

void th_core_taken(int rc, const struct tether_error *err, const char *what)
{
    if (rc < 0)
        fail_msg("%s refused: %s", what, err->msg);
}

void th_core_wait_ok(struct th_core *f, struct th_call *t, const char *what)
{
    th_core_run_until(f, &t->done);
    if (t->failed)
        fail_msg("%s failed: %s", what, t->err.msg);
}

pid_t th_core_create(struct th_core *f, struct tether_container *ctr,
                     const struct tether_create_opts *opts)
{
    struct tether_create_opts defaults = {0};
    struct tether_error err = {0};
    struct th_call t;

    if (opts == NULL) {
        tether_process_opts_init(&defaults.proc);
        defaults.start = true;
        opts = &defaults;
    }
    th_call_init(&t);
    th_core_taken(tether_container_create(ctr, opts, &t.call, &err), &err, "create");
    th_core_wait_ok(f, &t, "create");
    return t.pid;
}

pid_t th_core_run_detached(struct th_core *f, struct tether_container *ctr)
{
    return th_core_create(f, ctr, NULL);
}

void th_core_wait(struct tether_container *ctr, struct th_call *t)
{
    struct tether_error err = {0};

    th_call_init(t);
    th_core_taken(tether_container_wait(ctr, NULL, &t->call, &err), &err, "wait");
}

void th_core_delete_remove(struct th_core *f, struct tether_container *ctr, bool force)
{
    struct tether_error err = {0};
    struct th_call t;

    th_call_init(&t);
    th_core_taken(tether_container_delete(ctr, force, &t.call, &err), &err, "delete");
    th_core_wait_ok(f, &t, "delete");
    if (tether_core_remove(f->core, ctr, &err) < 0)
        fail_msg("remove: %s", err.msg);
}

enum tether_status th_core_status(struct tether_container *ctr)
{
    struct tether_state st;
    struct tether_error err = {0};

    if (tether_container_state(ctr, NULL, &st, &err) < 0)
        fail_msg("state: %s", err.msg);
    return st.status;
}
