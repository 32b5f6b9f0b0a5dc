/* order_store.h - the order service's PostgreSQL access. Every RPC is one
 * or a few statements on a pooled connection; every write is ONE statement
 * (data-modifying CTEs), so it commits atomically without a BEGIN/COMMIT
 * round trip. The DESIGN note is at the top of order_store.c.
 *
 * Errors: functions return 0 (or another documented non-negative value),
 * or -1 with `st` filled with the gRPC status the handler answers:
 * NOT_FOUND / FAILED_PRECONDITION / ALREADY_EXISTS naming the order and the
 * rule; UNAVAILABLE when no connection could be had or it was lost (SQLSTATE
 * class 08); ABORTED for serialization failures and deadlocks; INTERNAL for
 * anything else (logged by se_pg with the SQL verb and the server's text).
 *
 * THREAD: every function may be called from any thread at once (each takes
 * its own connection from the pool for the duration of the call), except
 * create/destroy/migrate.
 * OWNERSHIP: messages returned through `out` are the caller's: free them
 * with se_msg_free (every string and sub-message is heap-allocated).
 */
#ifndef ORDER_STORE_H
#define ORDER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "se_pg.h"
#include "se_rpc.h"
#include "swifteats/v1/order.pb-c.h"

typedef struct order_store order_store;

/* A store over `pg`; the payment worker's statements (GetPaymentJob,
 * RecordPaymentAttempt) run on `payment_pg` (NULL: on pg too), a pool of
 * its own so they cannot take every connection from CreateOrder and so
 * they can use other session settings (see ORDER_PG_PAYMENT_SESSION_SQL).
 * Both are borrowed and must outlive the store.
 * OWNERSHIP: caller destroys. */
order_store *order_store_create(se_pg_pool *pg, se_pg_pool *payment_pg);
void order_store_destroy(order_store *s);

/* Applies the embedded migrations (scope "order"). 0 or -1 (logged). */
int order_store_migrate(order_store *s);

/* ---- CreateOrder ------------------------------------------------------------- */

#define ORDER_FINGERPRINT_LEN 32 /* SHA-256 */

/* One priced line of a new order. */
typedef struct order_line {
    int64_t menu_item_id;
    const char *name; /* the menu's current name (borrowed) */
    int32_t quantity; /* 1..100 */
    int64_t price;    /* the menu's unit price in cents */
} order_line;

/* A validated, priced order. Everything is borrowed for the call. */
typedef struct order_new {
    const char *customer_id;
    const order_line *lines;
    size_t n_lines;                /* 1..50 */
    int64_t total_amount;          /* sum of price x quantity */
    const char *idempotency_key;   /* NULL: none */
    const uint8_t *fingerprint;    /* ORDER_FINGERPRINT_LEN bytes, with a key */
    const char *request_id;        /* of the CreateOrder call, into the outbox */
} order_new;

/* The order an Idempotency-Key was first used for. Returns 0 and *out (the
 * order as it is now) when (customer_id, key) names one created from the
 * same request (same fingerprint); 1 when the key is unused; -1 with st:
 * ALREADY_EXISTS when the key was used with a different request, or a
 * database error. */
int order_store_find_by_key(order_store *s, const char *customer_id, const char *key,
                            const uint8_t *fingerprint, Swifteats__V1__Order **out,
                            se_status *st);

/* Inserts the order (status payment_processing), its items and its
 * payment_outbox row in one statement. Returns 1 and *out (the new order)
 * when it was inserted; 0 and *out when a concurrent request with the same
 * key got there first and nothing was inserted (then as
 * order_store_find_by_key: *out is that order, or ALREADY_EXISTS); -1 with
 * st on failure (nothing inserted). */
int order_store_insert(order_store *s, const order_new *o, Swifteats__V1__Order **out,
                       se_status *st);

