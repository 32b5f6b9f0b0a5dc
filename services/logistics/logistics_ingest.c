/* logistics_ingest.c - validation and the stream append of driver
 * location reports (logistics_ingest.h).
 *
 * DESIGN
 * Stream entry (read by workers/location): XADD <stream> MAXLEN ~ <maxlen> *
 * loc <packed swifteats.v1.Location> rid <request id>. The Location always
 * carries a timestamp (the device's, else the acceptance time), so the
 * worker never has to guess when a position was measured. The entry id is
 * the report's message_id.
 *
 * One round trip per batch: the XADDs of every valid report are appended to
 * the connection's output buffer (redisAppendCommandArgv), followed by one
 * XLEN, then the replies are read in order. The XLEN tells how many entries
 * the worker has not processed yet (it deletes what it acknowledged): when
 * that backlog reaches 90% of MAXLEN, new reports are refused with
 * RESOURCE_EXHAUSTED, so the approximate trim never removes an entry the
 * worker has not seen. The check uses the length seen by the previous
 * batch (no extra round trip); the 10% margin covers what is appended
 * between two batches.
 *
 * Failure: a lost connection or a timeout fails the whole batch with
 * UNAVAILABLE: some XADDs may have been applied, but none is reported
 * accepted (never a false 202; a client retry may store a report twice,
 * which the history tolerates: it is another stream entry). An error reply
 * to one XADD (e.g. MISCONF, OOM) fails that report alone with UNAVAILABLE.
 *
 * Memory: one allocation per batch (packed Locations and argument vectors
 * together), none per report.
 */
#include "logistics_ingest.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_batch.h"
#include "se_log.h"
#include "se_time.h"

#define DRIVER_ID_MAX 64
#define PACKED_MAX 256 /* a Location with a 64-byte driver id packs to < 160 */
#define XADD_ARGC 10
#define MAX_SPEED_MPS 100.0
#define MAX_ACCURACY_M 10000.0
#define BACKLOG_PROBE_MS 100

struct logistics_ingest {
    logistics_ingest_config cfg;
    char *stream;
    char maxlen_text[24];
    se_batch *singles;
    atomic_llong backlog;          /* XLEN seen by the last batch */
    atomic_llong backlog_probe_ms; /* when it was last read over the mark */
};

/* ---- validation --------------------------------------------------------------- */

static int bad(char *msg, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int bad(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

int logistics_driver_id_check(const char *id, char *msg, size_t len)
{
    size_t n = strlen(id);
    if (n == 0)
        return bad(msg, len, "driver_id must not be empty");
    if (n > DRIVER_ID_MAX)
        return bad(msg, len, "driver_id must be at most 64 bytes (got %zu)", n);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)id[i] < 0x20 || id[i] == 0x7f)
            return bad(msg, len, "driver_id must not contain control characters");
    return 0;
}

static int validate_timestamp(const logistics_ingest_config *cfg,
                              const Google__Protobuf__Timestamp *ts, int64_t now_us, char *msg,
                              size_t len)
{
    if (ts == NULL)
        return 0;
    if (ts->nanos < 0 || ts->nanos > 999999999)
        return bad(msg, len, "timestamp nanos must be between 0 and 999999999 (got %d)",
                   (int)ts->nanos);
    int64_t us = ts->seconds * 1000000 + ts->nanos / 1000;
    if (us > now_us + cfg->max_ahead_ms * 1000)
        return bad(msg, len, "timestamp must be at most %" PRId64 " seconds in the future",
                   cfg->max_ahead_ms / 1000);
    if (us < now_us - cfg->max_age_ms * 1000)
        return bad(msg, len, "timestamp must be at most %" PRId64 " hours in the past",
                   cfg->max_age_ms / 3600000);
    return 0;
}

