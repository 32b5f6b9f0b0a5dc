/* menu_handlers.h - the MenuService handler table (menu_handlers.c); its
 * ctx is the menu_service. Internal to services/menu. */
#ifndef MENU_HANDLERS_H
#define MENU_HANDLERS_H

#include "menu_service.h"
#include "swifteats/v1/menu.se.h"

extern const swifteats_v1_menu_service_handlers menu_handlers;

#endif
