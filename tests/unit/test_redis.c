/* test_redis.c - se_redis against a real Redis (scripts/test.sh starts one
 * and exports SE_REDIS_URL and SE_STACK_DIR). Without them every test fails
 * with a message saying so: these tests never skip silently.
 *
 * The restart test stops and starts the shared server: run this suite alone
 * (ctest runs suites one at a time in scripts/test.sh). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_log.h"
#include "se_redis.h"
#include "se_test_stack.h"

static const char *redis_url(void)
{
    return se_test_env_url("SE_REDIS_URL");
}

static se_redis *connect_or_fail(const char *url, int timeout_ms)
{
    se_redis_err err = {0};
    se_redis *r = se_redis_create(url, timeout_ms, &err);
    ck_assert_msg(r != NULL, "connect to %s failed: %s", url, err.msg);
    return r;
}

/* A key unique to this process and purpose. */
static const char *key(const char *base)
{
    return se_test_uniq("test:", base, ":");
}

static long long client_id(se_redis *r)
{
    redisReply *rep = se_redis_command(r, 0, NULL, "CLIENT ID");
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->type, REDIS_REPLY_INTEGER);
    long long id = rep->integer;
    freeReplyObject(rep);
    return id;
}

static void kill_client(long long id)
{
    se_redis *k = connect_or_fail(redis_url(), 1000);
    redisReply *rep = se_redis_command(k, 0, NULL, "CLIENT KILL ID %lld", id);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->integer, 1);
    freeReplyObject(rep);
    se_redis_destroy(k);
}

static void setup(void)
{
    se_log_init("test_redis");
}

START_TEST(command_round_trip)
{
    se_redis *r = connect_or_fail(redis_url(), 1000);
    se_redis_err err = {0};
    const char bin[] = {'a', '\0', 'b', '\r', '\n'};
    const char *k = key("bin");
    const char *argv[] = {"SET", k, bin};
    size_t lens[] = {3, strlen(k), sizeof bin};
    redisReply *rep = se_redis_command_argv(r, 0, 3, argv, lens, &err);
    ck_assert_msg(rep != NULL, "%s", err.msg);
    ck_assert_str_eq(rep->str, "OK");
    freeReplyObject(rep);
    rep = se_redis_command(r, SE_REDIS_IDEMPOTENT, &err, "GET %s", argv[1]);
    ck_assert_ptr_nonnull(rep);
    ck_assert_int_eq(rep->type, REDIS_REPLY_STRING);
    ck_assert_uint_eq(rep->len, sizeof bin);
    ck_assert_mem_eq(rep->str, bin, sizeof bin);
    freeReplyObject(rep);
    rep = se_redis_command(r, 0, &err, "INCRBY %s %d", key("n"), 5);
    ck_assert_int_eq(rep->integer, 5);
    freeReplyObject(rep);
    se_redis_destroy(r);
}
END_TEST

START_TEST(error_reply_has_context)
{
    se_redis *r = connect_or_fail(redis_url(), 1000);
    se_redis_err err = {0};
    redisReply *rep = se_redis_command(r, 0, &err, "SET %s notanumber", key("s"));
    freeReplyObject(rep);
    ck_assert_ptr_null(se_redis_command(r, 0, &err, "incr %s", key("s")));
    ck_assert_int_eq(err.code, SE_REDIS_EREPLY);
    ck_assert_msg(strncmp(err.msg, "INCR: ERR", 9) == 0, "%s", err.msg);
    /* The connection is still fine afterwards. */
    rep = se_redis_command(r, 0, &err, "PING");
    ck_assert_ptr_nonnull(rep);
    freeReplyObject(rep);
    ck_assert_uint_eq(se_redis_reconnects(r), 0);
    se_redis_destroy(r);
}
END_TEST

START_TEST(bad_url_and_refused_connection)
{
    se_redis_err err = {0};
    ck_assert_ptr_null(se_redis_create("http://127.0.0.1:6379", 100, &err));
    ck_assert_int_eq(err.code, SE_REDIS_EINVAL);
    ck_assert_ptr_null(se_redis_create("redis://127.0.0.1:notaport", 100, &err));
    ck_assert_int_eq(err.code, SE_REDIS_EINVAL);
    ck_assert_ptr_null(se_redis_create("redis://127.0.0.1:1/0", 100, &err));
    ck_assert_int_eq(err.code, SE_REDIS_EIO);
    ck_assert_msg(strncmp(err.msg, "CONNECT: ", 9) == 0, "%s", err.msg);
}
END_TEST

