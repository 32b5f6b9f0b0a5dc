/* paygw_ledger.c - ledger and idempotency store (see paygw_ledger.h). */
#include "paygw_ledger.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_time.h"
#include "se_log.h"

#define MIN_BUCKETS 1024

/* One idempotency key; a ledger entry once `done`. The key and customer id
 * live in `strs` ("key\0customer\0"): one allocation per charge. */
typedef struct slot {
    struct slot *next; /* bucket chain */
    uint64_t hash;
    int64_t order_id;
    int64_t amount;                     /* cents */
    char currency[4];
    int done;                           /* 0: processing; 1: in the ledger */
    uint64_t charge_no;                 /* done: the id's number */
    const paygw_decline_reason *reason; /* done: NULL approved, else declined */
    int64_t created_us;                 /* done: Unix microseconds */
    const char *customer_id;            /* into strs */
    char key[];                         /* then customer_id */
} slot;

struct paygw_ledger {
    pthread_mutex_t mu;       /* guards everything below */
    slot **buckets;
    size_t n_buckets;         /* power of two */
    size_t n_slots;
    slot **entries;           /* done slots, processing order */
    size_t n_entries, cap_entries;
    size_t n_processing;
    uint64_t next_charge_no;  /* never restarts */
    uint64_t first_charge_no; /* charge number of entries[0] */
    uint64_t epoch;           /* bumped by clear */
};

void paygw_packed_free(paygw_packed *p)
{
    if (p == NULL)
        return;
    free(p->data);
    p->data = NULL;
    p->len = 0;
}

static void pack(const ProtobufCMessage *m, paygw_packed *out)
{
    out->len = protobuf_c_message_get_packed_size(m);
    out->data = se_xmalloc(out->len > 0 ? out->len : 1);
    protobuf_c_message_pack(m, out->data);
}

/* ---- hash table --------------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

static slot **find_link(paygw_ledger *l, const char *key, uint64_t h)
{
    slot **link = &l->buckets[h & (l->n_buckets - 1)];
    while (*link != NULL && ((*link)->hash != h || strcmp((*link)->key, key) != 0))
        link = &(*link)->next;
    return link;
}

static void grow(paygw_ledger *l)
{
    size_t n = l->n_buckets * 2;
    slot **b = se_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < l->n_buckets; i++) {
        for (slot *s = l->buckets[i], *next; s != NULL; s = next) {
            next = s->next;
            s->next = b[s->hash & (n - 1)];
            b[s->hash & (n - 1)] = s;
        }
    }
    free(l->buckets);
    l->buckets = b;
    l->n_buckets = n;
}

static slot *slot_new(const paygw_charge_params *p, uint64_t h)
{
    size_t kl = strlen(p->idempotency_key) + 1, cl = strlen(p->customer_id) + 1;
    slot *s = se_xcalloc(1, sizeof *s + kl + cl);
    s->hash = h;
    s->order_id = p->order_id;
    s->amount = p->amount;
    snprintf(s->currency, sizeof s->currency, "%s", p->currency);
    memcpy(s->key, p->idempotency_key, kl);
    memcpy(s->key + kl, p->customer_id, cl);
    s->customer_id = s->key + kl;
    return s;
}

/* ---- records -------------------------------------------------------------------- */

/* A ChargeRecord pointing into s (valid while the lock is held). */
static void to_record(const slot *s, int replayed, Swifteats__V1__ChargeRecord *r,
                      Google__Protobuf__Timestamp *ts, char *id, size_t id_len)
{
    swifteats__v1__charge_record__init(r);
    google__protobuf__timestamp__init(ts);
    snprintf(id, id_len, "ch_%06" PRIu64, s->charge_no);
    r->charge_id = id;
    r->idempotency_key = (char *)s->key;
    r->order_id = s->order_id;
    r->amount = s->amount;
    r->currency = (char *)s->currency;
    r->customer_id = (char *)s->customer_id;
    r->replayed = replayed;
    ts->seconds = s->created_us / 1000000;
    ts->nanos = (int32_t)(s->created_us % 1000000) * 1000;
    r->created_at = ts;
    if (s->reason == NULL) {
        r->status = SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED;
        return;
    }
    r->status = SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED;
    r->_decline_code_case = SWIFTEATS__V1__CHARGE_RECORD___DECLINE_CODE_DECLINE_CODE;
    r->decline_code = (char *)s->reason->code;
    r->_decline_message_case = SWIFTEATS__V1__CHARGE_RECORD___DECLINE_MESSAGE_DECLINE_MESSAGE;
    r->decline_message = (char *)s->reason->message;
}

