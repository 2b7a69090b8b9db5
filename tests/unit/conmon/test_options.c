/* tether-conmon's command line: what podman 4.3 passes (for a container and for an exec
 * session) parses into the right options, in every spelling conmon accepts; anything else is
 * a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tether/util.h>

#include "options.h"

#define ID   "3298bbdadf7dec4974da84c32387e1c0022fde9e505415c80f7b3d4f494ccc06"
#define SESS "95e6746ef246765a30ae77cbce24814de5efa53bcbc26412ec0630d72d9afab1"
#define UD   "/d/root/overlay-containers/" ID "/userdata"
#define RD   "/d/runroot/overlay-containers/" ID "/userdata"

static int parse(struct tether_conmon_opts *o, const char *const *args, struct tether_error *err)
{
    char *argv[128];
    int argc = 0;

    argv[argc++] = "tether-conmon";
    for (size_t i = 0; args[i] != NULL; i++)
        argv[argc++] = (char *)args[i];
    argv[argc] = NULL;
    return tether_conmon_opts_parse(argc, argv, o, err);
}

/* Parses and checks; fails the test on an error. */
static void parse_ok(struct tether_conmon_opts *o, const char *const *args)
{
    struct tether_error err = {0};

    if (parse(o, args, &err) < 0 || tether_conmon_opts_check(o, &err) < 0)
        fail_msg("%s", err.msg);
}

