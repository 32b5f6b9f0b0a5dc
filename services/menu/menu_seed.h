/* menu_seed.h - demo and benchmark data for the menu service: restaurants
 * in several cities with every cuisine and every status, each with a menu
 * of categories and items. Deterministic: the same options give the same
 * rows (ids included), byte for byte.
 */
#ifndef MENU_SEED_H
#define MENU_SEED_H

#include <stdint.h>

#include "se_pg.h"

typedef struct menu_seed_opts {
    int restaurants;        /* 1000 */
    int categories;         /* per restaurant, 5 */
    int items_per_category; /* 8 (so 40 items per restaurant) */
    uint64_t seed;          /* PRNG seed, 42 */
} menu_seed_opts;

#define MENU_SEED_DEFAULTS {1000, 5, 8, 42}

/* Loads the data set with COPY in one transaction (ids 1..n for
 * restaurants; categories and items numbered in order), advances the id
 * sequences, bumps the cache epoch (every cached read model is stale) and
 * ANALYZEs the tables. With if_empty, does nothing when any restaurant
 * exists (checked under a table lock, so concurrent seeders load once).
 * The schema must exist (migrations applied).
 * Returns how many restaurants were inserted (0: not empty), or -1 (err
 * filled, logged). THREAD: the caller's; c is used exclusively. */
int menu_seed(se_pg_conn *c, const menu_seed_opts *o, int if_empty, se_pg_err *err);

/* `se-menu-seed` / `se-menu --seed-if-empty`: connects with SE_PG_URL,
 * applies the migrations, seeds (options from argv: --restaurants N,
 * --seed S, --if-empty). Returns the process exit code. */
int menu_seed_main(int argc, char **argv);

#endif
