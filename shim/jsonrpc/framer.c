#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "framer.h"

void tether_framer_init(struct tether_framer *f, size_t max)
{
    memset(f, 0, sizeof(*f));
    f->max = max;
}

void tether_framer_fini(struct tether_framer *f)
{
    free(f->buf);
    memset(f, 0, sizeof(*f));
}

size_t tether_framer_pending(const struct tether_framer *f)
{
    return f->len - f->start;
}

char *tether_framer_reserve(struct tether_framer *f, size_t *avail)
{
    size_t pending = f->len - f->start;
    size_t want;

    /* Drop what was handed out, then make room for one read chunk, bounded by max + 1
     * (+1 so that a line of exactly max bytes still has room for its '\n'). */
    if (f->start > 0) {
        memmove(f->buf, f->buf + f->start, pending);
        f->len = pending;
        f->start = 0;
    }
    want = pending + TETHER_FRAMER_READ_CHUNK;
    if (want > f->max + 1)
        want = f->max + 1;
    if (want <= pending)
        want = pending + 1; /* over the bound already: next() reports it */
    if (f->cap < want + 1) {
        f->buf = xrealloc(f->buf, want + 1);
        f->cap = want + 1;
    }
    *avail = want - pending;
    return f->buf + f->len;
}

void tether_framer_commit(struct tether_framer *f, size_t n)
{
    f->len += n;
}

int tether_framer_next(struct tether_framer *f, char **line, size_t *len)
{
    char *base = f->buf + f->start;
    size_t pending = f->len - f->start;
    char *nl;

    if (pending == 0) {
        /* Release the buffer of a connection that has gone quiet. */
        if (f->cap > TETHER_FRAMER_READ_CHUNK + 1) {
            free(f->buf);
            f->buf = NULL;
            f->cap = f->len = f->start = 0;
        }
        f->scanned = 0;
        return 0;
    }
    nl = memchr(base + f->scanned, '\n', pending - f->scanned);
    if (nl == NULL) {
        f->scanned = pending;
        return pending > f->max ? -1 : 0;
    }
    *nl = '\0';
    *line = base;
    *len = (size_t)(nl - base);
    f->start += *len + 1;
    f->scanned = 0;
    if (*len > f->max)
        return -1;
    return 1;
}
