/* order_store.c - PostgreSQL access of the order service (see order_store.h).
 *
 * DESIGN
 * - Writes are single statements with data-modifying CTEs: CreateOrder's
 *   order + items + outbox row, RecordPaymentAttempt's lock + upsert
 *   (+ with complete_outcome the move to the final state and the outbox
 *   DELETE), GetPaymentJob's read + lock + attempt start, a
 *   transition's guarded UPDATE + outbox DELETE. The payment worker's
 *   common case is thus two statements per order: start the attempt,
 *   record its outcome together with the order's final state. One
 *   statement is one implicit transaction: atomic, and one round trip
 *   instead of BEGIN / n statements / COMMIT (CreateOrder is the hot path:
 *   2,000/s is the target).
 * - The state machine lives in SQL: "UPDATE orders ... WHERE id = $1 AND
 *   status = ANY(<allowed from>) RETURNING". The guard and the write are one
 *   atomic step, so two racing transitions cannot both succeed. Only when
 *   the guard matched nothing is the order read again, to tell NOT_FOUND, an
 *   unchanged repeat (already in the target state: idempotent retries) and
 *   FAILED_PRECONDITION apart.
 * - Idempotency-Key: a partial UNIQUE index on (customer_id,
 *   idempotency_key). CreateOrder inserts with ON CONFLICT DO NOTHING; when
 *   a concurrent request with the same key won, the insert returns nothing
 *   (it waited for the winner's commit) and the winner's order is read and
 *   compared by request fingerprint.
 * - Reads run without an explicit transaction: an order row, then its items
 *   and its attempts, each in ONE query for a whole ListOrders page
 *   (order_id = ANY($1)), never one query per order. The Order's
 *   updated_at is the later of the row's (its last status change) and its
 *   attempts' (bump_updated_at).
 * - Every statement is prepared once per connection (se_pg_exec_prepared):
 *   planning the CreateOrder INSERT cost as much as running it.
 * - Text protocol throughout; times are selected as bigint microseconds
 *   since the Unix epoch (US(col)); arrays are sent as array literals.
 *
 * EXPLAIN (20,000 orders over 200 customers and 5 states, after VACUUM
 * ANALYZE; checked by tests/unit/test_order_query.c,
 * list_queries_use_indexes; no Seq Scan):
 *   ListOrders page, no filter:  Limit <- Index Scan using orders_created
 *     (ordered: stops after page_size rows, also deep pages)
 *   ... by customer_id:          Limit <- Index Scan using
 *                                orders_customer_created
 *   ... by status:               Limit <- Index Scan using orders_status_created
 *   ... by both:                 Sort <- Bitmap Heap Scan (Filter: status) <-
 *                                Bitmap Index Scan on orders_customer_created
 *   totals with a filter:        Index Only Scan of the same indexes (the
 *                                unfiltered count is a Seq Scan: it reads all)
 *   items / attempts of a page:  Index Scan using order_items_order_line /
 *                                payment_attempts_order_attempt
 *   Idempotency-Key look-up:     Index Scan using orders_customer_idempotency_key
 *   outbox claim:                Index Scan using payment_outbox_pkey; its two
 *                                InitPlans: Limit <- LockRows <- Index Scan
 *                                using payment_outbox_fresh /
 *                                payment_outbox_enqueued_at
 *   (every statement is prepared: the test checks the generic plans too)
 */
#include "order_store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order_migrations.h"
#include "order_util.h"
#include "se_alloc.h"
#include "se_log.h"
#include "se_pg_rpc.h"
#include "se_time.h"

#define US(col) "(extract(epoch FROM " col ") * 1000000)::bigint"

/* The columns order_from_row reads, in its order. */
#define ORDER_COLS                                                                           \
    "o.id, o.customer_id, o.total_amount, o.status, " US("o.created_at") ", " US("o.updated_at")
#define ORDER_NCOLS 6

#define ATTEMPT_COLS                                                                         \
    "a.id, a.attempt_number, a.status, a.amount, a.error_message, " US("a.created_at")        \
    ", a.gateway_charge_id, " US("a.updated_at")

struct order_store {
    se_pg_pool *pg;      /* borrowed */
    se_pg_pool *pay_pg;  /* borrowed: the payment worker's statements */
};

order_store *order_store_create(se_pg_pool *pg, se_pg_pool *payment_pg)
{
    order_store *s = se_xcalloc(1, sizeof *s);
    s->pg = pg;
    s->pay_pg = payment_pg != NULL ? payment_pg : pg;
    return s;
}

void order_store_destroy(order_store *s)
{
    free(s);
}

/* ---- connections and errors ------------------------------------------------- */

static se_pg_conn *acquire(order_store *s, se_status *st)
{
    return se_pg_acquire_for_call(s->pg, "order", st);
}

static se_pg_conn *acquire_payment(order_store *s, se_status *st)
{
    return se_pg_acquire_for_call(s->pay_pg, "order", st);
}

static void pg_status(se_status *st, const se_pg_err *e, const char *what)
{
    se_pg_status(st, e, "order", what);
}

/* One statement on c, prepared (every statement here is fixed text, the
 * list queries come in 8 variants); NULL with st filled on failure.
 * `flags`: 0 or SE_PG_IDEMPOTENT (reads, and writes safe to repeat). */
static PGresult *run(se_pg_conn *c, const char *what, const char *sql, int n,
                     const char *const *params, int flags, se_status *st)
{
    se_pg_err e;
    PGresult *r = se_pg_exec_prepared(c, sql, n, params, flags, &e);
    if (r == NULL)
        pg_status(st, &e, what);
    return r;
}

int order_store_migrate(order_store *s)
{
    se_status st;
    se_pg_conn *c = acquire(s, &st);
    if (c == NULL) {
        se_log_error("order_migrate_failed", "%s", st.message);
        return -1;
    }
    se_pg_err e;
    int n = se_pg_migrate_list(c, "order", order_migrations, order_n_migrations, &e);
    se_pg_pool_release(s->pg, c);
    if (n < 0) {
        se_log_error("order_migrate_failed", "%s", e.msg);
        return -1;
    }
    se_log_info("order_migrated", "%d migration(s) applied", n);
    return 0;
}

/* ---- text in and out ------------------------------------------------------------ */

static const char *val(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col);
}

static int64_t i64(const PGresult *r, int row, int col)
{
    return strtoll(val(r, row, col), NULL, 10);
}

static char *str(const PGresult *r, int row, int col)
{
    return se_xstrdup(val(r, row, col));
}

/* An optional text column into a one-field oneof: sets *field and returns
 * the case to store (0 for NULL). */
static int opt_str(const PGresult *r, int row, int col, char **field, int present_case)
{
    if (PQgetisnull(r, row, col))
        return 0;
    *field = str(r, row, col);
    return present_case;
}

/* A growable NUL-terminated buffer for array literals. */
typedef struct text_buf {
    char *p;
    size_t len, cap;
} text_buf;

static void buf_put(text_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = se_xmalloc(cap);
        if (b->len)
            memcpy(p, b->p, b->len);
        free(b->p);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_i64(text_buf *b, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    buf_put(b, num, (size_t)n);
}

/* "{1,2,3}" from n int64 values picked by get(arg, i). */
static char *int_array(size_t n, int64_t (*get)(const void *arg, size_t i), const void *arg)
{
    text_buf b = {0};
    buf_put(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_put(&b, ",", 1);
        buf_i64(&b, get(arg, i));
    }
    buf_put(&b, "}", 1);
    return b.p;
}

/* Appends s as a double-quoted array element ("a \"b\" \\c"). */
static void buf_quoted(text_buf *b, const char *s)
{
    buf_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"' || *p == '\\')
            buf_put(b, "\\", 1);
        buf_put(b, p, 1);
    }
    buf_put(b, "\"", 1);
}

/* "\x0123..": a bytea in hex text form. out must hold 2 * n + 3 bytes. */
static const char *bytea_hex(char *out, const uint8_t *bytes, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = hex[bytes[i] >> 4];
        out[3 + 2 * i] = hex[bytes[i] & 15];
    }
    out[2 + 2 * n] = '\0';
    return out;
}

