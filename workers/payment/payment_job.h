/* payment_job.h - one payment job: the state machine over the order
 * service's internal RPCs and the payment gateway, exactly as the contract
 * (notes/payment-contract.md) orders it:
 *
 *   breaker admits a charge now (try_acquire, the common case):
 *       GetPaymentJob(order_id, start_attempt): the order service records
 *           attempt n = job.next_attempt_number as processing in the same
 *           statement (n > max_attempts: a redelivery after every try was
 *           recorded; n is recorded failed "not charged", then give up)
 *   otherwise: GetPaymentJob(order_id), nothing started: a job held back by
 *       the breaker records nothing and uses no attempt
 *   for attempt n .. max_attempts:
 *       [not the started one: wait for the breaker to admit a charge,
 *        RecordPaymentAttempt(n, processing, amount, key)]
 *       Charge(key, order_id, amount, currency, customer_id), deadline
 *           charge_timeout_ms; ABORTED (a Charge with this key is still
 *           being processed: the try of a worker that died mid-call) is
 *           asked again after a backoff, as the same try, for up to twice
 *           charge_timeout_ms
 *       approved -> RecordPaymentAttempt(n, success + charge id,
 *           complete_outcome confirmed)                               done
 *       declined -> RecordPaymentAttempt(n, failed "declined: <code>",
 *           complete_outcome payment_failed, same reason)             done
 *       refused (INVALID_ARGUMENT, FAILED_PRECONDITION: the gateway will
 *           never take this charge) -> the same, payment_failed       done
 *       otherwise (transient: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED,
 *           RESOURCE_EXHAUSTED, or anything unexpected) ->
 *           RecordPaymentAttempt(n, failed + error), no outcome; sleep a
 *           full-jitter backoff, next attempt
 *   attempts used up (the last failure recorded WITHOUT an outcome) ->
 *       GetCharge(key): an approved charge (a timed-out try the gateway did
 *       apply) -> CompletePayment(confirmed, its id); a declined one ->
 *       payment_failed "declined: <code>"; none ->
 *       CompletePayment(payment_failed, "gave up after N attempts: ...")
 *
 * So a job whose first try decides it costs two order-service calls (and
 * two statements): GetPaymentJob + RecordPaymentAttempt, instead of
 * GetPaymentJob, RecordPaymentAttempt x 2 and CompletePayment. The
 * guarantees are the same: an attempt row exists (processing) before every
 * Charge, and the order reaches its final state in the transaction that
 * records the deciding attempt (or, after the give-up look-up, in
 * CompletePayment).
 *
 * Every try uses the same idempotency key ("order-<id>" from the job), so
 * the gateway applies a charge at most once however often it is sent.
 *
 * Order service calls: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED and
 * RESOURCE_EXHAUSTED are retried with backoff for as long as it takes (until
 * the worker aborts): the job is never acknowledged before its outcome is
 * recorded. Every such retry is safe: a repeated GetPaymentJob with
 * start_attempt resumes the attempt it started, a repeated completing
 * RecordPaymentAttempt finds the order decided and answers OK. NOT_FOUND or
 * FAILED_PRECONDITION mean the job is moot (the order is gone, cancelled or
 * already decided by another delivery): acknowledge.
 * Any other error leaves the entry pending, to be redelivered (and
 * dead-lettered once it has been delivered too often). GetCharge, the last
 * word before declaring a payment failed, is likewise retried until the
 * gateway answers.
 *
 * Breaker (payment_breaker.h): failures are the codes where the gateway did
 * not answer (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, INTERNAL,
 * UNKNOWN); everything else, declines included, is an answer. A job waiting
 * for an open breaker has recorded nothing and used no attempt (the first
 * try starts its attempt in GetPaymentJob only when the breaker admitted
 * the charge at once; the ticket is then held across that call and given
 * back unused if the job turns out moot).
 *
 * Request id: every RPC carries the job's request id (x-request-id) and the
 * thread's log lines carry it too, so one order's lines correlate from the
 * HTTP gateway through the order service, this worker and the gateway.
 *
 * THREAD: payment_job_run blocks (gRPC blocking clients); any number run at
 * once on different threads with one shared env.
 */
#ifndef PAYMENT_JOB_H
#define PAYMENT_JOB_H

#include <stdint.h>

#include "payment_breaker.h"
#include "payment_order_client.h"
#include "se_rpc.h"

typedef struct payment_job_config {
    int charge_timeout_ms; /* SE_PAYMENT_CHARGE_TIMEOUT_MS (3000): Charge deadline */
    int order_timeout_ms;  /* SE_PAYMENT_ORDER_TIMEOUT_MS (5000): order RPC deadline */
    int retry_base_ms;     /* SE_PAYMENT_RETRY_BASE_MS (200): first backoff ceiling */
    int retry_max_ms;      /* SE_PAYMENT_RETRY_MAX_MS (10000): largest backoff */
    int max_attempts;      /* SE_PAYMENT_MAX_ATTEMPTS (5): charge tries per order */
} payment_job_config;

/* What the jobs share. OWNERSHIP: all borrowed; must outlive the jobs. */
typedef struct payment_job_env {
    const payment_job_config *cfg;
    se_channel *order;         /* OrderService */
    payment_order_client *order_client; /* its batched calls; NULL: none */
    se_channel *gateway;       /* PaymentGatewayService */
    payment_breaker *breaker;  /* around Charge */
    /* Sleeps up to ms (0: just checks); returns 1 when the job must give
     * up now (the worker's stop grace is over), 0 otherwise. */
    int (*sleep_ms)(void *arg, int ms);
    void *sleep_arg;
} payment_job_env;

typedef enum payment_job_result {
    PAYMENT_JOB_ACK = 0,   /* outcome recorded, or the job is moot: ack it */
    PAYMENT_JOB_STOPPED,   /* the worker is stopping: leave it pending */
    PAYMENT_JOB_LEAVE,     /* an unexpected order-service error: leave it
                              pending for a later redelivery */
} payment_job_result;

/* Runs the job for order_id (> 0). request_id: non-empty, header-safe.
 * `seed` is the calling thread's rand_r state for the backoff jitter. */
payment_job_result payment_job_run(const payment_job_env *env, int64_t order_id,
                                   const char *request_id, unsigned *seed);

/* Full-jitter exponential backoff: uniform in [0, min(cap_ms, base_ms *
 * 2^(attempt-1))] for attempt >= 1 (attempt < 1 counts as 1), without
 * overflow for any attempt. */
int64_t payment_backoff_ceiling_ms(int attempt, int base_ms, int cap_ms);
int64_t payment_backoff_ms(int attempt, int base_ms, int cap_ms, unsigned *seed);

const char *payment_job_result_name(payment_job_result r);

#endif
