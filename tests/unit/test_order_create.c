/* test_order_create.c - OrderService.CreateOrder over real gRPC (generated
 * client -> in-process order service -> in-process menu service ->
 * PostgreSQL and Redis of the test stack): an accepted order and its outbox
 * job in the stream, every validation rule naming its field, the menu's
 * verdicts (unknown, unavailable, closed, price changed, menu down), the
 * Idempotency-Key (replay, different body, concurrent replays), and orders
 * accepted while Redis is down.
 */
#include <pthread.h>

#include "order_test.h"
#include "se_time.h"

/* ---- accepted orders ----------------------------------------------------------- */

START_TEST(create_prices_from_the_menu_and_enqueues_the_job)
{
    int64_t a = ot_orderable_item(1, 0), b = ot_orderable_item(3, 1); /* open, busy */
    ot_order_req o;
    ot_req_init(&o, "cust-1");
    ot_req_add(&o, a, 2);
    ot_req_add(&o, b, 3);
    se_status st;
    Swifteats__V1__Order *m = ot_create(&o, &st);
    ck_assert_msg(m != NULL, "%s", st.message);
    ck_assert_int_gt(m->id, 0);
    ck_assert_str_eq(m->customer_id, "cust-1");
    ck_assert_int_eq(m->status, SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING);
    ck_assert_int_eq(m->total_amount, 2 * ot_menu_price(a) + 3 * ot_menu_price(b));
    ck_assert_ptr_nonnull(m->created_at);
    ck_assert_int_gt(m->created_at->seconds, 1700000000);
    ck_assert_uint_eq(m->n_payment_attempts, 0);
    ck_assert_uint_eq(m->n_items, 2);
    char want[24];
    snprintf(want, sizeof want, "%" PRId64, a);
    ck_assert_str_eq(m->items[0]->item_id, want);
    ck_assert_int_eq(m->items[0]->quantity, 2);
    ck_assert_int_eq(m->items[0]->price, ot_menu_price(a));
    ck_assert_int_gt(m->items[0]->id, 0);
    ck_assert_int_gt(m->items[1]->id, m->items[0]->id);
    /* the menu's name is stored, not the one the client showed */
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM menu_items WHERE id = %" PRId64
             " AND name = '%s'", a, m->items[0]->item_name);
    ck_assert_int_eq(ot_sql_int(sql), 1);
    /* one row each in the database, the items in request order */
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM orders WHERE id = %" PRId64, m->id), 1);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM order_items WHERE order_id = %" PRId64
                                 " AND line_no IN (0, 1)", m->id), 2);
    /* the job went to the stream right after the commit (not through the
     * relay: the outbox row stays unsent, kept until the payment is final;
     * the relay's start-up pass covers rows created before the service
     * started only, so it does not send this one again) */
    ck_assert_int_eq(ot_stream_jobs(m->id), 1);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_outbox WHERE order_id = %" PRId64
                                 " AND enqueued_at IS NULL", m->id), 1);
    /* GetOrder agrees with the CreateOrder answer */
    Swifteats__V1__Order *g = ot_get(m->id, &st);
    ck_assert_msg(g != NULL, "%s", st.message);
    ck_assert_int_eq(g->total_amount, m->total_amount);
    ck_assert_uint_eq(g->n_items, 2);
    ck_assert_int_eq(g->items[1]->id, m->items[1]->id);
    ck_assert_str_eq(g->items[1]->item_name, m->items[1]->item_name);
    se_msg_free(&g->base);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(the_consumer_group_exists_and_sees_the_job)
{
    Swifteats__V1__Order *m = ot_create_simple("cust-g", ot_orderable_item(1, 0), 1);
    SE_POLL_UNTIL(ot_stream_jobs(m->id) == 1, 5000);
    redisContext *c = ot_redis_connect();
    redisReply *r = redisCommand(c, "XREADGROUP GROUP payment-workers w1 COUNT 10 STREAMS %s >",
                                 ot_stream);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY, "XREADGROUP: %s",
                  r && r->str ? r->str : "no reply");
    /* the job, once, and no job of another order */
    redisReply *entries = r->element[0]->element[1];
    ck_assert_uint_eq(entries->elements, 1);
    for (size_t i = 0; i < entries->elements; i++) {
        redisReply *fields = entries->element[i]->element[1];
        ck_assert_uint_eq(fields->elements, 4);
        ck_assert_str_eq(fields->element[0]->str, "order_id");
        ck_assert_int_eq(strtoll(fields->element[1]->str, NULL, 10), m->id);
        ck_assert_str_eq(fields->element[2]->str, "request_id");
        ck_assert_uint_eq(strlen(fields->element[3]->str), 32);
    }
    freeReplyObject(r);
    redisFree(c);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(busy_restaurants_take_orders_and_duplicates_stay_lines)
{
    int64_t a = ot_orderable_item(3, 0); /* restaurant 3 is busy */
    ot_order_req o;
    ot_req_init(&o, "cust-dup");
    ot_req_add(&o, a, 1);
    ot_req_add(&o, a, 4);
    se_status st;
    Swifteats__V1__Order *m = ot_create(&o, &st);
    ck_assert_msg(m != NULL, "%s", st.message);
    ck_assert_uint_eq(m->n_items, 2);
    ck_assert_int_eq(m->total_amount, 5 * ot_menu_price(a));
    se_msg_free(&m->base);
}
END_TEST

