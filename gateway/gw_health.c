/* gw_health.c - /healthz and /readyz.
 *
 * DESIGN (/readyz): one readyz_op per request, malloc'd, starts one
 * asynchronous Health/Check per checked backend (SE_GATEWAY_READYZ_BACKENDS,
 * fixed at start-up: `active`, read-only afterwards). Each callback runs on a runtime
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
/* The backends /readyz checks: indices into backends[], in that order. */
static int active[N_BACKENDS];
static int n_active;
#define DEFAULT_BACKENDS "menu,order,logistics,payment_gateway"

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
    readyz_check checks[N_BACKENDS]; /* [k]: backends[active[k]] */
};

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

/* ---- which backends /readyz checks -------------------------------------------- */

static _Noreturn void backends_invalid(const char *value, const char *why)
{
    char v[256], w[256];
    se_log_fields(SE_LOG_ERROR, "config_invalid",
                  "\"variable\":\"SE_GATEWAY_READYZ_BACKENDS\",\"value\":\"%s\",\"msg\":\"%s\"",
                  se_json_escape(v, sizeof v, value), se_json_escape(w, sizeof w, why));
    exit(2);
}

static int backend_index(const char *name, size_t len)
{
    for (int i = 0; i < N_BACKENDS; i++)
        if (strlen(backends[i].name) == len && strncmp(backends[i].name, name, len) == 0)
            return i;
    return -1;
}

/* Fills active[] from the comma-separated list (spaces around names and
 * empty items are ignored, duplicates count once, the order is the
 * backends[] order); exits 2 naming an unknown name or an empty list. */
static void select_backends(const char *list)
{
    int wanted[N_BACKENDS] = {0};
    for (const char *p = list; *p != '\0';) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        size_t name_len = len;
        while (name_len > 0 && (p[name_len - 1] == ' ' || p[name_len - 1] == '\t'))
            name_len--;
        if (name_len > 0) {
            int i = backend_index(p, name_len);
            if (i < 0) {
                char why[200];
                snprintf(why, sizeof why,
                         "unknown backend \"%.*s\" (known: menu, order, logistics, "
                         "payment_gateway)", (int)(name_len > 64 ? 64 : name_len), p);
                backends_invalid(list, why);
            }
            wanted[i] = 1;
        }
        p += len;
    }
    n_active = 0;
    for (int i = 0; i < N_BACKENDS; i++)
        if (wanted[i])
            active[n_active++] = i;
    if (n_active == 0)
        backends_invalid(list, "names no backend");
}

void gw_health_init(int check_timeout_ms)
{
    check_timeout = check_timeout_ms;
    select_backends(se_env_str("SE_GATEWAY_READYZ_BACKENDS", DEFAULT_BACKENDS));
    char names[128];
    size_t len = 0;
    names[0] = '\0';
    for (int k = 0; k < n_active; k++) {
        gw_backend *b = &backends[active[k]];
        b->target = se_config_target(b->config_name);
        b->ch = se_channel_get(b->target);
        append(names, sizeof names, &len, "%s%s", k ? "," : "", b->name);
    }
    se_log_fields(SE_LOG_INFO, "readyz_backends", "\"backends\":\"%s\",\"timeout_ms\":%d", names,
                  check_timeout);
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

/* "[{"name":"menu","target":"...","state":"SERVING"},...]" */
static void backends_json(const readyz_op *op, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    append(buf, cap, &len, "[");
    for (int k = 0; k < n_active; k++) {
        const readyz_check *c = &op->checks[k];
        const gw_backend *b = &backends[active[k]];
        char target[128], msg[320];
        append(buf, cap, &len, "%s{\"name\":\"%s\",\"target\":\"%s\",\"state\":\"%s\"",
               k ? "," : "", b->name, se_json_escape(target, sizeof target, b->target),
               state_of(c));
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
    for (int k = 0; k < n_active; k++) {
        if (!is_serving(&op->checks[k]))
            append(failing, sizeof failing, &flen, "%s%s %s", flen ? ", " : "",
                   backends[active[k]].name, state_of(&op->checks[k]));
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

/* Starts the check of op->checks[k], on backends[active[k]]. */
static void start_check(readyz_op *op, int k, const char *request_id)
{
    const gw_backend *b = &backends[active[k]];
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    se_call_opts opts = {.timeout_ms = check_timeout, .request_id = request_id,
                         .no_retry = 1, .detach = 1};
    readyz_check *c = &op->checks[k];
    c->op = op;
    if (grpc_health_v1_health_check_async(b->ch, &req, &opts, on_check_done, c) == NULL) {
        c->code = GRPC_STATUS_INTERNAL;
        snprintf(c->message, sizeof c->message, "could not start the health check");
        se_log_error("readyz_check_failed", "%s (%s): could not start the health check",
                     b->name, b->target);
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
    atomic_init(&op->remaining, n_active + 1);
    for (int k = 0; k < n_active; k++)
        start_check(op, k, r->request_id);
    finish_one(op); /* the starter's reference */
}

int gw_health_register(gw_router *rt)
{
    if (gw_router_add(rt, "GET", "/healthz", on_healthz, NULL) != 0 ||
        gw_router_add(rt, "GET", "/readyz", on_readyz, NULL) != 0)
        return -1;
    return 0;
}
