/* test_log.c - se_log: JSON lines on stdout, escaping, threshold, request
 * ids, truncation, one line per write under concurrency. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "se_log.h"
#include "se_test.h"

/* ---- capturing stdout ------------------------------------------------------ */

static FILE *capture_file;
static int saved_stdout = -1;

static void capture_start(void)
{
    capture_file = tmpfile();
    ck_assert_ptr_nonnull(capture_file);
    fflush(stdout);
    saved_stdout = dup(STDOUT_FILENO);
    ck_assert_int_ge(saved_stdout, 0);
    ck_assert_int_ge(dup2(fileno(capture_file), STDOUT_FILENO), 0);
}

/* Restores stdout and returns everything written meanwhile (free it). */
static char *capture_end(void)
{
    dup2(saved_stdout, STDOUT_FILENO);
    close(saved_stdout);
    fseek(capture_file, 0, SEEK_END);
    long n = ftell(capture_file);
    rewind(capture_file);
    char *buf = calloc(1, (size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, capture_file), (size_t)n);
    fclose(capture_file);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A minimal structural check: one object, balanced quotes outside escapes,
 * no raw control characters, ends with "}\n". */
static void assert_json_line(const char *line, size_t len)
{
    ck_assert_msg(len >= 3 && line[0] == '{' && line[len - 2] == '}' && line[len - 1] == '\n',
                  "not a JSON object line: %.*s", (int)len, line);
    int in_str = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned char ch = (unsigned char)line[i];
        ck_assert_msg(ch >= 0x20, "raw control character 0x%02x at %zu", ch, i);
        if (in_str && ch == '\\') {
            i++;
            continue;
        }
        if (ch == '"')
            in_str = !in_str;
    }
    ck_assert_msg(!in_str, "unterminated string in %.*s", (int)len, line);
}

static void setup(void)
{
    unsetenv("SE_LOG_LEVEL");
    se_log_init("menu");
    se_log_set_request_id(NULL);
}

/* ---- tests ----------------------------------------------------------------- */

START_TEST(line_has_every_field)
{
    capture_start();
    se_log_info("server_started", "listening on %s", ":50051");
    char *out = capture_end();
    ck_assert_uint_eq(count_lines(out), 1);
    assert_json_line(out, strlen(out));
    /* {"ts":"2026-11-26T14:03:54.123Z", */
    ck_assert_msg(strncmp(out, "{\"ts\":\"", 7) == 0, "%s", out);
    const char *ts = out + 7;
    ck_assert_msg(strlen(ts) > 24 && ts[4] == '-' && ts[7] == '-' && ts[10] == 'T' && ts[13] == ':' &&
                      ts[16] == ':' && ts[19] == '.' && ts[23] == 'Z' && ts[24] == '"',
                  "bad timestamp in %s", out);
    ck_assert_ptr_nonnull(strstr(out, "\"level\":\"info\""));
    ck_assert_ptr_nonnull(strstr(out, "\"component\":\"menu\""));
    ck_assert_ptr_nonnull(strstr(out, "\"event\":\"server_started\""));
    ck_assert_ptr_nonnull(strstr(out, "\"msg\":\"listening on :50051\""));
    ck_assert_ptr_null(strstr(out, "request_id"));
    free(out);
}
END_TEST

START_TEST(message_is_escaped)
{
    capture_start();
    se_log_warn("weird", "a \"quoted\" back\\slash\nnew line\ttab \x01 end");
    char *out = capture_end();
    ck_assert_uint_eq(count_lines(out), 1);
    assert_json_line(out, strlen(out));
    ck_assert_ptr_nonnull(strstr(out, "\"level\":\"warn\""));
    ck_assert_ptr_nonnull(strstr(out, "a \\\"quoted\\\" back\\\\slash\\nnew line\\ttab \\u0001 end"));
    free(out);
}
END_TEST

START_TEST(request_id_follows_the_thread)
{
    capture_start();
    se_log_set_request_id("req-42");
    se_log_info("with_id", "x");
    ck_assert_str_eq(se_log_request_id(), "req-42");
    se_log_set_request_id(NULL);
    se_log_info("without_id", "y");
    char *out = capture_end();
    ck_assert_uint_eq(count_lines(out), 2);
    char *second = strchr(out, '\n') + 1;
    ck_assert_ptr_nonnull(strstr(out, "\"request_id\":\"req-42\""));
    ck_assert_ptr_null(strstr(second, "request_id"));
    free(out);
}
END_TEST

