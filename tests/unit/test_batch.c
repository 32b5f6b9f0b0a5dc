/* test_batch.c - se_batch (leader/followers batching; no servers needed):
 * every item handled exactly once with its own result, a lone caller runs
 * at once, concurrent callers share runs, and no more than max_in_flight
 * runs at a time. */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "se_batch.h"
#include "se_test_stack.h" /* se_test_run, SE_T; no stack needed */

typedef struct item {
    int in;
    int out;
    int handled; /* how many times run() saw it */
} item;

typedef struct counters {
    atomic_int running, max_running, runs, biggest;
    int sleep_us; /* each run takes this long */
} counters;

/* Doubles every item; records concurrency and batch sizes. */
static void run_double(void *ctx, void **items, int n)
{
    counters *c = ctx;
    int now = atomic_fetch_add(&c->running, 1) + 1;
    int seen = atomic_load(&c->max_running);
    while (now > seen && !atomic_compare_exchange_weak(&c->max_running, &seen, now)) {
    }
    int big = atomic_load(&c->biggest);
    while (n > big && !atomic_compare_exchange_weak(&c->biggest, &big, n)) {
    }
    atomic_fetch_add(&c->runs, 1);
    struct timespec ts = {0, (long)c->sleep_us * 1000};
    nanosleep(&ts, NULL);
    for (int i = 0; i < n; i++) {
        item *it = items[i];
        it->out = it->in * 2;
        it->handled++;
    }
    atomic_fetch_sub(&c->running, 1);
}

START_TEST(a_lone_caller_runs_at_once)
{
    counters c = {.sleep_us = 0};
    se_batch *b = se_batch_create(run_double, &c, 8, 1);
    item it = {.in = 21};
    se_batch_submit(b, &it);
    ck_assert_int_eq(it.out, 42);
    ck_assert_int_eq(it.handled, 1);
    unsigned long batches, items;
    se_batch_stats(b, &batches, &items);
    ck_assert_uint_eq(batches, 1);
    ck_assert_uint_eq(items, 1);
    se_batch_destroy(b);
}
END_TEST

enum { THREADS = 16, PER_THREAD = 200 };

typedef struct worker_arg {
    se_batch *b;
    item items[PER_THREAD];
} worker_arg;

static void *submitter(void *arg)
{
    worker_arg *w = arg;
    for (int i = 0; i < PER_THREAD; i++)
        se_batch_submit(w->b, &w->items[i]);
    return NULL;
}

START_TEST(concurrent_callers_share_runs_within_the_limits)
{
    counters c = {.sleep_us = 200};
    se_batch *b = se_batch_create(run_double, &c, 5, 2);
    static worker_arg w[THREADS];
    pthread_t t[THREADS];
    for (int k = 0; k < THREADS; k++) {
        w[k].b = b;
        for (int i = 0; i < PER_THREAD; i++)
            w[k].items[i] = (item){.in = k * 1000 + i};
        ck_assert_int_eq(pthread_create(&t[k], NULL, submitter, &w[k]), 0);
    }
    for (int k = 0; k < THREADS; k++)
        pthread_join(t[k], NULL);
    for (int k = 0; k < THREADS; k++)
        for (int i = 0; i < PER_THREAD; i++) {
            ck_assert_int_eq(w[k].items[i].handled, 1);
            ck_assert_int_eq(w[k].items[i].out, 2 * (k * 1000 + i));
        }
    unsigned long batches, items;
    se_batch_stats(b, &batches, &items);
    ck_assert_uint_eq(items, THREADS * PER_THREAD);
    ck_assert_uint_eq(batches, (unsigned long)atomic_load(&c.runs));
    ck_assert_uint_lt(batches, items);          /* runs were shared */
    ck_assert_int_le(atomic_load(&c.biggest), 5); /* max_batch */
    ck_assert_int_gt(atomic_load(&c.biggest), 1);
    /* max_in_flight, and used: a leader that leaves items queued wakes a
     * caller to lead them in the free slot (wake-ups are addressed) */
    ck_assert_int_eq(atomic_load(&c.max_running), 2);
    se_batch_destroy(b);
}
END_TEST

START_TEST(limits_are_clamped)
{
    counters c = {0};
    se_batch *b = se_batch_create(run_double, &c, 100000, 0);
    item it = {.in = 1};
    se_batch_submit(b, &it);
    ck_assert_int_eq(it.out, 2);
    se_batch_destroy(b);
    se_batch_destroy(NULL);
}
END_TEST

static Suite *batch_suite(void)
{
    Suite *s = suite_create("batch");
    TCase *tc = tcase_create("batch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_lone_caller_runs_at_once);
    tcase_add_test(tc, concurrent_callers_share_runs_within_the_limits);
    tcase_add_test(tc, limits_are_clamped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(batch_suite());
}
