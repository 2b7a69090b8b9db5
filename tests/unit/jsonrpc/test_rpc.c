/* The protocol's input path, piece by piece: the line framer, the JSON-RPC decoder, the
 * mapping of error kinds onto protocol codes, and the parameter validation every method
 * is built from. Each hostile input the integration tests send over a socket is checked
 * here against the one module that must refuse it. */
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <tether/client.h>
#include <tether/util.h>

#include "framer.h"
#include "params.h"
#include "rpc.h"

#define DEEP_NESTING 100000

/* ---- framer ---- */

/* Feeds data into f in pieces of at most piece bytes (as reads of that size would). */
static void feed(struct tether_framer *f, const char *data, size_t len, size_t piece)
{
    while (len > 0) {
        size_t avail, n;
        char *dst = tether_framer_reserve(f, &avail);

        assert_true(avail >= 1);
        n = len < avail ? len : avail;
        if (n > piece)
            n = piece;
        memcpy(dst, data, n);
        tether_framer_commit(f, n);
        data += n;
        len -= n;
    }
}

/* The next line must be want (compared with its length, NULs included). */
static void expect_line(struct tether_framer *f, const char *want, size_t want_len)
{
    char *line = NULL;
    size_t len = 0;

    assert_int_equal(tether_framer_next(f, &line, &len), 1);
    assert_int_equal(len, want_len);
    assert_memory_equal(line, want, want_len);
    assert_int_equal(line[len], '\0'); /* NUL-terminated in place of the '\n' */
}

static void expect_none(struct tether_framer *f)
{
    char *line = NULL;
    size_t len = 0;

    assert_int_equal(tether_framer_next(f, &line, &len), 0);
}

static void test_framer_lines_in_one_chunk(void **state)
{
    static const char chunk[] = "one\ntwo\n\nthree\npartial";
    struct tether_framer f;

    (void)state;
    tether_framer_init(&f, 64);
    feed(&f, chunk, sizeof(chunk) - 1, SIZE_MAX);
    expect_line(&f, "one", 3);
    expect_line(&f, "two", 3);
    expect_line(&f, "", 0); /* an empty line is a line (the decoder refuses it) */
    expect_line(&f, "three", 5);
    expect_none(&f);
    assert_int_equal(tether_framer_pending(&f), strlen("partial"));
    feed(&f, " end\n", 5, SIZE_MAX);
    expect_line(&f, "partial end", 11);
    expect_none(&f);
    assert_int_equal(tether_framer_pending(&f), 0);
    tether_framer_fini(&f);
}

