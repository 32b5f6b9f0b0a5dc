/* test_gw_transcode.c - the gateway's JSON <-> protobuf transcoder
 * (gw_json.c, gw_transcode*.c) on its own: no sockets, no h2o.
 * Built and registered by gateway/CMakeLists.txt (tests/unit/gateway/). */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_json.h"
#include "gw_transcode.h"
#include "se_registry.h"
#include "swifteats/v1/logistics.pb-c.h"
#include "swifteats/v1/menu.pb-c.h"
#include "swifteats/v1/order.pb-c.h"
#include "swifteats/v1/payment_gateway.pb-c.h"

#define TS_2026 1795701834 /* 2026-11-26T14:03:54Z */

/* ---- helpers ------------------------------------------------------------ */

static const se_http_route *find_route(const char *method, const char *path)
{
    for (size_t i = 0; i < se_registry_n_routes; i++) {
        const se_http_route *r = se_registry_routes[i];
        if (strcmp(r->http_method, method) == 0 && strcmp(r->path, path) == 0)
            return r;
    }
    ck_abort_msg("no route %s %s", method, path);
    return NULL;
}

static gw_path_params params1(const char *name, const char *value)
{
    gw_path_params p;
    memset(&p, 0, sizeof p);
    p.n = 1;
    p.params[0].name = (gw_str){name, strlen(name)};
    p.params[0].value = (gw_str){value, strlen(value)};
    return p;
}

/* Transcodes a request; returns the message or NULL with err filled. */
static ProtobufCMessage *req(const se_http_route *r, const gw_path_params *pp, const char *query,
                             const char *body, gw_transcode_error *err)
{
    ProtobufCMessage *m = (ProtobufCMessage *)0x1;
    int rc = gw_transcode_request(r, pp, query, query ? strlen(query) : 0, body,
                                  body ? strlen(body) : 0, NULL, NULL, &m, err);
    if (rc != 0)
        ck_assert_ptr_null(m);
    return rc == 0 ? m : NULL;
}

/* Expects a 400 whose message contains `want`. */
static void expect_bad(const se_http_route *r, const gw_path_params *pp, const char *query,
                       const char *body, int status, const char *want)
{
    gw_transcode_error err;
    ProtobufCMessage *m = req(r, pp, query, body, &err);
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, NULL);
    ck_assert_msg(m == NULL, "accepted %s", body ? body : query);
    ck_assert_int_eq(err.http_status, status);
    ck_assert_int_eq(err.code, status == 413 ? GRPC_STATUS_RESOURCE_EXHAUSTED
                                             : GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_msg(strstr(err.message, want) != NULL, "message \"%s\" lacks \"%s\"", err.message,
                  want);
}

static void expect_body_bad(const char *body, const char *want)
{
    expect_bad(find_route("POST", "/api/v1/orders"), NULL, NULL, body, 400, want);
}

static char *to_json(const ProtobufCMessage *m)
{
    gw_buf b = GW_BUF_INIT;
    ck_assert_int_eq(gw_transcode_response(m, &b), 0);
    gw_buf_putc(&b, '\0');
    return b.data;
}

static void expect_json(const ProtobufCMessage *m, const char *want)
{
    char *got = to_json(m);
    ck_assert_str_eq(got, want);
    free(got);
}

static Google__Protobuf__Timestamp *ts_new(int64_t s, int32_t nanos)
{
    Google__Protobuf__Timestamp *t = malloc(sizeof *t);
    google__protobuf__timestamp__init(t);
    t->seconds = s;
    t->nanos = nanos;
    return t;
}

/* ---- generic filler ----------------------------------------------------- */

typedef struct filler {
    unsigned seed;
    int present; /* 1: every optional/oneof set, arrays of 2; 0: absent/empty */
} filler;

static ProtobufCMessage *fill_new(const ProtobufCMessageDescriptor *d, filler *fl, int depth);

static const double tricky_doubles[] = {
    12.345678901234567, 0.1, 1.0 / 3, -45.123456, 1e-7, 123456789.125, 5e-324,
    1.7976931348623157e308, 4.5, 52.520008, -0.000123, 1e21, 9007199254740993.0, 3.0,
};

static void fill_value(const ProtobufCFieldDescriptor *f, void *dst, filler *fl, int depth,
                       int cents)
{
    unsigned s = ++fl->seed;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        *(int32_t *)dst = s % 3 == 0 ? -(int32_t)(s * 7919) : (int32_t)(s * 104729 % 2147483647);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (cents)
            *(int64_t *)dst = s % 3 == 0 ? -(int64_t)(s * 101) : 1299 + s * 37;
        else
            *(int64_t *)dst = s % 4 == 0 ? INT64_MIN + s : 1234567890123LL * (s % 5 + 1) + s;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: *(uint32_t *)dst = UINT32_MAX - s; break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: *(uint64_t *)dst = UINT64_MAX - s; break;
    case PROTOBUF_C_TYPE_FLOAT: *(float *)dst = (float)s * 0.37f; break;
    case PROTOBUF_C_TYPE_DOUBLE:
        *(double *)dst = tricky_doubles[s % (sizeof tricky_doubles / sizeof *tricky_doubles)];
        break;
    case PROTOBUF_C_TYPE_BOOL: *(protobuf_c_boolean *)dst = 1; break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        *(int *)dst = ed->n_values > 1 ? ed->values[1 + s % (ed->n_values - 1)].value : 0;
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char tmp[128];
        snprintf(tmp, sizeof tmp, "%s-%u \"q\" \\ / \xc3\xa9 \xe6\xbc\xa2 \xf0\x9f\x98\x80 \x01\t\n",
                 f->name, s);
        *(char **)dst = strdup(tmp);
        break;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *bd = dst;
        bd->len = 1 + s % 5;
        bd->data = malloc(bd->len);
        for (size_t i = 0; i < bd->len; i++)
            bd->data[i] = (uint8_t)(s * 31 + i * 97);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE:
        if (f->descriptor == &google__protobuf__timestamp__descriptor) {
            static const int32_t nanos[] = {0, 123000000, 123456000, 123456789, 5};
            *(Google__Protobuf__Timestamp **)dst =
                ts_new(TS_2026 + (int64_t)s * 86401 - 40000000, nanos[s % 5]);
        } else {
            *(ProtobufCMessage **)dst = fill_new(f->descriptor, fl, depth + 1);
        }
        break;
    }
}

static int is_cents(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f)
{
    for (size_t i = 0; i < se_registry_n_cents_fields; i++)
        if (se_registry_cents_fields[i].message == d && se_registry_cents_fields[i].field_number == f->id)
            return 1;
    return 0;
}

