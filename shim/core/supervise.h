/* Supervision of the init beyond one run: Docker-style stop (signal, grace period,
 * SIGKILL) and restart policies, carried out by the shim itself so they complete when the
 * engine is gone. Private to the container model. */
#ifndef TETHER_SHIM_SUPERVISE_H
#define TETHER_SHIM_SUPERVISE_H

#include "container.h"

/* Forgets restart counts and user stops (a new create). */
void tether_supervise_reset(struct tether_container *ctr);
/* The init's exit was announced: answer stops, maybe schedule a restart. */
void tether_supervise_exited(struct tether_container *ctr);
/* A create or start finished (either way): a stop that waited for it can go on. */
void tether_supervise_settled(struct tether_container *ctr);
/* A client killed the container's init: that ends restarts, as a stop does. Returns true
 * when the kill was absorbed by cancelling a pending restart (the init is not running). */
bool tether_supervise_user_kill(struct tether_container *ctr);
/* A restart could not create the container again: it stays stopped with the exit that
 * asked for the restart, a `restart_failed` event says why, and restarts end. */
void tether_supervise_restart_failed(struct tether_container *ctr, const struct tether_error *why);
void tether_supervise_init(struct tether_container *ctr);
void tether_supervise_fini(struct tether_container *ctr);

/* From container.c. */
void tether_container_transition(struct tether_container *ctr, enum tether_ctr_event ev);
int tether_container_spawn_create(struct tether_container *ctr, struct tether_call *call,
                                  struct tether_error *err);

#endif
