/* paygw_behaviour.c - settings, random generator, fates and outage (see
 * paygw_behaviour.h for the design). */
#include "paygw_behaviour.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "se_alloc.h"
#include "se_time.h"
#include "se_config.h"
#include "se_log.h"

#define LATENCY_MAX_MS 3600000
#define Z99 2.326           /* standard normal 99th percentile */
#define OUTAGE_MAX_MS 315360000000LL /* 10 years: longer durations are clamped */

struct paygw_behaviour {
    pthread_mutex_t mu; /* guards everything below */
    paygw_settings defaults;
    paygw_settings now;
    paygw_rng rng;
    int outage;            /* 1 while an outage is in force */
    int64_t outage_end_ns; /* CLOCK_MONOTONIC; 0: until turned off */
    int64_t outage_end_us; /* the same instant, Unix microseconds */
};

/* ---- settings from the environment ------------------------------------------ */

/* A seed from the clock and the pid, for runs that did not ask for one. */
static uint64_t clock_seed(void)
{
    return (uint64_t)se_wall_us() ^ ((uint64_t)se_mono_ns() << 17) ^
           ((uint64_t)getpid() << 40);
}

void paygw_settings_from_env(paygw_settings *s)
{
    s->latency_median_ms =
        (int)se_env_int("SE_PAYMENT_GATEWAY_LATENCY_MEDIAN_MS", 50, 0, LATENCY_MAX_MS);
    s->latency_p99_ms = (int)se_env_int("SE_PAYMENT_GATEWAY_LATENCY_P99_MS", 400,
                                        s->latency_median_ms, LATENCY_MAX_MS);
    s->decline_rate = se_env_double("SE_PAYMENT_GATEWAY_DECLINE_RATE", 0.05, 0, 1);
    s->transient_error_rate = se_env_double("SE_PAYMENT_GATEWAY_TRANSIENT_ERROR_RATE", 0.02, 0, 1);
    s->timeout_rate = se_env_double("SE_PAYMENT_GATEWAY_TIMEOUT_RATE", 0.01, 0, 1);
    s->timeout_hold_ms = (int)se_env_int("SE_PAYMENT_GATEWAY_TIMEOUT_HOLD_MS", 30000, 0, INT32_MAX);
    if (se_env_str("SE_PAYMENT_GATEWAY_SEED", NULL) != NULL)
        s->seed = (uint64_t)se_env_int("SE_PAYMENT_GATEWAY_SEED", 0, 0, INT64_MAX);
    else
        s->seed = clock_seed();
}

/* ---- xoshiro256** ------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void paygw_rng_seed(paygw_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t paygw_rng_next(paygw_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double paygw_rng_uniform(paygw_rng *r)
{
    return (double)(paygw_rng_next(r) >> 11) * 0x1.0p-53;
}

double paygw_rng_normal(paygw_rng *r)
{
    double u1 = 1.0 - paygw_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = paygw_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

int64_t paygw_latency_draw_ns(int median_ms, int p99_ms, paygw_rng *r)
{
    double z = paygw_rng_normal(r); /* drawn even when unused: one sequence */
    if (median_ms <= 0)
        return 0;
    if (p99_ms <= median_ms)
        return (int64_t)median_ms * 1000000;
    double sigma = log((double)p99_ms / median_ms) / Z99;
    double ms = median_ms * exp(sigma * z);
    double cap = 10.0 * p99_ms;
    if (ms > cap)
        ms = cap;
    return (int64_t)(ms * 1e6);
}

/* ---- decline reasons ------------------------------------------------------------ */

/* Cumulative weights out of 100: insufficient funds is the most common
 * soft decline, expired cards the rarest. */
static const struct {
    paygw_decline_reason reason;
    int cumulative;
} reasons[PAYGW_N_DECLINE_REASONS] = {
    {{"insufficient_funds", "Insufficient funds on the card"}, 40},
    {{"card_declined", "The card was declined by the issuer"}, 70},
    {{"do_not_honor", "Do not honor: the issuer refused without a reason"}, 90},
    {{"expired_card", "The card has expired"}, 100},
};

const paygw_decline_reason *paygw_decline_reason_at(int i)
{
    if (i < 0 || i >= PAYGW_N_DECLINE_REASONS)
        i = 1;
    return &reasons[i].reason;
}

