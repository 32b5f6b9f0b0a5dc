/* payment_worker.c - the payment worker's threads (see payment_worker.h for
 * the design).
 *
 * Shared state, all under `mu`:
 *   fifo    entries read but not started (capacity queue_size);
 *   owned   every entry this process holds, queued or running (capacity
 *           queue_size + concurrency): the duplicate check and the list of
 *           ids whose idle time the dispatcher refreshes;
 *   running jobs started and not finished;
 *   draining / aborting  the two phases of stop.
 * Condition variables (CLOCK_MONOTONIC): `work` (an entry was queued, or
 * draining), `room` (a FIFO slot freed, or draining: also the dispatcher's
 * sleep), `done` (a job finished), `abort` (aborting: ends every job sleep).
 */
#include "payment_worker.h"

#include "payment_limit.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "se_alloc.h"
#include "se_config.h"
#include "se_log.h"
#include "se_redis_stream.h"
#include "se_time.h"

struct payment_worker {
    payment_worker_config cfg; /* copy; its strings are not used after create */
    payment_queue *queue;
    payment_breaker *breaker;
    payment_job_config job_cfg;
    payment_job_env env;
    payment_order_client *order_client; /* env.order_client */
    payment_limit limit;       /* under mu: jobs that may run at once */
    int64_t limit_logged_ms;   /* under mu: last payment_concurrency line */
    int limit_logged;          /* under mu: the value it reported */
    se_server *health;         /* borrowed, may be NULL */
    char consumer[128];        /* for logs (cfg's strings are borrowed) */
    int touch_period_ms;       /* how often own entries are refreshed */

    pthread_mutex_t mu;
    pthread_cond_t work, room, done, abort;
    payment_entry **fifo;      /* ring of queue_size */
    int fifo_head, n_queued;
    payment_entry **owned;     /* queue_size + concurrency slots, n_owned used */
    int n_owned;
    int running;
    int draining, aborting, started, stopped;
    payment_worker_stats stats;

    pthread_t dispatcher;
    pthread_t *threads;
    int n_threads;             /* job threads started */
};

/* ---- configuration -------------------------------------------------------------- */

