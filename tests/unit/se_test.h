/* se_test.h - what every Check suite under tests/unit/ shares: the one rule
 * for scaling time bounds, a monotonic clock, sleeping and polling.
 *
 * Time bounds. Every timing assertion, deadline, poll limit and sleep that a
 * suite relies on for correctness goes through SE_T(ms), so the suites run
 * unchanged under valgrind (20-50x slower, all threads on one core) and the
 * sanitizers. The factor (se_test_time_scale) is, first match wins:
 *   1. SE_TEST_TIME_SCALE (a positive integer) from the environment:
 *      scripts/test.sh exports it for its valgrind and sanitizer passes;
 *   2. 10 under valgrind (found by its preload library in LD_PRELOAD), for a
 *      suite run by hand under valgrind;
 *   3. 3 in a -DSE_SANITIZE=ON (ASan+UBSan) build;
 *   4. 1 otherwise.
 * Lower bounds that check a server waited (for example a grace period)
 * stay unscaled: being slower never breaks them.
 *
 * Header-only (static inline): every tests/unit/test_*.c is its own
 * executable. THREAD: all of it is safe from any thread.
 */
#ifndef SE_TEST_H
#define SE_TEST_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__SANITIZE_ADDRESS__)
#define SE_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SE_TEST_SANITIZED 1
#endif
#endif
#ifndef SE_TEST_SANITIZED
#define SE_TEST_SANITIZED 0
#endif

/* The factor every time bound is multiplied by (see the rule above). */
static inline int se_test_time_scale(void)
{
    int s = 0;
    const char *v = getenv("SE_TEST_TIME_SCALE");
    if (v && atoi(v) > 0)
        s = atoi(v);
    if (s == 0) {
        const char *pre = getenv("LD_PRELOAD");
        if (pre && strstr(pre, "vgpreload"))
            s = 10;
    }
    if (s == 0)
        s = SE_TEST_SANITIZED ? 3 : 1;
    return s;
}

/* `ms` milliseconds, scaled: use for every time bound a test relies on. */
#define SE_T(ms) ((ms) * se_test_time_scale())

/* Milliseconds on the monotonic clock. */
static inline int64_t se_test_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps `ms` milliseconds (unscaled: for pacing, not for waiting on
 * something; use SE_POLL_UNTIL for that). */
static inline void se_test_sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Polls `cond` every millisecond until it holds or SE_T(ms) pass; the
 * caller asserts `cond` afterwards. */
#define SE_POLL_UNTIL(cond, ms)                                     \
    do {                                                            \
        int64_t se_poll_end_ = se_test_now_ms() + SE_T(ms);         \
        while (!(cond) && se_test_now_ms() < se_poll_end_)          \
            se_test_sleep_ms(1);                                    \
    } while (0)

/* ---- running a suite ------------------------------------------------------ */

/* Runs the suite (Check's default fork mode: one process per test) and
 * returns the exit status for main. */
static inline int se_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif
