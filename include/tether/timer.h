/* One-shot timers on the loop (timerfd_create(2)). The timerfd is made on first use and
 * kept, disarmed, afterwards: a disarmed timer never wakes the shim. */
#ifndef TETHER_TIMER_H
#define TETHER_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include <tether/error.h>
#include <tether/loop.h>

struct tether_timer {
    struct tether_source src;
    struct tether_loop *loop;
    void (*fired)(struct tether_timer *timer);
};

void tether_timer_init(struct tether_timer *timer, struct tether_loop *loop,
                       void (*fired)(struct tether_timer *timer));
/* (Re)arms the timer to fire once after ms milliseconds. */
int tether_timer_arm(struct tether_timer *timer, uint64_t ms, struct tether_error *err);
void tether_timer_disarm(struct tether_timer *timer);
bool tether_timer_armed(const struct tether_timer *timer);
/* Closes the timerfd. */
void tether_timer_fini(struct tether_timer *timer);

#endif
