/* Line framing of the protocol: bytes in, complete '\n'-terminated lines out, with a
 * bound on the length of one line. The buffer grows only as far as a pending line needs
 * (up to max + 1 bytes), so an idle connection costs nothing. */
#ifndef TETHER_SHIM_FRAMER_H
#define TETHER_SHIM_FRAMER_H

#include <stddef.h>

#define TETHER_FRAMER_READ_CHUNK 65536

struct tether_framer {
    char *buf;
    size_t start;   /* first byte not yet handed out */
    size_t len;     /* bytes in buf */
    size_t scanned; /* bytes from start known to hold no '\n' */
    size_t cap;
    size_t max; /* longest line accepted, without its '\n' */
};

void tether_framer_init(struct tether_framer *f, size_t max);
void tether_framer_fini(struct tether_framer *f);

/* Room to read into (at least 1 byte); *avail says how much. */
char *tether_framer_reserve(struct tether_framer *f, size_t *avail);
/* n bytes were written at the reserved place. */
void tether_framer_commit(struct tether_framer *f, size_t n);

/* Hands out the next complete line (NUL-terminated in place, '\n' removed; valid until
 * the next reserve): 1 = line, 0 = none yet, -1 = the pending line is longer than max. */
int tether_framer_next(struct tether_framer *f, char **line, size_t *len);

/* Bytes buffered but not yet handed out. */
size_t tether_framer_pending(const struct tether_framer *f);

#endif
