/* se-location-worker - the location worker: ingests driver location events from Redis
 * streams and fans them out to subscribers.
 *
 * PLACEHOLDER: the real work arrives with issue 5. Until then the
 * worker only keeps a Redis connection (SE_REDIS_URL) and says, in its
 * logs, that it is idle; it does no fake work. */
#include "se_service.h"

int main(void)
{
    /* the health server (SE_LOCATION_WORKER_ADDR, :50062) answers the
     * Kubernetes gRPC probes even before the worker's real body lands */
    static const se_worker_def def = {"location_worker", "LOCATION_WORKER",
                                      se_worker_placeholder_body, "issue 5"};
    return se_worker_main_ex(&def);
}