/* ---- building messages ------------------------------------------------------------ */

/* An Order (without items and attempts) from ORDER_COLS at column `col`. */
static Swifteats__V1__Order *order_from_row(const PGresult *r, int i, int col)
{
    Swifteats__V1__Order *o = se_xmalloc(sizeof *o);
    swifteats__v1__order__init(o);
    o->id = i64(r, i, col);
    o->customer_id = str(r, i, col + 1);
    o->total_amount = i64(r, i, col + 2);
    o->status = order_status_from_text(val(r, i, col + 3));
    o->created_at = se_timestamp_from_us(i64(r, i, col + 4));
    o->updated_at = se_timestamp_from_us(i64(r, i, col + 5));
    return o;
}

/* A PaymentAttempt from ATTEMPT_COLS at column `col`. */
static Swifteats__V1__PaymentAttempt *attempt_from_row(const PGresult *r, int i, int col)
{
    Swifteats__V1__PaymentAttempt *a = se_xmalloc(sizeof *a);
    swifteats__v1__payment_attempt__init(a);
    a->id = i64(r, i, col);
    a->attempt_number = (int32_t)i64(r, i, col + 1);
    a->status = order_attempt_status_from_text(val(r, i, col + 2));
    a->amount = i64(r, i, col + 3);
    a->_error_message_case = opt_str(r, i, col + 4, &a->error_message,
                                     SWIFTEATS__V1__PAYMENT_ATTEMPT___ERROR_MESSAGE_ERROR_MESSAGE);
    a->created_at = se_timestamp_from_us(i64(r, i, col + 5));
    a->_gateway_charge_id_case =
        opt_str(r, i, col + 6, &a->gateway_charge_id,
                SWIFTEATS__V1__PAYMENT_ATTEMPT___GATEWAY_CHARGE_ID_GATEWAY_CHARGE_ID);
    a->updated_at = se_timestamp_from_us(i64(r, i, col + 7));
    return a;
}

static Swifteats__V1__OrderItem *item_from_row(const PGresult *r, int i, int col)
{
    Swifteats__V1__OrderItem *it = se_xmalloc(sizeof *it);
    swifteats__v1__order_item__init(it);
    it->id = i64(r, i, col);
    it->item_id = str(r, i, col + 1);
    it->item_name = str(r, i, col + 2);
    it->quantity = (int32_t)i64(r, i, col + 3);
    it->price = i64(r, i, col + 4);
    return it;
}

static int64_t order_id_at(const void *arg, size_t i)
{
    return ((Swifteats__V1__Order *const *)arg)[i]->id;
}

/* Index in orders[] of the order a child row belongs to (rows come grouped
 * by order_id; *hint remembers the last match). -1 if none. */
static int owner_of(Swifteats__V1__Order **orders, int n, int64_t id, int *hint)
{
    if (*hint >= 0 && orders[*hint]->id == id)
        return *hint;
    for (int k = 0; k < n; k++)
        if (orders[k]->id == id)
            return *hint = k;
    return -1;
}

/* An order's updated_at is "when its status or a payment attempt last
 * changed" (order.proto). The orders row keeps the status change only: an
 * attempt's change is in its own row, and writing it into the order too
 * cost a new version of the order row (and an entry in each of its five
 * indexes) per payment attempt. So the Order message takes the later of
 * the two when it is read with its attempts. */
static void bump_updated_at(Swifteats__V1__Order *o, const Google__Protobuf__Timestamp *t)
{
    Google__Protobuf__Timestamp *u = o->updated_at;
    if (t == NULL || u == NULL)
        return;
    if (t->seconds > u->seconds || (t->seconds == u->seconds && t->nanos > u->nanos)) {
        u->seconds = t->seconds;
        u->nanos = t->nanos;
    }
}

/* Attaches the rows of r (column 0: order_id, then the child's columns) to
 * their orders: items (attempts = 0) or payment_attempts (attempts = 1). */
static void attach_children(Swifteats__V1__Order **orders, int n, const PGresult *r, int attempts)
{
    int rows = PQntuples(r), hint = -1;
    size_t *count = se_xcalloc((size_t)n, sizeof *count);
    for (int i = 0; i < rows; i++) {
        int k = owner_of(orders, n, i64(r, i, 0), &hint);
        if (k >= 0)
            count[k]++;
    }
    for (int k = 0; k < n; k++) {
        if (attempts)
            orders[k]->payment_attempts = se_xcalloc(count[k], sizeof(void *));
        else
            orders[k]->items = se_xcalloc(count[k], sizeof(void *));
    }
    for (int i = 0; i < rows; i++) {
        int k = owner_of(orders, n, i64(r, i, 0), &hint);
        if (k < 0)
            continue;
        Swifteats__V1__Order *o = orders[k];
        if (attempts) {
            Swifteats__V1__PaymentAttempt *a = attempt_from_row(r, i, 1);
            o->payment_attempts[o->n_payment_attempts++] = a;
            bump_updated_at(o, a->updated_at);
        } else {
            o->items[o->n_items++] = item_from_row(r, i, 1);
        }
    }
    free(count);
}

/* Loads the items and payment attempts of n orders: two queries. */
static int load_children(se_pg_conn *c, Swifteats__V1__Order **orders, int n, se_status *st)
{
    if (n == 0)
        return 0;
    char *ids = int_array((size_t)n, order_id_at, orders);
    const char *p[] = {ids};
    PGresult *items = run(c, "reading order items",
                          "SELECT i.order_id, i.id, i.menu_item_id::text, i.item_name, "
                          "i.quantity, i.price FROM order_items i "
                          "WHERE i.order_id = ANY($1::bigint[]) ORDER BY i.order_id, i.line_no",
                          1, p, SE_PG_IDEMPOTENT, st);
    PGresult *atts = items == NULL ? NULL
                                   : run(c, "reading payment attempts",
                                         "SELECT a.order_id, " ATTEMPT_COLS
                                         " FROM payment_attempts a WHERE a.order_id = "
                                         "ANY($1::bigint[]) ORDER BY a.order_id, a.attempt_number",
                                         1, p, SE_PG_IDEMPOTENT, st);
    free(ids);
    if (atts == NULL) {
        PQclear(items);
        return -1;
    }
    attach_children(orders, n, items, 0);
    attach_children(orders, n, atts, 1);
    PQclear(items);
    PQclear(atts);
    return 0;
}

/* The complete order `id` on c: 1 and *out, 0 if there is none, -1. */
static int get_on(se_pg_conn *c, int64_t id, Swifteats__V1__Order **out, se_status *st)
{
    char idt[24];
    const char *p[] = {order_id_text(idt, id)};
    PGresult *r = run(c, "reading the order", "SELECT " ORDER_COLS " FROM orders o WHERE o.id = $1",
                      1, p, SE_PG_IDEMPOTENT, st);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 0;
    }
    Swifteats__V1__Order *o = order_from_row(r, 0, 0);
    PQclear(r);
    if (load_children(c, &o, 1, st) != 0) {
        se_msg_free(&o->base);
        return -1;
    }
    *out = o;
    return 1;
}

int order_store_get(order_store *s, int64_t id, Swifteats__V1__Order **out, se_status *st)
{
    se_pg_conn *c = acquire(s, st);
    if (c == NULL)
        return -1;
    int found = get_on(c, id, out, st);
    se_pg_pool_release(s->pg, c);
    if (found == 0)
        se_status_set(st, GRPC_STATUS_NOT_FOUND, "order %" PRId64 " not found", id);
    return found == 1 ? 0 : -1;
}

/* ---- CreateOrder ------------------------------------------------------------------- */

