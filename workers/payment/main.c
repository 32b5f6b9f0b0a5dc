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
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "payment_worker.h"
#include "se_config.h"
#include "se_service.h"

/* Payment processing is background work: an order is accepted (202) long
 * before it is charged. On a host the worker shares with the services and
 * PostgreSQL, order taking must win the CPU (the design's promise: taking
 * orders never suffers from payments), so the worker runs at a lower CPU
 * priority, SE_PAYMENT_NICE (default 10; 0 keeps the inherited one). Set
 * before any thread exists: every thread inherits it. Measured with
 * bench/orders on 2 cores: ~1,000 -> ~1,200 accepted orders/s, payments
 * catching up after the burst. */
static void lower_priority(void)
{
    int nice = (int)se_env_int("SE_PAYMENT_NICE", 10, 0, 19);
    if (nice > 0 && setpriority(PRIO_PROCESS, 0, nice) != 0)
        fprintf(stderr, "se-payment-worker: setpriority(%d): %s\n", nice, strerror(errno));
}

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
    lower_priority();
    static const se_worker_def def = {"payment_worker", "PAYMENT_WORKER", payment_worker_body,
                                      NULL};
    return se_worker_main_ex(&def);
}
