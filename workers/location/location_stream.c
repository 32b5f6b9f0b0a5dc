/* location_stream.c - the location reports' Redis Stream (location_stream.h).
 *
 * DESIGN: the consumer-group commands are se_redis_stream's (shape-checked
 * replies, NOGROUP recovery, the XACK+XDEL pipeline); this file holds the
 * worker's two connections (the reader's command timeout covers the BLOCK
 * so a quiet stream is not taken for a dead server) and turns replies into
 * batches that keep them (no copies).
 */
#include "location_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_log.h"
#include "se_redis_stream.h"

struct location_stream {
    se_redis_stream names; /* copies of cfg's, log events "location_*" */
    se_redis *reader; /* XREADGROUP / XAUTOCLAIM */
    se_redis *cmd;    /* everything else */
};

location_stream *location_stream_create(const location_stream_config *cfg)
{
    location_stream *s = se_xcalloc(1, sizeof *s);
    se_redis_stream_init(&s->names, cfg->stream, cfg->group, cfg->consumer, cfg->dead_stream,
                         "location");
    int timeout = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 1000;
    se_redis_err err;
    s->reader = se_redis_stream_reader_create(cfg->redis_url, timeout, cfg->max_block_ms, &err);
    if (s->reader != NULL)
        s->cmd = se_redis_create_ex(cfg->redis_url, timeout, SE_REDIS_FAIL_FAST, &err);
    if (s->cmd == NULL) {
        se_log_error("location_stream_create_failed", "Redis (SE_REDIS_URL): %s", err.msg);
        location_stream_destroy(s);
        return NULL;
    }
    return s;
}

void location_stream_destroy(location_stream *s)
{
    if (s == NULL)
        return;
    se_redis_destroy(s->reader);
    se_redis_destroy(s->cmd);
    se_redis_stream_dispose(&s->names);
    free(s);
}

se_redis *location_stream_redis(location_stream *s)
{
    return s->cmd;
}

int location_stream_ensure_group(location_stream *s)
{
    return se_redis_stream_ensure_group(s->cmd, &s->names);
}

int location_stream_read(location_stream *s, const char *from, int count, int block_ms,
                         location_batch *b)
{
    redisReply *reply;
    const redisReply *entries;
    memset(b, 0, sizeof *b);
    int n = se_redis_stream_read(s->reader, &s->names, from, count, block_ms, &reply,
                                 &entries);
    if (n < 0)
        return -1;
    location_batch_take(b, reply, entries, (size_t)n, strcmp(from, ">") != 0);
    return n;
}

int location_stream_autoclaim(location_stream *s, int min_idle_ms, int count, char *cursor,
                              location_batch *b)
{
    redisReply *reply;
    const redisReply *entries;
    size_t deleted;
    memset(b, 0, sizeof *b);
    int n = se_redis_stream_autoclaim(s->reader, &s->names, min_idle_ms, count, cursor, &reply,
                                      &entries, &deleted);
    if (n < 0)
        return -1;
    if (deleted > 0)
        se_log_warn("location_claimed_deleted",
                    "%zu pending entries of %s no longer exist (trimmed); Redis dropped them",
                    deleted, s->names.stream);
    location_batch_take(b, reply, entries, (size_t)n, 1);
    return n;
}

int location_stream_deliveries(location_stream *s, const char *id)
{
    return se_redis_stream_deliveries(s->cmd, &s->names, id);
}

int location_stream_ack(location_stream *s, const char *const *ids, size_t n)
{
    return se_redis_stream_ack(s->cmd, &s->names, ids, n);
}

int location_stream_dead_letter(location_stream *s, const location_entry *e, const char *error)
{
    size_t nf = e->fields != NULL ? e->fields->elements : 0;
    const char **fields = se_xcalloc(nf + 1, sizeof *fields);
    size_t *lens = se_xcalloc(nf + 1, sizeof *lens);
    for (size_t i = 0; i < nf; i++) { /* binary-safe: "loc" is packed protobuf */
        fields[i] = e->fields->element[i]->str;
        lens[i] = (size_t)e->fields->element[i]->len;
    }
    const char *extra[] = {"error", error, "id", e->id};
    int rc = se_redis_stream_dead_letter(s->cmd, &s->names, fields, lens, nf, extra, 4);
    free(fields);
    free(lens);
    return rc;
}
