/* test_gw_edge_cache.c - the gateway's edge cache (gw_edge_cache.h) and the
 * change stream that keeps it fresh (gw_edge_watch.h).
 *
 * The store is driven directly (keys, tokens, explicit clock: no sockets,
 * no sleeping); the watcher against a fake MenuService whose
 * WatchMenuChanges stream the test scripts (resets, events, ends).
 * Built and registered by gateway/CMakeLists.txt.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../se_test.h"
#include "gw_edge_cache.h"
#include "gw_edge_watch.h"
#include "gw_entity.h"
#include "se_rpc.h"
#include "swifteats/v1/menu.se.h"

#define MS 1000000LL /* ns */

/* Stand-ins for routes: any stable address works as a key's route. */
static const char ROUTE_MENU = 'm', ROUTE_STATUS = 's', ROUTE_LIST = 'l';

static gw_edge_cache *cache_new(size_t max_bytes, int ttl_ms, unsigned shards)
{
    gw_edge_cache_config cfg = {.max_bytes = max_bytes, .ttl_ms = ttl_ms, .shards = shards,
                                .gzip_min_bytes = 1024, .gzip_level = 1};
    gw_edge_cache *c = gw_edge_cache_create(&cfg);
    ck_assert_ptr_nonnull(c);
    return c;
}

/* A key for (route, restaurant, page); bytes stand for the packed request. */
typedef struct key_buf {
    unsigned char bytes[16];
    gw_edge_key k;
} key_buf;

static const gw_edge_key *key_of(key_buf *b, const void *route, int64_t id, int page)
{
    int n = snprintf((char *)b->bytes, sizeof b->bytes, "%lld/%d", (long long)id, page);
    b->k = (gw_edge_key){.route = route, .restaurant_id = id, .len = (size_t)n,
                         .bytes = b->bytes};
    return &b->k;
}

/* Fills key with body; asserts the miss first. Returns put's result. */
static int fill(gw_edge_cache *c, const gw_edge_key *k, const char *body, int64_t now)
{
    gw_edge_token tok;
    ck_assert_ptr_null(gw_edge_cache_get(c, k, now, &tok));
    return gw_edge_cache_put(c, k, &tok, body, strlen(body), NULL, 0, now);
}

/* 1 when k hits with exactly `body`. */
static int hits_with(gw_edge_cache *c, const gw_edge_key *k, const char *body, int64_t now)
{
    const gw_edge_entry *e = gw_edge_cache_get(c, k, now, NULL);
    if (e == NULL)
        return 0;
    int same = e->len == strlen(body) && memcmp(e->json, body, e->len) == 0;
    gw_edge_entry_unref(e);
    return same;
}

/* ---- the store ---------------------------------------------------------------- */

