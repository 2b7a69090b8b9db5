#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "options.h"

enum opt_kind {
    OPT_FLAG,
    OPT_STRING,
    OPT_LIST,
    OPT_TIMEOUT,
    OPT_DELAY,
    OPT_SIZE,
    OPT_LOG,       /* -l DRIVER[:PATH] */
    OPT_LOG_LEVEL, /* conmon's and logrus's level names */
    OPT_API,       /* --api-version: no value, one stray positional tolerated */
    OPT_REFUSED,   /* conmon's, not implemented here: an error naming why */
};

struct opt_def {
    const char *name;
    char short_name;
    enum opt_kind kind;
    size_t offset;   /* of the field in struct tether_conmon_opts */
    const char *why; /* OPT_REFUSED */
};

#define FIELD(f) offsetof(struct tether_conmon_opts, f)

/* Every option of conmon 2.1.6, sorted by name. */
static const struct opt_def defs[] = {
    {"api-version", 0, OPT_API, 0, NULL},
    {"bundle", 'b', OPT_STRING, FIELD(bundle), NULL},
    {"cid", 'c', OPT_STRING, FIELD(cid), NULL},
    {"conmon-pidfile", 'P', OPT_STRING, FIELD(conmon_pidfile), NULL},
    {"container-pidfile", 'p', OPT_STRING, FIELD(container_pidfile), NULL},
    {"cuuid", 'u', OPT_STRING, FIELD(cuuid), NULL},
    {"exec", 'e', OPT_FLAG, FIELD(exec), NULL},
    {"exec-attach", 0, OPT_FLAG, FIELD(exec_attach), NULL},
    {"exec-process-spec", 0, OPT_STRING, FIELD(exec_process_spec), NULL},
    {"exit-command", 0, OPT_STRING, FIELD(exit_command), NULL},
    {"exit-command-arg", 0, OPT_LIST, FIELD(exit_command_args), NULL},
    {"exit-delay", 0, OPT_DELAY, FIELD(exit_delay_s), NULL},
    {"exit-dir", 0, OPT_STRING, FIELD(exit_dir), NULL},
    {"full-attach", 0, OPT_FLAG, FIELD(full_attach), NULL},
    {"help", 'h', OPT_FLAG, FIELD(help), NULL},
    {"leave-stdin-open", 0, OPT_FLAG, FIELD(leave_stdin_open), NULL},
    {"log-global-size-max", 0, OPT_REFUSED, 0, "a size shared by the logs of several monitors"},
    {"log-level", 0, OPT_LOG_LEVEL, 0, NULL},
    {"log-path", 'l', OPT_LOG, 0, NULL},
    {"log-size-max", 0, OPT_SIZE, FIELD(log_size_max), NULL},
    {"log-tag", 0, OPT_STRING, FIELD(log_tag), NULL},
    {"name", 'n', OPT_STRING, FIELD(name), NULL},
    {"no-new-keyring", 0, OPT_FLAG, FIELD(no_new_keyring), NULL},
    {"no-pivot", 0, OPT_FLAG, FIELD(no_pivot), NULL},
    {"no-sync-log", 0, OPT_FLAG, FIELD(no_sync_log), NULL},
    {"persist-dir", '0', OPT_STRING, FIELD(persist_dir), NULL},
    {"replace-listen-pid", 0, OPT_REFUSED, 0, "socket activation of the runtime"},
    {"restore", 0, OPT_REFUSED, 0, "checkpoint and restore"},
    {"runtime", 'r', OPT_STRING, FIELD(runtime), NULL},
    {"runtime-arg", 0, OPT_LIST, FIELD(runtime_args), NULL},
    {"runtime-opt", 0, OPT_LIST, FIELD(runtime_opts), NULL},
    {"sdnotify-socket", 0, OPT_REFUSED, 0, "relaying sd_notify messages of the container"},
    {"seccomp-notify-plugins", 0, OPT_REFUSED, 0, "seccomp notification plugins"},
    {"seccomp-notify-socket", 0, OPT_REFUSED, 0, "seccomp notification plugins"},
    {"socket-dir-path", 0, OPT_STRING, FIELD(socket_dir_path), NULL},
    {"stdin", 'i', OPT_FLAG, FIELD(stdin), NULL},
    {"sync", 0, OPT_FLAG, FIELD(sync), NULL},
    {"syslog", 0, OPT_FLAG, FIELD(syslog), NULL},
    {"systemd-cgroup", 's', OPT_FLAG, FIELD(systemd_cgroup), NULL},
    {"terminal", 't', OPT_FLAG, FIELD(terminal), NULL},
    {"timeout", 'T', OPT_TIMEOUT, FIELD(timeout_s), NULL},
    {"version", 0, OPT_FLAG, FIELD(version), NULL},
};

