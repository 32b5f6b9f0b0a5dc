/* menu_handlers.c - MenuService RPCs: request validation, then the cache
 * (reads) or the store plus invalidation and change events (writes).
 *
 * Every handler runs on an RPC server thread and may block (PostgreSQL,
 * Redis); ctx is the menu_service. Validation failures are
 * INVALID_ARGUMENT with a message naming the field, checked in the order
 * the fields are declared. Helpers named *_or_fail answer the call
 * themselves and return -1, so the handler just returns.
 *
 * Write path: commit (menu_store) -> invalidate every affected cached part
 * (menu_cache_invalidate: never fails, see menu_cache.c) -> change event
 * (menu_events_publish) -> reply. So once the client has the reply, any
 * read on any replica sees the write.
 */
#include "menu_handlers.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menu_util.h"
#include "se_log.h"

#define CITY_MAX 128
#define BULK_MAX 500
#define ORDER_ITEMS_MAX 100

/* ---- validation helpers ------------------------------------------------------- */

static int id_or_fail(se_call *call, int64_t id, const char *field)
{
    if (id > 0)
        return 0;
    se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                 "%s must be a positive integer (got %" PRId64 ")", field, id);
    return -1;
}

static int enum_or_fail(se_call *call, int v, const ProtobufCEnumDescriptor *d, const char *field,
                        int required)
{
    if (v == 0 && required) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s is required", field);
        return -1;
    }
    if (protobuf_c_enum_descriptor_get_value(d, v) == NULL) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s %d is not a known %s value", field, v,
                     d->short_name);
        return -1;
    }
    return 0;
}

/* ---- reads through the cache --------------------------------------------------- */

typedef struct load_ctx {
    menu_store *store;
    int64_t restaurant_id;
    const menu_list_query *list; /* MENU_PART_LIST */
} load_ctx;

static void pack(ProtobufCMessage *m, menu_blob *out)
{
    out->len = protobuf_c_message_get_packed_size(m);
    out->data = se_xmalloc(out->len);
    protobuf_c_message_pack(m, out->data);
    se_msg_free(m);
}

static int load_part(void *arg, menu_part part, menu_blob *out, se_status *st)
{
    load_ctx *l = arg;
    ProtobufCMessage *m = NULL;
    int rc = -1;
    switch (part) {
    case MENU_PART_RESTAURANT:
        rc = menu_store_get_restaurant(l->store, l->restaurant_id,
                                       (Swifteats__V1__Restaurant **)&m, st);
        break;
    case MENU_PART_MENU:
        rc = menu_store_get_menu(l->store, l->restaurant_id, (Swifteats__V1__Menu **)&m, st);
        break;
    case MENU_PART_STATUS:
        rc = menu_store_get_status(l->store, l->restaurant_id,
                                   (Swifteats__V1__RestaurantLiveStatus **)&m, st);
        break;
    case MENU_PART_LIST:
        rc = menu_store_list(l->store, l->list, (Swifteats__V1__ListRestaurantsResponse **)&m, st);
        break;
    default:
        se_status_set(st, GRPC_STATUS_INTERNAL, "menu: unknown cache part %d", (int)part);
        break;
    }
    if (rc != 0)
        return -1;
    pack(m, out);
    return 0;
}

static const ProtobufCMessageDescriptor *const part_desc[MENU_N_PARTS] = {
    &swifteats__v1__restaurant__descriptor,
    &swifteats__v1__menu__descriptor,
    &swifteats__v1__restaurant_live_status__descriptor,
    &swifteats__v1__list_restaurants_response__descriptor,
};

/* Unpacks a cached part; NULL (logged) if the bytes do not decode. */
static ProtobufCMessage *unpack(menu_part part, menu_blob *b)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(part_desc[part], NULL, b->len, b->data);
    free(b->data);
    b->data = NULL;
    if (m == NULL)
        se_log_error("menu_cache_corrupt", "a cached %s did not decode (%zu bytes)",
                     part_desc[part]->short_name, b->len);
    return m;
}

/* Gets n parts and unpacks them into msgs; answers the call and returns -1
 * on failure. */
static int parts_or_fail(se_call *call, menu_service *svc, int64_t rid, const char *list_key,
                         const menu_list_query *q, const menu_part *parts, size_t n,
                         ProtobufCMessage **msgs)
{
    load_ctx l = {menu_service_store(svc), rid, q};
    menu_blob b[3];
    se_status st;
    if (menu_cache_get(menu_service_cache(svc), rid, list_key, parts, n, load_part, &l, b, &st) !=
        0) {
        se_call_fail(call, st.code, "%s", st.message);
        return -1;
    }
    int bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= (msgs[i] = unpack(parts[i], &b[i])) == NULL;
    if (!bad)
        return 0;
    for (size_t i = 0; i < n; i++)
        se_msg_free(msgs[i]);
    se_call_fail(call, GRPC_STATUS_INTERNAL, "menu: cached data did not decode");
    return -1;
}

