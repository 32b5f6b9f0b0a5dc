/* logistics_read.c - read RPCs of the logistics service (logistics_read.h).
 *
 * Redis keys (written by workers/location; prefix "se:" by default):
 *   <p>driver:<id>       packed Location, the driver's latest (TTL 24 h)
 *   <p>order:<id>:loc    packed Location, the latest report of the order
 *   <p>drivers:geo       GEO set of the drivers' latest positions
 *   <p>drivers:seen      sorted set: driver -> measured time (ms) of it
 * The stored values are already packed Locations, so the two point reads
 * answer with se_call_reply_packed: no decode, no encode.
 *
 * Nearby: GEOSEARCH nearest first (over-fetching a little), then the
 * drivers silent for longer than stale_s are dropped (ZMSCORE on the seen
 * set: the worker's sweep removes them from both sets every few seconds,
 * this closes the gap in between).
 *
 * Route: one indexed range scan of location_history_pkey
 * (driver_id, recorded_at, stream_id), times passed as microseconds.
 */
#include "logistics_read.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logistics_ingest.h"
#include "se_alloc.h"
#include "se_pg_rpc.h"
#include "se_time.h"

#define NEARBY_RADIUS_DEFAULT 1000.0
#define NEARBY_RADIUS_MAX 50000.0
#define NEARBY_LIMIT_DEFAULT 50
#define NEARBY_LIMIT_MAX 1000
#define ROUTE_LIMIT_DEFAULT 1000
#define ROUTE_LIMIT_MAX 10000
#define ROUTE_WINDOW_MAX_US (7LL * 24 * 3600 * 1000000)
#define ROUTE_WINDOW_DEFAULT_US (3600LL * 1000000)

/* ---- Redis helpers ------------------------------------------------------------ */

static se_redis *redis_for_call(const logistics_read *rd, se_call *call)
{
    se_redis *r = se_redis_pool_acquire(rd->redis, 1000);
    if (r == NULL)
        se_call_fail(call, GRPC_STATUS_UNAVAILABLE, "logistics: no Redis connection free");
    return r;
}

static void fail_redis(se_call *call, const se_redis_err *err)
{
    se_call_fail(call, GRPC_STATUS_UNAVAILABLE, "logistics: location store unavailable: %s",
                 err->msg);
}

/* GET key -> the packed Location as the answer, or NOT_FOUND with `what`. */
static void reply_stored(const logistics_read *rd, se_call *call, const char *key,
                         const char *what)
{
    se_redis *r = redis_for_call(rd, call);
    if (r == NULL)
        return;
    se_redis_err err;
    redisReply *rep = se_redis_command(r, SE_REDIS_IDEMPOTENT, &err, "GET %s", key);
    se_redis_pool_release(rd->redis, r);
    if (rep == NULL)
        fail_redis(call, &err);
    else if (rep->type == REDIS_REPLY_STRING)
        se_call_reply_packed(call, (const uint8_t *)rep->str, rep->len);
    else
        se_call_fail(call, GRPC_STATUS_NOT_FOUND, "%s", what);
    if (rep != NULL)
        freeReplyObject(rep);
}

/* ---- point reads ---------------------------------------------------------------- */

void logistics_read_driver(const logistics_read *rd, se_call *call,
                           const Swifteats__V1__GetDriverLocationRequest *req)
{
    char msg[200];
    if (logistics_driver_id_check(req->driver_id, msg, sizeof msg) != 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg);
        return;
    }
    char key[160], what[160];
    snprintf(key, sizeof key, "%sdriver:%s", rd->prefix, req->driver_id);
    snprintf(what, sizeof what, "driver \"%s\" has no known location", req->driver_id);
    reply_stored(rd, call, key, what);
}

void logistics_read_order(const logistics_read *rd, se_call *call,
                          const Swifteats__V1__GetOrderDriverLocationRequest *req)
{
    if (req->order_id <= 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "order_id must be > 0 (got %" PRId64 ")",
                     req->order_id);
        return;
    }
    char key[96], what[120];
    snprintf(key, sizeof key, "%sorder:%" PRId64 ":loc", rd->prefix, req->order_id);
    snprintf(what, sizeof what, "no driver location reported for order %" PRId64, req->order_id);
    reply_stored(rd, call, key, what);
}

/* ---- nearby -------------------------------------------------------------------- */

