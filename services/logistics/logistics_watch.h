/* logistics_watch.h - live locations of orders (WatchOrderLocation): the
 * location worker PUBLISHes each report that advanced an order's latest
 * location on "<prefix>order:<id>:live"; this module keeps one Redis
 * subscriber connection per service replica, SUBSCRIBEd to exactly the
 * orders someone watches, and fans every message out to that order's
 * streams. The DESIGN note is at the top of logistics_watch.c.
 *
 * THREAD: every function is safe from any thread, except create/destroy.
 */
#ifndef LOGISTICS_WATCH_H
#define LOGISTICS_WATCH_H

#include <stdint.h>

#include "se_rpc.h"

typedef struct logistics_watch_config {
    const char *redis_url;  /* SE_REDIS_URL */
    const char *key_prefix; /* SE_LOCATION_KEY_PREFIX ("se:") */
    int timeout_ms;         /* connect timeout */
    int retry_ms;           /* wait between subscribe attempts (500) */
    int max_watchers;       /* SE_LOGISTICS_MAX_WATCHERS (20000): more get
                               RESOURCE_EXHAUSTED */
} logistics_watch_config;

typedef struct logistics_watch logistics_watch;

/* Starts the subscriber thread. OWNERSHIP: cfg is copied (strings too). */
logistics_watch *logistics_watch_create(const logistics_watch_config *cfg);

/* The WatchOrderLocation handler's body: keeps `call` as a watcher of
 * order_id (> 0, validated by the caller) until the client cancels or the
 * service stops. Its first message, the empty marker Location, is sent
 * once the subscription is confirmed by Redis. */
void logistics_watch_add(logistics_watch *w, se_call *call, int64_t order_id);

/* Ends every stream (UNAVAILABLE); later watchers are ended at once. Call
 * before se_server_shutdown. */
void logistics_watch_stop(logistics_watch *w);

/* Stops the thread and frees; the server must have been shut down. */
void logistics_watch_destroy(logistics_watch *w); /* NULL is fine */

/* Live watchers and subscribed orders (tests, metrics). */
void logistics_watch_counts(logistics_watch *w, int *watchers, int *orders);

#endif
