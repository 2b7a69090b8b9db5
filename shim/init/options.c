/* The command line: tether-init [OPTIONS] [--] CMD [ARGS...]. Parsing stops at the first
 * non-option so that CMD's own options are left alone. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init.h"

#ifndef TETHER_VERSION
#define TETHER_VERSION "unknown"
#endif

enum {
    OPT_GRACE = 0x100,
    OPT_KILL_TIMEOUT,
    OPT_VERSION,
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"kill-timeout", required_argument, NULL, OPT_KILL_TIMEOUT},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage: tether-init [OPTIONS] [--] CMD [ARGS...]\n"
    "Runs CMD as its child, forwards every signal it gets to it, reaps zombies and exits\n"
    "with CMD's status.\n"
    "\n"
    "  -g                      forward signals to CMD's process group, not CMD alone\n"
    "  -s                      be a child subreaper (implied when not PID 1)\n"
    "  -e CODE                 exit 0 when CMD exits with CODE (repeatable; a death by\n"
    "                          a signal is never mapped)\n"
    "  -p SIGNAL               get SIGNAL when the parent dies (PR_SET_PDEATHSIG)\n"
    "  -v                      more messages on stderr (repeatable)\n"
    "      --grace SECONDS     once CMD has exited, how long the other processes get\n"
    "                          between SIGTERM and SIGKILL (default 5, or\n"
    "                          $TETHER_INIT_GRACE; 0: no wait)\n"
    "      --kill-timeout SECONDS\n"
    "                          when CMD is still running this long after a SIGTERM or\n"
    "                          SIGINT, SIGKILL it and every other process at once, with\n"
    "                          no --grace (default: wait for it)\n"
    "  -h, --help              show this text\n"
    "      --version           show the version\n"
    "\n"
    "Exit status: CMD's exit code, 128+N when it died of signal N, 126 when CMD cannot\n"
    "be run, 127 when it is not found, 100 for a bad command line, 111 when a system\n"
    "call failed.\n";

static const char version_text[] = "tether-init " TETHER_VERSION "\n";

static void write_text(int fd, const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, text, len);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

void init_options_usage(int fd)
{
    write_text(fd, usage_text, sizeof usage_text - 1);
}

void init_options_version(int fd)
{
    write_text(fd, version_text, sizeof version_text - 1);
}

/* Non-negative decimal seconds with an optional fraction ("5", "0.25") into
 * milliseconds; digits past the millisecond are dropped. */
static int parse_seconds(const char *s, int64_t *ms)
{
    int64_t whole = 0, frac = 0, scale = 100;

    if (*s < '0' || *s > '9')
        return -1;
    for (; *s >= '0' && *s <= '9'; s++) {
        whole = whole * 10 + (*s - '0');
        if (whole > INIT_SECONDS_MAX)
            return -1;
    }
    if (*s == '.') {
        if (*++s < '0' || *s > '9')
            return -1;
        for (; *s >= '0' && *s <= '9'; s++, scale /= 10)
            frac += (*s - '0') * scale;
    }
    if (*s)
        return -1;
    *ms = whole * 1000 + frac;
    return 0;
}

static int parse_exit_code(const char *s)
{
    int v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v >= INIT_EXIT_CODES)
            return -1;
    }
    return v;
}

/* One option; 0 when taken, -1 with err filled. */
static int parse_option(struct init_options *opt, int c, const char *arg, struct init_error *err)
{
    int v;

    switch (c) {
    case 'g':
        opt->group = true;
        return 0;
    case 's':
        opt->subreaper = true;
        return 0;
    case 'v':
        opt->verbosity++;
        return 0;
    case 'e':
        v = parse_exit_code(arg);
        if (v < 0)
            return init_error_set(err, 0, "-e %s: not an exit code (0-255)", arg);
        opt->expect[v / 64] |= UINT64_C(1) << (v % 64);
        return 0;
    case 'p':
        opt->pdeathsig = init_sig_parse(arg);
        if (opt->pdeathsig < 0)
            return init_error_set(err, 0, "-p %s: unknown signal", arg);
        return 0;
    case OPT_GRACE:
        if (parse_seconds(arg, &opt->grace_ms) < 0)
            return init_error_set(err, 0, "--grace %s: not a number of seconds", arg);
        return 0;
    case OPT_KILL_TIMEOUT:
        if (parse_seconds(arg, &opt->kill_timeout_ms) < 0)
            return init_error_set(err, 0, "--kill-timeout %s: not a number of seconds", arg);
        return 0;
    default:
        return init_error_set(err, 0, "unexpected option");
    }
}

/* getopt_long's '?' (unknown option) or ':' (missing argument) as a message. optopt is the
 * short option's letter, or for long options 0 or the option's value: then the word
 * itself is the last argument getopt looked at. */
static enum init_parse_result bad_option(int c, int argc, char **argv, struct init_error *err)
{
    const char *word = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
    const char *what = c == ':' ? "needs an argument" : "is unknown";

    if (optopt > ' ' && optopt < 0x7f)
        init_error_set(err, 0, "option -%c %s (see --help)", optopt, what);
    else
        init_error_set(err, 0, "option %s %s (see --help)", word, what);
    return INIT_PARSE_USAGE;
}

enum init_parse_result init_options_parse(struct init_options *opt, int argc, char **argv,
                                          struct init_error *err)
{
    const char *env = getenv("TETHER_INIT_GRACE");
    int c;

    memset(opt, 0, sizeof *opt);
    opt->grace_ms = INIT_DEFAULT_GRACE_MS;
    opt->kill_timeout_ms = -1;
    if (env && *env && parse_seconds(env, &opt->grace_ms) < 0) {
        init_error_set(err, 0, "TETHER_INIT_GRACE=%s: not a number of seconds", env);
        return INIT_PARSE_USAGE;
    }
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:hgsve:p:", long_options, NULL)) != -1) {
        if (c == 'h')
            return INIT_PARSE_HELP;
        if (c == OPT_VERSION)
            return INIT_PARSE_VERSION;
        if (c == '?' || c == ':')
            return bad_option(c, argc, argv, err);
        if (parse_option(opt, c, optarg, err) < 0)
            return INIT_PARSE_USAGE;
    }
    if (optind >= argc) {
        init_error_set(err, 0, "no command given (see --help)");
        return INIT_PARSE_USAGE;
    }
    opt->argv = argv + optind;
    return INIT_PARSE_RUN;
}
