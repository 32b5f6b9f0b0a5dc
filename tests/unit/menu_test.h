/* menu_test.h - shared fixture of the menu service suites (test_menu_*.c):
 * a private PostgreSQL schema per test process (search_path in the URL),
 * seeded with a small deterministic catalogue, and the menu service served
 * in-process on port 0 with a client channel to it.
 *
 * Header-only (static inline), like se_test_stack.h. Needs the stack
 * (SE_PG_URL, SE_REDIS_URL, SE_STACK_DIR from scripts/test.sh).
 */
#ifndef MENU_TEST_H
#define MENU_TEST_H

#include <check.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "menu_migrations.h"
#include "menu_seed.h"
#include "menu_service.h"
#include "se_log.h"
#include "se_test_fixture.h"
#include "se_test_stack.h"
#include "swifteats/v1/menu.se.h"

/* The seeded catalogue: 27 restaurants (3 of each cuisine; 1..4 have the
 * four statuses), 5 categories x 4 items each: item ids of restaurant r
 * are (r-1)*20+1 .. r*20. */
#define MT_RESTAURANTS 27
#define MT_ITEMS_PER 20

static char mt_schema[64];
static char mt_url[1024];
static menu_service *mt_svc;
static se_server *mt_srv;
static se_channel *mt_ch;

/* Runs sql on the base database: fails the test on error. */
static inline void mt_exec_base(const char *sql)
{
    se_test_sql_exec(se_test_env_url("SE_PG_URL"), sql);
}

/* A fresh schema "menu_t_<pid>" holding the migrated, seeded catalogue;
 * mt_url points at it. */
static inline void mt_db_setup(void)
{
    se_test_schema_create("menu_t_", mt_schema, mt_url, "menu", menu_migrations,
                          menu_n_migrations);
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create(mt_url, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.msg);
    menu_seed_opts o = {MT_RESTAURANTS, 5, 4, 7};
    ck_assert_int_eq(menu_seed(c, &o, 1, &err), MT_RESTAURANTS);
    se_pg_conn_destroy(c);
}

static inline void mt_db_teardown(void)
{
    se_test_schema_drop(mt_schema);
}

/* Runs sql in the test schema. */
static inline void mt_exec(const char *sql)
{
    se_test_sql_exec(mt_url, sql);
}

/* The configuration the suites use: short Redis timeouts and breaker. */
static inline menu_service_config mt_config(void)
{
    menu_service_config cfg = {
        .pg_url = mt_url,
        .pg_pool_size = 4,
        .redis_url = se_test_env_url("SE_REDIS_URL"),
        .redis_pool_size = 4,
        .redis_timeout_ms = 300,
        .cache = {.enabled = 1,
                  .ttl_s = {3600, 1800, 30, 60},
                  .retry_ms = 100,
                  .epoch_poll_ms = 100},
        .events = 1,
        .events_retry_ms = 100,
    };
    return cfg;
}

/* Database, service and server on 127.0.0.1:0, with cfg (NULL: mt_config). */
static inline void mt_start(const menu_service_config *cfg)
{
    se_log_init("test");
    mt_db_setup();
    se_rpc_init();
    menu_service_config def = mt_config();
    mt_svc = menu_service_create(cfg ? cfg : &def);
    ck_assert_ptr_nonnull(mt_svc);
    mt_srv = se_test_server_create("menu");
    ck_assert_int_eq(menu_service_register(mt_srv, mt_svc), 0);
    mt_ch = se_test_server_start(mt_srv);
    /* no subscription reset in the middle of a test */
    double until = se_test_seconds() + 10;
    while ((cfg ? cfg : &def)->events && !menu_events_subscribed(menu_service_events(mt_svc)) &&
           se_test_seconds() < until)
        usleep(5000);
}

static inline void mt_setup(void)
{
    mt_start(NULL);
}

static inline void mt_teardown(void)
{
    menu_service_stop(mt_svc);
    se_server_shutdown(mt_srv);
    se_server_destroy(mt_srv);
    menu_service_destroy(mt_svc);
    se_rpc_shutdown();
    mt_db_teardown();
}

static inline unsigned long mt_loads(void)
{
    return menu_store_loads(menu_service_store(mt_svc));
}

/* ---- typed calls ------------------------------------------------------------ */

static inline Swifteats__V1__Menu *mt_get_menu(int64_t rid, se_status *st)
{
    Swifteats__V1__GetMenuRequest req = SWIFTEATS__V1__GET_MENU_REQUEST__INIT;
    req.restaurant_id = rid;
    Swifteats__V1__Menu *m = NULL;
    swifteats_v1_menu_service_get_menu(mt_ch, &req, &m, NULL, st);
    return m;
}

