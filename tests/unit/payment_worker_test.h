/* payment_worker_test.h - shared fixture of the payment worker suites
 * (test_payment_worker.c, test_payment_worker_queue.c).
 *
 * The worker's peers are test doubles served in-process on port 0 through
 * the generated handler tables, so these suites depend on no other
 * component's code (the end-to-end suites use the real services):
 *   fake OrderService    GetPaymentJob (start_attempt: starts the next
 *                        attempt, or resumes the latest if it is still
 *                        processing, like the real one) /
 *                        RecordPaymentAttempt (complete_outcome: also
 *                        decides the order; the same outcome again is
 *                        harmless) / CompletePayment over a small table of
 *                        orders, with a switch that refuses chosen calls
 *                        UNAVAILABLE (FT_REFUSE_COMPLETE: every call that
 *                        would decide the order);
 *   fake PaymentGateway  Charge follows a per-order script, one letter per
 *                        call: A approve, D decline (insufficient_funds),
 *                        U UNAVAILABLE, B ABORTED "still being processed"
 *                        (another Charge with the key in flight), T apply
 *                        the charge but answer
 *                        DEADLINE_EXCEEDED (a timed-out try the gateway did
 *                        apply), S approve after ft.slow_ms; the last letter
 *                        repeats; an outage switch answers UNAVAILABLE
 *                        without using the script. Like the real gateway, a
 *                        processed key replays its stored result.
 *                        GetCharge looks the key up in the ledger.
 * Every call is logged per order as a short line ("job", "job start 1",
 * "rec 1 processing", "charge:A", "rec 1 success ch_1", "rec 1 success
 * ch_1 +confirmed", "rec 1 failed ch_1 declined: x +payment_failed
 * declined: x", "getcharge", "complete confirmed ch_1"), with the call's
 * request id; ft_seq() joins an order's lines with '|'.
 *
 * The same server carries health, and the worker publishes its breaker
 * there, so pt_breaker_serving() reads it back through the Health service.
 * Redis: the stack's (SE_REDIS_URL), with stream names unique to the test
 * process.
 *
 * Header-only (static inline), like menu_test.h.
 */
#ifndef PAYMENT_WORKER_TEST_H
#define PAYMENT_WORKER_TEST_H

#include <check.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "grpc/health/v1/health.se.h"
#include "payment_worker.h"
#include "se_log.h"
#include "se_redis.h"
#include "se_test_fixture.h"
#include "se_test_stack.h"
#include "swifteats/v1/order.se.h"
#include "swifteats/v1/payment_gateway.se.h"

#define FT_MAX_ORDERS 32
#define FT_MAX_LOG 1024
#define FT_MAX_LEDGER 64

enum { FT_REFUSE_JOB = 1, FT_REFUSE_RECORD = 2, FT_REFUSE_COMPLETE = 4, FT_REFUSE_ALL = 7 };

typedef struct ft_order {
    int64_t id;
    int64_t amount;
    int status;          /* Swifteats__V1__OrderStatus */
    int n_attempts;      /* highest attempt number recorded */
    int last_processing; /* attempt n_attempts is (still) processing */
    char script[16];     /* gateway answers, one letter per Charge */
    int script_pos;
} ft_order;

typedef struct ft_line {
    int64_t order_id;
    char text[200];
    char request_id[64];
} ft_line;

typedef struct ft_charge {
    char key[64];
    char charge_id[32];
    int64_t order_id;
    int approved;
} ft_charge;

static struct {
    pthread_mutex_t mu;
    ft_order orders[FT_MAX_ORDERS];
    int n_orders;
    ft_line log[FT_MAX_LOG];
    int n_log;
    ft_charge ledger[FT_MAX_LEDGER];
    int n_ledger;
    int refuse;          /* FT_REFUSE_* bits: answer UNAVAILABLE */
    int refused;         /* calls refused so far */
    int outage;          /* gateway: every Charge UNAVAILABLE */
    int slow_ms;         /* 'S': approval delay */
} ft = {.mu = PTHREAD_MUTEX_INITIALIZER};

static se_server *pt_srv;
static char pt_target[64];
static se_redis *pt_r;
static char pt_stream[64], pt_dead[64];
static const char *pt_group = "pt-group";
static payment_worker *pt_w;

/* ---- fake state (ft.mu held unless said otherwise) ---------------------------- */

