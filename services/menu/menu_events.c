/* menu_events.c - change events of the menu service (menu_events.h).
 *
 * DESIGN
 *
 * Watchers: each WatchMenuChanges call is a `watcher` in a list guarded by
 * `mu`. Its first message (a reset) is sent under `mu` while it is added,
 * so no change event can overtake it. Fan-out sends one message to every
 * watcher under `mu` (se_call_send only queues, it never blocks). A
 * cancelled call is unlinked and finished by its on_cancel callback; a
 * watcher ended by menu_events_stop_watchers is finished there and moved to
 * `retired` (its on_cancel may already be waiting for `mu`, so it is freed
 * only by menu_events_destroy).
 *
 * Across replicas: after a commit the writer fans out to its own watchers
 * directly (works with Redis down), then PUBLISHes the packed
 * MenuChangeEvent on MENU_EVENTS_CHANNEL. Every replica runs one subscriber
 * thread on its own Redis connection; it ignores events carrying its own
 * origin (already told) and fans the others out, after calling on_remote
 * (the cache forgets matching in-flight loads).
 *
 * Loss and resets: Pub/Sub is at most once. A replica that (re)subscribes
 * may have missed events, so each successful SUBSCRIBE fans out a reset
 * (complete = true) to its watchers; losing the subscription fans out a
 * reset with complete = false (only this replica's own writes will be
 * reported until the next reset). A replica whose PUBLISH failed sets
 * `reset_pending`; its subscriber thread publishes a reset for the others
 * once Redis answers again. Hence "loss is always followed by a reset"
 * (menu.proto).
 *
 * The subscriber thread never blocks for long: it polls the socket with a
 * 200 ms timeout and checks `stopping`; between connection attempts it
 * sleeps on `cond` (woken by destroy).
 */
#include "menu_events.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "menu_util.h"
#include "se_log.h"
#include "se_time.h"

#define POLL_MS 200

typedef struct watcher {
    struct watcher *next;
    se_call *call;
    menu_events *ev;
    int finished; /* ended by stop_watchers; on_cancel must not touch it */
} watcher;

struct menu_events {
    menu_events_config cfg;
    char *redis_url;       /* owned copy of cfg.redis_url */
    char origin[17];       /* this replica, 16 hex chars */
    pthread_mutex_t mu;    /* guards the lists, stopping flags, cond */
    pthread_cond_t cond;   /* wakes the subscriber's sleeps */
    watcher *watchers;     /* live streams */
    watcher *retired;      /* finished by stop_watchers, freed by destroy */
    int watchers_stopped;  /* stop_watchers ran: end new watchers at once */
    int stopping;          /* destroy: the subscriber thread must return */
    int has_thread;
    pthread_t thread;
    atomic_int subscribed;    /* 1 while SUBSCRIBEd */
    atomic_int reset_pending; /* a PUBLISH failed: owe the others a reset */
};

/* ---- events ------------------------------------------------------------------ */

static void event_init(Swifteats__V1__MenuChangeEvent *e, Google__Protobuf__Timestamp *ts,
                       const char *origin, int64_t rid, unsigned what)
{
    swifteats__v1__menu_change_event__init(e);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    google__protobuf__timestamp__init(ts);
    ts->seconds = now.tv_sec;
    ts->nanos = (int32_t)now.tv_nsec;
    e->committed_at = ts;
    e->origin = (char *)origin;
    if (what == MENU_CHANGED_ALL) {
        e->reset = 1; /* complete: set by the caller */
        return;
    }
    e->restaurant_id = rid;
    e->restaurant_changed = (what & MENU_CHANGED_RESTAURANT) != 0;
    e->menu_changed = (what & MENU_CHANGED_MENU) != 0;
    e->status_changed = (what & MENU_CHANGED_STATUS) != 0;
    e->lists_changed = (what & MENU_CHANGED_LISTS) != 0;
}

static unsigned event_what(const Swifteats__V1__MenuChangeEvent *e)
{
    if (e->reset)
        return MENU_CHANGED_ALL;
    return (e->restaurant_changed ? MENU_CHANGED_RESTAURANT : 0u) |
           (e->menu_changed ? MENU_CHANGED_MENU : 0u) |
           (e->status_changed ? MENU_CHANGED_STATUS : 0u) |
           (e->lists_changed ? MENU_CHANGED_LISTS : 0u);
}

/* Sends e to every watcher of this replica. */
static void fan_out(menu_events *ev, const Swifteats__V1__MenuChangeEvent *e)
{
    pthread_mutex_lock(&ev->mu);
    for (watcher *w = ev->watchers; w; w = w->next)
        (void)se_call_send(w->call, &e->base); /* -1: cancelled, on_cancel cleans up */
    pthread_mutex_unlock(&ev->mu);
}

/* 1 when this replica's watchers hear about every replica's writes: it is
 * subscribed, or there are no other replicas to hear from. */
static int complete(menu_events *ev)
{
    return ev->redis_url == NULL || atomic_load(&ev->subscribed);
}

