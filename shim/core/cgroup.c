#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tether/util.h>

#include "cgroup.h"

/* Longest text of a bad value quoted back in an error message. */
#define QUOTE_MAX 40
/* One read of the v2 inotify fd: room for many IN_MODIFY events (no names on file watches). */
#define INOTIFY_BUF_SIZE 4096

/* ---- parsers ---------------------------------------------------------------------------- */

/* Length of the first line of s, capped for quoting in messages. */
static int quote_len(const char *s)
{
    size_t n = strcspn(s, "\n");

    return (int)(n > QUOTE_MAX ? QUOTE_MAX : n);
}

/* Decimal digits only, at least one, no overflow. */
static bool parse_digits(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;

    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned d = (unsigned)(s[i] - '0');

        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Length of text without one trailing newline. */
static size_t strip_newline(const char *text)
{
    size_t len = strlen(text);

    if (len > 0 && text[len - 1] == '\n')
        len--;
    return len;
}

int tether_cgroup_parse_u64(const char *text, uint64_t *out, struct tether_error *err)
{
    if (!parse_digits(text, strip_newline(text), out))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "expected an unsigned integer, got \"%.*s\"", quote_len(text),
                                 text);
    return 0;
}

int tether_cgroup_parse_limit(const char *text, uint64_t *out, struct tether_error *err)
{
    size_t len = strip_newline(text);

    if (len == 3 && memcmp(text, "max", 3) == 0) {
        *out = 0;
        return 0;
    }
    if (!parse_digits(text, len, out))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "expected a limit (\"max\" or an unsigned integer), got \"%.*s\"",
                                 quote_len(text), text);
    if (*out >= (uint64_t)TETHER_CGROUP_V1_UNLIMITED)
        *out = 0;
    return 0;
}

int tether_cgroup_parse_keyed(const char *text, const char *key, uint64_t *out,
                              struct tether_error *err)
{
    size_t klen = strlen(key);
    const char *line = text;

    while (*line != '\0') {
        size_t len = strcspn(line, "\n");

        if (len > klen && memcmp(line, key, klen) == 0 && line[klen] == ' ') {
            const char *val = line + klen + 1;

            if (!parse_digits(val, len - klen - 1, out))
                return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                         "key \"%s\": expected an unsigned integer, got \"%.*s\"",
                                         key, quote_len(val), val);
            return 0;
        }
        line += len;
        if (*line == '\n')
            line++;
    }
    return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "no \"%s\" key", key);
}

/* ---- files ------------------------------------------------------------------------------ */

static int path_join(char *buf, size_t size, const char *dir, const char *name,
                     struct tether_error *err)
{
    int n = snprintf(buf, size, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= size)
        return tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0, "path %s/%s is too long", dir, name);
    return 0;
}

static int open_error(struct tether_error *err, int errnum, const char *path)
{
    return tether_error_setk(err, errnum == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                             errnum, "open %s", path);
}

/* Reads the small file dir/name into buf as a string. A missing file gives kind NOT_FOUND
 * with errnum ENOENT; more than size - 1 bytes is TOO_LARGE. */
static int read_small(const char *dir, const char *name, char *buf, size_t size,
                      struct tether_error *err)
{
    char path[PATH_MAX];
    cleanup_close int fd = -1;
    size_t len = 0;

    if (path_join(path, sizeof(path), dir, name, err) < 0)
        return -1;
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return open_error(err, errno, path);
    for (;;) {
        char extra;
        ssize_t n = len < size - 1 ? read(fd, buf + len, size - 1 - len) : read(fd, &extra, 1);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return tether_error_set(err, errno, "read %s", path);
        }
        if (n == 0)
            break;
        if (len == size - 1)
            return tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0, "%s is over %zu bytes", path,
                                     size - 1);
        len += (size_t)n;
    }
    buf[len] = '\0';
    if (strlen(buf) != len)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "%s holds a NUL byte", path);
    return 0;
}

static int read_value(const char *dir, const char *name, bool limit, uint64_t *out,
                      struct tether_error *err)
{
    char buf[TETHER_CGROUP_FILE_MAX] = {0};
    int rc;

    if (read_small(dir, name, buf, sizeof(buf), err) < 0)
        return -1;
    rc = limit ? tether_cgroup_parse_limit(buf, out, err) : tether_cgroup_parse_u64(buf, out, err);
    if (rc < 0)
        return tether_error_prefix(err, "%s/%s", dir, name);
    return 0;
}

