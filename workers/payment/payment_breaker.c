/* payment_breaker.c - the circuit breaker (see payment_breaker.h).
 *
 * DESIGN: one mutex guards the whole state; one condition variable
 * (`changed`, on CLOCK_MONOTONIC) wakes waiters on every state change, on a
 * freed probe slot and on stop. Waiters of an open breaker sleep until the
 * open period should end (in slices of at most WAIT_SLICE_MS, so an injected
 * clock that runs differently from the real one cannot strand them), then
 * re-check: the first to find the period over moves the breaker to
 * half-open and takes a probe slot.
 */
#include "payment_breaker.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "se_alloc.h"
#include "se_time.h"
#include "se_log.h"
#include "se_time.h"

enum { WAIT_SLICE_MS = 1000 }; /* longest sleep between re-checks */

struct payment_breaker {
    pthread_mutex_t mu;
    pthread_cond_t changed;      /* state change, probe slot freed, stop */
    payment_breaker_config cfg;
    payment_breaker_clock_fn clock;
    void *clock_arg;
    payment_breaker_listener_fn listener;
    void *listener_arg;
    payment_breaker_state state;
    uint64_t generation;         /* +1 at every state change */
    int consecutive_failures;    /* CLOSED: failures since the last success */
    int64_t open_until_ms;       /* OPEN: clock value when HALF_OPEN begins */
    int probes_in_flight;        /* HALF_OPEN: admitted, not yet recorded */
    int stopped;                 /* payment_breaker_stop was called */
};

