/* The event journal: every event gets a sequence number (from 1, never reused in a core's
 * life) and is kept, typed, in a ring of the last TETHER_EVENTS_RETAINED events, so a front
 * end can replay what a client missed. Front ends encode events in their own protocol. */
#ifndef TETHER_SHIM_EVENTS_H
#define TETHER_SHIM_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <tether/core.h>

struct tether_events {
    struct tether_event *ring; /* grows with use up to cap: most shims see a few events */
    size_t alloc;              /* slots allocated */
    size_t cap;                /* ring size, TETHER_EVENTS_RETAINED unless set for tests */
    uint64_t last_seq;         /* 0 before the first event */
};

void tether_events_init(struct tether_events *ev, size_t cap);
void tether_events_fini(struct tether_events *ev);

/* Records a copy of *tmpl (its strings are copied) with the next seq and, when tmpl->time
 * is zero, the current time. Returns the stored event (valid until cap more events are
 * published). */
const struct tether_event *tether_events_publish(struct tether_events *ev,
                                                 const struct tether_event *tmpl);

/* The retained event with this seq, or NULL when it was never published or has been
 * dropped from the ring. */
const struct tether_event *tether_events_get(const struct tether_events *ev, uint64_t seq);

/* Oldest seq still retained (last_seq + 1 when the journal is empty). */
uint64_t tether_events_first_seq(const struct tether_events *ev);

#endif
