#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <tether/util.h>

#include "logfmt.h"

/* What comes before the content of every record of one chunk: the time and stream are
 * formatted once per chunk, not once per line. */
struct prefix {
    char text[128];
    size_t len;
};

/* Bytes of a UTF-8 sequence completed across a chunk boundary, written before the first
 * record's content; when not valid each byte becomes \ufffd. */
struct held {
    unsigned char b[4];
    size_t len;
    bool valid;
};

/* Bytes copied into a JSON string as they are: printable ASCII but '"' and '\\'. */
static const unsigned char json_plain[256] = {
    [0x20 ... 0x21] = 1,
    [0x23 ... 0x5b] = 1,
    [0x5d ... 0x7f] = 1,
};

static const char hex_digits[] = "0123456789abcdef";

int tether_logfmt_parse(const char *name, enum tether_logfmt_format *out, struct tether_error *err)
{
    if (strcmp(name, "cri") == 0)
        *out = TETHER_LOGFMT_CRI;
    else if (strcmp(name, "jsonl") == 0)
        *out = TETHER_LOGFMT_JSONL;
    else if (strcmp(name, "raw") == 0)
        *out = TETHER_LOGFMT_RAW;
    else if (strcmp(name, "k8s-file") == 0)
        *out = TETHER_LOGFMT_K8S_FILE;
    else
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "unknown log format \"%s\" (cri, jsonl, raw or k8s-file)", name);
    return 0;
}

const char *tether_logfmt_format_name(enum tether_logfmt_format format)
{
    switch (format) {
    case TETHER_LOGFMT_CRI:
        return "cri";
    case TETHER_LOGFMT_JSONL:
        return "jsonl";
    case TETHER_LOGFMT_RAW:
        return "raw";
    case TETHER_LOGFMT_K8S_FILE:
        return "k8s-file";
    }
    return "unknown";
}

const char *tether_logfmt_stream_name(enum tether_logfmt_stream stream)
{
    return stream == TETHER_LOGFMT_STDERR ? "stderr" : "stdout";
}

char *tether_logfmt_buf_reserve(struct tether_logfmt_buf *buf, size_t n)
{
    size_t need, cap;

    if (buf->cap - buf->len >= n)
        return buf->data + buf->len;
    if (__builtin_add_overflow(buf->len, n, &need))
        need = SIZE_MAX; /* xrealloc aborts */
    cap = buf->cap > 0 ? buf->cap : 4096;
    while (cap < need && cap <= SIZE_MAX / 2)
        cap *= 2;
    if (cap < need)
        cap = need;
    buf->data = xrealloc(buf->data, cap);
    buf->cap = cap;
    return buf->data + buf->len;
}

void tether_logfmt_buf_free(struct tether_logfmt_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

void tether_logfmt_init(struct tether_logfmt *enc, enum tether_logfmt_format format)
{
    memset(enc, 0, sizeof(*enc));
    enc->format = format;
}

bool tether_logfmt_pending(const struct tether_logfmt *enc, enum tether_logfmt_stream stream)
{
    return enc->lines[stream].open || enc->lines[stream].carry_len > 0;
}

/* 2026-12-03T09:39:36.476965715+02:00: local time, nanoseconds, the offset as +HH:MM (Go's
 * "2006-01-02T15:04:05.000000000Z07:00" reads it; it would print "Z" for UTC, the numeric
 * form is what podman's monitor writes). localtime_r() reads the zone once per process. */
static void format_local_time(const struct timespec *ts, char *buf, size_t len)
{
    time_t t = ts->tv_sec;
    struct tm tm;
    long off;
    char sign = '+';

    if (localtime_r(&t, &tm) == NULL) {
        tether_format_time(ts, buf, len);
        return;
    }
    off = tm.tm_gmtoff / 60;
    if (off < 0) {
        sign = '-';
        off = -off;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ld%c%02ld:%02ld", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)ts->tv_nsec, sign,
             off / 60, off % 60);
}

static void prefix_make(struct prefix *px, enum tether_logfmt_format format,
                        enum tether_logfmt_stream stream, const struct timespec *ts)
{
    char time[64];
    const char *name = tether_logfmt_stream_name(stream);
    int n;

    if (format == TETHER_LOGFMT_K8S_FILE)
        format_local_time(ts, time, sizeof(time));
    else
        tether_format_time(ts, time, sizeof(time));
    if (format == TETHER_LOGFMT_JSONL)
        n = snprintf(px->text, sizeof(px->text), "{\"time\":\"%s\",\"stream\":\"%s\",\"log\":\"",
                     time, name);
    else
        n = snprintf(px->text, sizeof(px->text), "%s %s ", time, name);
    px->len = n < 0 ? 0 : (size_t)n < sizeof(px->text) ? (size_t)n : sizeof(px->text) - 1;
}

/* ---- cri ---- */

static void cri_record(struct tether_logfmt_buf *out, const struct prefix *px, char tag,
                       const char *s, size_t n)
{
    char *o = tether_logfmt_buf_reserve(out, px->len + n + 3);

    memcpy(o, px->text, px->len);
    o += px->len;
    *o++ = tag;
    *o++ = ' ';
    memcpy(o, s, n);
    o += n;
    *o++ = '\n';
    out->len = (size_t)(o - out->data);
}

static void cri_encode(struct tether_logfmt_line *line, const struct prefix *px, const char *s,
                       size_t n, struct tether_logfmt_buf *out)
{
    const char *end = s + n;

    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *stop = nl != NULL ? nl : end;

        while ((size_t)(stop - s) > TETHER_LOGFMT_LINE_MAX) {
            cri_record(out, px, 'P', s, TETHER_LOGFMT_LINE_MAX);
            s += TETHER_LOGFMT_LINE_MAX;
            line->open = true;
        }
        if (nl != NULL) {
            cri_record(out, px, 'F', s, (size_t)(nl - s));
            s = nl + 1;
            line->open = false;
        } else {
            cri_record(out, px, 'P', s, (size_t)(end - s));
            s = end;
            line->open = true;
        }
    }
}

