/* se_rpc_call.c - one server call: dispatch to the handler, replies, streams.
 *
 * DESIGN
 * A se_call is allocated as a request slot (se__call_new), handed to
 * grpc_server_request_registered_call, and becomes a live call when that
 * completes (se__call_arrived, on the server thread that got the event; the
 * handler runs right there and may block).
 *
 * Reference counting. `refs` counts the reasons the call must stay alive:
 *   - the dispatch ref: held while se__call_arrived runs (so a handler may
 *     use the call after replying, until it returns);
 *   - the completion ref: held until the final status batch (t_done)
 *     completes or fails to start, i.e. until the handler completed the call
 *     with reply/fail/finish and gRPC is done with it;
 *   - one ref per batch in flight: RECV_CLOSE_ON_SERVER (streams), each
 *     SEND_MESSAGE (streams), each RECV_MESSAGE (client/bidi streams).
 * When refs reaches zero the grpc_call is unreffed and everything is freed,
 * exactly once. A handler that never completes its call leaks it (and
 * holds up server shutdown): that is a bug in the handler.
 *
 * Unary: the request arrived with the call (GRPC_SRM_PAYLOAD_READ_INITIAL_
 * BYTE_BUFFER). The reply is one batch: SEND_INITIAL_METADATA, SEND_MESSAGE
 * (on OK), SEND_STATUS_FROM_SERVER, RECV_CLOSE_ON_SERVER. No locks.
 * The request of a unary or server-streaming call is decoded into the call's
 * own memory (se_call.arena, SE_CALL_ARENA bytes, then the grpc_call's
 * arena): no malloc/free per message or field, and it lives exactly as long
 * as the handler may use it. Client/bidi stream messages are valid only
 * during one invocation and use the heap (an arena would grow with the
 * stream).
 *
 * Server streaming: RECV_CLOSE_ON_SERVER starts alone on arrival; its
 * `cancelled` result is the cancellation signal (sets `cancelled`, runs the
 * on_cancel callback once unless the call was finished first). Only one
 * SEND_MESSAGE may be in flight, so se_call_send queues under `mu` in a ring
 * (unbounded: producers should stop when se_call_send returns -1). Whoever
 * sets `sending` owns the send path until the queue is empty; the send
 * completion starts the next message, or the status when se_call_finish came
 * while sending (`finish_pending`). Initial metadata rides with the first
 * message or with the status.
 *
 * Client and bidi streaming: RECV_CLOSE_ON_SERVER and one RECV_MESSAGE start
 * on arrival; each received message is decoded and passed to the handler's
 * invoke fn (valid only during that invocation), then the next RECV_MESSAGE
 * starts. At the end of the client stream (half-close, cancellation or
 * failure) the handler is invoked once with req == NULL. An undecodable
 * message cancels the call with INVALID_ARGUMENT.
 *
 * The thread-local "current call" (se_call_current) and the log request id
 * are set while a handler or an on_cancel callback runs.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>

#include "se_log.h"
#include "se_rpc_priv.h"

static _Thread_local se_call *tl_current;

static void call_ref(se_call *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

static int is_stream(const se_call *c)
{
    return c->reg->m->kind != SE_RPC_UNARY;
}

/* ---- lifetime ----------------------------------------------------------- */

se_call *se__call_new(se__method_reg *reg)
{
    se_call *c = gpr_malloc(sizeof(*c));
    memset(c, 0, offsetof(se_call, arena)); /* the arena needs no zeroing */
    c->t_arrived.kind = SE_TAG_CALL_ARRIVED;
    c->t_closed.kind = SE_TAG_CALL_CLOSED;
    c->t_sent.kind = SE_TAG_CALL_SENT;
    c->t_received.kind = SE_TAG_CALL_RECEIVED;
    c->t_done.kind = SE_TAG_CALL_DONE;
    c->reg = reg;
    grpc_metadata_array_init(&c->md);
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static void call_free(se_call *c)
{
    if (c->call)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    if (c->payload)
        grpc_byte_buffer_destroy(c->payload);
    for (size_t i = 0; i < c->q_len; i++)
        grpc_byte_buffer_destroy(c->q[(c->q_head + i) % c->q_cap]);
    gpr_free(c->q);
    pthread_mutex_destroy(&c->mu);
    gpr_free(c);
}

void se__call_free_unused(se_call *c)
{
    call_free(c);
}

void se__call_unref(se_call *c)
{
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1) {
        se__method_reg *reg = c->reg;
        call_free(c);
        se__server_call_ended(reg);
    }
}

