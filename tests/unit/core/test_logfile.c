#include <dirent.h>
#include <errno.h>
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
#include <jansson.h>

#include <tether/util.h>

#include "logfile.h"

#define FILE_MAX (64 * 1024 * 1024)

static const struct timespec ts1 = {.tv_sec = 1795356821, .tv_nsec = 492604010};

struct fixture {
    char dir[64];
    char *path;
    struct tether_logfmt ref;     /* the same chunks encoded in memory */
    struct tether_logfmt_buf all; /* everything that should have reached the files */
};

static int setup(void **state)
{
    struct fixture *f = xzalloc(sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/tether-logfile-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    f->path = xasprintf("%s/ctr.log", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    DIR *d = opendir(f->dir);
    struct dirent *de;

    while (d != NULL && (de = readdir(d)) != NULL) {
        cleanup_free char *p = NULL;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        p = xasprintf("%s/%s", f->dir, de->d_name);
        unlink(p);
    }
    if (d != NULL)
        closedir(d);
    rmdir(f->dir);
    tether_logfmt_buf_free(&f->all);
    free(f->path);
    free(f);
    return 0;
}

static struct tether_logfile *open_log(struct fixture *f, enum tether_logfmt_format format,
                                       uint64_t max_size, unsigned max_files)
{
    struct tether_error err = {0};
    struct tether_logfile *lf = tether_logfile_open(f->path, format, max_size, max_files, &err);

    if (lf == NULL)
        fail_msg("open: %s", err.msg);
    tether_logfmt_init(&f->ref, format);
    return lf;
}

static void log_write(struct fixture *f, struct tether_logfile *lf,
                      enum tether_logfmt_stream stream, const void *data, size_t len)
{
    struct tether_error err = {0};

    if (tether_logfile_write(lf, stream, &ts1, data, len, &err) < 0)
        fail_msg("write: %s", err.msg);
    tether_logfmt_encode(&f->ref, stream, &ts1, data, len, &f->all);
}

static void log_puts(struct fixture *f, struct tether_logfile *lf, enum tether_logfmt_stream stream,
                     const char *s)
{
    log_write(f, lf, stream, s, strlen(s));
}

static void log_flush(struct fixture *f, struct tether_logfile *lf)
{
    struct tether_error err = {0};

    if (tether_logfile_flush_and_sync(lf, &ts1, &err) < 0)
        fail_msg("flush: %s", err.msg);
    tether_logfmt_close_line(&f->ref, TETHER_LOGFMT_STDOUT, &ts1, &f->all);
    tether_logfmt_close_line(&f->ref, TETHER_LOGFMT_STDERR, &ts1, &f->all);
}

/* Contents of path ("" when index is 0, else path.<index>); NULL when it does not exist. */
static char *read_log(struct fixture *f, unsigned index, size_t *len)
{
    cleanup_free char *p = index == 0 ? xstrdup(f->path) : xasprintf("%s.%u", f->path, index);
    struct tether_error err = {0};
    char *data = NULL;

    if (tether_read_file(p, FILE_MAX, &data, len, &err) < 0) {
        if (err.kind != TETHER_ERR_NOT_FOUND)
            fail_msg("read %s: %s", p, err.msg);
        return NULL;
    }
    return data;
}

static size_t count_dir_entries(struct fixture *f)
{
    DIR *d = opendir(f->dir);
    struct dirent *de;
    size_t n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* Each file must be whole records (ends with '\n', every line a record of the format, at
 * most max_size unless it is one record), and a file was rotated away only when the next
 * record did not fit in it; returns the concatenation, oldest first. */
static char *collect_files(struct fixture *f, enum tether_logfmt_format format, uint64_t max_size,
                           unsigned nfiles, size_t *total)
{
    struct tether_logfmt_buf cat = {0};
    size_t prev_len = 0;
    unsigned i;

    for (i = nfiles; i-- > 0;) {
        size_t len;
        cleanup_free char *data = read_log(f, i, &len);
        const char *p, *end;
        size_t records = 0;

        if (data == NULL)
            fail_msg("log file %u missing", i);
        if (format != TETHER_LOGFMT_RAW && len > 0)
            assert_int_equal(data[len - 1], '\n');
        for (p = data, end = data + len; format != TETHER_LOGFMT_RAW && p < end; records++) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));

            assert_non_null(nl);
            if (format == TETHER_LOGFMT_JSONL) {
                json_t *obj = json_loadb(p, (size_t)(nl - p), 0, NULL);
                assert_non_null(obj);
                json_decref(obj);
            } else {
                assert_true(nl - p >= 40);
                assert_true(memcmp(p + 30, " stdout ", 8) == 0 ||
                            memcmp(p + 30, " stderr ", 8) == 0);
                assert_true(p[38] == 'P' || p[38] == 'F');
            }
            p = nl + 1;
        }
        if (max_size > 0 && len > max_size)
            assert_int_equal(records, 1);
        if (max_size > 0 && i + 1 < nfiles) {
            /* prev_len is the file rotated just before this one was started. */
            if (format == TETHER_LOGFMT_RAW)
                assert_int_equal(prev_len, max_size);
            else
                assert_true(prev_len + (size_t)((char *)memchr(data, '\n', len) - data) + 1 >
                            max_size);
        }
        prev_len = len;
        memcpy(tether_logfmt_buf_reserve(&cat, len), data, len);
        cat.len += len;
    }
    *total = cat.len;
    return cat.data;
}

