/* menu_util.c - see menu_util.h. */
#include "menu_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "se_log.h"

void *menu_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        se_log_error("out_of_memory", "menu: malloc(%zu)", n);
        abort();
    }
    return p;
}

void *menu_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL) {
        se_log_error("out_of_memory", "menu: calloc(%zu, %zu)", n, size);
        abort();
    }
    return p;
}

char *menu_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(menu_xmalloc(n), s, n);
}

static const char *const status_names[] = {NULL, "open", "closed", "busy", "maintenance"};
static const char *const cuisine_names[] = {NULL,       "italian",  "chinese",
                                            "indian",   "mexican",  "japanese",
                                            "american", "thai",     "mediterranean",
                                            "other"};
#define N_STATUS (sizeof status_names / sizeof *status_names)
#define N_CUISINE (sizeof cuisine_names / sizeof *cuisine_names)

const char *menu_status_text(int status)
{
    return status > 0 && (size_t)status < N_STATUS ? status_names[status] : NULL;
}

int menu_status_from_text(const char *s)
{
    for (size_t i = 1; i < N_STATUS; i++)
        if (strcmp(s, status_names[i]) == 0)
            return (int)i;
    return 0;
}

const char *menu_cuisine_text(int cuisine)
{
    return cuisine > 0 && (size_t)cuisine < N_CUISINE ? cuisine_names[cuisine] : NULL;
}

int menu_cuisine_from_text(const char *s)
{
    for (size_t i = 1; i < N_CUISINE; i++)
        if (strcmp(s, cuisine_names[i]) == 0)
            return (int)i;
    return 0;
}

Google__Protobuf__Timestamp *menu_timestamp_us(int64_t us)
{
    Google__Protobuf__Timestamp *t = menu_xmalloc(sizeof *t);
    google__protobuf__timestamp__init(t);
    int64_t sec = us / 1000000, rem = us % 1000000;
    if (rem < 0) {
        rem += 1000000;
        sec--;
    }
    t->seconds = sec;
    t->nanos = (int32_t)(rem * 1000);
    return t;
}

int64_t menu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
