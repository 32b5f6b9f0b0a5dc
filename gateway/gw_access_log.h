/* gw_access_log.h - one JSON log line per HTTP request:
 *   {"event":"http_access","method":"GET","path":"/healthz","status":200,
 *    "bytes":15,"duration_ms":0.081,"request_id":"...","protocol":"HTTP/2",
 *    "route":"/api/v1/restaurants/{restaurant_id}","rpc_status":"OK",
 *    "upstream_ms":0.412}
 * route when the router matched one; rpc_status and upstream_ms (the
 * backend call, from start to the answer back on the loop) when the request
 * made a backend call.
 * Written when h2o disposes the request, i.e. after the response was sent
 * (or the client went away: then status is what was prepared, often 0).
 * SE_GATEWAY_ACCESS_LOG=false turns the line off; the hook stays, as it
 * also counts every response for /metrics (gw_metrics_count_response).
 */
#ifndef GW_ACCESS_LOG_H
#define GW_ACCESS_LOG_H

#include <h2o.h>

/* Registers the logger on `pathconf`. THREAD: main, before the loops start. */
void gw_access_log_register(h2o_pathconf_t *pathconf);

#endif