START_TEST(miss_then_fill_then_hit)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    gw_edge_cache_set_serving(c, 1);
    key_buf a, b, other_route;
    ck_assert_int_eq(fill(c, key_of(&a, &ROUTE_MENU, 7, 0), "{\"menu\":7}", 0), 0);
    const gw_edge_entry *e = gw_edge_cache_get(c, &a.k, 1, NULL);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq((int)e->len, 10);
    ck_assert_int_eq(memcmp(e->json, "{\"menu\":7}", 10), 0);
    ck_assert_ptr_null(e->gz);
    ck_assert(e->etag == gw_entity_hash("{\"menu\":7}", 10));
    char want[32];
    snprintf(want, sizeof want, "\"%016llx\"", (unsigned long long)e->etag);
    ck_assert_str_eq(e->etag_hdr, want);
    snprintf(want, sizeof want, "\"%016llx-gz\"", (unsigned long long)e->etag);
    ck_assert_str_eq(e->etag_gz_hdr, want);
    ck_assert_int_eq(e->vary, 0); /* 10 bytes: under gzip_min */
    gw_edge_entry_unref(e);
    /* same restaurant, other bytes or other route: misses */
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&b, &ROUTE_MENU, 7, 1), 1, NULL));
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&other_route, &ROUTE_STATUS, 7, 0), 1, NULL));
    gw_edge_cache_stats st;
    gw_edge_cache_stats_get(c, &st);
    ck_assert_int_eq((int)st.hits, 1);
    ck_assert_int_eq((int)st.misses, 3);
    ck_assert_int_eq((int)st.fills, 1);
    ck_assert_int_eq((int)st.entries, 1);
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(gzip_form_is_kept_and_refill_replaces)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    gw_edge_cache_set_serving(c, 1);
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    key_buf a;
    gw_edge_token tok;
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&a, &ROUTE_MENU, 1, 0), 0, &tok));
    ck_assert_int_eq(gw_edge_cache_put(c, &a.k, &tok, big, strlen(big), "GZ", 2, 0), 0);
    const gw_edge_entry *e = gw_edge_cache_get(c, &a.k, 0, NULL);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq((int)e->gz_len, 2);
    ck_assert_int_eq(memcmp(e->gz, "GZ", 2), 0);
    ck_assert_int_eq(e->vary, 1);
    gw_edge_entry_unref(e);
    /* a second fill of the same key replaces the first */
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&a, &ROUTE_MENU, 2, 0), 0, &tok));
    ck_assert_int_eq(gw_edge_cache_put(c, &a.k, &tok, "v1", 2, NULL, 0, 0), 0);
    ck_assert_int_eq(gw_edge_cache_put(c, &a.k, &tok, "v2", 2, NULL, 0, 0), 0);
    ck_assert(hits_with(c, &a.k, "v2", 0));
    gw_edge_cache_stats st;
    gw_edge_cache_stats_get(c, &st);
    ck_assert_int_eq((int)st.entries, 2);
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(size_bound_evicts_least_recently_used)
{
    /* one shard of 16 KB; entries of ~2.1 KB: about 7 fit */
    gw_edge_cache *c = cache_new(16 * 1024, 30000, 1);
    gw_edge_cache_set_serving(c, 1);
    char body[2048];
    memset(body, 'b', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    key_buf k[20];
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(fill(c, key_of(&k[i], &ROUTE_MENU, i + 1, 0), body, 0), 0);
    ck_assert(hits_with(c, &k[0].k, body, 0)); /* 1 is now the most recent */
    for (int i = 5; i < 20; i++) {
        ck_assert_int_eq(fill(c, key_of(&k[i], &ROUTE_MENU, i + 1, 0), body, 0), 0);
        gw_edge_cache_stats st;
        gw_edge_cache_stats_get(c, &st);
        ck_assert_uint_le(st.bytes, 16 * 1024);
        if (i == 7) { /* 2 went first (1 was touched), then 3, 4 */
            ck_assert(hits_with(c, &k[0].k, body, 0));
            ck_assert(!hits_with(c, &k[1].k, body, 0));
        }
    }
    gw_edge_cache_stats st;
    gw_edge_cache_stats_get(c, &st);
    ck_assert_uint_ge(st.evictions, 12);
    ck_assert_uint_le(st.entries, 7);
    ck_assert(hits_with(c, &k[19].k, body, 0)); /* the newest stays */
    /* an entry bigger than the budget is refused, and evicts nothing */
    static char huge[20000];
    memset(huge, 'h', sizeof huge - 1);
    uint64_t before = st.entries;
    ck_assert_int_eq(fill(c, key_of(&k[0], &ROUTE_LIST, 0, 1), huge, 0), -1);
    gw_edge_cache_stats_get(c, &st);
    ck_assert_uint_eq(st.entries, before);
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(entries_expire_after_ttl)
{
    gw_edge_cache *c = cache_new(1 << 20, 100, 0);
    gw_edge_cache_set_serving(c, 1);
    key_buf a;
    ck_assert_int_eq(fill(c, key_of(&a, &ROUTE_STATUS, 3, 0), "s", 1000 * MS), 0);
    ck_assert(hits_with(c, &a.k, "s", 1099 * MS));
    ck_assert(!hits_with(c, &a.k, "s", 1100 * MS));
    gw_edge_cache_stats st;
    gw_edge_cache_stats_get(c, &st);
    ck_assert_int_eq((int)st.expired, 1);
    ck_assert_int_eq((int)st.entries, 0);
    /* and can be filled again */
    ck_assert_int_eq(fill(c, &a.k, "s2", 1100 * MS), 0);
    ck_assert(hits_with(c, &a.k, "s2", 1101 * MS));
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(fill_after_invalidation_is_rejected)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    gw_edge_cache_set_serving(c, 1);
    key_buf a, b, l;
    gw_edge_token ta, tb, tl;
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&a, &ROUTE_MENU, 10, 0), 0, &ta));
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&b, &ROUTE_MENU, 11, 0), 0, &tb));
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&l, &ROUTE_LIST, 0, 1), 0, &tl));
    ck_assert(ta.valid && tb.valid && tl.valid);
    /* restaurant 10 changes while its read is in flight */
    gw_edge_cache_evict_restaurant(c, 10);
    ck_assert_int_eq(gw_edge_cache_put(c, &a.k, &ta, "old", 3, NULL, 0, 0), -1);
    ck_assert_int_eq(gw_edge_cache_put(c, &b.k, &tb, "b", 1, NULL, 0, 0), 0);
    ck_assert_int_eq(gw_edge_cache_put(c, &l.k, &tl, "l", 1, NULL, 0, 0), 0);
    ck_assert(!hits_with(c, &a.k, "old", 0));
    /* a read that starts after the change is stored */
    ck_assert_int_eq(fill(c, &a.k, "new", 0), 0);
    ck_assert(hits_with(c, &a.k, "new", 0));
    /* lists: only list fills are concerned */
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&l, &ROUTE_LIST, 0, 2), 0, &tl));
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&b, &ROUTE_STATUS, 11, 0), 0, &tb));
    gw_edge_cache_evict_lists(c);
    ck_assert_int_eq(gw_edge_cache_put(c, &l.k, &tl, "l2", 2, NULL, 0, 0), -1);
    ck_assert_int_eq(gw_edge_cache_put(c, &b.k, &tb, "s11", 3, NULL, 0, 0), 0);
    /* a flush concerns every fill in flight */
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&b, &ROUTE_STATUS, 12, 0), 0, &tb));
    gw_edge_cache_flush(c);
    ck_assert_int_eq(gw_edge_cache_put(c, &b.k, &tb, "s12", 3, NULL, 0, 0), -1);
    gw_edge_cache_stats st;
    gw_edge_cache_stats_get(c, &st);
    ck_assert_int_eq((int)st.fills_rejected, 3);
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(evictions_hit_the_restaurant_and_the_lists)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 4);
    gw_edge_cache_set_serving(c, 1);
    key_buf m5, s5, m6, l1, l2;
    ck_assert_int_eq(fill(c, key_of(&m5, &ROUTE_MENU, 5, 0), "m5", 0), 0);
    ck_assert_int_eq(fill(c, key_of(&s5, &ROUTE_STATUS, 5, 0), "s5", 0), 0);
    ck_assert_int_eq(fill(c, key_of(&m6, &ROUTE_MENU, 6, 0), "m6", 0), 0);
    ck_assert_int_eq(fill(c, key_of(&l1, &ROUTE_LIST, 0, 1), "l1", 0), 0);
    ck_assert_int_eq(fill(c, key_of(&l2, &ROUTE_LIST, 0, 2), "l2", 0), 0);
    gw_edge_cache_evict_restaurant(c, 5);
    ck_assert(!hits_with(c, &m5.k, "m5", 0));
    ck_assert(!hits_with(c, &s5.k, "s5", 0));
    ck_assert(hits_with(c, &m6.k, "m6", 0));
    ck_assert(hits_with(c, &l1.k, "l1", 0));
    gw_edge_cache_evict_lists(c);
    ck_assert(!hits_with(c, &l1.k, "l1", 0));
    ck_assert(!hits_with(c, &l2.k, "l2", 0));
    ck_assert(hits_with(c, &m6.k, "m6", 0));
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(flush_drops_everything)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    gw_edge_cache_set_serving(c, 1);
    key_buf k[50];
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(fill(c, key_of(&k[i], i % 2 ? &ROUTE_MENU : &ROUTE_LIST,
                                        i % 2 ? i : 0, i), "x", 0), 0);
    gw_edge_cache_flush(c);
    gw_edge_cache_stats st;
    gw_edge_cache_stats_get(c, &st);
    ck_assert_int_eq((int)st.entries, 0);
    ck_assert_int_eq((int)st.bytes, 0);
    for (int i = 0; i < 50; i++)
        ck_assert(!hits_with(c, &k[i].k, "x", 0));
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(not_serving_answers_and_stores_nothing)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    key_buf a;
    gw_edge_token tok;
    /* a new cache waits for the stream's first reset */
    ck_assert_int_eq(gw_edge_cache_serving(c), 0);
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&a, &ROUTE_MENU, 1, 0), 0, &tok));
    ck_assert_int_eq(tok.valid, 0);
    ck_assert_int_eq(gw_edge_cache_put(c, &a.k, &tok, "x", 1, NULL, 0, 0), -1);
    gw_edge_cache_set_serving(c, 1);
    ck_assert_int_eq(fill(c, &a.k, "x", 0), 0);
    /* a read in flight when serving stops is not stored either */
    key_buf b;
    ck_assert_ptr_null(gw_edge_cache_get(c, key_of(&b, &ROUTE_MENU, 2, 0), 0, &tok));
    ck_assert(tok.valid);
    gw_edge_cache_set_serving(c, 0);
    ck_assert(!hits_with(c, &a.k, "x", 0)); /* stored but not served */
    ck_assert_int_eq(gw_edge_cache_put(c, &b.k, &tok, "y", 1, NULL, 0, 0), -1);
    gw_edge_cache_set_serving(c, 1);
    ck_assert_int_eq(gw_edge_cache_put(c, &b.k, &tok, "y", 1, NULL, 0, 0), -1);
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(entry_outlives_eviction_while_referenced)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    gw_edge_cache_set_serving(c, 1);
    key_buf a;
    ck_assert_int_eq(fill(c, key_of(&a, &ROUTE_MENU, 9, 0), "still here", 0), 0);
    const gw_edge_entry *e = gw_edge_cache_get(c, &a.k, 0, NULL);
    ck_assert_ptr_nonnull(e);
    gw_edge_cache_evict_restaurant(c, 9); /* a response is still being sent */
    ck_assert_int_eq(memcmp(e->json, "still here", 10), 0);
    gw_edge_entry_unref(e); /* ASan/valgrind: freed now, exactly once */
    gw_edge_cache_destroy(c);
}
END_TEST