/* order_store_find_by_key on c. */
static int find_by_key_on(se_pg_conn *c, const char *customer_id, const char *key,
                          const uint8_t *fingerprint, Swifteats__V1__Order **out, se_status *st)
{
    char fp[2 * ORDER_FINGERPRINT_LEN + 3];
    const char *p[] = {customer_id, key, bytea_hex(fp, fingerprint, ORDER_FINGERPRINT_LEN)};
    PGresult *r = run(c, "reading the Idempotency-Key",
                      "SELECT o.id, o.request_fingerprint = $3::bytea FROM orders o "
                      "WHERE o.customer_id = $1 AND o.idempotency_key = $2",
                      3, p, SE_PG_IDEMPOTENT, st);
    if (r == NULL)
        return -1;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return 1;
    }
    int64_t id = i64(r, 0, 0);
    int same = val(r, 0, 1)[0] == 't';
    PQclear(r);
    if (!same) {
        se_status_set(st, GRPC_STATUS_ALREADY_EXISTS,
                      "Idempotency-Key %s was already used with a different request", key);
        return -1;
    }
    int found = get_on(c, id, out, st);
    if (found == 0) /* orders are never deleted; only a manual DELETE gets here */
        se_status_set(st, GRPC_STATUS_ABORTED, "order %" PRId64 " vanished; retry", id);
    return found == 1 ? 0 : -1;
}

int order_store_find_by_key(order_store *s, const char *customer_id, const char *key,
                            const uint8_t *fingerprint, Swifteats__V1__Order **out,
                            se_status *st)
{
    se_pg_conn *c = acquire(s, st);
    if (c == NULL)
        return -1;
    int rc = find_by_key_on(c, customer_id, key, fingerprint, out, st);
    se_pg_pool_release(s->pg, c);
    return rc;
}

/* The four parallel arrays of the lines: ids, names, quantities, prices. */
static void line_arrays(const order_new *o, char *arr[4])
{
    text_buf b[4] = {{0}};
    for (int k = 0; k < 4; k++)
        buf_put(&b[k], "{", 1);
    for (size_t i = 0; i < o->n_lines; i++) {
        const order_line *l = &o->lines[i];
        if (i)
            for (int k = 0; k < 4; k++)
                buf_put(&b[k], ",", 1);
        buf_i64(&b[0], l->menu_item_id);
        buf_quoted(&b[1], l->name);
        buf_i64(&b[2], l->quantity);
        buf_i64(&b[3], l->price);
    }
    for (int k = 0; k < 4; k++) {
        buf_put(&b[k], "}", 1);
        arr[k] = b[k].p;
    }
}

/* The Order just inserted, from the request's lines and the statement's
 * row `row` (id, created, updated, comma-separated item ids in line order). */
static Swifteats__V1__Order *new_order_message(const order_new *o, const PGresult *r, int row)
{
    Swifteats__V1__Order *m = se_xmalloc(sizeof *m);
    swifteats__v1__order__init(m);
    m->id = i64(r, row, 0);
    m->customer_id = se_xstrdup(o->customer_id);
    m->total_amount = o->total_amount;
    m->status = SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING;
    m->created_at = se_timestamp_from_us(i64(r, row, 1));
    m->updated_at = se_timestamp_from_us(i64(r, row, 2));
    m->items = se_xcalloc(o->n_lines, sizeof *m->items);
    const char *ids = val(r, row, 3);
    char idt[24];
    for (size_t i = 0; i < o->n_lines; i++) {
        Swifteats__V1__OrderItem *it = se_xmalloc(sizeof *it);
        swifteats__v1__order_item__init(it);
        char *end;
        it->id = strtoll(ids, &end, 10);
        ids = *end == ',' ? end + 1 : end;
        it->item_id = se_xstrdup(order_id_text(idt, o->lines[i].menu_item_id));
        it->item_name = se_xstrdup(o->lines[i].name);
        it->quantity = o->lines[i].quantity;
        it->price = o->lines[i].price;
        m->items[m->n_items++] = it;
    }
    return m;
}

/* $1 customer, $2 total, $3 key, $4 fingerprint, $5..$8 the line arrays,
 * $9 request id. Nothing is inserted when the key is taken (o is empty). */
static const char insert_sql[] =
    "WITH o AS ("
    " INSERT INTO orders (customer_id, total_amount, status, idempotency_key,"
    " request_fingerprint)"
    " VALUES ($1, $2, 'payment_processing', $3, $4::bytea)"
    " ON CONFLICT (customer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    " RETURNING id, created_at, updated_at),"
    " i AS ("
    " INSERT INTO order_items (order_id, line_no, menu_item_id, item_name, quantity, price)"
    " SELECT o.id, l.n - 1, l.item, l.name, l.qty, l.price FROM o,"
    " unnest($5::bigint[], $6::text[], $7::integer[], $8::bigint[]) WITH ORDINALITY"
    " AS l (item, name, qty, price, n)"
    " RETURNING id, line_no),"
    " b AS (INSERT INTO payment_outbox (order_id, request_id) SELECT o.id, $9 FROM o)"
    " SELECT o.id, " US("o.created_at") ", " US("o.updated_at") ","
    " (SELECT string_agg(i.id::text, ',' ORDER BY i.line_no) FROM i) FROM o";

int order_store_insert(order_store *s, const order_new *o, Swifteats__V1__Order **out,
                       se_status *st)
{
    char total[24], fp[2 * ORDER_FINGERPRINT_LEN + 3], *arr[4];
    line_arrays(o, arr);
    const char *p[] = {o->customer_id,
                       order_id_text(total, o->total_amount),
                       o->idempotency_key,
                       o->idempotency_key ? bytea_hex(fp, o->fingerprint, ORDER_FINGERPRINT_LEN)
                                          : NULL,
                       arr[0], arr[1], arr[2], arr[3],
                       o->request_id};
    int rc = -1;
    se_pg_conn *c = acquire(s, st);
    if (c != NULL) {
        /* not SE_PG_IDEMPOTENT: a retry after a lost commit could insert twice */
        PGresult *r = run(c, "inserting the order", insert_sql, 9, p, 0, st);
        if (r != NULL && PQntuples(r) == 1) {
            *out = new_order_message(o, r, 0);
            rc = 1;
        } else if (r != NULL && o->idempotency_key != NULL) {
            rc = find_by_key_on(c, o->customer_id, o->idempotency_key, o->fingerprint, out, st);
            if (rc == 1) { /* the winner rolled back after our insert gave way: rare */
                se_status_set(st, GRPC_STATUS_ABORTED,
                              "a concurrent request with the same Idempotency-Key failed; retry");
                rc = -1;
            }
        } else if (r != NULL) {
            se_status_set(st, GRPC_STATUS_INTERNAL, "order: the insert returned no row");
        }
        PQclear(r);
        se_pg_pool_release(s->pg, c);
    }
    for (int k = 0; k < 4; k++)
        free(arr[k]);
    return rc;
}

/* ---- CreateOrder in batches ----------------------------------------------------------- */

/* $1..$5 one element per order: customer, total, key (NULL: none),
 * fingerprint as hex text (NULL with no key), request id; $6..$11 one
 * element per line of every order: the order's 1-based position in $1..$5,
 * line number, item, name, quantity, price. Ids are drawn from the orders'
 * identity sequence up front (req is materialized: one nextval per order)
 * so the rows RETURNING gives back can be matched to their requests. One
 * row per order, in request order; its id is NULL when its key was taken
 * (by an earlier order or by one earlier in the same batch). */
