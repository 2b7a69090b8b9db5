#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include <tether/util.h>

#include "logfmt.h"

#define LINE_MAX_ TETHER_LOGFMT_LINE_MAX

/* 2026-11-22T14:13:41.492604010Z */
static const struct timespec ts1 = {.tv_sec = 1795356821, .tv_nsec = 492604010};
/* 2026-11-22T14:13:42.000000007Z */
static const struct timespec ts2 = {.tv_sec = 1795356822, .tv_nsec = 7};
#define TS1 "2026-11-22T14:13:41.492604010Z"
#define TS2 "2026-11-22T14:13:42.000000007Z"

struct fixture {
    struct tether_logfmt enc;
    struct tether_logfmt_buf out;
};

static int setup_cri(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));

    tether_logfmt_init(&f->enc, TETHER_LOGFMT_CRI);
    *state = f;
    return 0;
}

static int setup_jsonl(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));

    tether_logfmt_init(&f->enc, TETHER_LOGFMT_JSONL);
    *state = f;
    return 0;
}

static int setup_raw(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));

    tether_logfmt_init(&f->enc, TETHER_LOGFMT_RAW);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    tether_logfmt_buf_free(&f->out);
    free(f);
    return 0;
}

static void put(struct fixture *f, enum tether_logfmt_stream stream, const struct timespec *ts,
                const void *data, size_t len)
{
    tether_logfmt_encode(&f->enc, stream, ts, data, len, &f->out);
}

static void puts_(struct fixture *f, enum tether_logfmt_stream stream, const char *s)
{
    put(f, stream, &ts1, s, strlen(s));
}

static void assert_output(struct fixture *f, const char *expected, size_t len)
{
    assert_int_equal(f->out.len, len);
    assert_memory_equal(f->out.data, expected, len);
}
#define assert_output_str(f, s) assert_output((f), (s), sizeof(s) - 1)

/* ---- cri ---- */

static void test_cri_full_line(void **state)
{
    struct fixture *f = *state;

    puts_(f, TETHER_LOGFMT_STDOUT, "hello\n");
    assert_output_str(f, TS1 " stdout F hello\n");
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
}

static void test_cri_several_lines(void **state)
{
    struct fixture *f = *state;

    puts_(f, TETHER_LOGFMT_STDERR, "a\nbb\n\nccc\n");
    assert_output_str(f, TS1 " stderr F a\n" TS1 " stderr F bb\n" TS1 " stderr F \n" TS1
                             " stderr F ccc\n");
}

static void test_cri_line_across_chunks(void **state)
{
    struct fixture *f = *state;

    puts_(f, TETHER_LOGFMT_STDOUT, "hel");
    assert_true(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
    put(f, TETHER_LOGFMT_STDOUT, &ts2, "lo\nnext", 7);
    put(f, TETHER_LOGFMT_STDOUT, &ts2, "\n", 1);
    assert_output_str(f, TS1 " stdout P hel\n" TS2 " stdout F lo\n" TS2 " stdout P next\n" TS2
                             " stdout F \n");
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
}

/* Splits out into records and checks each against the expected tag and content length. */
static void assert_cri_records(struct fixture *f, const char *tags, const size_t *lens)
{
    const char *p = f->out.data, *end = f->out.data + f->out.len;
    size_t i;

    for (i = 0; tags[i] != '\0'; i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t head = sizeof(TS1 " stdout X ") - 1;

        assert_non_null(nl);
        assert_true((size_t)(nl - p) >= head);
        assert_int_equal(p[head - 2], tags[i]);
        assert_int_equal((size_t)(nl - p) - head, lens[i]);
        p = nl + 1;
    }
    assert_ptr_equal(p, end);
}

static void test_cri_long_line(void **state)
{
    struct fixture *f = *state;
    size_t n = 2 * LINE_MAX_ + 10;
    cleanup_free char *line = xmalloc(n + 1);
    static const size_t lens[] = {LINE_MAX_, LINE_MAX_, 10, LINE_MAX_};
    const char *p;
    size_t i;

    for (i = 0; i < n; i++)
        line[i] = (char)('a' + i % 26);
    line[n] = '\n';
    put(f, TETHER_LOGFMT_STDOUT, &ts1, line, n + 1);
    /* The pieces are the line, in order. */
    p = f->out.data + sizeof(TS1 " stdout P ") - 1;
    assert_memory_equal(p, line, LINE_MAX_);
    p += LINE_MAX_ + sizeof("\n" TS1 " stdout P ") - 1;
    assert_memory_equal(p, line + LINE_MAX_, LINE_MAX_);
    p += LINE_MAX_ + sizeof("\n" TS1 " stdout F ") - 1;
    assert_memory_equal(p, line + 2 * LINE_MAX_, 10);
    /* Exactly the bound fits one record. */
    line[LINE_MAX_] = '\n';
    put(f, TETHER_LOGFMT_STDOUT, &ts1, line, LINE_MAX_ + 1);
    assert_cri_records(f, "PPFF", lens);
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
}

static void test_cri_long_unterminated(void **state)
{
    struct fixture *f = *state;
    size_t n = LINE_MAX_ + 1;
    cleanup_free char *data = xmalloc(n);
    static const size_t lens[] = {LINE_MAX_, 1, 0};

    memset(data, 'x', n);
    put(f, TETHER_LOGFMT_STDOUT, &ts1, data, n);
    put(f, TETHER_LOGFMT_STDOUT, &ts1, "\n", 1);
    assert_cri_records(f, "PPF", lens);
}

static void test_cri_flush_closes_partial(void **state)
{
    struct fixture *f = *state;

    puts_(f, TETHER_LOGFMT_STDOUT, "no newline");
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDOUT, &ts2, &f->out);
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
    /* Nothing is pending any more: a second close and closing the idle stream add nothing. */
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDOUT, &ts2, &f->out);
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDERR, &ts2, &f->out);
    assert_output_str(f, TS1 " stdout P no newline\n" TS2 " stdout F \n");
}

