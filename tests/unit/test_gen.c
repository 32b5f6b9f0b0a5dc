/* test_gen.c - checks the output of tools/protoc-gen-se.
 *
 * Built twice:
 *   test_gen          (tests/CMakeLists.txt) against the committed gen/:
 *                     health, reflection and the registry;
 *   test_gen_fixture  (tools/protoc-gen-se/fixture.cmake, SE_GEN_FIXTURE)
 *                     against tests/fixtures/gen_test.proto generated at
 *                     build time by the plugin just built, plus health and
 *                     reflection. It fakes the runtime calls the generated
 *                     client stubs make, so it also checks what they pass.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "se_test.h"
#include "grpc/health/v1/health.se.h"
#include "grpc/reflection/v1/reflection.se.h"
#include "grpc/reflection/v1alpha/reflection.se.h"
#include "se_registry.h"
#ifdef SE_GEN_FIXTURE
#include "gen_test.se.h"
#endif

/* ---- helpers ------------------------------------------------------------ */

static const se_file_desc *registry_file(const char *name)
{
    for (size_t i = 0; i < se_registry_n_files; i++)
        if (strcmp(se_registry_files[i].name, name) == 0)
            return &se_registry_files[i];
    return NULL;
}

static int registry_has_service(const se_service_desc *svc)
{
    for (size_t i = 0; i < se_registry_n_services; i++)
        if (se_registry_services[i] == svc)
            return 1;
    return 0;
}

/* Reads the first line of a generated file. */
static void first_line(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_ptr_nonnull(fgets(buf, (int)n, f));
    fclose(f);
}

/* The folder the generated files of this build are in. */
static const char *gen_dir(void)
{
#ifdef SE_GEN_FIXTURE
    return SE_GEN_FIXTURE_DIR;
#else
    static char dir[4096];
    /* __FILE__ is <repo>/tests/unit/test_gen.c (absolute under CMake) */
    static const char tail[] = "tests/unit/test_gen.c";
    size_t n = strlen(__FILE__);
    size_t keep = n >= sizeof tail - 1 ? n - (sizeof tail - 1) : 0;
    snprintf(dir, sizeof dir, "%.*sgen", (int)keep, __FILE__);
    return dir;
#endif
}

static int handler_calls;
static const void *handler_req;
static void *handler_ctx;

static void check_handler(se_call *call, const Grpc__Health__V1__HealthCheckRequest *req,
                          void *ctx)
{
    (void)call;
    handler_calls++;
    handler_req = req;
    handler_ctx = ctx;
}

/* ---- health and reflection ---------------------------------------------- */

START_TEST(health_methods_have_paths_kinds_and_descriptors)
{
    const se_method_desc *m = grpc_health_v1_health_methods;
    ck_assert_int_eq(GRPC_HEALTH_V1_HEALTH_N_METHODS, 2);
    ck_assert_str_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_CHECK].path, "/grpc.health.v1.Health/Check");
    ck_assert_str_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_CHECK].name, "Check");
    ck_assert_int_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_CHECK].kind, SE_RPC_UNARY);
    ck_assert_int_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_CHECK].idempotent, 0);
    ck_assert_ptr_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_CHECK].input,
                     &grpc__health__v1__health_check_request__descriptor);
    ck_assert_ptr_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_CHECK].output,
                     &grpc__health__v1__health_check_response__descriptor);
    ck_assert_str_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_WATCH].path, "/grpc.health.v1.Health/Watch");
    ck_assert_int_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_WATCH].kind, SE_RPC_SERVER_STREAMING);
    ck_assert_ptr_eq(m[GRPC_HEALTH_V1_HEALTH_METHOD_WATCH].output,
                     &grpc__health__v1__health_check_response__descriptor);
    ck_assert_ptr_null(m[GRPC_HEALTH_V1_HEALTH_N_METHODS].path); /* terminator */
}
END_TEST

