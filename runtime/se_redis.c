/* se_redis.c - Redis helpers on hiredis 0.14 (see se_redis.h).
 *
 * DESIGN
 * - Every command is formatted once into a RESP buffer, then appended and
 *   read back (redisAppendFormattedCommand + redisGetReply), so a retry
 *   resends the same bytes and error lines can name the command.
 * - Before sending, the connection is checked without blocking: a hiredis
 *   error, unsent output, unread replies, or a readable socket while idle
 *   (EOF after CLIENT KILL / restart) all mean "replace the connection".
 *   Replacing is a fresh redisConnectWithTimeout plus AUTH/SELECT.
 * - The pool is an se_pool (se_pool.h) of se_redis, as se_pg's is.
 */
#include "se_redis.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/sds.h>

#include "se_config.h"
#include "se_alloc.h"
#include "se_log.h"
#include "se_pool.h"

#define DEFAULT_TIMEOUT_MS 1000

struct se_redis {
    char host[256];
    int port;
    int db;
    char *user;          /* NULL: none; owned */
    char *pass;          /* NULL: no AUTH; owned */
    int timeout_ms;      /* connect and per-command timeout */
    redisContext *ctx;   /* NULL while disconnected */
    unsigned reconnects; /* successful re-connections */
    char addr[280];      /* "host:port" for log lines */
    int fail_fast;       /* SE_REDIS_FAIL_FAST: one connect attempt, no backoff */
};

static void vfill(se_redis_err *err, se_redis_code code, const char *cmd, const char *fmt, va_list ap)
{
    char text[320];
    vsnprintf(text, sizeof text, fmt, ap);
    err->code = code;
    snprintf(err->msg, sizeof err->msg, "%s: %s", cmd, text);
}

/* Fills err (never NULL) without logging. */
static void fill(se_redis_err *err, se_redis_code code, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fill(se_redis_err *err, se_redis_code code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfill(err, code, cmd, fmt, ap);
    va_end(ap);
}

/* Logs the error in e ("CMD: text") with the server address. */
static void log_err(const se_redis_err *e, const char *addr)
{
    char esc[400];
    se_log_fields(e->code == SE_REDIS_EREPLY ? SE_LOG_WARN : SE_LOG_ERROR, "redis_error",
                  "\"addr\":\"%s\",\"kind\":\"%s\",\"msg\":\"%s\"", addr,
                  e->code == SE_REDIS_EIO ? "io" : e->code == SE_REDIS_EREPLY ? "reply" : "invalid",
                  se_json_escape(esc, sizeof esc, e->msg));
}

/* Fills err (when not NULL) and logs one line. */
static void report(se_redis_err *err, se_redis_code code, const char *cmd, const char *addr,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report(se_redis_err *err, se_redis_code code, const char *cmd, const char *addr,
                   const char *fmt, ...)
{
    se_redis_err e;
    va_list ap;
    va_start(ap, fmt);
    vfill(&e, code, cmd, fmt, ap);
    va_end(ap);
    log_err(&e, addr);
    if (err != NULL)
        *err = e;
}

/* ---- URL ---------------------------------------------------------------- */

/* Parses redis://[[user]:password@]host[:port][/db] into r. */
static int parse_url(se_redis *r, const char *url)
{
    const char *p = url;
    if (strncmp(p, "redis://", 8) != 0)
        return -1;
    p += 8;
    const char *at = strchr(p, '@');
    if (at != NULL) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon != NULL) {
            if (colon > p)
                r->user = se_xstrndup(p, (size_t)(colon - p));
            r->pass = se_xstrndup(colon + 1, (size_t)(at - colon - 1));
        }
        p = at + 1;
    }
    const char *host_end;
    if (*p == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL)
            return -1;
        p++;
    } else {
        host_end = p + strcspn(p, ":/?");
    }
    size_t hl = (size_t)(host_end - p);
    if (hl >= sizeof r->host)
        return -1;
    if (hl > 0) {
        memcpy(r->host, p, hl);
        r->host[hl] = '\0';
    }
    p = host_end + (*host_end == ']');
    char *end;
    if (*p == ':') {
        long port = strtol(p + 1, &end, 10);
        if (end == p + 1 || port < 1 || port > 65535)
            return -1;
        r->port = (int)port;
        p = end;
    }
    if (*p == '/' && p[1] != '\0' && p[1] != '?') {
        long db = strtol(p + 1, &end, 10);
        if (end == p + 1 || db < 0 || db > 1000000 || (*end != '\0' && *end != '?'))
            return -1;
        r->db = (int)db;
        p = end;
    } else if (*p == '/') {
        p++;
    }
    return (*p == '\0' || *p == '?') ? 0 : -1;
}