/* ---- validation, one rule at a time --------------------------------------------- */

/* CreateOrder must fail with INVALID_ARGUMENT naming `field`, and insert
 * nothing. */
static void expect_invalid(const ot_order_req *o, const char *key, const char *field)
{
    se_status st;
    Swifteats__V1__Order *m = ot_create_key(o, key, &st);
    ck_assert_ptr_null(m);
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, field);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 0);
}

START_TEST(customer_id_is_required)
{
    ot_order_req o;
    ot_req_init(&o, "");
    ot_req_add(&o, ot_orderable_item(1, 0), 1);
    expect_invalid(&o, NULL, "customer_id is required");
}
END_TEST

START_TEST(customer_id_is_at_most_64_bytes)
{
    char id[66];
    memset(id, 'c', 65);
    id[65] = '\0';
    ot_order_req o;
    ot_req_init(&o, id);
    ot_req_add(&o, ot_orderable_item(1, 0), 1);
    expect_invalid(&o, NULL, "customer_id must be at most 64 bytes (got 65)");
    id[64] = '\0'; /* 64 is fine */
    se_status st;
    Swifteats__V1__Order *m = ot_create(&o, &st);
    ck_assert_msg(m != NULL, "%s", st.message);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(items_are_required)
{
    ot_order_req o;
    ot_req_init(&o, "cust");
    expect_invalid(&o, NULL, "items must hold 1 to 50 entries (got 0)");
}
END_TEST

START_TEST(at_most_50_items)
{
    ot_order_req o;
    ot_req_init(&o, "cust");
    for (int i = 0; i < 51; i++)
        ot_req_add_raw(&o, "1", 1, 100);
    expect_invalid(&o, NULL, "items must hold 1 to 50 entries (got 51)");
}
END_TEST

START_TEST(item_id_must_be_a_canonical_positive_integer)
{
    static const char *const bad[] = {"", "abc", "0", "-1", "+1", "007", "1.5", " 1", "1e3",
                                      "9223372036854775808", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ot_order_req o;
        ot_req_init(&o, "cust");
        ot_req_add(&o, ot_orderable_item(1, 0), 1);
        ot_req_add_raw(&o, bad[i], 1, 100);
        expect_invalid(&o, NULL, "items[1].item_id must be a positive integer");
    }
}
END_TEST

START_TEST(quantity_must_be_1_to_100)
{
    int bad[] = {0, -1, 101};
    for (int i = 0; i < 3; i++) {
        ot_order_req o;
        ot_req_init(&o, "cust");
        ot_req_add(&o, ot_orderable_item(1, 0), bad[i]);
        char want[80];
        snprintf(want, sizeof want, "items[0].quantity must be between 1 and 100 (got %d)",
                 bad[i]);
        expect_invalid(&o, NULL, want);
    }
}
END_TEST

START_TEST(price_must_be_positive)
{
    int64_t bad[] = {0, -1299};
    for (int i = 0; i < 2; i++) {
        ot_order_req o;
        ot_req_init(&o, "cust");
        ot_req_add(&o, ot_orderable_item(1, 0), 1);
        ot_req_add_raw(&o, "5", 1, bad[i]);
        expect_invalid(&o, NULL, "items[1].price must be greater than 0");
    }
}
END_TEST

START_TEST(fields_are_checked_in_declaration_order)
{
    ot_order_req o;
    ot_req_init(&o, "cust");
    ot_req_add_raw(&o, "x", 0, 0); /* item_id, quantity and price all wrong */
    expect_invalid(&o, NULL, "items[0].item_id");
    ot_req_init(&o, "cust");
    ot_req_add_raw(&o, "7", 0, 0);
    expect_invalid(&o, NULL, "items[0].quantity");
    o.req.customer_id = "";
    expect_invalid(&o, NULL, "customer_id");
    /* the body before the Idempotency-Key */
    char key[300];
    memset(key, 'k', 256);
    key[256] = '\0';
    ot_req_init(&o, "cust");
    ot_req_add_raw(&o, "7", 0, 0);
    expect_invalid(&o, key, "items[0].quantity");
}
END_TEST

START_TEST(idempotency_key_is_at_most_255_bytes)
{
    char key[300];
    memset(key, 'k', 256);
    key[256] = '\0';
    ot_order_req o;
    ot_req_init(&o, "cust");
    ot_req_add(&o, ot_orderable_item(1, 0), 1);
    expect_invalid(&o, key, "idempotency-key must be at most 255 bytes (got 256)");
    key[255] = '\0';
    se_status st;
    Swifteats__V1__Order *m = ot_create_key(&o, key, &st);
    ck_assert_msg(m != NULL, "%s", st.message);
    se_msg_free(&m->base);
}
END_TEST

/* ---- the menu's verdicts ------------------------------------------------------------- */

START_TEST(unknown_item_is_invalid_argument)
{
    ot_order_req o;
    ot_req_init(&o, "cust");
    ot_req_add(&o, ot_orderable_item(1, 0), 1);
    ot_req_add_raw(&o, "999999", 1, 100);
    expect_invalid(&o, NULL, "items[1].item_id 999999 names no menu item");
}
END_TEST

/* CreateOrder of `item` must fail with FAILED_PRECONDITION holding both
 * needles; nothing inserted. */
static void expect_refused(int64_t item, int64_t price, const char *n1, const char *n2)
{
    ot_order_req o;
    ot_req_init(&o, "cust");
    ot_req_add(&o, ot_orderable_item(1, 0), 1);
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, item);
    ot_req_add_raw(&o, id, 1, price);
    se_status st;
    ck_assert_ptr_null(ot_create(&o, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, n1);
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, n2);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 0);
}

