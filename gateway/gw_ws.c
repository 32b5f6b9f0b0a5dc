/* gw_ws.c - WebSocket connections over h2o 2.2.5 and wslay (gw_ws.h).
 *
 * DESIGN
 * h2o_upgrade_to_websocket hides the two events a pusher needs (the 101
 * written, a write completed), so the upgrade is done here the same way
 * (h2o_http1_upgrade, h2o_websocket_create_accept_key) with our wslay
 * callbacks on h2o's public h2o_websocket_conn_t, and h2o_websocket_proceed
 * still runs the read/write loop:
 *  - send: frames are gathered in the connection's buffer (wslay passes the
 *    header with WSLAY_MSG_MORE, then the payload) and written with one
 *    h2o_socket_write; while it is in flight wslay gets WOULDBLOCK. Its
 *    completion offers on_writable (when wslay's queue is empty), then
 *    proceeds.
 *  - h2o calls conn->cb(conn, NULL) when the connection is over (closing
 *    handshake done, read error); always as the last thing it does with
 *    conn, so conn is closed right there; our own teardown (the owner's
 *    on_close, free) is deferred to a 0 ms timer, so no caller ever finds
 *    its gw_ws freed under it.
 *  - re-entrancy: inside wslay callbacks (on_message) and on_writable,
 *    `in_wslay` makes gw_ws calls only queue: the proceed loop around them
 *    sends.
 * Per loop (slot GW_LOOP_SLOT_WS): the list of connections (closed with
 * 1001 on drain) and three h2o timeouts shared by all of them (ping, close
 * timeout, teardown); a connection has one entry for ping-or-close and one
 * for teardown.
 */
#include "gw_ws.h"

#include <h2o/websocket.h>
#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gw_json.h"
#include "se_config.h"
#include "se_log.h"

#define CLOSE_REASON_MAX 123 /* a close frame's payload is at most 125 bytes */

typedef struct ws_local {
    gw_loop *loop;
    h2o_linklist_t all;          /* gw_ws.link */
    h2o_timeout_t ping_to, close_to, reap_to;
    gw_ws_config cfg;
} ws_local;

struct gw_ws {
    h2o_websocket_conn_t *conn;  /* NULL once the connection is closed */
    ws_local *l;
    const gw_ws_handler *h;
    void *data;
    h2o_linklist_t link;         /* l->all */
    h2o_timeout_entry_t timer;   /* ping; once the close is queued, its timeout */
    h2o_timeout_entry_t reaper;  /* teardown at the end of the iteration */
    char *wbuf;                  /* frames being gathered or written */
    size_t wlen, wcap;
    int in_wslay;                /* > 0: only queue, the caller proceeds */
    int open;                    /* the 101 is out, conn->sock is set */
    int close_code;              /* 0: no close asked or received */
    int close_queued;            /* our close frame is queued (or the peer's came) */
    char close_reason[CLOSE_REASON_MAX + 1];
};

static atomic_size_t open_count;

size_t gw_ws_open_count(void)
{
    return atomic_load(&open_count);
}

void gw_ws_config_from_env(gw_ws_config *cfg)
{
    cfg->ping_s = (int)se_env_int("SE_GATEWAY_WS_PING_S", 20, 1, 3600);
    cfg->close_timeout_ms = (int)se_env_int("SE_GATEWAY_WS_CLOSE_TIMEOUT_MS", 1000, 1, 600000);
    cfg->max_msg_bytes = (size_t)se_env_int("SE_GATEWAY_WS_MAX_MSG_BYTES", 4096, 16, 1 << 20);
}

static h2o_loop_t *evloop(ws_local *l)
{
    return gw_loop_ctx(l->loop)->loop;
}

/* ---- the end of a connection ------------------------------------------------ */

static void unlink_timer(h2o_timeout_entry_t *e)
{
    if (h2o_timeout_is_linked(e))
        h2o_timeout_unlink(e);
}

/* Closes the socket now (it must be the caller's last use of conn) and
 * schedules the teardown. */
