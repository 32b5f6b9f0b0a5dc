/* drv_watch.c - the customers: WebSocket watchers of
 * /api/v1/drivers/orders/{order_id}/driver-location.
 *
 * Per watcher: connect, HTTP/1.1 upgrade (random Sec-WebSocket-Key; the 101
 * must carry the matching Sec-WebSocket-Accept, SHA-1 + base64 computed
 * here), wait for {"type":"connected"}, then for every
 * {"type":"location_update","data":{...}} take data.timestamp (the driver's
 * send time, wall clock) and record now - timestamp: the location-to-
 * watcher latency (same host, same clock). At the end: a masked text frame
 * {"action":"unsubscribe"}; the server answers with a close frame, which is
 * echoed before the socket is closed.
 * Frames: RFC 6455 client side; server frames unmasked (a masked one is
 * still decoded), fragmented messages reassembled (at most 1 MB), pings
 * answered with pongs, client frames masked with a random key.
 * JSON: messages are matched by key ("type", "timestamp", "driver_id"), not
 * by position; the timestamp key only occurs inside "data".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "drivers.h"
#include "drv_codec.h"

#define WS_MAX_MESSAGE (1u << 20)
enum { WS_CONT = 0, WS_TEXT = 1, WS_BIN = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

static uint8_t read_buf[65536];

int drv_watchers_init(drv_fleet *f)
{
    if (f->cfg.watchers == 0)
        return 0;
    f->wat = calloc((size_t)f->cfg.watchers, sizeof *f->wat);
    if (!f->wat)
        return -1;
    for (int j = 0; j < f->cfg.watchers; j++) {
        drv_watcher *w = &f->wat[j];
        w->conn = (drv_conn){.kind = DRV_KIND_WATCHER, .fd = -1, .index = (uint32_t)j};
        w->driver = (uint32_t)(j % f->cfg.carriers);
        w->order_id = f->cfg.order_base + w->driver;
        w->state = DRV_W_FAILED;
    }
    return 0;
}

void drv_watchers_dispose(drv_fleet *f)
{
    for (int j = 0; f->wat && j < f->cfg.watchers; j++) {
        drv_conn_close(f, &f->wat[j].conn);
        free(f->wat[j].in);
        free(f->wat[j].msg);
    }
    free(f->wat);
    f->wat = NULL;
}

/* Ends a watcher (closing its socket); failed says whether it counts as a
 * failure (a reason counter was bumped by the caller). */
static void watcher_end(drv_fleet *f, drv_watcher *w, bool failed)
{
    if (w->state == DRV_W_DONE || w->state == DRV_W_FAILED)
        return;
    if (w->state == DRV_W_LIVE)
        f->watchers_live--;
    drv_conn_close(f, &w->conn);
    w->state = failed ? DRV_W_FAILED : DRV_W_DONE;
    f->watchers_ended++;
}

/* Sends one masked frame (payload at most 125 bytes: control frames and
 * the unsubscribe message). */
static int ws_send(drv_fleet *f, drv_watcher *w, int opcode, const void *p, size_t n)
{
    uint8_t frame[2 + 4 + 125];
    if (n > 125)
        return -1;
    uint32_t mask = (uint32_t)drv_rand(&f->rng);
    frame[0] = (uint8_t)(0x80 | opcode);
    frame[1] = (uint8_t)(0x80 | n);
    memcpy(frame + 2, &mask, 4);
    for (size_t i = 0; i < n; i++)
        frame[6 + i] = ((const uint8_t *)p)[i] ^ frame[2 + i % 4];
    return drv_conn_write(f, &w->conn, frame, 6 + n);
}

void drv_watcher_open(drv_fleet *f, uint32_t j)
{
    drv_watcher *w = &f->wat[j];
    w->state = DRV_W_CONNECTING;
    if (drv_conn_open(f, &w->conn) < 0) {
        f->wfail.connect++;
        if (f->wfail.connect <= 3)
            fprintf(stderr, "se-bench-drivers: connect (watcher %u): %s\n", j, strerror(errno));
        w->state = DRV_W_FAILED;
        f->watchers_ended++;
    }
}

static void send_upgrade(drv_fleet *f, drv_watcher *w)
{
    uint8_t nonce[16];
    for (int i = 0; i < 16; i++)
        nonce[i] = (uint8_t)drv_rand(&f->rng);
    drv_base64(nonce, 16, w->key);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET /api/v1/drivers/orders/%lld/driver-location HTTP/1.1\r\n"
                     "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     (long long)w->order_id, f->cfg.host, f->cfg.port, w->key);
    drv_http_reset(&w->resp);
    w->state = DRV_W_HANDSHAKE;
    if (drv_conn_write(f, &w->conn, req, (size_t)n) < 0) {
        f->wfail.connect++;
        watcher_end(f, w, true);
    }
}

/* The string value of "key" in a JSON text (first occurrence), without
 * unescaping (the values read here never contain escapes). */
