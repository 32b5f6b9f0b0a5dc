/* paygw_timer.h - delayed work for the gateway: one thread, a min-heap of
 * (due time, callback), a condition variable.
 *
 * DESIGN
 * A Charge must not block a server thread for its latency (the benchmark
 * holds 100+ charges at once), so its handler registers what to do when the
 * latency has passed and returns; the call is completed later from this
 * thread (se_rpc.h allows completing a call from any thread). The thread
 * sleeps on the condition variable until the earliest due time (CLOCK_MONOTONIC),
 * takes every entry that is due in one go, and runs their callbacks with
 * the lock released, in due order (ties: in order of registration). A
 * callback may register new entries (a timed-out charge's late answer).
 *
 * Stop (paygw_timer_stop) ends the thread after its current batch, then
 * runs every entry still waiting with `flushed` = 1 on the calling thread,
 * at once: held calls are answered or failed, so a server drain does not
 * wait out their latency or a 30 s hold. After stop, paygw_timer_add fails.
 */
#ifndef PAYGW_TIMER_H
#define PAYGW_TIMER_H

#include <stddef.h>
#include <stdint.h>

/* Runs once per registered entry: flushed = 0 when it came due (on the
 * timer thread), 1 when the timer was stopped first (on the thread that
 * called paygw_timer_stop). */
typedef void (*paygw_timer_fn)(void *arg, int flushed);

typedef struct paygw_timer paygw_timer;

/* Starts the timer thread. OWNERSHIP: caller destroys.
 * ON ERROR: NULL (thread creation failed), logged. */
paygw_timer *paygw_timer_create(void);

/* Runs fn(arg, 0) at due_ns (CLOCK_MONOTONIC nanoseconds, see se_mono_ns;
 * a time in the past means as soon as possible). THREAD: any, including a
 * timer callback. OWNERSHIP: arg stays the caller's; fn usually frees it.
 * ON ERROR: -1 once the timer is stopped, and fn is never called. */
int paygw_timer_add(paygw_timer *t, int64_t due_ns, paygw_timer_fn fn, void *arg);

/* Entries waiting (not yet run). THREAD: any. */
size_t paygw_timer_pending(paygw_timer *t);

/* Stops the thread (waits for the batch it is running), then runs every
 * waiting entry with flushed = 1 before returning. Idempotent.
 * THREAD: any but the timer thread (not from a callback). */
void paygw_timer_stop(paygw_timer *t);

/* Stops (as above) and frees. NULL is fine. */
void paygw_timer_destroy(paygw_timer *t);

#endif
