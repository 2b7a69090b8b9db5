/* The messages containerd reads: State, Pids and Stats answers, and the events. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tether/util.h>

#include "github.com/containerd/cgroups/stats/v1/metrics.pb-c.h"
#include "github.com/containerd/cgroups/v2/stats/metrics.pb-c.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/runtime/v2/runc/options/oci.pb-c.h"
#include "task.h"

Google__Protobuf__Timestamp *tether_ctrd_timestamp(Google__Protobuf__Timestamp *ts,
                                                   const struct timespec *at, bool exited)
{
    /* A process that has not exited has no exit time: the field is left out, which
     * containerd reads as Go's zero time (never 1970, which {0, 0} would be). */
    if (!exited)
        return NULL;
    google__protobuf__timestamp__init(ts);
    ts->seconds = at->tv_sec;
    ts->nanos = (int32_t)at->tv_nsec;
    return ts;
}

static Containerd__V1__Types__Status status_of(enum tether_status s)
{
    switch (s) {
    case TETHER_STATUS_CREATING:
    case TETHER_STATUS_CREATED:
        return CONTAINERD__V1__TYPES__STATUS__CREATED;
    case TETHER_STATUS_RUNNING:
        return CONTAINERD__V1__TYPES__STATUS__RUNNING;
    case TETHER_STATUS_PAUSED:
        return CONTAINERD__V1__TYPES__STATUS__PAUSED;
    case TETHER_STATUS_STOPPED:
        return CONTAINERD__V1__TYPES__STATUS__STOPPED;
    case TETHER_STATUS_UNKNOWN:
        break;
    }
    return CONTAINERD__V1__TYPES__STATUS__UNKNOWN;
}

void tether_ctrd_encode_state(Containerd__Task__V2__StateResponse *resp,
                              const struct tether_state *st, Google__Protobuf__Timestamp *ts)
{
    resp->id = (char *)st->id;
    resp->bundle = (char *)st->bundle;
    resp->pid = (uint32_t)(st->pid > 0 ? st->pid : 0);
    resp->status = status_of(st->exited ? TETHER_STATUS_STOPPED : st->status);
    if (st->exited)
        resp->exit_status = (uint32_t)st->exit.exit_status;
    resp->exited_at = tether_ctrd_timestamp(ts, &st->exit.exited_at, st->exited);
}

/* ---- Pids ---- */

#define PROCESS_DETAILS_URL "containerd.runc.v1.ProcessDetails"

void tether_ctrd_reply_pids(struct tether_ctrd_req *r, const struct tether_result *res)
{
    Containerd__Task__V2__PidsResponse resp = CONTAINERD__TASK__V2__PIDS_RESPONSE__INIT;
    size_t n = res != NULL ? res->n_pids : 0, i;
    cleanup_free Containerd__V1__Types__ProcessInfo *infos = xzalloc((n + 1) * sizeof(*infos));
    cleanup_free Containerd__V1__Types__ProcessInfo **ptrs =
        xzalloc((n + 1) * sizeof(Containerd__V1__Types__ProcessInfo *));
    cleanup_free Google__Protobuf__Any *anys = xzalloc((n + 1) * sizeof(*anys));
    cleanup_free uint8_t **values = xzalloc((n + 1) * sizeof(uint8_t *));

    for (i = 0; i < n; i++) {
        containerd__v1__types__process_info__init(&infos[i]);
        infos[i].pid = (uint32_t)res->pids[i].pid;
        if (res->pids[i].exec_id != NULL) {
            /* The process an exec started, named as containerd's own shim names it. */
            Containerd__Runc__V1__ProcessDetails details =
                CONTAINERD__RUNC__V1__PROCESS_DETAILS__INIT;
            details.exec_id = (char *)res->pids[i].exec_id;
            google__protobuf__any__init(&anys[i]);
            anys[i].type_url = PROCESS_DETAILS_URL;
            values[i] = tether_ttrpc_pack(&details.base, &anys[i].value.len);
            anys[i].value.data = values[i];
            infos[i].info = &anys[i];
        }
        ptrs[i] = &infos[i];
    }
    resp.n_processes = n;
    resp.processes = ptrs;
    /* An answer over 4 MiB is refused by the server (ResourceExhausted), never sent. */
    tether_ctrd_req_answer(r, &resp.base);
    for (i = 0; i < n; i++)
        free(values[i]);
}

