/* location_state.c - the Redis state scripts (location_state.h).
 *
 * DESIGN: one EVALSHA per batch carries every report as 7 arguments
 * (driver, version, lon, lat, order or "", packed loc, seen ms); the script
 * answers one digit per report (the LOCATION_STATE_* bits), a short string
 * rather than an array of integers. Numbers are formatted into one arena
 * per call, so a batch of 500 costs three allocations.
 */
#include "location_state.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_log.h"

#define ARGS_PER_REPORT 7
#define GEO_MAX_LAT 85.05112878

static const char apply_script[] =
    "local p, dttl, ottl = ARGV[1], ARGV[2], ARGV[3]\n"
    "local geo, seen = p .. 'drivers:geo', p .. 'drivers:seen'\n"
    "local out = {}\n"
    "local k = 0\n"
    "for i = 4, #ARGV, 7 do\n"
    "  local drv, ver, lon, lat = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3]\n"
    "  local ord, loc, ms = ARGV[i+4], ARGV[i+5], ARGV[i+6]\n"
    "  local flag = 0\n"
    "  local dk = p .. 'driver:' .. drv\n"
    "  local cur = redis.call('GET', dk .. ':ver')\n"
    "  if not cur or cur < ver then\n"
    "    redis.call('SET', dk, loc, 'EX', dttl)\n"
    "    redis.call('SET', dk .. ':ver', ver, 'EX', dttl)\n"
    "    if lon ~= '' then redis.call('GEOADD', geo, lon, lat, drv)\n"
    "    else redis.call('ZREM', geo, drv) end\n"
    "    redis.call('ZADD', seen, ms, drv)\n"
    "    flag = 1\n"
    "  end\n"
    "  if ord ~= '' then\n"
    "    local ok = p .. 'order:' .. ord .. ':loc'\n"
    "    local ocur = redis.call('GET', ok .. ':ver')\n"
    "    if not ocur or ocur < ver then\n"
    "      redis.call('SET', ok, loc, 'EX', ottl)\n"
    "      redis.call('SET', ok .. ':ver', ver, 'EX', ottl)\n"
    "      redis.call('PUBLISH', p .. 'order:' .. ord .. ':live', loc)\n"
    "      flag = flag + 2\n"
    "    end\n"
    "  end\n"
    "  k = k + 1\n"
    "  out[k] = flag\n"
    "end\n"
    "return table.concat(out)\n";

/* KEYS[1] seen, KEYS[2] geo; ARGV[1] cutoff ms (exclusive), ARGV[2] limit */
static const char sweep_script[] =
    "local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, "
    "tonumber(ARGV[2]))\n"
    "if #ids > 0 then\n"
    "  redis.call('ZREM', KEYS[1], unpack(ids))\n"
    "  redis.call('ZREM', KEYS[2], unpack(ids))\n"
    "end\n"
    "return #ids\n";

struct location_state {
    char *prefix;
    char dttl[16], ottl[16];
    char sha[48]; /* "" until loaded */
};

location_state *location_state_create(const location_state_config *cfg)
{
    location_state *st = se_xcalloc(1, sizeof *st);
    st->prefix = se_xstrdup(cfg->key_prefix);
    snprintf(st->dttl, sizeof st->dttl, "%d", cfg->driver_ttl_s > 0 ? cfg->driver_ttl_s : 86400);
    snprintf(st->ottl, sizeof st->ottl, "%d", cfg->order_ttl_s > 0 ? cfg->order_ttl_s : 86400);
    return st;
}

void location_state_destroy(location_state *st)
{
    if (st == NULL)
        return;
    free(st->prefix);
    free(st);
}

void location_state_version(int64_t ts_us, const char *stream_id, char out[64])
{
    unsigned long long ms = 0, seq = 0;
    if (sscanf(stream_id, "%llu-%llu", &ms, &seq) < 1)
        ms = seq = 0;
    snprintf(out, 64, "%016" PRId64 "%015llu%020llu", ts_us > 0 ? ts_us : 0, ms, seq);
}