/* order_store_insert for n orders in ONE statement (one round trip, one
 * commit, one executor start for the lot: order_batch.c gathers concurrent
 * CreateOrder calls into it). Order i's outcome is rc[i] with out[i] or
 * st[i], exactly as order_store_insert's. If the statement fails with
 * anything but a lost connection, nothing was inserted and every order is
 * inserted on its own instead, so one bad order cannot fail the others. */
void order_store_insert_many(order_store *s, const order_new *const *o, size_t n, int *rc,
                             Swifteats__V1__Order **out, se_status *st);

/* ---- reads --------------------------------------------------------------------- */

/* One order with its items and payment attempts; NOT_FOUND if none. */
int order_store_get(order_store *s, int64_t id, Swifteats__V1__Order **out, se_status *st);

/* A validated ListOrders query. */
typedef struct order_list_query {
    const char *customer_id; /* "": any */
    int status;              /* OrderStatus value, 0: any */
    int32_t page;            /* >= 1 */
    int32_t page_size;       /* 1..100 */
} order_list_query;

/* The total and one page, newest first, each order with items and
 * attempts (two queries for the whole page, not one per order). */
int order_store_list(order_store *s, const order_list_query *q,
                     Swifteats__V1__ListOrdersResponse **out, se_status *st);

/* The SQL of a ListOrders query exactly as order_store_list sends it: the
 * total (count = 1) or the page (count = 0). Writes it into sql (cap bytes)
 * and its parameters into params (at most 4; they point into q and into
 * `numbers`), and returns how many. Exposed for the EXPLAIN tests. */
int order_store_list_sql(const order_list_query *q, int count, char *sql, size_t cap,
                         const char *params[4], char numbers[2][24]);

/* ---- payment ------------------------------------------------------------------- */

/* What the payment worker must charge (GetPaymentJob): FAILED_PRECONDITION
 * unless the order is payment_processing. With start_attempt, the same
 * statement also upserts the attempt to start as processing (the latest
 * attempt if it still is processing, else the next number) and
 * next_attempt_number names it; ABORTED when that attempt ended
 * concurrently (ask again). */
int order_store_payment_job(order_store *s, int64_t id, int start_attempt,
                            Swifteats__V1__PaymentJob **out, se_status *st);

/* Upserts attempt (order_id, attempt_number) while the order is
 * payment_processing (FAILED_PRECONDITION otherwise); the attempt's
 * updated_at moves with its status, and an Order read with its attempts
 * shows the later of its own and theirs. The same values again change
 * nothing; an attempt that reached success or failed does not go back to
 * pending or processing (a late retry of an earlier report): both answer
 * the attempt as stored. An empty idempotency_key stores "order-<id>".
 * With req->complete_outcome (confirmed / payment_failed) the same
 * statement also moves the order there as order_store_transition does
 * (charge id of a confirmed order, complete_reason, outbox row deleted); an
 * order already in that outcome answers the attempt as stored (NOT_FOUND
 * if there is none). `req` must be validated (order_handlers.c). */
int order_store_record_attempt(order_store *s,
                               const Swifteats__V1__RecordPaymentAttemptRequest *req,
                               Swifteats__V1__PaymentAttempt **out, se_status *st);

/* Most orders one batch call below takes in one statement. */
#define ORDER_STORE_BATCH_MAX 128

/* order_store_record_attempt for n validated reports (RecordPaymentAttempts)
 * in one statement when they name n different orders (else, or for n == 1,
 * one statement each); a batch statement that fails is retried one report
 * at a time unless the connection was lost (then every report fails with
 * UNAVAILABLE). rc[i]: 0 with out[i], or -1 with st[i]. */
void order_store_record_attempts(order_store *s,
                                 const Swifteats__V1__RecordPaymentAttemptRequest *const *req,
                                 size_t n, int *rc, Swifteats__V1__PaymentAttempt **out,
                                 se_status *st);

/* order_store_payment_job with start_attempt for orders ids[0..n), in one
 * statement as order_store_record_attempts. */
