/* tether-shim under load: 1,000 clients at once, a subscriber that never reads while
 * 100,000 events are produced, 10,000 requests in a row and 100 container lifecycles.
 * Memory and fds stay bounded, the slow client is dropped at its bound, and everybody else
 * is served throughout.
 *
 * Memory is read from /proc/<shim>/status (VmRSS). A shim built with AddressSanitizer
 * keeps freed memory in a quarantine (256 MiB by default) to catch use after free, which
 * would read as growth here: the shims of these tests run with the quarantine off. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

#define MANY_CLIENTS   1000
#define EVENTS_WANTED  100000
#define REQUESTS       10000
#define WARMUP         5000
#define LIFECYCLES     100
#define RSS_NOISE_KB   512
#define SLOW_CLIENT_KB (16 * 1024) /* the 4 MiB output bound, doubled, plus slack */
#define FLAT_KB        (2 * 1024)  /* growth allowed once the slow client is gone */
#define FLAT_FROM      40000       /* events by then: the slow client was dropped at ~20,000 */

static const char *const argv_sleep[] = {"sleep", "1000", NULL};
static const char *const argv_true[] = {"true", NULL};
/* ash's umask builtin makes three umask(2) calls: 34,000 rounds are 102,000 events. */
static const char *const argv_umask_loop[] = {
    "sh", "-c", "i=0; while [ $i -lt 34000 ]; do umask 022; i=$((i+1)); done", NULL};

/* VmRSS of pid in KiB. */
static long rss_kb(pid_t pid)
{
    char path[64];
    cleanup_free char *status = NULL;
    struct tether_error err = {0};
    const char *line;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (tether_read_file(path, 65536, &status, NULL, &err) < 0)
        fail_msg("%s: %s", path, err.msg);
    line = strstr(status, "\nVmRSS:");
    if (line == NULL)
        fail_msg("no VmRSS in %s", path);
    return strtol(line + 7, NULL, 10);
}

