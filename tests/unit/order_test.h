/* order_test.h - shared fixture of the order service suites
 * (test_order_*.c): the menu fixture of menu_test.h (a private PostgreSQL
 * schema per test process with the seeded catalogue, the menu service
 * in-process on port 0), plus the order service in the same schema, served
 * in-process on port 0 and pricing against that menu service, with a Redis
 * stream of its own ("se:payment:jobs:t<pid>").
 *
 * Header-only (static inline), like menu_test.h. Needs the stack
 * (SE_PG_URL, SE_REDIS_URL, SE_STACK_DIR from scripts/test.sh).
 */
#ifndef ORDER_TEST_H
#define ORDER_TEST_H

#include <check.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menu_test.h"
#include "order_migrations.h"
#include "order_service.h"
#include "swifteats/v1/order.se.h"

static order_service *ot_svc;
static se_server *ot_srv;
static se_channel *ot_ch;
static char ot_stream[64];
static char ot_menu_target[64];

/* The configuration the suites use: the test stream, a fast relay, a
 * short Redis timeout. Change fields before ot_start(&cfg). */
static inline order_service_config ot_config(void)
{
    snprintf(ot_stream, sizeof ot_stream, "%s", se_test_uniq("se:payment:jobs:t", "", ""));
    snprintf(ot_menu_target, sizeof ot_menu_target, "127.0.0.1:%d", se_server_port(mt_srv));
    order_service_config cfg = {
        .pg_url = mt_url,
        .pg_pool_size = 8,
        .menu_target = ot_menu_target,
        .menu_timeout_ms = SE_T(2000),
        .outbox = {.redis_url = se_test_env_url("SE_REDIS_URL"),
                   .redis_timeout_ms = SE_T(300),
                   .stream = ot_stream,
                   .group = "payment-workers",
                   .poll_ms = 50,
                   .batch = 256,
                   .redeliver_ms = 300000},
    };
    return cfg;
}

/* The order service on 127.0.0.1:0 with cfg (NULL: ot_config()); the menu
 * fixture must be running (mt_start). */
static inline void ot_start(const order_service_config *cfg)
{
    order_service_config def = ot_config();
    ot_svc = order_service_create(cfg ? cfg : &def);
    ck_assert_ptr_nonnull(ot_svc);
    ot_srv = se_test_server_create("order");
    ck_assert_int_eq(order_service_register(ot_srv, ot_svc), 0);
    ot_ch = se_test_server_start(ot_srv);
}

/* Both services with the default configurations (checked fixture). */
static inline void ot_setup(void)
{
    mt_start(NULL);
    ot_start(NULL);
}

static inline void ot_teardown(void)
{
    se_server_shutdown(ot_srv);
    se_server_destroy(ot_srv);
    order_service_destroy(ot_svc);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "DEL %s", ot_stream);
    mt_redis(cmd);
    mt_teardown();
}

/* ---- database --------------------------------------------------------------- */

/* The first column of the first row of sql (in the test schema) as an
 * integer; fails the test on error or no row. */
static inline int64_t ot_sql_int(const char *sql)
{
    return se_test_sql_int(mt_url, sql);
}

static inline int64_t ot_sql_intf(const char *fmt, int64_t arg)
{
    char sql[512];
    snprintf(sql, sizeof sql, fmt, arg);
    return ot_sql_int(sql);
}

/* The k-th (0-based, by id) available, in-stock item of restaurant rid. */
static inline int64_t ot_orderable_item(int rid, int k)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT id FROM menu_items WHERE restaurant_id = %d AND available AND in_stock "
             "ORDER BY id OFFSET %d LIMIT 1",
             rid, k);
    return ot_sql_int(sql);
}

static inline int64_t ot_menu_price(int64_t item)
{
    return ot_sql_intf("SELECT price_cents FROM menu_items WHERE id = %" PRId64, item);
}

/* ---- requests ----------------------------------------------------------------- */

/* A CreateOrderRequest of up to 64 lines, built in place. */
typedef struct ot_order_req {
    Swifteats__V1__CreateOrderRequest req;
    Swifteats__V1__CreateOrderItem items[64];
    Swifteats__V1__CreateOrderItem *ptrs[64];
    char ids[64][24];
} ot_order_req;

static inline void ot_req_init(ot_order_req *o, const char *customer)
{
    swifteats__v1__create_order_request__init(&o->req);
    o->req.customer_id = (char *)customer;
    o->req.items = o->ptrs;
}

/* Adds a line with the item's id as text, the given quantity and price. */
static inline void ot_req_add_raw(ot_order_req *o, const char *id, int qty, int64_t price)
{
    size_t i = o->req.n_items++;
    ck_assert_uint_lt(i, 64);
    swifteats__v1__create_order_item__init(&o->items[i]);
    snprintf(o->ids[i], sizeof o->ids[i], "%s", id);
    o->items[i].item_id = o->ids[i];
    o->items[i].item_name = "shown name";
    o->items[i].quantity = qty;
    o->items[i].price = price;
    o->ptrs[i] = &o->items[i];
}

