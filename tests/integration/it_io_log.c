/* Container logs written by tether-shim for real containers: stdout and stderr kept apart
 * in cri and jsonl, lines longer than the read buffer, output without a final newline,
 * 50 MB written at full speed and complete when the exit is reported, size-based rotation
 * and reopening after an external rename. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

/* Bound on a log file read back by a test. */
#define LOG_READ_MAX (256u << 20)
/* The read buffer of the shim is 64 KiB: this line is more than three of them. */
#define LONG_LINE_LEN (200u * 1024)
/* 50 MiB in lines of 1 KiB, each starting with its number. */
#define BIG_LINE_LEN 1024u
#define BIG_LINES    (50u * 1024)

enum stream { OUT, ERR };

/* One record of a cri or jsonl log. */
struct rec {
    char ts[64];
    enum stream stream;
    bool partial; /* cri P; jsonl: "log" without its final "\n" */
    char *data;   /* content; jsonl keeps the line's "\n" */
    size_t len;
};

struct recs {
    struct rec *v;
    size_t n;
    size_t cap;
};

static void recs_free(struct recs *r)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        free(r->v[i].data);
    free(r->v);
    memset(r, 0, sizeof(*r));
}

static struct rec *recs_add(struct recs *r)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
    }
    memset(&r->v[r->n], 0, sizeof(r->v[0]));
    return &r->v[r->n++];
}

static enum stream parse_stream(const char *s, size_t n)
{
    if (n == 6 && memcmp(s, "stdout", 6) == 0)
        return OUT;
    if (n == 6 && memcmp(s, "stderr", 6) == 0)
        return ERR;
    fail_msg("bad stream name %.*s", (int)n, s);
    return OUT;
}

static void set_ts(struct rec *rec, const char *s, size_t n)
{
    if (n >= sizeof(rec->ts))
        fail_msg("timestamp too long: %.*s", (int)n, s);
    memcpy(rec->ts, s, n);
    rec->ts[n] = '\0';
    th_assert_timestamp(rec->ts);
}

/* "<time> <stream> <P|F> <content>" */
static void parse_cri_line(const char *line, size_t len, struct recs *out)
{
    const char *end = line + len, *sp1, *sp2;
    struct rec *rec = recs_add(out);

    sp1 = memchr(line, ' ', len);
    sp2 = sp1 != NULL ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
    if (sp2 == NULL || end - sp2 < 3 || (sp2[1] != 'P' && sp2[1] != 'F') || sp2[2] != ' ')
        fail_msg("malformed cri record: %.*s", (int)(len < 200 ? len : 200), line);
    set_ts(rec, line, (size_t)(sp1 - line));
    rec->stream = parse_stream(sp1 + 1, (size_t)(sp2 - sp1 - 1));
    rec->partial = sp2[1] == 'P';
    rec->len = (size_t)(end - (sp2 + 3));
    rec->data = xmalloc(rec->len + 1);
    memcpy(rec->data, sp2 + 3, rec->len);
    rec->data[rec->len] = '\0';
}

/* {"time":…,"stream":…,"log":…} and nothing else. */
static void parse_jsonl_line(const char *line, size_t len, struct recs *out)
{
    json_error_t jerr;
    json_auto_t *obj = json_loadb(line, len, 0, &jerr);
    struct rec *rec = recs_add(out);
    const char *stream, *log;

    if (!json_is_object(obj))
        fail_msg("jsonl line is not a JSON object (%s): %.*s", jerr.text,
                 (int)(len < 200 ? len : 200), line);
    assert_int_equal(json_object_size(obj), 3);
    set_ts(rec, th_str(obj, "time"), strlen(th_str(obj, "time")));
    stream = th_str(obj, "stream");
    rec->stream = parse_stream(stream, strlen(stream));
    log = th_str(obj, "log");
    rec->len = json_string_length(json_object_get(obj, "log"));
    rec->data = xmalloc(rec->len + 1);
    memcpy(rec->data, log, rec->len);
    rec->data[rec->len] = '\0';
    rec->partial = rec->len == 0 || log[rec->len - 1] != '\n';
}

