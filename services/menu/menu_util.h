/* menu_util.h - small things every file of the menu service shares: the
 * what a change touches, enum <-> database text (and, through the runtime,
 * the allocation policy and clocks).
 * Internal to services/menu. */
#ifndef MENU_UTIL_H
#define MENU_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "swifteats/v1/menu.pb-c.h"

#include "se_alloc.h" /* the allocation policy: se_xmalloc & co. never return NULL */
#include "se_time.h"  /* se_mono_ms, se_timestamp_from_us */

/* What an operator write changed, as a bit set (also the flags of a
 * MenuChangeEvent). */
enum {
    MENU_CHANGED_RESTAURANT = 1, /* GetRestaurant */
    MENU_CHANGED_MENU = 2,       /* GetMenu */
    MENU_CHANGED_STATUS = 4,     /* GetRestaurantStatus */
    MENU_CHANGED_LISTS = 8,      /* every ListRestaurants page */
    MENU_CHANGED_ALL = 15,       /* a reset: everything, every restaurant */
};

/* Database text <-> proto enum. The text is the enum value's name without
 * its type prefix, lower-cased ("open", "mediterranean"): must be synced
 * with swifteats.v1.RestaurantStatus / CuisineType and the CHECK
 * constraints of migrations/001_catalogue.sql. Unknown text gives 0
 * (UNSPECIFIED); an unknown or unspecified value gives NULL. */
const char *menu_status_text(int status);
int menu_status_from_text(const char *s);
const char *menu_cuisine_text(int cuisine);
int menu_cuisine_from_text(const char *s);

#endif
