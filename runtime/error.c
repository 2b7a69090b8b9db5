#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <tether/error.h>

static void __attribute__((format(printf, 4, 0)))
error_vset(struct tether_error *err, enum tether_error_kind kind, int errnum, const char *fmt,
           va_list ap)
{
    int n;

    if (err == NULL)
        return;
    err->kind = kind;
    err->errnum = errnum;
    n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    if (n < 0)
        err->msg[0] = '\0';
    else if (errnum != 0 && (size_t)n < sizeof(err->msg))
        snprintf(err->msg + n, sizeof(err->msg) - (size_t)n, ": %s", strerror(errnum));
}

int tether_error_set(struct tether_error *err, int errnum, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vset(err, errnum != 0 ? TETHER_ERR_INTERNAL : TETHER_ERR_INVALID, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

int tether_error_setk(struct tether_error *err, enum tether_error_kind kind, int errnum,
                      const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vset(err, kind, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

int tether_error_prefix(struct tether_error *err, const char *fmt, ...)
{
    char text[2 * TETHER_ERROR_MSG_MAX + 2];
    size_t n;
    va_list ap;

    if (err == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(text, TETHER_ERROR_MSG_MAX, fmt, ap);
    va_end(ap);
    n = strlen(text);
    text[n++] = ':';
    text[n++] = ' ';
    memcpy(text + n, err->msg, strnlen(err->msg, sizeof(err->msg) - 1) + 1);
    text[n + sizeof(err->msg) - 1] = '\0';
    memcpy(err->msg, text, sizeof(err->msg) - 1);
    err->msg[sizeof(err->msg) - 1] = '\0';
    return -1;
}

void tether_error_clear(struct tether_error *err)
{
    if (err == NULL)
        return;
    err->kind = TETHER_ERR_NONE;
    err->errnum = 0;
    err->msg[0] = '\0';
}
