/* se-payment-worker - the payment worker: takes payment jobs from the Redis
 * stream (consumer group), charges the payment gateway behind a circuit
 * breaker with retries, and records every attempt and the outcome through
 * the order service. Serves gRPC health and reflection on
 * SE_PAYMENT_WORKER_ADDR (default $SE_BIND_HOST:50061) for Kubernetes probes,
 * with the breaker's state as the health of "swifteats.payment.Breaker".
 *
 * Design and configuration: payment_worker.h. SIGTERM/SIGINT stop reading,
 * let running jobs finish for up to SE_PAYMENT_STOP_GRACE_MS and leave the
 * rest pending in Redis.
 */
#include "payment_worker.h"
#include "se_service.h"

static int payment_worker_body(se_worker *sw, void *arg)
{
    (void)arg;
    payment_worker_config cfg;
    payment_worker_config_from_env(&cfg);
    cfg.health = se_worker_server(sw);
    payment_worker *w = payment_worker_create(&cfg);
    if (w == NULL)
        return 1;
    if (payment_worker_start(w) != 0) {
        payment_worker_destroy(w);
        return 1;
    }
    while (!se_worker_sleep_ms(sw, 60000)) {
    }
    payment_worker_stop(w); /* drains for up to SE_PAYMENT_STOP_GRACE_MS */
    payment_worker_destroy(w);
    return 0;
}

int main(void)
{
    static const se_worker_def def = {"payment_worker", "PAYMENT_WORKER", payment_worker_body,
                                      NULL};
    return se_worker_main_ex(&def);
}
