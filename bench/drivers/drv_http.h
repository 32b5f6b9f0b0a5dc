/* drv_http.h - an incremental HTTP/1.1 response parser for the simulator's
 * keep-alive connections: fed whatever read() returned, it finds the status
 * code, the headers that matter (Content-Length, Transfer-Encoding: chunked,
 * Connection: close, Upgrade, Sec-WebSocket-Accept) and the end of the
 * response (Content-Length, chunked, or the peer closing), and throws the
 * body away. Per-connection state is one short line buffer (~200 bytes), so
 * 10,000 connections cost ~2 MB: header lines longer than the buffer are
 * truncated, harmless for the headers it reads.
 * 1xx, 204 and 304 responses have no body (101 ends the HTTP part of a
 * WebSocket upgrade: the bytes after it are frames, left unconsumed).
 * OWNERSHIP: plain struct, no allocation. THREAD: one connection, one thread.
 */
#ifndef DRV_HTTP_H
#define DRV_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum drv_http_state {
    DRV_HTTP_STATUS,     /* reading the status line */
    DRV_HTTP_HEADERS,    /* reading header lines */
    DRV_HTTP_BODY_LEN,   /* remaining Content-Length bytes */
    DRV_HTTP_BODY_EOF,   /* no length: body ends when the peer closes */
    DRV_HTTP_CHUNK_SIZE, /* reading a chunk-size line */
    DRV_HTTP_CHUNK_DATA, /* remaining bytes of a chunk */
    DRV_HTTP_CHUNK_END,  /* the CRLF after a chunk */
    DRV_HTTP_TRAILERS,   /* trailer lines after the last chunk */
    DRV_HTTP_DONE,       /* a complete response was parsed */
};

typedef struct drv_http_resp {
    uint8_t state;         /* enum drv_http_state */
    bool chunked, close, has_length, line_cut;
    int status;            /* status code, 0 until the status line is read */
    int64_t remaining;     /* bytes left in the body or current chunk */
    uint8_t line_len;
    char line[160];        /* the line being read (truncated if longer) */
    char ws_accept[32];    /* Sec-WebSocket-Accept value, "" if absent */
} drv_http_resp;

/* Starts a new response (call before each request). */
void drv_http_reset(drv_http_resp *r);

/* Feeds n bytes. Returns the bytes consumed (less than n only when the
 * response completed: the rest belongs to what follows), or -1 on a malformed
 * response. r->state == DRV_HTTP_DONE once complete. */
ssize_t drv_http_feed(drv_http_resp *r, const char *p, size_t n);

/* The peer closed the connection: completes a read-until-close body.
 * Returns 0 if the response is complete, -1 if it was cut short. */
int drv_http_eof(drv_http_resp *r);

#endif
