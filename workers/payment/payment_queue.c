/* payment_queue.c - the payment jobs' Redis Stream (see payment_queue.h).
 *
 * DESIGN: plain blocking hiredis commands through se_redis. The reading
 * connection is private to the dispatcher thread; its command timeout is
 * SE_REDIS_TIMEOUT_MS plus the longest BLOCK, so a blocked XREADGROUP is not
 * mistaken for a dead server. Replies are parsed defensively: a reply of an
 * unexpected shape is logged and treated as an error, never trusted.
 */
#include "payment_queue.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_time.h"
#include "se_log.h"
#include "se_redis.h"

struct payment_queue {
    char *stream, *group, *consumer, *dead_stream; /* owned copies */
    int timeout_ms;        /* pool command timeout */
    se_redis *reader;      /* dispatcher thread only */
    se_redis_pool *pool;   /* acks and dead letters, any thread */
};

/* ---- entries --------------------------------------------------------------- */

void payment_entry_free(payment_entry *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_fields; i++)
        free(e->fields[i]);
    free(e->fields);
    free(e);
}

int64_t payment_parse_order_id(const char *s)
{
    if (s == NULL || s[0] < '1' || s[0] > '9' || strlen(s) > 19)
        return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    return errno == 0 && v > 0 ? (int64_t)v : 0;
}

/* A request id is forwarded as gRPC metadata and written in logs: accept
 * only short ids of [A-Za-z0-9._:-]. */
static int request_id_ok(const char *s, size_t len)
{
    if (len == 0 || len >= sizeof(((payment_entry *)0)->request_id))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("._:-", s[i]) == NULL)
            return 0;
    return 1;
}

static void take_field(payment_entry *e, const redisReply *f, const redisReply *v)
{
    e->fields[e->n_fields++] = se_xstrdup(f->str);
    e->fields[e->n_fields++] = se_xstrdup(v->str);
    if (strcmp(f->str, "order_id") == 0)
        e->order_id = payment_parse_order_id(v->str);
    else if (strcmp(f->str, "request_id") == 0 && request_id_ok(v->str, (size_t)v->len))
        memcpy(e->request_id, v->str, (size_t)v->len + 1);
}

/* [id, [field, value, ...] | nil] -> a new entry, or NULL (bad shape). */
static payment_entry *parse_entry(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        (size_t)r->element[0]->len >= sizeof(((payment_entry *)0)->id))
        return NULL;
    const redisReply *fv = r->element[1];
    if (fv->type != REDIS_REPLY_NIL && fv->type != REDIS_REPLY_ARRAY)
        return NULL;
    payment_entry *e = se_xcalloc(1, sizeof *e);
    memcpy(e->id, r->element[0]->str, (size_t)r->element[0]->len + 1);
    e->deliveries = 1;
    if (fv->type == REDIS_REPLY_NIL) {
        e->deleted = 1;
        return e;
    }
    e->fields = se_xcalloc(fv->elements + 1, sizeof *e->fields);
    for (size_t i = 0; i + 1 < fv->elements; i += 2) {
        const redisReply *f = fv->element[i], *v = fv->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            payment_entry_free(e);
            return NULL;
        }
        take_field(e, f, v);
    }
    return e;
}

/* An array of entries -> out[0 ..]; returns the count or -1 (out freed). */
static int parse_entries(const redisReply *arr, int cap, payment_entry **out, const char *what)
{
    if (arr->type != REDIS_REPLY_ARRAY) {
        se_log_error("payment_queue_bad_reply", "%s: expected an array of entries", what);
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < arr->elements && n < cap; i++) {
        payment_entry *e = parse_entry(arr->element[i]);
        if (e == NULL) {
            se_log_error("payment_queue_bad_reply", "%s: entry %zu has an unexpected shape",
                         what, i);
            while (n > 0)
                payment_entry_free(out[--n]);
            return -1;
        }
        out[n++] = e;
    }
    return n;
}

/* ---- lifecycle --------------------------------------------------------------- */

payment_queue *payment_queue_create(const payment_queue_config *cfg)
{
    payment_queue *q = se_xcalloc(1, sizeof *q);
    q->stream = se_xstrdup(cfg->stream);
    q->group = se_xstrdup(cfg->group);
    q->consumer = se_xstrdup(cfg->consumer);
    q->dead_stream = se_xstrdup(cfg->dead_stream);
    q->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 1000;
    se_redis_err err;
    q->reader = se_redis_create_ex(cfg->redis_url, q->timeout_ms + cfg->max_block_ms,
                                   SE_REDIS_FAIL_FAST, &err);
    if (q->reader != NULL)
        q->pool = se_redis_pool_create_ex(cfg->redis_url, cfg->pool_size, q->timeout_ms,
                                          SE_REDIS_FAIL_FAST, &err);
    if (q->pool == NULL) {
        se_log_error("payment_queue_create_failed", "Redis (SE_REDIS_URL): %s", err.msg);
        payment_queue_destroy(q);
        return NULL;
    }
    return q;
}

