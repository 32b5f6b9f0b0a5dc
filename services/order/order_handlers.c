/* order_handlers.c - OrderService RPCs: request validation, then the menu
 * pricer and the store (see proto/swifteats/v1/order.proto for the spec).
 *
 * Every handler runs on an RPC server thread and blocks (menu service,
 * PostgreSQL); ctx is the order_service. Validation failures are
 * INVALID_ARGUMENT with a message naming the field, checked in the order
 * the fields are declared ("items[1].quantity must be between 1 and 100
 * (got 0)"). Helpers named *_or_fail answer the call themselves and return
 * -1, so the handler just returns.
 *
 * CreateOrder: validate -> price with ONE GetItemsForOrder call -> one
 * INSERT statement (order, items, outbox row), shared with the concurrent
 * calls (order_batch.h) -> wake the outbox relay -> reply
 * payment_processing (HTTP 202 at the gateway). A used Idempotency-Key is
 * found by the insert (ON CONFLICT) and answered with the stored order as
 * it is now; a retry that fails pricing (a price changed since, the menu
 * is down) is looked up by its key before the pricing error is answered,
 * so a retry still gets its order. Redis plays no part in the request: the
 * relay enqueues later.
 *
 * Idempotency-Key: the gRPC metadata "idempotency-key" (the gateway passes
 * the HTTP header through); empty means none; at most 255 bytes, checked
 * after the body's fields. The request fingerprint is the SHA-256 of the
 * request message's protobuf encoding (deterministic for a given message,
 * every field included), so "the same request" means the same body.
 *
 * Payment worker RPCs: GetPaymentJob with start_attempt also starts the
 * attempt, and RecordPaymentAttempt with complete_outcome also decides the
 * order, each in one statement (order_store.c), so a payment decided by its
 * first try costs the order service two calls. complete_outcome is
 * validated like CompletePayment's outcome, plus the attempt status it
 * needs (success to confirm, failed to fail).
 */
#include "order_handlers.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "order_pricing.h"
#include "order_util.h"
#include "se_alloc.h"
#include "se_log.h"

#define CUSTOMER_ID_MAX 64
#define ITEMS_MAX 50
#define QUANTITY_MAX 100
#define KEY_MAX 255        /* Idempotency-Key, attempt idempotency_key */
#define CHARGE_ID_MAX 255
#define TEXT_MAX 500       /* reasons, error messages */

/* ---- helpers ------------------------------------------------------------------- */

static void fail_with(se_call *call, const se_status *st)
{
    se_call_fail(call, st->code, "%s", st->message);
}

static void reply_order(se_call *call, Swifteats__V1__Order *o)
{
    se_call_reply(call, &o->base);
    se_msg_free(&o->base);
}

/* Checks fill st (INVALID_ARGUMENT naming the field) and return -1, or
 * return 0; the *_or_fail forms answer the call with it. */
static int invalid(se_status *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int invalid(se_status *st, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    se_status_set(st, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg);
    return -1;
}

static int id_check(se_status *st, int64_t id, const char *field)
{
    return id > 0 ? 0
                  : invalid(st, "%s must be a positive integer (got %" PRId64 ")", field, id);
}

/* An optional text field (present: non-NULL) of at most max bytes. */
static int text_max_check(se_status *st, const char *s, size_t max, const char *field)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return n <= max ? 0 : invalid(st, "%s must be at most %zu bytes (got %zu)", field, max, n);
}

static int id_or_fail(se_call *call, int64_t id, const char *field)
{
    se_status st;
    if (id_check(&st, id, field) == 0)
        return 0;
    fail_with(call, &st);
    return -1;
}

static int text_max_or_fail(se_call *call, const char *s, size_t max, const char *field)
{
    se_status st;
    if (text_max_check(&st, s, max, field) == 0)
        return 0;
    fail_with(call, &st);
    return -1;
}

/* ---- CreateOrder ------------------------------------------------------------------- */

