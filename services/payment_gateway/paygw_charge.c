/* paygw_charge.c - the Charge RPC: an asynchronous handler.
 *
 * DESIGN
 * On a server thread, in this order: count the call; validate
 * (INVALID_ARGUMENT naming the field); an outage answers UNAVAILABLE at
 * once (before the idempotency store: during an outage even a replay is
 * refused, the gateway is "down"); the idempotency store answers a replay
 * at once (no latency, no
 * behaviour: the stored result, replayed = true), a parameter conflict
 * (FAILED_PRECONDITION) or a key still processing (ABORTED); otherwise the
 * key is now "processing" and the charge's whole fate is drawn
 * (paygw_behaviour_draw) and registered with the timer for when its
 * latency has passed. The handler returns without completing the call.
 *
 * On the timer thread, when the latency has passed (on_processed):
 *   transient  -> the key is forgotten, UNAVAILABLE (never existed);
 *   approve/decline -> the charge is processed NOW: appended to the ledger
 *                 (paygw_ledger_commit) and answered;
 *   timeout    -> processed and recorded now, but answered only
 *                 timeout_hold_ms later (on_held), or at the client's
 *                 deadline if that comes first: the client has given up by
 *                 then and gets DEADLINE_EXCEEDED anyway, and the call is
 *                 not kept alive for nothing.
 * So GetCharge/ListLedger see a charge only once its latency has passed,
 * and a retry with the same key while the first Charge waits gets ABORTED,
 * while a retry during a timed-out charge's hold gets the replay.
 *
 * Every registered call is completed exactly once: by the timer thread, or
 * by paygw_timer_stop on shutdown (flushed: a charge not yet processed is
 * forgotten and fails UNAVAILABLE "payment gateway shutting down"; a held
 * one is answered with its record). A call whose client went away is still
 * completed (se_call_fail, cheap), which frees it.
 *
 * A Reset while a charge waits makes its commit fail (stale epoch): the
 * charge is not recorded and answers UNAVAILABLE.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paygw_handlers.h"
#include "paygw_service.h"
#include "se_alloc.h"
#include "se_time.h"
#include "se_log.h"

#define KEY_MAX 128

/* A charge between its handler and its answer. */
typedef struct pending_charge {
    paygw_service *svc;
    se_call *call;         /* completed exactly once, then never touched */
    uint64_t epoch;        /* of the ledger at begin */
    paygw_draw draw;
    paygw_packed record;   /* after processing: the packed ChargeRecord */
    char key[KEY_MAX + 1]; /* idempotency key */
} pending_charge;

static void pending_free(pending_charge *pc)
{
    paygw_packed_free(&pc->record);
    free(pc);
}

static const char *fate_name(paygw_fate f)
{
    static const char *const names[] = {"approved", "declined", "transient_error", "timeout"};
    return names[f];
}

/* A debug line with the call's request id (before the call is completed:
 * the id lives in the call). */
static void log_outcome(pending_charge *pc, const char *what)
{
    if (!se_log_enabled(SE_LOG_DEBUG))
        return;
    const char *prev = se_log_request_id();
    se_log_set_request_id(se_call_request_id(pc->call));
    se_log_debug("paygw_charge", "idempotency_key \"%.64s\": %s (%s, latency %" PRId64 " ms)",
                 pc->key, what, fate_name(pc->draw.fate), pc->draw.latency_ns / 1000000);
    se_log_set_request_id(prev);
}

/* ---- answers (timer thread, or the stopping thread) ---------------------------- */

static void answer(pending_charge *pc)
{
    if (se_call_is_cancelled(pc->call))
        se_call_fail(pc->call, GRPC_STATUS_DEADLINE_EXCEEDED,
                     "the deadline passed before the gateway answered");
    else
        se_call_reply_packed(pc->call, pc->record.data, pc->record.len);
    pending_free(pc);
}

static void fail_unavailable(pending_charge *pc, const char *msg)
{
    se_call_fail(pc->call, GRPC_STATUS_UNAVAILABLE, "%s", msg);
    pending_free(pc);
}

static void on_held(void *arg, int flushed)
{
    (void)flushed; /* processed either way: the record is the truth */
    answer(arg);
}

/* Registers the late answer of a timed-out charge; 0, or -1 when the timer
 * is stopped (answer now). */
static int hold_answer(pending_charge *pc)
{
    int64_t now = se_mono_ns();
    int64_t wait_ms = pc->draw.hold_ms;
    int64_t left_ms = se_call_time_left_ms(pc->call); /* INT64_MAX: no deadline */
    if (left_ms < wait_ms)
        wait_ms = left_ms > 0 ? left_ms : 0;
    return paygw_timer_add(paygw_service_timer(pc->svc), now + wait_ms * 1000000, on_held, pc);
}