void payment_queue_destroy(payment_queue *q)
{
    if (q == NULL)
        return;
    if (q->pool != NULL)
        se_redis_pool_destroy(q->pool);
    se_redis_destroy(q->reader);
    free(q->stream);
    free(q->group);
    free(q->consumer);
    free(q->dead_stream);
    free(q);
}

/* ---- reading (dispatcher thread) -------------------------------------------- */

int payment_queue_ensure_group(payment_queue *q)
{
    se_redis_err err;
    if (se_redis_ensure(q->reader, &err) != 0)
        return -1;
    /* raw context: BUSYGROUP is the normal answer and not worth a warning */
    redisReply *r = redisCommand(se_redis_raw(q->reader), "XGROUP CREATE %s %s 0 MKSTREAM",
                                 q->stream, q->group);
    if (r == NULL) {
        se_log_error("payment_queue_group_failed", "XGROUP CREATE %s %s: %s", q->stream,
                     q->group, se_redis_raw(q->reader)->errstr);
        return -1;
    }
    int ok = r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0;
    if (!ok)
        se_log_error("payment_queue_group_failed", "XGROUP CREATE %s %s: %s", q->stream,
                     q->group, r->str);
    else if (r->type != REDIS_REPLY_ERROR)
        se_log_info("payment_queue_group_created", "consumer group %s on %s", q->group,
                    q->stream);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* The delivery count of pending entry `id` (XPENDING s g id id 1), or -1. */
static int pending_deliveries(payment_queue *q, const char *id)
{
    se_redis_err err;
    redisReply *r = se_redis_command(q->reader, SE_REDIS_IDEMPOTENT, &err,
                                     "XPENDING %s %s %s %s 1", q->stream, q->group, id, id);
    if (r == NULL)
        return -1;
    int n = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 4 &&
        r->element[0]->element[3]->type == REDIS_REPLY_INTEGER)
        n = (int)r->element[0]->element[3]->integer;
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 0)
        n = 1; /* no longer pending (acked meanwhile): harmless */
    freeReplyObject(r);
    if (n < 0)
        se_log_error("payment_queue_bad_reply", "XPENDING %s: unexpected reply", id);
    return n;
}

/* Fills the delivery counts of entries that were pending before this read;
 * on failure frees them all and returns -1. */
static int fill_deliveries(payment_queue *q, payment_entry **out, int n)
{
    for (int i = 0; i < n; i++) {
        if (out[i]->deleted)
            continue;
        int d = pending_deliveries(q, out[i]->id);
        if (d < 0) {
            for (int j = 0; j < n; j++)
                payment_entry_free(out[j]);
            return -1;
        }
        out[i]->deliveries = d;
    }
    return n;
}

static redisReply *xreadgroup(payment_queue *q, const char *from_id, int count, int block_ms,
                              se_redis_err *err)
{
    char count_s[16], block_s[16];
    snprintf(count_s, sizeof count_s, "%d", count);
    snprintf(block_s, sizeof block_s, "%d", block_ms);
    const char *argv[11] = {"XREADGROUP", "GROUP", q->group, q->consumer, "COUNT", count_s};
    int argc = 6;
    if (block_ms > 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block_s;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = q->stream;
    argv[argc++] = from_id;
    return se_redis_command_argv(q->reader, 0, argc, argv, NULL, err);
}

int payment_queue_read(payment_queue *q, const char *from_id, int count, int block_ms,
                       payment_entry **out)
{
    int history = strcmp(from_id, ">") != 0;
    if (history)
        block_ms = 0;
    se_redis_err err;
    redisReply *r = xreadgroup(q, from_id, count, block_ms, &err);
    if (r == NULL && err.code == SE_REDIS_EREPLY && strstr(err.msg, "NOGROUP") != NULL &&
        payment_queue_ensure_group(q) == 0)
        r = xreadgroup(q, from_id, count, block_ms, &err);
    if (r == NULL)
        return -1;
    int n = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1) {
        const redisReply *s = r->element[0];
        if (s->type == REDIS_REPLY_ARRAY && s->elements == 2)
            n = parse_entries(s->element[1], count, out, "XREADGROUP");
        else
            n = -1;
    } else if (r->type != REDIS_REPLY_NIL && r->type != REDIS_REPLY_ARRAY) {
        n = -1;
    }
    freeReplyObject(r);
    if (n < 0) {
        se_log_error("payment_queue_read_failed", "XREADGROUP %s %s: unexpected reply",
                     q->stream, from_id);
        return -1;
    }
    return history ? fill_deliveries(q, out, n) : n;
}