static void conn_gone(gw_ws *ws)
{
    if (ws->conn == NULL)
        return;
    h2o_websocket_close(ws->conn);
    ws->conn = NULL;
    ws->open = 0;
    unlink_timer(&ws->timer);
    h2o_timeout_link(evloop(ws->l), &ws->l->reap_to, &ws->reaper);
}

static void on_reap(h2o_timeout_entry_t *e)
{
    gw_ws *ws = H2O_STRUCT_FROM_MEMBER(gw_ws, reaper, e);
    ws_local *l = ws->l;
    unlink_timer(&ws->timer);
    h2o_linklist_unlink(&ws->link);
    if (ws->h->on_close != NULL)
        ws->h->on_close(ws, ws->data);
    free(ws->wbuf);
    free(ws);
    atomic_fetch_sub(&open_count, 1);
    gw_loop_release(l->loop);
}

/* h2o: the connection is over (arg is always NULL with our callbacks). */
static void on_conn_event(h2o_websocket_conn_t *conn, const struct wslay_event_on_msg_recv_arg *arg)
{
    if (arg == NULL)
        conn_gone(conn->data);
}

/* ---- wslay callbacks ----------------------------------------------------------- */

static ssize_t ws_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    (void)flags;
    h2o_socket_t *sock = ((h2o_websocket_conn_t *)user)->sock;
    if (sock->input->size == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (len > sock->input->size)
        len = sock->input->size;
    memcpy(buf, sock->input->bytes, len);
    h2o_buffer_consume(&sock->input, len);
    return (ssize_t)len;
}

static void queue_close(gw_ws *ws);

/* Write completion: offer the room to the owner, then go on. */
static void on_written(h2o_socket_t *sock, const char *err)
{
    h2o_websocket_conn_t *conn = sock->data;
    gw_ws *ws = conn->data;
    if (err != NULL) {
        conn_gone(ws);
        return;
    }
    ws->wlen = 0;
    if (wslay_event_get_queued_msg_count(conn->ws_ctx) == 0) {
        ws->in_wslay++;
        if (ws->close_code != 0 && !ws->close_queued)
            queue_close(ws);
        else if (ws->close_code == 0 && ws->h->on_writable != NULL)
            ws->h->on_writable(ws, ws->data);
        ws->in_wslay--;
    }
    h2o_websocket_proceed(conn);
}

static ssize_t ws_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    h2o_websocket_conn_t *conn = user;
    gw_ws *ws = conn->data;
    if (h2o_socket_is_writing(conn->sock)) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    if (ws->wlen + len > ws->wcap) {
        size_t cap = ws->wcap ? ws->wcap : 256;
        while (cap < ws->wlen + len)
            cap *= 2;
        char *p = realloc(ws->wbuf, cap);
        if (p == NULL) {
            wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
            return -1;
        }
        ws->wbuf = p;
        ws->wcap = cap;
    }
    memcpy(ws->wbuf + ws->wlen, data, len);
    ws->wlen += len;
    if (!(flags & WSLAY_MSG_MORE)) {
        h2o_iovec_t buf = h2o_iovec_init(ws->wbuf, ws->wlen);
        h2o_socket_write(conn->sock, &buf, 1, on_written);
    }
    return (ssize_t)len;
}

static void ws_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                      void *user)
{
    (void)ctx;
    gw_ws *ws = ((h2o_websocket_conn_t *)user)->data;
    if (arg->opcode == WSLAY_CONNECTION_CLOSE) {
        /* wslay answers it; nothing more may be sent */
        if (ws->close_code == 0)
            ws->close_code = arg->status_code ? arg->status_code : WSLAY_CODE_NO_STATUS_RCVD;
        ws->close_queued = 1;
        return;
    }
    if (arg->opcode != WSLAY_TEXT_FRAME && arg->opcode != WSLAY_BINARY_FRAME)
        return; /* ping/pong: wslay's business */
    if (ws->close_code != 0 || ws->h->on_message == NULL)
        return;
    ws->in_wslay++;
    ws->h->on_message(ws, ws->data, arg->opcode == WSLAY_TEXT_FRAME, arg->msg, arg->msg_length);
    ws->in_wslay--;
}

/* ---- sending ------------------------------------------------------------------- */

