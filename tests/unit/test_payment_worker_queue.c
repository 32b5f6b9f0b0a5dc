/* test_payment_worker_queue.c - the payment worker's Redis side: poison and
 * over-delivered entries go to the dead-letter stream, a crashed consumer's
 * entries are reclaimed, a restart resumes its own pending entries, a
 * duplicate delivery of an order in flight runs one charge sequence, the
 * worker's own long-running entries are never reclaimed by others, and a
 * stop leaves unfinished jobs pending. Real Redis, fake peers
 * (payment_worker_test.h).
 */
#include "payment_worker_test.h"

#define CONFIRMED SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED
#define PROCESSING SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING

START_TEST(poison_entries_go_to_the_dead_letter_stream)
{
    ft_add_order(31, 1000, "A");
    const char *bad[] = {"abc", "0", "-5", "12x", "007", "99999999999999999999"};
    const char *ids[8];
    for (int i = 0; i < 6; i++)
        ids[i] = pt_xadd(bad[i], "rid-bad");
    pt_redis_ok(PT_REDIS("XADD", pt_stream, "*", "request_id", "rid-none")); /* no order_id */
    pt_xadd("31", "rid-31");
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(31), CONFIRMED);
    SE_POLL_UNTIL(pt_xlen(pt_dead) == 7, 2000);
    ck_assert_int_eq(pt_xlen(pt_dead), 7);
    for (int i = 0; i < 6; i++) {
        ck_assert_str_eq(pt_dead_field(i, "order_id"), bad[i]);
        ck_assert_str_eq(pt_dead_field(i, "request_id"), "rid-bad");
        ck_assert_str_eq(pt_dead_field(i, "source_id"), ids[i]);
        ck_assert_str_eq(pt_dead_field(i, "deliveries"), "1");
        ck_assert_ptr_nonnull(strstr(pt_dead_field(i, "reason"), "invalid order_id"));
    }
    ck_assert_str_eq(pt_dead_field(6, "request_id"), "rid-none");
    ck_assert_str_eq(pt_dead_field(6, "order_id"), "");
    PT_WAIT_STAT(dead_lettered, 7);
}
END_TEST

START_TEST(entry_delivered_too_often_goes_to_the_dead_letter_stream)
{
    ft_add_order(32, 1000, "A");
    pt_create_group();
    const char *id = pt_xadd("32", "rid-32");
    pt_deliver_to("dead");
    /* as if it had been delivered 7 times already */
    pt_redis_ok(PT_REDIS("XCLAIM", pt_stream, pt_group, "dead", "0", id, "RETRYCOUNT", "7"));
    payment_worker_config cfg = pt_config();
    cfg.claim_idle_ms = SE_T(100);
    cfg.reclaim_interval_ms = 20;
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(pt_xlen(pt_dead), 1);
    ck_assert_str_eq(pt_dead_field(0, "order_id"), "32");
    ck_assert_str_eq(pt_dead_field(0, "source_id"), id);
    ck_assert_str_eq(pt_dead_field(0, "deliveries"), "8");
    ck_assert_str_eq(pt_dead_field(0, "reason"), "delivered 8 times (limit 5)");
    ck_assert_str_eq(ft_seq(32), ""); /* never charged */
    ck_assert_int_eq(ft_status(32), PROCESSING);
}
END_TEST

START_TEST(a_dead_consumers_pending_entry_is_reclaimed_and_processed)
{
    ft_add_order(33, 1000, "A");
    pt_create_group();
    pt_xadd("33", "rid-33");
    pt_deliver_to("dead"); /* "dead" never acks */
    payment_worker_config cfg = pt_config();
    cfg.claim_idle_ms = SE_T(200);
    cfg.reclaim_interval_ms = 20;
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(33), CONFIRMED);
    ck_assert_str_eq(ft_seq(33), "job start 1|charge:A|rec 1 success ch_1 +confirmed");
    PT_WAIT_STAT(reclaimed, 1);
}
END_TEST

START_TEST(a_restart_with_the_same_consumer_name_resumes_its_pending_entries)
{
    ft_add_order(34, 1000, "A");
    pt_create_group();
    pt_xadd("34", "rid-34");
    pt_deliver_to("pt-worker"); /* the worker's own name, as before a crash */
    payment_worker_config cfg = pt_config(); /* claim idle 30 s: no reclaim */
    pt_start(&cfg);
    pt_wait_drained(3000);
    ck_assert_int_eq(ft_status(34), CONFIRMED);
    PT_WAIT_STAT(acked, 1);
    ck_assert_int_eq(pt_stats().reclaimed, 0);
}
END_TEST

