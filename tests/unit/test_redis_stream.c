/* test_redis_stream.c - se_redis_stream (consumer groups) against the real
 * Redis of the stack (scripts/test.sh exports SE_REDIS_URL). Every test
 * runs in its own process with a stream, group and dead-letter stream
 * named after the pid, deleted by the teardown.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "se_log.h"
#include "se_redis.h"
#include "se_redis_stream.h"
#include "se_test_stack.h"

static se_redis *rs_r;         /* the consumer's connection */
static se_redis_stream rs_a;   /* consumer "a" */
static se_redis_stream rs_b;   /* consumer "b", same group */

static void setup(void)
{
    se_log_init("test_redis_stream");
    se_redis_err err;
    rs_r = se_redis_create(se_test_env_url("SE_REDIS_URL"), SE_T(2000), &err);
    ck_assert_msg(rs_r != NULL, "redis: %s", err.msg);
    char stream[64], dead[80];
    snprintf(stream, sizeof stream, "%s", se_test_uniq("test:stream:", "", ""));
    snprintf(dead, sizeof dead, "%s:dead", stream);
    se_redis_stream_init(&rs_a, stream, "g", "a", dead, "rs_test");
    se_redis_stream_init(&rs_b, stream, "g", "b", dead, "rs_test");
}

static void teardown(void)
{
    redisReply *r = se_redis_command(rs_r, 0, NULL, "DEL %s %s", rs_a.stream, rs_a.dead_stream);
    if (r != NULL)
        freeReplyObject(r);
    se_redis_destroy(rs_r);
    se_redis_stream_dispose(&rs_a);
    se_redis_stream_dispose(&rs_b);
    se_redis_stream_dispose(&rs_b); /* twice is fine */
}

/* XADD <stream> * n <i> [bin <binary>]; returns the id in id_out (48 B). */
static void add(int i, char *id_out)
{
    const char bin[] = {'x', '\0', 'y'};
    se_redis_err err;
    redisReply *r = se_redis_command(rs_r, 0, &err, "XADD %s * n %d bin %b", rs_a.stream, i,
                                     bin, sizeof bin);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STRING, "XADD: %s", err.msg);
    if (id_out != NULL)
        snprintf(id_out, SE_REDIS_STREAM_ID_MAX, "%s", r->str);
    freeReplyObject(r);
}

/* An integer reply (XLEN, XINFO counts...). */
static long long int_reply(const char *fmt, const char *a, const char *b)
{
    se_redis_err err;
    redisReply *r = se_redis_command(rs_r, 0, &err, fmt, a, b);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s: %s", fmt, err.msg);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

static long long pending_count(void)
{
    se_redis_err err;
    redisReply *r = se_redis_command(rs_r, 0, &err, "XPENDING %s g", rs_a.stream);
    ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY, "XPENDING: %s", err.msg);
    long long v = r->element[0]->integer;
    freeReplyObject(r);
    return v;
}

/* The value of field `name` in a checked entry, NULL if absent. */
static const redisReply *field(const redisReply *entry, const char *name)
{
    const redisReply *fv = se_redis_stream_entry_fields(entry);
    for (size_t i = 0; fv != NULL && i + 1 < fv->elements; i += 2)
        if (strcmp(fv->element[i]->str, name) == 0)
            return fv->element[i + 1];
    return NULL;
}

/* Ensures the group, adds n (<= 8) entries (their ids in ids) and reads
 * them as consumer "a": they are a's pending entries afterwards. */
static void deliver_to_a(int n, char ids[][SE_REDIS_STREAM_ID_MAX])
{
    ck_assert_int_eq(se_redis_stream_ensure_group(rs_r, &rs_a), 0);
    for (int i = 0; i < n; i++)
        add(i, ids[i]);
    redisReply *reply;
    const redisReply *entries;
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 8, 0, &reply, &entries), n);
    freeReplyObject(reply);
}

