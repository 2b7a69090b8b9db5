#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "ttrpc.h"

/* ---- header ---- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void tether_ttrpc_header_encode(const struct tether_ttrpc_header *h, uint8_t *out)
{
    put_be32(out, h->length);
    put_be32(out + 4, h->stream_id);
    out[8] = h->type;
    out[9] = h->flags;
}

void tether_ttrpc_header_decode(const uint8_t *in, struct tether_ttrpc_header *h)
{
    h->length = get_be32(in);
    h->stream_id = get_be32(in + 4);
    h->type = in[8];
    h->flags = in[9];
}

enum tether_ttrpc_parse tether_ttrpc_parse(const uint8_t *buf, size_t len,
                                           struct tether_ttrpc_header *h)
{
    if (len < TETHER_TTRPC_HEADER_LEN)
        return TETHER_TTRPC_NEED_MORE;
    tether_ttrpc_header_decode(buf, h);
    if (h->length > TETHER_TTRPC_MAX_PAYLOAD)
        return TETHER_TTRPC_TOO_LARGE;
    if (h->type != TETHER_TTRPC_TYPE_REQUEST && h->type != TETHER_TTRPC_TYPE_RESPONSE)
        return TETHER_TTRPC_IGNORED;
    if (len - TETHER_TTRPC_HEADER_LEN < h->length)
        return TETHER_TTRPC_NEED_MORE;
    return TETHER_TTRPC_FRAME;
}

/* ---- reader ---- */

void tether_ttrpc_reader_init(struct tether_ttrpc_reader *r)
{
    memset(r, 0, sizeof(*r));
}

void tether_ttrpc_reader_fini(struct tether_ttrpc_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof(*r));
}

size_t tether_ttrpc_reader_pending(const struct tether_ttrpc_reader *r)
{
    return r->len - r->start;
}

size_t tether_ttrpc_reader_skipping(const struct tether_ttrpc_reader *r)
{
    return r->skip;
}

/* Drops what has arrived of a skipped frame's payload. */
static void reader_drop(struct tether_ttrpc_reader *r)
{
    size_t n = r->len - r->start;

    if (n > r->skip)
        n = r->skip;
    r->start += n;
    r->skip -= n;
}

uint8_t *tether_ttrpc_reader_reserve(struct tether_ttrpc_reader *r, size_t *avail)
{
    const size_t bound = TETHER_TTRPC_HEADER_LEN + TETHER_TTRPC_MAX_PAYLOAD;
    size_t pending = r->len - r->start;
    size_t want = pending + TETHER_TTRPC_READ_CHUNK;
    struct tether_ttrpc_header h;

    if (pending == 0 && r->cap > TETHER_TTRPC_READ_CHUNK) {
        /* A large frame has been handed out and nothing follows it: give the memory back
         * rather than keep up to 4 MiB per quiet connection. */
        free(r->buf);
        r->buf = NULL;
        r->cap = r->len = r->start = 0;
    }
    if (r->start > 0) {
        memmove(r->buf, r->buf + r->start, pending);
        r->len = pending;
        r->start = 0;
    }
    /* Once a header is in, make room for its whole frame at once instead of growing by a
     * chunk per read. The frame is within bounds: next() has consumed any other header. */
    if (r->skip == 0 && pending >= TETHER_TTRPC_HEADER_LEN) {
        tether_ttrpc_header_decode(r->buf, &h);
        if (h.length <= TETHER_TTRPC_MAX_PAYLOAD && TETHER_TTRPC_HEADER_LEN + h.length > want)
            want = TETHER_TTRPC_HEADER_LEN + h.length;
    }
    if (want > bound)
        want = bound;
    if (want <= pending)
        want = pending + 1; /* the caller has not drained next(): still offer a byte */
    if (r->cap < want) {
        r->buf = xrealloc(r->buf, want);
        r->cap = want;
    }
    *avail = want - pending;
    return r->buf + r->len;
}

