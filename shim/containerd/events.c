#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <tether/util.h>

#include "events.h"
#include "github.com/containerd/containerd/api/services/ttrpc/events/v1/events.pb-c.h"

struct tether_ctrd_note {
    uint64_t after_seq; /* goes out after journal event after_seq, before the next */
    struct timespec at;
    char *topic;
    char *type_url;
    uint8_t *value;
    size_t len;
    struct tether_ctrd_note *next;
};

static void note_free(struct tether_ctrd_note *n)
{
    free(n->topic);
    free(n->type_url);
    free(n->value);
    free(n);
}

static void pop_note(struct tether_ctrd_events *ev)
{
    struct tether_ctrd_note *n = ev->notes;

    ev->notes = n->next;
    if (ev->notes == NULL)
        ev->notes_tail = NULL;
    ev->n_notes--;
    note_free(n);
}

static void schedule(struct tether_ctrd_events *ev, unsigned ms)
{
    struct tether_error err = {0};

    if (tether_timer_arm(&ev->timer, ms, &err) < 0)
        log_error(ev->log, "events: %s", err.msg);
}

static void disconnect(struct tether_ctrd_events *ev)
{
    if (ev->src.fd >= 0) {
        tether_loop_remove(ev->loop, &ev->src);
        close(ev->src.fd);
        ev->src.fd = -1;
    }
    ev->connected = false;
    ev->in_flight = false;
    free(ev->out);
    ev->out = NULL;
    ev->out_len = ev->out_off = 0;
    tether_ttrpc_reader_fini(&ev->in);
    tether_ttrpc_reader_init(&ev->in);
    tether_timer_disarm(&ev->timer);
}

/* The connection failed: try again after the backoff delay. */
static void retry_later(struct tether_ctrd_events *ev, const char *why)
{
    disconnect(ev);
    if (!ev->gave_up_logged)
        log_warn(ev->log, "events: containerd at %s: %s; retrying (events are kept)", ev->address,
                 why);
    ev->gave_up_logged = true;
    schedule(ev, ev->backoff_ms);
    ev->backoff_ms *= 2;
    if (ev->backoff_ms > TETHER_CTRD_EVENTS_BACKOFF_MAX_MS)
        ev->backoff_ms = TETHER_CTRD_EVENTS_BACKOFF_MAX_MS;
}

bool tether_ctrd_events_idle(const struct tether_ctrd_events *ev)
{
    return !ev->in_flight && ev->notes == NULL && ev->next_seq > tether_core_last_seq(ev->core);
}

/* ---- the Forward request ---- */

static uint8_t *forward_frame(struct tether_ctrd_events *ev, const struct tether_ctrd_envelope *env,
                              const struct timespec *at, size_t *frame_len)
{
    Containerd__Services__Events__Ttrpc__V1__ForwardRequest req =
        CONTAINERD__SERVICES__EVENTS__TTRPC__V1__FORWARD_REQUEST__INIT;
    Containerd__Services__Events__Ttrpc__V1__Envelope envelope =
        CONTAINERD__SERVICES__EVENTS__TTRPC__V1__ENVELOPE__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    const struct tether_ttrpc_kv md = {.key = "containerd-namespace-ttrpc", .value = ev->ns};
    struct tether_ttrpc_call call = {
        .service = TETHER_CTRD_EVENTS_SERVICE,
        .method = "Forward",
        .timeout_nano = TETHER_CTRD_EVENTS_TIMEOUT_NS,
        .metadata = &md,
        .n_metadata = 1,
    };
    struct tether_error err = {0};
    cleanup_free uint8_t *payload = NULL;
    uint8_t *frame;

    ts.seconds = at->tv_sec;
    ts.nanos = (int32_t)at->tv_nsec;
    any.type_url = (char *)env->type_url;
    any.value.data = env->value;
    any.value.len = env->len;
    envelope.timestamp = &ts;
    envelope.namespace_ = ev->ns;
    envelope.topic = (char *)env->topic;
    envelope.event = &any;
    req.envelope = &envelope;
    payload = tether_ttrpc_pack(&req.base, &call.payload_len);
    call.payload = payload;
    ev->stream = ev->next_stream;
    ev->next_stream += 2;
    frame = tether_ttrpc_request_encode(ev->stream, &call, frame_len, &err);
    if (frame == NULL)
        log_error(ev->log, "events: %s %s: %s", env->topic, env->type_url, err.msg);
    return frame;
}

static void flush(struct tether_ctrd_events *ev);

