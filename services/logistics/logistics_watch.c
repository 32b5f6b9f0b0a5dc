/* logistics_watch.c - live order locations over Redis Pub/Sub
 * (logistics_watch.h).
 *
 * DESIGN
 * Every watched order has one `sub` in a hash table (guarded by `mu`) with
 * its watchers. Only the subscriber thread talks to Redis; handlers and
 * cancel callbacks change the table and put the sub on the `todo` list,
 * then wake the thread through an eventfd. The thread turns the todo list
 * into SUBSCRIBE/UNSUBSCRIBE commands and reads their confirmations and
 * the messages in between, in order, from the one connection:
 *
 *   IDLE ----(watcher, SUBSCRIBE sent)----> SUBSCRIBING
 *   SUBSCRIBING --("subscribe" reply)-----> LIVE: every watcher gets the
 *       marker (empty Location): from now on nothing published is missed
 *   LIVE --(last watcher gone, UNSUBSCRIBE sent)--> UNSUBSCRIBING
 *   UNSUBSCRIBING --("unsubscribe" reply)--> freed, or, if watchers joined
 *       meanwhile, SUBSCRIBE again (they get their marker on its reply)
 *
 * A watcher joining a LIVE sub gets its marker at once. Each sub has at
 * most one command in flight, so a confirmation always belongs to the
 * sub's current state. Redis answers a channel's commands in order, so a
 * message seen while LIVE was published after the confirmation.
 *
 * Fan-out: a message is unpacked once and queued to every watcher of its
 * order with se_call_send (never blocks) under `mu`.
 *
 * Connection loss: every sub with watchers goes back to IDLE on the todo
 * list and is subscribed again on the next connection; its watchers keep
 * their stream (Pub/Sub is at most once: reports published in between are
 * missed; the next report, a full position, supersedes them). Subs without
 * watchers are freed.
 *
 * Stop: logistics_watch_stop finishes every stream; a finished watcher may
 * still have its cancel callback waiting for `mu`, so it is freed only by
 * destroy (the `retired` list), as in services/menu/menu_events.c.
 */
#include "logistics_watch.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "se_alloc.h"
#include "se_log.h"
#include "se_redis.h"
#include "se_time.h"
#include "swifteats/v1/common.pb-c.h"

#define BUCKETS 4096
#define POLL_MS 200

typedef enum sub_state { SUB_IDLE, SUB_SUBSCRIBING, SUB_LIVE, SUB_UNSUBSCRIBING } sub_state;

typedef struct watcher {
    struct watcher *next;
    se_call *call;
    logistics_watch *lw;
    int64_t order_id;
    int marked;   /* the marker was sent */
    int finished; /* ended by stop; on_cancel must not touch it */
} watcher;

typedef struct sub {
    struct sub *next;      /* bucket chain */
    struct sub *todo_next; /* todo list */
    int64_t order_id;
    sub_state state;
    int on_todo;
    watcher *watchers;
} sub;

struct logistics_watch {
    logistics_watch_config cfg;
    char *redis_url, *prefix;
    pthread_mutex_t mu;
    sub *buckets[BUCKETS];
    sub *todo;
    watcher *retired;
    int n_watchers, n_subs;
    int stopped;  /* stop: end new watchers at once */
    int stopping; /* destroy: the thread must return */
    int wake_fd;  /* eventfd */
    int has_thread;
    pthread_t thread;
};

/* ---- table (mu held) ----------------------------------------------------------- */

static sub **sub_link(logistics_watch *lw, int64_t order_id)
{
    sub **p = &lw->buckets[(uint64_t)order_id % BUCKETS];
    while (*p != NULL && (*p)->order_id != order_id)
        p = &(*p)->next;
    return p;
}

static void sub_free(logistics_watch *lw, sub *s)
{
    sub **p = sub_link(lw, s->order_id);
    if (*p == s)
        *p = s->next;
    lw->n_subs--;
    free(s);
}

static void wake(logistics_watch *lw)
{
    uint64_t one = 1;
    if (write(lw->wake_fd, &one, sizeof one) < 0 && errno != EAGAIN)
        se_log_error("location_watch_wake_failed", "eventfd write: %s", strerror(errno));
}

static void todo_push(logistics_watch *lw, sub *s)
{
    if (s->on_todo)
        return;
    s->on_todo = 1;
    s->todo_next = lw->todo;
    lw->todo = s;
    wake(lw);
}

