/* se_rpc_server.c - the gRPC server: services, worker threads, shutdown.
 *
 * DESIGN
 * Completion queue and threads. One GRPC_CQ_NEXT completion queue per
 * server, served by `threads` worker threads (SE_RPC_THREADS, default 2)
 * that all call grpc_completion_queue_next on it. Every call's batches
 * complete on that queue, so a handler that blocks one thread does not
 * stall other calls (including its own stream's completions) while another
 * thread is free. Measured here: the thread model barely matters for speed
 * on 2 cores; a shared queue keeps blocking handlers safe.
 *
 * Arrivals. Each method of each service is registered with
 * grpc_server_register_method (requests of unary and server-streaming
 * methods arrive with the call: GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER).
 * `threads` request slots (se_call, see se_rpc_call.c) per method are
 * posted with grpc_server_request_registered_call; each arrival re-posts a
 * fresh slot first, then runs the handler on the thread that got it. A call
 * that finds no slot waits in gRPC's pending list, which takes a
 * server-wide lock on arrival and again when the next slot is posted
 * (measured with callgrind: ~6% of the server's instructions per call at 64
 * in flight with 2 slots). So a method grows by one slot whenever a call
 * arrives while it has at least as many calls live (arrived, not yet freed)
 * as slots, up to SE_SLOTS_MAX (64, what the raw bench server posts): busy
 * methods end with about as many slots as calls in flight, idle ones keep
 * `threads`. (Not 64 for every method up front: this Debian libgrpc checks
 * each completion against the queue's list of outstanding tags, so every
 * idle slot costs a little on every event.) Calls
 * to unknown methods are taken by generic grpc_server_request_call slots and
 * answered UNIMPLEMENTED at once (otherwise they would hang until their
 * deadline). Re-posting stops once `stopping` is set; a post that races
 * with shutdown is failed by gRPC (ok == 0) and its slot freed.
 *
 * Shutdown (se_server_shutdown): health NOT_SERVING (Watch streams end),
 * grpc_server_shutdown_and_notify on a private queue, then wait up to
 * grace_ms (SE_RPC_GRACE_MS) for both the shutdown tag and `live` == 0 (every
 * call that arrived has been freed: gRPC's tag only says the connections are
 * gone, while a handler may still hold its call and start batches on our
 * queue). After the grace: grpc_server_cancel_all_calls (streams see
 * on_cancel) and wait for both without limit; a handler that never completes
 * its call therefore blocks shutdown. Then shut the server queue down, join
 * the threads (they drain it), destroy the server and the queue.
 *
 * Channel args: GRPC_ARG_ALLOW_REUSEPORT=0 (a taken port must fail start),
 * GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH = SE_RPC_MAX_MSG_BYTES (8 MiB).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>

#include "se_log.h"
#include "se_rpc_priv.h"
#include "se_time.h"

#define SE_MAX_SERVICES 32

enum server_state { SRV_CREATED, SRV_STARTED, SRV_STOPPED };

typedef struct service_entry {
    const se_service_desc *svc;
    const void *handlers;
    void *ctx;
} service_entry;

/* A request slot for calls to methods nobody registered. */
typedef struct unknown_slot {
    se__tag t_arrived, t_done;
    se_server *server;
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    int cancelled;
} unknown_slot;

struct se_server {
    char name[64];
    char addr[256];
    int n_threads;
    int grace_ms;
    int port;
    se_health *health;
    service_entry services[SE_MAX_SERVICES];
    size_t n_services;
    se__method_reg *regs;
    size_t n_regs;
    grpc_server *server;
    grpc_completion_queue *cq;
    pthread_t *threads;
    int n_running;            /* threads started */
    atomic_int stopping;      /* no more re-posting */
    atomic_int live;          /* calls arrived and not yet freed */
    pthread_cond_t live_zero; /* signalled (under mu) when live drops to 0 */
    pthread_mutex_t mu;       /* state transitions */
    enum server_state state;
};

/* ---- creation and services ---------------------------------------------- */