void tether_ttrpc_reader_commit(struct tether_ttrpc_reader *r, size_t n)
{
    r->len += n;
    if (r->skip > 0)
        reader_drop(r);
}

enum tether_ttrpc_parse tether_ttrpc_reader_next(struct tether_ttrpc_reader *r,
                                                 struct tether_ttrpc_frame *frame)
{
    enum tether_ttrpc_parse res;

    if (r->skip > 0) {
        reader_drop(r);
        if (r->skip > 0)
            return TETHER_TTRPC_NEED_MORE;
    }
    if (r->len == r->start)
        return TETHER_TTRPC_NEED_MORE;
    res = tether_ttrpc_parse(r->buf + r->start, r->len - r->start, &frame->header);
    switch (res) {
    case TETHER_TTRPC_NEED_MORE:
        break;
    case TETHER_TTRPC_FRAME:
        frame->payload = r->buf + r->start + TETHER_TTRPC_HEADER_LEN;
        r->start += TETHER_TTRPC_HEADER_LEN + frame->header.length;
        break;
    case TETHER_TTRPC_TOO_LARGE:
    case TETHER_TTRPC_IGNORED:
        frame->payload = NULL;
        r->start += TETHER_TTRPC_HEADER_LEN;
        r->skip = frame->header.length;
        reader_drop(r);
        break;
    }
    return res;
}

/* ---- messages ---- */

/* protobuf-c's allocations go through xmalloc, so that a NULL from unpack means bad input,
 * never a lack of memory. */
static void *pb_alloc_cb(void *data, size_t size)
{
    (void)data;
    return xmalloc(size);
}

static void pb_free_cb(void *data, void *p)
{
    (void)data;
    free(p);
}

static ProtobufCAllocator pb_allocator(void)
{
    ProtobufCAllocator a = {.alloc = pb_alloc_cb, .free = pb_free_cb, .allocator_data = NULL};

    return a;
}

/* A frame buffer for a packed message of size bytes, its header written. */
static uint8_t *frame_alloc(uint32_t stream_id, enum tether_ttrpc_type type, size_t size,
                            size_t *frame_len, struct tether_error *err)
{
    struct tether_ttrpc_header h = {.stream_id = stream_id, .type = (uint8_t)type};
    uint8_t *frame;

    if (size > TETHER_TTRPC_MAX_PAYLOAD) {
        tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0,
                          "ttrpc message of %zu bytes exceeds the maximum of %u bytes", size,
                          TETHER_TTRPC_MAX_PAYLOAD);
        return NULL;
    }
    h.length = (uint32_t)size;
    frame = xmalloc(TETHER_TTRPC_HEADER_LEN + size);
    tether_ttrpc_header_encode(&h, frame);
    *frame_len = TETHER_TTRPC_HEADER_LEN + size;
    return frame;
}

ProtobufCMessage *tether_ttrpc_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                      size_t len)
{
    ProtobufCAllocator a = pb_allocator();

    return protobuf_c_message_unpack(desc, &a, len, data);
}

void tether_ttrpc_message_free(ProtobufCMessage *msg)
{
    ProtobufCAllocator a = pb_allocator();

    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, &a);
}

uint8_t *tether_ttrpc_pack(const ProtobufCMessage *msg, size_t *len)
{
    size_t size = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = xmalloc(size ? size : 1);

    *len = protobuf_c_message_pack(msg, buf);
    return buf;
}

Ttrpc__Request *tether_ttrpc_request_decode(const uint8_t *payload, size_t len,
                                            struct tether_error *err)
{
    ProtobufCAllocator a = pb_allocator();
    Ttrpc__Request *req = ttrpc__request__unpack(&a, len, payload);

    if (req == NULL)
        tether_error_setk(err, TETHER_ERR_INVALID, 0,
                          "ttrpc request payload (%zu bytes) is not a Request message", len);
    return req;
}

void tether_ttrpc_request_free(Ttrpc__Request *req)
{
    ProtobufCAllocator a = pb_allocator();

    ttrpc__request__free_unpacked(req, &a);
}