static void fill(ProtobufCMessage *m, filler *fl, int depth)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    char *base = (char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        int cents = is_cents(d, f);
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t *cs = (uint32_t *)(base + f->quantifier_offset);
            if (!fl->present || *cs != 0)
                continue;
            *cs = f->id;
            fill_value(f, base + f->offset, fl, depth, cents);
        } else if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = fl->present && depth < 4 ? 2 : 0, esz = 8;
            if (f->type == PROTOBUF_C_TYPE_BYTES)
                esz = sizeof(ProtobufCBinaryData);
            char *arr = n ? calloc(n, esz) : NULL;
            size_t step = esz;
            if (f->type == PROTOBUF_C_TYPE_INT32 || f->type == PROTOBUF_C_TYPE_ENUM ||
                f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_FLOAT ||
                f->type == PROTOBUF_C_TYPE_BOOL)
                step = 4;
            for (size_t k = 0; k < n; k++)
                fill_value(f, arr + k * step, fl, depth, cents);
            *(size_t *)(base + f->quantifier_offset) = n;
            *(void **)(base + f->offset) = arr;
        } else if (f->type != PROTOBUF_C_TYPE_MESSAGE || depth < 4) {
            fill_value(f, base + f->offset, fl, depth, cents);
        }
    }
}

static ProtobufCMessage *fill_new(const ProtobufCMessageDescriptor *d, filler *fl, int depth)
{
    ProtobufCMessage *m = malloc(d->sizeof_message);
    d->message_init(m);
    fill(m, fl, depth);
    return m;
}

/* Every message type reachable from a route's request or response. */
static size_t collect(const ProtobufCMessageDescriptor *d, const ProtobufCMessageDescriptor **out,
                      size_t n)
{
    if (d == &google__protobuf__timestamp__descriptor)
        return n;
    for (size_t i = 0; i < n; i++)
        if (out[i] == d)
            return n;
    out[n++] = d;
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            n = collect(d->fields[i].descriptor, out, n);
    return n;
}

static size_t route_messages(const ProtobufCMessageDescriptor **out)
{
    size_t n = 0;
    for (size_t i = 0; i < se_registry_n_routes; i++) {
        n = collect(se_registry_routes[i]->method->input, out, n);
        n = collect(se_registry_routes[i]->method->output, out, n);
    }
    return n;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len + 1);
    ck_assert_uint_eq(protobuf_c_message_pack(m, b), *len);
    return b;
}

static void round_trip(const ProtobufCMessageDescriptor *d, int present, unsigned seed)
{
    filler fl = {seed, present};
    ProtobufCMessage *m = fill_new(d, &fl, 0);
    char *json = to_json(m);
    ProtobufCMessage *back = NULL;
    gw_transcode_error err;
    int rc = gw_transcode_json_to_message(d, json, strlen(json), NULL, NULL, &back, &err);
    ck_assert_msg(rc == 0, "%s: %s\n%s", d->name, err.message, json);
    size_t la, lb;
    uint8_t *pa = pack(m, &la), *pb = pack(back, &lb);
    ck_assert_msg(la == lb && memcmp(pa, pb, la) == 0, "%s: protobuf differs after %s", d->name,
                  json);
    char *json2 = to_json(back);
    ck_assert_str_eq(json, json2);
    free(pa);
    free(pb);
    free(json);
    free(json2);
    protobuf_c_message_free_unpacked(m, NULL);
    protobuf_c_message_free_unpacked(back, NULL);
}

/* ---- round trips -------------------------------------------------------- */

START_TEST(every_route_message_round_trips_exactly)
{
    const ProtobufCMessageDescriptor *ds[256];
    size_t n = route_messages(ds);
    ck_assert_uint_ge(n, 30);
    for (size_t i = 0; i < n; i++)
        for (unsigned seed = 0; seed < 12; seed++)
            round_trip(ds[i], seed % 2 == 0, seed * 1000);
}
END_TEST

START_TEST(every_route_message_round_trips_through_its_route)
{
    for (size_t i = 0; i < se_registry_n_routes; i++) {
        const se_http_route *r = se_registry_routes[i];
        if (r->body == NULL || strcmp(r->body, "*") != 0)
            continue;
        filler fl = {7, 1};
        ProtobufCMessage *m = fill_new(r->method->input, &fl, 0);
        char *json = to_json(m);
        gw_transcode_error err;
        ProtobufCMessage *back = req(r, NULL, NULL, json, &err);
        ck_assert_msg(back != NULL, "%s: %s", r->path, err.message);
        size_t la, lb;
        uint8_t *pa = pack(m, &la), *pb = pack(back, &lb);
        ck_assert(la == lb && memcmp(pa, pb, la) == 0);
        free(pa);
        free(pb);
        free(json);
        protobuf_c_message_free_unpacked(m, NULL);
        protobuf_c_message_free_unpacked(back, NULL);
    }
}
END_TEST

/* ---- golden JSON -------------------------------------------------------- */

START_TEST(restaurant_golden)
{
    Swifteats__V1__Restaurant r = SWIFTEATS__V1__RESTAURANT__INIT;
    r.id = 42;
    r.name = "Luigi's \"Trattoria\"";
    r._description_case = SWIFTEATS__V1__RESTAURANT___DESCRIPTION_DESCRIPTION;
    r.description = "Pasta & pizza";
    r.address = "1 Main St";
    r.city = "Springfield";
    r.latitude = 40.7128;
    r.longitude = -74.006;
    r.status = SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_OPEN;
    r.cuisine_type = SWIFTEATS__V1__CUISINE_TYPE__CUISINE_TYPE_MEDITERRANEAN;
    r.rating = 4.5;
    r.current_capacity = 3;
    r._max_capacity_case = SWIFTEATS__V1__RESTAURANT___MAX_CAPACITY_MAX_CAPACITY;
    r.max_capacity = 0;
    Google__Protobuf__Timestamp c = GOOGLE__PROTOBUF__TIMESTAMP__INIT, u = c;
    c.seconds = TS_2026;
    u.seconds = TS_2026;
    u.nanos = 500000000;
    r.created_at = &c;
    r.updated_at = &u;
    expect_json(&r.base,
                "{\"id\":42,\"name\":\"Luigi's \\\"Trattoria\\\"\",\"description\":\"Pasta & pizza\","
                "\"address\":\"1 Main St\",\"city\":\"Springfield\",\"latitude\":40.7128,"
                "\"longitude\":-74.006,\"status\":\"open\",\"cuisine_type\":\"mediterranean\","
                "\"rating\":4.5,\"review_count\":0,\"max_capacity\":0,\"current_capacity\":3,"
                "\"created_at\":\"2026-11-26T14:03:54Z\","
                "\"updated_at\":\"2026-11-26T14:03:54.500Z\"}");
    r.status = SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_UNSPECIFIED;
    r.updated_at = NULL;
    char *j = to_json(&r.base);
    ck_assert_ptr_nonnull(strstr(j, "\"status\":null,"));
    ck_assert_ptr_null(strstr(j, "updated_at"));
    free(j);
}
END_TEST

