/* payment_order_client.c - batched order service calls of the payment
 * worker (see payment_order_client.h).
 *
 * One se_batch per method. An entry holds the single request, its request
 * id and, once run, the status and the response; run_kind wraps the
 * entries' requests (borrowed, not copied) into the batch request, makes
 * one call, and moves each result's message out of the response into its
 * entry. A batch_kind holds what differs between the two methods.
 */
#include "payment_order_client.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "se_alloc.h"
#include "se_batch.h"
#include "se_time.h"
#include "swifteats/v1/order.se.h"

typedef struct entry {
    const ProtobufCMessage *req;
    const char *request_id;
    ProtobufCMessage *resp;
    se_status st;
    int rc;
} entry;

struct payment_order_client {
    se_channel *order; /* borrowed */
    int timeout_ms;
    se_batch *jobs, *reports;
    atomic_int single; /* 1: the order service has no batch methods */
    atomic_ulong calls, entries;
    payment_order_observer observer;
    void *observer_arg;
};

/* se_rpc_unary, timed for the observer. */
static int timed_unary(payment_order_client *c, int method, const ProtobufCMessage *req,
                       ProtobufCMessage **resp, const se_call_opts *o, se_status *st)
{
    int64_t t0 = se_mono_ns() / 1000;
    int rc = se_rpc_unary(c->order, &swifteats_v1_order_service_methods[method], req, resp, o, st);
    if (c->observer != NULL)
        c->observer(c->observer_arg, se_mono_ns() / 1000 - t0, rc == 0);
    return rc;
}

/* The entries one at a time (no batch methods, or a batch of one). */
static void run_single(payment_order_client *c, int method, entry **e, int n)
{
    for (int i = 0; i < n; i++) {
        se_call_opts o = {.timeout_ms = c->timeout_ms, .request_id = e[i]->request_id,
                          .detach = 1};
        e[i]->rc = timed_unary(c, method, e[i]->req, &e[i]->resp, &o, &e[i]->st);
    }
}

/* Every entry fails with st (the batch call failed as a whole). */
static void fail_all(entry **e, int n, const se_status *st)
{
    for (int i = 0; i < n; i++) {
        e[i]->rc = -1;
        e[i]->st = *st;
    }
}

/* An entry's outcome from a result's code and message; 0 or -1. */
static int result_status(entry *e, int32_t code, const char *message)
{
    if (code == 0)
        return e->rc = 0;
    se_status_set(&e->st, (grpc_status_code)code, "%s", message);
    return e->rc = -1;
}

/* What differs between the two batch methods. */
typedef struct batch_kind {
    const char *name;
    int single_method, batch_method;
    /* The batch request over the entries' requests, built in `room`. */
    ProtobufCMessage *(*build)(entry **e, int n, void *room);
    size_t (*n_results)(const ProtobufCMessage *resp);
    /* Result i: its code and message, and the slot of its message (moved
     * into the entry on success). */
    void (*result)(ProtobufCMessage *resp, size_t i, int32_t *code, const char **message,
                   ProtobufCMessage ***slot);
} batch_kind;

typedef struct jobs_room {
    Swifteats__V1__GetPaymentJobsRequest req;
    Swifteats__V1__PaymentJobQuery q[SE_BATCH_MAX], *qp[SE_BATCH_MAX];
} jobs_room;

static ProtobufCMessage *jobs_build(entry **e, int n, void *room)
{
    jobs_room *r = room;
    swifteats__v1__get_payment_jobs_request__init(&r->req);
    for (int i = 0; i < n; i++) {
        swifteats__v1__payment_job_query__init(&r->q[i]);
        r->q[i].request = (Swifteats__V1__GetPaymentJobRequest *)e[i]->req;
        r->q[i].request_id = (char *)e[i]->request_id;
        r->qp[i] = &r->q[i];
    }
    r->req.n_queries = (size_t)n;
    r->req.queries = r->qp;
    return &r->req.base;
}

static size_t jobs_n_results(const ProtobufCMessage *resp)
{
    return ((const Swifteats__V1__GetPaymentJobsResponse *)resp)->n_results;
}

static void jobs_result(ProtobufCMessage *resp, size_t i, int32_t *code, const char **message,
                        ProtobufCMessage ***slot)
{
    Swifteats__V1__PaymentJobResult *r = ((Swifteats__V1__GetPaymentJobsResponse *)resp)->results[i];
    *code = r->code;
    *message = r->message;
    *slot = (ProtobufCMessage **)&r->job;
}

typedef struct reports_room {
    Swifteats__V1__RecordPaymentAttemptsRequest req;
    Swifteats__V1__PaymentAttemptReport r[SE_BATCH_MAX], *rp[SE_BATCH_MAX];
} reports_room;

static ProtobufCMessage *reports_build(entry **e, int n, void *room)
{
    reports_room *r = room;
    swifteats__v1__record_payment_attempts_request__init(&r->req);
    for (int i = 0; i < n; i++) {
        swifteats__v1__payment_attempt_report__init(&r->r[i]);
        r->r[i].request = (Swifteats__V1__RecordPaymentAttemptRequest *)e[i]->req;
        r->r[i].request_id = (char *)e[i]->request_id;
        r->rp[i] = &r->r[i];
    }
    r->req.n_reports = (size_t)n;
    r->req.reports = r->rp;
    return &r->req.base;
}

static size_t reports_n_results(const ProtobufCMessage *resp)
{
    return ((const Swifteats__V1__RecordPaymentAttemptsResponse *)resp)->n_results;
}

