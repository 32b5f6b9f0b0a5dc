/* se_rpc_async.c - asynchronous unary calls and server-streaming readers.
 *
 * DESIGN
 * One process-wide GRPC_CQ_NEXT completion queue served by one runtime
 * client thread, started on the first asynchronous call and stopped by
 * se_rpc_shutdown. Every callback (unary result, stream message, stream end)
 * runs on that thread, so callbacks of one call never run concurrently, and
 * a callback that blocks delays every other asynchronous call: keep them
 * short (hand work to another thread).
 *
 * A se_pending is one logical call. Unary: each attempt is one batch of six
 * ops (tag t_main). On UNAVAILABLE, an idempotent method is retried (same
 * policy as se_rpc_unary) after a backoff: the pending goes into a timer
 * list sorted by due time, owned by the client thread, whose
 * grpc_completion_queue_next deadline is the earliest due time.
 * Server streaming: three batches start together (send side + recv initial
 * metadata: t_main; RECV_STATUS_ON_CLIENT: t_status; RECV_MESSAGE: t_msg,
 * re-posted after each message); `outstanding` counts them and on_end runs
 * when all three kinds are done, after the last on_message.
 *
 * Cancellation (se_pending_cancel, any thread): under g_async.mu it sets
 * `cancelled` and grpc_call_cancel()s the current attempt; a pending that
 * sits in the timer list is delivered CANCELLED when its timer fires. `call`
 * changes only under g_async.mu (between attempts); the first attempt is set
 * before the handle is returned. The fast path takes no lock.
 */
#include <stdio.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/support/alloc.h>

#include "se_log.h"
#include "se_rpc_priv.h"

struct se_pending {
    se__tag t_main, t_msg, t_status;
    int is_stream;
    se_channel *ch;
    const se_method_desc *m;
    grpc_call *parent;          /* reffed; propagated to every attempt */
    grpc_call *call;            /* current attempt, NULL between attempts */
    gpr_timespec deadline;      /* absolute, for all attempts */
    se__md_out md;              /* copied strings: lives as long as the call */
    grpc_slice req;             /* encoded request, reused by retries */
    se__client_io io;
    int attempt;                /* 1-based */
    int retryable;
    int cancelled;              /* under g_async.mu */
    gpr_timespec retry_at;      /* timer list (client thread only) */
    struct se_pending *timer_next;
    const ProtobufCAllocator *resp_alloc; /* unary: opts->resp_allocator */
    se_unary_cb cb;             /* unary: cb, or adapt(fn, ...) */
    se_unary_adapter adapt;
    void (*fn)(void);
    se_stream_cbs cbs;          /* stream */
    void *arg;
    int outstanding;            /* stream batches in flight */
    int failed;                 /* stream: own status overrides gRPC's */
    se_status fail_st;
};

static struct {
    pthread_mutex_t mu;
    atomic_int running;
    int stopped;
    grpc_completion_queue *cq;
    pthread_t thread;
    se_pending *timers;         /* client thread only */
} g_async = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *client_thread(void *arg);

/* The client queue, starting the thread on first use; NULL after shutdown. */
static grpc_completion_queue *client_cq(void)
{
    if (atomic_load(&g_async.running))
        return g_async.cq;
    pthread_mutex_lock(&g_async.mu);
    if (!atomic_load(&g_async.running) && !g_async.stopped) {
        g_async.cq = grpc_completion_queue_create_for_next(NULL);
        int rc = pthread_create(&g_async.thread, NULL, client_thread, NULL);
        if (rc != 0) {
            se_log_error("rpc_client_thread", "pthread_create: %s", strerror(rc));
            grpc_completion_queue_destroy(g_async.cq);
            g_async.cq = NULL;
        } else {
            atomic_store(&g_async.running, 1);
        }
    }
    grpc_completion_queue *cq = atomic_load(&g_async.running) ? g_async.cq : NULL;
    pthread_mutex_unlock(&g_async.mu);
    return cq;
}

void se__async_shutdown(void)
{
    pthread_mutex_lock(&g_async.mu);
    int running = atomic_load(&g_async.running);
    g_async.stopped = 1;
    pthread_mutex_unlock(&g_async.mu);
    if (!running)
        return;
    grpc_completion_queue_shutdown(g_async.cq);
    pthread_join(g_async.thread, NULL);
    grpc_completion_queue_destroy(g_async.cq);
    pthread_mutex_lock(&g_async.mu);
    g_async.cq = NULL;
    atomic_store(&g_async.running, 0);
    g_async.stopped = 0; /* a later se_rpc_init may start it again */
    pthread_mutex_unlock(&g_async.mu);
}