START_TEST(health_service_desc_points_at_its_tables)
{
    const se_service_desc *s = &grpc_health_v1_health_service;
    ck_assert_str_eq(s->name, "grpc.health.v1.Health");
    ck_assert_str_eq(s->file, "grpc/health/v1/health.proto");
    ck_assert_uint_eq(s->n_methods, 2);
    ck_assert_ptr_eq(s->methods, grpc_health_v1_health_methods);
    ck_assert_uint_eq(s->n_routes, 0);
    ck_assert_ptr_eq(s->routes, grpc_health_v1_health_routes);
    ck_assert_ptr_null(s->routes[0].http_method);
}
END_TEST

START_TEST(reflection_is_a_bidi_stream)
{
    const se_method_desc *m = &grpc_reflection_v1_server_reflection_methods
        [GRPC_REFLECTION_V1_SERVER_REFLECTION_METHOD_SERVER_REFLECTION_INFO];
    ck_assert_str_eq(m->path, "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo");
    ck_assert_int_eq(m->kind, SE_RPC_BIDI_STREAMING);
    ck_assert_ptr_eq(m->input, &grpc__reflection__v1__server_reflection_request__descriptor);
    ck_assert_ptr_eq(m->output, &grpc__reflection__v1__server_reflection_response__descriptor);
    const se_method_desc *a = &grpc_reflection_v1alpha_server_reflection_methods
        [GRPC_REFLECTION_V1ALPHA_SERVER_REFLECTION_METHOD_SERVER_REFLECTION_INFO];
    ck_assert_str_eq(a->path,
                     "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo");
    ck_assert_int_eq(a->kind, SE_RPC_BIDI_STREAMING);
    ck_assert_ptr_eq(a->input, &grpc__reflection__v1alpha__server_reflection_request__descriptor);
    ck_assert_str_eq(grpc_reflection_v1alpha_server_reflection_service.name,
                     "grpc.reflection.v1alpha.ServerReflection");
}
END_TEST

START_TEST(trampoline_returns_minus_one_for_null_slot)
{
    grpc_health_v1_health_handlers h = {0};
    const se_method_desc *m = &grpc_health_v1_health_methods[GRPC_HEALTH_V1_HEALTH_METHOD_CHECK];
    ck_assert_int_eq(m->invoke(NULL, NULL, &h, NULL), -1);
    ck_assert_int_eq(handler_calls, 0);
}
END_TEST

START_TEST(trampoline_calls_the_typed_handler)
{
    grpc_health_v1_health_handlers h = {.check = check_handler};
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    int ctx;
    const se_method_desc *m = &grpc_health_v1_health_methods[GRPC_HEALTH_V1_HEALTH_METHOD_CHECK];
    ck_assert_int_eq(m->invoke(NULL, &req.base, &h, &ctx), 0);
    ck_assert_int_eq(handler_calls, 1);
    ck_assert_ptr_eq(handler_req, &req);
    ck_assert_ptr_eq(handler_ctx, &ctx);
    /* Watch's slot is still NULL */
    m = &grpc_health_v1_health_methods[GRPC_HEALTH_V1_HEALTH_METHOD_WATCH];
    ck_assert_int_eq(m->invoke(NULL, &req.base, &h, &ctx), -1);
}
END_TEST

START_TEST(generated_files_start_with_the_banner)
{
    static const char *const files[][2] = {
        {"grpc/health/v1/health.se.h", "grpc/health/v1/health.proto"},
        {"grpc/health/v1/health.se.c", "grpc/health/v1/health.proto"},
        {"grpc/reflection/v1/reflection.se.c", "grpc/reflection/v1/reflection.proto"},
    };
    char path[4200], line[512], want[512];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", gen_dir(), files[i][0]);
        first_line(path, line, sizeof line);
        snprintf(want, sizeof want,
                 "/* Generated by protoc-gen-se from %s; do not edit. */\n", files[i][1]);
        ck_assert_str_eq(line, want);
    }
    snprintf(path, sizeof path, "%s/se_registry.c", gen_dir());
    first_line(path, line, sizeof line);
    ck_assert_msg(strncmp(line, "/* Generated by protoc-gen-se from ", 35) == 0, "%s", line);
}
END_TEST

/* ---- registry ----------------------------------------------------------- */

START_TEST(registry_holds_descriptor_proto)
{
    ck_assert_ptr_nonnull(registry_file("google/protobuf/descriptor.proto"));
    ck_assert_ptr_nonnull(registry_file("grpc/health/v1/health.proto"));
    ck_assert_ptr_nonnull(registry_file("grpc/reflection/v1/reflection.proto"));
    ck_assert_ptr_null(se_registry_files[se_registry_n_files].name);
}
END_TEST

