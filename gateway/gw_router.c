/* gw_router.c - (method, path template) -> handler, plus the 404 fallback.
 *
 * DESIGN: a linear scan over the routes in insertion order. The route count
 * is small (tens) and a match is a few memcmp's, far below the cost of the
 * RPC behind it; a trie can replace the scan without changing the API.
 */
#include "gw_router.h"

#include <stdlib.h>
#include <string.h>

#include "gw_error.h"
#include "se_log.h"

typedef struct gw_route {
    const char *method;
    const char *path_template;
    gw_route_fn fn;
    void *data;
} gw_route;

struct gw_router {
    gw_route *routes;
    size_t n_routes, cap;
};

typedef struct router_handler {
    h2o_handler_t super;
    gw_router *router;
} router_handler;

/* Length of the segment starting at s (up to '/' or the end). */
static size_t seg_len(const char *s, const char *end)
{
    const char *slash = memchr(s, '/', (size_t)(end - s));
    return (size_t)((slash != NULL ? slash : end) - s);
}

static int is_param(const char *seg, size_t len)
{
    return len >= 3 && seg[0] == '{' && seg[len - 1] == '}';
}

static int match_template(const char *tpl, h2o_iovec_t path, gw_route_match *m)
{
    const char *t = tpl, *tend = tpl + strlen(tpl);
    const char *p = path.base, *pend = path.base + path.len;
    m->n_params = 0;
    while (t < tend && p < pend) {
        if (*t++ != '/' || *p++ != '/')
            return 0;
        size_t tl = seg_len(t, tend), pl = seg_len(p, pend);
        if (is_param(t, tl)) {
            if (pl == 0 || m->n_params == GW_ROUTE_MAX_PARAMS)
                return 0;
            m->params[m->n_params].name = h2o_iovec_init(t + 1, tl - 2);
            m->params[m->n_params].value = h2o_iovec_init(p, pl);
            m->n_params++;
        } else if (tl != pl || memcmp(t, p, tl) != 0) {
            return 0;
        }
        t += tl;
        p += pl;
    }
    return t == tend && p == pend;
}

static int is_ws_route(const gw_route *r)
{
    return strcmp(r->method, GW_ROUTER_WEBSOCKET) == 0;
}

/* want_ws: only GW_ROUTER_WEBSOCKET routes, else only the others. */
static int match_routes(const gw_router *rt, h2o_iovec_t method, h2o_iovec_t path,
                        gw_route_match *m, int want_ws)
{
    for (size_t i = 0; i < rt->n_routes; i++) {
        const gw_route *r = &rt->routes[i];
        if (is_ws_route(r) != want_ws)
            continue;
        if ((want_ws || h2o_memis(method.base, method.len, r->method, strlen(r->method))) &&
            match_template(r->path_template, path, m))
            return (int)i;
    }
    return -1;
}

int gw_router_match(const gw_router *rt, h2o_iovec_t method, h2o_iovec_t path,
                    gw_route_match *m)
{
    int ws = h2o_memis(method.base, method.len, H2O_STRLIT(GW_ROUTER_WEBSOCKET));
    return match_routes(rt, method, path, m, ws);
}

/* A GET asking for a WebSocket over HTTP/1.1 (h2o sets req->upgrade only
 * there). */
static int wants_websocket(const h2o_req_t *req)
{
    return req->version < 0x200 && req->upgrade.base != NULL &&
           h2o_lcstris(req->upgrade.base, req->upgrade.len, H2O_STRLIT("websocket")) &&
           h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
}

size_t gw_router_allowed(const gw_router *rt, h2o_iovec_t path, char *buf, size_t cap)
{
    size_t len = 0, n = 0;
    gw_route_match m;
    if (cap > 0)
        buf[0] = '\0';
    for (size_t i = 0; i < rt->n_routes; i++) {
        const gw_route *r = &rt->routes[i];
        if (is_ws_route(r) || !match_template(r->path_template, path, &m))
            continue;
        size_t ml = strlen(r->method);
        if (strstr(buf, r->method) != NULL || len + ml + 3 > cap)
            continue; /* already listed (methods are distinct words) or full */
        if (n++ > 0) {
            memcpy(buf + len, ", ", 2);
            len += 2;
        }
        memcpy(buf + len, r->method, ml + 1);
        len += ml;
    }
    return n;
}

static void not_routed(gw_router *rt, gw_request *r)
{
    h2o_req_t *req = r->req;
    char allow[64];
    if (gw_router_allowed(rt, req->path_normalized, allow, sizeof allow) > 0) {
        size_t len = strlen(allow);
        char *v = h2o_mem_alloc_pool(&req->pool, len);
        memcpy(v, allow, len);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, v, len);
        gw_error_send(r, 405, GRPC_STATUS_UNIMPLEMENTED,
                      "method %.*s not allowed for %.*s (allowed: %s)",
                      (int)req->method.len, req->method.base,
                      (int)req->path_normalized.len, req->path_normalized.base, allow);
        return;
    }
    gw_error_send(r, 404, GRPC_STATUS_NOT_FOUND, "no route for %.*s %.*s",
                  (int)req->method.len, req->method.base,
                  (int)req->path_normalized.len, req->path_normalized.base);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    gw_router *rt = ((router_handler *)self)->router;
    gw_request *r = gw_request_begin(req);
    gw_route_match m;
    int i = -1;
    if (wants_websocket(req))
        i = match_routes(rt, req->method, req->path_normalized, &m, 1);
    if (i < 0)
        i = match_routes(rt, req->method, req->path_normalized, &m, 0);
    if (i < 0) {
        not_routed(rt, r);
        return 0;
    }
    r->route = rt->routes[i].path_template;
    rt->routes[i].fn(r, &m, rt->routes[i].data);
    return 0;
}

static int valid_template(const char *tpl)
{
    if (tpl[0] != '/')
        return 0;
    size_t params = 0;
    for (const char *s = tpl; *s; s++) {
        if (*s == '{')
            params++;
    }
    return params <= GW_ROUTE_MAX_PARAMS && strstr(tpl, "//") == NULL;
}

int gw_router_add(gw_router *rt, const char *method, const char *path_template,
                  gw_route_fn fn, void *data)
{
    if (!valid_template(path_template)) {
        se_log_error("gateway_bad_route", "route %s %s: malformed template", method,
                     path_template);
        return -1;
    }
    if (rt->n_routes == rt->cap) {
        rt->cap = rt->cap ? rt->cap * 2 : 16;
        rt->routes = realloc(rt->routes, rt->cap * sizeof *rt->routes);
        if (rt->routes == NULL)
            abort();
    }
    rt->routes[rt->n_routes++] = (gw_route){method, path_template, fn, data};
    return 0;
}

gw_router *gw_router_create(h2o_pathconf_t *pathconf)
{
    gw_router *rt = calloc(1, sizeof *rt);
    if (rt == NULL)
        abort();
    router_handler *h = (router_handler *)h2o_create_handler(pathconf, sizeof *h);
    h->super.on_req = on_req;
    h->router = rt;
    return rt;
}

void gw_router_destroy(gw_router *rt)
{
    if (rt == NULL)
        return;
    free(rt->routes);
    free(rt);
}
