/* test_gw_http.c - the gateway's REST proxy over real sockets: an
 * in-process gateway (gw_server + gw_proxy, two loops) in front of a fake
 * MenuService on our runtime (gw_fake_backend.h), driven by a raw HTTP/1.1
 * client. Each test forks (Check's default) and starts both in its fixture.
 * Built and registered by gateway/CMakeLists.txt.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include "../se_test.h"
#include "gw_entity.h"
#include "gw_fake_backend.h"
#include "gw_health.h"
#include "gw_test_http.h"
#include "gw_proxy.h"
#include "gw_server.h"
#include "se_log.h"

#define MAX_BODY 4096

static fake_backend fb;
static gw_server *server;
static gw_proxy *proxy;

/* ---- fixture ---------------------------------------------------------------- */

static void start_gateway(int timeout_ms)
{
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", fb.port);
    setenv("SE_MENU_TARGET", target, 1);
    gw_server_config cfg = {.addr = "127.0.0.1:0", .threads = 2, .grace_ms = SE_T(2000),
                            .max_body_bytes = MAX_BODY + 65536};
    server = gw_server_create(&cfg);
    ck_assert_ptr_nonnull(server);
    gw_proxy_config pcfg = {.timeout_ms = timeout_ms, .max_body_bytes = MAX_BODY};
    proxy = gw_proxy_create(gw_server_router(server), &pcfg, NULL);
    ck_assert_ptr_nonnull(proxy);
    ck_assert_int_eq(gw_health_register(gw_server_router(server)), 0);
    ck_assert_int_eq(gw_server_start(server), 0);
    gw_port = gw_server_port(server);
}

static void setup(void)
{
    setenv("SE_GATEWAY_ACCESS_LOG", "false", 1);
    setenv("SE_LOG_LEVEL", "warn", 1);
    se_log_init("test_gw_http");
    se_rpc_init();
    gw_health_init(SE_T(1000));
    ck_assert_int_eq(fake_backend_start(&fb, 0, SE_T(1500)), 0);
    start_gateway(SE_T(3000));
}

/* The deadline test wants a short gateway timeout. */
static void setup_short_timeout(void)
{
    setenv("SE_GATEWAY_ACCESS_LOG", "false", 1);
    setenv("SE_LOG_LEVEL", "warn", 1);
    se_log_init("test_gw_http");
    se_rpc_init();
    gw_health_init(SE_T(1000));
    ck_assert_int_eq(fake_backend_start(&fb, 0, SE_T(1500)), 0);
    start_gateway(SE_T(300));
}

static void teardown(void)
{
    gw_server_stop(server);
    gw_server_destroy(server);
    gw_proxy_destroy(proxy);
    fake_backend_stop(&fb);
    se_rpc_shutdown();
}


/* Value of header `name` (case-insensitive) into buf, or NULL. */
static const char *header(const http_resp *r, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *p = strstr(r->head, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = strcspn(v, "\r");
            snprintf(buf, cap, "%.*s", (int)vl, v);
            return buf;
        }
    }
    return NULL;
}

static void resp_free(http_resp *r)
{
    free(r->body);
    r->body = NULL;
}

static void assert_content_length(const http_resp *r)
{
    char v[32];
    ck_assert_ptr_nonnull(header(r, "content-length", v, sizeof v));
    ck_assert_uint_eq(strtoul(v, NULL, 10), r->body_len);
}

/* ---- proxying -------------------------------------------------------------------- */

START_TEST(get_is_proxied_and_transcoded)
{
    http_resp r;
    char v[128];
    http("GET", "/api/v1/restaurants/42", "X-Request-Id: rid-get-42\r\n", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "content-type", v, sizeof v), "application/json");
    assert_content_length(&r);
    ck_assert_str_eq(r.body,
                     "{\"id\":42,\"name\":\"Restaurant 42\",\"address\":\"1 Fake Street\","
                     "\"city\":\"rid-get-42\",\"latitude\":0,\"longitude\":0,\"status\":\"open\","
                     "\"cuisine_type\":\"italian\",\"rating\":4.5,\"review_count\":0,"
                     "\"current_capacity\":0}");
    resp_free(&r);
}
END_TEST

