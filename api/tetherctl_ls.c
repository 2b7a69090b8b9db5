/* tetherctl ls: every container directory in the state dir, asking the live shims and
 * reading exit.json where the shim is gone. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <tether/util.h>

#include "tetherctl.h"

/* A shim that does not answer `state` within this time is listed as unknown. */
#define CTL_LS_TIMEOUT_MS 2000
#define CTL_LS_FILE_MAX   4096

static pid_t read_shim_pid(const char *dir)
{
    cleanup_free char *path = xasprintf("%s/shim.pid", dir);
    cleanup_free char *text = NULL;
    char *end;
    long pid;

    if (tether_read_file(path, CTL_LS_FILE_MAX, &text, NULL, NULL) < 0)
        return 0;
    errno = 0;
    pid = strtol(text, &end, 10);
    if (errno != 0 || end == text || (*end != '\0' && *end != '\n') || pid <= 0 || pid > INT32_MAX)
        return 0;
    return (pid_t)pid;
}

/* kill(pid, 0) also succeeds on a zombie: a shim that died and is not reaped yet is not
 * alive (state Z or X in /proc/PID/stat, proc(5)). */
static bool process_alive(pid_t pid)
{
    cleanup_free char *path = NULL;
    cleanup_free char *stat = NULL;
    const char *paren;

    if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM))
        return false;
    path = xasprintf("/proc/%d/stat", (int)pid);
    if (tether_read_file(path, CTL_LS_FILE_MAX, &stat, NULL, NULL) < 0)
        return true;
    paren = strrchr(stat, ')');
    return paren == NULL || (paren[1] != '\0' && paren[2] != 'Z' && paren[2] != 'X');
}

/* exit.json outlives the shim: it still tells how the container ended. */
static bool read_exit_record(const char *dir, json_t *row)
{
    cleanup_free char *path = xasprintf("%s/exit.json", dir);
    cleanup_free char *text = NULL;
    json_auto_t *rec = NULL;
    json_t *status;

    if (tether_read_file(path, CTL_LS_FILE_MAX, &text, NULL, NULL) < 0)
        return false;
    rec = json_loads(text, 0, NULL);
    status = json_object_get(rec, "exit_status");
    if (!json_is_integer(status))
        return false;
    json_object_set(row, "exit_status", status);
    return true;
}

/* Fills status, pid and exit_status from the live shim; false when it does not answer. */
static bool ask_shim(const char *dir, json_t *row)
{
    struct tether_error err = {0};
    cleanup_free char *sock = xasprintf("%s/shim.sock", dir);
    struct tether_client *c = tether_client_connect(sock, &err);
    json_auto_t *state = NULL;
    int code = 0;

    if (c == NULL)
        return false;
    state = tether_client_call(c, "state", NULL, CTL_LS_TIMEOUT_MS, &code, &err);
    tether_client_close(c);
    if (state == NULL) {
        if (code != TETHER_RPC_NOT_FOUND)
            return false;
        /* The shim is up but holds no container: deleted (its exit record says how it
         * ended), or not created yet. */
        json_object_set_new(row, "status",
                            json_string(read_exit_record(dir, row) ? "deleted" : "none"));
        return true;
    }
    json_object_set(row, "status", json_object_get(state, "status"));
    if (json_object_get(state, "pid") != NULL)
        json_object_set(row, "pid", json_object_get(state, "pid"));
    if (json_object_get(state, "exit_status") != NULL)
        json_object_set(row, "exit_status", json_object_get(state, "exit_status"));
    return true;
}

static json_t *ls_entry(const struct ctl *ctl, const char *id)
{
    cleanup_free char *dir = xasprintf("%s/%s", ctl->state_dir, id);
    pid_t shim_pid = read_shim_pid(dir);
    bool alive = process_alive(shim_pid);
    json_t *row = json_pack("{s:s, s:n, s:n, s:o, s:s, s:n}", "id", id, "status", "pid", "shim_pid",
                            shim_pid > 0 ? json_integer(shim_pid) : json_null(), "shim",
                            alive ? "alive" : "dead", "exit_status");

    if (alive && ask_shim(dir, row))
        return row;
    if (read_exit_record(dir, row) && !alive)
        json_object_set_new(row, "status", json_string("stopped"));
    else
        json_object_set_new(row, "status", json_string("unknown"));
    return row;
}

static char *cell(json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    return xstrdup("-");
}

static void print_cell(const char *s, int width, bool last)
{
    if (last)
        printf("%s\n", s);
    else
        printf("%-*s  ", width, s);
}

static void print_table(json_t *rows)
{
    static const char *const cols[] = {"id", "status", "pid", "shim_pid", "shim", "exit_status"};
    static const char *const heads[] = {"ID", "STATUS", "PID", "SHIM PID", "SHIM", "EXIT"};
    int width[TETHER_ARRAY_SIZE(cols)];
    json_t *row;
    size_t i, k;

    for (k = 0; k < TETHER_ARRAY_SIZE(cols); k++)
        width[k] = (int)strlen(heads[k]);
    json_array_foreach(rows, i, row)
    {
        for (k = 0; k < TETHER_ARRAY_SIZE(cols); k++) {
            cleanup_free char *s = cell(json_object_get(row, cols[k]));
            if ((int)strlen(s) > width[k])
                width[k] = (int)strlen(s);
        }
    }
    for (k = 0; k < TETHER_ARRAY_SIZE(cols); k++)
        print_cell(heads[k], width[k], k + 1 == TETHER_ARRAY_SIZE(cols));
    json_array_foreach(rows, i, row)
    {
        for (k = 0; k < TETHER_ARRAY_SIZE(cols); k++) {
            cleanup_free char *s = cell(json_object_get(row, cols[k]));
            print_cell(s, width[k], k + 1 == TETHER_ARRAY_SIZE(cols));
        }
    }
}

static bool is_directory(const char *parent, const char *name)
{
    cleanup_free char *path = xasprintf("%s/%s", parent, name);
    struct stat st;

    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int ctl_cmd_ls(struct ctl *ctl)
{
    struct dirent **names = NULL;
    json_auto_t *rows = json_array();
    int n = scandir(ctl->state_dir, &names, NULL, alphasort);

    if (n < 0) {
        struct tether_error err = {0};
        if (errno != ENOENT) {
            tether_error_set(&err, errno, "%s", ctl->state_dir);
            return ctl_fail(&err, CTL_EXIT_FAILED);
        }
        n = 0; /* no state directory yet: no containers */
    }
    for (int i = 0; i < n; i++) {
        const char *id = names[i]->d_name;
        if (tether_id_valid(id) && is_directory(ctl->state_dir, id))
            json_array_append_new(rows, ls_entry(ctl, id));
        free(names[i]);
    }
    free(names);
    if (ctl->json)
        ctl_print_result(ctl, rows);
    else
        print_table(rows);
    return CTL_EXIT_OK;
}
