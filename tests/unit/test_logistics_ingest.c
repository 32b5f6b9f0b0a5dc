/* test_logistics_ingest.c - ReportLocation / ReportLocations against the
 * real service, Redis stream and all: a 202 means the entry is in the
 * stream with the packed Location the worker expects; every validation
 * rule names its field; a batch answers each report on its own; Redis
 * down is UNAVAILABLE (never a false accept); a long backlog is refused.
 */
#include <pthread.h>

#include "logistics_test.h"
#include "se_time.h"

static Swifteats__V1__ReportLocationResponse *report(const Swifteats__V1__ReportLocationRequest *r,
                                                      se_status *st)
{
    Swifteats__V1__ReportLocationResponse *resp = NULL;
    se_call_opts o = {.timeout_ms = SE_T(3000), .no_retry = 1};
    swifteats_v1_logistics_service_report_location(lt_ch, r, &resp, &o, st);
    return resp;
}

/* The stream entry with id `id`: its Location, and rid into rid. */
static Swifteats__V1__Location *stream_entry(const char *id, char *rid, size_t rid_len)
{
    redisReply *r = LT_REDIS("XRANGE %s %s %s", lt_stream, id, id);
    ck_assert_int_eq((int)r->elements, 1);
    redisReply *fields = r->element[0]->element[1];
    ck_assert_int_eq((int)fields->elements, 4);
    ck_assert_str_eq(fields->element[0]->str, "loc");
    ck_assert_str_eq(fields->element[2]->str, "rid");
    snprintf(rid, rid_len, "%s", fields->element[3]->str);
    Swifteats__V1__Location *loc = swifteats__v1__location__unpack(
        NULL, fields->element[1]->len, (const uint8_t *)fields->element[1]->str);
    ck_assert_ptr_nonnull(loc);
    freeReplyObject(r);
    return loc;
}

START_TEST(accepted_report_is_in_the_stream_with_its_fields)
{
    Swifteats__V1__ReportLocationRequest r = lt_report("drv-1", 40.7128, -74.006);
    r._speed_case = SWIFTEATS__V1__REPORT_LOCATION_REQUEST___SPEED_SPEED;
    r.speed = 8.5;
    r._order_id_case = SWIFTEATS__V1__REPORT_LOCATION_REQUEST___ORDER_ID_ORDER_ID;
    r.order_id = 77;
    se_status st;
    int64_t before = se_wall_us();
    Swifteats__V1__ReportLocationResponse *resp = report(&r, &st);
    ck_assert_msg(resp != NULL, "%s", st.message);
    ck_assert_str_eq(resp->status, "accepted");
    ck_assert_str_eq(resp->driver_id, "drv-1");
    char rid[64];
    Swifteats__V1__Location *loc = stream_entry(resp->message_id, rid, sizeof rid);
    ck_assert_str_eq(loc->driver_id, "drv-1");
    ck_assert(loc->latitude == 40.7128 && loc->longitude == -74.006);
    ck_assert(loc->_speed_case && loc->speed == 8.5);
    ck_assert(!loc->_heading_case && !loc->_accuracy_case);
    ck_assert(loc->_order_id_case && loc->order_id == 77);
    /* no device time: the acceptance time */
    ck_assert_ptr_nonnull(loc->timestamp);
    int64_t us = loc->timestamp->seconds * 1000000 + loc->timestamp->nanos / 1000;
    ck_assert(us >= before && us <= se_wall_us());
    ck_assert_int_gt((int)strlen(rid), 0);
    swifteats__v1__location__free_unpacked(loc, NULL);
    se_msg_free(&resp->base);
}
END_TEST

typedef struct bad_case {
    const char *field;
    void (*spoil)(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *ts);
} bad_case;

static void no_id(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->driver_id = "";
}
static void long_id(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->driver_id = "d123456789012345678901234567890123456789012345678901234567890123456789";
}
static void no_lat(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->_latitude_case = 0;
}
static void big_lat(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->latitude = 90.5;
}
static void no_lng(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->_longitude_case = 0;
}
static void big_lng(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->longitude = -180.01;
}
static void neg_speed(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->_speed_case = SWIFTEATS__V1__REPORT_LOCATION_REQUEST___SPEED_SPEED;
    r->speed = -1;
}
static void big_heading(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->_heading_case = SWIFTEATS__V1__REPORT_LOCATION_REQUEST___HEADING_HEADING;
    r->heading = 361;
}
static void neg_accuracy(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->_accuracy_case = SWIFTEATS__V1__REPORT_LOCATION_REQUEST___ACCURACY_ACCURACY;
    r->accuracy = -0.5;
}
static void zero_order(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    (void)t;
    r->_order_id_case = SWIFTEATS__V1__REPORT_LOCATION_REQUEST___ORDER_ID_ORDER_ID;
    r->order_id = 0;
}
static void future_ts(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    t->seconds = se_wall_us() / 1000000 + 600;
    r->timestamp = t;
}
static void old_ts(Swifteats__V1__ReportLocationRequest *r, Google__Protobuf__Timestamp *t)
{
    t->seconds = se_wall_us() / 1000000 - 2 * 86400;
    r->timestamp = t;
}

