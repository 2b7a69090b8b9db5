/* The event journal: every event gets a sequence number (from 1, never reused in a shim's
 * life) and is kept, already encoded as its JSON-RPC notification line, in a ring of the
 * last TETHER_EVENTS_RETAINED events so a client that reconnects can replay what it
 * missed with subscribe {since}. */
#ifndef TETHER_SHIM_EVENTS_H
#define TETHER_SHIM_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define TETHER_EVENTS_RETAINED 1024

struct tether_event {
    uint64_t seq;
    char *line; /* {"jsonrpc":"2.0","method":"event","params":{...}}\n */
    size_t len;
};

struct tether_events {
    struct tether_event *ring; /* grows with use up to cap: most shims see a few events */
    size_t alloc;              /* slots allocated */
    size_t cap;                /* ring size, TETHER_EVENTS_RETAINED unless set for tests */
    uint64_t last_seq;         /* 0 before the first event */
};

void tether_events_init(struct tether_events *ev, size_t cap);
void tether_events_fini(struct tether_events *ev);

/* Records an event: params gets seq, topic, timestamp and id added (fields is stolen and
 * may be NULL). Returns the stored event (valid until TETHER_EVENTS_RETAINED more events
 * are published). */
const struct tether_event *tether_events_publish(struct tether_events *ev, const char *topic,
                                                 const char *container_id, json_t *fields);

/* The retained event with this seq, or NULL when it was never published or has been
 * dropped from the ring. */
const struct tether_event *tether_events_get(const struct tether_events *ev, uint64_t seq);

/* Oldest seq still retained (last_seq + 1 when the journal is empty). */
uint64_t tether_events_first_seq(const struct tether_events *ev);

#endif
