/* gw_metrics.c - /metrics (see gw_metrics.h for the families).
 *
 * DESIGN: the only state of our own is the response table, a fixed
 * [route group][status class] array of atomic counters that every loop
 * thread bumps with one relaxed fetch_add from the access log hook: no
 * lock, no allocation, no string building on the hot path. The group of a
 * route is found by comparing its template's prefix with a short table
 * (RESOURCES below, the REST API's resources); a new resource counts as
 * "other" until it is added there. Everything else is read at scrape time
 * from the components' own counters, so /metrics adds no cost to them.
 * Fixed label sets keep the series count bounded (groups x classes) whatever
 * the clients send.
 */
#include "gw_metrics.h"

#include <grpc/grpc.h>
#include <h2o/version.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "se_log.h"

#ifndef SE_GATEWAY_VERSION
#define SE_GATEWAY_VERSION "unknown" /* set by gateway/CMakeLists.txt */
#endif

#define PREFIX "swifteats_gateway_"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* ---- the response table ----------------------------------------------------- */

enum {
    GROUP_RESTAURANTS,
    GROUP_ORDERS,
    GROUP_DRIVERS,
    GROUP_HEALTH,
    GROUP_METRICS,
    GROUP_OTHER,     /* a matched route not listed below */
    GROUP_UNMATCHED, /* no route (404, 405, h2o's own answers) */
    N_GROUPS
};
static const char *const group_names[N_GROUPS] = {
    "restaurants", "orders", "drivers", "health", "metrics", "other", "unmatched",
};

/* Path template prefix -> group; a prefix matches up to a '/' or the end. */
static const struct {
    const char *prefix;
    int group;
} RESOURCES[] = {
    {"/api/v1/restaurants", GROUP_RESTAURANTS},
    {"/api/v1/orders", GROUP_ORDERS},
    {"/api/v1/drivers", GROUP_DRIVERS},
    {"/healthz", GROUP_HEALTH},
    {"/readyz", GROUP_HEALTH},
    {"/metrics", GROUP_METRICS},
};

