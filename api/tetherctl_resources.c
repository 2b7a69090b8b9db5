/* tetherctl subcommands about a running container's resources: update its limits, show its
 * usage (stats), list its processes in detail (top). */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/util.h>

#include "tetherctl.h"

/* The CFS period --cpus counts in (the kernel's default, as Docker uses). */
#define CTL_CPU_PERIOD_US 100000
/* The sample a one-shot `stats` takes to compute CPU use. */
#define CTL_STATS_SAMPLE_MS 500
#define CTL_PROC_FILE_MAX   4096

/* ---- update ---- */

static json_t *object_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_object(v)) {
        v = json_object();
        json_object_set_new(obj, key, v);
    }
    return v;
}

/* The LinuxResources object: --resources, with the other options on top. */
static json_t *update_resources(const struct ctl *ctl, struct tether_error *err)
{
    json_auto_t *res = NULL;

    if (ctl->resources != NULL) {
        json_error_t jerr;
        res = json_loads(ctl->resources, 0, &jerr);
        if (!json_is_object(res)) {
            tether_error_setk(err, TETHER_ERR_INVALID, 0, "--resources: not a JSON object%s%s",
                              res == NULL ? ": " : "", res == NULL ? jerr.text : "");
            return NULL;
        }
    } else {
        res = json_object();
    }
    if (ctl->cpus >= 0 && ctl->cpu_quota != CTL_UNSET) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0, "--cpus and --cpu-quota exclude each other");
        return NULL;
    }
    if (ctl->memory != CTL_UNSET)
        json_object_set_new(object_member(res, "memory"), "limit", json_integer(ctl->memory));
    if (ctl->cpus >= 0) {
        int64_t period = ctl->cpu_period != CTL_UNSET ? ctl->cpu_period : CTL_CPU_PERIOD_US;
        json_t *cpu = object_member(res, "cpu");
        json_object_set_new(cpu, "quota", json_integer((json_int_t)(ctl->cpus * (double)period)));
        json_object_set_new(cpu, "period", json_integer(period));
    } else if (ctl->cpu_period != CTL_UNSET) {
        json_object_set_new(object_member(res, "cpu"), "period", json_integer(ctl->cpu_period));
    }
    if (ctl->cpu_quota != CTL_UNSET)
        json_object_set_new(object_member(res, "cpu"), "quota", json_integer(ctl->cpu_quota));
    if (ctl->pids_limit != CTL_UNSET)
        json_object_set_new(object_member(res, "pids"), "limit", json_integer(ctl->pids_limit));
    if (json_object_size(res) == 0) {
        tether_error_setk(err, TETHER_ERR_INVALID, 0,
                          "nothing to update: give --memory, --cpus, --cpu-quota, --cpu-period, "
                          "--pids-limit or --resources");
        return NULL;
    }
    return steal_ptr(res);
}

int ctl_cmd_update(struct ctl *ctl)
{
    struct tether_error err = {0};
    json_auto_t *resources = update_resources(ctl, &err);
    json_auto_t *params = NULL;
    json_auto_t *result = NULL;

    if (resources == NULL)
        return ctl_usage_error("%s", err.msg);
    params = json_pack("{s:O}", "resources", resources);
    result = ctl_call_once(ctl, "update", params, &err);
    if (result == NULL)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    ctl_print_result(ctl, result);
    return CTL_EXIT_OK;
}

/* ---- stats ---- */

struct sample {
    int64_t at_ms;
    json_t *stats;
};

static json_int_t stat_value(json_t *stats, const char *group, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(stats, group), key));
}

static void format_bytes(json_int_t n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024 && u + 1 < TETHER_ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%lldB", (long long)n);
    else
        snprintf(buf, len, "%.1f%s", v, units[u]);
}