se_server *se_server_create(const se_server_config *cfg)
{
    const se__rpc_config *rc = se__rpc_cfg();
    se_server *s = gpr_zalloc(sizeof(*s));
    snprintf(s->name, sizeof s->name, "%s", cfg->name ? cfg->name : "server");
    snprintf(s->addr, sizeof s->addr, "%s", cfg->listen_addr ? cfg->listen_addr : "0.0.0.0:0");
    s->n_threads = cfg->threads > 0 ? cfg->threads : rc->threads;
    s->grace_ms = cfg->grace_ms > 0 ? cfg->grace_ms : rc->grace_ms;
    pthread_mutex_init(&s->mu, NULL);
    se_cond_init_monotonic(&s->live_zero);
    s->health = se_health_create();
    if (se_health_register(s->health, s) != 0 || se_reflection_register(s) != 0) {
        se_log_error("server_create_failed", "%s: cannot register health/reflection", s->name);
        se_server_destroy(s);
        return NULL;
    }
    return s;
}

int se_server_add_service(se_server *s, const se_service_desc *svc, const void *handlers,
                          void *ctx)
{
    pthread_mutex_lock(&s->mu);
    const char *why = NULL;
    if (s->state != SRV_CREATED)
        why = "server already started";
    else if (s->n_services == SE_MAX_SERVICES)
        why = "too many services";
    for (size_t i = 0; !why && i < s->n_services; i++) {
        if (strcmp(s->services[i].svc->name, svc->name) == 0)
            why = "service registered twice";
    }
    if (why) {
        pthread_mutex_unlock(&s->mu);
        se_log_error("server_add_service_failed", "%s: %s: %s", s->name, svc->name, why);
        return -1;
    }
    s->services[s->n_services++] = (service_entry){svc, handlers, ctx};
    pthread_mutex_unlock(&s->mu);
    return 0;
}

size_t se__server_services(const se_server *s, const se_service_desc **out, size_t cap)
{
    se_server *ms = (se_server *)s;
    pthread_mutex_lock(&ms->mu);
    size_t n = s->n_services;
    for (size_t i = 0; i < n && i < cap; i++)
        out[i] = s->services[i].svc;
    pthread_mutex_unlock(&ms->mu);
    return n;
}

int se_server_port(const se_server *s)
{
    return s->port;
}

void se_server_set_health(se_server *s, const char *service, int serving)
{
    se_health_set(s->health, service, serving);
}

/* ---- request slots ------------------------------------------------------ */

static void post_registered(se__method_reg *reg)
{
    se_server *s = reg->server;
    se_call *c = se__call_new(reg);
    grpc_byte_buffer **payload = reg->m->kind == SE_RPC_UNARY ||
                                         reg->m->kind == SE_RPC_SERVER_STREAMING
                                     ? &c->payload
                                     : NULL;
    grpc_call_error e = grpc_server_request_registered_call(
        s->server, reg->handle, &c->call, &c->deadline, &c->md, payload, s->cq, s->cq,
        &c->t_arrived);
    if (e != GRPC_CALL_OK) {
        se_log_error("server_request_failed", "%s: request_registered_call %s: %s", s->name,
                     reg->m->path, grpc_call_error_to_string(e));
        atomic_fetch_sub_explicit(&reg->slots, 1, memory_order_relaxed);
        se__call_free_unused(c);
    }
}

void se__server_call_ended(se__method_reg *reg)
{
    se_server *s = reg->server;
    atomic_fetch_sub_explicit(&reg->live, 1, memory_order_relaxed);
    if (atomic_fetch_sub(&s->live, 1) == 1 && atomic_load(&s->stopping)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->live_zero);
        pthread_mutex_unlock(&s->mu);
    }
}

/* A slot of reg got a call: post its replacement, plus one more while the
 * method has as many calls live as slots (calls arriving together beyond
 * the slots wait in gRPC's pending list, which costs a server-wide lock per
 * call), up to SE_SLOTS_MAX. */