int logistics_report_validate(const logistics_ingest_config *cfg,
                              const Swifteats__V1__ReportLocationRequest *r, int64_t now_us,
                              char *msg, size_t len)
{
    if (logistics_driver_id_check(r->driver_id, msg, len) != 0)
        return -1;
    if (!r->_latitude_case)
        return bad(msg, len, "latitude is required");
    if (!(r->latitude >= -90 && r->latitude <= 90))
        return bad(msg, len, "latitude must be between -90 and 90 (got %g)", r->latitude);
    if (!r->_longitude_case)
        return bad(msg, len, "longitude is required");
    if (!(r->longitude >= -180 && r->longitude <= 180))
        return bad(msg, len, "longitude must be between -180 and 180 (got %g)", r->longitude);
    if (r->_speed_case && !(r->speed >= 0 && r->speed <= MAX_SPEED_MPS))
        return bad(msg, len, "speed must be between 0 and 100 m/s (got %g)", r->speed);
    if (r->_heading_case && !(r->heading >= 0 && r->heading <= 360))
        return bad(msg, len, "heading must be between 0 and 360 (got %g)", r->heading);
    if (r->_accuracy_case && !(r->accuracy >= 0 && r->accuracy <= MAX_ACCURACY_M))
        return bad(msg, len, "accuracy must be between 0 and 10000 m (got %g)", r->accuracy);
    if (r->_order_id_case && r->order_id <= 0)
        return bad(msg, len, "order_id must be > 0 (got %" PRId64 ")", r->order_id);
    return validate_timestamp(cfg, r->timestamp, now_us, msg, len);
}

/* ---- packing ------------------------------------------------------------------ */

/* The stream form of an accepted report: a Location with its timestamp.
 * Returns the packed length (<= PACKED_MAX, as validated). */
static size_t pack_location(const Swifteats__V1__ReportLocationRequest *r, int64_t now_us,
                            uint8_t *out)
{
    Swifteats__V1__Location loc = SWIFTEATS__V1__LOCATION__INIT;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    loc.driver_id = r->driver_id;
    loc.latitude = r->latitude;
    loc.longitude = r->longitude;
    loc._speed_case = (Swifteats__V1__Location__SpeedCase)r->_speed_case;
    loc.speed = r->speed;
    loc._heading_case = (Swifteats__V1__Location__HeadingCase)r->_heading_case;
    loc.heading = r->heading;
    loc._accuracy_case = (Swifteats__V1__Location__AccuracyCase)r->_accuracy_case;
    loc.accuracy = r->accuracy;
    loc._order_id_case = (Swifteats__V1__Location__OrderIdCase)r->_order_id_case;
    loc.order_id = r->order_id;
    if (r->timestamp != NULL) {
        ts = *r->timestamp;
    } else {
        ts.seconds = now_us / 1000000;
        ts.nanos = (int32_t)(now_us % 1000000) * 1000;
    }
    loc.timestamp = &ts;
    return swifteats__v1__location__pack(&loc, out);
}

/* ---- the pipeline --------------------------------------------------------------- */

typedef struct batch_mem {
    uint8_t (*packed)[PACKED_MAX];
    size_t *packed_len;
    int *sent; /* index into the reply order, -1: not sent */
} batch_mem;

static void batch_mem_init(batch_mem *m, size_t n)
{
    size_t bytes = n * (PACKED_MAX + sizeof(size_t) + sizeof(int));
    uint8_t *p = se_xmalloc(bytes > 0 ? bytes : 1);
    m->packed = (uint8_t(*)[PACKED_MAX])p;
    m->packed_len = (size_t *)(p + n * PACKED_MAX);
    m->sent = (int *)(p + n * (PACKED_MAX + sizeof(size_t)));
}

