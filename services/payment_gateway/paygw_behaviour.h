/* paygw_behaviour.h - how the mock card processor behaves: the settings
 * (latency, rates, hold), the seeded random generator that draws each
 * charge's fate, and the outage switch.
 *
 * DESIGN
 * One paygw_behaviour per gateway holds the settings in force, the
 * defaults they return to (Reset, Configure with reset), a xoshiro256**
 * generator and the outage state, all under one mutex: a Charge takes it
 * once (paygw_behaviour_draw) to copy what it needs and draw every random
 * number it will use, so a charge in flight keeps the behaviour it started
 * with whatever Configure does next, and one seed gives one sequence of
 * fates whatever the timing (for a given order of arrivals).
 *
 * Draws per charge, in this order (proto/swifteats/v1/payment_gateway.proto,
 * GatewayBehaviour): the latency (two uniforms, Box-Muller), then
 * transient error (u < transient_error_rate), else timeout
 * (u < timeout_rate), else decline (u < decline_rate, then one more draw
 * for the decline code). A "timed out" charge is processed as approved:
 * decline_rate applies to the charges processed normally.
 *
 * Latency is log-normal with the configured median and p99:
 * sigma = ln(p99 / median) / 2.326 (2.326 = the standard normal's 99th
 * percentile), capped at 10 x p99. Equal median and p99 give a fixed
 * latency; a median of 0 gives none.
 *
 * Outage: on until SetOutage(false), or until its end time if it was given
 * a duration (checked lazily by paygw_behaviour_in_outage: no timer).
 *
 * Environment (read by paygw_settings_from_env; the defaults that Reset and
 * Configure(reset) restore):
 *   SE_PAYMENT_GATEWAY_LATENCY_MEDIAN_MS     50     median latency, 0..3600000
 *   SE_PAYMENT_GATEWAY_LATENCY_P99_MS        400    p99 latency, median..3600000
 *   SE_PAYMENT_GATEWAY_DECLINE_RATE          0.05   share declined, 0..1
 *   SE_PAYMENT_GATEWAY_TRANSIENT_ERROR_RATE  0.02   share refused UNAVAILABLE, 0..1
 *   SE_PAYMENT_GATEWAY_TIMEOUT_RATE          0.01   share answered late, 0..1
 *   SE_PAYMENT_GATEWAY_TIMEOUT_HOLD_MS       30000  how late, 0..2147483647
 *   SE_PAYMENT_GATEWAY_SEED                  clock  generator seed, 0..2^63-1
 *                                                   (unset: from the clock at
 *                                                   start, kept for Reset)
 */
#ifndef PAYGW_BEHAVIOUR_H
#define PAYGW_BEHAVIOUR_H

#include <stddef.h>
#include <stdint.h>

#include "swifteats/v1/payment_gateway.pb-c.h"

/* ---- settings --------------------------------------------------------------- */

typedef struct paygw_settings {
    int latency_median_ms;       /* >= 0 */
    int latency_p99_ms;          /* >= latency_median_ms */
    double decline_rate;         /* 0..1 */
    double transient_error_rate; /* 0..1 */
    double timeout_rate;         /* 0..1 */
    int timeout_hold_ms;         /* >= 0 */
    uint64_t seed;
} paygw_settings;

/* The defaults from the environment (see the header comment); exits(2) with
 * a log line on a bad value, like every se_config reader. */
void paygw_settings_from_env(paygw_settings *s);

/* ---- random numbers --------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64. Not thread-safe by itself: the
 * behaviour guards its own generator. */
typedef struct paygw_rng {
    uint64_t s[4];
} paygw_rng;

void paygw_rng_seed(paygw_rng *r, uint64_t seed);
uint64_t paygw_rng_next(paygw_rng *r);
double paygw_rng_uniform(paygw_rng *r); /* [0, 1), 53 random bits */
double paygw_rng_normal(paygw_rng *r);  /* standard normal */

/* One latency draw in nanoseconds for a median and p99 in milliseconds
 * (see the header comment for the distribution). Exposed for tests. */
int64_t paygw_latency_draw_ns(int median_ms, int p99_ms, paygw_rng *r);

/* ---- a charge's fate ---------------------------------------------------------- */

typedef enum paygw_fate {
    PAYGW_FATE_APPROVE,   /* processed, approved, answered after the latency */
    PAYGW_FATE_DECLINE,   /* processed, declined, answered after the latency */
    PAYGW_FATE_TRANSIENT, /* not processed: UNAVAILABLE after the latency */
    PAYGW_FATE_TIMEOUT,   /* processed (approved) after the latency, answered
                             timeout_hold_ms later */
} paygw_fate;

typedef struct paygw_decline_reason {
    const char *code;    /* "insufficient_funds" ... */
    const char *message; /* human-readable */
} paygw_decline_reason;

/* The decline reasons (index 0..PAYGW_N_DECLINE_REASONS-1). */
#define PAYGW_N_DECLINE_REASONS 4
const paygw_decline_reason *paygw_decline_reason_at(int i);

typedef struct paygw_draw {
    paygw_fate fate;
    int decline_reason; /* index, PAYGW_FATE_DECLINE only */
    int64_t latency_ns; /* processing latency */
    int64_t hold_ms;    /* PAYGW_FATE_TIMEOUT: extra wait before the answer */
} paygw_draw;

/* ---- the behaviour object ------------------------------------------------------ */

typedef struct paygw_behaviour paygw_behaviour;

/* Settings = defaults, generator seeded with defaults->seed, no outage.
 * OWNERSHIP: defaults copied; caller destroys. */
paygw_behaviour *paygw_behaviour_create(const paygw_settings *defaults);
void paygw_behaviour_destroy(paygw_behaviour *b);

/* The settings in force. THREAD: any. */
void paygw_behaviour_get(paygw_behaviour *b, paygw_settings *out);

/* Configure: restores the defaults first if `reset`, then applies the
 * fields present in `change` (NULL: none); a present seed (or a reset)
 * restarts the generator. Everything or nothing: on an invalid value
 * returns -1 with `why` naming the field ("behaviour.decline_rate must be
 * between 0 and 1 (got 1.5)") and changes nothing. On success `now` (may be
 * NULL) gets the settings in force. THREAD: any. */
int paygw_behaviour_configure(paygw_behaviour *b, int reset,
                              const Swifteats__V1__GatewayBehaviour *change, paygw_settings *now,
                              char *why, size_t why_len);

/* Fills a response message (every field present) from settings. */
void paygw_settings_to_proto(const paygw_settings *s, Swifteats__V1__GatewayBehaviour *out);

/* Draws one charge's fate under the settings in force. THREAD: any. */
void paygw_behaviour_draw(paygw_behaviour *b, paygw_draw *out);

/* Restores the defaults (reseeding) and ends any outage. THREAD: any. */
void paygw_behaviour_reset(paygw_behaviour *b);

/* ---- outage ----------------------------------------------------------------------- */

typedef struct paygw_outage {
    int enabled;
    int64_t ends_at_us; /* Unix microseconds; 0: no end time */
} paygw_outage;

/* Starts (enabled; duration_ms > 0 ends it by itself that much later, 0
 * means until turned off; a new call replaces the end time) or ends the
 * outage. duration_ms must be >= 0 (the handler validates). Fills `now`.
 * THREAD: any. */
void paygw_behaviour_set_outage(paygw_behaviour *b, int enabled, int64_t duration_ms,
                                paygw_outage *now);
/* 1 while an outage is in force (ending it first if its time has come). */
int paygw_behaviour_in_outage(paygw_behaviour *b);

#endif
