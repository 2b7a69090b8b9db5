/* The container's root filesystem: containerd sends the snapshot as a list of mounts
 * (overlay, bind, ...) that the shim stacks, in order, on <bundle>/rootfs, in its own
 * mount namespace, and takes down at delete. Options are split as mount(8) does: the
 * known flag words become mount(2) flags, propagation words a second mount(2), the rest
 * the data string. An overlay whose options do not fit in a page has its lowerdirs
 * rewritten relative to their common parent and is mounted from there. */
#ifndef TETHER_CONTAINERD_MOUNT_H
#define TETHER_CONTAINERD_MOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include <tether/error.h>

#include "github.com/containerd/containerd/api/types/mount.pb-c.h"

/* Most mounts a Create may carry. */
#define TETHER_CTRD_MOUNTS_MAX 128
/* Times an unmount is retried while the mount is busy before it is detached. */
#define TETHER_CTRD_UMOUNT_BUSY_TRIES 20

struct tether_ctrd_mount_opts {
    unsigned long flags;       /* for the mount itself */
    unsigned long propagation; /* MS_SHARED, MS_PRIVATE, ... (| MS_REC), or 0 */
    char *data;                /* the other options, comma-separated ("" when none) */
};

/* Splits options; kind INVALID for one that cannot be honoured (loop devices). */
int tether_ctrd_mount_options(char *const *options, size_t n, struct tether_ctrd_mount_opts *out,
                              struct tether_error *err);
void tether_ctrd_mount_opts_fini(struct tether_ctrd_mount_opts *opts);

/* Mounts mounts[0..n) on <bundle>/rootfs (made, mode 0711, when missing). With n == 0
 * nothing is mounted: the bundle's config names its root itself. On failure what was
 * mounted is taken down again. */
int tether_ctrd_rootfs_mount(const char *bundle, Containerd__Types__Mount *const *mounts, size_t n,
                             struct tether_error *err);
/* Unmounts everything stacked on <bundle>/rootfs (nothing there is fine). A busy mount is
 * detached (MNT_DETACH: the kernel takes it down once unused); with wait_busy, only after
 * TETHER_CTRD_UMOUNT_BUSY_TRIES tries 10 ms apart. The daemon never waits (its loop must not
 * block); the `delete` command, a process of its own, does. */
int tether_ctrd_rootfs_unmount(const char *bundle, bool wait_busy, struct tether_error *err);

#endif
