/* Mount options split as mount(8) does (flags, propagation, the rest as data), loop
 * devices refused, unmounting a root filesystem with nothing mounted, and a busy one
 * detached at once (as the daemon does) or after the retries (as `delete` does); plus the one map
 * of core error kinds to gRPC codes, with the exceptions containerd expects. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "mount.h"
#include "status.h"

static void test_options(void **state)
{
    char *overlay[] = {"index=off", "workdir=/s/3/work", "upperdir=/s/3/fs", "lowerdir=/s/1/fs"};
    char *bind_ro[] = {"rbind", "ro", "nosuid", "rslave"};
    char *mixed[] = {"ro", "rw", "noatime", "atime", "defaults", "nodev", "size=10m", ""};
    char *loop[] = {"loop", "ro"};
    struct tether_ctrd_mount_opts o;
    struct tether_error err = {0};

    (void)state;
    assert_int_equal(tether_ctrd_mount_options(overlay, 4, &o, &err), 0);
    assert_int_equal(o.flags, 0);
    assert_int_equal(o.propagation, 0);
    assert_string_equal(o.data, "index=off,workdir=/s/3/work,upperdir=/s/3/fs,lowerdir=/s/1/fs");
    tether_ctrd_mount_opts_fini(&o);

    assert_int_equal(tether_ctrd_mount_options(bind_ro, 4, &o, &err), 0);
    assert_int_equal(o.flags, MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID);
    assert_int_equal(o.propagation, MS_SLAVE | MS_REC);
    assert_string_equal(o.data, "");
    tether_ctrd_mount_opts_fini(&o);

    /* Later words win over earlier ones; empty words are skipped. */
    assert_int_equal(tether_ctrd_mount_options(mixed, 8, &o, &err), 0);
    assert_int_equal(o.flags, MS_NODEV);
    assert_string_equal(o.data, "size=10m");
    tether_ctrd_mount_opts_fini(&o);

    assert_int_equal(tether_ctrd_mount_options(loop, 2, &o, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
}

static void test_unmount_nothing(void **state)
{
    char dir[] = "/tmp/tether-mount-XXXXXX";
    struct tether_error err = {0};
    cleanup_free char *rootfs = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    /* No rootfs directory, then an empty one: nothing to take down either way. */
    assert_int_equal(tether_ctrd_rootfs_unmount(dir, true, &err), 0);
    rootfs = xasprintf("%s/rootfs", dir);
    assert_int_equal(mkdir(rootfs, 0711), 0);
    assert_int_equal(tether_ctrd_rootfs_unmount(dir, true, &err), 0);
    /* No mounts: nothing is made or mounted. */
    assert_int_equal(tether_ctrd_rootfs_mount(dir, NULL, 0, &err), 0);
    rmdir(rootfs);
    rmdir(dir);
}

static bool mounted(const char *path)
{
    char line[4096];
    FILE *f = fopen("/proc/self/mountinfo", "re");
    bool found = false;

    assert_non_null(f);
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char *mnt = strchr(line, ' ');
        for (int i = 0; mnt != NULL && i < 3; i++)
            mnt = strchr(mnt + 1, ' ');
        found = mnt != NULL && strncmp(mnt + 1, path, strlen(path)) == 0 &&
                mnt[1 + strlen(path)] == ' ';
    }
    fclose(f);
    return found;
}

/* A file open under the rootfs keeps its mount busy: it is detached all the same, at once
 * without waiting, after the retries with. Needs root (mount); as the whole suite. */
static void test_unmount_busy(void **state)
{
    (void)state;
    for (int wait = 0; wait <= 1; wait++) {
        char dir[] = "/tmp/tether-mount-XXXXXX";
        struct tether_error err = {0};
        cleanup_free char *rootfs = NULL;
        cleanup_free char *file = NULL;
        int fd;

        assert_non_null(mkdtemp(dir));
        rootfs = xasprintf("%s/rootfs", dir);
        file = xasprintf("%s/held", rootfs);
        assert_int_equal(mkdir(rootfs, 0711), 0);
        assert_int_equal(mount("tmpfs", rootfs, "tmpfs", 0, "size=1m"), 0);
        fd = open(file, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(umount2(rootfs, UMOUNT_NOFOLLOW), -1); /* busy indeed */
        assert_int_equal(tether_ctrd_rootfs_unmount(dir, wait == 1, &err), 0);
        assert_false(mounted(rootfs));
        close(fd);
        rmdir(rootfs);
        rmdir(dir);
    }
}

static void test_status_codes(void **state)
{
    struct tether_error e = {0};
    const struct {
        enum tether_error_kind kind;
        enum tether_ctrd_method method;
        enum tether_ttrpc_code code;
    } cases[] = {
        {TETHER_ERR_NOT_FOUND, TETHER_CTRD_METHOD_OTHER, TETHER_TTRPC_CODE_NOT_FOUND},
        {TETHER_ERR_EXISTS, TETHER_CTRD_METHOD_OTHER, TETHER_TTRPC_CODE_ALREADY_EXISTS},
        {TETHER_ERR_STATE, TETHER_CTRD_METHOD_OTHER, TETHER_TTRPC_CODE_FAILED_PRECONDITION},
        {TETHER_ERR_INVALID, TETHER_CTRD_METHOD_OTHER, TETHER_TTRPC_CODE_INVALID_ARGUMENT},
        {TETHER_ERR_TOO_LARGE, TETHER_CTRD_METHOD_OTHER, TETHER_TTRPC_CODE_RESOURCE_EXHAUSTED},
        {TETHER_ERR_TIMEOUT, TETHER_CTRD_METHOD_OTHER, TETHER_TTRPC_CODE_DEADLINE_EXCEEDED},
        {TETHER_ERR_RUNTIME, TETHER_CTRD_METHOD_OTHER, TETHER_TTRPC_CODE_UNKNOWN},
        {TETHER_ERR_INTERNAL, TETHER_CTRD_METHOD_OTHER, TETHER_TTRPC_CODE_UNKNOWN},
        /* containerd's own shim: "cannot delete a running process" is Unknown. */
        {TETHER_ERR_STATE, TETHER_CTRD_METHOD_DELETE, TETHER_TTRPC_CODE_UNKNOWN},
        {TETHER_ERR_NOT_FOUND, TETHER_CTRD_METHOD_DELETE, TETHER_TTRPC_CODE_NOT_FOUND},
        /* A process that exited: "process already finished", NotFound. */
        {TETHER_ERR_STATE, TETHER_CTRD_METHOD_KILL, TETHER_TTRPC_CODE_NOT_FOUND},
        {TETHER_ERR_RUNTIME, TETHER_CTRD_METHOD_KILL, TETHER_TTRPC_CODE_UNKNOWN},
    };

    (void)state;
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(cases); i++) {
        e.kind = cases[i].kind;
        assert_int_equal(tether_ctrd_status_code(cases[i].method, &e), cases[i].code);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_unmount_nothing),
        cmocka_unit_test(test_unmount_busy),
        cmocka_unit_test(test_status_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
