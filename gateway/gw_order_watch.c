/* gw_order_watch.c - a WatchOrderLocation stream per WebSocket
 * (gw_order_watch.h).
 *
 * DESIGN
 * A watcher joins two lives: the connection (gw_ws, loop thread) and the
 * stream (se_rpc_stream_async, callbacks on the runtime client thread). It
 * is freed on the loop once both are over (`ws` NULL and `rpc_done`), and
 * holds the loop until then.
 *
 * Client thread -> loop, with bounded memory whatever the client's speed:
 * on_message parks the newest Location in `latest` (an atomic exchange;
 * the one it replaces was never taken by the loop: freed, counted as
 * coalesced) and posts `msg_task` only if it is not already posted. The
 * loop takes `latest` into `unsent`, again replacing an older one, and sends
 * `unsent` only when the connection is writable (nothing queued or being
 * written, gw_ws_writable / on_writable). So a connection has at most one
 * frame on the socket, one update waiting and one parked: never a queue.
 * The first message (the service's empty marker Location) sets `marker`;
 * "connected" goes out before any update.
 *
 * on_end posts `end_task` (a second task: msg_task may still be queued; the
 * loop's queue is FIFO, so every msg_task posted before runs first).
 * Cancel vs on_end is gw_proxy's state machine: the loop cancels only
 * PENDING -> CANCELLING -> CANCELLED, on_end moves PENDING -> DONE or waits
 * for CANCELLED, so se_pending_cancel never sees a freed handle.
 */
#include "gw_order_watch.h"

#include <h2o/websocket.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_error.h"
#include "gw_json.h"
#include "gw_transcode.h"
#include "se_log.h"
#include "swifteats/v1/logistics.se.h"

#define CONNECTED_MESSAGE "subscribed to driver location updates"

typedef Swifteats__V1__Location location;

enum { CALL_PENDING, CALL_DONE, CALL_CANCELLING, CALL_CANCELLED };

struct gw_order_watch {
    se_channel *ch;
    gw_ws_config cfg;
    const se_http_route *location_route; /* GetOrderDriverLocation: the Location JSON */
    atomic_ullong watches, updates, coalesced, cancelled, freed; /* stats */
};

typedef struct watcher {
    gw_task msg_task;             /* posted when `posted` went 0 -> 1 */
    gw_task end_task;             /* posted once by on_end */
    gw_order_watch *ow;
    gw_loop *loop;
    gw_ws *ws;                    /* NULL once the connection is over; loop */
    se_pending *pending;          /* valid while state is PENDING/CANCELLING */
    atomic_int state;             /* CALL_* */
    atomic_int posted;            /* msg_task is queued */
    atomic_int marker;            /* the stream's first message arrived */
    _Atomic(location *) latest;   /* newest Location not yet taken by the loop */
    location *unsent;             /* taken, waiting for the socket; loop */
    int64_t order_id;
    int first_seen;               /* client thread only */
    int connected_sent;           /* loop */
    int rpc_done;                 /* end_task ran; loop */
    se_status end_st;             /* written by on_end before the post */
} watcher;

/* ---- per-loop JSON buffer ------------------------------------------------------- */

static void buf_dispose(void *p)
{
    gw_buf_dispose(p);
    free(p);
}

static gw_buf *json_buf(gw_loop *loop)
{
    gw_buf *b = gw_loop_local(loop, GW_LOOP_SLOT_WATCH);
    if (b == NULL) {
        if ((b = malloc(sizeof *b)) == NULL)
            abort();
        gw_buf_init(b);
        gw_loop_set_local(loop, GW_LOOP_SLOT_WATCH, b, buf_dispose);
    }
    gw_buf_reset(b);
    return b;
}

/* ---- the watcher's end (loop thread) -------------------------------------------- */

static void maybe_free(watcher *w)
{
    if (w->ws != NULL || !w->rpc_done)
        return;
    se_msg_free((ProtobufCMessage *)atomic_exchange(&w->latest, NULL));
    se_msg_free((ProtobufCMessage *)w->unsent);
    atomic_fetch_add_explicit(&w->ow->freed, 1, memory_order_relaxed);
    gw_loop_release(w->loop);
    free(w);
}

static void cancel_stream(watcher *w)
{
    int expected = CALL_PENDING;
    if (atomic_compare_exchange_strong(&w->state, &expected, CALL_CANCELLING)) {
        se_pending_cancel(w->pending);
        atomic_store(&w->state, CALL_CANCELLED);
        atomic_fetch_add_explicit(&w->ow->cancelled, 1, memory_order_relaxed);
    }
}