/* Every file parses back with its own name, and protobuf-c re-encodes it to
 * the very same bytes (so unknown fields, i.e. our options, survive). */
START_TEST(registry_files_parse_back_byte_for_byte)
{
    for (size_t i = 0; i < se_registry_n_files; i++) {
        const se_file_desc *f = &se_registry_files[i];
        Google__Protobuf__FileDescriptorProto *fd =
            google__protobuf__file_descriptor_proto__unpack(NULL, f->len, f->data);
        ck_assert_msg(fd != NULL, "%s does not parse", f->name);
        ck_assert_str_eq(fd->name, f->name);
        size_t n = google__protobuf__file_descriptor_proto__get_packed_size(fd);
        ck_assert_uint_eq(n, f->len);
        uint8_t *buf = malloc(n);
        google__protobuf__file_descriptor_proto__pack(fd, buf);
        ck_assert_msg(memcmp(buf, f->data, n) == 0, "%s re-encodes differently", f->name);
        free(buf);
        google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    }
}
END_TEST

START_TEST(registry_lists_health_and_reflection)
{
    ck_assert(registry_has_service(&grpc_health_v1_health_service));
    ck_assert(registry_has_service(&grpc_reflection_v1_server_reflection_service));
    ck_assert(registry_has_service(&grpc_reflection_v1alpha_server_reflection_service));
    ck_assert_ptr_null(se_registry_services[se_registry_n_services]);
    ck_assert_ptr_null(se_registry_routes[se_registry_n_routes]);
    ck_assert_ptr_null(se_registry_cents_fields[se_registry_n_cents_fields].message);
    size_t routes = 0;
    for (size_t i = 0; i < se_registry_n_services; i++)
        routes += se_registry_services[i]->n_routes;
    ck_assert_uint_eq(routes, se_registry_n_routes);
}
END_TEST

#ifdef SE_GEN_FIXTURE
/* ---- the fixture: tests/fixtures/gen_test.proto --------------------------- */

#define CART(x) SE_GENTEST_V1_CART_SERVICE_METHOD_##x
static const se_method_desc *const cart = se_gentest_v1_cart_service_methods;

/* Fakes of the runtime calls the stubs make: they record what they got. */
static const se_method_desc *fake_method;
static const ProtobufCMessage *fake_req;
static ProtobufCMessage *fake_resp;

int se_rpc_unary(se_channel *ch, const se_method_desc *m, const ProtobufCMessage *req,
                 ProtobufCMessage **resp, const se_call_opts *opts, se_status *st)
{
    (void)ch, (void)opts, (void)st;
    fake_method = m;
    fake_req = req;
    *resp = fake_resp;
    return 0;
}

se_pending *se_rpc_unary_async_typed(se_channel *ch, const se_method_desc *m,
                                     const ProtobufCMessage *req, const se_call_opts *opts,
                                     se_unary_adapter adapt, void (*fn)(void), void *arg)
{
    (void)ch, (void)opts;
    se_status st = {.code = GRPC_STATUS_OK};
    fake_method = m;
    fake_req = req;
    adapt(fn, arg, &st, fake_resp); /* as the runtime would, later, on its thread */
    return (se_pending *)(void *)&fake_method;
}

se_stream *se_rpc_stream_open(se_channel *ch, const se_method_desc *m,
                              const ProtobufCMessage *req, const se_call_opts *opts,
                              se_status *st)
{
    (void)ch, (void)opts, (void)st;
    fake_method = m;
    fake_req = req;
    return NULL;
}

se_pending *se_rpc_stream_async(se_channel *ch, const se_method_desc *m,
                                const ProtobufCMessage *req, const se_call_opts *opts,
                                const se_stream_cbs *cbs, void *arg)
{
    (void)ch, (void)opts, (void)cbs, (void)arg;
    fake_method = m;
    fake_req = req;
    return NULL;
}

