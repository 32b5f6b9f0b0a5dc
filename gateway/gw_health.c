/* gw_health.c - /healthz and /readyz.
 *
 * DESIGN (/readyz): one readyz_op per request, malloc'd, starts one
 * asynchronous Health/Check per backend. Each callback runs on a runtime
 * client thread, stores its result in its own slot and decrements
 * `remaining`; whoever brings it to zero posts the op back to the owning
 * loop (gw_loop_post), where the response is built. The op holds the loop
 * (so shutdown waits for it) and a guard on the request pool nulls op->r if
 * the client leaves first; the op is freed on the loop thread either way.
 */
#include "gw_health.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grpc/health/v1/health.se.h"
#include "gw_error.h"
#include "se_config.h"
#include "se_log.h"

typedef struct gw_backend {
    const char *name;        /* "payment_gateway", in responses */
    const char *config_name; /* "PAYMENT_GATEWAY", for SE_<NAME>_TARGET */
    const char *target;      /* resolved by gw_health_init */
    se_channel *ch;
} gw_backend;

enum { N_BACKENDS = 4 };
static gw_backend backends[N_BACKENDS] = {
    {"menu", "MENU", NULL, NULL},
    {"order", "ORDER", NULL, NULL},
    {"logistics", "LOGISTICS", NULL, NULL},
    {"payment_gateway", "PAYMENT_GATEWAY", NULL, NULL},
};
static int check_timeout;

typedef struct readyz_op readyz_op;

typedef struct readyz_check {
    readyz_op *op;
    grpc_status_code code; /* the RPC's status */
    int serving_status;    /* HealthCheckResponse.status when code is OK */
    char message[256];     /* the RPC's status message */
} readyz_check;

struct readyz_op {
    gw_task task;         /* first; zeroed; posted when the last check is in */
    gw_request *r;        /* NULL once the request is gone; loop thread only */
    gw_guard *guard;
    gw_loop *loop;
    atomic_int remaining; /* checks outstanding, +1 while they are started */
    readyz_check checks[N_BACKENDS];
};

void gw_health_init(int check_timeout_ms)
{
    check_timeout = check_timeout_ms;
    for (int i = 0; i < N_BACKENDS; i++) {
        backends[i].target = se_config_target(backends[i].config_name);
        backends[i].ch = se_channel_get(backends[i].target);
    }
}

static void on_healthz(gw_request *r, const gw_route_match *m, void *data)
{
    (void)m;
    (void)data;
    static const char body[] = "{\"status\":\"ok\"}";
    gw_reply_json(r, 200, body, sizeof body - 1);
}

/* ---- /readyz: results --------------------------------------------------- */

static const char *state_of(const readyz_check *c)
{
    if (c->code != GRPC_STATUS_OK)
        return se_status_name(c->code);
    switch (c->serving_status) {
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING: return "SERVING";
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING: return "NOT_SERVING";
    case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN:
        return "SERVICE_UNKNOWN";
    default: return "UNKNOWN";
    }
}

static int is_serving(const readyz_check *c)
{
    return c->code == GRPC_STATUS_OK &&
           c->serving_status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
}

