/* order_pricing.c - see order_pricing.h.
 *
 * Batching (se_batch.h): each order's id list is an entry; a batch packs
 * the entries' ids into as few GetItemsForOrder calls as the 100-id limit
 * allows and hands each entry its own slice of the answer (the items are
 * moved out of the response, so every order owns what it priced with).
 */
#include "order_pricing.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_batch.h"
#include "se_log.h"
#include "swifteats/v1/menu.se.h"

#define MENU_IDS_MAX 100 /* GetItemsForOrder's limit */

struct order_pricing {
    se_channel *menu; /* process-wide channel, never freed before se_rpc_shutdown */
    char *target;     /* owned, for messages */
    int timeout_ms;   /* deadline of each GetItemsForOrder call */
    se_batch *batch;
};

/* One order's look-up in a batch. */
typedef struct lookup {
    const int64_t *ids;
    size_t n;
    const char *request_id;
    Swifteats__V1__OrderableItem **items; /* out: n, owned */
    se_status st;                          /* out: on failure (items NULL) */
} lookup;

static void run_lookups(void *ctx, void **raw, int n);

order_pricing *order_pricing_create(const char *menu_target, int timeout_ms, int max_batch,
                                    int max_in_flight)
{
    order_pricing *p = se_xcalloc(1, sizeof *p);
    p->target = se_xstrdup(menu_target);
    p->menu = se_channel_get(p->target);
    p->timeout_ms = timeout_ms;
    p->batch = se_batch_create(run_lookups, p, max_batch, max_in_flight);
    return p;
}

void order_pricing_destroy(order_pricing *p)
{
    if (p == NULL)
        return;
    se_batch_destroy(p->batch);
    free(p->target);
    free(p);
}

static void free_items(Swifteats__V1__OrderableItem **items, size_t n)
{
    for (size_t i = 0; items != NULL && i < n; i++)
        se_msg_free(items[i] ? &items[i]->base : NULL);
    free(items);
}

void order_priced_dispose(order_priced *pr)
{
    free(pr->lines);
    free_items(pr->items, pr->n_items);
    *pr = (order_priced){0};
}

/* ---- the menu call, for a batch of orders ------------------------------------------- */

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

/* One GetItemsForOrder call for the lookups l[0..n) (their ids fit in
 * MENU_IDS_MAX together): fills each one's items or status. */
static void lookup_call(order_pricing *p, lookup **l, int n)
{
    int64_t ids[MENU_IDS_MAX];
    size_t total = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < l[i]->n; k++)
            ids[total++] = l[i]->ids[k];
    Swifteats__V1__GetItemsForOrderRequest mreq = SWIFTEATS__V1__GET_ITEMS_FOR_ORDER_REQUEST__INIT;
    mreq.item_ids = ids;
    mreq.n_item_ids = total;
    /* A call serves every order of its batch, so it is not tied to the
     * server call of the thread that leads it (detach); it carries the
     * request id of its first order. */
    se_call_opts opts = {.timeout_ms = p->timeout_ms, .request_id = l[0]->request_id,
                         .detach = 1};
    Swifteats__V1__GetItemsForOrderResponse *menu = NULL;
    se_status ms, st;
    if (swifteats_v1_menu_service_get_items_for_order(p->menu, &mreq, &menu, &opts, &ms) != 0) {
        se_log_warn("order_menu_unavailable", "GetItemsForOrder on %s: %s: %s", p->target,
                    se_status_name(ms.code), ms.message);
        se_status_set(&st, GRPC_STATUS_UNAVAILABLE, "menu service unavailable (%s: %.150s)",
                      se_status_name(ms.code), ms.message);
    } else if (answer_matches(menu, ids, total) != 0) {
        se_log_error("order_menu_bad_answer", "GetItemsForOrder on %s: %zu items for %zu ids",
                     p->target, menu->n_items, total);
        se_status_set(&st, GRPC_STATUS_INTERNAL, "menu service answered a different item list");
    } else {
        size_t at = 0;
        for (int i = 0; i < n; i++) {
            l[i]->items = se_xcalloc(l[i]->n, sizeof *l[i]->items);
            for (size_t k = 0; k < l[i]->n; k++, at++) {
                l[i]->items[k] = menu->items[at];
                menu->items[at] = NULL; /* moved */
            }
        }
        menu->n_items = 0;
        free(menu->items);
        menu->items = NULL;
        se_msg_free(&menu->base);
        return;
    }
    se_msg_free(menu ? &menu->base : NULL);
    for (int i = 0; i < n; i++)
        l[i]->st = st;
}

/* The batch in as few calls as the id limit allows, in order. */
static void run_lookups(void *ctx, void **raw, int n)
{
    lookup **l = (lookup **)raw;
    for (int first = 0; first < n;) {
        size_t ids = l[first]->n;
        int end = first + 1;
        while (end < n && ids + l[end]->n <= MENU_IDS_MAX)
            ids += l[end++]->n;
        lookup_call(ctx, l + first, end - first);
        first = end;
    }
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
        const Swifteats__V1__OrderableItem *m = pr->items[i];
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

int order_pricing_check(order_pricing *p, const Swifteats__V1__CreateOrderRequest *req,
                        const int64_t *ids, const char *request_id, order_priced *out,
                        se_status *st)
{
    *out = (order_priced){0};
    lookup l = {.ids = ids, .n = req->n_items, .request_id = request_id};
    se_batch_submit(p->batch, &l);
    if (l.items == NULL) {
        *st = l.st;
        return -1;
    }
    out->items = l.items;
    out->n_items = l.n;
    if (price_lines(req, out, st) != 0) {
        order_priced_dispose(out);
        return -1;
    }
    return 0;
}

void order_pricing_stats(order_pricing *p, unsigned long *batches, unsigned long *orders)
{
    se_batch_stats(p->batch, batches, orders);
}