/* Lets h2o/wslay write what is queued; the caller's last use of conn. */
static void kick(gw_ws *ws)
{
    if (ws->conn != NULL && ws->open && ws->in_wslay == 0)
        h2o_websocket_proceed(ws->conn);
}

static void queue_close(gw_ws *ws)
{
    ws->close_queued = 1;
    wslay_event_queue_close(ws->conn->ws_ctx, (uint16_t)ws->close_code,
                            (const uint8_t *)ws->close_reason, strlen(ws->close_reason));
    unlink_timer(&ws->timer);
    h2o_timeout_link(evloop(ws->l), &ws->l->close_to, &ws->timer);
}

int gw_ws_writable(const gw_ws *ws)
{
    return ws->conn != NULL && ws->open && ws->close_code == 0 && ws->wlen == 0 &&
           !h2o_socket_is_writing(ws->conn->sock) &&
           wslay_event_get_queued_msg_count(ws->conn->ws_ctx) == 0;
}

int gw_ws_send_text(gw_ws *ws, const char *text, size_t len)
{
    if (ws->conn == NULL || !ws->open || ws->close_code != 0)
        return -1;
    struct wslay_event_msg m = {WSLAY_TEXT_FRAME, (const uint8_t *)text, len};
    if (wslay_event_queue_msg(ws->conn->ws_ctx, &m) != 0)
        return -1;
    kick(ws);
    return 0;
}

/* Longest prefix of s, at most max bytes, that is whole UTF-8. */
static size_t utf8_prefix(const char *s, size_t max)
{
    size_t len = strlen(s);
    if (len > max)
        len = max;
    while (len > 0 && !gw_utf8_valid(s, len))
        len--;
    return len;
}

void gw_ws_close(gw_ws *ws, uint16_t code, const char *reason)
{
    if (ws->conn == NULL || ws->close_code != 0)
        return;
    ws->close_code = code;
    const char *rs = reason != NULL ? reason : "";
    size_t n = utf8_prefix(rs, CLOSE_REASON_MAX);
    memcpy(ws->close_reason, rs, n);
    ws->close_reason[n] = '\0';
    /* not open yet: on_upgraded queues it; data queued: on_written does */
    if (ws->open && wslay_event_get_queued_msg_count(ws->conn->ws_ctx) == 0) {
        queue_close(ws);
        kick(ws);
    }
}

/* ---- timers --------------------------------------------------------------------- */

static void on_timer(h2o_timeout_entry_t *e)
{
    gw_ws *ws = H2O_STRUCT_FROM_MEMBER(gw_ws, timer, e);
    if (ws->conn == NULL)
        return;
    if (ws->close_queued) { /* the client never answered our close */
        conn_gone(ws);
        return;
    }
    struct wslay_event_msg ping = {WSLAY_PING, NULL, 0};
    wslay_event_queue_msg(ws->conn->ws_ctx, &ping);
    h2o_timeout_link(evloop(ws->l), &ws->l->ping_to, &ws->timer);
    kick(ws);
}

/* ---- per-loop state -------------------------------------------------------------- */

static void on_drain(void *p)
{
    ws_local *l = p;
    for (h2o_linklist_t *n = l->all.next; n != &l->all; n = n->next) {
        gw_ws *ws = H2O_STRUCT_FROM_MEMBER(gw_ws, link, n);
        gw_ws_close(ws, WSLAY_CODE_GOING_AWAY, "gateway shutting down");
    }
}

static void local_dispose(void *p)
{
    ws_local *l = p;
    h2o_loop_t *loop = evloop(l);
    /* the loop drained: every connection was torn down */
    h2o_timeout_dispose(loop, &l->ping_to);
    h2o_timeout_dispose(loop, &l->close_to);
    h2o_timeout_dispose(loop, &l->reap_to);
    free(l);
}

