/* The shared helpers: ids, signal names, time formatting, error values and small files. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/error.h>
#include <tether/util.h>

static void test_id_valid(void **state)
{
    char id[200];

    (void)state;
    assert_false(tether_id_valid(NULL));
    assert_false(tether_id_valid(""));
    assert_true(tether_id_valid("a"));
    assert_true(tether_id_valid("0"));
    assert_true(tether_id_valid("web-1.prod_db"));
    assert_true(tether_id_valid("A.."));
    assert_false(tether_id_valid("-a"));
    assert_false(tether_id_valid(".a"));
    assert_false(tether_id_valid("_a"));
    assert_false(tether_id_valid(".."));
    assert_false(tether_id_valid("a b"));
    assert_false(tether_id_valid("a/b"));
    assert_false(tether_id_valid("a:b"));
    assert_false(tether_id_valid("a\nb"));
    assert_false(tether_id_valid("caf\xc3\xa9"));

    memset(id, 'x', sizeof(id));
    id[128] = '\0';
    assert_true(tether_id_valid(id)); /* 128 characters: the longest allowed */
    id[128] = 'x';
    id[129] = '\0';
    assert_false(tether_id_valid(id));
}

static void test_signal_parse(void **state)
{
    (void)state;
    assert_int_equal(tether_signal_parse("TERM"), SIGTERM);
    assert_int_equal(tether_signal_parse("SIGTERM"), SIGTERM);
    assert_int_equal(tether_signal_parse("sigkill"), SIGKILL);
    assert_int_equal(tether_signal_parse("Hup"), SIGHUP);
    assert_int_equal(tether_signal_parse("IOT"), SIGABRT);
    assert_int_equal(tether_signal_parse("15"), 15);
    assert_int_equal(tether_signal_parse("1"), 1);
    assert_int_equal(tether_signal_parse("WINCH"), SIGWINCH);

    assert_int_equal(tether_signal_parse("RTMIN"), SIGRTMIN);
    assert_int_equal(tether_signal_parse("RTMIN+3"), SIGRTMIN + 3);
    assert_int_equal(tether_signal_parse("SIGRTMIN+3"), SIGRTMIN + 3);
    assert_int_equal(tether_signal_parse("RTMAX"), SIGRTMAX);
    assert_int_equal(tether_signal_parse("RTMAX-2"), SIGRTMAX - 2);
    assert_int_equal(tether_signal_parse("RTMIN-1"), -1);
    assert_int_equal(tether_signal_parse("RTMAX+1"), -1);
    assert_int_equal(tether_signal_parse("RTMIN+100"), -1);
    assert_int_equal(tether_signal_parse("RTMIN+"), -1);
    assert_int_equal(tether_signal_parse("RTMINx"), -1);

    assert_int_equal(tether_signal_parse(NULL), -1);
    assert_int_equal(tether_signal_parse(""), -1);
    assert_int_equal(tether_signal_parse("SIG"), -1);
    assert_int_equal(tether_signal_parse("0"), -1);
    assert_int_equal(tether_signal_parse("-9"), -1);
    assert_int_equal(tether_signal_parse("+9"), -1);
    assert_int_equal(tether_signal_parse("9x"), -1);
    assert_int_equal(tether_signal_parse("99999999999999999999"), -1);
    assert_int_equal(tether_signal_parse("FOO"), -1);
    assert_int_equal(tether_signal_parse("TERMS"), -1);
    {
        char num[16];
        snprintf(num, sizeof(num), "%d", SIGRTMAX);
        assert_int_equal(tether_signal_parse(num), SIGRTMAX);
        snprintf(num, sizeof(num), "%d", SIGRTMAX + 1);
        assert_int_equal(tether_signal_parse(num), -1);
    }
}

static void test_signal_name(void **state)
{
    char buf[32];
    int sig;

    (void)state;
    assert_string_equal(tether_signal_name(SIGKILL, buf, sizeof(buf)), "SIGKILL");
    assert_string_equal(tether_signal_name(SIGTERM, buf, sizeof(buf)), "SIGTERM");
    assert_string_equal(tether_signal_name(SIGRTMIN, buf, sizeof(buf)), "SIGRTMIN");
    assert_string_equal(tether_signal_name(SIGRTMIN + 3, buf, sizeof(buf)), "SIGRTMIN+3");
    assert_string_equal(tether_signal_name(0, buf, sizeof(buf)), "SIG0");
    assert_string_equal(tether_signal_name(200, buf, sizeof(buf)), "SIG200");
    /* The result is buf itself, NUL-terminated even when cut short. */
    assert_ptr_equal(tether_signal_name(SIGKILL, buf, 5), buf);
    assert_string_equal(buf, "SIGK");

    /* Every name parses back to its number (the libc-reserved 32 and 33 have none). */
    for (sig = 1; sig <= SIGRTMAX; sig++) {
        if (sig > SIGSYS && sig < SIGRTMIN)
            continue;
        tether_signal_name(sig, buf, sizeof(buf));
        if (tether_signal_parse(buf) != sig)
            fail_msg("%s parsed as %d, not %d", buf, tether_signal_parse(buf), sig);
    }
}

