/* rpc_test_service.h - a hand-built test service for the RPC runtime suites
 * (test_rpc_server.c, test_rpc_client.c). Header-only: each suite is one
 * executable that includes it once.
 *
 * Service "test.Svc" uses grpc.health.v1.HealthCheckRequest (one string
 * field, `service`) as request and response for every method; the request
 * string is a command:
 *
 *   Unary / UnaryNoRetry (idempotent / not):
 *     echo:X        reply X
 *     sleep:MS      sleep MS ms, reply "slept"
 *     notfound      fail NOT_FOUND "restaurant 7 not found"
 *     md:KEY        reply the value of metadata KEY, or "(none)"
 *     rid           reply the call's request id
 *     timeleft      reply the call's time left in ms
 *     nested:CMD    blocking call of Unary CMD to this server from inside
 *                   the handler; reply "<code>|<reply>"
 *     flaky:N       UNAVAILABLE for the first N calls (counted in
 *                   g_svc.attempts), then reply the attempt count
 *   Stream (server streaming):
 *     count:N       N messages "0".."N-1", then OK
 *     forever       registers on_cancel, sends until se_call_send fails
 *   Bidi: echoes each message; at the end of the client stream finishes OK
 *     with message "n=<messages>".
 *   Missing: registered with no handler (UNIMPLEMENTED).
 */
#ifndef RPC_TEST_SERVICE_H
#define RPC_TEST_SERVICE_H

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "se_log.h"
#include "se_rpc.h"
#include "se_test.h"

typedef Grpc__Health__V1__HealthCheckRequest tmsg;

typedef struct test_handlers {
    void (*unary)(se_call *c, const tmsg *req, void *ctx);
    void (*stream)(se_call *c, const tmsg *req, void *ctx);
    void (*bidi)(se_call *c, const tmsg *req, void *ctx);
} test_handlers;

enum { M_UNARY, M_UNARY_NO_RETRY, M_STREAM, M_BIDI, M_MISSING, M_N };

/* ---- shared state ------------------------------------------------------- */

static struct {
    atomic_int attempts;        /* flaky: calls seen */
    atomic_int handler_started; /* sleep: handlers entered */
    atomic_int on_cancel;       /* forever: on_cancel callbacks */
    atomic_int send_failed;     /* forever: se_call_send returned -1 */
    atomic_int sent;            /* forever: messages queued */
    atomic_int bidi_null;       /* bidi: end-of-stream invocations */
    char target[64];
} g_svc;

static const se_method_desc test_methods[];

/* ---- handlers ----------------------------------------------------------- */

static inline void reply_str(se_call *c, const char *s)
{
    tmsg out = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    out.service = (char *)s;
    se_call_reply(c, &out.base);
}

static inline void do_nested(se_call *c, const char *cmd)
{
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)cmd;
    ProtobufCMessage *resp = NULL;
    se_status st;
    se_rpc_unary(se_channel_get(g_svc.target), &test_methods[M_UNARY], &req.base, &resp, NULL,
                 &st);
    char buf[300];
    snprintf(buf, sizeof buf, "%s|%s", se_status_name(st.code),
             resp ? ((tmsg *)resp)->service : st.message);
    se_msg_free(resp);
    reply_str(c, buf);
}

static inline void on_unary(se_call *c, const tmsg *req, void *ctx)
{
    (void)ctx;
    const char *cmd = req->service;
    char buf[128];
    if (strncmp(cmd, "echo:", 5) == 0) {
        reply_str(c, cmd + 5);
    } else if (strncmp(cmd, "sleep:", 6) == 0) {
        atomic_fetch_add(&g_svc.handler_started, 1);
        se_test_sleep_ms(atoi(cmd + 6));
        reply_str(c, "slept");
    } else if (strcmp(cmd, "notfound") == 0) {
        se_call_fail(c, GRPC_STATUS_NOT_FOUND, "restaurant %d not found", 7);
    } else if (strncmp(cmd, "md:", 3) == 0) {
        const char *v = se_call_metadata(c, cmd + 3);
        reply_str(c, v ? v : "(none)");
    } else if (strcmp(cmd, "rid") == 0) {
        reply_str(c, se_call_request_id(c));
    } else if (strcmp(cmd, "timeleft") == 0) {
        snprintf(buf, sizeof buf, "%lld", (long long)se_call_time_left_ms(c));
        reply_str(c, buf);
    } else if (strncmp(cmd, "nested:", 7) == 0) {
        do_nested(c, cmd + 7);
    } else if (strncmp(cmd, "flaky:", 6) == 0) {
        int n = atomic_fetch_add(&g_svc.attempts, 1) + 1;
        if (n <= atoi(cmd + 6)) {
            se_call_fail(c, GRPC_STATUS_UNAVAILABLE, "flaky attempt %d", n);
            return;
        }
        snprintf(buf, sizeof buf, "%d", n);
        reply_str(c, buf);
    } else {
        se_call_fail(c, GRPC_STATUS_INVALID_ARGUMENT, "unknown command %s", cmd);
    }
}

static inline void forever_cancelled(void *arg)
{
    (void)arg;
    atomic_fetch_add(&g_svc.on_cancel, 1);
}