static int read_keyed(const char *dir, const char *name, const char *key, uint64_t *out,
                      struct tether_error *err)
{
    char buf[TETHER_CGROUP_FILE_MAX] = {0};

    if (read_small(dir, name, buf, sizeof(buf), err) < 0)
        return -1;
    if (tether_cgroup_parse_keyed(buf, key, out, err) < 0)
        return tether_error_prefix(err, "%s/%s", dir, name);
    return 0;
}

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- /proc/<pid>/cgroup ----------------------------------------------------------------- */

/* One "hierarchy-ID:controller-list:path" line (see cgroups(7)), pointing into the text. */
struct proc_line {
    const char *ctls;
    size_t ctls_len;
    const char *path;
    size_t path_len;
};

static bool has_dotdot(const char *path, size_t len)
{
    for (size_t i = 0; i + 3 <= len; i++) {
        if (path[i] == '/' && path[i + 1] == '.' && path[i + 2] == '.' &&
            (i + 3 == len || path[i + 3] == '/'))
            return true;
    }
    return false;
}

static bool list_has(const char *list, size_t len, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = list;
    const char *end = list + len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t tlen = comma != NULL ? (size_t)(comma - p) : (size_t)(end - p);

        if (tlen == nlen && memcmp(p, name, nlen) == 0)
            return true;
        p += tlen + 1;
    }
    return false;
}

static int split_line(const char *line, size_t len, unsigned lineno, struct proc_line *pl,
                      struct tether_error *err)
{
    const char *c1 = memchr(line, ':', len);
    const char *c2 = c1 != NULL ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
    uint64_t id;

    if (c2 == NULL || !parse_digits(line, (size_t)(c1 - line), &id))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "line %u: expected \"ID:controllers:path\", got \"%.*s\"", lineno,
                                 (int)(len > QUOTE_MAX ? QUOTE_MAX : len), line);
    pl->ctls = c1 + 1;
    pl->ctls_len = (size_t)(c2 - pl->ctls);
    pl->path = c2 + 1;
    pl->path_len = len - (size_t)(pl->path - line);
    if (pl->ctls_len == 0 && id != 0)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "line %u: no controllers on hierarchy %" PRIu64, lineno, id);
    if (pl->path_len == 0 || pl->path[0] != '/')
        return tether_error_setk(
            err, TETHER_ERR_INVALID, 0, "line %u: cgroup path \"%.*s\" is not absolute", lineno,
            (int)(pl->path_len > QUOTE_MAX ? QUOTE_MAX : pl->path_len), pl->path);
    /* A process outside our cgroup namespace shows up as "/../..": not under our mount. */
    if (has_dotdot(pl->path, pl->path_len))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "line %u: cgroup path \"%.*s\" is outside our cgroup namespace",
                                 lineno, (int)(pl->path_len > QUOTE_MAX ? QUOTE_MAX : pl->path_len),
                                 pl->path);
    return 0;
}

/* Finds the line of controller, or the unified v2 line ("0::/path") when controller is NULL.
 * Every line is checked, so malformed text fails whatever is looked up. Returns 1 when
 * found, 0 when not, -1 on malformed text. */
static int proc_find(const char *text, const char *controller, struct proc_line *found,
                     struct tether_error *err)
{
    const char *line = text;
    unsigned lineno = 0;
    bool have = false;

    while (*line != '\0') {
        size_t len = strcspn(line, "\n");
        struct proc_line pl = {0};

        lineno++;
        if (len > 0) {
            if (split_line(line, len, lineno, &pl, err) < 0)
                return -1;
            if (!have && (controller == NULL ? pl.ctls_len == 0
                                             : list_has(pl.ctls, pl.ctls_len, controller))) {
                *found = pl;
                have = true;
            }
        }
        line += len;
        if (*line == '\n')
            line++;
    }
    return have ? 1 : 0;
}

/* dir = mount + path (path "/" is the mount itself). */
static int cgroup_dir(char *dir, size_t size, const char *mount, const struct proc_line *pl,
                      struct tether_error *err)
{
    size_t plen = pl->path_len == 1 ? 0 : pl->path_len;
    int n = snprintf(dir, size, "%s%.*s", mount, (int)plen, pl->path);

