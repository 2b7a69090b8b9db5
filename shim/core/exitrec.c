#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <tether/util.h>

#include "exitrec.h"

void tether_exit_from_wait(struct tether_exit *ex, int wait_status, const struct timespec *at)
{
    memset(ex, 0, sizeof(*ex));
    ex->exited_at = *at;
    if (WIFSIGNALED(wait_status)) {
        ex->signal = WTERMSIG(wait_status);
        ex->exit_status = 128 + ex->signal;
    } else {
        ex->exit_status = WEXITSTATUS(wait_status);
    }
}

void tether_exit_to_json(const struct tether_exit *ex, json_t *obj)
{
    char ts[64], sig[32];

    tether_format_time(&ex->exited_at, ts, sizeof(ts));
    json_object_set_new(obj, "exit_status", json_integer(ex->exit_status));
    json_object_set_new(obj, "exited_at", json_string(ts));
    if (ex->signal != 0)
        json_object_set_new(obj, "signal",
                            json_string(tether_signal_name(ex->signal, sig, sizeof(sig))));
    if (ex->oom_killed)
        json_object_set_new(obj, "oom_killed", json_true());
}

int tether_exit_write(const struct tether_exit *ex, const char *path, struct tether_error *err)
{
    json_t *obj = json_object();
    char *text;
    int rc;

    tether_exit_to_json(ex, obj);
    text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    if (text == NULL)
        abort();
    text = xrealloc(text, strlen(text) + 2);
    strcat(text, "\n");
    rc = tether_write_file_atomic(path, text, strlen(text), 0644, err);
    free(text);
    return rc;
}
