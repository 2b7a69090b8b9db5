/* Who may talk to tether-shim: the socket is 0600 in a 0700 directory, and a peer that got
 * through anyway (here: a socket made reachable on purpose) is refused on accept by its
 * SO_PEERCRED uid unless it is root, the shim's own uid or given with --allow-uid. Paths a
 * client hands over for the shim to open (log paths) are not followed through symlinks. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/util.h>

#include "harness_shim.h"

#define NOBODY 65534

static const char *const argv_sleep[] = {"sleep", "1000", NULL};

/* What the unprivileged client saw, as its exit code. */
enum peer_result {
    PEER_ANSWERED = 0,   /* version answered */
    PEER_CLOSED = 1,     /* connection closed without an answer */
    PEER_NO_CONNECT = 2, /* connect failed */
    PEER_SETUID = 3,     /* could not become nobody */
    PEER_OTHER = 4,      /* anything else (timeout, bad answer) */
};

/* In a child: become uid/gid 65534 with no supplementary groups, connect to socket_path
 * and ask for the version. SO_PEERCRED is taken at connect time, so the connect must
 * happen after the switch. */
static void __attribute__((noreturn)) peer_main(const char *socket_path)
{
    struct tether_error err = {0};
    struct tether_client *c;
    json_t *res;
    int code = 0;

    if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
        setresuid(NOBODY, NOBODY, NOBODY) < 0 || getuid() != NOBODY)
        _exit(PEER_SETUID);
    c = tether_client_connect(socket_path, &err);
    if (c == NULL) {
        fprintf(stderr, "peer: %s\n", err.msg);
        _exit(PEER_NO_CONNECT);
    }
    res = tether_client_call(c, "version", NULL, TH_CALL_MS, &code, &err);
    if (res != NULL && json_is_string(json_object_get(res, "version")))
        _exit(PEER_ANSWERED);
    if (res == NULL && code == 0 && err.kind == TETHER_ERR_NOT_FOUND)
        _exit(PEER_CLOSED);
    fprintf(stderr, "peer: code %d: %s\n", code, err.msg);
    _exit(PEER_OTHER);
}

