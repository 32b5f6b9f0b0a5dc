/* order_pricing.h - prices a CreateOrder request with the menu service:
 * ONE MenuService.GetItemsForOrder call for all its items (shared with the
 * orders being priced at the same moment: concurrent calls are batched,
 * se_batch.h, up to the call's 100 ids), then the checks
 * of proto/swifteats/v1/order.proto, item by item in request order (the
 * first failing item is reported):
 *   unknown item                          INVALID_ARGUMENT
 *     "items[i].item_id 123 names no menu item"
 *   restaurant neither open nor busy,
 *   item unavailable, item out of stock   FAILED_PRECONDITION naming the item
 *   client price != menu price            FAILED_PRECONDITION
 *     "items[i].price 1299 differs from the menu price 1399 (13.99)"
 *   menu service unreachable or failing   UNAVAILABLE
 * The order's lines then carry the MENU's name and price, and the total is
 * computed here from them.
 *
 * THREAD: order_pricing_check may be called from any thread at once; it
 * blocks on the gRPC call (deadline: the configured timeout; the call is
 * not tied to the server call of the thread that makes it, since it may
 * serve several).
 *
 * Configuration (order_service.h): SE_ORDER_MENU_BATCH (16) orders per
 * call at most, SE_ORDER_MENU_CONCURRENCY (2) calls in flight.
 */
#ifndef ORDER_PRICING_H
#define ORDER_PRICING_H

#include <stddef.h>
#include <stdint.h>

#include "order_store.h"
#include "se_rpc.h"
#include "swifteats/v1/menu.pb-c.h"
#include "swifteats/v1/order.pb-c.h"

typedef struct order_pricing order_pricing;

/* A pricer calling the menu service at `menu_target` (any gRPC target,
 * e.g. se_config_target("MENU")) with calls of at most timeout_ms, each
 * for up to max_batch orders, at most max_in_flight at once.
 * OWNERSHIP: the target is copied; the caller destroys the pricer.
 * THREAD: after se_rpc_init. */
order_pricing *order_pricing_create(const char *menu_target, int timeout_ms, int max_batch,
                                    int max_in_flight);
void order_pricing_destroy(order_pricing *p);

/* A priced order: lines[i] is request item i with the menu's name and
 * price. */
typedef struct order_priced {
    order_line *lines;                    /* n, owned */
    size_t n;
    int64_t total;                        /* sum of price x quantity */
    Swifteats__V1__OrderableItem **items; /* n_items, owned; lines' names point into them */
    size_t n_items;
} order_priced;

/* Prices req's items; `ids` are their item_id values already parsed (the
 * request is validated); request_id: the CreateOrder call's (sent with a
 * call this order leads). 0 and *out (dispose it), or -1 with st filled as
 * in the header comment and nothing to dispose. */
int order_pricing_check(order_pricing *p, const Swifteats__V1__CreateOrderRequest *req,
                        const int64_t *ids, const char *request_id, order_priced *out,
                        se_status *st);

void order_priced_dispose(order_priced *pr);

/* Batches run and orders they priced so far (tests, metrics). */
void order_pricing_stats(order_pricing *p, unsigned long *batches, unsigned long *orders);

#endif
