/* menu_seed.c - demo and benchmark data for the menu service (menu_seed.h).
 *
 * Rows are generated from a splitmix64 stream seeded with opts.seed, in a
 * fixed order, and streamed with COPY (text format) into restaurants,
 * menus, menu_categories and menu_items inside one transaction: 1,000
 * restaurants with 40,000 items load in well under a second.
 * Coverage guarantees: restaurant i (1-based) has cuisine ((i-1) % 9) + 1,
 * so every cuisine appears once n >= 9; restaurants 1..4 have the four
 * statuses in enum order and 1..8 the eight cities in order.
 */
#include "menu_seed.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menu_migrations.h"
#include "menu_util.h"
#include "se_log.h"

/* ---- deterministic randomness ------------------------------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int below(rng *r, int n)
{
    return (int)(next(r) % (uint64_t)n);
}

static double unit(rng *r)
{
    return (double)(next(r) >> 11) / 9007199254740992.0;
}

/* ---- vocabulary ----------------------------------------------------------------- */

typedef struct city {
    const char *name, *state, *zip;
    double lat, lon;
} city;

static const city cities[] = {
    {"San Francisco", "CA", "941", 37.7749, -122.4194},
    {"New York", "NY", "100", 40.7128, -74.0060},
    {"Chicago", "IL", "606", 41.8781, -87.6298},
    {"Austin", "TX", "787", 30.2672, -97.7431},
    {"Seattle", "WA", "981", 47.6062, -122.3321},
    {"Boston", "MA", "021", 42.3601, -71.0589},
    {"Denver", "CO", "802", 39.7392, -104.9903},
    {"Los Angeles", "CA", "900", 34.0522, -118.2437},
};
#define N_CITIES 8

static const char *const adjectives[] = {"Golden", "Little", "Happy", "Royal",  "Blue",  "Old Town",
                                         "Urban",  "Lucky",  "Green", "Sunset", "Corner", "Grand"};
static const char *const places[] = {NULL,        "Trattoria", "Wok",     "Curry House",
                                     "Taqueria",  "Sushi Bar", "Diner",   "Thai Kitchen",
                                     "Taverna",   "Eatery"};
static const char *const streets[] = {"Main",  "Oak", "Pine",   "Maple",
                                      "Cedar", "Elm", "Market", "Mission"};

/* Eight mains per cuisine (index = CuisineType). */
static const char *const mains[][8] = {
    {NULL},
    {"Margherita Pizza", "Spaghetti Carbonara", "Lasagna", "Risotto ai Funghi", "Penne Arrabbiata",
     "Osso Buco", "Chicken Parmigiana", "Gnocchi al Pesto"},
    {"Kung Pao Chicken", "Mapo Tofu", "Sweet and Sour Pork", "Beef Chow Fun", "Peking Duck",
     "Dan Dan Noodles", "Fried Rice", "Char Siu"},
    {"Butter Chicken", "Lamb Rogan Josh", "Palak Paneer", "Chana Masala", "Chicken Tikka Masala",
     "Biryani", "Dal Makhani", "Vindaloo"},
    {"Carne Asada Tacos", "Chicken Enchiladas", "Burrito", "Quesadilla", "Chiles Rellenos",
     "Carnitas", "Tamales", "Pozole"},
    {"Salmon Nigiri", "Tonkotsu Ramen", "Chicken Katsu", "Tempura Udon", "California Roll",
     "Unagi Don", "Teriyaki Beef", "Spicy Tuna Roll"},
    {"Cheeseburger", "BBQ Ribs", "Fried Chicken", "Mac and Cheese", "Club Sandwich", "Steak Frites",
     "Buffalo Wings", "Pulled Pork Sandwich"},
    {"Pad Thai", "Green Curry", "Tom Yum Soup", "Massaman Curry", "Pad See Ew", "Basil Chicken",
     "Red Curry", "Khao Soi"},
    {"Falafel Plate", "Chicken Shawarma", "Lamb Kofta", "Moussaka", "Grilled Halloumi", "Gyro",
     "Spanakopita", "Shakshuka"},
    {"House Special", "Grilled Fish", "Veggie Bowl", "Roast Chicken", "Poke Bowl", "Dumplings",
     "Stuffed Peppers", "Chef's Stew"},
};

