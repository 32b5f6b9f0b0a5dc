/* gw_edge_serve.c - the edge cache on the h2o side: the gw_proxy hooks.
 *
 * DESIGN
 * lookup (loop thread, a MenuService GET, after transcoding): the key is
 * the route and the packed request message (on the stack). A hit is sent
 * straight from the entry: headers precomputed in the entry (ETag in both
 * forms), the body referenced, not copied (h2o_send with a generator whose
 * pool-linked holder keeps the entry referenced until the request is
 * disposed). ETag/304 and Accept-Encoding are negotiated exactly as
 * gw_entity_send does. No malloc, no JSON, no RPC; the access log says
 * "rpc_status":"edge_hit". A miss leaves its token (the generations at
 * request start) in req->env for the fill.
 * after_send (a 200 GET answered through the RPC): stores the JSON and its
 * gzip form (the one gw_entity_send just made, or made here with the loop's
 * own z_stream) if the token is still current.
 * on_ok of a MenuService write: evicts the restaurant's entries and every
 * list page before the write's answer is sent, so the writer's next read
 * misses and goes to the service.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "gw_edge_cache_internal.h"
#include "gw_entity.h"
#include "gw_json.h"
#include "se_log.h"
#include "swifteats/v1/menu.se.h"

#define ENV_KEY "se.edge_fill"

typedef struct edge_fill {
    gw_edge_token tok;
} edge_fill;

typedef struct edge_hold {
    h2o_generator_t gen; /* first */
    const gw_edge_entry *e;
} edge_hold;

typedef struct edge_local {
    z_stream zs;
    int zs_ready;
    gw_buf gz;
} edge_local;

static int64_t coarse_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- routes ---------------------------------------------------------------- */

void gw__edge_routes_init(gw_edge_routes *rs)
{
    const se_service_desc *svc = &swifteats_v1_menu_service_service;
    memset(rs, 0, sizeof *rs);
    rs->base = svc->routes;
    rs->n = svc->n_routes < GW_EDGE_MAX_ROUTES ? svc->n_routes : GW_EDGE_MAX_ROUTES;
    for (size_t i = 0; i < rs->n; i++) {
        const se_http_route *route = &rs->base[i];
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field_by_name(route->method->input,
                                                            "restaurant_id");
        if (f != NULL && (f->type != PROTOBUF_C_TYPE_INT64 || f->label == PROTOBUF_C_LABEL_REPEATED))
            f = NULL;
        rs->info[i].restaurant_id = f;
        if (route->method->kind != SE_RPC_UNARY)
            rs->info[i].kind = GW_EDGE_ROUTE_NONE;
        else if (strcmp(route->http_method, "GET") == 0)
            rs->info[i].kind = GW_EDGE_ROUTE_READ;
        else
            rs->info[i].kind = GW_EDGE_ROUTE_WRITE;
    }
}

static const gw_edge_route_info *route_info(const gw_edge_cache *c, const se_http_route *route)
{
    const gw_edge_routes *rs = gw__edge_cache_routes(c);
    if (route < rs->base || route >= rs->base + rs->n)
        return NULL;
    const gw_edge_route_info *info = &rs->info[route - rs->base];
    return info->kind != GW_EDGE_ROUTE_NONE ? info : NULL;
}

static int64_t restaurant_id_of(const gw_edge_route_info *info, const ProtobufCMessage *msg)
{
    if (info->restaurant_id == NULL)
        return 0;
    return *(const int64_t *)((const char *)msg + info->restaurant_id->offset);
}

/* The key of msg into k (bytes in buf); -1 when it is too long to cache. */
static int make_key(const se_http_route *route, const gw_edge_route_info *info,
                    const ProtobufCMessage *msg, unsigned char *buf, gw_edge_key *k)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > GW_EDGE_KEY_MAX)
        return -1;
    k->len = protobuf_c_message_pack(msg, buf);
    k->bytes = buf;
    k->route = route;
    k->restaurant_id = restaurant_id_of(info, msg);
    return 0;
}

/* ---- serving a hit (loop thread) ------------------------------------------- */

