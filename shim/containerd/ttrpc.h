/* The ttrpc 1.1.1 wire format containerd speaks to its shims, without I/O: the 10-byte
 * frame header, an incremental reader that turns one connection's bytes into frames, and
 * the Request/Response messages carried inside (packed and unpacked by protobuf-c's
 * generated code). A frame is: payload length u32 BE (header excluded) · stream id u32 BE
 * · type u8 · flags u8, then the payload. */
#ifndef TETHER_CONTAINERD_TTRPC_H
#define TETHER_CONTAINERD_TTRPC_H

#include <stddef.h>
#include <stdint.h>

#include <tether/error.h>

#include "ttrpc.pb-c.h"

#define TETHER_TTRPC_HEADER_LEN 10
/* Longest payload either side accepts; a longer one is answered with RESOURCE_EXHAUSTED on
 * its stream and its bytes are dropped. */
#define TETHER_TTRPC_MAX_PAYLOAD (4u << 20)
/* How much the reader asks to read at a time. */
#define TETHER_TTRPC_READ_CHUNK 65536

/* Frame types of ttrpc 1.1.1; any other type is skipped (later versions add more). */
enum tether_ttrpc_type {
    TETHER_TTRPC_TYPE_REQUEST = 1,
    TETHER_TTRPC_TYPE_RESPONSE = 2,
};

/* The status codes of gRPC, which ttrpc carries in google.rpc.Status.code. */
enum tether_ttrpc_code {
    TETHER_TTRPC_CODE_OK = 0,
    TETHER_TTRPC_CODE_CANCELLED = 1,
    TETHER_TTRPC_CODE_UNKNOWN = 2,
    TETHER_TTRPC_CODE_INVALID_ARGUMENT = 3,
    TETHER_TTRPC_CODE_DEADLINE_EXCEEDED = 4,
    TETHER_TTRPC_CODE_NOT_FOUND = 5,
    TETHER_TTRPC_CODE_ALREADY_EXISTS = 6,
    TETHER_TTRPC_CODE_PERMISSION_DENIED = 7,
    TETHER_TTRPC_CODE_RESOURCE_EXHAUSTED = 8,
    TETHER_TTRPC_CODE_FAILED_PRECONDITION = 9,
    TETHER_TTRPC_CODE_UNIMPLEMENTED = 12,
    TETHER_TTRPC_CODE_INTERNAL = 13,
    TETHER_TTRPC_CODE_UNAVAILABLE = 14,
};

struct tether_ttrpc_header {
    uint32_t length; /* of the payload only */
    uint32_t stream_id;
    uint8_t type; /* enum tether_ttrpc_type, or anything else */
    uint8_t flags;
};

/* What the bytes at a frame boundary hold. */
enum tether_ttrpc_parse {
    TETHER_TTRPC_NEED_MORE, /* not a whole frame yet */
    TETHER_TTRPC_FRAME,     /* a whole request or response frame */
    TETHER_TTRPC_TOO_LARGE, /* the header announces more than TETHER_TTRPC_MAX_PAYLOAD */
    TETHER_TTRPC_IGNORED,   /* a frame of another type, to be skipped */
};

/* Writes h as the 10 header bytes at out. */
void tether_ttrpc_header_encode(const struct tether_ttrpc_header *h, uint8_t *out);
/* Reads the 10 header bytes at in. */
void tether_ttrpc_header_decode(const uint8_t *in, struct tether_ttrpc_header *h);

/* Classifies the len bytes at buf, which start at a frame boundary. *h is filled whenever
 * the header is complete (every result but a NEED_MORE with len < 10). On FRAME the payload
 * is at buf + 10; on TOO_LARGE and IGNORED the h->length payload bytes after the header
 * are to be dropped, not buffered. Checks the size before the type, as ttrpc does. */
enum tether_ttrpc_parse tether_ttrpc_parse(const uint8_t *buf, size_t len,
                                           struct tether_ttrpc_header *h);

/* One connection's incoming bytes: the buffer holds at most one frame's worth
 * (10 + TETHER_TTRPC_MAX_PAYLOAD bytes) and is released when the connection is idle. The
 * payload of an oversized or ignored frame is dropped as it arrives ("skip mode"). */
struct tether_ttrpc_reader {
    uint8_t *buf;
    size_t start; /* first byte not yet handed out */
    size_t len;   /* bytes in buf */
    size_t cap;
    size_t skip; /* payload bytes still to drop */
};

struct tether_ttrpc_frame {
    struct tether_ttrpc_header header;
    const uint8_t *payload; /* header.length bytes; valid until the next reserve */
};

void tether_ttrpc_reader_init(struct tether_ttrpc_reader *r);
void tether_ttrpc_reader_fini(struct tether_ttrpc_reader *r);