static const char *const category_names[] = {"Starters", "Mains", "Sides", "Desserts", "Drinks",
                                             "Specials", "Kids", "Salads"};
static const char *const generic[][8] = {
    {"Soup of the Day", "Garden Salad", "Spring Rolls", "Bruschetta", "Hummus", "Edamame",
     "Nachos", "Samosas"},
    {NULL},
    {"Fries", "Steamed Rice", "Garlic Bread", "Coleslaw", "Naan", "Side Salad",
     "Roasted Vegetables", "Onion Rings"},
    {"Tiramisu", "Cheesecake", "Mango Sticky Rice", "Churros", "Mochi", "Brownie", "Baklava",
     "Gelato"},
    {"Lemonade", "Iced Tea", "Mango Lassi", "Sparkling Water", "Cola", "Green Tea", "Horchata",
     "Espresso"},
};
static const char *const diets[] = {"vegetarian", "vegan", "gluten-free", "spicy", "contains nuts",
                                    "dairy-free"};

/* ---- COPY ---------------------------------------------------------------------- */

typedef struct copybuf {
    char *data;
    size_t len, cap;
} copybuf;

static void put(copybuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(copybuf *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n + 1;
        char *d = realloc(b->data, b->cap);
        if (d == NULL) {
            se_log_error("out_of_memory", "menu seed: realloc(%zu)", b->cap);
            abort();
        }
        b->data = d;
    }
}

/* Streams b into `COPY <table_cols> FROM STDIN`: 0 or -1 (err filled). */
static int copy_in(PGconn *pg, const char *table_cols, const copybuf *b, se_pg_err *err)
{
    char sql[512];
    snprintf(sql, sizeof sql, "COPY %s FROM STDIN", table_cols);
    PGresult *r = PQexec(pg, sql);
    int ok = PQresultStatus(r) == PGRES_COPY_IN;
    PQclear(r);
    if (ok)
        ok = PQputCopyData(pg, b->data, (int)b->len) == 1 && PQputCopyEnd(pg, NULL) == 1;
    r = PQgetResult(pg);
    ok = ok && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        snprintf(err->sqlstate, sizeof err->sqlstate, "%s", state ? state : "08006");
        snprintf(err->msg, sizeof err->msg, "COPY %s: %s", table_cols, PQerrorMessage(pg));
        se_log_error("menu_seed_failed", "%s", err->msg);
    }
    PQclear(r);
    while ((r = PQgetResult(pg)) != NULL)
        PQclear(r);
    return ok ? 0 : -1;
}

/* ---- rows ---------------------------------------------------------------------- */

static const char *pick_status(rng *r, int i)
{
    if (i <= 4)
        return menu_status_text(i);
    int x = below(r, 100);
    return x < 70 ? "open" : x < 82 ? "busy" : x < 95 ? "closed" : "maintenance";
}

