/* gw_proxy.c - every generated REST route as one asynchronous gRPC call.
 *
 * DESIGN
 * The handler (loop thread) transcodes the request into a message allocated
 * from req->pool, takes a gw_call from the loop's free list, links a guard
 * to the request pool and starts se_rpc_unary_async. The reply callback
 * runs on the runtime's client thread: it stores status and response in the
 * call and posts the call to its loop (gw_loop_post), where the response is
 * encoded into the loop's JSON buffer and sent; the call then returns to
 * the free list. The call holds the loop, so shutdown waits for it.
 *
 * The client may leave first: the guard's on_gone (loop thread, request
 * disposal) forgets the request and cancels the RPC. se_pending_cancel is
 * valid only until the reply callback has returned, so `state` decides who
 * wins: on_gone moves PENDING -> CANCELLING, cancels, then CANCELLED; the
 * callback moves PENDING -> DONE, or, if it finds CANCELLING, waits (a few
 * instructions: the cancel takes one short lock) for CANCELLED before it
 * returns. Either way the call is posted back exactly once and freed on the
 * loop thread.
 *
 * Per request: no malloc (the request message and headers live in
 * req->pool, gw_call comes from the free list, the JSON and gzip buffers are
 * per loop); the only lock is the hand-off queue's.
 *
 * The response is decoded (on the client thread) into the call's own arena
 * (se_call_opts.resp_allocator, gw_arena.h): a bump allocator over a buffer
 * the call keeps across reuse, with malloc'd spills. While the
 * RPC is pending only the client thread touches it; after the post only the
 * loop, which resets it when the call is released. So a response of many
 * small fields costs no malloc/free per field, and nothing allocated on one
 * thread is freed on another.
 */
#include "gw_proxy.h"

#include <ctype.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_arena.h"
#include "gw_error.h"
#include "gw_transcode.h"
#include "se_config.h"
#include "se_log.h"
#include "se_rpc.h"

#define IDEMPOTENCY_KEY_MAX 255
#define FREE_CALLS_MAX 256 /* per loop; more are freed (each keeps an arena) */
#define ARENA_BYTES (16 * 1024) /* per call: a decoded menu (~9 KB, ~185
                                   allocations) fits */

typedef struct proxy_route {
    const se_http_route *route;
    gw_proxy *proxy;
    se_channel *ch;
    int timeout_ms;
    int cacheable;          /* GET */
    char backend[32];       /* "MENU" */
    gw_proxy_divert_fn divert; /* NULL: a unary call (gw_proxy_divert) */
    void *divert_ctx;
} proxy_route;

struct gw_proxy {
    proxy_route *routes;
    size_t n_routes;
    gw_proxy_config cfg;
    gw_proxy_cache cache;
    atomic_ullong calls, cancelled, dropped, dropped_cancelled; /* gw_proxy_stats */
};

enum { CALL_PENDING, CALL_DONE, CALL_CANCELLING, CALL_CANCELLED };

typedef struct gw_call {
    gw_task task;               /* first; zeroed before each post */
    gw_loop *loop;
    gw_request *r;              /* NULL once the request is gone; loop thread */
    gw_guard *guard;
    const proxy_route *pr;
    const ProtobufCMessage *req_msg; /* in the request's pool; valid while r */
    se_pending *pending;
    atomic_int state;           /* CALL_* */
    se_status st;               /* written by the callback */
    ProtobufCMessage *resp;     /* the callback's; in `arena`, reset on the loop */
    int64_t started_ns;         /* CLOCK_MONOTONIC */
    struct gw_call *next_free;
    gw_arena arena;             /* kept across reuse; resp lives here */
} gw_call;

typedef struct proxy_local {
    gw_buf json;                /* the response being encoded */
    gw_call *free_calls;
    size_t n_free;
} proxy_local;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- per-loop state --------------------------------------------------------- */

static void local_dispose(void *p)
{
    proxy_local *l = p;
    while (l->free_calls != NULL) {
        gw_call *c = l->free_calls;
        l->free_calls = c->next_free;
        gw_arena_dispose(&c->arena);
        free(c);
    }
    gw_buf_dispose(&l->json);
    free(l);
}

static proxy_local *local_of(gw_loop *loop)
{
    proxy_local *l = gw_loop_local(loop, GW_LOOP_SLOT_PROXY);
    if (l == NULL) {
        l = calloc(1, sizeof *l);
        if (l == NULL)
            abort();
        gw_buf_init(&l->json);
        gw_loop_set_local(loop, GW_LOOP_SLOT_PROXY, l, local_dispose);
    }
    return l;
}

