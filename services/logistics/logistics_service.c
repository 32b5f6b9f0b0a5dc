/* logistics_service.c - the logistics service object and its handler
 * table (logistics_service.h). The handlers are thin: ingest
 * (logistics_ingest.c), reads (logistics_read.c) and live watchers
 * (logistics_watch.c) do the work.
 */
#include "logistics_service.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logistics_ingest.h"
#include "logistics_migrations.h"
#include "logistics_read.h"
#include "logistics_watch.h"
#include "se_alloc.h"
#include "se_config.h"
#include "se_log.h"
#include "se_pg.h"
#include "se_redis.h"
#include "swifteats/v1/logistics.se.h"

#define REPORTS_MAX 1000

struct logistics_service {
    logistics_service_config cfg;
    se_pg_pool *pg;
    se_redis_pool *redis;
    logistics_ingest *ingest;
    logistics_watch *watch;
    logistics_read read;
};

void logistics_service_config_from_env(logistics_service_config *cfg)
{
    const char *pg = se_env_str("SE_PG_URL", NULL);
    if (pg == NULL) {
        se_log_error("config_error", "SE_PG_URL is required by the logistics service");
        exit(2);
    }
    cfg->pg_url = pg;
    cfg->pg_pool_size = (int)se_env_int("SE_LOGISTICS_PG_POOL_SIZE", 4, 1, 256);
    cfg->redis_url = se_env_str("SE_REDIS_URL", "redis://127.0.0.1:6379/0");
    cfg->redis_pool_size = (int)se_env_int("SE_LOGISTICS_REDIS_POOL_SIZE", 8, 1, 256);
    cfg->redis_timeout_ms = (int)se_env_int("SE_LOGISTICS_REDIS_TIMEOUT_MS", 1000, 1, 60000);
    cfg->stream = se_env_str("SE_LOCATION_STREAM", "se:locations");
    cfg->stream_maxlen = se_env_int("SE_LOCATION_STREAM_MAXLEN", 2000000, 1000, INT64_MAX / 2);
    cfg->key_prefix = se_env_str("SE_LOCATION_KEY_PREFIX", "se:");
    cfg->stale_s = (int)se_env_int("SE_DRIVER_STALE_S", 60, 1, 86400);
    cfg->ingest_batch = (int)se_env_int("SE_LOGISTICS_INGEST_BATCH", 128, 1, 128);
    cfg->ingest_concurrency = (int)se_env_int("SE_LOGISTICS_INGEST_CONCURRENCY", 2, 1, 64);
    cfg->max_watchers = (int)se_env_int("SE_LOGISTICS_MAX_WATCHERS", 20000, 1, 1000000);
}

/* ---- handlers ----------------------------------------------------------------- */

static void fill_receipt(Swifteats__V1__ReportLocationResponse *resp, const logistics_report *r)
{
    swifteats__v1__report_location_response__init(resp);
    resp->status = "accepted";
    resp->message_id = (char *)r->message_id;
    resp->driver_id = r->req->driver_id;
}

static void report_location(se_call *call, const Swifteats__V1__ReportLocationRequest *req,
                            void *ctx)
{
    logistics_service *svc = ctx;
    logistics_report r = {.req = req, .request_id = se_call_request_id(call)};
    se_status st;
    if (logistics_ingest_one(svc->ingest, &r, &st) != 0) {
        se_call_fail(call, st.code, "%s", st.message);
    } else if (r.code != GRPC_STATUS_OK) {
        se_call_fail(call, (grpc_status_code)r.code, "%s", r.message);
    } else {
        Swifteats__V1__ReportLocationResponse resp;
        fill_receipt(&resp, &r);
        se_call_reply(call, &resp.base);
    }
}

static void reply_results(se_call *call, const logistics_report *reps, size_t n)
{
    Swifteats__V1__ReportLocationResult *res = se_xmalloc(n * sizeof *res);
    Swifteats__V1__ReportLocationResult **ptrs = se_xmalloc(n * sizeof *ptrs);
    Swifteats__V1__ReportLocationResponse *receipts = se_xmalloc(n * sizeof *receipts);
    for (size_t i = 0; i < n; i++) {
        swifteats__v1__report_location_result__init(&res[i]);
        res[i].code = reps[i].code;
        res[i].message = (char *)reps[i].message;
        if (reps[i].code == GRPC_STATUS_OK) {
            fill_receipt(&receipts[i], &reps[i]);
            res[i].receipt = &receipts[i];
        }
        ptrs[i] = &res[i];
    }
    Swifteats__V1__ReportLocationsResponse resp = SWIFTEATS__V1__REPORT_LOCATIONS_RESPONSE__INIT;
    resp.results = ptrs;
    resp.n_results = n;
    se_call_reply(call, &resp.base);
    free(res);
    free(ptrs);
    free(receipts);
}

static void report_locations(se_call *call, const Swifteats__V1__ReportLocationsRequest *req,
                             void *ctx)
{
    logistics_service *svc = ctx;
    size_t n = req->n_reports;
    if (n == 0 || n > REPORTS_MAX) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "reports must hold 1 to %d reports (got %zu)", REPORTS_MAX, n);
        return;
    }
    logistics_report *reps = se_xcalloc(n, sizeof *reps);
    const char *call_rid = se_call_request_id(call);
    for (size_t i = 0; i < n; i++) {
        reps[i].req = req->reports[i];
        reps[i].request_id = i < req->n_request_ids && req->request_ids[i][0] != '\0'
                                 ? req->request_ids[i] : call_rid;
    }
    se_status st;
    if (logistics_ingest_append(svc->ingest, reps, n, &st) != 0)
        se_call_fail(call, st.code, "%s", st.message);
    else
        reply_results(call, reps, n);
    free(reps);
}