/* Sends a reset to this replica's watchers. */
static void fan_out_reset(menu_events *ev)
{
    Swifteats__V1__MenuChangeEvent e;
    Google__Protobuf__Timestamp ts;
    event_init(&e, &ts, ev->origin, 0, MENU_CHANGED_ALL);
    e.complete = complete(ev);
    fan_out(ev, &e);
}

/* PUBLISH e through the pool: 0 or -1. */
static int publish(menu_events *ev, const Swifteats__V1__MenuChangeEvent *e)
{
    if (ev->cfg.publish == NULL)
        return -1;
    se_redis *r = se_redis_pool_acquire(ev->cfg.publish, 1000);
    if (r == NULL)
        return -1;
    size_t len = protobuf_c_message_get_packed_size(&e->base);
    uint8_t *buf = se_xmalloc(len);
    protobuf_c_message_pack(&e->base, buf);
    redisReply *rep = se_redis_command(r, 0, NULL, "PUBLISH %s %b", MENU_EVENTS_CHANNEL, buf, len);
    se_redis_pool_release(ev->cfg.publish, r);
    free(buf);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    return 0;
}

void menu_events_publish(menu_events *ev, int64_t restaurant_id, unsigned what)
{
    Swifteats__V1__MenuChangeEvent e;
    Google__Protobuf__Timestamp ts;
    event_init(&e, &ts, ev->origin, restaurant_id, what);
    fan_out(ev, &e);
    if (ev->redis_url == NULL)
        return;
    if (publish(ev, &e) != 0) {
        if (atomic_exchange(&ev->reset_pending, 1) == 0)
            se_log_warn("menu_event_not_published",
                        "restaurant %" PRId64 ": other replicas will get a reset once Redis "
                        "answers",
                        restaurant_id);
    }
}

/* ---- watchers ---------------------------------------------------------------- */

static void watcher_cancelled(void *arg)
{
    watcher *w = arg;
    menu_events *ev = w->ev;
    pthread_mutex_lock(&ev->mu);
    if (w->finished) { /* stop_watchers got there first; destroy frees it */
        pthread_mutex_unlock(&ev->mu);
        return;
    }
    for (watcher **p = &ev->watchers; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    pthread_mutex_unlock(&ev->mu);
    se_call_finish(w->call, GRPC_STATUS_CANCELLED, "watcher cancelled");
    free(w);
}

void menu_events_watch(menu_events *ev, se_call *call)
{
    watcher *w = se_xcalloc(1, sizeof *w);
    w->call = call;
    w->ev = ev;
    Swifteats__V1__MenuChangeEvent e;
    Google__Protobuf__Timestamp ts;
    event_init(&e, &ts, ev->origin, 0, MENU_CHANGED_ALL);
    e.complete = complete(ev);
    pthread_mutex_lock(&ev->mu);
    if (ev->watchers_stopped) {
        pthread_mutex_unlock(&ev->mu);
        free(w);
        se_call_finish(call, GRPC_STATUS_UNAVAILABLE, "menu service stopping");
        return;
    }
    w->next = ev->watchers;
    ev->watchers = w;
    (void)se_call_send(call, &e.base);
    pthread_mutex_unlock(&ev->mu);
    se_call_on_cancel(call, watcher_cancelled, w);
}

void menu_events_stop_watchers(menu_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    ev->watchers_stopped = 1;
    while (ev->watchers) {
        watcher *w = ev->watchers;
        ev->watchers = w->next;
        w->finished = 1;
        se_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, "menu service stopping");
        w->next = ev->retired;
        ev->retired = w;
    }
    pthread_mutex_unlock(&ev->mu);
}

/* ---- subscriber thread ------------------------------------------------------- */

/* Sleeps up to ms unless stopping; returns 1 when stopping. */
static int sleep_or_stop(menu_events *ev, int ms)
{
    struct timespec until = se_monotonic_after_ms(ms);
    pthread_mutex_lock(&ev->mu);
    while (!ev->stopping && pthread_cond_timedwait(&ev->cond, &ev->mu, &until) == 0)
        ;
    int stopping = ev->stopping;
    pthread_mutex_unlock(&ev->mu);
    return stopping;
}

static int stopping(menu_events *ev)
{
    pthread_mutex_lock(&ev->mu);
    int s = ev->stopping;
    pthread_mutex_unlock(&ev->mu);
    return s;
}

/* SUBSCRIBE on r's raw context: 0 or -1. */
static int subscribe(se_redis *r)
{
    redisContext *ctx = se_redis_raw(r);
    if (ctx == NULL) /* the fail-fast create could not connect (logged) */
        return -1;
    redisReply *rep = redisCommand(ctx, "SUBSCRIBE %s", MENU_EVENTS_CHANNEL);
    int ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3;
    if (rep != NULL)
        freeReplyObject(rep);
    return ok ? 0 : -1;
}