static const char insert_many_sql[] =
    "WITH req AS MATERIALIZED ("
    " SELECT nextval('orders_id_seq') AS id, r.* FROM"
    " unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY"
    " AS r (customer_id, total, key, fp, request_id, n)),"
    " o AS ("
    " INSERT INTO orders (id, customer_id, total_amount, status, idempotency_key,"
    " request_fingerprint)"
    " SELECT id, customer_id, total, 'payment_processing', key, decode(fp, 'hex')"
    " FROM req ORDER BY n"
    " ON CONFLICT (customer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    " RETURNING id, created_at, updated_at),"
    " i AS ("
    " INSERT INTO order_items (order_id, line_no, menu_item_id, item_name, quantity, price)"
    " SELECT o.id, l.line_no, l.item, l.name, l.qty, l.price FROM"
    " unnest($6::bigint[], $7::smallint[], $8::bigint[], $9::text[], $10::integer[],"
    " $11::bigint[]) AS l (n, line_no, item, name, qty, price)"
    " JOIN req ON req.n = l.n JOIN o ON o.id = req.id"
    " RETURNING id, order_id, line_no),"
    " b AS (INSERT INTO payment_outbox (order_id, request_id)"
    " SELECT o.id, req.request_id FROM o JOIN req ON req.id = o.id)"
    " SELECT o.id, " US("o.created_at") ", " US("o.updated_at") ", ia.ids"
    " FROM req LEFT JOIN o ON o.id = req.id"
    " LEFT JOIN (SELECT order_id, string_agg(id::text, ',' ORDER BY line_no) AS ids"
    " FROM i GROUP BY order_id) ia ON ia.order_id = o.id"
    " ORDER BY req.n";

/* The eleven array literals of insert_many_sql. */
static void many_arrays(const order_new *const *o, size_t n, char *arr[11])
{
    text_buf b[11] = {{0}};
    for (int k = 0; k < 11; k++)
        buf_put(&b[k], "{", 1);
    size_t lines = 0;
    for (size_t i = 0; i < n; i++) {
        char fp[2 * ORDER_FINGERPRINT_LEN + 3];
        if (i)
            for (int k = 0; k < 5; k++)
                buf_put(&b[k], ",", 1);
        buf_quoted(&b[0], o[i]->customer_id);
        buf_i64(&b[1], o[i]->total_amount);
        if (o[i]->idempotency_key != NULL) {
            buf_quoted(&b[2], o[i]->idempotency_key);
            /* without the "\x" prefix: decode(fp, 'hex') */
            buf_quoted(&b[3], bytea_hex(fp, o[i]->fingerprint, ORDER_FINGERPRINT_LEN) + 2);
        } else {
            buf_put(&b[2], "NULL", 4);
            buf_put(&b[3], "NULL", 4);
        }
        buf_quoted(&b[4], o[i]->request_id ? o[i]->request_id : "");
        for (size_t j = 0; j < o[i]->n_lines; j++, lines++) {
            const order_line *l = &o[i]->lines[j];
            if (lines)
                for (int k = 5; k < 11; k++)
                    buf_put(&b[k], ",", 1);
            buf_i64(&b[5], (int64_t)i + 1);
            buf_i64(&b[6], (int64_t)j);
            buf_i64(&b[7], l->menu_item_id);
            buf_quoted(&b[8], l->name);
            buf_i64(&b[9], l->quantity);
            buf_i64(&b[10], l->price);
        }
    }
    for (int k = 0; k < 11; k++) {
        buf_put(&b[k], "}", 1);
        arr[k] = b[k].p;
    }
}

/* Order i of a batch after insert_many_sql's row i: inserted (1), or its
 * key was taken (as order_store_insert: 0 with the order, or -1). */
static int many_result(se_pg_conn *c, const order_new *o, const PGresult *r, int i,
                       Swifteats__V1__Order **out, se_status *st)
{
    if (!PQgetisnull(r, i, 0)) {
        *out = new_order_message(o, r, i);
        return 1;
    }
    if (o->idempotency_key == NULL) {
        se_status_set(st, GRPC_STATUS_INTERNAL, "order: the insert returned no row");
        return -1;
    }
    int rc = find_by_key_on(c, o->customer_id, o->idempotency_key, o->fingerprint, out, st);
    if (rc == 1) { /* the winner rolled back after our insert gave way: rare */
        se_status_set(st, GRPC_STATUS_ABORTED,
                      "a concurrent request with the same Idempotency-Key failed; retry");
        rc = -1;
    }
    return rc;
}

void order_store_insert_many(order_store *s, const order_new *const *o, size_t n, int *rc,
                             Swifteats__V1__Order **out, se_status *st)
{
    se_status cst;
    se_pg_conn *c = acquire(s, &cst);
    if (c == NULL) {
        for (size_t i = 0; i < n; i++) {
            rc[i] = -1;
            st[i] = cst;
        }
        return;
    }
    char *arr[11];
    many_arrays(o, n, arr);
    /* not SE_PG_IDEMPOTENT: a retry after a lost commit could insert twice */
    PGresult *r = run(c, "inserting a batch of orders", insert_many_sql, 11,
                      (const char *const *)arr, 0, &cst);
    for (int k = 0; k < 11; k++)
        free(arr[k]);
    if (r != NULL && PQntuples(r) == (int)n) {
        for (size_t i = 0; i < n; i++)
            rc[i] = many_result(c, o[i], r, (int)i, &out[i], &st[i]);
    } else if (r == NULL && n > 1 && cst.code != GRPC_STATUS_UNAVAILABLE) {
        /* The statement failed and committed nothing: one order's problem
         * (or a deadlock between batches) must not fail the others. Only a
         * lost connection (UNAVAILABLE: was it committed?) forbids this. */
        se_pg_pool_release(s->pg, c);
        for (size_t i = 0; i < n; i++)
            rc[i] = order_store_insert(s, o[i], &out[i], &st[i]);
        return;
    } else {
        if (r != NULL)
            se_status_set(&cst, GRPC_STATUS_INTERNAL, "order: the batch insert returned %d rows "
                          "for %zu orders", PQntuples(r), n);
        for (size_t i = 0; i < n; i++) {
            rc[i] = -1;
            st[i] = cst;
        }
    }
    PQclear(r);
    se_pg_pool_release(s->pg, c);
}

/* ---- ListOrders ---------------------------------------------------------------------- */

/* The WHERE clause holds only the filters given (no "$1 IS NULL OR ..."
 * predicates, which defeat the indexes); the page's ORDER BY matches the
 * indexes' (created_at DESC, id DESC). */
int order_store_list_sql(const order_list_query *q, int count, char *sql, size_t cap,
                         const char *params[4], char numbers[2][24])
{
    int n = 0;
    char where[128] = "";
    if (q->customer_id[0] != '\0') {
        params[n++] = q->customer_id;
        snprintf(where, sizeof where, " WHERE o.customer_id = $%d", n);
    }
    if (q->status != 0) {
        params[n++] = order_status_text(q->status);
        size_t len = strlen(where);
        snprintf(where + len, sizeof where - len, "%s o.status = $%d", len ? " AND" : " WHERE",
                 n);
    }
    if (count) {
        snprintf(sql, cap, "SELECT count(*) FROM orders o%s", where);
        return n;
    }
    snprintf(numbers[0], 24, "%d", q->page_size);
    snprintf(numbers[1], 24, "%" PRId64, (int64_t)(q->page - 1) * q->page_size);
    params[n++] = numbers[0];
    params[n++] = numbers[1];
    snprintf(sql, cap,
             "SELECT " ORDER_COLS " FROM orders o%s ORDER BY o.created_at DESC, o.id DESC "
             "LIMIT $%d OFFSET $%d",
             where, n - 1, n);
    return n;
}

/* The page's orders, newest first, with their children. */
static int list_page(se_pg_conn *c, const order_list_query *q,
                     Swifteats__V1__ListOrdersResponse *m, se_status *st)
{
    char sql[512], numbers[2][24];
    const char *params[4];
    int n = order_store_list_sql(q, 0, sql, sizeof sql, params, numbers);
    PGresult *r = run(c, "listing orders", sql, n, params, SE_PG_IDEMPOTENT, st);
    if (r == NULL)
        return -1;
    int rows = PQntuples(r);
    m->orders = se_xcalloc((size_t)rows, sizeof *m->orders);
    for (int i = 0; i < rows; i++)
        m->orders[m->n_orders++] = order_from_row(r, i, 0);
    PQclear(r);
    return load_children(c, m->orders, rows, st);
}

