/* payment_job.c - one payment job's state machine (see payment_job.h for
 * the sequence and the error rules).
 *
 * DESIGN: straight-line blocking code, one function per step, on the
 * calling worker thread. Every step returns how the job goes on; a step
 * that cannot go on returns the job's result (ack, stopped, leave), which
 * travels up unchanged. The only state kept between steps is the
 * PaymentJob the order service handed out and the last failure message
 * (for the give-up reason). The first try may begin inside GetPaymentJob
 * (start_attempt, under a breaker ticket taken without waiting) and a
 * deciding try ends inside RecordPaymentAttempt (complete_outcome): see
 * first_try and finish_try.
 */
#include "payment_job.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_log.h"
#include "swifteats/v1/order.se.h"
#include "swifteats/v1/payment_gateway.se.h"

typedef Swifteats__V1__PaymentJob payment_job_msg;

typedef struct job {
    const payment_job_env *env;
    const payment_job_config *cfg;
    int64_t order_id;
    unsigned *seed;           /* rand_r state of the calling thread */
    se_call_opts order_opts;  /* order service calls */
    se_call_opts charge_opts; /* Charge and GetCharge */
    payment_job_msg *pj;      /* owned: what GetPaymentJob answered */
    char last_error[300];     /* message of the last failed try */
} job;

typedef enum call_result { CALL_OK, CALL_MOOT, CALL_STOPPED, CALL_ERROR } call_result;

/* The kinds of answer one Charge can get. */
typedef enum try_kind { TRY_APPROVED, TRY_DECLINED, TRY_REFUSED, TRY_TRANSIENT } try_kind;

typedef struct try_outcome {
    try_kind kind;
    char charge_id[130]; /* gateway charge id ("" when it did not answer) */
    char message[300];   /* error_message of the attempt / reason of the outcome */
    payment_breaker_result breaker; /* what the breaker learns */
} try_outcome;

const char *payment_job_result_name(payment_job_result r)
{
    switch (r) {
    case PAYMENT_JOB_ACK:
        return "ack";
    case PAYMENT_JOB_STOPPED:
        return "stopped";
    case PAYMENT_JOB_LEAVE:
        return "leave";
    }
    return "unknown";
}

/* ---- backoff ------------------------------------------------------------------ */

int64_t payment_backoff_ceiling_ms(int attempt, int base_ms, int cap_ms)
{
    int64_t ceiling = base_ms > 0 ? base_ms : 1;
    for (int i = 1; i < attempt && ceiling < cap_ms; i++)
        ceiling *= 2;
    return ceiling < cap_ms ? ceiling : (cap_ms > 0 ? cap_ms : 0);
}

int64_t payment_backoff_ms(int attempt, int base_ms, int cap_ms, unsigned *seed)
{
    int64_t ceiling = payment_backoff_ceiling_ms(attempt, base_ms, cap_ms);
    /* two rand_r draws: RAND_MAX may be as small as 32767 */
    uint64_t r = ((uint64_t)(unsigned)rand_r(seed) << 31) ^ (unsigned)rand_r(seed);
    return (int64_t)(r % (uint64_t)(ceiling + 1));
}

static int job_sleep(job *j, int64_t ms)
{
    return j->env->sleep_ms(j->env->sleep_arg, (int)ms);
}

/* ---- order service ------------------------------------------------------------ */

static int order_transient(grpc_status_code c)
{
    return c == GRPC_STATUS_UNAVAILABLE || c == GRPC_STATUS_DEADLINE_EXCEEDED ||
           c == GRPC_STATUS_ABORTED || c == GRPC_STATUS_RESOURCE_EXHAUSTED;
}

/* One try of an OrderService call: the two hot methods through the
 * batching client when there is one (payment_order_client.h). */