START_TEST(request_id_reaches_backend_and_comes_back)
{
    http_resp r;
    char v[128];
    http("GET", "/api/v1/restaurants/5", "X-Request-Id: e2e-rid-123\r\n", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(header(&r, "x-request-id", v, sizeof v), "e2e-rid-123");
    pthread_mutex_lock(&fb.mu);
    ck_assert_str_eq(fb.last_request_id, "e2e-rid-123");
    pthread_mutex_unlock(&fb.mu);
    resp_free(&r);
    /* none given: the generated one is the backend's too */
    http("GET", "/api/v1/restaurants/5", NULL, NULL, &r);
    ck_assert_ptr_nonnull(header(&r, "x-request-id", v, sizeof v));
    ck_assert_uint_eq(strlen(v), 32);
    pthread_mutex_lock(&fb.mu);
    ck_assert_str_eq(fb.last_request_id, v);
    pthread_mutex_unlock(&fb.mu);
    ck_assert_ptr_nonnull(strstr(r.body, v));
    resp_free(&r);
}
END_TEST

static const int http_of_code[17] = {
    200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401,
};

START_TEST(every_grpc_status_maps_to_http)
{
    for (int code = 1; code <= 16; code++) {
        http_resp r;
        char path[64], want[256];
        snprintf(path, sizeof path, "/api/v1/restaurants/%d", 900 + code);
        http("GET", path, NULL, NULL, &r);
        const char *name = se_status_name((grpc_status_code)code);
        ck_assert_msg(r.status == http_of_code[code], "%s: HTTP %d", name, r.status);
        snprintf(want, sizeof want,
                 "{\"error\":{\"code\":%d,\"status\":\"%s\",\"message\":"
                 "\"fake status %s for restaurant %d\",\"details\":[]}}",
                 http_of_code[code], name, name, 900 + code);
        ck_assert_str_eq(r.body, want);
        assert_content_length(&r);
        resp_free(&r);
    }
}
END_TEST

START_TEST(unimplemented_method_is_501)
{
    http_resp r;
    http("GET", "/api/v1/restaurants/5/menu", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 501);
    ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"UNIMPLEMENTED\""));
    resp_free(&r);
}
END_TEST

START_TEST(put_body_and_idempotency_key_are_forwarded)
{
    http_resp r;
    char v[64];
    http("PUT", "/api/v1/restaurants/5/status", "Idempotency-Key: key-123\r\n",
         "{\"status\":\"busy\",\"current_capacity\":3}", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"success\":true,\"message\":\"key-123\",\"restaurant_id\":5,"
                             "\"status\":\"busy\",\"current_capacity\":3}");
    ck_assert_ptr_null(header(&r, "etag", v, sizeof v)); /* not a GET */
    pthread_mutex_lock(&fb.mu);
    ck_assert_str_eq(fb.last_idem_key, "key-123");
    pthread_mutex_unlock(&fb.mu);
    resp_free(&r);
    http("PUT", "/api/v1/restaurants/5/status", NULL, "{\"status\":\"open\"}", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"message\":\"\""));
    pthread_mutex_lock(&fb.mu);
    ck_assert_str_eq(fb.last_idem_key, "");
    pthread_mutex_unlock(&fb.mu);
    resp_free(&r);
    int calls = atomic_load(&fb.calls);
    http("PUT", "/api/v1/restaurants/5/status", "Idempotency-Key: a\tb\r\n",
         "{\"status\":\"open\"}", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "Idempotency-Key"));
    ck_assert_int_eq(atomic_load(&fb.calls), calls);
    resp_free(&r);
}
END_TEST

/* ---- failures -------------------------------------------------------------------- */

START_TEST(deadline_gives_504)
{
    http_resp r;
    int64_t t0 = se_test_now_ms();
    http("GET", "/api/v1/restaurants/950", NULL, NULL, &r);
    int64_t took = se_test_now_ms() - t0;
    ck_assert_int_eq(r.status, 504);
    ck_assert_ptr_nonnull(strstr(r.body, "\"status\":\"DEADLINE_EXCEEDED\""));
    ck_assert_int_ge(took, 250);
    ck_assert_int_lt(took, SE_T(1400));
    resp_free(&r);
}
END_TEST

