/* se_rpc_common.c - process lifecycle, statuses, request ids, configuration,
 * time and randomness helpers shared by the RPC server and client.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <grpc/support/time.h>

#include "se_config.h"
#include "se_log.h"
#include "se_rpc_priv.h"

/* ---- process lifecycle -------------------------------------------------- */

static void stop_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void se_rpc_init(void)
{
    sigset_t set;
    stop_signals(&set);
    sigaddset(&set, SIGPIPE);
    int rc = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (rc != 0)
        se_log_error("rpc_init", "pthread_sigmask failed: %s", strerror(rc));
    (void)se__rpc_cfg(); /* read (and validate) the configuration up front */
    grpc_init();
}

int se_rpc_wait_for_signal(void)
{
    sigset_t set;
    stop_signals(&set);
    for (;;) {
        int sig = 0;
        int rc = sigwait(&set, &sig);
        if (rc == 0)
            return sig;
        se_log_error("rpc_wait_for_signal", "sigwait failed: %s", strerror(rc));
    }
}

void se_rpc_shutdown(void)
{
    se__client_shutdown();
    grpc_shutdown_blocking();
}

/* ---- configuration ------------------------------------------------------ */

static se__rpc_config g_cfg;
static pthread_once_t g_cfg_once = PTHREAD_ONCE_INIT;

static void read_config(void)
{
    g_cfg.threads = (int)se_env_int("SE_RPC_THREADS", 2, 1, 256);
    g_cfg.grace_ms = (int)se_env_int("SE_RPC_GRACE_MS", 5000, 0, 3600 * 1000);
    g_cfg.timeout_ms = (int)se_env_int("SE_RPC_TIMEOUT_MS", 5000, 1, 24 * 3600 * 1000);
    g_cfg.attempts = (int)se_env_int("SE_RPC_RETRIES", 3, 1, 100);
    g_cfg.retry_base_ms = (int)se_env_int("SE_RPC_RETRY_BASE_MS", 20, 1, 60 * 1000);
    g_cfg.retry_cap_ms = (int)se_env_int("SE_RPC_RETRY_CAP_MS", 1000, 1, 60 * 1000);
    g_cfg.max_msg_bytes =
        (int)se_env_int("SE_RPC_MAX_MSG_BYTES", 8 << 20, 1024, 1 << 30);
}

const se__rpc_config *se__rpc_cfg(void)
{
    pthread_once(&g_cfg_once, read_config);
    return &g_cfg;
}

/* ---- status ------------------------------------------------------------- */

void se_status_set(se_status *st, grpc_status_code code, const char *fmt, ...)
{
    st->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->message, sizeof st->message, fmt, ap);
    va_end(ap);
}

const char *se_status_name(grpc_status_code code)
{
    static const char *const names[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
        "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
        "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    };
    if ((unsigned)code < sizeof names / sizeof names[0])
        return names[code];
    return "UNKNOWN";
}

void se_msg_free(ProtobufCMessage *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
}

/* ---- time and randomness ------------------------------------------------ */

gpr_timespec se__deadline_in_ms(int64_t ms)
{
    if (ms < 0)
        return gpr_inf_future(GPR_CLOCK_MONOTONIC);
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(ms, GPR_TIMESPAN));
}

int64_t se__ms_until(gpr_timespec t)
{
    if (t.tv_sec == INT64_MAX)
        return INT64_MAX;
    if (t.tv_sec == INT64_MIN)
        return INT64_MIN;
    gpr_timespec mono = gpr_convert_clock_type(t, GPR_CLOCK_MONOTONIC);
    gpr_timespec left = gpr_time_sub(mono, gpr_now(GPR_CLOCK_MONOTONIC));
    return left.tv_sec * 1000 + left.tv_nsec / 1000000;
}

static _Thread_local uint64_t tl_rand_state;

/* splitmix64 over a per-thread state seeded from getrandom(2). */
uint64_t se__rand64(void)
{
    if (tl_rand_state == 0) {
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&ts;
        }
        tl_rand_state = seed | 1;
    }
    uint64_t z = (tl_rand_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Request ids: each thread starts from 128 random bits (32 hex chars) and
 * counts up from there in the last 16 hex digits, so a new id costs an
 * increment and a copy instead of two PRNG rounds and 32 conversions.
 * Unique within the thread (2^64 ids) and, with overwhelming probability,
 * across threads and processes (random 64-bit prefix per thread). */
static _Thread_local char tl_request_id[33];

static void request_id_seed(char *id)
{
    static const char hex[] = "0123456789abcdef";
    for (int half = 0; half < 2; half++) {
        uint64_t r = se__rand64();
        for (int i = 0; i < 16; i++, r >>= 4)
            id[half * 16 + i] = hex[r & 15];
    }
    id[32] = '\0';
}

static void request_id_next(char *id)
{
    for (int i = 31; i >= 16; i--) {
        char c = id[i];
        if (c == 'f') {
            id[i] = '0'; /* carry */
            continue;
        }
        id[i] = c == '9' ? 'a' : (char)(c + 1);
        return;
    }
}

void se_request_id_new(char *buf)
{
    if (tl_request_id[0] == '\0')
        request_id_seed(tl_request_id);
    else
        request_id_next(tl_request_id);
    memcpy(buf, tl_request_id, 33);
}