START_TEST(order_golden)
{
    Swifteats__V1__OrderItem it = SWIFTEATS__V1__ORDER_ITEM__INIT;
    it.id = 1;
    it.item_id = "42";
    it.item_name = "Margherita";
    it.quantity = 2;
    it.price = 1299;
    Swifteats__V1__OrderItem *items[] = {&it};
    Swifteats__V1__Order o = SWIFTEATS__V1__ORDER__INIT;
    o.id = 9007199254740993LL;
    o.customer_id = "cust-1";
    o.total_amount = 2598;
    o.status = SWIFTEATS__V1__ORDER_STATUS__ORDER_STATUS_PAYMENT_PROCESSING;
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = TS_2026;
    t.nanos = 123456789;
    o.created_at = &t;
    o.updated_at = &t;
    o.n_items = 1;
    o.items = items;
    expect_json(&o.base,
                "{\"id\":9007199254740993,\"customer_id\":\"cust-1\",\"total_amount\":25.98,"
                "\"status\":\"payment_processing\","
                "\"created_at\":\"2026-11-26T14:03:54.123456789Z\","
                "\"updated_at\":\"2026-11-26T14:03:54.123456789Z\","
                "\"items\":[{\"id\":1,\"item_id\":\"42\",\"item_name\":\"Margherita\","
                "\"quantity\":2,\"price\":12.99}],\"payment_attempts\":[]}");
}
END_TEST

START_TEST(location_golden_optional_absent)
{
    Swifteats__V1__Location l = SWIFTEATS__V1__LOCATION__INIT;
    l.driver_id = "d-1";
    l.latitude = 52.52;
    l.longitude = 13.405;
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = TS_2026;
    l.timestamp = &t;
    expect_json(&l.base, "{\"driver_id\":\"d-1\",\"latitude\":52.52,\"longitude\":13.405,"
                         "\"timestamp\":\"2026-11-26T14:03:54Z\"}");
    l._speed_case = SWIFTEATS__V1__LOCATION___SPEED_SPEED;
    l.speed = 0;
    l._order_id_case = SWIFTEATS__V1__LOCATION___ORDER_ID_ORDER_ID;
    l.order_id = 77;
    expect_json(&l.base, "{\"driver_id\":\"d-1\",\"latitude\":52.52,\"longitude\":13.405,"
                         "\"speed\":0,\"order_id\":77,\"timestamp\":\"2026-11-26T14:03:54Z\"}");
}
END_TEST

START_TEST(response_body_field_and_bad_timestamp)
{
    Swifteats__V1__Location l = SWIFTEATS__V1__LOCATION__INIT;
    Google__Protobuf__Timestamp t = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    t.seconds = 253402300800LL; /* year 10000 */
    l.timestamp = &t;
    gw_buf b = GW_BUF_INIT;
    gw_buf_append(&b, "x", 1);
    ck_assert_int_eq(gw_transcode_response(&l.base, &b), -1);
    ck_assert_uint_eq(b.len, 1);
    t.seconds = 0;
    t.nanos = 1000000000;
    ck_assert_int_eq(gw_transcode_response(&l.base, &b), -1);
    t.nanos = 0;
    se_http_route r = {.http_method = "GET", .path = "/x", .response_body = "timestamp"};
    gw_buf_reset(&b);
    ck_assert_int_eq(gw_transcode_route_response(&r, &l.base, &b), 0);
    ck_assert_int_eq(b.len, 22);
    ck_assert_int_eq(memcmp(b.data, "\"1970-01-01T00:00:00Z\"", 22), 0);
    gw_buf_dispose(&b);
}
END_TEST

/* ---- values ------------------------------------------------------------- */

static int64_t price_of(const char *num, gw_transcode_error *err)
{
    char body[256];
    snprintf(body, sizeof body,
             "{\"customer_id\":\"c\",\"items\":[{\"item_id\":\"1\",\"quantity\":1,\"price\":%s}]}",
             num);
    Swifteats__V1__CreateOrderRequest *m =
        (Swifteats__V1__CreateOrderRequest *)req(find_route("POST", "/api/v1/orders"), NULL,
                                                 NULL, body, err);
    if (m == NULL)
        return INT64_MIN;
    int64_t p = m->items[0]->price;
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return p;
}

START_TEST(cents_parse_exactly)
{
    static const struct {
        const char *in;
        int64_t cents;
    } ok[] = {{"12.99", 1299}, {"12.9", 1290},     {"12", 1200},      {"1.299e1", 1299},
              {"12.990", 1299}, {"0.05", 5},      {"-3.5", -350},    {"1e2", 10000},
              {"0.07", 7},      {"1299e-2", 1299}, {"0.1", 10},       {"0", 0},
              {"92233720368547758.07", INT64_MAX}, {"-92233720368547758.08", INT64_MIN}};
    gw_transcode_error err;
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        int64_t got = price_of(ok[i].in, &err);
        ck_assert_msg(got == ok[i].cents, "%s -> %lld (%s)", ok[i].in, (long long)got, err.message);
    }
    ck_assert_int_eq(price_of("12.999", &err), INT64_MIN);
    ck_assert_str_eq(err.message, "items[0].price: 12.999 has more than 2 decimal places");
    ck_assert_int_eq(price_of("1e-3", &err), INT64_MIN);
    ck_assert_int_eq(price_of("0.001", &err), INT64_MIN);
    ck_assert_int_eq(price_of("1.0000000000000000001", &err), INT64_MIN);
    ck_assert_int_eq(price_of("92233720368547758.08", &err), INT64_MIN);
    ck_assert_str_eq(err.message, "items[0].price: 92233720368547758.08 is out of range for an amount");
    ck_assert_int_eq(price_of("1e400", &err), INT64_MIN);
    ck_assert_int_eq(price_of("\"12.99\"", &err), INT64_MIN);
    ck_assert_str_eq(err.message, "items[0].price: expected a decimal amount, got string");
}
END_TEST

