/* drv_http.c - incremental HTTP/1.1 response parser (see drv_http.h). */
#include "drv_http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void drv_http_reset(drv_http_resp *r)
{
    memset(r, 0, offsetof(drv_http_resp, line));
    r->ws_accept[0] = '\0';
    r->state = DRV_HTTP_STATUS;
}

static bool header_is(const char *line, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncasecmp(line, name, n) != 0 || line[n] != ':')
        return false;
    const char *v = line + n + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    *value = v;
    return true;
}

static int on_status_line(drv_http_resp *r)
{
    /* "HTTP/1.1 202 Accepted" */
    if (strncmp(r->line, "HTTP/1.", 7) != 0 || r->line_len < 12 || r->line[8] != ' ')
        return -1;
    int code = atoi(r->line + 9);
    if (code < 100 || code > 599)
        return -1;
    r->status = code;
    r->state = DRV_HTTP_HEADERS;
    return 0;
}

static void on_headers_end(drv_http_resp *r)
{
    if (r->status < 200 || r->status == 204 || r->status == 304)
        r->state = DRV_HTTP_DONE;
    else if (r->chunked)
        r->state = DRV_HTTP_CHUNK_SIZE;
    else if (r->has_length)
        r->state = r->remaining > 0 ? DRV_HTTP_BODY_LEN : DRV_HTTP_DONE;
    else
        r->state = DRV_HTTP_BODY_EOF;
}

static int on_header_line(drv_http_resp *r)
{
    const char *v;
    if (r->line_len == 0) {
        on_headers_end(r);
        return 0;
    }
    if (header_is(r->line, "Content-Length", &v)) {
        char *end;
        long long len = strtoll(v, &end, 10);
        if (end == v || len < 0)
            return -1;
        r->has_length = true;
        r->remaining = len;
    } else if (header_is(r->line, "Transfer-Encoding", &v)) {
        r->chunked = strcasestr(v, "chunked") != NULL;
    } else if (header_is(r->line, "Connection", &v)) {
        if (strcasestr(v, "close"))
            r->close = true;
    } else if (header_is(r->line, "Sec-WebSocket-Accept", &v)) {
        strncpy(r->ws_accept, v, sizeof r->ws_accept - 1);
        r->ws_accept[sizeof r->ws_accept - 1] = '\0';
    }
    return 0;
}

static int on_chunk_size_line(drv_http_resp *r)
{
    char *end;
    long long size = strtoll(r->line, &end, 16);
    if (end == r->line || size < 0)
        return -1;
    r->remaining = size;
    r->state = size > 0 ? DRV_HTTP_CHUNK_DATA : DRV_HTTP_TRAILERS;
    return 0;
}

/* A complete line is in r->line (CRLF stripped). */
static int on_line(drv_http_resp *r)
{
    r->line[r->line_len] = '\0';
    int rc;
    switch (r->state) {
    case DRV_HTTP_STATUS: rc = on_status_line(r); break;
    case DRV_HTTP_HEADERS: rc = on_header_line(r); break;
    case DRV_HTTP_CHUNK_SIZE: rc = on_chunk_size_line(r); break;
    case DRV_HTTP_CHUNK_END:
        rc = r->line_len == 0 ? 0 : -1;
        r->state = DRV_HTTP_CHUNK_SIZE;
        break;
    case DRV_HTTP_TRAILERS:
        if (r->line_len == 0)
            r->state = DRV_HTTP_DONE;
        rc = 0;
        break;
    default: rc = -1;
    }
    r->line_len = 0;
    r->line_cut = false;
    return rc;
}

static bool in_line_state(const drv_http_resp *r)
{
    return r->state == DRV_HTTP_STATUS || r->state == DRV_HTTP_HEADERS ||
           r->state == DRV_HTTP_CHUNK_SIZE || r->state == DRV_HTTP_CHUNK_END ||
           r->state == DRV_HTTP_TRAILERS;
}

ssize_t drv_http_feed(drv_http_resp *r, const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && r->state != DRV_HTTP_DONE) {
        if (in_line_state(r)) {
            char c = p[i++];
            if (c == '\n') {
                if (r->line_len > 0 && r->line[r->line_len - 1] == '\r' && !r->line_cut)
                    r->line_len--;
                if (on_line(r) < 0)
                    return -1;
            } else if (r->line_len < sizeof r->line - 1) {
                r->line[r->line_len++] = c;
            } else {
                r->line_cut = true;
            }
            continue;
        }
        if (r->state == DRV_HTTP_BODY_EOF) {
            i = n;
            break;
        }
        /* BODY_LEN or CHUNK_DATA: skip bytes */
        size_t take = n - i;
        if ((int64_t)take > r->remaining)
            take = (size_t)r->remaining;
        i += take;
        r->remaining -= (int64_t)take;
        if (r->remaining == 0)
            r->state = r->state == DRV_HTTP_BODY_LEN ? DRV_HTTP_DONE : DRV_HTTP_CHUNK_END;
    }
    return (ssize_t)i;
}

int drv_http_eof(drv_http_resp *r)
{
    if (r->state == DRV_HTTP_BODY_EOF) {
        r->state = DRV_HTTP_DONE;
        return 0;
    }
    return r->state == DRV_HTTP_DONE ? 0 : -1;
}
