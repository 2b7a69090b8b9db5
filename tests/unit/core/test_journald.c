/* The journal writer: entries as podman reads them back, built from a fake sd_journal_sendv
 * (the real one is covered by the podman tests against a real journald). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tether/util.h>

#include "journald.h"
#include "logfmt.h"

#define ENTRIES_MAX 64
#define FIELDS_MAX  24

/* What the fake sender saw: each entry's fields as strings. There is one sender for the
 * whole test program, so this is the one place state lives. */
static struct {
    char *fields[ENTRIES_MAX][FIELDS_MAX];
    int n_fields[ENTRIES_MAX];
    int n;
    int fail_with; /* negative errno returned by the next sends, 0 = succeed */
} seen;

static int fake_send(const struct iovec *iov, int n)
{
    int e = seen.n;

    if (seen.fail_with != 0)
        return seen.fail_with;
    assert_true(e < ENTRIES_MAX);
    assert_true(n <= FIELDS_MAX);
    for (int i = 0; i < n; i++) {
        char *f = xmalloc(iov[i].iov_len + 1);
        memcpy(f, iov[i].iov_base, iov[i].iov_len);
        f[iov[i].iov_len] = '\0';
        seen.fields[e][i] = f;
    }
    seen.n_fields[e] = n;
    seen.n++;
    return 0;
}

static void seen_reset(void)
{
    for (int e = 0; e < seen.n; e++)
        for (int i = 0; i < seen.n_fields[e]; i++)
            free(seen.fields[e][i]);
    memset(&seen, 0, sizeof(seen));
}

/* The value of NAME in entry e, or NULL. */
static const char *field(int e, const char *name)
{
    size_t n = strlen(name);

    for (int i = 0; i < seen.n_fields[e]; i++)
        if (strncmp(seen.fields[e][i], name, n) == 0 && seen.fields[e][i][n] == '=')
            return seen.fields[e][i] + n + 1;
    return NULL;
}

static char *const container_fields[] = {"CONTAINER_ID_FULL=0123456789abcdef",
                                         "CONTAINER_ID=0123456789ab", "CONTAINER_NAME=web",
                                         "SYSLOG_IDENTIFIER=web", NULL};

static int teardown(void **state)
{
    (void)state;
    seen_reset();
    return 0;
}

/* One entry per line with its newline, the container's fields on each, stdout at 6 and
 * stderr at 3; the end of a read that does not end a line is a partial entry. */
static void test_lines(void **state)
{
    struct tether_error err = {0};
    struct tether_journald *j = tether_journald_open_with(container_fields, fake_send, &err);
    static const char out[] = "one\ntwo\nthr";

    (void)state;
    assert_non_null(j);
    assert_int_equal(tether_journald_write(j, TETHER_LOGFMT_STDOUT, out, strlen(out), &err), 0);
    assert_int_equal(tether_journald_write(j, TETHER_LOGFMT_STDERR, "ee\n", 3, &err), 0);
    assert_int_equal(seen.n, 4);
    assert_string_equal(field(0, "MESSAGE"), "one\n");
    assert_string_equal(field(1, "MESSAGE"), "two\n");
    assert_string_equal(field(2, "MESSAGE"), "thr");
    assert_string_equal(field(3, "MESSAGE"), "ee\n");
    assert_null(field(0, "CONTAINER_PARTIAL_MESSAGE"));
    assert_null(field(1, "CONTAINER_PARTIAL_MESSAGE"));
    assert_string_equal(field(2, "CONTAINER_PARTIAL_MESSAGE"), "true");
    assert_null(field(3, "CONTAINER_PARTIAL_MESSAGE"));
    for (int e = 0; e < 3; e++)
        assert_string_equal(field(e, "PRIORITY"), "6");
    assert_string_equal(field(3, "PRIORITY"), "3");
    for (int e = 0; e < 4; e++) {
        assert_string_equal(field(e, "CONTAINER_ID_FULL"), "0123456789abcdef");
        assert_string_equal(field(e, "CONTAINER_ID"), "0123456789ab");
        assert_string_equal(field(e, "CONTAINER_NAME"), "web");
        assert_string_equal(field(e, "SYSLOG_IDENTIFIER"), "web");
    }
    tether_journald_close(j);
}

/* A line longer than TETHER_LOGFMT_LINE_MAX is cut into partial entries; the piece that
 * ends it is a full one. Binary content (NUL bytes) is kept. */
