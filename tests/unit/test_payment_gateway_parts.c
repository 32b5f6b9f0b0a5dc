/* test_payment_gateway_parts.c - the mock payment gateway's parts without
 * gRPC: the seeded generator, the latency distribution (drawn directly,
 * not timed), fates, the timer's order and flush, and the ledger's
 * idempotency rules. The RPCs are tested in test_payment_gateway.c.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "paygw_behaviour.h"
#include "paygw_ledger.h"
#include "paygw_timer.h"
#include "se_alloc.h"
#include "se_time.h"
#include "se_log.h"
#include "se_rpc.h"
#include "se_test_stack.h"

static void setup(void)
{
    se_log_init("test");
}

/* ---- generator ------------------------------------------------------------------ */

START_TEST(rng_is_reproducible_per_seed)
{
    paygw_rng a, b, c;
    paygw_rng_seed(&a, 42);
    paygw_rng_seed(&b, 42);
    paygw_rng_seed(&c, 43);
    int same_as_c = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = paygw_rng_next(&a);
        ck_assert(x == paygw_rng_next(&b));
        same_as_c += x == paygw_rng_next(&c);
    }
    ck_assert_int_eq(same_as_c, 0);
}
END_TEST

START_TEST(uniform_is_in_range_and_balanced)
{
    paygw_rng r;
    paygw_rng_seed(&r, 7);
    double sum = 0;
    int below_tenth = 0;
    for (int i = 0; i < 10000; i++) {
        double u = paygw_rng_uniform(&r);
        ck_assert(u >= 0 && u < 1);
        sum += u;
        below_tenth += u < 0.1;
    }
    ck_assert_msg(fabs(sum / 10000 - 0.5) < 0.02, "mean %f", sum / 10000);
    ck_assert_msg(below_tenth > 900 && below_tenth < 1100, "%d below 0.1", below_tenth);
}
END_TEST

/* ---- latency ---------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

START_TEST(latency_has_the_configured_median_and_p99)
{
    enum { N = 500 };
    int64_t d[N];
    paygw_rng r;
    paygw_rng_seed(&r, 12345);
    for (int i = 0; i < N; i++) {
        d[i] = paygw_latency_draw_ns(50, 400, &r);
        ck_assert(d[i] > 0 && d[i] <= 4000 * 1000000LL); /* capped at 10 x p99 */
    }
    qsort(d, N, sizeof d[0], cmp_i64);
    double median = d[N / 2] / 1e6, p99 = d[N * 99 / 100] / 1e6;
    ck_assert_msg(median > 40 && median < 62, "median %.1f ms", median);
    ck_assert_msg(p99 > 250 && p99 < 650, "p99 %.1f ms", p99);
    int above_p99 = 0;
    for (int i = 0; i < N; i++)
        above_p99 += d[i] > 400 * 1000000LL;
    ck_assert_msg(above_p99 <= 15, "%d of %d above the p99", above_p99, N);
}
END_TEST

START_TEST(latency_is_capped_at_ten_times_p99)
{
    paygw_rng r;
    paygw_rng_seed(&r, 1);
    int at_cap = 0;
    /* a huge spread, so that about 0.3% of the draws reach the cap (it can
     * never be more than 1%: the cap is above the p99) */
    for (int i = 0; i < 5000; i++) {
        int64_t d = paygw_latency_draw_ns(1, 1000000, &r);
        ck_assert(d <= 10000000 * 1000000LL);
        at_cap += d == 10000000 * 1000000LL;
    }
    ck_assert_int_gt(at_cap, 0);
}
END_TEST

START_TEST(equal_median_and_p99_is_a_fixed_latency_and_zero_is_none)
{
    paygw_rng r;
    paygw_rng_seed(&r, 3);
    for (int i = 0; i < 50; i++) {
        ck_assert(paygw_latency_draw_ns(20, 20, &r) == 20 * 1000000LL);
        ck_assert(paygw_latency_draw_ns(0, 0, &r) == 0);
        ck_assert(paygw_latency_draw_ns(0, 400, &r) == 0);
    }
}
END_TEST

/* ---- fates -------------------------------------------------------------------------- */

static paygw_settings settings(double transient, double timeout, double decline)
{
    paygw_settings s = {0, 0, decline, transient, timeout, 1000, 99};
    return s;
}

