/* gw_edge_watch.h - keeps the edge cache in step with the menu service:
 * a MenuService.WatchMenuChanges stream, re-opened with backoff whenever it
 * ends, whose events evict (and whose resets flush) the cache.
 *
 * Serving rule (proto/swifteats/v1/menu.proto, MenuChangeEvent): the cache
 * serves only between a reset with complete = true and the next reset with
 * complete = false or the end of the stream. Until the first reset of a
 * stream arrives, and while no stream is open, it serves nothing.
 */
#ifndef GW_EDGE_WATCH_H
#define GW_EDGE_WATCH_H

#include <stdint.h>

#include "gw_edge_cache.h"
#include "se_rpc.h"

typedef struct gw_edge_watch gw_edge_watch;

typedef struct gw_edge_watch_config {
    int backoff_min_ms; /* first wait before re-opening; 0: 50 */
    int backoff_max_ms; /* the wait doubles up to this; 0: 2000 */
} gw_edge_watch_config;

/* Starts a thread that opens the stream on `ch` (the MenuService channel)
 * and keeps it open. The stream's callbacks run on the runtime client
 * thread and touch only the cache (whose functions are thread-safe).
 * THREAD: main, after se_rpc_init. OWNERSHIP: c and ch are borrowed and
 * must outlive gw_edge_watch_stop. ON ERROR: NULL, logged (no thread). */
gw_edge_watch *gw_edge_watch_start(gw_edge_cache *c, se_channel *ch,
                                   const gw_edge_watch_config *cfg);

/* Cancels the stream, joins the thread, frees; the cache is left not
 * serving. THREAD: main, before se_rpc_shutdown. NULL is fine. */
void gw_edge_watch_stop(gw_edge_watch *w);

typedef struct gw_edge_watch_stats {
    uint64_t streams;   /* streams opened */
    uint64_t events;    /* change events applied */
    uint64_t resets;    /* reset events applied */
} gw_edge_watch_stats;
void gw_edge_watch_stats_get(gw_edge_watch *w, gw_edge_watch_stats *out);

#endif