    if (n < 0 || (size_t)n >= size)
        return tether_error_setk(err, TETHER_ERR_TOO_LARGE, 0, "cgroup path %s%.*s is too long",
                                 mount, (int)plen, pl->path);
    return 0;
}

/* Locates controller on a v1 hierarchy: its line in proc_cgroup and a mount at
 * <root>/<controller> or <root>/<controller-list>. Returns 1 when found, 0 when not. */
static int find_v1(struct tether_cgroup_ctl *ctl, const char *root, const char *proc_cgroup,
                   const char *controller, struct tether_error *err)
{
    char mount[PATH_MAX];
    struct proc_line pl = {0};
    int rc = proc_find(proc_cgroup, controller, &pl, err);

    if (rc <= 0)
        return rc;
    if (path_join(mount, sizeof(mount), root, controller, err) < 0)
        return -1;
    if (!is_dir(mount)) {
        int n = snprintf(mount, sizeof(mount), "%s/%.*s", root, (int)pl.ctls_len, pl.ctls);

        if (n < 0 || (size_t)n >= sizeof(mount) || !is_dir(mount))
            return 0;
    }
    if (cgroup_dir(ctl->dir, sizeof(ctl->dir), mount, &pl, err) < 0)
        return -1;
    ctl->version = TETHER_CGROUP_V1;
    return 1;
}

/* Locates the unified hierarchy: <root> on a pure v2 host, <root>/unified on a hybrid one.
 * Returns 1 when found, 0 when not. */
static int find_v2(struct tether_cgroup_ctl *ctl, const char *root, const char *proc_cgroup,
                   struct tether_error *err)
{
    char mount[PATH_MAX];
    struct proc_line pl = {0};
    int rc = proc_find(proc_cgroup, NULL, &pl, err);

    if (rc <= 0)
        return rc;
    if (path_join(mount, sizeof(mount), root, "cgroup.controllers", err) < 0)
        return -1;
    if (access(mount, F_OK) == 0)
        snprintf(mount, sizeof(mount), "%s", root);
    else if (path_join(mount, sizeof(mount), root, "unified", err) < 0)
        return -1;
    else if (!is_dir(mount))
        return 0;
    if (cgroup_dir(ctl->dir, sizeof(ctl->dir), mount, &pl, err) < 0)
        return -1;
    ctl->version = TETHER_CGROUP_V2;
    return 1;
}

/* ---- open / close ----------------------------------------------------------------------- */

void tether_cgroup_init(struct tether_cgroup *cg)
{
    memset(cg, 0, sizeof(*cg));
    cg->oom_fd = -1;
}

int tether_cgroup_open_at(struct tether_cgroup *cg, const char *root, const char *proc_cgroup,
                          struct tether_error *err)
{
    struct tether_cgroup_ctl unified = {0};
    int have_unified;

    tether_cgroup_init(cg);
    have_unified = find_v2(&unified, root, proc_cgroup, err);
    if (have_unified < 0)
        return -1;
    if (find_v1(&cg->memory, root, proc_cgroup, "memory", err) < 0 ||
        find_v1(&cg->cpu, root, proc_cgroup, "cpuacct", err) < 0 ||
        find_v1(&cg->cfs, root, proc_cgroup, "cpu", err) < 0 ||
        find_v1(&cg->pids, root, proc_cgroup, "pids", err) < 0)
        return -1;
    if (have_unified) {
        /* Controllers not on a v1 hierarchy are looked for in the unified one; the files
         * of one that is not enabled there are simply missing. */
        if (cg->memory.version == TETHER_CGROUP_NONE)
            cg->memory = unified;
        if (cg->cpu.version == TETHER_CGROUP_NONE)
            cg->cpu = unified;
        if (cg->cfs.version == TETHER_CGROUP_NONE)
            cg->cfs = unified;
        if (cg->pids.version == TETHER_CGROUP_NONE)
            cg->pids = unified;
    }
    if (cg->memory.version == TETHER_CGROUP_NONE && cg->cpu.version == TETHER_CGROUP_NONE &&
        cg->pids.version == TETHER_CGROUP_NONE)
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "no cgroup hierarchy under %s",
                                 root);
    if (cg->memory.version != TETHER_CGROUP_NONE && !is_dir(cg->memory.dir))
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "cgroup %s does not exist",
                                 cg->memory.dir);
    return 0;
}

