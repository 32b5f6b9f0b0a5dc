/* test_pg.c - se_pg against a real PostgreSQL (scripts/test.sh starts one and
 * exports SE_PG_URL and SE_STACK_DIR). Without them every test fails with a
 * message saying so: these tests never skip silently.
 *
 * The restart test stops and starts the shared server: run this suite alone
 * (ctest runs suites one at a time in scripts/test.sh). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "se_log.h"
#include "se_pg.h"
#include "se_test_stack.h"

static const char *pg_url(void)
{
    return se_test_env_url("SE_PG_URL");
}

static se_pg_conn *connect_or_fail(void)
{
    se_pg_err err = {0};
    se_pg_conn *c = se_pg_conn_create(pg_url(), &err);
    ck_assert_msg(c != NULL, "connect failed: %s", err.msg);
    return c;
}

static void must_exec(se_pg_conn *c, const char *sql)
{
    se_pg_err err = {0};
    ck_assert_msg(se_pg_exec(c, sql, 0, &err) == 0, "%s: %s", sql, err.msg);
}

/* A name unique to this process, so reruns on one database never collide. */
static const char *uniq(const char *base)
{
    return se_test_uniq("", base, "_");
}

/* Creates the table <base>_<pid> (id int PRIMARY KEY); returns its name
 * (valid until 8 more uniq calls). */
static const char *create_id_table(se_pg_conn *c, const char *base)
{
    const char *t = uniq(base);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id int PRIMARY KEY)", t);
    must_exec(c, sql);
    return t;
}

static void setup(void)
{
    se_log_init("test_pg");
}

/* ---- statements ------------------------------------------------------------- */

START_TEST(query_round_trip)
{
    se_pg_conn *c = connect_or_fail();
    const char *params[] = {"41", "h\xc3\xa9llo", NULL};
    se_pg_err err = {0};
    PGresult *r = se_pg_exec_params(c, "SELECT $1::int + 1, $2::text, $3::text IS NULL", 3, params, 0, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_int_eq(PQntuples(r), 1);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "42");
    ck_assert_str_eq(PQgetvalue(r, 0, 1), "h\xc3\xa9llo");
    ck_assert_str_eq(PQgetvalue(r, 0, 2), "t");
    PQclear(r);
    se_pg_conn_destroy(c);
}
END_TEST

START_TEST(error_has_sqlstate_and_context)
{
    se_pg_conn *c = connect_or_fail();
    se_pg_err err = {0};
    PGresult *r = se_pg_exec_params(c, "  -- a comment\n select * from no_such_table_at_all", 0, NULL, 0, &err);
    ck_assert_ptr_null(r);
    ck_assert_str_eq(err.sqlstate, "42P01");
    ck_assert_msg(strncmp(err.msg, "SELECT: ", 8) == 0 && strstr(err.msg, "no_such_table_at_all"), "%s",
                  err.msg);

    const char *t = create_id_table(c, "t_dup");
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES ($1)", t);
    const char *one[] = {"1"};
    PGresult *ok = se_pg_exec_params(c, sql, 1, one, 0, &err);
    ck_assert_ptr_nonnull(ok);
    PQclear(ok);
    ck_assert_ptr_null(se_pg_exec_params(c, sql, 1, one, 0, &err));
    ck_assert_str_eq(err.sqlstate, "23505");
    ck_assert_msg(strncmp(err.msg, "INSERT: duplicate key", 21) == 0, "%s", err.msg);
    se_pg_conn_destroy(c);
}
END_TEST

START_TEST(connect_failure_is_reported)
{
    se_pg_err err = {0};
    se_pg_conn *c = se_pg_conn_create("postgresql://nobody@127.0.0.1:1/none", &err);
    ck_assert_ptr_null(c);
    ck_assert_str_eq(err.sqlstate, "08001");
    ck_assert_msg(strncmp(err.msg, "CONNECT: ", 9) == 0, "%s", err.msg);
}
END_TEST

/* ---- reconnection ----------------------------------------------------------- */

