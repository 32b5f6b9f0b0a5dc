/* se_redis_stream.h - Redis Stream consumer groups on se_redis: what every
 * worker that consumes a stream through a group does the same way.
 *
 *   group     XGROUP CREATE <stream> <group> 0 MKSTREAM, BUSYGROUP ignored
 *             (so entries added before the group existed are not skipped)
 *   read      XREADGROUP GROUP <group> <consumer> COUNT n [BLOCK ms]
 *             STREAMS <stream> <from>: ">" for new entries, an id ("0"
 *             first) to re-read this consumer's pending entries (PEL);
 *             a vanished group (NOGROUP) is re-created and read once more
 *   claim     XAUTOCLAIM of entries idle too long (a crashed consumer's)
 *   touch     XCLAIM ... JUSTID to self: resets the idle time of entries
 *             still being worked on, so nobody claims them
 *   ack       XACK + XDEL in one pipeline (XLEN stays the backlog)
 *   dead      XADD <dead_stream> * <original fields> <extra pairs>
 *
 * Replies are checked for shape before the caller sees them: a read or a
 * claim hands back the reply and its array of entries, each guaranteed to
 * be [id, [field, value, ...] | nil] with string ids shorter than
 * SE_REDIS_STREAM_ID_MAX and string fields and values (nil: the entry was
 * XDELed while pending; it only needs acknowledging). A reply of another
 * shape is an error, never trusted. The caller parses the fields itself:
 * it may keep pointers into the reply (no copies) or copy what it needs.
 *
 * Log lines: the events are "<log_prefix>_<what>" so each worker keeps its
 * own names: _group_created (info), _group_failed, _read_failed,
 * _claim_failed, _bad_reply, _ack_failed (errors), _touch_failed (warn).
 * I/O errors and error replies are also logged by se_redis ("redis_error").
 *
 * OWNERSHIP: replies returned through `reply` are the caller's
 * (freeReplyObject). The connection is always the caller's: pass a reading
 * connection whose command timeout covers the BLOCK for read, and any
 * connection (e.g. one from a pool) for the rest.
 * THREAD: like se_redis, a connection is used by one thread at a time; the
 * functions keep no state of their own and are safe from any thread.
 * ON ERROR: -1 with the cause logged; the connection reconnects on its next
 * use. Every operation is idempotent: a retry repairs a half-done one.
 */
#ifndef SE_REDIS_STREAM_H
#define SE_REDIS_STREAM_H

#include <stddef.h>

#include "se_redis.h"

/* Room for any stream entry id ("18446744073709551615-18446744073709551615"
 * and its NUL) and for an XAUTOCLAIM cursor. */
#define SE_REDIS_STREAM_ID_MAX 48

/* The names of one consumer of one stream, embedded in its user's struct.
 * OWNERSHIP: the strings are the struct's own (se_redis_stream_init copies
 * them, se_redis_stream_dispose frees them); read-only in between. */
typedef struct se_redis_stream {
    char *stream;      /* the stream's key */
    char *group;       /* the consumer group */
    char *consumer;    /* this consumer's name in the group */
    char *dead_stream; /* where dead letters go */
    char *log_prefix;  /* "payment_queue": "payment_queue_read_failed" */
} se_redis_stream;

void se_redis_stream_init(se_redis_stream *s, const char *stream, const char *group,
                          const char *consumer, const char *dead_stream,
                          const char *log_prefix);
void se_redis_stream_dispose(se_redis_stream *s); /* zeroed afterwards; twice is fine */

/* The consumer name from environment variable `var` (e.g.
 * "SE_PAYMENT_CONSUMER"), or "<hostname>-<pid>" when it is unset, so
 * restarts and replicas get names of their own.
 * OWNERSHIP: the default lives in a static buffer rewritten by the next
 * call. THREAD: configuration time (main), one caller at a time. */
const char *se_redis_stream_consumer_from_env(const char *var);

