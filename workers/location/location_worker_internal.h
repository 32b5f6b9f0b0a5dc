/* location_worker_internal.h - what the reader (location_worker.c) and
 * the history writer (location_writer.c) of the location worker share: the
 * worker object, its stats lock and the poison judgement. Internal to
 * workers/location. */
#ifndef LOCATION_WORKER_INTERNAL_H
#define LOCATION_WORKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "location_state.h"
#include "location_stream.h"
#include "location_worker.h"
#include "location_writer.h"

struct location_worker {
    location_worker_config cfg; /* strings point into `strings` */
    char *strings[8];
    location_stream *stream;  /* the reader's connections */
    location_state *state;
    location_writer *writer;  /* history + acks, on its own thread */

    pthread_t thread;
    int started;
    atomic_int stop;
    pthread_mutex_t mu; /* stats, wake */
    pthread_cond_t wake;
    location_worker_stats stats;

    /* reader state (reader thread only) */
    int pel_pending;      /* a PEL pass is due (at pel_at) */
    int64_t pel_at;
    char pel_cursor[48];  /* where the current pass is */
    size_t pass_left;     /* entries the current pass left pending */
    int backoff_ms;
    int64_t claim_at, sweep_at;
    char claim_cursor[48];
};

#define STAT_ADD(w, field, n)                                                              \
    do {                                                                                   \
        pthread_mutex_lock(&(w)->mu);                                                      \
        (w)->stats.field += (n);                                                           \
        pthread_mutex_unlock(&(w)->mu);                                                    \
    } while (0)

/* e failed for a reason of its own (e->error): dead-letter it through s
 * once delivered max_deliveries times, else leave it pending (logged). */
void location_worker_poison(location_worker *w, location_stream *s, location_entry *e);

#endif
