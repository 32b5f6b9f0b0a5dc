/* test_gw_logistics.c - location ingest batching (gw_ingest) and the order
 * location WebSocket (gw_order_watch, gw_ws) over real sockets: an
 * in-process gateway (two loops) in front of a fake LogisticsService on our
 * runtime, served on port 0 through the generated handler table, driven by
 * raw HTTP/1.1 and a tiny WebSocket client (masked client frames).
 * Built and registered by gateway/CMakeLists.txt.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../se_test.h"
#include "gw_ingest.h"
#include "gw_order_watch.h"
#include "gw_proxy.h"
#include "gw_server.h"
#include "se_log.h"
#include "swifteats/v1/logistics.se.h"
#include "gw_test_http.h"

/* ---- the fake LogisticsService ------------------------------------------------ */

static se_server *fake_server;
static int fake_port;
static atomic_int batch_calls, batch_reports, batch_max;
static atomic_int watch_cancels;
static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static se_call *watch_call;     /* newest stream; under watch_mu */
static int watch_finished;      /* under watch_mu */
static int64_t watch_order;     /* under watch_mu */

/* driver "bad": INVALID_ARGUMENT for that report; otherwise accepted with
 * message_id "<batch>-<index>". */
static void fake_report_locations(se_call *call, const Swifteats__V1__ReportLocationsRequest *req,
                                  void *ctx)
{
    (void)ctx;
    int n = (int)req->n_reports, call_no = atomic_fetch_add(&batch_calls, 1);
    atomic_fetch_add(&batch_reports, n);
    int max = atomic_load(&batch_max);
    while (n > max && !atomic_compare_exchange_weak(&batch_max, &max, n))
        ;
    Swifteats__V1__ReportLocationResult *res = calloc((size_t)n, sizeof *res);
    Swifteats__V1__ReportLocationResponse *rec = calloc((size_t)n, sizeof *rec);
    Swifteats__V1__ReportLocationResult **ptrs = calloc((size_t)n, sizeof *ptrs);
    char (*ids)[32] = calloc((size_t)n, sizeof *ids);
    for (int i = 0; i < n; i++) {
        swifteats__v1__report_location_result__init(&res[i]);
        swifteats__v1__report_location_response__init(&rec[i]);
        ptrs[i] = &res[i];
        if (strcmp(req->reports[i]->driver_id, "bad") == 0) {
            res[i].code = GRPC_STATUS_INVALID_ARGUMENT;
            res[i].message = "driver_id must not be \"bad\"";
            continue;
        }
        snprintf(ids[i], sizeof ids[i], "%d-%d", call_no, i);
        rec[i].status = "accepted";
        rec[i].message_id = ids[i];
        rec[i].driver_id = req->reports[i]->driver_id;
        res[i].receipt = &rec[i];
    }
    Swifteats__V1__ReportLocationsResponse resp = SWIFTEATS__V1__REPORT_LOCATIONS_RESPONSE__INIT;
    resp.n_results = (size_t)n;
    resp.results = ptrs;
    se_call_reply(call, &resp.base);
    free(res);
    free(rec);
    free(ptrs);
    free(ids);
}

static void watch_cancelled(void *arg)
{
    se_call *call = arg;
    atomic_fetch_add(&watch_cancels, 1);
    pthread_mutex_lock(&watch_mu);
    int finish = call == watch_call && !watch_finished;
    if (finish)
        watch_finished = 1;
    pthread_mutex_unlock(&watch_mu);
    if (finish)
        se_call_finish(call, GRPC_STATUS_CANCELLED, "watcher cancelled");
}

static void fake_watch(se_call *call, const Swifteats__V1__WatchOrderLocationRequest *req,
                       void *ctx)
{
    (void)ctx;
    Swifteats__V1__Location marker = SWIFTEATS__V1__LOCATION__INIT;
    pthread_mutex_lock(&watch_mu);
    watch_call = call;
    watch_finished = 0;
    watch_order = req->order_id;
    se_call_send(call, &marker.base);
    pthread_mutex_unlock(&watch_mu);
    se_call_on_cancel(call, watch_cancelled, call);
}

