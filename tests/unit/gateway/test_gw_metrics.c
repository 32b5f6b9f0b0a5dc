/* test_gw_metrics.c - GET /metrics and the readiness backend list: an
 * in-process gateway (gw_server + gw_proxy + gw_health + gw_metrics, two
 * loops) in front of the fake MenuService (gw_fake_backend.h), driven by a
 * small HTTP/1.1 client; plus the response table without a server. Each
 * test forks (Check's default), so the process-wide counters start at 0.
 * Built and registered by gateway/CMakeLists.txt.
 */
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../se_test.h"
#include "gw_fake_backend.h"
#include "gw_health.h"
#include "gw_metrics.h"
#include "gw_test_http.h"
#include "gw_proxy.h"
#include "gw_server.h"
#include "se_log.h"

static fake_backend fb;
static gw_server *server;
static gw_proxy *proxy;

/* ---- fixture ---------------------------------------------------------------- */

/* The fake serves MenuService and health; order, logistics and the payment
 * gateway point at a port where nothing listens. */
static void setup_with_backends(const char *readyz_backends)
{
    setenv("SE_LOG_LEVEL", "warn", 1);
    se_log_init("test_gw_metrics");
    se_rpc_init();
    ck_assert_int_eq(fake_backend_start(&fb, 0, SE_T(1500)), 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", fb.port);
    setenv("SE_MENU_TARGET", target, 1);
    setenv("SE_ORDER_TARGET", "127.0.0.1:1", 1);
    setenv("SE_LOGISTICS_TARGET", "127.0.0.1:1", 1);
    setenv("SE_PAYMENT_GATEWAY_TARGET", "127.0.0.1:1", 1);
    if (readyz_backends != NULL)
        setenv("SE_GATEWAY_READYZ_BACKENDS", readyz_backends, 1);
    gw_health_init(SE_T(1000));
    gw_server_config cfg = {.addr = "127.0.0.1:0", .threads = 2, .grace_ms = SE_T(2000)};
    server = gw_server_create(&cfg);
    ck_assert_ptr_nonnull(server);
    gw_proxy_config pcfg = {.timeout_ms = SE_T(3000), .max_body_bytes = 4096};
    proxy = gw_proxy_create(gw_server_router(server), &pcfg, NULL);
    ck_assert_ptr_nonnull(proxy);
    ck_assert_int_eq(gw_health_register(gw_server_router(server)), 0);
    gw_metrics_sources src = {.proxy = proxy};
    ck_assert_int_eq(gw_metrics_register(gw_server_router(server), &src), 0);
    ck_assert_int_eq(gw_server_start(server), 0);
    gw_port = gw_server_port(server);
}

static void setup(void)
{
    setenv("SE_GATEWAY_ACCESS_LOG", "false", 1); /* counting must not depend on it */
    setup_with_backends(NULL);
}

static void setup_menu_only(void)
{
    setenv("SE_GATEWAY_ACCESS_LOG", "false", 1);
    setup_with_backends("menu");
}

static void teardown(void)
{
    gw_server_stop(server);
    gw_server_destroy(server);
    gw_proxy_destroy(proxy);
    fake_backend_stop(&fb);
    se_rpc_shutdown();
}

/* GET path (gw_test_http.h), with the Content-Type header value. */
static void http_get(const char *path, http_resp *out, char *content_type, size_t ct_len)
{
    http("GET", path, NULL, NULL, out);
    const char *ct = strcasestr(out->head, "\r\ncontent-type: ");
    snprintf(content_type, ct_len, "%.*s", ct ? (int)strcspn(ct + 16, "\r") : 0,
             ct ? ct + 16 : "");
}

/* ---- reading the exposition ----------------------------------------------------- */

/* The value of the sample `series` ("name" or "name{labels}"), or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p != NULL && *p != '\0'; p = strchr(p, '\n'), p = p ? p + 1 : p)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return -1;
}

static double scrape(const char *series)
{
    http_resp r;
    char ct[128];
    http_get("/metrics", &r, ct, sizeof ct);
    ck_assert_int_eq(r.status, 200);
    double v = sample(r.body, series);
    free(r.body);
    return v;
}

/* The access log hook counts a response when h2o disposes the request,
 * just after the client has read it: poll until `series` reaches `want`. */
static void expect_series(const char *series, double want)
{
    int64_t deadline = se_test_now_ms() + SE_T(3000);
    double v;
    while ((v = scrape(series)) < want && se_test_now_ms() < deadline)
        se_test_sleep_ms(10);
    ck_assert_msg(v == want, "%s = %g, want %g", series, v, want);
}

#define RESP(group, class)                                                                 \
    "swifteats_gateway_http_responses_total{group=\"" group "\",class=\"" class "\"}"

/* ---- /metrics over HTTP ---------------------------------------------------------- */

START_TEST(metrics_is_prometheus_text)
{
    http_resp r;
    char ct[128];
    http_get("/metrics", &r, ct, sizeof ct);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(ct, "text/plain; version=0.0.4; charset=utf-8");
    static const char *const families[] = {
        "http_responses_total", "proxy_calls_total", "proxy_cancelled_total",
        "proxy_dropped_total", "ingest_batches_total", "ingest_reports_total",
        "ingest_failed_batches_total", "ws_watchers", "ws_updates_total", "ws_coalesced_total",
        "edge_cache_hits_total", "edge_cache_misses_total", "edge_cache_entries",
        "edge_cache_bytes", "uptime_seconds", "build_info",
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        char help[128], type[128];
        snprintf(help, sizeof help, "\n# HELP swifteats_gateway_%s ", families[i]);
        snprintf(type, sizeof type, "\n# TYPE swifteats_gateway_%s ", families[i]);
        int first = strncmp(r.body, help + 1, strlen(help) - 1) == 0;
        ck_assert_msg(first || strstr(r.body, help) != NULL, "no HELP for %s", families[i]);
        ck_assert_msg(strstr(r.body, type) != NULL, "no TYPE for %s", families[i]);
    }
    /* every sample is in the namespace; counters end in _total */
    char *save = NULL;
    for (char *line = strtok_r(r.body, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char name[128], type[16];
            ck_assert_int_eq(sscanf(line + 7, "%127s %15s", name, type), 2);
            if (strcmp(type, "counter") == 0)
                ck_assert_msg(strlen(name) > 6 && strcmp(name + strlen(name) - 6, "_total") == 0,
                              "counter %s does not end in _total", name);
            else
                ck_assert_str_eq(type, "gauge");
        } else if (line[0] != '#') {
            ck_assert_msg(strncmp(line, "swifteats_gateway_", 18) == 0, "sample %s", line);
        }
    }
    free(r.body);
    ck_assert(scrape("swifteats_gateway_uptime_seconds") >= 0);
}
END_TEST

START_TEST(counters_increase_after_requests)
{
    ck_assert(scrape("swifteats_gateway_proxy_calls_total") == 0);
    http_resp r;
    char ct[128];
    http_get("/api/v1/restaurants/42", &r, ct, sizeof ct); /* 200 */
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    http_get("/api/v1/restaurants/905", &r, ct, sizeof ct); /* NOT_FOUND -> 404 */
    ck_assert_int_eq(r.status, 404);
    free(r.body);
    http_get("/api/v1/restaurants/913", &r, ct, sizeof ct); /* INTERNAL -> 500 */
    ck_assert_int_eq(r.status, 500);
    free(r.body);
    http_get("/no/such/path", &r, ct, sizeof ct);
    ck_assert_int_eq(r.status, 404);
    free(r.body);
    http_get("/healthz", &r, ct, sizeof ct);
    free(r.body);
    expect_series(RESP("restaurants", "2xx"), 1);
    expect_series(RESP("restaurants", "4xx"), 1);
    expect_series(RESP("restaurants", "5xx"), 1);
    expect_series(RESP("unmatched", "4xx"), 1);
    expect_series(RESP("health", "2xx"), 1);
    ck_assert(scrape(RESP("orders", "2xx")) == 0);
    ck_assert(scrape("swifteats_gateway_proxy_calls_total") == 3);
    ck_assert(scrape("swifteats_gateway_ws_watchers") == 0);
    ck_assert(scrape(RESP("metrics", "2xx")) >= 1); /* the scrapes themselves */
}
END_TEST

START_TEST(readyz_checks_all_backends_by_default)
{
    http_resp r;
    char ct[128];
    http_get("/readyz", &r, ct, sizeof ct); /* order, logistics, payment gateway are down */
    ck_assert_int_eq(r.status, 503);
    ck_assert_ptr_nonnull(strstr(r.body, "payment_gateway"));
    free(r.body);
    expect_series(RESP("health", "5xx"), 1);
}
END_TEST

START_TEST(readyz_checks_only_listed_backends)
{
    http_resp r;
    char ct[128];
    http_get("/readyz", &r, ct, sizeof ct); /* SE_GATEWAY_READYZ_BACKENDS=menu: the others are down */
    ck_assert_msg(r.status == 200, "%d %s", r.status, r.body);
    ck_assert_ptr_nonnull(strstr(r.body, "\"name\":\"menu\""));
    ck_assert_ptr_null(strstr(r.body, "\"order\""));
    ck_assert_ptr_null(strstr(r.body, "payment_gateway"));
    free(r.body);
}
END_TEST

/* ---- the response table, without a server ----------------------------------------- */

START_TEST(response_groups_and_classes)
{
    gw_metrics_count_response(200, "/api/v1/orders/{order_id}");
    gw_metrics_count_response(201, "/api/v1/orders");
    gw_metrics_count_response(101, "/api/v1/drivers/orders/{order_id}/driver-location");
    gw_metrics_count_response(0, "/api/v1/restaurants"); /* client left */
    gw_metrics_count_response(404, "/api/v1/restaurantsX"); /* not the resource */
    gw_metrics_count_response(413, NULL);                   /* h2o's own answer */
    gw_metrics_count_response(999, "/readyz");
    gw_buf b;
    gw_buf_init(&b);
    gw_metrics_write(&b); /* no sources registered: zeros */
    gw_buf_putc(&b, '\0');
    ck_assert(sample(b.data, RESP("orders", "2xx")) == 2);
    ck_assert(sample(b.data, RESP("drivers", "1xx")) == 1);
    ck_assert(sample(b.data, RESP("restaurants", "none")) == 1);
    ck_assert(sample(b.data, RESP("other", "4xx")) == 1);
    ck_assert(sample(b.data, RESP("unmatched", "4xx")) == 1);
    ck_assert(sample(b.data, RESP("health", "none")) == 1);
    ck_assert(sample(b.data, RESP("restaurants", "2xx")) == 0);
    ck_assert(sample(b.data, "swifteats_gateway_edge_cache_entries") == 0);
    ck_assert(sample(b.data, "swifteats_gateway_ingest_batches_total") == 0);
    gw_buf_dispose(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_metrics");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, SE_T(30));
    tcase_add_test(tc, metrics_is_prometheus_text);
    tcase_add_test(tc, counters_increase_after_requests);
    tcase_add_test(tc, readyz_checks_all_backends_by_default);
    suite_add_tcase(s, tc);
    TCase *ready = tcase_create("readyz_backends");
    tcase_add_checked_fixture(ready, setup_menu_only, teardown);
    tcase_set_timeout(ready, SE_T(30));
    tcase_add_test(ready, readyz_checks_only_listed_backends);
    suite_add_tcase(s, ready);
    TCase *pure = tcase_create("table");
    tcase_add_test(pure, response_groups_and_classes);
    suite_add_tcase(s, pure);
    return s;
}

int main(void)
{
    return se_test_run(suite());
}
