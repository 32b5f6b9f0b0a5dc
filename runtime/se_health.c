/* se_health.c - grpc.health.v1.Health (Check and Watch) for every server.
 *
 * DESIGN
 * One se_health per server holds a status map (service name -> SERVING or
 * NOT_SERVING; "" is the whole server) and the list of open Watch streams,
 * all under one mutex. Every change is pushed to the watchers of that name
 * while the mutex is held, so each stream sees changes in order and never
 * the same status twice in a row (se_call_send only queues, it does not call
 * back into us).
 *
 * Watch stream lifetime. A watcher is created by the Watch handler and ends
 * in one of two ways:
 *   - the client cancels (or its deadline passes): the runtime runs
 *     on_watch_cancel once; it finishes the call with CANCELLED, unlinks the
 *     watcher and frees it;
 *   - the server shuts down (se_health_shutdown): every watcher gets
 *     NOT_SERVING, its call is finished with OK and it moves to the `ended`
 *     list. The runtime may still run its cancel callback later, so ended
 *     watchers stay allocated until se_health_destroy (after the server is
 *     destroyed, when no callback can run any more).
 * Each call is completed exactly once: `finished` is set under the mutex by
 * whichever path finishes it first. While the Watch handler is inside
 * se_call_on_cancel (`registering`), neither path completes the call (it
 * must stay valid there); the handler does it right afterwards if the
 * cancel callback or a shutdown came in meanwhile.
 *
 * Protocol rules (grpc/health/v1/health.proto): Check answers NOT_FOUND for
 * an unknown name; Watch answers SERVICE_UNKNOWN for an unknown name and
 * keeps the stream open, sending the real status once the name appears.
 */
#include <pthread.h>
#include <string.h>

#include <grpc/support/alloc.h>
#include <grpc/support/string_util.h>

#include "grpc/health/v1/health.se.h"
#include "se_log.h"
#include "se_rpc_internal.h"

typedef Grpc__Health__V1__HealthCheckResponse__ServingStatus serving_status;
#define ST_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__UNKNOWN
#define ST_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define ST_NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define ST_SERVICE_UNKNOWN \
    GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

typedef struct health_entry {
    char *service;         /* owned; "" for the whole server */
    serving_status status; /* SERVING or NOT_SERVING */
} health_entry;

typedef struct watcher {
    struct watcher *next;
    se_health *h;
    se_call *call;
    char *service;         /* owned */
    serving_status last;   /* last status sent on the stream */
    int finished;          /* call completed or being completed */
    int registering;       /* on_watch is inside se_call_on_cancel */
    int cancel_seen;       /* the cancel callback ran while registering */
} watcher;

struct se_health {
    pthread_mutex_t mu;
    health_entry *entries; /* owned array, n_entries used, cap_entries allocated */
    size_t n_entries;
    size_t cap_entries;
    watcher *watching;     /* open Watch streams */
    watcher *ended;        /* finished by shutdown, freed by destroy */
    int shut_down;         /* se_health_shutdown has run */
};

/* ---- status map (caller holds h->mu) ----------------------------------- */

static health_entry *find_entry(se_health *h, const char *service)
{
    for (size_t i = 0; i < h->n_entries; i++)
        if (strcmp(h->entries[i].service, service) == 0)
            return &h->entries[i];
    return NULL;
}

static serving_status lookup_status(se_health *h, const char *service)
{
    health_entry *e = find_entry(h, service);
    return e ? e->status : ST_SERVICE_UNKNOWN;
}

static health_entry *add_entry(se_health *h, const char *service)
{
    if (h->n_entries == h->cap_entries) {
        h->cap_entries = h->cap_entries ? 2 * h->cap_entries : 8;
        h->entries = gpr_realloc(h->entries, h->cap_entries * sizeof(*h->entries));
    }
    health_entry *e = &h->entries[h->n_entries++];
    e->service = gpr_strdup(service);
    e->status = ST_NOT_SERVING;
    return e;
}

/* ---- watchers (caller holds h->mu) ------------------------------------- */

static void send_status(watcher *w, serving_status st)
{
    if (w->finished || w->last == st)
        return;
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = st;
    w->last = st;
    if (se_call_send(w->call, &resp.base) != 0)
        se_log_debug("health_watch_send", "watch of \"%s\" is closing; update dropped",
                     w->service);
}

static void notify_watchers(se_health *h, const char *service, serving_status st)
{
    for (watcher *w = h->watching; w; w = w->next)
        if (strcmp(w->service, service) == 0)
            send_status(w, st);
}

static int unlink_watcher(watcher **list, watcher *w)
{
    for (watcher **pp = list; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            w->next = NULL;
            return 1;
        }
    }
    return 0;
}

static void free_watcher(watcher *w)
{
    gpr_free(w->service);
    gpr_free(w);
}

static void free_list(watcher *w)
{
    while (w) {
        watcher *next = w->next;
        free_watcher(w);
        w = next;
    }
}

/* ---- handlers ---------------------------------------------------------- */

