/* tether-init's main: every signal blocked from the first line and taken synchronously
 * with sigtimedwait(2), whose timeout is the one deadline of the current phase (the
 * --kill-timeout while CMD is asked to stop, the --grace once it has exited on its own
 * or within the --kill-timeout). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"

static void forward(struct init *in, int sig)
{
    pid_t target = in->opt->group ? -in->child : in->child;
    char name[24];

    init_log(in, 2, "forwarding %s to %s %d", init_sig_name(sig, name, sizeof name),
             in->opt->group ? "process group" : "child", (int)in->child);
    if (kill(target, sig) < 0)
        init_log(in, 2, "forwarding %s: %s", name, strerror(errno));
}

/* CMD has exited: the others get SIGTERM (and SIGCONT, so that stopped ones can act on
 * it) and the grace period to go. */
static void drain_start(struct init *in)
{
    init_log(in, 1, "sending SIGTERM to the remaining processes");
    init_procs_signal(in, SIGTERM);
    init_procs_signal(in, SIGCONT);
    in->phase = INIT_DRAINING;
    in->deadline_ms = init_now_ms() + in->opt->grace_ms;
}

/* After any signal: reap, and move on when CMD or the last process has gone. */
static void children_changed(struct init *in)
{
    bool left = init_procs_reap(in);

    if (in->child_reaped && in->phase < INIT_DRAINING) {
        drain_start(in);
        left = init_procs_reap(in);
    }
    if (in->phase == INIT_DRAINING && !left)
        in->phase = INIT_DONE;
}

static void on_signal(struct init *in, int sig)
{
    if (sig == SIGCHLD)
        return;
    if (in->phase >= INIT_DRAINING) {
        char name[24];
        init_log(in, 2, "child gone, not forwarding %s", init_sig_name(sig, name, sizeof name));
        return;
    }
    forward(in, sig);
    if ((sig == SIGTERM || sig == SIGINT) && in->phase == INIT_RUNNING &&
        in->opt->kill_timeout_ms >= 0) {
        in->phase = INIT_STOPPING;
        in->deadline_ms = init_now_ms() + in->opt->kill_timeout_ms;
    }
}

/* Past the --kill-timeout the caller wants everything gone now (docker stop -t): the
 * others get SIGKILL together with CMD, not the grace period once CMD has been reaped.
 * CMD is killed on its own too, for a subreaper that cannot list /proc. */
static void on_deadline(struct init *in)
{
    if (in->phase == INIT_STOPPING) {
        init_log(in, 1, "child %d still running after --kill-timeout: killing all processes",
                 (int)in->child);
        kill(in->opt->group ? -in->child : in->child, SIGKILL);
        init_procs_signal(in, SIGKILL);
        in->phase = INIT_DONE;
        return;
    }
    init_log(in, 1, "grace period over: killing the remaining processes");
    in->phase = INIT_DONE;
}

static int supervise(struct init *in, struct init_error *err)
{
    children_changed(in);
    while (in->phase != INIT_DONE) {
        bool timed = in->phase == INIT_STOPPING || in->phase == INIT_DRAINING;
        int64_t left = timed ? in->deadline_ms - init_now_ms() : -1;
        int sig;

        if (timed && left <= 0) {
            on_deadline(in);
            continue;
        }
        sig = init_sig_wait(left);
        if (sig < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return init_error_set(err, errno, "sigtimedwait");
        }
        on_signal(in, sig);
        children_changed(in);
    }
    /* SIGKILL again before every wait: a process forked while the signal was on its way
     * would otherwise be waited for forever. */
    while (init_procs_reap(in)) {
        init_procs_signal(in, SIGKILL);
        init_procs_wait_one(in);
    }
    return 0;
}

static int exit_code(const struct init *in)
{
    int status = in->child_status;

    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    if (!WIFEXITED(status))
        return INIT_EXIT_SYSTEM;
    status = WEXITSTATUS(status);
    if (in->opt->expect[status / 64] & (UINT64_C(1) << (status % 64)))
        return 0;
    return status;
}

/* SIGCHLD ignored by the caller would make the kernel reap our children for us and
 * leave no status to wait for; it is set back to the default here and to "ignored"
 * for CMD. */
static int setup_process(struct init *in, struct init_error *err)
{
    const struct init_options *opt = in->opt;
    struct sigaction sa;
    pid_t parent = getppid();

    if (sigaction(SIGCHLD, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
        in->chld_ignored = true;
        signal(SIGCHLD, SIG_DFL);
    }
    in->self = getpid();
    in->pid1 = in->self == 1;
    if ((opt->subreaper || !in->pid1) && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        return init_error_set(err, errno, "prctl(PR_SET_CHILD_SUBREAPER)");
    if (!opt->pdeathsig)
        return 0;
    if (prctl(PR_SET_PDEATHSIG, opt->pdeathsig) < 0)
        return init_error_set(err, errno, "prctl(PR_SET_PDEATHSIG)");
    /* The parent may have gone before the prctl: then the signal is ours now. */
    if (parent != 0 && getppid() != parent)
        kill(in->self, opt->pdeathsig);
    return 0;
}

static int parse(struct init_options *opt, int argc, char **argv)
{
    struct init_error err = {0};

    switch (init_options_parse(opt, argc, argv, &err)) {
    case INIT_PARSE_RUN:
        return -1;
    case INIT_PARSE_HELP:
        init_options_usage(STDOUT_FILENO);
        return 0;
    case INIT_PARSE_VERSION:
        init_options_version(STDOUT_FILENO);
        return 0;
    case INIT_PARSE_USAGE:
        init_log_error(&err);
        return INIT_EXIT_USAGE;
    }
    return INIT_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const uint64_t all = ~UINT64_C(0);
    struct init_options opt;
    struct init in = {.opt = &opt, .phase = INIT_RUNNING};
    struct init_error err = {0};
    int rc;

    if (init_sig_setmask(&all, &in.orig_mask) < 0) {
        init_error_set(&err, errno, "rt_sigprocmask");
        init_log_error(&err);
        return INIT_EXIT_SYSTEM;
    }
    rc = parse(&opt, argc, argv);
    if (rc >= 0)
        return rc;
    if (setup_process(&in, &err) < 0) {
        init_log_error(&err);
        return INIT_EXIT_SYSTEM;
    }
    switch (init_child_spawn(&in, &err)) {
    case INIT_SPAWN_OK:
        break;
    case INIT_SPAWN_FAILED:
        init_log_error(&err);
        return INIT_EXIT_SYSTEM;
    case INIT_SPAWN_EXEC_FAILED:
        init_log_error(&err);
        return init_exec_exit_code(err.errnum);
    }
    init_log(&in, 1, "started child %d: %s", (int)in.child, opt.argv[0]);
    if (supervise(&in, &err) < 0) {
        init_log_error(&err);
        return INIT_EXIT_SYSTEM;
    }
    return exit_code(&in);
}