static void send_marker(watcher *w)
{
    Swifteats__V1__Location marker = SWIFTEATS__V1__LOCATION__INIT;
    w->marked = 1;
    (void)se_call_send(w->call, &marker.base);
}

/* ---- watchers ------------------------------------------------------------------ */

static void watcher_cancelled(void *arg)
{
    watcher *w = arg;
    logistics_watch *lw = w->lw;
    pthread_mutex_lock(&lw->mu);
    if (w->finished) {
        pthread_mutex_unlock(&lw->mu);
        return;
    }
    sub *s = *sub_link(lw, w->order_id);
    for (watcher **p = s ? &s->watchers : NULL; p && *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            break;
        }
    }
    lw->n_watchers--;
    if (s != NULL && s->watchers == NULL)
        todo_push(lw, s); /* the thread unsubscribes (or frees an idle sub) */
    pthread_mutex_unlock(&lw->mu);
    se_call_finish(w->call, GRPC_STATUS_CANCELLED, "watcher cancelled");
    free(w);
}

void logistics_watch_add(logistics_watch *lw, se_call *call, int64_t order_id)
{
    watcher *w = se_xcalloc(1, sizeof *w);
    w->call = call;
    w->lw = lw;
    w->order_id = order_id;
    pthread_mutex_lock(&lw->mu);
    if (lw->stopped || lw->n_watchers >= lw->cfg.max_watchers) {
        int stopped = lw->stopped;
        pthread_mutex_unlock(&lw->mu);
        free(w);
        if (stopped)
            se_call_finish(call, GRPC_STATUS_UNAVAILABLE, "logistics service stopping");
        else
            se_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "logistics: too many watchers (at most %d)", lw->cfg.max_watchers);
        return;
    }
    sub **link = sub_link(lw, order_id);
    if (*link == NULL) {
        sub *s = se_xcalloc(1, sizeof *s);
        s->order_id = order_id;
        *link = s;
        lw->n_subs++;
    }
    sub *s = *link;
    w->next = s->watchers;
    s->watchers = w;
    lw->n_watchers++;
    if (s->state == SUB_LIVE)
        send_marker(w);
    else if (s->state == SUB_IDLE)
        todo_push(lw, s);
    pthread_mutex_unlock(&lw->mu);
    se_call_on_cancel(call, watcher_cancelled, w);
}

void logistics_watch_stop(logistics_watch *lw)
{
    pthread_mutex_lock(&lw->mu);
    lw->stopped = 1;
    for (int b = 0; b < BUCKETS; b++) {
        for (sub *s = lw->buckets[b]; s != NULL; s = s->next) {
            while (s->watchers != NULL) {
                watcher *w = s->watchers;
                s->watchers = w->next;
                w->finished = 1;
                se_call_finish(w->call, GRPC_STATUS_UNAVAILABLE, "logistics service stopping");
                w->next = lw->retired;
                lw->retired = w;
                lw->n_watchers--;
            }
        }
    }
    pthread_mutex_unlock(&lw->mu);
}

void logistics_watch_counts(logistics_watch *lw, int *watchers, int *orders)
{
    pthread_mutex_lock(&lw->mu);
    *watchers = lw->n_watchers;
    *orders = lw->n_subs;
    pthread_mutex_unlock(&lw->mu);
}

/* ---- subscriber thread: commands -------------------------------------------------- */

static void channel_name(const logistics_watch *lw, int64_t order_id, char *buf, size_t len)
{
    snprintf(buf, len, "%sorder:%" PRId64 ":live", lw->prefix, order_id);
}

/* Turns the todo list into commands on ctx (appended, not yet sent). */
static void drain_todo(logistics_watch *lw, redisContext *ctx)
{
    pthread_mutex_lock(&lw->mu);
    sub *list = lw->todo;
    lw->todo = NULL;
    for (sub *s = list, *next; s != NULL; s = next) {
        next = s->todo_next;
        s->on_todo = 0;
        char ch[96];
        channel_name(lw, s->order_id, ch, sizeof ch);
        if (s->state == SUB_IDLE && s->watchers != NULL) {
            redisAppendCommand(ctx, "SUBSCRIBE %s", ch);
            s->state = SUB_SUBSCRIBING;
        } else if (s->state == SUB_LIVE && s->watchers == NULL) {
            redisAppendCommand(ctx, "UNSUBSCRIBE %s", ch);
            s->state = SUB_UNSUBSCRIBING;
        } else if (s->state == SUB_IDLE) {
            sub_free(lw, s);
        } /* SUBSCRIBING / UNSUBSCRIBING: the confirmation decides */
    }
    pthread_mutex_unlock(&lw->mu);
}

