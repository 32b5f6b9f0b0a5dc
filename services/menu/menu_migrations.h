/* menu_migrations.h - the menu service's schema, embedded at build time
 * from services/menu/migrations/NNN_name.sql (cmake/se_migrations.cmake), so
 * se-menu needs no files at run time. Applied with se_pg_migrate_list under
 * the scope "menu". */
#ifndef MENU_MIGRATIONS_H
#define MENU_MIGRATIONS_H

#include <stddef.h>

#include "se_pg.h"

extern const se_pg_migration menu_migrations[];
extern const size_t menu_n_migrations;

#endif
