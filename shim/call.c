#include "call.h"

void tether_call_ok(struct tether_call *call, json_t *result)
{
    call->done(call, NULL, result);
}

void tether_call_fail(struct tether_call *call, const struct tether_error *err)
{
    call->done(call, err, NULL);
}
