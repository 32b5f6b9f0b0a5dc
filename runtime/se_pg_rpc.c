#include "se_pg_rpc.h"

#include <string.h>

#define ACQUIRE_MAX_MS 5000

se_pg_conn *se_pg_acquire_for_call(se_pg_pool *p, const char *component, se_status *st)
{
    se_call *call = se_call_current();
    int64_t left = call ? se_call_time_left_ms(call) : ACQUIRE_MAX_MS;
    int ms = left < 1 ? 1 : left > ACQUIRE_MAX_MS ? ACQUIRE_MAX_MS : (int)left;
    se_pg_conn *c = se_pg_pool_acquire(p, ms);
    if (c == NULL)
        se_status_set(st, GRPC_STATUS_UNAVAILABLE,
                      "%s: no database connection free within %d ms", component, ms);
    return c;
}

void se_pg_status(se_status *st, const se_pg_err *e, const char *component, const char *what)
{
    grpc_status_code code = GRPC_STATUS_INTERNAL;
    if (strncmp(e->sqlstate, "08", 2) == 0)
        code = GRPC_STATUS_UNAVAILABLE;
    else if (strcmp(e->sqlstate, "40001") == 0 || strcmp(e->sqlstate, "40P01") == 0)
        code = GRPC_STATUS_ABORTED;
    se_status_set(st, code, "%s: %s failed (%s)", component, what,
                  code == GRPC_STATUS_INTERNAL ? "database error" : e->msg);
}