static int order_call_once(job *j, int method, const ProtobufCMessage *req,
                           ProtobufCMessage **resp, se_status *st)
{
    payment_order_client *c = j->env->order_client;
    if (c != NULL && method == SWIFTEATS_V1_ORDER_SERVICE_METHOD_GET_PAYMENT_JOB)
        return payment_order_get_job(c, (const Swifteats__V1__GetPaymentJobRequest *)req,
                                     j->order_opts.request_id,
                                     (Swifteats__V1__PaymentJob **)resp, st);
    if (c != NULL && method == SWIFTEATS_V1_ORDER_SERVICE_METHOD_RECORD_PAYMENT_ATTEMPT)
        return payment_order_record(c, (const Swifteats__V1__RecordPaymentAttemptRequest *)req,
                                    j->order_opts.request_id,
                                    (Swifteats__V1__PaymentAttempt **)resp, st);
    return se_rpc_unary(j->env->order, &swifteats_v1_order_service_methods[method], req, resp,
                        &j->order_opts, st);
}

/* One OrderService call, retried while the service is unreachable. */
static call_result order_call(job *j, int method, const ProtobufCMessage *req,
                              ProtobufCMessage **resp)
{
    const se_method_desc *m = &swifteats_v1_order_service_methods[method];
    for (int tries = 1;; tries++) {
        se_status st;
        if (order_call_once(j, method, req, resp, &st) == 0) {
            if (tries > 1)
                se_log_info("order_service_recovered", "%s for order %" PRId64
                            " answered after %d tries", m->name, j->order_id, tries);
            return CALL_OK;
        }
        if (st.code == GRPC_STATUS_NOT_FOUND || st.code == GRPC_STATUS_FAILED_PRECONDITION) {
            se_log_info("payment_job_moot", "%s for order %" PRId64 ": %s: %s; dropping the job",
                        m->name, j->order_id, se_status_name(st.code), st.message);
            return CALL_MOOT;
        }
        if (!order_transient(st.code)) {
            se_log_error("order_call_failed", "%s for order %" PRId64 ": %s: %s; the job stays "
                         "pending for a redelivery", m->name, j->order_id,
                         se_status_name(st.code), st.message);
            return CALL_ERROR;
        }
        int64_t delay = payment_backoff_ms(tries, j->cfg->retry_base_ms, j->cfg->retry_max_ms,
                                           j->seed);
        if (tries == 1 || tries % 10 == 0)
            se_log_warn("order_service_unavailable", "%s for order %" PRId64 ": %s: %s; try %d, "
                        "next in %" PRId64 " ms (the job stays pending)", m->name, j->order_id,
                        se_status_name(st.code), st.message, tries, delay);
        if (job_sleep(j, delay))
            return CALL_STOPPED;
    }
}

static payment_job_result result_of(call_result c)
{
    return c == CALL_STOPPED ? PAYMENT_JOB_STOPPED
           : c == CALL_ERROR ? PAYMENT_JOB_LEAVE
                             : PAYMENT_JOB_ACK;
}

/* GetPaymentJob; with `start`, the order service also starts the attempt
 * j->pj->next_attempt_number (recorded processing) in the same statement. */
static call_result get_payment_job(job *j, int start)
{
    Swifteats__V1__GetPaymentJobRequest req = SWIFTEATS__V1__GET_PAYMENT_JOB_REQUEST__INIT;
    req.order_id = j->order_id;
    req.start_attempt = start != 0;
    ProtobufCMessage *resp = NULL;
    call_result c = order_call(j, SWIFTEATS_V1_ORDER_SERVICE_METHOD_GET_PAYMENT_JOB, &req.base,
                               &resp);
    j->pj = (payment_job_msg *)resp;
    return c;
}

static void log_completed(job *j, int confirmed, const char *charge_id, const char *reason)
{
    char esc_c[160], esc_r[400];
    se_log_fields(SE_LOG_INFO, "payment_completed",
                  "\"order_id\":%" PRId64 ",\"outcome\":\"%s\",\"charge_id\":\"%s\","
                  "\"reason\":\"%s\"",
                  j->order_id, confirmed ? "confirmed" : "payment_failed",
                  se_json_escape(esc_c, sizeof esc_c, charge_id ? charge_id : ""),
                  se_json_escape(esc_r, sizeof esc_r, reason ? reason : ""));
}