static int json_str(const char *s, size_t n, const char *key, const char **v, size_t *vn)
{
    size_t kn = strlen(key);
    for (size_t i = 0; i + kn + 2 < n; i++) {
        if (s[i] != '"' || memcmp(s + i + 1, key, kn) != 0 || s[i + 1 + kn] != '"')
            continue;
        size_t k = i + kn + 2;
        while (k < n && (s[k] == ' ' || s[k] == ':' || s[k] == '\t'))
            k++;
        if (k >= n || s[k] != '"')
            return -1;
        size_t start = ++k;
        while (k < n && s[k] != '"')
            k++;
        if (k >= n)
            return -1;
        *v = s + start;
        *vn = k - start;
        return 0;
    }
    return -1;
}

static void on_location_update(drv_fleet *f, drv_watcher *w, const char *s, size_t n)
{
    int64_t now = drv_wall_us();
    const char *ts, *drv;
    size_t tsn, drvn;
    int64_t sent;
    if (json_str(s, n, "timestamp", &ts, &tsn) < 0 || drv_rfc3339_parse(ts, tsn, &sent) < 0) {
        if (f->live_bad++ < 3)
            fprintf(stderr, "se-bench-drivers: update without a timestamp: %.*s\n", (int)n, s);
        return;
    }
    f->live_msgs++;
    w->updates++;
    char want[96];
    int wn = snprintf(want, sizeof want, "%s%u", f->cfg.prefix, w->driver);
    if (json_str(s, n, "driver_id", &drv, &drvn) < 0 || (size_t)wn != drvn ||
        memcmp(want, drv, drvn) != 0)
        f->live_wrong_driver++;
    if (sent >= f->wall_win_start_us && sent < f->wall_win_end_us)
        drv_hist_add(&f->live, now - sent);
}

static void on_text(drv_fleet *f, drv_watcher *w, const char *s, size_t n)
{
    const char *type;
    size_t tn;
    if (json_str(s, n, "type", &type, &tn) < 0) {
        f->live_other++;
        return;
    }
    if (tn == 9 && memcmp(type, "connected", 9) == 0) {
        if (w->state == DRV_W_WAIT_CONNECTED) {
            w->state = DRV_W_LIVE;
            f->watchers_live++;
        }
    } else if (tn == 15 && memcmp(type, "location_update", 15) == 0) {
        on_location_update(f, w, s, n);
    } else {
        f->live_other++;
    }
}

/* A whole message or control frame. Returns -1 when the watcher ended. */
static int on_message(drv_fleet *f, drv_watcher *w, int op, const uint8_t *p, size_t n)
{
    switch (op) {
    case WS_TEXT:
        on_text(f, w, (const char *)p, n);
        return 0;
    case WS_PING:
        f->ws_pings++;
        if (ws_send(f, w, WS_PONG, p, n > 125 ? 125 : n) < 0) {
            f->wfail.protocol++;
            watcher_end(f, w, true);
            return -1;
        }
        return 0;
    case WS_CLOSE: {
        w->got_close = true;
        w->close_code = n >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 1005;
        bool ours = w->state == DRV_W_UNSUBSCRIBED;
        if (ours && w->close_code == 1000)
            f->ws_closed_clean++;
        if (!ours)
            f->wfail.closed_early++;
        uint8_t code[2] = {p && n >= 2 ? p[0] : 0x03, p && n >= 2 ? p[1] : 0xe8};
        ws_send(f, w, WS_CLOSE, code, 2); /* best effort echo */
        watcher_end(f, w, !ours);
        return -1;
    }
    default: /* pong, binary: ignored */
        return 0;
    }
}

/* Appends a fragment's payload to the message being assembled. */
static int msg_append(drv_watcher *w, const uint8_t *p, size_t n)
{
    if (w->msg_len + n > WS_MAX_MESSAGE)
        return -1;
    if (w->msg_len + n > w->msg_cap) {
        size_t cap = (w->msg_len + n) * 2;
        uint8_t *m = realloc(w->msg, cap);
        if (!m)
            return -1;
        w->msg = m;
        w->msg_cap = cap;
    }
    memcpy(w->msg + w->msg_len, p, n);
    w->msg_len += n;
    return 0;
}

/* Parses one frame at p (n bytes available). Returns its length, 0 if
 * incomplete, -1 on a protocol error, -2 when the watcher ended. */
static ssize_t parse_frame(drv_fleet *f, drv_watcher *w, uint8_t *p, size_t n)
{
    if (n < 2)
        return 0;
    bool fin = p[0] & 0x80, masked = p[1] & 0x80;
    int op = p[0] & 0x0f;
    uint64_t len = p[1] & 0x7f;
    size_t hdr = 2;
    if (len == 126) {
        if (n < 4)
            return 0;
        len = (uint64_t)p[2] << 8 | p[3];
        hdr = 4;
    } else if (len == 127) {
        if (n < 10)
            return 0;
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | p[2 + i];
        hdr = 10;
    }
    if (len > WS_MAX_MESSAGE)
        return -1;
    size_t mask_at = hdr;
    if (masked)
        hdr += 4;
    if (n < hdr + len)
        return 0;
    uint8_t *payload = p + hdr;
    if (masked)
        for (uint64_t i = 0; i < len; i++)
            payload[i] ^= p[mask_at + i % 4];
    if (op >= 8) { /* control frames are never fragmented */
        if (on_message(f, w, op, payload, (size_t)len) < 0)
            return -2;
    } else if (op == WS_CONT || !fin) {
        if (op != WS_CONT)
            w->msg_op = (uint8_t)op;
        if (msg_append(w, payload, (size_t)len) < 0)
            return -1;
        if (fin) {
            int rc = on_message(f, w, w->msg_op, w->msg, w->msg_len);
            w->msg_len = 0;
            if (rc < 0)
                return -2;
        }
    } else if (on_message(f, w, op, payload, (size_t)len) < 0) {
        return -2;
    }
    return (ssize_t)(hdr + len);
}