/* Expects an error of parse or check whose message holds needle. */
static void parse_fails(const char *const *args, const char *needle)
{
    struct tether_conmon_opts o;
    struct tether_error err = {0};

    if (parse(&o, args, &err) == 0 && tether_conmon_opts_check(&o, &err) == 0)
        fail_msg("accepted, expected an error with \"%s\"", needle);
    tether_conmon_opts_free(&o);
    assert_int_equal(err.kind, TETHER_ERR_INVALID);
    if (strstr(err.msg, needle) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", err.msg, needle);
}

static void assert_list(char **got, const char *const *want)
{
    size_t i;

    for (i = 0; want[i] != NULL; i++) {
        assert_non_null(got);
        assert_non_null(got[i]);
        assert_string_equal(got[i], want[i]);
    }
    if (got != NULL)
        assert_null(got[i]);
}

/* podman's `run` argv, exactly as podman 4.3.1 passed it to conmon on Debian 12. */
static void test_podman_create(void **state)
{
    static const char *const args[] = {"--api-version",
                                       "1",
                                       "-c",
                                       ID,
                                       "-u",
                                       ID,
                                       "-r",
                                       "/d/bin/runc",
                                       "-b",
                                       UD,
                                       "-p",
                                       RD "/pidfile",
                                       "-n",
                                       "web",
                                       "--exit-dir",
                                       "/d/tmp/exits",
                                       "--full-attach",
                                       "-l",
                                       "k8s-file:" UD "/ctr.log",
                                       "--log-level",
                                       "warning",
                                       "--runtime-arg",
                                       "--log-format=json",
                                       "--runtime-arg",
                                       "--log",
                                       "--runtime-arg=" RD "/oci-log",
                                       "-i",
                                       "--conmon-pidfile",
                                       RD "/conmon.pid",
                                       "--exit-command",
                                       "/usr/bin/podman",
                                       "--exit-command-arg",
                                       "--root",
                                       "--exit-command-arg",
                                       "/d/root",
                                       "--exit-command-arg",
                                       "container",
                                       "--exit-command-arg",
                                       "cleanup",
                                       "--exit-command-arg",
                                       "--rm",
                                       "--exit-command-arg",
                                       ID,
                                       NULL};
    static const char *const runtime_args[] = {"--log-format=json", "--log", RD "/oci-log", NULL};
    static const char *const exit_args[] = {"--root", "/d/root", "container", "cleanup",
                                            "--rm",   ID,        NULL};
    struct tether_conmon_opts o;

    (void)state;
    parse_ok(&o, args);
    assert_true(o.api_version);
    assert_string_equal(o.cid, ID);
    assert_string_equal(o.cuuid, ID);
    assert_string_equal(o.runtime, "/d/bin/runc");
    assert_string_equal(o.bundle, UD);
    assert_string_equal(o.container_pidfile, RD "/pidfile");
    assert_string_equal(o.name, "web");
    assert_string_equal(o.exit_dir, "/d/tmp/exits");
    assert_true(o.full_attach);
    assert_string_equal(o.log_path, UD "/ctr.log");
    assert_false(o.log_journald || o.log_none || o.log_passthrough);
    assert_int_equal(o.log_level, TETHER_LOG_WARN);
    assert_list(o.runtime_args, runtime_args);
    assert_true(o.stdin);
    assert_false(o.terminal);
    assert_string_equal(o.conmon_pidfile, RD "/conmon.pid");
    assert_string_equal(o.exit_command, "/usr/bin/podman");
    assert_list(o.exit_command_args, exit_args);
    assert_false(o.exec);
    assert_int_equal(o.timeout_s, 0);
    assert_int_equal(o.log_size_max, 0);
    tether_conmon_opts_free(&o);
}

/* podman's `exec -t` argv. */
static void test_podman_exec(void **state)
{
    static const char *const args[] = {"--api-version",
                                       "1",
                                       "-c",
                                       ID,
                                       "-u",
                                       SESS,
                                       "-r",
                                       "/d/bin/runc",
                                       "-b",
                                       UD "/" SESS,
                                       "-p",
                                       UD "/" SESS "/exec_pid",
                                       "-n",
                                       "web",
                                       "--exit-dir",
                                       UD "/" SESS "/exit",
                                       "--full-attach",
                                       "-l",
                                       "none",
                                       "--log-level",
                                       "warning",
                                       "-t",
                                       "-e",
                                       "--exec-attach",
                                       "--exec-process-spec",
                                       UD "/" SESS "/exec-process-123",
                                       "--exit-command",
                                       "/usr/bin/podman",
                                       "--exit-command-arg",
                                       "container",
                                       "--exit-command-arg",
                                       "cleanup",
                                       "--exit-command-arg",
                                       "--exec",
                                       "--exit-command-arg",
                                       SESS,
                                       "--exit-command-arg",
                                       ID,
                                       "--exit-delay",
                                       "300",
                                       NULL};
    struct tether_conmon_opts o;

    (void)state;
    parse_ok(&o, args);
    assert_true(o.exec);
    assert_true(o.exec_attach);
    assert_true(o.terminal);
    assert_true(o.log_none);
    assert_null(o.log_path);
    assert_string_equal(o.cuuid, SESS);
    assert_string_equal(o.exec_process_spec, UD "/" SESS "/exec-process-123");
    assert_int_equal(o.exit_delay_s, 300);
    assert_null(o.conmon_pidfile);
    tether_conmon_opts_free(&o);
}

/* Every spelling conmon accepts: --opt=value, -cVALUE, grouped flags, values that look like
 * options, the last of a repeated single option. */
static void test_spellings(void **state)
{
    static const char *const args[] = {"--cid=c1",
                                       "-uu1",
                                       "--runtime",
                                       "/bin/true",
                                       "-ti",
                                       "--exit-dir=/x",
                                       "--log-path",
                                       "journald:",
                                       "-l",
                                       "/abs/ctr.log",
                                       "--name",
                                       "first",
                                       "-n",
                                       "second",
                                       "--runtime-opt",
                                       "--no-new-keyring",
                                       "--runtime-opt=--foo",
                                       "-T",
                                       "5",
                                       "--log-size-max=1000",
                                       "--log-tag",
                                       "--looks-like-an-option",
                                       "-s",
                                       "--no-pivot",
                                       "--leave-stdin-open",
                                       "-0",
                                       "/persist",
                                       "--socket-dir-path",
                                       "/sock",
                                       "--syslog",
                                       "--sync",
                                       "--no-sync-log",
                                       "--log-level=trace",
                                       NULL};
    static const char *const opts[] = {"--no-new-keyring", "--foo", NULL};
    struct tether_conmon_opts o;

    (void)state;
    parse_ok(&o, args);
    assert_string_equal(o.cid, "c1");
    assert_string_equal(o.cuuid, "u1");
    assert_true(o.terminal && o.stdin);
    assert_true(o.log_journald);
    assert_string_equal(o.log_path, "/abs/ctr.log");
    assert_string_equal(o.name, "second");
    assert_list(o.runtime_opts, opts);
    assert_int_equal(o.timeout_s, 5);
    assert_int_equal(o.log_size_max, 1000);
    assert_string_equal(o.log_tag, "--looks-like-an-option");
    assert_true(o.systemd_cgroup && o.no_pivot && o.leave_stdin_open && o.syslog && o.sync &&
                o.no_sync_log);
    assert_string_equal(o.persist_dir, "/persist");
    assert_string_equal(o.socket_dir_path, "/sock");
    assert_int_equal(o.log_level, TETHER_LOG_DEBUG);
    tether_conmon_opts_free(&o);
}

static void test_levels_and_limits(void **state)
{
    static const struct {
        const char *name;
        enum tether_log_level level;
    } levels[] = {{"panic", TETHER_LOG_ERROR}, {"fatal", TETHER_LOG_ERROR},
                  {"error", TETHER_LOG_ERROR}, {"warning", TETHER_LOG_WARN},
                  {"warn", TETHER_LOG_WARN},   {"info", TETHER_LOG_INFO},
                  {"debug", TETHER_LOG_DEBUG}, {"trace", TETHER_LOG_DEBUG}};
    struct tether_conmon_opts o;

    (void)state;
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(levels); i++) {
        const char *args[] = {"--log-level", levels[i].name, NULL};
        struct tether_error err = {0};
        assert_int_equal(parse(&o, args, &err), 0);
        assert_int_equal(o.log_level, levels[i].level);
        tether_conmon_opts_free(&o);
    }
    /* A timeout of 0 or less is none; a log size of 0 or less is no limit. */
    {
        const char *args[] = {"--timeout", "-1", "--log-size-max", "-1", NULL};
        struct tether_error err = {0};
        assert_int_equal(parse(&o, args, &err), 0);
        assert_int_equal(o.timeout_s, 0);
        assert_true(o.log_size_max <= 0);
        tether_conmon_opts_free(&o);
    }
}