static void drop_unsent(watcher *w)
{
    se_msg_free((ProtobufCMessage *)w->unsent);
    w->unsent = NULL;
}

/* ---- sending (loop thread) -------------------------------------------------------- */

static void send_connected(watcher *w)
{
    char text[160];
    int n = snprintf(text, sizeof text,
                     "{\"type\":\"connected\",\"order_id\":%lld,\"message\":\"%s\"}",
                     (long long)w->order_id, CONNECTED_MESSAGE);
    w->connected_sent = 1;
    gw_ws_send_text(w->ws, text, (size_t)n);
}

static void send_update(watcher *w)
{
    location *loc = w->unsent;
    w->unsent = NULL;
    gw_buf *b = json_buf(w->loop);
    static const char head[] = "{\"type\":\"location_update\",\"data\":";
    gw_buf_append(b, head, sizeof head - 1);
    if (gw_transcode_route_response(w->ow->location_route, &loc->base, b) == 0) {
        gw_buf_putc(b, '}');
        if (gw_ws_send_text(w->ws, b->data, b->len) == 0)
            atomic_fetch_add_explicit(&w->ow->updates, 1, memory_order_relaxed);
    }
    se_msg_free(&loc->base);
}

/* Sends the next message if the connection has room for it. */
static void pump(watcher *w)
{
    if (w->ws == NULL || !gw_ws_writable(w->ws))
        return;
    if (!w->connected_sent) {
        if (atomic_load(&w->marker))
            send_connected(w);
        return; /* updates only after "connected" */
    }
    if (w->unsent != NULL)
        send_update(w);
}

/* ---- stream callbacks (runtime client thread) and their tasks (loop) -------------- */

static void on_msg_task(gw_task *t)
{
    watcher *w = (watcher *)t;
    atomic_store(&w->posted, 0); /* from here on a new message posts again */
    location *loc = atomic_exchange(&w->latest, NULL);
    if (loc != NULL && w->ws == NULL) {
        se_msg_free(&loc->base); /* the connection is over: wait for the end */
        return;
    }
    if (loc != NULL) {
        if (w->unsent != NULL)
            atomic_fetch_add_explicit(&w->ow->coalesced, 1, memory_order_relaxed);
        drop_unsent(w);
        w->unsent = loc;
    }
    pump(w);
}

static void on_stream_message(void *arg, ProtobufCMessage *msg)
{
    watcher *w = arg;
    location *loc = (location *)msg;
    if (!w->first_seen) {
        w->first_seen = 1;
        atomic_store(&w->marker, 1);
    }
    if (loc->driver_id == NULL || loc->driver_id[0] == '\0') {
        se_msg_free(msg); /* the marker (or an empty message): no update */
    } else {
        location *old = atomic_exchange(&w->latest, loc);
        if (old != NULL) {
            se_msg_free(&old->base);
            atomic_fetch_add_explicit(&w->ow->coalesced, 1, memory_order_relaxed);
        }
    }
    if (!atomic_exchange(&w->posted, 1)) {
        memset(&w->msg_task, 0, sizeof w->msg_task);
        w->msg_task.run = on_msg_task;
        gw_loop_post(w->loop, &w->msg_task);
    }
}

static uint16_t close_code_of(grpc_status_code code)
{
    switch (code) {
    case GRPC_STATUS_OK:
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_CANCELLED: return 1001;      /* going away */
    case GRPC_STATUS_RESOURCE_EXHAUSTED: return 1013; /* try again later */
    case GRPC_STATUS_INVALID_ARGUMENT: return 1008;   /* policy violation */
    default: return 1011;                             /* internal error */
    }
}

static void on_end_task(gw_task *t)
{
    watcher *w = H2O_STRUCT_FROM_MEMBER(watcher, end_task, t);
    w->rpc_done = 1;
    if (w->ws != NULL) {
        const se_status *st = &w->end_st;
        char reason[320]; /* gw_ws_close keeps the first 123 bytes */
        snprintf(reason, sizeof reason, "location stream ended: %s%s%s", se_status_name(st->code),
                 st->message[0] ? " " : "", st->message);
        if (st->code != GRPC_STATUS_CANCELLED)
            se_log_info("order_watch_ended", "order %lld: %s %s", (long long)w->order_id,
                        se_status_name(st->code), st->message);
        pump(w); /* the last update, when there is room for it */
        drop_unsent(w);
        gw_ws_close(w->ws, close_code_of(st->code), reason);
    }
    maybe_free(w);
}