START_TEST(fates_follow_the_rates_in_order)
{
    paygw_settings s = settings(0.2, 0.1, 0.5);
    paygw_behaviour *b = paygw_behaviour_create(&s);
    int n[4] = {0}, reasons[PAYGW_N_DECLINE_REASONS] = {0};
    for (int i = 0; i < 10000; i++) {
        paygw_draw d;
        paygw_behaviour_draw(b, &d);
        n[d.fate]++;
        if (d.fate == PAYGW_FATE_DECLINE)
            reasons[d.decline_reason]++;
        if (d.fate == PAYGW_FATE_TIMEOUT)
            ck_assert_int_eq(d.hold_ms, 1000);
    }
    /* transient 20%; timeout 80% x 10% = 8%; decline 72% x 50% = 36% */
    ck_assert_msg(abs(n[PAYGW_FATE_TRANSIENT] - 2000) < 200, "%d", n[PAYGW_FATE_TRANSIENT]);
    ck_assert_msg(abs(n[PAYGW_FATE_TIMEOUT] - 800) < 120, "%d", n[PAYGW_FATE_TIMEOUT]);
    ck_assert_msg(abs(n[PAYGW_FATE_DECLINE] - 3600) < 250, "%d", n[PAYGW_FATE_DECLINE]);
    for (int i = 0; i < PAYGW_N_DECLINE_REASONS; i++)
        ck_assert_msg(reasons[i] > 0, "decline reason %s never drawn",
                      paygw_decline_reason_at(i)->code);
    paygw_behaviour_destroy(b);
}
END_TEST

START_TEST(rates_zero_and_one_are_exact)
{
    paygw_settings s = settings(0, 0, 1);
    paygw_behaviour *b = paygw_behaviour_create(&s);
    for (int i = 0; i < 1000; i++) {
        paygw_draw d;
        paygw_behaviour_draw(b, &d);
        ck_assert_int_eq(d.fate, PAYGW_FATE_DECLINE);
    }
    paygw_behaviour_destroy(b);
}
END_TEST

START_TEST(outage_with_a_duration_ends_by_itself)
{
    paygw_settings s = settings(0, 0, 0);
    paygw_behaviour *b = paygw_behaviour_create(&s);
    paygw_outage o;
    paygw_behaviour_set_outage(b, 1, 0, &o);
    ck_assert(o.enabled && o.ends_at_us == 0);
    ck_assert(paygw_behaviour_in_outage(b));
    int64_t t0 = se_test_now_ms();
    paygw_behaviour_set_outage(b, 1, 50, &o);
    ck_assert(o.enabled && o.ends_at_us > se_wall_us());
    ck_assert(paygw_behaviour_in_outage(b));
    SE_POLL_UNTIL(!paygw_behaviour_in_outage(b), 2000);
    ck_assert(!paygw_behaviour_in_outage(b));
    ck_assert_int_ge(se_test_now_ms() - t0, 50);
    paygw_behaviour_destroy(b);
}
END_TEST

/* ---- timer ---------------------------------------------------------------------------- */

typedef struct fired {
    int order[8];
    int n;
    int flushed;
    pthread_mutex_t mu;
} fired;

static fired F;

typedef struct tag {
    int id;
} tag;

static void on_fire(void *arg, int flushed)
{
    tag *t = arg;
    pthread_mutex_lock(&F.mu);
    F.order[F.n++] = t->id;
    F.flushed += flushed;
    pthread_mutex_unlock(&F.mu);
}

static int fired_count(void)
{
    pthread_mutex_lock(&F.mu);
    int n = F.n;
    pthread_mutex_unlock(&F.mu);
    return n;
}

START_TEST(timer_runs_entries_in_due_order)
{
    memset(&F, 0, sizeof F);
    pthread_mutex_init(&F.mu, NULL);
    paygw_timer *t = paygw_timer_create();
    ck_assert_ptr_nonnull(t);
    static tag tags[4] = {{0}, {1}, {2}, {3}};
    int64_t now = se_mono_ns(), ms = 1000000;
    ck_assert_int_eq(paygw_timer_add(t, now + SE_T(60) * ms, on_fire, &tags[2]), 0);
    ck_assert_int_eq(paygw_timer_add(t, now + SE_T(20) * ms, on_fire, &tags[0]), 0);
    ck_assert_int_eq(paygw_timer_add(t, now + SE_T(40) * ms, on_fire, &tags[1]), 0);
    ck_assert_int_eq(paygw_timer_add(t, now + SE_T(40) * ms, on_fire, &tags[3]), 0); /* tie */
    SE_POLL_UNTIL(fired_count() == 4, 2000);
    ck_assert_int_eq(fired_count(), 4);
    ck_assert_int_ge((se_mono_ns() - now) / ms, 60); /* not early */
    int want[4] = {0, 1, 3, 2};
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(F.order[i], want[i]);
    ck_assert_int_eq(F.flushed, 0);
    paygw_timer_destroy(t);
}
END_TEST

