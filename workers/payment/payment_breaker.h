/* payment_breaker.h - the circuit breaker around PaymentGatewayService.Charge.
 *
 * States (the classic three):
 *   CLOSED     every charge goes through; `failure_threshold` consecutive
 *              failures (a success resets the count) open the breaker;
 *   OPEN       no charge goes through for `open_ms`; then HALF_OPEN;
 *   HALF_OPEN  up to `half_open_probes` trial charges at a time go through;
 *              the first probe that succeeds closes the breaker, the first
 *              that fails opens it again for another `open_ms`.
 * A charge that cannot go through WAITS (payment_breaker_acquire blocks on a
 * condition variable) instead of failing: a job held by an open breaker
 * neither fails nor uses up an attempt, it is simply late.
 *
 * Tickets and generations: every admission hands out a ticket stamped with
 * the breaker's generation, which changes at every state change. A result
 * reported with a ticket of an older generation is ignored, so a charge
 * admitted while closed that fails after the breaker opened does not count
 * twice, and a stale success cannot close a breaker that opened since.
 *
 * What counts as a failure is the caller's business (the job module says:
 * the gateway did not answer - UNAVAILABLE, DEADLINE_EXCEEDED ...); any
 * answer, approval or decline alike, is a success for the breaker.
 *
 * Time comes from an injectable clock (milliseconds, monotonic), so the
 * suites drive every transition without sleeping; the time-based move
 * OPEN -> HALF_OPEN happens lazily, whenever the breaker is asked
 * (try_acquire, acquire, state).
 *
 * Every state change is logged (event "breaker_state" with from, to,
 * reason) and reported to the listener, which the worker uses to publish
 * health detail.
 *
 * THREAD: every function is safe from any thread (one mutex). The listener
 * runs with that mutex held, on the thread that caused the change: it must
 * be quick and must not call back into the breaker.
 */
#ifndef PAYMENT_BREAKER_H
#define PAYMENT_BREAKER_H

#include <stdint.h>

typedef enum payment_breaker_state {
    PAYMENT_BREAKER_CLOSED = 0,
    PAYMENT_BREAKER_OPEN = 1,
    PAYMENT_BREAKER_HALF_OPEN = 2,
} payment_breaker_state;

typedef struct payment_breaker_config {
    int failure_threshold; /* SE_PAYMENT_BREAKER_FAILURES (5), >= 1 */
    int open_ms;           /* SE_PAYMENT_BREAKER_OPEN_MS (5000), >= 0 */
    int half_open_probes;  /* SE_PAYMENT_BREAKER_HALF_OPEN_PROBES (1), >= 1 */
} payment_breaker_config;

/* Milliseconds on a monotonic clock. */
typedef int64_t (*payment_breaker_clock_fn)(void *arg);
/* Called on every state change; `reason` is valid during the call only. */
typedef void (*payment_breaker_listener_fn)(void *arg, payment_breaker_state from,
                                            payment_breaker_state to, const char *reason);

typedef struct payment_breaker payment_breaker;

/* An admission: pass it back to payment_breaker_record exactly once. */
typedef struct payment_breaker_ticket {
    uint64_t generation; /* breaker generation when admitted */
    int probe;           /* 1: a half-open trial charge */
} payment_breaker_ticket;

typedef enum payment_breaker_result {
    PAYMENT_BREAKER_SUCCESS = 0, /* the gateway answered */
    PAYMENT_BREAKER_FAILURE = 1, /* it did not (transient failure) */
    PAYMENT_BREAKER_UNUSED = 2,  /* the charge was not sent after all */
} payment_breaker_result;

/* clock NULL: CLOCK_MONOTONIC. listener may be NULL.
 * OWNERSHIP: cfg is copied; the caller destroys the breaker. The clock and
 * listener args are borrowed and must outlive it. Never fails (aborts on
 * out-of-memory, the project's allocation policy). */
payment_breaker *payment_breaker_create(const payment_breaker_config *cfg,
                                        payment_breaker_clock_fn clock, void *clock_arg,
                                        payment_breaker_listener_fn listener,
                                        void *listener_arg);
/* No thread may be inside acquire (stop and join them first). */
void payment_breaker_destroy(payment_breaker *b);

/* Non-blocking admission: 1 and *t filled when a charge may go now; 0
 * otherwise, with *wait_ms (if not NULL) = milliseconds until the open
 * period ends, or -1 when it depends on probes in flight. */
int payment_breaker_try_acquire(payment_breaker *b, payment_breaker_ticket *t,
                                int64_t *wait_ms);
/* Blocking admission: waits until a charge may go. Returns 0 with *t
 * filled, or -1 once payment_breaker_stop was called. */
int payment_breaker_acquire(payment_breaker *b, payment_breaker_ticket *t);
/* Reports how the admitted charge went; `detail` (may be NULL) says why it
 * failed, for the state-change reason. */
void payment_breaker_record(payment_breaker *b, const payment_breaker_ticket *t,
                            payment_breaker_result r, const char *detail);

/* The current state (after the lazy OPEN -> HALF_OPEN move). */
payment_breaker_state payment_breaker_state_now(payment_breaker *b);
/* Makes every current and future payment_breaker_acquire return -1. */
void payment_breaker_stop(payment_breaker *b);

/* "closed", "open", "half_open". */
const char *payment_breaker_state_name(payment_breaker_state s);

#endif
