/* bench_rpc.c - unary gRPC calls over loopback: our runtime (se_rpc) against
 * the gRPC C core's raw API, same messages, same thread counts.
 *
 *   se-bench-rpc server raw|se ADDR         serve until SIGTERM; prints
 *                                           {"port":N} once listening and
 *                                           its CPU per call at exit
 *   se-bench-rpc client raw|se TARGET SECONDS INFLIGHT [--calls N]
 *                                           keep INFLIGHT calls in flight for
 *                                           SECONDS, print one JSON line;
 *                                           with --calls, stop after N calls
 *                                           (SECONDS is then a cap): a fixed
 *                                           amount of work for profiling,
 *                                           e.g. under callgrind
 *
 * Both servers answer "/swifteats.bench.v1.Bench/Echo" with the same bytes:
 * the raw one sends a pre-serialized response without decoding anything (the
 * floor of what the C core costs), ours decodes the request into a protobuf-c
 * message, runs a handler and packs the response - the work every real
 * service does. The difference is what our layer costs. bench/rpc/run.sh
 * runs both in one go.
 */
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/byte_buffer.h>
#include <grpc/support/time.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "grpc/health/v1/health.pb-c.h"
#include "se_config.h"
#include "se_log.h"
#include "se_rpc.h"

#define BENCH_METHOD "/swifteats.bench.v1.Bench/Echo"
#define MAX_SAMPLES (8u * 1000u * 1000u)

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* ---- the messages both sides exchange ------------------------------------ */

static Grpc__Health__V1__HealthCheckRequest bench_request(void)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = "swifteats.v1.MenuService";
    return req;
}

static Grpc__Health__V1__HealthCheckResponse bench_response(void)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    return resp;
}

static grpc_slice pack_slice(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    return s;
}

/* ---- our runtime: a hand-written one-method service ---------------------- */

static void echo_handler(se_call *call, const ProtobufCMessage *req)
{
    const Grpc__Health__V1__HealthCheckRequest *r = (const void *)req;
    Grpc__Health__V1__HealthCheckResponse resp = bench_response();
    if (r->service == NULL || r->service[0] == '\0') {
        se_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "service must not be empty");
        return;
    }
    se_call_reply(call, &resp.base);
}

static int echo_invoke(se_call *call, const ProtobufCMessage *req, const void *handlers, void *ctx)
{
    (void)handlers;
    (void)ctx;
    echo_handler(call, req);
    return 0;
}

static const se_method_desc bench_methods[] = {{
    .path = BENCH_METHOD,
    .name = "Echo",
    .kind = SE_RPC_UNARY,
    .idempotent = 1,
    .input = &grpc__health__v1__health_check_request__descriptor,
    .output = &grpc__health__v1__health_check_response__descriptor,
    .invoke = echo_invoke,
}};

static const se_service_desc bench_service = {
    .name = "swifteats.bench.v1.Bench",
    .file = "bench",
    .n_methods = 1,
    .methods = bench_methods,
};

static int handler_table_placeholder;

static int serve_se(const char *addr)
{
    se_server_config cfg = {.name = "bench", .listen_addr = addr};
    se_server *s = se_server_create(&cfg);
    if (s == NULL || se_server_add_service(s, &bench_service, &handler_table_placeholder, NULL) != 0 ||
        se_server_start(s) != 0) {
        fprintf(stderr, "bench: cannot start se server on %s\n", addr);
        return 1;
    }
    printf("{\"port\":%d}\n", se_server_port(s));
    fflush(stdout);
    se_rpc_wait_for_signal();
    printf("{\"server_cpu_us\":%.0f}\n", cpu_us());
    fflush(stdout);
    se_server_shutdown(s);
    se_server_destroy(s);
    return 0;
}

/* ---- raw C core server ---------------------------------------------------- */

typedef struct raw_server_call {
    grpc_call *call;
    gpr_timespec deadline;
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    int replying;     /* 0: waiting for a call, 1: reply batch in flight */
    int cancelled;
} raw_server_call;

typedef struct raw_server {
    grpc_server *server;
    grpc_completion_queue *cq;
    void *method;
    grpc_slice response;
    atomic_int stopping;
} raw_server;

