/* se-logistics - the logistics service: driver locations
 * (gRPC, default port 50053, SE_LOGISTICS_ADDR).
 *
 *   se-logistics                  serve (applies pending migrations first)
 *   se-logistics --migrate-only   apply pending migrations and exit (the
 *                                 Kubernetes migration Job)
 */
#include <stdio.h>
#include <string.h>

#include "logistics_migrations.h"
#include "se_log.h"
#include "se_service.h"

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--migrate-only") == 0) {
        se_log_init("logistics");
        return se_pg_migrate_main("logistics", logistics_migrations, logistics_n_migrations);
    }
    if (argc > 1) {
        fprintf(stderr, "usage: %s [--migrate-only]\n", argv[0]);
        return 2;
    }
    static const se_service_def def = {"logistics", "LOGISTICS", NULL, NULL};
    return se_service_main(&def);
}
