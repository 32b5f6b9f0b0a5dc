/* gw_fake_backend.h - a fake swifteats.v1.MenuService on our runtime, for
 * the gateway's tests (test_gw_http.c in-process, gw_fake_backend.c as a
 * process for tests/e2e/test_gateway_rest.py).
 *
 * GetRestaurant answers by restaurant_id:
 *   901..916      fails with gRPC status (id - 900), message
 *                 "fake status <NAME> for restaurant <id>";
 *   950           replies after fb->slow_ms (a deadline test);
 *   960           waits until the call is cancelled or its deadline passes
 *                 (at most 120 s), counts it in
 *                 fb->cancelled_seen, then fails CANCELLED;
 *   7             a restaurant whose description is ~6 KB (gzip);
 *   else          Restaurant{id, name "Restaurant <id>", city = the call's
 *                 request id, description = its idempotency-key metadata
 *                 when present}.
 * UpdateRestaurantStatus echoes: restaurant_id, status, current_capacity,
 * message = the idempotency-key metadata ("" when absent), success true.
 * Every other method has no handler (UNIMPLEMENTED).
 *
 * Header-only (static): each user is its own executable. THREAD: handlers
 * run on server threads; delayed replies on threads joined by
 * fake_backend_stop.
 */
#ifndef GW_FAKE_BACKEND_H
#define GW_FAKE_BACKEND_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "se_rpc.h"
#include "swifteats/v1/menu.se.h"

#define FAKE_MAX_THREADS 256

typedef struct fake_backend {
    se_server *server;
    int port;
    int slow_ms;
    atomic_int calls;           /* GetRestaurant + UpdateRestaurantStatus calls */
    atomic_int cancelled_seen;  /* id 960 calls that saw their cancellation */
    pthread_mutex_t mu;
    char last_request_id[96];   /* under mu */
    char last_idem_key[300];    /* under mu; "" when absent */
    pthread_t threads[FAKE_MAX_THREADS];
    int n_threads;              /* under mu */
} fake_backend;

typedef struct fake_delayed {
    fake_backend *fb;
    se_call *call;
    int64_t id;
} fake_delayed;

static void fake_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void fake_reply_restaurant(se_call *call, int64_t id, const char *description)
{
    char name[64];
    snprintf(name, sizeof name, "Restaurant %lld", (long long)id);
    Swifteats__V1__Restaurant r = SWIFTEATS__V1__RESTAURANT__INIT;
    r.id = id;
    r.name = name;
    r.address = "1 Fake Street";
    r.city = (char *)se_call_request_id(call);
    r.status = SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_OPEN;
    r.cuisine_type = SWIFTEATS__V1__CUISINE_TYPE__CUISINE_TYPE_ITALIAN;
    r.rating = 4.5;
    if (description != NULL) {
        r._description_case = SWIFTEATS__V1__RESTAURANT___DESCRIPTION_DESCRIPTION;
        r.description = (char *)description;
    }
    se_call_reply(call, &r.base);
}

static void *fake_slow_main(void *arg)
{
    fake_delayed *d = arg;
    fake_sleep_ms(d->fb->slow_ms);
    fake_reply_restaurant(d->call, d->id, NULL);
    free(d);
    return NULL;
}

static void *fake_hang_main(void *arg)
{
    fake_delayed *d = arg;
    for (int i = 0; i < 120000 && !se_call_is_cancelled(d->call); i++)
        fake_sleep_ms(1);
    if (se_call_is_cancelled(d->call))
        atomic_fetch_add(&d->fb->cancelled_seen, 1);
    se_call_fail(d->call, GRPC_STATUS_CANCELLED, "fake: cancelled");
    free(d);
    return NULL;
}

static void fake_later(fake_backend *fb, se_call *call, int64_t id, void *(*fn)(void *))
{
    fake_delayed *d = malloc(sizeof *d);
    *d = (fake_delayed){fb, call, id};
    pthread_mutex_lock(&fb->mu);
    int ok = fb->n_threads < FAKE_MAX_THREADS &&
             pthread_create(&fb->threads[fb->n_threads], NULL, fn, d) == 0;
    if (ok)
        fb->n_threads++;
    pthread_mutex_unlock(&fb->mu);
    if (!ok) {
        free(d);
        se_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "fake: no thread");
    }
}

