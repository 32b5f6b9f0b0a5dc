/* gw_health.h - the gateway's own probes.
 *
 *   GET /healthz  200 {"status":"ok"}: the process is alive (no backend calls).
 *   GET /readyz   200 {"status":"ready","backends":[...]} when every
 *                 checked backend (at SE_<NAME>_TARGET) answers
 *                 grpc.health.v1.Health/Check SERVING; else 503 with the
 *                 contract's error body whose details list every checked
 *                 backend's state.
 *
 * Configuration:
 *   SE_GATEWAY_READYZ_BACKENDS  (menu,order,logistics,payment_gateway)
 *       the backends /readyz checks, comma-separated, any of menu, order,
 *       logistics, payment_gateway. A deployment whose payment provider is
 *       real (no mock) leaves payment_gateway out, so that the gateway's
 *       readiness does not follow a third party's health. An unknown name
 *       or an empty list is a configuration error: config_invalid naming
 *       it, exit 2. Only the listed backends' targets are read.
 *   SE_GATEWAY_READYZ_TIMEOUT_MS (1000, main.c) the deadline of each check.
 */
#ifndef GW_HEALTH_H
#define GW_HEALTH_H

#include "gw_router.h"

/* Reads SE_GATEWAY_READYZ_BACKENDS and resolves those backends' targets
 * and channels; `check_timeout_ms` is the deadline of each health check.
 * THREAD: main, after se_rpc_init. ON ERROR: a bad backend list exits the
 * process with status 2 (logged config_invalid). */
void gw_health_init(int check_timeout_ms);
/* Adds /healthz and /readyz to the router. ON ERROR: -1, logged. */
int gw_health_register(gw_router *rt);

#endif
