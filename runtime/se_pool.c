/* se_pool.c - connection pool and connect backoff for the store helpers
 * (see se_pool.h).
 *
 * DESIGN
 * - The pool is a fixed array and a stack of free connections under one
 *   mutex; waiters sleep on a condition variable (CLOCK_MONOTONIC, so a
 *   wall-clock jump neither shortens nor stretches an acquire timeout).
 */
#include "se_pool.h"
#include "se_time.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "se_log.h"

struct se_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a connection is released */
    const char *name;  /* log event prefix: "pg", "redis" */
    int size;
    int n_free;
    se_pool_close_fn close;
    void **all;    /* size entries, owned: slots[0 .. size-1] */
    void **free;   /* stack of n_free available connections: slots[size ..] */
    void *slots[]; /* 2 * size entries */
};

se_pool *se_pool_create(const char *name, int size, se_pool_open_fn open, se_pool_close_fn close,
                        void *arg)
{
    if (size < 1)
        return NULL;
    se_pool *p = calloc(1, sizeof *p + 2 * (size_t)size * sizeof p->slots[0]);
    if (p == NULL) {
        se_log_error("out_of_memory", "%s pool: allocating %d slots", name, size);
        abort();
    }
    p->all = p->slots;
    p->free = p->slots + size;
    p->name = name;
    p->size = size;
    p->close = close;
    for (int i = 0; i < size; i++) {
        p->all[i] = p->free[i] = open(arg);
        if (p->all[i] == NULL) {
            while (i-- > 0)
                close(p->all[i]);
            free(p);
            return NULL;
        }
    }
    p->n_free = size;
    se_cond_init_monotonic(&p->cv);
    pthread_mutex_init(&p->mu, NULL);
    return p;
}

/* Logs "<name>_<what>" at `level`. */
static void pool_log(const se_pool *p, se_log_level level, const char *what, const char *msg)
{
    char event[48];
    snprintf(event, sizeof event, "%s_%s", p->name, what);
    se_log(level, event, "%s", msg);
}

void se_pool_destroy(se_pool *p)
{
    if (p == NULL)
        return;
    if (p->n_free != p->size) {
        char msg[96];
        snprintf(msg, sizeof msg, "destroying a pool with %d connection(s) still acquired",
                 p->size - p->n_free);
        pool_log(p, SE_LOG_ERROR, "pool_leak", msg);
    }
    for (int i = 0; i < p->size; i++)
        p->close(p->all[i]);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

void *se_pool_acquire(se_pool *p, int timeout_ms)
{
    struct timespec deadline = se_monotonic_after_ms(timeout_ms);
    pthread_mutex_lock(&p->mu);
    while (p->n_free == 0) {
        if (timeout_ms <= 0) {
            pthread_cond_wait(&p->cv, &p->mu);
        } else if (pthread_cond_timedwait(&p->cv, &p->mu, &deadline) == ETIMEDOUT && p->n_free == 0) {
            pthread_mutex_unlock(&p->mu);
            char msg[96];
            snprintf(msg, sizeof msg, "no connection free after %d ms (pool size %d)", timeout_ms,
                     p->size);
            pool_log(p, SE_LOG_WARN, "pool_timeout", msg);
            return NULL;
        }
    }
    void *conn = p->free[--p->n_free];
    pthread_mutex_unlock(&p->mu);
    return conn;
}

void se_pool_release(se_pool *p, void *conn)
{
    if (conn == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->free[p->n_free++] = conn;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- connect backoff ---------------------------------------------------- */

static const int backoff_ms[SE_CONNECT_ATTEMPTS] = {0, 50, 100, 200, 400, 800};

void se_connect_backoff(int attempt)
{
    if (attempt < 0)
        attempt = 0;
    if (attempt >= SE_CONNECT_ATTEMPTS)
        attempt = SE_CONNECT_ATTEMPTS - 1;
    se_sleep_ms(backoff_ms[attempt]);
}

void se_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
