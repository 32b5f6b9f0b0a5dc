/* test_config.c - environment parsing and the well-known addresses. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "se_config.h"
#include "se_test.h"
#include "se_log.h"

static void setup(void)
{
    static const char *const vars[] = {
        "SE_TEST_VALUE", "SE_BIND_HOST", "SE_MENU_ADDR", "SE_MENU_TARGET", "SE_ORDER_ADDR",
        "SE_ORDER_TARGET", "SE_LOGISTICS_ADDR", "SE_PAYMENT_GATEWAY_ADDR", "SE_PAYMENT_GATEWAY_TARGET",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    se_log_init("test");
}

START_TEST(str_uses_default_when_unset_or_empty)
{
    ck_assert_str_eq(se_env_str("SE_TEST_VALUE", "dflt"), "dflt");
    setenv("SE_TEST_VALUE", "", 1);
    ck_assert_str_eq(se_env_str("SE_TEST_VALUE", "dflt"), "dflt");
    ck_assert_ptr_null(se_env_str("SE_TEST_VALUE", NULL));
    setenv("SE_TEST_VALUE", "hello", 1);
    ck_assert_str_eq(se_env_str("SE_TEST_VALUE", "dflt"), "hello");
}
END_TEST

START_TEST(int_parses_within_range)
{
    ck_assert_int_eq(se_env_int("SE_TEST_VALUE", 7, 0, 10), 7);
    setenv("SE_TEST_VALUE", "10", 1);
    ck_assert_int_eq(se_env_int("SE_TEST_VALUE", 7, 0, 10), 10);
    setenv("SE_TEST_VALUE", "-3", 1);
    ck_assert_int_eq(se_env_int("SE_TEST_VALUE", 7, -5, 10), -3);
    setenv("SE_TEST_VALUE", "9000000000", 1);
    ck_assert(se_env_int("SE_TEST_VALUE", 0, 0, INT64_MAX) == 9000000000LL);
}
END_TEST

START_TEST(int_rejects_garbage)
{
    setenv("SE_TEST_VALUE", "12abc", 1);
    se_env_int("SE_TEST_VALUE", 7, 0, 100);
}
END_TEST

START_TEST(int_rejects_out_of_range)
{
    setenv("SE_TEST_VALUE", "101", 1);
    se_env_int("SE_TEST_VALUE", 7, 0, 100);
}
END_TEST

START_TEST(int_rejects_overflow)
{
    setenv("SE_TEST_VALUE", "99999999999999999999999", 1);
    se_env_int("SE_TEST_VALUE", 7, 0, INT64_MAX);
}
END_TEST

START_TEST(double_parses_within_range)
{
    ck_assert(se_env_double("SE_TEST_VALUE", 0.25, 0, 1) == 0.25);
    setenv("SE_TEST_VALUE", "0.05", 1);
    ck_assert(se_env_double("SE_TEST_VALUE", 0.25, 0, 1) == 0.05);
    setenv("SE_TEST_VALUE", "1", 1);
    ck_assert(se_env_double("SE_TEST_VALUE", 0.25, 0, 1) == 1.0);
    setenv("SE_TEST_VALUE", "2.5e-3", 1);
    ck_assert(se_env_double("SE_TEST_VALUE", 0.25, 0, 1) == 0.0025);
    setenv("SE_TEST_VALUE", "-7.5", 1);
    ck_assert(se_env_double("SE_TEST_VALUE", 0, -10, 10) == -7.5);
}
END_TEST

START_TEST(double_rejects_garbage)
{
    setenv("SE_TEST_VALUE", "0.5x", 1);
    se_env_double("SE_TEST_VALUE", 0.25, 0, 1);
}
END_TEST

START_TEST(double_rejects_out_of_range)
{
    setenv("SE_TEST_VALUE", "1.01", 1);
    se_env_double("SE_TEST_VALUE", 0.25, 0, 1);
}
END_TEST

START_TEST(double_rejects_nan_and_infinity)
{
    setenv("SE_TEST_VALUE", _i == 0 ? "nan" : "inf", 1);
    se_env_double("SE_TEST_VALUE", 0.25, 0, 1e300);
}
END_TEST

START_TEST(bool_accepts_the_usual_spellings)
{
    ck_assert_int_eq(se_env_bool("SE_TEST_VALUE", 1), 1);
    ck_assert_int_eq(se_env_bool("SE_TEST_VALUE", 0), 0);
    const char *yes[] = {"1", "true", "TRUE", "yes", "On"};
    const char *no[] = {"0", "false", "No", "off", "OFF"};
    for (size_t i = 0; i < 5; i++) {
        setenv("SE_TEST_VALUE", yes[i], 1);
        ck_assert_int_eq(se_env_bool("SE_TEST_VALUE", 0), 1);
        setenv("SE_TEST_VALUE", no[i], 1);
        ck_assert_int_eq(se_env_bool("SE_TEST_VALUE", 1), 0);
    }
}
END_TEST

START_TEST(bool_rejects_garbage)
{
    setenv("SE_TEST_VALUE", "maybe", 1);
    se_env_bool("SE_TEST_VALUE", 0);
}
END_TEST

START_TEST(default_ports)
{
    ck_assert_str_eq(se_config_listen_addr("MENU"), "127.0.0.1:50051");
    ck_assert_str_eq(se_config_listen_addr("ORDER"), "127.0.0.1:50052");
    ck_assert_str_eq(se_config_listen_addr("LOGISTICS"), "127.0.0.1:50053");
    ck_assert_str_eq(se_config_listen_addr("PAYMENT_GATEWAY"), "127.0.0.1:50054");
    ck_assert_str_eq(se_config_target("MENU"), "127.0.0.1:50051");
    ck_assert_str_eq(se_config_target("PAYMENT_GATEWAY"), "127.0.0.1:50054");
}
END_TEST

START_TEST(bind_host_and_overrides)
{
    setenv("SE_BIND_HOST", "0.0.0.0", 1);
    ck_assert_str_eq(se_config_listen_addr("ORDER"), "0.0.0.0:50052");
    setenv("SE_BIND_HOST", "::", 1);
    ck_assert_str_eq(se_config_listen_addr("ORDER"), "[::]:50052");
    setenv("SE_ORDER_ADDR", "127.0.0.1:0", 1);
    ck_assert_str_eq(se_config_listen_addr("ORDER"), "127.0.0.1:0");
    setenv("SE_MENU_TARGET", "dns:///menu.swifteats:50051", 1);
    ck_assert_str_eq(se_config_target("MENU"), "dns:///menu.swifteats:50051");
}
END_TEST

START_TEST(results_stay_valid_after_env_changes)
{
    setenv("SE_MENU_ADDR", "127.0.0.1:6000", 1);
    const char *a = se_config_listen_addr("MENU");
    setenv("SE_MENU_ADDR", "127.0.0.1:7000", 1);
    const char *b = se_config_listen_addr("MENU");
    ck_assert_str_eq(a, "127.0.0.1:6000");
    ck_assert_str_eq(b, "127.0.0.1:7000");
    setenv("SE_MENU_ADDR", "127.0.0.1:6000", 1);
    ck_assert_ptr_eq(se_config_listen_addr("MENU"), a); /* interned */
}
END_TEST