static const se_service_desc *fake_svc;
static const void *fake_handlers;
int se_server_add_service(se_server *s, const se_service_desc *svc, const void *handlers,
                          void *ctx)
{
    (void)s, (void)ctx;
    fake_svc = svc;
    fake_handlers = handlers;
    return 0;
}

START_TEST(fixture_methods_have_kinds_and_idempotency)
{
    ck_assert_int_eq(SE_GENTEST_V1_CART_SERVICE_N_METHODS, 10);
    ck_assert_str_eq(cart[CART(GET_CART)].path, "/se.gentest.v1.CartService/GetCart");
    ck_assert_int_eq(cart[CART(GET_CART)].kind, SE_RPC_UNARY);
    ck_assert_int_eq(cart[CART(GET_CART)].idempotent, 1);    /* NO_SIDE_EFFECTS */
    ck_assert_int_eq(cart[CART(REPLACE_CART)].idempotent, 1); /* IDEMPOTENT */
    ck_assert_int_eq(cart[CART(CHECKOUT)].idempotent, 0);
    ck_assert_int_eq(cart[CART(PING)].idempotent, 0);
    ck_assert_int_eq(cart[CART(WATCH_CART)].kind, SE_RPC_SERVER_STREAMING);
    ck_assert_int_eq(cart[CART(UPLOAD_LINES)].kind, SE_RPC_CLIENT_STREAMING);
    ck_assert_int_eq(cart[CART(CHAT)].kind, SE_RPC_BIDI_STREAMING);
    ck_assert_str_eq(se_gentest_v1_http_admin_methods[0].path,
                     "/se.gentest.v1.HTTPAdmin/ResetAll");
    ck_assert_str_eq(se_gentest_v1_http_admin_service.file, "gen_test.proto");
}
END_TEST

START_TEST(fixture_descriptors_cross_packages_and_nesting)
{
    ck_assert_ptr_eq(cart[CART(GET_CART)].input, &se__gentest__v1__get_cart_request__descriptor);
    ck_assert_ptr_eq(cart[CART(GET_CART)].output, &se__gentest__v1__cart__descriptor);
    ck_assert_ptr_eq(cart[CART(DELETE_CART)].output, &google__protobuf__empty__descriptor);
    ck_assert_ptr_eq(cart[CART(PING)].input, &google__protobuf__empty__descriptor);
    ck_assert_ptr_eq(cart[CART(UPLOAD_LINES)].input, &se__gentest__v1__cart__line__descriptor);
    ck_assert_ptr_eq(cart[CART(CHAT)].input, &se__gentest__v1__cart__line__discount__descriptor);
    ck_assert_ptr_eq(cart[CART(CHAT)].output, &se__gentest__v1__httpthing__descriptor);
}
END_TEST

static void check_route(const se_http_route *r, const char *verb, const char *path,
                        const char *body, const char *response_body, int status,
                        int timeout, int method)
{
    ck_assert_str_eq(r->http_method, verb);
    ck_assert_str_eq(r->path, path);
    if (body == NULL)
        ck_assert_ptr_null(r->body);
    else
        ck_assert_str_eq(r->body, body);
    if (response_body == NULL)
        ck_assert_ptr_null(r->response_body);
    else
        ck_assert_str_eq(r->response_body, response_body);
    ck_assert_int_eq(r->success_status, status);
    ck_assert_int_eq(r->timeout_ms, timeout);
    ck_assert_ptr_eq(r->method, &cart[method]);
}

START_TEST(fixture_routes_from_http_annotations)
{
    const se_http_route *r = se_gentest_v1_cart_service_routes;
    ck_assert_uint_eq(se_gentest_v1_cart_service_service.n_routes, 7);
    check_route(&r[0], "GET", "/api/v1/carts/{cart_id}", NULL, NULL, 200, 1500, CART(GET_CART));
    /* additional_bindings: a route of its own, same method and options */
    check_route(&r[1], "GET", "/api/v1/carts/{cart_id}/lines", NULL, "lines", 200, 1500,
                CART(GET_CART));
    check_route(&r[2], "POST", "/api/v1/carts/{cart_id}/checkout", "cart", NULL, 202, 0,
                CART(CHECKOUT));
    check_route(&r[3], "PUT", "/api/v1/carts/{cart_id}", "*", NULL, 200, 0, CART(REPLACE_CART));
    check_route(&r[4], "PATCH", "/api/v1/carts/{cart_id}", "*", NULL, 200, 0, CART(EDIT_CART));
    check_route(&r[5], "DELETE", "/api/v1/carts/{cart_id}", NULL, NULL, 200, 0,
                CART(DELETE_CART));
    check_route(&r[6], "HEAD", "/api/v1/carts/{cart_id}", NULL, NULL, 200, 0, CART(HEAD_CART));
    ck_assert_ptr_null(r[7].http_method);
}
END_TEST

