/* paygw_service.c - the gateway's parts wired together (see
 * paygw_service.h). */
#include "paygw_service.h"

#include <stdlib.h>

#include "paygw_handlers.h"
#include "se_alloc.h"
#include "se_time.h"
#include "se_log.h"

struct paygw_service {
    paygw_behaviour *behaviour;
    paygw_ledger *ledger;
    paygw_timer *timer;
    paygw_stats stats;
};

void paygw_service_config_from_env(paygw_service_config *cfg)
{
    paygw_settings_from_env(&cfg->defaults);
}

paygw_service *paygw_service_create(const paygw_service_config *cfg)
{
    paygw_service *svc = se_xcalloc(1, sizeof *svc);
    svc->timer = paygw_timer_create();
    if (svc->timer == NULL) {
        free(svc);
        return NULL;
    }
    svc->behaviour = paygw_behaviour_create(&cfg->defaults);
    svc->ledger = paygw_ledger_create();
    const paygw_settings *d = &cfg->defaults;
    se_log_info("paygw_started",
                "latency median %d ms p99 %d ms, decline %g, transient %g, timeout %g "
                "(hold %d ms), seed %llu",
                d->latency_median_ms, d->latency_p99_ms, d->decline_rate,
                d->transient_error_rate, d->timeout_rate, d->timeout_hold_ms,
                (unsigned long long)d->seed);
    return svc;
}

int paygw_service_register(se_server *s, paygw_service *svc)
{
    return swifteats_v1_payment_gateway_service_register(s, &paygw_handlers, svc);
}

void paygw_service_stop(paygw_service *svc)
{
    if (svc == NULL)
        return;
    size_t held = paygw_timer_pending(svc->timer);
    paygw_timer_stop(svc->timer);
    if (held > 0)
        se_log_info("paygw_stopped", "answered %zu held charge(s) at once", held);
}

void paygw_service_destroy(paygw_service *svc)
{
    if (svc == NULL)
        return;
    paygw_timer_destroy(svc->timer); /* stops first: no callback after this */
    paygw_ledger_destroy(svc->ledger);
    paygw_behaviour_destroy(svc->behaviour);
    free(svc);
}

paygw_behaviour *paygw_service_behaviour(paygw_service *svc)
{
    return svc->behaviour;
}

paygw_ledger *paygw_service_ledger(paygw_service *svc)
{
    return svc->ledger;
}

paygw_timer *paygw_service_timer(paygw_service *svc)
{
    return svc->timer;
}

paygw_stats *paygw_service_stats(paygw_service *svc)
{
    return &svc->stats;
}
