/* test_health.c - grpc.health.v1.Health on a real server over loopback,
 * called through our own client stubs. Each test starts its own server on a
 * free port and ends with shutdown + destroy + se_rpc_shutdown, so ASan/LSan
 * see everything released. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "grpc/health/v1/health.se.h"
#include "se_rpc.h"
#include "se_test.h"

#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVICE_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

typedef struct fixture {
    se_server *server;
    se_channel *ch;
} fixture;

static fixture start(void)
{
    se_rpc_init();
    se_server_config cfg = {.name = "test_health", .listen_addr = "127.0.0.1:0",
                            .threads = 2, .grace_ms = 2000};
    fixture f;
    f.server = se_server_create(&cfg);
    ck_assert_ptr_nonnull(f.server);
    ck_assert_int_eq(se_server_start(f.server), 0);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", se_server_port(f.server));
    f.ch = se_channel_get(target);
    ck_assert_ptr_nonnull(f.ch);
    return f;
}

static void stop(fixture *f)
{
    se_server_shutdown(f->server);
    se_server_destroy(f->server);
    se_rpc_shutdown();
}

/* Check's result: the status enum on OK, else -(gRPC code). */
static int check_health(fixture *f, const char *service)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    Grpc__Health__V1__HealthCheckResponse *resp = NULL;
    se_status st;
    if (grpc_health_v1_health_check(f->ch, &req, &resp, NULL, &st) != 0) {
        ck_assert_ptr_null(resp);
        ck_assert_int_ne(st.code, GRPC_STATUS_OK);
        return -(int)st.code;
    }
    ck_assert_ptr_nonnull(resp);
    int status = resp->status;
    se_msg_free(&resp->base);
    return status;
}

static se_stream *watch(fixture *f, const char *service)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    se_call_opts opts = {.timeout_ms = SE_T(10000)};
    se_status st;
    se_stream *s = grpc_health_v1_health_watch_open(f->ch, &req, &opts, &st);
    ck_assert_msg(s != NULL, "watch open failed: %s %s", se_status_name(st.code), st.message);
    return s;
}

/* The next Watch message's status; fails the test if the stream ended. */
static int next_status(se_stream *s)
{
    ProtobufCMessage *msg = NULL;
    se_status st;
    int got = se_stream_read(s, &msg, &st);
    ck_assert_msg(got == 1, "stream ended early: %s %s", se_status_name(st.code), st.message);
    int status = ((Grpc__Health__V1__HealthCheckResponse *)msg)->status;
    se_msg_free(msg);
    return status;
}

/* Reads the end of a Watch stream that the server finished with OK. */
static void expect_end_ok(se_stream *s)
{
    ProtobufCMessage *msg = NULL;
    se_status st;
    ck_assert_int_eq(se_stream_read(s, &msg, &st), 0);
    ck_assert_ptr_null(msg);
    ck_assert_msg(st.code == GRPC_STATUS_OK, "watch ended with %s %s", se_status_name(st.code),
                  st.message);
}

START_TEST(check_whole_server_serving)
{
    fixture f = start();
    ck_assert_int_eq(check_health(&f, ""), SERVING);
    stop(&f);
}
END_TEST

START_TEST(check_registered_service_serving)
{
    fixture f = start();
    ck_assert_int_eq(check_health(&f, "grpc.health.v1.Health"), SERVING);
    ck_assert_int_eq(check_health(&f, "grpc.reflection.v1.ServerReflection"), SERVING);
    stop(&f);
}
END_TEST

START_TEST(check_unknown_service_not_found)
{
    fixture f = start();
    ck_assert_int_eq(check_health(&f, "no.such.Service"), -GRPC_STATUS_NOT_FOUND);
    stop(&f);
}
END_TEST

START_TEST(check_sees_set_health)
{
    fixture f = start();
    se_server_set_health(f.server, "test.Custom", 0);
    ck_assert_int_eq(check_health(&f, "test.Custom"), NOT_SERVING);
    se_server_set_health(f.server, "test.Custom", 1);
    ck_assert_int_eq(check_health(&f, "test.Custom"), SERVING);
    se_server_set_health(f.server, "", 0);
    ck_assert_int_eq(check_health(&f, ""), NOT_SERVING);
    stop(&f);
}
END_TEST

START_TEST(watch_initial_then_change)
{
    fixture f = start();
    se_server_set_health(f.server, "test.Custom", 1);
    se_stream *s = watch(&f, "test.Custom");
    ck_assert_int_eq(next_status(s), SERVING);
    se_server_set_health(f.server, "test.Custom", 1); /* no change: nothing sent */
    se_server_set_health(f.server, "test.Custom", 0);
    ck_assert_int_eq(next_status(s), NOT_SERVING);
    se_server_set_health(f.server, "test.Custom", 1);
    ck_assert_int_eq(next_status(s), SERVING);
    se_stream_close(s);
    stop(&f);
}
END_TEST

