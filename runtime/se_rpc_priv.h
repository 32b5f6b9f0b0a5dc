/* se_rpc_priv.h - internal to the RPC core (se_rpc_*.c), do not use elsewhere.
 *
 * Shared pieces of the server (se_rpc_server.c, se_rpc_call.c) and the
 * client (se_rpc_client.c, se_rpc_stream.c): completion-queue tags, the
 * server call struct, message coding, time and configuration helpers.
 * Allocation policy: gpr_malloc/gpr_zalloc, which abort on exhaustion, so
 * there are no NULL checks after them.
 */
#ifndef SE_RPC_PRIV_H
#define SE_RPC_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <grpc/grpc.h>

#include "se_rpc_internal.h"

#define SE_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* Longest request id we keep from `x-request-id` (longer ones are replaced). */
#define SE_REQUEST_ID_MAX 64
#define SE_MD_REQUEST_ID "x-request-id"

/* ---- completion-queue tags -----------------------------------------------
 * Every tag handed to gRPC points at an se__tag embedded in a runtime object;
 * `kind` tells the completion-queue thread which object and which batch. */
typedef enum se__tag_kind {
    SE_TAG_CALL_ARRIVED,   /* se_call: request_registered_call completed */
    SE_TAG_CALL_CLOSED,    /* se_call: RECV_CLOSE_ON_SERVER (streams) */
    SE_TAG_CALL_SENT,      /* se_call: one SEND_MESSAGE of a stream */
    SE_TAG_CALL_RECEIVED,  /* se_call: one RECV_MESSAGE (client/bidi streams) */
    SE_TAG_CALL_DONE,      /* se_call: the final status batch */
    SE_TAG_UNKNOWN_ARRIVED, /* unknown-method slot: request_call completed */
    SE_TAG_UNKNOWN_DONE,   /* unknown-method slot: UNIMPLEMENTED sent */
    SE_TAG_PENDING_MAIN,   /* se_pending: unary batch, or a stream's send batch */
    SE_TAG_PENDING_MSG,    /* se_pending: a stream's RECV_MESSAGE */
    SE_TAG_PENDING_STATUS, /* se_pending: a stream's RECV_STATUS_ON_CLIENT */
} se__tag_kind;

typedef struct se__tag {
    se__tag_kind kind;
} se__tag;

/* ---- configuration (read once from the environment) ---------------------- */
typedef struct se__rpc_config {
    int threads;        /* SE_RPC_THREADS, server CQ threads (default 2) */
    int grace_ms;       /* SE_RPC_GRACE_MS, shutdown drain (default 5000) */
    int timeout_ms;     /* SE_RPC_TIMEOUT_MS, client deadline (default 5000) */
    int attempts;       /* SE_RPC_RETRIES, max attempts incl. the first (3) */
    int retry_base_ms;  /* SE_RPC_RETRY_BASE_MS, backoff base (20) */
    int retry_cap_ms;   /* SE_RPC_RETRY_CAP_MS, backoff cap (1000) */
    int max_msg_bytes;  /* SE_RPC_MAX_MSG_BYTES, receive limit (8 MiB) */
} se__rpc_config;

const se__rpc_config *se__rpc_cfg(void);

/* ---- server side: registered methods and calls --------------------------- */
/* Bytes inside each se_call for its decoded request: small requests need no
 * allocation at all, larger ones spill into the grpc_call's arena. */
#define SE_CALL_ARENA 256
typedef struct se__method_reg {
    se_server *server;
    const se_method_desc *m;
    const void *handlers;
    void *ctx;
    void *handle;        /* from grpc_server_register_method */
    atomic_int slots;    /* request slots kept posted (grows, see repost) */
    atomic_int live;     /* calls of this method arrived and not yet freed */
} se__method_reg;

/* Request slots per method: start with the server's thread count, grow by
 * one whenever an arrival finds as many calls of the method live as slots
 * posted, up to this many. */
#define SE_SLOTS_MAX 64

struct se_call {
    se__tag t_arrived, t_closed, t_sent, t_received, t_done;
    se__method_reg *reg;
    grpc_call *call;
    gpr_timespec deadline;       /* as gRPC reported it (any clock) */
    grpc_metadata_array md;      /* incoming metadata */
    grpc_byte_buffer *payload;   /* unary/server-streaming request bytes, or
                                    the message of the RECV_MESSAGE in flight */
    ProtobufCMessage *req;       /* decoded request (unary, server streaming),
                                    in the call's arena: gone with the call */
    atomic_int refs;             /* see DESIGN in se_rpc_call.c */
    atomic_int completed;        /* reply/fail/finish was called */
    atomic_int cancelled;        /* RECV_CLOSE_ON_SERVER said cancelled */
    int close_cancelled;         /* out-param of RECV_CLOSE_ON_SERVER */
    int read_dead;               /* client stream: stop invoking (error sent) */
    char request_id[SE_REQUEST_ID_MAX + 1];

    /* stream state, under mu */
    pthread_mutex_t mu;
    grpc_byte_buffer **q;        /* ring of queued outbound messages */
    size_t q_head, q_len, q_cap;
    int sending;                 /* a SEND_MESSAGE batch is in flight */
    int finish_pending;          /* status goes out when the queue drains */
    int broken;                  /* a send failed: drop everything */
    int initial_md_sent;         /* touched only by the current sender */
    void (*on_cancel)(void *arg);
    void *on_cancel_arg;
    grpc_byte_buffer *send_bb;   /* message of the SEND batch in flight */
    grpc_status_code status;     /* final status sent */
    char status_msg[256];