int tether_cgroup_open(struct tether_cgroup *cg, pid_t pid, struct tether_error *err)
{
    char dir[32];
    char text[TETHER_CGROUP_PROC_MAX] = {0};

    tether_cgroup_init(cg);
    snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
    if (read_small(dir, "cgroup", text, sizeof(text), err) < 0 ||
        tether_cgroup_open_at(cg, TETHER_CGROUP_ROOT, text, err) < 0)
        return tether_error_prefix(err, "cgroups of pid %d", (int)pid);
    return 0;
}

void tether_cgroup_oom_unwatch(struct tether_cgroup *cg)
{
    if (cg->oom_fd >= 0)
        close(cg->oom_fd);
    cg->oom_fd = -1;
}

void tether_cgroup_close(struct tether_cgroup *cg)
{
    tether_cgroup_oom_unwatch(cg);
}

/* ---- stats ------------------------------------------------------------------------------ */

/* ---- details: best effort ---- */

struct keyed_field {
    const char *key;
    uint64_t *out;
};

static uint64_t mul_sat(uint64_t v, uint64_t by)
{
    return by != 0 && v > UINT64_MAX / by ? UINT64_MAX : v * by;
}

/* Fills the fields whose keys the keyed file dir/name has; the others stay as they are. A
 * missing or unreadable file is no error: these are details. */
static void read_fields(const char *dir, const char *name, const struct keyed_field *fields,
                        size_t n, uint64_t scale)
{
    char buf[TETHER_CGROUP_STAT_MAX];
    struct tether_error ignored = {0};
    uint64_t v;

    if (read_small(dir, name, buf, sizeof(buf), &ignored) < 0)
        return;
    for (size_t i = 0; i < n; i++)
        if (tether_cgroup_parse_keyed(buf, fields[i].key, &v, &ignored) == 0)
            *fields[i].out = mul_sat(v, scale);
}

static void read_detail(const char *dir, const char *name, bool limit, uint64_t *out)
{
    struct tether_error ignored = {0};
    uint64_t v;

    if (read_value(dir, name, limit, &v, &ignored) == 0)
        *out = v;
}

/* cpuacct.usage_percpu: one figure per possible CPU, space-separated. */
static void read_per_cpu(const char *dir, struct tether_stats *st)
{
    char buf[TETHER_CGROUP_STAT_MAX];
    struct tether_error ignored = {0};
    const char *p = buf;

    if (read_small(dir, "cpuacct.usage_percpu", buf, sizeof(buf), &ignored) < 0)
        return;
    while (st->n_cpus < TETHER_STATS_CPUS_MAX) {
        size_t len;
        p += strspn(p, " \n");
        len = strspn(p, "0123456789");
        if (len == 0 || !parse_digits(p, len, &st->cpu_per_cpu_ns[st->n_cpus]))
            break;
        st->n_cpus++;
        p += len;
    }
}

static void cpu_details(const struct tether_cgroup *cg, struct tether_stats *st)
{
    long ticks = sysconf(_SC_CLK_TCK);

    if (cg->cpu.version == TETHER_CGROUP_V1) {
        const struct keyed_field acct[] = {{"user", &st->cpu_user_ns},
                                           {"system", &st->cpu_system_ns}};
        read_fields(cg->cpu.dir, "cpuacct.stat", acct, TETHER_ARRAY_SIZE(acct),
                    ticks > 0 ? 1000000000ull / (uint64_t)ticks : 0);
        read_per_cpu(cg->cpu.dir, st);
    } else if (cg->cpu.version == TETHER_CGROUP_V2) {
        const struct keyed_field times[] = {{"user_usec", &st->cpu_user_ns},
                                            {"system_usec", &st->cpu_system_ns},
                                            {"throttled_usec", &st->cpu_throttled_ns}};
        st->cpu_v2 = true;
        read_fields(cg->cpu.dir, "cpu.stat", times, TETHER_ARRAY_SIZE(times), 1000);
    }
    if (cg->cfs.version != TETHER_CGROUP_NONE) {
        const struct keyed_field cfs[] = {{"nr_periods", &st->cpu_periods},
                                          {"nr_throttled", &st->cpu_throttled_periods}};
        const struct keyed_field v1_time[] = {{"throttled_time", &st->cpu_throttled_ns}};
        read_fields(cg->cfs.dir, "cpu.stat", cfs, TETHER_ARRAY_SIZE(cfs), 1);
        if (cg->cfs.version == TETHER_CGROUP_V1)
            read_fields(cg->cfs.dir, "cpu.stat", v1_time, 1, 1);
    }
}

