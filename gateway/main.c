/* se-gateway - the REST edge: HTTP/1.1 and HTTP/2 (h2c, prior knowledge)
 * on h2o, in front of the gRPC services.
 *
 * Configuration (README's table): SE_GATEWAY_ADDR (127.0.0.1:8080),
 * SE_GATEWAY_THREADS (2), SE_GATEWAY_GRACE_MS (5000),
 * SE_GATEWAY_READYZ_TIMEOUT_MS (1000), SE_GATEWAY_ACCESS_LOG (true), and the
 * backends' SE_<NAME>_TARGET.
 */
#include <stdlib.h>

#include "gw_health.h"
#include "gw_server.h"
#include "se_config.h"
#include "se_log.h"
#include "se_rpc.h"

static gw_server *create_server(void)
{
    gw_server_config cfg = {
        .addr = se_env_str("SE_GATEWAY_ADDR", "127.0.0.1:8080"),
        .threads = (int)se_env_int("SE_GATEWAY_THREADS", 2, 1, 64),
        .grace_ms = (int)se_env_int("SE_GATEWAY_GRACE_MS", 5000, 0, 600000),
    };
    gw_server *s = gw_server_create(&cfg);
    if (s == NULL)
        return NULL;
    if (gw_health_register(gw_server_router(s)) != 0 || gw_server_start(s) != 0) {
        se_log_error("gateway_start_failed", "could not start on %s (SE_GATEWAY_ADDR)", cfg.addr);
        gw_server_destroy(s);
        return NULL;
    }
    const char *colon = strrchr(cfg.addr, ':');
    int host_len = colon != NULL ? (int)(colon - cfg.addr) : 0;
    se_log_fields(SE_LOG_INFO, "listening",
                  "\"addr\":\"%s\",\"port\":%d,\"threads\":%d,\"msg\":\"http://%.*s:%d\"",
                  cfg.addr, gw_server_port(s), cfg.threads, host_len, cfg.addr,
                  gw_server_port(s));
    return s;
}

int main(void)
{
    se_log_init("gateway");
    se_rpc_init(); /* blocks SIGINT/SIGTERM: the loop threads inherit the mask */
    gw_health_init((int)se_env_int("SE_GATEWAY_READYZ_TIMEOUT_MS", 1000, 1, 60000));
    gw_server *server = create_server();
    if (server == NULL) {
        se_rpc_shutdown();
        return 1;
    }
    int sig = se_rpc_wait_for_signal();
    se_log_info("gateway_stopping", "signal %d: finishing in-flight requests", sig);
    gw_server_stop(server);
    gw_server_destroy(server);
    se_rpc_shutdown();
    se_log_info("gateway_exit", "clean exit");
    return 0;
}
