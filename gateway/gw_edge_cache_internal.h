/* gw_edge_cache_internal.h - shared by gw_edge_cache.c (the store) and
 * gw_edge_serve.c (the h2o hooks). Internal, do not use elsewhere. */
#ifndef GW_EDGE_CACHE_INTERNAL_H
#define GW_EDGE_CACHE_INTERNAL_H

#include <protobuf-c/protobuf-c.h>

#include "gw_edge_cache.h"
#include "se_rpc_desc.h"

#define GW_EDGE_MAX_ROUTES 32

enum {
    GW_EDGE_ROUTE_NONE,  /* not the cache's business */
    GW_EDGE_ROUTE_READ,  /* a MenuService GET: looked up and filled */
    GW_EDGE_ROUTE_WRITE, /* a MenuService write: evicts before answering */
};

typedef struct gw_edge_route_info {
    int kind;                                  /* GW_EDGE_ROUTE_* */
    const ProtobufCFieldDescriptor *restaurant_id; /* int64 field of the
                                                      request, NULL: a list */
} gw_edge_route_info;

/* The MenuService routes (a contiguous generated array), classified. */
typedef struct gw_edge_routes {
    const se_http_route *base;
    size_t n;
    gw_edge_route_info info[GW_EDGE_MAX_ROUTES];
} gw_edge_routes;

void gw__edge_routes_init(gw_edge_routes *rs);
const gw_edge_routes *gw__edge_cache_routes(const gw_edge_cache *c);
const gw_edge_cache_config *gw__edge_cache_config(const gw_edge_cache *c);

#endif
