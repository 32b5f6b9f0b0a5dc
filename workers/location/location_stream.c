/* location_stream.c - the location reports' Redis Stream (location_stream.h).
 *
 * DESIGN: blocking hiredis through se_redis; the reading connection's
 * command timeout covers the BLOCK so a quiet stream is not taken for a
 * dead server. Replies are checked for shape before use; a surprise is an
 * error for the call, never trusted.
 */
#include "location_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_log.h"

struct location_stream {
    char *stream, *group, *consumer, *dead_stream; /* owned copies */
    se_redis *reader; /* XREADGROUP / XAUTOCLAIM */
    se_redis *cmd;    /* everything else */
};

location_stream *location_stream_create(const location_stream_config *cfg)
{
    location_stream *s = se_xcalloc(1, sizeof *s);
    s->stream = se_xstrdup(cfg->stream);
    s->group = se_xstrdup(cfg->group);
    s->consumer = se_xstrdup(cfg->consumer);
    s->dead_stream = se_xstrdup(cfg->dead_stream);
    int timeout = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 1000;
    se_redis_err err;
    s->reader = se_redis_create_ex(cfg->redis_url, timeout + cfg->max_block_ms,
                                   SE_REDIS_FAIL_FAST, &err);
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
    free(s->stream);
    free(s->group);
    free(s->consumer);
    free(s->dead_stream);
    free(s);
}

se_redis *location_stream_redis(location_stream *s)
{
    return s->cmd;
}

int location_stream_ensure_group(location_stream *s)
{
    se_redis_err err;
    if (se_redis_ensure(s->cmd, &err) != 0)
        return -1;
    /* raw context: BUSYGROUP is the normal answer, not worth a log line */
    redisReply *r = redisCommand(se_redis_raw(s->cmd), "XGROUP CREATE %s %s 0 MKSTREAM",
                                 s->stream, s->group);
    if (r == NULL) {
        se_log_error("location_group_failed", "XGROUP CREATE %s %s: %s", s->stream, s->group,
                     se_redis_raw(s->cmd)->errstr);
        return -1;
    }
    int ok = r->type != REDIS_REPLY_ERROR || strncmp(r->str, "BUSYGROUP", 9) == 0;
    if (!ok)
        se_log_error("location_group_failed", "XGROUP CREATE %s %s: %s", s->stream, s->group,
                     r->str);
    else if (r->type != REDIS_REPLY_ERROR)
        se_log_info("location_group_created", "consumer group %s on %s", s->group, s->stream);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

static redisReply *xreadgroup(location_stream *s, const char *from, int count, int block_ms,
                              se_redis_err *err)
{
    char count_s[16], block_s[16];
    snprintf(count_s, sizeof count_s, "%d", count);
    snprintf(block_s, sizeof block_s, "%d", block_ms);
    const char *argv[11] = {"XREADGROUP", "GROUP", s->group, s->consumer, "COUNT", count_s};
    int argc = 6;
    if (block_ms > 0) {
        argv[argc++] = "BLOCK";
        argv[argc++] = block_s;
    }
    argv[argc++] = "STREAMS";
    argv[argc++] = s->stream;
    argv[argc++] = from;
    return se_redis_command_argv(s->reader, 0, argc, argv, NULL, err);
}

int location_stream_read(location_stream *s, const char *from, int count, int block_ms,
                         location_batch *b)
{
    int pel = strcmp(from, ">") != 0;
    se_redis_err err;
    redisReply *r = xreadgroup(s, from, count, pel ? 0 : block_ms, &err);
    if (r == NULL && err.code == SE_REDIS_EREPLY && strstr(err.msg, "NOGROUP") != NULL &&
        location_stream_ensure_group(s) == 0)
        r = xreadgroup(s, from, count, pel ? 0 : block_ms, &err);
    memset(b, 0, sizeof *b);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_NIL) { /* BLOCK timed out */
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY || r->element[0]->elements != 2) {
        se_log_error("location_read_failed", "XREADGROUP %s %s: unexpected reply", s->stream,
                     from);
        freeReplyObject(r);
        return -1;
    }
    if (location_batch_take(b, r, r->element[0]->element[1], pel) != 0)
        return -1;
    return (int)b->n;
}