const char *tether_ttrpc_request_metadata(const Ttrpc__Request *req, const char *key)
{
    size_t i;

    for (i = 0; i < req->n_metadata; i++) {
        if (strcmp(req->metadata[i]->key, key) == 0)
            return req->metadata[i]->value;
    }
    return NULL;
}

uint8_t *tether_ttrpc_response_encode(uint32_t stream_id, enum tether_ttrpc_code code,
                                      const char *message, const uint8_t *payload, size_t len,
                                      size_t *frame_len, struct tether_error *err)
{
    Ttrpc__Response resp = TTRPC__RESPONSE__INIT;
    Google__Rpc__Status status = GOOGLE__RPC__STATUS__INIT;
    uint8_t *frame;

    if (code != TETHER_TTRPC_CODE_OK) {
        status.code = code;
        status.message = (char *)(message != NULL ? message : "");
        resp.status = &status;
    }
    resp.payload.data = (uint8_t *)payload;
    resp.payload.len = len;
    frame = frame_alloc(stream_id, TETHER_TTRPC_TYPE_RESPONSE,
                        ttrpc__response__get_packed_size(&resp), frame_len, err);
    if (frame != NULL)
        ttrpc__response__pack(&resp, frame + TETHER_TTRPC_HEADER_LEN);
    return frame;
}

uint8_t *tether_ttrpc_request_encode(uint32_t stream_id, const struct tether_ttrpc_call *call,
                                     size_t *frame_len, struct tether_error *err)
{
    Ttrpc__Request req = TTRPC__REQUEST__INIT;
    cleanup_free Ttrpc__KeyValue *kvs = NULL;
    cleanup_free Ttrpc__KeyValue **kvp = NULL;
    uint8_t *frame;
    size_t i;

    req.service = (char *)call->service;
    req.method = (char *)call->method;
    req.payload.data = (uint8_t *)call->payload;
    req.payload.len = call->payload_len;
    req.timeout_nano = call->timeout_nano;
    if (call->n_metadata > 0) {
        kvs = xmalloc(call->n_metadata * sizeof(*kvs));
        kvp = xmalloc(call->n_metadata * sizeof(Ttrpc__KeyValue *));
        for (i = 0; i < call->n_metadata; i++) {
            ttrpc__key_value__init(&kvs[i]);
            kvs[i].key = (char *)call->metadata[i].key;
            kvs[i].value = (char *)call->metadata[i].value;
            kvp[i] = &kvs[i];
        }
        req.n_metadata = call->n_metadata;
        req.metadata = kvp;
    }
    frame = frame_alloc(stream_id, TETHER_TTRPC_TYPE_REQUEST, ttrpc__request__get_packed_size(&req),
                        frame_len, err);
    if (frame != NULL)
        ttrpc__request__pack(&req, frame + TETHER_TTRPC_HEADER_LEN);
    return frame;
}

Ttrpc__Response *tether_ttrpc_response_decode(const uint8_t *payload, size_t len,
                                              struct tether_error *err)
{
    ProtobufCAllocator a = pb_allocator();
    Ttrpc__Response *resp = ttrpc__response__unpack(&a, len, payload);

    if (resp == NULL)
        tether_error_setk(err, TETHER_ERR_INVALID, 0,
                          "ttrpc response payload (%zu bytes) is not a Response message", len);
    return resp;
}

void tether_ttrpc_response_free(Ttrpc__Response *resp)
{
    ProtobufCAllocator a = pb_allocator();

    ttrpc__response__free_unpacked(resp, &a);
}

int32_t tether_ttrpc_response_code(const Ttrpc__Response *resp)
{
    return resp->status != NULL ? resp->status->code : TETHER_TTRPC_CODE_OK;
}

const char *tether_ttrpc_response_message(const Ttrpc__Response *resp)
{
    return resp->status != NULL ? resp->status->message : "";
}