void tether_conmon_usage(FILE *out)
{
    fputs("usage: tether-conmon -c ID -u UUID -r RUNTIME [-b BUNDLE] -l DRIVER[:PATH] [OPTION]...\n"
          "       tether-conmon --help | --version\n"
          "\n"
          "The monitor of one OCI container (or of one exec session in it), with conmon's\n"
          "command line, pipes and files, for podman and CRI-O (see tether-conmon(8)).\n"
          "\n"
          "The container:\n"
          "  -c, --cid ID                the runtime's container id\n"
          "  -u, --cuuid UUID            this monitor's id (the exec session's with -e)\n"
          "  -n, --name NAME             the container's name (journal fields)\n"
          "  -b, --bundle DIR            the OCI bundle (default: the working directory); the\n"
          "                              attach socket and the ctl, winsz and oom files go there\n"
          "  -r, --runtime PATH          the OCI runtime (runc, crun)\n"
          "  --runtime-arg ARG           a global option of the runtime (repeatable, in order)\n"
          "  --runtime-opt OPT           an option of the runtime's create or exec (repeatable)\n"
          "  -s, --systemd-cgroup        the runtime's --systemd-cgroup\n"
          "  --no-pivot                  create with --no-pivot\n"
          "  --no-new-keyring            create with --no-new-keyring\n"
          "  -p, --container-pidfile PATH  where the runtime writes the process's pid\n"
          "  -P, --conmon-pidfile PATH   where this monitor writes its own pid\n"
          "  -t, --terminal              give the process a terminal\n"
          "  -i, --stdin                 keep the process's stdin open for attached clients\n"
          "  --leave-stdin-open          keep it open when an attached client ends its input\n"
          "  -T, --timeout SECONDS       kill the process after that long (exit file: -1)\n"
          "\n"
          "Exec sessions:\n"
          "  -e, --exec                  run a process in a running container\n"
          "  --exec-process-spec FILE    the runtime-spec Process to run\n"
          "  --exec-attach               wait for the attach of the caller before starting\n"
          "\n"
          "The end:\n"
          "  --exit-dir DIR              the exit file, DIR/ID, holds the exit code\n"
          "  --exit-command PATH         run once the exit file is written ...\n"
          "  --exit-command-arg ARG      ... with these arguments (repeatable, in order)\n"
          "  --exit-delay SECONDS        ... after this delay\n"
          "  -0, --persist-dir DIR       copies of the exit and oom files (CRI-O)\n"
          "\n"
          "Logs:\n"
          "  -l, --log-path DRIVER[:PATH]  k8s-file:PATH (or just PATH), journald, none or\n"
          "                              passthrough (the process gets this monitor's stdio);\n"
          "                              k8s-file and journald may be given together\n"
          "  --log-size-max BYTES        start the k8s-file log afresh past this size\n"
          "  --log-tag TAG               the journal's CONTAINER_TAG and SYSLOG_IDENTIFIER\n"
          "  --no-sync-log               do not fsync the log at the process's exit\n"
          "\n"
          "Attach:\n"
          "  --full-attach               the socket is BUNDLE/attach (always so here)\n"
          "  --socket-dir-path DIR       also reach it as DIR/UUID/attach (a symlink)\n"
          "\n"
          "This monitor:\n"
          "  --sync                      do not detach: the caller waits for the monitor\n"
          "  --syslog                    its own messages go to syslog (/dev/log)\n"
          "  --log-level LEVEL           error, warning, info or debug (and podman's panic,\n"
          "                              fatal, warn, trace)\n"
          "  --api-version               accepted (podman's \"--api-version 1\")\n"
          "  -h, --help                  this text\n"
          "  --version                   \"conmon version " TETHER_CONMON_COMPAT_VERSION
          "\" (what podman\n"
          "                              checks) and this monitor's own version\n"
          "\n"
          "Not implemented (an error): --restore, --replace-listen-pid, --sdnotify-socket,\n"
          "--seccomp-notify-socket, --seccomp-notify-plugins, --log-global-size-max, and\n"
          "--runtime-opt --preserve-fds.\n",
          out);
}

