/* se_config.c - configuration from environment variables (see se_config.h).
 *
 * DESIGN: values are read from the environment on every call (so tests can
 * change them); the address helpers return interned strings that live until
 * the process exits, so a pointer handed out stays valid even if the
 * environment changes later. Interning is guarded by a mutex: safe from any
 * thread.
 */
#include "se_config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "se_log.h"

static _Noreturn void config_fatal(const char *name, const char *value, const char *why)
{
    char n[128], v[256], w[256];
    se_log_fields(SE_LOG_ERROR, "config_invalid", "\"variable\":\"%s\",\"value\":\"%s\",\"msg\":\"%s\"",
                  se_json_escape(n, sizeof n, name), se_json_escape(v, sizeof v, value),
                  se_json_escape(w, sizeof w, why));
    exit(2);
}

const char *se_env_str(const char *name, const char *def)
{
    const char *v = getenv(name);
    return (v == NULL || v[0] == '\0') ? def : v;
}

int64_t se_env_int(const char *name, int64_t def, int64_t min, int64_t max)
{
    const char *v = se_env_str(name, NULL);
    if (v == NULL)
        return def;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0')
        config_fatal(name, v, "not an integer");
    if (errno == ERANGE || x < min || x > max) {
        char why[128];
        snprintf(why, sizeof why, "out of range [%" PRId64 ", %" PRId64 "]", min, max);
        config_fatal(name, v, why);
    }
    return (int64_t)x;
}

double se_env_double(const char *name, double def, double min, double max)
{
    const char *v = se_env_str(name, NULL);
    if (v == NULL)
        return def;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end != '\0' || isnan(x))
        config_fatal(name, v, "not a number");
    if (errno == ERANGE || !(x >= min && x <= max)) { /* also catches infinity */
        char why[128];
        snprintf(why, sizeof why, "out of range [%g, %g]", min, max);
        config_fatal(name, v, why);
    }
    return x;
}

int se_env_bool(const char *name, int def)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    const char *v = se_env_str(name, NULL);
    if (v == NULL)
        return def;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0)
            return 1;
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    config_fatal(name, v, "not a boolean (true/false/1/0/yes/no/on/off)");
}

/* ---- well-known addresses ----------------------------------------------- */

static const struct {
    const char *name;
    int port;
} known_services[] = {
    {"MENU", 50051},
    {"ORDER", 50052},
    {"LOGISTICS", 50053},
    {"PAYMENT_GATEWAY", 50054},
    {"PAYMENT_WORKER", 50061},  /* workers serve health and reflection only */
    {"LOCATION_WORKER", 50062},
};

static int default_port(const char *name)
{
    for (size_t i = 0; i < sizeof known_services / sizeof known_services[0]; i++) {
        if (strcmp(known_services[i].name, name) == 0)
            return known_services[i].port;
    }
    config_fatal("(service name)", name, "unknown service: use MENU, ORDER, LOGISTICS, PAYMENT_GATEWAY, "
                 "PAYMENT_WORKER or LOCATION_WORKER");
}

/* Interned strings: a singly linked list that only grows. */
typedef struct interned {
    struct interned *next;
    char s[];
} interned;

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static interned *intern_head;

static const char *intern(const char *s)
{
    pthread_mutex_lock(&intern_lock);
    interned *it = intern_head;
    while (it != NULL && strcmp(it->s, s) != 0)
        it = it->next;
    if (it == NULL) {
        size_t n = strlen(s) + 1;
        it = malloc(sizeof *it + n);
        if (it == NULL) {
            pthread_mutex_unlock(&intern_lock);
            se_log_error("out_of_memory", "config: interning %zu bytes", n);
            abort();
        }
        memcpy(it->s, s, n);
        it->next = intern_head;
        intern_head = it;
    }
    pthread_mutex_unlock(&intern_lock);
    return it->s;
}

/* "host:port" with a port in [0, 65535] ("[::]:50051" is fine too). */
static int valid_listen_addr(const char *a)
{
    const char *colon = strrchr(a, ':');
    if (colon == NULL || colon == a || colon[1] == '\0')
        return 0;
    char *end;
    long p = strtol(colon + 1, &end, 10);
    return *end == '\0' && p >= 0 && p <= 65535;
}

const char *se_config_listen_addr(const char *name)
{
    char var[64], buf[300];
    int port = default_port(name);
    snprintf(var, sizeof var, "SE_%s_ADDR", name);
    const char *v = se_env_str(var, NULL);
    if (v == NULL) {
        const char *host = se_env_str("SE_BIND_HOST", "127.0.0.1");
        int ipv6 = strchr(host, ':') != NULL && host[0] != '[';
        snprintf(buf, sizeof buf, ipv6 ? "[%s]:%d" : "%s:%d", host, port);
        v = buf;
    }
    if (!valid_listen_addr(v))
        config_fatal(v == buf ? "SE_BIND_HOST" : var, v, "expected host:port");
    return intern(v);
}

const char *se_config_target(const char *name)
{
    char var[64], buf[64];
    int port = default_port(name);
    snprintf(var, sizeof var, "SE_%s_TARGET", name);
    snprintf(buf, sizeof buf, "127.0.0.1:%d", port);
    return intern(se_env_str(var, buf));
}
