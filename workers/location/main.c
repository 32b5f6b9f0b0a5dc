/* se-location-worker - the location worker: turns the driver location
 * reports of the Redis stream (written by the logistics service) into the
 * live state in Redis (current positions, geo index, per-order latest),
 * live updates (PUBLISH per order) and the route history in PostgreSQL.
 * Serves gRPC health and reflection on SE_LOCATION_WORKER_ADDR (default
 * $SE_BIND_HOST:50062) for Kubernetes probes.
 *
 * Design and configuration: location_worker.h. SIGTERM/SIGINT stop
 * reading, write what was gathered, and leave the rest pending in Redis
 * (resumed by this consumer name on restart, or claimed by another).
 *
 * No CPU niceness (unlike the payment worker): the live updates of
 * WatchOrderLocation pass through this process, with a 50 ms budget end to
 * end, so it must not wait behind background work.
 */
#include "location_worker.h"
#include "se_service.h"

static int location_worker_body(se_worker *sw, void *arg)
{
    (void)arg;
    location_worker_config cfg;
    location_worker_config_from_env(&cfg);
    location_worker *w = location_worker_create(&cfg);
    if (w == NULL)
        return 1;
    if (location_worker_start(w) != 0) {
        location_worker_destroy(w);
        return 1;
    }
    while (!se_worker_sleep_ms(sw, 60000)) {
    }
    location_worker_destroy(w); /* stops first */
    return 0;
}

int main(void)
{
    static const se_worker_def def = {"location_worker", "LOCATION_WORKER",
                                      location_worker_body, NULL};
    return se_worker_main_ex(&def);
}
