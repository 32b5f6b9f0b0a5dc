/* logistics_ingest.h - accepting driver location reports: validation and
 * the append to the Redis stream the location worker reads
 * (notes: the stream contract is in logistics.proto and
 * services/logistics/logistics_ingest.c DESIGN).
 *
 * A report is accepted (HTTP 202, a message_id) only once Redis has
 * acknowledged its XADD; ingest never touches PostgreSQL. Many reports are
 * appended in one pipelined round trip: the gateway's ReportLocations
 * batches arrive whole, and single ReportLocation calls that run at the
 * same time are gathered by an se_batch (logistics_ingest_one).
 *
 * THREAD: every function may be called from any number of threads at once,
 * except create/destroy.
 */
#ifndef LOGISTICS_INGEST_H
#define LOGISTICS_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "se_redis.h"
#include "se_rpc.h"
#include "swifteats/v1/logistics.pb-c.h"

typedef struct logistics_ingest_config {
    se_redis_pool *redis;       /* borrowed; fail-fast connections */
    const char *stream;         /* SE_LOCATION_STREAM ("se:locations") */
    int64_t maxlen;             /* SE_LOCATION_STREAM_MAXLEN (2000000) */
    int single_batch;           /* SE_LOGISTICS_INGEST_BATCH (128): single
                                   ReportLocation calls per round trip */
    int single_concurrency;     /* SE_LOGISTICS_INGEST_CONCURRENCY (2) */
    int64_t max_age_ms;         /* oldest timestamp accepted (24 h) */
    int64_t max_ahead_ms;       /* newest timestamp accepted (5 min) */
} logistics_ingest_config;

typedef struct logistics_ingest logistics_ingest;

/* OWNERSHIP: cfg is copied (the stream name too); the caller destroys. */
logistics_ingest *logistics_ingest_create(const logistics_ingest_config *cfg);
void logistics_ingest_destroy(logistics_ingest *in); /* NULL is fine */

/* Checks a report against the contract (logistics.proto ReportLocation)
 * at wall time now_us. Returns 0, or -1 with msg naming the field. */
int logistics_report_validate(const logistics_ingest_config *cfg,
                              const Swifteats__V1__ReportLocationRequest *r, int64_t now_us,
                              char *msg, size_t msg_len);

/* The driver_id rule (non-empty, at most 64 bytes, no control
 * characters), shared by ingest and reads: 0, or -1 with msg naming it. */
int logistics_driver_id_check(const char *driver_id, char *msg, size_t len);

/* One report of a batch: in: the request and its request id; out: code
 * (GRPC_STATUS_OK or INVALID_ARGUMENT), message, message_id. */
typedef struct logistics_report {
    const Swifteats__V1__ReportLocationRequest *req;
    const char *request_id;
    int code;
    char message[200];
    char message_id[48];
} logistics_report;

/* Validates every report and appends the valid ones in one pipeline.
 * Returns 0 with each report's code/message/message_id set, or -1 with st
 * set when the batch as a whole failed (UNAVAILABLE: Redis unreachable, no
 * report may be taken as accepted; RESOURCE_EXHAUSTED: backlog too long). */
int logistics_ingest_append(logistics_ingest *in, logistics_report *reports, size_t n,
                            se_status *st);

/* A single report, appended together with the other single reports being
 * appended at the same moment (se_batch). Same results as _append. */
int logistics_ingest_one(logistics_ingest *in, logistics_report *report, se_status *st);

/* Stream length seen by the last append (tests, metrics). */
int64_t logistics_ingest_backlog(logistics_ingest *in);

#endif