static gw_call *call_acquire(gw_loop *loop)
{
    proxy_local *l = local_of(loop);
    gw_call *c = l->free_calls;
    if (c != NULL) {
        l->free_calls = c->next_free;
        l->n_free--;
    } else if ((c = malloc(sizeof *c)) == NULL) {
        abort();
    } else {
        gw_arena_init(&c->arena, ARENA_BYTES);
    }
    memset(c, 0, offsetof(gw_call, st)); /* task.super must start zeroed */
    c->resp = NULL;
    c->loop = loop;
    atomic_init(&c->state, CALL_PENDING);
    return c;
}

static void call_release(gw_call *c)
{
    proxy_local *l = local_of(c->loop);
    c->resp = NULL; /* it lived in the arena */
    gw_arena_reset(&c->arena);
    if (l->n_free >= FREE_CALLS_MAX) {
        gw_arena_dispose(&c->arena);
        free(c);
        return;
    }
    c->next_free = l->free_calls;
    l->free_calls = c;
    l->n_free++;
}

/* ---- answering (loop thread) ------------------------------------------------ */

static void respond_ok(gw_call *c, gw_request *r)
{
    const proxy_route *pr = c->pr;
    const gw_proxy_cache *cache = &pr->proxy->cache;
    proxy_local *l = local_of(c->loop);
    gw_buf_reset(&l->json);
    if (gw_transcode_route_response(pr->route, c->resp, &l->json) != 0) {
        gw_error_send(r, 500, GRPC_STATUS_INTERNAL, "the response of %s has no JSON form",
                      pr->route->method->name);
        return;
    }
    gw_entity e = {.json = l->json.data, .len = l->json.len};
    int status = pr->route->success_status;
    if (cache->on_ok != NULL)
        cache->on_ok(cache->ctx, r, pr->route, c->req_msg, c->resp, &e);
    gw_entity_send(r, status, &e, pr->cacheable && status == 200);
    if (cache->after_send != NULL)
        cache->after_send(cache->ctx, r, pr->route, c->req_msg, &e);
}

static void respond(gw_call *c, gw_request *r)
{
    r->rpc_code = (int)c->st.code;
    r->upstream_ns = now_ns() - c->started_ns;
    if (c->st.code == GRPC_STATUS_OK) {
        respond_ok(c, r);
        return;
    }
    gw_error_send(r, gw_error_http_status(c->st.code), c->st.code, "%s",
                  c->st.message[0] ? c->st.message : se_status_name(c->st.code));
}

static void on_reply_task(gw_task *t)
{
    gw_call *c = (gw_call *)t;
    if (c->r != NULL) {
        gw_guard_disarm(c->guard);
        respond(c, c->r);
    } else {
        gw_proxy *p = c->pr->proxy;
        atomic_fetch_add_explicit(&p->dropped, 1, memory_order_relaxed);
        if (c->st.code == GRPC_STATUS_CANCELLED)
            atomic_fetch_add_explicit(&p->dropped_cancelled, 1, memory_order_relaxed);
    }
    gw_loop_release(c->loop);
    call_release(c); /* frees the response with the arena */
}

/* Runtime client thread. */
static void on_reply(void *arg, const se_status *st, ProtobufCMessage *resp)
{
    gw_call *c = arg;
    c->st = *st;
    c->resp = resp;
    int expected = CALL_PENDING;
    if (!atomic_compare_exchange_strong(&c->state, &expected, CALL_DONE)) {
        /* the loop is inside se_pending_cancel: the handle must outlive it */
        while (atomic_load(&c->state) != CALL_CANCELLED)
            sched_yield();
    }
    c->task.run = on_reply_task;
    gw_loop_post(c->loop, &c->task);
}

/* Loop thread: the request was disposed before the reply came back. */
static void on_request_gone(void *arg)
{
    gw_call *c = arg;
    se_log_debug("gateway_client_gone", "request %s left while %s was pending; cancelling",
                 c->r->request_id, c->pr->route->method->path);
    c->r = NULL;
    int expected = CALL_PENDING;
    if (atomic_compare_exchange_strong(&c->state, &expected, CALL_CANCELLING)) {
        se_pending_cancel(c->pending);
        atomic_store(&c->state, CALL_CANCELLED);
        atomic_fetch_add_explicit(&c->pr->proxy->cancelled, 1, memory_order_relaxed);
    }
}

/* ---- the handler (loop thread) ----------------------------------------------- */

static void *pool_alloc(void *pool, size_t size)
{
    /* h2o 2.2.5's pool does not align: messages hold int64s and pointers */
    uintptr_t p = (uintptr_t)h2o_mem_alloc_pool(pool, size + 7);
    return (void *)((p + 7) & ~(uintptr_t)7);
}

