/* gw_edge_cache.c - the edge cache's store: shards, entries, generations.
 * (The h2o side, serving hits and filling, is gw_edge_serve.c.)
 *
 * DESIGN
 * Shards. A restaurant's entries all live in the shard of its id (so
 * evicting a restaurant locks one shard); list pages (restaurant_id 0) are
 * spread by key hash. Each shard has a mutex, a fixed bucket array of
 * chains, an LRU list (head: most recently used) and a byte budget of
 * max_bytes / shards. A lookup holds the lock for a probe, a list move and a
 * reference count increment. Measured on this 2-core box (wrk -t2 -c64,
 * 1,000 menus of ~8 KB, access log off): 16 shards ~93-103k req/s, one
 * single shard ~86k req/s, h2o's static file handler ~92-97k req/s; the
 * lock is not what limits, so per-loop copies (twice the memory, eviction
 * on every loop) are not used.
 *
 * Entries. One allocation: the struct, the key bytes, the JSON, the gzip
 * body. The cache holds one reference; every response being sent from it
 * holds another (released when the request's pool is cleared), so an entry
 * evicted mid-send stays valid until the send is over. Immutable once
 * inserted.
 *
 * Generations (the guard against storing a response older than an
 * invalidation). `global` counts flushes and serving changes, `lists` list
 * evictions, and rest_gen[] restaurant evictions (hashed into slots, so two
 * restaurants may share a slot: that only rejects a few more fills).
 * An invalidation first increments its generation, then takes the shard
 * lock(s) and removes entries. A fill reads the generations at lookup time
 * (the token, before the RPC starts) and compares them again under the
 * shard lock before inserting. Either the fill sees the increment (and is
 * dropped), or it inserted before the invalidator took the lock (and is
 * removed by it). All generation operations are sequentially consistent.
 */
#include "gw_edge_cache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_edge_cache_internal.h"
#include "gw_entity.h"
#include "se_config.h"
#include "se_log.h"

#define GEN_SLOTS 4096 /* restaurant generation slots (power of two) */
#define DEFAULT_SHARDS 16

typedef struct edge_entry {
    gw_edge_entry pub;          /* first: what callers see */
    atomic_int refs;            /* the cache's + one per response in flight */
    struct edge_entry *hnext;   /* bucket chain */
    struct edge_entry *prev, *next; /* LRU, head = most recent */
    uint64_t hash;
    const void *route;
    int64_t restaurant_id;      /* 0: a list page */
    int64_t expires_ns;         /* CLOCK_MONOTONIC */
    size_t charge;              /* bytes counted against the shard */
    size_t key_len;
    char etag_hdr[24], etag_gz_hdr[24];
    unsigned char data[];       /* key, json, gz */
} edge_entry;

typedef struct edge_shard {
    pthread_mutex_t mu;
    edge_entry **buckets;
    size_t mask;                /* buckets - 1 */
    edge_entry *head, *tail;    /* LRU */
    size_t bytes, entries;
    uint64_t hits, misses, fills, rejected, evictions, expired; /* under mu */
    char pad[64];               /* keep shards' hot fields apart */
} edge_shard;

struct gw_edge_cache {
    gw_edge_cache_config cfg;
    size_t shard_budget;        /* bytes */
    unsigned n_shards;
    edge_shard *shards;
    atomic_int serving;
    atomic_uint_fast64_t global_gen, lists_gen;
    atomic_uint_fast64_t rest_gen[GEN_SLOTS];
    gw_edge_routes routes;      /* for the hooks (gw_edge_serve.c) */
};

/* ---- config -------------------------------------------------------------- */

