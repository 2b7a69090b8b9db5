/* The ttrpc codec: frame headers, the incremental reader (split delivery, several frames
 * per read, skip mode for oversized and unknown frames) and the Request/Response messages,
 * checked against the byte sequences containerd 1.6 and ttrpc 1.1.1 put on the wire. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tether/util.h>

#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "ttrpc.h"

#define TASK_SERVICE   "containerd.task.v2.Task"
#define EVENTS_SERVICE "containerd.services.events.ttrpc.v1.Events"

/* Connect{id "c1"} on stream 1, as containerd sends it. */
static const uint8_t connect_request_frame[] = {
    0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x0a, 0x17, 'c',
    'o',  'n',  't',  'a',  'i',  'n',  'e',  'r',  'd',  '.',  't',  'a',  's',
    'k',  '.',  'v',  '2',  '.',  'T',  'a',  's',  'k',  0x12, 0x07, 'C',  'o',
    'n',  'n',  'e',  'c',  't',  0x1a, 0x04, 0x0a, 0x02, 0x63, 0x31,
};
/* Response{payload: ConnectResponse{shim_pid 100, task_pid 200}}: no status, i.e. OK. */
static const uint8_t connect_response_payload[] = {0x12, 0x05, 0x08, 0x64, 0x10, 0xc8, 0x01};
/* Response{status: {code 5 (NotFound), message "not found"}}. */
static const uint8_t not_found_payload[] = {0x0a, 0x0d, 0x08, 0x05, 0x12, 0x09, 'n', 'o',
                                            't',  ' ',  'f',  'o',  'u',  'n',  'd'};

/* ---- helpers ---- */

struct got {
    enum tether_ttrpc_parse res;
    struct tether_ttrpc_header h;
    uint8_t *payload; /* a copy: the reader's pointer lives until the next reserve */
};

struct collected {
    struct got items[16];
    size_t n;
    size_t max_cap; /* the reader's largest buffer */
};

static void collected_free(struct collected *c)
{
    size_t i;

    for (i = 0; i < c->n; i++)
        free(c->items[i].payload);
    memset(c, 0, sizeof(*c));
}

static void drain(struct tether_ttrpc_reader *r, struct collected *c)
{
    struct tether_ttrpc_frame f;
    enum tether_ttrpc_parse res;

    while ((res = tether_ttrpc_reader_next(r, &f)) != TETHER_TTRPC_NEED_MORE) {
        struct got *g;

        assert_true(c->n < TETHER_ARRAY_SIZE(c->items));
        g = &c->items[c->n++];
        g->res = res;
        g->h = f.header;
        g->payload = NULL;
        if (res == TETHER_TTRPC_FRAME) {
            g->payload = xmalloc(f.header.length);
            memcpy(g->payload, f.payload, f.header.length);
        } else {
            assert_null(f.payload);
        }
    }
}

/* Delivers data to the reader step bytes at a time at most (as reads of a socket would),
 * handing out what each delivery completes. */
static void feed(struct tether_ttrpc_reader *r, const uint8_t *data, size_t len, size_t step,
                 struct collected *c)
{
    size_t off = 0;

    while (off < len) {
        size_t avail, n;
        uint8_t *p = tether_ttrpc_reader_reserve(r, &avail);

        assert_true(avail >= 1);
        assert_true(r->cap <= TETHER_TTRPC_HEADER_LEN + TETHER_TTRPC_MAX_PAYLOAD);
        if (r->cap > c->max_cap)
            c->max_cap = r->cap;
        n = len - off;
        if (n > step)
            n = step;
        if (n > avail)
            n = avail;
        memcpy(p, data + off, n);
        tether_ttrpc_reader_commit(r, n);
        off += n;
        drain(r, c);
    }
}

/* Appends src to the buffer *buf of *len bytes. */
static void append(uint8_t **buf, size_t *len, const void *src, size_t n)
{
    *buf = xrealloc(*buf, *len + n);
    memcpy(*buf + *len, src, n);
    *len += n;
}

static void append_header(uint8_t **buf, size_t *len, uint32_t length, uint32_t stream_id,
                          uint8_t type)
{
    struct tether_ttrpc_header h = {
        .length = length, .stream_id = stream_id, .type = type, .flags = 0};
    uint8_t raw[TETHER_TTRPC_HEADER_LEN];

    tether_ttrpc_header_encode(&h, raw);
    append(buf, len, raw, sizeof(raw));
}