/* ---- two threads looking up while a third invalidates and refills --------- */

#define N_IDS 64

typedef struct race {
    gw_edge_cache *c;
    atomic_int stop;
    atomic_long hits, wrong;
} race;

static void body_of(char *buf, size_t cap, int64_t id)
{
    snprintf(buf, cap, "{\"restaurant\":%lld,\"pad\":\"%0200d\"}", (long long)id, 0);
}

static void *reader(void *arg)
{
    race *r = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed;
    char want[300];
    while (!atomic_load(&r->stop)) {
        int64_t id = 1 + rand_r(&seed) % N_IDS;
        key_buf k;
        const gw_edge_entry *e = gw_edge_cache_get(r->c, key_of(&k, &ROUTE_MENU, id, 0), 0, NULL);
        if (e == NULL)
            continue;
        body_of(want, sizeof want, id);
        if (e->len != strlen(want) || memcmp(e->json, want, e->len) != 0)
            atomic_fetch_add(&r->wrong, 1);
        gw_edge_entry_unref(e);
        atomic_fetch_add(&r->hits, 1); /* live: the writer waits for some */
    }
    return NULL;
}

START_TEST(concurrent_lookups_from_two_threads)
{
    race r = {.c = cache_new(64 * 1024, 30000, 4)}; /* small: evictions too */
    gw_edge_cache_set_serving(r.c, 1);
    char body[300];
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, reader, &r), 0);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    long rounds = 0;
    int64_t elapsed_ms = 0;
    do {
        for (int64_t id = 1; id <= N_IDS; id++) {
            key_buf k;
            gw_edge_token tok;
            const gw_edge_entry *e =
                gw_edge_cache_get(r.c, key_of(&k, &ROUTE_MENU, id, 0), 0, &tok);
            if (e != NULL) {
                gw_edge_entry_unref(e);
                if (id % 3 == 0)
                    gw_edge_cache_evict_restaurant(r.c, id);
                continue;
            }
            body_of(body, sizeof body, id);
            gw_edge_cache_put(r.c, &k.k, &tok, body, strlen(body), NULL, 0, 0);
        }
        if (++rounds % 50 == 0)
            gw_edge_cache_flush(r.c);
        clock_gettime(CLOCK_MONOTONIC, &now);
        elapsed_ms = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        /* at least 300 ms of racing, and until the readers did find entries
         * (under valgrind they may not have run yet), within a scaled bound */
    } while ((elapsed_ms < 300 || atomic_load(&r.hits) == 0) && elapsed_ms < SE_T(10000));
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq((int)atomic_load(&r.wrong), 0);
    ck_assert_int_gt((int)atomic_load(&r.hits), 0);
    gw_edge_cache_stats st;
    gw_edge_cache_stats_get(r.c, &st);
    ck_assert_uint_le(st.bytes, 64 * 1024);
    gw_edge_cache_destroy(r.c);
}
END_TEST

