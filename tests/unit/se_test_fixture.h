/* se_test_fixture.h - the pieces the service and worker fixtures
 * (menu_test.h, order_test.h, logistics_test.h, location_worker_test.h,
 * payment_worker_test.h) build on:
 *
 *   schema  a private PostgreSQL schema per test process ("<prefix><pid>",
 *           dropped first if a crashed run left it) and a URL whose
 *           search_path points at it, optionally migrated;
 *   sql     one statement on a URL, or its first value as an integer,
 *           failing the test on any error;
 *   serve   an in-process gRPC server on 127.0.0.1:0 and a channel to it.
 *
 * Header-only (static inline), like se_test_stack.h. Needs SE_PG_URL (from
 * scripts/test.sh); a suite header that uses these must still name the
 * stack itself (SE_PG_URL / SE_REDIS_URL), which is how tests/CMakeLists.txt
 * gives the suite the stack lock.
 */
#ifndef SE_TEST_FIXTURE_H
#define SE_TEST_FIXTURE_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_pg.h"
#include "se_rpc.h"
#include "se_test_stack.h"

/* ---- sql ---------------------------------------------------------------------- */

/* Runs sql (may hold several statements) on url; fails the test on error. */
static inline void se_test_sql_exec(const char *url, const char *sql)
{
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create(url, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.msg);
    ck_assert_msg(se_pg_exec(c, sql, 0, &err) == 0, "%s: %s", sql, err.msg);
    se_pg_conn_destroy(c);
}

/* The first column of the only row of sql on url, as an integer; fails the
 * test on an error or another number of rows. */
static inline int64_t se_test_sql_int(const char *url, const char *sql)
{
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create(url, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.msg);
    PGresult *r = se_pg_exec_params(c, sql, 0, NULL, 0, &err);
    ck_assert_msg(r != NULL, "%s: %s", sql, err.msg);
    ck_assert_msg(PQntuples(r) == 1, "%s: %d rows", sql, PQntuples(r));
    int64_t v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    se_pg_conn_destroy(c);
    return v;
}

/* ---- schema ------------------------------------------------------------------- */

/* A fresh schema "<prefix><pid>" in SE_PG_URL's database, its name in
 * schema[64] and a URL using it (search_path) in url[1024]; then the n
 * migrations of m (scope as in se_pg_migrate_list) when m is not NULL. */
static inline void se_test_schema_create(const char *prefix, char *schema, char *url,
                                         const char *scope, const se_pg_migration *m,
                                         size_t n)
{
    const char *base = se_test_env_url("SE_PG_URL");
    snprintf(schema, 64, "%s", se_test_uniq(prefix, "", ""));
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema,
             schema);
    se_test_sql_exec(base, sql);
    snprintf(url, 1024, "%s%coptions=-csearch_path%%3D%s", base, strchr(base, '?') ? '&' : '?',
             schema);
    if (m == NULL)
        return;
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create(url, &err);
    ck_assert_msg(c != NULL, "connect: %s", err.msg);
    ck_assert_msg(se_pg_migrate_list(c, scope, m, n, &err) >= 0, "migrate %s: %s", scope,
                  err.msg);
    se_pg_conn_destroy(c);
}

static inline void se_test_schema_drop(const char *schema)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    se_test_sql_exec(se_test_env_url("SE_PG_URL"), sql);
}

/* ---- serve -------------------------------------------------------------------- */

/* A server named `name` on 127.0.0.1:0 (8 threads, 500 ms grace), not yet
 * started: register the services on it, then se_test_server_start. */
static inline se_server *se_test_server_create(const char *name)
{
    se_server_config sc = {.name = name, .listen_addr = "127.0.0.1:0", .threads = 8,
                           .grace_ms = 500};
    se_server *srv = se_server_create(&sc);
    ck_assert_ptr_nonnull(srv);
    return srv;
}

/* Starts srv and returns a channel to it (shared, owned by the runtime). */
static inline se_channel *se_test_server_start(se_server *srv)
{
    ck_assert_int_eq(se_server_start(srv), 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", se_server_port(srv));
    return se_channel_get(target);
}

#endif
