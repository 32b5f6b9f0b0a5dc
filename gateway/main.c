/* se-gateway - the REST edge: HTTP/1.1 and HTTP/2 (h2c prior knowledge, or
 * TLS with ALPN when a certificate is configured) on h2o, in front of the
 * gRPC services.
 *
 * Configuration (README's table): SE_GATEWAY_ADDR (127.0.0.1:8080),
 * SE_GATEWAY_THREADS (2), SE_GATEWAY_GRACE_MS (5000),
 * SE_GATEWAY_TIMEOUT_MS (5000), SE_GATEWAY_MAX_BODY_BYTES (1048576),
 * SE_GATEWAY_GZIP_MIN_BYTES (1024), SE_GATEWAY_GZIP_LEVEL (1; 0 = off),
 * SE_GATEWAY_TLS_CERT / SE_GATEWAY_TLS_KEY (unset: plain TCP),
 * SE_GATEWAY_READYZ_TIMEOUT_MS (1000), SE_GATEWAY_READYZ_BACKENDS
 * (menu,order,logistics,payment_gateway) (gw_health.h),
 * SE_GATEWAY_ACCESS_LOG (true),
 * SE_GATEWAY_EDGE_CACHE (true), SE_GATEWAY_EDGE_CACHE_MB (64),
 * SE_GATEWAY_EDGE_CACHE_TTL_MS (30000), SE_GATEWAY_INGEST (true),
 * SE_GATEWAY_INGEST_BATCH (256), SE_GATEWAY_INGEST_DELAY_US (0),
 * SE_GATEWAY_INGEST_INFLIGHT (4) (gw_ingest.h), SE_GATEWAY_WS_PING_S (20),
 * SE_GATEWAY_WS_CLOSE_TIMEOUT_MS (1000), SE_GATEWAY_WS_MAX_MSG_BYTES (4096)
 * (gw_ws.h), and the backends' SE_<NAME>_TARGET. GET /metrics
 * (gw_metrics.h) has no settings.
 */
#include <stdlib.h>
#include <string.h>

#include "gw_edge_cache.h"
#include "gw_edge_watch.h"
#include "gw_entity.h"
#include "gw_health.h"
#include "gw_ingest.h"
#include "gw_metrics.h"
#include "gw_order_watch.h"
#include "gw_proxy.h"
#include "gw_server.h"
#include "se_config.h"
#include "se_log.h"
#include "se_rpc.h"

static gw_proxy *proxy;
static gw_edge_cache *edge_cache; /* NULL: SE_GATEWAY_EDGE_CACHE=false */
static gw_edge_watch *edge_watch;
static gw_ingest *ingest;            /* NULL: SE_GATEWAY_INGEST=false */
static gw_order_watch *order_watch;

/* h2o buffers a body up to its own limit and answers a larger one with a
 * plain-text 413 before any handler runs; a margin above ours lets the
 * proxy give moderately oversized bodies the contract's JSON 413. */
static size_t h2o_body_limit(size_t max_body)
{
    size_t margin = max_body < 65536 ? 65536 : max_body;
    return max_body + margin;
}

/* The edge cache (unless switched off) and its change stream. */
static int start_edge_cache(size_t gzip_min, int gzip_level)
{
    gw_edge_cache_config cfg;
    if (!gw_edge_cache_config_from_env(&cfg)) {
        se_log_info("edge_cache_off", "SE_GATEWAY_EDGE_CACHE=false: every read goes to gRPC");
        return 0;
    }
    cfg.gzip_min_bytes = gzip_min;
    cfg.gzip_level = gzip_level;
    if ((edge_cache = gw_edge_cache_create(&cfg)) == NULL)
        return -1;
    edge_watch = gw_edge_watch_start(edge_cache, se_channel_get(se_config_target("MENU")), NULL);
    if (edge_watch == NULL)
        return -1;
    se_log_fields(SE_LOG_INFO, "edge_cache_on", "\"max_bytes\":%zu,\"ttl_ms\":%d",
                  cfg.max_bytes, cfg.ttl_ms);
    return 0;
}

/* Location ingest batching and the order-location WebSocket. */
static int add_logistics(gw_server *s)
{
    se_channel *ch = se_channel_get(se_config_target("LOGISTICS"));
    gw_ingest_config icfg;
    gw_ingest_config_from_env(&icfg);
    if (icfg.enabled && (ingest = gw_ingest_create(proxy, ch, &icfg)) == NULL)
        return -1;
    gw_ws_config wcfg;
    gw_ws_config_from_env(&wcfg);
    order_watch = gw_order_watch_create(gw_server_router(s), ch, &wcfg);
    return order_watch != NULL ? 0 : -1;
}