/* Adds a line for menu item `item` at its menu price. */
static inline void ot_req_add(ot_order_req *o, int64_t item, int qty)
{
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, item);
    ot_req_add_raw(o, id, qty, ot_menu_price(item));
}

/* CreateOrder with an optional Idempotency-Key (NULL: none). */
static inline Swifteats__V1__Order *ot_create_key(const ot_order_req *o, const char *key,
                                                  se_status *st)
{
    se_metadata md = {"idempotency-key", key};
    se_call_opts opts = {.metadata = key ? &md : NULL, .n_metadata = key ? 1 : 0};
    Swifteats__V1__Order *resp = NULL;
    swifteats_v1_order_service_create_order(ot_ch, &o->req, &resp, &opts, st);
    return resp;
}

static inline Swifteats__V1__Order *ot_create(const ot_order_req *o, se_status *st)
{
    return ot_create_key(o, NULL, st);
}

/* A one-line order of item `item` x qty for `customer`; fails the test if
 * it is refused. */
static inline Swifteats__V1__Order *ot_create_simple(const char *customer, int64_t item, int qty)
{
    ot_order_req o;
    ot_req_init(&o, customer);
    ot_req_add(&o, item, qty);
    se_status st;
    Swifteats__V1__Order *m = ot_create(&o, &st);
    ck_assert_msg(m != NULL, "CreateOrder: %s: %s", se_status_name(st.code), st.message);
    return m;
}

/* Asserts that st failed with `code` and that its message holds `needle`. */
#define OT_ASSERT_FAILED(st, want_code, needle)                                            \
    do {                                                                                   \
        ck_assert_msg((st).code == (want_code), "want %s, got %s: %s",                    \
                      se_status_name(want_code), se_status_name((st).code), (st).message); \
        ck_assert_msg(strstr((st).message, (needle)) != NULL,                              \
                      "message \"%s\" does not hold \"%s\"", (st).message, (needle));      \
    } while (0)

static inline Swifteats__V1__Order *ot_get(int64_t id, se_status *st)
{
    Swifteats__V1__GetOrderRequest req = SWIFTEATS__V1__GET_ORDER_REQUEST__INIT;
    req.order_id = id;
    Swifteats__V1__Order *resp = NULL;
    swifteats_v1_order_service_get_order(ot_ch, &req, &resp, NULL, st);
    return resp;
}

/* CompletePayment(outcome, charge id); returns the order or NULL (st). */
static inline Swifteats__V1__Order *ot_complete(int64_t id, int outcome, const char *charge,
                                                se_status *st)
{
    Swifteats__V1__CompletePaymentRequest req = SWIFTEATS__V1__COMPLETE_PAYMENT_REQUEST__INIT;
    req.order_id = id;
    req.outcome = outcome;
    if (charge != NULL) {
        req._gateway_charge_id_case =
            SWIFTEATS__V1__COMPLETE_PAYMENT_REQUEST___GATEWAY_CHARGE_ID_GATEWAY_CHARGE_ID;
        req.gateway_charge_id = (char *)charge;
    }
    Swifteats__V1__Order *resp = NULL;
    swifteats_v1_order_service_complete_payment(ot_ch, &req, &resp, NULL, st);
    return resp;
}

static inline Swifteats__V1__Order *ot_cancel(int64_t id, const char *reason, se_status *st)
{
    Swifteats__V1__CancelOrderRequest req = SWIFTEATS__V1__CANCEL_ORDER_REQUEST__INIT;
    req.order_id = id;
    if (reason != NULL) {
        req._reason_case = SWIFTEATS__V1__CANCEL_ORDER_REQUEST___REASON_REASON;
        req.reason = (char *)reason;
    }
    Swifteats__V1__Order *resp = NULL;
    swifteats_v1_order_service_cancel_order(ot_ch, &req, &resp, NULL, st);
    return resp;
}

/* ---- the payment stream ----------------------------------------------------------- */

static inline redisContext *ot_redis_connect(void)
{
    const char *url = se_test_env_url("SE_REDIS_URL");
    const char *p = strrchr(url, ':');
    redisContext *c = redisConnect("127.0.0.1", p ? atoi(p + 1) : 6379);
    ck_assert_msg(c != NULL && !c->err, "redis connect");
    return c;
}

/* How many jobs of the test stream name order `id` (XRANGE - +); -1 when
 * Redis does not answer. */
static inline int ot_stream_jobs(int64_t id)
{
    redisContext *c = ot_redis_connect();
    redisReply *r = redisCommand(c, "XRANGE %s - +", ot_stream);
    int n = -1;
    if (r != NULL && r->type == REDIS_REPLY_ARRAY) {
        char want[24];
        snprintf(want, sizeof want, "%" PRId64, id);
        n = 0;
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *fields = r->element[i]->element[1];
            for (size_t f = 0; f + 1 < fields->elements; f += 2)
                if (strcmp(fields->element[f]->str, "order_id") == 0 &&
                    strcmp(fields->element[f + 1]->str, want) == 0)
                    n++;
        }
    }
    freeReplyObject(r);
    redisFree(c);
    return n;
}

#endif