/* ---- connections -------------------------------------------------------- */

static void ignore_sigpipe(void)
{
    struct sigaction old;
    if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
}

/* Runs one setup command (AUTH/SELECT) on a fresh context: 0 or -1 with
 * err (never NULL) filled, not logged. */
static int setup_command(redisContext *ctx, se_redis_err *err, const char *what,
                         int argc, const char **argv)
{
    redisReply *rep = redisCommandArgv(ctx, argc, argv, NULL);
    if (rep == NULL) {
        fill(err, SE_REDIS_EIO, what, "%s", ctx->errstr);
        return -1;
    }
    int bad = rep->type == REDIS_REPLY_ERROR;
    if (bad)
        fill(err, SE_REDIS_EREPLY, what, "%s", rep->str);
    freeReplyObject(rep);
    return bad ? -1 : 0;
}

/* Opens a new context into r->ctx: 0 or -1 (err, never NULL, filled). */
static int connect_once(se_redis *r, se_redis_err *err)
{
    struct timeval tv = {r->timeout_ms / 1000, (r->timeout_ms % 1000) * 1000};
    redisContext *ctx = redisConnectWithTimeout(r->host, r->port, tv);
    if (ctx == NULL) {
        se_log_error("out_of_memory", "redis: redisConnectWithTimeout");
        abort();
    }
    if (ctx->err) {
        fill(err, SE_REDIS_EIO, "CONNECT", "%s", ctx->errstr);
        redisFree(ctx);
        return -1;
    }
    redisSetTimeout(ctx, tv);
    redisEnableKeepAlive(ctx);
    if (r->pass != NULL) {
        const char *auth[] = {"AUTH", r->user ? r->user : r->pass, r->pass};
        if (setup_command(ctx, err, "AUTH", r->user ? 3 : 2, auth) != 0) {
            redisFree(ctx);
            return -1;
        }
    }
    if (r->db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->db);
        const char *sel[] = {"SELECT", db};
        if (setup_command(ctx, err, "SELECT", 2, sel) != 0) {
            redisFree(ctx);
            return -1;
        }
    }
    r->ctx = ctx;
    return 0;
}

/* Connects, retrying with backoff (about 1.5 s in all); logs only the final
 * failure. */
static int connect_with_backoff(se_redis *r, se_redis_err *err)
{
    se_redis_err e;
    int attempts = r->fail_fast ? 1 : SE_CONNECT_ATTEMPTS;
    for (int i = 0; i < attempts; i++) {
        se_connect_backoff(i);
        if (connect_once(r, &e) == 0)
            return 0;
    }
    log_err(&e, r->addr);
    if (err != NULL)
        *err = e;
    return -1;
}

static void free_conn(se_redis *r)
{
    if (r->ctx != NULL)
        redisFree(r->ctx);
    free(r->user);
    free(r->pass);
    free(r);
}

