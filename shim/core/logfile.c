#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/util.h>

#include "logfile.h"

struct tether_logfile {
    char *path;
    int fd;
    uint64_t size;     /* bytes in the live file */
    uint64_t max_size; /* 0: no limit */
    unsigned max_files;
    struct tether_logfmt enc;
    struct tether_logfmt_buf buf; /* encoded records of the chunk being written */
};

/* O_NONBLOCK only for the open itself, so that a FIFO planted at path fails (ENXIO without
 * a reader, else the regular-file check) instead of blocking the shim's loop. */
static int logfile_open_fd(const char *path, uint64_t *size, struct tether_error *err)
{
    cleanup_close int fd = -1;
    struct stat st;
    int flags;

    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
              0600);
    if (fd < 0)
        return tether_error_set(err, errno, "open %s", path);
    if (fstat(fd, &st) < 0)
        return tether_error_set(err, errno, "stat %s", path);
    if (!S_ISREG(st.st_mode))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "%s is not a regular file", path);
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        return tether_error_set(err, errno, "fcntl %s", path);
    *size = (uint64_t)st.st_size;
    return steal_fd(fd);
}

struct tether_logfile *tether_logfile_open(const char *path, enum tether_logfmt_format format,
                                           uint64_t max_size, unsigned max_files,
                                           struct tether_error *err)
{
    struct tether_logfile *lf;
    uint64_t size = 0;
    int fd;

    if (max_size > 0 && (max_files < 1 || max_files > TETHER_LOGFILE_MAX_FILES)) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "log max files %u not in 1..%u", max_files,
                          TETHER_LOGFILE_MAX_FILES);
        return NULL;
    }
    fd = logfile_open_fd(path, &size, err);
    if (fd < 0)
        return NULL;
    lf = xzalloc(sizeof(*lf));
    lf->path = xstrdup(path);
    lf->fd = fd;
    lf->size = size;
    lf->max_size = max_size;
    lf->max_files = max_files;
    tether_logfmt_init(&lf->enc, format);
    return lf;
}

void tether_logfile_close(struct tether_logfile *lf)
{
    if (lf == NULL)
        return;
    if (lf->fd >= 0)
        close(lf->fd);
    tether_logfmt_buf_free(&lf->buf);
    free(lf->path);
    free(lf);
}

void tether_logfile_closep(struct tether_logfile **lf)
{
    tether_logfile_close(*lf);
    *lf = NULL;
}

uint64_t tether_logfile_size(const struct tether_logfile *lf)
{
    return lf->size;
}

static void logfile_swap_fd(struct tether_logfile *lf, int fd, uint64_t size)
{
    close(lf->fd);
    lf->fd = fd;
    lf->size = size;
}

int tether_logfile_reopen(struct tether_logfile *lf, struct tether_error *err)
{
    uint64_t size = 0;
    int fd = logfile_open_fd(lf->path, &size, err);

    if (fd < 0)
        return tether_error_prefix(err, "reopen log");
    logfile_swap_fd(lf, fd, size);
    return 0;
}

/* path.<i> -> path.<i+1> for the kept files, path -> path.1, then a fresh path. A name
 * missing along the way (removed by someone else) is skipped. */
static int logfile_rotate(struct tether_logfile *lf, struct tether_error *err)
{
    uint64_t size = 0;
    unsigned i;
    int fd;

    if (lf->max_files == 1) {
        if (unlink(lf->path) < 0 && errno != ENOENT)
            return tether_error_set(err, errno, "rotate log: remove %s", lf->path);
    }
    for (i = lf->max_files - 1; i > 0; i--) {
        cleanup_free char *from = i > 1 ? xasprintf("%s.%u", lf->path, i - 1) : xstrdup(lf->path);
        cleanup_free char *to = xasprintf("%s.%u", lf->path, i);

        if (rename(from, to) < 0 && errno != ENOENT)
            return tether_error_set(err, errno, "rotate log: rename %s to %s", from, to);
    }
    fd = logfile_open_fd(lf->path, &size, err);
    if (fd < 0)
        return tether_error_prefix(err, "rotate log");
    logfile_swap_fd(lf, fd, size);
    return 0;
}

/* The longest start of data[0..len) that fits in room bytes and ends on a record boundary
 * (just after a '\n'); raw output has no records and is cut anywhere. */
static size_t logfile_cut(const char *data, size_t len, uint64_t room, bool records)
{
    size_t n = room < len ? (size_t)room : len;
    const char *nl;

    if (!records || n == 0)
        return n;
    nl = memrchr(data, '\n', n);
    return nl != NULL ? (size_t)(nl - data) + 1 : 0;
}

static int logfile_append(struct tether_logfile *lf, const char *data, size_t len,
                          struct tether_error *err)
{
    if (tether_write_all(lf->fd, data, len, err) < 0) {
        /* Do not leave half a record behind. Best effort: the disk may be full, and the
         * write error is the one worth reporting. */
        int rc = ftruncate(lf->fd, (off_t)lf->size);

        (void)rc;
        return tether_error_prefix(err, "write log %s", lf->path);
    }
    lf->size += len;
    return 0;
}

/* Appends data, rotating between records whenever the next ones would not fit. */
static int logfile_put(struct tether_logfile *lf, const char *data, size_t len, bool records,
                       struct tether_error *err)
{
    while (len > 0) {
        size_t n = len;

        if (lf->max_size > 0 && lf->size + len > lf->max_size) {
            uint64_t room = lf->size < lf->max_size ? lf->max_size - lf->size : 0;

            n = logfile_cut(data, len, room, records);
            if (n == 0 && lf->size > 0) {
                if (logfile_rotate(lf, err) < 0)
                    return -1;
                continue;
            }
            if (n == 0) {
                /* One record longer than max_size: it gets a file to itself. */
                const char *nl = memchr(data, '\n', len);
                n = nl != NULL ? (size_t)(nl - data) + 1 : len;
            }
        }
        if (logfile_append(lf, data, n, err) < 0)
            return -1;
        data += n;
        len -= n;
    }
    return 0;
}

int tether_logfile_write(struct tether_logfile *lf, enum tether_logfmt_stream stream,
                         const struct timespec *ts, const void *data, size_t len,
                         struct tether_error *err)
{
    if (lf->enc.format == TETHER_LOGFMT_RAW)
        return logfile_put(lf, data, len, false, err);
    lf->buf.len = 0;
    tether_logfmt_encode(&lf->enc, stream, ts, data, len, &lf->buf);
    return logfile_put(lf, lf->buf.data, lf->buf.len, true, err);
}

int tether_logfile_flush(struct tether_logfile *lf, const struct timespec *ts,
                         struct tether_error *err)
{
    int s;

    lf->buf.len = 0;
    for (s = 0; s < TETHER_LOGFMT_NSTREAMS; s++)
        tether_logfmt_close_line(&lf->enc, (enum tether_logfmt_stream)s, ts, &lf->buf);
    return logfile_put(lf, lf->buf.data, lf->buf.len, true, err);
}

int tether_logfile_flush_and_sync(struct tether_logfile *lf, const struct timespec *ts,
                                  struct tether_error *err)
{
    if (tether_logfile_flush(lf, ts, err) < 0)
        return -1;
    if (fdatasync(lf->fd) < 0)
        return tether_error_set(err, errno, "fdatasync log %s", lf->path);
    return 0;
}
