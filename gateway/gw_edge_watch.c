/* gw_edge_watch.c - the WatchMenuChanges stream behind the edge cache.
 *
 * DESIGN
 * One thread of ours owns the stream's life: it opens the stream
 * (se_rpc_stream_async), sleeps on a condition variable until on_end says
 * the stream is over (or stop asks it to cancel), then waits a backoff
 * (doubling from backoff_min_ms to backoff_max_ms, reset once a stream got
 * its first event, with +-25% jitter) and opens it again.
 *
 * The events arrive on the runtime client thread (on_message, on_end; never
 * concurrently for one stream) and go straight to the cache, which is
 * thread-safe: a reset flushes, then serving follows `complete`; a change
 * evicts the restaurant and, on lists_changed, every list page. on_end
 * stops serving and flushes at once, before anything else, so the cache
 * never outlives the stream that keeps it fresh.
 *
 * Cancel vs on_end: se_pending_cancel is valid only until on_end returned.
 * The thread cancels while holding `mu` and only while `ended` is 0; on_end
 * sets `ended` under the same mutex, so it cannot return in between.
 */
#include "gw_edge_watch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "se_log.h"
#include "swifteats/v1/menu.se.h"

struct gw_edge_watch {
    gw_edge_cache *cache;
    se_channel *ch;
    gw_edge_watch_config cfg;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;         /* signalled on `ended` and `stopping` */
    int stopping;                /* under mu */
    int ended;                   /* the current stream's on_end ran; under mu */
    atomic_int established;      /* the current stream delivered its reset */
    se_status last_end;          /* how the last stream ended; under mu */
    atomic_ullong streams, events, resets;
    unsigned rand_state;         /* jitter; the thread's */
};

/* ---- stream callbacks (runtime client thread) ----------------------------- */

static void apply_reset(gw_edge_watch *w, const Swifteats__V1__MenuChangeEvent *ev)
{
    gw_edge_cache *c = w->cache;
    if (!ev->complete)
        gw_edge_cache_set_serving(c, 0);
    gw_edge_cache_flush(c);
    if (ev->complete)
        gw_edge_cache_set_serving(c, 1);
    atomic_fetch_add(&w->resets, 1);
    int first = !atomic_exchange(&w->established, 1);
    se_log_fields(SE_LOG_INFO, "edge_cache_reset",
                  "\"complete\":%s,\"first\":%s,\"origin\":\"%.32s\",\"serving\":%s",
                  ev->complete ? "true" : "false", first ? "true" : "false",
                  ev->origin ? ev->origin : "", ev->complete ? "true" : "false");
}

static void on_message(void *arg, ProtobufCMessage *msg)
{
    gw_edge_watch *w = arg;
    const Swifteats__V1__MenuChangeEvent *ev = (const Swifteats__V1__MenuChangeEvent *)msg;
    if (ev->reset) {
        apply_reset(w, ev);
    } else {
        if (ev->restaurant_id > 0)
            gw_edge_cache_evict_restaurant(w->cache, ev->restaurant_id);
        if (ev->lists_changed)
            gw_edge_cache_evict_lists(w->cache);
        atomic_fetch_add(&w->events, 1);
        se_log_debug("edge_cache_event", "restaurant %lld (r%d m%d s%d l%d) from %s",
                     (long long)ev->restaurant_id, ev->restaurant_changed, ev->menu_changed,
                     ev->status_changed, ev->lists_changed, ev->origin ? ev->origin : "?");
    }
    se_msg_free(msg);
}