static void test_cri_streams_apart(void **state)
{
    struct fixture *f = *state;

    puts_(f, TETHER_LOGFMT_STDOUT, "out-");
    puts_(f, TETHER_LOGFMT_STDERR, "err-");
    assert_true(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
    assert_true(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDERR));
    puts_(f, TETHER_LOGFMT_STDERR, "tail\n");
    assert_true(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDERR));
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDERR, &ts1, &f->out);
    puts_(f, TETHER_LOGFMT_STDOUT, "end\n");
    assert_output_str(f, TS1 " stdout P out-\n" TS1 " stderr P err-\n" TS1 " stderr F tail\n" TS1
                             " stdout F end\n");
}

static void test_cri_cr_kept(void **state)
{
    struct fixture *f = *state;

    puts_(f, TETHER_LOGFMT_STDOUT, "a\r\nb\rc\n\r");
    assert_output_str(f, TS1 " stdout F a\r\n" TS1 " stdout F b\rc\n" TS1 " stdout P \r\n");
}

static void test_cri_empty_chunk(void **state)
{
    struct fixture *f = *state;

    put(f, TETHER_LOGFMT_STDOUT, &ts1, "", 0);
    assert_int_equal(f->out.len, 0);
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
}

/* Deterministic generator so a failure can be replayed. */
static uint32_t next_rand(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Random lines (some long, some with '\r') written to both streams in random chunk sizes
 * must come back line by line when the P records are joined up to each F. */
static void test_cri_roundtrip_random(void **state)
{
    struct fixture *f = *state;
    uint32_t seed = 12345;
    struct tether_logfmt_buf in[2] = {{0}}, back[2] = {{0}};
    size_t pos[2] = {0, 0};
    const char *p, *end;
    int s, i;

    for (s = 0; s < 2; s++) {
        for (i = 0; i < 300; i++) {
            size_t len = next_rand(&seed) % 7 == 0 ? next_rand(&seed) % (3 * LINE_MAX_)
                                                   : next_rand(&seed) % 120;
            char *o = tether_logfmt_buf_reserve(&in[s], len + 1);
            size_t k;

            for (k = 0; k < len; k++)
                o[k] = (char)(next_rand(&seed) % 15 == 0 ? '\r' : ' ' + next_rand(&seed) % 95);
            o[len] = '\n';
            in[s].len += len + 1;
        }
    }
    while (pos[0] < in[0].len || pos[1] < in[1].len) {
        s = (int)(next_rand(&seed) % 2);
        size_t n = next_rand(&seed) % 40000;
        if (n > in[s].len - pos[s])
            n = in[s].len - pos[s];
        put(f, (enum tether_logfmt_stream)s, &ts1, in[s].data + pos[s], n);
        pos[s] += n;
    }
    p = f->out.data;
    end = p + f->out.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t head = sizeof(TS1 " stdout F ") - 1;
        size_t clen;
        char *o;

        assert_non_null(nl);
        assert_memory_equal(p, TS1 " std", sizeof(TS1 " std") - 1);
        s = memcmp(p + sizeof(TS1), "stdout", 6) == 0 ? 0 : 1;
        assert_true(p[head - 2] == 'P' || p[head - 2] == 'F');
        clen = (size_t)(nl - p) - head;
        assert_true(clen <= LINE_MAX_);
        o = tether_logfmt_buf_reserve(&back[s], clen + 1);
        memcpy(o, p + head, clen);
        back[s].len += clen;
        if (p[head - 2] == 'F')
            back[s].data[back[s].len++] = '\n';
        p = nl + 1;
    }
    for (s = 0; s < 2; s++) {
        assert_int_equal(back[s].len, in[s].len);
        assert_memory_equal(back[s].data, in[s].data, in[s].len);
        tether_logfmt_buf_free(&in[s]);
        tether_logfmt_buf_free(&back[s]);
    }
}

