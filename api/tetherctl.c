/* tetherctl: command line parsing, the table of subcommands, help text. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tether/util.h>

#include "tetherctl.h"

enum ctl_option {
    OPT_STATE_DIR = 256,
    OPT_SOCKET,
    OPT_JSON,
    OPT_HELP,
    /* Per-command options from here on: each command lists the ones it accepts. */
    OPT_BUNDLE,
    OPT_RUNTIME,
    OPT_RUNTIME_ROOT,
    OPT_EVENTS,
    OPT_ALL,
    OPT_FORCE,
    OPT_SINCE,
    OPT_INIT,
    OPT_RESTART,
    OPT_TTY,
    OPT_INTERACTIVE,
    OPT_LOG_FORMAT,
    OPT_LOG_PATH,
    OPT_LOG_MAX_SIZE,
    OPT_LOG_MAX_FILES,
    OPT_EXEC,
    OPT_NO_STDIN,
    OPT_EXEC_ID,
    OPT_ENV,
    OPT_WORKDIR,
    OPT_FOLLOW,
    OPT_PATH,
    OPT_MEMORY,
    OPT_CPUS,
    OPT_CPU_QUOTA,
    OPT_CPU_PERIOD,
    OPT_PIDS_LIMIT,
    OPT_RESOURCES,
    OPT_WATCH,
    OPT_INTERVAL,
    OPT_TIMEOUT,
    OPT_SIGNAL,
};

/* Which per-command options a command accepts (the global ones go everywhere). */
#define ACCEPTS(opt) (UINT64_C(1) << ((opt)-OPT_BUNDLE))
#define SHIM_OPTS    (ACCEPTS(OPT_BUNDLE) | ACCEPTS(OPT_RUNTIME) | ACCEPTS(OPT_RUNTIME_ROOT))
#define CREATE_OPTS                                                                                \
    (SHIM_OPTS | ACCEPTS(OPT_INIT) | ACCEPTS(OPT_RESTART) | ACCEPTS(OPT_TTY) |                     \
     ACCEPTS(OPT_INTERACTIVE) | ACCEPTS(OPT_LOG_FORMAT) | ACCEPTS(OPT_LOG_PATH) |                  \
     ACCEPTS(OPT_LOG_MAX_SIZE) | ACCEPTS(OPT_LOG_MAX_FILES))
#define UPDATE_OPTS                                                                                \
    (ACCEPTS(OPT_MEMORY) | ACCEPTS(OPT_CPUS) | ACCEPTS(OPT_CPU_QUOTA) | ACCEPTS(OPT_CPU_PERIOD) |  \
     ACCEPTS(OPT_PIDS_LIMIT) | ACCEPTS(OPT_RESOURCES))

static const struct option ctl_options[] = {
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"socket", required_argument, NULL, OPT_SOCKET},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, OPT_HELP},
    {"bundle", required_argument, NULL, OPT_BUNDLE},
    {"runtime", required_argument, NULL, OPT_RUNTIME},
    {"runtime-root", required_argument, NULL, OPT_RUNTIME_ROOT},
    {"events", no_argument, NULL, OPT_EVENTS},
    {"all", no_argument, NULL, OPT_ALL},
    {"force", no_argument, NULL, OPT_FORCE},
    {"since", required_argument, NULL, OPT_SINCE},
    {"init", no_argument, NULL, OPT_INIT},
    {"restart", required_argument, NULL, OPT_RESTART},
    {"tty", no_argument, NULL, OPT_TTY},
    {"interactive", no_argument, NULL, OPT_INTERACTIVE},
    {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
    {"log-path", required_argument, NULL, OPT_LOG_PATH},
    {"log-max-size", required_argument, NULL, OPT_LOG_MAX_SIZE},
    {"log-max-files", required_argument, NULL, OPT_LOG_MAX_FILES},
    {"exec", required_argument, NULL, OPT_EXEC},
    {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
    {"id", required_argument, NULL, OPT_EXEC_ID},
    {"env", required_argument, NULL, OPT_ENV},
    {"workdir", required_argument, NULL, OPT_WORKDIR},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"path", required_argument, NULL, OPT_PATH},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"cpu-quota", required_argument, NULL, OPT_CPU_QUOTA},
    {"cpu-period", required_argument, NULL, OPT_CPU_PERIOD},
    {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
    {"resources", required_argument, NULL, OPT_RESOURCES},
    {"watch", no_argument, NULL, OPT_WATCH},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"signal", required_argument, NULL, OPT_SIGNAL},
    {NULL, 0, NULL, 0},
};

