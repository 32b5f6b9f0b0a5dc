/* test_location_worker.c - the location worker against the real stack:
 * state + history + publish of a batch, newer-wins, redelivery after a
 * crash, poison entries, a PostgreSQL outage, the stale sweep and the
 * partition maintenance. Fixture: location_worker_test.h. */
#include "location_worker_test.h"

/* ---- a subscriber on one channel ------------------------------------------- */

static se_redis *sub;

static void subscribe(const char *channel)
{
    se_redis_err err;
    sub = se_redis_create(se_test_env_url("SE_REDIS_URL"), SE_T(300), &err);
    ck_assert_ptr_nonnull(sub);
    redisReply *r = redisCommand(se_redis_raw(sub), "SUBSCRIBE %s", channel);
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
}

/* The next published message, decoded, or NULL after the timeout. */
static Swifteats__V1__Location *next_message(void)
{
    redisReply *r = NULL;
    if (redisGetReply(se_redis_raw(sub), (void **)&r) != REDIS_OK || r == NULL)
        return NULL; /* timeout: the connection is unusable afterwards */
    Swifteats__V1__Location *m = NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        r->element[2]->type == REDIS_REPLY_STRING)
        m = swifteats__v1__location__unpack(NULL, (size_t)r->element[2]->len,
                                            (const uint8_t *)r->element[2]->str);
    freeReplyObject(r);
    return m;
}

static void unsubscribe(void)
{
    se_redis_destroy(sub);
    sub = NULL;
}

/* ---- tests ---------------------------------------------------------------------- */

START_TEST(batch_updates_state_history_and_publishes)
{
    char channel[128];
    snprintf(channel, sizeof channel, "%sorder:42:live", lt_prefix);
    subscribe(channel);
    lt_start(NULL);
    int64_t now = lt_now_us();
    char id2[48];
    lt_report("drv-a", 40.7128, -74.006, now - 2000000, 0, "rid-1", NULL);
    lt_report("drv-b", 40.75, -73.99, now - 1000000, 42, "rid-2", id2);
    lt_report("drv-a", 40.7130, -74.005, now, 0, "rid-3", NULL);
    LT_WAIT_STAT(acked, 3, 5000);

    Swifteats__V1__Location *m = lt_get_loc(lt_key("driver:drv-a"));
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq_tol(m->latitude, 40.7130, 1e-9); /* the newest */
    swifteats__v1__location__free_unpacked(m, NULL);
    m = lt_get_loc(lt_key("order:42:loc"));
    ck_assert_ptr_nonnull(m);
    ck_assert_str_eq(m->driver_id, "drv-b");
    swifteats__v1__location__free_unpacked(m, NULL);
    ck_assert_double_eq(lt_zscore(lt_key("drivers:seen"), "drv-a"), (double)(now / 1000));
    ck_assert(lt_zscore(lt_key("drivers:geo"), "drv-b") > 0);

    Swifteats__V1__Location *pub = next_message();
    ck_assert_ptr_nonnull(pub);
    ck_assert_str_eq(pub->driver_id, "drv-b");
    ck_assert_int_eq(pub->order_id, 42);
    swifteats__v1__location__free_unpacked(pub, NULL);
    unsubscribe();

    SE_POLL_UNTIL(lt_rows() == 3, 5000);
    ck_assert_int_eq(lt_rows(), 3);
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM location_history WHERE stream_id = '%s' AND order_id = 42 "
             "AND driver_id = 'drv-b' AND speed = 7.5 AND heading IS NULL AND "
             "recorded_at = 'epoch'::timestamptz + %" PRId64 " * interval '1 microsecond'",
             id2, now - 1000000);
    ck_assert_int_eq(lt_sql_int(sql), 1);
    ck_assert_int_eq(lt_xlen(lt_stream), 0); /* acked and deleted */
    location_worker_stats s = lt_stats();
    ck_assert_uint_eq(s.published, 1);
    ck_assert_uint_eq(s.dead_lettered, 0);
}
END_TEST

START_TEST(older_report_never_overwrites_a_newer_one)
{
    char channel[128];
    snprintf(channel, sizeof channel, "%sorder:7:live", lt_prefix);
    subscribe(channel);
    lt_start(NULL);
    int64_t now = lt_now_us();
    lt_report("drv-n", 10.0, 20.0, now, 7, "r-new", NULL);
    lt_report("drv-n", 11.0, 21.0, now - 5000000, 7, "r-old", NULL); /* late, older */
    lt_report("drv-n", 12.0, 22.0, now, 0, "r-same", NULL); /* equal time, later id */
    LT_WAIT_STAT(acked, 3, 5000);

    Swifteats__V1__Location *m = lt_get_loc(lt_key("driver:drv-n"));
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(m->latitude, 12.0); /* equal time: the later stream id */
    swifteats__v1__location__free_unpacked(m, NULL);
    m = lt_get_loc(lt_key("order:7:loc"));
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(m->latitude, 10.0); /* the older one did not advance it */
    swifteats__v1__location__free_unpacked(m, NULL);
    ck_assert_uint_eq(lt_stats().published, 1);
    Swifteats__V1__Location *pub = next_message();
    ck_assert_ptr_nonnull(pub);
    ck_assert_double_eq(pub->latitude, 10.0);
    swifteats__v1__location__free_unpacked(pub, NULL);
    unsubscribe();
    SE_POLL_UNTIL(lt_rows() == 3, 5000);
    ck_assert_int_eq(lt_rows(), 3); /* history keeps every report */
}
END_TEST