/* Room to read into; *avail says how much (at least 1 byte). The buffer stays within its
 * bound as long as next() is called until NEED_MORE after each commit. */
uint8_t *tether_ttrpc_reader_reserve(struct tether_ttrpc_reader *r, size_t *avail);
/* n bytes were written at the reserved place. */
void tether_ttrpc_reader_commit(struct tether_ttrpc_reader *r, size_t n);

/* Hands out what the buffered bytes hold; call until NEED_MORE. FRAME fills *frame.
 * TOO_LARGE and IGNORED fill frame->header only (payload NULL): the reader has entered
 * skip mode and drops that frame's payload as it arrives; a server answers TOO_LARGE
 * with RESOURCE_EXHAUSTED on frame->header.stream_id. */
enum tether_ttrpc_parse tether_ttrpc_reader_next(struct tether_ttrpc_reader *r,
                                                 struct tether_ttrpc_frame *frame);

/* Bytes buffered but not yet handed out. */
size_t tether_ttrpc_reader_pending(const struct tether_ttrpc_reader *r);
/* Payload bytes of a skipped frame that have not arrived yet. */
size_t tether_ttrpc_reader_skipping(const struct tether_ttrpc_reader *r);

/* ---- messages inside the frames ---- */

/* Unpacks len bytes as a message of type desc; NULL when they are not one. protobuf-c
 * allocates through xmalloc, so NULL always means bad input. Free with
 * tether_ttrpc_message_free. */
ProtobufCMessage *tether_ttrpc_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                      size_t len);
void tether_ttrpc_message_free(ProtobufCMessage *msg);
/* msg packed into a malloc'd buffer of *len bytes (never NULL, even for 0 bytes). */
uint8_t *tether_ttrpc_pack(const ProtobufCMessage *msg, size_t *len);

/* ---- server side ---- */

/* Unpacks a request frame's payload. NULL with err (kind INVALID) when it is not a
 * Request: ttrpc answers that with INVALID_ARGUMENT. Free with tether_ttrpc_request_free. */
Ttrpc__Request *tether_ttrpc_request_decode(const uint8_t *payload, size_t len,
                                            struct tether_error *err);
void tether_ttrpc_request_free(Ttrpc__Request *req);

/* The first value of metadata key (ttrpc keys are lower case), or NULL. */
const char *tether_ttrpc_request_metadata(const Ttrpc__Request *req, const char *key);

/* A whole response frame on stream_id, malloc'd, its size in *frame_len: a status with
 * code and message unless code is OK (no status means OK, as ttrpc's server sends it),
 * then payload if len > 0. NULL with err (kind TOO_LARGE) when the packed Response would
 * exceed TETHER_TTRPC_MAX_PAYLOAD (ttrpc 1.1.1's client cannot take one: answer with an
 * error instead). message may be NULL. */
uint8_t *tether_ttrpc_response_encode(uint32_t stream_id, enum tether_ttrpc_code code,
                                      const char *message, const uint8_t *payload, size_t len,
                                      size_t *frame_len, struct tether_error *err);

/* ---- client side ---- */

struct tether_ttrpc_kv {
    const char *key;
    const char *value;
};

/* One call: service and method name the RPC (e.g. "containerd.services.events.ttrpc.v1.Events"
 * and "Forward"), payload is its packed request message. */
struct tether_ttrpc_call {
    const char *service;
    const char *method;
    const uint8_t *payload;
    size_t payload_len;
    int64_t timeout_nano; /* the deadline, relative; 0 = none */
    const struct tether_ttrpc_kv *metadata;
    size_t n_metadata;
};

/* A whole request frame on stream_id (clients use odd ids: 1, 3, 5, ...), malloc'd, its
 * size in *frame_len. NULL with err (kind TOO_LARGE) when the packed Request would exceed
 * TETHER_TTRPC_MAX_PAYLOAD. */
uint8_t *tether_ttrpc_request_encode(uint32_t stream_id, const struct tether_ttrpc_call *call,
                                     size_t *frame_len, struct tether_error *err);

/* Unpacks a response frame's payload; NULL with err (kind INVALID) when it is not a
 * Response. Free with tether_ttrpc_response_free. */
Ttrpc__Response *tether_ttrpc_response_decode(const uint8_t *payload, size_t len,
                                              struct tether_error *err);
void tether_ttrpc_response_free(Ttrpc__Response *resp);

/* The response's status code (OK when it has no status) and message ("" when none). */
int32_t tether_ttrpc_response_code(const Ttrpc__Response *resp);
const char *tether_ttrpc_response_message(const Ttrpc__Response *resp);

#endif
