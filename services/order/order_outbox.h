/* order_outbox.h - the outbox relay: moves payment_outbox rows to the
 * payment job stream (Redis), as the contract between the order service and
 * the payment worker says (/work/notes/payment-contract.md; the DESIGN note
 * is at the top of order_outbox.c).
 *
 * THREAD: the relay runs on a thread of its own with its own PostgreSQL and
 * Redis connections; order_outbox_enqueue and the counters are safe from
 * any thread; create/destroy from one thread.
 */
#ifndef ORDER_OUTBOX_H
#define ORDER_OUTBOX_H

#include <stddef.h>
#include <stdint.h>

typedef struct order_outbox_config {
    const char *pg_url;      /* SE_PG_URL */
    const char *redis_url;   /* SE_REDIS_URL (redis://127.0.0.1:6379/0) */
    int redis_timeout_ms;    /* SE_REDIS_TIMEOUT_MS (1000): connect and command */
    const char *stream;      /* SE_PAYMENT_STREAM ("se:payment:jobs") */
    const char *group;       /* SE_PAYMENT_GROUP ("payment-workers") */
    int poll_ms;             /* SE_ORDER_OUTBOX_POLL_MS (1000): pass without a wake-up,
                                and the retry interval while Redis or PostgreSQL fails */
    int batch;               /* SE_ORDER_OUTBOX_BATCH (256): new rows per transaction
                                (and as many stale ones) */
    int redeliver_ms;        /* SE_ORDER_PAYMENT_REDELIVER_MS (300000): enqueue a row
                                again when its job is older than this */
} order_outbox_config;

/* Reads the outbox variables above (not pg_url) from the environment;
 * exits(2) on bad values, as every se_config reader. */
void order_outbox_config_from_env(order_outbox_config *cfg);

typedef struct order_outbox order_outbox;

/* Opens the relay's PostgreSQL connection (PostgreSQL must answer) and
 * Redis connection (Redis need not: the relay retries), and starts the
 * relay thread. OWNERSHIP: cfg's strings are copied; the caller destroys.
 * ON ERROR: NULL, logged. */
order_outbox *order_outbox_create(const order_outbox_config *cfg);

/* The jobs of n orders just committed (ids, request ids; created_us: the
 * orders' created_at in microseconds since the epoch, the oldest if they
 * differ), XADDed from the calling thread in one pipeline. If that fails,
 * or while the relay is failing, the relay sends every unsent row created
 * since created_us instead. Never fails: the rows are committed, so the
 * jobs are only ever late. THREAD: any (one direct connection, locked). */
void order_outbox_enqueue(order_outbox *ob, size_t n, const int64_t *ids,
                          const char *const *request_ids, int64_t created_us);

/* Asks the relay to send every unsent row created since since_us (us since
 * the epoch): for inserts whose outcome is unknown (the connection was
 * lost during the statement: it may have committed, so its jobs may be
 * due, but their ids are not known). Sends some jobs twice, which the
 * worker tolerates. THREAD: any. */
void order_outbox_sweep_since(order_outbox *ob, int64_t since_us);

/* Stops the relay after one last pass (rows committed before the call are
 * relayed if Redis answers), joins it, closes its connections, frees
 * (NULL is fine). */
void order_outbox_destroy(order_outbox *ob);

/* Test and metrics hooks. THREAD: any. */
unsigned long order_outbox_relayed(order_outbox *ob); /* jobs XADDed so far */
int order_outbox_failing(order_outbox *ob);           /* 1 during an outage */

#endif