static void memory_details(const struct tether_cgroup_ctl *ctl, struct tether_stats *st)
{
    struct tether_memory_stat *m = &st->memory_stat;
    bool v1 = ctl->version == TETHER_CGROUP_V1;
    const struct keyed_field v1_stat[] = {
        {"total_cache", &m->cache},
        {"total_rss", &m->rss},
        {"total_rss_huge", &m->rss_huge},
        {"total_mapped_file", &m->mapped_file},
        {"total_dirty", &m->dirty},
        {"total_writeback", &m->writeback},
        {"total_pgfault", &m->pgfault},
        {"total_pgmajfault", &m->pgmajfault},
        {"total_inactive_anon", &m->inactive_anon},
        {"total_active_anon", &m->active_anon},
        {"total_inactive_file", &m->inactive_file},
        {"total_active_file", &m->active_file},
        {"total_unevictable", &m->unevictable},
    };
    const struct keyed_field v2_stat[] = {
        {"file", &m->cache},
        {"anon", &m->rss},
        {"anon_thp", &m->rss_huge},
        {"file_mapped", &m->mapped_file},
        {"file_dirty", &m->dirty},
        {"file_writeback", &m->writeback},
        {"pgfault", &m->pgfault},
        {"pgmajfault", &m->pgmajfault},
        {"inactive_anon", &m->inactive_anon},
        {"active_anon", &m->active_anon},
        {"inactive_file", &m->inactive_file},
        {"active_file", &m->active_file},
        {"unevictable", &m->unevictable},
    };

    if (v1) {
        read_fields(ctl->dir, "memory.stat", v1_stat, TETHER_ARRAY_SIZE(v1_stat), 1);
        read_detail(ctl->dir, "memory.max_usage_in_bytes", false, &st->memory_max_usage_bytes);
        read_detail(ctl->dir, "memory.failcnt", false, &st->memory_failcnt);
        read_detail(ctl->dir, "memory.memsw.usage_in_bytes", false, &st->swap_usage_bytes);
        read_detail(ctl->dir, "memory.memsw.limit_in_bytes", true, &st->swap_limit_bytes);
    } else {
        read_fields(ctl->dir, "memory.stat", v2_stat, TETHER_ARRAY_SIZE(v2_stat), 1);
        read_detail(ctl->dir, "memory.peak", false, &st->memory_max_usage_bytes);
        read_detail(ctl->dir, "memory.swap.current", false, &st->swap_usage_bytes);
        read_detail(ctl->dir, "memory.swap.max", true, &st->swap_limit_bytes);
    }
}

/* ---- the groups ---- */

static int stats_cpu(const struct tether_cgroup_ctl *ctl, struct tether_stats *st,
                     struct tether_error *err)
{
    uint64_t usec;

    if (ctl->version == TETHER_CGROUP_V1)
        return read_value(ctl->dir, "cpuacct.usage", false, &st->cpu_usage_ns, err);
    if (read_keyed(ctl->dir, "cpu.stat", "usage_usec", &usec, err) < 0)
        return -1;
    st->cpu_usage_ns = usec > UINT64_MAX / 1000 ? UINT64_MAX : usec * 1000;
    return 0;
}

static int stats_memory(const struct tether_cgroup_ctl *ctl, struct tether_stats *st,
                        struct tether_error *err)
{
    bool v1 = ctl->version == TETHER_CGROUP_V1;

    if (read_value(ctl->dir, v1 ? "memory.usage_in_bytes" : "memory.current", false,
                   &st->memory_usage_bytes, err) < 0)
        return -1;
    return read_value(ctl->dir, v1 ? "memory.limit_in_bytes" : "memory.max", true,
                      &st->memory_limit_bytes, err);
}

static int stats_pids(const struct tether_cgroup_ctl *ctl, struct tether_stats *st,
                      struct tether_error *err)
{
    if (read_value(ctl->dir, "pids.current", false, &st->pids_current, err) < 0)
        return -1;
    return read_value(ctl->dir, "pids.max", true, &st->pids_limit, err);
}

/* Runs one group's reader: sets its bit on success, tolerates a missing file (the
 * controller is not enabled there, or the cgroup is gone), fails on anything else. */
