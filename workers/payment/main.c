/* se-payment-worker - the payment worker: takes payment jobs from Redis, calls the payment
 * gateway with retries and reports each attempt to the order service.
 *
 * PLACEHOLDER: the real work arrives with issue 4. Until then the
 * worker only keeps a Redis connection (SE_REDIS_URL) and says, in its
 * logs, that it is idle; it does no fake work. */
#include "se_service.h"

int main(void)
{
    return se_worker_main("payment_worker", se_worker_placeholder_body, "issue 4");
}
