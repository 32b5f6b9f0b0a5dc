/* drv_driver.c - the simulated drivers: their routes, their reports
 * (POST /api/v1/drivers/{driver_id}/location) and the responses.
 *
 * Routes: every driver drives a street grid (headings 0/90/180/270, so no
 * libm) inside a ~20 x 20 km box around 40.71,-74.00, at 4-14 m/s, turning
 * left or right every 10-60 reports and bouncing off the box's edges; each
 * report advances it by one second of driving.
 * Accounting: a report belongs to the measured window if it fell DUE inside
 * it (drv_counts "window"); everything also goes to "total", and each 202
 * to the driver's accepted count (what the history table must hold).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "drivers.h"
#include "drv_codec.h"

#define CENTER_LAT 40.71
#define CENTER_LON (-74.00)
#define HALF_BOX_LAT 0.09              /* ~10 km */
#define HALF_BOX_LON 0.12              /* ~10 km at this latitude */
#define M_PER_DEG_LAT 111320.0
#define M_PER_DEG_LON (111320.0 * 0.7581) /* cos(40.71 deg) */

#define COUNT(f, in_window, field)        \
    do {                                  \
        (f)->total.field++;               \
        if (in_window)                    \
            (f)->window.field++;          \
    } while (0)

static char read_buf[65536];

int drv_drivers_init(drv_fleet *f)
{
    int n = f->cfg.drivers;
    f->drv = calloc((size_t)n, sizeof *f->drv);
    f->accepted = calloc((size_t)n, sizeof *f->accepted);
    if (!f->drv || !f->accepted)
        return -1;
    for (int i = 0; i < n; i++) {
        drv_driver *d = &f->drv[i];
        d->conn = (drv_conn){.kind = DRV_KIND_DRIVER, .fd = -1, .index = (uint32_t)i};
        d->state = DRV_D_CLOSED;
        d->lat = CENTER_LAT + (drv_rand01(&f->rng) * 2 - 1) * HALF_BOX_LAT;
        d->lon = CENTER_LON + (drv_rand01(&f->rng) * 2 - 1) * HALF_BOX_LON;
        d->dir = (uint8_t)(drv_rand(&f->rng) & 3);
        d->speed = (float)(4 + drv_rand01(&f->rng) * 10);
        d->until_turn = (uint16_t)(1 + drv_rand(&f->rng) % 60);
    }
    return 0;
}

void drv_drivers_dispose(drv_fleet *f)
{
    if (f->drv)
        for (int i = 0; i < f->cfg.drivers; i++)
            drv_conn_close(f, &f->drv[i].conn);
    free(f->drv);
    free(f->accepted);
    f->drv = NULL;
    f->accepted = NULL;
}

/* One second of driving. */
static void route_step(drv_fleet *f, drv_driver *d)
{
    static const int dlat[4] = {1, 0, -1, 0}, dlon[4] = {0, 1, 0, -1};
    d->lat += dlat[d->dir] * d->speed / M_PER_DEG_LAT;
    d->lon += dlon[d->dir] * d->speed / M_PER_DEG_LON;
    if (d->lat > CENTER_LAT + HALF_BOX_LAT || d->lat < CENTER_LAT - HALF_BOX_LAT ||
        d->lon > CENTER_LON + HALF_BOX_LON || d->lon < CENTER_LON - HALF_BOX_LON)
        d->dir ^= 2; /* U-turn back into the city */
    if (--d->until_turn == 0) {
        d->dir = (uint8_t)((d->dir + ((drv_rand(&f->rng) & 1) ? 1 : 3)) & 3);
        d->until_turn = (uint16_t)(10 + drv_rand(&f->rng) % 51);
        d->speed = (float)(4 + drv_rand01(&f->rng) * 10);
    }
}

/* The connection is gone (error, timeout, peer close): closes it and fixes
 * the counters; a report in flight counts as an error if count_error. */
static void driver_lost(drv_fleet *f, drv_driver *d, bool count_error)
{
    if (d->state == DRV_D_BUSY) {
        f->busy--;
        if (count_error)
            COUNT(f, d->in_window, errors);
    }
    if (d->state == DRV_D_BUSY || d->state == DRV_D_IDLE)
        f->connected--;
    else if (d->state == DRV_D_CONNECTING)
        f->connecting--;
    if (d->owed) {
        COUNT(f, d->owed_in_window, skipped_down);
        d->owed = false;
    }
    drv_conn_close(f, &d->conn);
    d->state = DRV_D_CLOSED;
}

