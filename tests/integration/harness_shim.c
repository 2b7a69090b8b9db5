/* Helpers of the tether-shim integration tests; see harness_shim.h. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

#define TH_LAUNCH_ARGS_MAX 32

void th_require_runtime(const struct th_env *env, const char *runtime)
{
    char why[TETHER_ERROR_MSG_MAX];

    if (strcmp(runtime, "crun") == 0 && !th_crun_usable(env, why, sizeof(why))) {
        printf("SKIP crun: %s\n", why);
        skip();
    }
}

void th_shim_unique_id(const char *tag, char *id, size_t len)
{
    static unsigned counter;

    if ((size_t)snprintf(id, len, "%s-%d-%u", tag, (int)getpid(), ++counter) >= len ||
        !tether_id_valid(id))
        fail_msg("bad container id %s", id);
}

int th_shim_try_launch(struct th_shim *shim, const struct th_env *env, const char *runtime,
                       const char *id, const char *bundle, const char *const *extra,
                       struct tether_error *err)
{
    const char *args[TH_LAUNCH_ARGS_MAX];
    struct tether_shim_info info;
    size_t n = 0, i;

    memset(shim, 0, sizeof(*shim));
    args[n++] = "--id";
    args[n++] = id;
    args[n++] = "--bundle";
    args[n++] = bundle;
    args[n++] = "--state-dir";
    args[n++] = env->state_dir;
    args[n++] = "--runtime";
    args[n++] = runtime;
    args[n++] = "--runtime-root";
    args[n++] = env->runtime_root;
    args[n++] = "--log-level";
    args[n++] = "debug";
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        if (n + 2 > TH_LAUNCH_ARGS_MAX)
            fail_msg("too many shim arguments");
        args[n++] = extra[i];
    }
    args[n] = NULL;
    if (tether_client_launch_shim(th_bin("tether-shim"), args, &info, err) < 0)
        return -1;
    snprintf(shim->id, sizeof(shim->id), "%s", info.id);
    snprintf(shim->socket, sizeof(shim->socket), "%s", info.socket);
    if ((size_t)snprintf(shim->dir, sizeof(shim->dir), "%s/%s", env->state_dir, id) >=
        sizeof(shim->dir))
        fail_msg("state dir path too long");
    shim->pid = info.pid;
    return 0;
}

void th_shim_launch(struct th_shim *shim, const struct th_env *env, const char *runtime,
                    const char *id, const char *bundle)
{
    struct tether_error err = {0};

    if (th_shim_try_launch(shim, env, runtime, id, bundle, NULL, &err) < 0)
        fail_msg("launch tether-shim %s (%s): %s", id, runtime, err.msg);
    if (strcmp(shim->id, id) != 0)
        fail_msg("shim reported id %s, want %s", shim->id, id);
}

void th_shim_stop(struct th_shim *shim)
{
    if (shim->pid <= 0)
        return;
    if (th_pid_alive(shim->pid))
        kill(shim->pid, SIGKILL);
    if (!th_wait_pid_dead(shim->pid, TH_GONE_MS))
        fprintf(stderr, "harness: shim %d still alive after SIGKILL\n", (int)shim->pid);
    shim->pid = 0;
}

struct tether_client *th_shim_connect(const struct th_shim *shim)
{
    struct tether_error err = {0};
    struct tether_client *c = tether_client_connect(shim->socket, &err);

    if (c == NULL)
        fail_msg("connect %s: %s", shim->socket, err.msg);
    return c;
}

json_t *th_call_ok(struct tether_client *c, const char *method, json_t *params)
{
    struct tether_error err = {0};
    int code = 0;
    json_t *result = tether_client_call(c, method, params, TH_CALL_MS, &code, &err);

    json_decref(params);
    if (result == NULL)
        fail_msg("%s failed (code %d): %s", method, code, err.msg);
    return result;
}

void th_call_fail(struct tether_client *c, const char *method, json_t *params, int code, char *msg,
                  size_t len)
{
    struct tether_error err = {0};
    int got = 0;
    json_t *result = tether_client_call(c, method, params, TH_CALL_MS, &got, &err);

    json_decref(params);
    if (result != NULL) {
        char *text = json_dumps(result, JSON_COMPACT);
        json_decref(result);
        fail_msg("%s succeeded with %s, want error %d", method, text ? text : "?", code);
    }
    if (got == 0)
        fail_msg("%s: no JSON-RPC error (want %d): %s", method, code, err.msg);
    if (got != code)
        fail_msg("%s: error %d (%s), want %d", method, got, err.msg, code);
    if (msg != NULL && len > 0)
        snprintf(msg, len, "%s", err.msg);
}

json_t *th_response(struct tether_client *c, int64_t id)
{
    struct tether_error err = {0};
    json_t *resp = tether_client_wait_response(c, id, TH_CALL_MS, &err);

    if (resp == NULL)
        fail_msg("response to request %lld: %s", (long long)id, err.msg);
    return resp;
}

json_t *th_read_message(struct tether_client *c)
{
    struct tether_error err = {0};
    json_t *msg = tether_client_read_message(c, TH_CALL_MS, &err);

    if (msg == NULL)
        fail_msg("read from shim: %s", err.msg);
    return msg;
}

json_t *th_next_event(struct tether_client *c)
{
    for (;;) {
        struct tether_error err = {0};
        json_t *note = tether_client_next_notification(c, TH_EVENT_MS, &err);
        json_t *params;

        if (note == NULL)
            fail_msg("no event: %s", err.msg);
        if (strcmp(th_str(note, "method"), "event") != 0) {
            json_decref(note);
            continue;
        }
        params = json_incref(json_object_get(note, "params"));
        json_decref(note);
        if (!json_is_object(params))
            fail_msg("event without params object");
        return params;
    }
}

json_t *th_wait_event(struct tether_client *c, const char *topic)
{
    for (;;) {
        json_t *ev = th_next_event(c);

        if (strcmp(th_str(ev, "topic"), topic) == 0)
            return ev;
        json_decref(ev);
    }
}

void th_assert_no_notification(struct tether_client *c)
{
    struct tether_error err = {0};
    int64_t id = tether_client_send(c, "state", NULL, &err);
    json_t *note;

    if (id < 0)
        fail_msg("send state: %s", err.msg);
    json_decref(th_response(c, id));
    note = tether_client_next_notification(c, 0, &err);
    if (note != NULL) {
        char *text = json_dumps(note, JSON_COMPACT);
        fail_msg("unexpected notification %s", text ? text : "?");
    }
    if (err.kind != TETHER_ERR_TIMEOUT)
        fail_msg("reading notifications: %s", err.msg);
}

/* State letter and parent pid from /proc/<pid>/stat; false when the process is gone. */
static bool read_stat(pid_t pid, char *state, pid_t *ppid)
{
    char path[64], buf[512];
    const char *close_paren;
    ssize_t n;
    int fd, parent;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
    close_paren = strrchr(buf, ')');
    if (close_paren == NULL || sscanf(close_paren + 1, " %c %d", state, &parent) != 2)
        return false;
    *ppid = parent;
    return true;
}