/* Sends the next event, if there is one and nothing is in flight. */
static void send_next(struct tether_ctrd_events *ev)
{
    struct tether_error err = {0};

    while (ev->connected && !ev->in_flight) {
        uint64_t first = tether_core_first_seq(ev->core), last = tether_core_last_seq(ev->core);
        struct tether_ctrd_envelope env = {0};
        struct timespec at;
        bool note = false;

        if (ev->next_seq < first) {
            log_error(ev->log,
                      "events: %llu events were dropped from the journal before "
                      "containerd could take them",
                      (unsigned long long)(first - ev->next_seq));
            ev->next_seq = first;
        }
        if (ev->notes != NULL && ev->notes->after_seq < ev->next_seq) {
            note = true;
            env.topic = ev->notes->topic;
            env.type_url = ev->notes->type_url;
            env.value = ev->notes->value;
            env.len = ev->notes->len;
            at = ev->notes->at;
        } else if (ev->next_seq <= last) {
            const struct tether_event *e = tether_core_event(ev->core, ev->next_seq);
            if (e == NULL || !ev->encode(ev->opaque, e, &env)) {
                ev->next_seq++;
                continue;
            }
            at = e->time;
        } else {
            if (ev->on_idle != NULL)
                ev->on_idle(ev->opaque);
            return;
        }
        ev->out = forward_frame(ev, &env, &at, &ev->out_len);
        if (!note)
            free(env.value);
        if (ev->out == NULL) {
            /* Cannot be encoded (too large): it would never go. */
            if (note)
                pop_note(ev);
            else
                ev->next_seq++;
            continue;
        }
        ev->out_off = 0;
        ev->in_flight = true;
        ev->in_flight_note = note;
        if (tether_timer_arm(&ev->timer, TETHER_CTRD_EVENTS_ANSWER_MS, &err) < 0)
            log_error(ev->log, "events: %s", err.msg);
        flush(ev);
    }
}

/* Connected and delivering again: the next failure is worth a line in the log. */
static void reset_backoff(struct tether_ctrd_events *ev)
{
    ev->backoff_ms = TETHER_CTRD_EVENTS_BACKOFF_MIN_MS;
    ev->gave_up_logged = false;
}

/* The answer to what was in flight came: on to the next one. */
static void answered(struct tether_ctrd_events *ev, const Ttrpc__Response *resp)
{
    int32_t code = tether_ttrpc_response_code(resp);

    tether_timer_disarm(&ev->timer);
    if (code != TETHER_TTRPC_CODE_OK)
        /* containerd refused this event (it would refuse it again): skip it. */
        log_warn(ev->log, "events: containerd refused an event: code %d: %s", (int)code,
                 tether_ttrpc_response_message(resp));
    else
        ev->delivered++;
    reset_backoff(ev);
    if (ev->in_flight_note)
        pop_note(ev);
    else
        ev->next_seq++;
    ev->in_flight = false;
    free(ev->out);
    ev->out = NULL;
    ev->out_len = ev->out_off = 0;
}

/* ---- the connection ---- */

static void update_events(struct tether_ctrd_events *ev)
{
    struct tether_error err = {0};
    uint32_t want = EPOLLIN | EPOLLRDHUP | (ev->out_off < ev->out_len ? EPOLLOUT : 0);

    if (tether_loop_mod(ev->loop, &ev->src, want, &err) < 0)
        retry_later(ev, err.msg);
}

static void flush(struct tether_ctrd_events *ev)
{
    while (ev->out_off < ev->out_len) {
        ssize_t n = send(ev->src.fd, ev->out + ev->out_off, ev->out_len - ev->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            retry_later(ev, strerror(errno));
            return;
        }
        ev->out_off += (size_t)n;
    }
    update_events(ev);
}

static void on_readable(struct tether_ctrd_events *ev)
{
    for (int rounds = 0; rounds < 16 && ev->src.fd >= 0; rounds++) {
        struct tether_ttrpc_frame f;
        enum tether_ttrpc_parse res;
        size_t avail;
        uint8_t *dst = tether_ttrpc_reader_reserve(&ev->in, &avail);
        ssize_t n = recv(ev->src.fd, dst, avail, MSG_DONTWAIT);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            retry_later(ev, n == 0 ? "connection closed" : strerror(errno));
            return;
        }
        tether_ttrpc_reader_commit(&ev->in, (size_t)n);
        while (ev->src.fd >= 0 &&
               (res = tether_ttrpc_reader_next(&ev->in, &f)) != TETHER_TTRPC_NEED_MORE) {
            struct tether_error err = {0};
            Ttrpc__Response *resp;

            if (res != TETHER_TTRPC_FRAME || f.header.type != TETHER_TTRPC_TYPE_RESPONSE ||
                !ev->in_flight || f.header.stream_id != ev->stream)
                continue;
            resp = tether_ttrpc_response_decode(f.payload, f.header.length, &err);
            if (resp == NULL) {
                retry_later(ev, err.msg);
                return;
            }
            answered(ev, resp);
            tether_ttrpc_response_free(resp);
        }
    }
}

