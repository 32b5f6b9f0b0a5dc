/* location_history.c - bulk inserts into location_history
 * (location_history.h).
 *
 * DESIGN: the nine columns are sent as PostgreSQL array literals built in
 * one growable buffer each ("{"d1","d2"}", "{1700000000000000,...}",
 * NULL for absent optional values); text parameters of a prepared
 * statement, so libpq sends them without copies of ours beyond the
 * literals. Doubles are printed with 17 significant digits (exact round
 * trip).
 */
#include "location_history.h"

#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_log.h"
#include "se_pg.h"

#define NCOLS 9

static const char insert_sql[] =
    "INSERT INTO location_history (driver_id, recorded_at, stream_id, latitude, longitude, "
    "speed, heading, accuracy, order_id) "
    "SELECT d, 'epoch'::timestamptz + t * interval '1 microsecond', s, la, lo, sp, he, ac, o "
    "FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[], $5::float8[], "
    "$6::float8[], $7::float8[], $8::float8[], $9::bigint[]) AS u(d, t, s, la, lo, sp, he, ac, o) "
    "ON CONFLICT DO NOTHING";

struct location_history {
    char *url;
    se_pg_conn *conn; /* NULL until connected */
    int down;         /* a connection error happened: probe before use */
};

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_reserve(sbuf *b, size_t more)
{
    if (b->len + more + 1 <= b->cap)
        return;
    b->cap = (b->len + more + 1) * 2;
    b->p = se_xrealloc(b->p, b->cap);
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    sb_reserve(b, 64);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n >= b->cap - b->len) {
        sb_reserve(b, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
    }
    b->len += n > 0 ? (size_t)n : 0;
}

/* An array element: quoted, with " and \ escaped. */
static void sb_quoted(sbuf *b, const char *s)
{
    sb_reserve(b, 2 * strlen(s) + 2);
    b->p[b->len++] = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            b->p[b->len++] = '\\';
        b->p[b->len++] = *s;
    }
    b->p[b->len++] = '"';
    b->p[b->len] = '\0';
}

static void sb_double(sbuf *b, int present, double v)
{
    if (present)
        sb_printf(b, "%.17g", v);
    else
        sb_printf(b, "NULL");
}

static void add_row(sbuf *col, const location_entry *e)
{
    const Swifteats__V1__Location *m = e->msg;
    sb_quoted(&col[0], m->driver_id);
    sb_printf(&col[1], "%" PRId64, e->ts_us);
    sb_quoted(&col[2], e->id);
    sb_double(&col[3], 1, m->latitude);
    sb_double(&col[4], 1, m->longitude);
    sb_double(&col[5], m->_speed_case == SWIFTEATS__V1__LOCATION___SPEED_SPEED, m->speed);
    sb_double(&col[6], m->_heading_case == SWIFTEATS__V1__LOCATION___HEADING_HEADING,
              m->heading);
    sb_double(&col[7], m->_accuracy_case == SWIFTEATS__V1__LOCATION___ACCURACY_ACCURACY,
              m->accuracy);
    if (m->_order_id_case == SWIFTEATS__V1__LOCATION___ORDER_ID_ORDER_ID)
        sb_printf(&col[8], "%" PRId64, m->order_id);
    else
        sb_printf(&col[8], "NULL");
}

location_history *location_history_create(const char *pg_url)
{
    location_history *h = se_xcalloc(1, sizeof *h);
    h->url = se_xstrdup(pg_url);
    h->down = 1; /* probe first */
    return h;
}

void location_history_destroy(location_history *h)
{
    if (h == NULL)
        return;
    se_pg_conn_destroy(h->conn);
    free(h->url);
    free(h);
}

int location_history_up(location_history *h)
{
    if (!h->down)
        return 1;
    if (PQping(h->url) != PQPING_OK)
        return 0;
    se_pg_err err;
    if (h->conn == NULL)
        h->conn = se_pg_conn_create(h->url, &err);
    else if (se_pg_conn_ensure(h->conn, &err) != 0)
        return 0;
    if (h->conn == NULL)
        return 0;
    h->down = 0;
    se_log_info("location_history_up", "PostgreSQL answers: writing the route history");
    return 1;
}

