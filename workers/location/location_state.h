/* location_state.h - the live state in Redis that the logistics service
 * reads (notes/logistics-contract.md), written by one Lua script per batch:
 *
 *   <p>drivers:geo          GEO set, member driver_id: latest position
 *   <p>drivers:seen         zset, member driver_id, score: measured time (ms)
 *   <p>driver:<driver_id>   packed Location, the latest by measured time
 *                           (TTL SE_DRIVER_LOCATION_TTL_S)
 *   <p>order:<id>:loc       packed Location, the latest report carrying the
 *                           order (TTL SE_LOCATION_ORDER_TTL_S)
 *   PUBLISH <p>order:<id>:live <packed Location>  when it advanced the order
 * (<p> = SE_LOCATION_KEY_PREFIX, "se:").
 *
 * NEWER WINS, atomically (inside the script): a report's version is its
 * measured time, then its stream id ("later stream id wins" on equal
 * times), as one fixed-width digit string compared as text. The stored
 * version lives next to each value in "<key>:ver" (same TTL), because the
 * values themselves are packed protobufs the script cannot compare cheaply.
 * A report not newer than the stored one changes nothing and publishes
 * nothing, so a redelivered report is harmless and never published twice.
 *
 * GEO: Redis refuses latitudes beyond +-85.05112878 (Web Mercator); such a
 * position removes the driver from the geo set (seen and the driver key
 * still get it).
 *
 * The script is loaded once (SCRIPT LOAD) and run with EVALSHA; on NOSCRIPT
 * (Redis restarted, SCRIPT FLUSH) it is sent again with EVAL, which caches
 * it. The stale sweep is a second, small script (atomic: a driver that
 * reports during the sweep is not removed).
 *
 * THREAD: one thread (uses the caller's connection). ON ERROR: -1, logged;
 * nothing is half-applied that a re-run would not repair (the script is
 * atomic, and re-running it on the same reports is a no-op).
 */
#ifndef LOCATION_STATE_H
#define LOCATION_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "location_batch.h"
#include "se_redis.h"

typedef struct location_state_config {
    const char *key_prefix; /* SE_LOCATION_KEY_PREFIX ("se:") */
    int driver_ttl_s;       /* SE_DRIVER_LOCATION_TTL_S (86400) */
    int order_ttl_s;        /* SE_LOCATION_ORDER_TTL_S (86400) */
} location_state_config;

/* Per-report outcome bits of location_state_apply. */
enum {
    LOCATION_STATE_DRIVER = 1, /* the driver's latest location advanced */
    LOCATION_STATE_ORDER = 2,  /* the order's latest advanced: published */
};

typedef struct location_state location_state;

/* OWNERSHIP: cfg's strings are copied. */
location_state *location_state_create(const location_state_config *cfg);
void location_state_destroy(location_state *st); /* NULL is fine */

/* Applies the reports e[0..n-1] (each with a decoded msg) in one EVALSHA
 * on r; out[i] gets the LOCATION_STATE_* bits of e[i]. Returns 0 or -1. */
int location_state_apply(location_state *st, se_redis *r, location_entry *const *e, size_t n,
                         unsigned char *out);

/* Removes from the geo and seen sets the drivers whose latest measured time
 * is older than now_ms - stale_s seconds (at most `limit` per call).
 * Returns how many were removed, or -1. */
long location_state_sweep(location_state *st, se_redis *r, int64_t now_ms, int stale_s,
                          int limit);

/* The version string of a report (exposed for tests): 51 digits. */
void location_state_version(int64_t ts_us, const char *stream_id, char out[64]);

#endif
