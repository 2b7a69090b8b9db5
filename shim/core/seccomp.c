#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#include <tether/util.h>

#include "seccomp.h"

/* Consecutive failed receives before the notify fd is given up. */
#define SECCOMP_FAILURES_MAX 64

/* What runc sends with the fd: the container state, a few KiB. */
#define STATE_MAX (64 * 1024)

struct tether_seccomp_lib {
    void *handle;
    int (*notify_alloc)(struct seccomp_notif **req, struct seccomp_notif_resp **resp);
    void (*notify_free)(struct seccomp_notif *req, struct seccomp_notif_resp *resp);
    int (*notify_receive)(int fd, struct seccomp_notif *req);
    int (*notify_respond)(int fd, struct seccomp_notif_resp *resp);
    int (*notify_id_valid)(int fd, uint64_t id);
    char *(*resolve_num_arch)(uint32_t arch, int num);
    int (*resolve_name)(const char *name);
};

static int lib_load(struct tether_seccomp *sc, struct tether_error *err)
{
    struct tether_seccomp_lib *lib;
    void *h;

    if (sc->lib != NULL)
        return 0;
    h = dlopen("libseccomp.so.2", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL)
        return tether_error_setk(err, TETHER_ERR_INTERNAL, 0, "cannot load libseccomp: %s",
                                 dlerror());
    lib = xzalloc(sizeof(*lib));
    lib->handle = h;
    /* POSIX dlsym hands back object pointers; the casts through void * are the documented
     * way to get functions (dlsym(3), EXAMPLES). */
    *(void **)&lib->notify_alloc = dlsym(h, "seccomp_notify_alloc");
    *(void **)&lib->notify_free = dlsym(h, "seccomp_notify_free");
    *(void **)&lib->notify_receive = dlsym(h, "seccomp_notify_receive");
    *(void **)&lib->notify_respond = dlsym(h, "seccomp_notify_respond");
    *(void **)&lib->notify_id_valid = dlsym(h, "seccomp_notify_id_valid");
    *(void **)&lib->resolve_num_arch = dlsym(h, "seccomp_syscall_resolve_num_arch");
    *(void **)&lib->resolve_name = dlsym(h, "seccomp_syscall_resolve_name");
    if (!lib->notify_alloc || !lib->notify_free || !lib->notify_receive || !lib->notify_respond ||
        !lib->notify_id_valid || !lib->resolve_num_arch || !lib->resolve_name) {
        dlclose(h);
        free(lib);
        return tether_error_setk(err, TETHER_ERR_INTERNAL, 0,
                                 "libseccomp lacks the notify API (need 2.5 or later)");
    }
    sc->lib = lib;
    return 0;
}

int tether_seccomp_check(struct tether_seccomp *sc, const struct tether_seccomp_opts *opts,
                         struct tether_error *err)
{
    size_t i;

    if (!opts->enabled)
        return 0;
    if (opts->syscalls == NULL || opts->syscalls[0] == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "seccomp_notify.syscalls must name at least one syscall");
    if (lib_load(sc, err) < 0)
        return -1;
    for (i = 0; opts->syscalls[i] != NULL; i++)
        if (sc->lib->resolve_name(opts->syscalls[i]) == -1 /* __NR_SCMP_ERROR */)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                     "seccomp_notify.syscalls: unknown syscall \"%s\"",
                                     opts->syscalls[i]);
    return 0;
}

static bool in_list(char **list, const char *name)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

