/* menu_cache.h - cache-aside in Redis for the menu service's reads, with
 * single-flight loading and invalidation that survives Redis outages.
 * The DESIGN note is at the top of menu_cache.c.
 *
 * Values are serialized protobuf (protobuf_c_message_pack of the response
 * messages) kept as opaque blobs here: the caller packs on load and unpacks
 * what it gets.
 *
 * THREAD: every function is safe from any thread at once.
 */
#ifndef MENU_CACHE_H
#define MENU_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "menu_store.h"
#include "se_redis.h"
#include "se_rpc.h"

/* The cached read models. */
typedef enum menu_part {
    MENU_PART_RESTAURANT = 0, /* Restaurant */
    MENU_PART_MENU = 1,       /* Menu */
    MENU_PART_STATUS = 2,     /* RestaurantLiveStatus */
    MENU_PART_LIST = 3,       /* ListRestaurantsResponse (one page) */
    MENU_N_PARTS = 4,
} menu_part;

typedef struct menu_cache_config {
    int enabled;              /* SE_MENU_CACHE: 0 = always PostgreSQL */
    int ttl_s[MENU_N_PARTS];  /* lifetimes: 3600, 1800, 30, 60 */
    int retry_ms;             /* after a Redis error, bypass Redis this long */
    int epoch_poll_ms;        /* re-read the cache epoch this often */
} menu_cache_config;

/* The defaults, overridden by SE_MENU_CACHE, SE_MENU_CACHE_TTL_*_S,
 * SE_MENU_CACHE_RETRY_MS and SE_MENU_CACHE_EPOCH_POLL_MS (exits(2) on a bad
 * value, as every se_config reader). */
void menu_cache_config_from_env(menu_cache_config *cfg);

/* A packed message. OWNERSHIP: data is malloc'd; the holder frees it. */
typedef struct menu_blob {
    uint8_t *data;
    size_t len;
} menu_blob;

/* Loads one part from PostgreSQL and packs it: 0 with *out set, or -1 with
 * st filled (NOT_FOUND, UNAVAILABLE, ...). Runs on the calling thread of
 * menu_cache_get (the single-flight leader). */
typedef int (*menu_load_fn)(void *arg, menu_part part, menu_blob *out, se_status *st);

typedef struct menu_cache menu_cache;

/* OWNERSHIP: redis (NULL: no cache) and store are borrowed and must
 * outlive the cache; the caller destroys the cache. The cache's Redis pool
 * should be created with SE_REDIS_FAIL_FAST and a short command timeout. */
menu_cache *menu_cache_create(const menu_cache_config *cfg, se_redis_pool *redis,
                              menu_store *store);
void menu_cache_destroy(menu_cache *c);

/* Gets n parts of restaurant `restaurant_id` (parts RESTAURANT, MENU,
 * STATUS; at most 3), or the one list page named by `list_key` (parts =
 * {MENU_PART_LIST}, restaurant_id 0; list_key is the canonical filter text,
 * at most 200 bytes). Hits come from Redis (one round trip for all parts);
 * each miss is loaded through load(), once per process for concurrent
 * misses of the same part, and written back.
 * Returns 0 with out[0..n-1] set (yours), or -1 with st filled by the first
 * failing load (nothing in out to free). */
int menu_cache_get(menu_cache *c, int64_t restaurant_id, const char *list_key,
                   const menu_part *parts, size_t n, menu_load_fn load, void *arg,
                   menu_blob *out, se_status *st);

/* After a committed write: makes every cached part named by `what`
 * (MENU_CHANGED_* bits) of restaurant_id stale for every replica, and stops
 * in-flight loads of them from being shared. Never fails: when Redis cannot
 * be told, the cache epoch in PostgreSQL is bumped instead. */
void menu_cache_invalidate(menu_cache *c, int64_t restaurant_id, unsigned what);

/* A write made through another replica (its change event): in-flight loads
 * of the parts named by `what` (MENU_CHANGED_ALL: every part of every
 * restaurant) are no longer shared with new readers. Redis is not touched
 * (the writer did that). */
void menu_cache_forget_flights(menu_cache *c, int64_t restaurant_id, unsigned what);

typedef struct menu_cache_stats {
    unsigned long hits, misses, fills, redis_errors, epoch_bumps, shared_loads;
    int64_t epoch;
} menu_cache_stats;
void menu_cache_get_stats(menu_cache *c, menu_cache_stats *out);

#endif