/* Splits text into records; every record must end with '\n'. */
static void parse_log(const char *format, const char *text, size_t len, struct recs *out)
{
    const char *p = text, *end = text + len;
    bool cri = strcmp(format, "cri") == 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            fail_msg("%s log ends inside a record: %.*s", format,
                     (int)(end - p < 200 ? end - p : 200), p);
        if (cri)
            parse_cri_line(p, (size_t)(nl - p), out);
        else
            parse_jsonl_line(p, (size_t)(nl - p), out);
        p = nl + 1;
    }
}

static char *read_file(const char *path, size_t *len)
{
    struct tether_error err = {0};
    char *text = NULL;

    if (tether_read_file(path, LOG_READ_MAX, &text, len, &err) < 0)
        fail_msg("read %s: %s", path, err.msg);
    return text;
}

static void parse_log_file(const char *format, const char *path, struct recs *out)
{
    size_t len = 0;
    cleanup_free char *text = read_file(path, &len);

    parse_log(format, text, len, out);
}

/* What the container wrote on stream, rebuilt from the records. cri cannot tell a last line
 * closed at exit from one the container ended: both come back with their "\n". */
static char *stream_text(const struct recs *r, const char *format, enum stream stream, size_t *len)
{
    bool cri = strcmp(format, "cri") == 0;
    size_t i, n = 0;
    char *text, *o;

    for (i = 0; i < r->n; i++)
        if (r->v[i].stream == stream)
            n += r->v[i].len + 1;
    text = o = xmalloc(n + 1);
    for (i = 0; i < r->n; i++) {
        if (r->v[i].stream != stream)
            continue;
        memcpy(o, r->v[i].data, r->v[i].len);
        o += r->v[i].len;
        if (cri && !r->v[i].partial)
            *o++ = '\n';
    }
    *o = '\0';
    *len = (size_t)(o - text);
    return text;
}

static void assert_stream_text(const struct recs *r, const char *format, enum stream stream,
                               const char *want, size_t want_len)
{
    size_t len = 0;
    cleanup_free char *got = stream_text(r, format, stream, &len);

    if (len != want_len || memcmp(got, want, len) != 0) {
        size_t i = 0;
        while (i < len && i < want_len && got[i] == want[i])
            i++;
        fail_msg("%s %s: %zu bytes, want %zu; first difference at byte %zu", format,
                 stream == OUT ? "stdout" : "stderr", len, want_len, i);
    }
}

/* The last record of stream (which must have one). */
static const struct rec *last_rec(const struct recs *r, enum stream stream)
{
    size_t i;

    for (i = r->n; i > 0; i--)
        if (r->v[i - 1].stream == stream)
            return &r->v[i - 1];
    fail_msg("no %s record", stream == OUT ? "stdout" : "stderr");
    return NULL;
}

static char *log_path(const struct th_fixture *f, const char *name)
{
    return xasprintf("%s/%s", f->env.dir, name);
}

static json_t *log_params(const char *path, const char *format)
{
    return json_pack("{s:s,s:s}", "path", path, "format", format);
}

/* create with params (stolen), then start. */
static void create_start(struct tether_client *c, json_t *params)
{
    json_auto_t *created = th_call_ok(c, "create", params);
    json_auto_t *started = NULL;

    assert_true(th_int(created, "pid") > 0);
    started = th_call_ok(c, "start", NULL);
}

static void wait_status(struct tether_client *c, int want)
{
    json_auto_t *res = th_call_ok(c, "wait", NULL);

    assert_int_equal(th_int(res, "exit_status"), want);
}

static void put_rootfs_file(const struct th_fixture *f, const char *name, const void *data,
                            size_t len)
{
    cleanup_free char *path = xasprintf("%s/rootfs/%s", f->bundle, name);
    cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    struct tether_error err = {0};

    if (fd < 0)
        fail_msg("create %s: %s", path, strerror(errno));
    if (tether_write_all(fd, data, len, &err) < 0)
        fail_msg("write %s: %s", path, err.msg);
}

/* Printable bytes that differ from line to line, so a lost, repeated or misplaced piece
 * shows in a byte comparison. */
static void fill_pseudo_random(char *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    size_t i;

    for (i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        p[i] = (char)('!' + (x >> 16) % 94);
    }
}

/* ---- stdout and stderr ---- */

static const char *const argv_two_streams[] = {
    "sh", "-c",
    "echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2; echo out-3; echo 'err-3 \"q\"' >&2",
    NULL};