static ws_local *local_of(gw_loop *loop, const gw_ws_config *cfg)
{
    ws_local *l = gw_loop_local(loop, GW_LOOP_SLOT_WS);
    if (l != NULL)
        return l;
    if ((l = calloc(1, sizeof *l)) == NULL)
        abort();
    l->loop = loop;
    l->cfg = *cfg;
    h2o_linklist_init_anchor(&l->all);
    h2o_loop_t *el = evloop(l);
    h2o_timeout_init(el, &l->ping_to, (uint64_t)cfg->ping_s * 1000);
    h2o_timeout_init(el, &l->close_to, (uint64_t)cfg->close_timeout_ms);
    h2o_timeout_init(el, &l->reap_to, 0);
    gw_loop_set_local(loop, GW_LOOP_SLOT_WS, l, local_dispose);
    gw_loop_set_drain(loop, GW_LOOP_SLOT_WS, on_drain);
    return l;
}

/* ---- the upgrade ------------------------------------------------------------------ */

static void on_upgraded(void *user, h2o_socket_t *sock, size_t reqsize)
{
    gw_ws *ws = user;
    if (sock == NULL) { /* the 101 could not be written */
        conn_gone(ws);
        return;
    }
    h2o_websocket_conn_t *conn = ws->conn;
    conn->sock = sock;
    sock->data = conn;
    h2o_buffer_consume(&sock->input, reqsize);
    ws->open = 1;
    h2o_timeout_link(evloop(ws->l), &ws->l->ping_to, &ws->timer);
    ws->in_wslay++;
    if (ws->close_code != 0)
        queue_close(ws); /* asked to close (drain) before the 101 was out */
    else if (ws->h->on_open != NULL)
        ws->h->on_open(ws, ws->data);
    ws->in_wslay--;
    h2o_websocket_proceed(conn);
}

/* Sec-WebSocket-Accept for a 24-character key (RFC 6455 4.2.2): h2o 2.2.5's
 * library does not export h2o_websocket_create_accept_key. */
static void accept_key_of(char dst[29], const char *client_key)
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char src[24 + sizeof guid - 1], digest[SHA_DIGEST_LENGTH];
    memcpy(src, client_key, 24);
    memcpy(src + 24, guid, sizeof guid - 1);
    SHA1(src, sizeof src, digest);
    h2o_base64_encode(dst, digest, sizeof digest, 0);
    dst[28] = '\0';
}

static h2o_websocket_conn_t *conn_new(gw_ws *ws, size_t max_msg)
{
    h2o_websocket_conn_t *conn = calloc(1, sizeof *conn); /* h2o_websocket_close frees it */
    if (conn == NULL)
        return NULL;
    conn->ws_callbacks.recv_callback = ws_recv;
    conn->ws_callbacks.send_callback = ws_send;
    conn->ws_callbacks.on_msg_recv_callback = ws_on_msg;
    conn->data = ws;
    conn->cb = on_conn_event;
    if (wslay_event_context_server_init(&conn->ws_ctx, &conn->ws_callbacks, conn) != 0) {
        free(conn);
        return NULL;
    }
    wslay_event_config_set_max_recv_msg_length(conn->ws_ctx, max_msg);
    return conn;
}

gw_ws *gw_ws_upgrade(gw_request *r, const char *client_key, const gw_ws_config *cfg,
                     const gw_ws_handler *h, void *data)
{
    h2o_req_t *req = r->req;
    ws_local *l = local_of(r->loop, cfg);
    gw_ws *ws = calloc(1, sizeof *ws);
    if (ws == NULL || (ws->conn = conn_new(ws, l->cfg.max_msg_bytes)) == NULL) {
        se_log_error("ws_upgrade_failed", "request %s: out of memory", r->request_id);
        free(ws);
        return NULL;
    }
    ws->l = l;
    ws->h = h;
    ws->data = data;
    ws->timer.cb = on_timer;
    ws->reaper.cb = on_reap;
    h2o_linklist_insert(&l->all, &ws->link);
    gw_loop_hold(l->loop);
    atomic_fetch_add(&open_count, 1);

    char accept_key[29];
    accept_key_of(accept_key, client_key);
    req->res.status = 101;
    req->res.reason = "Switching Protocols";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_UPGRADE, NULL,
                   H2O_STRLIT("websocket"));
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("sec-websocket-accept"), 0,
                          NULL, accept_key, strlen(accept_key));
    h2o_http1_upgrade(req, NULL, 0, on_upgraded, ws);
    return ws;
}
