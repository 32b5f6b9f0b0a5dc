/* gw_request.h - per-request state of the gateway and how to answer.
 *
 * Every request the router sees gets a gw_request from req->pool: the loop
 * that owns it, its request id (the client's X-Request-Id when it is sane,
 * else a fresh one; echoed in the response) and a hold on the loop that
 * the pool's disposal releases. All of it is loop-thread only.
 */
#ifndef GW_REQUEST_H
#define GW_REQUEST_H

#include <h2o.h>

#include "gw_server.h"

#define GW_REQUEST_ID_MAX 64
#define GW_RPC_EDGE_HIT (-2) /* gw_request.rpc_code: no RPC, an edge cache hit */

typedef struct gw_request {
    h2o_req_t *req;
    gw_loop *loop;
    char request_id[GW_REQUEST_ID_MAX + 1]; /* NUL-terminated */
    /* For the access log (gw_access_log.c), set by whoever knows: */
    const char *route;     /* matched path template (router), NULL: none */
    int rpc_code;          /* grpc_status_code of the backend call, -1: none,
                              GW_RPC_EDGE_HIT: answered by the edge cache */
    int64_t upstream_ns;   /* duration of the backend call, -1: none */
} gw_request;

/* Creates the request's state in req->pool and adds the X-Request-Id
 * response header. OWNERSHIP: freed with the pool. THREAD: the loop's. */
gw_request *gw_request_begin(h2o_req_t *req);

/* The gw_request of `req` (the one gw_request_begin made), or NULL when
 * the router never saw the request (h2o answered it itself, e.g. a 413).
 * THREAD: the loop's; valid until the pool is cleared. */
gw_request *gw_request_find(h2o_req_t *req);

/* Sends the whole response: status, Content-Type, Content-Length and the
 * body (copied). THREAD: the loop's, exactly once per request. */
void gw_reply(gw_request *r, int status, const char *content_type, const char *body,
              size_t len);
void gw_reply_json(gw_request *r, int status, const char *json, size_t len);

/* ---- the one guard for answers that arrive after the client left ---------
 * A guard lives in req->pool; when the pool is cleared (the request is gone:
 * answered, or the connection closed) on_gone(arg) runs on the loop thread,
 * unless the guard was disarmed first. Whoever holds a pointer to the
 * request from a callback clears it in on_gone, and disarms the guard just
 * before answering. */
typedef struct gw_guard gw_guard;
gw_guard *gw_guard_create(gw_request *r, void (*on_gone)(void *arg), void *arg);
void gw_guard_disarm(gw_guard *g);

#endif
