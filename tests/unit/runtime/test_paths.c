/* How programs find one another: the lexical join of an install-relative path, and the
 * order in which a helper is looked for (installed, then beside the program). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/paths.h>
#include <tether/util.h>

static void check_join(const char *dir, const char *rel, const char *want)
{
    cleanup_free char *got = tether_paths_join(dir, rel);

    if (strcmp(got, want) != 0)
        fail_msg("join(\"%s\", \"%s\") = \"%s\", want \"%s\"", dir, rel, got, want);
}

static void test_join(void **state)
{
    (void)state;
    check_join("/usr/bin", "../libexec/tether", "/usr/libexec/tether");
    check_join("/usr/bin/", "../libexec/tether", "/usr/libexec/tether");
    check_join("/opt/tether/bin", "../lib/x86_64-linux-gnu/tether",
               "/opt/tether/lib/x86_64-linux-gnu/tether");
    check_join("/usr/local/bin", "../../lib/tether", "/usr/lib/tether");
    check_join("/bin", "../libexec/tether", "/libexec/tether");
    check_join("/", "../libexec/tether", "/libexec/tether");
    check_join("/", "../..", "/");
    check_join("/usr/bin", "..", "/usr");
    check_join("/usr/bin", "./tether", "/usr/bin/tether");
    check_join("/usr/bin", ".", "/usr/bin");
    check_join("/usr/bin", "", "/usr/bin");
    check_join("/usr//bin", "../libexec", "/usr/libexec");
    check_join("/usr/bin", "/usr/lib/tether", "/usr/lib/tether");
    /* Only leading ".." are taken off: what follows is left to the kernel. */
    check_join("/usr/bin", "../a/../b", "/usr/a/../b");
}

static void make_program(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

    if (fd < 0)
        fail_msg("create %s: %s", path, strerror(errno));
    assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void check_helper(const char *bin, const char *want)
{
    cleanup_free char *got = tether_paths_helper(bin, "tether-init");

    if (strcmp(got, want) != 0)
        fail_msg("helper(\"%s\") = \"%s\", want \"%s\"", bin, got, want);
}

/* A prefix laid out as installed (PREFIX/bin and PREFIX/<libexec>/tether) against the
 * build tree's layout (everything in bin/). */
static void test_helper_order(void **state)
{
    char dir[] = "/tmp/tether-paths-XXXXXX";
    cleanup_free char *bin = NULL;
    cleanup_free char *libexec = NULL;
    cleanup_free char *installed = NULL;
    cleanup_free char *sibling = NULL;
    cleanup_free char *cmd = NULL;

    (void)state;
    assert_non_null(mkdtemp(dir));
    /* Deep enough that the relative path of any sensible layout stays inside dir. */
    bin = xasprintf("%s/a/b/c/prefix/bin", dir);
    libexec = tether_paths_join(bin, TETHER_LIBEXEC_FROM_BIN);
    installed = xasprintf("%s/tether-init", libexec);
    sibling = xasprintf("%s/tether-init", bin);
    assert_non_null(strstr(libexec, dir));
    assert_null(strstr(libexec, "/../"));
    cmd = xasprintf("mkdir -p '%s' '%s'", bin, libexec);
    assert_int_equal(system(cmd), 0);

    /* Nothing there: the installed path, so that the error names it. */
    check_helper(bin, installed);
    /* The build tree: only beside the program. */
    make_program(sibling, 0755);
    check_helper(bin, sibling);
    /* Installed wins over a copy beside the program. */
    make_program(installed, 0755);
    check_helper(bin, installed);
    /* What cannot be executed does not count. */
    assert_int_equal(chmod(installed, 0644), 0);
    check_helper(bin, sibling);
    assert_int_equal(chmod(sibling, 0644), 0);
    check_helper(bin, installed);

    free(cmd);
    cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* This test program's own directory, as the kernel resolves it. */
static void test_self_dir(void **state)
{
    cleanup_free char *self = tether_paths_self_dir();
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    (void)state;
    assert_non_null(self);
    assert_true(n > 0);
    exe[n] = '\0';
    assert_int_equal(self[0], '/');
    assert_int_equal(strncmp(exe, self, strlen(self)), 0);
    assert_string_equal(exe + strlen(self), "/test_paths");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_helper_order),
        cmocka_unit_test(test_self_dir),
    };

    return cmocka_run_group_tests_name("paths", tests, NULL, NULL);
}
