/* se_time.h - small time helpers shared by the runtime and the components. */
#ifndef SE_TIME_H
#define SE_TIME_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "google/protobuf/timestamp.pb-c.h"

/* The CLOCK_MONOTONIC instant `ms` milliseconds from now, for
 * pthread_cond_timedwait on a condition variable created with
 * pthread_condattr_setclock(CLOCK_MONOTONIC). THREAD: any. */
struct timespec se_monotonic_after_ms(int ms);

/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC
 * (deadlines from se_monotonic_after_ms), so a wall-clock jump neither
 * shortens nor stretches them. Destroy it with pthread_cond_destroy. */
void se_cond_init_monotonic(pthread_cond_t *cond);

/* CLOCK_MONOTONIC in milliseconds / nanoseconds: for intervals and
 * deadlines, never for dates. THREAD: any. */
int64_t se_mono_ms(void);
int64_t se_mono_ns(void);

/* CLOCK_REALTIME in microseconds since the Unix epoch: for dates. */
int64_t se_wall_us(void);

/* A heap Timestamp from microseconds since the epoch (negative values
 * allowed), e.g. a PostgreSQL timestamptz read as an integer.
 * OWNERSHIP: the caller's; freed with the message that holds it (it is
 * allocated with malloc, as protobuf-c's default allocator frees). */
Google__Protobuf__Timestamp *se_timestamp_from_us(int64_t us);

#endif