static inline ft_order *ft_find(int64_t id)
{
    for (int i = 0; i < ft.n_orders; i++)
        if (ft.orders[i].id == id)
            return &ft.orders[i];
    return NULL;
}

static inline void ft_logf(se_call *c, int64_t order_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void ft_logf(se_call *c, int64_t order_id, const char *fmt, ...)
{
    if (ft.n_log >= FT_MAX_LOG)
        return;
    ft_line *l = &ft.log[ft.n_log++];
    l->order_id = order_id;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
    snprintf(l->request_id, sizeof l->request_id, "%s", se_call_request_id(c));
}

/* Adds an order in payment_processing with a gateway script and
 * `attempts` attempts recorded already, the last one still processing if
 * `last_processing` (a try cut short by a crash). THREAD: test. */
static inline void ft_add_order_tried(int64_t id, int64_t amount, const char *script,
                                      int attempts, int last_processing)
{
    pthread_mutex_lock(&ft.mu);
    ck_assert_int_lt(ft.n_orders, FT_MAX_ORDERS);
    ft_order *o = &ft.orders[ft.n_orders++];
    memset(o, 0, sizeof *o);
    o->id = id;
    o->amount = amount;
    o->status = SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING;
    o->n_attempts = attempts;
    o->last_processing = last_processing;
    snprintf(o->script, sizeof o->script, "%s", script);
    pthread_mutex_unlock(&ft.mu);
}

/* Adds an order in payment_processing with a gateway script. THREAD: test. */
static inline void ft_add_order(int64_t id, int64_t amount, const char *script)
{
    ft_add_order_tried(id, amount, script, 0, 0);
}

static inline int ft_status(int64_t id)
{
    pthread_mutex_lock(&ft.mu);
    ft_order *o = ft_find(id);
    int s = o ? o->status : -1;
    pthread_mutex_unlock(&ft.mu);
    return s;
}

static inline int ft_attempts(int64_t id)
{
    pthread_mutex_lock(&ft.mu);
    ft_order *o = ft_find(id);
    int n = o ? o->n_attempts : -1;
    pthread_mutex_unlock(&ft.mu);
    return n;
}

static inline void ft_set(int *field, int value)
{
    pthread_mutex_lock(&ft.mu);
    *field = value;
    pthread_mutex_unlock(&ft.mu);
}

static inline int ft_get(const int *field)
{
    pthread_mutex_lock(&ft.mu);
    int v = *field;
    pthread_mutex_unlock(&ft.mu);
    return v;
}

/* The calls made for an order, joined with '|'. Returns a static buffer. */
static inline const char *ft_seq(int64_t id)
{
    static char buf[8192];
    buf[0] = '\0';
    pthread_mutex_lock(&ft.mu);
    for (int i = 0; i < ft.n_log; i++) {
        if (ft.log[i].order_id != id)
            continue;
        if (buf[0] != '\0')
            strncat(buf, "|", sizeof buf - strlen(buf) - 1);
        strncat(buf, ft.log[i].text, sizeof buf - strlen(buf) - 1);
    }
    pthread_mutex_unlock(&ft.mu);
    return buf;
}

/* Lines of the log for an order that start with `prefix`. */
static inline int ft_count(int64_t id, const char *prefix)
{
    int n = 0;
    pthread_mutex_lock(&ft.mu);
    for (int i = 0; i < ft.n_log; i++)
        n += ft.log[i].order_id == id && strncmp(ft.log[i].text, prefix, strlen(prefix)) == 0;
    pthread_mutex_unlock(&ft.mu);
    return n;
}

/* ---- fake OrderService ----------------------------------------------------------- */

/* Refuses the call when `bit` is switched on; 1 if it did (mu held). */
static inline int ft_refuse(se_call *c, int bit)
{
    if (!(ft.refuse & bit))
        return 0;
    ft.refused++;
    se_call_fail(c, GRPC_STATUS_UNAVAILABLE, "order service down (test)");
    return 1;
}

static inline void ft_get_payment_job(se_call *c, const Swifteats__V1__GetPaymentJobRequest *req,
                                      void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&ft.mu);
    ft_order *o = ft_find(req->order_id);
    if (ft_refuse(c, FT_REFUSE_JOB)) {
    } else if (o == NULL) {
        ft_logf(c, req->order_id, "job:not_found");
        se_call_fail(c, GRPC_STATUS_NOT_FOUND, "order %lld not found", (long long)req->order_id);
    } else if (o->status != SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING) {
        ft_logf(c, o->id, "job:not_processing");
        se_call_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "order is not payment_processing");
    } else {
        if (req->start_attempt) {
            if (!o->last_processing)
                o->n_attempts++;
            o->last_processing = 1;
            ft_logf(c, o->id, "job start %d", o->n_attempts);
        } else {
            ft_logf(c, o->id, "job");
        }
        char key[32], cust[32];
        snprintf(key, sizeof key, "order-%lld", (long long)o->id);
        snprintf(cust, sizeof cust, "cust-%lld", (long long)o->id);
        Swifteats__V1__PaymentJob j = SWIFTEATS__V1__PAYMENT_JOB__INIT;
        j.order_id = o->id;
        j.customer_id = cust;
        j.amount = o->amount;
        j.currency = "USD";
        j.next_attempt_number = o->n_attempts + (req->start_attempt ? 0 : 1);
        j.idempotency_key = key;
        se_call_reply(c, &j.base);
    }
    pthread_mutex_unlock(&ft.mu);
}

