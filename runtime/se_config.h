/* se_config.h - configuration from environment variables.
 *
 * Every variable any component reads is listed in README.md's configuration
 * table, with its default. A value that does not parse or is out of range is
 * a fatal configuration error: the process logs which variable and why, and
 * exits with status 2 (a half-configured service is worse than none).
 */
#ifndef SE_CONFIG_H
#define SE_CONFIG_H

#include <stdint.h>

/* The variable's value, or `def` when unset or empty. Never NULL unless
 * def is NULL. */
const char *se_env_str(const char *name, const char *def);
/* An integer within [min, max]; exits(2) with a log line otherwise. */
int64_t se_env_int(const char *name, int64_t def, int64_t min, int64_t max);
/* A finite decimal number (strtod syntax: "0.05", "1e-3") within
 * [min, max]; exits(2) with a log line otherwise (garbage, NaN, infinity,
 * out of range). */
double se_env_double(const char *name, double def, double min, double max);
/* 1/0 from true/false/1/0/yes/no/on/off; exits(2) otherwise. */
int se_env_bool(const char *name, int def);

/* Well-known addresses, so every component agrees on them:
 * the listen address of a service ("0.0.0.0:50051" style, from
 * SE_<NAME>_ADDR, default SE_BIND_HOST:<default port>) and the target
 * a client dials (SE_<NAME>_TARGET, default 127.0.0.1:<port>). `name` is
 * "MENU", "ORDER", "LOGISTICS" or "PAYMENT_GATEWAY" (ports 50051-50054), or
 * "PAYMENT_WORKER" / "LOCATION_WORKER" (50061 / 50062: the workers' health
 * servers). Results are static strings owned by the config module. */
const char *se_config_listen_addr(const char *name);
const char *se_config_target(const char *name);

#endif
