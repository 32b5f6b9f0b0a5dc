/* se_redis.h - Redis helpers on hiredis 0.14 (blocking API): connections
 * that reconnect, commands that report errors with context, and a
 * fixed-size pool.
 *
 * URLs: redis://[[user]:password@]host[:port][/db] (defaults 127.0.0.1,
 * 6379, db 0). The connection AUTHs and SELECTs again after every reconnect.
 *
 * Errors: a failing command fills an se_redis_err (when not NULL) and logs
 * one line ("redis_error") with the command name, the server address and the
 * message. SE_REDIS_EIO (connection refused/lost, timeout) maps to
 * UNAVAILABLE; SE_REDIS_EREPLY is the server's own error reply (err->msg
 * holds "<CMD>: <server text>", e.g. "EVALSHA: NOSCRIPT ...").
 *
 * Reconnection: before a command is sent, a connection the server closed
 * while idle (restart, CLIENT KILL, idle timeout) is noticed and replaced,
 * which is safe for every command. A connection lost while a command was in
 * flight is retried once only when the caller passes SE_REDIS_IDEMPOTENT.
 *
 * SIGPIPE: hiredis writes with write(2); the first connection created sets
 * SIGPIPE to SIG_IGN if it was SIG_DFL, so a dead peer is an error, not a
 * crash.
 *
 * THREAD: an se_redis is used by one thread at a time (the pool hands it to
 * one thread); the pool itself is safe from any thread.
 */
#ifndef SE_REDIS_H
#define SE_REDIS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

typedef enum se_redis_code {
    SE_REDIS_OK = 0,
    SE_REDIS_EIO = 1,    /* could not connect, connection lost, timeout */
    SE_REDIS_EREPLY = 2, /* the server answered with an error reply */
    SE_REDIS_EINVAL = 3, /* bad URL or arguments */
} se_redis_code;

typedef struct se_redis_err {
    se_redis_code code;
    char msg[384]; /* "GET: connection lost (127.0.0.1:6379): ..." */
} se_redis_err;

enum {
    SE_REDIS_IDEMPOTENT = 1, /* safe to send twice: retry once on a fresh
                                connection if the first attempt hit an I/O
                                error */
};

typedef struct se_redis se_redis;

/* Connects to `url` with `timeout_ms` for connecting and for each command
 * (<= 0: SE_REDIS_TIMEOUT_MS, default 1000), retrying the connect with
 * backoff for about 1.5 s.
 * OWNERSHIP: url is copied; the caller owns the result (se_redis_destroy).
 * ON ERROR: NULL, err filled, logged. */
se_redis *se_redis_create(const char *url, int timeout_ms, se_redis_err *err);

/* Connection flags of the _ex constructors. */
enum {
    SE_REDIS_FAIL_FAST = 1, /* for caches that must work around a down Redis:
                               every (re)connect is ONE attempt without
                               backoff (bounded by timeout_ms), and a
                               connection that cannot be opened at creation
                               is still returned, disconnected; each later
                               command then tries to connect once and fails
                               fast with SE_REDIS_EIO while Redis is down */
};

/* se_redis_create with `flags` (0 or SE_REDIS_FAIL_FAST). With
 * SE_REDIS_FAIL_FAST it returns NULL only for a bad URL (err filled); a
 * failed first connection is logged and err filled, but the object is
 * returned. */
se_redis *se_redis_create_ex(const char *url, int timeout_ms, int flags, se_redis_err *err);
void se_redis_destroy(se_redis *r); /* NULL is fine */

/* Makes sure the connection is usable, reconnecting if needed.
 * ON ERROR: -1 (err filled, logged); the next call tries again. */
int se_redis_ensure(se_redis *r, se_redis_err *err);
/* The hiredis context, for pipelines (redisAppendCommand/redisGetReply).
 * OWNERSHIP: stays the se_redis's and changes on reconnect: do not keep it.
 * After an I/O error on it (ctx->err set) the next helper call reconnects;
 * so does unread or unsent pipeline data. A SUBSCRIBEd connection always
 * has data to read: use it through this context only, never the helpers. */
redisContext *se_redis_raw(se_redis *r);
/* For a raw context whose socket is readable (a SUBSCRIBEd connection, a
 * pipeline): reads once (blocking up to the connection's timeout for the
 * first reply), then calls fn(arg, reply) for that reply and for every
 * further one already buffered, freeing each after fn.
 * ON ERROR: -1 when the connection failed (ctx->err set); 0 otherwise. */
int se_redis_read_replies(redisContext *ctx, void (*fn)(void *arg, const redisReply *r),
                          void *arg);
unsigned se_redis_reconnects(const se_redis *r);

/* Sends one command given as an argument vector (binary-safe; argvlen may be
 * NULL for NUL-terminated strings). `flags`: 0 or SE_REDIS_IDEMPOTENT.
 * OWNERSHIP: the caller owns the reply: freeReplyObject() it.
 * ON ERROR: NULL with err filled and logged, for I/O errors and for error
 * replies alike (no reply object to free). */
redisReply *se_redis_command_argv(se_redis *r, int flags, int argc, const char **argv,
                                  const size_t *argvlen, se_redis_err *err);
/* Same with hiredis' format string ("SET %s %b", key, buf, len). */
redisReply *se_redis_command(se_redis *r, int flags, se_redis_err *err, const char *fmt, ...);

/* ---- pool --------------------------------------------------------------- */

typedef struct se_redis_pool se_redis_pool;

/* Opens `size` connections up front. OWNERSHIP: caller owns the pool.
 * ON ERROR: NULL, err filled, logged. */
se_redis_pool *se_redis_pool_create(const char *url, int size, int timeout_ms, se_redis_err *err);
/* Same with connection flags (SE_REDIS_FAIL_FAST: the pool is created even
 * while Redis is down; see se_redis_create_ex). */
se_redis_pool *se_redis_pool_create_ex(const char *url, int size, int timeout_ms, int flags,
                                       se_redis_err *err);
/* SE_REDIS_URL (default redis://127.0.0.1:6379/0), SE_REDIS_POOL_SIZE
 * (default 4), SE_REDIS_TIMEOUT_MS (default 1000). */
se_redis_pool *se_redis_pool_create_from_env(se_redis_err *err);
/* All connections must have been released. */
void se_redis_pool_destroy(se_redis_pool *p);
/* A connection for the calling thread's exclusive use, waiting up to
 * timeout_ms (<= 0: as long as it takes). THREAD: any.
 * ON ERROR: NULL on timeout (logged). */
se_redis *se_redis_pool_acquire(se_redis_pool *p, int timeout_ms);
/* Gives r back. A connection with unread pipelined replies must not be
 * released (it is closed and reopened if it is). THREAD: any. */
void se_redis_pool_release(se_redis_pool *p, se_redis *r);

#endif