static void test_framer_one_byte_pieces(void **state)
{
    static const char msg[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\"}\n"
                              "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"wait\"}\n";
    const char *second = strchr(msg, '\n') + 1;
    struct tether_framer f;
    size_t i;

    (void)state;
    tether_framer_init(&f, 1024);
    /* Nothing comes out until the '\n' of each line has arrived. */
    for (i = 0; msg + i < second - 1; i++) {
        feed(&f, msg + i, 1, 1);
        expect_none(&f);
    }
    feed(&f, second - 1, 1, 1);
    expect_line(&f, msg, (size_t)(second - 1 - msg));
    for (i = 0; second[i] != '\n'; i++) {
        feed(&f, second + i, 1, 1);
        expect_none(&f);
    }
    feed(&f, "\n", 1, 1);
    expect_line(&f, second, i);
    expect_none(&f);
    tether_framer_fini(&f);
}

static void test_framer_exactly_max(void **state)
{
    enum { MAX = 100 };
    char line[MAX + 2];
    struct tether_framer f;

    (void)state;
    memset(line, 'a', MAX);
    line[MAX] = '\n';
    tether_framer_init(&f, MAX);
    feed(&f, line, MAX + 1, 7);
    expect_line(&f, line, MAX);
    /* The same again in one piece, and again without its '\n' for a while. */
    feed(&f, line, MAX + 1, SIZE_MAX);
    expect_line(&f, line, MAX);
    feed(&f, line, MAX, SIZE_MAX);
    expect_none(&f);
    feed(&f, "\n", 1, SIZE_MAX);
    expect_line(&f, line, MAX);
    tether_framer_fini(&f);
}

static void test_framer_max_plus_one(void **state)
{
    enum { MAX = 100 };
    char line[MAX + 2];
    char *out = NULL;
    size_t len = 0, avail = 0;
    struct tether_framer f;

    (void)state;
    memset(line, 'b', MAX + 1);
    line[MAX + 1] = '\n';

    /* Without a '\n': refused as soon as max + 1 bytes are pending. */
    tether_framer_init(&f, MAX);
    feed(&f, line, MAX, 13);
    expect_none(&f);
    feed(&f, line, 1, 1);
    assert_int_equal(tether_framer_next(&f, &out, &len), -1);
    /* The buffer never grows past the bound: there is room for one byte at most. */
    tether_framer_reserve(&f, &avail);
    assert_int_equal(avail, 1);
    tether_framer_fini(&f);

    /* With its '\n' in the same piece. */
    tether_framer_init(&f, MAX);
    feed(&f, line, MAX + 1, SIZE_MAX);
    assert_int_equal(tether_framer_next(&f, &out, &len), -1);
    tether_framer_fini(&f);

    /* A short line before the long one is still handed out first. */
    tether_framer_init(&f, MAX);
    feed(&f, "ok\n", 3, SIZE_MAX);
    feed(&f, line, MAX + 1, SIZE_MAX);
    expect_line(&f, "ok", 2);
    assert_int_equal(tether_framer_next(&f, &out, &len), -1);
    tether_framer_fini(&f);
}

static void test_framer_nul_bytes(void **state)
{
    static const char chunk[] = "a\0b\n\0\n";
    struct tether_framer f;

    (void)state;
    tether_framer_init(&f, 64);
    feed(&f, chunk, sizeof(chunk) - 1, SIZE_MAX);
    /* NULs are data: the line's length says where it ends, not the first NUL. */
    expect_line(&f, "a\0b", 3);
    expect_line(&f, "\0", 1);
    expect_none(&f);
    tether_framer_fini(&f);
}

static void test_framer_reserve_bounded(void **state)
{
    struct tether_framer f;
    size_t avail = 0;

    (void)state;
    /* A small bound: never more than max + 1 bytes of room. */
    tether_framer_init(&f, 10);
    tether_framer_reserve(&f, &avail);
    assert_int_equal(avail, 11);
    tether_framer_fini(&f);
    /* A large bound: one read chunk at a time. */
    tether_framer_init(&f, 1u << 20);
    tether_framer_reserve(&f, &avail);
    assert_int_equal(avail, TETHER_FRAMER_READ_CHUNK);
    tether_framer_fini(&f);
}

static void test_framer_idle_releases_buffer(void **state)
{
    enum { BIG = 3 * TETHER_FRAMER_READ_CHUNK };
    cleanup_free char *line = xmalloc(BIG + 1);
    struct tether_framer f;

    (void)state;
    memset(line, 'c', BIG);
    line[BIG] = '\n';
    tether_framer_init(&f, 1u << 20);
    feed(&f, line, BIG + 1, SIZE_MAX);
    assert_true(f.cap > BIG);
    expect_line(&f, line, BIG);
    expect_none(&f);
    /* Nothing pending: the large buffer is gone. */
    assert_null(f.buf);
    assert_int_equal(f.cap, 0);
    feed(&f, "x\n", 2, SIZE_MAX);
    expect_line(&f, "x", 1);
    tether_framer_fini(&f);
}

/* ---- decoding ---- */

struct decoded {
    int rc;
    int code; /* error code when rc < 0 */
    json_t *id;
    struct tether_rpc_request req;
    json_t *resp;
};

static void decode(const char *line, size_t len, struct decoded *d)
{
    memset(d, 0, sizeof(*d));
    d->rc = tether_rpc_decode(line, len, &d->req, &d->resp);
    if (d->rc < 0) {
        json_t *error = json_object_get(d->resp, "error");

        assert_non_null(d->resp);
        assert_string_equal(json_string_value(json_object_get(d->resp, "jsonrpc")), "2.0");
        assert_true(json_is_integer(json_object_get(error, "code")));
        assert_true(json_is_string(json_object_get(error, "message")));
        d->code = (int)json_integer_value(json_object_get(error, "code"));
        d->id = json_object_get(d->resp, "id");
        assert_non_null(d->id); /* an error response always carries an id, maybe null */
        assert_null(d->req.msg);
    } else {
        assert_null(d->resp);
    }
}

static void decoded_fini(struct decoded *d)
{
    json_decref(d->resp);
    tether_rpc_request_fini(&d->req);
}

/* line must be refused with code and a null id. */
static void expect_refused(const char *line, size_t len, int code)
{
    struct decoded d;

    decode(line, len, &d);
    assert_int_equal(d.rc, -1);
    if (d.code != code)
        fail_msg("%.60s: code %d, want %d", line, d.code, code);
    assert_true(json_is_null(d.id));
    decoded_fini(&d);
}

#define REFUSED(lit, code) expect_refused(lit, sizeof(lit) - 1, code)

/* line must be refused with code, answered with the request's integer id. */
static void expect_refused_id(const char *line, int code, json_int_t id)
{
    struct decoded d;

    decode(line, strlen(line), &d);
    assert_int_equal(d.rc, -1);
    if (d.code != code)
        fail_msg("%s: code %d, want %d", line, d.code, code);
    assert_int_equal(json_integer_value(d.id), id);
    decoded_fini(&d);
}

static void test_decode_valid(void **state)
{
    static const char line[] =
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"kill\",\"params\":{\"signal\":\"TERM\"}}";
    struct decoded d;

    (void)state;
    decode(line, sizeof(line) - 1, &d);
    assert_int_equal(d.rc, 0);
    assert_string_equal(d.req.method, "kill");
    assert_int_equal(json_integer_value(d.req.id), 7);
    assert_string_equal(json_string_value(json_object_get(d.req.params, "signal")), "TERM");
    decoded_fini(&d);

    /* No params, or null params: an empty object for the method to check. */
    decode("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\"}", 41, &d);
    assert_int_equal(d.rc, 0);
    assert_true(json_is_object(d.req.params));
    assert_int_equal(json_object_size(d.req.params), 0);
    decoded_fini(&d);
    {
        static const char null_params[] =
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\",\"params\":null}";
        decode(null_params, sizeof(null_params) - 1, &d);
        assert_int_equal(d.rc, 0);
        assert_true(json_is_object(d.req.params));
        decoded_fini(&d);
    }
    /* Only len bytes count: what follows in the buffer is not read. */
    decode("{\"jsonrpc\":\"2.0\",\"method\":\"state\"}GARBAGE", 34, &d);
    assert_int_equal(d.rc, 0);
    decoded_fini(&d);
}

static void test_decode_id_types(void **state)
{
    struct decoded d;

    (void)state;
    decode("{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"m\"}", 41, &d);
    assert_int_equal(d.rc, 0);
    assert_string_equal(json_string_value(d.req.id), "abc");
    decoded_fini(&d);

    decode("{\"jsonrpc\":\"2.0\",\"id\":-9007199254740993,\"method\":\"m\"}", 53, &d);
    assert_int_equal(d.rc, 0);
    assert_true(json_integer_value(d.req.id) == -9007199254740993LL);
    decoded_fini(&d);

    /* A null id is still a request (it gets a response with id null)... */
    decode("{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"m\"}", 40, &d);
    assert_int_equal(d.rc, 0);
    assert_non_null(d.req.id);
    assert_true(json_is_null(d.req.id));
    decoded_fini(&d);

    /* ...no id at all is a notification. */
    decode("{\"jsonrpc\":\"2.0\",\"method\":\"m\"}", 30, &d);
    assert_int_equal(d.rc, 0);
    assert_null(d.req.id);
    decoded_fini(&d);

    /* Fractions, booleans, arrays and objects are refused, answered with id null. */
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"m\"}", TETHER_RPC_INVALID_REQUEST);
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"m\"}", TETHER_RPC_INVALID_REQUEST);
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"m\"}", TETHER_RPC_INVALID_REQUEST);
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":{\"a\":1},\"method\":\"m\"}", TETHER_RPC_INVALID_REQUEST);
}

