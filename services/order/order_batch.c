/* order_batch.c - group commit for CreateOrder (see order_batch.h) on the
 * runtime's leader/followers batching (se_batch.h): each call's order is an
 * item; a batch is one order_store_insert_many, then one pipeline of XADDs
 * for the orders it inserted.
 */
#include "order_batch.h"

#include <stdint.h>
#include <stdlib.h>

#include "se_alloc.h"
#include "se_batch.h"
#include "se_time.h"

typedef struct insert_item {
    const order_new *order;
    Swifteats__V1__Order *out;
    se_status st;
    int rc;
} insert_item;

struct order_batch {
    order_store *store;   /* borrowed */
    order_outbox *outbox; /* borrowed */
    se_batch *batch;
};

static int64_t timestamp_us(const Google__Protobuf__Timestamp *t)
{
    return t != NULL ? t->seconds * 1000000 + t->nanos / 1000 : 0;
}

/* The payment jobs of the orders the batch inserted, straight to Redis
 * (before anyone is answered: the messages and request ids are the
 * callers'). */
static void enqueue_jobs(order_batch *b, insert_item **items, int n)
{
    int64_t ids[SE_BATCH_MAX], oldest = INT64_MAX;
    const char *request_ids[SE_BATCH_MAX];
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        if (items[i]->rc != 1)
            continue;
        ids[k] = items[i]->out->id;
        request_ids[k++] = items[i]->order->request_id;
        int64_t us = timestamp_us(items[i]->out->created_at);
        if (us < oldest)
            oldest = us;
    }
    order_outbox_enqueue(b->outbox, k, ids, request_ids, oldest);
}

/* An insert that failed UNAVAILABLE may still have committed (the
 * connection was lost during the statement), and then its orders' jobs are
 * due but their ids unknown: the relay sends every unsent row created since
 * shortly before the statement. The margin covers a database clock that
 * is behind ours (created_at is the database's now()). */
#define UNKNOWN_COMMIT_MARGIN_US (60 * 1000000LL)

static void sweep_unknown_commits(order_batch *b, insert_item **items, int n, int64_t t0_us)
{
    for (int i = 0; i < n; i++)
        if (items[i]->rc < 0 && items[i]->st.code == GRPC_STATUS_UNAVAILABLE) {
            order_outbox_sweep_since(b->outbox, t0_us - UNKNOWN_COMMIT_MARGIN_US);
            return;
        }
}

static void run_inserts(void *ctx, void **raw, int n)
{
    order_batch *b = ctx;
    insert_item **items = (insert_item **)raw;
    int64_t t0_us = se_wall_us();
    if (n == 1) {
        items[0]->rc = order_store_insert(b->store, items[0]->order, &items[0]->out,
                                          &items[0]->st);
    } else {
        const order_new *orders[SE_BATCH_MAX] = {0};
        Swifteats__V1__Order *out[SE_BATCH_MAX] = {0};
        se_status st[SE_BATCH_MAX];
        int rc[SE_BATCH_MAX];
        for (int i = 0; i < n; i++)
            orders[i] = items[i]->order;
        order_store_insert_many(b->store, orders, (size_t)n, rc, out, st);
        for (int i = 0; i < n; i++) {
            items[i]->rc = rc[i];
            items[i]->out = rc[i] >= 0 ? out[i] : NULL;
            if (rc[i] < 0)
                items[i]->st = st[i];
        }
    }
    enqueue_jobs(b, items, n);
    sweep_unknown_commits(b, items, n, t0_us);
}

order_batch *order_batch_create(order_store *store, order_outbox *outbox, int max_batch,
                                int max_in_flight)
{
    order_batch *b = se_xcalloc(1, sizeof *b);
    b->store = store;
    b->outbox = outbox;
    b->batch = se_batch_create(run_inserts, b, max_batch, max_in_flight);
    return b;
}

void order_batch_destroy(order_batch *b)
{
    if (b == NULL)
        return;
    se_batch_destroy(b->batch);
    free(b);
}

int order_batch_insert(order_batch *b, const order_new *o, Swifteats__V1__Order **out,
                       se_status *st)
{
    insert_item item = {.order = o};
    se_batch_submit(b->batch, &item);
    if (item.rc >= 0)
        *out = item.out;
    else
        *st = item.st;
    return item.rc;
}

void order_batch_stats(order_batch *b, unsigned long *batches, unsigned long *orders)
{
    se_batch_stats(b->batch, batches, orders);
}
