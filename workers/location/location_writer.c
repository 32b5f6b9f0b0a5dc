/* location_writer.c - the history writer thread (location_writer.h).
 *
 * DESIGN: the reader pushes batches into `queue` under `mu`; the writer
 * takes all of them when the first is flush_ms old, when they hold `batch`
 * entries, when the queue is full, or when the reader asks for a sync, and
 * writes them outside the lock: one INSERT (row by row only after a data
 * error, to find the rows at fault), then one XACK+XDEL pipeline for what
 * is done. `pushed`/`written` count batches, so a sync waits exactly for
 * what was pushed before it. Entries left pending are added to `left`,
 * which the reader collects to schedule a pass over its pending entries.
 */
#include "location_writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "location_history.h"
#include "location_worker_internal.h"
#include "se_alloc.h"
#include "se_log.h"
#include "se_time.h"

/* What may wait for the writer: batches (the reader's reads, often a few
 * entries each when it keeps up) and entries. A commit can take tens of
 * milliseconds while the disk is busy; the reader must not stall on that
 * (measured: with room for 64 small batches, live updates waited behind
 * commits at p99), so the queue holds about QUEUED_BATCHES_OF_ENTRIES
 * INSERTs' worth before the reader waits. */
#define MAX_QUEUED 1024
#define QUEUED_BATCHES_OF_ENTRIES 16
#define IDLE_WAIT_MS 200
#define MAINTAIN_RETRY_MS 60000

struct location_writer {
    location_worker *w;
    location_stream *stream; /* the writer's own Redis connections */
    location_history *hist;
    pthread_t thread;
    int started;

    pthread_mutex_t mu;
    pthread_cond_t cond; /* queue changed, written advanced, stop */
    location_batch queue[MAX_QUEUED];
    size_t n_queued, queued_entries;
    int64_t queued_since;
    uint64_t pushed, written; /* batches */
    int sync_wanted;
    int stopping;
    size_t left;
    atomic_int down;

    /* writer thread only */
    location_batch held[MAX_QUEUED];
    size_t n_held, held_entries;
    int64_t maintain_at, probe_at;
};

/* ---- writing -------------------------------------------------------------------- */

/* The held entries still to write (decoded, not yet done). */
static size_t history_todo(location_writer *wr, location_entry **out)
{
    size_t n = 0;
    for (size_t b = 0; b < wr->n_held; b++)
        for (size_t i = 0; i < wr->held[b].n; i++) {
            location_entry *e = &wr->held[b].e[i];
            if (e->msg != NULL && e->fate == LOCATION_PENDING)
                out[n++] = e;
        }
    return n;
}

/* A batch insert failed with a data error: find the rows at fault. */
static void insert_row_by_row(location_writer *wr, location_entry **todo, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        location_entry *e = todo[i];
        int rc = location_history_insert(wr->hist, &e, 1, e->error, sizeof e->error);
        if (rc == LOCATION_HISTORY_OK) {
            e->fate = LOCATION_DONE;
            e->error[0] = '\0';
        } else if (rc == LOCATION_HISTORY_DATA) {
            location_worker_poison(wr->w, wr->stream, e);
        } else {
            e->error[0] = '\0';
            return; /* unavailable: the rest stays pending */
        }
    }
}

static void write_history(location_writer *wr)
{
    location_entry **todo = se_xcalloc(wr->held_entries + 1, sizeof *todo);
    size_t n = history_todo(wr, todo);
    char err[600];
    int rc = location_history_insert(wr->hist, todo, n, err, sizeof err);
    if (rc == LOCATION_HISTORY_OK) {
        for (size_t i = 0; i < n; i++)
            todo[i]->fate = LOCATION_DONE;
    } else if (rc == LOCATION_HISTORY_DATA) {
        se_log_warn("location_history_data_error",
                    "batch of %zu refused (%s): inserting row by row", n, err);
        insert_row_by_row(wr, todo, n);
    } else if (!location_history_down(wr->hist)) {
        se_log_error("location_history_failed", "batch of %zu left pending: %s", n, err);
    }
    size_t rows = 0;
    for (size_t i = 0; i < n; i++)
        rows += todo[i]->fate == LOCATION_DONE;
    STAT_ADD(wr->w, history_rows, rows);
    free(todo);
}