static void repost(se__method_reg *reg)
{
    int live = atomic_fetch_add_explicit(&reg->live, 1, memory_order_relaxed) + 1;
    if (atomic_load(&reg->server->stopping))
        return;
    post_registered(reg);
    int slots = atomic_load_explicit(&reg->slots, memory_order_relaxed);
    if (live >= slots && slots < SE_SLOTS_MAX) {
        atomic_fetch_add_explicit(&reg->slots, 1, memory_order_relaxed);
        post_registered(reg);
    }
}

static void post_unknown(se_server *s)
{
    unknown_slot *u = gpr_zalloc(sizeof(*u));
    u->t_arrived.kind = SE_TAG_UNKNOWN_ARRIVED;
    u->t_done.kind = SE_TAG_UNKNOWN_DONE;
    u->server = s;
    grpc_call_details_init(&u->details);
    grpc_metadata_array_init(&u->md);
    grpc_call_error e =
        grpc_server_request_call(s->server, &u->call, &u->details, &u->md, s->cq, s->cq,
                                 &u->t_arrived);
    if (e != GRPC_CALL_OK) {
        se_log_error("server_request_failed", "%s: request_call: %s", s->name,
                      grpc_call_error_to_string(e));
        grpc_call_details_destroy(&u->details);
        grpc_metadata_array_destroy(&u->md);
        gpr_free(u);
    }
}

static void unknown_free(unknown_slot *u)
{
    if (u->call)
        grpc_call_unref(u->call);
    grpc_call_details_destroy(&u->details);
    grpc_metadata_array_destroy(&u->md);
    gpr_free(u);
}

static void unknown_arrived(unknown_slot *u, int ok)
{
    se_server *s = u->server;
    if (!ok) {
        unknown_free(u);
        return;
    }
    if (!atomic_load(&s->stopping))
        post_unknown(s);
    char msg[300];
    snprintf(msg, sizeof msg, "unknown method %.*s", (int)GRPC_SLICE_LENGTH(u->details.method),
             (const char *)GRPC_SLICE_START_PTR(u->details.method));
    se_log_debug("rpc_unknown_method", "%s: %s", s->name, msg);
    grpc_slice details = grpc_slice_from_static_string(msg);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[1].data.send_status_from_server.status = GRPC_STATUS_UNIMPLEMENTED;
    ops[1].data.send_status_from_server.status_details = &details;
    ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[2].data.recv_close_on_server.cancelled = &u->cancelled;
    grpc_call_error e = grpc_call_start_batch(u->call, ops, 3, &u->t_done, NULL);
    if (e != GRPC_CALL_OK) {
        se_log_error("rpc_batch_failed", "%s: unimplemented reply: %s", s->name,
                     grpc_call_error_to_string(e));
        unknown_free(u);
    }
}

/* ---- worker threads ----------------------------------------------------- */

static void on_event(void *tag, int ok)
{
    se__tag *t = tag;
    switch (t->kind) {
    case SE_TAG_CALL_ARRIVED: {
        se_call *c = SE_CONTAINER_OF(t, se_call, t_arrived);
        if (!ok) { /* server shutting down */
            se__call_free_unused(c);
            return;
        }
        atomic_fetch_add(&c->reg->server->live, 1);
        repost(c->reg); /* counts the call live for its method */
        se__call_arrived(c);
        break;
    }
    case SE_TAG_UNKNOWN_ARRIVED:
        unknown_arrived(SE_CONTAINER_OF(t, unknown_slot, t_arrived), ok);
        break;
    case SE_TAG_UNKNOWN_DONE:
        unknown_free(SE_CONTAINER_OF(t, unknown_slot, t_done));
        break;
    default:
        se__call_event(t, ok);
        break;
    }
}

static void *server_thread(void *arg)
{
    se_server *s = arg;
    for (;;) {
        grpc_event ev =
            grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE)
            on_event(ev.tag, ev.success);
    }
    return NULL;
}

/* ---- start -------------------------------------------------------------- */