START_TEST(url_selects_database)
{
    char url[256];
    snprintf(url, sizeof url, "%s", redis_url());
    char *slash = strrchr(url, '/');
    ck_assert_ptr_nonnull(slash);
    snprintf(slash, sizeof url - (size_t)(slash - url), "/3");
    se_redis *r3 = connect_or_fail(url, 1000), *r0 = connect_or_fail(redis_url(), 1000);
    redisReply *rep = se_redis_command(r3, 0, NULL, "SET %s in3", key("db"));
    freeReplyObject(rep);
    rep = se_redis_command(r0, 0, NULL, "EXISTS %s", key("db"));
    ck_assert_int_eq(rep->integer, 0);
    freeReplyObject(rep);
    rep = se_redis_command(r3, 0, NULL, "EXISTS %s", key("db"));
    ck_assert_int_eq(rep->integer, 1);
    freeReplyObject(rep);
    se_redis_destroy(r3);
    se_redis_destroy(r0);
}
END_TEST

START_TEST(reconnects_after_client_kill)
{
    se_redis *r = connect_or_fail(redis_url(), 1000);
    kill_client(client_id(r));
    /* Not idempotent, yet safe: the loss is noticed before sending. */
    se_redis_err err = {0};
    redisReply *rep = se_redis_command(r, 0, &err, "INCR %s", key("k"));
    ck_assert_msg(rep != NULL, "%s", err.msg);
    ck_assert_int_eq(rep->integer, 1);
    freeReplyObject(rep);
    ck_assert_uint_eq(se_redis_reconnects(r), 1);
    se_redis_destroy(r);
}
END_TEST

static void kill_client_of(void *id)
{
    kill_client(*(long long *)id);
}

/* A 1 s BLPOP whose connection is killed after 200 ms. */
static redisReply *blpop_while_killed(se_redis *r, int flags, se_redis_err *err)
{
    long long id = client_id(r);
    se_test_later killer;
    se_test_later_start(&killer, 200, kill_client_of, &id);
    redisReply *rep = se_redis_command(r, flags, err, "BLPOP %s 1", key("empty"));
    se_test_later_join(&killer);
    return rep;
}

START_TEST(idempotent_command_retried_when_lost_in_flight)
{
    se_redis *r = connect_or_fail(redis_url(), 3000);
    se_redis_err err = {0};
    redisReply *rep = blpop_while_killed(r, SE_REDIS_IDEMPOTENT, &err);
    ck_assert_msg(rep != NULL, "%s", err.msg);
    ck_assert_int_eq(rep->type, REDIS_REPLY_NIL);
    freeReplyObject(rep);
    ck_assert_uint_eq(se_redis_reconnects(r), 1);
    se_redis_destroy(r);
}
END_TEST

START_TEST(other_command_not_retried_when_lost_in_flight)
{
    se_redis *r = connect_or_fail(redis_url(), 3000);
    se_redis_err err = {0};
    ck_assert_ptr_null(blpop_while_killed(r, 0, &err));
    ck_assert_int_eq(err.code, SE_REDIS_EIO);
    ck_assert_msg(strncmp(err.msg, "BLPOP: connection lost", 22) == 0, "%s", err.msg);
    redisReply *rep = se_redis_command(r, 0, &err, "PING");
    ck_assert_ptr_nonnull(rep);
    freeReplyObject(rep);
    ck_assert_uint_eq(se_redis_reconnects(r), 1);
    se_redis_destroy(r);
}
END_TEST

START_TEST(command_timeout)
{
    se_redis *r = connect_or_fail(redis_url(), 150);
    se_redis_err err = {0};
    ck_assert_ptr_null(se_redis_command(r, 0, &err, "BLPOP %s 2", key("never")));
    ck_assert_int_eq(err.code, SE_REDIS_EIO);
    ck_assert_msg(strstr(err.msg, "timed out") != NULL, "%s", err.msg);
    redisReply *rep = se_redis_command(r, 0, &err, "PING");
    ck_assert_msg(rep != NULL, "%s", err.msg);
    freeReplyObject(rep);
    se_redis_destroy(r);
}
END_TEST

