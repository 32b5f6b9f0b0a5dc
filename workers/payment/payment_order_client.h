/* payment_order_client.h - the payment worker's two hot calls to the order
 * service, GetPaymentJob and RecordPaymentAttempt, gathered across job
 * threads into GetPaymentJobs / RecordPaymentAttempts.
 *
 * Why: with 128 job threads each making its own blocking call, one gRPC
 * hop per call (about 90 us of CPU counting both ends, most of it thread
 * wake-ups) was the worker's and the order service's largest cost per
 * payment under bench/orders. Calls made at the same time now share one
 * RPC (se_batch.h: the first caller leads and runs the batch on its own
 * thread; a lone call is not delayed).
 *
 * Each entry keeps its own request id (sent in the batch so the order
 * service logs it) and gets exactly the answer the single call would have
 * given; when the whole batch call fails (UNAVAILABLE, DEADLINE_EXCEEDED
 * ...) every entry gets that status, and the job's retry rules apply as
 * before. An order service without the batch methods (UNIMPLEMENTED: an
 * older version during a rolling upgrade) is then called one entry at a
 * time, for good.
 *
 * Configuration (payment_worker.h): SE_PAYMENT_ORDER_BATCH (32) entries per
 * call at most, SE_PAYMENT_ORDER_BATCH_CONCURRENCY (2) batch calls of each
 * kind in flight.
 *
 * THREAD: the calls from any thread at once. OWNERSHIP: the channel is
 * borrowed; responses are the caller's (se_msg_free).
 */
#ifndef PAYMENT_ORDER_CLIENT_H
#define PAYMENT_ORDER_CLIENT_H

#include <stdint.h>

#include "se_rpc.h"
#include "swifteats/v1/order.pb-c.h"

typedef struct payment_order_client payment_order_client;

/* Told the duration of every call made to the order service (batch or
 * single, answered or not: ok = 1 when it answered OK). Runs on the
 * calling thread with no lock of the client held. */
typedef void (*payment_order_observer)(void *arg, int64_t duration_us, int ok);

/* observer may be NULL. */
payment_order_client *payment_order_client_create(se_channel *order, int timeout_ms,
                                                  int max_batch, int max_in_flight,
                                                  payment_order_observer observer,
                                                  void *observer_arg);
void payment_order_client_destroy(payment_order_client *c); /* NULL is fine */

/* As se_rpc_unary of GetPaymentJob / RecordPaymentAttempt: 0 with *resp,
 * or -1 with st. request_id: the job's (non-empty). */
int payment_order_get_job(payment_order_client *c, const Swifteats__V1__GetPaymentJobRequest *req,
                          const char *request_id, Swifteats__V1__PaymentJob **resp,
                          se_status *st);
int payment_order_record(payment_order_client *c,
                         const Swifteats__V1__RecordPaymentAttemptRequest *req,
                         const char *request_id, Swifteats__V1__PaymentAttempt **resp,
                         se_status *st);

/* Batch calls made and entries they carried (tests, metrics). */
void payment_order_client_stats(payment_order_client *c, unsigned long *calls,
                                unsigned long *entries);

#endif