/* The whole Connect{id} request frame the encoder makes on stream_id. */
static uint8_t *connect_request(uint32_t stream_id, const char *id, size_t *len)
{
    Containerd__Task__V2__ConnectRequest msg = CONTAINERD__TASK__V2__CONNECT_REQUEST__INIT;
    struct tether_ttrpc_call call = {.service = TASK_SERVICE, .method = "Connect"};
    struct tether_error err = {0};
    uint8_t packed[64];
    uint8_t *frame;

    msg.id = (char *)id;
    assert_true(containerd__task__v2__connect_request__get_packed_size(&msg) <= sizeof(packed));
    call.payload = packed;
    call.payload_len = containerd__task__v2__connect_request__pack(&msg, packed);
    frame = tether_ttrpc_request_encode(stream_id, &call, len, &err);
    assert_non_null(frame);
    return frame;
}

/* ---- header and parse ---- */

static void test_header_big_endian(void **state)
{
    struct tether_ttrpc_header h = {
        .length = 0x01020304, .stream_id = 0xa0b0c0d0, .type = 2, .flags = 0x7f};
    static const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0xa0, 0xb0, 0xc0, 0xd0, 0x02, 0x7f};
    uint8_t raw[TETHER_TTRPC_HEADER_LEN];
    struct tether_ttrpc_header back;

    (void)state;
    tether_ttrpc_header_encode(&h, raw);
    assert_memory_equal(raw, want, sizeof(want));
    tether_ttrpc_header_decode(raw, &back);
    assert_int_equal(back.length, h.length);
    assert_int_equal(back.stream_id, h.stream_id);
    assert_int_equal(back.type, h.type);
    assert_int_equal(back.flags, h.flags);
}

static void test_parse_results(void **state)
{
    const uint8_t *f = connect_request_frame;
    uint8_t buf[TETHER_TTRPC_HEADER_LEN + 4] = {0};
    struct tether_ttrpc_header h;
    size_t i;

    (void)state;
    /* Any prefix of a frame is NEED_MORE; the whole of it is FRAME. */
    for (i = 0; i < sizeof(connect_request_frame); i++)
        assert_int_equal(tether_ttrpc_parse(f, i, &h), TETHER_TTRPC_NEED_MORE);
    assert_int_equal(tether_ttrpc_parse(f, sizeof(connect_request_frame), &h), TETHER_TTRPC_FRAME);
    assert_int_equal(h.length, 0x28);
    assert_int_equal(h.stream_id, 1);
    assert_int_equal(h.type, TETHER_TTRPC_TYPE_REQUEST);

    /* The size is judged from the header alone, before the type. */
    buf[0] = 0x00, buf[1] = 0x40, buf[2] = 0x00, buf[3] = 0x01; /* 4 MiB + 1 */
    buf[7] = 9, buf[8] = 7;
    assert_int_equal(tether_ttrpc_parse(buf, TETHER_TTRPC_HEADER_LEN, &h), TETHER_TTRPC_TOO_LARGE);
    assert_int_equal(h.length, TETHER_TTRPC_MAX_PAYLOAD + 1);
    assert_int_equal(h.stream_id, 9);
    /* Exactly the maximum is allowed: it only needs its bytes. */
    buf[3] = 0x00, buf[8] = TETHER_TTRPC_TYPE_REQUEST;
    assert_int_equal(tether_ttrpc_parse(buf, sizeof(buf), &h), TETHER_TTRPC_NEED_MORE);
    assert_int_equal(h.length, TETHER_TTRPC_MAX_PAYLOAD);
    /* Other types are known as soon as the header is in. */
    buf[0] = buf[1] = buf[2] = 0, buf[3] = 100;
    buf[8] = 3;
    assert_int_equal(tether_ttrpc_parse(buf, TETHER_TTRPC_HEADER_LEN, &h), TETHER_TTRPC_IGNORED);
    buf[8] = 0;
    assert_int_equal(tether_ttrpc_parse(buf, TETHER_TTRPC_HEADER_LEN, &h), TETHER_TTRPC_IGNORED);
}

/* ---- the examples of compat section 2 ---- */

static void test_connect_request_bytes(void **state)
{
    struct tether_ttrpc_reader r;
    struct collected c = {0};
    struct tether_error err = {0};
    Containerd__Task__V2__ConnectRequest *msg;
    Ttrpc__Request *req;
    uint8_t *frame;
    size_t len;

    (void)state;
    frame = connect_request(1, "c1", &len);
    assert_int_equal(len, sizeof(connect_request_frame));
    assert_memory_equal(frame, connect_request_frame, len);
    free(frame);

    /* And what the server makes of containerd's bytes. */
    tether_ttrpc_reader_init(&r);
    feed(&r, connect_request_frame, sizeof(connect_request_frame), 4096, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].res, TETHER_TTRPC_FRAME);
    assert_int_equal(c.items[0].h.stream_id, 1);
    req = tether_ttrpc_request_decode(c.items[0].payload, c.items[0].h.length, &err);
    assert_non_null(req);
    assert_string_equal(req->service, TASK_SERVICE);
    assert_string_equal(req->method, "Connect");
    assert_int_equal(req->timeout_nano, 0);
    assert_int_equal(req->n_metadata, 0);
    msg = containerd__task__v2__connect_request__unpack(NULL, req->payload.len, req->payload.data);
    assert_non_null(msg);
    assert_string_equal(msg->id, "c1");
    containerd__task__v2__connect_request__free_unpacked(msg, NULL);
    tether_ttrpc_request_free(req);
    collected_free(&c);
    tether_ttrpc_reader_fini(&r);
}

