/* test_payment_worker.c - payment jobs end to end through the worker: real
 * Redis stream and consumer group, fake OrderService and fake payment
 * gateway in-process (payment_worker_test.h). Each test checks the exact
 * sequence of calls the contract prescribes - two order-service calls for
 * a try that decides the payment at once: GetPaymentJob starting attempt 1,
 * Charge, RecordPaymentAttempt with the outcome and the order's final
 * state - and that the stream entry is acknowledged and deleted only once
 * the outcome is recorded.
 */
#include "payment_worker_test.h"

#define CONFIRMED SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED
#define FAILED SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED
#define PROCESSING SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING

START_TEST(approved_job_runs_the_contract_sequence_then_is_acked_and_deleted)
{
    ft_add_order(7, 2599, "A");
    pt_xadd("7", "rid-7"); /* before the group exists: must not be skipped */
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(7), CONFIRMED);
    ck_assert_str_eq(ft_seq(7), "job start 1|charge:A|rec 1 success ch_1 +confirmed");
    PT_WAIT_STAT(acked, 1);
    ck_assert_int_eq(pt_stats().left_pending, 0);
}
END_TEST

START_TEST(decline_is_final_after_one_attempt)
{
    ft_add_order(8, 1000, "D");
    pt_xadd("8", "rid-8");
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(8), FAILED);
    ck_assert_str_eq(ft_seq(8), "job start 1|charge:D|"
                                "rec 1 failed ch_1 declined: insufficient_funds "
                                "+payment_failed declined: insufficient_funds");
}
END_TEST

START_TEST(transient_error_then_approval_records_two_attempts)
{
    ft_add_order(9, 1500, "UA");
    pt_xadd("9", "rid-9");
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(9), CONFIRMED);
    ck_assert_int_eq(ft_attempts(9), 2);
    ck_assert_str_eq(ft_seq(9), "job start 1|charge:U|"
                                "rec 1 failed gateway unavailable: transient (test)|"
                                "rec 2 processing|charge:A|rec 2 success ch_1 +confirmed");
}
END_TEST

/* One order (amount 1500) whose Charges follow `script`, run to its end
 * by a worker allowed two attempts; charge_timeout_ms 0: the default. */
static void run_two_attempt_job(int64_t order_id, const char *script, int charge_timeout_ms)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)order_id);
    ft_add_order(order_id, 1500, script);
    pt_xadd(id, "rid-busy");
    payment_worker_config cfg = pt_config();
    cfg.job.max_attempts = 2;
    if (charge_timeout_ms > 0)
        cfg.job.charge_timeout_ms = charge_timeout_ms;
    pt_start(&cfg);
    pt_wait_drained(10000);
}

START_TEST(charge_still_in_flight_is_asked_again_as_the_same_attempt)
{
    /* a worker killed mid-Charge leaves the key processing at the gateway:
     * its redelivery waits for that charge instead of using up attempts */
    run_two_attempt_job(19, "BBBA", 0);
    ck_assert_int_eq(ft_status(19), CONFIRMED);
    ck_assert_int_eq(ft_attempts(19), 1);
    ck_assert_str_eq(ft_seq(19), "job start 1|charge:B|charge:B|charge:B|charge:A|"
                                 "rec 1 success ch_1 +confirmed");
}
END_TEST

START_TEST(charge_busy_past_twice_the_deadline_is_a_transient_failure)
{
    run_two_attempt_job(20, "B", SE_T(100)); /* a deadline valgrind can meet */
    ck_assert_int_eq(ft_status(20), FAILED);
    ck_assert_int_eq(ft_attempts(20), 2);
    ck_assert_ptr_nonnull(strstr(ft_seq(20), "rec 1 failed gateway ABORTED: still being "
                                             "processed (test)|rec 2 processing"));
    ck_assert_ptr_nonnull(strstr(ft_seq(20), "|getcharge|complete payment_failed gave up"));
}
END_TEST

