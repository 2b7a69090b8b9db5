/* A pending call into the container model: how an operation that finishes later (after a
 * runtime command, or when the container exits) hands its result back to whichever front
 * end asked. The model knows nothing of JSON-RPC; front ends embed this struct. */
#ifndef TETHER_SHIM_CALL_H
#define TETHER_SHIM_CALL_H

#include <stdint.h>

#include <jansson.h>

#include <tether/error.h>

struct tether_call {
    /* Called exactly once: err set on failure, else result (stolen; may be NULL = {}). */
    void (*done)(struct tether_call *call, const struct tether_error *err, json_t *result);
    uint64_t owner; /* the front end's connection, for cancelling waits of a gone client */
    struct tether_call *next;
};

/* Completes call with a result / an error; a NULL call (an operation the shim started on
 * its own, e.g. a restart) just drops it. */
void tether_call_ok(struct tether_call *call, json_t *result);
void tether_call_fail(struct tether_call *call, const struct tether_error *err);

#endif
