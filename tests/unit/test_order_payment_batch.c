/* test_order_payment_batch.c - the batch forms of the payment worker's
 * calls against the real order service (PostgreSQL and Redis of the test
 * stack, menu and order services in-process): GetPaymentJobs and
 * RecordPaymentAttempts answer every entry as the single call would, in
 * order, one entry's error failing only that entry; entries of different
 * orders are one statement (one transaction wrote them); and the worker's
 * batching client (workers/payment/payment_order_client.c) gathers
 * concurrent calls into them. */
#include <check.h>
#include <pthread.h>

#include "order_test.h"
#include "payment_order_client.h"

#define ST(x) SWIFTEATS__V1__##x

static Swifteats__V1__Order *new_order(void)
{
    return ot_create_simple("cust-batch", ot_orderable_item(1, 0), 2);
}

START_TEST(get_payment_jobs_answers_each_query)
{
    Swifteats__V1__Order *m = new_order();
    Swifteats__V1__GetPaymentJobRequest r[3] = {ST(GET_PAYMENT_JOB_REQUEST__INIT),
                                                ST(GET_PAYMENT_JOB_REQUEST__INIT),
                                                ST(GET_PAYMENT_JOB_REQUEST__INIT)};
    r[0].order_id = m->id;
    r[0].start_attempt = 1;
    r[1].order_id = 987654321; /* no such order */
    r[2].order_id = 0;         /* invalid */
    Swifteats__V1__PaymentJobQuery q[3], *qp[3];
    for (int i = 0; i < 3; i++) {
        swifteats__v1__payment_job_query__init(&q[i]);
        q[i].request = &r[i];
        q[i].request_id = "rid-batch";
        qp[i] = &q[i];
    }
    Swifteats__V1__GetPaymentJobsRequest req = ST(GET_PAYMENT_JOBS_REQUEST__INIT);
    req.n_queries = 3;
    req.queries = qp;
    Swifteats__V1__GetPaymentJobsResponse *resp = NULL;
    se_status st;
    ck_assert_int_eq(swifteats_v1_order_service_get_payment_jobs(ot_ch, &req, &resp, NULL, &st),
                     0);
    ck_assert_uint_eq(resp->n_results, 3);
    ck_assert_int_eq(resp->results[0]->code, 0);
    ck_assert_int_eq(resp->results[0]->job->order_id, m->id);
    ck_assert_int_eq(resp->results[0]->job->amount, m->total_amount);
    ck_assert_int_eq(resp->results[0]->job->next_attempt_number, 1);
    ck_assert_int_eq(resp->results[1]->code, GRPC_STATUS_NOT_FOUND);
    ck_assert_ptr_null(resp->results[1]->job);
    ck_assert_int_eq(resp->results[2]->code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(resp->results[2]->message, "order_id must be a positive integer (got 0)");
    /* the start was recorded, as GetPaymentJob(start_attempt) does */
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_attempts WHERE order_id = %" PRId64
                                 " AND status = 'processing'", m->id), 1);
    se_msg_free(&resp->base);
    /* an empty batch is refused as a whole */
    req.n_queries = 0;
    ck_assert_int_ne(swifteats_v1_order_service_get_payment_jobs(ot_ch, &req, &resp, NULL, &st),
                     0);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "queries must hold 1 to 128 entries (got 0)");
    se_msg_free(&m->base);
}
END_TEST

