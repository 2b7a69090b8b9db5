/* The events the shim forwards to containerd: a ttrpc client of containerd's
 * Events/Forward on $TTRPC_ADDRESS, run from the core's loop and never blocking. It walks
 * the core's journal with a cursor (the next seq to deliver) and sends one Envelope at a
 * time, in order, moving on only once containerd answered. Events that are not in the
 * journal (TaskExecAdded, and TaskCreate, which carries what containerd sent in Create)
 * are notes placed at their point in the journal's order. While containerd is away the
 * journal holds what it will get (its last TETHER_EVENTS_RETAINED events, notes bounded by
 * TETHER_CTRD_NOTES_MAX) and the client reconnects with backoff; when containerd is back
 * the events go out in order, each exactly as it happened. */
#ifndef TETHER_CONTAINERD_EVENTS_H
#define TETHER_CONTAINERD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>
#include <tether/timer.h>

#include "ttrpc.h"

#define TETHER_CTRD_EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"
#define TETHER_CTRD_NOTES_MAX      1024
/* Reconnect delays: from the first, doubled up to the last. */
#define TETHER_CTRD_EVENTS_BACKOFF_MIN_MS 100
#define TETHER_CTRD_EVENTS_BACKOFF_MAX_MS 2000
/* How long containerd has to answer a Forward before the connection is made again. */
#define TETHER_CTRD_EVENTS_ANSWER_MS 10000
/* The deadline each Forward carries, as containerd's own shim sets it. */
#define TETHER_CTRD_EVENTS_TIMEOUT_NS 5000000000LL

/* One event as containerd gets it: the topic and the packed event message. */
struct tether_ctrd_envelope {
    const char *topic;    /* "/tasks/exit" */
    const char *type_url; /* "containerd.events.TaskExit" */
    uint8_t *value;       /* malloc'd, freed by the client */
    size_t len;
};

/* Makes out from a journal event; false for an event containerd is not told about. */
typedef bool (*tether_ctrd_encode_cb)(void *opaque, const struct tether_event *ev,
                                      struct tether_ctrd_envelope *out);

struct tether_ctrd_note;

struct tether_ctrd_events {
    struct tether_core *core;
    struct tether_loop *loop;
    const struct tether_log *log;
    char *address; /* containerd's ttrpc socket */
    char *ns;
    tether_ctrd_encode_cb encode;
    void *opaque;
    void (*on_idle)(void *opaque); /* everything there was went out (may be NULL) */
    uint64_t next_seq;             /* the next journal event to consider */
    struct tether_ctrd_note *notes, *notes_tail;
    size_t n_notes;
    /* The connection. */
    struct tether_source src; /* fd -1 when there is none */
    bool connected;
    struct tether_ttrpc_reader in;
    uint8_t *out;
    size_t out_len, out_off;
    bool in_flight; /* a Forward is out and not answered */
    bool in_flight_note;
    uint32_t next_stream, stream;
    struct tether_timer timer; /* the reconnect delay, or the answer's deadline */
    unsigned backoff_ms;
    bool gave_up_logged;
    uint64_t delivered;
};

int tether_ctrd_events_init(struct tether_ctrd_events *ev, struct tether_core *core,
                            const struct tether_log *log, const char *address, const char *ns,
                            tether_ctrd_encode_cb encode, void *opaque, struct tether_error *err);
void tether_ctrd_events_fini(struct tether_ctrd_events *ev);

/* Queues an event that is not in the journal, after the journal's latest event. Takes
 * env->value. */
void tether_ctrd_events_note(struct tether_ctrd_events *ev, const struct tether_ctrd_envelope *env,
                             const struct timespec *at);
/* The journal got new events (or a note was added): sends what can go now. */
void tether_ctrd_events_kick(struct tether_ctrd_events *ev);
/* Nothing is waiting to go out. */
bool tether_ctrd_events_idle(const struct tether_ctrd_events *ev);

#endif
