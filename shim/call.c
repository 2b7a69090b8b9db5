#include "call.h"

void tether_call_ok(struct tether_call *call, json_t *result)
{
    if (call == NULL) {
        json_decref(result);
        return;
    }
    call->done(call, NULL, result);
}

void tether_call_fail(struct tether_call *call, const struct tether_error *err)
{
    if (call != NULL)
        call->done(call, err, NULL);
}