/* Short forms; a letter may mean different options for different commands (-t is --tty
 * for run, create and exec, --timeout for stop). */
static const struct {
    char letter;
    int opt;
} ctl_shorts[] = {
    {'t', OPT_TTY}, {'t', OPT_TIMEOUT}, {'i', OPT_INTERACTIVE},
    {'e', OPT_ENV}, {'w', OPT_WORKDIR}, {'f', OPT_FOLLOW},
};

struct ctl_command {
    const char *name;
    int (*run)(struct ctl *ctl);
    uint64_t opts;
    int min_args;
    int max_args;
    bool command_after_id; /* the operands after the id are a command line, verbatim */
    const char *synopsis;
    const char *summary; /* one line for the command list */
    const char *help;    /* more, for `tetherctl COMMAND --help` */
};

/* The options of the shim that create and run start, and the create options they share. */
#define CTL_SHIM_HELP                                                                              \
    "  --bundle DIR            the OCI bundle (default: the current directory)\n"                  \
    "  --runtime NAME|PATH     the OCI runtime the shim runs (default runc)\n"                     \
    "  --runtime-root DIR      the runtime's root directory, for its state\n"
#define CTL_CREATE_HELP                                                                            \
    "Create options:\n"                                                                            \
    "  --init                  tether-init as PID 1 in front of the bundle's process\n"            \
    "  --restart POLICY[:MAX]  no, on-failure, always or unless-stopped; MAX retries\n"            \
    "  -t, --tty               a terminal (the bundle's process.terminal must be true;\n"          \
    "                          a bundle asking for one gets one without -t)\n"                     \
    "  -i, --interactive       keep stdin open\n"                                                  \
    "  --log-format FORMAT     cri (default), jsonl, raw or k8s-file\n"                            \
    "  --log-path PATH         default STATE-DIR/ID/container.log\n"                               \
    "  --log-max-size SIZE     rotate past SIZE bytes (k, m, g suffixes)\n"                        \
    "  --log-max-files N       log files kept, the current one included"

