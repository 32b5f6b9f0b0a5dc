/* gw_ws.h - server WebSocket connections on h2o 2.2.5 + wslay, for routes
 * that push to clients (gw_order_watch.c).
 *
 * WebSocket exists only over the HTTP/1.1 upgrade (a route added with
 * GW_ROUTER_WEBSOCKET). gw_ws_upgrade answers 101 and takes the socket
 * over; from then on the connection is driven by h2o_websocket_proceed with
 * our own wslay callbacks, so that the owner learns when the socket is open
 * (on_open) and when everything queued has been written (on_writable): a
 * pusher keeps at most one message queued and coalesces the rest itself,
 * never an unbounded queue.
 *
 * Closing: gw_ws_close queues the close frame only once wslay's queue is
 * empty (wslay sends control frames before data and drops data queued
 * after a close), then waits for the client's close (or disconnect) up to
 * close_timeout_ms and closes the socket. The client closing, a socket
 * error or that timeout ends the connection: on_close runs once, at the end
 * of the loop iteration (never inside a gw_ws call), and the gw_ws is freed
 * after it returns. Pings go out every ping_s seconds. When the gateway
 * stops, every connection of a draining loop is closed with 1001.
 *
 * Configuration (gw_ws_config_from_env):
 *   SE_GATEWAY_WS_PING_S            (20)   seconds between pings, 1..3600
 *   SE_GATEWAY_WS_CLOSE_TIMEOUT_MS  (1000) wait for the client's close frame
 *   SE_GATEWAY_WS_MAX_MSG_BYTES     (4096) larger client messages: close 1009
 *
 * THREAD: everything on the loop thread that owns the connection.
 * Memory per connection: this struct (~200 bytes), h2o's conn, wslay's
 * context (~4.5 KB, its read buffer) and the socket's buffers.
 */
#ifndef GW_WS_H
#define GW_WS_H

#include <stddef.h>
#include <stdint.h>

#include "gw_request.h"

typedef struct gw_ws gw_ws;

typedef struct gw_ws_config {
    int ping_s;
    int close_timeout_ms;
    size_t max_msg_bytes;
} gw_ws_config;

void gw_ws_config_from_env(gw_ws_config *cfg);

/* Callbacks (loop thread; NULL members are skipped). Inside on_message and
 * on_writable the gw_ws calls queue only; the frames go out right after. */
typedef struct gw_ws_handler {
    void (*on_open)(gw_ws *ws, void *data);     /* the 101 is out: may send */
    void (*on_message)(gw_ws *ws, void *data, int is_text, const uint8_t *msg, size_t len);
    void (*on_writable)(gw_ws *ws, void *data); /* everything queued is written */
    void (*on_close)(gw_ws *ws, void *data);    /* gone; ws is freed after this */
} gw_ws_handler;

/* Answers r (a WebSocket handshake whose Sec-WebSocket-Key is client_key,
 * 24 characters) with 101 Switching Protocols and takes the connection
 * over. `cfg` is read on the loop's first connection (one configuration per
 * process). OWNERSHIP: h and data must outlive on_close. The connection
 * holds the loop until on_close. ON ERROR: NULL, logged, r not answered. */
gw_ws *gw_ws_upgrade(gw_request *r, const char *client_key, const gw_ws_config *cfg,
                     const gw_ws_handler *h, void *data);

/* 1 when the connection is open, not closing, and nothing is queued or
 * being written: the moment to send the next update. */
int gw_ws_writable(const gw_ws *ws);

/* Queues one text message (copied). -1 when the connection is not open
 * (yet) or closing: nothing queued. */
int gw_ws_send_text(gw_ws *ws, const char *text, size_t len);

/* Starts the closing handshake with `code` and `reason` (at most 123
 * bytes of UTF-8; copied). Later calls are ignored. */
void gw_ws_close(gw_ws *ws, uint16_t code, const char *reason);

/* Connections open in the process (for tests and logs). THREAD: any. */
size_t gw_ws_open_count(void);

#endif