START_TEST(group_created_once_and_keeps_older_entries)
{
    char id0[SE_REDIS_STREAM_ID_MAX];
    add(0, id0); /* before the group exists: must not be skipped */
    ck_assert_int_eq(se_redis_stream_ensure_group(rs_r, &rs_a), 0);
    ck_assert_int_eq(se_redis_stream_ensure_group(rs_r, &rs_b), 0); /* BUSYGROUP */
    redisReply *r = se_redis_command(rs_r, 0, NULL, "XINFO GROUPS %s", rs_a.stream);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->elements, 1);
    freeReplyObject(r);
    redisReply *reply;
    const redisReply *entries;
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 10, 0, &reply, &entries), 1);
    ck_assert_str_eq(se_redis_stream_entry_id(entries->element[0]), id0);
    freeReplyObject(reply);
}
END_TEST

START_TEST(reads_new_entries_then_times_out)
{
    ck_assert_int_eq(se_redis_stream_ensure_group(rs_r, &rs_a), 0);
    char ids[3][SE_REDIS_STREAM_ID_MAX];
    for (int i = 0; i < 3; i++)
        add(i, ids[i]);
    redisReply *reply;
    const redisReply *entries;
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 10, SE_T(50), &reply, &entries), 3);
    for (size_t i = 0; i < 3; i++) {
        const redisReply *e = entries->element[i];
        ck_assert_str_eq(se_redis_stream_entry_id(e), ids[i]);
        ck_assert_int_eq(atoi(field(e, "n")->str), (int)i);
        ck_assert_uint_eq(field(e, "bin")->len, 3);
        ck_assert_mem_eq(field(e, "bin")->str, "x\0y", 3);
    }
    freeReplyObject(reply);
    ck_assert_int_eq(pending_count(), 3);
    /* nothing new: BLOCK times out with 0 and nothing to free */
    int64_t t0 = se_test_now_ms();
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 10, 50, &reply, &entries), 0);
    ck_assert_int_ge(se_test_now_ms() - t0, 45);
    ck_assert_ptr_null(reply);
    ck_assert_ptr_null(entries);
}
END_TEST

START_TEST(count_limits_a_read)
{
    ck_assert_int_eq(se_redis_stream_ensure_group(rs_r, &rs_a), 0);
    for (int i = 0; i < 5; i++)
        add(i, NULL);
    redisReply *reply;
    const redisReply *entries;
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 2, 0, &reply, &entries), 2);
    freeReplyObject(reply);
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 10, 0, &reply, &entries), 3);
    freeReplyObject(reply);
}
END_TEST

START_TEST(history_read_returns_own_pending_entries)
{
    char ids[2][SE_REDIS_STREAM_ID_MAX];
    deliver_to_a(2, ids);
    redisReply *reply;
    const redisReply *entries;
    ck_assert_int_eq(se_redis_stream_deliveries(rs_r, &rs_a, ids[0]), 1);
    /* another consumer has no pending entries; "a" has both, "after 0" */
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_b, "0", 10, 1000, &reply, &entries), 0);
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, "0", 10, 1000, &reply, &entries), 2);
    ck_assert_str_eq(se_redis_stream_entry_id(entries->element[1]), ids[1]);
    freeReplyObject(reply);
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ids[0], 10, 0, &reply, &entries), 1);
    ck_assert_str_eq(se_redis_stream_entry_id(entries->element[0]), ids[1]);
    freeReplyObject(reply);
    /* an entry deleted while pending comes back without fields */
    freeReplyObject(se_redis_command(rs_r, 0, NULL, "XDEL %s %s", rs_a.stream, ids[0]));
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, "0", 10, 0, &reply, &entries), 2);
    ck_assert_str_eq(se_redis_stream_entry_id(entries->element[0]), ids[0]);
    ck_assert_ptr_null(se_redis_stream_entry_fields(entries->element[0]));
    ck_assert_ptr_nonnull(se_redis_stream_entry_fields(entries->element[1]));
    freeReplyObject(reply);
    /* no longer pending: counted as 1, harmless */
    ck_assert_int_eq(se_redis_stream_ack(rs_r, &rs_a, (const char *[]){ids[1]}, 1), 0);
    ck_assert_int_eq(se_redis_stream_deliveries(rs_r, &rs_a, ids[1]), 1);
}
END_TEST