enum { N_CLASSES = 6 }; /* 1xx..5xx, then "none" (status 0 or out of range) */
static const char *const class_names[N_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx", "none"};

static atomic_ullong responses[N_GROUPS][N_CLASSES];

static gw_metrics_sources sources;
static struct timespec started_mono; /* CLOCK_MONOTONIC, at register */
static time_t started_unix;          /* wall clock, at register */

static int group_of(const char *route)
{
    if (route == NULL)
        return GROUP_UNMATCHED;
    for (size_t i = 0; i < sizeof RESOURCES / sizeof RESOURCES[0]; i++) {
        size_t n = strlen(RESOURCES[i].prefix);
        if (strncmp(route, RESOURCES[i].prefix, n) == 0 && (route[n] == '\0' || route[n] == '/'))
            return RESOURCES[i].group;
    }
    return GROUP_OTHER;
}

static int class_of(int status)
{
    return status >= 100 && status <= 599 ? status / 100 - 1 : N_CLASSES - 1;
}

void gw_metrics_count_response(int status, const char *route)
{
    atomic_fetch_add_explicit(&responses[group_of(route)][class_of(status)], 1,
                              memory_order_relaxed);
}

/* ---- writing ------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static void put(gw_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0)
        return;
    char *p = gw_buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* "# HELP", "# TYPE" and one unlabelled sample. */
static void family(gw_buf *b, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    put(b, "# HELP " PREFIX "%s %s\n# TYPE " PREFIX "%s %s\n" PREFIX "%s %llu\n", name, help,
        name, type, name, (unsigned long long)value);
}

static void write_responses(gw_buf *b)
{
    put(b, "# HELP " PREFIX "http_responses_total HTTP responses sent, by route group and "
           "status class (none: the client left before a status was set).\n"
           "# TYPE " PREFIX "http_responses_total counter\n");
    for (int g = 0; g < N_GROUPS; g++)
        for (int c = 0; c < N_CLASSES; c++)
            put(b, PREFIX "http_responses_total{group=\"%s\",class=\"%s\"} %llu\n",
                group_names[g], class_names[c],
                (unsigned long long)atomic_load_explicit(&responses[g][c],
                                                         memory_order_relaxed));
}

static void write_proxy(gw_buf *b)
{
    gw_proxy_stats s = {0};
    if (sources.proxy != NULL)
        gw_proxy_stats_get(sources.proxy, &s);
    family(b, "proxy_calls_total", "counter", "Backend RPCs started by the REST proxy.",
           s.calls);
    family(b, "proxy_cancelled_total", "counter",
           "Backend RPCs cancelled because their HTTP request went away.", s.cancelled);
    family(b, "proxy_dropped_total", "counter",
           "Backend answers that arrived after their HTTP request went away.", s.dropped);
}

static void write_ingest(gw_buf *b)
{
    gw_ingest_stats s = {0};
    if (sources.ingest != NULL)
        gw_ingest_stats_get(sources.ingest, &s);
    family(b, "ingest_batches_total", "counter",
           "ReportLocations batches sent to the logistics service.", s.calls);
    family(b, "ingest_reports_total", "counter", "Location reports sent in those batches.",
           s.reports);
    family(b, "ingest_failed_batches_total", "counter",
           "Batches that failed as a whole (every report in them answered with the error).",
           s.failed_calls);
    family(b, "ingest_clients_gone_total", "counter",
           "Location reports whose client left while queued or in flight.", s.gone);
}

static void write_ws(gw_buf *b)
{
    gw_order_watch_stats s = {0};
    if (sources.order_watch != NULL)
        gw_order_watch_stats_get(sources.order_watch, &s);
    /* watches and freed are read one after the other: a watch opened and
     * freed in between could make freed the larger; clamp. */
    uint64_t open = s.watches > s.freed ? s.watches - s.freed : 0;
    family(b, "ws_watchers", "gauge", "Order-location WebSocket watches open now.", open);
    family(b, "ws_watches_total", "counter", "Order-location WebSocket watches opened.",
           s.watches);
    family(b, "ws_updates_total", "counter", "location_update messages sent to WebSockets.",
           s.updates);
    family(b, "ws_coalesced_total", "counter",
           "Location updates replaced by a newer one before they were sent.", s.coalesced);
}

static void write_edge(gw_buf *b)
{
    gw_edge_cache_stats c = {0};
    gw_edge_watch_stats w = {0};
    if (sources.edge_cache != NULL)
        gw_edge_cache_stats_get(sources.edge_cache, &c);
    if (sources.edge_watch != NULL)
        gw_edge_watch_stats_get(sources.edge_watch, &w);
    family(b, "edge_cache_hits_total", "counter", "Menu reads answered by the edge cache.",
           c.hits);
    family(b, "edge_cache_misses_total", "counter", "Menu reads the edge cache could not answer.",
           c.misses);
    family(b, "edge_cache_fills_total", "counter", "Entries stored in the edge cache.", c.fills);
    family(b, "edge_cache_evictions_total", "counter",
           "Entries evicted from the edge cache for space.", c.evictions);
    family(b, "edge_cache_entries", "gauge", "Entries in the edge cache now.", c.entries);
    family(b, "edge_cache_bytes", "gauge", "Bytes held by the edge cache now.", c.bytes);
    family(b, "edge_watch_events_total", "counter",
           "Menu change events applied to the edge cache.", w.events);
    family(b, "edge_watch_resets_total", "counter",
           "Menu change stream resets (the edge cache was emptied).", w.resets);
}

static void write_process(gw_buf *b)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double up = (double)(now.tv_sec - started_mono.tv_sec) +
                (double)(now.tv_nsec - started_mono.tv_nsec) / 1e9;
    put(b, "# HELP " PREFIX "uptime_seconds Seconds since the gateway started.\n"
           "# TYPE " PREFIX "uptime_seconds gauge\n" PREFIX "uptime_seconds %.3f\n", up);
    family(b, "start_time_seconds", "gauge", "Start time of the gateway, Unix seconds.",
           (uint64_t)started_unix);
    put(b, "# HELP " PREFIX "build_info The gateway's version and libraries; always 1.\n"
           "# TYPE " PREFIX "build_info gauge\n"
           PREFIX "build_info{version=\"%s\",h2o=\"%s\",grpc=\"%s\"} 1\n",
        SE_GATEWAY_VERSION, H2O_VERSION, grpc_version_string());
}

void gw_metrics_write(gw_buf *out)
{
    write_responses(out);
    write_proxy(out);
    write_ingest(out);
    write_ws(out);
    write_edge(out);
    write_process(out);
}

/* ---- the route ----------------------------------------------------------------- */

static void on_metrics(gw_request *r, const gw_route_match *m, void *data)
{
    (void)m;
    (void)data;
    gw_buf b;
    gw_buf_init(&b);
    gw_metrics_write(&b);
    gw_reply(r, 200, CONTENT_TYPE, b.data, b.len); /* copies the body */
    gw_buf_dispose(&b);
}

int gw_metrics_register(gw_router *rt, const gw_metrics_sources *src)
{
    sources = *src;
    clock_gettime(CLOCK_MONOTONIC, &started_mono);
    started_unix = time(NULL);
    if (gw_router_add(rt, "GET", "/metrics", on_metrics, NULL) != 0) {
        se_log_error("metrics_register_failed", "could not add GET /metrics");
        return -1;
    }
    return 0;
}
