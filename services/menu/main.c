/* se-menu - the menu service: restaurants, menus, live status
 * (gRPC, default port 50051, SE_MENU_ADDR).
 *
 *   se-menu                   serve (applies pending migrations first)
 *   se-menu --seed-if-empty   load the demo data set into an empty
 *                             catalogue first, then serve
 *   se-menu --migrate-only    apply pending migrations and exit (the
 *                             Kubernetes migration Job)
 *
 * Configuration: README.md (SE_PG_*, SE_REDIS_*, SE_MENU_*).
 */
#include <stdio.h>
#include <string.h>

#include "menu_migrations.h"
#include "menu_seed.h"
#include "menu_service.h"
#include "se_log.h"
#include "se_service.h"

static void stop_menu(void *svc)
{
    menu_service_stop(svc); /* ends WatchMenuChanges streams before the drain */
}

/* Builds the service from the environment and registers it. The service
 * lives until the process exits (se_service_main has no teardown hook). */
static int register_menu(se_server *s, void *arg)
{
    (void)arg;
    menu_service_config cfg;
    menu_service_config_from_env(&cfg);
    menu_service *svc = menu_service_create(&cfg);
    if (svc == NULL)
        return -1;
    se_service_on_stop(stop_menu, svc);
    return menu_service_register(s, svc);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--migrate-only") == 0) {
        se_log_init("menu");
        return se_pg_migrate_main("menu", menu_migrations, menu_n_migrations);
    }
    if (argc == 2 && strcmp(argv[1], "--seed-if-empty") == 0) {
        se_log_init("menu");
        char *seed_argv[] = {argv[0], "--if-empty", NULL};
        if (menu_seed_main(2, seed_argv) != 0)
            return 1;
    } else if (argc > 1) {
        fprintf(stderr, "usage: %s [--seed-if-empty | --migrate-only]\n", argv[0]);
        return 2;
    }
    static const se_service_def def = {"menu", "MENU", register_menu, NULL};
    return se_service_main(&def);
}