static inline Swifteats__V1__RestaurantLiveStatus *mt_get_status(int64_t rid, se_status *st)
{
    Swifteats__V1__GetRestaurantStatusRequest req =
        SWIFTEATS__V1__GET_RESTAURANT_STATUS_REQUEST__INIT;
    req.restaurant_id = rid;
    Swifteats__V1__RestaurantLiveStatus *m = NULL;
    swifteats_v1_menu_service_get_restaurant_status(mt_ch, &req, &m, NULL, st);
    return m;
}

static inline Swifteats__V1__Restaurant *mt_get_restaurant(int64_t rid, se_status *st)
{
    Swifteats__V1__GetRestaurantRequest req = SWIFTEATS__V1__GET_RESTAURANT_REQUEST__INIT;
    req.restaurant_id = rid;
    Swifteats__V1__Restaurant *m = NULL;
    swifteats_v1_menu_service_get_restaurant(mt_ch, &req, &m, NULL, st);
    return m;
}

/* UpdateItemAvailability; returns the status code. */
static inline grpc_status_code mt_set_item(int64_t rid, int64_t item, int available, int in_stock)
{
    Swifteats__V1__UpdateItemAvailabilityRequest req =
        SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST__INIT;
    req.restaurant_id = rid;
    req.item_id = item;
    req._available_case = SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST___AVAILABLE_AVAILABLE;
    req.available = available;
    req._in_stock_case = SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST___IN_STOCK_IN_STOCK;
    req.in_stock = in_stock;
    Swifteats__V1__UpdateItemAvailabilityResponse *resp = NULL;
    se_status st;
    swifteats_v1_menu_service_update_item_availability(mt_ch, &req, &resp, NULL, &st);
    se_msg_free((ProtobufCMessage *)resp);
    return st.code;
}

/* UpdateRestaurantStatus (capacity < 0: leave it); returns the code. */
static inline grpc_status_code mt_set_status(int64_t rid, int status, int capacity, se_status *st)
{
    Swifteats__V1__UpdateRestaurantStatusRequest req =
        SWIFTEATS__V1__UPDATE_RESTAURANT_STATUS_REQUEST__INIT;
    req.restaurant_id = rid;
    req.status = status;
    if (capacity >= 0) {
        req._current_capacity_case =
            SWIFTEATS__V1__UPDATE_RESTAURANT_STATUS_REQUEST___CURRENT_CAPACITY_CURRENT_CAPACITY;
        req.current_capacity = capacity;
    }
    Swifteats__V1__UpdateRestaurantStatusResponse *resp = NULL;
    swifteats_v1_menu_service_update_restaurant_status(mt_ch, &req, &resp, NULL, st);
    se_msg_free((ProtobufCMessage *)resp);
    return st->code;
}

/* The item `id` of a menu, or NULL. */
static inline const Swifteats__V1__MenuItem *mt_find_item(const Swifteats__V1__Menu *m, int64_t id)
{
    for (size_t c = 0; c < m->n_categories; c++)
        for (size_t i = 0; i < m->categories[c]->n_items; i++)
            if (m->categories[c]->items[i]->id == id)
                return m->categories[c]->items[i];
    return NULL;
}

/* The `available` flag of item `id` as GetMenu reports it now. */
static inline int mt_item_available(int64_t rid, int64_t id)
{
    se_status st;
    Swifteats__V1__Menu *m = mt_get_menu(rid, &st);
    ck_assert_msg(m != NULL, "GetMenu %lld: %s", (long long)rid, st.message);
    const Swifteats__V1__MenuItem *it = mt_find_item(m, id);
    ck_assert_ptr_nonnull(it);
    int a = it->available;
    se_msg_free(&m->base);
    return a;
}

/* A raw command on the stack's Redis (FLUSHALL, CLIENT PAUSE ...). */
static inline void mt_redis(const char *cmd)
{
    const char *url = se_test_env_url("SE_REDIS_URL");
    int port = 6379;
    const char *p = strrchr(url, ':');
    if (p != NULL)
        port = atoi(p + 1);
    redisContext *c = redisConnect("127.0.0.1", port);
    ck_assert_msg(c != NULL && !c->err, "redis connect");
    redisReply *r = redisCommand(c, cmd);
    ck_assert_msg(r != NULL && r->type != REDIS_REPLY_ERROR, "%s: %s", cmd,
                  r ? r->str : c->errstr);
    freeReplyObject(r);
    redisFree(c);
}

#endif
