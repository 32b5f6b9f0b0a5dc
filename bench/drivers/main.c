/* main.c - se-bench-drivers: a driver fleet simulator for the location
 * path (gateway -> logistics service -> Redis stream -> location worker),
 * on libc alone: one thread, epoll, non-blocking sockets (drivers.h has the
 * design).
 *
 *   se-bench-drivers --port PORT [options]      (all on the command line)
 *     --host ADDR        gateway IPv4 address            127.0.0.1
 *     --drivers N        driver connections              10000
 *     --watchers W       WebSocket watchers              1000
 *     --carriers C       drivers 0..C-1 carry an order   = W (at least 1)
 *     --order-base B     order_id of driver i = B + i    1000000
 *     --seconds D        measured window                 60
 *     --warmup S         posting before the window       5
 *     --ramp S           driver connections opened over  3
 *     --timeout-ms T     report unanswered -> timeout    5000
 *     --setup-timeout S  deadline of each set-up phase   15
 *     --prefix P         driver_id = P + index           bench-drv-
 *     --per-driver FILE  write "driver_id<TAB>202 count" lines (all drivers)
 *     --seed X           PRNG seed (routes, keys)        1
 *     --progress         a line per second on stderr
 *     --self-test        check SHA-1, base64, RFC 3339, HTTP parser, histogram
 *
 * A run: (1) the watchers connect and subscribe (each waits for
 * {"type":"connected"}); (2) the driver connections open over --ramp
 * seconds; (3) every driver POSTs once a second, staggered across the
 * second (N reports/s in total), for --warmup then --seconds; (4) reports
 * still in flight get --timeout-ms to finish; live updates get up to 2 s
 * more to arrive; (5) every watcher unsubscribes and must get a close frame.
 * Then one JSON line on stdout (the window's figures, and the whole run's
 * 202 count that the history table must match).
 * Exit status: 0 when the run happened (judging it is the caller's job), 1
 * when set-up failed (no driver could connect, no memory, rlimit), 2 on a
 * usage error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

#include "drivers.h"
#include "drv_codec.h"

int drv_self_test(void); /* self_test.c */

static struct epoll_event events[1024];

/* One pass of the loop: the due reports, then one epoll_wait of at most
 * max_wait_us (less when a report falls due sooner). */
static void loop_once(drv_fleet *f, int64_t max_wait_us)
{
    int64_t wait = max_wait_us;
    if (f->posting) {
        int64_t next = drv_drivers_tick(f, drv_mono_us());
        if (next < wait)
            wait = next;
    }
    int n = epoll_wait(f->epfd, events, sizeof events / sizeof events[0],
                       (int)((wait + 999) / 1000));
    for (int i = 0; i < n; i++) {
        drv_conn *c = events[i].data.ptr;
        if (c->kind == DRV_KIND_DRIVER)
            drv_driver_on_event(f, (drv_driver *)c, events[i].events);
        else
            drv_watcher_on_event(f, (drv_watcher *)c, events[i].events);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: se-bench-drivers --port PORT [--host A] [--drivers N] [--watchers W]\n"
                    "  [--carriers C] [--order-base B] [--seconds D] [--warmup S] [--ramp S]\n"
                    "  [--timeout-ms T] [--setup-timeout S] [--prefix P] [--per-driver FILE]\n"
                    "  [--seed X] [--progress] | --self-test\n");
}

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Returns 0, 1 for --self-test, or -1 on a usage error. */
static int parse_args(int argc, char **argv, drv_config *c)
{
    static const struct option opts[] = {
        {"host", 1, 0, 'h'},     {"port", 1, 0, 'p'},       {"drivers", 1, 0, 'n'},
        {"watchers", 1, 0, 'w'}, {"carriers", 1, 0, 'c'},   {"order-base", 1, 0, 'b'},
        {"seconds", 1, 0, 'd'},  {"warmup", 1, 0, 'u'},     {"ramp", 1, 0, 'r'},
        {"timeout-ms", 1, 0, 't'}, {"setup-timeout", 1, 0, 's'}, {"prefix", 1, 0, 'x'},
        {"per-driver", 1, 0, 'o'}, {"seed", 1, 0, 'e'},     {"progress", 0, 0, 'P'},
        {"self-test", 0, 0, 'T'}, {0, 0, 0, 0}};
    *c = (drv_config){.host = "127.0.0.1", .drivers = 10000, .watchers = 1000, .carriers = -1,
                      .order_base = 1000000, .seconds = 60, .warmup = 5, .ramp_s = 3,
                      .timeout_ms = 5000, .setup_timeout_s = 15, .prefix = "bench-drv-",
                      .seed = 1};
    int opt, which = 0;
    long long v;
    while ((opt = getopt_long(argc, argv, "", opts, &which)) != -1) {
        int bad = 0;
        switch (opt) {
        case 'h': c->host = optarg; break;
        case 'p': bad = parse_int(optarg, 1, 65535, &v); c->port = (int)v; break;
        case 'n': bad = parse_int(optarg, 1, 1000000, &v); c->drivers = (int)v; break;
        case 'w': bad = parse_int(optarg, 0, 1000000, &v); c->watchers = (int)v; break;
        case 'c': bad = parse_int(optarg, 0, 1000000, &v); c->carriers = (int)v; break;
        case 'b': bad = parse_int(optarg, 1, 1LL << 50, &v); c->order_base = v; break;
        case 'd': bad = parse_int(optarg, 1, 3600, &v); c->seconds = (int)v; break;
        case 'u': bad = parse_int(optarg, 0, 3600, &v); c->warmup = (int)v; break;
        case 'r': bad = parse_int(optarg, 0, 600, &v); c->ramp_s = (double)v; break;
        case 't': bad = parse_int(optarg, 1, 600000, &v); c->timeout_ms = (int)v; break;
        case 's': bad = parse_int(optarg, 1, 3600, &v); c->setup_timeout_s = (int)v; break;
        case 'x': c->prefix = optarg; bad = strlen(optarg) > 40 ? -1 : 0; break;
        case 'o': c->per_driver_out = optarg; break;
        case 'e': bad = parse_int(optarg, 1, 1LL << 62, &v); c->seed = (uint64_t)v; break;
        case 'P': c->progress = true; break;
        case 'T': return 1;
        default: return -1;
        }
        if (bad) {
            fprintf(stderr, "se-bench-drivers: bad value for --%s: %s\n", opts[which].name, optarg);
            return -1;
        }
    }
    if (optind != argc || c->port == 0)
        return -1;
    if (c->carriers < 0)
        c->carriers = c->watchers;
    if (c->carriers > c->drivers)
        c->carriers = c->drivers;
    if (c->watchers > 0 && c->carriers == 0) {
        fprintf(stderr, "se-bench-drivers: watchers need at least one carrier\n");
        return -1;
    }
    return 0;
}