static void test_connect_response_bytes(void **state)
{
    Containerd__Task__V2__ConnectResponse out = CONTAINERD__TASK__V2__CONNECT_RESPONSE__INIT;
    Containerd__Task__V2__ConnectResponse *in;
    static const uint8_t header[] = {0, 0, 0, 7, 0, 0, 0, 1, TETHER_TTRPC_TYPE_RESPONSE, 0};
    struct tether_error err = {0};
    Ttrpc__Response *resp;
    uint8_t packed[16];
    uint8_t *frame;
    size_t n, len;

    (void)state;
    out.shim_pid = 100;
    out.task_pid = 200;
    n = containerd__task__v2__connect_response__pack(&out, packed);
    frame = tether_ttrpc_response_encode(1, TETHER_TTRPC_CODE_OK, NULL, packed, n, &len, &err);
    assert_non_null(frame);
    assert_int_equal(len, sizeof(header) + sizeof(connect_response_payload));
    assert_memory_equal(frame, header, sizeof(header));
    assert_memory_equal(frame + sizeof(header), connect_response_payload,
                        sizeof(connect_response_payload));
    free(frame);

    resp = tether_ttrpc_response_decode(connect_response_payload, sizeof(connect_response_payload),
                                        &err);
    assert_non_null(resp);
    assert_null(resp->status);
    assert_int_equal(tether_ttrpc_response_code(resp), TETHER_TTRPC_CODE_OK);
    assert_string_equal(tether_ttrpc_response_message(resp), "");
    in =
        containerd__task__v2__connect_response__unpack(NULL, resp->payload.len, resp->payload.data);
    assert_non_null(in);
    assert_int_equal(in->shim_pid, 100);
    assert_int_equal(in->task_pid, 200);
    assert_string_equal(in->version, "");
    containerd__task__v2__connect_response__free_unpacked(in, NULL);
    tether_ttrpc_response_free(resp);
}

static void test_not_found_bytes(void **state)
{
    struct tether_error err = {0};
    Ttrpc__Response *resp;
    uint8_t *frame;
    size_t len;

    (void)state;
    frame = tether_ttrpc_response_encode(3, TETHER_TTRPC_CODE_NOT_FOUND, "not found", NULL, 0, &len,
                                         &err);
    assert_non_null(frame);
    assert_int_equal(len, TETHER_TTRPC_HEADER_LEN + sizeof(not_found_payload));
    assert_int_equal(frame[3], sizeof(not_found_payload));
    assert_int_equal(frame[7], 3);
    assert_memory_equal(frame + TETHER_TTRPC_HEADER_LEN, not_found_payload,
                        sizeof(not_found_payload));
    free(frame);

    resp = tether_ttrpc_response_decode(not_found_payload, sizeof(not_found_payload), &err);
    assert_non_null(resp);
    assert_int_equal(tether_ttrpc_response_code(resp), TETHER_TTRPC_CODE_NOT_FOUND);
    assert_string_equal(tether_ttrpc_response_message(resp), "not found");
    assert_int_equal(resp->payload.len, 0);
    tether_ttrpc_response_free(resp);
}

/* An OK response with no payload (google.protobuf.Empty) is a bare header. */
static void test_empty_ok_response(void **state)
{
    static const uint8_t want[] = {0, 0, 0, 0, 0, 0, 0, 5, TETHER_TTRPC_TYPE_RESPONSE, 0};
    struct tether_error err = {0};
    Ttrpc__Response *resp;
    uint8_t *frame;
    size_t len;

    (void)state;
    /* The message of an OK status goes nowhere. */
    frame = tether_ttrpc_response_encode(5, TETHER_TTRPC_CODE_OK, "ignored", NULL, 0, &len, &err);
    assert_non_null(frame);
    assert_int_equal(len, sizeof(want));
    assert_memory_equal(frame, want, sizeof(want));
    free(frame);
    resp = tether_ttrpc_response_decode(NULL, 0, &err);
    assert_non_null(resp);
    assert_int_equal(tether_ttrpc_response_code(resp), TETHER_TTRPC_CODE_OK);
    tether_ttrpc_response_free(resp);
}

