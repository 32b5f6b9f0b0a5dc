/* se_pool.h - what the store helpers (se_pg, se_redis) share: a fixed-size,
 * thread-safe pool of opaque connections, and the bounded backoff between
 * connection attempts.
 *
 * The pool opens every connection up front (so a service fails fast at
 * startup) and never grows or shrinks; a connection that goes bad stays in
 * the pool and repairs itself on next use (se_pg_conn_ensure,
 * se_redis_ensure). What a connection is, and what must happen to it before
 * it goes back (e.g. rolling back an open transaction), is the caller's
 * business.
 *
 * THREAD: the pool is safe from any thread; a connection it hands out is the
 * acquiring thread's alone until released.
 */
#ifndef SE_POOL_H
#define SE_POOL_H

/* ---- pool --------------------------------------------------------------- */

typedef struct se_pool se_pool;

/* Opens one connection: the connection, or NULL after reporting why (the
 * callback fills its own error out of `arg`). */
typedef void *(*se_pool_open_fn)(void *arg);
/* Closes one connection opened by the se_pool_open_fn. */
typedef void (*se_pool_close_fn)(void *conn);

/* Opens `size` (>= 1) connections with open(arg), in order. `name` ("pg",
 * "redis") prefixes the pool's log events ("pg_pool_timeout").
 * OWNERSHIP: name must outlive the pool (a string literal); the caller owns
 * the pool; the pool owns the connections until se_pool_destroy.
 * THREAD: the caller's; open runs on it.
 * ON ERROR: NULL when size < 1 (not logged: check it first) or when open
 * fails; the connections opened so far are closed (newest first). */
se_pool *se_pool_create(const char *name, int size, se_pool_open_fn open, se_pool_close_fn close,
                        void *arg);
/* Closes every connection and frees the pool (NULL is fine). Every
 * connection should have been released: logs "<name>_pool_leak" if not. */
void se_pool_destroy(se_pool *p);
/* A connection for the calling thread's exclusive use, waiting up to
 * timeout_ms (<= 0: as long as it takes) for one to be released.
 * THREAD: any. ON ERROR: NULL on timeout (logged "<name>_pool_timeout"). */
void *se_pool_acquire(se_pool *p, int timeout_ms);
/* Gives conn back and wakes one waiter (NULL is ignored). THREAD: any. */
void se_pool_release(se_pool *p, void *conn);

/* ---- connect backoff ---------------------------------------------------- */

/* How many times a store helper tries to (re)connect before giving up. */
enum { SE_CONNECT_ATTEMPTS = 6 };

/* Sleeps before connection attempt `attempt` (0 .. SE_CONNECT_ATTEMPTS-1):
 * 0, 50, 100, 200, 400, 800 ms, about 1.5 s in all. THREAD: any. */
void se_connect_backoff(int attempt);
/* Sleeps `ms` milliseconds, resuming after signals. THREAD: any. */
void se_sleep_ms(int ms);

#endif
