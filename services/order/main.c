/* se-order - the order service: orders, their payment attempts and the
 * outbox that hands them to the payment worker
 * (gRPC, default port 50052, SE_ORDER_ADDR).
 *
 *   se-order                  serve (applies pending migrations first)
 *   se-order --migrate-only   apply pending migrations and exit (the
 *                             Kubernetes migration Job)
 *
 * Configuration: services/order/order_service.h (SE_PG_URL,
 * SE_ORDER_*, SE_MENU_TARGET, SE_REDIS_*, SE_PAYMENT_STREAM/GROUP,
 * SE_RPC_THREADS: default ORDER_DEFAULT_THREADS here).
 */
#include <stdio.h>
#include <string.h>

#include "order_migrations.h"
#include "order_service.h"
#include "se_log.h"
#include "se_service.h"

static order_service *service; /* built by register_order, freed at exit */

/* Builds the service from the environment and registers it. */
static int register_order(se_server *s, void *arg)
{
    (void)arg;
    order_service_config cfg;
    order_service_config_from_env(&cfg);
    service = order_service_create(&cfg);
    if (service == NULL)
        return -1;
    return order_service_register(s, service);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--migrate-only") == 0) {
        se_log_init("order");
        return se_pg_migrate_main("order", order_migrations, order_n_migrations);
    }
    if (argc > 1) {
        fprintf(stderr, "usage: %s [--migrate-only]\n", argv[0]);
        return 2;
    }
    static const se_service_def def = {"order", "ORDER", register_order, NULL};
    se_service_default_threads(ORDER_DEFAULT_THREADS); /* handlers block */
    int rc = se_service_main(&def);
    order_service_destroy(service); /* the server is gone: relay's last pass, then close */
    return rc;
}