static int register_methods(se_server *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_services; i++)
        n += s->services[i].svc->n_methods;
    s->regs = gpr_zalloc((n ? n : 1) * sizeof(*s->regs));
    for (size_t i = 0; i < s->n_services; i++) {
        const service_entry *e = &s->services[i];
        for (size_t k = 0; k < e->svc->n_methods; k++) {
            const se_method_desc *m = &e->svc->methods[k];
            se__method_reg *r = &s->regs[s->n_regs];
            *r = (se__method_reg){.server = s, .m = m, .handlers = e->handlers, .ctx = e->ctx};
            int with_payload = m->kind == SE_RPC_UNARY || m->kind == SE_RPC_SERVER_STREAMING;
            r->handle = grpc_server_register_method(
                s->server, m->path, NULL,
                with_payload ? GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER : GRPC_SRM_PAYLOAD_NONE,
                0);
            if (!r->handle) {
                se_log_error("server_start_failed", "%s: cannot register method %s", s->name,
                             m->path);
                return -1;
            }
            s->n_regs++;
        }
    }
    return 0;
}

static int bind_port(se_server *s)
{
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    s->port = grpc_server_add_http2_port(s->server, s->addr, creds);
    grpc_server_credentials_release(creds);
    if (s->port == 0) {
        se_log_error("server_start_failed", "%s: cannot listen on %s (address in use?)",
                     s->name, s->addr);
        return -1;
    }
    return 0;
}

/* Undoes a start that failed before grpc_server_start. */
static void unstart(se_server *s)
{
    grpc_server_destroy(s->server);
    s->server = NULL;
    grpc_completion_queue_shutdown(s->cq);
    grpc_completion_queue_destroy(s->cq);
    s->cq = NULL;
    gpr_free(s->regs);
    s->regs = NULL;
    s->n_regs = 0;
    s->port = 0;
}

static void create_grpc_server(se_server *s)
{
    grpc_arg args[2];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[0].value.integer = 0;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[1].value.integer = se__rpc_cfg()->max_msg_bytes;
    grpc_channel_args ch_args = {2, args};
    s->server = grpc_server_create(&ch_args, NULL);
    s->cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(s->server, s->cq, NULL);
}

static void stop_started(se_server *s);

int se_server_start(se_server *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->state != SRV_CREATED) {
        pthread_mutex_unlock(&s->mu);
        se_log_error("server_start_failed", "%s: already started", s->name);
        return -1;
    }
    create_grpc_server(s);
    if (register_methods(s) != 0 || bind_port(s) != 0) {
        unstart(s);
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    grpc_server_start(s->server);
    s->state = SRV_STARTED;
    for (size_t i = 0; i < s->n_regs; i++) {
        atomic_store(&s->regs[i].slots, s->n_threads);
        for (int k = 0; k < s->n_threads; k++)
            post_registered(&s->regs[i]);
    }
    for (int k = 0; k < s->n_threads; k++)
        post_unknown(s);
    s->threads = gpr_zalloc((size_t)s->n_threads * sizeof(*s->threads));
    for (int k = 0; k < s->n_threads; k++) {
        int rc = pthread_create(&s->threads[k], NULL, server_thread, s);
        if (rc != 0) {
            se_log_error("server_start_failed", "%s: pthread_create: %s", s->name, strerror(rc));
            s->state = SRV_STOPPED;
            pthread_mutex_unlock(&s->mu);
            stop_started(s);
            return -1;
        }
        s->n_running++;
    }
    pthread_mutex_unlock(&s->mu);
    se_health_set(s->health, "", 1);
    for (size_t i = 0; i < s->n_services; i++)
        se_health_set(s->health, s->services[i].svc->name, 1);
    se_log_info("server_started", "%s: listening on %s (port %d, %d threads, %zu methods)",
                s->name, s->addr, s->port, s->n_threads, s->n_regs);
    return 0;
}

/* ---- shutdown ----------------------------------------------------------- */

/* Waits for the shutdown tag; 0 when it came before `deadline`. */
static int wait_shutdown_tag(grpc_completion_queue *scq, gpr_timespec deadline)
{
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(scq, deadline, NULL);
        if (ev.type == GRPC_OP_COMPLETE)
            return 0;
        if (ev.type == GRPC_QUEUE_TIMEOUT)
            return -1;
    }
}