/* ---- handler invocation ------------------------------------------------- */

int se__call_invoke(se_call *c, const ProtobufCMessage *req)
{
    se_call *prev = tl_current;
    const char *prev_rid = se_log_request_id();
    tl_current = c;
    se_log_set_request_id(c->request_id);
    int rc = c->reg->m->invoke(c, req, c->reg->handlers, c->reg->ctx);
    tl_current = prev;
    se_log_set_request_id(prev_rid);
    return rc;
}

static void run_cancel_cb(se_call *c, void (*cb)(void *), void *arg)
{
    se_call *prev = tl_current;
    const char *prev_rid = se_log_request_id();
    tl_current = c;
    se_log_set_request_id(c->request_id);
    cb(arg);
    tl_current = prev;
    se_log_set_request_id(prev_rid);
}

se_call *se_call_current(void)
{
    return tl_current;
}

/* ---- starting batches --------------------------------------------------- */

static int start(se_call *c, const grpc_op *ops, size_t n, se__tag *tag, const char *what)
{
    grpc_call_error e = grpc_call_start_batch(c->call, ops, n, tag, NULL);
    if (e == GRPC_CALL_OK)
        return 0;
    se_log_error("rpc_batch_failed", "%s %s: grpc_call_start_batch: %s", c->reg->m->path, what,
                 grpc_call_error_to_string(e));
    return -1;
}

static void start_recv_close(se_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    call_ref(c);
    if (start(c, &op, 1, &c->t_closed, "recv_close") != 0)
        se__call_unref(c);
}

static void start_recv_message(se_call *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->payload;
    call_ref(c);
    if (start(c, &op, 1, &c->t_received, "recv_message") != 0) {
        grpc_call_cancel_with_status(c->call, GRPC_STATUS_INTERNAL, "cannot read request", NULL);
        se__call_unref(c);
    }
}

/* The final batch for a stream; consumes the completion ref. */
static void start_status(se_call *c)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->initial_md_sent) {
        c->initial_md_sent = 1;
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    }
    grpc_slice details = grpc_slice_from_static_string(c->status_msg);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = c->status;
    ops[n].data.send_status_from_server.status_details = c->status_msg[0] ? &details : NULL;
    n++;
    if (start(c, ops, n, &c->t_done, "send_status") != 0)
        se__call_unref(c);
}

static void send_done(se_call *c, int ok);

/* Caller owns the send path (`sending` set by it). */
static void start_send(se_call *c, grpc_byte_buffer *bb)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->initial_md_sent) {
        c->initial_md_sent = 1;
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n].data.send_message.send_message = bb;
    n++;
    c->send_bb = bb;
    call_ref(c);
    if (start(c, ops, n, &c->t_sent, "send_message") != 0)
        send_done(c, 0);
}

static void q_push(se_call *c, grpc_byte_buffer *bb)
{
    if (c->q_len == c->q_cap) {
        size_t cap = c->q_cap ? c->q_cap * 2 : 8;
        grpc_byte_buffer **q = gpr_malloc(cap * sizeof(*q));
        for (size_t i = 0; i < c->q_len; i++)
            q[i] = c->q[(c->q_head + i) % c->q_cap];
        gpr_free(c->q);
        c->q = q;
        c->q_cap = cap;
        c->q_head = 0;
    }
    c->q[(c->q_head + c->q_len++) % c->q_cap] = bb;
}

static grpc_byte_buffer *q_pop(se_call *c)
{
    grpc_byte_buffer *bb = c->q[c->q_head];
    c->q_head = (c->q_head + 1) % c->q_cap;
    c->q_len--;
    return bb;
}

static void send_done(se_call *c, int ok)
{
    grpc_byte_buffer_destroy(c->send_bb);
    c->send_bb = NULL;
    grpc_byte_buffer *next = NULL;
    int finish = 0;
    pthread_mutex_lock(&c->mu);
    if (!ok)
        c->broken = 1;
    while (c->broken && c->q_len > 0)
        grpc_byte_buffer_destroy(q_pop(c));
    if (c->q_len > 0) {
        next = q_pop(c);
    } else {
        c->sending = 0;
        finish = c->finish_pending;
        c->finish_pending = 0;
    }
    pthread_mutex_unlock(&c->mu);
    if (next)
        start_send(c, next);
    else if (finish)
        start_status(c);
    se__call_unref(c);
}

