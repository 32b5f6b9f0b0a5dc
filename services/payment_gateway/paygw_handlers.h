/* paygw_handlers.h - the PaymentGatewayService handler table; ctx is the
 * paygw_service. Internal to services/payment_gateway. */
#ifndef PAYGW_HANDLERS_H
#define PAYGW_HANDLERS_H

#include "swifteats/v1/payment_gateway.se.h"

extern const swifteats_v1_payment_gateway_service_handlers paygw_handlers;

/* Charge (paygw_charge.c): validates, decides the charge's fate and
 * registers its answer with the timer; completes the call later. */
void paygw_charge(se_call *call, const Swifteats__V1__ChargeRequest *req, void *ctx);

#endif