/* Appends printf output at *len, never past cap. */
__attribute__((format(printf, 4, 5))) static void append(char *buf, size_t cap, size_t *len,
                                                         const char *fmt, ...)
{
    if (*len >= cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    *len = n < 0 ? cap : *len + (size_t)n;
    if (*len >= cap)
        *len = cap - 1;
}

/* "[{"name":"menu","target":"...","state":"SERVING"},...]" */
static void backends_json(const readyz_op *op, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    append(buf, cap, &len, "[");
    for (int i = 0; i < N_BACKENDS; i++) {
        const readyz_check *c = &op->checks[i];
        char target[128], msg[320];
        append(buf, cap, &len, "%s{\"name\":\"%s\",\"target\":\"%s\",\"state\":\"%s\"",
               i ? "," : "", backends[i].name,
               se_json_escape(target, sizeof target, backends[i].target), state_of(c));
        if (c->code != GRPC_STATUS_OK)
            append(buf, cap, &len, ",\"message\":\"%s\"",
                   se_json_escape(msg, sizeof msg, c->message));
        append(buf, cap, &len, "}");
    }
    append(buf, cap, &len, "]");
}

static void respond(readyz_op *op)
{
    char list[2048], failing[256];
    size_t flen = 0;
    failing[0] = '\0';
    backends_json(op, list, sizeof list);
    for (int i = 0; i < N_BACKENDS; i++) {
        if (!is_serving(&op->checks[i]))
            append(failing, sizeof failing, &flen, "%s%s %s", flen ? ", " : "",
                   backends[i].name, state_of(&op->checks[i]));
    }
    if (flen > 0) {
        gw_error_send_details(op->r, 503, GRPC_STATUS_UNAVAILABLE, list, "not ready: %s",
                              failing);
        return;
    }
    char body[2200];
    int n = snprintf(body, sizeof body, "{\"status\":\"ready\",\"backends\":%s}", list);
    gw_reply_json(op->r, 200, body, (size_t)n < sizeof body ? (size_t)n : sizeof body - 1);
}

/* Loop thread: every check is in. */
static void readyz_done(gw_task *t)
{
    readyz_op *op = (readyz_op *)t;
    if (op->r != NULL) {
        gw_guard_disarm(op->guard);
        respond(op);
    }
    gw_loop_release(op->loop);
    free(op);
}

/* ---- /readyz: checks ------------------------------------------------------ */

static void finish_one(readyz_op *op)
{
    if (atomic_fetch_sub(&op->remaining, 1) == 1)
        gw_loop_post(op->loop, &op->task);
}

/* Runtime client thread. */
static void on_check_done(void *arg, const se_status *st,
                          Grpc__Health__V1__HealthCheckResponse *resp)
{
    readyz_check *c = arg;
    c->code = st->code;
    snprintf(c->message, sizeof c->message, "%s", st->message);
    if (resp != NULL) {
        c->serving_status = (int)resp->status;
        se_msg_free(&resp->base);
    }
    finish_one(c->op);
}

static void start_check(readyz_op *op, int i, const char *request_id)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    se_call_opts opts = {.timeout_ms = check_timeout, .request_id = request_id,
                         .no_retry = 1, .detach = 1};
    readyz_check *c = &op->checks[i];
    c->op = op;
    if (grpc_health_v1_health_check_async(backends[i].ch, &req, &opts, on_check_done, c) == NULL) {
        c->code = GRPC_STATUS_INTERNAL;
        snprintf(c->message, sizeof c->message, "could not start the health check");
        se_log_error("readyz_check_failed", "%s (%s): could not start the health check",
                     backends[i].name, backends[i].target);
        finish_one(op);
    }
}

static void on_request_gone(void *arg)
{
    readyz_op *op = arg;
    se_log_debug("readyz_client_gone", "request %s left before the checks finished",
                 op->r->request_id);
    op->r = NULL;
}

static void on_readyz(gw_request *r, const gw_route_match *m, void *data)
{
    (void)m;
    (void)data;
    readyz_op *op = calloc(1, sizeof *op);
    if (op == NULL)
        abort();
    op->task.run = readyz_done;
    op->r = r;
    op->loop = r->loop;
    op->guard = gw_guard_create(r, on_request_gone, op);
    gw_loop_hold(op->loop);
    atomic_init(&op->remaining, N_BACKENDS + 1);
    for (int i = 0; i < N_BACKENDS; i++)
        start_check(op, i, r->request_id);
    finish_one(op); /* the starter's reference */
}

int gw_health_register(gw_router *rt)
{
    if (gw_router_add(rt, "GET", "/healthz", on_healthz, NULL) != 0 ||
        gw_router_add(rt, "GET", "/readyz", on_readyz, NULL) != 0)
        return -1;
    return 0;
}