/* One line, its fields in declaration order; ids[i] gets the parsed item_id. */
static int item_or_fail(se_call *call, size_t i, const Swifteats__V1__CreateOrderItem *it,
                        int64_t *id)
{
    if (order_parse_id(it->item_id, id) != 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "items[%zu].item_id must be a positive integer in canonical decimal form "
                     "(got \"%.40s\")",
                     i, it->item_id);
        return -1;
    }
    if (it->quantity < 1 || it->quantity > QUANTITY_MAX) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "items[%zu].quantity must be between 1 and %d (got %d)", i, QUANTITY_MAX,
                     it->quantity);
        return -1;
    }
    if (it->price <= 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "items[%zu].price must be greater than 0 (got %" PRId64 ")", i, it->price);
        return -1;
    }
    return 0;
}

/* The body: ids (ITEMS_MAX entries) gets the parsed item ids. */
static int create_request_or_fail(se_call *call, const Swifteats__V1__CreateOrderRequest *req,
                                  int64_t *ids)
{
    size_t n = strlen(req->customer_id);
    if (n == 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "customer_id is required");
        return -1;
    }
    if (text_max_or_fail(call, req->customer_id, CUSTOMER_ID_MAX, "customer_id") != 0)
        return -1;
    if (req->n_items == 0 || req->n_items > ITEMS_MAX) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "items must hold 1 to %d entries (got %zu)", ITEMS_MAX, req->n_items);
        return -1;
    }
    for (size_t i = 0; i < req->n_items; i++)
        if (item_or_fail(call, i, req->items[i], &ids[i]) != 0)
            return -1;
    return 0;
}

/* *key: the Idempotency-Key, or NULL when absent or empty. */
static int idempotency_key_or_fail(se_call *call, const char **key)
{
    const char *k = se_call_metadata(call, "idempotency-key");
    if (text_max_or_fail(call, k, KEY_MAX, "idempotency-key") != 0)
        return -1;
    *key = k != NULL && k[0] != '\0' ? k : NULL;
    return 0;
}

