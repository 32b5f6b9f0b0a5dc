/* payment_limit.c - AIMD concurrency limit (see payment_limit.h). */
#include "payment_limit.h"

#define CUT_INTERVAL_MIN_US 100000

void payment_limit_init(payment_limit *l, int min, int max, int64_t target_us)
{
    l->max = max < 1 ? 1 : max;
    l->min = min < 1 ? 1 : min > l->max ? l->max : min;
    l->target_us = target_us > 0 ? target_us : 0;
    l->value = l->max;
    l->last_cut_us = INT64_MIN / 2;
    l->last_raise_us = INT64_MIN / 2;
}

int payment_limit_observe(payment_limit *l, int64_t duration_us, int ok, int64_t now_us)
{
    if (l->target_us == 0)
        return l->value = l->max;
    int64_t interval = l->target_us > CUT_INTERVAL_MIN_US ? l->target_us : CUT_INTERVAL_MIN_US;
    if (duration_us <= l->target_us) {
        if (ok && l->value < l->max && now_us - l->last_raise_us >= interval) {
            int step = l->value / 8 > 1 ? l->value / 8 : 1;
            l->value = l->value + step < l->max ? l->value + step : l->max;
            l->last_raise_us = now_us;
        }
        return l->value;
    }
    if (now_us - l->last_cut_us >= interval) {
        int cut = l->value * 3 / 4;
        l->value = cut > l->min ? cut : l->min;
        l->last_cut_us = now_us;
    }
    return l->value;
}
