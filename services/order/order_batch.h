/* order_batch.h - group commit for CreateOrder: concurrent inserts share
 * one statement (order_store_insert_many).
 *
 * Why: every CreateOrder used to be its own INSERT statement and its own
 * commit. Under bench/orders PostgreSQL spent most of its time on what is
 * paid per statement and per commit (executor start-up, the data-modifying
 * CTE's plan, the WAL flush), not per row. Batching concurrent calls pays
 * it once per batch; a lone call is not delayed.
 *
 * How: the runtime's leader/followers batching (se_batch.h): the caller
 * whose order starts a batch runs it on its own thread for everything
 * queued meanwhile, so batches grow only as much as the database is
 * slower than the arrivals. After the commit the leader also hands the new
 * orders' payment jobs to Redis in one pipeline (order_outbox_enqueue).
 *
 * Configuration (environment; read by order_service_config_from_env):
 *   SE_ORDER_INSERT_BATCH (64)      most orders in one statement
 *   SE_ORDER_INSERT_CONCURRENCY (2) batches running at once (each holds
 *                                   one pool connection)
 *
 * THREAD: order_batch_insert from any thread at once.
 * OWNERSHIP: the batch borrows the store and the outbox (they must outlive
 * it); the caller destroys the batch after the last insert returned.
 */
#ifndef ORDER_BATCH_H
#define ORDER_BATCH_H

#include "order_outbox.h"
#include "order_store.h"

typedef struct order_batch order_batch;

order_batch *order_batch_create(order_store *store, order_outbox *outbox, int max_batch,
                                int max_in_flight);
void order_batch_destroy(order_batch *b);

/* order_store_insert's contract (1 inserted, 0 replayed, -1 with st), run
 * in a batch with whatever other orders are queued at the time. */
int order_batch_insert(order_batch *b, const order_new *o, Swifteats__V1__Order **out,
                       se_status *st);

/* Batches run and orders they carried so far (tests, metrics). */
void order_batch_stats(order_batch *b, unsigned long *batches, unsigned long *orders);

#endif
