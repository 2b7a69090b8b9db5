/* Encoders for container output logs. The shim reads a container's stdout and stderr in
 * chunks; each chunk of one stream is appended to an output buffer as complete records of
 * the chosen format. Nothing of the container's output is held back except, in jsonl, the
 * at most three bytes of a UTF-8 sequence cut by the chunk's end, so memory stays bounded
 * whatever the container writes.
 *
 * Formats:
 *  cri    "<time> <stream> <P|F> <content>\n", the Kubernetes CRI log that kubelet reads.
 *         A line ended by '\n' in the chunk closes with an F record; data of a line not yet
 *         ended when the chunk ends is written at once as a P record, and the record that
 *         later ends the line is F (its content may be empty). Lines longer than
 *         TETHER_LOGFMT_LINE_MAX are cut into P records of that size.
 *  jsonl  {"time":"<time>","stream":"stdout","log":"<content>"} per line, as Docker's
 *         json-file driver: "log" holds the line with its trailing "\n"; a piece of a line
 *         (chunk end or TETHER_LOGFMT_LINE_MAX) has no "\n". Output is always valid JSON and
 *         valid UTF-8: '"', '\\' and control characters are escaped, valid
 *         multi-byte UTF-8 is copied as is, and every byte that is not part of a valid UTF-8
 *         sequence becomes the escape \ufffd (one per byte), so a reader can tell replaced
 *         bytes from the text around them.
 *  raw    the bytes as written, streams interleaved, no framing.
 *  k8s-file  the records of cri, as podman reads them (libpod/logs): the time is local with
 *         its numeric offset (2026-12-03T09:39:36.476965715+02:00, "+00:00" rather than
 *         "Z" in UTC), and closing a line adds no record, so a line the process never ended
 *         stays a P record (podman prints a P record without a newline, an F record with
 *         one: the output reads back as it was written).
 *
 * Only '\n' ends a line; a '\r' stays in the content. Times are RFC 3339 UTC with nanoseconds
 * (local with an offset in k8s-file) and are formatted once per chunk. In cri and jsonl every
 * record ends with '\n' and contains no other '\n', so a record boundary in the output is just
 * after a '\n'. */
#ifndef TETHER_SHIM_LOGFMT_H
#define TETHER_SHIM_LOGFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <tether/core.h>
#include <tether/error.h>

/* Longest content of one record, in bytes of container output; longer lines are split.
 * kubelet and conmon split partial CRI lines at the same 16 KiB. */
#define TETHER_LOGFMT_LINE_MAX (16 * 1024)

/* A growable output buffer owned by the caller; start with all fields zero and reuse it
 * (set len to 0 once its content is written) so the hot path does not allocate. */
struct tether_logfmt_buf {
    char *data;
    size_t len;
    size_t cap;
};

/* Per-stream line state. */
struct tether_logfmt_line {
    bool open;               /* part of a line was emitted and its '\n' not yet seen */
    unsigned char carry_len; /* jsonl: bytes in carry */
    unsigned char carry[3];  /* jsonl: start of a UTF-8 sequence cut by the chunk's end */
};

struct tether_logfmt {
    enum tether_logfmt_format format;
    struct tether_logfmt_line lines[TETHER_LOGFMT_NSTREAMS];
};

/* Starts an encoder with no line open on either stream. */
void tether_logfmt_init(struct tether_logfmt *enc, enum tether_logfmt_format format);

/* Appends the records for len bytes of stream's output, read at time ts, to out. */
void tether_logfmt_encode(struct tether_logfmt *enc, enum tether_logfmt_stream stream,
                          const struct timespec *ts, const void *data, size_t len,
                          struct tether_logfmt_buf *out);

/* Ends stream's pending line, if any: an empty F record in cri, the held bytes of a cut
 * UTF-8 sequence (as \ufffd) in jsonl, nothing in raw and k8s-file. Call at stream end or before a
 * sync so a reader never keeps waiting for the rest of a line. */
void tether_logfmt_close_line(struct tether_logfmt *enc, enum tether_logfmt_stream stream,
                              const struct timespec *ts, struct tether_logfmt_buf *out);

/* Whether stream has a line started and not ended (or held bytes). */
bool tether_logfmt_pending(const struct tether_logfmt *enc, enum tether_logfmt_stream stream);

/* Makes room for n more bytes after buf->len; returns where they go. */
char *tether_logfmt_buf_reserve(struct tether_logfmt_buf *buf, size_t n);

/* Frees the buffer's memory and zeroes it. */
void tether_logfmt_buf_free(struct tether_logfmt_buf *buf);

#endif
