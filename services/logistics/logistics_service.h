/* logistics_service.h - the logistics service as an object: ingest
 * (logistics_ingest.h), reads of current positions, routes and nearby
 * drivers (logistics_read.h), live order locations (logistics_watch.h),
 * and the handler table registered on a gRPC server. se-logistics
 * (main.c) builds one from the environment; the tests build one with
 * their own configuration and serve it on port 0.
 *
 * Configuration (environment; README has the table):
 *   SE_PG_URL                         PostgreSQL (required; route history)
 *   SE_LOGISTICS_PG_POOL_SIZE     4    connections for GetDriverRoute
 *   SE_REDIS_URL                      Redis (stream, positions, Pub/Sub)
 *   SE_LOGISTICS_REDIS_POOL_SIZE  8    connections (fail fast while down)
 *   SE_LOGISTICS_REDIS_TIMEOUT_MS 1000 connect/command timeout
 *   SE_LOCATION_STREAM      se:locations   stream the worker reads
 *   SE_LOCATION_STREAM_MAXLEN  2000000     approximate bound of the stream;
 *                                          reports are refused at 90%
 *   SE_LOCATION_KEY_PREFIX  se:            prefix of the position keys
 *   SE_DRIVER_STALE_S          60          silent longer: not "nearby"
 *   SE_LOGISTICS_INGEST_BATCH  128         single ReportLocation calls
 *                                          appended in one round trip
 *   SE_LOGISTICS_INGEST_CONCURRENCY 2      such round trips at once
 *   SE_LOGISTICS_MAX_WATCHERS  20000       WatchOrderLocation streams
 *   SE_RPC_THREADS             8 here      handlers block on Redis/PG
 */
#ifndef LOGISTICS_SERVICE_H
#define LOGISTICS_SERVICE_H

#include <stdint.h>

#include "se_rpc.h"

#define LOGISTICS_DEFAULT_THREADS 8

typedef struct logistics_service_config {
    const char *pg_url;
    int pg_pool_size;
    const char *redis_url;
    int redis_pool_size;
    int redis_timeout_ms;
    const char *stream;
    int64_t stream_maxlen;
    const char *key_prefix;
    int stale_s;
    int ingest_batch;
    int ingest_concurrency;
    int max_watchers;
} logistics_service_config;

/* Reads the configuration from the environment (exits(2) on bad values or
 * a missing SE_PG_URL). */
void logistics_service_config_from_env(logistics_service_config *cfg);

typedef struct logistics_service logistics_service;

/* Opens the pools (PostgreSQL must answer; Redis need not), applies the
 * migrations, starts the live-location subscriber.
 * OWNERSHIP: cfg is copied; the caller destroys. ON ERROR: NULL, logged. */
logistics_service *logistics_service_create(const logistics_service_config *cfg);

/* Registers LogisticsService on s (before se_server_start). 0 or -1. */
int logistics_service_register(se_server *s, logistics_service *svc);

/* Ends the WatchOrderLocation streams; call before se_server_shutdown. */
void logistics_service_stop(logistics_service *svc);

/* Live watchers and the orders they watch (tests, metrics). */
void logistics_service_watch_counts(logistics_service *svc, int *watchers, int *orders);

/* Frees everything; the server must have been shut down. NULL is fine. */
void logistics_service_destroy(logistics_service *svc);

#endif