static inline const char *ft_attempt_status_name(int s)
{
    switch (s) {
    case SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_PROCESSING:
        return "processing";
    case SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_SUCCESS:
        return "success";
    case SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED:
        return "failed";
    }
    return "bad";
}

/* The status complete_outcome needs (0: no outcome asked). */
static inline int ft_outcome_status(int outcome)
{
    return outcome == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED
               ? SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_SUCCESS
           : outcome == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED
               ? SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_FAILED
               : 0;
}

static inline void ft_record_attempt(se_call *c,
                                     const Swifteats__V1__RecordPaymentAttemptRequest *req,
                                     void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&ft.mu);
    ft_order *o = ft_find(req->order_id);
    int outcome = req->complete_outcome;
    int again = o != NULL && outcome != 0 && o->status == outcome; /* a retried completion */
    if (ft_refuse(c, FT_REFUSE_RECORD) || (outcome != 0 && ft_refuse(c, FT_REFUSE_COMPLETE))) {
    } else if (o == NULL || req->attempt_number < 1 || req->amount != o->amount ||
               strcmp(req->idempotency_key, "") == 0 ||
               (outcome != 0 && ft_outcome_status(outcome) != (int)req->status)) {
        se_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "bad attempt");
    } else if (o->status != SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING &&
               !again) {
        se_call_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "order is not payment_processing");
    } else {
        char done[200] = "";
        if (outcome != 0)
            snprintf(done, sizeof done, " +%s%s%s",
                     outcome == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED
                         ? "confirmed"
                         : "payment_failed",
                     req->_complete_reason_case ? " " : "",
                     req->_complete_reason_case ? req->complete_reason : "");
        ft_logf(c, o->id, "rec %d %s%s%s%s%s%s%s", req->attempt_number,
                ft_attempt_status_name(req->status), req->_gateway_charge_id_case ? " " : "",
                req->_gateway_charge_id_case ? req->gateway_charge_id : "",
                req->_error_message_case ? " " : "",
                req->_error_message_case ? req->error_message : "", done,
                again ? " (again)" : "");
        if (req->attempt_number >= o->n_attempts) {
            o->n_attempts = req->attempt_number;
            o->last_processing =
                req->status == SWIFTEATS__V1__PAYMENT_ATTEMPT_STATUS__PAYMENT_ATTEMPT_STATUS_PROCESSING;
        }
        if (outcome != 0)
            o->status = outcome;
        Swifteats__V1__PaymentAttempt a = SWIFTEATS__V1__PAYMENT_ATTEMPT__INIT;
        a.id = req->attempt_number;
        a.attempt_number = req->attempt_number;
        a.status = req->status;
        a.amount = req->amount;
        se_call_reply(c, &a.base);
    }
    pthread_mutex_unlock(&ft.mu);
}

