/* test_reflection.c - grpc.reflection.v1 / v1alpha ServerReflectionInfo on a
 * real server, driven by a raw C-core bidi client (our own client has no
 * bidi calls): one call, batches on a pluck completion queue, requests and
 * answers in lockstep. Answers are checked against se_registry_files. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "google/protobuf/descriptor.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "grpc/reflection/v1alpha/reflection.pb-c.h"
#include "se_rpc.h"
#include "se_test.h"
#include "swifteats/v1/menu.se.h"

typedef Grpc__Reflection__V1__ServerReflectionRequest refl_req;
typedef Grpc__Reflection__V1__ServerReflectionResponse refl_resp;

#define V1_PATH "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define V1ALPHA_PATH "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

/* ---- fixture: a server and a raw bidi call ------------------------------ */

typedef struct bidi {
    se_server *server;
    grpc_channel *ch;
    grpc_completion_queue *cq;
    grpc_call *call;
    grpc_metadata_array initial_md, trailing_md;
    int got_initial_md;
    grpc_status_code status;
    grpc_slice details;
    long next_tag;
} bidi;

/* A deadline `s` seconds from now, scaled (se_test.h). */
static gpr_timespec in_seconds(int s)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                        gpr_time_from_millis(SE_T((int64_t)s * 1000), GPR_TIMESPAN));
}

static void run_batch(bidi *b, const grpc_op *ops, size_t n)
{
    void *tag = (void *)(++b->next_tag);
    ck_assert_int_eq(grpc_call_start_batch(b->call, ops, n, tag, NULL), GRPC_CALL_OK);
    grpc_event ev = grpc_completion_queue_pluck(b->cq, tag, in_seconds(10), NULL);
    ck_assert_int_eq(ev.type, GRPC_OP_COMPLETE);
    ck_assert_ptr_eq(ev.tag, tag);
    ck_assert_int_eq(ev.success, 1);
}

/* Starts a server with the built-in services, plus MenuService (an empty
 * handler table: every method UNIMPLEMENTED) when with_menu is set. */