START_TEST(unavailable_or_out_of_stock_item_is_refused)
{
    int64_t a = ot_orderable_item(1, 2), b = ot_orderable_item(1, 3);
    ck_assert_int_eq(mt_set_item(1, a, 0, 1), GRPC_STATUS_OK);
    ck_assert_int_eq(mt_set_item(1, b, 1, 0), GRPC_STATUS_OK);
    char want[48];
    snprintf(want, sizeof want, "items[1].item_id %" PRId64, a);
    expect_refused(a, ot_menu_price(a), want, "is unavailable");
    snprintf(want, sizeof want, "items[1].item_id %" PRId64, b);
    expect_refused(b, ot_menu_price(b), want, "is out of stock");
}
END_TEST

START_TEST(closed_restaurant_is_refused)
{
    /* seeded statuses: 2 closed, 4 maintenance */
    int64_t a = ot_orderable_item(2, 0), b = ot_orderable_item(4, 0);
    char want[48];
    snprintf(want, sizeof want, "items[1].item_id %" PRId64, a);
    expect_refused(a, ot_menu_price(a), want, "restaurant 2 is closed, not open or busy");
    snprintf(want, sizeof want, "items[1].item_id %" PRId64, b);
    expect_refused(b, ot_menu_price(b), want, "restaurant 4 is maintenance");
    /* and when an open restaurant closes */
    se_status st;
    int64_t c = ot_orderable_item(1, 0);
    ck_assert_int_eq(mt_set_status(1, SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_CLOSED,
                                   -1, &st),
                     GRPC_STATUS_OK);
    ot_order_req o;
    ot_req_init(&o, "cust");
    ot_req_add(&o, c, 1);
    ck_assert_ptr_null(ot_create(&o, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, "items[0].item_id");
}
END_TEST

START_TEST(price_mismatch_names_the_menu_price)
{
    int64_t a = ot_orderable_item(1, 1);
    int64_t menu = ot_menu_price(a);
    char want[128];
    snprintf(want, sizeof want,
             "items[1].price %" PRId64 ".%02" PRId64 " differs from the menu price %" PRId64
             ".%02" PRId64,
             (menu - 100) / 100, (menu - 100) % 100, menu / 100, menu % 100);
    expect_refused(a, menu - 100, want, "items[1].price");
}
END_TEST

START_TEST(menu_service_down_is_unavailable)
{
    se_server_shutdown(mt_srv); /* idempotent: mt_teardown shuts it down again */
    ot_order_req o;
    ot_req_init(&o, "cust");
    ot_req_add(&o, ot_orderable_item(1, 0), 1);
    se_status st;
    ck_assert_ptr_null(ot_create(&o, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_UNAVAILABLE, "menu service");
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 0);
}
END_TEST

/* ---- Idempotency-Key ---------------------------------------------------------------- */

START_TEST(same_key_same_request_returns_the_same_order)
{
    ot_order_req o;
    ot_req_init(&o, "cust-k");
    ot_req_add(&o, ot_orderable_item(1, 0), 2);
    se_status st;
    Swifteats__V1__Order *m1 = ot_create_key(&o, "key-1", &st);
    ck_assert_msg(m1 != NULL, "%s", st.message);
    Swifteats__V1__Order *m2 = ot_create_key(&o, "key-1", &st);
    ck_assert_msg(m2 != NULL, "%s", st.message);
    ck_assert_int_eq(m2->id, m1->id);
    ck_assert_int_eq(m2->total_amount, m1->total_amount);
    ck_assert_uint_eq(m2->n_items, 1);
    ck_assert_int_eq(m2->items[0]->id, m1->items[0]->id);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 1);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM payment_outbox"), 1);
    /* a replay answers the order as it is now, even after a price change */
    Swifteats__V1__Order *done = ot_complete(
        m1->id, SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED, "ch_1", &st);
    ck_assert_msg(done != NULL, "%s", st.message);
    se_msg_free(&done->base);
    mt_exec("UPDATE menu_items SET price_cents = price_cents + 1");
    Swifteats__V1__Order *m3 = ot_create_key(&o, "key-1", &st);
    ck_assert_msg(m3 != NULL, "%s", st.message);
    ck_assert_int_eq(m3->id, m1->id);
    ck_assert_int_eq(m3->status, SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED);
    /* the same key of another customer is another order */
    o.req.customer_id = "cust-other";
    o.items[0].price++;
    Swifteats__V1__Order *m4 = ot_create_key(&o, "key-1", &st);
    ck_assert_msg(m4 != NULL, "%s", st.message);
    ck_assert_int_ne(m4->id, m1->id);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 2);
    /* without a key, the same body is a new order */
    Swifteats__V1__Order *m5 = ot_create(&o, &st);
    ck_assert_msg(m5 != NULL, "%s", st.message);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 3);
    Swifteats__V1__Order *all[] = {m1, m2, m3, m4, m5};
    for (int i = 0; i < 5; i++)
        se_msg_free(&all[i]->base);
}
END_TEST

