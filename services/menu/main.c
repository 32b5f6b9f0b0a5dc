/* se-menu - the menu service: restaurants, menus, live status
 * (gRPC, default port 50051, SE_MENU_ADDR).
 * For now it serves health and reflection only; the service's own RPCs are
 * registered here (se_service_def.register_fn) by the issue that adds them. */
#include "se_service.h"

int main(void)
{
    static const se_service_def def = {"menu", "MENU", NULL, NULL};
    return se_service_main(&def);
}
