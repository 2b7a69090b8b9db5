/* tetherctl logs: a container log in any of the shim's formats (cri, jsonl, raw; detected
 * line by line) printed as plain text, optionally followed across rotations until the
 * container exits. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/util.h>

#include "tetherctl.h"

#define CTL_LOG_READ_CHUNK 65536
/* A line longer than this (raw output without newlines) is printed in pieces. */
#define CTL_LOG_LINE_MAX (1u << 20)
/* Follow re-checks the file at least this often, even without a file event. */
#define CTL_FOLLOW_TICK_MS 1000
/* Rotated files looked at when the followed file was renamed away (path.1 .. path.N). */
#define CTL_ROTATED_MAX 1000

struct log_reader {
    const char *path;
    int fd; /* the file being read, -1 before it exists */
    dev_t dev;
    ino_t ino;
    char *buf; /* bytes read, not printed yet: a line without its newline */
    size_t len;
    FILE *last; /* the stream written last: flushed when the other one is written */
};

/* ---- one line ---- */

static void emit(struct log_reader *r, FILE *to, const char *data, size_t len)
{
    if (r->last != NULL && r->last != to)
        fflush(r->last);
    r->last = to;
    fwrite(data, 1, len, to);
}

static FILE *stream_file(const char *name, size_t len)
{
    return len == 6 && memcmp(name, "stderr", 6) == 0 ? stderr : stdout;
}

/* "2026-11-22T14:13:41.492604010Z" and the like. */
static bool looks_like_time(const char *s, size_t len)
{
    return len >= 20 && len <= 40 && s[4] == '-' && s[7] == '-' && s[10] == 'T' && s[0] >= '0' &&
           s[0] <= '9';
}

/* CRI: "TIME STREAM P|F CONTENT"; a P record continues on the next one of its stream. */
static bool print_cri(struct log_reader *r, const char *line, size_t len)
{
    const char *end = line + len;
    const char *sp1 = memchr(line, ' ', len);
    const char *stream, *sp2, *tag;

    if (sp1 == NULL || !looks_like_time(line, (size_t)(sp1 - line)))
        return false;
    stream = sp1 + 1;
    sp2 = memchr(stream, ' ', (size_t)(end - stream));
    if (sp2 == NULL || !((sp2 - stream == 6 &&
                          (memcmp(stream, "stdout", 6) == 0 || memcmp(stream, "stderr", 6) == 0))))
        return false;
    tag = sp2 + 1;
    if (tag >= end || (*tag != 'P' && *tag != 'F') || (tag + 1 < end && tag[1] != ' '))
        return false;
    {
        FILE *to = stream_file(stream, 6);
        const char *content = tag + 1 < end ? tag + 2 : end;
        emit(r, to, content, (size_t)(end - content));
        if (*tag == 'F')
            emit(r, to, "\n", 1);
    }
    return true;
}

/* JSON lines: {"time":…,"stream":…,"log":"…"}, the log value holding its own newline. */
static bool print_jsonl(struct log_reader *r, const char *line, size_t len)
{
    json_auto_t *rec = NULL;
    json_t *log;
    const char *stream;

    if (len == 0 || line[0] != '{')
        return false;
    rec = json_loadb(line, len, JSON_ALLOW_NUL, NULL);
    log = json_object_get(rec, "log");
    if (!json_is_string(log))
        return false;
    stream = json_string_value(json_object_get(rec, "stream"));
    emit(r, stream != NULL ? stream_file(stream, strlen(stream)) : stdout, json_string_value(log),
         json_string_length(log));
    return true;
}

/* One line without its newline; newline tells whether it had one. */
static void print_line(struct log_reader *r, const char *line, size_t len, bool newline)
{
    if (print_cri(r, line, len) || print_jsonl(r, line, len))
        return;
    /* raw: as it is */
    emit(r, stdout, line, len);
    if (newline)
        emit(r, stdout, "\n", 1);
}

/* ---- the file ---- */