int tether_seccomp_configure(json_t *config, const struct tether_seccomp_opts *opts,
                             const char *listener_path, struct tether_error *err)
{
    json_t *linux_obj = json_object_get(config, "linux");
    json_t *seccomp, *rules, *rule, *names;
    size_t i, j;

    if (linux_obj == NULL) {
        linux_obj = json_object();
        json_object_set_new(config, "linux", linux_obj);
    }
    seccomp = json_object_get(linux_obj, "seccomp");
    if (seccomp == NULL) {
        /* No profile: everything allowed but what is watched. */
        seccomp = json_pack("{s:s,s:[]}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls");
        json_object_set_new(linux_obj, "seccomp", seccomp);
    }
    if (!json_is_object(seccomp))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "linux.seccomp is not an object");
    rules = json_object_get(seccomp, "syscalls");
    if (rules == NULL) {
        rules = json_array();
        json_object_set_new(seccomp, "syscalls", rules);
    }
    /* A watched syscall must have no other rule, or libseccomp refuses the filter. */
    for (i = 0; i < json_array_size(rules);) {
        rule = json_array_get(rules, i);
        names = json_object_get(rule, "names");
        for (j = 0; j < json_array_size(names);) {
            const char *n = json_string_value(json_array_get(names, j));
            if (n != NULL && in_list(opts->syscalls, n))
                json_array_remove(names, j);
            else
                j++;
        }
        if (json_is_array(names) && json_array_size(names) == 0)
            json_array_remove(rules, i);
        else
            i++;
    }
    names = json_array();
    for (i = 0; opts->syscalls[i] != NULL; i++)
        json_array_append_new(names, json_string(opts->syscalls[i]));
    json_array_append_new(rules,
                          json_pack("{s:o,s:s}", "names", names, "action", "SCMP_ACT_NOTIFY"));
    json_object_set_new(seccomp, "listenerPath", json_string(listener_path));
    return 0;
}

void tether_seccomp_init(struct tether_seccomp *sc, const struct tether_log *log,
                         struct tether_loop *loop)
{
    memset(sc, 0, sizeof(*sc));
    sc->log = log;
    sc->loop = loop;
    sc->listen_src.fd = -1;
    sc->conn_src.fd = -1;
    sc->notify_src.fd = -1;
    tether_listener_init(&sc->sock);
}

static void close_source(struct tether_seccomp *sc, struct tether_source *src)
{
    if (src->fd < 0)
        return;
    tether_loop_remove(sc->loop, src);
    close(src->fd);
    src->fd = -1;
}

static void notify_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_seccomp *sc = container_of(src, struct tether_seccomp, notify_src);
    struct seccomp_notif *req = sc->req;
    struct seccomp_notif_resp *resp = sc->resp;
    unsigned long long args[6];
    char *name;
    int rc, i;

    (void)loop;
    if (!(revents & EPOLLIN)) {
        /* Every process under the filter is gone. */
        log_debug(sc->log, "seccomp: notify fd closed");
        close_source(sc, src);
        return;
    }
    /* Readable means a notification is pending; if its process died meanwhile the
     * receive fails (ENOENT) instead of waiting. The kernel wants a zeroed buffer, and
     * libseccomp 2.5 reports every failure as ECANCELED, so failures are taken as
     * passing unless they repeat without end. */
    memset(req, 0, sizeof(*req));
    rc = sc->lib->notify_receive(src->fd, req);
    if (rc < 0) {
        log_debug(sc->log, "seccomp: receive: %s", strerror(-rc));
        if (++sc->failures >= SECCOMP_FAILURES_MAX) {
            log_warn(sc->log, "seccomp: notifications keep failing; no longer watching");
            close_source(sc, src);
        }
        return;
    }
    sc->failures = 0;
    name = sc->lib->resolve_num_arch(req->data.arch, req->data.nr);
    for (i = 0; i < 6; i++)
        args[i] = (unsigned long long)req->data.args[i];
    /* The id must still be valid: the pid could have been reused after its process died
     * (seccomp_unotify(2), NOTES). */
    if (sc->lib->notify_id_valid(src->fd, req->id) != 0) {
        free(name);
        return;
    }
    if (sc->cb != NULL)
        sc->cb(sc->opaque, (int)req->pid, name != NULL ? name : "unknown", args, sc->deny);
    free(name);
    memset(resp, 0, sizeof(*resp));
    resp->id = req->id;
    if (sc->deny)
        resp->error = -EPERM;
    else
        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    rc = sc->lib->notify_respond(src->fd, resp);
    if (rc < 0 && rc != -ENOENT)
        log_warn(sc->log, "seccomp: respond: %s", strerror(-rc));
}