static void append_xadd(logistics_ingest *in, redisContext *ctx, const uint8_t *packed,
                        size_t len, const char *rid)
{
    const char *argv[XADD_ARGC] = {"XADD", in->stream, "MAXLEN", "~", in->maxlen_text, "*",
                                   "loc", (const char *)packed, "rid", rid};
    size_t lens[XADD_ARGC];
    for (int i = 0; i < XADD_ARGC; i++)
        lens[i] = strlen(argv[i]);
    lens[7] = len;
    redisAppendCommandArgv(ctx, XADD_ARGC, argv, lens);
}

/* Reads the XADD replies, then the XLEN. 0, or -1 when the connection
 * failed (st set). */
static int read_replies(logistics_ingest *in, redisContext *ctx, logistics_report **reps,
                        size_t n, const batch_mem *m, se_status *st)
{
    for (size_t i = 0; i < n; i++) {
        if (m->sent[i] < 0)
            continue;
        redisReply *rep = NULL;
        if (redisGetReply(ctx, (void **)&rep) != REDIS_OK || rep == NULL) {
            se_status_set(st, GRPC_STATUS_UNAVAILABLE, "logistics: location stream unreachable: %s",
                          ctx->errstr[0] ? ctx->errstr : "no reply");
            return -1;
        }
        if (rep->type == REDIS_REPLY_STRING && rep->len < sizeof reps[i]->message_id) {
            memcpy(reps[i]->message_id, rep->str, rep->len + 1);
            reps[i]->code = GRPC_STATUS_OK;
        } else {
            reps[i]->code = GRPC_STATUS_UNAVAILABLE;
            snprintf(reps[i]->message, sizeof reps[i]->message,
                     "logistics: the location stream refused the report: %.120s",
                     rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply");
            se_log_error("location_xadd_failed", "%s", reps[i]->message);
        }
        freeReplyObject(rep);
    }
    redisReply *len = NULL;
    if (redisGetReply(ctx, (void **)&len) == REDIS_OK && len != NULL) {
        if (len->type == REDIS_REPLY_INTEGER)
            atomic_store(&in->backlog, len->integer);
        freeReplyObject(len);
        return 0;
    }
    se_status_set(st, GRPC_STATUS_UNAVAILABLE, "logistics: location stream unreachable: %s",
                  ctx->errstr[0] ? ctx->errstr : "no reply");
    return -1;
}

/* Validates, queues the XADDs of the valid reports and the XLEN, sends.
 * Returns how many XADDs were queued. */
static size_t queue_batch(logistics_ingest *in, redisContext *ctx, logistics_report **reps,
                          size_t n, batch_mem *m)
{
    int64_t now_us = se_wall_us();
    size_t queued = 0;
    for (size_t i = 0; i < n; i++) {
        logistics_report *r = reps[i];
        r->message_id[0] = '\0';
        r->message[0] = '\0';
        m->sent[i] = -1;
        if (logistics_report_validate(&in->cfg, r->req, now_us, r->message, sizeof r->message)) {
            r->code = GRPC_STATUS_INVALID_ARGUMENT;
            continue;
        }
        m->packed_len[i] = pack_location(r->req, now_us, m->packed[i]);
        append_xadd(in, ctx, m->packed[i], m->packed_len[i],
                    r->request_id != NULL ? r->request_id : "");
        m->sent[i] = (int)queued++;
    }
    if (queued > 0)
        redisAppendCommand(ctx, "XLEN %s", in->stream);
    return queued;
}

/* Over the high-water mark the batch appends nothing; the length is read
 * again (XLEN) at most every BACKLOG_PROBE_MS, so the refusals end soon
 * after the worker caught up. 1: refuse (st set). */
static int backlog_too_long(logistics_ingest *in, se_redis *r, se_status *st)
{
    int64_t high = in->cfg.maxlen / 10 * 9;
    if (atomic_load(&in->backlog) < high)
        return 0;
    int64_t now = se_mono_ms(), last = atomic_load(&in->backlog_probe_ms);
    if (now - last >= BACKLOG_PROBE_MS &&
        atomic_compare_exchange_strong(&in->backlog_probe_ms, &last, now)) {
        redisReply *len = se_redis_command(r, SE_REDIS_IDEMPOTENT, NULL, "XLEN %s", in->stream);
        if (len != NULL && len->type == REDIS_REPLY_INTEGER)
            atomic_store(&in->backlog, len->integer);
        if (len != NULL)
            freeReplyObject(len);
    }
    int64_t backlog = atomic_load(&in->backlog);
    if (backlog < high)
        return 0;
    se_status_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED,
                  "logistics: %" PRId64 " reports wait for the location worker; retry later",
                  backlog);
    return 1;
}

