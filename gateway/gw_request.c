/* gw_request.c - request state, request ids, replies and the request guard. */
#include "gw_request.h"

#include <string.h>

#include "se_rpc.h"

struct gw_guard {
    void (*on_gone)(void *arg); /* NULL once disarmed */
    void *arg;
};

static int request_id_ok(h2o_iovec_t v)
{
    if (v.len == 0 || v.len > GW_REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.base[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok)
            return 0;
    }
    return 1;
}

static void take_request_id(gw_request *r)
{
    h2o_req_t *req = r->req;
    ssize_t i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-request-id"), -1);
    if (i >= 0 && request_id_ok(req->headers.entries[i].value)) {
        h2o_iovec_t v = req->headers.entries[i].value;
        memcpy(r->request_id, v.base, v.len);
        r->request_id[v.len] = '\0';
    } else {
        se_request_id_new(r->request_id);
    }
}

/* The gw_request travels in req->env (h2o's per-request environment,
 * used only by handlers we do not run: fastcgi, mruby) as the pair
 * ENV_KEY, {r, sizeof *r}, so the h2o logger can find it. */
#define ENV_KEY "se.gw_request"

static void env_put(gw_request *r)
{
    h2o_req_t *req = r->req;
    h2o_vector_reserve(&req->pool, &req->env, req->env.size + 2);
    req->env.entries[req->env.size++] = h2o_iovec_init(H2O_STRLIT(ENV_KEY));
    req->env.entries[req->env.size++] = h2o_iovec_init((char *)r, sizeof *r);
}

gw_request *gw_request_find(h2o_req_t *req)
{
    for (size_t i = 0; i + 1 < req->env.size; i += 2) {
        if (h2o_memis(req->env.entries[i].base, req->env.entries[i].len, H2O_STRLIT(ENV_KEY)))
            return (gw_request *)req->env.entries[i + 1].base;
    }
    return NULL;
}

static void on_request_gone(void *p)
{
    gw_request *r = p;
    gw_loop_release(r->loop);
}

gw_request *gw_request_begin(h2o_req_t *req)
{
    gw_request *r = h2o_mem_alloc_shared(&req->pool, sizeof *r, on_request_gone);
    r->req = req;
    r->loop = gw_loop_of(req->conn->ctx);
    r->route = NULL;
    r->rpc_code = -1;
    r->upstream_ns = -1;
    gw_loop_hold(r->loop);
    take_request_id(r);
    env_put(r);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
                          r->request_id, strlen(r->request_id));
    return r;
}

static const char *reason_of(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 304: return "Not Modified";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : "Error";
    }
}

void gw_reply(gw_request *r, int status, const char *content_type, const char *body,
              size_t len)
{
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = reason_of(status);
    req->res.content_length = len; /* h2o_send_inline would send chunked otherwise */
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                   strlen(content_type));
    h2o_send_inline(req, body, len);
}

void gw_reply_json(gw_request *r, int status, const char *json, size_t len)
{
    gw_reply(r, status, "application/json", json, len);
}

static void on_guard_dispose(void *p)
{
    gw_guard *g = p;
    if (g->on_gone != NULL)
        g->on_gone(g->arg);
}

gw_guard *gw_guard_create(gw_request *r, void (*on_gone)(void *arg), void *arg)
{
    gw_guard *g = h2o_mem_alloc_shared(&r->req->pool, sizeof *g, on_guard_dispose);
    g->on_gone = on_gone;
    g->arg = arg;
    return g;
}

void gw_guard_disarm(gw_guard *g)
{
    g->on_gone = NULL;
}