/* Queues bb or starts sending it; -1 (bb destroyed) when the stream is dead. */
static int stream_push(se_call *c, grpc_byte_buffer *bb, int check_completed)
{
    pthread_mutex_lock(&c->mu);
    if ((check_completed && atomic_load(&c->completed)) || c->broken ||
        atomic_load(&c->cancelled)) {
        pthread_mutex_unlock(&c->mu);
        grpc_byte_buffer_destroy(bb);
        return -1;
    }
    if (c->sending) {
        q_push(c, bb);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    c->sending = 1;
    pthread_mutex_unlock(&c->mu);
    start_send(c, bb);
    return 0;
}

/* Completion ref passes to the status batch, now or when the queue drains. */
static void stream_finish(se_call *c, grpc_status_code code, const char *msg)
{
    pthread_mutex_lock(&c->mu);
    c->status = code;
    snprintf(c->status_msg, sizeof c->status_msg, "%s", msg ? msg : "");
    c->on_cancel = NULL; /* never runs after finish */
    if (c->sending) {
        c->finish_pending = 1;
        pthread_mutex_unlock(&c->mu);
        return;
    }
    pthread_mutex_unlock(&c->mu);
    start_status(c);
}

/* ---- completing a call -------------------------------------------------- */

static int check_response(se_call *c, const ProtobufCMessage *resp, const char **why)
{
    if (!resp) {
        *why = "handler replied without a message";
    } else if (resp->descriptor != c->reg->m->output) {
        *why = "handler replied with the wrong message type";
    } else {
        return 0;
    }
    se_log_error("rpc_bad_reply", "%s: %s", c->reg->m->path, *why);
    return -1;
}

/* The unary reply batch with an encoded message (bb, NULL unless code is
 * OK; taken over); consumes the completion ref. */
static void unary_complete_bb(se_call *c, grpc_status_code code, const char *msg,
                              grpc_byte_buffer *bb)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (bb) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = bb;
    }
    grpc_slice details = grpc_slice_from_static_string(msg ? msg : "");
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    ops[n++].data.send_status_from_server.status_details = msg && msg[0] ? &details : NULL;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->close_cancelled;
    c->send_bb = bb;
    c->status = code;
    if (start(c, ops, n, &c->t_done, "reply") != 0) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        c->send_bb = NULL;
        se__call_unref(c);
    }
}

/* The unary reply batch; consumes the completion ref. */
static void unary_complete(se_call *c, grpc_status_code code, const char *msg,
                           const ProtobufCMessage *resp)
{
    grpc_byte_buffer *bb = NULL;
    if (code == GRPC_STATUS_OK) {
        if (check_response(c, resp, &msg) != 0)
            code = GRPC_STATUS_INTERNAL;
        else
            bb = se__encode(resp);
    }
    unary_complete_bb(c, code, msg, bb);
}

static int claim_completion(se_call *c, const char *what)
{
    if (atomic_exchange(&c->completed, 1) == 0)
        return 0;
    se_log_error("rpc_completed_twice", "%s: %s on a call that was already completed",
                 c->reg->m->path, what);
    return -1;
}

void se_call_reply(se_call *c, const ProtobufCMessage *resp)
{
    if (claim_completion(c, "se_call_reply") != 0)
        return;
    if (!is_stream(c)) {
        unary_complete(c, GRPC_STATUS_OK, NULL, resp);
        return;
    }
    const char *why;
    if (check_response(c, resp, &why) != 0) {
        stream_finish(c, GRPC_STATUS_INTERNAL, why);
        return;
    }
    stream_push(c, se__encode(resp), 0);
    stream_finish(c, GRPC_STATUS_OK, NULL);
}

