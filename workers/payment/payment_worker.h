/* payment_worker.h - the payment worker as an object: configuration from
 * the environment, a dispatcher thread reading the payment stream, a pool of
 * job threads running payment jobs, the circuit breaker around the gateway.
 * se-payment-worker (main.c) builds one from the environment; the suites
 * build one with their own configuration against in-process fakes.
 *
 * DESIGN (threads and queues)
 *   dispatcher (1 thread)  XREADGROUP ... COUNT n BLOCK ms into a bounded
 *       in-process FIFO, reading only when the FIFO has room (back-pressure:
 *       what this process cannot start soon stays in Redis for the other
 *       replicas). On start it first re-reads its own pending entries (id 0)
 *       so a restart under the same consumer name resumes them. Every
 *       min(reclaim interval, claim idle / 3) it refreshes the idle time of
 *       every entry this process holds (queued or running) so no other
 *       consumer reclaims a live job, however long it waits for the breaker;
 *       every reclaim interval it XAUTOCLAIMs entries idle longer than the
 *       claim idle time (crashed consumers). Before queueing an entry it
 *       filters: no valid order_id, or delivered more than max_deliveries
 *       times -> dead-letter stream, ack, delete; an order already held by
 *       this process -> ack the duplicate at once (the first one finishes
 *       the order; if it is stopped instead, its own entry stays pending).
 *   job threads (`concurrency`)  take entries from the FIFO and run
 *       payment_job_run with the generated blocking clients; an entry is
 *       acknowledged (XACK + XDEL) only when the job says so (outcome
 *       recorded, or moot).
 *   breaker  shared by all jobs; its state is published as the health of
 *       service "swifteats.payment.Breaker" (SERVING when closed or
 *       half-open, NOT_SERVING when open) on cfg.health, if given.
 *
 * Stop (payment_worker_stop, on SIGTERM): the dispatcher stops reading;
 * queued entries are not started; running jobs get up to stop_grace_ms to
 * finish; then every wait (breaker, backoff) ends and each job stops at its
 * next step (one RPC at most) and is left pending, to be reclaimed by
 * another worker (or resumed by this consumer name on restart) - safe,
 * since every try of an order uses the same idempotency key.
 *
 * Environment (payment_worker_config_from_env; README lists them too):
 *   SE_REDIS_URL (redis://127.0.0.1:6379/0), SE_REDIS_POOL_SIZE (4),
 *   SE_REDIS_TIMEOUT_MS (1000)
 *   SE_ORDER_TARGET (127.0.0.1:50052), SE_PAYMENT_GATEWAY_TARGET
 *       (127.0.0.1:50054)
 *   SE_PAYMENT_STREAM (se:payment:jobs), SE_PAYMENT_GROUP (payment-workers),
 *   SE_PAYMENT_DEAD_STREAM (se:payment:dead), SE_PAYMENT_CONSUMER
 *       (<hostname>-<pid>): this worker's consumer name in the group
 *   SE_PAYMENT_CONCURRENCY (512): job threads, i.e. charges in flight at most
 *   SE_PAYMENT_MIN_CONCURRENCY (32), SE_PAYMENT_ORDER_LATENCY_TARGET_MS (20):
 *       the adaptive limit on jobs running at once (payment_limit.h): cut
 *       while the order service answers slower than the target (it is
 *       busy taking orders), never below the minimum; 0 turns it off
 *   SE_PAYMENT_ORDER_BATCH (32), SE_PAYMENT_ORDER_BATCH_CONCURRENCY (2):
 *       order service calls gathered per RPC, and such RPCs in flight per
 *       method (payment_order_client.h)
 *   SE_PAYMENT_QUEUE_SIZE (64): entries read ahead of the job threads
 *   SE_PAYMENT_READ_COUNT (32): largest XREADGROUP COUNT
 *   SE_PAYMENT_READ_BLOCK_MS (1000): XREADGROUP BLOCK
 *   SE_PAYMENT_RECLAIM_INTERVAL_MS (5000): how often to XAUTOCLAIM
 *   SE_PAYMENT_CLAIM_IDLE_MS (30000): idle time after which another
 *       consumer's entry is taken over
 *   SE_PAYMENT_MAX_DELIVERIES (5): deliveries before dead-lettering
 *   SE_PAYMENT_BREAKER_FAILURES (5), SE_PAYMENT_BREAKER_OPEN_MS (5000),
 *   SE_PAYMENT_BREAKER_HALF_OPEN_PROBES (1): payment_breaker.h
 *   SE_PAYMENT_CHARGE_TIMEOUT_MS (3000), SE_PAYMENT_ORDER_TIMEOUT_MS (5000),
 *   SE_PAYMENT_RETRY_BASE_MS (200), SE_PAYMENT_RETRY_MAX_MS (10000),
 *   SE_PAYMENT_MAX_ATTEMPTS (5): payment_job.h
 *   SE_PAYMENT_STOP_GRACE_MS (10000): drain time on stop
 *   SE_PAYMENT_NICE (10): CPU niceness of the process (main.c)
 *   SE_PAYMENT_WORKER_ADDR ($SE_BIND_HOST:50061): health and reflection
 *       (se_worker_main_ex, not read here)
 */
