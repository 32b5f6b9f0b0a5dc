/* location_worker.c - the location worker's reader loop (see
 * location_worker.h).
 *
 * DESIGN: the reader thread owns its Redis connections and the loop state:
 * it reads batches, applies their live state (positions, GEO, publishes:
 * location_state.c) at once, judges undecodable entries, and hands each
 * batch to the history writer (location_writer.c, its own thread), which
 * writes the history and acknowledges, or leaves entries pending. So live
 * updates never wait for PostgreSQL. Before re-reading its own pending
 * entries (after a failure, or at start-up) the reader waits for the writer
 * to finish what it holds (location_writer_sync), so an entry is not in two
 * batches at once.
 */
#include "location_worker.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "location_worker_internal.h"
#include "se_alloc.h"
#include "se_config.h"
#include "se_log.h"
#include "se_redis_stream.h"
#include "se_time.h"

#define SWEEP_LIMIT 1000     /* drivers removed per sweep script */
/* Reports per state script. A script runs alone in Redis (about 20 us per
 * report here): 500 at once held every other client, ingest XADDs and
 * live PUBLISHes included, for 10 ms (LATENCY LATEST). Separate round
 * trips of 64 let Redis serve the others in between (about 1.3 ms each). */
#define STATE_CHUNK 64
#define CLAIM_ROUNDS 8       /* XAUTOCLAIM calls per claim tick at most */



/* ---- configuration ---------------------------------------------------------- */

void location_worker_config_from_env(location_worker_config *c)
{
    static char dead[512];
    memset(c, 0, sizeof *c);
    c->redis_url = se_env_str("SE_REDIS_URL", "redis://127.0.0.1:6379/0");
    c->redis_timeout_ms = (int)se_env_int("SE_REDIS_TIMEOUT_MS", 1000, 1, 600000);
    c->pg_url = se_env_str("SE_PG_URL", NULL);
    if (c->pg_url == NULL) {
        se_log_error("config_error", "SE_PG_URL is required");
        exit(2);
    }
    c->stream = se_env_str("SE_LOCATION_STREAM", "se:locations");
    c->group = se_env_str("SE_LOCATION_GROUP", "location-workers");
    c->consumer = se_redis_stream_consumer_from_env("SE_LOCATION_CONSUMER"); /* "<host>-<pid>" */
    snprintf(dead, sizeof dead, "%s:dead", c->stream);
    c->dead_stream = se_env_str("SE_LOCATION_DEAD_STREAM", dead);
    c->key_prefix = se_env_str("SE_LOCATION_KEY_PREFIX", "se:");
    c->batch = (int)se_env_int("SE_LOCATION_BATCH", 500, 1, 10000);
    c->block_ms = (int)se_env_int("SE_LOCATION_BLOCK_MS", 100, 1, 60000);
    c->flush_ms = (int)se_env_int("SE_LOCATION_FLUSH_MS", 10, 0, 10000);
    c->claim_idle_ms = (int)se_env_int("SE_LOCATION_CLAIM_IDLE_MS", 30000, 1, 86400000);
    c->claim_interval_ms = (int)se_env_int("SE_LOCATION_CLAIM_INTERVAL_MS", 5000, 1, 86400000);
    c->max_deliveries = (int)se_env_int("SE_LOCATION_MAX_DELIVERIES", 5, 1, 1000);
    c->retry_ms = (int)se_env_int("SE_LOCATION_RETRY_MS", 1000, 1, 3600000);
    c->retry_max_ms = (int)se_env_int("SE_LOCATION_RETRY_MAX_MS", 30000, 1, 3600000);
    c->driver_ttl_s = (int)se_env_int("SE_DRIVER_LOCATION_TTL_S", 86400, 1, 31536000);
    c->order_ttl_s = (int)se_env_int("SE_LOCATION_ORDER_TTL_S", 86400, 1, 31536000);
    c->stale_s = (int)se_env_int("SE_DRIVER_STALE_S", 60, 1, 86400);
    c->sweep_interval_ms = (int)se_env_int("SE_LOCATION_SWEEP_INTERVAL_MS", 5000, 1, 3600000);
    c->retention_days = (int)se_env_int("SE_LOCATION_RETENTION_DAYS", 30, 0, 36500);
    c->maintain_interval_s =
        (int)se_env_int("SE_LOCATION_MAINTAIN_INTERVAL_S", 3600, 1, 86400);
}

