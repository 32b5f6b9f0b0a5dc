/* se_pg.c - PostgreSQL helpers on libpq (see se_pg.h).
 *
 * DESIGN
 * - A connection notices that the server closed it while idle by polling its
 *   socket before each statement: an idle session gets nothing but a FATAL
 *   message and/or EOF when the server ends it (restart,
 *   pg_terminate_backend) - or NOTIFYs, which are left alone. Seeing EOF
 *   (CONNECTION_BAD) or a FATAL notice (EOF may still be on its way), we
 *   PQreset with bounded backoff before sending anything, which is safe for
 *   every statement. Only a loss while a statement is in flight is ambiguous; that
 *   case is retried only for SE_PG_IDEMPOTENT statements outside
 *   transactions.
 * - Server notices (and the FATAL text of a dying session) go to se_log, not
 *   to stderr.
 * - The pool is an se_pool (se_pool.h) of se_pg_conn; releasing a connection
 *   rolls back a transaction left open, so the next user starts clean.
 * - se_pg_exec_prepared keeps, per connection, the texts it prepared on the
 *   current session (named "se_<index>"); a reconnect (a new session)
 *   empties the list, so the next use prepares again. Measured on this
 *   machine: the order service's INSERT with three CTEs ran at about twice
 *   the rate prepared (pgbench -M prepared against -M extended).
 */
#include "se_pg.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_config.h"
#include "se_log.h"
#include "se_pool.h"

#define SE_PG_CONNECT_TIMEOUT_S "5"
/* Advisory lock key for migrations: "SEMIGRAT" as a big-endian int64. */
#define SE_PG_MIGRATE_LOCK "5999771263736713556"

/* Statements se_pg_exec_prepared prepares per session, at most. */
#define SE_PG_MAX_PREPARED 32

struct se_pg_conn {
    char *url;           /* owned copy */
    PGconn *pg;          /* never NULL after create */
    unsigned reconnects; /* successful re-connections */
    int in_tx;           /* inside se_pg_tx: never reconnect or retry */
    int fatal_seen;      /* the server announced it is closing the session */
    char *session_sql;   /* owned copy or NULL: run at the start of every session */
    /* se_pg_exec_prepared: the SQL texts (owned copies) prepared on the
     * current session as "se_<index>", valid while reconnects equals
     * prepared_session (a new session has none) */
    char *prepared[SE_PG_MAX_PREPARED];
    int n_prepared;
    unsigned prepared_session;
};

static void forget_prepared(se_pg_conn *c);

/* ---- errors ------------------------------------------------------------- */

/* The statement's first keyword, upper-cased ("SELECT"), skipping blanks
 * and "--" comments. */
static void sql_verb(const char *sql, char *out, size_t cap)
{
    const char *p = sql;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '(')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p != '\0' && *p != '\n')
                p++;
            continue;
        }
        break;
    }
    size_t n = 0;
    while (n + 1 < cap && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
        out[n++] = (char)(*p >= 'a' ? *p - 32 : *p);
        p++;
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "SQL");
}

/* Fills err and logs one line. Constraint violations and serialization
 * failures are normal business outcomes: logged as warnings. */