static void test_decode_invalid_utf8(void **state)
{
    (void)state;
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"st\xff\xfe\"}", TETHER_RPC_PARSE_ERROR);
    /* An overlong encoding of '/', a lone continuation byte, a truncated sequence, a
     * UTF-16 surrogate encoded as UTF-8. */
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"\xc0\xaf\"}", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"\x80\"}", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"\xe2\x82\"}", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"\xed\xa0\x80\"}", TETHER_RPC_PARSE_ERROR);
    /* Outside strings too. */
    REFUSED("\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"method\":\"m\"}", TETHER_RPC_PARSE_ERROR);
    REFUSED("\x01\x02\xff\xfe", TETHER_RPC_PARSE_ERROR);
    /* A lone surrogate escape is not a character either. */
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"\\ud800\"}", TETHER_RPC_PARSE_ERROR);
    /* Found by fuzzing: the parser's message quotes the invalid bytes; the error response
     * must still be made (with them replaced). */
    REFUSED("{\"jsonzpc\":\"2.0\",\"id\":1,\"met\x93\x90\x9b\xdd:\"st\0ate\"}",
            TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"state\",\"parad\":2,"
            "\"metec_id\":\"a\\u000\xd0\x9c\"}}",
            TETHER_RPC_PARSE_ERROR);
}