START_TEST(attempt_limit_fails_the_payment_once_get_charge_finds_nothing)
{
    ft_add_order(10, 1500, "U");
    pt_xadd("10", "rid-10");
    payment_worker_config cfg = pt_config();
    cfg.job.max_attempts = 3;
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(10), FAILED);
    ck_assert_int_eq(ft_attempts(10), 3);
    const char *u = "charge:U|rec %d failed gateway unavailable: transient (test)";
    char want[1024], a[200];
    /* the last failure is recorded without deciding the order: the
     * gateway's ledger (GetCharge) has the last word */
    snprintf(want, sizeof want, "job start 1");
    for (int n = 1; n <= 3; n++) {
        if (n > 1)
            snprintf(want + strlen(want), sizeof want - strlen(want), "|rec %d processing", n);
        snprintf(a, sizeof a, u, n);
        snprintf(want + strlen(want), sizeof want - strlen(want), "|%s", a);
    }
    strcat(want, "|getcharge|complete payment_failed gave up after 3 attempts: "
                 "gateway unavailable: transient (test)");
    ck_assert_str_eq(ft_seq(10), want);
}
END_TEST

START_TEST(attempt_limit_confirms_a_charge_the_gateway_did_apply)
{
    /* try 1 is applied but times out; the retries are refused; GetCharge
     * finds the approved charge */
    ft_add_order(11, 1500, "TU");
    pt_xadd("11", "rid-11");
    payment_worker_config cfg = pt_config();
    cfg.job.max_attempts = 3;
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(11), CONFIRMED);
    ck_assert_int_eq(ft_count(11, "charge:"), 3);
    ck_assert_int_eq(ft_count(11, "getcharge"), 1);
    char want[128];
    snprintf(want, sizeof want, "rec 1 failed gateway timeout after %d ms",
             cfg.job.charge_timeout_ms);
    ck_assert_int_eq(ft_count(11, want), 1);
    ck_assert_ptr_nonnull(strstr(ft_seq(11), "|getcharge|complete confirmed ch_1"));
}
END_TEST

START_TEST(order_service_unavailable_keeps_the_job_pending_until_it_answers)
{
    ft_add_order(12, 1500, "A");
    ft_set(&ft.refuse, FT_REFUSE_ALL);
    pt_xadd("12", "rid-12");
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    SE_POLL_UNTIL(ft_get(&ft.refused) >= 5, 5000);
    ck_assert_int_ge(ft_get(&ft.refused), 5);
    ck_assert_int_eq(pt_pending(), 1);
    ck_assert_int_eq(pt_xlen(pt_stream), 1);
    ck_assert_str_eq(ft_seq(12), "");
    ft_set(&ft.refuse, 0);
    pt_wait_drained(5000);
    ck_assert_str_eq(ft_seq(12), "job start 1|charge:A|rec 1 success ch_1 +confirmed");
}
END_TEST

START_TEST(final_record_unavailable_is_retried_before_the_ack)
{
    /* the charge went through; recording the outcome (the attempt with the
     * order's final state) must happen before the entry is acknowledged,
     * and without charging again */
    ft_add_order(13, 1500, "A");
    ft_set(&ft.refuse, FT_REFUSE_COMPLETE);
    pt_xadd("13", "rid-13");
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    SE_POLL_UNTIL(ft_get(&ft.refused) >= 5, 5000);
    ck_assert_int_ge(ft_get(&ft.refused), 5);
    ck_assert_int_eq(pt_pending(), 1);
    ck_assert_int_eq(ft_status(13), PROCESSING);
    ft_set(&ft.refuse, 0);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(13), CONFIRMED);
    ck_assert_int_eq(ft_count(13, "charge:"), 1);
    ck_assert_str_eq(ft_seq(13), "job start 1|charge:A|rec 1 success ch_1 +confirmed");
}
END_TEST

START_TEST(moot_jobs_are_acked_without_charging)
{
    ft_add_order(14, 1500, "A");
    pthread_mutex_lock(&ft.mu);
    ft_find(14)->status = SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CANCELLED;
    pthread_mutex_unlock(&ft.mu);
    pt_xadd("14", "rid-14");
    pt_xadd("999", "rid-999"); /* no such order */
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_str_eq(ft_seq(14), "job:not_processing");
    ck_assert_str_eq(ft_seq(999), "job:not_found");
}
END_TEST

