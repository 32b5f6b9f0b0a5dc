/* gw_ingest.c - location reports gathered per loop into ReportLocations
 * calls (gw_ingest.h).
 *
 * DESIGN
 * Everything but the reply callback runs on the loop thread, on per-loop
 * state (slot GW_LOOP_SLOT_INGEST): the open batch being filled, a FIFO of
 * full batches waiting for a call slot, a free list of batches and the
 * flush timer. A batch is one allocation sized for batch_max reports (its
 * items, the request's pointer arrays) plus a response arena
 * (gw_arena.h), all kept across reuse: a report costs no malloc on the
 * gateway side (its message is the one gw_proxy transcoded into the
 * request's pool, its guard lives in that pool too).
 *
 * When: the first report of an open batch links the flush timer (0 ms by
 * default: h2o runs timers after the I/O callbacks of the same
 * h2o_evloop_run iteration, so a batch holds exactly the reports that
 * arrived together); a full batch goes at once. A loop with
 * inflight_max calls out keeps filling its open batch (full ones queue in
 * order) and sends the next when a reply comes back: under load, batches
 * grow by themselves, and idle, a report waits for no timer.
 *
 * The reply (runtime client thread) stores status and response in the batch
 * and posts it to its loop, which answers each request still there and
 * recycles the batch. An in-flight batch holds the loop (shutdown waits).
 *
 * A client that leaves: its request's guard clears the item. Before the
 * send the item is skipped (its message lived in the request's pool); once
 * sent the report cannot be taken back (the call is not cancelled, the
 * other reports of the batch need their answers), only its answer is
 * dropped.
 */
#include "gw_ingest.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_arena.h"
#include "gw_error.h"
#include "gw_transcode.h"
#include "se_config.h"
#include "se_log.h"
#include "swifteats/v1/logistics.se.h"

#define ARENA_BYTES (64 * 1024) /* 256 decoded results (~40 KB) fit */
#define FREE_BATCHES_MAX 8      /* per loop; more are freed */

typedef Swifteats__V1__ReportLocationRequest report_msg;

struct gw_ingest {
    se_channel *ch;
    gw_ingest_config cfg;
    int timeout_ms;
    atomic_ullong calls, reports, failed_calls, gone, max_batch; /* gw_ingest_stats */
};

struct ingest_batch;

typedef struct ingest_item {
    gw_request *r;          /* NULL once answered or gone */
    const report_msg *msg;  /* in r's pool: NULL once the client left */
    gw_guard *guard;
    struct ingest_batch *b;
} ingest_item;

typedef struct ingest_batch {
    gw_task task;                 /* first; zeroed before the post */
    struct ingest_local *l;
    struct ingest_batch *next;    /* free list or waiting FIFO */
    const se_http_route *route;   /* the diverted route (its response JSON) */
    size_t n;                     /* items queued */
    size_t n_sent;                /* reports in the call */
    se_status st;                 /* written by the reply callback */
    Swifteats__V1__ReportLocationsResponse *resp; /* in arena; NULL unless OK */
    int64_t started_ns;
    gw_arena arena;
    ingest_item *items;           /* [batch_max] */
    uint32_t *sent;               /* [batch_max]: item index of report k */
    report_msg **reports;         /* [batch_max] */
    char **rids;                  /* [batch_max] */
} ingest_batch;

typedef struct ingest_local {
    gw_ingest *g;
    gw_loop *loop;
    ingest_batch *open;           /* being filled, NULL: none */
    ingest_batch *wait_head, *wait_tail; /* full, waiting for a call slot */
    ingest_batch *free_list;
    size_t n_free;
    int inflight;
    h2o_timeout_t flush_timeout;
    h2o_timeout_entry_t flush_entry;
    gw_buf json;                  /* one receipt's JSON */
} ingest_local;

static void send_batch(ingest_local *l, ingest_batch *b);

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- batches (loop thread) ---------------------------------------------------- */

static ingest_batch *batch_acquire(ingest_local *l)
{
    ingest_batch *b = l->free_list;
    if (b != NULL) {
        l->free_list = b->next;
        l->n_free--;
    } else {
        size_t cap = (size_t)l->g->cfg.batch_max;
        size_t size = sizeof *b + cap * (sizeof *b->items + sizeof *b->sent +
                                         sizeof *b->reports + sizeof *b->rids);
        if ((b = malloc(size)) == NULL)
            abort();
        memset(b, 0, sizeof *b);
        b->items = (ingest_item *)(b + 1);
        b->reports = (report_msg **)(b->items + cap);
        b->rids = (char **)(b->reports + cap);
        b->sent = (uint32_t *)(b->rids + cap);
        gw_arena_init(&b->arena, ARENA_BYTES);
    }
    b->l = l;
    b->next = NULL;
    b->n = b->n_sent = 0;
    b->resp = NULL;
    return b;
}

