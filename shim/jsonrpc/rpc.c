#include <stdlib.h>
#include <string.h>

#include <tether/util.h>

#include "rpc.h"

int tether_rpc_code(enum tether_error_kind kind)
{
    switch (kind) {
    case TETHER_ERR_INVALID:
        return TETHER_RPC_INVALID_PARAMS;
    case TETHER_ERR_NOT_FOUND:
        return TETHER_RPC_NOT_FOUND;
    case TETHER_ERR_STATE:
        return TETHER_RPC_INVALID_STATE;
    case TETHER_ERR_RUNTIME:
    case TETHER_ERR_TIMEOUT:
        return TETHER_RPC_RUNTIME;
    case TETHER_ERR_EXISTS:
        return TETHER_RPC_EXISTS;
    case TETHER_ERR_TOO_LARGE:
        return TETHER_RPC_TOO_LARGE;
    case TETHER_ERR_NONE:
    case TETHER_ERR_INTERNAL:
        break;
    }
    return TETHER_RPC_INTERNAL;
}

/* message as a JSON string. Messages can quote what a client sent (a parse error shows
 * the bytes near it), so bytes that would not make valid UTF-8 become '?'. */
static json_t *message_string(const char *message)
{
    json_t *str = json_string(message);
    char *copy;
    size_t i;

    if (str != NULL)
        return str;
    copy = xstrdup(message);
    for (i = 0; copy[i] != '\0'; i++)
        if ((unsigned char)copy[i] >= 0x80)
            copy[i] = '?';
    str = json_string(copy);
    free(copy);
    return str;
}

json_t *tether_rpc_error(json_t *id, int code, const char *message)
{
    return json_pack("{s:s,s:O,s:{s:i,s:o}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                     "error", "code", code, "message", message_string(message));
}

json_t *tether_rpc_error_from(json_t *id, const struct tether_error *err)
{
    return tether_rpc_error(id, tether_rpc_code(err->kind), err->msg);
}

json_t *tether_rpc_result(json_t *id, json_t *result)
{
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "result",
                     result ? result : json_object());
}

json_t *tether_rpc_notification(const char *method, json_t *params)
{
    return json_pack("{s:s,s:s,s:o}", "jsonrpc", "2.0", "method", method, "params",
                     params ? params : json_object());
}

char *tether_rpc_encode(json_t *msg, size_t *len)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    size_t n;

    if (text == NULL)
        abort(); /* json_dumps fails only when out of memory */
    n = strlen(text);
    text = xrealloc(text, n + 2);
    text[n++] = '\n';
    text[n] = '\0';
    *len = n;
    return text;
}

static bool valid_id(const json_t *id)
{
    /* JSON-RPC 2.0: a string, a number or null; fractional numbers are discouraged and
     * refused here so that ids compare exactly. */
    return json_is_string(id) || json_is_integer(id) || json_is_null(id);
}

int tether_rpc_decode(const char *line, size_t len, struct tether_rpc_request *req,
                      json_t **error_response)
{
    json_error_t jerr;
    json_t *msg, *version, *method, *params;
    int code = TETHER_RPC_INVALID_REQUEST;
    const char *why = NULL;
    char text[256];

    memset(req, 0, sizeof(*req));
    *error_response = NULL;
    msg = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (msg == NULL) {
        snprintf(text, sizeof(text), "parse error: %s (column %d)", jerr.text, jerr.column);
        *error_response = tether_rpc_error(NULL, TETHER_RPC_PARSE_ERROR, text);
        return -1;
    }
    if (json_is_array(msg)) {
        *error_response = tether_rpc_error(NULL, TETHER_RPC_INVALID_REQUEST,
                                           "invalid request: batch requests are not supported");
        json_decref(msg);
        return -1;
    }
    if (!json_is_object(msg)) {
        *error_response = tether_rpc_error(NULL, TETHER_RPC_INVALID_REQUEST,
                                           "invalid request: not a JSON object");
        json_decref(msg);
        return -1;
    }
    req->id = json_object_get(msg, "id");
    if (req->id != NULL && !valid_id(req->id)) {
        *error_response =
            tether_rpc_error(NULL, TETHER_RPC_INVALID_REQUEST,
                             "invalid request: id must be a string, an integer or null");
        json_decref(msg);
        return -1;
    }
    version = json_object_get(msg, "jsonrpc");
    method = json_object_get(msg, "method");
    params = json_object_get(msg, "params");
    if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0)
        why = "invalid request: \"jsonrpc\" must be \"2.0\"";
    else if (!json_is_string(method))
        why = "invalid request: \"method\" must be a string";
    else if (params != NULL && !json_is_object(params) && !json_is_null(params)) {
        why = "invalid params: \"params\" must be an object";
        code = TETHER_RPC_INVALID_PARAMS;
    }
    if (why != NULL) {
        *error_response = tether_rpc_error(req->id, code, why);
        json_decref(msg);
        memset(req, 0, sizeof(*req));
        return -1;
    }
    if (params == NULL || json_is_null(params)) {
        params = json_object();
        json_object_set_new(msg, "params", params);
    }
    req->msg = msg;
    req->method = json_string_value(method);
    req->params = params;
    return 0;
}

void tether_rpc_request_fini(struct tether_rpc_request *req)
{
    json_decref(req->msg);
    memset(req, 0, sizeof(*req));
}
