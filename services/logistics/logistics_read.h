/* logistics_read.h - the read RPCs of the logistics service: a driver's
 * current location, an order's latest location and nearby drivers (Redis,
 * kept by the location worker), and a driver's route (PostgreSQL
 * location_history). Key names: notes in logistics_read.c. Each function
 * is a whole handler: it validates, answers the call (reply or fail) and
 * returns.
 *
 * THREAD: any number of server threads at once.
 */
#ifndef LOGISTICS_READ_H
#define LOGISTICS_READ_H

#include "se_pg.h"
#include "se_redis.h"
#include "se_rpc.h"
#include "swifteats/v1/logistics.pb-c.h"

typedef struct logistics_read {
    se_redis_pool *redis; /* borrowed */
    se_pg_pool *pg;       /* borrowed */
    const char *prefix;   /* key prefix ("se:"), borrowed */
    int stale_s;          /* drivers silent longer are not nearby */
} logistics_read;

void logistics_read_driver(const logistics_read *rd, se_call *call,
                           const Swifteats__V1__GetDriverLocationRequest *req);
void logistics_read_order(const logistics_read *rd, se_call *call,
                          const Swifteats__V1__GetOrderDriverLocationRequest *req);
void logistics_read_nearby(const logistics_read *rd, se_call *call,
                           const Swifteats__V1__FindNearbyDriversRequest *req);
void logistics_read_route(const logistics_read *rd, se_call *call,
                          const Swifteats__V1__GetDriverRouteRequest *req);

#endif