/* Appends received bytes and consumes every complete frame. */
static void on_frames(drv_fleet *f, drv_watcher *w, const uint8_t *p, size_t n)
{
    if (w->in_len + n > w->in_cap) {
        size_t cap = (w->in_len + n) * 2 < 4096 ? 4096 : (w->in_len + n) * 2;
        uint8_t *b = realloc(w->in, cap);
        if (!b) {
            f->wfail.protocol++;
            watcher_end(f, w, true);
            return;
        }
        w->in = b;
        w->in_cap = cap;
    }
    memcpy(w->in + w->in_len, p, n);
    w->in_len += n;
    size_t off = 0;
    for (;;) {
        ssize_t used = parse_frame(f, w, w->in + off, w->in_len - off);
        if (used == -2)
            return; /* ended: its buffers are freed at dispose */
        if (used < 0) {
            f->wfail.protocol++;
            watcher_end(f, w, true);
            return;
        }
        if (used == 0)
            break;
        off += (size_t)used;
    }
    memmove(w->in, w->in + off, w->in_len - off);
    w->in_len -= off;
}

/* Handshake bytes; what follows the 101 is frames. */
static void on_handshake(drv_fleet *f, drv_watcher *w, const uint8_t *p, size_t n)
{
    ssize_t used = drv_http_feed(&w->resp, (const char *)p, n);
    if (used < 0) {
        f->wfail.protocol++;
        watcher_end(f, w, true);
        return;
    }
    if (w->resp.state != DRV_HTTP_DONE)
        return;
    if (w->resp.status != 101) {
        f->wfail.status++;
        f->wfail.last_status = w->resp.status;
        watcher_end(f, w, true);
        return;
    }
    char want[29];
    drv_ws_accept(w->key, want);
    if (strcmp(want, w->resp.ws_accept) != 0) {
        f->wfail.accept++;
        watcher_end(f, w, true);
        return;
    }
    w->state = DRV_W_WAIT_CONNECTED;
    if ((size_t)used < n)
        on_frames(f, w, p + used, n - (size_t)used);
}

void drv_watcher_on_event(drv_fleet *f, drv_watcher *w, uint32_t events)
{
    if (w->conn.fd < 0)
        return;
    if (w->state == DRV_W_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (drv_conn_connected(f, &w->conn) < 0) {
            f->wfail.connect++;
            watcher_end(f, w, true);
            return;
        }
        send_upgrade(f, w);
        return;
    }
    if ((events & EPOLLOUT) && drv_conn_flush(f, &w->conn) < 0) {
        f->wfail.closed_early++;
        watcher_end(f, w, true);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
        return;
    ssize_t n = read(w->conn.fd, read_buf, sizeof read_buf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) { /* closed without a close frame */
        if (w->state == DRV_W_HANDSHAKE && drv_http_eof(&w->resp) == 0 && w->resp.status != 101) {
            f->wfail.status++;
            f->wfail.last_status = w->resp.status;
        } else {
            f->wfail.closed_early++;
        }
        watcher_end(f, w, true);
        return;
    }
    if (w->state == DRV_W_HANDSHAKE)
        on_handshake(f, w, read_buf, (size_t)n);
    else
        on_frames(f, w, read_buf, (size_t)n);
}

void drv_watchers_unsubscribe(drv_fleet *f)
{
    static const char unsub[] = "{\"action\":\"unsubscribe\"}";
    for (int j = 0; j < f->cfg.watchers; j++) {
        drv_watcher *w = &f->wat[j];
        if (w->state != DRV_W_LIVE)
            continue;
        if (ws_send(f, w, WS_TEXT, unsub, sizeof unsub - 1) < 0) {
            f->wfail.closed_early++;
            watcher_end(f, w, true);
            continue;
        }
        f->watchers_live--;
        w->state = DRV_W_UNSUBSCRIBED;
    }
}

void drv_watchers_abort(drv_fleet *f, bool all)
{
    for (int j = 0; j < f->cfg.watchers; j++) {
        drv_watcher *w = &f->wat[j];
        if (!all && w->state >= DRV_W_LIVE)
            continue;
        if (w->state == DRV_W_UNSUBSCRIBED)
            f->wfail.no_close++;
        else if (w->state < DRV_W_LIVE)
            f->wfail.timeout++;
        watcher_end(f, w, true);
    }
}