/* ---- helpers ------------------------------------------------------------------- */


/* Sleeps up to ms, returning early on stop. */
static void nap(location_worker *w, int ms)
{
    struct timespec until = se_monotonic_after_ms(ms);
    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stop) &&
           pthread_cond_timedwait(&w->wake, &w->mu, &until) == 0) {
    }
    pthread_mutex_unlock(&w->mu);
}

/* Something is left pending: a PEL pass is due after the backoff. */
static void retry_later(location_worker *w)
{
    if (w->pel_pending) {
        w->pass_left++; /* a pass is on: make sure another one follows */
        return;
    }
    w->pel_pending = 1;
    w->pel_at = se_mono_ms() + w->backoff_ms;
}

static void backoff_grow(location_worker *w)
{
    w->backoff_ms = w->backoff_ms * 2 > w->cfg.retry_max_ms ? w->cfg.retry_max_ms
                                                            : w->backoff_ms * 2;
}

/* ---- poison entries ----------------------------------------------------------- */

void location_worker_poison(location_worker *w, location_stream *s, location_entry *e)
{
    if (e->deliveries == 0)
        e->deliveries = location_stream_deliveries(s, e->id);
    se_log_set_request_id(e->rid[0] ? e->rid : NULL);
    if (e->deliveries >= w->cfg.max_deliveries &&
        location_stream_dead_letter(s, e, e->error) == 0) {
        e->fate = LOCATION_DEAD;
        se_log_warn("location_dead_lettered", "entry %s moved to %s after %d deliveries: %s",
                    e->id, w->cfg.dead_stream, e->deliveries, e->error);
        STAT_ADD(w, dead_lettered, 1);
    } else {
        se_log_warn("location_poison", "entry %s (delivery %d of %d) left pending: %s", e->id,
                    e->deliveries, w->cfg.max_deliveries, e->error);
    }
    se_log_set_request_id(NULL);
}

/* ---- one batch -------------------------------------------------------------------- */

/* Applies the state of b's valid entries; 0, or -1 (all left pending). */
static int apply_state(location_worker *w, location_batch *b)
{
    location_entry **valid = se_xcalloc(b->n + 1, sizeof *valid);
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->e[i].msg != NULL && b->e[i].fate == LOCATION_PENDING)
            valid[n++] = &b->e[i];
    unsigned char *flags = se_xcalloc(n + 1, 1);
    int rc = 0;
    for (size_t at = 0; at < n && rc == 0; at += STATE_CHUNK) /* see STATE_CHUNK */
        rc = location_state_apply(w->state, location_stream_redis(w->stream), valid + at,
                                  n - at < STATE_CHUNK ? n - at : STATE_CHUNK, flags + at);
    if (rc == 0) {
        uint64_t adv = 0, pub = 0;
        for (size_t i = 0; i < n; i++) {
            adv += (flags[i] & LOCATION_STATE_DRIVER) != 0;
            pub += (flags[i] & LOCATION_STATE_ORDER) != 0;
        }
        pthread_mutex_lock(&w->mu);
        w->stats.advanced += adv;
        w->stats.published += pub;
        pthread_mutex_unlock(&w->mu);
    }
    free(flags);
    free(valid);
    return rc;
}

/* Takes b: state now, poison entries judged, history by the writer (and
 * waited for when flush_now). Returns the entries left pending by the
 * writer since the last look (flush_now only). */
static size_t handle(location_worker *w, location_batch *b, int flush_now)
{
    STAT_ADD(w, read, b->n);
    if (apply_state(w, b) != 0) {
        se_log_error("location_state_failed", "%zu entries left pending", b->n);
        size_t n = b->n;
        location_batch_free(b);
        retry_later(w);
        return n;
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->e[i].error[0] != '\0' && b->e[i].fate == LOCATION_PENDING)
            location_worker_poison(w, w->stream, &b->e[i]);
    location_writer_push(w->writer, b);
    return flush_now ? location_writer_sync(w->writer) : 0;
}

/* ---- timers ------------------------------------------------------------------------- */