void payment_worker_config_from_env(payment_worker_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    payment_queue_config *q = &cfg->queue;
    q->redis_url = se_env_str("SE_REDIS_URL", "redis://127.0.0.1:6379/0");
    q->redis_timeout_ms = (int)se_env_int("SE_REDIS_TIMEOUT_MS", 1000, 1, 600000);
    q->pool_size = (int)se_env_int("SE_REDIS_POOL_SIZE", 4, 1, 256);
    q->stream = se_env_str("SE_PAYMENT_STREAM", "se:payment:jobs");
    q->group = se_env_str("SE_PAYMENT_GROUP", "payment-workers");
    q->dead_stream = se_env_str("SE_PAYMENT_DEAD_STREAM", "se:payment:dead");
    q->consumer = se_redis_stream_consumer_from_env("SE_PAYMENT_CONSUMER"); /* "<host>-<pid>" */
    payment_job_config *j = &cfg->job;
    j->charge_timeout_ms = (int)se_env_int("SE_PAYMENT_CHARGE_TIMEOUT_MS", 3000, 1, 600000);
    j->order_timeout_ms = (int)se_env_int("SE_PAYMENT_ORDER_TIMEOUT_MS", 5000, 1, 600000);
    j->retry_base_ms = (int)se_env_int("SE_PAYMENT_RETRY_BASE_MS", 200, 1, 600000);
    j->retry_max_ms = (int)se_env_int("SE_PAYMENT_RETRY_MAX_MS", 10000, 1, 3600000);
    j->max_attempts = (int)se_env_int("SE_PAYMENT_MAX_ATTEMPTS", 5, 1, 100);
    payment_breaker_config *b = &cfg->breaker;
    b->failure_threshold = (int)se_env_int("SE_PAYMENT_BREAKER_FAILURES", 5, 1, 100000);
    b->open_ms = (int)se_env_int("SE_PAYMENT_BREAKER_OPEN_MS", 5000, 0, 3600000);
    b->half_open_probes = (int)se_env_int("SE_PAYMENT_BREAKER_HALF_OPEN_PROBES", 1, 1, 10000);
    cfg->order_target = se_config_target("ORDER");
    cfg->gateway_target = se_config_target("PAYMENT_GATEWAY");
    cfg->concurrency = (int)se_env_int("SE_PAYMENT_CONCURRENCY", 512, 1, 4096);
    cfg->min_concurrency = (int)se_env_int("SE_PAYMENT_MIN_CONCURRENCY", 32, 1, 4096);
    cfg->order_latency_target_ms =
        (int)se_env_int("SE_PAYMENT_ORDER_LATENCY_TARGET_MS", 20, 0, 600000);
    cfg->order_batch = (int)se_env_int("SE_PAYMENT_ORDER_BATCH", 32, 1, 128);
    cfg->order_batch_concurrency =
        (int)se_env_int("SE_PAYMENT_ORDER_BATCH_CONCURRENCY", 2, 1, 64);
    cfg->queue_size = (int)se_env_int("SE_PAYMENT_QUEUE_SIZE", 64, 1, 100000);
    cfg->read_count = (int)se_env_int("SE_PAYMENT_READ_COUNT", 32, 1, 10000);
    cfg->read_block_ms = (int)se_env_int("SE_PAYMENT_READ_BLOCK_MS", 1000, 1, 60000);
    cfg->reclaim_interval_ms =
        (int)se_env_int("SE_PAYMENT_RECLAIM_INTERVAL_MS", 5000, 10, 3600000);
    cfg->claim_idle_ms = (int)se_env_int("SE_PAYMENT_CLAIM_IDLE_MS", 30000, 10, 86400000);
    cfg->max_deliveries = (int)se_env_int("SE_PAYMENT_MAX_DELIVERIES", 5, 1, 100000);
    cfg->stop_grace_ms = (int)se_env_int("SE_PAYMENT_STOP_GRACE_MS", 10000, 0, 3600000);
    cfg->health = NULL;
}

/* ---- small helpers -------------------------------------------------------------- */

static pthread_cond_t *cond_init(pthread_cond_t *c)
{
    se_cond_init_monotonic(c);
    return c;
}

/* Waits on c (mu held) until `flag` is set or ms pass; returns the flag. */
static int wait_flag(payment_worker *w, pthread_cond_t *c, const int *flag, int64_t ms)
{
    struct timespec until = se_monotonic_after_ms(ms > INT32_MAX ? INT32_MAX : (int)ms);
    while (!*flag) {
        if (pthread_cond_timedwait(c, &w->mu, &until) == ETIMEDOUT)
            break;
    }
    return *flag;
}

/* The jobs' sleep: ends early once the worker aborts (payment_job_env). */
static int job_sleep(void *arg, int ms)
{
    payment_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    int aborting = ms > 0 ? wait_flag(w, &w->abort, &w->aborting, ms) : w->aborting;
    pthread_mutex_unlock(&w->mu);
    return aborting;
}

/* The dispatcher's sleep: ends early once the worker drains. */
static int dispatcher_sleep(payment_worker *w, int64_t ms)
{
    pthread_mutex_lock(&w->mu);
    int draining = wait_flag(w, &w->room, &w->draining, ms);
    pthread_mutex_unlock(&w->mu);
    return draining;
}

static void on_breaker_change(void *arg, payment_breaker_state from, payment_breaker_state to,
                              const char *reason)
{
    payment_worker *w = arg;
    (void)from;
    (void)reason; /* the breaker logs the change itself */
    if (w->health != NULL)
        se_server_set_health(w->health, PAYMENT_WORKER_HEALTH_BREAKER,
                             to != PAYMENT_BREAKER_OPEN);
}

/* ---- owned entries (mu held) ---------------------------------------------------- */

static payment_entry *find_owned(payment_worker *w, int64_t order_id)
{
    for (int i = 0; i < w->n_owned; i++)
        if (w->owned[i]->order_id == order_id)
            return w->owned[i];
    return NULL;
}

