#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <tether/outbuf.h>
#include <tether/util.h>

/* An emptied buffer larger than this goes back to the allocator. */
#define OUTBUF_KEEP 65536

void tether_outbuf_append(struct tether_outbuf *b, const void *data, size_t len)
{
    size_t pending = b->len - b->off;

    if (b->off > 0 && b->len + len > b->cap) {
        memmove(b->data, b->data + b->off, pending);
        b->off = 0;
        b->len = pending;
    }
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

size_t tether_outbuf_pending(const struct tether_outbuf *b)
{
    return b->len - b->off;
}

int tether_outbuf_send(struct tether_outbuf *b, int fd)
{
    while (b->off < b->len) {
        ssize_t n = send(fd, b->data + b->off, b->len - b->off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 1;
        if (n < 0)
            return -1;
        b->off += (size_t)n;
    }
    b->off = b->len = 0;
    tether_outbuf_trim(b);
    return 0;
}

void tether_outbuf_trim(struct tether_outbuf *b)
{
    if (b->len == b->off && b->cap > OUTBUF_KEEP)
        tether_outbuf_free(b);
}

void tether_outbuf_free(struct tether_outbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}