/* RecordPaymentAttempt. `outcome` (0: none) makes the same call move the
 * order to its final state, with `reason` (NULL: none). */
static call_result record_attempt(job *j, int n, Swifteats__V1__PaymentAttemptStatus status,
                                  const char *charge_id, const char *error,
                                  Swifteats__V1__OrderStatus outcome, const char *reason)
{
    Swifteats__V1__RecordPaymentAttemptRequest req =
        SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST__INIT;
    req.order_id = j->order_id;
    req.attempt_number = n;
    req.status = status;
    req.amount = j->pj->amount;
    req.idempotency_key = j->pj->idempotency_key;
    if (charge_id != NULL && charge_id[0] != '\0') {
        req._gateway_charge_id_case =
            SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST___GATEWAY_CHARGE_ID_GATEWAY_CHARGE_ID;
        req.gateway_charge_id = (char *)charge_id;
    }
    if (error != NULL) {
        req._error_message_case =
            SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST___ERROR_MESSAGE_ERROR_MESSAGE;
        req.error_message = (char *)error;
    }
    req.complete_outcome = outcome;
    if (outcome != 0 && reason != NULL) {
        req._complete_reason_case =
            SWIFTEATS__V1__RECORD_PAYMENT_ATTEMPT_REQUEST___COMPLETE_REASON_COMPLETE_REASON;
        req.complete_reason = (char *)reason;
    }
    ProtobufCMessage *resp = NULL;
    call_result c = order_call(j, SWIFTEATS_V1_ORDER_SERVICE_METHOD_RECORD_PAYMENT_ATTEMPT,
                               &req.base, &resp);
    se_msg_free(resp);
    if (c == CALL_OK && outcome != 0)
        log_completed(j, outcome == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED,
                      charge_id, reason);
    return c;
}

/* CompletePayment (the give-up path: the final attempt was recorded
 * without an outcome); the job is done whatever the order service says,
 * unless it cannot be reached before the worker stops. */
static payment_job_result complete(job *j, int confirmed, const char *charge_id,
                                   const char *reason)
{
    Swifteats__V1__CompletePaymentRequest req = SWIFTEATS__V1__COMPLETE_PAYMENT_REQUEST__INIT;
    req.order_id = j->order_id;
    req.outcome = confirmed ? SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED
                            : SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED;
    if (charge_id != NULL && charge_id[0] != '\0') {
        req._gateway_charge_id_case =
            SWIFTEATS__V1__COMPLETE_PAYMENT_REQUEST___GATEWAY_CHARGE_ID_GATEWAY_CHARGE_ID;
        req.gateway_charge_id = (char *)charge_id;
    }
    if (reason != NULL) {
        req._reason_case = SWIFTEATS__V1__COMPLETE_PAYMENT_REQUEST___REASON_REASON;
        req.reason = (char *)reason;
    }
    ProtobufCMessage *resp = NULL;
    call_result c =
        order_call(j, SWIFTEATS_V1_ORDER_SERVICE_METHOD_COMPLETE_PAYMENT, &req.base, &resp);
    se_msg_free(resp);
    if (c == CALL_OK)
        log_completed(j, confirmed, charge_id, reason);
    return result_of(c);
}

/* ---- the gateway -------------------------------------------------------------- */

static int gateway_unreachable(grpc_status_code c)
{
    return c == GRPC_STATUS_UNAVAILABLE || c == GRPC_STATUS_DEADLINE_EXCEEDED ||
           c == GRPC_STATUS_RESOURCE_EXHAUSTED || c == GRPC_STATUS_INTERNAL ||
           c == GRPC_STATUS_UNKNOWN;
}

