/* se-payment-gateway - the mock payment provider (gRPC, default port 50054,
 * SE_PAYMENT_GATEWAY_ADDR).
 * For now it serves health and reflection only; the service's own RPCs are
 * registered here (se_service_def.register_fn) by the issue that adds them. */
#include "se_service.h"

int main(void)
{
    static const se_service_def def = {"payment_gateway", "PAYMENT_GATEWAY", NULL, NULL};
    return se_service_main(&def);
}