START_TEST(timer_stop_flushes_waiting_entries_and_refuses_new_ones)
{
    memset(&F, 0, sizeof F);
    pthread_mutex_init(&F.mu, NULL);
    paygw_timer *t = paygw_timer_create();
    static tag tags[3] = {{0}, {1}, {2}};
    int64_t later = se_mono_ns() + 3600 * 1000000000LL;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(paygw_timer_add(t, later, on_fire, &tags[i]), 0);
    ck_assert_uint_eq(paygw_timer_pending(t), 3);
    int64_t t0 = se_test_now_ms();
    paygw_timer_stop(t);
    ck_assert_int_lt(se_test_now_ms() - t0, SE_T(1000));
    ck_assert_int_eq(F.n, 3);
    ck_assert_int_eq(F.flushed, 3);
    ck_assert_int_eq(paygw_timer_add(t, later, on_fire, &tags[0]), -1);
    paygw_timer_stop(t); /* idempotent */
    paygw_timer_destroy(t);
    ck_assert_int_eq(F.n, 3);
}
END_TEST

/* ---- ledger ----------------------------------------------------------------------------- */

static paygw_charge_params params(const char *key, int64_t order, int64_t amount)
{
    paygw_charge_params p = {key, order, amount, "USD", "cust-1"};
    return p;
}

static Swifteats__V1__ChargeRecord *unpack_record(paygw_packed *p)
{
    Swifteats__V1__ChargeRecord *r = swifteats__v1__charge_record__unpack(NULL, p->len, p->data);
    ck_assert_ptr_nonnull(r);
    paygw_packed_free(p);
    return r;
}

START_TEST(ledger_begin_commit_replay_conflict_busy)
{
    paygw_ledger *l = paygw_ledger_create();
    paygw_charge_params p = params("k1", 1, 500);
    uint64_t epoch;
    paygw_packed out = {0};
    char why[256];
    ck_assert_int_eq(paygw_ledger_begin(l, &p, &epoch, &out, why, sizeof why), PAYGW_BEGIN_NEW);
    ck_assert_int_eq(paygw_ledger_begin(l, &p, &epoch, &out, why, sizeof why), PAYGW_BEGIN_BUSY);
    ck_assert_int_eq(paygw_ledger_get_by_key(l, "k1", &out), 1); /* processing */
    ck_assert_uint_eq(paygw_ledger_processing(l), 1);
    ck_assert_int_eq(paygw_ledger_commit(l, "k1", epoch, NULL, &out), 0);
    Swifteats__V1__ChargeRecord *r = unpack_record(&out);
    ck_assert_str_eq(r->charge_id, "ch_000001");
    ck_assert_int_eq(r->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED);
    ck_assert_str_eq(r->customer_id, "cust-1");
    ck_assert(!r->replayed);
    se_msg_free(&r->base);
    ck_assert_int_eq(paygw_ledger_begin(l, &p, &epoch, &out, why, sizeof why), PAYGW_BEGIN_REPLAY);
    r = unpack_record(&out);
    ck_assert(r->replayed);
    ck_assert_str_eq(r->charge_id, "ch_000001");
    se_msg_free(&r->base);
    paygw_charge_params other = params("k1", 1, 501);
    ck_assert_int_eq(paygw_ledger_begin(l, &other, &epoch, &out, why, sizeof why),
                     PAYGW_BEGIN_CONFLICT);
    ck_assert_msg(strstr(why, "amount") != NULL, "%s", why);
    ck_assert_uint_eq(paygw_ledger_entries(l), 1);
    ck_assert_int_eq(paygw_ledger_get_by_id(l, "ch_000001", &out), 0);
    paygw_packed_free(&out);
    ck_assert_int_eq(paygw_ledger_get_by_id(l, "ch_1", &out), -1);
    ck_assert_int_eq(paygw_ledger_get_by_id(l, "ch_000002", &out), -1);
    ck_assert_int_eq(paygw_ledger_get_by_id(l, "nonsense", &out), -1);
    paygw_ledger_destroy(l);
}
END_TEST

