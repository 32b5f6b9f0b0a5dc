/* gw_proxy.h - the REST routes of the generated route table, each one a
 * unary gRPC call to its service.
 *
 * One generic handler serves every route of se_registry_routes: it
 * transcodes the request (path variables, query string, JSON body) into
 * the method's request message (gw_transcode.h), calls the service
 * asynchronously with the route's deadline, the request id (X-Request-Id)
 * and the Idempotency-Key header as "idempotency-key" metadata, and answers
 * on the loop thread with the JSON of the response (gw_entity: gzip, ETag,
 * 304) or the contract's error body with the HTTP status of the gRPC
 * status (gw_error_http_status).
 *
 * Backends: a route's service "swifteats.v1.PaymentGatewayService" is
 * reached at se_config_target("PAYMENT_GATEWAY") (the short name without
 * "Service", upper snake case), one channel per service.
 */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <protobuf-c/protobuf-c.h>

#include "gw_entity.h"
#include "gw_router.h"
#include "se_rpc_desc.h"

typedef struct gw_proxy_config {
    int timeout_ms;        /* deadline of routes without their own; > 0 */
    size_t max_body_bytes; /* larger request bodies: 413 */
} gw_proxy_config;

/* Hooks of the edge cache (all on the loop thread; NULL members are
 * skipped). `lookup` runs for a GET after the request was transcoded and
 * before the RPC: return 1 after answering r (e.g. gw_entity_send of a
 * stored entity), 0 to go on. `on_ok` runs for every OK answer before it is
 * sent, with the request message and the encoded response (a fill for a GET
 * whose status is 200; an eviction for a write); `e` is completed
 * (gz, etag) only after gw_entity_send, so a cache that stores the gzip form
 * takes it in `after_send`. */
typedef struct gw_proxy_cache {
    int (*lookup)(void *ctx, gw_request *r, const se_http_route *route,
                  const ProtobufCMessage *req);
    void (*on_ok)(void *ctx, gw_request *r, const se_http_route *route,
                  const ProtobufCMessage *req, const ProtobufCMessage *resp, gw_entity *e);
    void (*after_send)(void *ctx, gw_request *r, const se_http_route *route,
                       const ProtobufCMessage *req, const gw_entity *e);
    void *ctx;
} gw_proxy_cache;

typedef struct gw_proxy gw_proxy;

/* Adds every unary route of se_registry_routes to `rt` (streaming ones are
 * skipped, logged) and opens the backends' channels. `cache` may be NULL
 * (it is copied). THREAD: main, after se_rpc_init, before the server
 * starts. OWNERSHIP: destroy after the server has stopped.
 * ON ERROR: NULL, logged; routes added before the failure stay in the
 * router, so the server must not be started (the process gives up). */
gw_proxy *gw_proxy_create(gw_router *rt, const gw_proxy_config *cfg,
                          const gw_proxy_cache *cache);
void gw_proxy_destroy(gw_proxy *p);

/* Diverts the route(s) of `method` (e.g. LogisticsService.ReportLocation):
 * after the usual transcoding and checks (413, 400s, Idempotency-Key), the
 * handler calls fn(ctx, r, route, msg) instead of starting a unary call;
 * fn must answer r exactly once (now, or later on the loop thread). msg
 * lives in r's pool (valid until r is gone). `route_timeout_ms`, when not
 * NULL, gets the route's deadline (its own or cfg.timeout_ms).
 * THREAD: main, before the server starts. Returns the number of routes
 * diverted (0: the method has no route). */
typedef void (*gw_proxy_divert_fn)(void *ctx, gw_request *r, const se_http_route *route,
                                   ProtobufCMessage *msg);
int gw_proxy_divert(gw_proxy *p, const se_method_desc *method, gw_proxy_divert_fn fn, void *ctx,
                    int *route_timeout_ms);

/* Counters since create (relaxed reads; for tests and logs). */
typedef struct gw_proxy_stats {
    uint64_t calls;      /* RPCs started */
    uint64_t cancelled;  /* RPCs cancelled because their request went away */
    uint64_t dropped;    /* answers that came back after their request went
                            away, of which... */
    uint64_t dropped_cancelled; /* ...ended CANCELLED (the cancel won) */
} gw_proxy_stats;
void gw_proxy_stats_get(const gw_proxy *p, gw_proxy_stats *out);

/* The backend config name of a service ("swifteats.v1.MenuService" ->
 * "MENU") into buf. Returns -1 when the name does not end in "Service" or
 * does not fit. THREAD: any. */
int gw_proxy_backend_name(const char *service, char *buf, size_t cap);

#endif