static void remove_owned(payment_worker *w, payment_entry *e)
{
    for (int i = 0; i < w->n_owned; i++) {
        if (w->owned[i] == e) {
            w->owned[i] = w->owned[--w->n_owned];
            return;
        }
    }
}

static int fifo_room(payment_worker *w)
{
    return w->cfg.queue_size - w->n_queued;
}

static void fifo_push(payment_worker *w, payment_entry *e)
{
    w->fifo[(w->fifo_head + w->n_queued) % w->cfg.queue_size] = e;
    w->n_queued++;
}

static payment_entry *fifo_pop(payment_worker *w)
{
    payment_entry *e = w->fifo[w->fifo_head];
    w->fifo_head = (w->fifo_head + 1) % w->cfg.queue_size;
    w->n_queued--;
    return e;
}

/* ---- dispatching one delivered entry (dispatcher thread) ----------------------- */

static void dead_letter(payment_worker *w, payment_entry *e, const char *reason)
{
    se_log_set_request_id(e->request_id[0] ? e->request_id : NULL);
    char esc[200];
    se_log_fields(SE_LOG_WARN, "payment_job_dead_lettered",
                  "\"entry_id\":\"%s\",\"deliveries\":%d,\"reason\":\"%s\"", e->id,
                  e->deliveries, se_json_escape(esc, sizeof esc, reason));
    if (payment_queue_dead_letter(w->queue, e, reason) == 0) {
        pthread_mutex_lock(&w->mu);
        w->stats.dead_lettered++;
        pthread_mutex_unlock(&w->mu);
    } /* else logged; it stays pending and comes back through reclaim */
    se_log_set_request_id(NULL);
    payment_entry_free(e);
}

/* Acks a second delivery of an order this process holds; 1 if it was one. */
static int drop_duplicate(payment_worker *w, payment_entry *e)
{
    pthread_mutex_lock(&w->mu);
    payment_entry *held = find_owned(w, e->order_id);
    int same_entry = held != NULL && strcmp(held->id, e->id) == 0;
    pthread_mutex_unlock(&w->mu);
    if (held == NULL)
        return 0;
    if (!same_entry) { /* same entry: reclaimed or re-read while ours; nothing to do */
        se_log_set_request_id(e->request_id[0] ? e->request_id : NULL);
        se_log_info("payment_job_duplicate", "order %" PRId64 " (entry %s) is already in "
                    "flight here as entry %s: acknowledging the duplicate", e->order_id, e->id,
                    held->id);
        if (payment_queue_ack(w->queue, e->id) == 0) {
            pthread_mutex_lock(&w->mu);
            w->stats.duplicates++;
            pthread_mutex_unlock(&w->mu);
        }
        se_log_set_request_id(NULL);
    }
    payment_entry_free(e);
    return 1;
}

/* Takes ownership of e: dead-letters, drops or queues it. The caller made
 * sure the FIFO has room. */
static void dispatch(payment_worker *w, payment_entry *e)
{
    char reason[128];
    if (e->deleted) { /* pending, but XDELed: only the PEL entry is left */
        payment_queue_ack(w->queue, e->id);
        payment_entry_free(e);
        return;
    }
    if (e->order_id <= 0) {
        dead_letter(w, e, "invalid order_id: want a positive decimal int64");
        return;
    }
    if (e->deliveries > w->cfg.max_deliveries) {
        snprintf(reason, sizeof reason, "delivered %d times (limit %d)", e->deliveries,
                 w->cfg.max_deliveries);
        dead_letter(w, e, reason);
        return;
    }
    if (drop_duplicate(w, e))
        return;
    pthread_mutex_lock(&w->mu);
    w->owned[w->n_owned++] = e;
    fifo_push(w, e);
    pthread_cond_signal(&w->work);
    pthread_mutex_unlock(&w->mu);
}

/* ---- maintenance (dispatcher thread) ----------------------------------------------- */