static int add_routes(gw_server *s, const gw_proxy_config *pcfg)
{
    if (gw_health_register(gw_server_router(s)) != 0)
        return -1;
    gw_proxy_cache hooks;
    if (edge_cache != NULL)
        hooks = gw_edge_cache_proxy_hooks(edge_cache);
    proxy = gw_proxy_create(gw_server_router(s), pcfg, edge_cache != NULL ? &hooks : NULL);
    if (proxy == NULL || add_logistics(s) != 0)
        return -1;
    gw_metrics_sources src = {.proxy = proxy, .ingest = ingest, .order_watch = order_watch,
                              .edge_cache = edge_cache, .edge_watch = edge_watch};
    return gw_metrics_register(gw_server_router(s), &src);
}

static gw_server *create_server(void)
{
    gw_proxy_config pcfg = {
        .timeout_ms = (int)se_env_int("SE_GATEWAY_TIMEOUT_MS", 5000, 1, 3600000),
        .max_body_bytes =
            (size_t)se_env_int("SE_GATEWAY_MAX_BODY_BYTES", 1048576, 1, 256 * 1048576),
    };
    gw_server_config cfg = {
        .addr = se_env_str("SE_GATEWAY_ADDR", "127.0.0.1:8080"),
        .threads = (int)se_env_int("SE_GATEWAY_THREADS", 2, 1, 64),
        .grace_ms = (int)se_env_int("SE_GATEWAY_GRACE_MS", 5000, 0, 600000),
        .max_body_bytes = h2o_body_limit(pcfg.max_body_bytes),
        .tls_cert = se_env_str("SE_GATEWAY_TLS_CERT", NULL),
        .tls_key = se_env_str("SE_GATEWAY_TLS_KEY", NULL),
    };
    size_t gzip_min = (size_t)se_env_int("SE_GATEWAY_GZIP_MIN_BYTES", 1024, 0, 1 << 30);
    int gzip_level = (int)se_env_int("SE_GATEWAY_GZIP_LEVEL", 1, 0, 9);
    gw_entity_configure(gzip_min, gzip_level);
    if (start_edge_cache(gzip_min, gzip_level) != 0)
        return NULL;
    gw_server *s = gw_server_create(&cfg);
    if (s == NULL)
        return NULL;
    if (add_routes(s, &pcfg) != 0 || gw_server_start(s) != 0) {
        se_log_error("gateway_start_failed", "could not start on %s (SE_GATEWAY_ADDR)", cfg.addr);
        gw_server_destroy(s);
        return NULL;
    }
    const char *colon = strrchr(cfg.addr, ':');
    int host_len = colon != NULL ? (int)(colon - cfg.addr) : 0;
    const char *scheme = cfg.tls_cert != NULL ? "https" : "http";
    se_log_fields(SE_LOG_INFO, "listening",
                  "\"addr\":\"%s\",\"port\":%d,\"threads\":%d,\"tls\":%s,"
                  "\"msg\":\"%s://%.*s:%d\"",
                  cfg.addr, gw_server_port(s), cfg.threads, cfg.tls_cert ? "true" : "false",
                  scheme, host_len, cfg.addr, gw_server_port(s));
    return s;
}

int main(void)
{
    se_log_init("gateway");
    se_rpc_init(); /* blocks SIGINT/SIGTERM: the loop threads inherit the mask */
    gw_health_init((int)se_env_int("SE_GATEWAY_READYZ_TIMEOUT_MS", 1000, 1, 60000));
    gw_server *server = create_server();
    if (server == NULL) {
        gw_edge_watch_stop(edge_watch);
        gw_order_watch_destroy(order_watch);
        gw_ingest_destroy(ingest);
        gw_proxy_destroy(proxy);
        gw_edge_cache_destroy(edge_cache);
        se_rpc_shutdown();
        return 1;
    }
    int sig = se_rpc_wait_for_signal();
    se_log_info("gateway_stopping", "signal %d: finishing in-flight requests", sig);
    gw_server_stop(server);
    gw_edge_watch_stop(edge_watch);
    gw_server_destroy(server);
    gw_order_watch_destroy(order_watch);
    gw_ingest_destroy(ingest);
    gw_proxy_destroy(proxy);
    gw_edge_cache_destroy(edge_cache);
    se_rpc_shutdown();
    se_log_info("gateway_exit", "clean exit");
    return 0;
}