static const bad_case bad_cases[] = {
    {"driver_id", no_id},    {"driver_id", long_id},   {"latitude", no_lat},
    {"latitude", big_lat},   {"longitude", no_lng},    {"longitude", big_lng},
    {"speed", neg_speed},    {"heading", big_heading}, {"accuracy", neg_accuracy},
    {"order_id", zero_order}, {"timestamp", future_ts}, {"timestamp", old_ts},
};

START_TEST(each_invalid_report_is_refused_naming_its_field)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        Swifteats__V1__ReportLocationRequest r = lt_report("drv-bad", 1, 2);
        Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
        bad_cases[i].spoil(&r, &ts);
        se_status st;
        ck_assert_ptr_null(report(&r, &st));
        ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
        ck_assert_msg(strstr(st.message, bad_cases[i].field) == st.message, "case %zu: %s", i,
                      st.message);
    }
    redisReply *len = LT_REDIS("XLEN %s", lt_stream);
    ck_assert_int_eq(len->integer, 0); /* nothing refused was stored */
    freeReplyObject(len);
}
END_TEST

START_TEST(batch_answers_each_report_in_order)
{
    Swifteats__V1__ReportLocationRequest a = lt_report("drv-a", 10, 20), b = lt_report("drv-b", 95, 20),
                                         c = lt_report("drv-c", 11, 21);
    Swifteats__V1__ReportLocationRequest *reports[] = {&a, &b, &c};
    char *rids[] = {"rid-a", "", "rid-c"};
    Swifteats__V1__ReportLocationsRequest req = SWIFTEATS__V1__REPORT_LOCATIONS_REQUEST__INIT;
    req.reports = reports;
    req.n_reports = 3;
    req.request_ids = rids;
    req.n_request_ids = 3;
    Swifteats__V1__ReportLocationsResponse *resp = NULL;
    se_status st;
    se_call_opts o = {.timeout_ms = SE_T(3000), .request_id = "call-rid"};
    ck_assert_int_eq(swifteats_v1_logistics_service_report_locations(lt_ch, &req, &resp, &o, &st), 0);
    ck_assert_int_eq((int)resp->n_results, 3);
    ck_assert_int_eq(resp->results[0]->code, 0);
    ck_assert_int_eq(resp->results[1]->code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(resp->results[1]->message, "latitude"));
    ck_assert_ptr_null(resp->results[1]->receipt);
    ck_assert_int_eq(resp->results[2]->code, 0);
    char rid[64];
    const char *want_rid[] = {"rid-a", NULL, "rid-c"};
    for (int i = 0; i < 3; i += 2) {
        Swifteats__V1__Location *loc =
            stream_entry(resp->results[i]->receipt->message_id, rid, sizeof rid);
        ck_assert_str_eq(loc->driver_id, reports[i]->driver_id);
        ck_assert_str_eq(rid, want_rid[i]);
        swifteats__v1__location__free_unpacked(loc, NULL);
    }
    ck_assert_str_ne(resp->results[0]->receipt->message_id,
                     resp->results[2]->receipt->message_id);
    se_msg_free(&resp->base);
    req.n_reports = 0;
    ck_assert_int_ne(swifteats_v1_logistics_service_report_locations(lt_ch, &req, &resp, &o, &st), 0);
    ck_assert_int_eq(st.code, GRPC_STATUS_INVALID_ARGUMENT);
    ck_assert_ptr_nonnull(strstr(st.message, "reports"));
}
END_TEST

#define SENDERS 8
#define PER_SENDER 25

static void *send_reports(void *arg)
{
    long k = (long)arg;
    for (int i = 0; i < PER_SENDER; i++) {
        char id[32];
        snprintf(id, sizeof id, "drv-%ld-%d", k, i);
        Swifteats__V1__ReportLocationRequest r = lt_report(id, 1, 2);
        se_status st;
        Swifteats__V1__ReportLocationResponse *resp = report(&r, &st);
        ck_assert_msg(resp != NULL, "%s", st.message);
        se_msg_free(&resp->base);
    }
    return NULL;
}

