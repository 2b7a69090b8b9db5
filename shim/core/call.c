#include <tether/core.h>

void tether_call_ok(struct tether_call *call, const struct tether_result *res)
{
    static const struct tether_result empty;

    if (call != NULL)
        call->done(call, NULL, res != NULL ? res : &empty);
}

void tether_call_fail(struct tether_call *call, const struct tether_error *err)
{
    if (call != NULL)
        call->done(call, err, NULL);
}