/* Random lines of 0..200 bytes on both streams in chunks of random size. */
static void write_random(struct fixture *f, struct tether_logfile *lf, uint32_t seed, size_t chunks)
{
    char buf[700];
    size_t i, k;

    for (i = 0; i < chunks; i++) {
        size_t n;

        seed = seed * 1103515245u + 12345u;
        n = (seed >> 8) % sizeof(buf);
        for (k = 0; k < n; k++) {
            seed = seed * 1103515245u + 12345u;
            buf[k] = (seed >> 16) % 60 == 0 ? '\n' : (char)('a' + (seed >> 16) % 26);
        }
        log_write(f, lf, (seed >> 4) % 3 == 0 ? TETHER_LOGFMT_STDERR : TETHER_LOGFMT_STDOUT, buf,
                  n);
    }
}

static void test_write_and_flush(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 0, 0);
    cleanup_free char *data = NULL;
    size_t len;
    struct stat st;

    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "hello\nwor");
    log_puts(f, lf, TETHER_LOGFMT_STDERR, "oops\n");
    log_puts(f, lf, TETHER_LOGFMT_STDERR, "no end");
    log_flush(f, lf);
    log_flush(f, lf); /* nothing pending any more */
    {
        /* Without the sync it ends lines the same (here: none pending). */
        struct tether_error err = {0};
        assert_int_equal(tether_logfile_flush(lf, &ts1, &err), 0);
    }
    data = read_log(f, 0, &len);
    assert_non_null(data);
    assert_string_equal(data, "2026-11-22T14:13:41.492604010Z stdout F hello\n"
                              "2026-11-22T14:13:41.492604010Z stdout P wor\n"
                              "2026-11-22T14:13:41.492604010Z stderr F oops\n"
                              "2026-11-22T14:13:41.492604010Z stderr P no end\n"
                              "2026-11-22T14:13:41.492604010Z stdout F \n"
                              "2026-11-22T14:13:41.492604010Z stderr F \n");
    assert_int_equal(len, f->all.len);
    assert_int_equal(tether_logfile_size(lf), len);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(count_dir_entries(f), 1);
}

static void test_appends_to_existing(void **state)
{
    struct fixture *f = *state;
    struct tether_error err = {0};
    cleanup_logfile struct tether_logfile *lf = NULL;
    cleanup_free char *data = NULL;
    size_t len;

    assert_int_equal(tether_write_file_atomic(f->path, "old\n", 4, 0600, &err), 0);
    lf = open_log(f, TETHER_LOGFMT_RAW, 0, 0);
    assert_int_equal(tether_logfile_size(lf), 4);
    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "new\n");
    data = read_log(f, 0, &len);
    assert_string_equal(data, "old\nnew\n");
    assert_int_equal(tether_logfile_size(lf), 8);
}

static void test_open_refuses_symlink_and_fifo(void **state)
{
    struct fixture *f = *state;
    struct tether_error err = {0};
    cleanup_free char *target = xasprintf("%s/target", f->dir);
    cleanup_free char *fifo = xasprintf("%s/fifo", f->dir);
    struct stat st;

    assert_int_equal(symlink(target, f->path), 0);
    assert_null(tether_logfile_open(f->path, TETHER_LOGFMT_CRI, 0, 0, &err));
    assert_int_equal(err.errnum, ELOOP);
    assert_int_equal(lstat(target, &st), -1); /* nothing created through the link */

    assert_int_equal(mkfifo(fifo, 0600), 0);
    tether_error_clear(&err);
    assert_null(tether_logfile_open(fifo, TETHER_LOGFMT_CRI, 0, 0, &err));
    assert_int_not_equal(err.kind, TETHER_ERR_NONE);
}