/* ---- jsonl ---- */

/* Parses every line of the output as JSON (jansson refuses invalid UTF-8) and returns the
 * concatenated "log" values of stream; each object must have the three fields. */
static char *jsonl_logs(struct fixture *f, const char *stream, size_t *nobjs)
{
    struct tether_logfmt_buf all = {0};
    const char *p = f->out.data, *end = f->out.data + f->out.len;
    size_t n = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        json_error_t jerr;
        json_t *obj;

        assert_non_null(nl);
        obj = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, &jerr);
        if (obj == NULL)
            fail_msg("line does not parse: %s: %.*s", jerr.text, (int)(nl - p), p);
        assert_int_equal(json_object_size(obj), 3);
        assert_true(json_is_string(json_object_get(obj, "time")));
        if (strcmp(json_string_value(json_object_get(obj, "stream")), stream) == 0) {
            const char *log = json_string_value(json_object_get(obj, "log"));
            size_t loglen = json_string_length(json_object_get(obj, "log"));

            assert_non_null(log);
            memcpy(tether_logfmt_buf_reserve(&all, loglen + 1), log, loglen);
            all.len += loglen;
            n++;
        }
        json_decref(obj);
        p = nl + 1;
    }
    tether_logfmt_buf_reserve(&all, 1)[0] = '\0';
    if (nobjs != NULL)
        *nobjs = n;
    return all.data;
}

static void test_jsonl_full_line(void **state)
{
    struct fixture *f = *state;

    puts_(f, TETHER_LOGFMT_STDOUT, "hello\nworld\n");
    assert_output_str(f, "{\"time\":\"" TS1 "\",\"stream\":\"stdout\",\"log\":\"hello\\n\"}\n"
                         "{\"time\":\"" TS1 "\",\"stream\":\"stdout\",\"log\":\"world\\n\"}\n");
}

static void test_jsonl_escaping(void **state)
{
    struct fixture *f = *state;
    static const char in[] = "say \"hi\" \\ back\tslash\r\x01\x1f\x7f/\n";
    cleanup_free char *logs = NULL;

    put(f, TETHER_LOGFMT_STDERR, &ts2, in, sizeof(in) - 1);
    assert_output_str(f, "{\"time\":\"" TS2 "\",\"stream\":\"stderr\",\"log\":\"say \\\"hi\\\" "
                         "\\\\ back\\tslash\\r\\u0001\\u001f\x7f/\\n\"}\n");
    logs = jsonl_logs(f, "stderr", NULL);
    assert_string_equal(logs, in);
}

static void test_jsonl_nul_byte(void **state)
{
    struct fixture *f = *state;
    size_t nobjs, i;
    cleanup_free char *logs = NULL;

    put(f, TETHER_LOGFMT_STDOUT, &ts1, "a\0b\n", 4);
    assert_non_null(memmem(f->out.data, f->out.len, "a\\u0000b\\n", 10));
    logs = jsonl_logs(f, "stdout", &nobjs);
    assert_int_equal(nobjs, 1);
    for (i = 0; i < 4; i++)
        assert_int_equal(logs[i], "a\0b\n"[i]);
}

