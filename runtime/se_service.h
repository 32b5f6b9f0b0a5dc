/* se_service.h - the shared main() of gRPC service and worker processes.
 *
 * A service's main.c is one call:
 *
 *   int main(void) {
 *       static const se_service_def def = {"menu", "MENU", register_menu, NULL};
 *       return se_service_main(&def);
 *   }
 *
 * se_service_main does the whole lifecycle: logging, se_rpc_init, a server
 * on se_config_listen_addr(def->config_name) with health and reflection,
 * the optional register callback, start, a "server_listening" log line with
 * the bound port, wait for SIGINT/SIGTERM, graceful drain, exit code.
 *
 * A worker's main.c is likewise one call to se_worker_main (or
 * se_worker_main_ex, which also serves health and reflection for probes)
 * with a body that runs on its own thread and polls se_worker_sleep_ms /
 * se_worker_stopping.
 */
#ifndef SE_SERVICE_H
#define SE_SERVICE_H

#include "se_rpc.h"

/* Adds the service's handlers (e.g. via the generated `<svc>_register`).
 * Returns 0, or -1 (logged) to abort start-up. THREAD: main, before start. */
typedef int (*se_service_register_fn)(se_server *s, void *arg);

typedef struct se_service_def {
    const char *component;   /* "menu": log component and server name */
    const char *config_name; /* "MENU": listen address from SE_MENU_ADDR */
    se_service_register_fn register_fn; /* NULL: health and reflection only */
    void *arg;               /* passed to register_fn */
} se_service_def;

/* Asks se_service_main to call fn(arg) on the main thread once the stop
 * signal arrived, before the server drains: the place to end long-lived
 * server streams (watchers), which would otherwise hold the drain for the
 * whole grace period. One hook per process (a later call replaces it).
 * THREAD: main, from the register callback. OWNERSHIP: arg is borrowed. */
void se_service_on_stop(void (*fn)(void *arg), void *arg);

/* Sets the number of server threads se_service_main uses when
 * SE_RPC_THREADS is unset (otherwise SE_RPC_THREADS wins); without a call,
 * SE_RPC_THREADS's own default (2). For services whose handlers block (on
 * PostgreSQL, on other services): each blocked handler holds a thread.
 * THREAD: main, before se_service_main. */
void se_service_default_threads(int n);

/* Runs a gRPC service process until SIGINT/SIGTERM, then drains in-flight
 * calls and returns the process exit code: 0 after a clean stop, 1 when the
 * server could not be created or started (e.g. the port is taken; logged
 * with the address). THREAD: main, once. OWNERSHIP: def is borrowed. */
int se_service_main(const se_service_def *def);

/* ---- workers -------------------------------------------------------------- */

typedef struct se_worker se_worker;

/* The worker's body, run on its own thread. It should return soon after
 * se_worker_stopping() becomes 1. Its return value is the exit code. */
typedef int (*se_worker_body_fn)(se_worker *w, void *arg);

typedef struct se_worker_def {
    const char *component;   /* "payment_worker": log component and server name */
    const char *config_name; /* "PAYMENT_WORKER": serve health and reflection on
                                se_config_listen_addr(config_name), i.e.
                                SE_PAYMENT_WORKER_ADDR (Kubernetes probes);
                                NULL: no server */
    se_worker_body_fn body;
    void *arg;               /* passed to body */
} se_worker_def;

/* Runs a worker process: se_log_init(component), se_rpc_init, with a
 * config_name a gRPC server carrying only health and reflection (started
 * before the body, so the body can publish health detail through
 * se_worker_server), starts body(w, arg) on a thread, waits for
 * SIGINT/SIGTERM, asks the body to stop (waking any se_worker_sleep_ms),
 * joins it, shuts the server down, se_rpc_shutdown. Returns the body's
 * result as the exit code, or 1 when the server could not start (logged
 * with the address). THREAD: main, once. OWNERSHIP: def is borrowed. */
int se_worker_main_ex(const se_worker_def *def);

/* se_worker_main_ex without a health server. */
int se_worker_main(const char *component, se_worker_body_fn body, void *arg);

/* The worker's health server (se_server_set_health on it adds detail, e.g.
 * a breaker's state), or NULL when def->config_name was NULL. Valid until
 * the body returns. THREAD: any. */
se_server *se_worker_server(se_worker *w);

/* 1 once a stop was requested. THREAD: any. */
int se_worker_stopping(se_worker *w);
/* Sleeps up to `ms` milliseconds, returning early when a stop is requested.
 * Returns 1 when stopping, 0 after a full sleep. THREAD: any. */
int se_worker_sleep_ms(se_worker *w, int ms);

/* The body of a worker whose implementation has not landed yet (an honest
 * placeholder, no fake work): connects to Redis (SE_REDIS_URL), logging an
 * error and retrying with backoff while it is down, logs once that it is
 * idle waiting for `arg` (a const char *, e.g. "issue 4"), then PINGs every
 * 10 s (reconnecting as needed) until stopped. Returns 0. */
int se_worker_placeholder_body(se_worker *w, void *arg);

#endif
