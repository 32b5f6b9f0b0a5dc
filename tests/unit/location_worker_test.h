/* location_worker_test.h - shared fixture of the location worker suites
 * (test_location_worker*.c): a private PostgreSQL schema per test process
 * with the logistics migrations (logistics_migrations[] of
 * se_logistics_core), a stream, dead-letter stream and key prefix of its
 * own in the stack's Redis, and the worker run in-process
 * (location_worker_start/stop). Reports are written the way the logistics
 * service writes them: XADD <stream> * loc <packed Location> rid <id>.
 *
 * Header-only (static inline), like menu_test.h. Needs the stack
 * (SE_PG_URL, SE_REDIS_URL, SE_STACK_DIR from scripts/test.sh). Each test
 * runs in its own forked process, so every name (built from the pid) is
 * fresh per test.
 */
#ifndef LOCATION_WORKER_TEST_H
#define LOCATION_WORKER_TEST_H

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "location_worker.h"
#include "logistics_migrations.h"
#include "se_log.h"
#include "se_pg.h"
#include "se_redis.h"
#include "se_test_fixture.h"
#include "se_test_stack.h"
#include "se_time.h"
#include "swifteats/v1/common.pb-c.h"

static char lt_schema[64];
static char lt_url[1024];
static char lt_stream[64], lt_dead[80], lt_prefix[64];
static se_redis *lt_r;
static location_worker *lt_w;
static int lt_pg_stopped; /* the teardown restarts PostgreSQL if a test failed */

/* ---- database --------------------------------------------------------------- */

static inline void lt_exec_on(const char *url, const char *sql)
{
    se_test_sql_exec(url, sql);
}

/* The first column of the first row of sql (test schema) as an integer. */
static inline int64_t lt_sql_int(const char *sql)
{
    return se_test_sql_int(lt_url, sql);
}

static inline int64_t lt_rows(void)
{
    return lt_sql_int("SELECT count(*) FROM location_history");
}

static inline void lt_stop_pg(void)
{
    lt_pg_stopped = 1;
    se_test_stack("stop-pg");
}

static inline void lt_start_pg(void)
{
    se_test_stack("start-pg");
    lt_pg_stopped = 0;
}

/* ---- Redis ------------------------------------------------------------------- */

/* A command's integer reply (fails the test otherwise). */
static inline long long lt_redis_int(const char *fmt, const char *a, const char *b)
{
    se_redis_err err;
    redisReply *r = se_redis_command(lt_r, 0, &err, fmt, a, b);
    ck_assert_msg(r != NULL, "%s: %s", fmt, err.msg);
    ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static inline long long lt_xlen(const char *stream)
{
    return lt_redis_int("XLEN %s", stream, NULL);
}

/* "<prefix><rest>" in a static buffer (valid until 8 more calls). */
static inline const char *lt_key(const char *rest)
{
    static char buf[8][160];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, 160, "%s%s", lt_prefix, rest);
    return b;
}

/* The packed Location stored at key, decoded (NULL if the key is absent).
 * OWNERSHIP: free with swifteats__v1__location__free_unpacked. */
static inline Swifteats__V1__Location *lt_get_loc(const char *key)
{
    se_redis_err err;
    redisReply *r = se_redis_command(lt_r, 0, &err, "GET %s", key);
    ck_assert_msg(r != NULL, "GET %s: %s", key, err.msg);
    Swifteats__V1__Location *m = NULL;
    if (r->type == REDIS_REPLY_STRING)
        m = swifteats__v1__location__unpack(NULL, (size_t)r->len, (const uint8_t *)r->str);
    freeReplyObject(r);
    return m;
}

/* ZSCORE's value as a number, or -1 when the member is absent. */
static inline double lt_zscore(const char *key, const char *member)
{
    se_redis_err err;
    redisReply *r = se_redis_command(lt_r, 0, &err, "ZSCORE %s %s", key, member);
    ck_assert_msg(r != NULL, "ZSCORE: %s", err.msg);
    double v = r->type == REDIS_REPLY_STRING ? atof(r->str) : -1;
    freeReplyObject(r);
    return v;
}

/* ---- reports ---------------------------------------------------------------- */

/* XADD of a report like the logistics service's; order_id 0: none. The
 * entry id is copied to id_out (>= 48 bytes) when not NULL. */