/* ---- the reader ---- */

/* Three frames back to back: a request, a NotFound response and an Empty OK response. */
static uint8_t *three_frames(size_t *len)
{
    uint8_t *buf = NULL;

    *len = 0;
    append(&buf, len, connect_request_frame, sizeof(connect_request_frame));
    append_header(&buf, len, sizeof(not_found_payload), 3, TETHER_TTRPC_TYPE_RESPONSE);
    append(&buf, len, not_found_payload, sizeof(not_found_payload));
    append_header(&buf, len, 0, 5, TETHER_TTRPC_TYPE_RESPONSE);
    return buf;
}

static void check_three_frames(const struct collected *c)
{
    assert_int_equal(c->n, 3);
    assert_int_equal(c->items[0].res, TETHER_TTRPC_FRAME);
    assert_int_equal(c->items[0].h.stream_id, 1);
    assert_int_equal(c->items[0].h.type, TETHER_TTRPC_TYPE_REQUEST);
    assert_int_equal(c->items[0].h.length, 0x28);
    assert_memory_equal(c->items[0].payload, connect_request_frame + TETHER_TTRPC_HEADER_LEN, 0x28);
    assert_int_equal(c->items[1].res, TETHER_TTRPC_FRAME);
    assert_int_equal(c->items[1].h.stream_id, 3);
    assert_int_equal(c->items[1].h.type, TETHER_TTRPC_TYPE_RESPONSE);
    assert_int_equal(c->items[1].h.length, sizeof(not_found_payload));
    assert_memory_equal(c->items[1].payload, not_found_payload, sizeof(not_found_payload));
    assert_int_equal(c->items[2].res, TETHER_TTRPC_FRAME);
    assert_int_equal(c->items[2].h.stream_id, 5);
    assert_int_equal(c->items[2].h.length, 0);
}

static void test_reader_byte_by_byte(void **state)
{
    struct tether_ttrpc_reader r;
    struct collected c = {0};
    size_t len, i, before;
    uint8_t *all = three_frames(&len);

    (void)state;
    tether_ttrpc_reader_init(&r);
    /* Nothing comes out until a frame's last byte is in. */
    for (i = 0; i < len; i++) {
        before = c.n;
        feed(&r, all + i, 1, 1, &c);
        if (i + 1 == sizeof(connect_request_frame))
            assert_int_equal(c.n, 1);
        else if (i + 1 == sizeof(connect_request_frame) + TETHER_TTRPC_HEADER_LEN +
                              sizeof(not_found_payload))
            assert_int_equal(c.n, 2);
        else if (i + 1 == len)
            assert_int_equal(c.n, 3);
        else
            assert_int_equal(c.n, before);
    }
    check_three_frames(&c);
    assert_int_equal(tether_ttrpc_reader_pending(&r), 0);
    collected_free(&c);
    tether_ttrpc_reader_fini(&r);
    free(all);
}

static void test_reader_frames_in_one_read(void **state)
{
    struct tether_ttrpc_reader r;
    struct collected c = {0};
    size_t len;
    uint8_t *all = three_frames(&len);
    uint8_t *twice = NULL;
    size_t twice_len = 0;

    (void)state;
    tether_ttrpc_reader_init(&r);
    feed(&r, all, len, len, &c);
    check_three_frames(&c);
    collected_free(&c);

    /* A read that ends inside the second batch's first frame. */
    append(&twice, &twice_len, all, len);
    append(&twice, &twice_len, all, len);
    feed(&r, twice, len + 13, len + 13, &c);
    check_three_frames(&c);
    assert_int_equal(tether_ttrpc_reader_pending(&r), 13);
    collected_free(&c);
    feed(&r, twice + len + 13, len - 13, len, &c);
    check_three_frames(&c);
    collected_free(&c);

    tether_ttrpc_reader_fini(&r);
    free(twice);
    free(all);
}

/* A header announcing more than the maximum: reported at once with its stream id, its
 * payload dropped as it arrives without ever being buffered, and the frame after it read
 * as usual, in the same read as the oversized payload's tail. */