static int append_ptrs(logistics_ingest *in, logistics_report **reps, size_t n, se_status *st)
{
    se_redis *r = se_redis_pool_acquire(in->cfg.redis, 1000);
    se_redis_err err;
    if (r == NULL || se_redis_ensure(r, &err) != 0) {
        se_status_set(st, GRPC_STATUS_UNAVAILABLE, "logistics: location stream unreachable%s%s",
                      r ? ": " : " (no Redis connection free)", r ? err.msg : "");
        if (r != NULL)
            se_redis_pool_release(in->cfg.redis, r);
        return -1;
    }
    if (backlog_too_long(in, r, st)) {
        se_redis_pool_release(in->cfg.redis, r);
        return -1;
    }
    redisContext *ctx = se_redis_raw(r);
    batch_mem m;
    batch_mem_init(&m, n);
    size_t queued = queue_batch(in, ctx, reps, n, &m);
    int rc = queued == 0 ? 0 : read_replies(in, ctx, reps, n, &m, st);
    free(m.packed);
    se_redis_pool_release(in->cfg.redis, r); /* a broken one is reopened */
    return rc;
}

int logistics_ingest_append(logistics_ingest *in, logistics_report *reports, size_t n,
                            se_status *st)
{
    logistics_report **reps = se_xmalloc((n > 0 ? n : 1) * sizeof *reps);
    for (size_t i = 0; i < n; i++)
        reps[i] = &reports[i];
    int rc = append_ptrs(in, reps, n, st);
    free(reps);
    return rc;
}

/* ---- single reports, gathered ------------------------------------------------------ */

typedef struct single {
    logistics_report *report;
    se_status st;
    int rc;
} single;

static void run_singles(void *ctx, void **items, int n)
{
    logistics_ingest *in = ctx;
    logistics_report *reps[SE_BATCH_MAX];
    for (int i = 0; i < n; i++)
        reps[i] = ((single *)items[i])->report;
    se_status st = {0};
    int rc = append_ptrs(in, reps, (size_t)n, &st);
    for (int i = 0; i < n; i++) {
        single *s = items[i];
        s->rc = rc;
        s->st = st;
    }
}

int logistics_ingest_one(logistics_ingest *in, logistics_report *report, se_status *st)
{
    single s = {.report = report};
    se_batch_submit(in->singles, &s);
    if (s.rc != 0)
        *st = s.st;
    return s.rc;
}

/* ---- lifecycle -------------------------------------------------------------------- */

logistics_ingest *logistics_ingest_create(const logistics_ingest_config *cfg)
{
    logistics_ingest *in = se_xcalloc(1, sizeof *in);
    in->cfg = *cfg;
    in->stream = se_xstrdup(cfg->stream);
    in->cfg.stream = in->stream;
    snprintf(in->maxlen_text, sizeof in->maxlen_text, "%" PRId64, cfg->maxlen);
    in->singles = se_batch_create(run_singles, in, cfg->single_batch, cfg->single_concurrency);
    return in;
}

void logistics_ingest_destroy(logistics_ingest *in)
{
    if (in == NULL)
        return;
    se_batch_destroy(in->singles);
    free(in->stream);
    free(in);
}

int64_t logistics_ingest_backlog(logistics_ingest *in)
{
    return atomic_load(&in->backlog);
}
