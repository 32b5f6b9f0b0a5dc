/* test_menu_cache.c - the menu service's Redis cache: hits (no database
 * load on a second read), misses, invalidation after each operator write
 * (the next read sees it, on this replica and on another one), single
 * flight (concurrent misses -> one load), the late-fill race, Redis down or
 * paused (reads from PostgreSQL, writes succeed, and never a stale value
 * once Redis is back, also across replicas), and the off switch.
 * Reads go over real gRPC except where a test drives menu_cache directly
 * with a slow loader to make concurrency deterministic.
 */
#include <pthread.h>

#include "menu_test.h"
#include "menu_util.h"

/* ---- hits, misses, invalidation ---------------------------------------------------- */

START_TEST(second_read_is_served_from_redis)
{
    se_status st;
    unsigned long l0 = mt_loads();
    Swifteats__V1__Menu *m1 = mt_get_menu(4, &st);
    ck_assert_ptr_nonnull(m1);
    ck_assert_uint_eq(mt_loads(), l0 + 1); /* miss: one load */
    Swifteats__V1__Menu *m2 = mt_get_menu(4, &st);
    ck_assert_ptr_nonnull(m2);
    ck_assert_uint_eq(mt_loads(), l0 + 1); /* hit: no load */
    /* same bytes either way */
    size_t n1 = protobuf_c_message_get_packed_size(&m1->base);
    ck_assert_uint_eq(n1, protobuf_c_message_get_packed_size(&m2->base));
    uint8_t *b1 = malloc(n1), *b2 = malloc(n1);
    protobuf_c_message_pack(&m1->base, b1);
    protobuf_c_message_pack(&m2->base, b2);
    ck_assert_int_eq(memcmp(b1, b2, n1), 0);
    free(b1);
    free(b2);
    se_msg_free(&m1->base);
    se_msg_free(&m2->base);
    menu_cache_stats cs;
    menu_cache_get_stats(menu_service_cache(mt_svc), &cs);
    ck_assert_uint_ge(cs.hits, 1);
    ck_assert_uint_ge(cs.fills, 1);
}
END_TEST

START_TEST(a_change_behind_the_cache_is_not_seen)
{
    /* proves reads come from Redis: a write that bypasses the service
     * (no invalidation) stays invisible until the service invalidates */
    (void)mt_item_available(4, 61);
    int before = mt_item_available(4, 61);
    mt_exec(before ? "UPDATE menu_items SET available = false WHERE id = 61"
                   : "UPDATE menu_items SET available = true WHERE id = 61");
    ck_assert_int_eq(mt_item_available(4, 61), before);
    menu_cache_invalidate(menu_service_cache(mt_svc), 4, MENU_CHANGED_MENU);
    ck_assert_int_eq(mt_item_available(4, 61), !before);
}
END_TEST

START_TEST(parts_are_cached_separately)
{
    se_status st;
    Swifteats__V1__Menu *m = mt_get_menu(6, &st);
    se_msg_free(&m->base);
    unsigned long l0 = mt_loads();
    Swifteats__V1__GetMenuWithStatusRequest req = SWIFTEATS__V1__GET_MENU_WITH_STATUS_REQUEST__INIT;
    req.restaurant_id = 6;
    Swifteats__V1__MenuWithStatus *ms = NULL;
    ck_assert_int_eq(
        swifteats_v1_menu_service_get_menu_with_status(mt_ch, &req, &ms, NULL, &st), 0);
    se_msg_free(&ms->base);
    ck_assert_uint_eq(mt_loads(), l0 + 2); /* restaurant and status; the menu was cached */
    ck_assert_int_eq(
        swifteats_v1_menu_service_get_menu_with_status(mt_ch, &req, &ms, NULL, &st), 0);
    se_msg_free(&ms->base);
    ck_assert_uint_eq(mt_loads(), l0 + 2);
}
END_TEST