static void get_driver_location(se_call *call, const Swifteats__V1__GetDriverLocationRequest *req,
                                void *ctx)
{
    logistics_read_driver(&((logistics_service *)ctx)->read, call, req);
}

static void get_driver_route(se_call *call, const Swifteats__V1__GetDriverRouteRequest *req,
                             void *ctx)
{
    logistics_read_route(&((logistics_service *)ctx)->read, call, req);
}

static void find_nearby_drivers(se_call *call, const Swifteats__V1__FindNearbyDriversRequest *req,
                                void *ctx)
{
    logistics_read_nearby(&((logistics_service *)ctx)->read, call, req);
}

static void get_order_driver_location(se_call *call,
                                      const Swifteats__V1__GetOrderDriverLocationRequest *req,
                                      void *ctx)
{
    logistics_read_order(&((logistics_service *)ctx)->read, call, req);
}

static void watch_order_location(se_call *call, const Swifteats__V1__WatchOrderLocationRequest *req,
                                 void *ctx)
{
    logistics_service *svc = ctx;
    if (req->order_id <= 0) {
        se_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "order_id must be > 0 (got %" PRId64 ")",
                       req->order_id);
        return;
    }
    logistics_watch_add(svc->watch, call, req->order_id);
}

static const swifteats_v1_logistics_service_handlers logistics_handlers = {
    .report_location = report_location,
    .report_locations = report_locations,
    .get_driver_location = get_driver_location,
    .get_driver_route = get_driver_route,
    .find_nearby_drivers = find_nearby_drivers,
    .get_order_driver_location = get_order_driver_location,
    .watch_order_location = watch_order_location,
};

/* ---- lifecycle ------------------------------------------------------------------ */

static int migrate(se_pg_pool *pg)
{
    se_pg_conn *c = se_pg_pool_acquire(pg, 5000);
    if (c == NULL)
        return -1;
    se_pg_err err;
    int rc = se_pg_migrate_list(c, "logistics", logistics_migrations, logistics_n_migrations, &err);
    se_pg_pool_release(pg, c);
    return rc < 0 ? -1 : 0;
}

logistics_service *logistics_service_create(const logistics_service_config *cfg)
{
    logistics_service *svc = se_xcalloc(1, sizeof *svc);
    svc->cfg = *cfg;
    se_pg_err pe;
    svc->pg = se_pg_pool_create(cfg->pg_url, cfg->pg_pool_size, &pe);
    if (svc->pg == NULL || migrate(svc->pg) != 0) {
        se_log_error("logistics_start_failed", "PostgreSQL: %s",
                     svc->pg == NULL ? pe.msg : "migrations failed");
        logistics_service_destroy(svc);
        return NULL;
    }
    se_redis_err re;
    svc->redis = se_redis_pool_create_ex(cfg->redis_url, cfg->redis_pool_size,
                                         cfg->redis_timeout_ms, SE_REDIS_FAIL_FAST, &re);
    if (svc->redis == NULL) {
        se_log_error("logistics_start_failed", "Redis: %s", re.msg);
        logistics_service_destroy(svc);
        return NULL;
    }
    logistics_ingest_config ic = {
        .redis = svc->redis, .stream = cfg->stream, .maxlen = cfg->stream_maxlen,
        .single_batch = cfg->ingest_batch, .single_concurrency = cfg->ingest_concurrency,
        .max_age_ms = 24LL * 3600 * 1000, .max_ahead_ms = 5LL * 60 * 1000};
    svc->ingest = logistics_ingest_create(&ic);
    logistics_watch_config wc = {.redis_url = cfg->redis_url, .key_prefix = cfg->key_prefix,
                                 .timeout_ms = cfg->redis_timeout_ms, .retry_ms = 500,
                                 .max_watchers = cfg->max_watchers};
    svc->watch = logistics_watch_create(&wc);
    if (svc->watch == NULL) {
        logistics_service_destroy(svc);
        return NULL;
    }
    svc->read = (logistics_read){.redis = svc->redis, .pg = svc->pg,
                                 .prefix = cfg->key_prefix, .stale_s = cfg->stale_s};
    return svc;
}

int logistics_service_register(se_server *s, logistics_service *svc)
{
    return swifteats_v1_logistics_service_register(s, &logistics_handlers, svc);
}

void logistics_service_stop(logistics_service *svc)
{
    if (svc != NULL && svc->watch != NULL)
        logistics_watch_stop(svc->watch);
}

void logistics_service_watch_counts(logistics_service *svc, int *watchers, int *orders)
{
    logistics_watch_counts(svc->watch, watchers, orders);
}

void logistics_service_destroy(logistics_service *svc)
{
    if (svc == NULL)
        return;
    logistics_watch_destroy(svc->watch);
    logistics_ingest_destroy(svc->ingest);
    se_redis_pool_destroy(svc->redis);
    se_pg_pool_destroy(svc->pg);
    free(svc);
}
