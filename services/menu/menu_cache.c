/* menu_cache.c - cache-aside in Redis for the menu service (menu_cache.h).
 *
 * DESIGN
 *
 * Keys (E = cache epoch, R = restaurant id):
 *   menu:E:g:R   generation of restaurant R: a decimal integer, created with
 *                a random 62-bit value (SET NX), INCRemented by every write
 *                to R; no TTL of its own beyond a day
 *   menu:E:lg    generation of every list page, same rules
 *   menu:E:r:R   Restaurant            \  value = 8-byte big-endian tag (the
 *   menu:E:m:R   Menu                   | generation it was loaded under)
 *   menu:E:s:R   RestaurantLiveStatus   | followed by the packed protobuf;
 *   menu:E:l:F   ListRestaurantsResponse/ TTL 1 h, 30 min, 30 s, 60 s
 *                for the page with canonical filters F
 *
 * Read: one MGET of the generation and the wanted values. A value counts
 * only if its tag equals the current generation. On a miss the value is
 * loaded from PostgreSQL and written back tagged with the generation read
 * BEFORE the load. Hence the classic cache-aside race (load old data, a
 * write commits and invalidates, the old data is written back) cannot
 * resurrect old data: the write moved the generation on, so the late value
 * carries an old tag and is never served. A generation key that vanishes
 * (eviction, FLUSHALL) is re-created with a fresh random value, which no
 * older tag can match.
 *
 * Write (after COMMIT): INCR the generation(s) and DEL the values (the DEL
 * only frees memory early; the INCR is what invalidates).
 *
 * Redis down or slow. The cache's Redis connections fail fast
 * (SE_REDIS_FAIL_FAST, short command timeout). Any Redis error opens a
 * breaker: for retry_ms no request touches Redis (reads go to PostgreSQL,
 * through the single-flight table). Writes still commit; the problem is
 * the invalidation that could not be done: old values would be served
 * again once Redis is back. Choice: a cache EPOCH kept in PostgreSQL (table
 * menu_cache_epoch, one row) and part of every key. A write whose
 * invalidation failed (error, timeout, breaker open) bumps the epoch in
 * PostgreSQL before it answers, which orphans every key at once (they
 * expire by TTL). The writing replica switches at once; every replica
 * re-reads the epoch at most every epoch_poll_ms (100 ms, lazily, on the
 * read path) and always before its first Redis use after its breaker
 * closes. So after Redis returns, no replica reads a value cached before
 * the failed invalidation. The residual window: a replica that did not
 * notice the outage and read the epoch less than epoch_poll_ms before the
 * bump, while Redis came back within that same interval. If the epoch bump
 * itself fails (PostgreSQL lost right after the commit), this replica stops
 * using Redis until a later bump succeeds. Why not a dirty-key list: it
 * protects only the replica that failed the DEL (others would read the
 * stale value after Redis returns) and is lost if that replica dies. Why
 * not a per-restaurant generation read from PostgreSQL on every hit: that
 * is a database round trip per read, which the cache exists to avoid.
 *
 * Single flight: a process-wide table (mutex + one condition variable per
 * flight) keyed by part and id. The first reader to miss leads: it loads
 * from PostgreSQL; readers that miss meanwhile wait for its result (a copy
 * of the packed bytes) instead of querying. A write (or another replica's
 * change event) detaches the matching flights, so a reader that starts
 * after the write never joins a load that began before it.
 *
 * Locking: `mu` guards the epoch fields, the breaker and the flight table;
 * it is never held across Redis or PostgreSQL calls.
 */
#include "menu_cache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "menu_util.h"
#include "se_config.h"
#include "se_log.h"

#define FKEY_MAX 232 /* part + id or list filters, "l:<filters>" */
#define KEY_MAX 288  /* "menu:<epoch>:" + FKEY */
#define REDIS_ACQUIRE_MS 250         /* a read waits this long for a connection */
#define INVALIDATE_ACQUIRE_MS 1000   /* a write, longer: failing costs an epoch bump */
#define GEN_TTL_S 86400
#define TAG_LEN 8