static int flush(redisContext *ctx)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(ctx, &done) != REDIS_OK)
            return -1;
    return 0;
}

/* ---- subscriber thread: replies ---------------------------------------------------- */

static int64_t channel_order(const logistics_watch *lw, const redisReply *ch)
{
    size_t plen = strlen(lw->prefix);
    if (ch->type != REDIS_REPLY_STRING || ch->len <= plen + 6 ||
        memcmp(ch->str, lw->prefix, plen) != 0 || memcmp(ch->str + plen, "order:", 6) != 0)
        return 0;
    return strtoll(ch->str + plen + 6, NULL, 10);
}

static void on_confirmation(logistics_watch *lw, int64_t order_id, int subscribed)
{
    pthread_mutex_lock(&lw->mu);
    sub *s = *sub_link(lw, order_id);
    if (s != NULL && subscribed && s->state == SUB_SUBSCRIBING) {
        s->state = SUB_LIVE;
        for (watcher *w = s->watchers; w != NULL; w = w->next)
            if (!w->marked)
                send_marker(w);
        if (s->watchers == NULL)
            todo_push(lw, s); /* everyone left meanwhile */
    } else if (s != NULL && !subscribed && s->state == SUB_UNSUBSCRIBING) {
        s->state = SUB_IDLE;
        if (s->watchers != NULL)
            todo_push(lw, s);
        else
            sub_free(lw, s);
    }
    pthread_mutex_unlock(&lw->mu);
}

static void on_message(logistics_watch *lw, int64_t order_id, const redisReply *payload)
{
    Swifteats__V1__Location *loc =
        swifteats__v1__location__unpack(NULL, payload->len, (const uint8_t *)payload->str);
    if (loc == NULL) {
        se_log_warn("location_live_bad", "undecodable live location of order %" PRId64
                    " (%zu bytes) ignored", order_id, (size_t)payload->len);
        return;
    }
    pthread_mutex_lock(&lw->mu);
    sub *s = *sub_link(lw, order_id);
    if (s != NULL && s->state == SUB_LIVE)
        for (watcher *w = s->watchers; w != NULL; w = w->next)
            (void)se_call_send(w->call, &loc->base);
    pthread_mutex_unlock(&lw->mu);
    swifteats__v1__location__free_unpacked(loc, NULL);
}

static void handle_reply(void *arg, const redisReply *rep)
{
    logistics_watch *lw = arg;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = rep->element[0]->str;
    int64_t order_id = channel_order(lw, rep->element[1]);
    if (order_id <= 0)
        return;
    if (strcmp(kind, "message") == 0 && rep->element[2]->type == REDIS_REPLY_STRING)
        on_message(lw, order_id, rep->element[2]);
    else if (strcmp(kind, "subscribe") == 0)
        on_confirmation(lw, order_id, 1);
    else if (strcmp(kind, "unsubscribe") == 0)
        on_confirmation(lw, order_id, 0);
}

/* Waits up to POLL_MS for replies or a wake-up; handles what arrived.
 * 0, or -1 when the connection failed. */
static int pump(logistics_watch *lw, redisContext *ctx)
{
    struct pollfd pfd[2] = {{.fd = ctx->fd, .events = POLLIN}, {.fd = lw->wake_fd, .events = POLLIN}};
    int n = poll(pfd, 2, POLL_MS);
    if (n <= 0)
        return 0;
    if (pfd[1].revents & POLLIN) {
        uint64_t v;
        if (read(lw->wake_fd, &v, sizeof v) < 0 && errno != EAGAIN)
            return -1;
        drain_todo(lw, ctx);
        if (flush(ctx) != 0)
            return -1;
    }
    if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
        return 0;
    return se_redis_read_replies(ctx, handle_reply, lw);
}

/* The connection is gone: every sub with watchers is subscribed again on
 * the next one; the others are freed. */