static const swifteats_v1_logistics_service_handlers fake_handlers = {
    .report_locations = fake_report_locations,
    .watch_order_location = fake_watch,
};

/* Pushes a Location to the newest stream. */
static void fake_push(const char *driver, double lat)
{
    Swifteats__V1__Location loc = SWIFTEATS__V1__LOCATION__INIT;
    loc.driver_id = (char *)driver;
    loc.latitude = lat;
    loc.longitude = 13.4;
    pthread_mutex_lock(&watch_mu);
    ck_assert_ptr_nonnull(watch_call);
    if (!watch_finished)
        se_call_send(watch_call, &loc.base);
    pthread_mutex_unlock(&watch_mu);
}

/* Ends the newest stream from the service's side. */
static void fake_end(grpc_status_code code)
{
    pthread_mutex_lock(&watch_mu);
    int finish = watch_call != NULL && !watch_finished;
    watch_finished = 1;
    se_call *call = watch_call;
    pthread_mutex_unlock(&watch_mu);
    if (finish)
        se_call_finish(call, code, "fake end");
}

static int stream_open(void)
{
    pthread_mutex_lock(&watch_mu);
    int open = watch_call != NULL && !watch_finished;
    pthread_mutex_unlock(&watch_mu);
    return open;
}

/* ---- fixture -------------------------------------------------------------------- */

static gw_server *server;
static gw_proxy *proxy;
static gw_ingest *ingest;
static gw_order_watch *order_watch;

static void start_gateway(const char *target)
{
    setenv("SE_LOGISTICS_TARGET", target, 1); /* the proxy's unary routes */
    gw_server_config cfg = {.addr = "127.0.0.1:0", .threads = 2, .grace_ms = SE_T(3000),
                            .max_body_bytes = 65536};
    server = gw_server_create(&cfg);
    ck_assert_ptr_nonnull(server);
    gw_proxy_config pcfg = {.timeout_ms = SE_T(3000), .max_body_bytes = 4096};
    proxy = gw_proxy_create(gw_server_router(server), &pcfg, NULL);
    ck_assert_ptr_nonnull(proxy);
    se_channel *ch = se_channel_get(target);
    gw_ingest_config icfg = {.enabled = 1, .batch_max = 256, .delay_us = 0, .inflight_max = 1};
    ingest = gw_ingest_create(proxy, ch, &icfg);
    ck_assert_ptr_nonnull(ingest);
    gw_ws_config wcfg = {.ping_s = 20, .close_timeout_ms = SE_T(300), .max_msg_bytes = 4096};
    order_watch = gw_order_watch_create(gw_server_router(server), ch, &wcfg);
    ck_assert_ptr_nonnull(order_watch);
    ck_assert_int_eq(gw_server_start(server), 0);
    gw_port = gw_server_port(server);
}

static void reset_fake(void)
{
    atomic_store(&batch_calls, 0); /* CK_FORK=no runs every test in one process */
    atomic_store(&batch_reports, 0);
    atomic_store(&batch_max, 0);
    atomic_store(&watch_cancels, 0);
    watch_call = NULL;
    watch_finished = 0;
}

static void setup(void)
{
    reset_fake();
    setenv("SE_GATEWAY_ACCESS_LOG", "false", 1);
    setenv("SE_LOG_LEVEL", "warn", 1);
    se_log_init("test_gw_logistics");
    se_rpc_init();
    se_server_config cfg = {.name = "fake-logistics", .listen_addr = "127.0.0.1:0",
                            .grace_ms = 100};
    fake_server = se_server_create(&cfg);
    ck_assert_ptr_nonnull(fake_server);
    ck_assert_int_eq(swifteats_v1_logistics_service_register(fake_server, &fake_handlers, NULL),
                     0);
    ck_assert_int_eq(se_server_start(fake_server), 0);
    fake_port = se_server_port(fake_server);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", fake_port);
    start_gateway(target);
}

/* The backend is a port nobody listens on. */
static void setup_down(void)
{
    reset_fake();
    setenv("SE_GATEWAY_ACCESS_LOG", "false", 1);
    setenv("SE_LOG_LEVEL", "error", 1);
    se_log_init("test_gw_logistics");
    se_rpc_init();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd); /* free again: nobody listens there */
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", ntohs(sa.sin_port));
    start_gateway(target);
}

