#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "container.h"
#include "process.h"

static void process_output(void *opaque, enum tether_logfmt_stream stream, const char *data,
                           size_t len)
{
    struct tether_process *p = opaque;

    tether_core_output(p->ctr->env.core, p->ctr, p->exec_id, stream, data, len);
}

static void process_stdin_ready(void *opaque)
{
    struct tether_process *p = opaque;

    tether_core_stdin_ready(p->ctr->env.core, p->ctr, p->exec_id);
}

void tether_process_opts_init(struct tether_process_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    opts->log.format = TETHER_LOGFMT_CRI;
    opts->stdio_fds[0] = opts->stdio_fds[1] = opts->stdio_fds[2] = -1;
    opts->stdin_from = -1;
    opts->output_to = -1;
}

void tether_process_init(struct tether_process *p, struct tether_container *ctr,
                         const char *exec_id,
                         void (*exited)(struct tether_child *, int, const struct timespec *))
{
    memset(p, 0, sizeof(*p));
    p->ctr = ctr;
    p->exec_id = exec_id != NULL ? xstrdup(exec_id) : NULL;
    p->child.exited = exited;
    tether_io_init(&p->io, ctr->env.log, ctr->env.loop);
    p->io.on_output = process_output;
    p->io.on_stdin_ready = process_stdin_ready;
    p->io.opaque = p;
    tether_console_init(&p->console);
}

void tether_process_fini(struct tether_process *p)
{
    struct tether_error err = {0};

    tether_error_setk(&err, TETHER_ERR_STATE, 0, "the shim is shutting down");
    while (p->waiters != NULL) {
        struct tether_call *call = p->waiters;
        p->waiters = call->next;
        tether_call_fail(call, &err);
    }
    tether_reaper_unwatch(p->ctr->env.reaper, &p->child);
    tether_io_close(&p->io);
    tether_console_close(&p->console);
    free(p->exec_id);
    p->exec_id = NULL;
}

int tether_process_prepare(struct tether_process *p, const struct tether_process_opts *opts,
                           const char *tag, struct tether_error *err)
{
    p->terminal = opts->terminal;
    p->exited = false;
    p->exit_announced = false;
    p->pid = 0;
    p->state = TETHER_PROC_STARTING;
    if (tether_io_prepare(&p->io, opts, err) < 0)
        return -1;
    if (opts->terminal && tether_console_listen(&p->console, p->ctr->env.dir, tag, err) < 0) {
        tether_io_close(&p->io);
        return -1;
    }
    return 0;
}

int tether_process_started(struct tether_process *p, struct tether_error *err)
{
    int r;

    if (!p->terminal)
        return 0;
    r = tether_console_receive(&p->console, err);
    if (r == 0)
        tether_error_setk(err, TETHER_ERR_RUNTIME, 0,
                          "the runtime did not connect to the console socket");
    if (r <= 0) {
        tether_console_close(&p->console);
        return -1;
    }
    return tether_io_set_terminal(&p->io, tether_console_take_master(&p->console), err);
}

static void answer_wait(struct tether_process *p, struct tether_call *call)
{
    struct tether_result res = {.pid = p->pid, .exit = p->exit};

    tether_call_ok(call, &res);
}

void tether_process_wait(struct tether_process *p, struct tether_call *call)
{
    if (p->exit_announced) {
        answer_wait(p, call);
        return;
    }
    call->next = p->waiters;
    p->waiters = call;
}

void tether_process_announce_exit(struct tether_process *p)
{
    struct tether_event ev = {
        .topic = TETHER_TOPIC_EXIT, .pid = p->pid, .exec_id = p->exec_id, .exit = p->exit};

    tether_io_drain(&p->io);
    p->state = TETHER_PROC_STOPPED;
    p->exit_announced = true;
    tether_container_publish(p->ctr, &ev);
    tether_process_answer_waits(p);
}

void tether_process_answer_waits(struct tether_process *p)
{
    struct tether_call *waiters = p->waiters;

    p->waiters = NULL;
    while (waiters != NULL) {
        struct tether_call *call = waiters;
        waiters = call->next;
        answer_wait(p, call);
    }
}

void tether_process_cancel(struct tether_process *p, uint64_t owner)
{
    struct tether_call **pp = &p->waiters;

    /* Only waits are dropped: an operation in flight completes whether or not anyone is
     * left to hear the answer. */
    while (*pp != NULL) {
        struct tether_call *call = *pp;
        if (call->owner == owner) {
            struct tether_error err = {0};
            *pp = call->next;
            tether_error_setk(&err, TETHER_ERR_STATE, 0, "client gone");
            tether_call_fail(call, &err);
        } else {
            pp = &call->next;
        }
    }
}
