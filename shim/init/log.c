/* Messages on stderr. Each one is formatted first and written with a single write(2), so
 * that lines from tether-init and its children do not interleave mid-line. The formatter
 * knows %s, %d, %c and %% only: it is all tether-init prints, and the libc's printf
 * would be the largest part of the binary. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "init.h"

#define LOG_PREFIX "tether-init: "

struct out {
    char *buf;
    size_t len; /* capacity, with room for the final NUL */
    size_t pos;
};

static void out_char(struct out *o, char c)
{
    if (o->pos + 1 < o->len)
        o->buf[o->pos++] = c;
}

static void out_str(struct out *o, const char *s)
{
    while (*s)
        out_char(o, *s++);
}

static void out_int(struct out *o, int v)
{
    char digits[12];
    unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
    size_t n = 0;

    do
        digits[n++] = (char)('0' + u % 10);
    while ((u /= 10));
    if (v < 0)
        out_char(o, '-');
    while (n)
        out_char(o, digits[--n]);
}

static void out_format(struct out *o, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%' || !fmt[1]) {
            out_char(o, *fmt);
            continue;
        }
        switch (*++fmt) {
        case 's':
            out_str(o, va_arg(ap, const char *));
            break;
        case 'd':
            out_int(o, va_arg(ap, int));
            break;
        case 'c':
            out_char(o, (char)va_arg(ap, int));
            break;
        default:
            out_char(o, *fmt);
            break;
        }
    }
    if (o->len)
        o->buf[o->pos] = '\0';
}

size_t init_format(char *buf, size_t len, const char *fmt, ...)
{
    struct out o = {buf, len, 0};
    va_list ap;

    va_start(ap, fmt);
    out_format(&o, fmt, ap);
    va_end(ap);
    return o.pos;
}

static void log_write(const char *msg, int errnum)
{
    char line[INIT_ERROR_MSG_MAX + 128];
    size_t n = errnum ? init_format(line, sizeof line, LOG_PREFIX "%s: %s\n", msg, strerror(errnum))
                      : init_format(line, sizeof line, LOG_PREFIX "%s\n", msg);

    if (n == sizeof line - 1)
        line[n - 1] = '\n';
    while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR)
        ;
}

void init_log(const struct init *in, int level, const char *fmt, ...)
{
    char msg[INIT_ERROR_MSG_MAX];
    struct out o = {msg, sizeof msg, 0};
    va_list ap;

    if (level > in->opt->verbosity)
        return;
    va_start(ap, fmt);
    out_format(&o, fmt, ap);
    va_end(ap);
    log_write(msg, 0);
}

void init_log_error(const struct init_error *err)
{
    log_write(err->msg, err->errnum);
}

int init_error_set(struct init_error *err, int errnum, const char *fmt, ...)
{
    struct out o = {err->msg, sizeof err->msg, 0};
    va_list ap;

    err->errnum = errnum;
    va_start(ap, fmt);
    out_format(&o, fmt, ap);
    va_end(ap);
    return -1;
}