static void bidi_start_server_with(bidi *b, int with_menu)
{
    static const swifteats_v1_menu_service_handlers no_handlers;
    memset(b, 0, sizeof(*b));
    se_rpc_init();
    se_server_config cfg = {.name = "test_reflection", .listen_addr = "127.0.0.1:0",
                            .threads = 2, .grace_ms = 2000};
    b->server = se_server_create(&cfg);
    ck_assert_ptr_nonnull(b->server);
    if (with_menu)
        ck_assert_int_eq(swifteats_v1_menu_service_register(b->server, &no_handlers, NULL), 0);
    ck_assert_int_eq(se_server_start(b->server), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", se_server_port(b->server));
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    b->ch = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    b->cq = grpc_completion_queue_create_for_pluck(NULL);
}

static void bidi_start_server(bidi *b)
{
    bidi_start_server_with(b, 0);
}

static void bidi_open(bidi *b, const char *path)
{
    grpc_slice method = grpc_slice_from_static_string(path);
    b->call = grpc_channel_create_call(b->ch, NULL, GRPC_PROPAGATE_DEFAULTS, b->cq, method, NULL,
                                       in_seconds(20), NULL);
    ck_assert_ptr_nonnull(b->call);
    grpc_metadata_array_init(&b->initial_md);
    grpc_metadata_array_init(&b->trailing_md);
    b->got_initial_md = 0;
    grpc_op op = {.op = GRPC_OP_SEND_INITIAL_METADATA};
    run_batch(b, &op, 1);
}

/* Sends one request and returns the one answer (caller frees with
 * protobuf_c_message_free_unpacked). `desc` is the answer's type. */
static ProtobufCMessage *bidi_ask(bidi *b, const ProtobufCMessage *req,
                                  const ProtobufCMessageDescriptor *desc)
{
    size_t len = protobuf_c_message_get_packed_size(req);
    grpc_slice s = grpc_slice_malloc(len);
    protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *out = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op send = {.op = GRPC_OP_SEND_MESSAGE, .data.send_message.send_message = out};
    run_batch(b, &send, 1);
    grpc_byte_buffer_destroy(out);

    grpc_byte_buffer *in = NULL;
    grpc_op recv[2];
    size_t n = 0;
    memset(recv, 0, sizeof(recv));
    if (!b->got_initial_md) {
        recv[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        recv[n++].data.recv_initial_metadata.recv_initial_metadata = &b->initial_md;
        b->got_initial_md = 1;
    }
    recv[n].op = GRPC_OP_RECV_MESSAGE;
    recv[n++].data.recv_message.recv_message = &in;
    run_batch(b, recv, n);
    ck_assert_msg(in != NULL, "stream ended instead of answering");

    grpc_byte_buffer_reader reader;
    ck_assert(grpc_byte_buffer_reader_init(&reader, in));
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    grpc_byte_buffer_destroy(in);
    ProtobufCMessage *msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(all),
                                                      GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    ck_assert_ptr_nonnull(msg);
    return msg;
}

static refl_resp *ask_v1(bidi *b, const refl_req *req)
{
    return (refl_resp *)bidi_ask(b, &req->base,
                                 &grpc__reflection__v1__server_reflection_response__descriptor);
}

/* Half-closes and returns the final status. */
static grpc_status_code bidi_close(bidi *b)
{
    grpc_op ops[3];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    ops[n++].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    if (!b->got_initial_md) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &b->initial_md;
    }
    ops[n].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[n].data.recv_status_on_client.trailing_metadata = &b->trailing_md;
    ops[n].data.recv_status_on_client.status = &b->status;
    ops[n++].data.recv_status_on_client.status_details = &b->details;
    run_batch(b, ops, n);
    grpc_slice_unref(b->details);
    grpc_metadata_array_destroy(&b->initial_md);
    grpc_metadata_array_destroy(&b->trailing_md);
    grpc_call_unref(b->call);
    b->call = NULL;
    return b->status;
}

static void bidi_stop(bidi *b)
{
    grpc_channel_destroy(b->ch);
    grpc_completion_queue_shutdown(b->cq);
    while (grpc_completion_queue_pluck(b->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
               .type != GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(b->cq);
    se_server_shutdown(b->server);
    se_server_destroy(b->server);
    se_rpc_shutdown();
}

/* ---- request helpers ---------------------------------------------------- */

static refl_req req_init(void)
{
    refl_req r = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__INIT;
    r.host = "test-host";
    return r;
}

static refl_req by_symbol(const char *symbol)
{
    refl_req r = req_init();
    r.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    r.file_containing_symbol = (char *)symbol;
    return r;
}

static refl_req by_filename(const char *name)
{
    refl_req r = req_init();
    r.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME;
    r.file_by_filename = (char *)name;
    return r;
}

static refl_req list_services(void)
{
    refl_req r = req_init();
    r.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    r.list_services = "";
    return r;
}

static int lists_service(const refl_resp *r, const char *name)
{
    ck_assert_int_eq(r->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
    for (size_t i = 0; i < r->list_services_response->n_service; i++)
        if (strcmp(r->list_services_response->service[i]->name, name) == 0)
            return 1;
    return 0;
}

/* Name of the i-th FileDescriptorProto in a file answer (caller frees). */
static char *file_name_at(const refl_resp *r, size_t i)
{
    ck_assert_int_eq(r->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    ck_assert_uint_gt(r->file_descriptor_response->n_file_descriptor_proto, i);
    ProtobufCBinaryData *d = &r->file_descriptor_response->file_descriptor_proto[i];
    Google__Protobuf__FileDescriptorProto *fd =
        google__protobuf__file_descriptor_proto__unpack(NULL, d->len, d->data);
    ck_assert_ptr_nonnull(fd);
    char *name = strdup(fd->name);
    google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
    return name;
}

static void assert_first_file(const refl_resp *r, const char *want)
{
    char *name = file_name_at(r, 0);
    ck_assert_str_eq(name, want);
    free(name);
}

static void assert_not_found(const refl_resp *r)
{
    ck_assert_int_eq(r->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    ck_assert_int_eq(r->error_response->error_code, GRPC_STATUS_NOT_FOUND);
}

static void free_resp(refl_resp *r)
{
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* ---- tests -------------------------------------------------------------- */

START_TEST(list_services_has_builtins)
{
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    refl_req req = list_services();
    refl_resp *r = ask_v1(&b, &req);
    ck_assert(lists_service(r, "grpc.health.v1.Health"));
    ck_assert(lists_service(r, "grpc.reflection.v1.ServerReflection"));
    ck_assert(lists_service(r, "grpc.reflection.v1alpha.ServerReflection"));
    ck_assert_str_eq(r->valid_host, "test-host");
    ck_assert_ptr_nonnull(r->original_request);
    ck_assert_int_eq(r->original_request->message_request_case, req.message_request_case);
    free_resp(r);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

START_TEST(list_services_has_registered_service)
{
    bidi b;
    bidi_start_server_with(&b, 1);
    bidi_open(&b, V1_PATH);
    refl_req req = list_services();
    refl_resp *r = ask_v1(&b, &req);
    ck_assert(lists_service(r, "swifteats.v1.MenuService"));
    ck_assert(lists_service(r, "grpc.health.v1.Health"));
    ck_assert_uint_eq(r->list_services_response->n_service, 4);
    free_resp(r);
    req = by_symbol("swifteats.v1.MenuService.GetMenu");
    r = ask_v1(&b, &req);
    assert_first_file(r, "swifteats/v1/menu.proto");
    free_resp(r);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

START_TEST(symbol_health_service_returns_health_proto)
{
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    refl_req req = by_symbol("grpc.health.v1.Health");
    refl_resp *r = ask_v1(&b, &req);
    assert_first_file(r, "grpc/health/v1/health.proto");
    ck_assert_str_eq(r->original_request->file_containing_symbol, "grpc.health.v1.Health");
    free_resp(r);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

START_TEST(symbol_kinds_resolve)
{
    static const char *const symbols[] = {
        "grpc.health.v1.Health.Watch",                      /* method */
        "grpc.health.v1.HealthCheckRequest",                /* message */
        "grpc.health.v1.HealthCheckRequest.service",        /* field */
        "grpc.health.v1.HealthCheckResponse.ServingStatus", /* nested enum */
        "grpc.health.v1.HealthCheckResponse.SERVING",       /* enum value */
    };
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
        refl_req req = by_symbol(symbols[i]);
        refl_resp *r = ask_v1(&b, &req);
        assert_first_file(r, "grpc/health/v1/health.proto");
        free_resp(r);
    }
    refl_req req = by_symbol("grpc.reflection.v1.ServerReflectionRequest");
    refl_resp *r = ask_v1(&b, &req);
    assert_first_file(r, "grpc/reflection/v1/reflection.proto");
    free_resp(r);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

START_TEST(unknowns_are_not_found)
{
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    refl_req req = by_filename("no/such/file.proto");
    refl_resp *r = ask_v1(&b, &req);
    assert_not_found(r);
    free_resp(r);
    req = by_symbol("no.such.Symbol");
    r = ask_v1(&b, &req);
    assert_not_found(r);
    free_resp(r);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

START_TEST(many_requests_on_one_stream)
{
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    for (int round = 0; round < 20; round++) {
        refl_req req = list_services();
        refl_resp *r = ask_v1(&b, &req);
        ck_assert(lists_service(r, "grpc.health.v1.Health"));
        free_resp(r);
        req = by_filename("grpc/health/v1/health.proto");
        r = ask_v1(&b, &req);
        assert_first_file(r, "grpc/health/v1/health.proto");
        free_resp(r);
        req = by_filename("missing.proto");
        r = ask_v1(&b, &req);
        assert_not_found(r);
        free_resp(r);
    }
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

START_TEST(empty_stream_finishes_ok)
{
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_open(&b, V1ALPHA_PATH);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

START_TEST(unset_request_is_an_error_response)
{
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    refl_req req = req_init();
    refl_resp *r = ask_v1(&b, &req);
    ck_assert_int_eq(r->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE);
    free_resp(r);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

/* Every registry file comes back with all its (registered) imports. */
START_TEST(every_file_has_its_dependencies)
{
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    ck_assert_uint_gt(se_registry_n_files, 0);
    for (size_t i = 0; i < se_registry_n_files; i++) {
        const se_file_desc *f = &se_registry_files[i];
        refl_req req = by_filename(f->name);
        refl_resp *r = ask_v1(&b, &req);
        Grpc__Reflection__V1__FileDescriptorResponse *fr = r->file_descriptor_response;
        assert_first_file(r, f->name);
        ck_assert_uint_eq(fr->file_descriptor_proto[0].len, f->len);
        ck_assert(memcmp(fr->file_descriptor_proto[0].data, f->data, f->len) == 0);
        Google__Protobuf__FileDescriptorProto *fd =
            google__protobuf__file_descriptor_proto__unpack(NULL, f->len, f->data);
        ck_assert_ptr_nonnull(fd);
        for (size_t d = 0; d < fd->n_dependency; d++) {
            int found = 0;
            for (size_t k = 1; k < fr->n_file_descriptor_proto && !found; k++) {
                char *name = file_name_at(r, k);
                found = strcmp(name, fd->dependency[d]) == 0;
                free(name);
            }
            ck_assert_msg(found, "%s: dependency %s missing", f->name, fd->dependency[d]);
        }
        google__protobuf__file_descriptor_proto__free_unpacked(fd, NULL);
        free_resp(r);
    }
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

static int registry_has(const char *name)
{
    for (size_t i = 0; i < se_registry_n_files; i++)
        if (strcmp(se_registry_files[i].name, name) == 0)
            return 1;
    return 0;
}

START_TEST(extensions_of_method_options)
{
    if (!registry_has("google/api/annotations.proto"))
        return; /* no google.api.http in this registry */
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1_PATH);
    refl_req req = req_init();
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE;
    req.all_extension_numbers_of_type = "google.protobuf.MethodOptions";
    refl_resp *r = ask_v1(&b, &req);
    ck_assert_int_eq(r->message_response_case,
                     GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE);
    int found = 0;
    for (size_t i = 0; i < r->all_extension_numbers_response->n_extension_number; i++)
        found |= r->all_extension_numbers_response->extension_number[i] == 72295728;
    ck_assert_msg(found, "google.api.http (72295728) not among MethodOptions extensions");
    ck_assert_str_eq(r->all_extension_numbers_response->base_type_name,
                     "google.protobuf.MethodOptions");
    free_resp(r);

    Grpc__Reflection__V1__ExtensionRequest er = GRPC__REFLECTION__V1__EXTENSION_REQUEST__INIT;
    er.containing_type = "google.protobuf.MethodOptions";
    er.extension_number = 72295728;
    req = req_init();
    req.message_request_case =
        GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION;
    req.file_containing_extension = &er;
    r = ask_v1(&b, &req);
    assert_first_file(r, "google/api/annotations.proto");
    free_resp(r);
    er.extension_number = 1; /* no such extension */
    r = ask_v1(&b, &req);
    assert_not_found(r);
    free_resp(r);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

START_TEST(v1alpha_answers_the_same)
{
    bidi b;
    bidi_start_server(&b);
    bidi_open(&b, V1ALPHA_PATH);
    Grpc__Reflection__V1alpha__ServerReflectionRequest req =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__INIT;
    req.host = "alpha-host";
    req.message_request_case =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES;
    req.list_services = "";
    const ProtobufCMessageDescriptor *rd =
        &grpc__reflection__v1alpha__server_reflection_response__descriptor;
    Grpc__Reflection__V1alpha__ServerReflectionResponse *r =
        (void *)bidi_ask(&b, &req.base, rd);
    ck_assert_str_eq(r->valid_host, "alpha-host");
    ck_assert_int_eq(r->message_response_case,
                     GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE);
    int n_builtin = 0;
    for (size_t i = 0; i < r->list_services_response->n_service; i++) {
        const char *name = r->list_services_response->service[i]->name;
        n_builtin += strcmp(name, "grpc.health.v1.Health") == 0 ||
                     strcmp(name, "grpc.reflection.v1.ServerReflection") == 0 ||
                     strcmp(name, "grpc.reflection.v1alpha.ServerReflection") == 0;
    }
    ck_assert_int_eq(n_builtin, 3);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    req.message_request_case =
        GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL;
    req.file_containing_symbol = "grpc.reflection.v1alpha.ServerReflection";
    r = (void *)bidi_ask(&b, &req.base, rd);
    ck_assert_int_eq(r->message_response_case,
                     GRPC__REFLECTION__V1ALPHA__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE);
    ck_assert_str_eq(r->original_request->file_containing_symbol,
                     "grpc.reflection.v1alpha.ServerReflection");
    ck_assert_uint_ge(r->file_descriptor_response->n_file_descriptor_proto, 1);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    ck_assert_int_eq(bidi_close(&b), GRPC_STATUS_OK);
    bidi_stop(&b);
}
END_TEST

static Suite *reflection_suite(void)
{
    Suite *s = suite_create("reflection");
    TCase *tc = tcase_create("reflection");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, list_services_has_builtins);
    tcase_add_test(tc, list_services_has_registered_service);
    tcase_add_test(tc, symbol_health_service_returns_health_proto);
    tcase_add_test(tc, symbol_kinds_resolve);
    tcase_add_test(tc, unknowns_are_not_found);
    tcase_add_test(tc, many_requests_on_one_stream);
    tcase_add_test(tc, empty_stream_finishes_ok);
    tcase_add_test(tc, unset_request_is_an_error_response);
    tcase_add_test(tc, every_file_has_its_dependencies);
    tcase_add_test(tc, extensions_of_method_options);
    tcase_add_test(tc, v1alpha_answers_the_same);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(reflection_suite());
}
