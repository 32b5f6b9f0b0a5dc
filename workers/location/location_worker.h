/* location_worker.h - the location worker as an object: one thread that
 * turns the location stream into live state (Redis), route history
 * (PostgreSQL) and live updates (PUBLISH). se-location-worker (main.c)
 * builds one from the environment; the suites build one with their own
 * configuration and drive it in-process.
 *
 * DESIGN (one thread, everything per batch, nothing per report)
 *   read    XREADGROUP ... COUNT SE_LOCATION_BATCH BLOCK SE_LOCATION_BLOCK_MS
 *           (a blocked read wakes on the XADD itself: the BLOCK time only
 *           bounds how long timers and stop wait, not the latency).
 *   state   at once, one EVALSHA for the batch (location_state.h): newer
 *           wins, geo/seen/driver/order keys, PUBLISH when the order
 *           advanced. Live updates never wait for PostgreSQL.
 *   history batches gather for up to SE_LOCATION_FLUSH_MS or SE_LOCATION_BATCH
 *           reports, then one INSERT ... unnest ... ON CONFLICT DO NOTHING
 *           (location_history.h) and one XACK+XDEL pipeline for all of them.
 *           An entry is acknowledged only after its state AND history are
 *           written: at-least-once delivery, exactly-once effect (state is
 *           newer-wins, history is keyed by stream id).
 *   pending entries not finished (PostgreSQL down, Redis error, a poison
 *           entry below its delivery limit) stay in this consumer's PEL; a
 *           PEL pass (XREADGROUP ... 0, batch after batch, interleaved with
 *           new reads) retries them after SE_LOCATION_RETRY_MS, doubling up
 *           to SE_LOCATION_RETRY_MAX_MS while it keeps failing. While
 *           PostgreSQL is down the pass waits for a PQping to answer (no
 *           redelivery, so no delivery count grows during an outage beyond
 *           the first delivery); new entries still get their state and
 *           publishes, and their history catches up when it answers.
 *   poison  an entry that does not decode/validate, or whose row PostgreSQL
 *           refuses with a data error (found row by row when a batch insert
 *           fails with SQLSTATE class 22/23), is dead-lettered once delivered
 *           SE_LOCATION_MAX_DELIVERIES times; connection errors never count.
 *   claims  every SE_LOCATION_CLAIM_INTERVAL_MS, XAUTOCLAIM of entries idle
 *           SE_LOCATION_CLAIM_IDLE_MS (crashed consumers), processed as a
 *           batch; skipped while PostgreSQL is down (the entries could not
 *           be finished anyway, and every claim counts a delivery).
 *   sweep   every SE_LOCATION_SWEEP_INTERVAL_MS, drivers silent for
 *           SE_DRIVER_STALE_S leave the geo and seen sets.
 *   maintain location_history_maintain(2, 2, SE_LOCATION_RETENTION_DAYS) at
 *           start-up and every SE_LOCATION_MAINTAIN_INTERVAL_S (retried a
 *           minute later when it fails).
 * On start the PEL pass runs first, so a restart under the same consumer
 * name resumes its own pending entries at once.
 *
 * Environment (location_worker_config_from_env; README lists them too):
 *   SE_REDIS_URL (redis://127.0.0.1:6379/0), SE_REDIS_TIMEOUT_MS (1000)
 *   SE_PG_URL (required)
 *   SE_LOCATION_STREAM (se:locations), SE_LOCATION_GROUP (location-workers)
 *   SE_LOCATION_CONSUMER (<hostname>-<pid>): consumer name in the group
 *   SE_LOCATION_DEAD_STREAM (<stream>:dead)
 *   SE_LOCATION_KEY_PREFIX (se:): prefix of the state keys and channels
 *   SE_LOCATION_BATCH (500): XREADGROUP COUNT, and reports per INSERT
 *   SE_LOCATION_BLOCK_MS (100): XREADGROUP BLOCK
 *   SE_LOCATION_FLUSH_MS (10): longest wait gathering reports for an INSERT
 *   SE_LOCATION_CLAIM_IDLE_MS (30000), SE_LOCATION_CLAIM_INTERVAL_MS (5000)
 *   SE_LOCATION_MAX_DELIVERIES (5): deliveries before dead-lettering
 *   SE_LOCATION_RETRY_MS (1000), SE_LOCATION_RETRY_MAX_MS (30000): PEL
 *       retry backoff
 *   SE_DRIVER_LOCATION_TTL_S (86400), SE_LOCATION_ORDER_TTL_S (86400):
 *       TTL of the driver and order keys
 *   SE_DRIVER_STALE_S (60), SE_LOCATION_SWEEP_INTERVAL_MS (5000)
 *   SE_LOCATION_RETENTION_DAYS (30), SE_LOCATION_MAINTAIN_INTERVAL_S (3600)
 *   SE_LOCATION_WORKER_ADDR ($SE_BIND_HOST:50062): health (main.c, through
 *       se_worker_main_ex; not read here)
 */
#ifndef LOCATION_WORKER_H
#define LOCATION_WORKER_H

#include <stdint.h>

typedef struct location_worker_config {
    const char *redis_url;
    int redis_timeout_ms;
    const char *pg_url;
    const char *stream, *group, *consumer, *dead_stream, *key_prefix;
    int batch;
    int block_ms;
    int flush_ms;
    int claim_idle_ms, claim_interval_ms;
    int max_deliveries;
    int retry_ms, retry_max_ms;
    int driver_ttl_s, order_ttl_s;
    int stale_s, sweep_interval_ms;
    int retention_days, maintain_interval_s;
} location_worker_config;

/* Fills cfg from the environment (exits(2) on a bad value or a missing
 * SE_PG_URL). Strings point into the environment or static storage.
 * THREAD: one at a time. */
void location_worker_config_from_env(location_worker_config *cfg);

typedef struct location_worker location_worker;

/* OWNERSHIP: cfg and its strings are copied. ON ERROR: NULL (bad Redis
 * URL), logged. Connections open lazily: Redis and PostgreSQL may be down. */
location_worker *location_worker_create(const location_worker_config *cfg);
/* Starts the thread. ON ERROR: -1, logged. THREAD: the owner, once. */
int location_worker_start(location_worker *w);
/* Stops reading, writes what is gathered (if it can), joins the thread:
 * returns within about one BLOCK plus one statement. Idempotent. */
void location_worker_stop(location_worker *w);
void location_worker_destroy(location_worker *w); /* stops first; NULL ok */

/* Counters since create. THREAD: any. */
typedef struct location_worker_stats {
    uint64_t read;           /* entries delivered (new, PEL, claimed) */
    uint64_t advanced;       /* reports that advanced their driver */
    uint64_t published;      /* live updates published */
    uint64_t history_rows;   /* reports whose INSERT succeeded (incl. no-op
                                duplicates) */
    uint64_t acked;          /* entries acknowledged and deleted */
    uint64_t dead_lettered;  /* entries moved to the dead-letter stream */
    uint64_t claimed;        /* entries taken over with XAUTOCLAIM */
    uint64_t stale_removed;  /* drivers swept from the geo/seen sets */
    uint64_t maintained;     /* successful location_history_maintain calls */
    int history_down;        /* PostgreSQL currently unreachable */
} location_worker_stats;
void location_worker_get_stats(location_worker *w, location_worker_stats *out);

#endif
