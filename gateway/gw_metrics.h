/* gw_metrics.h - GET /metrics: the gateway's counters in the Prometheus text
 * exposition format 0.0.4 (Content-Type: text/plain; version=0.0.4).
 *
 * Every family is named swifteats_gateway_*; counters end in _total.
 *   http_responses_total{group,class}  every response the access log hook
 *       sees (gw_access_log.c), by route group (restaurants, orders,
 *       drivers, health, metrics, other: a matched route outside those,
 *       unmatched: no route, including h2o's own answers such as a 413)
 *       and status class (1xx..5xx; "none": the client left before a
 *       status was set, status 0)
 *   proxy_calls_total, proxy_cancelled_total, proxy_dropped_total
 *   ingest_batches_total, ingest_reports_total, ingest_failed_batches_total,
 *       ingest_clients_gone_total
 *   ws_watchers (gauge: WebSocket watches open now), ws_watches_total,
 *       ws_updates_total, ws_coalesced_total
 *   edge_cache_hits_total, edge_cache_misses_total, edge_cache_fills_total,
 *       edge_cache_evictions_total, edge_cache_entries (gauge),
 *       edge_cache_bytes (gauge), edge_watch_events_total,
 *       edge_watch_resets_total
 *   uptime_seconds, start_time_seconds (gauges)
 *   build_info{version,h2o,grpc} 1
 * A component that is switched off (SE_GATEWAY_EDGE_CACHE=false,
 * SE_GATEWAY_INGEST=false) reports zeros, so every family is always there.
 *
 * The scrape runs on the loop thread that received it and makes no RPC: it
 * reads the components' *_stats_get counters (relaxed atomics; the edge
 * cache takes each shard's lock briefly) and the response table below.
 * No configuration: the route is always on, like /healthz.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include "gw_edge_cache.h"
#include "gw_edge_watch.h"
#include "gw_ingest.h"
#include "gw_json.h"
#include "gw_order_watch.h"
#include "gw_proxy.h"
#include "gw_router.h"

/* What /metrics reads. Any member may be NULL (the component is off or not
 * created): its families then report 0. OWNERSHIP: borrowed; each must
 * outlive the server (destroy them after gw_server_stop). */
typedef struct gw_metrics_sources {
    const gw_proxy *proxy;
    const gw_ingest *ingest;
    const gw_order_watch *order_watch;
    gw_edge_cache *edge_cache;
    gw_edge_watch *edge_watch;
} gw_metrics_sources;

/* Adds GET /metrics to the router; `src` is copied. Records the start time
 * (uptime is measured from here). THREAD: main, before the server starts;
 * once per process. ON ERROR: -1, logged. */
int gw_metrics_register(gw_router *rt, const gw_metrics_sources *src);

/* Counts one response: `status` is the HTTP status sent (0: none), `route`
 * the matched path template (gw_request.route; NULL: no route). Lock-free
 * (one relaxed atomic add). THREAD: any; called by the access log hook on
 * the loop threads. */
void gw_metrics_count_response(int status, const char *route);

/* Writes the whole exposition into `out` (appended; for tests and the
 * handler). THREAD: any. */
void gw_metrics_write(gw_buf *out);

#endif
