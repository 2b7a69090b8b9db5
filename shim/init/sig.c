/* Signal numbers and names, the raw signal mask and the one place tether-init waits. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

/* The kernel's sigset_t on every architecture tether supports is 64 bits (_NSIG 64). */
#define KERNEL_NSIG 64

static const struct {
    int sig;
    const char name[8];
} sig_names[] = {
    {SIGHUP, "HUP"},   {SIGINT, "INT"},       {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"}, {SIGABRT, "ABRT"},     {SIGBUS, "BUS"},   {SIGFPE, "FPE"},
    {SIGKILL, "KILL"}, {SIGUSR1, "USR1"},     {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"}, {SIGALRM, "ALRM"},     {SIGTERM, "TERM"}, {SIGSTKFLT, "STKFLT"},
    {SIGCHLD, "CHLD"}, {SIGCONT, "CONT"},     {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},
    {SIGTTIN, "TTIN"}, {SIGTTOU, "TTOU"},     {SIGURG, "URG"},   {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"}, {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"},
    {SIGIO, "IO"},     {SIGPWR, "PWR"},       {SIGSYS, "SYS"},   {SIGIOT, "IOT"},
    {SIGPOLL, "POLL"},
};

/* A decimal number in [0, max] spanning the whole of s; -1 otherwise. */
static int parse_small(const char *s, int max)
{
    int v = 0;

    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
        if (v > max)
            return -1;
    }
    return v;
}

/* "RTMIN", "RTMIN+n", "RTMAX", "RTMAX-n", counted from this libc's SIGRTMIN (musl keeps
 * three real-time signals, glibc two, so RTMIN is 35 here and 34 in glibc programs):
 * a number is the unambiguous way to name a real-time signal. */
static int parse_rt(const char *s)
{
    int base, off = 0, sign;

    if (!strncasecmp(s, "RTMIN", 5)) {
        base = SIGRTMIN;
        sign = 1;
    } else if (!strncasecmp(s, "RTMAX", 5)) {
        base = SIGRTMAX;
        sign = -1;
    } else {
        return -1;
    }
    s += 5;
    if (*s) {
        if (*s != (sign > 0 ? '+' : '-'))
            return -1;
        off = parse_small(s + 1, KERNEL_NSIG);
        if (off < 0)
            return -1;
    }
    base += sign * off;
    return base >= SIGRTMIN && base <= SIGRTMAX ? base : -1;
}

int init_sig_parse(const char *s)
{
    int sig = parse_small(s, KERNEL_NSIG);

    if (sig > 0)
        return sig;
    if (sig == 0)
        return -1;
    if (!strncasecmp(s, "SIG", 3))
        s += 3;
    for (size_t i = 0; i < sizeof sig_names / sizeof sig_names[0]; i++)
        if (!strcasecmp(s, sig_names[i].name))
            return sig_names[i].sig;
    return parse_rt(s);
}

const char *init_sig_name(int sig, char *buf, size_t len)
{
    for (size_t i = 0; i < sizeof sig_names / sizeof sig_names[0]; i++) {
        if (sig_names[i].sig == sig) {
            init_format(buf, len, "SIG%s", sig_names[i].name);
            return buf;
        }
    }
    init_format(buf, len, "signal %d", sig);
    return buf;
}

/* rt_sigprocmask(2) directly: both glibc and musl refuse to block the signals they use
 * internally (glibc silently drops 32 and 33 from the set), and a signal that stayed
 * unblocked would kill PID 1 or be lost instead of being forwarded. */
int init_sig_setmask(const uint64_t *set, uint64_t *old)
{
    return (int)syscall(SYS_rt_sigprocmask, SIG_SETMASK, set, old, sizeof(uint64_t));
}

int init_sig_wait(int64_t timeout_ms)
{
    sigset_t all;
    siginfo_t si;
    struct timespec ts;

    /* Every bit set, not sigfillset(): that one leaves out the libc's internal signals. */
    memset(&all, 0xff, sizeof all);
    if (timeout_ms < 0)
        return sigwaitinfo(&all, &si);
    ts.tv_sec = (time_t)(timeout_ms / 1000);
    ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
    return sigtimedwait(&all, &si, &ts);
}

int64_t init_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