START_TEST(a_second_delivery_of_an_order_in_flight_runs_one_charge_sequence)
{
    ft_add_order(35, 1000, "S");
    ft_set(&ft.slow_ms, SE_T(300));
    pt_xadd("35", "rid-35");
    pt_xadd("35", "rid-35-again");
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(35), CONFIRMED);
    ck_assert_str_eq(ft_seq(35), "job start 1|charge:S|rec 1 success ch_1 +confirmed");
    PT_WAIT_STAT(acked, 1);
    ck_assert_int_eq(pt_stats().duplicates, 1);
}
END_TEST

/* XAUTOCLAIM as another consumer: how many entries it could take. */
static int thief_claims(int min_idle_ms)
{
    char idle[16];
    snprintf(idle, sizeof idle, "%d", min_idle_ms);
    redisReply *r = PT_REDIS("XAUTOCLAIM", pt_stream, pt_group, "thief", idle, "0-0", "COUNT",
                             "10", "JUSTID");
    int n = (int)r->element[1]->elements;
    freeReplyObject(r);
    return n;
}

START_TEST(own_long_running_entries_are_kept_fresh_against_reclaim)
{
    ft_add_order(36, 1000, "S");
    ft_set(&ft.slow_ms, SE_T(1500));
    pt_xadd("36", "rid-36");
    payment_worker_config cfg = pt_config();
    cfg.claim_idle_ms = SE_T(300); /* refreshed every claim_idle / 3 */
    cfg.reclaim_interval_ms = 20;
    pt_start(&cfg);
    SE_POLL_UNTIL(ft_count(36, "charge:S") == 1, 3000);
    ck_assert_int_eq(ft_count(36, "charge:S"), 1);
    int64_t end = se_test_now_ms() + SE_T(1000);
    while (se_test_now_ms() < end) {
        ck_assert_int_eq(thief_claims(cfg.claim_idle_ms), 0);
        se_test_sleep_ms(SE_T(50));
    }
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(36), CONFIRMED);
    ck_assert_int_eq(ft_count(36, "job"), 1);
}
END_TEST

START_TEST(stop_leaves_an_unfinished_job_pending_and_a_restart_finishes_it)
{
    ft_add_order(37, 1000, "A");
    ft_set(&ft.outage, 1);
    pt_xadd("37", "rid-37");
    payment_worker_config cfg = pt_config();
    cfg.breaker = (payment_breaker_config){.failure_threshold = 1, .open_ms = 600000,
                                           .half_open_probes = 1};
    cfg.stop_grace_ms = SE_T(200);
    pt_start(&cfg);
    SE_POLL_UNTIL(pt_breaker_serving() == 0, 5000); /* open: the job now waits */
    ck_assert_int_eq(pt_breaker_serving(), 0);
    int64_t t0 = se_test_now_ms();
    payment_worker_stop(pt_w);
    int64_t took = se_test_now_ms() - t0;
    ck_assert_int_ge(took, 200);               /* it did wait for the grace period */
    ck_assert_int_lt(took, SE_T(200) + SE_T(1500));
    ck_assert_int_eq(pt_pending(), 1);
    ck_assert_int_eq(ft_status(37), PROCESSING);
    ck_assert_int_eq(ft_attempts(37), 1);
    pt_stop();
    /* same consumer name, gateway back: the entry is resumed */
    ft_set(&ft.outage, 0);
    cfg.breaker.failure_threshold = 1000;
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(37), CONFIRMED);
    ck_assert_int_eq(ft_attempts(37), 2);
}
END_TEST

Suite *payment_worker_queue_suite(void)
{
    Suite *s = suite_create("payment_worker_queue");
    TCase *tc = tcase_create("queue");
    tcase_add_checked_fixture(tc, pt_setup, pt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, poison_entries_go_to_the_dead_letter_stream);
    tcase_add_test(tc, entry_delivered_too_often_goes_to_the_dead_letter_stream);
    tcase_add_test(tc, a_dead_consumers_pending_entry_is_reclaimed_and_processed);
    tcase_add_test(tc, a_restart_with_the_same_consumer_name_resumes_its_pending_entries);
    tcase_add_test(tc, a_second_delivery_of_an_order_in_flight_runs_one_charge_sequence);
    tcase_add_test(tc, own_long_running_entries_are_kept_fresh_against_reclaim);
    tcase_add_test(tc, stop_leaves_an_unfinished_job_pending_and_a_restart_finishes_it);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(payment_worker_queue_suite());
}
