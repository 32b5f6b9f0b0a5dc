/* se_pg.h - PostgreSQL helpers on libpq: connections that reconnect, query
 * helpers that report errors with context, transactions, a fixed-size pool
 * and a migrations runner.
 *
 * Errors: every failing helper fills an se_pg_err (when the pointer is not
 * NULL) and logs one line ("pg_error") with the SQL verb, the SQLSTATE and
 * the server's message. Connection failures on the client side use SQLSTATE
 * class 08 ("08006"), so a caller can map errors by class alone:
 *   08xxx connection lost  -> UNAVAILABLE      23505 unique violation -> ALREADY_EXISTS
 *   40001/40P01 retryable  -> ABORTED          anything else          -> INTERNAL
 *
 * Reconnection: before a statement is sent, a connection that the server
 * closed while it sat idle (restart, pg_terminate_backend) is noticed and
 * re-established (bounded backoff, about 1.5 s at most), so the statement
 * runs on a fresh session: this is safe for any statement. A connection lost
 * while a statement was in flight is retried once only when the caller says
 * the statement is idempotent (SE_PG_IDEMPOTENT), and never inside a
 * transaction.
 *
 * THREAD: an se_pg_conn is used by one thread at a time (the pool hands it
 * to one thread); the pool itself is safe from any thread.
 */
#ifndef SE_PG_H
#define SE_PG_H

#include <stddef.h>
#include <libpq-fe.h>

typedef struct se_pg_err {
    char sqlstate[6]; /* "23505"; "08006" for lost connections; "" if none */
    char msg[512];    /* "INSERT: duplicate key value violates ..." */
} se_pg_err;

/* Statement flags. */
enum {
    SE_PG_IDEMPOTENT = 1, /* safe to run twice: retry once if the connection
                             was lost while it was in flight */
};

typedef struct se_pg_conn se_pg_conn;

/* Connects to `url` (a libpq URI "postgresql://user@host:port/db" or a
 * "key=value" conninfo), retrying with backoff for about 1.5 s.
 * OWNERSHIP: url is copied; the caller owns the result (se_pg_conn_destroy).
 * ON ERROR: NULL, err filled, one log line. */
se_pg_conn *se_pg_conn_create(const char *url, se_pg_err *err);
/* se_pg_conn_create that also runs `session_sql` (e.g. "SET
 * plan_cache_mode = force_generic_plan") at the start of every session:
 * after connecting and after each reconnect. NULL: nothing. ON ERROR (the
 * statement fails): NULL, err filled; on a reconnect, the reconnect fails. */
se_pg_conn *se_pg_conn_create_ex(const char *url, const char *session_sql, se_pg_err *err);

/* Closes and frees (NULL is fine). */
void se_pg_conn_destroy(se_pg_conn *c);

/* Makes sure the connection is usable, reconnecting if the server closed it.
 * ON ERROR: -1 (err filled, logged); the next call tries again. */
int se_pg_conn_ensure(se_pg_conn *c, se_pg_err *err);
/* The underlying libpq connection, for what the helpers do not cover (COPY,
 * LISTEN). OWNERSHIP: stays the se_pg_conn's; may change after any helper
 * call (reconnection), so do not keep it. */
PGconn *se_pg_conn_raw(se_pg_conn *c);
/* How many times this connection has been re-established (for tests/metrics). */
unsigned se_pg_conn_reconnects(const se_pg_conn *c);

/* Runs one statement with text parameters ($1..$n; a NULL value is SQL
 * NULL) and text results. `flags`: 0 or SE_PG_IDEMPOTENT.
 * OWNERSHIP: the caller owns the result: PQclear() it.
 * ON ERROR: NULL, err filled with SQLSTATE and "<VERB>: <message>", logged.
 * A result is returned only for PGRES_COMMAND_OK / PGRES_TUPLES_OK. */
PGresult *se_pg_exec_params(se_pg_conn *c, const char *sql, int nparams,
                            const char *const *params, int flags, se_pg_err *err);
/* se_pg_exec_params for a hot statement: prepared once per session (the
 * first use, and the first after a reconnect, costs one extra round trip),
 * then sent as Bind/Execute only, so the server skips parsing and planning.
 * Statements are told apart by their text (the connection keeps a copy);
 * at most 32 distinct texts per connection are prepared, more run
 * unprepared: for the fixed statements of a hot path, not for SQL built
 * with values inside.
 * Parameter types are inferred by the server (cast in the SQL: $1::bigint[]).
 * The server may switch to a generic plan (one for all parameter values)
 * after five executions: EXPLAIN it (PREPARE + EXPLAIN EXECUTE under
 * plan_cache_mode = force_generic_plan). Needs session-level connections
 * (not a transaction-pooling PgBouncer).
 * OWNERSHIP and ON ERROR: as se_pg_exec_params. */