START_TEST(crashed_consumers_entries_are_claimed_without_duplicate_rows)
{
    /* A consumer read 4 entries, wrote their history and state, and died
     * before acknowledging them. */
    int64_t now = lt_now_us();
    char ids[4][48];
    se_redis_err err;
    redisReply *r = se_redis_command(lt_r, 0, &err, "XGROUP CREATE %s location-workers 0 MKSTREAM",
                                     lt_stream);
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
    for (int i = 0; i < 4; i++)
        lt_report("drv-c", 1.0 + i, 2.0, now + i, 9, "rid-c", ids[i]);
    r = se_redis_command(lt_r, 0, &err,
                         "XREADGROUP GROUP location-workers crashed COUNT 10 STREAMS %s >",
                         lt_stream);
    ck_assert_ptr_nonnull(r);
    freeReplyObject(r);
    for (int i = 0; i < 4; i++) {
        char sql[512];
        snprintf(sql, sizeof sql,
                 "INSERT INTO location_history (driver_id, recorded_at, stream_id, latitude, "
                 "longitude) VALUES ('drv-c', 'epoch'::timestamptz + %" PRId64
                 " * interval '1 microsecond', '%s', %d, 2)",
                 now + i, ids[i], 1 + i);
        lt_exec_on(lt_url, sql);
    }
    location_worker_config cfg = lt_config();
    cfg.claim_idle_ms = 100;
    cfg.claim_interval_ms = 50;
    lt_start(&cfg);
    LT_WAIT_STAT(acked, 4, 5000);
    location_worker_stats s = lt_stats();
    ck_assert_uint_eq(s.claimed, 4);
    ck_assert_uint_eq(s.dead_lettered, 0);
    ck_assert_int_eq(lt_rows(), 4); /* no second row for a redelivered report */
    ck_assert_int_eq(lt_xlen(lt_stream), 0);
    Swifteats__V1__Location *m = lt_get_loc(lt_key("driver:drv-c"));
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq(m->latitude, 4.0);
    swifteats__v1__location__free_unpacked(m, NULL);
}
END_TEST

START_TEST(poison_entry_is_dead_lettered_after_max_deliveries)
{
    location_worker_config cfg = lt_config();
    cfg.max_deliveries = 3;
    lt_start(&cfg);
    se_redis_err err;
    redisReply *r = se_redis_command(lt_r, 0, &err, "XADD %s * loc garbage!! rid rid-poison",
                                     lt_stream);
    ck_assert_ptr_nonnull(r);
    char bad_id[48];
    snprintf(bad_id, sizeof bad_id, "%s", r->str);
    freeReplyObject(r);
    lt_report("drv-ok", 5.0, 6.0, lt_now_us(), 0, "rid-ok", NULL);

    LT_WAIT_STAT(dead_lettered, 1, 5000);
    LT_WAIT_STAT(acked, 2, 5000);
    ck_assert_int_eq(lt_xlen(lt_stream), 0);
    ck_assert_int_eq(lt_xlen(lt_dead), 1);
    ck_assert_int_eq(lt_rows(), 1);
    r = se_redis_command(lt_r, 0, &err, "XRANGE %s - +", lt_dead);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->elements, 1);
    const redisReply *f = r->element[0]->element[1];
    ck_assert_int_eq(f->elements, 8); /* loc, rid, error, id */
    ck_assert_str_eq(f->element[0]->str, "loc");
    ck_assert_str_eq(f->element[1]->str, "garbage!!");
    ck_assert_str_eq(f->element[3]->str, "rid-poison");
    ck_assert_str_eq(f->element[4]->str, "error");
    ck_assert_msg(strstr(f->element[5]->str, "Location") != NULL, "error: %s",
                  f->element[5]->str);
    ck_assert_str_eq(f->element[6]->str, "id");
    ck_assert_str_eq(f->element[7]->str, bad_id);
    freeReplyObject(r);
}
END_TEST