START_TEST(same_key_different_request_is_already_exists)
{
    ot_order_req o;
    ot_req_init(&o, "cust-k");
    ot_req_add(&o, ot_orderable_item(1, 0), 2);
    se_status st;
    Swifteats__V1__Order *m1 = ot_create_key(&o, "key-2", &st);
    ck_assert_msg(m1 != NULL, "%s", st.message);
    o.items[0].quantity = 3;
    ck_assert_ptr_null(ot_create_key(&o, "key-2", &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_ALREADY_EXISTS,
                     "Idempotency-Key key-2 was already used with a different request");
    o.items[0].quantity = 2;
    o.items[0].item_name = "another shown name"; /* part of the request too */
    ck_assert_ptr_null(ot_create_key(&o, "key-2", &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_ALREADY_EXISTS);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 1);
    se_msg_free(&m1->base);
}
END_TEST

typedef struct racer {
    const ot_order_req *o;
    int64_t id;
    se_status st;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    Swifteats__V1__Order *m = ot_create_key(r->o, "key-race", &r->st);
    r->id = m ? m->id : -1;
    se_msg_free(m ? &m->base : NULL);
    return NULL;
}

START_TEST(concurrent_requests_with_one_key_make_one_order)
{
    ot_order_req o;
    ot_req_init(&o, "cust-race");
    ot_req_add(&o, ot_orderable_item(1, 0), 1);
    ot_req_add(&o, ot_orderable_item(1, 1), 2);
    enum { N = 8 };
    racer r[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        r[i] = (racer){.o = &o};
        ck_assert_int_eq(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(r[i].id > 0, "racer %d: %s", i, r[i].st.message);
        ck_assert_int_eq(r[i].id, r[0].id);
    }
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 1);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM order_items"), 2);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM payment_outbox"), 1);
}
END_TEST