/* One part answered with its packed bytes as the cache (or the load) gave
 * them: no unpack/pack on the hot path. The bytes were packed from this
 * very message type (load_part), and a cached value counts only under its
 * key and generation tag (menu_cache.c), so they are forwarded unchecked. */
static void reply_part(se_call *call, menu_service *svc, int64_t rid, menu_part part)
{
    if (id_or_fail(call, rid, "restaurant_id") != 0)
        return;
    load_ctx l = {menu_service_store(svc), rid, NULL};
    menu_blob b;
    se_status st;
    if (menu_cache_get(menu_service_cache(svc), rid, NULL, &part, 1, load_part, &l, &b, &st) !=
        0) {
        se_call_fail(call, st.code, "%s", st.message);
        return;
    }
    se_call_reply_packed(call, b.data, b.len);
    free(b.data);
}

static void get_restaurant(se_call *call, const Swifteats__V1__GetRestaurantRequest *req,
                           void *ctx)
{
    reply_part(call, ctx, req->restaurant_id, MENU_PART_RESTAURANT);
}

static void get_menu(se_call *call, const Swifteats__V1__GetMenuRequest *req, void *ctx)
{
    reply_part(call, ctx, req->restaurant_id, MENU_PART_MENU);
}

static void get_restaurant_status(se_call *call,
                                  const Swifteats__V1__GetRestaurantStatusRequest *req, void *ctx)
{
    reply_part(call, ctx, req->restaurant_id, MENU_PART_STATUS);
}

static void get_menu_with_status(se_call *call, const Swifteats__V1__GetMenuWithStatusRequest *req,
                                 void *ctx)
{
    if (id_or_fail(call, req->restaurant_id, "restaurant_id") != 0)
        return;
    static const menu_part parts[] = {MENU_PART_RESTAURANT, MENU_PART_MENU, MENU_PART_STATUS};
    ProtobufCMessage *m[3];
    if (parts_or_fail(call, ctx, req->restaurant_id, NULL, NULL, parts, 3, m) != 0)
        return;
    Swifteats__V1__MenuWithStatus resp = SWIFTEATS__V1__MENU_WITH_STATUS__INIT;
    resp.restaurant = (Swifteats__V1__Restaurant *)m[0];
    resp.menu = (Swifteats__V1__Menu *)m[1];
    resp.status = (Swifteats__V1__RestaurantLiveStatus *)m[2];
    se_call_reply(call, &resp.base);
    for (int i = 0; i < 3; i++)
        se_msg_free(m[i]);
}

/* ---- ListRestaurants ------------------------------------------------------------ */

static int list_query_or_fail(se_call *call, const Swifteats__V1__ListRestaurantsRequest *req,
                              menu_list_query *q, char *city_lower)
{
    if (enum_or_fail(call, req->cuisine_type, &swifteats__v1__cuisine_type__descriptor,
                     "cuisine_type", 0) != 0 ||
        enum_or_fail(call, req->status, &swifteats__v1__restaurant_status__descriptor, "status",
                     0) != 0)
        return -1;
    if (!(req->min_rating >= 0 && req->min_rating <= 5)) { /* also NaN */
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "min_rating must be between 0 and 5");
        return -1;
    }
    size_t city_len = strlen(req->city);
    if (city_len > CITY_MAX) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "city must be at most %d bytes (got %zu)",
                     CITY_MAX, city_len);
        return -1;
    }
    if (req->page < 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "page must be >= 1 (got %d)", req->page);
        return -1;
    }
    if (req->page_size < 0 || req->page_size > 100) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "page_size must be between 1 and 100 (got %d)", req->page_size);
        return -1;
    }
    for (size_t i = 0; i <= city_len; i++)
        city_lower[i] = (char)tolower((unsigned char)req->city[i]);
    *q = (menu_list_query){.cuisine = req->cuisine_type,
                           .status = req->status,
                           .min_rating = req->min_rating,
                           .city = city_lower,
                           .page = req->page ? req->page : 1,
                           .page_size = req->page_size ? req->page_size : 20};
    return 0;
}