/* Sorts a Charge answer (record NULL unless st is OK) into an outcome. */
static void classify(job *j, const se_status *st, const Swifteats__V1__ChargeRecord *rec,
                     try_outcome *o)
{
    memset(o, 0, sizeof *o);
    o->breaker = gateway_unreachable(st->code) ? PAYMENT_BREAKER_FAILURE : PAYMENT_BREAKER_SUCCESS;
    if (st->code == GRPC_STATUS_OK) {
        snprintf(o->charge_id, sizeof o->charge_id, "%s", rec->charge_id);
        if (rec->status == SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED) {
            o->kind = TRY_APPROVED;
        } else if (rec->status == SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED) {
            o->kind = TRY_DECLINED;
            snprintf(o->message, sizeof o->message, "declined: %s",
                     rec->_decline_code_case ? rec->decline_code : "unspecified");
        } else {
            o->kind = TRY_TRANSIENT;
            snprintf(o->message, sizeof o->message, "gateway answered charge status %d",
                     (int)rec->status);
        }
    } else if (st->code == GRPC_STATUS_INVALID_ARGUMENT ||
               st->code == GRPC_STATUS_FAILED_PRECONDITION) {
        o->kind = TRY_REFUSED;
        snprintf(o->message, sizeof o->message, "gateway refused the charge: %s: %.200s",
                 se_status_name(st->code), st->message);
    } else if (st->code == GRPC_STATUS_DEADLINE_EXCEEDED) {
        o->kind = TRY_TRANSIENT;
        snprintf(o->message, sizeof o->message, "gateway timeout after %d ms",
                 j->cfg->charge_timeout_ms);
    } else {
        o->kind = TRY_TRANSIENT;
        snprintf(o->message, sizeof o->message, "gateway %s: %.200s",
                 st->code == GRPC_STATUS_UNAVAILABLE ? "unavailable" : se_status_name(st->code),
                 st->message);
    }
}

/* Charge, sent again while the gateway answers ABORTED: a Charge with this
 * key is still being processed there (the try of a worker that died or
 * timed out mid-call). That is the same charge, not a new try: it neither
 * uses an attempt nor counts as a failure, and its outcome is what this
 * try must report (the retry replays it once it is decided). Waiting is
 * bounded by twice the Charge deadline; past it the ABORTED answer is an
 * ordinary transient failure. Returns -1 if the worker stops meanwhile. */
static int charge(job *j, try_outcome *o)
{
    Swifteats__V1__ChargeRequest req = SWIFTEATS__V1__CHARGE_REQUEST__INIT;
    req.idempotency_key = j->pj->idempotency_key;
    req.order_id = j->order_id;
    req.amount = j->pj->amount;
    req.currency = j->pj->currency;
    req.customer_id = j->pj->customer_id;
    int64_t waited = 0, limit = 2 * (int64_t)j->cfg->charge_timeout_ms;
    for (int busy = 1;; busy++) {
        Swifteats__V1__ChargeRecord *rec = NULL;
        se_status st;
        swifteats_v1_payment_gateway_service_charge(j->env->gateway, &req, &rec,
                                                    &j->charge_opts, &st);
        classify(j, &st, rec, o);
        se_msg_free((ProtobufCMessage *)rec);
        if (st.code != GRPC_STATUS_ABORTED || waited >= limit)
            return 0;
        int64_t delay = payment_backoff_ceiling_ms(busy, j->cfg->retry_base_ms,
                                                   j->cfg->retry_max_ms);
        if (busy == 1)
            se_log_info("charge_in_progress", "order %" PRId64 ": %s; asking again in %" PRId64
                        " ms", j->order_id, o->message, delay);
        if (job_sleep(j, delay))
            return -1;
        waited += delay;
    }
}

/* ---- one try ------------------------------------------------------------------ */

/* Breaker and processing record (unless `started`: GetPaymentJob started
 * attempt n under that breaker ticket), then Charge. Returns 0 with *o
 * filled, or -1 with *r set when the job cannot go on. */