const char *payment_breaker_state_name(payment_breaker_state s)
{
    switch (s) {
    case PAYMENT_BREAKER_CLOSED:
        return "closed";
    case PAYMENT_BREAKER_OPEN:
        return "open";
    case PAYMENT_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

static int64_t monotonic_clock(void *arg)
{
    (void)arg;
    return se_mono_ms();
}

payment_breaker *payment_breaker_create(const payment_breaker_config *cfg,
                                        payment_breaker_clock_fn clock, void *clock_arg,
                                        payment_breaker_listener_fn listener,
                                        void *listener_arg)
{
    payment_breaker *b = se_xcalloc(1, sizeof *b);
    b->cfg = *cfg;
    if (b->cfg.failure_threshold < 1)
        b->cfg.failure_threshold = 1;
    if (b->cfg.half_open_probes < 1)
        b->cfg.half_open_probes = 1;
    if (b->cfg.open_ms < 0)
        b->cfg.open_ms = 0;
    b->clock = clock != NULL ? clock : monotonic_clock;
    b->clock_arg = clock_arg;
    b->listener = listener;
    b->listener_arg = listener_arg;
    b->state = PAYMENT_BREAKER_CLOSED;
    pthread_mutex_init(&b->mu, NULL);
    se_cond_init_monotonic(&b->changed);
    return b;
}

void payment_breaker_destroy(payment_breaker *b)
{
    if (b == NULL)
        return;
    pthread_cond_destroy(&b->changed);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* ---- transitions (b->mu held) -------------------------------------------- */

static void change_state(payment_breaker *b, payment_breaker_state to, int64_t now,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void change_state(payment_breaker *b, payment_breaker_state to, int64_t now,
                         const char *fmt, ...)
{
    char reason[320], esc[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    payment_breaker_state from = b->state;
    b->state = to;
    b->generation++;
    b->consecutive_failures = 0;
    b->probes_in_flight = 0;
    if (to == PAYMENT_BREAKER_OPEN)
        b->open_until_ms = now + b->cfg.open_ms;
    se_log_fields(to == PAYMENT_BREAKER_OPEN ? SE_LOG_WARN : SE_LOG_INFO, "breaker_state",
                  "\"from\":\"%s\",\"to\":\"%s\",\"reason\":\"%s\"",
                  payment_breaker_state_name(from), payment_breaker_state_name(to),
                  se_json_escape(esc, sizeof esc, reason));
    if (b->listener != NULL)
        b->listener(b->listener_arg, from, to, reason);
    pthread_cond_broadcast(&b->changed);
}

/* The lazy, time-based move: OPEN -> HALF_OPEN once the period is over. */
static void advance(payment_breaker *b, int64_t now)
{
    if (b->state == PAYMENT_BREAKER_OPEN && now >= b->open_until_ms)
        change_state(b, PAYMENT_BREAKER_HALF_OPEN, now,
                     "open for %d ms: letting %d trial charge(s) through", b->cfg.open_ms,
                     b->cfg.half_open_probes);
}

static int try_acquire_locked(payment_breaker *b, payment_breaker_ticket *t, int64_t *wait_ms)
{
    int64_t now = b->clock(b->clock_arg);
    advance(b, now);
    int64_t wait = -1;
    switch (b->state) {
    case PAYMENT_BREAKER_CLOSED:
        *t = (payment_breaker_ticket){b->generation, 0};
        return 1;
    case PAYMENT_BREAKER_HALF_OPEN:
        if (b->probes_in_flight < b->cfg.half_open_probes) {
            b->probes_in_flight++;
            *t = (payment_breaker_ticket){b->generation, 1};
            return 1;
        }
        break; /* wait for the probes' results */
    case PAYMENT_BREAKER_OPEN:
        wait = b->open_until_ms - now;
        break;
    }
    if (wait_ms != NULL)
        *wait_ms = wait;
    return 0;
}

/* ---- admission and results ----------------------------------------------- */

int payment_breaker_try_acquire(payment_breaker *b, payment_breaker_ticket *t,
                                int64_t *wait_ms)
{
    pthread_mutex_lock(&b->mu);
    int ok = try_acquire_locked(b, t, wait_ms);
    pthread_mutex_unlock(&b->mu);
    return ok;
}

int payment_breaker_acquire(payment_breaker *b, payment_breaker_ticket *t)
{
    pthread_mutex_lock(&b->mu);
    while (!b->stopped) {
        int64_t wait = -1;
        if (try_acquire_locked(b, t, &wait)) {
            pthread_mutex_unlock(&b->mu);
            return 0;
        }
        int slice = wait >= 0 && wait < WAIT_SLICE_MS ? (int)wait + 1 : WAIT_SLICE_MS;
        struct timespec until = se_monotonic_after_ms(slice);
        int rc = pthread_cond_timedwait(&b->changed, &b->mu, &until);
        if (rc != 0 && rc != ETIMEDOUT)
            se_log_error("breaker_wait_failed", "pthread_cond_timedwait: %d", rc);
    }
    pthread_mutex_unlock(&b->mu);
    return -1;
}

void payment_breaker_record(payment_breaker *b, const payment_breaker_ticket *t,
                            payment_breaker_result r, const char *detail)
{
    const char *why = detail != NULL ? detail : "transient failure";
    pthread_mutex_lock(&b->mu);
    if (t->generation != b->generation) { /* admitted in an earlier state: stale */
        pthread_mutex_unlock(&b->mu);
        return;
    }
    int64_t now = b->clock(b->clock_arg);
    if (b->state == PAYMENT_BREAKER_CLOSED) {
        if (r == PAYMENT_BREAKER_SUCCESS)
            b->consecutive_failures = 0;
        else if (r == PAYMENT_BREAKER_FAILURE &&
                 ++b->consecutive_failures >= b->cfg.failure_threshold)
            change_state(b, PAYMENT_BREAKER_OPEN, now,
                         "%d consecutive charge failures (last: %s)",
                         b->consecutive_failures, why);
    } else if (b->state == PAYMENT_BREAKER_HALF_OPEN && t->probe) {
        if (r == PAYMENT_BREAKER_SUCCESS) {
            change_state(b, PAYMENT_BREAKER_CLOSED, now, "trial charge succeeded");
        } else if (r == PAYMENT_BREAKER_FAILURE) {
            change_state(b, PAYMENT_BREAKER_OPEN, now, "trial charge failed: %s", why);
        } else {
            b->probes_in_flight--; /* the slot goes to another waiter */
            pthread_cond_broadcast(&b->changed);
        }
    }
    pthread_mutex_unlock(&b->mu);
}

payment_breaker_state payment_breaker_state_now(payment_breaker *b)
{
    pthread_mutex_lock(&b->mu);
    advance(b, b->clock(b->clock_arg));
    payment_breaker_state s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

void payment_breaker_stop(payment_breaker *b)
{
    pthread_mutex_lock(&b->mu);
    b->stopped = 1;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->mu);
}