static void test_long_line(void **state)
{
    struct tether_error err = {0};
    struct tether_journald *j = tether_journald_open_with(NULL, fake_send, &err);
    size_t len = 2 * TETHER_LOGFMT_LINE_MAX + 11;
    char *data = xmalloc(len);

    (void)state;
    memset(data, 'a', len);
    data[5] = '\0';
    data[len - 1] = '\n';
    assert_int_equal(tether_journald_write(j, TETHER_LOGFMT_STDOUT, data, len, &err), 0);
    assert_int_equal(seen.n, 3);
    assert_string_equal(field(0, "CONTAINER_PARTIAL_MESSAGE"), "true");
    assert_string_equal(field(1, "CONTAINER_PARTIAL_MESSAGE"), "true");
    assert_null(field(2, "CONTAINER_PARTIAL_MESSAGE"));
    /* MESSAGE=, then the content: NUL included, so compare by length. */
    assert_int_equal(seen.n_fields[0], 3);
    assert_memory_equal(seen.fields[0][0], "MESSAGE=aaaaa\0aa", 16);
    assert_string_equal(field(2, "MESSAGE"), "aaaaaaaaaa\n");
    free(data);
    tether_journald_close(j);
}

/* A failing journal is reported once, then quietly until a send works again. */
static void test_failure_reported_once(void **state)
{
    struct tether_error err = {0};
    struct tether_journald *j = tether_journald_open_with(container_fields, fake_send, &err);

    (void)state;
    seen.fail_with = -ECONNREFUSED;
    assert_int_equal(tether_journald_write(j, TETHER_LOGFMT_STDOUT, "x\n", 2, &err), -1);
    assert_int_equal(err.errnum, ECONNREFUSED);
    assert_int_equal(tether_journald_write(j, TETHER_LOGFMT_STDOUT, "y\n", 2, &err), 0);
    seen.fail_with = 0;
    assert_int_equal(tether_journald_write(j, TETHER_LOGFMT_STDOUT, "z\n", 2, &err), 0);
    seen.fail_with = -ECONNREFUSED;
    assert_int_equal(tether_journald_write(j, TETHER_LOGFMT_STDOUT, "w\n", 2, &err), -1);
    seen.fail_with = 0;
    assert_int_equal(seen.n, 1);
    assert_string_equal(field(0, "MESSAGE"), "z\n");
    tether_journald_close(j);
}

/* Fields the front end may give: NAME=value with the journal's name syntax, not the ones
 * the writer sets, at most TETHER_JOURNALD_FIELDS_MAX. */
static void test_fields_checked(void **state)
{
    static const char *const bad[] = {
        "lower=x",     "_TRUSTED=x", "1ST=x",      "NOEQUALS",
        "=x",          "MESSAGE=x",  "PRIORITY=1", "CONTAINER_PARTIAL_MESSAGE=x",
        "WITH SPACE=x"};
    struct tether_error err = {0};
    char *fields[TETHER_JOURNALD_FIELDS_MAX + 2];

    (void)state;
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(bad); i++) {
        char *one[] = {(char *)bad[i], NULL};
        assert_false(tether_journald_field_valid(bad[i]));
        assert_null(tether_journald_open_with(one, fake_send, &err));
        assert_int_equal(err.kind, TETHER_ERR_INVALID);
    }
    assert_true(tether_journald_field_valid("CONTAINER_TAG=a b=c"));
    assert_true(tether_journald_field_valid("X="));
    for (size_t i = 0; i < TETHER_JOURNALD_FIELDS_MAX + 1; i++)
        fields[i] = "A=1";
    fields[TETHER_JOURNALD_FIELDS_MAX + 1] = NULL;
    assert_null(tether_journald_open_with(fields, fake_send, &err));
    fields[TETHER_JOURNALD_FIELDS_MAX] = NULL;
    tether_journald_close(tether_journald_open_with(fields, fake_send, &err));
}

/* The real library: loaded on demand (libsystemd0 is part of every Debian system). */
static void test_loads_libsystemd(void **state)
{
    struct tether_error err = {0};
    struct tether_journald *j = tether_journald_open(container_fields, &err);

    (void)state;
    if (j == NULL)
        fail_msg("%s", err.msg);
    tether_journald_close(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_lines, teardown),
        cmocka_unit_test_teardown(test_long_line, teardown),
        cmocka_unit_test_teardown(test_failure_reported_once, teardown),
        cmocka_unit_test_teardown(test_fields_checked, teardown),
        cmocka_unit_test(test_loads_libsystemd),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
