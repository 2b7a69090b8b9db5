/* The runtime driver: argv for every operation, error text, output parsing, binary
 * resolution, and the spawned child's process state. The child checks run this very test
 * binary as a stand-in runtime (see probe_main): it reports what it was given, or fails
 * in a chosen way. The syntax check at the end runs the real runc and crun. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <tether/runtime.h>
#include <tether/util.h>

#define PROBE_ENV "TETHER_TEST_RUNTIME_PROBE"

/* ---- the stand-in runtime ---------------------------------------------------------- */

/* "SigBlk:\t0000000000000000" from /proc/self/status, printed as "SigBlk=0000000000000000". */
static void probe_status_line(FILE *out, const char *key)
{
    char line[256];
    size_t len = strlen(key);
    FILE *f = fopen("/proc/self/status", "re");

    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *value = line + len + 1;
        if (strncmp(line, key, len) != 0 || line[len] != ':')
            continue;
        while (*value == ' ' || *value == '\t')
            value++;
        fprintf(out, "%s=%s", key, value);
    }
    fclose(f);
}

static void probe_report(int argc, char **argv)
{
    char link[PATH_MAX], path[64];
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;
    char buf[256];
    ssize_t n;
    int fd, sig = -1;
    bool first = true;

    printf("argv=");
    for (int i = 1; i < argc; i++)
        printf("%s%s", i > 1 ? " " : "", argv[i]);
    printf("\nfds=");
    while (d != NULL && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
            continue;
        printf("%s%s", first ? "" : ",", de->d_name);
        first = false;
    }
    if (d != NULL)
        closedir(d);
    printf("\n");
    for (fd = 0; fd <= 3; fd++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        n = readlink(path, link, sizeof(link) - 1);
        link[n > 0 ? n : 0] = '\0';
        printf("fd%d=%s\n", fd, link);
    }
    fflush(stdout);
    probe_status_line(stdout, "SigBlk");
    probe_status_line(stdout, "SigIgn");
    prctl(PR_GET_PDEATHSIG, &sig);
    printf("pdeathsig=%d\nstdin=", sig);
    while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    printf("\n");
}

static const char *probe_log_path(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--log") == 0)
            return argv[i + 1];
    return NULL;
}

static int probe_main(const char *mode, int argc, char **argv)
{
    if (strcmp(mode, "report") == 0) {
        probe_report(argc, argv);
        return 0;
    }
    if (strcmp(mode, "log-error") == 0) {
        const char *log = probe_log_path(argc, argv);
        FILE *f = log != NULL ? fopen(log, "ae") : NULL;
        if (f == NULL)
            return 90;
        fputs("{\"level\":\"info\",\"msg\":\"starting\"}\n"
              "{\"level\":\"error\",\"msg\":\"probe failed: bad thing\"}\n"
              "{\"level\":\"warning\",\"msg\":\"a later warning\"}\n",
              f);
        fclose(f);
        fputs("stderr noise\n", stderr);
        return 1;
    }
    if (strcmp(mode, "stderr") == 0) {
        fputs("line one\nlast words\n\n", stderr);
        return 2;
    }
    if (strcmp(mode, "silent") == 0)
        return 5;
    if (strcmp(mode, "term") == 0) {
        kill(getpid(), SIGTERM); /* dies only if the disposition was reset to default */
        return 91;
    }
    if (strcmp(mode, "big") == 0) {
        static char chunk[1 << 16];
        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 80; i++) /* 5 MiB */
            fwrite(chunk, 1, sizeof(chunk), stdout);
        return 0;
    }
    return 92;
}

/* ---- helpers ----------------------------------------------------------------------------- */

struct fake_rt {
    char path[32], name[8], root[32];
    struct tether_runtime rt;
};

static void fake_rt_init(struct fake_rt *f, const char *name, bool with_root)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/usr/bin/%s", name);
    snprintf(f->name, sizeof(f->name), "%s", name);
    snprintf(f->root, sizeof(f->root), "/run/t-%s", name);
    f->rt.path = f->path;
    f->rt.name = f->name;
    f->rt.root = with_root ? f->root : NULL;
}

/* argv joined with single spaces, argv[0] included. */
static char *joined(char **argv)
{
    size_t len = 1;
    char *s;

    for (char **p = argv; *p != NULL; p++)
        len += strlen(*p) + 1;
    s = xzalloc(len);
    for (char **p = argv; *p != NULL; p++) {
        if (p != argv)
            strcat(s, " ");
        strcat(s, *p);
    }
    return s;
}

static void expect_argv(const struct tether_runtime *rt, enum tether_runtime_op op,
                        const struct tether_runtime_args *args, const char *log, const char *expect)
{
    struct tether_error err = {0};
    char **argv = NULL;
    cleanup_free char *got = NULL;

    if (tether_runtime_build_argv(rt, op, args, log, &argv, &err) < 0)
        fail_msg("build_argv op %d: %s", (int)op, err.msg);
    got = joined(argv);
    tether_runtime_argv_free(argv);
    if (strcmp(got, expect) != 0)
        fail_msg("op %d:\n  got    \"%s\"\n  expect \"%s\"", (int)op, got, expect);
}