static int header_matches(h2o_req_t *req, const h2o_token_t *token, int inm, uint64_t etag)
{
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, token, i)) != -1;) {
        h2o_iovec_t v = req->headers.entries[i].value;
        if (inm ? gw_entity_etag_matches(v.base, v.len, etag)
                : gw_entity_accepts_gzip(v.base, v.len))
            return 1;
    }
    return 0;
}

static void on_hold_dispose(void *p)
{
    edge_hold *h = p;
    gw_edge_entry_unref(h->e);
}

/* proceed/stop: nothing to do, the whole body went in one final h2o_send
 * and the entry is released with the pool. */
static void hold_noop(h2o_generator_t *g, h2o_req_t *req)
{
    (void)g;
    (void)req;
}

static void add_header(h2o_req_t *req, const h2o_token_t *t, const char *v, size_t len)
{
    h2o_add_header(&req->pool, &req->res.headers, t, NULL, v, len);
}

/* Answers r from e; consumes the reference on e. */
static void serve_hit(gw_request *r, const gw_edge_entry *e)
{
    h2o_req_t *req = r->req;
    r->rpc_code = GW_RPC_EDGE_HIT;
    int gz = e->gz != NULL && header_matches(req, H2O_TOKEN_ACCEPT_ENCODING, 0, 0);
    const char *etag = gz ? e->etag_gz_hdr : e->etag_hdr;
    if (e->vary)
        add_header(req, H2O_TOKEN_VARY, H2O_STRLIT("Accept-Encoding"));
    add_header(req, H2O_TOKEN_ETAG, etag, strlen(etag));
    if (header_matches(req, H2O_TOKEN_IF_NONE_MATCH, 1, e->etag)) {
        gw_edge_entry_unref(e);
        req->res.status = 304;
        req->res.reason = "Not Modified";
        h2o_send_inline(req, NULL, 0);
        return;
    }
    add_header(req, H2O_TOKEN_CONTENT_TYPE, H2O_STRLIT("application/json"));
    if (gz)
        add_header(req, H2O_TOKEN_CONTENT_ENCODING, H2O_STRLIT("gzip"));
    edge_hold *h = h2o_mem_alloc_shared(&req->pool, sizeof *h, on_hold_dispose);
    h->gen.proceed = hold_noop;
    h->gen.stop = hold_noop;
    h->e = e;
    h2o_iovec_t body = gz ? h2o_iovec_init(e->gz, e->gz_len) : h2o_iovec_init(e->json, e->len);
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = body.len;
    h2o_start_response(req, &h->gen);
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
}

static void remember_token(h2o_req_t *req, const gw_edge_token *tok)
{
    edge_fill *f = h2o_mem_alloc_pool(&req->pool, sizeof *f);
    f->tok = *tok;
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT(ENV_KEY));
    req->env.entries[req->env.size++] = h2o_iovec_init((char *)f, sizeof *f);
}

static const edge_fill *find_token(h2o_req_t *req)
{
    for (size_t i = 0; i + 1 < req->env.size; i += 2) {
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT(ENV_KEY)))
            return (const edge_fill *)req->env.entries[i + 1].base;
    }
    return NULL;
}

static int hook_lookup(void *ctx, gw_request *r, const se_http_route *route,
                       const ProtobufCMessage *msg)
{
    gw_edge_cache *c = ctx;
    const gw_edge_route_info *info = route_info(c, route);
    unsigned char buf[GW_EDGE_KEY_MAX];
    gw_edge_key k;
    if (info == NULL || info->kind != GW_EDGE_ROUTE_READ || make_key(route, info, msg, buf, &k) != 0)
        return 0;
    gw_edge_token tok;
    const gw_edge_entry *e = gw_edge_cache_get(c, &k, coarse_now_ns(), &tok);
    if (e != NULL) {
        serve_hit(r, e);
        return 1;
    }
    if (tok.valid)
        remember_token(r->req, &tok);
    return 0;
}

/* ---- fills and evictions (loop thread) ---------------------------------------- */