static int pick_reason(double u)
{
    int pct = (int)(u * 100);
    for (int i = 0; i < PAYGW_N_DECLINE_REASONS; i++)
        if (pct < reasons[i].cumulative)
            return i;
    return PAYGW_N_DECLINE_REASONS - 1;
}

/* ---- the behaviour object --------------------------------------------------------- */

paygw_behaviour *paygw_behaviour_create(const paygw_settings *defaults)
{
    paygw_behaviour *b = se_xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    b->defaults = *defaults;
    b->now = *defaults;
    paygw_rng_seed(&b->rng, defaults->seed);
    return b;
}

void paygw_behaviour_destroy(paygw_behaviour *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b);
}

void paygw_behaviour_get(paygw_behaviour *b, paygw_settings *out)
{
    pthread_mutex_lock(&b->mu);
    *out = b->now;
    pthread_mutex_unlock(&b->mu);
}

static int rate_ok(double v, const char *field, char *why, size_t n)
{
    if (v >= 0 && v <= 1) /* false for NaN */
        return 1;
    snprintf(why, n, "behaviour.%s must be between 0 and 1 (got %g)", field, v);
    return 0;
}

static int non_negative(int64_t v, const char *field, char *why, size_t n)
{
    if (v >= 0)
        return 1;
    snprintf(why, n, "behaviour.%s must be >= 0 (got %" PRId64 ")", field, v);
    return 0;
}

#define HAS(c, field, CASE) ((c)->_##field##_case == SWIFTEATS__V1__GATEWAY_BEHAVIOUR___##CASE)

/* Applies the present fields of c to s, checking each; 0 or -1 with why. */
static int apply_change(paygw_settings *s, const Swifteats__V1__GatewayBehaviour *c, int *reseed,
                        char *why, size_t n)
{
    if (HAS(c, latency_median_ms, LATENCY_MEDIAN_MS_LATENCY_MEDIAN_MS)) {
        if (!non_negative(c->latency_median_ms, "latency_median_ms", why, n))
            return -1;
        s->latency_median_ms = c->latency_median_ms;
    }
    if (HAS(c, latency_p99_ms, LATENCY_P99_MS_LATENCY_P99_MS)) {
        if (!non_negative(c->latency_p99_ms, "latency_p99_ms", why, n))
            return -1;
        s->latency_p99_ms = c->latency_p99_ms;
    }
    if (HAS(c, decline_rate, DECLINE_RATE_DECLINE_RATE)) {
        if (!rate_ok(c->decline_rate, "decline_rate", why, n))
            return -1;
        s->decline_rate = c->decline_rate;
    }
    if (HAS(c, transient_error_rate, TRANSIENT_ERROR_RATE_TRANSIENT_ERROR_RATE)) {
        if (!rate_ok(c->transient_error_rate, "transient_error_rate", why, n))
            return -1;
        s->transient_error_rate = c->transient_error_rate;
    }
    if (HAS(c, timeout_rate, TIMEOUT_RATE_TIMEOUT_RATE)) {
        if (!rate_ok(c->timeout_rate, "timeout_rate", why, n))
            return -1;
        s->timeout_rate = c->timeout_rate;
    }
    if (HAS(c, timeout_hold_ms, TIMEOUT_HOLD_MS_TIMEOUT_HOLD_MS)) {
        if (!non_negative(c->timeout_hold_ms, "timeout_hold_ms", why, n))
            return -1;
        s->timeout_hold_ms = c->timeout_hold_ms;
    }
    if (HAS(c, seed, SEED_SEED)) {
        s->seed = c->seed;
        *reseed = 1;
    }
    return 0;
}

int paygw_behaviour_configure(paygw_behaviour *b, int reset,
                              const Swifteats__V1__GatewayBehaviour *change, paygw_settings *now,
                              char *why, size_t why_len)
{
    pthread_mutex_lock(&b->mu);
    paygw_settings s = reset ? b->defaults : b->now;
    int reseed = reset;
    int rc = change != NULL ? apply_change(&s, change, &reseed, why, why_len) : 0;
    if (rc == 0 && s.latency_p99_ms < s.latency_median_ms) {
        snprintf(why, why_len,
                 "behaviour.latency_p99_ms must be >= behaviour.latency_median_ms (got %d < %d)",
                 s.latency_p99_ms, s.latency_median_ms);
        rc = -1;
    }
    if (rc == 0) {
        b->now = s;
        if (reseed)
            paygw_rng_seed(&b->rng, s.seed);
        if (now != NULL)
            *now = s;
    }
    pthread_mutex_unlock(&b->mu);
    return rc;
}