/* ---- pending lifetime --------------------------------------------------- */

static se_pending *pending_new(se_channel *ch, const se_method_desc *m,
                               const ProtobufCMessage *req, const se_call_opts *opts)
{
    se_pending *p = gpr_zalloc(sizeof(*p));
    p->t_main.kind = SE_TAG_PENDING_MAIN;
    p->t_msg.kind = SE_TAG_PENDING_MSG;
    p->t_status.kind = SE_TAG_PENDING_STATUS;
    p->ch = ch;
    p->m = m;
    p->parent = se__parent_call(opts);
    if (p->parent)
        grpc_call_ref(p->parent);
    p->deadline = se__client_deadline(opts);
    se__md_build(&p->md, opts, 1);
    p->req = se__encode_slice(req);
    p->retryable = se__retryable(m, opts);
    p->resp_alloc = opts ? opts->resp_allocator : NULL;
    p->attempt = 1;
    return p;
}

static void pending_free(se_pending *p)
{
    if (p->call)
        grpc_call_unref(p->call);
    if (p->parent)
        grpc_call_unref(p->parent);
    se__md_dispose(&p->md);
    grpc_slice_unref(p->req);
    gpr_free(p);
}

/* ---- unary -------------------------------------------------------------- */

/* Starts one attempt; on failure nothing is left running. */
static int unary_start(se_pending *p, grpc_completion_queue *cq)
{
    p->call = se__create_call(p->ch, p->m, p->parent, cq, p->deadline);
    se__io_init(&p->io, p->req);
    grpc_op ops[6];
    se__io_send_ops(ops, &p->io, &p->md);
    se__io_recv_message_op(&ops[4], &p->io);
    se__io_status_op(&ops[5], &p->io);
    grpc_call_error e = grpc_call_start_batch(p->call, ops, 6, &p->t_main, NULL);
    if (e == GRPC_CALL_OK)
        return 0;
    se_log_error("rpc_call_failed", "%s: grpc_call_start_batch: %s", p->m->path,
                 grpc_call_error_to_string(e));
    se__io_dispose(&p->io);
    grpc_call_unref(p->call);
    p->call = NULL;
    return -1;
}

static void unary_deliver(se_pending *p, const se_status *st, ProtobufCMessage *resp)
{
    if (p->adapt)
        p->adapt(p->fn, p->arg, st, resp);
    else
        p->cb(p->arg, st, resp);
    pending_free(p);
}

static void timer_add(se_pending *p, int64_t delay_ms)
{
    p->retry_at = se__deadline_in_ms(delay_ms);
    se_pending **pp = &g_async.timers;
    while (*pp && gpr_time_cmp((*pp)->retry_at, p->retry_at) <= 0)
        pp = &(*pp)->timer_next;
    p->timer_next = *pp;
    *pp = p;
}

/* Schedules another attempt if the policy allows; 1 when scheduled. */
static int maybe_retry(se_pending *p, const se_status *st)
{
    if (st->code != GRPC_STATUS_UNAVAILABLE || !p->retryable ||
        p->attempt >= se__rpc_cfg()->attempts)
        return 0;
    int64_t delay = se__retry_delay_ms(p->attempt);
    if (delay >= se__ms_until(p->deadline))
        return 0;
    pthread_mutex_lock(&g_async.mu);
    int cancelled = p->cancelled;
    if (!cancelled) {
        grpc_call_unref(p->call);
        p->call = NULL;
    }
    pthread_mutex_unlock(&g_async.mu);
    if (cancelled)
        return 0;
    se_log_debug("rpc_retry", "%s: attempt %d UNAVAILABLE (%s), retrying in %lld ms",
                 p->m->path, p->attempt, st->message, (long long)delay);
    timer_add(p, delay);
    return 1;
}

static void unary_done(se_pending *p)
{
    se_status st;
    ProtobufCMessage *resp = NULL;
    se__io_unary_result(&p->io, p->m, p->resp_alloc, &resp, &st);
    if (maybe_retry(p, &st))
        return;
    unary_deliver(p, &st, resp);
}

