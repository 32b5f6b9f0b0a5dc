/* gw_server.c - threads, event loops and listeners of the gateway.
 *
 * DESIGN: gw_server_start opens all listening sockets on the main thread
 * (after a plain bind has checked the port is free, and picked it when the
 * address says port 0) and creates
 * one evloop + h2o_context_t per thread, then starts the threads; from then
 * on each loop is touched only by its own thread. Stopping: the main thread
 * sets `stopping` and wakes every loop through its queue; each loop closes
 * its listener, calls h2o_context_request_shutdown (HTTP/2 GOAWAY) and keeps
 * running until its holds (live requests, RPCs in flight) reach zero or
 * grace_ms passes. Idle keep-alive connections are not waited for; modules
 * with long-lived work (WebSockets) get an on_drain call to wind it down.
 */
#include "gw_server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gw_access_log.h"
#include "gw_router.h"
#include "se_log.h"

struct gw_loop {
    h2o_context_t ctx;            /* first: gw_loop_of casts from it */
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_receiver_t tasks; /* gw_task messages and wake-ups */
    h2o_socket_t *listener;       /* NULL once closed */
    int listen_fd;                /* -1 once handed to h2o */
    size_t holds;                 /* live requests + pending tasks; loop thread only */
    uint64_t accepted;            /* connections accepted; loop thread only */
    int index;
    pthread_t tid;
    int started;                  /* thread created */
    int ready;                    /* context set up; under server->ready_lock */
    gw_server *server;
    struct {
        void *data;
        void (*dispose)(void *data);
        void (*on_drain)(void *data);
    } locals[GW_LOOP_N_SLOTS];    /* gw_loop_local; loop thread only */
    int draining;                 /* drain() started; loop thread only */
};

_Static_assert(offsetof(gw_loop, ctx) == 0, "gw_loop_of casts h2o_context_t * to gw_loop *");

struct gw_server {
    h2o_globalconf_t conf;
    pthread_mutex_t ready_lock;   /* guards gw_loop.ready */
    pthread_cond_t ready_cond;    /* signalled as each loop becomes ready */
    gw_router *router;
    gw_server_config cfg;
    char *addr;                   /* owned copy of cfg.addr */
    int port;                     /* bound port, after start */
    atomic_int stopping;
    gw_loop *loops;               /* n_loops of them */
    unsigned n_loops;             /* cfg.threads */
    SSL_CTX *ssl_ctx;             /* NULL: plain TCP */
};

/* ---- address and sockets -------------------------------------------------- */

static int split_addr(const char *addr, char *host, size_t cap, const char **port)
{
    const char *colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr)
        return -1;
    const char *h = addr;
    size_t len = (size_t)(colon - addr);
    if (h[0] == '[' && len >= 2 && h[len - 1] == ']') {
        h++;
        len -= 2;
    }
    if (len >= cap)
        return -1;
    memcpy(host, h, len);
    host[len] = '\0';
    *port = colon + 1;
    return 0;
}