static const struct opt_def *find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(defs); i++)
        if (strlen(defs[i].name) == len && memcmp(defs[i].name, name, len) == 0)
            return &defs[i];
    return NULL;
}

static const struct opt_def *find_short(char c)
{
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(defs); i++)
        if (defs[i].short_name == c)
            return &defs[i];
    return NULL;
}

static bool takes_value(const struct opt_def *d)
{
    return d->kind != OPT_FLAG && d->kind != OPT_API && d->kind != OPT_REFUSED;
}

static int parse_long_long(const struct opt_def *d, const char *value, long long min, long long max,
                           long long *out, struct tether_error *err)
{
    char q[128];
    char *end;
    long long n;

    *out = 0;
    errno = 0;
    n = strtoll(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || n < min || n > max)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "invalid --%s %s (%lld..%lld)",
                                 d->name, tether_quote(value, q, sizeof(q)), min, max);
    *out = n;
    return 0;
}

static void list_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static int list_append(char ***list, const struct opt_def *d, const char *value,
                       struct tether_error *err)
{
    size_t n = 0;

    while (*list != NULL && (*list)[n] != NULL)
        n++;
    if (n >= TETHER_CONMON_LIST_MAX)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "more than %d --%s",
                                 TETHER_CONMON_LIST_MAX, d->name);
    *list = xrealloc(*list, (n + 2) * sizeof(**list));
    (*list)[n] = xstrdup(value);
    (*list)[n + 1] = NULL;
    return 0;
}

static int parse_level(const char *value, enum tether_log_level *out, struct tether_error *err)
{
    static const struct {
        const char *name;
        enum tether_log_level level;
    } levels[] = {
        {"panic", TETHER_LOG_ERROR}, {"fatal", TETHER_LOG_ERROR},  {"error", TETHER_LOG_ERROR},
        {"warn", TETHER_LOG_WARN},   {"warning", TETHER_LOG_WARN}, {"info", TETHER_LOG_INFO},
        {"debug", TETHER_LOG_DEBUG}, {"trace", TETHER_LOG_DEBUG},
    };
    char q[128];

    for (size_t i = 0; i < TETHER_ARRAY_SIZE(levels); i++)
        if (strcmp(levels[i].name, value) == 0) {
            *out = levels[i].level;
            return 0;
        }
    return tether_error_setk(err, TETHER_ERR_INVALID, 0, "invalid --log-level %s",
                             tether_quote(value, q, sizeof(q)));
}

/* -l DRIVER[:PATH]: "k8s-file:PATH", a bare absolute PATH (k8s-file, as conmon takes it),
 * "journald" (a ":..." after it is ignored, as conmon does), "none", "passthrough". */
