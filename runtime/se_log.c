/* se_log.c - structured JSON log lines on stdout (see se_log.h).
 *
 * DESIGN: each line is formatted into a stack buffer and written with one
 * write(2), so lines from different threads never interleave. A line longer
 * than SE_LOG_LINE_MAX is cut inside its message (the JSON stays valid). The
 * component name and the threshold are set once by se_log_init() before
 * other threads start; the request id is thread-local.
 */
#include "se_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define SE_LOG_LINE_MAX 8192
#define SE_LOG_MSG_MAX 4096

static char log_component[64] = "swifteats";
static se_log_level log_threshold = SE_LOG_INFO;
static _Thread_local const char *log_request_id;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

static int parse_level(const char *s, se_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (se_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = SE_LOG_WARN;
        return 0;
    }
    return -1;
}

void se_log_init(const char *component)
{
    if (component != NULL)
        snprintf(log_component, sizeof log_component, "%s", component);
    const char *lv = getenv("SE_LOG_LEVEL");
    log_threshold = SE_LOG_INFO;
    if (lv != NULL && lv[0] != '\0' && parse_level(lv, &log_threshold) != 0) {
        char esc[128];
        se_log_fields(SE_LOG_ERROR, "config_invalid",
                      "\"variable\":\"SE_LOG_LEVEL\",\"value\":\"%s\","
                      "\"msg\":\"SE_LOG_LEVEL must be debug, info, warn or error\"",
                      se_json_escape(esc, sizeof esc, lv));
        exit(2);
    }
}

int se_log_enabled(se_log_level level)
{
    return level >= log_threshold;
}

void se_log_set_request_id(const char *request_id)
{
    log_request_id = request_id;
}

const char *se_log_request_id(void)
{
    return log_request_id;
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8
 * sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return n;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    return (n - (i - 1) >= need) ? n : i - 1;
}

char *se_json_escape(char *buf, size_t cap, const char *s)
{
    size_t o = 0;
    if (cap == 0)
        return buf;
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char tmp[8];
        size_t n;
        switch (*p) {
        case '"': n = 2; memcpy(tmp, "\\\"", 2); break;
        case '\\': n = 2; memcpy(tmp, "\\\\", 2); break;
        case '\n': n = 2; memcpy(tmp, "\\n", 2); break;
        case '\r': n = 2; memcpy(tmp, "\\r", 2); break;
        case '\t': n = 2; memcpy(tmp, "\\t", 2); break;
        case '\b': n = 2; memcpy(tmp, "\\b", 2); break;
        case '\f': n = 2; memcpy(tmp, "\\f", 2); break;
        default:
            if (*p < 0x20 || *p == 0x7F) {
                n = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", *p);
            } else {
                n = 1;
                tmp[0] = (char)*p;
            }
        }
        if (o + n >= cap) {
            o = utf8_cut(buf, o);
            break;
        }
        memcpy(buf + o, tmp, n);
        o += n;
    }
    buf[o] = '\0';
    return buf;
}

static void write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* Writes `{"ts":..,"level":..,"component":..,"event":..[,"request_id":..]`
 * into line; returns its length. */
static size_t format_head(char *line, size_t cap, se_log_level level, const char *event)
{
    struct timespec ts;
    struct tm tm;
    char when[32], ev[128], rid[160];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    se_json_escape(ev, sizeof ev, event);
    int n = snprintf(line, cap, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"component\":\"%s\",\"event\":\"%s\"",
                     when, ts.tv_nsec / 1000000L, level_names[level], log_component, ev);
    if (log_request_id != NULL) {
        se_json_escape(rid, sizeof rid, log_request_id);
        n += snprintf(line + n, cap - (size_t)n, ",\"request_id\":\"%s\"", rid);
    }
    return (size_t)n;
}

void se_log(se_log_level level, const char *event, const char *fmt, ...)
{
    if (!se_log_enabled(level))
        return;
    char line[SE_LOG_LINE_MAX], msg[SE_LOG_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t n = format_head(line, sizeof line, level, event);
    memcpy(line + n, ",\"msg\":\"", 8);
    n += 8;
    se_json_escape(line + n, sizeof line - n - 3, msg);
    n += strlen(line + n);
    memcpy(line + n, "\"}\n", 3);
    write_all(line, n + 3);
}

void se_log_fields(se_log_level level, const char *event, const char *fields_fmt, ...)
{
    if (!se_log_enabled(level))
        return;
    char line[SE_LOG_LINE_MAX];
    size_t n = format_head(line, sizeof line, level, event);
    va_list ap;
    va_start(ap, fields_fmt);
    line[n++] = ',';
    int w = vsnprintf(line + n, sizeof line - n - 2, fields_fmt, ap);
    va_end(ap);
    if (w <= 0) {
        n--; /* no members: drop the comma */
    } else if ((size_t)w >= sizeof line - n - 2) {
        /* Members cut mid-way would break the JSON: say so instead. */
        n += (size_t)snprintf(line + n, sizeof line - n - 2, "\"truncated\":true");
    } else {
        n += (size_t)w;
    }
    memcpy(line + n, "}\n", 2);
    write_all(line, n + 2);
}