/* ---- Stats ---- */

static void answer_metrics(struct tether_ctrd_ctx *ctx, const char *type_url,
                           const ProtobufCMessage *metrics)
{
    Containerd__Task__V2__StatsResponse resp = CONTAINERD__TASK__V2__STATS_RESPONSE__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    cleanup_free uint8_t *value = tether_ttrpc_pack(metrics, &any.value.len);

    any.type_url = (char *)type_url;
    any.value.data = value;
    resp.stats = &any;
    tether_ctrd_answer(ctx, &resp.base);
}

/* "No limit" as the cgroup files say it: v1 reports the largest page-aligned signed value,
 * v2 "max", which containerd reads as the largest unsigned one. CRI computes the memory
 * still available from the limit, so 0 would not do. */
static uint64_t unlimited_v1(uint64_t limit)
{
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

    return limit != 0 ? limit : (uint64_t)INT64_MAX & ~(page - 1);
}

static uint64_t unlimited_v2(uint64_t limit)
{
    return limit != 0 ? limit : UINT64_MAX;
}

static void fill_v1_memory(Io__Containerd__Cgroups__V1__MemoryStat *mem,
                           const struct tether_stats *st)
{
    const struct tether_memory_stat *m = &st->memory_stat;

    /* memory.stat's hierarchical totals, which ctr and CRI read. */
    mem->total_cache = m->cache;
    mem->total_rss = m->rss;
    mem->total_rss_huge = m->rss_huge;
    mem->total_mapped_file = m->mapped_file;
    mem->total_dirty = m->dirty;
    mem->total_writeback = m->writeback;
    mem->total_pg_fault = m->pgfault;
    mem->total_pg_maj_fault = m->pgmajfault;
    mem->total_inactive_anon = m->inactive_anon;
    mem->total_active_anon = m->active_anon;
    mem->total_inactive_file = m->inactive_file;
    mem->total_active_file = m->active_file;
    mem->total_unevictable = m->unevictable;
}

static void answer_v1(struct tether_ctrd_ctx *ctx, const struct tether_stats *st)
{
    Io__Containerd__Cgroups__V1__Metrics m = IO__CONTAINERD__CGROUPS__V1__METRICS__INIT;
    Io__Containerd__Cgroups__V1__PidsStat pids = IO__CONTAINERD__CGROUPS__V1__PIDS_STAT__INIT;
    Io__Containerd__Cgroups__V1__CPUStat cpu = IO__CONTAINERD__CGROUPS__V1__CPUSTAT__INIT;
    Io__Containerd__Cgroups__V1__CPUUsage usage = IO__CONTAINERD__CGROUPS__V1__CPUUSAGE__INIT;
    Io__Containerd__Cgroups__V1__Throttle throttle = IO__CONTAINERD__CGROUPS__V1__THROTTLE__INIT;
    Io__Containerd__Cgroups__V1__MemoryStat mem = IO__CONTAINERD__CGROUPS__V1__MEMORY_STAT__INIT;
    Io__Containerd__Cgroups__V1__MemoryEntry mem_usage =
        IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT;
    Io__Containerd__Cgroups__V1__MemoryEntry swap = IO__CONTAINERD__CGROUPS__V1__MEMORY_ENTRY__INIT;

    /* ctr reads memory.usage and cpu.usage whenever memory and cpu are there: they are
     * always filled together. */
    if (st->have & TETHER_STATS_CPU) {
        usage.total = st->cpu_usage_ns;
        usage.user = st->cpu_user_ns;
        usage.kernel = st->cpu_system_ns;
        usage.n_per_cpu = st->n_cpus;
        usage.per_cpu = (uint64_t *)st->cpu_per_cpu_ns;
        throttle.periods = st->cpu_periods;
        throttle.throttled_periods = st->cpu_throttled_periods;
        throttle.throttled_time = st->cpu_throttled_ns;
        cpu.usage = &usage;
        cpu.throttling = &throttle;
        m.cpu = &cpu;
    }
    if (st->have & TETHER_STATS_MEMORY) {
        mem_usage.usage = st->memory_usage_bytes;
        mem_usage.limit = unlimited_v1(st->memory_limit_bytes);
        mem_usage.max = st->memory_max_usage_bytes;
        mem_usage.failcnt = st->memory_failcnt;
        swap.usage = st->swap_usage_bytes;
        swap.limit = unlimited_v1(st->swap_limit_bytes);
        mem.usage = &mem_usage;
        mem.swap = &swap;
        fill_v1_memory(&mem, st);
        m.memory = &mem;
    }
    if (st->have & TETHER_STATS_PIDS) {
        pids.current = st->pids_current;
        pids.limit = st->pids_limit;
        m.pids = &pids;
    }
    answer_metrics(ctx, "io.containerd.cgroups.v1.Metrics", &m.base);
}