static char *backend_pid(se_pg_conn *c)
{
    se_pg_err err = {0};
    PGresult *r = se_pg_exec_params(c, "SELECT pg_backend_pid()", 0, NULL, 0, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    char *pid = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return pid;
}

static void terminate_and_wait(se_pg_conn *killer, const char *pid)
{
    se_pg_err err = {0};
    const char *p[] = {pid};
    PGresult *r = se_pg_exec_params(killer, "SELECT pg_terminate_backend($1::int)", 1, p, 0, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    for (int i = 0; i < 500; i++) { /* poll until the backend is gone */
        r = se_pg_exec_params(killer, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1, p, 0,
                              &err);
        ck_assert_ptr_nonnull(r);
        int alive = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
        PQclear(r);
        if (!alive)
            return;
        usleep(10000);
    }
    ck_abort_msg("backend %s did not exit", pid);
}

/* One se_pg_exec_prepared of "SELECT $1::int + 1": its answer. */
static int plus_one(se_pg_conn *c, const char *n)
{
    static const char sql[] = "SELECT $1::int + 1";
    se_pg_err err = {0};
    const char *p[] = {n};
    PGresult *r = se_pg_exec_prepared(c, sql, 1, p, 0, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    int v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

/* How many statements the session has prepared (pg_prepared_statements). */
static int prepared_count(se_pg_conn *c)
{
    PGresult *r = se_pg_exec_params(c, "SELECT count(*) FROM pg_prepared_statements", 0, NULL, 0,
                                    NULL);
    ck_assert_ptr_nonnull(r);
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

START_TEST(prepared_statements_are_prepared_once_per_session)
{
    se_pg_conn *c = connect_or_fail(), *killer = connect_or_fail();
    ck_assert_int_eq(plus_one(c, "1"), 2);
    ck_assert_int_eq(plus_one(c, "41"), 42);
    ck_assert_int_eq(prepared_count(c), 1);
    char copy[] = "SELECT $1::int + 1"; /* told apart by text, not by address */
    const char *p[] = {"6"};
    PGresult *r = se_pg_exec_prepared(c, copy, 1, p, 0, NULL);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "7");
    PQclear(r);
    ck_assert_int_eq(prepared_count(c), 1);
    /* a new session: prepared again on first use */
    char *pid = backend_pid(c);
    terminate_and_wait(killer, pid);
    ck_assert_int_eq(plus_one(c, "2"), 3);
    ck_assert_uint_eq(se_pg_conn_reconnects(c), 1);
    ck_assert_int_eq(prepared_count(c), 1);
    /* errors are reported as for se_pg_exec_params */
    se_pg_err err = {0};
    ck_assert_ptr_null(se_pg_exec_prepared(c, "SELECT * FROM no_such_table", 0, NULL, 0, &err));
    ck_assert_str_eq(err.sqlstate, "42P01");
    const char *bad[] = {"x"};
    ck_assert_ptr_null(se_pg_exec_prepared(c, "SELECT $1::int + 1", 1, bad, 0, &err));
    ck_assert_str_eq(err.sqlstate, "22P02");
    ck_assert_int_eq(plus_one(c, "3"), 4);
    free(pid);
    se_pg_conn_destroy(c);
    se_pg_conn_destroy(killer);
}
END_TEST

/* The value of a setting on c's session. */
static char *setting(se_pg_conn *c, const char *name)
{
    const char *p[] = {name};
    PGresult *r = se_pg_exec_params(c, "SELECT current_setting($1)", 1, p, 0, NULL);
    ck_assert_ptr_nonnull(r);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

START_TEST(session_sql_runs_on_every_session)
{
    se_pg_err err = {0};
    const char *url = pg_url();
    se_pg_conn *c = se_pg_conn_create_ex(url, "SET plan_cache_mode = force_generic_plan", &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    se_pg_conn *killer = connect_or_fail();
    char *v = setting(c, "plan_cache_mode");
    ck_assert_str_eq(v, "force_generic_plan");
    free(v);
    char *pid = backend_pid(c);
    terminate_and_wait(killer, pid); /* the new session gets it too */
    v = setting(c, "plan_cache_mode");
    ck_assert_str_eq(v, "force_generic_plan");
    ck_assert_uint_eq(se_pg_conn_reconnects(c), 1);
    free(v);
    free(pid);
    se_pg_conn_destroy(c);
    se_pg_conn_destroy(killer);
    /* a failing session statement fails the connection, naming it */
    ck_assert_ptr_null(se_pg_conn_create_ex(url, "SET no_such_setting = 1", &err));
    ck_assert_msg(strstr(err.msg, "no_such_setting") != NULL, "%s", err.msg);
}
END_TEST

START_TEST(reconnects_after_backend_terminated)
{
    se_pg_conn *c = connect_or_fail(), *killer = connect_or_fail();
    char *pid = backend_pid(c);
    terminate_and_wait(killer, pid);
    /* Not idempotent, yet safe: the loss is noticed before sending. */
    char *pid2 = backend_pid(c);
    ck_assert_str_ne(pid, pid2);
    ck_assert_uint_eq(se_pg_conn_reconnects(c), 1);
    free(pid);
    free(pid2);
    se_pg_conn_destroy(c);
    se_pg_conn_destroy(killer);
}
END_TEST

static void terminate(void *pid)
{
    se_pg_conn *k = connect_or_fail();
    const char *params[] = {pid};
    PQclear(se_pg_exec_params(k, "SELECT pg_terminate_backend($1::int)", 1, params, 0, NULL));
    se_pg_conn_destroy(k);
}

/* Runs a 1 s statement whose backend is killed after 200 ms. */
static PGresult *run_while_killed(se_pg_conn *c, int flags, se_pg_err *err)
{
    char *pid = backend_pid(c);
    se_test_later killer;
    se_test_later_start(&killer, 200, terminate, pid);
    PGresult *r = se_pg_exec_params(c, "SELECT pg_sleep(1)", 0, NULL, flags, err);
    se_test_later_join(&killer);
    free(pid);
    return r;
}

START_TEST(idempotent_statement_retried_when_lost_in_flight)
{
    se_pg_conn *c = connect_or_fail();
    se_pg_err err = {0};
    PGresult *r = run_while_killed(c, SE_PG_IDEMPOTENT, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    PQclear(r);
    ck_assert_uint_eq(se_pg_conn_reconnects(c), 1);
    se_pg_conn_destroy(c);
}
END_TEST

START_TEST(other_statement_not_retried_when_lost_in_flight)
{
    se_pg_conn *c = connect_or_fail();
    se_pg_err err = {0};
    ck_assert_ptr_null(run_while_killed(c, 0, &err));
    ck_assert_str_eq(err.sqlstate, "08006");
    /* ...but the next statement gets a fresh connection. */
    free(backend_pid(c));
    ck_assert_uint_eq(se_pg_conn_reconnects(c), 1);
    se_pg_conn_destroy(c);
}
END_TEST

START_TEST(survives_server_restart)
{
    se_pg_conn *c = connect_or_fail();
    free(backend_pid(c));
    se_test_stack("stop-pg");
    se_pg_err err = {0};
    double t0 = se_test_seconds();
    PGresult *r = se_pg_exec_params(c, "SELECT 1", 0, NULL, SE_PG_IDEMPOTENT, &err);
    double took = se_test_seconds() - t0;
    ck_assert_ptr_null(r);
    ck_assert_msg(strncmp(err.sqlstate, "08", 2) == 0, "sqlstate %s", err.sqlstate);
    ck_assert_msg(took < 5, "gave up only after %.1f s", took);
    se_test_stack("start-pg");
    r = se_pg_exec_params(c, "SELECT 1", 0, NULL, 0, &err);
    ck_assert_msg(r != NULL, "%s", err.msg);
    PQclear(r);
    se_pg_conn_destroy(c);
}
END_TEST

/* ---- transactions ----------------------------------------------------------- */

typedef struct tx_arg {
    const char *table;
    const char *value;
    int fail;      /* 1: return -1 after the insert */
    int fail_40001_times;
    int calls;
} tx_arg;

static int tx_insert(se_pg_conn *c, void *p, se_pg_err *err)
{
    tx_arg *a = p;
    a->calls++;
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES ($1)", a->table);
    const char *params[] = {a->value};
    PGresult *r = se_pg_exec_params(c, sql, 1, params, 0, err);
    int ok = r != NULL;
    PQclear(r);
    if (a->fail_40001_times > 0) {
        a->fail_40001_times--;
        snprintf(err->sqlstate, sizeof err->sqlstate, "40001");
        snprintf(err->msg, sizeof err->msg, "simulated serialization failure");
        return -1;
    }
    (void)ok; /* an error is ignored on purpose: se_pg_tx must notice */
    return a->fail ? -1 : 0;
}

static int count_rows(se_pg_conn *c, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    PGresult *r = se_pg_exec_params(c, sql, 0, NULL, 0, NULL);
    ck_assert_ptr_nonnull(r);
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

START_TEST(tx_commits_and_rolls_back)
{
    se_pg_conn *c = connect_or_fail();
    const char *t = create_id_table(c, "t_tx");
    se_pg_err err = {0};
    tx_arg a = {t, "1", 0, 0, 0};
    ck_assert_int_eq(se_pg_tx(c, 0, tx_insert, &a, &err), 0);
    tx_arg b = {t, "2", 1, 0, 0};
    ck_assert_int_eq(se_pg_tx(c, 0, tx_insert, &b, &err), -1);
    ck_assert_int_eq(count_rows(c, t), 1);
    /* The body ignores a duplicate-key error and asks to commit: refused. */
    tx_arg dup = {t, "1", 0, 0, 0};
    ck_assert_int_eq(se_pg_tx(c, 0, tx_insert, &dup, &err), -1);
    ck_assert_str_eq(err.sqlstate, "25P02");
    ck_assert_int_eq(PQtransactionStatus(se_pg_conn_raw(c)), PQTRANS_IDLE);
    se_pg_conn_destroy(c);
}
END_TEST

START_TEST(tx_retries_serialization_failures)
{
    se_pg_conn *c = connect_or_fail();
    const char *t = create_id_table(c, "t_retry");
    se_pg_err err = {0};
    tx_arg a = {t, "7", 0, 2, 0};
    ck_assert_int_eq(se_pg_tx(c, SE_PG_TX_SERIALIZABLE | SE_PG_TX_RETRY, tx_insert, &a, &err), 0);
    ck_assert_int_eq(a.calls, 3);
    ck_assert_int_eq(count_rows(c, t), 1);
    tx_arg b = {t, "8", 0, 1, 0}; /* without SE_PG_TX_RETRY: one call, failure */
    ck_assert_int_eq(se_pg_tx(c, 0, tx_insert, &b, &err), -1);
    ck_assert_str_eq(err.sqlstate, "40001");
    ck_assert_int_eq(b.calls, 1);
    ck_assert_int_eq(count_rows(c, t), 1);
    se_pg_conn_destroy(c);
}
END_TEST

/* ---- migrations ------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* 001 and 002 create tables <tag>_b_<pid> and <tag>_a_<pid> (one row). */
static char *make_migrations_dir(const char *tag)
{
    char tmpl[] = "/tmp/se_migrations_XXXXXX";
    char *dir = strdup(mkdtemp(tmpl));
    char sql[512], a[64], b[64];
    snprintf(a, sizeof a, "%s_a", tag);
    snprintf(b, sizeof b, "%s_b", tag);
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id int PRIMARY KEY, name text);\n"
             "INSERT INTO %s VALUES (1, 'one');\n", uniq(a), uniq(a));
    write_file(dir, "002_data.sql", sql);
    snprintf(sql, sizeof sql, "-- first\nCREATE TABLE %s (id int);", uniq(b));
    write_file(dir, "001_first.sql", sql);
    write_file(dir, "README.txt", "not a migration");
    return dir;
}

static void remove_dir(char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}

START_TEST(migrations_apply_once_in_order)
{
    se_pg_conn *c = connect_or_fail();
    char *dir = make_migrations_dir("mig1");
    const char *scope = uniq("scope");
    se_pg_err err = {0};
    ck_assert_int_eq(se_pg_migrate(c, scope, dir, &err), 2);
    ck_assert_int_eq(se_pg_migrate(c, scope, dir, &err), 0);
    ck_assert_int_eq(count_rows(c, uniq("mig1_a")), 1);
    const char *p[] = {scope};
    PGresult *r = se_pg_exec_params(c, "SELECT name FROM schema_migrations WHERE scope = $1 ORDER BY applied_at, name",
                                    1, p, 0, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(PQntuples(r), 2);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "001_first.sql");
    ck_assert_str_eq(PQgetvalue(r, 1, 0), "002_data.sql");
    PQclear(r);
    /* A new file later: only it is applied. */
    write_file(dir, "003_more.sql", "SELECT 1;");
    ck_assert_int_eq(se_pg_migrate(c, scope, dir, &err), 1);
    ck_assert_int_eq(se_pg_migrate(c, scope, dir, &err), 0);
    remove_dir(dir);
    se_pg_conn_destroy(c);
}
END_TEST

/* `se-menu/se-order --migrate-only` (the Kubernetes migration Job): the
 * exit code says what happened. */
START_TEST(migrate_main_applies_and_reports_by_exit_code)
{
    char table[64], sql[128];
    snprintf(table, sizeof table, "%s", uniq("mig_main"));
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id int)", table);
    const se_pg_migration m[] = {{"001_table.sql", sql}};
    const char *scope = uniq("scope_main");
    char url[512];
    snprintf(url, sizeof url, "%s", pg_url());
    unsetenv("SE_PG_URL");
    ck_assert_int_eq(se_pg_migrate_main(scope, m, 1), 2);
    setenv("SE_PG_URL", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", 1);
    ck_assert_int_eq(se_pg_migrate_main(scope, m, 1), 1);
    setenv("SE_PG_URL", url, 1);
    ck_assert_int_eq(se_pg_migrate_main(scope, m, 1), 0);
    ck_assert_int_eq(se_pg_migrate_main(scope, m, 1), 0); /* up to date */
    se_pg_conn *c = connect_or_fail();
    ck_assert_int_eq(count_rows(c, table), 0); /* the table exists, empty */
    const char *p[] = {scope};
    se_pg_err err;
    PGresult *r = se_pg_exec_params(c, "SELECT count(*) FROM schema_migrations WHERE scope = $1",
                                    1, p, 0, &err);
    ck_assert_ptr_nonnull(r);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    se_pg_conn_destroy(c);
}
END_TEST

START_TEST(failing_migration_is_rolled_back)
{
    se_pg_conn *c = connect_or_fail();
    char *dir = make_migrations_dir("mig2");
    char sql[256];
    snprintf(sql, sizeof sql, "CREATE TABLE %s (id int);\nCREATE TABLEX oops;", uniq("mig_bad"));
    write_file(dir, "003_bad.sql", sql);
    const char *scope = uniq("scope_bad");
    se_pg_err err = {0};
    ck_assert_int_eq(se_pg_migrate(c, scope, dir, &err), -1);
    ck_assert_str_eq(err.sqlstate, "42601");
    /* 001 and 002 stayed applied; 003 left nothing behind. */
    const char *p[] = {scope};
    PGresult *r = se_pg_exec_params(c, "SELECT count(*) FROM schema_migrations WHERE scope = $1", 1, p, 0, &err);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "2");
    PQclear(r);
    const char *t[] = {uniq("mig_bad")};
    r = se_pg_exec_params(c, "SELECT to_regclass($1) IS NULL", 1, t, 0, &err);
    ck_assert_str_eq(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
    ck_assert_int_eq(se_pg_migrate(c, scope, "/nonexistent/dir", &err), -1);
    remove_dir(dir);
    se_pg_conn_destroy(c);
}
END_TEST

typedef struct migrate_arg {
    const se_pg_migration *m;
    size_t n;
    const char *scope;
    int applied;
} migrate_arg;

static void *migrate_thread(void *p)
{
    migrate_arg *a = p;
    se_pg_conn *c = connect_or_fail();
    se_pg_err err = {0};
    a->applied = se_pg_migrate_list(c, a->scope, a->m, a->n, &err);
    se_pg_conn_destroy(c);
    return NULL;
}

START_TEST(concurrent_replicas_apply_each_migration_once)
{
    char s1[256], s2[256];
    snprintf(s1, sizeof s1, "CREATE TABLE %s (id int); SELECT pg_sleep(0.2);", uniq("mig_c1"));
    snprintf(s2, sizeof s2, "CREATE TABLE %s (id int);", uniq("mig_c2"));
    se_pg_migration m[] = {{"b.sql", s2}, {"a.sql", s1}};
    migrate_arg a[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (migrate_arg){m, 2, uniq("scope_conc"), 0};
        ck_assert_int_eq(pthread_create(&t[i], NULL, migrate_thread, &a[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ck_assert_int_ge(a[i].applied, 0);
        total += a[i].applied;
    }
    ck_assert_int_eq(total, 2);
}
END_TEST

/* ---- pool ------------------------------------------------------------------- */

static int pool_step(void *pool, int i)
{
    se_pg_conn *c = se_pg_pool_acquire(pool, 5000);
    if (c == NULL)
        return 0;
    char v[16];
    snprintf(v, sizeof v, "%d", i);
    const char *params[] = {v};
    PGresult *r = se_pg_exec_params(c, "SELECT $1::int * 2", 1, params, 0, NULL);
    int ok = r != NULL && atoi(PQgetvalue(r, 0, 0)) == i * 2;
    PQclear(r);
    se_pg_pool_release(pool, c);
    return ok;
}

START_TEST(pool_shared_by_threads)
{
    se_pg_err err = {0};
    se_pg_pool *pool = se_pg_pool_create(pg_url(), 2, &err);
    ck_assert_msg(pool != NULL, "%s", err.msg);
    se_test_pool_threads(pool, 4, 50, pool_step);
    se_pg_pool_destroy(pool);
}
END_TEST

START_TEST(pool_acquire_times_out_and_release_rolls_back)
{
    se_pg_err err = {0};
    se_pg_pool *pool = se_pg_pool_create(pg_url(), 2, &err);
    ck_assert_msg(pool != NULL, "%s", err.msg);
    se_pg_conn *a = se_pg_pool_acquire(pool, 0), *b = se_pg_pool_acquire(pool, 1000);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(se_pg_pool_acquire(pool, 100));
    must_exec(a, "BEGIN");
    ck_assert_int_eq(PQtransactionStatus(se_pg_conn_raw(a)), PQTRANS_INTRANS);
    se_pg_pool_release(pool, a);
    se_pg_conn *again = se_pg_pool_acquire(pool, 100);
    ck_assert_ptr_eq(again, a);
    ck_assert_int_eq(PQtransactionStatus(se_pg_conn_raw(again)), PQTRANS_IDLE);
    se_pg_pool_release(pool, again);
    se_pg_pool_release(pool, b);
    se_pg_pool_destroy(pool);
    ck_assert_ptr_null(se_pg_pool_create(pg_url(), 0, &err));
}
END_TEST

static Suite *pg_suite(void)
{
    Suite *s = suite_create("pg");
    TCase *tc = tcase_create("pg");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, query_round_trip);
    tcase_add_test(tc, error_has_sqlstate_and_context);
    tcase_add_test(tc, connect_failure_is_reported);
    tcase_add_test(tc, prepared_statements_are_prepared_once_per_session);
    tcase_add_test(tc, session_sql_runs_on_every_session);
    tcase_add_test(tc, reconnects_after_backend_terminated);
    tcase_add_test(tc, idempotent_statement_retried_when_lost_in_flight);
    tcase_add_test(tc, other_statement_not_retried_when_lost_in_flight);
    tcase_add_test(tc, survives_server_restart);
    tcase_add_test(tc, tx_commits_and_rolls_back);
    tcase_add_test(tc, tx_retries_serialization_failures);
    tcase_add_test(tc, migrations_apply_once_in_order);
    tcase_add_test(tc, migrate_main_applies_and_reports_by_exit_code);
    tcase_add_test(tc, failing_migration_is_rolled_back);
    tcase_add_test(tc, concurrent_replicas_apply_each_migration_once);
    tcase_add_test(tc, pool_shared_by_threads);
    tcase_add_test(tc, pool_acquire_times_out_and_release_rolls_back);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(pg_suite());
}