#ifndef PAYMENT_WORKER_H
#define PAYMENT_WORKER_H

#include <stdint.h>

#include "payment_breaker.h"
#include "payment_job.h"
#include "payment_queue.h"
#include "se_rpc.h"

/* Health service name that carries the breaker's state. */
#define PAYMENT_WORKER_HEALTH_BREAKER "swifteats.payment.Breaker"

typedef struct payment_worker_config {
    payment_queue_config queue;     /* Redis, stream, group, consumer */
    payment_job_config job;         /* deadlines, retries, attempts */
    payment_breaker_config breaker; /* failures, open time, probes */
    const char *order_target;       /* SE_ORDER_TARGET */
    const char *gateway_target;     /* SE_PAYMENT_GATEWAY_TARGET */
    int concurrency;                /* SE_PAYMENT_CONCURRENCY: job threads */
    int min_concurrency;            /* SE_PAYMENT_MIN_CONCURRENCY (32); 0: 32 */
    int order_latency_target_ms;    /* SE_PAYMENT_ORDER_LATENCY_TARGET_MS (20); 0: off */
    int order_batch;                /* SE_PAYMENT_ORDER_BATCH (32); 0: 32 */
    int order_batch_concurrency;    /* SE_PAYMENT_ORDER_BATCH_CONCURRENCY (2); 0: 2 */
    int queue_size;                 /* SE_PAYMENT_QUEUE_SIZE: FIFO capacity */
    int read_count;                 /* SE_PAYMENT_READ_COUNT */
    int read_block_ms;              /* SE_PAYMENT_READ_BLOCK_MS */
    int reclaim_interval_ms;        /* SE_PAYMENT_RECLAIM_INTERVAL_MS */
    int claim_idle_ms;              /* SE_PAYMENT_CLAIM_IDLE_MS */
    int max_deliveries;             /* SE_PAYMENT_MAX_DELIVERIES */
    int stop_grace_ms;              /* SE_PAYMENT_STOP_GRACE_MS */
    se_server *health;              /* borrowed, may be NULL: where the
                                       breaker's health is published */
} payment_worker_config;

/* Fills cfg from the environment (exits(2) on a bad value, as every
 * se_config reader). cfg->health is set to NULL. The strings point into the
 * environment or static storage. THREAD: one thread at a time. */
void payment_worker_config_from_env(payment_worker_config *cfg);

typedef struct payment_worker payment_worker;

/* Builds the worker (Redis connections open lazily: Redis may be down).
 * OWNERSHIP: cfg is copied; its strings are only used during this call.
 * ON ERROR: NULL (bad Redis URL), logged. */
payment_worker *payment_worker_create(const payment_worker_config *cfg);
/* Starts the dispatcher and the job threads. ON ERROR: -1, logged, nothing
 * left running. THREAD: the owner, once. */
int payment_worker_start(payment_worker *w);
/* Drains and stops (see the header comment); returns when every thread has
 * ended, after at most stop_grace_ms plus one RPC deadline plus one
 * XREADGROUP BLOCK. Idempotent. THREAD: the owner. */
void payment_worker_stop(payment_worker *w);
/* Stops if needed, then frees everything. NULL is fine. */
void payment_worker_destroy(payment_worker *w);

/* Counters since create. THREAD: any. */
typedef struct payment_worker_stats {
    uint64_t acked;         /* jobs finished and acknowledged */
    uint64_t left_pending;  /* jobs stopped or failed, left for redelivery */
    uint64_t duplicates;    /* deliveries of an order already held: acked */
    uint64_t dead_lettered; /* entries moved to the dead-letter stream */
    uint64_t reclaimed;     /* entries taken over with XAUTOCLAIM */
} payment_worker_stats;
void payment_worker_get_stats(payment_worker *w, payment_worker_stats *out);

/* The shared breaker (borrowed), for tests. */
payment_breaker *payment_worker_breaker(payment_worker *w);

#endif