bool th_pid_alive(pid_t pid)
{
    char state;
    pid_t ppid;

    return pid > 0 && read_stat(pid, &state, &ppid) && state != 'Z' && state != 'X';
}

static bool pid_dead(void *data)
{
    return !th_pid_alive(*(pid_t *)data);
}

bool th_wait_pid_dead(pid_t pid, int timeout_ms)
{
    return th_wait_until(pid_dead, &pid, timeout_ms);
}

pid_t th_pid_parent(pid_t pid)
{
    char state;
    pid_t ppid;

    return read_stat(pid, &state, &ppid) ? ppid : -1;
}

static bool no_zombies(void *data)
{
    return th_count_zombie_children(*(pid_t *)data) == 0;
}

bool th_wait_no_zombies(pid_t shim_pid, int timeout_ms)
{
    return th_wait_until(no_zombies, &shim_pid, timeout_ms);
}

void th_assert_timestamp(const char *ts)
{
    /* YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddddddZ";
    size_t i;

    if (strlen(ts) != sizeof(shape) - 1)
        fail_msg("timestamp %s: want %s", ts, shape);
    for (i = 0; shape[i] != '\0'; i++) {
        bool ok = shape[i] == 'd' ? ts[i] >= '0' && ts[i] <= '9' : ts[i] == shape[i];
        if (!ok)
            fail_msg("timestamp %s: want %s", ts, shape);
    }
}

long long th_int(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v))
        fail_msg("member \"%s\" missing or not an integer", key);
    return (long long)json_integer_value(v);
}

const char *th_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_string(v))
        fail_msg("member \"%s\" missing or not a string", key);
    return json_string_value(v);
}

bool th_path_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static bool path_there(void *path)
{
    return th_path_exists(path);
}

bool th_wait_path(const char *path, int timeout_ms)
{
    return th_wait_until(path_there, (void *)path, timeout_ms);
}

void th_edit_writable_rootfs(json_t *config, void *data)
{
    (void)data;
    json_object_set_new(json_object_get(config, "root"), "readonly", json_false());
}

int th_fixture_setup(void **state)
{
    struct th_fixture *f = xzalloc(sizeof(*f));

    f->runtime = *state != NULL ? *state : "runc";
    th_env_init(&f->env);
    *state = f;
    return 0;
}

int th_fixture_teardown(void **state)
{
    struct th_fixture *f = *state;

    th_shim_stop(&f->shim);
    th_env_cleanup(&f->env);
    free(f);
    return 0;
}

void th_fixture_start(struct th_fixture *f, const char *const argv[],
                      void (*edit)(json_t *config, void *data), void *data)
{
    th_require_runtime(&f->env, f->runtime);
    th_make_bundle(&f->env, "bundle", argv, f->bundle, sizeof(f->bundle));
    if (edit != NULL)
        th_bundle_edit(f->bundle, edit, data);
    th_shim_unique_id("it-shim", f->id, sizeof(f->id));
    th_shim_launch(&f->shim, &f->env, f->runtime, f->id, f->bundle);
}

void th_send_raw(struct tether_client *c, const void *data, size_t len)
{
    struct tether_error err = {0};

    if (tether_client_send_raw(c, data, len, &err) < 0)
        fail_msg("send: %s", err.msg);
}

void th_assert_error(const json_t *msg, int code, long long id)
{
    json_t *error = json_object_get(msg, "error");
    json_t *jid = json_object_get(msg, "id");

    assert_string_equal(th_str(msg, "jsonrpc"), "2.0");
    assert_non_null(error);
    assert_null(json_object_get(msg, "result"));
    if (th_int(error, "code") != code)
        fail_msg("error %lld (%s), want %d", th_int(error, "code"), th_str(error, "message"), code);
    assert_true(strlen(th_str(error, "message")) > 0);
    if (id == TH_ID_NULL) {
        assert_non_null(jid);
        assert_true(json_is_null(jid));
    } else {
        assert_int_equal(th_int(msg, "id"), id);
    }
}

json_t *th_process_of(const char *const argv[])
{
    json_t *args = json_array();
    size_t i;

    for (i = 0; argv[i] != NULL; i++)
        json_array_append_new(args, json_string(argv[i]));
    return json_pack("{s:o,s:[s],s:s,s:{s:i,s:i}}", "args", args, "env", "PATH=/bin", "cwd", "/",
                     "user", "uid", 0, "gid", 0);
}