/* Prints the complete lines in the buffer and keeps the rest; with flush, the rest too. */
static void print_buffered(struct log_reader *r, bool flush)
{
    size_t pos = 0;

    for (;;) {
        char *nl = memchr(r->buf + pos, '\n', r->len - pos);
        if (nl == NULL)
            break;
        print_line(r, r->buf + pos, (size_t)(nl - (r->buf + pos)), true);
        pos = (size_t)(nl - r->buf) + 1;
    }
    if ((flush || r->len - pos >= CTL_LOG_LINE_MAX) && pos < r->len) {
        print_line(r, r->buf + pos, r->len - pos, false);
        pos = r->len;
    }
    memmove(r->buf, r->buf + pos, r->len - pos);
    r->len -= pos;
}

/* Reads fd to its current end, printing complete lines. */
static int read_to_end(struct log_reader *r, int fd, struct tether_error *err)
{
    for (;;) {
        ssize_t n = read(fd, r->buf + r->len, CTL_LOG_READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return tether_error_set(err, errno, "read %s", r->path);
        if (n == 0)
            return 0;
        r->len += (size_t)n;
        print_buffered(r, false);
    }
}

static int open_log(struct log_reader *r, const char *path, struct tether_error *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return tether_error_setk(err, errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                                 errno, "open %s", path);
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return tether_error_set(err, e, "stat %s", path);
    }
    if (r->fd >= 0)
        close(r->fd);
    r->fd = fd;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    return 0;
}

static bool same_file(const struct log_reader *r, const struct stat *st)
{
    return st->st_dev == r->dev && st->st_ino == r->ino;
}

/* The followed file was renamed away: if it is now path.K, the files rotated after it
 * (path.K-1 .. path.1) are read before the new path, so that quick rotations lose
 * nothing. */
static int read_rotated_since(struct log_reader *r, struct tether_error *err)
{
    int k;

    for (k = 1; k <= CTL_ROTATED_MAX; k++) {
        cleanup_free char *name = xasprintf("%s.%d", r->path, k);
        struct stat st;
        if (stat(name, &st) < 0)
            return 0; /* gone (max_files 1, or removed): nothing to catch up on */
        if (same_file(r, &st))
            break;
    }
    for (k--; k >= 1 && k < CTL_ROTATED_MAX; k--) {
        cleanup_free char *name = xasprintf("%s.%d", r->path, k);
        cleanup_close int fd = open(name, O_RDONLY | O_CLOEXEC);
        if (fd >= 0 && read_to_end(r, fd, err) < 0)
            return -1;
    }
    return 0;
}

/* Follows the file's name: reads the rest of the current file, then switches to the file
 * now at the path if that is another one (rotated) or starts over if it shrank (copied and
 * truncated). */
static int catch_up(struct log_reader *r, struct tether_error *err)
{
    struct stat st;

    if (r->fd >= 0 && read_to_end(r, r->fd, err) < 0)
        return -1;
    if (stat(r->path, &st) < 0)
        return 0; /* between the rename and the new file, or not created yet */
    if (r->fd >= 0 && same_file(r, &st)) {
        off_t pos = lseek(r->fd, 0, SEEK_CUR);
        if (pos > st.st_size && lseek(r->fd, 0, SEEK_SET) == 0)
            return read_to_end(r, r->fd, err);
        return 0;
    }
    if (r->fd >= 0 && read_rotated_since(r, err) < 0)
        return -1;
    if (open_log(r, r->path, err) < 0)
        return err->kind == TETHER_ERR_NOT_FOUND ? 0 : -1;
    return read_to_end(r, r->fd, err);
}

/* ---- following ---- */

struct follow {
    struct tether_client *c;
    json_int_t since; /* events up to this seq were there before following began */
    bool ended;
};