PGresult *se_pg_exec_prepared(se_pg_conn *c, const char *sql, int nparams,
                              const char *const *params, int flags, se_pg_err *err);
/* Same without parameters, and without a result: 0 or -1. The SQL may hold
 * several statements (simple query protocol). */
int se_pg_exec(se_pg_conn *c, const char *sql, int flags, se_pg_err *err);

/* ---- transactions ------------------------------------------------------- */

/* The body of a transaction: run statements on c; return 0 to commit, any
 * other value to roll back (fill err to say why). */
typedef int (*se_pg_tx_fn)(se_pg_conn *c, void *arg, se_pg_err *err);

enum {
    SE_PG_TX_SERIALIZABLE = 1, /* BEGIN ISOLATION LEVEL SERIALIZABLE */
    SE_PG_TX_RETRY = 2,        /* re-run fn (up to 3 times in all) when the
                                  transaction fails with 40001/40P01 or the
                                  connection was lost before COMMIT; fn must
                                  then be safe to run again */
};

/* BEGIN; fn(c, arg, err); COMMIT (or ROLLBACK when fn fails).
 * THREAD: the caller's; fn runs on the calling thread.
 * ON ERROR: -1 with err filled (by fn or by BEGIN/COMMIT) and the
 * transaction rolled back; returns 0 once committed. */
int se_pg_tx(se_pg_conn *c, int flags, se_pg_tx_fn fn, void *arg, se_pg_err *err);

/* ---- pool --------------------------------------------------------------- */

typedef struct se_pg_pool se_pg_pool;

/* Opens `size` connections to url up front (fails fast at startup).
 * OWNERSHIP: caller owns the pool. ON ERROR: NULL, err filled, logged. */
se_pg_pool *se_pg_pool_create(const char *url, int size, se_pg_err *err);
/* Same with a statement run at the start of every session of every
 * connection (se_pg_conn_create_ex). */
se_pg_pool *se_pg_pool_create_ex(const char *url, int size, const char *session_sql,
                                 se_pg_err *err);
/* SE_PG_URL (required) and SE_PG_POOL_SIZE (default 4). Exits(2) when
 * SE_PG_URL is unset (configuration error); NULL if it cannot connect. */
se_pg_pool *se_pg_pool_create_from_env(se_pg_err *err);
/* Closes every connection. All connections must have been released. */
void se_pg_pool_destroy(se_pg_pool *p);
/* A connection for the calling thread's exclusive use, waiting up to
 * timeout_ms (<= 0: wait as long as it takes) for one to be released.
 * THREAD: any. ON ERROR: NULL on timeout (logged). */
se_pg_conn *se_pg_pool_acquire(se_pg_pool *p, int timeout_ms);
/* Gives c back; a transaction left open is rolled back first.
 * THREAD: any (usually the acquiring thread). */
void se_pg_pool_release(se_pg_pool *p, se_pg_conn *c);

/* ---- migrations --------------------------------------------------------- */

typedef struct se_pg_migration {
    const char *name; /* "001_init.sql": applied in strcmp order */
    const char *sql;  /* may hold several statements; no BEGIN/COMMIT */
} se_pg_migration;

/* Applies every migration of `scope` (e.g. "menu") not yet recorded in the
 * table schema_migrations(scope, name, applied_at), each in its own
 * transaction together with its record, under an advisory lock so that
 * concurrent replicas apply each one exactly once.
 * ON ERROR: -1 (err filled, logged); the failing migration is rolled back,
 * earlier ones stay applied. Returns how many were applied. */
int se_pg_migrate_list(se_pg_conn *c, const char *scope, const se_pg_migration *m,
                       size_t n, se_pg_err *err);
/* Same with the *.sql files of directory `dir`, in name order. */
int se_pg_migrate(se_pg_conn *c, const char *scope, const char *dir, se_pg_err *err);

/* The whole of `<service> --migrate-only` (the Kubernetes migration Job,
 * run before install and upgrade): connects with SE_PG_URL, applies the
 * migrations of `scope` (se_pg_migrate_list, so concurrent runs are safe)
 * and returns the process exit code: 0 when the schema is up to date (one
 * log line with how many were applied), 1 on a database error (logged), 2
 * when SE_PG_URL is unset. THREAD: main. OWNERSHIP: m is borrowed. */
int se_pg_migrate_main(const char *scope, const se_pg_migration *m, size_t n);

#endif