static void check_two_streams(void **state, const char *format)
{
    static const char want_out[] = "out-1\nout-2\nout-3\n";
    static const char want_err[] = "err-1\nerr-2\nerr-3 \"q\"\n";
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    struct tether_client *c;
    struct recs r = {0};
    const char *prev[2] = {"", ""};
    size_t i;

    th_fixture_start(f, argv_two_streams, NULL, NULL);
    path = log_path(f, "ctr.log");
    c = th_shim_connect(&f->shim);
    create_start(c, json_pack("{s:o}", "log", log_params(path, format)));
    wait_status(c, 0);
    parse_log_file(format, path, &r);
    assert_true(r.n >= 6);
    for (i = 0; i < r.n; i++) {
        const struct rec *rec = &r.v[i];
        const char *want_prefix = rec->stream == OUT ? "out-" : "err-";

        if (strncmp(rec->data, want_prefix, 4) != 0)
            fail_msg("record %zu on %s holds %s", i, rec->stream == OUT ? "stdout" : "stderr",
                     rec->data);
        assert_false(rec->partial);
        /* Fixed-width UTC times: text order is time order, per stream. */
        assert_true(strcmp(prev[rec->stream], rec->ts) <= 0);
        prev[rec->stream] = rec->ts;
    }
    assert_stream_text(&r, format, OUT, want_out, strlen(want_out));
    assert_stream_text(&r, format, ERR, want_err, strlen(want_err));
    recs_free(&r);
    tether_client_close(c);
}

static void test_streams_cri(void **state)
{
    check_two_streams(state, "cri");
}

static void test_streams_jsonl(void **state)
{
    check_two_streams(state, "jsonl");
}

/* The default: cri at <state-dir>/<id>/container.log. */
static void test_default_log(void **state)
{
    static const char want_out[] = "out-1\nout-2\nout-3\n";
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    struct tether_client *c;
    struct recs r = {0};

    th_fixture_start(f, argv_two_streams, NULL, NULL);
    path = xasprintf("%s/container.log", f->shim.dir);
    c = th_shim_connect(&f->shim);
    create_start(c, NULL);
    wait_status(c, 0);
    parse_log_file("cri", path, &r);
    assert_stream_text(&r, "cri", OUT, want_out, strlen(want_out));
    recs_free(&r);
    tether_client_close(c);
}

/* ---- bytes that are not text ---- */

static const char *const argv_binary[] = {"printf", "a\\377b\\tc\\r\\n", NULL};

/* cri keeps the bytes as they are (the '\r' included); jsonl stays valid UTF-8 JSON, which
 * jansson checks, with the stray byte replaced by U+FFFD. */
static void test_binary_bytes(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *cri = NULL;
    cleanup_free char *jsonl = NULL;
    struct tether_client *c;
    struct recs r = {0};

    th_fixture_start(f, argv_binary, NULL, NULL);
    cri = log_path(f, "ctr.cri");
    c = th_shim_connect(&f->shim);
    create_start(c, json_pack("{s:o}", "log", log_params(cri, "cri")));
    wait_status(c, 0);
    parse_log_file("cri", cri, &r);
    assert_stream_text(&r, "cri", OUT, "a\377b\tc\r\n", 7);
    recs_free(&r);
    json_decref(th_call_ok(c, "delete", NULL));

    jsonl = log_path(f, "ctr.jsonl");
    create_start(c, json_pack("{s:o}", "log", log_params(jsonl, "jsonl")));
    wait_status(c, 0);
    parse_log_file("jsonl", jsonl, &r);
    assert_stream_text(&r, "jsonl", OUT,
                       "a\xef\xbf\xbd"
                       "b\tc\r\n",
                       9);
    recs_free(&r);
    tether_client_close(c);
}

/* ---- a line longer than the read buffer ---- */

static const char *const argv_cat_line[] = {"cat", "/line", NULL};

