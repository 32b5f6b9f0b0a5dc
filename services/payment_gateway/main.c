/* se-payment-gateway - the mock payment provider: a card processor with
 * realistic latency, declines, transient errors, timeouts and outages, and
 * a ledger tests can read (gRPC, default port 50054,
 * SE_PAYMENT_GATEWAY_ADDR). Internal only: no REST routes.
 *
 * Configuration: SE_PAYMENT_GATEWAY_* (paygw_behaviour.h, README.md).
 * The ledger lives in memory: a restart forgets it (paygw_ledger.h).
 */
#include "paygw_service.h"
#include "se_service.h"

static void stop_gateway(void *svc)
{
    paygw_service_stop(svc); /* answers held charges before the drain */
}

/* Builds the service from the environment and registers it. The service
 * lives until the process exits (se_service_main has no teardown hook). */
static int register_gateway(se_server *s, void *arg)
{
    (void)arg;
    paygw_service_config cfg;
    paygw_service_config_from_env(&cfg);
    paygw_service *svc = paygw_service_create(&cfg);
    if (svc == NULL)
        return -1;
    se_service_on_stop(stop_gateway, svc);
    return paygw_service_register(s, svc);
}

int main(void)
{
    static const se_service_def def = {"payment_gateway", "PAYMENT_GATEWAY", register_gateway,
                                       NULL};
    return se_service_main(&def);
}