static void list_restaurants(se_call *call, const Swifteats__V1__ListRestaurantsRequest *req,
                             void *ctx)
{
    menu_list_query q;
    char city[CITY_MAX + 1];
    if (list_query_or_fail(call, req, &q, city) != 0)
        return;
    char key[256];
    snprintf(key, sizeof key, "c%d:s%d:r%.17g:p%d:n%d:%s", q.cuisine, q.status, q.min_rating,
             q.page, q.page_size, q.city);
    menu_part part = MENU_PART_LIST;
    ProtobufCMessage *m;
    if (parts_or_fail(call, ctx, 0, key, &q, &part, 1, &m) != 0)
        return;
    se_call_reply(call, m);
    se_msg_free(m);
}

/* ---- writes ------------------------------------------------------------------------ */

/* Invalidate, then tell the watchers: see the file comment. */
static void after_commit(menu_service *svc, int64_t rid, unsigned what)
{
    menu_cache_invalidate(menu_service_cache(svc), rid, what);
    menu_events_publish(menu_service_events(svc), rid, what);
}

static void update_restaurant_status(se_call *call,
                                     const Swifteats__V1__UpdateRestaurantStatusRequest *req,
                                     void *ctx)
{
    int has_cap = req->_current_capacity_case != 0;
    if (id_or_fail(call, req->restaurant_id, "restaurant_id") != 0 ||
        enum_or_fail(call, req->status, &swifteats__v1__restaurant_status__descriptor, "status",
                     1) != 0)
        return;
    if (has_cap && req->current_capacity < 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "current_capacity must be >= 0 (got %d)",
                     req->current_capacity);
        return;
    }
    se_status st;
    int32_t cap = 0;
    if (menu_store_update_status(menu_service_store(ctx), req->restaurant_id, req->status, has_cap,
                                 req->current_capacity, &cap, &st) != 0) {
        se_call_fail(call, st.code, "%s", st.message);
        return;
    }
    after_commit(ctx, req->restaurant_id,
                 MENU_CHANGED_RESTAURANT | MENU_CHANGED_STATUS | MENU_CHANGED_LISTS);
    char msg[128];
    snprintf(msg, sizeof msg, "restaurant %" PRId64 " status set to %s", req->restaurant_id,
             menu_status_text(req->status));
    Swifteats__V1__UpdateRestaurantStatusResponse resp =
        SWIFTEATS__V1__UPDATE_RESTAURANT_STATUS_RESPONSE__INIT;
    resp.success = 1;
    resp.message = msg;
    resp.restaurant_id = req->restaurant_id;
    resp.status = req->status;
    resp.current_capacity = cap;
    se_call_reply(call, &resp.base);
}

static void update_item_availability(se_call *call,
                                     const Swifteats__V1__UpdateItemAvailabilityRequest *req,
                                     void *ctx)
{
    if (id_or_fail(call, req->restaurant_id, "restaurant_id") != 0 ||
        id_or_fail(call, req->item_id, "item_id") != 0)
        return;
    if (!req->_available_case || !req->_in_stock_case) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s is required",
                     !req->_available_case ? "available" : "in_stock");
        return;
    }
    se_status st;
    if (menu_store_update_item(menu_service_store(ctx), req->restaurant_id, req->item_id,
                               req->available, req->in_stock, &st) != 0) {
        se_call_fail(call, st.code, "%s", st.message);
        return;
    }
    after_commit(ctx, req->restaurant_id, MENU_CHANGED_MENU);
    char msg[128];
    snprintf(msg, sizeof msg, "item %" PRId64 " of restaurant %" PRId64 " updated", req->item_id,
             req->restaurant_id);
    Swifteats__V1__UpdateItemAvailabilityResponse resp =
        SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_RESPONSE__INIT;
    resp.success = 1;
    resp.message = msg;
    resp.restaurant_id = req->restaurant_id;
    resp.item_id = req->item_id;
    resp.available = req->available;
    resp.in_stock = req->in_stock;
    se_call_reply(call, &resp.base);
}

/* Validates the entries and folds duplicates (first position, last values)
 * into flags[]; returns how many, or -1 after answering the call. */
static int bulk_items_or_fail(se_call *call,
                              const Swifteats__V1__BulkUpdateItemAvailabilityRequest *req,
                              menu_item_flags *flags)
{
    if (req->n_items == 0 || req->n_items > BULK_MAX) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "items must hold 1 to %d entries (got %zu)", BULK_MAX, req->n_items);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < req->n_items; i++) {
        const Swifteats__V1__ItemAvailability *it = req->items[i];
        const char *missing = it->item_id <= 0 ? "item_id must be a positive integer"
                              : !it->_available_case ? "available is required"
                              : !it->_in_stock_case  ? "in_stock is required"
                                                     : NULL;
        if (missing != NULL) {
            se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "items[%zu].%s", i, missing);
            return -1;
        }
        int j = 0;
        while (j < n && flags[j].item_id != it->item_id)
            j++;
        flags[j] = (menu_item_flags){it->item_id, it->available, it->in_stock};
        n += j == n;
    }
    return n;
}

