/* A listening UNIX socket that a runtime connects to by path (the console socket, the
 * seccomp listener). sun_path holds 108 bytes and the runtime cannot be handed a path
 * through an fd of ours, so a name that does not fit under the state directory gets a
 * private short directory under /tmp instead. */
#ifndef TETHER_SHIM_LISTENER_H
#define TETHER_SHIM_LISTENER_H

#include <tether/error.h>

struct tether_listener {
    int fd;         /* listening, CLOEXEC and non-blocking; -1 when closed */
    char path[108]; /* what the runtime is given */
    char dir[32];   /* the private directory, when one was needed */
};

void tether_listener_init(struct tether_listener *l);
/* Listens (mode 0600) on dir/name, or on a short private path when that is too long. */
int tether_listener_open(struct tether_listener *l, const char *dir, const char *name,
                         struct tether_error *err);
/* Closes the socket and removes its path (and private directory). */
void tether_listener_close(struct tether_listener *l);

#endif
