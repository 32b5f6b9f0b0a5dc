/* test_order_payment.c - the payment side of OrderService over real gRPC:
 * GetPaymentJob (with start_attempt: the attempt started in the same
 * statement, resumed on a retry), RecordPaymentAttempt (upsert, refusals;
 * with complete_outcome: the order decided in the same statement),
 * CompletePayment and CancelOrder against the state machine, the outbox
 * row's life (deleted with the final state, re-sent when its job is stale),
 * and the configuration read from the environment.
 */
#include "order_test.h"

#define ST_PROCESSING SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING
#define ST_CONFIRMED SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED
#define ST_FAILED SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED
#define ST_CANCELLED SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CANCELLED
#define AT_PROCESSING SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_PROCESSING
#define AT_SUCCESS SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_SUCCESS
#define AT_FAILED SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED

static Swifteats__V1__PaymentJob *get_job_ex(int64_t id, int start, se_status *st)
{
    Swifteats__V1__GetPaymentJobRequest req = SWIFTEATS__V1__GET_PAYMENT_JOB_REQUEST__INIT;
    req.order_id = id;
    req.start_attempt = start != 0;
    Swifteats__V1__PaymentJob *job = NULL;
    swifteats_v1_order_service_get_payment_job(ot_ch, &req, &job, NULL, st);
    return job;
}

static Swifteats__V1__PaymentJob *get_job(int64_t id, se_status *st)
{
    return get_job_ex(id, 0, st);
}

/* RecordPaymentAttempt; error (may be NULL) goes to error_message;
 * outcome (0: none) to complete_outcome with reason (NULL: none). */
static Swifteats__V1__PaymentAttempt *record_ex(int64_t id, int n, int status, int64_t amount,
                                                const char *error, const char *charge,
                                                int outcome, const char *reason, se_status *st)
{
    Swifteats__V1__RecordPaymentAttemptRequest req =
        SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST__INIT;
    req.order_id = id;
    req.attempt_number = n;
    req.status = status;
    req.amount = amount;
    if (error != NULL) {
        req._error_message_case =
            SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST___ERROR_MESSAGE_ERROR_MESSAGE;
        req.error_message = (char *)error;
    }
    if (charge != NULL) {
        req._gateway_charge_id_case =
            SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST___GATEWAY_CHARGE_ID_GATEWAY_CHARGE_ID;
        req.gateway_charge_id = (char *)charge;
    }
    req.complete_outcome = outcome;
    if (reason != NULL) {
        req._complete_reason_case =
            SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST___COMPLETE_REASON_COMPLETE_REASON;
        req.complete_reason = (char *)reason;
    }
    char key[32];
    snprintf(key, sizeof key, "order-%" PRId64, id);
    req.idempotency_key = key;
    Swifteats__V1__PaymentAttempt *a = NULL;
    swifteats_v1_order_service_record_payment_attempt(ot_ch, &req, &a, NULL, st);
    return a;
}

static Swifteats__V1__PaymentAttempt *record(int64_t id, int n, int status, int64_t amount,
                                             const char *error, const char *charge,
                                             se_status *st)
{
    return record_ex(id, n, status, amount, error, charge, 0, NULL, st);
}

static int64_t us_of(const Google__Protobuf__Timestamp *t)
{
    return t->seconds * 1000000 + t->nanos / 1000;
}

static Swifteats__V1__Order *new_order(void)
{
    return ot_create_simple("cust-pay", ot_orderable_item(1, 0), 2);
}

static int outbox_rows(int64_t id)
{
    return (int)ot_sql_intf("SELECT count(*) FROM payment_outbox WHERE order_id = %" PRId64, id);
}

/* ---- GetPaymentJob --------------------------------------------------------------------- */

