/* test_payment_worker_breaker.c - the payment worker's circuit breaker with an
 * injected clock (every transition, the probe limit, stale results), its
 * blocking admission on the real clock (waiting, waking, stopping), and the
 * retry backoff's bounds. No stack needed.
 */
#include <check.h>
#include <pthread.h>
#include <string.h>

#include "payment_breaker.h"
#include "payment_job.h"
#include "se_log.h"
#include "se_test.h"
#include "se_test_stack.h"

/* ---- injected clock and a listener that records transitions ----------------- */

static int64_t fake_now;
static char transitions[16][64];
static int n_transitions;

static int64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now;
}

static void record_transition(void *arg, payment_breaker_state from, payment_breaker_state to,
                              const char *reason)
{
    (void)arg;
    ck_assert_ptr_nonnull(reason);
    if (n_transitions < 16)
        snprintf(transitions[n_transitions++], 64, "%s>%s", payment_breaker_state_name(from),
                 payment_breaker_state_name(to));
}

static payment_breaker *make(int failures, int open_ms, int probes)
{
    se_log_init("test");
    fake_now = 1000;
    n_transitions = 0;
    payment_breaker_config cfg = {failures, open_ms, probes};
    return payment_breaker_create(&cfg, fake_clock, NULL, record_transition, NULL);
}

static void fail_n(payment_breaker *b, int n)
{
    for (int i = 0; i < n; i++) {
        payment_breaker_ticket t;
        ck_assert_int_eq(payment_breaker_try_acquire(b, &t, NULL), 1);
        payment_breaker_record(b, &t, PAYMENT_BREAKER_FAILURE, "UNAVAILABLE");
    }
}

/* Opens the breaker (threshold failures) at fake_now. */
static void open_it(payment_breaker *b, int threshold)
{
    fail_n(b, threshold);
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_OPEN);
}

START_TEST(closed_opens_after_the_threshold_of_consecutive_failures)
{
    payment_breaker *b = make(3, 5000, 1);
    fail_n(b, 2);
    payment_breaker_ticket t;
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t, NULL), 1);
    payment_breaker_record(b, &t, PAYMENT_BREAKER_SUCCESS, NULL); /* resets the count */
    fail_n(b, 2);
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_CLOSED);
    ck_assert_int_eq(n_transitions, 0);
    fail_n(b, 1);
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_OPEN);
    ck_assert_int_eq(n_transitions, 1);
    ck_assert_str_eq(transitions[0], "closed>open");
    int64_t wait = 0;
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t, &wait), 0);
    ck_assert_int_eq(wait, 5000);
    payment_breaker_destroy(b);
}
END_TEST

START_TEST(open_turns_half_open_when_the_period_ends_and_admits_the_probe_limit)
{
    payment_breaker *b = make(1, 5000, 2);
    open_it(b, 1);
    payment_breaker_ticket t1, t2, t3;
    int64_t wait = 0;
    fake_now += 4999;
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t1, &wait), 0);
    ck_assert_int_eq(wait, 1);
    fake_now += 1;
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_HALF_OPEN);
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t1, NULL), 1);
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t2, NULL), 1);
    ck_assert(t1.probe && t2.probe);
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t3, &wait), 0);
    ck_assert_int_eq(wait, -1); /* up to the probes in flight */
    /* a probe that was not used frees its slot */
    payment_breaker_record(b, &t2, PAYMENT_BREAKER_UNUSED, NULL);
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t3, NULL), 1);
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_HALF_OPEN);
    ck_assert_int_eq(n_transitions, 2);
    ck_assert_str_eq(transitions[1], "open>half_open");
    payment_breaker_destroy(b);
}
END_TEST

START_TEST(a_successful_probe_closes_the_breaker)
{
    payment_breaker *b = make(2, 100, 1);
    open_it(b, 2);
    fake_now += 100;
    payment_breaker_ticket t;
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t, NULL), 1);
    payment_breaker_record(b, &t, PAYMENT_BREAKER_SUCCESS, NULL);
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_CLOSED);
    for (int i = 0; i < 10; i++) { /* closed: no limit */
        ck_assert_int_eq(payment_breaker_try_acquire(b, &t, NULL), 1);
        ck_assert(!t.probe);
    }
    ck_assert_int_eq(n_transitions, 3);
    ck_assert_str_eq(transitions[2], "half_open>closed");
    fail_n(b, 1); /* the failure count starts again from zero */
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_CLOSED);
    payment_breaker_destroy(b);
}
END_TEST