static int parse_log(struct tether_conmon_opts *o, const char *value, struct tether_error *err)
{
    const char *colon = strchr(value, ':');
    size_t n = colon != NULL ? (size_t)(colon - value) : strlen(value);
    char q[256];

    if (value[0] == '/' || (n == 8 && memcmp(value, "k8s-file", 8) == 0)) {
        const char *path = value[0] == '/' ? value : colon != NULL ? colon + 1 : "";
        if (path[0] == '\0')
            return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                     "-l k8s-file needs a path (k8s-file:PATH)");
        if (o->log_path != NULL)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0, "-l k8s-file given twice");
        o->log_path = xstrdup(path);
    } else if (n == 8 && memcmp(value, "journald", 8) == 0) {
        o->log_journald = true;
    } else if (strcmp(value, "none") == 0) {
        o->log_none = true;
    } else if (strcmp(value, "passthrough") == 0) {
        o->log_passthrough = true;
    } else {
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "unknown log driver %s (k8s-file:PATH, journald, none or "
                                 "passthrough)",
                                 tether_quote(value, q, sizeof(q)));
    }
    return 0;
}

/* Stores one option's value. */
static int set_value(struct tether_conmon_opts *o, const struct opt_def *d, const char *value,
                     struct tether_error *err)
{
    char *base = (char *)o;
    long long n = 0;

    switch (d->kind) {
    case OPT_STRING: {
        char **field = (char **)(base + d->offset);
        free(*field);
        *field = xstrdup(value);
        return 0;
    }
    case OPT_LIST:
        return list_append((char ***)(base + d->offset), d, value, err);
    case OPT_TIMEOUT:
        if (parse_long_long(d, value, INT_MIN, INT_MAX, &n, err) < 0)
            return -1;
        o->timeout_s = n > 0 ? (int)n : 0;
        return 0;
    case OPT_DELAY:
        if (parse_long_long(d, value, 0, TETHER_CONMON_DELAY_MAX, &n, err) < 0)
            return -1;
        o->exit_delay_s = (unsigned)n;
        return 0;
    case OPT_SIZE:
        if (parse_long_long(d, value, INT64_MIN, INT64_MAX, &n, err) < 0)
            return -1;
        o->log_size_max = n;
        return 0;
    case OPT_LOG:
        return parse_log(o, value, err);
    case OPT_LOG_LEVEL:
        return parse_level(value, &o->log_level, err);
    case OPT_FLAG:
    case OPT_API:
    case OPT_REFUSED:
        break;
    }
    return tether_error_setk(err, TETHER_ERR_INVALID, 0, "--%s takes no value", d->name);
}

/* An option without a value (a flag, --api-version, or one this monitor refuses). */
static int set_flag(struct tether_conmon_opts *o, const struct opt_def *d, bool *api_seen,
                    struct tether_error *err)
{
    if (d->kind == OPT_REFUSED)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "--%s is not supported by tether-conmon (%s)", d->name, d->why);
    if (d->kind == OPT_API) {
        o->api_version = true;
        *api_seen = true;
        return 0;
    }
    *(bool *)((char *)o + d->offset) = true;
    return 0;
}

/* argv[*i] is "--name" or "--name=value"; a value may be the next argument. */
static int parse_long(struct tether_conmon_opts *o, int argc, char **argv, int *i, bool *api_seen,
                      struct tether_error *err)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    const struct opt_def *d = find_long(name, eq != NULL ? (size_t)(eq - name) : strlen(name));
    char q[256];

    if (d == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "unknown option %s (see --help)",
                                 tether_quote(argv[*i], q, sizeof(q)));
    if (!takes_value(d)) {
        if (eq != NULL && d->kind != OPT_REFUSED)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0, "--%s takes no value", d->name);
        return set_flag(o, d, api_seen, err);
    }
    if (eq != NULL)
        return set_value(o, d, eq + 1, err);
    if (*i + 1 >= argc)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "--%s needs a value", d->name);
    return set_value(o, d, argv[++*i], err);
}

/* argv[*i] is "-x", "-xVALUE" or grouped flags "-ti". */
static int parse_short(struct tether_conmon_opts *o, int argc, char **argv, int *i, bool *api_seen,
                       struct tether_error *err)
{
    const char *arg = argv[*i];

