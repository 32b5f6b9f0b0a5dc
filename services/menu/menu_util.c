/* menu_util.c - see menu_util.h. */
#include "menu_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "se_log.h"

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