/* Writes the held batches' history, acknowledges what is finished, frees
 * them; returns how many entries were left pending. */
static size_t flush_held(location_writer *wr)
{
    write_history(wr);
    const char **ids = se_xcalloc(wr->held_entries + 1, sizeof *ids);
    size_t n = 0, left = 0;
    for (size_t b = 0; b < wr->n_held; b++)
        for (size_t i = 0; i < wr->held[b].n; i++) {
            location_entry *e = &wr->held[b].e[i];
            if (e->fate == LOCATION_PENDING)
                left++;
            else
                ids[n++] = e->id;
        }
    if (location_stream_ack(wr->stream, ids, n) == 0)
        STAT_ADD(wr->w, acked, n);
    else
        left += n; /* redelivered later: every effect is idempotent */
    free(ids);
    for (size_t b = 0; b < wr->n_held; b++)
        location_batch_free(&wr->held[b]);
    wr->n_held = wr->held_entries = 0;
    return left;
}

/* ---- upkeep (writer thread, no lock held) ------------------------------------------ */

static void maintain_tick(location_writer *wr)
{
    if (se_mono_ms() < wr->maintain_at)
        return;
    if (location_history_maintain(wr->hist, wr->w->cfg.retention_days) >= 0) {
        wr->maintain_at = se_mono_ms() + (int64_t)wr->w->cfg.maintain_interval_s * 1000;
        STAT_ADD(wr->w, maintained, 1);
    } else {
        wr->maintain_at = se_mono_ms() + MAINTAIN_RETRY_MS;
    }
}

/* While PostgreSQL is down, ask it (PQping) once per retry period. */
static void probe_tick(location_writer *wr)
{
    if (!location_history_down(wr->hist) || se_mono_ms() < wr->probe_at)
        return;
    wr->probe_at = se_mono_ms() + wr->w->cfg.retry_ms;
    location_history_up(wr->hist);
}

/* ---- the thread -------------------------------------------------------------------- */

/* With mu held: is the queue due for writing? */
static int due(location_writer *wr)
{
    if (wr->n_queued == 0)
        return 0;
    return wr->sync_wanted || wr->stopping || wr->n_queued == MAX_QUEUED ||
           wr->queued_entries >= (size_t)wr->w->cfg.batch ||
           se_mono_ms() - wr->queued_since >= wr->w->cfg.flush_ms;
}

/* With mu held: waits until the queue is due, or IDLE_WAIT_MS. */
static void wait_due(location_writer *wr)
{
    int64_t wait = IDLE_WAIT_MS;
    if (wr->n_queued > 0) {
        int64_t until = wr->queued_since + wr->w->cfg.flush_ms - se_mono_ms();
        wait = until < 1 ? 1 : until < wait ? until : wait;
    }
    struct timespec ts = se_monotonic_after_ms((int)wait);
    pthread_cond_timedwait(&wr->cond, &wr->mu, &ts);
}

static void *writer_main(void *arg)
{
    location_writer *wr = arg;
    se_log_set_request_id(NULL);
    pthread_mutex_lock(&wr->mu);
    while (!(wr->stopping && wr->n_queued == 0)) {
        if (!due(wr)) {
            pthread_mutex_unlock(&wr->mu);
            maintain_tick(wr);
            probe_tick(wr);
            atomic_store(&wr->down, location_history_down(wr->hist));
            pthread_mutex_lock(&wr->mu);
            if (!due(wr) && !wr->stopping)
                wait_due(wr);
            continue;
        }
        memcpy(wr->held, wr->queue, wr->n_queued * sizeof wr->queue[0]);
        wr->n_held = wr->n_queued;
        wr->held_entries = wr->queued_entries;
        uint64_t upto = wr->pushed;
        wr->n_queued = wr->queued_entries = 0;
        pthread_cond_broadcast(&wr->cond); /* room for the reader */
        pthread_mutex_unlock(&wr->mu);
        size_t left = flush_held(wr);
        atomic_store(&wr->down, location_history_down(wr->hist));
        pthread_mutex_lock(&wr->mu);
        wr->left += left;
        wr->written = upto;
        pthread_cond_broadcast(&wr->cond);
    }
    pthread_mutex_unlock(&wr->mu);
    return NULL;
}

