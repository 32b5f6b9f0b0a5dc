/* payment_queue.h - the payment jobs' Redis Stream, seen from the worker:
 * consumer-group reads, acknowledgement, reclaiming entries of crashed
 * consumers, keeping this consumer's own entries fresh, and the dead-letter
 * stream. The Redis side of the contract in notes/payment-contract.md:
 *
 *   stream  SE_PAYMENT_STREAM ("se:payment:jobs"), entries
 *           {order_id: <decimal int64>, request_id: <id>}
 *   group   SE_PAYMENT_GROUP ("payment-workers"), created idempotently with
 *           XGROUP CREATE <stream> <group> 0 MKSTREAM (BUSYGROUP ignored),
 *           so entries added before the group existed are not skipped
 *   dead    SE_PAYMENT_DEAD_STREAM ("se:payment:dead"): the original fields
 *           + reason + deliveries + source_id
 *
 * The commands are se_redis_stream's (runtime/se_redis_stream.h); this
 * module adds the connections, the payment entry and delivery counts.
 * An entry stays in the group's pending list (PEL) from its delivery until
 * payment_queue_ack (XACK + XDEL in one pipeline, keeping the stream short). Entries of a
 * consumer that stopped are taken over with XAUTOCLAIM once idle long
 * enough; to keep that from stealing a live job, the worker refreshes the
 * idle time of its own in-flight entries (payment_queue_touch: XCLAIM to
 * itself with JUSTID, which does not count as a delivery).
 *
 * Connections: the reading functions (ensure_group, read, autoclaim, touch)
 * use one dedicated connection whose timeout covers the BLOCK time: call
 * them from ONE thread (the dispatcher). ack and dead_letter use a small
 * pool and are safe from any thread. Both open lazily and fail fast while
 * Redis is down (each call is then one short connect attempt), so the
 * worker starts and keeps running without Redis and resumes when it is
 * back.
 *
 * ON ERROR: every function returns -1 with the cause logged ("redis_error"
 * from se_redis plus a line naming the stream operation); nothing is
 * half-done that a retry would not repair (all operations are idempotent).
 */
#ifndef PAYMENT_QUEUE_H
#define PAYMENT_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "se_redis_stream.h"

typedef struct payment_queue_config {
    const char *redis_url;   /* SE_REDIS_URL */
    int redis_timeout_ms;    /* SE_REDIS_TIMEOUT_MS (1000): connect and
                                command timeout (reads add their BLOCK) */
    int pool_size;           /* SE_REDIS_POOL_SIZE (4): ack/dead-letter pool */
    const char *stream;      /* SE_PAYMENT_STREAM */
    const char *group;       /* SE_PAYMENT_GROUP */
    const char *consumer;    /* SE_PAYMENT_CONSUMER */
    const char *dead_stream; /* SE_PAYMENT_DEAD_STREAM */
    int max_block_ms;        /* longest BLOCK a read will ask for */
} payment_queue_config;

/* One delivered stream entry. OWNERSHIP: the receiver frees it with
 * payment_entry_free. */
typedef struct payment_entry {
    char id[SE_REDIS_STREAM_ID_MAX]; /* stream entry id, "1700000000000-0" */
    int64_t order_id;      /* > 0, or 0 when "order_id" is missing or not a
                              positive decimal int64 (a poison entry) */
    char request_id[64];   /* "request_id" if present and header-safe, else
                              "" (the worker then makes one up) */
    int deliveries;        /* delivery count, this delivery included */
    int deleted;           /* pending, but its entry was XDELed: nothing to
                              process, only to acknowledge */
    size_t n_fields;       /* number of strings in `fields` (pairs) */
    char **fields;         /* owned: field, value, field, value ... */
} payment_entry;

void payment_entry_free(payment_entry *e); /* NULL is fine */

/* Parses an order_id field: a positive decimal int64 without sign, spaces
 * or leading zeros; 0 when it is anything else. */
int64_t payment_parse_order_id(const char *s);

typedef struct payment_queue payment_queue;

/* OWNERSHIP: cfg's strings are copied. ON ERROR: NULL (bad URL), logged. */
payment_queue *payment_queue_create(const payment_queue_config *cfg);
void payment_queue_destroy(payment_queue *q);

/* XGROUP CREATE <stream> <group> 0 MKSTREAM; an existing group is fine.
 * THREAD: the reading thread. */
int payment_queue_ensure_group(payment_queue *q);

/* XREADGROUP GROUP <group> <consumer> COUNT <count> [BLOCK <block_ms>]
 * STREAMS <stream> <from_id>: from_id ">" for new entries (deliveries 1),
 * or an id ("0" first) to re-read this consumer's own pending entries after
 * it (delivery counts from XPENDING; no BLOCK then). Re-creates the group
 * when it vanished (NOGROUP) and tries once more.
 * Returns the number of entries stored in out[0 .. count-1] (0 on a BLOCK
 * timeout), or -1. THREAD: the reading thread. */
int payment_queue_read(payment_queue *q, const char *from_id, int count, int block_ms,
                       payment_entry **out);

/* XAUTOCLAIM <stream> <group> <consumer> <min_idle_ms> <cursor> COUNT
 * <count>: takes over entries idle for at least min_idle_ms (whoever held
 * them), with their delivery counts (XPENDING). `cursor` ("0-0" to start,
 * at least 48 bytes) is updated; "0-0" again means the scan is complete.
 * Returns the number of entries in out[0 .. count-1], or -1. THREAD: the
 * reading thread. */
int payment_queue_autoclaim(payment_queue *q, int min_idle_ms, int count, char *cursor,
                            payment_entry **out);

/* XCLAIM <stream> <group> <consumer> 0 <ids...> JUSTID: resets the idle time
 * of entries this consumer is working on, so no other consumer reclaims
 * them. THREAD: the reading thread. */
int payment_queue_touch(payment_queue *q, const char *const *ids, size_t n);

/* XACK + XDEL of one entry (one pipeline). THREAD: any. */
int payment_queue_ack(payment_queue *q, const char *id);

/* XADD <dead_stream> * <original fields> reason <reason> deliveries <n>
 * source_id <id>, then payment_queue_ack. A crash in between leaves the
 * entry pending, so it may be dead-lettered twice, never lost. THREAD: any. */
int payment_queue_dead_letter(payment_queue *q, const payment_entry *e, const char *reason);

#endif