static void report(se_pg_err *err, const char *verb, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report(se_pg_err *err, const char *verb, const char *sqlstate, const char *fmt, ...)
{
    char text[400], esc[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    if (err != NULL) {
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", sqlstate);
        snprintf(err->msg, sizeof err->msg, "%s: %s", verb, text);
    }
    int expected = strncmp(sqlstate, "23", 2) == 0 || strcmp(sqlstate, "40001") == 0 ||
                   strcmp(sqlstate, "40P01") == 0;
    se_log_fields(expected ? SE_LOG_WARN : SE_LOG_ERROR, "pg_error",
                  "\"verb\":\"%s\",\"sqlstate\":\"%s\",\"msg\":\"%s\"", verb, sqlstate,
                  se_json_escape(esc, sizeof esc, text));
}

static void report_result(se_pg_conn *c, const PGresult *r, const char *sql, se_pg_err *err)
{
    char verb[24];
    sql_verb(sql, verb, sizeof verb);
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (msg == NULL)
        msg = PQerrorMessage(c->pg);
    if (PQstatus(c->pg) != CONNECTION_OK)
        state = "08006";
    else if (state == NULL)
        state = r == NULL ? "08006" : "XX000";
    report(err, verb, state, "%s", msg);
}

/* ---- connections -------------------------------------------------------- */

/* Server notices: WARNING and worse (e.g. the FATAL text of a session the
 * server is closing) as warnings, NOTICE/INFO chatter at debug level. */
static void notice_to_log(void *arg, const PGresult *r)
{
    char esc[512];
    se_pg_conn *c = arg; /* NULL while connecting */
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (c != NULL && sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0))
        c->fatal_seen = 1;
    int loud = sev != NULL && strcmp(sev, "NOTICE") != 0 && strcmp(sev, "INFO") != 0 &&
               strcmp(sev, "LOG") != 0 && strncmp(sev, "DEBUG", 5) != 0;
    se_log_fields(loud ? SE_LOG_WARN : SE_LOG_DEBUG, "pg_notice", "\"msg\":\"%s\"",
                  se_json_escape(esc, sizeof esc, PQresultErrorMessage(r)));
}

static PGconn *connect_once(const char *url)
{
    /* Later keywords win: the URL's own connect_timeout overrides ours. */
    const char *const keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *const vals[] = {SE_PG_CONNECT_TIMEOUT_S, "swifteats", url, NULL};
    PGconn *pg = PQconnectdbParams(keys, vals, 1);
    if (pg == NULL) {
        se_log_error("out_of_memory", "pg: PQconnectdbParams");
        abort();
    }
    PQsetNoticeReceiver(pg, notice_to_log, NULL);
    return pg;
}

/* Runs the connection's session_sql on a fresh session: 0 or -1 (err). */
static int start_session(se_pg_conn *c, se_pg_err *err)
{
    if (c->session_sql == NULL)
        return 0;
    PGresult *r = PQexec(c->pg, c->session_sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        report(err, "SESSION", "08001", "%s: %s", c->session_sql, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

se_pg_conn *se_pg_conn_create(const char *url, se_pg_err *err)
{
    return se_pg_conn_create_ex(url, NULL, err);
}

se_pg_conn *se_pg_conn_create_ex(const char *url, const char *session_sql, se_pg_err *err)
{
    PGconn *pg = NULL;
    for (int i = 0; i < SE_CONNECT_ATTEMPTS; i++) {
        se_connect_backoff(i); /* about 1.5 s in all */
        PQfinish(pg);
        pg = connect_once(url);
        if (PQstatus(pg) == CONNECTION_OK)
            break;
    }
    if (PQstatus(pg) != CONNECTION_OK) {
        report(err, "CONNECT", "08001", "%s", PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    se_pg_conn *c = se_xmalloc(sizeof *c);
    *c = (se_pg_conn){.url = se_xstrdup(url), .pg = pg,
                      .session_sql = session_sql ? se_xstrdup(session_sql) : NULL};
    PQsetNoticeReceiver(pg, notice_to_log, c); /* kept across PQreset */
    if (start_session(c, err) != 0) {
        se_pg_conn_destroy(c);
        return NULL;
    }
    return c;
}

void se_pg_conn_destroy(se_pg_conn *c)
{
    if (c == NULL)
        return;
    PQfinish(c->pg);
    forget_prepared(c);
    free(c->session_sql);
    free(c->url);
    free(c);
}

PGconn *se_pg_conn_raw(se_pg_conn *c)
{
    return c->pg;
}

unsigned se_pg_conn_reconnects(const se_pg_conn *c)
{
    return c->reconnects;
}

/* 1 when the server closed this idle connection, or announced with a FATAL
 * message that it is about to (see DESIGN). */
static int went_away(se_pg_conn *c)
{
    PGconn *pg = c->pg;
    for (int i = 0; i < 4 && !c->fatal_seen; i++) {
        if (PQstatus(pg) != CONNECTION_OK)
            return 1;
        struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
        if (poll(&pfd, 1, 0) <= 0)
            return 0;
        if (!PQconsumeInput(pg))
            return 1;
        (void)PQisBusy(pg); /* parses what was read: runs the notice receiver */
    }
    return c->fatal_seen || PQstatus(pg) != CONNECTION_OK;
}

int se_pg_conn_ensure(se_pg_conn *c, se_pg_err *err)
{
    if (!went_away(c))
        return 0;
    se_log_warn("pg_reconnecting", "connection lost: %s", PQerrorMessage(c->pg));
    for (int i = 0; i < SE_CONNECT_ATTEMPTS; i++) {
        se_connect_backoff(i); /* about 1.5 s in all */
        PQreset(c->pg);
        if (PQstatus(c->pg) == CONNECTION_OK && start_session(c, err) == 0) {
            c->fatal_seen = 0;
            c->reconnects++;
            se_log_info("pg_reconnected", "after %d attempt(s)", i + 1);
            return 0;
        }
    }
    report(err, "CONNECT", "08001", "%s", PQerrorMessage(c->pg));
    return -1;
}

/* ---- statements --------------------------------------------------------- */

enum { RUN_PARAMS, RUN_SIMPLE, RUN_PREPARED };

static void forget_prepared(se_pg_conn *c)
{
    for (int i = 0; i < c->n_prepared; i++)
        free(c->prepared[i]);
    c->n_prepared = 0;
}

/* The name sql is prepared under on c's session, preparing it first if it
 * is not yet (one round trip); NULL when the table is full (run it
 * unprepared) or the prepare failed (*failed set, the PGresult in *r). */
static const char *prepared_name(se_pg_conn *c, const char *sql, int nparams, char *name,
                                 int *failed, PGresult **r)
{
    if (c->prepared_session != c->reconnects) { /* a new session has none */
        forget_prepared(c);
        c->prepared_session = c->reconnects;
    }
    int i = 0;
    while (i < c->n_prepared && strcmp(c->prepared[i], sql) != 0)
        i++;
    if (i == SE_PG_MAX_PREPARED)
        return NULL;
    snprintf(name, 16, "se_%d", i);
    if (i < c->n_prepared)
        return name;
    *r = PQprepare(c->pg, name, sql, nparams, NULL);
    if (PQresultStatus(*r) != PGRES_COMMAND_OK) {
        *failed = 1;
        return NULL;
    }
    PQclear(*r);
    *r = NULL;
    c->prepared[c->n_prepared++] = se_xstrdup(sql);
    return name;
}

/* Sends one statement the way `mode` says; the result (NULL possible). */
static PGresult *send_once(se_pg_conn *c, const char *sql, int nparams,
                           const char *const *params, int mode)
{
    if (mode == RUN_SIMPLE)
        return PQexec(c->pg, sql);
    if (mode == RUN_PREPARED) {
        char name[16];
        int failed = 0;
        PGresult *r = NULL;
        const char *n = prepared_name(c, sql, nparams, name, &failed, &r);
        if (failed)
            return r;
        if (n != NULL)
            return PQexecPrepared(c->pg, n, nparams, params, NULL, NULL, 0);
    }
    return PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
}

/* One statement, reconnecting before and retrying after as the rules say.
 * mode: RUN_PARAMS, RUN_SIMPLE (PQexec: several statements, no
 * parameters) or RUN_PREPARED. */
static PGresult *run(se_pg_conn *c, const char *sql, int nparams, const char *const *params,
                     int flags, int mode, se_pg_err *err)
{
    for (int attempt = 0;; attempt++) {
        if (c->in_tx && went_away(c)) {
            report_result(c, NULL, sql, err);
            return NULL;
        }
        if (!c->in_tx && se_pg_conn_ensure(c, err) != 0)
            return NULL;
        PGresult *r = send_once(c, sql, nparams, params, mode);
        ExecStatusType s = PQresultStatus(r);
        if (r != NULL && (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK))
            return r;
        int lost = PQstatus(c->pg) != CONNECTION_OK;
        if (lost && attempt == 0 && !c->in_tx && (flags & SE_PG_IDEMPOTENT)) {
            PQclear(r);
            se_log_warn("pg_retry", "connection lost during an idempotent statement; retrying once");
            continue;
        }
        report_result(c, r, sql, err);
        PQclear(r);
        return NULL;
    }
}

PGresult *se_pg_exec_params(se_pg_conn *c, const char *sql, int nparams,
                            const char *const *params, int flags, se_pg_err *err)
{
    return run(c, sql, nparams, params, flags, RUN_PARAMS, err);
}

PGresult *se_pg_exec_prepared(se_pg_conn *c, const char *sql, int nparams,
                              const char *const *params, int flags, se_pg_err *err)
{
    return run(c, sql, nparams, params, flags, RUN_PREPARED, err);
}

int se_pg_exec(se_pg_conn *c, const char *sql, int flags, se_pg_err *err)
{
    PGresult *r = run(c, sql, 0, NULL, flags, RUN_SIMPLE, err);
    PQclear(r);
    return r != NULL ? 0 : -1;
}

/* ---- transactions ------------------------------------------------------- */

static void rollback_quietly(se_pg_conn *c)
{
    if (PQstatus(c->pg) != CONNECTION_OK)
        return;
    PGTransactionStatusType t = PQtransactionStatus(c->pg);
    if (t == PQTRANS_INTRANS || t == PQTRANS_INERROR)
        PQclear(PQexec(c->pg, "ROLLBACK"));
}

/* COMMIT of a transaction that already failed answers "ROLLBACK" without an
 * error: treat that as the failure it is. */
static int commit(se_pg_conn *c, se_pg_err *err)
{
    PGresult *r = run(c, "COMMIT", 0, NULL, 0, RUN_SIMPLE, err);
    if (r == NULL)
        return -1;
    int rolled_back = strcmp(PQcmdStatus(r), "ROLLBACK") == 0;
    PQclear(r);
    if (rolled_back) {
        report(err, "COMMIT", "25P02", "transaction was aborted by an earlier error");
        return -1;
    }
    return 0;
}

static int retryable(const se_pg_err *e, int committing)
{
    if (strcmp(e->sqlstate, "40001") == 0 || strcmp(e->sqlstate, "40P01") == 0)
        return 1;
    return !committing && strncmp(e->sqlstate, "08", 2) == 0;
}

int se_pg_tx(se_pg_conn *c, int flags, se_pg_tx_fn fn, void *arg, se_pg_err *err)
{
    const char *begin = (flags & SE_PG_TX_SERIALIZABLE) ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN";
    int tries = (flags & SE_PG_TX_RETRY) ? 3 : 1;
    se_pg_err e;
    for (int i = 0; i < tries; i++) {
        memset(&e, 0, sizeof e);
        if (c->in_tx) {
            report(&e, "BEGIN", "25001", "nested se_pg_tx is not supported");
            break;
        }
        if (se_pg_exec(c, begin, 0, &e) != 0)
            break;
        c->in_tx = 1;
        int committing = 0;
        int rc = fn(c, arg, &e);
        if (rc == 0) {
            committing = 1;
            rc = commit(c, &e);
        }
        c->in_tx = 0;
        if (rc == 0)
            return 0;
        rollback_quietly(c);
        if (e.msg[0] == '\0')
            snprintf(e.msg, sizeof e.msg, "transaction body failed");
        if (!retryable(&e, committing) || i + 1 == tries)
            break;
        se_log_warn("pg_tx_retry", "attempt %d failed with %s; retrying", i + 1, e.sqlstate);
        se_sleep_ms(5 << i);
    }
    if (err != NULL)
        *err = e;
    return -1;
}

/* ---- pool --------------------------------------------------------------- */

struct se_pg_pool {
    se_pool *conns; /* of se_pg_conn */
};

typedef struct open_arg {
    const char *url;
    const char *session_sql;
    se_pg_err *err;
} open_arg;

static void *pool_open(void *arg)
{
    open_arg *a = arg;
    return se_pg_conn_create_ex(a->url, a->session_sql, a->err);
}

static void pool_close(void *c)
{
    se_pg_conn_destroy(c);
}

se_pg_pool *se_pg_pool_create(const char *url, int size, se_pg_err *err)
{
    return se_pg_pool_create_ex(url, size, NULL, err);
}

se_pg_pool *se_pg_pool_create_ex(const char *url, int size, const char *session_sql,
                                 se_pg_err *err)
{
    if (size < 1) {
        report(err, "POOL", "22023", "pool size %d must be at least 1", size);
        return NULL;
    }
    open_arg a = {url, session_sql, err};
    se_pool *conns = se_pool_create("pg", size, pool_open, pool_close, &a);
    if (conns == NULL)
        return NULL;
    se_pg_pool *p = se_xmalloc(sizeof *p);
    p->conns = conns;
    return p;
}

se_pg_pool *se_pg_pool_create_from_env(se_pg_err *err)
{
    const char *url = se_env_str("SE_PG_URL", NULL);
    if (url == NULL) {
        se_log_fields(SE_LOG_ERROR, "config_invalid",
                      "\"variable\":\"SE_PG_URL\",\"msg\":\"SE_PG_URL is required "
                      "(e.g. postgresql://swifteats@127.0.0.1:5432/swifteats)\"");
        exit(2);
    }
    int size = (int)se_env_int("SE_PG_POOL_SIZE", 4, 1, 256);
    return se_pg_pool_create(url, size, err);
}

void se_pg_pool_destroy(se_pg_pool *p)
{
    if (p == NULL)
        return;
    se_pool_destroy(p->conns);
    free(p);
}

se_pg_conn *se_pg_pool_acquire(se_pg_pool *p, int timeout_ms)
{
    return se_pool_acquire(p->conns, timeout_ms);
}

void se_pg_pool_release(se_pg_pool *p, se_pg_conn *c)
{
    if (c == NULL)
        return;
    if (c->in_tx || PQtransactionStatus(c->pg) == PQTRANS_INTRANS ||
        PQtransactionStatus(c->pg) == PQTRANS_INERROR) {
        se_log_warn("pg_pool_open_tx", "connection released inside a transaction: rolling back");
        c->in_tx = 0;
        rollback_quietly(c);
    }
    se_pool_release(p->conns, c);
}

/* ---- migrations --------------------------------------------------------- */

typedef struct migrate_step {
    const char *scope;
    const se_pg_migration *m;
} migrate_step;

static int apply_one(se_pg_conn *c, void *arg, se_pg_err *err)
{
    const migrate_step *st = arg;
    if (se_pg_exec(c, st->m->sql, 0, err) != 0)
        return -1;
    const char *params[] = {st->scope, st->m->name};
    PGresult *r = se_pg_exec_params(c, "INSERT INTO schema_migrations (scope, name) VALUES ($1, $2)",
                                    2, params, 0, err);
    PQclear(r);
    return r != NULL ? 0 : -1;
}

/* 1 if recorded, 0 if not, -1 on error. */
static int already_applied(se_pg_conn *c, const char *scope, const char *name, se_pg_err *err)
{
    const char *params[] = {scope, name};
    PGresult *r = se_pg_exec_params(c, "SELECT 1 FROM schema_migrations WHERE scope = $1 AND name = $2",
                                    2, params, SE_PG_IDEMPOTENT, err);
    if (r == NULL)
        return -1;
    int found = PQntuples(r) > 0;
    PQclear(r);
    return found;
}

static int cmp_migration(const void *a, const void *b)
{
    const se_pg_migration *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Applies the not-yet-applied entries of `order`; caller holds the lock. */
static int apply_pending(se_pg_conn *c, const char *scope, const se_pg_migration **order, size_t n,
                         se_pg_err *err)
{
    int applied = 0;
    for (size_t i = 0; i < n; i++) {
        int done = already_applied(c, scope, order[i]->name, err);
        if (done < 0)
            return -1;
        if (done)
            continue;
        migrate_step st = {scope, order[i]};
        if (se_pg_tx(c, 0, apply_one, &st, err) != 0) {
            se_log_error("pg_migration_failed", "%s/%s: %s", scope, order[i]->name, err ? err->msg : "");
            return -1;
        }
        se_log_info("pg_migration_applied", "%s/%s", scope, order[i]->name);
        applied++;
    }
    return applied;
}

int se_pg_migrate_list(se_pg_conn *c, const char *scope, const se_pg_migration *m, size_t n,
                       se_pg_err *err)
{
    if (se_pg_exec(c, "SELECT pg_advisory_lock(" SE_PG_MIGRATE_LOCK ")", 0, err) != 0)
        return -1;
    int rc = se_pg_exec(c,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " scope text NOT NULL,"
                        " name text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now(),"
                        " PRIMARY KEY (scope, name))",
                        0, err);
    if (rc == 0) {
        const se_pg_migration **order = se_xmalloc(sizeof *order * (n ? n : 1));
        for (size_t i = 0; i < n; i++)
            order[i] = &m[i];
        qsort(order, n, sizeof *order, cmp_migration);
        rc = apply_pending(c, scope, order, n, err);
        free(order);
    }
    /* A lost connection releases the lock by itself; ignore failures here. */
    PQclear(PQexec(c->pg, "SELECT pg_advisory_unlock(" SE_PG_MIGRATE_LOCK ")"));
    return rc;
}

static int is_sql_file(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && strcmp(d->d_name + n - 4, ".sql") == 0;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = se_xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                se_log_error("out_of_memory", "pg: reading %s", path);
                abort();
            }
            buf = bigger;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int se_pg_migrate(se_pg_conn *c, const char *scope, const char *dir, se_pg_err *err)
{
    struct dirent **ents;
    int n = scandir(dir, &ents, is_sql_file, by_name);
    if (n < 0) {
        report(err, "MIGRATE", "58P01", "cannot read migrations directory %s: %s", dir, strerror(errno));
        return -1;
    }
    se_pg_migration *m = se_xmalloc(sizeof *m * (size_t)(n ? n : 1));
    int rc = 0, loaded = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, ents[i]->d_name);
        m[loaded].name = ents[i]->d_name;
        m[loaded].sql = read_file(path);
        if (m[loaded].sql == NULL) {
            report(err, "MIGRATE", "58030", "cannot read %s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
        loaded++;
    }
    if (rc == 0)
        rc = se_pg_migrate_list(c, scope, m, (size_t)loaded, err);
    for (int i = 0; i < loaded; i++)
        free((char *)m[i].sql);
    free(m);
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return rc;
}

int se_pg_migrate_main(const char *scope, const se_pg_migration *m, size_t n)
{
    const char *url = se_env_str("SE_PG_URL", NULL);
    if (url == NULL) {
        se_log_fields(SE_LOG_ERROR, "config_invalid",
                      "\"variable\":\"SE_PG_URL\",\"msg\":\"SE_PG_URL is required\"");
        return 2;
    }
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create(url, &err);
    if (c == NULL)
        return 1; /* logged */
    int applied = se_pg_migrate_list(c, scope, m, n, &err);
    se_pg_conn_destroy(c);
    if (applied < 0)
        return 1; /* logged */
    se_log_fields(SE_LOG_INFO, "migrations_done", "\"scope\":\"%s\",\"applied\":%d", scope,
                  applied);
    return 0;
}