static void test_open_checks_max_files(void **state)
{
    struct fixture *f = *state;
    struct tether_error err = {0};
    struct tether_logfile *lf;

    assert_null(tether_logfile_open(f->path, TETHER_LOGFMT_CRI, 100, 0, &err));
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    tether_error_clear(&err);
    assert_null(
        tether_logfile_open(f->path, TETHER_LOGFMT_CRI, 100, TETHER_LOGFILE_MAX_FILES + 1, &err));
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    lf = tether_logfile_open(f->path, TETHER_LOGFMT_CRI, 100, TETHER_LOGFILE_MAX_FILES, &err);
    assert_non_null(lf);
    tether_logfile_close(lf);
}

/* Enough files for everything: nothing may be lost or split by rotation. */
static void test_rotation_loses_nothing(void **state)
{
    struct fixture *f = *state;
    const unsigned nfiles = 200;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 2000, nfiles);
    cleanup_free char *cat = NULL;
    size_t total, used;

    write_random(f, lf, 1, 300);
    log_flush(f, lf);
    assert_true(f->all.len > 30 * 2000);
    used = count_dir_entries(f);
    assert_true(used > 30 && used < nfiles);
    cat = collect_files(f, TETHER_LOGFMT_CRI, 2000, (unsigned)used, &total);
    assert_int_equal(total, f->all.len);
    assert_memory_equal(cat, f->all.data, total);
}

/* With a few files the oldest output goes; what is kept is the newest, in order, whole. */
static void check_kept_suffix(struct fixture *f, enum tether_logfmt_format format,
                              uint64_t max_size, unsigned nfiles)
{
    cleanup_free char *cat = NULL;
    size_t total;
    const char *suffix;

    assert_int_equal(count_dir_entries(f), nfiles);
    cat = collect_files(f, format, max_size, nfiles, &total);
    assert_true(total > 0);
    assert_true(total < f->all.len);
    suffix = f->all.data + f->all.len - total;
    assert_memory_equal(cat, suffix, total);
    if (format != TETHER_LOGFMT_RAW)
        assert_int_equal(suffix[-1], '\n');
}

static void test_rotation_keeps_max_files(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 1500, 3);

    write_random(f, lf, 2, 400);
    log_flush(f, lf);
    check_kept_suffix(f, TETHER_LOGFMT_CRI, 1500, 3);
}

static void test_rotation_one_file(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 1500, 1);

    write_random(f, lf, 3, 200);
    log_flush(f, lf);
    check_kept_suffix(f, TETHER_LOGFMT_CRI, 1500, 1);
}

static void test_rotation_jsonl(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_JSONL, 1000, 4);

    write_random(f, lf, 4, 300);
    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "\"quoted\" \xff\n");
    check_kept_suffix(f, TETHER_LOGFMT_JSONL, 1000, 4);
}

/* raw has no records: files are cut at exactly max_size. */
static void test_rotation_raw(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_RAW, 100, 500);
    cleanup_free char *cat = NULL;
    size_t total, used, i;

    write_random(f, lf, 5, 100);
    used = count_dir_entries(f);
    assert_int_equal(used, (f->all.len + 99) / 100);
    for (i = 1; i < used; i++) {
        size_t len;
        cleanup_free char *data = read_log(f, (unsigned)i, &len);

        assert_non_null(data);
        assert_int_equal(len, 100);
    }
    cat = collect_files(f, TETHER_LOGFMT_RAW, 100, (unsigned)used, &total);
    assert_int_equal(total, f->all.len);
    assert_memory_equal(cat, f->all.data, total);
}

static void test_record_longer_than_max_size(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 100, 10);
    char line[301];
    cleanup_free char *live = NULL, *big = NULL, *first = NULL;
    size_t len;

    memset(line, 'x', 300);
    line[300] = '\n';
    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "short\n");
    log_write(f, lf, TETHER_LOGFMT_STDOUT, line, sizeof(line));
    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "after\n");
    assert_int_equal(count_dir_entries(f), 3);
    first = read_log(f, 2, &len);
    assert_non_null(strstr(first, "stdout F short\n"));
    big = read_log(f, 1, &len);
    assert_non_null(big);
    assert_int_equal(len, 30 + 10 + 300 + 1);
    assert_memory_equal(big + 40, line, sizeof(line));
    live = read_log(f, 0, &len);
    assert_non_null(strstr(live, "stdout F after\n"));
}

/* A P record before a rotation and its F record after it. */
static void test_partial_line_across_rotation(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 60, 5);
    cleanup_free char *old = NULL, *live = NULL;
    size_t len;

    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "begin-");
    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "end\n");
    old = read_log(f, 1, &len);
    assert_non_null(old);
    assert_string_equal(old, "2026-11-22T14:13:41.492604010Z stdout P begin-\n");
    live = read_log(f, 0, &len);
    assert_string_equal(live, "2026-11-22T14:13:41.492604010Z stdout F end\n");
}

