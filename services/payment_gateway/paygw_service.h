/* paygw_service.h - the mock payment gateway as an object: behaviour,
 * ledger, delayed replies and counters, and the PaymentGatewayService
 * handler table registered on a gRPC server. se-payment-gateway (main.c)
 * builds one from the environment; the tests build one with their own
 * settings and serve it on port 0.
 *
 * Lifecycle: create -> register -> (server start ... ) -> stop (answers
 * every held call at once; from then on Charge answers UNAVAILABLE
 * "payment gateway shutting down") -> server shutdown -> destroy. Stop
 * must come before the server shutdown: a held call is still "in flight"
 * for the server, which would otherwise wait out its latency or hold.
 *
 * Configuration: paygw_behaviour.h lists the SE_PAYMENT_GATEWAY_* variables.
 * LIMITATION: the ledger and the idempotency store live in memory only; a
 * restart forgets them (paygw_ledger.h).
 */
#ifndef PAYGW_SERVICE_H
#define PAYGW_SERVICE_H

#include <stdatomic.h>
#include <stdint.h>

#include "paygw_behaviour.h"
#include "paygw_ledger.h"
#include "paygw_timer.h"
#include "se_rpc.h"

typedef struct paygw_service_config {
    paygw_settings defaults; /* behaviour at start and after Reset */
} paygw_service_config;

/* Reads the configuration from the environment (exits(2) on a bad value). */
void paygw_service_config_from_env(paygw_service_config *cfg);

/* Counters since start or the last Reset (GatewayStats in the proto). */
typedef struct paygw_stats {
    atomic_llong charge_calls, approved, declined, transient_errors, timeouts,
        outage_rejections, replays, rejected;
} paygw_stats;

typedef struct paygw_service paygw_service;

/* Starts the timer thread. OWNERSHIP: cfg copied; caller destroys.
 * ON ERROR: NULL, logged. THREAD: any. */
paygw_service *paygw_service_create(const paygw_service_config *cfg);

/* Registers PaymentGatewayService on s (before se_server_start). 0 or -1. */
int paygw_service_register(se_server *s, paygw_service *svc);

/* Answers every held call now (processed charges with their record, the
 * others UNAVAILABLE "payment gateway shutting down", not recorded) and
 * refuses new charges the same way. Idempotent. THREAD: not a server
 * thread's handler; before se_server_shutdown. */
void paygw_service_stop(paygw_service *svc);

/* Stops if needed and frees everything; the server must be shut down. */
void paygw_service_destroy(paygw_service *svc);

/* Parts, for the handlers and the tests (borrowed). */
paygw_behaviour *paygw_service_behaviour(paygw_service *svc);
paygw_ledger *paygw_service_ledger(paygw_service *svc);
paygw_timer *paygw_service_timer(paygw_service *svc);
paygw_stats *paygw_service_stats(paygw_service *svc);

#endif