START_TEST(watch_unknown_then_known)
{
    fixture f = start();
    se_stream *s = watch(&f, "test.Later");
    ck_assert_int_eq(next_status(s), SERVICE_UNKNOWN);
    se_server_set_health(f.server, "test.Later", 1);
    ck_assert_int_eq(next_status(s), SERVING);
    se_stream_close(s);
    stop(&f);
}
END_TEST

static void *shutdown_thread(void *arg)
{
    se_server_shutdown(arg);
    return NULL;
}

START_TEST(watch_ends_when_server_shuts_down)
{
    fixture f = start();
    se_stream *s = watch(&f, "");
    ck_assert_int_eq(next_status(s), SERVING);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, shutdown_thread, f.server), 0);
    ck_assert_int_eq(next_status(s), NOT_SERVING);
    expect_end_ok(s);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    se_stream_close(s);
    stop(&f); /* shutdown again: idempotent */
}
END_TEST

START_TEST(watch_cancelled_by_client)
{
    fixture f = start();
    se_stream *a = watch(&f, "");
    se_stream *b = watch(&f, "");
    ck_assert_int_eq(next_status(a), SERVING);
    ck_assert_int_eq(next_status(b), SERVING);
    se_stream_close(a); /* cancels; the server must drop this watcher */
    se_server_set_health(f.server, "", 0);
    ck_assert_int_eq(next_status(b), NOT_SERVING);
    se_stream_close(b);
    se_server_set_health(f.server, "", 1);
    ck_assert_int_eq(check_health(&f, ""), SERVING);
    stop(&f);
}
END_TEST

START_TEST(watch_open_at_shutdown_many)
{
    fixture f = start();
    enum { N = 8 };
    se_stream *s[N];
    for (int i = 0; i < N; i++) {
        s[i] = watch(&f, i % 2 ? "" : "grpc.health.v1.Health");
        ck_assert_int_eq(next_status(s[i]), SERVING);
    }
    se_stream_close(s[0]);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, shutdown_thread, f.server), 0);
    /* Each stream is read to its end before it is closed. Closing one right
     * after NOT_SERVING would cancel it (RST_STREAM) while the server is
     * closing the connection, which it does as soon as its last stream is
     * done: the client's write then fails (EPIPE), gRPC tears the transport
     * down and the streams whose last frames were still unread end
     * UNAVAILABLE "Broken pipe" instead of NOT_SERVING + OK. */
    for (int i = 1; i < N; i++) {
        ck_assert_int_eq(next_status(s[i]), NOT_SERVING);
        expect_end_ok(s[i]);
        se_stream_close(s[i]);
    }
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    stop(&f);
}
END_TEST

START_TEST(watch_sees_every_change_in_order)
{
    fixture f = start();
    se_server_set_health(f.server, "test.Flip", 1);
    se_stream *s = watch(&f, "test.Flip");
    ck_assert_int_eq(next_status(s), SERVING);
    for (int i = 0; i < 200; i++)
        se_server_set_health(f.server, "test.Flip", i % 2);
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(next_status(s), i % 2 ? SERVING : NOT_SERVING);
    se_stream_close(s);
    stop(&f);
}
END_TEST

START_TEST(watch_deadline_expires)
{
    fixture f = start();
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    se_call_opts opts = {.timeout_ms = SE_T(300)};
    se_status st;
    se_stream *s = grpc_health_v1_health_watch_open(f.ch, &req, &opts, &st);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(next_status(s), SERVING);
    ProtobufCMessage *msg = NULL;
    ck_assert_int_eq(se_stream_read(s, &msg, &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_DEADLINE_EXCEEDED);
    se_stream_close(s);
    /* The server dropped the watcher: changes now reach nobody. */
    se_server_set_health(f.server, "", 0);
    se_server_set_health(f.server, "", 1);
    ck_assert_int_eq(check_health(&f, ""), SERVING);
    stop(&f);
}
END_TEST

static Suite *health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("health");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, check_whole_server_serving);
    tcase_add_test(tc, check_registered_service_serving);
    tcase_add_test(tc, check_unknown_service_not_found);
    tcase_add_test(tc, check_sees_set_health);
    tcase_add_test(tc, watch_initial_then_change);
    tcase_add_test(tc, watch_unknown_then_known);
    tcase_add_test(tc, watch_ends_when_server_shuts_down);
    tcase_add_test(tc, watch_cancelled_by_client);
    tcase_add_test(tc, watch_open_at_shutdown_many);
    tcase_add_test(tc, watch_sees_every_change_in_order);
    tcase_add_test(tc, watch_deadline_expires);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(health_suite());
}