static void answer_v2(struct tether_ctrd_ctx *ctx, const struct tether_stats *st)
{
    Io__Containerd__Cgroups__V2__Metrics m = IO__CONTAINERD__CGROUPS__V2__METRICS__INIT;
    Io__Containerd__Cgroups__V2__PidsStat pids = IO__CONTAINERD__CGROUPS__V2__PIDS_STAT__INIT;
    Io__Containerd__Cgroups__V2__CPUStat cpu = IO__CONTAINERD__CGROUPS__V2__CPUSTAT__INIT;
    Io__Containerd__Cgroups__V2__MemoryStat mem = IO__CONTAINERD__CGROUPS__V2__MEMORY_STAT__INIT;
    const struct tether_memory_stat *ms = &st->memory_stat;

    if (st->have & TETHER_STATS_CPU) {
        cpu.usage_usec = st->cpu_usage_ns / 1000;
        cpu.user_usec = st->cpu_user_ns / 1000;
        cpu.system_usec = st->cpu_system_ns / 1000;
        cpu.nr_periods = st->cpu_periods;
        cpu.nr_throttled = st->cpu_throttled_periods;
        cpu.throttled_usec = st->cpu_throttled_ns / 1000;
        m.cpu = &cpu;
    }
    if (st->have & TETHER_STATS_MEMORY) {
        mem.usage = st->memory_usage_bytes;
        mem.usage_limit = unlimited_v2(st->memory_limit_bytes);
        mem.swap_usage = st->swap_usage_bytes;
        mem.swap_limit = unlimited_v2(st->swap_limit_bytes);
        mem.file = ms->cache;
        mem.anon = ms->rss;
        mem.anon_thp = ms->rss_huge;
        mem.file_mapped = ms->mapped_file;
        mem.file_dirty = ms->dirty;
        mem.file_writeback = ms->writeback;
        mem.pgfault = ms->pgfault;
        mem.pgmajfault = ms->pgmajfault;
        mem.inactive_anon = ms->inactive_anon;
        mem.active_anon = ms->active_anon;
        mem.inactive_file = ms->inactive_file;
        mem.active_file = ms->active_file;
        mem.unevictable = ms->unevictable;
        m.memory = &mem;
    }
    if (st->have & TETHER_STATS_PIDS) {
        pids.current = st->pids_current;
        pids.limit = st->pids_limit;
        m.pids = &pids;
    }
    answer_metrics(ctx, "io.containerd.cgroups.v2.Metrics", &m.base);
}

void tether_ctrd_answer_stats(struct tether_ctrd_ctx *ctx, const struct tether_stats *st)
{
    if (st->memory_v2)
        answer_v2(ctx, st);
    else
        answer_v1(ctx, st);
}

/* ---- events ---- */

static bool pack_event(struct tether_ctrd_envelope *out, const char *topic, const char *type_url,
                       const ProtobufCMessage *msg)
{
    out->topic = topic;
    out->type_url = type_url;
    out->value = tether_ttrpc_pack(msg, &out->len);
    return true;
}