void paygw_settings_to_proto(const paygw_settings *s, Swifteats__V1__GatewayBehaviour *out)
{
    swifteats__v1__gateway_behaviour__init(out);
    out->_latency_median_ms_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___LATENCY_MEDIAN_MS_LATENCY_MEDIAN_MS;
    out->latency_median_ms = s->latency_median_ms;
    out->_latency_p99_ms_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___LATENCY_P99_MS_LATENCY_P99_MS;
    out->latency_p99_ms = s->latency_p99_ms;
    out->_decline_rate_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___DECLINE_RATE_DECLINE_RATE;
    out->decline_rate = s->decline_rate;
    out->_transient_error_rate_case =
        SWIFTEATS__V1__GATEWAY_BEHAVIOUR___TRANSIENT_ERROR_RATE_TRANSIENT_ERROR_RATE;
    out->transient_error_rate = s->transient_error_rate;
    out->_timeout_rate_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___TIMEOUT_RATE_TIMEOUT_RATE;
    out->timeout_rate = s->timeout_rate;
    out->_timeout_hold_ms_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___TIMEOUT_HOLD_MS_TIMEOUT_HOLD_MS;
    out->timeout_hold_ms = s->timeout_hold_ms;
    out->_seed_case = SWIFTEATS__V1__GATEWAY_BEHAVIOUR___SEED_SEED;
    out->seed = s->seed;
}

void paygw_behaviour_draw(paygw_behaviour *b, paygw_draw *out)
{
    pthread_mutex_lock(&b->mu);
    const paygw_settings *s = &b->now;
    out->latency_ns = paygw_latency_draw_ns(s->latency_median_ms, s->latency_p99_ms, &b->rng);
    out->hold_ms = s->timeout_hold_ms;
    out->decline_reason = 0;
    if (paygw_rng_uniform(&b->rng) < s->transient_error_rate) {
        out->fate = PAYGW_FATE_TRANSIENT;
    } else if (paygw_rng_uniform(&b->rng) < s->timeout_rate) {
        out->fate = PAYGW_FATE_TIMEOUT;
    } else if (paygw_rng_uniform(&b->rng) < s->decline_rate) {
        out->fate = PAYGW_FATE_DECLINE;
        out->decline_reason = pick_reason(paygw_rng_uniform(&b->rng));
    } else {
        out->fate = PAYGW_FATE_APPROVE;
    }
    pthread_mutex_unlock(&b->mu);
}

void paygw_behaviour_reset(paygw_behaviour *b)
{
    pthread_mutex_lock(&b->mu);
    b->now = b->defaults;
    paygw_rng_seed(&b->rng, b->defaults.seed);
    b->outage = 0;
    b->outage_end_ns = 0;
    b->outage_end_us = 0;
    pthread_mutex_unlock(&b->mu);
}

/* ---- outage ------------------------------------------------------------------------- */

void paygw_behaviour_set_outage(paygw_behaviour *b, int enabled, int64_t duration_ms,
                                paygw_outage *now)
{
    if (duration_ms > OUTAGE_MAX_MS)
        duration_ms = OUTAGE_MAX_MS;
    pthread_mutex_lock(&b->mu);
    b->outage = enabled;
    b->outage_end_ns = 0;
    b->outage_end_us = 0;
    if (enabled && duration_ms > 0) {
        b->outage_end_ns = se_mono_ns() + duration_ms * 1000000;
        b->outage_end_us = se_wall_us() + duration_ms * 1000;
    }
    now->enabled = b->outage;
    now->ends_at_us = b->outage_end_us;
    pthread_mutex_unlock(&b->mu);
}

int paygw_behaviour_in_outage(paygw_behaviour *b)
{
    pthread_mutex_lock(&b->mu);
    int ended = b->outage && b->outage_end_ns != 0 && se_mono_ns() >= b->outage_end_ns;
    if (ended) {
        b->outage = 0;
        b->outage_end_ns = 0;
        b->outage_end_us = 0;
    }
    int on = b->outage;
    pthread_mutex_unlock(&b->mu);
    if (ended)
        se_log_info("outage_ended", "payment gateway outage over (its duration passed)");
    return on;
}