START_TEST(threshold_from_environment)
{
    setenv("SE_LOG_LEVEL", "WARN", 1);
    se_log_init("order");
    ck_assert(!se_log_enabled(SE_LOG_INFO));
    ck_assert(se_log_enabled(SE_LOG_ERROR));
    capture_start();
    se_log_debug("hidden", "d");
    se_log_info("hidden", "i");
    se_log_error("shown", "e");
    char *out = capture_end();
    ck_assert_uint_eq(count_lines(out), 1);
    ck_assert_ptr_nonnull(strstr(out, "\"event\":\"shown\""));
    ck_assert_ptr_nonnull(strstr(out, "\"component\":\"order\""));
    free(out);
    unsetenv("SE_LOG_LEVEL");
    se_log_init("menu");
}
END_TEST

START_TEST(invalid_level_exits_2)
{
    setenv("SE_LOG_LEVEL", "loud", 1);
    se_log_init("menu");
}
END_TEST

START_TEST(fields_are_members)
{
    char path[64];
    capture_start();
    se_log_fields(SE_LOG_INFO, "http_request", "\"status\":%d,\"path\":\"%s\"", 200,
                  se_json_escape(path, sizeof path, "/v1/\"x\""));
    se_log_fields(SE_LOG_INFO, "no_fields", "%s", "");
    char *out = capture_end();
    ck_assert_uint_eq(count_lines(out), 2);
    ck_assert_ptr_nonnull(strstr(out, "\"event\":\"http_request\",\"status\":200,\"path\":\"/v1/\\\"x\\\"\"}\n"));
    ck_assert_ptr_nonnull(strstr(out, "\"event\":\"no_fields\"}\n"));
    free(out);
}
END_TEST

START_TEST(escape_truncates_cleanly)
{
    char buf[8];
    /* Each quote needs two bytes: 3 fit (6 bytes + NUL), never half of one. */
    ck_assert_str_eq(se_json_escape(buf, sizeof buf, "\"\"\"\"\"\""), "\\\"\\\"\\\"");
    /* "é" is two bytes in UTF-8: never cut between them. */
    ck_assert_str_eq(se_json_escape(buf, 7, "abcde\xc3\xa9"), "abcde");
    ck_assert_str_eq(se_json_escape(buf, sizeof buf, NULL), "");
    ck_assert_str_eq(se_json_escape(buf, sizeof buf, "\x1f"), "\\u001f");
}
END_TEST

START_TEST(long_message_stays_one_valid_line)
{
    size_t n = 20000;
    char *big = malloc(n + 1);
    memset(big, '"', n);
    big[n] = '\0';
    capture_start();
    se_log_info("big", "%s", big);
    char *out = capture_end();
    ck_assert_uint_eq(count_lines(out), 1);
    ck_assert_uint_le(strlen(out), 8192);
    assert_json_line(out, strlen(out));
    free(out);
    free(big);
}
END_TEST

static void *log_many(void *arg)
{
    char rid[32];
    snprintf(rid, sizeof rid, "thread-%ld", (long)(intptr_t)arg);
    se_log_set_request_id(rid);
    for (int i = 0; i < 300; i++)
        se_log_info("tick", "iteration %d of a reasonably long message to widen the window", i);
    se_log_set_request_id(NULL);
    return NULL;
}

START_TEST(threads_never_interleave)
{
    pthread_t t[4];
    capture_start();
    for (long i = 0; i < 4; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, log_many, (void *)(intptr_t)i), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *out = capture_end();
    ck_assert_uint_eq(count_lines(out), 1200);
    for (char *line = out; *line;) {
        char *nl = strchr(line, '\n');
        assert_json_line(line, (size_t)(nl - line) + 1);
        ck_assert_ptr_nonnull(strstr(line, "\"request_id\":\"thread-"));
        line = nl + 1;
    }
    free(out);
}
END_TEST

static int nofork(void)
{
    const char *f = getenv("CK_FORK");
    return f != NULL && strcmp(f, "no") == 0;
}

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, line_has_every_field);
    tcase_add_test(tc, message_is_escaped);
    tcase_add_test(tc, request_id_follows_the_thread);
    tcase_add_test(tc, threshold_from_environment);
    if (!nofork()) /* exit tests need Check's fork mode */
        tcase_add_exit_test(tc, invalid_level_exits_2, 2);
    tcase_add_test(tc, fields_are_members);
    tcase_add_test(tc, escape_truncates_cleanly);
    tcase_add_test(tc, long_message_stays_one_valid_line);
    tcase_add_test(tc, threads_never_interleave);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(log_suite());
}