static void conn_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_ctrd_events *ev = container_of(src, struct tether_ctrd_events, src);

    (void)loop;
    if (!ev->connected) {
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(src->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
            soerr = errno;
        if (soerr != 0) {
            retry_later(ev, strerror(soerr));
            return;
        }
        ev->connected = true;
        update_events(ev);
        send_next(ev);
        return;
    }
    if (revents & EPOLLOUT) {
        flush(ev);
        if (ev->src.fd < 0)
            return;
    }
    if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        on_readable(ev);
    send_next(ev);
}

static int connect_to(const char *path, int fd)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    cleanup_close int dir_fd = -1;

    if (strlen(path) < sizeof(addr.sun_path)) {
        strcpy(addr.sun_path, path);
    } else {
        /* Too long for sun_path: through an fd of its directory. */
        cleanup_free char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash == NULL) {
            errno = ENAMETOOLONG;
            return -1;
        }
        *slash = '\0';
        dir_fd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir_fd < 0)
            return -1;
        if (snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dir_fd,
                     slash + 1) >= (int)sizeof(addr.sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
    }
    return connect(fd, (struct sockaddr *)&addr, sizeof(addr));
}

static void start_connect(struct tether_ctrd_events *ev)
{
    struct tether_error err = {0};
    int fd;

    if (ev->src.fd >= 0 || tether_timer_armed(&ev->timer))
        return;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        retry_later(ev, strerror(errno));
        return;
    }
    ev->src.fd = fd;
    ev->src.cb = conn_cb;
    ev->src.events = EPOLLOUT;
    ev->next_stream = 1;
    if (connect_to(ev->address, fd) < 0 && errno != EINPROGRESS && errno != EAGAIN) {
        int e = errno;
        close(fd);
        ev->src.fd = -1;
        retry_later(ev, strerror(e));
        return;
    }
    /* Writable once connected (or refused): conn_cb checks which. */
    if (tether_loop_add(ev->loop, &ev->src, &err) < 0) {
        close(fd);
        ev->src.fd = -1;
        retry_later(ev, err.msg);
    }
}

static void timer_fired(struct tether_timer *timer)
{
    struct tether_ctrd_events *ev = container_of(timer, struct tether_ctrd_events, timer);

    if (ev->in_flight) {
        retry_later(ev, "no answer to Forward");
        return;
    }
    tether_ctrd_events_kick(ev);
}

void tether_ctrd_events_kick(struct tether_ctrd_events *ev)
{
    if (ev->address == NULL)
        return;
    if (ev->connected) {
        send_next(ev);
        return;
    }
    if (tether_ctrd_events_idle(ev)) {
        if (ev->on_idle != NULL)
            ev->on_idle(ev->opaque);
        return;
    }
    start_connect(ev);
}

void tether_ctrd_events_note(struct tether_ctrd_events *ev, const struct tether_ctrd_envelope *env,
                             const struct timespec *at)
{
    struct tether_ctrd_note *n = xzalloc(sizeof(*n));

    if (ev->n_notes >= TETHER_CTRD_NOTES_MAX) {
        log_error(ev->log, "events: more than %d events wait for containerd: dropping %s",
                  TETHER_CTRD_NOTES_MAX, ev->notes->topic);
        pop_note(ev);
    }
    n->after_seq = tether_core_last_seq(ev->core);
    n->at = *at;
    n->topic = xstrdup(env->topic);
    n->type_url = xstrdup(env->type_url);
    n->value = env->value;
    n->len = env->len;
    if (ev->notes_tail != NULL)
        ev->notes_tail->next = n;
    else
        ev->notes = n;
    ev->notes_tail = n;
    ev->n_notes++;
}

int tether_ctrd_events_init(struct tether_ctrd_events *ev, struct tether_core *core,
                            const struct tether_log *log, const char *address, const char *ns,
                            tether_ctrd_encode_cb encode, void *opaque, struct tether_error *err)
{
    (void)err;
    memset(ev, 0, sizeof(*ev));
    ev->core = core;
    ev->loop = tether_core_loop(core);
    ev->log = log;
    ev->address = address != NULL && address[0] != '\0' ? xstrdup(address) : NULL;
    ev->ns = xstrdup(ns);
    ev->encode = encode;
    ev->opaque = opaque;
    ev->next_seq = tether_core_last_seq(core) + 1;
    ev->src.fd = -1;
    ev->backoff_ms = TETHER_CTRD_EVENTS_BACKOFF_MIN_MS;
    tether_ttrpc_reader_init(&ev->in);
    tether_timer_init(&ev->timer, ev->loop, timer_fired);
    return 0;
}

void tether_ctrd_events_fini(struct tether_ctrd_events *ev)
{
    if (ev->loop == NULL)
        return;
    disconnect(ev);
    tether_timer_fini(&ev->timer);
    tether_ttrpc_reader_fini(&ev->in);
    while (ev->notes != NULL)
        pop_note(ev);
    free(ev->address);
    free(ev->ns);
    ev->loop = NULL;
}
