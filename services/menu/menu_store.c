/* menu_store.c - PostgreSQL access of the menu service (see menu_store.h).
 *
 * DESIGN
 * - Text protocol throughout (libpq text results, parsed here); times are
 *   selected as bigint microseconds since the Unix epoch (US(col)).
 * - Every read is one statement on a pooled connection (a menu is two: the
 *   restaurant's menu row for NOT_FOUND and updated_at, then categories
 *   LEFT JOIN items in display order), so each sees a consistent snapshot.
 * - ListRestaurants builds its WHERE clause from the filters actually given
 *   (no "$1 IS NULL OR ..." predicates, which defeat the indexes), then
 *   runs a count and the page.
 * - Writes run in se_pg_tx with SE_PG_TX_RETRY (they are idempotent "set"
 *   operations); a business outcome (NOT_FOUND, INVALID_ARGUMENT) found
 *   inside the transaction rolls it back and is carried out in tx_arg.st.
 *
 * EXPLAIN on the seeded data set (1,000 restaurants, 5,000 categories,
 * 40,000 items; PostgreSQL 15 after the seed's VACUUM ANALYZE); checked by
 * tests/unit/test_menu_store.c (hot_queries_use_indexes), no Seq Scan:
 *   GetRestaurant, GetRestaurantStatus: Index Scan using restaurants_pkey
 *   GetMenu: Nested Loop Left Join of restaurants_pkey and menus_pkey; then
 *     Incremental Sort <- Nested Loop Left Join of Index Scans using
 *     menu_categories_restaurant_order and menu_items_restaurant_category
 *   ListRestaurants page: Limit <- Index Scan using restaurants_pkey (with a
 *     Filter for the filters: id order, stops after page_size rows); all
 *     four filters: BitmapAnd of restaurants_cuisine_id, restaurants_city_id
 *   ListRestaurants total: Index Only Scan using restaurants_pkey (no
 *     filter) or the filter's index (restaurants_cuisine_id, _status_id,
 *     _city_id, _rating_id); before the first VACUUM the planner prefers a
 *     Bitmap Heap Scan (or, unfiltered, a Seq Scan of the 20-page table)
 *   GetItemsForOrder (generic plan, on the pricing pool): Index Scan using
 *     menu_items_pkey + a SubPlan probing restaurants_pkey per item (a Seq
 *     Scan while restaurants is a page or two)
 */
#include "menu_store.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "menu_migrations.h"
#include "menu_util.h"
#include "se_log.h"
#include "se_pg_rpc.h"

#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

struct menu_store {
    se_pg_pool *pg;           /* borrowed */
    se_pg_pool *pricing;      /* borrowed: GetItemsForOrder's, or pg */
    atomic_ulong loads;       /* catalogue reads sent to PostgreSQL */
};

menu_store *menu_store_create(se_pg_pool *pg)
{
    menu_store *s = se_xcalloc(1, sizeof *s);
    s->pg = pg;
    s->pricing = pg;
    atomic_init(&s->loads, 0);
    return s;
}

void menu_store_set_pricing_pool(menu_store *s, se_pg_pool *pricing)
{
    s->pricing = pricing != NULL ? pricing : s->pg;
}

void menu_store_destroy(menu_store *s)
{
    free(s);
}

unsigned long menu_store_loads(const menu_store *s)
{
    return atomic_load(&((menu_store *)s)->loads);
}

/* ---- connections and errors ------------------------------------------------- */

static se_pg_conn *acquire_from(se_pg_pool *pool, se_status *st)
{
    return se_pg_acquire_for_call(pool, "menu", st);
}

static se_pg_conn *acquire(menu_store *s, se_status *st)
{
    return acquire_from(s->pg, st);
}

static void pg_status(se_status *st, const se_pg_err *e, const char *what)
{
    se_pg_status(st, e, "menu", what);
}

/* One statement on a connection of `pool`, prepared once per session if
 * `prepared` (for the fixed statements of hot paths); NULL with st filled
 * on failure. */
static PGresult *query_on_pool(se_pg_pool *pool, const char *what, const char *sql, int n,
                               const char *const *params, int prepared, se_status *st)
{
    se_pg_conn *c = acquire_from(pool, st);
    if (c == NULL)
        return NULL;
    se_pg_err e;
    PGresult *r = prepared ? se_pg_exec_prepared(c, sql, n, params, SE_PG_IDEMPOTENT, &e)
                           : se_pg_exec_params(c, sql, n, params, SE_PG_IDEMPOTENT, &e);
    se_pg_pool_release(pool, c);
    if (r == NULL)
        pg_status(st, &e, what);
    return r;
}

