/* se_service.c - the shared main() of service and worker processes.
 *
 * DESIGN: the main thread owns the lifecycle and nothing else. se_rpc_init
 * blocks SIGINT/SIGTERM before any thread exists, so every thread (gRPC's,
 * a worker body's) inherits the mask and the main thread alone receives the
 * signal through se_rpc_wait_for_signal. A worker body learns about the stop
 * through a flag guarded by a mutex plus a condition variable, so its sleeps
 * end at once. A worker with a config name also gets a health-and-reflection
 * server, started before its body and shut down after the body returned, so
 * probes see it alive for the whole drain.
 */
#include "se_service.h"
#include "se_time.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "se_config.h"
#include "se_log.h"
#include "se_redis.h"

/* ---- services ------------------------------------------------------------ */

static void (*stop_hook)(void *arg); /* se_service_on_stop; main thread only */
static void *stop_hook_arg;

void se_service_on_stop(void (*fn)(void *arg), void *arg)
{
    stop_hook = fn;
    stop_hook_arg = arg;
}

static int default_threads; /* se_service_default_threads; main thread only */

void se_service_default_threads(int n)
{
    default_threads = n;
}

static se_server *start_server(const se_service_def *def, const char *addr)
{
    se_server_config cfg = {.name = def->component, .listen_addr = addr};
    if (default_threads > 0 && se_env_str("SE_RPC_THREADS", NULL) == NULL)
        cfg.threads = default_threads; /* else 0: SE_RPC_THREADS */
    se_server *s = se_server_create(&cfg);
    if (s == NULL) {
        se_log_error("service_start_failed", "could not create the %s server for %s",
                     def->component, addr);
        return NULL;
    }
    if (def->register_fn != NULL && def->register_fn(s, def->arg) != 0) {
        se_log_error("service_start_failed", "registering the %s handlers failed",
                     def->component);
        se_server_destroy(s);
        return NULL;
    }
    if (se_server_start(s) != 0) {
        se_log_error("service_start_failed",
                     "could not listen on %s (port taken? set SE_%s_ADDR)", addr,
                     def->config_name);
        se_server_destroy(s);
        return NULL;
    }
    return s;
}

int se_service_main(const se_service_def *def)
{
    se_log_init(def->component);
    se_rpc_init();
    const char *addr = se_config_listen_addr(def->config_name);
    se_server *s = start_server(def, addr);
    if (s == NULL) {
        se_rpc_shutdown();
        return 1;
    }
    char esc[128];
    se_log_fields(SE_LOG_INFO, "listening", "\"addr\":\"%s\",\"port\":%d,\"msg\":\"%s\"",
                  se_json_escape(esc, sizeof esc, addr), se_server_port(s),
                  def->register_fn != NULL ? "serving"
                                           : "serving health and reflection only");
    int sig = se_rpc_wait_for_signal();
    se_log_info("service_stopping", "signal %d: draining in-flight calls", sig);
    if (stop_hook != NULL)
        stop_hook(stop_hook_arg);
    se_server_shutdown(s);
    se_server_destroy(s);
    se_rpc_shutdown();
    se_log_info("service_exit", "clean exit");
    return 0;
}

/* ---- workers ------------------------------------------------------------- */

struct se_worker {
    pthread_mutex_t lock;
    pthread_cond_t cond;   /* signalled when `stopping` becomes 1 */
    int stopping;          /* guarded by lock */
    se_worker_body_fn body;
    void *arg;
    se_server *server;     /* health and reflection, or NULL; set before
                              the body starts, destroyed after it ended */
    int result;            /* body's return value, read after join */
};

se_server *se_worker_server(se_worker *w)
{
    return w->server;
}

int se_worker_stopping(se_worker *w)
{
    pthread_mutex_lock(&w->lock);
    int stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stopping;
}

int se_worker_sleep_ms(se_worker *w, int ms)
{
    struct timespec until = se_monotonic_after_ms(ms);
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT)
            break;
    }
    int stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return stopping;
}

static void *worker_thread(void *p)
{
    se_worker *w = p;
    w->result = w->body(w, w->arg);
    return NULL;
}