/* One batch of the PEL pass, if one is due. */
static void pel_tick(location_worker *w)
{
    if (!w->pel_pending || se_mono_ms() < w->pel_at)
        return;
    /* what the writer holds is in the PEL too: never handle it twice */
    w->pass_left += location_writer_sync(w->writer);
    if (location_writer_down(w->writer)) { /* the writer probes it */
        w->pel_at = se_mono_ms() + w->backoff_ms;
        backoff_grow(w);
        return;
    }
    location_batch b;
    int n = location_stream_read(w->stream, w->pel_cursor, w->cfg.batch, 0, &b);
    if (n < 0) {
        w->pel_at = se_mono_ms() + w->backoff_ms;
        backoff_grow(w);
        return;
    }
    if (n == 0) { /* pass complete */
        location_batch_free(&b); /* the empty reply */
        snprintf(w->pel_cursor, sizeof w->pel_cursor, "0");
        w->pel_pending = w->pass_left > 0;
        if (w->pel_pending) {
            w->pel_at = se_mono_ms() + w->backoff_ms;
            backoff_grow(w);
        }
        w->pass_left = 0;
        return;
    }
    snprintf(w->pel_cursor, sizeof w->pel_cursor, "%s", b.e[b.n - 1].id);
    size_t left = handle(w, &b, 1);
    w->pass_left += left;
    if (left == 0)
        w->backoff_ms = w->cfg.retry_ms;
    if (location_writer_down(w->writer)) { /* restart the pass when it is back */
        snprintf(w->pel_cursor, sizeof w->pel_cursor, "0");
        w->pass_left = 0;
        w->pel_at = se_mono_ms() + w->backoff_ms;
    }
}

static void claim_tick(location_worker *w)
{
    if (se_mono_ms() < w->claim_at)
        return;
    w->claim_at = se_mono_ms() + w->cfg.claim_interval_ms;
    if (location_writer_down(w->writer))
        return;
    /* No sync with the writer first (it would stall live updates behind a
     * commit every claim interval): what the writer holds was read within
     * milliseconds, so it is not idle for claim_idle_ms; and were an entry
     * claimed while queued, handling it twice is harmless (newer-wins state,
     * ON CONFLICT history, a second ack). */
    for (int i = 0; i < CLAIM_ROUNDS && !atomic_load(&w->stop); i++) {
        location_batch b;
        int n = location_stream_autoclaim(w->stream, w->cfg.claim_idle_ms, w->cfg.batch,
                                          w->claim_cursor, &b);
        if (n > 0) {
            se_log_info("location_claimed", "took over %d idle entries of %s", n,
                        w->cfg.stream);
            STAT_ADD(w, claimed, (uint64_t)n);
            if (handle(w, &b, 1) > 0)
                retry_later(w);
        }
        if (n < 0 || strcmp(w->claim_cursor, "0-0") == 0)
            break;
    }
}

static void sweep_tick(location_worker *w)
{
    if (se_mono_ms() < w->sweep_at)
        return;
    w->sweep_at = se_mono_ms() + w->cfg.sweep_interval_ms;
    long n;
    do {
        n = location_state_sweep(w->state, location_stream_redis(w->stream),
                                 se_wall_us() / 1000, w->cfg.stale_s, SWEEP_LIMIT);
        if (n > 0)
            STAT_ADD(w, stale_removed, (uint64_t)n);
    } while (n == SWEEP_LIMIT && !atomic_load(&w->stop));
}

/* How long the next read may block. */
static int block_for(location_worker *w)
{
    int64_t now = se_mono_ms();
    int64_t until = now + w->cfg.block_ms;
    if (w->pel_pending && w->pel_at < until)
        until = w->pel_at;
    return until > now ? (int)(until - now) : 0;
}

/* ---- the loop ------------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    location_worker *w = arg;
    se_log_set_request_id(NULL);
    int read_failures = 0;
    while (!atomic_load(&w->stop) && location_stream_ensure_group(w->stream) != 0) {
        if (read_failures++ == 0)
            se_log_error("redis_unavailable", "creating the consumer group of %s failed (see "
                         "redis_error): retrying until Redis answers", w->cfg.stream);
        nap(w, w->backoff_ms);
    }
    while (!atomic_load(&w->stop)) {
        if (location_writer_take_left(w->writer) > 0)
            retry_later(w);
        sweep_tick(w);
        claim_tick(w);
        pel_tick(w);
        location_batch b;
        int n = location_stream_read(w->stream, ">", w->cfg.batch, block_for(w), &b);
        if (n < 0) {
            if (read_failures == 0) /* the state change, once per outage */
                se_log_error("redis_unavailable", "reading %s failed (see redis_error): "
                             "retrying every %d ms until Redis answers", w->cfg.stream,
                             w->cfg.retry_ms);
            nap(w, read_failures++ < 3 ? 100 : w->cfg.retry_ms);
            continue;
        }
        if (read_failures > 0)
            se_log_info("redis_recovered", "the location stream is reachable again");
        read_failures = 0;
        if (n > 0)
            handle(w, &b, 0);
        else
            location_batch_free(&b);
        pthread_mutex_lock(&w->mu);
        w->stats.history_down = location_writer_down(w->writer);
        pthread_mutex_unlock(&w->mu);
    }
    location_writer_sync(w->writer); /* what was read is written (if it can be) */
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static const char *keep(location_worker *w, int i, const char *s)
{
    w->strings[i] = se_xstrdup(s != NULL ? s : "");
    return w->strings[i];
}