START_TEST(fixture_registry_routes_in_file_then_declaration_order)
{
    ck_assert_uint_eq(se_registry_n_routes, 8);
    for (size_t i = 0; i < 7; i++)
        ck_assert_ptr_eq(se_registry_routes[i], &se_gentest_v1_cart_service_routes[i]);
    const se_http_route *admin = se_registry_routes[7];
    ck_assert_ptr_eq(admin, &se_gentest_v1_http_admin_routes[0]);
    ck_assert_str_eq(admin->path, "/api/v1/admin:reset");
    ck_assert_ptr_eq(admin->method->input, &google__protobuf__empty__descriptor);
    ck_assert(registry_has_service(&se_gentest_v1_cart_service_service));
    ck_assert(registry_has_service(&se_gentest_v1_http_admin_service));
}
END_TEST

START_TEST(fixture_cents_fields_include_nested_messages)
{
    ck_assert_uint_eq(se_registry_n_cents_fields, 3);
    const se_cents_field *c = se_registry_cents_fields;
    ck_assert_ptr_eq(c[0].message, &se__gentest__v1__cart__descriptor);
    ck_assert_uint_eq(c[0].field_number, 3); /* total_cents; not_money (= false) absent */
    ck_assert_ptr_eq(c[1].message, &se__gentest__v1__cart__line__descriptor);
    ck_assert_uint_eq(c[1].field_number, 3);
    ck_assert_ptr_eq(c[2].message, &se__gentest__v1__cart__line__discount__descriptor);
    ck_assert_uint_eq(c[2].field_number, 1);
}
END_TEST

/* Reflection clients need our options: the registry keeps them. */
START_TEST(fixture_registry_keeps_custom_options)
{
    const se_file_desc *f = registry_file("gen_test.proto");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(registry_file("swifteats/api/options.proto"));
    ck_assert_ptr_nonnull(registry_file("google/protobuf/empty.proto"));
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, f->len, f->data);
    ck_assert_ptr_nonnull(fd);
    ck_assert_ptr_nonnull(fd->source_code_info);
    const Google__Protobuf__MethodDescriptorProto *checkout = fd->service[0]->method[1];
    ck_assert_str_eq(checkout->name, "Checkout");
    int http = 0, code = 0;
    for (unsigned i = 0; i < checkout->options->base.n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *u = &checkout->options->base.unknown_fields[i];
        http += u->tag == 72295728;
        if (u->tag == 50001)
            code = u->data[0] | (u->data[1] & 0x7f) << 7; /* varint 202: 0xca 0x01 */
    }
    ck_assert_int_eq(http, 1);
    ck_assert_int_eq(code, 202);
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
}
END_TEST

static Se__Gentest__V1__Cart *async_resp;
static void *async_arg;
static void on_get_cart(void *arg, const se_status *st, Se__Gentest__V1__Cart *resp)
{
    ck_assert_int_eq(st->code, GRPC_STATUS_OK);
    async_arg = arg;
    async_resp = resp;
}