static size_t build_request(drv_fleet *f, drv_driver *d, char *out, size_t cap)
{
    uint32_t i = d->conn.index;
    char ts[32], body[320];
    drv_rfc3339_format(drv_wall_us(), ts);
    int bn = snprintf(body, sizeof body,
                      "{\"latitude\":%.6f,\"longitude\":%.6f,\"speed\":%.1f,\"heading\":%d,"
                      "\"accuracy\":%.1f,",
                      d->lat, d->lon, (double)d->speed, d->dir * 90,
                      3 + (double)(drv_rand(&f->rng) % 120) / 10);
    if ((int)i < f->cfg.carriers)
        bn += snprintf(body + bn, sizeof body - (size_t)bn, "\"order_id\":%lld,",
                       (long long)(f->cfg.order_base + i));
    bn += snprintf(body + bn, sizeof body - (size_t)bn, "\"timestamp\":\"%s\"}", ts);
    int n = snprintf(out, cap,
                     "POST /api/v1/drivers/%s%u/location HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     f->cfg.prefix, i, f->cfg.host, f->cfg.port, bn, body);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void send_report(drv_fleet *f, drv_driver *d, bool in_window)
{
    char req[768];
    route_step(f, d);
    size_t n = build_request(f, d, req, sizeof req);
    drv_http_reset(&d->resp);
    d->in_window = in_window;
    d->sent_us = drv_mono_us();
    d->state = DRV_D_BUSY;
    f->busy++;
    COUNT(f, in_window, sent);
    if (n == 0 || drv_conn_write(f, &d->conn, req, n) < 0)
        driver_lost(f, d, true);
}

void drv_driver_open(drv_fleet *f, uint32_t i)
{
    drv_driver *d = &f->drv[i];
    if (drv_conn_open(f, &d->conn) < 0) {
        f->connect_failed++;
        if (f->connect_failed <= 3)
            fprintf(stderr, "se-bench-drivers: connect (driver %u): %s\n", i, strerror(errno));
        d->state = DRV_D_CLOSED;
        return;
    }
    d->state = DRV_D_CONNECTING;
    f->connecting++;
}

/* The report due now for driver d (sequence number seq). */
static void report_due(drv_fleet *f, drv_driver *d, bool in_window, int64_t now)
{
    COUNT(f, in_window, due);
    switch (d->state) {
    case DRV_D_IDLE:
        send_report(f, d, in_window);
        return;
    case DRV_D_BUSY:
        if (now - d->sent_us < (int64_t)f->cfg.timeout_ms * 1000) {
            COUNT(f, in_window, skipped_busy);
            return;
        }
        COUNT(f, d->in_window, timeouts);
        driver_lost(f, d, false);
        break;
    case DRV_D_CONNECTING:
        if (d->owed) {
            COUNT(f, in_window, skipped_down);
        } else {
            d->owed = true;
            d->owed_in_window = in_window;
        }
        return;
    default:
        break;
    }
    /* closed (or just timed out): reconnect, the report goes on connect */
    f->reconnects++;
    drv_driver_open(f, d->conn.index);
    if (d->state == DRV_D_CONNECTING) {
        d->owed = true;
        d->owed_in_window = in_window;
    } else {
        COUNT(f, in_window, skipped_down);
    }
}

int64_t drv_drivers_tick(drv_fleet *f, int64_t now)
{
    uint64_t n = (uint64_t)f->cfg.drivers;
    for (;;) {
        uint64_t seq = f->next_seq;
        int64_t due = f->t0_us + (int64_t)(seq / n) * 1000000 + (int64_t)((seq % n) * 1000000 / n);
        if (due >= f->win_end_us) {
            f->posting = false;
            return 1000000;
        }
        if (due > now)
            return due - now;
        report_due(f, &f->drv[seq % n], due >= f->win_start_us, now);
        f->next_seq++;
    }
}

static void on_response(drv_fleet *f, drv_driver *d)
{
    int64_t lat = drv_mono_us() - d->sent_us;
    int code = d->resp.status;
    f->total.code[code]++;
    drv_hist_add(&f->total.latency, lat);
    if (d->in_window) {
        f->window.code[code]++;
        drv_hist_add(&f->window.latency, lat);
    }
    if (code == 202)
        f->accepted[d->conn.index]++;
    f->busy--;
    d->state = DRV_D_IDLE;
    if (d->resp.close) { /* the gateway ends the connection: reopen when next due */
        f->server_closes++;
        driver_lost(f, d, false);
    }
}

static void on_connected(drv_fleet *f, drv_driver *d)
{
    f->connecting--;
    if (drv_conn_connected(f, &d->conn) < 0) {
        f->connect_failed++;
        if (f->connect_failed <= 3)
            fprintf(stderr, "se-bench-drivers: connect (driver %u): %s\n", d->conn.index,
                    strerror(errno));
        d->state = DRV_D_CLOSED; /* not counted as connecting any more */
        driver_lost(f, d, false);
        return;
    }
    f->connected++;
    d->state = DRV_D_IDLE;
    if (d->owed) {
        d->owed = false;
        send_report(f, d, d->owed_in_window);
    }
}

static void on_readable(drv_fleet *f, drv_driver *d)
{
    ssize_t n = read(d->conn.fd, read_buf, sizeof read_buf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        if (n == 0 && d->state == DRV_D_BUSY && drv_http_eof(&d->resp) == 0) {
            on_response(f, d); /* a body that ended with the connection */
            if (d->state == DRV_D_CLOSED)
                return;
        }
        if (d->state == DRV_D_IDLE)
            f->server_closes++;
        driver_lost(f, d, true);
        return;
    }
    if (d->state != DRV_D_BUSY) { /* bytes nobody asked for */
        driver_lost(f, d, true);
        return;
    }
    ssize_t used = drv_http_feed(&d->resp, read_buf, (size_t)n);
    if (used < 0) {
        driver_lost(f, d, true);
        return;
    }
    if (d->resp.state == DRV_HTTP_DONE) {
        on_response(f, d);
        if (used < n && d->state != DRV_D_CLOSED) /* more than one response */
            driver_lost(f, d, true);
    }
}

void drv_driver_on_event(drv_fleet *f, drv_driver *d, uint32_t events)
{
    if (d->conn.fd < 0)
        return;
    if (d->state == DRV_D_CONNECTING) {
        if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
            on_connected(f, d);
        return;
    }
    if ((events & EPOLLOUT) && drv_conn_flush(f, &d->conn) < 0) {
        driver_lost(f, d, true);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        on_readable(f, d);
}

void drv_drivers_expire_all(drv_fleet *f)
{
    for (int i = 0; i < f->cfg.drivers; i++) {
        drv_driver *d = &f->drv[i];
        if (d->state == DRV_D_BUSY) {
            COUNT(f, d->in_window, timeouts);
            driver_lost(f, d, false);
        }
    }
}
