/* drv_hist.c - fixed-bucket latency histogram (see drv_hist.h). */
#include "drv_hist.h"

#include <stdlib.h>

int drv_hist_init(drv_hist *h)
{
    *h = (drv_hist){0};
    h->bucket = calloc(DRV_HIST_BUCKETS, sizeof *h->bucket);
    return h->bucket ? 0 : -1;
}

void drv_hist_dispose(drv_hist *h)
{
    free(h->bucket);
    h->bucket = NULL;
}

void drv_hist_add(drv_hist *h, int64_t us)
{
    if (us < 0)
        us = 0;
    h->count++;
    h->sum_us += us;
    if (us > h->max_us)
        h->max_us = us;
    int64_t i = us / DRV_HIST_BUCKET_US;
    if (i >= DRV_HIST_BUCKETS)
        h->overflow++;
    else
        h->bucket[i]++;
}

int64_t drv_hist_quantile(const drv_hist *h, double q)
{
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max_us;
    double exact = q * (double)h->count;
    uint64_t rank = (uint64_t)exact;
    if ((double)rank < exact) /* ceil: the smallest sample with >= q below */
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (int64_t i = 0; i < DRV_HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            int64_t edge = (i + 1) * DRV_HIST_BUCKET_US;
            return edge < h->max_us ? edge : h->max_us;
        }
    }
    return h->max_us; /* in the overflow bucket */
}