/* ---- jsonl ---- */

/* Length of the valid UTF-8 sequence starting at s[0] (>= 0x80) within n bytes, or 0 when
 * it is not one; *cut is set when the bytes are a valid start that n cuts short. Ranges
 * from the Unicode standard, table 3-7: no overlong forms, surrogates or values past
 * U+10FFFF. */
static size_t utf8_seq(const unsigned char *s, size_t n, bool *cut)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len, i;

    *cut = false;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if (i >= n) {
            *cut = true;
            return 0;
        }
        if (s[i] < lo || s[i] > hi)
            return 0;
        lo = 0x80;
        hi = 0xbf;
    }
    return len;
}

/* How many bytes at the end of s[0..n) are a valid UTF-8 start cut short (0 to 3). */
static size_t utf8_cut_tail(const unsigned char *s, size_t n)
{
    size_t k;

    for (k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = s[n - k];
        bool cut;

        if (c < 0x80)
            return 0;
        if (c >= 0xc0) {
            utf8_seq(s + n - k, k, &cut);
            return cut ? k : 0;
        }
    }
    return 0;
}

/* Where to cut a long line near n (s holds more than n bytes) without splitting a UTF-8
 * sequence: back over up to three continuation bytes. */
static size_t utf8_split(const unsigned char *s, size_t n)
{
    size_t k = n;

    while (k > n - 3 && (s[k] & 0xc0) == 0x80)
        k--;
    return (s[k] & 0xc0) == 0x80 ? n : k;
}

static char *put_replacement(char *o)
{
    memcpy(o, "\\ufffd", 6);
    return o + 6;
}

/* Writes s[0..n) as the inside of a JSON string; o has room for 6 bytes per input byte. */
static char *json_escape(char *o, const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t run = i;
        unsigned char c;

        while (run < n && json_plain[s[run]])
            run++;
        memcpy(o, s + i, run - i);
        o += run - i;
        i = run;
        if (i == n)
            break;
        c = s[i];
        if (c >= 0x80) {
            bool cut;
            size_t len = utf8_seq(s + i, n - i, &cut);

            if (len > 0) {
                memcpy(o, s + i, len);
                o += len;
                i += len;
            } else {
                o = put_replacement(o);
                i++;
            }
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"':
        case '\\':
            *o++ = (char)c;
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            memcpy(o, "u00", 3);
            o[3] = hex_digits[c >> 4];
            o[4] = hex_digits[c & 0xf];
            o += 5;
            break;
        }
        i++;
    }
    return o;
}

/* One object: held bytes (may be NULL), then s[0..n), then "\n" when the line ends here. */
static void jsonl_record(struct tether_logfmt_buf *out, const struct prefix *px,
                         const struct held *held, const unsigned char *s, size_t n, bool ends)
{
    size_t held_len = held != NULL ? held->len : 0;
    char *o = tether_logfmt_buf_reserve(out, px->len + 6 * (held_len + n) + 5);

    memcpy(o, px->text, px->len);
    o += px->len;
    if (held != NULL && held->valid) {
        memcpy(o, held->b, held->len);
        o += held->len;
    } else {
        for (size_t i = 0; i < held_len; i++)
            o = put_replacement(o);
    }
    o = json_escape(o, s, n);
    if (ends) {
        *o++ = '\\';
        *o++ = 'n';
    }
    memcpy(o, "\"}\n", 3);
    o += 3;
    out->len = (size_t)(o - out->data);
}