/* ---- the reader's side --------------------------------------------------------------- */

void location_writer_push(location_writer *wr, location_batch *b)
{
    pthread_mutex_lock(&wr->mu);
    while (wr->n_queued == MAX_QUEUED ||
           wr->queued_entries >= (size_t)wr->w->cfg.batch * QUEUED_BATCHES_OF_ENTRIES)
        pthread_cond_wait(&wr->cond, &wr->mu);
    if (wr->n_queued == 0)
        wr->queued_since = se_mono_ms();
    wr->queue[wr->n_queued++] = *b;
    wr->queued_entries += b->n;
    wr->pushed++;
    if (wr->queued_entries >= (size_t)wr->w->cfg.batch || wr->n_queued == MAX_QUEUED)
        pthread_cond_broadcast(&wr->cond);
    pthread_mutex_unlock(&wr->mu);
    memset(b, 0, sizeof *b);
}

size_t location_writer_sync(location_writer *wr)
{
    pthread_mutex_lock(&wr->mu);
    uint64_t target = wr->pushed;
    wr->sync_wanted++;
    pthread_cond_broadcast(&wr->cond);
    while (wr->written < target)
        pthread_cond_wait(&wr->cond, &wr->mu);
    wr->sync_wanted--;
    size_t left = wr->left;
    wr->left = 0;
    pthread_mutex_unlock(&wr->mu);
    return left;
}

size_t location_writer_take_left(location_writer *wr)
{
    pthread_mutex_lock(&wr->mu);
    size_t left = wr->left;
    wr->left = 0;
    pthread_mutex_unlock(&wr->mu);
    return left;
}

int location_writer_down(location_writer *wr)
{
    return atomic_load(&wr->down);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

location_writer *location_writer_create(location_worker *w)
{
    location_writer *wr = se_xcalloc(1, sizeof *wr);
    wr->w = w;
    const location_worker_config *c = &w->cfg;
    location_stream_config sc = {c->redis_url, c->redis_timeout_ms, c->stream, c->group,
                                 c->consumer, c->dead_stream, c->block_ms};
    wr->stream = location_stream_create(&sc);
    if (wr->stream == NULL) {
        free(wr);
        return NULL;
    }
    wr->hist = location_history_create(c->pg_url);
    pthread_mutex_init(&wr->mu, NULL);
    se_cond_init_monotonic(&wr->cond);
    wr->maintain_at = wr->probe_at = se_mono_ms();
    return wr;
}

int location_writer_start(location_writer *wr)
{
    if (pthread_create(&wr->thread, NULL, writer_main, wr) != 0) {
        se_log_error("location_writer_start_failed", "could not start the history writer");
        return -1;
    }
    wr->started = 1;
    return 0;
}

void location_writer_stop(location_writer *wr)
{
    if (!wr->started)
        return;
    pthread_mutex_lock(&wr->mu);
    wr->stopping = 1;
    pthread_cond_broadcast(&wr->cond);
    pthread_mutex_unlock(&wr->mu);
    pthread_join(wr->thread, NULL);
    wr->started = 0;
}

void location_writer_destroy(location_writer *wr)
{
    if (wr == NULL)
        return;
    location_writer_stop(wr);
    for (size_t b = 0; b < wr->n_queued; b++) /* never started: nothing written */
        location_batch_free(&wr->queue[b]);
    location_stream_destroy(wr->stream);
    location_history_destroy(wr->hist);
    pthread_cond_destroy(&wr->cond);
    pthread_mutex_destroy(&wr->mu);
    free(wr);
}