static inline void ft_complete_payment(se_call *c, const Swifteats__V1__CompletePaymentRequest *req,
                                       void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&ft.mu);
    ft_order *o = ft_find(req->order_id);
    int confirmed = req->outcome == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED;
    if (ft_refuse(c, FT_REFUSE_COMPLETE)) {
    } else if (o == NULL) {
        se_call_fail(c, GRPC_STATUS_NOT_FOUND, "no such order");
    } else if (o->status != SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING &&
               o->status != (int)req->outcome) {
        se_call_fail(c, GRPC_STATUS_FAILED_PRECONDITION, "order already decided");
    } else {
        ft_logf(c, o->id, "complete %s %s", confirmed ? "confirmed" : "payment_failed",
                confirmed ? (req->_gateway_charge_id_case ? req->gateway_charge_id : "-")
                          : (req->_reason_case ? req->reason : "-"));
        o->status = (int)req->outcome;
        Swifteats__V1__Order out = SWIFTEATS__V1__ORDER__INIT;
        out.id = o->id;
        out.status = req->outcome;
        se_call_reply(c, &out.base);
    }
    pthread_mutex_unlock(&ft.mu);
}

static const swifteats_v1_order_service_handlers ft_order_handlers = {
    .get_payment_job = ft_get_payment_job,
    .record_payment_attempt = ft_record_attempt,
    .complete_payment = ft_complete_payment,
};

/* ---- fake PaymentGatewayService ---------------------------------------------------- */

static inline ft_charge *ft_ledger_find(const char *key)
{
    for (int i = 0; i < ft.n_ledger; i++)
        if (strcmp(ft.ledger[i].key, key) == 0)
            return &ft.ledger[i];
    return NULL;
}

/* The ledger entry of key, processed now if new (mu held). */
static inline ft_charge *ft_process(const Swifteats__V1__ChargeRequest *req, int approve)
{
    ft_charge *ch = ft_ledger_find(req->idempotency_key);
    if (ch != NULL || ft.n_ledger >= FT_MAX_LEDGER)
        return ch;
    ch = &ft.ledger[ft.n_ledger++];
    snprintf(ch->key, sizeof ch->key, "%s", req->idempotency_key);
    snprintf(ch->charge_id, sizeof ch->charge_id, "ch_%d", ft.n_ledger);
    ch->order_id = req->order_id;
    ch->approved = approve;
    return ch;
}

static inline void ft_reply_charge(se_call *c, const ft_charge *ch, int64_t amount)
{
    Swifteats__V1__ChargeRecord r = SWIFTEATS__V1__CHARGE_RECORD__INIT;
    r.charge_id = (char *)ch->charge_id;
    r.idempotency_key = (char *)ch->key;
    r.order_id = ch->order_id;
    r.amount = amount;
    r.currency = "USD";
    r.status = ch->approved ? SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED
                            : SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED;
    if (!ch->approved) {
        r._decline_code_case = SWIFTEATS__V1__CHARGE_RECORD___DECLINE_CODE_DECLINE_CODE;
        r.decline_code = "insufficient_funds";
    }
    se_call_reply(c, &r.base);
}

/* The next script letter of an order (mu held). */
static inline char ft_next_letter(int64_t order_id)
{
    ft_order *o = ft_find(order_id);
    if (o == NULL || o->script[0] == '\0')
        return 'A';
    char l = o->script[o->script_pos];
    if (o->script[o->script_pos + 1] != '\0')
        o->script_pos++;
    return l;
}

static inline void ft_charge_call(se_call *c, const Swifteats__V1__ChargeRequest *req, void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&ft.mu);
    if (ft.outage) {
        ft_logf(c, req->order_id, "charge:outage");
        pthread_mutex_unlock(&ft.mu);
        se_call_fail(c, GRPC_STATUS_UNAVAILABLE, "payment gateway outage");
        return;
    }
    char l = ft_next_letter(req->order_id);
    ft_logf(c, req->order_id, "charge:%c", l);
    int slow = ft.slow_ms;
    pthread_mutex_unlock(&ft.mu);
    if (l == 'U') {
        se_call_fail(c, GRPC_STATUS_UNAVAILABLE, "transient (test)");
        return;
    }
    if (l == 'B') {
        se_call_fail(c, GRPC_STATUS_ABORTED, "still being processed (test)");
        return;
    }
    if (l == 'S')
        se_test_sleep_ms(slow);
    pthread_mutex_lock(&ft.mu);
    ft_charge *ch = ft_process(req, l != 'D');
    ft_charge copy = *ch;
    pthread_mutex_unlock(&ft.mu);
    if (l == 'T')
        se_call_fail(c, GRPC_STATUS_DEADLINE_EXCEEDED, "held (test)");
    else
        ft_reply_charge(c, &copy, req->amount);
}