typedef struct flight {
    struct flight *next;
    char key[FKEY_MAX];    /* "r:7", "l:<filters>" (epoch-independent) */
    int64_t restaurant_id; /* 0 for list pages */
    menu_part part;
    int linked;            /* still in the table, joinable */
    int done;              /* the leader finished: rc, st, blob are set */
    int refs;              /* leader + waiting followers */
    pthread_cond_t cond;   /* broadcast when done */
    int rc;
    se_status st;
    menu_blob blob;        /* copy for the followers (when there were any) */
} flight;

struct menu_cache {
    menu_cache_config cfg;
    se_redis_pool *redis; /* borrowed; NULL: no Redis at all */
    menu_store *store;    /* borrowed */
    pthread_mutex_t mu;
    int64_t epoch;            /* current cache epoch (guarded by mu) */
    int64_t epoch_checked_ms; /* monotonic ms of the last epoch read; 0: now */
    int epoch_refreshing;     /* one thread re-reads the epoch at a time */
    int epoch_dirty;          /* a bump failed: no Redis until one succeeds */
    int64_t down_until_ms;    /* breaker: no Redis before this (0: closed) */
    flight *flights;
    atomic_ulong hits, misses, fills, redis_errors, epoch_bumps, shared_loads;
};

static const char part_letter[MENU_N_PARTS] = {'r', 'm', 's', 'l'};

static void epoch_refresh_locked(menu_cache *c);

void menu_cache_config_from_env(menu_cache_config *cfg)
{
    cfg->enabled = se_env_bool("SE_MENU_CACHE", 1);
    cfg->ttl_s[MENU_PART_RESTAURANT] =
        (int)se_env_int("SE_MENU_CACHE_TTL_RESTAURANT_S", 3600, 1, 7 * 86400);
    cfg->ttl_s[MENU_PART_MENU] = (int)se_env_int("SE_MENU_CACHE_TTL_MENU_S", 1800, 1, 7 * 86400);
    cfg->ttl_s[MENU_PART_STATUS] = (int)se_env_int("SE_MENU_CACHE_TTL_STATUS_S", 30, 1, 86400);
    cfg->ttl_s[MENU_PART_LIST] = (int)se_env_int("SE_MENU_CACHE_TTL_LIST_S", 60, 1, 86400);
    cfg->retry_ms = (int)se_env_int("SE_MENU_CACHE_RETRY_MS", 1000, 1, 600000);
    cfg->epoch_poll_ms = (int)se_env_int("SE_MENU_CACHE_EPOCH_POLL_MS", 100, 0, 600000);
}

menu_cache *menu_cache_create(const menu_cache_config *cfg, se_redis_pool *redis,
                              menu_store *store)
{
    menu_cache *c = se_xcalloc(1, sizeof *c);
    c->cfg = *cfg;
    c->redis = redis; /* with the cache off, writes still invalidate (for
                         replicas that have it on) */
    c->store = store;
    pthread_mutex_init(&c->mu, NULL);
    if (c->redis != NULL) { /* learn the epoch now, not under the first burst */
        pthread_mutex_lock(&c->mu);
        epoch_refresh_locked(c);
        pthread_mutex_unlock(&c->mu);
    }
    return c;
}