/* Handles what the shim sent; ended once the container's exit came or the shim left. */
static void follow_events(struct follow *f)
{
    struct tether_error err = {0};
    json_t *n;

    if (f->c == NULL)
        return;
    while ((n = tether_client_next_notification(f->c, 0, &err)) != NULL) {
        json_t *params = json_object_get(n, "params");
        const char *topic = json_string_value(json_object_get(params, "topic"));
        if (json_integer_value(json_object_get(params, "seq")) > f->since && topic != NULL &&
            strcmp(topic, "exit") == 0 && json_object_get(params, "exec_id") == NULL)
            f->ended = true;
        json_decref(n);
    }
    if (err.kind == TETHER_ERR_NOT_FOUND)
        f->ended = true; /* the shim is gone */
}

/* Subscribes to the shim's events; false when there is nothing to follow (no shim, or the
 * container already stopped). */
static bool follow_begin(const struct ctl *ctl, struct follow *f)
{
    struct tether_error err = {0};
    json_auto_t *params = json_pack("{s:i}", "since", 0);
    json_auto_t *subscribed = NULL;
    json_auto_t *state = NULL;
    const char *status;

    f->c = ctl_connect(ctl, &err);
    if (f->c == NULL)
        return false;
    subscribed = tether_client_call(f->c, "subscribe", params, -1, NULL, &err);
    if (subscribed == NULL)
        return false;
    f->since = json_integer_value(json_object_get(subscribed, "seq"));
    /* Asked after subscribing: an exit from now on comes as an event. */
    state = tether_client_call(f->c, "state", NULL, -1, NULL, &err);
    status = json_string_value(json_object_get(state, "status"));
    return status != NULL && strcmp(status, "stopped") != 0;
}

static int follow_log(const struct ctl *ctl, struct log_reader *r, struct tether_error *err)
{
    struct follow f = {0};
    cleanup_close int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    cleanup_free char *dir = xstrdup(r->path);
    char *slash = strrchr(dir, '/');
    int rc = 0;

    if (slash != NULL)
        *(slash == dir ? slash + 1 : slash) = '\0';
    /* Any change in the directory wakes the loop: writes, renames, a new file. */
    if (ino >= 0)
        inotify_add_watch(ino, slash != NULL ? dir : ".",
                          IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE);
    f.ended = !follow_begin(ctl, &f);
    for (;;) {
        char events[4096];
        struct pollfd pfds[2] = {
            {.fd = f.c != NULL ? tether_client_fd(f.c) : -1, .events = POLLIN},
            {.fd = ino, .events = POLLIN},
        };

        follow_events(&f);
        if ((rc = catch_up(r, err)) < 0 || f.ended)
            break;
        fflush(stdout);
        fflush(stderr);
        if (poll(pfds, 2, CTL_FOLLOW_TICK_MS) < 0 && errno != EINTR) {
            rc = tether_error_set(err, errno, "poll");
            break;
        }
        while (ino >= 0 && read(ino, events, sizeof(events)) > 0)
            ;
    }
    tether_client_close(f.c);
    if (rc == 0 && r->fd < 0)
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "no log at %s", r->path);
    return rc;
}

int ctl_cmd_logs(struct ctl *ctl)
{
    struct tether_error err = {0};
    cleanup_free char *path = ctl->path != NULL
                                  ? xstrdup(ctl->path)
                                  : xasprintf("%s/%s/container.log", ctl->state_dir, ctl->id);
    struct log_reader r = {.path = path, .fd = -1};
    int rc;

    r.buf = xmalloc(CTL_LOG_LINE_MAX + CTL_LOG_READ_CHUNK);
    rc = open_log(&r, path, &err);
    if (rc == 0 || (ctl->follow && err.kind == TETHER_ERR_NOT_FOUND)) {
        tether_error_clear(&err);
        rc = r.fd >= 0 ? read_to_end(&r, r.fd, &err) : 0;
        if (rc == 0 && ctl->follow)
            rc = follow_log(ctl, &r, &err);
        print_buffered(&r, true);
    }
    fflush(stdout);
    fflush(stderr);
    if (r.fd >= 0)
        close(r.fd);
    free(r.buf);
    if (rc < 0)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    return CTL_EXIT_OK;
}