/* 1 when the idle connection has something to say (the server's FATAL
 * goodbye, EOF) or is broken: se_pg would then reconnect with backoff
 * (about 1.5 s of a stalled loop while the server is down), so a PQping
 * decides first. One poll(2), no round trip. */
static int went_quiet_or_away(location_history *h)
{
    PGconn *pg = se_pg_conn_raw(h->conn);
    if (PQstatus(pg) != CONNECTION_OK)
        return 1;
    struct pollfd pfd = {.fd = PQsocket(pg), .events = POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

/* Maps a failed statement's error to the callers' classes. */
static int classify(location_history *h, const se_pg_err *e)
{
    if (strncmp(e->sqlstate, "22", 2) == 0 || strncmp(e->sqlstate, "23", 2) == 0)
        return LOCATION_HISTORY_DATA;
    if (strncmp(e->sqlstate, "08", 2) == 0 || strncmp(e->sqlstate, "57", 2) == 0 ||
        e->sqlstate[0] == '\0') {
        if (!h->down)
            se_log_warn("location_history_down",
                        "PostgreSQL unreachable (%s): history stays pending, live state goes on",
                        e->msg);
        h->down = 1;
    }
    return LOCATION_HISTORY_UNAVAILABLE;
}

int location_history_insert(location_history *h, location_entry *const *e, size_t n, char *err,
                            size_t errcap)
{
    if (n == 0)
        return LOCATION_HISTORY_OK;
    if (h->down) { /* probing is location_history_up's job (the PEL pass) */
        snprintf(err, errcap, "PostgreSQL is unreachable");
        return LOCATION_HISTORY_UNAVAILABLE;
    }
    if (went_quiet_or_away(h) && PQping(h->url) != PQPING_OK) {
        se_pg_err pe = {.sqlstate = "08006"};
        snprintf(pe.msg, sizeof pe.msg, "PostgreSQL does not answer (PQping)");
        snprintf(err, errcap, "%s", pe.msg);
        return classify(h, &pe);
    }
    sbuf col[NCOLS] = {{0}};
    for (size_t i = 0; i < n; i++) {
        for (int c = 0; c < NCOLS; c++)
            sb_printf(&col[c], "%c", i == 0 ? '{' : ',');
        add_row(col, e[i]);
    }
    const char *params[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        sb_printf(&col[c], "}");
        params[c] = col[c].p;
    }
    se_pg_err pe;
    PGresult *r = se_pg_exec_prepared(h->conn, insert_sql, NCOLS, params, 0, &pe);
    for (int c = 0; c < NCOLS; c++)
        free(col[c].p);
    if (r != NULL) {
        PQclear(r);
        return LOCATION_HISTORY_OK;
    }
    snprintf(err, errcap, "%s (SQLSTATE %s)", pe.msg, pe.sqlstate);
    return classify(h, &pe);
}

int location_history_down(const location_history *h)
{
    return h->down;
}

int location_history_maintain(location_history *h, int retention_days)
{
    if (!location_history_up(h))
        return -1;
    char days[16];
    snprintf(days, sizeof days, "%d", retention_days);
    const char *params[1] = {days};
    se_pg_err pe;
    PGresult *r = se_pg_exec_params(h->conn, "SELECT location_history_maintain(2, 2, $1::int)",
                                    1, params, SE_PG_IDEMPOTENT, &pe);
    if (r == NULL) {
        classify(h, &pe);
        se_log_error("location_maintain_failed", "location_history_maintain: %s", pe.msg);
        return -1;
    }
    int changed = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    se_log_info("location_maintained",
                "location_history partitions: %d created or dropped (retention %d days)",
                changed, retention_days);
    return changed;
}
