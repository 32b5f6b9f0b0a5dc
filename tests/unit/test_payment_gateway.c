/* test_payment_gateway.c - every PaymentGatewayService RPC over real gRPC
 * (generated client stubs -> the gateway served in-process on port 0):
 * approvals, declines, transient errors, timeouts whose charge exists,
 * idempotency (replay, conflict, concurrent key), outages, latency,
 * validation errors naming the field, ListLedger, GetStats, Reset, many
 * charges in flight at once, and answering held calls on stop.
 * No PostgreSQL or Redis: the gateway keeps everything in memory.
 */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "paygw_service.h"
#include "se_log.h"
#include "se_test_stack.h"
#include "swifteats/v1/payment_gateway.se.h"

static paygw_service *svc;
static se_server *srv;
static se_channel *ch;

/* The defaults the suite runs with (and Reset restores): no latency, no
 * failure, a fixed seed. */
static paygw_settings quiet_defaults(void)
{
    paygw_settings s = {.latency_median_ms = 0, .latency_p99_ms = 0, .decline_rate = 0,
                        .transient_error_rate = 0, .timeout_rate = 0,
                        .timeout_hold_ms = SE_T(300), .seed = 42};
    return s;
}

static void setup(void)
{
    se_log_init("test");
    se_rpc_init();
    paygw_service_config cfg = {.defaults = quiet_defaults()};
    svc = paygw_service_create(&cfg);
    ck_assert_ptr_nonnull(svc);
    se_server_config sc = {.name = "payment_gateway", .listen_addr = "127.0.0.1:0",
                           .threads = 2, .grace_ms = 500};
    srv = se_server_create(&sc);
    ck_assert_ptr_nonnull(srv);
    ck_assert_int_eq(paygw_service_register(srv, svc), 0);
    ck_assert_int_eq(se_server_start(srv), 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", se_server_port(srv));
    ch = se_channel_get(target);
}

static void teardown(void)
{
    paygw_service_stop(svc);
    se_server_shutdown(srv);
    se_server_destroy(srv);
    paygw_service_destroy(svc);
    se_rpc_shutdown();
}

/* ---- typed calls ------------------------------------------------------------------ */

static Swifteats__V1__ChargeRequest charge_req(const char *key, int64_t order, int64_t amount)
{
    Swifteats__V1__ChargeRequest req = SWIFTEATS__V1__CHARGE_REQUEST__INIT;
    req.idempotency_key = (char *)key;
    req.order_id = order;
    req.amount = amount;
    req.customer_id = "cust-7";
    return req;
}

/* Charge with a client deadline (0: the default), returns the record or NULL. */
static Swifteats__V1__ChargeRecord *charge_full(const Swifteats__V1__ChargeRequest *req,
                                                int timeout_ms, se_status *st)
{
    se_call_opts o = {.timeout_ms = timeout_ms > 0 ? timeout_ms : SE_T(5000)};
    Swifteats__V1__ChargeRecord *r = NULL;
    swifteats_v1_payment_gateway_service_charge(ch, req, &r, &o, st);
    return r;
}

static Swifteats__V1__ChargeRecord *charge(const char *key, int64_t order, int64_t amount,
                                           se_status *st)
{
    Swifteats__V1__ChargeRequest req = charge_req(key, order, amount);
    return charge_full(&req, 0, st);
}

/* A charge that must succeed. */
static Swifteats__V1__ChargeRecord *charge_ok(const char *key, int64_t order, int64_t amount)
{
    se_status st;
    Swifteats__V1__ChargeRecord *r = charge(key, order, amount, &st);
    ck_assert_msg(r != NULL, "Charge %s: %s %s", key, se_status_name(st.code), st.message);
    return r;
}

/* The status code of a Charge (the record, if any, is freed). */
static grpc_status_code charge_code(const Swifteats__V1__ChargeRequest *req, se_status *st)
{
    Swifteats__V1__ChargeRecord *r = charge_full(req, 0, st);
    se_msg_free((ProtobufCMessage *)r);
    return st->code;
}

static Swifteats__V1__ChargeRecord *get_charge(const char *id, const char *key, se_status *st)
{
    Swifteats__V1__GetChargeRequest req = SWIFTEATS__V1__GET_CHARGE_REQUEST__INIT;
    req.charge_id = (char *)(id ? id : "");
    req.idempotency_key = (char *)(key ? key : "");
    Swifteats__V1__ChargeRecord *r = NULL;
    swifteats_v1_payment_gateway_service_get_charge(ch, &req, &r, NULL, st);
    return r;
}

static Swifteats__V1__ListLedgerResponse *list(int64_t order, int status, int page, int size,
                                               se_status *st)
{
    Swifteats__V1__ListLedgerRequest req = SWIFTEATS__V1__LIST_LEDGER_REQUEST__INIT;
    req.order_id = order;
    req.status = status;
    req.page = page;
    req.page_size = size;
    Swifteats__V1__ListLedgerResponse *r = NULL;
    swifteats_v1_payment_gateway_service_list_ledger(ch, &req, &r, NULL, st);
    return r;
}

/* Total of ListLedger for one order (0: all). */
static int64_t ledger_total(int64_t order)
{
    se_status st;
    Swifteats__V1__ListLedgerResponse *r = list(order, 0, 0, 0, &st);
    ck_assert_msg(r != NULL, "ListLedger: %s", st.message);
    int64_t n = r->total;
    se_msg_free(&r->base);
    return n;
}

static Swifteats__V1__GatewayStats *stats(void)
{
    Swifteats__V1__GetStatsRequest req = SWIFTEATS__V1__GET_STATS_REQUEST__INIT;
    Swifteats__V1__GatewayStats *r = NULL;
    se_status st;
    swifteats_v1_payment_gateway_service_get_stats(ch, &req, &r, NULL, &st);
    ck_assert_msg(r != NULL, "GetStats: %s", st.message);
    return r;
}

/* Behaviour change: fields < 0 (rates: < 0 too) are left absent. */
typedef struct change {
    int median, p99, hold;
    double decline, transient, timeout;
} change;

#define KEEP {-1, -1, -1, -1, -1, -1}

static Swifteats__V1__GatewayBehaviour behaviour_of(const change *c)
{
    Swifteats__V1__GatewayBehaviour b = SWIFTEATS__V1__GATEWAY_BEHAVIOUR__INIT;
    if (c->median >= 0) {
        b._latency_median_ms_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___LATENCY_MEDIAN_MS_LATENCY_MEDIAN_MS;
        b.latency_median_ms = c->median;
    }
    if (c->p99 >= 0) {
        b._latency_p99_ms_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___LATENCY_P99_MS_LATENCY_P99_MS;
        b.latency_p99_ms = c->p99;
    }
    if (c->hold >= 0) {
        b._timeout_hold_ms_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___TIMEOUT_HOLD_MS_TIMEOUT_HOLD_MS;
        b.timeout_hold_ms = c->hold;
    }
    if (c->decline >= 0) {
        b._decline_rate_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___DECLINE_RATE_DECLINE_RATE;
        b.decline_rate = c->decline;
    }
    if (c->transient >= 0) {
        b._transient_error_rate_case =
            SWIFTEATS__V1__GATEWAY_BEHAVIOUR___TRANSIENT_ERROR_RATE_TRANSIENT_ERROR_RATE;
        b.transient_error_rate = c->transient;
    }
    if (c->timeout >= 0) {
        b._timeout_rate_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___TIMEOUT_RATE_TIMEOUT_RATE;
        b.timeout_rate = c->timeout;
    }
    return b;
}

static Swifteats__V1__GatewayBehaviour *configure_raw(int reset,
                                                      Swifteats__V1__GatewayBehaviour *b,
                                                      se_status *st)
{
    Swifteats__V1__ConfigureRequest req = SWIFTEATS__V1__CONFIGURE_REQUEST__INIT;
    req.reset = reset;
    req.behaviour = b;
    Swifteats__V1__GatewayBehaviour *r = NULL;
    swifteats_v1_payment_gateway_service_configure(ch, &req, &r, NULL, st);
    return r;
}

/* A Configure that must succeed. */
static void configure(change c)
{
    Swifteats__V1__GatewayBehaviour b = behaviour_of(&c);
    se_status st;
    Swifteats__V1__GatewayBehaviour *r = configure_raw(0, &b, &st);
    ck_assert_msg(r != NULL, "Configure: %s", st.message);
    se_msg_free(&r->base);
}

static Swifteats__V1__OutageState *set_outage(int enabled, int64_t duration_ms, se_status *st)
{
    Swifteats__V1__SetOutageRequest req = SWIFTEATS__V1__SET_OUTAGE_REQUEST__INIT;
    req.enabled = enabled;
    if (duration_ms != 0) {
        req._duration_ms_case = SWIFTEATS__V1__SET_OUTAGE_REQUEST___DURATION_MS_DURATION_MS;
        req.duration_ms = duration_ms;
    }
    Swifteats__V1__OutageState *r = NULL;
    swifteats_v1_payment_gateway_service_set_outage(ch, &req, &r, NULL, st);
    return r;
}

static void reset_gateway(void)
{
    Swifteats__V1__ResetRequest req = SWIFTEATS__V1__RESET_REQUEST__INIT;
    Swifteats__V1__ResetResponse *r = NULL;
    se_status st;
    ck_assert_int_eq(swifteats_v1_payment_gateway_service_reset(ch, &req, &r, NULL, &st), 0);
    se_msg_free(&r->base);
}

/* ---- asynchronous charges ------------------------------------------------------------ */

typedef struct async_results {
    pthread_mutex_t mu;
    int done;
    int ok;
    grpc_status_code last_code;
    char last_message[256];
    Swifteats__V1__ChargeRecord *last; /* the last OK record (owned) */
} async_results;

static void on_charged(void *arg, const se_status *st, Swifteats__V1__ChargeRecord *resp)
{
    async_results *a = arg;
    pthread_mutex_lock(&a->mu);
    a->done++;
    a->last_code = st->code;
    snprintf(a->last_message, sizeof a->last_message, "%s", st->message);
    if (resp != NULL) {
        a->ok++;
        se_msg_free((ProtobufCMessage *)a->last);
        a->last = resp;
    }
    pthread_mutex_unlock(&a->mu);
}

static int async_done(async_results *a)
{
    pthread_mutex_lock(&a->mu);
    int n = a->done;
    pthread_mutex_unlock(&a->mu);
    return n;
}

static void async_start(async_results *a, const char *key, int64_t order, int timeout_ms)
{
    Swifteats__V1__ChargeRequest req = charge_req(key, order, 1000);
    se_call_opts o = {.timeout_ms = timeout_ms};
    ck_assert_ptr_nonnull(swifteats_v1_payment_gateway_service_charge_async(ch, &req, &o,
                                                                            on_charged, a));
}

static void async_free(async_results *a)
{
    se_msg_free((ProtobufCMessage *)a->last);
    pthread_mutex_destroy(&a->mu);
}

/* ---- Charge outcomes --------------------------------------------------------------------- */

START_TEST(approved_charge_is_in_the_ledger)
{
    Swifteats__V1__ChargeRecord *r = charge_ok("order-1", 1, 2599);
    ck_assert_int_eq(r->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED);
    ck_assert_msg(strncmp(r->charge_id, "ch_", 3) == 0, "%s", r->charge_id);
    ck_assert_str_eq(r->idempotency_key, "order-1");
    ck_assert_int_eq(r->order_id, 1);
    ck_assert_int_eq(r->amount, 2599);
    ck_assert_str_eq(r->currency, "USD"); /* empty means USD */
    ck_assert_str_eq(r->customer_id, "cust-7");
    ck_assert(!r->replayed);
    ck_assert_int_eq(r->_decline_code_case, SWIFTEATS__V1__CHARGE_RECORD___DECLINE_CODE__NOT_SET);
    ck_assert_ptr_nonnull(r->created_at);
    ck_assert_int_gt(r->created_at->seconds, 1700000000);
    se_status st;
    Swifteats__V1__ChargeRecord *by_id = get_charge(r->charge_id, NULL, &st);
    ck_assert_msg(by_id != NULL, "%s", st.message);
    ck_assert_str_eq(by_id->idempotency_key, "order-1");
    ck_assert(!by_id->replayed);
    Swifteats__V1__ChargeRecord *by_key = get_charge(NULL, "order-1", &st);
    ck_assert_msg(by_key != NULL, "%s", st.message);
    ck_assert_str_eq(by_key->charge_id, r->charge_id);
    Swifteats__V1__ListLedgerResponse *l = list(0, 0, 0, 0, &st);
    ck_assert_int_eq(l->total, 1);
    ck_assert_uint_eq(l->n_charges, 1);
    ck_assert_str_eq(l->charges[0]->charge_id, r->charge_id);
    ck_assert_int_eq(l->approved_amount, 2599);
    se_msg_free(&l->base);
    se_msg_free(&by_key->base);
    se_msg_free(&by_id->base);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(decline_is_ok_with_a_decline_code)
{
    configure((change){-1, -1, -1, 1, -1, -1});
    Swifteats__V1__ChargeRequest req = charge_req("order-2", 2, 500);
    req.currency = "EUR";
    se_status st;
    Swifteats__V1__ChargeRecord *r = charge_full(&req, 0, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_int_eq(r->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED);
    ck_assert_str_eq(r->currency, "EUR");
    ck_assert_int_eq(r->_decline_code_case, SWIFTEATS__V1__CHARGE_RECORD___DECLINE_CODE_DECLINE_CODE);
    static const char *const codes[] = {"insufficient_funds", "card_declined", "do_not_honor",
                                        "expired_card"};
    int known = 0;
    for (int i = 0; i < 4; i++)
        known |= strcmp(r->decline_code, codes[i]) == 0;
    ck_assert_msg(known, "unknown decline code %s", r->decline_code);
    ck_assert_int_eq(r->_decline_message_case,
                     SWIFTEATS__V1__CHARGE_RECORD___DECLINE_MESSAGE_DECLINE_MESSAGE);
    ck_assert(strlen(r->decline_message) > 0);
    Swifteats__V1__ListLedgerResponse *l = list(0, 0, 0, 0, &st);
    ck_assert_int_eq(l->total, 1);
    ck_assert_int_eq(l->charges[0]->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED);
    ck_assert_int_eq(l->approved_amount, 0);
    se_msg_free(&l->base);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->declined, 1);
    ck_assert_int_eq(s->approved, 0);
    se_msg_free(&s->base);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(transient_error_is_unavailable_and_leaves_no_trace)
{
    configure((change){-1, -1, -1, -1, 1, -1});
    se_status st;
    ck_assert_ptr_null(charge("order-3", 3, 100, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_int_eq(ledger_total(0), 0);
    ck_assert_ptr_null(get_charge(NULL, "order-3", &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->transient_errors, 1);
    ck_assert_int_eq(s->approved + s->declined, 0);
    se_msg_free(&s->base);
    /* the key was not used up: a retry is processed */
    configure((change){-1, -1, -1, -1, 0, -1});
    Swifteats__V1__ChargeRecord *r = charge_ok("order-3", 3, 100);
    ck_assert(!r->replayed);
    ck_assert_int_eq(r->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(timeout_exceeds_the_deadline_but_the_charge_exists)
{
    configure((change){0, 0, SE_T(300), -1, -1, 1});
    Swifteats__V1__ChargeRequest req = charge_req("order-4", 4, 700);
    se_status st;
    int64_t t0 = se_test_now_ms();
    ck_assert_ptr_null(charge_full(&req, SE_T(100), &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
    ck_assert_int_lt(se_test_now_ms() - t0, SE_T(300)); /* the client's deadline, not the hold */
    Swifteats__V1__ChargeRecord *got = get_charge(NULL, "order-4", &st);
    ck_assert_msg(got != NULL, "the timed-out charge is not in the ledger: %s", st.message);
    ck_assert_int_eq(got->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED);
    /* the retry returns it at once, whatever the behaviour */
    t0 = se_test_now_ms();
    Swifteats__V1__ChargeRecord *again = charge_full(&req, SE_T(100), &st);
    ck_assert_msg(again != NULL, "retry: %s %s", se_status_name(st.code), st.message);
    ck_assert(again->replayed);
    ck_assert_str_eq(again->charge_id, got->charge_id);
    ck_assert_int_eq(ledger_total(4), 1);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->timeouts, 1);
    ck_assert_int_eq(s->approved, 1);
    ck_assert_int_eq(s->replays, 1);
    se_msg_free(&s->base);
    /* the held call ends with its client's deadline: nothing stays held */
    SE_POLL_UNTIL(paygw_timer_pending(paygw_service_timer(svc)) == 0, 2000);
    ck_assert_uint_eq(paygw_timer_pending(paygw_service_timer(svc)), 0);
    se_msg_free(&again->base);
    se_msg_free(&got->base);
}
END_TEST

START_TEST(timeout_answers_after_the_hold_when_the_client_waits)
{
    configure((change){0, 0, SE_T(300), -1, -1, 1});
    int64_t t0 = se_test_now_ms();
    Swifteats__V1__ChargeRecord *r = charge_ok("order-5", 5, 100);
    ck_assert_int_ge(se_test_now_ms() - t0, SE_T(300));
    ck_assert_int_eq(r->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED);
    ck_assert(!r->replayed);
    se_msg_free(&r->base);
}
END_TEST

/* ---- idempotency ----------------------------------------------------------------------------- */

START_TEST(same_key_twice_is_one_charge_replayed)
{
    Swifteats__V1__ChargeRecord *a = charge_ok("order-6", 6, 1200);
    /* the replay ignores the behaviour: even a transient error rate of 1 */
    configure((change){-1, -1, -1, 1, 1, -1});
    Swifteats__V1__ChargeRecord *b = charge_ok("order-6", 6, 1200);
    ck_assert(!a->replayed);
    ck_assert(b->replayed);
    ck_assert_str_eq(a->charge_id, b->charge_id);
    ck_assert_int_eq(b->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED);
    ck_assert_int_eq(ledger_total(0), 1);
    se_status st;
    Swifteats__V1__ListLedgerResponse *l = list(6, 0, 0, 0, &st);
    ck_assert(!l->charges[0]->replayed); /* always false in the ledger */
    se_msg_free(&l->base);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->charge_calls, 2);
    ck_assert_int_eq(s->approved, 1);
    ck_assert_int_eq(s->replays, 1);
    se_msg_free(&s->base);
    se_msg_free(&a->base);
    se_msg_free(&b->base);
}
END_TEST

START_TEST(same_key_with_other_parameters_is_a_conflict)
{
    se_msg_free(&charge_ok("order-7", 7, 1000)->base);
    se_status st;
    Swifteats__V1__ChargeRequest req = charge_req("order-7", 7, 1001);
    ck_assert_int_eq(charge_code(&req, &st), GRPC_STATUS_FAILED_PRECONDITION);
    ck_assert_msg(strstr(st.message, "amount") != NULL, "%s", st.message);
    req = charge_req("order-7", 8, 1000);
    ck_assert_int_eq(charge_code(&req, &st), GRPC_STATUS_FAILED_PRECONDITION);
    ck_assert_msg(strstr(st.message, "order_id") != NULL, "%s", st.message);
    req = charge_req("order-7", 7, 1000);
    req.currency = "GBP";
    ck_assert_int_eq(charge_code(&req, &st), GRPC_STATUS_FAILED_PRECONDITION);
    ck_assert_msg(strstr(st.message, "currency") != NULL, "%s", st.message);
    req.currency = "USD"; /* explicit USD is the same as empty */
    ck_assert_int_eq(charge_code(&req, &st), GRPC_STATUS_OK);
    ck_assert_int_eq(ledger_total(0), 1);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->rejected, 3);
    ck_assert_int_eq(s->replays, 1);
    se_msg_free(&s->base);
}
END_TEST

START_TEST(same_key_while_processing_is_aborted)
{
    configure((change){SE_T(300), SE_T(300), -1, -1, -1, -1});
    async_results a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    async_start(&a, "order-9", 9, SE_T(5000));
    SE_POLL_UNTIL(paygw_ledger_processing(paygw_service_ledger(svc)) == 1, 2000);
    ck_assert_uint_eq(paygw_ledger_processing(paygw_service_ledger(svc)), 1);
    se_status st;
    Swifteats__V1__ChargeRequest req = charge_req("order-9", 9, 1000);
    ck_assert_int_eq(charge_code(&req, &st), GRPC_STATUS_ABORTED);
    ck_assert_msg(strstr(st.message, "processed") != NULL, "%s", st.message);
    /* not visible before it is processed, and not "no such charge" either:
     * a payer deciding whether it was charged must ask again */
    ck_assert_ptr_null(get_charge(NULL, "order-9", &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_ABORTED);
    ck_assert_msg(strstr(st.message, "still being processed") != NULL, "%s", st.message);
    SE_POLL_UNTIL(async_done(&a) == 1, 3000);
    ck_assert_int_eq(async_done(&a), 1);
    ck_assert_msg(a.ok == 1, "first charge: %s %s", se_status_name(a.last_code), a.last_message);
    ck_assert(!a.last->replayed);
    Swifteats__V1__ChargeRecord *r = charge_ok("order-9", 9, 1000);
    ck_assert(r->replayed);
    ck_assert_int_eq(ledger_total(0), 1);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->rejected, 1);
    se_msg_free(&s->base);
    se_msg_free(&r->base);
    async_free(&a);
}
END_TEST

/* ---- outage ------------------------------------------------------------------------------------ */

START_TEST(outage_refuses_charges_at_once_until_turned_off)
{
    configure((change){SE_T(2000), SE_T(2000), -1, -1, -1, -1});
    se_status st;
    Swifteats__V1__OutageState *o = set_outage(1, 0, &st);
    ck_assert_msg(o != NULL, "%s", st.message);
    ck_assert(o->enabled);
    ck_assert_ptr_null(o->ends_at);
    se_msg_free(&o->base);
    int64_t t0 = se_test_now_ms();
    ck_assert_ptr_null(charge("order-10", 10, 100, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_str_eq(st.message, "payment gateway outage");
    ck_assert_int_lt(se_test_now_ms() - t0, SE_T(1000)); /* no latency */
    /* reads and admin keep working */
    ck_assert_int_eq(ledger_total(0), 0);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->outage_rejections, 1);
    se_msg_free(&s->base);
    o = set_outage(0, 0, &st);
    ck_assert(!o->enabled);
    se_msg_free(&o->base);
    configure((change){0, 0, -1, -1, -1, -1});
    se_msg_free(&charge_ok("order-10", 10, 100)->base);
}
END_TEST

START_TEST(outage_with_a_duration_ends_by_itself)
{
    se_status st;
    int64_t t0 = se_test_now_ms();
    int64_t before_us = (int64_t)time(NULL) * 1000000;
    Swifteats__V1__OutageState *o = set_outage(1, SE_T(200), &st);
    ck_assert_msg(o != NULL, "%s", st.message);
    ck_assert(o->enabled);
    ck_assert_ptr_nonnull(o->ends_at);
    int64_t ends_us = o->ends_at->seconds * 1000000 + o->ends_at->nanos / 1000;
    ck_assert_int_ge(ends_us, before_us + SE_T(200) * 1000LL - 1000000);
    se_msg_free(&o->base);
    ck_assert_ptr_null(charge("order-11", 11, 100, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
    Swifteats__V1__ChargeRecord *r = NULL;
    int64_t end = se_test_now_ms() + SE_T(3000);
    while (r == NULL && se_test_now_ms() < end) {
        r = charge("order-11", 11, 100, &st);
        if (r == NULL)
            se_test_sleep_ms(10);
    }
    ck_assert_msg(r != NULL, "the outage did not end: %s", st.message);
    ck_assert_int_ge(se_test_now_ms() - t0, SE_T(200));
    se_msg_free(&r->base);
}
END_TEST

/* ---- latency and concurrency -------------------------------------------------------------------- */

START_TEST(fixed_latency_delays_the_answer)
{
    configure((change){20, 20, -1, -1, -1, -1});
    int64_t t0 = se_test_now_ms();
    se_msg_free(&charge_ok("order-12", 12, 100)->base);
    ck_assert_int_ge(se_test_now_ms() - t0, 20);
}
END_TEST

START_TEST(many_charges_wait_at_once_not_one_after_another)
{
    enum { N = 200 };
    configure((change){50, 50, -1, -1, -1, -1});
    async_results a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    int64_t t0 = se_test_now_ms();
    for (int i = 0; i < N; i++) {
        char key[32];
        snprintf(key, sizeof key, "bulk-%d", i);
        async_start(&a, key, 1000 + i, SE_T(10000));
    }
    SE_POLL_UNTIL(async_done(&a) == N, 10000);
    int64_t took = se_test_now_ms() - t0;
    ck_assert_int_eq(async_done(&a), N);
    ck_assert_msg(a.ok == N, "%d of %d ok; last: %s %s", a.ok, N, se_status_name(a.last_code),
                  a.last_message);
    /* serialized they would take N x 50 ms = 10 s */
    ck_assert_msg(took < SE_T(2000), "%d charges took %lld ms", N, (long long)took);
    ck_assert_int_eq(ledger_total(0), N);
    async_free(&a);
}
END_TEST

START_TEST(same_seed_gives_the_same_fates)
{
    int first[16], second[16];
    for (int round = 0; round < 2; round++) {
        reset_gateway();
        Swifteats__V1__GatewayBehaviour b = behaviour_of(&(change){-1, -1, -1, 0.5, -1, -1});
        b._seed_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___SEED_SEED;
        b.seed = 7;
        se_status st;
        Swifteats__V1__GatewayBehaviour *now = configure_raw(0, &b, &st);
        ck_assert_msg(now != NULL, "%s", st.message);
        ck_assert(now->seed == 7);
        se_msg_free(&now->base);
        for (int i = 0; i < 16; i++) {
            char key[32];
            snprintf(key, sizeof key, "seed-%d-%d", round, i);
            Swifteats__V1__ChargeRecord *r = charge_ok(key, 100 + i, 100);
            (round == 0 ? first : second)[i] = r->status;
            se_msg_free(&r->base);
        }
    }
    int declined = 0;
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(first[i], second[i]);
        declined += first[i] == SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED;
    }
    ck_assert(declined > 0 && declined < 16);
}
END_TEST

/* ---- validation ------------------------------------------------------------------------------------ */

static void expect_invalid_charge(Swifteats__V1__ChargeRequest req, const char *field)
{
    se_status st;
    ck_assert_int_eq(charge_code(&req, &st), GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.message, field) != NULL, "\"%s\" does not name %s", st.message,
                  field);
}

START_TEST(charge_validation_names_the_field)
{
    char long_key[130];
    memset(long_key, 'k', 129);
    long_key[129] = '\0';
    Swifteats__V1__ChargeRequest r;
    expect_invalid_charge(charge_req("", 1, 100), "idempotency_key");
    expect_invalid_charge(charge_req(long_key, 1, 100), "idempotency_key");
    expect_invalid_charge(charge_req("k", 0, 100), "order_id");
    expect_invalid_charge(charge_req("k", -3, 100), "order_id");
    expect_invalid_charge(charge_req("k", 1, 0), "amount");
    expect_invalid_charge(charge_req("k", 1, -5), "amount");
    const char *bad_currency[] = {"usd", "US", "USDX", "U5D"};
    for (int i = 0; i < 4; i++) {
        r = charge_req("k", 1, 100);
        r.currency = (char *)bad_currency[i];
        expect_invalid_charge(r, "currency");
    }
    long_key[128] = '\0'; /* 128 bytes is fine */
    se_msg_free(&charge_ok(long_key, 1, 100)->base);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->rejected, 10);
    ck_assert_int_eq(s->charge_calls, 11);
    se_msg_free(&s->base);
    ck_assert_int_eq(ledger_total(0), 1);
}
END_TEST

START_TEST(read_and_outage_validation_names_the_field)
{
    se_status st;
    ck_assert_ptr_null(get_charge(NULL, NULL, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.message, "charge_id") && strstr(st.message, "idempotency_key"), "%s",
                  st.message);
    ck_assert_ptr_null(get_charge("ch_000001", "k", &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_null(get_charge("ch_999999", NULL, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    struct {
        int64_t order;
        int status, page, size;
        const char *field;
    } bad[] = {{-1, 0, 0, 0, "order_id"}, {0, 9, 0, 0, "status"}, {0, 0, -1, 0, "page"},
               {0, 0, 0, -1, "page_size"}, {0, 0, 0, 1001, "page_size"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_ptr_null(list(bad[i].order, bad[i].status, bad[i].page, bad[i].size, &st));
        ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
        ck_assert_msg(strstr(st.message, bad[i].field) != NULL, "%s", st.message);
    }
    ck_assert_ptr_null(set_outage(1, -5, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.message, "duration_ms") != NULL, "%s", st.message);
}
END_TEST

/* Configure with c (and timeout_rate = NaN if nan_timeout) must fail naming field. */
static void expect_invalid_configure(change c, int nan_timeout, const char *field)
{
    Swifteats__V1__GatewayBehaviour b = behaviour_of(&c);
    if (nan_timeout) {
        b._timeout_rate_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___TIMEOUT_RATE_TIMEOUT_RATE;
        b.timeout_rate = NAN;
    }
    se_status st;
    ck_assert_ptr_null(configure_raw(0, &b, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strstr(st.message, field) != NULL, "\"%s\" does not name %s", st.message, field);
}

START_TEST(configure_validates_and_changes_only_what_is_given)
{
    se_status st;
    Swifteats__V1__GatewayBehaviour *before = configure_raw(0, NULL, &st); /* a query */
    ck_assert_msg(before != NULL, "%s", st.message);
    ck_assert_int_eq(before->_seed_case, SWIFTEATS__V1__GATEWAY_BEHAVIOUR___SEED_SEED);
    ck_assert(before->seed == 42);
    ck_assert_int_eq(before->timeout_hold_ms, SE_T(300));
    expect_invalid_configure((change){-1, -1, -1, 1.5, -1, -1}, 0, "behaviour.decline_rate");
    expect_invalid_configure((change){-1, -1, -1, -1, 1.01, -1}, 0, "behaviour.transient_error_rate");
    expect_invalid_configure((change){-1, -1, -1, -1, -1, 2}, 0, "behaviour.timeout_rate");
    expect_invalid_configure((change)KEEP, 1, "behaviour.timeout_rate");
    expect_invalid_configure((change){50, 10, -1, -1, -1, -1}, 0, "behaviour.latency_p99_ms");
    expect_invalid_configure((change){500, -1, -1, 0.5, -1, -1}, 0, "latency_median_ms");
    Swifteats__V1__GatewayBehaviour neg = behaviour_of(&(change)KEEP);
    neg._timeout_hold_ms_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___TIMEOUT_HOLD_MS_TIMEOUT_HOLD_MS;
    neg.timeout_hold_ms = -1;
    ck_assert_ptr_null(configure_raw(0, &neg, &st));
    ck_assert_msg(strstr(st.message, "behaviour.timeout_hold_ms"), "%s", st.message);
    neg = behaviour_of(&(change)KEEP);
    neg._latency_median_ms_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___LATENCY_MEDIAN_MS_LATENCY_MEDIAN_MS;
    neg.latency_median_ms = -1;
    ck_assert_ptr_null(configure_raw(0, &neg, &st));
    ck_assert_msg(strstr(st.message, "behaviour.latency_median_ms"), "%s", st.message);
    /* nothing changed (not even the decline_rate of the rejected request) */
    Swifteats__V1__GatewayBehaviour *same = configure_raw(0, NULL, &st);
    ck_assert(same->decline_rate == before->decline_rate);
    ck_assert_int_eq(same->latency_median_ms, before->latency_median_ms);
    /* one field changes, the others stay */
    Swifteats__V1__GatewayBehaviour b = behaviour_of(&(change){-1, -1, -1, 0.25, -1, -1});
    Swifteats__V1__GatewayBehaviour *now = configure_raw(0, &b, &st);
    ck_assert(now->decline_rate == 0.25);
    ck_assert_int_eq(now->timeout_hold_ms, SE_T(300));
    se_msg_free(&now->base);
    b = behaviour_of(&(change){100, 800, -1, -1, -1, -1});
    now = configure_raw(0, &b, &st);
    ck_assert_int_eq(now->latency_median_ms, 100);
    ck_assert_int_eq(now->latency_p99_ms, 800);
    ck_assert(now->decline_rate == 0.25);
    se_msg_free(&now->base);
    /* reset restores the defaults first, then applies */
    b = behaviour_of(&(change){-1, -1, -1, -1, -1, 0.5});
    now = configure_raw(1, &b, &st);
    ck_assert(now->decline_rate == 0);
    ck_assert_int_eq(now->latency_median_ms, 0);
    ck_assert(now->timeout_rate == 0.5);
    se_msg_free(&now->base);
    se_msg_free(&same->base);
    se_msg_free(&before->base);
}
END_TEST

/* ---- ListLedger, GetStats, Reset ---------------------------------------------------------------- */

START_TEST(list_ledger_filters_pages_and_sums)
{
    se_msg_free(&charge_ok("l-1", 1, 1000)->base);
    configure((change){-1, -1, -1, 1, -1, -1});
    se_msg_free(&charge_ok("l-2", 2, 2000)->base);
    configure((change){-1, -1, -1, 0, -1, -1});
    se_msg_free(&charge_ok("l-3", 3, 300)->base);
    se_msg_free(&charge_ok("l-1b", 1, 50)->base);
    se_status st;
    Swifteats__V1__ListLedgerResponse *r = list(0, 0, 0, 0, &st);
    ck_assert_int_eq(r->total, 4);
    ck_assert_int_eq(r->page, 1);
    ck_assert_int_eq(r->page_size, 100);
    ck_assert_int_eq(r->approved_amount, 1350);
    const char *order[] = {"l-1", "l-2", "l-3", "l-1b"}; /* oldest first */
    ck_assert_uint_eq(r->n_charges, 4);
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(r->charges[i]->idempotency_key, order[i]);
    se_msg_free(&r->base);
    r = list(1, 0, 0, 0, &st);
    ck_assert_int_eq(r->total, 2);
    ck_assert_int_eq(r->approved_amount, 1050);
    se_msg_free(&r->base);
    r = list(0, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED, 0, 0, &st);
    ck_assert_int_eq(r->total, 1);
    ck_assert_str_eq(r->charges[0]->idempotency_key, "l-2");
    ck_assert_int_eq(r->approved_amount, 0);
    se_msg_free(&r->base);
    r = list(0, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED, 0, 0, &st);
    ck_assert_int_eq(r->total, 3);
    ck_assert_int_eq(r->approved_amount, 1350);
    se_msg_free(&r->base);
    r = list(0, 0, 2, 2, &st);
    ck_assert_int_eq(r->total, 4);
    ck_assert_int_eq(r->page, 2);
    ck_assert_int_eq(r->page_size, 2);
    ck_assert_uint_eq(r->n_charges, 2);
    ck_assert_str_eq(r->charges[0]->idempotency_key, "l-3");
    ck_assert_str_eq(r->charges[1]->idempotency_key, "l-1b");
    se_msg_free(&r->base);
    r = list(0, 0, 3, 2, &st);
    ck_assert_int_eq(r->total, 4);
    ck_assert_uint_eq(r->n_charges, 0);
    se_msg_free(&r->base);
    r = list(99, 0, 0, 0, &st);
    ck_assert_int_eq(r->total, 0);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(stats_count_every_kind_of_call)
{
    se_status st;
    se_msg_free(&charge_ok("s-1", 1, 100)->base);             /* approved */
    se_msg_free(&charge_ok("s-1", 1, 100)->base);             /* replay */
    configure((change){-1, -1, -1, 1, -1, -1});
    se_msg_free(&charge_ok("s-2", 2, 100)->base);             /* declined */
    configure((change){-1, -1, -1, 0, 1, -1});
    ck_assert_ptr_null(charge("s-3", 3, 100, &st));           /* transient */
    configure((change){-1, -1, -1, -1, 0, -1});
    ck_assert_ptr_null(charge("s-4", 0, 100, &st));           /* invalid */
    se_msg_free((ProtobufCMessage *)set_outage(1, 0, &st));
    ck_assert_ptr_null(charge("s-5", 5, 100, &st));           /* outage */
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->charge_calls, 6);
    ck_assert_int_eq(s->approved, 1);
    ck_assert_int_eq(s->declined, 1);
    ck_assert_int_eq(s->transient_errors, 1);
    ck_assert_int_eq(s->timeouts, 0);
    ck_assert_int_eq(s->outage_rejections, 1);
    ck_assert_int_eq(s->replays, 1);
    ck_assert_int_eq(s->rejected, 1);
    se_msg_free(&s->base);
}
END_TEST

START_TEST(reset_empties_everything_and_restores_the_defaults)
{
    se_msg_free(&charge_ok("r-1", 1, 100)->base);
    configure((change){10, 20, -1, 1, -1, -1});
    se_status st;
    se_msg_free((ProtobufCMessage *)set_outage(1, 0, &st));
    reset_gateway();
    ck_assert_int_eq(ledger_total(0), 0);
    ck_assert_ptr_null(get_charge(NULL, "r-1", &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->charge_calls + s->approved + s->replays + s->rejected, 0);
    se_msg_free(&s->base);
    Swifteats__V1__GatewayBehaviour *b = configure_raw(0, NULL, &st);
    ck_assert(b->decline_rate == 0);
    ck_assert_int_eq(b->latency_median_ms, 0);
    ck_assert(b->seed == 42);
    se_msg_free(&b->base);
    /* no outage, and the key is free again, even with other parameters */
    Swifteats__V1__ChargeRecord *r = charge_ok("r-1", 2, 999);
    ck_assert(!r->replayed);
    se_msg_free(&r->base);
}
END_TEST

START_TEST(reset_while_a_charge_waits_drops_it)
{
    configure((change){SE_T(300), SE_T(300), -1, -1, -1, -1});
    async_results a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    async_start(&a, "w-1", 1, SE_T(5000));
    SE_POLL_UNTIL(paygw_ledger_processing(paygw_service_ledger(svc)) == 1, 2000);
    reset_gateway();
    SE_POLL_UNTIL(async_done(&a) == 1, 3000);
    ck_assert_int_eq(async_done(&a), 1);
    ck_assert_int_eq(a.last_code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_msg(strstr(a.last_message, "reset") != NULL, "%s", a.last_message);
    ck_assert_int_eq(ledger_total(0), 0);
    Swifteats__V1__GatewayStats *s = stats();
    ck_assert_int_eq(s->approved + s->declined + s->transient_errors, 0);
    se_msg_free(&s->base);
    async_free(&a);
}
END_TEST

/* ---- stop ------------------------------------------------------------------------------------------- */

START_TEST(stop_answers_held_calls_at_once)
{
    /* one charge waiting out a long latency, one processed and held */
    configure((change){0, 0, SE_T(60000), -1, -1, 1});
    async_results held = {.mu = PTHREAD_MUTEX_INITIALIZER};
    async_start(&held, "x-held", 1, SE_T(120000));
    SE_POLL_UNTIL(ledger_total(0) == 1, 2000);
    ck_assert_int_eq(ledger_total(0), 1);
    configure((change){SE_T(60000), SE_T(60000), -1, -1, -1, 0});
    async_results waiting = {.mu = PTHREAD_MUTEX_INITIALIZER};
    async_start(&waiting, "x-waiting", 2, SE_T(120000));
    SE_POLL_UNTIL(paygw_ledger_processing(paygw_service_ledger(svc)) == 1, 2000);
    ck_assert_uint_eq(paygw_timer_pending(paygw_service_timer(svc)), 2);
    int64_t t0 = se_test_now_ms();
    paygw_service_stop(svc);
    SE_POLL_UNTIL(async_done(&held) == 1 && async_done(&waiting) == 1, 2000);
    ck_assert_int_lt(se_test_now_ms() - t0, SE_T(2000));
    ck_assert_int_eq(held.ok, 1); /* processed: answered with its record */
    ck_assert_str_eq(held.last->idempotency_key, "x-held");
    ck_assert_int_eq(waiting.last_code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_str_eq(waiting.last_message, "payment gateway shutting down");
    ck_assert_int_eq(ledger_total(0), 1); /* the waiting one was never processed */
    se_status st;
    ck_assert_ptr_null(charge("x-new", 3, 100, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_str_eq(st.message, "payment gateway shutting down");
    async_free(&held);
    async_free(&waiting);
}
END_TEST

static Suite *payment_gateway_suite(void)
{
    Suite *s = suite_create("payment_gateway");
    TCase *tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, approved_charge_is_in_the_ledger);
    tcase_add_test(tc, decline_is_ok_with_a_decline_code);
    tcase_add_test(tc, transient_error_is_unavailable_and_leaves_no_trace);
    tcase_add_test(tc, timeout_exceeds_the_deadline_but_the_charge_exists);
    tcase_add_test(tc, timeout_answers_after_the_hold_when_the_client_waits);
    tcase_add_test(tc, same_key_twice_is_one_charge_replayed);
    tcase_add_test(tc, same_key_with_other_parameters_is_a_conflict);
    tcase_add_test(tc, same_key_while_processing_is_aborted);
    tcase_add_test(tc, outage_refuses_charges_at_once_until_turned_off);
    tcase_add_test(tc, outage_with_a_duration_ends_by_itself);
    tcase_add_test(tc, fixed_latency_delays_the_answer);
    tcase_add_test(tc, many_charges_wait_at_once_not_one_after_another);
    tcase_add_test(tc, same_seed_gives_the_same_fates);
    tcase_add_test(tc, charge_validation_names_the_field);
    tcase_add_test(tc, read_and_outage_validation_names_the_field);
    tcase_add_test(tc, configure_validates_and_changes_only_what_is_given);
    tcase_add_test(tc, list_ledger_filters_pages_and_sums);
    tcase_add_test(tc, stats_count_every_kind_of_call);
    tcase_add_test(tc, reset_empties_everything_and_restores_the_defaults);
    tcase_add_test(tc, reset_while_a_charge_waits_drops_it);
    tcase_add_test(tc, stop_answers_held_calls_at_once);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(payment_gateway_suite());
}
