/* paygw_handlers.c - the PaymentGatewayService RPCs other than Charge
 * (paygw_charge.c): reads of the ledger and the admin controls.
 *
 * Every handler here is quick (memory only) and completes its call before
 * returning; ctx is the paygw_service. Validation failures are
 * INVALID_ARGUMENT with a message naming the field. Reads are packed under
 * the ledger's lock and sent with se_call_reply_packed.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "paygw_handlers.h"
#include "paygw_service.h"
#include "se_log.h"

#define PAGE_SIZE_DEFAULT 100
#define PAGE_SIZE_MAX 1000

static void reply_packed(se_call *call, paygw_packed *p)
{
    se_call_reply_packed(call, p->data, p->len);
    paygw_packed_free(p);
}

static void get_charge(se_call *call, const Swifteats__V1__GetChargeRequest *req, void *ctx)
{
    paygw_ledger *ledger = paygw_service_ledger(ctx);
    int by_id = req->charge_id[0] != '\0', by_key = req->idempotency_key[0] != '\0';
    if (by_id == by_key) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "exactly one of charge_id and idempotency_key must be given (got %s)",
                     by_id ? "both" : "neither");
        return;
    }
    paygw_packed p;
    int rc = by_id ? paygw_ledger_get_by_id(ledger, req->charge_id, &p)
                   : paygw_ledger_get_by_key(ledger, req->idempotency_key, &p);
    if (rc == 0)
        reply_packed(call, &p);
    else if (by_id)
        se_call_fail(call, GRPC_STATUS_NOT_FOUND, "charge_id \"%.64s\" not found",
                     req->charge_id);
    else if (rc > 0) /* a payer must not conclude "not charged" from this */
        se_call_fail(call, GRPC_STATUS_ABORTED,
                     "a Charge with idempotency_key \"%.64s\" is still being processed; "
                     "retry later", req->idempotency_key);
    else
        se_call_fail(call, GRPC_STATUS_NOT_FOUND, "no charge with idempotency_key \"%.64s\"",
                     req->idempotency_key);
}

static int list_request_or_fail(se_call *call, const Swifteats__V1__ListLedgerRequest *req)
{
    if (req->order_id < 0)
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "order_id must be >= 0 (got %" PRId64 ")", req->order_id);
    else if (protobuf_c_enum_descriptor_get_value(&swifteats__v1__charge_status__descriptor,
                                                  req->status) == NULL)
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "status %d is not a known ChargeStatus value", (int)req->status);
    else if (req->page < 0)
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "page must be >= 0 (got %d)",
                     req->page);
    else if (req->page_size < 0 || req->page_size > PAGE_SIZE_MAX)
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "page_size must be between 0 and %d (got %d)", PAGE_SIZE_MAX,
                     req->page_size);
    else
        return 0;
    return -1;
}

static void list_ledger(se_call *call, const Swifteats__V1__ListLedgerRequest *req, void *ctx)
{
    if (list_request_or_fail(call, req) != 0)
        return;
    paygw_ledger_query q = {
        .order_id = req->order_id,
        .status = req->status,
        .page = req->page > 0 ? req->page : 1,
        .page_size = req->page_size > 0 ? req->page_size : PAGE_SIZE_DEFAULT,
    };
    paygw_packed p;
    paygw_ledger_list(paygw_service_ledger(ctx), &q, &p);
    reply_packed(call, &p);
}

static void log_settings(const char *event, const paygw_settings *s)
{
    se_log_info(event,
                "latency median %d ms p99 %d ms, decline %g, transient %g, timeout %g "
                "(hold %d ms), seed %llu",
                s->latency_median_ms, s->latency_p99_ms, s->decline_rate,
                s->transient_error_rate, s->timeout_rate, s->timeout_hold_ms,
                (unsigned long long)s->seed);
}

static void configure(se_call *call, const Swifteats__V1__ConfigureRequest *req, void *ctx)
{
    paygw_settings now;
    char why[256];
    if (paygw_behaviour_configure(paygw_service_behaviour(ctx), req->reset, req->behaviour, &now,
                                  why, sizeof why) != 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
        return;
    }
    if (req->reset || req->behaviour != NULL)
        log_settings("paygw_configured", &now);
    Swifteats__V1__GatewayBehaviour resp;
    paygw_settings_to_proto(&now, &resp);
    se_call_reply(call, &resp.base);
}

static void set_outage(se_call *call, const Swifteats__V1__SetOutageRequest *req, void *ctx)
{
    int has_duration =
        req->_duration_ms_case == SWIFTEATS__V1__SET_OUTAGE_REQUEST___DURATION_MS_DURATION_MS;
    int64_t duration = has_duration ? req->duration_ms : 0;
    if (duration < 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "duration_ms must be >= 0 (got %" PRId64 ")", duration);
        return;
    }
    paygw_outage now;
    paygw_behaviour_set_outage(paygw_service_behaviour(ctx), req->enabled, duration, &now);
    if (now.enabled)
        se_log_warn("outage_started", "payment gateway outage started (%s)",
                    duration > 0 ? "ends by itself" : "until turned off");
    else
        se_log_info("outage_ended", "payment gateway outage ended by SetOutage");
    Swifteats__V1__OutageState resp = SWIFTEATS__V1__OUTAGE_STATE__INIT;
    Google__Protobuf__Timestamp ends = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    resp.enabled = now.enabled;
    if (now.ends_at_us != 0) {
        ends.seconds = now.ends_at_us / 1000000;
        ends.nanos = (int32_t)(now.ends_at_us % 1000000) * 1000;
        resp.ends_at = &ends;
    }
    se_call_reply(call, &resp.base);
}

static void get_stats(se_call *call, const Swifteats__V1__GetStatsRequest *req, void *ctx)
{
    (void)req;
    paygw_stats *st = paygw_service_stats(ctx);
    Swifteats__V1__GatewayStats resp = SWIFTEATS__V1__GATEWAY_STATS__INIT;
    resp.charge_calls = atomic_load(&st->charge_calls);
    resp.approved = atomic_load(&st->approved);
    resp.declined = atomic_load(&st->declined);
    resp.transient_errors = atomic_load(&st->transient_errors);
    resp.timeouts = atomic_load(&st->timeouts);
    resp.outage_rejections = atomic_load(&st->outage_rejections);
    resp.replays = atomic_load(&st->replays);
    resp.rejected = atomic_load(&st->rejected);
    se_call_reply(call, &resp.base);
}

static void reset(se_call *call, const Swifteats__V1__ResetRequest *req, void *ctx)
{
    (void)req;
    paygw_stats *st = paygw_service_stats(ctx);
    paygw_ledger_clear(paygw_service_ledger(ctx));
    paygw_behaviour_reset(paygw_service_behaviour(ctx));
    atomic_llong *counters[] = {&st->charge_calls, &st->approved, &st->declined,
                                &st->transient_errors, &st->timeouts, &st->outage_rejections,
                                &st->replays, &st->rejected};
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
        atomic_store(counters[i], 0);
    se_log_info("paygw_reset", "ledger, idempotency store and counters emptied; defaults "
                               "restored; no outage");
    Swifteats__V1__ResetResponse resp = SWIFTEATS__V1__RESET_RESPONSE__INIT;
    se_call_reply(call, &resp.base);
}

const swifteats_v1_payment_gateway_service_handlers paygw_handlers = {
    .charge = paygw_charge,
    .get_charge = get_charge,
    .list_ledger = list_ledger,
    .configure = configure,
    .set_outage = set_outage,
    .get_stats = get_stats,
    .reset = reset,
};