static void check_long_line(void **state, const char *format)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *line = NULL;
    struct tether_client *c;
    struct recs r = {0};
    size_t i;

    th_fixture_start(f, argv_cat_line, NULL, NULL);
    path = log_path(f, "ctr.log");
    line = xmalloc(LONG_LINE_LEN + 1);
    fill_pseudo_random(line, LONG_LINE_LEN, 7);
    line[LONG_LINE_LEN] = '\n';
    put_rootfs_file(f, "line", line, LONG_LINE_LEN + 1);
    c = th_shim_connect(&f->shim);
    create_start(c, json_pack("{s:o}", "log", log_params(path, format)));
    wait_status(c, 0);
    parse_log_file(format, path, &r);
    /* Pieces of the line, then the one record that ends it. */
    assert_true(r.n >= 2);
    for (i = 0; i < r.n; i++) {
        assert_int_equal(r.v[i].stream, OUT);
        assert_true(r.v[i].len > 0 || i == r.n - 1);
        if (r.v[i].partial != (i < r.n - 1))
            fail_msg("record %zu of %zu is %s", i, r.n, r.v[i].partial ? "partial" : "full");
    }
    assert_stream_text(&r, format, OUT, line, LONG_LINE_LEN + 1);
    recs_free(&r);
    tether_client_close(c);
}

static void test_long_line_cri(void **state)
{
    check_long_line(state, "cri");
}

static void test_long_line_jsonl(void **state)
{
    check_long_line(state, "jsonl");
}

/* ---- output without a final newline ---- */

static const char *const argv_no_newline[] = {"sh", "-c",
                                              "printf 'abc\\nlast'; printf 'e-last' >&2", NULL};

/* The log is read the moment the exit event arrives: the pending lines must already be
 * closed then, not at some later time. */
static void check_no_newline(void **state, const char *format)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    struct tether_client *c;
    json_auto_t *sub = NULL, *ev = NULL;
    struct recs r = {0};
    bool cri = strcmp(format, "cri") == 0;
    const struct rec *last_out, *last_err;

    th_fixture_start(f, argv_no_newline, NULL, NULL);
    path = log_path(f, "ctr.log");
    c = th_shim_connect(&f->shim);
    sub = th_call_ok(c, "subscribe", NULL);
    create_start(c, json_pack("{s:o}", "log", log_params(path, format)));
    ev = th_wait_event(c, "exit");
    parse_log_file(format, path, &r);
    assert_int_equal(th_int(ev, "exit_status"), 0);
    last_out = last_rec(&r, OUT);
    last_err = last_rec(&r, ERR);
    if (cri) {
        /* The unterminated lines end with F records, so no reader waits for more. */
        assert_false(last_out->partial);
        assert_false(last_err->partial);
        assert_stream_text(&r, format, OUT, "abc\nlast\n", 9);
        assert_stream_text(&r, format, ERR, "e-last\n", 7);
    } else {
        assert_true(last_out->partial);
        assert_true(last_err->partial);
        assert_stream_text(&r, format, OUT, "abc\nlast", 8);
        assert_stream_text(&r, format, ERR, "e-last", 6);
    }
    recs_free(&r);
    tether_client_close(c);
}

static void test_no_newline_cri(void **state)
{
    check_no_newline(state, "cri");
}

static void test_no_newline_jsonl(void **state)
{
    check_no_newline(state, "jsonl");
}

/* ---- 50 MB at full speed, then exit ---- */

static const char *const argv_cat_big[] = {"cat", "/big", NULL};

static char *make_big(size_t *len)
{
    char *data = xmalloc((size_t)BIG_LINES * BIG_LINE_LEN);
    size_t i;

    for (i = 0; i < BIG_LINES; i++) {
        char *line = data + i * BIG_LINE_LEN;
        snprintf(line, 10, "%08zu", i);
        line[8] = ' ';
        fill_pseudo_random(line + 9, BIG_LINE_LEN - 10, (uint32_t)i);
        line[BIG_LINE_LEN - 1] = '\n';
    }
    *len = (size_t)BIG_LINES * BIG_LINE_LEN;
    return data;
}

/* The exit event goes out only once every byte is in the log (and wait is answered after
 * it): read the log the moment the event arrives. */
