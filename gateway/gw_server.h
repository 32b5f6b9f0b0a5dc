/* gw_server.h - the gateway's HTTP server: N h2o event loops on N threads.
 *
 * One h2o_globalconf_t is shared by every loop; each loop has its own
 * h2o_context_t and its own SO_REUSEPORT listening socket on the same
 * address, so the kernel spreads connections evenly across threads.
 *
 * Cross-thread hand-off into a loop goes only through gw_loop_post (an
 * h2o_multithread queue). Anything a loop must wait for before it may exit
 * (a live HTTP request, an RPC whose answer will be posted back) holds the
 * loop with gw_loop_hold/gw_loop_release.
 */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <h2o.h>

typedef struct gw_server gw_server;
typedef struct gw_loop gw_loop;
typedef struct gw_router gw_router;

typedef struct gw_server_config {
    const char *addr; /* "127.0.0.1:8080", "[::1]:8080"; port 0 picks a free one */
    int threads;      /* event loops, >= 1 */
    int grace_ms;     /* how long a stopping loop waits for in-flight work */
    size_t max_body_bytes; /* h2o's request body limit (max_request_entity_size);
                              0: h2o's default */
    const char *tls_cert;  /* PEM certificate chain file; with tls_key, every
                              listener speaks TLS with ALPN h2 and http/1.1 */
    const char *tls_key;   /* PEM private key file; NULL/"" (both): plain TCP */
} gw_server_config;

/* Creates the shared configuration and the router (no sockets yet).
 * OWNERSHIP: caller destroys with gw_server_destroy; cfg->addr is copied.
 * ON ERROR: NULL, logged. THREAD: main. */
gw_server *gw_server_create(const gw_server_config *cfg);
/* The router, to add routes before gw_server_start. Owned by the server. */
gw_router *gw_server_router(gw_server *s);
/* Binds one listener per loop and starts the loop threads.
 * ON ERROR: -1, logged (bad address, port taken), nothing left running. */
int gw_server_start(gw_server *s);
/* The bound port, after a successful start. */
int gw_server_port(const gw_server *s);
/* Stops accepting, asks HTTP/2 clients to go away, lets every loop finish
 * its in-flight work (up to grace_ms) and joins the threads.
 * THREAD: main (not a loop thread). Idempotent. */
void gw_server_stop(gw_server *s);
void gw_server_destroy(gw_server *s);

/* ---- loops (for handlers) ------------------------------------------------ */

/* A unit of work posted to a loop from any thread. Zero it before use; its
 * `run` is called once on the loop thread, after which the loop no longer
 * touches it (run may free it). */
typedef struct gw_task {
    h2o_multithread_message_t super; /* must be first; zeroed */
    void (*run)(struct gw_task *t);
} gw_task;

/* The loop that owns `ctx` (every h2o_req_t's req->conn->ctx). */
gw_loop *gw_loop_of(h2o_context_t *ctx);
/* Queues `t` to run on `loop`'s thread. THREAD: any. */
void gw_loop_post(gw_loop *loop, gw_task *t);
/* Keeps the loop alive during shutdown until the matching release.
 * THREAD: the loop's own. */
void gw_loop_hold(gw_loop *loop);
void gw_loop_release(gw_loop *loop);
/* 0-based index of the loop (for logs). */
int gw_loop_index(const gw_loop *loop);

/* Per-loop state of a module (buffers, free lists): one slot per module,
 * filled lazily on the loop thread. `dispose` (may be NULL) runs on the loop
 * thread after the loop has drained, when it stops. THREAD: the loop's. */
enum {
    GW_LOOP_SLOT_PROXY,
    GW_LOOP_SLOT_ENTITY,
    GW_LOOP_SLOT_EDGE,
    GW_LOOP_SLOT_INGEST,
    GW_LOOP_SLOT_WS,
    GW_LOOP_SLOT_WATCH,
    GW_LOOP_N_SLOTS
};
void *gw_loop_local(gw_loop *loop, int slot);
void gw_loop_set_local(gw_loop *loop, int slot, void *data, void (*dispose)(void *data));
/* Runs on_drain(data) of the slot on the loop thread once, when the loop
 * starts draining (the server is stopping), before it waits for its holds:
 * for work that would otherwise hold the loop until grace_ms (long-lived
 * connections such as WebSockets). Set it with or after the slot's data. */
void gw_loop_set_drain(gw_loop *loop, int slot, void (*on_drain)(void *data));
/* 1 once the loop is draining (new long-lived work should be refused). */
int gw_loop_draining(const gw_loop *loop);
/* The loop's h2o context (timers: ctx->loop). */
h2o_context_t *gw_loop_ctx(gw_loop *loop);

#endif
