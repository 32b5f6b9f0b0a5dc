/* menu_store.h - the menu service's PostgreSQL access: every read builds
 * the response message of an RPC, every operator write is one transaction.
 *
 * Errors: functions return 0, or -1 with `st` filled with the gRPC status
 * the handler should answer: NOT_FOUND / INVALID_ARGUMENT naming the
 * restaurant, item or field; UNAVAILABLE when no connection could be had or
 * the connection was lost (SQLSTATE class 08); ABORTED for serialization
 * failures left after retries; INTERNAL for anything else (logged by
 * se_pg with the SQL verb and the server's message).
 *
 * THREAD: every function may be called from any thread at once (each takes
 * its own connection from the pool for the duration of the call).
 * OWNERSHIP: messages returned through `out` are the caller's: free them
 * with se_msg_free (every string and sub-message is heap-allocated).
 */
#ifndef MENU_STORE_H
#define MENU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "se_pg.h"
#include "se_rpc.h"
#include "swifteats/v1/menu.pb-c.h"

typedef struct menu_store menu_store;

/* A store over `pg` (borrowed: must outlive the store).
 * OWNERSHIP: caller destroys. */
menu_store *menu_store_create(se_pg_pool *pg);
void menu_store_destroy(menu_store *s);

/* GetItemsForOrder runs on `pricing` (borrowed; NULL: the main pool). The
 * menu service gives it connections whose sessions force generic plans
 * (MENU_PRICING_SESSION_SQL): PostgreSQL otherwise re-planned that join on
 * every call (192 us of planning for 28 us of execution under
 * bench/orders), while the catalogue reads on the main pool keep custom
 * plans for their optional filters. */
void menu_store_set_pricing_pool(menu_store *s, se_pg_pool *pricing);
#define MENU_PRICING_SESSION_SQL "SET plan_cache_mode = force_generic_plan"

/* Applies the embedded migrations (scope "menu"). 0 or -1 (logged). */
int menu_store_migrate(menu_store *s);

/* How many catalogue reads (loads of a restaurant, status, menu, list page
 * or order items) have gone to PostgreSQL since creation: a test hook to
 * prove cache hits and single-flight. Cache-epoch reads are not counted. */
unsigned long menu_store_loads(const menu_store *s);

/* ---- reads ------------------------------------------------------------------ */

int menu_store_get_restaurant(menu_store *s, int64_t id, Swifteats__V1__Restaurant **out,
                              se_status *st);
int menu_store_get_status(menu_store *s, int64_t id, Swifteats__V1__RestaurantLiveStatus **out,
                          se_status *st);
int menu_store_get_menu(menu_store *s, int64_t id, Swifteats__V1__Menu **out, se_status *st);

/* A validated ListRestaurants query: 0 / "" mean "no filter". */
typedef struct menu_list_query {
    int cuisine;       /* CuisineType value, 0: any */
    int status;        /* RestaurantStatus value, 0: any */
    double min_rating; /* 0: any */
    const char *city;  /* "": any; matched case-insensitively */
    int32_t page;      /* >= 1 */
    int32_t page_size; /* 1..100 */
} menu_list_query;

int menu_store_list(menu_store *s, const menu_list_query *q,
                    Swifteats__V1__ListRestaurantsResponse **out, se_status *st);

/* One OrderableItem per id, same order (found = false for unknown ids). */
int menu_store_items_for_order(menu_store *s, const int64_t *ids, size_t n,
                               Swifteats__V1__GetItemsForOrderResponse **out, se_status *st);

/* ---- operator writes (each one transaction) ---------------------------------- */

/* Sets status and, when has_capacity, current_capacity (checked against
 * max_capacity under a row lock). On success *new_capacity is the
 * restaurant's current capacity after the write. */
int menu_store_update_status(menu_store *s, int64_t id, int status, int has_capacity,
                             int32_t capacity, int32_t *new_capacity, se_status *st);

int menu_store_update_item(menu_store *s, int64_t restaurant_id, int64_t item_id, int available,
                           int in_stock, se_status *st);

typedef struct menu_item_flags {
    int64_t item_id;
    int available;
    int in_stock;
} menu_item_flags;

/* All or nothing: every item must be on the restaurant's menu, otherwise
 * NOT_FOUND names the first unknown one (in `items` order) and nothing is
 * changed. `items` must hold no duplicate ids. */
int menu_store_bulk_update(menu_store *s, int64_t restaurant_id, const menu_item_flags *items,
                           size_t n, se_status *st);

/* ---- cache epoch (menu_cache.c) --------------------------------------------- */

int menu_store_cache_epoch(menu_store *s, int64_t *epoch, se_status *st);
/* Increments the epoch; *epoch is the new value. */
int menu_store_bump_cache_epoch(menu_store *s, int64_t *epoch, se_status *st);

#endif