START_TEST(payment_job_says_what_to_charge)
{
    Swifteats__V1__Order *m = new_order();
    se_status st;
    Swifteats__V1__PaymentJob *j = get_job(m->id, &st);
    ck_assert_msg(j != NULL, "%s", st.message);
    ck_assert_int_eq(j->order_id, m->id);
    ck_assert_str_eq(j->customer_id, "cust-pay");
    ck_assert_int_eq(j->amount, m->total_amount);
    ck_assert_str_eq(j->currency, "USD");
    ck_assert_int_eq(j->next_attempt_number, 1);
    char key[32];
    snprintf(key, sizeof key, "order-%" PRId64, m->id);
    ck_assert_str_eq(j->idempotency_key, key);
    se_msg_free(&j->base);
    Swifteats__V1__PaymentAttempt *a = record(m->id, 1, AT_PROCESSING, m->total_amount, NULL,
                                              NULL, &st);
    ck_assert_msg(a != NULL, "%s", st.message);
    se_msg_free(&a->base);
    j = get_job(m->id, &st);
    ck_assert_int_eq(j->next_attempt_number, 2);
    se_msg_free(&j->base);
    /* errors */
    ck_assert_ptr_null(get_job(0, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "order_id");
    ck_assert_ptr_null(get_job(987654, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_NOT_FOUND, "order 987654 not found");
    se_msg_free(&ot_complete(m->id, ST_CONFIRMED, "ch_1", &st)->base);
    ck_assert_ptr_null(get_job(m->id, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, "is confirmed, not payment_processing");
    se_msg_free(&m->base);
}
END_TEST

/* ---- RecordPaymentAttempt -------------------------------------------------------------- */

START_TEST(attempts_are_upserted_and_bump_the_order)
{
    Swifteats__V1__Order *m = new_order();
    int64_t t0 = us_of(m->updated_at);
    se_status st;
    Swifteats__V1__PaymentAttempt *a1 = record(m->id, 1, AT_PROCESSING, m->total_amount, NULL,
                                               NULL, &st);
    ck_assert_msg(a1 != NULL, "%s", st.message);
    ck_assert_int_gt(a1->id, 0);
    ck_assert_int_eq(a1->attempt_number, 1);
    ck_assert_int_eq(a1->status, AT_PROCESSING);
    ck_assert_int_eq(a1->_error_message_case, 0);
    Swifteats__V1__Order *g = ot_get(m->id, &st);
    int64_t t1 = us_of(g->updated_at);
    ck_assert_int_gt(t1, t0);
    se_msg_free(&g->base);
    /* the same values again: the same row, nothing changes */
    Swifteats__V1__PaymentAttempt *a2 = record(m->id, 1, AT_PROCESSING, m->total_amount, NULL,
                                               NULL, &st);
    ck_assert_msg(a2 != NULL, "%s", st.message);
    ck_assert_int_eq(a2->id, a1->id);
    ck_assert_int_eq(us_of(a2->updated_at), us_of(a1->updated_at));
    g = ot_get(m->id, &st);
    ck_assert_int_eq(us_of(g->updated_at), t1);
    se_msg_free(&g->base);
    /* the outcome of the try updates the row */
    Swifteats__V1__PaymentAttempt *a3 = record(m->id, 1, AT_FAILED, m->total_amount,
                                               "gateway timeout", NULL, &st);
    ck_assert_msg(a3 != NULL, "%s", st.message);
    ck_assert_int_eq(a3->id, a1->id);
    ck_assert_int_eq(a3->status, AT_FAILED);
    ck_assert_str_eq(a3->error_message, "gateway timeout");
    ck_assert_int_gt(us_of(a3->updated_at), us_of(a1->updated_at));
    ck_assert_int_eq(us_of(a3->created_at), us_of(a1->created_at));
    /* a late "processing" report does not undo the outcome */
    Swifteats__V1__PaymentAttempt *a4 = record(m->id, 1, AT_PROCESSING, m->total_amount, NULL,
                                               NULL, &st);
    ck_assert_msg(a4 != NULL, "%s", st.message);
    ck_assert_int_eq(a4->status, AT_FAILED);
    /* a second try, approved */
    Swifteats__V1__PaymentAttempt *a5 = record(m->id, 2, AT_SUCCESS, m->total_amount, NULL,
                                               "ch_42", &st);
    ck_assert_msg(a5 != NULL, "%s", st.message);
    ck_assert_str_eq(a5->gateway_charge_id, "ch_42");
    g = ot_get(m->id, &st);
    ck_assert_uint_eq(g->n_payment_attempts, 2);
    ck_assert_int_eq(g->payment_attempts[0]->attempt_number, 1);
    ck_assert_int_eq(g->payment_attempts[0]->status, AT_FAILED);
    ck_assert_int_eq(g->payment_attempts[1]->attempt_number, 2);
    ck_assert_str_eq(g->payment_attempts[1]->gateway_charge_id, "ch_42");
    ck_assert_int_gt(us_of(g->updated_at), t1);
    se_msg_free(&g->base);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_attempts WHERE order_id = %"
                                 PRId64, m->id), 2);
    /* once the order is final, attempts are refused */
    se_msg_free(&ot_complete(m->id, ST_CONFIRMED, "ch_42", &st)->base);
    ck_assert_ptr_null(record(m->id, 3, AT_PROCESSING, m->total_amount, NULL, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, "is confirmed");
    ck_assert_ptr_null(record(987654, 1, AT_PROCESSING, 100, NULL, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_NOT_FOUND, "order 987654 not found");
    Swifteats__V1__PaymentAttempt *all[] = {a1, a2, a3, a4, a5};
    for (int i = 0; i < 5; i++)
        se_msg_free(&all[i]->base);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(attempt_validation_names_the_field)
{
    Swifteats__V1__Order *m = new_order();
    int64_t id = m->id, amt = m->total_amount;
    char long_text[600];
    memset(long_text, 'x', 501);
    long_text[501] = '\0';
    se_status st;
    ck_assert_ptr_null(record(0, 1, AT_PROCESSING, amt, NULL, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "order_id must be a positive integer");
    ck_assert_ptr_null(record(id, 0, AT_PROCESSING, amt, NULL, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "attempt_number must be >= 1 (got 0)");
    ck_assert_ptr_null(record(id, 1, 0, amt, NULL, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "status is required");
    ck_assert_ptr_null(record(id, 1, 9, amt, NULL, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "status 9 is not a known");
    ck_assert_ptr_null(record(id, 1, AT_PROCESSING, 0, NULL, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "amount must be greater than 0 (got 0)");
    ck_assert_ptr_null(record(id, 1, AT_FAILED, amt, NULL, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "error_message is required");
    ck_assert_ptr_null(record(id, 1, AT_FAILED, amt, long_text, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "error_message must be at most 500 bytes");
    ck_assert_ptr_null(record(id, 1, AT_SUCCESS, amt, NULL, long_text, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "gateway_charge_id must be at most");
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM payment_attempts"), 0);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(start_attempt_records_the_attempt_in_the_same_call)
{
    Swifteats__V1__Order *m = new_order();
    se_status st;
    Swifteats__V1__PaymentJob *j = get_job_ex(m->id, 1, &st);
    ck_assert_msg(j != NULL, "%s", st.message);
    ck_assert_int_eq(j->next_attempt_number, 1); /* the attempt just started */
    ck_assert_int_eq(j->amount, m->total_amount);
    ck_assert_str_eq(j->customer_id, "cust-pay");
    char key[32];
    snprintf(key, sizeof key, "order-%" PRId64, m->id);
    ck_assert_str_eq(j->idempotency_key, key);
    se_msg_free(&j->base);
    Swifteats__V1__Order *g = ot_get(m->id, &st);
    ck_assert_uint_eq(g->n_payment_attempts, 1);
    Swifteats__V1__PaymentAttempt *a = g->payment_attempts[0];
    ck_assert_int_eq(a->attempt_number, 1);
    ck_assert_int_eq(a->status, AT_PROCESSING);
    ck_assert_int_eq(a->amount, m->total_amount);
    ck_assert_int_eq(a->_error_message_case, 0);
    ck_assert_int_eq(a->_gateway_charge_id_case, 0);
    int64_t t1 = us_of(g->updated_at);
    ck_assert_int_gt(t1, us_of(m->updated_at));
    se_msg_free(&g->base);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_attempts WHERE order_id = %"
                                 PRId64 " AND idempotency_key = 'order-' || order_id", m->id), 1);
    /* asked again (a retry, a redelivery): the attempt still processing is
     * answered, nothing new is started and nothing changes */
    j = get_job_ex(m->id, 1, &st);
    ck_assert_msg(j != NULL, "%s", st.message);
    ck_assert_int_eq(j->next_attempt_number, 1);
    se_msg_free(&j->base);
    g = ot_get(m->id, &st);
    ck_assert_uint_eq(g->n_payment_attempts, 1);
    ck_assert_int_eq(us_of(g->updated_at), t1);
    se_msg_free(&g->base);
    /* once attempt 1 has an outcome, the next start is attempt 2 */
    se_msg_free(&record(m->id, 1, AT_FAILED, m->total_amount, "gateway timeout", NULL, &st)->base);
    j = get_job_ex(m->id, 1, &st);
    ck_assert_msg(j != NULL, "%s", st.message);
    ck_assert_int_eq(j->next_attempt_number, 2);
    se_msg_free(&j->base);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_attempts WHERE order_id = %"
                                 PRId64 " AND attempt_number = 2 AND status = 'processing'",
                                 m->id), 1);
    /* without start_attempt: a read, as before */
    j = get_job(m->id, &st);
    ck_assert_int_eq(j->next_attempt_number, 3);
    se_msg_free(&j->base);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_attempts WHERE order_id = %"
                                 PRId64, m->id), 2);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(start_attempt_is_refused_unless_payment_processing)
{
    Swifteats__V1__Order *m = new_order();
    se_status st;
    se_msg_free(&ot_complete(m->id, ST_FAILED, NULL, &st)->base);
    ck_assert_ptr_null(get_job_ex(m->id, 1, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION,
                     "is payment_failed, not payment_processing");
    Swifteats__V1__Order *c = ot_cancel(m->id, NULL, &st);
    ck_assert_msg(c != NULL, "%s", st.message);
    ck_assert_ptr_null(get_job_ex(m->id, 1, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, "is cancelled");
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM payment_attempts WHERE order_id = %"
                                 PRId64, m->id), 0);
    Swifteats__V1__Order *g = ot_get(m->id, &st);
    ck_assert_int_eq(us_of(g->updated_at), us_of(c->updated_at)); /* untouched */
    ck_assert_ptr_null(get_job_ex(987654, 1, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_NOT_FOUND, "order 987654 not found");
    ck_assert_ptr_null(get_job_ex(0, 1, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "order_id");
    se_msg_free(&g->base);
    se_msg_free(&c->base);
    se_msg_free(&m->base);
}
END_TEST

static int64_t order_sql_count(int64_t id, const char *where)
{
    char fmt[256];
    snprintf(fmt, sizeof fmt, "SELECT count(*) FROM orders WHERE id = %%" PRId64 " AND %s",
             where);
    return ot_sql_intf(fmt, id);
}

START_TEST(complete_outcome_confirms_the_order_with_the_attempt)
{
    Swifteats__V1__Order *m = new_order();
    ck_assert_int_eq(outbox_rows(m->id), 1);
    se_status st;
    se_msg_free(&get_job_ex(m->id, 1, &st)->base);
    Swifteats__V1__PaymentAttempt *a1 = record_ex(m->id, 1, AT_SUCCESS, m->total_amount, NULL,
                                                  "ch_9", ST_CONFIRMED, NULL, &st);
    ck_assert_msg(a1 != NULL, "%s", st.message);
    ck_assert_int_eq(a1->status, AT_SUCCESS);
    ck_assert_str_eq(a1->gateway_charge_id, "ch_9");
    Swifteats__V1__Order *g = ot_get(m->id, &st);
    ck_assert_int_eq(g->status, ST_CONFIRMED);
    ck_assert_int_eq(g->payment_attempts[0]->status, AT_SUCCESS);
    ck_assert_int_gt(us_of(g->updated_at), us_of(m->updated_at));
    ck_assert_int_eq(outbox_rows(m->id), 0); /* deleted with the final state */
    ck_assert_int_eq(order_sql_count(m->id, "gateway_charge_id = 'ch_9'"), 1);
    /* the same call again (a retry): answered as stored, nothing changes */
    Swifteats__V1__PaymentAttempt *a2 = record_ex(m->id, 1, AT_SUCCESS, m->total_amount, NULL,
                                                  "ch_9", ST_CONFIRMED, NULL, &st);
    ck_assert_msg(a2 != NULL, "%s", st.message);
    ck_assert_int_eq(a2->id, a1->id);
    ck_assert_int_eq(us_of(a2->updated_at), us_of(a1->updated_at));
    Swifteats__V1__Order *g2 = ot_get(m->id, &st);
    ck_assert_int_eq(us_of(g2->updated_at), us_of(g->updated_at));
    /* the other outcome, or an attempt the decided order never had: refused */
    ck_assert_ptr_null(record_ex(m->id, 1, AT_FAILED, m->total_amount, "declined: x", NULL,
                                 ST_FAILED, "declined: x", &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, "is confirmed");
    ck_assert_ptr_null(record_ex(m->id, 2, AT_SUCCESS, m->total_amount, NULL, "ch_9",
                                 ST_CONFIRMED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_NOT_FOUND, "confirmed already and has no attempt 2");
    ck_assert_int_eq(order_sql_count(m->id, "status = 'confirmed'"), 1);
    ck_assert_ptr_null(record_ex(987654, 1, AT_SUCCESS, 100, NULL, NULL, ST_CONFIRMED, NULL,
                                 &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_NOT_FOUND, "order 987654 not found");
    Swifteats__V1__Order *all[] = {m, g, g2};
    for (int i = 0; i < 3; i++)
        se_msg_free(&all[i]->base);
    se_msg_free(&a1->base);
    se_msg_free(&a2->base);
}
END_TEST

START_TEST(complete_outcome_fails_the_order_and_keeps_the_state_machine)
{
    Swifteats__V1__Order *m = new_order();
    se_status st;
    se_msg_free(&get_job_ex(m->id, 1, &st)->base);
    Swifteats__V1__PaymentAttempt *a = record_ex(
        m->id, 1, AT_FAILED, m->total_amount, "declined: insufficient_funds", "ch_3", ST_FAILED,
        "declined: insufficient_funds", &st);
    ck_assert_msg(a != NULL, "%s", st.message);
    ck_assert_int_eq(a->status, AT_FAILED);
    ck_assert_int_eq(outbox_rows(m->id), 0);
    ck_assert_int_eq(order_sql_count(m->id, "status = 'payment_failed' AND status_reason = "
                                            "'declined: insufficient_funds' AND "
                                            "gateway_charge_id IS NULL"), 1);
    /* payment_failed -> cancelled still works; no attempt afterwards */
    Swifteats__V1__Order *c = ot_cancel(m->id, NULL, &st);
    ck_assert_msg(c != NULL, "%s", st.message);
    ck_assert_ptr_null(record_ex(m->id, 1, AT_FAILED, m->total_amount, "declined: x", NULL,
                                 ST_FAILED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, "is cancelled");
    /* an attempt recorded earlier without an outcome: the completing call
     * changes no attempt but still decides the order */
    Swifteats__V1__Order *k = new_order();
    se_msg_free(&record(k->id, 1, AT_SUCCESS, k->total_amount, NULL, "ch_5", &st)->base);
    Swifteats__V1__PaymentAttempt *b = record_ex(k->id, 1, AT_SUCCESS, k->total_amount, NULL,
                                                 "ch_5", ST_CONFIRMED, NULL, &st);
    ck_assert_msg(b != NULL, "%s", st.message);
    ck_assert_int_eq(b->status, AT_SUCCESS);
    ck_assert_int_eq(order_sql_count(k->id, "status = 'confirmed' AND gateway_charge_id = "
                                            "'ch_5'"), 1);
    ck_assert_int_eq(outbox_rows(k->id), 0);
    se_msg_free(&a->base);
    se_msg_free(&b->base);
    se_msg_free(&c->base);
    se_msg_free(&k->base);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(complete_outcome_validation_names_the_field)
{
    Swifteats__V1__Order *m = new_order();
    int64_t id = m->id, amt = m->total_amount;
    se_status st;
    ck_assert_ptr_null(record_ex(id, 1, AT_SUCCESS, amt, NULL, "ch", ST_CANCELLED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT,
                     "complete_outcome must be ORDER_STATUS_CONFIRMED or "
                     "ORDER_STATUS_PAYMENT_FAILED (got 5)");
    ck_assert_ptr_null(record_ex(id, 1, AT_FAILED, amt, "x", NULL, ST_CONFIRMED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT,
                     "complete_outcome confirmed requires status success (got failed)");
    ck_assert_ptr_null(record_ex(id, 1, AT_PROCESSING, amt, NULL, NULL, ST_CONFIRMED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT,
                     "complete_outcome confirmed requires status success (got processing)");
    ck_assert_ptr_null(record_ex(id, 1, AT_SUCCESS, amt, NULL, "ch", ST_FAILED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT,
                     "complete_outcome payment_failed requires status failed (got success)");
    char long_text[600];
    memset(long_text, 'x', 501);
    long_text[501] = '\0';
    ck_assert_ptr_null(record_ex(id, 1, AT_FAILED, amt, "x", NULL, ST_FAILED, long_text, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "complete_reason must be at most 500");
    ck_assert_int_eq(ot_sql_int("SELECT count(*) FROM payment_attempts"), 0);
    ck_assert_int_eq(order_sql_count(id, "status = 'payment_processing'"), 1);
    ck_assert_int_eq(outbox_rows(id), 1);
    se_msg_free(&m->base);
}
END_TEST

/* ---- CompletePayment and CancelOrder ------------------------------------------------------ */

START_TEST(complete_twice_with_one_outcome_is_harmless)
{
    Swifteats__V1__Order *m = new_order();
    SE_POLL_UNTIL(ot_stream_jobs(m->id) == 1, 5000);
    ck_assert_int_eq(outbox_rows(m->id), 1);
    se_status st;
    Swifteats__V1__Order *c1 = ot_complete(m->id, ST_CONFIRMED, "ch_7", &st);
    ck_assert_msg(c1 != NULL, "%s", st.message);
    ck_assert_int_eq(c1->status, ST_CONFIRMED);
    ck_assert_uint_eq(c1->n_items, 1); /* the whole order comes back */
    ck_assert_int_gt(us_of(c1->updated_at), us_of(m->updated_at));
    ck_assert_int_eq(outbox_rows(m->id), 0); /* deleted with the final state */
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM orders WHERE id = %" PRId64
                                 " AND gateway_charge_id = 'ch_7'", m->id), 1);
    Swifteats__V1__Order *c2 = ot_complete(m->id, ST_CONFIRMED, "ch_7", &st);
    ck_assert_msg(c2 != NULL, "%s", st.message);
    ck_assert_int_eq(c2->status, ST_CONFIRMED);
    ck_assert_int_eq(us_of(c2->updated_at), us_of(c1->updated_at)); /* unchanged */
    ck_assert_ptr_null(ot_complete(m->id, ST_FAILED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION,
                     "cannot move from confirmed to payment_failed");
    ck_assert_ptr_null(ot_complete(987654, ST_CONFIRMED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_NOT_FOUND, "order 987654 not found");
    ck_assert_ptr_null(ot_complete(m->id, ST_CANCELLED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "outcome must be");
    ck_assert_ptr_null(ot_complete(-3, ST_CONFIRMED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "order_id");
    se_msg_free(&c1->base);
    se_msg_free(&c2->base);
    se_msg_free(&m->base);
}
END_TEST

START_TEST(cancel_follows_the_state_machine)
{
    se_status st;
    /* payment_processing: refused until the payment has finished */
    Swifteats__V1__Order *m = new_order();
    ck_assert_ptr_null(ot_cancel(m->id, "changed my mind", &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION,
                     "cannot move from payment_processing to cancelled");
    /* payment_failed -> cancelled, then cancelling again changes nothing */
    Swifteats__V1__Order *f = ot_complete(m->id, ST_FAILED, NULL, &st);
    ck_assert_msg(f != NULL, "%s", st.message);
    ck_assert_int_eq(f->status, ST_FAILED);
    ck_assert_int_eq(outbox_rows(m->id), 0);
    Swifteats__V1__Order *c = ot_cancel(m->id, "changed my mind", &st);
    ck_assert_msg(c != NULL, "%s", st.message);
    ck_assert_int_eq(c->status, ST_CANCELLED);
    ck_assert_int_eq(ot_sql_intf("SELECT count(*) FROM orders WHERE id = %" PRId64
                                 " AND status_reason = 'changed my mind'", m->id), 1);
    Swifteats__V1__Order *c2 = ot_cancel(m->id, NULL, &st);
    ck_assert_msg(c2 != NULL, "%s", st.message);
    ck_assert_int_eq(us_of(c2->updated_at), us_of(c->updated_at));
    /* a cancelled order takes no payment outcome */
    ck_assert_ptr_null(ot_complete(m->id, ST_CONFIRMED, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, "from cancelled to confirmed");
    /* pending -> cancelled (pending orders are not made by CreateOrder) */
    Swifteats__V1__Order *p = new_order();
    char sql[128];
    snprintf(sql, sizeof sql, "UPDATE orders SET status = 'pending' WHERE id = %" PRId64, p->id);
    mt_exec(sql);
    Swifteats__V1__Order *pc = ot_cancel(p->id, NULL, &st);
    ck_assert_msg(pc != NULL, "%s", st.message);
    ck_assert_int_eq(pc->status, ST_CANCELLED);
    ck_assert_int_eq(outbox_rows(p->id), 0);
    /* confirmed: final */
    Swifteats__V1__Order *k = new_order();
    se_msg_free(&ot_complete(k->id, ST_CONFIRMED, NULL, &st)->base);
    ck_assert_ptr_null(ot_cancel(k->id, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_FAILED_PRECONDITION, "from confirmed to cancelled");
    /* errors */
    ck_assert_ptr_null(ot_cancel(987654, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_NOT_FOUND, "order 987654 not found");
    ck_assert_ptr_null(ot_cancel(0, NULL, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "order_id");
    char long_reason[600];
    memset(long_reason, 'r', 501);
    long_reason[501] = '\0';
    ck_assert_ptr_null(ot_cancel(k->id, long_reason, &st));
    OT_ASSERT_FAILED(st, GRPC_STATUS_INVALID_ARGUMENT, "reason must be at most 500 bytes");
    Swifteats__V1__Order *all[] = {m, f, c, c2, p, pc, k};
    for (int i = 0; i < 7; i++)
        se_msg_free(&all[i]->base);
}
END_TEST

/* ---- outbox redelivery --------------------------------------------------------------------- */

static void redeliver_setup(void)
{
    mt_start(NULL);
    order_service_config cfg = ot_config();
    cfg.outbox.redeliver_ms = 300;
    ot_start(&cfg);
}

START_TEST(a_stale_job_is_sent_again_until_the_order_is_final)
{
    Swifteats__V1__Order *m = new_order();
    SE_POLL_UNTIL(ot_stream_jobs(m->id) == 1, 5000);
    ck_assert_int_eq(ot_stream_jobs(m->id), 1);
    /* nobody completed the payment: after SE_ORDER_PAYMENT_REDELIVER_MS the
     * job goes out again */
    SE_POLL_UNTIL(ot_stream_jobs(m->id) >= 2, 5000);
    ck_assert_int_ge(ot_stream_jobs(m->id), 2);
    se_status st;
    se_msg_free(&ot_complete(m->id, ST_FAILED, NULL, &st)->base);
    ck_assert_int_eq(outbox_rows(m->id), 0);
    int sent = ot_stream_jobs(m->id);
    se_test_sleep_ms(SE_T(900)); /* three redelivery periods: nothing more */
    ck_assert_int_eq(ot_stream_jobs(m->id), sent);
    se_msg_free(&m->base);
}
END_TEST

/* ---- configuration ------------------------------------------------------------------------- */

START_TEST(configuration_comes_from_the_environment)
{
    setenv("SE_PG_URL", "postgresql://x@127.0.0.1:1/db", 1);
    setenv("SE_ORDER_PG_POOL_SIZE", "7", 1);
    setenv("SE_MENU_TARGET", "dns:///menu:50051", 1);
    setenv("SE_ORDER_MENU_TIMEOUT_MS", "250", 1);
    setenv("SE_PAYMENT_STREAM", "jobs", 1);
    setenv("SE_PAYMENT_GROUP", "workers", 1);
    setenv("SE_ORDER_OUTBOX_POLL_MS", "20", 1);
    setenv("SE_ORDER_OUTBOX_BATCH", "10", 1);
    setenv("SE_ORDER_PAYMENT_REDELIVER_MS", "1234", 1);
    setenv("SE_ORDER_PAYMENT_PG_POOL_SIZE", "3", 1);
    setenv("SE_ORDER_INSERT_BATCH", "17", 1);
    setenv("SE_ORDER_INSERT_CONCURRENCY", "5", 1);
    setenv("SE_ORDER_MENU_BATCH", "9", 1);
    setenv("SE_ORDER_MENU_CONCURRENCY", "3", 1);
    order_service_config cfg;
    order_service_config_from_env(&cfg);
    ck_assert_str_eq(cfg.pg_url, "postgresql://x@127.0.0.1:1/db");
    ck_assert_int_eq(cfg.pg_pool_size, 7);
    ck_assert_str_eq(cfg.menu_target, "dns:///menu:50051");
    ck_assert_int_eq(cfg.menu_timeout_ms, 250);
    ck_assert_str_eq(cfg.outbox.stream, "jobs");
    ck_assert_str_eq(cfg.outbox.group, "workers");
    ck_assert_int_eq(cfg.outbox.poll_ms, 20);
    ck_assert_int_eq(cfg.outbox.batch, 10);
    ck_assert_int_eq(cfg.outbox.redeliver_ms, 1234);
    ck_assert_int_eq(cfg.payment_pg_pool_size, 3);
    ck_assert_int_eq(cfg.insert_batch, 17);
    ck_assert_int_eq(cfg.insert_concurrency, 5);
    ck_assert_int_eq(cfg.menu_batch, 9);
    ck_assert_int_eq(cfg.menu_concurrency, 3);
    unsetenv("SE_ORDER_MENU_BATCH");
    unsetenv("SE_ORDER_MENU_CONCURRENCY");
    unsetenv("SE_ORDER_PAYMENT_PG_POOL_SIZE");
    unsetenv("SE_ORDER_INSERT_BATCH");
    unsetenv("SE_ORDER_INSERT_CONCURRENCY");
    unsetenv("SE_ORDER_PG_POOL_SIZE");
    unsetenv("SE_PAYMENT_STREAM");
    unsetenv("SE_ORDER_PAYMENT_REDELIVER_MS");
    order_service_config_from_env(&cfg);
    ck_assert_int_eq(cfg.pg_pool_size, 16);
    ck_assert_str_eq(cfg.outbox.stream, "se:payment:jobs");
    ck_assert_int_eq(cfg.outbox.redeliver_ms, 300000);
    ck_assert_int_eq(cfg.payment_pg_pool_size, 4);
    ck_assert_int_eq(cfg.insert_batch, 64);
    ck_assert_int_eq(cfg.insert_concurrency, 2);
    ck_assert_int_eq(cfg.menu_batch, 16);
    ck_assert_int_eq(cfg.menu_concurrency, 2);
}
END_TEST

static Suite *order_payment_suite(void)
{
    Suite *s = suite_create("order_payment");
    TCase *tc = tcase_create("payment");
    tcase_add_checked_fixture(tc, ot_setup, ot_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, payment_job_says_what_to_charge);
    tcase_add_test(tc, attempts_are_upserted_and_bump_the_order);
    tcase_add_test(tc, attempt_validation_names_the_field);
    tcase_add_test(tc, start_attempt_records_the_attempt_in_the_same_call);
    tcase_add_test(tc, start_attempt_is_refused_unless_payment_processing);
    tcase_add_test(tc, complete_outcome_confirms_the_order_with_the_attempt);
    tcase_add_test(tc, complete_outcome_fails_the_order_and_keeps_the_state_machine);
    tcase_add_test(tc, complete_outcome_validation_names_the_field);
    tcase_add_test(tc, complete_twice_with_one_outcome_is_harmless);
    tcase_add_test(tc, cancel_follows_the_state_machine);
    suite_add_tcase(s, tc);
    TCase *rd = tcase_create("redelivery");
    tcase_add_checked_fixture(rd, redeliver_setup, ot_teardown);
    tcase_set_timeout(rd, 60);
    tcase_add_test(rd, a_stale_job_is_sent_again_until_the_order_is_final);
    suite_add_tcase(s, rd);
    TCase *cf = tcase_create("config");
    tcase_add_test(cf, configuration_comes_from_the_environment);
    suite_add_tcase(s, cf);
    return s;
}

int main(void)
{
    return se_test_run(order_payment_suite());
}
