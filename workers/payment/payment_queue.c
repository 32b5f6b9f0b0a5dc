/* payment_queue.c - the payment jobs' Redis Stream (see payment_queue.h).
 *
 * DESIGN: the consumer-group commands are se_redis_stream's (shape-checked
 * replies, NOGROUP recovery, the XACK+XDEL pipeline); this file adds what
 * is the payment worker's own: its two kinds of connection (the dispatcher's
 * reader, whose command timeout is SE_REDIS_TIMEOUT_MS plus the longest
 * BLOCK so a blocked XREADGROUP is not mistaken for a dead server, and a
 * pool for the job threads), entries copied out of the reply (they outlive
 * it, queued for the job threads), and delivery counts for re-read and
 * reclaimed entries.
 */
#include "payment_queue.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_log.h"
#include "se_redis.h"
#include "se_redis_stream.h"

struct payment_queue {
    se_redis_stream names; /* copies of cfg's, log events "payment_queue_*" */
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

/* A checked entry (se_redis_stream.h) -> a new entry with copied fields. */
static payment_entry *copy_entry(const redisReply *r)
{
    payment_entry *e = se_xcalloc(1, sizeof *e);
    snprintf(e->id, sizeof e->id, "%s", se_redis_stream_entry_id(r));
    e->deliveries = 1;
    const redisReply *fv = se_redis_stream_entry_fields(r);
    if (fv == NULL) {
        e->deleted = 1;
        return e;
    }
    e->fields = se_xcalloc(fv->elements + 1, sizeof *e->fields);
    for (size_t i = 0; i + 1 < fv->elements; i += 2)
        take_field(e, fv->element[i], fv->element[i + 1]);
    return e;
}

/* Copies the n entries of a read or claim to out[] and frees the reply. */
static int copy_entries(redisReply *reply, const redisReply *entries, int n,
                        payment_entry **out)
{
    for (int i = 0; i < n; i++)
        out[i] = copy_entry(entries->element[i]);
    if (reply != NULL)
        freeReplyObject(reply);
    return n;
}

/* ---- lifecycle --------------------------------------------------------------- */

payment_queue *payment_queue_create(const payment_queue_config *cfg)
{
    payment_queue *q = se_xcalloc(1, sizeof *q);
    se_redis_stream_init(&q->names, cfg->stream, cfg->group, cfg->consumer, cfg->dead_stream,
                         "payment_queue");
    q->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 1000;
    se_redis_err err;
    q->reader = se_redis_stream_reader_create(cfg->redis_url, q->timeout_ms, cfg->max_block_ms,
                                              &err);
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
    se_redis_stream_dispose(&q->names);
    free(q);
}

/* ---- reading (dispatcher thread) -------------------------------------------- */

int payment_queue_ensure_group(payment_queue *q)
{
    return se_redis_stream_ensure_group(q->reader, &q->names);
}

/* Fills the delivery counts of entries that were pending before this read;
 * on failure frees them all and returns -1. */
static int fill_deliveries(payment_queue *q, payment_entry **out, int n)
{
    for (int i = 0; i < n; i++) {
        if (out[i]->deleted)
            continue;
        int d = se_redis_stream_deliveries(q->reader, &q->names, out[i]->id);
        if (d < 0) {
            for (int j = 0; j < n; j++)
                payment_entry_free(out[j]);
            return -1;
        }
        out[i]->deliveries = d;
    }
    return n;
}

int payment_queue_read(payment_queue *q, const char *from_id, int count, int block_ms,
                       payment_entry **out)
{
    redisReply *reply;
    const redisReply *entries;
    int n = se_redis_stream_read(q->reader, &q->names, from_id, count, block_ms, &reply,
                                 &entries);
    if (n <= 0)
        return n;
    copy_entries(reply, entries, n, out);
    return strcmp(from_id, ">") != 0 ? fill_deliveries(q, out, n) : n;
}

int payment_queue_autoclaim(payment_queue *q, int min_idle_ms, int count, char *cursor,
                            payment_entry **out)
{
    redisReply *reply;
    const redisReply *entries;
    size_t deleted;
    int n = se_redis_stream_autoclaim(q->reader, &q->names, min_idle_ms, count, cursor, &reply,
                                      &entries, &deleted);
    if (n < 0)
        return -1;
    if (deleted > 0)
        se_log_info("payment_queue_reclaimed_deleted",
                    "%zu pending entries of %s were deleted from the stream; Redis dropped them",
                    deleted, q->names.stream);
    copy_entries(reply, entries, n, out);
    return fill_deliveries(q, out, n);
}

int payment_queue_touch(payment_queue *q, const char *const *ids, size_t n)
{
    return se_redis_stream_touch(q->reader, &q->names, ids, n);
}

/* ---- acknowledging (any thread) --------------------------------------------- */

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
    int rc = se_redis_stream_ack(c, &q->names, &id, 1);
    se_redis_pool_release(q->pool, c);
    return rc;
}

int payment_queue_dead_letter(payment_queue *q, const payment_entry *e, const char *reason)
{
    se_redis *c = acquire(q, "XADD", q->names.dead_stream);
    if (c == NULL)
        return -1;
    char deliveries[16];
    snprintf(deliveries, sizeof deliveries, "%d", e->deliveries);
    const char *extra[] = {"reason", reason, "deliveries", deliveries, "source_id", e->id};
    int rc = se_redis_stream_dead_letter(c, &q->names, (const char *const *)e->fields, NULL,
                                         e->n_fields, extra, 6);
    const char *id = e->id;
    if (rc == 0)
        rc = se_redis_stream_ack(c, &q->names, &id, 1);
    se_redis_pool_release(q->pool, c);
    return rc;
}