int payment_queue_autoclaim(payment_queue *q, int min_idle_ms, int count, char *cursor,
                            payment_entry **out)
{
    se_redis_err err;
    redisReply *r = se_redis_command(q->reader, 0, &err, "XAUTOCLAIM %s %s %s %d %s COUNT %d",
                                     q->stream, q->group, q->consumer, min_idle_ms, cursor,
                                     count);
    if (r == NULL)
        return -1;
    int n = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && (size_t)r->element[0]->len < 48) {
        memcpy(cursor, r->element[0]->str, (size_t)r->element[0]->len + 1);
        n = parse_entries(r->element[1], count, out, "XAUTOCLAIM");
    }
    if (n >= 0 && r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY &&
        r->element[2]->elements > 0)
        se_log_info("payment_queue_reclaimed_deleted",
                    "%zu pending entries of %s were deleted from the stream; Redis dropped them",
                    r->element[2]->elements, q->stream);
    freeReplyObject(r);
    if (n < 0) {
        se_log_error("payment_queue_reclaim_failed", "XAUTOCLAIM %s: unexpected reply",
                     q->stream);
        return -1;
    }
    return fill_deliveries(q, out, n);
}

int payment_queue_touch(payment_queue *q, const char *const *ids, size_t n)
{
    if (n == 0)
        return 0;
    size_t argc = n + 6; /* XCLAIM stream group consumer 0 ids... JUSTID */
    const char **argv = se_xcalloc(argc, sizeof *argv);
    argv[0] = "XCLAIM";
    argv[1] = q->stream;
    argv[2] = q->group;
    argv[3] = q->consumer;
    argv[4] = "0";
    for (size_t i = 0; i < n; i++)
        argv[5 + i] = ids[i];
    argv[5 + n] = "JUSTID";
    se_redis_err err;
    redisReply *r =
        se_redis_command_argv(q->reader, SE_REDIS_IDEMPOTENT, (int)argc, argv, NULL, &err);
    free(argv);
    if (r == NULL) {
        se_log_warn("payment_queue_touch_failed",
                    "could not refresh %zu in-flight entries of %s: %s", n, q->stream, err.msg);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* ---- acknowledging (any thread) --------------------------------------------- */

static int ack_on(payment_queue *q, se_redis *c, const char *id)
{
    se_redis_err err;
    redisReply *r = se_redis_command(c, SE_REDIS_IDEMPOTENT, &err, "XACK %s %s %s", q->stream,
                                     q->group, id);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    r = se_redis_command(c, SE_REDIS_IDEMPOTENT, &err, "XDEL %s %s", q->stream, id);
    if (r == NULL) /* acked: the entry only lingers in the stream */
        return 0;
    freeReplyObject(r);
    return 0;
}

static se_redis *acquire(payment_queue *q, const char *what, const char *id)
{
    se_redis *c = se_redis_pool_acquire(q->pool, 10 * q->timeout_ms);
    if (c == NULL)
        se_log_error("payment_queue_busy", "%s %s: no Redis connection free", what, id);
    return c;
}

int payment_queue_ack(payment_queue *q, const char *id)
{
    se_redis *c = acquire(q, "XACK", id);
    if (c == NULL)
        return -1;
    int rc = ack_on(q, c, id);
    se_redis_pool_release(q->pool, c);
    return rc;
}

int payment_queue_dead_letter(payment_queue *q, const payment_entry *e, const char *reason)
{
    se_redis *c = acquire(q, "XADD", q->dead_stream);
    if (c == NULL)
        return -1;
    char deliveries[16];
    snprintf(deliveries, sizeof deliveries, "%d", e->deliveries);
    size_t argc = 3 + e->n_fields + 6;
    const char **argv = se_xcalloc(argc, sizeof *argv);
    size_t k = 0;
    argv[k++] = "XADD";
    argv[k++] = q->dead_stream;
    argv[k++] = "*";
    for (size_t i = 0; i < e->n_fields; i++)
        argv[k++] = e->fields[i];
    argv[k++] = "reason";
    argv[k++] = reason;
    argv[k++] = "deliveries";
    argv[k++] = deliveries;
    argv[k++] = "source_id";
    argv[k++] = e->id;
    se_redis_err err;
    redisReply *r = se_redis_command_argv(c, 0, (int)k, argv, NULL, &err);
    free(argv);
    int rc = -1;
    if (r != NULL) {
        freeReplyObject(r);
        rc = ack_on(q, c, e->id);
    }
    se_redis_pool_release(q->pool, c);
    return rc;
}