static void teardown(void)
{
    gw_server_stop(server);
    gw_server_destroy(server);
    gw_order_watch_destroy(order_watch);
    gw_ingest_destroy(ingest);
    gw_proxy_destroy(proxy);
    if (fake_server != NULL) {
        fake_end(GRPC_STATUS_UNAVAILABLE);
        se_server_shutdown(fake_server);
        se_server_destroy(fake_server);
        fake_server = NULL;
    }
    se_rpc_shutdown();
}

/* ---- raw HTTP ------------------------------------------------------------------- */


/* Sends a POST of a location report (Connection: close) on a new socket. */
static int post_location(const char *driver, const char *body, const char *rid)
{
    char raw[1024];
    int n = snprintf(raw, sizeof raw,
                     "POST /api/v1/drivers/%s/location HTTP/1.1\r\nHost: t\r\n"
                     "Connection: close\r\nX-Request-Id: %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     driver, rid, strlen(body), body);
    int fd = connect_gateway();
    send_all(fd, raw, (size_t)n);
    return fd;
}

/* Reads the whole response (to EOF) into buf; returns the status. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t n;
    char *all = read_all(fd, &n);
    ck_assert_uint_lt(n, cap);
    memcpy(buf, all, n + 1);
    free(all);
    int status = 0;
    ck_assert_int_eq(sscanf(buf, "HTTP/1.1 %d", &status), 1);
    return status;
}

static const char *body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    ck_assert_ptr_nonnull(b);
    return b + 4;
}

#define REPORT "{\"latitude\":52.5,\"longitude\":13.4}"

/* ---- ingest ----------------------------------------------------------------------- */

START_TEST(concurrent_posts_are_batched_and_answered_each)
{
    enum { N = 48 };
    int fds[N];
    char driver[32], rid[32], buf[4096], want[64];
    for (int i = 0; i < N; i++) {
        snprintf(driver, sizeof driver, "drv-%d", i);
        snprintf(rid, sizeof rid, "rid-%d", i);
        fds[i] = post_location(driver, REPORT, rid);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(read_response(fds[i], buf, sizeof buf), 202);
        snprintf(want, sizeof want, "\"driver_id\":\"drv-%d\"", i);
        ck_assert_msg(strstr(body_of(buf), want) != NULL, "%s", buf);
        ck_assert_ptr_nonnull(strstr(body_of(buf), "\"status\":\"accepted\""));
        ck_assert_ptr_nonnull(strstr(body_of(buf), "\"message_id\":\""));
        snprintf(want, sizeof want, "rid-%d", i);
        ck_assert_ptr_nonnull(strstr(buf, want)); /* X-Request-Id echoed */
    }
    ck_assert_int_eq(atomic_load(&batch_reports), N);
    ck_assert_int_lt(atomic_load(&batch_calls), N); /* one in flight per loop: batches */
    ck_assert_int_gt(atomic_load(&batch_max), 1);
    gw_ingest_stats st;
    gw_ingest_stats_get(ingest, &st);
    ck_assert_uint_eq(st.reports, N);
    ck_assert_uint_eq(st.calls, (uint64_t)atomic_load(&batch_calls));
}
END_TEST

START_TEST(one_invalid_report_gets_400_the_others_202)
{
    int a = post_location("good-1", REPORT, "r1");
    int b = post_location("bad", REPORT, "r2");
    int c = post_location("good-2", REPORT, "r3");
    char buf[4096];
    ck_assert_int_eq(read_response(a, buf, sizeof buf), 202);
    ck_assert_int_eq(read_response(b, buf, sizeof buf), 400);
    ck_assert_ptr_nonnull(strstr(body_of(buf), "\"status\":\"INVALID_ARGUMENT\""));
    ck_assert_ptr_nonnull(strstr(body_of(buf), "driver_id must not be"));
    ck_assert_int_eq(read_response(c, buf, sizeof buf), 202);
}
END_TEST

START_TEST(malformed_json_is_400_without_a_call)
{
    char buf[4096];
    int fd = post_location("drv", "{\"latitude\":", "r-bad-json");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf), 400);
    fd = post_location("drv", "{\"latitude\":\"north\",\"longitude\":1}", "r-bad-type");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf), 400);
    ck_assert_ptr_nonnull(strstr(body_of(buf), "latitude"));
    ck_assert_int_eq(atomic_load(&batch_calls), 0);
}
END_TEST

