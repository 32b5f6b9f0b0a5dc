/* test_payment_worker_limit.c - the payment worker's adaptive concurrency
 * limit (payment_limit.h), pure logic with explicit clocks: cut by a
 * quarter on a slow call, at most once per interval and never below the
 * minimum; raised by an eighth per interval on quick OK calls, never above
 * the maximum; quick failures change nothing; target 0 is off. */
#include <check.h>

#include "payment_limit.h"
#include "se_test_stack.h" /* se_test_run; no stack needed */

#define MS 1000 /* microseconds */

START_TEST(starts_at_the_maximum_and_cuts_on_a_slow_call)
{
    payment_limit l;
    payment_limit_init(&l, 8, 128, 20 * MS);
    ck_assert_int_eq(l.value, 128);
    ck_assert_int_eq(payment_limit_observe(&l, 25 * MS, 1, 1000 * MS), 96);
    /* a burst of slow calls within the interval (100 ms) cuts once */
    ck_assert_int_eq(payment_limit_observe(&l, 30 * MS, 1, 1050 * MS), 96);
    ck_assert_int_eq(payment_limit_observe(&l, 30 * MS, 0, 1100 * MS), 72); /* slow failure */
    for (int t = 1; t < 40; t++)
        payment_limit_observe(&l, 50 * MS, 1, (1100 + 100 * t) * MS);
    ck_assert_int_eq(l.value, 8); /* never below the minimum */
}
END_TEST

START_TEST(quick_calls_raise_it_by_an_eighth_per_interval)
{
    payment_limit l;
    payment_limit_init(&l, 8, 128, 20 * MS);
    for (int t = 0; t < 20; t++)
        payment_limit_observe(&l, 50 * MS, 1, (100 * t) * MS);
    ck_assert_int_eq(l.value, 8);
    ck_assert_int_eq(payment_limit_observe(&l, 2 * MS, 1, 5000 * MS), 9);
    ck_assert_int_eq(payment_limit_observe(&l, 2 * MS, 1, 5010 * MS), 9); /* same interval */
    ck_assert_int_eq(payment_limit_observe(&l, 2 * MS, 1, 5100 * MS), 10);
    int64_t t = 5100;
    while (l.value < 128 && t < 20000)
        payment_limit_observe(&l, 2 * MS, 1, (t += 100) * MS);
    ck_assert_int_eq(l.value, 128);
    ck_assert_int_lt(t, 8000); /* 8 -> 128 in a few seconds, not minutes */
    ck_assert_int_eq(payment_limit_observe(&l, 2 * MS, 1, (t + 100) * MS), 128); /* capped */
}
END_TEST

START_TEST(quick_failures_change_nothing_and_zero_is_off)
{
    payment_limit l;
    payment_limit_init(&l, 8, 64, 20 * MS);
    payment_limit_observe(&l, 40 * MS, 1, 0);
    ck_assert_int_eq(l.value, 48);
    ck_assert_int_eq(payment_limit_observe(&l, 1 * MS, 0, 500 * MS), 48);
    payment_limit off;
    payment_limit_init(&off, 8, 64, 0);
    ck_assert_int_eq(payment_limit_observe(&off, 900 * MS, 1, 0), 64);
    payment_limit odd; /* bounds are made consistent */
    payment_limit_init(&odd, 100, 10, 20 * MS);
    ck_assert_int_eq(odd.min, 10);
    ck_assert_int_eq(odd.max, 10);
}
END_TEST

static Suite *limit_suite(void)
{
    Suite *s = suite_create("payment_worker_limit");
    TCase *tc = tcase_create("limit");
    tcase_add_test(tc, starts_at_the_maximum_and_cuts_on_a_slow_call);
    tcase_add_test(tc, quick_calls_raise_it_by_an_eighth_per_interval);
    tcase_add_test(tc, quick_failures_change_nothing_and_zero_is_off);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(limit_suite());
}
