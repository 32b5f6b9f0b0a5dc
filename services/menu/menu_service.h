/* menu_service.h - the menu service as an object: its pools, store, cache
 * and change events, and the handler table registered on a gRPC server.
 * se-menu (main.c) builds one from the environment; the tests build one
 * with their own configuration and serve it on port 0.
 */
#ifndef MENU_SERVICE_H
#define MENU_SERVICE_H

#include "menu_cache.h"
#include "menu_events.h"
#include "menu_store.h"
#include "se_rpc.h"

typedef struct menu_service_config {
    const char *pg_url;      /* SE_PG_URL (required) */
    int pg_pool_size;        /* SE_PG_POOL_SIZE (4) */
    int pricing_pool_size;   /* SE_MENU_PRICING_POOL_SIZE (2): connections
                                of GetItemsForOrder; 0: the main pool */
    const char *redis_url;   /* SE_REDIS_URL */
    int redis_pool_size;     /* SE_REDIS_POOL_SIZE (4) */
    int redis_timeout_ms;    /* SE_MENU_CACHE_TIMEOUT_MS (200): cache and
                                events command/connect timeout */
    menu_cache_config cache; /* SE_MENU_CACHE* (menu_cache.h) */
    int events;              /* 1: cross-replica events over Redis Pub/Sub */
    int events_retry_ms;     /* SE_MENU_EVENTS_RETRY_MS (500): resubscribe wait */
} menu_service_config;

/* Reads the configuration from the environment (exits(2) on bad values or
 * a missing SE_PG_URL, as every se_config reader). */
void menu_service_config_from_env(menu_service_config *cfg);

typedef struct menu_service menu_service;

/* Opens the pools (PostgreSQL must answer; Redis need not), applies the
 * migrations, starts the change-event subscriber.
 * OWNERSHIP: cfg is copied; the caller destroys the service.
 * ON ERROR: NULL, logged. THREAD: any, once per service. */
menu_service *menu_service_create(const menu_service_config *cfg);

/* Registers MenuService on s (before se_server_start). 0 or -1. */
int menu_service_register(se_server *s, menu_service *svc);

/* Ends the WatchMenuChanges streams; call before se_server_shutdown so the
 * shutdown need not wait for them. */
void menu_service_stop(menu_service *svc);

/* Frees everything; the server must have been shut down. */
void menu_service_destroy(menu_service *svc);

/* Parts, for tests and the seed tool (borrowed). */
menu_store *menu_service_store(menu_service *svc);
menu_cache *menu_service_cache(menu_service *svc);
menu_events *menu_service_events(menu_service *svc);
se_pg_pool *menu_service_pg(menu_service *svc);

#endif
