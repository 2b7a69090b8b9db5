/* conmon's control FIFOs in the bundle: `ctl` and `winsz`, mode 0660 (an old one is made
 * anew). Each takes lines "TYPE ROWS COLS\n": type 1 sets the terminal's size (podman
 * writes "1 <rows> <cols>" to ctl, before and while it is attached), type 2 reopens the log
 * file (for external rotation). The monitor holds a write end of its own besides the read
 * end, so a writer closing never makes the FIFO read as ended; the files stay when the
 * monitor ends (podman removes them). */
#ifndef TETHER_CONMON_CTL_H
#define TETHER_CONMON_CTL_H

#include <stdbool.h>
#include <stddef.h>

#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>

/* Longest line kept; a longer one is dropped whole. */
#define TETHER_CTL_LINE_MAX 128

enum tether_ctl_type {
    TETHER_CTL_RESIZE = 1,
    TETHER_CTL_REOPEN_LOG = 2,
};

struct tether_conmon_ctl_hooks {
    void (*resize)(void *opaque, unsigned rows, unsigned cols);
    void (*reopen_log)(void *opaque);
    void *opaque;
};

struct tether_ctl_fifo {
    struct tether_source src; /* the read end, -1 when closed */
    int write_fd;
    char *path;
    char line[TETHER_CTL_LINE_MAX];
    size_t len;
    bool overlong; /* dropping the rest of a too long line */
    struct tether_conmon_ctl *ctl;
};

struct tether_conmon_ctl {
    struct tether_loop *loop;
    const struct tether_log *log;
    struct tether_conmon_ctl_hooks hooks;
    struct tether_ctl_fifo ctl, winsz;
};

void tether_conmon_ctl_init(struct tether_conmon_ctl *c, struct tether_loop *loop,
                            const struct tether_log *log,
                            const struct tether_conmon_ctl_hooks *hooks);
/* Makes <dir>/ctl and <dir>/winsz and reads them from the loop. */
int tether_conmon_ctl_open(struct tether_conmon_ctl *c, const char *dir, struct tether_error *err);
/* Reads what the FIFOs hold now (a resize written just before the caller's next step). */
void tether_conmon_ctl_poll(struct tether_conmon_ctl *c);
/* Parses one line (without its newline): 0 with the message, -1 when malformed. */
int tether_conmon_ctl_parse(const char *line, enum tether_ctl_type *type, unsigned *rows,
                            unsigned *cols);
/* Stops reading; with remove, the FIFOs are removed too (a monitor that failed to start). */
void tether_conmon_ctl_close(struct tether_conmon_ctl *c, bool remove);

#endif