static void test_reader_oversized(void **state)
{
    const size_t big = TETHER_TTRPC_MAX_PAYLOAD + 1000;
    struct tether_ttrpc_reader r;
    struct collected c = {0};
    struct tether_error err = {0};
    Ttrpc__Response *resp;
    uint8_t *buf = NULL, *filler, *frame;
    size_t len = 0, frame_len;

    (void)state;
    append_header(&buf, &len, (uint32_t)big, 7, TETHER_TTRPC_TYPE_REQUEST);
    filler = xmalloc(big);
    /* The filler looks like headers of frames, which must not be taken for any. */
    memset(filler, 0x01, big);
    append(&buf, &len, filler, big);
    free(filler);
    append(&buf, &len, connect_request_frame, sizeof(connect_request_frame));

    tether_ttrpc_reader_init(&r);
    feed(&r, buf, TETHER_TTRPC_HEADER_LEN + 100, TETHER_TTRPC_READ_CHUNK, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].res, TETHER_TTRPC_TOO_LARGE);
    assert_int_equal(c.items[0].h.stream_id, 7);
    assert_int_equal(c.items[0].h.length, big);
    assert_int_equal(tether_ttrpc_reader_skipping(&r), big - 100);
    assert_int_equal(tether_ttrpc_reader_pending(&r), 0);

    feed(&r, buf + TETHER_TTRPC_HEADER_LEN + 100, len - TETHER_TTRPC_HEADER_LEN - 100,
         TETHER_TTRPC_READ_CHUNK, &c);
    assert_true(c.max_cap <= TETHER_TTRPC_READ_CHUNK);
    assert_int_equal(tether_ttrpc_reader_skipping(&r), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.items[1].res, TETHER_TTRPC_FRAME);
    assert_int_equal(c.items[1].h.stream_id, 1);
    assert_memory_equal(c.items[1].payload, connect_request_frame + TETHER_TTRPC_HEADER_LEN, 0x28);
    collected_free(&c);

    /* What a server answers on that stream. */
    frame = tether_ttrpc_response_encode(7, TETHER_TTRPC_CODE_RESOURCE_EXHAUSTED,
                                         "message too large", NULL, 0, &frame_len, &err);
    assert_non_null(frame);
    assert_int_equal(frame[7], 7);
    resp = tether_ttrpc_response_decode(frame + TETHER_TTRPC_HEADER_LEN,
                                        frame_len - TETHER_TTRPC_HEADER_LEN, &err);
    assert_non_null(resp);
    assert_int_equal(tether_ttrpc_response_code(resp), TETHER_TTRPC_CODE_RESOURCE_EXHAUSTED);
    tether_ttrpc_response_free(resp);
    free(frame);

    /* The largest length a header can hold, delivered byte by byte at the start. */
    free(buf);
    buf = NULL;
    len = 0;
    append_header(&buf, &len, UINT32_MAX, 9, TETHER_TTRPC_TYPE_RESPONSE);
    feed(&r, buf, len, 1, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].res, TETHER_TTRPC_TOO_LARGE);
    assert_int_equal(c.items[0].h.stream_id, 9);
    assert_int_equal(tether_ttrpc_reader_skipping(&r), UINT32_MAX);
    collected_free(&c);

    tether_ttrpc_reader_fini(&r);
    free(buf);
}

/* A frame of exactly the maximum is buffered whole (within the bound), and the memory is
 * given back once it has been handed out. */
static void test_reader_largest_frame(void **state)
{
    struct tether_ttrpc_reader r;
    struct collected c = {0};
    uint8_t *buf = NULL, *payload;
    size_t len = 0, avail;

    (void)state;
    append_header(&buf, &len, TETHER_TTRPC_MAX_PAYLOAD, 11, TETHER_TTRPC_TYPE_RESPONSE);
    payload = xmalloc(TETHER_TTRPC_MAX_PAYLOAD);
    memset(payload, 0x5a, TETHER_TTRPC_MAX_PAYLOAD);
    append(&buf, &len, payload, TETHER_TTRPC_MAX_PAYLOAD);

    tether_ttrpc_reader_init(&r);
    feed(&r, buf, 100, 100, &c);
    assert_int_equal(c.n, 0);
    /* With the header in, the rest of the frame fits in one reserve. */
    tether_ttrpc_reader_reserve(&r, &avail);
    assert_int_equal(avail, len - 100);
    feed(&r, buf + 100, len - 100, TETHER_TTRPC_READ_CHUNK, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.items[0].res, TETHER_TTRPC_FRAME);
    assert_int_equal(c.items[0].h.length, TETHER_TTRPC_MAX_PAYLOAD);
    assert_memory_equal(c.items[0].payload, payload, TETHER_TTRPC_MAX_PAYLOAD);
    assert_int_equal(c.max_cap, TETHER_TTRPC_HEADER_LEN + TETHER_TTRPC_MAX_PAYLOAD);
    tether_ttrpc_reader_reserve(&r, &avail);
    assert_true(r.cap <= TETHER_TTRPC_READ_CHUNK);
    assert_int_equal(avail, TETHER_TTRPC_READ_CHUNK);

    collected_free(&c);
    tether_ttrpc_reader_fini(&r);
    free(payload);
    free(buf);
}

/* Frames of other types (a later ttrpc's data frames, or nonsense) are skipped whole,
 * whether their payload comes with the header or later. */