int order_store_list(order_store *s, const order_list_query *q,
                     Swifteats__V1__ListOrdersResponse **out, se_status *st)
{
    char sql[512], numbers[2][24];
    const char *params[4];
    int n = order_store_list_sql(q, 1, sql, sizeof sql, params, numbers);
    se_pg_conn *c = acquire(s, st);
    if (c == NULL)
        return -1;
    Swifteats__V1__ListOrdersResponse *m = se_xmalloc(sizeof *m);
    swifteats__v1__list_orders_response__init(m);
    m->page = q->page;
    m->page_size = q->page_size;
    PGresult *r = run(c, "counting orders", sql, n, params, SE_PG_IDEMPOTENT, st);
    int rc = -1;
    if (r != NULL) {
        m->total = i64(r, 0, 0);
        PQclear(r);
        /* past the end: an empty page, no query */
        rc = (int64_t)(q->page - 1) * q->page_size >= m->total ? 0 : list_page(c, q, m, st);
    }
    se_pg_pool_release(s->pg, c);
    if (rc != 0) {
        se_msg_free(&m->base);
        return -1;
    }
    *out = m;
    return 0;
}

/* ---- payment ------------------------------------------------------------------------- */

/* The PaymentJob of order row `row`: customer_id, total_amount at cols 0,
 * 1; the attempt number at col n. */
static Swifteats__V1__PaymentJob *job_from_row(const PGresult *r, int row, int64_t id, int n)
{
    Swifteats__V1__PaymentJob *j = se_xmalloc(sizeof *j);
    swifteats__v1__payment_job__init(j);
    j->order_id = id;
    j->customer_id = str(r, row, 0);
    j->amount = i64(r, row, 1);
    j->currency = se_xstrdup("USD");
    j->next_attempt_number = (int32_t)i64(r, row, n);
    char key[32];
    snprintf(key, sizeof key, "order-%" PRId64, id);
    j->idempotency_key = se_xstrdup(key);
    return j;
}

/* NOT_FOUND (row -1: none) or FAILED_PRECONDITION (status at col 2 of
 * `row` is not payment_processing): -1 with st; 0 when the job can go on. */
static int job_refused(const PGresult *r, int row, int64_t id, se_status *st)
{
    if (row < 0) {
        se_status_set(st, GRPC_STATUS_NOT_FOUND, "order %" PRId64 " not found", id);
        return -1;
    }
    if (strcmp(val(r, row, 2), "payment_processing") != 0) {
        se_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                      "order %" PRId64 " is %s, not payment_processing: nothing to charge", id,
                      val(r, row, 2));
        return -1;
    }
    return 0;
}

static const char job_sql[] =
    "SELECT o.customer_id, o.total_amount, o.status,"
    " (SELECT coalesce(max(a.attempt_number), 0) + 1 FROM payment_attempts a"
    "  WHERE a.order_id = o.id)"
    " FROM orders o WHERE o.id = $1";

/* The ON CONFLICT clause of both attempt upserts (RecordPaymentAttempt and
 * GetPaymentJob with start_attempt): update unless nothing would change or
 * a final status would go back to pending / processing (a late duplicate);
 * updated_at moves only with the status. */
#define ATTEMPT_UPSERT_CONFLICT                                                              \
    " ON CONFLICT (order_id, attempt_number) DO UPDATE SET"                                  \
    " status = EXCLUDED.status, amount = EXCLUDED.amount,"                                   \
    " error_message = EXCLUDED.error_message,"                                               \
    " gateway_charge_id = coalesce(EXCLUDED.gateway_charge_id, a.gateway_charge_id),"        \
    " idempotency_key = EXCLUDED.idempotency_key,"                                           \
    " updated_at = CASE WHEN a.status = EXCLUDED.status THEN a.updated_at ELSE now() END"    \
    " WHERE (a.status, a.amount, a.error_message, a.gateway_charge_id, a.idempotency_key)"   \
    " IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.amount, EXCLUDED.error_message,"           \
    " coalesce(EXCLUDED.gateway_charge_id, a.gateway_charge_id), EXCLUDED.idempotency_key)"  \
    " AND NOT (a.status IN ('success', 'failed')"                                            \
    " AND EXCLUDED.status IN ('pending', 'processing'))"

/* GetPaymentJob with start_attempt: $1 order. Locks the order, picks the
 * attempt to start - the latest one if it is still processing (a retried
 * call, a redelivery after a crash: nothing new is started), else the
 * latest + 1 - and, if the order is payment_processing, upserts it as
 * processing with the order's amount and key (the order row itself is
 * only locked: see bump_updated_at). Columns: customer_id, total_amount, status, attempt number,
 * whether the upsert wrote a row. A concurrent start of the same attempt
 * (its snapshot predates the winner's commit) meets the winner's row in ON
 * CONFLICT: see order_store_payment_job for that case. */
static const char job_start_sql[] =
    "WITH o AS (SELECT id, customer_id, total_amount, status FROM orders WHERE id = $1"
    " FOR UPDATE),"
    " n AS (SELECT coalesce((SELECT l.attempt_number + (l.status <> 'processing')::int"
    " FROM payment_attempts l WHERE l.order_id = $1"
    " ORDER BY l.attempt_number DESC LIMIT 1), 1) AS num),"
    " a AS ("
    " INSERT INTO payment_attempts AS a (order_id, attempt_number, status, amount,"
    " error_message, gateway_charge_id, idempotency_key)"
    " SELECT o.id, n.num, 'processing', o.total_amount, NULL, NULL, 'order-' || o.id"
    " FROM o, n WHERE o.status = 'payment_processing'" ATTEMPT_UPSERT_CONFLICT
    " RETURNING a.attempt_number)"
    " SELECT o.customer_id, o.total_amount, o.status, n.num, EXISTS (SELECT 1 FROM a)"
    " FROM o, n";

/* job_start_sql wrote nothing for attempt `num` of a payment_processing
 * order: the attempt already was processing with the same values (a retry:
 * fine), or it ended after this statement's snapshot was taken (a
 * duplicate delivery raced us): ABORTED, so the caller asks again and
 * starts the next one. Read in a new statement, so with a new snapshot. */
static int job_start_check(se_pg_conn *c, const char *idt, const char *num, int64_t id,
                           se_status *st)
{
    const char *p[] = {idt, num};
    PGresult *r = run(c, "reading the started payment attempt",
                      "SELECT status FROM payment_attempts"
                      " WHERE order_id = $1 AND attempt_number = $2",
                      2, p, SE_PG_IDEMPOTENT, st);
    if (r == NULL)
        return -1;
    int rc = 0;
    if (PQntuples(r) != 1 || strcmp(val(r, 0, 0), "processing") != 0) {
        se_status_set(st, GRPC_STATUS_ABORTED,
                      "order %" PRId64 ": attempt %s ended concurrently; retry", id, num);
        rc = -1;
    }
    PQclear(r);
    return rc;
}

/* The job of order id from row `row` of job_sql / job_start_sql (-1: no
 * row); `started`: the statement started an attempt (column 4 says whether
 * it wrote one, column 3 is its number). */
static int job_result(se_pg_conn *c, const PGresult *r, int row, int64_t id, int started,
                      Swifteats__V1__PaymentJob **out, se_status *st)
{
    if (job_refused(r, row, id, st) != 0)
        return -1;
    if (started && strcmp(val(r, row, 4), "t") != 0) {
        char idt[24];
        if (job_start_check(c, order_id_text(idt, id), val(r, row, 3), id, st) != 0)
            return -1;
    }
    *out = job_from_row(r, row, id, 3);
    return 0;
}

int order_store_payment_job(order_store *s, int64_t id, int start_attempt,
                            Swifteats__V1__PaymentJob **out, se_status *st)
{
    char idt[24];
    const char *p[] = {order_id_text(idt, id)};
    se_pg_conn *c = acquire_payment(s, st);
    if (c == NULL)
        return -1;
    /* idempotent: a start run twice resumes the attempt it started */
    PGresult *r = start_attempt ? run(c, "starting a payment attempt", job_start_sql, 1, p,
                                      SE_PG_IDEMPOTENT, st)
                                : run(c, "reading the payment job", job_sql, 1, p,
                                      SE_PG_IDEMPOTENT, st);
    int rc = r == NULL ? -1
                       : job_result(c, r, PQntuples(r) > 0 ? 0 : -1, id, start_attempt, out, st);
    PQclear(r);
    se_pg_pool_release(s->pay_pg, c);
    return rc;
}