/* The runtime's connection: it sends the notify fd right away; read when it is there. */
static void conn_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_seccomp *sc = container_of(src, struct tether_seccomp, conn_src);
    struct tether_error err = {0};
    int fd;

    (void)loop;
    (void)revents;
    {
        /* runc sends the container state as the message's bytes: not needed here. */
        cleanup_free char *state = xmalloc(STATE_MAX);
        fd = tether_recv_fd(src->fd, state, STATE_MAX, &err);
    }
    if (fd < 0 && err.errnum == EAGAIN)
        return;
    close_source(sc, src);
    if (fd < 0) {
        log_warn(sc->log, "%s", err.msg);
        return;
    }
    close_source(sc, &sc->notify_src);
    sc->notify_src.fd = fd;
    sc->notify_src.events = EPOLLIN;
    sc->notify_src.cb = notify_cb;
    sc->notify_src.release = NULL;
    if (tether_loop_add(sc->loop, &sc->notify_src, &err) < 0) {
        log_warn(sc->log, "seccomp: %s", err.msg);
        close(fd);
        sc->notify_src.fd = -1;
        return;
    }
    log_debug(sc->log, "seccomp: watching notifications (%s)", sc->deny ? "deny" : "log");
}

static void listen_cb(struct tether_loop *loop, struct tether_source *src, uint32_t revents)
{
    struct tether_seccomp *sc = container_of(src, struct tether_seccomp, listen_src);
    struct tether_error err = {0};
    int conn;

    (void)loop;
    (void)revents;
    conn = accept4(src->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0)
        return;
    /* One runtime connection at a time: a newer one (a restart) replaces the older. */
    close_source(sc, &sc->conn_src);
    sc->conn_src.fd = conn;
    sc->conn_src.events = EPOLLIN;
    sc->conn_src.cb = conn_cb;
    sc->conn_src.release = NULL;
    if (tether_loop_add(sc->loop, &sc->conn_src, &err) < 0) {
        log_warn(sc->log, "seccomp: %s", err.msg);
        close(conn);
        sc->conn_src.fd = -1;
    }
}

int tether_seccomp_listen(struct tether_seccomp *sc, const char *dir, bool deny,
                          tether_seccomp_cb cb, void *opaque, struct tether_error *err)
{
    if (lib_load(sc, err) < 0)
        return -1;
    if (sc->req == NULL && sc->lib->notify_alloc((struct seccomp_notif **)&sc->req,
                                                 (struct seccomp_notif_resp **)&sc->resp) < 0)
        return tether_error_set(err, ENOMEM, "seccomp_notify_alloc");
    tether_seccomp_close(sc);
    sc->deny = deny;
    sc->cb = cb;
    sc->opaque = opaque;
    if (tether_listener_open(&sc->sock, dir, "seccomp.sock", err) < 0)
        return tether_error_prefix(err, "seccomp listener");
    sc->listen_src.fd = sc->sock.fd;
    sc->listen_src.events = EPOLLIN;
    sc->listen_src.cb = listen_cb;
    sc->listen_src.release = NULL;
    if (tether_loop_add(sc->loop, &sc->listen_src, err) < 0) {
        sc->listen_src.fd = -1;
        tether_listener_close(&sc->sock);
        return -1;
    }
    return 0;
}

void tether_seccomp_close(struct tether_seccomp *sc)
{
    /* The listening fd belongs to sock, which closes it. */
    if (sc->listen_src.fd >= 0)
        tether_loop_remove(sc->loop, &sc->listen_src);
    sc->listen_src.fd = -1;
    tether_listener_close(&sc->sock);
    close_source(sc, &sc->conn_src);
    close_source(sc, &sc->notify_src);
}

void tether_seccomp_fini(struct tether_seccomp *sc)
{
    tether_seccomp_close(sc);
    if (sc->lib != NULL) {
        if (sc->req != NULL)
            sc->lib->notify_free(sc->req, sc->resp);
        dlclose(sc->lib->handle);
        free(sc->lib);
    }
    sc->lib = NULL;
    sc->req = sc->resp = NULL;
}