    for (size_t k = 1; arg[k] != '\0'; k++) {
        const struct opt_def *d = find_short(arg[k]);
        char q[256];

        if (d == NULL)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                     "unknown option -%c in %s (see --help)", arg[k],
                                     tether_quote(arg, q, sizeof(q)));
        if (!takes_value(d)) {
            if (set_flag(o, d, api_seen, err) < 0)
                return -1;
            continue;
        }
        if (arg[k + 1] != '\0')
            return set_value(o, d, arg + k + 1, err);
        if (*i + 1 >= argc)
            return tether_error_setk(err, TETHER_ERR_INVALID, 0, "-%c needs a value", arg[k]);
        return set_value(o, d, argv[++*i], err);
    }
    return 0;
}

int tether_conmon_opts_parse(int argc, char **argv, struct tether_conmon_opts *opts,
                             struct tether_error *err)
{
    bool after_api = false; /* the previous argument was --api-version */

    memset(opts, 0, sizeof(*opts));
    opts->log_level = TETHER_LOG_WARN;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool api_seen = false;
        char q[256];
        int rc;

        if (arg[0] == '-' && arg[1] == '-' && arg[2] != '\0')
            rc = parse_long(opts, argc, argv, &i, &api_seen, err);
        else if (arg[0] == '-' && arg[1] != '\0' && arg[1] != '-')
            rc = parse_short(opts, argc, argv, &i, &api_seen, err);
        else if (after_api)
            rc = 0; /* podman's "--api-version 1" */
        else
            rc = tether_error_setk(err, TETHER_ERR_INVALID, 0, "unexpected argument %s",
                                   tether_quote(arg, q, sizeof(q)));
        if (rc < 0)
            return -1;
        after_api = api_seen;
    }
    return 0;
}

static bool has_preserve_fds(char *const *opts)
{
    for (size_t i = 0; opts != NULL && opts[i] != NULL; i++)
        if (strncmp(opts[i], "--preserve-fds", 14) == 0)
            return true;
    return false;
}

int tether_conmon_opts_check(const struct tether_conmon_opts *o, struct tether_error *err)
{
    int drivers = (o->log_path != NULL) + o->log_journald + o->log_none + o->log_passthrough;

    if (o->cid == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "-c/--cid is required");
    if (o->cuuid == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "-u/--cuuid is required");
    if (o->runtime == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "-r/--runtime is required");
    if (drivers == 0)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "-l/--log-path is required");
    if ((o->log_none || o->log_passthrough) && drivers > 1)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "-l %s cannot be combined with another log driver",
                                 o->log_none ? "none" : "passthrough");
    if (o->log_passthrough && o->terminal)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "-l passthrough cannot be used with a terminal (-t)");
    if (o->exec && o->exec_process_spec == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "-e needs --exec-process-spec");
    if (!o->exec && (o->exec_process_spec != NULL || o->exec_attach))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "--exec-process-spec and --exec-attach need -e");
    if (!o->exec && o->exit_dir == NULL)
        return tether_error_setk(err, TETHER_ERR_INVALID, 0, "--exit-dir is required");
    if (o->exec && (o->runtime_opts != NULL || o->no_pivot || o->no_new_keyring))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "--runtime-opt, --no-pivot and --no-new-keyring apply to a "
                                 "container's create, not to -e");
    if (has_preserve_fds(o->runtime_opts))
        return tether_error_setk(err, TETHER_ERR_INVALID, 0,
                                 "--runtime-opt --preserve-fds is not supported by tether-conmon");
    return 0;
}

void tether_conmon_opts_free(struct tether_conmon_opts *o)
{
    char **strings[] = {&o->cid,
                        &o->cuuid,
                        &o->name,
                        &o->bundle,
                        &o->runtime,
                        &o->container_pidfile,
                        &o->conmon_pidfile,
                        &o->exec_process_spec,
                        &o->exit_dir,
                        &o->exit_command,
                        &o->persist_dir,
                        &o->log_path,
                        &o->log_tag,
                        &o->socket_dir_path};

    for (size_t i = 0; i < TETHER_ARRAY_SIZE(strings); i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    list_free(o->runtime_args);
    list_free(o->runtime_opts);
    list_free(o->exit_command_args);
    o->runtime_args = o->runtime_opts = o->exit_command_args = NULL;
}