/* $1 order, $2 attempt number, $3 status, $4 amount, $5 error, $6 charge
 * id, $7 idempotency key, $8 complete_outcome (NULL: none), $9 its reason.
 * Locks the order while it is payment_processing (so attempts and
 * transitions of one order are serialized), upserts the attempt unless it
 * would not change (or would go back from a final status); the order row
 * is only locked (see bump_updated_at). With $8 the order also moves to $8 in
 * the same statement, as transition_sql does for CompletePayment: the lock
 * is the state machine's guard (payment_processing is the only state
 * confirmed and payment_failed are reached from, see allowed_from), a
 * confirmed order takes the attempt's charge id, and the outbox row goes.
 * No row: the order is not payment_processing, or the attempt did not
 * change. */
static const char attempt_sql[] =
    "WITH o AS (SELECT id FROM orders WHERE id = $1 AND status = 'payment_processing'"
    " FOR UPDATE),"
    " a AS ("
    " INSERT INTO payment_attempts AS a (order_id, attempt_number, status, amount,"
    " error_message, gateway_charge_id, idempotency_key)"
    " SELECT o.id, $2, $3, $4, $5, $6, $7 FROM o" ATTEMPT_UPSERT_CONFLICT
    " RETURNING " ATTEMPT_COLS "),"
    " u AS (UPDATE orders r SET updated_at = now(), status = $8::text,"
    " gateway_charge_id = CASE WHEN $8::text = 'confirmed'"
    " THEN coalesce($6, r.gateway_charge_id) ELSE r.gateway_charge_id END,"
    " status_reason = coalesce($9::text, r.status_reason)"
    " WHERE r.id IN (SELECT id FROM o) AND $8::text IS NOT NULL"
    " RETURNING r.id),"
    " d AS (DELETE FROM payment_outbox WHERE $8::text IS NOT NULL"
    " AND order_id IN (SELECT id FROM u))"
    " SELECT * FROM a";

/* After attempt_sql returned no row: why, or the attempt as it stands.
 * `outcome`: the complete_outcome text or NULL; an order already there is
 * a retried call, answered with the attempt as stored. */
static int attempt_unchanged(se_pg_conn *c, const char *const *p, int64_t id,
                             const char *outcome, Swifteats__V1__PaymentAttempt **out,
                             se_status *st)
{
    PGresult *r = run(c, "reading the payment attempt",
                      "SELECT o.status, " ATTEMPT_COLS " FROM orders o"
                      " LEFT JOIN payment_attempts a ON a.order_id = o.id"
                      " AND a.attempt_number = $2 WHERE o.id = $1",
                      2, p, SE_PG_IDEMPOTENT, st);
    if (r == NULL)
        return -1;
    int rc = -1;
    int done = PQntuples(r) > 0 && outcome != NULL && strcmp(val(r, 0, 0), outcome) == 0;
    if (PQntuples(r) == 0)
        se_status_set(st, GRPC_STATUS_NOT_FOUND, "order %" PRId64 " not found", id);
    else if (strcmp(val(r, 0, 0), "payment_processing") != 0 && !done)
        se_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                      "order %" PRId64 " is %s: payment attempts are recorded only while it "
                      "is payment_processing",
                      id, val(r, 0, 0));
    else if (PQgetisnull(r, 0, 1) && done)
        se_status_set(st, GRPC_STATUS_NOT_FOUND,
                      "order %" PRId64 " is %s already and has no attempt %s", id, outcome,
                      p[1]);
    else if (PQgetisnull(r, 0, 1)) /* the order changed state in between */
        se_status_set(st, GRPC_STATUS_ABORTED, "order %" PRId64 " changed concurrently; retry",
                      id);
    else {
        *out = attempt_from_row(r, 0, 1);
        rc = 0;
    }
    PQclear(r);
    return rc;
}

/* The text of a report's nine attempt_sql parameters; t holds the numbers. */
typedef struct attempt_text {
    char id[24], num[24], amount[24], key[32];
} attempt_text;

static void attempt_params(const Swifteats__V1__RecordPaymentAttemptRequest *req,
                           attempt_text *t, const char *p[9])
{
    const char *idem = req->idempotency_key;
    if (idem == NULL || idem[0] == '\0') {
        snprintf(t->key, sizeof t->key, "order-%" PRId64, req->order_id);
        idem = t->key;
    }
    snprintf(t->num, sizeof t->num, "%d", req->attempt_number);
    const char *outcome = req->complete_outcome ? order_status_text(req->complete_outcome) : NULL;
    p[0] = order_id_text(t->id, req->order_id);
    p[1] = t->num;
    p[2] = order_attempt_status_text(req->status);
    p[3] = order_id_text(t->amount, req->amount);
    p[4] = req->_error_message_case ? req->error_message : NULL;
    p[5] = req->_gateway_charge_id_case ? req->gateway_charge_id : NULL;
    p[6] = idem;
    p[7] = outcome;
    p[8] = outcome != NULL && req->_complete_reason_case ? req->complete_reason : NULL;
}

/* The attempt of row i of attempt_sql / attempts_sql (ATTEMPT_COLS from
 * column `col`), or, with no row (i < 0), attempt_unchanged's answer. */
static int attempt_result(se_pg_conn *c, const PGresult *r, int i, int col,
                          const char *const *p, int64_t id,
                          Swifteats__V1__PaymentAttempt **out, se_status *st)
{
    if (i >= 0) {
        *out = attempt_from_row(r, i, col);
        return 0;
    }
    return attempt_unchanged(c, p, id, p[7], out, st);
}

int order_store_record_attempt(order_store *s,
                               const Swifteats__V1__RecordPaymentAttemptRequest *req,
                               Swifteats__V1__PaymentAttempt **out, se_status *st)
{
    attempt_text t;
    const char *p[9];
    attempt_params(req, &t, p);
    se_pg_conn *c = acquire_payment(s, st);
    if (c == NULL)
        return -1;
    /* idempotent: the same upsert twice leaves the same row; a completion
     * run twice finds the order in its outcome (attempt_unchanged) */
    PGresult *r = run(c, "recording the payment attempt", attempt_sql, 9, p, SE_PG_IDEMPOTENT, st);
    int rc = r == NULL ? -1
                       : attempt_result(c, r, PQntuples(r) == 1 ? 0 : -1, 0, p, req->order_id,
                                        out, st);
    PQclear(r);
    se_pg_pool_release(s->pay_pg, c);
    return rc;
}

/* ---- payment, many orders per statement -------------------------------------------- */

/* Under load the worker reports hundreds of attempts a second, each its own
 * statement and commit; PostgreSQL spent most of that on what is paid per
 * statement. A batch from RecordPaymentAttempts / GetPaymentJobs is one
 * statement, the single-order statements' work over arrays (one element per
 * order); an order may appear once per statement (an upsert cannot touch a
 * row twice), and the orders are locked in id order, so two batches never
 * wait for each other in a cycle. */

/* attempt_sql over $1..$9, each an array of the single statement's
 * parameter; RETURNING puts the order id before ATTEMPT_COLS. The orders
 * are locked by id alone (l) and filtered by status after: with the status
 * in the locking scan, a plan made while the table was young chose the
 * status index and then read every payment_processing order per batch. */