static void test_decode_nul(void **state)
{
    (void)state;
    /* A raw NUL anywhere, and the \u0000 escape (it would cut C strings short). */
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"st\0ate\"}", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\0\"method\":\"state\"}", TETHER_RPC_PARSE_ERROR);
    REFUSED("\0", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"st\\u0000ate\"}", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"a\\u0000\":1}}",
            TETHER_RPC_PARSE_ERROR);
}

static void test_decode_deep_nesting(void **state)
{
    cleanup_free char *deep = xmalloc(2 * DEEP_NESTING + 64);
    size_t n;

    (void)state;
    memset(deep, '[', DEEP_NESTING);
    expect_refused(deep, DEEP_NESTING, TETHER_RPC_PARSE_ERROR);
    /* Closed properly, it is still too deep to be parsed. */
    memset(deep + DEEP_NESTING, ']', DEEP_NESTING);
    expect_refused(deep, 2 * DEEP_NESTING, TETHER_RPC_PARSE_ERROR);
    /* Deep objects inside params. */
    n = (size_t)snprintf(deep, 64, "{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":");
    for (size_t i = 0; i < DEEP_NESTING / 8; i++)
        memcpy(deep + n + i * 5, "{\"a\":", 5);
    expect_refused(deep, n + (DEEP_NESTING / 8) * 5, TETHER_RPC_PARSE_ERROR);
}

static void test_decode_huge_numbers(void **state)
{
    struct decoded d;

    (void)state;
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":99999999999999999999999,\"method\":\"m\"}",
            TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":1e999,\"method\":\"m\"}", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"since\":1e400}}",
            TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"params\":{\"since\":-99999999999999999999}}",
            TETHER_RPC_PARSE_ERROR);
    /* The largest integers parse; the method's range check refuses them later. */
    decode("{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"m\"}", 55, &d);
    assert_int_equal(d.rc, 0);
    assert_true(json_integer_value(d.req.id) == INT64_MAX);
    decoded_fini(&d);
    /* An exponent is a real, never an integer id. */
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":1e2,\"method\":\"m\"}", TETHER_RPC_INVALID_REQUEST);
}

static void test_decode_duplicate_keys(void **state)
{
    (void)state;
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\",\"method\":\"shutdown\"}",
            TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"state\"}", TETHER_RPC_PARSE_ERROR);
    /* Inside params as well: which "force" would count? */
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"delete\",\"params\":"
            "{\"force\":false,\"force\":true}}",
            TETHER_RPC_PARSE_ERROR);
}

static void test_decode_wrong_types(void **state)
{
    (void)state;
    expect_refused_id("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":5}", TETHER_RPC_INVALID_REQUEST, 3);
    expect_refused_id("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":null}", TETHER_RPC_INVALID_REQUEST,
                      3);
    expect_refused_id("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":[\"state\"]}",
                      TETHER_RPC_INVALID_REQUEST, 3);
    expect_refused_id("{\"jsonrpc\":2.0,\"id\":4,\"method\":\"state\"}", TETHER_RPC_INVALID_REQUEST,
                      4);
    expect_refused_id("{\"jsonrpc\":\"1.0\",\"id\":4,\"method\":\"state\"}",
                      TETHER_RPC_INVALID_REQUEST, 4);
    expect_refused_id("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"state\",\"params\":[1]}",
                      TETHER_RPC_INVALID_PARAMS, 5);
    expect_refused_id("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"state\",\"params\":\"x\"}",
                      TETHER_RPC_INVALID_PARAMS, 5);
    expect_refused_id("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"state\",\"params\":7}",
                      TETHER_RPC_INVALID_PARAMS, 5);
    expect_refused_id("{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"state\",\"params\":true}",
                      TETHER_RPC_INVALID_PARAMS, 5);
}

static void test_decode_missing_members(void **state)
{
    (void)state;
    expect_refused_id("{\"id\":6,\"method\":\"state\"}", TETHER_RPC_INVALID_REQUEST, 6);
    expect_refused_id("{\"jsonrpc\":\"2.0\",\"id\":6}", TETHER_RPC_INVALID_REQUEST, 6);
    REFUSED("{}", TETHER_RPC_INVALID_REQUEST);
    REFUSED("{\"jsonrpc\":\"2.0\"}", TETHER_RPC_INVALID_REQUEST);
}