static void test_reader_unknown_type(void **state)
{
    static const uint8_t junk[] = "\x00\x00\x00\x0a\x00\x00\x00\x01\x01\x00"; /* a header */
    struct tether_ttrpc_reader r;
    struct collected c = {0};
    uint8_t *buf = NULL;
    size_t len = 0;

    (void)state;
    append_header(&buf, &len, sizeof(junk), 1, 3);
    append(&buf, &len, junk, sizeof(junk));
    append_header(&buf, &len, 0, 3, 0);
    append_header(&buf, &len, 2, 5, 0xff);
    append(&buf, &len, "\x01\x02", 2);
    append(&buf, &len, connect_request_frame, sizeof(connect_request_frame));

    tether_ttrpc_reader_init(&r);
    feed(&r, buf, len, len, &c);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.items[0].res, TETHER_TTRPC_IGNORED);
    assert_int_equal(c.items[0].h.type, 3);
    assert_int_equal(c.items[1].res, TETHER_TTRPC_IGNORED);
    assert_int_equal(c.items[1].h.type, 0);
    assert_int_equal(c.items[2].res, TETHER_TTRPC_IGNORED);
    assert_int_equal(c.items[2].h.stream_id, 5);
    assert_int_equal(c.items[3].res, TETHER_TTRPC_FRAME);
    assert_int_equal(c.items[3].h.stream_id, 1);
    collected_free(&c);

    feed(&r, buf, len, 1, &c);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.items[0].res, TETHER_TTRPC_IGNORED);
    assert_int_equal(c.items[3].res, TETHER_TTRPC_FRAME);
    collected_free(&c);

    tether_ttrpc_reader_fini(&r);
    free(buf);
}

/* ---- messages ---- */

/* Payloads that are not Request or Response messages: unpack refuses them, and the error
 * says so. None of them may crash (the sanitizers watch). */
static void test_garbage_payload(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
        bool request, response; /* not a Request, not a Response */
    } bad[] = {
        {"\xff", 1, true, true},         /* varint cut short */
        {"\x0a\x05\x61", 3, true, true}, /* field runs past end */
        {"\x0a", 1, true, true},         /* no length */
        {"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12, true, true}, /* 11-byte varint */
        {"\x0a\xff\xff\xff\xff\x0f", 6, true, true},                          /* 4 GiB string */
        {"\x0f", 1, true, true},                                              /* wire type 7 */
        {"\x0b\x0c", 2, true, true},                                          /* a group */
        /* metadata cut short; to a Response, field 5 is unknown and skipped */
        {"\x2a\x04\x0a\x09\x61\x62", 6, true, false},
        /* status cut short; to a Request, service "\x08\x05\x12" */
        {"\x0a\x03\x08\x05\x12", 5, false, true},
    };
    struct tether_error err;
    Ttrpc__Request *req;
    Ttrpc__Response *resp;
    uint8_t noise[256];
    uint32_t x = 2463534242u;
    size_t i, j;

    (void)state;
    for (i = 0; i < TETHER_ARRAY_SIZE(bad); i++) {
        const uint8_t *p = (const uint8_t *)bad[i].bytes;

        memset(&err, 0, sizeof(err));
        req = tether_ttrpc_request_decode(p, bad[i].len, &err);
        if (bad[i].request) {
            if (req != NULL)
                fail_msg("garbage #%zu decoded as a Request", i);
            assert_int_equal(err.kind, TETHER_ERR_INVALID);
            assert_non_null(strstr(err.msg, "not a Request"));
        } else {
            assert_non_null(req);
        }
        tether_ttrpc_request_free(req);
        memset(&err, 0, sizeof(err));
        resp = tether_ttrpc_response_decode(p, bad[i].len, &err);
        if (bad[i].response) {
            if (resp != NULL)
                fail_msg("garbage #%zu decoded as a Response", i);
            assert_int_equal(err.kind, TETHER_ERR_INVALID);
            assert_non_null(strstr(err.msg, "not a Response"));
        } else {
            assert_non_null(resp);
        }
        tether_ttrpc_response_free(resp);
    }

    /* Noise: whatever unpack makes of it, it returns, and what it returns can be freed. */
    for (i = 0; i < 20000; i++) {
        size_t n = 1 + i % sizeof(noise);

        for (j = 0; j < n; j++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            noise[j] = (uint8_t)x;
        }
        tether_ttrpc_request_free(tether_ttrpc_request_decode(noise, n, NULL));
        tether_ttrpc_response_free(tether_ttrpc_response_decode(noise, n, NULL));
    }
}

