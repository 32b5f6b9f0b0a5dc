/* drivers.h - the shared state of se-bench-drivers, a driver fleet
 * simulator for the location path of the gateway (see main.c for the
 * command line and the phases of a run).
 *
 * DESIGN: one thread, one epoll instance, level-triggered, non-blocking
 * sockets. Every connection is a drv_driver or a drv_watcher, both starting
 * with a drv_conn (epoll's data.ptr points at it; `kind` tells which).
 *  - Drivers: one HTTP/1.1 keep-alive connection each, one request at a
 *    time (no pipelining). Driver i's k-th report is due at
 *    t0 + k s + i/N s, so the N reports of a second are spread uniformly
 *    and the due reports form one sweep in (k, i) order: drv_drivers_tick
 *    walks a single sequence number, no timers. A report due while the
 *    previous one is still unanswered is skipped and counted (an honest
 *    "could not offer", not a queue that hides latency); one unanswered
 *    for --timeout-ms is a timeout: the connection is closed and reopened.
 *  - Watchers: one WebSocket each on the order a driver carries; the report
 *    carries its send time as "timestamp" (wall clock, µs), so each
 *    location_update gives its location-to-watcher latency without any
 *    bookkeeping per message.
 *  - Connections are (re)opened only outside event dispatch (ramp, tick),
 *    so a stale event of a batch never meets a reused descriptor.
 * OWNERSHIP: drv_fleet owns every array, buffer and descriptor below.
 * THREAD: everything runs on the main thread.
 */
#ifndef DRIVERS_H
#define DRIVERS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "drv_hist.h"
#include "drv_http.h"

typedef struct drv_config {
    const char *host;           /* gateway address (IPv4 literal) */
    int port;                   /* gateway port */
    int drivers;                /* driver connections (N) */
    int watchers;               /* WebSocket watchers (W) */
    int carriers;               /* drivers 0..carriers-1 carry an order */
    int64_t order_base;         /* order_id of driver i = order_base + i */
    int seconds;                /* measured window, s */
    int warmup;                 /* posting before the window, s */
    double ramp_s;              /* driver connections opened over this time */
    int timeout_ms;             /* a report unanswered this long times out */
    int setup_timeout_s;        /* watchers subscribed / drivers connected */
    const char *prefix;         /* driver_id = prefix + index */
    const char *per_driver_out; /* TSV driver_id<TAB>accepted, or NULL */
    uint64_t seed;
    bool progress;              /* one line per second on stderr */
} drv_config;

enum { DRV_KIND_DRIVER = 1, DRV_KIND_WATCHER = 2 };

typedef struct drv_conn {
    uint8_t kind;         /* DRV_KIND_* */
    bool want_out;        /* EPOLLOUT registered */
    int fd;               /* -1 when closed */
    uint32_t index;       /* in its array */
    char *pending;        /* unsent bytes (malloc'd), NULL if none */
    uint32_t pending_len, pending_off;
} drv_conn;

/* Outcomes of the reports due in one period (the window, or the whole run). */
typedef struct drv_counts {
    uint64_t due;          /* reports that fell due */
    uint64_t sent;         /* written */
    uint64_t code[600];    /* responses by HTTP status */
    uint64_t errors;       /* connection lost / malformed response mid-request */
    uint64_t timeouts;     /* no response within timeout_ms */
    uint64_t skipped_busy; /* due while the previous report was unanswered */
    uint64_t skipped_down; /* due while not connected (reconnect failed) */
    drv_hist latency;      /* write -> complete response, µs */
} drv_counts;

enum drv_driver_state { DRV_D_CLOSED, DRV_D_CONNECTING, DRV_D_IDLE, DRV_D_BUSY };

typedef struct drv_driver {
    drv_conn conn;
    uint8_t state;       /* enum drv_driver_state */
    bool owed;           /* a report fell due while connecting: send on connect */
    bool owed_in_window;
    bool in_window;      /* the report in flight was due inside the window */
    uint8_t dir;         /* 0 north, 1 east, 2 south, 3 west (a street grid) */
    uint16_t until_turn; /* reports until the next turn */
    float speed;         /* m/s */
    double lat, lon;     /* degrees */
    int64_t sent_us;     /* CLOCK_MONOTONIC µs of the write in flight */
    drv_http_resp resp;
} drv_driver;

enum drv_watcher_state {
    DRV_W_CONNECTING, DRV_W_HANDSHAKE, DRV_W_WAIT_CONNECTED, DRV_W_LIVE,
    DRV_W_UNSUBSCRIBED, DRV_W_DONE, DRV_W_FAILED,
};

