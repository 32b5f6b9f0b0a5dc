/* se-logistics - the logistics service: driver locations
 * (gRPC, default port 50053, SE_LOGISTICS_ADDR).
 *
 *   se-logistics                  serve (applies pending migrations first)
 *   se-logistics --migrate-only   apply pending migrations and exit (the
 *                                 Kubernetes migration Job)
 *
 * Configuration: services/logistics/logistics_service.h.
 */
#include <stdio.h>
#include <string.h>

#include "logistics_migrations.h"
#include "logistics_service.h"
#include "se_log.h"
#include "se_service.h"

static logistics_service *service; /* built by register_logistics, freed at exit */

static void stop_watchers(void *arg)
{
    logistics_service_stop(arg);
}

static int register_logistics(se_server *s, void *arg)
{
    (void)arg;
    logistics_service_config cfg;
    logistics_service_config_from_env(&cfg);
    service = logistics_service_create(&cfg);
    if (service == NULL)
        return -1;
    se_service_on_stop(stop_watchers, service);
    return logistics_service_register(s, service);
}

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
    static const se_service_def def = {"logistics", "LOGISTICS", register_logistics, NULL};
    se_service_default_threads(LOGISTICS_DEFAULT_THREADS); /* handlers block */
    int rc = se_service_main(&def);
    logistics_service_destroy(service);
    return rc;
}