START_TEST(request_id_of_the_entry_reaches_every_rpc)
{
    ft_add_order(15, 1500, "UA");
    ft_add_order(16, 1500, "A");
    pt_xadd("15", "rid-15-abc");
    pt_xadd("16", NULL); /* none: the worker makes one up for the whole job */
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    pt_wait_drained(5000);
    char made_up[64] = "";
    pthread_mutex_lock(&ft.mu);
    int n15 = 0, n16 = 0;
    for (int i = 0; i < ft.n_log; i++) {
        ft_line *l = &ft.log[i];
        if (l->order_id == 15) {
            ck_assert_str_eq(l->request_id, "rid-15-abc");
            n15++;
        } else if (l->order_id == 16) {
            if (made_up[0] == '\0')
                snprintf(made_up, sizeof made_up, "%s", l->request_id);
            ck_assert_str_eq(l->request_id, made_up);
            n16++;
        }
    }
    pthread_mutex_unlock(&ft.mu);
    ck_assert_int_eq(n15, 6); /* job start, charge, rec, rec, charge, rec+complete */
    ck_assert_int_eq(n16, 3);
    ck_assert_int_eq((int)strlen(made_up), 32);
}
END_TEST

START_TEST(open_breaker_makes_jobs_wait_then_they_complete_when_the_gateway_recovers)
{
    for (int id = 21; id <= 23; id++)
        ft_add_order(id, 1000 + id, "A");
    ft_set(&ft.outage, 1);
    pt_xadd("21", "rid-21");
    pt_xadd("22", "rid-22");
    pt_xadd("23", "rid-23");
    payment_worker_config cfg = pt_config();
    cfg.breaker = (payment_breaker_config){.failure_threshold = 2, .open_ms = SE_T(800),
                                           .half_open_probes = 1};
    ck_assert_int_eq(pt_breaker_serving(), -1); /* unknown until the worker exists */
    pt_w = payment_worker_create(&cfg);
    ck_assert_int_eq(pt_breaker_serving(), 1);
    ck_assert_int_eq(payment_worker_start(pt_w), 0);
    SE_POLL_UNTIL(pt_breaker_serving() == 0, 5000);
    ck_assert_int_eq(pt_breaker_serving(), 0);
    ck_assert_int_eq(payment_breaker_state_now(payment_worker_breaker(pt_w)),
                     PAYMENT_BREAKER_OPEN);
    /* while open: jobs wait, no charge is sent, nothing fails */
    int charges = ft_count(21, "charge") + ft_count(22, "charge") + ft_count(23, "charge");
    se_test_sleep_ms(SE_T(300));
    ck_assert_int_eq(ft_count(21, "charge") + ft_count(22, "charge") + ft_count(23, "charge"),
                     charges);
    ck_assert_int_eq(pt_pending(), 3);
    for (int id = 21; id <= 23; id++)
        ck_assert_int_eq(ft_status(id), PROCESSING);
    ft_set(&ft.outage, 0);
    pt_wait_drained(10000);
    for (int id = 21; id <= 23; id++) {
        ck_assert_int_eq(ft_status(id), CONFIRMED);
        ck_assert_int_le(ft_attempts(id), 3);
    }
    ck_assert_int_eq(pt_breaker_serving(), 1);
    ck_assert_int_eq(payment_breaker_state_now(payment_worker_breaker(pt_w)),
                     PAYMENT_BREAKER_CLOSED);
}
END_TEST

START_TEST(redelivery_resumes_the_attempt_a_crash_left_processing)
{
    /* attempt 1 was started (processing) when the worker died: the next
     * delivery resumes it with the same idempotency key, no new attempt */
    ft_add_order_tried(17, 1500, "A", 1, 1);
    pt_xadd("17", "rid-17");
    payment_worker_config cfg = pt_config();
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(17), CONFIRMED);
    ck_assert_int_eq(ft_attempts(17), 1);
    ck_assert_str_eq(ft_seq(17), "job start 1|charge:A|rec 1 success ch_1 +confirmed");
}
END_TEST