static PGresult *query(menu_store *s, const char *what, const char *sql, int n,
                       const char *const *params, se_status *st)
{
    return query_on_pool(s->pg, what, sql, n, params, 0, st);
}

int menu_store_migrate(menu_store *s)
{
    se_status st;
    se_pg_conn *c = acquire(s, &st);
    if (c == NULL) {
        se_log_error("menu_migrate_failed", "%s", st.message);
        return -1;
    }
    se_pg_err e;
    int n = se_pg_migrate_list(c, "menu", menu_migrations, menu_n_migrations, &e);
    se_pg_pool_release(s->pg, c);
    if (n < 0) {
        se_log_error("menu_migrate_failed", "%s", e.msg);
        return -1;
    }
    se_log_info("menu_migrated", "%d migration(s) applied", n);
    return 0;
}

/* ---- column parsing ------------------------------------------------------- */

static const char *val(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col);
}

static int is_null(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

static int64_t i64(const PGresult *r, int row, int col)
{
    return strtoll(val(r, row, col), NULL, 10);
}

static double dbl(const PGresult *r, int row, int col)
{
    return strtod(val(r, row, col), NULL);
}

static int boolean(const PGresult *r, int row, int col)
{
    return val(r, row, col)[0] == 't';
}

static char *str(const PGresult *r, int row, int col)
{
    return se_xstrdup(val(r, row, col));
}

/* An optional text column into a one-field oneof: sets *field and returns
 * the case to store (0 for NULL). */
static int opt_str(const PGresult *r, int row, int col, char **field, int present_case)
{
    if (is_null(r, row, col))
        return 0;
    *field = str(r, row, col);
    return present_case;
}

static void id_text(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%lld", (long long)v);
}

/* ---- restaurants ---------------------------------------------------------- */

#define RESTAURANT_COLS                                                                    \
    "id, name, description, image_url, address, city, state, zip_code, latitude, "         \
    "longitude, status, cuisine_type, rating, review_count, max_capacity, current_capacity, " \
    "operating_hours, " US("created_at") ", " US("updated_at")

static Swifteats__V1__Restaurant *restaurant_from_row(const PGresult *r, int i)
{
    Swifteats__V1__Restaurant *m = se_xmalloc(sizeof *m);
    swifteats__v1__restaurant__init(m);
    m->id = i64(r, i, 0);
    m->name = str(r, i, 1);
    m->_description_case = opt_str(r, i, 2, &m->description,
                                   SWIFTEATS__V1__RESTAURANT___DESCRIPTION_DESCRIPTION);
    m->_image_url_case = opt_str(r, i, 3, &m->image_url,
                                 SWIFTEATS__V1__RESTAURANT___IMAGE_URL_IMAGE_URL);
    m->address = str(r, i, 4);
    m->city = str(r, i, 5);
    m->_state_case = opt_str(r, i, 6, &m->state, SWIFTEATS__V1__RESTAURANT___STATE_STATE);
    m->_zip_code_case = opt_str(r, i, 7, &m->zip_code,
                                SWIFTEATS__V1__RESTAURANT___ZIP_CODE_ZIP_CODE);
    m->latitude = dbl(r, i, 8);
    m->longitude = dbl(r, i, 9);
    m->status = menu_status_from_text(val(r, i, 10));
    m->cuisine_type = menu_cuisine_from_text(val(r, i, 11));
    m->rating = dbl(r, i, 12);
    m->review_count = (int32_t)i64(r, i, 13);
    if (!is_null(r, i, 14)) {
        m->_max_capacity_case = SWIFTEATS__V1__RESTAURANT___MAX_CAPACITY_MAX_CAPACITY;
        m->max_capacity = (int32_t)i64(r, i, 14);
    }
    m->current_capacity = (int32_t)i64(r, i, 15);
    m->_operating_hours_case = opt_str(r, i, 16, &m->operating_hours,
                                       SWIFTEATS__V1__RESTAURANT___OPERATING_HOURS_OPERATING_HOURS);
    m->created_at = se_timestamp_from_us(i64(r, i, 17));
    m->updated_at = se_timestamp_from_us(i64(r, i, 18));
    return m;
}

/* 1 row of `sql` ($1 = id) or NOT_FOUND; NULL with st filled. */
static PGresult *one_restaurant_row(menu_store *s, const char *what, const char *sql, int64_t id,
                                    se_status *st)
{
    char idt[24];
    id_text(idt, id);
    const char *p[] = {idt};
    atomic_fetch_add(&s->loads, 1);
    PGresult *r = query(s, what, sql, 1, p, st);
    if (r != NULL && PQntuples(r) == 0) {
        PQclear(r);
        se_status_set(st, GRPC_STATUS_NOT_FOUND, "restaurant %lld not found", (long long)id);
        return NULL;
    }
    return r;
}

int menu_store_get_restaurant(menu_store *s, int64_t id, Swifteats__V1__Restaurant **out,
                              se_status *st)
{
    PGresult *r = one_restaurant_row(
        s, "GetRestaurant", "SELECT " RESTAURANT_COLS " FROM restaurants WHERE id = $1", id, st);
    if (r == NULL)
        return -1;
    *out = restaurant_from_row(r, 0);
    PQclear(r);
    return 0;
}

int menu_store_get_status(menu_store *s, int64_t id, Swifteats__V1__RestaurantLiveStatus **out,
                          se_status *st)
{
    PGresult *r = one_restaurant_row(s, "GetRestaurantStatus",
                                     "SELECT id, status, current_capacity, max_capacity, "
                                     US("status_updated_at") " FROM restaurants WHERE id = $1",
                                     id, st);
    if (r == NULL)
        return -1;
    Swifteats__V1__RestaurantLiveStatus *m = se_xmalloc(sizeof *m);
    swifteats__v1__restaurant_live_status__init(m);
    m->restaurant_id = i64(r, 0, 0);
    m->status = menu_status_from_text(val(r, 0, 1));
    m->current_capacity = (int32_t)i64(r, 0, 2);
    if (!is_null(r, 0, 3)) {
        m->_max_capacity_case = SWIFTEATS__V1__RESTAURANT_LIVE_STATUS___MAX_CAPACITY_MAX_CAPACITY;
        m->max_capacity = (int32_t)i64(r, 0, 3);
    }
    m->updated_at = se_timestamp_from_us(i64(r, 0, 4));
    PQclear(r);
    *out = m;
    return 0;
}

/* ---- menus ---------------------------------------------------------------- */

static Swifteats__V1__MenuItem *item_from_row(const PGresult *r, int i, int c0)
{
    Swifteats__V1__MenuItem *m = se_xmalloc(sizeof *m);
    swifteats__v1__menu_item__init(m);
    m->id = i64(r, i, c0);
    m->name = str(r, i, c0 + 1);
    m->_description_case = opt_str(r, i, c0 + 2, &m->description,
                                   SWIFTEATS__V1__MENU_ITEM___DESCRIPTION_DESCRIPTION);
    m->price = i64(r, i, c0 + 3);
    m->_image_url_case = opt_str(r, i, c0 + 4, &m->image_url,
                                 SWIFTEATS__V1__MENU_ITEM___IMAGE_URL_IMAGE_URL);
    m->available = boolean(r, i, c0 + 5);
    m->in_stock = boolean(r, i, c0 + 6);
    m->_dietary_info_case = opt_str(r, i, c0 + 7, &m->dietary_info,
                                    SWIFTEATS__V1__MENU_ITEM___DIETARY_INFO_DIETARY_INFO);
    if (!is_null(r, i, c0 + 8)) {
        m->_preparation_time_case = SWIFTEATS__V1__MENU_ITEM___PREPARATION_TIME_PREPARATION_TIME;
        m->preparation_time = (int32_t)i64(r, i, c0 + 8);
    }
    return m;
}

static Swifteats__V1__MenuCategory *category_from_row(const PGresult *r, int i)
{
    Swifteats__V1__MenuCategory *m = se_xmalloc(sizeof *m);
    swifteats__v1__menu_category__init(m);
    m->id = i64(r, i, 0);
    m->name = str(r, i, 1);
    m->_description_case = opt_str(r, i, 2, &m->description,
                                   SWIFTEATS__V1__MENU_CATEGORY___DESCRIPTION_DESCRIPTION);
    m->display_order = (int32_t)i64(r, i, 3);
    return m;
}

/* Rows are categories LEFT JOIN items ordered by category then item: group
 * them. Arrays are sized for the worst case (one row each). */
static void menu_fill(Swifteats__V1__Menu *m, const PGresult *r)
{
    int rows = PQntuples(r);
    m->categories = se_xcalloc((size_t)rows, sizeof *m->categories);
    Swifteats__V1__MenuCategory *cat = NULL;
    int64_t cat_id = 0;
    for (int i = 0; i < rows; i++) {
        if (cat == NULL || i64(r, i, 0) != cat_id) {
            cat = category_from_row(r, i);
            cat_id = cat->id;
            cat->items = se_xcalloc((size_t)(rows - i), sizeof *cat->items);
            m->categories[m->n_categories++] = cat;
        }
        if (!is_null(r, i, 4))
            cat->items[cat->n_items++] = item_from_row(r, i, 4);
    }
}

int menu_store_get_menu(menu_store *s, int64_t id, Swifteats__V1__Menu **out, se_status *st)
{
    PGresult *head = one_restaurant_row(
        s, "GetMenu",
        "SELECT " US("COALESCE(m.updated_at, r.created_at)")
        " FROM restaurants r LEFT JOIN menus m ON m.restaurant_id = r.id WHERE r.id = $1",
        id, st);
    if (head == NULL)
        return -1;
    char idt[24];
    id_text(idt, id);
    const char *p[] = {idt};
    PGresult *r = query(s, "GetMenu",
                        "SELECT c.id, c.name, c.description, c.display_order, i.id, i.name, "
                        "i.description, i.price_cents, i.image_url, i.available, i.in_stock, "
                        "i.dietary_info, i.preparation_time "
                        "FROM menu_categories c LEFT JOIN menu_items i "
                        "ON i.restaurant_id = c.restaurant_id AND i.category_id = c.id "
                        "WHERE c.restaurant_id = $1 ORDER BY c.display_order, c.id, i.id",
                        1, p, st);
    if (r == NULL) {
        PQclear(head);
        return -1;
    }
    Swifteats__V1__Menu *m = se_xmalloc(sizeof *m);
    swifteats__v1__menu__init(m);
    m->restaurant_id = id;
    m->updated_at = se_timestamp_from_us(i64(head, 0, 0));
    menu_fill(m, r);
    PQclear(head);
    PQclear(r);
    *out = m;
    return 0;
}

/* ---- lists ---------------------------------------------------------------- */

typedef struct list_sql {
    char where[256];
    const char *params[6];
    char buf[4][32];
    int n;
} list_sql;

static void list_where(list_sql *q, const menu_list_query *lq)
{
    size_t off = 0;
    q->where[0] = '\0';
    q->n = 0;
#define COND(fmt)                                                                             \
    off += (size_t)snprintf(q->where + off, sizeof q->where - off, "%s" fmt,                 \
                            q->n == 1 ? " WHERE " : " AND ", q->n)
    if (lq->cuisine) {
        q->params[q->n++] = menu_cuisine_text(lq->cuisine);
        COND("cuisine_type = $%d");
    }
    if (lq->status) {
        q->params[q->n++] = menu_status_text(lq->status);
        COND("status = $%d");
    }
    if (lq->min_rating > 0) {
        snprintf(q->buf[0], sizeof q->buf[0], "%.17g", lq->min_rating);
        q->params[q->n++] = q->buf[0];
        COND("rating >= $%d");
    }
    if (lq->city[0]) {
        q->params[q->n++] = lq->city;
        COND("lower(city) = lower($%d)");
    }
#undef COND
}

static int list_count(menu_store *s, const list_sql *q, int64_t *total, se_status *st)
{
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM restaurants%s", q->where);
    PGresult *r = query(s, "ListRestaurants", sql, q->n, q->params, st);
    if (r == NULL)
        return -1;
    *total = i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int menu_store_list(menu_store *s, const menu_list_query *lq,
                    Swifteats__V1__ListRestaurantsResponse **out, se_status *st)
{
    list_sql q;
    list_where(&q, lq);
    atomic_fetch_add(&s->loads, 1);
    int64_t total;
    if (list_count(s, &q, &total, st) != 0)
        return -1;
    snprintf(q.buf[1], sizeof q.buf[1], "%d", lq->page_size);
    snprintf(q.buf[2], sizeof q.buf[2], "%lld", (long long)(lq->page - 1) * lq->page_size);
    q.params[q.n] = q.buf[1];
    q.params[q.n + 1] = q.buf[2];
    char sql[768];
    snprintf(sql, sizeof sql,
             "SELECT " RESTAURANT_COLS " FROM restaurants%s ORDER BY id LIMIT $%d OFFSET $%d",
             q.where, q.n + 1, q.n + 2);
    PGresult *r = query(s, "ListRestaurants", sql, q.n + 2, q.params, st);
    if (r == NULL)
        return -1;
    Swifteats__V1__ListRestaurantsResponse *m = se_xmalloc(sizeof *m);
    swifteats__v1__list_restaurants_response__init(m);
    int rows = PQntuples(r);
    m->restaurants = se_xcalloc((size_t)rows, sizeof *m->restaurants);
    for (int i = 0; i < rows; i++)
        m->restaurants[m->n_restaurants++] = restaurant_from_row(r, i);
    m->total = total;
    m->page = lq->page;
    m->page_size = lq->page_size;
    PQclear(r);
    *out = m;
    return 0;
}

/* ---- items for orders ------------------------------------------------------ */

/* "{1,2,3}": a bigint[] literal. OWNERSHIP: caller frees. */
static char *id_array(const int64_t *ids, size_t n)
{
    char *buf = se_xmalloc(n * 21 + 3);
    size_t off = 0;
    buf[off++] = '{';
    for (size_t i = 0; i < n; i++)
        off += (size_t)sprintf(buf + off, "%s%lld", i ? "," : "", (long long)ids[i]);
    buf[off++] = '}';
    buf[off] = '\0';
    return buf;
}

static Swifteats__V1__OrderableItem *orderable(int64_t id, const PGresult *r)
{
    Swifteats__V1__OrderableItem *m = se_xmalloc(sizeof *m);
    swifteats__v1__orderable_item__init(m);
    m->item_id = id;
    m->name = se_xstrdup("");
    for (int i = 0; r != NULL && i < PQntuples(r); i++) {
        if (i64(r, i, 0) != id)
            continue;
        free(m->name);
        m->found = 1;
        m->restaurant_id = i64(r, i, 1);
        m->name = str(r, i, 2);
        m->price = i64(r, i, 3);
        m->available = boolean(r, i, 4);
        m->in_stock = boolean(r, i, 5);
        m->restaurant_status = menu_status_from_text(val(r, i, 6));
        break;
    }
    return m;
}

int menu_store_items_for_order(menu_store *s, const int64_t *ids, size_t n,
                               Swifteats__V1__GetItemsForOrderResponse **out, se_status *st)
{
    char *arr = id_array(ids, n);
    const char *p[] = {arr};
    atomic_fetch_add(&s->loads, 1);
    /* prepared, on the pricing pool (generic plan): every order placed runs it */
    PGresult *r = query_on_pool(s->pricing, "GetItemsForOrder",
                        /* the status as a subquery, not a join: no join order for
                         * the generic plan to get wrong (it picked a hash join
                         * over all restaurants) - two primary-key probes per item */
                        "SELECT i.id, i.restaurant_id, i.name, i.price_cents, i.available, "
                        "i.in_stock, (SELECT r.status FROM restaurants r "
                        "WHERE r.id = i.restaurant_id) FROM menu_items i "
                        "WHERE i.id = ANY($1::bigint[])",
                        1, p, 1, st);
    free(arr);
    if (r == NULL)
        return -1;
    Swifteats__V1__GetItemsForOrderResponse *m = se_xmalloc(sizeof *m);
    swifteats__v1__get_items_for_order_response__init(m);
    m->items = se_xcalloc(n, sizeof *m->items);
    for (size_t i = 0; i < n; i++)
        m->items[m->n_items++] = orderable(ids[i], r);
    PQclear(r);
    *out = m;
    return 0;
}

/* ---- writes ------------------------------------------------------------------ */

/* Shared state of a write transaction: the business outcome is st (code
 * OK unless the body decided otherwise). */
typedef struct tx_arg {
    se_status st;
    int64_t restaurant_id;
    /* UpdateRestaurantStatus */
    int status, has_capacity;
    int32_t capacity;
    /* UpdateItemAvailability / BulkUpdateItemAvailability */
    const menu_item_flags *items;
    size_t n_items;
} tx_arg;

/* Ends a transaction body with a business error (rolls back). */
static int tx_refuse(se_pg_err *err, tx_arg *a, grpc_status_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int tx_refuse(se_pg_err *err, tx_arg *a, grpc_status_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->st.message, sizeof a->st.message, fmt, ap);
    va_end(ap);
    a->st.code = code;
    err->sqlstate[0] = '\0';
    snprintf(err->msg, sizeof err->msg, "%s", a->st.message);
    return -1;
}

/* Runs body in a transaction and maps the outcome to st. */
static int run_tx(menu_store *s, const char *what, se_pg_tx_fn body, tx_arg *a, se_status *st)
{
    se_pg_conn *c = acquire(s, st);
    if (c == NULL)
        return -1;
    a->st.code = GRPC_STATUS_OK;
    a->st.message[0] = '\0';
    se_pg_err e;
    int rc = se_pg_tx(c, SE_PG_TX_RETRY, body, a, &e);
    se_pg_pool_release(s->pg, c);
    if (rc == 0)
        return 0;
    if (a->st.code != GRPC_STATUS_OK)
        *st = a->st;
    else
        pg_status(st, &e, what);
    return -1;
}

static int status_body(se_pg_conn *c, void *arg, se_pg_err *err)
{
    tx_arg *a = arg;
    char idt[24], capt[16];
    id_text(idt, a->restaurant_id);
    const char *p1[] = {idt};
    PGresult *r = se_pg_exec_params(
        c, "SELECT max_capacity, current_capacity FROM restaurants WHERE id = $1 FOR UPDATE", 1,
        p1, 0, err);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return tx_refuse(err, a, GRPC_STATUS_NOT_FOUND, "restaurant %s not found", idt);
    }
    int has_max = !is_null(r, 0, 0);
    int64_t max = has_max ? i64(r, 0, 0) : 0;
    int32_t cap = a->has_capacity ? a->capacity : (int32_t)i64(r, 0, 1);
    PQclear(r);
    if (a->has_capacity && has_max && cap > max)
        return tx_refuse(err, a, GRPC_STATUS_INVALID_ARGUMENT,
                         "current_capacity %d exceeds max_capacity %lld of restaurant %s", cap,
                         (long long)max, idt);
    snprintf(capt, sizeof capt, "%d", cap);
    const char *p2[] = {idt, menu_status_text(a->status), capt};
    r = se_pg_exec_params(c,
                          "UPDATE restaurants SET status = $2, current_capacity = $3, "
                          "updated_at = now(), status_updated_at = now() WHERE id = $1 "
                          "AND (status <> $2 OR current_capacity <> $3)",
                          3, p2, 0, err);
    if (r == NULL)
        return -1;
    PQclear(r);
    a->capacity = cap;
    return 0;
}

int menu_store_update_status(menu_store *s, int64_t id, int status, int has_capacity,
                             int32_t capacity, int32_t *new_capacity, se_status *st)
{
    tx_arg a = {.restaurant_id = id, .status = status, .has_capacity = has_capacity,
                .capacity = capacity};
    if (run_tx(s, "UpdateRestaurantStatus", status_body, &a, st) != 0)
        return -1;
    *new_capacity = a.capacity;
    return 0;
}

/* 1 if restaurant `idt` exists, 0 if not, -1 on error. */
static int restaurant_exists(se_pg_conn *c, const char *idt, se_pg_err *err)
{
    const char *p[] = {idt};
    PGresult *r = se_pg_exec_params(c, "SELECT 1 FROM restaurants WHERE id = $1 FOR SHARE", 1, p,
                                    0, err);
    if (r == NULL)
        return -1;
    int n = PQntuples(r);
    PQclear(r);
    return n > 0;
}

static int touch_menu(se_pg_conn *c, const char *idt, se_pg_err *err)
{
    const char *p[] = {idt};
    PGresult *r = se_pg_exec_params(
        c,
        "INSERT INTO menus (restaurant_id) VALUES ($1) "
        "ON CONFLICT (restaurant_id) DO UPDATE SET updated_at = now()",
        1, p, 0, err);
    if (r == NULL)
        return -1;
    PQclear(r);
    return 0;
}

/* The items as three array literals for unnest(). OWNERSHIP: caller frees. */
static void flag_arrays(const menu_item_flags *it, size_t n, char **ids, char **av, char **ins)
{
    int64_t *tmp = se_xcalloc(n, sizeof *tmp);
    *av = se_xmalloc(n * 2 + 3);
    *ins = se_xmalloc(n * 2 + 3);
    size_t o = 0;
    (*av)[o] = (*ins)[o] = '{';
    o++;
    for (size_t i = 0; i < n; i++) {
        tmp[i] = it[i].item_id;
        if (i) {
            (*av)[o] = (*ins)[o] = ',';
            o++;
        }
        (*av)[o] = it[i].available ? 't' : 'f';
        (*ins)[o] = it[i].in_stock ? 't' : 'f';
        o++;
    }
    (*av)[o] = (*ins)[o] = '}';
    (*av)[o + 1] = (*ins)[o + 1] = '\0';
    *ids = id_array(tmp, n);
    free(tmp);
}

/* The first item of a->items (request order) missing from r's id column. */
static const menu_item_flags *first_missing(const tx_arg *a, const PGresult *r)
{
    for (size_t i = 0; i < a->n_items; i++) {
        int found = 0;
        for (int j = 0; j < PQntuples(r) && !found; j++)
            found = i64(r, j, 0) == a->items[i].item_id;
        if (!found)
            return &a->items[i];
    }
    return NULL;
}

static int items_body(se_pg_conn *c, void *arg, se_pg_err *err)
{
    tx_arg *a = arg;
    char idt[24];
    id_text(idt, a->restaurant_id);
    int exists = restaurant_exists(c, idt, err);
    if (exists < 0)
        return -1;
    if (exists == 0)
        return tx_refuse(err, a, GRPC_STATUS_NOT_FOUND, "restaurant %s not found", idt);
    char *ids, *av, *ins;
    flag_arrays(a->items, a->n_items, &ids, &av, &ins);
    const char *p[] = {idt, ids, av, ins};
    PGresult *r = se_pg_exec_params(
        c,
        "UPDATE menu_items m SET available = v.av, in_stock = v.st, updated_at = now() "
        "FROM unnest($2::bigint[], $3::boolean[], $4::boolean[]) AS v(id, av, st) "
        "WHERE m.id = v.id AND m.restaurant_id = $1 RETURNING m.id",
        4, p, 0, err);
    free(ids);
    free(av);
    free(ins);
    if (r == NULL)
        return -1;
    const menu_item_flags *miss = first_missing(a, r);
    PQclear(r);
    if (miss != NULL)
        return tx_refuse(err, a, GRPC_STATUS_NOT_FOUND,
                         "item %lld not found on the menu of restaurant %s",
                         (long long)miss->item_id, idt);
    return touch_menu(c, idt, err);
}

int menu_store_update_item(menu_store *s, int64_t restaurant_id, int64_t item_id, int available,
                           int in_stock, se_status *st)
{
    menu_item_flags f = {item_id, available, in_stock};
    tx_arg a = {.restaurant_id = restaurant_id, .items = &f, .n_items = 1};
    return run_tx(s, "UpdateItemAvailability", items_body, &a, st);
}

int menu_store_bulk_update(menu_store *s, int64_t restaurant_id, const menu_item_flags *items,
                           size_t n, se_status *st)
{
    tx_arg a = {.restaurant_id = restaurant_id, .items = items, .n_items = n};
    return run_tx(s, "BulkUpdateItemAvailability", items_body, &a, st);
}

/* ---- cache epoch ------------------------------------------------------------ */

static int epoch_query(menu_store *s, const char *sql, int64_t *epoch, se_status *st)
{
    PGresult *r = query(s, "cache epoch", sql, 0, NULL, st);
    if (r == NULL)
        return -1;
    if (PQntuples(r) != 1) {
        PQclear(r);
        se_status_set(st, GRPC_STATUS_INTERNAL, "menu: menu_cache_epoch has no row");
        return -1;
    }
    *epoch = i64(r, 0, 0);
    PQclear(r);
    return 0;
}

int menu_store_cache_epoch(menu_store *s, int64_t *epoch, se_status *st)
{
    return epoch_query(s, "SELECT epoch FROM menu_cache_epoch WHERE id = 1", epoch, st);
}

int menu_store_bump_cache_epoch(menu_store *s, int64_t *epoch, se_status *st)
{
    return epoch_query(s,
                       "UPDATE menu_cache_epoch SET epoch = epoch + 1 WHERE id = 1 "
                       "RETURNING epoch",
                       epoch, st);
}