static void test_jsonl_valid_utf8_kept(void **state)
{
    struct fixture *f = *state;
    static const char in[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd\n";
    cleanup_free char *logs = NULL;

    puts_(f, TETHER_LOGFMT_STDOUT, in);
    /* Copied as is, not escaped. */
    assert_non_null(memmem(f->out.data, f->out.len, in, sizeof(in) - 2));
    logs = jsonl_logs(f, "stdout", NULL);
    assert_string_equal(logs, in);
}

static void test_jsonl_invalid_utf8(void **state)
{
    struct fixture *f = *state;
    /* lone 0xff; overlong NUL; UTF-16 surrogate; truncated euro sign before 'A'; stray
     * continuation; 0xf5 (past U+10FFFF); U+110000 encoded; overlong 3- and 4-byte forms;
     * lone lead at line end */
    static const char in[] = "\xff|\xc0\x80|\xed\xa0\x80|\xe2\x82"
                             "A|\x80|\xf5\x80|\xf4\x90\x80\x80|\xe0\x80\xaf|\xf0\x80\x80\xaf|"
                             "\xc3\n";
    static const char want[] = "\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffdA|"
                               "\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|"
                               "\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd\\ufffd|\\ufffd\\n";
    static const char want_log[] = "\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                                   "\xef\xbf\xbd\xef\xbf\xbd"
                                   "A|\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|"
                                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                                   "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                                   "\xef\xbf\xbd\n";
    cleanup_free char *logs = NULL;

    puts_(f, TETHER_LOGFMT_STDOUT, in);
    assert_non_null(memmem(f->out.data, f->out.len, want, sizeof(want) - 1));
    logs = jsonl_logs(f, "stdout", NULL);
    assert_string_equal(logs, want_log);
}

/* A UTF-8 sequence cut by the end of a read is completed by the next chunk. */
static void test_jsonl_utf8_across_chunks(void **state)
{
    struct fixture *f = *state;
    static const char in[] = "x\xe2\x82\xac\xf0\x9f\x98\x80y\n";
    cleanup_free char *logs = NULL;
    size_t i;

    /* One byte at a time: the worst case. */
    for (i = 0; i < sizeof(in) - 1; i++)
        put(f, TETHER_LOGFMT_STDOUT, &ts1, in + i, 1);
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
    assert_null(memmem(f->out.data, f->out.len, "fffd", 4));
    logs = jsonl_logs(f, "stdout", NULL);
    assert_string_equal(logs, in);
}

static void test_jsonl_cut_sequence_not_completed(void **state)
{
    struct fixture *f = *state;
    cleanup_free char *logs = NULL;
    size_t nobjs;

    puts_(f, TETHER_LOGFMT_STDOUT, "a\xf0\x9f");
    puts_(f, TETHER_LOGFMT_STDOUT, "B\n");
    /* Cut at the end, then the stream ends. */
    puts_(f, TETHER_LOGFMT_STDERR, "\xe2");
    assert_true(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDERR));
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDERR, &ts1, &f->out);
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDERR));
    logs = jsonl_logs(f, "stdout", &nobjs);
    assert_string_equal(logs, "a\xef\xbf\xbd\xef\xbf\xbd"
                              "B\n");
    assert_int_equal(nobjs, 2);
    free(logs);
    logs = jsonl_logs(f, "stderr", &nobjs);
    assert_string_equal(logs, "\xef\xbf\xbd");
    assert_int_equal(nobjs, 1);
}

static void test_jsonl_partial_lines(void **state)
{
    struct fixture *f = *state;

    puts_(f, TETHER_LOGFMT_STDOUT, "par");
    puts_(f, TETHER_LOGFMT_STDERR, "other\n");
    puts_(f, TETHER_LOGFMT_STDOUT, "tial\n");
    /* A partial line ends without "\n" in its log; nothing more is written at close. */
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDOUT, &ts1, &f->out);
    assert_output_str(f, "{\"time\":\"" TS1 "\",\"stream\":\"stdout\",\"log\":\"par\"}\n"
                         "{\"time\":\"" TS1 "\",\"stream\":\"stderr\",\"log\":\"other\\n\"}\n"
                         "{\"time\":\"" TS1 "\",\"stream\":\"stdout\",\"log\":\"tial\\n\"}\n");
}

static void assert_jsonl_log_lengths(struct fixture *f, size_t a, size_t b, size_t c)
{
    const size_t want[] = {a, b, c};
    const char *p = f->out.data, *end = f->out.data + f->out.len;
    size_t i;

    for (i = 0; i < TETHER_ARRAY_SIZE(want); i++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        json_t *obj;

        assert_non_null(nl);
        obj = json_loadb(p, (size_t)(nl - p), 0, NULL);
        assert_non_null(obj);
        assert_int_equal(json_string_length(json_object_get(obj, "log")), want[i]);
        json_decref(obj);
        p = nl + 1;
    }
    assert_ptr_equal(p, end);
}