static const struct ctl_command ctl_commands[] = {
    {"run", ctl_cmd_run, CREATE_OPTS | ACCEPTS(OPT_EVENTS), 1, 1, false,
     "run ID [--bundle DIR] [--runtime NAME|PATH] [--runtime-root DIR] [--events]\n"
     "      [CREATE OPTIONS] [-t] [-i]",
     "run a container to its end in a new shim; exit with its status",
     "start a shim, create and start the container, wait for it, delete it and stop\n"
     "the shim; exits with the container's status. --events prints its events.\n"
     "SIGINT, SIGTERM, SIGHUP and SIGQUIT are forwarded to the container; the third\n"
     "one sends SIGKILL.\n"
     "With -t or -i the output is printed (stderr apart without a terminal), with -i\n"
     "stdin is forwarded; a terminal on stdin is put in raw mode and its size follows\n"
     "the window. Ctrl-P Ctrl-Q detaches (exit 0, the container goes on).\n"
     "Without them the output only goes to the log (see `tetherctl logs`).\n"
     "With a restart policy run stays through the restarts and ends with the last\n"
     "exit.\n"
     "\n"
     "  --events                print the container's events as they happen\n" CTL_SHIM_HELP
     "\n" CTL_CREATE_HELP},
    {"create", ctl_cmd_create, CREATE_OPTS, 1, 1, false,
     "create ID [--bundle DIR] [--runtime NAME|PATH] [--runtime-root DIR]\n"
     "      [CREATE OPTIONS]",
     "start a shim and create the container in it",
     "start a shim for ID and create the container from the bundle\n"
     "\n" CTL_SHIM_HELP "\n" CTL_CREATE_HELP},
    {"start", ctl_cmd_start, 0, 1, 1, false, "start ID", "start a created container",
     "start a created container"},
    {"attach", ctl_cmd_attach, ACCEPTS(OPT_EXEC) | ACCEPTS(OPT_NO_STDIN), 1, 1, false,
     "attach ID [--exec EXEC_ID] [--no-stdin]", "connect to a running process's output and input",
     "print the output of the container's process (or of an exec) and forward stdin\n"
     "to it when it has one (not with --no-stdin). A terminal on stdin is put in raw\n"
     "mode and its size follows the window. Ctrl-P Ctrl-Q detaches; otherwise attach\n"
     "ends when the process exits, with its status (an exec's record is removed\n"
     "then). Output from before the attach is in the log."},
    {"exec", ctl_cmd_exec,
     ACCEPTS(OPT_TTY) | ACCEPTS(OPT_INTERACTIVE) | ACCEPTS(OPT_EXEC_ID) | ACCEPTS(OPT_ENV) |
         ACCEPTS(OPT_WORKDIR),
     1, 1, true, "exec ID [-t] [-i] [--id EXEC_ID] [-e K=V]... [-w DIR] [--] CMD [ARG...]",
     "run a command in a running container; exit with its status",
     "run CMD in the container, print its output and exit with its status.\n"
     "  -t, --tty          a terminal\n"
     "  -i, --interactive  forward stdin (EOF closes the command's stdin)\n"
     "  --id EXEC_ID       the exec's id (default exec-<pid>-<n>)\n"
     "  -e, --env K=V      environment, after PATH=/usr/local/sbin:...:/bin\n"
     "  -w, --workdir DIR  working directory (default /)\n"
     "Ctrl-P Ctrl-Q detaches from an interactive exec; the exec is removed when it ends.\n"
     "A command that cannot be found exits 127, one that cannot be run 126."},
    {"state", ctl_cmd_state, ACCEPTS(OPT_EXEC), 1, 1, false, "state ID [--exec EXEC_ID]",
     "show the container's (or an exec's) state", "show the container's or an exec's state"},
    {"kill", ctl_cmd_kill, ACCEPTS(OPT_ALL) | ACCEPTS(OPT_EXEC), 1, 2, false,
     "kill ID [SIGNAL] [--all] [--exec EXEC_ID]", "send a signal to the container",
     "send SIGNAL (name or number, default SIGTERM) to the container's init, with\n"
     "--all to all of its processes, with --exec to that exec"},
    {"stop", ctl_cmd_stop, ACCEPTS(OPT_TIMEOUT) | ACCEPTS(OPT_SIGNAL), 1, 1, false,
     "stop ID [-t|--timeout SECONDS] [--signal SIGNAL]",
     "stop the container: signal, then SIGKILL; exit with its status",
     "send SIGNAL (default: the bundle's stop signal, else SIGTERM), wait up to\n"
     "SECONDS (default 10) and then send SIGKILL; the shim carries it out even if\n"
     "tetherctl goes away. Prints and exits with the container's exit status."},
    {"wait", ctl_cmd_wait, 0, 1, 1, false, "wait ID",
     "wait for the container to exit; exit with its status",
     "wait until the container exits; exits with its status"},
    {"pause", ctl_cmd_pause, 0, 1, 1, false, "pause ID", "freeze every process of the container",
     "freeze every process of the container (the runtime's pause)"},
    {"resume", ctl_cmd_resume, 0, 1, 1, false, "resume ID", "thaw a paused container",
     "thaw a paused container (the runtime's resume)"},
    {"update", ctl_cmd_update, UPDATE_OPTS, 1, 1, false,
     "update ID [--memory SIZE] [--cpus N | --cpu-quota US --cpu-period US]\n"
     "      [--pids-limit N] [--resources JSON]",
     "change the container's resource limits",
     "change resource limits through the runtime's update. SIZE takes k, m, g\n"
     "suffixes; --cpus N is N CPUs' worth of time (quota N*100000 over a period of\n"
     "100000 us). --resources gives an OCI LinuxResources object; the other options\n"
     "are applied on top of it."},
    {"stats", ctl_cmd_stats, ACCEPTS(OPT_WATCH) | ACCEPTS(OPT_INTERVAL), 1, 1, false,
     "stats ID [--watch [--interval SECONDS]]", "show CPU, memory and pids use",
     "show CPU use (% of one CPU over a short sample, or over each interval with\n"
     "--watch, default 1 s), memory usage and limit, and the number of processes.\n"
     "--json prints the shim's result instead (one line per interval with --watch).\n"
     "--watch ends when the container stops."},
    {"top", ctl_cmd_top, 0, 1, 1, false, "top ID", "list the container's processes in detail",
     "list the container's processes: user, pid, parent, state, CPU time, the exec\n"
     "they belong to, and the command line"},
    {"ps", ctl_cmd_ps, 0, 1, 1, false, "ps ID", "list the container's processes",
     "list the container's processes"},
    {"logs", ctl_cmd_logs, ACCEPTS(OPT_FOLLOW) | ACCEPTS(OPT_PATH), 1, 1, false,
     "logs ID [-f|--follow] [--path PATH]", "print the container's log as plain text",
     "print the log (default STATE-DIR/ID/container.log) in any format as plain text:\n"
     "stdout records to stdout, stderr records to stderr. -f keeps following the\n"
     "log, across rotations, until the container exits."},
    {"events", ctl_cmd_events, ACCEPTS(OPT_SINCE), 1, 1, false, "events ID [--since SEQ]",
     "print the container's events as they happen",
     "print the events after SEQ (default 0: all that are retained), then new ones\n"
     "as they happen, until the shim goes away"},
    {"delete", ctl_cmd_delete, ACCEPTS(OPT_FORCE), 1, 1, false, "delete ID [--force]",
     "delete the container",
     "delete a stopped or created container; --force kills a running one first"},
    {"shutdown", ctl_cmd_shutdown, ACCEPTS(OPT_FORCE), 1, 1, false, "shutdown ID [--force]",
     "stop the shim", "stop the shim; --force also when its container still exists (it is killed)"},
    {"version", ctl_cmd_version, 0, 0, 1, false, "version [ID]", "show versions",
     "show tetherctl's version, and with ID the shim's and its runtime's"},
    {"ls", ctl_cmd_ls, 0, 0, 0, false, "ls", "list the containers in the state directory",
     "list every container in the state directory: status, container and shim pid,\n"
     "whether the shim is alive, exit status"},
};

