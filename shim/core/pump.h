/* A non-blocking fd the loop writes to: what the fd does not take at once waits in a buffer
 * and goes out when epoll says the fd is writable again (EPOLLOUT is watched only while
 * something waits, so an idle pump costs no wakeup). The owner bounds what it queues by
 * looking at tether_pump_pending() and pausing its producer; drained() tells it when to go
 * on. Used for a process's stdin (the front end's input, a copied source) and for a copy
 * of its output to a front end's fd. */
#ifndef TETHER_SHIM_PUMP_H
#define TETHER_SHIM_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <tether/error.h>
#include <tether/loop.h>
#include <tether/outbuf.h>

struct tether_pump {
    struct tether_source src; /* fd -1 when closed */
    struct tether_loop *loop;
    struct tether_outbuf queue; /* what the fd did not take yet */
    bool watching;              /* registered for EPOLLOUT */
    bool close_when_done;       /* close once the buffer is out */
    bool failed;                /* the fd refused a write (EPIPE…): everything is dropped */
    /* The buffer went out (or was dropped when the fd failed); may be NULL. */
    void (*drained)(struct tether_pump *pump);
};

void tether_pump_init(struct tether_pump *pump, struct tether_loop *loop,
                      void (*drained)(struct tether_pump *pump));
/* Takes ownership of fd (made non-blocking). */
int tether_pump_open(struct tether_pump *pump, int fd, struct tether_error *err);
bool tether_pump_is_open(const struct tether_pump *pump);

/* Writes what the fd takes now; returns the bytes written (0 when full), or -1 with err
 * when the fd failed. Nothing is queued: for callers that hand back what did not fit. */
ssize_t tether_pump_try(struct tether_pump *pump, const void *data, size_t len,
                        struct tether_error *err);
/* Writes what the fd takes now and queues the rest (after anything already queued). A
 * failed fd drops the data. */
void tether_pump_write(struct tether_pump *pump, const void *data, size_t len);
/* Bytes queued and not yet written. */
size_t tether_pump_pending(const struct tether_pump *pump);
/* Watches for writability once (EPOLLOUT) even with nothing queued: drained() runs when the
 * fd can take data again (after a short tether_pump_try). */
void tether_pump_notify_writable(struct tether_pump *pump);

/* Closes the fd once the queue is out (at once when it is empty). */
void tether_pump_finish(struct tether_pump *pump);
/* Closes the fd now; what is queued is dropped. */
void tether_pump_close(struct tether_pump *pump);

#endif
