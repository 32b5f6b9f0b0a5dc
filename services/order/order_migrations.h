/* order_migrations.h - the order service's schema, embedded at build time
 * from services/order/migrations/NNN_name.sql (cmake/se_migrations.cmake),
 * so se-order needs no files at run time. Applied with se_pg_migrate_list
 * under the scope "order". */
#ifndef ORDER_MIGRATIONS_H
#define ORDER_MIGRATIONS_H

#include <stddef.h>

#include "se_pg.h"

extern const se_pg_migration order_migrations[];
extern const size_t order_n_migrations;

#endif