/* ---- batches ------------------------------------------------------------------------- */

typedef struct creator {
    int k;
    int64_t id, total;
    se_status st;
} creator;

/* Creator k orders 2 lines; every 5th one 50 lines (so a batch's ids
 * exceed one menu call's 100); every 7th one shows a stale price. */
static void *create_one(void *arg)
{
    creator *c = arg;
    ot_order_req o;
    char cust[32];
    snprintf(cust, sizeof cust, "cust-b%d", c->k);
    ot_req_init(&o, cust);
    ot_req_add(&o, ot_orderable_item(1, c->k % 3), 1 + c->k % 4);
    int lines = c->k % 5 == 0 ? 49 : 1;
    for (int i = 0; i < lines; i++)
        ot_req_add(&o, ot_orderable_item(1, (c->k + 1 + i) % 3), 1);
    if (c->k % 7 == 6)
        o.items[0].price++;
    Swifteats__V1__Order *m = ot_create(&o, &c->st);
    c->id = m ? m->id : -1;
    c->total = m ? m->total_amount : -1;
    se_msg_free(m ? &m->base : NULL);
    return NULL;
}

/* Concurrent calls share insert statements (order_batch.c): each still gets
 * its own order, with its own lines and its own job. */
START_TEST(concurrent_orders_are_inserted_together_and_each_gets_its_own)
{
    enum { N = 24 };
    unsigned long batches0, orders0, batches, orders, priced0, lookups0, priced, lookups;
    order_batch_stats(order_service_batch(ot_svc), &batches0, &orders0);
    order_pricing_stats(order_service_pricing(ot_svc), &lookups0, &priced0);
    creator c[N];
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        c[i] = (creator){.k = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, create_one, &c[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    int created = 0;
    for (int i = 0; i < N; i++) {
        if (i % 7 == 6) { /* a stale price fails that order only */
            ck_assert_int_eq(c[i].id, -1);
            ck_assert_int_eq(c[i].st.code, GRPC_STATUS_FAILED_PRECONDITION);
            continue;
        }
        created++;
        ck_assert_msg(c[i].id > 0, "creator %d: %s", i, c[i].st.message);
        for (int j = 0; j < i; j++)
            ck_assert_int_ne(c[i].id, c[j].id);
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM orders o WHERE o.id = %" PRId64 " AND o.customer_id = "
                 "'cust-b%d' AND o.total_amount = %" PRId64 " AND o.total_amount = (SELECT "
                 "sum(i.price * i.quantity) FROM order_items i WHERE i.order_id = o.id)",
                 c[i].id, i, c[i].total);
        ck_assert_int_eq(ot_sql_int(sql), 1);
        ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM order_items WHERE order_id = %" PRId64,
                                     c[i].id), i % 5 == 0 ? 50 : 2);
        ck_assert_int_eq(ot_stream_jobs(c[i].id), 1);
    }
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM payment_outbox"), created);
    /* every order went through the batch path; whether callers overlapped
     * depends on scheduling (under valgrind or a loaded machine they may
     * arrive one after the other), so sharing itself is test_batch's
     * (deterministic) and bench/orders' (under load) to show */
    order_batch_stats(order_service_batch(ot_svc), &batches, &orders);
    ck_assert_uint_eq(orders - orders0, (unsigned long)created);
    ck_assert_uint_le(batches - batches0, (unsigned long)created);
    order_pricing_stats(order_service_pricing(ot_svc), &lookups, &priced);
    ck_assert_uint_eq(priced - priced0, N);
    /* menu calls are quick: whether they overlapped depends on timing (the
     * sharing itself is test_batch's; bench/orders shows it under load) */
    ck_assert_uint_le(lookups - lookups0, N);
}
END_TEST

/* order_store_insert_many on its own: request order kept, a key taken
 * earlier or earlier in the same batch answered with that order, a key
 * reused with another request refused, and an order the database rejects
 * failing alone. */
