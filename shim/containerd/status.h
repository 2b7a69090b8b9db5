/* The one place where the core's error kinds become the gRPC status codes containerd
 * reads (containerd's errdefs: NotFound, AlreadyExists, FailedPrecondition, ...). A few
 * Task methods answer a kind differently because containerd and its CRI plugin expect
 * what containerd-shim-runc-v2 answers there; those exceptions are listed here too. */
#ifndef TETHER_CONTAINERD_STATUS_H
#define TETHER_CONTAINERD_STATUS_H

#include <tether/error.h>

#include "ttrpc.h"

/* The Task methods whose errors map differently from the general rule. */
enum tether_ctrd_method {
    TETHER_CTRD_METHOD_OTHER,
    /* A state refusal (the process runs, or is paused) is Unknown (2), as runc-v2 answers
     * "cannot delete a running process". */
    TETHER_CTRD_METHOD_DELETE,
    /* A process that already exited is NotFound ("process already finished"): containerd
     * and CRI treat that as done. */
    TETHER_CTRD_METHOD_KILL,
};

/* The code for err: NOT_FOUND -> NotFound, EXISTS -> AlreadyExists, STATE ->
 * FailedPrecondition, INVALID -> InvalidArgument, TOO_LARGE -> ResourceExhausted, TIMEOUT
 * -> DeadlineExceeded, RUNTIME and INTERNAL -> Unknown (the runtime's or the system's own
 * text), with the exceptions of method. */
enum tether_ttrpc_code tether_ctrd_status_code(enum tether_ctrd_method method,
                                               const struct tether_error *err);

#endif