START_TEST(every_operator_write_is_seen_by_the_next_read)
{
    se_status st;
    /* warm every read model of restaurant 8 and a list page */
    Swifteats__V1__RestaurantLiveStatus *s = mt_get_status(8, &st);
    int status = s->status == 3 ? 1 : 3;
    se_msg_free(&s->base);
    Swifteats__V1__Restaurant *r = mt_get_restaurant(8, &st);
    se_msg_free(&r->base);
    Swifteats__V1__ListRestaurantsRequest lr = SWIFTEATS__V1__LIST_RESTAURANTS_REQUEST__INIT;
    lr.status = status;
    Swifteats__V1__ListRestaurantsResponse *l = NULL;
    ck_assert_int_eq(swifteats_v1_menu_service_list_restaurants(mt_ch, &lr, &l, NULL, &st), 0);
    int64_t total = l->total;
    se_msg_free(&l->base);
    int avail = mt_item_available(8, 141);

    ck_assert_int_eq(mt_set_status(8, status, -1, &st), GRPC_STATUS_OK);
    s = mt_get_status(8, &st);
    ck_assert_int_eq(s->status, status);
    se_msg_free(&s->base);
    r = mt_get_restaurant(8, &st);
    ck_assert_int_eq(r->status, status);
    se_msg_free(&r->base);
    ck_assert_int_eq(swifteats_v1_menu_service_list_restaurants(mt_ch, &lr, &l, NULL, &st), 0);
    ck_assert_int_eq(l->total, total + 1);
    se_msg_free(&l->base);

    ck_assert_int_eq(mt_set_item(8, 141, !avail, 1), GRPC_STATUS_OK);
    ck_assert_int_eq(mt_item_available(8, 141), !avail);

    Swifteats__V1__ItemAvailability e = SWIFTEATS__V1__ITEM_AVAILABILITY__INIT, *pe = &e;
    e.item_id = 141;
    e._available_case = SWIFTEATS__V1__ITEM_AVAILABILITY___AVAILABLE_AVAILABLE;
    e.available = avail;
    e._in_stock_case = SWIFTEATS__V1__ITEM_AVAILABILITY___IN_STOCK_IN_STOCK;
    e.in_stock = 1;
    Swifteats__V1__BulkUpdateItemAvailabilityRequest br =
        SWIFTEATS__V1__BULK_UPDATE_ITEM_AVAILABILITY_REQUEST__INIT;
    br.restaurant_id = 8;
    br.n_items = 1;
    br.items = &pe;
    Swifteats__V1__BulkUpdateItemAvailabilityResponse *bresp = NULL;
    ck_assert_int_eq(
        swifteats_v1_menu_service_bulk_update_item_availability(mt_ch, &br, &bresp, NULL, &st), 0);
    se_msg_free(&bresp->base);
    ck_assert_int_eq(mt_item_available(8, 141), avail);
}
END_TEST

START_TEST(another_replica_sees_a_write_at_once)
{
    menu_service_config cfg = mt_config();
    menu_service *other = menu_service_create(&cfg);
    ck_assert_ptr_nonnull(other);
    int avail = mt_item_available(9, 161); /* cached by this replica */
    se_status st;
    ck_assert_int_eq(menu_store_update_item(menu_service_store(other), 9, 161, !avail, 1, &st), 0);
    menu_cache_invalidate(menu_service_cache(other), 9, MENU_CHANGED_MENU);
    ck_assert_int_eq(mt_item_available(9, 161), !avail);
    menu_service_destroy(other);
}
END_TEST

/* ---- single flight ------------------------------------------------------------------ */

typedef struct slow_loader {
    int calls;            /* how many loads ran */
    int delay_ms;
    const char *payload;  /* what a load returns */
    pthread_mutex_t mu;
} slow_loader;

static int slow_load(void *arg, menu_part part, menu_blob *out, se_status *st)
{
    (void)part;
    (void)st;
    slow_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    l->calls++;
    const char *p = l->payload;
    pthread_mutex_unlock(&l->mu);
    usleep((useconds_t)l->delay_ms * 1000);
    out->len = strlen(p);
    out->data = se_xmalloc(out->len);
    memcpy(out->data, p, out->len);
    return 0;
}

typedef struct reader {
    pthread_t t;
    slow_loader *l;
    int64_t rid;
    char got[64];
    int rc;
} reader;

static void *read_main(void *p)
{
    reader *r = p;
    menu_part part = MENU_PART_MENU;
    menu_blob b;
    se_status st;
    r->rc = menu_cache_get(menu_service_cache(mt_svc), r->rid, NULL, &part, 1, slow_load, r->l, &b,
                           &st);
    if (r->rc == 0) {
        snprintf(r->got, sizeof r->got, "%.*s", (int)b.len, (const char *)b.data);
        free(b.data);
    }
    return NULL;
}

static void start_reader(reader *r, slow_loader *l, int64_t rid)
{
    memset(r, 0, sizeof *r);
    r->l = l;
    r->rid = rid;
    ck_assert_int_eq(pthread_create(&r->t, NULL, read_main, r), 0);
}