typedef struct drv_watcher {
    drv_conn conn;
    uint8_t state;      /* enum drv_watcher_state */
    uint8_t msg_op;     /* opcode of the fragmented message being assembled */
    bool got_close;
    uint16_t close_code;
    uint32_t driver;    /* index of the driver carrying the order */
    int64_t order_id;
    char key[25];       /* Sec-WebSocket-Key sent */
    drv_http_resp resp; /* the upgrade response */
    uint8_t *in;        /* received bytes not yet parsed into frames */
    size_t in_len, in_cap;
    uint8_t *msg;       /* payload of a fragmented message so far */
    size_t msg_len, msg_cap;
    uint64_t updates;   /* location_update messages received */
} drv_watcher;

/* Why watchers failed (counts). */
typedef struct drv_watch_fail {
    uint64_t connect;      /* connect or upgrade write failed */
    uint64_t status;       /* upgrade answered with another status than 101 */
    uint64_t accept;       /* wrong Sec-WebSocket-Accept */
    uint64_t closed_early; /* closed (or close frame) before our unsubscribe */
    uint64_t protocol;     /* malformed HTTP or frame */
    uint64_t timeout;      /* no {"type":"connected"} by the setup deadline */
    uint64_t no_close;     /* no close frame after our unsubscribe */
    int last_status; /* last non-101 status seen */
} drv_watch_fail;

typedef struct drv_fleet {
    drv_config cfg;
    int epfd;
    struct sockaddr_in addr;
    uint64_t rng;

    drv_driver *drv;          /* cfg.drivers */
    uint32_t *accepted;       /* 202s per driver, whole run */
    int connected;            /* drivers with an open, connected socket */
    int connecting;           /* drivers with a connect in progress */
    int busy;                 /* reports in flight */
    uint64_t connect_failed, reconnects, server_closes;

    bool posting;             /* the sweep is running */
    int64_t t0_us;            /* CLOCK_MONOTONIC: first report due */
    int64_t win_start_us, win_end_us;           /* CLOCK_MONOTONIC */
    int64_t wall_win_start_us, wall_win_end_us; /* CLOCK_REALTIME, same window */
    uint64_t next_seq;        /* next report due: round seq/N, driver seq%N */
    drv_counts total, window;

    drv_watcher *wat;         /* cfg.watchers */
    int watchers_live;        /* reached "connected" and still subscribed */
    int watchers_ended;       /* DONE or FAILED */
    uint64_t ws_closed_clean; /* close frame 1000 after our unsubscribe */
    uint64_t ws_pings;
    drv_watch_fail wfail;
    uint64_t live_msgs, live_bad, live_wrong_driver, live_other;
    drv_hist live;            /* update send -> receive, µs, window only */
} drv_fleet;

/* ---- drv_conn.c: sockets ---------------------------------------------------- */
/* Starts a non-blocking connect; registers EPOLLIN|EPOLLOUT. ON ERROR: -1,
 * errno set, nothing registered. */
int drv_conn_open(drv_fleet *f, drv_conn *c);
/* After EPOLLOUT on a connecting socket: 0 if connected (EPOLLOUT dropped
 * unless bytes are pending), else -1 with errno. */
int drv_conn_connected(drv_fleet *f, drv_conn *c);
/* Writes n bytes now, keeping what the socket did not take for EPOLLOUT.
 * ON ERROR: -1 (the caller closes). */
int drv_conn_write(drv_fleet *f, drv_conn *c, const void *p, size_t n);
/* On EPOLLOUT: writes pending bytes. ON ERROR: -1. */
int drv_conn_flush(drv_fleet *f, drv_conn *c);
/* Closes the socket and drops pending bytes (idempotent). */
void drv_conn_close(drv_fleet *f, drv_conn *c);

/* ---- drv_driver.c: the fleet of drivers --------------------------------------- */
int drv_drivers_init(drv_fleet *f);
void drv_drivers_dispose(drv_fleet *f);
/* Opens driver i's connection (ramp or reconnect). */
void drv_driver_open(drv_fleet *f, uint32_t i);
/* Sends the reports due by now; returns µs until the next one is due. */
int64_t drv_drivers_tick(drv_fleet *f, int64_t now_us);
void drv_driver_on_event(drv_fleet *f, drv_driver *d, uint32_t events);
/* End of the run: counts every report still unanswered as a timeout. */
void drv_drivers_expire_all(drv_fleet *f);

/* ---- drv_watch.c: WebSocket watchers ----------------------------------------- */
int drv_watchers_init(drv_fleet *f);
void drv_watchers_dispose(drv_fleet *f);
void drv_watcher_open(drv_fleet *f, uint32_t j);
void drv_watcher_on_event(drv_fleet *f, drv_watcher *w, uint32_t events);
/* Sends {"action":"unsubscribe"} on every live watcher. */
void drv_watchers_unsubscribe(drv_fleet *f);
/* Fails (closes) every watcher that has not ended (all), or only those
 * not subscribed yet (!all: the setup deadline passed). */
void drv_watchers_abort(drv_fleet *f, bool all);

#endif