static void raw_server_request(raw_server *rs)
{
    raw_server_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    grpc_metadata_array_init(&c->md);
    grpc_call_error e = grpc_server_request_registered_call(rs->server, rs->method, &c->call, &c->deadline,
                                                            &c->md, &c->payload, rs->cq, rs->cq, c);
    if (e != GRPC_CALL_OK) {
        grpc_metadata_array_destroy(&c->md);
        free(c);
    }
}

static void raw_server_reply(raw_server *rs, raw_server_call *c)
{
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&rs->response, 1);
    grpc_op ops[4];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[2].data.send_status_from_server.status = GRPC_STATUS_OK;
    ops[3].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[3].data.recv_close_on_server.cancelled = &c->cancelled;
    c->replying = 1;
    if (grpc_call_start_batch(c->call, ops, 4, c, NULL) != GRPC_CALL_OK)
        abort();
    grpc_byte_buffer_destroy(bb);
}

static void *raw_server_thread(void *arg)
{
    raw_server *rs = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(rs->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        if (ev.tag == NULL)
            continue; /* shutdown notification */
        raw_server_call *c = ev.tag;
        if (!c->replying) {
            if (!ev.success) { /* server shutting down */
                grpc_metadata_array_destroy(&c->md);
                free(c);
                continue;
            }
            if (!atomic_load(&rs->stopping))
                raw_server_request(rs);
            raw_server_reply(rs, c);
            continue;
        }
        if (c->payload != NULL)
            grpc_byte_buffer_destroy(c->payload);
        grpc_metadata_array_destroy(&c->md);
        grpc_call_unref(c->call);
        free(c);
    }
}

