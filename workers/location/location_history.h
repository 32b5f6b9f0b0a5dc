/* location_history.h - the route history in PostgreSQL: table
 * location_history (services/logistics/migrations/001_location_history.sql),
 * written in bulk, and its partition maintenance.
 *
 * One INSERT per batch: the reports travel as nine array parameters and the
 * server unnests them (INSERT ... SELECT FROM unnest($1::text[], ...)
 * ON CONFLICT DO NOTHING), a prepared statement, so a batch of 500 is one
 * round trip and one plan. Times travel as µs since the epoch (exact, no
 * text formatting of dates). The primary key holds the stream id, so a
 * redelivered report never adds a second row (exactly-once effect).
 *
 * Outages: PostgreSQL being down must cost the worker's loop nothing per
 * batch. Once a statement failed with a connection error the history is
 * "down": location_history_up() then probes with PQping (one cheap
 * connection attempt that fails at once while the server is down, no
 * retries) and only reconnects when the server answers. The first failure
 * may take se_pg's reconnect backoff (about 1.5 s), once per outage.
 *
 * Errors are classified for the worker: LOCATION_HISTORY_DATA (SQLSTATE
 * class 22 data exception or 23 integrity, e.g. a CHECK or "no partition
 * for the row") says a row is at fault: the caller finds which, row by row;
 * LOCATION_HISTORY_UNAVAILABLE is everything else (connection, shutdown,
 * a missing table): nobody's fault, retry later, never dead-letter.
 *
 * THREAD: one thread. OWNERSHIP: pg_url is copied.
 */
#ifndef LOCATION_HISTORY_H
#define LOCATION_HISTORY_H

#include <stddef.h>

#include "location_batch.h"

enum {
    LOCATION_HISTORY_OK = 0,
    LOCATION_HISTORY_UNAVAILABLE = -1,
    LOCATION_HISTORY_DATA = -2,
};

typedef struct location_history location_history;

/* Does not connect yet (PostgreSQL may be down at start-up). */
location_history *location_history_create(const char *pg_url);
void location_history_destroy(location_history *h); /* NULL is fine */

/* 1 when the history can be written: connected and not known down; when
 * it is down, probes (PQping) and reconnects if the server answers. */
int location_history_up(location_history *h);

/* 1 while the history is known unreachable (no probe). */
int location_history_down(const location_history *h);

/* Inserts the reports e[0..n-1] (each with a decoded msg) in one statement;
 * while the history is down, fails at once without trying (only
 * location_history_up probes).
 * Returns LOCATION_HISTORY_OK / _UNAVAILABLE / _DATA; on error `err`
 * holds the server's message. */
int location_history_insert(location_history *h, location_entry *const *e, size_t n,
                            char *err, size_t errcap);

/* SELECT location_history_maintain(2, 2, retention_days): partitions from
 * two days back to two days ahead, drops those past the retention. Returns
 * the number created + dropped, or -1. */
int location_history_maintain(location_history *h, int retention_days);

#endif