START_TEST(backend_down_gives_503)
{
    fake_backend_stop(&fb);
    http_resp r;
    http("GET", "/api/v1/restaurants/5", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 503);
    ck_assert_ptr_nonnull(strstr(r.body, "{\"error\":{\"code\":503,\"status\":\"UNAVAILABLE\""));
    resp_free(&r);
}
END_TEST

/* An HTTP/2 request for `path` (prior knowledge, HPACK literals without
 * indexing or Huffman), stream 1, END_STREAM. */
static size_t h2_request(char *buf, const char *path)
{
    static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const char *hdrs[][2] = {{":method", "GET"}, {":scheme", "http"}, {":path", path},
                             {":authority", "t"}};
    size_t n = sizeof preface - 1;
    memcpy(buf, preface, n);
    static const char settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
    memcpy(buf + n, settings, 9);
    n += 9;
    size_t frame = n, len = 0;
    n += 9;
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 2; j++) {
            size_t l = strlen(hdrs[i][j]);
            if (j == 0)
                buf[n + len++] = 0x00; /* literal, new name, not indexed */
            buf[n + len++] = (char)l;  /* < 127, no Huffman */
            memcpy(buf + n + len, hdrs[i][j], l);
            len += l;
        }
    }
    const char head[9] = {0, 0, (char)len, 1 /* HEADERS */, 5 /* END_STREAM|END_HEADERS */,
                          0, 0, 0, 1};
    memcpy(buf + frame, head, 9);
    return n + len;
}