/* SCRIPT LOAD of the apply script; 0 or -1. */
static int load_script(location_state *st, se_redis *r)
{
    se_redis_err err;
    redisReply *rep = se_redis_command(r, SE_REDIS_IDEMPOTENT, &err, "SCRIPT LOAD %s",
                                       apply_script);
    if (rep == NULL)
        return -1;
    int ok = rep->type == REDIS_REPLY_STRING && rep->len < (int)sizeof st->sha;
    if (ok)
        memcpy(st->sha, rep->str, (size_t)rep->len + 1);
    else
        se_log_error("location_script_load_failed", "SCRIPT LOAD: unexpected reply");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

/* Formats report e's arguments into argv/lens (7 slots) using arena. */
static void report_args(const location_entry *e, char *arena, const char **argv, size_t *lens)
{
    const Swifteats__V1__Location *m = e->msg;
    char *ver = arena, *lon = arena + 64, *lat = arena + 96, *ord = arena + 128,
         *ms = arena + 160;
    location_state_version(e->ts_us, e->id, ver);
    if (fabs(m->latitude) <= GEO_MAX_LAT) {
        snprintf(lon, 32, "%.17g", m->longitude);
        snprintf(lat, 32, "%.17g", m->latitude);
    } else {
        lon[0] = lat[0] = '\0';
    }
    if (m->_order_id_case == SWIFTEATS__V1__LOCATION___ORDER_ID_ORDER_ID)
        snprintf(ord, 32, "%" PRId64, m->order_id);
    else
        ord[0] = '\0';
    snprintf(ms, 32, "%" PRId64, e->ts_us / 1000);
    const char *v[ARGS_PER_REPORT] = {m->driver_id, ver, lon, lat, ord, e->loc, ms};
    for (int i = 0; i < ARGS_PER_REPORT; i++) {
        argv[i] = v[i];
        lens[i] = i == 5 ? e->loc_len : strlen(v[i]);
    }
}

static redisReply *run(location_state *st, se_redis *r, const char *verb, size_t argc,
                       const char **argv, size_t *lens, se_redis_err *err)
{
    argv[0] = verb;
    argv[1] = strcmp(verb, "EVALSHA") == 0 ? st->sha : apply_script;
    lens[0] = strlen(argv[0]);
    lens[1] = strlen(argv[1]);
    return se_redis_command_argv(r, SE_REDIS_IDEMPOTENT, (int)argc, argv, lens, err);
}

int location_state_apply(location_state *st, se_redis *r, location_entry *const *e, size_t n,
                         unsigned char *out)
{
    if (n == 0)
        return 0;
    if (st->sha[0] == '\0' && load_script(st, r) != 0)
        return -1;
    size_t argc = 3 + 3 + n * ARGS_PER_REPORT; /* EVALSHA sha 0 p dttl ottl ... */
    const char **argv = se_xcalloc(argc, sizeof *argv);
    size_t *lens = se_xcalloc(argc, sizeof *lens);
    char *arena = se_xmalloc(n * 192);
    const char *fixed[4] = {"0", st->prefix, st->dttl, st->ottl};
    for (int i = 0; i < 4; i++) {
        argv[2 + i] = fixed[i];
        lens[2 + i] = strlen(fixed[i]);
    }
    for (size_t i = 0; i < n; i++)
        report_args(e[i], arena + i * 192, argv + 6 + i * ARGS_PER_REPORT,
                    lens + 6 + i * ARGS_PER_REPORT);
    se_redis_err err;
    redisReply *rep = run(st, r, "EVALSHA", argc, argv, lens, &err);
    if (rep == NULL && err.code == SE_REDIS_EREPLY && strstr(err.msg, "NOSCRIPT") != NULL) {
        se_log_info("location_script_reload", "the state script was not cached; sending it");
        rep = run(st, r, "EVAL", argc, argv, lens, &err);
    }
    free(argv);
    free(lens);
    free(arena);
    if (rep == NULL)
        return -1;
    int ok = rep->type == REDIS_REPLY_STRING && (size_t)rep->len == n;
    if (ok)
        for (size_t i = 0; i < n; i++)
            out[i] = (unsigned char)(rep->str[i] - '0');
    else
        se_log_error("location_state_bad_reply", "state script: expected %zu flags", n);
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

long location_state_sweep(location_state *st, se_redis *r, int64_t now_ms, int stale_s,
                          int limit)
{
    char seen[256], geo[256];
    snprintf(seen, sizeof seen, "%sdrivers:seen", st->prefix);
    snprintf(geo, sizeof geo, "%sdrivers:geo", st->prefix);
    se_redis_err err;
    redisReply *rep = se_redis_command(r, SE_REDIS_IDEMPOTENT, &err, "EVAL %s 2 %s %s %lld %d",
                                       sweep_script, seen, geo,
                                       (long long)(now_ms - (int64_t)stale_s * 1000), limit);
    if (rep == NULL)
        return -1;
    long n = rep->type == REDIS_REPLY_INTEGER ? (long)rep->integer : -1;
    if (n < 0)
        se_log_error("location_sweep_bad_reply", "stale sweep: unexpected reply");
    freeReplyObject(rep);
    return n;
}