static void pool_free(void *pool, void *p)
{
    (void)pool;
    (void)p; /* freed with the request's pool */
}

/* Decodes the request into *msg; answers and returns -1 on bad input. */
static int transcode_or_reply(gw_request *r, const proxy_route *pr, const gw_route_match *m,
                              ProtobufCMessage **msg)
{
    h2o_req_t *req = r->req;
    size_t max = pr->proxy->cfg.max_body_bytes;
    if (req->entity.len > max) {
        gw_error_send(r, 413, GRPC_STATUS_RESOURCE_EXHAUSTED,
                      "request body of %zu bytes is over the limit of %zu bytes",
                      req->entity.len, max);
        return -1;
    }
    gw_path_params pp = {.n = m->n_params};
    for (size_t i = 0; i < m->n_params && i < GW_TRANSCODE_MAX_PATH_PARAMS; i++) {
        pp.params[i].name = (gw_str){m->params[i].name.base, m->params[i].name.len};
        pp.params[i].value = (gw_str){m->params[i].value.base, m->params[i].value.len};
    }
    const char *query = NULL;
    size_t query_len = 0;
    if (req->query_at != SIZE_MAX) {
        query = req->path.base + req->query_at + 1;
        query_len = req->path.len - req->query_at - 1;
    }
    gw_transcode_limits limits = {max, GW_TRANSCODE_DEFAULT_MAX_DEPTH};
    ProtobufCAllocator alloc = {pool_alloc, pool_free, &req->pool};
    gw_transcode_error err;
    if (gw_transcode_request(pr->route, &pp, query, query_len, req->entity.base,
                             req->entity.base != NULL ? req->entity.len : 0, &limits, &alloc,
                             msg, &err) != 0) {
        gw_error_send(r, err.http_status, err.code, "%s", err.message);
        return -1;
    }
    return 0;
}

static int printable(h2o_iovec_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        if (v.base[i] < 0x20 || v.base[i] > 0x7e)
            return 0;
    }
    return 1;
}

/* The Idempotency-Key header as metadata (*n 0 or 1); answers 400 and
 * returns -1 when it cannot be forwarded. */
static int idempotency_key_or_reply(gw_request *r, se_metadata *md, size_t *n)
{
    h2o_req_t *req = r->req;
    *n = 0;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("idempotency-key"), -1);
    if (i < 0)
        return 0;
    h2o_iovec_t v = req->headers.entries[i].value;
    if (v.len == 0 || v.len > IDEMPOTENCY_KEY_MAX || !printable(v)) {
        gw_error_send(r, 400, GRPC_STATUS_INVALID_ARGUMENT,
                      "Idempotency-Key: want 1 to %d printable ASCII characters",
                      IDEMPOTENCY_KEY_MAX);
        return -1;
    }
    char *value = h2o_mem_alloc_pool(&req->pool, v.len + 1);
    memcpy(value, v.base, v.len);
    value[v.len] = '\0';
    md[0] = (se_metadata){"idempotency-key", value};
    *n = 1;
    return 0;
}

static void start_call(gw_request *r, const proxy_route *pr, const ProtobufCMessage *msg,
                       const se_metadata *md, size_t n_md)
{
    gw_call *c = call_acquire(r->loop);
    c->r = r;
    c->pr = pr;
    c->req_msg = msg;
    se_call_opts opts = {.timeout_ms = pr->timeout_ms, .request_id = r->request_id,
                         .metadata = md, .n_metadata = n_md, .detach = 1,
                         .resp_allocator = &c->arena.alloc};
    c->started_ns = now_ns();
    c->pending = se_rpc_unary_async(pr->ch, pr->route->method, msg, &opts, on_reply, c);
    if (c->pending == NULL) {
        call_release(c);
        gw_error_send(r, 503, GRPC_STATUS_UNAVAILABLE, "cannot call %s (%s backend)",
                      pr->route->method->path, pr->backend);
        return;
    }
    /* Nothing can dispose the request before this handler returns, and the
     * reply cannot run on this loop before then either. */
    c->guard = gw_guard_create(r, on_request_gone, c);
    gw_loop_hold(r->loop);
    atomic_fetch_add_explicit(&pr->proxy->calls, 1, memory_order_relaxed);
}