static void test_too_large_to_send(void **state)
{
    struct tether_ttrpc_call call = {.service = EVENTS_SERVICE, .method = "Forward"};
    struct tether_error err = {0};
    uint8_t *payload = xzalloc(TETHER_TTRPC_MAX_PAYLOAD);
    size_t len = 0;

    (void)state;
    /* The payload alone fits; with the Response/Request around it, it does not. */
    assert_null(tether_ttrpc_response_encode(1, TETHER_TTRPC_CODE_OK, NULL, payload,
                                             TETHER_TTRPC_MAX_PAYLOAD, &len, &err));
    assert_int_equal(err.kind, TETHER_ERR_TOO_LARGE);
    memset(&err, 0, sizeof(err));
    call.payload = payload;
    call.payload_len = TETHER_TTRPC_MAX_PAYLOAD;
    assert_null(tether_ttrpc_request_encode(1, &call, &len, &err));
    assert_int_equal(err.kind, TETHER_ERR_TOO_LARGE);
    free(payload);
}

/* The packed Forward{Envelope{TaskExit}} the shim's events client sends. */
static uint8_t *forward_payload(size_t *len)
{
    Containerd__Events__TaskExit exit_ev = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    Google__Protobuf__Timestamp exited = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Timestamp stamp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    Containerd__Services__Events__Ttrpc__V1__Envelope env =
        CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
    Containerd__Services__Events__Ttrpc__V1__ForwardRequest fwd =
        CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
    uint8_t packed_exit[128];
    uint8_t *out;

    exited.seconds = 1700000000;
    exited.nanos = 5;
    exit_ev.container_id = "web";
    exit_ev.id = "web";
    exit_ev.pid = 4242;
    exit_ev.exit_status = 137;
    exit_ev.exited_at = &exited;
    assert_true(containerd__events__task_exit__get_packed_size(&exit_ev) <= sizeof(packed_exit));
    any.type_url = "containerd.events.TaskExit";
    any.value.len = containerd__events__task_exit__pack(&exit_ev, packed_exit);
    any.value.data = packed_exit;
    stamp.seconds = 1700000001;
    env.timestamp = &stamp;
    env.namespace_ = "default";
    env.topic = "/tasks/exit";
    env.event = &any;
    fwd.envelope = &env;
    *len = containerd__services__events__ttrpc__v1__forward_request__get_packed_size(&fwd);
    out = xmalloc(*len);
    containerd__services__events__ttrpc__v1__forward_request__pack(&fwd, out);
    return out;
}

