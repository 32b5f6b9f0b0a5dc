/* order_service.c - the order service's parts wired together (see
 * order_service.h): pool, migrations, store, menu pricer, outbox relay. */
#include "order_service.h"

#include <stdlib.h>

#include "order_batch.h"
#include "order_handlers.h"
#include "order_pricing.h"
#include "se_alloc.h"
#include "se_config.h"
#include "se_log.h"

struct order_service {
    se_pg_pool *pg;
    se_pg_pool *payment_pg;
    order_store *store;
    order_batch *batch;
    order_pricing *pricing;
    order_outbox *outbox;
};

void order_service_config_from_env(order_service_config *cfg)
{
    const char *pg = se_env_str("SE_PG_URL", NULL);
    if (pg == NULL) {
        se_log_error("config_error", "SE_PG_URL is required by the order service");
        exit(2);
    }
    cfg->pg_url = pg;
    cfg->pg_pool_size = (int)se_env_int("SE_ORDER_PG_POOL_SIZE", 16, 1, 256);
    cfg->payment_pg_pool_size = (int)se_env_int("SE_ORDER_PAYMENT_PG_POOL_SIZE", 4, 1, 256);
    cfg->insert_batch = (int)se_env_int("SE_ORDER_INSERT_BATCH", 64, 1, 128);
    cfg->insert_concurrency = (int)se_env_int("SE_ORDER_INSERT_CONCURRENCY", 2, 1, 64);
    cfg->menu_target = se_config_target("MENU");
    cfg->menu_timeout_ms = (int)se_env_int("SE_ORDER_MENU_TIMEOUT_MS", 1000, 1, 600000);
    cfg->menu_batch = (int)se_env_int("SE_ORDER_MENU_BATCH", 16, 1, 128);
    cfg->menu_concurrency = (int)se_env_int("SE_ORDER_MENU_CONCURRENCY", 2, 1, 64);
    order_outbox_config_from_env(&cfg->outbox);
}

order_service *order_service_create(const order_service_config *cfg)
{
    order_service *svc = se_xcalloc(1, sizeof *svc);
    se_pg_err pe;
    svc->pg = se_pg_pool_create_ex(cfg->pg_url, cfg->pg_pool_size, ORDER_PG_SESSION_SQL, &pe);
    if (svc->pg == NULL) {
        se_log_error("order_start_failed", "PostgreSQL: %s", pe.msg);
        free(svc);
        return NULL;
    }
    svc->payment_pg = se_pg_pool_create_ex(cfg->pg_url, cfg->payment_pg_pool_size > 0
                                                           ? cfg->payment_pg_pool_size : 4,
                                           ORDER_PG_PAYMENT_SESSION_SQL, &pe);
    if (svc->payment_pg == NULL) {
        se_log_error("order_start_failed", "PostgreSQL (payment pool): %s", pe.msg);
        order_service_destroy(svc);
        return NULL;
    }
    svc->store = order_store_create(svc->pg, svc->payment_pg);
    if (order_store_migrate(svc->store) != 0) {
        order_service_destroy(svc);
        return NULL;
    }
    svc->pricing = order_pricing_create(cfg->menu_target, cfg->menu_timeout_ms,
                                        cfg->menu_batch > 0 ? cfg->menu_batch : 16,
                                        cfg->menu_concurrency > 0 ? cfg->menu_concurrency : 2);
    order_outbox_config oc = cfg->outbox;
    oc.pg_url = cfg->pg_url;
    svc->outbox = order_outbox_create(&oc); /* after the migrations: it reads payment_outbox */
    if (svc->outbox == NULL) {
        order_service_destroy(svc);
        return NULL;
    }
    svc->batch = order_batch_create(svc->store, svc->outbox,
                                    cfg->insert_batch > 0 ? cfg->insert_batch : 64,
                                    cfg->insert_concurrency > 0 ? cfg->insert_concurrency : 2);
    return svc;
}

int order_service_register(se_server *s, order_service *svc)
{
    return swifteats_v1_order_service_register(s, &order_handlers, svc);
}

void order_service_destroy(order_service *svc)
{
    if (svc == NULL)
        return;
    order_batch_destroy(svc->batch); /* borrows the outbox */
    order_outbox_destroy(svc->outbox);
    order_pricing_destroy(svc->pricing);
    order_store_destroy(svc->store);
    se_pg_pool_destroy(svc->payment_pg);
    se_pg_pool_destroy(svc->pg);
    free(svc);
}

order_store *order_service_store(order_service *svc)
{
    return svc->store;
}

order_batch *order_service_batch(order_service *svc)
{
    return svc->batch;
}

order_pricing *order_service_pricing(order_service *svc)
{
    return svc->pricing;
}

order_outbox *order_service_outbox(order_service *svc)
{
    return svc->outbox;
}

se_pg_pool *order_service_pg(order_service *svc)
{
    return svc->pg;
}