/* ---- the watcher against a scripted WatchMenuChanges -------------------------- */

#define MAX_STREAMS 32

typedef struct fake_stream {
    se_call *call;
    int finished; /* under watch_mu */
} fake_stream;

static pthread_mutex_t watch_mu = PTHREAD_MUTEX_INITIALIZER;
static fake_stream streams[MAX_STREAMS];
static int n_streams;             /* under watch_mu */
static int first_complete = 1;    /* what the first reset says; under watch_mu */
static se_server *fake_server;
static int fake_port;

static void send_event(fake_stream *s, int reset, int complete, int64_t id, int lists)
{
    Swifteats__V1__MenuChangeEvent ev = SWIFTEATS__V1__MENU_CHANGE_EVENT__INIT;
    ev.reset = reset;
    ev.complete = complete;
    ev.restaurant_id = id;
    ev.menu_changed = id > 0;
    ev.lists_changed = lists;
    ev.origin = "test";
    (void)se_call_send(s->call, &ev.base);
}

static void stream_cancelled(void *arg)
{
    fake_stream *s = arg;
    pthread_mutex_lock(&watch_mu);
    int finish = !s->finished;
    s->finished = 1;
    pthread_mutex_unlock(&watch_mu);
    if (finish)
        se_call_finish(s->call, GRPC_STATUS_CANCELLED, "watcher cancelled");
}