static void pack_record(const slot *s, int replayed, paygw_packed *out)
{
    Swifteats__V1__ChargeRecord r;
    Google__Protobuf__Timestamp ts;
    char id[32];
    to_record(s, replayed, &r, &ts, id, sizeof id);
    pack(&r.base, out);
}

/* ---- lifecycle ------------------------------------------------------------------ */

paygw_ledger *paygw_ledger_create(void)
{
    paygw_ledger *l = se_xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    l->n_buckets = MIN_BUCKETS;
    l->buckets = se_xcalloc(l->n_buckets, sizeof *l->buckets);
    l->next_charge_no = 1;
    l->first_charge_no = 1;
    return l;
}

/* Frees every slot and the arrays. Called with mu held (or at destroy). */
static void free_all(paygw_ledger *l)
{
    for (size_t i = 0; i < l->n_buckets; i++) {
        for (slot *s = l->buckets[i], *next; s != NULL; s = next) {
            next = s->next;
            free(s);
        }
    }
    free(l->buckets);
    free(l->entries);
    l->buckets = NULL;
    l->entries = NULL;
    l->n_entries = l->cap_entries = l->n_slots = l->n_processing = 0;
}

void paygw_ledger_destroy(paygw_ledger *l)
{
    if (l == NULL)
        return;
    free_all(l);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void paygw_ledger_clear(paygw_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    free_all(l);
    l->n_buckets = MIN_BUCKETS;
    l->buckets = se_xcalloc(l->n_buckets, sizeof *l->buckets);
    l->first_charge_no = l->next_charge_no;
    l->epoch++;
    pthread_mutex_unlock(&l->mu);
}

/* ---- charges ---------------------------------------------------------------------- */

/* Names the first parameter that differs from the slot's; 0 if none. */
static int differs(const slot *s, const paygw_charge_params *p, char *why, size_t n)
{
    const char *k = s->key;
    if (s->order_id != p->order_id)
        snprintf(why, n, "idempotency_key \"%.64s\" was used with order_id %" PRId64 " (got %" PRId64 ")",
                 k, s->order_id, p->order_id);
    else if (s->amount != p->amount)
        snprintf(why, n, "idempotency_key \"%.64s\" was used with amount %" PRId64 " (got %" PRId64 ")",
                 k, s->amount, p->amount);
    else if (strcmp(s->currency, p->currency) != 0)
        snprintf(why, n, "idempotency_key \"%.64s\" was used with currency %s (got %s)", k,
                 s->currency, p->currency);
    else
        return 0;
    return 1;
}

paygw_begin paygw_ledger_begin(paygw_ledger *l, const paygw_charge_params *p, uint64_t *epoch,
                               paygw_packed *replay, char *why, size_t why_len)
{
    uint64_t h = fnv1a(p->idempotency_key);
    paygw_begin result = PAYGW_BEGIN_NEW;
    pthread_mutex_lock(&l->mu);
    slot **link = find_link(l, p->idempotency_key, h);
    slot *s = *link;
    if (s != NULL && differs(s, p, why, why_len)) {
        result = PAYGW_BEGIN_CONFLICT;
    } else if (s != NULL && !s->done) {
        snprintf(why, why_len,
                 "a Charge with idempotency_key \"%.64s\" is still being processed; retry later",
                 s->key);
        result = PAYGW_BEGIN_BUSY;
    } else if (s != NULL) {
        pack_record(s, 1, replay);
        result = PAYGW_BEGIN_REPLAY;
    } else {
        *link = slot_new(p, h);
        l->n_slots++;
        l->n_processing++;
        *epoch = l->epoch;
        if (l->n_slots > l->n_buckets)
            grow(l);
    }
    pthread_mutex_unlock(&l->mu);
    return result;
}

/* The processing slot of (key, epoch), or NULL (logged unless the epoch is
 * stale). Called with mu held. */
static slot **processing_link(paygw_ledger *l, const char *key, uint64_t epoch)
{
    if (epoch != l->epoch)
        return NULL;
    slot **link = find_link(l, key, fnv1a(key));
    if (*link == NULL || (*link)->done) {
        se_log_error("paygw_ledger_bug", "no charge in progress for idempotency_key \"%.64s\"",
                     key);
        return NULL;
    }
    return link;
}

int paygw_ledger_commit(paygw_ledger *l, const char *key, uint64_t epoch,
                        const paygw_decline_reason *reason, paygw_packed *record)
{
    pthread_mutex_lock(&l->mu);
    slot **link = processing_link(l, key, epoch);
    if (link == NULL) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    slot *s = *link;
    s->done = 1;
    s->charge_no = l->next_charge_no++;
    s->reason = reason;
    s->created_us = se_wall_us();
    if (l->n_entries == l->cap_entries) {
        l->cap_entries = l->cap_entries ? l->cap_entries * 2 : 1024;
        l->entries = se_xrealloc(l->entries, l->cap_entries * sizeof *l->entries);
    }
    l->entries[l->n_entries++] = s;
    l->n_processing--;
    pack_record(s, 0, record);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int paygw_ledger_abandon(paygw_ledger *l, const char *key, uint64_t epoch)
{
    pthread_mutex_lock(&l->mu);
    slot **link = processing_link(l, key, epoch);
    slot *s = link != NULL ? *link : NULL;
    if (s != NULL) {
        *link = s->next;
        l->n_slots--;
        l->n_processing--;
    }
    pthread_mutex_unlock(&l->mu);
    free(s);
    return s != NULL ? 0 : -1;
}

/* ---- reads ------------------------------------------------------------------------ */

/* "ch_<digits>" -> its number; 0 if the id is not of that form. */
static uint64_t charge_no_of(const char *id)
{
    if (strncmp(id, "ch_", 3) != 0 || id[3] == '\0' || strlen(id) > 3 + 19)
        return 0;
    uint64_t n = 0;
    for (const char *p = id + 3; *p; p++) {
        if (*p < '0' || *p > '9')
            return 0;
        n = n * 10 + (uint64_t)(*p - '0');
    }
    return n;
}

int paygw_ledger_get_by_id(paygw_ledger *l, const char *charge_id, paygw_packed *out)
{
    uint64_t no = charge_no_of(charge_id);
    int rc = -1;
    pthread_mutex_lock(&l->mu);
    if (no >= l->first_charge_no && no - l->first_charge_no < l->n_entries) {
        const slot *s = l->entries[no - l->first_charge_no];
        char id[32];
        snprintf(id, sizeof id, "ch_%06" PRIu64, s->charge_no);
        if (strcmp(id, charge_id) == 0) { /* "ch_1" is not "ch_000001" */
            pack_record(s, 0, out);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int paygw_ledger_get_by_key(paygw_ledger *l, const char *key, paygw_packed *out)
{
    int rc = -1;
    pthread_mutex_lock(&l->mu);
    const slot *s = *find_link(l, key, fnv1a(key));
    if (s != NULL && s->done) {
        pack_record(s, 0, out);
        rc = 0;
    } else if (s != NULL) {
        rc = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static int matches(const slot *s, const paygw_ledger_query *q)
{
    if (q->order_id != 0 && s->order_id != q->order_id)
        return 0;
    if (q->status == SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_APPROVED)
        return s->reason == NULL;
    if (q->status == SWIFTEATS__V1__CHARGE_STATUS__CHARGE_STATUS_DECLINED)
        return s->reason != NULL;
    return 1;
}

static int64_t add_saturating(int64_t a, int64_t b)
{
    int64_t r;
    return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

void paygw_ledger_list(paygw_ledger *l, const paygw_ledger_query *q, paygw_packed *out)
{
    size_t cap = (size_t)q->page_size;
    Swifteats__V1__ChargeRecord *recs = se_xcalloc(cap, sizeof *recs);
    Swifteats__V1__ChargeRecord **ptrs = se_xcalloc(cap, sizeof *ptrs);
    Google__Protobuf__Timestamp *ts = se_xcalloc(cap, sizeof *ts);
    char (*ids)[32] = se_xcalloc(cap, sizeof *ids);
    Swifteats__V1__ListLedgerResponse resp = SWIFTEATS__V1__LIST_LEDGER_RESPONSE__INIT;
    resp.page = q->page;
    resp.page_size = q->page_size;
    resp.charges = ptrs;
    int64_t skip = (int64_t)(q->page - 1) * q->page_size;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n_entries; i++) {
        const slot *s = l->entries[i];
        if (!matches(s, q))
            continue;
        if (s->reason == NULL)
            resp.approved_amount = add_saturating(resp.approved_amount, s->amount);
        if (resp.total++ >= skip && resp.n_charges < cap) {
            size_t k = resp.n_charges++;
            to_record(s, 0, &recs[k], &ts[k], ids[k], sizeof ids[k]);
            ptrs[k] = &recs[k];
        }
    }
    pack(&resp.base, out);
    pthread_mutex_unlock(&l->mu);
    free(recs);
    free(ptrs);
    free(ts);
    free(ids);
}

size_t paygw_ledger_entries(paygw_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->n_entries;
    pthread_mutex_unlock(&l->mu);
    return n;
}

size_t paygw_ledger_processing(paygw_ledger *l)
{
    pthread_mutex_lock(&l->mu);
    size_t n = l->n_processing;
    pthread_mutex_unlock(&l->mu);
    return n;
}