START_TEST(a_failed_probe_reopens_for_a_whole_period)
{
    payment_breaker *b = make(1, 100, 1);
    open_it(b, 1);
    fake_now += 150;
    payment_breaker_ticket t;
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t, NULL), 1);
    payment_breaker_record(b, &t, PAYMENT_BREAKER_FAILURE, "DEADLINE_EXCEEDED");
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_OPEN);
    int64_t wait = 0;
    ck_assert_int_eq(payment_breaker_try_acquire(b, &t, &wait), 0);
    ck_assert_int_eq(wait, 100);
    ck_assert_str_eq(transitions[2], "half_open>open");
    fake_now += 100;
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_HALF_OPEN);
    payment_breaker_destroy(b);
}
END_TEST

START_TEST(results_of_charges_admitted_in_an_earlier_state_are_ignored)
{
    payment_breaker *b = make(2, 100, 1);
    payment_breaker_ticket old_ok, old_fail;
    ck_assert_int_eq(payment_breaker_try_acquire(b, &old_ok, NULL), 1);
    ck_assert_int_eq(payment_breaker_try_acquire(b, &old_fail, NULL), 1);
    open_it(b, 2);
    payment_breaker_record(b, &old_ok, PAYMENT_BREAKER_SUCCESS, NULL); /* cannot close it */
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_OPEN);
    fake_now += 100;
    payment_breaker_ticket probe;
    ck_assert_int_eq(payment_breaker_try_acquire(b, &probe, NULL), 1);
    payment_breaker_record(b, &old_fail, PAYMENT_BREAKER_FAILURE, "late"); /* nor reopen it */
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_HALF_OPEN);
    payment_breaker_record(b, &probe, PAYMENT_BREAKER_SUCCESS, NULL);
    ck_assert_int_eq(payment_breaker_state_now(b), PAYMENT_BREAKER_CLOSED);
    ck_assert_int_eq(n_transitions, 3);
    payment_breaker_destroy(b);
}
END_TEST

/* ---- blocking admission on the real clock ------------------------------------ */

typedef struct waiter {
    payment_breaker *b;
    payment_breaker_ticket t;
    int rc;
    int64_t waited_ms;
    pthread_t thread;
} waiter;

static void *wait_main(void *p)
{
    waiter *w = p;
    int64_t t0 = se_test_now_ms();
    w->rc = payment_breaker_acquire(w->b, &w->t);
    w->waited_ms = se_test_now_ms() - t0;
    return NULL;
}

static int64_t opened_at_ms; /* se_test_now_ms() just before make_real opened it */

static payment_breaker *make_real(int open_ms)
{
    se_log_init("test");
    payment_breaker_config cfg = {1, open_ms, 1};
    payment_breaker *b = payment_breaker_create(&cfg, NULL, NULL, NULL, NULL);
    payment_breaker_ticket t;
    ck_assert_int_eq(payment_breaker_acquire(b, &t), 0);
    opened_at_ms = se_test_now_ms();
    payment_breaker_record(b, &t, PAYMENT_BREAKER_FAILURE, "UNAVAILABLE");
    ck_assert_int_eq(payment_breaker_state_now(b),
                     open_ms > 0 ? PAYMENT_BREAKER_OPEN : PAYMENT_BREAKER_HALF_OPEN);
    return b;
}

START_TEST(acquire_waits_for_the_open_period_then_gets_the_probe)
{
    payment_breaker *b = make_real(200);
    waiter w = {.b = b};
    wait_main(&w);
    int64_t since_open = se_test_now_ms() - opened_at_ms;
    ck_assert_int_eq(w.rc, 0);
    ck_assert(w.t.probe);
    ck_assert_int_ge(since_open, 199); /* lower bound: unscaled (1 ms of rounding) */
    ck_assert_int_lt(w.waited_ms, SE_T(2000));
    payment_breaker_destroy(b);
}
END_TEST