static void batch_free(ingest_batch *b)
{
    gw_arena_dispose(&b->arena);
    free(b);
}

static void batch_release(ingest_local *l, ingest_batch *b)
{
    b->resp = NULL; /* it lived in the arena */
    gw_arena_reset(&b->arena);
    if (l->n_free >= FREE_BATCHES_MAX) {
        batch_free(b);
        return;
    }
    b->next = l->free_list;
    l->free_list = b;
    l->n_free++;
}

/* ---- answers (loop thread) ----------------------------------------------------- */

static void respond_receipt(ingest_local *l, ingest_batch *b, gw_request *r,
                            const Swifteats__V1__ReportLocationResponse *receipt)
{
    gw_buf_reset(&l->json);
    if (receipt == NULL ||
        gw_transcode_route_response(b->route, &receipt->base, &l->json) != 0) {
        r->rpc_code = GRPC_STATUS_INTERNAL;
        gw_error_send(r, 500, GRPC_STATUS_INTERNAL, "ReportLocations accepted the report "
                      "without a receipt");
        return;
    }
    gw_entity e = {.json = l->json.data, .len = l->json.len};
    gw_entity_send(r, b->route->success_status, &e, 0);
}

static void respond_one(ingest_local *l, ingest_batch *b, size_t k, gw_request *r)
{
    const se_status *st = &b->st;
    if (st->code != GRPC_STATUS_OK) {
        r->rpc_code = (int)st->code;
        gw_error_send(r, gw_error_http_status(st->code), st->code, "%s",
                      st->message[0] ? st->message : se_status_name(st->code));
        return;
    }
    if (b->resp == NULL || k >= b->resp->n_results || b->resp->results[k] == NULL) {
        r->rpc_code = GRPC_STATUS_INTERNAL;
        gw_error_send(r, 500, GRPC_STATUS_INTERNAL, "ReportLocations answered %zu results "
                      "for %zu reports", b->resp ? b->resp->n_results : 0, b->n_sent);
        return;
    }
    const Swifteats__V1__ReportLocationResult *res = b->resp->results[k];
    grpc_status_code code = res->code >= 0 && res->code <= 16 ? (grpc_status_code)res->code
                                                              : GRPC_STATUS_UNKNOWN;
    r->rpc_code = (int)code;
    if (code == GRPC_STATUS_OK) {
        respond_receipt(l, b, r, res->receipt);
        return;
    }
    gw_error_send(r, gw_error_http_status(code), code, "%s",
                  res->message != NULL && res->message[0] ? res->message
                                                           : se_status_name(code));
}

/* Answers every sent report whose request is still there. */
static void answer_all(ingest_local *l, ingest_batch *b)
{
    int64_t upstream = now_ns() - b->started_ns;
    if (b->st.code == GRPC_STATUS_OK && (b->resp == NULL || b->resp->n_results != b->n_sent))
        se_log_error("ingest_bad_reply", "ReportLocations answered %zu results for %zu reports",
                     b->resp ? b->resp->n_results : 0, b->n_sent);
    else if (b->st.code != GRPC_STATUS_OK)
        se_log_warn("ingest_call_failed", "ReportLocations of %zu reports: %s %s", b->n_sent,
                    se_status_name(b->st.code), b->st.message);
    for (size_t k = 0; k < b->n_sent; k++) {
        ingest_item *it = &b->items[b->sent[k]];
        gw_request *r = it->r;
        if (r == NULL)
            continue; /* the client left */
        gw_guard_disarm(it->guard);
        it->r = NULL;
        r->upstream_ns = upstream;
        respond_one(l, b, k, r);
    }
}

/* ---- sending (loop thread) ------------------------------------------------------- */

/* Runtime client thread. */
static void on_reply(void *arg, const se_status *st, Swifteats__V1__ReportLocationsResponse *resp);