static void local_dispose(void *p)
{
    edge_local *l = p;
    if (l->zs_ready)
        deflateEnd(&l->zs);
    gw_buf_dispose(&l->gz);
    free(l);
}

static edge_local *local_of(gw_loop *loop, int level)
{
    edge_local *l = gw_loop_local(loop, GW_LOOP_SLOT_EDGE);
    if (l != NULL)
        return l;
    if ((l = calloc(1, sizeof *l)) == NULL)
        abort();
    gw_buf_init(&l->gz);
    int rc = deflateInit2(&l->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    if (rc != Z_OK)
        se_log_error("edge_cache_gzip_init_failed", "deflateInit2: %d; entries stay identity", rc);
    l->zs_ready = rc == Z_OK;
    gw_loop_set_local(loop, GW_LOOP_SLOT_EDGE, l, local_dispose);
    return l;
}

/* gzip of json into the loop's buffer; NULL unless smaller. */
static const char *compress_body(gw_loop *loop, int level, const char *json, size_t len,
                                 size_t *out_len)
{
    edge_local *l = local_of(loop, level);
    if (!l->zs_ready || deflateReset(&l->zs) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&l->zs, (uLong)len);
    gw_buf_reset(&l->gz);
    l->zs.next_in = (Bytef *)json;
    l->zs.avail_in = (uInt)len;
    l->zs.next_out = (Bytef *)gw_buf_reserve(&l->gz, bound);
    l->zs.avail_out = (uInt)bound;
    int rc = deflate(&l->zs, Z_FINISH);
    if (rc != Z_STREAM_END) {
        se_log_error("edge_cache_gzip_failed", "deflate: %d (%zu bytes)", rc, len);
        return NULL;
    }
    l->gz.len = l->zs.total_out;
    *out_len = l->gz.len;
    return l->gz.len < len ? l->gz.data : NULL;
}

static void hook_after_send(void *ctx, gw_request *r, const se_http_route *route,
                            const ProtobufCMessage *msg, const gw_entity *e)
{
    gw_edge_cache *c = ctx;
    const gw_edge_route_info *info = route_info(c, route);
    if (info == NULL || info->kind != GW_EDGE_ROUTE_READ)
        return;
    const edge_fill *f = find_token(r->req);
    unsigned char buf[GW_EDGE_KEY_MAX];
    gw_edge_key k;
    if (f == NULL || make_key(route, info, msg, buf, &k) != 0)
        return;
    const gw_edge_cache_config *cfg = gw__edge_cache_config(c);
    const char *gz = e->gz;
    size_t gz_len = e->gz_len;
    if (gz == NULL && cfg->gzip_level > 0 && e->len >= cfg->gzip_min_bytes)
        gz = compress_body(r->loop, cfg->gzip_level, e->json, e->len, &gz_len);
    if (gz == NULL)
        gz_len = 0;
    gw_edge_cache_put(c, &k, &f->tok, e->json, e->len, gz, gz_len, coarse_now_ns());
}

static void hook_on_ok(void *ctx, gw_request *r, const se_http_route *route,
                       const ProtobufCMessage *msg, const ProtobufCMessage *resp, gw_entity *e)
{
    (void)resp;
    (void)e;
    gw_edge_cache *c = ctx;
    const gw_edge_route_info *info = route_info(c, route);
    if (info == NULL || info->kind != GW_EDGE_ROUTE_WRITE)
        return;
    int64_t id = restaurant_id_of(info, msg);
    se_log_debug("edge_cache_write_evict", "%s %s: restaurant %lld and every list page (%s)",
                 route->http_method, route->path, (long long)id, r->request_id);
    if (id > 0)
        gw_edge_cache_evict_restaurant(c, id);
    else
        gw_edge_cache_flush(c);
    gw_edge_cache_evict_lists(c);
}

gw_proxy_cache gw_edge_cache_proxy_hooks(gw_edge_cache *c)
{
    return (gw_proxy_cache){.lookup = hook_lookup, .on_ok = hook_on_ok,
                            .after_send = hook_after_send, .ctx = c};
}
