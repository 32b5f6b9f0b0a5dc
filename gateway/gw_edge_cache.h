/* gw_edge_cache.h - the gateway's in-memory cache of MenuService GET
 * responses (the "edge cache"): a hit is answered on the loop thread from
 * memory, with no gRPC call and no JSON work.
 *
 * What is cached: the 200 answers of the GET routes of
 * swifteats.v1.MenuService, keyed by route and the packed request message
 * (so "?page=2&city=x" and "?city=x&page=2" share an entry). Each entry holds
 * the JSON, its gzip form (made once, at fill) and its ETag.
 *
 * Freshness (see gw_edge_watch.h for the event stream):
 *   - entries of a restaurant are evicted when a change event names it, or
 *     when this gateway forwards an operator write (PUT) for it, before the
 *     write's answer is sent; list pages go on lists_changed or any write;
 *   - a reset flushes everything; while the cache is not "serving" (the
 *     event stream is not established, or the last reset said
 *     complete = false) it answers nothing and stores nothing;
 *   - a fill is stored only if no invalidation that could concern it
 *     happened since its request started (generation guard: a token taken
 *     at lookup, checked under the shard lock at insert);
 *   - every entry also expires after ttl_ms (a safety net).
 * Size: the bytes of all entries stay under max_bytes (split evenly over
 * the shards), least recently used entries go first.
 *
 * THREAD: every function is safe from any thread unless it says otherwise.
 * Entries live in shards, each behind its own mutex; a lookup holds one
 * shard lock for a hash probe and a list move.
 */
#ifndef GW_EDGE_CACHE_H
#define GW_EDGE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "gw_proxy.h"

#define GW_EDGE_CACHE_DEFAULT_MB 64
#define GW_EDGE_CACHE_DEFAULT_TTL_MS 30000
#define GW_EDGE_KEY_MAX 256 /* packed requests longer than this are not cached */

typedef struct gw_edge_cache gw_edge_cache;

typedef struct gw_edge_cache_config {
    size_t max_bytes;      /* bound on the bytes of all entries (> 0) */
    int ttl_ms;            /* safety lifetime of an entry (> 0) */
    unsigned shards;       /* power of two; 0: 16 */
    size_t gzip_min_bytes; /* gzip bodies at least this long at fill ... */
    int gzip_level;        /* ... at this zlib level (0: never); as gw_entity */
} gw_edge_cache_config;

/* Reads SE_GATEWAY_EDGE_CACHE_MB (64) and SE_GATEWAY_EDGE_CACHE_TTL_MS
 * (30000) into cfg (gzip settings are left to the caller). Returns the
 * value of SE_GATEWAY_EDGE_CACHE (default true): 0 means "no edge cache".
 * ON ERROR: a bad value exits(2) (se_config). THREAD: main. */
int gw_edge_cache_config_from_env(gw_edge_cache_config *cfg);

/* Creates an empty cache that is not serving yet.
 * OWNERSHIP: caller destroys, after every user (loops, watcher) stopped.
 * ON ERROR: NULL, logged (bad config). */
gw_edge_cache *gw_edge_cache_create(const gw_edge_cache_config *cfg);
void gw_edge_cache_destroy(gw_edge_cache *c);

/* The proxy hooks (gw_proxy_create) that serve hits, fill on 200 GETs and
 * evict on writes. `c` must outlive the proxy's routes. */
gw_proxy_cache gw_edge_cache_proxy_hooks(gw_edge_cache *c);

/* ---- invalidation (any thread; the event stream and the write path) ----- */

/* Stops or resumes serving. Stopping takes effect for the next lookup and
 * rejects every fill whose request started before (global generation).
 * Resuming does not flush: callers flush first (a reset). */
void gw_edge_cache_set_serving(gw_edge_cache *c, int serving);
int gw_edge_cache_serving(const gw_edge_cache *c);
/* Drops every entry and rejects every fill in flight. */
void gw_edge_cache_flush(gw_edge_cache *c);
/* Drops the entries of one restaurant (every route) / every list page, and
 * rejects the fills in flight for them. */
void gw_edge_cache_evict_restaurant(gw_edge_cache *c, int64_t restaurant_id);
void gw_edge_cache_evict_lists(gw_edge_cache *c);

/* ---- the core, without h2o (what the hooks use; for tests) -------------- */

/* A key: which route (any stable pointer) and the packed request; a
 * restaurant_id > 0 files it under that restaurant, 0 under "lists". */
typedef struct gw_edge_key {
    const void *route;
    int64_t restaurant_id;
    size_t len;
    const unsigned char *bytes; /* borrowed for the call */
} gw_edge_key;

/* What a fill must show to be stored: the generations at request start. */
typedef struct gw_edge_token {
    uint64_t global, sub;
    int valid; /* 0: the cache was not serving; never stored */
} gw_edge_token;

/* A stored response. Immutable while referenced; read its fields freely. */
typedef struct gw_edge_entry {
    const char *json;
    size_t len;
    const char *gz; /* NULL: no smaller gzip form */
    size_t gz_len;
    uint64_t etag;  /* gw_entity_hash(json) */
    int vary;       /* the gateway would send Vary: Accept-Encoding */
    const char *etag_hdr;    /* "\"<16 hex>\"" */
    const char *etag_gz_hdr; /* "\"<16 hex>-gz\"" */
} gw_edge_entry;

/* Looks `k` up at time now_ns (CLOCK_MONOTONIC). On a hit returns the entry
 * with a reference (release it with gw_edge_entry_unref); on a miss NULL,
 * with *tok the token a later gw_edge_cache_put needs (tok may be NULL).
 * Nothing is returned while the cache is not serving. */
const gw_edge_entry *gw_edge_cache_get(gw_edge_cache *c, const gw_edge_key *k, int64_t now_ns,
                                       gw_edge_token *tok);
void gw_edge_entry_unref(const gw_edge_entry *e);

/* Stores a copy of json (and gz, may be NULL) under k if tok is still
 * current and the cache is serving; replaces an older entry for k.
 * Returns 0 when stored, -1 when rejected (stale token, not serving, or
 * bigger than a shard's budget). */
int gw_edge_cache_put(gw_edge_cache *c, const gw_edge_key *k, const gw_edge_token *tok,
                      const char *json, size_t len, const char *gz, size_t gz_len,
                      int64_t now_ns);

typedef struct gw_edge_cache_stats {
    uint64_t hits, misses, fills, fills_rejected, evictions, expired;
    uint64_t entries, bytes; /* now */
} gw_edge_cache_stats;
void gw_edge_cache_stats_get(gw_edge_cache *c, gw_edge_cache_stats *out);

#endif