se_redis *se_redis_create_ex(const char *url, int timeout_ms, int flags, se_redis_err *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ignore_sigpipe);
    se_redis *r = se_xcalloc(1, sizeof *r);
    snprintf(r->host, sizeof r->host, "127.0.0.1");
    r->port = 6379;
    r->fail_fast = (flags & SE_REDIS_FAIL_FAST) != 0;
    r->timeout_ms = timeout_ms > 0 ? timeout_ms
                                   : (int)se_env_int("SE_REDIS_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, 1, 600000);
    if (parse_url(r, url) != 0) {
        report(err, SE_REDIS_EINVAL, "CONNECT", "-", "bad URL (want redis://[:password@]host[:port][/db])");
        free_conn(r);
        return NULL;
    }
    snprintf(r->addr, sizeof r->addr, "%s:%d", r->host, r->port);
    if (connect_with_backoff(r, err) != 0 && !r->fail_fast) {
        free_conn(r);
        return NULL;
    }
    return r;
}

se_redis *se_redis_create(const char *url, int timeout_ms, se_redis_err *err)
{
    return se_redis_create_ex(url, timeout_ms, 0, err);
}

void se_redis_destroy(se_redis *r)
{
    if (r != NULL)
        free_conn(r);
}

redisContext *se_redis_raw(se_redis *r)
{
    return r->ctx;
}

unsigned se_redis_reconnects(const se_redis *r)
{
    return r->reconnects;
}

/* 1 when the context cannot be trusted for a new command (see DESIGN). */
static int unusable(redisContext *ctx)
{
    if (ctx == NULL || ctx->err)
        return 1;
    if (sdslen(ctx->obuf) > 0 || ctx->reader->pos < ctx->reader->len || ctx->reader->ridx >= 0)
        return 1;
    struct pollfd pfd = {.fd = ctx->fd, .events = POLLIN};
    return poll(&pfd, 1, 0) != 0;
}

int se_redis_ensure(se_redis *r, se_redis_err *err)
{
    if (!unusable(r->ctx))
        return 0;
    if (r->ctx != NULL) {
        se_log_warn("redis_reconnecting", "%s: %s", r->addr,
                    r->ctx->err ? r->ctx->errstr : "connection closed or left with unread data");
        redisFree(r->ctx);
        r->ctx = NULL;
    }
    if (connect_with_backoff(r, err) != 0)
        return -1;
    r->reconnects++;
    se_log_info("redis_reconnected", "%s", r->addr);
    return 0;
}

/* ---- commands ----------------------------------------------------------- */

/* The command name from a RESP buffer ("*2\r\n$3\r\nGET\r\n..."). */
static void resp_verb(const char *cmd, size_t len, char *out, size_t cap)
{
    const char *p = memchr(cmd, '$', len);
    const char *nl = p ? memchr(p, '\n', len - (size_t)(p - cmd)) : NULL;
    size_t n = 0;
    if (nl != NULL) {
        for (const char *q = nl + 1; q < cmd + len && *q != '\r' && n + 1 < cap; q++)
            out[n++] = (char)((*q >= 'a' && *q <= 'z') ? *q - 32 : *q);
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "COMMAND");
}

static redisReply *run_formatted(se_redis *r, int flags, const char *cmd, size_t len, se_redis_err *err)
{
    char verb[32];
    resp_verb(cmd, len, verb, sizeof verb);
    for (int attempt = 0;; attempt++) {
        if (se_redis_ensure(r, err) != 0)
            return NULL;
        redisReply *rep = NULL;
        if (redisAppendFormattedCommand(r->ctx, cmd, len) != REDIS_OK ||
            redisGetReply(r->ctx, (void **)&rep) != REDIS_OK || rep == NULL) {
            int timeout = r->ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK);
            if (attempt == 0 && (flags & SE_REDIS_IDEMPOTENT)) {
                se_log_warn("redis_retry", "%s on %s: %s; retrying once", verb, r->addr, r->ctx->errstr);
                continue;
            }
            report(err, SE_REDIS_EIO, verb, r->addr, "%s (%s)", timeout ? "timed out" : "connection lost",
                   r->ctx->errstr);
            return NULL;
        }
        if (rep->type == REDIS_REPLY_ERROR) {
            report(err, SE_REDIS_EREPLY, verb, r->addr, "%s", rep->str);
            freeReplyObject(rep);
            return NULL;
        }
        return rep;
    }
}