/* A connection for se_redis_stream_read: SE_REDIS_FAIL_FAST (so a worker
 * starts and keeps running while Redis is down: each call is then one
 * short connect attempt) with a command timeout of timeout_ms (<= 0: 1000)
 * plus max_block_ms, so a blocked XREADGROUP is not taken for a dead
 * server. OWNERSHIP: the caller's (se_redis_destroy). ON ERROR: NULL only
 * for a bad URL (err filled, logged). */
se_redis *se_redis_stream_reader_create(const char *url, int timeout_ms, int max_block_ms,
                                        se_redis_err *err);

/* XGROUP CREATE <stream> <group> 0 MKSTREAM; an existing group is fine
 * (0). Logs _group_created when it made the group. */
int se_redis_stream_ensure_group(se_redis *r, const se_redis_stream *s);

/* XREADGROUP ... COUNT count [BLOCK block_ms] STREAMS <stream> <from>.
 * from ">": new entries, blocking up to block_ms when > 0; any other id:
 * this consumer's pending entries after it, never blocking. On NOGROUP
 * the group is re-created and the read tried once more.
 * Returns the number of entries (0 also on a BLOCK timeout); when > 0,
 * *reply is the caller's and *entries the array of them inside it (else
 * both NULL). ON ERROR: -1 (logged, both NULL). */
int se_redis_stream_read(se_redis *r, const se_redis_stream *s, const char *from, int count,
                         int block_ms, redisReply **reply, const redisReply **entries);

/* XAUTOCLAIM <stream> <group> <consumer> <min_idle_ms> <cursor> COUNT
 * count: takes over entries idle for at least min_idle_ms, whoever held
 * them. `cursor` (SE_REDIS_STREAM_ID_MAX bytes, "0-0" to start) is
 * advanced; "0-0" again means the scan is complete. *n_deleted (may be
 * NULL) gets how many pending entries no longer existed in the stream
 * (Redis dropped them from the PEL). Returns and fills *reply / *entries
 * like se_redis_stream_read. ON ERROR: -1 (logged). */
int se_redis_stream_autoclaim(se_redis *r, const se_redis_stream *s, int min_idle_ms,
                              int count, char *cursor, redisReply **reply,
                              const redisReply **entries, size_t *n_deleted);

/* The delivery count of one pending entry (XPENDING <stream> <group> id id
 * 1), this delivery included; 1 when it is no longer pending (acknowledged
 * meanwhile). ON ERROR: -1 (logged). */
int se_redis_stream_deliveries(se_redis *r, const se_redis_stream *s, const char *id);

/* XCLAIM <stream> <group> <consumer> 0 <ids...> JUSTID: resets the idle
 * time of entries this consumer works on (not counted as a delivery).
 * n == 0 is a no-op. ON ERROR: -1 (logged as a warning). */
int se_redis_stream_touch(se_redis *r, const se_redis_stream *s, const char *const *ids,
                          size_t n);

/* XACK <stream> <group> ids... and XDEL <stream> ids... in one pipeline,
 * sent again once on a fresh connection after an I/O error. n == 0 is a
 * no-op. ON ERROR: -1 (logged). */
int se_redis_stream_ack(se_redis *r, const se_redis_stream *s, const char *const *ids,
                        size_t n);

/* XADD <dead_stream> * fields[0..n_fields) extra[0..n_extra): the entry's
 * original field/value strings (binary-safe with `lens`, NULL when they
 * are NUL-terminated) followed by the caller's NUL-terminated pairs (the
 * reason, the original id...). Does NOT acknowledge the original: a crash
 * in between dead-letters it twice, never loses it. ON ERROR: -1
 * (logged by se_redis). */
int se_redis_stream_dead_letter(se_redis *r, const se_redis_stream *s,
                                const char *const *fields, const size_t *lens,
                                size_t n_fields, const char *const *extra, size_t n_extra);

/* The id and the fields array ([f, v, ...], NULL when the entry was
 * deleted while pending) of an entry of a checked reply. */
const char *se_redis_stream_entry_id(const redisReply *entry);
const redisReply *se_redis_stream_entry_fields(const redisReply *entry);

#endif