START_TEST(concurrent_single_reports_are_all_stored_once)
{
    pthread_t t[SENDERS];
    for (long k = 0; k < SENDERS; k++)
        ck_assert_int_eq(pthread_create(&t[k], NULL, send_reports, (void *)k), 0);
    for (int k = 0; k < SENDERS; k++)
        pthread_join(t[k], NULL);
    redisReply *len = LT_REDIS("XLEN %s", lt_stream);
    ck_assert_int_eq(len->integer, SENDERS * PER_SENDER);
    freeReplyObject(len);
}
END_TEST

START_TEST(redis_down_is_unavailable_never_accepted)
{
    Swifteats__V1__ReportLocationRequest r = lt_report("drv-down", 1, 2);
    se_test_stack("stop-redis");
    se_status st;
    Swifteats__V1__ReportLocationResponse *resp = report(&r, &st);
    se_test_stack("start-redis");
    ck_assert_ptr_null(resp);
    ck_assert_int_eq(st.code, GRPC_STATUS_UNAVAILABLE);
    ck_assert_ptr_nonnull(strstr(st.message, "stream"));
    /* back: accepted again (the pool reconnects) */
    resp = report(&r, &st);
    ck_assert_msg(resp != NULL, "%s", st.message);
    se_msg_free(&resp->base);
    se_redis_destroy(lt_r); /* the fixture's connection died with the server */
    lt_r = se_redis_create(se_test_env_url("SE_REDIS_URL"), 2000, NULL);
    ck_assert_ptr_nonnull(lt_r);
}
END_TEST

/* MAXLEN 1000: refused from 900 unprocessed entries on. */
static void small_stream_setup(void)
{
    logistics_service_config cfg = lt_config();
    cfg.stream_maxlen = 1000;
    lt_start(&cfg);
}

static grpc_status_code report_code(void)
{
    Swifteats__V1__ReportLocationRequest r = lt_report("drv-backlog", 1, 2);
    se_status st;
    Swifteats__V1__ReportLocationResponse *resp = report(&r, &st);
    se_msg_free((ProtobufCMessage *)resp);
    return resp != NULL ? GRPC_STATUS_OK : st.code;
}

START_TEST(long_backlog_is_refused_until_the_worker_catches_up)
{
    for (int i = 0; i < 900; i++)
        freeReplyObject(LT_REDIS("XADD %s * loc x rid y", lt_stream));
    ck_assert_int_eq(report_code(), GRPC_STATUS_OK); /* it sees the length: 901 */
    se_status st;
    Swifteats__V1__ReportLocationRequest r = lt_report("drv-backlog", 1, 2);
    ck_assert_ptr_null(report(&r, &st));
    ck_assert_int_eq(st.code, GRPC_STATUS_RESOURCE_EXHAUSTED);
    ck_assert_ptr_nonnull(strstr(st.message, "location worker"));
    redisReply *len = LT_REDIS("XLEN %s", lt_stream);
    ck_assert_int_eq(len->integer, 901); /* the refused one was not stored */
    freeReplyObject(len);
    freeReplyObject(LT_REDIS("XTRIM %s MAXLEN 0", lt_stream)); /* the worker caught up */
    grpc_status_code code = GRPC_STATUS_RESOURCE_EXHAUSTED;
    SE_POLL_UNTIL((code = report_code()) == GRPC_STATUS_OK, 2000);
    ck_assert_int_eq(code, GRPC_STATUS_OK);
}
END_TEST

static Suite *logistics_ingest_suite(void)
{
    Suite *s = suite_create("logistics_ingest");
    TCase *tc = tcase_create("ingest");
    tcase_add_checked_fixture(tc, lt_setup, lt_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, accepted_report_is_in_the_stream_with_its_fields);
    tcase_add_test(tc, each_invalid_report_is_refused_naming_its_field);
    tcase_add_test(tc, batch_answers_each_report_in_order);
    tcase_add_test(tc, concurrent_single_reports_are_all_stored_once);
    tcase_add_test(tc, redis_down_is_unavailable_never_accepted);
    suite_add_tcase(s, tc);
    TCase *small = tcase_create("backlog");
    tcase_add_checked_fixture(small, small_stream_setup, lt_teardown);
    tcase_set_timeout(small, 60);
    tcase_add_test(small, long_backlog_is_refused_until_the_worker_catches_up);
    suite_add_tcase(s, small);
    return s;
}

int main(void)
{
    return se_test_run(logistics_ingest_suite());
}
