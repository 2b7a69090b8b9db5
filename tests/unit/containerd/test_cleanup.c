/* The `delete` command's work with a bundle alone: the exit the shim recorded (or 137 now
 * without one), the init's pid, and a runtime named in the bundle that is run with
 * `delete --force`. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "cleanup.h"

static char warnings[4096];

static void collect(const char *msg)
{
    strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
    strcat(warnings, "\n");
}

static void test_parse_time(void **state)
{
    struct timespec ts;

    (void)state;
    assert_int_equal(tether_ctrd_parse_time("2024-01-02T03:04:05.123456789Z", &ts), 0);
    assert_int_equal(ts.tv_sec, 1704164645);
    assert_int_equal(ts.tv_nsec, 123456789);
    assert_int_equal(tether_ctrd_parse_time("2024-01-02T03:04:05Z", &ts), 0);
    assert_int_equal(ts.tv_nsec, 0);
    assert_int_equal(tether_ctrd_parse_time("2024-01-02T03:04:05.5Z", &ts), 0);
    assert_int_equal(ts.tv_nsec, 500000000);
    assert_int_equal(tether_ctrd_parse_time("2024-01-02 03:04:05Z", &ts), -1);
    assert_int_equal(tether_ctrd_parse_time("2024-01-02T03:04:05+01:00", &ts), -1);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);
    struct tether_error err = {0};

    assert_int_equal(tether_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

static void remove_text(const char *dir, const char *name)
{
    cleanup_free char *path = xasprintf("%s/%s", dir, name);

    unlink(path);
}

static void test_cleanup_bundle(void **state)
{
    char dir[] = "/tmp/tether-cleanup-XXXXXX";
    struct tether_ctrd_cleanup res;
    struct timespec before;
    cleanup_free char *runtime = NULL;
    cleanup_free char *log = NULL;
    cleanup_free char *saved = NULL;
    cleanup_free char *root = NULL;
    cleanup_free char *task_dir = NULL;
    char *text = NULL;
    struct tether_error err = {0};

    (void)state;
    assert_non_null(mkdtemp(dir));
    /* A stand-in runtime that records how it was run. */
    runtime = xasprintf("%s/runtime.sh", dir);
    log = xasprintf("%s/runtime.args", dir);
    {
        cleanup_free char *script = xasprintf("#!/bin/sh\necho \"$*\" >> %s\n", log);
        write_text(dir, "runtime.sh", script);
        assert_int_equal(chmod(runtime, 0755), 0);
    }
    saved = xasprintf("{\"runtime\":\"%s\",\"root\":\"%s/root\"}", runtime, dir);
    write_text(dir, "tether.json", saved);
    /* The runtime has the container: a directory of it under its root. */
    root = xasprintf("%s/root", dir);
    task_dir = xasprintf("%s/root/task1", dir);
    assert_int_equal(mkdir(root, 0700), 0);
    assert_int_equal(mkdir(task_dir, 0700), 0);
    write_text(dir, "init.pid", "4242");
    write_text(dir, "exit.json", "{\"exit_status\":3,\"exited_at\":\"2024-01-02T03:04:05.5Z\"}\n");

    warnings[0] = '\0';
    tether_ctrd_cleanup_run(dir, "task1", "ns1", collect, &res);
    assert_true(res.recorded);
    assert_int_equal(res.pid, 4242);
    assert_int_equal(res.exit_status, 3);
    assert_int_equal(res.exited_at.tv_sec, 1704164645);
    assert_int_equal(tether_read_file(log, 4096, &text, NULL, &err), 0);
    assert_non_null(strstr(text, "--root"));
    assert_non_null(strstr(text, "delete --force task1"));
    free(text);
    assert_string_equal(warnings, "");

    /* No record: the container was killed just now. */
    remove_text(dir, "exit.json");
    remove_text(dir, "init.pid");
    clock_gettime(CLOCK_REALTIME, &before);
    tether_ctrd_cleanup_run(dir, "task1", "ns1", collect, &res);
    assert_false(res.recorded);
    assert_int_equal(res.pid, 0);
    assert_int_equal(res.exit_status, 137);
    assert_true(res.exited_at.tv_sec >= before.tv_sec);

    /* The runtime no longer has the container (the task was deleted through the shim): it
     * is not run at all, and nothing is reported. */
    assert_int_equal(rmdir(task_dir), 0);
    remove_text(dir, "runtime.args");
    warnings[0] = '\0';
    tether_ctrd_cleanup_run(dir, "task1", "ns1", collect, &res);
    assert_int_equal(access(log, F_OK), -1);
    assert_int_equal(errno, ENOENT);
    assert_string_equal(warnings, "");
    assert_int_equal(rmdir(root), 0);

    remove_text(dir, "tether.json");
    remove_text(dir, "runtime.sh");
    remove_text(dir, "runtime.args");
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_cleanup_bundle),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
