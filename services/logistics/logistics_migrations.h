/* logistics_migrations.h - the logistics schema (location_history and its
 * partition maintenance), embedded at build time from
 * services/logistics/migrations/NNN_name.sql (cmake/se_migrations.cmake).
 * Applied with se_pg_migrate_list under the scope "logistics" by se-logistics
 * (at start-up, or alone with --migrate-only). */
#ifndef LOGISTICS_MIGRATIONS_H
#define LOGISTICS_MIGRATIONS_H

#include <stddef.h>

#include "se_pg.h"

extern const se_pg_migration logistics_migrations[];
extern const size_t logistics_n_migrations;

#endif