/* Resets the idle time of every entry this process holds. */
static void touch_owned(payment_worker *w)
{
    pthread_mutex_lock(&w->mu);
    int n = w->n_owned;
    char (*ids)[sizeof w->owned[0]->id] = n > 0 ? se_xcalloc((size_t)n, sizeof *ids) : NULL;
    for (int i = 0; i < n; i++)
        memcpy(ids[i], w->owned[i]->id, sizeof ids[i]);
    pthread_mutex_unlock(&w->mu);
    if (n == 0)
        return;
    const char **ptrs = se_xcalloc((size_t)n, sizeof *ptrs);
    for (int i = 0; i < n; i++)
        ptrs[i] = ids[i];
    payment_queue_touch(w->queue, ptrs, (size_t)n);
    free(ptrs);
    free(ids);
}

static int current_room(payment_worker *w)
{
    pthread_mutex_lock(&w->mu);
    int room = fifo_room(w);
    pthread_mutex_unlock(&w->mu);
    return room;
}

/* Takes over entries idle longer than claim_idle_ms, as room allows. */
static void reclaim(payment_worker *w, payment_entry **batch)
{
    char cursor[48] = "0-0";
    for (int round = 0; round < 16; round++) {
        int room = current_room(w);
        if (room <= 0)
            return;
        int count = room < w->cfg.read_count ? room : w->cfg.read_count;
        int n = payment_queue_autoclaim(w->queue, w->cfg.claim_idle_ms, count, cursor, batch);
        if (n < 0)
            return;
        if (n > 0) {
            se_log_info("payment_jobs_reclaimed", "took over %d entries idle for more than %d ms",
                        n, w->cfg.claim_idle_ms);
            pthread_mutex_lock(&w->mu);
            w->stats.reclaimed += (uint64_t)n;
            pthread_mutex_unlock(&w->mu);
        }
        for (int i = 0; i < n; i++)
            dispatch(w, batch[i]);
        if (strcmp(cursor, "0-0") == 0)
            return;
    }
}

/* ---- the dispatcher --------------------------------------------------------------- */

/* Waits until the FIFO has room, the worker drains or `until_ms` (monotonic)
 * comes; returns the room (0 when none). */
static int wait_for_room(payment_worker *w, int64_t until_ms)
{
    pthread_mutex_lock(&w->mu);
    while (fifo_room(w) == 0 && !w->draining) {
        int64_t left = until_ms - se_mono_ms();
        if (left <= 0)
            break;
        struct timespec until = se_monotonic_after_ms((int)left);
        pthread_cond_timedwait(&w->room, &w->mu, &until);
    }
    int room = w->draining ? 0 : fifo_room(w);
    pthread_mutex_unlock(&w->mu);
    return room;
}

typedef struct dispatcher_state {
    int group_ready;     /* XGROUP CREATE succeeded */
    int history;         /* still re-reading own pending entries */
    char from[48];       /* history: read after this id */
    int failures;        /* consecutive Redis failures, for the backoff */
    int redis_down;      /* "redis_unavailable" logged, not yet recovered */
    int64_t next_touch;  /* monotonic ms */
    int64_t next_reclaim;
} dispatcher_state;

/* Counts a failed Redis step and sleeps its backoff; the first failure of
 * a streak is logged as the state change it is. */
static void redis_failed(payment_worker *w, dispatcher_state *d, const char *what)
{
    d->failures++;
    int64_t delay = payment_backoff_ceiling_ms(d->failures, 100, 5000);
    if (!d->redis_down)
        se_log_error("redis_unavailable", "%s failed (see redis_error): retrying every %d ms at "
                     "most until Redis answers", what, 5000);
    d->redis_down = 1;
    dispatcher_sleep(w, delay);
}

static void redis_ok(dispatcher_state *d)
{
    if (d->redis_down)
        se_log_info("redis_recovered", "the payment stream is reachable again");
    d->redis_down = 0;
    d->failures = 0;
}