static void print_usage(FILE *out)
{
    fprintf(out, "usage: tetherctl [--state-dir DIR] [--socket PATH] [--json] COMMAND [ARG...]\n"
                 "\n"
                 "Talks to tether-shim, the per-container shim of OCI containers.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(ctl_commands); i++)
        fprintf(out, "  %s\n      %s\n", ctl_commands[i].synopsis, ctl_commands[i].summary);
    fprintf(out,
            "\n"
            "Options (accepted before or after the command):\n"
            "  --state-dir DIR  where shims keep their state (default " CTL_DEFAULT_STATE_DIR ")\n"
            "  --socket PATH    the shim's socket (default STATE-DIR/ID/shim.sock)\n"
            "  --json           print results as JSON, one document per line\n"
            "  -h, --help       show this help; `tetherctl COMMAND --help` for a command\n"
            "\n"
            "The shim binary is $TETHER_SHIM if set, else tether-shim next to tetherctl,\n"
            "else tether-shim on PATH.\n"
            "\n"
            "Exit status: 0 on success, 1 on failure, 2 on a usage error. run, wait,\n"
            "attach, exec and stop exit with the process's status (128+N after death by\n"
            "signal N), and with 125 when tetherctl itself fails.\n");
}

static void print_command_help(const struct ctl_command *cmd)
{
    const char *p = cmd->help;

    printf("usage: tetherctl [GLOBAL OPTIONS] %s\n\n", cmd->synopsis);
    /* Indent every line of the help text. */
    while (*p != '\0') {
        size_t n = strcspn(p, "\n");
        if (n > 0)
            printf("  %.*s\n", (int)n, p);
        else
            putchar('\n');
        p += n;
        if (*p == '\n')
            p++;
    }
}

int ctl_fail(const struct tether_error *err, int status)
{
    fprintf(stderr, "tetherctl: %s\n", err->msg[0] != '\0' ? err->msg : "unknown error");
    return status;
}

int ctl_usage_error(const char *fmt, ...)
{
    va_list ap;

    fputs("tetherctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    return CTL_EXIT_USAGE;
}

int64_t ctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ctl_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

    while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static const struct ctl_command *find_command(const char *name)
{
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(ctl_commands); i++)
        if (strcmp(ctl_commands[i].name, name) == 0)
            return &ctl_commands[i];
    return NULL;
}

static const char *option_name(int opt)
{
    for (const struct option *o = ctl_options; o->name != NULL; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

/* A whole non-negative decimal number up to max. */
static int parse_count(const char *s, int64_t max, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

/* Bytes with an optional binary suffix: 512, 64k, 256m, 2g (b, kb, mb... too). */
static int parse_size(const char *s, int64_t *out)
{
    static const char units[] = "bkmgt";
    char *end;
    unsigned long long v;
    const char *u;
    int shift;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || s[0] == '-' || s[0] == '+')
        return -1;
    if (*end == '\0') {
        u = units;
    } else {
        u = strchr(units, end[0] | 0x20);
        if (u == NULL || (end[1] != '\0' && !((end[1] | 0x20) == 'b' && end[2] == '\0')))
            return -1;
    }
    shift = (int)(u - units) * 10;
    if (v > (unsigned long long)INT64_MAX >> shift)
        return -1;
    *out = (int64_t)(v << shift);
    return 0;
}

static int parse_positive_real(const char *s, double *out)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v <= 0)
        return -1;
    *out = v;
    return 0;
}

/* Options with a numeric argument; returns 0 or an exit status. */
static int apply_number(struct ctl *ctl, int opt, const char *arg)
{
    int64_t *target = NULL;
    int64_t max = INT64_MAX;
    int rc;

    switch (opt) {
    case OPT_SINCE:
        target = &ctl->since;
        break;
    case OPT_LOG_MAX_SIZE:
        target = &ctl->log_max_size;
        break;
    case OPT_MEMORY:
        target = &ctl->memory;
        break;
    case OPT_LOG_MAX_FILES:
        target = &ctl->log_max_files;
        max = 1000;
        break;
    case OPT_CPU_QUOTA:
        target = &ctl->cpu_quota;
        break;
    case OPT_CPU_PERIOD:
        target = &ctl->cpu_period;
        break;
    case OPT_PIDS_LIMIT:
        target = &ctl->pids_limit;
        break;
    case OPT_TIMEOUT:
        target = &ctl->timeout;
        max = 86400;
        break;
    case OPT_CPUS:
        if (parse_positive_real(arg, &ctl->cpus) < 0)
            return ctl_usage_error("--cpus wants a positive number, not \"%s\"", arg);
        return 0;
    case OPT_INTERVAL:
        if (parse_positive_real(arg, &ctl->interval) < 0 || ctl->interval > 86400)
            return ctl_usage_error("--interval wants seconds, not \"%s\"", arg);
        return 0;
    default:
        return ctl_usage_error("--%s: not a number option", option_name(opt));
    }
    if (opt == OPT_LOG_MAX_SIZE || opt == OPT_MEMORY)
        rc = parse_size(arg, target);
    else
        rc = parse_count(arg, max, target);
    if (rc < 0)
        return ctl_usage_error("--%s wants %s, not \"%s\"", option_name(opt),
                               opt == OPT_LOG_MAX_SIZE || opt == OPT_MEMORY
                                   ? "a size (bytes, or with a k, m or g suffix)"
                                   : "a whole number in range",
                               arg);
    return 0;
}

/* Applies one option to ctl. cmd is NULL while the global options (before the command) are
 * parsed. Returns 0, or an exit status to stop with. */
static int apply_option(struct ctl *ctl, const struct ctl_command *cmd, int opt, const char *arg,
                        bool *help)
{
    if (opt >= OPT_BUNDLE && (cmd == NULL || (cmd->opts & ACCEPTS(opt)) == 0)) {
        if (cmd == NULL)
            return ctl_usage_error("--%s goes after the command", option_name(opt));
        return ctl_usage_error("%s does not take --%s", cmd->name, option_name(opt));
    }
    switch ((enum ctl_option)opt) {
    case OPT_STATE_DIR:
        ctl->state_dir = arg;
        break;
    case OPT_SOCKET:
        ctl->socket = arg;
        break;
    case OPT_JSON:
        ctl->json = true;
        break;
    case OPT_HELP:
        *help = true;
        break;
    case OPT_BUNDLE:
        ctl->bundle = arg;
        break;
    case OPT_RUNTIME:
        ctl->runtime = arg;
        break;
    case OPT_RUNTIME_ROOT:
        ctl->runtime_root = arg;
        break;
    case OPT_EVENTS:
        ctl->events = true;
        break;
    case OPT_ALL:
        ctl->all = true;
        break;
    case OPT_FORCE:
        ctl->force = true;
        break;
    case OPT_INIT:
        ctl->init = true;
        break;
    case OPT_RESTART:
        ctl->restart = arg;
        break;
    case OPT_TTY:
        ctl->tty = true;
        break;
    case OPT_INTERACTIVE:
        ctl->interactive = true;
        break;
    case OPT_LOG_FORMAT:
        ctl->log_format = arg;
        break;
    case OPT_LOG_PATH:
        ctl->log_path = arg;
        break;
    case OPT_EXEC:
    case OPT_EXEC_ID:
        if (!tether_id_valid(arg))
            return ctl_usage_error("invalid exec id \"%s\": it must match "
                                   "[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
                                   arg);
        ctl->exec_id = arg;
        break;
    case OPT_NO_STDIN:
        ctl->no_stdin = true;
        break;
    case OPT_ENV:
        if (strchr(arg, '=') == NULL || arg[0] == '=')
            return ctl_usage_error("-e wants NAME=VALUE, not \"%s\"", arg);
        if (ctl->n_env == CTL_ENV_MAX)
            return ctl_usage_error("more than %d -e options", CTL_ENV_MAX);
        ctl->env[ctl->n_env++] = arg;
        break;
    case OPT_WORKDIR:
        if (arg[0] != '/')
            return ctl_usage_error("-w wants an absolute path, not \"%s\"", arg);
        ctl->workdir = arg;
        break;
    case OPT_FOLLOW:
        ctl->follow = true;
        break;
    case OPT_PATH:
        ctl->path = arg;
        break;
    case OPT_RESOURCES:
        ctl->resources = arg;
        break;
    case OPT_WATCH:
        ctl->watch = true;
        break;
    case OPT_SIGNAL:
        if (tether_signal_parse(arg) < 1)
            return ctl_usage_error("unknown signal \"%s\"", arg);
        ctl->signal = arg;
        break;
    case OPT_SINCE:
    case OPT_LOG_MAX_SIZE:
    case OPT_LOG_MAX_FILES:
    case OPT_MEMORY:
    case OPT_CPUS:
    case OPT_CPU_QUOTA:
    case OPT_CPU_PERIOD:
    case OPT_PIDS_LIMIT:
    case OPT_INTERVAL:
    case OPT_TIMEOUT:
        return apply_number(ctl, opt, arg);
    }
    return 0;
}

/* The getopt string of the short options cmd accepts ("h" always). */
static void short_options(const struct ctl_command *cmd, char *buf, size_t len)
{
    size_t n = 0;

    buf[n++] = '+'; /* operands are collected one by one, see parse_command */
    buf[n++] = 'h';
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(ctl_shorts) && n + 3 < len; i++) {
        if ((cmd->opts & ACCEPTS(ctl_shorts[i].opt)) == 0)
            continue;
        buf[n++] = ctl_shorts[i].letter;
        for (const struct option *o = ctl_options; o->name != NULL; o++)
            if (o->val == ctl_shorts[i].opt && o->has_arg == required_argument)
                buf[n++] = ':';
    }
    buf[n] = '\0';
}

