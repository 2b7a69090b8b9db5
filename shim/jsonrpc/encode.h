/* The core's typed results, states and events as tether's JSON-RPC protocol shows them
 * (api/PROTOCOL.md). The one place where the front end turns C structs into JSON. */
#ifndef TETHER_JSONRPC_ENCODE_H
#define TETHER_JSONRPC_ENCODE_H

#include <stddef.h>

#include <jansson.h>

#include <tether/core.h>

/* {"pid": N} */
json_t *tether_encode_pid(pid_t pid);
/* The exit record: exit_status, exited_at, signal, oom_killed (a `wait` result). */
json_t *tether_encode_exit(const struct tether_exit *ex);
/* {"exit_status": N} (delete, stop) */
json_t *tether_encode_exit_status(const struct tether_exit *ex);
/* {"pids": [{"pid", "exec_id"?, "init"?}, ...]} */
json_t *tether_encode_pids(const struct tether_result *res);
/* The `state` result. */
json_t *tether_encode_state(const struct tether_state *st);
/* The `stats` result. */
json_t *tether_encode_stats(const struct tether_stats *st);
/* The event as its notification line ({"jsonrpc":"2.0","method":"event",...}\n), malloc'd. */
char *tether_encode_event_line(const struct tether_event *ev, size_t *len);

#endif
