/* self_test.c - `se-bench-drivers --self-test`: known answers for the
 * pieces whose bugs would silently skew a benchmark (SHA-1/base64 of the
 * WebSocket handshake, RFC 3339 round trips, the HTTP parser fed one byte
 * at a time, histogram quantiles). Prints each failure; returns 0 if all
 * passed. */
#include <stdio.h>
#include <string.h>

#include "drv_codec.h"
#include "drv_hist.h"
#include "drv_http.h"

static int failures;

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "self-test: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                   \
        }                                                                 \
    } while (0)

static void test_sha1_base64(void)
{
    uint8_t d[20];
    char hex[41], b64[64];
    drv_sha1("abc", 3, d);
    for (int i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CHECK(strcmp(hex, "a9993e364706816aba3e25717850c26c9cd0d89d") == 0);
    const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    drv_sha1(two_blocks, strlen(two_blocks), d);
    for (int i = 0; i < 20; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
    CHECK(strcmp(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1") == 0);
    drv_base64((const uint8_t *)"foobar", 6, b64);
    CHECK(strcmp(b64, "Zm9vYmFy") == 0);
    drv_base64((const uint8_t *)"fooba", 5, b64);
    CHECK(strcmp(b64, "Zm9vYmE=") == 0);
    drv_base64((const uint8_t *)"f", 1, b64);
    CHECK(strcmp(b64, "Zg==") == 0);
    char acc[29];
    drv_ws_accept("dGhlIHNhbXBsZSBub25jZQ==", acc); /* RFC 6455 section 1.3 */
    CHECK(strcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
}

static void test_rfc3339(void)
{
    char s[32];
    int64_t us;
    drv_rfc3339_format(1709251199123456LL, s);
    CHECK(strcmp(s, "2024-02-29T23:59:59.123456Z") == 0);
    CHECK(drv_rfc3339_parse(s, strlen(s), &us) == 0 && us == 1709251199123456LL);
    CHECK(drv_rfc3339_parse("2024-01-01T00:00:00Z", 20, &us) == 0 && us == 1704067200000000LL);
    const char *ms = "2024-01-01T00:00:00.5Z", *ns = "2024-01-01T00:00:00.123456789Z";
    CHECK(drv_rfc3339_parse(ms, strlen(ms), &us) == 0 && us == 1704067200500000LL);
    CHECK(drv_rfc3339_parse(ns, strlen(ns), &us) == 0 && us == 1704067200123456LL);
    const char *off = "2024-01-01T01:00:00+01:00";
    CHECK(drv_rfc3339_parse(off, strlen(off), &us) == 0 && us == 1704067200000000LL);
    CHECK(drv_rfc3339_parse("2024-01-01T00:00:00", 19, &us) < 0);
    CHECK(drv_rfc3339_parse("2024-13-01T00:00:00Z", 20, &us) < 0);
}

/* Feeds a response one byte at a time; returns the bytes consumed. */
static size_t feed_bytewise(drv_http_resp *r, const char *s)
{
    size_t n = strlen(s), i = 0;
    while (i < n && r->state != DRV_HTTP_DONE) {
        ssize_t u = drv_http_feed(r, s + i, 1);
        if (u < 0)
            return (size_t)-1;
        i += (size_t)u;
    }
    return i;
}

static void test_http(void)
{
    drv_http_resp r;
    const char *cl = "HTTP/1.1 202 Accepted\r\nContent-Length: 5\r\n\r\nhelloXX";
    drv_http_reset(&r);
    CHECK(drv_http_feed(&r, cl, strlen(cl)) == (ssize_t)strlen(cl) - 2);
    CHECK(r.state == DRV_HTTP_DONE && r.status == 202 && !r.close);
    const char *ch = "HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n"
                     "connection: close\r\n\r\n4\r\nabcd\r\n3;x=y\r\nefg\r\n0\r\n\r\nNEXT";
    drv_http_reset(&r);
    CHECK(feed_bytewise(&r, ch) == strlen(ch) - 4);
    CHECK(r.state == DRV_HTTP_DONE && r.status == 503 && r.close && r.chunked);
    const char *up = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n\x81\x02hi";
    drv_http_reset(&r);
    CHECK(drv_http_feed(&r, up, strlen(up)) == (ssize_t)strlen(up) - 4);
    CHECK(r.status == 101 && strcmp(r.ws_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == 0);
    const char *eof = "HTTP/1.1 500 Oops\r\n\r\nbody until close";
    drv_http_reset(&r);
    CHECK(drv_http_feed(&r, eof, strlen(eof)) == (ssize_t)strlen(eof));
    CHECK(r.state == DRV_HTTP_BODY_EOF && drv_http_eof(&r) == 0 && r.status == 500);
    drv_http_reset(&r);
    CHECK(drv_http_feed(&r, "SSH-2.0\r\n", 9) < 0);
}

static void test_hist(void)
{
    drv_hist h;
    CHECK(drv_hist_init(&h) == 0);
    for (int i = 1; i <= 1000; i++)
        drv_hist_add(&h, i * 100); /* 0.1 .. 100 ms */
    CHECK(drv_hist_quantile(&h, 0.5) == 50010);
    CHECK(drv_hist_quantile(&h, 0.99) == 99010);
    CHECK(drv_hist_quantile(&h, 1.0) == 100000);
    drv_hist_add(&h, 20000000); /* 20 s: overflow */
    CHECK(h.overflow == 1 && drv_hist_quantile(&h, 1.0) == 20000000);
    drv_hist_dispose(&h);
}

int drv_self_test(void)
{
    test_sha1_base64();
    test_rfc3339();
    test_http();
    test_hist();
    fprintf(stderr, "self-test: %s\n", failures ? "FAILED" : "ok");
    return failures ? -1 : 0;
}