START_TEST(cents_write)
{
    static const struct {
        int64_t c;
        const char *out;
    } t[] = {{1299, "12.99"}, {1290, "12.9"}, {1200, "12.0"}, {5, "0.05"}, {-5, "-0.05"},
             {0, "0.0"},      {-350, "-3.5"}, {INT64_MIN, "-92233720368547758.08"}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        gw_buf b = GW_BUF_INIT;
        gw_json_write_cents(&b, t[i].c);
        gw_buf_putc(&b, '\0');
        ck_assert_str_eq(b.data, t[i].out);
        gw_buf_dispose(&b);
    }
}
END_TEST

START_TEST(doubles_shortest_round_trip)
{
    static const struct {
        double v;
        const char *out;
    } t[] = {{0.1, "0.1"}, {4.5, "4.5"}, {100, "100"}, {-0.0, "-0"}, {1.0 / 3, "0.3333333333333333"},
             {1e21, "1e+21"}, {52.520008, "52.520008"}, {0.30000000000000004, "0.30000000000000004"},
             {NAN, "\"NaN\""}, {-INFINITY, "\"-Infinity\""}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
        gw_buf b = GW_BUF_INIT;
        gw_json_write_double(&b, t[i].v);
        gw_buf_putc(&b, '\0');
        ck_assert_str_eq(b.data, t[i].out);
        gw_buf_dispose(&b);
    }
    for (int i = 0; i < 2000; i++) {
        double v = ldexp((double)random(), (int)(random() % 200) - 100) / 7.0;
        gw_buf b = GW_BUF_INIT;
        gw_json_write_double(&b, v);
        gw_buf_putc(&b, '\0');
        ck_assert(strtod(b.data, NULL) == v);
        gw_buf_dispose(&b);
    }
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};
    for (int i = 0; i < 20000; i++) { /* short decimals: the snprintf-free path */
        int k = (int)(random() % 10);
        double v = (double)(random() % 2000000000 - 1000000000) / p10[k];
        gw_buf b = GW_BUF_INIT;
        gw_json_write_double(&b, v);
        gw_buf_putc(&b, '\0');
        ck_assert_msg(strtod(b.data, NULL) == v, "%.17g -> %s", v, b.data);
        char ref[40];
        for (int prec = 1; prec <= 17; prec++) { /* no shorter text reads back */
            snprintf(ref, sizeof ref, "%.*g", prec, v);
            if (strtod(ref, NULL) == v)
                break;
        }
        size_t sig = 0; /* significant digits written */
        for (const char *c = b.data; *c && *c != 'e'; c++)
            if (*c >= '0' && *c <= '9' && (sig > 0 || *c != '0'))
                sig++;
        size_t ref_sig = 0;
        for (const char *c = ref; *c && *c != 'e'; c++)
            if (*c >= '0' && *c <= '9' && (ref_sig > 0 || *c != '0'))
                ref_sig++;
        ck_assert_msg(sig <= ref_sig || strchr(b.data, '.') == NULL, "%s vs %s", b.data, ref);
        gw_buf_dispose(&b);
    }
    gw_buf b = GW_BUF_INIT;
    gw_json_write_float(&b, 0.1f);
    gw_buf_putc(&b, '\0');
    ck_assert_str_eq(b.data, "0.1");
    gw_buf_dispose(&b);
}
END_TEST

static Swifteats__V1__GetDriverRouteRequest *route_req(const char *query, gw_transcode_error *err)
{
    gw_path_params pp = params1("driver_id", "d%2F1");
    return (Swifteats__V1__GetDriverRouteRequest *)req(
        find_route("GET", "/api/v1/drivers/{driver_id}/route"), &pp, query, NULL, err);
}