static const char *fake_note_call(fake_backend *fb, se_call *call)
{
    const char *key = se_call_metadata(call, "idempotency-key");
    pthread_mutex_lock(&fb->mu);
    snprintf(fb->last_request_id, sizeof fb->last_request_id, "%s", se_call_request_id(call));
    snprintf(fb->last_idem_key, sizeof fb->last_idem_key, "%s", key != NULL ? key : "");
    pthread_mutex_unlock(&fb->mu);
    atomic_fetch_add(&fb->calls, 1);
    return key;
}

static const char *fake_big_description(void)
{
    static char text[6200];
    if (text[0] == '\0') {
        size_t len = 0;
        for (int i = 0; len + 64 < sizeof text; i++)
            len += (size_t)snprintf(text + len, sizeof text - len,
                                    "Wood-fired pizza and fresh pasta, line %d. ", i);
    }
    return text;
}

static void fake_get_restaurant(se_call *call, const Swifteats__V1__GetRestaurantRequest *req,
                                void *ctx)
{
    fake_backend *fb = ctx;
    const char *key = fake_note_call(fb, call);
    int64_t id = req->restaurant_id;
    if (id >= 901 && id <= 916) {
        grpc_status_code code = (grpc_status_code)(id - 900);
        se_call_fail(call, code, "fake status %s for restaurant %lld", se_status_name(code),
                     (long long)id);
    } else if (id == 950) {
        fake_later(fb, call, id, fake_slow_main);
    } else if (id == 960) {
        fake_later(fb, call, id, fake_hang_main);
    } else {
        fake_reply_restaurant(call, id, id == 7 ? fake_big_description() : key);
    }
}

static void fake_update_status(se_call *call,
                               const Swifteats__V1__UpdateRestaurantStatusRequest *req, void *ctx)
{
    const char *key = fake_note_call(ctx, call);
    Swifteats__V1__UpdateRestaurantStatusResponse resp =
        SWIFTEATS__V1__UPDATE_RESTAURANT_STATUS_RESPONSE__INIT;
    resp.success = 1;
    resp.message = (char *)(key != NULL ? key : "");
    resp.restaurant_id = req->restaurant_id;
    resp.status = req->status;
    resp.current_capacity = req->_current_capacity_case ? req->current_capacity : -1;
    se_call_reply(call, &resp.base);
}

static const swifteats_v1_menu_service_handlers fake_handlers = {
    .get_restaurant = fake_get_restaurant,
    .update_restaurant_status = fake_update_status,
};

/* Starts the fake on 127.0.0.1:port (0: a free one). Returns 0 or -1. */
static int fake_backend_start(fake_backend *fb, int port, int slow_ms)
{
    char addr[64];
    memset(fb, 0, sizeof *fb);
    pthread_mutex_init(&fb->mu, NULL);
    fb->slow_ms = slow_ms;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    se_server_config cfg = {.name = "fake-menu", .listen_addr = addr, .grace_ms = 200};
    fb->server = se_server_create(&cfg);
    if (fb->server == NULL || swifteats_v1_menu_service_register(fb->server, &fake_handlers, fb) ||
        se_server_start(fb->server) != 0)
        return -1;
    fb->port = se_server_port(fb->server);
    return 0;
}

/* Joins the delayed replies, then shuts the server down. */
static void fake_backend_stop(fake_backend *fb)
{
    pthread_mutex_lock(&fb->mu);
    int n = fb->n_threads;
    pthread_mutex_unlock(&fb->mu);
    for (int i = 0; i < n; i++)
        pthread_join(fb->threads[i], NULL);
    if (fb->server != NULL) {
        se_server_shutdown(fb->server);
        se_server_destroy(fb->server);
        fb->server = NULL;
    }
}

#endif
