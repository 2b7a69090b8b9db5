/* A container's cgroups as the shim sees them: where they are (cgroup v1 controller
 * hierarchies or the v2 unified one), what they use, and OOM notification through an fd the
 * shim's epoll loop watches. Every call does a few small reads of cgroupfs files, allocates
 * nothing and never blocks, so the single-threaded event loop may call any of them.
 *
 * Layout assumed (no mountinfo parsing): v1 controllers at <root>/<controller> (a joined
 * mount such as "cpu,cpuacct" is found by either name or by the joined name), the unified
 * hierarchy at <root> itself when <root>/cgroup.controllers exists (pure v2), else at
 * <root>/unified (hybrid). See Documentation/admin-guide/cgroup-v1/ and cgroup-v2.rst. */
#ifndef TETHER_SHIM_CGROUP_H
#define TETHER_SHIM_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <tether/core.h>
#include <tether/error.h>

#define TETHER_CGROUP_ROOT "/sys/fs/cgroup"
/* Bounds on what we read: the whole of /proc/<pid>/cgroup, and any one cgroup file. */
#define TETHER_CGROUP_PROC_MAX 8192
#define TETHER_CGROUP_FILE_MAX 4096
/* memory.stat has a few dozen lines. */
#define TETHER_CGROUP_STAT_MAX 16384

enum tether_cgroup_version {
    TETHER_CGROUP_NONE = 0, /* the controller is not available for this process */
    TETHER_CGROUP_V1,
    TETHER_CGROUP_V2,
};

/* Where one controller of the process lives. */
/* Longest cgroup directory kept. Container cgroup paths are a few dozen bytes; a small
 * bound keeps the three of them on one page of the shim's memory. */
#define TETHER_CGROUP_DIR_MAX 512

struct tether_cgroup_ctl {
    enum tether_cgroup_version version;
    char dir[TETHER_CGROUP_DIR_MAX]; /* cgroup directory; empty when version is NONE */
};

struct tether_cgroup {
    struct tether_cgroup_ctl memory;
    struct tether_cgroup_ctl cpu; /* v1: the cpuacct hierarchy; v2: the unified dir */
    struct tether_cgroup_ctl cfs; /* v1: the cpu hierarchy (CFS throttling); v2: as cpu */
    struct tether_cgroup_ctl pids;
    int oom_fd;              /* eventfd (v1) or inotify fd (v2); -1 when not watching */
    uint64_t oom_kills_seen; /* v2: memory.events oom_kill at the last check */
    uint64_t oom_events;     /* total OOM events reported by tether_cgroup_oom_check */
};

/* Makes cg safe to pass to tether_cgroup_close without opening it. */
void tether_cgroup_init(struct tether_cgroup *cg);

/* Finds the cgroups of pid from /proc/<pid>/cgroup under TETHER_CGROUP_ROOT. */
int tether_cgroup_open(struct tether_cgroup *cg, pid_t pid, struct tether_error *err);

/* Same with the cgroupfs root and the text of /proc/<pid>/cgroup given (unit tests point
 * root at a fixture tree). The memory controller is v1 when proc_cgroup has a memory line
 * and its hierarchy is mounted, else v2; the memory directory must exist (NOT_FOUND). cg
 * is initialised first, so it can be closed even when this fails. */
int tether_cgroup_open_at(struct tether_cgroup *cg, const char *root, const char *proc_cgroup,
                          struct tether_error *err);

/* Stops any OOM watch and closes its fd. */
void tether_cgroup_close(struct tether_cgroup *cg);

/* Reads current usage and limits into st. Missing controllers leave their have bit clear;
 * unreadable or malformed files are errors. The details of a group that was read (per-CPU
 * time, throttling, memory.stat, swap, peaks) are best effort: what the kernel does not
 * provide stays 0. */
int tether_cgroup_stats(const struct tether_cgroup *cg, struct tether_stats *st,
                        struct tether_error *err);

/* Arms OOM notification and returns an fd (owned by cg, O_CLOEXEC|O_NONBLOCK) that becomes
 * readable on an OOM event; call tether_cgroup_oom_check then. v1: an eventfd registered
 * through cgroup.event_control on memory.oom_control; v2: inotify IN_MODIFY on
 * memory.events. Calling it again returns the same fd. */
int tether_cgroup_oom_watch(struct tether_cgroup *cg, struct tether_error *err);

/* Drains the watch fd and sets *new_ooms to the OOM events since the last check: v1 counts
 * the kernel's notifications (sent when the cgroup runs out of memory, just before the
 * killer picks a victim), v2 the increase of oom_kill in memory.events. *ended becomes true
 * when the check finds the cgroup removed; remove the fd from epoll and call
 * tether_cgroup_oom_unwatch. v1 signals the eventfd once on removal (not counted as an
 * OOM); a v2 inotify watch on a removed cgroup just goes quiet. */
int tether_cgroup_oom_check(struct tether_cgroup *cg, unsigned *new_ooms, bool *ended,
                            struct tether_error *err);

/* Closes the watch fd (which also unregisters the v1 eventfd in the kernel). */
void tether_cgroup_oom_unwatch(struct tether_cgroup *cg);

/* Number of processes the kernel OOM-killed in the cgroup: v1 "oom_kill" of
 * memory.oom_control (kernels >= 4.13; NOT_FOUND before), v2 oom_kill of memory.events.
 * The kill is counted before SIGKILL is sent, so it is visible once the victim is reaped. */
int tether_cgroup_oom_kills(const struct tether_cgroup *cg, uint64_t *kills,
                            struct tether_error *err);

/* Whether any OOM kill happened in the cgroup; on a v1 kernel without the kill counter,
 * whether tether_cgroup_oom_check has seen any OOM event. */
int tether_cgroup_oom_killed(const struct tether_cgroup *cg, bool *killed,
                             struct tether_error *err);

/* Parsers of the cgroupfs file formats, exposed for the unit tests. */

/* A single unsigned decimal, optionally followed by one newline ("12345\n"). */
int tether_cgroup_parse_u64(const char *text, uint64_t *out, struct tether_error *err);

/* A limit: "max" or a number; "max" and numbers from TETHER_CGROUP_V1_UNLIMITED up (v1
 * reports "no limit" as LONG_MAX rounded down to the page size) give 0. */
#define TETHER_CGROUP_V1_UNLIMITED (INT64_MAX - (INT64_C(1) << 20) + 1)
int tether_cgroup_parse_limit(const char *text, uint64_t *out, struct tether_error *err);

/* The value of key in a flat keyed file ("key value\n" lines: cpu.stat, memory.events,
 * memory.oom_control). A missing key gives kind NOT_FOUND, a non-numeric value INVALID. */
int tether_cgroup_parse_keyed(const char *text, const char *key, uint64_t *out,
                              struct tether_error *err);

#endif
