/* se_rpc.h - gRPC server and client on the gRPC C core (grpc/grpc.h).
 *
 * One vocabulary for every component: a process calls se_rpc_init() first
 * (it blocks SIGINT/SIGTERM so gRPC's threads inherit the mask, then
 * grpc_init), creates servers and channels, and ends with se_rpc_shutdown().
 *
 * Messages are protobuf-c messages. Ownership rules, everywhere:
 *   - a request you pass in stays yours (it is serialized before return);
 *   - a response or stream message handed to you is yours: free it with
 *     se_msg_free().
 *
 * Request ids: every server call has one (the incoming `x-request-id`
 * metadata, or a fresh one). While a handler runs, the thread's "current
 * call" is set, so se_log lines carry it and client calls made from that
 * thread forward it (and inherit the deadline and cancellation of the
 * incoming call) unless se_call_opts says otherwise.
 */
#ifndef SE_RPC_H
#define SE_RPC_H

#include <stdarg.h>
#include <stdint.h>
#include <grpc/grpc.h>
#include <grpc/status.h>
#include "se_rpc_desc.h"

/* ---- process lifecycle -------------------------------------------------- */

/* Blocks SIGINT/SIGTERM/SIGPIPE in the calling thread (do it before any
 * thread starts) and initialises gRPC. THREAD: main, once. */
void se_rpc_init(void);
/* Waits until SIGINT or SIGTERM arrives; returns the signal number. */
int se_rpc_wait_for_signal(void);
/* Stops the client machinery and calls grpc_shutdown_blocking(). All servers
 * must be destroyed and all channels' calls finished first. */
void se_rpc_shutdown(void);

/* ---- status and messages ------------------------------------------------ */

typedef struct se_status {
    grpc_status_code code;
    char message[256];   /* NUL-terminated, truncated if longer */
} se_status;

