/* order_batch.h - group commit for CreateOrder: concurrent inserts share
 * one statement (order_store_insert_many).
 *
 * Why: every CreateOrder used to be its own INSERT statement and its own
 * commit. Under bench/orders PostgreSQL spent most of its time on what is
 * paid per statement and per commit (executor start-up, the data-modifying
 * CTE's plan, the WAL flush), not per row. Batching concurrent calls pays
 * it once per batch; a lone call is not delayed.
 *
 * How (leader/followers, no thread of its own): a caller queues its order
 * and, while fewer than max_in_flight batches run, becomes the leader of a
 * new batch: it takes up to max_batch queued orders (its own among them,
 * or ahead of it), runs the statement on its own thread, hands every order
 * its outcome and wakes the others. A caller that finds max_in_flight
 * batches running waits; when one ends, a waiter leads the next batch with
 * everything that queued meanwhile. So batches grow exactly as much as the
 * database is slower than the arrivals, and a caller waits at most for the
 * batch in front of it. After the commit the leader also hands the new
 * orders' payment jobs to Redis in one pipeline (order_outbox_enqueue).
 *
 * Configuration (environment; read by order_service_config_from_env):
 *   SE_ORDER_INSERT_BATCH (64)      most orders in one statement
 *   SE_ORDER_INSERT_CONCURRENCY (2) batches running at once (each holds
 *                                   one pool connection)
 *
 * THREAD: order_batch_insert from any thread at once.
 * OWNERSHIP: the batch borrows the store and the outbox (they must outlive
 * it); the caller
 * destroys the batch after the last insert returned.
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
