/* tether-conmon's command line: conmon's, as podman 4.3 and CRI-O pass it. Long options take
 * their value as `--opt value` or `--opt=value` (a value may start with "--"), short ones as
 * `-c value` or `-cvalue`, and flags without a value group (`-ti`). -l, --runtime-arg,
 * --runtime-opt and --exit-command-arg repeat and keep their order; any other option given
 * twice keeps its last value. --api-version takes no value: podman's "--api-version 1"
 * leaves a stray "1", which is skipped; any other argument that is not an option is an
 * error, as is every unknown option and every option of conmon this monitor does not
 * implement (never ignored in silence). */
#ifndef TETHER_CONMON_OPTIONS_H
#define TETHER_CONMON_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <tether/error.h>
#include <tether/log.h>

/* Upper bounds of what the command line may hold. */
#define TETHER_CONMON_LIST_MAX  256 /* entries of one repeated option */
#define TETHER_CONMON_DELAY_MAX 3600

/* The version conmon's users probe for: podman accepts "conmon version X.Y.Z" from 2.0.1 on
 * and falls back to another conmon in silence when it does not like the answer. */
#define TETHER_CONMON_COMPAT_VERSION "2.1.6"

struct tether_conmon_opts {
    /* The container */
    char *cid;    /* -c: the runtime's container id */
    char *cuuid;  /* -u: podman's id of this monitor (container id, or exec session id) */
    char *name;   /* -n */
    char *bundle; /* -b (the exec session's directory for -e); default: the cwd */
    char *runtime;
    char **runtime_args;     /* --runtime-arg: global options of the runtime */
    char **runtime_opts;     /* --runtime-opt: options of create */
    char *container_pidfile; /* -p */
    char *conmon_pidfile;    /* -P, --conmon-pidfile */
    /* Exec */
    char *exec_process_spec;
    /* Exit */
    char *exit_dir;
    char *exit_command;
    char **exit_command_args;
    char *persist_dir; /* -0: CRI-O's copies of the exit and oom files */
    /* Logs of the container */
    char *log_path; /* k8s-file, or NULL */
    char *log_tag;
    int64_t log_size_max; /* <= 0: no limit */
    /* The attach socket */
    char *socket_dir_path;
    int timeout_s; /* -T, --timeout: 0 = none */
    unsigned exit_delay_s;
    enum tether_log_level log_level; /* this monitor's own messages */
    bool systemd_cgroup;             /* -s */
    bool no_pivot, no_new_keyring;
    bool terminal, stdin, leave_stdin_open;
    bool exec, exec_attach;
    bool log_journald, log_none, log_passthrough;
    bool no_sync_log;
    bool full_attach;
    bool sync; /* do not detach: the caller waits for this process */
    bool syslog;
    bool api_version;
    bool help, version;
};

/* Parses argv into opts (zeroed first); kind INVALID with a one-line message on any error.
 * --help and --version only set their flag: the caller prints and leaves. */
int tether_conmon_opts_parse(int argc, char **argv, struct tether_conmon_opts *opts,
                             struct tether_error *err);
/* The checks that need the whole command line: required options, options that exclude each
 * other. */
int tether_conmon_opts_check(const struct tether_conmon_opts *opts, struct tether_error *err);
void tether_conmon_opts_free(struct tether_conmon_opts *opts);

/* --help's text. */
void tether_conmon_usage(FILE *out);

#endif
