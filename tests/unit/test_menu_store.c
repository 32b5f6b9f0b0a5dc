/* test_menu_store.c - the menu service's PostgreSQL layer without gRPC:
 * migrations (applied once), the seed data set (deterministic, every
 * cuisine, status and several cities, 40 items per restaurant), the query
 * plans of the hot queries on the full 1,000-restaurant data set (index
 * scans, never a sequential scan), and the store's reads and writes.
 */
#include "menu_test.h"

static se_pg_pool *st_pool;
static menu_store *st_store;

/* A schema of its own holding `restaurants` seeded restaurants. */
static void store_setup_n(int restaurants)
{
    se_log_init("test");
    const char *base = se_test_env_url("SE_PG_URL");
    snprintf(mt_schema, sizeof mt_schema, "%s", se_test_uniq("menu_s_", "", ""));
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", mt_schema,
             mt_schema);
    mt_exec_base(sql);
    snprintf(mt_url, sizeof mt_url, "%s%coptions=-csearch_path%%3D%s", base,
             strchr(base, '?') ? '&' : '?', mt_schema);
    se_pg_err err;
    st_pool = se_pg_pool_create(mt_url, 2, &err);
    ck_assert_msg(st_pool != NULL, "%s", err.msg);
    st_store = menu_store_create(st_pool);
    ck_assert_int_eq(menu_store_migrate(st_store), 0);
    se_pg_conn *c = se_pg_pool_acquire(st_pool, 0);
    menu_seed_opts o = MENU_SEED_DEFAULTS;
    o.restaurants = restaurants;
    ck_assert_int_eq(menu_seed(c, &o, 1, &err), restaurants);
    se_pg_pool_release(st_pool, c);
}

static void store_setup_full(void)
{
    store_setup_n(1000);
}

static void store_setup_small(void)
{
    store_setup_n(30);
}

static void store_teardown(void)
{
    menu_store_destroy(st_store);
    se_pg_pool_destroy(st_pool);
    mt_db_teardown();
}