static void bulk_reply(se_call *call, int64_t rid, const menu_item_flags *flags, int n)
{
    Swifteats__V1__ItemAvailability *items = se_xcalloc((size_t)n, sizeof *items);
    Swifteats__V1__ItemAvailability **ptrs = se_xcalloc((size_t)n, sizeof *ptrs);
    for (int i = 0; i < n; i++) {
        swifteats__v1__item_availability__init(&items[i]);
        items[i].item_id = flags[i].item_id;
        items[i]._available_case = SWIFTEATS__V1__ITEM_AVAILABILITY___AVAILABLE_AVAILABLE;
        items[i].available = flags[i].available;
        items[i]._in_stock_case = SWIFTEATS__V1__ITEM_AVAILABILITY___IN_STOCK_IN_STOCK;
        items[i].in_stock = flags[i].in_stock;
        ptrs[i] = &items[i];
    }
    char msg[64];
    snprintf(msg, sizeof msg, "%d item%s updated", n, n == 1 ? "" : "s");
    Swifteats__V1__BulkUpdateItemAvailabilityResponse resp =
        SWIFTEATS__V1__BULK_UPDATE_ITEM_AVAILABILITY_RESPONSE__INIT;
    resp.success = 1;
    resp.message = msg;
    resp.restaurant_id = rid;
    resp.n_updated_items = (size_t)n;
    resp.updated_items = ptrs;
    se_call_reply(call, &resp.base);
    free(ptrs);
    free(items);
}

static void bulk_update_item_availability(
    se_call *call, const Swifteats__V1__BulkUpdateItemAvailabilityRequest *req, void *ctx)
{
    if (id_or_fail(call, req->restaurant_id, "restaurant_id") != 0)
        return;
    menu_item_flags *flags = se_xcalloc(req->n_items, sizeof *flags);
    int n = bulk_items_or_fail(call, req, flags);
    se_status st;
    if (n < 0) {
        free(flags);
        return;
    }
    if (menu_store_bulk_update(menu_service_store(ctx), req->restaurant_id, flags, (size_t)n,
                               &st) != 0) {
        se_call_fail(call, st.code, "%s", st.message);
        free(flags);
        return;
    }
    after_commit(ctx, req->restaurant_id, MENU_CHANGED_MENU);
    bulk_reply(call, req->restaurant_id, flags, n);
    free(flags);
}

/* ---- internal RPCs ------------------------------------------------------------------ */

static void get_items_for_order(se_call *call, const Swifteats__V1__GetItemsForOrderRequest *req,
                                void *ctx)
{
    if (req->n_item_ids == 0 || req->n_item_ids > ORDER_ITEMS_MAX) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "item_ids must hold 1 to %d ids (got %zu)", ORDER_ITEMS_MAX, req->n_item_ids);
        return;
    }
    for (size_t i = 0; i < req->n_item_ids; i++) {
        if (req->item_ids[i] <= 0) {
            se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                         "item_ids[%zu] must be a positive integer (got %" PRId64 ")", i,
                         req->item_ids[i]);
            return;
        }
    }
    /* Straight from PostgreSQL: prices and availability must be current. */
    Swifteats__V1__GetItemsForOrderResponse *resp = NULL;
    se_status st;
    if (menu_store_items_for_order(menu_service_store(ctx), req->item_ids, req->n_item_ids, &resp,
                                   &st) != 0) {
        se_call_fail(call, st.code, "%s", st.message);
        return;
    }
    se_call_reply(call, &resp->base);
    se_msg_free(&resp->base);
}

static void watch_menu_changes(se_call *call, const Swifteats__V1__WatchMenuChangesRequest *req,
                               void *ctx)
{
    (void)req;
    menu_events_watch(menu_service_events(ctx), call);
}

const swifteats_v1_menu_service_handlers menu_handlers = {
    .list_restaurants = list_restaurants,
    .get_restaurant = get_restaurant,
    .get_menu = get_menu,
    .get_restaurant_status = get_restaurant_status,
    .get_menu_with_status = get_menu_with_status,
    .update_restaurant_status = update_restaurant_status,
    .update_item_availability = update_item_availability,
    .bulk_update_item_availability = bulk_update_item_availability,
    .get_items_for_order = get_items_for_order,
    .watch_menu_changes = watch_menu_changes,
};