static bool encode_exit(const struct tether_event *ev, struct tether_ctrd_envelope *out)
{
    Containerd__Events__TaskExit msg = CONTAINERD__EVENTS__TASK_EXIT__INIT;
    Google__Protobuf__Timestamp ts;

    msg.container_id = ev->id;
    /* The init's exit names the container (CRI looks the container up by it). */
    msg.id = ev->exec_id != NULL ? ev->exec_id : ev->id;
    msg.pid = (uint32_t)ev->pid;
    msg.exit_status = (uint32_t)ev->exit.exit_status;
    msg.exited_at = tether_ctrd_timestamp(&ts, &ev->exit.exited_at, true);
    return pack_event(out, "/tasks/exit", "containerd.events.TaskExit", &msg.base);
}

static bool encode_delete(const struct tether_event *ev, struct tether_ctrd_envelope *out)
{
    Containerd__Events__TaskDelete msg = CONTAINERD__EVENTS__TASK_DELETE__INIT;
    Google__Protobuf__Timestamp ts;
    bool exited = ev->exit.exited_at.tv_sec != 0 || ev->exit.exited_at.tv_nsec != 0;

    msg.container_id = ev->id;
    msg.pid = (uint32_t)ev->pid;
    msg.exit_status = (uint32_t)ev->exit.exit_status;
    msg.exited_at = tether_ctrd_timestamp(&ts, &ev->exit.exited_at, exited);
    return pack_event(out, "/tasks/delete", "containerd.events.TaskDelete", &msg.base);
}

bool tether_ctrd_encode_event(void *opaque, const struct tether_event *ev,
                              struct tether_ctrd_envelope *out)
{
    (void)opaque;
    switch (ev->topic) {
    case TETHER_TOPIC_START: {
        Containerd__Events__TaskStart msg = CONTAINERD__EVENTS__TASK_START__INIT;
        msg.container_id = ev->id;
        msg.pid = (uint32_t)ev->pid;
        return pack_event(out, "/tasks/start", "containerd.events.TaskStart", &msg.base);
    }
    case TETHER_TOPIC_EXIT:
        return encode_exit(ev, out);
    case TETHER_TOPIC_DELETE:
        return encode_delete(ev, out);
    case TETHER_TOPIC_EXEC_START: {
        Containerd__Events__TaskExecStarted msg = CONTAINERD__EVENTS__TASK_EXEC_STARTED__INIT;
        msg.container_id = ev->id;
        msg.exec_id = ev->exec_id;
        msg.pid = (uint32_t)ev->pid;
        return pack_event(out, "/tasks/exec-started", "containerd.events.TaskExecStarted",
                          &msg.base);
    }
    case TETHER_TOPIC_PAUSED: {
        Containerd__Events__TaskPaused msg = CONTAINERD__EVENTS__TASK_PAUSED__INIT;
        msg.container_id = ev->id;
        return pack_event(out, "/tasks/paused", "containerd.events.TaskPaused", &msg.base);
    }
    case TETHER_TOPIC_RESUMED: {
        Containerd__Events__TaskResumed msg = CONTAINERD__EVENTS__TASK_RESUMED__INIT;
        msg.container_id = ev->id;
        return pack_event(out, "/tasks/resumed", "containerd.events.TaskResumed", &msg.base);
    }
    case TETHER_TOPIC_OOM: {
        Containerd__Events__TaskOOM msg = CONTAINERD__EVENTS__TASK_OOM__INIT;
        msg.container_id = ev->id;
        return pack_event(out, "/tasks/oom", "containerd.events.TaskOOM", &msg.base);
    }
    case TETHER_TOPIC_CREATE: /* a note: it carries what Create said (task.c) */
    case TETHER_TOPIC_RESTART:
    case TETHER_TOPIC_RESTART_FAILED:
    case TETHER_TOPIC_SECCOMP:
    case TETHER_TOPIC_COUNT:
        break;
    }
    return false;
}