START_TEST(vanished_group_is_recreated_by_read)
{
    add(0, NULL);
    redisReply *reply;
    const redisReply *entries;
    /* no group yet (NOGROUP): created at 0, so the older entry is read */
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 10, 0, &reply, &entries), 1);
    freeReplyObject(reply);
    freeReplyObject(se_redis_command(rs_r, 0, NULL, "XGROUP DESTROY %s g", rs_a.stream));
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 10, 0, &reply, &entries), 1);
    freeReplyObject(reply);
    /* without a stream either: MKSTREAM */
    freeReplyObject(se_redis_command(rs_r, 0, NULL, "DEL %s", rs_a.stream));
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 10, 0, &reply, &entries), 0);
    ck_assert_int_eq(int_reply("XLEN %s%s", rs_a.stream, ""), 0);
}
END_TEST

START_TEST(autoclaim_takes_over_idle_entries)
{
    char ids[3][SE_REDIS_STREAM_ID_MAX];
    deliver_to_a(3, ids);
    redisReply *reply;
    const redisReply *entries;
    char cursor[SE_REDIS_STREAM_ID_MAX] = "0-0";
    size_t deleted = 99;
    /* not idle long enough: nothing, scan complete */
    ck_assert_int_eq(se_redis_stream_autoclaim(rs_r, &rs_b, 60000, 10, cursor, &reply,
                                               &entries, &deleted),
                     0);
    ck_assert_str_eq(cursor, "0-0");
    ck_assert_uint_eq(deleted, 0);
    /* one deleted while pending: dropped by Redis and counted */
    freeReplyObject(se_redis_command(rs_r, 0, NULL, "XDEL %s %s", rs_a.stream, ids[1]));
    ck_assert_int_eq(se_redis_stream_autoclaim(rs_r, &rs_b, 0, 10, cursor, &reply, &entries,
                                               &deleted),
                     2);
    ck_assert_str_eq(se_redis_stream_entry_id(entries->element[0]), ids[0]);
    ck_assert_str_eq(se_redis_stream_entry_id(entries->element[1]), ids[2]);
    ck_assert_uint_eq(deleted, 1);
    ck_assert_str_eq(cursor, "0-0");
    freeReplyObject(reply);
    ck_assert_int_eq(se_redis_stream_deliveries(rs_r, &rs_b, ids[0]), 2);
    /* now b's: a re-reads nothing */
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, "0", 10, 0, &reply, &entries), 0);
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_b, "0", 10, 0, &reply, &entries), 2);
    freeReplyObject(reply);
    /* a cursor walk in steps of 1 */
    snprintf(cursor, sizeof cursor, "0-0");
    ck_assert_int_eq(se_redis_stream_autoclaim(rs_r, &rs_a, 0, 1, cursor, &reply, &entries,
                                               NULL),
                     1);
    freeReplyObject(reply);
    ck_assert_str_ne(cursor, "0-0");
}
END_TEST

/* Idle time of pending entry id, ms (XPENDING extended form). */
static long long idle_ms(const char *id)
{
    redisReply *r = se_redis_command(rs_r, 0, NULL, "XPENDING %s g %s %s 1", rs_a.stream, id, id);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->elements, 1);
    long long v = r->element[0]->element[2]->integer;
    freeReplyObject(r);
    return v;
}

