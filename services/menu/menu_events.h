/* menu_events.h - change events of the menu service (WatchMenuChanges):
 * what each committed operator write changed, told to every watcher of
 * every replica. The DESIGN note is at the top of menu_events.c; the event
 * semantics watchers rely on are in proto/swifteats/v1/menu.proto.
 *
 * THREAD: every function is safe from any thread, except create/destroy.
 */
#ifndef MENU_EVENTS_H
#define MENU_EVENTS_H

#include <stdint.h>

#include "se_redis.h"
#include "se_rpc.h"
#include "swifteats/v1/menu.pb-c.h"

typedef struct menu_events menu_events;

/* Called on the subscriber thread for every event from ANOTHER replica, and
 * with what = MENU_CHANGED_ALL, restaurant_id 0 after every (re)subscribe
 * (events may have been missed). */
typedef void (*menu_events_remote_fn)(void *arg, int64_t restaurant_id, unsigned what);

typedef struct menu_events_config {
    const char *redis_url;   /* NULL: no cross-replica events (local only) */
    int timeout_ms;          /* Redis connect/command timeout */
    int retry_ms;            /* wait between subscribe attempts */
    se_redis_pool *publish;  /* borrowed, for PUBLISH (NULL: local only) */
    menu_events_remote_fn on_remote;
    void *arg;
} menu_events_config;

/* The Pub/Sub channel (a constant). */
#define MENU_EVENTS_CHANNEL "se:menu:changes"

/* Starts the subscriber thread when cfg->redis_url is set.
 * OWNERSHIP: cfg is copied (the URL too); the caller destroys. */
menu_events *menu_events_create(const menu_events_config *cfg);

/* Ends every watch stream (UNAVAILABLE "menu service stopping") so a
 * server shutdown need not wait for them. Later watchers are ended at
 * once. Call before se_server_shutdown. */
void menu_events_stop_watchers(menu_events *ev);

/* Stops the subscriber thread and frees. Call after the server has shut
 * down (no handler or cancel callback may run any more). */
void menu_events_destroy(menu_events *ev);

/* After a committed write: tells this replica's watchers directly, then
 * the other replicas through Redis Pub/Sub. When publishing fails, a reset
 * is published to them as soon as Redis works again. */
void menu_events_publish(menu_events *ev, int64_t restaurant_id, unsigned what);

/* The WatchMenuChanges handler's body: keeps `call` as a watcher (a reset
 * event first) until the client cancels or the service stops. */
void menu_events_watch(menu_events *ev, se_call *call);

/* 1 while subscribed to the other replicas' events (for tests). */
int menu_events_subscribed(menu_events *ev);
/* This replica's origin id (16 hex chars). */
const char *menu_events_origin(const menu_events *ev);

#endif
