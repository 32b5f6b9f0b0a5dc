/* drv_hist.h - a fixed latency histogram: 10 µs buckets up to 10 s, one
 * overflow bucket beyond. Recording is one increment; percentiles walk the
 * buckets once (1,000,000 of them, a few ms), so millions of samples never
 * need storing or sorting. Resolution: 10 µs below 10 s; the maximum is kept
 * exactly.
 * OWNERSHIP: drv_hist_init allocates the buckets (4 MB), drv_hist_dispose
 * frees them. THREAD: not synchronised; one thread records.
 * ON ERROR: drv_hist_init returns -1 if the allocation fails.
 */
#ifndef DRV_HIST_H
#define DRV_HIST_H

#include <stdint.h>

#define DRV_HIST_BUCKET_US 10
#define DRV_HIST_BUCKETS 1000000 /* 10 s / 10 µs */

typedef struct drv_hist {
    uint32_t *bucket;  /* bucket[i]: samples in [i*10, i*10+10) µs */
    uint64_t count;    /* samples recorded, overflow included */
    uint64_t overflow; /* samples >= 10 s */
    int64_t max_us;    /* largest sample, exact */
    int64_t sum_us;    /* for the mean */
} drv_hist;

int drv_hist_init(drv_hist *h);
void drv_hist_dispose(drv_hist *h);
/* Records one sample in µs (negative samples, from clock steps, count as 0). */
void drv_hist_add(drv_hist *h, int64_t us);
/* The q-quantile (0 < q <= 1) in µs: the upper edge of the bucket holding
 * it (so never optimistic), the exact max for q == 1; 0 with no samples. */
int64_t drv_hist_quantile(const drv_hist *h, double q);

#endif
