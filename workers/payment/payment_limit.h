/* payment_limit.h - the payment worker's adaptive concurrency limit: how
 * many jobs may run at once, lowered while the order service answers
 * slowly and raised again when it is quick.
 *
 * Why: the payment worker and CreateOrder share the order service and its
 * database. A payment is asynchronous (the customer already has the 202),
 * taking an order is not: when the order service is busy taking orders,
 * every job the worker starts costs the customers latency. So the worker
 * backs off, as TCP does: additive increase, multiplicative decrease
 * (AIMD) on one signal, the duration of its own calls to the order
 * service. Payments still flow at `min` jobs at once at the very least,
 * and the backlog is worked off at full speed as soon as the order
 * service is quick again.
 *
 * Rules, per observed call, each at most once per interval (the target,
 * but no less than 100 ms: one burst of calls moves the limit once):
 * answered OK within target_us -> limit + limit/8 (at least + 1, at most
 * max): the limit grows by an eighth per interval, so a backlog does not
 * start as one burst the moment the service looks quick; slower than
 * target_us, answered or not -> limit x 3/4 (at least min); a quick
 * failure (the service is down: the jobs' own retry rules apply) changes
 * nothing. target_us = 0 turns the limit off (always max).
 *
 * A plain value: the caller serializes access (the worker's mutex).
 */
#ifndef PAYMENT_LIMIT_H
#define PAYMENT_LIMIT_H

#include <stdint.h>

typedef struct payment_limit {
    int min, max;       /* bounds, 1 <= min <= max */
    int64_t target_us;  /* 0: off */
    int value;          /* current limit */
    int64_t last_cut_us;  /* when it was last lowered (monotonic us) */
    int64_t last_raise_us;/* when it was last raised */
} payment_limit;

void payment_limit_init(payment_limit *l, int min, int max, int64_t target_us);

/* One call to the order service took duration_us (ok: answered OK),
 * observed at now_us (monotonic). Returns the new limit. */
int payment_limit_observe(payment_limit *l, int64_t duration_us, int ok, int64_t now_us);

#endif
