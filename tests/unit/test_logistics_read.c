/* test_logistics_read.c - the logistics read RPCs and the live stream
 * against the real service: positions stored as the location worker
 * stores them (logistics_test.h lt_store_position), history rows in
 * location_history, live updates PUBLISHed on the order's channel.
 */
#include <inttypes.h>

#include "logistics_test.h"
#include "se_time.h"

static se_call_opts opts(void)
{
    return (se_call_opts){.timeout_ms = SE_T(3000)};
}

static Swifteats__V1__Location loc_at(const char *id, double lat, double lng, int64_t order_id,
                                      Google__Protobuf__Timestamp *ts, int64_t us)
{
    Swifteats__V1__Location l = SWIFTEATS__V1__LOCATION__INIT;
    l.driver_id = (char *)id;
    l.latitude = lat;
    l.longitude = lng;
    if (order_id > 0) {
        l._order_id_case = SWIFTEATS__V1__LOCATION___ORDER_ID_ORDER_ID;
        l.order_id = order_id;
    }
    google__protobuf__timestamp__init(ts);
    ts->seconds = us / 1000000;
    ts->nanos = (int32_t)(us % 1000000) * 1000;
    l.timestamp = ts;
    return l;
}

START_TEST(current_and_order_location_are_read_back)
{
    Google__Protobuf__Timestamp ts;
    int64_t now = se_wall_us();
    Swifteats__V1__Location l = loc_at("drv-1", 40.75, -73.99, 42, &ts, now);
    lt_store_position(&l, now / 1000);
    se_call_opts o = opts();
    se_status st;
    Swifteats__V1__GetDriverLocationRequest q = SWIFTEATS__V1__GET_DRIVER_LOCATION_REQUEST__INIT;
    q.driver_id = "drv-1";
    Swifteats__V1__Location *got = NULL;
    ck_assert_int_eq(swifteats_v1_logistics_service_get_driver_location(lt_ch, &q, &got, &o, &st), 0);
    ck_assert_str_eq(got->driver_id, "drv-1");
    ck_assert(got->latitude == 40.75 && got->order_id == 42);
    ck_assert_int_eq(got->timestamp->seconds, ts.seconds);
    se_msg_free(&got->base);
    Swifteats__V1__GetOrderDriverLocationRequest oq =
        SWIFTEATS__V1__GET_ORDER_DRIVER_LOCATION_REQUEST__INIT;
    oq.order_id = 42;
    ck_assert_int_eq(swifteats_v1_logistics_service_get_order_driver_location(lt_ch, &oq, &got, &o,
                                                                              &st), 0);
    ck_assert_str_eq(got->driver_id, "drv-1");
    se_msg_free(&got->base);
    /* unknown: NOT_FOUND; invalid: INVALID_ARGUMENT naming the field */
    q.driver_id = "drv-unknown";
    ck_assert_int_ne(swifteats_v1_logistics_service_get_driver_location(lt_ch, &q, &got, &o, &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    oq.order_id = 43;
    ck_assert_int_ne(swifteats_v1_logistics_service_get_order_driver_location(lt_ch, &oq, &got, &o,
                                                                              &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    oq.order_id = 0;
    ck_assert_int_ne(swifteats_v1_logistics_service_get_order_driver_location(lt_ch, &oq, &got, &o,
                                                                              &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "order_id"));
    q.driver_id = "";
    ck_assert_int_ne(swifteats_v1_logistics_service_get_driver_location(lt_ch, &q, &got, &o, &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
}
END_TEST

static Swifteats__V1__NearbyDrivers *nearby(double lat, double lng, double radius, int limit,
                                            se_status *st)
{
    Swifteats__V1__FindNearbyDriversRequest q = SWIFTEATS__V1__FIND_NEARBY_DRIVERS_REQUEST__INIT;
    q._lat_case = SWIFTEATS__V1__FIND_NEARBY_DRIVERS_REQUEST___LAT_LAT;
    q.lat = lat;
    q._lng_case = SWIFTEATS__V1__FIND_NEARBY_DRIVERS_REQUEST___LNG_LNG;
    q.lng = lng;
    q.radius = radius;
    q.limit = limit;
    Swifteats__V1__NearbyDrivers *resp = NULL;
    se_call_opts o = opts();
    swifteats_v1_logistics_service_find_nearby_drivers(lt_ch, &q, &resp, &o, st);
    return resp;
}

START_TEST(nearby_is_nearest_first_within_radius_and_skips_silent_drivers)
{
    Google__Protobuf__Timestamp ts;
    int64_t now = se_wall_us();
    /* ~111 m per 0.001 degree of latitude */
    Swifteats__V1__Location far = loc_at("far", 40.003, -74.0, 0, &ts, now);
    Swifteats__V1__Location near = loc_at("near", 40.001, -74.0, 0, &ts, now);
    Swifteats__V1__Location mid = loc_at("mid", 40.002, -74.0, 0, &ts, now);
    Swifteats__V1__Location silent = loc_at("silent", 40.0005, -74.0, 0, &ts, now);
    Swifteats__V1__Location out = loc_at("out", 40.05, -74.0, 0, &ts, now);
    lt_store_position(&far, now / 1000);
    lt_store_position(&near, now / 1000);
    lt_store_position(&mid, now / 1000);
    lt_store_position(&silent, now / 1000 - 61000); /* stale_s = 60 */
    lt_store_position(&out, now / 1000);
    se_status st;
    Swifteats__V1__NearbyDrivers *r = nearby(40.0, -74.0, 1000, 0, &st);
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_int_eq((int)r->n_drivers, 3);
    ck_assert_str_eq(r->drivers[0]->driver_id, "near");
    ck_assert_str_eq(r->drivers[1]->driver_id, "mid");
    ck_assert_str_eq(r->drivers[2]->driver_id, "far");
    ck_assert(r->drivers[0]->distance > 100 && r->drivers[0]->distance < 120);
    ck_assert(r->drivers[1]->latitude > 40.0019 && r->drivers[1]->latitude < 40.0021);
    ck_assert(r->radius == 1000 && r->center_latitude == 40.0);
    se_msg_free(&r->base);
    r = nearby(40.0, -74.0, 0, 2, &st); /* default radius 1000, limit 2 */
    ck_assert_int_eq((int)r->n_drivers, 2);
    ck_assert_str_eq(r->drivers[1]->driver_id, "mid");
    se_msg_free(&r->base);
    const struct { double lat, lng, radius; int limit; const char *field; } bad[] = {
        {91, 0, 0, 0, "lat"}, {0, 181, 0, 0, "lng"}, {0, 0, 50001, 0, "radius"},
        {0, 0, -1, 0, "radius"}, {0, 0, 0, 1001, "limit"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_ptr_null(nearby(bad[i].lat, bad[i].lng, bad[i].radius, bad[i].limit, &st));
        ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
        ck_assert_msg(strstr(st.message, bad[i].field) == st.message, "%s", st.message);
    }
}
END_TEST

/* n rows of driver `id`, one second apart, ending `end_us`. */
static void insert_history(const char *id, int n, int64_t end_us)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO location_history (driver_id, recorded_at, stream_id, latitude, "
             "longitude, speed, order_id) SELECT '%s', 'epoch'::timestamptz + (%" PRId64
             " - (%d - g) * 1000000) * interval '1 us', g || '-0', 40 + g / 1000.0, -74, "
             "CASE WHEN g %% 2 = 0 THEN 5 END, 9 FROM generate_series(1, %d) g",
             id, end_us, n, n);
    lt_exec(sql);
}

static Swifteats__V1__DriverRoute *route(const char *id, int64_t from_us, int64_t to_us, int limit,
                                         se_status *st)
{
    Swifteats__V1__GetDriverRouteRequest q = SWIFTEATS__V1__GET_DRIVER_ROUTE_REQUEST__INIT;
    Google__Protobuf__Timestamp a = GOOGLE__PROTOBUF__TIMESTAMP__INIT, b = a;
    q.driver_id = (char *)id;
    if (from_us) {
        a.seconds = from_us / 1000000;
        q.start_time = &a;
    }
    if (to_us) {
        b.seconds = to_us / 1000000;
        q.end_time = &b;
    }
    q.limit = limit;
    Swifteats__V1__DriverRoute *resp = NULL;
    se_call_opts o = opts();
    swifteats_v1_logistics_service_get_driver_route(lt_ch, &q, &resp, &o, st);
    return resp;
}

START_TEST(route_returns_the_window_oldest_first_with_a_limit)
{
    int64_t now = se_wall_us() / 1000000 * 1000000;
    insert_history("drv-r", 10, now - 5000000); /* now-14 s .. now-5 s */
    se_status st;
    Swifteats__V1__DriverRoute *r = route("drv-r", 0, 0, 0, &st); /* last hour */
    ck_assert_msg(r != NULL, "%s", st.message);
    ck_assert_int_eq((int)r->n_locations, 10);
    ck_assert_int_eq(r->locations[0]->timestamp->seconds, (now - 14000000) / 1000000);
    ck_assert(r->locations[0]->latitude == 40.001 && r->locations[0]->_order_id_case);
    ck_assert(!r->locations[0]->_speed_case && r->locations[1]->_speed_case);
    ck_assert_int_eq(r->end_time->seconds - r->start_time->seconds, 3600);
    se_msg_free(&r->base);
    r = route("drv-r", now - 12000000, now - 8000000, 3, &st); /* 5 rows, limit 3 */
    ck_assert_int_eq((int)r->n_locations, 3);
    ck_assert_int_eq(r->locations[0]->timestamp->seconds, (now - 12000000) / 1000000);
    ck_assert_int_eq(r->locations[2]->timestamp->seconds, (now - 10000000) / 1000000);
    se_msg_free(&r->base);
    r = route("drv-r", now - 100 * 1000000LL, now - 90 * 1000000LL, 0, &st); /* known, empty */
    ck_assert_int_eq((int)r->n_locations, 0);
    se_msg_free(&r->base);
    ck_assert_ptr_null(route("drv-never", 0, 0, 0, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_NOT_FOUND);
    ck_assert_ptr_null(route("drv-r", now, now - 1000000, 0, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "end_time"));
    ck_assert_ptr_null(route("drv-r", now - 8 * 86400 * 1000000LL, now, 0, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_null(route("drv-r", 0, 0, 10001, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "limit"));
}
END_TEST

static se_stream *watch(int64_t order_id)
{
    Swifteats__V1__WatchOrderLocationRequest q = SWIFTEATS__V1__WATCH_ORDER_LOCATION_REQUEST__INIT;
    q.order_id = order_id;
    se_call_opts o = {.timeout_ms = SE_T(10000)};
    se_status st;
    se_stream *s = swifteats_v1_logistics_service_watch_order_location_open(lt_ch, &q, &o, &st);
    ck_assert_msg(s != NULL, "%s", st.message);
    return s;
}

/* The next message of s (fails the test when the stream ends). */
static Swifteats__V1__Location *next_location(se_stream *s)
{
    ProtobufCMessage *m = NULL;
    se_status st;
    ck_assert_msg(se_stream_read(s, &m, &st) == 1, "stream ended: %s %s", se_status_name(st.code),
                  st.message);
    return (Swifteats__V1__Location *)m;
}

static void publish(int64_t order_id, const char *driver)
{
    Google__Protobuf__Timestamp ts;
    Swifteats__V1__Location l = loc_at(driver, 1, 2, order_id, &ts, se_wall_us());
    uint8_t buf[256];
    size_t len = swifteats__v1__location__pack(&l, buf);
    freeReplyObject(LT_REDIS("PUBLISH %sorder:%" PRId64 ":live %b", lt_prefix, order_id, buf, len));
}

static int watchers(int *orders)
{
    int w;
    logistics_service_watch_counts(lt_svc, &w, orders);
    return w;
}

START_TEST(watchers_get_the_marker_then_every_live_update_of_their_order)
{
    se_stream *a = watch(5);
    Swifteats__V1__Location *m = next_location(a);
    ck_assert_str_eq(m->driver_id, ""); /* the marker: subscribed */
    se_msg_free(&m->base);
    publish(6, "other-order"); /* not ours */
    publish(5, "drv-live");
    m = next_location(a);
    ck_assert_str_eq(m->driver_id, "drv-live");
    ck_assert_int_eq(m->order_id, 5);
    se_msg_free(&m->base);
    se_stream *b = watch(5); /* joins a live subscription: marker at once */
    m = next_location(b);
    ck_assert_str_eq(m->driver_id, "");
    se_msg_free(&m->base);
    publish(5, "drv-both");
    m = next_location(a);
    ck_assert_str_eq(m->driver_id, "drv-both");
    se_msg_free(&m->base);
    m = next_location(b);
    ck_assert_str_eq(m->driver_id, "drv-both");
    se_msg_free(&m->base);
    int orders = 0;
    ck_assert_int_eq(watchers(&orders), 2);
    ck_assert_int_eq(orders, 1);
    se_stream_close(a);
    se_stream_close(b);
    SE_POLL_UNTIL(watchers(&orders) == 0 && orders == 0, 3000); /* unsubscribed */
    ck_assert_int_eq(watchers(&orders), 0);
    ck_assert_int_eq(orders, 0);
    /* and a new watcher of the same order subscribes again */
    se_stream *c = watch(5);
    m = next_location(c);
    ck_assert_str_eq(m->driver_id, "");
    se_msg_free(&m->base);
    publish(5, "drv-again");
    m = next_location(c);
    ck_assert_str_eq(m->driver_id, "drv-again");
    se_msg_free(&m->base);
    se_stream_close(c);
}
END_TEST

START_TEST(watch_of_an_invalid_order_is_refused)
{
    se_stream *s = watch(0);
    ProtobufCMessage *m = NULL;
    se_status st;
    ck_assert_int_eq(se_stream_read(s, &m, &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "order_id"));
    se_stream_close(s);
}
END_TEST

static Suite *logistics_read_suite(void)
{
    Suite *s = suite_create("logistics_read");
    TCase *tc = tcase_create("read");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, current_and_order_location_are_read_back);
    tcase_add_test(tc, nearby_is_nearest_first_within_radius_and_skips_silent_drivers);
    tcase_add_test(tc, route_returns_the_window_oldest_first_with_a_limit);
    tcase_add_test(tc, watchers_get_the_marker_then_every_live_update_of_their_order);
    tcase_add_test(tc, watch_of_an_invalid_order_is_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(logistics_read_suite());
}