static void on_route(gw_request *r, const gw_route_match *m, void *data)
{
    const proxy_route *pr = data;
    const gw_proxy_cache *cache = &pr->proxy->cache;
    ProtobufCMessage *msg;
    se_metadata md[1];
    size_t n_md;
    if (transcode_or_reply(r, pr, m, &msg) != 0 || idempotency_key_or_reply(r, md, &n_md) != 0)
        return;
    if (pr->divert != NULL) {
        pr->divert(pr->divert_ctx, r, pr->route, msg);
        return;
    }
    if (pr->cacheable && cache->lookup != NULL && cache->lookup(cache->ctx, r, pr->route, msg))
        return;
    start_call(r, pr, msg, md, n_md);
}

/* ---- set-up (main thread) ------------------------------------------------------ */

int gw_proxy_backend_name(const char *service, char *buf, size_t cap)
{
    const char *dot = strrchr(service, '.');
    const char *s = dot != NULL ? dot + 1 : service;
    size_t len = strlen(s), suffix = strlen("Service"), o = 0;
    if (len <= suffix || strcmp(s + len - suffix, "Service") != 0)
        return -1;
    for (size_t i = 0; i < len - suffix; i++) {
        int upper = isupper((unsigned char)s[i]);
        if (o + 3 > cap)
            return -1;
        if (upper && i > 0)
            buf[o++] = '_';
        buf[o++] = (char)toupper((unsigned char)s[i]);
    }
    buf[o] = '\0';
    return 0;
}

static const se_service_desc *service_of(const se_http_route *route)
{
    for (size_t i = 0; i < se_registry_n_services; i++) {
        const se_service_desc *svc = se_registry_services[i];
        if (route >= svc->routes && route < svc->routes + svc->n_routes)
            return svc;
    }
    return NULL;
}

static int route_init(gw_proxy *p, proxy_route *pr, const se_http_route *route)
{
    const se_service_desc *svc = service_of(route);
    if (svc == NULL || gw_proxy_backend_name(svc->name, pr->backend, sizeof pr->backend) != 0) {
        se_log_error("gateway_bad_route", "route %s %s: no service with a backend name",
                     route->http_method, route->path);
        return -1;
    }
    pr->route = route;
    pr->proxy = p;
    pr->ch = se_channel_get(se_config_target(pr->backend));
    pr->timeout_ms = route->timeout_ms > 0 ? route->timeout_ms : p->cfg.timeout_ms;
    pr->cacheable = strcmp(route->http_method, "GET") == 0;
    return 0;
}

gw_proxy *gw_proxy_create(gw_router *rt, const gw_proxy_config *cfg,
                          const gw_proxy_cache *cache)
{
    gw_transcode_init();
    gw_proxy *p = calloc(1, sizeof *p);
    if (p == NULL || (p->routes = calloc(se_registry_n_routes + 1, sizeof *p->routes)) == NULL)
        abort();
    p->cfg = *cfg;
    if (cache != NULL)
        p->cache = *cache;
    for (size_t i = 0; i < se_registry_n_routes; i++) {
        const se_http_route *route = se_registry_routes[i];
        if (route->method->kind != SE_RPC_UNARY) {
            se_log_warn("gateway_route_skipped", "%s %s: %s is not unary", route->http_method,
                        route->path, route->method->path);
            continue;
        }
        proxy_route *pr = &p->routes[p->n_routes];
        if (route_init(p, pr, route) != 0 ||
            gw_router_add(rt, route->http_method, route->path, on_route, pr) != 0) {
            gw_proxy_destroy(p);
            return NULL;
        }
        p->n_routes++;
        se_log_debug("gateway_route", "%s %s -> %s (%s, %d ms)", route->http_method,
                     route->path, route->method->path, pr->backend, pr->timeout_ms);
    }
    return p;
}

int gw_proxy_divert(gw_proxy *p, const se_method_desc *method, gw_proxy_divert_fn fn, void *ctx,
                    int *route_timeout_ms)
{
    int n = 0;
    for (size_t i = 0; i < p->n_routes; i++) {
        proxy_route *pr = &p->routes[i];
        if (pr->route->method != method)
            continue;
        pr->divert = fn;
        pr->divert_ctx = ctx;
        if (route_timeout_ms != NULL)
            *route_timeout_ms = pr->timeout_ms;
        n++;
    }
    return n;
}

void gw_proxy_stats_get(const gw_proxy *p, gw_proxy_stats *out)
{
    gw_proxy *m = (gw_proxy *)p;
    out->calls = atomic_load_explicit(&m->calls, memory_order_relaxed);
    out->cancelled = atomic_load_explicit(&m->cancelled, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&m->dropped, memory_order_relaxed);
    out->dropped_cancelled = atomic_load_explicit(&m->dropped_cancelled, memory_order_relaxed);
}

void gw_proxy_destroy(gw_proxy *p)
{
    if (p == NULL)
        return;
    free(p->routes);
    free(p);
}