static inline void ft_get_charge(se_call *c, const Swifteats__V1__GetChargeRequest *req,
                                 void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&ft.mu);
    ft_charge *ch = ft_ledger_find(req->idempotency_key);
    int64_t order_id = 0;
    sscanf(req->idempotency_key, "order-%lld", (long long *)&order_id);
    ft_logf(c, order_id, "getcharge");
    ft_charge copy;
    memset(&copy, 0, sizeof copy);
    if (ch != NULL)
        copy = *ch;
    pthread_mutex_unlock(&ft.mu);
    if (ch == NULL)
        se_call_fail(c, GRPC_STATUS_NOT_FOUND, "no charge with key %s", req->idempotency_key);
    else
        ft_reply_charge(c, &copy, 0);
}

static const swifteats_v1_payment_gateway_service_handlers ft_gateway_handlers = {
    .charge = ft_charge_call,
    .get_charge = ft_get_charge,
};

/* ---- Redis ------------------------------------------------------------------------ */

/* A command on the stack's Redis; fails the test on an error. Free the
 * reply with freeReplyObject. */
static inline redisReply *pt_redis_argv(int argc, const char **argv)
{
    se_redis_err err;
    redisReply *r = se_redis_command_argv(pt_r, 0, argc, argv, NULL, &err);
    ck_assert_msg(r != NULL, "%s: %s", argv[0], err.msg);
    return r;
}

#define PT_REDIS(...)                                                          \
    pt_redis_argv((int)(sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)), \
                  (const char *[]){__VA_ARGS__})

static inline void pt_redis_ok(redisReply *r)
{
    freeReplyObject(r);
}

/* XADD of a job entry (request_id NULL: none); returns the id (static). */
static inline const char *pt_xadd(const char *order_id, const char *request_id)
{
    static char id[8][48];
    static int next;
    char *out = id[next++ % 8];
    redisReply *r = request_id ? PT_REDIS("XADD", pt_stream, "*", "order_id", order_id,
                                          "request_id", request_id)
                               : PT_REDIS("XADD", pt_stream, "*", "order_id", order_id);
    ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
    snprintf(out, 48, "%s", r->str);
    freeReplyObject(r);
    return out;
}

static inline long long pt_integer(redisReply *r)
{
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static inline long long pt_xlen(const char *stream)
{
    return pt_integer(PT_REDIS("XLEN", stream));
}

/* Entries pending in the group (0 when the group does not exist). */
static inline long long pt_pending(void)
{
    se_redis_err err;
    redisReply *r = se_redis_command(pt_r, 0, &err, "XPENDING %s %s", pt_stream, pt_group);
    if (r == NULL)
        return 0;
    long long n = r->type == REDIS_REPLY_ARRAY && r->elements >= 1 ? r->element[0]->integer : -1;
    freeReplyObject(r);
    return n;
}

static inline void pt_create_group(void)
{
    pt_redis_ok(PT_REDIS("XGROUP", "CREATE", pt_stream, pt_group, "0", "MKSTREAM"));
}

/* Delivers the next new entry to consumer `who` (which never acks it). */
static inline void pt_deliver_to(const char *who)
{
    redisReply *r = PT_REDIS("XREADGROUP", "GROUP", pt_group, who, "COUNT", "1", "STREAMS",
                             pt_stream, ">");
    ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
}

/* The value of `field` in dead-letter entry i (static buffer, "" if none). */
static inline const char *pt_dead_field(int i, const char *field)
{
    static char buf[512];
    buf[0] = '\0';
    redisReply *r = PT_REDIS("XRANGE", pt_dead, "-", "+");
    ck_assert_int_gt((int)r->elements, i);
    const redisReply *fv = r->element[i]->element[1];
    for (size_t k = 0; k + 1 < fv->elements; k += 2)
        if (strcmp(fv->element[k]->str, field) == 0)
            snprintf(buf, sizeof buf, "%s", fv->element[k + 1]->str);
    freeReplyObject(r);
    return buf;
}

/* ---- the worker ---------------------------------------------------------------- */

/* Short timings for the suites; the breaker effectively off unless a test
 * sets it. */
static inline payment_worker_config pt_config(void)
{
    payment_worker_config c;
    memset(&c, 0, sizeof c);
    c.queue = (payment_queue_config){.redis_url = se_test_env_url("SE_REDIS_URL"),
                                     .redis_timeout_ms = SE_T(1000),
                                     .pool_size = 2,
                                     .stream = pt_stream,
                                     .group = pt_group,
                                     .consumer = "pt-worker",
                                     .dead_stream = pt_dead};
    c.job = (payment_job_config){.charge_timeout_ms = SE_T(2000),
                                 .order_timeout_ms = SE_T(2000),
                                 .retry_base_ms = 5,
                                 .retry_max_ms = 40,
                                 .max_attempts = 5};
    c.breaker = (payment_breaker_config){.failure_threshold = 1000, .open_ms = 1000,
                                         .half_open_probes = 1};
    c.order_target = pt_target;
    c.gateway_target = pt_target;
    c.concurrency = 4;
    c.queue_size = 8;
    c.read_count = 8;
    c.read_block_ms = 50;
    c.reclaim_interval_ms = 5000;
    c.claim_idle_ms = 30000;
    c.max_deliveries = 5;
    c.stop_grace_ms = SE_T(2000);
    c.health = pt_srv;
    return c;
}

static inline void pt_start(const payment_worker_config *cfg)
{
    pt_w = payment_worker_create(cfg);
    ck_assert_ptr_nonnull(pt_w);
    ck_assert_int_eq(payment_worker_start(pt_w), 0);
}

static inline void pt_stop(void)
{
    payment_worker_destroy(pt_w);
    pt_w = NULL;
}

/* 1 SERVING, 0 NOT_SERVING, -1 unknown: the breaker's health. */
static inline int pt_breaker_serving(void)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = PAYMENT_WORKER_HEALTH_BREAKER;
    Grpc__Health__V1__HealthCheckResponse *resp = NULL;
    se_status st;
    if (grpc_health_v1_health_check(se_channel_get(pt_target), &req, &resp, NULL, &st) != 0)
        return -1;
    int serving = resp->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    se_msg_free(&resp->base);
    return serving;
}

