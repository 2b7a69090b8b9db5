#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tether/util.h>

#include "mount.h"

struct flag_word {
    const char *name;
    bool clear; /* the word clears the flag instead of setting it */
    unsigned long flag;
};

static const struct flag_word flag_words[] = {
    {"async", true, MS_SYNCHRONOUS},
    {"atime", true, MS_NOATIME},
    {"bind", false, MS_BIND},
    {"defaults", false, 0},
    {"dev", true, MS_NODEV},
    {"diratime", true, MS_NODIRATIME},
    {"dirsync", false, MS_DIRSYNC},
    {"exec", true, MS_NOEXEC},
    {"mand", false, MS_MANDLOCK},
    {"noatime", false, MS_NOATIME},
    {"nodev", false, MS_NODEV},
    {"nodiratime", false, MS_NODIRATIME},
    {"noexec", false, MS_NOEXEC},
    {"nomand", true, MS_MANDLOCK},
    {"norelatime", true, MS_RELATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"nosuid", false, MS_NOSUID},
    {"rbind", false, MS_BIND | MS_REC},
    {"relatime", false, MS_RELATIME},
    {"remount", false, MS_REMOUNT},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"strictatime", false, MS_STRICTATIME},
    {"suid", true, MS_NOSUID},
    {"sync", false, MS_SYNCHRONOUS},
};

static const struct flag_word propagation_words[] = {
    {"private", false, MS_PRIVATE},       {"rprivate", false, MS_PRIVATE | MS_REC},
    {"shared", false, MS_SHARED},         {"rshared", false, MS_SHARED | MS_REC},
    {"slave", false, MS_SLAVE},           {"rslave", false, MS_SLAVE | MS_REC},
    {"unbindable", false, MS_UNBINDABLE}, {"runbindable", false, MS_UNBINDABLE | MS_REC},
};

static const struct flag_word *find_word(const struct flag_word *table, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, s) == 0)
            return &table[i];
    return NULL;
}

int tether_ctrd_mount_options(char *const *options, size_t n, struct tether_ctrd_mount_opts *out,
                              struct tether_error *err)
{
    size_t len = 0, i;

    memset(out, 0, sizeof(*out));
    for (i = 0; i < n; i++)
        len += strlen(options[i]) + 1;
    out->data = xzalloc(len + 1);
    for (i = 0; i < n; i++) {
        const char *o = options[i];
        const struct flag_word *w = find_word(flag_words, TETHER_ARRAY_SIZE(flag_words), o);

        if (w != NULL) {
            if (w->clear)
                out->flags &= ~w->flag;
            else
                out->flags |= w->flag;
        } else if ((w = find_word(propagation_words, TETHER_ARRAY_SIZE(propagation_words), o)) !=
                   NULL) {
            out->propagation = w->flag;
        } else if (strcmp(o, "loop") == 0) {
            tether_ctrd_mount_opts_fini(out);
            return tether_error_setk(err, TETHER_ERR_INVALID, 0, "loop mounts are not supported");
        } else if (o[0] != '\0') {
            if (out->data[0] != '\0')
                strcat(out->data, ",");
            strcat(out->data, o);
        }
    }
    return 0;
}

void tether_ctrd_mount_opts_fini(struct tether_ctrd_mount_opts *opts)
{
    free(opts->data);
    opts->data = NULL;
}

/* ---- overlays with long option strings ---- */

/* The directory lowerdirs (colon-separated) all sit under, with its trailing slash: the
 * longest common prefix, cut back to a slash. 0 when they share nothing but "/". */