START_TEST(record_payment_attempts_answers_each_report)
{
    Swifteats__V1__Order *m = new_order();
    Swifteats__V1__RecordPaymentAttemptRequest r[2] = {ST(RECORD_PAYMENT_ATTEMPT_REQUEST__INIT),
                                                       ST(RECORD_PAYMENT_ATTEMPT_REQUEST__INIT)};
    r[0].order_id = m->id;
    r[0].attempt_number = 1;
    r[0].status = ST(PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_SUCCESS);
    r[0].amount = m->total_amount;
    r[0]._gateway_charge_id_case =
        ST(RECORD_PAYMENT_ATTEMPT_REQUEST___GATEWAY_CHARGE_ID_GATEWAY_CHARGE_ID);
    r[0].gateway_charge_id = "ch_batch";
    r[0].complete_outcome = ST(ORDER_STATUS__ORDER_STATUS_CONFIRMED);
    r[1] = r[0];
    r[1].attempt_number = 0; /* invalid */
    Swifteats__V1__PaymentAttemptReport a[2], *ap[2];
    for (int i = 0; i < 2; i++) {
        swifteats__v1__payment_attempt_report__init(&a[i]);
        a[i].request = &r[i];
        ap[i] = &a[i];
    }
    Swifteats__V1__RecordPaymentAttemptsRequest req = ST(RECORD_PAYMENT_ATTEMPTS_REQUEST__INIT);
    req.n_reports = 2;
    req.reports = ap;
    Swifteats__V1__RecordPaymentAttemptsResponse *resp = NULL;
    se_status st;
    ck_assert_int_eq(
        swifteats_v1_order_service_record_payment_attempts(ot_ch, &req, &resp, NULL, &st), 0);
    ck_assert_uint_eq(resp->n_results, 2);
    ck_assert_int_eq(resp->results[0]->code, 0);
    ck_assert_str_eq(resp->results[0]->attempt->gateway_charge_id, "ch_batch");
    ck_assert_int_eq(resp->results[1]->code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(resp->results[1]->message, "attempt_number must be >= 1 (got 0)");
    se_msg_free(&resp->base);
    Swifteats__V1__Order *g = ot_get(m->id, &st);
    ck_assert_msg(g != NULL, "%s", st.message);
    ck_assert_int_eq(g->status, ST(ORDER_STATUS__ORDER_STATUS_CONFIRMED));
    se_msg_free(&g->base);
    se_msg_free(&m->base);
}
END_TEST

/* ---- batches of different orders: one statement --------------------------------------- */

enum { MANY = 3, NO_SUCH_ORDER = 987654321 };

/* GetPaymentJobs starting an attempt of each of ids[0..n). */
static Swifteats__V1__GetPaymentJobsResponse *start_batch(const int64_t *ids, int n)
{
    Swifteats__V1__GetPaymentJobRequest r[8];
    Swifteats__V1__PaymentJobQuery q[8], *qp[8];
    for (int i = 0; i < n; i++) {
        swifteats__v1__get_payment_job_request__init(&r[i]);
        r[i].order_id = ids[i];
        r[i].start_attempt = 1;
        swifteats__v1__payment_job_query__init(&q[i]);
        q[i].request = &r[i];
        qp[i] = &q[i];
    }
    Swifteats__V1__GetPaymentJobsRequest req = ST(GET_PAYMENT_JOBS_REQUEST__INIT);
    req.n_queries = (size_t)n;
    req.queries = qp;
    Swifteats__V1__GetPaymentJobsResponse *resp = NULL;
    se_status st;
    ck_assert_msg(swifteats_v1_order_service_get_payment_jobs(ot_ch, &req, &resp, NULL, &st) == 0,
                  "%s", st.message);
    ck_assert_uint_eq(resp->n_results, (size_t)n);
    return resp;
}

static Swifteats__V1__RecordPaymentAttemptsResponse *
record_batch(Swifteats__V1__RecordPaymentAttemptRequest *r, int n)
{
    Swifteats__V1__PaymentAttemptReport a[8], *ap[8];
    for (int i = 0; i < n; i++) {
        swifteats__v1__payment_attempt_report__init(&a[i]);
        a[i].request = &r[i];
        ap[i] = &a[i];
    }
    Swifteats__V1__RecordPaymentAttemptsRequest req = ST(RECORD_PAYMENT_ATTEMPTS_REQUEST__INIT);
    req.n_reports = (size_t)n;
    req.reports = ap;
    Swifteats__V1__RecordPaymentAttemptsResponse *resp = NULL;
    se_status st;
    ck_assert_msg(
        swifteats_v1_order_service_record_payment_attempts(ot_ch, &req, &resp, NULL, &st) == 0,
        "%s", st.message);
    ck_assert_uint_eq(resp->n_results, (size_t)n);
    return resp;
}

/* Transactions that wrote the payment attempts of orders ids[0..MANY). */
static int64_t attempt_writers(const int64_t *ids)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(DISTINCT xmin::text) FROM payment_attempts WHERE order_id IN (%" PRId64
             ", %" PRId64 ", %" PRId64 ")", ids[0], ids[1], ids[2]);
    return ot_sql_int(sql);
}