static void on_check(se_call *call, const Grpc__Health__V1__HealthCheckRequest *req, void *ctx)
{
    se_health *h = ctx;
    const char *service = req->service ? req->service : "";
    pthread_mutex_lock(&h->mu);
    serving_status st = lookup_status(h, service);
    pthread_mutex_unlock(&h->mu);
    if (st == ST_SERVICE_UNKNOWN) {
        se_call_fail(call, GRPC_STATUS_NOT_FOUND, "health: unknown service \"%s\"", service);
        return;
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = st;
    se_call_reply(call, &resp.base);
}

/* Ends a watcher the client cancelled. Caller holds h->mu. Returns what the
 * caller must do after unlocking: *finish (complete the call) and the
 * result, 1 when the watcher must be freed. */
static int cancel_locked(se_health *h, watcher *w, int *finish)
{
    *finish = !w->finished;
    w->finished = 1;
    /* A watcher ended by shutdown sits on `ended` and is freed by destroy. */
    return unlink_watcher(&h->watching, w);
}

static void end_after_unlock(watcher *w, int finish, grpc_status_code code, int free_it)
{
    if (finish)
        se_call_finish(w->call, code, "%s",
                       code == GRPC_STATUS_OK ? "server shutting down" : "watch cancelled");
    if (free_it)
        free_watcher(w);
}

/* Runs once, on a server thread, when the Watch client cancels or its
 * deadline passes; possibly inside se_call_on_cancel (w->registering). */
static void on_watch_cancel(void *arg)
{
    watcher *w = arg;
    se_health *h = w->h;
    int finish = 0, free_it = 0;
    pthread_mutex_lock(&h->mu);
    if (w->registering)
        w->cancel_seen = 1; /* on_watch ends it once registration is done */
    else
        free_it = cancel_locked(h, w, &finish);
    pthread_mutex_unlock(&h->mu);
    end_after_unlock(w, finish, GRPC_STATUS_CANCELLED, free_it);
}

static void on_watch(se_call *call, const Grpc__Health__V1__HealthCheckRequest *req, void *ctx)
{
    se_health *h = ctx;
    watcher *w = gpr_zalloc(sizeof(*w));
    w->h = h;
    w->call = call;
    w->service = gpr_strdup(req->service ? req->service : "");
    w->last = ST_UNKNOWN; /* never sent, so the first status always goes out */

    pthread_mutex_lock(&h->mu);
    send_status(w, lookup_status(h, w->service));
    int shut_down = h->shut_down;
    if (!shut_down) {
        w->registering = 1;
        w->next = h->watching;
        h->watching = w;
    }
    pthread_mutex_unlock(&h->mu);
    if (shut_down) { /* never shared: finish and free */
        end_after_unlock(w, 1, GRPC_STATUS_OK, 1);
        return;
    }

    /* While `registering` is set nobody completes the call, so it stays
     * valid here even if the callback runs at once or shutdown starts. */
    se_call_on_cancel(call, on_watch_cancel, w);

    int finish = 0, free_it = 0;
    grpc_status_code code = GRPC_STATUS_OK;
    pthread_mutex_lock(&h->mu);
    w->registering = 0;
    if (w->cancel_seen) {
        free_it = cancel_locked(h, w, &finish);
        code = GRPC_STATUS_CANCELLED;
    } else if (h->shut_down && !w->finished) {
        w->finished = 1; /* se_health_shutdown left it to us */
        finish = 1;
    }
    pthread_mutex_unlock(&h->mu);
    end_after_unlock(w, finish, code, free_it);
}

static const grpc_health_v1_health_handlers health_handlers = {
    .check = on_check,
    .watch = on_watch,
};

/* ---- internal API (se_rpc_internal.h) ----------------------------------- */

se_health *se_health_create(void)
{
    se_health *h = gpr_zalloc(sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    return h;
}

int se_health_register(se_health *h, se_server *s)
{
    if (grpc_health_v1_health_register(s, &health_handlers, h) != 0) {
        se_log_error("health_register_failed", "could not register grpc.health.v1.Health");
        return -1;
    }
    return 0;
}

void se_health_set(se_health *h, const char *service, int serving)
{
    serving_status st = serving ? ST_SERVING : ST_NOT_SERVING;
    if (!service)
        service = "";
    pthread_mutex_lock(&h->mu);
    health_entry *e = find_entry(h, service);
    if (!e)
        e = add_entry(h, service);
    e->status = st;
    notify_watchers(h, service, st);
    pthread_mutex_unlock(&h->mu);
}

void se_health_shutdown(se_health *h)
{
    pthread_mutex_lock(&h->mu);
    h->shut_down = 1;
    for (size_t i = 0; i < h->n_entries; i++)
        h->entries[i].status = ST_NOT_SERVING;
    watcher *list = h->watching;
    h->watching = NULL;
    size_t n = 0;
    for (watcher *w = list; w; w = w->next)
        n++;
    se_call **to_finish = gpr_malloc((n ? n : 1) * sizeof(*to_finish));
    size_t n_finish = 0;
    for (watcher *w = list; w; w = w->next) {
        if (w->last != ST_SERVICE_UNKNOWN)
            send_status(w, ST_NOT_SERVING);
        if (!w->registering) { /* else on_watch finishes it */
            w->finished = 1;
            to_finish[n_finish++] = w->call;
        }
    }
    watcher **tail = &h->ended;
    while (*tail)
        tail = &(*tail)->next;
    *tail = list;
    pthread_mutex_unlock(&h->mu);

    /* `finished` is set, so the cancel callback will not complete these
     * calls again, and the watchers stay allocated until destroy. */
    for (size_t i = 0; i < n_finish; i++)
        se_call_finish(to_finish[i], GRPC_STATUS_OK, "%s", "server shutting down");
    gpr_free(to_finish);
}

void se_health_destroy(se_health *h)
{
    if (!h)
        return;
    free_list(h->watching); /* only non-empty if the server never shut down */
    free_list(h->ended);
    for (size_t i = 0; i < h->n_entries; i++)
        gpr_free(h->entries[i].service);
    gpr_free(h->entries);
    pthread_mutex_destroy(&h->mu);
    gpr_free(h);
}
