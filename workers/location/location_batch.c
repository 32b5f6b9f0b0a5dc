/* location_batch.c - decoding a batch of stream entries (location_batch.h).
 *
 * DESIGN: the reply is walked once; every string an entry needs is a
 * pointer into it, so nothing but the decoded messages is allocated per
 * report. A reply of an unexpected shape is an error for the whole batch
 * (it would mean a different Redis or a bug, not a bad report); a bad
 * report only marks its own entry.
 */
#include "location_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "se_alloc.h"
#include "se_log.h"

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

/* Fills e from [id, [f, v, ...] | nil]; -1 for a bad shape. */
static int take_entry(location_entry *e, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    const redisReply *fv = r->element[1];
    e->id = r->element[0]->str;
    if (fv->type == REDIS_REPLY_NIL) {
        e->fate = LOCATION_DONE; /* deleted while pending: only to acknowledge */
        return 0;
    }
    if (fv->type != REDIS_REPLY_ARRAY)
        return -1;
    e->fields = fv;
    for (size_t i = 0; i + 1 < fv->elements; i += 2) {
        const redisReply *f = fv->element[i], *v = fv->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return -1;
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
    return 0;
}

int location_batch_take(location_batch *b, redisReply *reply, const redisReply *entries,
                        int from_pel)
{
    memset(b, 0, sizeof *b);
    b->reply = reply;
    b->from_pel = from_pel;
    if (entries->type != REDIS_REPLY_ARRAY) {
        se_log_error("location_bad_reply", "expected an array of stream entries");
        location_batch_free(b);
        return -1;
    }
    b->e = se_xcalloc(entries->elements, sizeof *b->e);
    for (size_t i = 0; i < entries->elements; i++) {
        location_entry *e = &b->e[b->n++];
        e->deliveries = from_pel ? 0 : 1;
        if (take_entry(e, entries->element[i]) != 0) {
            se_log_error("location_bad_reply", "stream entry %zu has an unexpected shape", i);
            location_batch_free(b);
            return -1;
        }
    }
    return 0;
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