START_TEST(bad_listen_addr_exits_2)
{
    setenv("SE_MENU_ADDR", "no-port-here", 1);
    se_config_listen_addr("MENU");
}
END_TEST

START_TEST(unknown_service_exits_2)
{
    se_config_target("KITCHEN");
}
END_TEST

/* Runs se_env_int on a bad value in a child; checks its exit status and
 * that its one log line names the variable and the value. */
START_TEST(fatal_error_names_the_variable)
{
    int fds[2];
    ck_assert_int_eq(pipe(fds), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        setenv("SE_RPC_THREADS", "lots", 1);
        se_env_int("SE_RPC_THREADS", 2, 1, 64);
        _exit(0);
    }
    close(fds[1]);
    char buf[1024] = {0};
    size_t n = 0;
    ssize_t got;
    while (n < sizeof buf - 1 && (got = read(fds[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)got;
    close(fds[0]);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 2);
    ck_assert_msg(strstr(buf, "\"level\":\"error\"") && strstr(buf, "\"variable\":\"SE_RPC_THREADS\"") &&
                      strstr(buf, "\"value\":\"lots\""),
                  "log line does not name the variable: %s", buf);
}
END_TEST

static int nofork(void)
{
    const char *f = getenv("CK_FORK");
    return f != NULL && strcmp(f, "no") == 0;
}

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, str_uses_default_when_unset_or_empty);
    tcase_add_test(tc, int_parses_within_range);
    tcase_add_test(tc, double_parses_within_range);
    tcase_add_test(tc, bool_accepts_the_usual_spellings);
    tcase_add_test(tc, default_ports);
    tcase_add_test(tc, bind_host_and_overrides);
    tcase_add_test(tc, results_stay_valid_after_env_changes);
    tcase_add_test(tc, fatal_error_names_the_variable);
    if (!nofork()) { /* exit tests need Check's fork mode */
        tcase_add_exit_test(tc, int_rejects_garbage, 2);
        tcase_add_exit_test(tc, int_rejects_out_of_range, 2);
        tcase_add_exit_test(tc, int_rejects_overflow, 2);
        tcase_add_exit_test(tc, double_rejects_garbage, 2);
        tcase_add_exit_test(tc, double_rejects_out_of_range, 2);
        tcase_add_loop_exit_test(tc, double_rejects_nan_and_infinity, 2, 0, 2);
        tcase_add_exit_test(tc, bool_rejects_garbage, 2);
        tcase_add_exit_test(tc, bad_listen_addr_exits_2, 2);
        tcase_add_exit_test(tc, unknown_service_exits_2, 2);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(config_suite());
}