START_TEST(timestamps_parse_offsets_and_fractions)
{
    gw_transcode_error err;
    Swifteats__V1__GetDriverRouteRequest *m = route_req(
        "start_time=2026-11-26T16:03:54.5%2B02:00&end_time=2026-11-26T09:03:54-05:00&limit=10",
        &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_str_eq(m->driver_id, "d/1");
    ck_assert_int_eq(m->start_time->seconds, TS_2026);
    ck_assert_int_eq(m->start_time->nanos, 500000000);
    ck_assert_int_eq(m->end_time->seconds, TS_2026);
    ck_assert_int_eq(m->end_time->nanos, 0);
    ck_assert_int_eq(m->limit, 10);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    /* an unencoded '+' arrives as a space */
    m = route_req("start_time=2026-11-26T16:03:54.000000001+02:00", &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_int_eq(m->start_time->seconds, TS_2026);
    ck_assert_int_eq(m->start_time->nanos, 1);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    m = route_req("start_time=0001-01-01T00:00:00Z&end_time=9999-12-31T23:59:59.999999999z", &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_int_eq(m->start_time->seconds, -62135596800LL);
    ck_assert_int_eq(m->end_time->seconds, 253402300799LL);
    char *j = to_json(&m->base);
    ck_assert_ptr_nonnull(strstr(j, "\"start_time\":\"0001-01-01T00:00:00Z\""));
    ck_assert_ptr_nonnull(strstr(j, "\"end_time\":\"9999-12-31T23:59:59.999999999Z\""));
    free(j);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    static const char *bad[] = {
        "start_time=2026-02-29T00:00:00Z", "start_time=2026-11-26T24:00:00Z",
        "start_time=2026-11-26T14:03:54",  "start_time=2026-11-26T14:03:54.Z",
        "start_time=2026-11-26T14:03:54.1234567891Z", "start_time=26-11-26T14:03:54Z",
        "start_time=2026-11-26T14:03:60Z", "start_time=0000-12-31T23:59:59Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_ptr_null(route_req(bad[i], &err));
        ck_assert_msg(strstr(err.message, "start_time: invalid timestamp") != NULL, "%s: %s",
                      bad[i], err.message);
    }
    ck_assert_ptr_null(route_req("start_time=2024-02-29T00:00:00Z&limit=x", &err));
    ck_assert_str_eq(err.message, "limit: expected an integer, got \"x\"");
}
END_TEST

START_TEST(strings_utf8_both_ways)
{
    gw_transcode_error err;
    Swifteats__V1__CreateOrderRequest *m = (Swifteats__V1__CreateOrderRequest *)req(
        find_route("POST", "/api/v1/orders"), NULL, NULL,
        "{\"customer_id\":\"a\\u00e9\\ud83d\\ude00\\n\\\"\\/\xc3\xa9\"}", &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_str_eq(m->customer_id, "a\xc3\xa9\xf0\x9f\x98\x80\n\"/\xc3\xa9");
    char *j = to_json(&m->base);
    ck_assert_str_eq(j, "{\"customer_id\":\"a\xc3\xa9\xf0\x9f\x98\x80\\n\\\"/\xc3\xa9\",\"items\":[]}");
    free(j);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    Swifteats__V1__Location l = SWIFTEATS__V1__LOCATION__INIT;
    l.driver_id = "x\xff\xc3(\x01y";
    j = to_json(&l.base);
    ck_assert_str_eq(j, "{\"driver_id\":\"x\xef\xbf\xbd\xef\xbf\xbd(\\u0001y\",\"latitude\":0,"
                        "\"longitude\":0}");
    free(j);
    expect_body_bad("{\"customer_id\":\"\xff\"}", "invalid UTF-8");
    expect_body_bad("{\"customer_id\":\"\xed\xa0\x80\"}", "invalid UTF-8");   /* surrogate */
    expect_body_bad("{\"customer_id\":\"\xc0\xaf\"}", "invalid UTF-8");       /* overlong */
    expect_body_bad("{\"customer_id\":\"\\ud83d\"}", "lone UTF-16 surrogate");
    expect_body_bad("{\"customer_id\":\"\\ude00\"}", "lone UTF-16 surrogate");
    expect_body_bad("{\"customer_id\":\"a\\u0000b\"}", "customer_id: strings may not contain NUL");
    expect_body_bad("{\"customer_id\":\"a\nb\"}", "control character");
    gw_path_params pp = params1("driver_id", "%FF");
    expect_bad(find_route("GET", "/api/v1/drivers/{driver_id}/location"), &pp, NULL, NULL, 400,
               "driver_id: invalid UTF-8");
}
END_TEST

START_TEST(bytes_base64)
{
    gw_buf b = GW_BUF_INIT;
    gw_json_write_base64(&b, (const uint8_t *)"foob", 4);
    gw_buf_putc(&b, '\0');
    ck_assert_str_eq(b.data, "\"Zm9vYg==\"");
    gw_buf_dispose(&b);
}
END_TEST

/* ---- bad input ---------------------------------------------------------- */

START_TEST(malformed_json_names_offset)
{
    expect_body_bad("{\"customer_id\": \"c1\",", "invalid JSON at offset 21: expected a string key");
    expect_body_bad("{\"customer_id\" \"c1\"}", "invalid JSON at offset 15: expected ':'");
    expect_body_bad("{\"items\": [1 2]}", "expected ',' or ']'");
    expect_body_bad("{\"items\": [1,]}", "unexpected character");
    expect_body_bad("{} x", "unexpected characters after the JSON value");
    expect_body_bad("{\"a\":tru}", "invalid literal");
    expect_body_bad("{\"a\":01}", "expected ',' or '}'");
    expect_body_bad("{\"a\":-}", "invalid number");
    expect_body_bad("{\"a\":1.}", "invalid number");
    expect_body_bad("{\"a\":NaN}", "unexpected character");
    expect_body_bad("{\"a\":\"\\x\"}", "invalid escape");
    expect_body_bad("{\"a\":\"abc", "unterminated string");
    expect_body_bad("[]", "expected a JSON object, got array");
}
END_TEST

START_TEST(wrong_types_name_the_field)
{
    expect_body_bad("{\"customer_id\":\"c\",\"items\":[{\"item_id\":\"1\",\"quantity\":1},"
                    "{\"item_id\":\"2\",\"quantity\":\"3\"}]}",
                    "items[1].quantity: expected an integer, got string");
    expect_body_bad("{\"customer_id\":7}", "customer_id: expected a string, got number");
    expect_body_bad("{\"items\":{}}", "items: expected an array, got object");
    expect_body_bad("{\"items\":[3]}", "items[0]: expected an object, got number");
    expect_body_bad("{\"items\":[null]}", "items[0]: expected an object, got null");
    expect_body_bad("{\"items\":[{\"quantity\":true}]}",
                    "items[0].quantity: expected an integer, got boolean");
    expect_bad(find_route("PUT", "/api/v1/restaurants/{restaurant_id}/menu/items/{item_id}/availability"),
               NULL, NULL, "{\"available\":\"yes\"}", 400, "available: expected a boolean, got string");
    expect_bad(find_route("POST", "/api/v1/drivers/{driver_id}/location"), NULL, NULL,
               "{\"latitude\":\"NaN\"}", 400, "latitude: expected a number, got string");
    expect_bad(find_route("POST", "/api/v1/drivers/{driver_id}/location"), NULL, NULL,
               "{\"timestamp\":1}", 400,
               "timestamp: expected an RFC 3339 timestamp string, got number");
}
END_TEST

START_TEST(out_of_range_numbers)
{
    expect_body_bad("{\"items\":[{\"quantity\":3000000000}]}",
                    "items[0].quantity: 3000000000 is out of range for int32");
    expect_body_bad("{\"items\":[{\"quantity\":-2147483649}]}", "out of range for int32");
    expect_body_bad("{\"items\":[{\"quantity\":1.5}]}",
                    "items[0].quantity: expected an integer, got 1.5");
    expect_body_bad("{\"items\":[{\"quantity\":1e400}]}", "out of range for int32");
    const se_http_route *loc = find_route("POST", "/api/v1/drivers/{driver_id}/location");
    expect_bad(loc, NULL, NULL, "{\"latitude\":1e999}", 400,
               "latitude: 1e999 is out of range for double");
    expect_bad(loc, NULL, NULL, "{\"order_id\":9223372036854775808}", 400,
               "order_id: 9223372036854775808 is out of range for int64");
    gw_path_params pp = params1("order_id", "-9223372036854775809");
    expect_bad(find_route("GET", "/api/v1/orders/{order_id}"), &pp, NULL, NULL, 400,
               "order_id: -9223372036854775809 is out of range for int64");
    gw_transcode_error err;
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(gw_transcode_json_to_message(&swifteats__v1__gateway_behaviour__descriptor,
                                                  "{\"seed\":-1}", 11, NULL, NULL, &m, &err),
                     -1);
    ck_assert_str_eq(err.message, "seed: -1 is out of range for uint64");
    ck_assert_int_eq(gw_transcode_json_to_message(&swifteats__v1__gateway_behaviour__descriptor,
                                                  "{\"seed\":18446744073709551616}", 29, NULL,
                                                  NULL, &m, &err),
                     -1);
    ck_assert_str_eq(err.message, "seed: 18446744073709551616 is out of range for uint64");
    const char *ok = "{\"seed\":18446744073709551615,\"decline_rate\":1e2}";
    ck_assert_int_eq(gw_transcode_json_to_message(&swifteats__v1__gateway_behaviour__descriptor, ok,
                                                  strlen(ok), NULL, NULL, &m, &err),
                     0);
    Swifteats__V1__GatewayBehaviour *g = (Swifteats__V1__GatewayBehaviour *)m;
    ck_assert(g->seed == UINT64_MAX && g->decline_rate == 100.0);
    protobuf_c_message_free_unpacked(m, NULL);
    /* integral forms are integers */
    m = req(find_route("POST", "/api/v1/orders"), NULL, NULL,
            "{\"items\":[{\"quantity\":1e2},{\"quantity\":2.0},{\"quantity\":-0}]}", &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    Swifteats__V1__CreateOrderRequest *co = (Swifteats__V1__CreateOrderRequest *)m;
    ck_assert_int_eq(co->items[0]->quantity, 100);
    ck_assert_int_eq(co->items[1]->quantity, 2);
    ck_assert_int_eq(co->items[2]->quantity, 0);
    protobuf_c_message_free_unpacked(m, NULL);
}
END_TEST

START_TEST(unknown_enum_values_list_the_choices)
{
    const se_http_route *r = find_route("PUT", "/api/v1/restaurants/{restaurant_id}/status");
    gw_path_params pp = params1("restaurant_id", "7");
    expect_bad(r, &pp, NULL, "{\"status\":\"opne\"}", 400,
               "status: unknown value \"opne\"; expected one of open, closed, busy, maintenance");
    expect_bad(r, &pp, NULL, "{\"status\":\"unspecified\"}", 400, "unknown value");
    expect_bad(r, &pp, NULL, "{\"status\":9}", 400, "status: unknown value 9; expected one of");
    expect_bad(r, &pp, NULL, "{\"status\":true}", 400, "status: expected a string, got boolean");
    gw_transcode_error err;
    static const char *same[] = {"{\"status\":\"busy\"}", "{\"status\":\"BUSY\"}",
                                 "{\"status\":\"RESTAURANT_STATUS_BUSY\"}", "{\"status\":3}",
                                 "{\"status\":\"b\\u0075sy\"}"};
    for (size_t i = 0; i < sizeof same / sizeof *same; i++) {
        Swifteats__V1__UpdateRestaurantStatusRequest *m =
            (Swifteats__V1__UpdateRestaurantStatusRequest *)req(r, &pp, NULL, same[i], &err);
        ck_assert_msg(m != NULL, "%s: %s", same[i], err.message);
        ck_assert_int_eq(m->status, SWIFTEATS__V1__RESTAURANT_STATUS__RESTAURANT_STATUS_BUSY);
        ck_assert_int_eq(m->restaurant_id, 7);
        protobuf_c_message_free_unpacked(&m->base, NULL);
    }
    expect_bad(find_route("GET", "/api/v1/orders"), NULL, "status=paid", NULL, 400,
               "status: unknown value \"paid\"; expected one of pending, payment_processing, "
               "confirmed, payment_failed, cancelled");
}
END_TEST

START_TEST(path_ids_must_be_integers)
{
    const se_http_route *r = find_route("GET", "/api/v1/restaurants/{restaurant_id}");
    gw_path_params pp = params1("restaurant_id", "abc");
    expect_bad(r, &pp, NULL, NULL, 400, "restaurant_id: expected an integer, got \"abc\"");
    pp = params1("restaurant_id", "1.5");
    expect_bad(r, &pp, NULL, NULL, 400, "restaurant_id: expected an integer, got 1.5");
    pp = params1("restaurant_id", "%zz");
    expect_bad(r, &pp, NULL, NULL, 400, "malformed percent-encoding");
    pp = params1("restaurant_id", "42");
    gw_transcode_error err;
    Swifteats__V1__GetRestaurantRequest *m =
        (Swifteats__V1__GetRestaurantRequest *)req(r, &pp, NULL, NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_int_eq(m->restaurant_id, 42);
    protobuf_c_message_free_unpacked(&m->base, NULL);
}
END_TEST

START_TEST(unknown_and_duplicate_fields)
{
    expect_body_bad("{\"foo\":1}", "unknown field \"foo\"");
    expect_body_bad("{\"items\":[{\"item_id\":\"1\",\"colour\":\"red\"}]}",
                    "items[0]: unknown field \"colour\"");
    expect_body_bad("{\"customer_id\":\"a\",\"customer_id\":\"b\"}",
                    "duplicate field \"customer_id\"");
    expect_body_bad("{\"items\":[],\"items\":[]}", "duplicate field \"items\"");
    expect_body_bad("{\"customer_\\u0069d\":\"a\",\"customer_id\":\"b\"}", "duplicate field");
    expect_bad(find_route("GET", "/api/v1/restaurants"), NULL, NULL, "{}", 400,
               "this route takes no request body");
}
END_TEST

START_TEST(depth_limit)
{
    char body[256];
    size_t n = 0;
    n += (size_t)snprintf(body, sizeof body, "{\"items\":");
    for (int i = 0; i < 40; i++)
        body[n++] = '[';
    for (int i = 0; i < 40; i++)
        body[n++] = ']';
    body[n++] = '}';
    body[n] = '\0';
    expect_body_bad(body, "nested deeper than 32 levels");
    gw_transcode_limits lim = {1 << 20, 3};
    ProtobufCMessage *m = NULL;
    gw_transcode_error err;
    const char *ok = "{\"items\":[{\"item_id\":\"1\"}]}";
    ck_assert_int_eq(gw_transcode_json_to_message(&swifteats__v1__create_order_request__descriptor,
                                                  ok, strlen(ok), &lim, NULL, &m, &err),
                     0);
    protobuf_c_message_free_unpacked(m, NULL);
    lim.max_depth = 2;
    ck_assert_int_eq(gw_transcode_json_to_message(&swifteats__v1__create_order_request__descriptor,
                                                  ok, strlen(ok), &lim, NULL, &m, &err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err.message, "nested deeper than 2 levels"));
}
END_TEST

START_TEST(large_body_is_413)
{
    const se_http_route *r = find_route("POST", "/api/v1/orders");
    size_t len = 2 * 1024 * 1024;
    char *body = malloc(len);
    memset(body, ' ', len);
    body[0] = '{';
    body[len - 1] = '}';
    gw_transcode_error err;
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(gw_transcode_request(r, NULL, NULL, 0, body, len, NULL, NULL, &m, &err), -1);
    ck_assert_int_eq(err.http_status, 413);
    ck_assert_int_eq(err.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
    ck_assert_str_eq(err.message, "request body of 2097152 bytes exceeds the limit of 1048576 bytes");
    gw_transcode_limits lim = {4 * 1024 * 1024, 32};
    ck_assert_int_eq(gw_transcode_request(r, NULL, NULL, 0, body, len, &lim, NULL, &m, &err), 0);
    protobuf_c_message_free_unpacked(m, NULL);
    free(body);
}
END_TEST

/* A body with many tokens: the token array leaves the stack for the heap. */
START_TEST(big_body_many_tokens)
{
    gw_buf b = GW_BUF_INIT;
    gw_buf_append(&b, "{\"customer_id\":\"c\",\"items\":[", 28);
    for (int i = 0; i < 2000; i++) {
        char tmp[96];
        int n = snprintf(tmp, sizeof tmp, "%s{\"item_id\":\"%d\",\"quantity\":%d,\"price\":%d.%02d}",
                         i ? "," : "", i, i % 100, i, i % 100);
        gw_buf_append(&b, tmp, (size_t)n);
    }
    gw_buf_append(&b, "]}", 2);
    gw_transcode_error err;
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(gw_transcode_json_to_message(&swifteats__v1__create_order_request__descriptor,
                                                  b.data, b.len, NULL, NULL, &m, &err),
                     0);
    Swifteats__V1__CreateOrderRequest *co = (Swifteats__V1__CreateOrderRequest *)m;
    ck_assert_uint_eq(co->n_items, 2000);
    ck_assert_int_eq(co->items[1999]->price, 199999);
    ck_assert_str_eq(co->items[1234]->item_id, "1234");
    protobuf_c_message_free_unpacked(m, NULL);
    gw_buf_dispose(&b);
}
END_TEST

/* ---- path and query ----------------------------------------------------- */

START_TEST(query_params_fill_the_request)
{
    gw_transcode_error err;
    Swifteats__V1__ListRestaurantsRequest *m = (Swifteats__V1__ListRestaurantsRequest *)req(
        find_route("GET", "/api/v1/restaurants"), NULL,
        "page=2&page_size=50&cuisine_type=italian&min_rating=4.5&city=New+York%21&status=", NULL,
        &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_int_eq(m->page, 2);
    ck_assert_int_eq(m->page_size, 50);
    ck_assert_int_eq(m->cuisine_type, SWIFTEATS__V1__CUISINE_TYPE__CUISINE_TYPE_ITALIAN);
    ck_assert(m->min_rating == 4.5);
    ck_assert_str_eq(m->city, "New York!");
    ck_assert_int_eq(m->status, 0);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    const se_http_route *list = find_route("GET", "/api/v1/restaurants");
    expect_bad(list, NULL, "cusine_type=italian", NULL, 400,
               "unknown query parameter \"cusine_type\"");
    expect_bad(list, NULL, "page=1&page=2", NULL, 400, "page: duplicate query parameter");
    expect_bad(list, NULL, "min_rating=nan", NULL, 400, "min_rating: expected a number, got \"nan\"");
    expect_bad(list, NULL, "page=%4", NULL, 400, "malformed query string");
    expect_bad(find_route("POST", "/api/v1/orders"), NULL, "x=1", "{}", 400,
               "this route takes no query parameters");
    gw_path_params pp = params1("restaurant_id", "7");
    expect_bad(find_route("GET", "/api/v1/restaurants/{restaurant_id}"), &pp, "restaurant_id=8",
               NULL, 400, "query parameter \"restaurant_id\" is bound by the path");
}
END_TEST

START_TEST(repeated_query_params_append)
{
    se_method_desc md = {.path = "/x", .name = "X",
                         .input = &swifteats__v1__get_items_for_order_request__descriptor,
                         .output = &swifteats__v1__get_items_for_order_response__descriptor};
    se_http_route r = {.http_method = "GET", .path = "/x", .method = &md};
    gw_transcode_error err;
    Swifteats__V1__GetItemsForOrderRequest *m = (Swifteats__V1__GetItemsForOrderRequest *)req(
        &r, NULL, "item_ids=1&item_ids=2&&item_ids=3&item_ids=4&item_ids=5&item_ids=6&item_ids=7"
                  "&item_ids=8&item_ids=9",
        NULL, &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_uint_eq(m->n_item_ids, 9);
    for (size_t i = 0; i < 9; i++)
        ck_assert_int_eq(m->item_ids[i], (int64_t)i + 1);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    expect_bad(&r, NULL, "item_ids=1&item_ids=x", NULL, 400,
               "item_ids: expected an integer, got \"x\"");
}
END_TEST

START_TEST(path_and_body_together)
{
    const se_http_route *r =
        find_route("PUT", "/api/v1/restaurants/{restaurant_id}/menu/items/{item_id}/availability");
    gw_path_params pp = params1("restaurant_id", "7");
    pp.n = 2;
    pp.params[1].name = (gw_str){"item_id", 7};
    pp.params[1].value = (gw_str){"99", 2};
    gw_transcode_error err;
    Swifteats__V1__UpdateItemAvailabilityRequest *m =
        (Swifteats__V1__UpdateItemAvailabilityRequest *)req(
            r, &pp, NULL, "{\"item_id\":5,\"available\":true,\"in_stock\":false}", &err);
    ck_assert_msg(m != NULL, "%s", err.message);
    ck_assert_int_eq(m->restaurant_id, 7);
    ck_assert_int_eq(m->item_id, 99); /* the path wins */
    ck_assert_int_eq(m->_available_case, SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST___AVAILABLE_AVAILABLE);
    ck_assert_int_eq(m->available, 1);
    ck_assert_int_eq(m->_in_stock_case, SWIFTEATS__V1__UPDATE_ITEM_AVAILABILITY_REQUEST___IN_STOCK_IN_STOCK);
    ck_assert_int_eq(m->in_stock, 0);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    m = (Swifteats__V1__UpdateItemAvailabilityRequest *)req(r, &pp, NULL, "{\"available\":null}",
                                                           &err);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->_available_case, 0);
    protobuf_c_message_free_unpacked(&m->base, NULL);
    /* an empty body on a body route reads as {} */
    const se_http_route *cancel = find_route("POST", "/api/v1/orders/{order_id}/cancel");
    pp = params1("order_id", "12");
    Swifteats__V1__CancelOrderRequest *c =
        (Swifteats__V1__CancelOrderRequest *)req(cancel, &pp, NULL, " \r\n", &err);
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->order_id, 12);
    ck_assert_int_eq(c->_reason_case, 0);
    protobuf_c_message_free_unpacked(&c->base, NULL);
    /* a path variable replaces a string the body set */
    const se_http_route *loc = find_route("POST", "/api/v1/drivers/{driver_id}/location");
    pp = params1("driver_id", "drv-9");
    Swifteats__V1__ReportLocationRequest *rl = (Swifteats__V1__ReportLocationRequest *)req(
        loc, &pp, NULL, "{\"driver_id\":\"other\",\"latitude\":1.5,\"timestamp\":null}", &err);
    ck_assert_ptr_nonnull(rl);
    ck_assert_str_eq(rl->driver_id, "drv-9");
    ck_assert(rl->_latitude_case != 0 && rl->latitude == 1.5 && rl->_longitude_case == 0);
    protobuf_c_message_free_unpacked(&rl->base, NULL);
}
END_TEST

/* ---- allocation failures ------------------------------------------------ */

typedef struct counting {
    long budget; /* allocations left before failing */
    long live;
} counting;

static void *count_alloc(void *d, size_t n)
{
    counting *c = d;
    if (c->budget-- <= 0)
        return NULL;
    c->live++;
    return malloc(n);
}

static void count_free(void *d, void *p)
{
    counting *c = d;
    c->live--;
    free(p);
}

START_TEST(allocation_failures_leave_nothing)
{
    const char *body = "{\"customer_id\":\"c\",\"items\":[{\"item_id\":\"1\",\"item_name\":\"x\","
                       "\"quantity\":2,\"price\":1.5},{\"item_id\":\"\\u0032\",\"quantity\":1}]}";
    const se_http_route *r = find_route("POST", "/api/v1/orders");
    for (long budget = 0;; budget++) {
        counting cnt = {budget, 0};
        ProtobufCAllocator a = {count_alloc, count_free, &cnt};
        ProtobufCMessage *m = NULL;
        gw_transcode_error err;
        int rc = gw_transcode_request(r, NULL, NULL, 0, body, strlen(body), NULL, &a, &m, &err);
        if (rc == 0) {
            ck_assert_int_ge(budget, 5);
            protobuf_c_message_free_unpacked(m, &a);
            ck_assert_int_eq(cnt.live, 0);
            break;
        }
        ck_assert_int_eq(err.http_status, 413);
        ck_assert_int_eq(cnt.live, 0);
    }
    se_method_desc md = {.path = "/x", .name = "X",
                         .input = &swifteats__v1__get_items_for_order_request__descriptor};
    se_http_route rr = {.http_method = "GET", .path = "/x", .method = &md};
    const char *q = "item_ids=1&item_ids=2&item_ids=3&item_ids=4&item_ids=5";
    for (long budget = 0;; budget++) {
        counting cnt = {budget, 0};
        ProtobufCAllocator a = {count_alloc, count_free, &cnt};
        ProtobufCMessage *m = NULL;
        gw_transcode_error err;
        if (gw_transcode_request(&rr, NULL, q, strlen(q), NULL, 0, NULL, &a, &m, &err) == 0) {
            protobuf_c_message_free_unpacked(m, &a);
            ck_assert_int_eq(cnt.live, 0);
            break;
        }
        ck_assert_int_eq(cnt.live, 0);
    }
}
END_TEST

/* ---- tokenizer ---------------------------------------------------------- */

START_TEST(tokenizer_structure)
{
    const char *s = " {\"a\": [1, {\"b\": null}, \"x\\n\"], \"c\": true} ";
    gw_json_tok st[4];
    gw_json_doc d;
    gw_json_doc_init(&d, st, 4); /* forces growth to the heap */
    gw_json_perr e;
    ck_assert_int_eq(gw_json_parse(&d, s, strlen(s), 8, &e), 0);
    ck_assert_uint_eq(d.n, 10);
    ck_assert_int_eq(d.toks[0].type, GW_JSON_OBJECT);
    ck_assert_uint_eq(d.toks[0].size, 2);
    ck_assert_uint_eq(d.toks[0].next, 10);
    ck_assert_int_eq(d.toks[2].type, GW_JSON_ARRAY);
    ck_assert_uint_eq(d.toks[2].size, 3);
    ck_assert_uint_eq(d.toks[2].next, 8); /* key "c" */
    ck_assert_int_eq(d.toks[7].type, GW_JSON_STRING);
    ck_assert_int_eq(d.toks[7].flags, GW_JSON_F_ESCAPED);
    char out[8];
    ck_assert_uint_eq(gw_json_unescape(s + d.toks[7].start, d.toks[7].len, out), 2);
    ck_assert_int_eq(memcmp(out, "x\n", 2), 0);
    ck_assert_int_eq(d.toks[9].type, GW_JSON_TRUE);
    gw_json_doc_dispose(&d);
    gw_json_doc_init(&d, NULL, 0);
    ck_assert_int_eq(gw_json_parse(&d, "", 0, 8, &e), -1);
    ck_assert_str_eq(e.what, "unexpected end of input");
    ck_assert_int_eq(gw_json_parse(&d, "  42  ", 6, 8, &e), 0);
    ck_assert_int_eq(d.toks[0].type, GW_JSON_NUMBER);
    gw_json_doc_dispose(&d);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_transcode");
    TCase *tc = tcase_create("transcode");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, every_route_message_round_trips_exactly);
    tcase_add_test(tc, every_route_message_round_trips_through_its_route);
    tcase_add_test(tc, restaurant_golden);
    tcase_add_test(tc, order_golden);
    tcase_add_test(tc, location_golden_optional_absent);
    tcase_add_test(tc, response_body_field_and_bad_timestamp);
    tcase_add_test(tc, cents_parse_exactly);
    tcase_add_test(tc, cents_write);
    tcase_add_test(tc, doubles_shortest_round_trip);
    tcase_add_test(tc, timestamps_parse_offsets_and_fractions);
    tcase_add_test(tc, strings_utf8_both_ways);
    tcase_add_test(tc, bytes_base64);
    tcase_add_test(tc, malformed_json_names_offset);
    tcase_add_test(tc, wrong_types_name_the_field);
    tcase_add_test(tc, out_of_range_numbers);
    tcase_add_test(tc, unknown_enum_values_list_the_choices);
    tcase_add_test(tc, path_ids_must_be_integers);
    tcase_add_test(tc, unknown_and_duplicate_fields);
    tcase_add_test(tc, depth_limit);
    tcase_add_test(tc, large_body_is_413);
    tcase_add_test(tc, big_body_many_tokens);
    tcase_add_test(tc, query_params_fill_the_request);
    tcase_add_test(tc, repeated_query_params_append);
    tcase_add_test(tc, path_and_body_together);
    tcase_add_test(tc, allocation_failures_leave_nothing);
    tcase_add_test(tc, tokenizer_structure);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gw_transcode_init();
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