static void test_no_limit(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 0, 0);
    cleanup_free char *data = NULL;
    size_t len;

    write_random(f, lf, 6, 1000);
    assert_int_equal(count_dir_entries(f), 1);
    data = read_log(f, 0, &len);
    assert_int_equal(len, f->all.len);
    assert_memory_equal(data, f->all.data, len);
}

static void test_existing_file_over_limit(void **state)
{
    struct fixture *f = *state;
    struct tether_error err = {0};
    cleanup_logfile struct tether_logfile *lf = NULL;
    cleanup_free char *old = NULL, *live = NULL;
    char big[500];
    size_t len;

    memset(big, '\n', sizeof(big));
    assert_int_equal(tether_write_file_atomic(f->path, big, sizeof(big), 0600, &err), 0);
    lf = open_log(f, TETHER_LOGFMT_CRI, 400, 2);
    log_puts(f, lf, TETHER_LOGFMT_STDERR, "fresh\n");
    old = read_log(f, 1, &len);
    assert_non_null(old);
    assert_int_equal(len, sizeof(big));
    live = read_log(f, 0, &len);
    assert_string_equal(live, "2026-11-22T14:13:41.492604010Z stderr F fresh\n");
}

/* An external tool renames the log; writes follow the old file until reopen. */
static void test_reopen_after_external_rename(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 0, 0);
    cleanup_free char *moved = xasprintf("%s/moved.log", f->dir);
    cleanup_free char *old = NULL, *live = NULL;
    struct tether_error err = {0};
    size_t len;

    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "one\npar");
    assert_int_equal(rename(f->path, moved), 0);
    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "tial\n");
    assert_int_equal(tether_logfile_reopen(lf, &err), 0);
    assert_int_equal(tether_logfile_size(lf), 0);
    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "three\nfour");
    log_flush(f, lf);
    assert_int_equal(tether_read_file(moved, FILE_MAX, &old, &len, &err), 0);
    assert_string_equal(old, "2026-11-22T14:13:41.492604010Z stdout F one\n"
                             "2026-11-22T14:13:41.492604010Z stdout P par\n"
                             "2026-11-22T14:13:41.492604010Z stdout F tial\n");
    live = read_log(f, 0, &len);
    assert_string_equal(live, "2026-11-22T14:13:41.492604010Z stdout F three\n"
                              "2026-11-22T14:13:41.492604010Z stdout P four\n"
                              "2026-11-22T14:13:41.492604010Z stdout F \n");
    assert_int_equal(tether_logfile_size(lf), len);
}

/* The partial line stays open across a reopen: its F record lands in the new file. */
static void test_reopen_keeps_line_state(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_CRI, 0, 0);
    cleanup_free char *moved = xasprintf("%s/moved.log", f->dir);
    cleanup_free char *live = NULL;
    struct tether_error err = {0};
    size_t len;

    log_puts(f, lf, TETHER_LOGFMT_STDERR, "par");
    assert_int_equal(rename(f->path, moved), 0);
    assert_int_equal(tether_logfile_reopen(lf, &err), 0);
    log_puts(f, lf, TETHER_LOGFMT_STDERR, "tial\n");
    live = read_log(f, 0, &len);
    assert_string_equal(live, "2026-11-22T14:13:41.492604010Z stderr F tial\n");
}

static void test_reopen_failure_keeps_old_file(void **state)
{
    struct fixture *f = *state;
    cleanup_logfile struct tether_logfile *lf = open_log(f, TETHER_LOGFMT_RAW, 0, 0);
    cleanup_free char *moved = xasprintf("%s/moved.log", f->dir);
    cleanup_free char *old = NULL;
    struct tether_error err = {0};
    size_t len;

    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "a");
    assert_int_equal(rename(f->path, moved), 0);
    assert_int_equal(mkdir(f->path, 0700), 0); /* cannot be opened for writing */
    assert_int_equal(tether_logfile_reopen(lf, &err), -1);
    assert_int_equal(err.errnum, EISDIR);
    log_puts(f, lf, TETHER_LOGFMT_STDOUT, "b");
    assert_int_equal(tether_read_file(moved, FILE_MAX, &old, &len, &err), 0);
    assert_string_equal(old, "ab");
    assert_int_equal(rmdir(f->path), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_and_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends_to_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_refuses_symlink_and_fifo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_checks_max_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_loses_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_keeps_max_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_one_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_jsonl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotation_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_longer_than_max_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_line_across_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_file_over_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_external_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_line_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_failure_keeps_old_file, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
