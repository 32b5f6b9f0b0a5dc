/* se_redis_stream.c - Redis Stream consumer groups (se_redis_stream.h).
 *
 * DESIGN: plain blocking commands through se_redis, no state of our own:
 * the caller picks the connection (a reader whose timeout covers the BLOCK,
 * a pooled one for acks) and keeps the names. Replies of XREADGROUP and
 * XAUTOCLAIM are walked once to check their shape, so callers can index
 * them without checks of their own. BUSYGROUP is expected on every start,
 * so XGROUP CREATE goes through the raw context to keep it out of the logs.
 */
#include "se_redis_stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "se_alloc.h"
#include "se_config.h"
#include "se_log.h"

/* "<log_prefix>_<what>" in buf. */
static const char *event(char *buf, size_t cap, const se_redis_stream *s, const char *what)
{
    snprintf(buf, cap, "%s_%s", s->log_prefix, what);
    return buf;
}

#define EVENT(s, what) event((char[96]){0}, 96, (s), (what))

void se_redis_stream_init(se_redis_stream *s, const char *stream, const char *group,
                          const char *consumer, const char *dead_stream,
                          const char *log_prefix)
{
    s->stream = se_xstrdup(stream);
    s->group = se_xstrdup(group);
    s->consumer = se_xstrdup(consumer);
    s->dead_stream = se_xstrdup(dead_stream);
    s->log_prefix = se_xstrdup(log_prefix);
}

void se_redis_stream_dispose(se_redis_stream *s)
{
    free(s->stream);
    free(s->group);
    free(s->consumer);
    free(s->dead_stream);
    free(s->log_prefix);
    memset(s, 0, sizeof *s);
}

const char *se_redis_stream_consumer_from_env(const char *var)
{
    const char *v = se_env_str(var, NULL);
    if (v != NULL)
        return v;
    static char buf[300];
    char host[256] = "worker";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    snprintf(buf, sizeof buf, "%s-%ld", host, (long)getpid());
    return buf;
}

se_redis *se_redis_stream_reader_create(const char *url, int timeout_ms, int max_block_ms,
                                        se_redis_err *err)
{
    int t = (timeout_ms > 0 ? timeout_ms : 1000) + (max_block_ms > 0 ? max_block_ms : 0);
    return se_redis_create_ex(url, t, SE_REDIS_FAIL_FAST, err);
}

/* ---- the group --------------------------------------------------------------- */

int se_redis_stream_ensure_group(se_redis *r, const se_redis_stream *s)
{
    se_redis_err err;
    if (se_redis_ensure(r, &err) != 0)
        return -1;
    redisContext *c = se_redis_raw(r);
    redisReply *rep = redisCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM", s->stream, s->group);
    if (rep == NULL) {
        se_log_error(EVENT(s, "group_failed"), "XGROUP CREATE %s %s: %s", s->stream,
                     s->group, c->errstr);
        return -1;
    }
    int ok = rep->type != REDIS_REPLY_ERROR || strncmp(rep->str, "BUSYGROUP", 9) == 0;
    if (!ok)
        se_log_error(EVENT(s, "group_failed"), "XGROUP CREATE %s %s: %s", s->stream,
                     s->group, rep->str);
    else if (rep->type != REDIS_REPLY_ERROR)
        se_log_info(EVENT(s, "group_created"), "consumer group %s on %s", s->group,
                    s->stream);
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

/* ---- entries ----------------------------------------------------------------- */

static int entry_ok(const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        (size_t)e->element[0]->len >= SE_REDIS_STREAM_ID_MAX)
        return 0;
    const redisReply *fv = e->element[1];
    if (fv->type == REDIS_REPLY_NIL)
        return 1;
    if (fv->type != REDIS_REPLY_ARRAY || fv->elements % 2 != 0)
        return 0;
    for (size_t i = 0; i < fv->elements; i++)
        if (fv->element[i]->type != REDIS_REPLY_STRING)
            return 0;
    return 1;
}

/* Checks an array of at most `count` entries; logs _bad_reply if not. */
static int entries_ok(const se_redis_stream *s, const redisReply *arr, int count,
                      const char *what)
{
    if (arr->type != REDIS_REPLY_ARRAY || arr->elements > (size_t)count) {
        se_log_error(EVENT(s, "bad_reply"), "%s %s: expected an array of at most %d entries",
                     what, s->stream, count);
        return 0;
    }
    for (size_t i = 0; i < arr->elements; i++)
        if (!entry_ok(arr->element[i])) {
            se_log_error(EVENT(s, "bad_reply"), "%s %s: entry %zu has an unexpected shape",
                         what, s->stream, i);
            return 0;
        }
    return 1;
}