START_TEST(redelivery_past_the_attempt_limit_charges_nothing)
{
    /* every try was recorded failed, then the worker died before the
     * outcome: the attempt GetPaymentJob starts is over the limit, so it is
     * recorded failed without a charge and the give-up path decides */
    ft_add_order_tried(18, 1500, "A", 3, 0);
    pt_xadd("18", "rid-18");
    payment_worker_config cfg = pt_config();
    cfg.job.max_attempts = 3;
    pt_start(&cfg);
    pt_wait_drained(5000);
    ck_assert_int_eq(ft_status(18), FAILED);
    ck_assert_int_eq(ft_count(18, "charge:"), 0);
    ck_assert_str_eq(ft_seq(18), "job start 4|rec 4 failed not charged: the limit of 3 attempts "
                                 "was reached|getcharge|complete payment_failed gave up after 3 "
                                 "attempts: no attempt left");
}
END_TEST

START_TEST(job_held_by_an_open_breaker_starts_no_attempt)
{
    ft_add_order(24, 1000, "A");
    ft_add_order(25, 1000, "A");
    ft_set(&ft.outage, 1);
    payment_worker_config cfg = pt_config();
    cfg.breaker = (payment_breaker_config){.failure_threshold = 1, .open_ms = SE_T(500),
                                           .half_open_probes = 1};
    pt_start(&cfg);
    pt_xadd("24", "rid-24");
    SE_POLL_UNTIL(pt_breaker_serving() == 0, 5000);
    ck_assert_int_eq(pt_breaker_serving(), 0);
    /* delivered while the breaker is open: read without starting an
     * attempt, then it waits */
    pt_xadd("25", "rid-25");
    SE_POLL_UNTIL(ft_count(25, "job") == 1, 5000);
    ck_assert_str_eq(ft_seq(25), "job");
    ck_assert_int_eq(ft_attempts(25), 0);
    ft_set(&ft.outage, 0);
    pt_wait_drained(10000);
    ck_assert_int_eq(ft_status(25), CONFIRMED);
    const char *seq = ft_seq(25);
    ck_assert_msg(strncmp(seq, "job|rec 1 processing|charge:A|rec 1 success ch_", 47) == 0 &&
                      strstr(seq, " +confirmed") != NULL,
                  "%s", seq);
    ck_assert_int_eq(ft_status(24), CONFIRMED);
}
END_TEST

Suite *payment_worker_suite(void)
{
    Suite *s = suite_create("payment_worker");
    TCase *tc = tcase_create("jobs");
    tcase_add_checked_fixture(tc, pt_setup, pt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, approved_job_runs_the_contract_sequence_then_is_acked_and_deleted);
    tcase_add_test(tc, decline_is_final_after_one_attempt);
    tcase_add_test(tc, transient_error_then_approval_records_two_attempts);
    tcase_add_test(tc, charge_still_in_flight_is_asked_again_as_the_same_attempt);
    tcase_add_test(tc, charge_busy_past_twice_the_deadline_is_a_transient_failure);
    tcase_add_test(tc, attempt_limit_fails_the_payment_once_get_charge_finds_nothing);
    tcase_add_test(tc, attempt_limit_confirms_a_charge_the_gateway_did_apply);
    tcase_add_test(tc, order_service_unavailable_keeps_the_job_pending_until_it_answers);
    tcase_add_test(tc, final_record_unavailable_is_retried_before_the_ack);
    tcase_add_test(tc, redelivery_resumes_the_attempt_a_crash_left_processing);
    tcase_add_test(tc, redelivery_past_the_attempt_limit_charges_nothing);
    tcase_add_test(tc, job_held_by_an_open_breaker_starts_no_attempt);
    tcase_add_test(tc, moot_jobs_are_acked_without_charging);
    tcase_add_test(tc, request_id_of_the_entry_reaches_every_rpc);
    tcase_add_test(tc, open_breaker_makes_jobs_wait_then_they_complete_when_the_gateway_recovers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(payment_worker_suite());
}