START_TEST(fixture_client_stubs_pass_their_method)
{
    Se__Gentest__V1__GetCartRequest req = SE__GENTEST__V1__GET_CART_REQUEST__INIT;
    Se__Gentest__V1__Cart resp_msg = SE__GENTEST__V1__CART__INIT;
    Se__Gentest__V1__Cart *resp = NULL;
    se_status st;
    fake_resp = &resp_msg.base;
    ck_assert_int_eq(se_gentest_v1_cart_service_get_cart(NULL, &req, &resp, NULL, &st), 0);
    ck_assert_ptr_eq(fake_method, &cart[CART(GET_CART)]);
    ck_assert_ptr_eq(fake_req, &req.base);
    ck_assert_ptr_eq(resp, &resp_msg);

    int arg;
    ck_assert_ptr_nonnull(se_gentest_v1_cart_service_get_cart_async(NULL, &req, NULL,
                                                                    on_get_cart, &arg));
    ck_assert_ptr_eq(async_resp, &resp_msg);
    ck_assert_ptr_eq(async_arg, &arg);

    Se__Gentest__V1__WatchCartRequest w = SE__GENTEST__V1__WATCH_CART_REQUEST__INIT;
    se_gentest_v1_cart_service_watch_cart_open(NULL, &w, NULL, &st);
    ck_assert_ptr_eq(fake_method, &cart[CART(WATCH_CART)]);
    fake_method = NULL;
    se_gentest_v1_cart_service_watch_cart_async(NULL, &w, NULL, NULL, NULL);
    ck_assert_ptr_eq(fake_method, &cart[CART(WATCH_CART)]);
    ck_assert_ptr_eq(fake_req, &w.base);
}
END_TEST

static void on_upload(se_call *call, const Se__Gentest__V1__Cart__Line *req, void *ctx)
{
    (void)call, (void)ctx;
    handler_calls++;
    handler_req = req;
}

START_TEST(fixture_register_and_client_stream_end)
{
    se_gentest_v1_cart_service_handlers h = {.upload_lines = on_upload};
    ck_assert_int_eq(se_gentest_v1_cart_service_register(NULL, &h, NULL), 0);
    ck_assert_ptr_eq(fake_svc, &se_gentest_v1_cart_service_service);
    ck_assert_ptr_eq(fake_handlers, &h);
    Se__Gentest__V1__Cart__Line line = SE__GENTEST__V1__CART__LINE__INIT;
    ck_assert_int_eq(cart[CART(UPLOAD_LINES)].invoke(NULL, &line.base, &h, NULL), 0);
    ck_assert_ptr_eq(handler_req, &line);
    /* the end of the client stream: req == NULL */
    ck_assert_int_eq(cart[CART(UPLOAD_LINES)].invoke(NULL, NULL, &h, NULL), 0);
    ck_assert_int_eq(handler_calls, 2);
    ck_assert_ptr_null(handler_req);
    ck_assert_int_eq(cart[CART(CHAT)].invoke(NULL, NULL, &h, NULL), -1);
}
END_TEST
#endif /* SE_GEN_FIXTURE */

static Suite *gen_suite(void)
{
    Suite *s = suite_create("gen");
    TCase *tc = tcase_create("services");
    tcase_add_test(tc, health_methods_have_paths_kinds_and_descriptors);
    tcase_add_test(tc, health_service_desc_points_at_its_tables);
    tcase_add_test(tc, reflection_is_a_bidi_stream);
    tcase_add_test(tc, trampoline_returns_minus_one_for_null_slot);
    tcase_add_test(tc, trampoline_calls_the_typed_handler);
    tcase_add_test(tc, generated_files_start_with_the_banner);
    suite_add_tcase(s, tc);
    tc = tcase_create("registry");
    tcase_add_test(tc, registry_holds_descriptor_proto);
    tcase_add_test(tc, registry_files_parse_back_byte_for_byte);
    tcase_add_test(tc, registry_lists_health_and_reflection);
    suite_add_tcase(s, tc);
#ifdef SE_GEN_FIXTURE
    tc = tcase_create("fixture");
    tcase_add_test(tc, fixture_methods_have_kinds_and_idempotency);
    tcase_add_test(tc, fixture_descriptors_cross_packages_and_nesting);
    tcase_add_test(tc, fixture_routes_from_http_annotations);
    tcase_add_test(tc, fixture_registry_routes_in_file_then_declaration_order);
    tcase_add_test(tc, fixture_cents_fields_include_nested_messages);
    tcase_add_test(tc, fixture_registry_keeps_custom_options);
    tcase_add_test(tc, fixture_client_stubs_pass_their_method);
    tcase_add_test(tc, fixture_register_and_client_stream_end);
    suite_add_tcase(s, tc);
#endif
    return s;
}

int main(void)
{
    return se_test_run(gen_suite());
}
