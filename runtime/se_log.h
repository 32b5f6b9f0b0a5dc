/* se_log.h - structured logs: one JSON object per line on stdout.
 *
 *   {"ts":"2026-11-26T14:03:54.123Z","level":"info","component":"menu",
 *    "event":"server_started","request_id":"...","msg":"listening on :50051"}
 *
 * request_id appears when the calling thread has one (se_log_set_request_id;
 * the RPC runtime sets it while a handler runs). Lines are written with one
 * write(2) each, so threads never interleave within a line.
 * Level threshold: SE_LOG_LEVEL (debug|info|warn|error, default info).
 */
#ifndef SE_LOG_H
#define SE_LOG_H

#include <stddef.h>

typedef enum se_log_level {
    SE_LOG_DEBUG = 0,
    SE_LOG_INFO = 1,
    SE_LOG_WARN = 2,
    SE_LOG_ERROR = 3,
} se_log_level;

/* Names the component for every line; reads SE_LOG_LEVEL. THREAD: main,
 * before other threads start. */
void se_log_init(const char *component);
int se_log_enabled(se_log_level level);

/* A line with a free-text message. `event` is a short snake_case name. */
void se_log(se_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A line with extra members: `fields_fmt` must produce JSON members
 * (`"status":200,"path":"/x"`); escape strings with se_json_escape. */
void se_log_fields(se_log_level level, const char *event, const char *fields_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The request id of the calling thread's current work (NULL clears).
 * The pointer must stay valid until cleared. THREAD: per thread. */
void se_log_set_request_id(const char *request_id);
const char *se_log_request_id(void);

/* Writes `s` JSON-escaped (without quotes) into buf, always NUL-terminated,
 * truncating if needed; returns buf. */
char *se_json_escape(char *buf, size_t cap, const char *s);

#define se_log_debug(ev, ...) se_log(SE_LOG_DEBUG, ev, __VA_ARGS__)
#define se_log_info(ev, ...) se_log(SE_LOG_INFO, ev, __VA_ARGS__)
#define se_log_warn(ev, ...) se_log(SE_LOG_WARN, ev, __VA_ARGS__)
#define se_log_error(ev, ...) se_log(SE_LOG_ERROR, ev, __VA_ARGS__)

#endif
