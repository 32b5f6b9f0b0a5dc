/* test_rpc_client.c - the RPC client over loopback: asynchronous unary
 * calls, server-streaming readers (blocking and asynchronous), cancellation,
 * retries of idempotent methods and channel reuse. Real server on port 0,
 * Check fork mode (one process per test).
 */
#include "rpc_test_service.h"
#include "se_test.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct async_slot {
    int index;
    se_status st;
    char reply[64];
} async_slot;

static struct {
    atomic_int done;
    atomic_int ok_and_matching;
    atomic_int on_client_thread_twice; /* callbacks seen for a slot twice */
    int seen[64];
} g_async;

static void on_echo(void *arg, const se_status *st, ProtobufCMessage *resp)
{
    async_slot *s = arg;
    s->st = *st;
    char want[16];
    snprintf(want, sizeof want, "%d", s->index);
    if (st->code == GRPC_STATUS_OK && resp && strcmp(((tmsg *)resp)->service, want) == 0)
        atomic_fetch_add(&g_async.ok_and_matching, 1);
    if (g_async.seen[s->index]++ > 0)
        atomic_fetch_add(&g_async.on_client_thread_twice, 1);
    se_msg_free(resp);
    atomic_fetch_add(&g_async.done, 1);
}

typedef struct stream_result {
    atomic_int messages;
    atomic_int ended;
    int in_order;
    se_status st;
    se_pending *_Atomic p; /* set by the opener; on_message may wait for it */
    int cancel_after; /* on_message cancels after this many (0: never) */
} stream_result;

static void on_stream_msg(void *arg, ProtobufCMessage *msg)
{
    stream_result *r = arg;
    char want[16];
    snprintf(want, sizeof want, "%d", atomic_load(&r->messages));
    if (strcmp(((tmsg *)msg)->service, want) != 0)
        r->in_order = 0;
    int n = atomic_fetch_add(&r->messages, 1) + 1;
    if (r->cancel_after && n == r->cancel_after) {
        SE_POLL_UNTIL(atomic_load(&r->p) != NULL, 5000);
        se_pending_cancel(atomic_load(&r->p));
    }
    se_msg_free(msg);
}

static void on_stream_end(void *arg, const se_status *st)
{
    stream_result *r = arg;
    r->st = *st;
    atomic_fetch_add(&r->ended, 1);
}

static se_pending *open_async_stream(const char *cmd, stream_result *r, int timeout_ms)
{
    memset(r, 0, sizeof *r);
    r->in_order = 1;
    se_stream_cbs cbs = {on_stream_msg, on_stream_end};
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)cmd;
    se_call_opts opts = {.timeout_ms = timeout_ms};
    se_pending *p = se_rpc_stream_async(g_ch, &test_methods[M_STREAM], &req.base, &opts, &cbs, r);
    atomic_store(&r->p, p);
    return p;
}

/* ---- unary -------------------------------------------------------------- */

START_TEST(channel_is_cached_per_target)
{
    ck_assert_ptr_eq(se_channel_get(g_svc.target), g_ch);
    ck_assert_ptr_ne(se_channel_get("127.0.0.1:1"), g_ch);
    ck_assert_ptr_eq(se_channel_get("127.0.0.1:1"), se_channel_get("127.0.0.1:1"));
}
END_TEST

START_TEST(async_64_concurrent_calls_complete)
{
    static async_slot slots[64];
    char cmd[32];
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = cmd;
    for (int i = 0; i < 64; i++) {
        slots[i].index = i;
        snprintf(cmd, sizeof cmd, "echo:%d", i);
        ck_assert_ptr_nonnull(se_rpc_unary_async(g_ch, &test_methods[M_UNARY], &req.base, NULL,
                                                 on_echo, &slots[i]));
    }
    SE_POLL_UNTIL(atomic_load(&g_async.done) == 64, 10000);
    ck_assert_int_eq(atomic_load(&g_async.done), 64);
    ck_assert_int_eq(atomic_load(&g_async.ok_and_matching), 64);
    ck_assert_int_eq(atomic_load(&g_async.on_client_thread_twice), 0);
}
END_TEST

static void typed_adapter(void (*fn)(void), void *arg, const se_status *st,
                          ProtobufCMessage *resp)
{
    ((se_unary_cb)fn)(arg, st, resp);
}