int location_stream_autoclaim(location_stream *s, int min_idle_ms, int count, char *cursor,
                              location_batch *b)
{
    se_redis_err err;
    memset(b, 0, sizeof *b);
    redisReply *r = se_redis_command(s->reader, 0, &err, "XAUTOCLAIM %s %s %s %d %s COUNT %d",
                                     s->stream, s->group, s->consumer, min_idle_ms, cursor,
                                     count);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= 48) {
        se_log_error("location_claim_failed", "XAUTOCLAIM %s: unexpected reply", s->stream);
        freeReplyObject(r);
        return -1;
    }
    memcpy(cursor, r->element[0]->str, (size_t)r->element[0]->len + 1);
    if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_ARRAY &&
        r->element[2]->elements > 0)
        se_log_warn("location_claimed_deleted",
                    "%zu pending entries of %s no longer exist (trimmed); Redis dropped them",
                    r->element[2]->elements, s->stream);
    if (location_batch_take(b, r, r->element[1], 1) != 0)
        return -1;
    return (int)b->n;
}

int location_stream_deliveries(location_stream *s, const char *id)
{
    se_redis_err err;
    redisReply *r = se_redis_command(s->cmd, SE_REDIS_IDEMPOTENT, &err,
                                     "XPENDING %s %s %s %s 1", s->stream, s->group, id, id);
    if (r == NULL)
        return -1;
    int n = -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 4 &&
        r->element[0]->element[3]->type == REDIS_REPLY_INTEGER)
        n = (int)r->element[0]->element[3]->integer;
    else if (r->type == REDIS_REPLY_ARRAY && r->elements == 0)
        n = 1; /* acknowledged meanwhile */
    freeReplyObject(r);
    if (n < 0)
        se_log_error("location_bad_reply", "XPENDING %s %s: unexpected reply", s->stream, id);
    return n;
}

/* One pipelined round trip: XACK s g ids..., XDEL s ids... */
int location_stream_ack(location_stream *s, const char *const *ids, size_t n)
{
    if (n == 0)
        return 0;
    se_redis_err err;
    if (se_redis_ensure(s->cmd, &err) != 0)
        return -1;
    const char **argv = se_xcalloc(n + 3, sizeof *argv);
    argv[0] = "XACK";
    argv[1] = s->stream;
    argv[2] = s->group;
    memcpy(argv + 3, ids, n * sizeof *ids);
    redisContext *c = se_redis_raw(s->cmd);
    int rc = redisAppendCommandArgv(c, (int)n + 3, argv, NULL);
    argv[1] = "XDEL"; /* XDEL s ids...: the same vector shifted by one */
    argv[2] = s->stream;
    if (rc == REDIS_OK)
        rc = redisAppendCommandArgv(c, (int)n + 2, argv + 1, NULL);
    free(argv);
    for (int i = 0; i < 2 && rc == REDIS_OK; i++) {
        redisReply *r = NULL;
        rc = redisGetReply(c, (void **)&r);
        if (rc == REDIS_OK && r->type == REDIS_REPLY_ERROR) {
            se_log_error("location_ack_failed", "%s %s: %s", i == 0 ? "XACK" : "XDEL",
                         s->stream, r->str);
            rc = REDIS_ERR;
        }
        if (r != NULL)
            freeReplyObject(r);
    }
    if (rc != REDIS_OK && c->err != 0)
        se_log_error("location_ack_failed", "XACK/XDEL of %zu entries of %s: %s", n, s->stream,
                     c->errstr);
    return rc == REDIS_OK ? 0 : -1;
}

int location_stream_dead_letter(location_stream *s, const location_entry *e, const char *error)
{
    size_t nf = e->fields != NULL ? e->fields->elements : 0;
    size_t argc = 3 + nf + 4;
    const char **argv = se_xcalloc(argc, sizeof *argv);
    size_t *lens = se_xcalloc(argc, sizeof *lens);
    size_t k = 0;
    argv[k++] = "XADD";
    argv[k++] = s->dead_stream;
    argv[k++] = "*";
    for (size_t i = 0; i < nf; i++) {
        lens[k] = (size_t)e->fields->element[i]->len;
        argv[k++] = e->fields->element[i]->str;
    }
    argv[k++] = "error";
    argv[k++] = error;
    argv[k++] = "id";
    argv[k++] = e->id;
    for (size_t i = 0; i < k; i++)
        if (i < 3 || i >= 3 + nf)
            lens[i] = strlen(argv[i]);
    se_redis_err err;
    redisReply *r = se_redis_command_argv(s->cmd, 0, (int)k, argv, lens, &err);
    free(argv);
    free(lens);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}