static void on_stream_end(void *arg, const se_status *st)
{
    watcher *w = arg;
    int expected = CALL_PENDING;
    if (!atomic_compare_exchange_strong(&w->state, &expected, CALL_DONE)) {
        /* the loop is inside se_pending_cancel: the handle must outlive it */
        while (atomic_load(&w->state) != CALL_CANCELLED)
            sched_yield();
    }
    w->end_st = *st;
    memset(&w->end_task, 0, sizeof w->end_task);
    w->end_task.run = on_end_task;
    gw_loop_post(w->loop, &w->end_task);
}

/* ---- the connection's callbacks (loop thread) ------------------------------------- */

static void on_ws_open(gw_ws *ws, void *data)
{
    (void)ws;
    pump(data);
}

static void on_ws_writable(gw_ws *ws, void *data)
{
    (void)ws;
    pump(data);
}

static void on_ws_close(gw_ws *ws, void *data)
{
    (void)ws;
    watcher *w = data;
    w->ws = NULL;
    drop_unsent(w);
    cancel_stream(w);
    maybe_free(w);
}

static void send_error(watcher *w, const char *message)
{
    if (!gw_ws_writable(w->ws))
        return; /* never queue behind other frames: ignore it */
    char text[256];
    int n = snprintf(text, sizeof text, "{\"type\":\"error\",\"message\":\"%s\"}", message);
    gw_ws_send_text(w->ws, text, (size_t)n);
}

/* 1 when msg is a JSON object whose "action" is the string "unsubscribe". */
static int is_unsubscribe(const uint8_t *msg, size_t len, const char **why)
{
    gw_json_tok storage[32];
    gw_json_doc d;
    gw_json_perr perr;
    gw_json_doc_init(&d, storage, 32);
    int ok = 0;
    *why = "expected a JSON object such as {\\\"action\\\":\\\"unsubscribe\\\"}";
    if (gw_json_parse(&d, (const char *)msg, len, 4, &perr) == 0 &&
        d.toks[0].type == GW_JSON_OBJECT) {
        *why = "unknown action: the only action is \\\"unsubscribe\\\"";
        for (uint32_t i = 1; i < d.n; i = d.toks[i + 1].next) {
            const gw_json_tok *k = &d.toks[i], *v = &d.toks[i + 1];
            const char *ks = (const char *)msg + k->start, *vs = (const char *)msg + v->start;
            if (k->len == 6 && memcmp(ks, "action", 6) == 0 && v->type == GW_JSON_STRING &&
                v->len == 11 && memcmp(vs, "unsubscribe", 11) == 0)
                ok = 1;
        }
    }
    gw_json_doc_dispose(&d);
    return ok;
}

static void on_ws_message(gw_ws *ws, void *data, int is_text, const uint8_t *msg, size_t len)
{
    watcher *w = data;
    const char *why = "binary messages are not supported";
    if (is_text && is_unsubscribe(msg, len, &why)) {
        se_log_debug("order_watch_unsubscribe", "order %lld", (long long)w->order_id);
        drop_unsent(w);
        cancel_stream(w);
        gw_ws_close(ws, 1000, "unsubscribed");
        return;
    }
    send_error(w, why);
}

static const gw_ws_handler ws_handler = {
    .on_open = on_ws_open,
    .on_message = on_ws_message,
    .on_writable = on_ws_writable,
    .on_close = on_ws_close,
};

/* ---- the route (loop thread) ------------------------------------------------------ */

/* order_id: decimal digits only, 1..INT64_MAX. */
static int parse_order_id(h2o_iovec_t v, int64_t *out)
{
    if (v.len == 0 || v.len > 19)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.base[i] < '0' || v.base[i] > '9')
            return -1;
        int d = v.base[i] - '0';
        if (n > (INT64_MAX - d) / 10)
            return -1;
        n = n * 10 + d;
    }
    *out = n;
    return n > 0 ? 0 : -1;
}