static void test_format_time(void **state)
{
    char buf[40];
    struct timespec epoch = {0, 0};
    struct timespec ts = {1795356821, 492604010};
    struct timespec small = {1795356821, 7};
    struct timespec last = {253402300799, 999999999};

    (void)state;
    tether_format_time(&epoch, buf, sizeof(buf));
    assert_string_equal(buf, "1970-01-01T00:00:00.000000000Z");
    tether_format_time(&ts, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-22T14:13:41.492604010Z");
    tether_format_time(&small, buf, sizeof(buf));
    assert_string_equal(buf, "2026-11-22T14:13:41.000000007Z");
    tether_format_time(&last, buf, sizeof(buf));
    assert_string_equal(buf, "9999-12-31T23:59:59.999999999Z");
    assert_int_equal(strlen(buf), 30);
}

static void test_error_values(void **state)
{
    struct tether_error err;
    char big[2 * TETHER_ERROR_MSG_MAX];

    (void)state;
    tether_error_clear(&err);
    assert_int_equal(err.kind, TETHER_ERR_NONE);
    assert_string_equal(err.msg, "");

    assert_int_equal(tether_error_set(&err, ENOENT, "open %s", "/x"), -1);
    assert_int_equal(err.kind, TETHER_ERR_INTERNAL);
    assert_int_equal(err.errnum, ENOENT);
    assert_string_equal(err.msg, "open /x: No such file or directory");

    assert_int_equal(tether_error_set(&err, 0, "bad %d", 7), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_int_equal(err.errnum, 0);
    assert_string_equal(err.msg, "bad 7");

    assert_int_equal(tether_error_setk(&err, TETHER_ERR_STATE, 0, "not %s", "running"), -1);
    assert_int_equal(err.kind, TETHER_ERR_STATE);
    assert_string_equal(err.msg, "not running");

    /* A prefix keeps kind and errno and stacks. */
    tether_error_setk(&err, TETHER_ERR_NOT_FOUND, ENOENT, "open %s", "config.json");
    assert_int_equal(tether_error_prefix(&err, "load bundle %s", "/b"), -1);
    assert_int_equal(tether_error_prefix(&err, "create"), -1);
    assert_string_equal(err.msg,
                        "create: load bundle /b: open config.json: No such file or directory");
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_int_equal(err.errnum, ENOENT);

    /* NULL err is allowed everywhere. */
    assert_int_equal(tether_error_set(NULL, EIO, "x"), -1);
    assert_int_equal(tether_error_setk(NULL, TETHER_ERR_RUNTIME, 0, "x"), -1);
    assert_int_equal(tether_error_prefix(NULL, "x"), -1);
    tether_error_clear(NULL);

    /* Oversized messages and prefixes are cut, never overflow. */
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    tether_error_set(&err, EIO, "%s", big);
    assert_int_equal(strlen(err.msg), TETHER_ERROR_MSG_MAX - 1);
    tether_error_set(&err, 0, "tail");
    tether_error_prefix(&err, "%s", big);
    assert_int_equal(strlen(err.msg), TETHER_ERROR_MSG_MAX - 1);
    assert_int_equal(err.msg[0], 'm');
}

static void test_files(void **state)
{
    char dir[] = "/tmp/tether-test-util-XXXXXX";
    struct tether_error err = {0};
    cleanup_free char *path = NULL;
    cleanup_free char *missing = NULL;
    char *text = NULL;
    size_t len = 0;
    struct stat st;

    (void)state;
    assert_non_null(mkdtemp(dir));
    path = xasprintf("%s/status", dir);
    missing = xasprintf("%s/none", dir);

    assert_int_equal(tether_write_file_atomic(path, "137", 3, 0640, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_int_equal(tether_read_file(path, 64, &text, &len, &err), 0);
    assert_string_equal(text, "137");
    assert_int_equal(len, 3);
    free(text);

    /* Replacing leaves no temporary file behind. */
    assert_int_equal(tether_write_file_atomic(path, "0\n", 2, 0640, &err), 0);
    assert_int_equal(tether_read_file(path, 64, &text, NULL, &err), 0);
    assert_string_equal(text, "0\n");
    free(text);
    {
        cleanup_free char *tmp = xasprintf("%s.tmp", path);
        assert_int_equal(access(tmp, F_OK), -1);
    }

    assert_int_equal(tether_read_file(missing, 64, &text, NULL, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_int_equal(err.errnum, ENOENT);
    assert_non_null(strstr(err.msg, missing));

    {
        cleanup_free char *in_missing_dir = xasprintf("%s/no/such", dir);
        assert_int_equal(tether_write_file_atomic(in_missing_dir, "x", 1, 0600, &err), -1);
        assert_int_equal(err.errnum, ENOENT);
    }

    /* read_fd_all reads from the start whatever the offset. */
    {
        cleanup_close int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(tether_write_all(fd, "1\n", 2, &err), 0);
        assert_int_equal(tether_read_fd_all(fd, 64, &text, &len, &err), 0);
        assert_string_equal(text, "0\n1\n");
        assert_int_equal(len, 4);
        free(text);
        assert_int_equal(tether_set_nonblock(fd, &err), 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
    }

    unlink(path);
    rmdir(dir);
}

/* The bound of tether_read_file holds on both sides of the first buffer's size. */
static void test_read_bounds(void **state)
{
    static const size_t sizes[] = {0, 1, 63, 64, 65, 100, 4095, 4096, 4097, 10000};
    char dir[] = "/tmp/tether-util-XXXXXX";
    struct tether_error err = {0};
    size_t i, j, len;
    char *text;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (i = 0; i < TETHER_ARRAY_SIZE(sizes); i++) {
        char *path = xasprintf("%s/f%zu", dir, sizes[i]);
        char *data = xmalloc(sizes[i] + 1);
        memset(data, 'x', sizes[i]);
        assert_int_equal(tether_write_file_atomic(path, data, sizes[i], 0600, &err), 0);
        for (j = 0; j < TETHER_ARRAY_SIZE(sizes); j++) {
            int rc = tether_read_file(path, sizes[j], &text, &len, &err);
            if (sizes[i] <= sizes[j]) {
                assert_int_equal(rc, 0);
                assert_int_equal(len, sizes[i]);
                assert_int_equal(text[len], '\0');
                assert_memory_equal(text, data, len);
                free(text);
            } else {
                assert_int_equal(rc, -1);
                assert_int_equal(err.kind, TETHER_ERR_TOO_LARGE);
            }
        }
        unlink(path);
        free(path);
        free(data);
    }
    rmdir(dir);
}

static void test_base64(void **state)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    unsigned char bin[256], back[300];
    size_t i, n;

    (void)state;
    for (i = 0; i < TETHER_ARRAY_SIZE(plain); i++) {
        char *enc = tether_base64_encode(plain[i], strlen(plain[i]), &n);
        assert_string_equal(enc, coded[i]);
        assert_int_equal(n, strlen(coded[i]));
        assert_int_equal(tether_base64_decode(enc, n, back), (ssize_t)strlen(plain[i]));
        assert_memory_equal(back, plain[i], strlen(plain[i]));
        free(enc);
    }
    for (i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)i;
    {
        char *enc = tether_base64_encode(bin, sizeof(bin), &n);
        assert_int_equal(tether_base64_decode(enc, n, back), (ssize_t)sizeof(bin));
        assert_memory_equal(back, bin, sizeof(bin));
        free(enc);
    }
    assert_int_equal(tether_base64_decode("Zg=", 3, back), -1);
    assert_int_equal(tether_base64_decode("Z*==", 4, back), -1);
    assert_int_equal(tether_base64_decode("Zg=x", 4, back), -1);
    assert_int_equal(tether_base64_decode("=g==", 4, back), -1);
}

static void test_quote(void **state)
{
    char buf[32];

    (void)state;
    assert_string_equal(tether_quote("plain-id", buf, sizeof(buf)), "plain-id");
    assert_string_equal(tether_quote("a\nb", buf, sizeof(buf)), "a\\x0ab");
    assert_string_equal(tether_quote("\\", buf, sizeof(buf)), "\\x5c");
    /* truncated, never past the buffer */
    assert_true(strlen(tether_quote("0123456789012345678901234567890123456789", buf, 16)) < 16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_valid),     cmocka_unit_test(test_signal_parse),
        cmocka_unit_test(test_signal_name),  cmocka_unit_test(test_format_time),
        cmocka_unit_test(test_error_values), cmocka_unit_test(test_files),
        cmocka_unit_test(test_read_bounds),  cmocka_unit_test(test_base64),
        cmocka_unit_test(test_quote),
    };

    return cmocka_run_group_tests_name("util", tests, NULL, NULL);
}
