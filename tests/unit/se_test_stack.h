/* se_test_stack.h - helpers for the Check suites of the store helpers
 * (test_pg, test_redis, test_pool), most of them for running against the
 * local stack (PostgreSQL and Redis started by scripts/test.sh or
 * scripts/stack.sh): required environment, unique names, restarting a
 * server, doing something on another thread a little later, driving a
 * connection pool from several threads, and running a suite.
 *
 * Header-only (static inline) because every tests/unit/test_*.c is its own
 * executable; include it from the suites that need the stack.
 *
 * Without the stack these helpers fail the test with a message saying how
 * to run it: stack tests never skip silently.
 */
#ifndef SE_TEST_STACK_H
#define SE_TEST_STACK_H

#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "se_test.h" /* SE_T(): every time bound goes through it */

/* The value of `var` ("SE_PG_URL", "SE_REDIS_URL"); fails the test when it
 * is unset or empty. */
static inline const char *se_test_env_url(const char *var)
{
    const char *url = getenv(var);
    ck_assert_msg(url != NULL && url[0] != '\0',
                  "%s is not set: run the tests via scripts/test.sh (make test), "
                  "which starts PostgreSQL and Redis",
                  var);
    return url;
}

/* "<prefix><base><sep><pid>": a name unique to this process, so reruns on
 * one database never collide. The result lives until 8 more calls on the
 * same thread. */
static inline const char *se_test_uniq(const char *prefix, const char *base, const char *sep)
{
    /* per thread: suites call this from several threads at once, and a
     * shared ring (unsynchronized `next`) can hand two threads one slot and
     * let a key be read while another thread writes it - the likely cause of
     * test_redis once counting 399 of its 400 INCRs */
    static _Thread_local char buf[8][64];
    static _Thread_local int next;
    char *b = buf[next++ % 8];
    snprintf(b, 64, "%s%.40s%s%ld", prefix, base, sep, (long)getpid());
    return b;
}

/* Runs `scripts/stack.sh <what> $SE_STACK_DIR` ("stop-pg", "start-redis"):
 * fails the test if SE_STACK_DIR is unset or the script fails. */
static inline void se_test_stack(const char *what)
{
    const char *dir = getenv("SE_STACK_DIR");
    ck_assert_msg(dir != NULL, "SE_STACK_DIR is not set: run the tests via scripts/test.sh (make test)");
    /* __FILE__ is <repo>/tests/unit/se_test_stack.h */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s", __FILE__);
    char *cut = strstr(cmd, "/tests/unit/");
    ck_assert_ptr_nonnull(cut);
    snprintf(cut, sizeof cmd - (size_t)(cut - cmd), "/scripts/stack.sh %s '%s' >/dev/null", what, dir);
    ck_assert_msg(system(cmd) == 0, "%s failed", cmd);
}

/* Seconds on the monotonic clock, for "gave up in time" checks. */
static inline double se_test_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- later: fn(arg) on another thread after a delay ---------------------- */

typedef struct se_test_later {
    pthread_t thread;
    int delay_ms;
    void (*fn)(void *arg);
    void *arg;
} se_test_later;

static inline void *se_test_later_main(void *p)
{
    se_test_later *l = p;
    usleep((useconds_t)l->delay_ms * 1000);
    l->fn(l->arg);
    return NULL;
}

/* Starts a thread that runs fn(arg) after delay_ms (e.g. kills the
 * connection a statement is running on). OWNERSHIP: l and arg must live
 * until se_test_later_join. */
static inline void se_test_later_start(se_test_later *l, int delay_ms, void (*fn)(void *), void *arg)
{
    *l = (se_test_later){.delay_ms = delay_ms, .fn = fn, .arg = arg};
    ck_assert_int_eq(pthread_create(&l->thread, NULL, se_test_later_main, l), 0);
}

static inline void se_test_later_join(se_test_later *l)
{
    pthread_join(l->thread, NULL);
}

/* ---- pools: the same steps on several threads at once -------------------- */

/* One step of a pool worker: acquire from pool, use, release; 1 if the
 * step got the expected answer, 0 if not. */
typedef int (*se_test_pool_step)(void *pool, int i);

typedef struct se_test_pool_worker {
    void *pool;
    se_test_pool_step step;
    int iterations;
    int ok;
} se_test_pool_worker;

static inline void *se_test_pool_worker_main(void *p)
{
    se_test_pool_worker *w = p;
    for (int i = 0; i < w->iterations; i++)
        w->ok += w->step(w->pool, i) != 0;
    return NULL;
}

/* Runs step(pool, 0 .. iterations-1) on each of n_threads (<= 16) threads
 * at once and asserts that every step of every thread succeeded. */
static inline void se_test_pool_threads(void *pool, int n_threads, int iterations, se_test_pool_step step)
{
    se_test_pool_worker w[16];
    pthread_t t[16];
    ck_assert_int_le(n_threads, 16);
    for (int i = 0; i < n_threads; i++) {
        w[i] = (se_test_pool_worker){pool, step, iterations, 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, se_test_pool_worker_main, &w[i]), 0);
    }
    for (int i = 0; i < n_threads; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_eq(w[i].ok, iterations);
    }
}

#endif