static void worker_init(se_worker *w, se_worker_body_fn body, void *arg)
{
    se_cond_init_monotonic(&w->cond);
    pthread_mutex_init(&w->lock, NULL);
    w->stopping = 0;
    w->body = body;
    w->arg = arg;
    w->server = NULL;
    w->result = 0;
}

/* The worker's health server on SE_<config_name>_ADDR, started. */
static se_server *start_worker_server(const se_worker_def *def)
{
    se_service_def sdef = {def->component, def->config_name, NULL, NULL};
    const char *addr = se_config_listen_addr(def->config_name);
    se_server *s = start_server(&sdef, addr);
    if (s != NULL) {
        char esc[128];
        se_log_fields(SE_LOG_INFO, "listening",
                      "\"addr\":\"%s\",\"port\":%d,\"msg\":\"serving health and reflection\"",
                      se_json_escape(esc, sizeof esc, addr), se_server_port(s));
    }
    return s;
}

static void stop_worker_server(se_worker *w)
{
    if (w->server == NULL)
        return;
    se_server_shutdown(w->server);
    se_server_destroy(w->server);
    w->server = NULL;
}

int se_worker_main_ex(const se_worker_def *def)
{
    se_log_init(def->component);
    se_rpc_init();
    se_worker w;
    worker_init(&w, def->body, def->arg);
    if (def->config_name != NULL && (w.server = start_worker_server(def)) == NULL) {
        se_rpc_shutdown();
        return 1;
    }
    pthread_t tid;
    int err = pthread_create(&tid, NULL, worker_thread, &w);
    if (err != 0) {
        se_log_error("worker_start_failed", "pthread_create: %s", strerror(err));
        stop_worker_server(&w);
        se_rpc_shutdown();
        return 1;
    }
    se_log_info("worker_started", "running; SIGINT or SIGTERM stops it");
    int sig = se_rpc_wait_for_signal();
    se_log_info("worker_stopping", "signal %d: stopping", sig);
    pthread_mutex_lock(&w.lock);
    w.stopping = 1;
    pthread_cond_broadcast(&w.cond);
    pthread_mutex_unlock(&w.lock);
    pthread_join(tid, NULL);
    stop_worker_server(&w);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    se_rpc_shutdown();
    se_log_info("worker_exit", "exit code %d", w.result);
    return w.result;
}

int se_worker_main(const char *component, se_worker_body_fn body, void *arg)
{
    se_worker_def def = {component, NULL, body, arg};
    return se_worker_main_ex(&def);
}

/* ---- placeholder worker body --------------------------------------------- */

static se_redis *connect_redis(se_worker *w, const char *url)
{
    int backoff_ms = 500;
    while (!se_worker_stopping(w)) {
        se_redis_err err;
        se_redis *r = se_redis_create(url, 0, &err);
        if (r != NULL)
            return r;
        se_log_error("redis_unavailable",
                     "cannot reach Redis (SE_REDIS_URL): %s; retrying in %d ms", err.msg,
                     backoff_ms);
        if (se_worker_sleep_ms(w, backoff_ms))
            break;
        backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 10000;
    }
    return NULL;
}

int se_worker_placeholder_body(se_worker *w, void *arg)
{
    const char *waiting_for = arg;
    const char *url = se_env_str("SE_REDIS_URL", "redis://127.0.0.1:6379/0");
    se_redis *r = connect_redis(w, url);
    if (r == NULL)
        return 0; /* stopped before Redis came up */
    se_log_warn("worker_idle",
                "PLACEHOLDER: connected to Redis; this worker does nothing until %s "
                "implements it", waiting_for);
    int healthy = 1;
    while (!se_worker_sleep_ms(w, 10000)) {
        se_redis_err err;
        redisReply *reply = se_redis_command(r, SE_REDIS_IDEMPOTENT, &err, "PING");
        if (reply != NULL)
            freeReplyObject(reply);
        if ((reply != NULL) != healthy)
            se_log_info(reply != NULL ? "redis_recovered" : "redis_lost", "Redis %s",
                        reply != NULL ? "reachable again" : err.msg);
        healthy = reply != NULL;
    }
    se_redis_destroy(r);
    return 0;
}
