/* se_batch.h - runs concurrent requests together: group commit for any
 * blocking operation that is cheaper done for many at once (one INSERT for
 * many orders, one RPC for many payment reports).
 *
 * How (leader/followers, no thread of its own): se_batch_submit queues the
 * caller's item and, while fewer than max_in_flight batches run, makes the
 * caller the leader of a new batch: it takes up to max_batch queued items
 * (its own among them, or ahead of it), calls run() on its own thread with
 * no lock held, then wakes the items' owners. A caller that finds
 * max_in_flight batches running waits; when one ends, a waiter leads the
 * next batch with everything that queued meanwhile. So batches grow exactly
 * as much as the work is slower than the arrivals, a lone caller is not
 * delayed, and a caller waits at most for the batch in front of it.
 *
 * THREAD: se_batch_submit from any thread at once; create/destroy from one.
 * OWNERSHIP: items stay the caller's; run() fills in their results before
 * se_batch_submit returns. The caller destroys the batch after the last
 * submit returned.
 */
#ifndef SE_BATCH_H
#define SE_BATCH_H

/* Most items one run() gets. */
#define SE_BATCH_MAX 128

/* Handles items[0..n) (1 <= n <= max_batch) and fills in their results. */
typedef void (*se_batch_run_fn)(void *ctx, void **items, int n);

typedef struct se_batch se_batch;

/* max_batch is clamped to 1..SE_BATCH_MAX, max_in_flight to >= 1.
 * ctx is passed to run unchanged (borrowed). */
se_batch *se_batch_create(se_batch_run_fn run, void *ctx, int max_batch, int max_in_flight);
void se_batch_destroy(se_batch *b); /* NULL is fine */

/* Runs item in a batch; returns once run() has handled it. */
void se_batch_submit(se_batch *b, void *item);

/* Batches run and items they carried so far (tests, metrics). */
void se_batch_stats(se_batch *b, unsigned long *batches, unsigned long *items);

#endif