void menu_cache_destroy(menu_cache *c)
{
    if (c == NULL)
        return;
    if (c->flights != NULL)
        se_log_error("menu_cache_leak", "destroyed with loads in flight");
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void menu_cache_get_stats(menu_cache *c, menu_cache_stats *o)
{
    o->hits = atomic_load(&c->hits);
    o->misses = atomic_load(&c->misses);
    o->fills = atomic_load(&c->fills);
    o->redis_errors = atomic_load(&c->redis_errors);
    o->epoch_bumps = atomic_load(&c->epoch_bumps);
    o->shared_loads = atomic_load(&c->shared_loads);
    pthread_mutex_lock(&c->mu);
    o->epoch = c->epoch;
    pthread_mutex_unlock(&c->mu);
}

/* ---- epoch and breaker --------------------------------------------------- */

/* Opens the breaker after a Redis error (logged by se_redis). */
static void redis_failed(menu_cache *c, const char *what)
{
    atomic_fetch_add(&c->redis_errors, 1);
    pthread_mutex_lock(&c->mu);
    int was_closed = c->down_until_ms == 0;
    c->down_until_ms = se_mono_ms() + c->cfg.retry_ms;
    pthread_mutex_unlock(&c->mu);
    if (was_closed)
        se_log_warn("menu_cache_bypassed",
                    "%s failed: reads go to PostgreSQL for the next %d ms", what,
                    c->cfg.retry_ms);
}

/* Re-reads the epoch from PostgreSQL (mu held on entry and exit). On
 * failure epoch_checked_ms is left as it was (0 stays "must re-read"). */
static void epoch_refresh_locked(menu_cache *c)
{
    c->epoch_refreshing = 1;
    pthread_mutex_unlock(&c->mu);
    int64_t e = 0;
    se_status st;
    int rc = menu_store_cache_epoch(c->store, &e, &st);
    if (rc != 0)
        se_log_warn("menu_cache_epoch_unknown", "%s", st.message);
    pthread_mutex_lock(&c->mu);
    if (rc == 0 && e > c->epoch)
        c->epoch = e;
    if (rc == 0)
        c->epoch_checked_ms = se_mono_ms();
    c->epoch_refreshing = 0;
}

/* Bumps the epoch in PostgreSQL (mu not held). */
static void epoch_bump(menu_cache *c, const char *why)
{
    int64_t e = 0;
    se_status st;
    int rc = menu_store_bump_cache_epoch(c->store, &e, &st);
    pthread_mutex_lock(&c->mu);
    if (rc == 0) {
        if (e > c->epoch)
            c->epoch = e;
        c->epoch_dirty = 0;
        c->epoch_checked_ms = se_mono_ms();
    } else {
        c->epoch_dirty = 1;
    }
    pthread_mutex_unlock(&c->mu);
    if (rc == 0) {
        atomic_fetch_add(&c->epoch_bumps, 1);
        se_log_warn("menu_cache_epoch_bumped", "%s: cache epoch now %" PRId64
                    " (every value cached before is ignored)", why, e);
    } else {
        se_log_error("menu_cache_disabled",
                     "%s and the cache epoch could not be bumped (%s): Redis unused until "
                     "it can be", why, st.message);
    }
}

/* 1 and *epoch when Redis may be used now; 0 when reads must bypass it.
 * The epoch is re-read when due (every epoch_poll_ms, by one thread while
 * the others go on with the current one) and MUST be re-read before any
 * use when epoch_checked_ms is 0 (never read, or the breaker just closed):
 * meanwhile other threads bypass Redis. */
static int redis_usable(menu_cache *c, int64_t *epoch)
{
    if (c->redis == NULL)
        return 0;
    pthread_mutex_lock(&c->mu);
    int64_t now = se_mono_ms();
    if (c->down_until_ms != 0 && now >= c->down_until_ms) {
        c->down_until_ms = 0;
        c->epoch_checked_ms = 0; /* Redis may have come back: re-read first */
    }
    if (c->down_until_ms != 0) {
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    int must = c->epoch_checked_ms == 0;
    if (!c->epoch_dirty && (must || now - c->epoch_checked_ms >= c->cfg.epoch_poll_ms)) {
        if (c->epoch_refreshing && must) {
            pthread_mutex_unlock(&c->mu);
            return 0;
        }
        if (!c->epoch_refreshing)
            epoch_refresh_locked(c);
    }
    int dirty = c->epoch_dirty;
    pthread_mutex_unlock(&c->mu);
    if (dirty)
        epoch_bump(c, "an earlier epoch bump failed");
    pthread_mutex_lock(&c->mu);
    int usable = !c->epoch_dirty && c->epoch_checked_ms != 0 && c->epoch > 0;
    *epoch = c->epoch;
    pthread_mutex_unlock(&c->mu);
    return usable;
}

/* ---- keys and values ------------------------------------------------------ */

static void flight_key(char *buf, menu_part part, int64_t rid, const char *list_key)
{
    if (part == MENU_PART_LIST)
        snprintf(buf, FKEY_MAX, "l:%.220s", list_key);
    else
        snprintf(buf, FKEY_MAX, "%c:%" PRId64, part_letter[part], rid);
}

static void value_key(char *buf, int64_t epoch, const char *fkey)
{
    snprintf(buf, KEY_MAX, "menu:%" PRId64 ":%.231s", epoch, fkey);
}

static void gen_key(char *buf, int64_t epoch, int64_t rid)
{
    if (rid == 0)
        snprintf(buf, KEY_MAX, "menu:%" PRId64 ":lg", epoch);
    else
        snprintf(buf, KEY_MAX, "menu:%" PRId64 ":g:%" PRId64, epoch, rid);
}

static void tag_put(uint8_t *p, uint64_t gen)
{
    for (int i = 0; i < TAG_LEN; i++)
        p[i] = (uint8_t)(gen >> (56 - 8 * i));
}

static uint64_t tag_get(const uint8_t *p)
{
    uint64_t g = 0;
    for (int i = 0; i < TAG_LEN; i++)
        g = g << 8 | p[i];
    return g;
}

static uint64_t random_gen(void)
{
    uint64_t g = 0;
    if (getrandom(&g, sizeof g, 0) != (ssize_t)sizeof g)
        g = (uint64_t)se_mono_ms() * 0x9E3779B97F4A7C15ull;
    return (g >> 2) | 1; /* 1 .. 2^62: INCR never overflows */
}

/* ---- Redis commands ------------------------------------------------------- */

static se_redis *redis_acquire(menu_cache *c)
{
    return se_redis_pool_acquire(c->redis, REDIS_ACQUIRE_MS);
}

/* Creates the generation key if missing; *gen its value. 0 or -1. */
static int gen_init(se_redis *r, const char *gkey, uint64_t *gen)
{
    char val[24];
    uint64_t fresh = random_gen();
    snprintf(val, sizeof val, "%" PRIu64, fresh);
    char ttl[16];
    snprintf(ttl, sizeof ttl, "%d", GEN_TTL_S);
    const char *argv[] = {"SET", gkey, val, "NX", "GET", "EX", ttl};
    redisReply *rep = se_redis_command_argv(r, SE_REDIS_IDEMPOTENT, 7, argv, NULL, NULL);
    if (rep == NULL)
        return -1;
    *gen = rep->type == REDIS_REPLY_STRING ? strtoull(rep->str, NULL, 10) : fresh;
    freeReplyObject(rep);
    return 0;
}

/* MGET generation + values. Fills hit[i]/out[i] and *gen.
 * Returns 0, or -1 on a Redis error. */
static int lookup(se_redis *r, int64_t epoch, int64_t rid, char fkeys[][FKEY_MAX], size_t n,
                  menu_blob *out, int *hit, uint64_t *gen)
{
    char keys[4][KEY_MAX];
    const char *argv[5] = {"MGET", keys[0]};
    gen_key(keys[0], epoch, rid);
    for (size_t i = 0; i < n; i++) {
        value_key(keys[i + 1], epoch, fkeys[i]);
        argv[i + 2] = keys[i + 1];
    }
    redisReply *rep = se_redis_command_argv(r, SE_REDIS_IDEMPOTENT, (int)n + 2, argv, NULL, NULL);
    if (rep == NULL)
        return -1;
    if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n + 1) {
        freeReplyObject(rep);
        return -1;
    }
    int rc = 0;
    if (rep->element[0]->type == REDIS_REPLY_STRING)
        *gen = strtoull(rep->element[0]->str, NULL, 10);
    else
        rc = gen_init(r, keys[0], gen);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        redisReply *v = rep->element[i + 1];
        if (v->type != REDIS_REPLY_STRING || v->len < TAG_LEN ||
            tag_get((const uint8_t *)v->str) != *gen)
            continue;
        out[i].len = v->len - TAG_LEN;
        out[i].data = se_xmalloc(out[i].len);
        memcpy(out[i].data, v->str + TAG_LEN, out[i].len);
        hit[i] = 1;
    }
    freeReplyObject(rep);
    return rc;
}