/* SHA-256 of the request's protobuf encoding. */
static void request_fingerprint(const Swifteats__V1__CreateOrderRequest *req, uint8_t *out)
{
    uint8_t small[2048];
    size_t len = protobuf_c_message_get_packed_size(&req->base);
    uint8_t *buf = len <= sizeof small ? small : se_xmalloc(len);
    protobuf_c_message_pack(&req->base, buf);
    unsigned int md_len = 0;
    if (EVP_Digest(buf, len, out, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != ORDER_FINGERPRINT_LEN) {
        se_log_error("order_fingerprint_failed", "EVP_Digest(SHA-256) failed");
        abort(); /* cannot happen with the built-in SHA-256 */
    }
    if (buf != small)
        free(buf);
}

/* A pricing failure of a request with an Idempotency-Key: if the key was
 * used before with this same request, that is a retry and it gets the
 * order it created (even after a price change or with the menu service
 * down); a key used with another request is ALREADY_EXISTS; otherwise the
 * pricing error stands. Answers the call. */
static void create_unpriced(se_call *call, order_service *svc,
                            const Swifteats__V1__CreateOrderRequest *req, const char *key,
                            const uint8_t *fp, const se_status *pricing)
{
    Swifteats__V1__Order *o = NULL;
    se_status st;
    int rc = key != NULL ? order_store_find_by_key(order_service_store(svc), req->customer_id,
                                                   key, fp, &o, &st)
                         : 1;
    if (rc == 0)
        reply_order(call, o); /* a replay: nothing is created */
    else if (rc < 0 && st.code == GRPC_STATUS_ALREADY_EXISTS)
        fail_with(call, &st);
    else
        fail_with(call, pricing);
}

/* Prices and inserts (in a batch with concurrent calls); answers the call. */
static void create_priced(se_call *call, order_service *svc,
                          const Swifteats__V1__CreateOrderRequest *req, const int64_t *ids,
                          const char *key, const uint8_t *fp)
{
    order_priced pr;
    se_status st;
    if (order_pricing_check(order_service_pricing(svc), req, ids, se_call_request_id(call), &pr,
                            &st) != 0) {
        create_unpriced(call, svc, req, key, fp, &st);
        return;
    }
    order_new n = {.customer_id = req->customer_id,
                   .lines = pr.lines,
                   .n_lines = pr.n,
                   .total_amount = pr.total,
                   .idempotency_key = key,
                   .fingerprint = fp,
                   .request_id = se_call_request_id(call)};
    Swifteats__V1__Order *o = NULL;
    int rc = order_batch_insert(order_service_batch(svc), &n, &o, &st);
    order_priced_dispose(&pr);
    if (rc < 0) {
        fail_with(call, &st);
        return;
    }
    if (rc == 1) {
        se_log_debug("order_created", "order %" PRId64 " for %s: %zu items, %" PRId64 " cents",
                     o->id, o->customer_id, o->n_items, o->total_amount);
    }
    reply_order(call, o);
}

/* The Idempotency-Key is not looked up first: the insert itself finds a
 * used key (ON CONFLICT, then the stored order is compared by
 * fingerprint), and a retry that cannot be priced looks it up then
 * (create_unpriced). A look-up per call was a statement per order for
 * the rare retry. */
static void create_order(se_call *call, const Swifteats__V1__CreateOrderRequest *req, void *ctx)
{
    order_service *svc = ctx;
    int64_t ids[ITEMS_MAX];
    const char *key;
    if (create_request_or_fail(call, req, ids) != 0 || idempotency_key_or_fail(call, &key) != 0)
        return;
    uint8_t fp[ORDER_FINGERPRINT_LEN];
    if (key != NULL)
        request_fingerprint(req, fp);
    create_priced(call, svc, req, ids, key, key != NULL ? fp : NULL);
}

/* ---- reads ------------------------------------------------------------------------- */

static void get_order(se_call *call, const Swifteats__V1__GetOrderRequest *req, void *ctx)
{
    if (id_or_fail(call, req->order_id, "order_id") != 0)
        return;
    Swifteats__V1__Order *o = NULL;
    se_status st;
    if (order_store_get(order_service_store(ctx), req->order_id, &o, &st) != 0) {
        fail_with(call, &st);
        return;
    }
    reply_order(call, o);
}

static void list_orders(se_call *call, const Swifteats__V1__ListOrdersRequest *req, void *ctx)
{
    if (req->status != 0 && order_status_text(req->status) == NULL) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "status %d is not a known OrderStatus value", req->status);
        return;
    }
    if (req->page < 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "page must be >= 1 (got %d)",
                     req->page);
        return;
    }
    if (req->page_size < 0 || req->page_size > 100) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "page_size must be between 1 and 100 (got %d)", req->page_size);
        return;
    }
    order_list_query q = {.customer_id = req->customer_id,
                          .status = req->status,
                          .page = req->page ? req->page : 1,
                          .page_size = req->page_size ? req->page_size : 20};
    Swifteats__V1__ListOrdersResponse *resp = NULL;
    se_status st;
    if (order_store_list(order_service_store(ctx), &q, &resp, &st) != 0) {
        fail_with(call, &st);
        return;
    }
    se_call_reply(call, &resp->base);
    se_msg_free(&resp->base);
}

/* ---- transitions --------------------------------------------------------------------- */

static void transition(se_call *call, order_service *svc, int64_t id, int to,
                       const char *charge_id, const char *reason)
{
    Swifteats__V1__Order *o = NULL;
    se_status st;
    if (order_store_transition(order_service_store(svc), id, to, charge_id, reason, &o, &st) !=
        0) {
        fail_with(call, &st);
        return;
    }
    reply_order(call, o);
}

