/* order_service.h - the order service as an object: its PostgreSQL pool,
 * store, menu pricer and outbox relay, and the OrderService handler table
 * registered on a gRPC server. se-order (main.c) builds one from the
 * environment; the tests build one with their own configuration and serve
 * it on port 0.
 *
 * Configuration (environment; README.md lists them for the lead):
 *   SE_PG_URL                      required: the PostgreSQL database
 *   SE_ORDER_PG_POOL_SIZE (16)     PostgreSQL connections of the handlers
 *                                  (the order service does not read the
 *                                  shared SE_PG_POOL_SIZE: its handlers
 *                                  block on PostgreSQL, one connection per
 *                                  server thread, ORDER_DEFAULT_THREADS)
 *   SE_ORDER_PAYMENT_PG_POOL_SIZE (4)  a second pool for the payment
 *                                  worker's calls (GetPaymentJob,
 *                                  RecordPaymentAttempt): bounded apart so
 *                                  payments cannot crowd out CreateOrder;
 *                                  asynchronous commits (order_store.h)
 *   SE_ORDER_INSERT_BATCH (64), SE_ORDER_INSERT_CONCURRENCY (2)
 *                                  CreateOrder group commit (order_batch.h)
 *   SE_MENU_TARGET (127.0.0.1:50051)  where GetItemsForOrder goes
 *   SE_ORDER_MENU_TIMEOUT_MS (1000)   deadline of that call
 *   SE_ORDER_MENU_BATCH (16), SE_ORDER_MENU_CONCURRENCY (2)
 *                                  orders priced per call at most, and
 *                                  calls in flight (order_pricing.h)
 *   SE_REDIS_URL, SE_REDIS_TIMEOUT_MS, SE_PAYMENT_STREAM, SE_PAYMENT_GROUP,
 *   SE_ORDER_OUTBOX_POLL_MS, SE_ORDER_OUTBOX_BATCH,
 *   SE_ORDER_PAYMENT_REDELIVER_MS  the outbox relay (order_outbox.h)
 *   SE_RPC_THREADS                 server threads; se-order's default is
 *                                  ORDER_DEFAULT_THREADS, not 2
 */
#ifndef ORDER_SERVICE_H
#define ORDER_SERVICE_H

#include "order_batch.h"
#include "order_outbox.h"
#include "order_pricing.h"
#include "order_store.h"
#include "se_rpc.h"

/* Server threads of se-order when SE_RPC_THREADS is unset: every handler
 * blocks on the menu service and PostgreSQL, so concurrency needs threads. */
#define ORDER_DEFAULT_THREADS 16

typedef struct order_service_config {
    const char *pg_url;         /* SE_PG_URL (required) */
    int pg_pool_size;           /* SE_ORDER_PG_POOL_SIZE (16) */
    int payment_pg_pool_size;   /* SE_ORDER_PAYMENT_PG_POOL_SIZE (4); 0: 4 */
    int insert_batch;           /* SE_ORDER_INSERT_BATCH (64); 0: 64 */
    int insert_concurrency;     /* SE_ORDER_INSERT_CONCURRENCY (2); 0: 2 */
    const char *menu_target;    /* SE_MENU_TARGET */
    int menu_timeout_ms;        /* SE_ORDER_MENU_TIMEOUT_MS (1000) */
    int menu_batch;             /* SE_ORDER_MENU_BATCH (16); 0: 16 */
    int menu_concurrency;       /* SE_ORDER_MENU_CONCURRENCY (2); 0: 2 */
    order_outbox_config outbox; /* SE_REDIS_*, SE_PAYMENT_*, SE_ORDER_OUTBOX_* (pg_url
                                   is taken from above) */
} order_service_config;

/* Reads the configuration from the environment (exits(2) on bad values or
 * a missing SE_PG_URL, as every se_config reader). */
void order_service_config_from_env(order_service_config *cfg);

typedef struct order_service order_service;

/* Opens the pool (PostgreSQL must answer), applies the migrations, starts
 * the outbox relay (Redis need not answer). THREAD: after se_rpc_init.
 * OWNERSHIP: cfg is copied (strings borrowed until create returns); the
 * caller destroys the service. ON ERROR: NULL, logged. */
order_service *order_service_create(const order_service_config *cfg);

/* Registers OrderService on s (before se_server_start). 0 or -1. */
int order_service_register(se_server *s, order_service *svc);

/* Stops the relay (after a last pass) and frees everything; the server
 * must have been shut down. NULL is fine. */
void order_service_destroy(order_service *svc);

/* Parts, for the handlers and tests (borrowed). */
order_store *order_service_store(order_service *svc);
order_batch *order_service_batch(order_service *svc);
order_pricing *order_service_pricing(order_service *svc);
order_outbox *order_service_outbox(order_service *svc);
se_pg_pool *order_service_pg(order_service *svc);

#endif