START_TEST(concurrent_misses_cause_one_load)
{
    slow_loader l = {0, 300, "menu-v1", PTHREAD_MUTEX_INITIALIZER};
    reader r[8];
    for (int i = 0; i < 8; i++)
        start_reader(&r[i], &l, 10);
    for (int i = 0; i < 8; i++) {
        pthread_join(r[i].t, NULL);
        ck_assert_int_eq(r[i].rc, 0);
        ck_assert_str_eq(r[i].got, "menu-v1");
    }
    ck_assert_int_eq(l.calls, 1);
    menu_cache_stats cs;
    menu_cache_get_stats(menu_service_cache(mt_svc), &cs);
    ck_assert_uint_eq(cs.shared_loads, 7);
    /* and the value is now cached */
    start_reader(&r[0], &l, 10);
    pthread_join(r[0].t, NULL);
    ck_assert_int_eq(l.calls, 1);
}
END_TEST

START_TEST(a_read_after_a_write_never_joins_an_older_load)
{
    slow_loader l = {0, 400, "old", PTHREAD_MUTEX_INITIALIZER};
    reader a, b;
    start_reader(&a, &l, 11);
    usleep(100 * 1000); /* a is loading "old" */
    pthread_mutex_lock(&l.mu);
    l.payload = "new";
    pthread_mutex_unlock(&l.mu);
    menu_cache_invalidate(menu_service_cache(mt_svc), 11, MENU_CHANGED_MENU); /* the write */
    start_reader(&b, &l, 11);
    pthread_join(a.t, NULL);
    pthread_join(b.t, NULL);
    ck_assert_str_eq(a.got, "old"); /* concurrent with the write: either is fine */
    ck_assert_str_eq(b.got, "new"); /* started after it: must be new */
    ck_assert_int_eq(l.calls, 2);
    /* a's late fill (tagged with the old generation) is never served */
    reader c;
    start_reader(&c, &l, 11);
    pthread_join(c.t, NULL);
    ck_assert_str_eq(c.got, "new");
}
END_TEST

START_TEST(a_late_fill_from_before_a_write_is_ignored)
{
    /* no in-process flight sharing here: the write goes through another
     * replica, only Redis connects them */
    menu_service_config cfg = mt_config();
    menu_service *other = menu_service_create(&cfg);
    slow_loader l = {0, 400, "old", PTHREAD_MUTEX_INITIALIZER};
    reader a;
    start_reader(&a, &l, 12);
    usleep(100 * 1000);
    menu_cache_invalidate(menu_service_cache(other), 12, MENU_CHANGED_MENU);
    pthread_join(a.t, NULL);
    ck_assert_str_eq(a.got, "old"); /* and filled Redis with it, too late */
    pthread_mutex_lock(&l.mu);
    l.payload = "new";
    pthread_mutex_unlock(&l.mu);
    reader b;
    start_reader(&b, &l, 12);
    pthread_join(b.t, NULL);
    ck_assert_str_eq(b.got, "new");
    menu_service_destroy(other);
}
END_TEST

/* ---- Redis down, slow, back ------------------------------------------------------------ */

/* Reads until Redis serves again (a hit), at most ~5 s. */
static void wait_cache_hits(int64_t rid)
{
    menu_cache_stats cs0, cs;
    menu_cache_get_stats(menu_service_cache(mt_svc), &cs0);
    for (int i = 0; i < 100; i++) {
        se_status st;
        Swifteats__V1__Menu *m = mt_get_menu(rid, &st);
        ck_assert_ptr_nonnull(m);
        se_msg_free(&m->base);
        menu_cache_get_stats(menu_service_cache(mt_svc), &cs);
        if (cs.hits > cs0.hits)
            return;
        usleep(50 * 1000);
    }
    ck_abort_msg("the cache never served again");
}

START_TEST(redis_down_reads_from_postgres_and_never_stale_after)
{
    int avail = mt_item_available(13, 241); /* cached */
    se_test_stack("stop-redis");
    ck_assert_int_eq(mt_item_available(13, 241), avail); /* from PostgreSQL */
    unsigned long l0 = mt_loads();
    ck_assert_int_eq(mt_item_available(13, 241), avail);
    ck_assert_uint_eq(mt_loads(), l0 + 1); /* really from PostgreSQL */
    ck_assert_int_eq(mt_set_item(13, 241, !avail, 1), GRPC_STATUS_OK); /* write succeeds */
    ck_assert_int_eq(mt_item_available(13, 241), !avail);
    menu_cache_stats cs;
    menu_cache_get_stats(menu_service_cache(mt_svc), &cs);
    ck_assert_uint_ge(cs.epoch_bumps, 1);

    se_test_stack("start-redis"); /* the old value is still in Redis (AOF) */
    usleep(150 * 1000);           /* breaker retry_ms */
    ck_assert_int_eq(mt_item_available(13, 241), !avail);
    wait_cache_hits(13);
    ck_assert_int_eq(mt_item_available(13, 241), !avail);
}
END_TEST