static void test_big_output_then_exit(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *big = NULL;
    struct tether_client *c;
    json_auto_t *sub = NULL, *ev = NULL, *res = NULL;
    struct recs r = {0};
    size_t len = 0;

    th_fixture_start(f, argv_cat_big, NULL, NULL);
    path = log_path(f, "ctr.log");
    big = make_big(&len);
    put_rootfs_file(f, "big", big, len);
    c = th_shim_connect(&f->shim);
    sub = th_call_ok(c, "subscribe", NULL);
    create_start(c, json_pack("{s:o}", "log", log_params(path, "cri")));
    ev = th_wait_event(c, "exit");
    parse_log_file("cri", path, &r);
    assert_int_equal(th_int(ev, "exit_status"), 0);
    assert_false(last_rec(&r, OUT)->partial);
    assert_stream_text(&r, "cri", OUT, big, len);
    res = th_call_ok(c, "wait", NULL);
    assert_string_equal(th_str(res, "exited_at"), th_str(ev, "exited_at"));
    recs_free(&r);
    tether_client_close(c);
}

/* ---- rotation ---- */

#define ROT_LINES    3000
#define ROT_MAX_SIZE 4096

static const char *const argv_seq[] = {"seq", "1", "3000", NULL};

/* Parses the records of path.<files-1> ... path.1, path (oldest first) into r, checking
 * that no file outgrew max_size: records are ~45 bytes, none needs a file to itself. */
static void collect_rotated(const char *path, unsigned files, struct recs *r)
{
    unsigned i;

    for (i = files; i > 0; i--) {
        cleanup_free char *name = i > 1 ? xasprintf("%s.%u", path, i - 1) : xstrdup(path);
        cleanup_free char *text = NULL;
        size_t len = 0;

        text = read_file(name, &len);
        if (len == 0 || len > ROT_MAX_SIZE)
            fail_msg("%s holds %zu bytes, want 1..%d", name, len, ROT_MAX_SIZE);
        parse_log("cri", text, len, r);
    }
}

/* The numbers of the lines of text, in order; *n gets their count. */
static long *parse_numbers(const char *text, size_t len, size_t *n)
{
    long *nums = xmalloc((len / 2 + 1) * sizeof(*nums));
    const char *p = text, *end = text + len;

    *n = 0;
    while (p < end) {
        char *stop;
        long v;

        errno = 0;
        v = strtol(p, &stop, 10);
        if (errno != 0 || stop == p || *stop != '\n')
            fail_msg("line %zu of the log is not a number: %.20s", *n + 1, p);
        nums[(*n)++] = v;
        p = stop + 1;
    }
    return nums;
}

/* How many files path, path.1, path.2 ... exist, in a row. */
static unsigned count_rotated(const char *path)
{
    unsigned n = 0;

    for (;;) {
        cleanup_free char *name = n > 0 ? xasprintf("%s.%u", path, n) : xstrdup(path);
        if (!th_path_exists(name))
            return n;
        n++;
    }
}

static void run_seq_rotated(struct th_fixture *f, const char *path, unsigned max_files)
{
    struct tether_client *c;

    th_fixture_start(f, argv_seq, NULL, NULL);
    c = th_shim_connect(&f->shim);
    create_start(c, json_pack("{s:{s:s,s:s,s:i,s:i}}", "log", "path", path, "format", "cri",
                              "max_size", ROT_MAX_SIZE, "max_files", (int)max_files));
    wait_status(c, 0);
    tether_client_close(c);
}

/* With room for every file, the files from oldest to newest hold 1..N, each line once (a
 * line read in two pieces may have its P and F records in two files). */
static void test_rotation_loses_nothing(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *text = NULL;
    cleanup_free long *nums = NULL;
    struct recs r = {0};
    unsigned files;
    size_t n = 0, len = 0, i;

    th_require_runtime(&f->env, f->runtime);
    path = log_path(f, "ctr.log");
    run_seq_rotated(f, path, 1000);
    files = count_rotated(path);
    /* Each file is full up to one record before the next one starts. */
    if (files < ROT_LINES * 40 / ROT_MAX_SIZE)
        fail_msg("%u log files for %d lines of max %d bytes", files, ROT_LINES, ROT_MAX_SIZE);
    collect_rotated(path, files, &r);
    text = stream_text(&r, "cri", OUT, &len);
    nums = parse_numbers(text, len, &n);
    for (i = 0; i < n; i++)
        if (nums[i] != (long)i + 1)
            fail_msg("line %zu (of %u files) holds %ld, want %zu", i, files, nums[i], i + 1);
    assert_int_equal(n, ROT_LINES);
    recs_free(&r);
}

/* With max_files 3 only the newest three files stay, and what they hold is the end of the
 * output without a gap. */