/* One XREADGROUP into the FIFO. */
static void read_batch(payment_worker *w, dispatcher_state *d, int room, int64_t until,
                       payment_entry **batch)
{
    int count = room < w->cfg.read_count ? room : w->cfg.read_count;
    int64_t block = until - se_mono_ms();
    block = block < 1 ? 1 : block > w->cfg.read_block_ms ? w->cfg.read_block_ms : block;
    int n = payment_queue_read(w->queue, d->history ? d->from : ">", count, (int)block, batch);
    if (n < 0) {
        redis_failed(w, d, "XREADGROUP");
        return;
    }
    redis_ok(d);
    if (d->history && n == 0) {
        d->history = 0;
        se_log_info("payment_queue_reading", "own pending entries done; reading new entries");
    } else if (d->history) {
        memcpy(d->from, batch[n - 1]->id, sizeof d->from);
    }
    for (int i = 0; i < n; i++)
        dispatch(w, batch[i]);
}

static void *dispatcher_main(void *arg)
{
    payment_worker *w = arg;
    payment_entry **batch = se_xcalloc((size_t)w->cfg.read_count, sizeof *batch);
    dispatcher_state d = {.history = 1, .from = "0"};
    d.next_touch = se_mono_ms() + w->touch_period_ms;
    d.next_reclaim = se_mono_ms();
    while (!dispatcher_sleep(w, 0)) {
        if (!d.group_ready) {
            d.group_ready = payment_queue_ensure_group(w->queue) == 0;
            if (d.group_ready)
                redis_ok(&d);
            else
                redis_failed(w, &d, "XGROUP CREATE");
            continue;
        }
        payment_breaker_state_now(w->breaker); /* open -> half-open shows in health */
        int64_t now = se_mono_ms();
        if (now >= d.next_touch) {
            touch_owned(w);
            d.next_touch = now + w->touch_period_ms;
        }
        if (now >= d.next_reclaim) {
            reclaim(w, batch);
            d.next_reclaim = now + w->cfg.reclaim_interval_ms;
        }
        int64_t until = d.next_touch < d.next_reclaim ? d.next_touch : d.next_reclaim;
        int room = wait_for_room(w, until);
        if (room > 0)
            read_batch(w, &d, room, until, batch);
    }
    free(batch);
    return NULL;
}

/* ---- job threads ------------------------------------------------------------------- */

/* Acks a finished job, retrying while Redis fails until the worker aborts
 * (then the entry stays pending and its redelivery is dropped as moot). */
static int ack_finished(payment_worker *w, const payment_entry *e, unsigned *seed)
{
    for (int tries = 1;; tries++) {
        if (payment_queue_ack(w->queue, e->id) == 0)
            return 0;
        if (job_sleep(w, (int)payment_backoff_ms(tries, 50, 2000, seed))) {
            se_log_warn("payment_ack_abandoned", "entry %s of order %" PRId64 " stays pending; "
                        "its redelivery will be dropped as moot", e->id, e->order_id);
            return -1;
        }
    }
}

static void run_entry(payment_worker *w, payment_entry *e, unsigned *seed)
{
    char rid[sizeof e->request_id];
    if (e->request_id[0] != '\0')
        memcpy(rid, e->request_id, sizeof rid);
    else
        se_request_id_new(rid); /* 32 hex chars: fits */
    se_log_set_request_id(rid);
    payment_job_result r = payment_job_run(&w->env, e->order_id, rid, seed);
    int acked = r == PAYMENT_JOB_ACK && ack_finished(w, e, seed) == 0;
    if (r != PAYMENT_JOB_ACK)
        se_log_info("payment_job_left_pending", "order %" PRId64 " (entry %s): %s", e->order_id,
                    e->id, payment_job_result_name(r));
    se_log_set_request_id(NULL);
    pthread_mutex_lock(&w->mu);
    if (acked)
        w->stats.acked++;
    else
        w->stats.left_pending++;
    pthread_mutex_unlock(&w->mu);
}