static void expect_argv_error(const struct tether_runtime *rt, enum tether_runtime_op op,
                              const struct tether_runtime_args *args, const char *needle)
{
    struct tether_error err = {0};
    char **argv = (char **)&err; /* must be reset to NULL */

    assert_int_equal(tether_runtime_build_argv(rt, op, args, NULL, &argv, &err), -1);
    assert_null(argv);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static char *self_exe(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

    assert_true(n > 0);
    buf[n] = '\0';
    return xstrdup(buf);
}

/* The test binary as a runtime, told how to behave through the environment. */
static void probe_rt(struct tether_runtime *rt, const char *mode)
{
    struct tether_error err = {0};
    cleanup_free char *exe = self_exe();

    if (tether_runtime_init(rt, exe, "/run/probe-root", &err) < 0)
        fail_msg("%s", err.msg);
    setenv(PROBE_ENV, mode, 1);
}

static void probe_rt_done(struct tether_runtime *rt)
{
    unsetenv(PROBE_ENV);
    tether_runtime_fini(rt);
}

/* The value of "key=value" on its own line of a probe report. */
static char *report_value(const char *report, const char *key)
{
    cleanup_free char *hay = xasprintf("\n%s", report);
    cleanup_free char *needle = xasprintf("\n%s=", key);
    const char *p = strstr(hay, needle);
    const char *end;

    if (p == NULL)
        fail_msg("no %s in report:\n%s", key, report);
    p += strlen(needle);
    end = strchrnul(p, '\n');
    return xasprintf("%.*s", (int)(end - p), p);
}

static char *temp_dir(void)
{
    char *dir = xstrdup("/tmp/tether-test-runtime-XXXXXX");

    assert_non_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    struct tether_error err = {0};

    if (tether_write_file_atomic(path, text, strlen(text), mode, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(chmod(path, mode), 0);
}

/* ---- argv ---------------------------------------------------------------------------- */

/* Global options go after --root and before the driver's --log, for every command but
 * --version; a --log among them is overridden by the driver's own (runc and crun take the
 * last one). */
static void test_argv_global_args(void **state)
{
    static const char *const global[] = {"--systemd-cgroup", "--log", "/x/oci-log", NULL};
    struct tether_error err = {0};
    struct fake_rt f;
    struct tether_runtime_args a;
    const char **many;

    (void)state;
    fake_rt_init(&f, "runc", true);
    assert_int_equal(tether_runtime_set_global_args(&f.rt, global, &err), 0);
    tether_runtime_args_init(&a);
    a.id = "c1";
    a.bundle = "/b";
    expect_argv(&f.rt, TETHER_RT_CREATE, &a, "/proc/self/fd/3",
                "/usr/bin/runc --root /run/t-runc --systemd-cgroup --log /x/oci-log --log "
                "/proc/self/fd/3 --log-format json create --bundle /b c1");
    expect_argv(&f.rt, TETHER_RT_KILL, &(struct tether_runtime_args){.id = "c1", .signal = 9}, NULL,
                "/usr/bin/runc --root /run/t-runc --systemd-cgroup --log /x/oci-log kill c1 9");
    expect_argv(&f.rt, TETHER_RT_VERSION, &a, NULL, "/usr/bin/runc --version");

    /* Bounded, and NULL removes them. */
    many = xzalloc(300 * sizeof(*many));
    for (size_t i = 0; i < 299; i++)
        many[i] = "--x";
    assert_int_equal(tether_runtime_set_global_args(&f.rt, many, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_TOO_LARGE);
    free(many);
    assert_int_equal(tether_runtime_set_global_args(&f.rt, NULL, &err), 0);
    assert_null(f.rt.global_args);
    expect_argv(&f.rt, TETHER_RT_START, &a, NULL, "/usr/bin/runc --root /run/t-runc start c1");
}

static void test_argv_every_op(void **state)
{
    static const char *const names[] = {"runc", "crun"};
    static const char *const extra[] = {"--no-pivot", "--preserve-fds", "2", NULL};

    (void)state;
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(names); i++) {
        struct fake_rt f;
        struct tether_runtime_args a;
        char expect[512];
        const char *n = names[i];

        fake_rt_init(&f, n, true);
        tether_runtime_args_init(&a);
        a.id = "c1";
        a.bundle = "/b";
        a.pid_file = "/s/c1.pid";
        snprintf(expect, sizeof(expect),
                 "/usr/bin/%s --root /run/t-%s --log /proc/self/fd/3 --log-format json create "
                 "--bundle /b --pid-file /s/c1.pid c1",
                 n, n);
        expect_argv(&f.rt, TETHER_RT_CREATE, &a, "/proc/self/fd/3", expect);

        a.console_socket = "/s/console.sock";
        a.extra = extra;
        snprintf(expect, sizeof(expect),
                 "/usr/bin/%s --root /run/t-%s create --bundle /b --pid-file /s/c1.pid "
                 "--console-socket /s/console.sock --no-pivot --preserve-fds 2 c1",
                 n, n);
        expect_argv(&f.rt, TETHER_RT_CREATE, &a, NULL, expect);

        /* Without --root and --log only the subcommand remains. */
        fake_rt_init(&f, n, false);
        tether_runtime_args_init(&a);
        a.id = "c1";
        a.bundle = "/b";
        snprintf(expect, sizeof(expect), "/usr/bin/%s create --bundle /b c1", n);
        expect_argv(&f.rt, TETHER_RT_CREATE, &a, NULL, expect);
        /* run --detach: create and start in one invocation, create's options after it. */
        a.pid_file = "/s/c1.pid";
        snprintf(expect, sizeof(expect),
                 "/usr/bin/%s run --detach --bundle /b --pid-file /s/c1.pid c1", n);
        expect_argv(&f.rt, TETHER_RT_RUN, &a, NULL, expect);
        a.pid_file = NULL;

        snprintf(expect, sizeof(expect), "/usr/bin/%s start c1", n);
        expect_argv(&f.rt, TETHER_RT_START, &a, NULL, expect);
        snprintf(expect, sizeof(expect), "/usr/bin/%s --log L --log-format json state c1", n);
        expect_argv(&f.rt, TETHER_RT_STATE, &a, "L", expect);
        snprintf(expect, sizeof(expect), "/usr/bin/%s pause c1", n);
        expect_argv(&f.rt, TETHER_RT_PAUSE, &a, NULL, expect);
        snprintf(expect, sizeof(expect), "/usr/bin/%s resume c1", n);
        expect_argv(&f.rt, TETHER_RT_RESUME, &a, NULL, expect);
        snprintf(expect, sizeof(expect), "/usr/bin/%s ps --format json c1", n);
        expect_argv(&f.rt, TETHER_RT_PS, &a, NULL, expect);
        snprintf(expect, sizeof(expect), "/usr/bin/%s update --resources - c1", n);
        expect_argv(&f.rt, TETHER_RT_UPDATE, &a, NULL, expect);

        {
            static const char *const empty_ns[] = {"network", NULL};
            struct tether_runtime_args ck;
            tether_runtime_args_init(&ck);
            ck.id = "c1";
            ck.image_path = "/img";
            snprintf(expect, sizeof(expect), "/usr/bin/%s checkpoint --image-path /img c1", n);
            expect_argv(&f.rt, TETHER_RT_CHECKPOINT, &ck, NULL, expect);
            ck.work_path = "/work";
            ck.leave_running = ck.tcp_established = ck.ext_unix_sk = ck.shell_job = true;
            ck.file_locks = true;
            ck.empty_ns = empty_ns;
            snprintf(expect, sizeof(expect),
                     "/usr/bin/%s checkpoint --image-path /img --work-path /work "
                     "--leave-running --tcp-established --ext-unix-sk --shell-job --file-locks "
                     "--empty-ns network c1",
                     n);
            expect_argv(&f.rt, TETHER_RT_CHECKPOINT, &ck, NULL, expect);
        }

        a.signal = SIGTERM;
        snprintf(expect, sizeof(expect), "/usr/bin/%s kill c1 15", n);
        expect_argv(&f.rt, TETHER_RT_KILL, &a, NULL, expect);
        a.signal = SIGRTMIN + 2;
        a.all = true;
        snprintf(expect, sizeof(expect), "/usr/bin/%s kill --all c1 %d", n, SIGRTMIN + 2);
        expect_argv(&f.rt, TETHER_RT_KILL, &a, NULL, expect);

        snprintf(expect, sizeof(expect), "/usr/bin/%s delete c1", n);
        expect_argv(&f.rt, TETHER_RT_DELETE, &a, NULL, expect);
        a.force = true;
        snprintf(expect, sizeof(expect), "/usr/bin/%s delete --force c1", n);
        expect_argv(&f.rt, TETHER_RT_DELETE, &a, NULL, expect);

        tether_runtime_args_init(&a);
        a.id = "c1";
        a.process_file = "/s/p.json";
        snprintf(expect, sizeof(expect), "/usr/bin/%s exec --process /s/p.json c1", n);
        expect_argv(&f.rt, TETHER_RT_EXEC, &a, NULL, expect);
        a.detach = true;
        a.pid_file = "/s/e.pid";
        a.console_socket = "/s/e.sock";
        a.extra = extra;
        fake_rt_init(&f, n, true);
        snprintf(expect, sizeof(expect),
                 "/usr/bin/%s --root /run/t-%s --log L --log-format json exec --process "
                 "/s/p.json --detach --pid-file /s/e.pid --console-socket /s/e.sock "
                 "--no-pivot --preserve-fds 2 c1",
                 n, n);
        expect_argv(&f.rt, TETHER_RT_EXEC, &a, "L", expect);

        /* --version takes no global options and no id. */
        tether_runtime_args_init(&a);
        snprintf(expect, sizeof(expect), "/usr/bin/%s --version", n);
        expect_argv(&f.rt, TETHER_RT_VERSION, &a, "L", expect);
    }
}

static void test_argv_errors(void **state)
{
    struct fake_rt f;
    struct tether_runtime_args a;
    struct tether_runtime none = {0};
    const char *extra[300];

    (void)state;
    fake_rt_init(&f, "runc", false);
    tether_runtime_args_init(&a);
    expect_argv_error(&f.rt, TETHER_RT_START, &a, "invalid container id");
    a.id = "../etc";
    expect_argv_error(&f.rt, TETHER_RT_STATE, &a, "invalid container id \"../etc\"");
    a.id = "c1";
    expect_argv_error(&f.rt, TETHER_RT_CREATE, &a, "bundle is required");
    a.bundle = "";
    expect_argv_error(&f.rt, TETHER_RT_CREATE, &a, "bundle is empty");
    a.bundle = "/b";
    a.pid_file = "";
    expect_argv_error(&f.rt, TETHER_RT_CREATE, &a, "pid file is empty");
    a.pid_file = NULL;
    expect_argv_error(&f.rt, TETHER_RT_EXEC, &a, "process file is required");
    a.signal = 0;
    expect_argv_error(&f.rt, TETHER_RT_KILL, &a, "invalid signal 0");
    a.signal = SIGRTMAX + 1;
    expect_argv_error(&f.rt, TETHER_RT_KILL, &a, "invalid signal");
    expect_argv_error(&f.rt, (enum tether_runtime_op)99, &a, "unknown runtime operation");
    expect_argv_error(&none, TETHER_RT_START, &a, "not initialized");

    for (size_t i = 0; i < TETHER_ARRAY_SIZE(extra) - 1; i++)
        extra[i] = "--no-pivot";
    extra[TETHER_ARRAY_SIZE(extra) - 1] = NULL;
    a.extra = extra;
    {
        struct tether_error err = {0};
        char **argv = NULL;
        assert_int_equal(tether_runtime_build_argv(&f.rt, TETHER_RT_CREATE, &a, NULL, &argv, &err),
                         -1);
        assert_int_equal(err.kind, TETHER_ERR_TOO_LARGE);
    }
    tether_runtime_argv_free(NULL);
}

/* ---- error text ---------------------------------------------------------------------- */

static void expect_text(const char *log, const char *errtext, const char *expect)
{
    char buf[TETHER_ERROR_MSG_MAX];
    bool found = tether_runtime_error_text(log, log != NULL ? strlen(log) : 0, errtext,
                                           errtext != NULL ? strlen(errtext) : 0, buf, sizeof(buf));

    if (expect == NULL) {
        assert_false(found);
        assert_string_equal(buf, "");
    } else {
        assert_true(found);
        assert_string_equal(buf, expect);
    }
}

static void test_error_text(void **state)
{
    char small[8];

    (void)state;
    /* The last error-level message wins over later warnings and earlier errors. */
    expect_text("{\"level\":\"info\",\"msg\":\"one\",\"time\":\"t\"}\n"
                "{\"level\":\"error\",\"msg\":\"first error\"}\n"
                "{\"level\":\"error\",\"msg\":\"runc create failed: boom\\n\"}\n"
                "{\"level\":\"warning\",\"msg\":\"afterwards\"}\n",
                "stderr text\n", "runc create failed: boom");
    expect_text("{\"level\":\"error\",\"msg\":\"e\"}\n{\"level\":\"fatal\",\"msg\":\"f\"}\n", NULL,
                "f");
    /* crun's field order, and entries run together with no newline. */
    expect_text("{\"msg\":\"a\",\"level\":\"error\"}{\"msg\":\"b\",\"level\":\"error\"}", NULL,
                "b");
    /* Without error levels the last message at all. */
    expect_text("{\"level\":\"debug\",\"msg\":\"x\"}\n{\"level\":\"warning\",\"msg\":\"w\"}\n",
                NULL, "w");
    /* Garbage, a panic trace, entries without msg and a cut-off last line are skipped. */
    expect_text("panic: runtime error\ngoroutine 1 [running]:\n"
                "{\"level\":\"error\",\"msg\":\"kept\"}\n"
                "{\"level\":\"error\"}\n"
                "{\"level\":\"error\",\"msg\":42}\n"
                "{\"level\":\"error\",\"msg\":\"\"}\n"
                "[1,2]\n"
                "{\"level\":\"error\",\"msg\":\"cut sh",
                NULL, "kept");
    /* Nothing usable in the log: stderr's last non-empty line. */
    expect_text("not json\n", "first line\r\nsecond line\r\n\n  \n", "second line");
    expect_text(NULL, "  only\n", "only");
    expect_text("", "", NULL);
    expect_text(NULL, NULL, NULL);
    expect_text("\n\n", " \n\t\n", NULL);

    /* Cut to the buffer, always terminated. */
    assert_true(tether_runtime_error_text("{\"level\":\"error\",\"msg\":\"0123456789\"}", 36, NULL,
                                          0, small, sizeof(small)));
    assert_string_equal(small, "0123456");
    assert_false(tether_runtime_error_text(NULL, 0, "x", 1, small, 0));
}

/* ---- parsing ------------------------------------------------------------------------- */

static void test_parse_state(void **state)
{
    struct tether_runtime_state st;
    struct tether_error err = {0};
    char long_status[64];

    (void)state;
    assert_int_equal(
        tether_runtime_parse_state(
            "{\n  \"ociVersion\": \"1.0.2-dev\",\n  \"id\": \"web\",\n  \"pid\": 3029,\n"
            "  \"status\": \"running\",\n  \"bundle\": \"/b/web\",\n"
            "  \"rootfs\": \"/b/web/rootfs\",\n  \"created\": \"2026-11-22T15:04:13Z\",\n"
            "  \"owner\": \"\"\n}",
            &st, &err),
        0);
    assert_string_equal(st.id, "web");
    assert_string_equal(st.status, "running");
    assert_int_equal(st.pid, 3029);
    assert_string_equal(st.bundle, "/b/web");

    /* A stopped container may have pid 0 or null, and no bundle. */
    assert_int_equal(
        tether_runtime_parse_state("{\"id\":\"x\",\"status\":\"stopped\",\"pid\":null}", &st, &err),
        0);
    assert_int_equal(st.pid, 0);
    assert_string_equal(st.bundle, "");

    assert_int_equal(tether_runtime_parse_state("{\"status\":\"running\"}", &st, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_RUNTIME);
    assert_int_equal(tether_runtime_parse_state("{\"id\":\"x\",\"status\":1}", &st, &err), -1);
    assert_int_equal(tether_runtime_parse_state(
                         "{\"id\":\"x\",\"status\":\"running\",\"pid\":\"12\"}", &st, &err),
                     -1);
    assert_int_equal(
        tether_runtime_parse_state("{\"id\":\"x\",\"status\":\"running\",\"pid\":-4}", &st, &err),
        -1);
    assert_int_equal(tether_runtime_parse_state(
                         "{\"id\":\"x\",\"status\":\"running\",\"pid\":99999999999}", &st, &err),
                     -1);
    memset(long_status, 's', sizeof(long_status) - 1);
    long_status[sizeof(long_status) - 1] = '\0';
    {
        cleanup_free char *json = xasprintf("{\"id\":\"x\",\"status\":\"%s\"}", long_status);
        assert_int_equal(tether_runtime_parse_state(json, &st, &err), -1);
        assert_non_null(strstr(err.msg, "status"));
    }
    assert_int_equal(tether_runtime_parse_state("[]", &st, &err), -1);
    assert_int_equal(tether_runtime_parse_state("", &st, &err), -1);
    assert_int_equal(tether_runtime_parse_state("{\"id\":\"x\",", &st, &err), -1);
    assert_int_equal(tether_runtime_parse_state(NULL, &st, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_RUNTIME);
}

static void test_parse_ps(void **state)
{
    struct tether_error err = {0};
    pid_t *pids = NULL;
    size_t n = 99;

    (void)state;
    assert_int_equal(tether_runtime_parse_ps("[3029,3050, 7]\n", &pids, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(pids[0], 3029);
    assert_int_equal(pids[1], 3050);
    assert_int_equal(pids[2], 7);
    free(pids);

    assert_int_equal(tether_runtime_parse_ps("[]", &pids, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(pids);
    assert_int_equal(tether_runtime_parse_ps("null\n", &pids, &n, &err), 0);
    assert_int_equal(n, 0);
    assert_null(pids);

    static const char *const bad[] = {"[1,\"2\"]", "[0]", "[-5]", "[1.5]",        "{}",
                                      "3",         "[1,", "",     "[99999999999]"};
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(bad); i++) {
        n = 99;
        if (tether_runtime_parse_ps(bad[i], &pids, &n, &err) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_null(pids);
        assert_int_equal(n, 0);
        assert_int_equal(err.kind, TETHER_ERR_RUNTIME);
    }
    assert_int_equal(tether_runtime_parse_ps(NULL, &pids, &n, &err), -1);
}

static void test_parse_version(void **state)
{
    char buf[64], small[5];

    (void)state;
    assert_int_equal(tether_runtime_parse_version("runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1\n"
                                                  "spec: 1.0.2-dev\n",
                                                  buf, sizeof(buf)),
                     0);
    assert_string_equal(buf, "runc version 1.1.5+ds1");
    assert_int_equal(
        tether_runtime_parse_version("\ncrun version 1.8.1\r\ncommit: f8a0\n", buf, sizeof(buf)),
        0);
    assert_string_equal(buf, "crun version 1.8.1");
    assert_int_equal(tether_runtime_parse_version("no newline", buf, sizeof(buf)), 0);
    assert_string_equal(buf, "no newline");
    assert_int_equal(tether_runtime_parse_version("runc version 1", small, sizeof(small)), 0);
    assert_string_equal(small, "runc");
    assert_int_equal(tether_runtime_parse_version("", buf, sizeof(buf)), -1);
    assert_int_equal(tether_runtime_parse_version(" \n\n", buf, sizeof(buf)), -1);
    assert_string_equal(buf, "");
    assert_int_equal(tether_runtime_parse_version(NULL, buf, sizeof(buf)), -1);
}

/* ---- resolving the binary ------------------------------------------------------------ */

static void test_init(void **state)
{
    cleanup_free char *dir = temp_dir();
    cleanup_free char *bin1 = xasprintf("%s/bin1", dir);
    cleanup_free char *bin2 = xasprintf("%s/bin2", dir);
    cleanup_free char *noexec = xasprintf("%s/bin1/fakert", dir);
    cleanup_free char *good = xasprintf("%s/bin2/fakert", dir);
    cleanup_free char *path_env = xasprintf("%s:relative/dir:%s", bin1, bin2);
    cleanup_free char *saved_path = xstrdup(getenv("PATH") != NULL ? getenv("PATH") : "");
    struct tether_runtime rt;
    struct tether_error err = {0};

    (void)state;
    assert_int_equal(mkdir(bin1, 0755), 0);
    assert_int_equal(mkdir(bin2, 0755), 0);
    write_file(noexec, "#!/bin/sh\n", 0644);
    write_file(good, "#!/bin/sh\n", 0755);

    /* PATH lookup skips the non-executable candidate and relative entries. */
    setenv("PATH", path_env, 1);
    assert_int_equal(tether_runtime_init(&rt, "fakert", "/run/r", &err), 0);
    assert_string_equal(rt.path, good);
    assert_string_equal(rt.name, "fakert");
    assert_string_equal(rt.root, "/run/r");
    tether_runtime_fini(&rt);
    assert_null(rt.path);

    /* Only a non-executable one: that path is named. */
    setenv("PATH", bin1, 1);
    assert_int_equal(tether_runtime_init(&rt, "fakert", NULL, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_non_null(strstr(err.msg, noexec));
    assert_non_null(strstr(err.msg, "not executable"));

    /* Missing everywhere: the name and the PATH searched. */
    assert_int_equal(tether_runtime_init(&rt, "no-such-runtime", NULL, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "no-such-runtime"));
    assert_non_null(strstr(err.msg, bin1));
    setenv("PATH", saved_path, 1);

    /* Absolute paths. */
    assert_int_equal(tether_runtime_init(&rt, good, NULL, &err), 0);
    assert_string_equal(rt.path, good);
    assert_null(rt.root);
    tether_runtime_fini(&rt);
    assert_int_equal(tether_runtime_init(&rt, noexec, NULL, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_non_null(strstr(err.msg, noexec));
    {
        cleanup_free char *missing = xasprintf("%s/none/runc", dir);
        assert_int_equal(tether_runtime_init(&rt, missing, NULL, &err), -1);
        assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
        assert_non_null(strstr(err.msg, missing));
    }
    assert_int_equal(tether_runtime_init(&rt, bin2, NULL, &err), -1); /* a directory */
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_non_null(strstr(err.msg, bin2));
    assert_int_equal(tether_runtime_init(&rt, "bin/runc", NULL, &err), -1);
    assert_non_null(strstr(err.msg, "not absolute"));
    assert_int_equal(tether_runtime_init(&rt, "", NULL, &err), -1);

    unlink(noexec);
    unlink(good);
    rmdir(bin1);
    rmdir(bin2);
    rmdir(dir);
}

static void test_init_default_runc(void **state)
{
    struct tether_runtime rt;
    struct tether_error err = {0};

    (void)state;
    if (access("/usr/sbin/runc", X_OK) != 0 && access("/usr/bin/runc", X_OK) != 0)
        skip();
    assert_int_equal(tether_runtime_init(&rt, NULL, NULL, &err), 0);
    assert_string_equal(rt.name, "runc");
    assert_true(rt.path[0] == '/');
    tether_runtime_fini(&rt);
}

/* ---- the spawned child --------------------------------------------------------------- */

static int wait_for(pid_t pid)
{
    int status;

    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void test_spawn_clean_child(void **state)
{
    static const char input[] = "{\"memory\":{\"limit\":1}}";
    struct tether_runtime rt;
    struct tether_runtime_args args;
    struct tether_runtime_cmd cmd;
    struct tether_error err = {0};
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_term;
    sigset_t all, old_mask;
    cleanup_free char *out = NULL;
    cleanup_free char *fds = NULL, *fd0 = NULL, *fd3 = NULL, *blk = NULL, *sigign = NULL;
    cleanup_free char *pdeath = NULL, *in = NULL, *argv = NULL;

    (void)state;
    probe_rt(&rt, "report");
    tether_runtime_args_init(&args);
    args.id = "c1";
    args.input = input;
    args.input_len = strlen(input);
    args.stdin_fd = STDERR_FILENO; /* ignored for UPDATE: input is */

    /* Like the shim: every signal blocked, SIGPIPE (and here SIGTERM) ignored. */
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGTERM, &ign, &old_term);
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old_mask);
    assert_int_equal(tether_runtime_spawn(&rt, TETHER_RT_UPDATE, &args, &cmd, &err), 0);
    assert_int_equal(tether_runtime_finish(&cmd, wait_for(cmd.pid), &out, &err), 0);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGTERM, &old_term, NULL);

    argv = report_value(out, "argv");
    assert_string_equal(argv, "--root /run/probe-root --log /proc/self/fd/3 --log-format json "
                              "update --resources - c1");
    fds = report_value(out, "fds");
    assert_string_equal(fds, "0,1,2,3");
    fd0 = report_value(out, "fd0");
    assert_non_null(strstr(fd0, "memfd:tether-runtime-in"));
    fd3 = report_value(out, "fd3");
    assert_non_null(strstr(fd3, "memfd:tether-runtime-log"));
    blk = report_value(out, "SigBlk");
    assert_string_equal(blk, "0000000000000000");
    sigign = report_value(out, "SigIgn");
    assert_string_equal(sigign, "0000000000000000");
    pdeath = report_value(out, "pdeathsig");
    assert_int_equal(atoi(pdeath), SIGKILL);
    in = report_value(out, "stdin");
    assert_string_equal(in, input);
    probe_rt_done(&rt);
}

/* CREATE and EXEC hand the caller's fds to the runtime as its stdio, even when they sit on
 * the very numbers they are moved to. */
static void test_spawn_own_stdio(void **state)
{
    struct tether_runtime rt;
    struct tether_runtime_args args;
    struct tether_runtime_cmd cmd;
    struct tether_error err = {0};
    cleanup_free char *report = NULL;
    cleanup_free char *fds = NULL, *fd1 = NULL, *fd2 = NULL, *in = NULL, *argv = NULL;
    int pipefd[2], saved0, saved3, out_fd, err_fd;

    (void)state;
    probe_rt(&rt, "report");
    out_fd = memfd_create("probe-out", MFD_CLOEXEC);
    err_fd = memfd_create("probe-err", MFD_CLOEXEC);
    assert_true(out_fd >= 0 && err_fd >= 0);
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    assert_int_equal(write(pipefd[1], "to-stdin", 8), 8);
    close(pipefd[1]);

    /* The caller's stdout sits at 0 and its stderr at 3 (where the log goes). */
    saved0 = fcntl(0, F_DUPFD_CLOEXEC, 10);
    saved3 = fcntl(3, F_DUPFD_CLOEXEC, 10);
    assert_int_equal(dup2(out_fd, 0), 0);
    assert_int_equal(dup2(err_fd, 3), 3);

    tether_runtime_args_init(&args);
    args.id = "c1";
    args.bundle = "/";
    args.pid_file = "/p";
    args.stdin_fd = pipefd[0];
    args.stdout_fd = 0;
    args.stderr_fd = 3;
    assert_int_equal(tether_runtime_spawn(&rt, TETHER_RT_CREATE, &args, &cmd, &err), 0);
    assert_int_equal(cmd.out_fd, -1);
    assert_int_equal(cmd.err_fd, -1);
    assert_true(cmd.log_fd >= 0);
    assert_int_equal(tether_runtime_finish(&cmd, wait_for(cmd.pid), NULL, &err), 0);

    dup2(saved0, 0);
    close(saved0);
    if (saved3 >= 0) {
        dup2(saved3, 3);
        close(saved3);
    } else {
        close(3);
    }
    close(pipefd[0]);

    assert_int_equal(tether_read_fd_all(out_fd, 1 << 16, &report, NULL, &err), 0);
    argv = report_value(report, "argv");
    assert_string_equal(argv, "--root /run/probe-root --log /proc/self/fd/3 --log-format json "
                              "create --bundle / --pid-file /p c1");
    fds = report_value(report, "fds");
    assert_string_equal(fds, "0,1,2,3");
    fd1 = report_value(report, "fd1");
    assert_non_null(strstr(fd1, "memfd:probe-out"));
    fd2 = report_value(report, "fd2");
    assert_non_null(strstr(fd2, "memfd:probe-err"));
    in = report_value(report, "stdin");
    assert_string_equal(in, "to-stdin");
    close(out_fd);
    close(err_fd);

    /* -1 means /dev/null. */
    tether_runtime_args_init(&args);
    args.id = "c1";
    args.process_file = "/p.json";
    assert_int_equal(tether_runtime_spawn(&rt, TETHER_RT_EXEC, &args, &cmd, &err), 0);
    assert_int_equal(tether_runtime_finish(&cmd, wait_for(cmd.pid), NULL, &err), 0);
    probe_rt_done(&rt);
}

static void expect_failure(const char *mode, const char *expect, enum tether_error_kind kind)
{
    struct tether_runtime rt;
    struct tether_runtime_args args;
    struct tether_error err = {0};
    char *out = (char *)&err;

    probe_rt(&rt, mode);
    tether_runtime_args_init(&args);
    args.id = "c1";
    assert_int_equal(tether_runtime_run(&rt, TETHER_RT_STATE, &args, &out, &err), -1);
    assert_null(out);
    assert_int_equal(err.kind, kind);
    if (strcmp(err.msg, expect) != 0)
        fail_msg("mode %s: \"%s\", expected \"%s\"", mode, err.msg, expect);
    probe_rt_done(&rt);
}

static void test_finish_errors(void **state)
{
    (void)state;
    /* The runtime opened the --log path itself and wrote its JSON there. */
    expect_failure("log-error", "probe failed: bad thing", TETHER_ERR_RUNTIME);
    expect_failure("stderr", "last words", TETHER_ERR_RUNTIME);
    expect_failure("silent", "runtime state exited with status 5", TETHER_ERR_RUNTIME);
    expect_failure("term", "runtime state killed by signal SIGTERM", TETHER_ERR_RUNTIME);
    expect_failure("big", "runtime state output: content larger than 4194304 bytes",
                   TETHER_ERR_TOO_LARGE);
}

static void test_run_version(void **state)
{
    struct tether_runtime rt;
    struct tether_runtime_args args;
    struct tether_runtime_cmd cmd;
    struct tether_error err = {0};
    cleanup_free char *out = NULL, *argv = NULL, *fds = NULL;

    (void)state;
    probe_rt(&rt, "report");
    tether_runtime_args_init(&args);
    assert_int_equal(tether_runtime_run(&rt, TETHER_RT_VERSION, &args, &out, &err), 0);
    argv = report_value(out, "argv");
    assert_string_equal(argv, "--version");
    fds = report_value(out, "fds");
    assert_string_equal(fds, "0,1,2"); /* no log for --version */

    /* Success without wanting the output, and a release without a result. */
    assert_int_equal(tether_runtime_run(&rt, TETHER_RT_VERSION, &args, NULL, &err), 0);
    assert_int_equal(tether_runtime_spawn(&rt, TETHER_RT_STATE,
                                          &(struct tether_runtime_args){
                                              .id = "c1",
                                              .stdin_fd = -1,
                                              .stdout_fd = -1,
                                              .stderr_fd = -1,
                                          },
                                          &cmd, &err),
                     0);
    wait_for(cmd.pid);
    tether_runtime_cmd_release(&cmd);
    assert_int_equal(cmd.log_fd, -1);
    assert_int_equal(cmd.out_fd, -1);
    assert_int_equal(cmd.err_fd, -1);
    probe_rt_done(&rt);
}

/* A binary that cannot be executed is an error from spawn, and leaves no child behind. */
static void test_spawn_exec_failure(void **state)
{
    cleanup_free char *dir = temp_dir();
    cleanup_free char *bad = xasprintf("%s/garbage-rt", dir);
    cleanup_free char *gone = xasprintf("%s/gone-rt", dir);
    struct tether_runtime rt;
    struct tether_runtime_args args;
    struct tether_runtime_cmd cmd;
    struct tether_error err = {0};

    (void)state;
    write_file(bad, "this is not a program\n", 0755);
    assert_int_equal(tether_runtime_init(&rt, bad, NULL, &err), 0);
    tether_runtime_args_init(&args);
    args.id = "c1";
    /* spawn does not wait for the exec: the failure comes from finish, once the child
     * (which exits at once) is reaped. */
    assert_int_equal(tether_runtime_spawn(&rt, TETHER_RT_STATE, &args, &cmd, &err), 0);
    assert_true(cmd.pid > 0);
    {
        int status;
        assert_int_equal(waitpid(cmd.pid, &status, 0), cmd.pid);
        assert_int_equal(tether_runtime_finish(&cmd, status, NULL, &err), -1);
    }
    assert_int_equal(err.errnum, ENOEXEC);
    assert_int_equal(err.kind, TETHER_ERR_INTERNAL);
    assert_non_null(strstr(err.msg, bad));
    assert_non_null(strstr(err.msg, "exec"));
    assert_int_equal(cmd.pid, 0);
    assert_int_equal(cmd.log_fd, -1);
    assert_int_equal(cmd.report_fd, -1);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
    tether_runtime_fini(&rt);

    /* Removed after init. */
    write_file(gone, "#!/bin/sh\n", 0755);
    assert_int_equal(tether_runtime_init(&rt, gone, NULL, &err), 0);
    unlink(gone);
    assert_int_equal(tether_runtime_run(&rt, TETHER_RT_STATE, &args, NULL, &err), -1);
    assert_int_equal(err.errnum, ENOENT);
    assert_non_null(strstr(err.msg, gone));
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    tether_runtime_fini(&rt);

    /* Invalid arguments fail before anything is forked. */
    assert_int_equal(tether_runtime_init(&rt, bad, NULL, &err), 0);
    args.id = "bad id";
    assert_int_equal(tether_runtime_spawn(&rt, TETHER_RT_STATE, &args, &cmd, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_int_equal(cmd.pid, 0);
    /* So does a bundle that is not a directory, whichever runtime it is. */
    args.id = "c1";
    args.bundle = gone;
    assert_int_equal(tether_runtime_spawn(&rt, TETHER_RT_CREATE, &args, &cmd, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, gone));
    args.bundle = bad;
    assert_int_equal(tether_runtime_spawn(&rt, TETHER_RT_CREATE, &args, &cmd, &err), -1);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    assert_int_equal(err.errnum, ENOTDIR);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    tether_runtime_fini(&rt);

    unlink(bad);
    rmdir(dir);
}

/* ---- the real runtimes accept the syntax ------------------------------------------- */

/* Every operation against an unknown container: each runtime must fail for that reason,
 * never for a usage error. */
static void test_real_runtimes_accept_argv(void **state)
{
    static const char *const names[] = {"runc", "crun"};
    /* Accepted by create and exec of both runtimes. */
    static const char *const extra[] = {"--preserve-fds", "0", NULL};
    static const enum tether_runtime_op ops[] = {
        TETHER_RT_CREATE, TETHER_RT_START,  TETHER_RT_STATE,   TETHER_RT_KILL,
        TETHER_RT_EXEC,   TETHER_RT_PAUSE,  TETHER_RT_RESUME,  TETHER_RT_PS,
        TETHER_RT_UPDATE, TETHER_RT_DELETE, TETHER_RT_VERSION, TETHER_RT_CHECKPOINT,
    };
    static const char *const empty_ns[] = {"network", NULL};
    cleanup_free char *dir = temp_dir();
    cleanup_free char *process = xasprintf("%s/process.json", dir);
    cleanup_free char *root = xasprintf("%s/root", dir);
    bool any = false;

    (void)state;
    write_file(process, "{\"args\":[\"true\"],\"cwd\":\"/\"}", 0600);
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(names); i++) {
        struct tether_runtime rt;
        struct tether_error err = {0};

        if (tether_runtime_init(&rt, names[i], root, &err) < 0) {
            printf("# %s: %s\n", names[i], err.msg);
            continue;
        }
        any = true;
        for (size_t j = 0; j < TETHER_ARRAY_SIZE(ops); j++) {
            static const char resources[] = "{}";
            struct tether_runtime_args args;
            cleanup_free char *out = NULL;
            int ret;

            tether_runtime_args_init(&args);
            args.id = "nosuch";
            args.bundle = dir; /* a directory without config.json */
            args.pid_file = "/nonexistent-dir/pid";
            args.process_file = process;
            args.extra = extra;
            args.signal = SIGKILL;
            args.all = true;
            args.detach = true;
            args.force = ops[j] == TETHER_RT_DELETE;
            args.input = resources;
            args.input_len = 2;
            args.image_path = dir;
            args.work_path = dir;
            args.leave_running = args.tcp_established = args.file_locks = true;
            args.empty_ns = empty_ns;
            ret = tether_runtime_run(&rt, ops[j], &args, &out, &err);
            if (ops[j] == TETHER_RT_VERSION || ops[j] == TETHER_RT_DELETE) {
                if (ret != 0)
                    fail_msg("%s op %d: %s", rt.name, (int)ops[j], err.msg);
                continue;
            }
            assert_int_equal(ret, -1);
            assert_int_equal(err.kind, TETHER_ERR_RUNTIME);
            if (ops[j] == TETHER_RT_CHECKPOINT && strstr(err.msg, "unknown command") != NULL) {
                /* A runtime built without CRIU (Debian's crun): its own clear refusal. */
                continue;
            }
            if (ops[j] == TETHER_RT_CREATE) {
                if (strstr(err.msg, "config.json") == NULL)
                    fail_msg("%s create: \"%s\"", rt.name, err.msg);
            } else if (strstr(err.msg, strcmp(rt.name, "runc") == 0 ? "container does not exist"
                                                                    : "nosuch/status") == NULL) {
                fail_msg("%s op %d: \"%s\"", rt.name, (int)ops[j], err.msg);
            }
        }
        tether_runtime_fini(&rt);
    }
    unlink(process);
    rmdir(root);
    rmdir(dir);
    if (!any)
        skip();
}

int main(int argc, char **argv)
{
    const char *probe = getenv(PROBE_ENV);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_argv_every_op),
        cmocka_unit_test(test_argv_global_args),
        cmocka_unit_test(test_argv_errors),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_parse_state),
        cmocka_unit_test(test_parse_ps),
        cmocka_unit_test(test_parse_version),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_init_default_runc),
        cmocka_unit_test(test_spawn_clean_child),
        cmocka_unit_test(test_spawn_own_stdio),
        cmocka_unit_test(test_finish_errors),
        cmocka_unit_test(test_run_version),
        cmocka_unit_test(test_spawn_exec_failure),
        cmocka_unit_test(test_real_runtimes_accept_argv),
    };

    if (probe != NULL)
        return probe_main(probe, argc, argv);
    return cmocka_run_group_tests_name("runtime", tests, NULL, NULL);
}
