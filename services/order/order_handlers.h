/* order_handlers.h - the OrderService handler table (order_handlers.c); its
 * ctx is the order_service. Internal to services/order. */
#ifndef ORDER_HANDLERS_H
#define ORDER_HANDLERS_H

#include "order_service.h"
#include "swifteats/v1/order.se.h"

extern const swifteats_v1_order_service_handlers order_handlers;

#endif