#define BASE "-c", "c1", "-u", "u1", "-r", "/bin/true", "--exit-dir", "/x"

static void test_errors(void **state)
{
    (void)state;
    parse_fails((const char *const[]){BASE, "-l", "none", "--bogus", NULL},
                "unknown option --bogus");
    parse_fails((const char *const[]){BASE, "-l", "none", "-Z", NULL}, "unknown option -Z");
    parse_fails((const char *const[]){BASE, "-l", NULL}, "-l needs a value");
    parse_fails((const char *const[]){BASE, "-l", "none", "--name", NULL}, "--name needs a value");
    parse_fails((const char *const[]){BASE, "-l", "none", "stray", NULL},
                "unexpected argument stray");
    /* Only one stray argument, right after --api-version. */
    parse_fails((const char *const[]){"--api-version", "1", "2", BASE, "-l", "none", NULL},
                "unexpected argument 2");
    parse_fails((const char *const[]){"--api-version=1", BASE, "-l", "none", NULL},
                "--api-version takes no value");
    parse_fails((const char *const[]){BASE, "-l", "none", "-t=x", NULL}, "unknown option -=");
    parse_fails((const char *const[]){BASE, "-l", "none", "--timeout", "soon", NULL},
                "invalid --timeout soon");
    parse_fails((const char *const[]){BASE, "-l", "none", "--exit-delay", "-1", NULL},
                "invalid --exit-delay");
    parse_fails((const char *const[]){BASE, "-l", "none", "--log-level", "loud", NULL},
                "invalid --log-level loud");
    parse_fails((const char *const[]){BASE, "-l", "json-file:/x", NULL},
                "unknown log driver json-file:/x");
    parse_fails((const char *const[]){BASE, "-l", "k8s-file", NULL}, "needs a path");
    parse_fails((const char *const[]){BASE, "-l", "/a", "-l", "k8s-file:/b", NULL},
                "k8s-file given twice");
}