static void cancel_order(se_call *call, const Swifteats__V1__CancelOrderRequest *req, void *ctx)
{
    const char *reason = req->_reason_case ? req->reason : NULL;
    if (id_or_fail(call, req->order_id, "order_id") != 0 ||
        text_max_or_fail(call, reason, TEXT_MAX, "reason") != 0)
        return;
    transition(call, ctx, req->order_id, SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CANCELLED, NULL,
               reason);
}

static void complete_payment(se_call *call, const Swifteats__V1__CompletePaymentRequest *req,
                             void *ctx)
{
    const char *charge = req->_gateway_charge_id_case ? req->gateway_charge_id : NULL;
    const char *reason = req->_reason_case ? req->reason : NULL;
    if (id_or_fail(call, req->order_id, "order_id") != 0)
        return;
    if (req->outcome != SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED &&
        req->outcome != SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "outcome must be ORDER_STATUS_CONFIRMED or ORDER_STATUS_PAYMENT_FAILED "
                     "(got %d)",
                     req->outcome);
        return;
    }
    if (text_max_or_fail(call, charge, CHARGE_ID_MAX, "gateway_charge_id") != 0 ||
        text_max_or_fail(call, reason, TEXT_MAX, "reason") != 0)
        return;
    transition(call, ctx, req->order_id, req->outcome, charge, reason);
}

/* ---- payment worker ---------------------------------------------------------------------- */

/* GetPaymentJob: 0 and *job, or -1 with st. */
static int payment_job(order_service *svc, const Swifteats__V1__GetPaymentJobRequest *req,
                       Swifteats__V1__PaymentJob **job, se_status *st)
{
    if (id_check(st, req->order_id, "order_id") != 0)
        return -1;
    return order_store_payment_job(order_service_store(svc), req->order_id, req->start_attempt,
                                   job, st);
}

static void get_payment_job(se_call *call, const Swifteats__V1__GetPaymentJobRequest *req,
                            void *ctx)
{
    Swifteats__V1__PaymentJob *job = NULL;
    se_status st;
    if (payment_job(ctx, req, &job, &st) != 0) {
        fail_with(call, &st);
        return;
    }
    se_call_reply(call, &job->base);
    se_msg_free(&job->base);
}

/* complete_outcome and complete_reason of RecordPaymentAttempt: the
 * outcomes CompletePayment takes, each with the attempt status that
 * decides it (an approval confirms, a failure fails). */
static int complete_outcome_check(se_status *st,
                                  const Swifteats__V1__RecordPaymentAttemptRequest *req)
{
    int out = req->complete_outcome;
    if (out != 0 && out != SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED &&
        out != SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED)
        return invalid(st, "complete_outcome must be ORDER_STATUS_CONFIRMED or "
                           "ORDER_STATUS_PAYMENT_FAILED (got %d)", out);
    int want = out == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED
                   ? SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_SUCCESS
                   : SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED;
    if (out != 0 && (int)req->status != want)
        return invalid(st, "complete_outcome %s requires status %s (got %s)",
                       order_status_text(out), order_attempt_status_text(want),
                       order_attempt_status_text(req->status));
    return text_max_check(st, req->_complete_reason_case ? req->complete_reason : NULL,
                          TEXT_MAX, "complete_reason");
}

