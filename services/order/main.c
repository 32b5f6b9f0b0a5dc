/* se-order - the order service: orders and payment attempts
 * (gRPC, default port 50052, SE_ORDER_ADDR).
 * For now it serves health and reflection only; the service's own RPCs are
 * registered here (se_service_def.register_fn) by the issue that adds them. */
#include "se_service.h"

int main(void)
{
    static const se_service_def def = {"order", "ORDER", NULL, NULL};
    return se_service_main(&def);
}
