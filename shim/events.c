#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tether/util.h>

#include "events.h"

void tether_events_init(struct tether_events *ev, size_t cap)
{
    ev->ring = NULL;
    ev->alloc = 0;
    ev->cap = cap ? cap : TETHER_EVENTS_RETAINED;
    ev->last_seq = 0;
}

void tether_events_fini(struct tether_events *ev)
{
    size_t i;

    for (i = 0; i < ev->alloc; i++)
        free(ev->ring[i].line);
    free(ev->ring);
    ev->ring = NULL;
    ev->alloc = 0;
}

const struct tether_event *tether_events_publish(struct tether_events *ev, const char *topic,
                                                 const char *container_id, json_t *fields)
{
    json_t *params = fields != NULL ? fields : json_object();
    json_t *msg;
    struct tether_event *slot;
    struct timespec now;
    char ts[64];
    char *text;

    /* Until the ring is full, seq n sits at index n - 1, so growing keeps every slot. */
    if (ev->last_seq + 1 > ev->alloc && ev->alloc < ev->cap) {
        size_t alloc = ev->alloc ? ev->alloc * 2 : 16;
        if (alloc > ev->cap)
            alloc = ev->cap;
        ev->ring = xrealloc(ev->ring, alloc * sizeof(*ev->ring));
        memset(ev->ring + ev->alloc, 0, (alloc - ev->alloc) * sizeof(*ev->ring));
        ev->alloc = alloc;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    tether_format_time(&now, ts, sizeof(ts));
    ev->last_seq++;
    json_object_set_new(params, "seq", json_integer((json_int_t)ev->last_seq));
    json_object_set_new(params, "topic", json_string(topic));
    json_object_set_new(params, "timestamp", json_string(ts));
    json_object_set_new(params, "id", json_string(container_id));
    msg = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "event", "params", params);
    text = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(msg);
    if (text == NULL)
        abort(); /* only on allocation failure */

    slot = &ev->ring[(ev->last_seq - 1) % ev->cap];
    free(slot->line);
    slot->seq = ev->last_seq;
    slot->len = strlen(text);
    slot->line = xrealloc(text, slot->len + 2);
    slot->line[slot->len++] = '\n';
    slot->line[slot->len] = '\0';
    return slot;
}

uint64_t tether_events_first_seq(const struct tether_events *ev)
{
    if (ev->last_seq < ev->cap)
        return 1;
    return ev->last_seq - ev->cap + 1;
}

const struct tether_event *tether_events_get(const struct tether_events *ev, uint64_t seq)
{
    if (seq == 0 || seq > ev->last_seq || seq < tether_events_first_seq(ev) || ev->ring == NULL)
        return NULL;
    return &ev->ring[(seq - 1) % ev->cap];
}