static int serve_raw(const char *addr, int threads)
{
    raw_server rs = {0};
    Grpc__Health__V1__HealthCheckResponse resp = bench_response();
    rs.response = pack_slice(&resp.base);
    grpc_arg arg = {.type = GRPC_ARG_INTEGER, .key = GRPC_ARG_ALLOW_REUSEPORT, .value.integer = 0};
    grpc_channel_args args = {.num_args = 1, .args = &arg};
    rs.server = grpc_server_create(&args, NULL);
    rs.method = grpc_server_register_method(rs.server, BENCH_METHOD, NULL,
                                            GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    rs.cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(rs.server, rs.cq, NULL);
    grpc_server_credentials *creds = grpc_insecure_server_credentials_create();
    int port = grpc_server_add_http2_port(rs.server, addr, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        fprintf(stderr, "bench: cannot bind %s\n", addr);
        return 1;
    }
    grpc_server_start(rs.server);
    for (int i = 0; i < 64; i++)
        raw_server_request(&rs);
    pthread_t tids[16];
    for (int i = 0; i < threads; i++)
        pthread_create(&tids[i], NULL, raw_server_thread, &rs);
    printf("{\"port\":%d}\n", port);
    fflush(stdout);
    se_rpc_wait_for_signal();
    printf("{\"server_cpu_us\":%.0f}\n", cpu_us());
    fflush(stdout);
    atomic_store(&rs.stopping, 1);
    grpc_server_shutdown_and_notify(rs.server, rs.cq, NULL);
    grpc_server_cancel_all_calls(rs.server);
    grpc_completion_queue_shutdown(rs.cq);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    grpc_server_destroy(rs.server);
    grpc_completion_queue_destroy(rs.cq);
    grpc_slice_unref(rs.response);
    return 0;
}

/* ---- shared client bookkeeping -------------------------------------------- */

typedef struct bench_client {
    atomic_int stop;
    long max_calls;         /* 0: run for the time given */
    atomic_long started;
    atomic_long done;
    atomic_long failed;
    atomic_long in_flight;
    float *samples; /* latency per completed call, microseconds */
    atomic_long n_samples;
} bench_client;

/* 1 when another call may start (not stopped, --calls budget left). */
static int may_start(bench_client *bc)
{
    if (atomic_load(&bc->stop))
        return 0;
    return bc->max_calls == 0 || atomic_fetch_add(&bc->started, 1) < bc->max_calls;
}

/* Runs for `seconds`, or with --calls until every call finished. */
static void run_for(bench_client *bc, double seconds)
{
    if (bc->max_calls == 0) {
        usleep((useconds_t)(seconds * 1e6));
        return;
    }
    double until = now_us() + seconds * 1e6;
    while (atomic_load(&bc->done) + atomic_load(&bc->failed) < bc->max_calls && now_us() < until)
        usleep(1000);
}

static void record(bench_client *bc, double start_us, int ok)
{
    long i = atomic_fetch_add(&bc->n_samples, 1);
    if ((unsigned long)i < MAX_SAMPLES)
        bc->samples[i] = (float)(now_us() - start_us);
    atomic_fetch_add(ok ? &bc->done : &bc->failed, 1);
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void report(const char *impl, bench_client *bc, double seconds, int inflight, double cpu)
{
    long n = atomic_load(&bc->n_samples);
    if (n > (long)MAX_SAMPLES)
        n = MAX_SAMPLES;
    qsort(bc->samples, (size_t)n, sizeof(float), cmp_float);
    double p50 = n ? bc->samples[n / 2] : 0, p99 = n ? bc->samples[(n * 99) / 100] : 0;
    long done = atomic_load(&bc->done);
    printf("{\"impl\":\"%s\",\"inflight\":%d,\"seconds\":%.2f,\"calls\":%ld,\"failed\":%ld,"
           "\"calls_per_s\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f,\"client_cpu_us_per_call\":%.1f}\n",
           impl, inflight, seconds, done, atomic_load(&bc->failed), (double)done / seconds, p50, p99,
           done ? cpu / (double)done : 0.0);
}

/* ---- raw C core client ---------------------------------------------------- */

typedef struct raw_client_call {
    grpc_call *call;
    double start_us;
    grpc_metadata_array initial_md, trailing_md;
    grpc_byte_buffer *response;
    grpc_status_code status;
    grpc_slice details;
} raw_client_call;

typedef struct raw_client {
    bench_client bc;
    grpc_channel *channel;
    grpc_completion_queue *cq;
    void *method;
    grpc_slice request;
} raw_client;

static void raw_client_start(raw_client *rc)
{
    raw_client_call *c = calloc(1, sizeof(*c));
    if (c == NULL)
        abort();
    c->start_us = now_us();
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_seconds(5, GPR_TIMESPAN));
    c->call = grpc_channel_create_registered_call(rc->channel, NULL, GRPC_PROPAGATE_DEFAULTS, rc->cq,
                                                  rc->method, deadline, NULL);
    grpc_metadata_array_init(&c->initial_md);
    grpc_metadata_array_init(&c->trailing_md);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&rc->request, 1);
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = bb;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->response;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing_md;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    atomic_fetch_add(&rc->bc.in_flight, 1);
    if (grpc_call_start_batch(c->call, ops, 6, c, NULL) != GRPC_CALL_OK)
        abort();
    grpc_byte_buffer_destroy(bb);
}

static void raw_client_finish(raw_client *rc, raw_client_call *c, int success)
{
    record(&rc->bc, c->start_us, success && c->status == GRPC_STATUS_OK && c->response != NULL);
    if (c->response != NULL)
        grpc_byte_buffer_destroy(c->response);
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->initial_md);
    grpc_metadata_array_destroy(&c->trailing_md);
    grpc_call_unref(c->call);
    free(c);
    atomic_fetch_sub(&rc->bc.in_flight, 1);
    if (may_start(&rc->bc))
        raw_client_start(rc);
}

static void *raw_client_thread(void *arg)
{
    raw_client *rc = arg;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(rc->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            return NULL;
        raw_client_finish(rc, ev.tag, ev.success);
    }
}

static void wait_drained(bench_client *bc)
{
    double until = now_us() + 10e6;
    while (atomic_load(&bc->in_flight) > 0 && now_us() < until)
        usleep(1000);
}