/* The fields of RecordPaymentAttempt, in declaration order. */
static int attempt_request_check(se_status *st,
                                 const Swifteats__V1__RecordPaymentAttemptRequest *req)
{
    const char *err = req->_error_message_case ? req->error_message : NULL;
    const char *charge = req->_gateway_charge_id_case ? req->gateway_charge_id : NULL;
    if (id_check(st, req->order_id, "order_id") != 0)
        return -1;
    if (req->attempt_number < 1)
        return invalid(st, "attempt_number must be >= 1 (got %d)", req->attempt_number);
    if (req->status == 0)
        return invalid(st, "status is required");
    if (order_attempt_status_text(req->status) == NULL)
        return invalid(st, "status %d is not a known PaymentAttemptStatus value", req->status);
    if (req->amount <= 0)
        return invalid(st, "amount must be greater than 0 (got %" PRId64 ")", req->amount);
    if (req->status == SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED &&
        (err == NULL || err[0] == '\0'))
        return invalid(st, "error_message is required when status is failed");
    if (text_max_check(st, err, TEXT_MAX, "error_message") != 0 ||
        text_max_check(st, charge, CHARGE_ID_MAX, "gateway_charge_id") != 0 ||
        text_max_check(st, req->idempotency_key, KEY_MAX, "idempotency_key") != 0)
        return -1;
    return complete_outcome_check(st, req);
}

/* RecordPaymentAttempt: 0 and *a, or -1 with st. */
static int record_attempt(order_service *svc,
                          const Swifteats__V1__RecordPaymentAttemptRequest *req,
                          Swifteats__V1__PaymentAttempt **a, se_status *st)
{
    if (attempt_request_check(st, req) != 0)
        return -1;
    return order_store_record_attempt(order_service_store(svc), req, a, st);
}

static void record_payment_attempt(se_call *call,
                                   const Swifteats__V1__RecordPaymentAttemptRequest *req,
                                   void *ctx)
{
    Swifteats__V1__PaymentAttempt *a = NULL;
    se_status st;
    if (record_attempt(ctx, req, &a, &st) != 0) {
        fail_with(call, &st);
        return;
    }
    se_call_reply(call, &a->base);
    se_msg_free(&a->base);
}

/* ---- the same, several per call ---------------------------------------------------------- */

#define BATCH_MAX ORDER_STORE_BATCH_MAX

/* The batch's size (1..BATCH_MAX) or -1 with the call failed. */
static int batch_size_or_fail(se_call *call, size_t n, const char *field)
{
    if (n >= 1 && n <= BATCH_MAX)
        return 0;
    se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s must hold 1 to %d entries (got %zu)",
                 field, BATCH_MAX, n);
    return -1;
}

/* Log lines about one entry carry its own request id (the call's if empty). */
static void entry_request_id(se_call *call, const char *request_id)
{
    se_log_set_request_id(request_id != NULL && request_id[0] != '\0'
                              ? request_id
                              : se_call_request_id(call));
}

/* A result's code and message from st (rc -1) or nothing (rc 0). */
static void result_status(int rc, const se_status *st, int32_t *code, char **message)
{
    if (rc == 0)
        return;
    *code = (int32_t)st->code;
    *message = se_xstrdup(st->message);
}

/* GetPaymentJobs: the queries that start an attempt go to the store as one
 * batch (order_store_start_payment_jobs), the rest one by one. */