static void reports_result(ProtobufCMessage *resp, size_t i, int32_t *code,
                           const char **message, ProtobufCMessage ***slot)
{
    Swifteats__V1__PaymentAttemptResult *r =
        ((Swifteats__V1__RecordPaymentAttemptsResponse *)resp)->results[i];
    *code = r->code;
    *message = r->message;
    *slot = (ProtobufCMessage **)&r->attempt;
}

static const batch_kind jobs_kind = {"GetPaymentJobs", SWIFTEATS_V1_ORDER_SERVICE_METHOD_GET_PAYMENT_JOB,
                                     SWIFTEATS_V1_ORDER_SERVICE_METHOD_GET_PAYMENT_JOBS,
                                     jobs_build, jobs_n_results, jobs_result};
static const batch_kind reports_kind = {
    "RecordPaymentAttempts", SWIFTEATS_V1_ORDER_SERVICE_METHOD_RECORD_PAYMENT_ATTEMPT,
    SWIFTEATS_V1_ORDER_SERVICE_METHOD_RECORD_PAYMENT_ATTEMPTS, reports_build,
    reports_n_results, reports_result};

/* Hands result i of resp to entry e: its status, and its message moved out
 * of the response. */
static void take_result(const batch_kind *k, entry *e, ProtobufCMessage *resp, size_t i)
{
    int32_t code;
    const char *message;
    ProtobufCMessage **slot;
    k->result(resp, i, &code, &message, &slot);
    if (result_status(e, code, message) == 0 && *slot == NULL)
        result_status(e, GRPC_STATUS_INTERNAL, "OK without a message");
    if (e->rc == 0) {
        e->resp = *slot;
        *slot = NULL; /* moved */
    }
}

/* One batch call for the entries (or single calls: see the header). */
static void run_kind(payment_order_client *c, const batch_kind *k, entry **e, int n)
{
    if (n == 1 || atomic_load(&c->single)) {
        run_single(c, k->single_method, e, n);
        return;
    }
    union {
        jobs_room jobs;
        reports_room reports;
    } room;
    ProtobufCMessage *req = k->build(e, n, &room), *resp = NULL;
    se_call_opts o = {.timeout_ms = c->timeout_ms, .request_id = e[0]->request_id, .detach = 1};
    se_status st;
    atomic_fetch_add(&c->calls, 1);
    atomic_fetch_add(&c->entries, (unsigned long)n);
    if (timed_unary(c, k->batch_method, req, &resp, &o, &st) != 0) {
        if (st.code == GRPC_STATUS_UNIMPLEMENTED) { /* an older order service */
            atomic_store(&c->single, 1);
            run_single(c, k->single_method, e, n);
        } else {
            fail_all(e, n, &st);
        }
        return;
    }
    if (k->n_results(resp) != (size_t)n) {
        se_status_set(&st, GRPC_STATUS_INTERNAL, "%s: %zu results for %d entries", k->name,
                      k->n_results(resp), n);
        fail_all(e, n, &st);
    } else {
        for (int i = 0; i < n; i++)
            take_result(k, e[i], resp, (size_t)i);
    }
    se_msg_free(resp);
}

static void run_jobs(void *ctx, void **raw, int n)
{
    run_kind(ctx, &jobs_kind, (entry **)raw, n);
}

static void run_reports(void *ctx, void **raw, int n)
{
    run_kind(ctx, &reports_kind, (entry **)raw, n);
}

payment_order_client *payment_order_client_create(se_channel *order, int timeout_ms,
                                                  int max_batch, int max_in_flight,
                                                  payment_order_observer observer,
                                                  void *observer_arg)
{
    payment_order_client *c = se_xcalloc(1, sizeof *c);
    c->observer = observer;
    c->observer_arg = observer_arg;
    c->order = order;
    c->timeout_ms = timeout_ms;
    c->jobs = se_batch_create(run_jobs, c, max_batch, max_in_flight);
    c->reports = se_batch_create(run_reports, c, max_batch, max_in_flight);
    atomic_init(&c->single, 0);
    atomic_init(&c->calls, 0);
    atomic_init(&c->entries, 0);
    return c;
}

void payment_order_client_destroy(payment_order_client *c)
{
    if (c == NULL)
        return;
    se_batch_destroy(c->jobs);
    se_batch_destroy(c->reports);
    free(c);
}

int payment_order_get_job(payment_order_client *c, const Swifteats__V1__GetPaymentJobRequest *req,
                          const char *request_id, Swifteats__V1__PaymentJob **resp,
                          se_status *st)
{
    entry e = {.req = &req->base, .request_id = request_id};
    se_batch_submit(c->jobs, &e);
    if (e.rc == 0)
        *resp = (Swifteats__V1__PaymentJob *)e.resp;
    else
        *st = e.st;
    return e.rc;
}

int payment_order_record(payment_order_client *c,
                         const Swifteats__V1__RecordPaymentAttemptRequest *req,
                         const char *request_id, Swifteats__V1__PaymentAttempt **resp,
                         se_status *st)
{
    entry e = {.req = &req->base, .request_id = request_id};
    se_batch_submit(c->reports, &e);
    if (e.rc == 0)
        *resp = (Swifteats__V1__PaymentAttempt *)e.resp;
    else
        *st = e.st;
    return e.rc;
}

void payment_order_client_stats(payment_order_client *c, unsigned long *calls,
                                unsigned long *entries)
{
    *calls = atomic_load(&c->calls);
    *entries = atomic_load(&c->entries);
}