START_TEST(backend_down_gives_503_to_every_request)
{
    int a = post_location("d1", REPORT, "r1");
    int b = post_location("d2", REPORT, "r2");
    char buf[4096];
    ck_assert_int_eq(read_response(a, buf, sizeof buf), 503);
    ck_assert_ptr_nonnull(strstr(body_of(buf), "\"status\":\"UNAVAILABLE\""));
    ck_assert_int_eq(read_response(b, buf, sizeof buf), 503);
}
END_TEST

START_TEST(client_leaving_before_the_answer_is_harmless)
{
    for (int i = 0; i < 20; i++)
        close(post_location("leaver", REPORT, "r-leave"));
    char buf[4096];
    int fd = post_location("stayer", REPORT, "r-stay");
    ck_assert_int_eq(read_response(fd, buf, sizeof buf), 202);
}
END_TEST

/* ---- a tiny WebSocket client --------------------------------------------------------- */

/* Opens a WebSocket on path; returns the fd after the 101. */
static int ws_open_rcvbuf(const char *path, int rcvbuf)
{
    int fd = connect_gateway_rcvbuf(rcvbuf);
    char raw[512], head[2048];
    int n = snprintf(raw, sizeof raw,
                     "GET %s HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path);
    send_all(fd, raw, (size_t)n);
    size_t len = 0; /* byte by byte: the frames after the head stay in the socket */
    while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
        ck_assert_uint_lt(len, sizeof head - 1);
        ck_assert_int_eq(recv(fd, head + len, 1, 0), 1);
        len++;
    }
    head[len] = '\0';
    ck_assert_msg(strncmp(head, "HTTP/1.1 101", 12) == 0, "%s", head);
    ck_assert_ptr_nonnull(strstr(head, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    return fd;
}

static int ws_open(const char *path)
{
    return ws_open_rcvbuf(path, 0);
}

static void recv_exact(int fd, void *p, size_t len)
{
    char *c = p;
    while (len > 0) {
        ssize_t k = recv(fd, c, len, 0);
        ck_assert_msg(k > 0, "recv: %zd %s", k, k < 0 ? strerror(errno) : "EOF");
        c += k;
        len -= (size_t)k;
    }
}

/* Reads the next frame other than a ping; returns its opcode, payload in
 * buf (NUL-terminated). */
static int ws_read(int fd, char *buf, size_t cap, size_t *len_out)
{
    for (;;) {
        uint8_t h[2];
        recv_exact(fd, h, 2);
        ck_assert_int_eq(h[1] & 0x80, 0); /* server frames are not masked */
        uint64_t len = h[1] & 0x7f;
        if (len == 126) {
            uint8_t e[2];
            recv_exact(fd, e, 2);
            len = (uint64_t)e[0] << 8 | e[1];
        } else if (len == 127) {
            uint8_t e[8];
            recv_exact(fd, e, 8);
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | e[i];
        }
        ck_assert_uint_lt(len, cap);
        recv_exact(fd, buf, (size_t)len);
        buf[len] = '\0';
        if ((h[0] & 0x0f) == 0x9)
            continue;
        if (len_out != NULL)
            *len_out = (size_t)len;
        return h[0] & 0x0f;
    }
}

static void ws_send(int fd, int opcode, const char *payload, size_t len)
{
    uint8_t frame[256];
    ck_assert_uint_lt(len, 126);
    static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};
    frame[0] = (uint8_t)(0x80 | opcode);
    frame[1] = (uint8_t)(0x80 | len);
    memcpy(frame + 2, mask, 4);
    for (size_t i = 0; i < len; i++)
        frame[6 + i] = (uint8_t)payload[i] ^ mask[i % 4];
    send_all(fd, frame, 6 + len);
}

static void ws_expect_text(int fd, const char *needle, char *buf, size_t cap)
{
    ck_assert_int_eq(ws_read(fd, buf, cap, NULL), 0x1);
    ck_assert_msg(strstr(buf, needle) != NULL, "want %s in %s", needle, buf);
}

static int ws_expect_close(int fd)
{
    char buf[256];
    size_t len;
    ck_assert_int_eq(ws_read(fd, buf, sizeof buf, &len), 0x8);
    ck_assert_uint_ge(len, 2);
    return (uint8_t)buf[0] << 8 | (uint8_t)buf[1];
}

#define WATCH_PATH "/api/v1/drivers/orders/77/driver-location"

/* ---- WebSocket --------------------------------------------------------------------- */

START_TEST(ws_connected_update_then_unsubscribe)
{
    char buf[2048];
    int fd = ws_open(WATCH_PATH);
    ws_expect_text(fd, "{\"type\":\"connected\",\"order_id\":77,\"message\":"
                       "\"subscribed to driver location updates\"}", buf, sizeof buf);
    pthread_mutex_lock(&watch_mu);
    ck_assert_int_eq(watch_order, 77);
    pthread_mutex_unlock(&watch_mu);
    fake_push("driver-9", 52.25);
    ws_expect_text(fd, "{\"type\":\"location_update\",\"data\":{", buf, sizeof buf);
    ck_assert_ptr_nonnull(strstr(buf, "\"driver_id\":\"driver-9\""));
    ck_assert_ptr_nonnull(strstr(buf, "\"latitude\":52.25"));
    ws_send(fd, 0x1, "{\"action\":\"hello\"}", 18);
    ws_expect_text(fd, "{\"type\":\"error\",\"message\":", buf, sizeof buf);
    const char *unsub = "{\"action\":\"unsubscribe\"}";
    ws_send(fd, 0x1, unsub, strlen(unsub));
    ck_assert_int_eq(ws_expect_close(fd), 1000);
    ws_send(fd, 0x8, "\x03\xe8", 2); /* our close answer */
    SE_POLL_UNTIL(atomic_load(&watch_cancels) == 1, 5000);
    ck_assert_int_eq(atomic_load(&watch_cancels), 1);
    SE_POLL_UNTIL(gw_ws_open_count() == 0, 5000);
    ck_assert_uint_eq(gw_ws_open_count(), 0);
    close(fd);
    gw_order_watch_stats st;
    SE_POLL_UNTIL((gw_order_watch_stats_get(order_watch, &st), st.freed == 1), 5000);
    ck_assert_uint_eq(st.freed, 1);
    ck_assert_uint_eq(st.updates, 1);
}
END_TEST

START_TEST(ws_client_disconnect_cancels_the_stream)
{
    char buf[2048];
    int fd = ws_open(WATCH_PATH);
    ws_expect_text(fd, "\"type\":\"connected\"", buf, sizeof buf);
    close(fd);
    SE_POLL_UNTIL(atomic_load(&watch_cancels) == 1, 5000);
    ck_assert_int_eq(atomic_load(&watch_cancels), 1);
    gw_order_watch_stats st;
    SE_POLL_UNTIL((gw_order_watch_stats_get(order_watch, &st), st.freed == 1), 5000);
    ck_assert_uint_eq(st.freed, 1);
}
END_TEST

START_TEST(ws_stream_end_closes_the_socket)
{
    char buf[2048];
    int fd = ws_open(WATCH_PATH);
    ws_expect_text(fd, "\"type\":\"connected\"", buf, sizeof buf);
    fake_end(GRPC_STATUS_RESOURCE_EXHAUSTED);
    ck_assert_int_eq(ws_expect_close(fd), 1013);
    close(fd);
    gw_order_watch_stats st;
    SE_POLL_UNTIL((gw_order_watch_stats_get(order_watch, &st), st.freed == 1), 5000);
    ck_assert_uint_eq(st.freed, 1);
}
END_TEST

START_TEST(ws_slow_reader_gets_the_newest)
{
    char buf[2048];
    enum { PUSHES = 20000 };
    static const char driver[] = "slow-driver-with-a-long-name-0123456789-0123456789-0123456789";
    int fd = ws_open_rcvbuf(WATCH_PATH, 4096); /* the gateway's writes back up */
    ws_expect_text(fd, "\"type\":\"connected\"", buf, sizeof buf);
    for (int i = 1; i < PUSHES; i++)
        fake_push(driver, (double)i / 1000.0);
    fake_push(driver, 89.5);
    gw_order_watch_stats st;
    SE_POLL_UNTIL((gw_order_watch_stats_get(order_watch, &st), st.coalesced > 0), 5000);
    int last = 0;
    while (!last) {
        ws_expect_text(fd, "location_update", buf, sizeof buf);
        last = strstr(buf, "\"latitude\":89.5") != NULL;
    }
    /* the loop counts an update once its send returned: the frame may
     * reach us a moment before that */
    SE_POLL_UNTIL((gw_order_watch_stats_get(order_watch, &st),
                   st.updates + st.coalesced == PUSHES), 2000);
    ck_assert_uint_gt(st.coalesced, 0);
    ck_assert_uint_eq(st.updates + st.coalesced, PUSHES);
    ck_assert_uint_lt(st.updates, PUSHES);
    close(fd);
}
END_TEST

START_TEST(ws_gateway_stop_closes_with_1001)
{
    char buf[2048];
    int fd = ws_open(WATCH_PATH);
    ws_expect_text(fd, "\"type\":\"connected\"", buf, sizeof buf);
    int64_t t0 = se_test_now_ms();
    gw_server_stop(server); /* nobody answers the close: the close timeout ends it */
    ck_assert_int_lt(se_test_now_ms() - t0, SE_T(2500));
    ck_assert_int_eq(ws_expect_close(fd), 1001);
    close(fd);
    SE_POLL_UNTIL(atomic_load(&watch_cancels) == 1, 5000);
    ck_assert_int_eq(atomic_load(&watch_cancels), 1);
}
END_TEST

START_TEST(ws_bad_order_id_is_400_and_plain_get_stays_rest)
{
    char raw[512], buf[4096];
    int fd = connect_gateway();
    int n = snprintf(raw, sizeof raw,
                     "GET /api/v1/drivers/orders/0/driver-location HTTP/1.1\r\nHost: t\r\n"
                     "Upgrade: websocket\r\nConnection: Upgrade, close\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n");
    send_all(fd, raw, (size_t)n);
    ck_assert_int_eq(read_response(fd, buf, sizeof buf), 400);
    ck_assert_ptr_nonnull(strstr(body_of(buf), "order_id must be an integer greater than 0"));
    fd = connect_gateway();
    n = snprintf(raw, sizeof raw, "GET " WATCH_PATH " HTTP/1.1\r\nHost: t\r\n"
                                  "Connection: close\r\n\r\n");
    send_all(fd, raw, (size_t)n);
    /* the unary route: the fake has no GetOrderDriverLocation */
    ck_assert_int_eq(read_response(fd, buf, sizeof buf), 501);
    ck_assert_int_eq(stream_open(), 0);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_logistics");
    TCase *tc = tcase_create("ingest");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, concurrent_posts_are_batched_and_answered_each);
    tcase_add_test(tc, one_invalid_report_gets_400_the_others_202);
    tcase_add_test(tc, malformed_json_is_400_without_a_call);
    tcase_add_test(tc, client_leaving_before_the_answer_is_harmless);
    suite_add_tcase(s, tc);
    TCase *down = tcase_create("backend_down");
    tcase_add_checked_fixture(down, setup_down, teardown);
    tcase_set_timeout(down, 60);
    tcase_add_test(down, backend_down_gives_503_to_every_request);
    suite_add_tcase(s, down);
    TCase *ws = tcase_create("websocket");
    tcase_add_checked_fixture(ws, setup, teardown);
    tcase_set_timeout(ws, 60);
    tcase_add_test(ws, ws_connected_update_then_unsubscribe);
    tcase_add_test(ws, ws_client_disconnect_cancels_the_stream);
    tcase_add_test(ws, ws_stream_end_closes_the_socket);
    tcase_add_test(ws, ws_slow_reader_gets_the_newest);
    tcase_add_test(ws, ws_gateway_stop_closes_with_1001);
    tcase_add_test(ws, ws_bad_order_id_is_400_and_plain_get_stays_rest);
    suite_add_tcase(s, ws);
    return s;
}

int main(void)
{
    return se_test_run(suite());
}