static void test_jsonl_long_line(void **state)
{
    struct fixture *f = *state;
    size_t n = 2 * LINE_MAX_ + 5, nobjs, i;
    cleanup_free char *line = xmalloc(n + 2);
    cleanup_free char *logs = NULL;

    for (i = 0; i < n; i++)
        line[i] = (char)('a' + i % 26);
    line[n] = '\n';
    line[n + 1] = '\0';
    put(f, TETHER_LOGFMT_STDOUT, &ts1, line, n + 1);
    logs = jsonl_logs(f, "stdout", &nobjs);
    assert_int_equal(nobjs, 3);
    assert_string_equal(logs, line);
    /* Pieces of the bound's size; only the last one ends the line. */
    assert_jsonl_log_lengths(f, LINE_MAX_, LINE_MAX_, (size_t)6);
}

/* A split at the bound moves back so a multi-byte character stays whole. */
static void test_jsonl_long_line_utf8_boundary(void **state)
{
    struct fixture *f = *state;
    size_t n = LINE_MAX_ - 1, nobjs;
    cleanup_free char *line = xmalloc(n + 8);
    cleanup_free char *logs = NULL;

    memset(line, 'a', n);
    memcpy(line + n,
           "\xe2\x82\xac"
           "b\n",
           6);
    put(f, TETHER_LOGFMT_STDOUT, &ts1, line, n + 5);
    assert_null(memmem(f->out.data, f->out.len, "fffd", 4));
    logs = jsonl_logs(f, "stdout", &nobjs);
    assert_int_equal(nobjs, 2);
    assert_memory_equal(logs, line, n + 5);
    assert_non_null(strstr(f->out.data, "\"log\":\"\xe2\x82\xac"
                                        "b\\n\"}\n"));
}

/* Random bytes in random chunks: every line parses, and valid UTF-8 input comes back. */
static void test_jsonl_random_parses(void **state)
{
    struct fixture *f = *state;
    uint32_t seed = 777;
    size_t total = 200000, pos = 0, i;
    cleanup_free char *in = xmalloc(total);
    cleanup_free char *logs = NULL;

    for (i = 0; i < total; i++) {
        uint32_t r = next_rand(&seed) % 100;
        in[i] = (char)(r < 3 ? '\n' : r < 10 ? next_rand(&seed) % 32 : next_rand(&seed) % 256);
    }
    while (pos < total) {
        size_t n = next_rand(&seed) % 5000;
        if (n > total - pos)
            n = total - pos;
        put(f, TETHER_LOGFMT_STDOUT, &ts1, in + pos, n);
        pos += n;
    }
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDOUT, &ts1, &f->out);
    free(jsonl_logs(f, "stdout", NULL));

    /* The same with text that is valid UTF-8 throughout: nothing replaced. */
    f->out.len = 0;
    tether_logfmt_init(&f->enc, TETHER_LOGFMT_JSONL);
    for (i = 0; i + 4 < total; i += 4) {
        static const char *const pieces[] = {"ab\n", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                             "\t\"\\"};
        const char *pc = pieces[next_rand(&seed) % 5];
        memcpy(in + i, "    ", 4);
        memcpy(in + i, pc, strlen(pc));
    }
    total = i;
    for (pos = 0; pos < total;) {
        size_t n = next_rand(&seed) % 3000;
        if (n > total - pos)
            n = total - pos;
        put(f, TETHER_LOGFMT_STDOUT, &ts1, in + pos, n);
        pos += n;
    }
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDOUT, &ts1, &f->out);
    logs = jsonl_logs(f, "stdout", NULL);
    assert_int_equal(strlen(logs), total);
    assert_memory_equal(logs, in, total);
}

/* ---- raw ---- */

static void test_raw_passthrough(void **state)
{
    struct fixture *f = *state;
    static const char bin[] = "b\xff\0\r\n";

    puts_(f, TETHER_LOGFMT_STDOUT, "out ");
    put(f, TETHER_LOGFMT_STDERR, &ts2, bin, sizeof(bin) - 1);
    puts_(f, TETHER_LOGFMT_STDOUT, "more");
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDOUT, &ts1, &f->out);
    assert_output_str(f, "out b\xff\0\r\nmore");
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
}

