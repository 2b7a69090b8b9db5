#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "encode.h"
#include "rpc.h"

json_t *tether_encode_pid(pid_t pid)
{
    return json_pack("{s:i}", "pid", (int)pid);
}

json_t *tether_encode_exit(const struct tether_exit *ex)
{
    json_t *obj = json_object();

    tether_exit_to_json(ex, obj);
    return obj;
}

json_t *tether_encode_exit_status(const struct tether_exit *ex)
{
    return json_pack("{s:i}", "exit_status", ex->exit_status);
}

json_t *tether_encode_pids(const struct tether_result *res)
{
    json_t *list = json_array();
    size_t i;

    for (i = 0; i < res->n_pids; i++) {
        const struct tether_pid_info *p = &res->pids[i];
        json_t *item = tether_encode_pid(p->pid);
        if (p->exec_id != NULL)
            json_object_set_new(item, "exec_id", json_string(p->exec_id));
        if (p->init)
            json_object_set_new(item, "init", json_true());
        json_array_append_new(list, item);
    }
    return json_pack("{s:o}", "pids", list);
}

json_t *tether_encode_state(const struct tether_state *st)
{
    const char *status = tether_status_name(st->status);
    json_t *obj;

    if (st->exec_id != NULL)
        obj = json_pack("{s:s,s:s,s:i,s:s}", "id", st->id, "exec_id", st->exec_id, "pid",
                        (int)st->pid, "status", status);
    else
        obj = json_pack("{s:s,s:s,s:i,s:s}", "id", st->id, "bundle", st->bundle, "pid",
                        (int)st->pid, "status", status);
    if (st->exited)
        tether_exit_to_json(&st->exit, obj);
    if (st->exec_id == NULL) {
        json_object_set_new(obj, "restarts", json_integer(st->restarts));
        if (!st->exit_persisted)
            json_object_set_new(obj, "exit_persisted", json_false());
    }
    return obj;
}

json_t *tether_encode_stats(const struct tether_stats *st)
{
    return json_pack("{s:{s:I},s:{s:I,s:I},s:{s:I,s:I}}", "cpu", "usage_ns",
                     (json_int_t)st->cpu_usage_ns, "memory", "usage_bytes",
                     (json_int_t)st->memory_usage_bytes, "limit_bytes",
                     (json_int_t)st->memory_limit_bytes, "pids", "current",
                     (json_int_t)st->pids_current, "limit", (json_int_t)st->pids_limit);
}

/* The topic's own fields, in the order the protocol has always shown them. */
static json_t *event_fields(const struct tether_event *ev)
{
    json_t *args, *obj;
    int i;

    switch (ev->topic) {
    case TETHER_TOPIC_CREATE:
    case TETHER_TOPIC_START:
    case TETHER_TOPIC_OOM:
        return tether_encode_pid(ev->pid);
    case TETHER_TOPIC_EXIT:
        obj = tether_encode_exit(&ev->exit);
        json_object_set_new(obj, "pid", json_integer(ev->pid));
        if (ev->exec_id != NULL)
            json_object_set_new(obj, "exec_id", json_string(ev->exec_id));
        return obj;
    case TETHER_TOPIC_DELETE:
        return tether_encode_exit_status(&ev->exit);
    case TETHER_TOPIC_EXEC_START:
        return json_pack("{s:s,s:i}", "exec_id", ev->exec_id, "pid", (int)ev->pid);
    case TETHER_TOPIC_RESTART:
        return json_pack("{s:i,s:i}", "attempt", (int)ev->attempt, "pid", (int)ev->pid);
    case TETHER_TOPIC_RESTART_FAILED:
        return json_pack("{s:i,s:s}", "attempt", (int)ev->attempt, "error",
                         ev->text != NULL ? ev->text : "");
    case TETHER_TOPIC_SECCOMP:
        args = json_array();
        for (i = 0; i < 6; i++)
            json_array_append_new(args, json_integer((json_int_t)ev->seccomp.args[i]));
        return json_pack("{s:i,s:s,s:o,s:s}", "pid", (int)ev->pid, "syscall",
                         ev->text != NULL ? ev->text : "", "args", args, "action",
                         ev->seccomp.denied ? "deny" : "log");
    case TETHER_TOPIC_PAUSED:
    case TETHER_TOPIC_RESUMED:
    case TETHER_TOPIC_COUNT:
        break;
    }
    return json_object();
}

char *tether_encode_event_line(const struct tether_event *ev, size_t *len)
{
    json_t *params = event_fields(ev);
    json_t *msg;
    char ts[64];
    char *text;

    tether_format_time(&ev->time, ts, sizeof(ts));
    json_object_set_new(params, "seq", json_integer((json_int_t)ev->seq));
    json_object_set_new(params, "topic", json_string(tether_topic_name(ev->topic)));
    json_object_set_new(params, "timestamp", json_string(ts));
    json_object_set_new(params, "id", json_string(ev->id));
    msg = json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", "event", "params", params);
    text = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(msg);
    if (text == NULL)
        abort(); /* only on allocation failure */
    *len = strlen(text);
    text = xrealloc(text, *len + 2);
    text[(*len)++] = '\n';
    text[*len] = '\0';
    return text;
}