/* The first column of the first row of sql, as a long. */
static long scalar(const char *sql)
{
    se_pg_conn *c = se_pg_pool_acquire(st_pool, 0);
    se_pg_err err;
    PGresult *r = se_pg_exec_params(c, sql, 0, NULL, 0, &err);
    se_pg_pool_release(st_pool, c);
    ck_assert_msg(r != NULL, "%s: %s", sql, err.msg);
    long v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* The text of EXPLAIN sql, one line per row, joined. OWNERSHIP: static. */
static const char *explain(const char *sql)
{
    static char out[8192];
    char q[2048];
    snprintf(q, sizeof q, "EXPLAIN %s", sql);
    se_pg_conn *c = se_pg_pool_acquire(st_pool, 0);
    se_pg_err err;
    PGresult *r = se_pg_exec_params(c, q, 0, NULL, 0, &err);
    se_pg_pool_release(st_pool, c);
    ck_assert_msg(r != NULL, "%s: %s", q, err.msg);
    size_t off = 0;
    out[0] = '\0';
    for (int i = 0; i < PQntuples(r); i++)
        off += (size_t)snprintf(out + off, sizeof out - off, "%s\n", PQgetvalue(r, i, 0));
    PQclear(r);
    return out;
}

/* ---- migrations and seed --------------------------------------------------------- */

START_TEST(migrations_apply_once)
{
    se_pg_conn *c = se_pg_pool_acquire(st_pool, 0);
    se_pg_err err;
    ck_assert_int_eq(se_pg_migrate_list(c, "menu", menu_migrations, menu_n_migrations, &err), 0);
    se_pg_pool_release(st_pool, c);
    ck_assert_int_eq(scalar("SELECT count(*) FROM schema_migrations WHERE scope = 'menu'"),
                     (long)menu_n_migrations);
}
END_TEST

START_TEST(seed_covers_every_cuisine_status_and_several_cities)
{
    ck_assert_int_eq(scalar("SELECT count(*) FROM restaurants"), 1000);
    ck_assert_int_eq(scalar("SELECT count(DISTINCT cuisine_type) FROM restaurants"), 9);
    ck_assert_int_eq(scalar("SELECT count(DISTINCT status) FROM restaurants"), 4);
    ck_assert_int_ge(scalar("SELECT count(DISTINCT city) FROM restaurants"), 5);
    ck_assert_int_eq(scalar("SELECT count(*) FROM menu_items"), 40000);
    ck_assert_int_eq(scalar("SELECT count(*) FROM menu_categories"), 5000);
    ck_assert_int_eq(scalar("SELECT min(n) FROM (SELECT count(*) n FROM menu_items "
                            "GROUP BY restaurant_id) x"),
                     40);
    ck_assert_int_eq(scalar("SELECT count(*) FROM menu_items WHERE price_cents <= 0"), 0);
    /* sequences continue after the explicit ids */
    ck_assert_int_eq(scalar("SELECT nextval(pg_get_serial_sequence('restaurants', 'id'))"), 1001);
}
END_TEST

START_TEST(seed_is_deterministic_and_skips_a_full_catalogue)
{
    long sum = scalar("SELECT sum(hashtext(name || city || status || rating::text)) % 1000000007 "
                      "FROM restaurants");
    long items = scalar("SELECT sum(hashtext(name || price_cents::text || available::text)) % "
                        "1000000007 FROM menu_items");
    se_pg_conn *c = se_pg_pool_acquire(st_pool, 0);
    se_pg_err err;
    menu_seed_opts o = MENU_SEED_DEFAULTS;
    o.restaurants = 30;
    ck_assert_int_eq(menu_seed(c, &o, 1, &err), 0); /* not empty: nothing */
    ck_assert_int_eq(se_pg_exec(c, "TRUNCATE restaurants CASCADE", 0, &err), 0);
    ck_assert_int_eq(menu_seed(c, &o, 1, &err), 30);
    se_pg_pool_release(st_pool, c);
    ck_assert_int_eq(sum, scalar("SELECT sum(hashtext(name || city || status || rating::text)) % "
                                 "1000000007 FROM restaurants"));
    ck_assert_int_eq(items, scalar("SELECT sum(hashtext(name || price_cents::text || "
                                   "available::text)) % 1000000007 FROM menu_items"));
}
END_TEST

/* ---- query plans on 1,000 restaurants ------------------------------------------------- */

#define RCOLS "id, name, status, rating, city"

static void expect_index_plan(const char *sql, const char *index)
{
    const char *plan = explain(sql);
    ck_assert_msg(strstr(plan, "Seq Scan") == NULL, "sequential scan for %s:\n%s", sql, plan);
    if (index != NULL)
        ck_assert_msg(strstr(plan, index) != NULL, "%s not used for %s:\n%s", index, sql, plan);
}

START_TEST(hot_queries_use_indexes)
{
    /* the statements of menu_store.c, with literal parameters */
    expect_index_plan("SELECT " RCOLS " FROM restaurants WHERE id = 7", "restaurants_pkey");
    expect_index_plan("SELECT m.updated_at FROM restaurants r LEFT JOIN menus m "
                      "ON m.restaurant_id = r.id WHERE r.id = 7",
                      "menus_pkey");
    expect_index_plan("SELECT c.id, i.id FROM menu_categories c LEFT JOIN menu_items i "
                      "ON i.restaurant_id = c.restaurant_id AND i.category_id = c.id "
                      "WHERE c.restaurant_id = 7 ORDER BY c.display_order, c.id, i.id",
                      "menu_categories_restaurant_order");
    expect_index_plan("SELECT count(*) FROM restaurants", NULL);
    expect_index_plan("SELECT " RCOLS " FROM restaurants ORDER BY id LIMIT 20 OFFSET 0",
                      "restaurants_pkey");
    expect_index_plan("SELECT " RCOLS " FROM restaurants ORDER BY id LIMIT 20 OFFSET 980",
                      "restaurants_pkey");
    expect_index_plan("SELECT count(*) FROM restaurants WHERE cuisine_type = 'thai'",
                      "restaurants_cuisine_id");
    expect_index_plan("SELECT " RCOLS " FROM restaurants WHERE cuisine_type = 'thai' "
                      "ORDER BY id LIMIT 20 OFFSET 0",
                      NULL);
    expect_index_plan("SELECT count(*) FROM restaurants WHERE status = 'maintenance'",
                      "restaurants_status_id");
    expect_index_plan("SELECT " RCOLS " FROM restaurants WHERE status = 'open' "
                      "ORDER BY id LIMIT 20 OFFSET 0",
                      NULL);
    expect_index_plan("SELECT count(*) FROM restaurants WHERE lower(city) = lower('Boston')",
                      "restaurants_city_id");
    expect_index_plan("SELECT count(*) FROM restaurants WHERE rating >= 4.5",
                      "restaurants_rating_id");
    expect_index_plan("SELECT " RCOLS " FROM restaurants WHERE cuisine_type = 'thai' AND "
                      "status = 'open' AND rating >= 4 AND lower(city) = lower('Boston') "
                      "ORDER BY id LIMIT 20 OFFSET 0",
                      NULL);
    expect_index_plan("SELECT i.id, r.status FROM menu_items i JOIN restaurants r "
                      "ON r.id = i.restaurant_id WHERE i.id = ANY('{1,2,3,500}'::bigint[])",
                      "menu_items_pkey");
}
END_TEST

/* ---- reads and writes ------------------------------------------------------------------ */

START_TEST(store_reads_build_complete_messages)
{
    se_status st;
    Swifteats__V1__Restaurant *r = NULL;
    ck_assert_int_eq(menu_store_get_restaurant(st_store, 2, &r, &st), 0);
    ck_assert_int_eq(r->status, SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_CLOSED);
    ck_assert_int_eq(r->cuisine_type, SWIFTEATS__V1__CUISINE_TYPE__CUISINE_TYPE_CHINESE);
    ck_assert_str_eq(r->city, "New York");
    se_msg_free(&r->base);
    Swifteats__V1__Menu *m = NULL;
    ck_assert_int_eq(menu_store_get_menu(st_store, 2, &m, &st), 0);
    ck_assert_uint_eq(m->n_categories, 5);
    ck_assert_uint_eq(m->categories[0]->n_items, 8);
    ck_assert_str_eq(m->categories[1]->name, "Mains");
    se_msg_free(&m->base);
    ck_assert_int_eq(menu_store_get_menu(st_store, 31, &m, &st), -1);
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);

    menu_list_query q = {.cuisine = 0, .status = 0, .min_rating = 0, .city = "", .page = 2,
                         .page_size = 7};
    Swifteats__V1__ListRestaurantsResponse *l = NULL;
    ck_assert_int_eq(menu_store_list(st_store, &q, &l, &st), 0);
    ck_assert_int_eq(l->total, 30);
    ck_assert_uint_eq(l->n_restaurants, 7);
    ck_assert_int_eq(l->restaurants[0]->id, 8);
    se_msg_free(&l->base);
    q.city = "new york";
    q.page = 1;
    ck_assert_int_eq(menu_store_list(st_store, &q, &l, &st), 0);
    ck_assert_int_eq(l->restaurants[0]->id, 2);
    se_msg_free(&l->base);
}
END_TEST

