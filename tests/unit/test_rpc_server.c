/* test_rpc_server.c - the RPC server over loopback: unary round trips,
 * statuses, metadata, deadlines, unknown methods, port clashes, bidi
 * streams, bad requests and graceful shutdown. Real server on port 0, real
 * client channel, Check fork mode (one process per test).
 */
#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>

#include "rpc_test_service.h"
#include "se_test.h"

START_TEST(unary_round_trip)
{
    se_status st;
    const char *out = call_cmd(M_UNARY, "echo:hello", NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_OK);
    ck_assert_str_eq(out, "hello");
    /* without x-request-id the server makes one: 32 hex chars */
    out = call_cmd(M_UNARY, "rid", NULL, &st);
    ck_assert_ptr_nonnull(out);
    ck_assert_uint_eq(strlen(out), 32);
    ck_assert_uint_eq(strspn(out, "0123456789abcdef"), 32);
}
END_TEST

START_TEST(status_code_and_message_propagate)
{
    se_status st;
    ck_assert_ptr_null(call_cmd(M_UNARY, "notfound", NULL, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    ck_assert_str_eq(st.message, "restaurant 7 not found");
    ck_assert_str_eq(se_status_name(st.code), "NOT_FOUND");
}
END_TEST

START_TEST(metadata_reaches_handler)
{
    static const se_metadata md[] = {{"x-tenant", "acme"}, {"idempotency-key", "k-42"}};
    se_call_opts opts = {.request_id = "req-abc", .metadata = md, .n_metadata = 2};
    se_status st;
    ck_assert_str_eq(call_cmd(M_UNARY, "rid", &opts, &st), "req-abc");
    ck_assert_str_eq(call_cmd(M_UNARY, "md:x-tenant", &opts, &st), "acme");
    ck_assert_str_eq(call_cmd(M_UNARY, "md:idempotency-key", &opts, &st), "k-42");
    ck_assert_str_eq(call_cmd(M_UNARY, "md:x-absent", &opts, &st), "(none)");
}
END_TEST

START_TEST(request_id_forwarded_on_nested_call)
{
    se_call_opts opts = {.request_id = "req-nested-1"};
    se_status st;
    const char *out = call_cmd(M_UNARY, "nested:rid", &opts, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_OK);
    ck_assert_str_eq(out, "OK|req-nested-1");
}
END_TEST

START_TEST(nested_call_inherits_deadline)
{
    se_call_opts opts = {.timeout_ms = SE_T(1000)};
    se_status st;
    const char *out = call_cmd(M_UNARY, "nested:timeleft", &opts, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_OK);
    ck_assert_msg(strncmp(out, "OK|", 3) == 0, "got %s", out);
    long left = atol(out + 3);
    /* the child's own default would be 5000 ms; grpc-timeout rounds up a bit */
    ck_assert_msg(left > 0 && left <= SE_T(1000) + 100, "child time left %ld", left);
}
END_TEST

START_TEST(deadline_exceeded)
{
    se_call_opts opts = {.timeout_ms = SE_T(100)};
    se_status st;
    char cmd[32];
    snprintf(cmd, sizeof cmd, "sleep:%d", SE_T(1000));
    int64_t t0 = se_test_now_ms();
    ck_assert_ptr_null(call_cmd(M_UNARY, cmd, &opts, &st));
    int64_t took = se_test_now_ms() - t0;
    ck_assert_int_eq(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
    ck_assert_msg(took >= SE_T(100) - 10 && took < SE_T(900), "took %lld ms", (long long)took);
}
END_TEST

START_TEST(server_sees_deadline)
{
    se_call_opts opts = {.timeout_ms = SE_T(2000)};
    se_status st;
    long left = atol(call_cmd(M_UNARY, "timeleft", &opts, &st));
    ck_assert_msg(left > SE_T(1000) && left <= SE_T(2000) + 100, "time left %ld", left);
}
END_TEST

START_TEST(unknown_method_is_unimplemented_quickly)
{
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "echo:x";
    ProtobufCMessage *resp = NULL;
    se_status st;
    se_call_opts opts = {.timeout_ms = SE_T(10000)};
    int64_t t0 = se_test_now_ms();
    ck_assert_int_eq(se_rpc_unary(g_ch, &unknown_method, &req.base, &resp, &opts, &st), -1);
    ck_assert_int_eq(st.code, GRPC_STATUS_UNIMPLEMENTED);
    /* far from the deadline: answered, not timed out */
    int64_t took = se_test_now_ms() - t0;
    ck_assert_msg(took < SE_T(1000), "took %lld ms", (long long)took);
    /* a registered method without a handler */
    ck_assert_ptr_null(call_cmd(M_MISSING, "echo:x", NULL, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNIMPLEMENTED);
}
END_TEST

START_TEST(port_clash_fails_start)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", se_server_port(g_srv));
    se_server_config cfg = {"clash", addr, 1, 0};
    se_server *s = se_server_create(&cfg);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(se_server_start(s), -1);
    se_server_destroy(s);
    /* the first server still answers */
    se_status st;
    ck_assert_str_eq(call_cmd(M_UNARY, "echo:still", NULL, &st), "still");
}
END_TEST

START_TEST(add_service_twice_or_after_start_fails)
{
    ck_assert_int_eq(se_server_add_service(g_srv, &test_service, &test_handler_table, NULL), -1);
    se_server_config cfg = {"dup", "127.0.0.1:0", 1, 0};
    se_server *s = se_server_create(&cfg);
    ck_assert_int_eq(se_server_add_service(s, &test_service, &test_handler_table, NULL), 0);
    ck_assert_int_eq(se_server_add_service(s, &test_service, &test_handler_table, NULL), -1);
    se_server_destroy(s); /* never started */
}
END_TEST

/* ---- raw C-core client calls (bidi and malformed requests) -------------- */

typedef struct raw_call {
    grpc_completion_queue *cq;
    grpc_channel *ch;
    grpc_call *call;
    grpc_metadata_array md, trailing;
    grpc_status_code status;
    grpc_slice details;
} raw_call;

static void raw_start(raw_call *r, const char *method)
{
    memset(r, 0, sizeof *r);
    r->cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    r->ch = grpc_channel_create(g_svc.target, creds, NULL);
    grpc_channel_credentials_release(creds);
    r->call = grpc_channel_create_call(r->ch, NULL, GRPC_PROPAGATE_DEFAULTS, r->cq,
                                       grpc_slice_from_static_string(method), NULL,
                                       gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                                    gpr_time_from_seconds(5, GPR_TIMESPAN)),
                                       NULL);
    grpc_metadata_array_init(&r->md);
    grpc_metadata_array_init(&r->trailing);
    grpc_op ops[3];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &r->md;
    ops[2].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[2].data.recv_status_on_client.trailing_metadata = &r->trailing;
    ops[2].data.recv_status_on_client.status = &r->status;
    ops[2].data.recv_status_on_client.status_details = &r->details;
    ck_assert_int_eq(grpc_call_start_batch(r->call, ops, 1, (void *)1, NULL), GRPC_CALL_OK);
    grpc_completion_queue_pluck(r->cq, (void *)1, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    ck_assert_int_eq(grpc_call_start_batch(r->call, ops + 1, 1, (void *)4, NULL), GRPC_CALL_OK);
    ck_assert_int_eq(grpc_call_start_batch(r->call, ops + 2, 1, (void *)2, NULL), GRPC_CALL_OK);
}

static void raw_op(raw_call *r, grpc_op *op)
{
    ck_assert_int_eq(grpc_call_start_batch(r->call, op, 1, (void *)3, NULL), GRPC_CALL_OK);
    grpc_completion_queue_pluck(r->cq, (void *)3, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
}

static void raw_send_bytes(raw_call *r, const void *data, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer(data, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    raw_op(r, &op);
    grpc_byte_buffer_destroy(bb);
}

static void raw_send(raw_call *r, const char *text)
{
    tmsg m = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    m.service = (char *)text;
    uint8_t buf[256];
    size_t n = protobuf_c_message_pack(&m.base, buf);
    raw_send_bytes(r, buf, n);
}

/* Receives one message into out ("" at the end of the stream). */
static void raw_recv(raw_call *r, char *out, size_t cap)
{
    grpc_byte_buffer *bb = NULL;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &bb;
    raw_op(r, &op);
    out[0] = '\0';
    if (!bb)
        return;
    grpc_byte_buffer_reader rd;
    grpc_byte_buffer_reader_init(&rd, bb);
    grpc_slice all = grpc_byte_buffer_reader_readall(&rd);
    grpc_byte_buffer_reader_destroy(&rd);
    tmsg *m = (tmsg *)protobuf_c_message_unpack(TMSG_DESC, NULL, GRPC_SLICE_LENGTH(all),
                                                 GRPC_SLICE_START_PTR(all));
    ck_assert_ptr_nonnull(m);
    snprintf(out, cap, "%s", m->service);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    grpc_slice_unref(all);
    grpc_byte_buffer_destroy(bb);
}

static void raw_close_and_finish(raw_call *r, char *details, size_t cap)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    raw_op(r, &op);
    grpc_completion_queue_pluck(r->cq, (void *)2, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    grpc_completion_queue_pluck(r->cq, (void *)4, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    snprintf(details, cap, "%.*s", (int)GRPC_SLICE_LENGTH(r->details),
             (const char *)GRPC_SLICE_START_PTR(r->details));
    grpc_call_unref(r->call);
    grpc_channel_destroy(r->ch);
    grpc_metadata_array_destroy(&r->md);
    grpc_metadata_array_destroy(&r->trailing);
    grpc_slice_unref(r->details);
    grpc_completion_queue_destroy(r->cq);
}

START_TEST(bidi_echo_then_end_of_stream)
{
    raw_call r;
    raw_start(&r, test_methods[M_BIDI].path);
    char buf[64];
    static const char *const words[] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < 3; i++) {
        raw_send(&r, words[i]);
        raw_recv(&r, buf, sizeof buf);
        ck_assert_str_eq(buf, words[i]);
    }
    raw_close_and_finish(&r, buf, sizeof buf);
    ck_assert_int_eq(r.status, GRPC_STATUS_OK);
    ck_assert_str_eq(buf, "n=3");
    ck_assert_int_eq(atomic_load(&g_svc.bidi_null), 1);
}
END_TEST

START_TEST(undecodable_request_is_invalid_argument)
{
    raw_call r;
    raw_start(&r, test_methods[M_UNARY].path);
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
    raw_send_bytes(&r, junk, sizeof junk);
    char details[128];
    raw_close_and_finish(&r, details, sizeof details);
    ck_assert_int_eq(r.status, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(details, "cannot decode grpc.health.v1.HealthCheckRequest");
}
END_TEST

/* ---- shutdown ----------------------------------------------------------- */

typedef struct async_result {
    atomic_int done;
    se_status st;
    char reply[64];
} async_result;

static void on_async_reply(void *arg, const se_status *st, ProtobufCMessage *resp)
{
    async_result *r = arg;
    r->st = *st;
    if (resp)
        snprintf(r->reply, sizeof r->reply, "%s", ((tmsg *)resp)->service);
    se_msg_free(resp);
    atomic_store(&r->done, 1);
}

typedef struct stream_result {
    atomic_int messages;
    atomic_int ended;
    se_status st;
} stream_result;

static void on_stream_msg(void *arg, ProtobufCMessage *msg)
{
    stream_result *r = arg;
    atomic_fetch_add(&r->messages, 1);
    se_msg_free(msg);
}

static void on_stream_end(void *arg, const se_status *st)
{
    stream_result *r = arg;
    r->st = *st;
    atomic_fetch_add(&r->ended, 1);
}

START_TEST(shutdown_drains_in_flight_call)
{
    se_server_destroy(g_srv);
    g_srv = start_test_server(SE_T(3000));
    snprintf(g_svc.target, sizeof g_svc.target, "127.0.0.1:%d", se_server_port(g_srv));
    g_ch = se_channel_get(g_svc.target);

    static async_result r;
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "sleep:300";
    ck_assert_ptr_nonnull(
        se_rpc_unary_async(g_ch, &test_methods[M_UNARY], &req.base, NULL, on_async_reply, &r));
    SE_POLL_UNTIL(atomic_load(&g_svc.handler_started) == 1, 5000);
    ck_assert_int_eq(atomic_load(&g_svc.handler_started), 1);

    int64_t t0 = se_test_now_ms();
    se_server_shutdown(g_srv);
    int64_t took = se_test_now_ms() - t0;
    ck_assert_msg(took < SE_T(2500), "shutdown took %lld ms", (long long)took);
    SE_POLL_UNTIL(atomic_load(&r.done), 5000);
    ck_assert_int_eq(atomic_load(&r.done), 1);
    ck_assert_int_eq(r.st.code, GRPC_STATUS_OK);
    ck_assert_str_eq(r.reply, "slept");
    se_server_shutdown(g_srv); /* idempotent */
}
END_TEST

START_TEST(shutdown_cancels_stream_after_grace)
{
    se_server_destroy(g_srv);
    g_srv = start_test_server(300);
    snprintf(g_svc.target, sizeof g_svc.target, "127.0.0.1:%d", se_server_port(g_srv));
    g_ch = se_channel_get(g_svc.target);

    static stream_result r;
    se_stream_cbs cbs = {on_stream_msg, on_stream_end};
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "forever";
    se_call_opts opts = {.timeout_ms = -1};
    ck_assert_ptr_nonnull(
        se_rpc_stream_async(g_ch, &test_methods[M_STREAM], &req.base, &opts, &cbs, &r));
    SE_POLL_UNTIL(atomic_load(&r.messages) >= 1, 5000);
    ck_assert_int_ge(atomic_load(&r.messages), 1);

    int64_t t0 = se_test_now_ms();
    se_server_shutdown(g_srv);
    int64_t took = se_test_now_ms() - t0;
    ck_assert_msg(took >= 290 && took < SE_T(2000), "shutdown took %lld ms", (long long)took);
    ck_assert_int_eq(atomic_load(&g_svc.on_cancel), 1);
    ck_assert_int_eq(atomic_load(&g_svc.send_failed), 1);
    SE_POLL_UNTIL(atomic_load(&r.ended), 5000);
    ck_assert_int_eq(atomic_load(&r.ended), 1);
    ck_assert_int_ne(r.st.code, GRPC_STATUS_OK);
}
END_TEST

START_TEST(shutdown_idle_server_is_fast)
{
    int64_t t0 = se_test_now_ms();
    se_server_shutdown(g_srv);
    int64_t took = se_test_now_ms() - t0;
    ck_assert_msg(took < SE_T(1000), "took %lld ms", (long long)took);
    se_status st;
    se_call_opts opts = {.timeout_ms = SE_T(500)};
    ck_assert_ptr_null(call_cmd(M_UNARY, "echo:x", &opts, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
}
END_TEST

static Suite *rpc_server_suite(void)
{
    Suite *s = suite_create("rpc_server");
    TCase *tc = tcase_create("loopback");
    tcase_add_checked_fixture(tc, rpc_setup, rpc_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, unary_round_trip);
    tcase_add_test(tc, status_code_and_message_propagate);
    tcase_add_test(tc, metadata_reaches_handler);
    tcase_add_test(tc, request_id_forwarded_on_nested_call);
    tcase_add_test(tc, nested_call_inherits_deadline);
    tcase_add_test(tc, deadline_exceeded);
    tcase_add_test(tc, server_sees_deadline);
    tcase_add_test(tc, unknown_method_is_unimplemented_quickly);
    tcase_add_test(tc, port_clash_fails_start);
    tcase_add_test(tc, add_service_twice_or_after_start_fails);
    tcase_add_test(tc, bidi_echo_then_end_of_stream);
    tcase_add_test(tc, undecodable_request_is_invalid_argument);
    tcase_add_test(tc, shutdown_drains_in_flight_call);
    tcase_add_test(tc, shutdown_cancels_stream_after_grace);
    tcase_add_test(tc, shutdown_idle_server_is_fast);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(rpc_server_suite());
}
