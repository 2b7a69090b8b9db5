/* Seccomp user notification (seccomp_unotify(2)): the shim adds SCMP_ACT_NOTIFY rules for
 * chosen syscalls to its own copy of the container's seccomp profile, with
 * linux.seccomp.listenerPath pointing at a socket it owns. The runtime connects there once
 * the filter is loaded and sends the notify fd with SCM_RIGHTS, along with the container's
 * state as JSON. Each notification then becomes a `seccomp` event and is answered:
 * continue (policy log) or EPERM (policy deny).
 *
 * libseccomp is loaded with dlopen(3) the first time a container asks for this: its
 * syscall tables cost every shim that links it tens of KiB of private memory. */
#ifndef TETHER_SHIM_SECCOMP_H
#define TETHER_SHIM_SECCOMP_H

#include <stdbool.h>

#include <jansson.h>

#include <tether/core.h>
#include <tether/error.h>
#include <tether/log.h>
#include <tether/loop.h>

#include "listener.h"

struct tether_seccomp;

/* Receives one notification: the front end publishes it. args has the six arguments. */
typedef void (*tether_seccomp_cb)(void *opaque, int pid, const char *syscall,
                                  const unsigned long long args[6], bool denied);

/* libseccomp's entry points, resolved by dlopen. */
struct tether_seccomp_lib;

struct tether_seccomp {
    struct tether_seccomp_lib *lib; /* NULL until first needed */
    const struct tether_log *log;
    struct tether_loop *loop;
    struct tether_source listen_src; /* the listener socket */
    struct tether_source conn_src;   /* the runtime's connection until it sent the fd */
    struct tether_source notify_src; /* the notify fd the runtime sent */
    struct tether_listener sock;     /* sock.path goes into listenerPath */
    bool deny;
    unsigned failures; /* consecutive failed receives */
    void *req, *resp;  /* libseccomp's notification buffers */
    tether_seccomp_cb cb;
    void *opaque;
};

/* Checks the syscall names (libseccomp must know each); loads libseccomp when needed. */
int tether_seccomp_check(struct tether_seccomp *sc, const struct tether_seccomp_opts *opts,
                         struct tether_error *err);

/* Adds the notify rules and the listener path to a config.json being prepared. */
int tether_seccomp_configure(json_t *config, const struct tether_seccomp_opts *opts,
                             const char *listener_path, struct tether_error *err);

void tether_seccomp_init(struct tether_seccomp *sc, const struct tether_log *log,
                         struct tether_loop *loop);
/* Listens on a socket under dir; sc->sock.path is what goes into listenerPath. */
int tether_seccomp_listen(struct tether_seccomp *sc, const char *dir, bool deny,
                          tether_seccomp_cb cb, void *opaque, struct tether_error *err);
/* Stops listening and closes the notify fd (pending syscalls then fail with ENOSYS). */
void tether_seccomp_close(struct tether_seccomp *sc);
/* tether_seccomp_close, and unloads libseccomp. */
void tether_seccomp_fini(struct tether_seccomp *sc);

#endif
