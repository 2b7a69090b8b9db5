#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/util.h>

static void __attribute__((noreturn)) oom(size_t size)
{
    fprintf(stderr, "tether: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

void *xzalloc(size_t size)
{
    void *p = calloc(1, size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        oom(size);
    return p;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s);

    if (p == NULL)
        oom(strlen(s) + 1);
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    char *p = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    return p;
}

void tether_freep(void *p)
{
    free(*(void **)p);
}

void tether_closep(const int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
    }
}

bool tether_id_valid(const char *id)
{
    size_t n;

    if (id == NULL || !isalnum((unsigned char)id[0]))
        return false;
    for (n = 1; id[n] != '\0'; n++) {
        unsigned char c = (unsigned char)id[n];
        if (n > 127)
            return false;
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    return true;
}

int tether_write_all(int fd, const void *buf, size_t len, struct tether_error *err)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return tether_error_set(err, errno, "write");
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_fd_to_end(int fd, size_t max, char **out, size_t *len_out, struct tether_error *err)
{
    /* Room for max bytes, one more to notice a longer content, and the NUL. */
    size_t limit = max + 2, cap = limit < 4096 ? limit : 4096, len = 0;
    char *buf = xmalloc(cap);

    for (;;) {
        ssize_t n;
        if (len + 1 == cap) {
            if (cap == limit)
                break;
            cap = cap * 2 > limit ? limit : cap * 2;
            buf = xrealloc(buf, cap);
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            free(buf);
            return tether_error_set(err, errno, "read");
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max) {
        free(buf);
        return tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0, "content larger than %zu bytes",
                                 max);
    }
    buf[len] = '\0';
    *out = buf;
    if (len_out != NULL)
        *len_out = len;
    return 0;
}

int tether_read_file(const char *path, size_t max, char **out, size_t *len_out,
                     struct tether_error *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0)
        return tether_error_setk(err, errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                                 errno, "open %s", path);
    if (read_fd_to_end(fd, max, out, len_out, err) < 0)
        return tether_error_prefix(err, "read %s", path);
    return 0;
}

int tether_read_fd_all(int fd, size_t max, char **out, size_t *len_out, struct tether_error *err)
{
    if (lseek(fd, 0, SEEK_SET) < 0)
        return tether_error_set(err, errno, "lseek");
    return read_fd_to_end(fd, max, out, len_out, err);
}

int tether_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                             struct tether_error *err)
{
    cleanup_free char *tmp = xasprintf("%s.tmp", path);
    char *dir_copy;
    cleanup_close int fd = -1;
    cleanup_close int dfd = -1;

    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, mode);
    if (fd < 0)
        return tether_error_set(err, errno, "create %s", tmp);
    if (tether_write_all(fd, data, len, err) < 0 || fsync(fd) < 0) {
        if (err != NULL && err->kind == TETHER_ERR_NONE)
            tether_error_set(err, errno, "fsync %s", tmp);
        unlink(tmp);
        return tether_error_prefix(err, "write %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int saved = errno;
        unlink(tmp);
        return tether_error_set(err, saved, "rename %s", path);
    }
    dir_copy = xstrdup(path);
    dfd = open(dirname(dir_copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir_copy);
    if (dfd < 0 || fsync(dfd) < 0)
        return tether_error_set(err, errno, "fsync directory of %s", path);
    return 0;
}

void tether_format_time(const struct timespec *ts, char *buf, size_t len)
{
    struct tm tm;
    char base[32];

    gmtime_r(&ts->tv_sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%09ldZ", base, ts->tv_nsec);
}

/* Names in place, not pointers: a table of pointers would need relocating at every start
 * and sit in the relocated read-only data, whose pages each process dirties; this one stays
 * in shared read-only data. */
static const struct {
    int sig;
    char name[8];
} signal_names[] = {
    {SIGHUP, "HUP"},   {SIGINT, "INT"},       {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"},     {SIGBUS, "BUS"},   {SIGFPE, "FPE"},
    {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},     {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"},     {SIGTERM, "TERM"}, {SIGSTKFLT, "STKFLT"},
    {SIGCHLD, "CHLD"}, {SIGCONT, "CONT"},     {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},
    {SIGTTIN, "TTIN"}, {SIGTTOU, "TTOU"},     {SIGURG, "URG"},   {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"},
    {SIGIO, "IO"},     {SIGPWR, "PWR"},       {SIGSYS, "SYS"},
};

int tether_signal_parse(const char *s)
{
    char *end;
    long n;
    size_t i;

    if (s == NULL || *s == '\0')
        return -1;
    if (isdigit((unsigned char)s[0])) {
        errno = 0;
        n = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || n < 1 || n > SIGRTMAX)
            return -1;
        return (int)n;
    }
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (i = 0; i < TETHER_ARRAY_SIZE(signal_names); i++)
        if (strcasecmp(s, signal_names[i].name) == 0)
            return signal_names[i].sig;
    if (strcasecmp(s, "IOT") == 0)
        return SIGABRT;
    if (strncasecmp(s, "RTMIN", 5) == 0 || strncasecmp(s, "RTMAX", 5) == 0) {
        bool max = strncasecmp(s, "RTMAX", 5) == 0;
        int base = max ? SIGRTMAX : SIGRTMIN;
        if (s[5] == '\0')
            return base;
        errno = 0;
        n = strtol(s + 5, &end, 10);
        if (errno != 0 || *end != '\0' || (max ? n > 0 : n < 0))
            return -1;
        n += base;
        if (n < SIGRTMIN || n > SIGRTMAX)
            return -1;
        return (int)n;
    }
    return -1;
}

const char *tether_signal_name(int sig, char *buf, size_t len)
{
    size_t i;

    for (i = 0; i < TETHER_ARRAY_SIZE(signal_names); i++)
        if (signal_names[i].sig == sig) {
            snprintf(buf, len, "SIG%s", signal_names[i].name);
            return buf;
        }
    if (sig >= SIGRTMIN && sig <= SIGRTMAX) {
        if (sig == SIGRTMIN)
            snprintf(buf, len, "SIGRTMIN");
        else
            snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
        return buf;
    }
    snprintf(buf, len, "SIG%d", sig);
    return buf;
}

int tether_set_nonblock(int fd, struct tether_error *err)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return tether_error_set(err, errno, "fcntl O_NONBLOCK");
    return 0;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *tether_base64_encode(const void *data, size_t len, size_t *out_len)
{
    const unsigned char *in = data;
    size_t n = 4 * ((len + 2) / 3), i, o = 0;
    char *out = xmalloc(n + 1);

    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    if (out_len != NULL)
        *out_len = o;
    return out;
}

size_t tether_base64_decoded_max(size_t len)
{
    return (len / 4 + 1) * 3;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

ssize_t tether_base64_decode(const char *text, size_t len, void *out)
{
    unsigned char *o = out;
    size_t i, n = 0;

    if (len % 4 != 0)
        return -1;
    for (i = 0; i < len; i += 4) {
        int a = b64_value((unsigned char)text[i]), b = b64_value((unsigned char)text[i + 1]);
        bool last = i + 4 == len;
        int c, d;
        if (a < 0 || b < 0)
            return -1;
        o[n++] = (unsigned char)(a << 2 | b >> 4);
        if (last && text[i + 2] == '=') {
            if (text[i + 3] != '=')
                return -1;
            break;
        }
        c = b64_value((unsigned char)text[i + 2]);
        if (c < 0)
            return -1;
        o[n++] = (unsigned char)((b & 15) << 4 | c >> 2);
        if (last && text[i + 3] == '=')
            break;
        d = b64_value((unsigned char)text[i + 3]);
        if (d < 0)
            return -1;
        o[n++] = (unsigned char)((c & 3) << 6 | d);
    }
    return (ssize_t)n;
}

const char *tether_quote(const char *s, char *buf, size_t len)
{
    size_t o = 0;

    if (len == 0)
        return buf;
    for (; *s != '\0' && o + 5 < len; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            buf[o++] = (char)c;
        } else {
            snprintf(buf + o, len - o, "\\x%02x", c);
            o += 4;
        }
    }
    buf[o] = '\0';
    return buf;
}

int tether_recv_fd(int sock, void *data, size_t len, struct tether_error *err)
{
    char scratch[256];
    char control[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = data != NULL ? data : scratch,
                        .iov_len = data != NULL ? len : sizeof(scratch)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control,
                         .msg_controllen = sizeof(control)};
    struct cmsghdr *cmsg;
    ssize_t n;
    int fd;

    do
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return tether_error_set(err, errno, "recvmsg");
    cmsg = CMSG_FIRSTHDR(&msg);
    if (cmsg == NULL || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
        cmsg->cmsg_len != CMSG_LEN(sizeof(int)))
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "no fd in the message");
    memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
    return fd;
}
