/* JSON-RPC 2.0 decoding and encoding, and the one place where error kinds become
 * protocol error codes. No I/O here: the server feeds it lines. */
#ifndef TETHER_SHIM_RPC_H
#define TETHER_SHIM_RPC_H

#include <stddef.h>

#include <jansson.h>

#include <tether/client.h>
#include <tether/error.h>

struct tether_rpc_request {
    json_t *msg;        /* the whole decoded message (owned) */
    json_t *id;         /* borrowed from msg; NULL for a notification (no response) */
    const char *method; /* borrowed from msg */
    json_t *params;     /* borrowed from msg; an object (empty when absent) */
};

/* Decodes one line. On success returns 0 and fills req (release with
 * tether_rpc_request_fini). On failure returns -1 and *error_response holds the error
 * response to send (-32700 with id null, or -32600 / -32602 with the id when known). */
int tether_rpc_decode(const char *line, size_t len, struct tether_rpc_request *req,
                      json_t **error_response);
void tether_rpc_request_fini(struct tether_rpc_request *req);

/* {"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}}; id borrowed
 * (NULL becomes null). */
json_t *tether_rpc_error(json_t *id, int code, const char *message);
/* Same, with the code derived from err->kind. */
json_t *tether_rpc_error_from(json_t *id, const struct tether_error *err);
/* {"jsonrpc":"2.0","id":id,"result":result}; result stolen. */
json_t *tether_rpc_result(json_t *id, json_t *result);
/* {"jsonrpc":"2.0","method":method,"params":params}; params stolen. */
json_t *tether_rpc_notification(const char *method, json_t *params);

/* The protocol code for an error kind. */
int tether_rpc_code(enum tether_error_kind kind);

/* Compact one-line text of msg with its '\n' (no raw newline can occur inside). */
char *tether_rpc_encode(json_t *msg, size_t *len);

#endif