START_TEST(a_batch_resolves_keys_and_isolates_a_bad_order)
{
    order_store *s = order_service_store(ot_svc);
    uint8_t fa[ORDER_FINGERPRINT_LEN] = {1}, fb[ORDER_FINGERPRINT_LEN] = {2};
    order_line line = {.menu_item_id = ot_orderable_item(1, 0), .name = "x \"quoted\" \\",
                       .quantity = 2, .price = 150};
    order_new first = {.customer_id = "cust-m", .lines = &line, .n_lines = 1,
                       .total_amount = 300, .idempotency_key = "k1", .fingerprint = fa,
                       .request_id = "r0"};
    se_status st;
    Swifteats__V1__Order *m0 = NULL;
    ck_assert_int_eq(order_store_insert(s, &first, &m0, &st), 1);
    order_new plain = first, again = first, other = first, twin1 = first, twin2 = first;
    plain.idempotency_key = NULL, plain.fingerprint = NULL, plain.request_id = "r1";
    other.fingerprint = fb;                       /* k1 with another request */
    twin1.idempotency_key = twin2.idempotency_key = "k2"; /* twice in one batch */
    const order_new *batch[] = {&plain, &again, &other, &twin1, &twin2};
    int rc[5];
    Swifteats__V1__Order *out[5] = {0};
    se_status sts[5];
    order_store_insert_many(s, batch, 5, rc, out, sts);
    ck_assert_int_eq(rc[0], 1);
    ck_assert_int_eq(rc[1], 0);
    ck_assert_int_eq(out[1]->id, m0->id);
    ck_assert_int_eq(rc[2], -1);
    ck_assert_int_eq(sts[2].code, GRPC_STATUS_ALREADY_EXISTS);
    ck_assert_int_eq(rc[3], 1);
    ck_assert_int_eq(rc[4], 0);
    ck_assert_int_eq(out[4]->id, out[3]->id);
    ck_assert_int_gt(out[3]->id, out[0]->id); /* ids in request order */
    ck_assert_str_eq(out[0]->items[0]->item_name, "x \"quoted\" \\");
    ck_assert_int_eq(out[0]->items[0]->quantity, 2);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 3);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM payment_outbox WHERE request_id = 'r1'"), 1);
    for (int i = 0; i < 5; i++)
        if (out[i] != NULL)
            se_msg_free(&out[i]->base);
    /* a CHECK violation (a total of 0) fails its order only */
    order_new bad = plain, good = plain;
    bad.total_amount = 0;
    const order_new *batch2[] = {&good, &bad};
    order_store_insert_many(s, batch2, 2, rc, out, sts);
    ck_assert_int_eq(rc[0], 1);
    ck_assert_int_eq(rc[1], -1);
    ck_assert_int_eq(sts[1].code, GRPC_STATUS_INTERNAL);
    se_msg_free(&out[0]->base);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders"), 4);
    se_msg_free(&m0->base);
}
END_TEST

/* A crash between a commit and its XADD leaves an unsent row: the relay of
 * the next process sends it at start-up - but not the rows created after
 * it started (the process sends those itself). One row of each kind: the
 * later one is stamped an hour ahead, so no timing can put it before the
 * start; both would be claimed by the same statement. */
START_TEST(an_unsent_row_is_sent_by_the_next_relay)
{
    mt_exec("INSERT INTO orders (id, customer_id, total_amount, status)"
            " VALUES (900001, 'cust-crash', 100, 'payment_processing'),"
            " (900003, 'cust-later', 100, 'payment_processing');"
            "INSERT INTO payment_outbox (order_id, request_id, created_at)"
            " VALUES (900001, 'r-crash', now()), (900003, 'r-later', now() + interval '1 hour')");
    ck_assert_int_eq(ot_stream_jobs(900001), 0);
    order_service_config cfg = ot_config(); /* a new stream: ot_stream, deleted by teardown */
    cfg.outbox.pg_url = mt_url;
    order_outbox *next = order_outbox_create(&cfg.outbox);
    ck_assert_ptr_nonnull(next);
    SE_POLL_UNTIL(ot_stream_jobs(900001) == 1, 5000);
    ck_assert_int_eq(ot_stream_jobs(900001), 1);
    ck_assert_int_eq(ot_stream_jobs(900003), 0);
    order_outbox_destroy(next);
}
END_TEST

/* An insert whose commit is unknown (the connection dropped during it)
 * asks the relay for every unsent row created since shortly before it. */