/* What the whole command line must hold, and what does not go together. */
static void test_checks(void **state)
{
    (void)state;
    parse_fails((const char *const[]){"-u", "u1", "-r", "/bin/true", "--exit-dir", "/x", "-l",
                                      "none", NULL},
                "-c/--cid is required");
    parse_fails((const char *const[]){"-c", "c1", "-r", "/bin/true", "--exit-dir", "/x", "-l",
                                      "none", NULL},
                "-u/--cuuid is required");
    parse_fails(
        (const char *const[]){"-c", "c1", "-u", "u1", "--exit-dir", "/x", "-l", "none", NULL},
        "-r/--runtime is required");
    parse_fails((const char *const[]){BASE, NULL}, "-l/--log-path is required");
    parse_fails(
        (const char *const[]){"-c", "c1", "-u", "u1", "-r", "/bin/true", "-l", "none", NULL},
        "--exit-dir is required");
    parse_fails((const char *const[]){BASE, "-l", "none", "-l", "journald", NULL},
                "cannot be combined");
    parse_fails((const char *const[]){BASE, "-l", "passthrough", "-t", NULL},
                "passthrough cannot be used with a terminal");
    parse_fails((const char *const[]){BASE, "-l", "none", "-e", NULL},
                "-e needs --exec-process-spec");
    parse_fails((const char *const[]){BASE, "-l", "none", "--exec-attach", NULL}, "need -e");
    parse_fails((const char *const[]){BASE, "-l", "none", "-e", "--exec-process-spec", "/p",
                                      "--runtime-opt", "--x", NULL},
                "not to -e");
    parse_fails((const char *const[]){BASE, "-l", "none", "-e", "--exec-process-spec", "/p",
                                      "--no-pivot", NULL},
                "not to -e");
    parse_fails((const char *const[]){BASE, "-l", "none", "--runtime-opt", "--preserve-fds",
                                      "--runtime-opt", "2", NULL},
                "--preserve-fds is not supported");
}

/* conmon's options that are not implemented say so, never pass in silence. */
static void test_refused(void **state)
{
    static const char *const refused[] = {"--restore",
                                          "--replace-listen-pid",
                                          "--sdnotify-socket",
                                          "--seccomp-notify-socket",
                                          "--seccomp-notify-plugins",
                                          "--log-global-size-max"};

    (void)state;
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(refused); i++) {
        const char *args[] = {BASE, "-l", "none", refused[i], "x", NULL};
        char needle[64];
        snprintf(needle, sizeof(needle), "%s is not supported", refused[i]);
        parse_fails(args, needle);
    }
}

static void test_help_and_version(void **state)
{
    struct tether_conmon_opts o;
    struct tether_error err = {0};

    (void)state;
    assert_int_equal(parse(&o, (const char *const[]){"--version", NULL}, &err), 0);
    assert_true(o.version);
    tether_conmon_opts_free(&o);
    assert_int_equal(parse(&o, (const char *const[]){"-h", NULL}, &err), 0);
    assert_true(o.help);
    tether_conmon_opts_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_podman_create), cmocka_unit_test(test_podman_exec),
        cmocka_unit_test(test_spellings),     cmocka_unit_test(test_levels_and_limits),
        cmocka_unit_test(test_errors),        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_refused),       cmocka_unit_test(test_help_and_version),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