static int client_raw(const char *target, double seconds, int inflight, long calls)
{
    raw_client rc = {0};
    rc.bc.max_calls = calls;
    rc.bc.samples = malloc(sizeof(float) * MAX_SAMPLES);
    Grpc__Health__V1__HealthCheckRequest req = bench_request();
    rc.request = pack_slice(&req.base);
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    rc.channel = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    rc.method = grpc_channel_register_call(rc.channel, BENCH_METHOD, NULL, NULL);
    rc.cq = grpc_completion_queue_create_for_next(NULL);
    pthread_t tid;
    pthread_create(&tid, NULL, raw_client_thread, &rc);
    double cpu0 = cpu_us(), t0 = now_us();
    for (int i = 0; i < inflight && may_start(&rc.bc); i++)
        raw_client_start(&rc);
    run_for(&rc.bc, seconds);
    atomic_store(&rc.bc.stop, 1);
    double elapsed = (now_us() - t0) / 1e6, cpu = cpu_us() - cpu0;
    wait_drained(&rc.bc);
    grpc_completion_queue_shutdown(rc.cq);
    pthread_join(tid, NULL);
    grpc_completion_queue_destroy(rc.cq);
    grpc_channel_destroy(rc.channel);
    grpc_slice_unref(rc.request);
    report("raw", &rc.bc, elapsed, inflight, cpu);
    free(rc.bc.samples);
    return 0;
}

/* ---- our runtime's client ------------------------------------------------- */

typedef struct se_client_ctx {
    bench_client bc;
    se_channel *channel;
} se_client_ctx;

typedef struct se_client_call {
    se_client_ctx *ctx;
    double start_us;
} se_client_call;

static void se_client_start(se_client_call *c);

static void se_client_done(void *arg, const se_status *st, ProtobufCMessage *resp)
{
    se_client_call *c = arg;
    record(&c->ctx->bc, c->start_us, st->code == GRPC_STATUS_OK && resp != NULL);
    se_msg_free(resp);
    if (!may_start(&c->ctx->bc)) {
        atomic_fetch_sub(&c->ctx->bc.in_flight, 1);
        free(c);
        return;
    }
    se_client_start(c);
}

static void se_client_start(se_client_call *c)
{
    Grpc__Health__V1__HealthCheckRequest req = bench_request();
    c->start_us = now_us();
    if (se_rpc_unary_async(c->ctx->channel, &bench_methods[0], &req.base, NULL, se_client_done, c) == NULL) {
        fprintf(stderr, "bench: se_rpc_unary_async failed\n");
        abort();
    }
}

static int client_se(const char *target, double seconds, int inflight, long calls)
{
    se_client_ctx ctx = {0};
    ctx.bc.max_calls = calls;
    ctx.bc.samples = malloc(sizeof(float) * MAX_SAMPLES);
    ctx.channel = se_channel_get(target);
    double cpu0 = cpu_us(), t0 = now_us();
    for (int i = 0; i < inflight && may_start(&ctx.bc); i++) {
        se_client_call *c = calloc(1, sizeof(*c));
        c->ctx = &ctx;
        atomic_fetch_add(&ctx.bc.in_flight, 1);
        se_client_start(c);
    }
    run_for(&ctx.bc, seconds);
    atomic_store(&ctx.bc.stop, 1);
    double elapsed = (now_us() - t0) / 1e6, cpu = cpu_us() - cpu0;
    wait_drained(&ctx.bc);
    report("se", &ctx.bc, elapsed, inflight, cpu);
    free(ctx.bc.samples);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: se-bench-rpc server raw|se ADDR\n"
                    "       se-bench-rpc client raw|se TARGET SECONDS INFLIGHT [--calls N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    se_log_init("bench-rpc");
    se_rpc_init();
    int rc;
    int is_raw = strcmp(argv[2], "raw") == 0;
    if (strcmp(argv[1], "server") == 0) {
        rc = is_raw ? serve_raw(argv[3], (int)se_env_int("SE_RPC_THREADS", 2, 1, 16)) : serve_se(argv[3]);
    } else if (strcmp(argv[1], "client") == 0 && (argc == 6 || argc == 8)) {
        double seconds = atof(argv[4]);
        int inflight = atoi(argv[5]);
        long calls = argc == 8 && strcmp(argv[6], "--calls") == 0 ? atol(argv[7]) : 0;
        if (seconds <= 0 || seconds > 3600 || inflight < 1 || inflight > 10000 ||
            (argc == 8 && calls < 1))
            return usage();
        rc = is_raw ? client_raw(argv[3], seconds, inflight, calls)
                    : client_se(argv[3], seconds, inflight, calls);
    } else {
        return usage();
    }
    se_rpc_shutdown();
    return rc;
}