location_worker *location_worker_create(const location_worker_config *cfg)
{
    location_worker *w = se_xcalloc(1, sizeof *w);
    w->cfg = *cfg;
    w->cfg.redis_url = keep(w, 0, cfg->redis_url);
    w->cfg.pg_url = keep(w, 1, cfg->pg_url);
    w->cfg.stream = keep(w, 2, cfg->stream);
    w->cfg.group = keep(w, 3, cfg->group);
    w->cfg.consumer = keep(w, 4, cfg->consumer);
    w->cfg.dead_stream = keep(w, 5, cfg->dead_stream);
    w->cfg.key_prefix = keep(w, 6, cfg->key_prefix);
    if (w->cfg.batch <= 0)
        w->cfg.batch = 500;
    if (w->cfg.block_ms <= 0)
        w->cfg.block_ms = 100;
    if (w->cfg.retry_ms <= 0)
        w->cfg.retry_ms = 1000;
    if (w->cfg.retry_max_ms < w->cfg.retry_ms)
        w->cfg.retry_max_ms = w->cfg.retry_ms;
    if (w->cfg.max_deliveries <= 0)
        w->cfg.max_deliveries = 5;
    pthread_mutex_init(&w->mu, NULL);
    se_cond_init_monotonic(&w->wake);
    location_stream_config sc = {w->cfg.redis_url, w->cfg.redis_timeout_ms, w->cfg.stream,
                                 w->cfg.group, w->cfg.consumer, w->cfg.dead_stream,
                                 w->cfg.block_ms};
    w->stream = location_stream_create(&sc);
    if (w->stream == NULL) {
        location_worker_destroy(w);
        return NULL;
    }
    location_state_config stc = {w->cfg.key_prefix, w->cfg.driver_ttl_s, w->cfg.order_ttl_s};
    w->state = location_state_create(&stc);
    w->writer = location_writer_create(w);
    if (w->writer == NULL) {
        location_worker_destroy(w);
        return NULL;
    }
    w->backoff_ms = w->cfg.retry_ms;
    w->pel_pending = 1; /* resume this consumer's own pending entries first */
    snprintf(w->pel_cursor, sizeof w->pel_cursor, "0");
    snprintf(w->claim_cursor, sizeof w->claim_cursor, "0-0");
    int64_t now = se_mono_ms();
    w->pel_at = w->sweep_at = now;
    w->claim_at = now + w->cfg.claim_interval_ms;
    return w;
}

int location_worker_start(location_worker *w)
{
    if (location_writer_start(w->writer) != 0)
        return -1;
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        location_writer_stop(w->writer);
        se_log_error("location_worker_start_failed", "could not start the worker thread");
        return -1;
    }
    w->started = 1;
    char esc[256];
    se_log_fields(SE_LOG_INFO, "location_worker_started",
                  "\"consumer\":\"%s\",\"batch\":%d,\"flush_ms\":%d",
                  se_json_escape(esc, sizeof esc, w->cfg.consumer), w->cfg.batch,
                  w->cfg.flush_ms);
    return 0;
}

void location_worker_stop(location_worker *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL); /* it synced with the writer last */
    location_writer_stop(w->writer);
    w->started = 0;
}

void location_worker_destroy(location_worker *w)
{
    if (w == NULL)
        return;
    location_worker_stop(w);
    location_stream_destroy(w->stream);
    location_state_destroy(w->state);
    location_writer_destroy(w->writer); /* after the reader: it syncs at the end */
    for (int i = 0; i < 8; i++)
        free(w->strings[i]);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void location_worker_get_stats(location_worker *w, location_worker_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->stats;
    pthread_mutex_unlock(&w->mu);
}