START_TEST(async_typed_variant_calls_through_adapter)
{
    static async_slot slot = {.index = 7};
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "echo:7";
    ck_assert_ptr_nonnull(se_rpc_unary_async_typed(g_ch, &test_methods[M_UNARY], &req.base, NULL,
                                                   typed_adapter, (void (*)(void))on_echo,
                                                   &slot));
    SE_POLL_UNTIL(atomic_load(&g_async.done) == 1, 5000);
    ck_assert_int_eq(atomic_load(&g_async.ok_and_matching), 1);
}
END_TEST

START_TEST(async_cancel_runs_callback_with_cancelled)
{
    static async_slot slot = {.index = 1};
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "sleep:2000";
    se_pending *p = se_rpc_unary_async(g_ch, &test_methods[M_UNARY], &req.base, NULL, on_echo,
                                       &slot);
    ck_assert_ptr_nonnull(p);
    SE_POLL_UNTIL(atomic_load(&g_svc.handler_started) == 1, 5000);
    int64_t t0 = se_test_now_ms();
    se_pending_cancel(p);
    SE_POLL_UNTIL(atomic_load(&g_async.done) == 1, 5000);
    ck_assert_int_eq(atomic_load(&g_async.done), 1);
    ck_assert_int_eq(slot.st.code, GRPC_STATUS_CANCELLED);
    int64_t took = se_test_now_ms() - t0;
    ck_assert_msg(took < SE_T(1000), "callback after %lld ms", (long long)took);
}
END_TEST