static void timer_fire(se_pending *p)
{
    se_status st;
    pthread_mutex_lock(&g_async.mu);
    if (p->cancelled) {
        pthread_mutex_unlock(&g_async.mu);
        se_status_set(&st, GRPC_STATUS_CANCELLED, "cancelled");
        unary_deliver(p, &st, NULL);
        return;
    }
    p->attempt++;
    int rc = unary_start(p, g_async.cq);
    pthread_mutex_unlock(&g_async.mu);
    if (rc != 0) {
        se_status_set(&st, GRPC_STATUS_INTERNAL, "cannot start retry of %s", p->m->path);
        unary_deliver(p, &st, NULL);
    }
}

static void run_due_timers(void)
{
    gpr_timespec now = gpr_now(GPR_CLOCK_MONOTONIC);
    while (g_async.timers && gpr_time_cmp(g_async.timers->retry_at, now) <= 0) {
        se_pending *p = g_async.timers;
        g_async.timers = p->timer_next;
        timer_fire(p);
    }
}

static se_pending *unary_async(se_channel *ch, const se_method_desc *m,
                               const ProtobufCMessage *req, const se_call_opts *opts,
                               se_unary_cb cb, se_unary_adapter adapt, void (*fn)(void),
                               void *arg)
{
    grpc_completion_queue *cq = client_cq();
    if (!cq) {
        se_log_error("rpc_call_failed", "%s: client stopped or no client thread", m->path);
        return NULL;
    }
    se_pending *p = pending_new(ch, m, req, opts);
    p->cb = cb;
    p->adapt = adapt;
    p->fn = fn;
    p->arg = arg;
    if (unary_start(p, cq) != 0) {
        pending_free(p);
        return NULL;
    }
    return p;
}

se_pending *se_rpc_unary_async_typed(se_channel *ch, const se_method_desc *m,
                                     const ProtobufCMessage *req, const se_call_opts *opts,
                                     se_unary_adapter adapt, void (*fn)(void), void *arg)
{
    return unary_async(ch, m, req, opts, NULL, adapt, fn, arg);
}

se_pending *se_rpc_unary_async(se_channel *ch, const se_method_desc *m,
                               const ProtobufCMessage *req, const se_call_opts *opts,
                               se_unary_cb cb, void *arg)
{
    return unary_async(ch, m, req, opts, cb, NULL, NULL, arg);
}

void se_pending_cancel(se_pending *p)
{
    pthread_mutex_lock(&g_async.mu);
    p->cancelled = 1;
    if (p->call)
        grpc_call_cancel(p->call, NULL);
    pthread_mutex_unlock(&g_async.mu);
}

/* ---- server streaming --------------------------------------------------- */

/* Re-posts RECV_MESSAGE (client thread): the batch stays outstanding. */
static int stream_recv(se_pending *p)
{
    grpc_op op;
    se__io_recv_message_op(&op, &p->io);
    grpc_call_error e = grpc_call_start_batch(p->call, &op, 1, &p->t_msg, NULL);
    if (e == GRPC_CALL_OK)
        return 0;
    se_log_error("rpc_call_failed", "%s: recv_message: %s", p->m->path,
                 grpc_call_error_to_string(e));
    return -1;
}

static void stream_fail(se_pending *p, grpc_status_code code, const char *msg)
{
    if (!p->failed) {
        p->failed = 1;
        se_status_set(&p->fail_st, code, "%s", msg);
    }
    grpc_call_cancel_with_status(p->call, code, msg, NULL);
}

static void stream_maybe_end(se_pending *p)
{
    if (--p->outstanding > 0)
        return;
    se_status st;
    if (p->failed)
        st = p->fail_st;
    else
        se__status_from_grpc(&st, p->io.status, p->io.details);
    se__io_dispose(&p->io);
    p->cbs.on_end(p->arg, &st);
    pending_free(p);
}

static void stream_message(se_pending *p, int ok)
{
    grpc_byte_buffer *bb = p->io.recv_bb;
    p->io.recv_bb = NULL;
    if (ok && bb && !p->failed) {
        ProtobufCMessage *msg = se__decode(p->m->output, bb, NULL);
        if (!msg) {
            char why[160];
            snprintf(why, sizeof why, "cannot decode %s", p->m->output->name);
            stream_fail(p, GRPC_STATUS_INTERNAL, why);
        } else {
            grpc_byte_buffer_destroy(bb);
            p->cbs.on_message(p->arg, msg);
            if (stream_recv(p) == 0)
                return; /* the read stays outstanding */
            stream_fail(p, GRPC_STATUS_INTERNAL, "cannot read stream");
            stream_maybe_end(p);
            return;
        }
    }
    if (bb)
        grpc_byte_buffer_destroy(bb);
    stream_maybe_end(p);
}