static void restaurant_row(copybuf *b, rng *r, int i)
{
    int cuisine = (i - 1) % 9 + 1;
    const city *c = &cities[i <= N_CITIES ? i - 1 : below(r, N_CITIES)];
    const char *status = pick_status(r, i);
    double rating = 2.5 + (double)below(r, 26) / 10.0;
    int has_max = below(r, 10) < 8;
    int max = 20 + below(r, 41);
    int cur = !has_max ? below(r, 20)
              : strcmp(status, "busy") == 0 ? max - below(r, 3)
                                            : below(r, max / 2 + 1);
    put(b,
        "%d\t%s %s %d\t%s food from the %s, made fresh every day.\t"
        "https://img.swifteats.example/restaurants/%d.jpg\t%d %s St\t%s\t%s\t%s%02d\t"
        "%.6f\t%.6f\t%s\t%s\t%.1f\t%d\t",
        i, adjectives[below(r, 12)], places[cuisine], i, menu_cuisine_text(cuisine),
        places[cuisine], i, 1 + below(r, 9999), streets[below(r, 8)], c->name, c->state, c->zip,
        below(r, 100), c->lat + (unit(r) - 0.5) * 0.2, c->lon + (unit(r) - 0.5) * 0.2, status,
        menu_cuisine_text(cuisine), rating, below(r, 2500));
    if (has_max)
        put(b, "%d", max);
    else
        put(b, "\\N");
    put(b, "\t%d\t{\"mon\": \"%d:00-22:00\", \"tue\": \"%d:00-22:00\", \"sun\": \"%s\"}\n", cur,
        10 + below(r, 3), 10 + below(r, 3), below(r, 4) ? "12:00-21:00" : "closed");
}

static void item_row(copybuf *b, rng *r, int rid, int64_t cid, int64_t iid, int cuisine, int k,
                     int j)
{
    const char *name = k == 1 ? mains[cuisine][j % 8] : generic[k % 5][j % 8];
    if (k >= 5) /* extra categories reuse the mains */
        name = mains[cuisine][(j + k) % 8];
    int base = k == 1 ? 1099 : k == 4 ? 299 : 599;
    put(b, "%" PRId64 "\t%d\t%" PRId64 "\t%s\t%s, prepared to order.\t%d\t", iid, rid, cid, name,
        name, base + below(r, 1200));
    if (below(r, 3))
        put(b, "https://img.swifteats.example/items/%" PRId64 ".jpg\t", iid);
    else
        put(b, "\\N\t");
    put(b, "%s\t%s\t", below(r, 100) < 95 ? "t" : "f", below(r, 100) < 97 ? "t" : "f");
    if (below(r, 3) == 0)
        put(b, "%s\t", diets[below(r, 6)]);
    else
        put(b, "\\N\t");
    put(b, "%d\n", 5 + below(r, 36));
}

/* Generates every row into the four buffers. */
static void generate(const menu_seed_opts *o, copybuf *rest, copybuf *menus, copybuf *cats,
                     copybuf *items)
{
    rng r = {o->seed};
    int64_t cid = 0, iid = 0;
    for (int i = 1; i <= o->restaurants; i++) {
        restaurant_row(rest, &r, i);
        put(menus, "%d\n", i);
        int cuisine = (i - 1) % 9 + 1;
        for (int k = 0; k < o->categories; k++) {
            cid++;
            put(cats, "%" PRId64 "\t%d\t%s\t%s of the house\t%d\n", cid, i, category_names[k % 8],
                category_names[k % 8], k + 1);
            for (int j = 0; j < o->items_per_category; j++)
                item_row(items, &r, i, cid, ++iid, cuisine, k, j);
        }
    }
}

/* ---- the transaction -------------------------------------------------------------- */

typedef struct seed_arg {
    const menu_seed_opts *o;
    int if_empty;
    int inserted;
} seed_arg;

static int exec(se_pg_conn *c, const char *sql, se_pg_err *err)
{
    return se_pg_exec(c, sql, 0, err);
}