static void test_decode_batch(void **state)
{
    (void)state;
    REFUSED("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"state\"},"
            "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"state\"}]",
            TETHER_RPC_INVALID_REQUEST);
    REFUSED("[]", TETHER_RPC_INVALID_REQUEST);
    REFUSED("[1,2,3]", TETHER_RPC_INVALID_REQUEST);
}

static void test_decode_scalars(void **state)
{
    (void)state;
    REFUSED("42", TETHER_RPC_INVALID_REQUEST);
    REFUSED("\"state\"", TETHER_RPC_INVALID_REQUEST);
    REFUSED("true", TETHER_RPC_INVALID_REQUEST);
    REFUSED("null", TETHER_RPC_INVALID_REQUEST);
    REFUSED("-1.5e3", TETHER_RPC_INVALID_REQUEST);
}

static void test_decode_not_json(void **state)
{
    (void)state;
    REFUSED("", TETHER_RPC_PARSE_ERROR);
    REFUSED("   ", TETHER_RPC_PARSE_ERROR);
    REFUSED("this is not json", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"state\"} trailing", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"jsonrpc\":\"2.0\",\"method\":\"state\"}{}", TETHER_RPC_PARSE_ERROR);
    REFUSED("{'jsonrpc':'2.0'}", TETHER_RPC_PARSE_ERROR);
    REFUSED("{\"a\":NaN}", TETHER_RPC_PARSE_ERROR);
}

/* ---- encoding and codes ---- */

static void test_rpc_code_mapping(void **state)
{
    (void)state;
    assert_int_equal(tether_rpc_code(TETHER_ERR_INVALID), TETHER_RPC_INVALID_PARAMS);
    assert_int_equal(tether_rpc_code(TETHER_ERR_NOT_FOUND), TETHER_RPC_NOT_FOUND);
    assert_int_equal(tether_rpc_code(TETHER_ERR_STATE), TETHER_RPC_INVALID_STATE);
    assert_int_equal(tether_rpc_code(TETHER_ERR_RUNTIME), TETHER_RPC_RUNTIME);
    assert_int_equal(tether_rpc_code(TETHER_ERR_TIMEOUT), TETHER_RPC_RUNTIME);
    assert_int_equal(tether_rpc_code(TETHER_ERR_EXISTS), TETHER_RPC_EXISTS);
    assert_int_equal(tether_rpc_code(TETHER_ERR_TOO_LARGE), TETHER_RPC_TOO_LARGE);
    assert_int_equal(tether_rpc_code(TETHER_ERR_INTERNAL), TETHER_RPC_INTERNAL);
    assert_int_equal(tether_rpc_code(TETHER_ERR_NONE), TETHER_RPC_INTERNAL);
}

static void test_rpc_messages(void **state)
{
    struct tether_error err = {0};
    json_t *id = json_string("x");
    json_t *msg;
    cleanup_free char *text = NULL;
    size_t len = 0;

    (void)state;
    tether_error_setk(&err, TETHER_ERR_STATE, 0, "no\nway");
    msg = tether_rpc_error_from(id, &err);
    assert_string_equal(json_string_value(json_object_get(msg, "id")), "x");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(msg, "error"), "code")),
                     TETHER_RPC_INVALID_STATE);
    /* One line whatever the message holds: the '\n' in it is escaped. */
    text = tether_rpc_encode(msg, &len);
    assert_int_equal(len, strlen(text));
    assert_int_equal(text[len - 1], '\n');
    assert_null(memchr(text, '\n', len - 1));
    json_decref(msg);

    msg = tether_rpc_error(NULL, TETHER_RPC_PARSE_ERROR, "bad");
    assert_true(json_is_null(json_object_get(msg, "id")));
    json_decref(msg);

    msg = tether_rpc_result(id, NULL);
    assert_true(json_is_object(json_object_get(msg, "result")));
    assert_null(json_object_get(msg, "error"));
    json_decref(msg);

    msg = tether_rpc_notification("event", json_pack("{s:i}", "seq", 1));
    assert_string_equal(json_string_value(json_object_get(msg, "method")), "event");
    assert_null(json_object_get(msg, "id"));
    json_decref(msg);
    json_decref(id);
}

/* ---- parameters ---- */

/* One value of every JSON type, to try as a parameter of the wrong type. */
static json_t *value_of_kind(int kind)
{
    switch (kind) {
    case 0:
        return json_null();
    case 1:
        return json_true();
    case 2:
        return json_integer(1);
    case 3:
        return json_real(1.0);
    case 4:
        return json_string("1");
    case 5:
        return json_pack("[i]", 1);
    default:
        return json_object();
    }
}