static int long_of_short(const struct ctl_command *cmd, int letter)
{
    if (letter == 'h')
        return OPT_HELP;
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(ctl_shorts); i++)
        if (ctl_shorts[i].letter == letter && (cmd->opts & ACCEPTS(ctl_shorts[i].opt)) != 0)
            return ctl_shorts[i].opt;
    return letter;
}

/* Parses the command's own options and operands (argv[0] is the command name). Options
 * may come anywhere among the operands; after "--", and for exec after the id, the rest is
 * taken verbatim. */
static int parse_command(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv,
                         char **operands, bool *help)
{
    char shorts[32];
    int n = 0, opt, rc;

    short_options(cmd, shorts, sizeof(shorts));
    optind = 0; /* glibc: start over */
    for (;;) {
        int before = optind;
        opt = getopt_long(argc, argv, shorts, ctl_options, NULL);
        if (opt == '?')
            return CTL_EXIT_USAGE;
        if (opt != -1) {
            rc = apply_option(ctl, cmd, long_of_short(cmd, opt), optarg, help);
            if (rc != 0)
                return rc;
            continue;
        }
        if (optind >= argc)
            break;
        if (optind == before + 1 && strcmp(argv[before], "--") == 0)
            break; /* "--": the rest are operands */
        if (cmd->command_after_id && n == 1)
            break;
        operands[n++] = argv[optind++];
    }
    if (*help)
        return 0;
    while (optind < argc && !(cmd->command_after_id && n == 1))
        operands[n++] = argv[optind++];
    ctl->argc = n;
    ctl->argv = operands;
    ctl->cmd_argc = argc - optind;
    ctl->cmd_argv = argv + optind;
    if (ctl->argc < cmd->min_args || ctl->argc > cmd->max_args ||
        (cmd->command_after_id && ctl->cmd_argc == 0))
        return ctl_usage_error("usage: tetherctl %s", cmd->synopsis);
    if (ctl->argc > 0) {
        ctl->id = ctl->argv[0];
        if (!tether_id_valid(ctl->id))
            return ctl_usage_error("invalid container id \"%s\": it must match "
                                   "[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
                                   ctl->id);
    }
    return 0;
}