void se_call_reply_packed(se_call *c, const uint8_t *bytes, size_t len)
{
    if (claim_completion(c, "se_call_reply_packed") != 0)
        return;
    if (bytes == NULL && len > 0) {
        se_log_error("rpc_bad_reply", "%s: se_call_reply_packed without bytes", c->reg->m->path);
        if (is_stream(c))
            stream_finish(c, GRPC_STATUS_INTERNAL, "handler replied without a message");
        else
            unary_complete_bb(c, GRPC_STATUS_INTERNAL, "handler replied without a message", NULL);
        return;
    }
    grpc_slice s = len > 0 ? grpc_slice_from_copied_buffer((const char *)bytes, len)
                           : grpc_empty_slice();
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    if (!is_stream(c)) {
        unary_complete_bb(c, GRPC_STATUS_OK, NULL, bb);
        return;
    }
    stream_push(c, bb, 0);
    stream_finish(c, GRPC_STATUS_OK, NULL);
}

void se_call_fail(se_call *c, grpc_status_code code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (claim_completion(c, "se_call_fail") != 0)
        return;
    if (code == GRPC_STATUS_OK) {
        se_log_error("rpc_bad_reply", "%s: se_call_fail with OK", c->reg->m->path);
        code = GRPC_STATUS_INTERNAL;
    }
    if (is_stream(c))
        stream_finish(c, code, msg);
    else
        unary_complete(c, code, msg, NULL);
}

int se_call_send(se_call *c, const ProtobufCMessage *msg)
{
    if (!is_stream(c)) {
        se_log_error("rpc_bad_send", "%s: se_call_send on a unary call", c->reg->m->path);
        return -1;
    }
    if (atomic_load(&c->completed) || atomic_load(&c->cancelled))
        return -1;
    const char *why;
    if (check_response(c, msg, &why) != 0)
        return -1;
    return stream_push(c, se__encode(msg), 1);
}

void se_call_finish(se_call *c, grpc_status_code code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (claim_completion(c, "se_call_finish") != 0)
        return;
    if (is_stream(c))
        stream_finish(c, code, msg);
    else if (code == GRPC_STATUS_OK)
        unary_complete(c, GRPC_STATUS_INTERNAL, "handler finished a unary call without a reply",
                       NULL);
    else
        unary_complete(c, code, msg, NULL);
}

/* ---- events ------------------------------------------------------------- */

static void take_request_id(se_call *c)
{
    for (size_t i = 0; i < c->md.count; i++) {
        if (grpc_slice_str_cmp(c->md.metadata[i].key, SE_MD_REQUEST_ID) != 0)
            continue;
        grpc_slice v = c->md.metadata[i].value;
        size_t len = GRPC_SLICE_LENGTH(v);
        const uint8_t *p = GRPC_SLICE_START_PTR(v);
        unsigned bad = len == 0 || len > SE_REQUEST_ID_MAX;
        for (size_t k = 0; k < len && len <= SE_REQUEST_ID_MAX; k++)
            bad |= (uint8_t)(p[k] - 0x21) > 0x7e - 0x21; /* printable, no space */
        if (!bad) {
            memcpy(c->request_id, p, len);
            c->request_id[len] = '\0';
            return;
        }
        break;
    }
    se_request_id_new(c->request_id);
}

void se__call_arrived(se_call *c)
{
    const se_method_desc *m = c->reg->m;
    atomic_store(&c->refs, 2); /* dispatch + completion */
    take_request_id(c);
    if (m->kind == SE_RPC_UNARY || m->kind == SE_RPC_SERVER_STREAMING) {
        if (m->kind == SE_RPC_SERVER_STREAMING)
            start_recv_close(c);
        if (!c->payload) {
            se_call_fail(c, GRPC_STATUS_INTERNAL, "no request message");
        } else {
            ProtobufCAllocator alloc = se__call_allocator(c);
            c->req = se__decode(m->input, c->payload, &alloc);
            grpc_byte_buffer_destroy(c->payload);
            c->payload = NULL;
            if (!c->req)
                se_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "cannot decode %s", m->input->name);
            else if (se__call_invoke(c, c->req) != 0)
                se_call_fail(c, GRPC_STATUS_UNIMPLEMENTED, "%s is not implemented", m->path);
        }
    } else {
        start_recv_close(c);
        start_recv_message(c);
    }
    se__call_unref(c);
}

static void on_closed(se_call *c, int ok)
{
    if (!ok || c->close_cancelled) {
        atomic_store(&c->cancelled, 1);
        pthread_mutex_lock(&c->mu);
        void (*cb)(void *) = c->on_cancel;
        void *arg = c->on_cancel_arg;
        c->on_cancel = NULL;
        pthread_mutex_unlock(&c->mu);
        if (cb)
            run_cancel_cb(c, cb, arg);
    }
    se__call_unref(c);
}

