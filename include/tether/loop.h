/* The shim's one event loop: epoll over fd sources, each with a callback. Sources may be
 * removed from inside any callback, even sources whose events are pending in the same
 * batch: removal scrubs those events from the batch, so the owner may free the source's
 * memory right after removing it. A source with a release() callback has that release
 * deferred to the end of the batch instead (for objects still in use up the stack).
 * There is no timer in the loop itself; a module that needs one adds a timerfd source
 * only while it has something to wait for, so an idle shim sleeps. */
#ifndef TETHER_LOOP_H
#define TETHER_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <tether/error.h>

struct tether_loop;
struct tether_source;

typedef void (*tether_source_cb)(struct tether_loop *loop, struct tether_source *src,
                                 uint32_t revents);

struct tether_source {
    int fd;
    uint32_t events;
    tether_source_cb cb;
    bool dead;
    /* Called once the source is removed and the current batch is over (may be NULL). */
    void (*release)(struct tether_source *src);
    struct tether_source *next_dead;
};

struct tether_loop {
    int epfd;
    bool stop;
    bool dispatching;
    struct tether_source *dead;
    /* The batch being dispatched, so removal can scrub pending events of a source. */
    void *batch;
    int batch_n, batch_i;
};

int tether_loop_init(struct tether_loop *loop, struct tether_error *err);
void tether_loop_fini(struct tether_loop *loop);

/* Registers src (fd, events, cb filled in by the caller). */
int tether_loop_add(struct tether_loop *loop, struct tether_source *src, struct tether_error *err);
/* Changes the event mask of a registered source. */
int tether_loop_mod(struct tether_loop *loop, struct tether_source *src, uint32_t events,
                    struct tether_error *err);
/* Unregisters src; its release() runs after the current batch (or at once outside one).
 * The fd is not closed here: release() owns that. */
void tether_loop_remove(struct tether_loop *loop, struct tether_source *src);

/* Waits for events (timeout_ms < 0: forever) and dispatches one batch; returns how many
 * events it dispatched. */
int tether_loop_run_once(struct tether_loop *loop, int timeout_ms, struct tether_error *err);

#endif