enum { KINDS = 7, KIND_BOOL = 1, KIND_INT = 2, KIND_STRING = 4, KIND_ARRAY = 5, KIND_OBJECT = 6 };

/* getter(params, "k") must accept only the listed kinds and name "k" when refusing. */
typedef int (*getter_fn)(json_t *params, struct tether_error *err);

static void expect_only_kinds(getter_fn getter, unsigned accepted_mask)
{
    int kind;

    for (kind = 0; kind < KINDS; kind++) {
        json_t *params = json_object();
        struct tether_error err = {0};
        int rc;

        json_object_set_new(params, "k", value_of_kind(kind));
        rc = getter(params, &err);
        if (accepted_mask & (1u << kind)) {
            if (rc != 0)
                fail_msg("kind %d refused: %s", kind, err.msg);
        } else {
            if (rc != -1)
                fail_msg("kind %d accepted", kind);
            assert_int_equal(err.kind, TETHER_ERR_INVALID);
            assert_int_equal(tether_rpc_code(err.kind), TETHER_RPC_INVALID_PARAMS);
            assert_non_null(strstr(err.msg, "\"k\""));
        }
        json_decref(params);
    }
}

static int get_bool(json_t *params, struct tether_error *err)
{
    bool v = false;
    return tether_params_bool(params, "k", &v, err);
}

static int get_int(json_t *params, struct tether_error *err)
{
    int64_t v = 0;
    return tether_params_int(params, "k", -5, 5, &v, err);
}

static int get_string(json_t *params, struct tether_error *err)
{
    const char *v = NULL;
    return tether_params_string(params, "k", &v, err);
}

static int get_object(json_t *params, struct tether_error *err)
{
    json_t *v = NULL;
    return tether_params_object(params, "k", &v, err);
}

static int get_signal(json_t *params, struct tether_error *err)
{
    int v = 0;
    return tether_params_signal(params, "k", &v, err);
}

static int get_strings(json_t *params, struct tether_error *err)
{
    char **v = NULL;
    int rc = tether_params_strings(params, "k", 8, &v, err);

    tether_params_strings_free(v);
    return rc;
}

static void test_params_wrong_types(void **state)
{
    (void)state;
    expect_only_kinds(get_bool, 1u << KIND_BOOL);
    expect_only_kinds(get_int, 1u << KIND_INT);
    expect_only_kinds(get_string, 1u << KIND_STRING);
    expect_only_kinds(get_object, 1u << KIND_OBJECT);
    /* "1" is a signal name (SIGHUP by number) and 1 a signal number. */
    expect_only_kinds(get_signal, (1u << KIND_INT) | (1u << KIND_STRING));
    /* ["1"] would pass: [1] is what value_of_kind gives, refused item by item. */
    expect_only_kinds(get_strings, 0);
}

static void test_params_absent_keeps_default(void **state)
{
    json_t *params = json_object();
    struct tether_error err = {0};
    bool b = true;
    int64_t i = 42;
    const char *s = "dflt";
    json_t *o = NULL;
    int sig = 15;
    char **list = NULL;

    (void)state;
    assert_int_equal(tether_params_bool(params, "k", &b, &err), 0);
    assert_int_equal(tether_params_int(params, "k", 0, 100, &i, &err), 0);
    assert_int_equal(tether_params_string(params, "k", &s, &err), 0);
    assert_int_equal(tether_params_object(params, "k", &o, &err), 0);
    assert_int_equal(tether_params_signal(params, "k", &sig, &err), 0);
    assert_int_equal(tether_params_strings(params, "k", 4, &list, &err), 0);
    assert_true(b);
    assert_int_equal(i, 42);
    assert_string_equal(s, "dflt");
    assert_null(o);
    assert_int_equal(sig, 15);
    assert_null(list);
    assert_int_equal(tether_params_require(params, "k", &err), -1);
    assert_non_null(strstr(err.msg, "missing parameter \"k\""));
    json_decref(params);
}