static void *job_thread_main(void *arg)
{
    payment_worker *w = arg;
    unsigned seed = (unsigned)se_mono_ms() ^ (unsigned)(uintptr_t)&seed;
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while ((w->n_queued == 0 || w->running >= w->limit.value) && !w->draining)
            pthread_cond_wait(&w->work, &w->mu);
        if (w->draining) {
            pthread_mutex_unlock(&w->mu);
            return NULL;
        }
        payment_entry *e = fifo_pop(w);
        w->running++;
        pthread_cond_signal(&w->room);
        pthread_mutex_unlock(&w->mu);

        run_entry(w, e, &seed);

        pthread_mutex_lock(&w->mu);
        remove_owned(w, e);
        w->running--;
        pthread_cond_broadcast(&w->done);
        if (w->n_queued > 0) /* a slot freed under the limit */
            pthread_cond_signal(&w->work);
        pthread_mutex_unlock(&w->mu);
        payment_entry_free(e);
    }
}

/* ---- the concurrency limit (payment_limit.h) ----------------------------------- */

/* payment_order_client's observer: every order-service call's duration
 * moves the limit; a raised limit wakes job threads waiting for a slot. A
 * change is logged at most every LIMIT_LOG_MS (payment_concurrency). */
#define LIMIT_LOG_MS 5000

static void observe_order_call(void *arg, int64_t duration_us, int ok)
{
    payment_worker *w = arg;
    pthread_mutex_lock(&w->mu);
    int before = w->limit.value;
    int now = payment_limit_observe(&w->limit, duration_us, ok, se_mono_ns() / 1000);
    for (int k = before; k < now; k++) /* one waiting thread per new slot, not a herd */
        pthread_cond_signal(&w->work);
    int64_t t = se_mono_ms();
    int log = now != w->limit_logged && t - w->limit_logged_ms >= LIMIT_LOG_MS;
    if (log) {
        w->limit_logged = now;
        w->limit_logged_ms = t;
    }
    pthread_mutex_unlock(&w->mu);
    if (log)
        se_log_fields(SE_LOG_INFO, "payment_concurrency",
                      "\"limit\":%d,\"order_call_us\":%" PRId64 ",\"msg\":\"jobs allowed at once "
                      "(lowered while the order service answers slower than %d ms)\"",
                      now, duration_us, w->cfg.order_latency_target_ms);
}

/* ---- lifecycle -------------------------------------------------------------------- */

payment_worker *payment_worker_create(const payment_worker_config *cfg)
{
    payment_worker *w = se_xcalloc(1, sizeof *w);
    w->cfg = *cfg;
    snprintf(w->consumer, sizeof w->consumer, "%s", cfg->queue.consumer);
    payment_queue_config qc = cfg->queue;
    qc.max_block_ms = cfg->read_block_ms;
    w->queue = payment_queue_create(&qc);
    if (w->queue == NULL) {
        free(w);
        return NULL;
    }
    w->health = cfg->health;
    if (w->health != NULL)
        se_server_set_health(w->health, PAYMENT_WORKER_HEALTH_BREAKER, 1);
    w->breaker = payment_breaker_create(&cfg->breaker, NULL, NULL, on_breaker_change, w);
    w->job_cfg = cfg->job;
    se_channel *order = se_channel_get(cfg->order_target);
    payment_limit_init(&w->limit, cfg->min_concurrency > 0 ? cfg->min_concurrency : 32,
                       cfg->concurrency, (int64_t)cfg->order_latency_target_ms * 1000);
    w->limit_logged = w->limit.value;
    w->order_client = payment_order_client_create(
        order, cfg->job.order_timeout_ms, cfg->order_batch > 0 ? cfg->order_batch : 32,
        cfg->order_batch_concurrency > 0 ? cfg->order_batch_concurrency : 2, observe_order_call,
        w);
    w->env = (payment_job_env){.cfg = &w->job_cfg,
                               .order = order,
                               .order_client = w->order_client,
                               .gateway = se_channel_get(cfg->gateway_target),
                               .breaker = w->breaker,
                               .sleep_ms = job_sleep,
                               .sleep_arg = w};
    int touch = cfg->claim_idle_ms / 3;
    w->touch_period_ms = touch < cfg->reclaim_interval_ms ? touch : cfg->reclaim_interval_ms;
    if (w->touch_period_ms < 10)
        w->touch_period_ms = 10;
    pthread_mutex_init(&w->mu, NULL);
    cond_init(&w->work);
    cond_init(&w->room);
    cond_init(&w->done);
    cond_init(&w->abort);
    w->fifo = se_xcalloc((size_t)cfg->queue_size, sizeof *w->fifo);
    w->owned = se_xcalloc((size_t)(cfg->queue_size + cfg->concurrency), sizeof *w->owned);
    w->threads = se_xcalloc((size_t)cfg->concurrency, sizeof *w->threads);
    return w;
}

