/* The shim's own log (shim.log, or stderr in the foreground): one line per message,
 * "<RFC3339 time> <level> <message>". Writes are unbuffered and never block the loop for
 * long: the log is a regular file. */
#ifndef TETHER_LOG_H
#define TETHER_LOG_H

enum tether_log_level {
    TETHER_LOG_ERROR,
    TETHER_LOG_WARN,
    TETHER_LOG_INFO,
    TETHER_LOG_DEBUG,
};

struct tether_log {
    int fd; /* -1: discard */
    enum tether_log_level level;
};

/* "error" | "warn" | "info" | "debug" -> level; -1 when unknown. */
int tether_log_level_parse(const char *s);

void tether_log(const struct tether_log *log, enum tether_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(l, ...) tether_log((l), TETHER_LOG_ERROR, __VA_ARGS__)
#define log_warn(l, ...)  tether_log((l), TETHER_LOG_WARN, __VA_ARGS__)
#define log_info(l, ...)  tether_log((l), TETHER_LOG_INFO, __VA_ARGS__)
#define log_debug(l, ...) tether_log((l), TETHER_LOG_DEBUG, __VA_ARGS__)

#endif
