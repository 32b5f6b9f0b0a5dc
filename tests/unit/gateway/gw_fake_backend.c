/* gw_fake_backend - the fake MenuService of gw_fake_backend.h as a process,
 * for tests/e2e/test_gateway_rest.py.
 *
 * Usage: gw_fake_backend [port [slow_ms]]   (port 0 or none: a free one)
 * Logs a "listening" line with the port, then serves until SIGTERM/SIGINT.
 */
#include <stdlib.h>

#include "gw_fake_backend.h"
#include "se_log.h"

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    int slow_ms = argc > 2 ? atoi(argv[2]) : 2000;
    se_log_init("fake-menu");
    se_rpc_init();
    static fake_backend fb;
    if (fake_backend_start(&fb, port, slow_ms) != 0) {
        se_log_error("service_start_failed", "fake backend: cannot start on port %d", port);
        se_rpc_shutdown();
        return 1;
    }
    se_log_fields(SE_LOG_INFO, "listening", "\"port\":%d", fb.port);
    se_rpc_wait_for_signal();
    fake_backend_stop(&fb);
    se_log_fields(SE_LOG_INFO, "service_exit", "\"calls\":%d,\"cancelled_seen\":%d",
                  atomic_load(&fb.calls), atomic_load(&fb.cancelled_seen));
    se_rpc_shutdown();
    return 0;
}