/* Writes a loaded value back, tagged with gen. */
static void fill(menu_cache *c, int64_t epoch, const char *fkey, menu_part part, uint64_t gen,
                 const menu_blob *b)
{
    se_redis *r = redis_acquire(c);
    if (r == NULL)
        return;
    char key[KEY_MAX], ttl[16];
    value_key(key, epoch, fkey);
    snprintf(ttl, sizeof ttl, "%d", c->cfg.ttl_s[part]);
    uint8_t *v = se_xmalloc(b->len + TAG_LEN);
    tag_put(v, gen);
    memcpy(v + TAG_LEN, b->data, b->len);
    const char *argv[] = {"SET", key, (const char *)v, "EX", ttl};
    size_t lens[] = {3, strlen(key), b->len + TAG_LEN, 2, strlen(ttl)};
    redisReply *rep = se_redis_command_argv(r, SE_REDIS_IDEMPOTENT, 5, argv, lens, NULL);
    se_redis_pool_release(c->redis, r);
    free(v);
    if (rep == NULL) {
        redis_failed(c, "cache fill");
        return;
    }
    freeReplyObject(rep);
    atomic_fetch_add(&c->fills, 1);
}

/* ---- single flight --------------------------------------------------------- */

static void blob_copy(menu_blob *dst, const menu_blob *src)
{
    dst->len = src->len;
    dst->data = se_xmalloc(src->len);
    memcpy(dst->data, src->data, src->len);
}