static void start_many(const int64_t *ids, int expect_attempt)
{
    int64_t with_missing[MANY + 1] = {ids[0], ids[1], ids[2], NO_SUCH_ORDER};
    Swifteats__V1__GetPaymentJobsResponse *resp = start_batch(with_missing, MANY + 1);
    for (int i = 0; i < MANY; i++) {
        ck_assert_msg(resp->results[i]->code == 0, "%s", resp->results[i]->message);
        ck_assert_int_eq(resp->results[i]->job->order_id, ids[i]);
        ck_assert_int_eq(resp->results[i]->job->next_attempt_number, expect_attempt);
    }
    ck_assert_int_eq(resp->results[MANY]->code, GRPC_STATUS_NOT_FOUND);
    se_msg_free(&resp->base);
}

/* o[0] approved and confirmed, o[1] declined and failed, o[2] a transient
 * failure (the order stays payment_processing), and an unknown order. */
static void outcomes_of(const int64_t *ids, const int64_t *amounts,
                        Swifteats__V1__RecordPaymentAttemptRequest r[MANY + 1])
{
    for (int i = 0; i <= MANY; i++) {
        swifteats__v1__record_payment_attempt_request__init(&r[i]);
        r[i].order_id = i < MANY ? ids[i] : NO_SUCH_ORDER;
        r[i].attempt_number = 1;
        r[i].amount = i < MANY ? amounts[i] : 100;
        r[i].status = ST(PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED);
        r[i]._error_message_case = ST(RECORD_PAYMENT_ATTEMPT_REQUEST___ERROR_MESSAGE_ERROR_MESSAGE);
        r[i].error_message = "gateway unavailable";
    }
    r[0].status = ST(PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_SUCCESS);
    r[0]._error_message_case = 0;
    r[0]._gateway_charge_id_case =
        ST(RECORD_PAYMENT_ATTEMPT_REQUEST___GATEWAY_CHARGE_ID_GATEWAY_CHARGE_ID);
    r[0].gateway_charge_id = "ch_many";
    r[0].complete_outcome = ST(ORDER_STATUS__ORDER_STATUS_CONFIRMED);
    r[1].error_message = "declined: card_declined";
    r[1].complete_outcome = ST(ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED);
    r[1]._complete_reason_case =
        ST(RECORD_PAYMENT_ATTEMPT_REQUEST___COMPLETE_REASON_COMPLETE_REASON);
    r[1].complete_reason = "card_declined";
}

static void check_outcomes(Swifteats__V1__RecordPaymentAttemptsResponse *resp)
{
    for (int i = 0; i < MANY; i++) {
        ck_assert_msg(resp->results[i]->code == 0, "report %d: %s", i, resp->results[i]->message);
        ck_assert_int_eq(resp->results[i]->attempt->attempt_number, 1);
    }
    ck_assert_str_eq(resp->results[0]->attempt->gateway_charge_id, "ch_many");
    ck_assert_int_eq(resp->results[1]->attempt->status,
                     ST(PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED));
    ck_assert_int_eq(resp->results[MANY]->code, GRPC_STATUS_NOT_FOUND);
    se_msg_free(&resp->base);
}

START_TEST(batches_of_different_orders_are_one_statement)
{
    int64_t ids[MANY], amounts[MANY];
    for (int i = 0; i < MANY; i++) {
        Swifteats__V1__Order *m = new_order();
        ids[i] = m->id;
        amounts[i] = m->total_amount;
        se_msg_free(&m->base);
    }
    start_many(ids, 1);
    ck_assert_int_eq(attempt_writers(ids), 1); /* one transaction started all three */
    start_many(ids, 1);                        /* asked again: the same attempts resume */
    int64_t twice[2] = {ids[0], ids[0]};       /* one order twice: one at a time, same answer */
    Swifteats__V1__GetPaymentJobsResponse *j = start_batch(twice, 2);
    ck_assert_int_eq(j->results[0]->job->next_attempt_number, 1);
    ck_assert_int_eq(j->results[1]->job->next_attempt_number, 1);
    se_msg_free(&j->base);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_attempts WHERE order_id >= %"
                                 PRId64, ids[0]), MANY);

    Swifteats__V1__RecordPaymentAttemptRequest r[MANY + 1];
    outcomes_of(ids, amounts, r);
    check_outcomes(record_batch(r, MANY + 1));
    ck_assert_int_eq(attempt_writers(ids), 1); /* one transaction recorded all three */
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM orders WHERE id = %" PRId64
                                 " AND status = 'confirmed' AND gateway_charge_id = 'ch_many'",
                                 ids[0]), 1);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM orders WHERE id = %" PRId64
                                 " AND status = 'payment_failed'"
                                 " AND status_reason = 'card_declined'", ids[1]), 1);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM orders WHERE id = %" PRId64
                                 " AND status = 'payment_processing'", ids[2]), 1);
    /* the outbox rows of the two final orders went with their final state */
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_outbox WHERE order_id >= %" PRId64,
                                 ids[0]), 1);
    check_outcomes(record_batch(r, MANY + 1)); /* a retried batch: answered as stored */

    /* the final order is refused, the transient failure's next attempt starts */
    int64_t next[2] = {ids[0], ids[2]};
    j = start_batch(next, 2);
    ck_assert_int_eq(j->results[0]->code, GRPC_STATUS_FAILED_PRECONDITION);
    ck_assert_int_eq(j->results[1]->code, 0);
    ck_assert_int_eq(j->results[1]->job->next_attempt_number, 2);
    se_msg_free(&j->base);
}
END_TEST

