/* gw_ingest.h - POST /api/v1/drivers/{driver_id}/location without one gRPC
 * call per request: the reports a loop receives together go to the
 * logistics service as one LogisticsService.ReportLocations call
 * (logistics-contract.md, "Gateway").
 *
 * The route stays the generated one (gw_proxy: transcoding, 400/413,
 * request id, access log); gw_ingest_create diverts its transcoded requests
 * here (gw_proxy_divert). Each HTTP request still gets its own answer:
 * result code 0 -> 202 with the receipt {status, message_id, driver_id}
 * (the JSON the unary route gives), else the contract's error body for the
 * result's code; a failed call answers every request of the batch with the
 * call's status (UNAVAILABLE 503, RESOURCE_EXHAUSTED 429, DEADLINE 504).
 *
 * Configuration (gw_ingest_config_from_env):
 *   SE_GATEWAY_INGEST           (true)  false: ReportLocation stays one unary
 *                                       call per request (not diverted)
 *   SE_GATEWAY_INGEST_BATCH     (256)   reports per call, 1..1000; a batch
 *                                       that fills is sent at once
 *   SE_GATEWAY_INGEST_DELAY_US  (0)     0: a batch is sent at the end of the
 *                                       loop iteration that queued its first
 *                                       report; > 0: that long after it
 *                                       (h2o timers: rounded up to whole ms)
 *   SE_GATEWAY_INGEST_INFLIGHT  (4)     calls in flight per loop, 1..64; a
 *                                       loop at the limit keeps filling its
 *                                       open batch (full ones wait in order)
 * The call's deadline is the route's (SE_GATEWAY_TIMEOUT_MS by default).
 */
#ifndef GW_INGEST_H
#define GW_INGEST_H

#include <stdint.h>

#include "gw_proxy.h"
#include "se_rpc.h"

typedef struct gw_ingest_config {
    int enabled;      /* SE_GATEWAY_INGEST */
    int batch_max;    /* SE_GATEWAY_INGEST_BATCH */
    int delay_us;     /* SE_GATEWAY_INGEST_DELAY_US */
    int inflight_max; /* SE_GATEWAY_INGEST_INFLIGHT */
} gw_ingest_config;

/* Reads the SE_GATEWAY_INGEST* variables (defaults above). THREAD: main. */
void gw_ingest_config_from_env(gw_ingest_config *cfg);

typedef struct gw_ingest gw_ingest;

/* Diverts the ReportLocation route of `p` to batches sent on `ch` (the
 * LogisticsService channel). THREAD: main, after gw_proxy_create, before
 * the server starts. OWNERSHIP: p and ch are borrowed; destroy after the
 * server has stopped. ON ERROR: NULL, logged (no such route). */
gw_ingest *gw_ingest_create(gw_proxy *p, se_channel *ch, const gw_ingest_config *cfg);
void gw_ingest_destroy(gw_ingest *g);

/* Counters since create (relaxed reads; for tests and logs). */
typedef struct gw_ingest_stats {
    uint64_t calls;        /* ReportLocations calls started */
    uint64_t reports;      /* reports sent in them */
    uint64_t failed_calls; /* calls that failed as a whole */
    uint64_t gone;         /* requests whose client left while queued or in flight */
    uint64_t max_batch;    /* largest batch sent */
} gw_ingest_stats;
void gw_ingest_stats_get(const gw_ingest *g, gw_ingest_stats *out);

#endif
