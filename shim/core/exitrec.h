/* The exit record of a process: what `wait`, `state`, the exit event and exit.json say.
 * A normal exit gives its code; death by signal gives 128+signo plus the signal's name. */
#ifndef TETHER_SHIM_EXITREC_H
#define TETHER_SHIM_EXITREC_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include <tether/core.h>
#include <tether/error.h>

/* From a waitpid() status and the time it was reaped. */
void tether_exit_from_wait(struct tether_exit *ex, int wait_status, const struct timespec *at);

/* Writes <dir>/exit.json atomically (temp file, fsync, rename, fsync of dir). */
int tether_exit_write(const struct tether_exit *ex, const char *path, struct tether_error *err);

#endif
