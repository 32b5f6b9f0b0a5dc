/* test_order_query.c - GetOrder and ListOrders over real gRPC (filters,
 * defaults, pagination, newest first, items and attempts on every order of
 * a page), their validation, the migrations, and EXPLAIN of the list
 * statements exactly as order_store.c sends them over 20,000 orders: each
 * filter uses its index.
 */
#include "order_test.h"

#define ST_PROCESSING SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING
#define ST_CONFIRMED SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED

static Swifteats__V1__ListOrdersResponse *list(const char *customer, int status, int page,
                                               int page_size, se_status *st)
{
    Swifteats__V1__ListOrdersRequest req = SWIFTEATS__V1__LIST_ORDERS_REQUEST__INIT;
    req.customer_id = (char *)customer;
    req.status = status;
    req.page = page;
    req.page_size = page_size;
    Swifteats__V1__ListOrdersResponse *resp = NULL;
    swifteats_v1_order_service_list_orders(ot_ch, &req, &resp, NULL, st);
    return resp;
}

/* ---- GetOrder ---------------------------------------------------------------------- */

START_TEST(get_order_errors)
{
    se_status st;
    ck_assert_ptr_null(ot_get(0, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "order_id must be a positive integer");
    ck_assert_ptr_null(ot_get(-7, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "order_id");
    ck_assert_ptr_null(ot_get(424242, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_NOT_FOUND, "order 424242 not found");
}
END_TEST

/* ---- ListOrders ---------------------------------------------------------------------- */

/* Orders for "alice" (5) and "bob" (3), alternating; ids[] in creation
 * order. The 2nd of alice's is confirmed. */
static void make_orders(int64_t ids[8])
{
    int64_t item = ot_orderable_item(1, 0);
    for (int i = 0; i < 8; i++) {
        Swifteats__V1__Order *m = ot_create_simple(i % 2 == 0 || i > 5 ? "alice" : "bob", item,
                                                   1 + i);
        ids[i] = m->id;
        se_msg_free(&m->base);
    }
    se_status st;
    se_msg_free(&ot_complete(ids[2], ST_CONFIRMED, "ch", &st)->base);
}

START_TEST(list_is_newest_first_with_defaults)
{
    int64_t ids[8];
    make_orders(ids);
    se_status st;
    Swifteats__V1__ListOrdersResponse *r = list("", 0, 0, 0, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_int_eq(r->total, 8);
    ck_assert_int_eq(r->page, 1);
    ck_assert_int_eq(r->page_size, 20);
    ck_assert_uint_eq(r->n_orders, 8);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(r->orders[i]->id, ids[7 - i]);
        ck_assert_uint_eq(r->orders[i]->n_items, 1);
        ck_assert_int_eq(r->orders[i]->items[0]->quantity, 8 - i);
    }
    se_msg_free(&r->base);
}
END_TEST

START_TEST(list_pages_and_past_the_end)
{
    int64_t ids[8];
    make_orders(ids);
    se_status st;
    Swifteats__V1__ListOrdersResponse *r = list("", 0, 2, 3, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_int_eq(r->total, 8);
    ck_assert_int_eq(r->page, 2);
    ck_assert_int_eq(r->page_size, 3);
    ck_assert_uint_eq(r->n_orders, 3);
    ck_assert_int_eq(r->orders[0]->id, ids[4]);
    ck_assert_int_eq(r->orders[2]->id, ids[2]);
    se_msg_free(&r->base);
    r = list("", 0, 3, 3, &st);
    ck_assert_uint_eq(r->n_orders, 2);
    se_msg_free(&r->base);
    r = list("", 0, 4, 3, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_uint_eq(r->n_orders, 0);
    ck_assert_int_eq(r->total, 8);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(list_filters_combine)
{
    int64_t ids[8];
    make_orders(ids);
    se_status st;
    Swifteats__V1__ListOrdersResponse *r = list("alice", 0, 0, 0, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_int_eq(r->total, 5);
    for (size_t i = 0; i < r->n_orders; i++)
        ck_assert_str_eq(r->orders[i]->customer_id, "alice");
    ck_assert_int_eq(r->orders[0]->id, ids[7]);
    se_msg_free(&r->base);
    r = list("", ST_CONFIRMED, 0, 0, &st);
    ck_assert_int_eq(r->total, 1);
    ck_assert_int_eq(r->orders[0]->id, ids[2]);
    se_msg_free(&r->base);
    r = list("alice", ST_PROCESSING, 0, 0, &st);
    ck_assert_int_eq(r->total, 4);
    se_msg_free(&r->base);
    r = list("bob", ST_CONFIRMED, 0, 0, &st);
    ck_assert_int_eq(r->total, 0);
    ck_assert_uint_eq(r->n_orders, 0);
    se_msg_free(&r->base);
    r = list("nobody", 0, 0, 0, &st);
    ck_assert_int_eq(r->total, 0);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(list_carries_items_and_attempts_of_every_order)
{
    int64_t a = ot_orderable_item(1, 0), b = ot_orderable_item(1, 1);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        ot_order_req o;
        ot_req_init(&o, "carol");
        ot_req_add(&o, a, 1);
        for (int k = 0; k < i; k++)
            ot_req_add(&o, b, k + 1);
        se_status st;
        Swifteats__V1__Order *m = ot_create(&o, &st);
        ck_assert_msg(m != NULL, "%s", st.message);
        ids[i] = m->id;
        se_msg_free(&m->base);
    }
    /* attempts on the first and last order, written out of order */
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO payment_attempts (order_id, attempt_number, status, amount, "
             "idempotency_key, error_message) VALUES (%" PRId64 ", 2, 'success', 5, 'k', NULL), "
             "(%" PRId64 ", 1, 'failed', 5, 'k', 'declined: card'), "
             "(%" PRId64 ", 1, 'processing', 5, 'k', NULL)",
             ids[2], ids[2], ids[0]);
    mt_exec(sql);
    se_status st;
    Swifteats__V1__ListOrdersResponse *r = list("carol", 0, 0, 0, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_uint_eq(r->n_orders, 3);
    Swifteats__V1__Order *last = r->orders[0], *mid = r->orders[1], *first = r->orders[2];
    ck_assert_int_eq(last->id, ids[2]);
    ck_assert_uint_eq(last->n_items, 3);
    ck_assert_int_eq(last->items[2]->quantity, 2); /* lines in request order */
    ck_assert_uint_eq(last->n_payment_attempts, 2);
    ck_assert_int_eq(last->payment_attempts[0]->attempt_number, 1);
    ck_assert_str_eq(last->payment_attempts[0]->error_message, "declined: card");
    ck_assert_int_eq(last->payment_attempts[1]->attempt_number, 2);
    ck_assert_int_eq(last->payment_attempts[1]->_error_message_case, 0);
    ck_assert_uint_eq(mid->n_items, 2);
    ck_assert_uint_eq(mid->n_payment_attempts, 0);
    ck_assert_uint_eq(first->n_items, 1);
    ck_assert_uint_eq(first->n_payment_attempts, 1);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(list_validation_names_the_field)
{
    se_status st;
    ck_assert_ptr_null(list("", 0, -1, 0, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "page must be >= 1 (got -1)");
    ck_assert_ptr_null(list("", 0, 0, 101, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "page_size must be between 1 and 100");
    ck_assert_ptr_null(list("", 0, 0, -1, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "page_size");
    ck_assert_ptr_null(list("", 42, 0, 0, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "status 42 is not a known OrderStatus");
    Swifteats__V1__ListOrdersResponse *r = list("", 0, 0, 100, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    se_msg_free(&r->base);
}
END_TEST

/* ---- schema ---------------------------------------------------------------------------- */

START_TEST(migrations_apply_once)
{
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create(mt_url, &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(se_pg_migrate_list(c, "order", order_migrations, order_n_migrations, &err),
                     0);
    se_pg_conn_destroy(c);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM schema_migrations WHERE scope = 'order'"),
                     (int64_t)order_n_migrations);
}
END_TEST

/* The plan of sql with params: the custom plan (generic = 0) or, since the
 * store prepares every statement, the generic plan PostgreSQL may switch to
 * after five executions (generic = 1: PREPARE, then EXPLAIN EXECUTE under
 * plan_cache_mode = force_generic_plan). */
static void plan_of(se_pg_conn *c, const char *sql, int n, const char *const *params, int generic,
                    char *plan, size_t cap)
{
    char text[4096];
    se_pg_err err;
    PGresult *r;
    if (!generic) {
        snprintf(text, sizeof text, "EXPLAIN %s", sql);
        r = se_pg_exec_params(c, text, n, params, 0, &err);
    } else {
        snprintf(text, sizeof text,
                 "SET plan_cache_mode = force_generic_plan; DEALLOCATE ALL; PREPARE s AS %s", sql);
        ck_assert_msg(se_pg_exec(c, text, 0, &err) == 0, "%s: %s", text, err.msg);
        size_t len = (size_t)snprintf(text, sizeof text, "EXPLAIN EXECUTE s");
        for (int i = 0; i < n; i++) {
            char *lit = PQescapeLiteral(se_pg_conn_raw(c), params[i], strlen(params[i]));
            len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", i ? ", " : "(", lit);
            PQfreemem(lit);
        }
        snprintf(text + len, sizeof text - len, "%s", n ? ")" : "");
        r = se_pg_exec_params(c, text, 0, NULL, 0, &err);
    }
    ck_assert_msg(r != NULL, "%s: %s", text, err.msg);
    plan[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++) {
        strncat(plan, PQgetvalue(r, i, 0), cap - strlen(plan) - 2);
        strcat(plan, "\n");
    }
    PQclear(r);
    ck_assert_int_eq(se_pg_exec(c, "RESET plan_cache_mode", 0, &err), 0);
}

/* Both plans of sql must name `index` and scan no table sequentially. */
static void expect_index(se_pg_conn *c, const char *sql, int n, const char *const *params,
                         const char *index)
{
    for (int generic = 0; generic < 2; generic++) {
        char plan[8192];
        plan_of(c, sql, n, params, generic, plan, sizeof plan);
        ck_assert_msg(strstr(plan, "Seq Scan") == NULL, "%s (%s plan)\n%s", sql,
                      generic ? "generic" : "custom", plan);
        ck_assert_msg(strstr(plan, index) != NULL, "%s (%s plan): want %s\n%s", sql,
                      generic ? "generic" : "custom", index, plan);
    }
}

/* The same for a ListOrders statement as order_store.c builds it. */
static void expect_plan(se_pg_conn *c, const order_list_query *q, int count, const char *index)
{
    char sql[600], numbers[2][24];
    const char *params[4];
    int n = order_store_list_sql(q, count, sql, sizeof sql, params, numbers);
    expect_index(c, sql, n, params, index);
}

START_TEST(list_queries_use_indexes)
{
    /* 20,000 orders: 200 customers, 5 states, one item and attempt each */
    mt_exec("INSERT INTO orders (customer_id, total_amount, status, created_at, updated_at) "
            "SELECT 'c' || (g % 200), 100 + g, "
            "(ARRAY['pending','payment_processing','confirmed','payment_failed','cancelled'])"
            "[1 + g % 5], now() - g * interval '1 second', now() "
            "FROM generate_series(1, 20000) g;"
            "INSERT INTO order_items (order_id, line_no, menu_item_id, item_name, quantity, price)"
            " SELECT id, 0, 1, 'x', 1, total_amount FROM orders;"
            "INSERT INTO payment_attempts (order_id, attempt_number, status, amount, "
            "idempotency_key) SELECT id, 1, 'success', total_amount, 'k' FROM orders");
    /* as autovacuum would: statistics, and the visibility map for index-only
     * scans (VACUUM runs outside a transaction block: one each) */
    mt_exec("VACUUM ANALYZE orders");
    mt_exec("VACUUM ANALYZE order_items");
    mt_exec("VACUUM ANALYZE payment_attempts");
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create(mt_url, &err);
    ck_assert_ptr_nonnull(c);
    order_list_query all = {"", 0, 1, 20}, cust = {"c7", 0, 1, 20},
                     stat = {"", SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED, 1, 20},
                     both = {"c7", SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED, 1, 20},
                     deep = {"", 0, 50, 100};
    expect_plan(c, &all, 0, "orders_created");
    expect_plan(c, &deep, 0, "orders_created");
    expect_plan(c, &cust, 0, "orders_customer_created");
    expect_plan(c, &stat, 0, "orders_status_created");
    expect_plan(c, &both, 0, "orders_customer_created");
    expect_plan(c, &cust, 1, "orders_customer_created");
    expect_plan(c, &stat, 1, "orders_status_created");
    expect_plan(c, &both, 1, "orders_customer_created");
    /* the children of a page, and the outbox claim */
    const char *ids[] = {"{5,6,7,8}"};
    expect_index(c,
                 "SELECT i.order_id FROM order_items i WHERE i.order_id = ANY($1::bigint[]) "
                 "ORDER BY i.order_id, i.line_no",
                 1, ids, "order_items_order_line");
    expect_index(c,
                 "SELECT a.order_id FROM payment_attempts a WHERE a.order_id = "
                 "ANY($1::bigint[]) ORDER BY a.order_id, a.attempt_number",
                 1, ids, "payment_attempts_order_attempt");
    mt_exec("INSERT INTO payment_outbox (order_id, request_id, enqueued_at) "
            "SELECT id, 'r', CASE WHEN id % 50 = 0 THEN NULL ELSE now() END FROM orders;"
            "ANALYZE payment_outbox");
    char claim[1300];
    order_store_outbox_claim_sql(claim, sizeof claim, 256, 300000);
    const char *from[] = {"1700000000000000", "253402300799000000"};
    expect_index(c, claim, 2, from, "payment_outbox_unsent");
    expect_index(c, claim, 2, from, "payment_outbox_enqueued_at");
    expect_index(c, claim, 2, from, "payment_outbox_pkey");
    /* statistics that no longer match (every row was new when analyzed, now
     * every row is enqueued): still index scans */
    mt_exec("UPDATE payment_outbox SET enqueued_at = NULL; ANALYZE payment_outbox;"
            "UPDATE payment_outbox SET enqueued_at = now()");
    expect_index(c, claim, 2, from, "payment_outbox_unsent");
    se_pg_conn_destroy(c);
}
END_TEST

/* The payment worker's batch statements on a young database (a few
 * orders, never analyzed: what a fresh deployment's first minute looks
 * like) under the payment pool's session settings: the orders are looked
 * up by key, not scanned (a generic plan made now lasts the session). */
START_TEST(payment_batches_look_orders_up_by_key)
{
    mt_exec("INSERT INTO orders (customer_id, total_amount, status) "
            "SELECT 'c', 100, 'payment_processing' FROM generate_series(1, 3)");
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create_ex(mt_url, ORDER_PG_PAYMENT_SESSION_SQL, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    const char *ids[] = {"{1,2,3}"};
    expect_index(c, order_store_jobs_start_sql(), 1, ids, "orders_pkey");
    const char *reports[] = {"{1,2,3}", "{1,1,1}", "{success,failed,failed}", "{100,100,100}",
                             "{NULL,x,x}", "{ch,NULL,NULL}", "{k,k,k}",
                             "{confirmed,payment_failed,NULL}", "{NULL,r,NULL}"};
    expect_index(c, order_store_attempts_sql(), 9, reports, "orders_pkey");
    se_pg_conn_destroy(c);
}
END_TEST

static Suite *order_query_suite(void)
{
    Suite *s = suite_create("order_query");
    TCase *tc = tcase_create("query");
    tcase_add_checked_fixture(tc, ot_setup, ot_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, get_order_errors);
    tcase_add_test(tc, list_is_newest_first_with_defaults);
    tcase_add_test(tc, list_pages_and_past_the_end);
    tcase_add_test(tc, list_filters_combine);
    tcase_add_test(tc, list_carries_items_and_attempts_of_every_order);
    tcase_add_test(tc, list_validation_names_the_field);
    tcase_add_test(tc, migrations_apply_once);
    tcase_add_test(tc, list_queries_use_indexes);
    tcase_add_test(tc, payment_batches_look_orders_up_by_key);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(order_query_suite());
}