static void watch_handler(se_call *call, const Swifteats__V1__WatchMenuChangesRequest *req,
                          void *ctx)
{
    (void)req;
    (void)ctx;
    pthread_mutex_lock(&watch_mu);
    if (n_streams == MAX_STREAMS) {
        pthread_mutex_unlock(&watch_mu);
        se_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "too many streams");
        return;
    }
    fake_stream *s = &streams[n_streams++];
    s->call = call;
    s->finished = 0;
    send_event(s, 1, first_complete, 0, 0);
    pthread_mutex_unlock(&watch_mu);
    se_call_on_cancel(call, stream_cancelled, s);
}

static const swifteats_v1_menu_service_handlers watch_handlers = {
    .watch_menu_changes = watch_handler,
};

static void fake_start(int port)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    se_server_config cfg = {.name = "fake-menu", .listen_addr = addr, .grace_ms = 100};
    fake_server = se_server_create(&cfg);
    ck_assert_ptr_nonnull(fake_server);
    ck_assert_int_eq(swifteats_v1_menu_service_register(fake_server, &watch_handlers, NULL), 0);
    ck_assert_int_eq(se_server_start(fake_server), 0);
    fake_port = se_server_port(fake_server);
}

/* Ends the newest stream from the server side (UNAVAILABLE). */
static void fake_end_stream(void)
{
    pthread_mutex_lock(&watch_mu);
    fake_stream *s = &streams[n_streams - 1];
    int finish = !s->finished;
    s->finished = 1;
    pthread_mutex_unlock(&watch_mu);
    if (finish)
        se_call_finish(s->call, GRPC_STATUS_UNAVAILABLE, "menu service stopping");
}