/* The client sends a request whose RPC hangs, then closes the connection. */
static void leave_mid_rpc(int http2)
{
    char req[512];
    size_t len;
    if (http2) {
        len = h2_request(req, "/api/v1/restaurants/960");
    } else {
        len = (size_t)snprintf(req, sizeof req,
                               "GET /api/v1/restaurants/960 HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    int fd = connect_gateway();
    int before = atomic_load(&fb.calls);
    send_all(fd, req, len);
    SE_POLL_UNTIL(atomic_load(&fb.calls) > before, 5000);
    ck_assert_int_gt(atomic_load(&fb.calls), before);
    close(fd);
}

static gw_proxy_stats stats(void)
{
    gw_proxy_stats st;
    gw_proxy_stats_get(proxy, &st);
    return st;
}

/* HTTP/2: closing the connection disposes the request at once, which
 * cancels the RPC: its CANCELLED answer is back (and dropped) well before
 * the gateway's 3 s deadline, while the backend still sits on it (a unary
 * server call cannot observe a client's cancel before it answers). */
START_TEST(client_leaving_cancels_the_rpc)
{
    for (uint64_t i = 0; i < 3; i++) {
        int64_t t0 = se_test_now_ms();
        leave_mid_rpc(1);
        SE_POLL_UNTIL(stats().dropped_cancelled == i + 1, 3000);
        gw_proxy_stats st = stats();
        ck_assert_uint_eq(st.cancelled, i + 1);
        ck_assert_uint_eq(st.dropped, i + 1);
        ck_assert_uint_eq(st.dropped_cancelled, i + 1);
        ck_assert_int_lt(se_test_now_ms() - t0, SE_T(1500));
    }
    http_resp r; /* the gateway is still fine */
    http("GET", "/api/v1/restaurants/5", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    ck_assert_uint_eq(stats().calls, 4);
}
END_TEST

/* HTTP/1.1: h2o 2.2.5 does not read a connection while its request is in
 * flight, so the close is noticed only when the answer (here: the 3 s
 * deadline's 504) is written to the closed socket. */
START_TEST(http1_client_leaving_is_harmless)
{
    for (int i = 0; i < 4; i++)
        leave_mid_rpc(0);
    http_resp r;
    http("GET", "/api/v1/restaurants/5", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    /* the backend calls end at the deadline; their 504s meet closed sockets */
    SE_POLL_UNTIL(atomic_load(&fb.cancelled_seen) == 4, 6000);
    ck_assert_int_eq(atomic_load(&fb.cancelled_seen), 4);
    ck_assert_uint_eq(stats().cancelled, 0);
    http("GET", "/api/v1/restaurants/6", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
}
END_TEST

START_TEST(oversized_body_gives_413)
{
    char *body = malloc(MAX_BODY + 100);
    memset(body, ' ', MAX_BODY + 99);
    body[0] = '{';
    body[MAX_BODY + 98] = '}';
    body[MAX_BODY + 99] = '\0';
    http_resp r;
    int calls = atomic_load(&fb.calls);
    http("PUT", "/api/v1/restaurants/5/status", NULL, body, &r);
    ck_assert_int_eq(r.status, 413);
    ck_assert_ptr_nonnull(
        strstr(r.body, "{\"error\":{\"code\":413,\"status\":\"RESOURCE_EXHAUSTED\""));
    ck_assert_int_eq(atomic_load(&fb.calls), calls);
    resp_free(&r);
    free(body);
}
END_TEST

START_TEST(bad_input_gives_400_naming_the_field)
{
    static const struct {
        const char *method, *path, *body, *want;
    } cases[] = {
        {"PUT", "/api/v1/restaurants/5/status", "{\"status\":", "JSON"},
        {"PUT", "/api/v1/restaurants/5/status", "{\"status\":\"busy\",\"current_capacity\":\"x\"}",
         "current_capacity"},
        {"PUT", "/api/v1/restaurants/5/status", "{\"status\":\"sleepy\"}", "status"},
        {"PUT", "/api/v1/restaurants/5/status", "{\"bogus\":1}", "bogus"},
        {"GET", "/api/v1/restaurants/abc", NULL, "restaurant_id"},
        {"GET", "/api/v1/restaurants/99999999999999999999", NULL, "restaurant_id"},
    };
    int calls = atomic_load(&fb.calls);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        http_resp r;
        http(cases[i].method, cases[i].path, NULL, cases[i].body, &r);
        ck_assert_msg(r.status == 400, "case %zu: %d %s", i, r.status, r.body);
        ck_assert_msg(strstr(r.body, "\"status\":\"INVALID_ARGUMENT\"") != NULL, "%s", r.body);
        ck_assert_msg(strstr(r.body, cases[i].want) != NULL, "case %zu: %s", i, r.body);
        resp_free(&r);
    }
    ck_assert_int_eq(atomic_load(&fb.calls), calls);
}
END_TEST

START_TEST(wrong_method_gives_405_with_allow)
{
    http_resp r;
    char v[64];
    http("POST", "/api/v1/restaurants/42", NULL, "{}", &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(header(&r, "allow", v, sizeof v), "GET");
    ck_assert_ptr_nonnull(strstr(r.body, "\"code\":405,\"status\":\"UNIMPLEMENTED\""));
    resp_free(&r);
    http("DELETE", "/api/v1/restaurants/42/status", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_str_eq(header(&r, "allow", v, sizeof v), "GET, PUT");
    resp_free(&r);
    http("GET", "/api/v1/nothing", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 404);
    resp_free(&r);
}
END_TEST

/* ---- gzip and ETag ---------------------------------------------------------------- */

static char *gunzip(const char *data, size_t len, size_t *out_len)
{
    z_stream zs = {0};
    ck_assert_int_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    size_t cap = 1 << 20;
    char *out = malloc(cap + 1);
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = zs.total_out;
    out[*out_len] = '\0';
    inflateEnd(&zs);
    return out;
}

START_TEST(gzip_when_accepted_and_worth_it)
{
    http_resp plain, gz, refused, small;
    char v[64];
    const char *rid = "X-Request-Id: gz-1\r\n";
    http("GET", "/api/v1/restaurants/7", rid, NULL, &plain);
    ck_assert_int_eq(plain.status, 200);
    ck_assert_ptr_null(header(&plain, "content-encoding", v, sizeof v));
    ck_assert_str_eq(header(&plain, "vary", v, sizeof v), "Accept-Encoding");
    ck_assert_uint_gt(plain.body_len, 6000);
    http("GET", "/api/v1/restaurants/7", "X-Request-Id: gz-1\r\nAccept-Encoding: br, gzip\r\n",
         NULL, &gz);
    ck_assert_int_eq(gz.status, 200);
    ck_assert_str_eq(header(&gz, "content-encoding", v, sizeof v), "gzip");
    ck_assert_str_eq(header(&gz, "vary", v, sizeof v), "Accept-Encoding");
    assert_content_length(&gz);
    ck_assert_uint_lt(gz.body_len, plain.body_len / 4);
    size_t n;
    char *inflated = gunzip(gz.body, gz.body_len, &n);
    ck_assert_uint_eq(n, plain.body_len);
    ck_assert(memcmp(inflated, plain.body, n) == 0);
    free(inflated);
    http("GET", "/api/v1/restaurants/7", "Accept-Encoding: gzip;q=0, identity\r\n", NULL,
         &refused);
    ck_assert_ptr_null(header(&refused, "content-encoding", v, sizeof v));
    http("GET", "/api/v1/restaurants/8", "Accept-Encoding: gzip\r\n", NULL, &small);
    ck_assert_int_eq(small.status, 200);
    ck_assert_ptr_null(header(&small, "content-encoding", v, sizeof v)); /* < 1 KB */
    resp_free(&plain);
    resp_free(&gz);
    resp_free(&refused);
    resp_free(&small);
}
END_TEST

START_TEST(etag_and_304)
{
    http_resp r;
    char etag[64], v[64], hdrs[256];
    const char *rid = "X-Request-Id: etag-1\r\n"; /* the body carries it */
    http("GET", "/api/v1/restaurants/42", rid, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(header(&r, "etag", etag, sizeof etag));
    ck_assert_uint_eq(strlen(etag), 18);
    char want[32];
    snprintf(want, sizeof want, "\"%016llx\"",
             (unsigned long long)gw_entity_hash(r.body, r.body_len));
    ck_assert_str_eq(etag, want);
    resp_free(&r);
    const char *matching[] = {"%s", "W/%s", "\"nope\", %s", "*"};
    for (size_t i = 0; i < 4; i++) {
        char inm[96];
        snprintf(inm, sizeof inm, matching[i], etag);
        snprintf(hdrs, sizeof hdrs, "%sIf-None-Match: %s\r\n", rid, inm);
        http("GET", "/api/v1/restaurants/42", hdrs, NULL, &r);
        ck_assert_msg(r.status == 304, "If-None-Match: %s -> %d", inm, r.status);
        ck_assert_uint_eq(r.body_len, 0);
        ck_assert_str_eq(header(&r, "etag", v, sizeof v), etag);
        resp_free(&r);
    }
    snprintf(hdrs, sizeof hdrs, "%sIf-None-Match: \"0123456789abcdef\"\r\n", rid);
    http("GET", "/api/v1/restaurants/42", hdrs, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
    /* another body, another tag */
    http("GET", "/api/v1/restaurants/42", "X-Request-Id: etag-2\r\n", NULL, &r);
    ck_assert_str_ne(header(&r, "etag", v, sizeof v), etag);
    resp_free(&r);
}
END_TEST

START_TEST(gzip_etag_differs_and_matches)
{
    http_resp r;
    char etag[64], hdrs[256];
    http("GET", "/api/v1/restaurants/7", "Accept-Encoding: gzip\r\nX-Request-Id: g\r\n", NULL,
         &r);
    ck_assert_ptr_nonnull(header(&r, "etag", etag, sizeof etag));
    ck_assert_ptr_nonnull(strstr(etag, "-gz\""));
    resp_free(&r);
    snprintf(hdrs, sizeof hdrs, "X-Request-Id: g\r\nIf-None-Match: %s\r\n", etag);
    http("GET", "/api/v1/restaurants/7", hdrs, NULL, &r); /* identity, same content */
    ck_assert_int_eq(r.status, 304);
    resp_free(&r);
}
END_TEST

/* ---- pure functions ------------------------------------------------------------------ */

#define AE(s) gw_entity_accepts_gzip(s, strlen(s))
START_TEST(accept_encoding_parsing)
{
    ck_assert(AE("gzip"));
    ck_assert(AE("deflate, GZIP;q=0.5"));
    ck_assert(AE(" br ; q=1 , gzip"));
    ck_assert(AE("*"));
    ck_assert(AE("x-gzip"));
    ck_assert(!AE(""));
    ck_assert(!AE("identity"));
    ck_assert(!AE("gzip;q=0"));
    ck_assert(!AE("gzip; q=0.000, *"));
    ck_assert(!AE("*;q=0"));
    ck_assert(!AE("gzipx"));
    ck_assert(AE("gzip;q=0.001"));
}
END_TEST

#define INM(s, e) gw_entity_etag_matches(s, strlen(s), e)
START_TEST(if_none_match_parsing)
{
    uint64_t e = 0x0123456789abcdefULL;
    ck_assert(INM("\"0123456789abcdef\"", e));
    ck_assert(INM("W/\"0123456789abcdef\"", e));
    ck_assert(INM("\"0123456789abcdef-gz\"", e));
    ck_assert(INM("\"x\" ,  W/\"0123456789abcdef-gz\" ", e));
    ck_assert(INM("*", e));
    ck_assert(!INM("", e));
    ck_assert(!INM("0123456789abcdef", e));
    ck_assert(!INM("\"0123456789abcdee\"", e));
    ck_assert(!INM("\"0123456789abcdef-br\"", e));
    ck_assert(!INM("\"0123456789abcdef", e));
}
END_TEST

START_TEST(backend_names)
{
    char b[32];
    ck_assert_int_eq(gw_proxy_backend_name("swifteats.v1.MenuService", b, sizeof b), 0);
    ck_assert_str_eq(b, "MENU");
    ck_assert_int_eq(gw_proxy_backend_name("swifteats.v1.PaymentGatewayService", b, sizeof b), 0);
    ck_assert_str_eq(b, "PAYMENT_GATEWAY");
    ck_assert_int_eq(gw_proxy_backend_name("swifteats.v1.LogisticsService", b, sizeof b), 0);
    ck_assert_str_eq(b, "LOGISTICS");
    ck_assert_int_eq(gw_proxy_backend_name("x.Service", b, sizeof b), -1);
    ck_assert_int_eq(gw_proxy_backend_name("x.Menu", b, sizeof b), -1);
    ck_assert_int_eq(gw_proxy_backend_name("x.VeryLongNameService", b, 8), -1);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_http");
    TCase *tc = tcase_create("proxy");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, SE_T(30));
    tcase_add_test(tc, get_is_proxied_and_transcoded);
    tcase_add_test(tc, request_id_reaches_backend_and_comes_back);
    tcase_add_test(tc, every_grpc_status_maps_to_http);
    tcase_add_test(tc, unimplemented_method_is_501);
    tcase_add_test(tc, put_body_and_idempotency_key_are_forwarded);
    tcase_add_test(tc, backend_down_gives_503);
    tcase_add_test(tc, client_leaving_cancels_the_rpc);
    tcase_add_test(tc, http1_client_leaving_is_harmless);
    tcase_add_test(tc, oversized_body_gives_413);
    tcase_add_test(tc, bad_input_gives_400_naming_the_field);
    tcase_add_test(tc, wrong_method_gives_405_with_allow);
    tcase_add_test(tc, gzip_when_accepted_and_worth_it);
    tcase_add_test(tc, etag_and_304);
    tcase_add_test(tc, gzip_etag_differs_and_matches);
    suite_add_tcase(s, tc);
    TCase *dl = tcase_create("deadline");
    tcase_add_checked_fixture(dl, setup_short_timeout, teardown);
    tcase_set_timeout(dl, SE_T(30));
    tcase_add_test(dl, deadline_gives_504);
    suite_add_tcase(s, dl);
    TCase *pure = tcase_create("parsing");
    tcase_add_test(pure, accept_encoding_parsing);
    tcase_add_test(pure, if_none_match_parsing);
    tcase_add_test(pure, backend_names);
    suite_add_tcase(s, pure);
    return s;
}

int main(void)
{
    return se_test_run(suite());
}
