/* test_gw_router.c - route matching of the gateway's router (no sockets).
 * Built and registered by gateway/CMakeLists.txt (it links the gateway's
 * sources and h2o, which tests/CMakeLists.txt's suites do not). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "gw_router.h"

static h2o_globalconf_t conf;
static gw_router *rt;

static void noop(gw_request *r, const gw_route_match *m, void *data)
{
    (void)r;
    (void)m;
    (void)data;
}

static void setup(void)
{
    h2o_config_init(&conf);
    h2o_hostconf_t *host =
        h2o_config_register_host(&conf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    rt = gw_router_create(h2o_config_register_path(host, "/", 0));
    ck_assert_int_eq(gw_router_add(rt, "GET", "/healthz", noop, NULL), 0);
    ck_assert_int_eq(gw_router_add(rt, "GET", "/api/v1/orders/{order_id}", noop, NULL), 0);
    ck_assert_int_eq(gw_router_add(rt, "POST", "/api/v1/orders", noop, NULL), 0);
    static const char item_tpl[] =
        "/api/v1/restaurants/{restaurant_id}/menu/items/{item_id}/availability";
    ck_assert_int_eq(gw_router_add(rt, "PUT", item_tpl, noop, NULL), 0);
}

static void teardown(void)
{
    h2o_config_dispose(&conf);
    gw_router_destroy(rt);
}

static int match(const char *method, const char *path, gw_route_match *m)
{
    return gw_router_match(rt, h2o_iovec_init(method, strlen(method)),
                           h2o_iovec_init(path, strlen(path)), m);
}

static int param_is(const gw_route_match *m, size_t i, const char *name, const char *value)
{
    return i < m->n_params &&
           h2o_memis(m->params[i].name.base, m->params[i].name.len, name, strlen(name)) &&
           h2o_memis(m->params[i].value.base, m->params[i].value.len, value, strlen(value));
}

START_TEST(static_path_matches_exactly)
{
    gw_route_match m;
    ck_assert_int_eq(match("GET", "/healthz", &m), 0);
    ck_assert_uint_eq(m.n_params, 0);
    ck_assert_int_eq(match("GET", "/healthz/", &m), -1);
    ck_assert_int_eq(match("GET", "/healthzz", &m), -1);
    ck_assert_int_eq(match("GET", "/", &m), -1);
}
END_TEST

START_TEST(method_must_match)
{
    gw_route_match m;
    ck_assert_int_eq(match("POST", "/healthz", &m), -1);
    ck_assert_int_eq(match("POST", "/api/v1/orders", &m), 2);
    ck_assert_int_eq(match("GET", "/api/v1/orders", &m), -1);
}
END_TEST

START_TEST(params_capture_segments)
{
    gw_route_match m;
    ck_assert_int_eq(match("GET", "/api/v1/orders/o-42", &m), 1);
    ck_assert(param_is(&m, 0, "order_id", "o-42"));
    ck_assert_int_eq(match("PUT", "/api/v1/restaurants/r1/menu/items/i9/availability", &m), 3);
    ck_assert_uint_eq(m.n_params, 2);
    ck_assert(param_is(&m, 0, "restaurant_id", "r1"));
    ck_assert(param_is(&m, 1, "item_id", "i9"));
}
END_TEST

START_TEST(params_never_match_empty_or_extra_segments)
{
    gw_route_match m;
    ck_assert_int_eq(match("GET", "/api/v1/orders/", &m), -1);
    ck_assert_int_eq(match("GET", "/api/v1/orders/a/b", &m), -1);
    ck_assert_int_eq(match("PUT", "/api/v1/restaurants//menu/items/i9/availability", &m), -1);
}
END_TEST

START_TEST(malformed_templates_are_refused)
{
    ck_assert_int_eq(gw_router_add(rt, "GET", "healthz", noop, NULL), -1);
    ck_assert_int_eq(gw_router_add(rt, "GET", "/a//b", noop, NULL), -1);
    static const char nine[] = "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}";
    ck_assert_int_eq(gw_router_add(rt, "GET", nine, noop, NULL), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_router");
    TCase *tc = tcase_create("match");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, static_path_matches_exactly);
    tcase_add_test(tc, method_must_match);
    tcase_add_test(tc, params_capture_segments);
    tcase_add_test(tc, params_never_match_empty_or_extra_segments);
    tcase_add_test(tc, malformed_templates_are_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
