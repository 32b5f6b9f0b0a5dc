/* location_stream.h - the location reports' Redis Stream, seen from the
 * worker (notes/logistics-contract.md):
 *
 *   stream  SE_LOCATION_STREAM ("se:locations"), entries
 *           {loc: <packed swifteats.v1.Location>, rid: <request id>}
 *   group   SE_LOCATION_GROUP ("location-workers"), created idempotently
 *           with XGROUP CREATE <stream> <group> 0 MKSTREAM (BUSYGROUP ignored)
 *   dead    SE_LOCATION_DEAD_STREAM ("<stream>:dead"): the original fields
 *           + error + id (the original entry id)
 *
 * The consumer-group commands are se_redis_stream's (runtime/
 * se_redis_stream.h); this module adds the connections and the batches.
 * Every call is one round trip, whatever the batch size: reads return a
 * whole batch, location_stream_ack sends XACK and XDEL for all ids in one
 * pipeline (so XLEN is the backlog). Delivery counts are only looked up
 * for the few entries that need one (poison candidates), one XPENDING each.
 *
 * Connections: `reader` (timeout = SE_REDIS_TIMEOUT_MS + the longest BLOCK)
 * for XREADGROUP/XAUTOCLAIM, `cmd` for the rest; both fail fast while Redis
 * is down (SE_REDIS_FAIL_FAST) and reconnect on the next call.
 *
 * THREAD: one thread (the worker's loop). ON ERROR: -1 with the cause
 * logged; every operation is idempotent, a retry repairs a half-done one.
 */
#ifndef LOCATION_STREAM_H
#define LOCATION_STREAM_H

#include "location_batch.h"
#include "se_redis.h"

typedef struct location_stream_config {
    const char *redis_url;   /* SE_REDIS_URL */
    int redis_timeout_ms;    /* SE_REDIS_TIMEOUT_MS (1000) */
    const char *stream;      /* SE_LOCATION_STREAM */
    const char *group;       /* SE_LOCATION_GROUP */
    const char *consumer;    /* SE_LOCATION_CONSUMER */
    const char *dead_stream; /* SE_LOCATION_DEAD_STREAM */
    int max_block_ms;        /* longest BLOCK a read asks for */
} location_stream_config;

typedef struct location_stream location_stream;

/* OWNERSHIP: cfg's strings are copied. ON ERROR: NULL (bad URL), logged. */
location_stream *location_stream_create(const location_stream_config *cfg);
void location_stream_destroy(location_stream *s); /* NULL is fine */

/* The command connection (for the state scripts: same thread). */
se_redis *location_stream_redis(location_stream *s);

/* XGROUP CREATE <stream> <group> 0 MKSTREAM; an existing group is fine. */
int location_stream_ensure_group(location_stream *s);

/* XREADGROUP GROUP g c COUNT count [BLOCK block_ms] STREAMS s <from>:
 * from ">" reads new entries (BLOCK if block_ms > 0), any other id re-reads
 * this consumer's pending entries after it (no BLOCK). Re-creates a
 * vanished group (NOGROUP) once. Returns the number of entries put in b
 * (0: none, b empty), or -1. */
int location_stream_read(location_stream *s, const char *from, int count, int block_ms,
                         location_batch *b);

/* XAUTOCLAIM s g c min_idle <cursor> COUNT count: takes over entries idle
 * for min_idle_ms; `cursor` (>= 48 bytes, "0-0" to start) is advanced,
 * "0-0" again when the scan is complete. Returns the entries in b, or -1. */
int location_stream_autoclaim(location_stream *s, int min_idle_ms, int count, char *cursor,
                              location_batch *b);

/* The delivery count of one pending entry (XPENDING s g id id 1); 1 when
 * it is no longer pending; -1 on error. */
int location_stream_deliveries(location_stream *s, const char *id);

/* XACK then XDEL of ids[0..n-1] in one pipeline. */
int location_stream_ack(location_stream *s, const char *const *ids, size_t n);

/* XADD <dead> * <original fields> error <error> id <id> (not acknowledged:
 * the caller acks it with the batch; a crash in between may dead-letter it
 * twice, never lose it). */
int location_stream_dead_letter(location_stream *s, const location_entry *e,
                                const char *error);

#endif
