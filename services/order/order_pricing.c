/* order_pricing.c - see order_pricing.h. */
#include "order_pricing.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_log.h"
#include "swifteats/v1/menu.se.h"

struct order_pricing {
    se_channel *menu; /* process-wide channel, never freed before se_rpc_shutdown */
    char *target;     /* owned, for messages */
    int timeout_ms;   /* deadline of each GetItemsForOrder call */
};

order_pricing *order_pricing_create(const char *menu_target, int timeout_ms)
{
    order_pricing *p = se_xcalloc(1, sizeof *p);
    p->target = se_xstrdup(menu_target);
    p->menu = se_channel_get(p->target);
    p->timeout_ms = timeout_ms;
    return p;
}

void order_pricing_destroy(order_pricing *p)
{
    if (p == NULL)
        return;
    free(p->target);
    free(p);
}

void order_priced_dispose(order_priced *pr)
{
    free(pr->lines);
    se_msg_free(pr->menu ? &pr->menu->base : NULL);
    *pr = (order_priced){0};
}

/* "closed" for RESTAURANT_STATUS_CLOSED: the enum name without its type
 * prefix, lower-cased (the REST spelling), into buf. */
static const char *restaurant_status_name(int v, char *buf, size_t cap)
{
    const ProtobufCEnumValue *ev =
        protobuf_c_enum_descriptor_get_value(&swifteats__v1__restaurant_status__descriptor, v);
    if (ev == NULL) {
        snprintf(buf, cap, "in state %d", v);
        return buf;
    }
    const char *name = ev->name;
    if (strncmp(name, "RESTAURANT_STATUS_", 18) == 0)
        name += 18;
    size_t i = 0;
    for (; name[i] && i + 1 < cap; i++)
        buf[i] = (char)tolower((unsigned char)name[i]);
    buf[i] = '\0';
    return buf;
}

/* The checks of one item (see the header); 0 or -1 with st filled. */
static int check_item(size_t i, const Swifteats__V1__CreateOrderItem *want,
                      const Swifteats__V1__OrderableItem *m, se_status *st)
{
    char state[32];
    if (!m->found) {
        se_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                      "items[%zu].item_id %" PRId64 " names no menu item", i, m->item_id);
    } else if (m->restaurant_status != SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_OPEN &&
               m->restaurant_status != SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_BUSY) {
        se_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                      "items[%zu].item_id %" PRId64 " (%.80s): its restaurant %" PRId64
                      " is %s, not open or busy",
                      i, m->item_id, m->name, m->restaurant_id,
                      restaurant_status_name(m->restaurant_status, state, sizeof state));
    } else if (!m->available || !m->in_stock) {
        se_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                      "items[%zu].item_id %" PRId64 " (%.80s) is %s", i, m->item_id, m->name,
                      !m->available ? "unavailable" : "out of stock");
    } else if (want->price != m->price) {
        /* money as people (and REST clients) read it; both prices are > 0 */
        se_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                      "items[%zu].price %" PRId64 ".%02" PRId64
                      " differs from the menu price %" PRId64 ".%02" PRId64,
                      i, want->price / 100, want->price % 100, m->price / 100, m->price % 100);
    } else {
        return 0;
    }
    return -1;
}

/* Lines and total from the menu's answer; -1 with st on a failed check. */
static int price_lines(const Swifteats__V1__CreateOrderRequest *req, order_priced *pr,
                       se_status *st)
{
    pr->lines = se_xcalloc(req->n_items, sizeof *pr->lines);
    pr->n = req->n_items;
    for (size_t i = 0; i < req->n_items; i++) {
        const Swifteats__V1__OrderableItem *m = pr->menu->items[i];
        if (check_item(i, req->items[i], m, st) != 0)
            return -1;
        int64_t line;
        if (__builtin_mul_overflow(m->price, (int64_t)req->items[i]->quantity, &line) ||
            __builtin_add_overflow(pr->total, line, &pr->total)) {
            se_status_set(st, GRPC_STATUS_INVALID_ARGUMENT,
                          "items[%zu]: the order total overflows", i);
            return -1;
        }
        pr->lines[i] = (order_line){m->item_id, m->name, req->items[i]->quantity, m->price};
    }
    return 0;
}

/* 0 if the menu answered one entry per id, in order (its contract). */
static int answer_matches(const Swifteats__V1__GetItemsForOrderResponse *menu,
                          const int64_t *ids, size_t n)
{
    if (menu->n_items != n)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (menu->items[i] == NULL || menu->items[i]->item_id != ids[i])
            return -1;
    return 0;
}

int order_pricing_check(order_pricing *p, const Swifteats__V1__CreateOrderRequest *req,
                        const int64_t *ids, order_priced *out, se_status *st)
{
    *out = (order_priced){0};
    Swifteats__V1__GetItemsForOrderRequest mreq = SWIFTEATS__V1__GET_ITEMS_FOR_ORDER_REQUEST__INIT;
    mreq.item_ids = (int64_t *)ids;
    mreq.n_item_ids = req->n_items;
    se_call_opts opts = {.timeout_ms = p->timeout_ms};
    se_status ms;
    if (swifteats_v1_menu_service_get_items_for_order(p->menu, &mreq, &out->menu, &opts, &ms) !=
        0) {
        se_log_warn("order_menu_unavailable", "GetItemsForOrder on %s: %s: %s", p->target,
                    se_status_name(ms.code), ms.message);
        se_status_set(st, GRPC_STATUS_UNAVAILABLE, "menu service unavailable (%s: %.150s)",
                      se_status_name(ms.code), ms.message);
        return -1;
    }
    if (answer_matches(out->menu, ids, req->n_items) != 0) {
        se_log_error("order_menu_bad_answer", "GetItemsForOrder on %s: %zu items for %zu ids",
                     p->target, out->menu->n_items, req->n_items);
        se_status_set(st, GRPC_STATUS_INTERNAL, "menu service answered a different item list");
        order_priced_dispose(out);
        return -1;
    }
    if (price_lines(req, out, st) != 0) {
        order_priced_dispose(out);
        return -1;
    }
    return 0;
}