static void test_params_check(void **state)
{
    static const char *const allowed[] = {"a", "b", NULL};
    static const char *const none[] = {NULL};
    struct tether_error err = {0};
    json_t *params = json_pack("{s:i,s:i}", "a", 1, "b", 2);

    (void)state;
    assert_int_equal(tether_params_check(params, allowed, &err), 0);
    assert_int_equal(tether_params_check(params, none, &err), -1);
    json_object_set_new(params, "bee", json_true());
    assert_int_equal(tether_params_check(params, allowed, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_non_null(strstr(err.msg, "\"bee\""));
    json_decref(params);
    /* A prefix of an allowed name is not that name. */
    params = json_pack("{s:i}", "", 1);
    assert_int_equal(tether_params_check(params, allowed, &err), -1);
    json_decref(params);
    params = json_object();
    assert_int_equal(tether_params_check(params, none, &err), 0);
    json_decref(params);
}

static void test_params_int_range(void **state)
{
    struct tether_error err = {0};
    json_t *params = json_object();
    int64_t v = 0;

    (void)state;
    json_object_set_new(params, "n", json_integer(10));
    assert_int_equal(tether_params_int(params, "n", 10, 20, &v, &err), 0);
    assert_int_equal(v, 10);
    json_object_set_new(params, "n", json_integer(20));
    assert_int_equal(tether_params_int(params, "n", 10, 20, &v, &err), 0);
    assert_int_equal(v, 20);
    json_object_set_new(params, "n", json_integer(21));
    assert_int_equal(tether_params_int(params, "n", 10, 20, &v, &err), -1);
    assert_non_null(strstr(err.msg, "out of range"));
    assert_int_equal(v, 20); /* untouched on failure */
    json_object_set_new(params, "n", json_integer(9));
    assert_int_equal(tether_params_int(params, "n", 10, 20, &v, &err), -1);
    json_object_set_new(params, "n", json_integer(INT64_MIN));
    assert_int_equal(tether_params_int(params, "n", 0, INT64_MAX, &v, &err), -1);
    json_object_set_new(params, "n", json_integer(INT64_MAX));
    assert_int_equal(tether_params_int(params, "n", 0, INT64_MAX, &v, &err), 0);
    assert_true(v == INT64_MAX);
    json_decref(params);
}

static void test_params_string_nul(void **state)
{
    struct tether_error err = {0};
    json_t *params = json_object();
    const char *s = NULL;

    (void)state;
    json_object_set_new(params, "s", json_stringn("a\0b", 3));
    assert_int_equal(tether_params_string(params, "s", &s, &err), -1);
    assert_non_null(strstr(err.msg, "NUL"));
    assert_null(s);
    json_object_set_new(params, "s", json_string(""));
    assert_int_equal(tether_params_string(params, "s", &s, &err), 0);
    assert_string_equal(s, "");
    json_decref(params);
}

static void test_params_signal(void **state)
{
    static const struct {
        const char *json;
        int want; /* -1: refused */
    } cases[] = {
        {"9", SIGKILL},
        {"\"SIGKILL\"", SIGKILL},
        {"\"TERM\"", SIGTERM},
        {"\"sigterm\"", SIGTERM},
        {"\"15\"", SIGTERM},
        {"\"RTMIN+1\"", -2}, /* SIGRTMIN + 1: checked below */
        {"64", 64},
        {"0", -1},
        {"-9", -1},
        {"65", -1},
        {"4294967305", -1}, /* 2^32 + 9: not 9 */
        {"\"SIGNOPE\"", -1},
        {"\"\"", -1},
        {"\"0\"", -1},
        {"9.0", -1},
        {"true", -1},
        {"[9]", -1},
        {"{}", -1},
        {"null", -1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < TETHER_ARRAY_SIZE(cases); i++) {
        cleanup_free char *text = xasprintf("{\"s\":%s}", cases[i].json);
        json_t *params = json_loads(text, 0, NULL);
        struct tether_error err = {0};
        int sig = 0, rc;

        assert_non_null(params);
        rc = tether_params_signal(params, "s", &sig, &err);
        if (cases[i].want == -1) {
            if (rc != -1)
                fail_msg("signal %s accepted as %d", cases[i].json, sig);
            assert_int_equal(err.kind, TETHER_ERR_INVALID);
            assert_int_equal(sig, 0);
        } else {
            if (rc != 0)
                fail_msg("signal %s refused: %s", cases[i].json, err.msg);
            assert_int_equal(sig, cases[i].want == -2 ? SIGRTMIN + 1 : cases[i].want);
        }
        json_decref(params);
    }
}

static void test_params_strings(void **state)
{
    struct tether_error err = {0};
    json_t *params = json_object();
    char **list = NULL;

    (void)state;
    json_object_set_new(params, "l", json_pack("[s,s]", "--debug", ""));
    assert_int_equal(tether_params_strings(params, "l", 2, &list, &err), 0);
    assert_string_equal(list[0], "--debug");
    assert_string_equal(list[1], "");
    assert_null(list[2]);
    tether_params_strings_free(list);
    list = NULL;

    json_object_set_new(params, "l", json_array());
    assert_int_equal(tether_params_strings(params, "l", 2, &list, &err), 0);
    assert_null(list[0]);
    tether_params_strings_free(list);
    list = NULL;

    /* Over the bound, a non-string item, an item with a NUL, not an array. */
    json_object_set_new(params, "l", json_pack("[s,s,s]", "a", "b", "c"));
    assert_int_equal(tether_params_strings(params, "l", 2, &list, &err), -1);
    assert_non_null(strstr(err.msg, "at most 2"));
    json_object_set_new(params, "l", json_pack("[s,i]", "a", 1));
    assert_int_equal(tether_params_strings(params, "l", 8, &list, &err), -1);
    json_object_set_new(params, "l", json_pack("[s,n]", "a"));
    assert_int_equal(tether_params_strings(params, "l", 8, &list, &err), -1);
    json_object_set_new(params, "l", json_pack("[[s]]", "a"));
    assert_int_equal(tether_params_strings(params, "l", 8, &list, &err), -1);
    json_object_set_new(params, "l", json_array());
    json_array_append_new(json_object_get(params, "l"), json_stringn("x\0y", 3));
    assert_int_equal(tether_params_strings(params, "l", 8, &list, &err), -1);
    json_object_set_new(params, "l", json_string("a"));
    assert_int_equal(tether_params_strings(params, "l", 8, &list, &err), -1);
    assert_null(list); /* nothing to free after a refusal */
    json_decref(params);
}

static void test_params_path(void **state)
{
    static const char *const good[] = {"/a",     "/var/log/x.log", "/a/.b", "/a/..b",
                                       "/a/b..", "/...",           "/a b/c"};
    static const char *const bad[] = {
        "",        "a",   "./a",   "../a",   "/",  "//a",  "/a/", "/a//b",
        "/a/../b", "/..", "/a/..", "/a/./b", "/.", "/a/.", "~/a", "/a/b/",
    };
    cleanup_free char *longp = xmalloc(PATH_MAX + 2);
    struct tether_error err = {0};
    size_t i;

    (void)state;
    for (i = 0; i < TETHER_ARRAY_SIZE(good); i++)
        if (tether_params_path(good[i], "log.path", &err) != 0)
            fail_msg("path \"%s\" refused: %s", good[i], err.msg);
    for (i = 0; i < TETHER_ARRAY_SIZE(bad); i++) {
        tether_error_clear(&err);
        if (tether_params_path(bad[i], "log.path", &err) != -1)
            fail_msg("path \"%s\" accepted", bad[i]);
        assert_int_equal(err.kind, TETHER_ERR_INVALID);
        assert_non_null(strstr(err.msg, "log.path"));
    }
    longp[0] = '/';
    memset(longp + 1, 'l', PATH_MAX);
    longp[PATH_MAX + 1] = '\0';
    assert_int_equal(tether_params_path(longp, "log.path", &err), -1);
    assert_non_null(strstr(err.msg, "too long"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framer_lines_in_one_chunk),
        cmocka_unit_test(test_framer_one_byte_pieces),
        cmocka_unit_test(test_framer_exactly_max),
        cmocka_unit_test(test_framer_max_plus_one),
        cmocka_unit_test(test_framer_nul_bytes),
        cmocka_unit_test(test_framer_reserve_bounded),
        cmocka_unit_test(test_framer_idle_releases_buffer),
        cmocka_unit_test(test_decode_valid),
        cmocka_unit_test(test_decode_id_types),
        cmocka_unit_test(test_decode_invalid_utf8),
        cmocka_unit_test(test_decode_nul),
        cmocka_unit_test(test_decode_deep_nesting),
        cmocka_unit_test(test_decode_huge_numbers),
        cmocka_unit_test(test_decode_duplicate_keys),
        cmocka_unit_test(test_decode_wrong_types),
        cmocka_unit_test(test_decode_missing_members),
        cmocka_unit_test(test_decode_batch),
        cmocka_unit_test(test_decode_scalars),
        cmocka_unit_test(test_decode_not_json),
        cmocka_unit_test(test_rpc_code_mapping),
        cmocka_unit_test(test_rpc_messages),
        cmocka_unit_test(test_params_wrong_types),
        cmocka_unit_test(test_params_absent_keeps_default),
        cmocka_unit_test(test_params_check),
        cmocka_unit_test(test_params_int_range),
        cmocka_unit_test(test_params_string_nul),
        cmocka_unit_test(test_params_signal),
        cmocka_unit_test(test_params_strings),
        cmocka_unit_test(test_params_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