static int nearby_check(se_call *call, const Swifteats__V1__FindNearbyDriversRequest *q)
{
    const char *err = NULL;
    char buf[120];
    if (!q->_lat_case)
        err = "lat is required";
    else if (!(q->lat >= -90 && q->lat <= 90))
        err = (snprintf(buf, sizeof buf, "lat must be between -90 and 90 (got %g)", q->lat), buf);
    else if (!q->_lng_case)
        err = "lng is required";
    else if (!(q->lng >= -180 && q->lng <= 180))
        err = (snprintf(buf, sizeof buf, "lng must be between -180 and 180 (got %g)", q->lng), buf);
    else if (!(q->radius >= 0 && q->radius <= NEARBY_RADIUS_MAX))
        err = (snprintf(buf, sizeof buf, "radius must be between 0 and 50000 metres (got %g)",
                        q->radius), buf);
    else if (q->limit < 0 || q->limit > NEARBY_LIMIT_MAX)
        err = (snprintf(buf, sizeof buf, "limit must be between 0 and 1000 (got %d)", q->limit),
               buf);
    if (err != NULL)
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err);
    return err != NULL ? -1 : 0;
}

/* GEOSEARCH reply entry: [member, "dist", [lon, lat]]. */
static int geo_entry(const redisReply *e, Swifteats__V1__NearbyDriver *d)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
        e->element[0]->type != REDIS_REPLY_STRING || e->element[2]->type != REDIS_REPLY_ARRAY ||
        e->element[2]->elements != 2)
        return -1;
    swifteats__v1__nearby_driver__init(d);
    d->driver_id = e->element[0]->str;
    d->distance = strtod(e->element[1]->str, NULL);
    d->longitude = strtod(e->element[2]->element[0]->str, NULL);
    d->latitude = strtod(e->element[2]->element[1]->str, NULL);
    return 0;
}

/* Keeps the entries whose seen score is recent enough (ZMSCORE). */
static size_t drop_stale(const logistics_read *rd, se_redis *r, Swifteats__V1__NearbyDriver *d,
                         size_t n, se_redis_err *err)
{
    if (n == 0)
        return 0;
    const char **argv = se_xmalloc((n + 2) * sizeof *argv);
    char key[96];
    snprintf(key, sizeof key, "%sdrivers:seen", rd->prefix);
    argv[0] = "ZMSCORE";
    argv[1] = key;
    for (size_t i = 0; i < n; i++)
        argv[i + 2] = d[i].driver_id;
    redisReply *rep = se_redis_command_argv(r, SE_REDIS_IDEMPOTENT, (int)n + 2, argv, NULL, err);
    free(argv);
    if (rep == NULL)
        return (size_t)-1;
    double cutoff = (double)(se_wall_us() / 1000 - (int64_t)rd->stale_s * 1000);
    size_t kept = 0;
    for (size_t i = 0; i < n && i < rep->elements; i++) {
        const redisReply *s = rep->element[i];
        if (s->type == REDIS_REPLY_STRING && strtod(s->str, NULL) >= cutoff)
            d[kept++] = d[i];
    }
    freeReplyObject(rep);
    return kept;
}