static void print_stats_header(void)
{
    printf("%-8s %-24s %-7s %s\n", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS");
}

/* One line from two samples: CPU use between them, the rest as of the later one. A
 * limit of 0 means none. */
static void print_stats_line(const struct sample *prev, const struct sample *cur)
{
    json_int_t cpu_ns =
        stat_value(cur->stats, "cpu", "usage_ns") - stat_value(prev->stats, "cpu", "usage_ns");
    int64_t wall_ms = cur->at_ms - prev->at_ms;
    json_int_t usage = stat_value(cur->stats, "memory", "usage_bytes");
    json_int_t limit = stat_value(cur->stats, "memory", "limit_bytes");
    json_int_t pids = stat_value(cur->stats, "pids", "current");
    json_int_t pids_limit = stat_value(cur->stats, "pids", "limit");
    char used[32], lim[32], mem[80], cpu[32], mem_pct[32], pid_text[64];

    if (wall_ms > 0 && cpu_ns >= 0)
        snprintf(cpu, sizeof(cpu), "%.2f%%", (double)cpu_ns / ((double)wall_ms * 1e6) * 100);
    else
        snprintf(cpu, sizeof(cpu), "-");
    format_bytes(usage, used, sizeof(used));
    if (limit > 0) {
        format_bytes(limit, lim, sizeof(lim));
        snprintf(mem_pct, sizeof(mem_pct), "%.2f%%", (double)usage / (double)limit * 100);
    } else {
        snprintf(lim, sizeof(lim), "unlimited");
        snprintf(mem_pct, sizeof(mem_pct), "-");
    }
    snprintf(mem, sizeof(mem), "%s / %s", used, lim);
    if (pids_limit > 0)
        snprintf(pid_text, sizeof(pid_text), "%lld / %lld", (long long)pids, (long long)pids_limit);
    else
        snprintf(pid_text, sizeof(pid_text), "%lld", (long long)pids);
    printf("%-8s %-24s %-7s %s\n", cpu, mem, mem_pct, pid_text);
    fflush(stdout);
}

static int take_sample(struct tether_client *c, struct sample *s, int *code,
                       struct tether_error *err)
{
    json_decref(s->stats);
    s->stats = tether_client_call(c, "stats", NULL, -1, code, err);
    s->at_ms = ctl_now_ms();
    return s->stats != NULL ? 0 : -1;
}

/* Samples every interval until the container stops (or the shim leaves): that end is
 * not a failure. */
static int stats_watch(const struct ctl *ctl, struct tether_client *c, struct sample *prev,
                       struct sample *cur, struct tether_error *err)
{
    int64_t interval_ms = (int64_t)(ctl->interval * 1000);

    if (!ctl->json)
        print_stats_header();
    for (;;) {
        struct sample tmp;
        int code = 0;

        ctl_sleep_ms(interval_ms > 0 ? interval_ms : 1);
        if (take_sample(c, cur, &code, err) < 0)
            return code == TETHER_RPC_INVALID_STATE || code == TETHER_RPC_NOT_FOUND ||
                           err->kind == TETHER_ERR_NOT_FOUND
                       ? 0
                       : -1;
        if (ctl->json)
            ctl_print_result(ctl, cur->stats);
        else
            print_stats_line(prev, cur);
        fflush(stdout);
        tmp = *prev;
        *prev = *cur;
        *cur = tmp;
    }
}

int ctl_cmd_stats(struct ctl *ctl)
{
    struct tether_error err = {0};
    struct tether_client *c = ctl_connect(ctl, &err);
    struct sample prev = {0}, cur = {0};
    int rc = 0;

    if (c == NULL)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    if (take_sample(c, &prev, NULL, &err) < 0) {
        rc = -1;
    } else if (ctl->watch) {
        if (ctl->json)
            ctl_print_result(ctl, prev.stats);
        rc = stats_watch(ctl, c, &prev, &cur, &err);
    } else if (ctl->json) {
        ctl_print_result(ctl, prev.stats);
    } else {
        ctl_sleep_ms(CTL_STATS_SAMPLE_MS);
        rc = take_sample(c, &cur, NULL, &err);
        if (rc == 0) {
            print_stats_header();
            print_stats_line(&prev, &cur);
        }
    }
    json_decref(prev.stats);
    json_decref(cur.stats);
    tether_client_close(c);
    return rc < 0 ? ctl_fail(&err, CTL_EXIT_FAILED) : CTL_EXIT_OK;
}

/* ---- top ---- */

/* /proc/PID/cmdline with its NULs as spaces; "[comm]" for a process without one. */
static char *proc_command(long long pid, const char *comm)
{
    cleanup_free char *path = xasprintf("/proc/%lld/cmdline", pid);
    char *text = NULL;
    size_t len = 0;

    if (tether_read_file(path, CTL_PROC_FILE_MAX, &text, &len, NULL) < 0 || len == 0) {
        free(text);
        return xasprintf("[%s]", comm);
    }
    while (len > 0 && text[len - 1] == '\0')
        len--;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\0')
            text[i] = ' ';
    text[len] = '\0';
    return text;
}

/* The real uid from /proc/PID/status, by name when the host knows it. */
static json_t *proc_user(long long pid)
{
    cleanup_free char *path = xasprintf("/proc/%lld/status", pid);
    cleanup_free char *text = NULL;
    const char *line;
    struct passwd pw, *found = NULL;
    char buf[1024];
    unsigned long uid;

    if (tether_read_file(path, CTL_PROC_FILE_MAX, &text, NULL, NULL) < 0 ||
        (line = strstr(text, "\nUid:")) == NULL || sscanf(line + 5, "%lu", &uid) != 1)
        return json_null();
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &found) == 0 && found != NULL)
        return json_string(found->pw_name);
    return json_integer((json_int_t)uid);
}

