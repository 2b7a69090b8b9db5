/* What a connection (or a pump's fd) has to send and did not take yet. Owners bound it (a client
 * that lets too much wait is dropped, never waited on); an emptied large buffer is given
 * back. */
#ifndef TETHER_OUTBUF_H
#define TETHER_OUTBUF_H

#include <stddef.h>

struct tether_outbuf {
    char *data;
    size_t off; /* sent up to here */
    size_t len; /* filled up to here */
    size_t cap;
};

/* Queues len bytes after what waits. */
void tether_outbuf_append(struct tether_outbuf *b, const void *data, size_t len);
/* Bytes waiting to be sent. */
size_t tether_outbuf_pending(const struct tether_outbuf *b);
/* Sends what the (non-blocking) socket takes now: 0 when everything went out, 1 when some
 * still waits, -1 (errno set) when the socket failed. */
int tether_outbuf_send(struct tether_outbuf *b, int fd);
/* Gives back a large buffer once nothing waits in it (a small one is kept for reuse). */
void tether_outbuf_trim(struct tether_outbuf *b);
void tether_outbuf_free(struct tether_outbuf *b);

#endif
