/* gw_order_watch.h - the WebSocket
 * GET /api/v1/drivers/orders/{order_id}/driver-location (Upgrade:
 * websocket over HTTP/1.1): live driver locations of one order from
 * LogisticsService.WatchOrderLocation (logistics-contract.md, "Gateway").
 * The same GET without Upgrade stays the unary REST route (gw_proxy).
 *
 * Protocol (server -> client, text frames):
 *   {"type":"connected","order_id":N,"message":"subscribed to driver location updates"}
 *       once the service confirms the subscription (the stream's first,
 *       empty Location), never before;
 *   {"type":"location_update","data":<Location as the REST GET renders it>}
 *       per later Location. A slow client gets the newest position: at
 *       most one update waits per connection, a newer one replaces it;
 *   {"type":"error","message":"..."} for a client message that is not
 *       {"action":"unsubscribe"} (sent only when nothing else is queued,
 *       else the message is ignored).
 * Client {"action":"unsubscribe"}: the stream is cancelled, close 1000.
 * Closes when the stream ends: OK or UNAVAILABLE 1001, RESOURCE_EXHAUSTED
 * 1013 (too many watchers), INVALID_ARGUMENT 1008, others 1011; the reason
 * names the status. The gateway stopping: 1001. A bad order_id (not an
 * integer > 0) or a bad handshake is a 400 JSON error before any upgrade.
 *
 * Configuration: gw_ws.h (SE_GATEWAY_WS_*); the backend is
 * SE_LOGISTICS_TARGET.
 */
#ifndef GW_ORDER_WATCH_H
#define GW_ORDER_WATCH_H

#include <stdint.h>

#include "gw_router.h"
#include "gw_ws.h"
#include "se_rpc.h"

typedef struct gw_order_watch gw_order_watch;

/* Adds the WebSocket route to rt (gw_router_add with GW_ROUTER_WEBSOCKET)
 * and watches on `ch` (the LogisticsService channel). THREAD: main, before
 * the server starts. OWNERSHIP: ch borrowed; destroy after the server has
 * stopped. ON ERROR: NULL, logged. */
gw_order_watch *gw_order_watch_create(gw_router *rt, se_channel *ch, const gw_ws_config *cfg);
void gw_order_watch_destroy(gw_order_watch *ow);

/* Counters since create (relaxed reads; for tests and logs). */
typedef struct gw_order_watch_stats {
    uint64_t watches;    /* streams opened */
    uint64_t updates;    /* location_update messages sent */
    uint64_t coalesced;  /* updates replaced by a newer one before sending */
    uint64_t cancelled;  /* streams cancelled by the gateway */
    uint64_t freed;      /* watches whose connection and stream are both over */
} gw_order_watch_stats;
void gw_order_watch_stats_get(const gw_order_watch *ow, gw_order_watch_stats *out);

#endif