static inline payment_worker_stats pt_stats(void)
{
    payment_worker_stats s;
    payment_worker_get_stats(pt_w, &s);
    return s;
}

/* Polls until the worker's counter `field` reaches `value` (counters move
 * just after the Redis side is done), then asserts it. */
#define PT_WAIT_STAT(field, value)                                    \
    do {                                                              \
        SE_POLL_UNTIL(pt_stats().field == (uint64_t)(value), 2000);   \
        ck_assert_int_eq(pt_stats().field, (value));                  \
    } while (0)

/* Polls until the stream is empty (every entry acked and deleted). */
static inline void pt_wait_drained(int ms)
{
    SE_POLL_UNTIL(pt_xlen(pt_stream) == 0 && pt_pending() == 0, ms);
    ck_assert_int_eq(pt_xlen(pt_stream), 0);
    ck_assert_int_eq(pt_pending(), 0);
}

/* ---- fixture ------------------------------------------------------------------- */

static inline void pt_setup(void)
{
    se_log_init("test");
    se_rpc_init();
    memset(ft.orders, 0, sizeof ft.orders);
    ft.n_orders = ft.n_log = ft.n_ledger = 0;
    ft.refuse = ft.refused = ft.outage = 0;
    ft.slow_ms = 0;
    snprintf(pt_stream, sizeof pt_stream, "%s", se_test_uniq("pt:jobs:", "", ""));
    snprintf(pt_dead, sizeof pt_dead, "%s", se_test_uniq("pt:dead:", "", ""));
    se_redis_err err;
    pt_r = se_redis_create(se_test_env_url("SE_REDIS_URL"), 2000, &err);
    ck_assert_msg(pt_r != NULL, "redis: %s", err.msg);
    pt_redis_ok(PT_REDIS("DEL", pt_stream, pt_dead));
    pt_srv = se_test_server_create("fakes");
    ck_assert_int_eq(swifteats_v1_order_service_register(pt_srv, &ft_order_handlers, NULL), 0);
    ck_assert_int_eq(
        swifteats_v1_payment_gateway_service_register(pt_srv, &ft_gateway_handlers, NULL), 0);
    ck_assert_int_eq(se_server_start(pt_srv), 0);
    snprintf(pt_target, sizeof pt_target, "127.0.0.1:%d", se_server_port(pt_srv));
}

static inline void pt_teardown(void)
{
    if (pt_w != NULL)
        pt_stop();
    se_server_shutdown(pt_srv);
    se_server_destroy(pt_srv);
    pt_redis_ok(PT_REDIS("DEL", pt_stream, pt_dead));
    se_redis_destroy(pt_r);
    se_rpc_shutdown();
}

#endif