START_TEST(async_deadline_exceeded)
{
    static async_slot slot = {.index = 2};
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "sleep:1000";
    se_call_opts opts = {.timeout_ms = 100};
    ck_assert_ptr_nonnull(
        se_rpc_unary_async(g_ch, &test_methods[M_UNARY], &req.base, &opts, on_echo, &slot));
    SE_POLL_UNTIL(atomic_load(&g_async.done) == 1, 5000);
    ck_assert_int_eq(slot.st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
}
END_TEST

/* ---- retries ------------------------------------------------------------ */

START_TEST(idempotent_retry_succeeds_on_third_attempt)
{
    se_status st;
    const char *out = call_cmd(M_UNARY, "flaky:2", NULL, &st);
    ck_assert_int_eq(st.code, GRPC_STATUS_OK);
    ck_assert_str_eq(out, "3");
    ck_assert_int_eq(atomic_load(&g_svc.attempts), 3);
}
END_TEST

START_TEST(non_idempotent_is_not_retried)
{
    se_status st;
    ck_assert_ptr_null(call_cmd(M_UNARY_NO_RETRY, "flaky:2", NULL, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_str_eq(st.message, "flaky attempt 1");
    ck_assert_int_eq(atomic_load(&g_svc.attempts), 1);
}
END_TEST

START_TEST(no_retry_option_disables_retry)
{
    se_call_opts opts = {.no_retry = 1};
    se_status st;
    ck_assert_ptr_null(call_cmd(M_UNARY, "flaky:2", &opts, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_int_eq(atomic_load(&g_svc.attempts), 1);
}
END_TEST

START_TEST(retries_give_up_after_max_attempts)
{
    se_status st;
    ck_assert_ptr_null(call_cmd(M_UNARY, "flaky:10", NULL, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_str_eq(st.message, "flaky attempt 3");
    ck_assert_int_eq(atomic_load(&g_svc.attempts), 3);
}
END_TEST

START_TEST(async_idempotent_retry_succeeds_on_third_attempt)
{
    static async_slot slot = {.index = 3}; /* reply "3" matches index 3 */
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "flaky:2";
    ck_assert_ptr_nonnull(
        se_rpc_unary_async(g_ch, &test_methods[M_UNARY], &req.base, NULL, on_echo, &slot));
    SE_POLL_UNTIL(atomic_load(&g_async.done) == 1, 5000);
    ck_assert_int_eq(slot.st.code, GRPC_STATUS_OK);
    ck_assert_int_eq(atomic_load(&g_async.ok_and_matching), 1);
    ck_assert_int_eq(atomic_load(&g_svc.attempts), 3);
}
END_TEST

START_TEST(async_non_idempotent_is_not_retried)
{
    static async_slot slot = {.index = 0};
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "flaky:2";
    ck_assert_ptr_nonnull(se_rpc_unary_async(g_ch, &test_methods[M_UNARY_NO_RETRY], &req.base,
                                             NULL, on_echo, &slot));
    SE_POLL_UNTIL(atomic_load(&g_async.done) == 1, 5000);
    ck_assert_int_eq(slot.st.code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_int_eq(atomic_load(&g_svc.attempts), 1);
}
END_TEST

START_TEST(unreachable_target_is_unavailable_within_deadline)
{
    se_channel *ch = se_channel_get("127.0.0.1:1");
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "echo:x";
    ProtobufCMessage *resp = NULL;
    se_status st;
    se_call_opts opts = {.timeout_ms = SE_T(1000)};
    int64_t t0 = se_test_now_ms();
    ck_assert_int_eq(se_rpc_unary(ch, &test_methods[M_UNARY], &req.base, &resp, &opts, &st), -1);
    ck_assert_ptr_null(resp);
    ck_assert_msg(st.code == GRPC_STATUS_UNAVAILABLE || st.code == GRPC_STATUS_DEADLINE_EXCEEDED,
                  "code %s", se_status_name(st.code));
    int64_t took = se_test_now_ms() - t0;
    ck_assert_msg(took < SE_T(1000) + 500, "took %lld ms", (long long)took);
}
END_TEST

/* ---- server streaming --------------------------------------------------- */

START_TEST(stream_blocking_reader_round_trip)
{
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "count:5";
    se_status st;
    se_stream *s = se_rpc_stream_open(g_ch, &test_methods[M_STREAM], &req.base, NULL, &st);
    ck_assert_ptr_nonnull(s);
    ProtobufCMessage *msg;
    char want[8];
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(se_stream_read(s, &msg, &st), 1);
        snprintf(want, sizeof want, "%d", i);
        ck_assert_str_eq(((tmsg *)msg)->service, want);
        se_msg_free(msg);
    }
    ck_assert_int_eq(se_stream_read(s, &msg, &st), 0);
    ck_assert_ptr_null(msg);
    ck_assert_int_eq(st.code, GRPC_STATUS_OK);
    ck_assert_str_eq(st.message, "done");
    /* reading after the end repeats the end */
    ck_assert_int_eq(se_stream_read(s, &msg, &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_OK);
    se_stream_close(s);
}
END_TEST

START_TEST(stream_blocking_reader_sees_error_status)
{
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "bogus";
    se_status st;
    se_stream *s = se_rpc_stream_open(g_ch, &test_methods[M_STREAM], &req.base, NULL, &st);
    ck_assert_ptr_nonnull(s);
    ProtobufCMessage *msg;
    ck_assert_int_eq(se_stream_read(s, &msg, &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_str_eq(st.message, "unknown command bogus");
    se_stream_close(s);
}
END_TEST

START_TEST(stream_blocking_close_mid_stream_cancels_server)
{
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "forever";
    se_status st;
    se_call_opts opts = {.timeout_ms = -1};
    se_stream *s = se_rpc_stream_open(g_ch, &test_methods[M_STREAM], &req.base, &opts, &st);
    ck_assert_ptr_nonnull(s);
    ProtobufCMessage *msg;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(se_stream_read(s, &msg, &st), 1);
        se_msg_free(msg);
    }
    se_stream_close(s);
    SE_POLL_UNTIL(atomic_load(&g_svc.send_failed) == 1, 5000);
    ck_assert_int_eq(atomic_load(&g_svc.on_cancel), 1);
    ck_assert_int_eq(atomic_load(&g_svc.send_failed), 1);
}
END_TEST

START_TEST(stream_async_round_trip)
{
    static stream_result r;
    ck_assert_ptr_nonnull(open_async_stream("count:7", &r, 0));
    SE_POLL_UNTIL(atomic_load(&r.ended) == 1, 5000);
    ck_assert_int_eq(atomic_load(&r.ended), 1);
    ck_assert_int_eq(atomic_load(&r.messages), 7);
    ck_assert_int_eq(r.in_order, 1);
    ck_assert_int_eq(r.st.code, GRPC_STATUS_OK);
    ck_assert_str_eq(r.st.message, "done");
}
END_TEST

START_TEST(stream_async_cancel_reaches_server)
{
    static stream_result r;
    ck_assert_ptr_nonnull(open_async_stream("forever", &r, -1));
    SE_POLL_UNTIL(atomic_load(&r.messages) >= 2, 5000);
    ck_assert_int_ge(atomic_load(&r.messages), 2);
    se_pending_cancel(atomic_load(&r.p));
    SE_POLL_UNTIL(atomic_load(&r.ended) == 1, 5000);
    ck_assert_int_eq(atomic_load(&r.ended), 1);
    ck_assert_int_eq(r.st.code, GRPC_STATUS_CANCELLED);
    SE_POLL_UNTIL(atomic_load(&g_svc.send_failed) == 1, 5000);
    ck_assert_int_eq(atomic_load(&g_svc.on_cancel), 1);
    ck_assert_int_eq(atomic_load(&g_svc.send_failed), 1);
}
END_TEST

START_TEST(stream_async_cancel_from_on_message)
{
    static stream_result r;
    memset(&r, 0, sizeof r);
    r.cancel_after = 3;
    r.in_order = 1;
    se_stream_cbs cbs = {on_stream_msg, on_stream_end};
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "forever";
    se_call_opts opts = {.timeout_ms = -1};
    se_pending *p = se_rpc_stream_async(g_ch, &test_methods[M_STREAM], &req.base, &opts, &cbs, &r);
    ck_assert_ptr_nonnull(p);
    atomic_store(&r.p, p);
    SE_POLL_UNTIL(atomic_load(&r.ended) == 1, 5000);
    ck_assert_int_eq(r.st.code, GRPC_STATUS_CANCELLED);
    ck_assert_int_ge(atomic_load(&r.messages), 3);
    SE_POLL_UNTIL(atomic_load(&g_svc.on_cancel) == 1, 5000);
    ck_assert_int_eq(atomic_load(&g_svc.on_cancel), 1);
}
END_TEST

START_TEST(stream_async_deadline)
{
    static stream_result r;
    ck_assert_ptr_nonnull(open_async_stream("forever", &r, SE_T(1000)));
    SE_POLL_UNTIL(atomic_load(&r.ended) == 1, 5000);
    ck_assert_int_eq(r.st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
    ck_assert_int_ge(atomic_load(&r.messages), 1); /* 2 ms apart for 1 s */
    SE_POLL_UNTIL(atomic_load(&g_svc.on_cancel) == 1, 5000);
    ck_assert_int_eq(atomic_load(&g_svc.on_cancel), 1);
}
END_TEST

/* ---- request ids -------------------------------------------------------- */

START_TEST(request_ids_are_fresh_hex)
{
    char a[33], b[33];
    se_request_id_new(a);
    se_request_id_new(b);
    ck_assert_uint_eq(strlen(a), 32);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 32);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(log_request_id_is_forwarded_outside_handlers)
{
    se_log_set_request_id("from-log-ctx");
    se_status st;
    ck_assert_str_eq(call_cmd(M_UNARY, "rid", NULL, &st), "from-log-ctx");
    se_log_set_request_id(NULL);
    const char *out = call_cmd(M_UNARY, "rid", NULL, &st);
    ck_assert_uint_eq(strlen(out), 32);
}
END_TEST

static Suite *rpc_client_suite(void)
{
    Suite *s = suite_create("rpc_client");
    TCase *tc = tcase_create("loopback");
    tcase_add_checked_fixture(tc, rpc_setup, rpc_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, channel_is_cached_per_target);
    tcase_add_test(tc, async_64_concurrent_calls_complete);
    tcase_add_test(tc, async_typed_variant_calls_through_adapter);
    tcase_add_test(tc, async_cancel_runs_callback_with_cancelled);
    tcase_add_test(tc, async_deadline_exceeded);
    tcase_add_test(tc, idempotent_retry_succeeds_on_third_attempt);
    tcase_add_test(tc, non_idempotent_is_not_retried);
    tcase_add_test(tc, no_retry_option_disables_retry);
    tcase_add_test(tc, retries_give_up_after_max_attempts);
    tcase_add_test(tc, async_idempotent_retry_succeeds_on_third_attempt);
    tcase_add_test(tc, async_non_idempotent_is_not_retried);
    tcase_add_test(tc, unreachable_target_is_unavailable_within_deadline);
    tcase_add_test(tc, stream_blocking_reader_round_trip);
    tcase_add_test(tc, stream_blocking_reader_sees_error_status);
    tcase_add_test(tc, stream_blocking_close_mid_stream_cancels_server);
    tcase_add_test(tc, stream_async_round_trip);
    tcase_add_test(tc, stream_async_cancel_reaches_server);
    tcase_add_test(tc, stream_async_cancel_from_on_message);
    tcase_add_test(tc, stream_async_deadline);
    tcase_add_test(tc, request_ids_are_fresh_hex);
    tcase_add_test(tc, log_request_id_is_forwarded_outside_handlers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(rpc_client_suite());
}