static int seed_body(se_pg_conn *c, void *arg, se_pg_err *err)
{
    seed_arg *a = arg;
    a->inserted = 0;
    if (exec(c, "LOCK TABLE restaurants IN EXCLUSIVE MODE", err) != 0)
        return -1;
    if (a->if_empty) {
        PGresult *r = se_pg_exec_params(c, "SELECT EXISTS (SELECT 1 FROM restaurants)", 0, NULL,
                                        0, err);
        if (r == NULL)
            return -1;
        int exists = PQgetvalue(r, 0, 0)[0] == 't';
        PQclear(r);
        if (exists)
            return 0;
    }
    copybuf rest = {0}, menus = {0}, cats = {0}, items = {0};
    generate(a->o, &rest, &menus, &cats, &items);
    PGconn *pg = se_pg_conn_raw(c);
    int rc = copy_in(pg,
                     "restaurants (id, name, description, image_url, address, city, state, "
                     "zip_code, latitude, longitude, status, cuisine_type, rating, review_count, "
                     "max_capacity, current_capacity, operating_hours)",
                     &rest, err);
    rc = rc ? rc : copy_in(pg, "menus (restaurant_id)", &menus, err);
    rc = rc ? rc
            : copy_in(pg, "menu_categories (id, restaurant_id, name, description, display_order)",
                      &cats, err);
    rc = rc ? rc
            : copy_in(pg,
                      "menu_items (id, restaurant_id, category_id, name, description, "
                      "price_cents, image_url, available, in_stock, dietary_info, "
                      "preparation_time)",
                      &items, err);
    free(rest.data);
    free(menus.data);
    free(cats.data);
    free(items.data);
    if (rc != 0)
        return -1;
    a->inserted = a->o->restaurants;
    return exec(c,
                "SELECT setval(pg_get_serial_sequence('restaurants', 'id'), "
                "(SELECT max(id) FROM restaurants));"
                "SELECT setval(pg_get_serial_sequence('menu_categories', 'id'), "
                "(SELECT max(id) FROM menu_categories));"
                "SELECT setval(pg_get_serial_sequence('menu_items', 'id'), "
                "(SELECT max(id) FROM menu_items));"
                "UPDATE menu_cache_epoch SET epoch = epoch + 1 WHERE id = 1",
                err);
}

int menu_seed(se_pg_conn *c, const menu_seed_opts *o, int if_empty, se_pg_err *err)
{
    seed_arg a = {o, if_empty, 0};
    if (se_pg_tx(c, 0, seed_body, &a, err) != 0)
        return -1;
    if (a.inserted > 0 &&
        exec(c, "VACUUM (ANALYZE) restaurants, menus, menu_categories, menu_items", err) != 0)
        return -1;
    return a.inserted;
}

/* ---- command line ------------------------------------------------------------------ */

static int parse_args(int argc, char **argv, menu_seed_opts *o, int *if_empty)
{
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--if-empty") == 0 || strcmp(argv[i], "--seed-if-empty") == 0) {
            *if_empty = 1;
        } else if (strcmp(argv[i], "--restaurants") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (*end != '\0' || v < 1 || v > 1000000)
                return -1;
            o->restaurants = (int)v;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            o->seed = strtoull(argv[++i], &end, 10);
            if (*end != '\0')
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

int menu_seed_main(int argc, char **argv)
{
    menu_seed_opts o = MENU_SEED_DEFAULTS;
    int if_empty = 0;
    if (parse_args(argc, argv, &o, &if_empty) != 0) {
        fprintf(stderr, "usage: %s [--if-empty] [--restaurants N] [--seed S]\n", argv[0]);
        return 2;
    }
    const char *url = getenv("SE_PG_URL");
    if (url == NULL || url[0] == '\0') {
        se_log_error("config_error", "SE_PG_URL is required");
        return 2;
    }
    se_pg_err err;
    se_pg_conn *c = se_pg_conn_create(url, &err);
    if (c == NULL)
        return 1;
    int n = se_pg_migrate_list(c, "menu", menu_migrations, menu_n_migrations, &err);
    if (n >= 0)
        n = menu_seed(c, &o, if_empty, &err);
    se_pg_conn_destroy(c);
    if (n < 0)
        return 1;
    if (n == 0)
        se_log_info("menu_seed_skipped", "the catalogue is not empty: nothing loaded");
    else
        se_log_info("menu_seeded", "%d restaurants, %d items each (seed %" PRIu64 ")", n,
                    o.categories * o.items_per_category, o.seed);
    return 0;
}