static void on_reply_task(gw_task *t)
{
    ingest_batch *b = (ingest_batch *)t;
    ingest_local *l = b->l;
    if (b->st.code != GRPC_STATUS_OK)
        atomic_fetch_add_explicit(&l->g->failed_calls, 1, memory_order_relaxed);
    answer_all(l, b);
    l->inflight--;
    gw_loop_release(l->loop);
    batch_release(l, b);
    /* a call slot is free: the oldest waiting batch, else the open one */
    while (l->inflight < l->g->cfg.inflight_max) {
        if (l->wait_head != NULL) {
            ingest_batch *next = l->wait_head;
            if ((l->wait_head = next->next) == NULL)
                l->wait_tail = NULL;
            send_batch(l, next);
        } else if (l->open != NULL) {
            ingest_batch *open = l->open;
            l->open = NULL;
            h2o_timeout_unlink(&l->flush_entry);
            send_batch(l, open);
        } else {
            break;
        }
    }
}

static void on_reply(void *arg, const se_status *st, Swifteats__V1__ReportLocationsResponse *resp)
{
    ingest_batch *b = arg;
    b->st = *st;
    b->resp = resp;
    memset(&b->task, 0, sizeof b->task);
    b->task.run = on_reply_task;
    gw_loop_post(b->l->loop, &b->task);
}

static void note_sent(gw_ingest *g, size_t n)
{
    atomic_fetch_add_explicit(&g->calls, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g->reports, n, memory_order_relaxed);
    unsigned long long max = atomic_load_explicit(&g->max_batch, memory_order_relaxed);
    while (n > max && !atomic_compare_exchange_weak(&g->max_batch, &max, n))
        ;
}

/* Sends the live reports of b as one call (a slot is free). */
static void send_batch(ingest_local *l, ingest_batch *b)
{
    gw_ingest *g = l->g;
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++) {
        ingest_item *it = &b->items[i];
        if (it->r == NULL || it->msg == NULL)
            continue;
        b->reports[k] = (report_msg *)it->msg;
        b->rids[k] = it->r->request_id;
        b->sent[k++] = (uint32_t)i;
    }
    b->n_sent = k;
    if (k == 0) {
        batch_release(l, b);
        return;
    }
    Swifteats__V1__ReportLocationsRequest req = SWIFTEATS__V1__REPORT_LOCATIONS_REQUEST__INIT;
    req.n_reports = req.n_request_ids = k;
    req.reports = b->reports;
    req.request_ids = b->rids;
    se_call_opts opts = {.timeout_ms = g->timeout_ms, .detach = 1, .no_retry = 1,
                         .resp_allocator = &b->arena.alloc};
    b->started_ns = now_ns();
    se_pending *p =
        swifteats_v1_logistics_service_report_locations_async(g->ch, &req, &opts, on_reply, b);
    if (p == NULL) {
        se_status_set(&b->st, GRPC_STATUS_UNAVAILABLE,
                      "cannot call ReportLocations (LOGISTICS backend)");
        b->resp = NULL;
        atomic_fetch_add_explicit(&g->failed_calls, 1, memory_order_relaxed);
        answer_all(l, b);
        batch_release(l, b);
        return;
    }
    l->inflight++;
    gw_loop_hold(l->loop);
    note_sent(g, k);
}

/* The open batch is complete (full, or its time came): send or queue it. */
static void close_open(ingest_local *l)
{
    ingest_batch *b = l->open;
    l->open = NULL;
    h2o_timeout_unlink(&l->flush_entry);
    if (l->inflight < l->g->cfg.inflight_max) {
        send_batch(l, b);
        return;
    }
    if (l->wait_tail != NULL)
        l->wait_tail->next = b;
    else
        l->wait_head = b;
    l->wait_tail = b;
}

static void on_flush_timer(h2o_timeout_entry_t *entry)
{
    ingest_local *l = H2O_STRUCT_FROM_MEMBER(ingest_local, flush_entry, entry);
    /* at the limit the open batch keeps filling; a reply sends it */
    if (l->open != NULL && l->inflight < l->g->cfg.inflight_max)
        close_open(l);
}

/* ---- per-loop state --------------------------------------------------------------- */

static void local_dispose(void *p)
{
    ingest_local *l = p;
    if (h2o_timeout_is_linked(&l->flush_entry))
        h2o_timeout_unlink(&l->flush_entry);
    h2o_timeout_dispose(gw_loop_ctx(l->loop)->loop, &l->flush_timeout);
    /* the loop drained: batches still here hold no live request */
    if (l->open != NULL)
        batch_free(l->open);
    while (l->wait_head != NULL) {
        ingest_batch *b = l->wait_head;
        l->wait_head = b->next;
        batch_free(b);
    }
    while (l->free_list != NULL) {
        ingest_batch *b = l->free_list;
        l->free_list = b->next;
        batch_free(b);
    }
    gw_buf_dispose(&l->json);
    free(l);
}