static int stats_group(int (*fn)(const struct tether_cgroup_ctl *, struct tether_stats *,
                                 struct tether_error *),
                       const struct tether_cgroup_ctl *ctl, unsigned bit, struct tether_stats *st,
                       struct tether_error *err)
{
    struct tether_error e;

    if (ctl->version == TETHER_CGROUP_NONE)
        return 0;
    tether_error_clear(&e);
    if (fn(ctl, st, &e) == 0) {
        st->have |= bit;
        return 0;
    }
    if (e.kind == TETHER_ERR_NOT_FOUND && e.errnum == ENOENT)
        return 0;
    if (err != NULL)
        *err = e;
    return -1;
}

int tether_cgroup_stats(const struct tether_cgroup *cg, struct tether_stats *st,
                        struct tether_error *err)
{
    memset(st, 0, sizeof(*st));
    if (stats_group(stats_cpu, &cg->cpu, TETHER_STATS_CPU, st, err) < 0 ||
        stats_group(stats_memory, &cg->memory, TETHER_STATS_MEMORY, st, err) < 0 ||
        stats_group(stats_pids, &cg->pids, TETHER_STATS_PIDS, st, err) < 0)
        return -1;
    st->memory_v2 = cg->memory.version == TETHER_CGROUP_V2;
    if (st->have & TETHER_STATS_CPU)
        cpu_details(cg, st);
    if (st->have & TETHER_STATS_MEMORY)
        memory_details(&cg->memory, st);
    return 0;
}

/* ---- OOM -------------------------------------------------------------------------------- */

static int require_memory(const struct tether_cgroup *cg, struct tether_error *err)
{
    if (cg->memory.version == TETHER_CGROUP_NONE)
        return tether_error_setk(err, TETHER_ERR_NOT_FOUND, 0, "no memory cgroup");
    return 0;
}

/* cgroup-v1/memory.rst "Memory thresholds"/"OOM Control": write "<eventfd> <fd of
 * memory.oom_control>" to cgroup.event_control. The kernel keeps its own references, so
 * only the eventfd stays open; closing it unregisters the event. */
static int oom_watch_v1(struct tether_cgroup *cg, struct tether_error *err)
{
    char path[PATH_MAX];
    char line[32];
    cleanup_close int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    cleanup_close int ofd = -1;
    cleanup_close int cfd = -1;
    int n;

    if (efd < 0)
        return tether_error_set(err, errno, "eventfd");
    if (path_join(path, sizeof(path), cg->memory.dir, "memory.oom_control", err) < 0)
        return -1;
    ofd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (ofd < 0)
        return open_error(err, errno, path);
    if (path_join(path, sizeof(path), cg->memory.dir, "cgroup.event_control", err) < 0)
        return -1;
    cfd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    if (cfd < 0)
        return open_error(err, errno, path);
    n = snprintf(line, sizeof(line), "%d %d", efd, ofd);
    if (write(cfd, line, (size_t)n) != n)
        return tether_error_set(err, errno, "register OOM eventfd with %s", path);
    cg->oom_fd = steal_fd(efd);
    return cg->oom_fd;
}

/* cgroup-v2.rst: "A value change in this file generates a file modified event" for
 * memory.events; the kernel rate-limits those, but always sends one after the last change. */
static int oom_watch_v2(struct tether_cgroup *cg, struct tether_error *err)
{
    char path[PATH_MAX];
    cleanup_close int ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);

    if (ifd < 0)
        return tether_error_set(err, errno, "inotify_init1");
    if (path_join(path, sizeof(path), cg->memory.dir, "memory.events", err) < 0)
        return -1;
    if (inotify_add_watch(ifd, path, IN_MODIFY) < 0)
        return tether_error_setk(err, errno == ENOENT ? TETHER_ERR_NOT_FOUND : TETHER_ERR_INTERNAL,
                                 errno, "inotify_add_watch %s", path);
    /* Read the baseline after the watch exists: a later kill always wakes us. */
    if (read_keyed(cg->memory.dir, "memory.events", "oom_kill", &cg->oom_kills_seen, err) < 0)
        return -1;
    cg->oom_fd = steal_fd(ifd);
    return cg->oom_fd;
}

