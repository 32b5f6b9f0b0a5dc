/* order_outbox.c - the outbox relay (see order_outbox.h).
 *
 * DESIGN
 * Queues. CreateOrder commits the order together with a payment_outbox row
 * (order_store_insert), so "accepted" and "will be paid" are one atomic
 * fact, whether or not Redis is up. The job then reaches the Redis stream
 * SE_PAYMENT_STREAM (read by the payment workers through the consumer
 * group SE_PAYMENT_GROUP) in one of two ways:
 *
 * - Directly (order_outbox_enqueue): right after the commit, the thread
 *   that ran the insert XADDs the jobs of its batch in one pipeline. The
 *   row is left as it is (enqueued_at NULL): marking it would cost an
 *   UPDATE per order, and under bench/orders the relay's UPDATE cost
 *   PostgreSQL as much as the insert itself.
 * - By the relay thread, for every row the direct path may have missed:
 *   when a direct XADD fails, the relay is told the creation time of the
 *   oldest order it carried and sends every unsent row (enqueued_at NULL)
 *   created since ("fresh" rows; some may then be sent twice, which the
 *   worker tolerates); at start-up it sends every unsent row (a crash
 *   between a commit and its XADD: rows created before this process
 *   started, by PostgreSQL's clock - its own are XADDed directly); and on
 *   every pass it re-sends rows
 *   whose job is older than SE_ORDER_PAYMENT_REDELIVER_MS, counting from
 *   enqueued_at or, for a row sent directly, from created_at (a job lost
 *   in Redis, a replica that died before its XADD).
 *
 * One relay pass = batches until a batch comes back short. One batch = one
 * PostgreSQL transaction: claim up to SE_ORDER_OUTBOX_BATCH fresh rows and
 * as many stale ones of each kind (UPDATE .. SET enqueued_at = now() .. FOR
 * UPDATE SKIP LOCKED RETURNING: other replicas' relays take other rows),
 * XADD one job per row in ONE pipeline, COMMIT. If Redis fails, ROLLBACK:
 * the rows stay due and the next pass sends them again.
 *
 * Delivery: at least once. A crash (or a lost COMMIT) after the XADDs
 * leaves the rows due: their jobs are sent again, which the worker
 * tolerates (contract: GetPaymentJob answers FAILED_PRECONDITION once the
 * order is final; the charge key "order-<id>" makes a second charge a
 * replay). The row is deleted with the order's move to a final state
 * (order_store_transition); until then a job lost in Redis is re-sent
 * after SE_ORDER_PAYMENT_REDELIVER_MS. No ordering between orders is
 * promised.
 *
 * Wake-ups. A failed direct XADD sets fresh_from and `pending` and
 * signals; the thread also runs a pass every
 * SE_ORDER_OUTBOX_POLL_MS (for redeliveries). While the relay fails, the
 * direct path is skipped (the relay owns the backlog until Redis answers
 * it again). Passes a
 * wake-up triggers start at least RELAY_MIN_GAP_MS apart, and commits that
 * arrive during a pass or that gap coalesce into the next one, so under
 * load the batches grow instead of the passes multiplying. While Redis or PostgreSQL
 * fails the thread ignores wake-ups and retries every SE_ORDER_OUTBOX_POLL_MS
 * only, and it logs one line when an outage starts ("outbox_relay_failing")
 * and one when it ends ("outbox_relay_recovered"), not one per try.
 *
 * The consumer group is created with XGROUP CREATE <stream> <group> 0
 * MKSTREAM (BUSYGROUP ignored) once per Redis connection, before the
 * connection's first XADD, so jobs added before any worker started are not
 * skipped and a Redis restart (which may lose the group) is covered.
 */
#include "order_outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "order_store.h"
#include "se_alloc.h"
#include "se_config.h"
#include "se_log.h"
#include "se_pg.h"
#include "se_redis.h"
#include "se_time.h"

/* Shortest time between the starts of two passes that a wake-up triggers:
 * commits arriving meanwhile join the next batch. Measured here at about
 * 1,500 orders/s: without it the relay ran a transaction (with its WAL
 * flush) per 3-4 orders and cost PostgreSQL a tenth of a core; with 10 ms
 * a pass carries ~15-20 jobs. A job waits at most this much longer. */