static inline void on_stream(se_call *c, const tmsg *req, void *ctx)
{
    (void)ctx;
    tmsg out = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    char buf[32];
    out.service = buf;
    if (strncmp(req->service, "count:", 6) == 0) {
        int n = atoi(req->service + 6);
        for (int i = 0; i < n; i++) {
            snprintf(buf, sizeof buf, "%d", i);
            ck_assert_int_eq(se_call_send(c, &out.base), 0);
        }
        se_call_finish(c, GRPC_STATUS_OK, "done");
    } else if (strcmp(req->service, "forever") == 0) {
        se_call_on_cancel(c, forever_cancelled, NULL);
        for (int i = 0;; i++) {
            snprintf(buf, sizeof buf, "%d", i);
            if (se_call_send(c, &out.base) != 0)
                break;
            atomic_fetch_add(&g_svc.sent, 1);
            se_test_sleep_ms(2); /* pacing, not synchronisation */
        }
        atomic_fetch_add(&g_svc.send_failed, 1);
        se_call_finish(c, GRPC_STATUS_CANCELLED, "stopped");
    } else {
        se_call_finish(c, GRPC_STATUS_INVALID_ARGUMENT, "unknown command %s", req->service);
    }
}

typedef struct bidi_state {
    se_call *call;
    int n;
} bidi_state;

static bidi_state g_bidi; /* one bidi call at a time in these tests */

static inline void on_bidi(se_call *c, const tmsg *req, void *ctx)
{
    (void)ctx;
    if (!req) {
        atomic_fetch_add(&g_svc.bidi_null, 1);
        se_call_finish(c, GRPC_STATUS_OK, "n=%d", g_bidi.n);
        return;
    }
    g_bidi.n++;
    tmsg out = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    out.service = req->service;
    se_call_send(c, &out.base);
}

static const test_handlers test_handler_table = {on_unary, on_stream, on_bidi};

/* ---- trampolines and descriptors ---------------------------------------- */

static int invoke_unary(se_call *c, const ProtobufCMessage *req, const void *h, void *ctx)
{
    const test_handlers *t = h;
    if (!t->unary)
        return -1;
    t->unary(c, (const tmsg *)req, ctx);
    return 0;
}

static int invoke_stream(se_call *c, const ProtobufCMessage *req, const void *h, void *ctx)
{
    const test_handlers *t = h;
    if (!t->stream)
        return -1;
    t->stream(c, (const tmsg *)req, ctx);
    return 0;
}

static int invoke_bidi(se_call *c, const ProtobufCMessage *req, const void *h, void *ctx)
{
    const test_handlers *t = h;
    if (!t->bidi)
        return -1;
    t->bidi(c, (const tmsg *)req, ctx);
    return 0;
}

static int invoke_missing(se_call *c, const ProtobufCMessage *req, const void *h, void *ctx)
{
    (void)c;
    (void)req;
    (void)h;
    (void)ctx;
    return -1;
}

#define TMSG_DESC (&grpc__health__v1__health_check_request__descriptor)

static const se_method_desc test_methods[] = {
    [M_UNARY] = {"/test.Svc/Unary", "Unary", SE_RPC_UNARY, 1, TMSG_DESC, TMSG_DESC, invoke_unary},
    [M_UNARY_NO_RETRY] = {"/test.Svc/UnaryNoRetry", "UnaryNoRetry", SE_RPC_UNARY, 0, TMSG_DESC,
                          TMSG_DESC, invoke_unary},
    [M_STREAM] = {"/test.Svc/Stream", "Stream", SE_RPC_SERVER_STREAMING, 0, TMSG_DESC, TMSG_DESC,
                  invoke_stream},
    [M_BIDI] = {"/test.Svc/Bidi", "Bidi", SE_RPC_BIDI_STREAMING, 0, TMSG_DESC, TMSG_DESC,
                invoke_bidi},
    [M_MISSING] = {"/test.Svc/Missing", "Missing", SE_RPC_UNARY, 0, TMSG_DESC, TMSG_DESC,
                   invoke_missing},
};

static const se_service_desc test_service = {
    .name = "test.Svc",
    .file = "test.proto",
    .n_methods = M_N,
    .methods = test_methods,
};

/* A method nobody serves. */
static const se_method_desc unknown_method = {
    "/test.Nope/Nothing", "Nothing", SE_RPC_UNARY, 1, TMSG_DESC, TMSG_DESC, invoke_unary};

/* ---- fixture ------------------------------------------------------------ */

static se_server *g_srv;
static se_channel *g_ch;

/* A started server on a free loopback port with test.Svc; NULL on failure. */
static inline se_server *start_test_server(int grace_ms)
{
    se_server_config cfg = {"test", "127.0.0.1:0", 0, grace_ms};
    se_server *s = se_server_create(&cfg);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(se_server_add_service(s, &test_service, &test_handler_table, NULL), 0);
    ck_assert_int_eq(se_server_start(s), 0);
    ck_assert_int_gt(se_server_port(s), 0);
    return s;
}

static inline void rpc_setup(void)
{
    memset(&g_svc, 0, sizeof g_svc);
    se_log_init("test");
    se_rpc_init();
    g_srv = start_test_server(0);
    snprintf(g_svc.target, sizeof g_svc.target, "127.0.0.1:%d", se_server_port(g_srv));
    g_ch = se_channel_get(g_svc.target);
}

static inline void rpc_teardown(void)
{
    se_server_destroy(g_srv);
    g_srv = NULL;
    se_rpc_shutdown();
}

/* Blocking unary call of `cmd`; returns the reply string (static) or NULL. */
static inline const char *call_cmd(int method, const char *cmd, const se_call_opts *opts,
                                   se_status *st)
{
    static char out[512];
    tmsg req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)cmd;
    ProtobufCMessage *resp = NULL;
    int rc = se_rpc_unary(g_ch, &test_methods[method], &req.base, &resp, opts, st);
    if (rc != 0) {
        ck_assert_ptr_null(resp);
        return NULL;
    }
    ck_assert_ptr_nonnull(resp);
    snprintf(out, sizeof out, "%s", ((tmsg *)resp)->service);
    se_msg_free(resp);
    return out;
}

#endif