static int run_peer(const char *socket_path, pid_t *pid_out)
{
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        peer_main(socket_path);
    *pid_out = pid;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Launches the fixture's shim with its socket in a directory nobody can reach, and makes
 * the socket itself reachable: only the SO_PEERCRED check is left to stop nobody. */
static void launch_reachable(struct th_fixture *f, const char *allow_uid, char *sock,
                             size_t sock_len)
{
    const char *extra[6];
    struct tether_error err = {0};
    char sockdir[PATH_MAX];
    size_t n = 0;

    th_require_runtime(&f->env, f->runtime);
    th_make_bundle(&f->env, "bundle", argv_sleep, f->bundle, sizeof(f->bundle));
    th_shim_unique_id("it-peer", f->id, sizeof(f->id));
    if ((size_t)snprintf(sockdir, sizeof(sockdir), "%s/sock", f->env.dir) >= sizeof(sockdir) ||
        (size_t)snprintf(sock, sock_len, "%s/shim.sock", sockdir) >= sock_len)
        fail_msg("socket path too long");
    if (chmod(f->env.dir, 0711) < 0 || mkdir(sockdir, 0711) < 0)
        fail_msg("socket directory %s: %s", sockdir, strerror(errno));
    extra[n++] = "--socket";
    extra[n++] = sock;
    if (allow_uid != NULL) {
        extra[n++] = "--allow-uid";
        extra[n++] = allow_uid;
    }
    extra[n] = NULL;
    if (th_shim_try_launch(&f->shim, &f->env, f->runtime, f->id, f->bundle, extra, &err) < 0)
        fail_msg("launch: %s", err.msg);
    assert_string_equal(f->shim.socket, sock);
    if (chmod(sock, 0666) < 0)
        fail_msg("chmod %s: %s", sock, strerror(errno));
}

static bool log_has(const struct th_fixture *f, const char *text)
{
    cleanup_free char *path = xasprintf("%s/shim.log", f->shim.dir);
    cleanup_free char *log = NULL;
    struct tether_error err = {0};

    if (tether_read_file(path, 16 << 20, &log, NULL, &err) < 0)
        fail_msg("shim log: %s", err.msg);
    return strstr(log, text) != NULL;
}

static void test_socket_modes(void **state)
{
    struct th_fixture *f = *state;
    struct stat st;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    assert_int_equal(lstat(f->shim.socket, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(f->shim.dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_unknown_uid_refused(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *root;
    char sock[PATH_MAX];
    char line[128];
    pid_t pid;

    launch_reachable(f, NULL, sock, sizeof(sock));
    assert_int_equal(run_peer(sock, &pid), PEER_CLOSED);
    /* Refused and logged with who it was; the shim serves root as before. */
    snprintf(line, sizeof(line), "refused connection from pid %d uid %d", (int)pid, NOBODY);
    if (!log_has(f, line))
        fail_msg("shim.log lacks \"%s\"", line);
    assert_true(th_pid_alive(f->shim.pid));
    root = th_shim_connect(&f->shim);
    json_decref(th_call_ok(root, "version", NULL));
    json_decref(th_call_ok(root, "create", NULL));
    tether_client_close(root);
    /* Still refused with a container around. */
    assert_int_equal(run_peer(sock, &pid), PEER_CLOSED);
}

static void test_allowed_uid(void **state)
{
    struct th_fixture *f = *state;
    char sock[PATH_MAX];
    pid_t pid;

    launch_reachable(f, "65534", sock, sizeof(sock));
    assert_int_equal(run_peer(sock, &pid), PEER_ANSWERED);
    assert_int_equal(run_peer(sock, &pid), PEER_ANSWERED);
}

/* Without the chmod, nobody cannot even reach the default socket. */
static void test_default_socket_unreachable(void **state)
{
    struct th_fixture *f = *state;
    pid_t pid;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    assert_int_equal(run_peer(f->shim.socket, &pid), PEER_NO_CONNECT);
}

/* A log path whose last component is a symlink is not followed: the file it points to is
 * left alone and create fails. */
static void test_log_path_symlink(void **state)
{
    struct th_fixture *f = *state;
    struct tether_client *c;
    cleanup_free char *target = xasprintf("%s/precious", f->env.dir);
    cleanup_free char *link = xasprintf("%s/ctr.log", f->env.dir);
    cleanup_free char *text = NULL;
    struct tether_error err = {0};
    char msg[TETHER_ERROR_MSG_MAX];
    json_auto_t *params = NULL;
    int code = 0;
    json_t *res;

    th_fixture_start(f, argv_sleep, NULL, NULL);
    if (tether_write_file_atomic(target, "keep\n", 5, 0600, &err) < 0)
        fail_msg("%s", err.msg);
    if (symlink(target, link) < 0)
        fail_msg("symlink: %s", strerror(errno));
    c = th_shim_connect(&f->shim);
    params = json_pack("{s:{s:s}}", "log", "path", link);
    res = tether_client_call(c, "create", params, TH_CALL_MS, &code, &err);
    if (res != NULL)
        fail_msg("create with a symlinked log path succeeded");
    snprintf(msg, sizeof(msg), "%s", err.msg);
    assert_true(code != 0);
    assert_non_null(strstr(msg, link));
    assert_int_equal(tether_read_file(target, 64, &text, NULL, &err), 0);
    assert_string_equal(text, "keep\n");
    /* ".." and relative paths never get that far. */
    th_call_fail(c, "create", json_pack("{s:{s:s}}", "log", "path", "/tmp/../etc/x.log"),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "create", json_pack("{s:{s:s}}", "log", "path", "x.log"),
                 TETHER_RPC_INVALID_PARAMS, NULL, 0);
    th_call_fail(c, "state", NULL, TETHER_RPC_NOT_FOUND, NULL, 0);
    tether_client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        TH_RUNTIME_TEST(test_socket_modes, "runc"),
        TH_RUNTIME_TEST(test_unknown_uid_refused, "runc"),
        TH_RUNTIME_TEST(test_allowed_uid, "runc"),
        TH_RUNTIME_TEST(test_default_socket_unreachable, "runc"),
        TH_RUNTIME_TEST(test_log_path_symlink, "runc"),
    };

    if (geteuid() != 0) {
        printf("SKIP: needs root (to switch to uid %d)\n", NOBODY);
        return 77;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
