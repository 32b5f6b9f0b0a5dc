/* se_batch.c - leader/followers batching (see se_batch.h).
 *
 * Each caller's item is wrapped in a `pending` on the caller's own stack and
 * linked into a FIFO under `mu`; the leader unlinks up to max_batch of them,
 * runs them with the lock released, then marks them finished and wakes
 * their owners. No allocation per call.
 *
 * Wake-ups are addressed: every caller sleeps on the condition variable of
 * its own `pending`, and a finished batch wakes the owners of its items and,
 * if items wait and a slot is free, the owner of the first one (to lead the
 * next batch). One shared condition variable broadcast per batch woke every
 * waiting caller, and all but a few went back to sleep after taking the
 * mutex in turn: under bench/orders most of the order service's time was
 * spent in those wake-ups and in waiting for the mutex (perf).
 */
#include "se_batch.h"

#include <pthread.h>
#include <stdlib.h>

#include "se_alloc.h"

typedef struct pending {
    void *item;
    int finished;
    pthread_cond_t wake; /* its owner sleeps on it */
    struct pending *next;
} pending;

struct se_batch {
    se_batch_run_fn run;
    void *ctx;
    int max_batch, max_in_flight;
    pthread_mutex_t mu;
    pending *head, **tail;
    int in_flight;
    unsigned long batches, items;
};

se_batch *se_batch_create(se_batch_run_fn run, void *ctx, int max_batch, int max_in_flight)
{
    se_batch *b = se_xcalloc(1, sizeof *b);
    b->run = run;
    b->ctx = ctx;
    b->max_batch = max_batch < 1 ? 1 : max_batch > SE_BATCH_MAX ? SE_BATCH_MAX : max_batch;
    b->max_in_flight = max_in_flight < 1 ? 1 : max_in_flight;
    pthread_mutex_init(&b->mu, NULL);
    b->tail = &b->head;
    return b;
}

void se_batch_destroy(se_batch *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* Under mu: unlinks up to max_batch pending items into batch. */
static int take_batch(se_batch *b, pending **batch)
{
    int n = 0;
    while (b->head != NULL && n < b->max_batch) {
        batch[n++] = b->head;
        b->head = b->head->next;
    }
    if (b->head == NULL)
        b->tail = &b->head;
    return n;
}

/* Under mu: if items wait and a slot is free, wakes the owner of the first
 * to lead them (any waiting caller may lead; this one surely waits). */
static void wake_next_leader(se_batch *b)
{
    if (b->head != NULL && b->in_flight < b->max_in_flight)
        pthread_cond_signal(&b->head->wake);
}

/* Called and returns with mu held; runs one batch with mu released. */
static void lead_batch(se_batch *b)
{
    pending *batch[SE_BATCH_MAX];
    void *items[SE_BATCH_MAX];
    int n = take_batch(b, batch);
    b->in_flight++;
    b->batches++;
    b->items += (unsigned long)n;
    wake_next_leader(b); /* more than a batch waits and another slot is free */
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < n; i++)
        items[i] = batch[i]->item;
    b->run(b->ctx, items, n);
    pthread_mutex_lock(&b->mu);
    b->in_flight--;
    /* the owners cannot return (and take their pending off the stack)
     * before we release mu */
    for (int i = 0; i < n; i++) {
        batch[i]->finished = 1;
        pthread_cond_signal(&batch[i]->wake);
    }
    wake_next_leader(b);
}

void se_batch_submit(se_batch *b, void *item)
{
    pending me = {.item = item};
    pthread_cond_init(&me.wake, NULL);
    pthread_mutex_lock(&b->mu);
    *b->tail = &me;
    b->tail = &me.next;
    /* woken: our item finished, or we are first in line and a slot is
     * free (we may lead items of others: ours may be in a running batch) */
    while (!me.finished) {
        if (b->in_flight < b->max_in_flight && b->head != NULL)
            lead_batch(b);
        else
            pthread_cond_wait(&me.wake, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&me.wake);
}

void se_batch_stats(se_batch *b, unsigned long *batches, unsigned long *items)
{
    pthread_mutex_lock(&b->mu);
    *batches = b->batches;
    *items = b->items;
    pthread_mutex_unlock(&b->mu);
}