START_TEST(postgres_outage_keeps_live_state_and_history_catches_up)
{
    lt_start(NULL);
    lt_report("drv-p", 1.0, 1.0, lt_now_us(), 0, "rid-p0", NULL);
    LT_WAIT_STAT(acked, 1, 5000);

    lt_stop_pg();
    char channel[128];
    snprintf(channel, sizeof channel, "%sorder:5:live", lt_prefix);
    subscribe(channel);
    int64_t now = lt_now_us();
    enum { N = 50 };
    for (int i = 0; i < N; i++)
        lt_report("drv-p", 2.0 + i * 0.01, 1.0, now + i, 5, "rid-p", NULL);
    /* the live state follows while PostgreSQL is down */
    SE_POLL_UNTIL(lt_stats().published >= N, 10000);
    ck_assert_uint_eq(lt_stats().published, N);
    Swifteats__V1__Location *m = lt_get_loc(lt_key("driver:drv-p"));
    ck_assert_ptr_nonnull(m);
    ck_assert_double_eq_tol(m->latitude, 2.0 + (N - 1) * 0.01, 1e-9);
    swifteats__v1__location__free_unpacked(m, NULL);
    Swifteats__V1__Location *pub = next_message();
    ck_assert_ptr_nonnull(pub);
    swifteats__v1__location__free_unpacked(pub, NULL);
    unsubscribe();
    SE_POLL_UNTIL(lt_stats().history_down, 5000);
    ck_assert_int_eq(lt_stats().history_down, 1);
    ck_assert_uint_eq(lt_stats().acked, 1); /* history pending: nothing acked */

    lt_start_pg();
    LT_WAIT_STAT(acked, N + 1, 20000);
    ck_assert_int_eq(lt_rows(), N + 1);
    ck_assert_int_eq(lt_xlen(lt_stream), 0);
    ck_assert_int_eq(lt_xlen(lt_dead), 0);
    ck_assert_uint_eq(lt_stats().dead_lettered, 0);
    ck_assert_uint_eq(lt_stats().published, N); /* redelivery published nothing */
}
END_TEST

START_TEST(silent_driver_leaves_the_geo_set)
{
    location_worker_config cfg = lt_config();
    cfg.sweep_interval_ms = 50;
    lt_start(&cfg);
    int64_t now = lt_now_us();
    lt_report("drv-old", 3.0, 3.0, now - 120 * 1000000LL, 0, "r1", NULL); /* 2 min silent */
    lt_report("drv-new", 3.0, 3.1, now, 0, "r2", NULL);
    LT_WAIT_STAT(acked, 2, 5000);
    LT_WAIT_STAT(stale_removed, 1, 5000);
    ck_assert(lt_zscore(lt_key("drivers:seen"), "drv-old") < 0);
    ck_assert(lt_zscore(lt_key("drivers:geo"), "drv-old") < 0);
    ck_assert(lt_zscore(lt_key("drivers:seen"), "drv-new") > 0);
    ck_assert(lt_zscore(lt_key("drivers:geo"), "drv-new") > 0);
    Swifteats__V1__Location *m = lt_get_loc(lt_key("driver:drv-old")); /* kept till TTL */
    ck_assert_ptr_nonnull(m);
    swifteats__v1__location__free_unpacked(m, NULL);
}
END_TEST

START_TEST(partitions_are_maintained_at_start)
{
    /* a partition far past the retention, to be dropped */
    lt_exec_on(lt_url, "CREATE TABLE location_history_p20000101 PARTITION OF location_history "
                       "FOR VALUES FROM ('2000-01-01 00:00+00') TO ('2000-01-02 00:00+00')");
    /* and the day after tomorrow missing, to be created */
    lt_exec_on(lt_url, "DO $$ BEGIN EXECUTE format('DROP TABLE location_history_p%s', "
                       "to_char((now() AT TIME ZONE 'UTC')::date + 2, 'YYYYMMDD')); END $$");
    lt_start(NULL);
    LT_WAIT_STAT(maintained, 1, 5000);
    ck_assert_int_eq(lt_sql_int("SELECT count(*) FROM pg_inherits i JOIN pg_class c ON "
                                "c.oid = i.inhrelid WHERE c.relname = "
                                "'location_history_p20000101'"),
                     0);
    ck_assert_int_eq(lt_sql_int("SELECT count(*) FROM pg_class WHERE relname = "
                                "'location_history_p' || to_char((now() AT TIME ZONE 'UTC')::date "
                                "+ 2, 'YYYYMMDD') AND relnamespace = current_schema()::regnamespace"),
                     1);
}
END_TEST

static Suite *location_worker_suite(void)
{
    Suite *s = suite_create("location_worker");
    TCase *tc = tcase_create("stack");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, batch_updates_state_history_and_publishes);
    tcase_add_test(tc, older_report_never_overwrites_a_newer_one);
    tcase_add_test(tc, crashed_consumers_entries_are_claimed_without_duplicate_rows);
    tcase_add_test(tc, poison_entry_is_dead_lettered_after_max_deliveries);
    tcase_add_test(tc, postgres_outage_keeps_live_state_and_history_catches_up);
    tcase_add_test(tc, silent_driver_leaves_the_geo_set);
    tcase_add_test(tc, partitions_are_maintained_at_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(location_worker_suite());
}
