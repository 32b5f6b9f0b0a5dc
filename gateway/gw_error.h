/* gw_error.h - the REST contract's error body, for every error the gateway
 * sends (its own and those of the services behind it):
 *
 *   {"error":{"code":404,"status":"NOT_FOUND","message":"...","details":[]}}
 */
#ifndef GW_ERROR_H
#define GW_ERROR_H

#include <grpc/status.h>

#include "gw_request.h"

/* The HTTP status for a gRPC status code (the usual gRPC-to-HTTP mapping:
 * INVALID_ARGUMENT 400, NOT_FOUND 404, UNAVAILABLE 503, ...). */
int gw_error_http_status(grpc_status_code code);

/* Sends an error response with details []. The message is printf-style and
 * JSON-escaped here. THREAD: the loop's, once per request. */
void gw_error_send(gw_request *r, int http_status, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same with a details array: `details_json` is a JSON array ("[...]"),
 * inserted as is (NULL: "[]"). */
void gw_error_send_details(gw_request *r, int http_status, grpc_status_code code,
                           const char *details_json, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