static const char attempts_sql[] =
    "WITH q AS (SELECT * FROM unnest($1::bigint[], $2::integer[], $3::text[], $4::bigint[],"
    " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])"
    " AS q (order_id, num, status, amount, err, charge, idem, outcome, reason)),"
    " l AS (SELECT id, status FROM orders WHERE id = ANY($1::bigint[]) ORDER BY id"
    " FOR UPDATE),"
    " o AS (SELECT id FROM l WHERE status = 'payment_processing'),"
    " a AS ("
    " INSERT INTO payment_attempts AS a (order_id, attempt_number, status, amount,"
    " error_message, gateway_charge_id, idempotency_key)"
    " SELECT q.order_id, q.num, q.status, q.amount, q.err, q.charge, q.idem"
    " FROM q, o WHERE o.id = q.order_id" ATTEMPT_UPSERT_CONFLICT
    " RETURNING a.order_id, " ATTEMPT_COLS "),"
    " u AS (UPDATE orders r SET updated_at = now(), status = q.outcome,"
    " gateway_charge_id = CASE WHEN q.outcome = 'confirmed'"
    " THEN coalesce(q.charge, r.gateway_charge_id) ELSE r.gateway_charge_id END,"
    " status_reason = coalesce(q.reason, r.status_reason)"
    " FROM q WHERE r.id = q.order_id AND q.outcome IS NOT NULL"
    " AND r.id IN (SELECT id FROM o) RETURNING r.id),"
    " d AS (DELETE FROM payment_outbox WHERE order_id IN (SELECT id FROM u))"
    " SELECT * FROM a";

/* job_start_sql over the orders in $1: the same columns, then the order id. */
static const char jobs_start_sql[] =
    "WITH o AS (SELECT id, customer_id, total_amount, status FROM orders"
    " WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE),"
    " n AS (SELECT o.id, coalesce((SELECT l.attempt_number + (l.status <> 'processing')::int"
    " FROM payment_attempts l WHERE l.order_id = o.id"
    " ORDER BY l.attempt_number DESC LIMIT 1), 1) AS num FROM o),"
    " a AS ("
    " INSERT INTO payment_attempts AS a (order_id, attempt_number, status, amount,"
    " error_message, gateway_charge_id, idempotency_key)"
    " SELECT o.id, n.num, 'processing', o.total_amount, NULL, NULL, 'order-' || o.id"
    " FROM o, n WHERE n.id = o.id AND o.status = 'payment_processing'" ATTEMPT_UPSERT_CONFLICT
    " RETURNING a.order_id)"
    " SELECT o.customer_id, o.total_amount, o.status, n.num,"
    " o.id IN (SELECT order_id FROM a), o.id FROM o, n WHERE n.id = o.id";

const char *order_store_attempts_sql(void)
{
    return attempts_sql;
}

const char *order_store_jobs_start_sql(void)
{
    return jobs_start_sql;
}

/* Whether ids[0..n) holds an id twice (n <= 128: the quadratic scan is
 * cheaper than anything that allocates). */
static int has_duplicate(const int64_t *ids, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (ids[i] == ids[j])
                return 1;
    return 0;
}

/* Index of id in row_ids[0..n), or -1 (n <= 128: a scan is cheap). */
static int row_of(const int64_t *row_ids, int n, int64_t id)
{
    for (int i = 0; i < n; i++)
        if (row_ids[i] == id)
            return i;
    return -1;
}

/* Appends p as an array element: NULL unquoted, anything else quoted. */
static void buf_element(text_buf *b, int first, const char *p)
{
    if (!first)
        buf_put(b, ",", 1);
    if (p == NULL)
        buf_put(b, "NULL", 4);
    else
        buf_quoted(b, p);
}

/* One batch statement over entries 0..n) of orders ids[]: what differs
 * between RecordPaymentAttempts and GetPaymentJobs(start). */
typedef struct payment_batch {
    const char *what, *sql;
    int nparams, id_col;  /* parameters; result column holding the order id */
    const int64_t *ids;
    size_t n;
    const Swifteats__V1__RecordPaymentAttemptRequest *const *reports; /* or NULL */
    /* entry i's message when rc[i] is 0, in the array of its kind */
    Swifteats__V1__PaymentAttempt **attempts;
    Swifteats__V1__PaymentJob **jobs;
    int *rc;
    se_status *st;
    /* entry i alone, with the single-order statement */
    int (*one)(order_store *s, const struct payment_batch *b, size_t i);
    /* entry i's parameters as text (NULL: SQL NULL); t holds the numbers */
    void (*params)(const struct payment_batch *b, size_t i, attempt_text *t, const char **p);
    /* entry i from the statement's row `row` (-1: it returned none) */
    int (*result)(se_pg_conn *c, const PGresult *r, const struct payment_batch *b, size_t i,
                  int row);
} payment_batch;

/* The statement's array parameters, one element per entry (free each). */
static void batch_arrays(const payment_batch *b, char **arr)
{
    text_buf buf[9] = {{0}};
    for (int k = 0; k < b->nparams; k++)
        buf_put(&buf[k], "{", 1);
    for (size_t i = 0; i < b->n; i++) {
        attempt_text t;
        const char *p[9];
        b->params(b, i, &t, p);
        for (int k = 0; k < b->nparams; k++)
            buf_element(&buf[k], i == 0, p[k]);
    }
    for (int k = 0; k < b->nparams; k++) {
        buf_put(&buf[k], "}", 1);
        arr[k] = buf[k].p;
    }
}

/* Every entry failed with st. */
static void batch_fail(const payment_batch *b, const se_status *st)
{
    for (size_t i = 0; i < b->n; i++) {
        b->rc[i] = -1;
        b->st[i] = *st;
    }
}

static void batch_one_by_one(order_store *s, const payment_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->rc[i] = b->one(s, b, i);
}

/* The batch in one statement when its orders differ, else one by one. A
 * statement that failed committed nothing, so its entries are tried one by
 * one - but not after a lost connection (UNAVAILABLE: the caller retries
 * the batch, knowing it failed as a whole). */
static void batch_run(order_store *s, const payment_batch *b)
{
    if (b->n == 1 || b->n > ORDER_STORE_BATCH_MAX || has_duplicate(b->ids, b->n)) {
        batch_one_by_one(s, b);
        return;
    }
    se_status cst;
    se_pg_conn *c = acquire_payment(s, &cst);
    if (c == NULL) {
        batch_fail(b, &cst);
        return;
    }
    char *arr[9];
    batch_arrays(b, arr);
    /* idempotent as the single statements are */
    PGresult *r = run(c, b->what, b->sql, b->nparams, (const char *const *)arr,
                      SE_PG_IDEMPOTENT, &cst);
    for (int k = 0; k < b->nparams; k++)
        free(arr[k]);
    int64_t row_ids[ORDER_STORE_BATCH_MAX];
    int rows = r != NULL && PQntuples(r) <= ORDER_STORE_BATCH_MAX ? PQntuples(r) : 0;
    for (int k = 0; k < rows; k++)
        row_ids[k] = i64(r, k, b->id_col);
    for (size_t i = 0; r != NULL && i < b->n; i++)
        b->rc[i] = b->result(c, r, b, i, row_of(row_ids, rows, b->ids[i]));
    PQclear(r);
    se_pg_pool_release(s->pay_pg, c);
    if (r == NULL && cst.code != GRPC_STATUS_UNAVAILABLE)
        batch_one_by_one(s, b);
    else if (r == NULL)
        batch_fail(b, &cst);
}

static int record_one(order_store *s, const payment_batch *b, size_t i)
{
    return order_store_record_attempt(s, b->reports[i], &b->attempts[i], &b->st[i]);
}

static void record_params(const payment_batch *b, size_t i, attempt_text *t, const char **p)
{
    attempt_params(b->reports[i], t, p);
}

static int record_result(se_pg_conn *c, const PGresult *r, const payment_batch *b, size_t i,
                         int row)
{
    attempt_text t;
    const char *p[9] = {0};
    if (row < 0) /* only attempt_unchanged reads the parameters' text again */
        attempt_params(b->reports[i], &t, p);
    return attempt_result(c, r, row, 1, p, b->ids[i], &b->attempts[i], &b->st[i]);
}

void order_store_record_attempts(order_store *s,
                                 const Swifteats__V1__RecordPaymentAttemptRequest *const *req,
                                 size_t n, int *rc, Swifteats__V1__PaymentAttempt **out,
                                 se_status *st)
{
    int64_t ids[ORDER_STORE_BATCH_MAX];
    for (size_t i = 0; i < n && i < ORDER_STORE_BATCH_MAX; i++)
        ids[i] = req[i]->order_id;
    payment_batch b = {.what = "recording payment attempts", .sql = attempts_sql,
                       .nparams = 9, .id_col = 0, .ids = ids, .n = n, .reports = req,
                       .attempts = out, .rc = rc, .st = st, .one = record_one,
                       .params = record_params, .result = record_result};
    batch_run(s, &b);
}