START_TEST(ledger_abandon_frees_the_key_and_clear_ends_old_epochs)
{
    paygw_ledger *l = paygw_ledger_create();
    paygw_charge_params a = params("a", 1, 100), p = params("k", 2, 100);
    uint64_t ea, e1, e2;
    paygw_packed out = {0};
    char why[256];
    ck_assert_int_eq(paygw_ledger_begin(l, &a, &ea, &out, why, sizeof why), PAYGW_BEGIN_NEW);
    ck_assert_int_eq(paygw_ledger_commit(l, "a", ea, NULL, &out), 0); /* ch_000001 */
    paygw_packed_free(&out);
    ck_assert_int_eq(paygw_ledger_begin(l, &p, &e1, &out, why, sizeof why), PAYGW_BEGIN_NEW);
    ck_assert_int_eq(paygw_ledger_abandon(l, "k", e1), 0);
    ck_assert_uint_eq(paygw_ledger_processing(l), 0);
    ck_assert_int_eq(paygw_ledger_begin(l, &p, &e1, &out, why, sizeof why), PAYGW_BEGIN_NEW);
    paygw_ledger_clear(l);
    ck_assert_int_eq(paygw_ledger_commit(l, "k", e1, NULL, &out), -1);
    ck_assert_int_eq(paygw_ledger_abandon(l, "k", e1), -1);
    ck_assert_uint_eq(paygw_ledger_entries(l), 0);
    ck_assert_int_eq(paygw_ledger_get_by_key(l, "a", &out), -1);
    /* charge ids never restart: the next one is ch_000002 */
    ck_assert_int_eq(paygw_ledger_begin(l, &p, &e2, &out, why, sizeof why), PAYGW_BEGIN_NEW);
    ck_assert_int_eq(paygw_ledger_commit(l, "k", e2, paygw_decline_reason_at(0), &out), 0);
    Swifteats__V1__ChargeRecord *r = unpack_record(&out);
    ck_assert_str_eq(r->charge_id, "ch_000002");
    ck_assert_int_eq(r->status, SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED);
    ck_assert_str_eq(r->decline_code, "insufficient_funds");
    se_msg_free(&r->base);
    ck_assert_int_eq(paygw_ledger_get_by_id(l, "ch_000001", &out), -1);
    ck_assert_int_eq(paygw_ledger_get_by_id(l, "ch_000002", &out), 0);
    paygw_packed_free(&out);
    paygw_ledger_destroy(l);
}
END_TEST

START_TEST(ledger_grows_past_its_first_buckets)
{
    paygw_ledger *l = paygw_ledger_create();
    char key[32], why[256];
    paygw_packed out = {0};
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        paygw_charge_params p = params(key, i + 1, 100);
        uint64_t e;
        ck_assert_int_eq(paygw_ledger_begin(l, &p, &e, &out, why, sizeof why), PAYGW_BEGIN_NEW);
        ck_assert_int_eq(paygw_ledger_commit(l, key, e, NULL, &out), 0);
        paygw_packed_free(&out);
    }
    for (int i = 0; i < 5000; i += 499) {
        snprintf(key, sizeof key, "key-%d", i);
        ck_assert_int_eq(paygw_ledger_get_by_key(l, key, &out), 0);
        Swifteats__V1__ChargeRecord *r = unpack_record(&out);
        ck_assert_int_eq(r->order_id, i + 1);
        se_msg_free(&r->base);
    }
    ck_assert_int_eq(paygw_ledger_get_by_id(l, "ch_004321", &out), 0);
    Swifteats__V1__ChargeRecord *r = unpack_record(&out);
    ck_assert_int_eq(r->order_id, 4321);
    se_msg_free(&r->base);
    paygw_ledger_destroy(l);
}
END_TEST

static Suite *parts_suite(void)
{
    Suite *s = suite_create("payment_gateway_parts");
    TCase *tc = tcase_create("parts");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, rng_is_reproducible_per_seed);
    tcase_add_test(tc, uniform_is_in_range_and_balanced);
    tcase_add_test(tc, latency_has_the_configured_median_and_p99);
    tcase_add_test(tc, latency_is_capped_at_ten_times_p99);
    tcase_add_test(tc, equal_median_and_p99_is_a_fixed_latency_and_zero_is_none);
    tcase_add_test(tc, fates_follow_the_rates_in_order);
    tcase_add_test(tc, rates_zero_and_one_are_exact);
    tcase_add_test(tc, outage_with_a_duration_ends_by_itself);
    tcase_add_test(tc, timer_runs_entries_in_due_order);
    tcase_add_test(tc, timer_stop_flushes_waiting_entries_and_refuses_new_ones);
    tcase_add_test(tc, ledger_begin_commit_replay_conflict_busy);
    tcase_add_test(tc, ledger_abandon_frees_the_key_and_clear_ends_old_epochs);
    tcase_add_test(tc, ledger_grows_past_its_first_buckets);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return se_test_run(parts_suite());
}
