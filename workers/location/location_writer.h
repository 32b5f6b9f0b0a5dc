/* location_writer.h - the location worker's history writer: a thread of
 * its own that takes the batches whose live state the reader has applied,
 * writes their route history (one INSERT for up to `batch` reports, at the
 * latest flush_ms after the first one arrived), then acknowledges what is
 * done (XACK + XDEL) or leaves it pending.
 *
 * WHY a thread: the live path (read, state script, PUBLISH) must never wait
 * for PostgreSQL. A commit waits for the WAL to reach the disk; on one
 * thread, every such wait also delayed the next read, so live updates (the
 * 50 ms promise to customers) queued behind the history. Now the reader
 * only waits for the writer when about 16 INSERTs' worth is queued
 * (backpressure, bounded memory) or when it must re-read pending entries
 * (location_writer_sync: an entry queued here is pending too, and must not
 * be handled twice at once).
 *
 * The writer also owns the PostgreSQL connection for everything else:
 * the outage probe (PQping, every retry period while PostgreSQL is down)
 * and the hourly partition maintenance.
 *
 * THREAD: push/sync/take_left/down from the reader thread; create, start,
 * stop, destroy from the owner.
 */
#ifndef LOCATION_WRITER_H
#define LOCATION_WRITER_H

#include <stddef.h>

#include "location_batch.h"
#include "location_stream.h"

typedef struct location_worker location_worker;
typedef struct location_writer location_writer;

/* OWNERSHIP: w (config, stats, poison judging) is borrowed and must outlive
 * the writer; the writer opens its own Redis connections (a second
 * location_stream) and its own PostgreSQL connection. ON ERROR: NULL. */
location_writer *location_writer_create(location_worker *w);
int location_writer_start(location_writer *wr);
/* Writes what is queued (if PostgreSQL answers), then joins. */
void location_writer_stop(location_writer *wr);
void location_writer_destroy(location_writer *wr); /* stops first; NULL ok */

/* Takes b (its reply and entries): written within flush_ms. Blocks while
 * the queue is full. */
void location_writer_push(location_writer *wr, location_batch *b);

/* Returns once every batch pushed before has been written and acknowledged
 * or left pending, with the number of entries left pending since the last
 * sync or take_left. */
size_t location_writer_sync(location_writer *wr);

/* Entries left pending by the batches written since the last call. */
size_t location_writer_take_left(location_writer *wr);

/* 1 while PostgreSQL is unreachable (the writer probes it). */
int location_writer_down(location_writer *wr);

#endif