static void reply_nearby(se_call *call, const Swifteats__V1__FindNearbyDriversRequest *q,
                         double radius, Swifteats__V1__NearbyDriver *d, size_t n)
{
    Swifteats__V1__NearbyDrivers resp = SWIFTEATS__V1__NEARBY_DRIVERS__INIT;
    Swifteats__V1__NearbyDriver **ptrs = se_xmalloc((n > 0 ? n : 1) * sizeof *ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &d[i];
    resp.drivers = ptrs;
    resp.n_drivers = n;
    resp.center_latitude = q->lat;
    resp.center_longitude = q->lng;
    resp.radius = radius;
    se_call_reply(call, &resp.base);
    free(ptrs);
}

void logistics_read_nearby(const logistics_read *rd, se_call *call,
                           const Swifteats__V1__FindNearbyDriversRequest *q)
{
    if (nearby_check(call, q) != 0)
        return;
    double radius = q->radius > 0 ? q->radius : NEARBY_RADIUS_DEFAULT;
    int limit = q->limit > 0 ? q->limit : NEARBY_LIMIT_DEFAULT;
    int fetch = limit + limit / 4 + 8; /* room for the few stale ones */
    se_redis *r = redis_for_call(rd, call);
    if (r == NULL)
        return;
    char key[96];
    snprintf(key, sizeof key, "%sdrivers:geo", rd->prefix);
    se_redis_err err;
    redisReply *rep = se_redis_command(r, SE_REDIS_IDEMPOTENT, &err,
                                       "GEOSEARCH %s FROMLONLAT %.7f %.7f BYRADIUS %.3f m ASC "
                                       "COUNT %d WITHCOORD WITHDIST", key, q->lng, q->lat,
                                       radius, fetch);
    if (rep == NULL) {
        se_redis_pool_release(rd->redis, r);
        fail_redis(call, &err);
        return;
    }
    Swifteats__V1__NearbyDriver *d = se_xmalloc((rep->elements + 1) * sizeof *d);
    size_t n = 0;
    for (size_t i = 0; i < rep->elements; i++)
        if (geo_entry(rep->element[i], &d[n]) == 0)
            n++;
    size_t kept = drop_stale(rd, r, d, n, &err);
    se_redis_pool_release(rd->redis, r);
    if (kept == (size_t)-1)
        fail_redis(call, &err);
    else
        reply_nearby(call, q, radius, d, kept < (size_t)limit ? kept : (size_t)limit);
    free(d);
    freeReplyObject(rep);
}

/* ---- route --------------------------------------------------------------------- */

static const char ROUTE_SQL[] =
    "SELECT (extract(epoch FROM recorded_at) * 1000000)::bigint, latitude, longitude, "
    "speed, heading, accuracy, order_id FROM location_history "
    "WHERE driver_id = $1 AND recorded_at >= 'epoch'::timestamptz + $2::bigint * interval '1 us' "
    "AND recorded_at <= 'epoch'::timestamptz + $3::bigint * interval '1 us' "
    "ORDER BY recorded_at, stream_id LIMIT $4::int";

static const char EVER_SQL[] = "SELECT 1 FROM location_history WHERE driver_id = $1 LIMIT 1";

static int64_t ts_us(const Google__Protobuf__Timestamp *t)
{
    return t->seconds * 1000000 + t->nanos / 1000;
}

/* The effective window and limit, or -1 after failing the call. */
static int route_window(se_call *call, const Swifteats__V1__GetDriverRouteRequest *q,
                        int64_t *from, int64_t *to, int *limit)
{
    char msg[200];
    if (logistics_driver_id_check(q->driver_id, msg, sizeof msg) != 0) {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", msg);
        return -1;
    }
    *to = q->end_time != NULL ? ts_us(q->end_time) : se_wall_us();
    *from = q->start_time != NULL ? ts_us(q->start_time) : *to - ROUTE_WINDOW_DEFAULT_US;
    *limit = q->limit > 0 ? q->limit : ROUTE_LIMIT_DEFAULT;
    if (*to < *from)
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "end_time must not be before start_time");
    else if (*to - *from > ROUTE_WINDOW_MAX_US)
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "the window from start_time to end_time must be at most 7 days");
    else if (q->limit < 0 || q->limit > ROUTE_LIMIT_MAX)
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT,
                     "limit must be between 0 and 10000 (got %d)", q->limit);
    else
        return 0;
    return -1;
}

/* Row i of ROUTE_SQL into loc (strings borrowed from q and the result). */
static void route_row(const PGresult *res, int i, const char *driver_id,
                      Swifteats__V1__Location *loc, Google__Protobuf__Timestamp *ts)
{
    swifteats__v1__location__init(loc);
    google__protobuf__timestamp__init(ts);
    int64_t us = strtoll(PQgetvalue(res, i, 0), NULL, 10);
    ts->seconds = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    ts->nanos = (int32_t)((us - ts->seconds * 1000000) * 1000);
    loc->timestamp = ts;
    loc->driver_id = (char *)driver_id;
    loc->latitude = strtod(PQgetvalue(res, i, 1), NULL);
    loc->longitude = strtod(PQgetvalue(res, i, 2), NULL);
    if (!PQgetisnull(res, i, 3)) {
        loc->_speed_case = SWIFTEATS__V1__LOCATION___SPEED_SPEED;
        loc->speed = strtod(PQgetvalue(res, i, 3), NULL);
    }
    if (!PQgetisnull(res, i, 4)) {
        loc->_heading_case = SWIFTEATS__V1__LOCATION___HEADING_HEADING;
        loc->heading = strtod(PQgetvalue(res, i, 4), NULL);
    }
    if (!PQgetisnull(res, i, 5)) {
        loc->_accuracy_case = SWIFTEATS__V1__LOCATION___ACCURACY_ACCURACY;
        loc->accuracy = strtod(PQgetvalue(res, i, 5), NULL);
    }
    if (!PQgetisnull(res, i, 6)) {
        loc->_order_id_case = SWIFTEATS__V1__LOCATION___ORDER_ID_ORDER_ID;
        loc->order_id = strtoll(PQgetvalue(res, i, 6), NULL, 10);
    }
}