static void on_end(void *arg, const se_status *st)
{
    gw_edge_watch *w = arg;
    gw_edge_cache_set_serving(w->cache, 0);
    gw_edge_cache_flush(w->cache);
    pthread_mutex_lock(&w->mu);
    if (!w->stopping && atomic_load(&w->established))
        se_log_warn("edge_cache_stream_ended", "WatchMenuChanges ended: %s %s; not serving "
                    "until it is back", se_status_name(st->code), st->message);
    w->last_end = *st;
    w->ended = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

/* ---- the thread ------------------------------------------------------------ */

/* Opens one stream and waits for its end (mu held). */
static void run_stream(gw_edge_watch *w)
{
    static const se_stream_cbs cbs = {on_message, on_end};
    Swifteats__V1__WatchMenuChangesRequest req = SWIFTEATS__V1__WATCH_MENU_CHANGES_REQUEST__INIT;
    se_call_opts opts = {.timeout_ms = -1, .detach = 1, .no_retry = 1};
    w->ended = 0;
    atomic_store(&w->established, 0);
    se_pending *p = swifteats_v1_menu_service_watch_menu_changes_async(w->ch, &req, &opts, &cbs, w);
    if (p == NULL) {
        se_log_error("edge_cache_stream_failed", "cannot start WatchMenuChanges");
        se_status_set(&w->last_end, GRPC_STATUS_INTERNAL, "the call could not start");
        return;
    }
    atomic_fetch_add(&w->streams, 1);
    int cancelled = 0;
    while (!w->ended) {
        if (w->stopping && !cancelled) {
            se_pending_cancel(p);
            cancelled = 1;
        }
        pthread_cond_wait(&w->cond, &w->mu);
    }
}

static void wait_ms(gw_edge_watch *w, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    while (!w->stopping && pthread_cond_timedwait(&w->cond, &w->mu, &ts) != ETIMEDOUT)
        ;
}

static void *watch_main(void *arg)
{
    gw_edge_watch *w = arg;
    int delay = w->cfg.backoff_min_ms, fails = 0;
    pthread_mutex_lock(&w->mu);
    while (!w->stopping) {
        run_stream(w);
        if (w->stopping)
            break;
        if (atomic_load(&w->established)) {
            delay = w->cfg.backoff_min_ms;
            fails = 0;
        } else if (fails++ == 0) { /* once per outage, not once per retry */
            se_log_warn("edge_cache_stream_unavailable", "cannot open WatchMenuChanges: %s %s; "
                        "retrying with backoff up to %d ms, not serving meanwhile",
                        se_status_name(w->last_end.code), w->last_end.message,
                        w->cfg.backoff_max_ms);
        }
        int jitter = delay / 4 > 0 ? (int)(rand_r(&w->rand_state) % (unsigned)(delay / 2)) : 0;
        wait_ms(w, delay - delay / 4 + jitter);
        delay = delay * 2 > w->cfg.backoff_max_ms ? w->cfg.backoff_max_ms : delay * 2;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

gw_edge_watch *gw_edge_watch_start(gw_edge_cache *c, se_channel *ch,
                                   const gw_edge_watch_config *cfg)
{
    gw_edge_watch *w = calloc(1, sizeof *w);
    if (w == NULL)
        abort();
    w->cache = c;
    w->ch = ch;
    w->cfg.backoff_min_ms = cfg && cfg->backoff_min_ms > 0 ? cfg->backoff_min_ms : 50;
    w->cfg.backoff_max_ms = cfg && cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 2000;
    if (w->cfg.backoff_max_ms < w->cfg.backoff_min_ms)
        w->cfg.backoff_max_ms = w->cfg.backoff_min_ms;
    w->rand_state = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)w;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    int rc = pthread_create(&w->thread, NULL, watch_main, w);
    if (rc != 0) {
        se_log_error("edge_cache_watch_failed", "pthread_create: %d", rc);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
    }
    return w;
}

void gw_edge_watch_stop(gw_edge_watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    gw_edge_cache_set_serving(w->cache, 0);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void gw_edge_watch_stats_get(gw_edge_watch *w, gw_edge_watch_stats *out)
{
    out->streams = atomic_load(&w->streams);
    out->events = atomic_load(&w->events);
    out->resets = atomic_load(&w->resets);
}