#define RELAY_MIN_GAP_MS 10

struct order_outbox {
    order_outbox_config cfg;  /* strings owned (copies) */
    se_pg_conn *pg;           /* relay thread only */
    se_redis *redis;          /* relay thread only; FAIL_FAST */
    unsigned group_conn;      /* se_redis_reconnects() of the connection the
                                 group was created on; UINT_MAX: not yet */
    pthread_mutex_t direct_lock; /* guards direct, direct_group_conn */
    se_redis *direct;         /* order_outbox_enqueue's connection; FAIL_FAST */
    unsigned direct_group_conn;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* CLOCK_MONOTONIC; signalled by enqueue/destroy */
    int pending;              /* guarded by lock: a pass is wanted */
    int64_t fresh_from_us;    /* guarded by lock: send unsent rows created since
                                 (us since the epoch); INT64_MAX: none */
    int64_t fresh_until_us;   /* guarded by lock: ... and before (INT64_MAX: no
                                 bound; the start-up pass stops at the start) */
    int stopping;             /* guarded by lock */
    atomic_int failing;       /* 1 from a failed batch to the next good one */
    atomic_ulong relayed;     /* jobs XADDed */
};

void order_outbox_config_from_env(order_outbox_config *cfg)
{
    cfg->redis_url = se_env_str("SE_REDIS_URL", "redis://127.0.0.1:6379/0");
    cfg->redis_timeout_ms = (int)se_env_int("SE_REDIS_TIMEOUT_MS", 1000, 1, 600000);
    cfg->stream = se_env_str("SE_PAYMENT_STREAM", "se:payment:jobs");
    cfg->group = se_env_str("SE_PAYMENT_GROUP", "payment-workers");
    cfg->poll_ms = (int)se_env_int("SE_ORDER_OUTBOX_POLL_MS", 1000, 1, 3600000);
    cfg->batch = (int)se_env_int("SE_ORDER_OUTBOX_BATCH", 256, 1, 10000);
    cfg->redeliver_ms =
        (int)se_env_int("SE_ORDER_PAYMENT_REDELIVER_MS", 300000, 1, 7 * 24 * 3600 * 1000);
}

/* ---- Redis side ------------------------------------------------------------ */

/* A usable connection `rc` with the consumer group in place (created once
 * per connection: *group_conn remembers on which): 0, or -1 with msg. */
static int redis_ready(order_outbox *ob, se_redis *rc, unsigned *group_conn, char *msg,
                       size_t cap)
{
    se_redis_err e;
    if (se_redis_ensure(rc, &e) != 0) {
        snprintf(msg, cap, "%s", e.msg);
        return -1;
    }
    unsigned conn = se_redis_reconnects(rc);
    if (*group_conn == conn)
        return 0;
    /* raw: a BUSYGROUP answer is expected and must not be logged as an error */
    redisReply *r = redisCommand(se_redis_raw(rc), "XGROUP CREATE %s %s 0 MKSTREAM",
                                 ob->cfg.stream, ob->cfg.group);
    int ok = r != NULL && (r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0);
    if (!ok)
        snprintf(msg, cap, "XGROUP CREATE %s %s: %s", ob->cfg.stream, ob->cfg.group,
                 r ? r->str : se_redis_raw(rc)->errstr);
    freeReplyObject(r);
    if (ok)
        *group_conn = conn;
    return ok ? 0 : -1;
}

/* Reads the replies of n pipelined XADDs (all of them, so the connection
 * stays in step even after an error reply). 0, or -1 with msg. */
static int xadd_replies(order_outbox *ob, redisContext *ctx, int n, char *msg, size_t cap)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(ctx, (void **)&rep) != REDIS_OK) {
            snprintf(msg, cap, "XADD %s: %s", ob->cfg.stream, ctx->errstr);
            return -1; /* the context is broken: se_redis_ensure replaces it */
        }
        if (rep->type == REDIS_REPLY_ERROR && !bad) {
            snprintf(msg, cap, "XADD %s: %s", ob->cfg.stream, rep->str);
            bad = 1;
        }
        freeReplyObject(rep);
    }
    return bad ? -1 : 0;
}

