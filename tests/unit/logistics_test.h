/* logistics_test.h - shared fixture of the logistics service suites
 * (test_logistics_ingest.c, test_logistics_read.c): a private PostgreSQL
 * schema with the logistics migrations, Redis keys and stream under a
 * prefix unique to the test process, and the service served on
 * 127.0.0.1:0 with lt_ch as the channel to it.
 *
 * Header-only (static inline), like menu_test.h.
 */
#ifndef LOGISTICS_TEST_H
#define LOGISTICS_TEST_H

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "logistics_migrations.h"
#include "logistics_service.h"
#include "se_log.h"
#include "se_pg.h"
#include "se_redis.h"
#include "se_test_fixture.h"
#include "se_test_stack.h"
#include "swifteats/v1/logistics.se.h"

static char lt_schema[64], lt_url[1024], lt_prefix[64], lt_stream[96];
static logistics_service *lt_svc;
static se_server *lt_srv;
static se_channel *lt_ch;
static se_redis *lt_r;

/* Runs sql in the test schema. */
static inline void lt_exec(const char *sql)
{
    se_test_sql_exec(lt_url, sql);
}

/* A Redis command on the stack's Redis; fails the test on an error. */
#define LT_REDIS(...) lt_redis_check(se_redis_command(lt_r, 0, NULL, __VA_ARGS__))
static inline redisReply *lt_redis_check(redisReply *r)
{
    ck_assert_msg(r != NULL, "redis command failed");
    return r;
}

static inline logistics_service_config lt_config(void)
{
    logistics_service_config cfg = {
        .pg_url = lt_url, .pg_pool_size = 2,
        .redis_url = se_test_env_url("SE_REDIS_URL"), .redis_pool_size = 4,
        .redis_timeout_ms = 300, .stream = lt_stream, .stream_maxlen = 100000,
        .key_prefix = lt_prefix, .stale_s = 60, .ingest_batch = 32, .ingest_concurrency = 2,
        .max_watchers = 100};
    return cfg;
}

/* Schema, Redis names, service and server; cfg NULL: lt_config(). */
static inline void lt_start(const logistics_service_config *cfg)
{
    se_log_init("test");
    se_test_schema_create("logistics_t_", lt_schema, lt_url, NULL, NULL, 0);
    snprintf(lt_prefix, sizeof lt_prefix, "%s", se_test_uniq("lt", "", ":"));
    snprintf(lt_stream, sizeof lt_stream, "%slocations", lt_prefix);
    lt_r = se_redis_create(se_test_env_url("SE_REDIS_URL"), 2000, NULL);
    ck_assert_ptr_nonnull(lt_r);
    se_rpc_init();
    logistics_service_config def = lt_config();
    lt_svc = logistics_service_create(cfg ? cfg : &def);
    ck_assert_ptr_nonnull(lt_svc);
    lt_srv = se_test_server_create("logistics");
    ck_assert_int_eq(logistics_service_register(lt_srv, lt_svc), 0);
    lt_ch = se_test_server_start(lt_srv);
}

static inline void lt_setup(void)
{
    lt_start(NULL);
}

static inline void lt_teardown(void)
{
    logistics_service_stop(lt_svc);
    se_server_shutdown(lt_srv);
    se_server_destroy(lt_srv);
    logistics_service_destroy(lt_svc);
    se_rpc_shutdown();
    char pattern[96];
    snprintf(pattern, sizeof pattern, "%s*", lt_prefix);
    redisReply *keys = se_redis_command(lt_r, 0, NULL, "KEYS %s", pattern);
    for (size_t i = 0; keys != NULL && i < keys->elements; i++)
        freeReplyObject(se_redis_command(lt_r, 0, NULL, "DEL %s", keys->element[i]->str));
    if (keys != NULL)
        freeReplyObject(keys);
    se_redis_destroy(lt_r);
    se_test_schema_drop(lt_schema);
}

/* A valid report of driver `id` at (lat, lng); optional fields unset. */
static inline Swifteats__V1__ReportLocationRequest lt_report(const char *id, double lat,
                                                             double lng)
{
    Swifteats__V1__ReportLocationRequest r = SWIFTEATS__V1__REPORT_LOCATION_REQUEST__INIT;
    r.driver_id = (char *)id;
    r._latitude_case = SWIFTEATS__V1__REPORT_LOCATION_REQUEST___LATITUDE_LATITUDE;
    r.latitude = lat;
    r._longitude_case = SWIFTEATS__V1__REPORT_LOCATION_REQUEST___LONGITUDE_LONGITUDE;
    r.longitude = lng;
    return r;
}

/* Stores loc as the worker would: driver key, geo set, seen set (score
 * seen_ms), and the order key when it carries one. */
static inline void lt_store_position(const Swifteats__V1__Location *loc, int64_t seen_ms)
{
    uint8_t buf[256];
    size_t len = swifteats__v1__location__pack(loc, buf);
    freeReplyObject(LT_REDIS("SET %sdriver:%s %b", lt_prefix, loc->driver_id, buf, len));
    freeReplyObject(LT_REDIS("GEOADD %sdrivers:geo %.7f %.7f %s", lt_prefix, loc->longitude,
                             loc->latitude, loc->driver_id));
    freeReplyObject(LT_REDIS("ZADD %sdrivers:seen %lld %s", lt_prefix, (long long)seen_ms,
                             loc->driver_id));
    if (loc->_order_id_case)
        freeReplyObject(LT_REDIS("SET %sorder:%lld:loc %b", lt_prefix, (long long)loc->order_id,
                                 buf, len));
}

#endif