int gw_edge_cache_config_from_env(gw_edge_cache_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_bytes = (size_t)se_env_int("SE_GATEWAY_EDGE_CACHE_MB", GW_EDGE_CACHE_DEFAULT_MB, 1,
                                        1 << 20) << 20;
    cfg->ttl_ms = (int)se_env_int("SE_GATEWAY_EDGE_CACHE_TTL_MS", GW_EDGE_CACHE_DEFAULT_TTL_MS, 1,
                                  86400000);
    cfg->gzip_min_bytes = GW_ENTITY_DEFAULT_GZIP_MIN;
    cfg->gzip_level = GW_ENTITY_DEFAULT_GZIP_LEVEL;
    return se_env_bool("SE_GATEWAY_EDGE_CACHE", 1);
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

gw_edge_cache *gw_edge_cache_create(const gw_edge_cache_config *cfg)
{
    unsigned n = cfg->shards ? cfg->shards : DEFAULT_SHARDS;
    if ((n & (n - 1)) != 0 || cfg->max_bytes == 0 || cfg->ttl_ms <= 0) {
        se_log_error("edge_cache_bad_config", "shards %u (power of two), max_bytes %zu, "
                     "ttl_ms %d (> 0)", n, cfg->max_bytes, cfg->ttl_ms);
        return NULL;
    }
    gw_edge_cache *c = calloc(1, sizeof *c);
    if (c == NULL || (c->shards = calloc(n, sizeof *c->shards)) == NULL)
        abort();
    c->cfg = *cfg;
    c->n_shards = n;
    c->shard_budget = cfg->max_bytes / n;
    /* about one bucket per KB of budget: menus are ~8 KB, status ~200 B */
    size_t nb = pow2_at_least(c->shard_budget / 1024);
    nb = nb < 64 ? 64 : nb > 65536 ? 65536 : nb;
    for (unsigned i = 0; i < n; i++) {
        edge_shard *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        if ((s->buckets = calloc(nb, sizeof *s->buckets)) == NULL)
            abort();
        s->mask = nb - 1;
    }
    atomic_init(&c->serving, 0);
    gw__edge_routes_init(&c->routes);
    return c;
}

static void entry_unref(edge_entry *e)
{
    if (atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) == 1)
        free(e);
}

void gw_edge_entry_unref(const gw_edge_entry *pub)
{
    entry_unref((edge_entry *)pub);
}

void gw_edge_cache_destroy(gw_edge_cache *c)
{
    if (c == NULL)
        return;
    for (unsigned i = 0; i < c->n_shards; i++) {
        edge_shard *s = &c->shards[i];
        for (edge_entry *e = s->head, *next; e != NULL; e = next) {
            next = e->next;
            entry_unref(e);
        }
        free(s->buckets);
        pthread_mutex_destroy(&s->mu);
    }
    free(c->shards);
    free(c);
}

const gw_edge_routes *gw__edge_cache_routes(const gw_edge_cache *c)
{
    return &c->routes;
}

const gw_edge_cache_config *gw__edge_cache_config(const gw_edge_cache *c)
{
    return &c->cfg;
}

/* ---- keys and shards --------------------------------------------------------- */

static uint64_t mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static uint64_t key_hash(const gw_edge_key *k)
{
    uint64_t h = 14695981039346656037ULL ^ mix64((uint64_t)(uintptr_t)k->route);
    for (size_t i = 0; i < k->len; i++) {
        h ^= k->bytes[i];
        h *= 1099511628211ULL;
    }
    return mix64(h ^ (uint64_t)k->restaurant_id);
}

static edge_shard *shard_of(gw_edge_cache *c, int64_t restaurant_id, uint64_t hash)
{
    uint64_t h = restaurant_id > 0 ? mix64((uint64_t)restaurant_id) : hash;
    return &c->shards[h & (c->n_shards - 1)];
}

static atomic_uint_fast64_t *gen_of(gw_edge_cache *c, int64_t restaurant_id)
{
    if (restaurant_id <= 0)
        return &c->lists_gen;
    return &c->rest_gen[mix64((uint64_t)restaurant_id) & (GEN_SLOTS - 1)];
}

static int key_equal(const edge_entry *e, const gw_edge_key *k, uint64_t hash)
{
    return e->hash == hash && e->route == k->route && e->restaurant_id == k->restaurant_id &&
           e->key_len == k->len && memcmp(e->data, k->bytes, k->len) == 0;
}

/* ---- shard lists (shard lock held) -------------------------------------------- */