static int raise_nofile(int need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur >= (rlim_t)need)
        return 0;
    if (rl.rlim_max < (rlim_t)need) {
        fprintf(stderr, "se-bench-drivers: need %d descriptors, hard limit is %llu\n", need,
                (unsigned long long)rl.rlim_max);
        return -1;
    }
    rl.rlim_cur = (rlim_t)need;
    return setrlimit(RLIMIT_NOFILE, &rl);
}

static int fleet_init(drv_fleet *f)
{
    f->rng = f->cfg.seed * 0x9E3779B97F4A7C15ULL | 1;
    f->addr.sin_family = AF_INET;
    f->addr.sin_port = htons((uint16_t)f->cfg.port);
    if (inet_pton(AF_INET, f->cfg.host, &f->addr.sin_addr) != 1) {
        fprintf(stderr, "se-bench-drivers: --host must be an IPv4 address: %s\n", f->cfg.host);
        return -1;
    }
    f->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (f->epfd < 0 || drv_hist_init(&f->total.latency) < 0 ||
        drv_hist_init(&f->window.latency) < 0 || drv_hist_init(&f->live) < 0 ||
        drv_drivers_init(f) < 0 || drv_watchers_init(f) < 0) {
        fprintf(stderr, "se-bench-drivers: set-up: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static void fleet_dispose(drv_fleet *f)
{
    drv_drivers_dispose(f);
    drv_watchers_dispose(f);
    drv_hist_dispose(&f->total.latency);
    drv_hist_dispose(&f->window.latency);
    drv_hist_dispose(&f->live);
    if (f->epfd >= 0)
        close(f->epfd);
}

/* Phase 1: every watcher subscribed (or failed) by the deadline. */
static void watchers_subscribe(drv_fleet *f)
{
    int w = f->cfg.watchers;
    int64_t start = drv_mono_us(), deadline = start + f->cfg.setup_timeout_s * 1000000LL;
    int opened = 0;
    while (drv_mono_us() < deadline) {
        for (int k = 0; k < 100 && opened < w; k++) /* 100 a pass: no SYN burst */
            drv_watcher_open(f, (uint32_t)opened++);
        if (opened == w && f->watchers_live + f->watchers_ended >= w)
            break;
        loop_once(f, 10000);
    }
    drv_watchers_abort(f, false);
    fprintf(stderr, "se-bench-drivers: %d/%d watchers subscribed in %.1f s\n", f->watchers_live,
            w, (double)(drv_mono_us() - start) / 1e6);
}

/* Phase 2: driver connections opened evenly over --ramp seconds. */
static int drivers_connect(drv_fleet *f)
{
    int n = f->cfg.drivers, opened = 0;
    int64_t start = drv_mono_us(), ramp_us = (int64_t)(f->cfg.ramp_s * 1e6);
    int64_t deadline = start + ramp_us + f->cfg.setup_timeout_s * 1000000LL;
    while (drv_mono_us() < deadline) {
        int64_t now = drv_mono_us();
        int target = ramp_us > 0 ? (int)((double)n * (double)(now - start) / (double)ramp_us) : n;
        while (opened < n && opened < target)
            drv_driver_open(f, (uint32_t)opened++);
        if (opened == n && f->connecting == 0)
            break;
        loop_once(f, 1000);
    }
    fprintf(stderr, "se-bench-drivers: %d/%d drivers connected in %.1f s (%llu connect failures)\n",
            f->connected, n, (double)(drv_mono_us() - start) / 1e6,
            (unsigned long long)f->connect_failed);
    return f->connected > 0 ? 0 : -1;
}

static uint64_t code_sum(const drv_counts *c, int lo, int hi)
{
    uint64_t s = 0;
    for (int i = lo; i <= hi; i++)
        s += c->code[i];
    return s;
}

static void progress_line(drv_fleet *f, int64_t now)
{
    fprintf(stderr,
            "se-bench-drivers: t=%.0fs sent=%llu 202=%llu other=%llu errors=%llu busy-skips=%llu "
            "in-flight=%d live-updates=%llu\n",
            (double)(now - f->t0_us) / 1e6, (unsigned long long)f->total.sent,
            (unsigned long long)f->total.code[202],
            (unsigned long long)(code_sum(&f->total, 100, 599) - f->total.code[202]),
            (unsigned long long)(f->total.errors + f->total.timeouts),
            (unsigned long long)f->total.skipped_busy, f->busy, (unsigned long long)f->live_msgs);
}

/* Phase 3 and 4: the reports, then the stragglers. */
static void post_reports(drv_fleet *f)
{
    int64_t now = drv_mono_us(), wall = drv_wall_us();
    f->t0_us = now + 10000;
    f->win_start_us = f->t0_us + f->cfg.warmup * 1000000LL;
    f->win_end_us = f->win_start_us + f->cfg.seconds * 1000000LL;
    f->wall_win_start_us = wall + (f->win_start_us - now);
    f->wall_win_end_us = wall + (f->win_end_us - now);
    f->posting = true;
    int64_t next_progress = f->t0_us + 1000000;
    while (f->posting) {
        loop_once(f, 100000);
        now = drv_mono_us();
        if (f->cfg.progress && now >= next_progress) {
            progress_line(f, now);
            next_progress += 1000000;
        }
    }
    int64_t deadline = drv_mono_us() + f->cfg.timeout_ms * 1000LL;
    while (f->busy > 0 && drv_mono_us() < deadline)
        loop_once(f, 10000);
    drv_drivers_expire_all(f);
}

static uint64_t live_expected(const drv_fleet *f)
{
    uint64_t e = 0;
    for (int j = 0; j < f->cfg.watchers; j++)
        if (f->wat[j].state == DRV_W_LIVE)
            e += f->accepted[f->wat[j].driver];
    return e;
}

/* Phase 4b and 5: the last updates, then unsubscribe and close. */
static void watchers_finish(drv_fleet *f, uint64_t *expected)
{
    int64_t deadline = drv_mono_us() + 2000000;
    *expected = live_expected(f);
    while (f->live_msgs < *expected && drv_mono_us() < deadline)
        loop_once(f, 10000);
    drv_watchers_unsubscribe(f);
    deadline = drv_mono_us() + f->cfg.setup_timeout_s * 1000000LL;
    while (f->watchers_ended < f->cfg.watchers && drv_mono_us() < deadline)
        loop_once(f, 10000);
    drv_watchers_abort(f, true);
}

static void print_codes(const drv_counts *c)
{
    const char *sep = "";
    printf("{");
    for (int i = 100; i < 600; i++)
        if (c->code[i]) {
            printf("%s\"%d\":%llu", sep, i, (unsigned long long)c->code[i]);
            sep = ",";
        }
    printf("}");
}

static double ms(int64_t us) { return (double)us / 1000.0; }

static void report(const drv_fleet *f, uint64_t expected)
{
    const drv_counts *w = &f->window;
    double secs = f->cfg.seconds;
    uint64_t accepted_total = 0;
    for (int i = 0; i < f->cfg.drivers; i++)
        accepted_total += f->accepted[i];
    printf("{\"bench\":\"drivers\",\"drivers\":%d,\"watchers\":%d,\"carriers\":%d,\"seconds\":%d,"
           "\"warmup\":%d,",
           f->cfg.drivers, f->cfg.watchers, f->cfg.carriers, f->cfg.seconds, f->cfg.warmup);
    printf("\"offered_rps\":%.0f,\"sent_rps\":%.0f,\"accepted_rps\":%.0f,", (double)w->due / secs,
           (double)w->sent / secs, (double)w->code[202] / secs);
    printf("\"ingest_p50_ms\":%.2f,\"ingest_p90_ms\":%.2f,\"ingest_p99_ms\":%.2f,"
           "\"ingest_max_ms\":%.2f,",
           ms(drv_hist_quantile(&w->latency, 0.5)), ms(drv_hist_quantile(&w->latency, 0.9)),
           ms(drv_hist_quantile(&w->latency, 0.99)), ms(drv_hist_quantile(&w->latency, 1.0)));
    printf("\"status\":");
    print_codes(w);
    printf(",\"errors\":%llu,\"timeouts\":%llu,\"skipped_busy\":%llu,\"skipped_down\":%llu,",
           (unsigned long long)w->errors, (unsigned long long)w->timeouts,
           (unsigned long long)w->skipped_busy, (unsigned long long)w->skipped_down);
    printf("\"total_sent\":%llu,\"total_accepted\":%llu,\"total_status\":",
           (unsigned long long)f->total.sent, (unsigned long long)accepted_total);
    print_codes(&f->total);
    printf(",\"total_errors\":%llu,\"total_timeouts\":%llu,",
           (unsigned long long)f->total.errors, (unsigned long long)f->total.timeouts);
    printf("\"connect_failed\":%llu,\"reconnects\":%llu,\"server_closes\":%llu,",
           (unsigned long long)f->connect_failed, (unsigned long long)f->reconnects,
           (unsigned long long)f->server_closes);
    const drv_watch_fail *wf = &f->wfail;
    printf("\"watchers_failed\":{\"connect\":%llu,\"status\":%llu,\"last_status\":%d,"
           "\"accept\":%llu,\"closed_early\":%llu,\"protocol\":%llu,\"timeout\":%llu,"
           "\"no_close\":%llu},\"watchers_closed_clean\":%llu,",
           (unsigned long long)wf->connect, (unsigned long long)wf->status, wf->last_status,
           (unsigned long long)wf->accept, (unsigned long long)wf->closed_early,
           (unsigned long long)wf->protocol, (unsigned long long)wf->timeout,
           (unsigned long long)wf->no_close, (unsigned long long)f->ws_closed_clean);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\"ws_pings\":%llu,\"sim_cpu_s\":%.2f,", (unsigned long long)f->ws_pings,
           (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    printf("\"live_messages\":%llu,\"live_expected\":%llu,\"live_in_window\":%llu,"
           "\"live_wrong_driver\":%llu,\"live_bad\":%llu,\"live_p50_ms\":%.2f,"
           "\"live_p99_ms\":%.2f,\"live_max_ms\":%.2f}\n",
           (unsigned long long)f->live_msgs, (unsigned long long)expected,
           (unsigned long long)f->live.count, (unsigned long long)f->live_wrong_driver,
           (unsigned long long)f->live_bad, ms(drv_hist_quantile(&f->live, 0.5)),
           ms(drv_hist_quantile(&f->live, 0.99)), ms(drv_hist_quantile(&f->live, 1.0)));
    fflush(stdout);
}

static int write_per_driver(const drv_fleet *f)
{
    FILE *out = fopen(f->cfg.per_driver_out, "w");
    if (!out) {
        fprintf(stderr, "se-bench-drivers: %s: %s\n", f->cfg.per_driver_out, strerror(errno));
        return -1;
    }
    for (int i = 0; i < f->cfg.drivers; i++)
        fprintf(out, "%s%d\t%u\n", f->cfg.prefix, i, f->accepted[i]);
    if (fclose(out) != 0) {
        fprintf(stderr, "se-bench-drivers: %s: %s\n", f->cfg.per_driver_out, strerror(errno));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static drv_fleet fleet = {.epfd = -1};
    drv_fleet *f = &fleet;
    int rc = parse_args(argc, argv, &f->cfg);
    if (rc == 1)
        return drv_self_test() == 0 ? 0 : 1;
    if (rc < 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (raise_nofile(f->cfg.drivers + f->cfg.watchers + 64) < 0 || fleet_init(f) < 0) {
        fleet_dispose(f);
        return 1;
    }
    watchers_subscribe(f);
    if (drivers_connect(f) < 0) {
        fprintf(stderr, "se-bench-drivers: no driver could connect to %s:%d\n", f->cfg.host,
                f->cfg.port);
        fleet_dispose(f);
        return 1;
    }
    post_reports(f);
    uint64_t expected = 0;
    watchers_finish(f, &expected);
    report(f, expected);
    rc = f->cfg.per_driver_out ? write_per_driver(f) : 0;
    fleet_dispose(f);
    return rc < 0 ? 1 : 0;
}