static int start_one(order_store *s, const payment_batch *b, size_t i)
{
    return order_store_payment_job(s, b->ids[i], 1, &b->jobs[i], &b->st[i]);
}

static void start_params(const payment_batch *b, size_t i, attempt_text *t, const char **p)
{
    p[0] = order_id_text(t->id, b->ids[i]);
}

static int start_result(se_pg_conn *c, const PGresult *r, const payment_batch *b, size_t i,
                        int row)
{
    return job_result(c, r, row, b->ids[i], 1, &b->jobs[i], &b->st[i]);
}

void order_store_start_payment_jobs(order_store *s, const int64_t *ids, size_t n, int *rc,
                                    Swifteats__V1__PaymentJob **out, se_status *st)
{
    payment_batch b = {.what = "starting payment attempts", .sql = jobs_start_sql,
                       .nparams = 1, .id_col = 5, .ids = ids, .n = n, .jobs = out,
                       .rc = rc, .st = st, .one = start_one, .params = start_params,
                       .result = start_result};
    batch_run(s, &b);
}

/* ---- transitions ----------------------------------------------------------------------- */

/* The states `to` may be reached from, as an array literal (must be synced
 * with swifteats.v1.OrderStatus's comment and migrations/001_orders.sql). */
static const char *allowed_from(int to)
{
    switch (to) {
    case SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING:
        return "{pending}";
    case SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED:
    case SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_FAILED:
        return "{payment_processing}";
    case SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CANCELLED:
        return "{pending,payment_failed}";
    default:
        return "{}";
    }
}

/* Why a refused move is refused, for the message. */
static const char *refusal_hint(int from, int to)
{
    if (from == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING &&
        to == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CANCELLED)
        return " (retry when the payment has finished)";
    if (from == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CONFIRMED ||
        from == SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_CANCELLED)
        return " (a final state)";
    return "";
}

/* $1 order, $2 new status, $3 charge id, $4 reason, $5 allowed from, $6
 * whether the payment is over (delete the outbox row). */
static const char transition_sql[] =
    "WITH u AS (UPDATE orders o SET status = $2, updated_at = now(),"
    " gateway_charge_id = coalesce($3, o.gateway_charge_id),"
    " status_reason = coalesce($4, o.status_reason)"
    " WHERE o.id = $1 AND o.status = ANY($5::text[])"
    " RETURNING " ORDER_COLS "),"
    " d AS (DELETE FROM payment_outbox WHERE $6::boolean AND order_id IN (SELECT id FROM u))"
    " SELECT * FROM u";

/* After transition_sql moved nothing: the order unchanged if it already is
 * in `to`, else why not. */
static int transition_refused(se_pg_conn *c, int64_t id, int to, Swifteats__V1__Order **out,
                              se_status *st)
{
    Swifteats__V1__Order *o = NULL;
    int found = get_on(c, id, &o, st);
    if (found <= 0) {
        if (found == 0)
            se_status_set(st, GRPC_STATUS_NOT_FOUND, "order %" PRId64 " not found", id);
        return -1;
    }
    if ((int)o->status == to) {
        *out = o;
        return 0;
    }
    const char *from = order_status_text(o->status);
    se_status_set(st, GRPC_STATUS_FAILED_PRECONDITION,
                  "order %" PRId64 " cannot move from %s to %s%s", id, from ? from : "?",
                  order_status_text(to), refusal_hint(o->status, to));
    se_msg_free(&o->base);
    return -1;
}

int order_store_transition(order_store *s, int64_t id, int to, const char *charge_id,
                           const char *reason, Swifteats__V1__Order **out, se_status *st)
{
    char idt[24];
    int payment_over = to != SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING;
    const char *p[] = {order_id_text(idt, id), order_status_text(to), charge_id, reason,
                       allowed_from(to), payment_over ? "true" : "false"};
    se_pg_conn *c = acquire(s, st);
    if (c == NULL)
        return -1;
    /* idempotent: run twice, the second finds the order in `to` already */
    PGresult *r = run(c, "changing the order status", transition_sql, 6, p, SE_PG_IDEMPOTENT, st);
    int rc = -1;
    if (r != NULL && PQntuples(r) == 1) {
        Swifteats__V1__Order *o = order_from_row(r, 0, 0);
        rc = load_children(c, &o, 1, st);
        if (rc == 0)
            *out = o;
        else
            se_msg_free(&o->base);
    } else if (r != NULL) {
        rc = transition_refused(c, id, to, out, st);
    }
    PQclear(r);
    se_pg_pool_release(s->pg, c);
    return rc;
}

/* ---- outbox -------------------------------------------------------------------------- */

/* Three look-ups, each ordered like its index with a LIMIT, so each is an
 * index scan that stops after `limit` rows whatever the statistics say
 * (with "enqueued_at IS NULL OR enqueued_at < cutoff LIMIT n" the planner
 * seq-scanned the whole outbox as soon as its statistics were stale):
 * fresh rows (unsent, created since $1 and before $2 microseconds after the
 * epoch; $1 NULL: none) and unsent rows older than redeliver_ms on
 * payment_outbox_unsent,
 * rows sent longer ago than that on payment_outbox_enqueued_at. The locked
 * ids become arrays the UPDATE looks up in payment_outbox_pkey (as a
 * semi-join, IN (subquery), it hashed the batch and seq-scanned the
 * outbox); a row in two arrays is updated once. The limit and the interval
 * are written into the text, not passed as parameters: the statement is
 * prepared, and the generic plan cannot estimate "enqueued_at < now() -
 * $1". Both are fixed per process, so this is one prepared statement. */
void order_store_outbox_claim_sql(char *sql, size_t cap, int limit, int redeliver_ms)
{
    snprintf(sql, cap,
             "UPDATE payment_outbox b SET enqueued_at = now() WHERE b.order_id = ANY(ARRAY("
             " SELECT order_id FROM payment_outbox WHERE enqueued_at IS NULL"
             " AND created_at >= 'epoch'::timestamptz + $1::bigint * interval '1 microsecond'"
             " AND created_at < 'epoch'::timestamptz + $2::bigint * interval '1 microsecond'"
             " ORDER BY created_at LIMIT %d FOR UPDATE SKIP LOCKED) || ARRAY("
             " SELECT order_id FROM payment_outbox WHERE enqueued_at IS NULL"
             " AND created_at < now() - interval '%d milliseconds'"
             " ORDER BY created_at LIMIT %d FOR UPDATE SKIP LOCKED) || ARRAY("
             " SELECT order_id FROM payment_outbox"
             " WHERE enqueued_at < now() - interval '%d milliseconds'"
             " ORDER BY enqueued_at LIMIT %d FOR UPDATE SKIP LOCKED))"
             " RETURNING b.order_id, b.request_id",
             limit, redeliver_ms, limit, redeliver_ms, limit);
}

/* "No upper bound" as a time PostgreSQL can add to the epoch: 9999-12-31. */
#define FRESH_UNBOUNDED_US INT64_C(253402300799000000)

PGresult *order_store_outbox_claim(se_pg_conn *c, int limit, int redeliver_ms,
                                   int64_t fresh_from_us, int64_t fresh_until_us,
                                   se_pg_err *err)
{
    char sql[1300], from[24], until[24];
    order_store_outbox_claim_sql(sql, sizeof sql, limit, redeliver_ms);
    if (fresh_until_us > FRESH_UNBOUNDED_US)
        fresh_until_us = FRESH_UNBOUNDED_US;
    const char *p[] = {fresh_from_us == INT64_MAX ? NULL : order_id_text(from, fresh_from_us),
                       order_id_text(until, fresh_until_us)};
    return se_pg_exec_prepared(c, sql, 2, p, 0, err);
}
