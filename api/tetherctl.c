/* tetherctl: command line parsing, the table of subcommands, help text. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "tetherctl.h"

enum ctl_option {
    OPT_STATE_DIR = 256,
    OPT_SOCKET,
    OPT_JSON,
    OPT_HELP,
    OPT_BUNDLE,
    OPT_RUNTIME,
    OPT_RUNTIME_ROOT,
    OPT_EVENTS,
    OPT_ALL,
    OPT_FORCE,
    OPT_SINCE,
};

/* Which per-command options a command accepts (the global ones go everywhere). */
#define ACCEPTS(opt) (1u << ((opt)-OPT_BUNDLE))
#define SHIM_OPTS    (ACCEPTS(OPT_BUNDLE) | ACCEPTS(OPT_RUNTIME) | ACCEPTS(OPT_RUNTIME_ROOT))

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
    {NULL, 0, NULL, 0},
};

struct ctl_command {
    const char *name;
    int (*run)(struct ctl *ctl);
    unsigned opts;
    int min_args;
    int max_args;
    const char *synopsis;
    const char *summary; /* one line for the command list */
    const char *help;    /* more, for `tetherctl COMMAND --help` */
};

static const struct ctl_command ctl_commands[] = {
    {"run", ctl_cmd_run, SHIM_OPTS | ACCEPTS(OPT_EVENTS), 1, 1,
     "run ID [--bundle DIR] [--runtime NAME|PATH] [--runtime-root DIR] [--events]",
     "run a container to its end in a new shim; exit with its status",
     "start a shim, create and start the container, wait for it, delete it and stop\n"
     "the shim; exits with the container's status. --events prints its events.\n"
     "SIGINT, SIGTERM, SIGHUP and SIGQUIT are forwarded to the container; the third\n"
     "one sends SIGKILL"},
    {"create", ctl_cmd_create, SHIM_OPTS, 1, 1,
     "create ID [--bundle DIR] [--runtime NAME|PATH] [--runtime-root DIR]",
     "start a shim and create the container in it",
     "start a shim for ID and create the container from the bundle (default: .)"},
    {"start", ctl_cmd_start, 0, 1, 1, "start ID", "start a created container",
     "start a created container"},
    {"state", ctl_cmd_state, 0, 1, 1, "state ID", "show the container's state",
     "show the container's state"},
    {"kill", ctl_cmd_kill, ACCEPTS(OPT_ALL), 1, 2, "kill ID [SIGNAL] [--all]",
     "send a signal to the container",
     "send SIGNAL (name or number, default SIGTERM) to the container's init, or with\n"
     "--all to all of its processes"},
    {"wait", ctl_cmd_wait, 0, 1, 1, "wait ID",
     "wait for the container to exit; exit with its status",
     "wait until the container exits; exits with its status"},
    {"ps", ctl_cmd_ps, 0, 1, 1, "ps ID", "list the container's processes",
     "list the container's processes"},
    {"events", ctl_cmd_events, ACCEPTS(OPT_SINCE), 1, 1, "events ID [--since SEQ]",
     "print the container's events as they happen",
     "print the events after SEQ (default 0: all that are retained), then new ones\n"
     "as they happen, until the shim goes away"},
    {"delete", ctl_cmd_delete, ACCEPTS(OPT_FORCE), 1, 1, "delete ID [--force]",
     "delete the container",
     "delete a stopped or created container; --force kills a running one first"},
    {"shutdown", ctl_cmd_shutdown, ACCEPTS(OPT_FORCE), 1, 1, "shutdown ID [--force]",
     "stop the shim", "stop the shim; --force also when its container still exists (it is killed)"},
    {"version", ctl_cmd_version, 0, 0, 1, "version [ID]", "show versions",
     "show tetherctl's version, and with ID the shim's and its runtime's"},
    {"ls", ctl_cmd_ls, 0, 0, 0, "ls", "list the containers in the state directory",
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
            "Exit status: 0 on success, 1 on failure, 2 on a usage error. run and wait\n"
            "exit with the container's status (128+N after death by signal N), and with\n"
            "125 when tetherctl itself fails.\n");
}

static void print_command_help(const struct ctl_command *cmd)
{
    const char *p = cmd->help;

    printf("usage: tetherctl [GLOBAL OPTIONS] %s\n\n", cmd->synopsis);
    /* Indent every line of the help text. */
    while (*p != '\0') {
        size_t n = strcspn(p, "\n");
        printf("  %.*s\n", (int)n, p);
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

static const struct ctl_command *find_command(const char *name)
{
    for (size_t i = 0; i < TETHER_ARRAY_SIZE(ctl_commands); i++)
        if (strcmp(ctl_commands[i].name, name) == 0)
            return &ctl_commands[i];
    return NULL;
}

static int parse_since(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* Applies one option to ctl. cmd is NULL while the global options (before the command) are
 * parsed. Returns 0, or an exit status to stop with. */
static int apply_option(struct ctl *ctl, const struct ctl_command *cmd, int opt, bool *help)
{
    if (opt >= OPT_BUNDLE && (cmd == NULL || (cmd->opts & ACCEPTS(opt)) == 0)) {
        const char *name = "?";
        for (const struct option *o = ctl_options; o->name != NULL; o++)
            if (o->val == opt)
                name = o->name;
        if (cmd == NULL)
            return ctl_usage_error("--%s goes after the command", name);
        return ctl_usage_error("%s does not take --%s", cmd->name, name);
    }
    switch ((enum ctl_option)opt) {
    case OPT_STATE_DIR:
        ctl->state_dir = optarg;
        break;
    case OPT_SOCKET:
        ctl->socket = optarg;
        break;
    case OPT_JSON:
        ctl->json = true;
        break;
    case OPT_HELP:
        *help = true;
        break;
    case OPT_BUNDLE:
        ctl->bundle = optarg;
        break;
    case OPT_RUNTIME:
        ctl->runtime = optarg;
        break;
    case OPT_RUNTIME_ROOT:
        ctl->runtime_root = optarg;
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
    case OPT_SINCE:
        if (parse_since(optarg, &ctl->since) < 0)
            return ctl_usage_error("--since wants a sequence number, not \"%s\"", optarg);
        break;
    }
    return 0;
}

/* Parses the command's own options and operands (argv[0] is the command name). */
static int parse_command(struct ctl *ctl, const struct ctl_command *cmd, int argc, char **argv,
                         bool *help)
{
    int opt, rc;

    optind = 0; /* glibc: start over, permuting options and operands */
    while ((opt = getopt_long(argc, argv, "h", ctl_options, NULL)) != -1) {
        if (opt == '?')
            return CTL_EXIT_USAGE;
        rc = apply_option(ctl, cmd, opt == 'h' ? OPT_HELP : opt, help);
        if (rc != 0)
            return rc;
    }
    if (*help)
        return 0;
    ctl->argc = argc - optind;
    ctl->argv = argv + optind;
    if (ctl->argc < cmd->min_args || ctl->argc > cmd->max_args)
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

int main(int argc, char **argv)
{
    struct ctl ctl = {.state_dir = CTL_DEFAULT_STATE_DIR, .bundle = "."};
    const struct ctl_command *cmd;
    bool help = false;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "+h", ctl_options, NULL)) != -1) {
        if (opt == '?')
            return CTL_EXIT_USAGE;
        rc = apply_option(&ctl, NULL, opt == 'h' ? OPT_HELP : opt, &help);
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
    rc = parse_command(&ctl, cmd, argc - optind, argv + optind, &help);
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