START_TEST(survives_server_restart)
{
    se_redis *r = connect_or_fail(redis_url(), 1000);
    redisReply *rep = se_redis_command(r, 0, NULL, "SET %s kept", key("persist"));
    freeReplyObject(rep);
    se_test_stack("stop-redis");
    se_redis_err err = {0};
    double t0 = se_test_seconds();
    ck_assert_ptr_null(se_redis_command(r, SE_REDIS_IDEMPOTENT, &err, "GET %s", key("persist")));
    double took = se_test_seconds() - t0;
    ck_assert_int_eq(err.code, SE_REDIS_EIO);
    ck_assert_msg(took < 5, "gave up only after %.1f s", took);
    se_test_stack("start-redis");
    rep = se_redis_command(r, 0, &err, "GET %s", key("persist"));
    ck_assert_msg(rep != NULL, "%s", err.msg);
    ck_assert_str_eq(rep->str, "kept"); /* appendonly: data survives */
    freeReplyObject(rep);
    se_redis_destroy(r);
}
END_TEST

START_TEST(unread_pipeline_replies_force_a_fresh_connection)
{
    se_redis *r = connect_or_fail(redis_url(), 1000);
    redisAppendCommand(se_redis_raw(r), "PING");
    redisAppendCommand(se_redis_raw(r), "PING");
    void *first = NULL;
    ck_assert_int_eq(redisGetReply(se_redis_raw(r), &first), REDIS_OK);
    freeReplyObject(first);
    /* The second PONG is still pending: the next command must not get it. */
    redisReply *rep = se_redis_command(r, 0, NULL, "ECHO %s", "mine");
    ck_assert_ptr_nonnull(rep);
    ck_assert_str_eq(rep->str, "mine");
    freeReplyObject(rep);
    se_redis_destroy(r);
}
END_TEST

static int pool_step(void *pool, int i)
{
    (void)i;
    se_redis *r = se_redis_pool_acquire(pool, 5000);
    if (r == NULL)
        return 0;
    redisReply *rep = se_redis_command(r, 0, NULL, "INCR %s", key("pool"));
    int ok = rep != NULL && rep->type == REDIS_REPLY_INTEGER;
    freeReplyObject(rep);
    se_redis_pool_release(pool, r);
    return ok;
}

START_TEST(pool_shared_by_threads)
{
    se_redis_err err = {0};
    se_redis_pool *pool = se_redis_pool_create(redis_url(), 2, 1000, &err);
    ck_assert_msg(pool != NULL, "%s", err.msg);
    se_test_pool_threads(pool, 4, 100, pool_step);
    se_redis *r = se_redis_pool_acquire(pool, 0);
    redisReply *rep = se_redis_command(r, 0, NULL, "GET %s", key("pool"));
    ck_assert_str_eq(rep->str, "400");
    freeReplyObject(rep);
    se_redis *r2 = se_redis_pool_acquire(pool, 100);
    ck_assert_ptr_nonnull(r2);
    ck_assert_ptr_null(se_redis_pool_acquire(pool, 100));
    se_redis_pool_release(pool, r);
    se_redis_pool_release(pool, r2);
    se_redis_pool_destroy(pool);
}
END_TEST

static Suite *redis_suite(void)
{
    Suite *s = suite_create("redis");
    TCase *tc = tcase_create("redis");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, command_round_trip);
    tcase_add_test(tc, error_reply_has_context);
    tcase_add_test(tc, bad_url_and_refused_connection);
    tcase_add_test(tc, url_selects_database);
    tcase_add_test(tc, reconnects_after_client_kill);
    tcase_add_test(tc, idempotent_command_retried_when_lost_in_flight);
    tcase_add_test(tc, other_command_not_retried_when_lost_in_flight);
    tcase_add_test(tc, command_timeout);
    tcase_add_test(tc, survives_server_restart);
    tcase_add_test(tc, unread_pipeline_replies_force_a_fresh_connection);
    tcase_add_test(tc, pool_shared_by_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(redis_suite());
}
