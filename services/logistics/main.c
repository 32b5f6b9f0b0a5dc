/* se-logistics - the logistics service: driver locations
 * (gRPC, default port 50053, SE_LOGISTICS_ADDR).
 * For now it serves health and reflection only; the service's own RPCs are
 * registered here (se_service_def.register_fn) by the issue that adds them. */
#include "se_service.h"

int main(void)
{
    static const se_service_def def = {"logistics", "LOGISTICS", NULL, NULL};
    return se_service_main(&def);
}
