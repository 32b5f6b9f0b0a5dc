/* bench_transcode.c - CPU cost of the gateway's JSON transcoder, no I/O.
 *
 *   se-bench-transcode [SECONDS_PER_CASE=1] [CASE_PREFIX]
 *
 * Cases: encode a 40-item Menu (5 categories x 8 items) into a reused
 * buffer; encode one Restaurant; decode a 3-item CreateOrder body through
 * the route's full request path; decode GET /api/v1/restaurants query
 * parameters. Each case runs batches of 1000 until its time is up (bounded)
 * and prints one JSON line: {"case":..., "ops":..., "ns_per_op":...,
 * "bytes":...}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_transcode.h"
#include "se_registry.h"
#include "swifteats/v1/menu.pb-c.h"
#include "swifteats/v1/order.pb-c.h"

#define BATCH 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;

/* A menu like the demo data's: 5 categories of 8 items, about 8 KB of JSON. */
static Swifteats__V1__Menu *make_menu(void)
{
    static Swifteats__V1__MenuItem items[40];
    static Swifteats__V1__MenuItem *item_ptrs[40];
    static Swifteats__V1__MenuCategory cats[5];
    static Swifteats__V1__MenuCategory *cat_ptrs[5];
    static char names[40][48], descs[40][96];
    static Swifteats__V1__Menu menu = SWIFTEATS__V1__MENU__INIT;
    ts.seconds = 1795701834;
    for (int i = 0; i < 40; i++) {
        Swifteats__V1__MenuItem *it = &items[i];
        swifteats__v1__menu_item__init(it);
        it->id = 100000 + i;
        snprintf(names[i], sizeof names[i], "Pizza Margherita No. %d", i);
        snprintf(descs[i], sizeof descs[i],
                 "Tomato, fior di latte, basil and olive oil; item %d of the menu", i);
        it->name = names[i];
        it->_description_case = SWIFTEATS__V1__MENU_ITEM___DESCRIPTION_DESCRIPTION;
        it->description = descs[i];
        it->price = 899 + i * 37;
        it->_image_url_case = SWIFTEATS__V1__MENU_ITEM___IMAGE_URL_IMAGE_URL;
        it->image_url = "https://img.example.com/items/margherita.jpg";
        it->available = 1;
        it->in_stock = i % 7 != 0;
        if (i % 3 == 0) {
            it->_dietary_info_case = SWIFTEATS__V1__MENU_ITEM___DIETARY_INFO_DIETARY_INFO;
            it->dietary_info = "vegetarian";
        }
        it->_preparation_time_case = SWIFTEATS__V1__MENU_ITEM___PREPARATION_TIME_PREPARATION_TIME;
        it->preparation_time = 10 + i % 20;
        item_ptrs[i] = it;
    }
    for (int c = 0; c < 5; c++) {
        swifteats__v1__menu_category__init(&cats[c]);
        cats[c].id = 5000 + c;
        cats[c].name = "Pizzas";
        cats[c].display_order = c;
        cats[c].n_items = 8;
        cats[c].items = &item_ptrs[c * 8];
        cat_ptrs[c] = &cats[c];
    }
    menu.restaurant_id = 42;
    menu.n_categories = 5;
    menu.categories = cat_ptrs;
    menu.updated_at = &ts;
    return &menu;
}

static Swifteats__V1__Restaurant *make_restaurant(void)
{
    static Swifteats__V1__Restaurant r = SWIFTEATS__V1__RESTAURANT__INIT;
    r.id = 42;
    r.name = "Luigi's Trattoria";
    r._description_case = SWIFTEATS__V1__RESTAURANT___DESCRIPTION_DESCRIPTION;
    r.description = "Neapolitan pizza since 1962";
    r.address = "1 Main St";
    r.city = "Springfield";
    r.latitude = 40.712776;
    r.longitude = -74.005974;
    r.status = SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_OPEN;
    r.cuisine_type = SWIFTEATS__V1__CUISINE_TYPE__CUISINE_TYPE_ITALIAN;
    r.rating = 4.6;
    r.review_count = 1287;
    r.current_capacity = 12;
    r.created_at = &ts;
    r.updated_at = &ts;
    return &r;
}

static const se_http_route *find_route(const char *method, const char *path)
{
    for (size_t i = 0; i < se_registry_n_routes; i++)
        if (strcmp(se_registry_routes[i]->http_method, method) == 0 &&
            strcmp(se_registry_routes[i]->path, path) == 0)
            return se_registry_routes[i];
    fprintf(stderr, "no route %s %s\n", method, path);
    exit(1);
}

static const char *only; /* run only the cases starting with this */

static int skip(const char *name)
{
    return only != NULL && strncmp(name, only, strlen(only)) != 0;
}

static void report(const char *name, long ops, double secs, size_t bytes)
{
    printf("{\"case\":\"%s\",\"ops\":%ld,\"ns_per_op\":%.0f,\"bytes\":%zu}\n", name, ops,
           secs * 1e9 / (double)ops, bytes);
}

static void bench_encode(const char *name, const ProtobufCMessage *m, double budget)
{
    if (skip(name))
        return;
    gw_buf b = GW_BUF_INIT;
    long ops = 0;
    double t0 = now_s(), t;
    do {
        for (int i = 0; i < BATCH; i++) {
            gw_buf_reset(&b);
            if (gw_transcode_response(m, &b) != 0)
                exit(1);
        }
        ops += BATCH;
    } while ((t = now_s()) - t0 < budget);
    report(name, ops, t - t0, b.len);
    gw_buf_dispose(&b);
}

static void bench_decode(const char *name, const se_http_route *r, const char *query,
                         const char *body, double budget)
{
    if (skip(name))
        return;
    long ops = 0;
    double t0 = now_s(), t;
    size_t qlen = query ? strlen(query) : 0, blen = body ? strlen(body) : 0;
    do {
        for (int i = 0; i < BATCH; i++) {
            ProtobufCMessage *m;
            gw_transcode_error err;
            if (gw_transcode_request(r, NULL, query, qlen, body, blen, NULL, NULL, &m, &err) != 0) {
                fprintf(stderr, "%s: %s\n", name, err.message);
                exit(1);
            }
            protobuf_c_message_free_unpacked(m, NULL);
        }
        ops += BATCH;
    } while ((t = now_s()) - t0 < budget);
    report(name, ops, t - t0, blen + qlen);
}

int main(int argc, char **argv)
{
    double budget = argc > 1 ? atof(argv[1]) : 1.0;
    if (budget <= 0 || budget > 60)
        budget = 1.0;
    only = argc > 2 ? argv[2] : NULL;
    gw_transcode_init();
    bench_encode("encode_menu_40_items", &make_menu()->base, budget);
    bench_encode("encode_restaurant", &make_restaurant()->base, budget);
    bench_decode("decode_create_order_3_items", find_route("POST", "/api/v1/orders"), NULL,
                 "{\"customer_id\": \"cust-8842\", \"items\": ["
                 "{\"item_id\": \"100001\", \"item_name\": \"Pizza Margherita\", \"quantity\": 2, \"price\": 12.99},"
                 "{\"item_id\": \"100017\", \"item_name\": \"Tiramisu\", \"quantity\": 1, \"price\": 6.5},"
                 "{\"item_id\": \"100023\", \"item_name\": \"San Pellegrino 0.5l\", \"quantity\": 3, \"price\": 3}]}",
                 budget);
    bench_decode("decode_list_restaurants_query", find_route("GET", "/api/v1/restaurants"),
                 "cuisine_type=italian&min_rating=4.5&city=New%20York&page=2&page_size=50", NULL,
                 budget);
    return 0;
}
