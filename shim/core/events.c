#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tether/util.h>

#include "events.h"

static const char *const topic_names[TETHER_TOPIC_COUNT] = {
    [TETHER_TOPIC_CREATE] = "create",
    [TETHER_TOPIC_START] = "start",
    [TETHER_TOPIC_EXIT] = "exit",
    [TETHER_TOPIC_DELETE] = "delete",
    [TETHER_TOPIC_EXEC_START] = "exec_start",
    [TETHER_TOPIC_PAUSED] = "paused",
    [TETHER_TOPIC_RESUMED] = "resumed",
    [TETHER_TOPIC_OOM] = "oom",
    [TETHER_TOPIC_RESTART] = "restart",
    [TETHER_TOPIC_RESTART_FAILED] = "restart_failed",
    [TETHER_TOPIC_SECCOMP] = "seccomp",
};

const char *tether_topic_name(enum tether_topic topic)
{
    if ((unsigned)topic >= TETHER_TOPIC_COUNT)
        return "unknown";
    return topic_names[topic];
}

void tether_events_init(struct tether_events *ev, size_t cap)
{
    ev->ring = NULL;
    ev->alloc = 0;
    ev->cap = cap ? cap : TETHER_EVENTS_RETAINED;
    ev->last_seq = 0;
}

static void event_clear(struct tether_event *e)
{
    free(e->id);
    free(e->exec_id);
    free(e->text);
    memset(e, 0, sizeof(*e));
}

void tether_events_fini(struct tether_events *ev)
{
    size_t i;

    for (i = 0; i < ev->alloc; i++)
        event_clear(&ev->ring[i]);
    free(ev->ring);
    ev->ring = NULL;
    ev->alloc = 0;
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

const struct tether_event *tether_events_publish(struct tether_events *ev,
                                                 const struct tether_event *tmpl)
{
    struct tether_event *slot;

    /* Until the ring is full, seq n sits at index n - 1, so growing keeps every slot. */
    if (ev->last_seq + 1 > ev->alloc && ev->alloc < ev->cap) {
        size_t alloc = ev->alloc ? ev->alloc * 2 : 4;
        if (alloc > ev->cap)
            alloc = ev->cap;
        ev->ring = xrealloc(ev->ring, alloc * sizeof(*ev->ring));
        memset(ev->ring + ev->alloc, 0, (alloc - ev->alloc) * sizeof(*ev->ring));
        ev->alloc = alloc;
    }
    ev->last_seq++;
    slot = &ev->ring[(ev->last_seq - 1) % ev->cap];
    event_clear(slot);
    *slot = *tmpl;
    slot->seq = ev->last_seq;
    slot->id = dup_or_null(tmpl->id);
    slot->exec_id = dup_or_null(tmpl->exec_id);
    slot->text = dup_or_null(tmpl->text);
    if (slot->time.tv_sec == 0 && slot->time.tv_nsec == 0)
        clock_gettime(CLOCK_REALTIME, &slot->time);
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