void se_status_set(se_status *st, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
const char *se_status_name(grpc_status_code code); /* "INVALID_ARGUMENT" */

/* Frees a message the runtime handed to you (NULL is fine). */
void se_msg_free(ProtobufCMessage *msg);

typedef struct se_metadata {
    const char *key;   /* lower-case, e.g. "idempotency-key" */
    const char *value;
} se_metadata;

/* Per-call client options; a NULL opts means all defaults. */
typedef struct se_call_opts {
    int timeout_ms;              /* 0: SE_RPC_TIMEOUT_MS (default 5000); <0: none */
    const char *request_id;      /* NULL: the current call's, else a new one */
    const se_metadata *metadata; /* extra metadata to send */
    size_t n_metadata;
    int no_retry;                /* 1: never retry, even an idempotent method */
    int detach;                  /* 1: do not inherit deadline/cancellation from
                                    the thread's current server call */
    /* Asynchronous unary calls only (se_rpc_unary_async*): NULL, the
     * response is malloc'd (free it with se_msg_free); else it is decoded
     * with this allocator, called on the runtime client thread, and is the
     * caller's to release through that allocator (NOT se_msg_free). The
     * allocator must stay valid until the callback has returned. */
    const ProtobufCAllocator *resp_allocator;
} se_call_opts;

/* ---- server ------------------------------------------------------------- */

typedef struct se_server se_server;

typedef struct se_server_config {
    const char *name;        /* component name for logs, "menu" */
    const char *listen_addr; /* "0.0.0.0:50051"; port 0 picks a free port */
    int threads;             /* completion-queue threads; 0: SE_RPC_THREADS */
    int grace_ms;            /* drain time on shutdown; 0: SE_RPC_GRACE_MS */
} se_server_config;

/* Creates a server (not yet listening). Health (grpc.health.v1.Health) and
 * reflection (grpc.reflection.v1 and v1alpha, from se_registry_files) are
 * always registered. OWNERSHIP: caller destroys with se_server_destroy.
 * ON ERROR: NULL, logged. */
se_server *se_server_create(const se_server_config *cfg);

/* Registers a service's handler table (generated `<svc>_register` calls
 * this). `handlers` and `ctx` must outlive the server. Before start only.
 * ON ERROR: -1 (already started, or registered twice). */
int se_server_add_service(se_server *s, const se_service_desc *svc,
                          const void *handlers, void *ctx);

/* Binds and starts the worker threads; each registered service and "" are
 * then SERVING. ON ERROR: -1 (e.g. port taken), logged, nothing started. */
int se_server_start(se_server *s);
int se_server_port(const se_server *s); /* bound port, after start */

/* Sets health for `service` ("" is the whole server); Watch streams see the
 * change. THREAD: any. */
void se_server_set_health(se_server *s, const char *service, int serving);

/* Graceful stop: NOT_SERVING, no new calls, in-flight calls get grace_ms to
 * finish, then are cancelled; returns when every thread has ended.
 * THREAD: any but a server thread. Idempotent. */
void se_server_shutdown(se_server *s);
void se_server_destroy(se_server *s);

/* ---- server calls (inside handlers) -------------------------------------
 * A handler runs on a server thread with the decoded request, which stays
 * valid until the call completes (unary and server streaming; for client and
 * bidi streams each received message is valid only during that invocation). It must complete the call exactly once:
 * unary: se_call_reply or se_call_fail; streams: any number of se_call_send,
 * then se_call_finish. It may do so before returning or later from any
 * thread (an asynchronous handler). */

void se_call_reply(se_call *c, const ProtobufCMessage *resp);
/* Like se_call_reply, with the response already serialized: `bytes` must be
 * a packed message of the method's output type (NOT checked: the client
 * gets whatever is passed), e.g. a cached copy of an earlier reply. Spares
 * the decode/encode of a message the handler only forwards.
 * THREAD: any (as se_call_reply). OWNERSHIP: bytes are copied before
 * return; the caller keeps them. ON ERROR: bytes NULL with len > 0 fails the
 * call with INTERNAL (logged); completing a call twice is logged and ignored. */
void se_call_reply_packed(se_call *c, const uint8_t *bytes, size_t len);
void se_call_fail(se_call *c, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Queues one stream message (serialized before return). THREAD: any.
 * Returns -1 when the call is cancelled or finished (stop producing). */
int se_call_send(se_call *c, const ProtobufCMessage *msg);
/* Ends a stream after every queued message is written. THREAD: any. */
void se_call_finish(se_call *c, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const char *se_call_request_id(const se_call *c);
const se_method_desc *se_call_method(const se_call *c);
/* Value of an incoming metadata key (lower-case) or NULL; valid for the
 * call's lifetime. */
const char *se_call_metadata(const se_call *c, const char *key);
/* Milliseconds until the client's deadline (INT64_MAX when none). */
int64_t se_call_time_left_ms(const se_call *c);
int se_call_is_cancelled(const se_call *c);
/* Runs cb(arg) once, on a server thread, when the client cancels or the
 * deadline passes (or at once if that already happened). Streams only. */
void se_call_on_cancel(se_call *c, void (*cb)(void *arg), void *arg);
/* The server call the current thread is handling, or NULL. */
se_call *se_call_current(void);

/* ---- client ------------------------------------------------------------- */

typedef struct se_channel se_channel;

/* The process-wide channel to `target` ("127.0.0.1:50051"): one per target,
 * created on first use, never freed before se_rpc_shutdown. THREAD: any. */
se_channel *se_channel_get(const char *target);

/* Blocking unary call. Retries idempotent methods on UNAVAILABLE with
 * exponential backoff and jitter, within the deadline (SE_RPC_RETRIES is the
 * total number of attempts).
 * Returns 0 and sets *resp (yours) on OK; otherwise -1, *resp NULL, and
 * `st` (never NULL) says why. */
int se_rpc_unary(se_channel *ch, const se_method_desc *m,
                 const ProtobufCMessage *req, ProtobufCMessage **resp,
                 const se_call_opts *opts, se_status *st);

/* Asynchronous unary call. The callback runs exactly once, on a runtime
 * client thread (never inside this function), with resp (yours, NULL unless
 * st->code is OK). Retries as se_rpc_unary. Returns a handle to cancel with;
 * ON ERROR: NULL, and the callback is never called. */
typedef struct se_pending se_pending;
typedef void (*se_unary_cb)(void *arg, const se_status *st, ProtobufCMessage *resp);
se_pending *se_rpc_unary_async(se_channel *ch, const se_method_desc *m,
                               const ProtobufCMessage *req, const se_call_opts *opts,
                               se_unary_cb cb, void *arg);
/* Typed variant used by generated stubs: `adapt` casts `fn` back to its
 * real type and calls it. */
typedef void (*se_unary_adapter)(void (*fn)(void), void *arg, const se_status *st,
                                 ProtobufCMessage *resp);
se_pending *se_rpc_unary_async_typed(se_channel *ch, const se_method_desc *m,
                                     const ProtobufCMessage *req, const se_call_opts *opts,
                                     se_unary_adapter adapt, void (*fn)(void), void *arg);
/* Cancels a call whose callback has not run yet: it then runs with
 * CANCELLED. The handle is invalid once the callback has returned.
 * THREAD: any, but only before the callback has returned. */
void se_pending_cancel(se_pending *p);

/* Server-streaming call, blocking reader. Returns NULL and fills st on a
 * failure to start. */
typedef struct se_stream se_stream;
se_stream *se_rpc_stream_open(se_channel *ch, const se_method_desc *m,
                              const ProtobufCMessage *req, const se_call_opts *opts,
                              se_status *st);
/* 1: *msg set (yours); 0: the stream ended, st holds its status. */
int se_stream_read(se_stream *s, ProtobufCMessage **msg, se_status *st);
/* Cancels if still running, then frees. */
void se_stream_close(se_stream *s);

/* Server-streaming call, asynchronous: on_message for each message (yours),
 * then on_end exactly once; both on a runtime client thread, never
 * concurrently for one stream. After on_end returns the handle is freed. */
typedef struct se_stream_cbs {
    void (*on_message)(void *arg, ProtobufCMessage *msg);
    void (*on_end)(void *arg, const se_status *st);
} se_stream_cbs;
se_pending *se_rpc_stream_async(se_channel *ch, const se_method_desc *m,
                                const ProtobufCMessage *req, const se_call_opts *opts,
                                const se_stream_cbs *cbs, void *arg);

/* Generates a request id (32 hex chars) into buf (>= 33 bytes). */
void se_request_id_new(char *buf);

#endif
