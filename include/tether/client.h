/* Client library for the tether-shim protocol (JSON-RPC 2.0, one message per line over a
 * UNIX socket; see api/PROTOCOL.md). Blocking and single-threaded: meant for tetherctl,
 * tests and benchmarks. Notifications that arrive while waiting for a response are queued
 * and handed out by tether_client_next_notification() in arrival order. */
#ifndef TETHER_CLIENT_H
#define TETHER_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include <tether/error.h>

/* JSON-RPC error codes used by the protocol. */
enum tether_rpc_code {
    TETHER_RPC_PARSE_ERROR = -32700,
    TETHER_RPC_INVALID_REQUEST = -32600,
    TETHER_RPC_METHOD_NOT_FOUND = -32601,
    TETHER_RPC_INVALID_PARAMS = -32602,
    TETHER_RPC_INTERNAL = -32603,
    TETHER_RPC_NOT_FOUND = -32001,
    TETHER_RPC_INVALID_STATE = -32002,
    TETHER_RPC_RUNTIME = -32003,
    TETHER_RPC_EXISTS = -32004,
    TETHER_RPC_TOO_LARGE = -32005,
};

struct tether_client;

/* Connects to a shim's socket. */
struct tether_client *tether_client_connect(const char *socket_path, struct tether_error *err);
void tether_client_close(struct tether_client *c);
int tether_client_fd(const struct tether_client *c);

/* Sends a request (params borrowed, may be NULL) and returns its id (> 0), or -1. */
int64_t tether_client_send(struct tether_client *c, const char *method, json_t *params,
                           struct tether_error *err);

/* Sends raw bytes as they are (tests of malformed input). */
int tether_client_send_raw(struct tether_client *c, const void *data, size_t len,
                           struct tether_error *err);

/* Reads the next message of any kind (response or notification), bypassing the queue.
 * timeout_ms < 0 waits forever. NULL on timeout (kind TETHER_ERR_TIMEOUT), EOF
 * (TETHER_ERR_NOT_FOUND, "connection closed") or error. New reference. */
json_t *tether_client_read_message(struct tether_client *c, int timeout_ms,
                                   struct tether_error *err);

/* Waits for the response with this id; notifications read meanwhile are queued. Returns
 * the whole response object (new reference). */
json_t *tether_client_wait_response(struct tether_client *c, int64_t id, int timeout_ms,
                                    struct tether_error *err);

/* send + wait_response. On success returns "result" (new reference). On a JSON-RPC error
 * returns NULL with err->msg = the error's message and *rpc_code (when not NULL) = its
 * code; err->kind is mapped from the code (e.g. -32001 -> TETHER_ERR_NOT_FOUND). */
json_t *tether_client_call(struct tether_client *c, const char *method, json_t *params,
                           int timeout_ms, int *rpc_code, struct tether_error *err);

/* Next notification: from the queue, else read from the socket. NULL on timeout/EOF. */
json_t *tether_client_next_notification(struct tether_client *c, int timeout_ms,
                                        struct tether_error *err);

/* What the launcher of a detached shim prints. */
struct tether_shim_info {
    char id[129];
    pid_t pid;
    char socket[4096];
};

/* Runs `shim_path ARGS...` (a detaching tether-shim), waits for it, and parses the JSON
 * line it prints. On failure err carries the shim's one-line reason from stderr. */
int tether_client_launch_shim(const char *shim_path, const char *const *args,
                              struct tether_shim_info *info, struct tether_error *err);

/* <state_dir>/<id>/shim.sock */
char *tether_client_socket_path(const char *state_dir, const char *id);

#endif