START_TEST(store_status_write_checks_capacity_under_lock)
{
    se_status st;
    int32_t cap = -1;
    ck_assert_int_eq(scalar("UPDATE restaurants SET max_capacity = 4, current_capacity = 0 "
                            "WHERE id = 9 RETURNING 1"),
                     1);
    ck_assert_int_eq(menu_store_update_status(st_store, 9, 3, 1, 5, &cap, &st), -1);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_int_eq(menu_store_update_status(st_store, 9, 3, 1, 4, &cap, &st), 0);
    ck_assert_int_eq(cap, 4);
    ck_assert_int_eq(menu_store_update_status(st_store, 9, 1, 0, 0, &cap, &st), 0);
    ck_assert_int_eq(cap, 4); /* unchanged */
    ck_assert_int_eq(scalar("SELECT count(*) FROM restaurants WHERE id = 9 AND status = 'open'"),
                     1);
}
END_TEST

START_TEST(store_bulk_write_rolls_back_on_an_unknown_item)
{
    se_status st;
    menu_item_flags f[] = {{1, 0, 0}, {2, 0, 0}, {41, 0, 0}};
    ck_assert_int_eq(scalar("UPDATE menu_items SET available = true WHERE id IN (1, 2) "
                            "RETURNING 1"),
                     1);
    ck_assert_int_eq(menu_store_bulk_update(st_store, 1, f, 3, &st), -1);
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    ck_assert_str_eq(st.message, "item 41 not found on the menu of restaurant 1");
    ck_assert_int_eq(scalar("SELECT count(*) FROM menu_items WHERE id IN (1, 2) AND available"),
                     2);
    ck_assert_int_eq(menu_store_bulk_update(st_store, 1, f, 2, &st), 0);
    ck_assert_int_eq(scalar("SELECT count(*) FROM menu_items WHERE id IN (1, 2) AND available"),
                     0);
}
END_TEST

START_TEST(store_counts_loads_and_epoch_reads_apart)
{
    se_status st;
    unsigned long l0 = menu_store_loads(st_store);
    int64_t e0 = 0, e1 = 0;
    ck_assert_int_eq(menu_store_cache_epoch(st_store, &e0, &st), 0);
    ck_assert_int_eq(menu_store_bump_cache_epoch(st_store, &e1, &st), 0);
    ck_assert_int_eq(e1, e0 + 1);
    ck_assert_uint_eq(menu_store_loads(st_store), l0);
    Swifteats__V1__RestaurantLiveStatus *s = NULL;
    ck_assert_int_eq(menu_store_get_status(st_store, 1, &s, &st), 0);
    se_msg_free(&s->base);
    ck_assert_uint_eq(menu_store_loads(st_store), l0 + 1);
}
END_TEST

Suite *menu_store_suite(void)
{
    Suite *s = suite_create("menu_store");
    TCase *full = tcase_create("full_data_set");
    tcase_add_checked_fixture(full, store_setup_full, store_teardown);
    tcase_set_timeout(full, 120);
    tcase_add_test(full, seed_covers_every_cuisine_status_and_several_cities);
    tcase_add_test(full, hot_queries_use_indexes);
    suite_add_tcase(s, full);
    TCase *small = tcase_create("small");
    tcase_add_checked_fixture(small, store_setup_small, store_teardown);
    tcase_set_timeout(small, 60);
    tcase_add_test(small, migrations_apply_once);
    tcase_add_test(small, seed_is_deterministic_and_skips_a_full_catalogue);
    tcase_add_test(small, store_reads_build_complete_messages);
    tcase_add_test(small, store_status_write_checks_capacity_under_lock);
    tcase_add_test(small, store_bulk_write_rolls_back_on_an_unknown_item);
    tcase_add_test(small, store_counts_loads_and_epoch_reads_apart);
    suite_add_tcase(s, small);
    return s;
}

int main(void)
{
    return se_test_run(menu_store_suite());
}