/* Completes the UTF-8 sequence held from the last chunk with the first bytes of this one.
 * Returns false when the chunk ends before that is decided (the bytes stay held). */
static bool jsonl_take_carry(struct tether_logfmt_line *line, const unsigned char **s,
                             const unsigned char *end, struct held *held)
{
    size_t c = line->carry_len, avail = (size_t)(end - *s);
    size_t m = avail < 4 - c ? avail : 4 - c;
    size_t len;
    bool cut;

    memcpy(held->b, line->carry, c);
    memcpy(held->b + c, *s, m);
    len = utf8_seq(held->b, c + m, &cut);
    if (cut) {
        /* c + m < 4 here, and the whole chunk was taken. */
        memcpy(line->carry, held->b, c + m);
        line->carry_len = (unsigned char)(c + m);
        *s += m;
        return false;
    }
    line->carry_len = 0;
    if (len > 0) {
        held->len = len;
        held->valid = true;
        *s += len - c;
    } else {
        /* The lead byte was not completed; the held bytes after it are stray
         * continuation bytes: each one is invalid on its own. */
        held->len = c;
        held->valid = false;
    }
    return true;
}

static void jsonl_encode(struct tether_logfmt_line *line, const struct prefix *px,
                         const unsigned char *s, size_t n, struct tether_logfmt_buf *out)
{
    const unsigned char *end = s + n;
    struct held held_bytes;
    const struct held *held = NULL;

    if (line->carry_len > 0) {
        if (!jsonl_take_carry(line, &s, end, &held_bytes))
            return;
        held = &held_bytes;
    }
    while (s < end || held != NULL) {
        const unsigned char *nl, *stop;
        size_t k;

        if (s == end) {
            jsonl_record(out, px, held, s, 0, false);
            line->open = true;
            break;
        }
        nl = memchr(s, '\n', (size_t)(end - s));
        stop = nl != NULL ? nl : end;
        while ((size_t)(stop - s) > TETHER_LOGFMT_LINE_MAX) {
            k = utf8_split(s, TETHER_LOGFMT_LINE_MAX);
            jsonl_record(out, px, held, s, k, false);
            held = NULL;
            s += k;
            line->open = true;
        }
        if (nl != NULL) {
            jsonl_record(out, px, held, s, (size_t)(nl - s), true);
            held = NULL;
            s = nl + 1;
            line->open = false;
            continue;
        }
        k = utf8_cut_tail(s, (size_t)(end - s));
        if ((size_t)(end - s) > k || held != NULL)
            jsonl_record(out, px, held, s, (size_t)(end - s) - k, false);
        memcpy(line->carry, end - k, k);
        line->carry_len = (unsigned char)k;
        line->open = true;
        break;
    }
}

/* ---- entry points ---- */

void tether_logfmt_encode(struct tether_logfmt *enc, enum tether_logfmt_stream stream,
                          const struct timespec *ts, const void *data, size_t len,
                          struct tether_logfmt_buf *out)
{
    struct prefix px;

    if (len == 0)
        return;
    switch (enc->format) {
    case TETHER_LOGFMT_RAW:
        memcpy(tether_logfmt_buf_reserve(out, len), data, len);
        out->len += len;
        return;
    case TETHER_LOGFMT_CRI:
    case TETHER_LOGFMT_K8S_FILE:
        prefix_make(&px, enc->format, stream, ts);
        cri_encode(&enc->lines[stream], &px, data, len, out);
        return;
    case TETHER_LOGFMT_JSONL:
        prefix_make(&px, enc->format, stream, ts);
        jsonl_encode(&enc->lines[stream], &px, data, len, out);
        return;
    }
}

void tether_logfmt_close_line(struct tether_logfmt *enc, enum tether_logfmt_stream stream,
                              const struct timespec *ts, struct tether_logfmt_buf *out)
{
    struct tether_logfmt_line *line = &enc->lines[stream];
    struct held held = {.valid = false};
    struct prefix px;

    switch (enc->format) {
    case TETHER_LOGFMT_RAW:
    case TETHER_LOGFMT_K8S_FILE:
        break;
    case TETHER_LOGFMT_CRI:
        if (line->open) {
            prefix_make(&px, enc->format, stream, ts);
            cri_record(out, &px, 'F', "", 0);
        }
        break;
    case TETHER_LOGFMT_JSONL:
        if (line->carry_len > 0) {
            prefix_make(&px, enc->format, stream, ts);
            held.len = line->carry_len;
            jsonl_record(out, &px, &held, NULL, 0, false);
        }
        break;
    }
    line->open = false;
    line->carry_len = 0;
}