START_TEST(touch_resets_idle_time_without_a_delivery)
{
    char ids[1][SE_REDIS_STREAM_ID_MAX];
    deliver_to_a(1, ids);
    const char *id = ids[0];
    SE_POLL_UNTIL(idle_ms(id) >= SE_T(200), 2000); /* let it grow idle */
    ck_assert_int_ge(idle_ms(id), SE_T(200));
    ck_assert_int_eq(se_redis_stream_touch(rs_r, &rs_a, (const char *[]){id}, 1), 0);
    ck_assert_int_lt(idle_ms(id), SE_T(200));
    ck_assert_int_eq(se_redis_stream_deliveries(rs_r, &rs_a, id), 1);
    ck_assert_int_eq(se_redis_stream_touch(rs_r, &rs_a, NULL, 0), 0);
}
END_TEST

START_TEST(ack_acknowledges_and_deletes_in_one_go)
{
    char ids[3][SE_REDIS_STREAM_ID_MAX];
    deliver_to_a(3, ids);
    const char *two[] = {ids[0], ids[2]};
    ck_assert_int_eq(se_redis_stream_ack(rs_r, &rs_a, two, 2), 0);
    ck_assert_int_eq(int_reply("XLEN %s%s", rs_a.stream, ""), 1);
    ck_assert_int_eq(pending_count(), 1);
    ck_assert_int_eq(se_redis_stream_ack(rs_r, &rs_a, two, 2), 0); /* idempotent */
    ck_assert_int_eq(se_redis_stream_ack(rs_r, &rs_a, NULL, 0), 0);
    /* the connection is clean afterwards: a plain command works */
    ck_assert_int_eq(int_reply("XLEN %s%s", rs_a.stream, ""), 1);
}
END_TEST

START_TEST(ack_survives_a_killed_connection)
{
    char ids[1][SE_REDIS_STREAM_ID_MAX];
    deliver_to_a(1, ids);
    const char *id = ids[0];
    /* kill our own connection from another one: the next use reconnects */
    long long cid = int_reply("CLIENT ID%s%s", "", "");
    se_redis *k = se_redis_create(se_test_env_url("SE_REDIS_URL"), SE_T(2000), NULL);
    ck_assert_ptr_nonnull(k);
    freeReplyObject(se_redis_command(k, 0, NULL, "CLIENT KILL ID %lld", cid));
    se_redis_destroy(k);
    ck_assert_int_eq(se_redis_stream_ack(rs_r, &rs_a, (const char *[]){id}, 1), 0);
    ck_assert_int_eq(pending_count(), 0);
}
END_TEST

START_TEST(dead_letter_copies_binary_fields_and_extras)
{
    const char bin[] = {'p', '\0', 'q', '\n'};
    const char *fields[] = {"loc", bin, "rid", "r-1"};
    const size_t lens[] = {3, sizeof bin, 3, 3};
    const char *extra[] = {"error", "bad report", "id", "1-0"};
    ck_assert_int_eq(se_redis_stream_dead_letter(rs_r, &rs_a, fields, lens, 4, extra, 4), 0);
    /* NUL-terminated fields (lens NULL) */
    const char *plain[] = {"order_id", "42"};
    ck_assert_int_eq(se_redis_stream_dead_letter(rs_r, &rs_a, plain, NULL, 2, extra, 2), 0);
    redisReply *r = se_redis_command(rs_r, 0, NULL, "XRANGE %s - +", rs_a.dead_stream);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->elements, 2);
    const redisReply *fv = r->element[0]->element[1];
    ck_assert_uint_eq(fv->elements, 8);
    ck_assert_uint_eq(fv->element[1]->len, sizeof bin);
    ck_assert_mem_eq(fv->element[1]->str, bin, sizeof bin);
    ck_assert_str_eq(fv->element[4]->str, "error");
    ck_assert_str_eq(fv->element[5]->str, "bad report");
    ck_assert_str_eq(fv->element[7]->str, "1-0");
    fv = r->element[1]->element[1];
    ck_assert_uint_eq(fv->elements, 4);
    ck_assert_str_eq(fv->element[1]->str, "42");
    ck_assert_str_eq(fv->element[2]->str, "error");
    freeReplyObject(r);
}
END_TEST