START_TEST(redis_paused_writes_succeed_and_nothing_stale_after)
{
    int avail = mt_item_available(14, 261); /* cached */
    mt_redis("CLIENT PAUSE 3000 ALL");      /* Redis keeps its data but does not answer */
    double t0 = se_test_seconds();
    ck_assert_int_eq(mt_set_item(14, 261, !avail, 1), GRPC_STATUS_OK);
    ck_assert_int_eq(mt_item_available(14, 261), !avail);
    /* answered while Redis was still paused (300 ms command timeouts) */
    ck_assert_msg(se_test_seconds() - t0 < 2.5, "took %.2f s: Redis timeouts too long",
                  se_test_seconds() - t0);
    while (se_test_seconds() - t0 < 3.2) /* pause over */
        usleep(50 * 1000);
    ck_assert_int_eq(mt_item_available(14, 261), !avail);
    wait_cache_hits(14);
    ck_assert_int_eq(mt_item_available(14, 261), !avail);
}
END_TEST

START_TEST(another_replica_never_serves_stale_after_an_outage)
{
    menu_service_config cfg = mt_config();
    menu_service *other = menu_service_create(&cfg);
    int avail = mt_item_available(15, 281); /* cached (served by this replica) */
    se_test_stack("stop-redis");
    se_status st;
    /* the write goes through the other replica while Redis is down */
    ck_assert_int_eq(menu_store_update_item(menu_service_store(other), 15, 281, !avail, 1, &st), 0);
    menu_cache_invalidate(menu_service_cache(other), 15, MENU_CHANGED_MENU);
    se_test_stack("start-redis");
    usleep(250 * 1000); /* > epoch_poll_ms and retry_ms */
    ck_assert_int_eq(mt_item_available(15, 281), !avail);
    menu_service_destroy(other);
}
END_TEST

START_TEST(redis_flushed_is_just_a_miss)
{
    int avail = mt_item_available(16, 301);
    mt_redis("FLUSHALL");
    unsigned long l0 = mt_loads();
    ck_assert_int_eq(mt_item_available(16, 301), avail);
    ck_assert_uint_eq(mt_loads(), l0 + 1);
    ck_assert_int_eq(mt_item_available(16, 301), avail);
    ck_assert_uint_eq(mt_loads(), l0 + 1);
}
END_TEST

/* ---- the off switch ------------------------------------------------------------------- */

static void mt_setup_cache_off(void)
{
    menu_service_config cfg = mt_config();
    cfg.cache.enabled = 0;
    mt_start(&cfg);
}

START_TEST(cache_off_always_reads_postgres)
{
    unsigned long l0 = mt_loads();
    ck_assert_int_eq(mt_item_available(17, 321), mt_item_available(17, 321));
    ck_assert_uint_eq(mt_loads(), l0 + 2);
    ck_assert_int_eq(mt_set_item(17, 321, 0, 1), GRPC_STATUS_OK);
    ck_assert_int_eq(mt_item_available(17, 321), 0);
}
END_TEST

Suite *menu_cache_suite(void)
{
    Suite *s = suite_create("menu_cache");
    TCase *tc = tcase_create("cache");
    tcase_add_checked_fixture(tc, mt_setup, mt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, second_read_is_served_from_redis);
    tcase_add_test(tc, a_change_behind_the_cache_is_not_seen);
    tcase_add_test(tc, parts_are_cached_separately);
    tcase_add_test(tc, every_operator_write_is_seen_by_the_next_read);
    tcase_add_test(tc, another_replica_sees_a_write_at_once);
    tcase_add_test(tc, concurrent_misses_cause_one_load);
    tcase_add_test(tc, a_read_after_a_write_never_joins_an_older_load);
    tcase_add_test(tc, a_late_fill_from_before_a_write_is_ignored);
    tcase_add_test(tc, redis_down_reads_from_postgres_and_never_stale_after);
    tcase_add_test(tc, redis_paused_writes_succeed_and_nothing_stale_after);
    tcase_add_test(tc, another_replica_never_serves_stale_after_an_outage);
    tcase_add_test(tc, redis_flushed_is_just_a_miss);
    suite_add_tcase(s, tc);
    TCase *off = tcase_create("cache_off");
    tcase_add_checked_fixture(off, mt_setup_cache_off, mt_teardown);
    tcase_set_timeout(off, 60);
    tcase_add_test(off, cache_off_always_reads_postgres);
    suite_add_tcase(s, off);
    return s;
}

int main(void)
{
    return se_test_run(menu_cache_suite());
}