/* Hands rep and its entries to the caller (n > 0) or frees it (n == 0). */
static int hand_over(redisReply *rep, const redisReply *arr, redisReply **reply,
                     const redisReply **entries)
{
    if (arr->elements == 0) {
        freeReplyObject(rep);
        return 0;
    }
    *reply = rep;
    *entries = arr;
    return (int)arr->elements;
}

const char *se_redis_stream_entry_id(const redisReply *entry)
{
    return entry->element[0]->str;
}

const redisReply *se_redis_stream_entry_fields(const redisReply *entry)
{
    return entry->element[1]->type == REDIS_REPLY_ARRAY ? entry->element[1] : NULL;
}

/* ---- reading ----------------------------------------------------------------- */

static redisReply *xreadgroup(se_redis *r, const se_redis_stream *s, const char *from,
                              int count, int block_ms, se_redis_err *err)
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
    return se_redis_command_argv(r, 0, argc, argv, NULL, err);
}

int se_redis_stream_read(se_redis *r, const se_redis_stream *s, const char *from, int count,
                         int block_ms, redisReply **reply, const redisReply **entries)
{
    *reply = NULL;
    *entries = NULL;
    if (strcmp(from, ">") != 0)
        block_ms = 0; /* the PEL is there or not: nothing to wait for */
    se_redis_err err;
    redisReply *rep = xreadgroup(r, s, from, count, block_ms, &err);
    if (rep == NULL && err.code == SE_REDIS_EREPLY && strstr(err.msg, "NOGROUP") != NULL &&
        se_redis_stream_ensure_group(r, s) == 0)
        rep = xreadgroup(r, s, from, count, block_ms, &err);
    if (rep == NULL)
        return -1;
    if (rep->type == REDIS_REPLY_NIL) { /* BLOCK timed out */
        freeReplyObject(rep);
        return 0;
    }
    /* [[stream, [entries]]] */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 1 ||
        rep->element[0]->type != REDIS_REPLY_ARRAY || rep->element[0]->elements != 2 ||
        !entries_ok(s, rep->element[0]->element[1], count, "XREADGROUP")) {
        se_log_error(EVENT(s, "read_failed"), "XREADGROUP %s %s: unexpected reply", s->stream,
                     from);
        freeReplyObject(rep);
        return -1;
    }
    return hand_over(rep, rep->element[0]->element[1], reply, entries);
}

int se_redis_stream_autoclaim(se_redis *r, const se_redis_stream *s, int min_idle_ms,
                              int count, char *cursor, redisReply **reply,
                              const redisReply **entries, size_t *n_deleted)
{
    *reply = NULL;
    *entries = NULL;
    if (n_deleted != NULL)
        *n_deleted = 0;
    se_redis_err err;
    redisReply *rep = se_redis_command(r, 0, &err, "XAUTOCLAIM %s %s %s %d %s COUNT %d",
                                       s->stream, s->group, s->consumer, min_idle_ms, cursor,
                                       count);
    if (rep == NULL)
        return -1;
    /* [next cursor, [entries], [deleted ids]] (Redis 7) */
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
        rep->element[0]->type != REDIS_REPLY_STRING ||
        (size_t)rep->element[0]->len >= SE_REDIS_STREAM_ID_MAX ||
        !entries_ok(s, rep->element[1], count, "XAUTOCLAIM")) {
        se_log_error(EVENT(s, "claim_failed"), "XAUTOCLAIM %s: unexpected reply", s->stream);
        freeReplyObject(rep);
        return -1;
    }
    memcpy(cursor, rep->element[0]->str, (size_t)rep->element[0]->len + 1);
    if (n_deleted != NULL && rep->elements >= 3 && rep->element[2]->type == REDIS_REPLY_ARRAY)
        *n_deleted = rep->element[2]->elements;
    return hand_over(rep, rep->element[1], reply, entries);
}

int se_redis_stream_deliveries(se_redis *r, const se_redis_stream *s, const char *id)
{
    se_redis_err err;
    redisReply *rep = se_redis_command(r, SE_REDIS_IDEMPOTENT, &err, "XPENDING %s %s %s %s 1",
                                       s->stream, s->group, id, id);
    if (rep == NULL)
        return -1;
    int n = -1;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
        rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 4 &&
        rep->element[0]->element[3]->type == REDIS_REPLY_INTEGER)
        n = (int)rep->element[0]->element[3]->integer;
    else if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 0)
        n = 1; /* acknowledged meanwhile: harmless */
    freeReplyObject(rep);
    if (n < 0)
        se_log_error(EVENT(s, "bad_reply"), "XPENDING %s %s: unexpected reply", s->stream, id);
    return n;
}