int tether_cgroup_oom_watch(struct tether_cgroup *cg, struct tether_error *err)
{
    int rc;

    if (cg->oom_fd >= 0)
        return cg->oom_fd;
    if (require_memory(cg, err) < 0)
        return -1;
    rc = cg->memory.version == TETHER_CGROUP_V1 ? oom_watch_v1(cg, err) : oom_watch_v2(cg, err);
    if (rc < 0)
        return tether_error_prefix(err, "watch OOM events");
    return rc;
}

static int oom_check_v1(struct tether_cgroup *cg, uint64_t *events, bool *ended,
                        struct tether_error *err)
{
    uint64_t count = 0;

    for (;;) {
        ssize_t n = read(cg->oom_fd, &count, sizeof(count));

        if (n == (ssize_t)sizeof(count))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            count = 0;
            break;
        }
        return tether_error_set(err, n < 0 ? errno : EIO, "read OOM eventfd");
    }
    /* The kernel also signals every registered eventfd once when the cgroup is removed
     * (memcg css offline); the cgroup's files are gone by then. */
    if (count > 0) {
        char path[PATH_MAX];

        if (path_join(path, sizeof(path), cg->memory.dir, "memory.oom_control", err) < 0)
            return -1;
        if (access(path, F_OK) < 0 && errno == ENOENT) {
            *ended = true;
            count--;
        }
    }
    *events = count;
    return 0;
}

static int oom_check_v2(struct tether_cgroup *cg, uint64_t *events, bool *ended,
                        struct tether_error *err)
{
    char buf[INOTIFY_BUF_SIZE] __attribute__((aligned(__alignof__(struct inotify_event))));
    struct tether_error e;
    uint64_t kills = 0;

    for (;;) {
        ssize_t n = read(cg->oom_fd, buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0)
            return tether_error_set(err, n < 0 ? errno : EIO, "read inotify fd");
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;

            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_UNMOUNT))
                *ended = true;
            p += sizeof(*ev) + ev->len;
        }
    }
    tether_error_clear(&e);
    if (read_keyed(cg->memory.dir, "memory.events", "oom_kill", &kills, &e) < 0) {
        if (e.kind == TETHER_ERR_NOT_FOUND && e.errnum == ENOENT) {
            *ended = true;
            *events = 0;
            return 0;
        }
        if (err != NULL)
            *err = e;
        return -1;
    }
    *events = kills > cg->oom_kills_seen ? kills - cg->oom_kills_seen : 0;
    cg->oom_kills_seen = kills;
    return 0;
}

int tether_cgroup_oom_check(struct tether_cgroup *cg, unsigned *new_ooms, bool *ended,
                            struct tether_error *err)
{
    uint64_t events = 0;
    int rc;

    *new_ooms = 0;
    *ended = false;
    if (cg->oom_fd < 0)
        return tether_error_setk(err, TETHER_ERR_STATE, 0, "OOM events are not watched");
    rc = cg->memory.version == TETHER_CGROUP_V1 ? oom_check_v1(cg, &events, ended, err)
                                                : oom_check_v2(cg, &events, ended, err);
    if (rc < 0)
        return tether_error_prefix(err, "check OOM events of %s", cg->memory.dir);
    cg->oom_events += events;
    *new_ooms = events > UINT_MAX ? UINT_MAX : (unsigned)events;
    return 0;
}

int tether_cgroup_oom_kills(const struct tether_cgroup *cg, uint64_t *kills,
                            struct tether_error *err)
{
    if (require_memory(cg, err) < 0)
        return -1;
    if (cg->memory.version == TETHER_CGROUP_V1)
        return read_keyed(cg->memory.dir, "memory.oom_control", "oom_kill", kills, err);
    return read_keyed(cg->memory.dir, "memory.events", "oom_kill", kills, err);
}

int tether_cgroup_oom_killed(const struct tether_cgroup *cg, bool *killed, struct tether_error *err)
{
    struct tether_error e;
    uint64_t kills = 0;

    tether_error_clear(&e);
    if (tether_cgroup_oom_kills(cg, &kills, &e) == 0) {
        *killed = kills > 0;
        return 0;
    }
    /* A v1 kernel older than 4.13 has no kill counter: notifications are all we know. */
    if (cg->memory.version == TETHER_CGROUP_V1 && e.kind == TETHER_ERR_NOT_FOUND && e.errnum == 0) {
        *killed = cg->oom_events > 0;
        return 0;
    }
    if (err != NULL)
        *err = e;
    return -1;
}
