/* paygw_timer.c - one thread, a min-heap and a condition variable (see
 * paygw_timer.h). */
#include "paygw_timer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "se_alloc.h"
#include "se_time.h"
#include "se_log.h"

typedef struct timer_entry {
    int64_t due_ns; /* CLOCK_MONOTONIC */
    uint64_t seq;   /* registration order, breaks ties */
    paygw_timer_fn fn;
    void *arg;
} timer_entry;

struct paygw_timer {
    pthread_mutex_t mu;   /* guards the heap, seq, stopping */
    pthread_cond_t wake;  /* new earliest entry, or stop */
    timer_entry *heap;    /* binary min-heap on (due_ns, seq) */
    size_t len, cap;
    uint64_t seq;
    int stopping;
    int joined;           /* thread joined (stop's job; under mu) */
    pthread_t thread;
};

/* ---- heap ------------------------------------------------------------------- */

static int before(const timer_entry *a, const timer_entry *b)
{
    return a->due_ns < b->due_ns || (a->due_ns == b->due_ns && a->seq < b->seq);
}

static void swap(timer_entry *a, timer_entry *b)
{
    timer_entry t = *a;
    *a = *b;
    *b = t;
}

static void heap_push(paygw_timer *t, timer_entry e)
{
    if (t->len == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->heap = se_xrealloc(t->heap, t->cap * sizeof *t->heap);
    }
    size_t i = t->len++;
    t->heap[i] = e;
    while (i > 0 && before(&t->heap[i], &t->heap[(i - 1) / 2])) {
        swap(&t->heap[i], &t->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
}

static timer_entry heap_pop(paygw_timer *t)
{
    timer_entry top = t->heap[0];
    t->heap[0] = t->heap[--t->len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < t->len && before(&t->heap[l], &t->heap[m]))
            m = l;
        if (r < t->len && before(&t->heap[r], &t->heap[m]))
            m = r;
        if (m == i)
            break;
        swap(&t->heap[i], &t->heap[m]);
        i = m;
    }
    return top;
}

/* ---- thread --------------------------------------------------------------------- */

static struct timespec ts_of_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    return ts;
}

/* Moves every due entry into *batch (grown as needed); returns how many.
 * Called with mu held. */
static size_t take_due(paygw_timer *t, timer_entry **batch, size_t *batch_cap)
{
    size_t n = 0;
    int64_t now = se_mono_ns();
    while (t->len > 0 && t->heap[0].due_ns <= now) {
        if (n == *batch_cap) {
            *batch_cap = *batch_cap ? *batch_cap * 2 : 64;
            *batch = se_xrealloc(*batch, *batch_cap * sizeof **batch);
        }
        (*batch)[n++] = heap_pop(t);
    }
    return n;
}

static void *timer_main(void *arg)
{
    paygw_timer *t = arg;
    timer_entry *batch = NULL;
    size_t batch_cap = 0;
    pthread_mutex_lock(&t->mu);
    while (!t->stopping) {
        size_t n = take_due(t, &batch, &batch_cap);
        if (n == 0) {
            if (t->len == 0) {
                pthread_cond_wait(&t->wake, &t->mu);
            } else {
                struct timespec until = ts_of_ns(t->heap[0].due_ns);
                pthread_cond_timedwait(&t->wake, &t->mu, &until);
            }
            continue;
        }
        pthread_mutex_unlock(&t->mu);
        for (size_t i = 0; i < n; i++)
            batch[i].fn(batch[i].arg, 0);
        pthread_mutex_lock(&t->mu);
    }
    pthread_mutex_unlock(&t->mu);
    free(batch);
    return NULL;
}

/* ---- API ------------------------------------------------------------------------- */

paygw_timer *paygw_timer_create(void)
{
    paygw_timer *t = se_xcalloc(1, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    se_cond_init_monotonic(&t->wake);
    int err = pthread_create(&t->thread, NULL, timer_main, t);
    if (err != 0) {
        se_log_error("paygw_timer_failed", "pthread_create: %s", strerror(err));
        pthread_cond_destroy(&t->wake);
        pthread_mutex_destroy(&t->mu);
        free(t);
        return NULL;
    }
    return t;
}

int paygw_timer_add(paygw_timer *t, int64_t due_ns, paygw_timer_fn fn, void *arg)
{
    pthread_mutex_lock(&t->mu);
    if (t->stopping) {
        pthread_mutex_unlock(&t->mu);
        return -1;
    }
    timer_entry e = {due_ns, t->seq++, fn, arg};
    heap_push(t, e);
    int earliest = t->heap[0].seq == e.seq;
    pthread_mutex_unlock(&t->mu);
    if (earliest)
        pthread_cond_signal(&t->wake);
    return 0;
}

size_t paygw_timer_pending(paygw_timer *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->len;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void paygw_timer_stop(paygw_timer *t)
{
    pthread_mutex_lock(&t->mu);
    t->stopping = 1;
    int join = !t->joined;
    t->joined = 1;
    pthread_cond_signal(&t->wake);
    pthread_mutex_unlock(&t->mu);
    if (join)
        pthread_join(t->thread, NULL);
    for (;;) { /* nothing is added any more: drain what is left */
        pthread_mutex_lock(&t->mu);
        if (t->len == 0) {
            pthread_mutex_unlock(&t->mu);
            break;
        }
        timer_entry e = heap_pop(t);
        pthread_mutex_unlock(&t->mu);
        e.fn(e.arg, 1);
    }
}

void paygw_timer_destroy(paygw_timer *t)
{
    if (t == NULL)
        return;
    paygw_timer_stop(t);
    free(t->heap);
    pthread_cond_destroy(&t->wake);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
