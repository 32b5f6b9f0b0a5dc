/* gw_test_http.h - a raw HTTP/1.1 client for the gateway suites: one
 * request per connection (Connection: close), read to EOF, on 127.0.0.1 at
 * gw_port (the suite sets it once its gateway listens).
 * Header-only (static inline), like ../menu_test.h. */
#ifndef GW_TEST_HTTP_H
#define GW_TEST_HTTP_H

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../se_test.h"

static int gw_port;

/* ---- a raw HTTP/1.1 client ------------------------------------------------------ */

typedef struct http_resp {
    int status;
    char head[8192]; /* status line and headers, NUL-terminated */
    char *body;      /* malloc'd, NUL-terminated */
    size_t body_len;
} http_resp;

/* rcvbuf > 0: a small receive buffer (set before connect: it sizes the
 * window), for a slow reader. */
static inline int connect_gateway_rcvbuf(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {SE_T(10), 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static inline int connect_gateway(void)
{
    return connect_gateway_rcvbuf(0);
}

static inline void send_all(int fd, const void *p, size_t len)
{
    const char *c = p;
    while (len > 0) {
        ssize_t n = send(fd, c, len, MSG_NOSIGNAL);
        ck_assert_int_gt(n, 0);
        c += n;
        len -= (size_t)n;
    }
}

/* Reads fd to EOF and closes it: the bytes (malloc'd, NUL-terminated)
 * and their count in *len. */
static inline char *read_all(int fd, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap)
            buf = realloc(buf, (cap *= 2) + 1);
        ssize_t k = recv(fd, buf + n, cap - n, 0);
        ck_assert_msg(k >= 0, "recv: %s", strerror(errno));
        if (k == 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Sends `raw` with Connection: close semantics and reads to EOF. */
static inline void http_raw(const char *raw, size_t len, http_resp *out)
{
    int fd = connect_gateway();
    send_all(fd, raw, len);
    size_t n;
    char *buf = read_all(fd, &n);
    char *end = strstr(buf, "\r\n\r\n");
    ck_assert_msg(end != NULL, "no header end in %zu bytes: %.200s", n, buf);
    size_t hl = (size_t)(end - buf) + 2;
    ck_assert_uint_lt(hl, sizeof out->head);
    memcpy(out->head, buf, hl);
    out->head[hl] = '\0';
    ck_assert_int_eq(sscanf(buf, "HTTP/1.1 %d", &out->status), 1);
    out->body_len = n - hl - 2;
    out->body = malloc(out->body_len + 1);
    memcpy(out->body, end + 4, out->body_len);
    out->body[out->body_len] = '\0';
    free(buf);
}

static inline void http(const char *method, const char *path, const char *headers, const char *body,
                 http_resp *out)
{
    size_t blen = body != NULL ? strlen(body) : 0;
    size_t cap = blen + strlen(path) + (headers ? strlen(headers) : 0) + 256;
    char *raw = malloc(cap);
    int n = snprintf(raw, cap,
                     "%s %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, headers ? headers : "", blen, body ? body : "");
    http_raw(raw, (size_t)n, out);
    free(raw);
}

#endif