static inline void lt_report(const char *driver, double lat, double lon, int64_t ts_us,
                             int64_t order_id, const char *rid, char *id_out)
{
    Swifteats__V1__Location m = SWIFTEATS__V1__LOCATION__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = ts_us / 1000000;
    ts.nanos = (int32_t)(ts_us % 1000000) * 1000;
    m.driver_id = (char *)driver;
    m.latitude = lat;
    m.longitude = lon;
    m.timestamp = &ts;
    m._speed_case = SWIFTEATS__V1__LOCATION___SPEED_SPEED;
    m.speed = 7.5;
    if (order_id > 0) {
        m._order_id_case = SWIFTEATS__V1__LOCATION___ORDER_ID_ORDER_ID;
        m.order_id = order_id;
    }
    uint8_t buf[256];
    size_t len = swifteats__v1__location__pack(&m, buf);
    se_redis_err err;
    redisReply *r = se_redis_command(lt_r, 0, &err, "XADD %s * loc %b rid %s", lt_stream, buf,
                                     len, rid);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STRING, "XADD: %s", err.msg);
    if (id_out != NULL)
        snprintf(id_out, 48, "%s", r->str);
    freeReplyObject(r);
}

/* Now on the wall clock, µs. */
static inline int64_t lt_now_us(void)
{
    return se_wall_us();
}

/* ---- the worker -------------------------------------------------------------- */

static inline location_worker_config lt_config(void)
{
    location_worker_config c = {
        .redis_url = se_test_env_url("SE_REDIS_URL"),
        .redis_timeout_ms = SE_T(500),
        .pg_url = lt_url,
        .stream = lt_stream,
        .group = "location-workers",
        .consumer = "lt-worker",
        .dead_stream = lt_dead,
        .key_prefix = lt_prefix,
        .batch = 500,
        .block_ms = 50,
        .flush_ms = 5,
        .claim_idle_ms = 30000,
        .claim_interval_ms = 5000,
        .max_deliveries = 5,
        .retry_ms = 50,
        .retry_max_ms = 200,
        .driver_ttl_s = 600,
        .order_ttl_s = 600,
        .stale_s = 60,
        .sweep_interval_ms = 5000,
        .retention_days = 30,
        .maintain_interval_s = 3600,
    };
    return c;
}

static inline void lt_start(const location_worker_config *cfg)
{
    location_worker_config def = lt_config();
    lt_w = location_worker_create(cfg ? cfg : &def);
    ck_assert_ptr_nonnull(lt_w);
    ck_assert_int_eq(location_worker_start(lt_w), 0);
}

static inline void lt_stop(void)
{
    location_worker_destroy(lt_w);
    lt_w = NULL;
}

static inline location_worker_stats lt_stats(void)
{
    location_worker_stats s;
    location_worker_get_stats(lt_w, &s);
    return s;
}

/* Polls until the worker has acknowledged n entries (SE_T-scaled). */
#define LT_WAIT_STAT(field, n, ms)                                                         \
    do {                                                                                   \
        SE_POLL_UNTIL(lt_stats().field >= (uint64_t)(n), ms);                              \
        ck_assert_msg(lt_stats().field >= (uint64_t)(n), #field " = %" PRIu64 ", want %d", \
                      lt_stats().field, (int)(n));                                         \
    } while (0)

/* ---- fixture ----------------------------------------------------------------- */

/* Schema, names and the test's Redis connection (the worker is started by
 * each test, with its own configuration). */
static inline void lt_setup(void)
{
    se_log_init("test");
    se_test_schema_create("location_t_", lt_schema, lt_url, "logistics", logistics_migrations,
                          logistics_n_migrations);
    snprintf(lt_stream, sizeof lt_stream, "%s", se_test_uniq("se:locations:t", "", ""));
    snprintf(lt_dead, sizeof lt_dead, "%s:dead", lt_stream);
    snprintf(lt_prefix, sizeof lt_prefix, "%s", se_test_uniq("lt", "", ":"));
    se_redis_err rerr;
    lt_r = se_redis_create(se_test_env_url("SE_REDIS_URL"), SE_T(2000), &rerr);
    ck_assert_msg(lt_r != NULL, "redis: %s", rerr.msg);
}

static inline void lt_teardown(void)
{
    if (lt_pg_stopped)
        lt_start_pg();
    if (lt_w != NULL)
        lt_stop();
    se_redis_err err;
    redisReply *r = se_redis_command(lt_r, 0, &err, "KEYS %s*", lt_prefix);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *d = se_redis_command(lt_r, 0, &err, "DEL %s", r->element[i]->str);
            if (d != NULL)
                freeReplyObject(d);
        }
    if (r != NULL)
        freeReplyObject(r);
    r = se_redis_command(lt_r, 0, &err, "DEL %s %s", lt_stream, lt_dead);
    if (r != NULL)
        freeReplyObject(r);
    se_redis_destroy(lt_r);
    se_test_schema_drop(lt_schema);
}

#endif