int se_redis_stream_touch(se_redis *r, const se_redis_stream *s, const char *const *ids,
                          size_t n)
{
    if (n == 0)
        return 0;
    size_t argc = n + 6; /* XCLAIM stream group consumer 0 ids... JUSTID */
    const char **argv = se_xcalloc(argc, sizeof *argv);
    argv[0] = "XCLAIM";
    argv[1] = s->stream;
    argv[2] = s->group;
    argv[3] = s->consumer;
    argv[4] = "0";
    memcpy(argv + 5, ids, n * sizeof *ids);
    argv[5 + n] = "JUSTID";
    se_redis_err err;
    redisReply *rep =
        se_redis_command_argv(r, SE_REDIS_IDEMPOTENT, (int)argc, argv, NULL, &err);
    free(argv);
    if (rep == NULL) {
        se_log_warn(EVENT(s, "touch_failed"), "could not refresh %zu in-flight entries of %s: %s",
                    n, s->stream, err.msg);
        return -1;
    }
    freeReplyObject(rep);
    return 0;
}

/* ---- acknowledging ------------------------------------------------------------ */

/* Sends XACK and XDEL (argv = "XACK" stream group ids..., reused shifted
 * by one for XDEL) and reads both replies. 1: I/O error on the way (worth
 * a retry on a fresh connection), -1: no connection or an error reply,
 * 0: done. */
static int ack_pipeline(se_redis *r, const se_redis_stream *s, const char **argv, size_t n)
{
    se_redis_err err;
    if (se_redis_ensure(r, &err) != 0)
        return -1; /* no connection: nothing to retry on */
    redisContext *c = se_redis_raw(r);
    argv[0] = "XACK";
    argv[1] = s->stream;
    argv[2] = s->group;
    int rc = redisAppendCommandArgv(c, (int)n + 3, argv, NULL);
    if (rc == REDIS_OK) {
        argv[1] = "XDEL"; /* XDEL stream ids... */
        argv[2] = s->stream;
        rc = redisAppendCommandArgv(c, (int)n + 2, argv + 1, NULL);
    }
    int replied_error = 0;
    for (int i = 0; i < 2 && rc == REDIS_OK; i++) {
        redisReply *rep = NULL;
        rc = redisGetReply(c, (void **)&rep);
        if (rc == REDIS_OK && rep->type == REDIS_REPLY_ERROR) {
            se_log_error(EVENT(s, "ack_failed"), "%s %s: %s", i == 0 ? "XACK" : "XDEL",
                         s->stream, rep->str);
            replied_error = 1;
        }
        if (rep != NULL)
            freeReplyObject(rep);
    }
    if (rc != REDIS_OK) {
        se_log_error(EVENT(s, "ack_failed"), "XACK/XDEL of %zu entries of %s: %s", n,
                     s->stream, c->errstr[0] ? c->errstr : "connection error");
        return 1;
    }
    return replied_error ? -1 : 0;
}

int se_redis_stream_ack(se_redis *r, const se_redis_stream *s, const char *const *ids,
                        size_t n)
{
    if (n == 0)
        return 0;
    const char **argv = se_xcalloc(n + 3, sizeof *argv);
    memcpy(argv + 3, ids, n * sizeof *ids);
    int rc = ack_pipeline(r, s, argv, n);
    if (rc > 0) /* both commands are idempotent: once more on a fresh connection */
        rc = ack_pipeline(r, s, argv, n);
    free(argv);
    return rc == 0 ? 0 : -1;
}

int se_redis_stream_dead_letter(se_redis *r, const se_redis_stream *s,
                                const char *const *fields, const size_t *lens,
                                size_t n_fields, const char *const *extra, size_t n_extra)
{
    size_t argc = 3 + n_fields + n_extra;
    const char **argv = se_xcalloc(argc, sizeof *argv);
    size_t *argl = se_xcalloc(argc, sizeof *argl);
    argv[0] = "XADD";
    argv[1] = s->dead_stream;
    argv[2] = "*";
    for (size_t i = 0; i < n_fields; i++)
        argv[3 + i] = fields[i];
    for (size_t i = 0; i < n_extra; i++)
        argv[3 + n_fields + i] = extra[i];
    for (size_t i = 0; i < argc; i++)
        argl[i] = lens != NULL && i >= 3 && i < 3 + n_fields ? lens[i - 3] : strlen(argv[i]);
    se_redis_err err;
    redisReply *rep = se_redis_command_argv(r, 0, (int)argc, argv, argl, &err);
    free(argv);
    free(argl);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    return 0;
}
