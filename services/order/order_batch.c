/* order_batch.c - group commit for CreateOrder (see order_batch.h).
 *
 * Each caller's request lives on its own stack (a `pending`) and is linked
 * into a FIFO under `mu`; the leader unlinks up to max_batch of them, runs
 * them with the lock released, then stores every outcome and broadcasts
 * `done`. A caller returns once its own `finished` is set. No allocation
 * beyond the leader's arrays of pointers (on its stack up to
 * ORDER_BATCH_MAX).
 */
#include "order_batch.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "se_alloc.h"

#define ORDER_BATCH_MAX 128

typedef struct pending {
    const order_new *order;
    Swifteats__V1__Order *out;
    se_status st;
    int rc;
    int finished;
    struct pending *next;
} pending;

struct order_batch {
    order_store *store;   /* borrowed */
    order_outbox *outbox; /* borrowed */
    int max_batch, max_in_flight;
    pthread_mutex_t mu;
    pthread_cond_t done;
    pending *head, **tail;
    int in_flight;
    unsigned long batches, orders; /* statistics */
};

order_batch *order_batch_create(order_store *store, order_outbox *outbox, int max_batch,
                                int max_in_flight)
{
    order_batch *b = se_xcalloc(1, sizeof *b);
    b->store = store;
    b->outbox = outbox;
    b->max_batch = max_batch < 1 ? 1 : max_batch > ORDER_BATCH_MAX ? ORDER_BATCH_MAX : max_batch;
    b->max_in_flight = max_in_flight < 1 ? 1 : max_in_flight;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->done, NULL);
    b->tail = &b->head;
    return b;
}

void order_batch_destroy(order_batch *b)
{
    if (b == NULL)
        return;
    pthread_cond_destroy(&b->done);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* Under mu: unlinks up to max_batch pending orders into batch. */
static int take_batch(order_batch *b, pending **batch)
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

static int64_t timestamp_us(const Google__Protobuf__Timestamp *t)
{
    return t != NULL ? t->seconds * 1000000 + t->nanos / 1000 : 0;
}

/* The payment jobs of the orders the batch inserted, straight to Redis
 * (before anyone is answered: the messages are the callers'). */
static void enqueue_jobs(order_batch *b, pending **batch, int n, const int *rc,
                         Swifteats__V1__Order **out)
{
    int64_t ids[ORDER_BATCH_MAX], oldest = INT64_MAX;
    const char *request_ids[ORDER_BATCH_MAX];
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (rc[i] != 1)
            continue;
        ids[k] = out[i]->id;
        request_ids[k++] = batch[i]->order->request_id;
        int64_t us = timestamp_us(out[i]->created_at);
        if (us < oldest)
            oldest = us;
    }
    order_outbox_enqueue(b->outbox, k, ids, request_ids, oldest);
}

/* Without mu: inserts the batch, enqueues the payment jobs and fills in
 * every outcome but `finished`. */
static void run_batch(order_batch *b, pending **batch, int n)
{
    const order_new *orders[ORDER_BATCH_MAX];
    Swifteats__V1__Order *out[ORDER_BATCH_MAX] = {0};
    se_status st[ORDER_BATCH_MAX];
    int rc[ORDER_BATCH_MAX];
    for (int i = 0; i < n; i++)
        orders[i] = batch[i]->order;
    if (n == 1)
        rc[0] = order_store_insert(b->store, orders[0], &out[0], &st[0]);
    else
        order_store_insert_many(b->store, orders, (size_t)n, rc, out, st);
    enqueue_jobs(b, batch, n, rc, out);
    for (int i = 0; i < n; i++) {
        batch[i]->rc = rc[i];
        batch[i]->out = rc[i] >= 0 ? out[i] : NULL;
        if (rc[i] < 0)
            batch[i]->st = st[i];
    }
}

int order_batch_insert(order_batch *b, const order_new *o, Swifteats__V1__Order **out,
                       se_status *st)
{
    pending me = {.order = o};
    pthread_mutex_lock(&b->mu);
    *b->tail = &me;
    b->tail = &me.next;
    while (!me.finished) {
        if (b->in_flight < b->max_in_flight && b->head != NULL) {
            pending *batch[ORDER_BATCH_MAX];
            int n = take_batch(b, batch);
            b->in_flight++;
            b->batches++;
            b->orders += (unsigned long)n;
            pthread_mutex_unlock(&b->mu);
            run_batch(b, batch, n);
            pthread_mutex_lock(&b->mu);
            b->in_flight--;
            for (int i = 0; i < n; i++)
                batch[i]->finished = 1;
            pthread_cond_broadcast(&b->done);
            continue;
        }
        pthread_cond_wait(&b->done, &b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    if (me.rc >= 0)
        *out = me.out;
    else
        *st = me.st;
    return me.rc;
}

void order_batch_stats(order_batch *b, unsigned long *batches, unsigned long *orders)
{
    pthread_mutex_lock(&b->mu);
    *batches = b->batches;
    *orders = b->orders;
    pthread_mutex_unlock(&b->mu);
}
