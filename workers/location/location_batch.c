/* location_batch.c - decoding a batch of stream entries (location_batch.h).
 *
 * DESIGN: the reply is walked once; every string an entry needs is a
 * pointer into it, so nothing but the decoded messages is allocated per
 * report. The reply's shape was checked by se_redis_stream (a reply of
 * another shape failed the whole read); a bad report only marks its own
 * entry.
 */
#include "location_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_redis_stream.h"

Swifteats__V1__Location *location_decode(const void *data, size_t len, int64_t *ts_us,
                                         char *err, size_t errcap)
{
    Swifteats__V1__Location *m = swifteats__v1__location__unpack(NULL, len, data);
    const char *why = NULL;
    if (m == NULL)
        why = "loc is not a packed swifteats.v1.Location";
    else if (m->driver_id == NULL || m->driver_id[0] == '\0' || strlen(m->driver_id) > 64)
        why = "driver_id must be 1 to 64 bytes";
    else if (!(m->latitude >= -90 && m->latitude <= 90))
        why = "latitude must be between -90 and 90";
    else if (!(m->longitude >= -180 && m->longitude <= 180))
        why = "longitude must be between -180 and 180";
    else if (m->timestamp == NULL)
        why = "timestamp is missing";
    else if (m->timestamp->seconds < 0 || m->timestamp->seconds > 253402300799LL ||
             m->timestamp->nanos < 0 || m->timestamp->nanos > 999999999)
        why = "timestamp is out of range";
    if (why != NULL) {
        snprintf(err, errcap, "%s", why);
        if (m != NULL)
            swifteats__v1__location__free_unpacked(m, NULL);
        return NULL;
    }
    *ts_us = (int64_t)m->timestamp->seconds * 1000000 + m->timestamp->nanos / 1000;
    return m;
}

/* Fills e from a checked entry [id, [f, v, ...] | nil] (se_redis_stream.h). */
static void take_entry(location_entry *e, const redisReply *r)
{
    e->id = se_redis_stream_entry_id(r);
    const redisReply *fv = se_redis_stream_entry_fields(r);
    if (fv == NULL) {
        e->fate = LOCATION_DONE; /* deleted while pending: only to acknowledge */
        return;
    }
    e->fields = fv;
    for (size_t i = 0; i + 1 < fv->elements; i += 2) {
        const redisReply *f = fv->element[i], *v = fv->element[i + 1];
        if (strcmp(f->str, "loc") == 0) {
            e->loc = v->str;
            e->loc_len = (size_t)v->len;
        } else if (strcmp(f->str, "rid") == 0) {
            snprintf(e->rid, sizeof e->rid, "%s", v->str);
        }
    }
    if (e->loc == NULL)
        snprintf(e->error, sizeof e->error, "field loc is missing");
    else
        e->msg = location_decode(e->loc, e->loc_len, &e->ts_us, e->error, sizeof e->error);
}

void location_batch_take(location_batch *b, redisReply *reply, const redisReply *entries,
                         size_t n, int from_pel)
{
    memset(b, 0, sizeof *b);
    b->reply = reply;
    b->from_pel = from_pel;
    if (n == 0)
        return;
    b->e = se_xcalloc(n, sizeof *b->e);
    for (size_t i = 0; i < n; i++) {
        location_entry *e = &b->e[b->n++];
        e->deliveries = from_pel ? 0 : 1;
        take_entry(e, entries->element[i]);
    }
}

void location_batch_free(location_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        if (b->e[i].msg != NULL)
            swifteats__v1__location__free_unpacked(b->e[i].msg, NULL);
    free(b->e);
    if (b->reply != NULL)
        freeReplyObject(b->reply);
    memset(b, 0, sizeof *b);
}