static int one_try(job *j, int n, const payment_breaker_ticket *started, try_outcome *o,
                   payment_job_result *r)
{
    payment_breaker_ticket t;
    if (started != NULL) {
        t = *started;
    } else {
        if (payment_breaker_acquire(j->env->breaker, &t) != 0) {
            *r = PAYMENT_JOB_STOPPED;
            return -1;
        }
        call_result c = record_attempt(
            j, n, SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_PROCESSING, NULL,
            NULL, 0, NULL);
        if (c != CALL_OK) {
            payment_breaker_record(j->env->breaker, &t, PAYMENT_BREAKER_UNUSED, NULL);
            *r = result_of(c);
            return -1;
        }
    }
    if (charge(j, o) != 0) {
        payment_breaker_record(j->env->breaker, &t, PAYMENT_BREAKER_UNUSED, NULL);
        *r = PAYMENT_JOB_STOPPED;
        return -1;
    }
    payment_breaker_record(j->env->breaker, &t, o->breaker, o->message);
    char esc_c[160], esc_m[400];
    se_log_fields(o->kind == TRY_TRANSIENT ? SE_LOG_WARN : SE_LOG_INFO, "payment_attempt",
                  "\"order_id\":%" PRId64 ",\"attempt\":%d,\"charge_id\":\"%s\",\"msg\":\"%s\"",
                  j->order_id, n, se_json_escape(esc_c, sizeof esc_c, o->charge_id),
                  se_json_escape(esc_m, sizeof esc_m,
                                 o->kind == TRY_APPROVED ? "approved" : o->message));
    if (o->kind != TRY_APPROVED)
        snprintf(j->last_error, sizeof j->last_error, "%s", o->message);
    return 0;
}

/* Records how try n went. A try that decides the payment (approved ->
 * confirmed; declined or refused -> payment_failed) completes the order in
 * the same call. Returns 1 with *r set when the job is over, 0 when another
 * try may follow (a transient failure, recorded failed). */
static int finish_try(job *j, int n, const try_outcome *o, payment_job_result *r)
{
    int approved = o->kind == TRY_APPROVED;
    Swifteats__V1__OrderStatus outcome =
        o->kind == TRY_TRANSIENT ? 0
        : approved               ? SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED
                                 : SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED;
    call_result c = record_attempt(
        j, n,
        approved ? SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_SUCCESS
                 : SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED,
        o->charge_id, approved ? NULL : o->message, outcome, approved ? NULL : o->message);
    if (c != CALL_OK || outcome != 0) {
        *r = result_of(c);
        return 1;
    }
    return 0;
}

/* ---- giving up ---------------------------------------------------------------- */

static int get_charge_retryable(grpc_status_code c)
{
    return gateway_unreachable(c) || c == GRPC_STATUS_ABORTED || c == GRPC_STATUS_CANCELLED;
}

/* Attempts used up: the gateway's ledger has the last word. */
static payment_job_result give_up(job *j, int attempts)
{
    Swifteats__V1__GetChargeRequest req = SWIFTEATS__V1__GET_CHARGE_REQUEST__INIT;
    req.idempotency_key = j->pj->idempotency_key;
    char reason[400];
    snprintf(reason, sizeof reason, "gave up after %d attempts: %s", attempts,
             j->last_error[0] ? j->last_error : "no attempt left");
    for (int tries = 1;; tries++) {
        Swifteats__V1__ChargeRecord *rec = NULL;
        se_status st;
        if (swifteats_v1_payment_gateway_service_get_charge(j->env->gateway, &req, &rec,
                                                            &j->charge_opts, &st) == 0) {
            try_outcome o;
            classify(j, &st, rec, &o);
            se_msg_free((ProtobufCMessage *)rec);
            if (o.kind == TRY_APPROVED)
                se_log_warn("payment_rescued", "order %" PRId64 ": no try saw an approval, but "
                            "the gateway holds approved charge %s", j->order_id, o.charge_id);
            if (o.kind == TRY_APPROVED)
                return complete(j, 1, o.charge_id, NULL);
            return complete(j, 0, NULL, o.kind == TRY_DECLINED ? o.message : reason);
        }
        if (st.code == GRPC_STATUS_NOT_FOUND)
            return complete(j, 0, NULL, reason);
        if (!get_charge_retryable(st.code)) {
            se_log_error("get_charge_failed", "order %" PRId64 ": GetCharge: %s: %s",
                         j->order_id, se_status_name(st.code), st.message);
            return complete(j, 0, NULL, reason);
        }
        int64_t delay = payment_backoff_ms(tries, j->cfg->retry_base_ms, j->cfg->retry_max_ms,
                                           j->seed);
        if (tries == 1 || tries % 10 == 0)
            se_log_warn("get_charge_unavailable", "order %" PRId64 ": GetCharge: %s: %s; try %d,"
                        " next in %" PRId64 " ms", j->order_id, se_status_name(st.code),
                        st.message, tries, delay);
        if (job_sleep(j, delay))
            return PAYMENT_JOB_STOPPED;
    }
}