static void get_payment_jobs(se_call *call, const Swifteats__V1__GetPaymentJobsRequest *req,
                             void *ctx)
{
    if (batch_size_or_fail(call, req->n_queries, "queries") != 0)
        return;
    Swifteats__V1__GetPaymentJobsResponse resp = SWIFTEATS__V1__GET_PAYMENT_JOBS_RESPONSE__INIT;
    Swifteats__V1__PaymentJobResult results[BATCH_MAX], *ptrs[BATCH_MAX];
    Swifteats__V1__GetPaymentJobRequest none = SWIFTEATS__V1__GET_PAYMENT_JOB_REQUEST__INIT;
    int64_t ids[BATCH_MAX];
    size_t at[BATCH_MAX], n = 0;
    int rc[BATCH_MAX];
    se_status st[BATCH_MAX];
    Swifteats__V1__PaymentJob *jobs[BATCH_MAX];
    for (size_t i = 0; i < req->n_queries; i++) {
        const Swifteats__V1__PaymentJobQuery *q = req->queries[i];
        const Swifteats__V1__GetPaymentJobRequest *r = q->request ? q->request : &none;
        swifteats__v1__payment_job_result__init(&results[i]);
        ptrs[i] = &results[i];
        if (r->start_attempt && r->order_id > 0) {
            ids[n] = r->order_id;
            at[n++] = i;
            continue;
        }
        entry_request_id(call, q->request_id);
        se_status one;
        result_status(payment_job(ctx, r, &results[i].job, &one), &one, &results[i].code,
                      &results[i].message);
    }
    entry_request_id(call, NULL);
    if (n > 0)
        order_store_start_payment_jobs(order_service_store(ctx), ids, n, rc, jobs, st);
    for (size_t k = 0; k < n; k++) {
        results[at[k]].job = rc[k] == 0 ? jobs[k] : NULL;
        result_status(rc[k], &st[k], &results[at[k]].code, &results[at[k]].message);
    }
    resp.n_results = req->n_queries;
    resp.results = ptrs;
    se_call_reply(call, &resp.base);
    for (size_t i = 0; i < req->n_queries; i++) {
        free(results[i].message != protobuf_c_empty_string ? results[i].message : NULL);
        se_msg_free(results[i].job ? &results[i].job->base : NULL);
    }
}

/* RecordPaymentAttempts: the valid reports go to the store as one batch
 * (order_store_record_attempts); an invalid one fails alone. */
static void record_payment_attempts(se_call *call,
                                    const Swifteats__V1__RecordPaymentAttemptsRequest *req,
                                    void *ctx)
{
    if (batch_size_or_fail(call, req->n_reports, "reports") != 0)
        return;
    Swifteats__V1__RecordPaymentAttemptsResponse resp =
        SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPTS_RESPONSE__INIT;
    Swifteats__V1__PaymentAttemptResult results[BATCH_MAX], *ptrs[BATCH_MAX];
    Swifteats__V1__RecordPaymentAttemptRequest none =
        SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST__INIT;
    const Swifteats__V1__RecordPaymentAttemptRequest *valid[BATCH_MAX];
    size_t at[BATCH_MAX], n = 0;
    int rc[BATCH_MAX];
    se_status st[BATCH_MAX];
    Swifteats__V1__PaymentAttempt *attempts[BATCH_MAX];
    for (size_t i = 0; i < req->n_reports; i++) {
        const Swifteats__V1__PaymentAttemptReport *r = req->reports[i];
        const Swifteats__V1__RecordPaymentAttemptRequest *a = r->request ? r->request : &none;
        swifteats__v1__payment_attempt_result__init(&results[i]);
        ptrs[i] = &results[i];
        se_status one;
        if (attempt_request_check(&one, a) != 0) {
            result_status(-1, &one, &results[i].code, &results[i].message);
            continue;
        }
        valid[n] = a;
        at[n++] = i;
    }
    if (n > 0)
        order_store_record_attempts(order_service_store(ctx), valid, n, rc, attempts, st);
    for (size_t k = 0; k < n; k++) {
        results[at[k]].attempt = rc[k] == 0 ? attempts[k] : NULL;
        result_status(rc[k], &st[k], &results[at[k]].code, &results[at[k]].message);
    }
    resp.n_results = req->n_reports;
    resp.results = ptrs;
    se_call_reply(call, &resp.base);
    for (size_t i = 0; i < req->n_reports; i++) {
        free(results[i].message != protobuf_c_empty_string ? results[i].message : NULL);
        se_msg_free(results[i].attempt ? &results[i].attempt->base : NULL);
    }
}

const swifteats_v1_order_service_handlers order_handlers = {
    .create_order = create_order,
    .get_order = get_order,
    .list_orders = list_orders,
    .cancel_order = cancel_order,
    .get_payment_job = get_payment_job,
    .record_payment_attempt = record_payment_attempt,
    .get_payment_jobs = get_payment_jobs,
    .record_payment_attempts = record_payment_attempts,
    .complete_payment = complete_payment,
};
