/* order_util.h - small things every file of the order service shares:
 * enum <-> database text, id text. (Allocation: se_alloc.h; timestamps:
 * se_time.h.) Internal to services/order. */
#ifndef ORDER_UTIL_H
#define ORDER_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "swifteats/v1/order.pb-c.h"

/* Database text <-> proto enum. The text is the enum value's name without
 * its type prefix, lower-cased ("payment_processing", "success"): must be
 * synced with swifteats.v1.OrderStatus / PaymentAttemptStatus and the CHECK
 * constraints of migrations/001_orders.sql. Unknown text gives 0
 * (UNSPECIFIED); an unknown or unspecified value gives NULL. */
const char *order_status_text(int status);
int order_status_from_text(const char *s);
const char *order_attempt_status_text(int status);
int order_attempt_status_from_text(const char *s);

/* The canonical decimal text of a positive int64 (what OrderItem.item_id
 * carries): buf must hold 21 bytes. Returns buf. */
char *order_id_text(char *buf, int64_t id);

/* Parses a canonical positive integer: 1-19 digits, no sign, no leading
 * zero, at most INT64_MAX. 0 and *out set, or -1. */
int order_parse_id(const char *s, int64_t *out);

#endif