static void reply_route(se_call *call, const char *driver_id, const PGresult *res, int64_t from,
                        int64_t to)
{
    int n = PQntuples(res);
    Swifteats__V1__Location *locs = se_xmalloc((size_t)(n + 1) * sizeof *locs);
    Swifteats__V1__Location **ptrs = se_xmalloc((size_t)(n + 1) * sizeof *ptrs);
    Google__Protobuf__Timestamp *ts = se_xmalloc((size_t)(n + 3) * sizeof *ts);
    for (int i = 0; i < n; i++) {
        route_row(res, i, driver_id, &locs[i], &ts[i]);
        ptrs[i] = &locs[i];
    }
    Swifteats__V1__DriverRoute resp = SWIFTEATS__V1__DRIVER_ROUTE__INIT;
    resp.driver_id = (char *)driver_id;
    resp.locations = ptrs;
    resp.n_locations = (size_t)n;
    google__protobuf__timestamp__init(&ts[n]);
    google__protobuf__timestamp__init(&ts[n + 1]);
    ts[n].seconds = from / 1000000;
    ts[n].nanos = (int32_t)(from % 1000000) * 1000;
    ts[n + 1].seconds = to / 1000000;
    ts[n + 1].nanos = (int32_t)(to % 1000000) * 1000;
    resp.start_time = &ts[n];
    resp.end_time = &ts[n + 1];
    se_call_reply(call, &resp.base);
    free(locs);
    free(ptrs);
    free(ts);
}

/* No row in the window: NOT_FOUND unless the driver ever reported (the
 * history, or a current position the worker wrote before its history). */
static int driver_ever_reported(const logistics_read *rd, se_pg_conn *c, const char *driver_id,
                                int *known, se_pg_err *err)
{
    PGresult *res = se_pg_exec_prepared(c, EVER_SQL, 1, &driver_id, SE_PG_IDEMPOTENT, err);
    if (res == NULL)
        return -1;
    *known = PQntuples(res) > 0;
    PQclear(res);
    if (*known)
        return 0;
    se_redis *r = se_redis_pool_acquire(rd->redis, 1000);
    if (r == NULL)
        return 0;
    redisReply *rep = se_redis_command(r, SE_REDIS_IDEMPOTENT, NULL, "EXISTS %sdriver:%s",
                                       rd->prefix, driver_id);
    se_redis_pool_release(rd->redis, r);
    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        *known = rep->integer > 0;
    if (rep != NULL)
        freeReplyObject(rep);
    return 0;
}

void logistics_read_route(const logistics_read *rd, se_call *call,
                          const Swifteats__V1__GetDriverRouteRequest *q)
{
    int64_t from, to;
    int limit;
    if (route_window(call, q, &from, &to, &limit) != 0)
        return;
    se_status st;
    se_pg_conn *c = se_pg_acquire_for_call(rd->pg, "logistics", &st);
    if (c == NULL) {
        se_call_fail(call, st.code, "%s", st.message);
        return;
    }
    char from_s[24], to_s[24], limit_s[16];
    snprintf(from_s, sizeof from_s, "%" PRId64, from);
    snprintf(to_s, sizeof to_s, "%" PRId64, to);
    snprintf(limit_s, sizeof limit_s, "%d", limit);
    const char *params[] = {q->driver_id, from_s, to_s, limit_s};
    se_pg_err err;
    PGresult *res = se_pg_exec_prepared(c, ROUTE_SQL, 4, params, SE_PG_IDEMPOTENT, &err);
    int known = 1;
    if (res != NULL && PQntuples(res) == 0 && driver_ever_reported(rd, c, q->driver_id, &known, &err))
        known = -1;
    se_pg_pool_release(rd->pg, c);
    if (res == NULL || known < 0) {
        se_pg_status(&st, &err, "logistics", "route query");
        se_call_fail(call, st.code, "%s", st.message);
    } else if (!known) {
        se_call_fail(call, GRPC_STATUS_NOT_FOUND, "driver \"%s\" has never reported",
                     q->driver_id);
    } else {
        reply_route(call, q->driver_id, res, from, to);
    }
    if (res != NULL)
        PQclear(res);
}
