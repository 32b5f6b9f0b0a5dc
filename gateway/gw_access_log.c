/* gw_access_log.c - the access log as an h2o logger (called at request
 * disposal on the loop thread, once per request, whatever answered it).
 * The same hook counts the response for /metrics (gw_metrics.c, one
 * relaxed atomic add), so the logger is registered even when
 * SE_GATEWAY_ACCESS_LOG=false; only the log line is skipped then. */
#include "gw_access_log.h"

#include <sys/time.h>

#include "gw_metrics.h"
#include "gw_request.h"
#include "se_config.h"
#include "se_log.h"
#include "se_rpc.h"

static double ms_between(const struct timeval *a, const struct timeval *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_usec - a->tv_usec) / 1e3;
}

static void copy_iov(char *buf, size_t cap, h2o_iovec_t v)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1;
    memcpy(buf, v.base != NULL ? v.base : "", n);
    buf[n] = '\0';
}

/* The X-Request-Id the gateway put on the response ("" if none). */
static void response_request_id(h2o_req_t *req, char *buf, size_t cap)
{
    ssize_t i = h2o_find_header_by_str(&req->res.headers, H2O_STRLIT("x-request-id"), -1);
    copy_iov(buf, cap, i >= 0 ? req->res.headers.entries[i].value : h2o_iovec_init("", 0));
}

/* ,"route":"...","rpc_status":"OK","upstream_ms":0.412 for what is known;
 * "rpc_status":"edge_hit" (no upstream_ms) for an edge cache hit. */
static void routing_fields(const gw_request *r, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    if (r == NULL)
        return;
    if (r->route != NULL) {
        char esc[512];
        int n = snprintf(buf, cap, ",\"route\":\"%s\"", se_json_escape(esc, sizeof esc, r->route));
        len = n > 0 && (size_t)n < cap ? (size_t)n : 0;
    }
    if (r->rpc_code >= 0 && len < cap) {
        int n = snprintf(buf + len, cap - len, ",\"rpc_status\":\"%s\",\"upstream_ms\":%.3f",
                         se_status_name((grpc_status_code)r->rpc_code),
                         (double)r->upstream_ns / 1e6);
        if (n < 0 || (size_t)n >= cap - len)
            buf[len] = '\0';
    } else if (r->rpc_code == GW_RPC_EDGE_HIT && len < cap) {
        int n = snprintf(buf + len, cap - len, ",\"rpc_status\":\"edge_hit\"");
        if (n < 0 || (size_t)n >= cap - len)
            buf[len] = '\0';
    }
}

typedef struct access_logger {
    h2o_logger_t super; /* first */
    int write_log;      /* SE_GATEWAY_ACCESS_LOG */
} access_logger;

static void log_access(h2o_logger_t *self, h2o_req_t *req)
{
    gw_request *r = gw_request_find(req);
    gw_metrics_count_response(req->res.status, r != NULL ? r->route : NULL);
    if (!((access_logger *)self)->write_log)
        return;
    char routing[768];
    routing_fields(r, routing, sizeof routing);
    char method[32], path[512], rid[80], esc_method[64], esc_path[1024], esc_rid[160];
    copy_iov(method, sizeof method, req->input.method);
    copy_iov(path, sizeof path, req->input.path);
    response_request_id(req, rid, sizeof rid);
    struct timeval end = req->timestamps.response_end_at;
    if (h2o_timeval_is_null(&end))
        gettimeofday(&end, NULL);
    int version = req->version;
    se_log_fields(SE_LOG_INFO, "http_access",
                  "\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"bytes\":%zu,"
                  "\"duration_ms\":%.3f,\"request_id\":\"%s\",\"protocol\":\"HTTP/%d.%d\"%s",
                  se_json_escape(esc_method, sizeof esc_method, method),
                  se_json_escape(esc_path, sizeof esc_path, path), req->res.status,
                  req->bytes_sent, ms_between(&req->timestamps.request_begin_at, &end),
                  se_json_escape(esc_rid, sizeof esc_rid, rid), version >> 8, version & 0xff,
                  routing);
}

void gw_access_log_register(h2o_pathconf_t *pathconf)
{
    access_logger *logger = (access_logger *)h2o_create_logger(pathconf, sizeof *logger);
    logger->super.log_access = log_access;
    logger->write_log = se_env_bool("SE_GATEWAY_ACCESS_LOG", 1);
}