static void lru_unlink(edge_shard *s, edge_entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(edge_shard *s, edge_entry *e)
{
    e->prev = NULL;
    e->next = s->head;
    if (s->head != NULL)
        s->head->prev = e;
    s->head = e;
    if (s->tail == NULL)
        s->tail = e;
}

static edge_entry **bucket_slot(edge_shard *s, const edge_entry *e)
{
    edge_entry **pp = &s->buckets[e->hash & s->mask];
    while (*pp != e)
        pp = &(*pp)->hnext;
    return pp;
}

/* Takes e out of the shard and drops the cache's reference. */
static void shard_remove(edge_shard *s, edge_entry *e)
{
    edge_entry **pp = bucket_slot(s, e);
    *pp = e->hnext;
    lru_unlink(s, e);
    s->bytes -= e->charge;
    s->entries--;
    entry_unref(e);
}

static edge_entry *shard_find(edge_shard *s, const gw_edge_key *k, uint64_t hash)
{
    for (edge_entry *e = s->buckets[hash & s->mask]; e != NULL; e = e->hnext) {
        if (key_equal(e, k, hash))
            return e;
    }
    return NULL;
}

/* ---- lookups ------------------------------------------------------------------ */

static void take_token(gw_edge_cache *c, const gw_edge_key *k, gw_edge_token *tok)
{
    tok->valid = atomic_load(&c->serving);
    tok->global = atomic_load(&c->global_gen);
    tok->sub = atomic_load(gen_of(c, k->restaurant_id));
}

const gw_edge_entry *gw_edge_cache_get(gw_edge_cache *c, const gw_edge_key *k, int64_t now_ns,
                                       gw_edge_token *tok)
{
    gw_edge_token local;
    tok = tok != NULL ? tok : &local;
    take_token(c, k, tok);
    if (!tok->valid)
        return NULL;
    uint64_t hash = key_hash(k);
    edge_shard *s = shard_of(c, k->restaurant_id, hash);
    pthread_mutex_lock(&s->mu);
    edge_entry *e = shard_find(s, k, hash);
    if (e != NULL && e->expires_ns <= now_ns) {
        shard_remove(s, e);
        s->expired++;
        e = NULL;
    }
    if (e == NULL) {
        s->misses++;
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    if (s->head != e) {
        lru_unlink(s, e);
        lru_push_front(s, e);
    }
    atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
    s->hits++;
    pthread_mutex_unlock(&s->mu);
    return &e->pub;
}

/* ---- fills ---------------------------------------------------------------------- */

static edge_entry *entry_new(const gw_edge_cache *c, const gw_edge_key *k, uint64_t hash,
                             const char *json, size_t len, const char *gz, size_t gz_len)
{
    size_t size = sizeof(edge_entry) + k->len + len + (gz != NULL ? gz_len : 0);
    edge_entry *e = malloc(size);
    if (e == NULL)
        abort();
    memset(e, 0, sizeof *e);
    atomic_init(&e->refs, 1);
    e->hash = hash;
    e->route = k->route;
    e->restaurant_id = k->restaurant_id;
    e->key_len = k->len;
    e->charge = size;
    memcpy(e->data, k->bytes, k->len);
    char *body = (char *)e->data + k->len;
    memcpy(body, json, len);
    e->pub.json = body;
    e->pub.len = len;
    if (gz != NULL) {
        memcpy(body + len, gz, gz_len);
        e->pub.gz = body + len;
        e->pub.gz_len = gz_len;
    }
    e->pub.etag = gw_entity_hash(json, len);
    e->pub.vary = c->cfg.gzip_level > 0 && len >= c->cfg.gzip_min_bytes;
    snprintf(e->etag_hdr, sizeof e->etag_hdr, "\"%016llx\"", (unsigned long long)e->pub.etag);
    snprintf(e->etag_gz_hdr, sizeof e->etag_gz_hdr, "\"%016llx-gz\"",
             (unsigned long long)e->pub.etag);
    e->pub.etag_hdr = e->etag_hdr;
    e->pub.etag_gz_hdr = e->etag_gz_hdr;
    return e;
}

static int token_current(gw_edge_cache *c, const gw_edge_key *k, const gw_edge_token *tok)
{
    return tok->valid && atomic_load(&c->serving) && atomic_load(&c->global_gen) == tok->global &&
           atomic_load(gen_of(c, k->restaurant_id)) == tok->sub;
}

/* Makes room for `charge` bytes (shard lock held). */
static void shard_make_room(edge_shard *s, size_t budget, size_t charge)
{
    while (s->tail != NULL && s->bytes + charge > budget) {
        shard_remove(s, s->tail);
        s->evictions++;
    }
}

int gw_edge_cache_put(gw_edge_cache *c, const gw_edge_key *k, const gw_edge_token *tok,
                      const char *json, size_t len, const char *gz, size_t gz_len,
                      int64_t now_ns)
{
    uint64_t hash = key_hash(k);
    edge_shard *s = shard_of(c, k->restaurant_id, hash);
    if (!tok->valid || sizeof(edge_entry) + k->len + len + gz_len > c->shard_budget) {
        pthread_mutex_lock(&s->mu);
        s->rejected++;
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    edge_entry *e = entry_new(c, k, hash, json, len, gz, gz_len);
    e->expires_ns = now_ns + (int64_t)c->cfg.ttl_ms * 1000000;
    pthread_mutex_lock(&s->mu);
    if (!token_current(c, k, tok)) {
        s->rejected++;
        pthread_mutex_unlock(&s->mu);
        free(e);
        return -1;
    }
    edge_entry *old = shard_find(s, k, hash);
    if (old != NULL)
        shard_remove(s, old);
    shard_make_room(s, c->shard_budget, e->charge);
    e->hnext = s->buckets[hash & s->mask];
    s->buckets[hash & s->mask] = e;
    lru_push_front(s, e);
    s->bytes += e->charge;
    s->entries++;
    s->fills++;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ---- invalidation ------------------------------------------------------------------ */

/* Removes the entries of shard s for which pred(e, arg) holds. */
static void shard_evict_if(edge_shard *s, int (*pred)(const edge_entry *e, int64_t arg),
                           int64_t arg)
{
    pthread_mutex_lock(&s->mu);
    for (edge_entry *e = s->head, *next; e != NULL; e = next) {
        next = e->next;
        if (pred(e, arg))
            shard_remove(s, e);
    }
    pthread_mutex_unlock(&s->mu);
}

static int is_any(const edge_entry *e, int64_t unused)
{
    (void)e;
    (void)unused;
    return 1;
}

static int is_restaurant(const edge_entry *e, int64_t id)
{
    return e->restaurant_id == id;
}

static int is_list(const edge_entry *e, int64_t unused)
{
    (void)unused;
    return e->restaurant_id == 0;
}

void gw_edge_cache_set_serving(gw_edge_cache *c, int serving)
{
    atomic_store(&c->serving, serving ? 1 : 0);
    atomic_fetch_add(&c->global_gen, 1);
}

int gw_edge_cache_serving(const gw_edge_cache *c)
{
    return atomic_load(&((gw_edge_cache *)c)->serving);
}

void gw_edge_cache_flush(gw_edge_cache *c)
{
    atomic_fetch_add(&c->global_gen, 1);
    for (unsigned i = 0; i < c->n_shards; i++)
        shard_evict_if(&c->shards[i], is_any, 0);
}

void gw_edge_cache_evict_restaurant(gw_edge_cache *c, int64_t restaurant_id)
{
    if (restaurant_id <= 0)
        return;
    atomic_fetch_add(gen_of(c, restaurant_id), 1);
    shard_evict_if(shard_of(c, restaurant_id, 0), is_restaurant, restaurant_id);
}

void gw_edge_cache_evict_lists(gw_edge_cache *c)
{
    atomic_fetch_add(&c->lists_gen, 1);
    for (unsigned i = 0; i < c->n_shards; i++)
        shard_evict_if(&c->shards[i], is_list, 0);
}

void gw_edge_cache_stats_get(gw_edge_cache *c, gw_edge_cache_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < c->n_shards; i++) {
        edge_shard *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        out->hits += s->hits;
        out->misses += s->misses;
        out->fills += s->fills;
        out->fills_rejected += s->rejected;
        out->evictions += s->evictions;
        out->expired += s->expired;
        out->entries += s->entries;
        out->bytes += s->bytes;
        pthread_mutex_unlock(&s->mu);
    }
}