/* One Pub/Sub message: tell on_remote and the watchers. */
static void handle_message(void *arg, const redisReply *rep)
{
    menu_events *ev = arg;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING || strcmp(rep->element[0]->str, "message") != 0)
        return;
    const redisReply *payload = rep->element[2];
    Swifteats__V1__MenuChangeEvent *e = swifteats__v1__menu_change_event__unpack(
        NULL, payload->len, (const uint8_t *)payload->str);
    if (e == NULL) {
        se_log_warn("menu_event_bad", "undecodable change event (%zu bytes) ignored",
                    (size_t)payload->len);
        return;
    }
    if (strcmp(e->origin, ev->origin) != 0) {
        unsigned what = event_what(e);
        if (ev->cfg.on_remote)
            ev->cfg.on_remote(ev->cfg.arg, e->restaurant_id, what);
        /* `complete` describes the stream it travels on, so a relayed reset
         * (another replica could not publish) carries ours: subscribed, or
         * we would not have heard it. Left as published (false), it told
         * the gateways to stop caching until our next re-subscription. */
        if (e->reset)
            e->complete = complete(ev);
        fan_out(ev, e);
    }
    swifteats__v1__menu_change_event__free_unpacked(e, NULL);
}

/* Reads and handles every message available within POLL_MS: 0, or -1 when
 * the connection failed. */
static int pump(menu_events *ev, redisContext *ctx)
{
    struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
    int n = poll(&pfd, 1, POLL_MS);
    if (n <= 0)
        return 0; /* nothing yet (or EINTR): the caller checks stopping */
    return se_redis_read_replies(ctx, handle_message, ev);
}

/* After SUBSCRIBE: everyone here may have missed events; so may the other
 * replicas, if we owe them a reset. */
static void on_subscribed(menu_events *ev, int first)
{
    atomic_store(&ev->subscribed, 1);
    se_log_info("menu_events_subscribed", "listening to %s; watchers get a reset",
                MENU_EVENTS_CHANNEL);
    if (!first && ev->cfg.on_remote)
        ev->cfg.on_remote(ev->cfg.arg, 0, MENU_CHANGED_ALL);
    fan_out_reset(ev);
}

static void settle_reset(menu_events *ev)
{
    if (!atomic_load(&ev->reset_pending))
        return;
    Swifteats__V1__MenuChangeEvent e;
    Google__Protobuf__Timestamp ts;
    event_init(&e, &ts, ev->origin, 0, MENU_CHANGED_ALL);
    if (publish(ev, &e) == 0) {
        atomic_store(&ev->reset_pending, 0);
        se_log_info("menu_events_reset_published", "other replicas told to reset");
    }
}

static void *subscriber_main(void *arg)
{
    menu_events *ev = arg;
    int first = 1; /* the first SUBSCRIBE after start: nothing was missed by
                      this process's loads yet, they need not be forgotten */
    while (!stopping(ev)) {
        se_redis *r = se_redis_create_ex(ev->redis_url, ev->cfg.timeout_ms, SE_REDIS_FAIL_FAST,
                                         NULL);
        if (r == NULL || subscribe(r) != 0) {
            se_redis_destroy(r);
            if (sleep_or_stop(ev, ev->cfg.retry_ms))
                break;
            continue;
        }
        on_subscribed(ev, first);
        first = 0;
        while (!stopping(ev) && pump(ev, se_redis_raw(r)) == 0)
            settle_reset(ev);
        atomic_store(&ev->subscribed, 0);
        se_redis_destroy(r);
        if (!stopping(ev)) {
            se_log_warn("menu_events_unsubscribed",
                        "lost the Redis subscription; retrying every %d ms", ev->cfg.retry_ms);
            fan_out_reset(ev); /* complete = false: other replicas unheard */
            sleep_or_stop(ev, ev->cfg.retry_ms);
        }
    }
    return NULL;
}

/* ---- lifecycle --------------------------------------------------------------- */

menu_events *menu_events_create(const menu_events_config *cfg)
{
    menu_events *ev = se_xcalloc(1, sizeof *ev);
    ev->cfg = *cfg;
    ev->redis_url = cfg->redis_url ? se_xstrdup(cfg->redis_url) : NULL;
    ev->cfg.redis_url = ev->redis_url;
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id)
        id = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)ev;
    snprintf(ev->origin, sizeof ev->origin, "%016" PRIx64, id);
    pthread_mutex_init(&ev->mu, NULL);
    se_cond_init_monotonic(&ev->cond);
    if (ev->redis_url != NULL) {
        if (pthread_create(&ev->thread, NULL, subscriber_main, ev) == 0)
            ev->has_thread = 1;
        else
            se_log_error("menu_events_no_thread", "could not start the subscriber thread");
    }
    return ev;
}

void menu_events_destroy(menu_events *ev)
{
    if (ev == NULL)
        return;
    pthread_mutex_lock(&ev->mu);
    ev->stopping = 1;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->mu);
    if (ev->has_thread)
        pthread_join(ev->thread, NULL);
    if (ev->watchers != NULL)
        se_log_error("menu_events_leak", "destroyed with live watchers (server not shut down?)");
    while (ev->retired) {
        watcher *w = ev->retired;
        ev->retired = w->next;
        free(w);
    }
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->mu);
    free(ev->redis_url);
    free(ev);
}

int menu_events_subscribed(menu_events *ev)
{
    return atomic_load(&ev->subscribed);
}

const char *menu_events_origin(const menu_events *ev)
{
    return ev->origin;
}