static size_t common_dir(const char *lowerdirs)
{
    size_t common = strcspn(lowerdirs, ":");
    const char *p = lowerdirs;

    for (;;) {
        size_t len = strcspn(p, ":"), i = 0;
        while (i < common && i < len && p[i] == lowerdirs[i])
            i++;
        common = i;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    while (common > 0 && lowerdirs[common - 1] != '/')
        common--;
    return common > 1 ? common : 0;
}

/* Rewrites the lowerdir option of data relative to the lowerdirs' common directory (moved
 * last, as the kernel takes it); *dir gets that directory. false when it cannot help. */
static bool compact_overlay(const char *data, char **out, char **dir)
{
    const char *lower = strstr(data, "lowerdir=");
    size_t vlen, common;
    char *value, *rest, *p;

    if (lower == NULL || (lower != data && lower[-1] != ','))
        return false;
    lower += strlen("lowerdir=");
    vlen = strcspn(lower, ",");
    value = xmalloc(vlen + 1);
    memcpy(value, lower, vlen);
    value[vlen] = '\0';
    common = common_dir(value);
    if (common == 0) {
        free(value);
        return false;
    }
    *dir = xmalloc(common + 1);
    memcpy(*dir, value, common);
    (*dir)[common] = '\0';
    /* The data without the lowerdir option, then the relative one. */
    rest = xmalloc(strlen(data) + 1);
    memcpy(rest, data, (size_t)(lower - strlen("lowerdir=") - data));
    strcpy(rest + (lower - strlen("lowerdir=") - data), lower + vlen + (lower[vlen] == ','));
    *out = xasprintf("%s%slowerdir=", rest,
                     rest[0] != '\0' && rest[strlen(rest) - 1] != ',' ? "," : "");
    free(rest);
    for (p = value;;) {
        size_t len = strcspn(p, ":");
        char *joined =
            xasprintf("%s%.*s%s", *out, (int)(len - common), p + common, p[len] == ':' ? ":" : "");
        free(*out);
        *out = joined;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    free(value);
    return true;
}

/* mount(2) with the lowerdirs relative to dir: the shim is single-threaded, so changing
 * its working directory for the call is safe. */
static int mount_from(const char *dir, const char *source, const char *target, const char *type,
                      unsigned long flags, const char *data)
{
    cleanup_close int here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    int rc, saved;

    if (here < 0 || chdir(dir) < 0)
        return -1;
    rc = mount(source, target, type, flags, data);
    saved = errno;
    if (fchdir(here) < 0)
        return -1;
    errno = saved;
    return rc;
}

static int mount_one(const Containerd__Types__Mount *m, const char *target,
                     struct tether_error *err)
{
    struct tether_ctrd_mount_opts o;
    cleanup_free char *compact = NULL;
    cleanup_free char *dir = NULL;
    const char *type = m->type != NULL && m->type[0] != '\0' ? m->type : NULL;
    long page = sysconf(_SC_PAGESIZE);
    const char *data;
    int rc;

    if (tether_ctrd_mount_options(m->options, m->n_options, &o, err) < 0)
        return -1;
    data = o.data != NULL ? o.data : "";
    if (type != NULL && strcmp(type, "overlay") == 0 && (long)strlen(data) >= page - 512 &&
        compact_overlay(data, &compact, &dir) && (long)strlen(compact) < page) {
        rc = mount_from(dir, m->source, target, type, o.flags & ~MS_REMOUNT, compact);
    } else {
        rc = mount(m->source, target, type, o.flags, data[0] != '\0' ? data : NULL);
    }
    if (rc < 0) {
        rc = tether_error_set(err, errno, "mount %s (%s) on %s", m->source ? m->source : "",
                              type ? type : "", target);
        goto out;
    }
    /* A read-only bind mount takes a remount to become read-only. */
    if ((o.flags & MS_BIND) && (o.flags & MS_RDONLY) &&
        mount("", target, NULL, o.flags | MS_REMOUNT, NULL) < 0) {
        rc = tether_error_set(err, errno, "remount %s read-only", target);
        umount2(target, MNT_DETACH);
        goto out;
    }
    if (o.propagation != 0 && mount("", target, NULL, o.propagation, NULL) < 0) {
        rc = tether_error_set(err, errno, "set the propagation of %s", target);
        umount2(target, MNT_DETACH);
    }
out:
    tether_ctrd_mount_opts_fini(&o);
    return rc;
}

int tether_ctrd_rootfs_mount(const char *bundle, Containerd__Types__Mount *const *mounts, size_t n,
                             struct tether_error *err)
{
    cleanup_free char *target = xasprintf("%s/rootfs", bundle);
    struct tether_error ignored = {0};
    size_t i;

    if (n == 0)
        return 0;
    if (n > TETHER_CTRD_MOUNTS_MAX)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "more than %d rootfs mounts",
                                 TETHER_CTRD_MOUNTS_MAX);
    if (mkdir(target, 0711) < 0 && errno != EEXIST)
        return tether_error_set(err, errno, "mkdir %s", target);
    for (i = 0; i < n; i++) {
        if (mount_one(mounts[i], target, err) < 0) {
            tether_ctrd_rootfs_unmount(bundle, false, &ignored);
            return -1;
        }
    }
    return 0;
}

int tether_ctrd_rootfs_unmount(const char *bundle, bool wait_busy, struct tether_error *err)
{
    cleanup_free char *target = xasprintf("%s/rootfs", bundle);
    const struct timespec pause = {.tv_nsec = 10 * 1000 * 1000};
    int busy = 0;

    /* Stacked mounts come off one at a time, until the path is no mount point. */
    for (int layers = 0; layers < TETHER_CTRD_MOUNTS_MAX + 1;) {
        if (umount2(target, UMOUNT_NOFOLLOW) == 0) {
            layers++;
            continue;
        }
        if (errno == EINVAL || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return tether_error_set(err, errno, "unmount %s", target);
        if (wait_busy && ++busy < TETHER_CTRD_UMOUNT_BUSY_TRIES) {
            nanosleep(&pause, NULL);
            continue;
        }
        /* Still busy: let the kernel take it down once it is no longer used. */
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
            return tether_error_set(err, errno, "unmount %s", target);
        busy = 0;
        layers++;
    }
    return tether_error_set(err, 0, "%s: too many mounts", target);
}