/* ---- the worker's batching client ---------------------------------------------------------- */

enum { JOBS = 24 };

typedef struct job_call {
    payment_order_client *c;
    int64_t order_id;
    int64_t amount;
    int ok;
    se_status st;
} job_call;

static void *start_and_confirm(void *arg)
{
    job_call *j = arg;
    Swifteats__V1__GetPaymentJobRequest req = ST(GET_PAYMENT_JOB_REQUEST__INIT);
    req.order_id = j->order_id;
    req.start_attempt = 1;
    Swifteats__V1__PaymentJob *job = NULL;
    if (payment_order_get_job(j->c, &req, "rid-client", &job, &j->st) != 0)
        return NULL;
    Swifteats__V1__RecordPaymentAttemptRequest rec = ST(RECORD_PAYMENT_ATTEMPT_REQUEST__INIT);
    rec.order_id = j->order_id;
    rec.attempt_number = job->next_attempt_number;
    rec.status = ST(PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_SUCCESS);
    rec.amount = job->amount;
    rec.complete_outcome = ST(ORDER_STATUS__ORDER_STATUS_CONFIRMED);
    j->amount = job->amount;
    se_msg_free(&job->base);
    Swifteats__V1__PaymentAttempt *a = NULL;
    if (payment_order_record(j->c, &rec, "rid-client", &a, &j->st) != 0)
        return NULL;
    j->ok = a->attempt_number == rec.attempt_number;
    se_msg_free(&a->base);
    return NULL;
}

START_TEST(the_client_gathers_concurrent_calls)
{
    payment_order_client *c = payment_order_client_create(ot_ch, SE_T(5000), 8, 1, NULL, NULL);
    job_call j[JOBS];
    pthread_t t[JOBS];
    int64_t totals[JOBS];
    for (int i = 0; i < JOBS; i++) {
        Swifteats__V1__Order *m = new_order();
        j[i] = (job_call){.c = c, .order_id = m->id};
        totals[i] = m->total_amount;
        se_msg_free(&m->base);
    }
    for (int i = 0; i < JOBS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, start_and_confirm, &j[i]), 0);
    for (int i = 0; i < JOBS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < JOBS; i++) {
        ck_assert_msg(j[i].ok, "job %d: %s", i, j[i].st.message);
        ck_assert_int_eq(j[i].amount, totals[i]);
    }
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM orders WHERE status = 'confirmed'"), JOBS);
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM payment_attempts WHERE status = 'success'"),
                     JOBS);
    unsigned long calls, entries;
    payment_order_client_stats(c, &calls, &entries);
    ck_assert_uint_gt(calls, 0);     /* batch calls were made ... */
    ck_assert_uint_lt(calls, entries); /* ... and shared */
    /* a call failing as a whole fails each entry with its status */
    Swifteats__V1__GetPaymentJobRequest req = ST(GET_PAYMENT_JOB_REQUEST__INIT);
    req.order_id = 987654321;
    Swifteats__V1__PaymentJob *job = NULL;
    se_status st;
    ck_assert_int_ne(payment_order_get_job(c, &req, "rid-client", &job, &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    payment_order_client_destroy(c);
}
END_TEST

static Suite *order_payment_batch_suite(void)
{
    Suite *s = suite_create("order_payment_batch");
    TCase *tc = tcase_create("batch");
    tcase_add_checked_fixture(tc, ot_setup, ot_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, get_payment_jobs_answers_each_query);
    tcase_add_test(tc, record_payment_attempts_answers_each_report);
    tcase_add_test(tc, batches_of_different_orders_are_one_statement);
    tcase_add_test(tc, the_client_gathers_concurrent_calls);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(order_payment_batch_suite());
}
