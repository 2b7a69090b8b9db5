#include "status.h"

enum tether_ttrpc_code tether_ctrd_status_code(enum tether_ctrd_method method,
                                               const struct tether_error *err)
{
    switch (err->kind) {
    case TETHER_ERR_NONE:
        return TETHER_TTRPC_CODE_OK;
    case TETHER_ERR_INVALID:
        return TETHER_TTRPC_CODE_INVALID_ARGUMENT;
    case TETHER_ERR_NOT_FOUND:
        return TETHER_TTRPC_CODE_NOT_FOUND;
    case TETHER_ERR_EXISTS:
        return TETHER_TTRPC_CODE_ALREADY_EXISTS;
    case TETHER_ERR_STATE:
        if (method == TETHER_CTRD_METHOD_DELETE)
            return TETHER_TTRPC_CODE_UNKNOWN;
        if (method == TETHER_CTRD_METHOD_KILL)
            return TETHER_TTRPC_CODE_NOT_FOUND;
        return TETHER_TTRPC_CODE_FAILED_PRECONDITION;
    case TETHER_ERR_TOO_LARGE:
        return TETHER_TTRPC_CODE_RESOURCE_EXHAUSTED;
    case TETHER_ERR_TIMEOUT:
        return TETHER_TTRPC_CODE_DEADLINE_EXCEEDED;
    case TETHER_ERR_RUNTIME:
    case TETHER_ERR_INTERNAL:
        return TETHER_TTRPC_CODE_UNKNOWN;
    }
    return TETHER_TTRPC_CODE_UNKNOWN;
}
