/* se_pg_rpc.h - PostgreSQL inside RPC handlers: what every store of a
 * service (menu_store, order_store, ...) needs between se_pg and se_rpc.
 *
 *   - a pooled connection waited for no longer than the current server
 *     call's deadline (capped at 5 s), so a saturated pool answers
 *     UNAVAILABLE in time instead of outliving the client;
 *   - a failed statement mapped to the status the handler answers:
 *     connection trouble (SQLSTATE class 08) is UNAVAILABLE, serialization
 *     failures and deadlocks are ABORTED (retry), anything else is INTERNAL
 *     with a generic text (the details are in the log, not in the answer).
 */
#ifndef SE_PG_RPC_H
#define SE_PG_RPC_H

#include "se_pg.h"
#include "se_rpc.h"

/* A connection from p for the calling thread's server call (or up to 5 s
 * outside one). ON ERROR: NULL with st = UNAVAILABLE "<component>: no
 * database connection free within N ms". OWNERSHIP: give it back with
 * se_pg_pool_release. THREAD: any. */
se_pg_conn *se_pg_acquire_for_call(se_pg_pool *p, const char *component, se_status *st);

/* Sets st from a failed statement: "<component>: <what> failed (...)". */
void se_pg_status(se_status *st, const se_pg_err *e, const char *component, const char *what);

#endif