/* XADDs one job per row of r (order_id, request_id) in one pipeline. */
static int xadd_rows(order_outbox *ob, const PGresult *r, char *msg, size_t cap)
{
    redisContext *ctx = se_redis_raw(ob->redis);
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        redisAppendCommand(ctx, "XADD %s * order_id %s request_id %s", ob->cfg.stream,
                           PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    return xadd_replies(ob, ctx, n, msg, cap);
}

/* ---- one batch ------------------------------------------------------------- */

typedef struct batch_arg {
    order_outbox *ob;
    int64_t fresh_from_us; /* INT64_MAX: no fresh rows wanted */
    int64_t fresh_until_us;
    int n;         /* rows relayed */
    int redis_bad; /* the failure was Redis's */
} batch_arg;

/* The transaction body: claim, XADD, and commit (0) or roll back (-1). */
static int batch_tx(se_pg_conn *c, void *arg, se_pg_err *err)
{
    batch_arg *a = arg;
    order_outbox *ob = a->ob;
    PGresult *r = order_store_outbox_claim(c, ob->cfg.batch, ob->cfg.redeliver_ms,
                                           a->fresh_from_us, a->fresh_until_us, err);
    if (r == NULL)
        return -1;
    int rc = 0;
    if (PQntuples(r) > 0 && xadd_rows(ob, r, err->msg, sizeof err->msg) != 0) {
        err->sqlstate[0] = '\0';
        a->redis_bad = 1;
        rc = -1;
    }
    a->n = rc == 0 ? PQntuples(r) : 0;
    PQclear(r);
    return rc;
}

/* The outage bookkeeping: one line when failures start, one when they end. */
static void note_outcome(order_outbox *ob, int ok, const char *why, int64_t *since_ms)
{
    int was = atomic_load(&ob->failing);
    if (ok && was) {
        se_log_info("outbox_relay_recovered", "payment jobs flow again after %" PRId64 " ms",
                    se_mono_ms() - *since_ms);
    } else if (!ok && !was) {
        *since_ms = se_mono_ms();
        se_log_error("outbox_relay_failing",
                     "cannot relay payment jobs (%s); orders are still accepted and wait in "
                     "payment_outbox; retrying every %d ms",
                     why, ob->cfg.poll_ms);
    }
    atomic_store(&ob->failing, !ok);
}

/* One batch: rows relayed (0..3 x batch: fresh and stale), or -1. */
static int relay_batch(order_outbox *ob, int64_t fresh_from_us, int64_t fresh_until_us,
                       int64_t *since_ms)
{
    char why[600], msg[400];
    if (redis_ready(ob, ob->redis, &ob->group_conn, msg, sizeof msg) != 0) {
        snprintf(why, sizeof why, "Redis: %s", msg);
        note_outcome(ob, 0, why, since_ms);
        return -1;
    }
    batch_arg a = {ob, fresh_from_us, fresh_until_us, 0, 0};
    se_pg_err e;
    if (se_pg_tx(ob->pg, 0, batch_tx, &a, &e) != 0) {
        snprintf(why, sizeof why, "%s: %s", a.redis_bad ? "Redis" : "PostgreSQL", e.msg);
        note_outcome(ob, 0, why, since_ms);
        return -1;
    }
    note_outcome(ob, 1, NULL, since_ms);
    atomic_fetch_add(&ob->relayed, (unsigned long)a.n);
    return a.n;
}

/* ---- the thread ------------------------------------------------------------- */

static int is_stopping(order_outbox *ob)
{
    pthread_mutex_lock(&ob->lock);
    int stopping = ob->stopping;
    pthread_mutex_unlock(&ob->lock);
    return stopping;
}

/* Under lock: asks for the unsent rows created in [from_us, until_us) as
 * well as those asked for already (the range covering both). */
static void want_fresh(order_outbox *ob, int64_t from_us, int64_t until_us)
{
    if (ob->fresh_from_us == INT64_MAX || until_us > ob->fresh_until_us)
        ob->fresh_until_us = until_us;
    if (from_us < ob->fresh_from_us)
        ob->fresh_from_us = from_us;
    ob->pending = 1;
}

/* Batches until one comes back short, fails, or a stop is requested; a
 * failed pass hands its fresh rows back to the next one. */
static void relay_pass(order_outbox *ob, int64_t *since_ms)
{
    pthread_mutex_lock(&ob->lock);
    int64_t from = ob->fresh_from_us, until = ob->fresh_until_us;
    ob->fresh_from_us = INT64_MAX;
    pthread_mutex_unlock(&ob->lock);
    int n;
    do
        n = relay_batch(ob, from, until, since_ms);
    while (n >= ob->cfg.batch && !is_stopping(ob));
    if (n < 0 && from != INT64_MAX) {
        pthread_mutex_lock(&ob->lock);
        int pending = ob->pending; /* handing back is not a wake-up */
        want_fresh(ob, from, until);
        ob->pending = pending;
        pthread_mutex_unlock(&ob->lock);
    }
}

/* Waits for a wake-up (ignored while failing), a stop or the poll period;
 * a woken pass starts no earlier than not_before (coalescing, see
 * RELAY_MIN_GAP_MS). Returns 1 when stopping. Called and returns with
 * ob->lock held. */
static int wait_for_work(order_outbox *ob, const struct timespec *not_before)
{
    struct timespec until = se_monotonic_after_ms(ob->cfg.poll_ms);
    while (!ob->stopping && !(ob->pending && !atomic_load(&ob->failing)))
        if (pthread_cond_timedwait(&ob->cond, &ob->lock, &until) == ETIMEDOUT)
            break;
    while (ob->pending && !ob->stopping)
        if (pthread_cond_timedwait(&ob->cond, &ob->lock, not_before) == ETIMEDOUT)
            break;
    ob->pending = 0;
    return ob->stopping;
}

static void *relay_main(void *arg)
{
    order_outbox *ob = arg;
    int64_t since_ms = 0; /* start of the current outage */
    int stopping = 0;
    se_log_info("outbox_relay_started", "relaying payment_outbox to stream %s (group %s)",
                ob->cfg.stream, ob->cfg.group);
    while (!stopping) {
        struct timespec not_before = se_monotonic_after_ms(RELAY_MIN_GAP_MS);
        pthread_mutex_lock(&ob->lock);
        stopping = wait_for_work(ob, &not_before);
        pthread_mutex_unlock(&ob->lock);
        relay_pass(ob, &since_ms); /* when stopping: the last one */
    }
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------------- */

static void free_outbox(order_outbox *ob)
{
    se_redis_destroy(ob->direct);
    pthread_mutex_destroy(&ob->direct_lock);
    se_redis_destroy(ob->redis);
    se_pg_conn_destroy(ob->pg);
    pthread_cond_destroy(&ob->cond);
    pthread_mutex_destroy(&ob->lock);
    free((char *)ob->cfg.pg_url);
    free((char *)ob->cfg.redis_url);
    free((char *)ob->cfg.stream);
    free((char *)ob->cfg.group);
    free(ob);
}

static order_outbox *alloc_outbox(const order_outbox_config *cfg)
{
    order_outbox *ob = se_xcalloc(1, sizeof *ob);
    ob->cfg = *cfg;
    ob->cfg.pg_url = se_xstrdup(cfg->pg_url);
    ob->cfg.redis_url = se_xstrdup(cfg->redis_url);
    ob->cfg.stream = se_xstrdup(cfg->stream);
    ob->cfg.group = se_xstrdup(cfg->group);
    ob->group_conn = UINT_MAX;
    ob->direct_group_conn = UINT_MAX;
    ob->pending = 1;       /* a first pass at once: */
    ob->fresh_from_us = 0; /* every unsent row a previous process left */
    ob->fresh_until_us = INT64_MAX; /* bounded by start_bound() */
    pthread_mutex_init(&ob->lock, NULL);
    pthread_mutex_init(&ob->direct_lock, NULL);
    se_cond_init_monotonic(&ob->cond);
    atomic_init(&ob->failing, 0);
    atomic_init(&ob->relayed, 0);
    return ob;
}

/* The start-up pass sends the unsent rows earlier processes left, not the
 * ones this process creates (it XADDs those itself: they would be queued
 * twice). Bounded by PostgreSQL's clock, which stamps created_at, read
 * before the service takes its first order. If it cannot be read, the
 * pass is unbounded (some jobs sent twice; the worker tolerates it). */
static void start_bound(order_outbox *ob)
{
    se_pg_err e;
    PGresult *r = se_pg_exec_params(ob->pg,
                                    "SELECT (extract(epoch FROM now()) * 1000000)::bigint",
                                    0, NULL, 0, &e);
    if (r != NULL && PQntuples(r) == 1)
        ob->fresh_until_us = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else
        se_log_warn("outbox_start_bound", "PostgreSQL's clock unread (%s): the first pass "
                    "sends every unsent row", r == NULL ? e.msg : "no row");
    PQclear(r);
}

order_outbox *order_outbox_create(const order_outbox_config *cfg)
{
    order_outbox *ob = alloc_outbox(cfg);
    se_pg_err pe;
    ob->pg = se_pg_conn_create_ex(cfg->pg_url, ORDER_PG_SESSION_SQL, &pe);
    if (ob->pg == NULL) {
        se_log_error("outbox_start_failed", "PostgreSQL: %s", pe.msg);
        free_outbox(ob);
        return NULL;
    }
    start_bound(ob);
    se_redis_err re; /* fail-fast: NULL only for a bad URL; a down Redis is retried */
    ob->redis = se_redis_create_ex(cfg->redis_url, cfg->redis_timeout_ms, SE_REDIS_FAIL_FAST, &re);
    if (ob->redis != NULL)
        ob->direct =
            se_redis_create_ex(cfg->redis_url, cfg->redis_timeout_ms, SE_REDIS_FAIL_FAST, &re);
    if (ob->redis == NULL || ob->direct == NULL) {
        se_log_error("outbox_start_failed", "Redis: %s", re.msg);
        free_outbox(ob);
        return NULL;
    }
    int err = pthread_create(&ob->thread, NULL, relay_main, ob);
    if (err != 0) {
        se_log_error("outbox_start_failed", "pthread_create: %s", strerror(err));
        free_outbox(ob);
        return NULL;
    }
    return ob;
}

/* XADDs the jobs on the direct connection: 0, or -1 with msg. */
static int direct_xadd(order_outbox *ob, size_t n, const int64_t *ids,
                       const char *const *request_ids, char *msg, size_t cap)
{
    pthread_mutex_lock(&ob->direct_lock);
    int rc = redis_ready(ob, ob->direct, &ob->direct_group_conn, msg, cap);
    if (rc == 0) {
        redisContext *ctx = se_redis_raw(ob->direct);
        for (size_t i = 0; i < n; i++)
            redisAppendCommand(ctx, "XADD %s * order_id %" PRId64 " request_id %s",
                               ob->cfg.stream, ids[i], request_ids[i] ? request_ids[i] : "");
        rc = xadd_replies(ob, ctx, (int)n, msg, cap);
    }
    pthread_mutex_unlock(&ob->direct_lock);
    return rc;
}

void order_outbox_enqueue(order_outbox *ob, size_t n, const int64_t *ids,
                          const char *const *request_ids, int64_t created_us)
{
    if (n == 0)
        return;
    char msg[400];
    if (!atomic_load(&ob->failing) && direct_xadd(ob, n, ids, request_ids, msg, sizeof msg) == 0) {
        atomic_fetch_add(&ob->relayed, (unsigned long)n);
        return;
    }
    /* the relay logs the outage (once) when its own try fails too */
    order_outbox_sweep_since(ob, created_us);
}

void order_outbox_sweep_since(order_outbox *ob, int64_t since_us)
{
    pthread_mutex_lock(&ob->lock);
    want_fresh(ob, since_us, INT64_MAX);
    pthread_cond_signal(&ob->cond);
    pthread_mutex_unlock(&ob->lock);
}

void order_outbox_destroy(order_outbox *ob)
{
    if (ob == NULL)
        return;
    pthread_mutex_lock(&ob->lock);
    ob->stopping = 1;
    pthread_cond_signal(&ob->cond);
    pthread_mutex_unlock(&ob->lock);
    pthread_join(ob->thread, NULL);
    free_outbox(ob);
}

unsigned long order_outbox_relayed(order_outbox *ob)
{
    return atomic_load(&ob->relayed);
}

int order_outbox_failing(order_outbox *ob)
{
    return atomic_load(&ob->failing);
}