/* Waits until every call is freed; 0 when that happened before `deadline`.
 * gRPC's shutdown tag only means the connections are gone: a handler may
 * still hold its call (and will start batches on our queue). */
static int wait_calls_freed(se_server *s, gpr_timespec deadline)
{
    gpr_timespec mono = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC);
    struct timespec ts = {(time_t)mono.tv_sec, mono.tv_nsec};
    int forever = deadline.tv_sec == INT64_MAX;
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    while (atomic_load(&s->live) > 0 && rc == 0)
        rc = forever ? pthread_cond_wait(&s->live_zero, &s->mu)
                     : pthread_cond_timedwait(&s->live_zero, &s->mu, &ts);
    int left = atomic_load(&s->live);
    pthread_mutex_unlock(&s->mu);
    return left > 0 ? -1 : 0;
}

/* Drains in-flight calls: up to grace_ms, then cancels the rest and waits
 * for them. Returns 1 when calls had to be cancelled. */
static int drain_calls(se_server *s)
{
    grpc_completion_queue *scq = grpc_completion_queue_create_for_next(NULL);
    static int shutdown_tag;
    grpc_server_shutdown_and_notify(s->server, scq, &shutdown_tag);
    gpr_timespec grace_end = se__deadline_in_ms(s->grace_ms);
    int tag_seen = wait_shutdown_tag(scq, grace_end) == 0;
    int cancelled = 0;
    if (!tag_seen || wait_calls_freed(s, grace_end) != 0) {
        se_log_warn("server_grace_expired", "%s: %d calls still running after %d ms, cancelling",
                    s->name, atomic_load(&s->live), s->grace_ms);
        grpc_server_cancel_all_calls(s->server);
        cancelled = 1;
        gpr_timespec forever = gpr_inf_future(GPR_CLOCK_MONOTONIC);
        if (!tag_seen)
            wait_shutdown_tag(scq, forever);
        wait_calls_freed(s, forever);
    }
    grpc_completion_queue_shutdown(scq);
    while (grpc_completion_queue_next(scq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(scq);
    return cancelled;
}

static void stop_started(se_server *s)
{
    gpr_timespec start = gpr_now(GPR_CLOCK_MONOTONIC);
    atomic_store(&s->stopping, 1);
    se_health_shutdown(s->health);
    int cancelled = drain_calls(s);
    grpc_completion_queue_shutdown(s->cq);
    for (int k = 0; k < s->n_running; k++)
        pthread_join(s->threads[k], NULL);
    s->n_running = 0;
    grpc_server_destroy(s->server);
    s->server = NULL;
    grpc_completion_queue_destroy(s->cq);
    s->cq = NULL;
    gpr_timespec took = gpr_time_sub(gpr_now(GPR_CLOCK_MONOTONIC), start);
    se_log_info("server_stopped", "%s: stopped in %d ms%s", s->name, gpr_time_to_millis(took),
                cancelled ? " (calls cancelled)" : "");
}

static int is_server_thread(const se_server *s)
{
    for (int k = 0; k < s->n_running; k++) {
        if (pthread_equal(s->threads[k], pthread_self()))
            return 1;
    }
    return 0;
}

void se_server_shutdown(se_server *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->state != SRV_STARTED) {
        s->state = SRV_STOPPED;
        pthread_mutex_unlock(&s->mu);
        return;
    }
    if (is_server_thread(s)) {
        pthread_mutex_unlock(&s->mu);
        se_log_error("server_shutdown_misuse", "%s: se_server_shutdown on a server thread",
                     s->name);
        return;
    }
    s->state = SRV_STOPPED;
    pthread_mutex_unlock(&s->mu);
    stop_started(s);
}

void se_server_destroy(se_server *s)
{
    if (!s)
        return;
    se_server_shutdown(s);
    se_health_destroy(s->health);
    gpr_free(s->threads);
    gpr_free(s->regs);
    pthread_cond_destroy(&s->live_zero);
    pthread_mutex_destroy(&s->mu);
    gpr_free(s);
}