/* ppid, state and CPU time from /proc/PID/stat (proc(5)); the command name may hold
 * spaces and parentheses, so fields are counted from the last ')'. */
static json_t *proc_row(json_t *item)
{
    long long pid = json_integer_value(json_object_get(item, "pid"));
    cleanup_free char *path = xasprintf("/proc/%lld/stat", pid);
    cleanup_free char *stat = NULL;
    cleanup_free char *comm = NULL;
    cleanup_free char *cmd = NULL;
    json_t *exec_id = json_object_get(item, "exec_id");
    json_t *row;
    const char *open, *close;
    char state = '?';
    long long ppid = 0;
    unsigned long long utime = 0, stime = 0;
    long ticks = sysconf(_SC_CLK_TCK);

    if (tether_read_file(path, CTL_PROC_FILE_MAX, &stat, NULL, NULL) == 0 &&
        (open = strchr(stat, '(')) != NULL && (close = strrchr(stat, ')')) != NULL &&
        close > open) {
        comm = xasprintf("%.*s", (int)(close - open - 1), open + 1);
        sscanf(close + 1, " %c %lld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &state, &ppid,
               &utime, &stime);
    }
    cmd = proc_command(pid, comm != NULL ? comm : "?");
    row =
        json_pack("{s:o, s:I, s:I, s:s#, s:I, s:s}", "user", proc_user(pid), "pid", (json_int_t)pid,
                  "ppid", (json_int_t)ppid, "state", &state, (size_t)1, "cpu_seconds",
                  (json_int_t)((utime + stime) / (ticks > 0 ? ticks : 100)), "command", cmd);
    if (json_is_true(json_object_get(item, "init")))
        json_object_set_new(row, "exec", json_string("init"));
    else if (json_is_string(exec_id))
        json_object_set(row, "exec", exec_id);
    else
        json_object_set_new(row, "exec", json_null());
    return row;
}

static void print_top(json_t *rows)
{
    json_t *row;
    size_t i;

    printf("%-10s %-8s %-8s %-4s %-9s %-16s %s\n", "USER", "PID", "PPID", "STAT", "TIME", "EXEC",
           "COMMAND");
    json_array_foreach(rows, i, row)
    {
        json_t *user = json_object_get(row, "user");
        json_int_t secs = json_integer_value(json_object_get(row, "cpu_seconds"));
        const char *exec = json_string_value(json_object_get(row, "exec"));
        char who[32], when[32];

        if (json_is_string(user))
            snprintf(who, sizeof(who), "%s", json_string_value(user));
        else if (json_is_integer(user))
            snprintf(who, sizeof(who), "%lld", (long long)json_integer_value(user));
        else
            snprintf(who, sizeof(who), "?");
        snprintf(when, sizeof(when), "%lld:%02lld:%02lld", (long long)secs / 3600,
                 (long long)secs / 60 % 60, (long long)secs % 60);
        printf("%-10s %-8lld %-8lld %-4s %-9s %-16s %s\n", who,
               (long long)json_integer_value(json_object_get(row, "pid")),
               (long long)json_integer_value(json_object_get(row, "ppid")),
               json_string_value(json_object_get(row, "state")), when, exec != NULL ? exec : "-",
               json_string_value(json_object_get(row, "command")));
    }
}

int ctl_cmd_top(struct ctl *ctl)
{
    struct tether_error err = {0};
    json_auto_t *result = ctl_call_once(ctl, "pids", NULL, &err);
    json_auto_t *rows = json_array();
    json_t *item;
    size_t i;

    if (result == NULL)
        return ctl_fail(&err, CTL_EXIT_FAILED);
    json_array_foreach(json_object_get(result, "pids"), i, item)
    {
        json_array_append_new(rows, proc_row(item));
    }
    if (ctl->json)
        ctl_print_result(ctl, rows);
    else
        print_top(rows);
    return CTL_EXIT_OK;
}