START_TEST(errors_are_reported_not_trusted)
{
    /* the stream key holds a string: every operation fails cleanly */
    freeReplyObject(se_redis_command(rs_r, 0, NULL, "SET %s x", rs_a.stream));
    redisReply *reply = (redisReply *)1;
    const redisReply *entries = (const redisReply *)1;
    ck_assert_int_eq(se_redis_stream_ensure_group(rs_r, &rs_a), -1);
    ck_assert_int_eq(se_redis_stream_read(rs_r, &rs_a, ">", 10, 0, &reply, &entries), -1);
    ck_assert_ptr_null(reply);
    ck_assert_ptr_null(entries);
    char cursor[SE_REDIS_STREAM_ID_MAX] = "0-0";
    ck_assert_int_eq(se_redis_stream_autoclaim(rs_r, &rs_a, 0, 10, cursor, &reply, &entries,
                                               NULL),
                     -1);
    ck_assert_int_eq(se_redis_stream_deliveries(rs_r, &rs_a, "1-0"), -1);
    ck_assert_int_eq(se_redis_stream_ack(rs_r, &rs_a, (const char *[]){"1-0"}, 1), -1);
    /* and the connection still works */
    ck_assert_int_eq(int_reply("EXISTS %s%s", rs_a.stream, ""), 1);
}
END_TEST

START_TEST(redis_down_fails_fast)
{
    se_redis *down = se_redis_create_ex("redis://127.0.0.1:1/0", 200, SE_REDIS_FAIL_FAST, NULL);
    ck_assert_ptr_nonnull(down);
    redisReply *reply;
    const redisReply *entries;
    int64_t t0 = se_test_now_ms();
    ck_assert_int_eq(se_redis_stream_ensure_group(down, &rs_a), -1);
    ck_assert_int_eq(se_redis_stream_read(down, &rs_a, ">", 10, 100, &reply, &entries), -1);
    ck_assert_int_eq(se_redis_stream_ack(down, &rs_a, (const char *[]){"1-0"}, 1), -1);
    const char *f[] = {"a", "b"};
    ck_assert_int_eq(se_redis_stream_dead_letter(down, &rs_a, f, NULL, 2, f, 0), -1);
    ck_assert_int_lt(se_test_now_ms() - t0, SE_T(3000));
    se_redis_destroy(down);
}
END_TEST

START_TEST(consumer_name_from_env_or_host_and_pid)
{
    unsetenv("SE_TEST_CONSUMER");
    char want[300], host[256] = "";
    ck_assert_int_eq(gethostname(host, sizeof host), 0);
    snprintf(want, sizeof want, "%s-%ld", host, (long)getpid());
    ck_assert_str_eq(se_redis_stream_consumer_from_env("SE_TEST_CONSUMER"), want);
    setenv("SE_TEST_CONSUMER", "worker-7", 1);
    ck_assert_str_eq(se_redis_stream_consumer_from_env("SE_TEST_CONSUMER"), "worker-7");
}
END_TEST

static Suite *redis_stream_suite(void)
{
    Suite *s = suite_create("redis_stream");
    TCase *tc = tcase_create("redis_stream");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, group_created_once_and_keeps_older_entries);
    tcase_add_test(tc, reads_new_entries_then_times_out);
    tcase_add_test(tc, count_limits_a_read);
    tcase_add_test(tc, history_read_returns_own_pending_entries);
    tcase_add_test(tc, vanished_group_is_recreated_by_read);
    tcase_add_test(tc, autoclaim_takes_over_idle_entries);
    tcase_add_test(tc, touch_resets_idle_time_without_a_delivery);
    tcase_add_test(tc, ack_acknowledges_and_deletes_in_one_go);
    tcase_add_test(tc, ack_survives_a_killed_connection);
    tcase_add_test(tc, dead_letter_copies_binary_fields_and_extras);
    tcase_add_test(tc, errors_are_reported_not_trusted);
    tcase_add_test(tc, redis_down_fails_fast);
    tcase_add_test(tc, consumer_name_from_env_or_host_and_pid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(redis_stream_suite());
}
