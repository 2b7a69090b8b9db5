#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <tether/log.h>
#include <tether/util.h>

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int tether_log_level_parse(const char *s)
{
    size_t i;

    for (i = 0; i < TETHER_ARRAY_SIZE(level_names); i++)
        if (strcmp(s, level_names[i]) == 0)
            return (int)i;
    return -1;
}

void tether_log(const struct tether_log *log, enum tether_log_level level, const char *fmt, ...)
{
    char line[2048];
    struct timespec now;
    va_list ap;
    size_t n;
    int saved = errno;

    if (log == NULL || log->fd < 0 || level > log->level)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    tether_format_time(&now, line, 40);
    n = strlen(line);
    n += (size_t)snprintf(line + n, sizeof(line) - n, " %s ", level_names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    n = strlen(line);
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* One write per line keeps lines whole; a failed log write has nowhere to be reported. */
    if (write(log->fd, line, n) < 0) {
    }
    errno = saved;
}