START_TEST(waiters_are_let_through_as_soon_as_the_probe_succeeds)
{
    payment_breaker *b = make_real(0); /* half-open at once */
    payment_breaker_ticket probe;
    ck_assert_int_eq(payment_breaker_acquire(b, &probe), 0);
    ck_assert(probe.probe);
    waiter w[3];
    for (int i = 0; i < 3; i++) {
        w[i] = (waiter){.b = b, .rc = 99};
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, wait_main, &w[i]), 0);
    }
    se_test_sleep_ms(50); /* they block: the probe slot is taken */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(__atomic_load_n(&w[i].rc, __ATOMIC_SEQ_CST), 99);
    payment_breaker_record(b, &probe, PAYMENT_BREAKER_SUCCESS, NULL);
    for (int i = 0; i < 3; i++) {
        pthread_join(w[i].thread, NULL);
        ck_assert_int_eq(w[i].rc, 0);
        ck_assert(!w[i].t.probe);
        ck_assert_int_lt(w[i].waited_ms, 50 + SE_T(500)); /* woken, not timed out */
    }
    payment_breaker_destroy(b);
}
END_TEST

START_TEST(stop_releases_every_waiter)
{
    payment_breaker *b = make_real(600000);
    waiter w[2];
    for (int i = 0; i < 2; i++) {
        w[i] = (waiter){.b = b, .rc = 99};
        ck_assert_int_eq(pthread_create(&w[i].thread, NULL, wait_main, &w[i]), 0);
    }
    se_test_sleep_ms(50);
    payment_breaker_stop(b);
    for (int i = 0; i < 2; i++) {
        pthread_join(w[i].thread, NULL);
        ck_assert_int_eq(w[i].rc, -1);
        ck_assert_int_lt(w[i].waited_ms, 50 + SE_T(500));
    }
    payment_breaker_ticket t;
    ck_assert_int_eq(payment_breaker_acquire(b, &t), -1);
    payment_breaker_destroy(b);
}
END_TEST

/* ---- backoff ---------------------------------------------------------------- */

START_TEST(backoff_ceiling_doubles_up_to_the_cap)
{
    ck_assert_int_eq(payment_backoff_ceiling_ms(0, 200, 10000), 200);
    ck_assert_int_eq(payment_backoff_ceiling_ms(1, 200, 10000), 200);
    ck_assert_int_eq(payment_backoff_ceiling_ms(2, 200, 10000), 400);
    ck_assert_int_eq(payment_backoff_ceiling_ms(5, 200, 10000), 3200);
    ck_assert_int_eq(payment_backoff_ceiling_ms(6, 200, 10000), 6400);
    ck_assert_int_eq(payment_backoff_ceiling_ms(7, 200, 10000), 10000);
    ck_assert_int_eq(payment_backoff_ceiling_ms(1000000, 200, 10000), 10000);
    ck_assert_int_eq(payment_backoff_ceiling_ms(3, 500, 300), 300);
}
END_TEST

START_TEST(backoff_is_full_jitter_within_the_ceiling)
{
    unsigned seed = 12345;
    for (int attempt = 1; attempt <= 8; attempt++) {
        int64_t ceiling = payment_backoff_ceiling_ms(attempt, 200, 10000);
        int64_t lo = ceiling, hi = 0;
        for (int i = 0; i < 2000; i++) {
            int64_t d = payment_backoff_ms(attempt, 200, 10000, &seed);
            ck_assert_int_ge(d, 0);
            ck_assert_int_le(d, ceiling);
            lo = d < lo ? d : lo;
            hi = d > hi ? d : hi;
        }
        /* spread over the whole range, not a fixed delay */
        ck_assert_int_lt(lo, ceiling / 10);
        ck_assert_int_gt(hi, ceiling * 9 / 10);
    }
}
END_TEST

Suite *payment_breaker_suite(void)
{
    Suite *s = suite_create("payment_worker_breaker");
    TCase *tc = tcase_create("breaker");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, closed_opens_after_the_threshold_of_consecutive_failures);
    tcase_add_test(tc, open_turns_half_open_when_the_period_ends_and_admits_the_probe_limit);
    tcase_add_test(tc, a_successful_probe_closes_the_breaker);
    tcase_add_test(tc, a_failed_probe_reopens_for_a_whole_period);
    tcase_add_test(tc, results_of_charges_admitted_in_an_earlier_state_are_ignored);
    tcase_add_test(tc, acquire_waits_for_the_open_period_then_gets_the_probe);
    tcase_add_test(tc, waiters_are_let_through_as_soon_as_the_probe_succeeds);
    tcase_add_test(tc, stop_releases_every_waiter);
    suite_add_tcase(s, tc);
    TCase *bo = tcase_create("backoff");
    tcase_add_test(bo, backoff_ceiling_doubles_up_to_the_cap);
    tcase_add_test(bo, backoff_is_full_jitter_within_the_ceiling);
    suite_add_tcase(s, bo);
    return s;
}

int main(void)
{
    return se_test_run(payment_breaker_suite());
}
