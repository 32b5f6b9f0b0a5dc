/* gw_router.h - maps (HTTP method, path) to a handler.
 *
 * The router is the one h2o handler of the gateway (registered on "/"):
 * every request gets a gw_request (request id, loop hold), is matched
 * against the routes in the order they were added, and an unmatched request
 * gets the contract's error body: 405 with an Allow header when the path is
 * a route's with another method (status UNIMPLEMENTED), else 404. Path templates use the
 * google.api.http syntax for single segments: "/api/v1/orders/{order_id}";
 * the generated route table (se_registry_routes) plugs in through
 * gw_router_add.
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <h2o.h>

#include "gw_request.h"

#define GW_ROUTE_MAX_PARAMS 8

/* A pseudo-method for gw_router_add: the route matches only a GET that asks
 * for a WebSocket upgrade over HTTP/1.1 (Upgrade: websocket), and such a
 * request tries these routes before the others; any other request on the
 * path goes to the ordinary routes. Never listed in Allow. */
#define GW_ROUTER_WEBSOCKET "WEBSOCKET"

typedef struct gw_route_match {
    size_t n_params;
    struct {
        h2o_iovec_t name;  /* "order_id", points into the template */
        h2o_iovec_t value; /* the path segment, points into req->path_normalized */
    } params[GW_ROUTE_MAX_PARAMS];
} gw_route_match;

/* Handles a matched request: must send exactly one response (now, or later
 * on the loop thread). `data` is what gw_router_add was given. */
typedef void (*gw_route_fn)(gw_request *r, const gw_route_match *m, void *data);

typedef struct gw_router gw_router;

/* Registers the router as the handler of `pathconf`. OWNERSHIP: the router
 * belongs to the caller (gw_router_destroy), after h2o_config_dispose.
 * THREAD: main, before the loops start. */
gw_router *gw_router_create(h2o_pathconf_t *pathconf);
void gw_router_destroy(gw_router *rt);

/* Adds a route. `method` ("GET") and `path_template` must outlive the
 * router (string literals or generated tables). THREAD: main, before start.
 * ON ERROR: -1, logged (malformed template or too many parameters). */
int gw_router_add(gw_router *rt, const char *method, const char *path_template,
                  gw_route_fn fn, void *data);

/* Matches without dispatching: the index of the first matching route (in
 * the order added) with its parameters in `m`, or -1. THREAD: any. */
int gw_router_match(const gw_router *rt, h2o_iovec_t method, h2o_iovec_t path,
                    gw_route_match *m);

/* The methods of every route whose template matches `path`, as an Allow
 * header value ("GET, PUT") in buf (NUL-terminated; truncated to whole
 * methods). Returns how many; 0 means no route has that path (a 404, where
 * a non-zero count makes a wrong method a 405). THREAD: any. */
size_t gw_router_allowed(const gw_router *rt, h2o_iovec_t path, char *buf, size_t cap);

#endif