/* Completes `tag` on the client queue at once (an empty batch): a batch
 * that could not start is then accounted for on the client thread. */
static void post_empty(se_pending *p, se__tag *tag)
{
    grpc_call_start_batch(p->call, NULL, 0, tag, NULL);
}

/* Starts the three batches, receive side first. -1 when nothing could start;
 * a later failure cancels the call, which then ends through on_end. All
 * accounting of `outstanding` happens on the client thread. */
static int stream_start(se_pending *p, grpc_completion_queue *cq)
{
    p->call = se__create_call(p->ch, p->m, p->parent, cq, p->deadline);
    se__io_init(&p->io, p->req);
    p->outstanding = 3;
    grpc_op ops[4];
    se__io_status_op(&ops[0], &p->io);
    grpc_call_error e = grpc_call_start_batch(p->call, ops, 1, &p->t_status, NULL);
    if (e != GRPC_CALL_OK) {
        se_log_error("rpc_call_failed", "%s: recv_status: %s", p->m->path,
                     grpc_call_error_to_string(e));
        se__io_dispose(&p->io);
        return -1;
    }
    se__io_recv_message_op(&ops[0], &p->io);
    e = grpc_call_start_batch(p->call, ops, 1, &p->t_msg, NULL);
    if (e != GRPC_CALL_OK) {
        se_log_error("rpc_call_failed", "%s: recv_message: %s", p->m->path,
                     grpc_call_error_to_string(e));
        stream_fail(p, GRPC_STATUS_INTERNAL, "cannot start stream");
        post_empty(p, &p->t_msg);
    }
    se__io_send_ops(ops, &p->io, &p->md);
    e = grpc_call_start_batch(p->call, ops, 4, &p->t_main, NULL);
    if (e != GRPC_CALL_OK) {
        se_log_error("rpc_call_failed", "%s: grpc_call_start_batch: %s", p->m->path,
                     grpc_call_error_to_string(e));
        stream_fail(p, GRPC_STATUS_INTERNAL, "cannot start stream");
        post_empty(p, &p->t_main);
    }
    return 0;
}

se_pending *se_rpc_stream_async(se_channel *ch, const se_method_desc *m,
                                const ProtobufCMessage *req, const se_call_opts *opts,
                                const se_stream_cbs *cbs, void *arg)
{
    grpc_completion_queue *cq = client_cq();
    if (!cq) {
        se_log_error("rpc_call_failed", "%s: client stopped or no client thread", m->path);
        return NULL;
    }
    se_pending *p = pending_new(ch, m, req, opts);
    p->is_stream = 1;
    p->cbs = *cbs;
    p->arg = arg;
    if (stream_start(p, cq) != 0) {
        pending_free(p);
        return NULL;
    }
    return p;
}

/* ---- the client thread -------------------------------------------------- */

static void on_event(se__tag *t, int ok)
{
    switch (t->kind) {
    case SE_TAG_PENDING_MAIN: {
        se_pending *p = SE_CONTAINER_OF(t, se_pending, t_main);
        if (p->is_stream)
            stream_maybe_end(p);
        else
            unary_done(p);
        break;
    }
    case SE_TAG_PENDING_MSG:
        stream_message(SE_CONTAINER_OF(t, se_pending, t_msg), ok);
        break;
    case SE_TAG_PENDING_STATUS:
        stream_maybe_end(SE_CONTAINER_OF(t, se_pending, t_status));
        break;
    default:
        se_log_error("rpc_bad_tag", "unexpected client tag kind %d", (int)t->kind);
        break;
    }
}

static void *client_thread(void *arg)
{
    (void)arg;
    for (;;) {
        gpr_timespec dl = g_async.timers ? g_async.timers->retry_at
                                         : gpr_inf_future(GPR_CLOCK_MONOTONIC);
        grpc_event ev = grpc_completion_queue_next(g_async.cq, dl, NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(ev.tag, ev.success);
        run_due_timers();
    }
    while (g_async.timers) { /* shutting down: no more attempts */
        se_pending *p = g_async.timers;
        g_async.timers = p->timer_next;
        se_status st;
        se_status_set(&st, GRPC_STATUS_CANCELLED, "client shutting down");
        unary_deliver(p, &st, NULL);
    }
    return NULL;
}