redisReply *se_redis_command_argv(se_redis *r, int flags, int argc, const char **argv,
                                  const size_t *argvlen, se_redis_err *err)
{
    char *cmd = NULL;
    int len = argc > 0 ? redisFormatCommandArgv(&cmd, argc, argv, argvlen) : -1;
    if (len < 0) {
        report(err, SE_REDIS_EINVAL, "COMMAND", r->addr, "cannot format a command of %d argument(s)", argc);
        return NULL;
    }
    redisReply *rep = run_formatted(r, flags, cmd, (size_t)len, err);
    redisFreeCommand(cmd);
    return rep;
}

redisReply *se_redis_command(se_redis *r, int flags, se_redis_err *err, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0) {
        report(err, SE_REDIS_EINVAL, "COMMAND", r->addr, "bad format string \"%s\"", fmt);
        return NULL;
    }
    redisReply *rep = run_formatted(r, flags, cmd, (size_t)len, err);
    redisFreeCommand(cmd);
    return rep;
}

/* ---- pool --------------------------------------------------------------- */

struct se_redis_pool {
    se_pool *conns; /* of se_redis */
};

typedef struct open_arg {
    const char *url;
    int timeout_ms;
    int flags;
    se_redis_err *err;
} open_arg;

static void *pool_open(void *arg)
{
    open_arg *a = arg;
    return se_redis_create_ex(a->url, a->timeout_ms, a->flags, a->err);
}

static void pool_close(void *r)
{
    se_redis_destroy(r);
}

se_redis_pool *se_redis_pool_create(const char *url, int size, int timeout_ms, se_redis_err *err)
{
    return se_redis_pool_create_ex(url, size, timeout_ms, 0, err);
}

se_redis_pool *se_redis_pool_create_ex(const char *url, int size, int timeout_ms, int flags,
                                       se_redis_err *err)
{
    if (size < 1) {
        report(err, SE_REDIS_EINVAL, "POOL", "-", "pool size %d must be at least 1", size);
        return NULL;
    }
    open_arg a = {url, timeout_ms, flags, err};
    se_pool *conns = se_pool_create("redis", size, pool_open, pool_close, &a);
    if (conns == NULL)
        return NULL;
    se_redis_pool *p = se_xcalloc(1, sizeof *p);
    p->conns = conns;
    return p;
}

se_redis_pool *se_redis_pool_create_from_env(se_redis_err *err)
{
    const char *url = se_env_str("SE_REDIS_URL", "redis://127.0.0.1:6379/0");
    int size = (int)se_env_int("SE_REDIS_POOL_SIZE", 4, 1, 256);
    int timeout = (int)se_env_int("SE_REDIS_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, 1, 600000);
    return se_redis_pool_create(url, size, timeout, err);
}

void se_redis_pool_destroy(se_redis_pool *p)
{
    if (p == NULL)
        return;
    se_pool_destroy(p->conns);
    free(p);
}

se_redis *se_redis_pool_acquire(se_redis_pool *p, int timeout_ms)
{
    return se_pool_acquire(p->conns, timeout_ms);
}

void se_redis_pool_release(se_redis_pool *p, se_redis *r)
{
    /* Left-over pipeline state is caught by se_redis_ensure on next use. */
    se_pool_release(p->conns, r);
}

int se_redis_read_replies(redisContext *ctx, void (*fn)(void *arg, const redisReply *r),
                          void *arg)
{
    void *rep = NULL;
    if (redisGetReply(ctx, &rep) != REDIS_OK)
        return -1;
    do {
        fn(arg, rep);
        freeReplyObject(rep);
        rep = NULL;
        if (redisGetReplyFromReader(ctx, &rep) != REDIS_OK)
            return -1;
    } while (rep != NULL);
    return 0;
}
