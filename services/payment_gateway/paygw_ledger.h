/* paygw_ledger.h - the gateway's memory: the ledger of processed charges
 * and the idempotency store.
 *
 * DESIGN
 * One slot per idempotency key, in a chained hash table (FNV-1a): the
 * charge's parameters, then its result once processed. A slot is born
 * "processing" when a Charge with a new key starts (paygw_ledger_begin),
 * and either becomes a ledger entry when the latency has passed
 * (paygw_ledger_commit: the charge is processed at that moment, gets its
 * charge id and created_at, and is appended to the ledger array, oldest
 * first) or is removed again (paygw_ledger_abandon: a transient error, or
 * the gateway stopping before it was processed), which frees the key for a
 * retry. So GetCharge and ListLedger see a charge only once it has been
 * processed; a Charge with the same key meanwhile gets ABORTED.
 *
 * Charge ids are "ch_" + a decimal sequence number, at least 6 digits, that
 * never restarts (not even on clear), so an id is unique for the process's
 * lifetime; the entry of an id is found by arithmetic on that number.
 *
 * Clear (Reset) drops everything and bumps the epoch: a charge begun before
 * the clear is neither committed nor counted afterwards (commit/abandon
 * with a stale epoch return -1).
 *
 * Reads return the answer already packed (paygw_packed) under the lock, so
 * no caller ever holds a pointer into the store.
 *
 * LIMITATION (it is a mock): everything lives in memory, grows with every
 * charge until Reset, and a restart forgets the ledger and the keys. A
 * client retrying across a restart can therefore be charged again, which
 * a real processor's durable idempotency store prevents. ListLedger scans
 * the whole ledger (fine for tests and benchmark checks).
 *
 * THREAD: every function is safe from any thread (one mutex).
 */
#ifndef PAYGW_LEDGER_H
#define PAYGW_LEDGER_H

#include <stddef.h>
#include <stdint.h>

#include "paygw_behaviour.h"
#include "swifteats/v1/payment_gateway.pb-c.h"

/* A packed message; free data with paygw_packed_free. */
typedef struct paygw_packed {
    uint8_t *data;
    size_t len;
} paygw_packed;

void paygw_packed_free(paygw_packed *p);

/* What a Charge asks for (validated by the handler). Strings are borrowed
 * and copied by paygw_ledger_begin. */
typedef struct paygw_charge_params {
    const char *idempotency_key; /* 1..128 bytes */
    int64_t order_id;
    int64_t amount;              /* cents */
    const char *currency;        /* 3 upper-case letters */
    const char *customer_id;     /* may be "" */
} paygw_charge_params;

typedef enum paygw_begin {
    PAYGW_BEGIN_NEW,      /* key unknown: now "processing"; *epoch set */
    PAYGW_BEGIN_REPLAY,   /* processed before with the same parameters:
                             *replay holds the record, replayed = true */
    PAYGW_BEGIN_CONFLICT, /* used before with another order_id, amount or
                             currency: why names the field */
    PAYGW_BEGIN_BUSY,     /* same parameters, still processing: why says so */
} paygw_begin;

typedef struct paygw_ledger paygw_ledger;

/* OWNERSHIP: caller destroys (which frees every slot). */
paygw_ledger *paygw_ledger_create(void);
void paygw_ledger_destroy(paygw_ledger *l);

/* Looks the key up and starts a charge if it is new (see paygw_begin).
 * OWNERSHIP: *replay (REPLAY only) is the caller's. */
paygw_begin paygw_ledger_begin(paygw_ledger *l, const paygw_charge_params *p, uint64_t *epoch,
                               paygw_packed *replay, char *why, size_t why_len);

/* The charge begun with (key, epoch) was processed: approved when reason is
 * NULL, else declined with that (static) reason. Appends it to the ledger
 * and packs its record into *record (the caller's).
 * ON ERROR: -1 (nothing recorded) if the ledger was cleared since begin. */
int paygw_ledger_commit(paygw_ledger *l, const char *key, uint64_t epoch,
                        const paygw_decline_reason *reason, paygw_packed *record);

/* The charge begun with (key, epoch) will not be processed: forgets the
 * key. ON ERROR: -1 if the ledger was cleared since begin (nothing to do). */
int paygw_ledger_abandon(paygw_ledger *l, const char *key, uint64_t epoch);

/* A processed charge by id or by key, packed (replayed = false).
 * ON ERROR: -1 when there is none; get_by_key: 1 when a Charge with that
 * key is still being processed (its outcome is not known yet: a caller
 * deciding whether it was charged must ask again). */
int paygw_ledger_get_by_id(paygw_ledger *l, const char *charge_id, paygw_packed *out);
int paygw_ledger_get_by_key(paygw_ledger *l, const char *key, paygw_packed *out);

/* ListLedger with validated, effective arguments (page >= 1, page_size
 * 1..1000; order_id 0 and status UNSPECIFIED mean any): a packed
 * ListLedgerResponse. */
typedef struct paygw_ledger_query {
    int64_t order_id;
    int status; /* Swifteats__V1__ChargeStatus */
    int page;
    int page_size;
} paygw_ledger_query;
void paygw_ledger_list(paygw_ledger *l, const paygw_ledger_query *q, paygw_packed *out);

/* Forgets every charge and key (Reset). */
void paygw_ledger_clear(paygw_ledger *l);

/* Ledger entries and keys being processed, for tests and logs. */
size_t paygw_ledger_entries(paygw_ledger *l);
size_t paygw_ledger_processing(paygw_ledger *l);

#endif