static int resolve(const char *addr, int port_override, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256], portbuf[16];
    const char *port;
    if (split_addr(addr, host, sizeof host, &port) != 0) {
        se_log_error("gateway_bad_addr", "SE_GATEWAY_ADDR %s: want host:port", addr);
        return -1;
    }
    if (port_override > 0) {
        snprintf(portbuf, sizeof portbuf, "%d", port_override);
        port = portbuf;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int err = getaddrinfo(host, port, &hints, &res);
    if (err != 0) {
        se_log_error("gateway_bad_addr", "SE_GATEWAY_ADDR %s: %s", addr, gai_strerror(err));
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* A bound socket (SO_REUSEADDR, and SO_REUSEPORT when `reuseport`);
 * port_override > 0 replaces the address's port. ON ERROR: -1, logged. */
static int bind_socket(const char *addr, int port_override, int reuseport)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (resolve(addr, port_override, &ss, &len) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        se_log_error("gateway_listen_failed", "socket for %s: %s", addr, strerror(errno));
        return -1;
    }
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) ||
        bind(fd, (struct sockaddr *)&ss, len) != 0) {
        se_log_error("gateway_listen_failed", "cannot bind %s (port %d): %s", addr,
                     port_override, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* The port `addr` resolves to, checked free: SO_REUSEPORT would let us join
 * another process's listeners silently, so a plain bind probes first (and
 * picks the port when addr's is 0). ON ERROR: -1, logged. */
static int probe_port(const char *addr)
{
    int fd = bind_socket(addr, 0, 0);
    if (fd < 0)
        return -1;
    int port = bound_port(fd);
    close(fd);
    return port;
}

static int open_listener(const char *addr, int port)
{
    int fd = bind_socket(addr, port, 1);
    if (fd >= 0 && listen(fd, SOMAXCONN) != 0) {
        se_log_error("gateway_listen_failed", "listen on %s (port %d): %s", addr, port,
                     strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- loops ------------------------------------------------------------------ */

gw_loop *gw_loop_of(h2o_context_t *ctx)
{
    return (gw_loop *)ctx; /* ctx is gw_loop's first member */
}

int gw_loop_index(const gw_loop *loop)
{
    return loop->index;
}

void gw_loop_hold(gw_loop *loop)
{
    loop->holds++;
}

void gw_loop_release(gw_loop *loop)
{
    loop->holds--;
}

void *gw_loop_local(gw_loop *loop, int slot)
{
    return loop->locals[slot].data;
}

void gw_loop_set_local(gw_loop *loop, int slot, void *data, void (*dispose)(void *data))
{
    loop->locals[slot].data = data;
    loop->locals[slot].dispose = dispose;
}

void gw_loop_set_drain(gw_loop *loop, int slot, void (*on_drain)(void *data))
{
    loop->locals[slot].on_drain = on_drain;
}

int gw_loop_draining(const gw_loop *loop)
{
    return loop->draining;
}

h2o_context_t *gw_loop_ctx(gw_loop *loop)
{
    return &loop->ctx;
}

static void drain_locals(gw_loop *loop)
{
    for (int i = 0; i < GW_LOOP_N_SLOTS; i++)
        if (loop->locals[i].on_drain != NULL && loop->locals[i].data != NULL)
            loop->locals[i].on_drain(loop->locals[i].data);
}

static void dispose_locals(gw_loop *loop)
{
    for (int i = 0; i < GW_LOOP_N_SLOTS; i++) {
        if (loop->locals[i].dispose != NULL)
            loop->locals[i].dispose(loop->locals[i].data);
        loop->locals[i].data = NULL;
        loop->locals[i].dispose = NULL;
        loop->locals[i].on_drain = NULL;
    }
}

void gw_loop_post(gw_loop *loop, gw_task *t)
{
    h2o_multithread_send_message(&loop->tasks, &t->super);
}

static void on_tasks(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    (void)receiver;
    while (!h2o_linklist_is_empty(messages)) {
        gw_task *t = H2O_STRUCT_FROM_MEMBER(gw_task, super.link, messages->next);
        h2o_linklist_unlink(&t->super.link);
        t->run(t);
    }
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    gw_loop *loop = listener->data;
    if (err != NULL)
        return;
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            break;
        loop->accepted++;
        h2o_accept(&loop->accept_ctx, sock);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void drain(gw_loop *loop)
{
    h2o_socket_read_stop(loop->listener);
    h2o_socket_close(loop->listener);
    loop->listener = NULL;
    h2o_context_request_shutdown(&loop->ctx);
    loop->draining = 1;
    drain_locals(loop);
    int64_t deadline = now_ms() + loop->server->cfg.grace_ms;
    while (loop->holds > 0 && now_ms() < deadline)
        h2o_evloop_run(loop->ctx.loop, 10);
    if (loop->holds > 0)
        se_log_warn("gateway_drain_timeout", "loop %d: %zu requests still open after %d ms",
                    loop->index, loop->holds, loop->server->cfg.grace_ms);
    se_log_fields(SE_LOG_INFO, "gateway_loop_stopped", "\"loop\":%d,\"accepted\":%llu",
                  loop->index, (unsigned long long)loop->accepted);
}

static void loop_setup(gw_loop *loop);

static void *loop_main(void *arg)
{
    gw_loop *loop = arg;
    loop_setup(loop);
    loop->listener = h2o_evloop_socket_create(loop->ctx.loop, loop->listen_fd,
                                              H2O_SOCKET_FLAG_DONT_READ);
    loop->listen_fd = -1;
    loop->listener->data = loop;
    h2o_socket_read_start(loop->listener, on_accept);
    while (!atomic_load(&loop->server->stopping))
        h2o_evloop_run(loop->ctx.loop, INT32_MAX);
    drain(loop);
    if (loop->holds == 0)
        dispose_locals(loop); /* else late tasks may still need them */
    return NULL;
}

static void loop_init(gw_server *s, gw_loop *loop, int index, int fd)
{
    memset(loop, 0, sizeof *loop);
    loop->index = index;
    loop->server = s;
    loop->listen_fd = fd;
}

/* Runs on the loop's own thread. h2o 2.2.5 gives each thread its own socket
 * buffer recycler (h2o_socket_buffer_prototype is __thread) and a socket
 * keeps the recycler of the thread that created it: an event loop created on
 * the main thread would make both loops recycle their wake-up pipes' buffers
 * into the main thread's list at once (a use-after-free under load). */
static void loop_setup(gw_loop *loop)
{
    gw_server *s = loop->server;
    h2o_context_init(&loop->ctx, h2o_evloop_create(), &s->conf);
    loop->accept_ctx.ctx = &loop->ctx;
    loop->accept_ctx.hosts = s->conf.hosts;
    loop->accept_ctx.ssl_ctx = s->ssl_ctx;
    h2o_multithread_register_receiver(loop->ctx.queue, &loop->tasks, on_tasks);
    pthread_mutex_lock(&s->ready_lock);
    loop->ready = 1;
    pthread_cond_broadcast(&s->ready_cond);
    pthread_mutex_unlock(&s->ready_lock);
}

/* Waits until every started loop has its context (gw_loop_post may then be
 * used on it). */
static void wait_loops_ready(gw_server *s)
{
    pthread_mutex_lock(&s->ready_lock);
    for (size_t i = 0; i < s->n_loops; i++)
        while (s->loops[i].started && !s->loops[i].ready)
            pthread_cond_wait(&s->ready_cond, &s->ready_lock);
    pthread_mutex_unlock(&s->ready_lock);
}

/* h2o 2.2.5 keeps freed buffers in thread-local recycle pools
 * (h2o_mem_alloc_recycle) that are never emptied, so they become
 * unreachable when a loop thread ends. LeakSanitizer reads this hook of
 * built-in suppressions; it matches only allocations made through that
 * allocator, none of which are ours. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\n";
}

/* ---- TLS ---------------------------------------------------------------------- */

static void log_ssl_error(const char *what, const char *file)
{
    char buf[256];
    unsigned long e = ERR_get_error();
    ERR_error_string_n(e, buf, sizeof buf);
    se_log_error("gateway_tls_failed", "%s %s: %s", what, file, e ? buf : "unknown error");
    ERR_clear_error();
}

/* A server SSL_CTX for cert/key with ALPN h2 then http/1.1.
 * ON ERROR: NULL, logged. */
static SSL_CTX *tls_create(const char *cert, const char *key)
{
    static const h2o_iovec_t alpn[] = {{H2O_STRLIT("h2")}, {H2O_STRLIT("http/1.1")}, {NULL, 0}};
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        log_ssl_error("SSL_CTX_new", "");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        log_ssl_error("certificate (SE_GATEWAY_TLS_CERT)", cert);
    } else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        log_ssl_error("private key (SE_GATEWAY_TLS_KEY)", key);
    } else if (SSL_CTX_check_private_key(ctx) != 1) {
        log_ssl_error("key does not match the certificate", key);
    } else {
        h2o_ssl_register_alpn_protocols(ctx, alpn);
        return ctx;
    }
    SSL_CTX_free(ctx);
    return NULL;
}

static int has(const char *s)
{
    return s != NULL && s[0] != '\0';
}

/* ---- server ----------------------------------------------------------------- */

gw_server *gw_server_create(const gw_server_config *cfg)
{
    if (cfg->threads < 1 || cfg->threads > 1024) {
        se_log_error("gateway_bad_config", "threads %d: want 1..1024", cfg->threads);
        return NULL;
    }
    if (has(cfg->tls_cert) != has(cfg->tls_key)) {
        se_log_error("gateway_bad_config",
                     "TLS needs both SE_GATEWAY_TLS_CERT and SE_GATEWAY_TLS_KEY");
        return NULL;
    }
    SSL_CTX *ssl_ctx = NULL;
    if (has(cfg->tls_cert) && (ssl_ctx = tls_create(cfg->tls_cert, cfg->tls_key)) == NULL)
        return NULL;
    gw_server *s = calloc(1, sizeof *s);
    if (s == NULL)
        abort();
    s->ssl_ctx = ssl_ctx;
    pthread_mutex_init(&s->ready_lock, NULL);
    pthread_cond_init(&s->ready_cond, NULL);
    s->cfg = *cfg;
    s->cfg.tls_cert = s->cfg.tls_key = NULL; /* not copied; not needed after this */
    s->n_loops = (unsigned)cfg->threads;
    s->addr = strdup(cfg->addr);
    s->cfg.addr = s->addr;
    atomic_init(&s->stopping, 0);
    h2o_config_init(&s->conf);
    s->conf.server_name = h2o_iovec_init(H2O_STRLIT("swifteats-gateway"));
    if (cfg->max_body_bytes > 0)
        s->conf.max_request_entity_size = cfg->max_body_bytes;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *root = h2o_config_register_path(host, "/", 0);
    s->router = gw_router_create(root);
    gw_access_log_register(root);
    return s;
}

gw_router *gw_server_router(gw_server *s)
{
    return s->router;
}

int gw_server_port(const gw_server *s)
{
    return s->port;
}

static int open_all(gw_server *s, int *fds)
{
    if ((s->port = probe_port(s->addr)) <= 0)
        return -1;
    for (int i = 0; i < (int)s->n_loops; i++) {
        fds[i] = open_listener(s->addr, s->port);
        if (fds[i] < 0) {
            while (--i >= 0)
                close(fds[i]);
            return -1;
        }
    }
    return 0;
}

int gw_server_start(gw_server *s)
{
    int *fds = calloc(s->n_loops, sizeof *fds);
    if (fds == NULL)
        abort();
    if (open_all(s, fds) != 0) {
        free(fds);
        return -1;
    }
    s->loops = calloc(s->n_loops, sizeof *s->loops);
    if (s->loops == NULL)
        abort();
    for (int i = 0; i < (int)s->n_loops; i++)
        loop_init(s, &s->loops[i], i, fds[i]);
    free(fds);
    for (int i = 0; i < (int)s->n_loops; i++) {
        int err = pthread_create(&s->loops[i].tid, NULL, loop_main, &s->loops[i]);
        if (err != 0) {
            se_log_error("gateway_thread_failed", "loop %d: pthread_create: %s", i, strerror(err));
            gw_server_stop(s);
            return -1;
        }
        s->loops[i].started = 1;
    }
    wait_loops_ready(s);
    return 0;
}

void gw_server_stop(gw_server *s)
{
    if (s->loops == NULL || atomic_exchange(&s->stopping, 1))
        return;
    wait_loops_ready(s); /* a loop's receiver exists once it is ready */
    for (int i = 0; i < (int)s->n_loops; i++)
        if (s->loops[i].started)
            h2o_multithread_send_message(&s->loops[i].tasks, NULL); /* wake up */
    for (int i = 0; i < (int)s->n_loops; i++) {
        if (s->loops[i].started)
            pthread_join(s->loops[i].tid, NULL);
        else if (s->loops[i].listen_fd >= 0)
            close(s->loops[i].listen_fd);
    }
}

/* A stopped server whose loops ran: h2o 2.2.5 cannot close idle keep-alive
 * connections on request, so their contexts cannot be disposed safely.
 * They are kept reachable here (volatile: the store must not be optimised
 * away) for leak checkers, and freed by the process exit that follows. */
static gw_server *volatile stopped_with_open_connections;

void gw_server_destroy(gw_server *s)
{
    if (s == NULL)
        return;
    gw_server_stop(s);
    if (s->loops != NULL) {
        stopped_with_open_connections = s;
        return;
    }
    gw_router_destroy(s->router);
    pthread_cond_destroy(&s->ready_cond);
    pthread_mutex_destroy(&s->ready_lock);
    h2o_config_dispose(&s->conf);
    if (s->ssl_ctx != NULL)
        SSL_CTX_free(s->ssl_ctx);
    free(s->addr);
    free(s);
}
