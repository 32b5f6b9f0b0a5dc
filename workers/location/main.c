/* se-location-worker - the location worker: ingests driver location events from Redis
 * streams and fans them out to subscribers.
 *
 * PLACEHOLDER: the real work arrives with issue 5. Until then the
 * worker only keeps a Redis connection (SE_REDIS_URL) and says, in its
 * logs, that it is idle; it does no fake work. */
#include "se_service.h"

int main(void)
{
    return se_worker_main("location_worker", se_worker_placeholder_body, "issue 5");
}