/* Client request -> server reader and decode -> response -> client reader and decode. */
static void test_round_trip(void **state)
{
    static const struct tether_ttrpc_kv md[] = {
        {"containerd-namespace-ttrpc", "default"},
        {"trace", "a"},
        {"trace", "b"},
    };
    struct tether_ttrpc_call call = {
        .service = EVENTS_SERVICE,
        .method = "Forward",
        .timeout_nano = 5000000000,
        .metadata = md,
        .n_metadata = TETHER_ARRAY_SIZE(md),
    };
    struct tether_ttrpc_reader server, client;
    struct collected c = {0};
    struct tether_error err = {0};
    Containerd__Services__Events__Ttrpc__V1__ForwardRequest *fwd;
    Containerd__Events__TaskExit *exit_ev;
    Ttrpc__Request *req;
    Ttrpc__Response *resp;
    uint8_t *payload, *frame, *frames = NULL;
    size_t payload_len, frame_len, frames_len = 0;

    (void)state;
    tether_ttrpc_reader_init(&server);
    tether_ttrpc_reader_init(&client);

    /* Client: two calls on streams 1 and 3. */
    payload = forward_payload(&payload_len);
    call.payload = payload;
    call.payload_len = payload_len;
    frame = tether_ttrpc_request_encode(1, &call, &frame_len, &err);
    assert_non_null(frame);
    append(&frames, &frames_len, frame, frame_len);
    free(frame);
    call.method = "Nope";
    call.n_metadata = 0;
    call.timeout_nano = 0;
    frame = tether_ttrpc_request_encode(3, &call, &frame_len, &err);
    assert_non_null(frame);
    append(&frames, &frames_len, frame, frame_len);
    free(frame);

    /* Server: reads both, in reads of 7 bytes. */
    feed(&server, frames, frames_len, 7, &c);
    free(frames);
    frames = NULL;
    frames_len = 0;
    assert_int_equal(c.n, 2);
    assert_int_equal(c.items[0].res, TETHER_TTRPC_FRAME);
    assert_int_equal(c.items[0].h.type, TETHER_TTRPC_TYPE_REQUEST);
    assert_int_equal(c.items[0].h.stream_id, 1);
    req = tether_ttrpc_request_decode(c.items[0].payload, c.items[0].h.length, &err);
    assert_non_null(req);
    assert_string_equal(req->service, EVENTS_SERVICE);
    assert_string_equal(req->method, "Forward");
    assert_int_equal(req->timeout_nano, 5000000000);
    assert_int_equal(req->n_metadata, 3);
    assert_string_equal(tether_ttrpc_request_metadata(req, "containerd-namespace-ttrpc"),
                        "default");
    assert_string_equal(tether_ttrpc_request_metadata(req, "trace"), "a");
    assert_null(tether_ttrpc_request_metadata(req, "missing"));
    assert_memory_equal(req->payload.data, payload, payload_len);
    fwd = containerd__services__events__ttrpc__v1__forward_request__unpack(NULL, req->payload.len,
                                                                           req->payload.data);
    assert_non_null(fwd);
    assert_non_null(fwd->envelope);
    assert_string_equal(fwd->envelope->namespace_, "default");
    assert_string_equal(fwd->envelope->topic, "/tasks/exit");
    assert_int_equal(fwd->envelope->timestamp->seconds, 1700000001);
    assert_string_equal(fwd->envelope->event->type_url, "containerd.events.TaskExit");
    exit_ev = containerd__events__task_exit__unpack(NULL, fwd->envelope->event->value.len,
                                                    fwd->envelope->event->value.data);
    assert_non_null(exit_ev);
    assert_string_equal(exit_ev->container_id, "web");
    assert_int_equal(exit_ev->pid, 4242);
    assert_int_equal(exit_ev->exit_status, 137);
    assert_int_equal(exit_ev->exited_at->seconds, 1700000000);
    assert_int_equal(exit_ev->exited_at->nanos, 5);
    containerd__events__task_exit__free_unpacked(exit_ev, NULL);
    containerd__services__events__ttrpc__v1__forward_request__free_unpacked(fwd, NULL);
    tether_ttrpc_request_free(req);

    req = tether_ttrpc_request_decode(c.items[1].payload, c.items[1].h.length, &err);
    assert_non_null(req);
    assert_int_equal(c.items[1].h.stream_id, 3);
    assert_string_equal(req->method, "Nope");
    assert_int_equal(req->n_metadata, 0);
    assert_int_equal(req->timeout_nano, 0);
    tether_ttrpc_request_free(req);
    collected_free(&c);

    /* Server: answers the second first, then the first (google.protobuf.Empty). */
    frame = tether_ttrpc_response_encode(3, TETHER_TTRPC_CODE_UNIMPLEMENTED, "method Nope", NULL, 0,
                                         &frame_len, &err);
    assert_non_null(frame);
    append(&frames, &frames_len, frame, frame_len);
    free(frame);
    frame = tether_ttrpc_response_encode(1, TETHER_TTRPC_CODE_OK, NULL, NULL, 0, &frame_len, &err);
    assert_non_null(frame);
    append(&frames, &frames_len, frame, frame_len);
    free(frame);

    /* Client: reads both in one read. */
    feed(&client, frames, frames_len, frames_len, &c);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.items[0].h.type, TETHER_TTRPC_TYPE_RESPONSE);
    assert_int_equal(c.items[0].h.stream_id, 3);
    resp = tether_ttrpc_response_decode(c.items[0].payload, c.items[0].h.length, &err);
    assert_non_null(resp);
    assert_int_equal(tether_ttrpc_response_code(resp), TETHER_TTRPC_CODE_UNIMPLEMENTED);
    assert_string_equal(tether_ttrpc_response_message(resp), "method Nope");
    tether_ttrpc_response_free(resp);
    assert_int_equal(c.items[1].h.stream_id, 1);
    resp = tether_ttrpc_response_decode(c.items[1].payload, c.items[1].h.length, &err);
    assert_non_null(resp);
    assert_int_equal(tether_ttrpc_response_code(resp), TETHER_TTRPC_CODE_OK);
    assert_int_equal(resp->payload.len, 0);
    tether_ttrpc_response_free(resp);

    collected_free(&c);
    free(frames);
    free(payload);
    tether_ttrpc_reader_fini(&server);
    tether_ttrpc_reader_fini(&client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_big_endian),
        cmocka_unit_test(test_parse_results),
        cmocka_unit_test(test_connect_request_bytes),
        cmocka_unit_test(test_connect_response_bytes),
        cmocka_unit_test(test_not_found_bytes),
        cmocka_unit_test(test_empty_ok_response),
        cmocka_unit_test(test_reader_byte_by_byte),
        cmocka_unit_test(test_reader_frames_in_one_read),
        cmocka_unit_test(test_reader_oversized),
        cmocka_unit_test(test_reader_largest_frame),
        cmocka_unit_test(test_reader_unknown_type),
        cmocka_unit_test(test_garbage_payload),
        cmocka_unit_test(test_too_large_to_send),
        cmocka_unit_test(test_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
