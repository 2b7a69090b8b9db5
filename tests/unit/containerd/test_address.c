/* SHA-256 against the FIPS 180-4 examples and block-boundary lengths, Go's path cleaning,
 * and the socket name containerd computes for a group (checked against a name containerd
 * 1.6 produced), plus the group annotations read from a bundle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "address.h"
#include "sha256.h"

static void hex(const uint8_t *d, char *out)
{
    for (int i = 0; i < TETHER_SHA256_LEN; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void check_digest(const void *data, size_t len, const char *want)
{
    uint8_t d[TETHER_SHA256_LEN];
    char got[2 * TETHER_SHA256_LEN + 1];

    tether_sha256(data, len, d);
    hex(d, got);
    assert_string_equal(got, want);
}

static void test_sha256_vectors(void **state)
{
    char *buf = xmalloc(1000000);

    (void)state;
    check_digest("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check_digest("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_digest("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
                 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    memset(buf, 'a', 1000000);
    check_digest(buf, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    /* Padding in one block (55 bytes) or two (56), and a whole block. */
    memset(buf, 'x', 64);
    check_digest(buf, 55, "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072");
    check_digest(buf, 56, "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e");
    check_digest(buf, 64, "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c");
    free(buf);
}

static void check_clean(const char *in, const char *want)
{
    char *got = tether_ctrd_clean_path(in);

    assert_string_equal(got, want);
    free(got);
}

static void test_clean_path(void **state)
{
    (void)state;
    check_clean("", ".");
    check_clean("/", "/");
    check_clean("//a//b/", "/a/b");
    check_clean("/a/./b/.", "/a/b");
    check_clean("/a/b/../c", "/a/c");
    check_clean("/../a", "/a");
    check_clean("/a/..", "/");
    check_clean("a/../..", "..");
    check_clean("../../a/b/..", "../../a");
    check_clean("a/b/c/../../d", "a/d");
    check_clean("./a", "a");
}

static void test_socket_path(void **state)
{
    char *p;

    (void)state;
    /* The name containerd 1.6 gave the shim of task b1 in namespace tst of the containerd
     * at /tmp/ctrd-r/fake.sock. */
    p = tether_ctrd_socket_path("/tmp/ctrd-r/fake.sock", "tst", "b1");
    assert_string_equal(
        p, "/run/containerd/s/ef99e733984c990c2171a8695538c20c9a46cd1c51e29e528ba43a7060be2af2");
    free(p);
    /* filepath.Join cleans what it joins. */
    p = tether_ctrd_socket_path("/tmp/ctrd-r//fake.sock/", "tst", "b1");
    assert_string_equal(
        p, "/run/containerd/s/ef99e733984c990c2171a8695538c20c9a46cd1c51e29e528ba43a7060be2af2");
    free(p);
}

static void write_config(const char *dir, const char *text)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/config.json", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_group_id(void **state)
{
    char dir[] = "/tmp/tether-test-address-XXXXXX";
    struct tether_error err = {0};
    char path[512], *g;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_config(dir, "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"sb1\"}}");
    g = tether_ctrd_group_id(dir, "c1", &err);
    assert_string_equal(g, "sb1");
    free(g);
    /* The group annotation wins over the sandbox. */
    write_config(dir, "{\"annotations\":{\"io.kubernetes.cri.sandbox-id\":\"sb1\","
                      "\"io.containerd.runc.v2.group\":\"grp\"}}");
    g = tether_ctrd_group_id(dir, "c1", &err);
    assert_string_equal(g, "grp");
    free(g);
    write_config(dir, "{\"process\":{}}");
    g = tether_ctrd_group_id(dir, "c1", &err);
    assert_string_equal(g, "c1");
    free(g);
    write_config(dir, "not json");
    assert_null(tether_ctrd_group_id(dir, "c1", &err));

    /* The address file: the URI, no newline. */
    assert_int_equal(tether_ctrd_write_address(dir, "/run/containerd/s/abc", &err), 0);
    snprintf(path, sizeof(path), "%s/address", dir);
    {
        char *text = NULL;
        size_t len = 0;
        assert_int_equal(tether_read_file(path, 4096, &text, &len, &err), 0);
        assert_string_equal(text, "unix:///run/containerd/s/abc");
        free(text);
    }
    unlink(path);
    snprintf(path, sizeof(path), "%s/config.json", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_clean_path),
        cmocka_unit_test(test_socket_path),
        cmocka_unit_test(test_group_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
