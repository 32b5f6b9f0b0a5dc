/* location_batch.h - one batch of location reports read from the stream:
 * the entries of one XREADGROUP / XAUTOCLAIM reply, decoded and checked.
 *
 * An entry's strings (id, fields, the packed "loc") are NOT copied: they
 * point into the Redis reply, which the batch keeps until it is freed, so a
 * batch of 500 reports costs one reply plus one array of entries and the
 * decoded messages (protobuf-c unpack).
 *
 * Decoding also does the checks the history table would otherwise refuse
 * (driver_id 1..64 bytes, latitude -90..90, longitude -180..180, a
 * timestamp): such an entry is a poison candidate (`error` set), never sent
 * to Redis state or PostgreSQL.
 *
 * OWNERSHIP: the batch owns the reply, the entries and the messages;
 * location_batch_free releases everything. THREAD: one thread at a time.
 */
#ifndef LOCATION_BATCH_H
#define LOCATION_BATCH_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "swifteats/v1/common.pb-c.h"

/* What became of an entry in this pass. */
typedef enum location_fate {
    LOCATION_PENDING = 0, /* not done: stays in the PEL, retried later */
    LOCATION_DONE,        /* effects applied: acknowledge */
    LOCATION_DEAD,        /* dead-lettered: acknowledge */
} location_fate;

typedef struct location_entry {
    const char *id;          /* stream id "1700000000000-0" (in the reply) */
    const redisReply *fields;/* [field, value, ...] (in the reply), NULL if
                                the entry was deleted while pending */
    const char *loc;         /* packed Location (binary, in the reply) */
    size_t loc_len;
    char rid[65];            /* "rid" (truncated copy), "" if none */
    int deliveries;          /* 1 for a new entry; 0 = unknown (from the
                                PEL or a claim: looked up when needed) */
    Swifteats__V1__Location *msg; /* decoded and valid, else NULL */
    int64_t ts_us;           /* msg's timestamp, µs since the epoch */
    char error[160];         /* why it is poison ("" if it is not) */
    location_fate fate;
} location_entry;

typedef struct location_batch {
    redisReply *reply;       /* owned: holds every string of the entries */
    location_entry *e;       /* owned array of n */
    size_t n;
    int from_pel;            /* entries delivered before (PEL read, claim) */
} location_batch;

/* Takes `reply` (ownership passes to the batch; NULL when n == 0) and
 * the n entries of `entries` inside it, as se_redis_stream_read/_autoclaim
 * hand them over (shape already checked), and decodes every entry. */
void location_batch_take(location_batch *b, redisReply *reply, const redisReply *entries,
                         size_t n, int from_pel);

/* Frees the messages, entries and reply; the batch is empty afterwards and
 * may be reused. NULL is fine. */
void location_batch_free(location_batch *b);

/* Decodes and checks one packed Location. Returns the message (caller frees
 * with swifteats__v1__location__free_unpacked), or NULL with `err` saying
 * why. `*ts_us` gets the timestamp in µs. THREAD: any. */
Swifteats__V1__Location *location_decode(const void *data, size_t len, int64_t *ts_us,
                                         char *err, size_t errcap);

#endif