static watcher *watch_start(gw_order_watch *ow, gw_request *r, int64_t order_id)
{
    static const se_stream_cbs cbs = {on_stream_message, on_stream_end};
    watcher *w = calloc(1, sizeof *w);
    if (w == NULL)
        abort();
    w->ow = ow;
    w->loop = r->loop;
    w->order_id = order_id;
    atomic_init(&w->state, CALL_PENDING);
    Swifteats__V1__WatchOrderLocationRequest req = SWIFTEATS__V1__WATCH_ORDER_LOCATION_REQUEST__INIT;
    req.order_id = order_id;
    se_call_opts opts = {.timeout_ms = -1, .request_id = r->request_id, .detach = 1,
                         .no_retry = 1};
    w->pending = swifteats_v1_logistics_service_watch_order_location_async(ow->ch, &req, &opts,
                                                                          &cbs, w);
    if (w->pending == NULL) {
        free(w);
        return NULL;
    }
    gw_loop_hold(w->loop); /* until maybe_free */
    atomic_fetch_add_explicit(&ow->watches, 1, memory_order_relaxed);
    return w;
}

static void on_route(gw_request *r, const gw_route_match *m, void *data)
{
    gw_order_watch *ow = data;
    int64_t order_id;
    const char *key = NULL;
    h2o_iovec_t v = m->n_params > 0 ? m->params[0].value : h2o_iovec_init(NULL, 0);
    if (parse_order_id(v, &order_id) != 0) {
        gw_error_send(r, 400, GRPC_STATUS_INVALID_ARGUMENT,
                      "order_id must be an integer greater than 0 (got \"%.*s\")",
                      (int)(v.len > 40 ? 40 : v.len), v.base);
        return;
    }
    if (h2o_is_websocket_handshake(r->req, &key) != 0 || key == NULL) {
        gw_error_send(r, 400, GRPC_STATUS_INVALID_ARGUMENT,
                      "WebSocket handshake: Sec-WebSocket-Key must be 24 characters");
        return;
    }
    if (gw_loop_draining(r->loop)) {
        gw_error_send(r, 503, GRPC_STATUS_UNAVAILABLE, "the gateway is shutting down");
        return;
    }
    watcher *w = watch_start(ow, r, order_id);
    if (w == NULL) {
        gw_error_send(r, 503, GRPC_STATUS_UNAVAILABLE,
                      "cannot call WatchOrderLocation (LOGISTICS backend)");
        return;
    }
    if ((w->ws = gw_ws_upgrade(r, key, &ow->cfg, &ws_handler, w)) == NULL) {
        cancel_stream(w); /* its end frees w */
        gw_error_send(r, 500, GRPC_STATUS_INTERNAL, "cannot upgrade to WebSocket");
    }
}

/* ---- set-up (main thread) ---------------------------------------------------------- */

static const se_http_route *find_location_route(void)
{
    const se_method_desc *m = &swifteats_v1_logistics_service_methods
        [SWIFTEATS_V1_LOGISTICS_SERVICE_METHOD_GET_ORDER_DRIVER_LOCATION];
    for (const se_http_route *rt = swifteats_v1_logistics_service_routes; rt->path != NULL; rt++)
        if (rt->method == m)
            return rt;
    return NULL;
}

gw_order_watch *gw_order_watch_create(gw_router *rt, se_channel *ch, const gw_ws_config *cfg)
{
    const se_http_route *route = find_location_route();
    if (route == NULL) {
        se_log_error("order_watch_no_route", "GetOrderDriverLocation has no REST route");
        return NULL;
    }
    gw_order_watch *ow = calloc(1, sizeof *ow);
    if (ow == NULL)
        abort();
    ow->ch = ch;
    ow->cfg = *cfg;
    ow->location_route = route;
    if (gw_router_add(rt, GW_ROUTER_WEBSOCKET, route->path, on_route, ow) != 0) {
        free(ow);
        return NULL;
    }
    return ow;
}

void gw_order_watch_destroy(gw_order_watch *ow)
{
    free(ow);
}

void gw_order_watch_stats_get(const gw_order_watch *ow, gw_order_watch_stats *out)
{
    gw_order_watch *m = (gw_order_watch *)ow;
    out->watches = atomic_load_explicit(&m->watches, memory_order_relaxed);
    out->updates = atomic_load_explicit(&m->updates, memory_order_relaxed);
    out->coalesced = atomic_load_explicit(&m->coalesced, memory_order_relaxed);
    out->cancelled = atomic_load_explicit(&m->cancelled, memory_order_relaxed);
    out->freed = atomic_load_explicit(&m->freed, memory_order_relaxed);
}