static void reset_subs(logistics_watch *lw)
{
    pthread_mutex_lock(&lw->mu);
    lw->todo = NULL;
    for (int b = 0; b < BUCKETS; b++) {
        for (sub **p = &lw->buckets[b]; *p != NULL;) {
            sub *s = *p;
            s->on_todo = 0;
            s->state = SUB_IDLE;
            if (s->watchers == NULL) {
                *p = s->next;
                lw->n_subs--;
                free(s);
                continue;
            }
            s->on_todo = 1;
            s->todo_next = lw->todo;
            lw->todo = s;
            p = &s->next;
        }
    }
    wake(lw);
    pthread_mutex_unlock(&lw->mu);
}

static int stopping(logistics_watch *lw)
{
    pthread_mutex_lock(&lw->mu);
    int s = lw->stopping;
    pthread_mutex_unlock(&lw->mu);
    return s;
}

/* Sleeps ms (in POLL_MS steps) unless stopping; 1 when stopping. */
static int sleep_or_stop(logistics_watch *lw, int ms)
{
    for (int slept = 0; slept < ms; slept += POLL_MS) {
        if (stopping(lw))
            return 1;
        struct pollfd pfd = {.fd = lw->wake_fd, .events = POLLIN};
        (void)poll(&pfd, 1, POLL_MS);
    }
    return stopping(lw);
}

static void *subscriber_main(void *arg)
{
    logistics_watch *lw = arg;
    while (!stopping(lw)) {
        se_redis *r = se_redis_create_ex(lw->redis_url, lw->cfg.timeout_ms, SE_REDIS_FAIL_FAST,
                                         NULL);
        redisContext *ctx = r != NULL ? se_redis_raw(r) : NULL;
        if (ctx == NULL) {
            se_redis_destroy(r);
            if (sleep_or_stop(lw, lw->cfg.retry_ms))
                break;
            continue;
        }
        se_log_info("location_watch_connected", "live locations: subscriber connected");
        wake(lw); /* subscribe what is on the todo list */
        while (!stopping(lw) && pump(lw, ctx) == 0)
            ;
        se_redis_destroy(r);
        reset_subs(lw);
        if (!stopping(lw)) {
            se_log_warn("location_watch_disconnected", "lost the Redis subscription; "
                        "retrying every %d ms", lw->cfg.retry_ms);
            sleep_or_stop(lw, lw->cfg.retry_ms);
        }
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------- */

logistics_watch *logistics_watch_create(const logistics_watch_config *cfg)
{
    logistics_watch *lw = se_xcalloc(1, sizeof *lw);
    lw->cfg = *cfg;
    lw->redis_url = se_xstrdup(cfg->redis_url);
    lw->prefix = se_xstrdup(cfg->key_prefix);
    lw->cfg.redis_url = lw->redis_url;
    lw->cfg.key_prefix = lw->prefix;
    pthread_mutex_init(&lw->mu, NULL);
    lw->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (lw->wake_fd < 0) {
        se_log_error("location_watch_no_eventfd", "eventfd: %s", strerror(errno));
        logistics_watch_destroy(lw);
        return NULL;
    }
    if (pthread_create(&lw->thread, NULL, subscriber_main, lw) != 0) {
        se_log_error("location_watch_no_thread", "could not start the subscriber thread");
        logistics_watch_destroy(lw);
        return NULL;
    }
    lw->has_thread = 1;
    return lw;
}

void logistics_watch_destroy(logistics_watch *lw)
{
    if (lw == NULL)
        return;
    pthread_mutex_lock(&lw->mu);
    lw->stopping = 1;
    pthread_mutex_unlock(&lw->mu);
    if (lw->has_thread) {
        wake(lw);
        pthread_join(lw->thread, NULL);
    }
    if (lw->n_watchers != 0)
        se_log_error("location_watch_leak", "destroyed with %d live watchers", lw->n_watchers);
    for (int b = 0; b < BUCKETS; b++) {
        while (lw->buckets[b] != NULL) {
            sub *s = lw->buckets[b];
            lw->buckets[b] = s->next;
            free(s);
        }
    }
    while (lw->retired != NULL) {
        watcher *w = lw->retired;
        lw->retired = w->next;
        free(w);
    }
    if (lw->wake_fd >= 0)
        close(lw->wake_fd);
    pthread_mutex_destroy(&lw->mu);
    free(lw->redis_url);
    free(lw->prefix);
    free(lw);
}