/* ---- the job ------------------------------------------------------------------ */

/* Tries n .. max_attempts; `started`: attempt n is already recorded
 * processing under this breaker ticket (GetPaymentJob start_attempt). */
static payment_job_result run_attempts(job *j, int n, const payment_breaker_ticket *started)
{
    for (; n <= j->cfg->max_attempts; n++) {
        try_outcome o;
        payment_job_result r;
        if (one_try(j, n, started, &o, &r) != 0 || finish_try(j, n, &o, &r) != 0)
            return r;
        started = NULL;
        if (n < j->cfg->max_attempts &&
            job_sleep(j, payment_backoff_ms(n, j->cfg->retry_base_ms, j->cfg->retry_max_ms,
                                            j->seed)))
            return PAYMENT_JOB_STOPPED;
    }
    return give_up(j, n - 1);
}

/* GetPaymentJob started attempt n past the limit (a redelivery after every
 * try was recorded, before the outcome was): it is not charged; recorded
 * failed, then the give-up path decides. */
static payment_job_result over_the_limit(job *j, int n)
{
    char msg[120];
    snprintf(msg, sizeof msg, "not charged: the limit of %d attempts was reached",
             j->cfg->max_attempts);
    call_result c = record_attempt(
        j, n, SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED, NULL, msg, 0,
        NULL);
    return c == CALL_OK ? give_up(j, n - 1) : result_of(c);
}

/* The first try. When the breaker admits a charge now (the common case),
 * GetPaymentJob starts the attempt itself under that ticket: one call
 * instead of GetPaymentJob + RecordPaymentAttempt(processing). When it does
 * not, the job is read without starting anything and waits for the breaker
 * in one_try, so a job held back records nothing and uses no attempt. */
static payment_job_result first_try(job *j)
{
    payment_breaker_ticket t;
    int admitted = payment_breaker_try_acquire(j->env->breaker, &t, NULL);
    call_result c = get_payment_job(j, admitted);
    int n = c == CALL_OK && j->pj->next_attempt_number > 0 ? j->pj->next_attempt_number : 1;
    if (admitted && (c != CALL_OK || n > j->cfg->max_attempts))
        payment_breaker_record(j->env->breaker, &t, PAYMENT_BREAKER_UNUSED, NULL);
    if (c != CALL_OK)
        return result_of(c);
    if (!admitted)
        return run_attempts(j, n, NULL);
    if (n > j->cfg->max_attempts)
        return over_the_limit(j, n);
    return run_attempts(j, n, &t);
}

payment_job_result payment_job_run(const payment_job_env *env, int64_t order_id,
                                   const char *request_id, unsigned *seed)
{
    job j = {.env = env, .cfg = env->cfg, .order_id = order_id, .seed = seed};
    j.order_opts = (se_call_opts){.timeout_ms = env->cfg->order_timeout_ms,
                                  .request_id = request_id, .detach = 1};
    j.charge_opts = (se_call_opts){.timeout_ms = env->cfg->charge_timeout_ms,
                                   .request_id = request_id, .no_retry = 1, .detach = 1};
    const char *outer_request_id = se_log_request_id();
    se_log_set_request_id(request_id);
    payment_job_result r = first_try(&j);
    se_msg_free((ProtobufCMessage *)j.pj);
    se_log_set_request_id(outer_request_id);
    return r;
}
