/* order_util.c - see order_util.h. */
#include "order_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>


/* Indexed by the proto enum values. */
static const char *const status_names[] = {NULL, "pending", "payment_processing", "confirmed",
                                           "payment_failed", "cancelled"};
static const char *const attempt_names[] = {NULL, "pending", "processing", "success", "failed"};
#define N_STATUS (sizeof status_names / sizeof *status_names)
#define N_ATTEMPT (sizeof attempt_names / sizeof *attempt_names)

static const char *name_of(const char *const *names, size_t n, int v)
{
    return v > 0 && (size_t)v < n ? names[v] : NULL;
}

static int value_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(s, names[i]) == 0)
            return (int)i;
    return 0;
}

const char *order_status_text(int status)
{
    return name_of(status_names, N_STATUS, status);
}

int order_status_from_text(const char *s)
{
    return value_of(status_names, N_STATUS, s);
}

const char *order_attempt_status_text(int status)
{
    return name_of(attempt_names, N_ATTEMPT, status);
}

int order_attempt_status_from_text(const char *s)
{
    return value_of(attempt_names, N_ATTEMPT, s);
}

char *order_id_text(char *buf, int64_t id)
{
    snprintf(buf, 21, "%" PRId64, id);
    return buf;
}

int order_parse_id(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > 19 || s[0] == '0')
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits fit in uint64 */
    }
    if (v > (uint64_t)INT64_MAX)
        return -1;
    *out = (int64_t)v;
    return 0;
}