static void sleep_ms(long ms)
{
    const struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* Launches the fixture's shim with ASan's quarantine off (see the top of this file). */
static void launch_lean(struct th_fixture *f, const char *const argv[],
                        void (*edit)(json_t *config, void *data))
{
    const char *old = getenv("ASAN_OPTIONS");
    cleanup_free char *saved = old ? xstrdup(old) : NULL;
    cleanup_free char *opts =
        xasprintf("%s%squarantine_size_mb=0", old ? old : "", old && *old ? ":" : "");

    setenv("ASAN_OPTIONS", opts, 1);
    th_fixture_start(f, argv, edit, NULL);
    if (saved != NULL)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
}

struct fd_wait {
    pid_t pid;
    int want;
};

static bool fds_back(void *data)
{
    const struct fd_wait *w = data;

    return th_count_fds(w->pid) == w->want;
}

static void test_thousand_clients(void **state)
{
    struct th_fixture *f = *state;
    struct slot {
        struct tether_client *c;
        int64_t id;
    } *slots = xzalloc(MANY_CLIENTS * sizeof(*slots));
    struct tether_error err = {0};
    struct fd_wait w;
    int i;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    w.pid = f->shim.pid;
    w.want = th_count_fds(f->shim.pid);
    for (i = 0; i < MANY_CLIENTS; i++)
        slots[i].c = th_shim_connect(&f->shim);
    /* All connected at once before anyone asks anything. */
    for (i = 0; i < MANY_CLIENTS; i++) {
        slots[i].id = tether_client_send(slots[i].c, "version", NULL, &err);
        if (slots[i].id < 0)
            fail_msg("client %d: %s", i, err.msg);
    }
    for (i = MANY_CLIENTS - 1; i >= 0; i--) {
        json_auto_t *resp = th_response(slots[i].c, slots[i].id);
        json_t *result = json_object_get(resp, "result");
        if (!json_is_string(json_object_get(result, "version")))
            fail_msg("client %d: no version in the answer", i);
    }
    assert_true(th_count_fds(f->shim.pid) >= w.want + MANY_CLIENTS);
    for (i = 0; i < MANY_CLIENTS; i++)
        tether_client_close(slots[i].c);
    /* Every connection's fd is given back. */
    if (!th_wait_until(fds_back, &w, TH_GONE_MS))
        fail_msg("shim has %d fds, had %d before the clients", th_count_fds(w.pid), w.want);
    free(slots);
}

/* A raw non-blocking connection, made the way Go's net package and Python's socket with a
 * timeout dial: a full listen queue fails it with EAGAIN at once instead of waiting. */
static int connect_nonblocking(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    assert_true(fd >= 0);
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Sends one `version` request and waits (poll, bounded) for one whole answer line. */
static void ask_version(int fd, int i)
{
    static const char req[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"version\"}\n";
    char buf[4096] = {0};
    size_t len = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};

    if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1)
        fail_msg("client %d: send: %s", i, strerror(errno));
    while (memchr(buf, '\n', len) == NULL) {
        ssize_t n;
        if (poll(&p, 1, TH_CALL_MS) != 1)
            fail_msg("client %d: no answer to version", i);
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0)
            fail_msg("client %d: connection closed before the answer", i);
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (strstr(buf, "\"result\"") == NULL || strstr(buf, "\"version\"") == NULL)
        fail_msg("client %d: not a version result: %s", i, buf);
}

/* A thousand non-blocking connects back to back, with no pause: every one is queued (the
 * shim listens with the system's largest backlog) and gets its answer. */
static void test_burst_nonblocking(void **state)
{
    struct th_fixture *f = *state;
    int *fds = xzalloc(MANY_CLIENTS * sizeof(*fds));
    struct fd_wait w;
    int i;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    w.pid = f->shim.pid;
    w.want = th_count_fds(f->shim.pid);
    for (i = 0; i < MANY_CLIENTS; i++) {
        fds[i] = connect_nonblocking(f->shim.socket);
        if (fds[i] < 0)
            fail_msg("connection %d of a burst refused: %s", i, strerror(errno));
    }
    for (i = 0; i < MANY_CLIENTS; i++)
        ask_version(fds[i], i);
    for (i = 0; i < MANY_CLIENTS; i++)
        close(fds[i]);
    if (!th_wait_until(fds_back, &w, TH_GONE_MS))
        fail_msg("shim has %d fds, had %d before the clients", th_count_fds(w.pid), w.want);
    free(fds);
}

#define LOW_FD_LIMIT 48
#define OVER_LIMIT   100

/* Out of fds: the shim stops accepting (the rest wait in the queue), says so in its log,
 * serves who it has, and takes the others once clients leave. */
static void test_fd_limit_hit(void **state)
{
    struct th_fixture *f = *state;
    struct rlimit low = {.rlim_cur = LOW_FD_LIMIT, .rlim_max = LOW_FD_LIMIT};
    struct tether_error err = {0};
    int fds[OVER_LIMIT];
    cleanup_free char *log_path = NULL, *log = NULL;
    struct tether_client *c;
    int i;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    /* The runtime's version is asked once and kept: later answers need no fd. */
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "version", NULL));
    tether_client_close(c);
    if (prlimit(f->shim.pid, RLIMIT_NOFILE, &low, NULL) < 0)
        fail_msg("prlimit: %s", strerror(errno));
    for (i = 0; i < OVER_LIMIT; i++) {
        fds[i] = connect_nonblocking(f->shim.socket);
        if (fds[i] < 0)
            fail_msg("connection %d refused: %s", i, strerror(errno));
    }
    /* The first ones are served while the shim has fds. */
    ask_version(fds[0], 0);
    ask_version(fds[1], 1);
    for (i = 0; i < OVER_LIMIT - 20; i++)
        close(fds[i]);
    for (i = OVER_LIMIT - 20; i < OVER_LIMIT; i++)
        ask_version(fds[i], i);
    for (i = OVER_LIMIT - 20; i < OVER_LIMIT; i++)
        close(fds[i]);
    assert_true(th_pid_alive(f->shim.pid));
    log_path = xasprintf("%s/shim.log", f->shim.dir);
    if (tether_read_file(log_path, 1 << 20, &log, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    assert_non_null(strstr(log, "not accepting until a client leaves"));
}

/* Reads what a client that stopped reading was sent, up to the end of its connection;
 * returns how many events it got and whether the last message was the "dropped"
 * notification, with a reason. */
static long drain_until_closed(struct tether_client *c, bool *told)
{
    long events = 0;

    *told = false;
    for (;;) {
        struct tether_error err = {0};
        json_t *msg = tether_client_read_message(c, TH_CALL_MS, &err);
        const char *method;

        if (msg == NULL) {
            if (err.kind == TETHER_ERR_NOT_FOUND)
                return events; /* closed by the shim */
            fail_msg("the slow client was not dropped: %s", err.msg);
        }
        method = json_string_value(json_object_get(msg, "method"));
        *told = method != NULL && strcmp(method, "dropped") == 0 &&
                strlen(th_str(json_object_get(msg, "params"), "reason")) > 0;
        if (method != NULL && strcmp(method, "event") == 0)
            events++;
        json_decref(msg);
    }
}

/* A subscriber that keeps up with a flood: raw reads, every event line checked for its
 * seq without a full JSON parse (the test process must stay faster than the shim). */
struct fast_reader {
    int fd;
    char buf[1 << 16];
    size_t len;
    long long last_seq;
    long events, seccomp;
    bool exited;
};

static void fast_reader_line(struct fast_reader *r, const char *line)
{
    const char *seq = strstr(line, "\"seq\":");
    long long n;

    if (strstr(line, "\"method\":\"event\"") == NULL || seq == NULL)
        return; /* the answer to subscribe */
    n = strtoll(seq + 6, NULL, 10);
    if (r->last_seq != 0 && n != r->last_seq + 1)
        fail_msg("reader: event %lld after %lld", n, r->last_seq);
    r->last_seq = n;
    r->events++;
    if (strstr(line, "\"topic\":\"seccomp\"") != NULL)
        r->seccomp++;
    else if (strstr(line, "\"topic\":\"exit\"") != NULL)
        r->exited = true;
}

static void fast_reader_read(struct fast_reader *r)
{
    struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
    size_t start = 0, i;
    ssize_t n;

    if (poll(&pfd, 1, TH_EVENT_MS) != 1)
        fail_msg("reader: no event for %d ms", TH_EVENT_MS);
    n = read(r->fd, r->buf + r->len, sizeof(r->buf) - 1 - r->len);
    if (n <= 0)
        fail_msg("reader: connection closed (%s): it was dropped", n < 0 ? strerror(errno) : "EOF");
    r->len += (size_t)n;
    for (i = 0; i < r->len; i++) {
        if (r->buf[i] != '\n')
            continue;
        r->buf[i] = '\0';
        fast_reader_line(r, r->buf + start);
        start = i + 1;
    }
    memmove(r->buf, r->buf + start, r->len - start);
    r->len -= start;
    if (r->len == sizeof(r->buf) - 1)
        fail_msg("reader: a line longer than %zu bytes", sizeof(r->buf));
}

static void test_slow_subscriber(void **state)
{
    static const char subscribe[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"subscribe\"}\n";
    struct th_fixture *f = *state;
    struct tether_client *slow, *reader, *ctl;
    struct tether_error err = {0};
    struct fast_reader *r = xzalloc(sizeof(*r));
    json_auto_t *res = NULL;
    long rss0, rss_max, rss_flat = 0, slow_events = -1, next_sample = 10000;
    bool told = false;

    launch_lean(f, argv_umask_loop, NULL);
    slow = th_shim_connect(&f->shim);
    json_decref(th_call_ok(slow, "subscribe", NULL));
    reader = th_shim_connect(&f->shim);
    r->fd = tether_client_fd(reader);
    if (tether_client_send_raw(reader, subscribe, sizeof(subscribe) - 1, &err) < 0)
        fail_msg("subscribe: %s", err.msg);
    ctl = th_shim_connect(&f->shim);
    json_decref(th_call_ok(
        ctl, "create",
        json_pack("{s:{s:s,s:[s]}}", "seccomp_notify", "policy", "log", "syscalls", "umask")));
    rss0 = rss_kb(f->shim.pid);
    rss_max = rss0;
    json_decref(th_call_ok(ctl, "start", NULL));

    /* The reader keeps up and sees every event in order; the others are served as usual
     * while the slow client's buffer fills and is dropped. */
    while (!r->exited) {
        fast_reader_read(r);
        if (r->events >= next_sample) {
            json_auto_t *st = th_call_ok(ctl, "state", NULL);
            long rss = rss_kb(f->shim.pid);

            printf("# %ld events: RSS %ld KiB\n", r->events, rss);
            if (rss > rss_max)
                rss_max = rss;
            /* Past the drop, many more events must not cost memory. The slow client,
             * reading again, finds its last events and why it was dropped. */
            if (next_sample == FLAT_FROM) {
                rss_flat = rss;
                slow_events = drain_until_closed(slow, &told);
            } else if (next_sample > FLAT_FROM && rss - rss_flat > FLAT_KB)
                fail_msg("shim RSS still growing: %ld KiB at %ld events, %ld KiB at %d", rss,
                         r->events, rss_flat, FLAT_FROM);
            next_sample += 10000;
        }
    }
    res = th_call_ok(ctl, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 0);
    if (r->seccomp < EVENTS_WANTED)
        fail_msg("only %ld seccomp events", r->seccomp);

    if (slow_events < 0 || slow_events >= r->seccomp)
        fail_msg("the slow client got %ld of %ld events", slow_events, r->seccomp);
    if (!told)
        fail_msg("the slow client was not told it was dropped");
    if (rss_max - rss0 > SLOW_CLIENT_KB)
        fail_msg("shim RSS grew from %ld to %ld KiB", rss0, rss_max);
    printf("# %ld events, slow client dropped after %ld, RSS %ld -> max %ld KiB\n", r->events,
           slow_events, rss0, rss_max);
    assert_true(th_pid_alive(f->shim.pid));
    json_decref(th_call_ok(ctl, "delete", NULL));
    tether_client_close(slow);
    tether_client_close(reader);
    tether_client_close(ctl);
    free(r);
}

static void test_rss_many_requests(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    long before, after;
    int i;

    launch_lean(f, argv_sleep, NULL);
    c = th_shim_connect(&f->shim);
    json_decref(th_call_ok(c, "create", NULL));
    json_decref(th_call_ok(c, "start", NULL));
    for (i = 0; i < WARMUP; i++)
        json_decref(th_call_ok(c, "state", NULL));
    /* The shim gives memory back when it goes idle. */
    sleep_ms(200);
    before = rss_kb(f->shim.pid);
    for (i = 0; i < REQUESTS; i++) {
        json_auto_t *st = th_call_ok(c, "state", NULL);
        if (i == 0)
            assert_string_equal(th_str(st, "status"), "running");
    }
    sleep_ms(200);
    after = rss_kb(f->shim.pid);
    printf("# RSS %ld KiB before, %ld KiB after %d state requests\n", before, after, REQUESTS);
    if (after - before > RSS_NOISE_KB)
        fail_msg("RSS grew by %ld KiB over %d requests", after - before, REQUESTS);
    tether_client_close(c);
}

static void one_lifecycle(const struct th_fixture *f, int round)
{
    struct tether_client *c = th_shim_connect(&f->shim);
    json_t *params = NULL;
    json_auto_t *res = NULL;

    /* Every tenth round with a seccomp listener, which has fds of its own. */
    if (round % 10 == 9)
        params =
            json_pack("{s:{s:s,s:[s]}}", "seccomp_notify", "policy", "log", "syscalls", "mkdir");
    json_decref(th_call_ok(c, "create", params));
    json_decref(th_call_ok(c, "start", NULL));
    res = th_call_ok(c, "wait", NULL);
    assert_int_equal(th_int(res, "exit_status"), 0);
    json_decref(th_call_ok(c, "delete", NULL));
    tether_client_close(c);
}

static void test_fds_lifecycles(void **state)
{
    struct th_fixture *f = *state;
    struct fd_wait w;
    int i;

    th_fixture_start(f, argv_true, NULL, NULL);
    w.pid = f->shim.pid;
    w.want = th_count_fds(f->shim.pid);
    for (i = 0; i < LIFECYCLES; i++)
        one_lifecycle(f, i);
    assert_true(th_wait_no_zombies(f->shim.pid, TH_GONE_MS));
    if (!th_wait_until(fds_back, &w, TH_GONE_MS))
        fail_msg("shim has %d fds after %d lifecycles, had %d", th_count_fds(w.pid), LIFECYCLES,
                 w.want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_RUNTIME_TEST(test_thousand_clients, "runc"),
        TH_RUNTIME_TEST(test_burst_nonblocking, "runc"),
        TH_RUNTIME_TEST(test_fd_limit_hit, "runc"),
        TH_RUNTIME_TEST(test_slow_subscriber, "runc"),
        TH_RUNTIME_TEST(test_rss_many_requests, "runc"),
        TH_RUNTIME_TEST(test_fds_lifecycles, "runc"),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