int payment_worker_start(payment_worker *w)
{
    int err = pthread_create(&w->dispatcher, NULL, dispatcher_main, w);
    if (err != 0) {
        se_log_error("payment_worker_start_failed", "dispatcher thread: %s", strerror(err));
        return -1;
    }
    w->started = 1;
    for (int i = 0; i < w->cfg.concurrency; i++) {
        err = pthread_create(&w->threads[i], NULL, job_thread_main, w);
        if (err != 0) {
            se_log_error("payment_worker_start_failed", "job thread %d: %s", i, strerror(err));
            payment_worker_stop(w);
            return -1;
        }
        w->n_threads++;
    }
    char esc[300];
    se_log_fields(SE_LOG_INFO, "payment_worker_started",
                  "\"consumer\":\"%s\",\"concurrency\":%d,\"queue_size\":%d",
                  se_json_escape(esc, sizeof esc, w->consumer), w->cfg.concurrency,
                  w->cfg.queue_size);
    return 0;
}

/* Waits up to the grace period for running jobs, then aborts the rest. */
static void drain_jobs(payment_worker *w)
{
    pthread_mutex_lock(&w->mu);
    struct timespec until = se_monotonic_after_ms(w->cfg.stop_grace_ms);
    while (w->running > 0) {
        if (pthread_cond_timedwait(&w->done, &w->mu, &until) == ETIMEDOUT)
            break;
    }
    int still_running = w->running, queued = w->n_queued;
    w->aborting = 1;
    pthread_cond_broadcast(&w->abort);
    pthread_mutex_unlock(&w->mu);
    payment_breaker_stop(w->breaker);
    if (still_running > 0)
        se_log_warn("payment_worker_grace_over", "%d jobs still running after %d ms: each stops "
                    "at its next step and stays pending", still_running, w->cfg.stop_grace_ms);
    if (queued > 0)
        se_log_info("payment_worker_unstarted", "%d queued jobs not started: they stay pending",
                    queued);
}

void payment_worker_stop(payment_worker *w)
{
    if (!w->started || w->stopped)
        return;
    w->stopped = 1;
    pthread_mutex_lock(&w->mu);
    w->draining = 1;
    pthread_cond_broadcast(&w->work);
    pthread_cond_broadcast(&w->room);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->dispatcher, NULL);
    drain_jobs(w);
    for (int i = 0; i < w->n_threads; i++)
        pthread_join(w->threads[i], NULL);
    se_log_info("payment_worker_stopped", "acked %" PRIu64 ", left pending %" PRIu64
                ", duplicates %" PRIu64 ", dead-lettered %" PRIu64, w->stats.acked,
                w->stats.left_pending, w->stats.duplicates, w->stats.dead_lettered);
}

void payment_worker_destroy(payment_worker *w)
{
    if (w == NULL)
        return;
    payment_worker_stop(w);
    for (int i = 0; i < w->n_owned; i++) /* queued, never started */
        payment_entry_free(w->owned[i]);
    free(w->owned);
    free(w->fifo);
    free(w->threads);
    payment_order_client_destroy(w->order_client);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->room);
    pthread_cond_destroy(&w->done);
    pthread_cond_destroy(&w->abort);
    pthread_mutex_destroy(&w->mu);
    payment_breaker_destroy(w->breaker);
    payment_queue_destroy(w->queue);
    free(w);
}

void payment_worker_get_stats(payment_worker *w, payment_worker_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}

payment_breaker *payment_worker_breaker(payment_worker *w)
{
    return w->breaker;
}