static void ctl_defaults(struct ctl *ctl)
{
    memset(ctl, 0, sizeof(*ctl));
    ctl->state_dir = CTL_DEFAULT_STATE_DIR;
    ctl->bundle = ".";
    ctl->log_max_size = CTL_UNSET;
    ctl->log_max_files = CTL_UNSET;
    ctl->memory = CTL_UNSET;
    ctl->cpus = -1;
    ctl->cpu_quota = CTL_UNSET;
    ctl->cpu_period = CTL_UNSET;
    ctl->pids_limit = CTL_UNSET;
    ctl->interval = 1.0;
    ctl->timeout = CTL_UNSET;
}

int main(int argc, char **argv)
{
    struct ctl ctl;
    const struct ctl_command *cmd;
    cleanup_free char **operands = NULL;
    bool help = false;
    int opt, rc;

    ctl_defaults(&ctl);
    while ((opt = getopt_long(argc, argv, "+h", ctl_options, NULL)) != -1) {
        if (opt == '?')
            return CTL_EXIT_USAGE;
        rc = apply_option(&ctl, NULL, opt == 'h' ? OPT_HELP : opt, optarg, &help);
        if (rc != 0)
            return rc;
    }
    if (help) {
        print_usage(stdout);
        return CTL_EXIT_OK;
    }
    if (optind >= argc) {
        print_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    cmd = find_command(argv[optind]);
    if (cmd == NULL)
        return ctl_usage_error("unknown command \"%s\" (see tetherctl --help)", argv[optind]);
    operands = xzalloc((size_t)(argc - optind + 1) * sizeof(*operands));
    rc = parse_command(&ctl, cmd, argc - optind, argv + optind, operands, &help);
    if (rc != 0)
        return rc;
    if (help) {
        print_command_help(cmd);
        return CTL_EXIT_OK;
    }
    if (ctl.state_dir[0] == '\0')
        return ctl_usage_error("--state-dir must not be empty");
    return cmd->run(&ctl);
}