START_TEST(a_sweep_sends_unsent_rows_created_since)
{
    /* created after the service started: not the start-up pass's to send */
    mt_exec("INSERT INTO orders (id, customer_id, total_amount, status)"
            " VALUES (900002, 'cust-lost', 100, 'payment_processing');"
            "INSERT INTO payment_outbox (order_id, request_id) VALUES (900002, 'r-lost')");
    se_test_sleep_ms(SE_T(200));
    ck_assert_int_eq(ot_stream_jobs(900002), 0); /* no relay pass sends it by itself */
    order_outbox_sweep_since(order_service_outbox(ot_svc), se_wall_us() - 60 * 1000000LL);
    SE_POLL_UNTIL(ot_stream_jobs(900002) == 1, 5000);
    ck_assert_int_eq(ot_stream_jobs(900002), 1);
}
END_TEST

/* ---- Redis down ------------------------------------------------------------------------ */

START_TEST(orders_are_accepted_while_redis_is_down)
{
    se_test_stack("stop-redis");
    Swifteats__V1__Order *m = ot_create_simple("cust-r", ot_orderable_item(1, 0), 1);
    ck_assert_int_eq(m->status, SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING);
    SE_POLL_UNTIL(order_outbox_failing(order_service_outbox(ot_svc)), 5000);
    ck_assert(order_outbox_failing(order_service_outbox(ot_svc)));
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_outbox WHERE order_id = %" PRId64
                                 " AND enqueued_at IS NULL", m->id), 1);
    Swifteats__V1__Order *m2 = ot_create_simple("cust-r", ot_orderable_item(1, 1), 1);
    se_test_stack("start-redis");
    SE_POLL_UNTIL(ot_stream_jobs(m->id) == 1 && ot_stream_jobs(m2->id) == 1, 10000);
    ck_assert_int_eq(ot_stream_jobs(m->id), 1);
    ck_assert_int_eq(ot_stream_jobs(m2->id), 1);
    /* the relay notes the recovery after its COMMIT, just after the XADDs */
    SE_POLL_UNTIL(!order_outbox_failing(order_service_outbox(ot_svc)), 5000);
    ck_assert(!order_outbox_failing(order_service_outbox(ot_svc)));
    se_msg_free(&m->base);
    se_msg_free(&m2->base);
}
END_TEST

static Suite *order_create_suite(void)
{
    Suite *s = suite_create("order_create");
    TCase *tc = tcase_create("create");
    tcase_add_checked_fixture(tc, ot_setup, ot_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, create_prices_from_the_menu_and_enqueues_the_job);
    tcase_add_test(tc, the_consumer_group_exists_and_sees_the_job);
    tcase_add_test(tc, busy_restaurants_take_orders_and_duplicates_stay_lines);
    tcase_add_test(tc, customer_id_is_required);
    tcase_add_test(tc, customer_id_is_at_most_64_bytes);
    tcase_add_test(tc, items_are_required);
    tcase_add_test(tc, at_most_50_items);
    tcase_add_test(tc, item_id_must_be_a_canonical_positive_integer);
    tcase_add_test(tc, quantity_must_be_1_to_100);
    tcase_add_test(tc, price_must_be_positive);
    tcase_add_test(tc, fields_are_checked_in_declaration_order);
    tcase_add_test(tc, idempotency_key_is_at_most_255_bytes);
    tcase_add_test(tc, unknown_item_is_invalid_argument);
    tcase_add_test(tc, unavailable_or_out_of_stock_item_is_refused);
    tcase_add_test(tc, closed_restaurant_is_refused);
    tcase_add_test(tc, price_mismatch_names_the_menu_price);
    tcase_add_test(tc, menu_service_down_is_unavailable);
    tcase_add_test(tc, same_key_same_request_returns_the_same_order);
    tcase_add_test(tc, same_key_different_request_is_already_exists);
    tcase_add_test(tc, concurrent_requests_with_one_key_make_one_order);
    tcase_add_test(tc, concurrent_orders_are_inserted_together_and_each_gets_its_own);
    tcase_add_test(tc, a_batch_resolves_keys_and_isolates_a_bad_order);
    tcase_add_test(tc, an_unsent_row_is_sent_by_the_next_relay);
    tcase_add_test(tc, a_sweep_sends_unsent_rows_created_since);
    tcase_add_test(tc, orders_are_accepted_while_redis_is_down);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(order_create_suite());
}