static void flight_unlink_locked(menu_cache *c, flight *f)
{
    for (flight **p = &c->flights; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    f->linked = 0;
}

static void flight_unref_locked(flight *f)
{
    if (--f->refs > 0)
        return;
    pthread_cond_destroy(&f->cond);
    free(f->blob.data);
    free(f);
}

/* Follower: waits for f's result. mu held on entry and exit. */
static int flight_wait_locked(menu_cache *c, flight *f, menu_blob *out, se_status *st)
{
    f->refs++;
    while (!f->done)
        pthread_cond_wait(&f->cond, &c->mu);
    int rc = f->rc;
    if (rc == 0)
        blob_copy(out, &f->blob);
    else
        *st = f->st;
    flight_unref_locked(f);
    atomic_fetch_add(&c->shared_loads, 1);
    return rc;
}

/* Loads one part, sharing the load with concurrent readers of the same
 * part. *detached is set when a write made the load stale meanwhile. */
static int flight_load(menu_cache *c, const char *fkey, int64_t rid, menu_part part,
                       menu_load_fn load, void *arg, menu_blob *out, se_status *st, int *detached)
{
    pthread_mutex_lock(&c->mu);
    for (flight *f = c->flights; f; f = f->next) {
        if (strcmp(f->key, fkey) == 0) {
            int rc = flight_wait_locked(c, f, out, st);
            pthread_mutex_unlock(&c->mu);
            *detached = 1; /* a follower never fills */
            return rc;
        }
    }
    flight *f = se_xcalloc(1, sizeof *f);
    snprintf(f->key, sizeof f->key, "%.231s", fkey);
    f->restaurant_id = rid;
    f->part = part;
    f->linked = 1;
    f->refs = 1;
    pthread_cond_init(&f->cond, NULL);
    f->next = c->flights;
    c->flights = f;
    pthread_mutex_unlock(&c->mu);

    int rc = load(arg, part, out, st);

    pthread_mutex_lock(&c->mu);
    *detached = !f->linked;
    if (f->linked)
        flight_unlink_locked(c, f);
    f->done = 1;
    f->rc = rc;
    if (rc != 0)
        f->st = *st;
    else if (f->refs > 1)
        blob_copy(&f->blob, out);
    pthread_cond_broadcast(&f->cond);
    flight_unref_locked(f);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int flight_matches(const flight *f, int64_t rid, unsigned what)
{
    if (what == MENU_CHANGED_ALL)
        return 1;
    if (f->part == MENU_PART_LIST)
        return (what & MENU_CHANGED_LISTS) != 0;
    if (f->restaurant_id != rid)
        return 0;
    static const unsigned bit[] = {MENU_CHANGED_RESTAURANT, MENU_CHANGED_MENU,
                                   MENU_CHANGED_STATUS};
    return (what & bit[f->part]) != 0;
}

void menu_cache_forget_flights(menu_cache *c, int64_t restaurant_id, unsigned what)
{
    pthread_mutex_lock(&c->mu);
    flight **p = &c->flights;
    while (*p) {
        flight *f = *p;
        if (flight_matches(f, restaurant_id, what)) {
            *p = f->next;
            f->linked = 0;
        } else {
            p = &f->next;
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* ---- the API ------------------------------------------------------------------ */

static void blobs_free(menu_blob *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(b[i].data);
        b[i].data = NULL;
    }
}

/* Looks the parts up in Redis; 1 if it was consulted (then *gen is valid). */
static int try_lookup(menu_cache *c, int64_t epoch, int64_t rid, char fkeys[][FKEY_MAX], size_t n,
                      menu_blob *out, int *hit, uint64_t *gen)
{
    se_redis *r = redis_acquire(c);
    if (r == NULL)
        return 0;
    int rc = lookup(r, epoch, rid, fkeys, n, out, hit, gen);
    se_redis_pool_release(c->redis, r);
    if (rc == 0)
        return 1;
    blobs_free(out, n);
    memset(hit, 0, n * sizeof *hit);
    redis_failed(c, "cache read");
    return 0;
}

int menu_cache_get(menu_cache *c, int64_t restaurant_id, const char *list_key,
                   const menu_part *parts, size_t n, menu_load_fn load, void *arg,
                   menu_blob *out, se_status *st)
{
    char fkeys[3][FKEY_MAX];
    int hit[3] = {0, 0, 0};
    uint64_t gen = 0;
    int64_t epoch = 0;
    if (n == 0 || n > 3) {
        se_status_set(st, GRPC_STATUS_INTERNAL, "menu_cache_get: %zu parts", n);
        return -1;
    }
    memset(out, 0, n * sizeof *out);
    for (size_t i = 0; i < n; i++)
        flight_key(fkeys[i], parts[i], restaurant_id, list_key);
    int consulted = c->cfg.enabled && redis_usable(c, &epoch) &&
                    try_lookup(c, epoch, restaurant_id, fkeys, n, out, hit, &gen);
    for (size_t i = 0; i < n; i++) {
        if (hit[i]) {
            atomic_fetch_add(&c->hits, 1);
            continue;
        }
        atomic_fetch_add(&c->misses, 1);
        int detached = 0;
        if (flight_load(c, fkeys[i], restaurant_id, parts[i], load, arg, &out[i], st,
                        &detached) != 0) {
            blobs_free(out, n);
            return -1;
        }
        if (consulted && !detached)
            fill(c, epoch, fkeys[i], parts[i], gen, &out[i]);
    }
    return 0;
}

/* One command whose reply is not needed: 0, or -1 on a Redis error. */
static int command_ok(se_redis *r, int argc, const char **argv)
{
    redisReply *rep = se_redis_command_argv(r, 0, argc, argv, NULL, NULL);
    if (rep == NULL)
        return -1;
    freeReplyObject(rep);
    return 0;
}

/* INCR/DEL for one write; 0, or -1 when Redis could not be told. */
static int invalidate_redis(menu_cache *c, int64_t epoch, int64_t rid, unsigned what)
{
    se_redis *r = se_redis_pool_acquire(c->redis, INVALIDATE_ACQUIRE_MS);
    if (r == NULL)
        return -1;
    char gen[KEY_MAX], lgen[KEY_MAX], k[3][KEY_MAX], fk[FKEY_MAX];
    gen_key(gen, epoch, rid);
    gen_key(lgen, epoch, 0);
    for (int p = 0; p < 3; p++) {
        flight_key(fk, (menu_part)p, rid, "");
        value_key(k[p], epoch, fk);
    }
    const char *incr[] = {"INCR", gen};
    const char *incr_lists[] = {"INCR", lgen};
    const char *del[] = {"DEL", k[0], k[1], k[2]};
    int rc = 0;
    if (what & (MENU_CHANGED_RESTAURANT | MENU_CHANGED_MENU | MENU_CHANGED_STATUS))
        rc = command_ok(r, 2, incr);
    if (rc == 0 && (what & MENU_CHANGED_LISTS))
        rc = command_ok(r, 2, incr_lists);
    if (rc == 0)
        rc = command_ok(r, 4, del);
    se_redis_pool_release(c->redis, r);
    return rc;
}

void menu_cache_invalidate(menu_cache *c, int64_t restaurant_id, unsigned what)
{
    menu_cache_forget_flights(c, restaurant_id, what);
    if (c->redis == NULL)
        return;
    int64_t epoch;
    if (redis_usable(c, &epoch) && invalidate_redis(c, epoch, restaurant_id, what) == 0)
        return;
    pthread_mutex_lock(&c->mu);
    int breaker_open = c->down_until_ms != 0;
    pthread_mutex_unlock(&c->mu);
    if (!breaker_open)
        redis_failed(c, "cache invalidation");
    char why[96];
    snprintf(why, sizeof why, "could not invalidate restaurant %" PRId64 " in Redis",
             restaurant_id);
    epoch_bump(c, why);
}