    /* memory for the decoded request (see se__call_alloc); not zeroed */
    size_t arena_used;
    _Alignas(16) unsigned char arena[SE_CALL_ARENA];
};

/* se_rpc_call.c, used by se_rpc_server.c */
se_call *se__call_new(se__method_reg *reg);
void se__call_free_unused(se_call *c);     /* a slot that never got a call */
void se__call_arrived(se_call *c);          /* refs: takes the dispatch ref */
void se__call_event(se__tag *t, int ok);    /* any other SE_TAG_CALL_* */
void se__call_unref(se_call *c);
int se__call_invoke(se_call *c, const ProtobufCMessage *req);

/* se_rpc_server.c, used by se_rpc_call.c */
/* A call of reg that arrived has been freed (the server may be destroyed
 * after). */
void se__server_call_ended(se__method_reg *reg);

/* ---- messages ----------------------------------------------------------- */
/* Serializes msg into one refcounted slice (gRPC-owned memory). */
grpc_slice se__encode_slice(const ProtobufCMessage *msg);
/* A byte buffer holding msg. OWNERSHIP: caller destroys it. */
grpc_byte_buffer *se__encode(const ProtobufCMessage *msg);
/* Decodes bb as `desc`; NULL when the bytes are not a valid message.
 * alloc NULL: the message is the caller's (se_msg_free); otherwise it lives
 * in that allocator's memory (see se__arena_allocator). */
ProtobufCMessage *se__decode(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *bb,
                             ProtobufCAllocator *alloc);
/* A protobuf-c allocator over the server call's memory: c->arena, then the
 * grpc_call's arena. Everything goes away with the call; free is a no-op. */
ProtobufCAllocator se__call_allocator(se_call *c);
/* Fills st from a received status and its details slice. */
void se__status_from_grpc(se_status *st, grpc_status_code code, grpc_slice details);

/* ---- time and randomness ------------------------------------------------ */
gpr_timespec se__deadline_in_ms(int64_t ms);   /* ms < 0: infinite */
int64_t se__ms_until(gpr_timespec t);          /* INT64_MAX for infinite */
uint64_t se__rand64(void);                     /* thread-local PRNG */

/* ---- client ------------------------------------------------------------- */
/* Outgoing metadata of a client call: x-request-id plus opts->metadata. */
#define SE_MD_INLINE 4
typedef struct se__md_out {
    grpc_metadata *md;          /* md_inline or allocated; do not move the struct */
    size_t n;
    grpc_metadata md_inline[SE_MD_INLINE];
    char request_id[SE_REQUEST_ID_MAX + 1];
    char *blob;                 /* copies of the opts strings (copy mode) */
} se__md_out;
/* copy: 1 copies the strings (for calls outliving the caller's opts). */
void se__md_build(se__md_out *o, const se_call_opts *opts, int copy);
void se__md_dispose(se__md_out *o);
/* The server call to propagate from (thread's current call unless detached). */
grpc_call *se__parent_call(const se_call_opts *opts);
/* Absolute deadline from opts->timeout_ms or SE_RPC_TIMEOUT_MS. */
gpr_timespec se__client_deadline(const se_call_opts *opts);
/* Methods registered on a channel (grpc_channel_register_call), found by
 * their descriptor's address: open addressing, lock-free lookups, inserts
 * under the channel's mutex. A full table falls back to unregistered calls. */
#define SE_CHAN_METHODS 128
typedef struct se__chan_method {
    _Atomic(const se_method_desc *) m; /* set last (release), never cleared */
    void *handle;
} se__chan_method;

struct se_channel {
    struct se_channel *next;
    grpc_channel *ch;
    pthread_mutex_t mu;         /* inserts into methods[] */
    se__chan_method methods[SE_CHAN_METHODS];
    char target[];
};

/* Stops the client thread and frees channels (se_rpc_shutdown). */
void se__client_shutdown(void);
/* se_rpc_async.c: stops the client thread (it drains its queue). */
void se__async_shutdown(void);
/* A thread's blocking-call completion queue (pluck), created on first use. */
grpc_completion_queue *se__thread_cq(void);
/* Backoff before attempt `attempt + 1` (full jitter), in ms. */
int64_t se__retry_delay_ms(int attempt);
/* 1 when a call of m with opts may be retried on UNAVAILABLE. */
int se__retryable(const se_method_desc *m, const se_call_opts *opts);
/* A client call on cq, propagating from parent when not NULL. */
grpc_call *se__create_call(se_channel *ch, const se_method_desc *m, grpc_call *parent,
                           grpc_completion_queue *cq, gpr_timespec deadline);

/* Buffers of one client attempt: the request and everything received. */
typedef struct se__client_io {
    grpc_byte_buffer *send_bb;
    grpc_metadata_array recv_initial;
    grpc_metadata_array recv_trailing;
    grpc_byte_buffer *recv_bb;
    grpc_status_code status;
    grpc_slice details;
} se__client_io;

void se__io_init(se__client_io *io, grpc_slice req);
void se__io_dispose(se__client_io *io);
/* SEND_INITIAL_METADATA, SEND_MESSAGE, SEND_CLOSE_FROM_CLIENT,
 * RECV_INITIAL_METADATA into ops[0..4); returns 4. */
size_t se__io_send_ops(grpc_op *ops, se__client_io *io, const se__md_out *md);
void se__io_recv_message_op(grpc_op *op, se__client_io *io);
void se__io_status_op(grpc_op *op, se__client_io *io);
/* Status and decoded response of a finished unary attempt; disposes io. */
void se__io_unary_result(se__client_io *io, const se_method_desc *m,
                         const ProtobufCAllocator *alloc, ProtobufCMessage **resp,
                         se_status *st);

#endif