static void on_received(se_call *c, int ok)
{
    const se_method_desc *m = c->reg->m;
    grpc_byte_buffer *bb = c->payload;
    c->payload = NULL;
    if (!ok || !bb) {
        if (bb)
            grpc_byte_buffer_destroy(bb);
        if (!c->read_dead)
            se__call_invoke(c, NULL);
        se__call_unref(c);
        return;
    }
    if (!c->read_dead) {
        ProtobufCMessage *req = se__decode(m->input, bb, NULL);
        if (!req) {
            char why[160];
            snprintf(why, sizeof why, "cannot decode %s", m->input->name);
            grpc_call_cancel_with_status(c->call, GRPC_STATUS_INVALID_ARGUMENT, why, NULL);
        } else if (se__call_invoke(c, req) != 0) {
            c->read_dead = 1;
            se_call_fail(c, GRPC_STATUS_UNIMPLEMENTED, "%s is not implemented", m->path);
        }
        se_msg_free(req);
    }
    grpc_byte_buffer_destroy(bb);
    start_recv_message(c);
    se__call_unref(c);
}

static void on_done(se_call *c, int ok)
{
    if (c->send_bb) {
        grpc_byte_buffer_destroy(c->send_bb);
        c->send_bb = NULL;
    }
    if (se_log_enabled(SE_LOG_DEBUG)) {
        int cancelled = atomic_load(&c->cancelled) || c->close_cancelled;
        const char *prev = se_log_request_id();
        se_log_set_request_id(c->request_id);
        se_log_debug("rpc_done", "%s ok=%d cancelled=%d status=%s", c->reg->m->path, ok,
                     cancelled, se_status_name(c->status));
        se_log_set_request_id(prev);
    }
    se__call_unref(c);
}

void se__call_event(se__tag *t, int ok)
{
    switch (t->kind) {
    case SE_TAG_CALL_CLOSED:
        on_closed(SE_CONTAINER_OF(t, se_call, t_closed), ok);
        break;
    case SE_TAG_CALL_SENT:
        send_done(SE_CONTAINER_OF(t, se_call, t_sent), ok);
        break;
    case SE_TAG_CALL_RECEIVED:
        on_received(SE_CONTAINER_OF(t, se_call, t_received), ok);
        break;
    case SE_TAG_CALL_DONE:
        on_done(SE_CONTAINER_OF(t, se_call, t_done), ok);
        break;
    default:
        se_log_error("rpc_bad_tag", "unexpected call tag kind %d", (int)t->kind);
        break;
    }
}

/* ---- call accessors ----------------------------------------------------- */

const char *se_call_request_id(const se_call *c)
{
    return c->request_id;
}

const se_method_desc *se_call_method(const se_call *c)
{
    return c->reg->m;
}

const char *se_call_metadata(const se_call *c, const char *key)
{
    for (size_t i = 0; i < c->md.count; i++) {
        if (grpc_slice_str_cmp(c->md.metadata[i].key, key) != 0)
            continue;
        grpc_slice v = c->md.metadata[i].value;
        size_t len = GRPC_SLICE_LENGTH(v);
        char *out = grpc_call_arena_alloc(c->call, len + 1);
        memcpy(out, GRPC_SLICE_START_PTR(v), len);
        out[len] = '\0';
        return out;
    }
    return NULL;
}

int64_t se_call_time_left_ms(const se_call *c)
{
    return se__ms_until(c->deadline);
}

int se_call_is_cancelled(const se_call *c)
{
    return atomic_load(&((se_call *)c)->cancelled) || se_call_time_left_ms(c) <= 0;
}

void se_call_on_cancel(se_call *c, void (*cb)(void *arg), void *arg)
{
    if (!is_stream(c)) {
        se_log_warn("rpc_bad_on_cancel", "%s: se_call_on_cancel on a unary call is ignored",
                    c->reg->m->path);
        return;
    }
    pthread_mutex_lock(&c->mu);
    if (atomic_load(&c->cancelled)) {
        pthread_mutex_unlock(&c->mu);
        run_cancel_cb(c, cb, arg);
        return;
    }
    if (!atomic_load(&c->completed)) {
        c->on_cancel = cb;
        c->on_cancel_arg = arg;
    }
    pthread_mutex_unlock(&c->mu);
}