static void fake_stop(void)
{
    for (int i = 0; i < n_streams; i++) {
        pthread_mutex_lock(&watch_mu);
        int finish = !streams[i].finished;
        streams[i].finished = 1;
        pthread_mutex_unlock(&watch_mu);
        if (finish)
            se_call_finish(streams[i].call, GRPC_STATUS_UNAVAILABLE, "stopping");
    }
    se_server_shutdown(fake_server);
    se_server_destroy(fake_server);
    fake_server = NULL;
}

static void fake_send(int reset, int complete, int64_t id, int lists)
{
    pthread_mutex_lock(&watch_mu);
    fake_stream *s = &streams[n_streams - 1];
    if (!s->finished)
        send_event(s, reset, complete, id, lists);
    pthread_mutex_unlock(&watch_mu);
}

static int streams_opened(void)
{
    pthread_mutex_lock(&watch_mu);
    int n = n_streams;
    pthread_mutex_unlock(&watch_mu);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls pred for up to 10 s (generous for valgrind). */
#define WAIT_FOR(pred)                                                                 \
    do {                                                                               \
        int waited_ = 0;                                                               \
        while (!(pred) && waited_ < 10000) {                                           \
            sleep_ms(5);                                                               \
            waited_ += 5;                                                              \
        }                                                                              \
        ck_assert_msg((pred), "timed out waiting for " #pred);                         \
    } while (0)

static void watch_setup(void)
{
    n_streams = 0; /* CK_FORK=no runs every test in one process */
    first_complete = 1;
    se_rpc_init();
    fake_start(0);
}

static void watch_teardown(void)
{
    if (fake_server != NULL)
        fake_stop();
    se_rpc_shutdown();
}

static int cached(gw_edge_cache *c, int64_t id)
{
    key_buf k;
    return hits_with(c, key_of(&k, &ROUTE_MENU, id, 0), "m", 0);
}

static int put_ok(gw_edge_cache *c, int64_t id)
{
    key_buf k;
    gw_edge_token tok;
    if (gw_edge_cache_get(c, key_of(&k, &ROUTE_MENU, id, 0), 0, &tok) != NULL)
        return 0;
    return gw_edge_cache_put(c, &k.k, &tok, "m", 1, NULL, 0, 0) == 0;
}

START_TEST(stream_drives_serving_events_and_resets)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", fake_port);
    gw_edge_watch_config wcfg = {.backoff_min_ms = 20, .backoff_max_ms = 100};
    gw_edge_watch *w = gw_edge_watch_start(c, se_channel_get(target), &wcfg);
    ck_assert_ptr_nonnull(w);
    WAIT_FOR(gw_edge_cache_serving(c)); /* the first reset, complete */
    ck_assert(put_ok(c, 1) && put_ok(c, 2));
    ck_assert(cached(c, 1) && cached(c, 2));
    /* a change event evicts its restaurant only */
    fake_send(0, 0, 1, 0);
    WAIT_FOR(!cached(c, 1));
    ck_assert(cached(c, 2));
    /* a reset with complete = false flushes and stops serving */
    fake_send(1, 0, 0, 0);
    WAIT_FOR(!gw_edge_cache_serving(c));
    ck_assert(!put_ok(c, 3));
    gw_edge_cache_stats st;
    gw_edge_cache_stats_get(c, &st);
    ck_assert_int_eq((int)st.entries, 0);
    /* complete again: serving */
    fake_send(1, 1, 0, 0);
    WAIT_FOR(gw_edge_cache_serving(c));
    ck_assert(put_ok(c, 4));
    /* the stream ends: not serving until a new stream's reset */
    fake_end_stream();
    WAIT_FOR(!gw_edge_cache_serving(c));
    ck_assert(!cached(c, 4));
    WAIT_FOR(streams_opened() == 2 && gw_edge_cache_serving(c));
    gw_edge_watch_stats ws;
    gw_edge_watch_stats_get(w, &ws);
    ck_assert_int_eq((int)ws.streams, 2);
    ck_assert_int_eq((int)ws.events, 1);
    ck_assert_int_eq((int)ws.resets, 4);
    gw_edge_watch_stop(w);
    ck_assert_int_eq(gw_edge_cache_serving(c), 0);
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(service_down_then_back_on_the_same_port)
{
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    char target[64];
    int port = fake_port;
    snprintf(target, sizeof target, "127.0.0.1:%d", port);
    gw_edge_watch_config wcfg = {.backoff_min_ms = 20, .backoff_max_ms = 100};
    gw_edge_watch *w = gw_edge_watch_start(c, se_channel_get(target), &wcfg);
    WAIT_FOR(gw_edge_cache_serving(c));
    ck_assert(put_ok(c, 5));
    fake_stop();
    WAIT_FOR(!gw_edge_cache_serving(c));
    ck_assert(!cached(c, 5));
    sleep_ms(300); /* a few failed re-opens with backoff */
    ck_assert_int_eq(gw_edge_cache_serving(c), 0);
    fake_start(port);
    WAIT_FOR(gw_edge_cache_serving(c));
    ck_assert(put_ok(c, 5));
    gw_edge_watch_stop(w);
    gw_edge_cache_destroy(c);
}
END_TEST

START_TEST(incomplete_first_reset_serves_nothing)
{
    pthread_mutex_lock(&watch_mu);
    first_complete = 0;
    pthread_mutex_unlock(&watch_mu);
    gw_edge_cache *c = cache_new(1 << 20, 30000, 0);
    char target[64];
    snprintf(target, sizeof target, "127.0.0.1:%d", fake_port);
    gw_edge_watch *w = gw_edge_watch_start(c, se_channel_get(target), NULL);
    WAIT_FOR(streams_opened() == 1);
    gw_edge_watch_stats ws;
    do {
        sleep_ms(5);
        gw_edge_watch_stats_get(w, &ws);
    } while (ws.resets == 0);
    ck_assert_int_eq(gw_edge_cache_serving(c), 0);
    ck_assert(!put_ok(c, 1));
    fake_send(1, 1, 0, 0);
    WAIT_FOR(gw_edge_cache_serving(c));
    gw_edge_watch_stop(w);
    gw_edge_cache_destroy(c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gw_edge_cache");
    TCase *tc = tcase_create("store");
    tcase_add_test(tc, miss_then_fill_then_hit);
    tcase_add_test(tc, gzip_form_is_kept_and_refill_replaces);
    tcase_add_test(tc, size_bound_evicts_least_recently_used);
    tcase_add_test(tc, entries_expire_after_ttl);
    tcase_add_test(tc, fill_after_invalidation_is_rejected);
    tcase_add_test(tc, evictions_hit_the_restaurant_and_the_lists);
    tcase_add_test(tc, flush_drops_everything);
    tcase_add_test(tc, not_serving_answers_and_stores_nothing);
    tcase_add_test(tc, entry_outlives_eviction_while_referenced);
    tcase_add_test(tc, concurrent_lookups_from_two_threads);
    suite_add_tcase(s, tc);
    TCase *wt = tcase_create("watch");
    tcase_add_checked_fixture(wt, watch_setup, watch_teardown);
    tcase_set_timeout(wt, 60);
    tcase_add_test(wt, stream_drives_serving_events_and_resets);
    tcase_add_test(wt, service_down_then_back_on_the_same_port);
    tcase_add_test(wt, incomplete_first_reset_serves_nothing);
    suite_add_tcase(s, wt);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