static void on_processed(void *arg, int flushed)
{
    pending_charge *pc = arg;
    paygw_ledger *ledger = paygw_service_ledger(pc->svc);
    paygw_stats *st = paygw_service_stats(pc->svc);
    if (flushed) {
        log_outcome(pc, "dropped: the gateway is stopping");
        paygw_ledger_abandon(ledger, pc->key, pc->epoch);
        fail_unavailable(pc, "payment gateway shutting down");
        return;
    }
    if (pc->draw.fate == PAYGW_FATE_TRANSIENT) {
        log_outcome(pc, "refused");
        if (paygw_ledger_abandon(ledger, pc->key, pc->epoch) == 0)
            atomic_fetch_add(&st->transient_errors, 1);
        fail_unavailable(pc, "payment gateway temporarily unavailable; retry with the same "
                             "idempotency_key");
        return;
    }
    const paygw_decline_reason *reason =
        pc->draw.fate == PAYGW_FATE_DECLINE ? paygw_decline_reason_at(pc->draw.decline_reason)
                                            : NULL;
    if (paygw_ledger_commit(ledger, pc->key, pc->epoch, reason, &pc->record) != 0) {
        log_outcome(pc, "dropped: the gateway was reset meanwhile");
        fail_unavailable(pc, "payment gateway was reset while the charge was processing; "
                             "nothing was charged");
        return;
    }
    atomic_fetch_add(reason != NULL ? &st->declined : &st->approved, 1);
    log_outcome(pc, "processed");
    if (pc->draw.fate == PAYGW_FATE_TIMEOUT) {
        atomic_fetch_add(&st->timeouts, 1);
        if (hold_answer(pc) == 0)
            return;
    }
    answer(pc);
}

/* ---- the handler (server thread) ------------------------------------------------- */

static int currency_ok(const char *c)
{
    if (strlen(c) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (c[i] < 'A' || c[i] > 'Z')
            return 0;
    return 1;
}

/* Checks the fields in declaration order: -1 with why the first bad one is
 * wrong (into why), or 0 when req is a valid Charge. */
static int charge_request_check(const Swifteats__V1__ChargeRequest *req, char *why, size_t n)
{
    size_t kl = strlen(req->idempotency_key);
    if (kl == 0)
        snprintf(why, n, "idempotency_key is required");
    else if (kl > KEY_MAX)
        snprintf(why, n, "idempotency_key must be at most %d bytes (got %zu)", KEY_MAX, kl);
    else if (req->order_id <= 0)
        snprintf(why, n, "order_id must be a positive integer (got %" PRId64 ")", req->order_id);
    else if (req->amount <= 0)
        snprintf(why, n, "amount must be a positive number of cents (got %" PRId64 ")",
                 req->amount);
    else if (req->currency[0] != '\0' && !currency_ok(req->currency))
        snprintf(why, n, "currency must be 3 upper-case letters, e.g. USD (got \"%.16s\")",
                 req->currency);
    else
        return 0;
    return -1;
}

/* Answers from the idempotency store, or returns 0 with the key now
 * processing (*epoch set). */
static int begin_or_answer(se_call *call, paygw_service *svc, const paygw_charge_params *p,
                           uint64_t *epoch)
{
    paygw_stats *st = paygw_service_stats(svc);
    paygw_packed replay = {0};
    char why[256];
    switch (paygw_ledger_begin(paygw_service_ledger(svc), p, epoch, &replay, why, sizeof why)) {
    case PAYGW_BEGIN_NEW:
        return 0;
    case PAYGW_BEGIN_REPLAY:
        atomic_fetch_add(&st->replays, 1);
        se_call_reply_packed(call, replay.data, replay.len);
        paygw_packed_free(&replay);
        return -1;
    case PAYGW_BEGIN_CONFLICT:
        atomic_fetch_add(&st->rejected, 1);
        se_call_fail(call, GRPC_STATUS_FAILED_PRECONDITION, "%s", why);
        return -1;
    case PAYGW_BEGIN_BUSY:
    default:
        atomic_fetch_add(&st->rejected, 1);
        se_call_fail(call, GRPC_STATUS_ABORTED, "%s", why);
        return -1;
    }
}

void paygw_charge(se_call *call, const Swifteats__V1__ChargeRequest *req, void *ctx)
{
    paygw_service *svc = ctx;
    paygw_stats *st = paygw_service_stats(svc);
    atomic_fetch_add(&st->charge_calls, 1);
    char why[200];
    if (charge_request_check(req, why, sizeof why) != 0) {
        atomic_fetch_add(&st->rejected, 1); /* counted before the answer: a
                                               client may read the stats next */
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", why);
        return;
    }
    if (paygw_behaviour_in_outage(paygw_service_behaviour(svc))) {
        atomic_fetch_add(&st->outage_rejections, 1);
        se_call_fail(call, GRPC_STATUS_UNAVAILABLE, "payment gateway outage");
        return;
    }
    paygw_charge_params p = {req->idempotency_key, req->order_id, req->amount,
                             req->currency[0] ? req->currency : "USD", req->customer_id};
    uint64_t epoch;
    if (begin_or_answer(call, svc, &p, &epoch) != 0)
        return;
    pending_charge *pc = se_xcalloc(1, sizeof *pc);
    pc->svc = svc;
    pc->call = call;
    pc->epoch = epoch;
    memcpy(pc->key, req->idempotency_key, strlen(req->idempotency_key) + 1);
    paygw_behaviour_draw(paygw_service_behaviour(svc), &pc->draw);
    int64_t due = se_mono_ns() + pc->draw.latency_ns;
    if (paygw_timer_add(paygw_service_timer(svc), due, on_processed, pc) != 0) {
        paygw_ledger_abandon(paygw_service_ledger(svc), pc->key, pc->epoch);
        fail_unavailable(pc, "payment gateway shutting down");
    }
}
