/* test_pool.c - se_pool with fake connections (no servers needed): opening
 * up front, cleanup when an open fails, acquire timeouts, hand-off between
 * threads, and the connect backoff. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "se_log.h"
#include "se_pool.h"
#include "se_test_stack.h" /* se_test_seconds, se_test_run, SE_T; no stack needed */

/* Fake connections are ints numbered by open order; `fail_at` makes the
 * open with that number fail. */
typedef struct fake {
    int opened;
    int closed;
    int fail_at; /* -1: never */
    int close_order[8];
} fake;

static fake *g_fake; /* the close callback gets only the connection */

static void *fake_open(void *arg)
{
    fake *f = arg;
    if (f->opened == f->fail_at)
        return NULL;
    int *c = malloc(sizeof *c);
    ck_assert_ptr_nonnull(c);
    *c = f->opened++;
    return c;
}

static void fake_close(void *conn)
{
    int *c = conn;
    g_fake->close_order[g_fake->closed++] = *c;
    free(c);
}

static void setup(void)
{
    se_log_init("test_pool");
}

START_TEST(opens_all_up_front_and_closes_all)
{
    fake f = {.fail_at = -1};
    g_fake = &f;
    se_pool *p = se_pool_create("fake", 3, fake_open, fake_close, &f);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(f.opened, 3);
    se_pool_destroy(p);
    ck_assert_int_eq(f.closed, 3);
    se_pool_destroy(NULL);
}
END_TEST

START_TEST(failed_open_closes_the_others_newest_first)
{
    fake f = {.fail_at = 2};
    g_fake = &f;
    ck_assert_ptr_null(se_pool_create("fake", 4, fake_open, fake_close, &f));
    ck_assert_int_eq(f.closed, 2);
    ck_assert_int_eq(f.close_order[0], 1);
    ck_assert_int_eq(f.close_order[1], 0);
    ck_assert_ptr_null(se_pool_create("fake", 0, fake_open, fake_close, &f));
    ck_assert_int_eq(f.opened, 2); /* size 0 opened nothing */
}
END_TEST

START_TEST(acquire_times_out_when_all_are_taken)
{
    fake f = {.fail_at = -1};
    g_fake = &f;
    se_pool *p = se_pool_create("fake", 2, fake_open, fake_close, &f);
    int *a = se_pool_acquire(p, 0), *b = se_pool_acquire(p, 100);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_ne(a, b);
    double t0 = se_test_seconds();
    ck_assert_ptr_null(se_pool_acquire(p, 150));
    double took = se_test_seconds() - t0;
    ck_assert_msg(took >= 0.14 && took < SE_T(2000) / 1000.0, "timed out after %.3f s", took);
    se_pool_release(p, a);
    se_pool_release(p, NULL); /* ignored */
    ck_assert_ptr_eq(se_pool_acquire(p, 100), a); /* a stack: last in, first out */
    se_pool_release(p, a);
    se_pool_release(p, b);
    se_pool_destroy(p);
}
END_TEST

typedef struct holder {
    se_pool *pool;
    void *conn;
} holder;

static void *release_later(void *arg)
{
    holder *h = arg;
    struct timespec ts = {0, 100 * 1000000L};
    nanosleep(&ts, NULL);
    se_pool_release(h->pool, h->conn);
    return NULL;
}

START_TEST(waiter_gets_a_connection_released_by_another_thread)
{
    fake f = {.fail_at = -1};
    g_fake = &f;
    se_pool *p = se_pool_create("fake", 1, fake_open, fake_close, &f);
    holder h = {p, se_pool_acquire(p, 0)};
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, release_later, &h), 0);
    void *again = se_pool_acquire(p, 0); /* waits without a deadline */
    pthread_join(t, NULL);
    ck_assert_ptr_eq(again, h.conn);
    se_pool_release(p, again);
    se_pool_destroy(p);
}
END_TEST

START_TEST(backoff_is_bounded)
{
    double t0 = se_test_seconds();
    for (int i = 0; i < SE_CONNECT_ATTEMPTS; i++)
        se_connect_backoff(i);
    double all = se_test_seconds() - t0;
    ck_assert_msg(all >= 1.5 && all < SE_T(3000) / 1000.0, "full backoff took %.3f s", all);
    t0 = se_test_seconds();
    se_connect_backoff(-1); /* clamped to the first (no) wait */
    ck_assert_msg(se_test_seconds() - t0 < SE_T(50) / 1000.0, "attempt -1 slept");
}
END_TEST

static Suite *pool_suite(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, opens_all_up_front_and_closes_all);
    tcase_add_test(tc, failed_open_closes_the_others_newest_first);
    tcase_add_test(tc, acquire_times_out_when_all_are_taken);
    tcase_add_test(tc, waiter_gets_a_connection_released_by_another_thread);
    tcase_add_test(tc, backoff_is_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(pool_suite());
}
