/* gw_health.h - the gateway's own probes.
 *
 *   GET /healthz  200 {"status":"ok"}: the process is alive (no backend calls).
 *   GET /readyz   200 {"status":"ready","backends":[...]} when every backend
 *                 (menu, order, logistics, payment gateway at
 *                 SE_<NAME>_TARGET) answers grpc.health.v1.Health/Check
 *                 SERVING; else 503 with the contract's error body whose
 *                 details list every backend's state.
 */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include "gw_router.h"

/* Resolves the backend targets and their channels; `check_timeout_ms` is
 * the deadline of each health check. THREAD: main, after se_rpc_init. */
void gw_health_init(int check_timeout_ms);
/* Adds /healthz and /readyz to the router. ON ERROR: -1, logged. */
int gw_health_register(gw_router *rt);

#endif
