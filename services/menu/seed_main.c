/* se-menu-seed - loads the menu service's demo/bench data set:
 *
 *   se-menu-seed [--if-empty] [--restaurants N] [--seed S]
 *
 * Applies the menu migrations, then inserts N (default 1,000) restaurants
 * with 40 items each, deterministically from seed S (default 42). With
 * --if-empty it does nothing when any restaurant exists. SE_PG_URL names
 * the database. Exit status 0 on success, 1 on a database error, 2 on bad
 * arguments or configuration. */
#include "menu_seed.h"
#include "se_log.h"

int main(int argc, char **argv)
{
    se_log_init("menu-seed");
    return menu_seed_main(argc, argv);
}