static ingest_local *local_of(gw_ingest *g, gw_loop *loop)
{
    ingest_local *l = gw_loop_local(loop, GW_LOOP_SLOT_INGEST);
    if (l != NULL)
        return l;
    if ((l = calloc(1, sizeof *l)) == NULL)
        abort();
    l->g = g;
    l->loop = loop;
    gw_buf_init(&l->json);
    uint64_t ms = ((uint64_t)g->cfg.delay_us + 999) / 1000;
    h2o_timeout_init(gw_loop_ctx(loop)->loop, &l->flush_timeout, ms);
    l->flush_entry.cb = on_flush_timer;
    gw_loop_set_local(loop, GW_LOOP_SLOT_INGEST, l, local_dispose);
    return l;
}

/* ---- the diverted route (loop thread) --------------------------------------------- */

static void on_item_gone(void *arg)
{
    ingest_item *it = arg;
    it->r = NULL;
    it->msg = NULL; /* freed with the pool: a batch not sent yet skips it */
    atomic_fetch_add_explicit(&it->b->l->g->gone, 1, memory_order_relaxed);
}

static void submit(void *ctx, gw_request *r, const se_http_route *route, ProtobufCMessage *msg)
{
    gw_ingest *g = ctx;
    ingest_local *l = local_of(g, r->loop);
    ingest_batch *b = l->open;
    if (b == NULL) {
        b = l->open = batch_acquire(l);
        b->route = route;
    }
    ingest_item *it = &b->items[b->n++];
    it->r = r;
    it->msg = (const report_msg *)msg;
    it->b = b;
    it->guard = gw_guard_create(r, on_item_gone, it);
    if (b->n == (size_t)g->cfg.batch_max)
        close_open(l);
    else if (!h2o_timeout_is_linked(&l->flush_entry))
        h2o_timeout_link(gw_loop_ctx(l->loop)->loop, &l->flush_timeout, &l->flush_entry);
}

/* ---- set-up (main thread) ----------------------------------------------------------- */

void gw_ingest_config_from_env(gw_ingest_config *cfg)
{
    cfg->enabled = se_env_bool("SE_GATEWAY_INGEST", 1);
    cfg->batch_max = (int)se_env_int("SE_GATEWAY_INGEST_BATCH", 256, 1, 1000);
    cfg->delay_us = (int)se_env_int("SE_GATEWAY_INGEST_DELAY_US", 0, 0, 1000000);
    cfg->inflight_max = (int)se_env_int("SE_GATEWAY_INGEST_INFLIGHT", 4, 1, 64);
}

gw_ingest *gw_ingest_create(gw_proxy *p, se_channel *ch, const gw_ingest_config *cfg)
{
    gw_ingest *g = calloc(1, sizeof *g);
    if (g == NULL)
        abort();
    g->ch = ch;
    g->cfg = *cfg;
    if (g->cfg.batch_max < 1 || g->cfg.batch_max > 1000)
        g->cfg.batch_max = 256;
    if (g->cfg.inflight_max < 1)
        g->cfg.inflight_max = 4;
    const se_method_desc *m =
        &swifteats_v1_logistics_service_methods[SWIFTEATS_V1_LOGISTICS_SERVICE_METHOD_REPORT_LOCATION];
    if (gw_proxy_divert(p, m, submit, g, &g->timeout_ms) == 0) {
        se_log_error("ingest_no_route", "%s has no REST route to batch", m->path);
        free(g);
        return NULL;
    }
    se_log_fields(SE_LOG_INFO, "ingest_batching",
                  "\"batch\":%d,\"delay_us\":%d,\"inflight\":%d,\"timeout_ms\":%d",
                  g->cfg.batch_max, g->cfg.delay_us, g->cfg.inflight_max, g->timeout_ms);
    return g;
}

void gw_ingest_destroy(gw_ingest *g)
{
    free(g);
}

void gw_ingest_stats_get(const gw_ingest *g, gw_ingest_stats *out)
{
    gw_ingest *m = (gw_ingest *)g;
    out->calls = atomic_load_explicit(&m->calls, memory_order_relaxed);
    out->reports = atomic_load_explicit(&m->reports, memory_order_relaxed);
    out->failed_calls = atomic_load_explicit(&m->failed_calls, memory_order_relaxed);
    out->gone = atomic_load_explicit(&m->gone, memory_order_relaxed);
    out->max_batch = atomic_load_explicit(&m->max_batch, memory_order_relaxed);
}