/* ---- k8s-file ---- */

static int setup_k8s(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));

    tether_logfmt_init(&f->enc, TETHER_LOGFMT_K8S_FILE);
    *state = f;
    return 0;
}

static void set_tz(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

/* The local time with a numeric offset, never "Z"; the records are cri's. */
static void test_k8s_local_time(void **state)
{
    struct fixture *f = *state;

    set_tz("UTC0");
    puts_(f, TETHER_LOGFMT_STDOUT, "hello\nwor");
    assert_output_str(f, "2026-11-22T14:13:41.492604010+00:00 stdout F hello\n"
                         "2026-11-22T14:13:41.492604010+00:00 stdout P wor\n");
    f->out.len = 0;
    /* POSIX TZ: "east of Greenwich" is a negative offset in the string. */
    set_tz("XST-05:30");
    put(f, TETHER_LOGFMT_STDERR, &ts2, "x\n", 2);
    assert_output_str(f, "2026-11-22T19:43:42.000000007+05:30 stderr F x\n");
    f->out.len = 0;
    set_tz("YST09");
    put(f, TETHER_LOGFMT_STDERR, &ts2, "y\n", 2);
    assert_output_str(f, "2026-11-22T05:13:42.000000007-09:00 stderr F y\n");
    unsetenv("TZ");
    tzset();
}

/* A line left unfinished stays a P record: closing it adds nothing, and the next output
 * starts a new record. */
static void test_k8s_close_keeps_partial(void **state)
{
    struct fixture *f = *state;

    set_tz("UTC0");
    puts_(f, TETHER_LOGFMT_STDOUT, "no newline");
    assert_true(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
    tether_logfmt_close_line(&f->enc, TETHER_LOGFMT_STDOUT, &ts2, &f->out);
    assert_false(tether_logfmt_pending(&f->enc, TETHER_LOGFMT_STDOUT));
    assert_output_str(f, "2026-11-22T14:13:41.492604010+00:00 stdout P no newline\n");
    unsetenv("TZ");
    tzset();
}

/* ---- names and buffer ---- */

static void test_format_names(void **state)
{
    enum tether_logfmt_format fmt;
    struct tether_error err = {0};
    static const char *const names[] = {"cri", "jsonl", "raw", "k8s-file"};
    size_t i;

    (void)state;
    for (i = 0; i < TETHER_ARRAY_SIZE(names); i++) {
        assert_int_equal(tether_logfmt_parse(names[i], &fmt, &err), 0);
        assert_string_equal(tether_logfmt_format_name(fmt), names[i]);
    }
    assert_int_equal(tether_logfmt_parse("json-file", &fmt, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_string_equal(tether_logfmt_stream_name(TETHER_LOGFMT_STDOUT), "stdout");
    assert_string_equal(tether_logfmt_stream_name(TETHER_LOGFMT_STDERR), "stderr");
}

static void test_buf_reserve(void **state)
{
    struct tether_logfmt_buf b = {0};
    char *p;

    (void)state;
    p = tether_logfmt_buf_reserve(&b, 10);
    memcpy(p, "0123456789", 10);
    b.len = 10;
    p = tether_logfmt_buf_reserve(&b, 100000);
    assert_ptr_equal(p, b.data + 10);
    assert_true(b.cap >= 100010);
    assert_memory_equal(b.data, "0123456789", 10);
    tether_logfmt_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cri_full_line, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_several_lines, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_line_across_chunks, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_long_line, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_long_unterminated, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_flush_closes_partial, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_streams_apart, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_cr_kept, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_empty_chunk, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_cri_roundtrip_random, setup_cri, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_full_line, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_escaping, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_nul_byte, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_valid_utf8_kept, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_invalid_utf8, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_utf8_across_chunks, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_cut_sequence_not_completed, setup_jsonl,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_partial_lines, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_long_line, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_long_line_utf8_boundary, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_jsonl_random_parses, setup_jsonl, teardown),
        cmocka_unit_test_setup_teardown(test_raw_passthrough, setup_raw, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_local_time, setup_k8s, teardown),
        cmocka_unit_test_setup_teardown(test_k8s_close_keeps_partial, setup_k8s, teardown),
        cmocka_unit_test(test_format_names),
        cmocka_unit_test(test_buf_reserve),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
