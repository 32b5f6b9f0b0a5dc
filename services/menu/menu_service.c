/* menu_service.c - the menu service's parts wired together (see
 * menu_service.h): pools from configuration, migrations, store, cache and
 * change events. */
#include "menu_service.h"

#include <stdlib.h>

#include "menu_handlers.h"
#include "menu_util.h"
#include "se_config.h"
#include "se_log.h"

struct menu_service {
    se_pg_pool *pg;
    se_pg_pool *pricing_pg; /* GetItemsForOrder's connections, or NULL */
    se_redis_pool *redis; /* cache and PUBLISH; NULL when the cache is off
                             and no events go through Redis */
    menu_store *store;
    menu_cache *cache;
    menu_events *events;
};

void menu_service_config_from_env(menu_service_config *cfg)
{
    const char *pg = se_env_str("SE_PG_URL", NULL);
    if (pg == NULL) {
        se_log_error("config_error", "SE_PG_URL is required by the menu service");
        exit(2);
    }
    cfg->pg_url = pg;
    cfg->pg_pool_size = (int)se_env_int("SE_PG_POOL_SIZE", 4, 1, 256);
    cfg->pricing_pool_size = (int)se_env_int("SE_MENU_PRICING_POOL_SIZE", 2, 0, 256);
    cfg->redis_url = se_env_str("SE_REDIS_URL", "redis://127.0.0.1:6379/0");
    cfg->redis_pool_size = (int)se_env_int("SE_REDIS_POOL_SIZE", 4, 1, 256);
    cfg->redis_timeout_ms = (int)se_env_int("SE_MENU_CACHE_TIMEOUT_MS", 200, 1, 60000);
    menu_cache_config_from_env(&cfg->cache);
    cfg->events = 1;
    cfg->events_retry_ms = (int)se_env_int("SE_MENU_EVENTS_RETRY_MS", 500, 10, 60000);
}

/* The change-event subscriber's hook: a remote write makes matching
 * in-flight loads unshareable. */
static void on_remote_change(void *arg, int64_t restaurant_id, unsigned what)
{
    menu_service *svc = arg;
    menu_cache_forget_flights(svc->cache, restaurant_id, what);
}

menu_service *menu_service_create(const menu_service_config *cfg)
{
    menu_service *svc = se_xcalloc(1, sizeof *svc);
    se_pg_err pe;
    svc->pg = se_pg_pool_create(cfg->pg_url, cfg->pg_pool_size, &pe);
    if (svc->pg == NULL) {
        se_log_error("menu_start_failed", "PostgreSQL: %s", pe.msg);
        free(svc);
        return NULL;
    }
    if (cfg->pricing_pool_size > 0) {
        svc->pricing_pg = se_pg_pool_create_ex(cfg->pg_url, cfg->pricing_pool_size,
                                               MENU_PRICING_SESSION_SQL, &pe);
        if (svc->pricing_pg == NULL) {
            se_log_error("menu_start_failed", "PostgreSQL (pricing pool): %s", pe.msg);
            se_pg_pool_destroy(svc->pg);
            free(svc);
            return NULL;
        }
    }
    svc->store = menu_store_create(svc->pg);
    menu_store_set_pricing_pool(svc->store, svc->pricing_pg);
    if (menu_store_migrate(svc->store) != 0) {
        menu_service_destroy(svc);
        return NULL;
    }
    if (cfg->cache.enabled || cfg->events) {
        se_redis_err re;
        svc->redis = se_redis_pool_create_ex(cfg->redis_url, cfg->redis_pool_size,
                                             cfg->redis_timeout_ms, SE_REDIS_FAIL_FAST, &re);
        if (svc->redis == NULL) { /* only for a bad URL: fail-fast pools open lazily */
            se_log_error("menu_start_failed", "Redis: %s", re.msg);
            menu_service_destroy(svc);
            return NULL;
        }
    }
    svc->cache = menu_cache_create(&cfg->cache, svc->redis, svc->store);
    menu_events_config ec = {
        .redis_url = cfg->events ? cfg->redis_url : NULL,
        .timeout_ms = cfg->redis_timeout_ms,
        .retry_ms = cfg->events_retry_ms,
        .publish = cfg->events ? svc->redis : NULL,
        .on_remote = on_remote_change,
        .arg = svc,
    };
    svc->events = menu_events_create(&ec);
    return svc;
}

int menu_service_register(se_server *s, menu_service *svc)
{
    return swifteats_v1_menu_service_register(s, &menu_handlers, svc);
}

void menu_service_stop(menu_service *svc)
{
    if (svc != NULL && svc->events != NULL)
        menu_events_stop_watchers(svc->events);
}

void menu_service_destroy(menu_service *svc)
{
    if (svc == NULL)
        return;
    menu_events_destroy(svc->events);
    menu_cache_destroy(svc->cache);
    menu_store_destroy(svc->store);
    se_redis_pool_destroy(svc->redis);
    se_pg_pool_destroy(svc->pricing_pg);
    se_pg_pool_destroy(svc->pg);
    free(svc);
}

menu_store *menu_service_store(menu_service *svc)
{
    return svc->store;
}

menu_cache *menu_service_cache(menu_service *svc)
{
    return svc->cache;
}

menu_events *menu_service_events(menu_service *svc)
{
    return svc->events;
}

se_pg_pool *menu_service_pg(menu_service *svc)
{
    return svc->pg;
}
