/* se_rpc_internal.h - internal, do not use outside runtime/.
 * The seams between the RPC core (se_rpc_server.c) and the built-in
 * services (se_health.c, se_reflection.c). */
#ifndef SE_RPC_INTERNAL_H
#define SE_RPC_INTERNAL_H

#include "se_rpc.h"

/* ---- health (se_health.c) ---- */
typedef struct se_health se_health;
/* OWNERSHIP: destroyed by se_health_destroy after the server is destroyed. */
se_health *se_health_create(void);
/* Registers grpc.health.v1.Health on `s` (called by se_server_create). */
int se_health_register(se_health *h, se_server *s);
/* serving: 1 SERVING, 0 NOT_SERVING. Unknown names are added. THREAD: any. */
void se_health_set(se_health *h, const char *service, int serving);
/* Marks everything NOT_SERVING and ends every Watch stream (server
 * shutting down). THREAD: any. */
void se_health_shutdown(se_health *h);
void se_health_destroy(se_health *h);

/* ---- reflection (se_reflection.c) ---- */
/* Registers grpc.reflection.v1 and v1alpha ServerReflection on `s`,
 * answering from se_registry_files and the server's service list. */
int se_reflection_register(se_server *s);

/* ---- server internals (se_rpc_server.c) ---- */
/* Copies up to `cap` registered services (including health and
 * reflection) into out; returns the total count. THREAD: any after start. */
size_t se__server_services(const se_server *s, const se_service_desc **out, size_t cap);

#endif
