/* gw_error.c - error bodies in the contract's shape (AIP-193). */
#include "gw_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "se_log.h"
#include "se_rpc.h"

int gw_error_http_status(grpc_status_code code)
{
    switch (code) {
    case GRPC_STATUS_OK: return 200;
    case GRPC_STATUS_CANCELLED: return 499;
    case GRPC_STATUS_INVALID_ARGUMENT: return 400;
    case GRPC_STATUS_FAILED_PRECONDITION: return 400;
    case GRPC_STATUS_OUT_OF_RANGE: return 400;
    case GRPC_STATUS_DEADLINE_EXCEEDED: return 504;
    case GRPC_STATUS_NOT_FOUND: return 404;
    case GRPC_STATUS_ALREADY_EXISTS: return 409;
    case GRPC_STATUS_ABORTED: return 409;
    case GRPC_STATUS_PERMISSION_DENIED: return 403;
    case GRPC_STATUS_UNAUTHENTICATED: return 401;
    case GRPC_STATUS_RESOURCE_EXHAUSTED: return 429;
    case GRPC_STATUS_UNIMPLEMENTED: return 501;
    case GRPC_STATUS_UNAVAILABLE: return 503;
    default: return 500;
    }
}

static void send_error(gw_request *r, int http_status, grpc_status_code code,
                       const char *details_json, const char *fmt, va_list ap)
{
    char msg[512], esc[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    se_json_escape(esc, sizeof esc, msg);
    if (details_json == NULL)
        details_json = "[]";
    static const char shape[] =
        "{\"error\":{\"code\":%d,\"status\":\"%s\",\"message\":\"%s\",\"details\":%s}}";
    size_t cap = sizeof shape + 16 + 32 + strlen(esc) + strlen(details_json);
    char *body = h2o_mem_alloc_pool(&r->req->pool, cap);
    int len = snprintf(body, cap, shape, http_status, se_status_name(code), esc, details_json);
    gw_reply_json(r, http_status, body, (size_t)len);
}

void gw_error_send(gw_request *r, int http_status, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_error(r, http_status, code, NULL, fmt, ap);
    va_end(ap);
}

void gw_error_send_details(gw_request *r, int http_status, grpc_status_code code,
                           const char *details_json, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    send_error(r, http_status, code, details_json, fmt, ap);
    va_end(ap);
}