void order_store_start_payment_jobs(order_store *s, const int64_t *ids, size_t n, int *rc,
                                    Swifteats__V1__PaymentJob **out, se_status *st);

/* Moves order `id` to status `to` if the state machine allows it from its
 * current status (see migrations/001_orders.sql), in one statement that
 * also bumps updated_at, records charge_id / reason (NULL: keep) and, for
 * every `to` but payment_processing, deletes the order's outbox row (its
 * payment is over). An order already in `to` is answered unchanged.
 * FAILED_PRECONDITION names both states otherwise. *out: the order after. */
int order_store_transition(order_store *s, int64_t id, int to, const char *charge_id,
                           const char *reason, Swifteats__V1__Order **out, se_status *st);

/* ---- outbox (order_outbox.c) ---------------------------------------------------- */

/* Inside the caller's transaction on c: locks up to `limit` outbox rows
 * of each kind - unsent (enqueued_at NULL) and created in [fresh_from_us,
 * fresh_until_us) (microseconds since the epoch, PostgreSQL's clock;
 * fresh_from_us INT64_MAX: none of this kind; fresh_until_us INT64_MAX: no
 * upper bound), unsent and
 * created more than redeliver_ms ago, sent more than redeliver_ms ago -
 * with FOR UPDATE SKIP LOCKED (so concurrent relays of other replicas take
 * other rows), sets their enqueued_at to now() and returns them as
 * (order_id, request_id) text rows: fewer than `limit` rows means nothing
 * more is due. Rolling back un-claims them (see order_outbox.c).
 * OWNERSHIP: the caller PQclear()s the result. ON ERROR: NULL, err filled. */
PGresult *order_store_outbox_claim(se_pg_conn *c, int limit, int redeliver_ms,
                                   int64_t fresh_from_us, int64_t fresh_until_us,
                                   se_pg_err *err);

/* Its SQL text (limit and redeliver_ms are written into it, fresh_from and
 * fresh_until are its parameters $1, $2: see order_store.c), for the
 * EXPLAIN tests. */
void order_store_outbox_claim_sql(char *sql, size_t cap, int limit, int redeliver_ms);

/* Run at the start of every session of the order service's connections.
 * Every statement of the store and the relay is prepared (se_pg_exec_prepared),
 * and left to itself PostgreSQL re-plans a prepared statement on every
 * execution as long as its custom plans look cheaper than the generic one:
 * measured under bench/orders, planning was 14% of the server's CPU. The
 * generic plans of every statement are EXPLAINed by test_order_query
 * (list_queries_use_indexes), so planning once per session is safe. */
#define ORDER_PG_SESSION_SQL "SET plan_cache_mode = force_generic_plan"

/* The payment pool's sessions also commit asynchronously: a payment
 * statement's commit does not wait for its WAL flush. Safe because the
 * outbox row of an order is deleted by the same statement that records
 * its outcome: if a crash loses that commit, the row is still there, the
 * relay enqueues the job again, and the charge is replayed under the same
 * idempotency key (the gateway answers the first charge; nothing is
 * charged twice). CreateOrder keeps synchronous commits: its 202 promises
 * the order is stored.
 * Sequential and bitmap scans are priced out: every payment statement
 * looks its orders and attempts up by key, but a generic plan is made once
 * per session, and one made while the tables were young (a fresh
 * database: a few pages, no statistics yet) scanned the whole orders table
 * for every batch of orders for the rest of the session (bench/orders: 5 to
 * 20 ms per batch instead of well under 1). test_order_query EXPLAINs the
 * batch statements on a young table under these settings. */
#define ORDER_PG_PAYMENT_SESSION_SQL                                                         \
    "SET plan_cache_mode = force_generic_plan; SET synchronous_commit = off;"                 \
    " SET enable_seqscan = off; SET enable_bitmapscan = off"

/* The SQL text of the two batch statements, for the EXPLAIN tests. */
const char *order_store_attempts_sql(void);
const char *order_store_jobs_start_sql(void);

#endif