static void test_rotation_max_files(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *extra = NULL;
    cleanup_free char *text = NULL;
    cleanup_free long *nums = NULL;
    struct recs r = {0};
    const char *first_nl;
    size_t n = 0, len = 0, i;

    th_require_runtime(&f->env, f->runtime);
    path = log_path(f, "ctr.log");
    run_seq_rotated(f, path, 3);
    assert_int_equal(count_rotated(path), 3);
    extra = xasprintf("%s.3", path);
    assert_false(th_path_exists(extra));
    collect_rotated(path, 3, &r);
    text = stream_text(&r, "cri", OUT, &len);
    /* The oldest file may start with the end of a line whose start was rotated away. */
    first_nl = memchr(text, '\n', len);
    assert_non_null(first_nl);
    nums = parse_numbers(first_nl + 1, len - (size_t)(first_nl + 1 - text), &n);
    /* The two rotated files are full to within one record. */
    if (n < 2 * (ROT_MAX_SIZE / 50))
        fail_msg("only %zu lines kept in 3 files of %d bytes", n, ROT_MAX_SIZE);
    for (i = 0; i < n; i++)
        if (nums[i] != ROT_LINES - (long)(n - 1 - i))
            fail_msg("line %zu of %zu holds %ld, want %ld", i, n, nums[i],
                     ROT_LINES - (long)(n - 1 - i));
    recs_free(&r);
}

/* ---- reopen_log ---- */

static const char *const argv_before_after[] = {"sh", "-c", "echo before; read x; echo after",
                                                NULL};

struct file_has {
    const char *path;
    const char *needle;
};

static bool file_has(void *data)
{
    const struct file_has *fh = data;
    struct tether_error err = {0};
    cleanup_free char *text = NULL;

    if (tether_read_file(fh->path, LOG_READ_MAX, &text, NULL, &err) < 0)
        return false;
    return strstr(text, fh->needle) != NULL;
}

static void test_reopen_log(void **state)
{
    struct th_fixture *f = *state;
    cleanup_free char *path = NULL;
    cleanup_free char *moved = NULL;
    cleanup_free char *go = NULL;
    struct file_has before = {.needle = " stdout F before\n"};
    struct tether_client *c;
    json_auto_t *in = NULL;
    struct recs r_old = {0}, r_new = {0};

    th_fixture_start(f, argv_before_after, NULL, NULL);
    path = log_path(f, "ctr.log");
    moved = log_path(f, "ctr.log.moved");
    go = tether_base64_encode("go\n", 3, NULL);
    before.path = path;
    c = th_shim_connect(&f->shim);
    create_start(c, json_pack("{s:b,s:o}", "stdin", 1, "log", log_params(path, "cri")));
    assert_true(th_wait_until(file_has, &before, TH_EVENT_MS));
    /* What an external rotation tool does: rename, then ask for a reopen. */
    if (rename(path, moved) < 0)
        fail_msg("rename %s: %s", path, strerror(errno));
    json_decref(th_call_ok(c, "reopen_log", NULL));
    assert_true(th_path_exists(path));
    in = th_call_ok(c, "input", json_pack("{s:s}", "data", go));
    assert_int_equal(th_int(in, "written"), 3);
    wait_status(c, 0);
    parse_log_file("cri", moved, &r_old);
    parse_log_file("cri", path, &r_new);
    assert_stream_text(&r_old, "cri", OUT, "before\n", 7);
    assert_stream_text(&r_new, "cri", OUT, "after\n", 6);
    recs_free(&r_old);
    recs_free(&r_new);
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_BOTH_RUNTIMES(test_streams_cri),          TH_BOTH_RUNTIMES(test_streams_jsonl),
        TH_BOTH_RUNTIMES(test_default_log),          TH_BOTH_RUNTIMES(test_binary_bytes),
        TH_BOTH_RUNTIMES(test_long_line_cri),        TH_BOTH_RUNTIMES(test_long_line_jsonl),
        TH_BOTH_RUNTIMES(test_no_newline_cri),       TH_BOTH_RUNTIMES(test_no_newline_jsonl),
        TH_BOTH_RUNTIMES(test_big_output_then_exit), TH_BOTH_RUNTIMES(test_rotation_loses_nothing),
        TH_BOTH_RUNTIMES(test_rotation_max_files),   TH_BOTH_RUNTIMES(test_reopen_log),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
