/* test_menu_service.c - every MenuService RPC over real gRPC (generated
 * client stubs -> in-process server on port 0 -> PostgreSQL and Redis of
 * the test stack): answers, NOT_FOUND, pagination and filters, validation
 * errors naming the field, operator writes, and WatchMenuChanges events
 * (local and from another replica through Redis Pub/Sub).
 */
#include <math.h>

#include "menu_test.h"

/* ---- reads ------------------------------------------------------------------- */

START_TEST(get_restaurant_returns_the_seeded_row)
{
    se_status st;
    Swifteats__V1__Restaurant *r = mt_get_restaurant(1, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_int_eq(r->id, 1);
    ck_assert_int_eq(r->status, SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_OPEN);
    ck_assert_int_eq(r->cuisine_type, SWIFTEATS__V1__CUISINE_TYPE__CUISINE_TYPE_ITALIAN);
    ck_assert_str_eq(r->city, "San Francisco");
    ck_assert(strlen(r->name) > 0 && strlen(r->address) > 0);
    ck_assert(r->rating >= 0 && r->rating <= 5);
    ck_assert(r->latitude > 37 && r->latitude < 38.5);
    ck_assert_ptr_nonnull(r->created_at);
    ck_assert_int_gt(r->created_at->seconds, 1700000000);
    ck_assert_ptr_nonnull(r->updated_at);
    ck_assert_int_eq(r->_operating_hours_case,
                     SWIFTEATS__V1__RESTAURANT___OPERATING_HOURS_OPERATING_HOURS);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(unknown_restaurant_is_not_found_everywhere)
{
    se_status st;
    ck_assert_ptr_null(mt_get_restaurant(999999, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    ck_assert_str_eq(st.message, "restaurant 999999 not found");
    ck_assert_ptr_null(mt_get_menu(999999, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    ck_assert_ptr_null(mt_get_status(999999, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    Swifteats__V1__GetMenuWithStatusRequest req = SWIFTEATS__V1__GET_MENU_WITH_STATUS_REQUEST__INIT;
    req.restaurant_id = 999999;
    Swifteats__V1__MenuWithStatus *m = NULL;
    swifteats_v1_menu_service_get_menu_with_status(mt_ch, &req, &m, NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
}
END_TEST

START_TEST(restaurant_id_must_be_positive)
{
    se_status st;
    int64_t bad[] = {0, -5};
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_null(mt_get_restaurant(bad[i], &st));
        ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
        ck_assert_msg(strstr(st.message, "restaurant_id") != NULL, "%s", st.message);
        ck_assert_ptr_null(mt_get_menu(bad[i], &st));
        ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
        ck_assert_ptr_null(mt_get_status(bad[i], &st));
        ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
        ck_assert_msg(strstr(st.message, "restaurant_id") != NULL, "%s", st.message);
    }
}
END_TEST

START_TEST(get_menu_orders_categories_and_items)
{
    se_status st;
    Swifteats__V1__Menu *m = mt_get_menu(2, &st);
    ck_assert_msg(m != NULL, "%s", st.message);
    ck_assert_int_eq(m->restaurant_id, 2);
    ck_assert_ptr_nonnull(m->updated_at);
    ck_assert_uint_eq(m->n_categories, 5);
    int64_t last_item = 0;
    for (size_t c = 0; c < m->n_categories; c++) {
        const Swifteats__V1__MenuCategory *cat = m->categories[c];
        ck_assert_int_eq(cat->display_order, (int)c + 1);
        ck_assert_uint_eq(cat->n_items, 4);
        for (size_t i = 0; i < cat->n_items; i++) {
            ck_assert_int_gt(cat->items[i]->id, last_item);
            ck_assert_int_le(cat->items[i]->id, 2 * MT_ITEMS_PER);
            ck_assert_int_gt(cat->items[i]->price, 0);
            ck_assert(strlen(cat->items[i]->name) > 0);
            last_item = cat->items[i]->id;
        }
    }
    ck_assert_int_eq(last_item, 2 * MT_ITEMS_PER);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(get_status_and_menu_with_status_agree)
{
    se_status st;
    Swifteats__V1__RestaurantLiveStatus *s = mt_get_status(3, &st);
    ck_assert_msg(s != NULL, "%s", st.message);
    ck_assert_int_eq(s->restaurant_id, 3);
    ck_assert_int_eq(s->status, SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_BUSY);
    ck_assert_ptr_nonnull(s->updated_at);
    Swifteats__V1__GetMenuWithStatusRequest req = SWIFTEATS__V1__GET_MENU_WITH_STATUS_REQUEST__INIT;
    req.restaurant_id = 3;
    Swifteats__V1__MenuWithStatus *m = NULL;
    ck_assert_int_eq(swifteats_v1_menu_service_get_menu_with_status(mt_ch, &req, &m, NULL, &st), 0);
    ck_assert_int_eq(m->restaurant->id, 3);
    ck_assert_int_eq(m->menu->restaurant_id, 3);
    ck_assert_uint_eq(m->menu->n_categories, 5);
    ck_assert_int_eq(m->status->status, s->status);
    ck_assert_int_eq(m->status->current_capacity, s->current_capacity);
    ck_assert_int_eq(m->restaurant->current_capacity, s->current_capacity);
    se_msg_free(&m->base);
    se_msg_free(&s->base);
}
END_TEST

/* ---- ListRestaurants --------------------------------------------------------------- */

static Swifteats__V1__ListRestaurantsResponse *list(Swifteats__V1__ListRestaurantsRequest *req,
                                                    se_status *st)
{
    Swifteats__V1__ListRestaurantsResponse *r = NULL;
    swifteats_v1_menu_service_list_restaurants(mt_ch, req, &r, NULL, st);
    return r;
}

START_TEST(list_defaults_to_page_1_of_20_by_id)
{
    Swifteats__V1__ListRestaurantsRequest req = SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT;
    se_status st;
    Swifteats__V1__ListRestaurantsResponse *r = list(&req, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_int_eq(r->total, MT_RESTAURANTS);
    ck_assert_int_eq(r->page, 1);
    ck_assert_int_eq(r->page_size, 20);
    ck_assert_uint_eq(r->n_restaurants, 20);
    for (size_t i = 0; i < r->n_restaurants; i++)
        ck_assert_int_eq(r->restaurants[i]->id, (int64_t)i + 1);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(list_pages_and_past_the_end)
{
    Swifteats__V1__ListRestaurantsRequest req = SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT;
    req.page = 2;
    req.page_size = 10;
    se_status st;
    Swifteats__V1__ListRestaurantsResponse *r = list(&req, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_uint_eq(r->n_restaurants, 10);
    ck_assert_int_eq(r->restaurants[0]->id, 11);
    ck_assert_int_eq(r->restaurants[9]->id, 20);
    ck_assert_int_eq(r->total, MT_RESTAURANTS);
    se_msg_free(&r->base);
    req.page = 100;
    r = list(&req, &st);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->n_restaurants, 0);
    ck_assert_int_eq(r->total, MT_RESTAURANTS);
    ck_assert_int_eq(r->page, 100);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(list_filters_combine)
{
    se_status st;
    Swifteats__V1__ListRestaurantsRequest req = SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT;
    req.cuisine_type = SWIFTEATS__V1__CUISINE_TYPE__CUISINE_TYPE_THAI;
    Swifteats__V1__ListRestaurantsResponse *r = list(&req, &st);
    ck_assert_int_eq(r->total, 3); /* 27 restaurants, cuisine (i-1)%9+1 */
    for (size_t i = 0; i < r->n_restaurants; i++)
        ck_assert_int_eq(r->restaurants[i]->cuisine_type, req.cuisine_type);
    se_msg_free(&r->base);

    req = (Swifteats__V1__ListRestaurantsRequest)SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT;
    req.status = SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_MAINTENANCE;
    r = list(&req, &st);
    ck_assert_int_ge(r->total, 1);
    ck_assert_int_eq(r->restaurants[0]->id, 4);
    se_msg_free(&r->base);

    req = (Swifteats__V1__ListRestaurantsRequest)SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT;
    req.city = "bOsToN"; /* restaurant 6 is in Boston */
    r = list(&req, &st);
    ck_assert_int_ge(r->total, 1);
    for (size_t i = 0; i < r->n_restaurants; i++)
        ck_assert_str_eq(r->restaurants[i]->city, "Boston");
    se_msg_free(&r->base);

    req = (Swifteats__V1__ListRestaurantsRequest)SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT;
    req.min_rating = 4.0;
    req.status = SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_OPEN;
    r = list(&req, &st);
    ck_assert_ptr_nonnull(r);
    for (size_t i = 0; i < r->n_restaurants; i++) {
        ck_assert(r->restaurants[i]->rating >= 4.0);
        ck_assert_int_eq(r->restaurants[i]->status, req.status);
    }
    se_msg_free(&r->base);
}
END_TEST

/* Expects INVALID_ARGUMENT whose message names `field`. */
static void expect_list_invalid(Swifteats__V1__ListRestaurantsRequest *req, const char *field)
{
    se_status st;
    ck_assert_ptr_null(list(req, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(st.message, field, strlen(field)) == 0, "want %s, got: %s", field,
                  st.message);
}

START_TEST(list_validation_names_the_field)
{
    Swifteats__V1__ListRestaurantsRequest init = SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT, req;
    req = init, req.min_rating = 5.5;
    expect_list_invalid(&req, "min_rating");
    req = init, req.min_rating = -1;
    expect_list_invalid(&req, "min_rating");
    req = init, req.min_rating = NAN;
    expect_list_invalid(&req, "min_rating");
    req = init, req.page = -1;
    expect_list_invalid(&req, "page");
    req = init, req.page_size = 101;
    expect_list_invalid(&req, "page_size");
    req = init, req.page_size = -3;
    expect_list_invalid(&req, "page_size");
    req = init, req.cuisine_type = 42;
    expect_list_invalid(&req, "cuisine_type");
    req = init, req.status = 9;
    expect_list_invalid(&req, "status");
    char city[200];
    memset(city, 'x', sizeof city - 1);
    city[sizeof city - 1] = '\0';
    req = init, req.city = city;
    expect_list_invalid(&req, "city");
}
END_TEST

/* ---- UpdateRestaurantStatus ------------------------------------------------------------- */

START_TEST(update_status_is_seen_by_every_read)
{
    se_status st;
    Swifteats__V1__RestaurantLiveStatus *s = mt_get_status(5, &st); /* warm the cache */
    se_msg_free(&s->base);
    Swifteats__V1__UpdateRestaurantStatusRequest req =
        SWIFTEATS__V1__UPDATE_RESTAURANT_STATUS_REQUEST__INIT;
    req.restaurant_id = 5;
    req.status = SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_MAINTENANCE;
    req._current_capacity_case =
        SWIFTEATS__V1__UPDATE_RESTAURANT_STATUS_REQUEST___CURRENT_CAPACITY_CURRENT_CAPACITY;
    req.current_capacity = 0;
    Swifteats__V1__UpdateRestaurantStatusResponse *resp = NULL;
    ck_assert_int_eq(
        swifteats_v1_menu_service_update_restaurant_status(mt_ch, &req, &resp, NULL, &st), 0);
    ck_assert(resp->success);
    ck_assert_int_eq(resp->restaurant_id, 5);
    ck_assert_int_eq(resp->status, req.status);
    ck_assert_int_eq(resp->current_capacity, 0);
    ck_assert_str_eq(resp->message, "restaurant 5 status set to maintenance");
    se_msg_free(&resp->base);

    s = mt_get_status(5, &st);
    ck_assert_int_eq(s->status, req.status);
    ck_assert_int_eq(s->current_capacity, 0);
    se_msg_free(&s->base);
    Swifteats__V1__Restaurant *r = mt_get_restaurant(5, &st);
    ck_assert_int_eq(r->status, req.status);
    se_msg_free(&r->base);
    Swifteats__V1__ListRestaurantsRequest lr = SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT;
    lr.status = req.status;
    Swifteats__V1__ListRestaurantsResponse *l = list(&lr, &st);
    int seen = 0;
    for (size_t i = 0; i < l->n_restaurants; i++)
        seen |= l->restaurants[i]->id == 5;
    ck_assert(seen);
    se_msg_free(&l->base);

    /* capacity absent: unchanged */
    ck_assert_int_eq(mt_set_status(5, SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_OPEN, -1,
                                   &st),
                     GRPC_STATUS_OK);
    s = mt_get_status(5, &st);
    ck_assert_int_eq(s->status, SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_OPEN);
    ck_assert_int_eq(s->current_capacity, 0);
    se_msg_free(&s->base);
}
END_TEST

START_TEST(update_status_validation)
{
    se_status st;
    ck_assert_int_eq(mt_set_status(1, 0, -1, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "status is required");
    ck_assert_int_eq(mt_set_status(1, 17, -1, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(st.message, "status 17", 9) == 0, "%s", st.message);
    ck_assert_int_eq(mt_set_status(0, 1, -1, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(st.message, "restaurant_id", 13) == 0, "%s", st.message);
    ck_assert_int_eq(mt_set_status(424242, 1, -1, &st), GRPC_STATUS_NOT_FOUND);
    ck_assert_str_eq(st.message, "restaurant 424242 not found");

    Swifteats__V1__UpdateRestaurantStatusRequest req =
        SWIFTEATS__V1__UPDATE_RESTAURANT_STATUS_REQUEST__INIT;
    req.restaurant_id = 1;
    req.status = 1;
    req._current_capacity_case =
        SWIFTEATS__V1__UPDATE_RESTAURANT_STATUS_REQUEST___CURRENT_CAPACITY_CURRENT_CAPACITY;
    req.current_capacity = -1;
    Swifteats__V1__UpdateRestaurantStatusResponse *resp = NULL;
    swifteats_v1_menu_service_update_restaurant_status(mt_ch, &req, &resp, NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(st.message, "current_capacity", 16) == 0, "%s", st.message);

    mt_exec("UPDATE restaurants SET max_capacity = 10, current_capacity = 2 WHERE id = 1");
    ck_assert_int_eq(mt_set_status(1, 1, 11, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "current_capacity 11 exceeds max_capacity 10 of restaurant 1");
    ck_assert_int_eq(mt_set_status(1, 1, 10, &st), GRPC_STATUS_OK);
}
END_TEST

/* ---- item availability --------------------------------------------------------------- */

START_TEST(update_item_availability_round_trip)
{
    (void)mt_item_available(1, 3); /* warm */
    ck_assert_int_eq(mt_set_item(1, 3, 0, 1), GRPC_STATUS_OK);
    ck_assert_int_eq(mt_item_available(1, 3), 0);
    ck_assert_int_eq(mt_set_item(1, 3, 1, 1), GRPC_STATUS_OK);
    ck_assert_int_eq(mt_item_available(1, 3), 1);
    ck_assert_int_eq(mt_set_item(1, 3, 1, 1), GRPC_STATUS_OK); /* same again: fine */
}
END_TEST

START_TEST(update_item_availability_errors)
{
    Swifteats__V1__UpdateItemAvailabilityRequest req =
        SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST__INIT;
    Swifteats__V1__UpdateItemAvailabilityResponse *resp = NULL;
    se_status st;
    req.restaurant_id = 1;
    req.item_id = 2;
    req._in_stock_case = SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST___IN_STOCK_IN_STOCK;
    swifteats_v1_menu_service_update_item_availability(mt_ch, &req, &resp, NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "available is required");
    req._in_stock_case = 0;
    req._available_case = SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST___AVAILABLE_AVAILABLE;
    swifteats_v1_menu_service_update_item_availability(mt_ch, &req, &resp, NULL, &st);
    ck_assert_str_eq(st.message, "in_stock is required");
    ck_assert_int_eq(mt_set_item(1, 0, 1, 1), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(mt_set_item(0, 1, 1, 1), GRPC_STATUS_INVALID_ARGUMENT);
    /* item 21 belongs to restaurant 2 */
    req._in_stock_case = SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST___IN_STOCK_IN_STOCK;
    req.item_id = 21;
    swifteats_v1_menu_service_update_item_availability(mt_ch, &req, &resp, NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    ck_assert_str_eq(st.message, "item 21 not found on the menu of restaurant 1");
    req.restaurant_id = 5000;
    swifteats_v1_menu_service_update_item_availability(mt_ch, &req, &resp, NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    ck_assert_str_eq(st.message, "restaurant 5000 not found");
}
END_TEST

static Swifteats__V1__ItemAvailability entry(int64_t id, int available, int in_stock)
{
    Swifteats__V1__ItemAvailability e = SWIFTEATS__V1__ITEM_AVAILABILITY__INIT;
    e.item_id = id;
    if (available >= 0) {
        e._available_case = SWIFTEATS__V1__ITEM_AVAILABILITY___AVAILABLE_AVAILABLE;
        e.available = available;
    }
    if (in_stock >= 0) {
        e._in_stock_case = SWIFTEATS__V1__ITEM_AVAILABILITY___IN_STOCK_IN_STOCK;
        e.in_stock = in_stock;
    }
    return e;
}

static grpc_status_code bulk(int64_t rid, Swifteats__V1__ItemAvailability *e, size_t n,
                             Swifteats__V1__BulkUpdateItemAvailabilityResponse **resp,
                             se_status *st)
{
    Swifteats__V1__ItemAvailability *ptrs[600];
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &e[i];
    Swifteats__V1__BulkUpdateItemAvailabilityRequest req =
        SWIFTEATS__V1__BULK_UPDATE_ITEM_AVAILABILITY_REQUEST__INIT;
    req.restaurant_id = rid;
    req.n_items = n;
    req.items = ptrs;
    swifteats_v1_menu_service_bulk_update_item_availability(mt_ch, &req, resp, NULL, st);
    return st->code;
}

START_TEST(bulk_update_applies_all_with_duplicates_folded)
{
    Swifteats__V1__ItemAvailability e[] = {entry(41, 0, 1), entry(42, 0, 0), entry(41, 1, 0)};
    Swifteats__V1__BulkUpdateItemAvailabilityResponse *resp = NULL;
    se_status st;
    (void)mt_item_available(3, 42); /* warm */
    ck_assert_int_eq(bulk(3, e, 3, &resp, &st), GRPC_STATUS_OK);
    ck_assert(resp->success);
    ck_assert_str_eq(resp->message, "2 items updated");
    ck_assert_uint_eq(resp->n_updated_items, 2);
    ck_assert_int_eq(resp->updated_items[0]->item_id, 41);
    ck_assert(resp->updated_items[0]->available && !resp->updated_items[0]->in_stock);
    ck_assert_int_eq(resp->updated_items[1]->item_id, 42);
    se_msg_free(&resp->base);
    Swifteats__V1__Menu *m = mt_get_menu(3, &st);
    ck_assert(mt_find_item(m, 41)->available && !mt_find_item(m, 41)->in_stock);
    ck_assert(!mt_find_item(m, 42)->available && !mt_find_item(m, 42)->in_stock);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(bulk_update_is_all_or_nothing)
{
    se_status st;
    ck_assert_int_eq(mt_set_item(3, 43, 1, 1), GRPC_STATUS_OK);
    Swifteats__V1__ItemAvailability e[] = {entry(43, 0, 0), entry(1, 0, 0), entry(777777, 0, 0)};
    Swifteats__V1__BulkUpdateItemAvailabilityResponse *resp = NULL;
    ck_assert_int_eq(bulk(3, e, 3, &resp, &st), GRPC_STATUS_NOT_FOUND);
    ck_assert_str_eq(st.message, "item 1 not found on the menu of restaurant 3");
    ck_assert_int_eq(mt_item_available(3, 43), 1); /* rolled back */
    ck_assert_int_eq(bulk(31337, e, 1, &resp, &st), GRPC_STATUS_NOT_FOUND);
    ck_assert_str_eq(st.message, "restaurant 31337 not found");
}
END_TEST

START_TEST(bulk_update_validation_names_the_entry)
{
    se_status st;
    Swifteats__V1__BulkUpdateItemAvailabilityResponse *resp = NULL;
    ck_assert_int_eq(bulk(3, NULL, 0, &resp, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(st.message, "items must hold 1 to 500", 24) == 0, "%s", st.message);
    Swifteats__V1__ItemAvailability e[501];
    for (int i = 0; i < 501; i++)
        e[i] = entry(41, 1, 1);
    ck_assert_int_eq(bulk(3, e, 501, &resp, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(st.message, "items must hold", 15) == 0, "%s", st.message);
    e[2] = entry(42, 1, -1);
    ck_assert_int_eq(bulk(3, e, 3, &resp, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "items[2].in_stock is required");
    e[1] = entry(42, -1, 1);
    ck_assert_int_eq(bulk(3, e, 3, &resp, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "items[1].available is required");
    e[0] = entry(0, 1, 1);
    ck_assert_int_eq(bulk(3, e, 3, &resp, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "items[0].item_id must be a positive integer");
    ck_assert_int_eq(bulk(-3, e, 3, &resp, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(st.message, "restaurant_id", 13) == 0, "%s", st.message);
}
END_TEST

/* ---- GetItemsForOrder ----------------------------------------------------------------- */

START_TEST(items_for_order_reports_each_id_in_order)
{
    int64_t ids[] = {21, 999999, 1, 21};
    Swifteats__V1__GetItemsForOrderRequest req = SWIFTEATS__V1__GET_ITEMS_FOR_ORDER_REQUEST__INIT;
    req.n_item_ids = 4;
    req.item_ids = ids;
    Swifteats__V1__GetItemsForOrderResponse *resp = NULL;
    se_status st;
    ck_assert_int_eq(swifteats_v1_menu_service_get_items_for_order(mt_ch, &req, &resp, NULL, &st),
                     0);
    ck_assert_uint_eq(resp->n_items, 4);
    ck_assert_int_eq(resp->items[0]->item_id, 21);
    ck_assert(resp->items[0]->found);
    ck_assert_int_eq(resp->items[0]->restaurant_id, 2);
    ck_assert_int_gt(resp->items[0]->price, 0);
    ck_assert_int_eq(resp->items[0]->restaurant_status,
                     SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_CLOSED);
    ck_assert(strlen(resp->items[0]->name) > 0);
    ck_assert(!resp->items[1]->found);
    ck_assert_int_eq(resp->items[1]->item_id, 999999);
    ck_assert_int_eq(resp->items[2]->restaurant_id, 1);
    ck_assert_int_eq(resp->items[3]->price, resp->items[0]->price);
    se_msg_free(&resp->base);
}
END_TEST

START_TEST(items_for_order_validation)
{
    int64_t ids[101];
    for (int i = 0; i < 101; i++)
        ids[i] = i + 1;
    Swifteats__V1__GetItemsForOrderRequest req = SWIFTEATS__V1__GET_ITEMS_FOR_ORDER_REQUEST__INIT;
    Swifteats__V1__GetItemsForOrderResponse *resp = NULL;
    se_status st;
    swifteats_v1_menu_service_get_items_for_order(mt_ch, &req, &resp, NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strncmp(st.message, "item_ids", 8) == 0, "%s", st.message);
    req.item_ids = ids;
    req.n_item_ids = 101;
    swifteats_v1_menu_service_get_items_for_order(mt_ch, &req, &resp, NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ids[1] = 0;
    req.n_item_ids = 3;
    swifteats_v1_menu_service_get_items_for_order(mt_ch, &req, &resp, NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "item_ids[1] must be a positive integer (got 0)");
}
END_TEST

/* ---- WatchMenuChanges ------------------------------------------------------------------- */

static Swifteats__V1__MenuChangeEvent *next_event(se_stream *s)
{
    ProtobufCMessage *m = NULL;
    se_status st;
    ck_assert_msg(se_stream_read(s, &m, &st) == 1, "stream ended: %s %s",
                  se_status_name(st.code), st.message);
    return (Swifteats__V1__MenuChangeEvent *)m;
}

static se_stream *open_watch(void)
{
    Swifteats__V1__WatchMenuChangesRequest req = SWIFTEATS__V1__WATCH_MENU_CHANGES_REQUEST__INIT;
    se_call_opts opts = {.timeout_ms = 20000};
    se_status st;
    se_stream *s = swifteats_v1_menu_service_watch_menu_changes_open(mt_ch, &req, &opts, &st);
    ck_assert_msg(s != NULL, "%s", st.message);
    return s;
}

static void wait_subscribed(menu_service *svc)
{
    double until = se_test_seconds() + 10;
    while (!menu_events_subscribed(menu_service_events(svc)) && se_test_seconds() < until)
        usleep(10000);
    ck_assert(menu_events_subscribed(menu_service_events(svc)));
}

START_TEST(watch_starts_with_reset_then_sees_each_write)
{
    wait_subscribed(mt_svc);
    se_stream *s = open_watch();
    Swifteats__V1__MenuChangeEvent *e = next_event(s);
    ck_assert(e->reset && e->complete);
    ck_assert_ptr_nonnull(e->committed_at);
    se_msg_free(&e->base);

    ck_assert_int_eq(mt_set_item(2, 22, 0, 1), GRPC_STATUS_OK);
    e = next_event(s);
    ck_assert(!e->reset);
    ck_assert_int_eq(e->restaurant_id, 2);
    ck_assert(e->menu_changed && !e->restaurant_changed && !e->status_changed &&
              !e->lists_changed);
    ck_assert_str_eq(e->origin, menu_events_origin(menu_service_events(mt_svc)));
    se_msg_free(&e->base);

    se_status st;
    ck_assert_int_eq(mt_set_status(7, 3, -1, &st), GRPC_STATUS_OK);
    e = next_event(s);
    ck_assert_int_eq(e->restaurant_id, 7);
    ck_assert(!e->menu_changed && e->restaurant_changed && e->status_changed && e->lists_changed);
    se_msg_free(&e->base);
    se_stream_close(s);
}
END_TEST

START_TEST(watch_sees_writes_of_another_replica)
{
    menu_service_config cfg = mt_config();
    menu_service *other = menu_service_create(&cfg);
    ck_assert_ptr_nonnull(other);
    wait_subscribed(mt_svc);
    se_stream *s = open_watch();
    Swifteats__V1__MenuChangeEvent *e = next_event(s);
    ck_assert(e->reset);
    se_msg_free(&e->base);

    menu_events_publish(menu_service_events(other), 9, 2 /* MENU_CHANGED_MENU */);
    e = next_event(s);
    ck_assert(!e->reset);
    ck_assert_int_eq(e->restaurant_id, 9);
    ck_assert(e->menu_changed);
    ck_assert_str_eq(e->origin, menu_events_origin(menu_service_events(other)));
    se_msg_free(&e->base);
    se_stream_close(s);
    menu_service_destroy(other);
}
END_TEST

START_TEST(watch_resets_when_redis_goes_and_returns)
{
    wait_subscribed(mt_svc);
    se_stream *s = open_watch();
    Swifteats__V1__MenuChangeEvent *e = next_event(s);
    ck_assert(e->reset && e->complete);
    se_msg_free(&e->base);

    se_test_stack("stop-redis");
    e = next_event(s); /* subscription lost: other replicas unheard */
    ck_assert(e->reset && !e->complete);
    se_msg_free(&e->base);
    ck_assert_int_eq(mt_set_item(2, 23, 0, 0), GRPC_STATUS_OK); /* local watchers still told */
    e = next_event(s);
    ck_assert(!e->reset);
    ck_assert_int_eq(e->restaurant_id, 2);
    se_msg_free(&e->base);

    se_test_stack("start-redis");
    e = next_event(s); /* resubscribed */
    ck_assert(e->reset && e->complete);
    se_msg_free(&e->base);
    se_stream_close(s);
}
END_TEST

/* A replica that could not publish a change later publishes a reset for
 * the others; relayed to our watchers it must say complete (this stream
 * still carries every replica's writes), or gateways stop caching until
 * our next re-subscription (seen in e2e_menu after a Redis restart). */
START_TEST(watch_relays_a_published_reset_as_complete)
{
    wait_subscribed(mt_svc);
    se_stream *s = open_watch();
    Swifteats__V1__MenuChangeEvent *e = next_event(s);
    ck_assert(e->reset && e->complete);
    se_msg_free(&e->base);

    Swifteats__V1__MenuChangeEvent reset = SWIFTEATS__V1__MENU_CHANGE_EVENT__INIT;
    reset.reset = 1; /* as settle_reset publishes it: complete unset */
    reset.origin = "another-replica";
    uint8_t buf[128];
    size_t len = protobuf_c_message_pack(&reset.base, buf);
    const char *url = se_test_env_url("SE_REDIS_URL");
    redisContext *c = redisConnect("127.0.0.1", atoi(strrchr(url, ':') + 1));
    ck_assert_msg(c != NULL && !c->err, "redis connect");
    redisReply *r = redisCommand(c, "PUBLISH %s %b", MENU_EVENTS_CHANNEL, buf, len);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_INTEGER, "PUBLISH");
    freeReplyObject(r);
    redisFree(c);

    e = next_event(s);
    ck_assert(e->reset);
    ck_assert_str_eq(e->origin, "another-replica");
    ck_assert(e->complete);
    se_msg_free(&e->base);
    se_stream_close(s);
}
END_TEST

Suite *menu_service_suite(void)
{
    Suite *s = suite_create("menu_service");
    TCase *tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, mt_setup, mt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, get_restaurant_returns_the_seeded_row);
    tcase_add_test(tc, unknown_restaurant_is_not_found_everywhere);
    tcase_add_test(tc, restaurant_id_must_be_positive);
    tcase_add_test(tc, get_menu_orders_categories_and_items);
    tcase_add_test(tc, get_status_and_menu_with_status_agree);
    tcase_add_test(tc, list_defaults_to_page_1_of_20_by_id);
    tcase_add_test(tc, list_pages_and_past_the_end);
    tcase_add_test(tc, list_filters_combine);
    tcase_add_test(tc, list_validation_names_the_field);
    tcase_add_test(tc, update_status_is_seen_by_every_read);
    tcase_add_test(tc, update_status_validation);
    tcase_add_test(tc, update_item_availability_round_trip);
    tcase_add_test(tc, update_item_availability_errors);
    tcase_add_test(tc, bulk_update_applies_all_with_duplicates_folded);
    tcase_add_test(tc, bulk_update_is_all_or_nothing);
    tcase_add_test(tc, bulk_update_validation_names_the_entry);
    tcase_add_test(tc, items_for_order_reports_each_id_in_order);
    tcase_add_test(tc, items_for_order_validation);
    tcase_add_test(tc, watch_starts_with_reset_then_sees_each_write);
    tcase_add_test(tc, watch_sees_writes_of_another_replica);
    tcase_add_test(tc, watch_resets_when_redis_goes_and_returns);
    tcase_add_test(tc, watch_relays_a_published_reset_as_complete);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(menu_service_suite());
}
