/* se_time.h - small time helpers shared by the runtime. */
#ifndef SE_TIME_H
#define SE_TIME_H

#include <time.h>

/* The CLOCK_MONOTONIC instant `ms` milliseconds from now, for
 * pthread_cond_timedwait on a condition variable created with
 * pthread_condattr_setclock(CLOCK_MONOTONIC). THREAD: any. */
struct timespec se_monotonic_after_ms(int ms);

#endif
